#!/usr/bin/env node
// `npm run bench -- [NAME ...] [--json]`: builds, then runs dist/bench/NAME.js
// (every bench under bench/ when no name is given), one process per bench.
//
//   --json   every result is one JSON object per line on stdout,
//            {"bench","metric","value","unit","ref","ratio"}, and nothing
//            else is written there (build output and notes go to stderr)
//
// The harness is bench/harness.ts. Environment: BENCH_MIN_MS (minimum ms per
// sample, default 100), BENCH_SAMPLES (samples per figure, default 5).
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const args = process.argv.slice(2);
const json = args.includes("--json");
const names = args.filter((a) => !a.startsWith("-"));

function run(argv, stdout) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", stdout, "inherit"] });
    child.on("close", (code) => resolve(code ?? 1));
  });
}

// Build first; its output goes to stderr so stdout stays pure JSON.
if (!args.includes("--no-build")) {
  const code = await run(["scripts/build.mjs"], process.stderr);
  if (code !== 0) {
    console.error("bench: build failed");
    process.exit(1);
  }
}

const dir = path.join("dist", "bench");
const all = existsSync(dir)
  ? readdirSync(dir).filter((f) => f.endsWith(".js") && f !== "harness.js").map((f) => f.slice(0, -3)).sort()
  : [];
const chosen = names.length ? names : all;
let failed = 0;
for (const name of chosen) {
  const file = path.join(dir, `${name}.js`);
  if (!existsSync(file)) {
    console.error(`bench: no bench ${name} (have: ${all.join(", ") || "none"})`);
    failed++;
    continue;
  }
  const code = await run([file, ...(json ? ["--json"] : [])], "inherit");
  if (code !== 0) {
    console.error(`bench: ${name} failed (exit ${code})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
