// netif: network interfaces (lwIP netif.c).
//
// A stack has up to NETIF_MAX interfaces plus the loopback netif (index 1,
// 127.0.0.1/8). Each has a MAC, an MTU, an IPv4 address/netmask/gateway,
// administrative state (up/down) and link state (link up/down). Interfaces
// driven by the host hand their frames to the TX ring; the loopback netif
// queues packets and delivers them on the next drain (netif_poll), never on
// a polling interval.
//
// Status and link changes are reported to the host as events (EV.NETIF) and
// to in-core users (ARP's gratuitous announcement, later DHCP/IGMP) directly.
//
//   struct netif (64 bytes), a static table indexed by num - 1:
//   +0  ip_addr u32   +4 netmask u32   +8 gw u32   (network order)
//   +12 mtu u32       +16 flags u8     +17 num u8 (if_idx, 1-based)
//   +18 kind u8       +19 hwaddr_len u8
//   +20 hw0..hw5 (MAC)   +26 vlan u16 (802.1Q VID we tag and accept, 0 = none)
//   +28 loop_first usize   +32 loop_last usize   (loopback queue)
//   +36 rx_drop u32   +40 used u8 ...

import { pbuf, pbuf_free, pbuf_alloc, pbuf_copy, pbuf_type, pbuf_layer } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_IF, ERR_ARG } from "../core/err";
import { ev_push } from "../core/rings";
import { tx_push } from "../core/rings";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { IP4, IP4_ADDR_LOOPBACK } from "../ip_addr";
import { ethernet_input } from "./ethernet";
import { etharp_netif_changed, etharp_cleanup_netif } from "./etharp";
import { ip4_input } from "../ipv4/ip4";
import { udp_netif_ip_addr_changed } from "../udp";
import { raw_netif_ip_addr_changed } from "../raw";
import { tcp_netif_ip_addr_changed } from "../tcp/tcp";

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
}

/** Status bits reported to the host with EV.NETIF events. */
export const enum NetifReason {
  ADDED = 0x01,
  REMOVED = 0x02,
  UP = 0x04,
  DOWN = 0x08,
  LINK_UP = 0x10,
  LINK_DOWN = 0x20,
  ADDR = 0x40,
}

@unmanaged
export class netif {
  ip_addr: u32;
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
  _r0: u32;
  _r1: u32;
  _r2: u32;
  _r3: u32;
  _r4: u32;
  _r5: u32;
}

export const NETIF_SIZE: usize = 64;
const table: usize = memory.data(<i32>(NETIF_SIZE * (NETIF_MAX + 1)), 8);

/** The default route's interface, or null. */
export let netif_default: netif | null = null;
/** The loopback interface (index 1). */
export let netif_loop: netif = changetype<netif>(table);

/** Most packets the loopback queue holds before it drops (lwIP LWIP_LOOPBACK_MAX_PBUFS). */
const LOOPBACK_MAX_PBUFS: u32 = 256;

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
}

/**
 * Adds an Ethernet interface driven by the host, down and with link down,
 * without an address. Returns null when the table is full.
 */
export function netif_add(mac: usize, mtu: u32): netif | null {
  for (let i: u32 = 2; i <= <u32>NETIF_MAX + 1; i++) {
    const n = changetype<netif>(table + <usize>(i - 1) * NETIF_SIZE);
    if (n.kind != NetifKind.NONE) continue;
    memory.fill(changetype<usize>(n), 0, NETIF_SIZE);
    n.num = <u8>i;
    n.kind = <u8>NetifKind.HOST_ETHERNET;
    n.mtu = mtu;
    n.hwaddr_len = 6;
    memory.copy(netif_hwaddr(n), mac, 6);
    n.flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
    report(n, NetifReason.ADDED);
    return n;
  }
  return null;
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

/** Sets address, netmask and gateway (network order u32s). */
export function netif_set_addr(n: netif, ip: u32, mask: u32, gw: u32): void {
  const changed = n.ip_addr != ip;
  const old = n.ip_addr;
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
  etharp_netif_changed(n);
}

function netif_addr_changed_hooks(n: netif, old: u32): void {
  etharp_netif_changed(n);
  // pcbs bound to the old address follow it (lwIP netif_do_ip_addr_changed):
  // TCP connections on it are aborted (RST to the peer, ERR_ABRT to the
  // application), listeners and bound pcbs move to the new address.
  tcp_netif_ip_addr_changed(old, n.ip_addr);
  udp_netif_ip_addr_changed(old, n.ip_addr);
  raw_netif_ip_addr_changed(old, n.ip_addr);
}

function netif_remove_hooks(n: netif): void {
  etharp_cleanup_netif(n); // static entries too: a new netif may reuse the index
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
  if (n.kind == NetifKind.HOST_ETHERNET) return ethernet_input(p, n);
  // Loopback carries bare IP packets.
  return ip4_input(p, n);
}

/** Hands a complete frame to the link: the host's TX ring or the loopback queue. */
export function netif_linkoutput(n: netif, p: pbuf): err_t {
  if (!(n.flags & NETIF_FLAG_LINK_UP)) {
    STATS_INC(Proto.LINK, Ctr.DROP);
    return ERR_IF;
  }
  if (n.kind == NetifKind.HOST_ETHERNET) {
    if (!tx_push(p, n.num)) {
      STATS_INC(Proto.LINK, Ctr.MEMERR);
      return ERR_MEM;
    }
    STATS_INC(Proto.LINK, Ctr.XMIT);
    return ERR_OK;
  }
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
      ip4_input(p, n);
      delivered++;
    }
  }
  return delivered;
}
