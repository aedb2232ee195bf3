// The corpus of malformed frames (tests/fixtures/bad-frames.jsonl, made by
// make-bad-frames.mjs): every frame is dropped and counted, nothing traps,
// and the pools return to baseline — in the release and the mvp build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Stack } from "../../bindings/stack.js";
import { VARIANTS, baseline, assertNoLeaks } from "../helpers/stacks.js";
import type { StackStats } from "../../bindings/abi.js";

interface Entry { name: string; hex: string; why: string; expect: "drop" | "any" }

const corpus: Entry[] = readFileSync(new URL("../../../tests/fixtures/bad-frames.jsonl", import.meta.url), "utf8")
  .trim().split("\n").map((l) => JSON.parse(l) as Entry);

/** Every counter that records a discarded packet, summed over all protocols. */
function discards(s: StackStats): number {
  let n = 0;
  for (const p of Object.values(s.proto)) n += p.drop + p.chkerr + p.lenerr + p.proterr + p.err + p.memerr + p.opterr;
  return n;
}

for (const variant of VARIANTS) {
  test(`${variant}: ${corpus.length} malformed frames are dropped and counted, no trap, no leak`, async () => {
    const s = await Stack.create({ variant, manualClock: true });
    const base = baseline(s);
    const sent: Uint8Array[] = [];
    const iface = s.addInterface({ send: (f) => void sent.push(f.slice()), onReceive() {}, close() {} },
      { ip: "192.0.2.2/24", mac: "02:00:00:00:00:02", ip6: ["2001:db8::2/64"], dad: false });
    s.advance(1000);
    for (const e of corpus) {
      const frame = Buffer.from(e.hex, "hex");
      const before = discards(s.stats());
      s.input(iface, frame);
      s.drainNow();
      assert.equal(s.failure, undefined, `${e.name}: the core trapped`);
      if (e.expect === "drop") assert.ok(discards(s.stats()) > before, `${e.name} (${e.why}) was not counted as dropped`);
    }
    // Reassembly (IPv6: 60 s), ARP and ND state time out; then everything is back.
    for (let i = 0; i < 70; i++) s.advance(1000);
    await s.removeInterface(iface);
    for (let i = 0; i < 3; i++) s.advance(1000);
    assertNoLeaks(s, base, variant);
    assert.equal(s.stats().mem.illegal, 0);
    await s.close();
  });
}
