// nd6: Neighbor Discovery for IPv6 (RFC 4861; lwIP nd6.c's feature set,
// asip's own code): the messages, the neighbour cache, Ethernet output.
// The destination cache, prefix list, default router list and RDNSS servers
// are nd6_lists.ts; address autoconfiguration and DAD are slaac.ts.
//
// The neighbour cache maps on-link IPv6 addresses to link-layer addresses
// with Neighbor Unreachability Detection (§7.3.2): INCOMPLETE (resolving by
// multicast NS, packets queued, at most ND6_QUEUE_LEN of them, as etharp
// does), REACHABLE (confirmed within ReachableTime), STALE (unconfirmed, still
// used), DELAY (used while stale: wait for an upper-layer hint), PROBE
// (unicast NS until confirmed or given up). Router Advertisements fill the
// default router list (§6.3.4, lifetime 0 removes), the prefix list (on-link
// prefixes with the L flag, §6.3.4; the A flag goes to slaac.ts), the link
// MTU (§4.6.4), ReachableTime/RetransTimer and RDNSS servers (RFC 8106).
// The destination cache (§5.1) keeps a next hop per destination (redirects,
// §8.3) and its path MTU (RFC 8201). Every ND message must arrive with hop
// limit 255 and options of non-zero length (§6.1, §7.1), or it is dropped.
//
// Ethernet netifs send IPv6 through nd6_output (their output6): multicast
// maps to 33:33 + the low 32 bits of the group (RFC 2464 §7), unicast next
// hops are resolved in the cache.
//
// Times are counted in ND6_TMR_INTERVAL ticks of one second; the timer runs
// only while something ages (an idle stack schedules nothing).
//
// Event types (rings.ts): 3 EV_ND6_RDNSS — a DNS server from an RA (RFC 8106):
// handle = netif index, a = slot (0..ND6_NUM_RDNSS-1), b = lifetime (s, 0 =
// withdrawn), c = the address (ip_addr pointer, EV_FLAG_IP6).

import { pbuf, pbuf_alloc, pbuf_free, pbuf_clone, pbuf_copy_partial, pbuf_layer, pbuf_type } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_RTE, ERR_ARG } from "../core/err";
import { MEMP, memp_malloc, memp_free } from "../core/memp";
import { STATS_INC, STATS_ADD, Proto, Ctr } from "../core/stats";
import { sys_timeout_cyclic, sys_untimeout } from "../core/timeouts";
import { asip_random } from "../core/random";
import { ev_push_flags, ev_addr, EV_FLAG_IP6 } from "../core/rings";
import {
  ND6_NUM_NEIGHBORS, ND6_NUM_DESTINATIONS, ND6_NUM_PREFIXES, ND6_NUM_ROUTERS, ND6_NUM_RDNSS, ND6_QUEUE_LEN,
  LWIP_IPV6_NUM_ADDRESSES,
} from "../config";
import {
  netif, netif_hwaddr, netif_get_by_index, netif_ip6_addr, netif_ip6_addr_state, netif_ip6_select_src,
  NETIF_LAST_IDX, NETIF_FLAG_UP, NETIF_FLAG_LINK_UP, NetifKind, ip6_addr_isvalid, ip6_addr_istentative,
} from "../netif/netif";
import { ethernet_output, ETHTYPE_IPV6, mac_eq } from "../netif/ethernet";
import { ip_addr, ip_addr_set_ip6, ip6_addr_ismulticast, ip6_addr_islinklocal, ip6_addr_isany, IP_ADDR_SIZE } from "../ip_addr";
import { ip_current_src_addr, ip_current_dest_addr } from "../ip";
import { IP6_NEXTH_ICMP6, IP6_MIN_MTU, ip6_hdr_hoplim } from "./ip6_hdr";
import {
  ip6_current_header, ip6_output_if_src, ip6_addr_eq16, ip6_prefix_eq, ip6_netif_slot_valid, ip6_any,
  ip6_onlink_addr, ip6_route_addr,
} from "./ip6";
import {
  ICMP6_RS, ICMP6_RA, ICMP6_NS, ICMP6_NA, ICMP6_RD, icmp6_fill_chksum, icmp6_hdr_code,
} from "./icmp6";
import {
  nd6_lists_init, nd6_lists_tmr, nd6_lists_cleanup, nd6_dc_flush_nexthop, nd6_redirect_update, nd6_router_update,
  nd6_router_remove, nd6_prefix_update, nd6_rdnss_update, nd6_first_hop_of,
} from "./nd6_lists";
// The lists' API, for ip6.ts, icmp6.ts, the ABI and tests.
export {
  nd6_next_hop, nd6_path_mtu, nd6_pmtu_update, nd6_onlink, nd6_router_netif, nd6_add_static_router, nd6_remove_router,
  nd6_list_info, nd6_pmtu_of, ND6_LIST_INFO_SIZE, ND6_LIST_ROUTERS, ND6_LIST_PREFIXES, ND6_LIST_RDNSS, EV_ND6_RDNSS,
} from "./nd6_lists";
import { slaac_dad_ns_input, slaac_dad_na_input, slaac_prefix, slaac_tmr, slaac_needs_timer, slaac_netif_changed,
  slaac_ra_received } from "./slaac";

// ---- protocol constants (RFC 4861 §10) -----------------------------------------------------
export const ND6_TMR_INTERVAL: u32 = 1000;
export const ND6_HOPLIM: u8 = 255;
const MAX_MULTICAST_SOLICIT: u8 = 3;
const MAX_UNICAST_SOLICIT: u8 = 3;
/** Ticks in DELAY before the first probe. */
const DELAY_FIRST_PROBE_TIME: u32 = 5;
const REACHABLE_TIME_MS: u32 = 30000;
const RETRANS_TIMER_MS: u32 = 1000;
export const MAX_RTR_SOLICITATIONS: u8 = 3;
/** Ticks between router solicitations (RTR_SOLICITATION_INTERVAL, 4 s). */
export const RTR_SOLICITATION_INTERVAL: u8 = 4;

// Message types' fixed parts.
export const ND6_NS_LEN: u32 = 24;
export const ND6_NA_LEN: u32 = 24;
export const ND6_RS_LEN: u32 = 8;
export const ND6_RA_LEN: u32 = 16;
export const ND6_RD_LEN: u32 = 40;
export const ND6_NA_FLAG_ROUTER: u8 = 0x80;
export const ND6_NA_FLAG_SOLICITED: u8 = 0x40;
export const ND6_NA_FLAG_OVERRIDE: u8 = 0x20;
export const ND6_RA_FLAG_MANAGED: u8 = 0x80;
export const ND6_RA_FLAG_OTHER: u8 = 0x40;

// Options (§4.6, RFC 8106 §5.1, RFC 7527 nonce = RFC 3971 §5.3.2).
export const ND6_OPT_SLLAO: u8 = 1;
export const ND6_OPT_TLLAO: u8 = 2;
export const ND6_OPT_PREFIX: u8 = 3;
export const ND6_OPT_REDIR_HDR: u8 = 4;
export const ND6_OPT_MTU: u8 = 5;
export const ND6_OPT_NONCE: u8 = 14;
export const ND6_OPT_RDNSS: u8 = 25;
export const ND6_PREFIX_FLAG_ONLINK: u8 = 0x80;
export const ND6_PREFIX_FLAG_AUTO: u8 = 0x40;


// Neighbour states (§7.3.2).
export const ND6_NO_ENTRY: u8 = 0;
export const ND6_INCOMPLETE: u8 = 1;
export const ND6_REACHABLE: u8 = 2;
export const ND6_STALE: u8 = 3;
export const ND6_DELAY: u8 = 4;
export const ND6_PROBE: u8 = 5;

const INFINITE: u32 = 0xffffffff;

// ---- the neighbour cache ---------------------------------------------------------------------
//
//   struct nd6_neighbor (NB_SIZE = 40 bytes), a static table:
//   +0  q        usize   first queued packet (ARP_QUEUE pool entries: next, p)
//   +4  addr     16 bytes
//   +20 mac      6 bytes
//   +26 state    u8      ND6_*
//   +27 if_idx   u8
//   +28 timer    u32     ticks left in this state
//   +32 probes   u8      solicitations sent in this state
//   +33 qlen     u8
//   +34 router   u8      IsRouter (§7.2.5)
//   +35          u8
//   +36 used     u32     tick of last use (LRU recycling)
const NB_SIZE: usize = 40;
const nb_table: usize = memory.data(<i32>(<usize>ND6_NUM_NEIGHBORS * NB_SIZE), 8);
// @ts-ignore: decorator
@inline function nb(i: i32): usize { return nb_table + <usize>i * NB_SIZE; }
// @ts-ignore: decorator
@inline function nb_state(e: usize): u8 { return load<u8>(e, 26); }
// @ts-ignore: decorator
@inline function nb_set_state(e: usize, s: u8): void { store<u8>(e, s, 26); }
// @ts-ignore: decorator
@inline function nb_if(e: usize): u8 { return load<u8>(e, 27); }

// Per-netif parameters (by netif index), from RAs (§6.3.4) or defaults.
const IFS: usize = 16;
const if_mtu: usize = memory.data(<i32>(IFS * 4), 4);
const if_reachable: usize = memory.data(<i32>(IFS * 4), 4);
const if_retrans: usize = memory.data(<i32>(IFS * 4), 4);
const if_hoplim: usize = memory.data(<i32>IFS);
const if_ra_flags: usize = memory.data(<i32>IFS);
// @ts-ignore: decorator
@inline function ifx(n: netif): usize { return <usize>n.num & (IFS - 1); }

/** ND6 ticks since init (LRU stamps). */
let ticks: u32 = 0;
let timer_armed = false;

const mcast_mac: usize = memory.data(8);
const addr_tmp: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const addr_tmp2: usize = memory.data(16, 8);
const solnode_tmp: usize = memory.data(16, 8);
/** ff02::1 */
export const IP6_ALLNODES: usize = memory.data<u8>([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::2 */
export const IP6_ALLROUTERS: usize = memory.data<u8>([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

export function nd6_init(): void {
  memory.fill(nb_table, 0, <usize>ND6_NUM_NEIGHBORS * NB_SIZE);
  nd6_lists_init();
  memory.fill(if_mtu, 0, IFS * 4);
  for (let i: usize = 0; i < IFS; i++) {
    store<u32>(if_reachable + i * 4, REACHABLE_TIME_MS);
    store<u32>(if_retrans + i * 4, RETRANS_TIMER_MS);
    store<u8>(if_hoplim + i, 64);
    store<u8>(if_ra_flags + i, 0);
  }
  ticks = 0;
  nb_last = 0;
  if (timer_armed) sys_untimeout(nd6_tmr, 0);
  timer_armed = false;
}

/** Starts the ND timer if it is not running (something began to age). */
export function nd6_arm_timer(): void {
  if (!timer_armed && sys_timeout_cyclic(ND6_TMR_INTERVAL, nd6_tmr, 0) == ERR_OK) timer_armed = true;
}

/** The solicited-node multicast address of `a` (RFC 4291 §2.7.1: ff02::1:ffXX:XXXX) at `out`. */
export function ip6_solicited_node(out: usize, a: usize): void {
  store<u64>(out, 0x02ff); // ff02:0000:0000:0000 (memory order)
  store<u32>(out, 0x01000000, 8); // 0000:0001
  store<u8>(out, 0xff, 12);
  store<u8>(out, load<u8>(a, 13), 13);
  store<u16>(out, load<u16>(a, 14), 14);
}

/** Is `a` a solicited-node multicast address (ff02::1:ff00:0/104)? */
export function ip6_addr_issolicitednode(a: usize): bool {
  return load<u64>(a) == 0x02ff && load<u32>(a, 8) == 0x01000000 && load<u8>(a, 12) == 0xff;
}

// ---- cache helpers --------------------------------------------------------------------------

/** The last entry found (a bulk flow resolves the same next hop every packet). */
let nb_last: i32 = 0;

function nb_find(n: netif, a: usize): i32 {
  let e = nb(nb_last);
  if (nb_state(e) != ND6_NO_ENTRY && nb_if(e) == n.num && ip6_addr_eq16(e + 4, a)) return nb_last;
  for (let i = 0; i < ND6_NUM_NEIGHBORS; i++) {
    e = nb(i);
    if (nb_state(e) != ND6_NO_ENTRY && nb_if(e) == n.num && ip6_addr_eq16(e + 4, a)) { nb_last = i; return i; }
  }
  return -1;
}

function nb_free_queue(e: usize): void {
  let q = load<usize>(e);
  while (q) {
    const nxt = load<usize>(q);
    pbuf_free(changetype<pbuf>(load<usize>(q, 4)));
    memp_free(MEMP.ARP_QUEUE, q);
    q = nxt;
  }
  store<usize>(e, 0);
  store<u8>(e, 0, 33);
}

function nb_free(e: usize): void {
  if (nb_state(e) == ND6_INCOMPLETE) STATS_ADD(Proto.ND6, Ctr.DROP, load<u8>(e, 33));
  nb_free_queue(e);
  // A router that became unreachable is no longer used (§7.3.3).
  if (load<u8>(e, 34) != 0) nd6_dc_flush_nexthop(e + 4);
  memory.fill(e, 0, NB_SIZE);
}

/**
 * A new entry for `a` on `n`: a free one, else the least recently used
 * STALE one, else any but INCOMPLETE entries with packets queued.
 */
function nb_new(n: netif, a: usize): i32 {
  let victim: i32 = -1;
  let best_age: u32 = 0;
  let prio: i32 = 9;
  for (let i = 0; i < ND6_NUM_NEIGHBORS; i++) {
    const e = nb(i);
    const st = nb_state(e);
    if (st == ND6_NO_ENTRY) { victim = i; prio = -1; break; }
    const p: i32 = st == ND6_STALE ? 0 : st == ND6_INCOMPLETE ? (load<usize>(e) != 0 ? 3 : 2) : 1;
    const age = ticks - load<u32>(e, 36);
    if (p < prio || (p == prio && age >= best_age)) { victim = i; prio = p; best_age = age; }
  }
  if (victim < 0) return -1;
  const e = nb(victim);
  if (nb_state(e) != ND6_NO_ENTRY) nb_free(e);
  memory.copy(e + 4, a, 16);
  store<u8>(e, n.num, 27);
  store<u32>(e, ticks, 36);
  return victim;
}

/** Sends what waited for the entry's address (oldest first). */
function nb_send_queue(n: netif, e: usize): void {
  let q = load<usize>(e);
  store<usize>(e, 0);
  store<u8>(e, 0, 33);
  while (q) {
    const nxt = load<usize>(q);
    const p = changetype<pbuf>(load<usize>(q, 4));
    memp_free(MEMP.ARP_QUEUE, q);
    ethernet_output(n, p, netif_hwaddr(n), e + 20, ETHTYPE_IPV6);
    pbuf_free(p);
    q = nxt;
  }
}

function reachable_ticks(n: netif): u32 { return reachable_ticks_x(ifx(n)); }

function reachable_ticks_x(x: usize): u32 {
  // §6.3.2: a random value between 0.5 and 1.5 times BaseReachableTime.
  const base = load<u32>(if_reachable + x * 4);
  const ms = base / 2 + (base > 0 ? asip_random() % base : 0);
  const t = ms / ND6_TMR_INTERVAL;
  return t > 0 ? t : 1;
}

function retrans_ticks(n: netif): u32 {
  const t = load<u32>(if_retrans + ifx(n) * 4) / ND6_TMR_INTERVAL;
  return t > 0 ? t : 1;
}

/** The link-layer address option of the ND message in p (type `opt`), or 0. Options start at `off`. */
function find_lladdr(p: pbuf, off: u32, opt: u8): usize {
  const h = p.payload;
  let i = off;
  while (i + 2 <= p.len) {
    const t = load<u8>(h + i);
    const l = <u32>load<u8>(h + i + 1) << 3;
    if (t == opt && l >= 8) return h + i + 2;
    i += l;
  }
  return 0;
}

/**
 * §6.1, §7.1: every option has a non-zero length and fits. False (the
 * message is dropped) otherwise.
 */
function options_ok(p: pbuf, off: u32): bool {
  const h = p.payload;
  let i = off;
  while (i < p.len) {
    if (i + 2 > p.len) return false;
    const l = <u32>load<u8>(h + i + 1) << 3;
    if (l == 0 || i + l > p.len) return false;
    i += l;
  }
  return true;
}

// ---- input ------------------------------------------------------------------------------

function drop(p: pbuf, ctr: Ctr): void {
  STATS_INC(Proto.ND6, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.ND6, Ctr.DROP);
  pbuf_free(p);
}

/**
 * A Neighbor Discovery message arrived (p.payload at the ICMPv6 header, the
 * checksum verified). Takes ownership of `p`.
 */
export function nd6_input(p: pbuf, inp: netif): void {
  STATS_INC(Proto.ND6, Ctr.RECV);
  const h = p.payload;
  // §6.1.1, §7.1.1, §7.1.2, §8.1: hop limit 255 (the message was not
  // forwarded), code 0, the fixed part present, options well formed.
  const type = load<u8>(h);
  let fixed: u32 = type == ICMP6_NS ? ND6_NS_LEN : type == ICMP6_NA ? ND6_NA_LEN : type == ICMP6_RS ? ND6_RS_LEN :
    type == ICMP6_RA ? ND6_RA_LEN : ND6_RD_LEN;
  if (ip6_hdr_hoplim(ip6_current_header()) != ND6_HOPLIM || icmp6_hdr_code(h) != 0) { drop(p, Ctr.PROTERR); return; }
  if (p.len < fixed || p.len != p.tot_len) { drop(p, Ctr.LENERR); return; }
  if (!options_ok(p, fixed)) { drop(p, Ctr.OPTERR); return; }
  if (inp.kind == NetifKind.LOOPBACK) { pbuf_free(p); return; }
  switch (type) {
    case ICMP6_NS: ns_input(p, inp); break;
    case ICMP6_NA: na_input(p, inp); break;
    case ICMP6_RA: ra_input(p, inp); break;
    case ICMP6_RD: redirect_input(p, inp); break;
    default: break; // RS: hosts ignore them (§6.2.6 is for routers)
  }
  pbuf_free(p);
}

/** A Neighbor Solicitation (§7.2.3; DAD, RFC 4862 §5.4.3). */
function ns_input(p: pbuf, inp: netif): void {
  const h = p.payload;
  const target = h + 8;
  const src = changetype<usize>(ip_current_src_addr());
  const dst = changetype<usize>(ip_current_dest_addr());
  if (ip6_addr_ismulticast(target)) { STATS_INC(Proto.ND6, Ctr.PROTERR); return; }
  const sllao = find_lladdr(p, ND6_NS_LEN, ND6_OPT_SLLAO);
  const from_any = ip6_addr_isany(src);
  // §7.1.1: from ::, the destination is a solicited-node group and there is no SLLAO.
  if (from_any && (!ip6_addr_issolicitednode(dst) || sllao != 0)) { STATS_INC(Proto.ND6, Ctr.PROTERR); return; }
  // Is the target one of ours (in any state but duplicated)?
  let slot: i32 = -1;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(inp, i);
    if ((ip6_addr_isvalid(st) || ip6_addr_istentative(st)) && ip6_addr_eq16(changetype<usize>(netif_ip6_addr(inp, i)), target)) {
      slot = i;
      break;
    }
  }
  if (slot < 0) return; // not ours: nothing to answer (we are no proxy)
  if (ip6_addr_istentative(netif_ip6_addr_state(inp, slot))) {
    // RFC 4862 §5.4.3: from :: it is someone else's DAD for the same
    // address — a duplicate, unless it is our own probe looped back (same nonce).
    if (from_any) slaac_dad_ns_input(inp, slot, p, ND6_NS_LEN);
    return;
  }
  if (from_any) {
    // Someone probes an address we hold: defend it (RFC 4862 §5.4.3).
    send_na(inp, target, IP6_ALLNODES, ND6_NA_FLAG_OVERRIDE);
    return;
  }
  // §7.2.3: record the asker (STALE when new or changed) and answer it.
  if (sllao != 0) nb_update_from_solicitation(inp, src, sllao);
  send_na(inp, target, src, ND6_NA_FLAG_SOLICITED | ND6_NA_FLAG_OVERRIDE);
}

/** §7.2.3: an NS or RS with a source link-layer address. */
function nb_update_from_solicitation(n: netif, src: usize, mac: usize): void {
  let i = nb_find(n, src);
  if (i < 0) {
    i = nb_new(n, src);
    if (i < 0) return;
    const e = nb(i);
    memory.copy(e + 20, mac, 6);
    nb_set_state(e, ND6_STALE);
    return;
  }
  const e = nb(i);
  if (nb_state(e) == ND6_INCOMPLETE) {
    memory.copy(e + 20, mac, 6);
    nb_set_state(e, ND6_STALE);
    nb_send_queue(n, e);
  } else if (!mac_eq(e + 20, mac)) {
    memory.copy(e + 20, mac, 6);
    nb_set_state(e, ND6_STALE);
  }
}

/** A Neighbor Advertisement (§7.2.5; DAD, RFC 4862 §5.4.4). */
function na_input(p: pbuf, inp: netif): void {
  const h = p.payload;
  const flags = load<u8>(h, 4);
  const target = h + 8;
  const dst = changetype<usize>(ip_current_dest_addr());
  // §7.1.2: target not multicast; to a multicast destination S must be clear.
  if (ip6_addr_ismulticast(target) || (ip6_addr_ismulticast(dst) && (flags & ND6_NA_FLAG_SOLICITED) != 0)) {
    STATS_INC(Proto.ND6, Ctr.PROTERR);
    return;
  }
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(inp, i);
    if (st == 0 || !ip6_addr_eq16(changetype<usize>(netif_ip6_addr(inp, i)), target)) continue;
    // Someone else answers for one of our addresses (RFC 4862 §5.4.4).
    slaac_dad_na_input(inp, i);
    return;
  }
  const i = nb_find(inp, target);
  if (i < 0) return; // §7.2.5: no entry, silently discarded
  const e = nb(i);
  const tllao = find_lladdr(p, ND6_NA_LEN, ND6_OPT_TLLAO);
  const solicited = (flags & ND6_NA_FLAG_SOLICITED) != 0;
  const ovr = (flags & ND6_NA_FLAG_OVERRIDE) != 0;
  const st = nb_state(e);
  if (st == ND6_INCOMPLETE) {
    if (tllao == 0) return;
    memory.copy(e + 20, tllao, 6);
    nb_set_state(e, solicited ? ND6_REACHABLE : ND6_STALE);
    store<u32>(e, solicited ? reachable_ticks(inp) : 0, 28);
    store<u8>(e, (flags & ND6_NA_FLAG_ROUTER) != 0 ? 1 : 0, 34);
    nb_send_queue(inp, e);
    return;
  }
  const differs = tllao != 0 && !mac_eq(e + 20, tllao);
  if (!ovr && differs) {
    // §7.2.5: a different address without the override flag does not
    // replace ours; a REACHABLE entry becomes STALE (it may be wrong).
    if (st == ND6_REACHABLE) nb_set_state(e, ND6_STALE);
    return;
  }
  if (differs) memory.copy(e + 20, tllao, 6);
  if (solicited) {
    nb_set_state(e, ND6_REACHABLE);
    store<u32>(e, reachable_ticks(inp), 28);
    store<u8>(e, 0, 32);
  } else if (differs) {
    nb_set_state(e, ND6_STALE);
  }
  const was_router = load<u8>(e, 34) != 0;
  const is_router = (flags & ND6_NA_FLAG_ROUTER) != 0;
  store<u8>(e, is_router ? 1 : 0, 34);
  if (was_router && !is_router) nd6_router_remove(inp, target); // §7.2.5 last paragraph
}

/** A Router Advertisement (§6.3.4). */
function ra_input(p: pbuf, inp: netif): void {
  const h = p.payload;
  const src = changetype<usize>(ip_current_src_addr());
  // §6.1.2: from a link-local address.
  if (!ip6_addr_islinklocal(src)) { STATS_INC(Proto.ND6, Ctr.PROTERR); return; }
  const x = ifx(inp);
  const hoplim = load<u8>(h, 4);
  if (hoplim != 0) store<u8>(if_hoplim + x, hoplim);
  store<u8>(if_ra_flags + x, load<u8>(h, 5));
  slaac_ra_received(inp);
  const reach = bswap<u32>(load<u32>(h, 8));
  if (reach != 0 && reach <= 3600000) store<u32>(if_reachable + x * 4, reach);
  const retrans = bswap<u32>(load<u32>(h, 12));
  if (retrans != 0) store<u32>(if_retrans + x * 4, retrans);
  const lifetime = <u32>bswap<u16>(load<u16>(h, 6));
  const sllao = find_lladdr(p, ND6_RA_LEN, ND6_OPT_SLLAO);
  if (sllao != 0) nb_update_from_solicitation(inp, src, sllao);
  if (lifetime == 0) {
    nd6_router_remove(inp, src);
  } else {
    nd6_router_update(inp, src, lifetime);
    const i = nb_find(inp, src);
    if (i >= 0) store<u8>(nb(i), 1, 34);
  }
  // Options.
  let off = ND6_RA_LEN;
  while (off + 2 <= p.len) {
    const o = h + off;
    const t = load<u8>(o);
    const l = <u32>load<u8>(o, 1) << 3;
    if (t == ND6_OPT_PREFIX && l == 32) {
      prefix_option(inp, o);
    } else if (t == ND6_OPT_MTU && l == 8) {
      // §4.6.4 / §6.3.4: accepted between the IPv6 minimum and the link's own MTU.
      const mtu = bswap<u32>(load<u32>(o, 4));
      if (mtu >= IP6_MIN_MTU && mtu <= inp.mtu) store<u32>(if_mtu + x * 4, mtu);
    } else if (t == ND6_OPT_RDNSS && l >= 24) {
      const life = bswap<u32>(load<u32>(o, 4));
      for (let a: u32 = 8; a + 16 <= l; a += 16) nd6_rdnss_update(inp, o + a, life);
    }
    off += l;
  }
  STATS_INC(Proto.ND6, Ctr.CACHEHIT);
  nd6_arm_timer();
}

/** A Prefix Information option (§6.3.4 on-link; RFC 4862 §5.5.3 autoconfiguration). */
function prefix_option(n: netif, o: usize): void {
  const plen = load<u8>(o, 2);
  const flags = load<u8>(o, 3);
  const valid = bswap<u32>(load<u32>(o, 4));
  const pref = bswap<u32>(load<u32>(o, 8));
  const prefix = o + 16;
  if (ip6_addr_islinklocal(prefix) || ip6_addr_ismulticast(prefix) || plen > 128) return;
  if ((flags & ND6_PREFIX_FLAG_ONLINK) != 0) nd6_prefix_update(n, prefix, plen, valid);
  if ((flags & ND6_PREFIX_FLAG_AUTO) != 0) slaac_prefix(n, prefix, plen, valid, pref);
}

/** A Redirect (§8.3): a better first hop for a destination, or the destination is on-link. */
function redirect_input(p: pbuf, inp: netif): void {
  const h = p.payload;
  const src = changetype<usize>(ip_current_src_addr());
  const target = h + 8;
  const dest = h + 24;
  // §8.1: from a link-local address; the target is link-local or the destination itself.
  if (!ip6_addr_islinklocal(src) || ip6_addr_ismulticast(dest) ||
      (!ip6_addr_islinklocal(target) && !ip6_addr_eq16(target, dest))) { STATS_INC(Proto.ND6, Ctr.PROTERR); return; }
  // §8.1: the source is the current first hop for that destination.
  if (!nd6_redirect_update(inp, dest, src, target)) { STATS_INC(Proto.ND6, Ctr.PROTERR); return; }
  const tllao = find_lladdr(p, ND6_RD_LEN, ND6_OPT_TLLAO);
  if (tllao != 0) {
    // §8.3: the target's link-layer address (STALE when new or changed).
    let i = nb_find(inp, target);
    if (i < 0) i = nb_new(inp, target);
    if (i >= 0) {
      const e = nb(i);
      if (nb_state(e) == ND6_NO_ENTRY || nb_state(e) == ND6_INCOMPLETE || !mac_eq(e + 20, tllao)) {
        memory.copy(e + 20, tllao, 6);
        const was_incomplete = nb_state(e) == ND6_INCOMPLETE;
        nb_set_state(e, ND6_STALE);
        if (was_incomplete) nb_send_queue(inp, e);
      }
      if (!ip6_addr_eq16(target, dest)) store<u8>(e, 1, 34);
    }
  }
  STATS_INC(Proto.ND6, Ctr.FW);
}

/**
 * Upper-layer reachability confirmation (§7.3.1): a transport saw forward
 * progress from `dest` (TCP: an ACK of new data), so the neighbour that
 * carries our packets to it (the first hop: `dest` on-link, else its
 * router) is REACHABLE without a probe. Entries still INCOMPLETE are left to
 * address resolution. Called per ACK, so a REACHABLE entry is re-armed only
 * once less than half of BaseReachableTime is left.
 */
export function nd6_reachability_hint(dest: usize): void {
  const hop = nd6_first_hop_of(dest);
  let i = nb_last;
  let e = nb(i);
  if (nb_state(e) == ND6_NO_ENTRY || !ip6_addr_eq16(e + 4, hop)) {
    i = -1;
    for (let k = 0; k < ND6_NUM_NEIGHBORS; k++) {
      if (nb_state(nb(k)) != ND6_NO_ENTRY && ip6_addr_eq16(nb(k) + 4, hop)) { i = k; break; }
    }
    if (i < 0) return;
    e = nb(i);
  }
  const st = nb_state(e);
  if (st == ND6_INCOMPLETE) return;
  const x = <usize>nb_if(e) & (IFS - 1);
  if (st == ND6_REACHABLE) {
    const half = load<u32>(if_reachable + x * 4) / 2 / ND6_TMR_INTERVAL;
    if (load<u32>(e, 28) >= half) return;
  }
  nb_set_state(e, ND6_REACHABLE);
  store<u32>(e, reachable_ticks_x(x), 28);
  store<u8>(e, 0, 32);
  store<u32>(e, ticks, 36);
  nd6_arm_timer();
}

/** The link MTU of `n` for IPv6: the RA's MTU option, else the netif's. */
export function nd6_link_mtu(n: netif): u32 {
  const m = load<u32>(if_mtu + ifx(n) * 4);
  return m != 0 ? m : n.mtu;
}


/** The hop limit for unicast packets we originate: the RA's Cur Hop Limit (§6.3.4), else 64. */
export function nd6_hop_limit(n: netif): u8 { return load<u8>(if_hoplim + ifx(n)); }
/** The M and O flags of the last RA on `n` (RFC 4861 §4.2). */
export function nd6_ra_flags(n: netif): u8 { return load<u8>(if_ra_flags + ifx(n)); }
/** RetransTimer of `n` in ms (DAD waits this long after its probe, RFC 4862 §5.4.2). */
export function nd6_retrans_ms(n: netif): u32 { return load<u32>(if_retrans + ifx(n) * 4); }

// ---- output -----------------------------------------------------------------------------

/**
 * output6 of Ethernet netifs: sends the IPv6 packet `p` (payload at its
 * header) to next hop `nexthop` (16 bytes), resolving it when needed (§7.2.2).
 * The caller keeps its reference.
 */
export function nd6_output(n: netif, p: pbuf, nexthop: usize): err_t {
  if (ip6_addr_ismulticast(nexthop)) {
    // RFC 2464 §7: 33:33 followed by the group's last four bytes.
    store<u16>(mcast_mac, 0x3333);
    store<u32>(mcast_mac, load<u32>(nexthop, 12), 2);
    return ethernet_output(n, p, netif_hwaddr(n), mcast_mac, ETHTYPE_IPV6);
  }
  let i = nb_find(n, nexthop);
  if (i >= 0) {
    const e = nb(i);
    const st = nb_state(e);
    store<u32>(e, ticks, 36);
    if (st != ND6_INCOMPLETE) {
      STATS_INC(Proto.ND6, Ctr.CACHEHIT);
      if (st == ND6_STALE) {
        // §7.3.3: a stale entry in use waits DELAY_FIRST_PROBE_TIME for a confirmation.
        nb_set_state(e, ND6_DELAY);
        store<u32>(e, DELAY_FIRST_PROBE_TIME, 28);
        nd6_arm_timer();
      }
      return ethernet_output(n, p, netif_hwaddr(n), e + 20, ETHTYPE_IPV6);
    }
    return nb_queue(e, p);
  }
  i = nb_new(n, nexthop);
  if (i < 0) {
    STATS_INC(Proto.ND6, Ctr.MEMERR);
    return ERR_MEM;
  }
  const e = nb(i);
  nb_set_state(e, ND6_INCOMPLETE);
  store<u32>(e, retrans_ticks(n), 28);
  store<u8>(e, 1, 32);
  nd6_arm_timer();
  const err = nb_queue(e, p);
  send_ns(n, nexthop, false);
  return err;
}

/** Queues a copy of `p` on an INCOMPLETE entry, keeping the newest ND6_QUEUE_LEN. */
function nb_queue(e: usize, p: pbuf): err_t {
  const held = pbuf_clone(pbuf_layer.PBUF_LINK, pbuf_type.PBUF_RAM, p);
  if (held == null) { STATS_INC(Proto.ND6, Ctr.MEMERR); return ERR_MEM; }
  const m = memp_malloc(MEMP.ARP_QUEUE);
  if (m == 0) { pbuf_free(held); STATS_INC(Proto.ND6, Ctr.MEMERR); return ERR_MEM; }
  store<usize>(m, 0);
  store<usize>(m, changetype<usize>(held), 4);
  let q = load<usize>(e);
  if (q == 0) store<usize>(e, m);
  else {
    while (load<usize>(q)) q = load<usize>(q);
    store<usize>(q, m);
  }
  let qlen = load<u8>(e, 33) + 1;
  if (<u32>qlen > ND6_QUEUE_LEN) {
    const old = load<usize>(e);
    store<usize>(e, load<usize>(old));
    pbuf_free(changetype<pbuf>(load<usize>(old, 4)));
    memp_free(MEMP.ARP_QUEUE, old);
    qlen--;
    STATS_INC(Proto.ND6, Ctr.DROP);
  }
  store<u8>(e, qlen, 33);
  return ERR_OK;
}

// ---- sending ND messages ----------------------------------------------------------------

/** Allocates an ND message of `len` bytes (ICMPv6 header first), zeroed. */
function nd_alloc(len: u32): pbuf | null {
  const p = pbuf_alloc(pbuf_layer.PBUF_IP, len, pbuf_type.PBUF_RAM);
  if (p == null) { STATS_INC(Proto.ND6, Ctr.MEMERR); return null; }
  memory.fill(p.payload, 0, len);
  return p;
}

/** Checksums and sends an ND message with hop limit 255 (§6.1, §7.1). */
function nd_send(n: netif, p: pbuf, src: usize, dst: usize): err_t {
  icmp6_fill_chksum(p, src, dst);
  STATS_INC(Proto.ND6, Ctr.XMIT);
  const err = ip6_output_if_src(p, src, dst, ND6_HOPLIM, 0, IP6_NEXTH_ICMP6, n);
  pbuf_free(p);
  return err;
}

/** Writes a link-layer address option (type `t`) with n's MAC at `o` (8 bytes). */
function write_lladdr(o: usize, t: u8, n: netif): void {
  store<u8>(o, t);
  store<u8>(o, 1, 1);
  memory.copy(o + 2, netif_hwaddr(n), 6);
}

/**
 * Sends a Neighbor Solicitation for `target` (§7.2.2): multicast to its
 * solicited-node group (address resolution), or unicast to it (NUD probe).
 */
function send_ns(n: netif, target: usize, unicast: bool): err_t {
  const sel = netif_ip6_select_src(n, tmp_tagged(target, n));
  if (sel == null) return ERR_RTE;
  const src = changetype<usize>(sel);
  memory.copy(addr_tmp2, src, 16);
  const has_ll = n.hwaddr_len == 6;
  const p = nd_alloc(ND6_NS_LEN + (has_ll ? 8 : 0));
  if (p == null) return ERR_MEM;
  const h = p.payload;
  store<u8>(h, ICMP6_NS);
  memory.copy(h + 8, target, 16);
  if (has_ll) write_lladdr(h + 24, ND6_OPT_SLLAO, n);
  let dst = target;
  if (!unicast) { ip6_solicited_node(solnode_tmp, target); dst = solnode_tmp; }
  return nd_send(n, p, addr_tmp2, dst);
}

/**
 * Sends a DAD probe for `target` (RFC 4862 §5.4.2): from ::, to its
 * solicited-node group, no SLLAO, with a nonce option (RFC 7527 §4.1) so
 * that our own probe looped back is recognised.
 */
export function nd6_send_dad_ns(n: netif, target: usize, nonce: usize): err_t {
  const p = nd_alloc(ND6_NS_LEN + 8);
  if (p == null) return ERR_MEM;
  const h = p.payload;
  store<u8>(h, ICMP6_NS);
  memory.copy(h + 8, target, 16);
  store<u8>(h + 24, ND6_OPT_NONCE);
  store<u8>(h + 25, 1);
  memory.copy(h + 26, nonce, 6);
  ip6_solicited_node(solnode_tmp, target);
  return nd_send(n, p, ip6_any(), solnode_tmp);
}

/** The nonce option of the NS in `p` (options from `off`), or 0. */
export function nd6_find_nonce(p: pbuf, off: u32): usize {
  const h = p.payload;
  let i = off;
  while (i + 8 <= p.len) {
    const l = <u32>load<u8>(h + i + 1) << 3;
    if (load<u8>(h + i) == ND6_OPT_NONCE && l == 8) return h + i + 2;
    if (l == 0) break;
    i += l;
  }
  return 0;
}

/** Sends a Neighbor Advertisement for our `target` to `dst` with `flags` and our link-layer address (§7.2.4). */
function send_na(n: netif, target: usize, dst: usize, flags: u8): err_t {
  const has_ll = n.hwaddr_len == 6;
  memory.copy(addr_tmp2, target, 16);
  memory.copy(solnode_tmp, dst, 16);
  const p = nd_alloc(ND6_NA_LEN + (has_ll ? 8 : 0));
  if (p == null) return ERR_MEM;
  const h = p.payload;
  store<u8>(h, ICMP6_NA);
  store<u8>(h, flags, 4);
  memory.copy(h + 8, addr_tmp2, 16);
  if (has_ll) write_lladdr(h + 24, ND6_OPT_TLLAO, n);
  return nd_send(n, p, addr_tmp2, solnode_tmp);
}

/** An unsolicited NA for our valid address in slot `i` to all nodes (§7.2.6), e.g. after DAD. */
export function nd6_announce(n: netif, i: i32): void {
  send_na(n, changetype<usize>(netif_ip6_addr(n, i)), IP6_ALLNODES, ND6_NA_FLAG_OVERRIDE);
}

/** Sends a Router Solicitation to all routers (§6.3.7), from our link-local address or ::. */
export function nd6_send_rs(n: netif): err_t {
  let src = ip6_any();
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const a = changetype<usize>(netif_ip6_addr(n, i));
    if (ip6_addr_isvalid(netif_ip6_addr_state(n, i)) && ip6_addr_islinklocal(a)) { src = a; break; }
  }
  // §4.1: the SLLAO only with a source address.
  const with_ll = n.hwaddr_len == 6 && !ip6_addr_isany(src);
  memory.copy(addr_tmp2, src, 16);
  const p = nd_alloc(ND6_RS_LEN + (with_ll ? 8 : 0));
  if (p == null) return ERR_MEM;
  store<u8>(p.payload, ICMP6_RS);
  if (with_ll) write_lladdr(p.payload + 8, ND6_OPT_SLLAO, n);
  return nd_send(n, p, addr_tmp2, IP6_ALLROUTERS);
}

const tagged_tmp: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
function tmp_tagged(a: usize, n: netif): ip_addr {
  const t = changetype<ip_addr>(tagged_tmp);
  ip_addr_set_ip6(t, a, ip6_addr_islinklocal(a) ? n.num : 0);
  return t;
}

// ---- the timer ----------------------------------------------------------------------------

/** Once a second while something ages: NUD (§7.3.3), lists' lifetimes, path MTUs, SLAAC/DAD. */
export function nd6_tmr(arg: usize): void {
  ticks++;
  let busy = false;
  for (let i = 0; i < ND6_NUM_NEIGHBORS; i++) {
    const e = nb(i);
    const st = nb_state(e);
    if (st == ND6_NO_ENTRY || st == ND6_STALE) continue;
    const n = netif_get_by_index(nb_if(e));
    if (n == null) { nb_free(e); continue; }
    busy = true;
    let t = load<u32>(e, 28);
    if (t > 0) t--;
    store<u32>(e, t, 28);
    if (t > 0) continue;
    if (st == ND6_REACHABLE) {
      nb_set_state(e, ND6_STALE);
    } else if (st == ND6_DELAY) {
      nb_set_state(e, ND6_PROBE);
      store<u8>(e, 1, 32);
      store<u32>(e, retrans_ticks(n), 28);
      send_ns(n, e + 4, true);
    } else {
      // INCOMPLETE or PROBE: another solicitation, or give up (§7.3.3).
      const sent = load<u8>(e, 32);
      const limit = st == ND6_INCOMPLETE ? MAX_MULTICAST_SOLICIT : MAX_UNICAST_SOLICIT;
      if (sent >= limit) {
        nb_free(e);
      } else {
        store<u8>(e, sent + 1, 32);
        store<u32>(e, retrans_ticks(n), 28);
        send_ns(n, e + 4, st == ND6_PROBE);
      }
    }
  }
  if (nd6_lists_tmr(ticks)) busy = true;
  if (slaac_tmr()) busy = true;
  if (!busy && !slaac_needs_timer()) {
    sys_untimeout(nd6_tmr, 0);
    timer_armed = false;
  }
}

// ---- netif changes ------------------------------------------------------------------------

/** netif.ts: n went up/down or its link changed. */
export function nd6_netif_changed(n: netif): void {
  const usable = (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) == (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP);
  if (!usable) nd6_forget_learned(n);
  slaac_netif_changed(n, usable);
  if (usable && slaac_needs_timer()) nd6_arm_timer();
}

/** Forgets everything of `n`, static routers too (netif removed). */
export function nd6_cleanup_netif(n: netif): void {
  nd6_lists_cleanup(n, false);
  nd6_forget_learned(n);
}

/** Forgets what was learned on `n` (down, link down): it may be on another link when it comes back. */
export function nd6_forget_learned(n: netif): void {
  for (let i = 0; i < ND6_NUM_NEIGHBORS; i++) if (nb_state(nb(i)) != ND6_NO_ENTRY && nb_if(nb(i)) == n.num) nb_free(nb(i));
  nd6_lists_cleanup(n, true);
  const x = ifx(n);
  store<u32>(if_mtu + x * 4, 0);
  store<u32>(if_reachable + x * 4, REACHABLE_TIME_MS);
  store<u32>(if_retrans + x * 4, RETRANS_TIMER_MS);
  store<u8>(if_hoplim + x, 64);
  store<u8>(if_ra_flags + x, 0);
}

// ---- inspection (abi/ip6.ts, tests) --------------------------------------------------------

//   neighbour record (ND6_NB_INFO_SIZE = 28 bytes): +0 addr 16  +16 mac 6
//   +22 state u8  +23 netif u8  +24 router u8  +25 queued u8  +26 probes u8  +27 0
export const ND6_NB_INFO_SIZE: usize = 28;

/** Writes neighbour entry `i` at `out`; returns its state (0 = empty), or -1 past the table. */
export function nd6_neighbor_info(i: i32, out: usize): i32 {
  if (i < 0 || i >= ND6_NUM_NEIGHBORS) return -1;
  const e = nb(i);
  memory.copy(out, e + 4, 16);
  memory.copy(out + 16, e + 20, 6);
  store<u8>(out, nb_state(e), 22);
  store<u8>(out, nb_if(e), 23);
  store<u8>(out, load<u8>(e, 34), 24);
  store<u8>(out, load<u8>(e, 33), 25);
  store<u8>(out, load<u8>(e, 32), 26);
  store<u8>(out, 0, 27);
  return nb_state(e);
}

/** State of the neighbour entry for `a` on `n` (ND6_*; 0 when none). */
export function nd6_neighbor_state(n: netif, a: usize): u8 {
  const i = nb_find(n, a);
  return i < 0 ? ND6_NO_ENTRY : nb_state(nb(i));
}

/** Pointer to the cached MAC of `a` on `n`, or 0. */
export function nd6_neighbor_mac(n: netif, a: usize): usize {
  const i = nb_find(n, a);
  return i < 0 ? 0 : nb(i) + 20;
}

export { ERR_ARG };
