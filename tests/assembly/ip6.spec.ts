// IPv6 input and output (RFC 8200), ICMPv6 (RFC 4443), fragmentation and
// reassembly, and dual-stack demultiplexing, packet by packet through
// netif_input, checked on the TX ring and the event ring.
import { asip_init } from "../../assembly/index";
import { netif_ip6_add } from "../../assembly/abi/ip6";
import { netif, netif_add, netif_set_up, netif_set_link_up, netif_set_addr, netif_input } from "../../assembly/netif/netif";
import { nd6_cleanup_netif, nd6_pmtu_of } from "../../assembly/ipv6/nd6";
import { ip6_reass_pending, ip6_reass_held } from "../../assembly/ipv6/ip6_frag";
import { icmp6_rate_reset } from "../../assembly/ipv6/icmp6";
import { pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { stats_get, Proto, Ctr } from "../../assembly/core/stats";
import { MEMP, MEMP_MAX, memp_used } from "../../assembly/core/memp";
import { mem_used } from "../../assembly/core/mem";
import { ERR_OK } from "../../assembly/core/err";
import { leak_marked_pool } from "./harness/leak";
import { test_begin } from "./harness/netif";
import { tx_clear, ev_pending, ev_record, ev_type, ev_arg, ev_flags, ev_clear } from "./harness/rings";
import { A, OUR_MAC, PEER_MAC, OUR_IP, PEER_IP, MASK } from "./harness/addr";
import { ip_frame } from "./harness/frames";
import { ip_addr, IPADDR_TYPE_V6, IPADDR_TYPE_ANY, IPADDR_TYPE_V4, ip_addr_set_any } from "../../assembly/ip_addr";
import { udp_pcb, udp_new_ip_type, udp_bind, udp_remove, udp_sendto, EV_UDP_RECV } from "../../assembly/udp";
import { udp_host_new, udp_host_bind, udp_host_close } from "../../assembly/abi/udp";
import {
  addr6, OURS, PEER6, PEER_LL, ALLNODES, T, body_reset, b8, b16, b32, baddr, bzero, body, blen,
  frame6, icmp6_sum, send_icmp6, send_raw6, tx6, upper, find_icmp6, count_icmp6, eq16, advance_ms, tx_count, frame,
} from "./harness/ip6";

let n: netif = changetype<netif>(0);
let heap_mark: u32 = 0;
const MC_ALLNODES: usize = memory.data<u8>([0x33, 0x33, 0, 0, 0, 1, 0, 0]);

function setup(): void {
  if (changetype<usize>(n) == 0) {
    asip_init(0, 1);
    n = netif_add(OUR_MAC, 1500)!;
    netif_set_addr(n, OUR_IP, MASK, 0);
    netif_set_up(n);
    netif_set_link_up(n);
    netif_ip6_add(n.num, changetype<usize>(T(OURS)), 64, 1);
    etharp_add_static_entry(PEER_IP, PEER_MAC);
    advance_ms(1000);
  }
  nd6_cleanup_netif(n);
  peer_known();
  icmp6_rate_reset();
  tx_clear();
  ev_clear();
  test_begin();
  heap_mark = mem_used();
}

function teardown(): void {
  tx_clear();
  ev_clear();
  expect(mem_used()).toBe(heap_mark, "heap bytes in use");
  for (let i = 0; i < MEMP_MAX; i++) if (i != MEMP.SYS_TIMEOUT) expect(memp_used(i)).toBe(leak_marked_pool(i), "pool " + i.toString());
}

/** The peer's MAC is known (an unsolicited NA with override after we asked: REACHABLE). */
function peer_known(): void {
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 0, pbuf_type.PBUF_RAM)!;
  // Resolution starts on first use; answer it.
  import_output(p);
  pbuf_free(p);
  body_reset(); b8(136); b8(0); b16(0); b8(0x60); b8(0); b16(0); baddr(PEER6);
  b8(2); b8(1); for (let i = 0; i < 6; i++) b8(load<u8>(PEER_MAC + i));
  send_icmp6(n, PEER6, OURS, 255);
  tx_clear();
}
import { ip6_output_if_src } from "../../assembly/ipv6/ip6";
import { etharp_add_static_entry } from "../../assembly/netif/etharp";
function import_output(p: pbuf): void { ip6_output_if_src(p, OURS, PEER6, 64, 0, 59, n); }

/** An echo request body (ICMPv6 type 128) of `len` data bytes at `off` in the body buffer. */
function echo_body(len: u32): void {
  b8(128); b8(0); b16(0); b16(0x1234); b16(1);
  for (let i: u32 = 0; i < len; i++) b8(<u8>i);
}

/** Sends a UDP datagram to our port `port` as an ICMPv6-less raw packet (checksum filled). */
function udp6_body(sport: u16, dport: u16, data_len: u32, src: usize, dst: usize): void {
  body_reset();
  b16(sport); b16(dport); b16(<u16>(8 + data_len)); b16(0);
  for (let i: u32 = 0; i < data_len; i++) b8(<u8>(i + 1));
  // The UDP checksum over the IPv6 pseudo header (shares icmp6_sum's math; proto 17).
  store<u16>(body() + 6, 0);
  const s = udp_sum(body(), blen, src, dst);
  store<u16>(body() + 6, bswap<u16>(s == 0 ? 0xffff : s));
}
import { ref_sum, ref_pseudo_sum } from "./harness/checksum";
function udp_sum(m: usize, len: u32, src: usize, dst: usize): u16 {
  return <u16>~ref_sum(m, len, ref_pseudo_sum(T(src, 2), T(dst, 3), 17, len));
}

/** The ICMPv6 error of `type` on the TX ring: its code and pointer/data word, or -1 when none. */
function error_of(type: u8): i64 {
  const i = find_icmp6(type);
  if (i < 0) return -1;
  const m = upper(tx6(<u32>i));
  return (<i64>load<u8>(m + 1) << 32) | <i64>bswap<u32>(load<u32>(m + 4));
}
function pp(code: u8, pointer: u32): i64 { return (<i64>code << 32) | <i64>pointer; }

describe("ICMPv6 echo and input validation", () => {
  test("an echo request is answered with the same identifier, sequence and data", () => {
    setup();
    body_reset(); echo_body(100);
    send_icmp6(n, PEER6, OURS, 64);
    const i = find_icmp6(129);
    expect(i).toBeGreaterThanOrEqual(0);
    const h = tx6(<u32>i);
    expect(eq16(h + 8, OURS)).toBe(true);
    expect(eq16(h + 24, PEER6)).toBe(true);
    const m = upper(h);
    expect(bswap<u16>(load<u16>(m + 4))).toBe(0x1234);
    expect(load<u8>(m + 8 + 99)).toBe(99);
    teardown();
  });

  test("an echo request to all-nodes is answered from our address; one with a bad checksum is dropped", () => {
    setup();
    body_reset(); echo_body(8);
    send_icmp6(n, PEER6, ALLNODES, 64, MC_ALLNODES);
    expect(find_icmp6(129)).toBeGreaterThanOrEqual(0);
    tx_clear();
    body_reset(); echo_body(8);
    icmp6_sum(body(), blen, PEER6, OURS);
    store<u8>(body() + 10, 0x55);
    send_raw6(n, PEER6, OURS, 58);
    expect(find_icmp6(129)).toBe(-1);
    expect(stats_get(Proto.ICMP6, Ctr.CHKERR)).toBe(1);
    teardown();
  });

  test("a payload length past the frame, a truncated header, version 4 in an IPv6 frame: dropped and counted", () => {
    setup();
    body_reset(); echo_body(8);
    icmp6_sum(body(), blen, PEER6, OURS);
    netif_input(frame6(PEER6, OURS, 58, 64, body(), blen, OUR_MAC, PEER_MAC, 10), n);
    expect(stats_get(Proto.IP6, Ctr.LENERR)).toBe(1);
    const p = frame6(PEER6, OURS, 58, 64, body(), blen);
    store<u8>(p.payload + 14, 0x45);
    netif_input(p, n);
    expect(stats_get(Proto.IP6, Ctr.ERR)).toBe(1);
    expect(tx_count()).toBe(0);
    teardown();
  });
});

describe("extension headers (RFC 8200 §4)", () => {
  test("an unknown next header gets a parameter problem code 1 pointing at the fixed header's next header field", () => {
    setup();
    body_reset(); bzero(16);
    send_raw6(n, PEER6, OURS, 253);
    expect(error_of(4)).toBe(pp(1, 6));
    teardown();
  });

  test("after a destination options header, the pointer is that header's next header field (offset 40)", () => {
    setup();
    body_reset(); b8(253); b8(0); b8(1); b8(4); bzero(4); bzero(8);
    send_raw6(n, PEER6, OURS, 60);
    expect(error_of(4)).toBe(pp(1, 40));
    teardown();
  });

  test("a chain hop-by-hop → destination options → ICMPv6 is walked and delivered", () => {
    setup();
    body_reset();
    b8(60); b8(0); b8(5); b8(2); b16(0); b8(1); b8(0);    // hop-by-hop: router alert, PadN
    b8(58); b8(0); b8(1); b8(4); bzero(4);                // destination options: PadN
    echo_body(8);
    icmp6_sum(body() + 16, blen - 16, PEER6, OURS);
    send_raw6(n, PEER6, OURS, 0);
    expect(find_icmp6(129)).toBeGreaterThanOrEqual(0, "echo reply");
    teardown();
  });

  test("unknown options by their action bits: 00 skipped, 01 dropped silently, 10 parameter problem code 2 at the option, 11 not for multicast", () => {
    setup();
    // 00: skipped, the echo is answered.
    body_reset(); b8(58); b8(0); b8(0x1e); b8(4); bzero(4); echo_body(8);
    icmp6_sum(body() + 8, blen - 8, PEER6, OURS);
    send_raw6(n, PEER6, OURS, 60);
    expect(find_icmp6(129)).toBeGreaterThanOrEqual(0);
    tx_clear();
    // 01: discarded, nothing sent.
    store<u8>(body() + 2, 0x5e);
    send_raw6(n, PEER6, OURS, 60);
    expect(tx_count()).toBe(0);
    // 10: parameter problem, code 2, pointer at the option type (40 + 2).
    store<u8>(body() + 2, 0x9e);
    send_raw6(n, PEER6, OURS, 60);
    expect(error_of(4)).toBe(pp(2, 42));
    tx_clear();
    // 11 to a multicast destination: no error.
    store<u8>(body() + 2, 0xde);
    send_raw6(n, PEER6, ALLNODES, 60, 64, MC_ALLNODES);
    expect(tx_count()).toBe(0);
    // 10 to a multicast destination: an error (RFC 4443 §2.4 e.3).
    store<u8>(body() + 2, 0x9e);
    send_raw6(n, PEER6, ALLNODES, 60, 64, MC_ALLNODES);
    expect(error_of(4)).toBe(pp(2, 42));
    teardown();
  });

  test("no error about an ICMPv6 error (RFC 4443 §2.4 e.1), and errors are rate limited (token bucket, burst 100)", () => {
    setup();
    // Destination options with an action-10 option, carrying an ICMPv6 destination unreachable.
    body_reset(); b8(58); b8(0); b8(0x9e); b8(4); bzero(4);
    b8(1); b8(4); b16(0); b32(0); bzero(48);
    send_raw6(n, PEER6, OURS, 60);
    expect(tx_count()).toBe(0, "silent");
    // 150 packets with an unknown next header at once: 100 answers.
    body_reset(); bzero(8);
    for (let i = 0; i < 150; i++) { send_raw6(n, PEER6, OURS, 253); if (tx_count() > 900) tx_clear(); }
    expect(count_icmp6(4)).toBe(100);
    expect(stats_get(Proto.ICMP6, Ctr.DROP)).toBe(50, "the rest counted");
    teardown();
  });

  test("a routing header type 0 with segments left is refused (code 0, pointer at the type); with none left it is skipped", () => {
    setup();
    body_reset(); b8(58); b8(2); b8(0); b8(1); bzero(4); baddr(PEER6); echo_body(8);
    icmp6_sum(body() + 24, blen - 24, PEER6, OURS);
    send_raw6(n, PEER6, OURS, 43);
    expect(error_of(4)).toBe(pp(0, 42));
    tx_clear();
    store<u8>(body() + 3, 0);
    send_raw6(n, PEER6, OURS, 43);
    expect(find_icmp6(129)).toBeGreaterThanOrEqual(0);
    teardown();
  });

  test("a hop-by-hop header after another header is a parameter problem (code 1)", () => {
    setup();
    body_reset(); b8(0); b8(0); b8(1); b8(4); bzero(4); b8(58); b8(0); b8(1); b8(4); bzero(4);
    send_raw6(n, PEER6, OURS, 60);
    expect(error_of(4)).toBe(pp(1, 40));
    teardown();
  });

  test("an extension header running past the packet is dropped and counted, no reply", () => {
    setup();
    body_reset(); b8(60); b8(200); bzero(6);
    send_raw6(n, PEER6, OURS, 60);
    expect(tx_count()).toBe(0);
    expect(stats_get(Proto.IP6, Ctr.LENERR)).toBe(1);
    teardown();
  });
});

// ---- fragments ------------------------------------------------------------------------------

const FRAG_DATA: u32 = 3000;
/** Sends bytes [off, off+len) of an echo request of FRAG_DATA data bytes as a fragment with id `id`. */
function send_frag(off: u32, len: u32, more: bool, id: u32): void {
  // The whole ICMPv6 message, checksummed once, then sliced.
  body_reset(); echo_body(FRAG_DATA);
  icmp6_sum(body(), blen, PEER6, OURS);
  const msg = heap.alloc(blen);
  memory.copy(msg, body(), blen);
  body_reset();
  b8(58); b8(0); b16(<u16>(off | (more ? 1 : 0))); b32(id);
  memory.copy(body() + 8, msg + off, len);
  heap.free(msg);
  netif_input(frame6(PEER6, OURS, 44, 64, body(), 8 + len), n);
}

/** Fragments on the TX ring; -1 unless the first one starts an echo reply. */
function reply_frags(): i32 {
  let frags = 0;
  let first_ok = false;
  for (let i: u32 = 0; i < tx_count(); i++) {
    const h = tx6(i);
    if (h == 0 || load<u8>(h + 6) != 44) continue;
    frags++;
    if ((bswap<u16>(load<u16>(h + 42)) & 0xfff8) == 0 && load<u8>(h + 40) == 58 && load<u8>(h + 48) == 129) first_ok = true;
  }
  return first_ok ? frags : -1;
}

describe("reassembly (RFC 8200 §4.5, RFC 5722, RFC 7112)", () => {
  test("fragments in order and in reverse reassemble to one echo request, answered in fragments", () => {
    setup();
    const total = 8 + FRAG_DATA;
    send_frag(0, 1232, true, 1);
    send_frag(1232, 1232, true, 1);
    expect(ip6_reass_pending()).toBe(1);
    send_frag(2464, total - 2464, false, 1);
    expect(ip6_reass_pending()).toBe(0);
    expect(reply_frags()).toBe(3, "the reply, fragmented to the MTU");
    tx_clear();
    send_frag(2464, total - 2464, false, 2);
    send_frag(1232, 1232, true, 2);
    send_frag(0, 1232, true, 2);
    expect(reply_frags()).toBe(3);
    expect(ip6_reass_held()).toBe(0);
    teardown();
  });

  test("overlapping fragments drop the whole datagram (RFC 5722); an exact duplicate is only dropped itself", () => {
    setup();
    send_frag(0, 1232, true, 3);
    send_frag(0, 1232, true, 3); // exact duplicate
    expect(ip6_reass_pending()).toBe(1);
    send_frag(1224, 1232, true, 3); // overlaps the first by 8 bytes
    expect(ip6_reass_pending()).toBe(0);
    expect(ip6_reass_held()).toBe(0);
    send_frag(2464, 8 + FRAG_DATA - 2464, false, 3);
    expect(reply_frags()).toBe(-1, "never delivered");
    advance_ms(61000);
    teardown();
  });

  test("a last fragment that ends before data already held drops the datagram", () => {
    setup();
    send_frag(1232, 1232, true, 9);
    send_frag(8, 992, false, 9);
    expect(ip6_reass_pending()).toBe(0);
    expect(ip6_reass_held()).toBe(0);
    teardown();
  });

  test("a first fragment without the upper-layer header gets parameter problem code 3 (RFC 7112)", () => {
    setup();
    body_reset();
    b8(60); b8(0); b16(1); b32(4);           // fragment header: offset 0, M
    b8(58); b8(0); b8(1); b8(4); bzero(4);   // destination options, then nothing
    netif_input(frame6(PEER6, OURS, 44, 64, body(), blen), n);
    expect(error_of(4)).toBe(pp(3, 0));
    expect(ip6_reass_pending()).toBe(0);
    teardown();
  });

  test("a fragment past 65535 bytes gets parameter problem code 0 at its offset field; a non-last one not a multiple of 8 at the payload length", () => {
    setup();
    body_reset(); b8(58); b8(0); b16(<u16>(65528 | 1)); b32(5); bzero(16);
    netif_input(frame6(PEER6, OURS, 44, 64, body(), blen), n);
    expect(error_of(4)).toBe(pp(0, 42));
    tx_clear();
    body_reset(); b8(58); b8(0); b16(8 | 1); b32(6); bzero(13);
    netif_input(frame6(PEER6, OURS, 44, 64, body(), blen), n);
    expect(error_of(4)).toBe(pp(0, 4));
    expect(ip6_reass_pending()).toBe(0);
    teardown();
  });

  test("after 60 s an incomplete datagram is dropped with time exceeded code 1 when its first fragment came; silently otherwise", () => {
    setup();
    send_frag(0, 1232, true, 7);
    send_frag(1232, 1232, true, 8); // datagram 8 never gets its first fragment
    advance_ms(59000);
    expect(ip6_reass_pending()).toBe(2);
    advance_ms(2000);
    expect(ip6_reass_pending()).toBe(0);
    expect(count_icmp6(3)).toBe(1, "one time exceeded");
    expect(error_of(3)).toBe(pp(1, 0));
    teardown();
  });
});

// ---- PMTU, errors to transports, dual stack -------------------------------------------

function ptb_body(mtu: u32, quoted_dst: usize): void {
  body_reset(); b8(2); b8(0); b16(0); b32(mtu);
  // The quoted packet: our IPv6 header to quoted_dst, then UDP.
  b32(0x60000000); b16(8); b8(17); b8(64); baddr(OURS); baddr(quoted_dst); b16(1000); b16(2000); b16(8); b16(0);
}

describe("packet too big, errors, dual-stack demux", () => {
  test("a packet too big lowers the path MTU of its destination, never below 1280 (RFC 8201)", () => {
    setup();
    const far = addr6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x44);
    ptb_body(1400, far);
    send_icmp6(n, PEER6, OURS, 64);
    expect(nd6_pmtu_of(far)).toBe(1400);
    ptb_body(600, far);
    send_icmp6(n, PEER6, OURS, 64);
    expect(nd6_pmtu_of(far)).toBe(1280);
    nd6_cleanup_netif(n);
    teardown();
  });

  test("UDP to a closed port gets destination unreachable code 4 quoting the datagram", () => {
    setup();
    udp6_body(5000, 4444, 10, PEER6, OURS);
    send_raw6(n, PEER6, OURS, 17);
    const i = find_icmp6(1);
    expect(i).toBeGreaterThanOrEqual(0);
    const m = upper(tx6(<u32>i));
    expect(load<u8>(m + 1)).toBe(4);
    expect(eq16(m + 8 + 8, PEER6)).toBe(true, "quotes the offending header");
    teardown();
  });

  test("a V6 pcb takes IPv6 only, a V4 pcb IPv4 only, an ANY pcb both", () => {
    setup();
    const h6 = udp_host_new(6, 0);
    const h4 = udp_host_new(4, 0);
    const ha = udp_host_new(46, 0);
    const any6 = changetype<ip_addr>(heap.alloc(20)); ip_addr_set_any(any6, IPADDR_TYPE_V6);
    const any4 = changetype<ip_addr>(heap.alloc(20)); ip_addr_set_any(any4, IPADDR_TYPE_V4);
    const anyx = changetype<ip_addr>(heap.alloc(20)); ip_addr_set_any(anyx, IPADDR_TYPE_ANY);
    expect(udp_host_bind(h6, changetype<usize>(any6), 6000)).toBe(ERR_OK);
    expect(udp_host_bind(h4, changetype<usize>(any4), 6001)).toBe(ERR_OK);
    expect(udp_host_bind(ha, changetype<usize>(anyx), 6002)).toBe(ERR_OK);
    const got = (port: u16, v6: bool): bool => {
      ev_clear();
      tx_clear();
      if (v6) {
        udp6_body(7, port, 4, PEER6, OURS);
        send_raw6(n, PEER6, OURS, 17);
      } else {
        const u = heap.alloc(12);
        store<u16>(u, bswap<u16>(7)); store<u16>(u + 2, bswap<u16>(port)); store<u16>(u + 4, bswap<u16>(12)); store<u16>(u + 6, 0);
        store<u32>(u + 8, 0x01020304);
        netif_input(ip_frame(A(PEER_IP, 4), A(OUR_IP, 5), 17, u, 12), n);
        heap.free(u);
      }
      for (let i: u32 = 0; i < ev_pending(); i++) if (ev_type(ev_record(i)) == EV_UDP_RECV) return true;
      return false;
    };
    expect(got(6000, true)).toBe(true, "V6 pcb, IPv6");
    expect(got(6000, false)).toBe(false, "V6 pcb, IPv4");
    expect(got(6001, false)).toBe(true, "V4 pcb, IPv4");
    expect(got(6001, true)).toBe(false, "V4 pcb, IPv6");
    expect(got(6002, true)).toBe(true, "ANY pcb, IPv6");
    expect(got(6002, false)).toBe(true, "ANY pcb, IPv4");
    ev_clear();
    udp_host_close(h6); udp_host_close(h4); udp_host_close(ha);
    heap.free(changetype<usize>(any6)); heap.free(changetype<usize>(any4)); heap.free(changetype<usize>(anyx));
    teardown();
  });

  test("a zero UDP checksum over IPv6 is dropped (RFC 8200 §8.1)", () => {
    setup();
    const h6 = udp_host_new(6, 0);
    const any6 = changetype<ip_addr>(heap.alloc(20)); ip_addr_set_any(any6, IPADDR_TYPE_V6);
    udp_host_bind(h6, changetype<usize>(any6), 6100);
    udp6_body(7, 6100, 4, PEER6, OURS);
    store<u16>(body() + 6, 0);
    send_raw6(n, PEER6, OURS, 17);
    let seen = false;
    for (let i: u32 = 0; i < ev_pending(); i++) if (ev_type(ev_record(i)) == EV_UDP_RECV) seen = true;
    expect(seen).toBe(false);
    udp_host_close(h6);
    heap.free(changetype<usize>(any6));
    teardown();
  });
});
