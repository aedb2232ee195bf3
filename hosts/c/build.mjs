#!/usr/bin/env node
// Builds hosts/c/asip-c: the mvp core translated by wasm2c plus main.c.
// Prints one line and exits 0 when wasm2c or a C compiler is missing (the
// peer test then skips and says why).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const out = path.join(root, "build", "c-host");
const wasm = path.join(root, "build", "asip-mvp.wasm");
const bin = path.join(out, "asip-c");
const rt = "/usr/share/wabt/wasm2c";

function has(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}
export function cHostUnavailable() {
  if (!has("wasm2c")) return "no wasm2c (Debian package wabt)";
  if (!existsSync(path.join(rt, "wasm-rt-impl.c"))) return `no wasm2c runtime in ${rt} (Debian package wabt)`;
  if (!has("cc")) return "no C compiler (Debian package build-essential)";
  if (!existsSync(wasm)) return "build/asip-mvp.wasm not built";
  return null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const why = cHostUnavailable();
  if (why) {
    console.log(`c-host: not built: ${why}`);
    process.exit(0);
  }
  const src = path.join(here, "main.c");
  if (existsSync(bin) && statSync(bin).mtimeMs > Math.max(statSync(wasm).mtimeMs, statSync(src).mtimeMs)) process.exit(0);
  mkdirSync(out, { recursive: true });
  const run = (cmd, args) => {
    const r = spawnSync(cmd, args, { stdio: "inherit" });
    if (r.status !== 0) {
      console.log(`c-host: ${cmd} failed`);
      process.exit(0);
    }
  };
  run("wasm2c", [wasm, "-n", "asip", "-o", path.join(out, "asip.c")]);
  run("cc", ["-O2", "-o", bin, src, path.join(out, "asip.c"), path.join(rt, "wasm-rt-impl.c"), "-I", out, "-I", rt, "-lm"]);
  console.log(`built ${path.relative(root, bin)}`);
}
