// ip4_frag: IPv4 fragmentation and reassembly (lwIP test_ip4.c ip4_frag /
// ip4_reass rows, plus the policy of assembly/ipv4/ip4_frag.ts: overlaps,
// duplicates, bounds, timeouts, memory limits). Every test ends with the heap
// and every pool back to their baseline.
import { asip_init } from "../../assembly/index";
import { MEMP, memp_used } from "../../assembly/core/memp";
import { leak_mark, leak_check as leak_check_pools } from "./harness/leak";
import { ERR_OK } from "../../assembly/core/err";
import {
  pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type, pbuf_copy_partial, pbuf_clen, pbuf_take_at, pbuf_cat,
} from "../../assembly/core/pbuf";
import { inet_chksum } from "../../assembly/core/chksum";
import { Proto, Ctr, stats_get, stats_reset_protocols } from "../../assembly/core/stats";
import { sys_check_timeouts, sys_timeouts_count } from "../../assembly/core/timeouts";
import { tx_pending, tx_frame_copy } from "../../assembly/core/rings";
import { OUR_IP, PEER_IP, MASK, OUR_MAC, PEER_MAC } from "./harness/addr";
import { ETH_HLEN } from "./harness/frames";
import { netif_up, peer_at } from "./harness/netif";
import { tx_frame_start, tx_clear } from "./harness/rings";
import { IP_REASS_MAX_PBUFS, MEMP_NUM_REASSDATA } from "../../assembly/config";
import { IP4 } from "../../assembly/ip_addr";
import { netif, netif_input } from "../../assembly/netif/netif";
import { ip4_output_if } from "../../assembly/ipv4/ip4";
import {
  IP_HLEN, IP_MF, IP_OFFMASK, IP_PROTO_UDP, IP_PROTO_ICMP,
  ip4_hdr_hlen, ip4_hdr_len, ip4_hdr_offset, ip4_hdr_id, ip4_hdr_src, ip4_hdr_dest, ip4_hdr_proto,
  ip4_hdr_set_vhl, ip4_hdr_set_tos, ip4_hdr_set_len, ip4_hdr_set_id, ip4_hdr_set_offset,
  ip4_hdr_set_ttl, ip4_hdr_set_proto, ip4_hdr_set_chksum, ip4_hdr_set_src, ip4_hdr_set_dest,
} from "../../assembly/ipv4/ip4_hdr";
import {
  ip4_reass, ip4_frag, ip4_reass_datagrams, ip4_reass_pbufcount, ip4_frag_mib, FragMib,
  IP_REASS_MAXAGE,
} from "../../assembly/ipv4/ip4_frag";

// ---- fixtures ----------------------------------------------------------------------


const our_mac: usize = OUR_MAC;
const peer_mac: usize = PEER_MAC;

let nif: netif = changetype<netif>(0);
let now: u32 = 0;

// ---- leak check ----------------------------------------------------------------------

function leak_start(): void { leak_mark(); }

function leak_check(): void {
  expect(ip4_reass_datagrams()).toBe(0, "datagrams in reassembly");
  expect(ip4_reass_pbufcount()).toBe(0, "pbufs held by reassembly");
  leak_check_pools();
}

// ---- helpers -------------------------------------------------------------------------

/** Byte `i` of the payload of datagram `id`: a pattern that shows misplaced data. */
function pat(id: u32, i: u32): u8 {
  return <u8>((i * 7 + (i >> 8) * 13 + id) & 0xff);
}

/**
 * A fragment of datagram `id` (PEER_IP → OUR_IP, UDP unless told), payload
 * bytes [off, off + len) of the pattern, payload at the IP header, built as
 * pool pbufs (so large ones are chains).
 */
function frag(id: u16, off: u32, len: u32, mf: bool, proto: u8 = IP_PROTO_UDP, src: u32 = PEER_IP): pbuf {
  const p = pbuf_alloc(pbuf_layer.PBUF_LINK, IP_HLEN + len, pbuf_type.PBUF_POOL)!;
  const h = p.payload;
  ip4_hdr_set_vhl(h, IP_HLEN);
  ip4_hdr_set_tos(h, 0);
  ip4_hdr_set_len(h, <u16>(IP_HLEN + len));
  ip4_hdr_set_id(h, id);
  ip4_hdr_set_offset(h, (mf ? IP_MF : 0) | <u16>(off >> 3));
  ip4_hdr_set_ttl(h, 64);
  ip4_hdr_set_proto(h, proto);
  ip4_hdr_set_chksum(h, 0);
  ip4_hdr_set_src(h, src);
  ip4_hdr_set_dest(h, OUR_IP);
  ip4_hdr_set_chksum(h, inet_chksum(h, IP_HLEN));
  const tmp = heap.alloc(<usize>max<u32>(len, 1));
  for (let i: u32 = 0; i < len; i++) store<u8>(tmp + <usize>i, pat(id, off + i));
  pbuf_take_at(p, tmp, len, IP_HLEN);
  heap.free(tmp);
  return p;
}

/** Checks a reassembled datagram byte for byte; frees it. */
function expect_datagram(p: pbuf | null, id: u16, len: u32): void {
  expect(p).not.toBeNull("reassembled");
  if (p == null) return;
  const h = p.payload;
  expect(ip4_hdr_hlen(h)).toBe(IP_HLEN);
  expect(<u32>ip4_hdr_len(h)).toBe(IP_HLEN + len, "total length");
  expect(p.tot_len).toBe(IP_HLEN + len, "tot_len");
  expect(ip4_hdr_offset(h)).toBe(0, "MF and offset cleared");
  expect(ip4_hdr_id(h)).toBe(id);
  expect(ip4_hdr_src(h)).toBe(PEER_IP);
  expect(ip4_hdr_dest(h)).toBe(OUR_IP);
  expect(inet_chksum(h, IP_HLEN)).toBe(0, "header checksum");
  // len fields add up to tot_len
  let sum: u32 = 0;
  for (let q: pbuf | null = p; q; q = q.next) sum += q.len;
  expect(sum).toBe(p.tot_len);
  const buf = heap.alloc(len + 1);
  expect(pbuf_copy_partial(p, buf, len, IP_HLEN)).toBe(len);
  let bad: i32 = -1;
  for (let i: u32 = 0; i < len; i++) {
    if (load<u8>(buf + i) != pat(id, i)) { bad = <i32>i; break; }
  }
  heap.free(buf);
  expect(bad).toBe(-1, "first wrong payload byte");
  pbuf_free(p);
}

/** Pointer to TX frame `i`'s IP header, after the Ethernet header the host sees first. */
function tx_ip(i: u32): usize {
  const e = tx_frame_start(i);
  expect(memory.compare(e, peer_mac, 6) == 0 && load<u16>(e, 12) == bswap<u16>(0x0800)).toBe(true, "TX frame starts with the Ethernet header");
  return e + ETH_HLEN;
}

const frame_buf: usize = memory.data(70000, 8);

/** Copies TX frame `i`'s IP packet (Ethernet header stripped) into a new pbuf. */
function tx_ip_copy(i: u32): pbuf {
  const flen = tx_frame_copy(i, frame_buf, 70000);
  expect(flen).toBeGreaterThan(ETH_HLEN + IP_HLEN);
  const iplen = <u32>bswap<u16>(load<u16>(frame_buf + ETH_HLEN + 2));
  const p = pbuf_alloc(pbuf_layer.PBUF_LINK, iplen, pbuf_type.PBUF_RAM)!;
  memory.copy(p.payload, frame_buf + ETH_HLEN, iplen);
  return p;
}

function release_tx(): void { tx_clear(); }

function tick(ms: u32): void {
  now += ms;
  sys_check_timeouts(now);
}

function mib(c: FragMib): u32 { return ip4_frag_mib(c); }

/** Sends datagram `id` split into `n` fragments of `size` bytes (the last `last_len`), in `order`. */
function send_in_order(id: u16, size: u32, n: u32, last_len: u32, order: StaticArray<u32>): pbuf | null {
  let result: pbuf | null = null;
  let results = 0;
  for (let k: u32 = 0; k < n; k++) {
    const i = order[k];
    const is_last = i == n - 1;
    const r = ip4_reass(frag(id, i * size, is_last ? last_len : size, !is_last));
    if (r != null) {
      results++;
      result = r;
      expect(k).toBe(n - 1, "complete only with the last fragment delivered");
    }
  }
  expect(results).toBe(1, "completed exactly once");
  return result;
}

// ---- tests ---------------------------------------------------------------------------

describe("ip4_frag", () => {
  beforeAll(() => {
    asip_init(0, 1);
    nif = netif_up(our_mac, OUR_IP, MASK, PEER_IP, true);
    peer_at(PEER_IP, peer_mac);
    release_tx();
  });

  it("sends 8000 B over MTU 1500 as 6 fragments of 8000 + 6×20 B (test_ip4_frag)", () => {
    leak_start();
    stats_reset_protocols();
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 8000, pbuf_type.PBUF_RAM)!;
    for (let i: u32 = 0; i < 8000; i++) store<u8>(p.payload + i, pat(77, i));
    expect(ip4_output_if(p, 0, PEER_IP, 64, 0, IP_PROTO_UDP, nif)).toBe(ERR_OK);
    pbuf_free(p);
    expect(tx_pending()).toBe(6, "fragments on the wire");
    let total: u32 = 0;
    let id: u16 = 0;
    for (let i: u32 = 0; i < 6; i++) {
      const h = tx_ip(i);
      const len = <u32>ip4_hdr_len(h);
      total += len;
      expect(len).toBeLessThanOrEqual(1500);
      expect(inet_chksum(h, IP_HLEN)).toBe(0, "fragment header checksum");
      const off = ip4_hdr_offset(h);
      expect((<u32>(off & IP_OFFMASK)) << 3).toBe(i * 1480, "offset");
      expect((off & IP_MF) != 0).toBe(i < 5, "MF on all but the last");
      if (i == 0) id = ip4_hdr_id(h); else expect(ip4_hdr_id(h)).toBe(id, "same id");
    }
    expect(total).toBe(8000 + 6 * 20);
    expect(stats_get(Proto.IPFRAG, Ctr.XMIT)).toBe(6);
    // Feeding them back through reassembly gives the datagram back.
    let r: pbuf | null = null;
    for (let i: u32 = 0; i < 6; i++) {
      const q = tx_ip_copy(5 - i);
      // Pretend it was addressed to us from the peer for the identity check.
      const h = q.payload;
      ip4_hdr_set_src(h, PEER_IP);
      ip4_hdr_set_dest(h, OUR_IP);
      const x = ip4_reass(q);
      if (x != null) r = x;
    }
    release_tx();
    expect(r).not.toBeNull();
    if (r != null) {
      expect(r.tot_len).toBe(8020);
      const buf = heap.alloc(8000);
      pbuf_copy_partial(r, buf, 8000, IP_HLEN);
      let bad: i32 = -1;
      for (let i: u32 = 0; i < 8000; i++) if (load<u8>(buf + i) != pat(77, i)) { bad = <i32>i; break; }
      heap.free(buf);
      expect(bad).toBe(-1);
      pbuf_free(r);
    }
    leak_check();
  });

  it("fragments a chained datagram and copies only copied-flag options (RFC 791 §3.1)", () => {
    leak_start();
    // 28-byte header: Record Route (0x07, not copied) + Router Alert (0x94, copied).
    const data: u32 = 3000;
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, 28 + data, pbuf_type.PBUF_POOL)!;
    expect(p.next).not.toBeNull("a chain");
    const hb = heap.alloc(28);
    ip4_hdr_set_vhl(hb, 28);
    ip4_hdr_set_tos(hb, 0);
    ip4_hdr_set_len(hb, <u16>(28 + data));
    ip4_hdr_set_id(hb, 0x1234);
    ip4_hdr_set_offset(hb, 0);
    ip4_hdr_set_ttl(hb, 64);
    ip4_hdr_set_proto(hb, IP_PROTO_UDP);
    ip4_hdr_set_src(hb, OUR_IP);
    ip4_hdr_set_dest(hb, PEER_IP);
    store<u8>(hb + 20, 0x07); store<u8>(hb + 21, 3); store<u8>(hb + 22, 4);
    store<u8>(hb + 23, 0x94); store<u8>(hb + 24, 4); store<u8>(hb + 25, 0); store<u8>(hb + 26, 0);
    store<u8>(hb + 27, 0);
    ip4_hdr_set_chksum(hb, 0);
    ip4_hdr_set_chksum(hb, inet_chksum(hb, 28));
    pbuf_take_at(p, hb, 28, 0);
    heap.free(hb);
    const tmp = heap.alloc(data);
    for (let i: u32 = 0; i < data; i++) store<u8>(tmp + i, pat(5, i));
    pbuf_take_at(p, tmp, data, 28);
    expect(ip4_frag(p, nif, PEER_IP)).toBe(ERR_OK);
    pbuf_free(p);
    // First: 28-byte header, 1472 data; later: 24-byte header (router alert only).
    expect(tx_pending()).toBe(3);
    const f0 = tx_ip(0);
    const f1 = tx_ip(1);
    const f2 = tx_ip(2);
    expect(ip4_hdr_hlen(f0)).toBe(28);
    expect(<u32>ip4_hdr_len(f0)).toBe(1500);
    expect(ip4_hdr_hlen(f1)).toBe(24);
    expect(load<u8>(f1 + 20)).toBe(0x94, "router alert copied");
    expect(load<u8>(f1 + 21)).toBe(4);
    expect(<u32>ip4_hdr_len(f1)).toBe(24 + 1472);
    expect((<u32>(ip4_hdr_offset(f1) & IP_OFFMASK)) << 3).toBe(1472);
    expect(<u32>ip4_hdr_len(f2)).toBe(24 + data - 2 * 1472);
    expect(ip4_hdr_offset(f2) & IP_MF).toBe(0);
    expect(inet_chksum(f1, 24)).toBe(0);
    expect(inet_chksum(f2, 24)).toBe(0);
    // Payload bytes are where they belong.
    let bad: i32 = -1;
    for (let k: u32 = 0; k < 3; k++) {
      const h = tx_ip(k);
      const hl = ip4_hdr_hlen(h);
      const off = (<u32>(ip4_hdr_offset(h) & IP_OFFMASK)) << 3;
      const n = <u32>ip4_hdr_len(h) - hl;
      for (let i: u32 = 0; i < n; i++) if (load<u8>(h + hl + i) != pat(5, off + i)) { bad = <i32>(off + i); break; }
    }
    heap.free(tmp);
    expect(bad).toBe(-1);
    release_tx();
    leak_check();
  });

  it("reassembles 9 fragments delivered last first exactly once (test_ip4_reass)", () => {
    leak_start();
    stats_reset_protocols();
    const oks = mib(FragMib.REASM_OKS);
    const order = StaticArray.fromArray<u32>([8, 0, 7, 1, 6, 2, 5, 4, 3]);
    let result: pbuf | null = null;
    for (let k = 0; k < 9; k++) {
      const i = order[k];
      const r = ip4_reass(frag(100, i * 1000, i == 8 ? 500 : 1000, i != 8));
      if (k < 8) {
        expect(r).toBeNull();
        expect(mib(FragMib.REASM_OKS)).toBe(oks, "no reassembly before the end");
      } else {
        result = r;
      }
    }
    expect(mib(FragMib.REASM_OKS)).toBe(oks + 1);
    expect(stats_get(Proto.IPFRAG, Ctr.DROP)).toBe(0);
    expect(stats_get(Proto.IPFRAG, Ctr.LENERR)).toBe(0);
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(0);
    expect(stats_get(Proto.IPFRAG, Ctr.MEMERR)).toBe(0);
    expect(stats_get(Proto.IPFRAG, Ctr.RECV)).toBe(9);
    expect_datagram(result, 100, 8500);
    expect(sys_timeouts_count()).toBeGreaterThanOrEqual(0);
    leak_check();
  });

  it("reassembles every ordering of 4 fragments for sizes 8/200/208/1448", () => {
    leak_start();
    const sizes = StaticArray.fromArray<u32>([8, 200, 208, 1448]);
    // All 24 permutations of 0..3.
    const perms = new StaticArray<u32>(24 * 4);
    let np = 0;
    for (let a: u32 = 0; a < 4; a++) for (let b: u32 = 0; b < 4; b++) for (let c: u32 = 0; c < 4; c++) {
      if (a == b || a == c || b == c) continue;
      const d = 6 - a - b - c;
      perms[np * 4] = a; perms[np * 4 + 1] = b; perms[np * 4 + 2] = c; perms[np * 4 + 3] = d;
      np++;
    }
    expect(np).toBe(24);
    const order = new StaticArray<u32>(4);
    let id: u16 = 200;
    for (let s = 0; s < 4; s++) {
      for (let k = 0; k < np; k++) {
        for (let j = 0; j < 4; j++) order[j] = perms[k * 4 + j];
        const size = sizes[s];
        const last_len = size > 3 ? size - 3 : 1;
        const r = send_in_order(id, size, 4, last_len, order);
        expect_datagram(r, id, 3 * size + last_len);
        id++;
      }
    }
    leak_check();
  });

  it("reassembles larger datagrams in interleaved and reversed orders", () => {
    leak_start();
    const n: u32 = 40;
    const rev = new StaticArray<u32>(n);
    const inter = new StaticArray<u32>(n);
    for (let i: u32 = 0; i < n; i++) rev[i] = n - 1 - i;
    let k = 0;
    for (let i: u32 = 0; i < n; i += 2) inter[k++] = i;
    for (let i: u32 = 1; i < n; i += 2) inter[k++] = i;
    expect_datagram(send_in_order(300, 1480, n, 1000, rev), 300, 39 * 1480 + 1000);
    expect_datagram(send_in_order(301, 1480, n, 1000, inter), 301, 39 * 1480 + 1000);
    leak_check();
  });

  it("drops an exact duplicate and keeps the datagram", () => {
    leak_start();
    stats_reset_protocols();
    expect(ip4_reass(frag(400, 0, 800, true))).toBeNull();
    expect(ip4_reass(frag(400, 0, 800, true))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.DROP)).toBe(1);
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(0);
    expect(ip4_reass_datagrams()).toBe(1);
    expect_datagram(ip4_reass(frag(400, 800, 100, false)), 400, 900);
    leak_check();
  });

  it("drops the whole datagram on overlap, and its later fragments (RFC 5722 policy)", () => {
    leak_start();
    stats_reset_protocols();
    expect(ip4_reass(frag(500, 0, 16, true))).toBeNull();
    expect(ip4_reass(frag(500, 32, 16, true))).toBeNull();
    // [8, 24) overlaps [0, 16)
    expect(ip4_reass(frag(500, 8, 16, true))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(1);
    expect(stats_get(Proto.IPFRAG, Ctr.DROP)).toBe(3);
    expect(ip4_reass_pbufcount()).toBe(0, "fragments freed");
    // A fragment that would have completed it is discarded as well.
    expect(ip4_reass(frag(500, 16, 16, true))).toBeNull();
    expect(ip4_reass(frag(500, 48, 8, false))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.DROP)).toBe(5);
    // Overlap from the other side: the new fragment covers the start of the next.
    expect(ip4_reass(frag(501, 16, 16, true))).toBeNull();
    expect(ip4_reass(frag(501, 8, 16, true))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(2);
    // Same start, different length is an overlap, not a duplicate.
    expect(ip4_reass(frag(502, 0, 16, true))).toBeNull();
    expect(ip4_reass(frag(502, 0, 24, true))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(3);
    expect(ip4_reass_pbufcount()).toBe(0);
    // Poisoned entries go when their time is up, without ICMP.
    tick(IP_REASS_MAXAGE * 1000 + 1000);
    expect(tx_pending()).toBe(0, "no time exceeded for a poisoned datagram");
    leak_check();
  });

  it("drops contradictions about the end of the datagram", () => {
    leak_start();
    stats_reset_protocols();
    // Two last fragments ending in different places.
    expect(ip4_reass(frag(600, 800, 100, false))).toBeNull();
    expect(ip4_reass(frag(600, 1000, 100, false))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(1);
    // A fragment past the announced end.
    expect(ip4_reass(frag(601, 800, 100, false))).toBeNull();
    expect(ip4_reass(frag(601, 904, 8, true))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(2);
    // A last fragment ending before data already received.
    expect(ip4_reass(frag(602, 800, 104, true))).toBeNull();
    expect(ip4_reass(frag(602, 0, 100, false))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.PROTERR)).toBe(3);
    expect(ip4_reass_pbufcount()).toBe(0);
    tick(IP_REASS_MAXAGE * 1000 + 1000);
    release_tx();
    leak_check();
  });

  it("drops bad lengths: beyond 64 KiB, not a multiple of 8, empty with MF", () => {
    leak_start();
    stats_reset_protocols();
    // offset 65528 + 16 bytes: the datagram would exceed 65535 (ping of death)
    expect(ip4_reass(frag(700, 65528, 16, false))).toBeNull();
    expect(ip4_reass(frag(701, 65000, 600, true))).toBeNull();
    expect(ip4_reass(frag(702, 0, 100, true))).toBeNull(); // 100 is not a multiple of 8
    expect(ip4_reass(frag(703, 8, 0, true))).toBeNull();
    expect(stats_get(Proto.IPFRAG, Ctr.LENERR)).toBe(4);
    expect(stats_get(Proto.IPFRAG, Ctr.DROP)).toBe(4);
    expect(ip4_reass_datagrams()).toBe(0, "nothing kept");
    // The largest legal datagram: 65535 bytes in total.
    const n: u32 = 45;
    const order = new StaticArray<u32>(n);
    for (let i: u32 = 0; i < n; i++) order[i] = i;
    const last_len = 65515 - 44 * 1480;
    expect_datagram(send_in_order(704, 1480, n, last_len, order), 704, 65515);
    leak_check();
  });

  it("times out after IP_REASS_MAXAGE and sends time exceeded code 1 when the first fragment came (RFC 1122 §3.3.2)", () => {
    leak_start();
    stats_reset_protocols();
    release_tx();
    const timers = sys_timeouts_count();
    expect(ip4_reass(frag(800, 0, 1000, true, IP_PROTO_UDP))).toBeNull();
    expect(ip4_reass(frag(800, 2000, 8, false, IP_PROTO_UDP))).toBeNull();
    expect(ip4_reass(frag(801, 1000, 1000, true))).toBeNull(); // no first fragment
    expect(sys_timeouts_count()).toBe(timers + 1, "one reassembly timer");
    tick((IP_REASS_MAXAGE - 1) * 1000);
    expect(ip4_reass_datagrams()).toBe(2, "not yet");
    tick(2000);
    expect(ip4_reass_datagrams()).toBe(0);
    expect(stats_get(Proto.IPFRAG, Ctr.ERR)).toBe(2);
    expect(sys_timeouts_count()).toBe(timers, "timer stopped when idle");
    // One ICMP time exceeded, code 1, to the peer, quoting the first fragment's header.
    expect(tx_pending()).toBe(1);
    if (tx_pending() == 1) {
      const ip = tx_ip(0);
      expect(ip4_hdr_proto(ip)).toBe(IP_PROTO_ICMP);
      expect(ip4_hdr_dest(ip)).toBe(PEER_IP);
      const icmp = ip + ip4_hdr_hlen(ip);
      expect(load<u8>(icmp)).toBe(11, "time exceeded");
      expect(load<u8>(icmp + 1)).toBe(1, "fragment reassembly time exceeded");
      const quoted = icmp + 8;
      expect(ip4_hdr_id(quoted)).toBe(800);
      expect(ip4_hdr_offset(quoted)).toBe(IP_MF);
      expect(<u32>ip4_hdr_len(quoted)).toBe(1020);
      expect(inet_chksum(quoted, IP_HLEN)).toBe(0, "quoted header as it arrived");
      expect(load<u8>(quoted + IP_HLEN)).toBe(pat(800, 0));
    }
    release_tx();
    leak_check();
  });

  it("enforces IP_REASS_MAX_PBUFS by dropping the oldest datagram", () => {
    leak_start();
    stats_reset_protocols();
    const a: u32 = <u32>IP_REASS_MAX_PBUFS - 10;
    for (let i: u32 = 0; i < a; i++) expect(ip4_reass(frag(900, i * 8, 8, true))).toBeNull();
    expect(ip4_reass_pbufcount()).toBe(a);
    // A second datagram needing 20 pbufs pushes the first out.
    for (let i: u32 = 0; i < 19; i++) expect(ip4_reass(frag(901, i * 8, 8, true))).toBeNull();
    expect(ip4_reass_datagrams()).toBe(1, "oldest dropped");
    expect(stats_get(Proto.IPFRAG, Ctr.MEMERR)).toBe(1);
    expect(ip4_reass_pbufcount()).toBe(19);
    expect_datagram(ip4_reass(frag(901, 19 * 8, 8, false)), 901, 160);
    // A fragment that alone needs more pbufs than allowed is dropped.
    const big = frag(902, 0, 8, true);
    for (let i = 0; i < IP_REASS_MAX_PBUFS; i++) {
      const t = pbuf_alloc(pbuf_layer.PBUF_RAW, 8, pbuf_type.PBUF_RAM)!;
      memory.fill(t.payload, 0, 8);
      pbuf_cat(big, t);
    }
    ip4_hdr_set_len(big.payload, <u16>big.tot_len);
    ip4_hdr_set_chksum(big.payload, 0);
    ip4_hdr_set_chksum(big.payload, inet_chksum(big.payload, IP_HLEN));
    expect(pbuf_clen(big)).toBeGreaterThan(<u32>IP_REASS_MAX_PBUFS);
    expect(ip4_reass(big)).toBeNull();
    expect(ip4_reass_datagrams()).toBe(0);
    leak_check();
  });

  it("holds at most MEMP_NUM_REASSDATA datagrams, dropping the oldest", () => {
    leak_start();
    stats_reset_protocols();
    const n: u32 = <u32>MEMP_NUM_REASSDATA;
    for (let i: u32 = 0; i <= n; i++) expect(ip4_reass(frag(<u16>(1000 + i), 0, 8, true))).toBeNull();
    expect(ip4_reass_datagrams()).toBe(n);
    expect(memp_used(MEMP.REASSDATA)).toBe(n);
    expect(stats_get(Proto.IPFRAG, Ctr.MEMERR)).toBe(1);
    // The oldest (1000) is gone: its last fragment starts a new datagram.
    expect(ip4_reass(frag(1000, 8, 8, false))).toBeNull();
    // The youngest survived and completes.
    expect_datagram(ip4_reass(frag(<u16>(1000 + n), 8, 8, false)), <u16>(1000 + n), 16);
    tick(IP_REASS_MAXAGE * 1000 + 1000);
    release_tx();
    leak_check();
  });

  it("keeps datagrams apart by (src, dst, id, proto)", () => {
    leak_start();
    expect(ip4_reass(frag(1100, 0, 8, true, IP_PROTO_UDP))).toBeNull();
    expect(ip4_reass(frag(1100, 0, 8, true, IP_PROTO_ICMP))).toBeNull();
    // (a non-first fragment: its timeout sends no ICMP to an address ARP does not know)
    expect(ip4_reass(frag(1100, 8, 4, false, IP_PROTO_UDP, IP4(192, 0, 2, 9)))).toBeNull();
    expect(ip4_reass_datagrams()).toBe(3);
    expect_datagram(ip4_reass(frag(1100, 8, 4, false, IP_PROTO_UDP)), 1100, 12);
    expect(ip4_reass_datagrams()).toBe(2);
    tick(IP_REASS_MAXAGE * 1000 + 1000);
    release_tx();
    leak_check();
  });

  it("answers a fragmented 8000-byte ping with a fragmented reply (netif_input to TX ring)", () => {
    leak_start();
    release_tx();
    // ICMP echo request: 8 header bytes + 7992 data bytes = 8000 after the IP header.
    const total: u32 = 8000;
    const icmp = heap.alloc(total);
    store<u8>(icmp, 8); store<u8>(icmp, 0, 1); store<u16>(icmp, 0, 2);
    store<u16>(icmp, bswap<u16>(0x77), 4); store<u16>(icmp, bswap<u16>(1), 6);
    for (let i: u32 = 8; i < total; i++) store<u8>(icmp + i, pat(9, i));
    store<u16>(icmp, bswap<u16>(inet_chksum(icmp, total)), 2);
    let off: u32 = 0;
    while (off < total) {
      const len = min<u32>(1480, total - off);
      const mf = off + len < total;
      const f = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_HLEN + IP_HLEN + len, pbuf_type.PBUF_POOL)!;
      const e = f.payload;
      memory.copy(e, our_mac, 6);
      memory.copy(e + 6, peer_mac, 6);
      store<u16>(e, bswap<u16>(0x0800), 12);
      const h = e + ETH_HLEN;
      ip4_hdr_set_vhl(h, IP_HLEN);
      ip4_hdr_set_tos(h, 0);
      ip4_hdr_set_len(h, <u16>(IP_HLEN + len));
      ip4_hdr_set_id(h, 4242);
      ip4_hdr_set_offset(h, (mf ? IP_MF : 0) | <u16>(off >> 3));
      ip4_hdr_set_ttl(h, 64);
      ip4_hdr_set_proto(h, IP_PROTO_ICMP);
      ip4_hdr_set_chksum(h, 0);
      ip4_hdr_set_src(h, PEER_IP);
      ip4_hdr_set_dest(h, OUR_IP);
      ip4_hdr_set_chksum(h, inet_chksum(h, IP_HLEN));
      pbuf_take_at(f, icmp + off, len, ETH_HLEN + IP_HLEN);
      netif_input(f, nif);
      off += len;
    }
    expect(tx_pending()).toBe(6, "reply fragments");
    // Reassemble the reply ourselves and compare with the request.
    let r: pbuf | null = null;
    const n = tx_pending();
    for (let i: u32 = 0; i < n; i++) {
      const q = tx_ip_copy(i);
      const h = q.payload;
      expect(ip4_hdr_src(h)).toBe(OUR_IP);
      expect(ip4_hdr_dest(h)).toBe(PEER_IP);
      // Swap the addresses so ip4_reass sees it as ours from the peer.
      ip4_hdr_set_src(h, PEER_IP);
      ip4_hdr_set_dest(h, OUR_IP);
      const x = ip4_reass(q);
      if (x != null) r = x;
    }
    release_tx();
    expect(r).not.toBeNull();
    if (r != null) {
      expect(r.tot_len).toBe(IP_HLEN + total);
      const buf = heap.alloc(total);
      pbuf_copy_partial(r, buf, total, IP_HLEN);
      expect(load<u8>(buf)).toBe(0, "echo reply");
      let bad: i32 = -1;
      for (let i: u32 = 8; i < total; i++) if (load<u8>(buf + i) != load<u8>(icmp + i)) { bad = <i32>i; break; }
      expect(bad).toBe(-1);
      // The reply's checksum covers the whole message.
      expect(inet_chksum(buf, total)).toBe(0);
      heap.free(buf);
      pbuf_free(r);
    }
    heap.free(icmp);
    leak_check();
  });
});
