// Worker mode helpers shared by the api_worker*, worker_* tests: two core
// workers joined by a MessagePort link (A = 192.0.2.1, B = 192.0.2.2) with
// static ARP and a short TIME_WAIT, and the leak check asked inside the
// workers. Not a test file itself.
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { after } from "node:test";
import { StackWorker } from "../../bindings/worker/client.js";

export const A = "192.0.2.1", B = "192.0.2.2";
export const MAC_A = "02:00:00:00:00:01", MAC_B = "02:00:00:00:00:02";

// Whatever a failed test left running is terminated at the end.
const started: StackWorker[] = [];
after(async () => {
  for (const w of started) await w.terminate();
});

/** Two core workers on one link, and their heap/pool baselines (asked inside the workers). */
export async function twoWorkers(variant: "release" | "mvp") {
  const ch = new MessageChannel();
  const [a, b] = await Promise.all([
    StackWorker.start({ variant, interfaces: [{ link: { type: "port", port: ch.port1 as never }, ip: `${A}/24`, mac: MAC_A }], arp: [{ ip: B, mac: MAC_B }], tcpTimeWaitMs: 20 }),
    StackWorker.start({ variant, interfaces: [{ link: { type: "port", port: ch.port2 as never }, ip: `${B}/24`, mac: MAC_B }], arp: [{ ip: A, mac: MAC_A }], tcpTimeWaitMs: 20 }),
  ]);
  started.push(a, b);
  return { a, b, baseA: await a.usage(), baseB: await b.usage() };
}

/** Waits out TIME_WAIT: both workers' heap and pools back at baseline. */
export async function workersNoLeaks(a: StackWorker, baseA: unknown, b: StackWorker, baseB: unknown, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const [ua, ub] = await Promise.all([a.usage(), b.usage()]);
    try {
      assert.deepEqual(ua, baseA, "A: heap/pools not back to baseline");
      assert.deepEqual(ub, baseB, "B: heap/pools not back to baseline");
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
