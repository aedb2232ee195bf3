// netif: network interfaces (lwIP netif.c).
//
// A stack has up to NETIF_MAX interfaces plus the loopback netif (index 1,
// 127.0.0.1/8, and ::1 with IPv6). Each has a MAC, an MTU, an IPv4
// address/netmask/gateway, with LWIP_IPV6 LWIP_IPV6_NUM_ADDRESSES IPv6
// address slots, administrative state (up/down) and link state (link
// up/down). Interfaces driven by the host hand their frames to the TX ring;
// the loopback netif queues packets and delivers them on the next drain
// (netif_poll), never on a polling interval.
//
// What a netif does with packets is per kind, through function references
// it carries (lwIP's netif->input, output, output_ip6, linkoutput), called
// with call_indirect the way TCP calls its callbacks:
//
//   input      a received frame or packet goes up: ethernet_input on
//              Ethernet, ip_input (by version) on links that carry bare IP
//   output4    IPv4 to a next hop: etharp_output on Ethernet (ARP), straight
//              to linkoutput on IP links and the loopback
//   output6    IPv6 to a next hop: nd6_output on Ethernet (Neighbor
//              Discovery, RFC 4861), linkoutput on IP links
//   linkoutput a whole frame to the wire: the host's TX ring, or the
//              loopback queue
//
// So IP never knows what carries it: PPP or 6LoWPAN are a new kind that
// sets these four, without touching ip4 or ip6.
//
// Status and link changes are reported to the host as events (EV_NETIF,
// EV_NETIF_IP6) and to in-core users (ARP's gratuitous announcement, the
// pcbs on an address that changed) directly.
//
//   struct netif (NETIF_SIZE bytes), a static table indexed by num - 1:
//   +0  ip4 ip_addr (20): the IPv4 address as a tagged address; its u32 at +0
//       is `ip_addr` (network order), so IPv4 code reads it as before
//   +20 netmask u32   +24 gw u32   (network order)
//   +28 mtu u32       +32 flags u8  num u8 (if_idx, 1-based)  kind u8  hwaddr_len u8
//   +36 hw0..hw5 (MAC)   +42 vlan u16 (802.1Q VID we tag and accept, 0 = none)
//   +44 loop_first usize   +48 loop_last usize   +52 loop_count u32 (loopback queue)
//   +56 input  +60 output4  +64 output6  +68 linkoutput   (function references)
//   +72 IPv6 address slots (LWIP_IPV6 only), NETIF_IP6_SLOT bytes each:
//       +0 addr ip_addr (20)  +20 state u8 (IP6_ADDR_*)  +21 prefix_len u8
//       (on-link prefix, 0 = none)  +22 origin u8 (IP6_ORIGIN_*)  +24 valid_life u32
//       +28 pref_life u32  (seconds left; IP6_ADDR_LIFE_STATIC = no timer; only
//       SLAAC addresses tick, ipv6/slaac.ts)

import { pbuf, pbuf_free, pbuf_alloc, pbuf_copy, pbuf_type, pbuf_layer } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_IF, ERR_ARG } from "../core/err";
import { ev_push, ev_push_flags, ev_addr, ev_addr_flags } from "../core/rings";
import { tx_push } from "../core/rings";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { LWIP_IPV4, LWIP_IPV6, LWIP_IPV6_NUM_ADDRESSES } from "../config";
import {
  ip_addr, ip_addr_copy, ip_addr_eq, ip_addr_set_ip6, ip_2_ip6, ip6_addr_islinklocal, ip6_addr_ismulticast,
  IP4, IP4_ADDR_LOOPBACK, IP_ADDR_SIZE,
} from "../ip_addr";
import { ethernet_input } from "./ethernet";
import { etharp_netif_changed, etharp_cleanup_netif, etharp_output } from "./etharp";
import { ip_input, ip_netif_addr_changed } from "../ip";
import { nd6_output, nd6_netif_changed, nd6_cleanup_netif } from "../ipv6/nd6";
import { mld6_cleanup_netif } from "../ipv6/mld6";

export const NETIF_MAX: i32 = 8;
/** Highest if_idx (the loopback netif is 1, host netifs 2..NETIF_LAST_IDX). */
export const NETIF_LAST_IDX: u32 = <u32>NETIF_MAX + 1;
export const NETIF_LOOPBACK_IDX: u8 = 1;

// flags (lwIP netif.h)
export const NETIF_FLAG_UP: u8 = 0x01;
export const NETIF_FLAG_BROADCAST: u8 = 0x02;
export const NETIF_FLAG_LINK_UP: u8 = 0x04;
export const NETIF_FLAG_ETHARP: u8 = 0x08;
export const NETIF_FLAG_ETHERNET: u8 = 0x10;
export const NETIF_FLAG_IGMP: u8 = 0x20;
export const NETIF_FLAG_MLD6: u8 = 0x40;

/** What carries a netif's frames. */
export const enum NetifKind {
  NONE = 0,
  /** The loopback interface: packets queued and re-injected inside the core. */
  LOOPBACK = 1,
  /** An Ethernet interface whose frames go to and come from the host. */
  HOST_ETHERNET = 2,
  /**
   * A host link that carries bare IP packets, no link header (a TUN device,
   * a tunnel that frames IP itself): no ARP, no MAC; IP goes straight to
   * the TX ring and received packets to ip_input by their version.
   */
  HOST_IP = 3,
}

/** Status bits reported to the host with EV_NETIF events. */
export const enum NetifReason {
  ADDED = 0x01,
  REMOVED = 0x02,
  UP = 0x04,
  DOWN = 0x08,
  LINK_UP = 0x10,
  LINK_DOWN = 0x20,
  ADDR = 0x40,
}

// ---- IPv6 address states (RFC 4862 §5.5; lwIP's encoding) ------------------------------
/** The slot is empty (or the address was withdrawn). */
export const IP6_ADDR_INVALID: u8 = 0x00;
/** Duplicate Address Detection running (RFC 4862 §5.4); the low 3 bits count probes sent. */
export const IP6_ADDR_TENTATIVE: u8 = 0x08;
export const IP6_ADDR_TENTATIVE_COUNT_MASK: u8 = 0x07;
/** Bit of every state in which the address may be used. */
export const IP6_ADDR_VALID: u8 = 0x10;
/** Valid, and the preferred lifetime has not run out: any new communication may use it. */
export const IP6_ADDR_PREFERRED: u8 = 0x30;
/** Valid, preferred lifetime over: existing communication only (RFC 4862 §5.5.4). */
export const IP6_ADDR_DEPRECATED: u8 = 0x10;
/** DAD found another node using it: never used (RFC 4862 §5.4.5). */
export const IP6_ADDR_DUPLICATED: u8 = 0x40;
// Where a slot's address came from (low 4 bits), and flags.
export const IP6_ORIGIN_STATIC: u8 = 0;
export const IP6_ORIGIN_LINKLOCAL: u8 = 1;
export const IP6_ORIGIN_SLAAC: u8 = 2;
/** A temporary address (RFC 8981). */
export const IP6_ORIGIN_TEMP: u8 = 3;
/** Skip DAD for this address (a host's choice, like Linux's `nodad`). */
export const IP6_ORIGIN_NODAD: u8 = 0x10;
/** Its solicited-node group has been joined (ipv6/slaac.ts). */
export const IP6_ORIGIN_JOINED: u8 = 0x80;
/** Lifetime of a static address: it never expires (no timer). */
export const IP6_ADDR_LIFE_STATIC: u32 = 0;
/** RFC 4862 §5.5.3: an all-ones lifetime is infinity. */
export const IP6_ADDR_LIFE_INFINITE: u32 = 0xffffffff;

// @ts-ignore: decorator
@inline export function ip6_addr_isvalid(state: u8): bool { return (state & IP6_ADDR_VALID) != 0; }
// @ts-ignore: decorator
@inline export function ip6_addr_istentative(state: u8): bool { return (state & IP6_ADDR_TENTATIVE) != 0; }

// ---- the structure ----------------------------------------------------------------------

@unmanaged
export class netif {
  ip_addr: u32;
  _ip1: u32;
  _ip2: u32;
  _ip3: u32;
  ip_type: u8;
  ip_zone: u8;
  _ipr: u16;
  netmask: u32;
  gw: u32;
  mtu: u32;
  flags: u8;
  num: u8;
  kind: u8;
  hwaddr_len: u8;
  hw0: u8; hw1: u8; hw2: u8; hw3: u8; hw4: u8; hw5: u8;
  vlan: u16;
  loop_first: usize;
  loop_last: usize;
  loop_count: u32;
  input: usize;
  output4: usize;
  output6: usize;
  linkoutput: usize;
}

/** Received frame or packet, up: `p` is taken (lwIP netif_input_fn). */
export type netif_input_fn = (p: pbuf, n: netif) => err_t;
/** An IPv4 packet (payload at its header) to next hop `nexthop` (network order); the caller keeps `p` (lwIP netif_output_fn). */
export type netif_output4_fn = (n: netif, p: pbuf, nexthop: u32) => err_t;
/** An IPv6 packet to the next hop whose 16 bytes are at `nexthop`; the caller keeps `p` (lwIP netif_output_ip6_fn). */
export type netif_output6_fn = (n: netif, p: pbuf, nexthop: usize) => err_t;
/** A whole frame to the link; the caller keeps `p` (lwIP netif_linkoutput_fn). */
export type netif_linkoutput_fn = (n: netif, p: pbuf) => err_t;

const NETIF_BASE: usize = offsetof<netif>();
/** Bytes of one IPv6 address slot. */
export const NETIF_IP6_SLOT: usize = 32;
const IP6_SLOTS: usize = LWIP_IPV6 ? <usize>LWIP_IPV6_NUM_ADDRESSES : 0;
export const NETIF_SIZE: usize = (NETIF_BASE + IP6_SLOTS * NETIF_IP6_SLOT + 7) & ~7;
const table: usize = memory.data(<i32>(NETIF_SIZE * (NETIF_MAX + 1)), 8);

/** The default route's interface, or null. */
export let netif_default: netif | null = null;
/** The loopback interface (index 1). */
export let netif_loop: netif = changetype<netif>(table);

/** Most packets the loopback queue holds before it drops (lwIP LWIP_LOOPBACK_MAX_PBUFS). */
const LOOPBACK_MAX_PBUFS: u32 = 256;

/** n's IPv4 address as a tagged address (type V4; 0.0.0.0 when it has none). */
// @ts-ignore: decorator
@inline export function netif_ip4_addr(n: netif): ip_addr { return changetype<ip_addr>(n); }

/** Pointer to a netif's MAC (6 bytes). */
// @ts-ignore: decorator
@inline export function netif_hwaddr(n: netif): usize {
  return changetype<usize>(n) + offsetof<netif>("hw0");
}

// @ts-ignore: decorator
@inline export function netif_is_up(n: netif): bool { return (n.flags & NETIF_FLAG_UP) != 0; }
// @ts-ignore: decorator
@inline export function netif_is_link_up(n: netif): bool { return (n.flags & NETIF_FLAG_LINK_UP) != 0; }

/** The netif with if_idx `idx`, or null. */
export function netif_get_by_index(idx: u32): netif | null {
  if (idx < 1 || idx > <u32>NETIF_MAX + 1) return null;
  const n = changetype<netif>(table + <usize>(idx - 1) * NETIF_SIZE);
  return n.kind == NetifKind.NONE ? null : n;
}

/** First netif in the table from index `from` (1-based) on, for iteration; null at the end. */
export function netif_next(from: u32): netif | null {
  for (let i = from; i <= <u32>NETIF_MAX + 1; i++) {
    const n = netif_get_by_index(i);
    if (n) return n;
  }
  return null;
}

function report(n: netif, reason: u32): void {
  ev_push(EV_NETIF, n.num, null, reason, n.flags, n.ip_addr, n.netmask, n.gw);
}

/** Event type of netif status changes (see rings.ts). */
export const EV_NETIF: u16 = 1;
/**
 * Event type of an IPv6 address slot changing (docs/abi.md): handle = netif
 * index, a = slot, b = state (IP6_ADDR_*), c = the address (an ip_addr
 * pointer, EV_FLAG_IP6), d = valid lifetime, e = preferred lifetime (s).
 */
export const EV_NETIF_IP6: u16 = 2;

/** Sets up the loopback netif (127.0.0.1/8, up, link up). */
export function netif_init(): void {
  memory.fill(table, 0, NETIF_SIZE * (NETIF_MAX + 1));
  const lo = netif_loop;
  lo.num = NETIF_LOOPBACK_IDX;
  lo.kind = <u8>NetifKind.LOOPBACK;
  lo.mtu = 65535;
  lo.ip_addr = IP4_ADDR_LOOPBACK;
  lo.netmask = IP4(255, 0, 0, 0);
  lo.flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
  // Bare IP packets, queued and delivered on the next drain.
  lo.input = changetype<usize>(ip_input);
  lo.output4 = changetype<usize>(netif_ip_output4);
  lo.output6 = changetype<usize>(netif_ip_output6);
  lo.linkoutput = changetype<usize>(netif_loop_linkoutput);
  if (LWIP_IPV6) {
    // ::1 (RFC 4291 §2.5.3), never subject to DAD.
    netif_ip6_addr_set(lo, 0, changetype<ip_addr>(IP6_LOOPBACK));
    netif_ip6_addr_set_state(lo, 0, IP6_ADDR_PREFERRED);
  }
}

/** A free table slot for a new host netif of `kind`, zeroed and numbered; null when the table is full. */
function netif_alloc(kind: NetifKind, mtu: u32): netif | null {
  for (let i: u32 = 2; i <= <u32>NETIF_MAX + 1; i++) {
    const n = changetype<netif>(table + <usize>(i - 1) * NETIF_SIZE);
    if (n.kind != NetifKind.NONE) continue;
    memory.fill(changetype<usize>(n), 0, NETIF_SIZE);
    n.num = <u8>i;
    n.kind = <u8>kind;
    n.mtu = mtu;
    // Frames leave through the host's TX ring, whatever the link.
    n.linkoutput = changetype<usize>(netif_tx_linkoutput);
    return n;
  }
  return null;
}

/**
 * Adds an Ethernet interface driven by the host, down and with link down,
 * without an address. Returns null when the table is full.
 */
export function netif_add(mac: usize, mtu: u32): netif | null {
  const n = netif_alloc(NetifKind.HOST_ETHERNET, mtu);
  if (n == null) return null;
  n.hwaddr_len = 6;
  memory.copy(netif_hwaddr(n), mac, 6);
  n.input = changetype<usize>(ethernet_input);
  n.output4 = LWIP_IPV4 ? changetype<usize>(etharp_output) : changetype<usize>(netif_no_output4);
  n.output6 = LWIP_IPV6 ? changetype<usize>(nd6_output) : changetype<usize>(netif_no_output6);
  n.flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
  report(n, NetifReason.ADDED);
  return n;
}

/**
 * Adds a host link that carries bare IP packets (NetifKind.HOST_IP), down
 * and with link down, without an address: the same seam PPP and 6LoWPAN
 * will use, with its own output functions. Null when the table is full.
 */
export function netif_add_ip(mtu: u32): netif | null {
  const n = netif_alloc(NetifKind.HOST_IP, mtu);
  if (n == null) return null;
  n.input = changetype<usize>(ip_input);
  n.output4 = changetype<usize>(netif_ip_output4);
  n.output6 = changetype<usize>(netif_ip_output6);
  n.flags = NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
  report(n, NetifReason.ADDED);
  return n;
}

/** Removes an interface: down, link down, queued packets freed, default route cleared. */
export function netif_remove(n: netif): void {
  if (n.kind == NetifKind.LOOPBACK) return;
  netif_set_down(n);
  netif_set_link_down(n);
  loop_flush(n);
  if (netif_default == n) netif_default = null;
  netif_remove_hooks(n);
  report(n, NetifReason.REMOVED);
  n.kind = <u8>NetifKind.NONE;
  n.flags = 0;
}

/** ::1 as an ip_addr. */
const IP6_LOOPBACK: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 6, 0, 0, 0]);
/** Scratch for the address an address-change hook gets as "old". */
const addr_tmp: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

/** Sets the IPv4 address, netmask and gateway (network order u32s). */
export function netif_set_addr(n: netif, ip: u32, mask: u32, gw: u32): void {
  const changed = n.ip_addr != ip;
  const old = changetype<ip_addr>(addr_tmp);
  ip_addr_copy(old, netif_ip4_addr(n));
  n.ip_addr = ip;
  n.netmask = mask;
  n.gw = gw;
  if (changed) netif_addr_changed_hooks(n, old);
  report(n, NetifReason.ADDR);
}

export function netif_set_default(n: netif | null): void {
  netif_default = n;
}

export function netif_set_up(n: netif): void {
  if (n.flags & NETIF_FLAG_UP) return;
  n.flags |= NETIF_FLAG_UP;
  netif_state_changed_hooks(n);
  report(n, NetifReason.UP);
}

export function netif_set_down(n: netif): void {
  if (!(n.flags & NETIF_FLAG_UP)) return;
  n.flags &= ~NETIF_FLAG_UP;
  netif_state_changed_hooks(n);
  report(n, NetifReason.DOWN);
}

export function netif_set_link_up(n: netif): void {
  if (n.flags & NETIF_FLAG_LINK_UP) return;
  n.flags |= NETIF_FLAG_LINK_UP;
  netif_state_changed_hooks(n);
  report(n, NetifReason.LINK_UP);
}

export function netif_set_link_down(n: netif): void {
  if (!(n.flags & NETIF_FLAG_LINK_UP)) return;
  n.flags &= ~NETIF_FLAG_LINK_UP;
  netif_state_changed_hooks(n);
  report(n, NetifReason.LINK_DOWN);
}

// ---- in-core reactions to netif changes ---------------------------------------
// One place that tells every protocol what changed (lwIP's ext callbacks).

function netif_state_changed_hooks(n: netif): void {
  if (LWIP_IPV4) etharp_netif_changed(n);
  if (LWIP_IPV6) nd6_netif_changed(n);
}

function netif_addr_changed_hooks(n: netif, old: ip_addr): void {
  if (LWIP_IPV4) etharp_netif_changed(n);
  // pcbs bound to the old address follow it (ip.ts ip_netif_addr_changed).
  ip_netif_addr_changed(old, netif_ip4_addr(n));
}

function netif_remove_hooks(n: netif): void {
  if (LWIP_IPV4) etharp_cleanup_netif(n); // static entries too: a new netif may reuse the index
  if (LWIP_IPV6) {
    nd6_cleanup_netif(n);
    mld6_cleanup_netif(n);
    for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
      if (netif_ip6_addr_state(n, i) != IP6_ADDR_INVALID) netif_ip6_addr_set_state(n, i, IP6_ADDR_INVALID);
      store<u16>(slot(n, i), 0, 21);
    }
  }
}

// ---- input and output ---------------------------------------------------------

/**
 * A frame (Ethernet) or packet (loopback) arrived on `n`. Takes ownership of
 * `p`. Frames on a netif that is down are dropped and counted.
 */
export function netif_input(p: pbuf, n: netif): err_t {
  p.if_idx = n.num;
  if (!(n.flags & NETIF_FLAG_UP) || !(n.flags & NETIF_FLAG_LINK_UP)) {
    STATS_INC(Proto.LINK, Ctr.DROP);
    pbuf_free(p);
    return ERR_IF;
  }
  return changetype<netif_input_fn>(n.input)(p, n);
}

/** Sends an IPv4 packet (payload at its header) to `nexthop` the way `n` does (output4). The caller keeps `p`. */
// @ts-ignore: decorator
@inline export function netif_output4(n: netif, p: pbuf, nexthop: u32): err_t {
  return changetype<netif_output4_fn>(n.output4)(n, p, nexthop);
}

/** Sends an IPv6 packet to the next hop at `nexthop` (16 bytes) the way `n` does (output6). The caller keeps `p`. */
// @ts-ignore: decorator
@inline export function netif_output6(n: netif, p: pbuf, nexthop: usize): err_t {
  return changetype<netif_output6_fn>(n.output6)(n, p, nexthop);
}

/** Hands a complete frame to the link (linkoutput) when the link is up. The caller keeps `p`. */
export function netif_linkoutput(n: netif, p: pbuf): err_t {
  if (!(n.flags & NETIF_FLAG_LINK_UP)) {
    STATS_INC(Proto.LINK, Ctr.DROP);
    return ERR_IF;
  }
  return changetype<netif_linkoutput_fn>(n.linkoutput)(n, p);
}

/** linkoutput of host-driven netifs: the frame goes on the TX ring. */
function netif_tx_linkoutput(n: netif, p: pbuf): err_t {
  if (!tx_push(p, n.num)) {
    STATS_INC(Proto.LINK, Ctr.MEMERR);
    return ERR_MEM;
  }
  STATS_INC(Proto.LINK, Ctr.XMIT);
  return ERR_OK;
}

/** linkoutput of the loopback netif: its "frames" are IP packets, queued for the next drain. */
function netif_loop_linkoutput(n: netif, p: pbuf): err_t {
  return netif_loop_output(n, p);
}

/** output4 of links that carry bare IP (the loopback, host IP links): no link header, no next hop to resolve. */
function netif_ip_output4(n: netif, p: pbuf, nexthop: u32): err_t {
  return netif_linkoutput(n, p);
}

/** output6 of links that carry bare IP. */
function netif_ip_output6(n: netif, p: pbuf, nexthop: usize): err_t {
  return netif_linkoutput(n, p);
}

/** output6 of Ethernet in builds without IPv6. */
/** output4 of Ethernet links in a build without IPv4 (nothing calls it: ip.ts sends no IPv4). */
function netif_no_output4(n: netif, p: pbuf, nexthop: u32): err_t {
  STATS_INC(Proto.IP, Ctr.RTERR);
  return ERR_IF;
}

function netif_no_output6(n: netif, p: pbuf, nexthop: usize): err_t {
  STATS_INC(Proto.IP6, Ctr.RTERR);
  return ERR_IF;
}

/**
 * Queues a copy of an IP packet on `n`'s loopback queue (traffic to our own
 * addresses, or to 127/8). The copy lets the caller keep or free `p` as with
 * any output. Delivered by netif_poll on the next drain.
 */
export function netif_loop_output(n: netif, p: pbuf): err_t {
  if (n.loop_count >= LOOPBACK_MAX_PBUFS) {
    STATS_INC(Proto.LINK, Ctr.MEMERR);
    return ERR_MEM;
  }
  const r = pbuf_alloc(pbuf_layer.PBUF_LINK, p.tot_len, pbuf_type.PBUF_RAM);
  if (r == null) {
    STATS_INC(Proto.LINK, Ctr.MEMERR);
    return ERR_MEM;
  }
  if (pbuf_copy(r, p) != ERR_OK) {
    pbuf_free(r);
    return ERR_ARG;
  }
  r.next = null;
  if (n.loop_last) changetype<pbuf>(n.loop_last).next = r;
  else n.loop_first = changetype<usize>(r);
  // The queue is linked through `next`; each entry is a single RAM pbuf.
  n.loop_last = changetype<usize>(r);
  n.loop_count++;
  STATS_INC(Proto.LINK, Ctr.XMIT);
  return ERR_OK;
}

function loop_flush(n: netif): void {
  let q = n.loop_first;
  while (q) {
    const nxt = changetype<usize>(changetype<pbuf>(q).next);
    changetype<pbuf>(q).next = null;
    pbuf_free(changetype<pbuf>(q));
    q = nxt;
  }
  n.loop_first = 0;
  n.loop_last = 0;
  n.loop_count = 0;
}

/** Packets waiting on any loopback queue. */
export function netif_loop_pending(): u32 {
  let total: u32 = 0;
  for (let i: u32 = 1; i <= <u32>NETIF_MAX + 1; i++) {
    const n = changetype<netif>(table + <usize>(i - 1) * NETIF_SIZE);
    if (n.kind != NetifKind.NONE) total += n.loop_count;
  }
  return total;
}

/**
 * Delivers what the loopback queues hold, as if received. Packets that this
 * delivery causes to be looped again wait for the next call, so one call is
 * bounded. Returns the number delivered.
 */
export function netif_poll(): u32 {
  let delivered: u32 = 0;
  for (let i: u32 = 1; i <= <u32>NETIF_MAX + 1; i++) {
    const n = changetype<netif>(table + <usize>(i - 1) * NETIF_SIZE);
    if (n.kind == NetifKind.NONE || n.loop_first == 0) continue;
    // Detach the queue first: input may append to it again.
    let q = n.loop_first;
    n.loop_first = 0;
    n.loop_last = 0;
    n.loop_count = 0;
    while (q) {
      const p = changetype<pbuf>(q);
      q = changetype<usize>(p.next);
      p.next = null;
      STATS_INC(Proto.LINK, Ctr.RECV);
      p.if_idx = n.num;
      // Packets to our own address on an Ethernet netif re-enter at IP.
      ip_input(p, n);
      delivered++;
    }
  }
  return delivered;
}

// ---- IPv6 address slots (LWIP_IPV6) -------------------------------------------------------
// Addresses come and go through SLAAC and DAD (RFC 4862, ipv6/slaac.ts);
// a host may also set them. Slots hold the address as an ip_addr (scoped
// addresses carry this netif's index as their zone, RFC 4007), its state and
// its lifetimes. An address that stops being valid, or changes, is reported
// to the pcbs (ip_netif_addr_changed) and to the host (EV_NETIF_IP6).

// @ts-ignore: decorator
@inline function slot(n: netif, i: i32): usize { return changetype<usize>(n) + NETIF_BASE + <usize>i * NETIF_IP6_SLOT; }

/** Address of slot `i` (0..LWIP_IPV6_NUM_ADDRESSES-1). */
export function netif_ip6_addr(n: netif, i: i32): ip_addr { return changetype<ip_addr>(slot(n, i)); }
export function netif_ip6_addr_state(n: netif, i: i32): u8 { return LWIP_IPV6 ? load<u8>(slot(n, i), 20) : IP6_ADDR_INVALID; }
export function netif_ip6_addr_valid_life(n: netif, i: i32): u32 { return load<u32>(slot(n, i), 24); }
export function netif_ip6_addr_pref_life(n: netif, i: i32): u32 { return load<u32>(slot(n, i), 28); }
/** On-link prefix length given with slot `i`'s address (0 = none). */
export function netif_ip6_addr_prefix_len(n: netif, i: i32): u8 { return LWIP_IPV6 ? load<u8>(slot(n, i), 21) : 0; }
export function netif_ip6_addr_set_prefix_len(n: netif, i: i32, len: u8): void { if (LWIP_IPV6) store<u8>(slot(n, i), len, 21); }
/** Where slot `i`'s address came from (IP6_ORIGIN_*, with flags). */
export function netif_ip6_addr_origin(n: netif, i: i32): u8 { return LWIP_IPV6 ? load<u8>(slot(n, i), 22) : 0; }
export function netif_ip6_addr_set_origin(n: netif, i: i32, o: u8): void { if (LWIP_IPV6) store<u8>(slot(n, i), o, 22); }

function report6(n: netif, i: i32): void {
  const a = netif_ip6_addr(n, i);
  ev_push_flags(EV_NETIF_IP6, ev_addr_flags(a), n.num, null, <u32>i, netif_ip6_addr_state(n, i), ev_addr(a, 0),
    netif_ip6_addr_valid_life(n, i), netif_ip6_addr_pref_life(n, i));
}

/**
 * Puts the 16 bytes of `a` in slot `i` (lwIP netif_ip6_addr_set). A
 * link-local address gets this netif as its zone. A valid address that
 * changes is reported to the pcbs bound to the old one.
 */
export function netif_ip6_addr_set(n: netif, i: i32, a: ip_addr): void {
  if (!LWIP_IPV6 || i < 0 || i >= LWIP_IPV6_NUM_ADDRESSES) return;
  const cur = netif_ip6_addr(n, i);
  const zone = ip6_addr_islinklocal(ip_2_ip6(a)) || ip6_addr_ismulticast(ip_2_ip6(a)) ? n.num : 0;
  const old = changetype<ip_addr>(addr_tmp);
  ip_addr_copy(old, cur);
  ip_addr_set_ip6(cur, ip_2_ip6(a), zone);
  if (ip6_addr_isvalid(netif_ip6_addr_state(n, i)) && !ip_addr_eq(old, cur)) {
    ip_netif_addr_changed(old, cur);
    report6(n, i);
  }
}

/** Sets slot `i`'s state (IP6_ADDR_*). An address that stops being valid takes its TCP connections with it. */
export function netif_ip6_addr_set_state(n: netif, i: i32, state: u8): void {
  if (!LWIP_IPV6 || i < 0 || i >= LWIP_IPV6_NUM_ADDRESSES) return;
  const was = netif_ip6_addr_state(n, i);
  if (was == state) return;
  store<u8>(slot(n, i), state, 20);
  if (ip6_addr_isvalid(was) && !ip6_addr_isvalid(state)) ip_netif_addr_changed(netif_ip6_addr(n, i), null);
  report6(n, i);
}

/** Valid and preferred lifetimes of slot `i`, in seconds (RFC 4862 §5.5.3; IP6_ADDR_LIFE_*). */
export function netif_ip6_addr_set_lifetimes(n: netif, i: i32, valid: u32, pref: u32): void {
  if (!LWIP_IPV6 || i < 0 || i >= LWIP_IPV6_NUM_ADDRESSES) return;
  store<u32>(slot(n, i), valid, 24);
  store<u32>(slot(n, i), pref, 28);
}

/**
 * Puts `a` in the first empty slot as TENTATIVE (DAD decides, RFC 4862
 * §5.4; lwIP netif_add_ip6_address). Returns the slot (the one already
 * holding `a`, in whatever state, if any), or -1 when every slot is taken.
 */
export function netif_add_ip6_address(n: netif, a: ip_addr): i32 {
  if (!LWIP_IPV6) return -1;
  const have = slot_find(n, a, false);
  if (have >= 0) return have;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    if (netif_ip6_addr_state(n, i) != IP6_ADDR_INVALID) continue;
    netif_ip6_addr_set(n, i, a);
    netif_ip6_addr_set_lifetimes(n, i, IP6_ADDR_LIFE_STATIC, IP6_ADDR_LIFE_STATIC);
    netif_ip6_addr_set_state(n, i, IP6_ADDR_TENTATIVE);
    return i;
  }
  return -1;
}

/** The slot holding `a` in a valid state (zone ignored when `a` has none), or -1. */
export function netif_ip6_addr_match(n: netif, a: ip_addr): i32 { return slot_find(n, a, true); }

/** The slot holding `a`: in a valid state, or (`valid_only` false) in any state but INVALID; -1 when none. */
function slot_find(n: netif, a: ip_addr, valid_only: bool): i32 {
  if (!LWIP_IPV6) return -1;
  const p = ip_2_ip6(a);
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(n, i);
    if (valid_only ? !ip6_addr_isvalid(st) : st == IP6_ADDR_INVALID) continue;
    const q = slot(n, i);
    if (load<u64>(p) == load<u64>(q) && load<u64>(p, 8) == load<u64>(q, 8) && (a.zone == 0 || a.zone == load<u8>(q, 17))) return i;
  }
  return -1;
}

/**
 * A source address of `n` for `dst` (lwIP ip6_select_source_address; RFC
 * 6724 §5's rules that matter to a host): the destination itself when it is
 * ours (rule 1); never a tentative or duplicated address; an address whose
 * scope is at least the destination's and as small as possible (rule 2:
 * link-local for link-local and link-scope multicast destinations, else a
 * global one); preferred over deprecated (rule 3); temporary addresses
 * first (rule 7); then the longest matching prefix (rule 8). Null when `n` has none.
 */
export function netif_ip6_select_src(n: netif, dst: ip_addr): ip_addr | null {
  if (!LWIP_IPV6) return null;
  const d = ip_2_ip6(dst);
  const dscope = scope_of(d);
  let best: i32 = -1;
  let best_scope: u8 = 0, best_pref = false;
  let best_match: u32 = 0;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    const st = netif_ip6_addr_state(n, i);
    if (!ip6_addr_isvalid(st)) continue;
    const a = slot(n, i);
    if (load<u64>(a) == load<u64>(d) && load<u64>(a, 8) == load<u64>(d, 8)) return netif_ip6_addr(n, i);
    const sc = scope_of(a);
    const pref = st == IP6_ADDR_PREFERRED;
    const m = common_prefix(a, d);
    if (best < 0) { best = i; best_scope = sc; best_pref = pref; best_match = m; continue; }
    // Rule 2: prefer the smallest scope that is not below the destination's.
    if (sc != best_scope) {
      const ok = sc >= dscope, best_ok = best_scope >= dscope;
      if (ok != best_ok ? ok : (ok ? sc < best_scope : sc > best_scope)) { best = i; best_scope = sc; best_pref = pref; best_match = m; }
      continue;
    }
    if (pref != best_pref) { if (pref) { best = i; best_pref = pref; best_match = m; } continue; }
    // Rule 7: temporary addresses first (they exist only where the host asked for them, RFC 8981 §3.6).
    const temp = (load<u8>(a, 22) & 0x0f) == IP6_ORIGIN_TEMP;
    const best_temp = (load<u8>(slot(n, best), 22) & 0x0f) == IP6_ORIGIN_TEMP;
    if (temp != best_temp) { if (temp) { best = i; best_match = m; } continue; }
    if (m > best_match) { best = i; best_match = m; }
  }
  if (best < 0) return null;
  // A link-local source cannot reach beyond the link (RFC 4007 §9).
  if (best_scope < dscope && best_scope <= 2) return null;
  return netif_ip6_addr(n, best);
}

/** RFC 4291 §2.7 scope: multicast's own, 2 for link-local unicast, 1 for ::1, 14 (global) otherwise. */
function scope_of(a: usize): u8 {
  if (ip6_addr_ismulticast(a)) return load<u8>(a, 1) & 0x0f;
  if (ip6_addr_islinklocal(a)) return 2;
  if ((load<u64>(a) | load<u32>(a, 8)) == 0 && load<u32>(a, 12) == 0x01000000) return 1;
  return 14;
}

/** Bits in common at the start of two addresses (RFC 6724 §2.2 CommonPrefixLen, up to 64). */
function common_prefix(a: usize, b: usize): u32 {
  const x = bswap<u64>(load<u64>(a)) ^ bswap<u64>(load<u64>(b));
  return <u32>clz<u64>(x);
}
