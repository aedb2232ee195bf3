/**
 * The fast path of a TCPSocket's streams (bindings/api/streams-tcp.ts).
 *
 * The platform's streams are built for generality: a read or write goes through
 * a few Promises, every chunk enqueued into a byte stream has its ArrayBuffer
 * transferred (a new ArrayBuffer, the old one detached), and the async iterator
 * chains every next() on the previous one. For a request/response exchange
 * that machinery costs more than the TCP/IP stack itself. So the streams of a
 * TCPSocket are subclasses whose default reader, async iterator and writer
 * (the ones getReader(), values()/for-await and getWriter() hand out) take a
 * shortcut in the common case, with the results the standard algorithms give:
 *
 * - read(): when the stream is readable and its queue is empty, the read waits
 *   in the socket (`reads`) instead of the controller, and the next received
 *   chunk resolves it directly. Received bytes go to such a waiting read first,
 *   to the controller's queue otherwise, so while reads wait here the queue stays
 *   empty and there is no read waiting in the controller: order is kept. Close,
 *   cancel and error settle them as the standard would (done / done / the
 *   error); releaseLock() hands them to the real reader first, which rejects
 *   them as the standard does.
 * - write(): when nothing is queued or in flight (desiredSize is the high-water
 *   mark, no write waiting for room, not closing), the bytes go to the core at
 *   once; if it takes them all the write is done, otherwise the rest is
 *   written through the stream as before (queued, writer.ready waits).
 * Everything else — BYOB readers, pipeTo/pipeThrough/tee (their own readers
 * and writers), a closed, errored or locked stream — takes the standard path.
 *
 * @module
 */
import type { TCPSocket } from "./streams-tcp.js";

/** A read waiting in the socket (fast path); `iter`: for an async iterator. */
export interface WaitingRead {
  resolve: (r: ReadableStreamReadResult<Uint8Array>) => void;
  reject: (e: unknown) => void;
  iter: TcpIterator | undefined;
}

export const RESOLVED = Promise.resolve();

/** A fresh `{ value: undefined, done: true }` (results are the caller's to keep). */
export function doneResult(): ReadableStreamReadResult<Uint8Array> {
  return { value: undefined, done: true };
}

/** The default reader of a TCPSocket's readable (see the fast path above). */
export class TcpReader extends ReadableStreamDefaultReader<Uint8Array> {
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
export class TcpIterator {
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
export class TcpReadable extends ReadableStream<Uint8Array> {
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
export class TcpWriter extends WritableStreamDefaultWriter<Uint8Array> {
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
export class TcpWritable extends WritableStream<Uint8Array> {
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
