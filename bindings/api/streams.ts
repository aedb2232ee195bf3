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
 * TCP: `connect(address, port, opts)` → a {@link TCPSocket} whose `opened`
 * yields a ReadableStream of bytes (type "bytes": BYOB readers work) and a
 * WritableStream of BufferSources. Backpressure both ways: a write's
 * Promise settles when the core's send queue has taken all its bytes (SENT
 * events make room), so `writer.ready` waits while the send buffer is full;
 * received bytes are given back to the core's window (tcp_recved) only as
 * the readable side's queue (`readableHighWaterMark` bytes, default 64 KiB)
 * drains, so the peer's window closes while nobody reads. Closing the
 * writable sends FIN; cancelling the readable stops receiving; `close()`
 * closes both; the AbortSignal (`signal`) aborts the connection with a RST.
 * `listen(opts)` → a {@link TCPServerSocket}: `opened` yields a
 * ReadableStream of accepted TCPSockets, and the server is itself an async
 * iterable of them (`for await (const conn of server)`).
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError } from "../abi.js";
import { rawApiFor, addrArg, portArg, recvedSafe, type UdpPcbLike, type TcpPcbLike } from "./raw.js";

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
        const info = (): UDPSocketOpenInfo => ({
          readable, writable, localAddress: pcb.localAddress, localPort: pcb.localPort,
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

// ---- TCP --------------------------------------------------------------------------------------

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

// ---- the fast path of a TCPSocket's streams ----------------------------------------------------
//
// The platform's streams are built for generality: a read or write goes through
// a few Promises, every chunk enqueued into a byte stream has its ArrayBuffer
// transferred (a new ArrayBuffer, the old one detached), and the async iterator
// chains every next() on the previous one. For a request/response exchange
// that machinery costs more than the TCP/IP stack itself. So the streams of a
// TCPSocket are subclasses whose default reader, async iterator and writer
// (the ones getReader(), values()/for-await and getWriter() hand out) take a
// shortcut in the common case, with the results the standard algorithms give:
//
// - read(): when the stream is readable and its queue is empty, the read waits
//   in the socket (`reads`) instead of the controller, and the next received
//   chunk resolves it directly. Received bytes go to such a waiting read first,
//   to the controller's queue otherwise, so while reads wait here the queue stays
//   empty and there is no read waiting in the controller: order is kept. Close,
//   cancel and error settle them as the standard would (done / done / the
//   error); releaseLock() hands them to the real reader first, which rejects
//   them as the standard does.
// - write(): when nothing is queued or in flight (desiredSize is the high-water
//   mark, no write waiting for room, not closing), the bytes go to the core at
//   once; if it takes them all the write is done, otherwise the rest is
//   written through the stream as before (queued, writer.ready waits).
// Everything else — BYOB readers, pipeTo/pipeThrough/tee (their own readers
// and writers), a closed, errored or locked stream — takes the standard path.

/** A read waiting in the socket (fast path); `iter`: for an async iterator. */
interface WaitingRead {
  resolve: (r: ReadableStreamReadResult<Uint8Array>) => void;
  reject: (e: unknown) => void;
  iter: TcpIterator | undefined;
}

const RESOLVED = Promise.resolve();

/** A fresh `{ value: undefined, done: true }` (results are the caller's to keep). */
function doneResult(): ReadableStreamReadResult<Uint8Array> {
  return { value: undefined, done: true };
}

/** The default reader of a TCPSocket's readable (see the fast path above). */
class TcpReader extends ReadableStreamDefaultReader<Uint8Array> {
  /** @internal */ readonly sock: TCPSocket;

  constructor(stream: TcpReadable, sock: TCPSocket) {
    super(stream);
    this.sock = sock;
  }

  override read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    return this.sock.fastRead(this, undefined) ?? super.read();
  }

  /** @internal the standard read */
  slowRead(): Promise<ReadableStreamReadResult<Uint8Array>> {
    return super.read();
  }

  override releaseLock(): void {
    this.sock.releaseReader(this);
    super.releaseLock();
  }
}

/** %AsyncIteratorPrototype%, so the iterator has what async iterators have. */
const AsyncIteratorProto = Object.getPrototypeOf(Object.getPrototypeOf(Object.getPrototypeOf((async function* () {})())));

/**
 * The async iterator of a TCPSocket's readable (`for await (const chunk of
 * readable)`), with the steps of ReadableStream's own: the lock is released
 * when it ends (done, error, return), and return() cancels the stream unless
 * `preventCancel`. A next() or return() while a next() is waiting runs after it.
 */
class TcpIterator {
  /** @internal */ done = false;
  /** @internal next()s not yet settled */ waiting = 0;
  private last: Promise<unknown> | undefined;
  private returning = false;

  constructor(private readonly reader: TcpReader, private readonly preventCancel: boolean) {}

  next(): Promise<IteratorResult<Uint8Array, undefined>> {
    let p: Promise<IteratorResult<Uint8Array, undefined>>;
    if (this.returning) {
      const step = () => this.nextSteps();
      p = this.last!.then(step, step);
    } else p = this.nextSteps();
    this.last = p;
    return p;
  }

  private nextSteps(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.done) return Promise.resolve(doneResult() as IteratorResult<Uint8Array, undefined>);
    const fast = this.reader.sock.fastRead(this.reader, this);
    if (fast) return fast as Promise<IteratorResult<Uint8Array, undefined>>;
    this.waiting++;
    return this.reader.slowRead().then((r) => {
      this.waiting--;
      if (r.done) this.finish();
      return r as IteratorResult<Uint8Array, undefined>;
    }, (e) => {
      this.waiting--;
      this.finish();
      throw e;
    });
  }

  return(value?: unknown): Promise<IteratorResult<Uint8Array, undefined>> {
    let p: Promise<IteratorResult<Uint8Array, undefined>>;
    if (this.waiting !== 0 || this.returning) {
      this.returning = true;
      const step = () => this.returnSteps(value);
      p = this.last!.then(step, step);
    } else p = this.returnSteps(value);
    this.last = p;
    return p;
  }

  private async returnSteps(value: unknown): Promise<IteratorResult<Uint8Array, undefined>> {
    const result = { done: true, value } as IteratorResult<Uint8Array, undefined>;
    if (this.done) return result;
    this.done = true;
    if (!this.preventCancel) {
      const c = this.reader.cancel(value);
      this.reader.releaseLock();
      await c;
      return result;
    }
    this.reader.releaseLock();
    return result;
  }

  /** @internal The stream ended (done or error): the lock goes. */
  finish(): void {
    this.done = true;
    this.reader.releaseLock();
  }
}
Object.setPrototypeOf(TcpIterator.prototype, AsyncIteratorProto);

/** A TCPSocket's readable: a byte stream whose default reader and iterator take the fast path. */
class TcpReadable extends ReadableStream<Uint8Array> {
  /** @internal */ readonly sock: TCPSocket;

  constructor(source: UnderlyingByteSource, strategy: { highWaterMark: number }, sock: TCPSocket) {
    super(source as unknown as UnderlyingDefaultSource<Uint8Array>, strategy);
    this.sock = sock;
  }

  override getReader(options: { mode: "byob" }): ReadableStreamBYOBReader;
  override getReader(): ReadableStreamDefaultReader<Uint8Array>;
  override getReader(options?: ReadableStreamGetReaderOptions): ReadableStreamReader<Uint8Array>;
  override getReader(options?: ReadableStreamGetReaderOptions): ReadableStreamReader<Uint8Array> {
    if (options === undefined || (typeof options === "object" && options !== null && options.mode === undefined)) {
      const r = new TcpReader(this, this.sock);
      this.sock.adoptReader(r);
      return r;
    }
    // BYOB, or what the platform makes of other options (its errors included).
    return super.getReader(options as { mode: "byob" });
  }

  values(options?: { preventCancel?: boolean }): AsyncIterableIterator<Uint8Array> {
    const reader = this.getReader() as TcpReader;
    return new TcpIterator(reader, !!options?.preventCancel) as unknown as AsyncIterableIterator<Uint8Array>;
  }

  [Symbol.asyncIterator](options?: { preventCancel?: boolean }): AsyncIterableIterator<Uint8Array> {
    return this.values(options);
  }
}

/** The default writer of a TCPSocket's writable (see the fast path above). */
class TcpWriter extends WritableStreamDefaultWriter<Uint8Array> {
  /** @internal */ readonly sock: TCPSocket;

  constructor(stream: TcpWritable, sock: TCPSocket) {
    super(stream);
    this.sock = sock;
  }

  override write(chunk?: Uint8Array): Promise<void> {
    return this.sock.fastWrite(this, chunk) ?? super.write(chunk);
  }

  /** @internal the standard write */
  slowWrite(chunk: Uint8Array): Promise<void> {
    return super.write(chunk);
  }

  override close(): Promise<void> {
    if (this.sock.writer === this) this.sock.wclosing = true;
    return super.close();
  }

  override releaseLock(): void {
    if (this.sock.writer === this) this.sock.writer = undefined;
    super.releaseLock();
  }
}

/** A TCPSocket's writable: its default writer takes the fast path. */
class TcpWritable extends WritableStream<Uint8Array> {
  /** @internal */ readonly sock: TCPSocket;

  constructor(sink: UnderlyingSink<Uint8Array>, strategy: QueuingStrategy<Uint8Array>, sock: TCPSocket) {
    super(sink, strategy);
    this.sock = sock;
  }

  override getWriter(): WritableStreamDefaultWriter<Uint8Array> {
    const w = new TcpWriter(this, this.sock);
    this.sock.writer = w;
    return w;
  }

  override close(): Promise<void> {
    if (!this.locked) this.sock.wclosing = true;
    return super.close();
  }
}

/** A TCP connection as a pair of byte streams (Direct Sockets' TCPSocket). */
export class TCPSocket {
  readonly opened: Promise<TCPSocketOpenInfo>;
  readonly closed: Promise<void>;
  private pcb: TcpPcbLike | undefined;
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
  constructor(api: StreamsApi, remoteAddress: string, remotePort: number, opts: TCPSocketOptions = {}, accepted?: TcpPcbLike) {
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
        addrArg(remoteAddress, "TCPSocket");
        portArg(remotePort, "TCPSocket", true);
        const pcb = api.raw.tcp.new();
        this.pcb = pcb;
        try {
          if (opts.localAddress !== undefined || opts.localPort !== undefined) pcb.bind(opts.localAddress ?? "0.0.0.0", portArg(opts.localPort ?? 0, "TCPSocket"));
          this.install(pcb, opts);
          pcb.connect(remoteAddress, remotePort, (err) => {
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
      readable, writable, remoteAddress: pcb.remoteAddress, remotePort: pcb.remotePort,
      localAddress: pcb.localAddress, localPort: pcb.localPort,
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

export interface TCPServerSocketOptions {
  localAddress?: string;
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
        const local = opts.localAddress ?? "0.0.0.0";
        addrArg(local, "TCPServerSocket");
        const lport = portArg(opts.localPort ?? 0, "TCPServerSocket");
        const backlog = opts.backlog ?? 128;
        const pcb = api.raw.tcp.new();
        try {
          pcb.bind(local, lport);
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
          c.enqueue(new TCPSocket(api, child.remoteAddress, child.remotePort, opts.connection ?? {}, child));
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

/** `stack.streams`: WHATWG-stream sockets of one stack. */
export class StreamsApi {
  /** @internal */ readonly raw;

  constructor(readonly stack: Stack) {
    this.raw = rawApiFor(stack);
  }

  /** A UDP socket (see {@link UDPSocket}). */
  udp(opts: UDPSocketOptions = {}): UDPSocket {
    return new UDPSocket(this, opts);
  }

  /** A TCP connection (see {@link TCPSocket}). */
  connect(remoteAddress: string, remotePort: number, opts: TCPSocketOptions = {}): TCPSocket {
    return new TCPSocket(this, remoteAddress, remotePort, opts);
  }

  /** A TCP listener (see {@link TCPServerSocket}). */
  listen(opts: TCPServerSocketOptions = {}): TCPServerSocket {
    return new TCPServerSocket(this, opts);
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
