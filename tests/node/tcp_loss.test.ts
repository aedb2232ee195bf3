// TCP loss recovery between two stacks over pair() with the JS link's loss
// impairment, release and mvp builds: several rounds of 64 MiB each way at
// once at 5% loss on the same two stacks, each checked by SHA-256 and with
// every pool and the heap back at baseline after the round (a segment or
// pbuf kept by the scoreboard, RACK's marks or a loss probe would show up
// as a pool not coming back, and a byte resent wrongly as a bad digest).
// The loss counters of both stacks (cumulative) are printed after each
// round, not asserted: they depend on timing.
//
// Measured (2 cores shared with other work): a round takes 1.0–4.0 s,
// release and mvp alike, with 0–5 timeouts per stack; before RACK, the kept
// scoreboard and the probe in recovery the same transfer took 1.9–6.6 s,
// with up to 12 timeouts per stack. tests/node/tcp.test.ts has the
// single-round impairment matrix.
import { test } from "node:test";
import type { Stack } from "../../bindings/stack.js";
import { rawApi } from "../../bindings/api/raw.js";
import { VARIANTS, twoStacks, baseline } from "../helpers/stacks.js";
import { bulkBothWays, checkBulk, xorshiftSource } from "../helpers/bulk.js";
import { noLeaks } from "./api_tcp_common.js";

const MiB = 1 << 20;
const ROUNDS = Number(process.env.TCP_LOSS_ROUNDS ?? 3);
const BYTES = Number(process.env.TCP_LOSS_MIB ?? 64) * MiB;
const TIME_WAIT_MS = 50;
const MIB_NAMES = [
  "RTO", "FAST_RECOVERY", "FAST_REXMIT", "SACK_REXMIT", "DUPACK", "SPURIOUS_RTO", "RTO_RESENT", "ACK_DROPPED",
  "LOST_REXMIT", "TLP", "RACK_LOST", "SACK_RENEGE", "DSACK",
];

/** The core's TcpMib counters (assembly/tcp/tcp.ts), nonzero ones only. */
function tcpMib(s: Stack): Record<string, number> {
  const m = new Uint32Array(s.core.memory.buffer, s.ex.tcp_mib_base(), MIB_NAMES.length);
  return Object.fromEntries(MIB_NAMES.map((n, i) => [n, m[i]]).filter(([, v]) => v !== 0));
}

for (const variant of VARIANTS) {
  test(`${variant}: ${ROUNDS} rounds of ${BYTES / MiB} MiB each way at once over 5% loss, equal SHA-256, pools back to baseline after each`, { timeout: 600_000 }, async () => {
    const { a, b, ea, eb } = await twoStacks({ variant, pair: { seed: 21, loss: 0.05 } });
    a.addStaticArp("192.0.2.2", Uint8Array.of(2, 0, 0, 0, 0, 2));
    b.addStaticArp("192.0.2.1", Uint8Array.of(2, 0, 0, 0, 0, 1));
    rawApi(a).tcp.setTimeWait(TIME_WAIT_MS);
    rawApi(b).tcp.setTimeWait(TIME_WAIT_MS);
    const baseA = baseline(a), baseB = baseline(b);
    try {
      for (let r = 0; r < ROUNDS; r++) {
        const seed = r + 1;
        const res = await bulkBothWays(a, b, {
          bytes: BYTES, port: 5001 + r, sourceA: xorshiftSource(seed * 2), sourceB: xorshiftSource(seed * 2 + 1),
          timeoutMs: 200_000, what: `round ${seed}: ${BYTES} bytes each way`,
        });
        checkBulk(res, BYTES);
        const ms = res.ms;
        process.stderr.write(`# ${variant} round ${r + 1}: 2 × ${BYTES / MiB} MiB in ${ms.toFixed(0)} ms; A ${JSON.stringify(tcpMib(a))} B ${JSON.stringify(tcpMib(b))}; cable A→B lost ${ea.counters.lost}, B→A lost ${eb.counters.lost}\n`);
        await new Promise((res) => setTimeout(res, TIME_WAIT_MS * 3));
        await noLeaks(a, baseA, b, baseB);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
}
