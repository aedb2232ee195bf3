/**
 * node:dgram over asip: `stack.dgram.createSocket('udp4')` returns a Socket
 * that behaves like Node's own (same methods, events, argument checks and
 * error codes), built on the raw API's UDP pcbs (bindings/api/raw.ts).
 *
 * ```ts
 * const s = stack.dgram.createSocket("udp4");
 * s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
 * s.bind(7);
 * ```
 *
 * `'udp6'` sockets need a core with IPv6 (`stack.ipv6`; EAFNOSUPPORT
 * otherwise). As on Linux, a `'udp6'` socket is dual-stack unless
 * `ipv6Only`: bound to `'::'` it receives IPv4 datagrams too, from
 * IPv4-mapped addresses (rinfo `{ address: '::ffff:192.0.2.1', family:
 * 'IPv6' }`), and sends to `::ffff:a.b.c.d` over IPv4 (bindings/api/family.ts).
 *
 * Differences from Node: no resolver (addresses are literals or
 * "localhost"); multicast membership (IGMP, MLD) is ENOSYS. Messages are
 * Buffers copied out of the core (the core's buffer is released at once).
 * A bound, ref'd socket keeps the process alive, like Node's.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { Buffer } from "node:buffer";
import { Stack } from "../stack.js";
import { isLocalAddress } from "./addr.js";
import { AsipError } from "../abi.js";
import { IpAddress } from "../ip-address.js";
import { rawApiFor, UDP_MAX_PAYLOAD, type UdpPcbLike } from "./raw.js";
import { familyName, socketAddress, coreAddress, pcbPlan, connectIpType, type FamilyName } from "./family.js";
import { errno, nodeError, nodeErrorFromErr, nodeCodeError, Refs, RefHandle, type NodeSystemError } from "./errno.js";

/** What `rinfo` of a 'message' event holds. */
export interface RemoteInfo {
  address: string;
  family: FamilyName;
  port: number;
  size: number;
}

/** Options of {@link DgramApi.createSocket} (Node's dgram.SocketOptions). */
export interface SocketOptions {
  type: "udp4" | "udp6";
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  lookup?: unknown;
  signal?: AbortSignal;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
  fd?: number;
}

type Msg = string | ArrayBufferView | ReadonlyArray<string | ArrayBufferView>;
type SendCb = (err: Error | null, bytes?: number) => void;

const enum State { UNBOUND, BOUND, CLOSED }

/** Parses an IPv4 literal or "localhost"; anything else is ENOTFOUND like a failed lookup. */
export function resolve4(host: string, syscall: string): string {
  if (host === "localhost") return "127.0.0.1";
  if (IpAddress.tryParse(host)?.family === 4) return host;
  const e = nodeError(errno.EINVAL, syscall, host) as NodeSystemError;
  (e as { code: string }).code = "ENOTFOUND";
  e.message = `getaddrinfo ENOTFOUND ${host}`;
  e.syscall = "getaddrinfo";
  throw e;
}

/**
 * The address text of `host` for a socket of `family`: "localhost" is
 * 127.0.0.1 or ::1; a family-6 socket takes IPv6 text only (IPv4 peers as
 * ::ffff:a.b.c.d; an IPv4 literal is EINVAL as in Node), a family-4 one
 * IPv4 only.
 */
export function resolveFor(family: 4 | 6, host: string, syscall: string): string {
  if (host === "localhost") return family === 4 ? "127.0.0.1" : "::1";
  const a = IpAddress.tryParse(host);
  if (a?.family === family) return host;
  if (a) throw nodeError(errno.EINVAL, syscall, host);
  return resolve4(host, syscall); // ENOTFOUND
}

/** True when `ip` is ANY, loopback, or an address of one of the stack's interfaces (else bind fails with EADDRNOTAVAIL). */
export { isLocalAddress };

function validatePort(port: unknown, name = "Port", allowZero = true): number {
  if ((typeof port !== "number" && typeof port !== "string") || (typeof port === "string" && port.trim() === "")) {
    throw nodeCodeError("ERR_SOCKET_BAD_PORT", `${name} should be >= 0 and < 65536. Received type ${typeof port} (${String(port)}).`, "RangeError");
  }
  const n = +port;
  if (!Number.isInteger(n) || n < 0 || n > 65535 || (!allowZero && n === 0)) {
    throw nodeCodeError("ERR_SOCKET_BAD_PORT", `${name} should be ${allowZero ? ">=" : ">"} 0 and < 65536. Received ${String(port)}.`, "RangeError");
  }
  return n;
}

function toBuffers(msg: Msg): Buffer[] {
  const one = (m: unknown): Buffer => {
    if (typeof m === "string") return Buffer.from(m);
    if (ArrayBuffer.isView(m)) return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    throw nodeCodeError("ERR_INVALID_ARG_TYPE",
      `The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${m === null ? "null" : typeof m}`, "TypeError");
  };
  if (Array.isArray(msg)) return msg.map(one);
  return [one(msg)];
}

/** A node:dgram Socket on an asip stack. */
export class Socket extends EventEmitter {
  readonly type: "udp4" | "udp6";
  private readonly fam: 4 | 6;
  private readonly v6only: boolean;
  /** IPv6 groups joined ("group%ifindex"), left at close. */
  private readonly groups = new Set<string>();
  private state = State.UNBOUND;
  private pcb: UdpPcbLike | undefined;
  private connectState: 0 | 1 | 2 = 0; // none, connecting, connected
  private remote: { address: string; port: number } | undefined;
  private reuseAddr: boolean;
  private recvBufSize: number;
  private sendBufSize: number;
  private readonly refh: RefHandle;
  private wantRef = true;
  private ttl = 64;
  /** IP_MULTICAST_TTL and IP_MULTICAST_LOOP as set (Linux defaults: 1, on). */
  private mcastTtl = 1;
  private mcastLoop = true;

  /** @internal */
  constructor(private readonly api: DgramApi, opts: SocketOptions) {
    super();
    this.type = opts.type;
    this.fam = opts.type === "udp6" ? 6 : 4;
    this.v6only = !!opts.ipv6Only;
    this.reuseAddr = !!opts.reuseAddr;
    this.recvBufSize = opts.recvBufferSize ?? 212992;
    this.sendBufSize = opts.sendBufferSize ?? 212992;
    this.refh = new RefHandle(api.refs);
    if (opts.signal) {
      const sig = opts.signal;
      if (sig.aborted) queueMicrotask(() => this.close());
      else sig.addEventListener("abort", () => { if (this.state !== State.CLOSED) this.close(); }, { once: true });
    }
  }

  private healthCheck(): void {
    if (this.state === State.CLOSED) throw nodeCodeError("ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running");
  }

  private boundPcb(syscall: string): UdpPcbLike {
    this.healthCheck();
    if (!this.pcb) throw nodeError(errno.EBADF, syscall);
    return this.pcb;
  }

  /** Binds (Node overloads: `bind(port?, address?, cb?)`, `bind(options, cb?)`). Emits 'listening'. */
  bind(port?: number | BindOptions | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.healthCheck();
    let p: number | undefined, addr: string | undefined, cb: (() => void) | undefined;
    if (typeof port === "function") { cb = port; }
    else if (port !== null && typeof port === "object") {
      p = port.port; addr = port.address;
      cb = typeof address === "function" ? address : callback;
    } else {
      p = port;
      if (typeof address === "function") cb = address; else { addr = address; cb = callback; }
    }
    if (this.state !== State.UNBOUND) throw nodeCodeError("ERR_SOCKET_ALREADY_BOUND", "Socket is already bound");
    const portNum = p === undefined ? 0 : validatePort(p);
    if (cb) this.once("listening", cb);
    let ip: string;
    try {
      ip = resolveFor(this.fam, addr ?? (this.fam === 6 ? "::" : "0.0.0.0"), "bind");
    } catch (e) {
      queueMicrotask(() => this.emit("error", e));
      return this;
    }
    const err = this.doBind(ip, portNum);
    if (err) queueMicrotask(() => this.emit("error", err));
    else this.whenBound(ip, portNum);
    return this;
  }

  /** Synchronous bind; returns the error to report, if any. */
  private doBind(ip: string, port: number): NodeSystemError | undefined {
    const plan = pcbPlan(this.fam, IpAddress.parse(ip), this.v6only);
    if (!plan) return nodeError(errno.EINVAL, "bind", ip, port);
    if (!isLocalAddress(this.api.stack, ip)) return nodeError(errno.EADDRNOTAVAIL, "bind", ip, port);
    let pcb: UdpPcbLike;
    try {
      pcb = this.api.raw.udp.new({ ipType: plan.ipType });
    } catch (e) {
      return nodeErrorFromErr((e as AsipError).err ?? -1, "bind", ip, port);
    }
    try {
      if (this.reuseAddr) pcb.reuseaddr = true;
      pcb.bind(plan.ip, port);
    } catch (e) {
      pcb.remove();
      return nodeErrorFromErr((e as AsipError).err ?? -6, "bind", ip, port);
    }
    pcb.recv((data, from, fromPort) => {
      if (this.listenerCount("message") === 0) return;
      const address = socketAddress(from, this.fam);
      const rinfo: RemoteInfo = { address, family: familyName(address), port: fromPort, size: data.length };
      this.emit("message", Buffer.from(data), rinfo);
    });
    pcb.err((e) => {
      // Linux reports ICMP errors only on connected sockets (ip(7)
      // IP_RECVERR off): Node then emits 'error' from recvmsg.
      if (this.connectState !== 2 || !this.remote) return;
      if (socketAddress(e.addr, this.fam) !== this.remote.address || e.port !== this.remote.port) return;
      // ICMP destination unreachable (3) protocol/port, or ICMPv6's (1) port unreachable (4): refused.
      const v6 = e.addr.includes(":");
      const unreach = v6 ? e.type === 1 : e.type === 3;
      const refused = unreach && (v6 ? e.code === 4 : e.code === 2 || e.code === 3);
      const code = refused ? errno.ECONNREFUSED : unreach ? errno.EHOSTUNREACH : errno.EIO;
      this.emit("error", nodeError(code, "recvmsg"));
    });
    this.pcb = pcb;
    this.state = State.BOUND;
    this.refh.hold(this.wantRef);
    return undefined;
  }

  /**
   * 'listening' once bound. A core in a Worker binds in its thread: its
   * answer (the port, or EADDRINUSE) comes back first.
   */
  private whenBound(ip: string, port: number): void {
    const pcb = this.pcb!;
    const ready = pcb.ready;
    if (!ready) {
      queueMicrotask(() => { if (this.state === State.BOUND) this.emit("listening"); });
      return;
    }
    ready.then(
      () => { if (this.state === State.BOUND && this.pcb === pcb) this.emit("listening"); },
      (e) => {
        if (this.pcb !== pcb) return;
        this.pcb = undefined;
        this.state = State.UNBOUND;
        this.refh.hold(false);
        this.emit("error", nodeErrorFromErr((e as AsipError).err ?? -6, "bind", ip, port));
      });
  }

  /** Binds to ANY:0 if not bound yet (Node does so for send/connect). */
  private implicitBind(): NodeSystemError | undefined {
    if (this.state !== State.UNBOUND) return undefined;
    const any = this.fam === 6 ? "::" : "0.0.0.0";
    const err = this.doBind(any, 0);
    if (!err) this.whenBound(any, 0);
    return err;
  }

  /** Associates the socket with a remote address (Node 12+). Emits 'connect'. */
  connect(port: number, address?: string | ((err?: Error) => void), callback?: (err?: Error) => void): void {
    const portNum = validatePort(port, "Port", false);
    let addr: string | undefined;
    if (typeof address === "function") { callback = address; addr = undefined; } else addr = address;
    this.healthCheck();
    if (this.connectState !== 0) throw nodeCodeError("ERR_SOCKET_DGRAM_IS_CONNECTED", "Already connected");
    this.connectState = 1;
    if (callback) this.once("connect", callback);
    const fail = (e: Error) => {
      this.connectState = 0;
      queueMicrotask(() => {
        if (callback) { this.removeListener("connect", callback); callback(e); }
        else this.emit("error", e);
      });
    };
    let ip: string;
    try {
      ip = resolveFor(this.fam, addr ?? (this.fam === 6 ? "::1" : "127.0.0.1"), "connect");
    } catch (e) {
      return fail(e as Error);
    }
    const dst = IpAddress.parse(ip);
    if (connectIpType(this.fam, dst, this.v6only) === undefined) return fail(nodeError(errno.ENETUNREACH, "connect", ip, portNum));
    const be = this.implicitBind();
    if (be) return fail(be);
    try {
      this.pcb!.connect(coreAddress(dst).toString(), portNum);
    } catch (e) {
      return fail(nodeErrorFromErr((e as AsipError).err ?? -6, "connect", ip, portNum));
    }
    // getpeername's text: RFC 5952 form.
    this.remote = { address: dst.toString(), port: portNum };
    this.connectState = 2;
    queueMicrotask(() => { if (this.connectState === 2) this.emit("connect"); });
  }

  /** Dissolves the association made by connect(). */
  disconnect(): void {
    this.healthCheck();
    if (this.connectState !== 2) throw nodeCodeError("ERR_SOCKET_DGRAM_NOT_CONNECTED", "Not connected");
    this.pcb!.disconnect();
    this.connectState = 0;
    this.remote = undefined;
  }

  /**
   * Sends a datagram. Node's overloads:
   * `send(msg, [offset, length,] port?, address?, cb?)`; msg may be an array
   * of buffers/strings (gathered into one datagram, no offset/length then).
   */
  send(msg: Msg, offset?: unknown, length?: unknown, port?: unknown, address?: unknown, callback?: unknown): void {
    // Node's own argument shuffle (lib/dgram.js Socket.prototype.send).
    let slice: [number, number] | undefined;
    let cb: SendCb | undefined;
    const connected = this.connectState === 2;
    if (!connected) {
      if (address || (port && typeof port !== "function")) {
        slice = [offset as number, length as number];
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === "number") {
        slice = [offset as number, length];
        if (typeof port === "function") {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw nodeCodeError("ERR_SOCKET_DGRAM_IS_CONNECTED", "Already connected");
    }
    if (typeof address === "function") {
      callback = address;
      address = undefined;
    } else if (address !== undefined && address !== null && typeof address !== "string") {
      throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "address" argument must be of type string. Received ${typeof address}`, "TypeError");
    }
    if (typeof callback === "function") cb = callback as SendCb;
    const offsetN = slice?.[0], lengthN = slice?.[1];
    this.healthCheck();
    let bufs = toBuffers(msg);
    if (slice !== undefined && !Array.isArray(msg)) {
      // Node's sliceBuffer: offsets coerced with >>> 0, then bounds-checked.
      const b = bufs[0];
      const offset = (offsetN as number) >>> 0, length = (lengthN as number) >>> 0;
      if (offset > b.length) throw nodeCodeError("ERR_BUFFER_OUT_OF_BOUNDS", '"offset" is outside of buffer bounds', "RangeError");
      if (offset + length > b.length) throw nodeCodeError("ERR_BUFFER_OUT_OF_BOUNDS", '"length" is outside of buffer bounds', "RangeError");
      bufs = [b.subarray(offset, offset + length)];
    }
    let dstIp: string, dstPort: number;
    if (this.connectState === 2) {
      dstIp = this.remote!.address;
      dstPort = this.remote!.port;
    } else {
      dstPort = validatePort(port, "Port", false);
      if (address !== undefined && address !== null && typeof address !== "string") {
        throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "address" argument must be of type string. Received ${typeof address}`, "TypeError");
      }
      try {
        dstIp = resolveFor(this.fam, (address as string | undefined) || (this.fam === 6 ? "::1" : "127.0.0.1"), "send");
      } catch (e) {
        return this.sendDone(cb, e as Error);
      }
    }
    if (this.fam === 6) {
      // A family-6 socket reaches IPv4 peers through their mapped addresses (not when IPv6-only: ENETUNREACH).
      const d = IpAddress.parse(dstIp);
      if (connectIpType(6, d, this.v6only) === undefined) return this.sendDone(cb, nodeError(errno.ENETUNREACH, "send", dstIp, dstPort));
      dstIp = coreAddress(d).toString();
    }
    const be = this.implicitBind();
    if (be) return this.sendDone(cb, be);
    const data = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs);
    if (data.length > UDP_MAX_PAYLOAD) return this.sendDone(cb, nodeError(errno.EMSGSIZE, "send", dstIp, dstPort));
    try {
      this.pcb!.sendto(data, dstIp, dstPort);
    } catch (e) {
      const err = e instanceof AsipError
        ? (e.code === "ERR_VAL" && /^(255\.255\.255\.255|.*\.255)$/.test(dstIp) ? nodeError(errno.EACCES, "send", dstIp, dstPort) : nodeErrorFromErr(e.err, "send", dstIp, dstPort))
        : (e as Error);
      return this.sendDone(cb, err);
    }
    this.sendDone(cb, null, data.length);
  }

  private sendDone(cb: SendCb | undefined, err: Error | null, bytes = 0): void {
    queueMicrotask(() => {
      if (cb) cb(err, err ? undefined : bytes);
      else if (err) this.emit("error", err);
    });
  }

  /** Closes the socket; 'close' follows. A second close throws ERR_SOCKET_DGRAM_NOT_RUNNING. */
  close(callback?: () => void): this {
    this.healthCheck();
    if (typeof callback === "function") this.once("close", callback);
    this.state = State.CLOSED;
    this.connectState = 0;
    this.refh.hold(false);
    // Linux drops a socket's memberships when it closes.
    const st = this.api.stack as unknown as { leaveGroup6?: (g: string, i: number) => unknown };
    for (const key of this.groups) {
      const [g, i] = key.split("%");
      try {
        const r = st.leaveGroup6?.(g, Number(i));
        if (r instanceof Promise) r.catch(() => {});
      } catch { /* stack gone */ }
    }
    this.groups.clear();
    if (this.pcb) {
      const pcb = this.pcb;
      this.pcb = undefined;
      try { pcb.remove(); } catch { /* stack already gone */ }
    }
    queueMicrotask(() => this.emit("close"));
    return this;
  }

  [Symbol.asyncDispose](): Promise<void> {
    if (this.state === State.CLOSED) return Promise.resolve();
    return new Promise((resolve) => this.close(() => resolve()));
  }

  /** The bound address; EBADF when not bound. */
  address(): { address: string; family: FamilyName; port: number } {
    const pcb = this.boundPcb("getsockname");
    const address = socketAddress(pcb.localAddress, this.fam);
    return { address, family: familyName(address), port: pcb.localPort };
  }

  /** The connected remote; ERR_SOCKET_DGRAM_NOT_CONNECTED otherwise. */
  remoteAddress(): { address: string; family: FamilyName; port: number } {
    this.healthCheck();
    if (this.connectState !== 2) throw nodeCodeError("ERR_SOCKET_DGRAM_NOT_CONNECTED", "Not connected");
    return { address: this.remote!.address, family: familyName(this.remote!.address), port: this.remote!.port };
  }

  setBroadcast(flag: boolean): void {
    this.boundPcb("setBroadcast").broadcast = !!flag;
  }

  /** Unicast TTL 1..255; returns it. */
  setTTL(ttl: number): number {
    if (typeof ttl !== "number") throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "ttl" argument must be of type number. Received ${typeof ttl}`, "TypeError");
    const pcb = this.boundPcb("setTTL");
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw nodeError(errno.EINVAL, "setTTL");
    pcb.setTtlTos(ttl, 0);
    this.ttl = ttl;
    return ttl;
  }

  /** Multicast TTL 0..255; returns it. */
  setMulticastTTL(ttl: number): number {
    if (typeof ttl !== "number") throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "ttl" argument must be of type number. Received ${typeof ttl}`, "TypeError");
    const pcb = this.boundPcb("setMulticastTTL");
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw nodeError(errno.EINVAL, "setMulticastTTL");
    pcb.setMulticast(ttl, this.mcastLoop);
    this.mcastTtl = ttl;
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    const pcb = this.boundPcb("setMulticastLoopback");
    pcb.setMulticast(this.mcastTtl, !!flag);
    this.mcastLoop = !!flag;
    return flag;
  }

  setMulticastInterface(_iface: string): void {
    this.boundPcb("setMulticastInterface");
  }

  /**
   * Joins a multicast group: IPv6 groups on 'udp6' sockets through MLD
   * (RFC 3810) on a core with it; `iface` is Node's `'::%ZONE'` (or a zone
   * alone: an interface name or index), else every interface. Left on
   * dropMembership or close. IPv4 groups (IGMP) are ENOSYS: not in asip yet.
   */
  addMembership(group: string, iface?: string): void {
    this.membership(true, group, iface);
  }
  dropMembership(group: string, iface?: string): void {
    this.membership(false, group, iface);
  }

  private membership(join: boolean, group: string, iface: string | undefined): void {
    const syscall = join ? "addMembership" : "dropMembership";
    this.healthCheck();
    if (typeof group !== "string") throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "multicastAddress" argument must be of type string. Received ${typeof group}`, "TypeError");
    const g = IpAddress.tryParse(group);
    if (!g || !g.isMulticast()) throw nodeError(errno.EINVAL, syscall);
    if (g.family === 4) throw nodeError(errno.ENOSYS, syscall);
    if (this.fam !== 6) throw nodeError(errno.EINVAL, syscall);
    const st = this.api.stack as unknown as {
      joinGroup6?: (g: string, i: number) => unknown; leaveGroup6?: (g: string, i: number) => unknown; zoneIndex?: (z: string) => number;
    };
    // In-thread the core must have MLD (ip6_join_group); a Worker's core answers for itself.
    const inThread = !("remoteRaw" in st);
    const hasMld = typeof (this.api.stack as { ex?: Record<string, unknown> }).ex?.ip6_join_group === "function";
    if (!st.joinGroup6 || !st.leaveGroup6 || (inThread && !hasMld)) throw nodeError(errno.ENOSYS, syscall);
    let ifindex = 0;
    if (iface !== undefined) {
      const zone = iface.includes("%") ? iface.slice(iface.indexOf("%") + 1) : iface;
      try {
        ifindex = st.zoneIndex ? st.zoneIndex(zone) : Number(zone);
      } catch {
        throw nodeError(errno.EINVAL, syscall);
      }
    }
    const key = `${g.toString()}%${ifindex}`;
    if (join && this.groups.has(key)) throw nodeError(errno.EADDRINUSE, syscall);
    if (!join && !this.groups.has(key)) throw nodeError(errno.EADDRNOTAVAIL, syscall);
    const call = () => (join ? st.joinGroup6! : st.leaveGroup6!).call(st, g.toString(), ifindex);
    let r: unknown;
    try {
      r = call();
    } catch (e) {
      throw e instanceof AsipError ? nodeErrorFromErr(e.err, syscall) : e;
    }
    // Worker mode: the core answers later; a refusal is an 'error' event.
    if (r instanceof Promise) r.catch((e: unknown) => this.emit("error", e instanceof AsipError ? nodeErrorFromErr(e.err, syscall) : e));
    if (join) this.groups.add(key);
    else this.groups.delete(key);
  }
  addSourceSpecificMembership(): void {
    throw nodeError(errno.ENOSYS, "addSourceSpecificMembership");
  }
  dropSourceSpecificMembership(): void {
    throw nodeError(errno.ENOSYS, "dropSourceSpecificMembership");
  }

  private bufSize(which: "recv" | "send", size?: number): number {
    if (!this.pcb || this.state !== State.BOUND) {
      const e = nodeCodeError("ERR_SOCKET_BUFFER_SIZE", `Could not get or set buffer size: uv_${which}_buffer_size returned EBADF (bad file descriptor)`, "Error") as Error & { info?: unknown };
      e.info = { errno: errno.EBADF, code: "EBADF", message: "bad file descriptor", syscall: `uv_${which}_buffer_size` };
      throw e;
    }
    if (size === undefined) return which === "recv" ? this.recvBufSize : this.sendBufSize;
    if (!Number.isInteger(size) || size < 0) throw nodeCodeError("ERR_INVALID_ARG_TYPE", `The "size" argument must be a positive integer`, "TypeError");
    // Linux doubles what is asked (socket(7)); Node reports that.
    if (which === "recv") this.recvBufSize = size * 2; else this.sendBufSize = size * 2;
    return size * 2;
  }
  setRecvBufferSize(size: number): void { this.bufSize("recv", size); }
  setSendBufferSize(size: number): void { this.bufSize("send", size); }
  getRecvBufferSize(): number { return this.bufSize("recv"); }
  getSendBufferSize(): number { return this.bufSize("send"); }
  /** Sends complete synchronously into the core: nothing waits in a queue. */
  getSendQueueSize(): number { return 0; }
  getSendQueueCount(): number { return 0; }

  ref(): this {
    this.wantRef = true;
    if (this.state === State.BOUND) this.ref_();
    return this;
  }
  unref(): this {
    this.wantRef = false;
    this.refh.hold(false);
    return this;
  }
  private ref_(): void {
    this.refh.hold(true);
  }
}

/** `stack.dgram`: node:dgram's module surface for one stack. */
export class DgramApi {
  /** @internal */ readonly raw;
  /** @internal */ readonly refs = new Refs();
  /** The Socket class (for instanceof checks). */
  readonly Socket = Socket;

  constructor(readonly stack: Stack) {
    this.raw = rawApiFor(stack);
  }

  /** node:dgram createSocket: `'udp4'` or `{ type: 'udp4', reuseAddr, signal, … }`; `listener` is added for 'message'. */
  createSocket(type: "udp4" | "udp6" | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
    const opts: SocketOptions = typeof type === "string" ? { type } : { ...type };
    if (opts.type === "udp6" && !(this.stack as { ipv6?: boolean }).ipv6) {
      throw nodeError(errno.EAFNOSUPPORT, "socket");
    }
    if (opts.type !== "udp4" && opts.type !== "udp6") {
      throw nodeCodeError("ERR_SOCKET_BAD_TYPE", "Bad socket type specified. Valid types are: udp4, udp6", "TypeError");
    }
    const s = new Socket(this, opts);
    if (listener) s.on("message", listener);
    return s;
  }
}

const apis = new WeakMap<Stack, DgramApi>();

/** The stack's dgram API (what `stack.dgram` returns). */
export function dgramApi(stack: Stack): DgramApi {
  let d = apis.get(stack);
  if (!d) {
    d = new DgramApi(stack);
    apis.set(stack, d);
  }
  return d;
}

Stack.hostApis.set("dgram", dgramApi);
