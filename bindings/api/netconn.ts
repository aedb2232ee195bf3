/**
 * lwIP's sequential ("netconn") API with async/await.
 *
 * ```ts
 * const nc = stack.netconn;
 * const conn = nc.new(NETCONN_UDP);
 * conn.bind(null, 7);
 * for (;;) {
 *   const buf = await conn.recv();          // a Netbuf: zero-copy views of the core's buffer
 *   await conn.sendto(buf, buf.fromaddr, buf.fromport);
 *   buf.delete();                           // gives the buffer back to the core
 * }
 * ```
 *
 * Names and semantics follow lwIP's api.h (netconn_new → `nc.new`,
 * netconn_recv → `conn.recv`, netbuf_data → `buf.data()`, …). Where lwIP
 * blocks, these return Promises; a failure rejects/throws an
 * {@link AsipError} whose `code` is the err_t name ("ERR_TIMEOUT",
 * "ERR_WOULDBLOCK", "ERR_CLSD", "ERR_USE", …) and `err` the value, as
 * netconn calls return err_t. Misuse (bad address or port, a deleted conn)
 * throws TypeError/RangeError, or AsipError ERR_ARG/ERR_CLSD/ERR_VAL where
 * lwIP returns those.
 *
 * Netbufs from recv() hold the core's pbuf (taken from the event ring, not
 * copied): `data()` views are valid until `delete()`. A netbuf that is never
 * deleted is released when garbage-collected, but call delete(): the core's
 * buffers are few (a receive mailbox holds at most `recvmboxSize` of them).
 *
 * Types: NETCONN_UDP, NETCONN_UDPLITE, NETCONN_UDPNOCHKSUM and NETCONN_RAW
 * now; NETCONN_TCP when the core exports TCP (assembly/abi/tcp.ts), until
 * then `new(NETCONN_TCP)` throws ERR_VAL with a message saying so.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError, ERR, ip4ToU32, u32ToIp4, PBUF_NEXT, PBUF_PAYLOAD, PBUF_TOT_LEN, PBUF_LEN, EV } from "../abi.js";
import { rawApi, addrArg, portArg, UDP_MAX_PAYLOAD, type RawApi, type UdpPcb, type RawPcb } from "./raw.js";

// ---- constants (lwIP api.h) ---------------------------------------------------------------

export const NETCONN_INVALID = 0;
export const NETCONN_TCP = 0x10;
export const NETCONN_UDP = 0x20;
export const NETCONN_UDPLITE = 0x21;
export const NETCONN_UDPNOCHKSUM = 0x22;
export const NETCONN_RAW = 0x40;

/** netconn_write flags. */
export const NETCONN_NOFLAG = 0x00;
export const NETCONN_NOCOPY = 0x00;
export const NETCONN_COPY = 0x01;
export const NETCONN_MORE = 0x02;
export const NETCONN_DONTBLOCK = 0x04;

/** Callback events (lwIP enum netconn_evt). */
export const NETCONN_EVT_RCVPLUS = 0;
export const NETCONN_EVT_RCVMINUS = 1;
export const NETCONN_EVT_SENDPLUS = 2;
export const NETCONN_EVT_SENDMINUS = 3;
export const NETCONN_EVT_ERROR = 4;

/** lwIP DEFAULT_UDP_RECVMBOX_SIZE / DEFAULT_RAW_RECVMBOX_SIZE. */
export const DEFAULT_RECVMBOX_SIZE = 64;

export type NetconnCallback = (conn: Netconn, evt: number, len: number) => void;

/** The ICMP error a connection last received (asip; lwIP has no UDP error callback). */
export interface NetconnIcmpError {
  type: number;
  code: number;
  addr: string;
  port: number;
}

const enum St { NONE, CONNECTED, CLOSED }

function asipErr(err: number, what: string): AsipError {
  return new AsipError(err, what);
}

// ---- netbuf ------------------------------------------------------------------------------

const finalizer = new FinalizationRegistry<{ stack: Stack; p: number }>((h) => {
  if (h.p !== 0 && !h.stack.failure) {
    try { h.stack.ex.pbuf_release(h.p); } catch { /* stack gone */ }
  }
});

/**
 * lwIP's netbuf: a packet buffer with the address it came from. Holds either
 * a core pbuf (received, or from `alloc`) or JS bytes (`ref`).
 */
export class Netbuf {
  /** @internal The core pbuf (0 = none). */
  private held = { stack: undefined as unknown as Stack, p: 0 };
  /** @internal Current segment for data()/next(). */
  private cur = 0;
  private js: Uint8Array | undefined;
  /** Source address and port of a received netbuf (lwIP netbuf_fromaddr/fromport). */
  fromaddr = "0.0.0.0";
  fromport = 0;
  /** Destination address of a received datagram (ours or a broadcast). */
  toaddr = "0.0.0.0";

  /** @internal */
  constructor(private readonly api: NetconnApi) {
    this.held.stack = api.stack;
  }

  /** @internal Adopts pbuf `p` (one reference owned by the netbuf). */
  adopt(p: number): this {
    this.free();
    this.held.p = p;
    this.cur = p;
    finalizer.register(this, this.held, this);
    return this;
  }

  /** @internal */
  get pbuf(): number {
    return this.held.p;
  }

  /**
   * netbuf_alloc: a core buffer of `size` bytes (contiguous) with header room;
   * returns a writable view of it. Sending it copies inside the core only.
   */
  alloc(size: number): Uint8Array {
    if (!Number.isInteger(size) || size < 0 || size > UDP_MAX_PAYLOAD) throw new RangeError(`netbuf.alloc: size out of range: ${size}`);
    const s = this.api.stack;
    const p: number = s.guard(() => s.ex.udp_tx_buffer(size));
    if (p === 0) throw asipErr(ERR.ERR_MEM, "netbuf.alloc");
    this.adopt(p);
    return this.data();
  }

  /** netbuf_ref: the netbuf refers to `data` (no copy until sent). */
  ref(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError("netbuf.ref: data must be a Uint8Array");
    this.free();
    this.js = data;
  }

  /** netbuf_take: copies `data` into the netbuf (allocating a core buffer of its size when empty). */
  take(data: Uint8Array): void {
    if (this.held.p === 0 && !this.js) this.alloc(data.length);
    if (this.js) {
      this.js = data.slice();
      return;
    }
    const len = this.len;
    if (data.length > len) throw asipErr(ERR.ERR_MEM, "netbuf.take");
    let off = 0;
    const u32 = this.api.stack.mem32(), u8 = this.api.stack.mem();
    for (let q = this.held.p; q !== 0 && off < data.length; q = u32[(q >>> 2) + (PBUF_NEXT >>> 2)]) {
      const pl = u32[(q >>> 2) + (PBUF_PAYLOAD >>> 2)], l = u32[(q >>> 2) + (PBUF_LEN >>> 2)];
      const n = Math.min(l, data.length - off);
      u8.set(data.subarray(off, off + n), pl);
      off += n;
    }
  }

  /** netbuf_len: total bytes. */
  get len(): number {
    if (this.js) return this.js.length;
    if (this.held.p === 0) return 0;
    return this.api.stack.mem32()[(this.held.p >>> 2) + (PBUF_TOT_LEN >>> 2)];
  }

  /**
   * netbuf_data: a view of the current segment (the whole packet unless the
   * core holds it as a chain: walk with next()). Valid until delete().
   */
  data(): Uint8Array {
    if (this.js) return this.js;
    if (this.cur === 0) return new Uint8Array(0);
    const u32 = this.api.stack.mem32();
    const pl = u32[(this.cur >>> 2) + (PBUF_PAYLOAD >>> 2)], l = u32[(this.cur >>> 2) + (PBUF_LEN >>> 2)];
    return this.api.stack.mem().subarray(pl, pl + l);
  }

  /** netbuf_next: -1 when already at the last segment, 1 when now at the last, 0 otherwise. */
  next(): number {
    if (this.js || this.cur === 0) return -1;
    const u32 = this.api.stack.mem32();
    const nx = u32[(this.cur >>> 2) + (PBUF_NEXT >>> 2)];
    if (nx === 0) return -1;
    this.cur = nx;
    return u32[(nx >>> 2) + (PBUF_NEXT >>> 2)] === 0 ? 1 : 0;
  }

  /** netbuf_first: back to the first segment. */
  first(): void {
    this.cur = this.held.p;
  }

  /** netbuf_copy / netbuf_copy_partial: the bytes as a new Uint8Array (or into `dst`, returning the count). */
  copy(): Uint8Array;
  copy(dst: Uint8Array, offset?: number): number;
  copy(dst?: Uint8Array, offset = 0): Uint8Array | number {
    const tot = this.len;
    const out = dst ?? new Uint8Array(tot);
    if (this.js) {
      const src = this.js.subarray(offset, offset + out.length);
      out.set(src);
      return dst ? src.length : out;
    }
    const u32 = this.api.stack.mem32(), u8 = this.api.stack.mem();
    let skip = offset, off = 0;
    for (let q = this.held.p; q !== 0 && off < out.length; q = u32[(q >>> 2) + (PBUF_NEXT >>> 2)]) {
      const pl = u32[(q >>> 2) + (PBUF_PAYLOAD >>> 2)], l = u32[(q >>> 2) + (PBUF_LEN >>> 2)];
      if (skip >= l) { skip -= l; continue; }
      const n = Math.min(l - skip, out.length - off);
      out.set(u8.subarray(pl + skip, pl + skip + n), off);
      off += n;
      skip = 0;
    }
    return dst ? off : out;
  }

  /** @internal Frees what the netbuf holds, keeping the netbuf. */
  free(): void {
    if (this.held.p !== 0) {
      const p = this.held.p;
      this.held.p = 0;
      this.cur = 0;
      finalizer.unregister(this);
      const s = this.api.stack;
      if (!s.failure) s.guard(() => s.ex.pbuf_release(p));
    }
    this.js = undefined;
  }

  /** netbuf_delete: releases the core's buffer; views from data() are invalid afterwards. */
  delete(): void {
    this.free();
  }
}

// ---- netconn ---------------------------------------------------------------------------------

interface Waiter {
  resolve: (b: Netbuf) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** A connection of the sequential API. */
export class Netconn {
  readonly type: number;
  private st = St.NONE;
  private udp: UdpPcb | undefined;
  private rawpcb: RawPcb | undefined;
  private h = 0;
  private readonly queue: Netbuf[] = [];
  private queuedBytes = 0;
  private readonly waiters: Waiter[] = [];
  private nonblocking = false;
  private recvTimeout = 0;
  private sendTimeout = 0;
  /** lwIP recv_bufsize: bytes the receive mailbox may hold. */
  recvBufSize = 0x7fffffff;
  /** Datagrams the receive mailbox may hold (lwIP recvmbox size). */
  recvmboxSize = DEFAULT_RECVMBOX_SIZE;
  /** Datagrams dropped because the mailbox was full. */
  drops = 0;
  /** lwIP conn->pending_err: an error to report on the next call. */
  pendingErr = 0;
  /** The last ICMP error about a datagram we sent. */
  icmpError: NetconnIcmpError | undefined;
  private remote: { ip: number; port: number } | undefined;
  /** The callback (lwIP netconn_new_with_callback). */
  callback: NetconnCallback | undefined;

  /** @internal */
  constructor(private readonly api: NetconnApi, type: number, proto: number, callback?: NetconnCallback) {
    this.type = type;
    this.callback = callback;
    const raw = api.raw;
    if ((type & 0xf0) === NETCONN_UDP) {
      if (type !== NETCONN_UDP && type !== NETCONN_UDPLITE && type !== NETCONN_UDPNOCHKSUM) throw asipErr(ERR.ERR_VAL, "netconn.new");
      this.udp = raw.udp.new({ lite: type === NETCONN_UDPLITE });
      this.h = this.udp.handle;
      if (type === NETCONN_UDPNOCHKSUM) api.stack.ex.udp_host_set_nochksum(this.h, 1);
    } else if (type === NETCONN_RAW) {
      if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new RangeError(`netconn.new: protocol out of range: ${proto}`);
      this.rawpcb = raw.ip.new(proto);
      this.h = this.rawpcb.handle;
    } else if (type === NETCONN_TCP) {
      throw asipErr(ERR.ERR_VAL, "netconn.new: NETCONN_TCP needs the core's TCP host exports (assembly/abi/tcp.ts), not in this build yet");
    } else {
      throw asipErr(ERR.ERR_VAL, `netconn.new: unknown type 0x${type.toString(16)}`);
    }
    // Take over the pcb's events: we need the ring index to keep the pbuf.
    raw.pcbs.set(this.h, { ev: (t, p, a, b, c, d, e, index) => this.ev(t, p, a, b, c, d, e, index) });
  }

  private live(what: string): void {
    if (this.st === St.CLOSED) throw asipErr(ERR.ERR_CLSD, `netconn.${what}`);
  }

  private event(evt: number, len: number): void {
    const cb = this.callback;
    if (cb) cb(this, evt, len);
    this.api.notify(this, evt, len);
  }

  /** @internal One event from the core for our pcb. */
  private ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number): void {
    if (this.st === St.CLOSED) return;
    if (type === EV.UDP_RECV || type === EV.RAW_RECV) {
      const s = this.api.stack;
      const len = s.mem32()[(p >>> 2) + (PBUF_TOT_LEN >>> 2)];
      if (this.queue.length >= this.recvmboxSize || this.queuedBytes + len > this.recvBufSize) {
        // lwIP recv_udp: a full mailbox drops the datagram.
        this.drops++;
        return;
      }
      const q: number = s.guard(() => s.ex.ev_take(index));
      if (q === 0) return;
      const buf = new Netbuf(this.api).adopt(q);
      buf.fromaddr = u32ToIp4(a);
      if (type === EV.UDP_RECV) {
        buf.fromport = b;
        buf.toaddr = u32ToIp4(c);
      } else {
        buf.toaddr = u32ToIp4(b);
      }
      const w = this.waiters.shift();
      if (w) {
        if (w.timer) clearTimeout(w.timer);
        // lwIP posts then fetches: RCVPLUS then RCVMINUS.
        this.event(NETCONN_EVT_RCVPLUS, len);
        this.event(NETCONN_EVT_RCVMINUS, len);
        w.resolve(buf);
        return;
      }
      this.queue.push(buf);
      this.queuedBytes += len;
      this.event(NETCONN_EVT_RCVPLUS, len);
    } else if (type === EV.UDP_ERR) {
      this.icmpError = { type: a, code: b, addr: u32ToIp4(c), port: d };
      this.event(NETCONN_EVT_ERROR, 0);
    }
  }

  /** netconn_bind: `addr` null or "0.0.0.0" = any; `port` 0 = ephemeral (UDP). */
  bind(addr: string | null, port = 0): void {
    this.live("bind");
    const ip = addr ?? "0.0.0.0";
    if (this.udp) this.udp.bind(ip, portArg(port, "netconn.bind"));
    else this.rawpcb!.bind(ip);
  }

  /** netconn_bind_if: only packets arriving on netif `index`. */
  bindIf(index: number): void {
    this.live("bindIf");
    if (this.udp) this.udp.bindNetif(index);
    else {
      const s = this.api.stack;
      const err: number = s.guard(() => s.ex.raw_host_bind_netif(this.h, index >>> 0));
      if (err < 0) throw asipErr(err, "netconn.bindIf");
    }
  }

  /** netconn_connect: sets the remote end (UDP/RAW: a filter and the default destination). */
  async connect(addr: string, port = 0): Promise<void> {
    this.live("connect");
    const ip = addrArg(addr, "netconn.connect");
    if (this.udp) {
      this.udp.connect(addr, portArg(port, "netconn.connect", true));
    } else this.rawpcb!.connect(addr);
    this.remote = { ip, port };
    this.st = St.CONNECTED;
  }

  /** netconn_disconnect (UDP). */
  disconnect(): void {
    this.live("disconnect");
    if (this.udp) this.udp.disconnect();
    else this.rawpcb!.disconnect();
    this.remote = undefined;
    this.st = St.NONE;
  }

  /** netconn_listen: TCP only. */
  listen(_backlog?: number): void {
    this.live("listen");
    throw asipErr(ERR.ERR_ARG, "netconn.listen: not a TCP netconn");
  }

  /** netconn_accept: TCP only. */
  async accept(): Promise<Netconn> {
    this.live("accept");
    throw asipErr(ERR.ERR_ARG, "netconn.accept: not a TCP netconn");
  }

  /**
   * netconn_recv: the next datagram. Nonblocking with nothing queued:
   * ERR_WOULDBLOCK. Past the receive timeout: ERR_TIMEOUT. Closed meanwhile:
   * ERR_CLSD. The netbuf must be deleted by the caller.
   */
  recv(): Promise<Netbuf> {
    try {
      this.live("recv");
    } catch (e) {
      return Promise.reject(e);
    }
    const b = this.queue.shift();
    if (b) {
      const len = b.len;
      this.queuedBytes -= len;
      this.event(NETCONN_EVT_RCVMINUS, len);
      return Promise.resolve(b);
    }
    if (this.nonblocking) return Promise.reject(asipErr(ERR.ERR_WOULDBLOCK, "netconn.recv"));
    return new Promise<Netbuf>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (this.recvTimeout > 0) {
        w.timer = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(asipErr(ERR.ERR_TIMEOUT, "netconn.recv"));
        }, this.recvTimeout);
      }
      this.waiters.push(w);
    });
  }

  /** @internal What recv() would return without waiting (sockets: MSG_PEEK, FIONREAD). */
  peek(): Netbuf | undefined {
    return this.queue[0];
  }

  /** @internal Bytes / datagrams waiting. */
  get available(): { bytes: number; count: number } {
    return { bytes: this.queuedBytes, count: this.queue.length };
  }

  /** netconn_send: to the connected remote. */
  async send(buf: Netbuf): Promise<void> {
    this.live("send");
    if (!this.remote) throw asipErr(ERR.ERR_CONN, "netconn.send");
    this.sendNow(buf, this.remote.ip, this.remote.port, "send");
  }

  /** netconn_sendto. */
  async sendto(buf: Netbuf, addr: string, port = 0): Promise<void> {
    this.live("sendto");
    const ip = addrArg(addr, "netconn.sendto");
    if (this.udp) portArg(port, "netconn.sendto", true);
    this.sendNow(buf, ip, port, "sendto");
  }

  /** @internal Synchronous send of a netbuf or bytes (sockets use it). */
  sendNow(buf: Netbuf | Uint8Array, ip: number, port: number, what: string): void {
    const s = this.api.stack;
    const ex = s.ex;
    if (buf instanceof Netbuf && buf.pbuf !== 0) {
      const u32 = s.mem32();
      const p = buf.pbuf;
      const len = u32[(p >>> 2) + (PBUF_TOT_LEN >>> 2)];
      if (u32[(p >>> 2) + (PBUF_LEN >>> 2)] === len) {
        // One segment: the core copies from its own memory (checksum in the same pass).
        const pl = u32[(p >>> 2) + (PBUF_PAYLOAD >>> 2)];
        const err: number = s.guard(() => this.udp ? ex.udp_sendto_host(this.h, pl, len, ip, port) : ex.raw_sendto_host(this.h, pl, len, ip));
        if (err < 0) throw asipErr(err, `netconn.${what}`);
        s.kick();
        return;
      }
    }
    const data = buf instanceof Netbuf ? buf.copy() : buf;
    try {
      if (this.udp) this.udp.sendRaw(data, ip, port, what);
      else this.rawpcb!.sendto(data, u32ToIp4(ip));
    } catch (e) {
      if (e instanceof AsipError) throw asipErr(e.err, `netconn.${what}`);
      throw e;
    }
  }

  /** netconn_write: TCP only. */
  async write(_data: Uint8Array, _flags = NETCONN_COPY): Promise<number> {
    this.live("write");
    throw asipErr(ERR.ERR_VAL, "netconn.write: not a TCP netconn (use send/sendto)");
  }

  /** netconn_shutdown: TCP only (UDP/RAW: ERR_CONN like lwIP). */
  async shutdown(_rx: boolean, _tx: boolean): Promise<void> {
    this.live("shutdown");
    throw asipErr(ERR.ERR_CONN, "netconn.shutdown");
  }

  /**
   * netconn_close: UDP/RAW — removes the pcb; queued netbufs are freed,
   * pending recv() calls fail with ERR_CLSD. A second close: ERR_CLSD.
   */
  async close(): Promise<void> {
    this.live("close");
    this.teardown();
  }

  /** netconn_delete: close if still open, free everything. Idempotent. */
  async delete(): Promise<void> {
    if (this.st !== St.CLOSED) this.teardown();
  }

  private teardown(): void {
    this.st = St.CLOSED;
    for (const b of this.queue) b.delete();
    this.queue.length = 0;
    this.queuedBytes = 0;
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(asipErr(ERR.ERR_CLSD, "netconn.recv"));
    }
    const s = this.api.stack;
    if (!s.failure) {
      if (this.udp) this.udp.remove();
      if (this.rawpcb) this.rawpcb.remove();
    }
    this.api.notify(this, NETCONN_EVT_ERROR, 0);
  }

  /** True once closed or deleted. */
  get closed(): boolean {
    return this.st === St.CLOSED;
  }

  /** netconn_getaddr: local (`local` true) or remote address and port. */
  getaddr(local: boolean): { addr: string; port: number } {
    this.live("getaddr");
    if (local) {
      if (this.udp) return { addr: this.udp.localAddress, port: this.udp.localPort };
      return { addr: "0.0.0.0", port: 0 };
    }
    if (!this.remote) throw asipErr(ERR.ERR_CONN, "netconn.getaddr");
    return { addr: u32ToIp4(this.remote.ip), port: this.remote.port };
  }
  /** netconn_addr */
  addr(): { addr: string; port: number } { return this.getaddr(true); }
  /** netconn_peer */
  peer(): { addr: string; port: number } { return this.getaddr(false); }

  /** netconn_set_nonblocking */
  setNonblocking(on: boolean): void { this.nonblocking = !!on; }
  /** netconn_is_nonblocking */
  isNonblocking(): boolean { return this.nonblocking; }
  /** netconn_set_recvtimeout (ms; 0 = wait forever). */
  setRecvTimeout(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`netconn.setRecvTimeout: ${ms}`);
    this.recvTimeout = ms;
  }
  getRecvTimeout(): number { return this.recvTimeout; }
  /** netconn_set_sendtimeout (TCP writes; ms, 0 = forever). */
  setSendTimeout(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`netconn.setSendTimeout: ${ms}`);
    this.sendTimeout = ms;
  }
  getSendTimeout(): number { return this.sendTimeout; }
  /** netconn_set_recvbufsize */
  setRecvBufSize(bytes: number): void { this.recvBufSize = bytes; }
  getRecvBufSize(): number { return this.recvBufSize; }

  /** netconn_err: the pending error (and clears it). */
  err(): number {
    const e = this.pendingErr;
    this.pendingErr = 0;
    return e;
  }

  /** @internal The core handle (UDP/raw pcb). */
  get handle(): number {
    return this.h;
  }

  /** @internal UDP pcb, for options. */
  get udpPcb(): UdpPcb | undefined {
    return this.udp;
  }
  /** @internal raw pcb, for options. */
  get rawPcb(): RawPcb | undefined {
    return this.rawpcb;
  }
  /** @internal connected remote as u32. */
  get remoteU32(): { ip: number; port: number } | undefined {
    return this.remote;
  }
}

/** `stack.netconn`: the sequential API of one stack. */
export class NetconnApi {
  /** @internal */ readonly raw: RawApi;
  private readonly observers = new Set<NetconnCallback>();

  constructor(readonly stack: Stack) {
    this.raw = rawApi(stack);
  }

  /** netconn_new / netconn_new_with_callback. */
  new(type: number, callback?: NetconnCallback): Netconn {
    return new Netconn(this, type, 0, callback);
  }

  /** netconn_new_with_proto_and_callback (NETCONN_RAW: the IP protocol). */
  newWithProto(type: number, proto: number, callback?: NetconnCallback): Netconn {
    return new Netconn(this, type, proto, callback);
  }

  /** netbuf_new */
  netbuf(): Netbuf {
    return new Netbuf(this);
  }

  /** @internal Observers of every netconn's events (the sockets layer). */
  observe(fn: NetconnCallback): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  /** @internal */
  notify(conn: Netconn, evt: number, len: number): void {
    for (const o of this.observers) o(conn, evt, len);
  }
}

const apis = new WeakMap<Stack, NetconnApi>();

/** The stack's sequential API (what `stack.netconn` returns). */
export function netconnApi(stack: Stack): NetconnApi {
  let n = apis.get(stack);
  if (!n) {
    n = new NetconnApi(stack);
    apis.set(stack, n);
  }
  return n;
}

export { ip4ToU32 };
