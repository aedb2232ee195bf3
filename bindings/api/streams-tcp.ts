/**
 * TCPSocket of the WHATWG streams API (bindings/api/streams.ts): a TCP
 * connection as a byte ReadableStream and a WritableStream, over a raw-API
 * TCP pcb (in-thread or in a Worker: TcpPcbLike), with backpressure both
 * ways. The streams' fast path is streams-tcp-io.ts.
 *
 * @module
 */
import { AsipError } from "../abi.js";
import type { StreamsApi } from "./streams.js";
import { addrArg, portArg, recvedSafe, type TcpPcbLike } from "./raw.js";
import { socketAddress, coreAddress, pcbPlan, connectIpType } from "./family.js";
import {
  RESOLVED, doneResult, TcpReader, TcpIterator, TcpReadable, TcpWriter, TcpWritable, type WaitingRead,
} from "./streams-tcp-io.js";

export interface TCPSocketOptions {
  /** Nagle off (Direct Sockets' noDelay). */
  noDelay?: boolean;
  /** Keepalive probes after this many ms idle (Direct Sockets' keepAliveDelay). */
  keepAliveDelay?: number;
  /** Bytes the readable side queues before the window closes (default 64 KiB). */
  readableHighWaterMark?: number;
  /** Bytes the writable side queues (beyond what the core's send buffer took) before `writer.ready` waits (default 64 KiB). */
  writableHighWaterMark?: number;
  localAddress?: string;
  localPort?: number;
  signal?: AbortSignal;
}

export interface TCPSocketOpenInfo {
  readable: ReadableStream<Uint8Array>;
  /** Takes any BufferSource (typed Uint8Array so readable.pipeTo(writable) type-checks). */
  writable: WritableStream<Uint8Array>;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

const TCP_HWM = 64 * 1024;

/**
 * Received bytes are handed to the application in chunks of at most this
 * many: larger fresh buffers cost more than they save (malloc serves big
 * blocks with mmap, and every one is then page-faulted in).
 */
const RX_BATCH_MAX = 64 * 1024;

/** A waiting read has autoRecved on when the last chunk was at most this big (a few segments). */
const AUTO_RECVED_MAX = 8 * 1024;

/** A TCP connection as a pair of byte streams (Direct Sockets' TCPSocket). */
export class TCPSocket {
  readonly opened: Promise<TCPSocketOpenInfo>;
  readonly closed: Promise<void>;
  private pcb: TcpPcbLike | undefined;
  /** 6 for a connection to an IPv6 or IPv4-mapped address, or accepted by an IPv6 listener: IPv4 ends read as ::ffff:a.b.c.d. */
  private fam: 4 | 6 = 4;
  private rctl: ReadableByteStreamController | undefined;
  private closedResolve!: () => void;
  private closedReject!: (e: unknown) => void;
  private openedResolve!: (i: TCPSocketOpenInfo) => void;
  private openedReject!: (e: unknown) => void;
  private done = false;
  private readableOpen = true;
  private writableOpen = true;
  /** Bytes received (staged or enqueued) but not yet given back to the window. */
  private unconsumed = 0;
  /**
   * Bytes received during the current drain of the core's event ring,
   * copied out of core memory (the views are valid only during the
   * callback) and handed to the stream as one chunk when the drain is over
   * (a microtask): one enqueue, one read and one tcp_recved per drain
   * instead of one per segment.
   */
  private stage: Uint8Array | undefined;
  private staged = 0;
  private flushQueued = false;
  /** The write waiting for room in the send queue. */
  private wq: { data: Uint8Array; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private readonly hwm: number;
  private readonly whwm: number;
  private readonly api: StreamsApi;
  /** @internal The reader that getReader() handed out and that holds the lock (fast path). */
  reader: TcpReader | undefined;
  /** Reads waiting for bytes in the socket rather than in the controller (fast path). */
  private reads: WaitingRead[] = [];
  /** @internal The writer that getWriter() handed out and that holds the lock (fast path). */
  writer: TcpWriter | undefined;
  /** @internal close() was asked of the writable: no more fast writes. */
  wclosing = false;
  private wctl: WritableStreamDefaultController | undefined;
  /** In the recv callback; `autoOff`: autoRecved goes false when it returns. */
  private inData = false;
  private autoOff = false;
  /** Bytes of the last chunk a waiting read took (see fastRead). */
  private lastFlush = 0;

  /** @internal `accepted`: a connection from a listener. */
  constructor(api: StreamsApi, remoteAddress: string, remotePort: number, opts: TCPSocketOptions = {}, accepted?: TcpPcbLike, family: 4 | 6 = 4) {
    this.fam = family;
    this.api = api;
    this.hwm = opts.readableHighWaterMark ?? TCP_HWM;
    this.whwm = opts.writableHighWaterMark ?? TCP_HWM;
    this.closed = new Promise<void>((res, rej) => {
      this.closedResolve = res;
      this.closedReject = rej;
    });
    this.closed.catch(() => {});
    this.opened = new Promise<TCPSocketOpenInfo>((res, rej) => {
      this.openedResolve = res;
      this.openedReject = rej;
    });
    this.opened.catch(() => {});
    try {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (accepted) {
        this.pcb = accepted;
        this.install(accepted, opts);
        this.open(opts);
      } else {
        // An IPv6 remote makes an IPv6 socket; an IPv4-mapped one reaches its IPv4 address (bindings/api/family.ts).
        const dst = addrArg(remoteAddress, "TCPSocket");
        portArg(remotePort, "TCPSocket", true);
        this.fam = dst.family;
        const ipType = connectIpType(dst.family, dst, false)!;
        let local: string | undefined;
        if (opts.localAddress !== undefined || opts.localPort !== undefined) {
          const la = addrArg(opts.localAddress ?? (dst.family === 6 ? "::" : "0.0.0.0"), "TCPSocket");
          const plan = pcbPlan(dst.family, la, ipType === 6);
          if (!plan || (ipType === 46 && plan.ipType !== 46)) throw new TypeError(`TCPSocket: local address ${opts.localAddress} cannot reach ${remoteAddress}`);
          local = ipType === 46 && plan.ip === "::" ? "0.0.0.0" : plan.ip;
        }
        const pcb = api.raw.tcp.new(ipType);
        this.pcb = pcb;
        try {
          if (local !== undefined) pcb.bind(local, portArg(opts.localPort ?? 0, "TCPSocket"));
          this.install(pcb, opts);
          pcb.connect(coreAddress(dst).toString(), remotePort, (err) => {
            if (!err) this.open(opts);
          });
        } catch (e) {
          this.pcb = undefined;
          pcb.abort();
          throw e;
        }
      }
      if (opts.signal) {
        const sig = opts.signal;
        sig.addEventListener("abort", () => this.fail(sig.reason, true), { once: true });
      }
    } catch (e) {
      this.done = true;
      this.openedReject(e);
      this.closedReject(e);
    }
  }

  private install(pcb: TcpPcbLike, opts: TCPSocketOptions): void {
    pcb.autoRecved = false;
    pcb.recv((data) => this.onData(data));
    pcb.sent(() => this.pump());
    pcb.err((e) => {
      this.pcb = undefined;
      this.fail(e, false);
    });
    void opts;
  }

  private open(opts: TCPSocketOptions): void {
    const pcb = this.pcb!;
    if (opts.noDelay) pcb.nagle = false;
    if (opts.keepAliveDelay !== undefined) pcb.keepalive(true, Math.max(1000, opts.keepAliveDelay));
    const readable = new TcpReadable({
      type: "bytes",
      start: (c) => {
        this.rctl = c;
      },
      pull: () => {
        // The reader took bytes: give them back to the window.
        const n = this.unconsumed;
        if (n !== 0 && this.pcb) {
          this.unconsumed = 0;
          recvedSafe(this.pcb, n);
        }
      },
      cancel: () => {
        this.readableOpen = false;
        this.rctl = undefined;
        this.dropStage();
        const p = this.pcb;
        if (p && this.unconsumed) p.recved(this.unconsumed);
        this.unconsumed = 0;
        this.endReads();
        this.maybeClose();
      },
    }, { highWaterMark: this.hwm }, this);
    const writable = new TcpWritable({
      start: (c) => {
        this.wctl = c;
      },
      write: (c) => {
        const pcb = this.pcb;
        if (!pcb) throw new Error("TCPSocket is closed");
        const data = bytesOfChunk(c);
        if (!data) throw new TypeError("TCPSocket: write a BufferSource");
        // The usual case: the core's send buffer takes it all now, and the
        // write completes without a Promise of its own.
        let n: number;
        try {
          n = pcb.write(data);
        } catch (e) {
          // ERR_ARG: the core dropped the pcb and its ERR event is on the way (fail() settles the write).
          if (!(e instanceof AsipError) || e.code !== "ERR_ARG") throw e;
          n = 0;
        }
        if (n === data.length) return;
        return new Promise<void>((resolve, reject) => {
          this.wq = { data: data.subarray(n), resolve, reject };
        });
      },
      close: () => {
        this.writableOpen = false;
        const p = this.pcb;
        if (p) {
          try { p.shutdown(false, true); } catch { /* gone */ }
        }
        this.maybeClose();
      },
      abort: (reason) => {
        this.writableOpen = false;
        this.fail(reason, true);
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: this.whwm }), this);
    this.openedResolve({
      readable, writable, remoteAddress: socketAddress(pcb.remoteAddress, this.fam), remotePort: pcb.remotePort,
      localAddress: socketAddress(pcb.localAddress, this.fam), localPort: pcb.localPort,
    });
  }

  /**
   * @internal A read of `reader` (for `iter`, an async iterator) that waits
   * in the socket, or undefined when the standard read must run: the stream
   * is not readable, or bytes are queued in the controller.
   */
  fastRead(reader: TcpReader, iter: TcpIterator | undefined): Promise<ReadableStreamReadResult<Uint8Array>> | undefined {
    const c = this.rctl;
    if (reader !== this.reader || !c || !this.readableOpen || this.done || c.desiredSize !== this.hwm) return undefined;
    if (iter) iter.waiting++;
    // Nothing unread: what arrives next is taken at once, so the raw layer may
    // reopen the window as it delivers (no tcp_recved call, no extra drain) —
    // unless drains bring many segments (bulk): one tcp_recved per drain is
    // then cheaper than one per segment.
    if (this.unconsumed === 0 && this.pcb && this.lastFlush <= AUTO_RECVED_MAX) this.pcb.autoRecved = true;
    return new Promise<ReadableStreamReadResult<Uint8Array>>((resolve, reject) => {
      this.reads.push({ resolve, reject, iter });
    });
  }

  /** Takes every waiting read off the fast path (none wait afterwards). */
  private takeReads(): WaitingRead[] {
    const rs = this.reads;
    if (rs.length !== 0) {
      this.reads = [];
      this.readsGone();
    }
    return rs;
  }

  /** No read waits any more: received bytes count as unread until the reader takes them. */
  private readsGone(): void {
    // Not during a recv callback: a remote pcb (bindings/worker/remote-raw.ts)
    // reads autoRecved after the callback, for the bytes it delivered.
    if (this.inData) this.autoOff = true;
    else if (this.pcb) this.pcb.autoRecved = false;
  }

  /**
   * @internal The new default reader takes the fast path, unless reads of
   * a released BYOB reader are still pending in the controller (they take
   * bytes first, the standard way).
   */
  adoptReader(r: TcpReader): void {
    const c = this.rctl;
    this.reader = c && c.byobRequest ? undefined : r;
  }

  /** @internal The reader lets go: its waiting reads become standard ones, which the release rejects. */
  releaseReader(reader: TcpReader): void {
    if (reader !== this.reader) return;
    this.reader = undefined;
    for (const r of this.takeReads()) {
      if (r.iter) r.iter.waiting--;
      reader.slowRead().then(r.resolve, r.reject);
    }
  }

  /** The stream closed (FIN, close(), cancel): waiting reads are done. */
  private endReads(): void {
    for (const r of this.takeReads()) {
      const it = r.iter;
      if (it) {
        it.waiting--;
        if (!it.done) it.finish();
      }
      r.resolve(doneResult());
    }
  }

  /** The stream errored: waiting reads reject (an iterator's first one; it is done after). */
  private failReads(reason: unknown): void {
    for (const r of this.takeReads()) {
      const it = r.iter;
      if (it) {
        it.waiting--;
        if (it.done) {
          r.resolve(doneResult());
          continue;
        }
        it.finish();
      }
      r.reject(reason);
    }
  }

  /**
   * @internal A write of `writer` straight to the core, when nothing is
   * queued or in flight; undefined when the standard write must run.
   */
  fastWrite(writer: TcpWriter, chunk: unknown): Promise<void> | undefined {
    const pcb = this.pcb;
    if (writer !== this.writer || !pcb || this.done || !this.writableOpen || this.wclosing || this.wq || writer.desiredSize !== this.whwm) {
      return undefined;
    }
    const data = bytesOfChunk(chunk);
    if (!data) return undefined; // the sink throws the TypeError
    const len = data.length;
    let n: number;
    try {
      // A small array may live in V8's heap, and the raw layer's subarray() would
      // move it out (a fresh ArrayBuffer) at every write: copy it into a buffer of ours.
      n = pcb.write(len <= SMALL_WRITE ? smallCopy(data, len) : data);
    } catch (e) {
      if (!(e instanceof AsipError) || e.code !== "ERR_ARG") {
        // As when the sink throws: the stream errors, the write rejects.
        this.wctl?.error(e);
        return Promise.reject(e);
      }
      n = 0;
    }
    if (n === len) return Promise.resolve();
    // The rest waits for room, queued in the stream (writer.ready waits past the high-water mark).
    return writer.slowWrite(n === 0 ? data : data.subarray(n));
  }

  private onData(data: Uint8Array | null): void {
    this.inData = true;
    try {
      this.onData1(data);
    } finally {
      this.inData = false;
      if (this.autoOff) {
        this.autoOff = false;
        if (this.pcb && this.reads.length === 0) this.pcb.autoRecved = false;
      }
    }
  }

  private onData1(data: Uint8Array | null): void {
    const c = this.rctl;
    const pcb = this.pcb!;
    if (data === null) {
      // The bytes before the FIN go first.
      if (this.staged) this.flush();
      if (c) {
        closeByteController(c);
        this.rctl = undefined;
      }
      this.readableOpen = false;
      this.endReads();
      this.maybeClose();
      return;
    }
    // autoRecved (a read waits): the raw layer gives these bytes back to the window itself.
    const auto = pcb.autoRecved;
    if (!c || !this.readableOpen) {
      if (!auto) pcb.recved(data.length); // nobody reads any more: drop
      return;
    }
    const n = data.length;
    let st = this.stage;
    if (!st || st.length < this.staged + n) {
      const grown = new Uint8Array(Math.max(16384, (this.staged + n) * 2));
      if (st && this.staged) grown.set(st.subarray(0, this.staged));
      this.stage = st = grown;
    }
    st.set(data, this.staged);
    this.staged += n;
    if (!auto) this.unconsumed += n;
    if (this.staged >= RX_BATCH_MAX) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      // A promise job rather than queueMicrotask: the same turn, without Node's per-callback async-context bookkeeping.
      void RESOLVED.then(this.flushFn);
    }
  }

  private readonly flushFn = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  /** Hands the bytes staged during a drain to the stream; reopens the window if the reader keeps up. */
  private flush(): void {
    const n = this.staged;
    const c = this.rctl;
    if (n === 0 || !c || !this.readableOpen || this.done) return;
    this.staged = 0;
    const st = this.stage!;
    const pcb = this.pcb;
    if (this.reads.length !== 0) {
      // A read waits (fast path): it takes the bytes, which are consumed now.
      const chunk = new Uint8Array(n);
      chunk.set(st.subarray(0, n));
      const r = this.reads.shift()!;
      if (r.iter) r.iter.waiting--;
      this.lastFlush = n;
      if (this.reads.length === 0) this.readsGone();
      if (pcb && this.unconsumed !== 0) {
        const k = this.unconsumed;
        this.unconsumed = 0;
        recvedSafe(pcb, k);
      }
      r.resolve({ value: chunk, done: false });
      return;
    }
    let off = 0;
    // A BYOB reader waiting: fill its buffer directly.
    const req = c.byobRequest;
    const view = req?.view;
    if (req && view && view.byteLength > 0) {
      off = Math.min(n, view.byteLength);
      new Uint8Array(view.buffer, view.byteOffset, off).set(st.subarray(0, off));
      req.respond(off);
    }
    if (off < n) {
      // new + set: cheaper than slice() for these sizes (V8), and the stage is reused.
      const chunk = new Uint8Array(n - off);
      chunk.set(st.subarray(off, n));
      c.enqueue(chunk);
    }
    if (pcb && (c.desiredSize ?? 0) > 0 && this.unconsumed !== 0) {
      const k = this.unconsumed;
      this.unconsumed = 0;
      recvedSafe(pcb, k);
    }
    // else: the reader is behind; the window stays closed until pull().
  }

  /** Forgets staged bytes (the readable side is gone); they stay counted in `unconsumed`. */
  private dropStage(): void {
    this.staged = 0;
    this.stage = undefined;
  }

  private pump(): void {
    const w = this.wq;
    const pcb = this.pcb;
    if (!w || !pcb) return;
    let n: number;
    try {
      n = pcb.write(w.data);
    } catch (e) {
      // ERR_ARG: the core dropped the pcb and its ERR event is on the way (fail() settles the write).
      if (e instanceof AsipError && e.code === "ERR_ARG") return;
      this.wq = undefined;
      w.reject(e);
      return;
    }
    if (n < w.data.length) {
      w.data = w.data.subarray(n);
      return;
    }
    this.wq = undefined;
    w.resolve();
  }

  /** Both sides done: the connection is closed (FIN both ways). */
  private maybeClose(): void {
    if (this.readableOpen || this.writableOpen || this.done) return;
    this.done = true;
    const p = this.pcb;
    this.pcb = undefined;
    if (p) {
      try { p.close(); } catch { try { p.abort(); } catch { /* gone */ } }
    }
    this.closedResolve();
  }

  /** Closes both directions (FIN); the streams end. */
  async close(): Promise<void> {
    if (this.done) return this.closed.catch(() => {});
    this.done = true;
    const p = this.pcb;
    this.pcb = undefined;
    if (p) {
      try {
        if (this.unconsumed) p.recved(this.unconsumed);
        p.close();
      } catch { try { p.abort(); } catch { /* gone */ } }
    }
    this.dropStage();
    if (this.rctl) closeByteController(this.rctl);
    this.endReads();
    this.wq?.reject(new Error("TCPSocket closed"));
    this.wq = undefined;
    this.openedReject(new Error("TCPSocket closed before it opened"));
    this.closedResolve();
    return this.closed;
  }

  /** An error (reset, refused, aborted): both streams error, `closed` rejects. */
  private fail(reason: unknown, abort: boolean): void {
    if (this.done) return;
    this.done = true;
    const p = this.pcb;
    this.pcb = undefined;
    if (p && abort) {
      try { p.abort(); } catch { /* gone */ }
    }
    this.dropStage();
    try { this.rctl?.error(reason); } catch { /* errored */ }
    this.failReads(reason);
    this.wq?.reject(reason);
    this.wq = undefined;
    this.openedReject(reason);
    this.closedReject(reason);
  }
}

/**
 * Closes a byte stream's controller. A BYOB read waiting then is not
 * settled by close() itself: the source answers it with respond(0) (done).
 */
function closeByteController(c: ReadableByteStreamController): void {
  try {
    c.close();
    c.byobRequest?.respond(0);
  } catch { /* closed or errored */ }
}

/**
 * Writes up to this many bytes go through {@link smallBuf}: V8 keeps typed
 * arrays of up to 64 bytes in its heap, without an ArrayBuffer until one is
 * asked for (subarray() asks).
 */
const SMALL_WRITE = 64;
const smallBuf = new Uint8Array(new ArrayBuffer(SMALL_WRITE));

/** The first `len` bytes of `data` in {@link smallBuf} (valid until the next call). */
function smallCopy(data: Uint8Array, len: number): Uint8Array {
  smallBuf.set(data);
  return smallBuf.subarray(0, len);
}

/** A written chunk as bytes (a view of the same memory), or undefined when it is not a BufferSource. */
function bytesOfChunk(chunk: unknown): Uint8Array | undefined {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return undefined;
}
