/**
 * The argument checks and constants the raw API's pcbs share, in-thread
 * (raw-udp.ts, raw-ip.ts, raw-tcp.ts) and in Worker mode
 * (bindings/worker/remote-raw.ts): misuse throws a plain TypeError or
 * RangeError at once, never an err_t.
 *
 * @module
 */
import { AsipError, ERR } from "../abi.js";
import { IpAddress } from "../ip-address.js";
import type { TcpPcbLike } from "./raw-types.js";

/** lwIP's SOF_* socket option bits (assembly/udp.ts). */
export const SOF_REUSEADDR = 0x04;
export const SOF_KEEPALIVE = 0x08;
export const SOF_BROADCAST = 0x20;

/** Largest UDP payload over IPv4: 65535 − 20 (IP) − 8 (UDP). */
export const UDP_MAX_PAYLOAD = 65507;

// ---- argument checks ------------------------------------------------------------------------

let lastAddrText = "";
let lastAddr: IpAddress = IpAddress.ANY4;

/** An address argument ("a.b.c.d", an IPv6 address) parsed; a TypeError otherwise. The last one is cached: a stream of sends to one peer parses once. */
export function addrArg(ip: string, what: string): IpAddress {
  if (ip === lastAddrText) return lastAddr;
  if (typeof ip !== "string") throw new TypeError(`${what}: address must be a string, got ${typeof ip}`);
  const a = IpAddress.tryParse(ip);
  if (!a) throw new TypeError(`${what}: not an IP address: ${JSON.stringify(ip)}`);
  lastAddrText = ip;
  lastAddr = a;
  return a;
}

/** A port 0..65535 (or 1..65535 with `nonzero`); a RangeError otherwise. */
export function portArg(port: number, what: string, nonzero = false): number {
  if (!Number.isInteger(port) || port < (nonzero ? 1 : 0) || port > 65535) {
    throw new RangeError(`${what}: port out of range: ${port} (${nonzero ? 1 : 0}..65535)`);
  }
  return port;
}

/** @internal A byte-sized option (TTL, TOS, priority, interval, netif index): 0..255. */
export function byteArg(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${what}: out of range: ${v} (0..255)`);
  return v;
}

/** @internal tcp.listen's backlog (1..255) and SYN queue (1..65535, optional). */
export function listenArgs(backlog: number, synQueue?: number): void {
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 255) throw new RangeError(`tcp.listen: backlog out of range: ${backlog} (1..255)`);
  if (synQueue !== undefined && (!Number.isInteger(synQueue) || synQueue < 1 || synQueue > 65535)) {
    throw new RangeError(`tcp.listen: SYN queue out of range: ${synQueue} (1..65535)`);
  }
}

/** @internal The payload of a send or write. */
export function dataArg(data: Uint8Array, what: string): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${what}: data must be a Uint8Array`);
  return data;
}

/** ICMP (RFC 792) or ICMPv6 (RFC 4443) type/code names for error callbacks. */
export function icmpName(type: number, code: number, v6 = false): string {
  if (v6) {
    if (type === 1) {
      return ["no route to destination", "administratively prohibited", "beyond scope of source address",
        "address unreachable", "port unreachable"][code] ?? `destination unreachable (code ${code})`;
    }
    if (type === 2) return "packet too big";
    if (type === 3) return code === 0 ? "hop limit exceeded in transit" : "fragment reassembly time exceeded";
    if (type === 4) return "parameter problem";
    return `ICMPv6 type ${type} code ${code}`;
  }
  if (type === 3) {
    return ["net unreachable", "host unreachable", "protocol unreachable", "port unreachable",
      "fragmentation needed", "source route failed"][code] ?? `destination unreachable (code ${code})`;
  }
  if (type === 11) return code === 0 ? "time exceeded in transit" : "fragment reassembly time exceeded";
  if (type === 12) return "parameter problem";
  return `ICMP type ${type} code ${code}`;
}

/**
 * A pcb's family (ABI `ip_type`): 4, 6 (IPv6, in cores built with it), or 46
 * for both (a dual-stack pcb, lwIP's IPADDR_TYPE_ANY).
 */
export type IpType = 4 | 6 | 46;

/** @internal The ABI ip_type of an option (a RangeError for anything else). */
export function ipTypeArg(t: IpType | undefined, what: string): number {
  if (t === undefined) return 4;
  if (t !== 4 && t !== 6 && t !== 46) throw new RangeError(`${what}: ipType must be 4, 6 or 46, not ${String(t)}`);
  return t;
}

/**
 * tcp_recved that ignores a pcb the core has just dropped: between the core
 * freeing it (RST, abort) and its ERR event reaching JS, calls on the handle
 * fail with ERR_ARG; the window no longer matters then. A pcb closed here is
 * ignored too.
 */
export function recvedSafe(pcb: TcpPcbLike, n: number): void {
  if (pcb.handle === 0) return;
  try {
    pcb.recved(n);
  } catch (e) {
    if (!(e instanceof AsipError) || e.err !== ERR.ERR_ARG) throw e;
  }
}
