// ip.ts, the dual-stack seam: the pseudo-header checksum of both families
// (RFC 768, RFC 8200 §8.1) against fixed vectors and the by-the-book sum,
// family rules of pcbs (what binds next to what, who talks to whom), the
// IPv6 address slots of a netif, IPv6 addresses in events, ISNs and MSS by
// family, and what an IPv6 packet meets before ipv6/ lands (no route).
// The specs build with ASIP_IPV6=1.
import { asip_init } from "../../assembly/index";
import { pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { ERR_OK, ERR_USE, ERR_VAL, ERR_RTE } from "../../assembly/core/err";
import { chksum_add, lwip_standard_chksum } from "../../assembly/core/chksum";
import { EV_FLAG_IP6, ev_push_flags, ev_addr, ev_addr_flags } from "../../assembly/core/rings";
import { ip_addr, ip_addr_eq, IPADDR_TYPE_V4, IPADDR_TYPE_V6, IPADDR_TYPE_ANY, IP4 } from "../../assembly/ip_addr";
import {
  netif, netif_add_ip6_address, netif_ip6_addr, netif_ip6_addr_state, netif_ip6_addr_set, netif_ip6_addr_set_state,
  netif_ip6_addr_match, netif_ip6_select_src, netif_loop, EV_NETIF_IP6,
  IP6_ADDR_TENTATIVE, IP6_ADDR_PREFERRED, IP6_ADDR_DEPRECATED, IP6_ADDR_INVALID,
} from "../../assembly/netif/netif";
import {
  ip_chksum_pseudo, ip_chksum_pseudo_sum, ip_output_if, ip_route, ip_hdr_len, ip_max_payload,
  ip_icmp_is_refusal, ip_icmp_is_pmtu, ip_min_mtu, ip_pcb_local, ip_netif_get_local_ip, IP_PCB_SIZE,
} from "../../assembly/ip";
import { IP_PROTO_UDP, IP_PROTO_TCP } from "../../assembly/ipv4/ip4_hdr";
import { udp_new_ip_type, udp_bind, udp_sendto, udp_remove, udp_connect } from "../../assembly/udp";
import {
  tcp_new_ip_type, tcp_bind, tcp_connect, tcp_mss_for, tcp_close, TCP_PCB_LISTEN_SIZE,
} from "../../assembly/tcp/tcp";
import { tcp_isn, tcp_isn4, tcp_isn6 } from "../../assembly/tcp/tcp_isn";
import { A, A6, OUR_IP, PEER_IP, MASK, OUR_MAC } from "./harness/addr";
import { ref_transport_chksum } from "./harness/checksum";
import { netif_up, test_begin, test_end } from "./harness/netif";
import { ev_pending, ev_record, ev_type, ev_flags, ev_arg, ev_clear } from "./harness/rings";

/** A UDP datagram 1234 → 53 carrying "hello", in a pbuf (checksum field zero). */
function hello_udp(): pbuf {
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 13, pbuf_type.PBUF_RAM)!;
  const u = p.payload;
  store<u16>(u, bswap<u16>(1234));
  store<u16>(u, bswap<u16>(53), 2);
  store<u16>(u, bswap<u16>(13), 4);
  store<u16>(u, 0, 6);
  store<u8>(u, 0x68, 8); store<u8>(u, 0x65, 9); store<u8>(u, 0x6c, 10); store<u8>(u, 0x6c, 11); store<u8>(u, 0x6f, 12);
  return p;
}

let nif: netif = changetype<netif>(0);

describe("ip: the dual-stack seam", () => {
  beforeAll(() => {
    asip_init(0, 1);
    nif = netif_up(OUR_MAC, OUR_IP, MASK, PEER_IP, true);
  });
  beforeEach(() => test_begin());
  afterEach(() => test_end());

  it("computes the pseudo-header checksum of either family (fixed vectors)", () => {
    // Vectors computed independently (RFC 768 / RFC 8200 §8.1 by hand).
    const p = hello_udp();
    const s6 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1, 0), d6 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2, 1);
    expect(ip_chksum_pseudo(p, IP_PROTO_UDP, 13, s6, d6)).toBe(0x5b86, "UDP over IPv6");
    const s4 = A(IP4(192, 0, 2, 1), 2), d4 = A(IP4(192, 0, 2, 2), 3);
    expect(ip_chksum_pseudo(p, IP_PROTO_UDP, 13, s4, d4)).toBe(0x32f7, "UDP over IPv4");
    pbuf_free(p);
  });

  it("agrees with the by-the-book pseudo header for random segments of both families", () => {
    let x: u32 = 0x1234567;
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 301, pbuf_type.PBUF_RAM)!;
    for (let round = 0; round < 20; round++) {
      const len: u32 = 1 + (x % 300);
      for (let i: u32 = 0; i < len; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; store<u8>(p.payload + i, <u8>x); }
      p.len = p.tot_len = len;
      const s = A6(<u16>x, 0xdb8, 1, 2, 3, 4, 5, <u16>(x >> 16), 0);
      const d = A6(0xfe80, 0, 0, 0, <u16>(x >> 8), 0, 0, 9, 1);
      expect(ip_chksum_pseudo(p, IP_PROTO_TCP, len, s, d)).toBe(ref_transport_chksum(s, d, IP_PROTO_TCP, p.payload, len), "IPv6");
      // The pseudo header's partial sum plus the data's is the same checksum (checksum on copy).
      const sum = chksum_add(ip_chksum_pseudo_sum(IP_PROTO_TCP, len, s, d), <u32>lwip_standard_chksum(p.payload, len));
      expect(<u16>(~sum & 0xffff)).toBe(ref_transport_chksum(s, d, IP_PROTO_TCP, p.payload, len), "IPv6, summed in parts");
      const s4 = A(x, 2), d4 = A(~x, 3);
      expect(ip_chksum_pseudo(p, IP_PROTO_TCP, len, s4, d4)).toBe(ref_transport_chksum(s4, d4, IP_PROTO_TCP, p.payload, len), "IPv4");
    }
    p.len = p.tot_len = 301;
    pbuf_free(p);
  });

  it("sizes headers, payloads and MSS by family (RFC 8200 §3, RFC 9293 §3.7.1)", () => {
    const v4 = A(PEER_IP), v6 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1, 1);
    expect(ip_hdr_len(v4)).toBe(20);
    expect(ip_hdr_len(v6)).toBe(40);
    expect(ip_max_payload(v4)).toBe(65515);
    expect(ip_max_payload(v6)).toBe(65535);
    expect(tcp_mss_for(nif, v4)).toBe(1460);
    expect(tcp_mss_for(nif, v6)).toBe(1440);
    expect(IP_PCB_SIZE).toBe(44);
    expect(TCP_PCB_LISTEN_SIZE).toBe(76, "a listener is the prefix and TCP's common fields");
  });

  it("hashes ISNs over the 4-tuple of either family (RFC 6528)", () => {
    const l4 = A(OUR_IP, 0), r4 = A(PEER_IP, 1);
    expect(tcp_isn(l4, 80, r4, 5000, 7)).toBe(tcp_isn4(OUR_IP, 80, PEER_IP, 5000, 7));
    const l6 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2, 2), r6 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1, 3);
    expect(tcp_isn(l6, 80, r6, 5000, 7)).toBe(tcp_isn6(changetype<usize>(l6), 80, changetype<usize>(r6), 5000, 7));
    expect(tcp_isn(l6, 80, r6, 5000, 7)).not.toBe(tcp_isn(l6, 80, r6, 5001, 7));
  });

  it("reads ICMP and ICMPv6 errors the same way for the transports (RFC 1122 §4.2.3.9, RFC 4443, RFC 8201)", () => {
    expect(ip_icmp_is_refusal(false, 3, 3)).toBe(true, "port unreachable");
    expect(ip_icmp_is_refusal(false, 3, 2)).toBe(true, "protocol unreachable");
    expect(ip_icmp_is_refusal(false, 3, 1)).toBe(false, "host unreachable is soft");
    expect(ip_icmp_is_refusal(true, 1, 4)).toBe(true, "ICMPv6 port unreachable");
    expect(ip_icmp_is_refusal(true, 4, 1)).toBe(true, "ICMPv6 unrecognized next header");
    expect(ip_icmp_is_refusal(true, 1, 3)).toBe(false, "address unreachable is soft");
    expect(ip_icmp_is_pmtu(false, 3, 4)).toBe(true, "fragmentation needed");
    expect(ip_icmp_is_pmtu(true, 2, 0)).toBe(true, "packet too big");
    expect(ip_icmp_is_pmtu(true, 3, 4)).toBe(false);
    expect(ip_min_mtu(false)).toBe(68);
    expect(ip_min_mtu(true)).toBe(1280);
  });

  it("keeps the families apart in bind, connect and send", () => {
    const v4 = udp_new_ip_type(IPADDR_TYPE_V4)!, v6 = udp_new_ip_type(IPADDR_TYPE_V6)!, dual = udp_new_ip_type(IPADDR_TYPE_ANY)!;
    expect(udp_bind(v4, null, 7000)).toBe(ERR_OK);
    expect(udp_bind(v6, null, 7000)).toBe(ERR_OK, "IPv4 any and IPv6 any do not clash");
    expect(udp_bind(dual, null, 7000)).toBe(ERR_USE, "a dual-stack pcb clashes with both");
    expect(udp_bind(dual, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 7001)).toBe(ERR_OK, "dual-stack bound to an IPv6 address");
    expect(ip_pcb_local(dual).type).toBe(IPADDR_TYPE_V6, "and is IPv6 from now on");
    expect(udp_bind(v4, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 7002)).toBe(ERR_VAL, "an IPv4 pcb takes no IPv6 address");
    const d = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 4, pbuf_type.PBUF_RAM)!;
    expect(udp_sendto(v4, d, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9)).toBe(ERR_VAL, "IPv4 pcb, IPv6 destination");
    expect(udp_sendto(v6, d, A(PEER_IP), 9)).toBe(ERR_VAL, "IPv6 pcb, IPv4 destination");
    // No IPv6 routes until ipv6/ lands: an IPv6 send finds none.
    expect(udp_sendto(v6, d, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9)).toBe(ERR_RTE);
    expect(udp_connect(v6, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9)).toBe(ERR_OK, "connect only records the peer");
    pbuf_free(d);
    udp_remove(v4); udp_remove(v6); udp_remove(dual);
    expect(ip_route(null, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))).toBeNull();
    const p = hello_udp();
    expect(ip_output_if(p, null, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 64, 0, IP_PROTO_UDP, nif)).toBe(ERR_RTE);
    pbuf_free(p);

    const t4 = tcp_new_ip_type(IPADDR_TYPE_V4)!, t6 = tcp_new_ip_type(IPADDR_TYPE_V6)!;
    expect(tcp_bind(t4, null, 8000)).toBe(ERR_OK);
    expect(tcp_bind(t6, null, 8000)).toBe(ERR_OK, "TCP: IPv4 any and IPv6 any do not clash either");
    expect(tcp_connect(t4, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 80, null)).toBe(ERR_VAL, "IPv4 pcb, IPv6 peer");
    expect(tcp_connect(t6, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 80, null)).toBe(ERR_RTE, "no IPv6 route yet");
    const anyaddr = A(0, 4);
    anyaddr.type = IPADDR_TYPE_ANY;
    expect(tcp_connect(t4, anyaddr, 80, null)).toBe(ERR_VAL, "an unspecified peer");
    expect(tcp_close(t4)).toBe(ERR_OK);
    expect(tcp_close(t6)).toBe(ERR_OK);
  });

  it("holds IPv6 addresses in netif slots with states, and reports them as events with ip_addr pointers", () => {
    const ll = A6(0xfe80, 0, 0, 0, 0x0200, 0, 0, 2, 0);
    const i = netif_add_ip6_address(nif, ll);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(netif_ip6_addr_state(nif, i)).toBe(IP6_ADDR_TENTATIVE, "DAD decides first (RFC 4862 §5.4)");
    expect(netif_ip6_addr(nif, i).zone).toBe(nif.num, "a link-local address is scoped to its netif");
    expect(netif_ip6_addr_match(nif, ll)).toBe(-1, "a tentative address is not ours yet");
    expect(netif_add_ip6_address(nif, ll)).toBe(i, "added once");
    netif_ip6_addr_set_state(nif, i, IP6_ADDR_PREFERRED);
    expect(netif_ip6_addr_match(nif, ll)).toBe(i);
    // One event per state change; the address travels as an ip_addr pointer.
    expect(ev_pending()).toBe(2);
    const r = ev_record(1);
    expect(ev_type(r)).toBe(EV_NETIF_IP6);
    expect(ev_flags(r) & EV_FLAG_IP6).toBe(EV_FLAG_IP6);
    expect(ev_arg(r, 0)).toBe(<u32>i, "slot");
    expect(ev_arg(r, 1)).toBe(IP6_ADDR_PREFERRED, "state");
    expect(ip_addr_eq(changetype<ip_addr>(ev_arg(r, 2)), netif_ip6_addr(nif, i))).toBe(true, "the address");
    ev_clear();
    // Source selection: same scope, preferred first.
    const g = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2, 1);
    const j = netif_add_ip6_address(nif, g);
    netif_ip6_addr_set_state(nif, j, IP6_ADDR_DEPRECATED);
    expect(ip_addr_eq(netif_ip6_select_src(nif, A6(0xfe80, 0, 0, 0, 0, 0, 0, 1, 2))!, netif_ip6_addr(nif, i))).toBe(true, "link-local for link-local");
    expect(ip_addr_eq(netif_ip6_select_src(nif, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1, 2))!, g)).toBe(true, "deprecated if nothing better");
    expect(ip_addr_eq(ip_netif_get_local_ip(nif, A(PEER_IP, 2))!, A(OUR_IP, 3))).toBe(true, "IPv4: the netif's address");
    // A pcb bound to an address that changes follows it.
    const u = udp_new_ip_type(IPADDR_TYPE_V6)!;
    expect(udp_bind(u, g, 7100)).toBe(ERR_OK);
    const g2 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3, 4);
    netif_ip6_addr_set(nif, j, g2);
    expect(ip_addr_eq(ip_pcb_local(u), g2)).toBe(true, "bound pcb followed the address");
    udp_remove(u);
    netif_ip6_addr_set_state(nif, i, IP6_ADDR_INVALID);
    netif_ip6_addr_set_state(nif, j, IP6_ADDR_INVALID);
    expect(netif_ip6_addr_match(nif, ll)).toBe(-1);
    ev_clear();
    // The loopback netif has ::1.
    expect(netif_ip6_addr_match(netif_loop, A6(0, 0, 0, 0, 0, 0, 0, 1))).toBe(0);
  });

  it("puts IPv6 addresses of an event in the record's address area, and IPv4 ones inline", () => {
    const v6 = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7, 0, 0), v4 = A(PEER_IP, 1);
    expect(ev_push_flags(99, ev_addr_flags(v4), 1, null, ev_addr(v4, 0), 0, 0, 0, 0)).toBe(true);
    const v6b = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 8, 2, 0);
    expect(ev_push_flags(99, ev_addr_flags(v6), 1, null, ev_addr(v6, 0), 0, ev_addr(v6b, 1), 0, 0)).toBe(true);
    expect(ev_flags(ev_record(0))).toBe(0);
    expect(ev_arg(ev_record(0), 0)).toBe(PEER_IP, "IPv4 inline");
    const r = ev_record(1);
    expect(ev_flags(r)).toBe(EV_FLAG_IP6);
    expect(ip_addr_eq(changetype<ip_addr>(ev_arg(r, 0)), v6)).toBe(true, "IPv6 by pointer");
    expect(ip_addr_eq(changetype<ip_addr>(ev_arg(r, 2)), v6b)).toBe(true, "the second address in the second slot");
    expect(ev_arg(r, 2) - ev_arg(r, 0)).toBe(20);
    ev_clear();
  });
});
