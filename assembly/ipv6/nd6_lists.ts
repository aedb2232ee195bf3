// nd6_lists: the conceptual data structures of Neighbor Discovery other than
// the neighbour cache (RFC 4861 §5.1): the destination cache (next hop per
// destination, redirects §8.3, path MTU RFC 8201), the prefix list (on-link
// prefixes from RAs), the default router list (from RAs, or static from the
// host), and the RDNSS servers RAs announce (RFC 8106); next-hop
// determination (§5.2) over them. nd6.ts fills them from RAs and redirects
// and ticks them once a second.
//
// Event types (rings.ts): 3 EV_ND6_RDNSS — a DNS server from an RA:
// handle = netif index, a = slot (0..ND6_NUM_RDNSS-1), b = lifetime (s, 0 =
// withdrawn), c = the address (ip_addr pointer, EV_FLAG_IP6).

import { err_t, ERR_OK, ERR_MEM } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { ev_push_flags, ev_addr, EV_FLAG_IP6 } from "../core/rings";
import { ND6_NUM_DESTINATIONS, ND6_NUM_PREFIXES, ND6_NUM_ROUTERS, ND6_NUM_RDNSS } from "../config";
import { netif, netif_get_by_index, NETIF_FLAG_UP, NETIF_FLAG_LINK_UP, NetifKind } from "../netif/netif";
import { ip_addr, ip_addr_set_ip6, ip6_addr_ismulticast, ip6_addr_islinklocal, ip6_addr_isany, IP_ADDR_SIZE } from "../ip_addr";
import { IP6_MIN_MTU } from "./ip6_hdr";
import { ip6_addr_eq16, ip6_prefix_eq, ip6_netif_slot_valid, ip6_onlink_addr, ip6_route_addr } from "./ip6";
import { nd6_arm_timer, nd6_link_mtu, nd6_neighbor_state, ND6_NO_ENTRY, ND6_INCOMPLETE } from "./nd6";

export const EV_ND6_RDNSS: u16 = 3;
/** RFC 8201 §4: a lowered path MTU is raised again after at least 5 minutes; Linux waits 10. */
const PMTU_AGE_S: u32 = 600;
const INFINITE: u32 = 0xffffffff;
const addr_tmp: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

//   struct nd6_destination (DC_SIZE = 40 bytes):
//   +0 dest 16  +16 nexthop 16  +32 pmtu u32 (0 = the link's)  +36 if_idx u8
//   +37 state u8 (0 free, 1 next hop known, 2 next hop to choose again)
//   +38 pmtu_age u16 (tens of seconds until a learned path MTU is forgotten)
const DC_SIZE: usize = 40;
const dc_table: usize = memory.data(<i32>(<usize>ND6_NUM_DESTINATIONS * DC_SIZE), 8);
// @ts-ignore: decorator
@inline function dc(i: i32): usize { return dc_table + <usize>i * DC_SIZE; }
let dc_next: i32 = 0;

//   struct nd6_prefix (PF_SIZE = 24 bytes): +0 prefix 16  +16 if_idx u8
//   +17 len u8  +20 valid u32 (seconds left, INFINITE = forever; entry free when if_idx 0)
const PF_SIZE: usize = 24;
const pf_table: usize = memory.data(<i32>(<usize>ND6_NUM_PREFIXES * PF_SIZE), 8);
// @ts-ignore: decorator
@inline function pf(i: i32): usize { return pf_table + <usize>i * PF_SIZE; }

//   struct nd6_router (RT_SIZE = 24 bytes): +0 addr 16 (link-local)  +16 if_idx u8
//   +20 lifetime u32 (seconds left; entry free when if_idx 0)
const RT_SIZE: usize = 24;
const rt_table: usize = memory.data(<i32>(<usize>ND6_NUM_ROUTERS * RT_SIZE), 8);
// @ts-ignore: decorator
@inline function rt(i: i32): usize { return rt_table + <usize>i * RT_SIZE; }

//   struct nd6_rdnss (RD_SIZE = 24 bytes): +0 addr 16  +16 if_idx u8  +20 lifetime u32
const RD_SIZE: usize = 24;
const rd_table: usize = memory.data(<i32>(<usize>ND6_NUM_RDNSS * RD_SIZE), 8);
// @ts-ignore: decorator
@inline function rd(i: i32): usize { return rd_table + <usize>i * RD_SIZE; }


export function nd6_lists_init(): void {
  memory.fill(dc_table, 0, <usize>ND6_NUM_DESTINATIONS * DC_SIZE);
  memory.fill(pf_table, 0, <usize>ND6_NUM_PREFIXES * PF_SIZE);
  memory.fill(rt_table, 0, <usize>ND6_NUM_ROUTERS * RT_SIZE);
  memory.fill(rd_table, 0, <usize>ND6_NUM_RDNSS * RD_SIZE);
  dc_next = 0;
  dc_last = 0;
}

/** Forgets the lists' entries of `n`; with `keep_static`, static routers stay. */
export function nd6_lists_cleanup(n: netif, keep_static: bool): void {
  for (let i = 0; i < ND6_NUM_ROUTERS; i++) {
    if (load<u8>(rt(i), 16) == n.num && !(keep_static && load<u32>(rt(i), 20) == INFINITE)) memory.fill(rt(i), 0, RT_SIZE);
  }
  for (let i = 0; i < ND6_NUM_PREFIXES; i++) if (load<u8>(pf(i), 16) == n.num) memory.fill(pf(i), 0, PF_SIZE);
  for (let i = 0; i < ND6_NUM_RDNSS; i++) if (load<u8>(rd(i), 16) == n.num) memory.fill(rd(i), 0, RD_SIZE);
  for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) if (load<u8>(dc(i), 36) == n.num) memory.fill(dc(i), 0, DC_SIZE);
}

/** One second passed (nd6_tmr): lifetimes and path MTU ages. Returns whether anything still ticks. */
export function nd6_lists_tmr(ticks: u32): bool {
  let busy = false;
  for (let i = 0; i < ND6_NUM_ROUTERS; i++) {
    const r = rt(i);
    if (load<u8>(r, 16) == 0) continue;
    const l = load<u32>(r, 20);
    if (l == INFINITE) continue; // a static default router (nd6_add_static_router)
    if (l <= 1) { nd6_router_remove(changetype<netif>(netif_get_by_index(load<u8>(r, 16))), r); continue; }
    store<u32>(r, l - 1, 20);
    busy = true;
  }
  for (let i = 0; i < ND6_NUM_PREFIXES; i++) {
    const e = pf(i);
    if (load<u8>(e, 16) == 0) continue;
    const l = load<u32>(e, 20);
    if (l == INFINITE) continue;
    if (l <= 1) { memory.fill(e, 0, PF_SIZE); continue; }
    store<u32>(e, l - 1, 20);
    busy = true;
  }
  for (let i = 0; i < ND6_NUM_RDNSS; i++) {
    const e = rd(i);
    if (load<u8>(e, 16) == 0) continue;
    const l = load<u32>(e, 20);
    if (l == INFINITE) continue;
    const n = netif_get_by_index(load<u8>(e, 16));
    if (l <= 1 || n == null) {
      store<u32>(e, 0, 20);
      if (n != null) rdnss_report(n, i);
      memory.fill(e, 0, RD_SIZE);
      continue;
    }
    store<u32>(e, l - 1, 20);
    busy = true;
  }
  if (ticks % 10 == 0) {
    for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) {
      const d = dc(i);
      if (load<u8>(d, 37) == 0 || load<u32>(d, 32) == 0) continue;
      const age = load<u16>(d, 38);
      if (age <= 1) { store<u32>(d, 0, 32); continue; } // RFC 8201 §4: try the larger MTU again
      store<u16>(d, age - 1, 38);
    }
  }
  for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) {
    const d = dc(i);
    if (load<u8>(d, 37) != 0 && load<u32>(d, 32) != 0) { busy = true; break; }
  }
  return busy;
}

// ---- routers, prefixes, RDNSS -----------------------------------------------------------------

/** Adds or refreshes default router `a` on `n` for `lifetime` seconds (§6.3.4). */
export function nd6_router_update(n: netif, a: usize, lifetime: u32): void {
  let free: i32 = -1;
  for (let i = 0; i < ND6_NUM_ROUTERS; i++) {
    const r = rt(i);
    if (load<u8>(r, 16) == 0) { if (free < 0) free = i; continue; }
    if (load<u8>(r, 16) == n.num && ip6_addr_eq16(r, a)) { store<u32>(r, lifetime, 20); return; }
  }
  if (free < 0) return; // §6.3.4: a host may ignore routers beyond what it keeps
  const r = rt(free);
  memory.copy(r, a, 16);
  store<u8>(r, n.num, 16);
  store<u32>(r, lifetime, 20);
}

/**
 * A default router configured by the host (no RA): `a` (16 bytes, a
 * link-local or on-link address) on `n`, never expiring. ERR_MEM when the
 * router list is full.
 */
export function nd6_add_static_router(n: netif, a: usize): err_t {
  nd6_router_update(n, a, INFINITE);
  for (let i = 0; i < ND6_NUM_ROUTERS; i++) if (load<u8>(rt(i), 16) == n.num && ip6_addr_eq16(rt(i), a)) return ERR_OK;
  return ERR_MEM;
}

/** Removes a default router of `n` (static or learned). */
export function nd6_remove_router(n: netif, a: usize): void { nd6_router_remove(n, a); }

/** Removes default router `a` of `n`; its destinations choose again (§6.3.5). */
export function nd6_router_remove(n: netif, a: usize): void {
  for (let i = 0; i < ND6_NUM_ROUTERS; i++) {
    const r = rt(i);
    if (load<u8>(r, 16) == n.num && ip6_addr_eq16(r, a)) {
      memory.fill(r, 0, RT_SIZE);
      // §6.3.5: destinations using it pick a new next hop.
      nd6_dc_flush_nexthop(a);
    }
  }
}

/** An on-link prefix from an RA (§6.3.4): added, refreshed, or (valid 0) removed. */
export function nd6_prefix_update(n: netif, prefix: usize, plen: u8, valid: u32): void {
  let free: i32 = -1;
  for (let i = 0; i < ND6_NUM_PREFIXES; i++) {
    const e = pf(i);
    if (load<u8>(e, 16) == 0) { if (free < 0) free = i; continue; }
    if (load<u8>(e, 16) == n.num && load<u8>(e, 17) == plen && ip6_prefix_eq(e, prefix, plen)) {
      if (valid == 0) { memory.fill(e, 0, PF_SIZE); dc_flush_netif(n); }
      else store<u32>(e, valid, 20);
      return;
    }
  }
  if (valid == 0 || free < 0) return;
  const e = pf(free);
  memory.fill(e, 0, 16);
  memory.copy(e, prefix, (<usize>plen + 7) >> 3);
  store<u8>(e, n.num, 16);
  store<u8>(e, plen, 17);
  store<u32>(e, valid, 20);
  dc_flush_netif(n);
}

/** An RDNSS server from an RA (RFC 8106 §5.1): added, refreshed, or (lifetime 0) withdrawn; the host is told. */
export function nd6_rdnss_update(n: netif, a: usize, life: u32): void {
  let slot: i32 = -1, free: i32 = -1;
  for (let i = 0; i < ND6_NUM_RDNSS; i++) {
    const e = rd(i);
    if (load<u8>(e, 16) == 0) { if (free < 0) free = i; continue; }
    if (load<u8>(e, 16) == n.num && ip6_addr_eq16(e, a)) { slot = i; break; }
  }
  if (slot < 0) {
    if (life == 0 || free < 0) return;
    slot = free;
    memory.copy(rd(slot), a, 16);
    store<u8>(rd(slot), n.num, 16);
  }
  const e = rd(slot);
  const was = load<u32>(e, 20);
  store<u32>(e, life, 20);
  if (life == 0 || was == 0) rdnss_report(n, slot);
  if (life == 0) memory.fill(e, 0, RD_SIZE);
}

function rdnss_report(n: netif, slot: i32): void {
  const e = rd(slot);
  const a = changetype<ip_addr>(addr_tmp);
  ip_addr_set_ip6(a, e, ip6_addr_islinklocal(e) ? n.num : 0);
  ev_push_flags(EV_ND6_RDNSS, EV_FLAG_IP6, n.num, null, <u32>slot, load<u32>(e, 20), ev_addr(a, 0), 0, 0);
}

/** Is `dst` on an on-link prefix of `n` from Router Advertisements? */
export function nd6_onlink(n: netif, dst: usize): bool {
  for (let i = 0; i < ND6_NUM_PREFIXES; i++) {
    const e = pf(i);
    if (load<u8>(e, 16) == n.num && ip6_prefix_eq(e, dst, load<u8>(e, 17))) return true;
  }
  return false;
}

/**
 * A default router to use (§6.3.6): one whose neighbour entry is not known
 * to be unreachable, preferring the netif that owns `src`; its index in
 * the router list, or -1.
 */
function router_select(src: usize): i32 {
  let fallback: i32 = -1;
  for (let i = 0; i < ND6_NUM_ROUTERS; i++) {
    const r = rt(i);
    const idx = load<u8>(r, 16);
    if (idx == 0) continue;
    const n = netif_get_by_index(idx);
    if (n == null || (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) != (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) continue;
    if (src != 0 && !ip6_addr_isany(src) && ip6_netif_slot_valid(n, src) < 0) { if (fallback < 0) fallback = i; continue; }
    const st = nd6_neighbor_state(n, r);
    if (st != ND6_NO_ENTRY && st != ND6_INCOMPLETE) return i;
    if (fallback < 0) fallback = i;
  }
  return fallback;
}

/** The netif of a default router (for off-link destinations), or null. */
export function nd6_router_netif(src: usize): netif | null {
  const i = router_select(src);
  return i < 0 ? null : netif_get_by_index(load<u8>(rt(i), 16));
}

// ---- the destination cache (§5.1, RFC 8201) ---------------------------------------------

/** The last entry found: a bulk flow asks for the same destination every packet. */
let dc_last: i32 = 0;

function dc_lookup(n: netif, dest: usize): i32 {
  let d = dc(dc_last);
  if (load<u8>(d, 37) != 0 && load<u8>(d, 36) == n.num && ip6_addr_eq16(d, dest)) return dc_last;
  for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) {
    d = dc(i);
    if (load<u8>(d, 37) != 0 && load<u8>(d, 36) == n.num && ip6_addr_eq16(d, dest)) { dc_last = i; return i; }
  }
  return -1;
}

/**
 * The first hop chosen for `dest` (the destination cache's, on any netif),
 * else `dest` itself: the neighbour a reachability hint is about.
 */
export function nd6_first_hop_of(dest: usize): usize {
  let d = dc(dc_last);
  if (load<u8>(d, 37) != 1 || !ip6_addr_eq16(d, dest)) {
    const i = dc_find_any(dest);
    if (i < 0) return dest;
    d = dc(i);
    if (load<u8>(d, 37) != 1) return dest;
  }
  return d + 16;
}

function dc_find_any(dest: usize): i32 {
  for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) {
    const d = dc(i);
    if (load<u8>(d, 37) != 0 && ip6_addr_eq16(d, dest)) return i;
  }
  return -1;
}

/** Destinations whose next hop is `hop` choose again (a router went away, §7.3.3). */
export function nd6_dc_flush_nexthop(hop: usize): void {
  for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) {
    const d = dc(i);
    if (load<u8>(d, 37) != 0 && ip6_addr_eq16(d + 16, hop)) {
      // Keep a learned path MTU: it belongs to the destination, not the hop.
      if (load<u32>(d, 32) == 0) memory.fill(d, 0, DC_SIZE);
      else store<u8>(d, 2, 37); // next hop to be chosen again
    }
  }
}

function dc_flush_netif(n: netif): void {
  for (let i = 0; i < ND6_NUM_DESTINATIONS; i++) {
    const d = dc(i);
    if (load<u8>(d, 37) != 0 && load<u8>(d, 36) == n.num) {
      if (load<u32>(d, 32) == 0) memory.fill(d, 0, DC_SIZE);
      else store<u8>(d, 2, 37);
    }
  }
}

/** A destination cache entry for `dest` on `n` (round-robin replacement). */
function dc_new(n: netif, dest: usize): i32 {
  let i = -1;
  for (let k = 0; k < ND6_NUM_DESTINATIONS; k++) if (load<u8>(dc(k), 37) == 0) { i = k; break; }
  if (i < 0) { i = dc_next; dc_next = (dc_next + 1) % ND6_NUM_DESTINATIONS; }
  const d = dc(i);
  memory.fill(d, 0, DC_SIZE);
  memory.copy(d, dest, 16);
  store<u8>(d, n.num, 36);
  store<u8>(d, 2, 37);
  return i;
}

/**
 * The next hop to `dest` out of `n` at `out` (16 bytes), §5.2: multicast
 * and link-local destinations and those on an on-link prefix directly, else
 * the destination cache's hop (a redirect's), else a default router. A
 * destination with no router is assumed on-link on point-to-point and
 * loopback links only. False when there is no next hop.
 */
export function nd6_next_hop(n: netif, dest: usize, out: usize): bool {
  if (ip6_addr_ismulticast(dest) || ip6_addr_islinklocal(dest) || n.kind != NetifKind.HOST_ETHERNET) {
    memory.copy(out, dest, 16);
    return true;
  }
  let i = dc_lookup(n, dest);
  if (i >= 0 && load<u8>(dc(i), 37) == 1) {
    memory.copy(out, dc(i) + 16, 16);
    return true;
  }
  // Decide the hop now and remember it.
  let hop: usize = 0;
  if (ip6_onlink_any(n, dest)) {
    hop = dest;
  } else {
    const r = router_select(0);
    if (r >= 0 && load<u8>(rt(r), 16) == n.num) hop = rt(r);
    else {
      // Any router on this netif at all?
      for (let k = 0; k < ND6_NUM_ROUTERS; k++) if (load<u8>(rt(k), 16) == n.num) { hop = rt(k); break; }
    }
  }
  if (hop == 0) return false;
  if (i < 0) i = dc_new(n, dest);
  memory.copy(dc(i) + 16, hop, 16);
  store<u8>(dc(i), 1, 37);
  memory.copy(out, hop, 16);
  return true;
}

/** On-link by an address prefix of ours or an RA prefix. */
function ip6_onlink_any(n: netif, dest: usize): bool {
  if (nd6_onlink(n, dest)) return true;
  return ip6_onlink_addr_nd(n, dest);
}

function ip6_onlink_addr_nd(n: netif, dest: usize): bool { return ip6_onlink_addr(n, dest); }

/** The path MTU to `dest` out of `n` (RFC 8201): the destination cache's, else the link's. */
export function nd6_path_mtu(n: netif, dest: usize): u32 {
  const link = nd6_link_mtu(n);
  const i = dc_lookup(n, dest);
  if (i < 0) return link;
  const m = load<u32>(dc(i), 32);
  return m != 0 && m < link ? m : link;
}

/** A Packet Too Big said the path to `dest` carries at most `mtu` bytes (RFC 8201 §4). */
export function nd6_pmtu_update(dest: usize, mtu: u32): void {
  if (mtu < IP6_MIN_MTU) mtu = IP6_MIN_MTU;
  let i = dc_find_any(dest);
  if (i < 0) {
    // Learn it on the netif the destination routes through.
    const n = route_netif(dest);
    if (n == null) return;
    i = dc_new(n, dest);
  }
  const d = dc(i);
  const cur = load<u32>(d, 32);
  if (cur != 0 && cur <= mtu) return; // §4: only ever lowered by a PTB
  store<u32>(d, mtu, 32);
  store<u16>(d, <u16>(PMTU_AGE_S / 10), 38);
  STATS_INC(Proto.ND6, Ctr.CACHEHIT);
  nd6_arm_timer();
}

function route_netif(dest: usize): netif | null { return ip6_route_addr(0, dest, 0); }


/** A redirect from `src` for `dest` on `n` (§8.1: only from the current first hop): the hop becomes `target`. */
export function nd6_redirect_update(n: netif, dest: usize, src: usize, target: usize): bool {
  const d = dc_lookup(n, dest);
  if (d < 0 || !ip6_addr_eq16(dc(d) + 16, src)) return false;
  memory.copy(dc(d) + 16, target, 16);
  return true;
}

// ---- inspection (abi/ip6.ts, tests) --------------------------------------------------------

//   router / prefix / RDNSS record (ND6_LIST_INFO_SIZE = 24 bytes):
//   +0 address or prefix 16  +16 netif u8  +17 prefix length u8  +20 lifetime u32 (s)
export const ND6_LIST_INFO_SIZE: usize = 24;
export const ND6_LIST_ROUTERS: u32 = 0;
export const ND6_LIST_PREFIXES: u32 = 1;
export const ND6_LIST_RDNSS: u32 = 2;

/** Writes entry `i` of list `which` (ND6_LIST_*) at `out`; returns its netif index (0 = empty), -1 past the end. */
export function nd6_list_info(which: u32, i: i32, out: usize): i32 {
  let e: usize = 0;
  if (which == ND6_LIST_ROUTERS) { if (i < 0 || i >= ND6_NUM_ROUTERS) return -1; e = rt(i); }
  else if (which == ND6_LIST_PREFIXES) { if (i < 0 || i >= ND6_NUM_PREFIXES) return -1; e = pf(i); }
  else if (which == ND6_LIST_RDNSS) { if (i < 0 || i >= ND6_NUM_RDNSS) return -1; e = rd(i); }
  else return -1;
  memory.copy(out, e, 16);
  store<u8>(out, load<u8>(e, 16), 16);
  store<u8>(out, which == ND6_LIST_PREFIXES ? load<u8>(e, 17) : 0, 17);
  store<u16>(out, 0, 18);
  store<u32>(out, load<u32>(e, 20), 20);
  return load<u8>(e, 16);
}

/** The cached path MTU for `dest` (0 when none is learned). */
export function nd6_pmtu_of(dest: usize): u32 {
  const i = dc_find_any(dest);
  return i < 0 ? 0 : load<u32>(dc(i), 32);
}

