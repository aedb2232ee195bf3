/**
 * node:net over asip: `stack.net.createServer()`, `stack.net.connect()`,
 * `new stack.net.Socket()` behave like Node's own (same methods, events,
 * argument checks and error codes), built on the raw API's TCP pcbs
 * (bindings/api/raw.ts, `stack.raw.tcp`).
 *
 * ```ts
 * import "asip/net";   // registers stack.net (Node only: it needs node:stream)
 * const srv = stack.net.createServer((sock) => sock.pipe(sock));   // echo
 * srv.listen(7);
 * const c = stack.net.connect(7, "192.0.2.2", () => c.end("hi"));
 * ```
 *
 * A {@link Socket} is a real `stream.Duplex`, with backpressure end to end:
 *  - sending: `_write` hands bytes to the core's send queue (tcp_host_write
 *    takes at most tcp_sndbuf); what does not fit waits in JS and its write
 *    callback is held until SENT events (ACKs) make room, so `write()`
 *    returns false once the core's send buffer is full and the stream's own
 *    buffer (writableHighWaterMark) is too, and 'drain' follows the ACKs.
 *  - receiving: the core's receive window is reopened (tcp_recved) only for
 *    bytes the stream could take: while `push()` reports the readable buffer
 *    full (nobody reads), the bytes are counted as unconsumed and acknowledged
 *    to the core from `_read()`, i.e. when the consumer reads. The sender's
 *    window closes while the application does not read; memory stays bounded
 *    by the window plus readableHighWaterMark.
 *
 * Half-close and teardown follow Node too (allowHalfOpen, writeAfterFIN's
 * EPIPE, the order of 'end', 'finish' and 'close'), and a socket that
 * Node's tls wraps hands its half-close to the TLS socket as a Node socket's
 * handle does (see onReadableEnd); tests/node/api_halfclose*.test.ts compare
 * both with node:net over loopback.
 *
 * Node's error codes: a refused connect is ECONNREFUSED (the core's ERR_RST
 * in SYN_SENT), a reset ECONNRESET (EPIPE when it interrupts our writes), a
 * retransmission/keepalive give-up ETIMEDOUT, a port in use EADDRINUSE, a
 * write after the core refused the connection EPIPE; errors are Node-shaped
 * (`code`, negative `errno`, `syscall`, `address`, `port`). Argument errors
 * are Node's ERR_* (ERR_SOCKET_BAD_PORT, ERR_INVALID_ARG_TYPE, …).
 *
 * Both families, as Node on Linux: on a core with IPv6 (`stack.ipv6`), a
 * server listening without a host or on `'::'` is dual-stack and reports
 * `{ address: '::', family: 'IPv6' }`; the IPv4 peers it accepts appear as
 * IPv4-mapped addresses (remoteAddress `::ffff:192.0.2.1`, remoteFamily
 * `'IPv6'`), unless `ipv6Only`. `net.connect({ host: '2001:db8::1' })`
 * connects over IPv6 and a `::ffff:a.b.c.d` host over IPv4 from a family-6
 * socket (bindings/api/family.ts has the rules). On an IPv4-only core, IPv6
 * hosts are EAFNOSUPPORT and `'::'` listens on IPv4 (0.0.0.0).
 *
 * Differences from Node: no resolver (hosts are literals or "localhost",
 * else ENOTFOUND; `family: 6` makes "localhost" ::1); no IPC paths, no
 * `fd`, no `handle`.
 *
 * @module
 */
import { Duplex } from "node:stream";
import { EventEmitter } from "node:events";
import { Buffer } from "node:buffer";
import { isIP, isIPv4, isIPv6 } from "node:net";
import { Stack } from "../stack.js";
import { AsipError, ERR } from "../abi.js";
import { rawApiFor, tcpListenExclusive, type RawApiLike, type TcpPcbLike, recvedSafe } from "./raw.js";
import { errno, nodeError, nodeErrorFromErr, nodeCodeError, Refs, RefHandle, type NodeSystemError } from "./errno.js";
import { resolve4, isLocalAddress } from "./dgram.js";
import { IpAddress } from "../ip-address.js";
import { familyName, socketAddress, coreAddress, pcbPlan, connectIpType, type FamilyName } from "./family.js";
import type { IpType } from "./raw-args.js";

export { isIP, isIPv4, isIPv6 };

// ---- argument checks (Node's messages and codes) ---------------------------------------------

function validatePort(port: unknown, allowZero = true): number {
  let p = port;
  if (typeof p === "string" && p.trim() !== "" && /^\d+$/.test(p.trim())) p = Number(p);
  if (typeof p !== "number" || !Number.isInteger(p) || p < (allowZero ? 0 : 1) || p > 65535) {
    throw nodeCodeError("ERR_SOCKET_BAD_PORT",
      `Port should be ${allowZero ? ">=" : ">"} 0 and < 65536. Received ${typeof port === "number" ? port : `type ${typeof port} (${String(port)})`}.`, "RangeError");
  }
  return p;
}

function validateMsecs(ms: unknown, name: string): number {
  if (typeof ms !== "number") {
    throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "${name}" argument must be of type number. Received type ${typeof ms}`, "TypeError");
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw nodeCodeError("ERR_OUT_OF_RANGE", `The value of "${name}" is out of range. It must be a non-negative finite number. Received ${ms}`, "RangeError");
  }
  return ms;
}

/**
 * The host of connect/listen: "localhost" (::1 with `family` 6, else
 * 127.0.0.1), an IPv4 literal, or an IPv6 literal (EAFNOSUPPORT on a core
 * without IPv6); a name is ENOTFOUND.
 */
function hostArg(host: unknown, syscall: string, ipv6: boolean, family?: number): string {
  if (host === undefined || host === null || host === "" || host === "localhost") return family === 6 && ipv6 ? "::1" : "127.0.0.1";
  if (typeof host !== "string") {
    throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "options.host" property must be of type string. Received type ${typeof host}`, "TypeError");
  }
  if (isIPv6(host)) {
    if (!ipv6) throw nodeError(errno.EAFNOSUPPORT, syscall, host);
    return host;
  }
  return resolve4(host, syscall);
}

/** Does the stack behind `api` carry IPv6 (a Stack's `ipv6`, or a Worker's view of it)? */
function hasIpv6(api: NetApi): boolean {
  return !!(api.stack as { ipv6?: boolean }).ipv6;
}

// ---- Socket --------------------------------------------------------------------------------------

/** Options of `new Socket()` (Node's net.SocketConstructorOpts, minus fd/handle). */
export interface SocketConstructorOpts {
  /**
   * Keep the writable side open after the peer's FIN. Default false, as in
   * Node: the socket ends itself the tick after 'end', and a later write
   * fails with EPIPE.
   */
  allowHalfOpen?: boolean;
  readable?: boolean;
  writable?: boolean;
  signal?: AbortSignal;
  /** Stream buffer sizes (Node: 16 KiB by default in Node 20). */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

/** Options of `socket.connect()` / `net.connect()` (TCP). */
export interface TcpConnectOpts {
  port: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  /** Ignored: no resolver (hosts are literals). */
  lookup?: unknown;
  autoSelectFamily?: boolean;
}

export type NetConnectOpts = TcpConnectOpts & SocketConstructorOpts;

export interface AddressInfo {
  address: string;
  family: FamilyName;
  port: number;
}

type WriteCb = (err?: Error | null) => void;

/** The Duplex state flags a wrapped socket turns off (Node's streams have them; @types/node does not list them). */
interface DuplexStates {
  _readableState: { autoDestroy: boolean };
  _writableState: { autoDestroy: boolean };
}

/** Size of the slabs received bytes are copied into (a Buffer pushed holds at most this much). */
const RX_SLAB = 64 * 1024;
const RESOLVED = Promise.resolve();

/** A TCP connection: Node's net.Socket over an asip pcb. */
export class Socket extends Duplex {
  /** True while connecting (Node). */
  connecting = false;
  /** The server that accepted it (Node). */
  server: Server | null = null;
  /** @internal The asip Server that accepted it (http.Server replaces `server`). */
  owner: Server | undefined;
  private pcb: TcpPcbLike | undefined;
  private readonly api: NetApi;
  private readonly refh: RefHandle;
  private wantRef = true;
  private readBytes = 0;
  private writtenBytes = 0;
  /** Bytes pushed to the readable side but not yet given back to the core's window. */
  private unconsumed = 0;
  /**
   * Bytes received during the current drain of the core's event ring after
   * its first segment: copied out of core memory (the views are valid only
   * during the callback) into a slab, at rxSlab[rxStart, rxStart + rxLen),
   * and pushed as one Buffer when the drain is over (a promise job), so a
   * bulk transfer costs two pushes, 'data' events and tcp_recved calls per
   * drain rather than one per segment. The slab's rest serves the next
   * drains, as Node's Buffer pool does. rxQueued: a drain is under way.
   */
  private rxSlab: Buffer | undefined;
  private rxStart = 0;
  private rxLen = 0;
  private rxQueued = false;
  /** Bytes of the chunk the core has not taken yet, and the write's callback. */
  private wq: Uint8Array | undefined;
  private wqCb: WriteCb | undefined;
  private wqMore = false;
  /** A write or end waiting for the connection. */
  private pendingWrite: { chunks: Uint8Array[]; cb: WriteCb } | undefined;
  private pendingFinal: WriteCb | undefined;
  private finSent = false;
  private noDelayWanted: boolean | undefined;
  private keepAliveWanted: { on: boolean; delay: number } | undefined;
  private timeoutMs = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private local: AddressInfo | undefined;
  /** The socket's family: 6 when it connected to an IPv6 (or IPv4-mapped) host or was accepted by a family-6 listener. */
  private fam: 4 | 6 = 4;
  private remote: AddressInfo | undefined;
  private peerAddr: { host: string; port: number } | undefined;
  private hadError = false;
  /** The peer's FIN has arrived (its push(null) may still be on the way: onData). */
  private finReceived = false;
  /** The pcb went after the peer's FIN without anything for the application to hear (quietEnd). */
  private peerGone = false;
  /** connect() was called or the socket was accepted: what Node would hold a libuv handle for. */
  private hadHandle = false;

  constructor(api: NetApi, opts: SocketConstructorOpts = {}) {
    super({
      allowHalfOpen: !!opts.allowHalfOpen,
      emitClose: false,
      autoDestroy: true,
      decodeStrings: true,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
      signal: opts.signal,
    });
    this.api = api;
    this.refh = new RefHandle(api.refs);
    if (opts.noDelay) this.noDelayWanted = true;
    if (opts.keepAlive) this.keepAliveWanted = { on: true, delay: opts.keepAliveInitialDelay ?? 0 };
    this.on("end", () => this.onReadableEnd());
  }

  /**
   * The readable side has ended ('end', the peer's FIN): what becomes of
   * the writable side. Node's net.Socket (onReadableStreamEnd): unless
   * allowHalfOpen, Duplex calls end() on the next tick, so writes made in
   * 'end' handlers still go before our FIN, and a write after that end
   * fails with EPIPE and destroys the socket ({@link writeAfterFIN}).
   *
   * Unless the socket carries a stream that owns the connection: Node's tls
   * (and http2) wrap a JS stream in JSStreamSocket, which relays our 'end'
   * to a native TLSWrap. A Node net.Socket is never wrapped so: tls takes
   * its libuv handle, the TLSSocket (which inherits allowHalfOpen) reads
   * the FIN and ends the connection itself once its own queued records are
   * out, and the net.Socket neither sees the FIN nor ends anything. An
   * automatic end here would send our FIN while TLS still has records to
   * write, and the close after it would cancel them (the lost tail of a TLS
   * echo). So the wrapped socket hands that over as Node's handle does: it
   * stays open both ways until the wrapper ends it (JSStreamSocket's
   * shutdown is our end()) and destroys it (its close is our destroy()).
   */
  private onReadableEnd(): void {
    this.resetTimer();
    if (relaysEofToNative(this)) {
      this.allowHalfOpen = true;
      const states = this as unknown as DuplexStates;
      states._readableState.autoDestroy = false;
      states._writableState.autoDestroy = false;
    } else if (!this.allowHalfOpen) {
      this.write = writeAfterFIN;
    }
  }

  // ---- connecting ------------------------------------------------------------------------------

  /** socket.connect(port[, host][, cb]) / socket.connect(options[, cb]). */
  connect(options: TcpConnectOpts, cb?: () => void): this;
  connect(port: number | string, host?: string, cb?: () => void): this;
  connect(port: number | string, cb?: () => void): this;
  connect(a: unknown, b?: unknown, c?: unknown): this {
    let opts: TcpConnectOpts;
    let cb: (() => void) | undefined;
    if (a !== null && typeof a === "object") {
      opts = a as TcpConnectOpts;
      cb = typeof b === "function" ? (b as () => void) : undefined;
    } else {
      opts = { port: a as number };
      if (typeof b === "function") cb = b as () => void;
      else {
        if (b !== undefined) opts.host = b as string;
        if (typeof c === "function") cb = c as () => void;
      }
    }
    if ((opts as { path?: string }).path !== undefined) {
      throw nodeCodeError("ERR_INVALID_ARG_VALUE", "IPC paths are not supported by asip", "TypeError");
    }
    if (this.pcb || this.connecting) throw nodeCodeError("ERR_SOCKET_CONNECTION_TIMEOUT", "Socket is already connecting or connected");
    if (this.destroyed) {
      // Node re-initialises a destroyed socket on connect; we refuse clearly instead.
      throw nodeCodeError("ERR_SOCKET_CLOSED", "Socket is closed");
    }
    const port = validatePort(opts.port, false);
    if (opts.localPort !== undefined) validatePort(opts.localPort);
    if (opts.family !== undefined && opts.family !== null && opts.family !== 0 && opts.family !== 4 && opts.family !== 6) {
      throw nodeCodeError("ERR_INVALID_ARG_VALUE", `The property 'options.family' must be one of: 0, 4, 6. Received ${String(opts.family)}`, "TypeError");
    }
    if (opts.noDelay) this.noDelayWanted = true;
    if (opts.keepAlive) this.keepAliveWanted = { on: true, delay: opts.keepAliveInitialDelay ?? 0 };
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    if (cb) this.once("connect", cb);
    this.connecting = true;
    this.hadHandle = true;
    this.holdRef();
    // Node resolves the host first (asynchronously): errors arrive as events.
    process.nextTick(() => {
      if (this.destroyed) return;
      let host: string;
      try {
        host = hostArg(opts.host, "connect", hasIpv6(this.api), opts.family);
      } catch (e) {
        this.connecting = false;
        this.destroy(e as Error);
        return;
      }
      this.peerAddr = { host, port };
      this.emit("lookup", null, host, isIPv6(host) ? 6 : 4, opts.host ?? "localhost");
      this.startConnect(host, port, opts.localAddress, opts.localPort);
    });
    return this;
  }

  private startConnect(host: string, port: number, localAddress?: string, localPort?: number): void {
    const raw = this.api.raw;
    const dst = IpAddress.parse(host);
    this.fam = dst.family;
    const ipType: IpType = connectIpType(dst.family, dst, false)!;
    let local: string | undefined;
    if (localAddress !== undefined || localPort !== undefined) {
      // Node binds the local end in the peer's family (bind6 for an IPv6 or mapped peer).
      const la = localAddress ?? (dst.family === 6 ? "::" : "0.0.0.0");
      const a = IpAddress.tryParse(la);
      const plan = a ? pcbPlan(dst.family, a, ipType === 6) : undefined;
      if (!a || !plan || (ipType === 46 && plan.ipType !== 46)) {
        this.connecting = false;
        this.destroy(nodeError(errno.EINVAL, "bind", la, localPort));
        return;
      }
      if (!isLocalAddress(this.api.stack, la)) {
        this.connecting = false;
        this.destroy(nodeError(errno.EADDRNOTAVAIL, "bind", la, localPort));
        return;
      }
      // A mapped peer's pcb is bound to an IPv4 address ('::' means any IPv4 one there).
      local = ipType === 46 && plan.ip === "::" ? "0.0.0.0" : plan.ip;
    }
    let pcb: TcpPcbLike;
    try {
      pcb = raw.tcp.new(ipType);
    } catch (e) {
      this.connecting = false;
      this.destroy(this.sysErr(e, "connect", host, port));
      return;
    }
    this.pcb = pcb;
    try {
      if (local !== undefined) pcb.bind(local, localPort ?? 0);
      this.install(pcb);
      pcb.connect(coreAddress(dst).toString(), port, (err) => {
        if (err) return; // failures arrive through err() (the pcb is gone)
        this.onConnected();
      });
    } catch (e) {
      this.connecting = false;
      this.pcb = undefined;
      try { pcb.abort(); } catch { /* already gone */ }
      this.destroy(this.sysErr(e, "connect", host, port));
    }
  }

  /** Turns an AsipError into Node's shape (other errors pass). */
  private sysErr(e: unknown, syscall: string, host?: string, port?: number): Error {
    if (e instanceof AsipError) return nodeErrorFromErr(e.err, syscall, host, port);
    return e as Error;
  }

  /** @internal Wires an accepted connection (server side) of a listener of `family`. */
  attach(pcb: TcpPcbLike, family: 4 | 6 = 4): void {
    this.fam = family;
    this.pcb = pcb;
    this.hadHandle = true;
    this.install(pcb);
    this.holdRef();
    this.onConnected(true);
  }

  private install(pcb: TcpPcbLike): void {
    pcb.autoRecved = false;
    pcb.recv((data) => this.onData(data));
    pcb.sent(() => this.onSent());
    pcb.err((e) => this.onError(e));
  }

  private onConnected(accepted = false): void {
    const pcb = this.pcb!;
    this.connecting = false;
    const la = socketAddress(pcb.localAddress, this.fam), ra = socketAddress(pcb.remoteAddress, this.fam);
    this.local = { address: la, family: familyName(la), port: pcb.localPort };
    this.remote = { address: ra, family: familyName(ra), port: pcb.remotePort };
    if (this.noDelayWanted !== undefined) pcb.nagle = !this.noDelayWanted;
    if (this.keepAliveWanted) pcb.keepalive(this.keepAliveWanted.on, this.keepAliveWanted.delay);
    this.resetTimer();
    if (!accepted) {
      this.emit("connect");
      this.emit("ready");
    }
    // Writes and end() that waited for the connection.
    const pw = this.pendingWrite;
    this.pendingWrite = undefined;
    if (pw) this.writeChunks(pw.chunks, pw.cb);
    this.maybeFinal();
  }

  // ---- receiving -------------------------------------------------------------------------------

  private onData(data: Uint8Array | null): void {
    if (data === null) {
      // The peer's FIN: no more data. The bytes before it go first, and the FIN is a turn of its
      // own, as libuv's EOF is a read callback of its own: what the data's handlers set going
      // (ticks, promise jobs) runs before 'end' and what 'end' brings (onReadableEnd).
      this.finReceived = true;
      this.flushRx();
      setImmediate(this.eofFn);
      return;
    }
    const n = data.length;
    this.readBytes += n;
    this.resetTimer();
    const pcb = this.pcb!;
    if (this.destroyed) {
      recvedSafe(pcb, n);
      return;
    }
    if (!this.rxQueued) {
      // The first segment of a drain goes at once (request/response: there is no other); the
      // ones after it are staged until the drain is over, which a promise job marks (rather
      // than queueMicrotask: the same turn, without Node's per-callback async-context bookkeeping).
      this.rxQueued = true;
      void RESOLVED.then(this.rxFlushFn);
      // Copy out of the core (the view is valid only during the callback).
      const buf = Buffer.allocUnsafe(n);
      buf.set(data);
      const more = this.push(buf);
      // A 'data' listener may have closed the socket meanwhile (its window no longer matters).
      if (pcb.handle === 0 || this.pcb !== pcb) return;
      if (more) recvedSafe(pcb, n);
      else this.unconsumed += n; // the reader is behind: keep the window closed by this much
      return;
    }
    let slab = this.rxSlab;
    if (!slab || this.rxStart + this.rxLen + n > slab.length) {
      // The slab is full: what it holds goes now, the rest into a new one.
      if (this.rxLen !== 0) {
        this.flushRx();
        // A 'data' listener may have closed the socket meanwhile.
        if (pcb.handle === 0 || this.pcb !== pcb) return;
        if (this.destroyed) {
          recvedSafe(pcb, n);
          return;
        }
      }
      slab = this.rxSlab = Buffer.allocUnsafeSlow(Math.max(RX_SLAB, n));
      this.rxStart = 0;
    }
    slab.set(data, this.rxStart + this.rxLen);
    this.rxLen += n;
  }

  private readonly eofFn = (): void => {
    if (this.destroyed) return;
    // Node (onStreamRead): read(0) lets 'end' come at once when nothing is buffered, read or not.
    this.push(null);
    this.read(0);
  };

  private readonly rxFlushFn = (): void => {
    this.rxQueued = false;
    this.flushRx();
  };

  /** Pushes the bytes staged during a drain; reopens the window by them if the stream could take them. */
  private flushRx(): void {
    const n = this.rxLen;
    if (n === 0) return;
    const buf = this.rxSlab!.subarray(this.rxStart, this.rxStart + n);
    this.rxStart += n;
    this.rxLen = 0;
    const pcb = this.pcb;
    if (!pcb) return;
    if (this.destroyed) {
      recvedSafe(pcb, n);
      return;
    }
    const more = this.push(buf);
    // A 'data' listener may have closed the socket meanwhile (its window no longer matters).
    if (pcb.handle === 0 || this.pcb !== pcb) return;
    if (more) recvedSafe(pcb, n);
    else this.unconsumed += n; // the reader is behind: keep the window closed by this much
  }

  override _read(): void {
    // The consumer wants more: what it consumed may come in again.
    const n = this.unconsumed;
    if (n !== 0 && this.pcb) {
      this.unconsumed = 0;
      recvedSafe(this.pcb, n);
    }
  }

  // ---- sending ---------------------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: WriteCb): void {
    this.writeChunks([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: WriteCb): void {
    this.writeChunks(chunks.map((c) => c.chunk), cb);
  }

  private writeChunks(chunks: Uint8Array[], cb: WriteCb): void {
    if (this.connecting || (!this.pcb && !this.destroyed && !this.finSent && !this.peerGone)) {
      if (!this.connecting && !this.pcb) {
        cb(nodeCodeError("ERR_SOCKET_CLOSED_BEFORE_CONNECTION", "Socket closed before the connection was established"));
        return;
      }
      this.pendingWrite = { chunks, cb };
      return;
    }
    if (!this.pcb) {
      cb(nodeError(errno.EPIPE, "write"));
      return;
    }
    this.resetTimer();
    const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    this.wq = data;
    this.wqCb = cb;
    this.wqMore = false;
    this.pump();
  }

  /** Moves queued bytes into the core; completes the write when all are in. */
  private pump(): void {
    const pcb = this.pcb;
    const data = this.wq;
    // A pcb the core has dropped: its ERR event settles the write (onError).
    if (!pcb || !data || pcb.handle === 0) return;
    let n: number;
    try {
      n = pcb.write(data);
    } catch (e) {
      // ERR_ARG: the core dropped the pcb and its ERR event is on the way (onError settles the write).
      if (e instanceof AsipError && e.err === ERR.ERR_ARG) return;
      const cb = this.wqCb!;
      this.wq = undefined;
      this.wqCb = undefined;
      cb(this.sysErr(e, "write", this.remote?.address, this.remote?.port));
      return;
    }
    this.writtenBytes += n;
    if (n < data.length) {
      this.wq = data.subarray(n);
      return; // the rest goes when SENT makes room
    }
    const cb = this.wqCb!;
    this.wq = undefined;
    this.wqCb = undefined;
    cb();
  }

  private onSent(): void {
    this.resetTimer();
    if (this.wq) this.pump();
  }

  override _final(cb: WriteCb): void {
    this.pendingFinal = cb;
    this.maybeFinal();
  }

  private maybeFinal(): void {
    const cb = this.pendingFinal;
    if (!cb || this.connecting || this.wq) return;
    this.pendingFinal = undefined;
    if (!this.pcb) {
      const unconnected = !this.destroyed && !this.peerGone;
      cb(unconnected ? nodeCodeError("ERR_SOCKET_CLOSED_BEFORE_CONNECTION", "Socket closed before the connection was established") : null);
      return;
    }
    try {
      this.pcb.shutdown(false, true); // FIN after the queued data
      this.finSent = true;
    } catch (e) {
      cb(this.sysErr(e, "shutdown"));
      return;
    }
    // Node's shutdown completes in a libuv callback of its own, after the code that called end()
    // and the promise jobs it started: 'finish' (a tick after this) comes no sooner.
    queueMicrotask(cb);
  }

  // ---- errors and teardown -----------------------------------------------------------------------

  private onError(e: AsipError): void {
    // The bytes that arrived before go first (the pcb is gone already: no window to reopen).
    this.flushRx();
    this.pcb = undefined;
    if (this.finReceived && !this.connecting && this.quietEnd(e)) return;
    const wasConnecting = this.connecting;
    this.connecting = false;
    const r = this.remote ?? (this.peerAddr ? { address: this.peerAddr.host, port: this.peerAddr.port } : undefined);
    let err: NodeSystemError;
    if (wasConnecting) {
      err = nodeErrorFromErr(e.err, "connect", r?.address, r?.port);
    } else if (e.err === ERR.ERR_RST && (this.wq || this.writableLength > 0)) {
      // Reset while we were writing: Linux's write() reports EPIPE.
      err = nodeError(errno.EPIPE, "write", undefined, undefined, e.err);
    } else if (e.err === ERR.ERR_RST) {
      err = nodeError(errno.ECONNRESET, "read", undefined, undefined, e.err);
    } else if (e.err === ERR.ERR_ABRT || e.err === ERR.ERR_TIMEOUT) {
      err = nodeError(errno.ETIMEDOUT, "read", undefined, undefined, e.err);
    } else {
      err = nodeErrorFromErr(e.err, "read");
    }
    const cb = this.wqCb;
    this.wq = undefined;
    this.wqCb = undefined;
    cb?.(err);
    this.destroy(err);
  }

  /**
   * The pcb has gone after the peer's FIN. What Node's socket would notice
   * of it: its libuv handle stops reading at EOF, so with no write pending
   * a reset goes unseen (a later write fails with EPIPE, a shutdown's error
   * is ignored), and the end of a FIN exchange (ERR_CLSD) is no error at
   * all. Then the streams end as they would have ('end' when the reader gets
   * there, 'finish' after end()), and the socket closes without error.
   * True when the socket carries on so.
   */
  private quietEnd(e: AsipError): boolean {
    const idle = !this.wq && this.writableLength === 0 && !this.pendingWrite;
    if (e.err === ERR.ERR_CLSD || (e.err === ERR.ERR_RST && idle)) {
      this.peerGone = true;
      // Nothing is left for the core to do: like Node's handle, it holds the loop no longer.
      this.refh.hold(false);
      return true;
    }
    return false;
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.connecting = false;
    this.clearTimer();
    const pcb = this.pcb;
    this.pcb = undefined;
    if (pcb && pcb.handle !== 0) {
      try {
        // Bytes nobody will read count as read: unread data would make close() a RST.
        const k = this.unconsumed + this.rxLen;
        this.unconsumed = 0;
        this.rxLen = 0;
        if (k !== 0) pcb.recved(k);
        if (err) pcb.abort();
        else pcb.close();
      } catch {
        try { pcb.abort(); } catch { /* already gone */ }
      }
    }
    const pw = this.pendingWrite;
    this.pendingWrite = undefined;
    pw?.cb(err ?? nodeCodeError("ERR_SOCKET_CLOSED", "Socket is closed"));
    const wcb = this.wqCb;
    this.wq = undefined;
    this.wqCb = undefined;
    wcb?.(err ?? nodeCodeError("ERR_SOCKET_CLOSED", "Socket is closed"));
    this.refh.hold(false);
    this.hadError = !!err;
    cb(err);
    // Node: the server stops counting the connection now; 'close' follows once the handle's close
    // completes (libuv's close phase: after the immediates already queued), or on the next tick
    // for a socket that never had a handle.
    this.owner?.connectionClosed(this);
    if (this.hadHandle) setImmediate(this.emitCloseFn);
    else process.nextTick(this.emitCloseFn);
  }

  /**
   * Ends the writable side and destroys the socket once it has finished
   * (what was written goes first, then FIN); at once if it has (Node).
   */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", this.destroy);
  }

  private readonly emitCloseFn = (): void => {
    this.emit("close", this.hadError);
  };

  /** Sends a RST and destroys (Node 16.17+). */
  resetAndDestroy(): this {
    const pcb = this.pcb;
    this.pcb = undefined;
    if (pcb && pcb.handle !== 0) {
      try { pcb.abort(); } catch { /* gone */ }
    }
    if (!this.destroyed) this.destroy();
    return this;
  }

  // ---- options ------------------------------------------------------------------------------------

  /** TCP_NODELAY (Nagle off) — default true as in Node. */
  setNoDelay(noDelay = true): this {
    this.noDelayWanted = !!noDelay;
    if (this.pcb && !this.connecting) this.pcb.nagle = !noDelay;
    return this;
  }

  /** SO_KEEPALIVE with the first probe after `initialDelay` ms. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAliveWanted = { on: !!enable, delay: Math.max(0, Math.floor(initialDelay / 1000) * 1000) };
    if (this.pcb && !this.connecting) this.pcb.keepalive(!!enable, this.keepAliveWanted.delay);
    return this;
  }

  /** Emits 'timeout' after `ms` of inactivity (0 disables); the socket stays open (Node). */
  setTimeout(ms: number, cb?: () => void): this {
    this.timeoutMs = validateMsecs(ms, "msecs");
    if (cb) {
      if (ms === 0) this.removeListener("timeout", cb);
      else this.once("timeout", cb);
    }
    this.resetTimer();
    return this;
  }

  /** The timeout set with setTimeout (Node 14.9+). */
  get timeout(): number | undefined {
    return this.timeoutMs || undefined;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private resetTimer(): void {
    if (this.timeoutMs === 0 || this.destroyed) {
      this.clearTimer();
      return;
    }
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.destroyed) this.emit("timeout");
    }, this.timeoutMs);
    this.timer.unref?.();
  }

  /** Keeps the process alive while open (default). */
  ref(): this {
    this.wantRef = true;
    if (!this.destroyed && (this.pcb || this.connecting)) this.refh.hold(true);
    return this;
  }

  /** Lets the process exit even though the socket is open. */
  unref(): this {
    this.wantRef = false;
    this.refh.hold(false);
    return this;
  }

  private holdRef(): void {
    this.refh.hold(this.wantRef);
  }

  // ---- addresses and counters ---------------------------------------------------------------------

  address(): AddressInfo | Record<string, never> {
    return this.local ? { ...this.local } : {};
  }
  get localAddress(): string | undefined { return this.local?.address; }
  get localPort(): number | undefined { return this.local?.port; }
  get localFamily(): string | undefined { return this.local?.family; }
  get remoteAddress(): string | undefined { return this.remote?.address; }
  get remotePort(): number | undefined { return this.remote?.port; }
  get remoteFamily(): string | undefined { return this.remote?.family; }
  /** Bytes received. */
  get bytesRead(): number { return this.readBytes; }
  /** Bytes handed to the core plus those still buffered (Node counts both). */
  get bytesWritten(): number {
    return this.writtenBytes + (this.wq?.length ?? 0) + this.writableLength;
  }
  /** Bytes buffered for writing (Node's deprecated bufferSize). */
  get bufferSize(): number { return this.writableLength + (this.wq?.length ?? 0); }
  /** True before connect() was called or while it runs (Node 11.2+). */
  get pending(): boolean { return !this.pcb || this.connecting; }
  get readyState(): "opening" | "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable && !this.writable) return "readOnly";
    if (!this.readable && this.writable) return "writeOnly";
    return "closed";
  }

  /** @internal The raw pcb (tests, benchmarks). */
  get _pcb(): TcpPcbLike | undefined {
    return this.pcb;
  }
}

// ---- Server ------------------------------------------------------------------------------------

/** Options of createServer (Node's net.ServerOpts). */
export interface ServerOpts {
  /** allowHalfOpen of the accepted sockets (see {@link SocketConstructorOpts.allowHalfOpen}). */
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

/** Options of server.listen (Node's net.ListenOptions). */
export interface ListenOptions {
  port?: number | string;
  host?: string;
  backlog?: number;
  exclusive?: boolean;
  ipv6Only?: boolean;
  signal?: AbortSignal;
  path?: string;
}

/** A TCP server: Node's net.Server over an asip listen pcb. */
export class Server extends EventEmitter {
  /** Refuse connections beyond this many (Node). */
  maxConnections: number | undefined;
  private pcb: TcpPcbLike | undefined;
  private readonly conns = new Set<Socket>();
  private readonly api: NetApi;
  private readonly opts: ServerOpts;
  private readonly refh: RefHandle;
  private wantRef = true;
  private addr: AddressInfo | undefined;
  /** The listener's family: 6 for '::' and IPv6 hosts (its IPv4 peers are IPv4-mapped). */
  private fam: 4 | 6 = 4;
  private closing = false;

  constructor(api: NetApi, opts: ServerOpts = {}, listener?: (s: Socket) => void) {
    super();
    this.api = api;
    this.opts = opts;
    this.refh = new RefHandle(api.refs);
    if (listener) this.on("connection", listener);
  }

  /**
   * listen([port[, host[, backlog]]][, cb]) / listen(options[, cb]). Port 0
   * or none: ephemeral. 'listening' (and cb) follow asynchronously; a port
   * in use is an 'error' event with EADDRINUSE.
   */
  listen(port?: number | string | ListenOptions | null | (() => void), host?: string | number | (() => void), backlog?: number | (() => void), cb?: () => void): this {
    let o: ListenOptions;
    const args = [port, host, backlog, cb];
    const fn = args.find((x) => typeof x === "function") as (() => void) | undefined;
    if (port !== null && typeof port === "object") {
      o = { ...port };
    } else {
      o = {};
      if (typeof port !== "function" && port !== undefined && port !== null) o.port = port;
      if (typeof host === "string") o.host = host;
      else if (typeof host === "number") o.backlog = host;
      if (typeof backlog === "number") o.backlog = backlog;
    }
    if (o.path !== undefined) throw nodeCodeError("ERR_INVALID_ARG_VALUE", "IPC paths are not supported by asip", "TypeError");
    if (this.pcb) throw nodeCodeError("ERR_SERVER_ALREADY_LISTEN", "Listen method has been called more than once without closing.");
    const p = validatePort(o.port ?? 0);
    if (o.backlog !== undefined && (typeof o.backlog !== "number" || o.backlog < 0)) {
      throw nodeCodeError("ERR_INVALID_ARG_VALUE", `The argument 'backlog' is invalid. Received ${String(o.backlog)}`, "TypeError");
    }
    if (fn) this.once("listening", fn);
    if (o.signal?.aborted) {
      process.nextTick(() => this.close());
      return this;
    }
    o.signal?.addEventListener("abort", () => this.close(), { once: true });
    // Node listens on '::' when no host is given, and on '0.0.0.0' where there is no IPv6.
    const ipv6 = hasIpv6(this.api);
    let ip: string;
    const hostStr = o.host ?? (ipv6 ? "::" : "0.0.0.0");
    try {
      ip = (hostStr === "::" || hostStr === "") && !ipv6 ? "0.0.0.0" : hostStr === "" ? "::" : hostArg(hostStr, "listen", ipv6);
    } catch (e) {
      process.nextTick(() => this.emit("error", e));
      return this;
    }
    const addr = IpAddress.parse(ip);
    const family = addr.family;
    const plan = pcbPlan(family, addr, !!o.ipv6Only);
    if (!plan) {
      const e = nodeError(errno.EINVAL, "listen", ip, p);
      process.nextTick(() => this.emit("error", e));
      return this;
    }
    if (!isLocalAddress(this.api.stack, ip)) {
      const e = nodeError(errno.EADDRNOTAVAIL, "listen", ip, p);
      process.nextTick(() => this.emit("error", e));
      return this;
    }
    // getsockname's text: RFC 5952 form for IPv6.
    const shown = family === 6 ? addr.toString() : ip;
    const raw = this.api.raw;
    let pcb: TcpPcbLike;
    try {
      pcb = raw.tcp.new(plan.ipType);
    } catch (e) {
      process.nextTick(() => this.emit("error", nodeErrorFromErr((e as AsipError).err ?? ERR.ERR_MEM, "listen", ip, p)));
      return this;
    }
    const backlogN = Math.min(255, Math.max(1, o.backlog ?? 511));
    const fail = (e: unknown) => {
      const err = e instanceof AsipError ? nodeErrorFromErr(e.err, "listen", ip, p) : (e as Error);
      if (e instanceof AsipError && e.err === ERR.ERR_USE) {
        err.message = `listen EADDRINUSE: address already in use ${ip}:${p}`;
      }
      return err;
    };
    try {
      tcpListenExclusive(pcb, plan.ip, p, backlogN, !!o.exclusive);
    } catch (e) {
      try { pcb.close(); } catch { try { pcb.abort(); } catch { /* gone */ } }
      const err = fail(e);
      process.nextTick(() => this.emit("error", err));
      return this;
    }
    this.pcb = pcb;
    this.fam = family;
    this.closing = false;
    pcb.accept((child) => this.onAccept(child));
    this.refh.hold(this.wantRef);
    const ready = pcb.ready;
    if (ready) {
      // A core in a Worker: the bind ran there; its outcome and port come back.
      ready.then(
        (r) => {
          if (this.pcb !== pcb) return;
          this.addr = { address: shown, family: familyName(shown), port: r.localPort };
          this.emit("listening");
        },
        (e) => {
          if (this.pcb !== pcb) return;
          this.pcb = undefined;
          this.refh.hold(false);
          this.emit("error", fail(e));
        });
      return this;
    }
    this.addr = { address: shown, family: familyName(shown), port: pcb.localPort };
    process.nextTick(() => {
      if (this.pcb === pcb) this.emit("listening");
    });
    return this;
  }

  private onAccept(child: TcpPcbLike): void {
    if (this.maxConnections !== undefined && this.conns.size >= this.maxConnections) {
      // Node closes it at once (and emits 'drop', Node 18.6+).
      const la = socketAddress(child.localAddress, this.fam), ra = socketAddress(child.remoteAddress, this.fam);
      const data = { localAddress: la, localPort: child.localPort, localFamily: familyName(la),
        remoteAddress: ra, remotePort: child.remotePort, remoteFamily: familyName(ra) };
      try { child.close(); } catch { try { child.abort(); } catch { /* gone */ } }
      this.emit("drop", data);
      return;
    }
    const s = new Socket(this.api, {
      allowHalfOpen: !!this.opts.allowHalfOpen,
      readableHighWaterMark: this.opts.highWaterMark,
      writableHighWaterMark: this.opts.highWaterMark,
    });
    s.server = this;
    s.owner = this;
    this.conns.add(s);
    if (this.opts.noDelay) s.setNoDelay(true);
    if (this.opts.keepAlive) s.setKeepAlive(true, this.opts.keepAliveInitialDelay ?? 0);
    s.attach(child, this.fam);
    if (this.opts.pauseOnConnect) s.pause();
    this.emit("connection", s);
  }

  /** @internal */
  connectionClosed(s: Socket): void {
    if (!this.conns.delete(s)) return;
    this.maybeClosed();
  }

  /** Node's _emitCloseIfDrained: 'close' on the next tick once closed and the last connection is destroyed. */
  private maybeClosed(): void {
    if (this.closing && !this.pcb && this.conns.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit("close"));
    }
  }

  /** Stops accepting; 'close' follows when every connection has ended. */
  close(cb?: (err?: Error) => void): this {
    if (cb) {
      if (!this.pcb) {
        process.nextTick(cb, nodeCodeError("ERR_SERVER_NOT_RUNNING", "Server is not running."));
      } else {
        this.once("close", () => cb());
      }
    }
    const pcb = this.pcb;
    if (pcb) {
      this.pcb = undefined;
      this.addr = undefined;
      this.closing = true;
      try { pcb.close(); } catch { /* gone */ }
      this.refh.hold(false);
      this.maybeClosed();
    }
    return this;
  }

  /** Node 20: server[Symbol.asyncDispose]. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.pcb) return;
    await new Promise<void>((r) => this.close(() => r()));
  }

  address(): AddressInfo | null {
    return this.addr ? { ...this.addr } : null;
  }

  get listening(): boolean {
    return !!this.pcb;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.conns.size;
    process.nextTick(cb, null, n);
    return this;
  }

  ref(): this {
    this.wantRef = true;
    if (this.pcb) this.refh.hold(true);
    return this;
  }

  unref(): this {
    this.wantRef = false;
    this.refh.hold(false);
    return this;
  }
}

// ---- the module object ---------------------------------------------------------------------------

/** `stack.net`: node:net over one stack. */
export class NetApi {
  /** @internal */ readonly raw: RawApiLike;
  /** @internal */ readonly refs = new Refs();
  /** `new stack.net.Socket(opts)` */
  readonly Socket: new (opts?: SocketConstructorOpts) => Socket;
  /** `new stack.net.Server(opts, listener)` */
  readonly Server: new (opts?: ServerOpts | ((s: Socket) => void), listener?: (s: Socket) => void) => Server;
  readonly isIP = isIP;
  readonly isIPv4 = isIPv4;
  readonly isIPv6 = isIPv6;

  constructor(readonly stack: Stack) {
    this.raw = rawApiFor(stack);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const api = this;
    this.Socket = class extends Socket {
      constructor(opts?: SocketConstructorOpts) {
        super(api, opts);
      }
    };
    this.Server = class extends Server {
      constructor(opts?: ServerOpts | ((s: Socket) => void), listener?: (s: Socket) => void) {
        if (typeof opts === "function") super(api, {}, opts);
        else super(api, opts ?? {}, listener);
      }
    };
  }

  /** net.createServer([options][, connectionListener]) */
  createServer(opts?: ServerOpts | ((s: Socket) => void), listener?: (s: Socket) => void): Server {
    if (typeof opts === "function") return new Server(this, {}, opts);
    return new Server(this, opts ?? {}, listener);
  }

  /** net.connect(port[, host][, cb]) / net.connect(options[, cb]) */
  connect(options: NetConnectOpts, cb?: () => void): Socket;
  connect(port: number | string, host?: string, cb?: () => void): Socket;
  connect(port: number | string, cb?: () => void): Socket;
  connect(a: unknown, b?: unknown, c?: unknown): Socket {
    const opts: NetConnectOpts = a !== null && typeof a === "object" ? (a as NetConnectOpts) : { port: 0 };
    const s = new Socket(this, opts);
    if (opts.timeout !== undefined) s.setTimeout(opts.timeout);
    return (s.connect as (x: unknown, y?: unknown, z?: unknown) => Socket)(a, b, c);
  }

  /** net.createConnection: the same as connect. */
  createConnection(options: NetConnectOpts, cb?: () => void): Socket;
  createConnection(port: number | string, host?: string, cb?: () => void): Socket;
  createConnection(port: number | string, cb?: () => void): Socket;
  createConnection(a: unknown, b?: unknown, c?: unknown): Socket {
    return (this.connect as (x: unknown, y?: unknown, z?: unknown) => Socket)(a, b, c);
  }
}

/**
 * Node's writeAfterFIN: once a socket that is not half-open has ended
 * because the peer ended, a write is "ended by the other party": EPIPE to
 * its callback (next tick), the socket destroyed with it. Before that end
 * (the 'end' handlers, the tick after) writes go as usual.
 */
function writeAfterFIN(this: Socket, chunk: unknown, encoding?: BufferEncoding | WriteCb, cb?: WriteCb): boolean {
  if (!this.writableEnded) {
    return (Duplex.prototype.write as (c: unknown, e?: unknown, f?: unknown) => boolean).call(this, chunk, encoding, cb);
  }
  const done = typeof encoding === "function" ? encoding : cb;
  const er = Object.assign(new Error("This socket has been ended by the other party"), { code: "EPIPE" });
  if (typeof done === "function") process.nextTick(done, er);
  this.destroy(er);
  return false;
}

/**
 * Whether the socket's 'end' is relayed to a native stream: the listener
 * that Node's JSStreamSocket (lib/internal/js_stream_socket.js) puts on the
 * stream it wraps calls its handle's emitEOF(). Asked once, when the
 * socket's readable side ends.
 */
function relaysEofToNative(s: Socket): boolean {
  for (const f of s.listeners("end")) {
    if (/\.emitEOF\(\)/.test(Function.prototype.toString.call(f))) return true;
  }
  return false;
}

const apis = new WeakMap<Stack, NetApi>();

/** The stack's node:net (what `stack.net` returns). */
export function netApi(stack: Stack): NetApi {
  let n = apis.get(stack);
  if (!n) {
    n = new NetApi(stack);
    apis.set(stack, n);
  }
  return n;
}

Stack.hostApis.set("net", netApi);
