// memp: fixed-size pools, one per kind of object (lwIP memp.c, memp_std.h).
//
// Each pool is an array of equal elements carved from one region at init.
// Free elements form a singly linked list through their first word, so alloc
// and free are O(1). A bitmap with one bit per element marks the ones in use:
// freeing a pointer that is not an element of the pool, or an element that
// is already free, is counted in the pool's `illegal` counter and ignored.
//
// The element count of each pool comes from config.ts and can be changed at
// run time before init (memp_set_num), the element size from the structure
// that lives in it.

import {
  MEMP_NUM_PBUF, MEMP_NUM_SYS_TIMEOUT, PBUF_POOL_SIZE, PBUF_POOL_BUFSIZE, MEM_ALIGNMENT,
  MEMP_NUM_UDP_PCB, MEMP_NUM_RAW_PCB, MEMP_NUM_TCP_PCB, MEMP_NUM_TCP_PCB_LISTEN,
  MEMP_NUM_TCP_SEG, MEMP_NUM_REASSDATA, MEMP_NUM_ARP_QUEUE,
} from "../config";
import { MemCtr, memp_stat_addr } from "./stats";
import { PBUF_STRUCT_SIZE, PBUF_CUSTOM_SIZE } from "./pbuf";
import { SYS_TIMEO_SIZE } from "./timeouts";

/**
 * The pools. Their order is the order of the memp stats blocks and of
 * MEMP_NAMES in bindings/abi.ts. Element sizes of pools whose protocol is not
 * built yet are reserved sizes, replaced by the protocol's structure size
 * when it lands.
 */
export const enum MEMP {
  PBUF = 0,        // pbuf headers for PBUF_ROM / PBUF_REF
  PBUF_POOL = 1,   // pbuf header + PBUF_POOL_BUFSIZE bytes
  SYS_TIMEOUT = 2, // timeouts
  RAW_PCB = 3,
  UDP_PCB = 4,
  TCP_PCB = 5,
  TCP_PCB_LISTEN = 6,
  TCP_SEG = 7,
  REASSDATA = 8,
  ARP_QUEUE = 9,
}
export const MEMP_MAX: i32 = 10;

// Pool descriptor, one per pool, in static memory:
//   +0 base usize   first element   +4 size u32   element size (aligned)
//   +8 num  u32     element count   +12 free usize  head of the free list
//   +16 map usize   in-use bitmap
const DESC_SIZE: usize = 20;
const desc: usize = memory.data(<i32>(MEMP_MAX * <i32>DESC_SIZE), 8);

// @ts-ignore: decorator
@inline function d(pool: i32): usize { return desc + <usize>pool * DESC_SIZE; }

/** Default element sizes (bytes before alignment). */
function default_size(pool: i32): u32 {
  switch (pool) {
    case MEMP.PBUF: return PBUF_CUSTOM_SIZE; // room for a custom pbuf's free hook
    case MEMP.PBUF_POOL: return PBUF_STRUCT_SIZE + PBUF_POOL_BUFSIZE;
    case MEMP.SYS_TIMEOUT: return SYS_TIMEO_SIZE;
    case MEMP.RAW_PCB: return 64;
    case MEMP.UDP_PCB: return 64;
    case MEMP.TCP_PCB: return 256;
    case MEMP.TCP_PCB_LISTEN: return 64;
    case MEMP.TCP_SEG: return 32;
    case MEMP.REASSDATA: return 64;
    case MEMP.ARP_QUEUE: return 16;
  }
  return 16;
}

function default_num(pool: i32): u32 {
  switch (pool) {
    case MEMP.PBUF: return MEMP_NUM_PBUF;
    case MEMP.PBUF_POOL: return PBUF_POOL_SIZE;
    case MEMP.SYS_TIMEOUT: return MEMP_NUM_SYS_TIMEOUT;
    case MEMP.RAW_PCB: return MEMP_NUM_RAW_PCB;
    case MEMP.UDP_PCB: return MEMP_NUM_UDP_PCB;
    case MEMP.TCP_PCB: return MEMP_NUM_TCP_PCB;
    case MEMP.TCP_PCB_LISTEN: return MEMP_NUM_TCP_PCB_LISTEN;
    case MEMP.TCP_SEG: return MEMP_NUM_TCP_SEG;
    case MEMP.REASSDATA: return MEMP_NUM_REASSDATA;
    case MEMP.ARP_QUEUE: return MEMP_NUM_ARP_QUEUE;
  }
  return 0;
}

let initialised = false;
/** Bit i set: pool i's count was set by memp_set_num (0 is a legal count). */
let num_set: u32 = 0;

/** Changes a pool's element count. Only before memp_init; returns false after. */
export function memp_set_num(pool: i32, num: u32): bool {
  if (initialised || pool < 0 || pool >= MEMP_MAX) return false;
  store<u32>(d(pool), num, 8);
  num_set |= 1 << pool;
  return true;
}

/** Changes a pool's element size (protocols that own a pool call this before init). */
export function memp_set_size(pool: i32, size: u32): bool {
  if (initialised || pool < 0 || pool >= MEMP_MAX) return false;
  store<u32>(d(pool), size, 4);
  return true;
}

/** Fills in defaults for pools nobody configured. Called by memp_init. */
function memp_defaults(): void {
  for (let i = 0; i < MEMP_MAX; i++) {
    if (load<u32>(d(i), 4) == 0) store<u32>(d(i), default_size(i), 4);
    if ((num_set & (1 << i)) == 0) store<u32>(d(i), default_num(i), 8);
  }
}

/** Carves every pool out of one region and threads the free lists. */
export function memp_init(): void {
  if (initialised) return;
  memp_defaults();
  let total: usize = 0;
  for (let i = 0; i < MEMP_MAX; i++) {
    const size = (load<u32>(d(i), 4) + (MEM_ALIGNMENT - 1)) & ~(MEM_ALIGNMENT - 1);
    store<u32>(d(i), size, 4);
    const num = <usize>load<u32>(d(i), 8);
    total += <usize>size * num + (((num + 31) >> 5) << 2) + MEM_ALIGNMENT;
  }
  let p = (heap.alloc(total + MEM_ALIGNMENT) + (MEM_ALIGNMENT - 1)) & ~(<usize>MEM_ALIGNMENT - 1);
  for (let i = 0; i < MEMP_MAX; i++) {
    const size = <usize>load<u32>(d(i), 4);
    const num = load<u32>(d(i), 8);
    const base = p;
    store<usize>(d(i), base, 0);
    // Thread the free list in address order.
    let next: usize = 0;
    for (let k = <i32>num - 1; k >= 0; k--) {
      const e = base + <usize>k * size;
      store<usize>(e, next);
      next = e;
    }
    store<usize>(d(i), next, 12);
    p = base + size * <usize>num;
    const mapBytes = <usize>(((num + 31) >> 5) << 2);
    memory.fill(p, 0, mapBytes);
    store<usize>(d(i), p, 16);
    p = (p + mapBytes + (MEM_ALIGNMENT - 1)) & ~(<usize>MEM_ALIGNMENT - 1);
    store<u32>(memp_stat_addr(i, MemCtr.AVAIL), num);
    store<u32>(memp_stat_addr(i, MemCtr.USED), 0);
    store<u32>(memp_stat_addr(i, MemCtr.MAX), 0);
  }
  initialised = true;
}

/** Takes one element from `pool`, or returns 0 and counts `err`. */
export function memp_malloc(pool: i32): usize {
  if (<u32>pool >= <u32>MEMP_MAX) return 0;
  const dp = d(pool);
  const e = load<usize>(dp, 12);
  if (e == 0) {
    const a = memp_stat_addr(pool, MemCtr.ERR);
    store<u32>(a, load<u32>(a) + 1);
    return 0;
  }
  store<usize>(dp, load<usize>(e), 12);
  const idx = <u32>((e - load<usize>(dp)) / <usize>load<u32>(dp, 4));
  const w = load<usize>(dp, 16) + ((<usize>idx >> 5) << 2);
  store<u32>(w, load<u32>(w) | (1 << (idx & 31)));
  const ua = memp_stat_addr(pool, MemCtr.USED);
  const used = load<u32>(ua) + 1;
  store<u32>(ua, used);
  const ma = memp_stat_addr(pool, MemCtr.MAX);
  if (used > load<u32>(ma)) store<u32>(ma, used);
  return e;
}

/** Returns an element to `pool`. Foreign pointers and double frees are counted, not trapped. */
export function memp_free(pool: i32, e: usize): void {
  if (e == 0 || <u32>pool >= <u32>MEMP_MAX) return;
  const dp = d(pool);
  const base = load<usize>(dp);
  const size = <usize>load<u32>(dp, 4);
  const num = load<u32>(dp, 8);
  if (e < base || e >= base + size * <usize>num || (e - base) % size != 0) {
    illegal(pool);
    return;
  }
  const idx = <u32>((e - base) / size);
  const w = load<usize>(dp, 16) + ((<usize>idx >> 5) << 2);
  const bit: u32 = 1 << (idx & 31);
  const word = load<u32>(w);
  if ((word & bit) == 0) {
    illegal(pool);
    return;
  }
  store<u32>(w, word & ~bit);
  store<usize>(e, load<usize>(dp, 12));
  store<usize>(dp, e, 12);
  const ua = memp_stat_addr(pool, MemCtr.USED);
  store<u32>(ua, load<u32>(ua) - 1);
}

function illegal(pool: i32): void {
  const a = memp_stat_addr(pool, MemCtr.ILLEGAL);
  store<u32>(a, load<u32>(a) + 1);
}

/** Is `e` an element of `pool`'s region (in use or not)? */
export function memp_owns(pool: i32, e: usize): bool {
  if (<u32>pool >= <u32>MEMP_MAX) return false;
  const dp = d(pool);
  const base = load<usize>(dp);
  const size = <usize>load<u32>(dp, 4);
  return e >= base && e < base + size * <usize>load<u32>(dp, 8) && (e - base) % size == 0;
}

export function memp_size(pool: i32): u32 { return <u32>pool >= <u32>MEMP_MAX ? 0 : load<u32>(d(pool), 4); }
export function memp_num(pool: i32): u32 { return <u32>pool >= <u32>MEMP_MAX ? 0 : load<u32>(d(pool), 8); }
export function memp_used(pool: i32): u32 { return <u32>pool >= <u32>MEMP_MAX ? 0 : load<u32>(memp_stat_addr(pool, MemCtr.USED)); }
export function memp_err(pool: i32): u32 { return <u32>pool >= <u32>MEMP_MAX ? 0 : load<u32>(memp_stat_addr(pool, MemCtr.ERR)); }
export function memp_illegal(pool: i32): u32 { return <u32>pool >= <u32>MEMP_MAX ? 0 : load<u32>(memp_stat_addr(pool, MemCtr.ILLEGAL)); }
