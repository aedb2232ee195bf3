// ethernet: Ethernet II framing and demultiplexing (lwIP ethernet.c).
//
//   +----------------+----------------+-------------+------------------
//   | destination 6  | source 6       | EtherType 2 | payload ...
//   +----------------+----------------+-------------+------------------
//   802.1Q (IEEE 802.1Q-2018 §9.6) inserts TPID 0x8100 + TCI (PCP/DEI/VID)
//   before the EtherType.
//
// Received frames are demultiplexed by EtherType (IPv4, ARP, IPv6) after stripping the header; a frame for another station's unicast
// MAC is dropped. Output pads frames to the 60-byte minimum (IEEE 802.3
// §4.2.3.3, FCS excluded).

import { pbuf, pbuf_add_header, pbuf_remove_header, pbuf_free, pbuf_alloc, pbuf_chain, pbuf_copy_partial, pbuf_layer, pbuf_type, PBUF_FLAG_LLBCAST, PBUF_FLAG_LLMCAST } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { netif, netif_hwaddr, netif_linkoutput } from "./netif";
import { etharp_input } from "./etharp";
import { ip4_input } from "../ipv4/ip4";
import { ip6_input } from "../ipv6/ip6";
import { mld6_mac_filter } from "../ipv6/mld6";
import { LWIP_IPV4, LWIP_IPV6 } from "../config";

export const ETH_HWADDR_LEN: u32 = 6;
export const SIZEOF_ETH_HDR: u32 = 14;
export const SIZEOF_VLAN_HDR: u32 = 4;
/** Smallest frame on the wire without FCS. */
export const ETH_MIN_FRAME: u32 = 60;

export const ETHTYPE_IP: u16 = 0x0800;
export const ETHTYPE_ARP: u16 = 0x0806;
export const ETHTYPE_VLAN: u16 = 0x8100;
export const ETHTYPE_IPV6: u16 = 0x86dd;

// ---- header accessors ----------------------------------------------------------
// @ts-ignore: decorator
@inline export function eth_hdr_dest(h: usize): usize { return h; }
// @ts-ignore: decorator
@inline export function eth_hdr_src(h: usize): usize { return h + 6; }
// @ts-ignore: decorator
@inline export function eth_hdr_type(h: usize): u16 { return bswap<u16>(load<u16>(h, 12)); }
// @ts-ignore: decorator
@inline export function eth_hdr_set_type(h: usize, t: u16): void { store<u16>(h, bswap<u16>(t), 12); }
/** VLAN TCI of a tagged frame (the 2 bytes after TPID). */
// @ts-ignore: decorator
@inline export function vlan_hdr_tci(h: usize): u16 { return bswap<u16>(load<u16>(h, 14)); }
/** EtherType inside a VLAN tag. */
// @ts-ignore: decorator
@inline export function vlan_hdr_type(h: usize): u16 { return bswap<u16>(load<u16>(h, 16)); }

/**
 * Bytes of the Ethernet header at `h` when `len` bytes hold it: 14, or 18
 * with an 802.1Q tag. 0 when the frame is too short for its header.
 */
export function eth_hdr_len(h: usize, len: u32): u32 {
  if (len < SIZEOF_ETH_HDR) return 0;
  if (eth_hdr_type(h) != ETHTYPE_VLAN) return SIZEOF_ETH_HDR;
  return len < SIZEOF_ETH_HDR + SIZEOF_VLAN_HDR ? 0 : SIZEOF_ETH_HDR + SIZEOF_VLAN_HDR;
}

/**
 * Writes an Ethernet header at `h` (18 bytes with an 802.1Q tag when `vid`
 * is nonzero, else 14): destination and source MAC, EtherType.
 */
export function eth_hdr_write(h: usize, dst: usize, src: usize, ethtype: u16, vid: u16): void {
  mac_copy(h, dst);
  mac_copy(h + 6, src);
  if (vid != 0) {
    eth_hdr_set_type(h, ETHTYPE_VLAN);
    store<u16>(h, bswap<u16>(vid & 0x0fff), 14);
    store<u16>(h, bswap<u16>(ethtype), 16);
  } else {
    eth_hdr_set_type(h, ethtype);
  }
}

/** Copies a 6-byte MAC. */
// @ts-ignore: decorator
@inline export function mac_copy(dst: usize, src: usize): void {
  store<u32>(dst, load<u32>(src));
  store<u16>(dst, load<u16>(src, 4), 4);
}

// @ts-ignore: decorator
@inline export function mac_eq(a: usize, b: usize): bool {
  return load<u32>(a) == load<u32>(b) && load<u16>(a, 4) == load<u16>(b, 4);
}

/** The broadcast MAC ff:ff:ff:ff:ff:ff. */
export const ethbroadcast: usize = memory.data<u8>([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
/** The all-zero MAC (ARP requests' target). */
export const ethzero: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0]);

/**
 * A frame arrived on `n`. Takes ownership of `p` (payload at the Ethernet
 * header). Strips the header and hands the payload to ARP or IP.
 */
export function ethernet_input(p: pbuf, n: netif): err_t {
  const h = p.payload;
  const hlen = eth_hdr_len(h, p.len);
  if (hlen == 0) {
    STATS_INC(Proto.LINK, Ctr.LENERR);
    STATS_INC(Proto.LINK, Ctr.DROP);
    pbuf_free(p);
    return ERR_OK;
  }
  STATS_INC(Proto.LINK, Ctr.RECV);
  let type = eth_hdr_type(h);
  if (type == ETHTYPE_VLAN) {
    // Accept only our VLAN (if we have one); untagged netifs drop tagged frames.
    if (n.vlan == 0 || (vlan_hdr_tci(h) & 0x0fff) != n.vlan) {
      STATS_INC(Proto.LINK, Ctr.DROP);
      pbuf_free(p);
      return ERR_OK;
    }
    type = vlan_hdr_type(h);
  } else if (n.vlan != 0) {
    STATS_INC(Proto.LINK, Ctr.DROP);
    pbuf_free(p);
    return ERR_OK;
  }
  const dest = eth_hdr_dest(h);
  if (load<u8>(dest) & 1) {
    // Group address: broadcast or multicast (IEEE 802 I/G bit).
    if (mac_eq(dest, ethbroadcast)) p.flags |= PBUF_FLAG_LLBCAST;
    else {
      // IPv6 multicast (33:33:…, RFC 2464 §7): only groups we listen to.
      if (LWIP_IPV6 && load<u16>(dest) == 0x3333 && !mld6_mac_filter(n, dest)) {
        STATS_INC(Proto.LINK, Ctr.DROP);
        pbuf_free(p);
        return ERR_OK;
      }
      p.flags |= PBUF_FLAG_LLMCAST;
    }
  } else if (!mac_eq(dest, netif_hwaddr(n))) {
    // Unicast for another station (a TAP or switch may flood it to us).
    STATS_INC(Proto.LINK, Ctr.DROP);
    pbuf_free(p);
    return ERR_OK;
  }
  switch (type) {
    case ETHTYPE_IP: {
      if (!LWIP_IPV4) break;
      pbuf_remove_header(p, hlen);
      return ip4_input(p, n);
    }
    case ETHTYPE_IPV6: {
      if (!LWIP_IPV6) break;
      pbuf_remove_header(p, hlen);
      return ip6_input(p, n);
    }
    case ETHTYPE_ARP: {
      if (!LWIP_IPV4) break;
      pbuf_remove_header(p, hlen);
      return etharp_input(p, n);
    }
    default: break;
  }
  STATS_INC(Proto.LINK, Ctr.PROTERR);
  STATS_INC(Proto.LINK, Ctr.DROP);
  pbuf_free(p);
  return ERR_OK;
}

/**
 * Sends `p` (payload at the network header) as one Ethernet frame on `n`.
 * Adds the header in p's header room, or in a new header pbuf chained in
 * front when there is none. Frames shorter than 60 bytes are copied into one
 * zero-padded buffer (at most 60 bytes, cheaper than chaining). The caller
 * keeps its reference to `p` and frees it as usual.
 */
export function ethernet_output(n: netif, p: pbuf, src: usize, dst: usize, ethtype: u16): err_t {
  const hlen = SIZEOF_ETH_HDR + (n.vlan != 0 ? SIZEOF_VLAN_HDR : 0);
  if (p.tot_len + hlen < ETH_MIN_FRAME) {
    const q = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_MIN_FRAME, pbuf_type.PBUF_RAM);
    if (q == null) {
      STATS_INC(Proto.LINK, Ctr.MEMERR);
      return ERR_MEM;
    }
    memory.fill(q.payload, 0, ETH_MIN_FRAME);
    eth_hdr_write(q.payload, dst, src, ethtype, n.vlan);
    pbuf_copy_partial(p, q.payload + hlen, p.tot_len, 0);
    const err = netif_linkoutput(n, q);
    pbuf_free(q);
    return err;
  }
  if (pbuf_add_header(p, hlen) == 0) {
    eth_hdr_write(p.payload, dst, src, ethtype, n.vlan);
    const err = netif_linkoutput(n, p);
    pbuf_remove_header(p, hlen);
    return err;
  }
  // No room in front: a separate header pbuf chained before p.
  const h = pbuf_alloc(pbuf_layer.PBUF_RAW, hlen, pbuf_type.PBUF_RAM);
  if (h == null) {
    STATS_INC(Proto.LINK, Ctr.MEMERR);
    return ERR_MEM;
  }
  eth_hdr_write(h.payload, dst, src, ethtype, n.vlan);
  pbuf_chain(h, p);
  const err = netif_linkoutput(n, h);
  pbuf_free(h); // also drops the reference pbuf_chain took on p
  return err;
}
