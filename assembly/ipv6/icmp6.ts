// icmp6: ICMPv6 (RFC 4443; lwIP icmp6.c's feature set, asip's own code).
//
// Verifies the checksum over the IPv6 pseudo header (RFC 4443 §2.3), answers
// echo requests (§4.2), hands Neighbor Discovery (RFC 4861, nd6.ts) and MLD
// (RFC 3810, mld6.ts) messages on, and passes errors about our own packets to
// the UDP or TCP pcb they concern; a packet too big also lowers the path MTU
// of its destination (RFC 8201 §4, the destination cache in nd6.ts). Sends
// destination unreachable, packet too big, time exceeded and parameter
// problem (§3), rate limited by a token bucket (§2.4 (f)), never about an
// ICMPv6 error, and never about a multicast packet except packet too big and
// an unrecognized option that asked for it (§2.4 (e)).
//
//    0                   1                   2                   3
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Identifier / unused / MTU / Pointer  | Sequence number       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  echo data, or as much of the invoking packet as fits in 1280 |

import { pbuf, pbuf_alloc, pbuf_free, pbuf_copy_partial, pbuf_layer, pbuf_type, PBUF_FLAG_LLBCAST, PBUF_FLAG_LLMCAST } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_RTE } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { ip6_chksum_pseudo } from "../core/chksum";
import { sys_now } from "../core/timeouts";
import { netif, netif_get_by_index, netif_ip6_select_src } from "../netif/netif";
import { ip_addr, ip_addr_set_ip6, ip6_addr_ismulticast, ip6_addr_isany, ip6_addr_islinklocal, IP_ADDR_SIZE } from "../ip_addr";
import { ip_current_src_addr, ip_current_dest_addr, ip_current_netif } from "../ip";
import {
  IP6_HLEN, IP6_MIN_MTU, IP6_NEXTH_ICMP6, IP6_NEXTH_TCP, IP6_NEXTH_UDP, IP6_NEXTH_UDPLITE, IP6_NEXTH_FRAGMENT,
  ip6_hdr_src, ip6_hdr_dest, ip6_hdr_nexth, ip6_ext_nexth, ip6_ext_len, ip6_nexth_is_ext, ip6_frag_offset,
} from "./ip6_hdr";
import { ip6_output_if_src, ip6_route_addr, ip6_netif_slot_valid, ip6_addr_scope } from "./ip6";
import { nd6_input, nd6_pmtu_update } from "./nd6";
import { mld6_input } from "./mld6";
import { udp_icmp_error } from "../udp";
import { tcp_icmp_error } from "../tcp/tcp_in";

// Types (RFC 4443 §2.1, RFC 4861 §4, RFC 3810 §5).
export const ICMP6_DUR: u8 = 1;
export const ICMP6_PTB: u8 = 2;
export const ICMP6_TE: u8 = 3;
export const ICMP6_PP: u8 = 4;
export const ICMP6_ECHO: u8 = 128;
export const ICMP6_ER: u8 = 129;
export const ICMP6_MLQ: u8 = 130;
export const ICMP6_MLR: u8 = 131;
export const ICMP6_MLD: u8 = 132;
export const ICMP6_RS: u8 = 133;
export const ICMP6_RA: u8 = 134;
export const ICMP6_NS: u8 = 135;
export const ICMP6_NA: u8 = 136;
export const ICMP6_RD: u8 = 137;
export const ICMP6_MLR2: u8 = 143;

// Destination unreachable codes (§3.1).
export const ICMP6_DUR_NO_ROUTE: u8 = 0;
export const ICMP6_DUR_PROHIBITED: u8 = 1;
export const ICMP6_DUR_SCOPE: u8 = 2;
export const ICMP6_DUR_ADDRESS: u8 = 3;
export const ICMP6_DUR_PORT: u8 = 4;
// Time exceeded codes (§3.3).
export const ICMP6_TE_HL: u8 = 0;
export const ICMP6_TE_FRAG: u8 = 1;
// Parameter problem codes (§3.4).
export const ICMP6_PP_FIELD: u8 = 0;
export const ICMP6_PP_HEADER: u8 = 1;
export const ICMP6_PP_OPTION: u8 = 2;

export const ICMP6_HLEN: u32 = 8;
/** Hop limit of ICMPv6 messages we originate (other than ND and MLD). */
export const ICMP6_HOPLIM: u8 = 64;

// @ts-ignore: decorator
@inline export function icmp6_hdr_type(h: usize): u8 { return load<u8>(h); }
// @ts-ignore: decorator
@inline export function icmp6_hdr_code(h: usize): u8 { return load<u8>(h, 1); }
// @ts-ignore: decorator
@inline export function icmp6_hdr_data(h: usize): u32 { return bswap<u32>(load<u32>(h, 4)); }
// @ts-ignore: decorator
@inline export function icmp6_hdr_set_type(h: usize, v: u8): void { store<u8>(h, v); }
// @ts-ignore: decorator
@inline export function icmp6_hdr_set_code(h: usize, v: u8): void { store<u8>(h, v, 1); }
// @ts-ignore: decorator
@inline export function icmp6_hdr_set_chksum(h: usize, v: u16): void { store<u16>(h, v, 2); }
// @ts-ignore: decorator
@inline export function icmp6_hdr_set_data(h: usize, v: u32): void { store<u32>(h, bswap<u32>(v), 4); }

/**
 * Fills the checksum of the ICMPv6 message `p` (payload at its header) from
 * `src` to `dst` (16 bytes each): RFC 4443 §2.3, the IPv6 pseudo header.
 */
export function icmp6_fill_chksum(p: pbuf, src: usize, dst: usize): void {
  icmp6_hdr_set_chksum(p.payload, 0);
  const c = ip6_chksum_pseudo(p, IP6_NEXTH_ICMP6, p.tot_len, src, dst);
  store<u16>(p.payload, bswap<u16>(c), 2);
}

// ---- rate limit (RFC 4443 §2.4 (f)) -------------------------------------------------------
// A token bucket for the errors we send: a burst of ICMP6_RATE_BURST,
// refilled at ICMP6_RATE_PER_SEC. Echo replies and ND are not limited.
export const ICMP6_RATE_PER_SEC: u32 = 1000;
export const ICMP6_RATE_BURST: u32 = 100;
let tokens: u32 = ICMP6_RATE_BURST;
let tokens_at: u32 = 0;

function rate_allow(): bool {
  const now = sys_now();
  const elapsed = now - tokens_at;
  if (elapsed > 0) {
    const add = <u64>elapsed * ICMP6_RATE_PER_SEC / 1000;
    if (add > 0) {
      tokens = <u32>min<u64>(<u64>ICMP6_RATE_BURST, <u64>tokens + add);
      tokens_at = now;
    }
  }
  if (tokens == 0) return false;
  tokens--;
  return true;
}

export function icmp6_rate_reset(): void {
  tokens = ICMP6_RATE_BURST;
  tokens_at = sys_now();
}

const quoted_src: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const quoted_dst: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const src_tmp: usize = memory.data(16, 8);
const dst_tmp: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

function drop(p: pbuf, ctr: Ctr): void {
  STATS_INC(Proto.ICMP6, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.ICMP6, Ctr.DROP);
  pbuf_free(p);
}

/**
 * An ICMPv6 message arrived (p.payload at the ICMPv6 header; the IPv6
 * header is ip6.ts ip6_current_header()). Takes ownership of `p`.
 */
export function icmp6_input(p: pbuf, inp: netif): void {
  STATS_INC(Proto.ICMP6, Ctr.RECV);
  if (p.tot_len < 4 || p.len < 4) { drop(p, Ctr.LENERR); return; }
  const src = ip_current_src_addr(), dst = ip_current_dest_addr();
  if (ip6_chksum_pseudo(p, IP6_NEXTH_ICMP6, p.tot_len, changetype<usize>(src), changetype<usize>(dst)) != 0) {
    drop(p, Ctr.CHKERR);
    return;
  }
  const h = p.payload;
  const type = icmp6_hdr_type(h);
  switch (type) {
    case ICMP6_ECHO: echo_reply(p, inp); return;
    case ICMP6_RS: case ICMP6_RA: case ICMP6_NS: case ICMP6_NA: case ICMP6_RD:
      nd6_input(p, inp); return;
    case ICMP6_MLQ: case ICMP6_MLR: case ICMP6_MLD: case ICMP6_MLR2:
      mld6_input(p, inp); return;
    case ICMP6_DUR: case ICMP6_PTB: case ICMP6_TE: case ICMP6_PP:
      error_input(p, inp, type); break;
    default: break; // echo replies and unknown informational messages: raw pcbs saw them (§2.4 (b))
  }
  pbuf_free(p);
}

/**
 * An error about a packet we sent: the quoted packet's transport header
 * tells which pcb it concerns (RFC 4443 §2.4 (d)).
 */
function error_input(p: pbuf, inp: netif, type: u8): void {
  const h = p.payload;
  const len = p.len;
  if (len < ICMP6_HLEN + IP6_HLEN) { STATS_INC(Proto.ICMP6, Ctr.LENERR); return; }
  const q = h + ICMP6_HLEN;
  const code = icmp6_hdr_code(h);
  const data = icmp6_hdr_data(h);
  // Skip the quoted packet's extension headers (as many as were quoted).
  let off: u32 = IP6_HLEN;
  let nh = ip6_hdr_nexth(q);
  while (ip6_nexth_is_ext(nh)) {
    if (ICMP6_HLEN + off + 8 > len) { STATS_INC(Proto.ICMP6, Ctr.LENERR); return; }
    const e = q + off;
    if (nh == IP6_NEXTH_FRAGMENT) {
      if (ip6_frag_offset(e) != 0) return; // not the first fragment: no transport header
      off += 8;
    } else {
      off += ip6_ext_len(e);
    }
    nh = ip6_ext_nexth(e);
  }
  const zone = ip6_addr_islinklocal(ip6_hdr_dest(q)) ? inp.num : 0;
  const qsrc = changetype<ip_addr>(quoted_src), qdst = changetype<ip_addr>(quoted_dst);
  ip_addr_set_ip6(qsrc, ip6_hdr_src(q), ip6_addr_islinklocal(ip6_hdr_src(q)) ? inp.num : 0);
  ip_addr_set_ip6(qdst, ip6_hdr_dest(q), zone);
  let mtu: u32 = 0;
  if (type == ICMP6_PTB) {
    // RFC 8201 §4: never below the IPv6 minimum link MTU.
    mtu = max<u32>(data, IP6_MIN_MTU);
    nd6_pmtu_update(ip6_hdr_dest(q), mtu);
  }
  if (ICMP6_HLEN + off + 8 > len) return;
  const th = q + off;
  const th_len = len - ICMP6_HLEN - off;
  if (nh == IP6_NEXTH_UDP || nh == IP6_NEXTH_UDPLITE) {
    udp_icmp_error(qsrc, qdst, nh, th, th_len, type, code);
  } else if (nh == IP6_NEXTH_TCP) {
    tcp_icmp_error(qsrc, qdst, th, th_len, type, code, mtu);
  }
}

/** Answers an echo request with the same identifier, sequence number and data (RFC 4443 §4.2). */
function echo_reply(p: pbuf, inp: netif): void {
  const req_src = ip_current_src_addr(), req_dst = ip_current_dest_addr();
  if (ip6_addr_isany(changetype<usize>(req_src))) { drop(p, Ctr.DROP); return; }
  // The reply's source: the address the request went to, or for a
  // multicast request one of ours on that link (RFC 4443 §4.2).
  let src: usize = changetype<usize>(req_dst);
  const n = ip_current_netif();
  if (ip6_addr_ismulticast(src)) {
    const sel = netif_ip6_select_src(n != null ? n : inp, req_src);
    if (sel == null) { drop(p, Ctr.RTERR); return; }
    src = changetype<usize>(sel);
  }
  const out = ip6_addr_islinklocal(changetype<usize>(req_src)) ? inp : reply_netif(src, changetype<usize>(req_src), inp);
  const q = pbuf_alloc(pbuf_layer.PBUF_IP, p.tot_len, pbuf_type.PBUF_RAM);
  if (q == null) { drop(p, Ctr.MEMERR); return; }
  pbuf_copy_partial(p, q.payload, p.tot_len, 0);
  pbuf_free(p);
  memory.copy(src_tmp, src, 16);
  const dst = changetype<usize>(req_src);
  icmp6_hdr_set_type(q.payload, ICMP6_ER);
  icmp6_fill_chksum(q, src_tmp, dst);
  STATS_INC(Proto.ICMP6, Ctr.XMIT);
  ip6_output_if_src(q, src_tmp, dst, ICMP6_HOPLIM, 0, IP6_NEXTH_ICMP6, out);
  pbuf_free(q);
}

function reply_netif(src: usize, dst: usize, inp: netif): netif {
  const r = ip6_route_addr(src, dst, 0);
  return r != null ? r : inp;
}

/** Destination unreachable about `p` (payload at its IPv6 header). Does not free `p`. */
export function icmp6_dest_unreach(p: pbuf, code: u8): void { send_error(p, ICMP6_DUR, code, 0); }
/** Packet too big with the next-hop MTU (RFC 4443 §3.2). Does not free `p`. */
export function icmp6_packet_too_big(p: pbuf, mtu: u32): void { send_error(p, ICMP6_PTB, 0, mtu); }
/** Time exceeded (hop limit, or reassembly time, RFC 4443 §3.3). Does not free `p`. */
export function icmp6_time_exceeded(p: pbuf, code: u8): void { send_error(p, ICMP6_TE, code, 0); }
/** Parameter problem pointing at byte `pointer` of the packet (RFC 4443 §3.4). Does not free `p`. */
export function icmp6_param_problem(p: pbuf, code: u8, pointer: u32): void { send_error(p, ICMP6_PP, code, pointer); }

/** Is the packet at `h` (`len` bytes in place) itself an ICMPv6 error message (type < 128)? */
function is_icmp6_error(h: usize, len: u32): bool {
  let off: u32 = IP6_HLEN;
  let nh = ip6_hdr_nexth(h);
  while (ip6_nexth_is_ext(nh)) {
    if (off + 8 > len) return false;
    const e = h + off;
    if (nh == IP6_NEXTH_FRAGMENT) {
      if (ip6_frag_offset(e) != 0) return false;
      off += 8;
    } else {
      off += ip6_ext_len(e);
    }
    nh = ip6_ext_nexth(e);
  }
  if (nh != IP6_NEXTH_ICMP6 || off + 1 > len) return false;
  return load<u8>(h + off) < 128;
}

/**
 * Builds an ICMPv6 error quoting as much of the offending packet (`p`,
 * payload at its IPv6 header) as fits in the minimum MTU, and sends it to
 * the packet's source (RFC 4443 §2.4).
 */
function send_error(p: pbuf, type: u8, code: u8, data: u32): err_t {
  if (p.len < IP6_HLEN) return ERR_OK;
  const ih = p.payload;
  const src = ip6_hdr_src(ih), dst = ip6_hdr_dest(ih);
  // §2.4 (e): never to an unspecified or multicast source; never about a
  // multicast packet, except packet too big and parameter problem code 2.
  if (ip6_addr_isany(src) || ip6_addr_ismulticast(src)) return ERR_OK;
  const mcast = ip6_addr_ismulticast(dst) || (p.flags & (PBUF_FLAG_LLBCAST | PBUF_FLAG_LLMCAST)) != 0;
  if (mcast && !(type == ICMP6_PTB || (type == ICMP6_PP && code == ICMP6_PP_OPTION))) return ERR_OK;
  // §2.4 (e.1): never about an ICMPv6 error message.
  if (is_icmp6_error(ih, p.len)) return ERR_OK;
  if (!rate_allow()) {
    STATS_INC(Proto.ICMP6, Ctr.DROP);
    return ERR_OK;
  }
  // Destination: the offending packet's source, in the zone it came from.
  const to = changetype<ip_addr>(dst_tmp);
  ip_addr_set_ip6(to, src, ip6_addr_islinklocal(src) ? p.if_idx : 0);
  let out: netif | null = null;
  if (ip6_addr_islinklocal(src)) out = netif_get_by_index(p.if_idx);
  else out = ip6_route_addr(0, src, 0);
  if (out == null) {
    STATS_INC(Proto.ICMP6, Ctr.RTERR);
    return ERR_RTE;
  }
  // Source: the address the packet was sent to when it is ours (§2.2),
  // else our best address for the destination.
  if (!mcast && ip6_netif_slot_valid(out, dst) >= 0) {
    memory.copy(src_tmp, dst, 16);
  } else {
    const sel = netif_ip6_select_src(out, to);
    if (sel == null) {
      STATS_INC(Proto.ICMP6, Ctr.RTERR);
      return ERR_RTE;
    }
    memory.copy(src_tmp, changetype<usize>(sel), 16);
  }
  let quote = p.tot_len;
  const room = IP6_MIN_MTU - IP6_HLEN - ICMP6_HLEN;
  if (quote > room) quote = room;
  const q = pbuf_alloc(pbuf_layer.PBUF_IP, ICMP6_HLEN + quote, pbuf_type.PBUF_RAM);
  if (q == null) {
    STATS_INC(Proto.ICMP6, Ctr.MEMERR);
    return ERR_MEM;
  }
  const h = q.payload;
  icmp6_hdr_set_type(h, type);
  icmp6_hdr_set_code(h, code);
  icmp6_hdr_set_data(h, data);
  pbuf_copy_partial(p, h + ICMP6_HLEN, quote, 0);
  icmp6_fill_chksum(q, src_tmp, src);
  STATS_INC(Proto.ICMP6, Ctr.XMIT);
  const err = ip6_output_if_src(q, src_tmp, changetype<usize>(to), ICMP6_HOPLIM, 0, IP6_NEXTH_ICMP6, out);
  pbuf_free(q);
  return err;
}

export { ip6_addr_scope };
