/**
 * TCP pcbs of the raw API, in-thread (lwIP tcp_new & co.): `raw.tcp.new()`.
 * bindings/api/raw.ts describes the API; bindings/worker/remote-raw.ts has the
 * Worker-mode twin, and both implement TcpPcbLike (raw-types.ts).
 *
 * @module
 */
import { AsipError, ERR, check } from "../abi.js";
import type { IpAddress } from "../ip-address.js";
import type { RawApi } from "./raw.js";
import { TcpPcbCallbacks, coreCall } from "./raw-pcb.js";
import { addrArg, portArg, byteArg, dataArg, listenArgs, ipTypeArg, SOF_REUSEADDR, type IpType } from "./raw-args.js";
import {
  TCP_STATES, EV_TCP, type Dispatch, type TcpPcbLike, type TcpStateName, type TcpConnectedFn,
  type TcpWriteOptions,
} from "./raw-types.js";

/** tcp_host_write flags (assembly/abi/tcp.ts). */
const TCP_WRITE_FLAG_MORE = 0x02;
const TCP_HOST_WRITE_OUTPUT = 0x80;
const TCP_TX_BUF_SIZE = 64 * 1024;

/** `raw.tcp`: lwIP's tcp_new. */
export class TcpApi {
  constructor(private readonly api: RawApi) {}

  /** TIME_WAIT duration (ms) for connections of this stack from now on (default 2*MSL = 60 s). */
  setTimeWait(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`tcp.setTimeWait: bad duration ${ms}`);
    const s = this.api.stack;
    s.guard(() => s.ex.tcp_host_set_time_wait(ms >>> 0));
  }

  /** A new TCP pcb (lwIP tcp_new_ip_type) of family `ipType` (default 4). Throws ERR_MEM when the pool is empty. */
  new(ipType?: IpType): TcpPcb {
    const t = ipTypeArg(ipType, "tcp.new");
    const s = this.api.stack;
    const h: number = s.guard(() => s.ex.tcp_host_new(t));
    if (h === 0) throw new AsipError(-1, "tcp.new");
    const pcb = new TcpPcb(this.api, h);
    pcb.ipType = t as IpType;
    return pcb;
  }
}

/** A TCP pcb owned by JS: a listener or a connection. */
export class TcpPcb extends TcpPcbCallbacks<TcpPcb> implements TcpPcbLike, Dispatch {
  private txBuf = 0;
  private inRecv = 0;
  /**
   * Reopen the receive window (tcp_recved) by the bytes of each recv
   * callback as soon as it returns (default). Set false to call
   * {@link recved} yourself: the window stays closed by what you have not
   * acknowledged — backpressure on the sender.
   */
  autoRecved = true;
  /**
   * The family it was made with (tcp.new's ipType; accepted connections 4).
   * On a dual-stack pcb (46), bind("::") takes both families (lwIP's
   * IP_ANY_TYPE); a pcb of type 6 bound to "::" takes IPv6 only.
   */
  ipType: IpType = 4;
  /** On a dual-stack pcb: bind("::") takes IPv6 only (lwIP's NETCONN_FLAG_IPV6_V6ONLY, IPV6_V6ONLY). */
  v6only = false;
  /** Bytes received and bytes written so far. */
  bytesReceived = 0;
  bytesWritten = 0;

  /** @internal */
  constructor(private readonly api: RawApi, h: number) {
    super(h, "tcp", "is closed");
    api.tcpPcbs.set(h, this);
  }

  private call(what: string, f: (ex: Record<string, any>, h: number) => number): number {
    return coreCall(this.api, `tcp.${what}`, this.live(what), f);
  }

  private dead(): void {
    this.api.tcpPcbs.delete(this.h);
    this.h = 0;
  }

  /**
   * The outcome of the operations so far (their error, or the local address
   * and port). Here operations run at once and throw, so there is nothing to
   * wait for: undefined. A pcb of a core in a Worker
   * (bindings/worker/remote-raw.ts) returns a Promise: read it once, after
   * bind/listen/connect.
   */
  get ready(): Promise<{ localAddress: string; localPort: number }> | undefined {
    return undefined;
  }

  /** Binds to `ip` ("0.0.0.0" = any) and `port` (0 = ephemeral). */
  bind(ip: string, port: number): this {
    const a = addrArg(ip, "tcp.bind");
    portArg(port, "tcp.bind");
    const s = this.api.stack;
    this.call("bind", (ex, h) => ex.tcp_host_bind(h, this.ipType === 46 && !this.v6only ? s.addrArgDual(a) : s.addrArg(a), port));
    return this;
  }

  /**
   * Binds and listens the way a Linux TCP listener does (libuv sets
   * SO_REUSEADDR on listeners, so a port whose old connections linger in
   * TIME_WAIT can listen again). The core's SOF_REUSEADDR also lets two
   * listeners share a port (BSD's SO_REUSEPORT), which Linux refuses: so bind
   * without it first, take it only when something holds the port, and drop it
   * once listening, so a second listener on the port fails with ERR_USE as on
   * Linux. `exclusive`: never take it. Throws AsipError (ERR_USE when the port
   * is taken).
   */
  listenExclusive(ip: string, port: number, backlog: number, exclusive: boolean): void {
    let clashed = false;
    try {
      this.bind(ip, port);
    } catch (e) {
      if (!(e instanceof AsipError) || e.err !== ERR.ERR_USE || exclusive) throw e;
      clashed = true;
      this.reuseaddr = true;
      this.bind(ip, port);
    }
    try {
      this.listen(backlog);
    } catch (e) {
      // tcp_host_listen reports a listener clash as ERR_MEM (no listen pcb): after a bind clash it is ERR_USE.
      if (clashed && e instanceof AsipError && e.err === ERR.ERR_MEM) throw new AsipError(ERR.ERR_USE, "tcp.listen");
      throw e;
    }
    // The listener keeps SO_REUSEADDR (libuv sets it on every TCP socket it
    // binds) and the connections it accepts inherit it (tcp_in), so that a
    // new listener can bind over the ones still in TIME_WAIT once this one
    // is closed, as Node's does; a second listener is refused all the same.
    this.reuseaddr = !exclusive;
  }

  /**
   * Listens (lwIP tcp_listen_with_backlog). Unlike lwIP the same object stays
   * valid (the core moves the handle to the listen pcb). Connections arrive
   * through {@link accept}.
   */
  listen(backlog = 255, synQueue?: number): this {
    listenArgs(backlog, synQueue);
    this.call("listen", (ex, h) => ex.tcp_host_listen(h, backlog));
    if (synQueue !== undefined) this.call("listen", (ex, h) => ex.tcp_host_set_syn_queue(h, synQueue));
    this.api.stack.kick();
    return this;
  }

  /** Connects (lwIP tcp_connect); `fn` runs when the handshake completes. Failures go to {@link err}. */
  connect(ip: string, port: number, fn?: TcpConnectedFn): this {
    const a = addrArg(ip, "tcp.connect");
    portArg(port, "tcp.connect", true);
    this.connectedFn = fn;
    this.call("connect", (ex, h) => ex.tcp_host_connect(h, this.api.stack.addrArg(a), port));
    this.api.stack.kick();
    return this;
  }

  /** The poll callback every `interval` × 500 ms (lwIP tcp_poll); undefined or 0 stops it. */
  poll(fn: (() => void) | undefined, interval = 2): this {
    byteArg(interval, "tcp.poll interval");
    this.pollFn = fn;
    this.call("poll", (ex, h) => ex.tcp_host_poll(h, fn ? interval : 0));
    return this;
  }

  /**
   * Queues `data` for sending (lwIP tcp_write with TCP_WRITE_FLAG_COPY, then
   * tcp_output unless `output: false`). Returns how many bytes were taken:
   * at most {@link sndbuf}; the rest must wait for the sent callback.
   */
  write(data: Uint8Array, opts: TcpWriteOptions = {}): number {
    dataArg(data, "tcp.write");
    const h = this.live("write");
    const s = this.api.stack;
    const ex = s.ex;
    if (this.txBuf === 0) this.txBuf = s.guard(() => ex.tcp_tx_buffer());
    const flagsBase = (opts.more ? TCP_WRITE_FLAG_MORE : 0);
    const wantOutput = opts.output !== false;
    let room: number = s.guard(() => ex.tcp_host_sndbuf(h));
    // No room (or not a connection): let the core say which (0, or ERR_CONN for a listener).
    if (room === 0) {
      check(s.guard(() => ex.tcp_host_write(h, this.txBuf, 0, 0)), "tcp.write");
      return 0;
    }
    let done = 0;
    while (done < data.length && room > 0) {
      const n = Math.min(data.length - done, room, TCP_TX_BUF_SIZE);
      s.mem().set(data.subarray(done, done + n), this.txBuf);
      const last = done + n >= data.length || n >= room;
      const flags = flagsBase | (last ? 0 : TCP_WRITE_FLAG_MORE) | (last && wantOutput ? TCP_HOST_WRITE_OUTPUT : 0);
      const r: number = s.guard(() => ex.tcp_host_write(h, this.txBuf, n, flags));
      check(r, "tcp.write");
      done += r;
      room -= r;
      if (r < n) break;
    }
    if (done < data.length && done > 0 && wantOutput && room > 0) s.guard(() => ex.tcp_host_output(h));
    this.bytesWritten += done;
    s.kick();
    return done;
  }

  /** Sends what the window allows now (lwIP tcp_output). */
  output(): void {
    this.call("output", (ex, h) => ex.tcp_host_output(h));
    this.api.stack.kick();
  }

  /** Reopens the receive window by `len` consumed bytes (lwIP tcp_recved; with autoRecved false). */
  recved(len: number): void {
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`tcp.recved: bad length ${len}`);
    this.call("recved", (ex, h) => ex.tcp_host_recved(h, len));
    this.api.stack.kick();
  }

  /** Bytes that may be written now (lwIP tcp_sndbuf). */
  get sndbuf(): number {
    const h = this.live("sndbuf");
    return this.api.stack.ex.tcp_host_sndbuf(h);
  }

  /** Segments queued (lwIP tcp_sndqueuelen). */
  get sndqueuelen(): number {
    const h = this.live("sndqueuelen");
    return this.api.stack.ex.tcp_host_sndqueuelen(h);
  }

  /** The RFC 9293 state ("CLOSED" once the handle is dead). */
  get state(): TcpStateName {
    if (this.h === 0) return "CLOSED";
    const st: number = this.api.stack.ex.tcp_host_state(this.h);
    return st < 0 ? "CLOSED" : TCP_STATES[st];
  }

  /** An end of the connection: `which` 0 local, 1 remote. */
  private end(which: number, what: string): { address: IpAddress; port: number } {
    const h = this.live(what);
    const s = this.api.stack;
    const out = s.addrOut();
    const port: number = s.guard(() => s.ex.tcp_host_addr(h, which, out));
    check(port, `tcp.${what}`);
    return { address: s.readAddr(out), port };
  }

  get localAddress(): string {
    return this.end(0, "localAddress").address.toString();
  }
  get localPort(): number {
    return this.end(0, "localPort").port;
  }
  get remoteAddress(): string {
    return this.end(1, "remoteAddress").address.toString();
  }
  get remotePort(): number {
    return this.end(1, "remotePort").port;
  }

  /** Nagle's algorithm (default on); false = TCP_NODELAY. */
  set nagle(on: boolean) {
    this.call("nagle", (ex, h) => ex.tcp_host_nagle(h, on ? 1 : 0));
  }

  /** SO_REUSEADDR (bind a port still in TIME_WAIT, or share a listener's port). */
  set reuseaddr(on: boolean) {
    this.call("reuseaddr", (ex, h) => ex.tcp_host_set_options(h, SOF_REUSEADDR, on ? 1 : 0));
  }

  /** Keepalive on/off with idle time and probe interval in ms and probe count (0 = unchanged). */
  keepalive(on: boolean, idleMs = 0, intervalMs = 0, count = 0): this {
    this.call("keepalive", (ex, h) => ex.tcp_host_keepalive(h, on ? 1 : 0, idleMs >>> 0, intervalMs >>> 0, count >>> 0));
    return this;
  }

  /** Congestion control of this connection. */
  set cc(algo: "newreno" | "cubic") {
    if (algo !== "newreno" && algo !== "cubic") throw new TypeError(`tcp.cc: unknown algorithm ${String(algo)} (newreno, cubic)`);
    this.call("cc", (ex, h) => ex.tcp_host_set_cc(h, algo === "cubic" ? 1 : 0));
  }

  /** Priority for pcb reclaim when the pool is empty (lwIP tcp_setprio, 1..127). */
  set prio(p: number) {
    byteArg(p, "tcp.prio");
    this.call("prio", (ex, h) => ex.tcp_host_set_prio(h, p));
  }

  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "tcp.ttl");
    byteArg(tos, "tcp.tos");
    this.call("setTtlTos", (ex, h) => ex.tcp_host_set_ttl_tos(h, ttl, tos));
    return this;
  }

  /**
   * Closes (lwIP tcp_close): FIN after the queued data; a listener stops.
   * No callback runs afterwards. Unread data makes it a RST (RFC 2525 §2.17),
   * as in lwIP — with autoRecved that only happens for data still in flight.
   */
  close(): void {
    const h = this.live("close");
    const s = this.api.stack;
    // Closing from inside recv: the bytes being delivered count as read.
    if (this.inRecv !== 0) {
      s.guard(() => s.ex.tcp_host_recved(h, this.inRecv));
      this.inRecv = 0;
    }
    const r: number = s.guard(() => s.ex.tcp_host_close(h));
    check(r, "tcp.close");
    this.dead();
    s.kick();
  }

  /** Half-close (lwIP tcp_shutdown): `tx` sends FIN and keeps receiving; both = close(). */
  shutdown(rx: boolean, tx: boolean): void {
    if (rx && tx) return this.close();
    this.call("shutdown", (ex, h) => ex.tcp_host_shutdown(h, rx ? 1 : 0, tx ? 1 : 0));
    this.api.stack.kick();
  }

  /** Aborts with a RST (lwIP tcp_abort). No callback runs afterwards. */
  abort(): void {
    const h = this.live("abort");
    const s = this.api.stack;
    this.dead();
    check(s.guard(() => s.ex.tcp_host_abort(h)), "tcp.abort");
    s.kick();
  }

  /** @internal */
  ev(type: number, p: number, a: number, b: number): void {
    switch (type) {
      case EV_TCP.RECV: {
        this.bytesReceived += a;
        const fn = this.recvFn;
        this.inRecv = this.autoRecved || !fn ? a : 0;
        if (fn) fn(this.api.view(p));
        if (this.inRecv !== 0 && this.h !== 0) this.api.stack.ex.tcp_host_recved(this.h, this.inRecv);
        this.inRecv = 0;
        break;
      }
      case EV_TCP.SENT:
        this.sentFn?.(a, b);
        break;
      case EV_TCP.ACCEPT: {
        const child = new TcpPcb(this.api, a);
        if (this.acceptFn) this.acceptFn(child);
        else child.abort();
        break;
      }
      case EV_TCP.CONNECTED: {
        const fn = this.connectedFn;
        this.connectedFn = undefined;
        fn?.(a === 0 ? null : new AsipError(a | 0, "tcp.connect"));
        break;
      }
      case EV_TCP.FIN:
        this.recvFn?.(null);
        break;
      case EV_TCP.ERR: {
        this.dead();
        const e = new AsipError(a | 0, "tcp");
        if (this.errFn) this.errFn(e);
        break;
      }
      case EV_TCP.POLL:
        this.pollFn?.();
        break;
    }
  }
}
