/**
 * The core worker: lwIP's "tcpip thread" for asip. It owns one Stack and its
 * interfaces (built here from serializable descriptions) and serves calls
 * from other threads through mailboxes:
 *  - MessagePort RPC (the parent port, and extra ports handed to it) for the
 *    Promise API of bindings/worker/client.ts;
 *  - SharedArrayBuffer mailboxes for blocking clients in other Workers,
 *    watched with Atomics.waitAsync so this thread's event loop (timers,
 *    frames, other mailboxes) keeps running while a call waits.
 * Message formats and the mailbox layout: the top of client.ts.
 *
 * Runs as a Node worker_threads Worker; the same file works as a browser
 * module Worker (it uses `self` when there is no worker_threads), except TAP
 * links, which are Node-only.
 *
 * @module
 */
// dgram first: it registers stack.dgram on Stack, and importing stack.js
// before it trips the stack → sockets → dgram → stack cycle.
import "../api/dgram.js";
import "./raw-service.js";
import "./netconn-service.js";
import { Stack, type StackOptions } from "../stack.js";

import { SOL_SOCKET, SO_TYPE, SO_LINGER, SOCK_STREAM, type SockAddr, type PollFd } from "../api/sockets.js";
import { SocketError, errno } from "../api/errno.js";
import type { LinkDriver } from "../netif/driver.js";
import { nodeImport } from "../host.js";
import { PortLink } from "./port-link.js";
import { RingLink } from "./ring-link.js";
import { WebSocketLink, type WebSocketCtor } from "../netif/websocket.js";
import { FrameRecorder, ping } from "./link-admin.js";
import { PcapWriter } from "../netif/pcap.js";
import {
  MB_STATE, MB_SEQ, ST_REQUEST, ST_RESPONSE, ST_CLOSED, mbRead, mbWrite, toWire, onMessage,
  type CallRequest, type CallResponse, type InterfaceDescription, type LinkDescription, type PortLike,
  type OpMessage, type InterfaceInfo,
} from "./protocol.js";
import { serviceFactories, type CoreService } from "./services.js";
export { registerService, type CoreService, type DispatchResult, type PostEvent, type ServiceFactory } from "./services.js";

/** The first message from the parent. */
export interface InitMessage {
  type: "init";
  /** Stack options that survive structured clone (no clock function). */
  stack?: Omit<StackOptions, "clock">;
  interfaces?: InterfaceDescription[];
  /** Static ARP entries (tests: no first segment waits for resolution). */
  arp?: { ip: string; mac: string }[];
  /** TCP TIME_WAIT in ms (tests shorten it). */
  tcpTimeWaitMs?: number;
}

/** Socket calls passed through unchanged (their arguments and results are plain data). */
const PASS = new Set([
  "socket", "bind", "listen", "connect", "shutdown", "close", "getsockopt", "setsockopt",
  "getsockname", "getpeername", "ioctl", "fcntl",
]);

class CoreWorker {
  private stack!: Stack;
  private readonly mailboxes = new Set<SharedArrayBuffer>();
  private readonly ports: PortLike[] = [];
  /** Services by client port, then by name. */
  private readonly services = new Map<PortLike, Map<string, CoreService>>();
  private closed = false;
  /** Set when shutdownWorker starts: later calls fail with ESHUTDOWN. */
  private closing = false;
  /** The drivers of the interfaces, by index (what linkCounters and linkControl reach). */
  private readonly links = new Map<number, LinkDriver>();
  /** Records the frames of interfaces described with `capture`. */
  private recorder: FrameRecorder | undefined;

  constructor(private readonly parent: PortLike) {
    this.listen(parent);
  }

  private listen(port: PortLike): void {
    onMessage(port, (msg: any) => {
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "init") this.init(msg as InitMessage).then(
        (r) => port.postMessage({ type: "ready", ...r }),
        (e) => port.postMessage({ type: "error", e: toWire(e) }));
      else if (msg.type === "call") this.call(port, msg as CallRequest);
      else if (msg.type === "op") this.op(port, msg as OpMessage);
      else if (msg.type === "attach") void this.serveMailbox(msg.sab as SharedArrayBuffer, port);
      else if (msg.type === "port") {
        this.ports.push(msg.port);
        this.listen(msg.port);
      }
    });
  }

  private async init(m: InitMessage): Promise<{ interfaces: InterfaceInfo[]; ipv6: boolean }> {
    this.stack = await Stack.create(m.stack ?? {});
    const stack = this.stack;
    const out = [];
    for (const d of m.interfaces ?? []) out.push(await this.addInterface(d));
    for (const e of m.arp ?? []) stack.addStaticArp(e.ip, e.mac);
    if (m.tcpTimeWaitMs !== undefined) stack.raw.tcp.setTimeWait(m.tcpTimeWaitMs);
    stack.kick();
    return { interfaces: out, ipv6: stack.ipv6 };
  }

  /** Builds an interface from its description (at init, or later by the addInterface call). */
  private async addInterface({ link, capture, ...opts }: InterfaceDescription): Promise<InterfaceInfo> {
    const driver = await makeLink(link);
    let config: Record<string, unknown> | undefined;
    if (driver instanceof WebSocketLink) {
      await driver.ready();
      const c = driver.config!;
      config = { ...c };
      opts = { ip: c.ip, gateway: c.gateway, mtu: driver.mtu, ...opts };
    }
    const wrapped = capture ? (this.recorder ??= new FrameRecorder()).wrap(driver) : undefined;
    const i = this.stack.addInterface(wrapped ?? driver, { ...opts, mtu: opts.mtu ?? link.mtu });
    if (wrapped) wrapped.index = i.index;
    this.links.set(i.index, driver);
    if (driver instanceof WebSocketLink) {
      // Control messages (peers, WebRTC signalling) are for the client that made the worker.
      driver.addControlListener((msg) => {
        if (!this.closed) this.parent.postMessage({ type: "ev", ch: "link", h: i.index, k: "control", a: [msg] });
      });
    }
    // IPv6 addresses change on their own (DAD, SLAAC, lifetimes): the parent's copy follows.
    i.watchIp6(() => {
      if (!this.closed) this.parent.postMessage({ type: "ev", ch: "iface", h: i.index, k: "ip6", a: [i.ip6Addresses] });
    });
    this.stack.kick();
    return { index: i.index, mac: i.mac, ip: i.ip, ip6: i.ip6Addresses, ...(config ? { config } : {}) };
  }

  private iface(index: unknown) {
    const i = this.stack.ifaces.find((x) => x.index === index);
    if (!i) throw new RangeError(`no interface ${String(index)}`);
    return i;
  }

  /** The service `name` of the client on `port` (created on first use). */
  private service(port: PortLike, m: string): { svc: CoreService; method: string } | undefined {
    const dot = m.indexOf(".");
    if (dot < 0) return undefined;
    const name = m.slice(0, dot);
    let byName = this.services.get(port);
    if (!byName) this.services.set(port, (byName = new Map()));
    let svc = byName.get(name);
    if (!svc) {
      const f = serviceFactories.get(name);
      if (!f) throw new TypeError(`unknown service ${name}`);
      if (!this.stack) throw new Error(`${m}: the core worker is not initialised`);
      svc = f(this.stack, (ev) => {
        if (this.closed) return;
        const bin = ev.bin ?? undefined;
        port.postMessage({ type: "ev", ...ev }, bin ? [bin.buffer] : []);
      });
      byName.set(name, svc);
    }
    return { svc, method: m.slice(dot + 1) };
  }

  /** A fire-and-forget operation: run now, in arrival order; failures are the service's to report. */
  private op(port: PortLike, msg: OpMessage): void {
    if (this.closed || this.closing || !this.stack) return;
    try {
      const s = this.service(port, msg.m);
      s?.svc.op?.(s.method, msg.a ?? [], msg.bin);
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /** A MessagePort call: answered on the port it came from, with its id. */
  private async call(port: PortLike, req: CallRequest): Promise<void> {
    let res: CallResponse;
    const transfer: unknown[] = [];
    try {
      const s = req.m.includes(".") && !this.closing && !this.closed ? this.service(port, req.m) : undefined;
      const r = s ? await s.svc.call(s.method, req.a ?? [], req.bin) : await this.dispatch(req.m, req.a ?? [], req.bin);
      res = { id: req.id, ok: true, v: r.v, out: r.out };
      if (r.bin) {
        // A copy of exactly the bytes, its buffer transferred.
        res.bin = r.bin.slice();
        transfer.push(res.bin.buffer);
      }
    } catch (e) {
      res = { id: req.id, ok: false, e: toWire(e) };
    }
    port.postMessage({ type: "result", ...res }, transfer);
    if (req.m === "shutdownWorker") this.exit();
  }

  /**
   * Serves one blocking client's mailbox until it or the core closes. One
   * request at a time (the client thread is blocked in it); a request that
   * waits (recv, accept) only parks this loop, not the thread.
   */
  private async serveMailbox(sab: SharedArrayBuffer, from: PortLike): Promise<void> {
    const i32 = new Int32Array(sab, 0, 4);
    if (this.closed) {
      // Attached too late: its client must not wait for an answer.
      Atomics.store(i32, MB_STATE, ST_CLOSED);
      Atomics.notify(i32, MB_STATE);
      return;
    }
    this.mailboxes.add(sab);
    // If this thread ends without exit() (terminated, crashed), the parent
    // marks the mailboxes CLOSED: tell it of those it did not make itself.
    if (from !== this.parent) this.parent.postMessage({ type: "ev", ch: "core", h: 0, k: "mailbox", a: [sab] });
    while (!this.closed) {
      const s = Atomics.load(i32, MB_STATE);
      if (s === ST_CLOSED) break;
      if (s === ST_REQUEST) {
        const { header, bin } = mbRead<CallRequest>(sab);
        let res: CallResponse, out: Uint8Array | undefined;
        try {
          const r = await this.dispatch(header.m, header.a ?? [], bin);
          res = { ok: true, v: r.v, out: r.out };
          out = r.bin;
        } catch (e) {
          res = { ok: false, e: toWire(e) };
        }
        if (this.closed) break;
        if (!mbWrite(sab, res, out)) mbWrite(sab, { ok: false, e: { name: "RangeError", message: `${header.m}: response larger than the mailbox` } });
        Atomics.add(i32, MB_SEQ, 1);
        // REQUEST → RESPONSE; a mailbox marked CLOSED meanwhile stays CLOSED.
        Atomics.compareExchange(i32, MB_STATE, ST_REQUEST, ST_RESPONSE);
        Atomics.notify(i32, MB_STATE);
        if (header.m === "detach") break;
        continue;
      }
      // Wake when the client moves the state word (it notifies after writing a request).
      const w = waitAsync(i32, MB_STATE, s);
      if (w.async) await w.value;
    }
    this.mailboxes.delete(sab);
  }

  /** Runs one call against the stack's BSD sockets (or an admin call). */
  private async dispatch(m: string, a: any[], bin?: Uint8Array): Promise<{ v?: unknown; out?: unknown; bin?: Uint8Array }> {
    if (!this.stack) throw new Error(`${m}: the core worker is not initialised`);
    if (this.closed || this.closing) throw new SocketError(errno.ESHUTDOWN, m);
    const stack = this.stack;
    const so = stack.sockets;
    switch (m) {
      // The recv family: the caller sends its buffer's length, we return the bytes.
      case "recv":
      case "read": {
        const b = new Uint8Array(a[1] >>> 0);
        const n = m === "recv" ? await so.recv(a[0], b, a[2] ?? 0) : await so.read(a[0], b);
        return { v: n, bin: b.subarray(0, n) };
      }
      case "recvfrom": {
        const b = new Uint8Array(a[1] >>> 0);
        const from = {} as SockAddr;
        const n = await so.recvfrom(a[0], b, a[2] ?? 0, from);
        return { v: n, bin: b.subarray(0, Math.min(n, b.length)), out: from };
      }
      case "recvmsg":
      case "readv": {
        const iov = (a[1] as number[]).map((l) => new Uint8Array(l >>> 0));
        const msg = { iov } as { iov: Uint8Array[]; name?: SockAddr; flags?: number };
        const n = m === "recvmsg" ? await so.recvmsg(a[0], msg, a[2] ?? 0) : await so.readv(a[0], iov);
        const all = new Uint8Array(iov.reduce((k, v) => k + v.length, 0));
        let off = 0;
        for (const v of iov) {
          all.set(v, off);
          off += v.length;
        }
        return { v: n, bin: all.subarray(0, Math.min(n, all.length)), out: { name: msg.name, flags: msg.flags } };
      }
      case "accept": {
        const addr = {} as SockAddr;
        const fd = await so.accept(a[0], addr);
        return { v: fd, out: addr };
      }
      // The send family: the bytes come as `bin`.
      case "send": return { v: await so.send(a[0], bin ?? new Uint8Array(0), a[1] ?? 0) };
      case "write": return { v: await so.write(a[0], bin ?? new Uint8Array(0)) };
      case "sendto": return { v: await so.sendto(a[0], bin ?? new Uint8Array(0), a[1] ?? 0, a[2] ?? undefined) };
      case "sendmsg": return { v: await so.sendmsg(a[0], { name: a[2] ?? undefined, iov: [bin ?? new Uint8Array(0)] }, a[1] ?? 0) };
      case "select": {
        const set = (x: number[] | null) => (x ? new Set(x) : null);
        const r = set(a[1]), w = set(a[2]), x = set(a[3]);
        const n = await so.select(a[0], r, w, x, a[4]);
        const arr = (s: Set<number> | null) => (s ? [...s] : null);
        return { v: n, out: { r: arr(r), w: arr(w), x: arr(x) } };
      }
      case "poll": {
        const fds = a[0] as PollFd[];
        const n = await so.poll(fds, a[1] ?? -1);
        return { v: n, out: fds.map((p) => p.revents) };
      }
      // Admin calls.
      case "usage": return { v: stack.usage() };
      case "stats": return { v: stack.stats() };
      case "open": return { v: so.open };
      case "closeAll": await so.closeAll(); return { v: 0 };
      case "attach": case "detach": return { v: 0 };
      // Interfaces and links.
      case "addInterface": return { v: await this.addInterface(a[0] as InterfaceDescription) };
      case "setLink": stack.setLink(this.iface(a[0]), !!a[1]); return { v: 0 };
      case "addAddress6": return { v: stack.addAddress6(this.iface(a[0]), a[1], a[2] ?? {}) };
      case "removeAddress6": stack.removeAddress6(this.iface(a[0]), a[1]); return { v: 0 };
      case "setSlaac": stack.setSlaac(this.iface(a[0]), !!a[1]); return { v: 0 };
      case "joinGroup6": stack.joinGroup6(a[0], a[1] ?? 0); return { v: 0 };
      case "leaveGroup6": stack.leaveGroup6(a[0], a[1] ?? 0); return { v: 0 };
      case "removeInterface": {
        const i = this.iface(a[0]);
        this.links.delete(i.index);
        await stack.removeInterface(i);
        return { v: 0 };
      }
      case "linkControl": {
        const l = this.links.get(a[0]);
        if (!(l instanceof WebSocketLink)) throw new RangeError(`interface ${String(a[0])} has no relay control channel`);
        return { v: l.sendControl(a[1]) };
      }
      case "linkCounters": {
        const c: Record<number, unknown> = {};
        for (const [i, l] of this.links) c[i] = { ...((l as { counters?: object }).counters ?? {}) };
        return { v: c };
      }
      case "ping": return { v: await ping(stack, String(a[0]), a[1] ?? 4, a[2] ?? 200, a[3] ?? 1000) };
      case "captureLog": return { v: this.recorder?.after(Number(a[0] ?? 0)) ?? [] };
      case "capturePcap": return { v: this.recorder?.frames ?? 0, bin: (this.recorder?.pcap ?? new PcapWriter()).toUint8Array() };
      case "shutdownWorker": {
        // Abort every connection (SO_LINGER {1, 0}: a RST, so peers don't wait
        // on a stack that is gone), close every descriptor, report the pools,
        // then release the stack.
        this.closing = true;
        for (const byName of this.services.values()) for (const svc of byName.values()) await svc.close();
        this.services.clear();
        for (const fd of so.open) {
          try {
            if (so.getsockopt(fd, SOL_SOCKET, SO_TYPE) === SOCK_STREAM) so.setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 0 });
          } catch {
            // closed meanwhile
          }
        }
        await so.closeAll();
        // Let the RSTs and the core's own cleanup run before measuring.
        stack.drainNow();
        await new Promise((r) => setTimeout(r, 0));
        const usage = stack.usage();
        await stack.close();
        return { v: usage };
      }
    }
    if (PASS.has(m)) return { v: await (so as any)[m](...a) };
    throw new TypeError(`unknown call ${m}`);
  }

  /** Ends the worker: blocked clients see CLOSED, ports close, the thread's loop empties. */
  private exit(): void {
    this.closed = true;
    for (const sab of this.mailboxes) {
      const i32 = new Int32Array(sab, 0, 4);
      Atomics.store(i32, MB_STATE, ST_CLOSED);
      Atomics.notify(i32, MB_STATE);
    }
    this.mailboxes.clear();
    for (const p of this.ports) p.close?.();
    this.parent.close?.();
  }
}

/** Atomics.waitAsync (ES2024; Node 16+, Chromium 87+), typed here since the project's lib is ES2022. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

async function makeLink(d: LinkDescription): Promise<LinkDriver> {
  if (d.type === "port") return new PortLink(d.port, d.mtu);
  if (d.type === "ring") return new RingLink(d.sab, d.side, d.mtu, d.doorbell);
  if (d.type === "websocket") {
    let WS = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!WS) {
      // Node 20 has no global WebSocket: the `ws` package (hidden from bundlers; browsers have one).
      const wsName = "ws";
      WS = ((await import(/* @vite-ignore */ wsName)) as { WebSocket: WebSocketCtor }).WebSocket;
    }
    return new WebSocketLink(d.url, { WebSocket: WS, token: d.token, mtu: d.mtu, batch: d.batch, reconnect: true });
  }
  if (d.type === "tap") {
    // Hidden from bundlers: the TAP driver is Node-only (a browser Worker never gets here).
    const tapFile = "../netif/tap.js";
    const tapModule = new URL(tapFile, import.meta.url).href;
    const { TapDevice } = (await import(/* @vite-ignore */ tapModule)) as typeof import("../netif/tap.js");
    return TapDevice.open(d.name, { netns: d.netns, offload: d.offload, ...(d.offload && d.mtu ? { mtu: d.mtu } : {}) });
  }
  throw new TypeError(`unknown link type ${(d as { type: string }).type}`);
}

/** Starts serving when loaded as a worker (and does nothing when merely imported). */
async function main(): Promise<void> {
  const g = globalThis as { process?: { versions?: { node?: string } }; self?: unknown };
  if (g.process?.versions?.node) {
    const wt = await nodeImport<typeof import("node:worker_threads")>("node:worker_threads");
    if (wt.isMainThread || !wt.parentPort || (wt.workerData as { asipCore?: boolean } | undefined)?.asipCore !== true) return;
    new CoreWorker(wt.parentPort as unknown as PortLike);
  } else if (g.self && typeof (g.self as { postMessage?: unknown }).postMessage === "function") {
    new CoreWorker(g.self as PortLike);
  }
}

void main();
