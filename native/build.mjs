#!/usr/bin/env node
// Builds the native addons (today: native/tap → native/tap/build/Release/asip_tap.node)
// with node-gyp. Called by scripts/build.mjs when present.
//
// Never fails the overall build: where the addon cannot be built (not Linux,
// no C compiler, no python3, no node-gyp, no Node headers) it prints one line
// saying why and exits 0; the peer tests then skip with that reason.
// A no-op when the addon is newer than its sources.
//   node native/build.mjs [--force] [--verbose]
import { spawnSync } from "node:child_process";
import { existsSync, statSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const force = process.argv.includes("--force");
const verbose = process.argv.includes("--verbose");

function skip(why) {
  console.log(`native: TAP addon not built: ${why}`);
  process.exit(0);
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

function findNodeGyp() {
  const candidates = [];
  // npm's bundled copy, next to this node (…/bin/node → …/lib/node_modules/npm/…).
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  candidates.push(path.join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  for (const c of candidates) if (existsSync(c)) return c;
  const r = spawnSync("npm", ["prefix", "-g"], { encoding: "utf8" });
  if (r.status === 0) {
    const c = path.join(r.stdout.trim(), "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
    if (existsSync(c)) return c;
  }
  return null;
}

// Where node_api.h lives without downloading: npm_config_nodedir, or the
// prefix of this node when its headers are installed (distro Node: /usr).
function findNodedir() {
  const env = process.env.npm_config_nodedir;
  if (env && existsSync(path.join(env, "include", "node", "node_api.h"))) return env;
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  if (existsSync(path.join(prefix, "include", "node", "node_api.h"))) return prefix;
  return null;
}

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "build" || e.name === "node_modules") continue;
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const addons = [{ dir: path.join(here, "tap"), out: "asip_tap.node" }];

if (process.platform !== "linux") skip(`platform is ${process.platform}, the TAP driver is Linux only`);

for (const a of addons) {
  const out = path.join(a.dir, "build", "Release", a.out);
  if (!force && existsSync(out) && statSync(out).mtimeMs >= newest(a.dir)) continue;
  if (!which("cc") && !which("gcc")) skip("no C compiler (cc/gcc) on PATH");
  if (!which("make")) skip("no make on PATH");
  if (!which("python3") && !process.env.PYTHON) skip("node-gyp needs python3, not found on PATH");
  const gyp = findNodeGyp();
  if (!gyp) skip("node-gyp not found (it ships with npm)");
  const nodedir = findNodedir();
  const args = [gyp, "rebuild", `--directory=${a.dir}`];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const r = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });
  if (r.error || r.status !== 0) {
    if (verbose) process.stderr.write((r.stdout ?? "") + (r.stderr ?? ""));
    const lines = `${r.stderr ?? ""}\n${r.stdout ?? ""}`.split("\n").map((l) => l.trim());
    const why = lines.find((l) => /error:|Error:/.test(l) && !/^gyp ERR! (stack|cwd|node|System|command|not ok)/.test(l)) ??
      (r.error ? String(r.error.message) : `node-gyp exited with ${r.status}`);
    skip(`node-gyp failed: ${why} (run node native/build.mjs --force --verbose for details)`);
  }
  if (verbose) process.stdout.write(r.stdout ?? "");
  console.log(`built ${path.relative(process.cwd(), out)}`);
}
