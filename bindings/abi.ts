/**
 * Typed views of the structures the core shares with the host: the layout
 * table, the TX and event rings, the stats block, and the names of err_t
 * codes, stats counters and pools. Mirrors assembly/core/{err,stats,memp,rings}.ts
 * and assembly/index.ts; docs/abi.md describes the same for C hosts.
 *
 * @module
 */

/** lwIP's err_t names, index = -code (assembly/core/err.ts). */
export const ERR_NAMES = [
  "ERR_OK", "ERR_MEM", "ERR_BUF", "ERR_TIMEOUT", "ERR_RTE", "ERR_INPROGRESS", "ERR_VAL", "ERR_WOULDBLOCK",
  "ERR_USE", "ERR_ALREADY", "ERR_ISCONN", "ERR_CONN", "ERR_IF", "ERR_ABRT", "ERR_RST", "ERR_CLSD", "ERR_ARG",
] as const;
export type ErrName = (typeof ERR_NAMES)[number];

/** err_t values by name. */
export const ERR = Object.fromEntries(ERR_NAMES.map((n, i) => [n, -i])) as Record<ErrName, number>;

/** The name of an err_t value. */
export function errName(code: number): ErrName | `ERR_${number}` {
  return code <= 0 && -code < ERR_NAMES.length ? ERR_NAMES[-code] : `ERR_${code}`;
}

/** An error returned by the core, carrying lwIP's err_t name as `code`. */
export class AsipError extends Error {
  /** The err_t name, e.g. "ERR_USE". */
  readonly code: string;
  /** The numeric err_t. */
  readonly err: number;
  constructor(err: number, what: string) {
    const name = errName(err);
    super(`${what}: ${name}`);
    this.name = "AsipError";
    this.code = name;
    this.err = err;
  }
}

/** Throws an AsipError when `err` is negative; returns it otherwise. */
export function check(err: number, what: string): number {
  if (err < 0) throw new AsipError(err, what);
  return err;
}

/** Protocol blocks of the stats area, in order (assembly/core/stats.ts Proto). */
export const PROTO_NAMES = [
  "link", "etharp", "ipfrag", "ip", "icmp", "igmp", "udp", "tcp", "ip6", "icmp6", "ip6frag", "mld6", "nd6", "raw",
] as const;
/** Counters of a protocol block (stats.ts Ctr). */
export const CTR_NAMES = [
  "xmit", "recv", "fw", "drop", "chkerr", "lenerr", "memerr", "rterr", "proterr", "opterr", "err", "cachehit",
] as const;
/** Counters of the heap and each pool (stats.ts MemCtr). */
export const MEM_CTR_NAMES = ["avail", "used", "max", "err", "illegal"] as const;
/** Pools, in memp.ts MEMP order. */
export const MEMP_NAMES = [
  "PBUF", "PBUF_POOL", "SYS_TIMEOUT", "RAW_PCB", "UDP_PCB", "TCP_PCB", "TCP_PCB_LISTEN", "TCP_SEG", "REASSDATA", "ARP_QUEUE",
] as const;

export type ProtoName = (typeof PROTO_NAMES)[number];
export type CtrName = (typeof CTR_NAMES)[number];
export type MemCtrName = (typeof MEM_CTR_NAMES)[number];
export type PoolName = (typeof MEMP_NAMES)[number];
export type ProtoStats = Record<CtrName, number>;
export type MemStats = Record<MemCtrName, number>;

/** A snapshot of every counter of a stack. */
export interface StackStats {
  proto: Record<ProtoName, ProtoStats>;
  mem: MemStats;
  pools: Record<PoolName, MemStats>;
  /** Frames dropped because the TX ring was full; events dropped because the event ring was full. */
  rings: { txDropped: number; eventsDropped: number };
}

/** Offsets read once from the core's layout table (index.ts abi_layout). */
export interface Layout {
  version: number;
  txRing: number;
  evRing: number;
  stats: number;
  statsSize: number;
  protoCount: number;
  protoWords: number;
  memOffset: number;
  mempOffset: number;
  mempMax: number;
  poolBufSize: number;
}

export function readLayout(memory: WebAssembly.Memory, ptr: number): Layout {
  const w = new Uint32Array(memory.buffer, ptr, 11);
  return {
    version: w[0], txRing: w[1], evRing: w[2], stats: w[3], statsSize: w[4], protoCount: w[5],
    protoWords: w[6], memOffset: w[7], mempOffset: w[8], mempMax: w[9], poolBufSize: w[10],
  };
}

export function readStats(memory: WebAssembly.Memory, l: Layout): StackStats {
  const u32 = new Uint32Array(memory.buffer);
  const base = l.stats >>> 2;
  const proto = {} as Record<ProtoName, ProtoStats>;
  PROTO_NAMES.forEach((name, i) => {
    const o = {} as ProtoStats;
    CTR_NAMES.forEach((c, k) => (o[c] = u32[base + i * l.protoWords + k]));
    proto[name] = o;
  });
  const memBlock = (off: number): MemStats => {
    const o = {} as MemStats;
    MEM_CTR_NAMES.forEach((c, k) => (o[c] = u32[((l.stats + off) >>> 2) + k]));
    return o;
  };
  const pools = {} as Record<PoolName, MemStats>;
  MEMP_NAMES.forEach((name, i) => (pools[name] = memBlock(l.mempOffset + i * MEM_CTR_NAMES.length * 4)));
  return {
    proto,
    mem: memBlock(l.memOffset),
    pools,
    rings: { txDropped: u32[(l.txRing >>> 2) + 3], eventsDropped: u32[(l.evRing >>> 2) + 3] },
  };
}

/** Ring header words (rings.ts). */
export const RING_HEAD = 0, RING_TAIL = 1, RING_CAP = 2, RING_DROPPED = 3;
export const RING_HDR_BYTES = 16;
export const TX_ENTRY_BYTES = 16;
export const EV_RECORD_BYTES = 32;

/** pbuf field offsets (assembly/core/pbuf.ts). */
export const PBUF_NEXT = 0, PBUF_PAYLOAD = 4, PBUF_TOT_LEN = 8, PBUF_LEN = 12;

/** Event types (rings.ts records). */
export const EV = {
  NETIF: 1,
  NETIF_IP6: 2,
  /** A DNS server from a Router Advertisement (RFC 8106): handle = netif, a = slot, b = lifetime (0 = withdrawn), c = address. */
  ND6_RDNSS: 3,
  ETHARP_CONFLICT: 20,
  UDP_RECV: 30,
  UDP_ERR: 31,
  RAW_RECV: 40,
} as const;

/**
 * Record flag (rings.ts): the record's address arguments are pointers to
 * ip_addrs in its address area (IPv6), not IPv4 addresses.
 */
export const EV_FLAG_IP6 = 0x0001;

/** Parses "aa:bb:cc:dd:ee:ff". */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new TypeError(`not a MAC address: ${s}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}
