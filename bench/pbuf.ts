/**
 * pbuf_alloc + pbuf_free pairs per second for each kind (RAM, POOL, ROM, REF)
 * in the release and mvp builds, looped inside the core
 * (bench_pbuf_alloc_free), with a leak check after each kind.
 *
 * @module
 */
import { loadCore, type CoreVariant } from "../bindings/core.js";
import { Bench, measure, runBench } from "./harness.js";

/** The exports this bench calls (assembly/index.ts). */
interface PbufBenchExports {
  asip_init(now: number, seed: number): void;
  bench_pbuf_alloc_free(type: number, length: number, iters: number): number;
  heap_used(): number;
}

/** pbuf_type values (assembly/core/pbuf.ts). */
const KINDS: ReadonlyArray<readonly [string, number]> = [
  ["RAM", 0x80],
  ["POOL", 0x82],
  ["ROM", 0x01],
  ["REF", 0x41],
];
/** One Ethernet-MTU payload: fits one POOL buffer (PBUF_POOL_BUFSIZE 1536). */
const LENGTH = 1500;

async function main(): Promise<void> {
  const bench = new Bench("pbuf");
  for (const variant of ["release", "mvp"] as CoreVariant[]) {
    const core = await loadCore(variant);
    const e = core.exports as unknown as PbufBenchExports;
    e.asip_init(0, 1);
    const heapBase = e.heap_used();
    for (const [name, type] of KINDS) {
      bench.log(`${variant} ${name}`);
      let short = 0;
      const m = measure((n) => {
        short += n - e.bench_pbuf_alloc_free(type, LENGTH, n);
      });
      if (short !== 0) throw new Error(`${variant} ${name}: ${short} allocations failed`);
      if (e.heap_used() !== heapBase) throw new Error(`${variant} ${name}: heap leaked ${e.heap_used() - heapBase} bytes`);
      bench.add(`${variant}.${name}.${LENGTH}`, 1 / m.secondsPerIter, "ops/s");
    }
  }
  bench.finish();
}

runBench(main);
