/**
 * WHATWG streams over asip, shaped after the WICG Direct Sockets API
 * (UDPSocket / TCPSocket / TCPServerSocket): an object whose `opened`
 * Promise yields `{ readable, writable, … }` and whose `closed` Promise
 * settles when it is gone. Works in browsers and Node (no node: imports).
 *
 * ```ts
 * const u = stack.streams.udp({ localPort: 7 });
 * const { readable, writable } = await u.opened;
 * const w = writable.getWriter();
 * for await (const m of readable) await w.write({ data: m.data, remoteAddress: m.remoteAddress, remotePort: m.remotePort });
 * ```
 *
 * UDP: `readable` is a ReadableStream of {@link UDPMessage} (one per
 * datagram; `data` is a copy). Its queue holds `readableHighWaterMark`
 * datagrams (default 64); past that, datagrams are dropped and counted in
 * `dropped` — UDP's own answer to a slow reader. `writable` takes
 * UDPMessages (`remoteAddress`/`remotePort` may be omitted when connected
 * with `remoteAddress`/`remotePort` options).
 *
 * An AbortSignal (`signal` option) closes the socket and errors both streams
 * with the signal's reason.
 *
 * TCP (connect/listen with byte streams and backpressure) arrives with the
 * core's TCP host exports; until then `connect`/`listen` reject with an
 * Error saying so.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError } from "../abi.js";
import { rawApi, addrArg, portArg, type UdpPcb } from "./raw.js";

/** A datagram (Direct Sockets' UDPMessage). */
export interface UDPMessage {
  data: Uint8Array | ArrayBuffer | ArrayBufferView;
  remoteAddress?: string;
  remotePort?: number;
}

/** A received datagram. */
export interface ReceivedUDPMessage {
  data: Uint8Array;
  remoteAddress: string;
  remotePort: number;
}

export interface UDPSocketOptions {
  /** Local address to bind (default "0.0.0.0"). */
  localAddress?: string;
  /** Local port (default 0: ephemeral). */
  localPort?: number;
  /** "Connected" mode: the only peer, and the default destination. */
  remoteAddress?: string;
  remotePort?: number;
  /** Datagrams the readable side queues before dropping (default 64). */
  readableHighWaterMark?: number;
  /** Allow sending to broadcast addresses. */
  broadcast?: boolean;
  signal?: AbortSignal;
}

export interface UDPSocketOpenInfo {
  readable: ReadableStream<ReceivedUDPMessage>;
  writable: WritableStream<UDPMessage>;
  localAddress: string;
  localPort: number;
  remoteAddress?: string;
  remotePort?: number;
}

function bytesOf(d: UDPMessage["data"]): Uint8Array {
  if (d instanceof Uint8Array) return d;
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  throw new TypeError("UDPMessage.data must be a BufferSource");
}

/** A UDP socket as a pair of streams. */
export class UDPSocket {
  readonly opened: Promise<UDPSocketOpenInfo>;
  readonly closed: Promise<void>;
  /** Datagrams dropped because the reader fell behind. */
  dropped = 0;
  private pcb: UdpPcb | undefined;
  private rctl: ReadableStreamDefaultController<ReceivedUDPMessage> | undefined;
  private closedResolve!: () => void;
  private closedReject!: (e: unknown) => void;
  private done = false;
  private readableOpen = true;
  private writableOpen = true;

  /** @internal */
  constructor(api: StreamsApi, opts: UDPSocketOptions = {}) {
    this.closed = new Promise<void>((res, rej) => {
      this.closedResolve = res;
      this.closedReject = rej;
    });
    this.closed.catch(() => {});
    this.opened = new Promise<UDPSocketOpenInfo>((resolve, reject) => {
      try {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const local = opts.localAddress ?? "0.0.0.0";
        addrArg(local, "UDPSocket");
        const lport = portArg(opts.localPort ?? 0, "UDPSocket");
        const connected = opts.remoteAddress !== undefined;
        if (connected) {
          addrArg(opts.remoteAddress!, "UDPSocket");
          portArg(opts.remotePort ?? -1, "UDPSocket", true);
        }
        const pcb = api.raw.udp.new();
        try {
          pcb.bind(local, lport);
          if (opts.broadcast) pcb.broadcast = true;
          if (connected) pcb.connect(opts.remoteAddress!, opts.remotePort!);
        } catch (e) {
          pcb.remove();
          throw e;
        }
        this.pcb = pcb;
        const hwm = opts.readableHighWaterMark ?? 64;
        const readable = new ReadableStream<ReceivedUDPMessage>({
          start: (c) => {
            this.rctl = c;
          },
          cancel: () => {
            this.readableOpen = false;
            this.maybeClose();
          },
        }, new CountQueuingStrategy({ highWaterMark: hwm }));
        pcb.recv((data, addr, port) => {
          const c = this.rctl;
          if (!c || !this.readableOpen) return;
          if ((c.desiredSize ?? 0) <= 0) {
            this.dropped++;
            return;
          }
          c.enqueue({ data: data.slice(), remoteAddress: addr, remotePort: port });
        });
        const writable = new WritableStream<UDPMessage>({
          write: (m) => {
            const p = this.pcb;
            if (!p) throw new Error("UDPSocket is closed");
            if (!m || typeof m !== "object") throw new TypeError("write a UDPMessage { data, remoteAddress?, remotePort? }");
            const data = bytesOf(m.data);
            if (m.remoteAddress !== undefined || m.remotePort !== undefined) {
              p.sendto(data, m.remoteAddress ?? opts.remoteAddress ?? "", m.remotePort ?? opts.remotePort ?? -1);
            } else if (connected) {
              p.send(data);
            } else {
              throw new TypeError("UDPMessage needs remoteAddress and remotePort (the socket is not connected)");
            }
          },
          close: () => {
            this.writableOpen = false;
            this.maybeClose();
          },
          abort: () => {
            this.writableOpen = false;
            this.maybeClose();
          },
        });
        if (opts.signal) {
          const sig = opts.signal;
          sig.addEventListener("abort", () => this.abort(sig.reason), { once: true });
        }
        resolve({
          readable, writable, localAddress: pcb.localAddress, localPort: pcb.localPort,
          ...(connected ? { remoteAddress: opts.remoteAddress, remotePort: opts.remotePort } : {}),
        });
      } catch (e) {
        this.done = true;
        reject(e);
        this.closedReject(e);
      }
    });
    this.opened.catch(() => {});
  }

  private release(): void {
    if (this.pcb) {
      const p = this.pcb;
      this.pcb = undefined;
      try { p.remove(); } catch { /* stack gone */ }
    }
  }

  /** Both sides closed by the application: the socket goes. */
  private maybeClose(): void {
    if (this.readableOpen || this.writableOpen || this.done) return;
    this.done = true;
    this.release();
    this.closedResolve();
  }

  /** Closes the socket: the readable side ends, the writable side errors. */
  async close(): Promise<void> {
    if (this.done) return this.closed;
    this.done = true;
    this.release();
    try { this.rctl?.close(); } catch { /* already closed/errored */ }
    this.closedResolve();
    return this.closed;
  }

  private abort(reason: unknown): void {
    if (this.done) return;
    this.done = true;
    this.release();
    try { this.rctl?.error(reason); } catch { /* already errored */ }
    this.closedReject(reason);
  }
}

/** `stack.streams`: WHATWG-stream sockets of one stack. */
export class StreamsApi {
  /** @internal */ readonly raw;

  constructor(readonly stack: Stack) {
    this.raw = rawApi(stack);
  }

  /** A UDP socket (see {@link UDPSocket}). */
  udp(opts: UDPSocketOptions = {}): UDPSocket {
    return new UDPSocket(this, opts);
  }

  /** TCP connect: needs the core's TCP host exports (not in this build yet). */
  connect(_remoteAddress: string, _remotePort: number, _opts: { signal?: AbortSignal } = {}): never {
    throw new AsipError(-6, "streams.connect: TCP is not available in this core yet (assembly/abi/tcp.ts)");
  }

  /** TCP listen: needs the core's TCP host exports (not in this build yet). */
  listen(_opts: { localPort?: number } = {}): never {
    throw new AsipError(-6, "streams.listen: TCP is not available in this core yet (assembly/abi/tcp.ts)");
  }
}

const apis = new WeakMap<Stack, StreamsApi>();

/** The stack's WHATWG streams API (what `stack.streams` returns). */
export function streamsApi(stack: Stack): StreamsApi {
  let s = apis.get(stack);
  if (!s) {
    s = new StreamsApi(stack);
    apis.set(stack, s);
  }
  return s;
}
