// The IPv4 header (RFC 791 §3.1): every read and write of it goes through
// these accessors. `h` points at the first byte of the header.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |Type of Service|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|      Fragment Offset    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       Source Address                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Multi-byte fields are big-endian on the wire; getters return host numbers.
// Addresses stay in network order (u32 whose memory bytes are a.b.c.d), like
// everywhere else in asip.

export const IP_HLEN: u32 = 20;
export const IP_HLEN_MAX: u32 = 60;

export const IP_PROTO_ICMP: u8 = 1;
export const IP_PROTO_IGMP: u8 = 2;
export const IP_PROTO_TCP: u8 = 6;
export const IP_PROTO_UDP: u8 = 17;
export const IP_PROTO_UDPLITE: u8 = 136;

/** Flags and offset field bits (host order of the 16-bit field). */
export const IP_RF: u16 = 0x8000;
export const IP_DF: u16 = 0x4000;
export const IP_MF: u16 = 0x2000;
export const IP_OFFMASK: u16 = 0x1fff;

// @ts-ignore: decorator
@inline export function ip4_hdr_version(h: usize): u8 { return load<u8>(h) >> 4; }
/** Header length in bytes (IHL × 4). */
// @ts-ignore: decorator
@inline export function ip4_hdr_hlen(h: usize): u32 { return (<u32>load<u8>(h) & 0x0f) << 2; }
// @ts-ignore: decorator
@inline export function ip4_hdr_tos(h: usize): u8 { return load<u8>(h, 1); }
// @ts-ignore: decorator
@inline export function ip4_hdr_len(h: usize): u16 { return bswap<u16>(load<u16>(h, 2)); }
// @ts-ignore: decorator
@inline export function ip4_hdr_id(h: usize): u16 { return bswap<u16>(load<u16>(h, 4)); }
/** Flags and fragment offset, host order: test with IP_DF / IP_MF / IP_OFFMASK. */
// @ts-ignore: decorator
@inline export function ip4_hdr_offset(h: usize): u16 { return bswap<u16>(load<u16>(h, 6)); }
/** Fragment offset in bytes. */
// @ts-ignore: decorator
@inline export function ip4_hdr_offset_bytes(h: usize): u32 { return (<u32>(ip4_hdr_offset(h) & IP_OFFMASK)) << 3; }
// @ts-ignore: decorator
@inline export function ip4_hdr_ttl(h: usize): u8 { return load<u8>(h, 8); }
// @ts-ignore: decorator
@inline export function ip4_hdr_proto(h: usize): u8 { return load<u8>(h, 9); }
// @ts-ignore: decorator
@inline export function ip4_hdr_chksum(h: usize): u16 { return bswap<u16>(load<u16>(h, 10)); }
// @ts-ignore: decorator
@inline export function ip4_hdr_src(h: usize): u32 { return load<u32>(h, 12); }
// @ts-ignore: decorator
@inline export function ip4_hdr_dest(h: usize): u32 { return load<u32>(h, 16); }
/** Address of the source address field (4 bytes, for pseudo-header sums). */
// @ts-ignore: decorator
@inline export function ip4_hdr_src_ptr(h: usize): usize { return h + 12; }
// @ts-ignore: decorator
@inline export function ip4_hdr_dest_ptr(h: usize): usize { return h + 16; }

// @ts-ignore: decorator
@inline export function ip4_hdr_set_vhl(h: usize, hlen: u32): void { store<u8>(h, <u8>(0x40 | (hlen >> 2))); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_tos(h: usize, v: u8): void { store<u8>(h, v, 1); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_len(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 2); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_id(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 4); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_offset(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 6); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_ttl(h: usize, v: u8): void { store<u8>(h, v, 8); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_proto(h: usize, v: u8): void { store<u8>(h, v, 9); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_chksum(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 10); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_src(h: usize, a: u32): void { store<u32>(h, a, 12); }
// @ts-ignore: decorator
@inline export function ip4_hdr_set_dest(h: usize, a: u32): void { store<u32>(h, a, 16); }

/** What ip4_hdr_check found. */
export const enum Ip4HdrCheck {
  OK = 0,
  /** Fewer than 20 bytes: not even the fixed header. */
  TRUNCATED = 1,
  /** Not version 4. */
  VERSION = 2,
  /** IHL below 5 or past the bytes there, or a total length below the header or past the packet. */
  LENGTH = 3,
}

/**
 * Checks the header at `h` before anything else reads it: `len` bytes are
 * readable in place, `tot` bytes are in the packet (RFC 791 §3.1, RFC 1122
 * §3.2.1.1: version 4; IHL at least 5 words; total length covering the
 * header and within what arrived). After OK every accessor is in bounds.
 */
export function ip4_hdr_check(h: usize, len: u32, tot: u32): Ip4HdrCheck {
  if (len < IP_HLEN) return Ip4HdrCheck.TRUNCATED;
  if (ip4_hdr_version(h) != 4) return Ip4HdrCheck.VERSION;
  const hlen = ip4_hdr_hlen(h);
  const total = <u32>ip4_hdr_len(h);
  if (hlen < IP_HLEN || hlen > len || total < hlen || total > tot) return Ip4HdrCheck.LENGTH;
  return Ip4HdrCheck.OK;
}
