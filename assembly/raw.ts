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
// host-side pcbs (RAW_FLAGS_HOST) get an EV_RAW_RECV event, named by their
// generation-tagged handle (`host`, abi/raw.ts), and eat the packet only
// when RAW_FLAGS_HOST_EAT is set. IP is reached through ip.ts, for either
// family.
//
//   struct raw_pcb (64 bytes, fits MEMP.RAW_PCB's reserved 64):
//   +0  ip_pcb (44): local_ip, remote_ip, netif_idx, so_options, tos, ttl
//   +44 next usize
//   +48 protocol u8  flags u8  mcast_ttl u8  mcast_ifindex u8
//   +52 recv usize  +56 recv_arg usize  +60 host u32

import { pbuf, pbuf_alloc, pbuf_free, pbuf_clone, pbuf_keep, pbuf_add_header, pbuf_remove_header, pbuf_chain, pbuf_layer, pbuf_type, PBUF_FLAG_MCASTLOOP } from "./core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL, ERR_RTE, ERR_CONN } from "./core/err";
import { MEMP, memp_malloc, memp_free, memp_size } from "./core/memp";
import { STATS_INC, Proto, Ctr } from "./core/stats";
import { ev_push_flags, ev_addr, ev_addr_flags, ev_space } from "./core/rings";
import { ip_addr, ip_addr_copy, ip_addr_isany, ip_addr_eq, ip_addr_set_any, ip_addr_ismulticast } from "./ip_addr";
import { netif, netif_get_by_index } from "./netif/netif";
import {
  ip_pcb, ip_pcb_local, ip_pcb_remote, ip_pcb_init, ip_pcb_type_ok, ip_pcb_family_ok, ip_pcb_local_match,
  ip_pcb_route, ip_pcb_src, ip_pcb_local_follows, ip_output_if, ip_output_if_hdrincl, ip_addr_isbroadcast,
  ip_current_src_addr, ip_current_dest_addr, ip_current_header_proto, ip_current_header_tot_len, ip_hdr_len,
  SOF_BROADCAST,
} from "./ip";

// ---- events for host-side pcbs -------------------------------------------------------
//
// EV_RAW_RECV (40): handle = the pcb's handle, p = the whole IP packet
//   (payload at the IP header), a = source address, b = destination address
//   (as rings.ts says: IPv6 ones are ip_addr pointers, EV_FLAG_IP6), c = netif
//   index, d = protocol, e = IP header length. When the pcb does not eat the packet
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
export class raw_pcb extends ip_pcb {
  next: usize;
  protocol: u8;
  flags: u8;
  mcast_ttl: u8;
  mcast_ifindex: u8;
  recv: usize;
  recv_arg: usize;
  host: u32;
}

export const RAW_PCB_SIZE: u32 = <u32>offsetof<raw_pcb>();

/**
 * In-core receive callback: `p` is the whole IP packet (payload at the IP
 * header), `addr` its source (valid during the call). Return 1 to eat the
 * packet (the callback then owns and frees `p`), 0 to pass it on untouched.
 */
export type raw_recv_fn = (arg: usize, pcb: raw_pcb, p: pbuf, addr: ip_addr) => u8;

let raw_pcbs: usize = 0;

export function raw_pcbs_head(): usize { return raw_pcbs; }

// ---- pcb lifetime ---------------------------------------------------------------------

/** A new IPv4 raw pcb for IP protocol `proto`, listed at once (it receives as soon as it exists). */
export function raw_new(proto: u8): raw_pcb | null { return raw_new_ip_type(0, proto); }

/** A raw pcb of family `type` (IPADDR_TYPE_V4 / _V6 / _ANY); null when the pool is empty or the build lacks the family. */
export function raw_new_ip_type(type: u8, proto: u8): raw_pcb | null {
  if (!ip_pcb_type_ok(type) || memp_size(MEMP.RAW_PCB) < RAW_PCB_SIZE) return null;
  const m = memp_malloc(MEMP.RAW_PCB);
  if (m == 0) return null;
  memory.fill(m, 0, RAW_PCB_SIZE);
  const pcb = changetype<raw_pcb>(m);
  ip_pcb_init(pcb, type);
  pcb.protocol = proto;
  pcb.mcast_ttl = 1;
  pcb.next = raw_pcbs;
  raw_pcbs = m;
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
  const l = ip_pcb_local(pcb);
  if (ipaddr == null) {
    ip_addr_set_any(l, l.type);
  } else {
    if (!ip_pcb_family_ok(l, ipaddr)) return ERR_VAL;
    ip_addr_copy(l, ipaddr);
  }
  return ERR_OK;
}

export function raw_bind_netif(pcb: raw_pcb, n: netif | null): void {
  pcb.netif_idx = n != null ? n.num : 0;
}

/** Receive only from `ipaddr`; raw_send sends to it. */
export function raw_connect(pcb: raw_pcb, ipaddr: ip_addr): err_t {
  if (!ip_pcb_family_ok(ip_pcb_local(pcb), ipaddr)) return ERR_VAL;
  ip_addr_copy(ip_pcb_remote(pcb), ipaddr);
  pcb.flags |= RAW_FLAGS_CONNECTED;
  return ERR_OK;
}

export function raw_disconnect(pcb: raw_pcb): void {
  const r = ip_pcb_remote(pcb);
  ip_addr_set_any(r, r.type);
  pcb.netif_idx = 0;
  pcb.flags &= ~RAW_FLAGS_CONNECTED;
}

// ---- input -----------------------------------------------------------------------------------

/**
 * Does a pcb bound to `local` take a packet to `dest`? Broadcasts reach only
 * pcbs bound to ANY (lwIP raw_input_local_match).
 */
function local_match(local: ip_addr, dest: ip_addr, broadcast: bool): bool {
  if (broadcast) return ip_pcb_family_ok(local, dest) && ip_addr_isany(local);
  return ip_pcb_local_match(local, dest);
}

/**
 * An IP packet for us arrived on `inp` (p.payload at the IP header). Offers
 * it to every matching raw pcb. Returns RAW_INPUT_EATEN when one took it (it
 * owns `p` now), else RAW_INPUT_NONE with `p` untouched.
 */
export function raw_input(p: pbuf, inp: netif): u8 {
  if (raw_pcbs == 0) return RAW_INPUT_NONE;
  const proto = ip_current_header_proto();
  const src = ip_current_src_addr();
  const dest = ip_current_dest_addr();
  const hlen = ip_current_header_tot_len();
  const broadcast = ip_addr_isbroadcast(dest, inp);
  for (let q = raw_pcbs; q != 0; q = changetype<raw_pcb>(q).next) {
    const pcb = changetype<raw_pcb>(q);
    if (pcb.protocol != proto) continue;
    if (pcb.netif_idx != 0 && pcb.netif_idx != inp.num) continue;
    if (!local_match(ip_pcb_local(pcb), dest, broadcast)) continue;
    if ((pcb.flags & RAW_FLAGS_CONNECTED) != 0 && !ip_addr_eq(ip_pcb_remote(pcb), src)) continue;
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
      const ok = ev_push_flags(EV_RAW_RECV, ev_addr_flags(src), pcb.host, ev, ev_addr(src, 0), ev_addr(dest, 1),
        <u32>inp.num, <u32>proto, hlen);
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
      if (changetype<raw_recv_fn>(pcb.recv)(pcb.recv_arg, pcb, p, src) != 0) return RAW_INPUT_EATEN;
    }
  }
  return RAW_INPUT_NONE;
}

// ---- output -----------------------------------------------------------------------------------

function raw_route(pcb: raw_pcb, dst: ip_addr): netif | null {
  if (pcb.netif_idx == 0 && pcb.mcast_ifindex != 0 && ip_addr_ismulticast(dst)) {
    const n = netif_get_by_index(pcb.mcast_ifindex);
    if (n != null) return n;
  }
  return ip_pcb_route(pcb, dst);
}

/** Sends to the connected address. ERR_CONN when not connected. */
export function raw_send(pcb: raw_pcb, p: pbuf): err_t {
  if (!(pcb.flags & RAW_FLAGS_CONNECTED)) return ERR_CONN;
  return raw_sendto(pcb, p, ip_pcb_remote(pcb));
}

/**
 * Sends `p` to `ipaddr`: an IP payload of the pcb's protocol, or with
 * RAW_FLAGS_HDRINCL a whole IP packet (then `ipaddr` only chooses the route;
 * the header's own addresses go out). The caller keeps its reference to `p`.
 */
export function raw_sendto(pcb: raw_pcb, p: pbuf, ipaddr: ip_addr): err_t {
  if (!ip_pcb_family_ok(ip_pcb_local(pcb), ipaddr)) return ERR_VAL;
  const n = raw_route(pcb, ipaddr);
  if (n == null) {
    STATS_INC(Proto.RAW, Ctr.RTERR);
    return ERR_RTE;
  }
  return raw_sendto_if(pcb, p, ipaddr, n);
}

/** raw_sendto by `n`. */
export function raw_sendto_if(pcb: raw_pcb, p: pbuf, ipaddr: ip_addr, n: netif): err_t {
  if (!ip_pcb_family_ok(ip_pcb_local(pcb), ipaddr)) return ERR_VAL;
  const dst = ipaddr;
  const hlen = ip_hdr_len(dst);
  if (pcb.flags & RAW_FLAGS_HDRINCL) {
    if (p.len < hlen) return ERR_VAL;
    STATS_INC(Proto.RAW, Ctr.XMIT);
    return ip_output_if_hdrincl(p, n);
  }
  if ((pcb.so_options & SOF_BROADCAST) == 0 && ip_addr_isbroadcast(dst, n)) return ERR_VAL;
  // The pcb's own address when bound to a unicast one, else n's (null: n has none of that family).
  const src = ip_pcb_src(pcb, n, dst);
  if (src == null) return ERR_RTE;

  // IP needs header room in front of the payload; when there is none, the
  // header goes in a pbuf of its own chained in front.
  let q = p;
  // As in udp_output: a pbuf someone else still holds (queued on the TX
  // ring, ref > 1) is not written in front of.
  if (p.ref > 1 || pbuf_add_header(p, hlen) != 0) {
    const h = pbuf_alloc(pbuf_layer.PBUF_IP, 0, pbuf_type.PBUF_RAM);
    if (h == null) {
      STATS_INC(Proto.RAW, Ctr.MEMERR);
      return ERR_MEM;
    }
    if (p.tot_len != 0) pbuf_chain(h, p);
    q = h;
  } else {
    pbuf_remove_header(p, hlen);
  }
  const mc = ip_addr_ismulticast(dst);
  if (mc && (pcb.flags & RAW_FLAGS_MULTICAST_LOOP) != 0) q.flags |= PBUF_FLAG_MCASTLOOP;
  STATS_INC(Proto.RAW, Ctr.XMIT);
  const err = ip_output_if(q, src, dst, mc ? pcb.mcast_ttl : pcb.ttl, pcb.tos, pcb.protocol, n);
  if (q != p) pbuf_free(q);
  else if (mc) p.flags &= ~PBUF_FLAG_MCASTLOOP;
  return err;
}

/**
 * One of our addresses changed from `old` to `now` (null: removed): pcbs
 * bound to it follow (lwIP raw_netif_ip_addr_changed; ip.ts calls it).
 */
export function raw_netif_ip_addr_changed(old: ip_addr, now: ip_addr | null): void {
  if (now == null) return;
  for (let q = raw_pcbs; q != 0; q = changetype<raw_pcb>(q).next) {
    ip_pcb_local_follows(ip_pcb_local(changetype<raw_pcb>(q)), old, now);
  }
}
