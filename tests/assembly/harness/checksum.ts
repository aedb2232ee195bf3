// Checksums by the book, byte by byte, for specs to check the core's fast
// ones against: RFC 1071's sum of big-endian 16-bit words, and the pseudo
// headers of RFC 768 / RFC 9293 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6) written
// out field by field.
import { ip_addr, IPADDR_TYPE_V6 } from "../../../assembly/ip_addr";

/** RFC 1071: the folded one's complement sum of `n` bytes at `p` (an odd last byte padded on the right), added to `acc`. */
export function ref_sum(p: usize, n: u32, acc: u32 = 0): u32 {
  let s: u64 = acc;
  let i: u32 = 0;
  for (; i + 1 < n; i += 2) s += (<u64>load<u8>(p + i) << 8) | <u64>load<u8>(p + i + 1);
  if (n & 1) s += <u64>load<u8>(p + n - 1) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return <u32>s;
}

const ph: usize = memory.data(40, 8);

/**
 * The sum of the pseudo header for a transport segment of `len` bytes of
 * protocol `proto` between `src` and `dst` (their family picks the layout).
 */
export function ref_pseudo_sum(src: ip_addr, dst: ip_addr, proto: u8, len: u32): u32 {
  if (src.type == IPADDR_TYPE_V6) {
    // RFC 8200 §8.1: source (16), destination (16), upper-layer packet
    // length (32 bits), three zero bytes, next header.
    memory.copy(ph, changetype<usize>(src), 16);
    memory.copy(ph + 16, changetype<usize>(dst), 16);
    store<u32>(ph + 32, bswap<u32>(len));
    store<u32>(ph + 36, bswap<u32>(<u32>proto));
    return ref_sum(ph, 40);
  }
  // RFC 768 / RFC 9293 §3.1: source (4), destination (4), zero, protocol, length (16 bits).
  store<u32>(ph, src.a0);
  store<u32>(ph + 4, dst.a0);
  store<u8>(ph + 8, 0);
  store<u8>(ph + 9, proto);
  store<u16>(ph + 10, bswap<u16>(<u16>len));
  return ref_sum(ph, 12);
}

/** The checksum field value for `cov` covered bytes at `seg` of a `len`-byte segment (0 is not mapped to 0xffff). */
export function ref_transport_chksum(src: ip_addr, dst: ip_addr, proto: u8, seg: usize, len: u32, cov: u32 = 0xffffffff): u16 {
  const n = cov < len ? cov : len;
  return <u16>(~ref_sum(seg, n, ref_pseudo_sum(src, dst, proto, len)) & 0xffff);
}

/** Does the segment at `seg` (checksum field included) verify: pseudo header + covered bytes sum to 0xffff? */
export function ref_transport_ok(src: ip_addr, dst: ip_addr, proto: u8, seg: usize, len: u32, cov: u32 = 0xffffffff): bool {
  const n = cov < len ? cov : len;
  return ref_sum(seg, n, ref_pseudo_sum(src, dst, proto, len)) == 0xffff;
}
