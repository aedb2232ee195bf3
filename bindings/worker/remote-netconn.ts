/**
 * lwIP's netconn API for a thread that is not the core's: the netconns live
 * in the core worker (bindings/worker/netconn-service.ts, service "nc") and
 * this is their handle. Same names and arguments as bindings/api/netconn.ts;
 * every method of a {@link RemoteNetconn} returns a Promise (the calls cross
 * a MessagePort), and errors are the local API's: AsipError with the same
 * `code`/`err` ("ERR_RST", "ERR_CLSD", "ERR_TIMEOUT", …), TypeError and
 * RangeError for bad arguments.
 *
 * ```ts
 * const nc = worker.netconn;               // a RemoteNetconnApi
 * const c = nc.new(NETCONN_TCP);           // no round trip: usable at once
 * await c.connect("192.0.2.2", 7);
 * await c.write(bytes);
 * const buf = await c.recv();              // a RemoteNetbuf: a copy of the bytes
 * ```
 *
 * What crosses the port, and why:
 *  - Handles: this side numbers its netconns (a counter) and sends the
 *    number with `new`, so `new` needs no answer before the next call; the
 *    port keeps calls in order. accept() sends the number its connection
 *    will get. A `new` that fails in the core (out of pcbs) fails every
 *    later call on that netconn with the same error.
 *  - Bytes, as copies: memory is not shared between threads, so a
 *    {@link RemoteNetbuf} holds a copy of the received bytes (one contiguous
 *    block: next() is always -1) instead of zero-copy views of the core's
 *    pbuf, and is released by the garbage collector like any array
 *    (delete() only drops the reference). Sent bytes are copied too (the
 *    caller keeps its buffer). The core frees its netbuf as soon as recv
 *    answers, so the TCP window reopens when recv() returns, as locally.
 *  - Callback events: `new(type, callback)` asks the core for them; they
 *    arrive as `{ch:"nc", h, k:"cb", a:[evt, len]}` and call
 *    `callback(conn, evt, len)` here, after the core's state has changed
 *    (a callback cannot run code in the core in between).
 *
 * No node: imports: works in browsers.
 *
 * @module
 */
import { AsipError, ERR } from "../abi.js";
import {
  NETCONN_TCP, NETCONN_UDP, NETCONN_UDPLITE, NETCONN_UDPNOCHKSUM, NETCONN_RAW, NETCONN_COPY, NETCONN_TYPE_IPV6,
  type NetconnIcmpError,
} from "../api/netconn.js";
import type { EventMessage } from "./protocol.js";

export {
  NETCONN_INVALID, NETCONN_TCP, NETCONN_UDP, NETCONN_UDPLITE, NETCONN_UDPNOCHKSUM, NETCONN_RAW,
  NETCONN_NOFLAG, NETCONN_NOCOPY, NETCONN_COPY, NETCONN_MORE, NETCONN_DONTBLOCK,
  NETCONN_EVT_RCVPLUS, NETCONN_EVT_RCVMINUS, NETCONN_EVT_SENDPLUS, NETCONN_EVT_SENDMINUS, NETCONN_EVT_ERROR,
  DEFAULT_RECVMBOX_SIZE,
} from "../api/netconn.js";
export type { NetconnIcmpError } from "../api/netconn.js";

/** The largest UDP payload (raw.ts UDP_MAX_PAYLOAD), for netbuf.alloc's check. */
const UDP_MAX_PAYLOAD = 65507;

/** What RemoteNetconnApi needs of the port: RpcPort (client.ts) has it. */
export interface NetconnRpc {
  call(m: string, a: unknown[], bin?: Uint8Array): Promise<{ v: any; out?: any; bin?: Uint8Array }>;
  op(m: string, a: unknown[], bin?: Uint8Array): void;
  on(ch: string, f: (ev: EventMessage) => void): void;
}

export type RemoteNetconnCallback = (conn: RemoteNetconn, evt: number, len: number) => void;

/** State of a netconn as the core reports it (local Netconn's properties). */
export interface RemoteNetconnInfo {
  closed: boolean;
  drops: number;
  pendingErr: number;
  icmpError: NetconnIcmpError | undefined;
  available: { bytes: number; count: number };
  recvmboxSize: number;
  recvBufSize: number;
}

/** Bytes as they should cross the port: a view of part of a larger buffer is cut out (a clone copies the whole buffer). */
function wire(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

// ---- netbuf --------------------------------------------------------------------------------

/**
 * lwIP's netbuf on this side of the port: plain bytes (a copy of what the
 * core received, or what `alloc`/`ref`/`take` put in) and the addresses.
 */
export class RemoteNetbuf {
  private bytes: Uint8Array | undefined;
  /** Source address and port of a received netbuf. */
  fromaddr = "0.0.0.0";
  fromport = 0;
  /** Destination address of a received datagram. */
  toaddr = "0.0.0.0";

  /** @internal A received netbuf. */
  static received(bytes: Uint8Array, meta: { fromaddr: string; fromport: number; toaddr: string }): RemoteNetbuf {
    const b = new RemoteNetbuf();
    b.bytes = bytes;
    b.fromaddr = meta.fromaddr;
    b.fromport = meta.fromport;
    b.toaddr = meta.toaddr;
    return b;
  }

  /** netbuf_alloc: `size` zeroed bytes; returns a writable view of them. */
  alloc(size: number): Uint8Array {
    if (!Number.isInteger(size) || size < 0 || size > UDP_MAX_PAYLOAD) throw new RangeError(`netbuf.alloc: size out of range: ${size}`);
    this.bytes = new Uint8Array(size);
    return this.bytes;
  }

  /** netbuf_ref: the netbuf refers to `data` (copied when sent). */
  ref(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError("netbuf.ref: data must be a Uint8Array");
    this.bytes = data;
  }

  /** netbuf_take: copies `data` into the netbuf (allocating its size when empty; ERR_MEM when it does not fit). */
  take(data: Uint8Array): void {
    if (!this.bytes) {
      this.bytes = data.slice();
      return;
    }
    if (data.length > this.bytes.length) throw new AsipError(ERR.ERR_MEM, "netbuf.take");
    this.bytes.set(data);
  }

  /** netbuf_len */
  get len(): number {
    return this.bytes?.length ?? 0;
  }

  /** netbuf_data: the bytes (one segment). */
  data(): Uint8Array {
    return this.bytes ?? new Uint8Array(0);
  }

  /** netbuf_next: always -1 (the copy is one segment). */
  next(): number {
    return -1;
  }

  /** netbuf_first */
  first(): void {}

  /** netbuf_copy / netbuf_copy_partial: the bytes as a new Uint8Array (or into `dst`, returning the count). */
  copy(): Uint8Array;
  copy(dst: Uint8Array, offset?: number): number;
  copy(dst?: Uint8Array, offset = 0): Uint8Array | number {
    const src = this.data();
    if (!dst) return src.slice();
    const part = src.subarray(offset, offset + dst.length);
    dst.set(part);
    return part.length;
  }

  /** Drops the bytes, keeping the netbuf. */
  free(): void {
    this.bytes = undefined;
  }

  /** netbuf_delete */
  delete(): void {
    this.free();
  }
}

// ---- netconn -------------------------------------------------------------------------------

/** Deletes, in the core, a netconn that was garbage-collected here without delete(). */
const finalizer = new FinalizationRegistry<{ rpc: NetconnRpc; h: number }>(({ rpc, h }) => {
  try {
    rpc.op("nc.delete", [h]);
  } catch {
    // port gone
  }
});

/** A netconn living in the core worker. Every method returns a Promise. */
export class RemoteNetconn {
  private isClosed = false;

  /** @internal */
  constructor(
    private readonly api: RemoteNetconnApi,
    /** The handle the core knows this netconn by. */
    readonly handle: number,
    /** NETCONN_TCP, NETCONN_UDP, … */
    readonly type: number,
    /** The callback (lwIP netconn_new_with_callback). */
    readonly callback: RemoteNetconnCallback | undefined,
  ) {}

  private c(m: string, a: unknown[] = [], bin?: Uint8Array) {
    return this.api.rpc.call(`nc.${m}`, [this.handle, ...a], bin);
  }
  private async v<T = void>(m: string, a: unknown[] = []): Promise<T> {
    return (await this.c(m, a)).v as T;
  }

  /** netconn_bind: `addr` null = any ("::" on an IPv6 netconn, else "0.0.0.0"); `port` 0 = ephemeral. */
  bind(addr: string | null, port = 0): Promise<void> { return this.v("bind", [addr, port]); }
  /** netconn_set_ipv6only (IPv6 netconns, before bind). */
  setIpv6Only(on: boolean): Promise<void> { return this.v("setIpv6Only", [!!on]); }
  /** netconn_get_ipv6only */
  getIpv6Only(): Promise<boolean> { return this.v("getIpv6Only"); }
  /** netconn_bind_if */
  bindIf(index: number): Promise<void> { return this.v("bindIf", [index]); }
  /** netconn_connect (TCP: resolves when connected; nonblocking: ERR_INPROGRESS, then SENDPLUS or ERROR). */
  connect(addr: string, port = 0): Promise<void> { return this.v("connect", [addr, port]); }
  /** netconn_disconnect (UDP/RAW) */
  disconnect(): Promise<void> { return this.v("disconnect"); }
  /** netconn_listen / netconn_listen_with_backlog */
  listen(backlog = 255): Promise<void> { return this.v("listen", [backlog]); }

  /** netconn_accept: the next connection (inherits this netconn's callback). */
  async accept(): Promise<RemoteNetconn> {
    const api = this.api;
    const child = new RemoteNetconn(api, api.nextHandle(), NETCONN_TCP, this.callback);
    // Known before the answer: its early events come just before it.
    api.track(child);
    try {
      await this.c("accept", [child.handle]);
    } catch (e) {
      api.untrack(child);
      throw e;
    }
    return child;
  }

  /** netconn_recv: the next netbuf (TCP: ERR_CLSD after the peer's FIN; ERR_RST after a reset). */
  async recv(): Promise<RemoteNetbuf> {
    const r = await this.c("recv");
    return RemoteNetbuf.received(r.bin ?? new Uint8Array(0), r.v);
  }

  /** netconn_send: to the connected remote. */
  async send(buf: RemoteNetbuf | Uint8Array): Promise<void> {
    await this.c("send", [], wire(buf instanceof RemoteNetbuf ? buf.data() : buf));
  }

  /** netconn_sendto */
  async sendto(buf: RemoteNetbuf | Uint8Array, addr: string, port = 0): Promise<void> {
    await this.c("sendto", [addr, port], wire(buf instanceof RemoteNetbuf ? buf.data() : buf));
  }

  /**
   * netconn_write_partly: queues `data` on a TCP connection; the bytes
   * written. A send timeout after a partial write throws ERR_TIMEOUT with
   * `bytesWritten`, as locally.
   */
  async write(data: Uint8Array, flags = NETCONN_COPY): Promise<number> {
    if (!(data instanceof Uint8Array)) throw new TypeError("netconn.write: data must be a Uint8Array");
    const r = await this.c("write", [flags], wire(data));
    if (r.out?.err !== undefined) {
      const e = new AsipError(r.out.err, "") as AsipError & { bytesWritten?: number };
      e.message = r.out.message;
      e.bytesWritten = r.v;
      throw e;
    }
    return r.v;
  }

  /** netconn_shutdown */
  shutdown(rx: boolean, tx: boolean): Promise<void> { return this.v("shutdown", [rx, tx]); }
  /** TCP: aborts with a RST. */
  async abort(): Promise<void> {
    await this.v("abort");
    this.isClosed = true;
  }
  /** netconn_close (a second close: ERR_CLSD). */
  async close(): Promise<void> {
    await this.v("close");
    this.isClosed = true;
  }
  /** netconn_delete: closes if open and frees it in the core. Idempotent. */
  async delete(): Promise<void> {
    this.isClosed = true;
    this.api.untrack(this);
    finalizer.unregister(this);
    await this.v("delete");
  }
  /** True once closed or deleted through this handle. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** netconn_getaddr: local (`local` true) or remote address and port. */
  getaddr(local: boolean): Promise<{ addr: string; port: number }> { return this.v("getaddr", [local]); }
  /** netconn_addr */
  addr(): Promise<{ addr: string; port: number }> { return this.getaddr(true); }
  /** netconn_peer */
  peer(): Promise<{ addr: string; port: number }> { return this.getaddr(false); }
  /** netconn_err: the pending error, cleared. */
  err(): Promise<number> { return this.v("err"); }

  setNonblocking(on: boolean): Promise<void> { return this.v("setNonblocking", [on]); }
  isNonblocking(): Promise<boolean> { return this.v("isNonblocking"); }
  /** ms; 0 = forever */
  setRecvTimeout(ms: number): Promise<void> { return this.v("setRecvTimeout", [ms]); }
  getRecvTimeout(): Promise<number> { return this.v("getRecvTimeout"); }
  /** ms; 0 = forever */
  setSendTimeout(ms: number): Promise<void> { return this.v("setSendTimeout", [ms]); }
  getSendTimeout(): Promise<number> { return this.v("getSendTimeout"); }
  setRecvBufSize(bytes: number): Promise<void> { return this.v("setRecvBufSize", [bytes]); }
  getRecvBufSize(): Promise<number> { return this.v("getRecvBufSize"); }
  /** The local `recvmboxSize` property: datagrams the receive mailbox may hold. */
  setRecvmboxSize(n: number): Promise<void> { return this.v("setRecvmboxSize", [n]); }
  /** What the local Netconn exposes as properties: drops, pendingErr, icmpError, available, … */
  info(): Promise<RemoteNetconnInfo> { return this.v("info"); }
}

/** The netconn API of a core worker, from another thread (`worker.netconn`). One per port. */
export class RemoteNetconnApi {
  private next = 1;
  /** Netconns with a callback, by handle (events are routed to them). */
  private readonly withCallback = new Map<number, RemoteNetconn>();

  constructor(/** @internal */ readonly rpc: NetconnRpc) {
    rpc.on("nc", (ev) => {
      if (ev.k !== "cb") return;
      const c = this.withCallback.get(ev.h);
      const [evt, len] = (ev.a ?? []) as [number, number];
      c?.callback?.(c, evt, len);
    });
  }

  /** netconn_new / netconn_new_with_callback */
  new(type: number, callback?: RemoteNetconnCallback): RemoteNetconn {
    return this.newWithProto(type, 0, callback);
  }

  /** netconn_new_with_proto_and_callback (NETCONN_RAW: the IP protocol). */
  newWithProto(type: number, proto: number, callback?: RemoteNetconnCallback): RemoteNetconn {
    // The checks the local constructor makes, here, so they throw at once as there.
    const known = [NETCONN_TCP, NETCONN_UDP, NETCONN_UDPLITE, NETCONN_UDPNOCHKSUM, NETCONN_RAW];
    const base = type & ~NETCONN_TYPE_IPV6;
    if (!known.includes(base)) throw new AsipError(ERR.ERR_VAL, base >= 0 && (base & 0xf0) === NETCONN_UDP ? "netconn.new" : `netconn.new: unknown type 0x${Number(type).toString(16)}`);
    if (base === NETCONN_RAW && (!Number.isInteger(proto) || proto < 0 || proto > 255)) throw new RangeError(`netconn.new: protocol out of range: ${proto}`);
    const c = new RemoteNetconn(this, this.nextHandle(), type, callback);
    this.track(c);
    // No wait for the answer: the next call on `c` follows it on the port; if
    // it failed, that call fails with the same error.
    this.rpc.call("nc.new", [c.handle, type, proto, !!callback]).catch(() => {});
    return c;
  }

  /** netbuf_new */
  netbuf(): RemoteNetbuf {
    return new RemoteNetbuf();
  }

  /** @internal */
  nextHandle(): number {
    return this.next++;
  }

  /** @internal Routes the events of `c` (if it has a callback) and deletes it in the core when collected. */
  track(c: RemoteNetconn): void {
    if (c.callback) this.withCallback.set(c.handle, c);
    finalizer.register(c, { rpc: this.rpc, h: c.handle }, c);
  }

  /** @internal */
  untrack(c: RemoteNetconn): void {
    this.withCallback.delete(c.handle);
    finalizer.unregister(c);
  }
}
