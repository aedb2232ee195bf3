// udp: UDP (RFC 768) and UDP-Lite (RFC 3828) pcbs (lwIP udp.c).
//
// A pcb is a local (address, port) and optionally a remote one. Received
// datagrams go to the best-matching pcb: one connected to the sender's
// (address, port) first, then one bound to the destination address (for a
// limited broadcast: the receiving netif's address), then one bound to ANY.
// Nobody listening on a unicast destination earns the sender an ICMP port
// unreachable (RFC 1122 §4.1.3.1); broadcasts and multicasts are dropped
// quietly.
//
// A pcb belongs either to an application inside the core (a recv callback
// stored in the pcb) or to the host (UDP_FLAGS_HOST): then every datagram
// becomes an EV_UDP_RECV event carrying the payload pbuf, and ICMP errors an
// EV_UDP_ERR event. The host's handle is the pcb pointer.
//
// UDP-Lite shares everything but the meaning of the length field (checksum
// coverage) and the protocol number. A pcb is one or the other (udp_new_ip_type
// + UDP_FLAGS_UDPLITE); each only sees datagrams of its own protocol.
//
//   struct udp_pcb (72 bytes, from MEMP.UDP_PCB; udp_init sizes the pool):
//   +0  local_ip  ip_addr (20)        +20 remote_ip ip_addr (20)
//   +40 next      usize               +44 netif_idx u8  so_options u8  tos u8  ttl u8
//   +48 flags u8  mcast_ttl u8  mcast_ifindex u8  _r u8
//   +52 local_port u16  remote_port u16
//   +56 chksum_len_rx u16  chksum_len_tx u16   (UDP-Lite coverage, 0 = whole)
//   +60 recv usize  +64 recv_arg usize  +68 err usize   (in-core callbacks)

import { pbuf, pbuf_alloc, pbuf_free, pbuf_add_header, pbuf_add_header_force, pbuf_remove_header, pbuf_chain, pbuf_realloc, pbuf_keep, pbuf_layer, pbuf_type, PBUF_FLAG_MCASTLOOP } from "./core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL, ERR_USE, ERR_RTE, ERR_CONN } from "./core/err";
import { MEMP, memp_malloc, memp_free, memp_set_size, memp_size } from "./core/memp";
import { STATS_INC, Proto, Ctr } from "./core/stats";
import { ev_push } from "./core/rings";
import { asip_random } from "./core/random";
import { inet_chksum_pseudo, inet_chksum_pseudo_partial, lwip_standard_chksum, chksum_add } from "./core/chksum";
import {
  ip_addr, ip_addr_copy, ip_addr_isany, ip_addr_eq, ip_addr_set_ip4,
  IPADDR_TYPE_V4, IPADDR_TYPE_ANY, IP_ADDR_SIZE, ip4_addr_ismulticast, ip4_addr_net_eq, IP4_ADDR_BROADCAST,
} from "./ip_addr";
import { netif, netif_get_by_index } from "./netif/netif";
import { IP_PROTO_UDP, IP_PROTO_UDPLITE, IP_HLEN, ip4_hdr_hlen, ip4_hdr_proto, ip4_hdr_src, ip4_hdr_dest, ip4_hdr_src_ptr, ip4_hdr_dest_ptr } from "./ipv4/ip4_hdr";
import {
  ip4_output_if, ip4_route_src, ip4_addr_isbroadcast, ip_current_header, ip_current_src, ip_current_dest, IP_DEFAULT_TTL,
} from "./ipv4/ip4";
import { icmp_dest_unreach, ICMP_DUR_PORT } from "./ipv4/icmp";

// ---- the UDP header (RFC 768) ------------------------------------------------------
//
//    0      7 8     15 16    23 24    31
//   +--------+--------+--------+--------+
//   |     Source      |   Destination   |
//   |      Port       |      Port       |
//   +--------+--------+--------+--------+
//   |     Length      |    Checksum     |
//   +--------+--------+--------+--------+
//
// UDP-Lite (RFC 3828 §3) has the same layout with "Checksum Coverage" in place
// of Length. Getters return host numbers; `h` points at the first byte.

export const UDP_HLEN: u32 = 8;

// @ts-ignore: decorator
@inline export function udp_hdr_src(h: usize): u16 { return bswap<u16>(load<u16>(h)); }
// @ts-ignore: decorator
@inline export function udp_hdr_dest(h: usize): u16 { return bswap<u16>(load<u16>(h, 2)); }
/** UDP: length of header + data. UDP-Lite: checksum coverage (0 = whole datagram). */
// @ts-ignore: decorator
@inline export function udp_hdr_len(h: usize): u16 { return bswap<u16>(load<u16>(h, 4)); }
// @ts-ignore: decorator
@inline export function udp_hdr_chksum(h: usize): u16 { return bswap<u16>(load<u16>(h, 6)); }
// @ts-ignore: decorator
@inline export function udp_hdr_set_src(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v)); }
// @ts-ignore: decorator
@inline export function udp_hdr_set_dest(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 2); }
// @ts-ignore: decorator
@inline export function udp_hdr_set_len(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 4); }
// @ts-ignore: decorator
@inline export function udp_hdr_set_chksum(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 6); }

// ---- events for host-side pcbs -------------------------------------------------------
//
// EV_UDP_RECV (30): handle = pcb, p = payload (UDP header removed),
//   a = source address, b = source port, c = destination address (ours, or the
//   broadcast/multicast group), d = netif index, e = UDP_RECV_* bits.
// EV_UDP_ERR (31): an ICMP error quoted one of our datagrams. handle = pcb,
//   a = ICMP type, b = ICMP code, c = the quoted destination address,
//   d = the quoted destination port.
export const EV_UDP_RECV: u16 = 30;
export const EV_UDP_ERR: u16 = 31;
export const UDP_RECV_BROADCAST: u32 = 1;
export const UDP_RECV_MULTICAST: u32 = 2;

// ---- socket options and pcb flags (lwIP ip.h SOF_*, udp.h UDP_FLAGS_*) -----------------
/** Allow binding an address/port in use by another pcb that also sets it. */
export const SOF_REUSEADDR: u8 = 0x04;
export const SOF_KEEPALIVE: u8 = 0x08;
/** Allow sending to broadcast addresses (and, in lwIP, receiving). */
export const SOF_BROADCAST: u8 = 0x20;

/** Send with a zero checksum ("no checksum", RFC 768; IPv4 UDP only). */
export const UDP_FLAGS_NOCHKSUM: u8 = 0x01;
/** The pcb speaks UDP-Lite (IP protocol 136). */
export const UDP_FLAGS_UDPLITE: u8 = 0x02;
export const UDP_FLAGS_CONNECTED: u8 = 0x04;
/** Multicasts we send are looped back to us too. */
export const UDP_FLAGS_MULTICAST_LOOP: u8 = 0x08;
/** asip: the pcb belongs to the host; input becomes events. */
export const UDP_FLAGS_HOST: u8 = 0x80;

/** Ephemeral port range (IANA dynamic ports, RFC 6335 §6). */
export const UDP_LOCAL_PORT_RANGE_START: u32 = 0xc000;
export const UDP_LOCAL_PORT_RANGE_END: u32 = 0xffff;

/** Multicast TTL default: stay on the local network (RFC 1112 §6.1). */
export const UDP_MCAST_TTL: u8 = 1;

@unmanaged
export class udp_pcb {
  // +0 local_ip (ip_addr, 20 bytes): use udp_local_ip(pcb)
  _l0: u32; _l1: u32; _l2: u32; _l3: u32; _l4: u32;
  // +20 remote_ip (ip_addr, 20 bytes): use udp_remote_ip(pcb)
  _m0: u32; _m1: u32; _m2: u32; _m3: u32; _m4: u32;
  next: usize;
  netif_idx: u8;
  so_options: u8;
  tos: u8;
  ttl: u8;
  flags: u8;
  mcast_ttl: u8;
  mcast_ifindex: u8;
  _r: u8;
  local_port: u16;
  remote_port: u16;
  chksum_len_rx: u16;
  chksum_len_tx: u16;
  recv: usize;
  recv_arg: usize;
  err: usize;
}

export const UDP_PCB_SIZE: u32 = <u32>offsetof<udp_pcb>();

/**
 * In-core receive callback. Takes ownership of `p` (payload after the UDP
 * header). `addr` is valid only during the call.
 */
export type udp_recv_fn = (arg: usize, pcb: udp_pcb, p: pbuf, addr: ip_addr, port: u16) => void;
/** In-core ICMP error callback: `type`/`code` of the ICMP message, about a datagram we sent to `addr`:`port`. */
export type udp_err_fn = (arg: usize, pcb: udp_pcb, type: u8, code: u8, addr: ip_addr, port: u16) => void;

// @ts-ignore: decorator
@inline export function udp_local_ip(pcb: udp_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb)); }
// @ts-ignore: decorator
@inline export function udp_remote_ip(pcb: udp_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb) + IP_ADDR_SIZE); }

/** Head of the list of bound pcbs. */
let udp_pcbs: usize = 0;
/** Last ephemeral port handed out; 0 until the first one (then a random start). */
let udp_port: u32 = 0;

/** Scratch for the address handed to callbacks, and for pseudo headers. */
const cb_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);
const pseudo: usize = memory.data(20, 8);
/** udp_bind's copy of the requested address (callers may pass cb_addr). */
const bind_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

/**
 * Sizes MEMP.UDP_PCB for struct udp_pcb. asip_init calls it before
 * memp_init; later calls change nothing.
 */
export function udp_init(): void {
  memp_set_size(MEMP.UDP_PCB, UDP_PCB_SIZE);
}

/** First pcb of the list (iteration: pcb.next), 0 when none. */
export function udp_pcbs_head(): usize { return udp_pcbs; }

// ---- pcb lifetime ---------------------------------------------------------------------

/** A new IPv4 UDP pcb, unbound. Null when the pool is empty. */
export function udp_new(): udp_pcb | null {
  // A pool sized for a smaller struct (udp_init not called) must not be overrun.
  if (memp_size(MEMP.UDP_PCB) < UDP_PCB_SIZE) return null;
  const m = memp_malloc(MEMP.UDP_PCB);
  if (m == 0) return null;
  memory.fill(m, 0, UDP_PCB_SIZE);
  const pcb = changetype<udp_pcb>(m);
  udp_local_ip(pcb).type = IPADDR_TYPE_V4;
  udp_remote_ip(pcb).type = IPADDR_TYPE_V4;
  pcb.ttl = IP_DEFAULT_TTL;
  pcb.mcast_ttl = UDP_MCAST_TTL;
  return pcb;
}

/** A new pcb for addresses of `type` (IPADDR_TYPE_V4 / _V6 / _ANY). */
export function udp_new_ip_type(type: u8): udp_pcb | null {
  const pcb = udp_new();
  if (pcb != null) {
    udp_local_ip(pcb).type = type;
    udp_remote_ip(pcb).type = type;
  }
  return pcb;
}

/** Unlinks and frees a pcb. */
export function udp_remove(pcb: udp_pcb): void {
  unlink(pcb);
  memp_free(MEMP.UDP_PCB, changetype<usize>(pcb));
}

function unlink(pcb: udp_pcb): void {
  const me = changetype<usize>(pcb);
  if (udp_pcbs == me) {
    udp_pcbs = pcb.next;
  } else {
    for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
      if (changetype<udp_pcb>(q).next == me) {
        changetype<udp_pcb>(q).next = pcb.next;
        break;
      }
    }
  }
  pcb.next = 0;
}

function is_listed(pcb: udp_pcb): bool {
  const me = changetype<usize>(pcb);
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) if (q == me) return true;
  return false;
}

export function udp_recv(pcb: udp_pcb, fn: udp_recv_fn | null, arg: usize): void {
  pcb.recv = changetype<usize>(fn);
  pcb.recv_arg = arg;
}

export function udp_err(pcb: udp_pcb, fn: udp_err_fn | null): void {
  pcb.err = changetype<usize>(fn);
}

// ---- bind / connect --------------------------------------------------------------------

function port_in_use(port: u32): bool {
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    if (<u32>changetype<udp_pcb>(q).local_port == port) return true;
  }
  return false;
}

/**
 * The next free ephemeral port, counting up from a random start (RFC 6056
 * §3.3.2 style: the start is unpredictable, the walk skips ports in use).
 * 0 when every port of the range is taken.
 */
function udp_new_port(): u16 {
  const range = UDP_LOCAL_PORT_RANGE_END - UDP_LOCAL_PORT_RANGE_START + 1;
  if (udp_port == 0) udp_port = UDP_LOCAL_PORT_RANGE_START + asip_random() % range;
  for (let n: u32 = 0; n < range; n++) {
    udp_port = udp_port >= UDP_LOCAL_PORT_RANGE_END ? UDP_LOCAL_PORT_RANGE_START : udp_port + 1;
    if (!port_in_use(udp_port)) return <u16>udp_port;
  }
  return 0;
}

/** Restart the ephemeral walk at `port` (tests, and hosts that want a fresh random start). */
export function udp_set_port_cursor(port: u32): void { udp_port = port; }

/**
 * Binds `pcb` to a local address (null = ANY of the pcb's type) and port
 * (0 = an ephemeral port). ERR_USE when another pcb holds the same port on
 * the same address, or on ANY vs a specific address of the same family,
 * unless both set SOF_REUSEADDR. An IPv4 ANY and an IPv6 ANY do not clash;
 * a dual-stack ANY (IPADDR_TYPE_ANY) clashes with both.
 */
export function udp_bind(pcb: udp_pcb, ipaddr: ip_addr | null, port: u16): err_t {
  // Copy first: ipaddr may be the pcb's own local_ip (rebinding to a new port).
  const addr = changetype<ip_addr>(bind_addr);
  if (ipaddr != null) ip_addr_copy(addr, ipaddr);
  else { memory.fill(bind_addr, 0, IP_ADDR_SIZE); addr.type = udp_local_ip(pcb).type; }

  if (port == 0) {
    port = udp_new_port();
    if (port == 0) return ERR_USE;
  } else {
    const me = changetype<usize>(pcb);
    for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
      if (q == me) continue;
      const o = changetype<udp_pcb>(q);
      if (o.local_port != port) continue;
      if ((o.so_options & SOF_REUSEADDR) != 0 && (pcb.so_options & SOF_REUSEADDR) != 0) continue;
      const ol = udp_local_ip(o);
      const same_family = ol.type == addr.type;
      if ((same_family && (ip_addr_eq(ol, addr) || ip_addr_isany(ol) || ip_addr_isany(addr))) ||
          ol.type == IPADDR_TYPE_ANY || addr.type == IPADDR_TYPE_ANY) {
        return ERR_USE;
      }
    }
  }
  ip_addr_copy(udp_local_ip(pcb), addr);
  pcb.local_port = port;
  if (!is_listed(pcb)) {
    pcb.next = udp_pcbs;
    udp_pcbs = changetype<usize>(pcb);
  }
  return ERR_OK;
}

/** Only datagrams arriving on `n` reach the pcb, and sends leave by `n` (null: any). */
export function udp_bind_netif(pcb: udp_pcb, n: netif | null): void {
  pcb.netif_idx = n != null ? n.num : 0;
}

/**
 * Sets the remote end: only datagrams from it are delivered (and it is
 * preferred over unconnected pcbs), and udp_send goes to it. Binds an
 * ephemeral port first when the pcb has none.
 */
export function udp_connect(pcb: udp_pcb, ipaddr: ip_addr, port: u16): err_t {
  if (pcb.local_port == 0) {
    const err = udp_bind(pcb, udp_local_ip(pcb), 0);
    if (err != ERR_OK) return err;
  }
  ip_addr_copy(udp_remote_ip(pcb), ipaddr);
  pcb.remote_port = port;
  pcb.flags |= UDP_FLAGS_CONNECTED;
  if (!is_listed(pcb)) {
    pcb.next = udp_pcbs;
    udp_pcbs = changetype<usize>(pcb);
  }
  return ERR_OK;
}

/** Forgets the remote end (and, like lwIP, the netif binding). */
export function udp_disconnect(pcb: udp_pcb): void {
  const r = udp_remote_ip(pcb);
  const t = r.type;
  memory.fill(changetype<usize>(r), 0, IP_ADDR_SIZE);
  r.type = t;
  pcb.remote_port = 0;
  pcb.netif_idx = 0;
  pcb.flags &= ~UDP_FLAGS_CONNECTED;
}

/** A netif's address changed: pcbs bound to the old one follow it (lwIP udp_netif_ip_addr_changed). */
export function udp_netif_ip_addr_changed(old_addr: u32, new_addr: u32): void {
  if (old_addr == 0 || new_addr == 0) return;
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    const l = udp_local_ip(changetype<udp_pcb>(q));
    if (l.type == IPADDR_TYPE_V4 && l.a0 == old_addr) l.a0 = new_addr;
  }
}

// ---- multicast reception hook ------------------------------------------------------------

/**
 * Has `n` joined `group`? Pcbs bound to ANY receive a multicast only then.
 * Until IGMP lands every group is accepted (IGMP replaces this with its
 * group table lookup, lwIP igmp_lookfor_group).
 */
export function ip4_multicast_accept(n: netif, group: u32): bool {
  return true;
}

// ---- input ---------------------------------------------------------------------------------

function drop(p: pbuf, ctr: Ctr): void {
  STATS_INC(Proto.UDP, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.UDP, Ctr.DROP);
  pbuf_free(p);
}

/** Is a pcb's local address an IPv4 one (or dual-stack)? */
// @ts-ignore: decorator
@inline function is_v4(a: ip_addr): bool { return a.type == IPADDR_TYPE_V4 || a.type == IPADDR_TYPE_ANY; }

/**
 * How well an unconnected pcb bound to `local` fits a datagram to `dest` on
 * `inp`: 0 = not at all. A specific address beats ANY; for the limited
 * broadcast (which matches any of our addresses) the receiving netif's own
 * address beats ANY, which beats another netif's address — so with one pcb
 * per netif each sees only its own netif's broadcasts (lwIP
 * udp_input_local_match and its uncon_pcb choice).
 */
function local_score(local: ip_addr, dest: u32, inp: netif, broadcast: bool, multicast: bool): u32 {
  if (!is_v4(local)) return 0;
  const any = ip_addr_isany(local);
  const l = local.a0;
  if (broadcast) {
    if (any) return 2;
    if (dest == IP4_ADDR_BROADCAST) return l == inp.ip_addr ? 3 : 1;
    // A directed broadcast reaches pcbs bound to an address of that subnet.
    return ip4_addr_net_eq(l, inp.ip_addr, inp.netmask) ? 3 : 0;
  }
  if (multicast) {
    if (l == dest) return 3;
    return any && ip4_multicast_accept(inp, dest) ? 2 : 0;
  }
  if (l == dest) return 3;
  return any ? 2 : 0;
}

/**
 * A UDP or UDP-Lite datagram arrived (p.payload at the UDP header, the IP
 * header reachable through ip_current_header()). Takes ownership of `p`.
 */
export function udp_input(p: pbuf, inp: netif): void {
  STATS_INC(Proto.UDP, Ctr.RECV);
  // The header is read in place: it must be in the first pbuf.
  if (p.len < UDP_HLEN) { drop(p, Ctr.LENERR); return; }
  const iph = ip_current_header();
  const lite = ip4_hdr_proto(iph) == IP_PROTO_UDPLITE;
  const proto: u8 = lite ? IP_PROTO_UDPLITE : IP_PROTO_UDP;
  let uh = p.payload;
  const src = ip_current_src();
  const dest = ip_current_dest();
  const src_port = udp_hdr_src(uh);
  const dest_port = udp_hdr_dest(uh);

  // Length and checksum (RFC 768; RFC 3828 §3.1 for UDP-Lite).
  let coverage: u32 = 0;
  if (lite) {
    // UDP-Lite: the datagram is the whole IP payload; the field is the
    // checksum coverage, 0 meaning all of it. 1..7 or beyond the datagram:
    // discard (RFC 3828 §3.1).
    coverage = <u32>udp_hdr_len(uh);
    if (coverage == 0) coverage = p.tot_len;
    if (coverage < UDP_HLEN || coverage > p.tot_len) { drop(p, Ctr.LENERR); return; }
    // The checksum is mandatory in UDP-Lite (RFC 3828 §3.1): there is no zero escape.
    if (udp_hdr_chksum(uh) == 0 ||
        inet_chksum_pseudo_partial(p, proto, p.tot_len, coverage, ip4_hdr_src_ptr(iph), ip4_hdr_dest_ptr(iph)) != 0) {
      drop(p, Ctr.CHKERR);
      return;
    }
  } else {
    const ulen = <u32>udp_hdr_len(uh);
    if (ulen < UDP_HLEN || ulen > p.tot_len) { drop(p, Ctr.LENERR); return; }
    // Bytes past the UDP length are not part of the datagram.
    if (ulen < p.tot_len) pbuf_realloc(p, ulen);
    // Zero: the sender computed no checksum, legal over IPv4 (RFC 768).
    if (udp_hdr_chksum(uh) != 0 &&
        inet_chksum_pseudo(p, proto, p.tot_len, ip4_hdr_src_ptr(iph), ip4_hdr_dest_ptr(iph)) != 0) {
      drop(p, Ctr.CHKERR);
      return;
    }
  }

  const broadcast = ip4_addr_isbroadcast(dest, inp);
  const multicast = ip4_addr_ismulticast(dest);

  // Demultiplex: a connected pcb whose remote is the sender wins at once;
  // otherwise the best local match, first one on ties.
  let best: udp_pcb | null = null;
  let best_score: u32 = 0;
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    const pcb = changetype<udp_pcb>(q);
    if (pcb.local_port != dest_port) continue;
    if (((pcb.flags & UDP_FLAGS_UDPLITE) != 0) != lite) continue;
    if (pcb.netif_idx != 0 && pcb.netif_idx != inp.num) continue;
    const score = local_score(udp_local_ip(pcb), dest, inp, broadcast, multicast);
    if (score == 0) continue;
    if (pcb.flags & UDP_FLAGS_CONNECTED) {
      const r = udp_remote_ip(pcb);
      if (pcb.remote_port == src_port && is_v4(r) && (ip_addr_isany(r) || r.a0 == src)) {
        best = pcb;
        break;
      }
      continue;
    }
    if (score > best_score) {
      best = pcb;
      best_score = score;
    }
  }

  if (best == null) {
    // Nobody listens. RFC 1122 §4.1.3.1: port unreachable, but never about a
    // broadcast or multicast datagram (§3.2.2).
    if (!broadcast && !multicast) {
      const hlen = ip4_hdr_hlen(iph);
      pbuf_add_header_force(p, hlen);
      icmp_dest_unreach(p, ICMP_DUR_PORT);
    }
    STATS_INC(Proto.UDP, Ctr.PROTERR);
    drop(p, Ctr.DROP);
    return;
  }
  const pcb = best;

  // RFC 3828 §3.3: a receiver may insist on a minimum coverage.
  if (lite && pcb.chksum_len_rx != 0 && coverage < <u32>pcb.chksum_len_rx) {
    drop(p, Ctr.CHKERR);
    return;
  }

  pbuf_remove_header(p, UDP_HLEN);
  if (pcb.flags & UDP_FLAGS_HOST) {
    const bits = (broadcast ? UDP_RECV_BROADCAST : 0) | (multicast ? UDP_RECV_MULTICAST : 0);
    // The host may keep the datagram until it is read (a netconn's mailbox):
    // under receive-pool pressure it keeps a copy instead (core/pbuf.ts).
    const kept = pbuf_keep(p);
    if (kept == null) {
      STATS_INC(Proto.UDP, Ctr.MEMERR);
      STATS_INC(Proto.UDP, Ctr.DROP);
      return;
    }
    p = kept;
    if (!ev_push(EV_UDP_RECV, <u32>changetype<usize>(pcb), p, src, <u32>src_port, dest, <u32>inp.num, bits)) {
      drop(p, Ctr.MEMERR);
      return;
    }
    pbuf_free(p); // the event holds its own reference
    return;
  }
  if (pcb.recv != 0) {
    const addr = changetype<ip_addr>(cb_addr);
    ip_addr_set_ip4(addr, src);
    changetype<udp_recv_fn>(pcb.recv)(pcb.recv_arg, pcb, p, addr, src_port);
    return;
  }
  // Bound but nobody reads: the datagram is consumed.
  pbuf_free(p);
}

/**
 * ICMP reported an error about a datagram we sent; `quoted_iph` points at its
 * IP header as quoted in the ICMP message (`quoted_len` bytes: the header and
 * at least the 8 bytes of our UDP header, RFC 792). The pcb is found by the
 * quoted 4-tuple: a connected pcb whose remote is the quoted destination, or
 * else the unconnected pcb holding the quoted source address and port.
 */
export function udp_icmp_error(quoted_iph: usize, quoted_len: u32, type: u8, code: u8): void {
  if (quoted_len < IP_HLEN) return;
  const hlen = ip4_hdr_hlen(quoted_iph);
  if (hlen < IP_HLEN || quoted_len < hlen + 4) return;
  const proto = ip4_hdr_proto(quoted_iph);
  if (proto != IP_PROTO_UDP && proto != IP_PROTO_UDPLITE) return;
  const lite = proto == IP_PROTO_UDPLITE;
  const qsrc = ip4_hdr_src(quoted_iph);
  const qdst = ip4_hdr_dest(quoted_iph);
  const uh = quoted_iph + hlen;
  const sport = udp_hdr_src(uh);
  const dport = udp_hdr_dest(uh);

  let found: udp_pcb | null = null;
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    const pcb = changetype<udp_pcb>(q);
    if (pcb.local_port != sport || ((pcb.flags & UDP_FLAGS_UDPLITE) != 0) != lite) continue;
    const l = udp_local_ip(pcb);
    if (!is_v4(l) || !(ip_addr_isany(l) || l.a0 == qsrc)) continue;
    if (pcb.flags & UDP_FLAGS_CONNECTED) {
      const r = udp_remote_ip(pcb);
      if (pcb.remote_port == dport && (ip_addr_isany(r) || r.a0 == qdst)) { found = pcb; break; }
      continue;
    }
    if (found == null) found = pcb;
  }
  if (found == null) return;
  const pcb = found;
  if (pcb.flags & UDP_FLAGS_HOST) {
    ev_push(EV_UDP_ERR, <u32>changetype<usize>(pcb), null, type, code, qdst, dport, 0);
  } else if (pcb.err != 0) {
    const addr = changetype<ip_addr>(cb_addr);
    ip_addr_set_ip4(addr, qdst);
    changetype<udp_err_fn>(pcb.err)(pcb.recv_arg, pcb, type, code, addr, dport);
  }
}

// ---- output --------------------------------------------------------------------------------

/** No precomputed payload sum (udp_output's `payload_sum`). */
const NO_SUM: u32 = 0xffffffff;

/** Sends to the connected remote end. ERR_CONN when the pcb is not connected. */
export function udp_send(pcb: udp_pcb, p: pbuf): err_t {
  if (!(pcb.flags & UDP_FLAGS_CONNECTED)) return ERR_CONN;
  return udp_sendto(pcb, p, udp_remote_ip(pcb), pcb.remote_port);
}

/**
 * The netif a datagram to `dst` leaves by: the pcb's netif when bound to
 * one, the multicast interface for multicasts when set, else the route.
 */
function udp_route(pcb: udp_pcb, dst: u32): netif | null {
  if (pcb.netif_idx != 0) return netif_get_by_index(pcb.netif_idx);
  if (ip4_addr_ismulticast(dst) && pcb.mcast_ifindex != 0) {
    const n = netif_get_by_index(pcb.mcast_ifindex);
    if (n != null) return n;
  }
  const l = udp_local_ip(pcb);
  return ip4_route_src(is_v4(l) ? l.a0 : 0, dst);
}

/**
 * Sends `p` (the payload; the caller keeps its reference and frees it) to
 * `dst_ip`:`dst_port`, routing by the destination.
 */
export function udp_sendto(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16): err_t {
  return udp_sendto_chksum(pcb, p, dst_ip, dst_port, NO_SUM);
}

/** udp_sendto with the payload's partial checksum already known (computed while copying it in). */
export function udp_sendto_chksum(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16, payload_sum: u32): err_t {
  if (dst_ip.type != IPADDR_TYPE_V4 && dst_ip.type != IPADDR_TYPE_ANY) return ERR_VAL; // IPv6: not yet
  const n = udp_route(pcb, dst_ip.a0);
  if (n == null) {
    STATS_INC(Proto.UDP, Ctr.RTERR);
    return ERR_RTE;
  }
  return udp_sendto_if_chksum(pcb, p, dst_ip, dst_port, n, payload_sum);
}

/** Sends by `n`; the source is the pcb's address, or n's when the pcb is bound to ANY or a group. */
export function udp_sendto_if(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16, n: netif): err_t {
  return udp_sendto_if_chksum(pcb, p, dst_ip, dst_port, n, NO_SUM);
}

function udp_sendto_if_chksum(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16, n: netif, payload_sum: u32): err_t {
  const l = udp_local_ip(pcb);
  let src: u32;
  if (!is_v4(l) || ip_addr_isany(l) || ip4_addr_ismulticast(l.a0)) {
    src = n.ip_addr;
  } else {
    // Bound to an address: only that address's netif may carry it (lwIP).
    if (l.a0 != n.ip_addr) return ERR_RTE;
    src = l.a0;
  }
  return udp_output(pcb, p, dst_ip, dst_port, n, src, payload_sum);
}

/** Sends by `n` with an explicit source address (e.g. DHCP's 0.0.0.0). */
export function udp_sendto_if_src(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16, n: netif, src_ip: ip_addr): err_t {
  if (!is_v4(src_ip)) return ERR_VAL;
  return udp_output(pcb, p, dst_ip, dst_port, n, src_ip.a0, NO_SUM);
}

/**
 * Builds the UDP header in front of `p` (in its header room, or in a new
 * pbuf chained in front of it), checksums, and hands it to IP. The caller
 * keeps its reference; p's payload is back where it was on return.
 */
function udp_output(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16, n: netif, src: u32, payload_sum: u32): err_t {
  if (dst_ip.type != IPADDR_TYPE_V4 && dst_ip.type != IPADDR_TYPE_ANY) return ERR_VAL;
  const dst = dst_ip.a0;
  // SO_BROADCAST: broadcasts only on request (lwIP IP_SOF_BROADCAST).
  if ((pcb.so_options & SOF_BROADCAST) == 0 && (dst == IP4_ADDR_BROADCAST || ip4_addr_isbroadcast(dst, n))) return ERR_VAL;
  if (pcb.local_port == 0) {
    const err = udp_bind(pcb, udp_local_ip(pcb), 0);
    if (err != ERR_OK) return err;
  }
  // The IPv4 total length is 16 bits.
  if (p.tot_len + UDP_HLEN + IP_HLEN > 0xffff) return ERR_VAL;

  let q = p;
  // Headers go in p's own header room only when nobody else holds p: a
  // pbuf still queued on the TX ring from an earlier send (ref > 1) must
  // not have its bytes rewritten, so it gets a header pbuf of its own.
  if (p.ref > 1 || pbuf_add_header(p, UDP_HLEN) != 0) {
    // No room in front of the payload (or not ours to write): a header pbuf with room for IP and link.
    const h = pbuf_alloc(pbuf_layer.PBUF_IP, UDP_HLEN, pbuf_type.PBUF_RAM);
    if (h == null) {
      STATS_INC(Proto.UDP, Ctr.MEMERR);
      return ERR_MEM;
    }
    if (p.tot_len != 0) pbuf_chain(h, p);
    q = h;
  }
  const lite = (pcb.flags & UDP_FLAGS_UDPLITE) != 0;
  const proto: u8 = lite ? IP_PROTO_UDPLITE : IP_PROTO_UDP;
  const uh = q.payload;
  udp_hdr_set_src(uh, pcb.local_port);
  udp_hdr_set_dest(uh, dst_port);
  udp_hdr_set_chksum(uh, 0);
  store<u32>(pseudo, src);
  store<u32>(pseudo, dst, 4);
  let c: u16;
  if (lite) {
    // RFC 3828 §3.1: coverage 0 covers the whole datagram; a coverage that
    // does not fit (below the header, beyond the datagram) is sent as 0.
    let cov = <u32>pcb.chksum_len_tx;
    if (cov < UDP_HLEN || cov > q.tot_len) {
      udp_hdr_set_len(uh, 0);
      cov = q.tot_len;
    } else {
      udp_hdr_set_len(uh, <u16>cov);
    }
    c = inet_chksum_pseudo_partial(q, proto, q.tot_len, cov, pseudo, pseudo + 4);
    // Computed zero is sent as all ones, as in UDP; UDP-Lite has no "no checksum".
    if (c == 0) c = 0xffff;
    udp_hdr_set_chksum(uh, c);
  } else {
    udp_hdr_set_len(uh, <u16>q.tot_len);
    if ((pcb.flags & UDP_FLAGS_NOCHKSUM) == 0) {
      if (payload_sum != NO_SUM) {
        // Pseudo header + UDP header summed here, the payload's sum was taken
        // while it was copied in: the payload is read once (lwIP
        // LWIP_CHECKSUM_ON_COPY). The payload starts at an even offset (8).
        store<u16>(pseudo, <u16>(<u32>proto << 8), 8);
        store<u16>(pseudo, bswap<u16>(<u16>q.tot_len), 10);
        memory.copy(pseudo + 12, uh, UDP_HLEN);
        c = <u16>(~chksum_add(<u32>lwip_standard_chksum(pseudo, 20), payload_sum) & 0xffff);
      } else {
        c = inet_chksum_pseudo(q, proto, q.tot_len, pseudo, pseudo + 4);
      }
      // RFC 768: a computed zero is transmitted as all ones (zero means "none").
      if (c == 0) c = 0xffff;
      udp_hdr_set_chksum(uh, c);
    }
  }
  const mc = ip4_addr_ismulticast(dst);
  if (mc && (pcb.flags & UDP_FLAGS_MULTICAST_LOOP) != 0) q.flags |= PBUF_FLAG_MCASTLOOP;
  const ttl = mc ? pcb.mcast_ttl : pcb.ttl;
  STATS_INC(Proto.UDP, Ctr.XMIT);
  const err = ip4_output_if(q, src, dst, ttl, pcb.tos, proto, n);
  if (q != p) {
    pbuf_free(q); // the header pbuf, and its reference on p
  } else {
    pbuf_remove_header(p, UDP_HLEN);
    if (mc) p.flags &= ~PBUF_FLAG_MCASTLOOP;
  }
  return err;
}
