/**
 * lwIP's raw API from JavaScript: thin, callback-based, for users who want
 * every last bit of speed (issue 5 item 2).
 *
 * ```ts
 * const raw = rawApi(stack);              // one RawApi per stack (stack.raw)
 * const u = raw.udp.new();
 * u.bind("0.0.0.0", 7);
 * u.recv((data, addr, port) => u.sendto(data, addr, port));   // UDP echo
 * ```
 *
 * Names follow lwIP (udp_new → `raw.udp.new()`, udp_bind → `pcb.bind()`, …).
 * Each pcb is a handle into the core (assembly/abi/udp.ts, raw.ts, tcp.ts);
 * received data arrives through the stack's event ring (events 30/31 UDP,
 * 40 raw IP, 50–69 TCP) and is dispatched here by handle.
 *
 * Buffer lifetime: a `Uint8Array` handed to a callback is a view over the
 * core's memory (or over a scratch buffer when the packet is a pbuf chain).
 * It is valid ONLY during the callback: copy it (`data.slice()`) to keep it.
 *
 * Errors: a failure the core reports (err_t) throws an {@link AsipError}
 * whose `code` is the err_t name ("ERR_USE", "ERR_MEM", …). Misuse — a bad
 * address, a port out of range, a pcb used after remove()/close() — throws a
 * TypeError/RangeError/Error with a plain message.
 *
 * Sending is zero-copy as far as JS allows: the core hands out a pbuf with
 * header room (udp_tx_buffer / raw_tx_buffer), the bytes are written straight
 * into it, and the core builds the headers in place. `sendWith(len, fill, …)`
 * lets the caller write into that buffer itself and skip even its own copy.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError, ERR, PBUF_NEXT, PBUF_PAYLOAD, PBUF_TOT_LEN, PBUF_LEN, EV, EV_FLAG_IP6 } from "../abi.js";
import { IpAddress } from "../ip-address.js";

/** lwIP's SOF_* socket option bits (assembly/udp.ts). */
export const SOF_REUSEADDR = 0x04;
export const SOF_KEEPALIVE = 0x08;
export const SOF_BROADCAST = 0x20;

/** Largest UDP payload over IPv4: 65535 − 20 (IP) − 8 (UDP). */
export const UDP_MAX_PAYLOAD = 65507;

// ---- argument checks (misuse is a plain Error, never an err_t) ---------------------------

let lastAddrText = "";
let lastAddr: IpAddress = IpAddress.ANY4;

/** An address argument ("a.b.c.d", an IPv6 address) parsed; a TypeError otherwise. The last one is cached: a stream of sends to one peer parses once. */
export function addrArg(ip: string, what: string): IpAddress {
  if (ip === lastAddrText) return lastAddr;
  if (typeof ip !== "string") throw new TypeError(`${what}: address must be a string, got ${typeof ip}`);
  const a = IpAddress.tryParse(ip);
  if (!a) throw new TypeError(`${what}: not an IP address: ${JSON.stringify(ip)}`);
  lastAddrText = ip;
  lastAddr = a;
  return a;
}

/** A port 0..65535 (or 1..65535 with `nonzero`); a RangeError otherwise. */
export function portArg(port: number, what: string, nonzero = false): number {
  if (!Number.isInteger(port) || port < (nonzero ? 1 : 0) || port > 65535) {
    throw new RangeError(`${what}: port out of range: ${port} (${nonzero ? 1 : 0}..65535)`);
  }
  return port;
}

/** @internal A byte-sized option (TTL, TOS, priority, interval, netif index): 0..255. */
export function byteArg(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${what}: out of range: ${v} (0..255)`);
  return v;
}

/** @internal tcp.listen's backlog (1..255) and SYN queue (1..65535, optional). */
export function listenArgs(backlog: number, synQueue?: number): void {
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 255) throw new RangeError(`tcp.listen: backlog out of range: ${backlog} (1..255)`);
  if (synQueue !== undefined && (!Number.isInteger(synQueue) || synQueue < 1 || synQueue > 65535)) {
    throw new RangeError(`tcp.listen: SYN queue out of range: ${synQueue} (1..65535)`);
  }
}

/** @internal The payload of a send or write. */
export function dataArg(data: Uint8Array, what: string): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${what}: data must be a Uint8Array`);
  return data;
}

/** Throws an AsipError for a negative err_t. */
function ok(err: number, what: string): void {
  if (err < 0) throw new AsipError(err, what);
}

/** ICMP (RFC 792) or ICMPv6 (RFC 4443) type/code names for error callbacks. */
function icmpName(type: number, code: number, v6 = false): string {
  if (v6) {
    if (type === 1) {
      return ["no route to destination", "administratively prohibited", "beyond scope of source address",
        "address unreachable", "port unreachable"][code] ?? `destination unreachable (code ${code})`;
    }
    if (type === 2) return "packet too big";
    if (type === 3) return code === 0 ? "hop limit exceeded in transit" : "fragment reassembly time exceeded";
    if (type === 4) return "parameter problem";
    return `ICMPv6 type ${type} code ${code}`;
  }
  if (type === 3) {
    return ["net unreachable", "host unreachable", "protocol unreachable", "port unreachable",
      "fragmentation needed", "source route failed"][code] ?? `destination unreachable (code ${code})`;
  }
  if (type === 11) return code === 0 ? "time exceeded in transit" : "fragment reassembly time exceeded";
  if (type === 12) return "parameter problem";
  return `ICMP type ${type} code ${code}`;
}

// ---- the dispatcher -------------------------------------------------------------------------

interface Dispatch {
  ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number): void;
}

/**
 * The raw API of one stack. Registers the stack's handlers for the UDP, raw
 * IP and TCP event types (one handler per type per stack: do not combine
 * with other code that calls `stack.on` for 30, 31, 40 or 50–69).
 */
export class RawApi {
  readonly stack: Stack;
  /** UDP pcbs: lwIP udp_new & co. */
  readonly udp: UdpApi;
  /** Raw IP pcbs: lwIP raw_new & co. */
  readonly ip: RawIpApi;
  /** TCP pcbs: lwIP tcp_new & co. */
  readonly tcp: TcpApi;
  /**
   * @internal UDP and raw pcbs by handle. Handles are generation-tagged
   * (assembly/abi/handles.ts): events still queued for a removed pcb name a
   * handle that is not here, even when the core reuses the pcb at once.
   */
  readonly pcbs = new Map<number, Dispatch>();
  /** @internal TCP pcbs by handle (generation-tagged as well) */
  readonly tcpPcbs = new Map<number, Dispatch>();
  private scratchBuf = new Uint8Array(4096);
  private addrCacheU32 = -1;
  private addrCacheStr = "";

  constructor(stack: Stack) {
    this.stack = stack;
    this.udp = new UdpApi(this);
    this.ip = new RawIpApi(this);
    this.tcp = new TcpApi(this);
    for (const type of [EV.UDP_RECV, EV.UDP_ERR, EV.RAW_RECV]) {
      stack.on(type, (h, p, a, b, c, d, e, index, flags) => this.dispatch(type, h, p, a, b, c, d, e, index, flags));
    }
    for (let type = EV_TCP.ACCEPT; type <= EV_TCP.POLL; type++) {
      const t = type;
      stack.on(t, (h, p, a, b, c, d, e, index, flags) => {
        const pcb = this.tcpPcbs.get(h);
        if (!pcb) {
          // A connection nobody will ever accept (its listener was closed in JS): drop it.
          if (t === EV_TCP.ACCEPT) this.stack.guard(() => this.stack.ex.tcp_host_abort(a));
          return;
        }
        try {
          pcb.ev(t, p, a, b, c, d, e, index, flags);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      });
    }
  }

  private dispatch(type: number, h: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number): void {
    const pcb = this.pcbs.get(h);
    if (!pcb) return;
    try {
      pcb.ev(type, p, a, b, c, d, e, index, flags);
    } catch (err) {
      // A throwing callback must not leave the ring half-drained: report it
      // asynchronously, like an uncaught exception in an event listener.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** @internal Forgets a handle; its events still queued are dropped (the core never gives it out again). */
  forget(h: number): void {
    this.pcbs.delete(h);
  }

  /** @internal */
  mem32(): Uint32Array {
    return this.stack.mem32();
  }

  /**
   * @internal A view of the payload of pbuf `p` (a copy into scratch when it
   * is a chain). Valid until the next call.
   */
  view(p: number): Uint8Array {
    const u32 = this.stack.mem32();
    const u8 = this.stack.mem();
    const w = p >>> 2;
    const payload = u32[w + (PBUF_PAYLOAD >>> 2)];
    const len = u32[w + (PBUF_LEN >>> 2)];
    const tot = u32[w + (PBUF_TOT_LEN >>> 2)];
    if (len === tot) return u8.subarray(payload, payload + len);
    if (this.scratchBuf.length < tot) this.scratchBuf = new Uint8Array(Math.max(tot, this.scratchBuf.length * 2));
    let off = 0;
    for (let q = p; q !== 0 && off < tot; q = u32[(q >>> 2) + (PBUF_NEXT >>> 2)]) {
      const pl = u32[(q >>> 2) + (PBUF_PAYLOAD >>> 2)];
      const l = u32[(q >>> 2) + (PBUF_LEN >>> 2)];
      this.scratchBuf.set(u8.subarray(pl, pl + l), off);
      off += l;
    }
    return this.scratchBuf.subarray(0, off);
  }

  /**
   * @internal An event's address argument as text: an IPv4 address inline,
   * with a one-entry cache (a stream of datagrams from one peer), or, when
   * the record has EV_FLAG_IP6, the ip_addr it points at.
   */
  addr(v: number, flags: number): string {
    if ((flags & EV_FLAG_IP6) !== 0) return this.stack.readAddr(v).toString();
    if (v === this.addrCacheU32) return this.addrCacheStr;
    this.addrCacheU32 = v;
    this.addrCacheStr = IpAddress.fromCore4(v).toString();
    return this.addrCacheStr;
  }

  /** @internal An event's address argument as an IpAddress (see {@link addr}). */
  address(v: number, flags: number): IpAddress {
    return (flags & EV_FLAG_IP6) !== 0 ? this.stack.readAddr(v) : IpAddress.fromCore4(v);
  }

  /** @internal Writes `data` to the payload of fresh pbuf `p`. */
  fill(p: number, data: Uint8Array): void {
    const payload = this.stack.mem32()[(p >>> 2) + (PBUF_PAYLOAD >>> 2)];
    this.stack.mem().set(data, payload);
  }

  /** @internal A writable view of the payload of fresh pbuf `p` (contiguous: PBUF_RAM). */
  payload(p: number, len: number): Uint8Array {
    const payload = this.stack.mem32()[(p >>> 2) + (PBUF_PAYLOAD >>> 2)];
    return this.stack.mem().subarray(payload, payload + len);
  }
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
export function tcpListenExclusive(pcb: TcpPcb, ip: string, port: number, backlog: number, exclusive: boolean): void {
  // A pcb of a core in a Worker does all of it in the core (bindings/worker/remote-raw.ts).
  const remote = (pcb as { listenExclusive?: (ip: string, port: number, backlog: number, exclusive: boolean) => void }).listenExclusive;
  if (remote) return remote.call(pcb, ip, port, backlog, exclusive);
  let clashed = false;
  try {
    pcb.bind(ip, port);
  } catch (e) {
    if (!(e instanceof AsipError) || e.err !== ERR.ERR_USE || exclusive) throw e;
    clashed = true;
    pcb.reuseaddr = true;
    pcb.bind(ip, port);
  }
  try {
    pcb.listen(backlog);
  } catch (e) {
    // tcp_host_listen reports a listener clash as ERR_MEM (no listen pcb): after a bind clash it is ERR_USE.
    if (clashed && e instanceof AsipError && e.err === ERR.ERR_MEM) throw new AsipError(ERR.ERR_USE, "tcp.listen");
    throw e;
  }
  pcb.reuseaddr = false;
}

/** TCP event types (assembly/abi/tcp.ts). */
export const EV_TCP = { ACCEPT: 50, CONNECTED: 51, RECV: 52, SENT: 53, ERR: 54, FIN: 55, POLL: 56 } as const;

const apis = new WeakMap<Stack, RawApi>();

/** The stack's raw API (created on first use; what `stack.raw` returns). */
export function rawApi(stack: Stack): RawApi {
  // A core in a Worker (bindings/worker/client.ts) brings its own raw API: the remote pcbs.
  const remote = (stack as { remoteRaw?: RawApi }).remoteRaw;
  if (remote) return remote;
  let r = apis.get(stack);
  if (!r) {
    r = new RawApi(stack);
    apis.set(stack, r);
  }
  return r;
}

// ---- UDP --------------------------------------------------------------------------------------

/** Details of a received datagram; the object is reused: read it during the callback. */
export class UdpRecvInfo {
  /** @internal the event's source and destination arguments and flags (rings.ts) */
  srcArg = 0;
  /** @internal */ dstArg = 0;
  /** @internal */ flags = 0;
  /** @internal */ api: RawApi | undefined;
  /** Index of the netif it arrived on. */
  netif = 0;
  broadcast = false;
  multicast = false;
  /** 4 or 6: the family of the datagram's addresses. */
  get family(): 4 | 6 {
    return (this.flags & EV_FLAG_IP6) !== 0 ? 6 : 4;
  }
  /** Destination address (ours, or the broadcast/multicast address it was sent to). */
  get dst(): string {
    return this.api!.addr(this.dstArg, this.flags);
  }
  /** Source address. */
  get srcAddress(): IpAddress {
    return this.api!.address(this.srcArg, this.flags);
  }
  /** Destination address. */
  get dstAddress(): IpAddress {
    return this.api!.address(this.dstArg, this.flags);
  }
}

/** An ICMP error about a datagram this pcb sent (RFC 792, RFC 1122 §4.1.3.3). */
export interface UdpErrorInfo {
  type: number;
  code: number;
  /** "port unreachable", … */
  name: string;
  /** Destination of the datagram that caused it. */
  addr: string;
  port: number;
}

export type UdpRecvFn = (data: Uint8Array, addr: string, port: number, info: UdpRecvInfo) => void;
export type UdpErrFn = (err: UdpErrorInfo) => void;

/**
 * A pcb's family (ABI `ip_type`): 4, 6 (IPv6, in cores built with it), or 46
 * for both (a dual-stack pcb, lwIP's IPADDR_TYPE_ANY).
 */
export type IpType = 4 | 6 | 46;

/** Options of {@link UdpApi.new}. */
export interface UdpNewOptions {
  /** UDP-Lite (RFC 3828) instead of UDP. */
  lite?: boolean;
  /** The pcb's family (default 4). */
  ipType?: IpType;
}

/** @internal The ABI ip_type of an option (a RangeError for anything else). */
export function ipTypeArg(t: IpType | undefined, what: string): number {
  if (t === undefined) return 4;
  if (t !== 4 && t !== 6 && t !== 46) throw new RangeError(`${what}: ipType must be 4, 6 or 46, not ${String(t)}`);
  return t;
}

/** `raw.udp`: lwIP's udp_new. */
export class UdpApi {
  constructor(private readonly api: RawApi) {}

  /** A new, unbound UDP pcb (lwIP udp_new). Throws ERR_MEM when the pool is empty. */
  new(opts: UdpNewOptions = {}): UdpPcb {
    const s = this.api.stack;
    const t = ipTypeArg(opts.ipType, "udp.new");
    const h: number = s.guard(() => s.ex.udp_host_new(t, opts.lite ? 1 : 0));
    if (h === 0) throw new AsipError(-1, "udp.new");
    const pcb = new UdpPcb(this.api, h);
    this.api.pcbs.set(h, pcb);
    return pcb;
  }
}

/** A UDP pcb owned by JS. */
export class UdpPcb implements Dispatch {
  private h: number;
  private recvFn: UdpRecvFn | undefined;
  private errFn: UdpErrFn | undefined;
  private remoteIp: IpAddress = IpAddress.ANY4;
  private remotePortNum = 0;
  private connected = false;
  private readonly info = new UdpRecvInfo();

  /** @internal */
  constructor(private readonly api: RawApi, h: number) {
    this.h = h;
    this.info.api = api;
  }

  /** The core's handle (0 after remove). */
  get handle(): number {
    return this.h;
  }

  private live(what: string): number {
    if (this.h === 0) throw new Error(`udp.${what}: pcb was removed`);
    return this.h;
  }

  private call(what: string, f: (ex: Record<string, any>, h: number) => number): void {
    const h = this.live(what);
    const s = this.api.stack;
    ok(s.guard(() => f(s.ex, h)), `udp.${what}`);
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

  /** Binds to `ip` ("0.0.0.0" = any) and `port` (0 = ephemeral; see {@link localPort}). */
  bind(ip: string, port: number): this {
    const a = addrArg(ip, "udp.bind");
    portArg(port, "udp.bind");
    this.call("bind", (ex, h) => ex.udp_host_bind(h, this.api.stack.addrArg(a), port));
    return this;
  }

  /** Only datagrams arriving on netif `index` (0 = any). */
  bindNetif(index: number): this {
    this.call("bindNetif", (ex, h) => ex.udp_host_bind_netif(h, index >>> 0));
    return this;
  }

  /** Sets the remote end: send() goes there and only its datagrams are received. */
  connect(ip: string, port: number): this {
    const a = addrArg(ip, "udp.connect");
    portArg(port, "udp.connect", true);
    this.call("connect", (ex, h) => ex.udp_host_connect(h, this.api.stack.addrArg(a), port));
    this.remoteIp = a;
    this.remotePortNum = port;
    this.connected = true;
    return this;
  }

  disconnect(): this {
    this.call("disconnect", (ex, h) => ex.udp_host_disconnect(h));
    this.connected = false;
    return this;
  }

  /** The bound local port (after an ephemeral bind, the one the core chose). */
  get localPort(): number {
    const h = this.live("localPort");
    return this.api.stack.ex.udp_host_local_port(h);
  }

  /** The bound local address. */
  get localAddress(): string {
    const h = this.live("localAddress");
    const s = this.api.stack;
    const out = s.addrOut();
    ok(s.guard(() => s.ex.udp_host_local_ip(h, out)), "udp.localAddress");
    return s.readAddr(out).toString();
  }

  /** SO_BROADCAST: allow sending to broadcast addresses. */
  set broadcast(on: boolean) {
    this.call("broadcast", (ex, h) => ex.udp_host_set_options(h, SOF_BROADCAST, on ? 1 : 0));
  }

  /** SO_REUSEADDR: share a bound address/port with other pcbs that set it too. */
  set reuseaddr(on: boolean) {
    this.call("reuseaddr", (ex, h) => ex.udp_host_set_options(h, SOF_REUSEADDR, on ? 1 : 0));
  }

  /** TTL and TOS of unicast datagrams sent. */
  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "udp.ttl");
    byteArg(tos, "udp.tos");
    this.call("setTtlTos", (ex, h) => ex.udp_host_set_ttl_tos(h, ttl, tos));
    return this;
  }

  /** The receive callback (lwIP udp_recv). `data` is valid only during the call. */
  recv(fn: UdpRecvFn | undefined): this {
    this.live("recv");
    this.recvFn = fn;
    return this;
  }

  /** The ICMP error callback (port unreachable, …). */
  err(fn: UdpErrFn | undefined): this {
    this.live("err");
    this.errFn = fn;
    return this;
  }

  /** Sends to the connected remote (lwIP udp_send). */
  send(data: Uint8Array): void {
    if (!this.connected) throw new Error("udp.send: pcb is not connected (use sendto or connect first)");
    this.sendToAddress(dataArg(data, "udp.send"), this.remoteIp, this.remotePortNum, "send");
  }

  /** Sends one datagram to `ip`:`port` (lwIP udp_sendto). */
  sendto(data: Uint8Array, ip: string, port: number): void {
    const a = addrArg(ip, "udp.sendto");
    portArg(port, "udp.sendto", true);
    this.sendToAddress(dataArg(data, "udp.sendto"), a, port, "sendto");
  }

  /**
   * Zero-copy send: `fill` writes the `len` payload bytes straight into the
   * core's buffer (the view is valid only during `fill`). To the connected
   * remote when `ip` is omitted.
   */
  sendWith(len: number, fill: (buf: Uint8Array) => void, ip?: string, port?: number): void {
    let a: IpAddress, pt: number;
    if (ip === undefined) {
      if (!this.connected) throw new Error("udp.sendWith: pcb is not connected (give ip and port)");
      a = this.remoteIp;
      pt = this.remotePortNum;
    } else {
      a = addrArg(ip, "udp.sendWith");
      pt = portArg(port ?? -1, "udp.sendWith", true);
    }
    if (!Number.isInteger(len) || len < 0 || len > UDP_MAX_PAYLOAD) throw new RangeError(`udp.sendWith: length out of range: ${len}`);
    const h = this.live("sendWith");
    const s = this.api.stack;
    const ex = s.ex;
    const p: number = s.guard(() => ex.udp_tx_buffer(len));
    if (p === 0) throw new AsipError(-1, "udp.sendWith");
    try {
      fill(this.api.payload(p, len));
    } catch (e) {
      s.guard(() => ex.pbuf_release(p));
      throw e;
    }
    ok(s.guard(() => ex.udp_host_send_pbuf(h, p, s.addrArg(a), pt)), "udp.sendWith");
    s.kick();
  }

  /** sendto with an address already parsed (hot loops, the gateway's NAT). */
  sendToAddress(data: Uint8Array, ip: IpAddress, port: number, what = "sendto"): void {
    const h = this.live(what);
    if (data.length > UDP_MAX_PAYLOAD) throw new RangeError(`udp.${what}: ${data.length} bytes is more than a UDP datagram holds (${UDP_MAX_PAYLOAD})`);
    const s = this.api.stack;
    const ex = s.ex;
    const p: number = s.guard(() => ex.udp_tx_buffer(data.length));
    if (p === 0) throw new AsipError(-1, `udp.${what}`);
    this.api.fill(p, data);
    ok(s.guard(() => ex.udp_host_send_pbuf(h, p, s.addrArg(ip), port)), `udp.${what}`);
    s.kick();
  }

  /** Multicast TTL and loopback of what this pcb sends (IP_MULTICAST_TTL / IP_MULTICAST_LOOP). */
  setMulticast(ttl: number, loop: boolean): this {
    byteArg(ttl, "udp.multicastTtl");
    const h = this.live("setMulticast");
    const s = this.api.stack;
    s.guard(() => s.ex.udp_host_set_multicast(h, ttl, 0, loop ? 1 : 0));
    return this;
  }

  /** Closes the pcb (lwIP udp_remove); datagrams still queued for it are dropped. */
  remove(): void {
    const h = this.live("remove");
    const s = this.api.stack;
    this.api.forget(h);
    this.h = 0;
    ok(s.guard(() => s.ex.udp_host_close(h)), "udp.remove");
  }

  /** @internal */
  ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, _index: number, flags: number): void {
    if (type === EV.UDP_RECV) {
      const fn = this.recvFn;
      if (!fn) return;
      const info = this.info;
      info.srcArg = a;
      info.dstArg = c;
      info.flags = flags;
      info.netif = d;
      info.broadcast = (e & 1) !== 0;
      info.multicast = (e & 2) !== 0;
      fn(this.api.view(p), this.api.addr(a, flags), b, info);
    } else if (type === EV.UDP_ERR) {
      const fn = this.errFn;
      if (!fn) return;
      const v6 = (flags & EV_FLAG_IP6) !== 0;
      fn({ type: a, code: b, name: icmpName(a, b, v6), addr: this.api.addr(c, flags), port: d });
    }
  }
}

// ---- raw IP -------------------------------------------------------------------------------------

/** Details of a packet a raw pcb received; reused: read during the callback. */
export interface RawRecvInfo {
  /** Destination address. */
  dst: string;
  netif: number;
  /** IP protocol. */
  proto: number;
  /** IP header length: the protocol's payload starts at `packet[hlen]`. */
  hlen: number;
}

/** `packet` is the whole IP packet (header included), valid only during the call. */
export type RawRecvFn = (packet: Uint8Array, src: string, info: RawRecvInfo) => void;

/** Options of {@link RawIpApi.new}. */
export interface RawNewOptions {
  /** The pcb's family (default 4). */
  ipType?: IpType;
  /**
   * The pcb eats what it receives (lwIP: recv returns 1): IP goes no further,
   * e.g. ICMP will not answer an echo request the pcb took. Default false.
   */
  eat?: boolean;
  /** Sends carry their own IP header (IP_HDRINCL). */
  hdrincl?: boolean;
}

/** `raw.ip`: lwIP's raw_new. */
export class RawIpApi {
  constructor(private readonly api: RawApi) {}

  /** A raw pcb for IP protocol `proto` (1 = ICMP, …). */
  new(proto: number, opts: RawNewOptions = {}): RawPcb {
    byteArg(proto, "raw.new: protocol");
    const s = this.api.stack;
    const t = ipTypeArg(opts.ipType, "raw.new");
    const h: number = s.guard(() => s.ex.raw_host_new(proto, t, opts.eat ? 1 : 0));
    if (h === 0) throw new AsipError(-1, "raw.new");
    const pcb = new RawPcb(this.api, h, proto);
    this.api.pcbs.set(h, pcb);
    if (opts.hdrincl) pcb.setFlags(true, !!opts.eat);
    return pcb;
  }
}

/** A raw IP pcb owned by JS. */
export class RawPcb implements Dispatch {
  private h: number;
  private recvFn: RawRecvFn | undefined;
  private readonly info: RawRecvInfo = { dst: "", netif: 0, proto: 0, hlen: 20 };

  /** @internal */
  constructor(private readonly api: RawApi, h: number, readonly protocol: number) {
    this.h = h;
  }

  get handle(): number {
    return this.h;
  }

  private live(what: string): number {
    if (this.h === 0) throw new Error(`raw.${what}: pcb was removed`);
    return this.h;
  }

  private call(what: string, f: (ex: Record<string, any>, h: number) => number): void {
    const h = this.live(what);
    const s = this.api.stack;
    ok(s.guard(() => f(s.ex, h)), `raw.${what}`);
  }

  /** Receive only packets to `ip` ("0.0.0.0" = any of ours). */
  bind(ip: string): this {
    const a = addrArg(ip, "raw.bind");
    this.call("bind", (ex, h) => ex.raw_host_bind(h, this.api.stack.addrArg(a)));
    return this;
  }

  /** Receive only from `ip`; send() goes there. */
  connect(ip: string): this {
    const a = addrArg(ip, "raw.connect");
    this.call("connect", (ex, h) => ex.raw_host_connect(h, this.api.stack.addrArg(a)));
    this.remote = a;
    return this;
  }
  private remote: IpAddress | undefined;

  disconnect(): this {
    this.call("disconnect", (ex, h) => ex.raw_host_disconnect(h));
    this.remote = undefined;
    return this;
  }

  /** IP_HDRINCL and eat (see {@link RawNewOptions}). */
  setFlags(hdrincl: boolean, eat: boolean): this {
    this.call("setFlags", (ex, h) => ex.raw_host_set_flags(h, hdrincl ? 1 : 0, eat ? 1 : 0));
    return this;
  }

  set broadcast(on: boolean) {
    this.call("broadcast", (ex, h) => ex.raw_host_set_options(h, SOF_BROADCAST, on ? 1 : 0));
  }

  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "raw.ttl");
    byteArg(tos, "raw.tos");
    this.call("setTtlTos", (ex, h) => ex.raw_host_set_ttl_tos(h, ttl, tos));
    return this;
  }

  /** The receive callback. `packet` is the whole IP packet, valid only during the call. */
  recv(fn: RawRecvFn | undefined): this {
    this.live("recv");
    this.recvFn = fn;
    return this;
  }

  /** Sends to the connected address. */
  send(data: Uint8Array): void {
    if (!this.remote) throw new Error("raw.send: pcb is not connected (use sendto or connect first)");
    this.sendToAddress(dataArg(data, "raw.send"), this.remote, "send");
  }

  /** Sends `data` (the protocol's payload, or a whole IP packet with hdrincl) to `ip`. */
  sendto(data: Uint8Array, ip: string): void {
    this.sendToAddress(dataArg(data, "raw.sendto"), addrArg(ip, "raw.sendto"), "sendto");
  }

  /** sendto with an address already parsed. */
  sendToAddress(data: Uint8Array, ip: IpAddress, what = "sendto"): void {
    const h = this.live(what);
    if (data.length > 65515) throw new RangeError(`raw.${what}: ${data.length} bytes is more than an IPv4 packet holds`);
    const s = this.api.stack;
    const ex = s.ex;
    const p: number = s.guard(() => ex.raw_tx_buffer(h, data.length));
    if (p === 0) throw new AsipError(-1, `raw.${what}`);
    this.api.fill(p, data);
    ok(s.guard(() => ex.raw_host_send_pbuf(h, p, s.addrArg(ip))), `raw.${what}`);
    s.kick();
  }

  remove(): void {
    const h = this.live("remove");
    const s = this.api.stack;
    this.api.forget(h);
    this.h = 0;
    ok(s.guard(() => s.ex.raw_host_close(h)), "raw.remove");
  }

  /** @internal */
  ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, _index: number, flags: number): void {
    if (type !== EV.RAW_RECV || !this.recvFn) return;
    const info = this.info;
    info.dst = this.api.addr(b, flags);
    info.netif = c;
    info.proto = d;
    info.hlen = e;
    this.recvFn(this.api.view(p), this.api.addr(a, flags), info);
  }
}

// ---- TCP ----------------------------------------------------------------------------------------

/** tcp_state names, by value (assembly/tcp/tcp.ts). */
export const TCP_STATES = [
  "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
  "LAST_ACK", "TIME_WAIT",
] as const;
export type TcpStateName = (typeof TCP_STATES)[number];

/** tcp_host_write flags (assembly/abi/tcp.ts). */
const TCP_WRITE_FLAG_MORE = 0x02;
const TCP_HOST_WRITE_OUTPUT = 0x80;
const TCP_TX_BUF_SIZE = 64 * 1024;

/** `data` is valid only during the call; null means the peer closed its side (FIN). */
export type TcpRecvFn = (data: Uint8Array | null) => void;
export type TcpAcceptFn = (pcb: TcpPcb) => void;
/** `err` null: connected. */
export type TcpConnectedFn = (err: AsipError | null) => void;
/** `len` bytes newly acknowledged; `sndbuf` bytes may be written now. */
export type TcpSentFn = (len: number, sndbuf: number) => void;
/** The connection is gone (ERR_RST, ERR_ABRT, …); the pcb is dead already. */
export type TcpErrFn = (err: AsipError) => void;

/** Options of {@link TcpPcb.write}. */
export interface TcpWriteOptions {
  /** More data follows at once: no PSH, and Nagle may hold a small tail (TCP_WRITE_FLAG_MORE). */
  more?: boolean;
  /** Call tcp_output after queueing (default true; false = lwIP's write-then-output). */
  output?: boolean;
}

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
    return new TcpPcb(this.api, h);
  }
}

/** A TCP pcb owned by JS: a listener or a connection. */
export class TcpPcb implements Dispatch {
  private h: number;
  private recvFn: TcpRecvFn | undefined;
  private acceptFn: TcpAcceptFn | undefined;
  private connectedFn: TcpConnectedFn | undefined;
  private sentFn: TcpSentFn | undefined;
  private errFn: TcpErrFn | undefined;
  private pollFn: (() => void) | undefined;
  private txBuf = 0;
  private inRecv = 0;
  /**
   * Reopen the receive window (tcp_recved) by the bytes of each recv
   * callback as soon as it returns (default). Set false to call
   * {@link recved} yourself: the window stays closed by what you have not
   * acknowledged — backpressure on the sender.
   */
  autoRecved = true;
  /** Bytes received and bytes written so far. */
  bytesReceived = 0;
  bytesWritten = 0;

  /** @internal */
  constructor(private readonly api: RawApi, h: number) {
    this.h = h;
    api.tcpPcbs.set(h, this);
  }

  /** The core's handle (0 once closed, aborted or reset). */
  get handle(): number {
    return this.h;
  }

  private live(what: string): number {
    if (this.h === 0) throw new Error(`tcp.${what}: pcb is closed`);
    return this.h;
  }

  private call(what: string, f: (ex: Record<string, any>, h: number) => number): number {
    const h = this.live(what);
    const s = this.api.stack;
    const r: number = s.guard(() => f(s.ex, h));
    ok(r, `tcp.${what}`);
    return r;
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
    this.call("bind", (ex, h) => ex.tcp_host_bind(h, this.api.stack.addrArg(a), port));
    return this;
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

  /** The accept callback: gets the new connection's pcb (set its callbacks there). */
  accept(fn: TcpAcceptFn | undefined): this {
    this.live("accept");
    this.acceptFn = fn;
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

  /** The receive callback (lwIP tcp_recv). `data` is valid only during the call; null = FIN. */
  recv(fn: TcpRecvFn | undefined): this {
    this.live("recv");
    this.recvFn = fn;
    return this;
  }

  /** The sent callback (lwIP tcp_sent): acknowledged bytes, and room to write. */
  sent(fn: TcpSentFn | undefined): this {
    this.live("sent");
    this.sentFn = fn;
    return this;
  }

  /** The error callback (lwIP tcp_err): the connection is gone. */
  err(fn: TcpErrFn | undefined): this {
    this.live("err");
    this.errFn = fn;
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
      ok(s.guard(() => ex.tcp_host_write(h, this.txBuf, 0, 0)), "tcp.write");
      return 0;
    }
    let done = 0;
    while (done < data.length && room > 0) {
      const n = Math.min(data.length - done, room, TCP_TX_BUF_SIZE);
      s.mem().set(data.subarray(done, done + n), this.txBuf);
      const last = done + n >= data.length || n >= room;
      const flags = flagsBase | (last ? 0 : TCP_WRITE_FLAG_MORE) | (last && wantOutput ? TCP_HOST_WRITE_OUTPUT : 0);
      const r: number = s.guard(() => ex.tcp_host_write(h, this.txBuf, n, flags));
      ok(r, "tcp.write");
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
    ok(port, `tcp.${what}`);
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
    ok(r, "tcp.close");
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
    ok(s.guard(() => s.ex.tcp_host_abort(h)), "tcp.abort");
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
