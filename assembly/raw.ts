// raw: raw IP pcbs (lwIP raw.c).
//
// A raw pcb sees every IP packet of its protocol addressed to it, before the
// transport protocols do (ip4_input calls raw_input first), and sends IP
// payloads of its protocol — or, with RAW_FLAGS_HDRINCL, whole IP packets it
// built itself (IP_HDRINCL).
//
// Each matching pcb in turn may eat the packet (its callback returns 1: it
// now owns `p`, and IP stops) or pass it (0: `p` untouched, the next pcb and
// then the transport protocol get it). In-core pcbs decide in their callback;
// host-side pcbs (RAW_FLAGS_HOST) get an EV_RAW_RECV event and eat the packet
// only when RAW_FLAGS_HOST_EAT is set.
//
//   struct raw_pcb (60 bytes, fits MEMP.RAW_PCB's reserved 64):
//   +0  local_ip  ip_addr (20)        +20 remote_ip ip_addr (20)
//   +40 next      usize               +44 netif_idx u8  so_options u8  tos u8  ttl u8
//   +48 protocol u8  flags u8  mcast_ttl u8  mcast_ifindex u8
//   +52 recv usize  +56 recv_arg usize

import { pbuf, pbuf_alloc, pbuf_free, pbuf_clone, pbuf_keep, pbuf_add_header, pbuf_remove_header, pbuf_chain, pbuf_layer, pbuf_type, PBUF_FLAG_MCASTLOOP } from "./core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL, ERR_RTE, ERR_CONN } from "./core/err";
import { MEMP, memp_malloc, memp_free, memp_size } from "./core/memp";
import { STATS_INC, Proto, Ctr } from "./core/stats";
import { ev_push, ev_space } from "./core/rings";
import {
  ip_addr, ip_addr_copy, ip_addr_isany, ip_addr_set_ip4, IPADDR_TYPE_V4, IPADDR_TYPE_ANY, IP_ADDR_SIZE,
  ip4_addr_ismulticast, IP4_ADDR_BROADCAST,
} from "./ip_addr";
import { netif, netif_get_by_index } from "./netif/netif";
import { IP_HLEN, ip4_hdr_hlen, ip4_hdr_proto, ip4_hdr_src, ip4_hdr_dest } from "./ipv4/ip4_hdr";
import { ip4_output_if, ip4_output_if_hdrincl, ip4_route_src, ip4_addr_isbroadcast, IP_DEFAULT_TTL } from "./ipv4/ip4";
import { SOF_BROADCAST } from "./udp";

// ---- events for host-side pcbs -------------------------------------------------------
//
// EV_RAW_RECV (40): handle = pcb, p = the whole IP packet (payload at the IP
//   header), a = source address, b = destination address, c = netif index,
//   d = protocol, e = IP header length. When the pcb does not eat the packet
//   the event carries a copy: IP goes on to process (and may rewrite in place,
//   as ICMP does for echo replies) the original.
export const EV_RAW_RECV: u16 = 40;

/** raw_input results. */
export const RAW_INPUT_NONE: u8 = 0;
export const RAW_INPUT_EATEN: u8 = 1;

export const RAW_FLAGS_CONNECTED: u8 = 0x01;
/** `p` given to raw_send/raw_sendto holds a complete IP header (IP_HDRINCL). */
export const RAW_FLAGS_HDRINCL: u8 = 0x02;
export const RAW_FLAGS_MULTICAST_LOOP: u8 = 0x04;
/** asip: the pcb belongs to the host; input becomes events. */
export const RAW_FLAGS_HOST: u8 = 0x40;
/** asip: a host-side pcb eats what it receives. */
export const RAW_FLAGS_HOST_EAT: u8 = 0x80;

@unmanaged
export class raw_pcb {
  // +0 local_ip (ip_addr): raw_local_ip(pcb)
  _l0: u32; _l1: u32; _l2: u32; _l3: u32; _l4: u32;
  // +20 remote_ip (ip_addr): raw_remote_ip(pcb)
  _m0: u32; _m1: u32; _m2: u32; _m3: u32; _m4: u32;
  next: usize;
  netif_idx: u8;
  so_options: u8;
  tos: u8;
  ttl: u8;
  protocol: u8;
  flags: u8;
  mcast_ttl: u8;
  mcast_ifindex: u8;
  recv: usize;
  recv_arg: usize;
}

export const RAW_PCB_SIZE: u32 = <u32>offsetof<raw_pcb>();

/**
 * In-core receive callback: `p` is the whole IP packet (payload at the IP
 * header), `addr` its source (valid during the call). Return 1 to eat the
 * packet (the callback then owns and frees `p`), 0 to pass it on untouched.
 */
export type raw_recv_fn = (arg: usize, pcb: raw_pcb, p: pbuf, addr: ip_addr) => u8;

// @ts-ignore: decorator
@inline export function raw_local_ip(pcb: raw_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb)); }
// @ts-ignore: decorator
@inline export function raw_remote_ip(pcb: raw_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb) + IP_ADDR_SIZE); }

let raw_pcbs: usize = 0;
const cb_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

export function raw_pcbs_head(): usize { return raw_pcbs; }

// @ts-ignore: decorator
@inline function is_v4(a: ip_addr): bool { return a.type == IPADDR_TYPE_V4 || a.type == IPADDR_TYPE_ANY; }

// ---- pcb lifetime ---------------------------------------------------------------------

/** A new IPv4 raw pcb for IP protocol `proto`, listed at once (it receives as soon as it exists). */
export function raw_new(proto: u8): raw_pcb | null {
  if (memp_size(MEMP.RAW_PCB) < RAW_PCB_SIZE) return null;
  const m = memp_malloc(MEMP.RAW_PCB);
  if (m == 0) return null;
  memory.fill(m, 0, RAW_PCB_SIZE);
  const pcb = changetype<raw_pcb>(m);
  raw_local_ip(pcb).type = IPADDR_TYPE_V4;
  raw_remote_ip(pcb).type = IPADDR_TYPE_V4;
  pcb.protocol = proto;
  pcb.ttl = IP_DEFAULT_TTL;
  pcb.mcast_ttl = 1;
  pcb.next = raw_pcbs;
  raw_pcbs = m;
  return pcb;
}

export function raw_new_ip_type(type: u8, proto: u8): raw_pcb | null {
  const pcb = raw_new(proto);
  if (pcb != null) {
    raw_local_ip(pcb).type = type;
    raw_remote_ip(pcb).type = type;
  }
  return pcb;
}

export function raw_remove(pcb: raw_pcb): void {
  const me = changetype<usize>(pcb);
  if (raw_pcbs == me) {
    raw_pcbs = pcb.next;
  } else {
    for (let q = raw_pcbs; q != 0; q = changetype<raw_pcb>(q).next) {
      if (changetype<raw_pcb>(q).next == me) {
        changetype<raw_pcb>(q).next = pcb.next;
        break;
      }
    }
  }
  memp_free(MEMP.RAW_PCB, me);
}

export function raw_recv(pcb: raw_pcb, fn: raw_recv_fn | null, arg: usize): void {
  pcb.recv = changetype<usize>(fn);
  pcb.recv_arg = arg;
}

/** Receive only packets to `ipaddr` (null: any of ours). Raw pcbs may share addresses. */
export function raw_bind(pcb: raw_pcb, ipaddr: ip_addr | null): err_t {
  if (ipaddr == null) {
    const t = raw_local_ip(pcb).type;
    memory.fill(changetype<usize>(pcb), 0, IP_ADDR_SIZE);
    raw_local_ip(pcb).type = t;
  } else {
    ip_addr_copy(raw_local_ip(pcb), ipaddr);
  }
  return ERR_OK;
}

export function raw_bind_netif(pcb: raw_pcb, n: netif | null): void {
  pcb.netif_idx = n != null ? n.num : 0;
}

/** Receive only from `ipaddr`; raw_send sends to it. */
export function raw_connect(pcb: raw_pcb, ipaddr: ip_addr): err_t {
  ip_addr_copy(raw_remote_ip(pcb), ipaddr);
  pcb.flags |= RAW_FLAGS_CONNECTED;
  return ERR_OK;
}

export function raw_disconnect(pcb: raw_pcb): void {
  const r = raw_remote_ip(pcb);
  const t = r.type;
  memory.fill(changetype<usize>(r), 0, IP_ADDR_SIZE);
  r.type = t;
  pcb.netif_idx = 0;
  pcb.flags &= ~RAW_FLAGS_CONNECTED;
}

// ---- input -----------------------------------------------------------------------------------

/**
 * Does a pcb bound to `local` take a packet to `dest`? Broadcasts reach only
 * pcbs bound to ANY (lwIP raw_input_local_match).
 */
function local_match(local: ip_addr, dest: u32, broadcast: bool): bool {
  if (!is_v4(local)) return false;
  if (ip_addr_isany(local)) return true;
  return !broadcast && local.a0 == dest;
}

/**
 * An IP packet for us arrived on `inp` (p.payload at the IP header). Offers
 * it to every matching raw pcb. Returns RAW_INPUT_EATEN when one took it (it
 * owns `p` now), else RAW_INPUT_NONE with `p` untouched.
 */
export function raw_input(p: pbuf, inp: netif): u8 {
  if (raw_pcbs == 0) return RAW_INPUT_NONE;
  const iph = p.payload;
  const proto = ip4_hdr_proto(iph);
  const src = ip4_hdr_src(iph);
  const dest = ip4_hdr_dest(iph);
  const hlen = ip4_hdr_hlen(iph);
  const broadcast = ip4_addr_isbroadcast(dest, inp);
  for (let q = raw_pcbs; q != 0; q = changetype<raw_pcb>(q).next) {
    const pcb = changetype<raw_pcb>(q);
    if (pcb.protocol != proto) continue;
    if (pcb.netif_idx != 0 && pcb.netif_idx != inp.num) continue;
    if (!local_match(raw_local_ip(pcb), dest, broadcast)) continue;
    if (pcb.flags & RAW_FLAGS_CONNECTED) {
      const r = raw_remote_ip(pcb);
      if (!is_v4(r) || r.a0 != src) continue;
    }
    STATS_INC(Proto.RAW, Ctr.RECV);
    if (pcb.flags & RAW_FLAGS_HOST) {
      const eat = (pcb.flags & RAW_FLAGS_HOST_EAT) != 0;
      // A passed packet goes on through IP, which moves its payload pointer
      // and may rewrite it: the host gets its own copy. An eaten one is kept
      // as a copy under receive-pool pressure (core/pbuf.ts).
      // (Only when the ring has room: a refused event passes the packet on.)
      let ev: pbuf | null;
      if (eat) {
        ev = ev_space() > 0 ? pbuf_keep(p) : p;
        if (ev != null) p = ev;
      } else {
        ev = pbuf_clone(pbuf_layer.PBUF_RAW, pbuf_type.PBUF_RAM, p);
      }
      if (ev == null) {
        STATS_INC(Proto.RAW, Ctr.MEMERR);
        STATS_INC(Proto.RAW, Ctr.DROP);
        if (eat) return RAW_INPUT_EATEN; // dropped: pbuf_keep freed it
        continue;
      }
      const ok = ev_push(EV_RAW_RECV, <u32>changetype<usize>(pcb), ev, src, dest, <u32>inp.num, <u32>proto, hlen);
      if (!eat) pbuf_free(ev); // the ring holds its own reference
      if (!ok) {
        STATS_INC(Proto.RAW, Ctr.MEMERR);
        STATS_INC(Proto.RAW, Ctr.DROP);
        continue;
      }
      if (eat) {
        pbuf_free(p);
        return RAW_INPUT_EATEN;
      }
      continue;
    }
    if (pcb.recv != 0) {
      const addr = changetype<ip_addr>(cb_addr);
      ip_addr_set_ip4(addr, src);
      if (changetype<raw_recv_fn>(pcb.recv)(pcb.recv_arg, pcb, p, addr) != 0) return RAW_INPUT_EATEN;
    }
  }
  return RAW_INPUT_NONE;
}

// ---- output -----------------------------------------------------------------------------------

function raw_route(pcb: raw_pcb, dst: u32): netif | null {
  if (pcb.netif_idx != 0) return netif_get_by_index(pcb.netif_idx);
  if (ip4_addr_ismulticast(dst) && pcb.mcast_ifindex != 0) {
    const n = netif_get_by_index(pcb.mcast_ifindex);
    if (n != null) return n;
  }
  const l = raw_local_ip(pcb);
  return ip4_route_src(is_v4(l) ? l.a0 : 0, dst);
}

/** Sends to the connected address. ERR_CONN when not connected. */
export function raw_send(pcb: raw_pcb, p: pbuf): err_t {
  if (!(pcb.flags & RAW_FLAGS_CONNECTED)) return ERR_CONN;
  return raw_sendto(pcb, p, raw_remote_ip(pcb));
}

/**
 * Sends `p` to `ipaddr`: an IP payload of the pcb's protocol, or with
 * RAW_FLAGS_HDRINCL a whole IP packet (then `ipaddr` only chooses the route;
 * the header's own addresses go out). The caller keeps its reference to `p`.
 */
export function raw_sendto(pcb: raw_pcb, p: pbuf, ipaddr: ip_addr): err_t {
  if (!is_v4(ipaddr)) return ERR_VAL;
  const n = raw_route(pcb, ipaddr.a0);
  if (n == null) {
    STATS_INC(Proto.RAW, Ctr.RTERR);
    return ERR_RTE;
  }
  return raw_sendto_if(pcb, p, ipaddr, n);
}

/** raw_sendto by `n`. */
export function raw_sendto_if(pcb: raw_pcb, p: pbuf, ipaddr: ip_addr, n: netif): err_t {
  if (!is_v4(ipaddr)) return ERR_VAL;
  const dst = ipaddr.a0;
  if (pcb.flags & RAW_FLAGS_HDRINCL) {
    if (p.len < IP_HLEN) return ERR_VAL;
    STATS_INC(Proto.RAW, Ctr.XMIT);
    return ip4_output_if_hdrincl(p, n);
  }
  if ((pcb.so_options & SOF_BROADCAST) == 0 && (dst == IP4_ADDR_BROADCAST || ip4_addr_isbroadcast(dst, n))) return ERR_VAL;
  const l = raw_local_ip(pcb);
  let src: u32 = 0; // n's address
  if (is_v4(l) && !ip_addr_isany(l) && !ip4_addr_ismulticast(l.a0)) src = l.a0;

  // IP needs header room in front of the payload; when there is none, the
  // header goes in a pbuf of its own chained in front.
  let q = p;
  // As in udp_output: a pbuf someone else still holds (queued on the TX
  // ring, ref > 1) is not written in front of.
  if (p.ref > 1 || pbuf_add_header(p, IP_HLEN) != 0) {
    const h = pbuf_alloc(pbuf_layer.PBUF_IP, 0, pbuf_type.PBUF_RAM);
    if (h == null) {
      STATS_INC(Proto.RAW, Ctr.MEMERR);
      return ERR_MEM;
    }
    if (p.tot_len != 0) pbuf_chain(h, p);
    q = h;
  } else {
    pbuf_remove_header(p, IP_HLEN);
  }
  const mc = ip4_addr_ismulticast(dst);
  if (mc && (pcb.flags & RAW_FLAGS_MULTICAST_LOOP) != 0) q.flags |= PBUF_FLAG_MCASTLOOP;
  STATS_INC(Proto.RAW, Ctr.XMIT);
  const err = ip4_output_if(q, src, dst, mc ? pcb.mcast_ttl : pcb.ttl, pcb.tos, pcb.protocol, n);
  if (q != p) pbuf_free(q);
  else if (mc) p.flags &= ~PBUF_FLAG_MCASTLOOP;
  return err;
}

/** A netif's address changed: pcbs bound to the old one follow it (lwIP raw_netif_ip_addr_changed). */
export function raw_netif_ip_addr_changed(old_addr: u32, new_addr: u32): void {
  if (old_addr == 0 || new_addr == 0) return;
  for (let q = raw_pcbs; q != 0; q = changetype<raw_pcb>(q).next) {
    const l = raw_local_ip(changetype<raw_pcb>(q));
    if (l.type == IPADDR_TYPE_V4 && l.a0 == old_addr) l.a0 = new_addr;
  }
}
