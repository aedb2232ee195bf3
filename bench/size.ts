/**
 * Code size (issue 11): wasm bytes and gzip -9 bytes of the core for each
 * build profile and address family.
 *
 * - `release.dual` / `mvp.dual`: build/asip.wasm and build/asip-mvp.wasm as
 *   shipped (both families; `npm run bench` builds them first).
 * - `release.ipv4`: build/asip-ipv4.wasm (release with ASIP_IPV6=0).
 * - `release.ipv6`, `mvp.ipv4`, `mvp.ipv6`: built here with asc into a
 *   temporary directory (never over build/): the asconfig.json target with
 *   `--use ASIP_IPV4=0` or `--use ASIP_IPV6=0` added, as scripts/build.mjs
 *   passes the ipv4 target's define.
 * - `….wasm` (bytes) and `….gzip` (bytes, gzip level 9).
 * - References: lwIP compiled to WebAssembly with -Os, measured for this
 *   project: `lwip.ipv4.wasm` 43,397 bytes (IPv4 only) and `lwip.dual.wasm`
 *   72,828 bytes (IPv4 + IPv6). They are constants, not measured in this run;
 *   every IPv4-only and dual row names the matching one as its ref, so the
 *   ratio is asip / lwIP. IPv6-only rows (lwIP has no figure) name the same
 *   profile's dual build: the ratio is what leaving IPv4 out saves.
 *
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { Bench, runBench } from "./harness.js";

/** lwIP with -Os in WebAssembly, measured for this project (bytes). */
const LWIP_IPV4_WASM = 43_397;
const LWIP_DUAL_WASM = 72_828;

type Profile = "release" | "mvp";
type Family = "dual" | "ipv4" | "ipv6";

/** The shipped file of a profile/family, when there is one. */
const SHIPPED: Partial<Record<`${Profile}.${Family}`, string>> = {
  "release.dual": "build/asip.wasm",
  "release.ipv4": "build/asip-ipv4.wasm",
  "mvp.dual": "build/asip-mvp.wasm",
};

/** The --use defines that leave one family out. */
const DEFINES: Record<Family, string[]> = { dual: [], ipv4: ["ASIP_IPV6=0"], ipv6: ["ASIP_IPV4=0"] };

interface AscApi {
  main(argv: string[], options: Record<string, unknown>): Promise<{ error: Error | null; stderr: { toString(): string } }>;
}

/** Builds `profile` without one family into `dir` with asc; returns the wasm bytes. */
async function buildVariant(asc: AscApi, profile: Profile, family: Family, dir: string): Promise<Uint8Array> {
  const out = path.join(dir, `asip-${profile}-${family}.wasm`);
  // The mvp target's own --use (abort=…) is kept: asc adds command-line
  // --use entries to the target's.
  const use = [...(profile === "mvp" ? ["abort=assembly/core/abort/trapAbort"] : []), ...DEFINES[family]];
  const argv = ["--target", profile, "--outFile", out, "--textFile", path.join(dir, `asip-${profile}-${family}.wat`)];
  for (const u of use) argv.push("--use", u);
  const { error, stderr } = await asc.main(argv, {});
  if (error) throw new Error(`asc ${argv.join(" ")}: ${error.message}\n${stderr.toString()}`);
  return readFileSync(out);
}

async function main(): Promise<void> {
  const bench = new Bench("size");
  bench.add("lwip.ipv4.wasm", LWIP_IPV4_WASM, "bytes");
  bench.add("lwip.dual.wasm", LWIP_DUAL_WASM, "bytes");
  const ascName = "assemblyscript/asc";
  const asc = ((await import(ascName)) as { default: AscApi }).default;
  const dir = mkdtempSync(path.join(tmpdir(), "asip-size-"));
  try {
    for (const profile of ["release", "mvp"] as Profile[]) {
      for (const family of ["dual", "ipv4", "ipv6"] as Family[]) {
        const shipped = SHIPPED[`${profile}.${family}`];
        bench.log(`${profile} ${family}: ${shipped ?? "building"}`);
        const wasm = shipped ? readFileSync(shipped) : await buildVariant(asc, profile, family, dir);
        // Every variant must at least compile to a module the engine takes.
        await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
        const ref = family === "ipv6" ? `${profile}.dual` : family === "ipv4" ? "lwip.ipv4" : "lwip.dual";
        bench.add(`${profile}.${family}.wasm`, wasm.length, "bytes", `${ref}.wasm`);
        bench.add(`${profile}.${family}.gzip`, gzipSync(wasm, { level: 9 }).length, "bytes", family === "ipv6" ? `${profile}.dual.gzip` : null);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  bench.finish();
}

runBench(main);
