// mem: the heap for variable-size blocks (lwIP mem.c).
//
// A first-fit allocator over one contiguous region, with every block carrying
// a header that links it to its neighbours. Freed blocks merge with free
// neighbours at once ("plug holes"), so the heap never holds two adjacent free
// blocks. `lfree` remembers the lowest free block so most allocations start
// their search there.
//
//   ram                                                               ram_end
//   | hdr | block ......... | hdr | block ... | hdr | ... | hdr (sentinel, used) |
//
//   hdr (8 bytes):
//   +0  next   u32  offset of the next header from `ram`
//   +4  prev   u32  offset of the previous header; bit 0 = this block is used
//
// Offsets, not pointers, keep the header 8 bytes on any wasm pointer size.
// Every block starts and ends on MEM_ALIGNMENT (8). Freeing checks the header
// against its neighbours (lwIP's mem_link_valid), so double frees and foreign
// pointers are detected and counted in `illegal` instead of corrupting the
// heap or trapping.

import { MEM_ALIGNMENT, MEM_SIZE } from "../config";
import { MemCtr, mem_stat_addr } from "./stats";

const HDR: u32 = 8;
const MIN_SIZE: u32 = 8;
const USED_BIT: u32 = 1;

let ram: usize = 0;
/** Offset of the sentinel header (= usable size). */
let ram_end: u32 = 0;
/** Offset of the lowest free block. */
let lfree: u32 = 0;

// @ts-ignore: decorator
@inline function align(n: u32): u32 {
  return (n + (MEM_ALIGNMENT - 1)) & ~(MEM_ALIGNMENT - 1);
}

// ---- header accessors -------------------------------------------------------
// @ts-ignore: decorator
@inline function hdr_next(off: u32): u32 { return load<u32>(ram + off); }
// @ts-ignore: decorator
@inline function set_next(off: u32, v: u32): void { store<u32>(ram + off, v); }
// @ts-ignore: decorator
@inline function hdr_prev(off: u32): u32 { return load<u32>(ram + off, 4) & ~USED_BIT; }
// @ts-ignore: decorator
@inline function set_prev(off: u32, v: u32): void {
  store<u32>(ram + off, v | (load<u32>(ram + off, 4) & USED_BIT), 4);
}
// @ts-ignore: decorator
@inline function hdr_used(off: u32): bool { return (load<u32>(ram + off, 4) & USED_BIT) != 0; }
// @ts-ignore: decorator
@inline function set_used(off: u32, used: bool): void {
  const w = load<u32>(ram + off, 4) & ~USED_BIT;
  store<u32>(ram + off, used ? w | USED_BIT : w, 4);
}

// ---- stats --------------------------------------------------------------------
// @ts-ignore: decorator
@inline function stat_add(c: MemCtr, n: u32): void { store<u32>(mem_stat_addr(c), load<u32>(mem_stat_addr(c)) + n); }
// @ts-ignore: decorator
@inline function stat_sub(c: MemCtr, n: u32): void { store<u32>(mem_stat_addr(c), load<u32>(mem_stat_addr(c)) - n); }

function used_add(n: u32): void {
  stat_add(MemCtr.USED, n);
  const used = load<u32>(mem_stat_addr(MemCtr.USED));
  if (used > load<u32>(mem_stat_addr(MemCtr.MAX))) store<u32>(mem_stat_addr(MemCtr.MAX), used);
}

/**
 * Sets up the heap with `size` usable bytes (MEM_SIZE by default). The region
 * is taken once from the runtime's allocator, so the same code runs under the
 * stub runtime (release, mvp) and as-pect's GC runtime.
 */
export function mem_init(size: u32 = MEM_SIZE): void {
  size = align(size);
  if (size < HDR + MIN_SIZE) size = HDR + MIN_SIZE;
  // One extra alignment unit lets us align the base ourselves.
  const raw = heap.alloc(<usize>size + HDR + MEM_ALIGNMENT);
  ram = (raw + (MEM_ALIGNMENT - 1)) & ~(<usize>MEM_ALIGNMENT - 1);
  ram_end = size;
  // First block: everything, free.
  store<u32>(ram, ram_end);
  store<u32>(ram, 0, 4);
  // Sentinel: used, points to itself.
  store<u32>(ram + ram_end, ram_end);
  store<u32>(ram + ram_end, ram_end | USED_BIT, 4);
  lfree = 0;
  store<u32>(mem_stat_addr(MemCtr.AVAIL), ram_end);
  store<u32>(mem_stat_addr(MemCtr.USED), 0);
  store<u32>(mem_stat_addr(MemCtr.MAX), 0);
}

/** First byte of the heap region (for tests and the host's memory map). */
export function mem_base(): usize { return ram; }

/** Usable bytes in the heap. */
export function mem_size(): u32 { return ram_end; }

/**
 * Allocates `size` bytes aligned to 8. Returns 0 (and counts `err`) when no
 * free block is large enough.
 */
export function mem_malloc(size: u32): usize {
  if (size == 0) size = MIN_SIZE;
  if (size > ram_end) { stat_add(MemCtr.ERR, 1); return 0; }
  size = align(size);
  if (size < MIN_SIZE) size = MIN_SIZE;
  let off = lfree;
  while (off < ram_end) {
    const next = hdr_next(off);
    if (!hdr_used(off)) {
      const room = next - off - HDR;
      if (room >= size) {
        if (room >= size + HDR + MIN_SIZE) {
          // Split: the tail becomes a new free block.
          const off2 = off + HDR + size;
          store<u32>(ram + off2, next);
          store<u32>(ram + off2, off, 4); // prev = off, free
          set_next(off, off2);
          if (next != ram_end) set_prev(next, off2);
          used_add(size + HDR);
        } else {
          used_add(next - off);
        }
        set_used(off, true);
        if (off == lfree) {
          // Advance lfree to the next free block (or the sentinel).
          let f = off;
          while (f < ram_end && hdr_used(f)) f = hdr_next(f);
          lfree = f;
        }
        return ram + off + HDR;
      }
    }
    off = next;
  }
  stat_add(MemCtr.ERR, 1);
  return 0;
}

/** Allocates `count * size` zeroed bytes, or 0. */
export function mem_calloc(count: u32, size: u32): usize {
  const total = <u64>count * size;
  if (total > <u64>ram_end) { stat_add(MemCtr.ERR, 1); return 0; }
  const p = mem_malloc(<u32>total);
  if (p) memory.fill(p, 0, <usize>total);
  return p;
}

/** Is `off` a plausible live header whose neighbours point back at it? */
function link_valid(off: u32): bool {
  const next = hdr_next(off);
  const prev = hdr_prev(off);
  if (next > ram_end || prev > off) return false;
  if (next <= off) return false;
  if (prev != off && hdr_next(prev) != off) return false;
  if (next != ram_end && hdr_prev(next) != off) return false;
  return true;
}

/** Which block does `p` belong to, or u32.MAX_VALUE if it is not one of ours. */
function block_of(p: usize): u32 {
  if (p < ram + HDR || p >= ram + ram_end) return u32.MAX_VALUE;
  const off = <u32>(p - ram) - HDR;
  if (off & (MEM_ALIGNMENT - 1)) return u32.MAX_VALUE;
  return off;
}

/** Usable bytes in the block at `p` (0 for a foreign pointer). */
export function mem_block_size(p: usize): u32 {
  const off = block_of(p);
  if (off == u32.MAX_VALUE) return 0;
  return hdr_next(off) - off - HDR;
}

/**
 * Frees a block. Null is ignored; pointers outside the heap, misaligned, not
 * allocated (double free) or with broken links are counted in `illegal` and
 * otherwise ignored.
 */
export function mem_free(p: usize): void {
  if (p == 0) return;
  const off = block_of(p);
  if (off == u32.MAX_VALUE || !hdr_used(off) || !link_valid(off)) {
    stat_add(MemCtr.ILLEGAL, 1);
    return;
  }
  set_used(off, false);
  if (off < lfree) lfree = off;
  stat_sub(MemCtr.USED, hdr_next(off) - off);
  plug_holes(off);
}

/** Merges the free block at `off` with free neighbours. */
function plug_holes(off: u32): void {
  const next = hdr_next(off);
  if (next != ram_end && !hdr_used(next)) {
    if (lfree == next) lfree = off;
    const nn = hdr_next(next);
    set_next(off, nn);
    if (nn != ram_end) set_prev(nn, off);
  }
  const prev = hdr_prev(off);
  if (prev != off && !hdr_used(prev)) {
    if (lfree == off) lfree = prev;
    const n = hdr_next(off);
    set_next(prev, n);
    if (n != ram_end) set_prev(n, prev);
  }
}

/**
 * Shrinks the block at `p` to `newsize` bytes in place, giving the tail back
 * to the heap. Returns `p`, or 0 when `newsize` is larger than the block
 * (growing is not supported, as in lwIP) or `p` is not a live block.
 */
export function mem_trim(p: usize, newsize: u32): usize {
  const off = block_of(p);
  if (off == u32.MAX_VALUE || !hdr_used(off) || !link_valid(off)) {
    stat_add(MemCtr.ILLEGAL, 1);
    return 0;
  }
  newsize = align(newsize);
  if (newsize < MIN_SIZE) newsize = MIN_SIZE;
  const next = hdr_next(off);
  const size = next - off - HDR;
  if (newsize > size) return 0;
  if (newsize == size) return p;
  const off2 = off + HDR + newsize;
  if (next != ram_end && !hdr_used(next)) {
    // The next block is free: move its header down to the new end.
    const nn = hdr_next(next);
    if (lfree == next) lfree = off2;
    store<u32>(ram + off2, nn);
    store<u32>(ram + off2, off, 4);
    set_next(off, off2);
    if (nn != ram_end) set_prev(nn, off2);
    stat_sub(MemCtr.USED, size - newsize);
  } else if (size - newsize >= HDR + MIN_SIZE) {
    // Room for a new free block between this one and the next.
    store<u32>(ram + off2, next);
    store<u32>(ram + off2, off, 4);
    set_next(off, off2);
    if (next != ram_end) set_prev(next, off2);
    if (off2 < lfree) lfree = off2;
    stat_sub(MemCtr.USED, size - newsize);
  }
  // else: too little to split off; keep the block as it is.
  return p;
}

/** Bytes currently allocated, headers included (stats `used`). */
export function mem_used(): u32 { return load<u32>(mem_stat_addr(MemCtr.USED)); }

/** Double frees and foreign pointers seen so far. */
export function mem_illegal(): u32 { return load<u32>(mem_stat_addr(MemCtr.ILLEGAL)); }

/** Failed allocations so far. */
export function mem_err(): u32 { return load<u32>(mem_stat_addr(MemCtr.ERR)); }

/** Bytes in the largest free block (a fragmentation gauge). */
export function mem_largest_free(): u32 {
  let best: u32 = 0;
  let off = lfree;
  while (off < ram_end) {
    const next = hdr_next(off);
    if (!hdr_used(off) && next - off - HDR > best) best = next - off - HDR;
    off = next;
  }
  return best;
}
