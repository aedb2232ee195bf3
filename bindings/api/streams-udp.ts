/**
 * UDPSocket of the WHATWG streams API (bindings/api/streams.ts): datagrams as
 * a ReadableStream and a WritableStream of UDPMessages, over a raw-API UDP pcb
 * (in-thread or in a Worker: UdpPcbLike).
 *
 * @module
 */
import type { StreamsApi } from "./streams.js";
import { addrArg, portArg, type UdpPcbLike } from "./raw.js";
import { socketAddress, coreAddress, pcbPlan, connectIpType } from "./family.js";
import type { IpAddress } from "../ip-address.js";

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
  /**
   * Local address to bind (default "0.0.0.0", or "::" when `remoteAddress`
   * is IPv6). An IPv6 socket ("::", an IPv6 remote) is dual-stack unless
   * `ipv6Only`: it reaches IPv4 peers as ::ffff:a.b.c.d and names them so.
   */
  localAddress?: string;
  /** With localAddress "::": IPv6 only. */
  ipv6Only?: boolean;
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
  private pcb: UdpPcbLike | undefined;
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
        const connected = opts.remoteAddress !== undefined;
        let remote: IpAddress | undefined;
        if (connected) {
          remote = addrArg(opts.remoteAddress!, "UDPSocket");
          portArg(opts.remotePort ?? -1, "UDPSocket", true);
        }
        const local = opts.localAddress ?? (remote?.family === 6 ? "::" : "0.0.0.0");
        const la = addrArg(local, "UDPSocket");
        const lport = portArg(opts.localPort ?? 0, "UDPSocket");
        const fam = la.family;
        const plan = pcbPlan(fam, la, !!opts.ipv6Only);
        if (!plan) throw new TypeError(`UDPSocket: cannot bind ${local}${opts.ipv6Only ? " with ipv6Only" : ""}`);
        if (remote && connectIpType(fam, remote, !!opts.ipv6Only) === undefined) {
          throw new TypeError(`UDPSocket: a socket bound to ${local} cannot reach ${opts.remoteAddress}`);
        }
        const pcb = api.raw.udp.new({ ipType: plan.ipType });
        try {
          pcb.bind(plan.ip, lport);
          if (opts.broadcast) pcb.broadcast = true;
          if (connected) pcb.connect(coreAddress(remote!).toString(), opts.remotePort!);
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
          c.enqueue({ data: data.slice(), remoteAddress: socketAddress(addr, fam), remotePort: port });
        });
        const writable = new WritableStream<UDPMessage>({
          write: (m) => {
            const p = this.pcb;
            if (!p) throw new Error("UDPSocket is closed");
            if (!m || typeof m !== "object") throw new TypeError("write a UDPMessage { data, remoteAddress?, remotePort? }");
            const data = bytesOf(m.data);
            if (m.remoteAddress !== undefined || m.remotePort !== undefined) {
              const to = addrArg(m.remoteAddress ?? opts.remoteAddress ?? "", "UDPSocket.write");
              p.sendto(data, coreAddress(to).toString(), m.remotePort ?? opts.remotePort ?? -1);
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
        const info = (): UDPSocketOpenInfo => ({
          readable, writable, localAddress: socketAddress(pcb.localAddress, fam), localPort: pcb.localPort,
          ...(connected ? { remoteAddress: opts.remoteAddress, remotePort: opts.remotePort } : {}),
        });
        const ready = pcb.ready;
        if (!ready) resolve(info());
        else {
          // A core in a Worker: the bind ran there; its answer is the port or the error.
          ready.then(() => resolve(info()), (e) => {
            this.pcb = undefined;
            this.done = true;
            reject(e);
            this.closedReject(e);
          });
        }
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
