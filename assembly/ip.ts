// ip: where the transports meet IP (lwIP ip.h / ip.c).
//
// TCP, UDP, raw pcbs and ICMP reach IP only through this file, always with
// tagged ip_addrs (ip_addr.ts): routing (ip_route, ip_pcb_route), output
// (ip_output_if), the pseudo-header checksum (ip_chksum_pseudo*), the packet
// being delivered (ip_current_*), source address choice, and what an ICMP
// error means to a transport. The address's type picks the family; this file
// dispatches to ipv4/ip4.ts or ipv6/ip6.ts. Transports never call
// an ip4_ or ip6_ function, never read an IP header, and never build a
// pseudo header by hand.
//
// Every pcb (tcp_pcb, udp_pcb, raw_pcb) begins with the same prefix, ip_pcb
// (lwIP's IP_PCB), so that routing, source selection, demultiplexing and the
// reaction to an address change are written once here:
//
//   struct ip_pcb (IP_PCB_SIZE = 44 bytes):
//   +0  local_ip  ip_addr (20)     +20 remote_ip ip_addr (20)
//   +40 netif_idx u8 (bound netif, 0 = any)   +41 so_options u8 (SOF_*)
//   +42 tos u8 (IPv4 TOS / IPv6 traffic class) +43 ttl u8 (TTL / hop limit, 0 = default)
//
// The local address's type is the pcb's family: V4 or V6 talks to that
// family only, ANY (lwIP's IPADDR_TYPE_ANY) to both.

import { pbuf, pbuf_free, pbuf_add_header_force, pbuf_remove_header } from "./core/pbuf";
import { err_t, ERR_OK, ERR_VAL, ERR_RTE } from "./core/err";
import { STATS_INC, Proto, Ctr } from "./core/stats";
import {
  inet_chksum_pseudo, inet_chksum_pseudo_partial, ip6_chksum_pseudo, ip6_chksum_pseudo_partial,
  inet_pseudo_sum, ip6_pseudo_sum,
} from "./core/chksum";
import { LWIP_IPV4, LWIP_IPV6 } from "./config";
import {
  ip_addr, ip_addr_isany, ip_addr_eq, ip_addr_ismulticast, ip_addr_set_ip4, ip_addr_copy, ip_2_ip6,
  IP_IS_V6, IPADDR_TYPE_V6, IPADDR_TYPE_ANY, IP_ADDR_SIZE,
} from "./ip_addr";
import { netif, netif_get_by_index, netif_ip4_addr, netif_ip6_addr_match, netif_ip6_select_src } from "./netif/netif";
import { ip4_input, ip4_route_src, ip4_output_if, ip4_output_if_hdrincl, ip4_addr_isbroadcast } from "./ipv4/ip4";
import { ip6_input, ip6_route, ip6_output_if, ip6_output_if_hdrincl } from "./ipv6/ip6";
import { icmp6_dest_unreach } from "./ipv6/icmp6";
import { nd6_hop_limit, nd6_reachability_hint } from "./ipv6/nd6";
import { ip_addr_set_ip6, ip6_addr_islinklocal, ip6_addr_ismulticast } from "./ip_addr";
import { IP_HLEN } from "./ipv4/ip4_hdr";
import { icmp_dest_unreach, ICMP_DUR, ICMP_DUR_PROTO, ICMP_DUR_PORT, ICMP_DUR_FRAG } from "./ipv4/icmp";
import { tcp_netif_ip_addr_changed } from "./tcp/tcp";
import { udp_netif_ip_addr_changed } from "./udp";
import { raw_netif_ip_addr_changed } from "./raw";

// IANA protocol numbers: IPv4's protocol field and IPv6's next header share
// them (RFC 8200 §4), so transports take them from here, not from ipv4/.
export { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_UDPLITE } from "./ipv4/ip4_hdr";

// ---- socket options of every pcb (lwIP ip.h SOF_*) ------------------------------------

/** Allow binding an address/port in use by another pcb that also sets it. */
export const SOF_REUSEADDR: u8 = 0x04;
/** TCP keepalive (RFC 1122 §4.2.3.6). */
export const SOF_KEEPALIVE: u8 = 0x08;
/** Allow sending to broadcast addresses (lwIP IP_SOF_BROADCAST). */
export const SOF_BROADCAST: u8 = 0x20;

/** TTL / hop limit of packets we originate (Linux's default; lwIP uses 255). */
export const IP_DEFAULT_TTL: u8 = 64;
/**
 * A pcb's `ttl` when nobody set it (Linux's hop limit -1): IPv4 sends
 * IP_DEFAULT_TTL, IPv6 the link's Cur Hop Limit from its last RA (RFC 4861
 * §6.3.4; 64 until one says otherwise). A TTL of 0 is never sent.
 */
export const IP_TTL_DEFAULT: u8 = 0;

/** The fixed IPv6 header (RFC 8200 §3). */
export const IP6_HLEN: u32 = 40;

/** The IP header in front of a transport segment to `a`: what MSS and length limits leave room for. */
// @ts-ignore: decorator
@inline export function ip_hdr_len(a: ip_addr): u32 { return IP_IS_V6(a) ? IP6_HLEN : IP_HLEN; }

/**
 * The most transport bytes one IP packet to `a` carries: IPv4's total length
 * is 16 bits and includes its header; IPv6's payload length is 16 bits and
 * does not (RFC 8200 §3; jumbograms, RFC 2675, are not supported).
 */
// @ts-ignore: decorator
@inline export function ip_max_payload(a: ip_addr): u32 { return IP_IS_V6(a) ? 0xffff : 0xffff - IP_HLEN; }

// ---- the packet being delivered (lwIP ip_data) ----------------------------------------

const cur_src: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const cur_dest: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
let cur_hdr_len: u32 = 0;
let cur_proto: u8 = 0;
let cur_netif: netif | null = null;
let cur_input_netif: netif | null = null;

/** Source address of the packet being delivered (valid during input callbacks). */
// @ts-ignore: decorator
@inline export function ip_current_src_addr(): ip_addr { return changetype<ip_addr>(cur_src); }
/** Destination address of the packet being delivered: ours, or a broadcast or multicast address. */
// @ts-ignore: decorator
@inline export function ip_current_dest_addr(): ip_addr { return changetype<ip_addr>(cur_dest); }
/** Bytes of IP header (with IPv6 extension headers) before the transport header. */
export function ip_current_header_tot_len(): u32 { return cur_hdr_len; }
/** The transport protocol (IPv4 protocol / IPv6 next header). */
export function ip_current_header_proto(): u8 { return cur_proto; }
/** Is the packet being delivered IPv6? */
export function ip_current_is_v6(): bool { return IP_IS_V6(changetype<ip_addr>(cur_src)); }
/** The netif whose address the packet matched. */
export function ip_current_netif(): netif | null { return cur_netif; }
/** The netif the packet arrived on. */
export function ip_current_input_netif(): netif | null { return cur_input_netif; }

/** IPv4 input: what the upper layers of one packet see (ip4_input calls it before raw and the transports). */
export function ip_data_set4(src: u32, dest: u32, hdr_len: u32, proto: u8, n: netif, inp: netif): void {
  ip_addr_set_ip4(changetype<ip_addr>(cur_src), src);
  ip_addr_set_ip4(changetype<ip_addr>(cur_dest), dest);
  cur_hdr_len = hdr_len;
  cur_proto = proto;
  cur_netif = n;
  cur_input_netif = inp;
}

/**
 * IPv6 input: what the upper layers of one packet see (ip6_input calls it
 * before raw and the transports). Scoped (link-local, link-scope multicast)
 * addresses carry the arrival netif as their zone (RFC 4007 §6).
 */
export function ip_data_set6(src: usize, dest: usize, hdr_len: u32, proto: u8, n: netif, inp: netif): void {
  ip_addr_set_ip6(changetype<ip_addr>(cur_src), src, ip6_scoped(src) ? inp.num : 0);
  ip_addr_set_ip6(changetype<ip_addr>(cur_dest), dest, ip6_scoped(dest) ? inp.num : 0);
  cur_hdr_len = hdr_len;
  cur_proto = proto;
  cur_netif = n;
  cur_input_netif = inp;
}

function ip6_scoped(a: usize): bool {
  return ip6_addr_islinklocal(a) || (ip6_addr_ismulticast(a) && (load<u8>(a, 1) & 0x0f) <= 2);
}

/** The packet has been delivered. */
export function ip_data_clear(): void {
  cur_hdr_len = 0;
  cur_proto = 0;
  cur_netif = null;
  cur_input_netif = null;
}

// ---- input, routing and output ------------------------------------------------------------

/**
 * A packet from a link that carries bare IP (the loopback queue, IP links),
 * by its version (lwIP ip_input). Takes ownership of `p`.
 */
export function ip_input(p: pbuf, inp: netif): err_t {
  if (LWIP_IPV6 && p.len >= 1 && (load<u8>(p.payload) >> 4) == 6) return ip6_input(p, inp);
  if (LWIP_IPV4) return ip4_input(p, inp); // counts and drops what is not IPv4 either
  STATS_INC(Proto.IP, Ctr.DROP);
  pbuf_free(p);
  return ERR_OK;
}

/**
 * The netif to reach `dst`, preferring the one that owns `src` (null or
 * unspecified: no preference). Null when nothing routes.
 */
export function ip_route(src: ip_addr | null, dst: ip_addr): netif | null {
  if (IP_IS_V6(dst)) return ip6_route(src != null && IP_IS_V6(src) ? src : null, dst);
  if (!LWIP_IPV4) return null;
  return ip4_route_src(src != null && !IP_IS_V6(src) ? src.a0 : 0, dst.a0);
}

/**
 * Sends `p` (payload at the transport header) to `dst` by `n` with a new IP
 * header of `dst`'s family: protocol `proto`, TTL / hop limit `ttl`
 * (IP_TTL_DEFAULT: the family's default for `n`), TOS / traffic class `tos`. `src` null or unspecified means n's address. The
 * caller keeps its reference to `p`, whose payload is back at the transport
 * header when this returns.
 */
export function ip_output_if(p: pbuf, src: ip_addr | null, dst: ip_addr, ttl: u8, tos: u8, proto: u8, n: netif): err_t {
  if (IP_IS_V6(dst)) {
    if (src != null && !IP_IS_V6(src) && !ip_addr_isany(src)) return ERR_VAL;
    const hl = ttl == IP_TTL_DEFAULT ? nd6_hop_limit(n) : ttl;
    return ip6_output_if(p, src != null && IP_IS_V6(src) ? src : null, dst, hl, tos, proto, n);
  }
  if (!LWIP_IPV4 || (src != null && IP_IS_V6(src))) return ERR_VAL;
  return ip4_output_if(p, src != null ? src.a0 : 0, dst.a0, ttl == IP_TTL_DEFAULT ? IP_DEFAULT_TTL : ttl, tos, proto, n);
}

/**
 * A transport's word that `remote` answered (TCP: an ACK of new data). Over
 * IPv6 it confirms the neighbour on the way (RFC 4861 §7.3.1), sparing the
 * NUD probe; ARP has no such hint.
 */
export function ip_reachability_hint(remote: ip_addr): void {
  if (LWIP_IPV6 && IP_IS_V6(remote)) nd6_reachability_hint(changetype<usize>(remote));
}

/**
 * Sends `p` whose payload starts with a complete IP header (raw pcbs with
 * IP_HDRINCL, ICMP replies built in place), by the header's version.
 */
export function ip_output_if_hdrincl(p: pbuf, n: netif): err_t {
  if (p.len < 1) return ERR_VAL;
  const version = load<u8>(p.payload) >> 4;
  if (LWIP_IPV4 && version == 4) return ip4_output_if_hdrincl(p, n);
  if (LWIP_IPV6 && version == 6) return ip6_output_if_hdrincl(p, n);
  return ERR_VAL;
}

/** Is `a` a broadcast address on `n`? IPv4 only: IPv6 has none (RFC 4291 §2). */
export function ip_addr_isbroadcast(a: ip_addr, n: netif): bool {
  return LWIP_IPV4 && !IP_IS_V6(a) && ip4_addr_isbroadcast(a.a0, n);
}

/**
 * n's address that a packet to `dst` goes out with (lwIP
 * ip_netif_get_local_ip): its IPv4 address, or a valid IPv6 address of the
 * right scope. Null when `n` has none.
 */
export function ip_netif_get_local_ip(n: netif, dst: ip_addr): ip_addr | null {
  if (IP_IS_V6(dst)) return netif_ip6_select_src(n, dst);
  return netif_ip4_addr(n);
}

/** Is `a` one of n's own addresses? */
export function ip_netif_owns(n: netif, a: ip_addr): bool {
  if (IP_IS_V6(a)) return netif_ip6_addr_match(n, a) >= 0;
  return n.ip_addr == a.a0;
}

// ---- the pseudo-header checksum (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1) ------------------

/**
 * The TCP/UDP checksum over the pseudo header of `src` → `dst` (their
 * family's layout) and the whole chain `p`; `len` is the transport length
 * the pseudo header carries.
 */
export function ip_chksum_pseudo(p: pbuf, proto: u8, len: u32, src: ip_addr, dst: ip_addr): u16 {
  if (IP_IS_V6(dst)) return ip6_chksum_pseudo(p, proto, len, ip_2_ip6(src), ip_2_ip6(dst));
  return inet_chksum_pseudo(p, proto, len, changetype<usize>(src), changetype<usize>(dst));
}

/** As ip_chksum_pseudo, covering only the first `cov` bytes of `p` (UDP-Lite, RFC 3828 §3.1). */
export function ip_chksum_pseudo_partial(p: pbuf, proto: u8, len: u32, cov: u32, src: ip_addr, dst: ip_addr): u16 {
  if (IP_IS_V6(dst)) return ip6_chksum_pseudo_partial(p, proto, len, cov, ip_2_ip6(src), ip_2_ip6(dst));
  return inet_chksum_pseudo_partial(p, proto, len, cov, changetype<usize>(src), changetype<usize>(dst));
}

/**
 * The partial sum (folded, uncomplemented; core/chksum.ts) of the pseudo
 * header alone, for senders that summed their payload while copying it in
 * and add the transport header's sum themselves (checksum on copy).
 */
export function ip_chksum_pseudo_sum(proto: u8, len: u32, src: ip_addr, dst: ip_addr): u32 {
  if (IP_IS_V6(dst)) return ip6_pseudo_sum(proto, len, ip_2_ip6(src), ip_2_ip6(dst));
  return inet_pseudo_sum(proto, len, changetype<usize>(src), changetype<usize>(dst));
}

// ---- ICMP for the transports ------------------------------------------------------------

/**
 * Tells the sender of the packet being delivered that nobody listens on its
 * port (RFC 1122 §4.1.3.1; ICMPv6 RFC 4443 §3.1 code 4). `p` is at the
 * transport header; it is not freed and is back there on return. The caller
 * has checked the packet was not a broadcast or multicast.
 */
export function ip_icmp_port_unreach(p: pbuf): void {
  const hlen = cur_hdr_len;
  if (ip_current_is_v6()) {
    if (pbuf_add_header_force(p, hlen) != 0) return;
    icmp6_dest_unreach(p, ICMP6_DUR_PORT);
    pbuf_remove_header(p, hlen);
    return;
  }
  if (!LWIP_IPV4 || pbuf_add_header_force(p, hlen) != 0) return;
  icmp_dest_unreach(p, ICMP_DUR_PORT);
  pbuf_remove_header(p, hlen);
}

// ICMP (RFC 792) and ICMPv6 (RFC 4443) types and codes the transports react to.
const ICMP6_DUR: u8 = 1;
const ICMP6_DUR_PORT: u8 = 4;
const ICMP6_PTB: u8 = 2;
const ICMP6_PP: u8 = 4;
const ICMP6_PP_HEADER: u8 = 1;

/**
 * Does an ICMP error (`v6`: ICMPv6) say the peer refuses: port or protocol
 * unreachable (RFC 1122 §4.2.3.9 lets such a hard error abort a connection
 * attempt; ICMPv6: port unreachable, or an unrecognized next header, RFC
 * 4443 §3.1 and §3.4)?
 */
export function ip_icmp_is_refusal(v6: bool, type: u8, code: u8): bool {
  if (LWIP_IPV6 && v6) return (type == ICMP6_DUR && code == ICMP6_DUR_PORT) || (type == ICMP6_PP && code == ICMP6_PP_HEADER);
  return type == ICMP_DUR && (code == ICMP_DUR_PROTO || code == ICMP_DUR_PORT);
}

/** Does an ICMP error say the path MTU is smaller (RFC 1191 §4 fragmentation needed; RFC 8201 packet too big)? */
export function ip_icmp_is_pmtu(v6: bool, type: u8, code: u8): bool {
  if (LWIP_IPV6 && v6) return type == ICMP6_PTB;
  return type == ICMP_DUR && code == ICMP_DUR_FRAG;
}

/** The smallest MTU of the family: 68 (RFC 791 §3.2) or 1280 (RFC 8200 §5). */
export function ip_min_mtu(v6: bool): u32 { return LWIP_IPV6 && v6 ? 1280 : 68; }

// ---- the pcb prefix ---------------------------------------------------------------------

@unmanaged
export class ip_pcb {
  // +0 local_ip (ip_addr): ip_pcb_local(pcb)
  _l0: u32; _l1: u32; _l2: u32; _l3: u32; _l4: u32;
  // +20 remote_ip (ip_addr): ip_pcb_remote(pcb)
  _m0: u32; _m1: u32; _m2: u32; _m3: u32; _m4: u32;
  netif_idx: u8;
  so_options: u8;
  tos: u8;
  ttl: u8;
}

export const IP_PCB_SIZE: u32 = <u32>offsetof<ip_pcb>();

// @ts-ignore: decorator
@inline export function ip_pcb_local(pcb: ip_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb)); }
// @ts-ignore: decorator
@inline export function ip_pcb_remote(pcb: ip_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb) + IP_ADDR_SIZE); }

/** Can a pcb of this build have family `type`? V4 and ANY always, V6 with LWIP_IPV6. */
export function ip_pcb_type_ok(type: u8): bool {
  return type == 0 || type == IPADDR_TYPE_ANY || (LWIP_IPV6 && type == IPADDR_TYPE_V6);
}

/** A fresh prefix (the rest of the pcb is the caller's): both addresses unspecified of family `type`. */
export function ip_pcb_init(pcb: ip_pcb, type: u8): void {
  memory.fill(changetype<usize>(pcb), 0, IP_PCB_SIZE);
  ip_pcb_local(pcb).type = type;
  ip_pcb_remote(pcb).type = type;
  pcb.ttl = IP_TTL_DEFAULT;
}

/** Can a pcb whose local address is `local` talk to (or be reached at) `a`? Same family, or a dual-stack pcb. */
// @ts-ignore: decorator
@inline export function ip_pcb_family_ok(local: ip_addr, a: ip_addr): bool {
  if (!LWIP_IPV6) return true;
  return local.type == IPADDR_TYPE_ANY || (local.type == IPADDR_TYPE_V6) == IP_IS_V6(a);
}

/**
 * Can two pcbs bound to `a` and `b` clash over a port? Not an IPv4 and an
 * IPv6 address; a dual-stack (ANY) pcb clashes with both families.
 */
export function ip_pcb_families_overlap(a: ip_addr, b: ip_addr): bool {
  if (!LWIP_IPV6) return true;
  return a.type == IPADDR_TYPE_ANY || b.type == IPADDR_TYPE_ANY || IP_IS_V6(a) == IP_IS_V6(b);
}

/** Does a pcb bound to `local` take a packet to `dst` (its family; unspecified, or exactly `dst`)? */
export function ip_pcb_local_match(local: ip_addr, dst: ip_addr): bool {
  if (!ip_pcb_family_ok(local, dst)) return false;
  return ip_addr_isany(local) || ip_addr_eq(local, dst);
}

/**
 * The netif a pcb's packet to `dst` leaves by (lwIP's per-protocol route
 * choice, once): the netif it is bound to, else the route, preferring the
 * netif that owns the pcb's local address.
 */
export function ip_pcb_route(pcb: ip_pcb, dst: ip_addr): netif | null {
  if (pcb.netif_idx != 0) return netif_get_by_index(pcb.netif_idx);
  const l = ip_pcb_local(pcb);
  return ip_route(ip_addr_isany(l) ? null : l, dst);
}

/**
 * The source address of a pcb's packet to `dst` by `n`: its local address
 * when bound to a unicast one, else n's address of that family (null when
 * `n` has none).
 */
export function ip_pcb_src(pcb: ip_pcb, n: netif, dst: ip_addr): ip_addr | null {
  const l = ip_pcb_local(pcb);
  if (ip_addr_isany(l) || ip_addr_ismulticast(l)) return ip_netif_get_local_ip(n, dst);
  return l;
}

/**
 * A netif's address changed from `old` to `now` (null: it went away):
 * a local address bound to it follows. Returns whether `local` was on `old`.
 */
export function ip_pcb_local_follows(local: ip_addr, old: ip_addr, now: ip_addr | null): bool {
  if (local.type == IPADDR_TYPE_ANY || ip_addr_isany(local) || !ip_addr_eq(local, old)) return false;
  if (now != null) ip_addr_copy(local, now);
  return true;
}

/**
 * One of our addresses changed from `old` to `now` (null: removed), the one
 * hook netif.ts calls (lwIP netif_do_ip_addr_changed): TCP connections on the
 * old address are aborted (RST to the peer, ERR_ABRT to the application);
 * listeners and bound TCP, UDP and raw pcbs move to the new address.
 */
export function ip_netif_addr_changed(old: ip_addr, now: ip_addr | null): void {
  if (ip_addr_isany(old)) return;
  const next = now != null && !ip_addr_isany(now) ? now : null;
  tcp_netif_ip_addr_changed(old, next);
  udp_netif_ip_addr_changed(old, next);
  raw_netif_ip_addr_changed(old, next);
}
