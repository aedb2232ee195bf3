/**
 * The benchmark harness: timing loops and result reporting shared by every
 * bench under bench/ (run them with `npm run bench -- NAME [--json]`).
 *
 * A bench measures with {@link measure}, which calibrates an iteration count
 * so one sample lasts at least `minTimeMs`, warms up, then keeps the best of
 * several samples (the least disturbed run); {@link measureEach} does the
 * same for several runs with their samples interleaved, for figures that are
 * compared with each other. Work that is cheap per call is
 * looped inside the core (an exported `bench_*` loop taking `iters`), so the
 * JS↔WebAssembly call is paid once per sample, not per iteration.
 *
 * Results go through a {@link Bench}. With `--json` on the command line every
 * result is written at once to stdout as ONE JSON object per line,
 * `{"bench","metric","value","unit","ref","ratio"}`, and nothing else goes to
 * stdout; `ref` names another metric of the same run that this one is
 * compared with (or null) and `ratio` is value / that metric's value. Without
 * `--json` the results are printed as a table when the bench finishes.
 * Progress and notes always go to stderr.
 *
 * @module
 */

/** One measured figure. */
export interface BenchResult {
  /** The bench that produced it (file name under bench/). */
  readonly bench: string;
  /** What was measured, dotted from general to specific: `release.simd.65536`. */
  readonly metric: string;
  readonly value: number;
  /** `GB/s`, `ops/s`, `ns/op`, … */
  readonly unit: string;
  /** The metric this one is compared with, measured in the same run, or null. */
  readonly ref: string | null;
  /** value / the ref metric's value, or null without a ref. */
  readonly ratio: number | null;
}

/** How long to measure. */
export interface MeasureOptions {
  /** Minimum duration of one sample (ms). Default 100, or BENCH_MIN_MS. */
  readonly minTimeMs?: number;
  /** Warm-up before sampling, so the engine's optimizing tier is in (ms). Default 100. */
  readonly warmupMs?: number;
  /** Samples to take; the fastest is kept. Default 5. */
  readonly samples?: number;
}

/** What {@link measure} found. */
export interface Measurement {
  /** Seconds per iteration in the fastest sample. */
  readonly secondsPerIter: number;
  /** Iterations per sample after calibration. */
  readonly iters: number;
}

function nowSeconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Times `run(iters)`, which must do `iters` iterations of the work.
 * The iteration count doubles until one call lasts `minTimeMs`.
 */
export function measure(run: (iters: number) => void, options: MeasureOptions = {}): Measurement {
  return measureEach([run], options)[0];
}

/**
 * Times several runs under the same conditions: each is calibrated on its
 * own, then the samples are taken round-robin, so a figure and the yardstick
 * it is compared with (memory.copy for the checksum) see the same machine
 * load. Returns one Measurement per run, in order.
 */
export function measureEach(runs: ReadonlyArray<(iters: number) => void>, options: MeasureOptions = {}): Measurement[] {
  const minTime = (options.minTimeMs ?? envNumber("BENCH_MIN_MS") ?? 100) / 1000;
  const warmup = (options.warmupMs ?? 100) / 1000;
  const samples = options.samples ?? envNumber("BENCH_SAMPLES") ?? 5;

  const iters = runs.map((run) => {
    // calibrate: grow n until one call takes at least minTime
    let n = 1;
    for (;;) {
      const t0 = nowSeconds();
      run(n);
      const dt = nowSeconds() - t0;
      if (dt >= minTime) return n;
      // aim a little past minTime, at most 16x per step
      const grow = dt > 0 ? Math.min(16, Math.max(2, (minTime * 1.2) / dt)) : 16;
      n = Math.ceil(n * grow);
    }
  });
  runs.forEach((run, i) => {
    const warmEnd = nowSeconds() + warmup;
    while (nowSeconds() < warmEnd) run(iters[i]);
  });

  const best = runs.map(() => Infinity);
  for (let s = 0; s < samples; s++) {
    runs.forEach((run, i) => {
      const t0 = nowSeconds();
      run(iters[i]);
      best[i] = Math.min(best[i], nowSeconds() - t0);
    });
  }
  return best.map((b, i) => ({ secondsPerIter: b / iters[i], iters: iters[i] }));
}

/**
 * The async counterpart of measure: grows the iteration count until one run
 * takes at least `minMs`, then returns the best of `samples` runs as
 * iterations per second.
 */
export async function measureAsync(run: (iters: number) => Promise<unknown>, minMs = 200, samples = 5): Promise<number> {
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

/** Collects and prints the results of one bench. */
export class Bench {
  /** True when `--json` was passed: results as JSON lines on stdout. */
  readonly json: boolean;
  private readonly results: BenchResult[] = [];
  private readonly values = new Map<string, number>();

  constructor(readonly name: string, argv: readonly string[] = process.argv.slice(2)) {
    this.json = argv.includes("--json");
  }

  /** A progress note, to stderr. */
  log(message: string): void {
    process.stderr.write(`${message}\n`);
  }

  /**
   * Records a result. With `ref`, the ratio to that earlier metric of this run
   * is computed (the ref must already be recorded).
   */
  add(metric: string, value: number, unit: string, ref: string | null = null): BenchResult {
    let ratio: number | null = null;
    if (ref !== null) {
      const base = this.values.get(ref);
      if (base === undefined) throw new Error(`bench ${this.name}: ref ${ref} not measured before ${metric}`);
      ratio = base > 0 ? value / base : null;
    }
    const r: BenchResult = { bench: this.name, metric, value: round(value), unit, ref, ratio: ratio === null ? null : round(ratio) };
    this.results.push(r);
    this.values.set(metric, value);
    if (this.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else this.log(`  ${metric}: ${fmt(r.value)} ${unit}${r.ratio === null ? "" : `  (${fmt(r.ratio)}x ${ref})`}`);
    return r;
  }

  /** Every result so far. */
  all(): readonly BenchResult[] {
    return this.results;
  }

  /** Prints the table (without `--json`); call once at the end. */
  finish(): void {
    if (this.json) return;
    const rows = this.results.map((r) => [r.metric, fmt(r.value), r.unit, r.ref ?? "", r.ratio === null ? "" : fmt(r.ratio)]);
    const head = ["metric", "value", "unit", "ref", "ratio"];
    const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    const line = (cells: string[]): string =>
      cells.map((c, i) => (i === 1 || i === 4 ? c.padStart(width[i]) : c.padEnd(width[i]))).join("  ").trimEnd();
    const out = [`${this.name}`, line(head), line(width.map((w) => "-".repeat(w))), ...rows.map(line)];
    process.stdout.write(`${out.join("\n")}\n\n`);
  }
}

function round(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(v))));
  return Number(v.toFixed(Math.min(digits, 6)));
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e6 ? v.toExponential(3) : String(v);
}

/** Runs a bench's main function, turning a failure into exit code 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
