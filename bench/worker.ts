/**
 * Worker-mode benchmarks: TCP bulk through the raw API with the stacks in
 * core workers, as a ratio to the same with both stacks in this thread,
 * measured in the same run (issue 12's aim: ≥ 0.5×).
 *
 * - `inthread.mtuN` (Gbit/s): two Stacks in this thread over pair(); this
 *   thread writes BENCH_WORKER_MIB MiB (default 128) from A to B. The ref.
 * - `worker.ring.mtuN`: two core workers (StackWorker) joined by a RingLink
 *   (SharedArrayBuffer rings, doorbell port); this thread drives both
 *   ends through their raw APIs (writes cross to A's worker, received bytes
 *   come back from B's).
 * - `worker.port.mtuN`: the same joined by a PortLink (one postMessage per
 *   frame), the transport before the rings.
 *
 * Best of BENCH_SAMPLES (default 3), one warm-up run each.
 *
 * @module
 */
import { MessageChannel } from "node:worker_threads";
import { Bench, runBench } from "./harness.js";
import { Stack } from "../bindings/stack.js";
import { pair } from "../bindings/netif/pair.js";
import { rawApi } from "../bindings/api/raw.js";
import { StackWorker, ringBuffer, type LinkDescription } from "../bindings/worker/client.js";

const MiB = 1 << 20;
const BYTES = Math.round(Number(process.env.BENCH_WORKER_MIB ?? 128) * MiB);
const SAMPLES = Math.max(1, Number(process.env.BENCH_SAMPLES ?? 3) | 0);
const A = "192.0.2.1", B = "192.0.2.2", MAC_A = "02:00:00:00:00:01", MAC_B = "02:00:00:00:00:02";

/** What the bench needs of a raw API, in-thread or remote. */
type Tcp = { new: () => any };
let nextPort = 1000;

/** A writes BYTES to B over a fresh connection; resolves with Gbit/s. */
async function bulk(ta: Tcp, tb: Tcp): Promise<number> {
  const port = nextPort++;
  const l = tb.new().bind("0.0.0.0", port).listen();
  if (l.ready) await l.ready;
  const chunk = new Uint8Array(256 * 1024);
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    l.accept((pcb: any) => {
      pcb.recv((d: Uint8Array | null) => { if (d === null) { pcb.close(); resolve(); } });
    });
    const c = ta.new();
    let sent = 0;
    const pump = () => {
      while (sent < BYTES) {
        const k = c.write(chunk.subarray(0, Math.min(chunk.length, BYTES - sent)));
        if (!k) return;
        sent += k;
      }
      c.sent(undefined);
      c.close();
    };
    c.err((e: Error) => reject(e));
    c.connect(B, port, () => { c.sent(pump); pump(); });
  });
  const ms = performance.now() - t0;
  l.close();
  return (BYTES * 8) / ms / 1e6;
}

interface Run { metric: string; ref: string | null; once(): Promise<number>; close(): Promise<void> }

async function inThread(mtu: number): Promise<Run> {
  const [ea, eb] = pair({ mtu });
  const a = await Stack.create({ heapSize: 16 * MiB }), b = await Stack.create({ heapSize: 16 * MiB });
  a.addInterface(ea, { ip: `${A}/24`, mac: MAC_A, mtu });
  b.addInterface(eb, { ip: `${B}/24`, mac: MAC_B, mtu });
  a.addStaticArp(B, Uint8Array.of(2, 0, 0, 0, 0, 2));
  const ta = rawApi(a).tcp, tb = rawApi(b).tcp;
  return { metric: `inthread.mtu${mtu}`, ref: null, once: () => bulk(ta, tb), async close() { await a.close(); await b.close(); } };
}

async function inWorkers(mtu: number, kind: "ring" | "port"): Promise<Run> {
  let la: LinkDescription, lb: LinkDescription;
  if (kind === "ring") {
    const sab = ringBuffer(), bell = new MessageChannel();
    la = { type: "ring", sab, side: 0, doorbell: bell.port1 as never };
    lb = { type: "ring", sab, side: 1, doorbell: bell.port2 as never };
  } else {
    const ch = new MessageChannel();
    la = { type: "port", port: ch.port1 as never };
    lb = { type: "port", port: ch.port2 as never };
  }
  const stack = { heapSize: 16 * MiB };
  const [a, b] = await Promise.all([
    StackWorker.start({ stack, interfaces: [{ link: la, ip: `${A}/24`, mac: MAC_A, mtu }], arp: [{ ip: B, mac: MAC_B }], tcpTimeWaitMs: 50 }),
    StackWorker.start({ stack, interfaces: [{ link: lb, ip: `${B}/24`, mac: MAC_B, mtu }], arp: [{ ip: A, mac: MAC_A }], tcpTimeWaitMs: 50 }),
  ]);
  return {
    metric: `worker.${kind}.mtu${mtu}`, ref: `inthread.mtu${mtu}`,
    once: () => bulk(a.raw.tcp, b.raw.tcp),
    async close() { await a.close(); await b.close(); },
  };
}

runBench(async () => {
  const bench = new Bench("worker");
  bench.log(`worker bench: ${BYTES / MiB} MiB per run, best of ${SAMPLES}`);
  const runs: Run[] = [];
  for (const mtu of [1500, 65535]) {
    runs.push(await inThread(mtu), await inWorkers(mtu, "ring"));
    if (mtu === 1500) runs.push(await inWorkers(mtu, "port"));
  }
  for (const r of runs) await r.once();
  const best = new Map<string, number>();
  for (let s = 0; s < SAMPLES; s++) {
    for (const r of runs) best.set(r.metric, Math.max(best.get(r.metric) ?? 0, await r.once()));
  }
  for (const r of runs) bench.add(r.metric, best.get(r.metric)!, "Gbit/s", r.ref);
  for (const r of runs) await r.close();
  bench.finish();
});
