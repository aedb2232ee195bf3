// slaac: IPv6 stateless address autoconfiguration and duplicate address
// detection (RFC 4862), with stable opaque interface identifiers (RFC 7217,
// the default) or modified EUI-64 ones (RFC 4291 appendix A).
//
// When a netif becomes usable it gets a link-local address (fe80::/64 +
// IID, slot 0 when free) and sends Router Solicitations (RFC 4861 §6.3.7).
// Router Advertisements' prefixes with the A flag (nd6.ts) give global
// addresses (§5.5.3, with the two-hour rule for valid lifetimes); their
// lifetimes tick down once a second and move the address to deprecated
// (preferred lifetime over) and then away (valid lifetime over, §5.5.4).
//
// Every address, static or not, is TENTATIVE until DAD passes (§5.4):
// DupAddrDetectTransmits (1) probes from :: to the solicited-node group, one
// RetransTimer apart, each with a random nonce (RFC 7527) so that a probe of
// ours looped back is not taken for a conflict. An NS from :: for the same
// address, or an NA for it, marks the slot DUPLICATED: it is never used,
// and the netif event (EV_NETIF_IP6, state 0x40) tells the host, which
// prints `asip conflict`. Links without ND (IP links) skip DAD.
//
// Slot bookkeeping lives in the netif's IPv6 slot (netif.ts: prefix length,
// origin) and in per-slot arrays here (nonce, RFC 7217 DAD_Counter).

import { STATS_INC, Proto, Ctr } from "../core/stats";
import { asip_random, random_secret } from "../core/random";
import { pbuf } from "../core/pbuf";
import { LWIP_IPV6_NUM_ADDRESSES } from "../config";
import {
  netif, netif_hwaddr, netif_get_by_index, netif_ip6_addr, netif_ip6_addr_state, netif_ip6_addr_set_state, netif_ip6_addr_set,
  netif_add_ip6_address, netif_ip6_addr_set_lifetimes, netif_ip6_addr_valid_life, netif_ip6_addr_pref_life,
  netif_ip6_addr_set_prefix_len, netif_ip6_addr_origin, netif_ip6_addr_set_origin, NETIF_LAST_IDX, NetifKind,
  NETIF_FLAG_UP, NETIF_FLAG_LINK_UP, IP6_ADDR_INVALID, IP6_ADDR_TENTATIVE, IP6_ADDR_TENTATIVE_COUNT_MASK,
  IP6_ADDR_PREFERRED, IP6_ADDR_DEPRECATED, IP6_ADDR_DUPLICATED, IP6_ADDR_LIFE_INFINITE,
  IP6_ORIGIN_STATIC, IP6_ORIGIN_LINKLOCAL, IP6_ORIGIN_SLAAC, IP6_ORIGIN_TEMP, IP6_ORIGIN_NODAD, IP6_ORIGIN_JOINED,
  ip6_addr_isvalid, ip6_addr_istentative,
} from "../netif/netif";
import { ip_addr, ip_addr_set_ip6, ip6_addr_islinklocal, IP_ADDR_SIZE } from "../ip_addr";
import { ip6_prefix_eq } from "./ip6";
import { nd6_send_dad_ns, nd6_find_nonce, nd6_send_rs, nd6_arm_timer, ip6_solicited_node,
  MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL } from "./nd6";
import { mld6_joingroup_netif, mld6_leavegroup_netif } from "./mld6";
import { siphash24 } from "../tcp/tcp_isn";

/** RFC 4862 §5.1: probes per DAD. */
export const DUP_ADDR_DETECT_TRANSMITS: u8 = 1;
/** RFC 7217 §6: new identifiers to try after a conflict. */
const IDGEN_RETRIES: u8 = 3;
/** RFC 4862 §5.5.3 (e): two hours. */
const TWO_HOURS: u32 = 7200;

/** Interface identifier kinds. */
export const IID_STABLE_OPAQUE: u8 = 0;
export const IID_EUI64: u8 = 1;

const IFS: usize = 16;
const SLOTS: usize = <usize>LWIP_IPV6_NUM_ADDRESSES;
/**
 * Per netif: autoconfiguration on (1) or off (0, the default: a host turns
 * it on, as lwIP's netif_create_ip6_linklocal_address and
 * netif_set_ip6_autoconfig_enabled do); SLAAC from RA prefixes (1, default)
 * or off; the IID kind; RSs left; ticks to the next RS.
 */
const if_auto: usize = memory.data(<i32>IFS);
const if_slaac: usize = memory.data(<i32>IFS);
const if_iid: usize = memory.data(<i32>IFS);
const if_rs_left: usize = memory.data(<i32>IFS);
const if_rs_wait: usize = memory.data(<i32>IFS);
/** Per netif and slot: the DAD nonce (8 bytes, 6 used) and the RFC 7217 DAD_Counter. */
const nonces: usize = memory.data(<i32>(IFS * SLOTS * 8), 8);
const dad_counters: usize = memory.data(<i32>(IFS * SLOTS));

const addr_buf: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const sol_buf: usize = memory.data(16, 8);
const hash_in: usize = memory.data(32, 8);
const secret: usize = memory.data(16, 8);
let secret_set = false;

// @ts-ignore: decorator
@inline function ifx(n: netif): usize { return <usize>n.num & (IFS - 1); }

export function slaac_init(): void {
  memory.fill(if_auto, 0, IFS);
  memory.fill(if_slaac, 1, IFS);
  memory.fill(if_temp, 0, IFS);
  desync = 0;
  memory.fill(if_iid, IID_STABLE_OPAQUE, IFS);
  memory.fill(if_rs_left, 0, IFS);
  memory.fill(if_rs_wait, 0, IFS);
  memory.fill(nonces, 0, IFS * SLOTS * 8);
  memory.fill(dad_counters, 0, IFS * SLOTS);
  secret_set = false;
}

/**
 * IPv6 autoconfiguration of `n`: `auto` forms the link-local address and
 * solicits routers once the netif is usable; `slaac` also takes addresses
 * from RA prefixes (RFC 4862 §5.5.3). Static addresses work either way.
 */
export function slaac_configure(n: netif, auto: bool, slaac: bool): void {
  const was = load<u8>(if_auto + ifx(n)) != 0;
  store<u8>(if_auto + ifx(n), auto ? 1 : 0);
  store<u8>(if_slaac + ifx(n), slaac ? 1 : 0);
  if (auto && !was && (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) == (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) {
    slaac_netif_changed(n, true);
    nd6_arm_timer();
  }
}
export function slaac_enabled(n: netif): bool { return load<u8>(if_auto + ifx(n)) != 0 && load<u8>(if_slaac + ifx(n)) != 0; }
export function slaac_auto(n: netif): bool { return load<u8>(if_auto + ifx(n)) != 0; }
/** The interface identifier kind of `n` (IID_*), for addresses formed from now on. */
export function slaac_set_iid_mode(n: netif, mode: u8): void { store<u8>(if_iid + ifx(n), mode); }

// ---- interface identifiers ------------------------------------------------------------------

/**
 * Writes the 64-bit interface identifier for `prefix` (its first 8 bytes
 * are used) on `n` at `out` (bytes 8..15 of an address).
 */
function make_iid(n: netif, prefix: usize, out: usize, counter: u8): void {
  if (load<u8>(if_iid + ifx(n)) == IID_EUI64 && n.hwaddr_len == 6) {
    // RFC 4291 appendix A: the MAC with ff:fe in the middle, universal/local bit inverted.
    const m = netif_hwaddr(n);
    store<u8>(out, load<u8>(m) ^ 0x02);
    store<u8>(out, load<u8>(m, 1), 1);
    store<u8>(out, load<u8>(m, 2), 2);
    store<u8>(out, 0xff, 3);
    store<u8>(out, 0xfe, 4);
    store<u8>(out, load<u8>(m, 3), 5);
    store<u8>(out, load<u8>(m, 4), 6);
    store<u8>(out, load<u8>(m, 5), 7);
    return;
  }
  // RFC 7217 §5: RID = F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key),
  // F = SipHash-2-4 keyed with the stack's secret (core/random.ts). Net_Iface
  // is the MAC (stable across reboots) or, on links without one, the index.
  if (!secret_set) { random_secret(secret); secret_set = true; }
  let c = counter;
  for (;;) {
    memory.fill(hash_in, 0, 32);
    memory.copy(hash_in, prefix, 8);
    if (n.hwaddr_len == 6) memory.copy(hash_in + 8, netif_hwaddr(n), 6);
    else store<u8>(hash_in + 8, n.num);
    store<u8>(hash_in + 14, c);
    const rid = siphash24(load<u64>(secret), load<u64>(secret, 8), hash_in, 16);
    store<u64>(out, bswap<u64>(rid));
    // RFC 5453: never a reserved identifier (all zero, or fdff:ffff:ffff:ff80..ff).
    const hi = load<u64>(out);
    if (hi != 0 && !(load<u32>(out) == 0xfffffffd && load<u16>(out, 4) == 0xffff && load<u8>(out, 6) == 0xff && load<u8>(out, 7) >= 0x80)) return;
    c++;
  }
}

// ---- membership of the solicited-node groups ---------------------------------------------

function slot_join(n: netif, i: i32): void {
  const o = netif_ip6_addr_origin(n, i);
  if ((o & IP6_ORIGIN_JOINED) != 0) return;
  ip6_solicited_node(sol_buf, changetype<usize>(netif_ip6_addr(n, i)));
  mld6_joingroup_netif(n, sol_buf);
  netif_ip6_addr_set_origin(n, i, o | IP6_ORIGIN_JOINED);
}

function slot_leave(n: netif, i: i32): void {
  const o = netif_ip6_addr_origin(n, i);
  if ((o & IP6_ORIGIN_JOINED) == 0) return;
  ip6_solicited_node(sol_buf, changetype<usize>(netif_ip6_addr(n, i)));
  mld6_leavegroup_netif(n, sol_buf);
  netif_ip6_addr_set_origin(n, i, o & ~IP6_ORIGIN_JOINED);
}

/** Takes slot `i`'s address away (removed, lifetime over): its group is left, it becomes INVALID. */
export function slaac_addr_remove(n: netif, i: i32): void {
  slot_leave(n, i);
  store<u8>(dad_counters + ifx(n) * SLOTS + <usize>i, 0);
  netif_ip6_addr_set_state(n, i, IP6_ADDR_INVALID);
  netif_ip6_addr_set_origin(n, i, 0);
}

// ---- DAD --------------------------------------------------------------------------------

function dad_failed(n: netif, i: i32): void {
  // RFC 4862 §5.4.5: the address is not used; the host is told.
  STATS_INC(Proto.ND6, Ctr.ERR);
  slot_leave(n, i);
  netif_ip6_addr_set_state(n, i, IP6_ADDR_DUPLICATED);
  // RFC 7217 §6: an autoconfigured stable identifier is tried again with
  // the next DAD_Counter, up to IDGEN_RETRIES times, in the same slot.
  const o = netif_ip6_addr_origin(n, i) & 0x0f;
  const k = ifx(n) * SLOTS + <usize>i;
  const c = load<u8>(dad_counters + k);
  if ((o != IP6_ORIGIN_LINKLOCAL && o != IP6_ORIGIN_SLAAC) || load<u8>(if_iid + ifx(n)) != IID_STABLE_OPAQUE ||
      c >= IDGEN_RETRIES) return;
  store<u8>(dad_counters + k, c + 1);
  const a = changetype<ip_addr>(addr_buf);
  memory.fill(addr_buf, 0, IP_ADDR_SIZE);
  memory.copy(addr_buf, changetype<usize>(netif_ip6_addr(n, i)), 8);
  make_iid(n, addr_buf, addr_buf + 8, c + 1);
  ip_addr_set_ip6(a, addr_buf, 0);
  netif_ip6_addr_set(n, i, a);
  netif_ip6_addr_set_state(n, i, IP6_ADDR_TENTATIVE);
  nd6_arm_timer();
}

/** An NS from :: for our tentative slot `i` (options from `off`): a duplicate unless it is our probe. */
export function slaac_dad_ns_input(n: netif, i: i32, p: pbuf, off: u32): void {
  const nonce = nd6_find_nonce(p, off);
  const mine = nonces + (ifx(n) * SLOTS + <usize>i) * 8;
  if (nonce != 0 && memory.compare(nonce, mine, 6) == 0) return; // RFC 7527 §4.2: looped back
  dad_failed(n, i);
}

/** An NA for our slot `i`: during DAD a duplicate (RFC 4862 §5.4.4); later only counted. */
export function slaac_dad_na_input(n: netif, i: i32): void {
  if (ip6_addr_istentative(netif_ip6_addr_state(n, i))) dad_failed(n, i);
  else STATS_INC(Proto.ND6, Ctr.ERR);
}

// ---- the link-local address and RS -----------------------------------------------------------

const ll_prefix: usize = memory.data<u8>([0xfe, 0x80, 0, 0, 0, 0, 0, 0]);

/** netif.ts (through nd6.ts): `n` became usable, or stopped being so. */
export function slaac_netif_changed(n: netif, usable: bool): void {
  if (n.kind == NetifKind.LOOPBACK) return;
  if (!usable) {
    store<u8>(if_rs_left + ifx(n), 0);
    return;
  }
  if (!slaac_auto(n)) return;
  let have_ll = false;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(n, i);
    if (st != IP6_ADDR_INVALID && ip6_addr_islinklocal(changetype<usize>(netif_ip6_addr(n, i)))) have_ll = true;
  }
  if (!have_ll) {
    const a = changetype<ip_addr>(addr_buf);
    memory.fill(addr_buf, 0, IP_ADDR_SIZE);
    memory.copy(addr_buf, ll_prefix, 8);
    make_iid(n, ll_prefix, addr_buf + 8, 0);
    ip_addr_set_ip6(a, addr_buf, n.num);
    const i = netif_add_ip6_address(n, a);
    if (i >= 0) {
      store<u8>(dad_counters + ifx(n) * SLOTS + <usize>i, 0);
      netif_ip6_addr_set_prefix_len(n, i, 64);
      netif_ip6_addr_set_origin(n, i, IP6_ORIGIN_LINKLOCAL);
    }
  }
  // RFC 4861 §6.3.7: solicit routers once the link-local address is usable.
  if (n.kind == NetifKind.HOST_ETHERNET) {
    store<u8>(if_rs_left + ifx(n), MAX_RTR_SOLICITATIONS);
    store<u8>(if_rs_wait + ifx(n), 0);
  }
}

/** An RA arrived on `n`: no more solicitations (RFC 4861 §6.3.7). */
export function slaac_ra_received(n: netif): void { store<u8>(if_rs_left + ifx(n), 0); }

// ---- RA prefixes (RFC 4862 §5.5.3) ---------------------------------------------------------

export function slaac_prefix(n: netif, prefix: usize, plen: u8, valid: u32, pref: u32): void {
  if (!slaac_enabled(n)) return;
  // (c) preferred over valid: ignored; (d) the prefix and the 64-bit IID make 128 bits.
  if (pref > valid || plen != 64) return;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(n, i);
    if (st == IP6_ADDR_INVALID || (netif_ip6_addr_origin(n, i) & 0x0f) != IP6_ORIGIN_SLAAC) continue;
    if (!ip6_prefix_eq(changetype<usize>(netif_ip6_addr(n, i)), prefix, 64)) continue;
    if (st == IP6_ADDR_DUPLICATED) return;
    // (e): the valid lifetime is lowered below two hours only by an
    // authenticated RA (we have none), so a forged short lifetime cannot
    // kill the address quickly.
    const remaining = netif_ip6_addr_valid_life(n, i);
    let v = remaining;
    if (valid > TWO_HOURS || valid > remaining) v = valid;
    else if (remaining > TWO_HOURS) v = TWO_HOURS;
    netif_ip6_addr_set_lifetimes(n, i, v, pref);
    if (st == IP6_ADDR_DEPRECATED && pref > 0) netif_ip6_addr_set_state(n, i, IP6_ADDR_PREFERRED);
    else if (st == IP6_ADDR_PREFERRED && pref == 0) netif_ip6_addr_set_state(n, i, IP6_ADDR_DEPRECATED);
    nd6_arm_timer();
    temp_update(n, prefix, v, pref);
    return;
  }
  if (valid == 0) return;
  const a = changetype<ip_addr>(addr_buf);
  memory.fill(addr_buf, 0, IP_ADDR_SIZE);
  memory.copy(addr_buf, prefix, 8);
  make_iid(n, prefix, addr_buf + 8, 0);
  ip_addr_set_ip6(a, addr_buf, 0);
  const i = netif_add_ip6_address(n, a);
  if (i < 0) return;
  if (netif_ip6_addr_state(n, i) != IP6_ADDR_TENTATIVE) return; // already there (static)
  store<u8>(dad_counters + ifx(n) * SLOTS + <usize>i, 0);
  netif_ip6_addr_set_prefix_len(n, i, 64);
  netif_ip6_addr_set_origin(n, i, IP6_ORIGIN_SLAAC);
  netif_ip6_addr_set_lifetimes(n, i, valid, pref);
  nd6_arm_timer();
  temp_update(n, prefix, valid, pref);
}

// ---- temporary addresses (RFC 8981), an option -----------------------------------------------
// With IP6_CONFIG_TEMP a netif also forms, per autoconfigured prefix, an
// address with a random interface identifier (§3.3.1) whose lifetimes are
// the prefix's capped at TEMP_VALID_LIFETIME and TEMP_PREFERRED_LIFETIME
// less a random DESYNC_FACTOR (§3.4, §3.8). REGEN_ADVANCE seconds before it
// is deprecated a new one is formed (§3.5) when a slot is free; the old one
// stays for the connections that use it until its valid lifetime ends.
// Source selection prefers temporary addresses (RFC 6724 rule 7, netif.ts).

const TEMP_VALID_LIFETIME: u32 = 2 * 86400;
const TEMP_PREFERRED_LIFETIME: u32 = 86400;
/** §3.8: 2 + TEMP_IDGEN_RETRIES (3) × DupAddrDetectTransmits (1) × RetransTimer (1 s). */
const REGEN_ADVANCE: u32 = 5;
const if_temp: usize = memory.data(<i32>IFS);
let desync: u32 = 0;
const prefix_buf: usize = memory.data(16, 8);

/** Temporary addresses on (RFC 8981) for `n`. */
export function slaac_set_temporary(n: netif, on: bool): void { store<u8>(if_temp + ifx(n), on ? 1 : 0); }

function temp_update(n: netif, prefix: usize, valid: u32, pref: u32): void {
  if (load<u8>(if_temp + ifx(n)) == 0) return;
  let live = false;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(n, i);
    if (st == IP6_ADDR_INVALID || st == IP6_ADDR_DUPLICATED || (netif_ip6_addr_origin(n, i) & 0x0f) != IP6_ORIGIN_TEMP) continue;
    if (!ip6_prefix_eq(changetype<usize>(netif_ip6_addr(n, i)), prefix, 64)) continue;
    // §3.4: never longer than the prefix allows, never longer than when formed.
    const v = min<u32>(valid, netif_ip6_addr_valid_life(n, i));
    const p = min<u32>(pref, netif_ip6_addr_pref_life(n, i));
    netif_ip6_addr_set_lifetimes(n, i, v, p);
    if (st != IP6_ADDR_DEPRECATED && p > REGEN_ADVANCE) live = true;
  }
  if (!live && pref > REGEN_ADVANCE) temp_create(n, prefix, valid, pref);
}

function temp_create(n: netif, prefix: usize, valid: u32, pref: u32): void {
  // §3.8: DESYNC_FACTOR, a random value up to 0.4 × TEMP_PREFERRED_LIFETIME, once.
  if (desync == 0) desync = 1 + asip_random() % (TEMP_PREFERRED_LIFETIME * 2 / 5);
  const a = changetype<ip_addr>(addr_buf);
  memory.fill(addr_buf, 0, IP_ADDR_SIZE);
  memory.copy(addr_buf, prefix, 8);
  // §3.3.1: a random identifier (the universal/local bit need not be set; reserved ones avoided).
  for (;;) {
    store<u32>(addr_buf + 8, asip_random());
    store<u32>(addr_buf + 12, asip_random());
    if (load<u64>(addr_buf + 8) != 0 && load<u32>(addr_buf + 8) != 0xfffffffd) break;
  }
  ip_addr_set_ip6(a, addr_buf, 0);
  const i = netif_add_ip6_address(n, a);
  if (i < 0) return;
  netif_ip6_addr_set_prefix_len(n, i, 64);
  netif_ip6_addr_set_origin(n, i, IP6_ORIGIN_TEMP);
  const tp = TEMP_PREFERRED_LIFETIME - desync;
  netif_ip6_addr_set_lifetimes(n, i, min<u32>(valid, TEMP_VALID_LIFETIME), min<u32>(pref, tp));
  nd6_arm_timer();
}

/** §3.5: REGEN_ADVANCE before a temporary address deprecates, its successor is formed. */
function temp_regen(n: netif, i: i32): void {
  if (load<u8>(if_temp + ifx(n)) == 0) return;
  const a = changetype<usize>(netif_ip6_addr(n, i));
  // The prefix's lifetimes are those of the public SLAAC address on it.
  for (let k = 0; k < LWIP_IPV6_NUM_ADDRESSES; k++) {
    if ((netif_ip6_addr_origin(n, k) & 0x0f) != IP6_ORIGIN_SLAAC || !ip6_addr_isvalid(netif_ip6_addr_state(n, k))) continue;
    if (!ip6_prefix_eq(changetype<usize>(netif_ip6_addr(n, k)), a, 64)) continue;
    memory.copy(prefix_buf, a, 8);
    temp_create(n, prefix_buf, netif_ip6_addr_valid_life(n, k), netif_ip6_addr_pref_life(n, k));
    return;
  }
}

// ---- the timer ----------------------------------------------------------------------------

/** Does any slot need the ND timer (DAD running, lifetimes ticking, RS pending)? */
export function slaac_needs_timer(): bool {
  for (let idx: u32 = 2; idx <= NETIF_LAST_IDX; idx++) {
    const n = netif_get_by_index(idx);
    if (n == null) continue;
    if (load<u8>(if_rs_left + ifx(n)) != 0) return true;
    for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
      const st = netif_ip6_addr_state(n, i);
      if (ip6_addr_istentative(st)) return true;
      if (ip6_addr_isvalid(st) && ((netif_ip6_addr_origin(n, i) & 0x0f) == IP6_ORIGIN_SLAAC ||
          (netif_ip6_addr_origin(n, i) & 0x0f) == IP6_ORIGIN_TEMP) &&
          netif_ip6_addr_valid_life(n, i) != IP6_ADDR_LIFE_INFINITE) return true;
    }
  }
  return false;
}

/** One second passed (nd6_tmr): DAD steps, lifetimes, RS. Returns whether anything is still running. */
export function slaac_tmr(): bool {
  let busy = false;
  for (let idx: u32 = 2; idx <= NETIF_LAST_IDX; idx++) {
    const n = netif_get_by_index(idx);
    if (n == null) continue;
    const usable = (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) == (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP);
    for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
      const st = netif_ip6_addr_state(n, i);
      if (st == IP6_ADDR_INVALID || st == IP6_ADDR_DUPLICATED) continue;
      // Lifetimes run from the RA, DAD or not (RFC 4862 §5.5.3).
      const origin = netif_ip6_addr_origin(n, i) & 0x0f;
      if (origin == IP6_ORIGIN_SLAAC || origin == IP6_ORIGIN_TEMP) {
        if (lifetime_tick(n, i)) busy = true;
        if (origin == IP6_ORIGIN_TEMP && netif_ip6_addr_pref_life(n, i) == REGEN_ADVANCE &&
            netif_ip6_addr_state(n, i) == IP6_ADDR_PREFERRED) temp_regen(n, i);
        if (netif_ip6_addr_state(n, i) == IP6_ADDR_INVALID) continue;
      }
      if (ip6_addr_istentative(st) && usable) {
        busy = true;
        dad_step(n, i, st);
      }
    }
    if (usable && load<u8>(if_rs_left + ifx(n)) != 0) {
      busy = true;
      rs_tick(n);
    }
  }
  return busy;
}

function dad_step(n: netif, i: i32, st: u8): bool {
  slot_join(n, i);
  const sent = st & IP6_ADDR_TENTATIVE_COUNT_MASK;
  const skip = n.kind != NetifKind.HOST_ETHERNET || (netif_ip6_addr_origin(n, i) & IP6_ORIGIN_NODAD) != 0;
  if (!skip && sent < DUP_ADDR_DETECT_TRANSMITS) {
    const nonce = nonces + (ifx(n) * SLOTS + <usize>i) * 8;
    store<u32>(nonce, asip_random());
    store<u32>(nonce, asip_random(), 4);
    nd6_send_dad_ns(n, changetype<usize>(netif_ip6_addr(n, i)), nonce);
    netif_ip6_addr_set_state(n, i, IP6_ADDR_TENTATIVE | (sent + 1));
    return true;
  }
  // RFC 4862 §5.4: a RetransTimer (one tick) after the last probe with no
  // conflict, the address is ours.
  const o = netif_ip6_addr_origin(n, i) & 0x0f;
  const deprecated = (o == IP6_ORIGIN_SLAAC || o == IP6_ORIGIN_TEMP) && netif_ip6_addr_pref_life(n, i) == 0;
  netif_ip6_addr_set_state(n, i, deprecated ? IP6_ADDR_DEPRECATED : IP6_ADDR_PREFERRED);
  return false;
}

/** A SLAAC address's lifetimes lose a second (RFC 4862 §5.5.4). Returns whether they still tick. */
function lifetime_tick(n: netif, i: i32): bool {
  let v = netif_ip6_addr_valid_life(n, i);
  let p = netif_ip6_addr_pref_life(n, i);
  if (v == IP6_ADDR_LIFE_INFINITE) return false;
  if (v <= 1) {
    slaac_addr_remove(n, i);
    return false;
  }
  v--;
  if (p != IP6_ADDR_LIFE_INFINITE && p > 0) p--;
  netif_ip6_addr_set_lifetimes(n, i, v, p);
  if (p == 0 && netif_ip6_addr_state(n, i) == IP6_ADDR_PREFERRED) netif_ip6_addr_set_state(n, i, IP6_ADDR_DEPRECATED);
  return true;
}

function rs_tick(n: netif): void {
  const x = ifx(n);
  const wait = load<u8>(if_rs_wait + x);
  if (wait > 1) { store<u8>(if_rs_wait + x, wait - 1); return; }
  // Wait for the link-local address (RS from it, with our link-layer address).
  let ll_ready = false;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    if (ip6_addr_isvalid(netif_ip6_addr_state(n, i)) && ip6_addr_islinklocal(changetype<usize>(netif_ip6_addr(n, i)))) ll_ready = true;
  }
  if (!ll_ready) return;
  nd6_send_rs(n);
  store<u8>(if_rs_left + x, load<u8>(if_rs_left + x) - 1);
  store<u8>(if_rs_wait + x, RTR_SOLICITATION_INTERVAL);
}

export { IP6_ORIGIN_STATIC, IP6_ADDR_PREFERRED };
