// The Internet checksum in the stub-runtime release and mvp builds, against a
// JavaScript RFC 1071 reference; and the shape of those builds (imports, no GC,
// no v128 in mvp).
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadCore, compileCore, type Core, type CoreVariant } from "../../bindings/core.js";

/** The checksum exports (assembly/index.ts, chksum block). */
interface ChksumExports {
  bench_alloc(n: number): number;
  inet_chksum(ptr: number, len: number): number;
  lwip_standard_chksum(ptr: number, len: number): number;
  inet_chksum_scalar(ptr: number, len: number): number;
  lwip_standard_chksum_scalar(ptr: number, len: number): number;
  inet_chksum_simd(ptr: number, len: number): number;
  chksum_simd_available(): number;
  inet_chksum_copy(dst: number, src: number, len: number): number;
}

/** RFC 1071: big-endian byte pairs, an odd last byte padded on the right, folded. */
function refSum(b: Uint8Array): number {
  let s = 0;
  const even = b.length & ~1;
  for (let i = 0; i < even; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
const refChksum = (b: Uint8Array): number => ~refSum(b) & 0xffff;

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const MAX = 256 * 1024;
const buildFile = (name: string): URL => new URL(`../../../build/${name}`, import.meta.url);

for (const variant of ["release", "mvp"] as CoreVariant[]) {
  describe(`chksum (${variant} build)`, () => {
    let core: Core;
    let e: ChksumExports;
    let src = 0, dst = 0;
    before(async () => {
      core = await loadCore(variant);
      e = core.exports as unknown as ChksumExports;
      src = e.bench_alloc(MAX + 16);
      dst = e.bench_alloc(MAX + 16);
    });
    const view = (ptr: number, len: number): Uint8Array => new Uint8Array(core.memory.buffer, ptr, len);

    test("RFC 1071 §3 example: sum 0xddf2, checksum 0x220d", () => {
      view(src, 8).set([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
      assert.equal(e.lwip_standard_chksum(src, 8), 0xddf2);
      assert.equal(e.inet_chksum(src, 8), 0x220d);
      assert.equal(e.inet_chksum_scalar(src, 8), 0x220d);
    });

    test("simd kernel present exactly when the build has SIMD", () => {
      assert.equal(e.chksum_simd_available(), variant === "mvp" ? 0 : 1);
    });

    test("equals the reference on random buffers (lengths 0..64 and up to 256 KiB, offsets 0..7)", () => {
      const rnd = xorshift(0x1234567 + variant.length);
      const lengths: number[] = [];
      for (let n = 0; n <= 64; n++) lengths.push(n);
      for (let i = 0; i < 250; i++) lengths.push(rnd() % (MAX + 1));
      lengths.push(MAX, MAX - 1, 1500, 65535, 65536);
      const simd = e.chksum_simd_available() !== 0;
      for (let i = 0; i < lengths.length; i++) {
        const len = lengths[i];
        const ptr = src + (i & 7);
        const b = view(ptr, len);
        for (let k = 0; k < len; k++) b[k] = rnd() & 0xff;
        const want = refChksum(b);
        const at = `len ${len} offset ${i & 7}`;
        assert.equal(e.inet_chksum(ptr, len), want, at);
        assert.equal(e.lwip_standard_chksum(ptr, len), ~want & 0xffff, at);
        assert.equal(e.inet_chksum_scalar(ptr, len), want, at);
        if (simd) assert.equal(e.inet_chksum_simd(ptr, len), want, at);
      }
    });

    test("all-0xFF data sums to negative zero", () => {
      view(src, MAX).fill(0xff);
      assert.equal(e.inet_chksum(src, MAX), 0);
      assert.equal(e.inet_chksum(src + 1, 1001), refChksum(view(src + 1, 1001)));
    });

    test("copy with checksum equals copy + checksum", () => {
      const rnd = xorshift(99);
      for (let i = 0; i < 100; i++) {
        const len = i < 40 ? i : rnd() % (MAX - 8);
        const s = src + (rnd() & 7), d = dst + (rnd() & 7);
        const from = view(s, len);
        for (let k = 0; k < len; k++) from[k] = rnd() & 0xff;
        const sum = e.inet_chksum_copy(d, s, len);
        assert.equal(sum, refSum(from), `len ${len}`);
        assert.deepEqual(view(d, len), from);
      }
    });
  });
}

describe("shape of the stub-runtime builds", () => {
  test("release imports nothing but env.abort", async () => {
    const imports = WebAssembly.Module.imports(await compileCore("release"));
    for (const i of imports) assert.deepEqual([i.module, i.name, i.kind], ["env", "abort", "function"]);
  });

  test("mvp imports nothing at all", async () => {
    assert.deepEqual(WebAssembly.Module.imports(await compileCore("mvp")), []);
  });

  test("release has no GC runtime (__new, __collect, itcms)", () => {
    const wat = readFileSync(buildFile("asip.wat"), "utf8");
    for (const name of ["__new", "__collect", "itcms"]) assert.ok(!wat.includes(name), `${name} in build/asip.wat`);
  });

  test("mvp has no v128 instructions", () => {
    const wat = readFileSync(buildFile("asip-mvp.wat"), "utf8");
    assert.ok(!/v128|i32x4|i64x2|i16x8|i8x16/.test(wat), "SIMD in build/asip-mvp.wat");
  });
});
