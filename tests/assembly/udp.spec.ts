// udp: UDP and UDP-Lite pcbs driven frame by frame through netif_input and
// checked on the TX ring and the event ring (lwIP test_udp.c rows: new_remove,
// broadcast_rx_with_2_netifs, bind; plus RFC 768 / RFC 3828 input checks,
// port unreachable, ICMP errors, ephemeral ports, SO_BROADCAST, the host ABI).
// Every test ends with the heap and every pool back to their baseline.
import { udp_init } from "../../assembly/udp";
import { asip_init } from "../../assembly/index";
import { netif_up, peer_at, test_begin, test_end } from "./harness/netif";
import { MEMP, memp_used } from "../../assembly/core/memp";
import { ERR_OK, ERR_USE, ERR_VAL, ERR_CONN } from "../../assembly/core/err";
import { pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type, pbuf_copy_partial, pbuf_alloc_reference } from "../../assembly/core/pbuf";
import { inet_chksum } from "../../assembly/core/chksum";
import { Proto, Ctr, stats_get } from "../../assembly/core/stats";
import { tx_pending } from "../../assembly/core/rings";
import { A, OUR_MAC, PEER_MAC, BCAST_MAC, be16 } from "./harness/addr";
import { ETH_HLEN, ETHTYPE_IP, eth_write, ip_write } from "./harness/frames";
import { ref_sum, ref_pseudo_sum, ref_transport_ok } from "./harness/checksum";
import { frame, tx_frame, tx_clear, expect_no_tx, ev_pending, ev_clear, ev_record } from "./harness/rings";
import { ip_addr, IP4, IPADDR_TYPE_V6, IPADDR_TYPE_ANY } from "../../assembly/ip_addr";
import { netif, netif_input } from "../../assembly/netif/netif";
import { IP_HLEN, IP_PROTO_UDP, IP_PROTO_UDPLITE, IP_PROTO_ICMP } from "../../assembly/ipv4/ip4_hdr";
import {
  udp_pcb, udp_new, udp_new_ip_type, udp_remove, udp_bind, udp_connect, udp_disconnect, udp_recv, udp_err,
  udp_send, udp_sendto, udp_set_port_cursor, SOF_REUSEADDR, SOF_BROADCAST, UDP_FLAGS_UDPLITE,
  UDP_LOCAL_PORT_RANGE_START, UDP_LOCAL_PORT_RANGE_END, EV_UDP_RECV, EV_UDP_ERR, UDP_RECV_BROADCAST,
} from "../../assembly/udp";
import {
  udp_host_new, udp_host_bind, udp_host_connect, udp_host_close, udp_host_local_port, udp_tx_buffer,
  udp_host_send_pbuf, udp_sendto_host, udp_host_set_coverage,
} from "../../assembly/abi/udp";

// ---- fixtures ----------------------------------------------------------------------

const IP1 = IP4(192, 0, 2, 2);
const PEER1 = IP4(192, 0, 2, 1);
const BCAST1 = IP4(192, 0, 2, 255);
const IP2 = IP4(198, 51, 100, 2);
const PEER2 = IP4(198, 51, 100, 1);
const MASK = IP4(255, 255, 255, 0);
const GBCAST = IP4(255, 255, 255, 255);
const GROUP = IP4(239, 1, 2, 3);
const UDP_HLEN: u32 = 8;

const mac1: usize = OUR_MAC;
const mac2: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x12, 0, 0]);
const peer_mac: usize = PEER_MAC;
const bcast_mac: usize = BCAST_MAC;
const mcast_mac: usize = memory.data<u8>([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03, 0, 0]);

let nif1: netif = changetype<netif>(0);
let nif2: netif = changetype<netif>(0);

// ---- in-core callbacks record what they got ----------------------------------------------

let rx_count: u32 = 0;
let rx_pcb: usize = 0;
let rx_addr: u32 = 0;
let rx_port: u16 = 0;
let rx_len: u32 = 0;
let rx_arg: usize = 0;
const rx_buf: usize = memory.data(2048, 8);
/** 1: the callback echoes the datagram back to its sender. */
let echo_mode: u32 = 0;

function on_recv(arg: usize, pcb: udp_pcb, p: pbuf, addr: ip_addr, port: u16): void {
  rx_count++;
  rx_pcb = changetype<usize>(pcb);
  rx_addr = addr.a0;
  rx_port = port;
  rx_arg = arg;
  rx_len = pbuf_copy_partial(p, rx_buf, p.tot_len < 2048 ? p.tot_len : 2048, 0);
  if (echo_mode == 1) udp_sendto(pcb, p, addr, port);
  pbuf_free(p);
}

let err_count: u32 = 0;
let err_type: u8 = 0;
let err_code: u8 = 0;
let err_addr: u32 = 0;
let err_port: u16 = 0;
function on_err(arg: usize, pcb: udp_pcb, type: u8, code: u8, addr: ip_addr, port: u16): void {
  err_count++;
  err_type = type;
  err_code = code;
  err_addr = addr.a0;
  err_port = port;
}

function reset_rx(): void {
  rx_count = 0; rx_pcb = 0; rx_addr = 0; rx_port = 0; rx_len = 0; rx_arg = 0; echo_mode = 0;
  err_count = 0; err_type = 0; err_code = 0; err_addr = 0; err_port = 0;
}

function new_pcb(ip: u32, port: u16, reuse: bool = false): udp_pcb {
  const pcb = udp_new()!;
  if (reuse) pcb.so_options |= SOF_REUSEADDR;
  expect(udp_bind(pcb, A(ip), port)).toBe(ERR_OK, "bind");
  udp_recv(pcb, on_recv, changetype<usize>(pcb));
  return pcb;
}

// ---- checksums by the book ----------------------------------------------------------------

/** Verifies a UDP/UDP-Lite datagram at `u` of `len` bytes: the sum over pseudo header + covered bytes is 0xffff. */
function ref_verify(src: u32, dst: u32, proto: u8, u: usize, len: u32, cov: u32): bool {
  return ref_transport_ok(A(src, 6), A(dst, 7), proto, u, len, cov);
}

/** The pseudo header's sum (RFC 768): addresses, protocol, transport length. */
function pseudo_sum(src: u32, dst: u32, proto: u8, len: u32): u32 {
  return ref_pseudo_sum(A(src, 6), A(dst, 7), proto, len);
}

// ---- frames in ------------------------------------------------------------------------------

const CS_OK: i32 = 0;
const CS_ZERO: i32 = 1;
const CS_BAD: i32 = 2;

/** Payload byte `i`: a pattern that shows misplaced data. */
function pat(i: u32): u8 { return <u8>(i * 7 + 3); }

/**
 * An Ethernet frame carrying UDP (or UDP-Lite) from `src`:`sport` to
 * `dst`:`dport` with `plen` pattern bytes. `ulen` overrides the UDP length
 * field (UDP) / `cov` is the coverage field (UDP-Lite); `extra` bytes of IP
 * payload follow the datagram (UDP only: beyond its length field).
 */
function udp_frame(
  src: u32, dst: u32, sport: u16, dport: u16, plen: u32,
  proto: u8 = IP_PROTO_UDP, csum: i32 = CS_OK, ulen: i32 = -1, cov: u32 = 0, extra: u32 = 0,
): pbuf {
  const iplen = IP_HLEN + UDP_HLEN + plen + extra;
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_HLEN + iplen, pbuf_type.PBUF_RAM)!;
  const f = p.payload;
  const dmac = dst == GBCAST || dst == BCAST1 ? bcast_mac : (dst & 0xf0) == 0xe0 ? mcast_mac : (dst == IP2 ? mac2 : mac1);
  eth_write(f, dmac, peer_mac, ETHTYPE_IP);
  const h = f + ETH_HLEN;
  ip_write(h, A(src, 6), A(dst, 7), proto, UDP_HLEN + plen + extra);
  const u = h + IP_HLEN;
  store<u16>(u, bswap<u16>(sport));
  store<u16>(u + 2, bswap<u16>(dport));
  const dlen = UDP_HLEN + plen;
  let field: u32 = proto == IP_PROTO_UDPLITE ? cov : (ulen >= 0 ? <u32>ulen : dlen);
  store<u16>(u + 4, bswap<u16>(<u16>field));
  store<u16>(u + 6, 0);
  for (let i: u32 = 0; i < plen + extra; i++) store<u8>(u + UDP_HLEN + i, pat(i));
  if (csum != CS_ZERO) {
    const tlen = proto == IP_PROTO_UDPLITE ? dlen : field;
    const covered = proto == IP_PROTO_UDPLITE ? (cov == 0 ? dlen : cov) : field;
    const s = ref_sum(u, covered < dlen ? covered : dlen, pseudo_sum(src, dst, proto, tlen));
    let c = <u16>(~s & 0xffff);
    if (c == 0) c = 0xffff;
    if (csum == CS_BAD) c ^= 0x0101;
    store<u16>(u + 6, bswap<u16>(c));
  }
  return p;
}

function send(n: netif, p: pbuf): void { netif_input(p, n); }

// ---- frames out ------------------------------------------------------------------------------

function ip_of_frame(): usize { return frame + ETH_HLEN; }
function udp_of_frame(): usize { return frame + ETH_HLEN + IP_HLEN; }

/** Expects exactly nothing on the TX ring. */
function expect_nothing(): void { expect_no_tx(); }

/** Checks TX frame `i` is an ICMP destination unreachable with `code` quoting a datagram to `qdst`:`qport`. */
function expect_unreach(i: u32, code: u8, to: u32, qdst: u32, qport: u16): void {
  tx_frame(i);
  const h = ip_of_frame();
  expect(be16(frame + 12)).toBe(0x0800, "IPv4");
  expect(load<u8>(h + 9)).toBe(IP_PROTO_ICMP, "ICMP");
  expect(load<u32>(h + 16)).toBe(to, "to the sender");
  const ic = h + IP_HLEN;
  expect(load<u8>(ic)).toBe(3, "destination unreachable");
  expect(load<u8>(ic + 1)).toBe(code, "code");
  const q = ic + 8;
  expect(load<u32>(q + 16)).toBe(qdst, "quoted destination");
  expect(be16(q + IP_HLEN + 2)).toBe(qport, "quoted destination port");
}

// ---- tests ---------------------------------------------------------------------------------

describe("udp", () => {
  beforeAll(() => {
    udp_init(); // sizes MEMP.UDP_PCB; asip_init will call it once the lead wires it in
    asip_init(0, 1);
    nif1 = netif_up(mac1, IP1, MASK, PEER1, true);
    nif2 = netif_up(mac2, IP2, MASK, PEER2);
    peer_at(PEER1, peer_mac);
    peer_at(PEER2, peer_mac);
  });

  beforeEach(() => {
    reset_rx();
    test_begin();
  });

  afterEach(() => test_end());

  it("udp_new and udp_remove balance the pool (new_remove)", () => {
    const before = memp_used(MEMP.UDP_PCB);
    const pcb = udp_new();
    expect(pcb).not.toBeNull();
    expect(memp_used(MEMP.UDP_PCB)).toBe(before + 1);
    udp_remove(pcb!);
    expect(memp_used(MEMP.UDP_PCB)).toBe(before);
  });

  it("binds the same port on different addresses, refuses same address and ANY vs specific (bind)", () => {
    const a = udp_new()!, b = udp_new()!, c = udp_new()!, d = udp_new()!;
    expect(udp_bind(a, A(IP1), 2000)).toBe(ERR_OK);
    expect(udp_bind(b, A(IP2), 2000)).toBe(ERR_OK, "different specific address");
    expect(udp_bind(c, A(IP1), 2000)).toBe(ERR_USE, "same address");
    expect(udp_bind(c, null, 2000)).toBe(ERR_USE, "ANY vs specific");
    expect(udp_bind(c, null, 2001)).toBe(ERR_OK);
    expect(udp_bind(d, A(IP1), 2001)).toBe(ERR_USE, "specific vs ANY");
    // v4 ANY and v6 ANY do not clash; dual-stack ANY clashes with both.
    const v6 = udp_new_ip_type(IPADDR_TYPE_V6)!;
    expect(udp_bind(v6, null, 2001)).toBe(ERR_OK, "v6 any next to v4 any");
    const dual = udp_new_ip_type(IPADDR_TYPE_ANY)!;
    expect(udp_bind(dual, null, 2001)).toBe(ERR_USE, "dual-stack any");
    // Both with SO_REUSEADDR: allowed.
    a.so_options |= SOF_REUSEADDR;
    d.so_options |= SOF_REUSEADDR;
    expect(udp_bind(d, A(IP1), 2000)).toBe(ERR_OK, "reuseaddr on both");
    // Rebinding a pcb to its own port is fine.
    expect(udp_bind(c, null, 2001)).toBe(ERR_OK, "rebind");
    udp_remove(a); udp_remove(b); udp_remove(c); udp_remove(d); udp_remove(v6); udp_remove(dual);
  });

  it("allocates ephemeral ports in 49152-65535, skipping used ones and wrapping", () => {
    const a = udp_new()!, b = udp_new()!, c = udp_new()!;
    expect(udp_bind(a, null, 0)).toBe(ERR_OK);
    expect(<u32>a.local_port).toBeGreaterThanOrEqual(UDP_LOCAL_PORT_RANGE_START);
    expect(<u32>a.local_port).toBeLessThanOrEqual(UDP_LOCAL_PORT_RANGE_END);
    udp_remove(a);
    udp_set_port_cursor(50000);
    expect(udp_bind(b, null, 50001)).toBe(ERR_OK);
    const a2 = udp_new()!;
    expect(udp_bind(a2, null, 0)).toBe(ERR_OK);
    expect(a2.local_port).toBe(50002, "50001 is taken");
    udp_set_port_cursor(0xffff);
    expect(udp_bind(c, null, 0)).toBe(ERR_OK);
    expect(c.local_port).toBe(<u16>UDP_LOCAL_PORT_RANGE_START, "wraps to the start");
    // connect binds an ephemeral port when there is none
    const d = udp_new()!;
    expect(udp_connect(d, A(PEER1), 7)).toBe(ERR_OK);
    expect(<u32>d.local_port).toBeGreaterThanOrEqual(UDP_LOCAL_PORT_RANGE_START);
    udp_remove(b); udp_remove(a2); udp_remove(c); udp_remove(d);
  });

  it("delivers unicast and broadcasts to the pcb bound to the receiving netif's address (broadcast_rx_with_2_netifs)", () => {
    const any = new_pcb(0, 5000, true);
    const p1 = new_pcb(IP1, 5000, true);
    const p2 = new_pcb(IP2, 5000, true);
    // unicast, subnet broadcast and limited broadcast on netif 1 → p1
    const dsts: StaticArray<u32> = [IP1, BCAST1, GBCAST];
    for (let i = 0; i < 3; i++) {
      reset_rx();
      send(nif1, udp_frame(PEER1, dsts[i], 1234, 5000, 4));
      expect(rx_count).toBe(1, "delivered once");
      expect(rx_pcb).toBe(changetype<usize>(p1), "to netif 1's pcb");
    }
    // on netif 2 → p2
    const dsts2: StaticArray<u32> = [IP2, GBCAST];
    for (let i = 0; i < 2; i++) {
      reset_rx();
      send(nif2, udp_frame(PEER2, dsts2[i], 1234, 5000, 4));
      expect(rx_count).toBe(1);
      expect(rx_pcb).toBe(changetype<usize>(p2), "to netif 2's pcb");
    }
    // without p1, netif 1's broadcasts go to the ANY pcb, not to p2
    udp_remove(p1);
    reset_rx();
    send(nif1, udp_frame(PEER1, GBCAST, 1234, 5000, 4));
    expect(rx_pcb).toBe(changetype<usize>(any), "ANY pcb");
    udp_remove(any);
    udp_remove(p2);
    expect_nothing();
  });

  it("prefers a connected pcb and filters by the remote end", () => {
    const uncon = new_pcb(0, 5001);
    const con = udp_new()!;
    con.so_options |= SOF_REUSEADDR;
    uncon.so_options |= SOF_REUSEADDR;
    expect(udp_bind(con, null, 5001)).toBe(ERR_OK);
    udp_recv(con, on_recv, 0);
    expect(udp_connect(con, A(PEER1), 9999)).toBe(ERR_OK);
    send(nif1, udp_frame(PEER1, IP1, 9999, 5001, 3));
    expect(rx_pcb).toBe(changetype<usize>(con), "connected 4-tuple first");
    reset_rx();
    send(nif1, udp_frame(PEER1, IP1, 9998, 5001, 3));
    expect(rx_pcb).toBe(changetype<usize>(uncon), "other source port: unconnected pcb");
    udp_disconnect(con);
    expect(con.flags & 0x04).toBe(0, "disconnected");
    udp_remove(con);
    udp_remove(uncon);
  });

  it("echoes a datagram through a pcb with a valid checksum", () => {
    const pcb = new_pcb(IP1, 7);
    echo_mode = 1;
    send(nif1, udp_frame(PEER1, IP1, 40000, 7, 33));
    expect(rx_count).toBe(1);
    expect(rx_addr).toBe(PEER1);
    expect(rx_port).toBe(40000);
    expect(rx_arg).toBe(changetype<usize>(pcb), "callback arg");
    expect(rx_len).toBe(33);
    for (let i: u32 = 0; i < 33; i++) expect(load<u8>(rx_buf + i)).toBe(pat(i));
    expect(tx_pending()).toBe(1, "echo sent");
    tx_frame(0);
    const h = ip_of_frame(), u = udp_of_frame();
    expect(load<u8>(h + 9)).toBe(IP_PROTO_UDP);
    expect(load<u32>(h + 12)).toBe(IP1);
    expect(load<u32>(h + 16)).toBe(PEER1);
    expect(be16(u)).toBe(7, "source port");
    expect(be16(u + 2)).toBe(40000, "destination port");
    expect(be16(u + 4)).toBe(<u16>(UDP_HLEN + 33), "length");
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDP, u, UDP_HLEN + 33, UDP_HLEN + 33)).toBe(true, "checksum");
    for (let i: u32 = 0; i < 33; i++) expect(load<u8>(u + UDP_HLEN + i)).toBe(pat(i));
    expect(stats_get(Proto.UDP, Ctr.XMIT)).toBe(1);
    expect(stats_get(Proto.UDP, Ctr.RECV)).toBe(1);
    udp_remove(pcb);
  });

  it("accepts a zero checksum (RFC 768: none computed)", () => {
    const pcb = new_pcb(IP1, 5002);
    send(nif1, udp_frame(PEER1, IP1, 1, 5002, 10, IP_PROTO_UDP, CS_ZERO));
    expect(rx_count).toBe(1);
    expect(stats_get(Proto.UDP, Ctr.CHKERR)).toBe(0);
    udp_remove(pcb);
  });

  it("drops and counts a bad checksum, without an ICMP error", () => {
    const pcb = new_pcb(IP1, 5003);
    send(nif1, udp_frame(PEER1, IP1, 1, 5003, 10, IP_PROTO_UDP, CS_BAD));
    expect(rx_count).toBe(0);
    expect(stats_get(Proto.UDP, Ctr.CHKERR)).toBe(1);
    expect(stats_get(Proto.UDP, Ctr.DROP)).toBe(1);
    // also for a port nobody listens on: checked before the port
    send(nif1, udp_frame(PEER1, IP1, 1, 5999, 10, IP_PROTO_UDP, CS_BAD));
    expect_nothing();
    udp_remove(pcb);
  });

  it("drops UDP length < 8 or beyond the IP payload (lenerr); trims IP bytes past it", () => {
    const pcb = new_pcb(IP1, 5004);
    send(nif1, udp_frame(PEER1, IP1, 1, 5004, 10, IP_PROTO_UDP, CS_ZERO, 7));
    send(nif1, udp_frame(PEER1, IP1, 1, 5004, 10, IP_PROTO_UDP, CS_ZERO, 19));
    expect(rx_count).toBe(0);
    expect(stats_get(Proto.UDP, Ctr.LENERR)).toBe(2);
    // 4 bytes of IP payload past the UDP length are not part of the datagram
    send(nif1, udp_frame(PEER1, IP1, 1, 5004, 10, IP_PROTO_UDP, CS_OK, -1, 0, 4));
    expect(rx_count).toBe(1);
    expect(rx_len).toBe(10, "trimmed to the UDP length");
    expect_nothing();
    udp_remove(pcb);
  });

  it("delivers a zero-length payload", () => {
    const pcb = new_pcb(IP1, 5005);
    rx_len = 99;
    send(nif1, udp_frame(PEER1, IP1, 1, 5005, 0));
    expect(rx_count).toBe(1);
    expect(rx_len).toBe(0);
    udp_remove(pcb);
  });

  it("answers port unreachable to unicast only, never to broadcast or multicast", () => {
    send(nif1, udp_frame(PEER1, IP1, 4444, 6666, 12));
    expect(tx_pending()).toBe(1, "port unreachable");
    expect_unreach(0, 3, PEER1, IP1, 6666);
    expect(stats_get(Proto.UDP, Ctr.PROTERR)).toBe(1);
    tx_clear();
    send(nif1, udp_frame(PEER1, GBCAST, 4444, 6666, 12));
    send(nif1, udp_frame(PEER1, BCAST1, 4444, 6666, 12));
    send(nif1, udp_frame(PEER1, GROUP, 4444, 6666, 12));
    expect_nothing();
    expect(stats_get(Proto.UDP, Ctr.PROTERR)).toBe(4);
  });

  it("delivers multicast to a pcb bound to ANY (membership hook) or to the group", () => {
    const pcb = new_pcb(0, 5006);
    send(nif1, udp_frame(PEER1, GROUP, 1, 5006, 4));
    expect(rx_count).toBe(1);
    udp_remove(pcb);
    const g = new_pcb(GROUP, 5006);
    reset_rx();
    send(nif1, udp_frame(PEER1, GROUP, 1, 5006, 4));
    expect(rx_pcb).toBe(changetype<usize>(g));
    udp_remove(g);
  });

  it("passes an ICMP port unreachable quoting our datagram to the pcb's error path", () => {
    const pcb = new_pcb(IP1, 5007);
    udp_err(pcb, on_err);
    expect(udp_connect(pcb, A(PEER1), 53)).toBe(ERR_OK);
    const d = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 5, pbuf_type.PBUF_RAM)!;
    expect(udp_send(pcb, d)).toBe(ERR_OK);
    pbuf_free(d);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    tx_clear();
    // The peer answers: ICMP type 3 code 3 quoting IP header + 8 bytes.
    const qlen = IP_HLEN + 8;
    const iplen = IP_HLEN + 8 + qlen;
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_HLEN + iplen, pbuf_type.PBUF_RAM)!;
    const f = p.payload;
    memory.copy(f, mac1, 6);
    memory.copy(f + 6, peer_mac, 6);
    store<u16>(f + 12, bswap<u16>(0x0800));
    const h = f + ETH_HLEN;
    memory.fill(h, 0, IP_HLEN);
    store<u8>(h, 0x45);
    store<u16>(h + 2, bswap<u16>(<u16>iplen));
    store<u8>(h + 8, 64);
    store<u8>(h + 9, IP_PROTO_ICMP);
    store<u32>(h + 12, PEER1);
    store<u32>(h + 16, IP1);
    store<u16>(h + 10, bswap<u16>(inet_chksum(h, IP_HLEN)));
    const ic = h + IP_HLEN;
    store<u8>(ic, 3);
    store<u8>(ic + 1, 3);
    store<u16>(ic + 2, 0);
    store<u32>(ic + 4, 0);
    memory.copy(ic + 8, ip_of_frame(), qlen);
    store<u16>(ic + 2, bswap<u16>(inet_chksum(ic, 8 + qlen)));
    send(nif1, p);
    expect(err_count).toBe(1, "error callback");
    expect(err_type).toBe(3);
    expect(err_code).toBe(3);
    expect(err_addr).toBe(PEER1);
    expect(err_port).toBe(53);
    expect_nothing();
    udp_remove(pcb);
  });

  it("refuses to send to a broadcast address without SO_BROADCAST", () => {
    const pcb = new_pcb(0, 5008);
    const d = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 4, pbuf_type.PBUF_RAM)!;
    expect(udp_sendto(pcb, d, A(GBCAST), 9)).toBe(ERR_VAL, "limited broadcast");
    expect(udp_sendto(pcb, d, A(BCAST1), 9)).toBe(ERR_VAL, "subnet broadcast");
    expect_nothing();
    pcb.so_options |= SOF_BROADCAST;
    expect(udp_sendto(pcb, d, A(BCAST1), 9)).toBe(ERR_OK);
    expect(tx_pending()).toBe(1);
    tx_frame(0);
    expect(memory.compare(frame, bcast_mac, 6)).toBe(0, "Ethernet broadcast");
    expect(load<u32>(ip_of_frame() + 16)).toBe(BCAST1);
    pbuf_free(d);
    udp_remove(pcb);
  });

  it("sends a computed zero checksum as 0xffff (RFC 768)", () => {
    const pcb = new_pcb(IP1, 5009);
    // Choose 2 payload bytes that make the one's complement sum 0xffff.
    const d = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 2, pbuf_type.PBUF_RAM)!;
    const hdr = memory.data(8, 8);
    store<u16>(hdr, bswap<u16>(5009));
    store<u16>(hdr + 2, bswap<u16>(9));
    store<u16>(hdr + 4, bswap<u16>(10));
    store<u16>(hdr + 6, 0);
    const s = ref_sum(hdr, 8, pseudo_sum(IP1, PEER1, IP_PROTO_UDP, 10));
    store<u16>(d.payload, bswap<u16>(<u16>(0xffff - s)));
    expect(udp_sendto(pcb, d, A(PEER1), 9)).toBe(ERR_OK);
    tx_frame(0);
    expect(be16(udp_of_frame() + 6)).toBe(0xffff, "zero sent as all ones");
    pbuf_free(d);
    udp_remove(pcb);
  });

  it("sends from a pbuf without header room (header pbuf chained in front) and restores the caller's pbuf", () => {
    const pcb = new_pcb(IP1, 5010);
    const data = memory.data<u8>([1, 2, 3, 4, 5, 6, 7]);
    const d = pbuf_alloc_reference(data, 7, pbuf_type.PBUF_ROM)!;
    expect(udp_sendto(pcb, d, A(PEER1), 9)).toBe(ERR_OK);
    expect(d.payload).toBe(data, "payload untouched");
    expect(d.ref).toBe(1, "header pbuf's reference released");
    tx_frame(0);
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDP, udp_of_frame(), 15, 15)).toBe(true);
    expect(load<u8>(udp_of_frame() + 8)).toBe(1);
    pbuf_free(d);
    // payload with room: the pbuf is restored too
    const e = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 3, pbuf_type.PBUF_RAM)!;
    const pl = e.payload;
    expect(udp_sendto(pcb, e, A(PEER1), 9)).toBe(ERR_OK);
    expect(e.payload).toBe(pl);
    expect(e.tot_len).toBe(3);
    pbuf_free(e);
    expect(udp_send(pcb, e)).toBe(ERR_CONN, "udp_send needs a connected pcb");
    udp_remove(pcb);
  });

  it("sending one pbuf twice leaves the first queued frame intact", () => {
    const pcb = new_pcb(IP1, 5012);
    const d = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 40, pbuf_type.PBUF_RAM)!;
    for (let i: u32 = 0; i < 40; i++) store<u8>(d.payload + i, pat(i));
    expect(udp_sendto(pcb, d, A(PEER1), 1111)).toBe(ERR_OK);
    expect(udp_sendto(pcb, d, A(PEER1), 2222)).toBe(ERR_OK);
    expect(tx_pending()).toBe(2);
    tx_frame(0);
    expect(be16(udp_of_frame() + 2)).toBe(1111, "first frame keeps its port");
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDP, udp_of_frame(), 48, 48)).toBe(true);
    tx_frame(1);
    expect(be16(udp_of_frame() + 2)).toBe(2222);
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDP, udp_of_frame(), 48, 48)).toBe(true);
    pbuf_free(d);
    udp_remove(pcb);
  });

  it("UDP-Lite: partial coverage delivers with uncovered bytes corrupted, drops with covered ones", () => {
    const pcb = udp_new()!;
    pcb.flags |= UDP_FLAGS_UDPLITE;
    expect(udp_bind(pcb, A(IP1), 6000)).toBe(ERR_OK);
    udp_recv(pcb, on_recv, 0);
    // coverage 12: header + 4 payload bytes
    let p = udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 12);
    store<u8>(p.payload + ETH_HLEN + IP_HLEN + UDP_HLEN + 20, 0xee); // uncovered
    send(nif1, p);
    expect(rx_count).toBe(1, "uncovered corruption is delivered");
    expect(rx_len).toBe(40);
    p = udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 12);
    store<u8>(p.payload + ETH_HLEN + IP_HLEN + UDP_HLEN + 2, 0xee); // covered
    send(nif1, p);
    expect(rx_count).toBe(1, "covered corruption is dropped");
    expect(stats_get(Proto.UDP, Ctr.CHKERR)).toBe(1);
    // coverage 0 = whole datagram
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 0));
    expect(rx_count).toBe(2);
    // coverage 1..7 and beyond the datagram are illegal
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 7));
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 49));
    expect(stats_get(Proto.UDP, Ctr.LENERR)).toBe(2);
    // zero checksum is illegal in UDP-Lite
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_ZERO, -1, 0));
    expect(stats_get(Proto.UDP, Ctr.CHKERR)).toBe(2);
    // a minimum receive coverage (RFC 3828 §3.3)
    pcb.chksum_len_rx = 20;
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 12));
    expect(rx_count).toBe(2, "coverage below the minimum");
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 40, IP_PROTO_UDPLITE, CS_OK, -1, 0));
    expect(rx_count).toBe(3, "whole coverage satisfies any minimum");
    // a plain UDP datagram to the same port does not reach the UDP-Lite pcb
    send(nif1, udp_frame(PEER1, IP1, 1, 6000, 4));
    expect(rx_count).toBe(3);
    expect(tx_pending()).toBe(1, "port unreachable for UDP");
    tx_clear();
    // sending with coverage 12
    pcb.chksum_len_tx = 12;
    const d = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 30, pbuf_type.PBUF_RAM)!;
    for (let i: u32 = 0; i < 30; i++) store<u8>(d.payload + i, pat(i));
    expect(udp_sendto(pcb, d, A(PEER1), 6001)).toBe(ERR_OK);
    tx_frame(0);
    const u = udp_of_frame();
    expect(load<u8>(ip_of_frame() + 9)).toBe(IP_PROTO_UDPLITE);
    expect(be16(u + 4)).toBe(12, "coverage field");
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDPLITE, u, 38, 12)).toBe(true, "partial checksum");
    tx_clear();
    pcb.chksum_len_tx = 0;
    expect(udp_sendto(pcb, d, A(PEER1), 6001)).toBe(ERR_OK);
    tx_frame(0);
    expect(be16(udp_of_frame() + 4)).toBe(0, "coverage 0 = whole");
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDPLITE, udp_of_frame(), 38, 38)).toBe(true, "full checksum");
    pbuf_free(d);
    udp_remove(pcb);
  });

  it("host pcb: receive events, zero-copy and copying sends, error events", () => {
    const h = udp_host_new(4, 0);
    expect(h).toBeGreaterThan(0);
    expect(udp_host_bind(h, P(IP1), 0)).toBe(ERR_OK);
    const port = <u16>udp_host_local_port(h);
    expect(<u32>port).toBeGreaterThanOrEqual(UDP_LOCAL_PORT_RANGE_START);
    send(nif1, udp_frame(PEER1, IP1, 4321, port, 9));
    expect(ev_pending()).toBe(1, "one event");
    let r = ev_record(0);
    expect(load<u16>(r)).toBe(EV_UDP_RECV);
    expect(load<u32>(r, 4)).toBe(<u32>h, "handle");
    const p = changetype<pbuf>(load<usize>(r, 8));
    expect(p.tot_len).toBe(9, "payload without the UDP header");
    expect(load<u8>(p.payload + 3)).toBe(pat(3));
    expect(load<u32>(r, 12)).toBe(PEER1, "source");
    expect(load<u32>(r, 16)).toBe(4321, "source port");
    expect(load<u32>(r, 20)).toBe(IP1, "destination");
    expect(load<u32>(r, 24)).toBe(<u32>nif1.num, "netif");
    expect(load<u32>(r, 28)).toBe(0, "unicast");
    ev_clear();
    // zero-copy send: write straight into the tx buffer's payload
    const b = udp_tx_buffer(11);
    for (let i: u32 = 0; i < 11; i++) store<u8>(changetype<pbuf>(b).payload + i, pat(i));
    expect(udp_host_send_pbuf(h, b, P(PEER1), 777)).toBe(ERR_OK);
    tx_frame(0);
    expect(ref_verify(IP1, PEER1, IP_PROTO_UDP, udp_of_frame(), 19, 19)).toBe(true, "zero-copy checksum");
    tx_clear();
    // copying send with the checksum taken while copying, odd and even lengths
    const src = memory.data(64, 8);
    for (let len: u32 = 0; len < 40; len += 7) {
      for (let i: u32 = 0; i < len; i++) store<u8>(src + i, <u8>(i * 31 + len));
      expect(udp_sendto_host(h, src, len, P(PEER1), 778)).toBe(ERR_OK);
      tx_frame(0);
      expect(be16(udp_of_frame() + 4)).toBe(<u16>(8 + len));
      expect(ref_verify(IP1, PEER1, IP_PROTO_UDP, udp_of_frame(), 8 + len, 8 + len)).toBe(true, "checksum on copy");
      expect(memory.compare(udp_of_frame() + 8, src, len)).toBe(0, "payload");
      tx_clear();
    }
    // broadcast reception sets the flag bit
    expect(udp_host_close(h)).toBe(ERR_OK);
    expect(udp_host_close(h)).not.toBe(ERR_OK, "stale handle refused");
    const hb = udp_host_new(4, 0);
    expect(hb).not.toBe(h, "a new pcb in the same pool element gets another handle (generation)");
    expect(hb & 0xffff).toBe(h & 0xffff, "same slot");
    expect(udp_host_bind(hb, P(0), 5011)).toBe(ERR_OK);
    send(nif1, udp_frame(PEER1, GBCAST, 1, 5011, 2));
    expect(load<u32>(ev_record(0), 28)).toBe(UDP_RECV_BROADCAST);
    ev_clear();
    // an ICMP error for a connected host pcb becomes an event
    expect(udp_host_connect(hb, P(PEER1), 99)).toBe(ERR_OK);
    expect(udp_sendto_host(hb, src, 4, P(PEER1), 99)).toBe(ERR_OK);
    tx_frame(0);
    tx_clear();
    const quoted = ip_of_frame();
    // ask udp directly, as icmp.ts does
    udp_icmp_error_direct(quoted);
    expect(ev_pending()).toBe(1);
    r = ev_record(0);
    expect(load<u16>(r)).toBe(EV_UDP_ERR);
    expect(load<u32>(r, 12)).toBe(3, "type");
    expect(load<u32>(r, 16)).toBe(3, "code");
    expect(load<u32>(r, 20)).toBe(PEER1);
    expect(load<u32>(r, 24)).toBe(99);
    ev_clear();
    expect(udp_host_close(hb)).toBe(ERR_OK);
    // UDP-Lite host pcb coverage validation
    const hl = udp_host_new(4, 1);
    expect(udp_host_set_coverage(hl, 5, 0)).toBe(ERR_VAL);
    expect(udp_host_set_coverage(hl, 12, 20)).toBe(ERR_OK);
    expect(udp_host_close(hl)).toBe(ERR_OK);
  });
});

import { udp_icmp_error } from "../../assembly/udp";
/** What icmp.ts hands UDP for a quoted IPv4 datagram: its addresses as ip_addrs and its UDP header. */
/** An ip_addr pointer for the host-facing exports (what a host writes to abi_scratch). */
function P(a: u32): usize { return changetype<usize>(A(a, 3)); }

function udp_icmp_error_direct(quoted: usize): void {
  udp_icmp_error(A(load<u32>(quoted + 12), 4), A(load<u32>(quoted + 16), 5), IP_PROTO_UDP, quoted + IP_HLEN, 8, 3, 3);
}
