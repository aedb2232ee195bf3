// Host-facing exports for the Internet checksum and the benchmark loops
// (re-exported by assembly/index.ts).
// The Internet checksum for the host (results: numbers in network-order
// semantics, see core/chksum.ts) and in-core loops for bench/chksum.ts and
// bench/pbuf.ts, so one host call times many iterations.
import { pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "../core/pbuf";
import {
  inet_chksum as chksum_inet, lwip_standard_chksum as chksum_standard,
  inet_chksum_scalar as chksum_inet_scalar, lwip_standard_chksum_scalar as chksum_standard_scalar,
  inet_chksum_simd as chksum_inet_simd, lwip_standard_chksum_simd as chksum_standard_simd,
  inet_chksum_copy as chksum_copy,
} from "../core/chksum";

/** Checksum of `len` bytes at `ptr` with the build's kernel. */
export function inet_chksum(ptr: usize, len: u32): u16 { return chksum_inet(ptr, len); }
/** Folded, uncomplemented sum with the build's kernel. */
export function lwip_standard_chksum(ptr: usize, len: u32): u16 { return chksum_standard(ptr, len); }
/** The scalar (u64) kernel, in every build. */
export function inet_chksum_scalar(ptr: usize, len: u32): u16 { return chksum_inet_scalar(ptr, len); }
export function lwip_standard_chksum_scalar(ptr: usize, len: u32): u16 { return chksum_standard_scalar(ptr, len); }
/** 1 when the v128 kernel is compiled in (release, debug), 0 in the mvp build. */
export function chksum_simd_available(): u32 { return ASC_FEATURE_SIMD ? 1 : 0; }
/** The v128 kernel. Without SIMD (mvp) the export exists but traps: check chksum_simd_available. */
export function inet_chksum_simd(ptr: usize, len: u32): u16 {
  if (ASC_FEATURE_SIMD) return chksum_inet_simd(ptr, len);
  unreachable();
  return 0;
}
export function lwip_standard_chksum_simd(ptr: usize, len: u32): u16 {
  if (ASC_FEATURE_SIMD) return chksum_standard_simd(ptr, len);
  unreachable();
  return 0;
}
/** Copies `len` bytes and returns their folded partial sum (0..0xffff). */
export function inet_chksum_copy(dst: usize, src: usize, len: u32): u32 { return chksum_copy(dst, src, len); }

/** Scratch memory for the host (benchmarks, tests): bump-allocated, never freed; allocate once. */
export function bench_alloc(n: u32): usize { return heap.alloc(n); }

/** `iters` memory.copy calls of `len` bytes: the yardstick for the checksum loops. */
export function bench_memcpy(dst: usize, src: usize, len: u32, iters: u32): void {
  for (let i: u32 = 0; i < iters; i++) memory.copy(dst, src, len);
}

// Each loop writes one byte before each checksum so the optimizer cannot
// hoist the (pure) checksum out of the loop; the results are folded together
// and returned so it cannot drop them either.
/** `iters` checksums with the build's kernel. */
export function bench_chksum(ptr: usize, len: u32, iters: u32): u32 {
  let r: u32 = 0;
  for (let i: u32 = 0; i < iters; i++) { store<u8>(ptr, <u8>i); r += chksum_inet(ptr, len); }
  return r;
}
/** `iters` checksums with the scalar kernel. */
export function bench_chksum_scalar(ptr: usize, len: u32, iters: u32): u32 {
  let r: u32 = 0;
  for (let i: u32 = 0; i < iters; i++) { store<u8>(ptr, <u8>i); r += chksum_inet_scalar(ptr, len); }
  return r;
}
/** `iters` checksums with the v128 kernel (traps without SIMD). */
export function bench_chksum_simd(ptr: usize, len: u32, iters: u32): u32 {
  if (ASC_FEATURE_SIMD) {
    let r: u32 = 0;
    for (let i: u32 = 0; i < iters; i++) { store<u8>(ptr, <u8>i); r += chksum_inet_simd(ptr, len); }
    return r;
  }
  unreachable();
  return 0;
}
/** `iters` copy-with-checksum calls. */
export function bench_chksum_copy(dst: usize, src: usize, len: u32, iters: u32): u32 {
  let r: u32 = 0;
  for (let i: u32 = 0; i < iters; i++) r += chksum_copy(dst, src, len);
  return r;
}
/**
 * `iters` pbuf_alloc + pbuf_free pairs of kind `type` (pbuf_type value:
 * 0x80 RAM, 0x82 POOL, 0x01 ROM, 0x41 REF) and `length` bytes at layer
 * PBUF_RAW. Needs asip_init first. Returns how many allocations succeeded
 * (== iters unless memory ran out).
 */
export function bench_pbuf_alloc_free(type: u32, length: u32, iters: u32): u32 {
  let ok: u32 = 0;
  for (let i: u32 = 0; i < iters; i++) {
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, length, <pbuf_type>type);
    if (p !== null) {
      ok++;
      pbuf_free(p);
    }
  }
  return ok;
}
