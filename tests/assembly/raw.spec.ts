// raw: raw IP pcbs driven frame by frame through netif_input (ip4_input
// offers every packet to raw_input before ICMP/UDP) and checked on the TX and
// event rings: an ICMP pcb sees echo requests, eats or passes them, host-side
// pcbs get events, HDRINCL and plain sends. Every test ends with the heap and
// every pool back to their baseline.
import { udp_init } from "../../assembly/udp";
import { asip_init } from "../../assembly/index";
import { netif_up, peer_at, test_begin, test_end } from "./harness/netif";
import { MEMP, memp_used } from "../../assembly/core/memp";
import { ERR_OK, ERR_VAL, ERR_CONN } from "../../assembly/core/err";
import { pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { inet_chksum } from "../../assembly/core/chksum";
import { Proto, Ctr, stats_get } from "../../assembly/core/stats";
import { tx_pending } from "../../assembly/core/rings";
import { A, OUR_MAC, PEER_MAC, BCAST_MAC, be16 } from "./harness/addr";
import { ETH_HLEN, ip_frame } from "./harness/frames";
import { frame, tx_frame, tx_clear, ev_pending, ev_clear, ev_record } from "./harness/rings";
import { ip_addr, IP4 } from "../../assembly/ip_addr";
import { netif, netif_input } from "../../assembly/netif/netif";
import { IP_HLEN, IP_PROTO_ICMP, IP_PROTO_UDP } from "../../assembly/ipv4/ip4_hdr";
import {
  raw_pcb, raw_new, raw_remove, raw_bind, raw_connect, raw_disconnect, raw_recv, raw_send, raw_sendto,
  RAW_FLAGS_HDRINCL, EV_RAW_RECV,
} from "../../assembly/raw";
import { SOF_BROADCAST } from "../../assembly/udp";
import { raw_host_new, raw_host_close, raw_host_set_flags, raw_tx_buffer, raw_host_send_pbuf, raw_sendto_host } from "../../assembly/abi/raw";

const IP1 = IP4(192, 0, 2, 2);
const PEER1 = IP4(192, 0, 2, 1);
const OTHER = IP4(192, 0, 2, 7);
const MASK = IP4(255, 255, 255, 0);
const GBCAST = IP4(255, 255, 255, 255);
const PROTO_TEST: u8 = 253; // RFC 3692 experimentation

const mac1: usize = OUR_MAC;
const peer_mac: usize = PEER_MAC;

let nif1: netif = changetype<netif>(0);

// ---- callbacks --------------------------------------------------------------------------

let rx_count: u32 = 0;
let rx_addr: u32 = 0;
let rx_proto: u8 = 0;
let rx_first: u8 = 0;
let rx_pcb: usize = 0;
/** What the callback returns: 1 eats (and frees) the packet. */
let eat: u8 = 0;

function on_recv(arg: usize, pcb: raw_pcb, p: pbuf, addr: ip_addr): u8 {
  rx_count++;
  rx_addr = addr.a0;
  rx_pcb = changetype<usize>(pcb);
  rx_proto = load<u8>(p.payload + 9);
  rx_first = load<u8>(p.payload + IP_HLEN);
  if (eat) pbuf_free(p);
  return eat;
}

function reset(): void { rx_count = 0; rx_addr = 0; rx_proto = 0; rx_first = 0; rx_pcb = 0; eat = 0; }

// ---- frames ----------------------------------------------------------------------------

/** An Ethernet frame with an IPv4 packet of `proto` from `src` to `dst` carrying `body` (len bytes). */
function ip4_frame(src: u32, dst: u32, proto: u8, body: usize, len: u32): pbuf {
  const p = ip_frame(A(src, 1), A(dst, 2), proto, body, len, dst == GBCAST ? BCAST_MAC : mac1);
  // The ID the tests used before the shared builder: any nonzero value.
  const h = p.payload + ETH_HLEN;
  store<u16>(h + 4, bswap<u16>(0x1234));
  store<u16>(h + 10, 0);
  store<u16>(h + 10, bswap<u16>(inet_chksum(h, IP_HLEN)));
  return p;
}

/** An ICMP echo request (id 1, seq 1, 8 data bytes) from `src`. */
function echo_frame(src: u32, dst: u32 = IP1): pbuf {
  const b = memory.data(16, 8);
  memory.fill(b, 0, 16);
  store<u8>(b, 8);
  store<u16>(b + 4, bswap<u16>(1));
  store<u16>(b + 6, bswap<u16>(1));
  for (let i = 8; i < 16; i++) store<u8>(b + i, <u8>i);
  store<u16>(b + 2, bswap<u16>(inet_chksum(b, 16)));
  return ip4_frame(src, dst, IP_PROTO_ICMP, b, 16);
}

/** Is TX frame 0 an echo reply to `to`? */
function expect_echo_reply(to: u32): void {
  expect(tx_pending()).toBe(1, "echo reply sent");
  tx_frame(0);
  const h = frame + ETH_HLEN;
  expect(load<u8>(h + 9)).toBe(IP_PROTO_ICMP);
  expect(load<u32>(h + 16)).toBe(to);
  expect(load<u8>(h + IP_HLEN)).toBe(0, "echo reply");
}

describe("raw", () => {
  beforeAll(() => {
    udp_init();
    asip_init(0, 1);
    nif1 = netif_up(mac1, IP1, MASK, PEER1, true);
    peer_at(PEER1, peer_mac);
    peer_at(OTHER, peer_mac);
  });

  beforeEach(() => {
    reset();
    test_begin();
  });

  afterEach(() => test_end());

  it("raw_new and raw_remove balance the pool", () => {
    const before = memp_used(MEMP.RAW_PCB);
    const a = raw_new(IP_PROTO_ICMP)!, b = raw_new(IP_PROTO_UDP)!;
    expect(memp_used(MEMP.RAW_PCB)).toBe(before + 2);
    raw_remove(a);
    raw_remove(b);
    expect(memp_used(MEMP.RAW_PCB)).toBe(before);
  });

  it("an ICMP pcb sees echo requests and passes them: ICMP still answers", () => {
    const pcb = raw_new(IP_PROTO_ICMP)!;
    raw_recv(pcb, on_recv, 0);
    netif_input(echo_frame(PEER1), nif1);
    expect(rx_count).toBe(1);
    expect(rx_addr).toBe(PEER1);
    expect(rx_proto).toBe(IP_PROTO_ICMP, "payload at the IP header");
    expect(rx_first).toBe(8, "echo request");
    expect_echo_reply(PEER1);
    expect(stats_get(Proto.RAW, Ctr.RECV)).toBe(1);
    raw_remove(pcb);
  });

  it("a pcb that eats the packet stops IP: no echo reply", () => {
    const pcb = raw_new(IP_PROTO_ICMP)!;
    raw_recv(pcb, on_recv, 0);
    eat = 1;
    netif_input(echo_frame(PEER1), nif1);
    expect(rx_count).toBe(1);
    expect(tx_pending()).toBe(0, "eaten");
    raw_remove(pcb);
  });

  it("matches protocol, bound address, connected remote; broadcasts only reach ANY-bound pcbs", () => {
    const udp = raw_new(IP_PROTO_UDP)!;
    raw_recv(udp, on_recv, 0);
    netif_input(echo_frame(PEER1), nif1);
    expect(rx_count).toBe(0, "other protocol");
    tx_clear();
    raw_remove(udp);

    const pcb = raw_new(IP_PROTO_ICMP)!;
    raw_recv(pcb, on_recv, 0);
    expect(raw_bind(pcb, A(OTHER))).toBe(ERR_OK);
    netif_input(echo_frame(PEER1), nif1);
    expect(rx_count).toBe(0, "bound to another address");
    tx_clear();
    expect(raw_bind(pcb, A(IP1))).toBe(ERR_OK);
    expect(raw_connect(pcb, A(OTHER))).toBe(ERR_OK);
    netif_input(echo_frame(PEER1), nif1);
    expect(rx_count).toBe(0, "connected to another peer");
    tx_clear();
    netif_input(echo_frame(OTHER), nif1);
    expect(rx_count).toBe(1, "from the connected peer");
    tx_clear();
    raw_disconnect(pcb);
    netif_input(echo_frame(PEER1, GBCAST), nif1);
    expect(rx_count).toBe(1, "broadcast not for a pcb bound to an address");
    expect(raw_bind(pcb, null)).toBe(ERR_OK);
    netif_input(echo_frame(PEER1, GBCAST), nif1);
    expect(rx_count).toBe(2, "broadcast for an ANY pcb");
    tx_clear();
    raw_remove(pcb);
  });

  it("sends an IP payload of its protocol; raw_send needs a connected pcb; SO_BROADCAST", () => {
    const pcb = raw_new(PROTO_TEST)!;
    const d = pbuf_alloc(pbuf_layer.PBUF_IP, 30, pbuf_type.PBUF_RAM)!;
    for (let i: u32 = 0; i < 30; i++) store<u8>(d.payload + i, <u8>(i + 100));
    expect(raw_send(pcb, d)).toBe(ERR_CONN);
    expect(raw_connect(pcb, A(PEER1))).toBe(ERR_OK);
    pcb.ttl = 9;
    expect(raw_send(pcb, d)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    const h = frame + ETH_HLEN;
    expect(load<u8>(h + 9)).toBe(PROTO_TEST);
    expect(load<u8>(h + 8)).toBe(9, "ttl");
    expect(load<u32>(h + 12)).toBe(IP1);
    expect(load<u32>(h + 16)).toBe(PEER1);
    expect(be16(h + 2)).toBe(<u16>(IP_HLEN + 30));
    expect(load<u8>(h + IP_HLEN + 29)).toBe(129);
    expect(d.tot_len).toBe(30, "caller's pbuf restored");
    tx_clear();
    expect(raw_sendto(pcb, d, A(GBCAST))).toBe(ERR_VAL, "broadcast without SO_BROADCAST");
    pcb.so_options |= SOF_BROADCAST;
    expect(raw_sendto(pcb, d, A(GBCAST))).toBe(ERR_OK);
    pbuf_free(d);
    // no header room: a header pbuf is chained in front
    const e = pbuf_alloc(pbuf_layer.PBUF_RAW, 5, pbuf_type.PBUF_RAM)!;
    tx_clear();
    expect(raw_sendto(pcb, e, A(PEER1))).toBe(ERR_OK);
    expect(e.ref).toBe(1);
    pbuf_free(e);
    raw_remove(pcb);
  });

  it("HDRINCL: sends the caller's IP header, filling id and checksum", () => {
    const pcb = raw_new(PROTO_TEST)!;
    pcb.flags |= RAW_FLAGS_HDRINCL;
    const d = pbuf_alloc(pbuf_layer.PBUF_LINK, IP_HLEN + 6, pbuf_type.PBUF_RAM)!;
    const h = d.payload;
    memory.fill(h, 0, IP_HLEN + 6);
    store<u8>(h, 0x45);
    store<u8>(h + 8, 33);
    store<u8>(h + 9, PROTO_TEST);
    store<u32>(h + 12, IP1);
    store<u32>(h + 16, OTHER);
    store<u8>(h + IP_HLEN, 0xab);
    expect(raw_sendto(pcb, d, A(OTHER))).toBe(ERR_OK);
    tx_frame(0);
    const o = frame + ETH_HLEN;
    expect(load<u8>(o + 8)).toBe(33, "the caller's TTL");
    expect(load<u32>(o + 16)).toBe(OTHER);
    expect(be16(o + 2)).toBe(<u16>(IP_HLEN + 6), "total length");
    expect(be16(o + 4)).not.toBe(0, "id filled in");
    expect(inet_chksum(o, IP_HLEN)).toBe(0, "header checksum");
    expect(load<u8>(o + IP_HLEN)).toBe(0xab);
    pbuf_free(d);
    // shorter than an IP header
    const s = pbuf_alloc(pbuf_layer.PBUF_LINK, 10, pbuf_type.PBUF_RAM)!;
    expect(raw_sendto(pcb, s, A(OTHER))).toBe(ERR_VAL);
    pbuf_free(s);
    raw_remove(pcb);
  });

  it("host pcb: events with the whole packet, passing a copy or eating; host sends", () => {
    const h = raw_host_new(IP_PROTO_ICMP, 4, 0);
    expect(h).toBeGreaterThan(0);
    netif_input(echo_frame(PEER1), nif1);
    expect(ev_pending()).toBe(1);
    const r = ev_record(0);
    expect(load<u16>(r)).toBe(EV_RAW_RECV);
    expect(load<u32>(r, 4)).toBe(<u32>h);
    const p = changetype<pbuf>(load<usize>(r, 8));
    expect(load<u8>(p.payload)).toBe(0x45, "payload at the IP header");
    expect(load<u8>(p.payload + IP_HLEN)).toBe(8, "still the request (a copy, not the reply built in place)");
    expect(p.tot_len).toBe(IP_HLEN + 16);
    expect(load<u32>(r, 12)).toBe(PEER1);
    expect(load<u32>(r, 16)).toBe(IP1);
    expect(load<u32>(r, 20)).toBe(<u32>nif1.num);
    expect(load<u32>(r, 24)).toBe(IP_PROTO_ICMP);
    expect(load<u32>(r, 28)).toBe(IP_HLEN);
    expect_echo_reply(PEER1);
    ev_clear();
    tx_clear();
    expect(raw_host_set_flags(h, 0, 1)).toBe(ERR_OK);
    netif_input(echo_frame(PEER1), nif1);
    expect(ev_pending()).toBe(1);
    expect(tx_pending()).toBe(0, "eaten by the host pcb");
    ev_clear();
    // sends: zero-copy buffer and copy from core memory
    const b = raw_tx_buffer(h, 8);
    memory.fill(changetype<pbuf>(b).payload, 0x11, 8);
    expect(raw_host_send_pbuf(h, b, changetype<usize>(A(PEER1, 3)))).toBe(ERR_OK);
    tx_frame(0);
    expect(load<u8>(frame + ETH_HLEN + 9)).toBe(IP_PROTO_ICMP);
    expect(load<u8>(frame + ETH_HLEN + IP_HLEN)).toBe(0x11);
    tx_clear();
    const src = memory.data<u8>([1, 2, 3]);
    expect(raw_sendto_host(h, src, 3, changetype<usize>(A(PEER1, 3)))).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    expect(raw_host_close(h)).toBe(ERR_OK);
    expect(raw_host_close(h)).not.toBe(ERR_OK, "stale handle refused");
  });
});
