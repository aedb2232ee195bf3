// Host APIs over UDP (bindings/api/*): an echo server written against each
// API (raw, netconn, sockets, dgram, streams) answers a client written
// against every API, between two stacks over pair(), release and mvp; both
// stacks' heap and pools back to baseline afterwards. The echo code is in
// udp_echo.ts and runs in Worker mode too (api_worker_cross.test.ts).
import "../../bindings/api/dgram.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, settle } from "../helpers/stacks.js";
import { udpEchoMatrix } from "./udp_echo.js";

const B = "192.0.2.2";

for (const variant of VARIANTS) {
  test(`${variant}: every API's UDP echo server answers every API's client`, async () => {
    const { a, b } = await twoStacks({ variant });
    // Warm ARP both ways so the baselines see a settled neighbour table.
    const warm = a.raw.udp.new();
    warm.sendto(new Uint8Array(1), B, 9);
    await settle(5);
    warm.remove();
    await settle();
    const baseA = baseline(a), baseB = baseline(b);
    await udpEchoMatrix(a, b, async (sname) => {
      await settle();
      assertNoLeaks(b, baseB, `B after ${sname} server`);
    });
    await settle();
    assertNoLeaks(a, baseA, "A");
    await a.close();
    await b.close();
  });
}

// Stack.mem() re-makes its views when growth has detached the old buffer
// (bindings/stack.ts): datagrams before and after the core's memory grows
// carry their bytes and addresses intact.
for (const variant of VARIANTS) {
  test(`${variant}: UDP keeps working across a growth of core memory`, async () => {
    const { a, b } = await twoStacks({ variant });
    const got: string[] = [];
    const rx = b.raw.udp.new().bind("0.0.0.0", 7000);
    rx.recv((d, addr, port) => got.push(`${new TextDecoder().decode(d)} from ${addr}:${port}`));
    const tx = a.raw.udp.new().bind("0.0.0.0", 7001);
    tx.sendto(new TextEncoder().encode("before"), B, 7000);
    await settle(5);
    for (const s of [a, b]) s.core.memory.grow(1);
    tx.sendto(new TextEncoder().encode("after"), B, 7000);
    await settle(5);
    assert.deepEqual(got, ["before from 192.0.2.1:7001", "after from 192.0.2.1:7001"]);
    await a.close();
    await b.close();
  });
}
