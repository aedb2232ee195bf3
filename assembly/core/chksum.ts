// chksum: the Internet checksum (RFC 1071, RFC 1624; lwIP inet_chksum.c).
//
// The checksum is the 16-bit one's complement of the one's complement sum of
// the data taken as big-endian 16-bit words (an odd last byte is padded with
// a zero byte on its right). IPv4, ICMP, IGMP, UDP, UDP-Lite and TCP use it;
// the transport protocols cover a pseudo header too (RFC 768, RFC 9293 §3.1,
// RFC 3828 §3.1; RFC 8200 §8.1 for IPv6).
//
// ## Convention: results are numbers in network-order semantics
//
// Every 16-bit result here is the *numeric value of the big-endian field*.
// RFC 1071 §3's example bytes `00 01 f2 03 f4 f5 f6 f7` give
// `lwip_standard_chksum` = 0xddf2 and `inet_chksum` = 0x220d. A caller writes
// a checksum into a header with a big-endian store:
//
//     store<u16>(hdr + off, bswap<u16>(inet_chksum(hdr, hlen)));
//
// and a receiver checks a header (checksum field included) with
// `inet_chksum(hdr, hlen) == 0`.
//
// The partial sums (u32 results of the `_copy` functions, `chksum_add`) are
// the folded, uncomplemented sum in the same semantics: a value in
// 0..0xffff, as if the first byte sat at an even offset of the checksummed
// data. Combine partial sums with `chksum_add`; a partial sum of bytes that
// start at an odd offset is first passed through `chksum_swap` (RFC 1071
// §2(B): byte order independence — swapping the bytes of a sum is the sum of
// the byte-swapped data). The final checksum is `~sum & 0xffff`.
//
// ## How the sum is computed
//
// WebAssembly is little-endian, so the kernels load native words and sum
// them as little-endian 16-bit words ("LE domain"); the byte swap happens once,
// when the result leaves this file. Wider words are fine because 2^16 ≡ 1
// (mod 0xffff): a 32-bit or 64-bit little-endian word's 16-bit halves all
// carry weight 1. Loads are unaligned where the data is; WebAssembly allows it
// and the pairing of bytes into words follows the data, not the address.
//
// Two kernels, chosen at compile time by `ASC_FEATURE_SIMD`:
//   simd    64-byte blocks of four v128 loads summed in u32 lanes as the
//           wrapping sum and the sum of high halves (see the kernel), flushed
//           into i64x2 lanes before they can overflow (release build)
//   scalar  u64 loads split into their 32-bit halves, added into u64
//           accumulators that cannot overflow below 2^31 bytes (mvp build)
// `*_scalar` is always compiled; `*_simd` only when SIMD is enabled (calling
// it without SIMD is a compile error, so the mvp module holds no v128 code).
//
// A folded sum is 0 only when every byte summed is 0, exactly as with RFC
// 1071's byte-pair reference, so results are identical bit for bit —
// including the 0 / 0xffff distinction that UDP cares about (a computed UDP
// checksum of 0 is sent as 0xffff, RFC 768; that is udp.ts's business).

import { pbuf } from "./pbuf";

/** Returned by `pbuf_copy_in_chksum` when the chain is too short; never a valid partial sum. */
export const CHKSUM_COPY_ERR: u32 = 0xffffffff;

// ---- folding and byte order ---------------------------------------------

/** Folds a 64-bit LE-domain accumulator to 16 bits (end-around carry). */
@inline function fold64(s: u64): u32 {
  let x = <u32>(s & 0xffff) + <u32>((s >> 16) & 0xffff) + <u32>((s >> 32) & 0xffff) + <u32>(s >> 48);
  x = (x & 0xffff) + (x >> 16);
  return (x & 0xffff) + (x >> 16);
}

/** Folds a 32-bit accumulator to 16 bits. */
@inline function fold32(x: u32): u32 {
  x = (x & 0xffff) + (x >> 16);
  return (x & 0xffff) + (x >> 16);
}

/** Swaps the two bytes of a 16-bit sum (LE domain ↔ network order; odd ↔ even offset). */
@inline function swap16(x: u32): u32 {
  return ((x & 0xff) << 8) | (x >> 8);
}

/**
 * One's complement addition of two folded partial sums (either domain).
 * @returns the folded sum, 0..0xffff
 */
export function chksum_add(a: u32, b: u32): u32 {
  return fold32(a + b);
}

/** Byte-swaps a folded partial sum: for data that starts at an odd offset. */
export function chksum_swap(sum: u32): u32 {
  return swap16(sum & 0xffff);
}

// ---- scalar kernel (u64 loads) ------------------------------------------

/** Sums fewer than 8 bytes as LE 16-bit words; an odd last byte is a low byte. */
@inline function sum_tail_le(p: usize, n: usize): u64 {
  let s: u64 = 0;
  if (n & 4) { s += <u64>load<u32>(p); p += 4; }
  if (n & 2) { s += <u64>load<u16>(p); p += 2; }
  if (n & 1) { s += <u64>load<u8>(p); }
  return s;
}

/** LE-domain sum of `len` bytes at `p`, unfolded; two independent u64 chains. */
function sum_scalar_le(p: usize, len: usize): u64 {
  let a: u64 = 0, b: u64 = 0;
  const end = p + len;
  // 32 bytes add < 2^35 to each accumulator: no overflow below 2^31 bytes.
  while (end - p >= 32) {
    const x0 = load<u64>(p), x1 = load<u64>(p, 8), x2 = load<u64>(p, 16), x3 = load<u64>(p, 24);
    a += (x0 & 0xffffffff) + (x0 >> 32) + (x2 & 0xffffffff) + (x2 >> 32);
    b += (x1 & 0xffffffff) + (x1 >> 32) + (x3 & 0xffffffff) + (x3 >> 32);
    p += 32;
  }
  while (end - p >= 8) {
    const x = load<u64>(p);
    a += (x & 0xffffffff) + (x >> 32);
    p += 8;
  }
  return a + b + sum_tail_le(p, end - p);
}

/**
 * As `sum_scalar_le`, copying the bytes to `d` on the way. memory.copy (the
 * engine's memcpy) and a second pass over the fresh, cache-hot copy beat a
 * fused u64 load/store loop; chunks of 2 KiB keep the copy in L1.
 */
function copy_sum_scalar_le(d: usize, p: usize, len: usize): u64 {
  let sum: u64 = 0;
  while (len > 0) {
    const n = len < 2048 ? len : 2048; // even: chunks keep the byte pairing
    memory.copy(d, p, n);
    sum += sum_scalar_le(d, n);
    d += n; p += n; len -= n;
  }
  return sum;
}

// ---- SIMD kernel (v128) --------------------------------------------------
//
// Each v128 is four u32 lanes x. Per lane the kernel keeps
//   s = Σ x        (wrapping, mod 2^32)    one i32x4.add
//   h = Σ (x >> 16)                        one shift and one add
// and recovers the low halves' sum exactly as l = s - (h << 16) (mod 2^32),
// which is exact while l < 2^32. The word sum is then l + h. That is three
// operations per 16 bytes, fewer than widening with
// i32x4.extadd_pairwise_i16x8_u and adding (which V8 lowers to three
// instructions on x64 before the add).
//
// A 64-byte block adds at most 4 * 0xffff to h and to l in each lane, so
// 8192 blocks keep both below 2^31; then the lanes are flushed into i64x2.

// @ts-ignore: decorator
@inline const SIMD_FLUSH_BLOCKS: usize = 8192;

/** Flushes the u32 lane sums (s, h) into the 64-bit lanes `wide`. */
// @ts-ignore: decorator
@inline function simd_flush(wide: v128, s: v128, h: v128): v128 {
  const l = i32x4.sub(s, i32x4.shl(h, 16));
  wide = i64x2.add(wide, i64x2.add(i64x2.extend_low_i32x4_u(l), i64x2.extend_high_i32x4_u(l)));
  return i64x2.add(wide, i64x2.add(i64x2.extend_low_i32x4_u(h), i64x2.extend_high_i32x4_u(h)));
}

/** LE-domain sum of `len` bytes at `p`, unfolded, with v128 loads. */
function sum_simd_le(p: usize, len: usize): u64 {
  if (!ASC_FEATURE_SIMD) {
    ERROR("sum_simd_le needs SIMD (compile with --enable simd)");
    return 0;
  } else {
    const end = p + len;
    let wide = i64x2.splat(0);
    while (end - p >= 64) {
      let blocks = (end - p) >> 6;
      if (blocks > SIMD_FLUSH_BLOCKS) blocks = SIMD_FLUSH_BLOCKS;
      let s = i32x4.splat(0), h = i32x4.splat(0);
      do {
        const x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
        s = i32x4.add(s, i32x4.add(i32x4.add(x0, x1), i32x4.add(x2, x3)));
        h = i32x4.add(h, i32x4.add(
          i32x4.add(i32x4.shr_u(x0, 16), i32x4.shr_u(x1, 16)),
          i32x4.add(i32x4.shr_u(x2, 16), i32x4.shr_u(x3, 16))));
        p += 64;
      } while (--blocks);
      wide = simd_flush(wide, s, h);
    }
    // up to three 16-byte vectors
    let s = i32x4.splat(0), h = i32x4.splat(0);
    while (end - p >= 16) {
      const x = v128.load(p);
      s = i32x4.add(s, x);
      h = i32x4.add(h, i32x4.shr_u(x, 16));
      p += 16;
    }
    wide = simd_flush(wide, s, h);
    let sum = <u64>i64x2.extract_lane(wide, 0) + <u64>i64x2.extract_lane(wide, 1);
    const n = end - p;
    if (n >= 8) {
      const x = load<u64>(p);
      sum += (x & 0xffffffff) + (x >> 32);
      p += 8;
    }
    return sum + sum_tail_le(p, n & 7);
  }
}

/** As `sum_simd_le`, copying the bytes to `d` on the way (one pass). */
function copy_sum_simd_le(d: usize, p: usize, len: usize): u64 {
  if (!ASC_FEATURE_SIMD) {
    ERROR("copy_sum_simd_le needs SIMD (compile with --enable simd)");
    return 0;
  } else {
    const end = p + len;
    let wide = i64x2.splat(0);
    while (end - p >= 64) {
      let blocks = (end - p) >> 6;
      if (blocks > SIMD_FLUSH_BLOCKS) blocks = SIMD_FLUSH_BLOCKS;
      let s = i32x4.splat(0), h = i32x4.splat(0);
      do {
        const x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
        v128.store(d, x0); v128.store(d, x1, 16); v128.store(d, x2, 32); v128.store(d, x3, 48);
        s = i32x4.add(s, i32x4.add(i32x4.add(x0, x1), i32x4.add(x2, x3)));
        h = i32x4.add(h, i32x4.add(
          i32x4.add(i32x4.shr_u(x0, 16), i32x4.shr_u(x1, 16)),
          i32x4.add(i32x4.shr_u(x2, 16), i32x4.shr_u(x3, 16))));
        p += 64; d += 64;
      } while (--blocks);
      wide = simd_flush(wide, s, h);
    }
    const n = end - p;
    memory.copy(d, p, n);
    return <u64>i64x2.extract_lane(wide, 0) + <u64>i64x2.extract_lane(wide, 1) + sum_simd_le(p, n);
  }
}

// ---- kernel selection ----------------------------------------------------

/** LE-domain sum with the build's best kernel. */
@inline function sum_le(p: usize, len: usize): u64 {
  if (ASC_FEATURE_SIMD) return sum_simd_le(p, len);
  else return sum_scalar_le(p, len);
}

@inline function copy_sum_le(d: usize, p: usize, len: usize): u64 {
  if (ASC_FEATURE_SIMD) return copy_sum_simd_le(d, p, len);
  else return copy_sum_scalar_le(d, p, len);
}

// ---- flat buffers --------------------------------------------------------

/**
 * The folded, uncomplemented one's complement sum of `len` bytes at `ptr`
 * (lwIP's lwip_standard_chksum), as a network-order number.
 */
export function lwip_standard_chksum(ptr: usize, len: u32): u16 {
  return <u16>swap16(fold64(sum_le(ptr, len)));
}

/** The Internet checksum of `len` bytes at `ptr`, as a network-order number (see file comment). */
export function inet_chksum(ptr: usize, len: u32): u16 {
  return <u16>~swap16(fold64(sum_le(ptr, len)));
}

/** `lwip_standard_chksum` with the scalar kernel, in every build. */
export function lwip_standard_chksum_scalar(ptr: usize, len: u32): u16 {
  return <u16>swap16(fold64(sum_scalar_le(ptr, len)));
}

/** `inet_chksum` with the scalar kernel, in every build. */
export function inet_chksum_scalar(ptr: usize, len: u32): u16 {
  return <u16>~swap16(fold64(sum_scalar_le(ptr, len)));
}

/** `lwip_standard_chksum` with the v128 kernel; only where SIMD is enabled. */
export function lwip_standard_chksum_simd(ptr: usize, len: u32): u16 {
  return <u16>swap16(fold64(sum_simd_le(ptr, len)));
}

/** `inet_chksum` with the v128 kernel; only where SIMD is enabled. */
export function inet_chksum_simd(ptr: usize, len: u32): u16 {
  return <u16>~swap16(fold64(sum_simd_le(ptr, len)));
}

// ---- pbuf chains ---------------------------------------------------------

/**
 * LE-domain folded sum of the first `len` bytes of the chain `p`.
 *
 * A segment that starts at an odd offset of the packet has its bytes paired
 * the other way round; its own sum is byte-swapped before it is added
 * (lwIP's `swapped` trick, RFC 1071 §2(B)).
 */
function pbuf_sum_le(p: pbuf | null, len: u32): u32 {
  let acc: u32 = 0;
  let odd: u32 = 0;
  let q = p;
  while (q !== null && len != 0) {
    const n = q.len < len ? q.len : len;
    let s = fold64(sum_le(q.payload, n));
    if (odd) s = swap16(s);
    acc = fold32(acc + s);
    odd ^= n & 1;
    len -= n;
    q = q.next;
  }
  return acc;
}

/** The Internet checksum over a whole pbuf chain (`p.tot_len` bytes). */
export function inet_chksum_pbuf(p: pbuf): u16 {
  return <u16>~swap16(pbuf_sum_le(p, p.tot_len));
}

/** LE-domain sum of the IPv4 pseudo header (RFC 768, RFC 9293 §3.1). */
@inline function pseudo4_le(proto: u8, proto_len: u32, src_ptr: usize, dst_ptr: usize): u64 {
  return <u64>load<u32>(src_ptr) + <u64>load<u32>(dst_ptr)
    + (<u64>proto << 8) + <u64>swap16(proto_len & 0xffff);
}

/** LE-domain sum of the IPv6 pseudo header (RFC 8200 §8.1). */
@inline function pseudo6_le(proto: u8, proto_len: u32, src_ptr: usize, dst_ptr: usize): u64 {
  const s0 = load<u64>(src_ptr), s1 = load<u64>(src_ptr, 8);
  const d0 = load<u64>(dst_ptr), d1 = load<u64>(dst_ptr, 8);
  return (s0 & 0xffffffff) + (s0 >> 32) + (s1 & 0xffffffff) + (s1 >> 32)
    + (d0 & 0xffffffff) + (d0 >> 32) + (d1 & 0xffffffff) + (d1 >> 32)
    // upper-layer packet length: 32 bits, big-endian
    + <u64>bswap<u32>(proto_len)
    // three zero bytes, then the next header value
    + (<u64>proto << 8);
}

/**
 * The partial sum (folded, uncomplemented, network-order semantics) of the
 * IPv4 pseudo header alone: for a sender that adds its header's and its
 * payload's partial sums itself (the payload's taken while copying it in).
 */
export function inet_pseudo_sum(proto: u8, proto_len: u32, src_ptr: usize, dst_ptr: usize): u32 {
  return swap16(fold64(pseudo4_le(proto, proto_len, src_ptr, dst_ptr)));
}

/** As `inet_pseudo_sum`, for the IPv6 pseudo header (RFC 8200 §8.1). */
export function ip6_pseudo_sum(proto: u8, proto_len: u32, src_ptr: usize, dst_ptr: usize): u32 {
  return swap16(fold64(pseudo6_le(proto, proto_len, src_ptr, dst_ptr)));
}

/**
 * TCP/UDP checksum over an IPv4 pseudo header and the whole chain `p`.
 * `src_ptr`/`dst_ptr` point at 4-byte addresses in network order;
 * `proto_len` is the transport length written into the pseudo header.
 */
export function inet_chksum_pseudo(p: pbuf, proto: u8, proto_len: u32, src_ptr: usize, dst_ptr: usize): u16 {
  const s = fold32(fold64(pseudo4_le(proto, proto_len, src_ptr, dst_ptr)) + pbuf_sum_le(p, p.tot_len));
  return <u16>~swap16(s);
}

/**
 * As `inet_chksum_pseudo`, covering only the first `chksum_len` bytes of `p`
 * (UDP-Lite checksum coverage, RFC 3828 §3.1). The pseudo header still
 * carries `proto_len`, the full length.
 */
export function inet_chksum_pseudo_partial(p: pbuf, proto: u8, proto_len: u32, chksum_len: u32, src_ptr: usize, dst_ptr: usize): u16 {
  const s = fold32(fold64(pseudo4_le(proto, proto_len, src_ptr, dst_ptr)) + pbuf_sum_le(p, chksum_len));
  return <u16>~swap16(s);
}

/**
 * TCP/UDP/ICMPv6 checksum over an IPv6 pseudo header (RFC 8200 §8.1) and the
 * whole chain `p`. `src_ptr`/`dst_ptr` point at 16-byte addresses.
 */
export function ip6_chksum_pseudo(p: pbuf, proto: u8, proto_len: u32, src_ptr: usize, dst_ptr: usize): u16 {
  const s = fold32(fold64(pseudo6_le(proto, proto_len, src_ptr, dst_ptr)) + pbuf_sum_le(p, p.tot_len));
  return <u16>~swap16(s);
}

/** As `ip6_chksum_pseudo`, covering only the first `chksum_len` bytes (UDP-Lite, RFC 3828). */
export function ip6_chksum_pseudo_partial(p: pbuf, proto: u8, proto_len: u32, chksum_len: u32, src_ptr: usize, dst_ptr: usize): u16 {
  const s = fold32(fold64(pseudo6_le(proto, proto_len, src_ptr, dst_ptr)) + pbuf_sum_le(p, chksum_len));
  return <u16>~swap16(s);
}

// ---- incremental update ----------------------------------------------------

/**
 * RFC 1624 eqn. 3: a header checksum after one 16-bit word changed from `m`
 * to `m2` (host numbers of the big-endian words), without summing again.
 */
export function chksum_adjust(hc: u16, m: u16, m2: u16): u16 {
  let sum: u32 = (<u32>(~hc & 0xffff)) + (<u32>(~m & 0xffff)) + <u32>m2;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return <u16>~sum;
}

// ---- checksum while copying ----------------------------------------------

/**
 * Copies `len` bytes from `src` to `dst` (regions must not overlap) and
 * returns their partial sum: folded, uncomplemented, network-order number,
 * 0..0xffff, as if `src` were at an even offset (see file comment).
 */
export function inet_chksum_copy(dst: usize, src: usize, len: u32): u32 {
  return swap16(fold64(copy_sum_le(dst, src, len)));
}

/**
 * Copies `len` bytes from `src` into the chain `p` starting `offset` bytes
 * into it (lwIP's pbuf_take_at with LWIP_CHKSUM_COPY) and returns the partial
 * sum of the copied bytes, paired from the first copied byte: a caller whose
 * checksummed region has that byte at an odd offset applies `chksum_swap`.
 *
 * @returns the partial sum (0..0xffff), or CHKSUM_COPY_ERR if the chain holds
 *          fewer than `offset + len` bytes (nothing is written then)
 */
export function pbuf_copy_in_chksum(p: pbuf, offset: u32, src: usize, len: u32): u32 {
  if (<u64>offset + <u64>len > <u64>p.tot_len) return CHKSUM_COPY_ERR;
  let q: pbuf | null = p;
  // skip whole segments before the offset
  while (q !== null && offset >= q.len) {
    offset -= q.len;
    q = q.next;
  }
  let acc: u32 = 0;
  let odd: u32 = 0;
  while (q !== null && len != 0) {
    const room = q.len - offset;
    const n = room < len ? room : len;
    let s = fold64(copy_sum_le(q.payload + offset, src, n));
    if (odd) s = swap16(s);
    acc = fold32(acc + s);
    odd ^= n & 1;
    src += n;
    len -= n;
    offset = 0;
    q = q.next;
  }
  return swap16(acc);
}
