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
 * TCP (throughput and request/response through net, netconn, sockets,
 * streams) joins when the TCP parts of the APIs land.
 *
 * @module
 */
import { Bench, runBench } from "./harness.js";
import { Stack } from "../bindings/stack.js";
import { pair } from "../bindings/netif/pair.js";
import { ip4ToU32 } from "../bindings/abi.js";
import type { CoreVariant } from "../bindings/core.js";
import { NETCONN_UDP } from "../bindings/api/netconn.js";
import { AF_INET, SOCK_DGRAM } from "../bindings/api/sockets.js";

const B = "192.0.2.2";
const PORT = 7;

async function stacksPair(variant: CoreVariant) {
  const [ea, eb] = pair();
  const a = await Stack.create({ variant });
  const b = await Stack.create({ variant });
  a.addInterface(ea, { ip: "192.0.2.1/24", mac: "02:00:00:00:00:01" });
  b.addInterface(eb, { ip: "192.0.2.2/24", mac: "02:00:00:00:00:02" });
  a.ex.arp_static_add(ip4ToU32("192.0.2.2"), a.scratch(Uint8Array.of(2, 0, 0, 0, 0, 2)));
  b.ex.arp_static_add(ip4ToU32("192.0.2.1"), b.scratch(Uint8Array.of(2, 0, 0, 0, 0, 1)));
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

/** Calibrates to ~minMs, best of `samples`; returns round trips per second. */
async function measureAsync(run: (iters: number) => Promise<unknown>, minMs = Number(process.env.BENCH_MIN_MS ?? 100), samples = Number(process.env.BENCH_SAMPLES ?? 5)): Promise<number> {
  let n = 64;
  for (;;) {
    const t0 = performance.now();
    await run(n);
    const dt = performance.now() - t0;
    if (dt >= minMs) break;
    n = Math.ceil(n * Math.min(16, Math.max(2, (minMs * 1.2) / Math.max(dt, 1))));
  }
  let best = Infinity;
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    await run(n);
    best = Math.min(best, (performance.now() - t0) / n);
  }
  return 1000 / best;
}

async function main(): Promise<void> {
  const bench = new Bench("api");
  for (const variant of ["release", "mvp"] as CoreVariant[]) {
    for (const api of Object.keys(rigs)) {
      const { a, b } = await stacksPair(variant);
      const rig = await rigs[api](a, b);
      bench.log(`${variant} udp request/response via ${api}`);
      for (let i = 0; i < 5000; i++) await rig.rr(); // warm up (JIT) before calibrating
      const rate = await measureAsync(async (n) => {
        for (let i = 0; i < n; i++) await rig.rr();
      });
      const ref = api === "raw" ? null : `${variant}.udp_rr.raw.per_s`;
      bench.add(`${variant}.udp_rr.${api}.per_s`, rate, "ops/s", ref);
      await rig.close();
      await a.close();
      await b.close();
    }
  }
  bench.finish();
}

runBench(main);
