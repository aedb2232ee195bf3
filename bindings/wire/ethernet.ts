/**
 * Ethernet II frames (RFC 894; IEEE 802.3 §3.2.6): destination and source
 * MAC, EtherType, payload.
 *
 * @module
 */
import { rd16, wr16 } from "./bytes.js";

export const ETH_HLEN = 14;
export const ETHTYPE_IPV4 = 0x0800;
export const ETHTYPE_ARP = 0x0806;
export const ETHTYPE_VLAN = 0x8100;
export const ETHTYPE_IPV6 = 0x86dd;
/** Smallest frame on the wire without FCS (IEEE 802.3 §4.2.3.3). */
export const ETH_MIN_FRAME = 60;

/** The EtherType of a frame (`f` holds at least ETH_HLEN bytes). */
export const ethType = (f: Uint8Array): number => rd16(f, 12);

/** "aa:bb:cc:dd:ee:ff" of the MAC at `f[off]`. */
export function macText(f: Uint8Array, off: number): string {
  return Array.from(f.subarray(off, off + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** An Ethernet II frame: `dst`, `src` (6 bytes each), EtherType, payload. */
export function ethFrame(dst: ArrayLike<number>, src: ArrayLike<number>, type: number, payload: ArrayLike<number>, minLen = 0): Uint8Array {
  const f = new Uint8Array(Math.max(minLen, ETH_HLEN + payload.length));
  f.set(dst, 0);
  f.set(src, 6);
  wr16(f, 12, type);
  f.set(payload, ETH_HLEN);
  return f;
}
