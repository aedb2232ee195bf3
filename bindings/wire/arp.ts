/**
 * ARP for IPv4 over Ethernet (RFC 826): 28 bytes after the Ethernet header.
 *
 * @module
 */
import { rd16, rd32, wr16, wr32 } from "./bytes.js";
import { ETHTYPE_IPV4 } from "./ethernet.js";

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

/** An Ethernet/IPv4 ARP packet; addresses as host-order numbers and MAC bytes. */
export interface Arp {
  op: number;
  sha: Uint8Array;
  /** Sender protocol address, a·2²⁴ + … + d. */
  spa: number;
  tha: Uint8Array;
  tpa: number;
}

/** Reads the ARP packet at `f[off]`; undefined when short or not Ethernet/IPv4. */
export function parseArp(f: Uint8Array, off: number): Arp | undefined {
  if (f.length < off + ARP_LEN || rd16(f, off) !== 1 || rd16(f, off + 2) !== ETHTYPE_IPV4 || f[off + 4] !== 6 || f[off + 5] !== 4) return undefined;
  return {
    op: rd16(f, off + 6), sha: f.subarray(off + 8, off + 14), spa: rd32(f, off + 14),
    tha: f.subarray(off + 18, off + 24), tpa: rd32(f, off + 24),
  };
}

/** Writes an Ethernet/IPv4 ARP packet at `f[off]`. */
export function writeArp(f: Uint8Array, off: number, a: Arp): void {
  wr16(f, off, 1);
  wr16(f, off + 2, ETHTYPE_IPV4);
  f[off + 4] = 6;
  f[off + 5] = 4;
  wr16(f, off + 6, a.op);
  f.set(a.sha, off + 8);
  wr32(f, off + 14, a.spa);
  f.set(a.tha, off + 18);
  wr32(f, off + 24, a.tpa);
}
