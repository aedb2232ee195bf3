// The IPv6 header and its extension headers (RFC 8200 §3, §4): every read and
// write of them goes through these accessors. `h` points at the first byte.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version| Traffic Class |           Flow Label                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Payload Length        |  Next Header  |   Hop Limit   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                  Source Address (16 bytes, at +8)             |
//   |               Destination Address (16 bytes, at +24)          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers (RFC 8200 §4.3–4.5) share a first word: next header,
// then the header's length in 8-octet units not counting the first 8. The
// fragment header (§4.5) is always 8 bytes:
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                         Identification                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

export const IP6_HLEN: u32 = 40;
/** RFC 8200 §5: every link carries at least 1280-byte packets. */
export const IP6_MIN_MTU: u32 = 1280;

// Next header values (IANA "Assigned Internet Protocol Numbers"; RFC 8200 §4.1).
export const IP6_NEXTH_HOPBYHOP: u8 = 0;
export const IP6_NEXTH_TCP: u8 = 6;
export const IP6_NEXTH_UDP: u8 = 17;
export const IP6_NEXTH_ROUTING: u8 = 43;
export const IP6_NEXTH_FRAGMENT: u8 = 44;
export const IP6_NEXTH_ESP: u8 = 50;
export const IP6_NEXTH_AH: u8 = 51;
export const IP6_NEXTH_ICMP6: u8 = 58;
export const IP6_NEXTH_NONE: u8 = 59;
export const IP6_NEXTH_DESTOPTS: u8 = 60;
export const IP6_NEXTH_UDPLITE: u8 = 136;

// Options of hop-by-hop and destination options headers (RFC 8200 §4.2).
export const IP6_PAD1_OPTION: u8 = 0;
export const IP6_PADN_OPTION: u8 = 1;
/** Router Alert (RFC 2711), carried by MLD (RFC 3810 §5). */
export const IP6_ROUTER_ALERT_OPTION: u8 = 5;
export const IP6_ROUTER_ALERT_VALUE_MLD: u16 = 0;
export const IP6_JUMBO_OPTION: u8 = 0xc2;
/** The two high bits of an option type: what to do when it is unknown (RFC 8200 §4.2). */
export const IP6_OPT_ACTION_SKIP: u8 = 0x00;
export const IP6_OPT_ACTION_DISCARD: u8 = 0x40;
export const IP6_OPT_ACTION_ICMP: u8 = 0x80;
export const IP6_OPT_ACTION_ICMP_NOMCAST: u8 = 0xc0;

/** Routing header type 0, deprecated (RFC 5095). */
export const IP6_ROUT_TYPE0: u8 = 0;
export const IP6_FRAG_HLEN: u32 = 8;

// ---- the fixed header ------------------------------------------------------------------------

// @ts-ignore: decorator
@inline export function ip6_hdr_version(h: usize): u8 { return load<u8>(h) >> 4; }
/** Traffic class (the 8 bits after the version). */
// @ts-ignore: decorator
@inline export function ip6_hdr_tc(h: usize): u8 { return <u8>((bswap<u32>(load<u32>(h)) >> 20) & 0xff); }
// @ts-ignore: decorator
@inline export function ip6_hdr_flow(h: usize): u32 { return bswap<u32>(load<u32>(h)) & 0xfffff; }
// @ts-ignore: decorator
@inline export function ip6_hdr_plen(h: usize): u16 { return bswap<u16>(load<u16>(h, 4)); }
// @ts-ignore: decorator
@inline export function ip6_hdr_nexth(h: usize): u8 { return load<u8>(h, 6); }
// @ts-ignore: decorator
@inline export function ip6_hdr_hoplim(h: usize): u8 { return load<u8>(h, 7); }
/** Pointer to the source address (16 bytes). */
// @ts-ignore: decorator
@inline export function ip6_hdr_src(h: usize): usize { return h + 8; }
/** Pointer to the destination address (16 bytes). */
// @ts-ignore: decorator
@inline export function ip6_hdr_dest(h: usize): usize { return h + 24; }

/** Version 6, traffic class `tc`, flow label `flow`. */
// @ts-ignore: decorator
@inline export function ip6_hdr_set_vtcfl(h: usize, tc: u8, flow: u32): void {
  store<u32>(h, bswap<u32>(0x60000000 | (<u32>tc << 20) | (flow & 0xfffff)));
}
// @ts-ignore: decorator
@inline export function ip6_hdr_set_plen(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 4); }
// @ts-ignore: decorator
@inline export function ip6_hdr_set_nexth(h: usize, v: u8): void { store<u8>(h, v, 6); }
// @ts-ignore: decorator
@inline export function ip6_hdr_set_hoplim(h: usize, v: u8): void { store<u8>(h, v, 7); }
export function ip6_hdr_set_src(h: usize, a: usize): void { memory.copy(h + 8, a, 16); }
export function ip6_hdr_set_dest(h: usize, a: usize): void { memory.copy(h + 24, a, 16); }

// ---- extension headers (RFC 8200 §4) -----------------------------------------------------------

// @ts-ignore: decorator
@inline export function ip6_ext_nexth(e: usize): u8 { return load<u8>(e); }
/** Length of a hop-by-hop, destination options or routing header in bytes ((Hdr Ext Len + 1) × 8). */
// @ts-ignore: decorator
@inline export function ip6_ext_len(e: usize): u32 { return (<u32>load<u8>(e, 1) + 1) << 3; }
// @ts-ignore: decorator
@inline export function ip6_rout_type(e: usize): u8 { return load<u8>(e, 2); }
// @ts-ignore: decorator
@inline export function ip6_rout_segments_left(e: usize): u8 { return load<u8>(e, 3); }

// @ts-ignore: decorator
@inline export function ip6_frag_nexth(e: usize): u8 { return load<u8>(e); }
/** Fragment offset in bytes (the 13-bit field × 8). */
// @ts-ignore: decorator
@inline export function ip6_frag_offset(e: usize): u32 { return <u32>(bswap<u16>(load<u16>(e, 2)) & 0xfff8); }
/** More fragments. */
// @ts-ignore: decorator
@inline export function ip6_frag_more(e: usize): bool { return (load<u8>(e, 3) & 1) != 0; }
// @ts-ignore: decorator
@inline export function ip6_frag_id(e: usize): u32 { return bswap<u32>(load<u32>(e, 4)); }

/** Writes a fragment header: `offset` bytes (a multiple of 8), more-fragments flag, identification. */
export function ip6_frag_write(e: usize, nexth: u8, offset: u32, more: bool, id: u32): void {
  store<u8>(e, nexth);
  store<u8>(e, 0, 1);
  store<u16>(e, bswap<u16>(<u16>((offset & 0xfff8) | (more ? 1 : 0))), 2);
  store<u32>(e, bswap<u32>(id), 4);
}

/** Is `nh` an extension header this stack walks (RFC 8200 §4.1's order)? */
export function ip6_nexth_is_ext(nh: u8): bool {
  return nh == IP6_NEXTH_HOPBYHOP || nh == IP6_NEXTH_ROUTING || nh == IP6_NEXTH_FRAGMENT || nh == IP6_NEXTH_DESTOPTS;
}

/** What ip6_hdr_check found. */
export const enum Ip6HdrCheck {
  OK = 0,
  /** Fewer than 40 bytes. */
  TRUNCATED = 1,
  /** Not version 6. */
  VERSION = 2,
  /** The payload length runs past what arrived. */
  LENGTH = 3,
}

/**
 * Checks the fixed header at `h` before anything else reads it: `len` bytes
 * are readable in place, `tot` bytes are in the packet (RFC 8200 §3: version
 * 6; 40 + payload length within what arrived). Jumbograms (payload length 0
 * with a Jumbo option, RFC 2675) are not supported: a zero payload length is
 * an empty payload.
 */
export function ip6_hdr_check(h: usize, len: u32, tot: u32): Ip6HdrCheck {
  if (len < IP6_HLEN) return Ip6HdrCheck.TRUNCATED;
  if (ip6_hdr_version(h) != 6) return Ip6HdrCheck.VERSION;
  if (IP6_HLEN + <u32>ip6_hdr_plen(h) > tot) return Ip6HdrCheck.LENGTH;
  return Ip6HdrCheck.OK;
}
