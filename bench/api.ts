/**
 * The host APIs' own cost: UDP request/response between two stacks in one
 * process over pair(), client and echo server written against the same API
 * (raw, netconn, sockets, dgram, streams), each as a ratio to the raw API in
 * the same run.
 *
 * - `<variant>.udp_rr.<api>.per_s`: round trips of a 64-byte datagram, one
 *   at a time (the next request leaves when the reply is in). Every API
 *   waits the way its users do (a Promise per reply, 'message' events,
 *   stream reads), so the figure is what a user sees, event loop included.
 *
 * - `<variant>.tcp_rr.<api>.per_s`: round trips of 64 bytes over one TCP
 *   connection (client and echo server of the same API; Nagle off).
 * - `<variant>.tcp_bulk.<api>.gbit_s`: one connection moving TCP_BULK_MIB
 *   (default 64) MiB from a sender to a sink written against the same API,
 *   receive window and send buffer as the core configures them; the sender
 *   waits for room as its API makes it (write() false + 'drain', writer.ready,
 *   a blocking send, the raw sent callback).
 *
 * @module
 */
import "../bindings/api/dgram.js";
import { Bench, measureAsync, runBench } from "./harness.js";
import { Stack } from "../bindings/stack.js";
import { pair } from "../bindings/netif/pair.js";
import type { CoreVariant } from "../bindings/core.js";
import { NETCONN_UDP } from "../bindings/api/netconn.js";
import { AF_INET, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, IPPROTO_TCP, TCP_NODELAY } from "../bindings/api/sockets.js";
import { NETCONN_TCP } from "../bindings/api/netconn.js";
import "../bindings/api/net.js";

const B = "192.0.2.2";
const PORT = 7;

async function stacksPair(variant: CoreVariant) {
  const [ea, eb] = pair();
  const a = await Stack.create({ variant });
  const b = await Stack.create({ variant });
  a.addInterface(ea, { ip: "192.0.2.1/24", mac: "02:00:00:00:00:01" });
  b.addInterface(eb, { ip: "192.0.2.2/24", mac: "02:00:00:00:00:02" });
  a.addStaticArp("192.0.2.2", Uint8Array.of(2, 0, 0, 0, 0, 2));
  b.addStaticArp("192.0.2.1", Uint8Array.of(2, 0, 0, 0, 0, 1));
  return { a, b };
}

interface Rig {
  /** One request, resolved with the reply. */
  rr: () => Promise<void>;
  close: () => Promise<void>;
}

const payload = new Uint8Array(64).fill(0x5a);

/** Client + echo server of one API. */
const rigs: Record<string, (a: Stack, b: Stack) => Promise<Rig>> = {
  async raw(a, b) {
    const srv = b.raw.udp.new().bind("0.0.0.0", PORT);
    srv.recv((d, addr, port) => srv.sendto(d, addr, port));
    const cli = a.raw.udp.new().bind("0.0.0.0", 0).connect(B, PORT);
    let wake: (() => void) | undefined;
    cli.recv(() => wake?.());
    return {
      rr: () => new Promise<void>((r) => { wake = r; cli.send(payload); }),
      close: async () => { srv.remove(); cli.remove(); },
    };
  },
  async netconn(a, b) {
    const srv = b.netconn.new(NETCONN_UDP);
    srv.bind(null, PORT);
    const loop = (async () => {
      for (;;) {
        const buf = await srv.recv().catch(() => undefined);
        if (!buf) return;
        await srv.sendto(buf, buf.fromaddr, buf.fromport);
        buf.delete();
      }
    })();
    const cli = a.netconn.new(NETCONN_UDP);
    await cli.connect(B, PORT);
    const nb = a.netconn.netbuf();
    nb.ref(payload);
    return {
      rr: async () => {
        await cli.send(nb);
        (await cli.recv()).delete();
      },
      close: async () => { await srv.close(); await loop; await cli.delete(); },
    };
  },
  async sockets(a, b) {
    const ss = b.sockets, cs = a.sockets;
    const sfd = ss.socket(AF_INET, SOCK_DGRAM);
    ss.bind(sfd, { family: AF_INET, addr: "0.0.0.0", port: PORT });
    const sbuf = new Uint8Array(2048);
    const loop = (async () => {
      const from = { family: 0, addr: "", port: 0 };
      for (;;) {
        const n = await ss.recvfrom(sfd, sbuf, 0, from).catch(() => -1);
        if (n < 0) return;
        await ss.sendto(sfd, sbuf.subarray(0, n), 0, from);
      }
    })();
    const cfd = cs.socket(AF_INET, SOCK_DGRAM);
    await cs.connect(cfd, { family: AF_INET, addr: B, port: PORT });
    const cbuf = new Uint8Array(2048);
    return {
      rr: async () => {
        await cs.send(cfd, payload);
        await cs.recv(cfd, cbuf);
      },
      close: async () => { await ss.close(sfd); await loop; await cs.close(cfd); },
    };
  },
  async dgram(a, b) {
    const srv = b.dgram.createSocket("udp4");
    srv.on("message", (m, r) => srv.send(m, r.port, r.address));
    await new Promise<void>((r) => srv.bind(PORT, r));
    const cli = a.dgram.createSocket("udp4");
    await new Promise<void>((r) => cli.connect(PORT, B, () => r()));
    let wake: (() => void) | undefined;
    cli.on("message", () => wake?.());
    return {
      rr: () => new Promise<void>((r) => { wake = r; cli.send(payload); }),
      close: async () => { srv.close(); cli.close(); },
    };
  },
  async streams(a, b) {
    const srv = b.streams.udp({ localPort: PORT });
    const so = await srv.opened;
    const sw = so.writable.getWriter();
    const sr = so.readable.getReader();
    const loop = (async () => {
      for (;;) {
        const { value, done } = await sr.read().catch(() => ({ value: undefined, done: true }));
        if (done || !value) return;
        await sw.write({ data: value.data, remoteAddress: value.remoteAddress, remotePort: value.remotePort });
      }
    })();
    const cli = a.streams.udp({ remoteAddress: B, remotePort: PORT });
    const co = await cli.opened;
    const cw = co.writable.getWriter();
    const cr = co.readable.getReader();
    return {
      rr: async () => {
        await cw.write({ data: payload });
        await cr.read();
      },
      close: async () => { await srv.close(); await loop; await cli.close(); },
    };
  },
};

// ---- TCP ----------------------------------------------------------------------------------------

const TCP_PORT = 7070;
const BULK = Number(process.env.TCP_BULK_MIB ?? 64) * (1 << 20);
const bulkChunk = new Uint8Array(64 * 1024).fill(0x33);

interface TcpRig {
  rr: () => Promise<void>;
  /** Moves BULK bytes; resolves when the sink has them all. */
  bulk: () => Promise<void>;
  close: () => Promise<void>;
}

/** Counts bytes at the sink; `waitFor(n)` resolves when n more have arrived. */
class Sink {
  got = 0;
  private target = Infinity;
  private wake: (() => void) | undefined;
  add(n: number): void {
    this.got += n;
    if (this.got >= this.target && this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
  }
  waitFor(n: number): Promise<void> {
    this.target = this.got + n;
    return new Promise<void>((r) => (this.wake = r));
  }
}

const tcpRigs: Record<string, (a: Stack, b: Stack) => Promise<TcpRig>> = {
  async raw(a, b) {
    const sink = new Sink();
    const l = b.raw.tcp.new().bind("0.0.0.0", TCP_PORT).listen(4);
    l.accept((c) => {
      c.nagle = false;
      // The first connection echoes (rr), the second is the sink.
      c.recv((d) => {
        if (!d) return c.close();
        if (d.length === 64 && sink.got === 0 && !bulkOn) c.write(d);
        else sink.add(d.length);
      });
    });
    let bulkOn = false;
    const cli = a.raw.tcp.new();
    await new Promise<void>((r) => cli.connect(B, TCP_PORT, () => r()));
    cli.nagle = false;
    let wake: (() => void) | undefined;
    cli.recv(() => wake?.());
    const snd = a.raw.tcp.new();
    await new Promise<void>((r) => snd.connect(B, TCP_PORT, () => r()));
    return {
      rr: () => new Promise<void>((r) => { wake = r; cli.write(payload); }),
      bulk: () => {
        bulkOn = true;
        const done = sink.waitFor(BULK);
        let left = BULK;
        const pump = () => {
          while (left > 0) {
            const n = snd.write(bulkChunk.subarray(0, Math.min(bulkChunk.length, left)));
            left -= n;
            if (n === 0) return;
          }
        };
        snd.sent(pump);
        pump();
        return done;
      },
      close: async () => { cli.close(); snd.close(); l.close(); },
    };
  },
  async net(a, b) {
    const sink = new Sink();
    const srv = b.net.createServer({ noDelay: true }, (s) => {
      let role = "";
      s.on("data", (d: Buffer) => {
        if (!role) role = d.length === 64 && d[0] === 0x5a ? "echo" : "sink";
        if (role === "echo") s.write(d);
        else sink.add(d.length);
      });
    });
    await new Promise<void>((r) => srv.listen(TCP_PORT, r));
    const cli = a.net.connect({ port: TCP_PORT, host: B, noDelay: true });
    await new Promise((r) => cli.once("connect", r));
    let wake: (() => void) | undefined;
    cli.on("data", () => wake?.());
    const snd = a.net.connect(TCP_PORT, B);
    await new Promise((r) => snd.once("connect", r));
    return {
      rr: () => new Promise<void>((r) => { wake = r; cli.write(payload); }),
      bulk: () => {
        const done = sink.waitFor(BULK);
        let left = BULK;
        const pump = () => {
          while (left > 0) {
            left -= bulkChunk.length;
            if (!snd.write(bulkChunk)) return void snd.once("drain", pump);
          }
        };
        pump();
        return done;
      },
      close: async () => { cli.destroy(); snd.destroy(); srv.close(); },
    };
  },
  async streams(a, b) {
    const sink = new Sink();
    const srv = b.streams.listen({ localPort: TCP_PORT, connection: { noDelay: true } });
    await srv.opened;
    void (async () => {
      for await (const conn of srv) {
        void (async () => {
          const { readable, writable } = await conn.opened;
          const w = writable.getWriter();
          let role = "";
          for await (const d of readable as unknown as AsyncIterable<Uint8Array>) {
            if (!role) role = d.length === 64 && d[0] === 0x5a ? "echo" : "sink";
            if (role === "echo") await w.write(d);
            else sink.add(d.length);
          }
        })().catch(() => {});
      }
    })();
    const cli = a.streams.connect(B, TCP_PORT, { noDelay: true });
    const co = await cli.opened;
    const cw = co.writable.getWriter();
    const cr = co.readable.getReader();
    const snd = a.streams.connect(B, TCP_PORT);
    const sw = (await snd.opened).writable.getWriter();
    return {
      rr: async () => {
        await cw.write(payload);
        await cr.read();
      },
      bulk: async () => {
        const done = sink.waitFor(BULK);
        for (let left = BULK; left > 0; left -= bulkChunk.length) {
          await sw.ready;
          void sw.write(bulkChunk);
        }
        await done;
      },
      close: async () => { await cli.close(); await snd.close(); await srv.close(); },
    };
  },
  async netconn(a, b) {
    const sink = new Sink();
    const l = b.netconn.new(NETCONN_TCP);
    l.bind(null, TCP_PORT);
    l.listen(4);
    void (async () => {
      for (;;) {
        const c = await l.accept().catch(() => undefined);
        if (!c) return;
        c.tcpPcb!.nagle = false;
        void (async () => {
          let role = "";
          for (;;) {
            const buf = await c.recv().catch(() => undefined);
            if (!buf) return;
            if (!role) role = buf.len === 64 ? "echo" : "sink";
            if (role === "echo") await c.write(buf.data());
            else sink.add(buf.len);
            buf.delete();
          }
        })();
      }
    })();
    const cli = a.netconn.new(NETCONN_TCP);
    await cli.connect(B, TCP_PORT);
    cli.tcpPcb!.nagle = false;
    const snd = a.netconn.new(NETCONN_TCP);
    await snd.connect(B, TCP_PORT);
    return {
      rr: async () => {
        await cli.write(payload);
        (await cli.recv()).delete();
      },
      bulk: async () => {
        const done = sink.waitFor(BULK);
        for (let left = BULK; left > 0; left -= bulkChunk.length) await snd.write(bulkChunk);
        await done;
      },
      close: async () => { await cli.delete(); await snd.delete(); await l.delete(); },
    };
  },
  async sockets(a, b) {
    const sink = new Sink();
    const ss = b.sockets, cs = a.sockets;
    const lfd = ss.socket(AF_INET, SOCK_STREAM);
    ss.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: TCP_PORT });
    ss.listen(lfd, 4);
    void (async () => {
      for (;;) {
        const fd = await ss.accept(lfd).catch(() => -1);
        if (fd < 0) return;
        ss.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        void (async () => {
          const buf = new Uint8Array(65536);
          let role = "";
          for (;;) {
            const n = await ss.recv(fd, buf).catch(() => 0);
            if (n === 0) return;
            if (!role) role = n === 64 ? "echo" : "sink";
            if (role === "echo") await ss.send(fd, buf.subarray(0, n));
            else sink.add(n);
          }
        })();
      }
    })();
    const cfd = cs.socket(AF_INET, SOCK_STREAM);
    cs.setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, 1);
    await cs.connect(cfd, { family: AF_INET, addr: B, port: TCP_PORT });
    const sfd = cs.socket(AF_INET, SOCK_STREAM);
    await cs.connect(sfd, { family: AF_INET, addr: B, port: TCP_PORT });
    const rbuf = new Uint8Array(256);
    void SOL_SOCKET;
    return {
      rr: async () => {
        await cs.send(cfd, payload);
        await cs.recv(cfd, rbuf);
      },
      bulk: async () => {
        const done = sink.waitFor(BULK);
        for (let left = BULK; left > 0; left -= bulkChunk.length) await cs.send(sfd, bulkChunk);
        await done;
      },
      close: async () => { await cs.close(cfd); await cs.close(sfd); await ss.close(lfd); },
    };
  },
};

/** Round trips per second, calibrated to BENCH_MIN_MS (100), best of BENCH_SAMPLES (5). */
function measureRoundTrips(run: (iters: number) => Promise<unknown>): Promise<number> {
  return measureAsync(run, Number(process.env.BENCH_MIN_MS ?? 100), Number(process.env.BENCH_SAMPLES ?? 5));
}

/**
 * API_BENCH: an optional regular expression over `<variant>.<udp|tcp>.<api>`
 * choosing what to run (e.g. `release.tcp.(raw|net|streams)` while profiling).
 */
const only = process.env.API_BENCH ? new RegExp(process.env.API_BENCH) : null;
const wanted = (variant: string, kind: string, api: string) => !only || only.test(`${variant}.${kind}.${api}`);

async function main(): Promise<void> {
  const bench = new Bench("api");
  for (const variant of ["release", "mvp"] as CoreVariant[]) {
    for (const api of Object.keys(rigs)) {
      if (!wanted(variant, "udp", api)) continue;
      const { a, b } = await stacksPair(variant);
      const rig = await rigs[api](a, b);
      bench.log(`${variant} udp request/response via ${api}`);
      for (let i = 0; i < 5000; i++) await rig.rr(); // warm up (JIT) before calibrating
      const rate = await measureRoundTrips(async (n) => {
        for (let i = 0; i < n; i++) await rig.rr();
      });
      const ref = api === "raw" ? null : `${variant}.udp_rr.raw.per_s`;
      bench.add(`${variant}.udp_rr.${api}.per_s`, rate, "ops/s", ref);
      await rig.close();
      await a.close();
      await b.close();
    }
    for (const api of Object.keys(tcpRigs)) {
      if (!wanted(variant, "tcp", api)) continue;
      const { a, b } = await stacksPair(variant);
      a.raw.tcp.setTimeWait(10);
      b.raw.tcp.setTimeWait(10);
      const rig = await tcpRigs[api](a, b);
      bench.log(`${variant} tcp request/response and bulk via ${api}`);
      for (let i = 0; i < 3000; i++) await rig.rr();
      const rate = await measureRoundTrips(async (n) => {
        for (let i = 0; i < n; i++) await rig.rr();
      });
      bench.add(`${variant}.tcp_rr.${api}.per_s`, rate, "ops/s", api === "raw" ? null : `${variant}.tcp_rr.raw.per_s`);
      await rig.bulk(); // warm up
      let best = Infinity;
      for (let s = 0; s < 3; s++) {
        const t0 = performance.now();
        await rig.bulk();
        best = Math.min(best, performance.now() - t0);
      }
      bench.add(`${variant}.tcp_bulk.${api}.gbit_s`, (BULK * 8) / best / 1e6, "Gbit/s", api === "raw" ? null : `${variant}.tcp_bulk.raw.gbit_s`);
      await rig.close();
      await a.close();
      await b.close();
    }
  }
  bench.finish();
}

runBench(main);
