// IPv6 helpers for specs: addresses as 16-byte constants, frames from a
// peer with any hop limit and extension headers, ICMPv6 messages with their
// checksum, ND options, and readers for what the stack queued on the TX ring.
import { pbuf, pbuf_alloc, pbuf_layer, pbuf_type } from "../../../assembly/core/pbuf";
import { sys_check_timeouts } from "../../../assembly/core/timeouts";
import { ip_addr, ip_addr_set_ip6 } from "../../../assembly/ip_addr";
import { netif, netif_input } from "../../../assembly/netif/netif";
import { ETH_HLEN, eth_write, ETHTYPE_IPV6 } from "./frames";
import { ref_sum, ref_pseudo_sum } from "./checksum";
import { frame, frame_len, tx_frame, tx_count } from "./rings";
import { OUR_MAC, PEER_MAC } from "./addr";

/** 16 bytes from eight groups. */
export function addr6(g0: u16, g1: u16, g2: u16, g3: u16, g4: u16, g5: u16, g6: u16, g7: u16): usize {
  const p = heap.alloc(16);
  store<u16>(p, bswap<u16>(g0)); store<u16>(p + 2, bswap<u16>(g1)); store<u16>(p + 4, bswap<u16>(g2));
  store<u16>(p + 6, bswap<u16>(g3)); store<u16>(p + 8, bswap<u16>(g4)); store<u16>(p + 10, bswap<u16>(g5));
  store<u16>(p + 12, bswap<u16>(g6)); store<u16>(p + 14, bswap<u16>(g7));
  return p;
}

export const OURS = addr6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
export const PEER6 = addr6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
export const OTHER6 = addr6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
export const PEER_LL = addr6(0xfe80, 0, 0, 0, 0, 0, 0, 1);
export const UNSPEC = addr6(0, 0, 0, 0, 0, 0, 0, 0);
export const ALLNODES = addr6(0xff02, 0, 0, 0, 0, 0, 0, 1);
export const OTHER_MAC: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x03, 0, 0]);

/** The tagged form of 16 bytes at `a` (slot `slot` of a small pool). */
const tagged: usize = memory.data(20 * 4, 8);
export function T(a: usize, slot: u32 = 0, zone: u8 = 0): ip_addr {
  const r = changetype<ip_addr>(tagged + <usize>(slot & 3) * 20);
  ip_addr_set_ip6(r, a, zone);
  return r;
}

/** Solicited-node group of `a`. */
export function solnode(a: usize): usize {
  return addr6(0xff02, 0, 0, 0, 0, 1, 0xff00 | <u16>load<u8>(a, 13), bswap<u16>(load<u16>(a, 14)));
}

// ---- building frames ------------------------------------------------------------------------

const body_buf: usize = memory.data(70000, 8);
export let blen: u32 = 0;
export function body_reset(): void { blen = 0; }
export function b8(v: u8): void { store<u8>(body_buf + blen, v); blen++; }
export function b16(v: u16): void { b8(<u8>(v >> 8)); b8(<u8>v); }
export function b32(v: u32): void { b16(<u16>(v >> 16)); b16(<u16>v); }
export function baddr(a: usize): void { memory.copy(body_buf + blen, a, 16); blen += 16; }
export function bzero(n: u32): void { memory.fill(body_buf + blen, 0, n); blen += n; }
export function body(): usize { return body_buf; }

/**
 * An IPv6 frame from `src_mac` to `dst_mac`: header (next header `nh`,
 * hop limit `hl`) then `len` bytes at `data`. `plen_delta` corrupts the
 * payload length.
 */
export function frame6(src: usize, dst: usize, nh: u8, hl: u8, data: usize, len: u32, dst_mac: usize = OUR_MAC, src_mac: usize = PEER_MAC, plen_delta: i32 = 0): pbuf {
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_HLEN + 40 + len, pbuf_type.PBUF_RAM)!;
  const f = p.payload;
  eth_write(f, dst_mac, src_mac, ETHTYPE_IPV6);
  const h = f + ETH_HLEN;
  store<u32>(h, bswap<u32>(0x60000000));
  store<u16>(h + 4, bswap<u16>(<u16>(<i32>len + plen_delta)));
  store<u8>(h + 6, nh);
  store<u8>(h + 7, hl);
  memory.copy(h + 8, src, 16);
  memory.copy(h + 24, dst, 16);
  memory.copy(h + 40, data, len);
  return p;
}

/** Fills the ICMPv6 checksum of the message at `m` (`len` bytes) from `src` to `dst`. */
export function icmp6_sum(m: usize, len: u32, src: usize, dst: usize): void {
  store<u16>(m + 2, 0);
  const s = ref_sum(m, len, ref_pseudo_sum(T(src, 2), T(dst, 3), 58, len));
  store<u16>(m + 2, bswap<u16>(<u16>~s));
}

/** Sends the body (an ICMPv6 message starting at offset `icmp_off` of it) as a frame, checksum filled. */
export function send_icmp6(n: netif, src: usize, dst: usize, hl: u8, dst_mac: usize = OUR_MAC, src_mac: usize = PEER_MAC, first_nh: u8 = 58, icmp_off: u32 = 0): void {
  icmp6_sum(body_buf + icmp_off, blen - icmp_off, src, dst);
  netif_input(frame6(src, dst, first_nh, hl, body_buf, blen, dst_mac, src_mac), n);
}

/** Sends the body as an IPv6 packet with next header `nh` (no checksum work). */
export function send_raw6(n: netif, src: usize, dst: usize, nh: u8, hl: u8 = 64, dst_mac: usize = OUR_MAC): void {
  netif_input(frame6(src, dst, nh, hl, body_buf, blen, dst_mac), n);
}

// ---- reading the TX ring ----------------------------------------------------------------------

/** Copies TX frame `i` and returns a pointer to its IPv6 header (0 when it is not IPv6). */
export function tx6(i: u32): usize {
  tx_frame(i);
  if (bswap<u16>(load<u16>(frame + 12)) != 0x86dd) return 0;
  return frame + ETH_HLEN;
}

/** The upper-layer header of the IPv6 packet at `h` (skips a hop-by-hop header). */
export function upper(h: usize): usize {
  return load<u8>(h + 6) == 0 ? h + 40 + ((<u32>load<u8>(h + 41) + 1) << 3) : h + 40;
}

/** Index of the first TX frame that is ICMPv6 of `type` (skipping hop-by-hop), or -1. */
export function find_icmp6(type: u8): i32 {
  for (let i: u32 = 0; i < tx_count(); i++) {
    const h = tx6(i);
    if (h == 0) continue;
    const nh = load<u8>(h + 6) == 0 ? load<u8>(h + 40) : load<u8>(h + 6);
    if (nh == 58 && load<u8>(upper(h)) == type) return <i32>i;
  }
  return -1;
}

/** Counts TX frames that are ICMPv6 of `type`. */
export function count_icmp6(type: u8): u32 {
  let c: u32 = 0;
  for (let i: u32 = 0; i < tx_count(); i++) {
    const h = tx6(i);
    if (h == 0) continue;
    const nh = load<u8>(h + 6) == 0 ? load<u8>(h + 40) : load<u8>(h + 6);
    if (nh == 58 && load<u8>(upper(h)) == type) c++;
  }
  return c;
}

export function eq16(a: usize, b: usize): bool { return memory.compare(a, b, 16) == 0; }

// ---- time ---------------------------------------------------------------------------------
export let now6: u32 = 0;
export function set_now6(t: u32): void { now6 = t; }
/** Runs timers over `ms` milliseconds in 100 ms steps. */
export function advance_ms(ms: u32): void {
  for (let t: u32 = 0; t < ms; t += 100) {
    now6 += 100;
    sys_check_timeouts(now6);
  }
}

export { frame, frame_len, tx_count };
