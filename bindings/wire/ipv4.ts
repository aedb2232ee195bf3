/**
 * The IPv4 header (RFC 791 §3.1): field offsets from the start of the
 * header, the checks a reader makes before trusting them, and a builder.
 * Addresses are host-order numbers (a·2²⁴ + … + d, as read off the wire);
 * IpAddress.fromV4Int turns one into an address.
 *
 * @module
 */
import { rd16, wr16, wr32 } from "./bytes.js";
import { inetChecksum } from "./checksum.js";

export const IPV4_HLEN = 20;
export const IPV4_TOTLEN = 2;
export const IPV4_ID = 4;
/** Flags and fragment offset: DF 0x4000, MF 0x2000, offset 0x1fff (8-byte units). */
export const IPV4_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;

export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;

/** Header length in bytes (IHL × 4) of the header at `f[ip]`. */
export const ipv4Ihl = (f: Uint8Array, ip: number): number => (f[ip] & 15) * 4;

/** Is the datagram at `f[ip]` a fragment (MF set or a nonzero offset)? */
export const ipv4IsFragment = (f: Uint8Array, ip: number): boolean => (rd16(f, ip + IPV4_FRAG) & 0x3fff) !== 0;

/**
 * Is there a whole IPv4 datagram at `f[ip]`: version 4, IHL ≥ 5, a total
 * length that covers the header and fits in `f`? (RFC 1122 §3.2.1.1–2)
 */
export function ipv4Valid(f: Uint8Array, ip: number): boolean {
  if (f.length < ip + IPV4_HLEN || f[ip] >> 4 !== 4) return false;
  const ihl = ipv4Ihl(f, ip), total = rd16(f, ip + IPV4_TOTLEN);
  return ihl >= IPV4_HLEN && total >= ihl && ip + total <= f.length;
}

/** Options of {@link ipv4Packet}. */
export interface Ipv4Options {
  ttl?: number;
  id?: number;
  /** Don't Fragment. */
  df?: boolean;
}

/** An IPv4 datagram (no options) from `src` to `dst` (host-order numbers) carrying `payload`, with its header checksum. */
export function ipv4Packet(src: number, dst: number, proto: number, payload: ArrayLike<number>, { ttl = 64, id = 0, df = false }: Ipv4Options = {}): Uint8Array {
  const h = new Uint8Array(IPV4_HLEN + payload.length);
  h[0] = 0x45;
  wr16(h, IPV4_TOTLEN, h.length);
  wr16(h, IPV4_ID, id);
  wr16(h, IPV4_FRAG, df ? 0x4000 : 0);
  h[IPV4_TTL] = ttl;
  h[IPV4_PROTO] = proto;
  wr32(h, IPV4_SRC, src);
  wr32(h, IPV4_DST, dst);
  wr16(h, IPV4_CSUM, inetChecksum(h, 0, IPV4_HLEN));
  h.set(payload, IPV4_HLEN);
  return h;
}
