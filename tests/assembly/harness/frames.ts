// Frame builders for specs: an Ethernet header, an IP header of either
// family, and whole frames from the peer carrying a body the spec wrote. The
// family comes from the source address (an ip_addr), so the same spec code
// builds IPv4 and IPv6 traffic.
import { pbuf, pbuf_alloc, pbuf_layer, pbuf_type } from "../../../assembly/core/pbuf";
import { inet_chksum } from "../../../assembly/core/chksum";
import { ip_addr, IPADDR_TYPE_V6 } from "../../../assembly/ip_addr";
import { OUR_MAC, PEER_MAC } from "./addr";
import { ref_transport_chksum } from "./checksum";

export const ETH_HLEN: u32 = 14;
export const ETHTYPE_IP: u16 = 0x0800;
export const ETHTYPE_ARP: u16 = 0x0806;
export const ETHTYPE_IPV6: u16 = 0x86dd;

/** Writes an Ethernet II header (RFC 894) at `f`. */
export function eth_write(f: usize, dst_mac: usize, src_mac: usize, type: u16): void {
  memory.copy(f, dst_mac, 6);
  memory.copy(f + 6, src_mac, 6);
  store<u16>(f + 12, bswap<u16>(type));
}

/** The IP header ip_write writes for `a`'s family: 20 bytes (IPv4, no options) or 40 (IPv6). */
export function ip_hlen(a: ip_addr): u32 { return a.type == IPADDR_TYPE_V6 ? 40 : 20; }

/** The EtherType of `a`'s family. */
export function ethtype_of(a: ip_addr): u16 { return a.type == IPADDR_TYPE_V6 ? ETHTYPE_IPV6 : ETHTYPE_IP; }

/**
 * Writes an IP header at `h` for a packet from `src` to `dst` (the family of
 * `src`) carrying `plen` bytes of protocol `proto`, field by field from RFC
 * 791 §3.1 (with its header checksum) or RFC 8200 §3. Returns its length.
 */
export function ip_write(h: usize, src: ip_addr, dst: ip_addr, proto: u8, plen: u32, ttl: u8 = 64, id: u16 = 0): u32 {
  if (src.type == IPADDR_TYPE_V6) {
    store<u32>(h, bswap<u32>(0x60000000)); // version 6, traffic class 0, flow label 0
    store<u16>(h + 4, bswap<u16>(<u16>plen));
    store<u8>(h + 6, proto);
    store<u8>(h + 7, ttl);
    memory.copy(h + 8, changetype<usize>(src), 16);
    memory.copy(h + 24, changetype<usize>(dst), 16);
    return 40;
  }
  store<u8>(h, 0x45);
  store<u8>(h + 1, 0);
  store<u16>(h + 2, bswap<u16>(<u16>(20 + plen)));
  store<u16>(h + 4, bswap<u16>(id));
  store<u16>(h + 6, 0);
  store<u8>(h + 8, ttl);
  store<u8>(h + 9, proto);
  store<u16>(h + 10, 0);
  store<u32>(h + 12, src.a0);
  store<u32>(h + 16, dst.a0);
  store<u16>(h + 10, bswap<u16>(inet_chksum(h, 20)));
  return 20;
}

/**
 * A frame from the peer as a driver hands it in: Ethernet to `dst_mac`, an
 * IP header (`src` → `dst`, `proto`), then `len` bytes copied from `body`.
 */
export function ip_frame(src: ip_addr, dst: ip_addr, proto: u8, body: usize, len: u32, dst_mac: usize = OUR_MAC, src_mac: usize = PEER_MAC): pbuf {
  const hl = ip_hlen(src);
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_HLEN + hl + len, pbuf_type.PBUF_RAM)!;
  const f = p.payload;
  eth_write(f, dst_mac, src_mac, ethtype_of(src));
  ip_write(f + ETH_HLEN, src, dst, proto, len);
  if (len > 0) memory.copy(f + ETH_HLEN + hl, body, len);
  return p;
}

/**
 * Fills the checksum field at `seg + csum_off` of a transport segment of
 * `len` bytes (pseudo header of `src`/`dst`; `cov` bytes covered, UDP-Lite).
 * The field must be zero before. A computed zero is left as zero.
 */
export function transport_fill_chksum(src: ip_addr, dst: ip_addr, proto: u8, seg: usize, len: u32, csum_off: u32, cov: u32 = 0xffffffff): u16 {
  const c = ref_transport_chksum(src, dst, proto, seg, len, cov);
  store<u16>(seg + csum_off, bswap<u16>(c));
  return c;
}
