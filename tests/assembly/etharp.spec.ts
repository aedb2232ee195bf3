// etharp: driven frame by frame through netif_input, checked on the TX ring
// (lwIP test_etharp.c and more). Every test starts with setup() (a fresh
// Ethernet netif, up, link up, addressed) and ends with teardown(), which
// checks that the heap and every pool are back to where they were.

import { pbuf_remove_header } from "../../assembly/core/pbuf";
import { asip_init } from "../../assembly/index";
import { MEMP, memp_used } from "../../assembly/core/memp";
import { leak_mark, leak_check, leak_marked_pool } from "./harness/leak";
import { mem_used } from "../../assembly/core/mem";
import { frame, frame_len, tx_frame, tx_clear } from "./harness/rings";
import { mac_is, be16 } from "./harness/addr";
import { ERR_OK, ERR_RTE, ERR_VAL, ERR_ARG } from "../../assembly/core/err";
import { sys_check_timeouts } from "../../assembly/core/timeouts";
import { stats_get, Proto, Ctr } from "../../assembly/core/stats";
import { tx_pending, ev_ring, ev_done, RING_HDR, EV_RECORD } from "../../assembly/core/rings";
import { pbuf, pbuf_alloc, pbuf_alloc_reference, pbuf_free, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { IP4 } from "../../assembly/ip_addr";
import {
  netif, netif_add, netif_remove, netif_set_addr, netif_set_up, netif_set_down, netif_set_link_up,
  netif_set_link_down, netif_input,
} from "../../assembly/netif/netif";
import {
  etharp_output, etharp_query, etharp_add_static_entry, etharp_remove_static_entry, etharp_cleanup_netif,
  etharp_entry_info, etharp_find, etharp_conflicts, etharp_gratuitous,
  ARP_TABLE_SIZE, ARP_QUEUE_LEN, ARP_MAXAGE, ARP_MAXPENDING, ARP_AGE_REREQUEST_USED_UNICAST,
  ARP_AGE_REREQUEST_USED_BROADCAST, EV_ETHARP_CONFLICT,
  ETHARP_STATE_EMPTY, ETHARP_STATE_PENDING, ETHARP_STATE_STABLE, ETHARP_STATE_STATIC,
  ETHARP_STATE_STABLE_REREQUESTING_1,
} from "../../assembly/netif/etharp";

// ---- addresses -----------------------------------------------------------------------

const MAC_US: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x01, 0, 0]);
const MAC_PEER: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x02, 0, 0]);
const MAC_OTHER: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x03, 0, 0]);
const MAC_GW: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0xfe, 0, 0]);
const MAC_BCAST: usize = memory.data<u8>([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
const MAC_ZERO: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0]);
const IP_US: u32 = IP4(192, 0, 2, 1);
const IP_PEER: u32 = IP4(192, 0, 2, 2);
const IP_OTHER: u32 = IP4(192, 0, 2, 3);
const IP_GW: u32 = IP4(192, 0, 2, 254);
const MASK: u32 = IP4(255, 255, 255, 0);

// ---- time ------------------------------------------------------------------------------
// asip_init(0) starts the ARP timer at 0, so it fires on every whole second.
let now: u32 = 0;
function advance_s(seconds: u32): void {
  for (let i: u32 = 0; i < seconds; i++) {
    now += 1000;
    sys_check_timeouts(now);
  }
}

// ---- TX ring -----------------------------------------------------------------------------

/** Checks the frame in `frame` is an ARP packet with these fields. */
function expect_arp(eth_dst: usize, op: u16, sha: usize, spa: u32, tha: usize, tpa: u32): void {
  expect(frame_len).toBe(60, "padded to the Ethernet minimum");
  expect(mac_is(frame, eth_dst)).toBe(true, "eth dst");
  expect(mac_is(frame + 6, MAC_US)).toBe(true, "eth src");
  expect(be16(frame + 12)).toBe(0x0806, "ethertype ARP");
  const a = frame + 14;
  expect(be16(a)).toBe(1, "htype");
  expect(be16(a + 2)).toBe(0x0800, "ptype");
  expect(load<u8>(a + 4)).toBe(6, "hlen");
  expect(load<u8>(a + 5)).toBe(4, "plen");
  expect(be16(a + 6)).toBe(op, "opcode");
  expect(mac_is(a + 8, sha)).toBe(true, "sha");
  expect(load<u32>(a + 14)).toBe(spa, "spa");
  expect(mac_is(a + 18, tha)).toBe(true, "tha");
  expect(load<u32>(a + 24)).toBe(tpa, "tpa");
  // The padding is zero (no stale memory on the wire).
  for (let i: u32 = 42; i < 60; i++) expect(load<u8>(frame + i)).toBe(0, "padding");
}

/** Checks the frame is IPv4 to `dst` from us carrying `payload_tag` at its first byte. */
function expect_ip(dst: usize, payload_tag: u8): void {
  expect(mac_is(frame, dst)).toBe(true, "eth dst");
  expect(mac_is(frame + 6, MAC_US)).toBe(true, "eth src");
  expect(be16(frame + 12)).toBe(0x0800, "ethertype IPv4");
  expect(load<u8>(frame + 14)).toBe(payload_tag, "payload");
}

// ---- frames in ---------------------------------------------------------------------------

/**
 * Feeds an ARP frame to `n`. `arp_len` bytes of ARP payload follow the
 * Ethernet header (28 plus padding normally; less to truncate).
 */
function send_arp(
  n: netif, eth_dst: usize, eth_src: usize, op: u16, sha: usize, spa: u32, tha: usize, tpa: u32,
  arp_len: u32 = 46, htype: u16 = 1, plen: u8 = 4,
): void {
  const buf = frame + 1024;
  memory.fill(buf, 0, 14 + 46);
  memory.copy(buf, eth_dst, 6);
  memory.copy(buf + 6, eth_src, 6);
  store<u16>(buf + 12, bswap<u16>(0x0806));
  const a = buf + 14;
  store<u16>(a, bswap<u16>(htype));
  store<u16>(a + 2, bswap<u16>(0x0800));
  store<u8>(a + 4, 6);
  store<u8>(a + 5, plen);
  store<u16>(a + 6, bswap<u16>(op));
  memory.copy(a + 8, sha, 6);
  store<u32>(a + 14, spa);
  memory.copy(a + 18, tha, 6);
  store<u32>(a + 24, tpa);
  const len = 14 + arp_len;
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, len, pbuf_type.PBUF_POOL)!;
  memory.copy(p.payload, buf, len);
  netif_input(p, n);
}

function reply_from(n: netif, mac: usize, ip: u32): void {
  send_arp(n, MAC_US, mac, 2, mac, ip, MAC_US, IP_US);
}

/** An IPv4 packet as IP would hand it to ARP (payload at the IP header): 40 bytes tagged `tag`. */
function ip_packet(tag: u8): pbuf {
  const p = pbuf_alloc(pbuf_layer.PBUF_LINK, 40, pbuf_type.PBUF_RAM)!;
  memory.fill(p.payload, tag, 40);
  return p;
}

/** etharp_output of a fresh packet; the caller's reference is dropped as IP does. */
function send_ip(n: netif, dst: u32, tag: u8): i32 {
  const p = ip_packet(tag);
  const r = etharp_output(n, p, dst);
  pbuf_free(p);
  return r;
}

const info: usize = memory.data(16, 8);
function state_of(ip: u32): i32 {
  const i = etharp_find(ip);
  return i < 0 ? -1 : etharp_entry_info(i, info);
}

// ---- set-up --------------------------------------------------------------------------------

let netif_under_test: netif | null = null;

function setup(): netif {
  tx_clear();
  leak_mark();
  const n = netif_add(MAC_US, 1500)!;
  netif_set_addr(n, IP_US, MASK, IP_GW);
  netif_set_up(n);
  netif_set_link_up(n);
  tx_clear();
  netif_under_test = n;
  return n;
}

/** Removes the netif under test with everything ARP holds for it. */
function cleanup(): void {
  const n = netif_under_test;
  if (n == null) return;
  etharp_cleanup_netif(n);
  netif_remove(n);
  tx_clear();
  ev_done(load<u32>(ev_ring) - load<u32>(ev_ring, 4));
  netif_under_test = null;
}

function teardown(n: netif): void {
  expect(changetype<usize>(n)).toBe(changetype<usize>(netif_under_test));
  cleanup();
  leak_check();
}

describe("etharp", () => {
  beforeAll(() => { asip_init(0, 1); });
  // A failed test leaves its netif behind: clean up so the next starts fresh.
  afterEach(() => { cleanup(); });

  it("announces itself when up, link up and addressed (RFC 5227 §3)", () => {
    tx_clear();
    leak_mark();
    const n = netif_add(MAC_US, 1500)!;
    netif_under_test = n;
    netif_set_addr(n, IP_US, MASK, IP_GW);
    expect(tx_pending()).toBe(0, "down: nothing");
    netif_set_up(n);
    expect(tx_pending()).toBe(0, "link down: nothing");
    netif_set_link_up(n);
    expect(tx_pending()).toBe(1, "one announcement");
    tx_frame(0);
    expect_arp(MAC_BCAST, 1, MAC_US, IP_US, MAC_ZERO, IP_US);
    tx_clear();
    // A new address is announced too.
    const ip2 = IP4(192, 0, 2, 9);
    netif_set_addr(n, ip2, MASK, IP_GW);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect_arp(MAC_BCAST, 1, MAC_US, ip2, MAC_ZERO, ip2);
    tx_clear();
    // Down then up again: announced again.
    netif_set_link_down(n);
    expect(tx_pending()).toBe(0);
    netif_set_link_up(n);
    expect(tx_pending()).toBe(1);
    tx_clear();
    expect(etharp_gratuitous(n)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    teardown(n);
  });

  it("answers a request for our address with a correct reply and learns the asker", () => {
    const n = setup();
    const recv = stats_get(Proto.ETHARP, Ctr.RECV);
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    expect(stats_get(Proto.ETHARP, Ctr.RECV)).toBe(recv + 1);
    expect(tx_pending()).toBe(1, "one reply");
    tx_frame(0);
    expect_arp(MAC_PEER, 2, MAC_US, IP_US, MAC_PEER, IP_PEER);
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_STABLE);
    expect(mac_is(info + 4, MAC_PEER)).toBe(true);
    expect(load<u8>(info, 11)).toBe(n.num, "entry remembers its netif");
    teardown(n);
  });

  it("does not answer a request for another address, nor cache its sender", () => {
    const n = setup();
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_OTHER);
    expect(tx_pending()).toBe(0);
    expect(state_of(IP_PEER)).toBe(-1, "merge flag off: not added");
    teardown(n);
  });

  it("refreshes an existing entry from any ARP packet (RFC 826 merge)", () => {
    const n = setup();
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    tx_clear();
    advance_s(10);
    etharp_entry_info(etharp_find(IP_PEER), info);
    expect(load<u16>(info, 12)).toBe(10, "aged");
    // The peer moved to another MAC and asks about someone else.
    send_arp(n, MAC_BCAST, MAC_OTHER, 1, MAC_OTHER, IP_PEER, MAC_ZERO, IP_OTHER);
    expect(tx_pending()).toBe(0);
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_STABLE);
    expect(mac_is(info + 4, MAC_OTHER)).toBe(true, "MAC updated");
    expect(load<u16>(info, 12)).toBe(0, "age reset");
    teardown(n);
  });

  it("drops truncated, short and malformed ARP packets, counts them, leaks nothing", () => {
    const n = setup();
    const lenerr = stats_get(Proto.ETHARP, Ctr.LENERR);
    const proterr = stats_get(Proto.ETHARP, Ctr.PROTERR);
    const drop = stats_get(Proto.ETHARP, Ctr.DROP);
    const recv = stats_get(Proto.ETHARP, Ctr.RECV);
    // Truncated in the target address, an odd length, and only the fixed part.
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 27);
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 21);
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 8);
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 0);
    expect(stats_get(Proto.ETHARP, Ctr.LENERR)).toBe(lenerr + 4);
    // Hardware type 6 (IEEE 802) and a protocol length of 16.
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 46, 6);
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 46, 1, 16);
    expect(stats_get(Proto.ETHARP, Ctr.PROTERR)).toBe(proterr + 2);
    expect(stats_get(Proto.ETHARP, Ctr.DROP)).toBe(drop + 6);
    expect(stats_get(Proto.ETHARP, Ctr.RECV)).toBe(recv);
    expect(tx_pending()).toBe(0, "nothing answered");
    expect(state_of(IP_PEER)).toBe(-1, "nothing learnt");
    // Exactly 28 bytes (no Ethernet padding) is fine.
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US, 28);
    expect(tx_pending()).toBe(1);
    teardown(n);
  });

  it("queues a send to an unknown neighbour, requests once, sends on the reply", () => {
    const n = setup();
    expect(send_ip(n, IP_PEER, 0xa1)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1, "one request");
    tx_frame(0);
    expect_arp(MAC_BCAST, 1, MAC_US, IP_US, MAC_ZERO, IP_PEER);
    tx_clear();
    expect(send_ip(n, IP_PEER, 0xa2)).toBe(ERR_OK);
    expect(tx_pending()).toBe(0, "no second request for a pending entry");
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_PENDING);
    expect(load<u8>(info, 14)).toBe(2, "two queued");
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(leak_marked_pool(MEMP.ARP_QUEUE) + 2);
    reply_from(n, MAC_PEER, IP_PEER);
    expect(tx_pending()).toBe(2, "both queued packets sent");
    tx_frame(0);
    expect_ip(MAC_PEER, 0xa1);
    tx_frame(1);
    expect_ip(MAC_PEER, 0xa2);
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_STABLE);
    expect(load<u8>(info, 14)).toBe(0);
    tx_clear();
    // Now resolved: straight out, a cache hit.
    const hits = stats_get(Proto.ETHARP, Ctr.CACHEHIT);
    expect(send_ip(n, IP_PEER, 0xa3)).toBe(ERR_OK);
    expect(stats_get(Proto.ETHARP, Ctr.CACHEHIT)).toBe(hits + 1);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect_ip(MAC_PEER, 0xa3);
    teardown(n);
  });

  it("keeps the newest ARP_QUEUE_LEN packets of a pending entry", () => {
    const n = setup();
    const drop = stats_get(Proto.ETHARP, Ctr.DROP);
    for (let i: u32 = 0; i < ARP_QUEUE_LEN + 2; i++) expect(send_ip(n, IP_PEER, <u8>(0xb0 + i))).toBe(ERR_OK);
    expect(stats_get(Proto.ETHARP, Ctr.DROP)).toBe(drop + 2, "oldest dropped and counted");
    state_of(IP_PEER);
    expect(<u32>load<u8>(info, 14)).toBe(ARP_QUEUE_LEN);
    tx_clear();
    reply_from(n, MAC_PEER, IP_PEER);
    expect(tx_pending()).toBe(ARP_QUEUE_LEN);
    for (let i: u32 = 0; i < ARP_QUEUE_LEN; i++) {
      tx_frame(i);
      expect_ip(MAC_PEER, <u8>(0xb2 + i));
    }
    teardown(n);
  });

  it("copies every packet it queues (REF payloads change, senders move payload pointers back)", () => {
    const n = setup();
    const data = memory.data(64, 8);
    memory.fill(data, 0xc1, 40);
    const r = pbuf_alloc_reference(data, 40, pbuf_type.PBUF_REF)!;
    const heap_before = mem_used();
    expect(etharp_output(n, r, IP_PEER)).toBe(ERR_OK);
    expect(mem_used()).toBeGreaterThan(heap_before, "a copy was made");
    expect(r.ref).toBe(1, "the REF pbuf itself is not held");
    pbuf_free(r);
    memory.fill(data, 0xee, 40); // the owner reuses its buffer
    const p = ip_packet(0xc2);
    expect(etharp_output(n, p, IP_PEER)).toBe(ERR_OK);
    expect(p.ref).toBe(1, "a RAM packet is copied too: the sender may move its payload pointer");
    pbuf_remove_header(p, 20); // what ip4_output_if does after output returns
    pbuf_free(p);
    tx_clear();
    reply_from(n, MAC_PEER, IP_PEER);
    expect(tx_pending()).toBe(2);
    tx_frame(0);
    expect_ip(MAC_PEER, 0xc1);
    tx_frame(1);
    expect_ip(MAC_PEER, 0xc2);
    teardown(n);
  });

  it("retries a pending request each second, gives up after ARP_MAXPENDING and frees the queue", () => {
    const n = setup();
    send_ip(n, IP_PEER, 0xd1);
    send_ip(n, IP_PEER, 0xd2);
    expect(tx_pending()).toBe(1);
    tx_clear();
    const drop = stats_get(Proto.ETHARP, Ctr.DROP);
    for (let s: u32 = 1; s < <u32>ARP_MAXPENDING; s++) {
      advance_s(1);
      expect(tx_pending()).toBe(1, "one retry per second");
      tx_frame(0);
      expect_arp(MAC_BCAST, 1, MAC_US, IP_US, MAC_ZERO, IP_PEER);
      tx_clear();
      expect(state_of(IP_PEER)).toBe(ETHARP_STATE_PENDING);
    }
    advance_s(1);
    expect(tx_pending()).toBe(0);
    expect(state_of(IP_PEER)).toBe(-1, "given up");
    expect(stats_get(Proto.ETHARP, Ctr.DROP)).toBe(drop + 2, "queued packets dropped");
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(leak_marked_pool(MEMP.ARP_QUEUE));
    // A late reply is not for us to cache (no entry, not addressed to us? it is: to us).
    teardown(n);
  });

  it("expires an unused stable entry after ARP_MAXAGE", () => {
    const n = setup();
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    tx_clear();
    advance_s(<u32>ARP_MAXAGE - 1);
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_STABLE);
    expect(tx_pending()).toBe(0, "no refresh when unused");
    advance_s(1);
    expect(state_of(IP_PEER)).toBe(-1);
    teardown(n);
  });

  it("re-requests an entry in use before it expires, unicast then broadcast, and never stalls", () => {
    const n = setup();
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    tx_clear();
    advance_s(<u32>ARP_AGE_REREQUEST_USED_UNICAST - 1);
    send_ip(n, IP_PEER, 0xe0);
    expect(tx_pending()).toBe(1, "young enough: just the packet");
    tx_clear();
    advance_s(1);
    send_ip(n, IP_PEER, 0xe1);
    expect(tx_pending()).toBe(2, "unicast request, then the packet");
    tx_frame(0);
    expect_arp(MAC_PEER, 1, MAC_US, IP_US, MAC_ZERO, IP_PEER);
    tx_frame(1);
    expect_ip(MAC_PEER, 0xe1);
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_STABLE_REREQUESTING_1);
    tx_clear();
    send_ip(n, IP_PEER, 0xe2);
    expect(tx_pending()).toBe(1, "no request storm");
    tx_clear();
    // No answer: closer to the end the request is broadcast.
    advance_s(<u32>(ARP_AGE_REREQUEST_USED_BROADCAST - ARP_AGE_REREQUEST_USED_UNICAST));
    send_ip(n, IP_PEER, 0xe3);
    expect(tx_pending()).toBe(2);
    tx_frame(0);
    expect_arp(MAC_BCAST, 1, MAC_US, IP_US, MAC_ZERO, IP_PEER);
    tx_clear();
    // The answer refreshes the entry: it lives on past the old expiry.
    reply_from(n, MAC_PEER, IP_PEER);
    advance_s(<u32>(ARP_MAXAGE - ARP_AGE_REREQUEST_USED_BROADCAST) + 5);
    expect(state_of(IP_PEER)).toBe(ETHARP_STATE_STABLE);
    send_ip(n, IP_PEER, 0xe4);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect_ip(MAC_PEER, 0xe4);
    teardown(n);
  });

  it("fills the table, replaces the oldest, never touches static entries (lwIP etharp_table)", () => {
    const n = setup();
    const static_ip = IP4(192, 0, 2, 200);
    expect(etharp_add_static_entry(static_ip, MAC_OTHER)).toBe(ERR_OK);
    expect(state_of(static_ip)).toBe(ETHARP_STATE_STATIC);
    // ARP traffic claiming the static address does not overwrite it.
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, static_ip, MAC_ZERO, IP_US);
    tx_clear();
    state_of(static_ip);
    expect(mac_is(info + 4, MAC_OTHER)).toBe(true);
    // Fill the rest of the table through sends and replies, one second apart.
    const dynamic = ARP_TABLE_SIZE - 1;
    for (let i = 0; i < dynamic; i++) {
      const ip = IP4(192, 0, 2, 10 + i);
      expect(send_ip(n, ip, <u8>i)).toBe(ERR_OK);
      expect(tx_pending()).toBe(1, "request");
      tx_clear();
      reply_from(n, MAC_PEER, ip);
      expect(tx_pending()).toBe(1, "queued packet sent");
      tx_frame(0);
      expect_ip(MAC_PEER, <u8>i);
      tx_clear();
      advance_s(1);
    }
    expect(state_of(IP4(192, 0, 2, 10))).toBe(ETHARP_STATE_STABLE);
    // One more: the oldest dynamic entry makes room.
    const extra = IP4(192, 0, 2, 100);
    expect(send_ip(n, extra, 0x77)).toBe(ERR_OK);
    expect(state_of(IP4(192, 0, 2, 10))).toBe(-1, "oldest replaced");
    expect(state_of(IP4(192, 0, 2, 11))).toBe(ETHARP_STATE_STABLE);
    expect(state_of(extra)).toBe(ETHARP_STATE_PENDING);
    expect(state_of(static_ip)).toBe(ETHARP_STATE_STATIC);
    tx_clear();
    // Static entries never age.
    advance_s(<u32>ARP_MAXAGE + 10);
    tx_clear(); // the pending entry's retries
    expect(state_of(IP4(192, 0, 2, 11))).toBe(-1);
    expect(state_of(static_ip)).toBe(ETHARP_STATE_STATIC);
    expect(send_ip(n, static_ip, 0x78)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect_ip(MAC_OTHER, 0x78);
    tx_clear();
    // Remove: only static entries, only existing ones.
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    tx_clear();
    expect(etharp_remove_static_entry(IP_PEER)).toBe(ERR_VAL, "dynamic entry");
    expect(etharp_remove_static_entry(IP4(192, 0, 2, 201))).toBe(ERR_ARG, "no entry");
    expect(etharp_remove_static_entry(static_ip)).toBe(ERR_OK);
    expect(state_of(static_ip)).toBe(-1);
    // A table of nothing but static entries refuses new dynamic ones.
    for (let i = 0; i < ARP_TABLE_SIZE; i++) {
      expect(etharp_add_static_entry(IP4(192, 0, 2, 10 + i), MAC_PEER)).toBe(ERR_OK);
    }
    expect(send_ip(n, IP4(192, 0, 2, 150), 1)).not.toBe(ERR_OK);
    expect(tx_pending()).toBe(0);
    teardown(n);
  });

  it("sends off-subnet traffic to the gateway's MAC; ERR_RTE without a gateway", () => {
    const n = setup();
    const far = IP4(198, 51, 100, 7);
    expect(send_ip(n, far, 0x51)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect_arp(MAC_BCAST, 1, MAC_US, IP_US, MAC_ZERO, IP_GW);
    tx_clear();
    reply_from(n, MAC_GW, IP_GW);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect_ip(MAC_GW, 0x51);
    tx_clear();
    expect(state_of(far)).toBe(-1, "no entry for the far host");
    netif_set_addr(n, IP_US, MASK, 0);
    tx_clear();
    const rterr = stats_get(Proto.ETHARP, Ctr.RTERR);
    expect(send_ip(n, far, 0x52)).toBe(ERR_RTE);
    expect(stats_get(Proto.ETHARP, Ctr.RTERR)).toBe(rterr + 1);
    expect(tx_pending()).toBe(0);
    teardown(n);
  });

  it("maps broadcast and multicast destinations without ARP (RFC 1112 §6.4)", () => {
    const n = setup();
    expect(send_ip(n, 0xffffffff, 1)).toBe(ERR_OK);
    expect(send_ip(n, IP4(192, 0, 2, 255), 2)).toBe(ERR_OK);
    expect(send_ip(n, IP4(224, 0, 0, 251), 3)).toBe(ERR_OK);
    expect(send_ip(n, IP4(239, 129, 2, 3), 4)).toBe(ERR_OK);
    expect(tx_pending()).toBe(4, "no ARP request");
    tx_frame(0);
    expect_ip(MAC_BCAST, 1);
    tx_frame(1);
    expect_ip(MAC_BCAST, 2);
    tx_frame(2);
    const m1 = memory.data<u8>([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb, 0, 0]);
    expect_ip(m1, 3);
    tx_frame(3);
    // 129 = 0x81: the top bit of the second octet is not mapped.
    const m2 = memory.data<u8>([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03, 0, 0]);
    expect_ip(m2, 4);
    for (let i = 0; i < ARP_TABLE_SIZE; i++) expect(etharp_entry_info(i, info)).toBe(ETHARP_STATE_EMPTY);
    teardown(n);
  });

  it("detects another host claiming our address (RFC 5227 §2.4) and ignores its own echo", () => {
    const n = setup();
    const conflicts = etharp_conflicts;
    const err = stats_get(Proto.ETHARP, Ctr.ERR);
    const ev_head = load<u32>(ev_ring);
    send_arp(n, MAC_BCAST, MAC_OTHER, 1, MAC_OTHER, IP_US, MAC_ZERO, IP_US);
    expect(etharp_conflicts).toBe(conflicts + 1);
    expect(stats_get(Proto.ETHARP, Ctr.ERR)).toBe(err + 1);
    expect(load<u32>(ev_ring)).toBe(ev_head + 1, "one event");
    const cap = load<u32>(ev_ring, 8);
    const r = ev_ring + RING_HDR + <usize>(ev_head & (cap - 1)) * EV_RECORD;
    expect(load<u16>(r)).toBe(EV_ETHARP_CONFLICT);
    expect(load<u32>(r, 4)).toBe(n.num);
    expect(load<u32>(r, 12)).toBe(IP_US);
    expect(load<u32>(r, 16)).toBe(load<u32>(MAC_OTHER));
    expect(load<u32>(r, 20)).toBe(<u32>load<u16>(MAC_OTHER, 4));
    expect(state_of(IP_US)).toBe(-1, "our own address is never cached");
    // Our own announcement echoed back by a switch is no conflict.
    send_arp(n, MAC_BCAST, MAC_US, 1, MAC_US, IP_US, MAC_ZERO, IP_US);
    expect(etharp_conflicts).toBe(conflicts + 1);
    teardown(n);
  });

  it("flushes dynamic entries and queued packets on down, link down and readdressing; keeps static", () => {
    const n = setup();
    const static_ip = IP4(192, 0, 2, 200);
    expect(etharp_add_static_entry(static_ip, MAC_OTHER)).toBe(ERR_OK);
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    send_ip(n, IP_OTHER, 1);
    tx_clear();
    expect(state_of(IP_OTHER)).toBe(ETHARP_STATE_PENDING);
    netif_set_link_down(n);
    expect(state_of(IP_PEER)).toBe(-1);
    expect(state_of(IP_OTHER)).toBe(-1);
    expect(state_of(static_ip)).toBe(ETHARP_STATE_STATIC);
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(leak_marked_pool(MEMP.ARP_QUEUE));
    netif_set_link_up(n);
    tx_clear();
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    tx_clear();
    netif_set_down(n);
    expect(state_of(IP_PEER)).toBe(-1);
    netif_set_up(n);
    tx_clear();
    send_arp(n, MAC_BCAST, MAC_PEER, 1, MAC_PEER, IP_PEER, MAC_ZERO, IP_US);
    tx_clear();
    netif_set_addr(n, IP4(192, 0, 2, 9), MASK, IP_GW);
    expect(state_of(IP_PEER)).toBe(-1);
    expect(tx_pending()).toBe(1, "new address announced");
    tx_clear();
    // Removing the netif forgets its static entries too.
    etharp_cleanup_netif(n);
    expect(state_of(static_ip)).toBe(-1);
    teardown(n);
  });

  it("resolves without a packet via etharp_query", () => {
    const n = setup();
    expect(etharp_query(n, IP_PEER, null)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    expect(etharp_query(n, IP_PEER, null)).toBe(ERR_OK);
    expect(tx_pending()).toBe(2, "an explicit query re-requests");
    tx_clear();
    expect(etharp_query(n, 0xffffffff, null)).toBe(ERR_ARG);
    expect(etharp_query(n, IP4(224, 0, 0, 1), null)).toBe(ERR_ARG);
    teardown(n);
  });
});
