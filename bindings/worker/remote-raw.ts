/**
 * The raw API of a core in a Worker (Worker mode, bindings/worker/client.ts):
 * `worker.raw.tcp.new()`, `worker.raw.udp.new()` return pcbs with the names
 * and callbacks of bindings/api/raw.ts, driven over the worker's MessagePort.
 * The core-side half is bindings/worker/raw-service.ts. node:net, node:dgram
 * and the WHATWG streams of a StackWorker run unchanged on top of these pcbs.
 *
 * lwIP's raw API runs only in the tcpip thread; this is what a raw-API user
 * in another thread gets instead, and how it differs from the in-thread API:
 * - Operations are messages, executed by the core in the order sent, without
 *   an answer. Argument errors (bad address, port out of range, a closed pcb)
 *   still throw at once, here. What only the core can tell — a port in use, no
 *   route — ends the pcb: its err callback runs with the err_t, and
 *   {@link RemoteTcpPcb.ready} (read it after bind/listen) rejects with the
 *   AsipError. The local and remote addresses are known once `ready`
 *   resolves, or once connected/accepted.
 * - Payloads handed to callbacks are copies (threads share no memory), so
 *   they stay valid after the callback.
 * - `write` takes at most {@link RemoteTcpPcb.sndbuf} bytes: a mirror of the
 *   core's tcp_sndbuf (its value at connect/accept, minus what was written,
 *   plus what `sent` returns). Backpressure is the same as in-thread: write
 *   what it takes, the rest on `sent`.
 * - With `autoRecved` false, the receive window opens only when you call
 *   `recved`: a reader in this thread that falls behind closes the window
 *   on the wire.
 * - Raw IP pcbs (`raw.ip`) are not offered here.
 *
 * @module
 */
import { AsipError, ERR } from "../abi.js";
import type { IpAddress } from "../ip-address.js";
import {
  addrArg, portArg, byteArg, dataArg, listenArgs, TCP_STATES, UDP_MAX_PAYLOAD, type TcpStateName,
  type TcpConnectedFn, type TcpWriteOptions, type UdpErrorInfo, type UdpNewOptions, type UdpRecvMeta,
  type RawApiLike, type TcpPcbLike, type UdpPcbLike, type IpType, ipTypeArg,
} from "../api/raw.js";
import { TcpPcbCallbacks, UdpPcbCallbacks } from "../api/raw-pcb.js";
import type { RpcPort } from "./client.js";
import type { EventMessage } from "./protocol.js";

type LocalAddr = { localAddress: string; localPort: number };

/**
 * A copy of the first `n` bytes in a buffer of its own (it is transferred).
 * Not `data.slice`: on a Node Buffer that is a view of the same memory.
 */
function copyOf(data: Uint8Array, n: number): Uint8Array {
  const c = new Uint8Array(n);
  c.set(data.subarray(0, n));
  return c;
}

/** `worker.raw`: remote TCP and UDP pcbs. */
export class RemoteRaw implements RawApiLike {
  readonly tcp: RemoteTcpApi;
  readonly udp: RemoteUdpApi;
  /** @internal */ readonly objs = new Map<number, RemoteTcpPcb | RemoteUdpPcb>();
  private nextHandle = 1;

  constructor(/** @internal */ readonly rpc: RpcPort) {
    this.tcp = new RemoteTcpApi(this);
    this.udp = new RemoteUdpApi(this);
    rpc.on("raw", (ev) => this.onEvent(ev));
  }

  /** Raw IP pcbs need the core's thread (they are not offered in Worker mode). */
  get ip(): never {
    throw new Error("raw IP pcbs are not available in Worker mode (use them in the core's thread)");
  }

  /** @internal */
  handle(): number {
    return this.nextHandle++;
  }

  /** @internal */
  op(k: string, a: unknown[], bin?: Uint8Array): void {
    // `bin` is always a fresh copy: transfer it.
    this.rpc.op(`raw.${k}`, a, bin, true);
  }

  /** @internal */
  ready(h: number): Promise<LocalAddr> {
    return this.rpc.call("raw.ready", [h]).then((r) => r.v as LocalAddr);
  }

  private onEvent(ev: EventMessage): void {
    const o = this.objs.get(ev.h);
    if (!o) {
      // A connection accepted for a listener this thread already closed: refuse it.
      if (ev.k === "acc") this.op("tabort", [(ev.a as number[])[0]]);
      return;
    }
    try {
      o.ev(ev);
    } catch (err) {
      // A throwing callback is reported like an uncaught exception in an event listener.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** `raw.tcp` of a core in a Worker. */
export class RemoteTcpApi {
  constructor(private readonly api: RemoteRaw) {}

  /** A new TCP pcb of family `ipType` (default 4; the core creates it when the message arrives). */
  new(ipType?: IpType): RemoteTcpPcb {
    const t = ipTypeArg(ipType, "tcp.new");
    const h = this.api.handle();
    this.api.op("tnew", [h, t]);
    return new RemoteTcpPcb(this.api, h, "CLOSED");
  }
}

/** A TCP pcb of a core in a Worker; see the module comment for how it differs from {@link TcpPcb}. */
export class RemoteTcpPcb extends TcpPcbCallbacks<RemoteTcpPcb> implements TcpPcbLike {
  private st: TcpStateName;
  private room = 0;
  private local: LocalAddr = { localAddress: "0.0.0.0", localPort: 0 };
  private remote = { address: "0.0.0.0", port: 0 };
  /** Reopen the receive window after each recv callback (default); false: call {@link recved}. */
  autoRecved = true;
  bytesReceived = 0;
  bytesWritten = 0;

  /** @internal */
  constructor(private readonly api: RemoteRaw, h: number, st: TcpStateName) {
    super(h, "tcp", "is closed");
    this.st = st;
    api.objs.set(h, this);
  }

  private dead(): void {
    this.api.objs.delete(this.h);
    this.h = 0;
    this.st = "CLOSED";
  }

  /** The outcome of the operations so far: the local address, or the AsipError that ended the pcb. */
  get ready(): Promise<LocalAddr> {
    return this.api.ready(this.live("ready")).then((r) => (this.local = r));
  }

  bind(ip: string, port: number): this {
    addrArg(ip, "tcp.bind");
    portArg(port, "tcp.bind");
    this.api.op("tbind", [this.live("bind"), ip, port]);
    this.local = { localAddress: ip, localPort: port };
    return this;
  }

  listen(backlog = 255, synQueue?: number): this {
    listenArgs(backlog, synQueue);
    this.api.op("tlisten", [this.live("listen"), backlog, synQueue ?? null]);
    this.st = "LISTEN";
    return this;
  }

  /** @internal bind + listen as a Linux listener does (raw.ts tcpListenExclusive), in the core. */
  listenExclusive(ip: string, port: number, backlog: number, exclusive: boolean): void {
    addrArg(ip, "tcp.bind");
    portArg(port, "tcp.bind");
    this.api.op("tlistenx", [this.live("listen"), ip, port, backlog, exclusive]);
    this.local = { localAddress: ip, localPort: port };
    this.st = "LISTEN";
  }

  connect(ip: string, port: number, fn?: TcpConnectedFn): this {
    addrArg(ip, "tcp.connect");
    portArg(port, "tcp.connect", true);
    this.connectedFn = fn;
    this.api.op("tconnect", [this.live("connect"), ip, port]);
    this.remote = { address: ip, port };
    this.st = "SYN_SENT";
    return this;
  }

  poll(fn: (() => void) | undefined, interval = 2): this {
    byteArg(interval, "tcp.poll interval");
    this.pollFn = fn;
    this.api.op("topt", [this.live("poll"), "poll", fn ? interval : 0]);
    return this;
  }

  /** Queues a copy of up to {@link sndbuf} bytes of `data`; returns how many. */
  write(data: Uint8Array, _opts: TcpWriteOptions = {}): number {
    dataArg(data, "tcp.write");
    const h = this.live("write");
    if (this.st === "LISTEN") throw new AsipError(ERR.ERR_CONN, "tcp.write");
    const n = Math.min(data.length, this.room);
    if (n === 0) return 0;
    this.room -= n;
    this.bytesWritten += n;
    // The core writes and outputs as its window allows (`more`/`output` hints do not cross).
    this.api.op("twrite", [h], copyOf(data, n));
    return n;
  }

  output(): void {
    this.api.op("topt", [this.live("output"), "output"]);
  }

  recved(len: number): void {
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`tcp.recved: bad length ${len}`);
    this.api.op("trecved", [this.live("recved"), len]);
  }

  /** Bytes that may be written now (the mirror of the core's tcp_sndbuf). */
  get sndbuf(): number {
    this.live("sndbuf");
    return this.room;
  }

  /** Not known in this thread: 0. */
  get sndqueuelen(): number {
    this.live("sndqueuelen");
    return 0;
  }

  /** The state as this thread knows it (LISTEN, SYN_SENT, ESTABLISHED, CLOSED). */
  get state(): TcpStateName {
    return this.h === 0 ? "CLOSED" : this.st;
  }

  get localAddress(): string {
    this.live("localAddress");
    return this.local.localAddress;
  }
  get localPort(): number {
    this.live("localPort");
    return this.local.localPort;
  }
  get remoteAddress(): string {
    this.live("remoteAddress");
    return this.remote.address;
  }
  get remotePort(): number {
    this.live("remotePort");
    return this.remote.port;
  }

  set nagle(on: boolean) {
    this.api.op("topt", [this.live("nagle"), "nagle", !!on]);
  }
  set reuseaddr(on: boolean) {
    this.api.op("topt", [this.live("reuseaddr"), "reuseaddr", !!on]);
  }
  keepalive(on: boolean, idleMs = 0, intervalMs = 0, count = 0): this {
    this.api.op("topt", [this.live("keepalive"), "keepalive", !!on, idleMs >>> 0, intervalMs >>> 0, count >>> 0]);
    return this;
  }
  set cc(algo: "newreno" | "cubic") {
    if (algo !== "newreno" && algo !== "cubic") throw new TypeError(`tcp.cc: unknown algorithm ${String(algo)} (newreno, cubic)`);
    this.api.op("topt", [this.live("cc"), "cc", algo]);
  }
  set prio(p: number) {
    byteArg(p, "tcp.prio");
    this.api.op("topt", [this.live("prio"), "prio", p]);
  }
  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "tcp.ttl");
    byteArg(tos, "tcp.tos");
    this.api.op("topt", [this.live("setTtlTos"), "ttltos", ttl, tos]);
    return this;
  }

  /** FIN after the queued data (a listener stops). No callback runs afterwards. */
  close(): void {
    const h = this.live("close");
    this.dead();
    this.api.op("tclose", [h]);
  }

  shutdown(rx: boolean, tx: boolean): void {
    if (rx && tx) return this.close();
    this.api.op("tshut", [this.live("shutdown"), !!rx, !!tx]);
  }

  /** RST. No callback runs afterwards. */
  abort(): void {
    const h = this.live("abort");
    this.dead();
    this.api.op("tabort", [h]);
  }

  private connected(a: unknown[]): void {
    const [la, lp, ra, rp, room] = a as [string, number, string, number, number];
    this.local = { localAddress: la, localPort: lp };
    this.remote = { address: ra, port: rp };
    this.room = room;
    this.st = "ESTABLISHED";
  }

  /** @internal */
  ev(ev: EventMessage): void {
    switch (ev.k) {
      case "rx": {
        const d = ev.bin!;
        this.bytesReceived += d.length;
        const fn = this.recvFn;
        if (fn) fn(d);
        if ((this.autoRecved || !fn) && this.h !== 0) this.api.op("trecved", [this.h, d.length]);
        break;
      }
      case "fin":
        this.recvFn?.(null);
        break;
      case "sent": {
        const len = (ev.a as number[])[0];
        this.room += len;
        this.sentFn?.(len, this.room);
        break;
      }
      case "con": {
        this.connected(ev.a!);
        const fn = this.connectedFn;
        this.connectedFn = undefined;
        fn?.(null);
        break;
      }
      case "acc": {
        const a = ev.a!;
        const child = new RemoteTcpPcb(this.api, a[0] as number, "ESTABLISHED");
        child.connected(a.slice(1));
        if (this.acceptFn) this.acceptFn(child);
        else child.abort();
        break;
      }
      case "err": {
        this.dead();
        this.errFn?.(new AsipError((ev.a as number[])[0] | 0, "tcp"));
        break;
      }
      case "poll":
        this.pollFn?.();
        break;
    }
  }
}

/** `raw.udp` of a core in a Worker. */
export class RemoteUdpApi {
  constructor(private readonly api: RemoteRaw) {}

  /** A new, unbound UDP pcb. */
  new(opts: UdpNewOptions = {}): RemoteUdpPcb {
    const t = ipTypeArg(opts.ipType, "udp.new");
    const h = this.api.handle();
    this.api.op("unew", [h, !!opts.lite, t]);
    return new RemoteUdpPcb(this.api, h);
  }
}



/** A UDP pcb of a core in a Worker; see the module comment. */
export class RemoteUdpPcb extends UdpPcbCallbacks implements UdpPcbLike {
  private local: LocalAddr = { localAddress: "0.0.0.0", localPort: 0 };
  private remote: { ip: string; port: number } | undefined;
  /** Datagrams the core could not send (no route, no memory), and the last reason. */
  sendErrors = 0;
  lastSendError: AsipError | undefined;

  /** @internal */
  constructor(private readonly api: RemoteRaw, h: number) {
    super(h, "udp", "is closed");
    api.objs.set(h, this);
  }

  get ready(): Promise<LocalAddr> {
    return this.api.ready(this.live("ready")).then((r) => (this.local = r));
  }

  bind(ip: string, port: number): this {
    addrArg(ip, "udp.bind");
    portArg(port, "udp.bind");
    this.api.op("ubind", [this.live("bind"), ip, port]);
    this.local = { localAddress: ip, localPort: port };
    return this;
  }

  bindNetif(index: number): this {
    byteArg(index, "udp.bindNetif");
    this.api.op("ubindif", [this.live("bindNetif"), index]);
    return this;
  }

  connect(ip: string, port: number): this {
    addrArg(ip, "udp.connect");
    portArg(port, "udp.connect", true);
    this.api.op("uconnect", [this.live("connect"), ip, port]);
    this.remote = { ip, port };
    return this;
  }

  disconnect(): this {
    this.api.op("udisc", [this.live("disconnect")]);
    this.remote = undefined;
    return this;
  }

  get localPort(): number {
    this.live("localPort");
    return this.local.localPort;
  }

  get localAddress(): string {
    this.live("localAddress");
    return this.local.localAddress;
  }

  set broadcast(on: boolean) {
    this.api.op("uopt", [this.live("broadcast"), "broadcast", !!on]);
  }

  set reuseaddr(on: boolean) {
    this.api.op("uopt", [this.live("reuseaddr"), "reuseaddr", !!on]);
  }

  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "udp.ttl");
    byteArg(tos, "udp.tos");
    this.api.op("uopt", [this.live("setTtlTos"), "ttltos", ttl, tos]);
    return this;
  }

  setMulticast(ttl: number, loop: boolean): this {
    byteArg(ttl, "udp.multicastTtl");
    this.api.op("uopt", [this.live("setMulticast"), "multicast", ttl, !!loop]);
    return this;
  }

  send(data: Uint8Array): void {
    if (!this.remote) throw new Error("udp.send: pcb is not connected (use sendto or connect first)");
    this.post(dataArg(data, "udp.send"), null, 0, "send");
  }

  sendto(data: Uint8Array, ip: string, port: number): void {
    addrArg(ip, "udp.sendto");
    portArg(port, "udp.sendto", true);
    this.post(dataArg(data, "udp.sendto"), ip, port, "sendto");
  }

  /** `fill` writes the payload into a fresh buffer, which is then sent (a copy crosses the port either way). */
  sendWith(len: number, fill: (buf: Uint8Array) => void, ip?: string, port?: number): void {
    if (!Number.isInteger(len) || len < 0 || len > UDP_MAX_PAYLOAD) throw new RangeError(`udp.sendWith: length out of range: ${len}`);
    if (ip === undefined && !this.remote) throw new Error("udp.sendWith: pcb is not connected (give ip and port)");
    if (ip !== undefined) {
      addrArg(ip, "udp.sendWith");
      portArg(port ?? -1, "udp.sendWith", true);
    }
    const buf = new Uint8Array(len);
    fill(buf);
    this.post(buf, ip ?? null, port ?? 0, "sendWith", true);
  }

  /** sendto with an address already parsed. */
  sendToAddress(data: Uint8Array, ip: IpAddress, port: number, what = "sendto"): void {
    this.post(data, ip.toString(), port, what);
  }

  private post(data: Uint8Array, ip: string | null, port: number, what: string, owned = false): void {
    const h = this.live(what);
    if (data.length > UDP_MAX_PAYLOAD) throw new RangeError(`udp.${what}: ${data.length} bytes is more than a UDP datagram holds (${UDP_MAX_PAYLOAD})`);
    this.api.op("usend", [h, ip, port], owned ? data : copyOf(data, data.length));
  }

  remove(): void {
    const h = this.live("remove");
    this.api.objs.delete(h);
    this.h = 0;
    this.api.op("uremove", [h]);
  }

  /** @internal */
  ev(ev: EventMessage): void {
    const a = ev.a ?? [];
    switch (ev.k) {
      case "urx": {
        const dst = a[2] as string;
        const info: UdpRecvMeta = { dst, netif: a[3] as number, broadcast: !!a[4], multicast: !!a[5], family: dst.includes(":") ? 6 : 4 };
        this.recvFn?.(ev.bin!, a[0] as string, a[1] as number, info);
        break;
      }
      case "uerr":
        this.errFn?.(a[0] as UdpErrorInfo);
        break;
      case "serr":
        this.sendErrors++;
        this.lastSendError = new AsipError(a[0] as number, `udp.send: ${a[1] as string}`);
        break;
      case "err":
        this.api.objs.delete(this.h);
        this.h = 0;
        break;
    }
  }
}

export { TCP_STATES };
