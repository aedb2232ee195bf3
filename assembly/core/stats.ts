// stats: counters per protocol and per pool, readable by the host (lwIP stats.c).
//
// Every counter lives in one static block of linear memory so the host reads
// them all through one view without calling in (bindings/abi.ts mirrors the
// layout; `stats_layout` in index.ts describes it for other hosts).
//
//   proto block, one per protocol (STATS_PROTO_COUNT of them), 12 × u32:
//   +----+------+----+------+--------+--------+--------+-------+---------+--------+-----+----------+
//   |xmit|recv  |fw  |drop  |chkerr  |lenerr  |memerr  |rterr  |proterr  |opterr  |err  |cachehit  |
//   +----+------+----+------+--------+--------+--------+-------+---------+--------+-----+----------+
//   mem block: avail, used, max, err, illegal (u32 each)
//   memp blocks, one per pool: avail, used, max, err, illegal (u32 each)

import { MEMP_MAX } from "./memp";

/** Protocols with a counter block, in the order of their blocks. */
export const enum Proto {
  LINK = 0,
  ETHARP = 1,
  IPFRAG = 2,
  IP = 3,
  ICMP = 4,
  IGMP = 5,
  UDP = 6,
  TCP = 7,
  IP6 = 8,
  ICMP6 = 9,
  IP6FRAG = 10,
  MLD6 = 11,
  ND6 = 12,
  RAW = 13,
}
export const STATS_PROTO_COUNT: i32 = 14;

/** Counter offsets inside a protocol block (u32 index). */
export const enum Ctr {
  XMIT = 0,
  RECV = 1,
  FW = 2,
  DROP = 3,
  CHKERR = 4,
  LENERR = 5,
  MEMERR = 6,
  RTERR = 7,
  PROTERR = 8,
  OPTERR = 9,
  ERR = 10,
  CACHEHIT = 11,
}
export const STATS_PROTO_WORDS: i32 = 12;

/** Counter offsets inside a mem or memp block (u32 index). */
export const enum MemCtr {
  AVAIL = 0,
  USED = 1,
  MAX = 2,
  ERR = 3,
  ILLEGAL = 4,
}
export const STATS_MEM_WORDS: i32 = 5;

export const STATS_MEM_OFFSET: i32 = STATS_PROTO_COUNT * STATS_PROTO_WORDS * 4;
export const STATS_MEMP_OFFSET: i32 = STATS_MEM_OFFSET + STATS_MEM_WORDS * 4;
export const STATS_SIZE: i32 = STATS_MEMP_OFFSET + MEMP_MAX * STATS_MEM_WORDS * 4;

/** The block itself, in static memory (zeroed at instantiation). */
export const stats_base: usize = memory.data(STATS_SIZE, 8);

// @ts-ignore: decorator
@inline export function STATS_INC(proto: Proto, ctr: Ctr): void {
  const a = stats_base + ((<usize>proto * STATS_PROTO_WORDS + <usize>ctr) << 2);
  store<u32>(a, load<u32>(a) + 1);
}

// @ts-ignore: decorator
@inline export function STATS_ADD(proto: Proto, ctr: Ctr, n: u32): void {
  const a = stats_base + ((<usize>proto * STATS_PROTO_WORDS + <usize>ctr) << 2);
  store<u32>(a, load<u32>(a) + n);
}

export function stats_get(proto: Proto, ctr: Ctr): u32 {
  return load<u32>(stats_base + ((<usize>proto * STATS_PROTO_WORDS + <usize>ctr) << 2));
}

/** Address of the mem block's counter `c`. */
// @ts-ignore: decorator
@inline export function mem_stat_addr(c: MemCtr): usize {
  return stats_base + STATS_MEM_OFFSET + (<usize>c << 2);
}

/** Address of pool `pool`'s counter `c`. */
// @ts-ignore: decorator
@inline export function memp_stat_addr(pool: i32, c: MemCtr): usize {
  return stats_base + STATS_MEMP_OFFSET + ((<usize>pool * STATS_MEM_WORDS + <usize>c) << 2);
}

/** Zero every protocol counter (pool and heap gauges are left alone). */
export function stats_reset_protocols(): void {
  memory.fill(stats_base, 0, STATS_MEM_OFFSET);
}
