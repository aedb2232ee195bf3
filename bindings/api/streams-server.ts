/**
 * TCPServerSocket of the WHATWG streams API (bindings/api/streams.ts): a
 * listener whose readable yields accepted TCPSockets, itself an async
 * iterable of them.
 *
 * @module
 */
import type { StreamsApi } from "./streams.js";
import { addrArg, portArg, type TcpPcbLike } from "./raw.js";
import { pcbPlan } from "./family.js";
import { TCPSocket, type TCPSocketOptions } from "./streams-tcp.js";

export interface TCPServerSocketOptions {
  /**
   * Default "0.0.0.0". "::" (on a core with IPv6) is dual-stack unless
   * `ipv6Only`: IPv4 clients arrive with ::ffff:a.b.c.d remote addresses.
   */
  localAddress?: string;
  /** With localAddress "::": IPv6 only. */
  ipv6Only?: boolean;
  /** 0 or none: ephemeral. */
  localPort?: number;
  /** Pending connections (1..255, default 128). */
  backlog?: number;
  /** Options of each accepted connection. */
  connection?: Omit<TCPSocketOptions, "signal" | "localAddress" | "localPort">;
  signal?: AbortSignal;
}

export interface TCPServerSocketOpenInfo {
  readable: ReadableStream<TCPSocket>;
  localAddress: string;
  localPort: number;
}

/** A TCP listener whose accepted connections are a stream (Direct Sockets' TCPServerSocket). */
export class TCPServerSocket implements AsyncIterable<TCPSocket> {
  readonly opened: Promise<TCPServerSocketOpenInfo>;
  readonly closed: Promise<void>;
  private pcb: TcpPcbLike | undefined;
  private ctl: ReadableStreamDefaultController<TCPSocket> | undefined;
  private readable: ReadableStream<TCPSocket> | undefined;
  private closedResolve!: () => void;

  /** @internal */
  constructor(api: StreamsApi, opts: TCPServerSocketOptions = {}) {
    this.closed = new Promise<void>((res) => (this.closedResolve = res));
    this.opened = new Promise<TCPServerSocketOpenInfo>((resolve, reject) => {
      try {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const la = addrArg(opts.localAddress ?? "0.0.0.0", "TCPServerSocket");
        const local = la.toString();
        const lport = portArg(opts.localPort ?? 0, "TCPServerSocket");
        const backlog = opts.backlog ?? 128;
        const plan = pcbPlan(la.family, la, !!opts.ipv6Only);
        if (!plan) throw new TypeError(`TCPServerSocket: cannot listen on ${local}${opts.ipv6Only ? " with ipv6Only" : ""}`);
        const pcb = api.raw.tcp.new(plan.ipType);
        try {
          pcb.bind(plan.ip, lport);
          pcb.listen(Math.min(255, Math.max(1, backlog)));
        } catch (e) {
          try { pcb.close(); } catch { pcb.abort(); }
          throw e;
        }
        this.pcb = pcb;
        const readable = new ReadableStream<TCPSocket>({
          start: (c) => {
            this.ctl = c;
          },
          cancel: () => this.close(),
        }, new CountQueuingStrategy({ highWaterMark: Math.min(255, Math.max(1, backlog)) }));
        this.readable = readable;
        pcb.accept((child) => {
          const c = this.ctl;
          if (!c || (c.desiredSize ?? 0) <= 0) {
            // Nobody takes connections (the queue is as deep as the backlog): refuse.
            child.abort();
            return;
          }
          c.enqueue(new TCPSocket(api, child.remoteAddress, child.remotePort, opts.connection ?? {}, child, la.family));
        });
        if (opts.signal) {
          const sig = opts.signal;
          sig.addEventListener("abort", () => this.close(), { once: true });
        }
        const ready = pcb.ready;
        if (!ready) resolve({ readable, localAddress: local, localPort: pcb.localPort });
        else {
          // A core in a Worker: the bind ran there; its answer is the port or the error.
          ready.then((r) => resolve({ readable, localAddress: local, localPort: r.localPort }), (e) => {
            this.pcb = undefined;
            this.ctl = undefined;
            this.closedResolve();
            reject(e);
          });
        }
      } catch (e) {
        this.closedResolve();
        reject(e);
      }
    });
    this.opened.catch(() => {});
  }

  /** Stops listening; the readable of connections ends. Accepted connections stay open. */
  async close(): Promise<void> {
    const p = this.pcb;
    if (p) {
      this.pcb = undefined;
      try { p.close(); } catch { /* gone */ }
      try { this.ctl?.close(); } catch { /* closed */ }
      this.ctl = undefined;
      this.closedResolve();
    }
    return this.closed;
  }

  /** `for await (const conn of server)`: the accepted connections. */
  async *[Symbol.asyncIterator](): AsyncIterator<TCPSocket> {
    await this.opened;
    const reader = this.readable!.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
}
