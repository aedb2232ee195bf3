// mld6: Multicast Listener Discovery, listener side (MLDv2, RFC 3810; MLDv1
// compatibility, RFC 2710 and RFC 3810 §8; lwIP mld6.c's feature set, asip's
// own code).
//
// A netif listens to all-nodes (ff02::1) implicitly, to the solicited-node
// group of each of its addresses (joined by slaac.ts) and to the groups a
// host joins (mld6_joingroup). Joining and leaving send unsolicited reports
// (state-change records, §6.1, repeated [Robustness Variable] times one
// second apart); queries (general, group-specific, group-and-source-specific
// treated like group-specific) are answered after a random delay up to their
// Maximum Response Delay (§6.2). An MLDv1 query switches the netif to MLDv1
// reports and done messages until the Older Version Querier Present Timeout
// (§8.2.1) has passed. Reports go to ff02::16 (v2) or the group (v1) with hop
// limit 1 and a Router Alert hop-by-hop option, from our link-local address
// or :: while it is tentative (§5.2.13). All-nodes and groups of scope below
// link-local are never reported (§6).
//
// The Ethernet layer asks mld6_mac_filter whether a 33:33 frame is for a
// group we listen to (multicast MAC filtering, RFC 2464 §7).
//
//   struct mld_group (MLD_SIZE = 28 bytes), a static table:
//   +0 group 16 bytes   +16 if_idx u8 (0 = free)   +17 use count u8
//   +18 flags u8 (MLD_*)   +19 unsolicited reports left u8
//   +20 timer u32 (ticks of MLD6_TMR_INTERVAL to the next report, 0 = none)
//   +24 record type of the pending report u8

import { pbuf, pbuf_alloc, pbuf_free, pbuf_add_header, pbuf_remove_header, pbuf_layer, pbuf_type } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL, ERR_ARG } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { sys_timeout_cyclic, sys_untimeout } from "../core/timeouts";
import { asip_random } from "../core/random";
import { MLD6_NUM_GROUPS, LWIP_IPV6_NUM_ADDRESSES } from "../config";
import {
  netif, netif_get_by_index, netif_ip6_addr, netif_ip6_addr_state, ip6_addr_isvalid, NETIF_LAST_IDX, NETIF_FLAG_MLD6,
  NETIF_FLAG_UP, NETIF_FLAG_LINK_UP, NetifKind,
} from "../netif/netif";
import { ip_addr, ip_2_ip6, IP_IS_V6, ip6_addr_ismulticast, ip6_addr_islinklocal } from "../ip_addr";
import { ip_current_src_addr } from "../ip";
import { IP6_NEXTH_HOPBYHOP, IP6_NEXTH_ICMP6, ip6_hdr_hoplim } from "./ip6_hdr";
import { ip6_current_header, ip6_output_if_src, ip6_addr_eq16, ip6_any } from "./ip6";
import { ICMP6_MLQ, ICMP6_MLR, ICMP6_MLD, ICMP6_MLR2, icmp6_fill_chksum } from "./icmp6";

export const MLD6_TMR_INTERVAL: u32 = 100;
/** §9.1: Robustness Variable. */
const MLD6_ROBUSTNESS: u8 = 2;
/** §9.11: Unsolicited Report Interval, 1 s (in ticks). */
const MLD6_UNSOLICITED_TICKS: u32 = 10;
/** §9.12: Older Version Querier Present Timeout = Robustness × Query Interval (125 s) + Query Response Interval (10 s). */
const MLD6_V1_TIMEOUT_TICKS: u32 = (2 * 125 + 10) * 10;

const MLD_FLAG_LAST_REPORTER: u8 = 0x01;

// MLDv2 record types (§5.2.12).
const MODE_IS_EXCLUDE: u8 = 2;
const CHANGE_TO_INCLUDE: u8 = 3;
const CHANGE_TO_EXCLUDE: u8 = 4;

const MLD_SIZE: usize = 28;
const groups: usize = memory.data(<i32>(<usize>MLD6_NUM_GROUPS * MLD_SIZE), 8);
// @ts-ignore: decorator
@inline function g(i: i32): usize { return groups + <usize>i * MLD_SIZE; }

const IFS: usize = 16;
/** Per netif: ticks left in MLDv1 compatibility mode (0 = MLDv2). */
const if_v1: usize = memory.data(<i32>(IFS * 4), 4);

/** ff02::16, all MLDv2-capable routers (§5.2.14). */
const MLDV2_ROUTERS: usize = memory.data<u8>([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16]);
const ALL_ROUTERS: usize = memory.data<u8>([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
const grp_tmp: usize = memory.data(16, 8);
const src_tmp: usize = memory.data(16, 8);
const dst_tmp: usize = memory.data(16, 8);

let timer_armed = false;

export function mld6_init(): void {
  memory.fill(groups, 0, <usize>MLD6_NUM_GROUPS * MLD_SIZE);
  memory.fill(if_v1, 0, IFS * 4);
  if (timer_armed) sys_untimeout(mld6_tmr, 0);
  timer_armed = false;
}

function arm(): void {
  if (!timer_armed && sys_timeout_cyclic(MLD6_TMR_INTERVAL, mld6_tmr, 0) == ERR_OK) timer_armed = true;
}

function find(n: netif, a: usize): i32 {
  for (let i = 0; i < MLD6_NUM_GROUPS; i++) {
    const e = g(i);
    if (load<u8>(e, 16) == n.num && ip6_addr_eq16(e, a)) return i;
  }
  return -1;
}

/** Is a group reported at all (§6: not all-nodes, not below link-local scope)? */
function reportable(a: usize): bool {
  if ((load<u8>(a, 1) & 0x0f) < 2) return false;
  return !(load<u16>(a) == 0x02ff && (load<u64>(a, 2) | load<u32>(a, 10)) == 0 && load<u16>(a, 14) == 0x0100);
}

/** Do we listen to group `a` (16 bytes) on `n`? */
export function mld6_lookfor(n: netif, a: usize): bool { return find(n, a) >= 0; }

/**
 * Is a frame to multicast MAC `mac` (33:33:xx:xx:xx:xx) for us on `n`:
 * all-nodes, or a group we listen to whose low 32 bits it carries (RFC 2464 §7)?
 */
export function mld6_mac_filter(n: netif, mac: usize): bool {
  const low = load<u32>(mac, 2);
  if (low == 0x01000000) return true; // 33:33:00:00:00:01, all-nodes
  for (let i = 0; i < MLD6_NUM_GROUPS; i++) {
    const e = g(i);
    if (load<u8>(e, 16) == n.num && load<u32>(e, 12) == low) return true;
  }
  return false;
}

// ---- joining and leaving -----------------------------------------------------------------

/** Joins group `a` (16 bytes) on `n` (reference counted). ERR_MEM when the table is full. */
export function mld6_joingroup_netif(n: netif, a: usize): err_t {
  if (!ip6_addr_ismulticast(a)) return ERR_VAL;
  let i = find(n, a);
  if (i >= 0) {
    const e = g(i);
    if (load<u8>(e, 17) < 255) store<u8>(e, load<u8>(e, 17) + 1, 17);
    return ERR_OK;
  }
  for (let k = 0; k < MLD6_NUM_GROUPS; k++) if (load<u8>(g(k), 16) == 0) { i = k; break; }
  if (i < 0) { STATS_INC(Proto.MLD6, Ctr.MEMERR); return ERR_MEM; }
  const e = g(i);
  memory.fill(e, 0, MLD_SIZE);
  memory.copy(e, a, 16);
  store<u8>(e, n.num, 16);
  store<u8>(e, 1, 17);
  if (reportable(a) && (n.flags & NETIF_FLAG_MLD6) != 0 && n.kind == NetifKind.HOST_ETHERNET) {
    // §6.1: report the change now, and again [Robustness Variable - 1] times.
    send_report(n, e, CHANGE_TO_EXCLUDE);
    store<u8>(e, MLD6_ROBUSTNESS - 1, 19);
    store<u8>(e, CHANGE_TO_EXCLUDE, 24);
    store<u32>(e, 1 + asip_random() % MLD6_UNSOLICITED_TICKS, 20);
    arm();
  }
  return ERR_OK;
}

/** Leaves group `a` on `n` (the last reference sends a state change / done). */
export function mld6_leavegroup_netif(n: netif, a: usize): err_t {
  const i = find(n, a);
  if (i < 0) return ERR_VAL;
  const e = g(i);
  const uses = load<u8>(e, 17);
  if (uses > 1) { store<u8>(e, uses - 1, 17); return ERR_OK; }
  if (reportable(a) && (n.flags & NETIF_FLAG_MLD6) != 0 && n.kind == NetifKind.HOST_ETHERNET) {
    // §6.1 (v2: change to include {}); RFC 2710 §4: a done only from the last reporter.
    if (load<u32>(if_v1 + (<usize>n.num & (IFS - 1)) * 4) == 0 || (load<u8>(e, 18) & MLD_FLAG_LAST_REPORTER) != 0) {
      send_report(n, e, CHANGE_TO_INCLUDE);
    }
  }
  memory.fill(e, 0, MLD_SIZE);
  return ERR_OK;
}

/**
 * The host-facing join (lwIP mld6_joingroup_netif / mld6_joingroup): group
 * `group` on netif `n`, or on every netif with MLD when `n` is null.
 */
export function mld6_joingroup(n: netif | null, group: ip_addr): err_t {
  if (!IP_IS_V6(group) || !ip6_addr_ismulticast(ip_2_ip6(group))) return ERR_ARG;
  if (n != null) return mld6_joingroup_netif(n, ip_2_ip6(group));
  let err: err_t = ERR_OK;
  for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
    const m = netif_get_by_index(i);
    if (m != null && (m.flags & NETIF_FLAG_MLD6) != 0) { const r = mld6_joingroup_netif(m, ip_2_ip6(group)); if (r != ERR_OK) err = r; }
  }
  return err;
}

/** The host-facing leave, as mld6_joingroup. */
export function mld6_leavegroup(n: netif | null, group: ip_addr): err_t {
  if (!IP_IS_V6(group) || !ip6_addr_ismulticast(ip_2_ip6(group))) return ERR_ARG;
  if (n != null) return mld6_leavegroup_netif(n, ip_2_ip6(group));
  let err: err_t = ERR_VAL;
  for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
    const m = netif_get_by_index(i);
    if (m != null && mld6_leavegroup_netif(m, ip_2_ip6(group)) == ERR_OK) err = ERR_OK;
  }
  return err;
}

/** Forgets every group of `n` (netif removed). */
export function mld6_cleanup_netif(n: netif): void {
  for (let i = 0; i < MLD6_NUM_GROUPS; i++) if (load<u8>(g(i), 16) == n.num) memory.fill(g(i), 0, MLD_SIZE);
  store<u32>(if_v1 + (<usize>n.num & (IFS - 1)) * 4, 0);
}

// ---- input ------------------------------------------------------------------------------

/** An MLD message arrived (p.payload at the ICMPv6 header, checksum verified). Takes ownership. */
export function mld6_input(p: pbuf, inp: netif): void {
  STATS_INC(Proto.MLD6, Ctr.RECV);
  const h = p.payload;
  const type = load<u8>(h);
  // §5: from a link-local source, hop limit 1 (a querier may be silent otherwise).
  if (!ip6_addr_islinklocal(changetype<usize>(ip_current_src_addr())) || ip6_hdr_hoplim(ip6_current_header()) != 1) {
    STATS_INC(Proto.MLD6, Ctr.PROTERR);
    STATS_INC(Proto.MLD6, Ctr.DROP);
    pbuf_free(p);
    return;
  }
  if (type == ICMP6_MLQ && p.len >= 24) {
    const v1 = p.len < 28;
    const x = (<usize>inp.num & (IFS - 1)) * 4;
    let max_ms: u32;
    if (v1) {
      max_ms = <u32>bswap<u16>(load<u16>(h, 4));
      store<u32>(if_v1 + x, MLD6_V1_TIMEOUT_TICKS);
    } else {
      // §5.1.3: Maximum Response Code, exponential from 32768.
      const code = <u32>bswap<u16>(load<u16>(h, 4));
      max_ms = code < 32768 ? code : ((code & 0x0fff) | 0x1000) << (((code >> 12) & 7) + 3);
    }
    const maxt = max<u32>(1, max_ms / MLD6_TMR_INTERVAL);
    const grp = h + 8;
    const general = (load<u64>(grp) | load<u64>(grp, 8)) == 0;
    for (let i = 0; i < MLD6_NUM_GROUPS; i++) {
      const e = g(i);
      if (load<u8>(e, 16) != inp.num || !reportable(e)) continue;
      if (!general && !ip6_addr_eq16(e, grp)) continue;
      // §6.2: a random delay; an earlier pending report stays.
      const delay: u32 = 1 + asip_random() % maxt;
      const cur = load<u32>(e, 20);
      if (cur == 0 || delay < cur) store<u32>(e, delay, 20);
      store<u8>(e, MODE_IS_EXCLUDE, 24);
      store<u8>(e, 0, 19);
    }
    arm();
  } else if (type == ICMP6_MLR && p.len >= 24) {
    // RFC 2710 §4: another listener reported the group: we need not (v1 only).
    const i = find(inp, h + 8);
    if (i >= 0 && load<u32>(if_v1 + (<usize>inp.num & (IFS - 1)) * 4) != 0) {
      const e = g(i);
      store<u32>(e, 0, 20);
      store<u8>(e, load<u8>(e, 18) & ~MLD_FLAG_LAST_REPORTER, 18);
    }
  }
  // Done (132) and MLDv2 reports (143) concern routers only.
  pbuf_free(p);
}

// ---- output -----------------------------------------------------------------------------

/**
 * Sends one report about group entry `e` on `n`: MLDv2 with one record of
 * `rtype`, or in MLDv1 mode a v1 report (or done for CHANGE_TO_INCLUDE).
 */
function send_report(n: netif, e: usize, rtype: u8): err_t {
  const v1 = load<u32>(if_v1 + (<usize>n.num & (IFS - 1)) * 4) != 0;
  const icmp_len: u32 = v1 ? 24 : 28;
  const p = pbuf_alloc(pbuf_layer.PBUF_IP, 8 + icmp_len, pbuf_type.PBUF_RAM);
  if (p == null) { STATS_INC(Proto.MLD6, Ctr.MEMERR); return ERR_MEM; }
  const b = p.payload;
  memory.fill(b, 0, 8 + icmp_len);
  // Hop-by-hop: Router Alert (RFC 2711, value 0 = MLD) and a PadN of 0 (RFC 8200 §4.2).
  store<u8>(b, IP6_NEXTH_ICMP6);
  store<u8>(b, 0, 1);
  store<u8>(b, 5, 2);
  store<u8>(b, 2, 3);
  store<u8>(b, 1, 6);
  const h = b + 8;
  memory.copy(grp_tmp, e, 16);
  if (v1) {
    store<u8>(h, rtype == CHANGE_TO_INCLUDE ? ICMP6_MLD : ICMP6_MLR);
    memory.copy(h + 8, grp_tmp, 16);
    memory.copy(dst_tmp, rtype == CHANGE_TO_INCLUDE ? ALL_ROUTERS : grp_tmp, 16);
  } else {
    store<u8>(h, ICMP6_MLR2);
    store<u16>(h, bswap<u16>(1), 6); // one record
    store<u8>(h, rtype, 8);
    memory.copy(h + 12, grp_tmp, 16);
    memory.copy(dst_tmp, MLDV2_ROUTERS, 16);
  }
  // §5.2.13: from our link-local address, or :: while it is tentative.
  memory.copy(src_tmp, ip6_any(), 16);
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const a = changetype<usize>(netif_ip6_addr(n, i));
    if (ip6_addr_isvalid(netif_ip6_addr_state(n, i)) && ip6_addr_islinklocal(a)) { memory.copy(src_tmp, a, 16); break; }
  }
  pbuf_remove_header(p, 8);
  icmp6_fill_chksum(p, src_tmp, dst_tmp);
  pbuf_add_header(p, 8);
  STATS_INC(Proto.MLD6, Ctr.XMIT);
  const err = ip6_output_if_src(p, src_tmp, dst_tmp, 1, 0, IP6_NEXTH_HOPBYHOP, n);
  pbuf_free(p);
  store<u8>(e, load<u8>(e, 18) | MLD_FLAG_LAST_REPORTER, 18);
  return err;
}

/** Every MLD6_TMR_INTERVAL while reports are pending. */
export function mld6_tmr(arg: usize): void {
  let busy = false;
  for (let i = 0; i < MLD6_NUM_GROUPS; i++) {
    const e = g(i);
    const idx = load<u8>(e, 16);
    if (idx == 0) continue;
    let t = load<u32>(e, 20);
    if (t == 0) continue;
    t--;
    store<u32>(e, t, 20);
    if (t > 0) { busy = true; continue; }
    const n = netif_get_by_index(idx);
    if (n == null || (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) != (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) continue;
    send_report(n, e, load<u8>(e, 24));
    // Unsolicited reports: [Robustness Variable] in all, the first sent on join.
    let left = load<u8>(e, 19);
    if (left > 0) left--;
    store<u8>(e, left, 19);
    if (left > 0) {
      store<u32>(e, MLD6_UNSOLICITED_TICKS, 20);
      busy = true;
    }
  }
  for (let i: usize = 0; i < IFS; i++) {
    const v = load<u32>(if_v1 + i * 4);
    if (v > 0) { store<u32>(if_v1 + i * 4, v - 1); busy = true; }
  }
  if (!busy) {
    sys_untimeout(mld6_tmr, 0);
    timer_armed = false;
  }
}

/** Is netif `n` in MLDv1 compatibility mode? */
export function mld6_v1_mode(n: netif): bool { return load<u32>(if_v1 + (<usize>n.num & (IFS - 1)) * 4) != 0; }

//   group record (MLD6_INFO_SIZE = 20 bytes): +0 group 16  +16 netif u8  +17 uses u8  +18 flags u8  +19 0
export const MLD6_INFO_SIZE: usize = 20;
/** Writes group entry `i` at `out`; returns its netif index (0 = free), -1 past the table. */
export function mld6_group_info(i: i32, out: usize): i32 {
  if (i < 0 || i >= MLD6_NUM_GROUPS) return -1;
  const e = g(i);
  memory.copy(out, e, 16);
  store<u8>(out, load<u8>(e, 16), 16);
  store<u8>(out, load<u8>(e, 17), 17);
  store<u8>(out, load<u8>(e, 18), 18);
  store<u8>(out, 0, 19);
  return load<u8>(e, 16);
}
