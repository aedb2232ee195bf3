/**
 * lwIP's raw API from JavaScript: thin, callback-based, for users who want
 * every last bit of speed (issue 5 item 2).
 *
 * ```ts
 * const raw = rawApi(stack);              // one RawApi per stack (stack.raw)
 * const u = raw.udp.new();
 * u.bind("0.0.0.0", 7);
 * u.recv((data, addr, port) => u.sendto(data, addr, port));   // UDP echo
 * ```
 *
 * Names follow lwIP (udp_new → `raw.udp.new()`, udp_bind → `pcb.bind()`, …).
 * Each pcb is a handle into the core (assembly/abi/udp.ts, raw.ts, tcp.ts);
 * received data arrives through the stack's event ring (events 30/31 UDP,
 * 40 raw IP, 50–69 TCP) and is dispatched here by handle.
 *
 * Buffer lifetime: a `Uint8Array` handed to a callback is a view over the
 * core's memory (or over a scratch buffer when the packet is a pbuf chain).
 * It is valid ONLY during the callback: copy it (`data.slice()`) to keep it.
 *
 * Errors: a failure the core reports (err_t) throws an {@link AsipError}
 * whose `code` is the err_t name ("ERR_USE", "ERR_MEM", …). Misuse — a bad
 * address, a port out of range, a pcb used after remove()/close() — throws a
 * TypeError/RangeError/Error with a plain message.
 *
 * Sending is zero-copy as far as JS allows: the core hands out a pbuf with
 * header room (udp_tx_buffer / raw_tx_buffer), the bytes are written straight
 * into it, and the core builds the headers in place. `sendWith(len, fill, …)`
 * lets the caller write into that buffer itself and skip even its own copy.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { EV, EV_FLAG_IP6, PBUF_NEXT, PBUF_PAYLOAD, PBUF_TOT_LEN, PBUF_LEN } from "../abi.js";
import { IpAddress, formatCore4 } from "../ip-address.js";
import { UdpApi } from "./raw-udp.js";
import { RawIpApi } from "./raw-ip.js";
import { TcpApi } from "./raw-tcp.js";
import { EV_TCP, type Dispatch, type TcpPcbLike, type RawApiLike } from "./raw-types.js";

export * from "./raw-args.js";
export * from "./raw-types.js";
export * from "./raw-udp.js";
export * from "./raw-ip.js";
export * from "./raw-tcp.js";

/**
 * The raw API of one stack. Registers the stack's handlers for the UDP, raw
 * IP and TCP event types (one handler per type per stack: do not combine
 * with other code that calls `stack.on` for 30, 31, 40 or 50–69).
 */
export class RawApi implements RawApiLike {
  readonly stack: Stack;
  /** UDP pcbs: lwIP udp_new & co. */
  readonly udp: UdpApi;
  /** Raw IP pcbs: lwIP raw_new & co. */
  readonly ip: RawIpApi;
  /** TCP pcbs: lwIP tcp_new & co. */
  readonly tcp: TcpApi;
  /**
   * @internal UDP and raw pcbs by handle. Handles are generation-tagged
   * (assembly/abi/handles.ts): events still queued for a removed pcb name a
   * handle that is not here, even when the core reuses the pcb at once.
   */
  readonly pcbs = new Map<number, Dispatch>();
  /** @internal TCP pcbs by handle (generation-tagged as well) */
  readonly tcpPcbs = new Map<number, Dispatch>();
  private scratchBuf = new Uint8Array(4096);
  // Text of the last two IPv4 addresses events carried (a datagram's source
  // and destination alternate): received datagrams make no garbage for them.
  private addrCacheU32 = -1;
  private addrCacheStr = "";
  private addrCacheU32b = -1;
  private addrCacheStrb = "";

  constructor(stack: Stack) {
    this.stack = stack;
    this.udp = new UdpApi(this);
    this.ip = new RawIpApi(this);
    this.tcp = new TcpApi(this);
    for (const type of [EV.UDP_RECV, EV.UDP_ERR, EV.RAW_RECV]) {
      stack.on(type, (h, p, a, b, c, d, e, index, flags) => this.dispatch(type, h, p, a, b, c, d, e, index, flags));
    }
    for (let type = EV_TCP.ACCEPT; type <= EV_TCP.POLL; type++) {
      const t = type;
      stack.on(t, (h, p, a, b, c, d, e, index, flags) => {
        const pcb = this.tcpPcbs.get(h);
        if (!pcb) {
          // A connection nobody will ever accept (its listener was closed in JS): drop it.
          if (t === EV_TCP.ACCEPT) this.stack.guard(() => this.stack.ex.tcp_host_abort(a));
          return;
        }
        try {
          pcb.ev(t, p, a, b, c, d, e, index, flags);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      });
    }
  }

  private dispatch(type: number, h: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number): void {
    const pcb = this.pcbs.get(h);
    if (!pcb) return;
    try {
      pcb.ev(type, p, a, b, c, d, e, index, flags);
    } catch (err) {
      // A throwing callback must not leave the ring half-drained: report it
      // asynchronously, like an uncaught exception in an event listener.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** @internal Forgets a handle; its events still queued are dropped (the core never gives it out again). */
  forget(h: number): void {
    this.pcbs.delete(h);
  }

  /** @internal */
  mem32(): Uint32Array {
    return this.stack.mem32();
  }

  /**
   * @internal A view of the payload of pbuf `p` (a copy into scratch when it
   * is a chain). Valid until the next call.
   */
  view(p: number): Uint8Array {
    const u32 = this.stack.mem32();
    const u8 = this.stack.mem();
    const w = p >>> 2;
    const payload = u32[w + (PBUF_PAYLOAD >>> 2)];
    const len = u32[w + (PBUF_LEN >>> 2)];
    const tot = u32[w + (PBUF_TOT_LEN >>> 2)];
    if (len === tot) return u8.subarray(payload, payload + len);
    if (this.scratchBuf.length < tot) this.scratchBuf = new Uint8Array(Math.max(tot, this.scratchBuf.length * 2));
    let off = 0;
    for (let q = p; q !== 0 && off < tot; q = u32[(q >>> 2) + (PBUF_NEXT >>> 2)]) {
      const pl = u32[(q >>> 2) + (PBUF_PAYLOAD >>> 2)];
      const l = u32[(q >>> 2) + (PBUF_LEN >>> 2)];
      this.scratchBuf.set(u8.subarray(pl, pl + l), off);
      off += l;
    }
    return this.scratchBuf.subarray(0, off);
  }

  /**
   * @internal An event's address argument as text: an IPv4 address inline,
   * with a two-entry cache (a stream of datagrams between two peers), or, when
   * the record has EV_FLAG_IP6, the ip_addr it points at.
   */
  addr(v: number, flags: number): string {
    if ((flags & EV_FLAG_IP6) !== 0) return this.stack.readAddr(v).toString();
    if (v === this.addrCacheU32) return this.addrCacheStr;
    if (v === this.addrCacheU32b) return this.addrCacheStrb;
    this.addrCacheU32b = this.addrCacheU32;
    this.addrCacheStrb = this.addrCacheStr;
    this.addrCacheU32 = v;
    this.addrCacheStr = formatCore4(v);
    return this.addrCacheStr;
  }

  /** @internal An event's address argument as an IpAddress (see {@link addr}). */
  address(v: number, flags: number): IpAddress {
    return (flags & EV_FLAG_IP6) !== 0 ? this.stack.readAddr(v) : IpAddress.fromCore4(v);
  }

  /** @internal Writes `data` to the payload of fresh pbuf `p`. */
  fill(p: number, data: Uint8Array): void {
    const payload = this.stack.mem32()[(p >>> 2) + (PBUF_PAYLOAD >>> 2)];
    this.stack.mem().set(data, payload);
  }

  /** @internal A writable view of the payload of fresh pbuf `p` (contiguous: PBUF_RAM). */
  payload(p: number, len: number): Uint8Array {
    const payload = this.stack.mem32()[(p >>> 2) + (PBUF_PAYLOAD >>> 2)];
    return this.stack.mem().subarray(payload, payload + len);
  }
}

/**
 * Binds and listens the way a Linux TCP listener does (TcpPcbLike.listenExclusive;
 * raw-tcp.ts explains the SO_REUSEADDR dance, a Worker's pcb does it in the core).
 * Throws AsipError (ERR_USE when the port is taken).
 */
export function tcpListenExclusive(pcb: TcpPcbLike, ip: string, port: number, backlog: number, exclusive: boolean): void {
  pcb.listenExclusive(ip, port, backlog, exclusive);
}

const apis = new WeakMap<Stack, RawApi>();

/** The stack's raw API, in-thread (created on first use; what `stack.raw` returns). */
export function rawApi(stack: Stack): RawApi {
  let r = apis.get(stack);
  if (!r) {
    r = new RawApi(stack);
    apis.set(stack, r);
  }
  return r;
}

/**
 * The raw API net, dgram and streams run on: the stack's own, or, for the
 * view of a core in a Worker (bindings/worker/client.ts), its remote pcbs.
 */
export function rawApiFor(stack: Stack): RawApiLike {
  const remote = (stack as { remoteRaw?: RawApiLike }).remoteRaw;
  return remote ?? rawApi(stack);
}
