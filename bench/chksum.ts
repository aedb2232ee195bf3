/**
 * Internet checksum throughput (GB/s) at 1500 B and 64 KiB for each kernel:
 * release v128, release scalar, mvp scalar, and copy-with-checksum; each is
 * compared with memory.copy of the same length in the same module, measured
 * in the same run. All loops run inside the core (bench_* exports).
 *
 * @module
 */
import { loadCore, type CoreVariant } from "../bindings/core.js";
import { Bench, measureEach, runBench } from "./harness.js";

/** The exports this bench calls (assembly/index.ts, chksum block). */
interface ChksumBenchExports {
  bench_alloc(n: number): number;
  bench_memcpy(dst: number, src: number, len: number, iters: number): void;
  bench_chksum_scalar(ptr: number, len: number, iters: number): number;
  bench_chksum_simd(ptr: number, len: number, iters: number): number;
  bench_chksum_copy(dst: number, src: number, len: number, iters: number): number;
  chksum_simd_available(): number;
}

const LENGTHS = [1500, 65536];

async function main(): Promise<void> {
  const bench = new Bench("chksum");
  for (const variant of ["release", "mvp"] as CoreVariant[]) {
    const core = await loadCore(variant);
    const e = core.exports as unknown as ChksumBenchExports;
    const max = Math.max(...LENGTHS);
    // allocated once; the +64 keeps both buffers on distinct cache lines
    const src = e.bench_alloc(max + 64);
    const dst = e.bench_alloc(max + 64);
    const bytes = new Uint8Array(core.memory.buffer, src, max);
    let x = 0x2545f491;
    for (let i = 0; i < max; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      bytes[i] = x & 0xff;
    }
    for (const len of LENGTHS) {
      bench.log(`${variant} ${len} B`);
      const gbps = (secondsPerIter: number): number => len / secondsPerIter / 1e9;
      const copy = `${variant}.memcpy.${len}`;
      // memory.copy first: the yardstick, sampled round-robin with the rest
      const runs = new Map<string, (n: number) => void>([[copy, (n) => e.bench_memcpy(dst, src, len, n)]]);
      if (e.chksum_simd_available()) runs.set(`${variant}.simd.${len}`, (n) => { e.bench_chksum_simd(src, len, n); });
      runs.set(`${variant}.scalar.${len}`, (n) => { e.bench_chksum_scalar(src, len, n); });
      runs.set(`${variant}.copy_chksum.${len}`, (n) => { e.bench_chksum_copy(dst, src, len, n); });
      const results = measureEach([...runs.values()]);
      [...runs.keys()].forEach((metric, i) => {
        bench.add(metric, gbps(results[i].secondsPerIter), "GB/s", metric === copy ? null : copy);
      });
    }
  }
  bench.finish();
}

runBench(main);
