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
 * Types: NETCONN_TCP, NETCONN_UDP, NETCONN_UDPLITE, NETCONN_UDPNOCHKSUM and
 * NETCONN_RAW, and with IPv6 (cores built with it, `stack.ipv6`) their
 * `_IPV6` twins (type | NETCONN_TYPE_IPV6). As in lwIP, an IPv6 TCP or UDP
 * netconn is dual-stack: its pcb is IPADDR_TYPE_ANY, and bind(null or "::")
 * takes both families unless {@link Netconn.setIpv6Only} (lwIP
 * netconn_set_ipv6only) was called first; addresses stay what they are (an
 * IPv4 peer is "a.b.c.d": mapping to ::ffff: is the sockets layer's). A
 * NETCONN_RAW_IPV6 pcb is IPv6 only.
 *
 * TCP (lwIP api_msg.c semantics): `connect` resolves when the handshake
 * completes — or, nonblocking, throws ERR_INPROGRESS at once and reports
 * the outcome through events (SENDPLUS when connected, ERROR with
 * `pendingErr` when not), as lwIP does; `listen`/`accept` (an accept
 * mailbox as deep as the backlog); `recv` yields netbufs holding the core's
 * pbufs straight from the event ring (zero-copy) and rejects with ERR_CLSD
 * once the peer's FIN has been read; the receive window is reopened
 * (tcp_recved) only when recv() hands a netbuf to the application, so an
 * application that does not call recv() closes the sender's window;
 * `write(data, flags)` copies into the send queue (NETCONN_COPY and
 * NETCONN_NOCOPY both copy: JS memory cannot be referenced by the core),
 * NETCONN_MORE clears PSH, blocking writes wait for SENT until all is
 * queued (send timeout: ERR_TIMEOUT with the partial count in
 * `bytesWritten` of the error), NETCONN_DONTBLOCK / nonblocking write what
 * fits and return the count (ERR_WOULDBLOCK when nothing fits);
 * `shutdown(rx, tx)`; `close` (FIN) — a connection reset or aborted
 * meanwhile reports ERR_RST / ERR_ABRT on the next call.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError, ERR, PBUF_NEXT, PBUF_PAYLOAD, PBUF_TOT_LEN, PBUF_LEN, EV } from "../abi.js";
import { IpAddress } from "../ip-address.js";
import { rawApi, addrArg, portArg, UDP_MAX_PAYLOAD, EV_TCP, type RawApi, type UdpPcb, type RawPcb, type TcpPcb, recvedSafe } from "./raw.js";

// ---- constants (lwIP api.h) ---------------------------------------------------------------

export const NETCONN_INVALID = 0;
export const NETCONN_TCP = 0x10;
export const NETCONN_UDP = 0x20;
export const NETCONN_UDPLITE = 0x21;
export const NETCONN_UDPNOCHKSUM = 0x22;
export const NETCONN_RAW = 0x40;
/** The IPv6 flag of a netconn type (lwIP NETCONN_TYPE_IPV6). */
export const NETCONN_TYPE_IPV6 = 0x08;
export const NETCONN_TCP_IPV6 = NETCONN_TCP | NETCONN_TYPE_IPV6;
export const NETCONN_UDP_IPV6 = NETCONN_UDP | NETCONN_TYPE_IPV6;
export const NETCONN_UDPLITE_IPV6 = NETCONN_UDPLITE | NETCONN_TYPE_IPV6;
export const NETCONN_UDPNOCHKSUM_IPV6 = NETCONN_UDPNOCHKSUM | NETCONN_TYPE_IPV6;
export const NETCONN_RAW_IPV6 = NETCONN_RAW | NETCONN_TYPE_IPV6;
/** lwIP NETCONNTYPE_ISIPV6. */
export function netconnTypeIsIpv6(type: number): boolean {
  return (type & NETCONN_TYPE_IPV6) !== 0;
}

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
  private tcp: TcpPcb | undefined;
  /** TCP: the peer's FIN has been queued (recv() reports ERR_CLSD after the data). */
  private finQueued = false;
  private tcpState: "new" | "connecting" | "connected" | "listen" | "dead" = "new";
  /** TCP: accepted connections waiting for accept() (the accept mailbox). */
  private readonly acceptQueue: Netconn[] = [];
  private readonly acceptWaiters: { resolve: (c: Netconn) => void; reject: (e: Error) => void; timer?: ReturnType<typeof setTimeout> }[] = [];
  private acceptmboxSize = 0;
  /** TCP: writers waiting for room in the send queue. */
  private readonly sendWaiters: (() => void)[] = [];
  private connectWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** TCP: room in the send queue after the last SENT (lwIP's sendevent). */
  private writable = true;
  /** TCP: the peer's address once connected. */
  private tcpRemote: { addr: string; port: number } | undefined;
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
  private remote: { ip: IpAddress; port: number } | undefined;
  private v6only = false;
  /** The callback (lwIP netconn_new_with_callback). */
  callback: NetconnCallback | undefined;

  /** @internal */
  constructor(private readonly api: NetconnApi, type: number, proto: number, callback?: NetconnCallback, accepted?: TcpPcb) {
    this.type = type;
    this.callback = callback;
    const raw = api.raw;
    const v6 = netconnTypeIsIpv6(type);
    if (v6 && !api.stack.ipv6) throw asipErr(ERR.ERR_VAL, "netconn.new: this core has no IPv6");
    const base = type & ~NETCONN_TYPE_IPV6;
    if (base === NETCONN_TCP) {
      this.tcp = accepted ?? raw.tcp.new(v6 ? 46 : 4);
      this.h = this.tcp.handle;
      if (accepted) {
        this.tcpState = "connected";
        this.tcpRemote = { addr: accepted.remoteAddress, port: accepted.remotePort };
      }
      // Take over the pcb's events from the raw API (we need the ring index to
      // keep RECV's pbuf); what the TcpPcb object tracks itself (connect,
      // accept, its death) is forwarded to it.
      const pcb = this.tcp;
      raw.tcpPcbs.set(this.h, { ev: (t, p, a, b, c, d, e, index, flags) => this.tcpEv(pcb, t, p, a, b, c, d, e, index, flags) });
      return;
    }
    if ((base & 0xf0) === NETCONN_UDP) {
      if (base !== NETCONN_UDP && base !== NETCONN_UDPLITE && base !== NETCONN_UDPNOCHKSUM) throw asipErr(ERR.ERR_VAL, "netconn.new");
      this.udp = raw.udp.new({ lite: base === NETCONN_UDPLITE, ipType: v6 ? 46 : 4 });
      this.h = this.udp.handle;
      if (base === NETCONN_UDPNOCHKSUM) api.stack.ex.udp_host_set_nochksum(this.h, 1);
    } else if (base === NETCONN_RAW) {
      if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new RangeError(`netconn.new: protocol out of range: ${proto}`);
      this.rawpcb = raw.ip.new(proto, { ipType: v6 ? 6 : 4 });
      this.h = this.rawpcb.handle;
    } else {
      throw asipErr(ERR.ERR_VAL, `netconn.new: unknown type 0x${type.toString(16)}`);
    }
    // Take over the pcb's events: we need the ring index to keep the pbuf.
    raw.pcbs.set(this.h, { ev: (t, p, a, b, c, d, e, index, flags) => this.ev(t, p, a, b, c, d, e, index, flags) });
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
  private ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number): void {
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
      const raw = this.api.raw;
      buf.fromaddr = raw.addr(a, flags);
      if (type === EV.UDP_RECV) {
        buf.fromport = b;
        buf.toaddr = raw.addr(c, flags);
      } else {
        buf.toaddr = raw.addr(b, flags);
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
      this.icmpError = { type: a, code: b, addr: this.api.raw.addr(c, flags), port: d };
      this.event(NETCONN_EVT_ERROR, 0);
    }
  }

  /** @internal One TCP event from the core for our pcb. */
  private tcpEv(pcb: TcpPcb, type: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number): void {
    const s = this.api.stack;
    switch (type) {
      case EV_TCP.RECV: {
        if (this.st === St.CLOSED) {
          recvedSafe(pcb, a);
          return;
        }
        // Keep the core's pbuf (zero-copy netbuf); the window reopens when recv() hands it out.
        const q: number = s.guard(() => s.ex.ev_take(index));
        if (q === 0) return;
        const buf = new Netbuf(this.api).adopt(q);
        if (this.tcpRemote) {
          buf.fromaddr = this.tcpRemote.addr;
          buf.fromport = this.tcpRemote.port;
        }
        this.deliverTcp(buf, a);
        return;
      }
      case EV_TCP.FIN:
        this.finQueued = true;
        this.wakeRecv();
        this.event(NETCONN_EVT_RCVPLUS, 0);
        return;
      case EV_TCP.SENT:
        this.writable = true;
        for (const w of this.sendWaiters.splice(0)) w();
        this.event(NETCONN_EVT_SENDPLUS, a);
        return;
      case EV_TCP.CONNECTED:
        pcb.ev(type, p, a, b); // runs our connect callback
        return;
      case EV_TCP.ACCEPT:
        pcb.ev(type, p, a, b); // creates the child TcpPcb and runs onAccept
        return;
      case EV_TCP.ERR: {
        pcb.ev(type, p, a, b); // the TcpPcb is dead now
        this.tcpDied(a | 0);
        return;
      }
    }
  }

  /** TCP: a netbuf of `len` bytes arrived. */
  private deliverTcp(buf: Netbuf, len: number): void {
    const w = this.waiters.shift();
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      this.event(NETCONN_EVT_RCVPLUS, len);
      this.event(NETCONN_EVT_RCVMINUS, len);
      recvedSafe(this.tcp!, len);
      w.resolve(buf);
      return;
    }
    this.queue.push(buf);
    this.queuedBytes += len;
    this.event(NETCONN_EVT_RCVPLUS, len);
  }

  /** Wakes recv() callers after FIN or an error (they see ERR_CLSD / the error). */
  private wakeRecv(): void {
    if (this.queue.length !== 0) return;
    const err = this.pendingErr || ERR.ERR_CLSD;
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(asipErr(err, "netconn.recv"));
    }
  }

  /** TCP: the core dropped the pcb (ERR_RST, ERR_ABRT, refused connect). */
  private tcpDied(err: number): void {
    const was = this.tcpState;
    this.tcpState = "dead";
    this.pendingErr = err;
    const cw = this.connectWaiter;
    this.connectWaiter = undefined;
    if (cw) cw.reject(asipErr(err, "netconn.connect"));
    this.wakeRecv();
    for (const w of this.sendWaiters.splice(0)) w();
    for (const w of this.acceptWaiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(asipErr(err, "netconn.accept"));
    }
    if (was !== "dead") this.event(NETCONN_EVT_ERROR, 0);
  }

  private onAccept(child: TcpPcb): void {
    if (this.st === St.CLOSED || this.acceptQueue.length >= this.acceptmboxSize) {
      // lwIP accept_function: a full accept mailbox refuses the connection.
      try { child.abort(); } catch { /* gone */ }
      return;
    }
    const conn = new Netconn(this.api, this.type, 0, this.callback, child);
    conn.nonblocking = false;
    const w = this.acceptWaiters.shift();
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      this.event(NETCONN_EVT_RCVPLUS, 0);
      this.event(NETCONN_EVT_RCVMINUS, 0);
      w.resolve(conn);
      return;
    }
    this.acceptQueue.push(conn);
    this.event(NETCONN_EVT_RCVPLUS, 0);
  }

  /**
   * lwIP netconn_set_ipv6only: an IPv6 netconn bound to "::" afterwards
   * takes IPv6 only (before bind; ERR_VAL on an IPv4 netconn).
   */
  setIpv6Only(on: boolean): void {
    this.live("setIpv6Only");
    if (!netconnTypeIsIpv6(this.type)) throw asipErr(ERR.ERR_VAL, "netconn.setIpv6Only: not an IPv6 netconn");
    this.v6only = !!on;
    if (this.tcp) this.tcp.v6only = this.v6only;
    if (this.udp) this.udp.v6only = this.v6only;
  }

  /** lwIP netconn_get_ipv6only. */
  getIpv6Only(): boolean {
    return this.v6only;
  }

  /** netconn_bind: `addr` null = any ("::" on an IPv6 netconn, else "0.0.0.0"); `port` 0 = ephemeral (UDP). */
  bind(addr: string | null, port = 0): void {
    this.live("bind");
    const ip = addr ?? (netconnTypeIsIpv6(this.type) ? "::" : "0.0.0.0");
    if (this.tcp) {
      if (this.tcpState === "dead") throw asipErr(this.pendingErr || ERR.ERR_CLSD, "netconn.bind");
      this.tcp.bind(ip, portArg(port, "netconn.bind"));
      return;
    }
    if (this.udp) this.udp.bind(ip, portArg(port, "netconn.bind"));
    else this.rawpcb!.bind(ip);
  }

  /** netconn_bind_if: only packets arriving on netif `index`. */
  bindIf(index: number): void {
    this.live("bindIf");
    if (this.tcp) {
      const s = this.api.stack;
      const err: number = s.guard(() => s.ex.tcp_host_bind_netif(this.h, index >>> 0));
      if (err < 0) throw asipErr(err, "netconn.bindIf");
      return;
    }
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
    if (this.tcp) return this.tcpConnect(addr, port);
    if (this.udp) {
      this.udp.connect(addr, portArg(port, "netconn.connect", true));
    } else this.rawpcb!.connect(addr);
    this.remote = { ip, port };
    this.st = St.CONNECTED;
  }

  /**
   * TCP connect. Blocking: resolves when connected, rejects with the err_t
   * (ERR_RST refused, ERR_ABRT timed out). Nonblocking: throws
   * ERR_INPROGRESS at once; SENDPLUS follows on success, ERROR (with
   * `pendingErr`, read by err()) on failure — lwIP's nonblocking connect.
   */
  private tcpConnect(addr: string, port: number): Promise<void> {
    const pcb = this.tcp!;
    if (this.tcpState === "connecting") throw asipErr(ERR.ERR_ALREADY, "netconn.connect");
    if (this.tcpState === "connected") throw asipErr(ERR.ERR_ISCONN, "netconn.connect");
    if (this.tcpState !== "new") throw asipErr(this.pendingErr || ERR.ERR_CLSD, "netconn.connect");
    portArg(port, "netconn.connect", true);
    this.tcpState = "connecting";
    this.writable = false;
    const done = new Promise<void>((resolve, reject) => {
      this.connectWaiter = { resolve, reject };
    });
    done.catch(() => {});
    pcb.connect(addr, port, (err) => {
      if (err) return; // failures arrive as ERR events (tcpDied)
      this.tcpState = "connected";
      this.tcpRemote = { addr: pcb.remoteAddress, port: pcb.remotePort };
      this.writable = true;
      const cw = this.connectWaiter;
      this.connectWaiter = undefined;
      cw?.resolve();
      this.event(NETCONN_EVT_SENDPLUS, 0);
    });
    if (this.nonblocking) {
      return Promise.reject(asipErr(ERR.ERR_INPROGRESS, "netconn.connect"));
    }
    return done;
  }

  /** @internal TCP connection state (sockets: select/poll, SO_ERROR). */
  get tcpPhase(): "new" | "connecting" | "connected" | "listen" | "dead" | undefined {
    return this.tcp ? this.tcpState : undefined;
  }
  /** @internal TCP: FIN received and every byte before it taken. */
  get eof(): boolean {
    return this.finQueued && this.queue.length === 0;
  }
  /** @internal TCP: room in the send queue now. */
  get canWrite(): boolean {
    return this.tcpState === "connected" && this.tcp !== undefined && this.tcp.handle !== 0 && this.tcp.sndbuf > 0;
  }
  /** @internal TCP: accepted connections waiting. */
  get acceptPending(): number {
    return this.acceptQueue.length;
  }
  /** @internal TCP pcb, for options. */
  get tcpPcb(): TcpPcb | undefined {
    return this.tcp;
  }

  /** netconn_disconnect (UDP). */
  disconnect(): void {
    this.live("disconnect");
    if (this.udp) this.udp.disconnect();
    else this.rawpcb!.disconnect();
    this.remote = undefined;
    this.st = St.NONE;
  }

  /** netconn_listen / netconn_listen_with_backlog: TCP only. */
  listen(backlog = 255): void {
    this.live("listen");
    if (!this.tcp) throw asipErr(ERR.ERR_ARG, "netconn.listen: not a TCP netconn");
    if (this.tcpState === "listen") return;
    if (this.tcpState !== "new") throw asipErr(ERR.ERR_CONN, "netconn.listen");
    const b = Math.min(255, Math.max(1, backlog | 0));
    this.tcp.listen(b);
    this.acceptmboxSize = b;
    this.tcpState = "listen";
    this.tcp.accept((child) => this.onAccept(child));
  }

  /**
   * netconn_accept: the next connection. Nonblocking with none waiting:
   * ERR_WOULDBLOCK; past the receive timeout: ERR_TIMEOUT; closed: ERR_CLSD.
   */
  accept(): Promise<Netconn> {
    try {
      this.live("accept");
      if (!this.tcp) throw asipErr(ERR.ERR_ARG, "netconn.accept: not a TCP netconn");
      if (this.tcpState !== "listen") throw asipErr(ERR.ERR_CLSD, "netconn.accept: not listening");
    } catch (e) {
      return Promise.reject(e);
    }
    const c = this.acceptQueue.shift();
    if (c) {
      this.event(NETCONN_EVT_RCVMINUS, 0);
      return Promise.resolve(c);
    }
    if (this.nonblocking) return Promise.reject(asipErr(ERR.ERR_WOULDBLOCK, "netconn.accept"));
    return new Promise<Netconn>((resolve, reject) => {
      const w: (typeof this.acceptWaiters)[0] = { resolve, reject };
      if (this.recvTimeout > 0) {
        w.timer = setTimeout(() => {
          const i = this.acceptWaiters.indexOf(w);
          if (i >= 0) this.acceptWaiters.splice(i, 1);
          reject(asipErr(ERR.ERR_TIMEOUT, "netconn.accept"));
        }, this.recvTimeout);
      }
      this.acceptWaiters.push(w);
    });
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
      // TCP: the application took the bytes: reopen the window by that much.
      if (this.tcp && this.tcp.handle !== 0) recvedSafe(this.tcp, len);
      return Promise.resolve(b);
    }
    if (this.tcp) {
      if (this.finQueued) return Promise.reject(asipErr(ERR.ERR_CLSD, "netconn.recv"));
      if (this.tcpState === "dead") return Promise.reject(asipErr(this.pendingErr || ERR.ERR_CLSD, "netconn.recv"));
      if (this.tcpState === "listen") return Promise.reject(asipErr(ERR.ERR_CONN, "netconn.recv"));
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
  /** @internal The i-th queued netbuf (sockets: MSG_PEEK over several). */
  peekAt(i: number): Netbuf | undefined {
    return this.queue[i];
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
  sendNow(buf: Netbuf | Uint8Array, ip: IpAddress, port: number, what: string): void {
    const s = this.api.stack;
    const ex = s.ex;
    if (buf instanceof Netbuf && buf.pbuf !== 0) {
      const u32 = s.mem32();
      const p = buf.pbuf;
      const len = u32[(p >>> 2) + (PBUF_TOT_LEN >>> 2)];
      if (u32[(p >>> 2) + (PBUF_LEN >>> 2)] === len) {
        // One segment: the core copies from its own memory (checksum in the same pass).
        const pl = u32[(p >>> 2) + (PBUF_PAYLOAD >>> 2)];
        const a = s.addrArg(ip);
        const err: number = s.guard(() => this.udp ? ex.udp_sendto_host(this.h, pl, len, a, port) : ex.raw_sendto_host(this.h, pl, len, a));
        if (err < 0) throw asipErr(err, `netconn.${what}`);
        s.kick();
        return;
      }
    }
    const data = buf instanceof Netbuf ? buf.copy() : buf;
    try {
      if (this.udp) this.udp.sendToAddress(data, ip, port, what);
      else this.rawpcb!.sendToAddress(data, ip, what);
    } catch (e) {
      if (e instanceof AsipError) throw asipErr(e.err, `netconn.${what}`);
      throw e;
    }
  }

  /**
   * netconn_write_partly: queues `data` on a TCP connection; resolves with
   * the bytes written. Blocking: all of them (waiting for SENT as the peer
   * acknowledges; send timeout ERR_TIMEOUT). NETCONN_DONTBLOCK or
   * nonblocking: what fits now, ERR_WOULDBLOCK when nothing does.
   * NETCONN_MORE: more follows (no PSH). The core copies the bytes in any case.
   */
  async write(data: Uint8Array, flags = NETCONN_COPY): Promise<number> {
    this.live("write");
    if (!this.tcp) throw asipErr(ERR.ERR_VAL, "netconn.write: not a TCP netconn (use send/sendto)");
    if (!(data instanceof Uint8Array)) throw new TypeError("netconn.write: data must be a Uint8Array");
    const dontblock = this.nonblocking || (flags & NETCONN_DONTBLOCK) !== 0;
    const more = (flags & NETCONN_MORE) !== 0;
    const deadline = this.sendTimeout > 0 ? Date.now() + this.sendTimeout : 0;
    let done = 0;
    for (;;) {
      if (this.tcpState === "dead") throw asipErr(this.pendingErr || ERR.ERR_CLSD, "netconn.write");
      if (this.tcpState !== "connected") throw asipErr(ERR.ERR_CONN, "netconn.write");
      const pcb = this.tcp;
      let n: number;
      try {
        n = pcb.write(done === 0 ? data : data.subarray(done), { more });
      } catch (e) {
        // ERR_ARG on a live-looking pcb: the core just dropped it; its ERR event says why.
        if (e instanceof AsipError && e.err === ERR.ERR_ARG && pcb.handle !== 0) {
          await new Promise<void>((r) => setTimeout(r, 0));
          continue;
        }
        if (e instanceof AsipError) throw asipErr(e.err, "netconn.write");
        throw e;
      }
      done += n;
      if (done >= data.length) return done;
      this.writable = false;
      this.event(NETCONN_EVT_SENDMINUS, 0);
      if (dontblock) {
        if (done === 0) throw asipErr(ERR.ERR_WOULDBLOCK, "netconn.write");
        return done;
      }
      // Wait for SENT (room), an error, or the send timeout.
      const ok = await new Promise<boolean>((resolve) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const w = () => {
          if (timer) clearTimeout(timer);
          resolve(true);
        };
        if (deadline) {
          timer = setTimeout(() => {
            const i = this.sendWaiters.indexOf(w);
            if (i >= 0) this.sendWaiters.splice(i, 1);
            resolve(false);
          }, Math.max(0, deadline - Date.now()));
        }
        this.sendWaiters.push(w);
      });
      if (this.st === St.CLOSED) throw asipErr(ERR.ERR_CLSD, "netconn.write");
      if (!ok) {
        const e = asipErr(ERR.ERR_TIMEOUT, "netconn.write") as AsipError & { bytesWritten?: number };
        e.bytesWritten = done;
        throw e;
      }
    }
  }

  /** netconn_shutdown: TCP only (UDP/RAW: ERR_CONN like lwIP). `rx` drops what is queued and what arrives. */
  async shutdown(rx: boolean, tx: boolean): Promise<void> {
    this.live("shutdown");
    if (!this.tcp) throw asipErr(ERR.ERR_CONN, "netconn.shutdown");
    if (rx && tx) return this.close();
    if (this.tcpState === "dead") throw asipErr(this.pendingErr || ERR.ERR_CLSD, "netconn.shutdown");
    if (this.tcpState !== "connected") throw asipErr(ERR.ERR_CONN, "netconn.shutdown");
    if (rx) {
      for (const b of this.queue) {
        if (this.tcp.handle !== 0) recvedSafe(this.tcp, b.len);
        b.delete();
      }
      this.queue.length = 0;
      this.queuedBytes = 0;
      this.finQueued = true;
      this.wakeRecv();
    }
    try {
      this.tcp.shutdown(rx, tx);
    } catch (e) {
      if (e instanceof AsipError) throw asipErr(e.err, "netconn.shutdown");
      throw e;
    }
  }

  /** TCP: aborts with a RST (SO_LINGER with a zero timeout). */
  abort(): void {
    this.live("abort");
    if (this.tcp && this.tcp.handle !== 0) {
      try { this.tcp.abort(); } catch { /* gone */ }
    }
    this.teardown();
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
    // lwIP netconn_drain: unread TCP data counts as read (no RST for it).
    if (this.tcp && this.tcp.handle !== 0 && this.queuedBytes > 0) recvedSafe(this.tcp, this.queuedBytes);
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
      if (this.tcp) {
        const pcb = this.tcp;
        for (const w of this.sendWaiters.splice(0)) w();
        for (const w of this.acceptWaiters.splice(0)) {
          if (w.timer) clearTimeout(w.timer);
          w.reject(asipErr(ERR.ERR_CLSD, "netconn.accept"));
        }
        // Connections accepted by the core but never by the application: lwIP deletes (aborts) them.
        for (const c of this.acceptQueue.splice(0)) void c.delete();
        const cw = this.connectWaiter;
        this.connectWaiter = undefined;
        cw?.reject(asipErr(ERR.ERR_CLSD, "netconn.connect"));
        if (pcb.handle !== 0) {
          try {
            pcb.close();
          } catch {
            try { pcb.abort(); } catch { /* gone */ }
          }
        }
        this.tcpState = "dead";
      }
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
    if (this.tcp) {
      if (local) {
        if (this.tcp.handle === 0) throw asipErr(this.pendingErr || ERR.ERR_CLSD, "netconn.getaddr");
        return { addr: this.tcp.localAddress, port: this.tcp.localPort };
      }
      if (!this.tcpRemote) throw asipErr(ERR.ERR_CONN, "netconn.getaddr");
      return { ...this.tcpRemote };
    }
    if (local) {
      if (this.udp) return { addr: this.udp.localAddress, port: this.udp.localPort };
      return { addr: "0.0.0.0", port: 0 };
    }
    if (!this.remote) throw asipErr(ERR.ERR_CONN, "netconn.getaddr");
    return { addr: this.remote.ip.toString(), port: this.remote.port };
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
  /** @internal The connected remote end. */
  get remoteAddr(): { ip: IpAddress; port: number } | undefined {
    if (this.tcpRemote) return { ip: IpAddress.parse(this.tcpRemote.addr), port: this.tcpRemote.port };
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


