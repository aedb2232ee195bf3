// tcp_hdr: the TCP header and its options (RFC 9293 §3.1, RFC 7323, RFC 2018).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |          Source Port          |       Destination Port        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                        Sequence Number                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Acknowledgment Number                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Data |       |C|E|U|A|P|R|S|F|                               |
//   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//   |       |       |R|E|G|K|H|T|N|N|                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Checksum            |         Urgent Pointer        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           [Options]                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Getters return host numbers; `h` points at the first byte of the header.
// Options (kind, length, value): 0 EOL, 1 NOP, 2 MSS (4, SYN only),
// 3 window scale (3, SYN only, RFC 7323 §2), 4 SACK-permitted (2, SYN only,
// RFC 2018 §2), 5 SACK (2 + 8n, RFC 2018 §3), 8 timestamps (10, RFC 7323 §3).

export const TCP_HLEN: u32 = 20;
/** Largest header: data offset 15 words. */
export const TCP_MAX_HLEN: u32 = 60;

export const TCP_FIN: u8 = 0x01;
export const TCP_SYN: u8 = 0x02;
export const TCP_RST: u8 = 0x04;
export const TCP_PSH: u8 = 0x08;
export const TCP_ACK: u8 = 0x10;
export const TCP_URG: u8 = 0x20;
export const TCP_ECE: u8 = 0x40;
export const TCP_CWR: u8 = 0x80;

export const TCPOPT_EOL: u8 = 0;
export const TCPOPT_NOP: u8 = 1;
export const TCPOPT_MSS: u8 = 2;
export const TCPOPT_WS: u8 = 3;
export const TCPOPT_SACK_PERM: u8 = 4;
export const TCPOPT_SACK: u8 = 5;
export const TCPOPT_TS: u8 = 8;

/** Option bytes as we send them (aligned with NOPs, RFC 7323 Appendix A). */
export const TCPOLEN_MSS: u32 = 4;
export const TCPOLEN_WS: u32 = 4; // NOP + 3
export const TCPOLEN_SACK_PERM: u32 = 4; // NOP NOP + 2
export const TCPOLEN_TS: u32 = 12; // NOP NOP + 10
/** NOP NOP + kind/len, then 8 bytes per block. */
export const TCPOLEN_SACK_BASE: u32 = 4;

// @ts-ignore: decorator
@inline export function tcp_hdr_src(h: usize): u16 { return bswap<u16>(load<u16>(h)); }
// @ts-ignore: decorator
@inline export function tcp_hdr_dest(h: usize): u16 { return bswap<u16>(load<u16>(h, 2)); }
// @ts-ignore: decorator
@inline export function tcp_hdr_seqno(h: usize): u32 { return bswap<u32>(load<u32>(h, 4)); }
// @ts-ignore: decorator
@inline export function tcp_hdr_ackno(h: usize): u32 { return bswap<u32>(load<u32>(h, 8)); }
/** Header length in bytes (data offset × 4). */
// @ts-ignore: decorator
@inline export function tcp_hdr_hlen(h: usize): u32 { return (<u32>load<u8>(h, 12) >> 4) << 2; }
// @ts-ignore: decorator
@inline export function tcp_hdr_flags(h: usize): u8 { return load<u8>(h, 13); }
// @ts-ignore: decorator
@inline export function tcp_hdr_wnd(h: usize): u16 { return bswap<u16>(load<u16>(h, 14)); }
// @ts-ignore: decorator
@inline export function tcp_hdr_chksum(h: usize): u16 { return bswap<u16>(load<u16>(h, 16)); }
// @ts-ignore: decorator
@inline export function tcp_hdr_urgp(h: usize): u16 { return bswap<u16>(load<u16>(h, 18)); }

// @ts-ignore: decorator
@inline export function tcp_hdr_set_src(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v)); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_dest(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 2); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_seqno(h: usize, v: u32): void { store<u32>(h, bswap<u32>(v), 4); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_ackno(h: usize, v: u32): void { store<u32>(h, bswap<u32>(v), 8); }
/** Sets the data offset from a header length in bytes (a multiple of 4). */
// @ts-ignore: decorator
@inline export function tcp_hdr_set_hlen(h: usize, bytes: u32): void { store<u8>(h, <u8>((bytes >> 2) << 4), 12); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_flags(h: usize, v: u8): void { store<u8>(h, v, 13); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_wnd(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 14); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_chksum(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 16); }
// @ts-ignore: decorator
@inline export function tcp_hdr_set_urgp(h: usize, v: u16): void { store<u16>(h, bswap<u16>(v), 18); }

/**
 * The header length when `len` bytes at `h` (of a `tot`-byte segment) hold
 * the whole header, else 0: RFC 9293 §3.1, a data offset of at least 5
 * words and not beyond the segment. (asip reads the header in place, so it
 * must also be within the first `len` bytes.)
 */
export function tcp_hdr_check(h: usize, len: u32, tot: u32): u32 {
  if (len < TCP_HLEN) return 0;
  const hlen = tcp_hdr_hlen(h);
  if (hlen < TCP_HLEN || hlen > tot || hlen > len) return 0;
  return hlen;
}

// ---- option writers (each returns the bytes written) ------------------------------------

export function tcpopt_put_mss(o: usize, mss: u16): u32 {
  store<u8>(o, TCPOPT_MSS); store<u8>(o, 4, 1); store<u16>(o, bswap<u16>(mss), 2);
  return TCPOLEN_MSS;
}
export function tcpopt_put_ws(o: usize, shift: u8): u32 {
  store<u8>(o, TCPOPT_NOP); store<u8>(o, TCPOPT_WS, 1); store<u8>(o, 3, 2); store<u8>(o, shift, 3);
  return TCPOLEN_WS;
}
export function tcpopt_put_sack_perm(o: usize): u32 {
  store<u8>(o, TCPOPT_NOP); store<u8>(o, TCPOPT_NOP, 1); store<u8>(o, TCPOPT_SACK_PERM, 2); store<u8>(o, 2, 3);
  return TCPOLEN_SACK_PERM;
}
export function tcpopt_put_ts(o: usize, tsval: u32, tsecr: u32): u32 {
  store<u8>(o, TCPOPT_NOP); store<u8>(o, TCPOPT_NOP, 1); store<u8>(o, TCPOPT_TS, 2); store<u8>(o, 10, 3);
  store<u32>(o, bswap<u32>(tsval), 4); store<u32>(o, bswap<u32>(tsecr), 8);
  return TCPOLEN_TS;
}
/** NOP NOP SACK header for `n` blocks; the blocks follow (tcpopt_put_sack_block). */
export function tcpopt_put_sack_hdr(o: usize, n: u32): u32 {
  store<u8>(o, TCPOPT_NOP); store<u8>(o, TCPOPT_NOP, 1); store<u8>(o, TCPOPT_SACK, 2); store<u8>(o, <u8>(2 + 8 * n), 3);
  return TCPOLEN_SACK_BASE;
}
export function tcpopt_put_sack_block(o: usize, left: u32, right: u32): u32 {
  store<u32>(o, bswap<u32>(left)); store<u32>(o, bswap<u32>(right), 4);
  return 8;
}

// ---- parsed options of one received segment -------------------------------------------

/** What tcp_parseopt found (one static instance; valid during input). */
@unmanaged
export class tcp_opts {
  /** TCPOPT_F_* bits of the options present. */
  present: u32;
  mss: u32;
  ws: u32;
  tsval: u32;
  tsecr: u32;
  /** Pointer to the first SACK block (big-endian pairs) and the number of blocks. */
  sack_ptr: usize;
  sack_n: u32;
}
export const TCPOPT_F_MSS: u32 = 1;
export const TCPOPT_F_WS: u32 = 2;
export const TCPOPT_F_SACK_PERM: u32 = 4;
export const TCPOPT_F_TS: u32 = 8;
export const TCPOPT_F_SACK: u32 = 16;

/**
 * Parses the options between byte 20 and `hlen` of the header at `h` into
 * `o`. False for a malformed list (a length below 2, or an option running
 * past the header, RFC 9293 §3.1 MUST-7 / MUST-68): the caller drops the
 * segment. Options with an unexpected length for their kind are ignored, as
 * are unknown kinds (RFC 9293 §3.1: skip by length).
 */
export function tcp_parseopt(h: usize, hlen: u32, o: tcp_opts): bool {
  o.present = 0;
  o.sack_n = 0;
  let i: u32 = TCP_HLEN;
  while (i < hlen) {
    const kind = load<u8>(h + i);
    if (kind == TCPOPT_EOL) break;
    if (kind == TCPOPT_NOP) { i++; continue; }
    if (i + 1 >= hlen) return false;
    const len = <u32>load<u8>(h + i + 1);
    if (len < 2 || i + len > hlen) return false;
    const v = h + i + 2;
    if (kind == TCPOPT_MSS && len == 4) {
      o.present |= TCPOPT_F_MSS; o.mss = <u32>bswap<u16>(load<u16>(v));
    } else if (kind == TCPOPT_WS && len == 3) {
      o.present |= TCPOPT_F_WS; o.ws = <u32>load<u8>(v);
    } else if (kind == TCPOPT_SACK_PERM && len == 2) {
      o.present |= TCPOPT_F_SACK_PERM;
    } else if (kind == TCPOPT_TS && len == 10) {
      o.present |= TCPOPT_F_TS; o.tsval = bswap<u32>(load<u32>(v)); o.tsecr = bswap<u32>(load<u32>(v, 4));
    } else if (kind == TCPOPT_SACK && len >= 10 && ((len - 2) & 7) == 0) {
      o.present |= TCPOPT_F_SACK; o.sack_ptr = v; o.sack_n = (len - 2) >> 3;
    }
    i += len;
  }
  return true;
}
