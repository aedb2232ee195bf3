// ip6: IPv6 input, output, routing and forwarding (RFC 8200; next-hop
// determination RFC 4861 §5.2; lwIP ip6.c's feature set, asip's own code).
//
// Input validates the fixed header (version, payload length against the
// frame), trims link padding, decides whether the packet is ours (one of our
// valid unicast addresses, weak host model; a multicast group we listen to),
// walks the extension headers (RFC 8200 §4: hop-by-hop first and only
// first, destination options, routing, fragment), handles unknown options by
// their action bits (§4.2) and unknown next headers with an ICMPv6 parameter
// problem (§4, RFC 4443 §3.4), reassembles fragments (ip6_frag.ts), offers
// the packet to raw pcbs and hands the payload to TCP, UDP, UDP-Lite or
// ICMPv6 with ip.ts ip_current_*() set. Packets for others are forwarded when
// the stack forwards (ipv4/ip4.ts ip_forward_enabled, one switch for both).
//
// Output prepends the header in the pbuf's header room, picks the source
// address (RFC 6724 §5 basics, netif.ts), loops packets to our own
// addresses back, fragments what exceeds the path MTU (RFC 8201, the
// destination cache in nd6.ts) and hands the packet to the netif's output6
// with its next hop (Neighbor Discovery on Ethernet).

import {
  pbuf, pbuf_free, pbuf_add_header, pbuf_remove_header, pbuf_realloc, pbuf_coalesce, pbuf_layer,
  PBUF_FLAG_LLBCAST, PBUF_FLAG_LLMCAST,
} from "../core/pbuf";
import { err_t, ERR_OK, ERR_BUF, ERR_RTE, ERR_VAL, ERR_IF } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import {
  netif, netif_loop, netif_default, netif_get_by_index, netif_loop_output, netif_output6, NetifKind, NETIF_LAST_IDX,
  NETIF_FLAG_UP, NETIF_FLAG_LINK_UP, netif_ip6_addr, netif_ip6_addr_state, netif_ip6_addr_prefix_len,
  ip6_addr_isvalid, netif_ip6_select_src,
} from "../netif/netif";
import { LWIP_IPV6_NUM_ADDRESSES } from "../config";
import { ip_data_set6, ip_data_clear } from "../ip";
import {
  ip_addr, ip6_addr_ismulticast, ip6_addr_isloopback, ip6_addr_islinklocal, ip6_addr_isany, IP_ADDR_SIZE,
} from "../ip_addr";
import {
  IP6_HLEN, IP6_NEXTH_HOPBYHOP, IP6_NEXTH_DESTOPTS, IP6_NEXTH_ROUTING, IP6_NEXTH_FRAGMENT, IP6_NEXTH_NONE,
  IP6_NEXTH_TCP, IP6_NEXTH_UDP, IP6_NEXTH_UDPLITE, IP6_NEXTH_ICMP6, IP6_PAD1_OPTION, IP6_PADN_OPTION,
  IP6_ROUTER_ALERT_OPTION, IP6_OPT_ACTION_SKIP, IP6_OPT_ACTION_DISCARD, IP6_OPT_ACTION_ICMP, IP6_FRAG_HLEN,
  ip6_hdr_check, Ip6HdrCheck, ip6_hdr_plen, ip6_hdr_nexth, ip6_hdr_hoplim, ip6_hdr_src, ip6_hdr_dest,
  ip6_hdr_set_vtcfl, ip6_hdr_set_plen, ip6_hdr_set_nexth, ip6_hdr_set_hoplim, ip6_hdr_set_src, ip6_hdr_set_dest,
  ip6_ext_nexth, ip6_ext_len, ip6_rout_segments_left, ip6_frag_offset, ip6_frag_more, ip6_hdr_version,
} from "./ip6_hdr";
import { ip_forward_enabled } from "../ipv4/ip4";
import { icmp6_input, icmp6_param_problem, icmp6_time_exceeded, icmp6_packet_too_big, icmp6_dest_unreach,
  ICMP6_PP_FIELD, ICMP6_PP_HEADER, ICMP6_PP_OPTION, ICMP6_TE_HL, ICMP6_DUR_NO_ROUTE, ICMP6_DUR_SCOPE } from "./icmp6";
import { nd6_next_hop, nd6_path_mtu, nd6_link_mtu, nd6_onlink, nd6_router_netif } from "./nd6";
import { mld6_lookfor } from "./mld6";
import { ip6_reass, ip6_frag } from "./ip6_frag";
import { udp_input } from "../udp";
import { tcp_input } from "../tcp/tcp_in";
import { raw_input } from "../raw";

export { IP6_HLEN };

/** The IPv6 header of the packet being delivered (ICMPv6 reads it for replies and errors). */
let cur_header: usize = 0;
export function ip6_current_header(): usize { return cur_header; }

/** Next-hop scratch (16 bytes) for output. */
const nexthop_buf: usize = memory.data(16, 8);
const any_addr: usize = memory.data(16, 8);

// @ts-ignore: decorator
@inline function usable(n: netif): bool {
  return (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) == (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP);
}

function drop(p: pbuf, ctr: Ctr): err_t {
  STATS_INC(Proto.IP6, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.IP6, Ctr.DROP);
  pbuf_free(p);
  return ERR_OK;
}

/** Is `a` (16 bytes) the same as `b`? */
// @ts-ignore: decorator
@inline export function ip6_addr_eq16(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}

/** Do the first `len` bits of `a` and `b` agree? */
export function ip6_prefix_eq(a: usize, b: usize, len: u32): bool {
  if (len > 128) len = 128;
  const bytes = len >> 3;
  if (bytes > 0 && memory.compare(a, b, bytes) != 0) return false;
  const bits = len & 7;
  if (bits == 0) return true;
  const mask = <u8>(<u32>0xff << (8 - bits));
  return (load<u8>(a + bytes) & mask) == (load<u8>(b + bytes) & mask);
}

/** The slot of `n` holding `a` (16 bytes) in a valid state, or -1 (the zone is the caller's business). */
export function ip6_netif_slot_valid(n: netif, a: usize): i32 {
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    if (!ip6_addr_isvalid(netif_ip6_addr_state(n, i))) continue;
    if (ip6_addr_eq16(changetype<usize>(netif_ip6_addr(n, i)), a)) return i;
  }
  return -1;
}

/** The netif, of those up, that owns `a` as a valid address (link-local ones only on `inp`), or null. */
function owner_of(a: usize, inp: netif): netif | null {
  if (ip6_netif_slot_valid(inp, a) >= 0) return inp;
  if (ip6_addr_islinklocal(a)) return null; // scoped to its link (RFC 4007 §5)
  for (let i: u32 = 1; i <= NETIF_LAST_IDX; i++) {
    const n = netif_get_by_index(i);
    if (n == null || n == inp || !(n.flags & NETIF_FLAG_UP)) continue;
    if (ip6_netif_slot_valid(n, a) >= 0) return n;
  }
  return null;
}

/**
 * Do we listen to multicast `a` on `n`: all-nodes (RFC 4291 §2.7.1, always),
 * or a group joined through MLD (solicited-node groups of our addresses
 * included, nd6.ts joins them).
 */
export function ip6_mcast_listening(n: netif, a: usize): bool {
  // ff01::1 and ff02::1
  if (load<u16>(a) == 0x01ff || load<u16>(a) == 0x02ff) {
    if ((load<u64>(a, 2) | load<u32>(a, 10)) == 0 && load<u16>(a, 14) == 0x0100) return true;
  }
  return mld6_lookfor(n, a);
}

/** The multicast scope of `a` (RFC 4291 §2.7), or for unicast 1 (loopback), 2 (link-local), 14 (global). */
export function ip6_addr_scope(a: usize): u8 {
  if (ip6_addr_ismulticast(a)) return load<u8>(a, 1) & 0x0f;
  if (ip6_addr_islinklocal(a)) return 2;
  if (ip6_addr_isloopback(a)) return 1;
  return 14;
}

// ---- input -------------------------------------------------------------------------------

/** What the header walk decided. */
const enum Walk { DELIVER = 0, DROPPED = 1, REASS_WAIT = 2 }

let walk_off: u32 = 0;
let walk_nexth: u8 = 0;
let walk_nexth_field: u32 = 0;
let walk_p: pbuf | null = null;

/**
 * An IPv6 packet arrived on `inp` (p.payload at the IPv6 header). Takes
 * ownership of `p`.
 */
export function ip6_input(p: pbuf, inp: netif): err_t {
  STATS_INC(Proto.IP6, Ctr.RECV);
  // The whole header chain must be readable in place: received frames are
  // one buffer; anything chained is made contiguous first.
  if (p.next != null && p.len < p.tot_len) {
    const q = pbuf_coalesce(p, pbuf_layer.PBUF_LINK);
    if (q == null) return drop(p, Ctr.MEMERR);
    p = q;
  }
  let h = p.payload;
  const bad = ip6_hdr_check(h, p.len, p.tot_len);
  if (bad != Ip6HdrCheck.OK) return drop(p, bad == Ip6HdrCheck.VERSION ? Ctr.ERR : Ctr.LENERR);
  const tot = IP6_HLEN + <u32>ip6_hdr_plen(h);
  if (tot < p.tot_len) pbuf_realloc(p, tot);

  const src = ip6_hdr_src(h);
  const dest = ip6_hdr_dest(h);
  // RFC 4291 §2.7: a multicast source is never legitimate; §2.5.3: ::1
  // never arrives from a link.
  if (ip6_addr_ismulticast(src)) return drop(p, Ctr.DROP);
  if (inp.kind != NetifKind.LOOPBACK && (ip6_addr_isloopback(src) || ip6_addr_isloopback(dest))) return drop(p, Ctr.DROP);

  let n: netif | null = null;
  if (ip6_addr_ismulticast(dest)) {
    // Interface-local scope (ff01::/16) never leaves the node (RFC 4291 §2.7).
    if ((load<u8>(dest, 1) & 0x0f) == 1 && inp.kind != NetifKind.LOOPBACK) return drop(p, Ctr.DROP);
    if (ip6_mcast_listening(inp, dest)) n = inp;
  } else if (ip6_addr_isloopback(dest)) {
    n = inp;
  } else {
    n = owner_of(dest, inp);
  }
  if (n == null) {
    if (ip_forward_enabled && inp.kind != NetifKind.LOOPBACK && !ip6_addr_ismulticast(dest) &&
        (p.flags & (PBUF_FLAG_LLBCAST | PBUF_FLAG_LLMCAST)) == 0) {
      ip6_forward(p, inp);
      return ERR_OK;
    }
    // A tentative address receives nothing but ND (RFC 4862 §5.4), which
    // comes to the solicited-node group: unicast to it is dropped here too.
    return drop(p, Ctr.DROP);
  }

  walk_p = p;
  let reassembled = false;
  for (;;) {
    const w = ip6_walk(changetype<pbuf>(walk_p), inp, reassembled);
    if (w == Walk.DROPPED) return ERR_OK;
    if (w == Walk.REASS_WAIT) return ERR_OK;
    if (walk_nexth != IP6_NEXTH_FRAGMENT) break;
    // A whole datagram again (ip6_frag.ts): walk it from the top.
    reassembled = true;
  }
  p = changetype<pbuf>(walk_p);
  walk_p = null;
  h = p.payload;
  const hlen = walk_off;
  const proto = walk_nexth;

  cur_header = h;
  ip_data_set6(ip6_hdr_src(h), ip6_hdr_dest(h), hlen, proto, n, inp);
  if (proto == IP6_NEXTH_NONE) {
    // RFC 8200 §4.7: nothing follows.
    pbuf_free(p);
  } else if (raw_input(p, inp) == 0) {
    pbuf_remove_header(p, hlen);
    if (proto == IP6_NEXTH_UDP || proto == IP6_NEXTH_UDPLITE) {
      udp_input(p, inp);
    } else if (proto == IP6_NEXTH_TCP) {
      tcp_input(p, inp);
    } else if (proto == IP6_NEXTH_ICMP6) {
      icmp6_input(p, inp);
    } else {
      // RFC 8200 §4: an unrecognized next header is a parameter problem
      // (code 1) pointing at the field that named it.
      pbuf_add_header(p, hlen);
      icmp6_param_problem(p, ICMP6_PP_HEADER, walk_nexth_field);
      STATS_INC(Proto.IP6, Ctr.PROTERR);
      STATS_INC(Proto.IP6, Ctr.DROP);
      pbuf_free(p);
    }
  }
  cur_header = 0;
  ip_data_clear();
  return ERR_OK;
}

/**
 * Walks the extension headers of the packet at walk_p (RFC 8200 §4). On
 * DELIVER, walk_off is the length of the header chain, walk_nexth the upper
 * protocol and walk_nexth_field the offset of the field that names it; when
 * walk_nexth is FRAGMENT, walk_p is a reassembled datagram to walk again.
 */
function ip6_walk(p: pbuf, inp: netif, reassembled: bool): Walk {
  const h = p.payload;
  const len = p.len;
  let off: u32 = IP6_HLEN;
  let nh = ip6_hdr_nexth(h);
  let nh_field: u32 = 6;
  for (;;) {
    if (nh == IP6_NEXTH_HOPBYHOP || nh == IP6_NEXTH_DESTOPTS || nh == IP6_NEXTH_ROUTING) {
      // RFC 8200 §4.3: hop-by-hop options only right after the fixed header.
      if (nh == IP6_NEXTH_HOPBYHOP && off != IP6_HLEN) {
        icmp6_param_problem(p, ICMP6_PP_HEADER, nh_field);
        drop(p, Ctr.PROTERR);
        return Walk.DROPPED;
      }
      if (off + 2 > len) { drop(p, Ctr.LENERR); return Walk.DROPPED; }
      const e = h + off;
      const elen = ip6_ext_len(e);
      if (off + elen > len) { drop(p, Ctr.LENERR); return Walk.DROPPED; }
      if (nh == IP6_NEXTH_ROUTING) {
        // RFC 8200 §4.4: with segments left, an unrecognized routing type
        // (every type here: type 0 is deprecated, RFC 5095 §3) is a
        // parameter problem pointing at the routing type; with none left the
        // header is ignored.
        if (ip6_rout_segments_left(e) != 0) {
          icmp6_param_problem(p, ICMP6_PP_FIELD, off + 2);
          drop(p, Ctr.PROTERR);
          return Walk.DROPPED;
        }
      } else if (!ip6_options_ok(p, e, elen, off)) {
        drop(p, Ctr.OPTERR);
        return Walk.DROPPED;
      }
      nh_field = off;
      nh = ip6_ext_nexth(e);
      off += elen;
      continue;
    }
    if (nh == IP6_NEXTH_FRAGMENT) {
      if (off + IP6_FRAG_HLEN > len) { drop(p, Ctr.LENERR); return Walk.DROPPED; }
      const e = h + off;
      if (ip6_frag_offset(e) == 0 && !ip6_frag_more(e)) {
        // An atomic fragment (RFC 6946 §4): process it as a whole packet.
        nh_field = off;
        nh = ip6_ext_nexth(e);
        off += IP6_FRAG_HLEN;
        continue;
      }
      if (reassembled) { drop(p, Ctr.PROTERR); return Walk.DROPPED; }
      const r = ip6_reass(p, off, nh_field, inp);
      if (r == null) return Walk.REASS_WAIT;
      walk_p = r;
      walk_nexth = IP6_NEXTH_FRAGMENT;
      return Walk.DELIVER;
    }
    walk_off = off;
    walk_nexth = nh;
    walk_nexth_field = nh_field;
    return Walk.DELIVER;
  }
}

/**
 * Checks the options of a hop-by-hop or destination options header at `e`
 * (`elen` bytes, `off` from the IPv6 header) per RFC 8200 §4.2: known ones
 * (Pad1, PadN, Router Alert) pass, unknown ones by the two high bits of their
 * type: skip, discard, or discard and send a parameter problem (code 2,
 * pointing at the option type; the last action only for a unicast
 * destination). False when the packet must be dropped.
 */
function ip6_options_ok(p: pbuf, e: usize, elen: u32, off: u32): bool {
  let i: u32 = 2;
  while (i < elen) {
    const t = load<u8>(e + i);
    if (t == IP6_PAD1_OPTION) { i++; continue; }
    if (i + 2 > elen) return false;
    const olen = <u32>load<u8>(e + i + 1);
    if (i + 2 + olen > elen) return false;
    if (t != IP6_PADN_OPTION && t != IP6_ROUTER_ALERT_OPTION) {
      const action = t & 0xc0;
      if (action == IP6_OPT_ACTION_DISCARD) return false;
      if (action != IP6_OPT_ACTION_SKIP) {
        if (action == IP6_OPT_ACTION_ICMP || !ip6_addr_ismulticast(ip6_hdr_dest(p.payload))) {
          icmp6_param_problem(p, ICMP6_PP_OPTION, off + i);
        }
        return false;
      }
    }
    i += 2 + olen;
  }
  return true;
}

// ---- forwarding (RFC 8200 §3 hop limit, RFC 4443 errors) --------------------------------------

/** Forwards a packet not addressed to us. Takes ownership. */
function ip6_forward(p: pbuf, inp: netif): void {
  const h = p.payload;
  const src = ip6_hdr_src(h), dest = ip6_hdr_dest(h);
  // Link-local traffic and unspecified sources stay on their link (RFC 4291 §2.5.6, §2.5.2).
  if (ip6_addr_islinklocal(dest) || ip6_addr_isany(src)) { drop(p, Ctr.DROP); return; }
  if (ip6_addr_islinklocal(src)) {
    icmp6_dest_unreach(p, ICMP6_DUR_SCOPE);
    drop(p, Ctr.DROP);
    return;
  }
  const out = ip6_route_addr(0, dest, 0);
  if (out == null || out.kind == NetifKind.LOOPBACK) {
    STATS_INC(Proto.IP6, Ctr.RTERR);
    icmp6_dest_unreach(p, ICMP6_DUR_NO_ROUTE);
    drop(p, Ctr.DROP);
    return;
  }
  if (out == inp) {
    // Back where it came from: a router's redirect job we don't do.
    drop(p, Ctr.DROP);
    return;
  }
  const hl = ip6_hdr_hoplim(h);
  if (hl <= 1) {
    icmp6_time_exceeded(p, ICMP6_TE_HL);
    drop(p, Ctr.DROP);
    return;
  }
  ip6_hdr_set_hoplim(h, hl - 1);
  const mtu = nd6_link_mtu(out);
  if (p.tot_len > mtu) {
    // RFC 8200 §5: routers never fragment; tell the source (RFC 4443 §3.2).
    icmp6_packet_too_big(p, mtu);
    drop(p, Ctr.DROP);
    return;
  }
  STATS_INC(Proto.IP6, Ctr.FW);
  STATS_INC(Proto.IP6, Ctr.XMIT);
  if (nd6_next_hop(out, dest, nexthop_buf)) netif_output6(out, p, nexthop_buf);
  pbuf_free(p);
}

// ---- routing ------------------------------------------------------------------------------

/**
 * The netif to reach `dst` (16 bytes; `zone` its scope zone, 0 = none),
 * preferring one that owns `src` (16 bytes or null). RFC 4861 §5.2: the
 * loopback for ::1; a scoped (link-local or link-scope multicast) address
 * goes out its zone; an address on an on-link prefix goes out that link;
 * else the netif of a default router. Null when nothing routes.
 */
export function ip6_route_addr(src: usize, dst: usize, zone: u8): netif | null {
  if (ip6_addr_isloopback(dst)) return netif_loop;
  const scoped = ip6_addr_islinklocal(dst) || (ip6_addr_ismulticast(dst) && (load<u8>(dst, 1) & 0x0f) <= 2);
  if (scoped) {
    if (zone != 0) {
      const z = netif_get_by_index(zone);
      return z != null && usable(z) ? z : null;
    }
    // No zone: the netif that owns the source, else the default one, else
    // the first usable netif (a host with one link needs no zone).
    if (src != 0 && !ip6_addr_isany(src)) {
      for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
        const n = netif_get_by_index(i);
        if (n != null && usable(n) && ip6_netif_slot_valid(n, src) >= 0) return n;
      }
    }
    const d = netif_default;
    if (d != null && usable(d) && d.kind != NetifKind.LOOPBACK) return d;
    for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
      const n = netif_get_by_index(i);
      if (n != null && usable(n)) return n;
    }
    return null;
  }
  // Our own address: out (and back in) through its netif.
  for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
    const n = netif_get_by_index(i);
    if (n != null && usable(n) && ip6_netif_slot_valid(n, dst) >= 0) return n;
  }
  // On-link prefixes: our addresses' prefixes and the RA prefix list. A
  // netif owning the source wins a tie.
  let onlink: netif | null = null;
  for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
    const n = netif_get_by_index(i);
    if (n == null || !usable(n)) continue;
    if (ip6_onlink_addr(n, dst) || nd6_onlink(n, dst)) {
      if (src == 0 || ip6_addr_isany(src) || ip6_netif_slot_valid(n, src) >= 0) return n;
      if (onlink == null) onlink = n;
    }
  }
  if (onlink != null) return onlink;
  return nd6_router_netif(src);
}

/** Is `dst` on a prefix of one of n's static addresses (a prefix length given with the address)? */
export function ip6_onlink_addr(n: netif, dst: usize): bool {
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    if (!ip6_addr_isvalid(netif_ip6_addr_state(n, i))) continue;
    const plen = netif_ip6_addr_prefix_len(n, i);
    if (plen == 0 || plen > 128) continue;
    const a = changetype<usize>(netif_ip6_addr(n, i));
    if (ip6_addr_islinklocal(a)) continue;
    if (ip6_prefix_eq(a, dst, plen)) return true;
  }
  return false;
}

/** ip_route for IPv6 (ip.ts): tagged addresses. */
export function ip6_route(src: ip_addr | null, dst: ip_addr): netif | null {
  return ip6_route_addr(src != null ? changetype<usize>(src) : 0, changetype<usize>(dst), dst.zone != 0 ? dst.zone : (src != null ? src.zone : 0));
}

// ---- output -------------------------------------------------------------------------------

/**
 * Hands a packet with a complete header to `n`: back to ourselves when it
 * is for one of our addresses, fragmented when larger than the path MTU
 * (RFC 8200 §5, ip6_frag.ts), else to n's output6 with its next hop.
 */
export function ip6_output_finish(p: pbuf, n: netif): err_t {
  const h = p.payload;
  const dest = ip6_hdr_dest(h);
  STATS_INC(Proto.IP6, Ctr.XMIT);
  if (n.kind != NetifKind.LOOPBACK && !ip6_addr_ismulticast(dest) && ip6_netif_slot_valid(n, dest) >= 0) {
    return netif_loop_output(n, p);
  }
  if (!usable(n)) return ERR_IF;
  if (n.kind == NetifKind.LOOPBACK) return netif_output6(n, p, dest);
  const mtu = nd6_path_mtu(n, dest);
  if (p.tot_len > mtu) return ip6_frag(p, n, mtu);
  if (!nd6_next_hop(n, dest, nexthop_buf)) {
    STATS_INC(Proto.IP6, Ctr.RTERR);
    return ERR_RTE;
  }
  return netif_output6(n, p, nexthop_buf);
}

/**
 * Sends `p` (payload at the upper-layer header) on `n` with a new IPv6
 * header from `src` (16 bytes; may be ::, as DAD needs) to `dst`. The caller
 * keeps its reference; the payload is back at the upper-layer header when
 * this returns.
 */
export function ip6_output_if_src(p: pbuf, src: usize, dst: usize, hl: u8, tc: u8, nexth: u8, n: netif): err_t {
  if (pbuf_add_header(p, IP6_HLEN) != 0) {
    STATS_INC(Proto.IP6, Ctr.ERR);
    return ERR_BUF;
  }
  if (p.tot_len - IP6_HLEN > 0xffff) {
    pbuf_remove_header(p, IP6_HLEN);
    STATS_INC(Proto.IP6, Ctr.LENERR);
    return ERR_VAL;
  }
  const h = p.payload;
  ip6_hdr_set_vtcfl(h, tc, 0);
  ip6_hdr_set_plen(h, <u16>(p.tot_len - IP6_HLEN));
  ip6_hdr_set_nexth(h, nexth);
  ip6_hdr_set_hoplim(h, hl);
  ip6_hdr_set_src(h, src);
  ip6_hdr_set_dest(h, dst);
  const err = ip6_output_finish(p, n);
  pbuf_remove_header(p, IP6_HLEN);
  return err;
}

/**
 * ip_output_if for IPv6 (ip.ts): `src` null or :: means n's best source for
 * `dst` (RFC 6724 §5). ERR_RTE when `n` has no usable source address.
 */
export function ip6_output_if(p: pbuf, src: ip_addr | null, dst: ip_addr, hl: u8, tc: u8, nexth: u8, n: netif): err_t {
  let s: usize = src != null ? changetype<usize>(src) : 0;
  if (s == 0 || ip6_addr_isany(s)) {
    const sel = netif_ip6_select_src(n, dst);
    if (sel == null) {
      STATS_INC(Proto.IP6, Ctr.RTERR);
      return ERR_RTE;
    }
    s = changetype<usize>(sel);
  }
  return ip6_output_if_src(p, s, changetype<usize>(dst), hl, tc, nexth, n);
}

/**
 * Sends `p` whose payload already starts with an IPv6 header (raw pcbs
 * with a header included): the payload length is set from the packet.
 */
export function ip6_output_if_hdrincl(p: pbuf, n: netif): err_t {
  if (p.len < IP6_HLEN || ip6_hdr_version(p.payload) != 6 || p.tot_len - IP6_HLEN > 0xffff) return ERR_VAL;
  ip6_hdr_set_plen(p.payload, <u16>(p.tot_len - IP6_HLEN));
  return ip6_output_finish(p, n);
}

/** The unspecified address (16 zero bytes). */
export function ip6_any(): usize { return any_addr; }
export { IP_ADDR_SIZE };
