// ip6_frag: IPv6 fragmentation and reassembly (RFC 8200 §4.5; RFC 5722
// overlapping fragments; RFC 7112 the first fragment's header chain; lwIP
// ip6_frag.c's feature set, asip's own code).
//
// Reassembly keeps each fragment's pbuf, untouched, in a bounded table
// (IP6_REASS_MAX_FRAGS fragments and IP6_REASS_MAX_BYTES bytes over at most
// IP6_REASS_MAX_DATAGRAMS datagrams; the oldest datagram makes room). A
// datagram is identified by source, destination, identification and netif.
// When every byte from 0 to the end of the last fragment is there, one new
// contiguous packet is built: the first fragment's unfragmentable part
// (its next header field now naming what followed the fragment header) and
// the data in order. Then:
//   - a fragment that overlaps another drops the whole datagram (RFC 5722
//     §4; an exact duplicate is only dropped itself, RFC 8200 §4.5);
//   - a first fragment without the whole header chain up to the upper-layer
//     header drops the datagram with a parameter problem code 3 (RFC 7112 §5);
//   - a fragment past 65535 bytes of payload (pointer: fragment offset), or
//     a non-last one whose length is not a multiple of 8 (pointer: payload
//     length) gets a parameter problem code 0 (RFC 8200 §4.5);
//   - after IP6_REASS_MAXAGE_S (60 s) a datagram is dropped, with a time
//     exceeded code 1 when its first fragment had arrived (RFC 8200 §4.5).
//
// Fragmentation (ours only: routers never fragment, RFC 8200 §5) splits the
// packet after its unfragmentable part into pieces of a multiple of 8 bytes
// that fit the path MTU, with an unpredictable identification (RFC 7739).
//
//   struct reass (RS_SIZE = 48 bytes): +0 src 16  +16 dst 16  +32 id u32
//   +36 if_idx u8 (0 = free)  +37 have_first u8  +38 age u16 (s)
//   +40 total u32 (payload bytes after the fragment header; 0 until the last fragment)
//   +44 bytes u32 (data held)
//   struct frag (FR_SIZE = 16 bytes): +0 p usize (0 = free)  +4 start u32
//   +8 end u32 (data bytes [start, end))  +12 datagram u8  +13 first u8 (offset 0)
//   +14 hdr_off u16 (the fragment header's offset in p)

import { pbuf, pbuf_alloc, pbuf_free, pbuf_copy_partial, pbuf_layer, pbuf_type } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { sys_timeout_cyclic, sys_untimeout } from "../core/timeouts";
import { asip_random } from "../core/random";
import { IP6_REASS_MAX_DATAGRAMS, IP6_REASS_MAX_FRAGS, IP6_REASS_MAX_BYTES, IP6_REASS_MAXAGE_S } from "../config";
import { netif, netif_get_by_index, netif_output6 } from "../netif/netif";
import {
  IP6_HLEN, IP6_FRAG_HLEN, IP6_NEXTH_FRAGMENT, IP6_NEXTH_HOPBYHOP, IP6_NEXTH_TCP, IP6_NEXTH_UDP, IP6_NEXTH_UDPLITE,
  IP6_NEXTH_ICMP6, IP6_NEXTH_NONE,
  ip6_hdr_plen, ip6_hdr_src, ip6_hdr_dest, ip6_hdr_nexth, ip6_hdr_set_plen, ip6_hdr_set_nexth,
  ip6_frag_offset, ip6_frag_more, ip6_frag_id, ip6_frag_nexth, ip6_frag_write, ip6_ext_len, ip6_ext_nexth, ip6_nexth_is_ext,
} from "./ip6_hdr";
import { ip6_addr_eq16 } from "./ip6";
import { icmp6_param_problem, icmp6_time_exceeded, ICMP6_PP_FIELD, ICMP6_TE_FRAG } from "./icmp6";
import { nd6_next_hop } from "./nd6";

/** RFC 7112 §5: parameter problem code 3. */
const ICMP6_PP_FIRST_FRAG: u8 = 3;
const MAX_PAYLOAD: u32 = 0xffff;

const RS_SIZE: usize = 48;
const FR_SIZE: usize = 16;
const reass_table: usize = memory.data(<i32>(<usize>IP6_REASS_MAX_DATAGRAMS * RS_SIZE), 8);
const frag_table: usize = memory.data(<i32>(<usize>IP6_REASS_MAX_FRAGS * FR_SIZE), 8);
// @ts-ignore: decorator
@inline function rs(i: i32): usize { return reass_table + <usize>i * RS_SIZE; }
// @ts-ignore: decorator
@inline function fr(i: i32): usize { return frag_table + <usize>i * FR_SIZE; }

let held_bytes: u32 = 0;
let timer_armed = false;
const nexthop_buf: usize = memory.data(16, 8);

export function ip6_frag_init(): void {
  for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) if (load<usize>(fr(i)) != 0) pbuf_free(changetype<pbuf>(load<usize>(fr(i))));
  memory.fill(reass_table, 0, <usize>IP6_REASS_MAX_DATAGRAMS * RS_SIZE);
  memory.fill(frag_table, 0, <usize>IP6_REASS_MAX_FRAGS * FR_SIZE);
  held_bytes = 0;
  if (timer_armed) sys_untimeout(ip6_reass_tmr, 0);
  timer_armed = false;
}

/** Bytes of fragment data held for reassembly (tests, stats). */
export function ip6_reass_held(): u32 { return held_bytes; }
/** Datagrams being reassembled. */
export function ip6_reass_pending(): i32 {
  let c = 0;
  for (let i = 0; i < IP6_REASS_MAX_DATAGRAMS; i++) if (load<u8>(rs(i), 36) != 0) c++;
  return c;
}

function free_datagram(d: i32, send_te: bool): void {
  for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) {
    const f = fr(i);
    if (load<usize>(f) == 0 || load<u8>(f, 12) != <u8>d) continue;
    const p = changetype<pbuf>(load<usize>(f));
    if (send_te && load<u8>(f, 13) != 0) {
      // RFC 8200 §4.5: time exceeded (code 1) quoting the first fragment.
      icmp6_time_exceeded(p, ICMP6_TE_FRAG);
    }
    held_bytes -= load<u32>(f, 8) - load<u32>(f, 4);
    pbuf_free(p);
    memory.fill(f, 0, FR_SIZE);
  }
  memory.fill(rs(d), 0, RS_SIZE);
}

/** Once a second while datagrams wait: ages them, drops those past IP6_REASS_MAXAGE_S. */
export function ip6_reass_tmr(arg: usize): void {
  let busy = false;
  for (let i = 0; i < IP6_REASS_MAX_DATAGRAMS; i++) {
    const r = rs(i);
    if (load<u8>(r, 36) == 0) continue;
    const age = load<u16>(r, 38) + 1;
    store<u16>(r, age, 38);
    if (<i32>age >= IP6_REASS_MAXAGE_S) {
      STATS_INC(Proto.IP6FRAG, Ctr.DROP);
      free_datagram(i, true);
    } else {
      busy = true;
    }
  }
  if (!busy) {
    sys_untimeout(ip6_reass_tmr, 0);
    timer_armed = false;
  }
}

function drop(p: pbuf, ctr: Ctr): pbuf | null {
  STATS_INC(Proto.IP6FRAG, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.IP6FRAG, Ctr.DROP);
  pbuf_free(p);
  return null;
}

/**
 * Does the first fragment `p` hold the whole header chain after its
 * fragment header at `off`, up to and including the upper-layer header's
 * first bytes (RFC 7112 §5)?
 */
function first_has_chain(p: pbuf, off: u32): bool {
  const h = p.payload;
  const len = p.len;
  let nh = ip6_frag_nexth(h + off);
  let o = off + IP6_FRAG_HLEN;
  while (ip6_nexth_is_ext(nh) && nh != IP6_NEXTH_FRAGMENT) {
    if (o + 2 > len) return false;
    const l = ip6_ext_len(h + o);
    if (o + l > len) return false;
    nh = ip6_ext_nexth(h + o);
    o += l;
  }
  if (nh == IP6_NEXTH_FRAGMENT) return false;
  const need: u32 = nh == IP6_NEXTH_TCP ? 20 : (nh == IP6_NEXTH_UDP || nh == IP6_NEXTH_UDPLITE) ? 8 : nh == IP6_NEXTH_ICMP6 ? 4 : 0;
  return o + need <= len;
}

/**
 * A fragment arrived (p.payload at the IPv6 header, contiguous; its
 * fragment header at `off`, named by the next header field at `nh_field`).
 * Takes ownership of `p`. Returns the reassembled datagram (the fragment
 * header removed, contiguous) once complete, else null.
 */
export function ip6_reass(p: pbuf, off: u32, nh_field: u32, inp: netif): pbuf | null {
  STATS_INC(Proto.IP6FRAG, Ctr.RECV);
  const h = p.payload;
  const e = h + off;
  const start = ip6_frag_offset(e);
  const more = ip6_frag_more(e);
  const plen = <u32>ip6_hdr_plen(h);
  const data_off = off + IP6_FRAG_HLEN;
  if (IP6_HLEN + plen < data_off) return drop(p, Ctr.LENERR);
  const dlen = IP6_HLEN + plen - data_off;
  // RFC 8200 §4.5: non-last fragments are multiples of 8 bytes long.
  if (more && (dlen & 7) != 0) {
    icmp6_param_problem(p, ICMP6_PP_FIELD, 4);
    return drop(p, Ctr.LENERR);
  }
  // RFC 8200 §4.5: never past 65535 bytes of reassembled payload.
  if (start + dlen + (data_off - IP6_HLEN - IP6_FRAG_HLEN) > MAX_PAYLOAD) {
    icmp6_param_problem(p, ICMP6_PP_FIELD, off + 2);
    return drop(p, Ctr.LENERR);
  }
  if (dlen == 0) return drop(p, Ctr.LENERR);
  const src = ip6_hdr_src(h), dst = ip6_hdr_dest(h);
  const id = ip6_frag_id(e);
  // The datagram this belongs to.
  let d: i32 = -1, free_d: i32 = -1;
  for (let i = 0; i < IP6_REASS_MAX_DATAGRAMS; i++) {
    const r = rs(i);
    if (load<u8>(r, 36) == 0) { if (free_d < 0) free_d = i; continue; }
    if (load<u8>(r, 36) == inp.num && load<u32>(r, 32) == id && ip6_addr_eq16(r, src) && ip6_addr_eq16(r + 16, dst)) { d = i; break; }
  }
  if (start == 0 && !first_has_chain(p, off)) {
    // RFC 7112 §5.
    if (d >= 0) free_datagram(d, false);
    icmp6_param_problem(p, ICMP6_PP_FIRST_FRAG, 0);
    return drop(p, Ctr.PROTERR);
  }
  if (d < 0) {
    if (free_d < 0) free_d = evict_oldest(-1);
    if (free_d < 0) return drop(p, Ctr.MEMERR);
    d = free_d;
    const r = rs(d);
    memory.fill(r, 0, RS_SIZE);
    memory.copy(r, src, 16);
    memory.copy(r + 16, dst, 16);
    store<u32>(r, id, 32);
    store<u8>(r, inp.num, 36);
    if (!timer_armed && sys_timeout_cyclic(1000, ip6_reass_tmr, 0) == ERR_OK) timer_armed = true;
  }
  const r = rs(d);
  const end = start + dlen;
  // The last fragment fixes the size; fragments past it, or a second
  // different end, make the datagram inconsistent.
  const total = load<u32>(r, 40);
  if ((!more && total != 0 && total != end) || (total != 0 && end > total)) {
    free_datagram(d, false);
    return drop(p, Ctr.PROTERR);
  }
  // RFC 5722: overlapping fragments drop the datagram; exact duplicates only themselves.
  for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) {
    const f = fr(i);
    if (load<usize>(f) == 0 || load<u8>(f, 12) != <u8>d) continue;
    const s2 = load<u32>(f, 4), e2 = load<u32>(f, 8);
    if (s2 == start && e2 == end) return drop(p, Ctr.DROP);
    // A last fragment that ends before data already held: inconsistent.
    if ((start < e2 && s2 < end) || (!more && e2 > end)) {
      free_datagram(d, false);
      return drop(p, Ctr.PROTERR);
    }
  }
  // Room: a fragment slot and the byte budget (older datagrams make way).
  while (held_bytes + dlen > <u32>IP6_REASS_MAX_BYTES) {
    if (evict_oldest(d) < 0) { return drop(p, Ctr.MEMERR); }
  }
  let slot: i32 = -1;
  for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) if (load<usize>(fr(i)) == 0) { slot = i; break; }
  while (slot < 0) {
    if (evict_oldest(d) < 0) return drop(p, Ctr.MEMERR);
    for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) if (load<usize>(fr(i)) == 0) { slot = i; break; }
  }
  const f = fr(slot);
  store<usize>(f, changetype<usize>(p));
  store<u32>(f, start, 4);
  store<u32>(f, end, 8);
  store<u8>(f, <u8>d, 12);
  store<u8>(f, start == 0 ? 1 : 0, 13);
  store<u16>(f, <u16>off, 14);
  held_bytes += dlen;
  store<u32>(r, load<u32>(r, 44) + dlen, 44);
  if (start == 0) store<u8>(r, 1, 37);
  if (!more) store<u32>(r, end, 40);
  // Complete: a first fragment, the last one, and every byte between.
  const t = load<u32>(r, 40);
  if (t == 0 || load<u8>(r, 37) == 0 || load<u32>(r, 44) != t) return null;
  return assemble(d, nh_field);
}

/** Drops the datagram that has waited longest, other than `keep`. Returns its index, or -1. */
function evict_oldest(keep: i32): i32 {
  let victim: i32 = -1;
  let age: i32 = -1;
  for (let i = 0; i < IP6_REASS_MAX_DATAGRAMS; i++) {
    const r = rs(i);
    if (i == keep || load<u8>(r, 36) == 0) continue;
    if (<i32>load<u16>(r, 38) > age) { age = load<u16>(r, 38); victim = i; }
  }
  if (victim < 0) return -1;
  STATS_INC(Proto.IP6FRAG, Ctr.MEMERR);
  STATS_INC(Proto.IP6FRAG, Ctr.DROP);
  free_datagram(victim, false);
  return victim;
}

/** Builds the whole datagram `d` from its fragments into one pbuf and frees them. */
function assemble(d: i32, nh_field_unused: u32): pbuf | null {
  const r = rs(d);
  const total = load<u32>(r, 40);
  // The first fragment gives the unfragmentable part.
  let first: i32 = -1;
  for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) {
    const f = fr(i);
    if (load<usize>(f) != 0 && load<u8>(f, 12) == <u8>d && load<u8>(f, 13) != 0) { first = i; break; }
  }
  const ff = fr(first);
  const fp = changetype<pbuf>(load<usize>(ff));
  const hoff = <u32>load<u16>(ff, 14);
  const q = pbuf_alloc(pbuf_layer.PBUF_LINK, hoff + total, pbuf_type.PBUF_RAM);
  if (q == null) {
    free_datagram(d, false);
    STATS_INC(Proto.IP6FRAG, Ctr.MEMERR);
    STATS_INC(Proto.IP6FRAG, Ctr.DROP);
    return null;
  }
  const b = q.payload;
  memory.copy(b, fp.payload, hoff);
  // The field that named the fragment header now names what it carried.
  const fh = fp.payload + hoff;
  set_nexth_before(b, hoff, ip6_frag_nexth(fh));
  ip6_hdr_set_plen(b, <u16>(hoff - IP6_HLEN + total));
  for (let i = 0; i < IP6_REASS_MAX_FRAGS; i++) {
    const f = fr(i);
    if (load<usize>(f) == 0 || load<u8>(f, 12) != <u8>d) continue;
    const p = changetype<pbuf>(load<usize>(f));
    const s = load<u32>(f, 4), e = load<u32>(f, 8);
    const doff = <u32>load<u16>(f, 14) + IP6_FRAG_HLEN;
    pbuf_copy_partial(p, b + hoff + s, e - s, doff);
  }
  q.if_idx = fp.if_idx;
  q.flags = fp.flags;
  free_datagram(d, false);
  STATS_INC(Proto.IP6FRAG, Ctr.FW);
  return q;
}

/** Rewrites the next header field that precedes offset `hoff` (the fixed header's, or the last extension's). */
function set_nexth_before(b: usize, hoff: u32, nh: u8): void {
  let field: usize = 6;
  let o: u32 = IP6_HLEN;
  let cur = ip6_hdr_nexth(b);
  while (o < hoff && ip6_nexth_is_ext(cur)) {
    field = <usize>o;
    const l = cur == IP6_NEXTH_FRAGMENT ? IP6_FRAG_HLEN : ip6_ext_len(b + o);
    cur = ip6_ext_nexth(b + o);
    o += l;
  }
  store<u8>(b + field, nh);
}

// ---- fragmentation --------------------------------------------------------------------------

/**
 * Sends the IPv6 packet `p` (payload at its header) on `n` in fragments of
 * at most `mtu` bytes (RFC 8200 §4.5). The unfragmentable part is the
 * fixed header plus a hop-by-hop header if present. The caller keeps `p`.
 */
export function ip6_frag(p: pbuf, n: netif, mtu: u32): err_t {
  const h = p.payload;
  let unfrag: u32 = IP6_HLEN;
  let nh = ip6_hdr_nexth(h);
  let field: u32 = 6;
  if (nh == IP6_NEXTH_HOPBYHOP && p.len >= IP6_HLEN + 8) {
    field = IP6_HLEN;
    unfrag += ip6_ext_len(h + IP6_HLEN);
    nh = ip6_ext_nexth(h + IP6_HLEN);
  }
  if (p.len < unfrag || mtu < unfrag + IP6_FRAG_HLEN + 8) return ERR_MEM;
  const chunk = (mtu - unfrag - IP6_FRAG_HLEN) & ~7;
  const payload = p.tot_len - unfrag;
  const id = asip_random();
  const dest = ip6_hdr_dest(h);
  if (!nd6_next_hop(n, dest, nexthop_buf)) return ERR_MEM;
  let off: u32 = 0;
  let err: err_t = ERR_OK;
  while (off < payload) {
    const len = min<u32>(chunk, payload - off);
    const last = off + len >= payload;
    const q = pbuf_alloc(pbuf_layer.PBUF_LINK, unfrag + IP6_FRAG_HLEN + len, pbuf_type.PBUF_RAM);
    if (q == null) {
      STATS_INC(Proto.IP6FRAG, Ctr.MEMERR);
      return ERR_MEM;
    }
    const b = q.payload;
    memory.copy(b, h, unfrag);
    store<u8>(b + field, IP6_NEXTH_FRAGMENT);
    ip6_hdr_set_plen(b, <u16>(unfrag - IP6_HLEN + IP6_FRAG_HLEN + len));
    ip6_frag_write(b + unfrag, nh, off, !last, id);
    pbuf_copy_partial(p, b + unfrag + IP6_FRAG_HLEN, len, unfrag + off);
    STATS_INC(Proto.IP6FRAG, Ctr.XMIT);
    const r = netif_output6(n, q, nexthop_buf);
    pbuf_free(q);
    if (r != ERR_OK) err = r;
    off += len;
  }
  return err;
}

export { IP6_NEXTH_NONE, netif_get_by_index };
