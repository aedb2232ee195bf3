#!/usr/bin/env node
// `npm run stress -- NAME [--rounds N] [--load N]`: runs the stress test
// tests/stress/NAME.test.ts for N rounds (default 20; `npm test` runs 3),
// each under a competing CPU load of N busy-loop processes (default: one
// per CPU). `npm run stress` alone lists the names.
//
//   worker   the Worker-mode suite's scenarios (tests/node/worker_scenarios.ts)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args.splice(i, 2)[1];
  if (!/^\d+$/.test(v ?? "")) {
    console.error(`${name} needs a number`);
    process.exit(2);
  }
  return v;
};
const rounds = opt("--rounds", "20");
const load = opt("--load", undefined);
const names = readdirSync("tests/stress").filter((f) => f.endsWith(".test.ts")).map((f) => f.slice(0, -".test.ts".length));
if (args.length === 0 || !args.every((a) => names.includes(a))) {
  console.log(`usage: npm run stress -- NAME… [--rounds N] [--load N]   (names: ${names.join(", ")})`);
  process.exit(args.length === 0 ? 0 : 2);
}

const build = spawnSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });
if (build.status !== 0) process.exit(1);
const files = args.map((n) => path.join("dist", "tests", "stress", `${n}.test.js`));
for (const f of files) if (!existsSync(f)) {
  console.error(`${f} is missing after the build`);
  process.exit(1);
}
const env = { ...process.env, ASIP_STRESS_ROUNDS: rounds, ...(load ? { ASIP_STRESS_LOAD: load } : {}) };
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], { stdio: "inherit", env });
process.exit(r.status ?? 1);
