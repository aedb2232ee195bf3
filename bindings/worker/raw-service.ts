/**
 * The core-side half of the raw API in Worker mode (service "raw"): the real
 * pcbs of bindings/api/raw.ts, owned on behalf of one client port and driven
 * by its messages. The client half is bindings/worker/remote-raw.ts, which
 * documents the semantics; this file only executes.
 *
 * What crosses the port, and why:
 * - Operations (`raw.<k>` ops) arrive in order and run at once against the
 *   real pcb. They have no answer: a failure ends the object (the client
 *   gets an `err` event with the err_t) and the next `raw.ready` call on it
 *   rethrows the error itself (bind and listen: EADDRINUSE and friends).
 * - Received bytes are copied out of the core (memory is not shared between
 *   threads) and transferred. The receive window is reopened only when the
 *   client says it consumed them (`trecved`), so a slow reader in another
 *   thread closes the window end to end, as it does in this thread.
 * - Writes: the client never has more unacknowledged bytes in flight than
 *   the send buffer it was told about (it mirrors tcp_sndbuf: the value at
 *   connect/accept, minus what it wrote, plus what `sent` events return).
 *   The core can still take fewer (the segment-count limit): the rest waits
 *   here and goes out on the next sent callback, bounded by that mirror.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError, ERR } from "../abi.js";
import type { TcpPcb, UdpPcb, IpType } from "../api/raw.js";
import { tcpListenExclusive } from "../api/raw.js";
import { registerService, type CoreService, type PostEvent, type DispatchResult } from "./services.js";

interface TcpEntry {
  kind: "tcp";
  /** The client's handle for it. */
  h: number;
  pcb: TcpPcb;
  /** Written by the client but not yet taken by the core. */
  q: Uint8Array[];
  /** Bytes sent to the client and not yet given back by `trecved`. */
  unread: number;
  /** FIN (shutdown tx) or close waiting for `q` to drain. */
  after: "shut" | "close" | undefined;
}

interface UdpEntry {
  kind: "udp";
  pcb: UdpPcb;
}

type Entry = TcpEntry | UdpEntry;

const asErr = (e: unknown, what: string): AsipError =>
  e instanceof AsipError ? e : new AsipError(ERR.ERR_ARG, `${what}: ${(e as Error)?.message ?? String(e)}`);

class RawService implements CoreService {
  private readonly objs = new Map<number, Entry>();
  /** Why an object ended in an operation, until `ready` reports it. */
  private readonly failed = new Map<number, AsipError>();
  /** Handles of connections accepted here: negative, so they never meet the client's positive ones. */
  private nextChild = -1;

  /**
   * Received bytes not posted yet, by handle. Segments that arrive in one
   * drain of the core's events go to the client as one message (a message
   * per segment costs more than the copy); any other event of that pcb
   * flushes them first, so the client sees everything in order.
   */
  private readonly rxq = new Map<number, Uint8Array[]>();
  private flushQueued = false;

  constructor(private readonly stack: Stack, private readonly out: PostEvent) {}

  private post(ev: Parameters<PostEvent>[0]): void {
    if (this.rxq.size !== 0 && this.rxq.has(ev.h)) this.flushRx(ev.h);
    this.out(ev);
  }

  private queueRx(h: number, d: Uint8Array): void {
    const q = this.rxq.get(h);
    if (q) q.push(d.slice());
    else this.rxq.set(h, [d.slice()]);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        for (const h of [...this.rxq.keys()]) this.flushRx(h);
      });
    }
  }

  private flushRx(h: number): void {
    const q = this.rxq.get(h);
    if (!q) return;
    this.rxq.delete(h);
    let bin = q[0];
    if (q.length > 1) {
      bin = new Uint8Array(q.reduce((n, c) => n + c.length, 0));
      let off = 0;
      for (const c of q) {
        bin.set(c, off);
        off += c.length;
      }
    }
    this.out({ ch: "raw", h, k: "rx", bin });
  }

  // ---- TCP ---------------------------------------------------------------------------------------

  private installTcp(h: number, pcb: TcpPcb): TcpEntry {
    const e: TcpEntry = { kind: "tcp", h, pcb, q: [], unread: 0, after: undefined };
    this.objs.set(h, e);
    pcb.autoRecved = false;
    pcb.recv((d) => {
      if (d === null) this.post({ ch: "raw", h, k: "fin" });
      else {
        e.unread += d.length;
        this.queueRx(h, d);
      }
    });
    pcb.sent((len) => {
      this.pump(e);
      this.post({ ch: "raw", h, k: "sent", a: [len] });
    });
    pcb.err((err) => {
      this.objs.delete(h);
      this.post({ ch: "raw", h, k: "err", a: [err.err] });
    });
    return e;
  }

  private addrs(pcb: TcpPcb): unknown[] {
    return [pcb.localAddress, pcb.localPort, pcb.remoteAddress, pcb.remotePort, pcb.sndbuf];
  }

  /** Moves queued bytes into the core; then the FIN or close that waited for them. */
  private pump(e: TcpEntry): void {
    const pcb = e.pcb;
    while (e.q.length && pcb.handle !== 0) {
      const n = pcb.write(e.q[0]);
      if (n < e.q[0].length) {
        e.q[0] = e.q[0].subarray(n);
        return;
      }
      e.q.shift();
    }
    if (e.q.length === 0 && e.after && pcb.handle !== 0) {
      const what = e.after;
      e.after = undefined;
      if (what === "close") {
        pcb.close();
        this.objs.delete(e.h);
      } else pcb.shutdown(false, true);
    }
  }

  private tcp(h: number): TcpEntry | undefined {
    const e = this.objs.get(h);
    return e?.kind === "tcp" ? e : undefined;
  }

  private udp(h: number): UdpEntry | undefined {
    const e = this.objs.get(h);
    return e?.kind === "udp" ? e : undefined;
  }

  /**
   * Runs `f` on object `h`. A throw ends the object (a TCP pcb is aborted, a
   * UDP pcb removed): the client gets an `err` event with the err_t, and the
   * next `ready` call on `h` rethrows the error itself.
   */
  private run(h: number, what: string, f: (e: Entry) => void): void {
    const e = this.objs.get(h);
    if (!e) return; // gone: its err event is already on the way
    try {
      f(e);
    } catch (x) {
      const err = asErr(x, what);
      this.remember(h, err);
      this.drop(h, e);
      this.post({ ch: "raw", h, k: "err", a: [err.err] });
    }
  }

  /** Keeps a failure for `ready` (a client that never asks leaves at most a bounded number behind). */
  private remember(h: number, err: AsipError): void {
    if (this.failed.size >= 1024) this.failed.delete(this.failed.keys().next().value!);
    this.failed.set(h, err);
  }

  private drop(h: number, e: Entry): void {
    this.objs.delete(h);
    try {
      if (e.kind === "udp") e.pcb.remove();
      else if (e.pcb.handle !== 0) e.pcb.abort();
    } catch { /* gone */ }
  }

  op(m: string, a: any[], bin?: Uint8Array): void {
    const h = a[0] as number;
    switch (m) {
      // TCP
      case "tnew": {
        let pcb: TcpPcb;
        try {
          pcb = this.stack.raw.tcp.new((a[1] ?? 4) as IpType);
        } catch (x) {
          const err = asErr(x, "tcp.new");
          this.remember(h, err);
          this.post({ ch: "raw", h, k: "err", a: [err.err] });
          return;
        }
        this.installTcp(h, pcb);
        return;
      }
      case "tbind": return this.run(h, "tcp.bind", (e) => void (e as TcpEntry).pcb.bind(a[1], a[2]));
      case "tlisten": return this.run(h, "tcp.listen", (e) => this.listen(h, e as TcpEntry, () => (e as TcpEntry).pcb.listen(a[1], a[2] ?? undefined)));
      case "tlistenx": return this.run(h, "tcp.listen", (e) => this.listen(h, e as TcpEntry, () => tcpListenExclusive((e as TcpEntry).pcb, a[1], a[2], a[3], a[4])));
      case "tconnect": return this.run(h, "tcp.connect", (e) => {
        const pcb = (e as TcpEntry).pcb;
        pcb.connect(a[1], a[2], (err) => {
          if (err) return; // failures arrive through err()
          this.post({ ch: "raw", h, k: "con", a: this.addrs(pcb) });
        });
      });
      case "twrite": {
        const e = this.tcp(h);
        if (!e || !bin) return;
        e.q.push(bin);
        try {
          this.pump(e);
        } catch (x) {
          // The pcb is unusable (e.g. a write after the peer reset and before its event): abort and say so.
          this.abortWith(h, e, asErr(x, "tcp.write"));
        }
        return;
      }
      case "trecved": return this.run(h, "tcp.recved", (e) => {
        const pcb = (e as TcpEntry).pcb;
        (e as TcpEntry).unread -= a[1];
        try {
          pcb.recved(a[1]);
        } catch (x) {
          if (!(x instanceof AsipError) || x.err !== ERR.ERR_ARG) throw x; // just dropped: harmless
        }
      });
      case "tshut": {
        const e = this.tcp(h);
        if (!e) return;
        const [, rx, tx] = a as [number, boolean, boolean];
        if (rx && tx) return this.op("tclose", [h]);
        if (tx && e.q.length) {
          e.after = "shut";
          if (rx) this.run(h, "tcp.shutdown", () => e.pcb.shutdown(true, false));
          return;
        }
        return this.run(h, "tcp.shutdown", () => e.pcb.shutdown(rx, tx));
      }
      case "tclose": {
        const e = this.tcp(h);
        if (!e) return;
        // Bytes still travelling to the client when it closed count as read
        // (as data being delivered does in raw.ts's close): no RST for them.
        if (e.unread > 0 && e.pcb.handle !== 0) {
          try { e.pcb.recved(e.unread); } catch { /* gone */ }
          e.unread = 0;
        }
        if (e.q.length) {
          // Like close() on a socket with queued data: the data goes first, then the FIN.
          e.after = "close";
          e.pcb.recv(undefined);
          e.pcb.err(() => this.objs.delete(h));
          return;
        }
        this.objs.delete(h);
        try {
          if (e.pcb.handle !== 0) e.pcb.close();
        } catch {
          try { e.pcb.abort(); } catch { /* gone */ }
        }
        return;
      }
      case "tabort": {
        const e = this.tcp(h);
        if (!e) return;
        this.objs.delete(h);
        try { if (e.pcb.handle !== 0) e.pcb.abort(); } catch { /* gone */ }
        return;
      }
      case "topt": return this.run(h, "tcp.option", (e) => {
        const pcb = (e as TcpEntry).pcb;
        const v = a[2];
        switch (a[1] as string) {
          case "nagle": pcb.nagle = !!v; break;
          case "reuseaddr": pcb.reuseaddr = !!v; break;
          case "autoRecved": pcb.autoRecved = !!v; break;
          case "keepalive": pcb.keepalive(!!v, a[3], a[4], a[5]); break;
          case "cc": pcb.cc = v; break;
          case "prio": pcb.prio = v; break;
          case "ttltos": pcb.setTtlTos(v, a[3]); break;
          case "output": pcb.output(); break;
          case "poll": pcb.poll(v ? () => this.post({ ch: "raw", h, k: "poll" }) : undefined, v || 2); break;
        }
      });
      // UDP
      case "unew": {
        try {
          const pcb = this.stack.raw.udp.new({ lite: !!a[1], ipType: (a[2] ?? 4) as IpType });
          const e: UdpEntry = { kind: "udp", pcb };
          this.objs.set(h, e);
          pcb.recv((data, addr, port, info) => {
            this.post({ ch: "raw", h, k: "urx", a: [addr, port, info.dst, info.netif, info.broadcast, info.multicast], bin: data.slice() });
          });
          pcb.err((info) => this.post({ ch: "raw", h, k: "uerr", a: [info] }));
        } catch (x) {
          const err = asErr(x, "udp.new");
          this.remember(h, err);
          this.post({ ch: "raw", h, k: "err", a: [err.err] });
        }
        return;
      }
      case "ubind": return this.run(h, "udp.bind", (e) => void (e as UdpEntry).pcb.bind(a[1], a[2]));
      case "ubindif": return this.run(h, "udp.bindNetif", (e) => void (e as UdpEntry).pcb.bindNetif(a[1]));
      case "uconnect": return this.run(h, "udp.connect", (e) => void (e as UdpEntry).pcb.connect(a[1], a[2]));
      case "udisc": return this.run(h, "udp.disconnect", (e) => void (e as UdpEntry).pcb.disconnect());
      case "usend": {
        const e = this.udp(h);
        if (!e || !bin) return;
        try {
          if (a[1] === null) e.pcb.send(bin);
          else e.pcb.sendto(bin, a[1], a[2]);
        } catch (x) {
          // A datagram is best effort: say why it was not sent.
          this.post({ ch: "raw", h, k: "serr", a: [asErr(x, "udp.sendto").err, (x as Error).message] });
        }
        return;
      }
      case "uopt": return this.run(h, "udp.option", (e) => {
        const pcb = (e as UdpEntry).pcb;
        switch (a[1] as string) {
          case "broadcast": pcb.broadcast = !!a[2]; break;
          case "reuseaddr": pcb.reuseaddr = !!a[2]; break;
          case "ttltos": pcb.setTtlTos(a[2], a[3]); break;
          case "multicast": pcb.setMulticast(a[2], a[3]); break;
        }
      });
      case "uremove": {
        const e = this.udp(h);
        if (!e) return;
        this.objs.delete(h);
        try { e.pcb.remove(); } catch { /* gone */ }
        return;
      }
    }
  }

  private listen(h: number, e: TcpEntry, doListen: () => void): void {
    doListen();
    e.pcb.accept((child) => {
      const ch = this.nextChild--;
      this.installTcp(ch, child);
      this.post({ ch: "raw", h, k: "acc", a: [ch, ...this.addrs(child)] });
    });
  }

  private abortWith(h: number, e: TcpEntry, err: AsipError): void {
    this.drop(h, e);
    this.post({ ch: "raw", h, k: "err", a: [err.err] });
  }

  /**
   * `ready`: the outcome of the operations sent so far on `h` (they ran
   * before this call): the error that ended it, or its local address.
   */
  call(m: string, a: any[]): DispatchResult {
    if (m !== "ready") throw new TypeError(`unknown call raw.${m}`);
    const h = a[0] as number;
    const f = this.failed.get(h);
    if (f) {
      this.failed.delete(h);
      throw f;
    }
    const e = this.objs.get(h);
    if (!e) throw new AsipError(ERR.ERR_CLSD, "raw: pcb is gone");
    return { v: { localAddress: e.pcb.localAddress, localPort: e.pcb.localPort } };
  }

  close(): void {
    this.rxq.clear();
    for (const [h, e] of [...this.objs]) this.drop(h, e);
    this.failed.clear();
  }
}

registerService("raw", (stack, post) => new RawService(stack, post));
