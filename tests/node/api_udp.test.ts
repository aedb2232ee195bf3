// Host APIs over UDP (bindings/api/*): an echo server written against each
// API (raw, netconn, sockets, dgram, streams) answers a client written
// against every API, between two stacks over pair(), release and mvp; both
// stacks' heap and pools back to baseline afterwards. The echo code is in
// udp_echo.ts and runs in Worker mode too (api_worker_cross.test.ts).
import "../../bindings/api/dgram.js";
import { test } from "node:test";
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
