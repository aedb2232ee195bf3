#!/usr/bin/env node
// `npm test`: builds, then runs every suite and ends with one line
// `N passed, N failed, N skipped` for all of them together.
//
//   as-pect   tests/assembly/*.spec.ts     the core, compiled with as-pect's runtime
//   node      tests/node/*.test.ts         release and mvp builds, stacks in one process
//   peer      tests/peer/*.test.ts         against the Linux kernel (root; skips say why)
//   e2e       tests/e2e/*.test.ts          the web demo in headless Chromium
//   stress    tests/stress/*.test.ts       races under a competing CPU load, 3 rounds
//                                          (`npm run stress -- NAME` runs 20)
//
// `npm test -- node` (or assembly, peer, e2e, stress) runs only those suites;
// further arguments filter test files by substring.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const SUITES = ["assembly", "node", "peer", "e2e", "stress"];
const args = process.argv.slice(2);
const only = args.filter((a) => SUITES.includes(a));
const filters = args.filter((a) => !SUITES.includes(a) && !a.startsWith("-"));
const want = (s) => only.length === 0 || only.includes(s);

function run(cmd, argv, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "inherit"], ...opts });
    let out = "";
    child.stdout.on("data", (b) => { out += b; if (!opts.quiet) process.stdout.write(b); });
    // A hung suite must not hang CI: kill it and let it count as failed.
    const watchdog = opts.timeoutMs ? setTimeout(() => {
      process.stdout.write(`\n${cmd} ${argv.slice(-1)}: killed after ${opts.timeoutMs / 60000} min\n`);
      child.kill("SIGKILL");
    }, opts.timeoutMs) : undefined;
    child.on("close", (code) => { clearTimeout(watchdog); resolve({ code, out }); });
  });
}

/** Longest a whole suite may run: together they stay within CI's 45 minutes. */
const SUITE_TIMEOUT_MS = { assembly: 5, node: 10, peer: 20, e2e: 12, stress: 4 };

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
const totals = { passed: 0, failed: 0, skipped: 0 };

async function build() {
  const r = await run(process.execPath, ["scripts/build.mjs"]);
  if (r.code !== 0) {
    console.log("build failed");
    console.log(`0 passed, 1 failed`);
    process.exit(1);
  }
}

function files(dir, re) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...files(p, re));
    else if (re.test(e.name) && (filters.length === 0 || filters.some((f) => p.includes(f)))) found.push(p);
  }
  return found.sort();
}

async function aspect() {
  const specs = files("tests/assembly", /\.spec\.ts$/);
  if (specs.length === 0) return;
  console.log(`\n== as-pect: ${specs.length} spec files`);
  // as-pect runs every spec of its config in one process; a trap in one file
  // ends the run, which then reports no summary and counts as a failure.
  const r = await run(process.execPath, ["node_modules/@as-pect/cli/bin/asp.js", "--config", "as-pect.config.js"], { quiet: true, env: { ...process.env, FORCE_COLOR: "0" }, timeoutMs: SUITE_TIMEOUT_MS.assembly * 60000 });
  const text = stripAnsi(r.out);
  const m = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(text);
  const lines = text.split("\n").filter((l) => /✔|❌|Failed|\[Actual\]|\[Expected\]|\[Message\]|Error|error|abort/.test(l) && !/Summary|Result|ASC Version/.test(l));
  process.stdout.write(lines.join("\n") + "\n");
  if (!m) {
    console.log(`as-pect did not report (exit ${r.code})`);
    process.stdout.write(text.split("\n").slice(-40).join("\n") + "\n");
    totals.failed++;
    return;
  }
  const pass = +m[1], total = +m[2];
  totals.passed += pass;
  totals.failed += total - pass;
  if (r.code !== 0 && pass === total) totals.failed++;
}

async function nodeSuite(name) {
  const list = files(path.join("dist", "tests", name), /\.test\.js$/);
  if (list.length === 0) return;
  console.log(`\n== ${name}: ${list.length} test files`);
  mkdirSync("build", { recursive: true });
  const countFile = path.join("build", `counts-${name}-${process.pid}.json`);
  rmSync(countFile, { force: true });
  const r = await run(process.execPath, [
    "--test",
    // One test file may take 4 minutes at most, a peer file 10 (the echo
    // load tests move 400 MB through 5% loss); a hung suite is killed by the watchdog.
    `--test-timeout=${name === "peer" ? 600000 : 240000}`,
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    "--test-reporter=./scripts/count-reporter.mjs", `--test-reporter-destination=${countFile}`,
    ...(name === "node" ? [] : ["--test-concurrency=1"]),
    ...list,
  ], { timeoutMs: SUITE_TIMEOUT_MS[name] * 60000 });
  if (!existsSync(countFile)) {
    console.log(`${name}: no results (exit ${r.code})`);
    totals.failed++;
    return;
  }
  let c;
  try {
    c = JSON.parse(readFileSync(countFile, "utf8").trim().split("\n").pop());
  } catch {
    console.log(`${name}: no results (exit ${r.code})`);
    totals.failed++;
    return;
  }
  rmSync(countFile, { force: true });
  totals.passed += c.passed;
  totals.failed += c.failed;
  totals.skipped += c.skipped;
  if (r.code !== 0 && c.failed === 0) totals.failed++;
}

await build();
if (want("assembly")) await aspect();
// stress last and alone: its CPU load must not slow other suites' files.
for (const s of ["node", "peer", "e2e", "stress"]) if (want(s)) await nodeSuite(s);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 ? 1 : 0);
