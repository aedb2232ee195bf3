/**
 * The Internet checksum (RFC 1071), its incremental update (RFC 1624), and
 * the transport pseudo header of either family (RFC 768, RFC 9293 §3.1,
 * RFC 8200 §8.1), for hosts that build or rewrite packets themselves (the
 * gateway's NAT, tests playing a peer).
 *
 * @module
 */
import type { IpAddress } from "../ip-address.js";

/**
 * The one's complement sum of `b[off, off+len)` as big-endian 16-bit words
 * (an odd last byte padded on the right), added to the partial sum `init`,
 * folded to 16 bits: a partial sum to pass on as `init`.
 */
export function onesSum(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum field value over `b[off, off+len)` plus the partial sum `init`. */
export function inetChecksum(b: Uint8Array, off: number, len: number, init = 0): number {
  return ~onesSum(b, off, len, init) & 0xffff;
}

/** RFC 1624 eqn. 3: the checksum field after one 16-bit word of the data changes from `m` to `m2`. */
export function checksumAdjust(hc: number, m: number, m2: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + m2;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * The partial sum of the pseudo header of a `len`-byte transport segment of
 * protocol `proto` from `src` to `dst` (their family picks the layout).
 */
export function pseudoHeaderSum(src: IpAddress, dst: IpAddress, proto: number, len: number): number {
  const a = src.bytes(), b = dst.bytes();
  let s = onesSum(a, 0, a.length, onesSum(b, 0, b.length));
  // IPv4: zero, protocol, 16-bit length; IPv6: 32-bit length, three zeros, next header.
  s += proto + (len & 0xffff) + (src.family === 6 ? len >>> 16 : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
