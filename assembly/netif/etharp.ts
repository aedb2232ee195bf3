// etharp: the Address Resolution Protocol for IPv4 over Ethernet (RFC 826),
// with RFC 5227's announcement and conflict detection and RFC 1122 §2.3.2's
// cache rules (lwIP etharp.c's feature set, asip's own code).
//
// IPv4 output on an Ethernet netif goes through etharp_output: broadcast and
// multicast destinations map to their MAC directly (RFC 1112 §6.4); unicast
// destinations are looked up in the ARP cache (off-subnet ones through the
// gateway). A miss creates a PENDING entry, broadcasts a request and queues
// the packet on the entry; the reply makes the entry STABLE and sends what
// was queued (RFC 1122 §2.3.2.2: keep at least the latest packet).
//
// Every entry remembers its netif. Stable entries live ARP_MAXAGE seconds;
// while in use they are re-requested shortly before expiry (unicast to the
// known MAC first, then broadcast) so traffic never stalls on an expired
// entry (RFC 1122 §2.3.2.1). Pending entries re-send the request each second
// and give up after ARP_MAXPENDING seconds. Static entries are neither aged
// nor overwritten by ARP traffic.
//
// Event types (see rings.ts): 20..29 are ARP's.
//   20 EV_ETHARP_CONFLICT  someone else claims our address (RFC 5227 §2.4)
//                          handle = netif index, a = the IPv4 address,
//                          b = their MAC bytes 0..3, c = bytes 4..5 (memory order)

import { pbuf, pbuf_alloc, pbuf_free, pbuf_clone, pbuf_copy_partial, pbuf_layer, pbuf_type } from "../core/pbuf";
import { ARP_TABLE_SIZE, ARP_QUEUE_LEN } from "../config";
import { err_t, ERR_OK, ERR_MEM, ERR_ARG, ERR_RTE, ERR_VAL } from "../core/err";
import { MEMP, memp_malloc, memp_free } from "../core/memp";
import { STATS_INC, STATS_ADD, Proto, Ctr } from "../core/stats";
import { sys_timeout_cyclic, sys_untimeout } from "../core/timeouts";
import { ev_push } from "../core/rings";
import { ip4_addr_ismulticast, ip4_addr_isany, ip4_addr_islinklocal, ip4_addr_net_eq, IP4_ADDR_BROADCAST } from "../ip_addr";
import {
  netif, netif_hwaddr, netif_get_by_index, netif_is_up, netif_is_link_up, NETIF_FLAG_ETHARP,
} from "./netif";
import { ethernet_output, ethbroadcast, ethzero, mac_eq, ETHTYPE_ARP, ETHTYPE_IP } from "./ethernet";
import { ip4_addr_isbroadcast, ip4_route } from "../ipv4/ip4";

// ---- the ARP packet (RFC 826, for Ethernet and IPv4) ----------------------------------
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |   Hardware type (ar$hrd = 1)  |  Protocol type (ar$pro 0x0800)|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | HW len (ar$hln)| Proto len (ar$pln)|     Opcode (ar$op)       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Sender hardware address (ar$sha), 6 bytes           |
//   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                               | Sender protocol address (spa) |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |      (ar$spa, 4 bytes)        |  Target hardware address      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |                  (ar$tha, 6 bytes)                            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |             Target protocol address (ar$tpa, 4 bytes)         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// 28 bytes; on Ethernet the frame is padded to the 60-byte minimum, so a
// received ARP payload is usually 46 bytes. Multi-byte fields are big-endian;
// getters return host numbers, addresses stay in network order (u32 whose
// memory bytes are a.b.c.d). `h` points at the first byte.

export const ETHARP_HDR_LEN: u32 = 28;
export const ETHARP_HWTYPE_ETHER: u16 = 1;
export const ETHARP_OP_REQUEST: u16 = 1;
export const ETHARP_OP_REPLY: u16 = 2;
const ETH_HWADDR_LEN: u8 = 6;
const IP4_ADDR_LEN: u8 = 4;

const AR_HRD: usize = 0;
const AR_PRO: usize = 2;
const AR_HLN: usize = 4;
const AR_PLN: usize = 5;
const AR_OP: usize = 6;
const AR_SHA: usize = 8;
const AR_SPA: usize = 14;
const AR_THA: usize = 18;
const AR_TPA: usize = 24;

// @ts-ignore: decorator
@inline export function etharp_hdr_hwtype(h: usize): u16 { return bswap<u16>(load<u16>(h + AR_HRD)); }
// @ts-ignore: decorator
@inline export function etharp_hdr_proto(h: usize): u16 { return bswap<u16>(load<u16>(h + AR_PRO)); }
// @ts-ignore: decorator
@inline export function etharp_hdr_hwlen(h: usize): u8 { return load<u8>(h + AR_HLN); }
// @ts-ignore: decorator
@inline export function etharp_hdr_protolen(h: usize): u8 { return load<u8>(h + AR_PLN); }
// @ts-ignore: decorator
@inline export function etharp_hdr_opcode(h: usize): u16 { return bswap<u16>(load<u16>(h + AR_OP)); }
/** Pointer to the sender hardware address (6 bytes). */
// @ts-ignore: decorator
@inline export function etharp_hdr_shwaddr(h: usize): usize { return h + AR_SHA; }
// @ts-ignore: decorator
@inline export function etharp_hdr_sipaddr(h: usize): u32 { return load<u32>(h + AR_SPA); }
/** Pointer to the target hardware address (6 bytes). */
// @ts-ignore: decorator
@inline export function etharp_hdr_dhwaddr(h: usize): usize { return h + AR_THA; }
// @ts-ignore: decorator
@inline export function etharp_hdr_dipaddr(h: usize): u32 { return load<u32>(h + AR_TPA); }

/** Writes a whole Ethernet/IPv4 ARP packet at `h`. */
export function etharp_hdr_write(
  h: usize, opcode: u16, shwaddr: usize, sipaddr: u32, dhwaddr: usize, dipaddr: u32,
): void {
  store<u16>(h + AR_HRD, bswap<u16>(ETHARP_HWTYPE_ETHER));
  store<u16>(h + AR_PRO, bswap<u16>(ETHTYPE_IP));
  store<u8>(h + AR_HLN, ETH_HWADDR_LEN);
  store<u8>(h + AR_PLN, IP4_ADDR_LEN);
  store<u16>(h + AR_OP, bswap<u16>(opcode));
  memory.copy(h + AR_SHA, shwaddr, 6);
  store<u32>(h + AR_SPA, sipaddr);
  memory.copy(h + AR_THA, dhwaddr, 6);
  store<u32>(h + AR_TPA, dipaddr);
}

// ---- options (lwIP opt.h names) -------------------------------------------------------

// ARP_TABLE_SIZE and ARP_QUEUE_LEN live in config.ts with the other options.
export { ARP_TABLE_SIZE, ARP_QUEUE_LEN };
/** Period of the ARP timer in ms: ages are counted in its ticks. */
export const ARP_TMR_INTERVAL: u32 = 1000;
/** Ticks a stable entry lives (RFC 1122 §2.3.2.1 suggests minutes; lwIP: 5 min). */
export const ARP_MAXAGE: u16 = 300;
/** Ticks a pending entry waits for a reply (one request per tick) before giving up. */
export const ARP_MAXPENDING: u16 = 5;
/** Age from which a used entry is re-requested by unicast to the known MAC. */
export const ARP_AGE_REREQUEST_USED_UNICAST: u16 = ARP_MAXAGE - 30;
/** Age from which a used entry is re-requested by broadcast. */
export const ARP_AGE_REREQUEST_USED_BROADCAST: u16 = ARP_MAXAGE - 15;

/** Event type: an address conflict was seen (RFC 5227 §2.4). */
export const EV_ETHARP_CONFLICT: u16 = 20;

// ---- the cache ------------------------------------------------------------------------

// Entry states (lwIP etharp_state).
export const ETHARP_STATE_EMPTY: u8 = 0;
export const ETHARP_STATE_PENDING: u8 = 1;
export const ETHARP_STATE_STABLE: u8 = 2;
/** In use near expiry: a request went out; one tick passes before the next may. */
export const ETHARP_STATE_STABLE_REREQUESTING_1: u8 = 3;
export const ETHARP_STATE_STABLE_REREQUESTING_2: u8 = 4;
export const ETHARP_STATE_STATIC: u8 = 5;

//   struct etharp_entry (20 bytes, ENTRY_SIZE), a static table:
//   +0  q       usize  first queued packet (etharp_q_entry list), 0 = none
//   +4  ipaddr  u32    network order
//   +8  mac0..5        hardware address (valid when STABLE.. or STATIC)
//   +14 state   u8     etharp_state
//   +15 if_idx  u8     the netif the entry belongs to
//   +16 ctime   u16    age in timer ticks
//   +18 qlen    u8     packets queued
//   +19         reserved
@unmanaged
class etharp_entry {
  q: usize;
  ipaddr: u32;
  mac0: u8; mac1: u8; mac2: u8; mac3: u8; mac4: u8; mac5: u8;
  state: u8;
  if_idx: u8;
  ctime: u16;
  qlen: u8;
  _r: u8;
}
const ENTRY_SIZE: usize = 20;
const arp_table: usize = memory.data(<i32>(<usize>ARP_TABLE_SIZE * ENTRY_SIZE), 8);

//   struct etharp_q_entry (8 bytes) from MEMP.ARP_QUEUE: +0 next usize  +4 p usize
// The pool's element count (MEMP_NUM_ARP_QUEUE) bounds what all entries hold.
@unmanaged
class etharp_q_entry {
  next: usize;
  p: usize;
}

// @ts-ignore: decorator
@inline function entry(i: i32): etharp_entry {
  return changetype<etharp_entry>(arp_table + <usize>i * ENTRY_SIZE);
}
// @ts-ignore: decorator
@inline function entry_mac(e: etharp_entry): usize {
  return changetype<usize>(e) + offsetof<etharp_entry>("mac0");
}
// @ts-ignore: decorator
@inline function is_stable(state: u8): bool {
  return state >= ETHARP_STATE_STABLE && state <= ETHARP_STATE_STABLE_REREQUESTING_2;
}

/** Room for a multicast MAC built on output (copied by ethernet_output). */
const mcast_mac: usize = memory.data(8);
/** A received ARP packet, copied out so a chained pbuf reads the same. */
const rx_hdr: usize = memory.data(<i32>ETHARP_HDR_LEN, 4);

/** Address conflicts seen since init (RFC 5227 §2.4), also counted in ETHARP err. */
export let etharp_conflicts: u32 = 0;

// What etharp_netif_changed saw last, per netif index (any u8): the address,
// and whether the netif was usable (up, link up, addressed).
const SEEN_SLOTS: usize = 256;
const seen_ip: usize = memory.data(<i32>(SEEN_SLOTS * 4), 4);
const seen_active: usize = memory.data(<i32>SEEN_SLOTS);

/** Is etharp_tmr scheduled? It runs only while some entry can age. */
let timer_armed = false;

/** Empties the cache. Called once from asip_init. */
export function etharp_init(): void {
  memory.fill(arp_table, 0, <usize>ARP_TABLE_SIZE * ENTRY_SIZE);
  memory.fill(seen_ip, 0, SEEN_SLOTS * 4);
  memory.fill(seen_active, 0, SEEN_SLOTS);
  etharp_conflicts = 0;
  if (timer_armed) sys_untimeout(etharp_tmr, 0);
  timer_armed = false;
}

/**
 * Starts the ARP timer when an entry that ages (pending or stable) appears:
 * an idle stack, with an empty or static-only cache, schedules nothing.
 */
function arm_timer(): void {
  if (!timer_armed && sys_timeout_cyclic(ARP_TMR_INTERVAL, etharp_tmr, 0) == ERR_OK) timer_armed = true;
}

function free_queue(e: etharp_entry): void {
  let q = e.q;
  while (q) {
    const qe = changetype<etharp_q_entry>(q);
    const nxt = qe.next;
    pbuf_free(changetype<pbuf>(qe.p));
    memp_free(MEMP.ARP_QUEUE, q);
    q = nxt;
  }
  e.q = 0;
  e.qlen = 0;
}

function free_entry(e: etharp_entry): void {
  free_queue(e);
  e.state = ETHARP_STATE_EMPTY;
  e.ctime = 0;
  e.ipaddr = 0;
  e.if_idx = 0;
  memory.fill(entry_mac(e), 0, 6);
  if (timer_armed && !any_ageing()) {
    sys_untimeout(etharp_tmr, 0);
    timer_armed = false;
  }
}

/** Does any entry age (pending or stable)? */
function any_ageing(): bool {
  for (let i = 0; i < ARP_TABLE_SIZE; i++) {
    const st = entry(i).state;
    if (st != ETHARP_STATE_EMPTY && st != ETHARP_STATE_STATIC) return true;
  }
  return false;
}

/**
 * Index of the entry for `ipaddr` (on netif `n`, or any when null), or -1.
 * With `create`, an empty entry is taken, or the oldest one recycled: stable
 * first, then pending without queued packets, then pending with; static entries
 * never (lwIP etharp_find_entry, ETHARP_FLAG_TRY_HARD).
 */
function find_entry(ipaddr: u32, n: netif | null, create: bool): i32 {
  let empty: i32 = -1;
  let old_stable: i32 = -1, old_pending: i32 = -1, old_queue: i32 = -1;
  let age_stable: u16 = 0, age_pending: u16 = 0, age_queue: u16 = 0;
  for (let i = 0; i < ARP_TABLE_SIZE; i++) {
    const e = entry(i);
    const state = e.state;
    if (state == ETHARP_STATE_EMPTY) {
      if (empty < 0) empty = i;
      continue;
    }
    if (e.ipaddr == ipaddr && (n == null || e.if_idx == n.num)) return i;
    if (state == ETHARP_STATE_PENDING) {
      if (e.q != 0) {
        if (old_queue < 0 || e.ctime >= age_queue) { old_queue = i; age_queue = e.ctime; }
      } else if (old_pending < 0 || e.ctime >= age_pending) {
        old_pending = i; age_pending = e.ctime;
      }
    } else if (is_stable(state)) {
      if (old_stable < 0 || e.ctime >= age_stable) { old_stable = i; age_stable = e.ctime; }
    }
  }
  if (!create) return -1;
  let i = empty;
  if (i < 0) i = old_stable;
  if (i < 0) i = old_pending;
  if (i < 0) i = old_queue;
  if (i < 0) return -1;
  const e = entry(i);
  if (e.state != ETHARP_STATE_EMPTY) free_entry(e);
  e.ipaddr = ipaddr;
  e.if_idx = n ? n.num : 0;
  e.ctime = 0;
  return i;
}

/** Addresses never worth an entry: any, broadcast, multicast (RFC 1122 §2.3.2.1 keeps unicast neighbours). */
function ip_cacheable(ipaddr: u32, n: netif): bool {
  return !ip4_addr_isany(ipaddr) && !ip4_addr_ismulticast(ipaddr) && !ip4_addr_isbroadcast(ipaddr, n);
}

/**
 * Records `ipaddr` is at `mac` on `n`. With `create` a new entry may be made
 * (the packet was for us); else only an existing entry is refreshed (RFC 826's
 * merge flag). Static entries are left alone unless `make_static`. Sends
 * what was queued on the entry.
 */
function update_entry(n: netif, ipaddr: u32, mac: usize, create: bool, make_static: bool): err_t {
  if (!ip_cacheable(ipaddr, n)) return ERR_ARG;
  const i = find_entry(ipaddr, n, create);
  if (i < 0) return ERR_MEM;
  const e = entry(i);
  if (make_static) {
    e.state = ETHARP_STATE_STATIC;
  } else if (e.state == ETHARP_STATE_STATIC) {
    return ERR_VAL;
  } else {
    e.state = ETHARP_STATE_STABLE;
    arm_timer();
  }
  e.if_idx = n.num;
  memory.copy(entry_mac(e), mac, 6);
  e.ctime = 0;
  // Send what waited for this address, oldest first. Detach the queue first:
  // nothing below may see it half-sent.
  let q = e.q;
  e.q = 0;
  e.qlen = 0;
  while (q) {
    const qe = changetype<etharp_q_entry>(q);
    const nxt = qe.next;
    const p = changetype<pbuf>(qe.p);
    memp_free(MEMP.ARP_QUEUE, q);
    ethernet_output(n, p, netif_hwaddr(n), entry_mac(e), ETHTYPE_IP);
    pbuf_free(p);
    q = nxt;
  }
  return ERR_OK;
}

// ---- static entries ---------------------------------------------------------------------

/**
 * Adds (or replaces) a static entry: `ipaddr` is at the 6-byte MAC at `mac`,
 * on the netif the address routes to. ERR_RTE when none does; ERR_MEM when the
 * table holds nothing but static entries.
 */
export function etharp_add_static_entry(ipaddr: u32, mac: usize): err_t {
  const n = ip4_route(ipaddr);
  if (n == null) return ERR_RTE;
  return update_entry(n, ipaddr, mac, true, true);
}

/** Removes a static entry. ERR_VAL when `ipaddr` has none (dynamic entries are left alone). */
export function etharp_remove_static_entry(ipaddr: u32): err_t {
  const i = find_entry(ipaddr, null, false);
  if (i < 0) return ERR_ARG;
  const e = entry(i);
  if (e.state != ETHARP_STATE_STATIC) return ERR_VAL;
  free_entry(e);
  return ERR_OK;
}

// ---- flushing ---------------------------------------------------------------------------

function flush_netif(n: netif, keep_static: bool): void {
  for (let i = 0; i < ARP_TABLE_SIZE; i++) {
    const e = entry(i);
    if (e.state == ETHARP_STATE_EMPTY || e.if_idx != n.num) continue;
    if (keep_static && e.state == ETHARP_STATE_STATIC) continue;
    free_entry(e);
  }
}

/** Forgets every entry of `n`, static ones too, freeing queued packets (netif removed). */
export function etharp_cleanup_netif(n: netif): void {
  flush_netif(n, false);
  store<u32>(seen_ip + (<usize>n.num << 2), 0);
  store<u8>(seen_active + <usize>n.num, 0);
}

/**
 * netif.ts calls this on up/down, link and address changes. A netif that
 * became usable (up, link up, addressed) or changed its address announces
 * itself (RFC 5227 §3); one that is not usable or changed its address
 * forgets its dynamic entries and their queued packets: they may belong to
 * another network now.
 */
export function etharp_netif_changed(n: netif): void {
  if (!(n.flags & NETIF_FLAG_ETHARP)) return;
  const idx = <usize>n.num;
  const active = netif_is_up(n) && netif_is_link_up(n) && n.ip_addr != 0;
  const was_active = load<u8>(seen_active + idx) != 0;
  const addr_changed = load<u32>(seen_ip + (idx << 2)) != n.ip_addr;
  store<u32>(seen_ip + (idx << 2), n.ip_addr);
  store<u8>(seen_active + idx, active ? 1 : 0);
  if (!active || addr_changed) flush_netif(n, true);
  if (active && (!was_active || addr_changed)) etharp_gratuitous(n);
}

// ---- the timer --------------------------------------------------------------------------

/**
 * Ages the cache once per ARP_TMR_INTERVAL: expires stable entries after
 * ARP_MAXAGE, gives up on pending ones after ARP_MAXPENDING (freeing their
 * queued packets) and re-sends their request otherwise.
 */
export function etharp_tmr(arg: usize): void {
  for (let i = 0; i < ARP_TABLE_SIZE; i++) {
    const e = entry(i);
    const state = e.state;
    if (state == ETHARP_STATE_EMPTY || state == ETHARP_STATE_STATIC) continue;
    e.ctime++;
    const n = netif_get_by_index(e.if_idx);
    if (n == null ||
        (is_stable(state) && e.ctime >= ARP_MAXAGE) ||
        (state == ETHARP_STATE_PENDING && e.ctime >= ARP_MAXPENDING)) {
      if (state == ETHARP_STATE_PENDING) STATS_ADD(Proto.ETHARP, Ctr.DROP, e.qlen);
      free_entry(e);
    } else if (state == ETHARP_STATE_STABLE_REREQUESTING_1) {
      // One tick between re-requests: the next use may send another.
      e.state = ETHARP_STATE_STABLE_REREQUESTING_2;
    } else if (state == ETHARP_STATE_STABLE_REREQUESTING_2) {
      e.state = ETHARP_STATE_STABLE;
    } else if (state == ETHARP_STATE_PENDING) {
      etharp_request(n, e.ipaddr);
    }
  }
}

// ---- sending ARP packets ----------------------------------------------------------------

/** Builds and sends one ARP packet from `n` to Ethernet `eth_dst`. */
function etharp_raw(
  n: netif, eth_dst: usize, opcode: u16, shwaddr: usize, sipaddr: u32, dhwaddr: usize, dipaddr: u32,
): err_t {
  const p = pbuf_alloc(pbuf_layer.PBUF_LINK, ETHARP_HDR_LEN, pbuf_type.PBUF_RAM);
  if (p == null) {
    STATS_INC(Proto.ETHARP, Ctr.MEMERR);
    return ERR_MEM;
  }
  etharp_hdr_write(p.payload, opcode, shwaddr, sipaddr, dhwaddr, dipaddr);
  const r = ethernet_output(n, p, netif_hwaddr(n), eth_dst, ETHTYPE_ARP);
  pbuf_free(p);
  if (r == ERR_OK) STATS_INC(Proto.ETHARP, Ctr.XMIT);
  return r;
}

/** Broadcasts a request for `ipaddr` (RFC 826: "who has ipaddr? tell us"). */
export function etharp_request(n: netif, ipaddr: u32): err_t {
  return etharp_raw(n, ethbroadcast, ETHARP_OP_REQUEST, netif_hwaddr(n), n.ip_addr, ethzero, ipaddr);
}

/** A request sent to a known MAC: refreshes an entry without disturbing everyone. */
function etharp_request_dst(n: netif, ipaddr: u32, eth_dst: usize): err_t {
  return etharp_raw(n, eth_dst, ETHARP_OP_REQUEST, netif_hwaddr(n), n.ip_addr, ethzero, ipaddr);
}

/**
 * Announces our address (RFC 5227 §3, ARP Announcement): a broadcast request
 * whose sender and target protocol addresses are both ours, target hardware
 * address zero. Neighbours refresh their caches; a conflicting host notices.
 */
export function etharp_gratuitous(n: netif): err_t {
  if (n.ip_addr == 0) return ERR_VAL;
  return etharp_request(n, n.ip_addr);
}

// ---- input ------------------------------------------------------------------------------

/**
 * An ARP packet arrived on `n` (payload at the ARP header). Takes ownership
 * of `p`. Malformed packets are dropped and counted.
 */
export function etharp_input(p: pbuf, n: netif): err_t {
  // RFC 826 fixes the layout only through ar$hln/ar$pln; for Ethernet/IPv4 it
  // is 28 bytes, and anything shorter cannot hold the addresses.
  if (p.tot_len < ETHARP_HDR_LEN) {
    STATS_INC(Proto.ETHARP, Ctr.LENERR);
    STATS_INC(Proto.ETHARP, Ctr.DROP);
    pbuf_free(p);
    return ERR_OK;
  }
  const h = rx_hdr;
  pbuf_copy_partial(p, h, ETHARP_HDR_LEN, 0);
  pbuf_free(p);
  if (etharp_hdr_hwtype(h) != ETHARP_HWTYPE_ETHER || etharp_hdr_hwlen(h) != ETH_HWADDR_LEN ||
      etharp_hdr_protolen(h) != IP4_ADDR_LEN || etharp_hdr_proto(h) != ETHTYPE_IP) {
    STATS_INC(Proto.ETHARP, Ctr.PROTERR);
    STATS_INC(Proto.ETHARP, Ctr.DROP);
    return ERR_OK;
  }
  STATS_INC(Proto.ETHARP, Ctr.RECV);

  const sip = etharp_hdr_sipaddr(h);
  const dip = etharp_hdr_dipaddr(h);
  const sha = etharp_hdr_shwaddr(h);
  const ours = n.ip_addr;
  const for_us = ours != 0 && dip == ours;

  if (ours != 0 && sip == ours) {
    // RFC 5227 §2.4: a packet from another host claiming our address is a
    // conflict. Our own announcement looped back (our MAC) is not.
    if (!mac_eq(sha, netif_hwaddr(n))) {
      etharp_conflicts++;
      STATS_INC(Proto.ETHARP, Ctr.ERR);
      ev_push(EV_ETHARP_CONFLICT, n.num, null, ours, load<u32>(sha), <u32>load<u16>(sha, 4), 0, 0);
    }
  } else {
    // RFC 826 merge: refresh the sender if we know it; add it when the
    // packet was meant for us (it will likely talk to us next).
    update_entry(n, sip, sha, for_us, false);
  }

  const op = etharp_hdr_opcode(h);
  if (op == ETHARP_OP_REQUEST) {
    // RFC 826: swap sender and target, fill in our MAC, reply to the asker.
    // Probes (sender address 0, RFC 5227 §2.1.1) get the same defence.
    if (for_us) etharp_raw(n, sha, ETHARP_OP_REPLY, netif_hwaddr(n), ours, sha, sip);
  } else if (op != ETHARP_OP_REPLY) {
    STATS_INC(Proto.ETHARP, Ctr.PROTERR);
  }
  return ERR_OK;
}

// ---- IPv4 output ------------------------------------------------------------------------

/**
 * Sends an IPv4 packet `p` (payload at the IP header) to next hop `ipaddr`'s
 * MAC on `n`, resolving it first when needed. The caller keeps its reference
 * to `p`. ERR_RTE when an off-subnet destination has no gateway.
 */
export function etharp_output(n: netif, p: pbuf, ipaddr: u32): err_t {
  let dst: usize;
  if (ipaddr == IP4_ADDR_BROADCAST || ip4_addr_isbroadcast(ipaddr, n)) {
    dst = ethbroadcast;
  } else if (ip4_addr_ismulticast(ipaddr)) {
    // RFC 1112 §6.4: 01:00:5e followed by the low 23 bits of the group.
    store<u8>(mcast_mac, 0x01);
    store<u8>(mcast_mac, 0x00, 1);
    store<u8>(mcast_mac, 0x5e, 2);
    store<u8>(mcast_mac, <u8>((ipaddr >> 8) & 0x7f), 3);
    store<u8>(mcast_mac, <u8>(ipaddr >> 16), 4);
    store<u8>(mcast_mac, <u8>(ipaddr >> 24), 5);
    dst = mcast_mac;
  } else {
    let hop = ipaddr;
    // Off-subnet destinations go through the gateway, except link-local
    // ones, which are always on the link (RFC 3927 §2.6.2).
    if (!ip4_addr_net_eq(ipaddr, n.ip_addr, n.netmask) && !ip4_addr_islinklocal(ipaddr)) {
      if (n.gw == 0) {
        STATS_INC(Proto.ETHARP, Ctr.RTERR);
        return ERR_RTE;
      }
      hop = n.gw;
    }
    for (let i = 0; i < ARP_TABLE_SIZE; i++) {
      const e = entry(i);
      if (e.ipaddr == hop && e.if_idx == n.num &&
          (is_stable(e.state) || e.state == ETHARP_STATE_STATIC)) {
        STATS_INC(Proto.ETHARP, Ctr.CACHEHIT);
        return output_to_entry(n, p, e);
      }
    }
    return etharp_query(n, hop, p);
  }
  return ethernet_output(n, p, netif_hwaddr(n), dst, ETHTYPE_IP);
}

/**
 * Sends on a resolved entry. An entry in use near expiry is re-requested
 * now (RFC 1122 §2.3.2.1 "unicast poll" first, broadcast closer to the end)
 * so its refresh arrives before it would expire.
 */
function output_to_entry(n: netif, p: pbuf, e: etharp_entry): err_t {
  if (e.state == ETHARP_STATE_STABLE) {
    if (e.ctime >= ARP_AGE_REREQUEST_USED_BROADCAST) {
      if (etharp_request(n, e.ipaddr) == ERR_OK) e.state = ETHARP_STATE_STABLE_REREQUESTING_1;
    } else if (e.ctime >= ARP_AGE_REREQUEST_USED_UNICAST) {
      if (etharp_request_dst(n, e.ipaddr, entry_mac(e)) == ERR_OK) e.state = ETHARP_STATE_STABLE_REREQUESTING_1;
    }
  }
  return ethernet_output(n, p, netif_hwaddr(n), entry_mac(e), ETHTYPE_IP);
}

/**
 * Resolves `ipaddr` on `n` and sends `p` (may be null: just resolve). A new
 * entry broadcasts one request; later packets for the same pending entry are
 * queued without another (the timer retries). The queue keeps the newest
 * ARP_QUEUE_LEN packets (RFC 1122 §2.3.2.2), and a packet whose payload may
 * change (PBUF_REF) is copied first. The caller keeps its reference to `p`.
 */
export function etharp_query(n: netif, ipaddr: u32, p: pbuf | null): err_t {
  if (!ip_cacheable(ipaddr, n)) return ERR_ARG;
  const i = find_entry(ipaddr, n, true);
  if (i < 0) {
    if (p) STATS_INC(Proto.ETHARP, Ctr.MEMERR);
    return ERR_MEM;
  }
  const e = entry(i);
  const is_new = e.state == ETHARP_STATE_EMPTY;
  if (is_new) {
    e.state = ETHARP_STATE_PENDING;
    arm_timer();
    e.if_idx = n.num;
  }
  let result: err_t = ERR_OK;
  if (is_new || p == null) {
    result = etharp_request(n, ipaddr);
    if (p == null) return result;
  }
  const q = changetype<pbuf>(p);
  if (is_stable(e.state) || e.state == ETHARP_STATE_STATIC) {
    STATS_INC(Proto.ETHARP, Ctr.CACHEHIT);
    return output_to_entry(n, q, e);
  }
  // PENDING: keep a copy of the packet until the reply comes. Always a copy
  // (lwIP references RAM/POOL pbufs): asip's senders move the payload back
  // past the headers they added as soon as output returns (ip4_output_if),
  // so a referenced pbuf would no longer start at its IP header when sent.
  const held = pbuf_clone(pbuf_layer.PBUF_LINK, pbuf_type.PBUF_RAM, q);
  if (held == null) {
    STATS_INC(Proto.ETHARP, Ctr.MEMERR);
    return ERR_MEM;
  }
  const m = memp_malloc(MEMP.ARP_QUEUE);
  if (m == 0) {
    pbuf_free(held);
    STATS_INC(Proto.ETHARP, Ctr.MEMERR);
    return ERR_MEM;
  }
  const qe = changetype<etharp_q_entry>(m);
  qe.next = 0;
  qe.p = changetype<usize>(held);
  if (e.q == 0) {
    e.q = m;
  } else {
    let last = changetype<etharp_q_entry>(e.q);
    while (last.next) last = changetype<etharp_q_entry>(last.next);
    last.next = m;
  }
  e.qlen++;
  if (<u32>e.qlen > ARP_QUEUE_LEN) {
    // Full: the oldest packet makes room for the newest.
    const old = changetype<etharp_q_entry>(e.q);
    e.q = old.next;
    e.qlen--;
    pbuf_free(changetype<pbuf>(old.p));
    memp_free(MEMP.ARP_QUEUE, changetype<usize>(old));
    STATS_INC(Proto.ETHARP, Ctr.DROP);
  }
  // Queued: the packet goes out with the reply, whatever the request's fate.
  return ERR_OK;
}

// ---- inspection (abi/etharp.ts, tests) ------------------------------------------------

//   record written by etharp_entry_info (16 bytes):
//   +0 ipaddr u32  +4 mac 6 bytes  +10 state u8  +11 netif index u8
//   +12 ctime u16  +14 queued packets u8  +15 reserved
export const ETHARP_INFO_SIZE: usize = 16;

/** Writes entry `i`'s record at `out`; returns its state, or -1 past the table. */
export function etharp_entry_info(i: i32, out: usize): i32 {
  if (i < 0 || i >= ARP_TABLE_SIZE) return -1;
  const e = entry(i);
  store<u32>(out, e.ipaddr);
  memory.copy(out + 4, entry_mac(e), 6);
  store<u8>(out, e.state, 10);
  store<u8>(out, e.if_idx, 11);
  store<u16>(out, e.ctime, 12);
  store<u8>(out, e.qlen, 14);
  store<u8>(out, 0, 15);
  return e.state;
}

/** Index of `ipaddr`'s entry (any netif), or -1. */
export function etharp_find(ipaddr: u32): i32 {
  return find_entry(ipaddr, null, false);
}
