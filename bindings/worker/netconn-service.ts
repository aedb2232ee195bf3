/**
 * The core side of remote netconns ("nc" service): lwIP's netconn API
 * (bindings/api/netconn.ts) for a client on another thread, which drives it
 * with bindings/worker/remote-netconn.ts.
 *
 * What crosses the port, and why:
 *  - Handles. The CLIENT numbers its netconns (positive integers from its own
 *    counter) and sends the number with `new`, so it can send the next call
 *    (connect, bind) without waiting for an answer; calls on one port run in
 *    order here. A connection returned by accept() gets the handle the client
 *    sent with the accept call. Each client port has its own table, so
 *    handles of different clients never meet.
 *  - Bytes, as copies. Memory is not shared between threads, so a received
 *    netbuf cannot be a view of the core's pbuf as it is locally: recv copies
 *    the bytes out (`bin`, one contiguous block) and frees the netbuf at once
 *    (the TCP window reopens then, as when a local recv() hands a netbuf
 *    out); send/sendto/write carry their bytes in `bin`, which the core
 *    copies into its buffers.
 *  - Errors, as the local API throws them (AsipError with err/code,
 *    TypeError, RangeError); the port rebuilds them on the client. A failed
 *    `new` is remembered and thrown by every later call on that handle.
 *  - Callback events: a netconn created with `wantsEvents` posts
 *    `{ch:"nc", h, k:"cb", a:[evt, len]}` for each RCVPLUS/RCVMINUS/
 *    SENDPLUS/SENDMINUS/ERROR. Connections accepted from such a listener
 *    inherit the callback (as locally); their events before accept() are
 *    kept and posted once the client knows their handle (just before the
 *    accept answer).
 *
 * `close()` (the port's client is gone, the worker shuts down) aborts (RST)
 * the TCP connections and deletes every netconn of the client.
 *
 * @module
 */
import { AsipError, ERR } from "../abi.js";
import type { Stack } from "../stack.js";
import type { Netconn } from "../api/netconn.js";
import { registerService, type CoreService, type DispatchResult, type PostEvent } from "./services.js";

/** Events of an accepted connection kept until the client has its handle (a bound, like a mailbox). */
const EARLY_EVENTS_MAX = 256;

class NetconnService implements CoreService {
  /** The client's netconns by handle. */
  private readonly conns = new Map<number, Netconn>();
  /** Handle of each netconn (for callback events). */
  private readonly handles = new Map<Netconn, number>();
  /** `new` that failed in the core: later calls on the handle throw this. */
  private readonly failed = new Map<number, unknown>();
  /** Events of accepted connections the client has not taken yet. */
  private readonly early = new WeakMap<Netconn, [number, number][]>();
  private closed = false;

  constructor(private readonly stack: Stack, private readonly post: PostEvent) {}

  private readonly cb = (conn: Netconn, evt: number, len: number): void => {
    if (this.closed) return;
    const h = this.handles.get(conn);
    if (h === undefined) {
      let q = this.early.get(conn);
      if (!q) this.early.set(conn, (q = []));
      if (q.length < EARLY_EVENTS_MAX) q.push([evt, len]);
      return;
    }
    this.post({ ch: "nc", h, k: "cb", a: [evt, len] });
  };

  private conn(h: number, m: string): Netconn {
    const c = this.conns.get(h);
    if (c) return c;
    if (this.failed.has(h)) throw this.failed.get(h);
    // Unknown or deleted: what the local API throws for a deleted netconn.
    throw new AsipError(ERR.ERR_CLSD, `netconn.${m}`);
  }

  private adopt(h: number, c: Netconn): void {
    if (!Number.isInteger(h) || this.conns.has(h)) throw new TypeError(`nc: handle ${h} in use or invalid`);
    this.conns.set(h, c);
    this.handles.set(c, h);
    this.failed.delete(h);
  }

  private async remove(h: number): Promise<void> {
    const c = this.conns.get(h);
    this.failed.delete(h);
    if (!c) return;
    this.conns.delete(h);
    this.handles.delete(c);
    await c.delete();
  }

  async call(m: string, a: any[], bin?: Uint8Array): Promise<DispatchResult> {
    const h = a[0] as number;
    const api = this.stack.netconn;
    switch (m) {
      case "new": {
        // [h, type, proto, wantsEvents]
        try {
          const c = api.newWithProto(a[1], a[2] ?? 0, a[3] ? this.cb : undefined);
          this.adopt(h, c);
        } catch (e) {
          this.failed.set(h, e);
          throw e;
        }
        return {};
      }
      case "delete":
        await this.remove(h);
        return {};
      case "bind": this.conn(h, m).bind(a[1] ?? null, a[2] ?? 0); return {};
      case "bindIf": this.conn(h, m).bindIf(a[1]); return {};
      case "setIpv6Only": this.conn(h, m).setIpv6Only(!!a[1]); return {};
      case "getIpv6Only": return { v: this.conn(h, m).getIpv6Only() };
      case "connect": await this.conn(h, m).connect(a[1], a[2] ?? 0); return {};
      case "disconnect": this.conn(h, m).disconnect(); return {};
      case "listen": this.conn(h, m).listen(a[1] ?? 255); return {};
      case "accept": {
        // [h, handle for the new connection]
        const child = await this.conn(h, m).accept();
        if (this.closed) {
          await child.delete();
          throw new AsipError(ERR.ERR_CLSD, "netconn.accept");
        }
        try {
          this.adopt(a[1], child);
        } catch (e) {
          await child.delete();
          throw e;
        }
        const q = this.early.get(child);
        if (q) {
          this.early.delete(child);
          for (const [evt, len] of q) this.post({ ch: "nc", h: a[1], k: "cb", a: [evt, len] });
        }
        return { v: { local: child.getaddr(true), remote: child.getaddr(false) } };
      }
      case "recv": {
        const nb = await this.conn(h, m).recv();
        try {
          return { v: { fromaddr: nb.fromaddr, fromport: nb.fromport, toaddr: nb.toaddr }, bin: nb.copy() };
        } finally {
          nb.delete();
        }
      }
      case "send":
      case "sendto": {
        const c = this.conn(h, m);
        const nb = api.netbuf();
        nb.ref(bin ?? new Uint8Array(0));
        if (m === "send") await c.send(nb);
        else await c.sendto(nb, a[1], a[2] ?? 0);
        return {};
      }
      case "write": {
        // [h, flags]; a send timeout after a partial write answers with the count
        // and the error in `out` (the error's bytesWritten does not survive the port).
        try {
          return { v: await this.conn(h, m).write(bin ?? new Uint8Array(0), a[1]) };
        } catch (e) {
          const w = (e as { bytesWritten?: number }).bytesWritten;
          if (e instanceof AsipError && w !== undefined) return { v: w, out: { err: e.err, message: e.message } };
          throw e;
        }
      }
      case "shutdown": await this.conn(h, m).shutdown(!!a[1], !!a[2]); return {};
      case "close": await this.conn(h, m).close(); return {};
      case "abort": this.conn(h, m).abort(); return {};
      case "getaddr": return { v: this.conn(h, m).getaddr(!!a[1]) };
      case "err": return { v: this.conn(h, m).err() };
      case "setNonblocking": this.conn(h, m).setNonblocking(!!a[1]); return {};
      case "isNonblocking": return { v: this.conn(h, m).isNonblocking() };
      case "setRecvTimeout": this.conn(h, m).setRecvTimeout(a[1]); return {};
      case "getRecvTimeout": return { v: this.conn(h, m).getRecvTimeout() };
      case "setSendTimeout": this.conn(h, m).setSendTimeout(a[1]); return {};
      case "getSendTimeout": return { v: this.conn(h, m).getSendTimeout() };
      case "setRecvBufSize": this.conn(h, m).setRecvBufSize(a[1]); return {};
      case "getRecvBufSize": return { v: this.conn(h, m).getRecvBufSize() };
      case "setRecvmboxSize": {
        const n = a[1];
        if (!Number.isInteger(n) || n < 1) throw new RangeError(`netconn.setRecvmboxSize: ${n}`);
        this.conn(h, m).recvmboxSize = n;
        return {};
      }
      case "info": {
        const c = this.conn(h, m);
        return {
          v: {
            closed: c.closed, drops: c.drops, pendingErr: c.pendingErr, icmpError: c.icmpError,
            available: c.available, recvmboxSize: c.recvmboxSize, recvBufSize: c.recvBufSize,
          },
        };
      }
    }
    throw new TypeError(`unknown call nc.${m}`);
  }

  /** Fire-and-forget: "delete" (the client's RemoteNetconn was garbage-collected). */
  op(m: string, a: any[]): void {
    if (m === "delete") void this.remove(a[0]).catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.conns.values()];
    this.conns.clear();
    this.handles.clear();
    this.failed.clear();
    for (const c of all) {
      // A RST for live connections (the worker is going away), then delete.
      const phase = c.tcpPhase;
      if (!c.closed && (phase === "connected" || phase === "connecting")) {
        try {
          c.abort();
        } catch {
          // gone meanwhile
        }
      }
      await c.delete();
    }
  }
}

/** Builds the "nc" service of one client port. */
export function netconnService(stack: Stack, post: PostEvent): CoreService {
  return new NetconnService(stack, post);
}

registerService("nc", netconnService);
