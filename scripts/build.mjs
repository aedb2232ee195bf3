#!/usr/bin/env node
// Builds what asip needs: the core (release, mvp, debug), the TypeScript
// bindings and tests, and the TAP addon where it can be built.
//   node scripts/build.mjs            everything
//   node scripts/build.mjs wasm|ts|native
import asc from "assemblyscript/asc";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const what = process.argv[2] ?? "all";

function newest(dir, ext) {
  let t = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, ext));
    else if (!ext || p.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

export async function buildWasm(force = false) {
  mkdirSync("build", { recursive: true });
  const src = Math.max(newest("assembly", ".ts"), statSync("asconfig.json").mtimeMs);
  for (const target of ["release", "mvp", "ipv4", "debug"]) {
    const out = target === "release" ? "build/asip.wasm" : `build/asip-${target}.wasm`;
    if (!force && existsSync(out) && statSync(out).mtimeMs > src) continue;
    const { error, stderr } = await asc.main(["--target", target], {});
    if (error) {
      process.stderr.write(stderr.toString());
      throw new Error(`asc --target ${target} failed: ${error.message}`);
    }
    console.log(`built ${out}`);
  }
}

export function buildTs() {
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("tsc failed");
}

export function buildNative() {
  // The TAP addon, and the C host (the mvp core through wasm2c). Both print
  // why and carry on when their tools are missing.
  for (const script of [path.join(root, "native", "build.mjs"), path.join(root, "hosts", "c", "build.mjs")]) {
    if (existsSync(script)) spawnSync(process.execPath, [script], { stdio: "inherit" });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    if (what === "all" || what === "wasm") await buildWasm(process.argv.includes("--force"));
    if (what === "all" || what === "ts") buildTs();
    if (what === "all" || what === "native") buildNative();
  } catch (e) {
    console.error(String(e.message ?? e));
    process.exit(1);
  }
}
