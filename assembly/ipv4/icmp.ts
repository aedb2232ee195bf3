// icmp: ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2, RFC 1812 §4.3.2; lwIP icmp.c).
//
// Answers echo requests, sends destination unreachable and time exceeded
// errors (rate limited), and passes errors about our own packets to the UDP
// or TCP pcb they concern, with the quoted addresses as ip_addrs: IP is
// reached through ip.ts like from any transport.
//
//    0                   1                   2                   3
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   Identifier / unused         |  Sequence number / next-hop MTU|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  echo data, or the offending IP header + first 8 data bytes   |

import { pbuf, pbuf_alloc, pbuf_free, pbuf_add_header_force, pbuf_remove_header, pbuf_copy_partial, pbuf_layer, pbuf_type, PBUF_FLAG_LLBCAST, PBUF_FLAG_LLMCAST } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_RTE } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { inet_chksum, inet_chksum_pbuf, chksum_adjust } from "../core/chksum";
import { sys_now } from "../core/timeouts";
import { netif, netif_ip4_addr } from "../netif/netif";
import { ip_addr, ip_addr_set_ip4, ip_addr_ismulticast, ip4_addr_ismulticast, IP_ADDR_SIZE } from "../ip_addr";
import {
  IP_HLEN, IP_OFFMASK, IP_PROTO_ICMP, IP_PROTO_UDP, IP_PROTO_UDPLITE, IP_PROTO_TCP,
  ip4_hdr_hlen, ip4_hdr_offset, ip4_hdr_proto, ip4_hdr_src, ip4_hdr_dest,
  ip4_hdr_set_src, ip4_hdr_set_dest, ip4_hdr_set_ttl,
} from "./ip4_hdr";
import { ip4_current_header } from "./ip4";
import {
  ip_current_src_addr, ip_current_dest_addr, ip_current_netif, ip_addr_isbroadcast, ip_route, ip_output_if,
  ip_output_if_hdrincl,
} from "../ip";
import { udp_icmp_error } from "../udp";
import { tcp_icmp_error } from "../tcp/tcp_in";

export const ICMP_ER: u8 = 0; // echo reply
export const ICMP_DUR: u8 = 3; // destination unreachable
export const ICMP_SQ: u8 = 4; // source quench
export const ICMP_RD: u8 = 5; // redirect
export const ICMP_ECHO: u8 = 8; // echo
export const ICMP_TE: u8 = 11; // time exceeded
export const ICMP_PP: u8 = 12; // parameter problem
export const ICMP_TS: u8 = 13; // timestamp
export const ICMP_TSR: u8 = 14; // timestamp reply

// destination unreachable codes (RFC 792, RFC 1191)
export const ICMP_DUR_NET: u8 = 0;
export const ICMP_DUR_HOST: u8 = 1;
export const ICMP_DUR_PROTO: u8 = 2;
export const ICMP_DUR_PORT: u8 = 3;
export const ICMP_DUR_FRAG: u8 = 4;
export const ICMP_DUR_SR: u8 = 5;

// time exceeded codes
export const ICMP_TE_TTL: u8 = 0;
export const ICMP_TE_FRAG: u8 = 1;

export const ICMP_HLEN: u32 = 8;
/** Bytes of the offending datagram's data quoted after its header (RFC 792). */
const ICMP_DEST_UNREACH_DATASIZE: u32 = 8;
/** TTL of ICMP messages we originate (ip4.ts IP_DEFAULT_TTL). */
export const ICMP_TTL: u8 = 64;

// ---- header accessors ----------------------------------------------------------
// @ts-ignore: decorator
@inline export function icmp_hdr_type(h: usize): u8 { return load<u8>(h); }
// @ts-ignore: decorator
@inline export function icmp_hdr_code(h: usize): u8 { return load<u8>(h, 1); }
// @ts-ignore: decorator
@inline export function icmp_hdr_chksum(h: usize): u16 { return bswap<u16>(load<u16>(h, 2)); }
// @ts-ignore: decorator
@inline export function icmp_hdr_id(h: usize): u16 { return bswap<u16>(load<u16>(h, 4)); }
// @ts-ignore: decorator
@inline export function icmp_hdr_seqno(h: usize): u16 { return bswap<u16>(load<u16>(h, 6)); }
/** Next-hop MTU of a fragmentation-needed message (RFC 1191 §4). */
// @ts-ignore: decorator
@inline export function icmp_hdr_nexthop_mtu(h: usize): u16 { return bswap<u16>(load<u16>(h, 6)); }
// @ts-ignore: decorator
@inline export function icmp_hdr_set_type(h: usize, v: u8): void { store<u8>(h, v); }
// @ts-ignore: decorator
@inline export function icmp_hdr_set_code(h: usize, v: u8): void { store<u8>(h, v, 1); }
// @ts-ignore: decorator
@inline export function icmp_hdr_set_chksum(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 2); }
// @ts-ignore: decorator
@inline export function icmp_hdr_set_rest(h: usize, v: u32): void { store<u32>(h, bswap<u32>(v), 4); }

// ---- rate limit ------------------------------------------------------------------
// A token bucket for the errors we generate (RFC 1812 §4.3.2.8): a burst of
// ICMP_RATE_BURST, refilled at ICMP_RATE_PER_SEC. Echo replies are not limited.
export const ICMP_RATE_PER_SEC: u32 = 1000;
export const ICMP_RATE_BURST: u32 = 100;
let tokens: u32 = ICMP_RATE_BURST;
let tokens_at: u32 = 0;

function rate_allow(): bool {
  const now = sys_now();
  const elapsed = now - tokens_at;
  if (elapsed > 0) {
    const add = <u64>elapsed * ICMP_RATE_PER_SEC / 1000;
    if (add > 0) {
      tokens = <u32>min<u64>(<u64>ICMP_RATE_BURST, <u64>tokens + add);
      tokens_at = now;
    }
  }
  if (tokens == 0) return false;
  tokens--;
  return true;
}

export function icmp_rate_reset(): void {
  tokens = ICMP_RATE_BURST;
  tokens_at = sys_now();
}

/** The quoted datagram's addresses, and the destination of an error we send. */
const quoted_src: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const quoted_dst: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const err_to: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

function drop(p: pbuf, ctr: Ctr): void {
  STATS_INC(Proto.ICMP, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.ICMP, Ctr.DROP);
  pbuf_free(p);
}

/**
 * An ICMP message arrived (p.payload at the ICMP header, the IP header
 * reachable through ip_current_header()). Takes ownership of `p`.
 */
export function icmp_input(p: pbuf, inp: netif): void {
  STATS_INC(Proto.ICMP, Ctr.RECV);
  if (p.tot_len < 4) { drop(p, Ctr.LENERR); return; }
  if (inet_chksum_pbuf(p) != 0) { drop(p, Ctr.CHKERR); return; }
  // The whole header must be in the first pbuf to read it in place.
  if (p.len < ICMP_HLEN) { drop(p, Ctr.LENERR); return; }
  const h = p.payload;
  const type = icmp_hdr_type(h);
  if (type == ICMP_ECHO) {
    echo_reply(p, inp);
    return;
  }
  if (type == ICMP_DUR || type == ICMP_TE || type == ICMP_PP || type == ICMP_SQ) {
    // Errors about our own packets: quote = IP header + 8 bytes (RFC 792).
    if (p.len >= ICMP_HLEN + IP_HLEN + 8) {
      const q = h + ICMP_HLEN;
      const qhlen = ip4_hdr_hlen(q);
      if (qhlen >= IP_HLEN && p.len >= ICMP_HLEN + qhlen + 8) {
        const proto = ip4_hdr_proto(q);
        const rest = bswap<u32>(load<u32>(h, 4));
        const qsrc = changetype<ip_addr>(quoted_src), qdst = changetype<ip_addr>(quoted_dst);
        ip_addr_set_ip4(qsrc, ip4_hdr_src(q));
        ip_addr_set_ip4(qdst, ip4_hdr_dest(q));
        // The quoted transport header: at least its first 8 bytes (RFC 792).
        const th = q + qhlen;
        const th_len = p.len - ICMP_HLEN - qhlen;
        if (proto == IP_PROTO_UDP || proto == IP_PROTO_UDPLITE) {
          udp_icmp_error(qsrc, qdst, proto, th, th_len, type, icmp_hdr_code(h));
        } else if (proto == IP_PROTO_TCP) {
          // RFC 1191: the next-hop MTU is the low 16 bits of the rest-of-header word.
          tcp_icmp_error(qsrc, qdst, th, th_len, type, icmp_hdr_code(h), rest & 0xffff);
        }
      } else {
        STATS_INC(Proto.ICMP, Ctr.LENERR);
      }
    } else {
      STATS_INC(Proto.ICMP, Ctr.LENERR);
    }
  }
  // Echo replies, errors and everything else end here (raw pcbs saw them already).
  pbuf_free(p);
}

/** Turns an echo request into the reply in place and sends it (RFC 792). */
function echo_reply(p: pbuf, inp: netif): void {
  const dest = ip_current_dest_addr();
  const n = ip_current_netif();
  // No replies to broadcast or multicast pings (RFC 1122 §3.2.2.6 allows either; lwIP's default).
  if (n == null || ip_addr_isbroadcast(dest, inp) || ip_addr_ismulticast(dest) ||
      (p.flags & (PBUF_FLAG_LLBCAST | PBUF_FLAG_LLMCAST)) != 0) {
    drop(p, Ctr.DROP);
    return;
  }
  const h = p.payload;
  // Type 8 → 0: patch the checksum for the changed word (RFC 1624).
  const old_word = (<u16>ICMP_ECHO << 8) | icmp_hdr_code(h);
  icmp_hdr_set_type(h, ICMP_ER);
  icmp_hdr_set_chksum(h, chksum_adjust(icmp_hdr_chksum(h), old_word, <u16>icmp_hdr_code(h)));
  const iph = ip4_current_header();
  const hlen = ip4_hdr_hlen(iph);
  if (pbuf_add_header_force(p, hlen) != 0) { drop(p, Ctr.ERR); return; }
  const ip = p.payload; // == iph
  ip4_hdr_set_src(ip, dest.a0);
  ip4_hdr_set_dest(ip, ip_current_src_addr().a0);
  ip4_hdr_set_ttl(ip, ICMP_TTL);
  // Options of the request are not echoed back; a reply keeps only the base header.
  if (hlen > IP_HLEN) {
    memory.copy(ip + hlen - IP_HLEN, ip, IP_HLEN);
    pbuf_remove_header(p, hlen - IP_HLEN);
    store<u8>(p.payload, 0x45);
  }
  const out = ip_route(null, ip_current_src_addr());
  STATS_INC(Proto.ICMP, Ctr.XMIT);
  ip_output_if_hdrincl(p, out != null ? out : inp);
  pbuf_free(p);
}

/** Sends destination unreachable about `p` (payload at its IP header). Does not free `p`. */
export function icmp_dest_unreach(p: pbuf, code: u8): void {
  send_error(p, ICMP_DUR, code, 0);
}

/** Sends time exceeded about `p` (payload at its IP header). Does not free `p`. */
export function icmp_time_exceeded(p: pbuf, code: u8): void {
  send_error(p, ICMP_TE, code, 0);
}

/** Fragmentation needed and DF set, with the next-hop MTU (RFC 1191 §4). */
export function icmp_frag_needed(p: pbuf, mtu: u32): void {
  send_error(p, ICMP_DUR, ICMP_DUR_FRAG, mtu & 0xffff);
}

/**
 * Builds an ICMP error quoting the offending IP header and 8 data bytes, and
 * sends it to the offending packet's source. RFC 1122 §3.2.2: never about
 * an ICMP error, a non-first fragment, or a packet to or from a broadcast or
 * multicast address.
 */
function send_error(p: pbuf, type: u8, code: u8, rest: u32): err_t {
  if (p.len < IP_HLEN) return ERR_OK;
  const iph = p.payload;
  const hlen = ip4_hdr_hlen(iph);
  if (hlen < IP_HLEN || hlen > p.len) return ERR_OK;
  if ((ip4_hdr_offset(iph) & IP_OFFMASK) != 0) return ERR_OK;
  const src = ip4_hdr_src(iph);
  const dst = ip4_hdr_dest(iph);
  if (src == 0 || src == 0xffffffff || ip4_addr_ismulticast(src) || ip4_addr_ismulticast(dst) || dst == 0xffffffff) return ERR_OK;
  if ((p.flags & (PBUF_FLAG_LLBCAST | PBUF_FLAG_LLMCAST)) != 0) return ERR_OK;
  if (ip4_hdr_proto(iph) == IP_PROTO_ICMP) {
    // Only query messages (echo, timestamp, …) may cause errors.
    if (p.len < hlen + 1) return ERR_OK;
    const t = load<u8>(iph + hlen);
    if (t != ICMP_ECHO && t != ICMP_ER && t != ICMP_TS && t != ICMP_TSR) return ERR_OK;
  }
  if (!rate_allow()) {
    STATS_INC(Proto.ICMP, Ctr.DROP);
    return ERR_OK;
  }
  const to = changetype<ip_addr>(err_to);
  ip_addr_set_ip4(to, src);
  const out = ip_route(null, to);
  if (out == null) {
    STATS_INC(Proto.ICMP, Ctr.RTERR);
    return ERR_RTE;
  }
  let quote = hlen + ICMP_DEST_UNREACH_DATASIZE;
  if (quote > p.tot_len) quote = p.tot_len;
  const q = pbuf_alloc(pbuf_layer.PBUF_IP, ICMP_HLEN + quote, pbuf_type.PBUF_RAM);
  if (q == null) {
    STATS_INC(Proto.ICMP, Ctr.MEMERR);
    return ERR_MEM;
  }
  const h = q.payload;
  icmp_hdr_set_type(h, type);
  icmp_hdr_set_code(h, code);
  icmp_hdr_set_chksum(h, 0);
  icmp_hdr_set_rest(h, rest);
  pbuf_copy_partial(p, h + ICMP_HLEN, quote, 0);
  icmp_hdr_set_chksum(h, inet_chksum(h, ICMP_HLEN + quote));
  STATS_INC(Proto.ICMP, Ctr.XMIT);
  // Our source: the address of the netif the error leaves by (what traceroute shows).
  const err = ip_output_if(q, netif_ip4_addr(out), to, ICMP_TTL, 0, IP_PROTO_ICMP, out);
  pbuf_free(q);
  return err;
}
