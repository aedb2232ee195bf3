// Every wire header the core reads and writes, as smoltcp tests its wire
// module: fixed bytes parse into the right fields, fields written through
// the setters give exactly those bytes, and a truncated header is refused
// (by the header's own check, or by the input function that uses it, with
// its counters).
import { asip_init } from "../../assembly/index";
import { pbuf, pbuf_alloc, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { inet_chksum } from "../../assembly/core/chksum";
import { Proto, Ctr, stats_get } from "../../assembly/core/stats";
import { IP4 } from "../../assembly/ip_addr";
import { netif, netif_input } from "../../assembly/netif/netif";
import {
  eth_hdr_dest, eth_hdr_src, eth_hdr_type, eth_hdr_len, eth_hdr_write, vlan_hdr_tci, vlan_hdr_type,
  ETHTYPE_IP, ETHTYPE_ARP, ETHTYPE_VLAN,
} from "../../assembly/netif/ethernet";
import {
  etharp_hdr_hwtype, etharp_hdr_proto, etharp_hdr_hwlen, etharp_hdr_protolen, etharp_hdr_opcode,
  etharp_hdr_shwaddr, etharp_hdr_sipaddr, etharp_hdr_dhwaddr, etharp_hdr_dipaddr, etharp_hdr_write,
  ETHARP_HDR_LEN, ETHARP_OP_REQUEST,
} from "../../assembly/netif/etharp";
import {
  IP_HLEN, IP_DF, IP_PROTO_UDP, Ip4HdrCheck, ip4_hdr_check,
  ip4_hdr_version, ip4_hdr_hlen, ip4_hdr_tos, ip4_hdr_len, ip4_hdr_id, ip4_hdr_offset, ip4_hdr_ttl, ip4_hdr_proto,
  ip4_hdr_chksum, ip4_hdr_src, ip4_hdr_dest,
  ip4_hdr_set_vhl, ip4_hdr_set_tos, ip4_hdr_set_len, ip4_hdr_set_id, ip4_hdr_set_offset, ip4_hdr_set_ttl,
  ip4_hdr_set_proto, ip4_hdr_set_chksum, ip4_hdr_set_src, ip4_hdr_set_dest,
} from "../../assembly/ipv4/ip4_hdr";
import {
  icmp_input, icmp_hdr_type, icmp_hdr_code, icmp_hdr_chksum, icmp_hdr_id, icmp_hdr_seqno, icmp_hdr_nexthop_mtu,
  icmp_hdr_set_type, icmp_hdr_set_code, icmp_hdr_set_chksum, icmp_hdr_set_rest, ICMP_ECHO, ICMP_HLEN,
} from "../../assembly/ipv4/icmp";
import {
  udp_input, udp_hdr_src, udp_hdr_dest, udp_hdr_len, udp_hdr_chksum,
  udp_hdr_set_src, udp_hdr_set_dest, udp_hdr_set_len, udp_hdr_set_chksum, UDP_HLEN,
} from "../../assembly/udp";
import {
  TCP_HLEN, TCP_SYN, TCP_ACK, tcp_hdr_check, tcp_opts, tcp_parseopt,
  tcp_hdr_src, tcp_hdr_dest, tcp_hdr_seqno, tcp_hdr_ackno, tcp_hdr_hlen, tcp_hdr_flags, tcp_hdr_wnd, tcp_hdr_chksum,
  tcp_hdr_urgp, tcp_hdr_set_src, tcp_hdr_set_dest, tcp_hdr_set_seqno, tcp_hdr_set_ackno, tcp_hdr_set_hlen,
  tcp_hdr_set_flags, tcp_hdr_set_wnd, tcp_hdr_set_chksum, tcp_hdr_set_urgp,
  tcpopt_put_mss, tcpopt_put_ws, tcpopt_put_sack_perm, tcpopt_put_ts, tcpopt_put_sack_hdr, tcpopt_put_sack_block,
  TCPOPT_F_MSS, TCPOPT_F_WS, TCPOPT_F_SACK_PERM, TCPOPT_F_TS, TCPOPT_F_SACK,
} from "../../assembly/tcp/tcp_hdr";
import { OUR_IP, PEER_IP, MASK, OUR_MAC, PEER_MAC } from "./harness/addr";
import { netif_up, test_begin, test_end } from "./harness/netif";

const out = memory.data(128, 8);

/** Are the `n` bytes at `a` the `n` bytes at `b`? */
function same(a: usize, b: usize, n: u32): bool { return memory.compare(a, b, n) == 0; }

/** A pbuf of `len` bytes copied from `src`, as a layer below would hand it up. */
function pbuf_of(src: usize, len: u32): pbuf {
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, len, pbuf_type.PBUF_RAM)!;
  memory.copy(p.payload, src, len);
  return p;
}

let nif: netif = changetype<netif>(0);

describe("wire headers", () => {
  beforeAll(() => {
    asip_init(0, 1);
    nif = netif_up(OUR_MAC, OUR_IP, MASK, PEER_IP, true);
  });
  beforeEach(() => test_begin());
  afterEach(() => test_end());

  // ---- Ethernet II and 802.1Q ----------------------------------------------------------------

  const ETH: usize = memory.data<u8>([
    0x02, 0, 0, 0, 0, 0x02, // destination
    0x02, 0, 0, 0, 0, 0x01, // source
    0x08, 0x00,             // IPv4
  ]);
  const ETH_VLAN: usize = memory.data<u8>([
    0x02, 0, 0, 0, 0, 0x02,
    0x02, 0, 0, 0, 0, 0x01,
    0x81, 0x00,             // 802.1Q TPID
    0x00, 0x05,             // PCP 0, DEI 0, VID 5
    0x08, 0x06,             // ARP
  ]);

  it("Ethernet: parses, writes, refuses a runt", () => {
    expect(same(eth_hdr_dest(ETH), OUR_MAC, 6)).toBe(true, "destination");
    expect(same(eth_hdr_src(ETH), PEER_MAC, 6)).toBe(true, "source");
    expect(eth_hdr_type(ETH)).toBe(ETHTYPE_IP);
    expect(eth_hdr_len(ETH, 14)).toBe(14);
    expect(eth_hdr_len(ETH, 13)).toBe(0, "13 bytes: truncated");
    eth_hdr_write(out, OUR_MAC, PEER_MAC, ETHTYPE_IP, 0);
    expect(same(out, ETH, 14)).toBe(true, "written bytes");
  });

  it("802.1Q: parses the tag, writes it, refuses a truncated tag", () => {
    expect(eth_hdr_type(ETH_VLAN)).toBe(ETHTYPE_VLAN);
    expect(vlan_hdr_tci(ETH_VLAN) & 0x0fff).toBe(5, "VID");
    expect(vlan_hdr_type(ETH_VLAN)).toBe(ETHTYPE_ARP, "inner EtherType");
    expect(eth_hdr_len(ETH_VLAN, 18)).toBe(18);
    expect(eth_hdr_len(ETH_VLAN, 17)).toBe(0, "tag cut short");
    eth_hdr_write(out, OUR_MAC, PEER_MAC, ETHTYPE_ARP, 5);
    expect(same(out, ETH_VLAN, 18)).toBe(true, "written bytes");
    // Through ethernet_input: dropped and counted as a length error.
    netif_input(pbuf_of(ETH_VLAN, 16), nif);
    expect(stats_get(Proto.LINK, Ctr.LENERR)).toBe(1);
  });

  // ---- ARP (RFC 826) -------------------------------------------------------------------------

  const ARP: usize = memory.data<u8>([
    0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // Ethernet, IPv4, hln 6, pln 4, request
    0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 1,      // sender
    0, 0, 0, 0, 0, 0, 192, 0, 2, 2,            // target
  ]);
  const ZERO_MAC: usize = memory.data<u8>([0, 0, 0, 0, 0, 0]);

  it("ARP: parses, writes, drops a truncated packet", () => {
    expect(etharp_hdr_hwtype(ARP)).toBe(1);
    expect(etharp_hdr_proto(ARP)).toBe(ETHTYPE_IP);
    expect(etharp_hdr_hwlen(ARP)).toBe(6);
    expect(etharp_hdr_protolen(ARP)).toBe(4);
    expect(etharp_hdr_opcode(ARP)).toBe(ETHARP_OP_REQUEST);
    expect(same(etharp_hdr_shwaddr(ARP), PEER_MAC, 6)).toBe(true, "sender MAC");
    expect(etharp_hdr_sipaddr(ARP)).toBe(IP4(192, 0, 2, 1));
    expect(same(etharp_hdr_dhwaddr(ARP), ZERO_MAC, 6)).toBe(true, "target MAC");
    expect(etharp_hdr_dipaddr(ARP)).toBe(IP4(192, 0, 2, 2));
    etharp_hdr_write(out, ETHARP_OP_REQUEST, PEER_MAC, IP4(192, 0, 2, 1), ZERO_MAC, IP4(192, 0, 2, 2));
    expect(same(out, ARP, ETHARP_HDR_LEN)).toBe(true, "written bytes");
    // 27 bytes of ARP after an Ethernet header: a length error.
    const f = memory.data(64, 8);
    eth_hdr_write(f, OUR_MAC, PEER_MAC, ETHTYPE_ARP, 0);
    memory.copy(f + 14, ARP, 27);
    netif_input(pbuf_of(f, 14 + 27), nif);
    expect(stats_get(Proto.ETHARP, Ctr.LENERR)).toBe(1);
    expect(stats_get(Proto.ETHARP, Ctr.RECV)).toBe(0, "not taken");
  });

  // ---- IPv4 (RFC 791 §3.1) -------------------------------------------------------------------

  // A UDP datagram's header: 115 bytes, DF, TTL 64, 192.168.0.1 → 192.168.0.199.
  const IP4H: usize = memory.data<u8>([
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
    192, 168, 0, 1, 192, 168, 0, 199,
  ]);

  it("IPv4: parses, writes (checksum included), checks", () => {
    expect(ip4_hdr_version(IP4H)).toBe(4);
    expect(ip4_hdr_hlen(IP4H)).toBe(IP_HLEN);
    expect(ip4_hdr_tos(IP4H)).toBe(0);
    expect(ip4_hdr_len(IP4H)).toBe(115);
    expect(ip4_hdr_id(IP4H)).toBe(0);
    expect(ip4_hdr_offset(IP4H)).toBe(IP_DF);
    expect(ip4_hdr_ttl(IP4H)).toBe(64);
    expect(ip4_hdr_proto(IP4H)).toBe(IP_PROTO_UDP);
    expect(ip4_hdr_chksum(IP4H)).toBe(0xb861);
    expect(ip4_hdr_src(IP4H)).toBe(IP4(192, 168, 0, 1));
    expect(ip4_hdr_dest(IP4H)).toBe(IP4(192, 168, 0, 199));
    expect(inet_chksum(IP4H, IP_HLEN)).toBe(0, "a valid header sums to zero");

    ip4_hdr_set_vhl(out, IP_HLEN);
    ip4_hdr_set_tos(out, 0);
    ip4_hdr_set_len(out, 115);
    ip4_hdr_set_id(out, 0);
    ip4_hdr_set_offset(out, IP_DF);
    ip4_hdr_set_ttl(out, 64);
    ip4_hdr_set_proto(out, IP_PROTO_UDP);
    ip4_hdr_set_chksum(out, 0);
    ip4_hdr_set_src(out, IP4(192, 168, 0, 1));
    ip4_hdr_set_dest(out, IP4(192, 168, 0, 199));
    ip4_hdr_set_chksum(out, inet_chksum(out, IP_HLEN));
    expect(same(out, IP4H, IP_HLEN)).toBe(true, "written bytes");

    expect(ip4_hdr_check(IP4H, 20, 115)).toBe(Ip4HdrCheck.OK);
    expect(ip4_hdr_check(IP4H, 19, 115)).toBe(Ip4HdrCheck.TRUNCATED, "19 bytes");
    expect(ip4_hdr_check(IP4H, 20, 114)).toBe(Ip4HdrCheck.LENGTH, "total length past the packet");
    memory.copy(out, IP4H, IP_HLEN);
    store<u8>(out, 0x65);
    expect(ip4_hdr_check(out, 20, 115)).toBe(Ip4HdrCheck.VERSION, "version 6");
    store<u8>(out, 0x44);
    expect(ip4_hdr_check(out, 20, 115)).toBe(Ip4HdrCheck.LENGTH, "IHL 4");
    store<u8>(out, 0x46);
    expect(ip4_hdr_check(out, 20, 115)).toBe(Ip4HdrCheck.LENGTH, "IHL 6 past the bytes there");
    expect(ip4_hdr_check(out, 24, 115)).toBe(Ip4HdrCheck.OK, "IHL 6 with its options there");
    store<u16>(out, bswap<u16>(19), 2);
    store<u8>(out, 0x45);
    expect(ip4_hdr_check(out, 20, 115)).toBe(Ip4HdrCheck.LENGTH, "total length below the header");
  });

  // ---- ICMP (RFC 792) ------------------------------------------------------------------------

  // Echo request, identifier 1, sequence 1, no data.
  const ECHO: usize = memory.data<u8>([0x08, 0x00, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x01]);

  it("ICMP: parses, writes, drops a truncated message", () => {
    expect(icmp_hdr_type(ECHO)).toBe(ICMP_ECHO);
    expect(icmp_hdr_code(ECHO)).toBe(0);
    expect(icmp_hdr_chksum(ECHO)).toBe(0xf7fd);
    expect(icmp_hdr_id(ECHO)).toBe(1);
    expect(icmp_hdr_seqno(ECHO)).toBe(1);
    expect(inet_chksum(ECHO, ICMP_HLEN)).toBe(0);
    icmp_hdr_set_type(out, ICMP_ECHO);
    icmp_hdr_set_code(out, 0);
    icmp_hdr_set_chksum(out, 0);
    icmp_hdr_set_rest(out, 0x00010001);
    icmp_hdr_set_chksum(out, inet_chksum(out, ICMP_HLEN));
    expect(same(out, ECHO, ICMP_HLEN)).toBe(true, "written bytes");
    // Fragmentation needed carries the next-hop MTU in the low half (RFC 1191 §4).
    icmp_hdr_set_rest(out, 1400);
    expect(icmp_hdr_nexthop_mtu(out)).toBe(1400);
    icmp_input(pbuf_of(ECHO, 3), nif);
    expect(stats_get(Proto.ICMP, Ctr.LENERR)).toBe(1, "3 bytes");
  });

  // ---- UDP (RFC 768) -------------------------------------------------------------------------

  const UDPH: usize = memory.data<u8>([0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34]);

  it("UDP: parses, writes, drops a truncated header", () => {
    expect(udp_hdr_src(UDPH)).toBe(1234);
    expect(udp_hdr_dest(UDPH)).toBe(53);
    expect(udp_hdr_len(UDPH)).toBe(12);
    expect(udp_hdr_chksum(UDPH)).toBe(0x1234);
    udp_hdr_set_src(out, 1234);
    udp_hdr_set_dest(out, 53);
    udp_hdr_set_len(out, 12);
    udp_hdr_set_chksum(out, 0x1234);
    expect(same(out, UDPH, UDP_HLEN)).toBe(true, "written bytes");
    udp_input(pbuf_of(UDPH, 7), nif);
    expect(stats_get(Proto.UDP, Ctr.LENERR)).toBe(1, "7 bytes");
  });

  // ---- TCP (RFC 9293 §3.1) and its options ---------------------------------------------------

  // SYN 1234 → 80, seq 0x01020304, window 65535, data offset 8 with MSS 1460,
  // window scale 7 and SACK-permitted, as asip writes them (NOP-aligned).
  const SYN: usize = memory.data<u8>([
    0x04, 0xd2, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x02, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x04, 0x05, 0xb4, // MSS 1460
    0x01, 0x03, 0x03, 0x07, // NOP, window scale 7
    0x01, 0x01, 0x04, 0x02, // NOP NOP, SACK-permitted
  ]);
  const o = changetype<tcp_opts>(memory.data(32, 8));

  it("TCP: parses the header and SYN options, writes the same bytes", () => {
    expect(tcp_hdr_src(SYN)).toBe(1234);
    expect(tcp_hdr_dest(SYN)).toBe(80);
    expect(tcp_hdr_seqno(SYN)).toBe(0x01020304);
    expect(tcp_hdr_ackno(SYN)).toBe(0);
    expect(tcp_hdr_hlen(SYN)).toBe(32);
    expect(tcp_hdr_flags(SYN)).toBe(TCP_SYN);
    expect(tcp_hdr_wnd(SYN)).toBe(65535);
    expect(tcp_hdr_chksum(SYN)).toBe(0);
    expect(tcp_hdr_urgp(SYN)).toBe(0);
    expect(tcp_parseopt(SYN, 32, o)).toBe(true);
    expect(o.present).toBe(TCPOPT_F_MSS | TCPOPT_F_WS | TCPOPT_F_SACK_PERM);
    expect(o.mss).toBe(1460);
    expect(o.ws).toBe(7);

    memory.fill(out, 0xee, 64);
    tcp_hdr_set_src(out, 1234);
    tcp_hdr_set_dest(out, 80);
    tcp_hdr_set_seqno(out, 0x01020304);
    tcp_hdr_set_ackno(out, 0);
    tcp_hdr_set_hlen(out, 32);
    tcp_hdr_set_flags(out, TCP_SYN);
    tcp_hdr_set_wnd(out, 65535);
    tcp_hdr_set_chksum(out, 0);
    tcp_hdr_set_urgp(out, 0);
    let n = TCP_HLEN;
    n += tcpopt_put_mss(out + n, 1460);
    n += tcpopt_put_ws(out + n, 7);
    n += tcpopt_put_sack_perm(out + n);
    expect(n).toBe(32);
    expect(same(out, SYN, 32)).toBe(true, "written bytes");
  });

  it("TCP: timestamps and SACK blocks round-trip", () => {
    memory.fill(out, 0, 64);
    tcp_hdr_set_hlen(out, 20 + 12 + 4 + 16);
    tcp_hdr_set_flags(out, TCP_ACK);
    let n = TCP_HLEN;
    n += tcpopt_put_ts(out + n, 0xa1b2c3d4, 0x01020304);
    n += tcpopt_put_sack_hdr(out + n, 2);
    n += tcpopt_put_sack_block(out + n, 1000, 2000);
    n += tcpopt_put_sack_block(out + n, 3000, 4000);
    expect(n).toBe(52);
    expect(tcp_parseopt(out, n, o)).toBe(true);
    expect(o.present).toBe(TCPOPT_F_TS | TCPOPT_F_SACK);
    expect(o.tsval).toBe(0xa1b2c3d4);
    expect(o.tsecr).toBe(0x01020304);
    expect(o.sack_n).toBe(2);
    expect(bswap<u32>(load<u32>(o.sack_ptr))).toBe(1000);
    expect(bswap<u32>(load<u32>(o.sack_ptr, 12))).toBe(4000);
  });

  it("TCP: refuses truncated headers and malformed option lists", () => {
    expect(tcp_hdr_check(SYN, 32, 32)).toBe(32);
    expect(tcp_hdr_check(SYN, 19, 19)).toBe(0, "19 bytes");
    expect(tcp_hdr_check(SYN, 31, 31)).toBe(0, "options cut short");
    expect(tcp_hdr_check(SYN, 31, 40)).toBe(0, "options past the first pbuf");
    memory.copy(out, SYN, 32);
    store<u8>(out, 0x40, 12);
    expect(tcp_hdr_check(out, 32, 32)).toBe(0, "data offset 4");
    store<u8>(out, 0xf0, 12);
    expect(tcp_hdr_check(out, 32, 32)).toBe(0, "data offset 15 beyond the segment");
    // An option running past the header, a length below 2, a kind without its length.
    memory.copy(out, SYN, 32);
    store<u8>(out, 13, 21);
    expect(tcp_parseopt(out, 32, o)).toBe(false, "MSS claiming 13 bytes, past the header");
    store<u8>(out, 1, 21);
    expect(tcp_parseopt(out, 32, o)).toBe(false, "length 1");
    memory.copy(out, SYN, 32);
    store<u8>(out, 0x01, 28); store<u8>(out, 0x01, 29); store<u8>(out, 0x01, 30); store<u8>(out, 0x02, 31);
    expect(tcp_parseopt(out, 32, o)).toBe(false, "a kind in the last byte");
    // Unknown kinds are skipped by their length.
    memory.copy(out, SYN, 32);
    store<u8>(out, 0xfd, 28); store<u8>(out, 4, 29);
    expect(tcp_parseopt(out, 32, o)).toBe(true, "experimental kind 253");
    expect(o.present).toBe(TCPOPT_F_MSS | TCPOPT_F_WS);
  });
});
