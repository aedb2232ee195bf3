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
// EV_UDP_ERR event, named by the pcb's generation-tagged handle (`host`,
// abi/udp.ts).
//
// UDP-Lite shares everything but the meaning of the length field (checksum
// coverage) and the protocol number. A pcb is one or the other (udp_new_ip_type
// + UDP_FLAGS_UDPLITE); each only sees datagrams of its own protocol.
//
// Both families go through ip.ts: a pcb's family is its local address's type
// (V4, V6, or ANY for both). Over IPv6 the checksum is mandatory: a zero one
// is dropped and never sent (RFC 8200 §8.1).
//
//   struct udp_pcb (76 bytes, from MEMP.UDP_PCB; udp_init sizes the pool):
//   +0  ip_pcb (44): local_ip, remote_ip, netif_idx, so_options, tos, ttl
//   +44 next usize
//   +48 flags u8  mcast_ttl u8  mcast_ifindex u8  _r u8
//   +52 local_port u16  remote_port u16
//   +56 chksum_len_rx u16  chksum_len_tx u16   (UDP-Lite coverage, 0 = whole)
//   +60 recv usize  +64 recv_arg usize  +68 err usize   (in-core callbacks)
//   +72 host u32   (the host's handle, UDP_FLAGS_HOST)

import {
  pbuf, pbuf_alloc, pbuf_free, pbuf_add_header, pbuf_remove_header, pbuf_chain, pbuf_realloc, pbuf_keep,
  pbuf_layer, pbuf_type, PBUF_FLAG_MCASTLOOP,
} from "./core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL, ERR_USE, ERR_RTE, ERR_CONN } from "./core/err";
import { MEMP, memp_malloc, memp_free, memp_set_size, memp_size } from "./core/memp";
import { STATS_INC, Proto, Ctr } from "./core/stats";
import { asip_random } from "./core/random";
import { lwip_standard_chksum, chksum_add } from "./core/chksum";
import {
  ip_addr, ip_addr_copy, ip_addr_isany, ip_addr_eq, ip_addr_set_any, ip_addr_ismulticast,
  IPADDR_TYPE_ANY, IP_ADDR_SIZE, IP_IS_V6, ip4_addr_net_eq, IP4_ADDR_BROADCAST,
} from "./ip_addr";
import { netif, netif_get_by_index } from "./netif/netif";
import { ev_push_flags, ev_addr, ev_addr_flags } from "./core/rings";
import {
  ip_pcb, ip_pcb_local, ip_pcb_remote, ip_pcb_init, ip_pcb_type_ok, ip_pcb_family_ok, ip_pcb_families_overlap, ip_pcb_route,
  ip_pcb_local_follows, ip_netif_get_local_ip, ip_output_if, ip_chksum_pseudo, ip_chksum_pseudo_partial, ip_chksum_pseudo_sum,
  ip_current_src_addr, ip_current_dest_addr, ip_current_header_proto, ip_addr_isbroadcast, ip_netif_owns,
  ip_icmp_port_unreach, ip_max_payload, SOF_REUSEADDR, SOF_BROADCAST, IP_PROTO_UDP, IP_PROTO_UDPLITE,
} from "./ip";

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
// EV_UDP_RECV (30): handle = the pcb's handle, p = payload (UDP header
//   removed), a = source address, b = source port, c = destination address
//   (ours, or the broadcast/multicast group), d = netif index, e = UDP_RECV_*
//   bits. Addresses as rings.ts says (IPv6: EV_FLAG_IP6 and ip_addr pointers).
// EV_UDP_ERR (31): an ICMP error quoted one of our datagrams. handle = the
//   pcb's handle, a = ICMP type, b = ICMP code (ICMPv6 ones when the record
//   has EV_FLAG_IP6), c = the quoted destination address, d = the quoted
//   destination port.
export const EV_UDP_RECV: u16 = 30;
export const EV_UDP_ERR: u16 = 31;
export const UDP_RECV_BROADCAST: u32 = 1;
export const UDP_RECV_MULTICAST: u32 = 2;

// ---- pcb flags (lwIP udp.h UDP_FLAGS_*; the SOF_* socket options are ip.ts's) -----------
export { SOF_REUSEADDR, SOF_BROADCAST };

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
export class udp_pcb extends ip_pcb {
  next: usize;
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
  host: u32;
}

export const UDP_PCB_SIZE: u32 = <u32>offsetof<udp_pcb>();

/**
 * In-core receive callback. Takes ownership of `p` (payload after the UDP
 * header). `addr` is valid only during the call.
 */
export type udp_recv_fn = (arg: usize, pcb: udp_pcb, p: pbuf, addr: ip_addr, port: u16) => void;
/** In-core ICMP error callback: `type`/`code` of the ICMP message, about a datagram we sent to `addr`:`port`. */
export type udp_err_fn = (arg: usize, pcb: udp_pcb, type: u8, code: u8, addr: ip_addr, port: u16) => void;

/** Head of the list of bound pcbs. */
let udp_pcbs: usize = 0;
/** Last ephemeral port handed out; 0 until the first one (then a random start). */
let udp_port: u32 = 0;

/** udp_bind's copy of the requested address (callers may pass the pcb's own local address). */
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
export function udp_new(): udp_pcb | null { return udp_new_ip_type(0); }

/** A new pcb for addresses of `type` (IPADDR_TYPE_V4 / _V6 / _ANY). Null when the pool is empty or the build lacks the family. */
export function udp_new_ip_type(type: u8): udp_pcb | null {
  if (!ip_pcb_type_ok(type)) return null;
  // A pool sized for a smaller struct (udp_init not called) must not be overrun.
  if (memp_size(MEMP.UDP_PCB) < UDP_PCB_SIZE) return null;
  const m = memp_malloc(MEMP.UDP_PCB);
  if (m == 0) return null;
  memory.fill(m, 0, UDP_PCB_SIZE);
  const pcb = changetype<udp_pcb>(m);
  ip_pcb_init(pcb, type);
  pcb.mcast_ttl = UDP_MCAST_TTL;
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
  else ip_addr_set_any(addr, ip_pcb_local(pcb).type);
  // An address of the other family than the pcb's (IPv4 pcb, IPv6 address).
  if (!ip_pcb_family_ok(ip_pcb_local(pcb), addr)) return ERR_VAL;

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
      const ol = ip_pcb_local(o);
      // An IPv4 and an IPv6 address never clash; a dual-stack pcb clashes with both.
      if (ip_pcb_families_overlap(ol, addr) && (ip_addr_isany(ol) || ip_addr_isany(addr) || ip_addr_eq(ol, addr))) {
        return ERR_USE;
      }
    }
  }
  ip_addr_copy(ip_pcb_local(pcb), addr);
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
    const err = udp_bind(pcb, ip_pcb_local(pcb), 0);
    if (err != ERR_OK) return err;
  }
  ip_addr_copy(ip_pcb_remote(pcb), ipaddr);
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
  const r = ip_pcb_remote(pcb);
  ip_addr_set_any(r, r.type);
  pcb.remote_port = 0;
  pcb.netif_idx = 0;
  pcb.flags &= ~UDP_FLAGS_CONNECTED;
}

/**
 * One of our addresses changed from `old` to `now` (null: removed): pcbs
 * bound to it follow (lwIP udp_netif_ip_addr_changed; ip.ts calls it).
 */
export function udp_netif_ip_addr_changed(old: ip_addr, now: ip_addr | null): void {
  if (now == null) return;
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    ip_pcb_local_follows(ip_pcb_local(changetype<udp_pcb>(q)), old, now);
  }
}

// ---- multicast reception hook ------------------------------------------------------------

/**
 * Has `n` joined `group`? Pcbs bound to ANY receive a multicast only then.
 * Until IGMP and MLD land every group is accepted (they replace this with
 * their group table lookups, lwIP igmp_lookfor_group / mld6_lookfor_group).
 */
export function udp_multicast_accept(n: netif, group: ip_addr): bool {
  return true;
}

// ---- input ---------------------------------------------------------------------------------

function drop(p: pbuf, ctr: Ctr): void {
  STATS_INC(Proto.UDP, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.UDP, Ctr.DROP);
  pbuf_free(p);
}

/**
 * How well an unconnected pcb bound to `local` fits a datagram to `dest` on
 * `inp`: 0 = not at all. A specific address beats ANY; for the limited
 * broadcast (which matches any of our addresses) the receiving netif's own
 * address beats ANY, which beats another netif's address — so with one pcb
 * per netif each sees only its own netif's broadcasts (lwIP
 * udp_input_local_match and its uncon_pcb choice).
 */
function local_score(local: ip_addr, dest: ip_addr, inp: netif, broadcast: bool, multicast: bool): u32 {
  if (!ip_pcb_family_ok(local, dest)) return 0;
  const any = ip_addr_isany(local);
  if (broadcast) {
    // IPv4 only (IPv6 has no broadcast).
    if (any) return 2;
    const l = local.a0;
    if (dest.a0 == IP4_ADDR_BROADCAST) return l == inp.ip_addr ? 3 : 1;
    // A directed broadcast reaches pcbs bound to an address of that subnet.
    return ip4_addr_net_eq(l, inp.ip_addr, inp.netmask) ? 3 : 0;
  }
  if (multicast) {
    if (ip_addr_eq(local, dest)) return 3;
    return any && udp_multicast_accept(inp, dest) ? 2 : 0;
  }
  if (ip_addr_eq(local, dest)) return 3;
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
  const lite = ip_current_header_proto() == IP_PROTO_UDPLITE;
  const proto: u8 = lite ? IP_PROTO_UDPLITE : IP_PROTO_UDP;
  let uh = p.payload;
  const src = ip_current_src_addr();
  const dest = ip_current_dest_addr();
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
    if (udp_hdr_chksum(uh) == 0 || ip_chksum_pseudo_partial(p, proto, p.tot_len, coverage, src, dest) != 0) {
      drop(p, Ctr.CHKERR);
      return;
    }
  } else {
    const ulen = <u32>udp_hdr_len(uh);
    if (ulen < UDP_HLEN || ulen > p.tot_len) { drop(p, Ctr.LENERR); return; }
    // Bytes past the UDP length are not part of the datagram.
    if (ulen < p.tot_len) pbuf_realloc(p, ulen);
    // Zero: the sender computed no checksum, legal over IPv4 (RFC 768),
    // never over IPv6 (RFC 8200 §8.1).
    if (udp_hdr_chksum(uh) == 0 ? IP_IS_V6(dest) : ip_chksum_pseudo(p, proto, p.tot_len, src, dest) != 0) {
      drop(p, Ctr.CHKERR);
      return;
    }
  }

  const broadcast = ip_addr_isbroadcast(dest, inp);
  const multicast = ip_addr_ismulticast(dest);

  // Demultiplex: a connected pcb whose remote is the sender wins at once;
  // otherwise the best local match, first one on ties.
  let best: udp_pcb | null = null;
  let best_score: u32 = 0;
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    const pcb = changetype<udp_pcb>(q);
    if (pcb.local_port != dest_port) continue;
    if (((pcb.flags & UDP_FLAGS_UDPLITE) != 0) != lite) continue;
    if (pcb.netif_idx != 0 && pcb.netif_idx != inp.num) continue;
    const score = local_score(ip_pcb_local(pcb), dest, inp, broadcast, multicast);
    if (score == 0) continue;
    if (pcb.flags & UDP_FLAGS_CONNECTED) {
      const r = ip_pcb_remote(pcb);
      if (pcb.remote_port == src_port && ip_pcb_family_ok(r, src) && (ip_addr_isany(r) || ip_addr_eq(r, src))) {
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
    if (!broadcast && !multicast) ip_icmp_port_unreach(p);
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
    if (!ev_push_flags(EV_UDP_RECV, ev_addr_flags(src), pcb.host, p, ev_addr(src, 0), <u32>src_port, ev_addr(dest, 1),
        <u32>inp.num, bits)) {
      drop(p, Ctr.MEMERR);
      return;
    }
    pbuf_free(p); // the event holds its own reference
    return;
  }
  if (pcb.recv != 0) {
    changetype<udp_recv_fn>(pcb.recv)(pcb.recv_arg, pcb, p, src, src_port);
    return;
  }
  // Bound but nobody reads: the datagram is consumed.
  pbuf_free(p);
}

/**
 * ICMP (or ICMPv6) reported an error `type`/`code` about a datagram we sent
 * from `src` to `dst` (the quoted addresses) of protocol `proto` (UDP or
 * UDP-Lite); `uh` points at its quoted UDP header (`len` bytes, at least 8,
 * RFC 792 / RFC 4443 §2.4). The pcb is found by the quoted 4-tuple: a
 * connected pcb whose remote is the quoted destination, or else the
 * unconnected pcb holding the quoted source address and port.
 */
export function udp_icmp_error(src: ip_addr, dst: ip_addr, proto: u8, uh: usize, len: u32, type: u8, code: u8): void {
  if (len < UDP_HLEN || (proto != IP_PROTO_UDP && proto != IP_PROTO_UDPLITE)) return;
  const lite = proto == IP_PROTO_UDPLITE;
  const sport = udp_hdr_src(uh);
  const dport = udp_hdr_dest(uh);

  let found: udp_pcb | null = null;
  for (let q = udp_pcbs; q != 0; q = changetype<udp_pcb>(q).next) {
    const pcb = changetype<udp_pcb>(q);
    if (pcb.local_port != sport || ((pcb.flags & UDP_FLAGS_UDPLITE) != 0) != lite) continue;
    const l = ip_pcb_local(pcb);
    if (!ip_pcb_family_ok(l, src) || !(ip_addr_isany(l) || ip_addr_eq(l, src))) continue;
    if (pcb.flags & UDP_FLAGS_CONNECTED) {
      const r = ip_pcb_remote(pcb);
      if (pcb.remote_port == dport && (ip_addr_isany(r) || ip_addr_eq(r, dst))) { found = pcb; break; }
      continue;
    }
    if (found == null) found = pcb;
  }
  if (found == null) return;
  const pcb = found;
  if (pcb.flags & UDP_FLAGS_HOST) {
    ev_push_flags(EV_UDP_ERR, ev_addr_flags(dst), pcb.host, null, type, code, ev_addr(dst, 0), dport, 0);
  } else if (pcb.err != 0) {
    changetype<udp_err_fn>(pcb.err)(pcb.recv_arg, pcb, type, code, dst, dport);
  }
}

// ---- output --------------------------------------------------------------------------------

/** No precomputed payload sum (udp_output's `payload_sum`). */
const NO_SUM: u32 = 0xffffffff;

/** Sends to the connected remote end. ERR_CONN when the pcb is not connected. */
export function udp_send(pcb: udp_pcb, p: pbuf): err_t {
  if (!(pcb.flags & UDP_FLAGS_CONNECTED)) return ERR_CONN;
  return udp_sendto(pcb, p, ip_pcb_remote(pcb), pcb.remote_port);
}

/**
 * The netif a datagram to `dst` leaves by: the pcb's netif when bound to
 * one, the multicast interface for multicasts when set, else the route.
 */
function udp_route(pcb: udp_pcb, dst: ip_addr): netif | null {
  if (pcb.netif_idx == 0 && pcb.mcast_ifindex != 0 && ip_addr_ismulticast(dst)) {
    const n = netif_get_by_index(pcb.mcast_ifindex);
    if (n != null) return n;
  }
  return ip_pcb_route(pcb, dst);
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
  if (!ip_pcb_family_ok(ip_pcb_local(pcb), dst_ip)) return ERR_VAL;
  const n = udp_route(pcb, dst_ip);
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
  const l = ip_pcb_local(pcb);
  let src = l;
  if (ip_addr_isany(l) || ip_addr_ismulticast(l)) {
    const a = ip_netif_get_local_ip(n, dst_ip);
    if (a == null) return ERR_RTE; // n has no address of that family
    src = a;
  } else if (!ip_netif_owns(n, l)) {
    // Bound to an address: only that address's netif may carry it (lwIP).
    return ERR_RTE;
  }
  return udp_output(pcb, p, dst_ip, dst_port, n, src, payload_sum);
}

/** Sends by `n` with an explicit source address (e.g. DHCP's 0.0.0.0). */
export function udp_sendto_if_src(pcb: udp_pcb, p: pbuf, dst_ip: ip_addr, dst_port: u16, n: netif, src_ip: ip_addr): err_t {
  if (IP_IS_V6(src_ip) != IP_IS_V6(dst_ip)) return ERR_VAL;
  return udp_output(pcb, p, dst_ip, dst_port, n, src_ip, NO_SUM);
}

/**
 * Builds the UDP header in front of `p` (in its header room, or in a new
 * pbuf chained in front of it), checksums, and hands it to IP. The caller
 * keeps its reference; p's payload is back where it was on return.
 */
function udp_output(pcb: udp_pcb, p: pbuf, dst: ip_addr, dst_port: u16, n: netif, src: ip_addr, payload_sum: u32): err_t {
  // SO_BROADCAST: broadcasts only on request (lwIP IP_SOF_BROADCAST).
  if ((pcb.so_options & SOF_BROADCAST) == 0 && ip_addr_isbroadcast(dst, n)) return ERR_VAL;
  if (pcb.local_port == 0) {
    const err = udp_bind(pcb, ip_pcb_local(pcb), 0);
    if (err != ERR_OK) return err;
  }
  // IP's length fields are 16 bits.
  if (p.tot_len + UDP_HLEN > ip_max_payload(dst)) return ERR_VAL;

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
    c = ip_chksum_pseudo_partial(q, proto, q.tot_len, cov, src, dst);
    // Computed zero is sent as all ones, as in UDP; UDP-Lite has no "no checksum".
    if (c == 0) c = 0xffff;
    udp_hdr_set_chksum(uh, c);
  } else {
    udp_hdr_set_len(uh, <u16>q.tot_len);
    // No checksum only where RFC 768 allows it: IPv4 (RFC 8200 §8.1).
    if ((pcb.flags & UDP_FLAGS_NOCHKSUM) == 0 || IP_IS_V6(dst)) {
      if (payload_sum != NO_SUM) {
        // Pseudo header + UDP header summed here, the payload's sum was taken
        // while it was copied in: the payload is read once (lwIP
        // LWIP_CHECKSUM_ON_COPY). The payload starts at an even offset (8).
        const s = chksum_add(ip_chksum_pseudo_sum(proto, q.tot_len, src, dst), <u32>lwip_standard_chksum(uh, UDP_HLEN));
        c = <u16>(~chksum_add(s, payload_sum) & 0xffff);
      } else {
        c = ip_chksum_pseudo(q, proto, q.tot_len, src, dst);
      }
      // RFC 768: a computed zero is transmitted as all ones (zero means "none").
      if (c == 0) c = 0xffff;
      udp_hdr_set_chksum(uh, c);
    }
  }
  const mc = ip_addr_ismulticast(dst);
  if (mc && (pcb.flags & UDP_FLAGS_MULTICAST_LOOP) != 0) q.flags |= PBUF_FLAG_MCASTLOOP;
  const ttl = mc ? pcb.mcast_ttl : pcb.ttl;
  STATS_INC(Proto.UDP, Ctr.XMIT);
  const err = ip_output_if(q, src, dst, ttl, pcb.tos, proto, n);
  if (q != p) {
    pbuf_free(q); // the header pbuf, and its reference on p
  } else {
    pbuf_remove_header(p, UDP_HLEN);
    if (mc) p.flags &= ~PBUF_FLAG_MCASTLOOP;
  }
  return err;
}
