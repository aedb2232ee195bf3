/**
 * Worker mode, lwIP's "tcpip thread": the core runs in a Worker
 * (bindings/worker/core-worker.ts) and other threads reach it through
 * mailboxes.
 *
 * ## Who runs where
 * - The **core worker** owns one Stack and its interfaces. Interfaces are
 *   described as data ({@link InterfaceDescription}): a MessagePort carrying
 *   frames (to another core worker, or to a Stack on some thread through
 *   {@link portLink}) or a TAP device. Nothing else touches the core.
 * - The **main thread** (or any thread with an event loop) calls
 *   `await StackWorker.start(opts)` and uses the same APIs as on a Stack
 *   ({@link WorkerApis}): `sockets` and `netconn` with every call returning
 *   a Promise (MessagePort RPC); `raw` pcbs driven by messages
 *   (bindings/worker/remote-raw.ts); and `net`, `dgram`, `streams` — the
 *   in-thread implementations running here over those remote pcbs.
 * - **Blocking threads** (other Workers running C-style code) call
 *   `connectBlocking(sab | port)` and get synchronous sockets: recv, accept,
 *   connect, send block in Atomics.wait until the core answers.
 *
 * ## MessagePort RPC (async API)
 * Parent → core, first: `{type:"init", stack, interfaces, arp, tcpTimeWaitMs}`
 * (ports of "port" links in the transfer list); core → parent:
 * `{type:"ready", interfaces:[{index, mac, ip}], ipv6}` or `{type:"error", e}`.
 * Then any number of `{type:"call", id, m, a, bin?}` → `{type:"result", id,
 * ok, v, out?, bin?, e?}`, answered in completion order (a recv that waits
 * does not hold up other calls). `m` is the sockets method name, a service
 * call "<service>.<method>" (see services.ts: "raw", "nc"), or an admin
 * call: "usage", "stats", "open", "closeAll", "shutdownWorker" (closes every
 * descriptor, returns the final usage, releases the stack, closes the ports:
 * the worker's loop empties and it exits). Buffers never cross as
 * out-parameters: recv-like calls send their buffer's LENGTH in `a` and get
 * the bytes back in `bin` (transferred), which the client copies into the
 * caller's buffer; send-like calls carry their bytes in `bin`. Out-parameters
 * (accept's and recvfrom's address, select's sets, poll's revents) come back
 * in `out` and are written into the caller's objects. Errors are data
 * (`{name, message, errno, code, syscall, err}`) and are rebuilt as the same
 * class — SocketError with the same errno and name, AsipError with the
 * err_t. Service objects also take `{type:"op", m, a, bin?}` (no answer;
 * run in order with calls) and report with `{type:"ev", ch, h, k, a?, bin?}`.
 * `{type:"attach", sab}` registers a mailbox; `{type:"port", port}`
 * hands the core another port served exactly like the parent port (give it
 * to another Worker). A mailbox attached through such a port is reported to
 * the parent (`{type:"ev", ch:"core", k:"mailbox", a:[sab]}`), so that the
 * parent can mark it CLOSED if the worker dies without doing so itself
 * (terminate(), a crash). When a port closes, the calls still pending on it
 * fail with ESHUTDOWN; on the parent port the worker's exit does the same.
 *
 * ## SharedArrayBuffer mailbox (blocking API), one per client thread
 * ```
 * Int32[0] STATE  0 IDLE · 1 REQUEST · 2 RESPONSE · 3 CLOSED
 * Int32[1] SEQ    responses written (diagnostics)
 * Int32[2] LEN    bytes in the data area (header + binary)
 * Int32[3] HDR    bytes of the UTF-8 JSON header at the start of the data area
 * byte 16…        data area: JSON header, then raw bytes (default 64 KiB)
 * ```
 * Request header `{m, a}`, response header `{ok, v, out, e}`; raw bytes as
 * `bin` above. Who waits on what — there is exactly one word, STATE:
 * - the client writes the request, moves STATE from IDLE to REQUEST with
 *   compareExchange and notifies, then `Atomics.wait(STATE, REQUEST)` until
 *   the word changes; it reads the response and moves RESPONSE to IDLE (no
 *   notify: nobody waits for IDLE);
 * - the core waits with `Atomics.waitAsync(STATE, <value it saw>)`, so its
 *   event loop keeps running timers, frames and other mailboxes; on REQUEST
 *   it runs the call (which may itself wait, e.g. recv), writes the response,
 *   moves REQUEST to RESPONSE and notifies;
 * - when the core shuts down it stores CLOSED and notifies (so does the
 *   parent's StackWorker when the worker ended without doing it): a blocked
 *   client wakes and fails with ESHUTDOWN, as does every later call.
 * CLOSED is final: every other transition is a compareExchange from the
 * state it expects, so CLOSED, stored from another thread at any moment,
 * is never overwritten. (A plain store of REQUEST after checking for CLOSED lost a
 * CLOSED that came in between, and the client waited forever.)
 * Calls larger than the data area are split by the client (TCP send: chunks,
 * all queued before it returns, as a blocking send does); recv asks for at
 * most the data area and returns what came, as recv may; a datagram that does
 * not fit is EMSGSIZE. Atomics.wait is not allowed on a browser's main
 * thread: blocking clients belong in Workers.
 *
 * @module
 */
import { SocketError, errno as E } from "../api/errno.js";
import { nodeImport } from "../host.js";
import type { SockAddr, MsgHdr, PollFd, Linger } from "../api/sockets.js";
import type { StackStats, PoolName } from "../abi.js";
import {
  MB_STATE, ST_IDLE, ST_REQUEST, ST_RESPONSE, ST_CLOSED, MAILBOX_BYTES, mbRead, mbWrite, mbCapacity, fromWire, onMessage, onClose,
  type CallResponse, type InterfaceDescription, type PortLike, type EventMessage,
} from "./protocol.js";
import type { InitMessage } from "./core-worker.js";
import { Stack } from "../stack.js";
import { IpAddress } from "../ip-address.js";
import { streamsApi, type StreamsApi } from "../api/streams.js";
import type { NetApi } from "../api/net.js";
import type { DgramApi } from "../api/dgram.js";
import { RemoteRaw } from "./remote-raw.js";
import { RemoteNetconnApi } from "./remote-netconn.js";
import type { InterfaceInfo } from "./protocol.js";
import type { LoggedFrame } from "./link-admin.js";
import type { Signaller } from "../netif/webrtc.js";
import type { ControlMessage } from "../netif/websocket.js";

export { portLink, PortLink } from "./port-link.js";
export { RingLink, ringBuffer, DEFAULT_RING_BYTES, type RingLinkCounters } from "./ring-link.js";
export type { InterfaceDescription, LinkDescription, InterfaceInfo } from "./protocol.js";
export type { LoggedFrame } from "./link-admin.js";

/** Options of {@link StackWorker.start}: what the core worker builds. */
export interface StackWorkerOptions extends Omit<InitMessage, "type"> {
  /** Shortcut for stack.variant. */
  variant?: "release" | "mvp" | "ipv4" | "debug";
  /** URL of core-worker.js (default: next to this module). */
  workerUrl?: URL | string;
  /**
   * Browsers: a module Worker already running core-worker.js, instead of
   * `workerUrl` (a bundler finds the worker's code in
   * `new Worker(new URL("…/core-worker.js", import.meta.url), { type: "module" })`
   * written at the call site, so an app makes it and passes it here).
   */
  worker?: Worker;
}

/** The ports a link description hands to the worker. */
function linkTransfer(d: InterfaceDescription): unknown[] {
  if (d.link.type === "port") return [d.link.port];
  if (d.link.type === "ring" && d.link.doorbell) return [d.link.doorbell];
  return [];
}

/** Heap and pool usage, as Stack.usage() reports it inside the worker. */
export type Usage = { heap: number; pools: Record<PoolName, number> };

type OptVal = number | Linger | boolean;
type Result = { v: any; out?: any; bin?: Uint8Array };

function copyInto(dst: Uint8Array, src: Uint8Array | undefined): void {
  if (src && src.length) dst.set(src.subarray(0, dst.length));
}

function concat(iov: Uint8Array[]): Uint8Array {
  if (iov.length === 1) return iov[0];
  const out = new Uint8Array(iov.reduce((k, v) => k + v.length, 0));
  let off = 0;
  for (const v of iov) {
    out.set(v, off);
    off += v.length;
  }
  return out;
}

function scatter(iov: Uint8Array[], src: Uint8Array | undefined): void {
  let off = 0;
  for (const v of iov) {
    if (!src || off >= src.length) break;
    v.set(src.subarray(off, off + v.length));
    off += v.length;
  }
}

/** Helpers both socket flavours share (no call to the core). */
class LocalHelpers {
  inet_pton(af: number, src: string): Uint8Array | 0 {
    if (af === 10) {
      const a = typeof src === "string" && !src.includes("%") ? IpAddress.tryParse(src) : undefined;
      return a?.family === 6 ? a.bytes() : 0;
    }
    if (af !== 2) throw new SocketError(E.EAFNOSUPPORT, "inet_pton");
    if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(src)) return 0;
    return Uint8Array.from(src.split(".").map(Number));
  }
  inet_ntop(af: number, src: Uint8Array): string {
    if (af === 10) {
      if (!(src instanceof Uint8Array) || src.length < 16) throw new SocketError(E.ENOSPC, "inet_ntop");
      return IpAddress.fromBytes(src.subarray(0, 16)).toString();
    }
    if (af !== 2) throw new SocketError(E.EAFNOSUPPORT, "inet_ntop");
    if (!(src instanceof Uint8Array) || src.length < 4) throw new SocketError(E.ENOSPC, "inet_ntop");
    return `${src[0]}.${src[1]}.${src[2]}.${src[3]}`;
  }
  htons(v: number): number { return ((v & 0xff) << 8) | ((v >>> 8) & 0xff); }
  ntohs(v: number): number { return this.htons(v); }
  htonl(v: number): number { return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0; }
  ntohl(v: number): number { return this.htonl(v); }
}

// ---- the async API (MessagePort RPC) ---------------------------------------------------------

/** An RPC connection to a core worker over one MessagePort. */
export class RpcPort {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;
  private readonly listeners = new Map<string, (ev: EventMessage) => void>();

  constructor(readonly port: PortLike) {
    onMessage(port, (msg: CallResponse & { type?: string }) => {
      if (msg?.type === "ev") {
        const ev = msg as unknown as EventMessage;
        this.listeners.get(ev.ch)?.(ev);
        return;
      }
      if (!msg || msg.type !== "result" || msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve({ v: msg.v, out: msg.out, bin: msg.bin });
      else p.reject(fromWire(msg.e!));
    });
    // A port from StackWorker.port() closes when the core shuts down: what
    // is still pending will never be answered (the parent port ends with
    // the worker's exit instead; StackWorker.start fails it then).
    onClose(port, () => this.fail(new SocketError(E.ESHUTDOWN, "port closed")));
  }

  call(m: string, a: unknown[], bin?: Uint8Array, transfer?: unknown[]): Promise<Result> {
    if (this.dead) return Promise.reject(new SocketError(E.ESHUTDOWN, m));
    const id = this.nextId++;
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // `bin` is cloned, not transferred: the caller keeps its buffer.
      this.port.postMessage({ type: "call", id, m, a, bin }, transfer);
    });
  }

  /**
   * A fire-and-forget operation on a service object ("raw.tw"): no answer;
   * it runs in the core in order with calls sent on this port.
   */
  op(m: string, a: unknown[], bin?: Uint8Array, transfer = false): void {
    if (this.dead) return;
    this.port.postMessage({ type: "op", m, a, bin }, transfer && bin ? [bin.buffer] : undefined);
  }

  /** Receives the events of service `ch` (one listener per service). */
  on(ch: string, f: (ev: EventMessage) => void): void {
    this.listeners.set(ch, f);
  }

  /** True once the worker is gone. */
  get closed(): boolean {
    return this.dead !== undefined;
  }

  /** Fails every outstanding call (the worker is gone). */
  fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/**
 * BSD sockets of a core worker, Promise-returning: the names, arguments,
 * results and errors (SocketError, errno/code/syscall) of
 * bindings/api/sockets.ts. `errno` holds the last error, as there.
 */
export class WorkerSockets extends LocalHelpers {
  errno = 0;
  constructor(private readonly rpc: RpcPort) {
    super();
  }

  private async c(m: string, a: unknown[], bin?: Uint8Array): Promise<Result> {
    try {
      return await this.rpc.call(m, a, bin);
    } catch (e) {
      if (e instanceof SocketError) this.errno = e.errno;
      throw e;
    }
  }

  async socket(domain: number, type: number, protocol = 0): Promise<number> { return (await this.c("socket", [domain, type, protocol])).v; }
  async bind(fd: number, sa: SockAddr): Promise<number> { return (await this.c("bind", [fd, sa])).v; }
  async listen(fd: number, backlog = 0): Promise<number> { return (await this.c("listen", [fd, backlog])).v; }
  async connect(fd: number, sa: SockAddr): Promise<number> { return (await this.c("connect", [fd, sa])).v; }
  async accept(fd: number, addr?: SockAddr): Promise<number> {
    const r = await this.c("accept", [fd]);
    if (addr) Object.assign(addr, r.out);
    return r.v;
  }
  async recv(fd: number, buf: Uint8Array, flags = 0): Promise<number> {
    const r = await this.c("recv", [fd, buf.length, flags]);
    copyInto(buf, r.bin);
    return r.v;
  }
  async read(fd: number, buf: Uint8Array): Promise<number> {
    const r = await this.c("read", [fd, buf.length]);
    copyInto(buf, r.bin);
    return r.v;
  }
  async recvfrom(fd: number, buf: Uint8Array, flags = 0, from?: SockAddr): Promise<number> {
    const r = await this.c("recvfrom", [fd, buf.length, flags]);
    copyInto(buf, r.bin);
    if (from) Object.assign(from, r.out);
    return r.v;
  }
  async recvmsg(fd: number, msg: MsgHdr, flags = 0): Promise<number> {
    const r = await this.c("recvmsg", [fd, msg.iov.map((v) => v.length), flags]);
    scatter(msg.iov, r.bin);
    if (r.out?.name) msg.name = r.out.name;
    msg.flags = r.out?.flags;
    return r.v;
  }
  async readv(fd: number, iov: Uint8Array[]): Promise<number> {
    const r = await this.c("readv", [fd, iov.map((v) => v.length)]);
    scatter(iov, r.bin);
    return r.v;
  }
  async send(fd: number, data: Uint8Array, flags = 0): Promise<number> { return (await this.c("send", [fd, flags], data)).v; }
  async sendto(fd: number, data: Uint8Array, flags = 0, to?: SockAddr): Promise<number> { return (await this.c("sendto", [fd, flags, to ?? null], data)).v; }
  async sendmsg(fd: number, msg: MsgHdr, flags = 0): Promise<number> { return (await this.c("sendmsg", [fd, flags, msg.name ?? null], concat(msg.iov ?? []))).v; }
  async write(fd: number, data: Uint8Array): Promise<number> { return (await this.c("write", [fd], data)).v; }
  async writev(fd: number, iov: Uint8Array[]): Promise<number> { return (await this.c("write", [fd], concat(iov))).v; }
  async shutdown(fd: number, how: number): Promise<number> { return (await this.c("shutdown", [fd, how])).v; }
  async close(fd: number): Promise<number> { return (await this.c("close", [fd])).v; }
  async closeAll(): Promise<void> { await this.c("closeAll", []); }
  async getsockname(fd: number): Promise<SockAddr> { return (await this.c("getsockname", [fd])).v; }
  async getpeername(fd: number): Promise<SockAddr> { return (await this.c("getpeername", [fd])).v; }
  async getsockopt(fd: number, level: number, name: number): Promise<OptVal> { return (await this.c("getsockopt", [fd, level, name])).v; }
  async setsockopt(fd: number, level: number, name: number, value: OptVal): Promise<number> { return (await this.c("setsockopt", [fd, level, name, value])).v; }
  async ioctl(fd: number, request: number, arg?: number): Promise<number> { return (await this.c("ioctl", [fd, request, arg])).v; }
  async fcntl(fd: number, cmd: number, arg = 0): Promise<number> { return (await this.c("fcntl", [fd, cmd, arg])).v; }
  async select(nfds: number, readfds?: Set<number> | null, writefds?: Set<number> | null, exceptfds?: Set<number> | null, timeout?: number | null): Promise<number> {
    const arr = (s?: Set<number> | null) => (s ? [...s] : null);
    const r = await this.c("select", [nfds, arr(readfds), arr(writefds), arr(exceptfds), timeout ?? null]);
    for (const [set, got] of [[readfds, r.out.r], [writefds, r.out.w], [exceptfds, r.out.x]] as const) {
      if (!set) continue;
      set.clear();
      for (const fd of got ?? []) set.add(fd);
    }
    return r.v;
  }
  async poll(fds: PollFd[], timeout = -1): Promise<number> {
    const r = await this.c("poll", [fds.map((p) => ({ fd: p.fd, events: p.events, revents: 0 })), timeout]);
    fds.forEach((p, i) => (p.revents = r.out[i]));
    return r.v;
  }
  /** Open descriptors (leak checks). */
  async open(): Promise<number[]> { return (await this.c("open", [])).v; }
}

/**
 * What the host APIs need of a stack, for a core in a Worker: its raw API
 * (remote pcbs, bindings/worker/remote-raw.ts) and its interfaces. node:net,
 * node:dgram and the WHATWG streams are built on this exactly as on a Stack.
 */
class RemoteStackView {
  readonly remoteRaw: RemoteRaw;
  constructor(private readonly rpc: RpcPort, readonly ifaces: { index: number; mac: string; ip: string }[], readonly ipv6: boolean) {
    this.remoteRaw = new RemoteRaw(rpc);
  }
  /** Stack.joinGroup6 in the core (asynchronous here: a refusal rejects). */
  joinGroup6(group: string, ifindex = 0): Promise<void> {
    return this.rpc.call("joinGroup6", [group, ifindex]).then(() => {});
  }
  leaveGroup6(group: string, ifindex = 0): Promise<void> {
    return this.rpc.call("leaveGroup6", [group, ifindex]).then(() => {});
  }
  zoneIndex(zone: string): number {
    if (/^\d+$/.test(zone)) return Number(zone);
    throw new TypeError(`no interface for zone ${JSON.stringify(zone)} (Worker mode: give the interface index)`);
  }
}

/**
 * The host APIs of a core in a Worker, for any thread with an event loop:
 * the same classes, names and errors as on a {@link Stack}, reached through
 * one MessagePort. `sockets` and `netconn` return Promises for every call;
 * `raw` pcbs are messages with callbacks (see bindings/worker/remote-raw.ts);
 * `net`, `dgram` and `streams` are the very implementations a Stack uses,
 * running in this thread over the remote pcbs.
 */
export class WorkerApis {
  /** BSD sockets, Promise-returning. */
  readonly sockets: WorkerSockets;
  private readonly view: RemoteStackView;
  private nc: RemoteNetconnApi | undefined;

  constructor(/** @internal */ readonly rpc: RpcPort, interfaces: { index: number; mac: string; ip: string }[], ipv6 = false) {
    this.sockets = new WorkerSockets(rpc);
    this.view = new RemoteStackView(rpc, interfaces, ipv6);
  }

  /** Whether the worker's core carries IPv6 (as {@link Stack.ipv6}). */
  get ipv6(): boolean {
    return this.view.ipv6;
  }

  /** lwIP's raw API over the port: TCP and UDP pcbs with callbacks. */
  get raw(): RemoteRaw {
    return this.view.remoteRaw;
  }

  /** The sequential API; every call returns a Promise. */
  get netconn(): RemoteNetconnApi {
    return (this.nc ??= new RemoteNetconnApi(this.rpc));
  }

  /** WHATWG streams (browsers and Node). */
  get streams(): StreamsApi {
    return streamsApi(this.view as unknown as Stack);
  }

  /** node:net (Node; `import "asip"` or "asip/net" registers it). */
  get net(): NetApi {
    const f = Stack.hostApis.get("net");
    if (!f) throw new Error('worker.net needs node:net support: import "asip" (or its net module) first');
    return f(this.view as unknown as Stack) as NetApi;
  }

  /** node:dgram (Node; registered like net). */
  get dgram(): DgramApi {
    const f = Stack.hostApis.get("dgram");
    if (!f) throw new Error('worker.dgram needs node:dgram support: import "asip" (or its dgram module) first');
    return f(this.view as unknown as Stack) as DgramApi;
  }
}

/** Handle of a running core worker (main thread or any thread with an event loop). */
export class StackWorker extends WorkerApis {
  private closing: Promise<Usage> | undefined;
  /**
   * The blocking clients' mailboxes (made here or reported by the core):
   * marked CLOSED here when the worker ends without doing it (terminated,
   * crashed), so that no client thread waits forever in Atomics.wait.
   */
  private readonly mailboxes = new Set<SharedArrayBuffer>();

  private constructor(
    private readonly worker: { postMessage(m: unknown, t?: unknown[]): void; terminate(): unknown },
    rpc: RpcPort,
    /** The interfaces as the core reported them. */
    readonly interfaces: InterfaceInfo[],
    /** Resolves when the worker thread has ended. */
    readonly exited: Promise<number>,
    ipv6: boolean,
  ) {
    super(rpc, interfaces, ipv6);
  }

  /** Starts a core worker and builds its stack and interfaces. */
  static async start(opts: StackWorkerOptions = {}): Promise<StackWorker> {
    // Not a literal: bundlers would copy the file as an asset (browsers pass `worker` or `workerUrl`).
    const coreWorkerFile = "./core-worker.js";
    const url = opts.workerUrl ?? new URL(coreWorkerFile, import.meta.url);
    const { workerUrl: _w, worker: given, variant, ...init } = opts;
    const msg: InitMessage = { type: "init", ...init, stack: { ...(init.stack ?? {}), ...(variant ? { variant } : {}) } };
    const transfer = (init.interfaces ?? []).flatMap((d: InterfaceDescription) => linkTransfer(d));
    let worker: { postMessage(m: unknown, t?: unknown[]): void; terminate(): unknown };
    let port: PortLike;
    let exited: Promise<number>;
    const g = globalThis as { process?: { versions?: { node?: string } } };
    if (given) {
      worker = given as unknown as typeof worker;
      port = given as unknown as PortLike;
      exited = new Promise(() => {}); // browsers have no exit event; close() terminates.
    } else if (g.process?.versions?.node) {
      const { Worker } = await nodeImport<typeof import("node:worker_threads")>("node:worker_threads");
      const w = new Worker(url, { workerData: { asipCore: true } });
      worker = w as unknown as typeof worker;
      port = w as unknown as PortLike;
      exited = new Promise((r) => w.once("exit", (code) => r(code)));
    } else {
      const w = new Worker(url, { type: "module" });
      worker = w as unknown as typeof worker;
      port = w as unknown as PortLike;
      exited = new Promise(() => {}); // browsers have no exit event; close() terminates.
    }
    const ready = new Promise<{ interfaces: StackWorker["interfaces"]; ipv6: boolean }>((resolve, reject) => {
      onMessage(port, (m: { type?: string; e?: unknown; interfaces?: StackWorker["interfaces"]; ipv6?: boolean }) => {
        if (m?.type === "ready") resolve({ interfaces: m.interfaces ?? [], ipv6: !!m.ipv6 });
        else if (m?.type === "error") reject(fromWire(m.e as never));
      });
      (worker as { once?: (ev: string, f: (e: Error) => void) => void }).once?.("error", reject);
    });
    worker.postMessage(msg, transfer);
    let r;
    try {
      r = await ready;
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    const rpc = new RpcPort(port);
    const h = new StackWorker(worker, rpc, r.interfaces, exited, r.ipv6);
    // The core's own events: a mailbox attached through another port.
    rpc.on("core", (ev) => {
      const sab = ev.a?.[0];
      if (ev.k === "mailbox" && sab instanceof SharedArrayBuffer) h.track(sab);
    });
    rpc.on("iface", (ev) => {
      const info = h.interfaces.find((x) => x.index === ev.h);
      if (info && ev.k === "ip6") info.ip6 = ev.a?.[0] as InterfaceInfo["ip6"];
    });
    rpc.on("link", (ev) => {
      if (ev.k !== "control") return;
      const msg = (ev.a as ControlMessage[])[0];
      if (msg?.type === "peers") h.lastPeers.set(ev.h, msg);
      for (const f of h.controlListeners) f(ev.h, msg);
    });
    (worker as { on?: (ev: string, f: (e: Error) => void) => void }).on?.("error", (e) => rpc.fail(e));
    void exited.then(() => h.ended());
    return h;
  }

  private track(sab: SharedArrayBuffer): void {
    // Forget the mailboxes their clients detached (they stay CLOSED).
    for (const m of this.mailboxes) if (Atomics.load(new Int32Array(m, 0, 1), MB_STATE) === ST_CLOSED) this.mailboxes.delete(m);
    this.mailboxes.add(sab);
    if (this.rpc.closed) this.ended();
  }

  /** The worker thread is gone: calls fail, blocked clients wake with ESHUTDOWN. */
  private ended(): void {
    this.rpc.fail(new SocketError(E.ESHUTDOWN, "worker exited"));
    for (const sab of this.mailboxes) {
      const i32 = new Int32Array(sab, 0, 1);
      Atomics.store(i32, MB_STATE, ST_CLOSED);
      Atomics.notify(i32, MB_STATE);
    }
    this.mailboxes.clear();
  }

  /** Heap and pool usage inside the worker (for leak checks). */
  async usage(): Promise<Usage> { return (await this.rpc.call("usage", [])).v; }

  // ---- interfaces and links --------------------------------------------------------------------

  /** Adds an interface to the worker's stack (a "port" link's port is transferred). */
  async addInterface(d: InterfaceDescription): Promise<InterfaceInfo> {
    const transfer = linkTransfer(d);
    const info = (await this.rpc.call("addInterface", [d], undefined, transfer)).v as InterfaceInfo;
    this.interfaces.push(info);
    return info;
  }

  /** A static IPv6 address on interface `index` (as {@link Stack.addAddress6}); `interfaces[…].ip6` follows its state. */
  async addAddress6(index: number, cidr: string, opts: { dad?: boolean } = {}): Promise<number> {
    return (await this.rpc.call("addAddress6", [index, cidr, opts])).v;
  }

  /** As {@link Stack.removeAddress6}. */
  async removeAddress6(index: number, address: string): Promise<void> { await this.rpc.call("removeAddress6", [index, address]); }

  /** As {@link Stack.setSlaac}. */
  async setSlaac(index: number, on: boolean): Promise<void> { await this.rpc.call("setSlaac", [index, on]); }

  /** Link up or down on interface `index` (as {@link Stack.setLink}). */
  async setLink(index: number, up: boolean): Promise<void> { await this.rpc.call("setLink", [index, up]); }

  /** Removes interface `index` and closes its driver. */
  async removeInterface(index: number): Promise<void> {
    await this.rpc.call("removeInterface", [index]);
    const k = this.interfaces.findIndex((i) => i.index === index);
    if (k >= 0) this.interfaces.splice(k, 1);
  }

  /** ICMP echo from the worker's stack: round-trip times in ms, NaN for lost ones. */
  async ping(to: string, count = 4, intervalMs = 200, timeoutMs = 1000): Promise<number[]> {
    return (await this.rpc.call("ping", [to, count, intervalMs, timeoutMs])).v;
  }

  /** The counters of every interface's driver, by interface index. */
  async linkCounters(): Promise<Record<number, Record<string, number>>> { return (await this.rpc.call("linkCounters", [])).v; }

  /** Frames logged on interfaces described with `capture`, after sequence number `since`. */
  async captureLog(since = 0): Promise<LoggedFrame[]> { return (await this.rpc.call("captureLog", [since])).v; }

  /** The pcap of interfaces described with `capture` (its first 50,000 frames). */
  async capturePcap(): Promise<Uint8Array> { return (await this.rpc.call("capturePcap", [])).bin ?? new Uint8Array(0); }

  /**
   * The relay control channel of websocket interface `index`, as a
   * {@link Signaller} (what RtcDataChannelLink needs): messages from the
   * relay arrive here, and sendControl sends through the worker's socket.
   */
  signaller(index: number): Signaller {
    return {
      sendControl: (msg) => {
        this.rpc.call("linkControl", [index, msg]).catch(() => {});
        return !this.rpc.closed;
      },
      addControlListener: (fn) => {
        const f = (i: number, m: ControlMessage) => { if (i === index) fn(m); };
        this.controlListeners.add(f);
        // The relay sends the peer list when the socket opens: a listener added later gets the last one.
        const peers = this.lastPeers.get(index);
        if (peers) queueMicrotask(() => { if (this.controlListeners.has(f)) fn(peers); });
        return () => this.controlListeners.delete(f);
      },
    };
  }

  /** @internal */
  readonly controlListeners = new Set<(index: number, msg: ControlMessage) => void>();
  /** @internal The last `peers` message of each websocket interface. */
  readonly lastPeers = new Map<number, ControlMessage>();
  /** Every counter of the worker's core. */
  async stats(): Promise<StackStats> { return (await this.rpc.call("stats", [])).v; }

  /**
   * A mailbox registered with the core, for {@link connectBlocking} in
   * another Worker (post it there; SharedArrayBuffers are shared, not copied).
   */
  mailbox(bytes = MAILBOX_BYTES): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(bytes);
    this.track(sab);
    this.worker.postMessage({ type: "attach", sab });
    return sab;
  }

  /**
   * A MessagePort to the core, served like the parent port: transfer it to
   * another Worker for {@link connectBlocking} (which attaches its own
   * mailbox through it) or for async RPC there ({@link attachPort}).
   */
  port(): MessagePort {
    const ch = new MessageChannel();
    this.worker.postMessage({ type: "port", port: ch.port2 }, [ch.port2]);
    return ch.port1;
  }

  /**
   * Ends the worker thread at once (no cleanup inside it): for tests'
   * teardown after a failure. Blocked clients wake with ESHUTDOWN.
   */
  async terminate(): Promise<void> {
    await this.worker.terminate();
    this.ended();
  }

  /**
   * Aborts every connection (RST) and closes every descriptor, releases the stack and ends the worker. Returns
   * the heap/pool usage measured inside the worker just before the stack was
   * released (compare with a baseline).
   */
  close(): Promise<Usage> {
    this.closing ??= (async () => {
      const r = await this.rpc.call("shutdownWorker", []);
      // The worker exits on its own once its ports are closed; don't wait forever.
      const t = new Promise<void>((res) => setTimeout(res, 2000).unref?.());
      const ended = await Promise.race([this.exited.then(() => true), t.then(() => false)]);
      if (!ended) await this.terminate();
      return r.v as Usage;
    })();
    return this.closing;
  }
}

/**
 * The APIs over a port from {@link StackWorker.port}, in any thread with an
 * event loop (give it the worker's `interfaces` for net/dgram's local-address
 * checks, and its `ipv6`).
 */
export function attachPort(port: MessagePort, interfaces: { index: number; mac: string; ip: string }[] = [], ipv6 = false): WorkerApis {
  return new WorkerApis(new RpcPort(port as unknown as PortLike), interfaces, ipv6);
}

// ---- the blocking API (SharedArrayBuffer mailbox) --------------------------------------------

/**
 * Synchronous BSD sockets for a Worker: the calls of bindings/api/sockets.ts,
 * returning their C results directly; recv/accept/connect/send block until
 * the core answers. Errors are thrown SocketErrors (errno/code/syscall);
 * `errno` holds the last one.
 */
export class BlockingSockets extends LocalHelpers {
  errno = 0;
  private readonly i32: Int32Array;
  private readonly cap: number;

  constructor(readonly sab: SharedArrayBuffer) {
    super();
    this.i32 = new Int32Array(sab, 0, 4);
    this.cap = mbCapacity(sab);
  }

  private c(m: string, a: unknown[], bin?: Uint8Array): Result {
    const i32 = this.i32;
    if (Atomics.load(i32, MB_STATE) === ST_CLOSED) return this.fail(new SocketError(E.ESHUTDOWN, m));
    if (!mbWrite(this.sab, { m, a }, bin)) return this.fail(new SocketError(E.EMSGSIZE, m));
    // IDLE → REQUEST, never a plain store: the core may have stored CLOSED
    // since the check above (it shuts down on another thread), and a store
    // would overwrite it and wait for an answer nobody will write.
    const was = Atomics.compareExchange(i32, MB_STATE, ST_IDLE, ST_REQUEST);
    if (was === ST_CLOSED) return this.fail(new SocketError(E.ESHUTDOWN, m));
    if (was !== ST_IDLE) throw new Error(`${m}: mailbox busy (state ${was}): a mailbox serves one thread, one call at a time`);
    Atomics.notify(i32, MB_STATE);
    while (Atomics.load(i32, MB_STATE) === ST_REQUEST) Atomics.wait(i32, MB_STATE, ST_REQUEST);
    if (Atomics.load(i32, MB_STATE) === ST_CLOSED) return this.fail(new SocketError(E.ESHUTDOWN, m));
    const { header, bin: rb } = mbRead<CallResponse>(this.sab);
    // Not a plain store: the core may have marked the mailbox CLOSED meanwhile.
    Atomics.compareExchange(i32, MB_STATE, ST_RESPONSE, ST_IDLE);
    if (!header.ok) return this.fail(fromWire(header.e!));
    return { v: header.v, out: header.out, bin: rb };
  }

  private fail(e: Error): never {
    if (e instanceof SocketError) this.errno = e.errno;
    throw e;
  }

  socket(domain: number, type: number, protocol = 0): number { return this.c("socket", [domain, type, protocol]).v; }
  bind(fd: number, sa: SockAddr): number { return this.c("bind", [fd, sa]).v; }
  listen(fd: number, backlog = 0): number { return this.c("listen", [fd, backlog]).v; }
  connect(fd: number, sa: SockAddr): number { return this.c("connect", [fd, sa]).v; }
  accept(fd: number, addr?: SockAddr): number {
    const r = this.c("accept", [fd]);
    if (addr) Object.assign(addr, r.out);
    return r.v;
  }
  recv(fd: number, buf: Uint8Array, flags = 0): number {
    const r = this.c("recv", [fd, Math.min(buf.length, this.cap), flags]);
    copyInto(buf, r.bin);
    return r.v;
  }
  read(fd: number, buf: Uint8Array): number { return this.recv(fd, buf); }
  recvfrom(fd: number, buf: Uint8Array, flags = 0, from?: SockAddr): number {
    const r = this.c("recvfrom", [fd, Math.min(buf.length, this.cap), flags]);
    copyInto(buf, r.bin);
    if (from) Object.assign(from, r.out);
    return r.v;
  }
  /** Blocking send: all of `data` is queued before it returns (chunked to the mailbox's size). */
  send(fd: number, data: Uint8Array, flags = 0): number {
    if (data.length <= this.cap) return this.c("send", [fd, flags], data).v;
    let off = 0;
    while (off < data.length) {
      const n: number = this.c("send", [fd, flags], data.subarray(off, off + this.cap)).v;
      off += n;
      if (n === 0) break;
    }
    return off;
  }
  write(fd: number, data: Uint8Array): number { return this.send(fd, data); }
  sendto(fd: number, data: Uint8Array, flags = 0, to?: SockAddr): number { return this.c("sendto", [fd, flags, to ?? null], data).v; }
  shutdown(fd: number, how: number): number { return this.c("shutdown", [fd, how]).v; }
  close(fd: number): number { return this.c("close", [fd]).v; }
  getsockname(fd: number): SockAddr { return this.c("getsockname", [fd]).v; }
  getpeername(fd: number): SockAddr { return this.c("getpeername", [fd]).v; }
  getsockopt(fd: number, level: number, name: number): OptVal { return this.c("getsockopt", [fd, level, name]).v; }
  setsockopt(fd: number, level: number, name: number, value: OptVal): number { return this.c("setsockopt", [fd, level, name, value]).v; }
  ioctl(fd: number, request: number, arg?: number): number { return this.c("ioctl", [fd, request, arg]).v; }
  fcntl(fd: number, cmd: number, arg = 0): number { return this.c("fcntl", [fd, cmd, arg]).v; }
  poll(fds: PollFd[], timeout = -1): number {
    const r = this.c("poll", [fds.map((p) => ({ fd: p.fd, events: p.events, revents: 0 })), timeout]);
    fds.forEach((p, i) => (p.revents = r.out[i]));
    return r.v;
  }
  /** Ends this mailbox (the core stops watching it). */
  detach(): void {
    if (Atomics.load(this.i32, MB_STATE) === ST_CLOSED) return;
    this.c("detach", []);
    Atomics.store(this.i32, MB_STATE, ST_CLOSED);
  }
}

/**
 * Synchronous sockets inside a Worker, from a mailbox made by
 * {@link StackWorker.mailbox} or a port made by {@link StackWorker.port}
 * (then this thread makes its own mailbox and attaches it through the port,
 * blocking until the core has it).
 */
export function connectBlocking(to: SharedArrayBuffer | MessagePort, bytes = MAILBOX_BYTES): BlockingSockets {
  if (to instanceof SharedArrayBuffer) return new BlockingSockets(to);
  const sab = new SharedArrayBuffer(bytes);
  const i32 = new Int32Array(sab, 0, 4);
  mbWrite(sab, { m: "attach", a: [] });
  Atomics.store(i32, MB_STATE, ST_REQUEST);
  (to as unknown as PortLike).postMessage({ type: "attach", sab });
  while (Atomics.load(i32, MB_STATE) === ST_REQUEST) Atomics.wait(i32, MB_STATE, ST_REQUEST);
  if (Atomics.load(i32, MB_STATE) === ST_CLOSED) throw new SocketError(E.ESHUTDOWN, "connectBlocking");
  const { header } = mbRead<CallResponse>(sab);
  Atomics.compareExchange(i32, MB_STATE, ST_RESPONSE, ST_IDLE);
  // The core answers an attach with an error while it shuts down.
  if (!header.ok) throw fromWire(header.e!);
  return new BlockingSockets(sab);
}
