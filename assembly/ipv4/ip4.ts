// ip4: IPv4 input, output, routing and forwarding (RFC 791, RFC 1122 §3.3,
// RFC 1812 §5 for forwarding; lwIP ip4.c).
//
// Input validates the header (version, IHL, total length against the frame,
// header checksum), trims link-layer padding, decides whether the packet is
// for one of our addresses (weak host model, RFC 1122 §3.3.4.2), reassembles
// fragments, offers the packet to raw pcbs, then hands the payload to ICMP,
// UDP or TCP with the addresses and protocol in ip.ts ip_current_*(). Packets
// for others are forwarded when forwarding is on.
//
// Output prepends the header in the pbuf's header room and restores the
// payload pointer before returning, so callers may resend or free `p` freely.

import { pbuf, pbuf_free, pbuf_add_header, pbuf_remove_header, pbuf_realloc, pbuf_add_header_force, PBUF_FLAG_LLBCAST, PBUF_FLAG_LLMCAST } from "../core/pbuf";
import { err_t, ERR_OK, ERR_BUF, ERR_RTE, ERR_VAL, ERR_IF } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { inet_chksum, chksum_adjust } from "../core/chksum";
import { asip_random } from "../core/random";
import {
  netif, netif_loop, netif_default, netif_get_by_index, netif_loop_output, netif_output4, NetifKind, NETIF_LAST_IDX,
  NETIF_FLAG_UP, NETIF_FLAG_LINK_UP, NETIF_FLAG_BROADCAST,
} from "../netif/netif";
import { ip_data_set4, ip_data_clear } from "../ip";
import { ip4_addr_ismulticast, ip4_addr_isloopback, ip4_addr_islinklocal, ip4_addr_net_eq, IP4_ADDR_BROADCAST } from "../ip_addr";
import {
  IP_HLEN, IP_MF, IP_OFFMASK, IP_DF, IP_PROTO_ICMP, IP_PROTO_UDP, IP_PROTO_UDPLITE, IP_PROTO_TCP,
  ip4_hdr_hlen, ip4_hdr_len, ip4_hdr_offset, ip4_hdr_ttl, ip4_hdr_proto, ip4_hdr_src, ip4_hdr_dest,
  ip4_hdr_id, ip4_hdr_chksum, ip4_hdr_check, Ip4HdrCheck, ip4_hdr_set_vhl, ip4_hdr_set_tos, ip4_hdr_set_len,
  ip4_hdr_set_id, ip4_hdr_set_offset, ip4_hdr_set_ttl, ip4_hdr_set_proto, ip4_hdr_set_chksum,
  ip4_hdr_set_src, ip4_hdr_set_dest,
} from "./ip4_hdr";
import { ip4_reass, ip4_frag, ip4_frag_init } from "./ip4_frag";
import { icmp_input, icmp_dest_unreach, icmp_time_exceeded, icmp_frag_needed, ICMP_DUR_PROTO, ICMP_DUR_NET, ICMP_TE_TTL } from "./icmp";
import { udp_input } from "../udp";
import { tcp_input } from "../tcp/tcp_in";
import { raw_input } from "../raw";

/** Forward packets between netifs (RFC 1812). Off by default, like a host. */
export let ip_forward_enabled: bool = false;
export function ip4_set_forwarding(on: bool): void { ip_forward_enabled = on; }

let ip_id: u16 = 0;

/** The IPv4 header of the packet being delivered (ICMP answers echo requests in place). */
let cur_header: usize = 0;
export function ip4_current_header(): usize { return cur_header; }

export function ip4_init(): void {
  ip_id = <u16>asip_random();
  ip_forward_enabled = false;
  ip4_frag_init();
}

// @ts-ignore: decorator
@inline function usable(n: netif): bool {
  return (n.flags & (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP)) == (NETIF_FLAG_UP | NETIF_FLAG_LINK_UP);
}

/**
 * Is `addr` a broadcast address on `n`: the limited broadcast, 0.0.0.0 (old
 * BSD broadcast, RFC 1122 §3.2.1.3), or n's directed subnet broadcast.
 */
export function ip4_addr_isbroadcast(addr: u32, n: netif): bool {
  if (addr == IP4_ADDR_BROADCAST || addr == 0) return true;
  if (!(n.flags & NETIF_FLAG_BROADCAST)) return false;
  if (addr == n.ip_addr) return false;
  return ip4_addr_net_eq(addr, n.ip_addr, n.netmask) && (addr & ~n.netmask) == (IP4_ADDR_BROADCAST & ~n.netmask);
}

/**
 * The netif to reach `dest`: the loopback netif for 127/8, a netif whose
 * subnet holds `dest`, else the default netif. Null when nothing routes.
 */
export function ip4_route(dest: u32): netif | null {
  if (ip4_addr_isloopback(dest)) return netif_loop;
  for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
    const n = netif_get_by_index(i);
    if (n == null || !usable(n) || n.ip_addr == 0) continue;
    if (ip4_addr_net_eq(dest, n.ip_addr, n.netmask)) return n;
  }
  // Limited broadcast and multicast go out the default netif.
  const d = netif_default;
  if (d != null && usable(d) && d.kind != NetifKind.LOOPBACK) return d;
  return null;
}

/** Route with a source address preference: the netif owning `src` when it is usable. */
export function ip4_route_src(src: u32, dest: u32): netif | null {
  if (src != 0 && !ip4_addr_ismulticast(dest) && dest != IP4_ADDR_BROADCAST) {
    for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
      const n = netif_get_by_index(i);
      if (n != null && usable(n) && n.ip_addr == src && ip4_addr_net_eq(dest, n.ip_addr, n.netmask)) return n;
    }
  }
  return ip4_route(dest);
}

/** Next hop for `dest` leaving through `n`: on-link destinations directly, others via the gateway. */
export function ip4_nexthop(n: netif, dest: u32): u32 {
  if (dest == IP4_ADDR_BROADCAST || ip4_addr_ismulticast(dest)) return dest;
  if (ip4_addr_net_eq(dest, n.ip_addr, n.netmask)) return dest;
  return n.gw != 0 ? n.gw : dest;
}

/** Which of our netifs does a packet to `dest`, arriving on `inp`, belong to? */
function accepting_netif(dest: u32, inp: netif): netif | null {
  if (ip4_addr_ismulticast(dest)) return inp; // group membership is checked by IGMP/UDP
  if (ip4_addr_isloopback(dest)) return inp.kind == NetifKind.LOOPBACK ? inp : null;
  if (inp.ip_addr != 0 && (dest == inp.ip_addr || ip4_addr_isbroadcast(dest, inp))) return inp;
  // Weak host model: an address of another of our netifs is ours too.
  for (let i: u32 = 2; i <= NETIF_LAST_IDX; i++) {
    const n = netif_get_by_index(i);
    if (n == null || n == inp || !(n.flags & NETIF_FLAG_UP) || n.ip_addr == 0) continue;
    if (dest == n.ip_addr) return n;
  }
  return null;
}

function drop(p: pbuf, ctr: Ctr): err_t {
  STATS_INC(Proto.IP, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.IP, Ctr.DROP);
  pbuf_free(p);
  return ERR_OK;
}

/**
 * An IPv4 packet arrived on `inp` (p.payload at the IP header). Takes
 * ownership of `p`.
 */
export function ip4_input(p: pbuf, inp: netif): err_t {
  STATS_INC(Proto.IP, Ctr.RECV);
  let h = p.payload;
  const bad = ip4_hdr_check(h, p.len, p.tot_len);
  if (bad != Ip4HdrCheck.OK) return drop(p, bad == Ip4HdrCheck.VERSION ? Ctr.ERR : Ctr.LENERR);
  const hlen = ip4_hdr_hlen(h);
  const tot = <u32>ip4_hdr_len(h);
  // Link layers pad short frames: keep only what the header says.
  if (tot < p.tot_len) pbuf_realloc(p, tot);
  if (inet_chksum(h, hlen) != 0) return drop(p, Ctr.CHKERR);

  const src = ip4_hdr_src(h);
  const dest = ip4_hdr_dest(h);
  const n = accepting_netif(dest, inp);
  if (n == null) {
    if (ip_forward_enabled && inp.kind != NetifKind.LOOPBACK) {
      ip4_forward(p, h, inp);
    } else {
      drop(p, Ctr.DROP);
    }
    return ERR_OK;
  }
  // A broadcast or multicast source address is never legitimate (RFC 1122
  // §3.2.1.3); 0.0.0.0 is (DHCP clients).
  if (src != 0 && (ip4_addr_isbroadcast(src, inp) || ip4_addr_ismulticast(src))) return drop(p, Ctr.DROP);

  let q: pbuf = p;
  if ((ip4_hdr_offset(h) & (IP_MF | IP_OFFMASK)) != 0) {
    const r = ip4_reass(p);
    if (r == null) return ERR_OK;
    q = r;
    h = q.payload;
  }

  const ihl = ip4_hdr_hlen(h);
  const proto = ip4_hdr_proto(h);
  cur_header = h;
  ip_data_set4(src, dest, ihl, proto, n, inp);

  // Raw pcbs see the whole packet first and may eat it (lwIP raw_input).
  if (raw_input(q, inp) == 0) {
    pbuf_remove_header(q, ihl);
    if (proto == IP_PROTO_UDP || proto == IP_PROTO_UDPLITE) {
      udp_input(q, inp);
    } else if (proto == IP_PROTO_TCP) {
      tcp_input(q, inp);
    } else if (proto == IP_PROTO_ICMP) {
      icmp_input(q, inp);
    } else {
      // No such protocol: tell the sender unless it was broadcast (RFC 1122 §3.2.2.1).
      if (!ip4_addr_isbroadcast(dest, n) && !ip4_addr_ismulticast(dest)) {
        pbuf_add_header_force(q, ihl);
        icmp_dest_unreach(q, ICMP_DUR_PROTO);
      }
      STATS_INC(Proto.IP, Ctr.PROTERR);
      STATS_INC(Proto.IP, Ctr.DROP);
      pbuf_free(q);
    }
  }

  cur_header = 0;
  ip_data_clear();
  return ERR_OK;
}

/** Forwards a packet not addressed to us (RFC 1812 §5.2, 5.3). Takes ownership. */
function ip4_forward(p: pbuf, h: usize, inp: netif): void {
  const dest = ip4_hdr_dest(h);
  // Link-layer broadcasts, limited/multicast/loopback/link-local destinations stay local
  // (RFC 1812 §5.3.4, RFC 3927 §2.7).
  if ((p.flags & (PBUF_FLAG_LLBCAST | PBUF_FLAG_LLMCAST)) != 0 || dest == IP4_ADDR_BROADCAST || dest == 0 ||
      ip4_addr_ismulticast(dest) || ip4_addr_isloopback(dest) || ip4_addr_islinklocal(dest)) {
    drop(p, Ctr.DROP);
    return;
  }
  const out = ip4_route(dest);
  if (out == null || out.kind == NetifKind.LOOPBACK) {
    STATS_INC(Proto.IP, Ctr.RTERR);
    icmp_dest_unreach(p, ICMP_DUR_NET);
    drop(p, Ctr.DROP);
    return;
  }
  if (out == inp) {
    // Would go back where it came from: a host's job (ICMP redirect) we don't do.
    drop(p, Ctr.DROP);
    return;
  }
  const ttl = ip4_hdr_ttl(h);
  if (ttl <= 1) {
    icmp_time_exceeded(p, ICMP_TE_TTL);
    drop(p, Ctr.DROP);
    return;
  }
  // Decrement TTL and patch the checksum incrementally (RFC 1624).
  const old_word: u16 = (<u16>ttl << 8) | ip4_hdr_proto(h);
  ip4_hdr_set_ttl(h, ttl - 1);
  const new_word: u16 = (<u16>(ttl - 1) << 8) | ip4_hdr_proto(h);
  ip4_hdr_set_chksum(h, chksum_adjust(ip4_hdr_chksum(h), old_word, new_word));
  STATS_INC(Proto.IP, Ctr.FW);
  if (p.tot_len > out.mtu) {
    if (ip4_hdr_offset(h) & IP_DF) {
      // RFC 1191: tell the sender the next-hop MTU.
      icmp_frag_needed(p, out.mtu);
      drop(p, Ctr.DROP);
      return;
    }
    ip4_frag(p, out, dest);
  } else {
    STATS_INC(Proto.IP, Ctr.XMIT);
    netif_output4(out, p, ip4_nexthop(out, dest));
  }
  pbuf_free(p);
}

/**
 * Hands a packet with a complete header to `n`: back to ourselves through
 * n's loopback queue, fragmented when larger than the MTU, or to n's output
 * (ARP on Ethernet).
 */
function ip4_output_finish(p: pbuf, n: netif, dest: u32): err_t {
  STATS_INC(Proto.IP, Ctr.XMIT);
  if (dest == n.ip_addr && n.kind != NetifKind.LOOPBACK) return netif_loop_output(n, p);
  if (!usable(n)) return ERR_IF;
  if (p.tot_len > n.mtu) return ip4_frag(p, n, dest);
  return netif_output4(n, p, ip4_nexthop(n, dest));
}

/**
 * Sends `p` (payload at the transport header) on `n` with a new IPv4 header.
 * `src` 0 means n's address. The caller keeps its reference to `p`; its
 * payload pointer is back at the transport header when this returns.
 */
export function ip4_output_if(p: pbuf, src: u32, dest: u32, ttl: u8, tos: u8, proto: u8, n: netif): err_t {
  if (pbuf_add_header(p, IP_HLEN) != 0) {
    STATS_INC(Proto.IP, Ctr.ERR);
    return ERR_BUF;
  }
  if (p.tot_len > 0xffff) {
    pbuf_remove_header(p, IP_HLEN);
    STATS_INC(Proto.IP, Ctr.LENERR);
    return ERR_VAL;
  }
  const h = p.payload;
  ip4_hdr_set_vhl(h, IP_HLEN);
  ip4_hdr_set_tos(h, tos);
  ip4_hdr_set_len(h, <u16>p.tot_len);
  ip4_hdr_set_id(h, ip_id++);
  ip4_hdr_set_offset(h, 0);
  ip4_hdr_set_ttl(h, ttl);
  ip4_hdr_set_proto(h, proto);
  ip4_hdr_set_src(h, src != 0 ? src : n.ip_addr);
  ip4_hdr_set_dest(h, dest);
  ip4_hdr_set_chksum(h, 0);
  ip4_hdr_set_chksum(h, inet_chksum(h, IP_HLEN));
  const err = ip4_output_finish(p, n, dest);
  pbuf_remove_header(p, IP_HLEN);
  return err;
}

/**
 * Sends `p` whose payload already starts with an IPv4 header (raw pcbs with
 * IP_HDRINCL, ICMP replies built in place). A zero ID is filled in, and the
 * checksum is always recomputed.
 */
export function ip4_output_if_hdrincl(p: pbuf, n: netif): err_t {
  if (p.len < IP_HLEN) return ERR_VAL;
  const h = p.payload;
  const hlen = ip4_hdr_hlen(h);
  if (hlen < IP_HLEN || hlen > p.len) return ERR_VAL;
  if (ip4_hdr_id(h) == 0) ip4_hdr_set_id(h, ip_id++);
  ip4_hdr_set_len(h, <u16>p.tot_len);
  ip4_hdr_set_chksum(h, 0);
  ip4_hdr_set_chksum(h, inet_chksum(h, hlen));
  return ip4_output_finish(p, n, ip4_hdr_dest(h));
}

/** Routes and sends (see ip4_output_if). ERR_RTE when nothing routes to `dest`. */
export function ip4_output(p: pbuf, src: u32, dest: u32, ttl: u8, tos: u8, proto: u8): err_t {
  const n = ip4_route_src(src, dest);
  if (n == null) {
    STATS_INC(Proto.IP, Ctr.RTERR);
    return ERR_RTE;
  }
  return ip4_output_if(p, src, dest, ttl, tos, proto, n);
}
