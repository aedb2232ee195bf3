// Worker mode (bindings/worker): cores in Workers, two of them joined by a
// MessagePort link, release and mvp. The scenarios live in
// worker_scenarios.ts (tests/stress/worker.test.ts repeats them under a
// competing CPU load): the sockets echo through the RPC, a C-style blocking
// echo client in a Worker, errno names both ways, close() and terminate()
// waking blocked clients, pools back to baseline. Then the mailbox protocol
// alone: a CLOSED that lands inside a blocking call is not lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAILBOX_BYTES } from "../../bindings/worker/protocol.js";
import { workerScenarios } from "./worker_scenarios.js";
import { blockingClient, deadline } from "../helpers/workers.js";

for (const variant of ["release", "mvp"] as const) {
  for (const s of workerScenarios) test(`${variant}: worker mode: ${s.name}`, () => s.run(variant));
}

test("worker mode: a mailbox closed while a call writes its request fails the call with ESHUTDOWN (no wait)", async () => {
  // The mailbox protocol alone (no core): CLOSED stored between the
  // client's first look at the mailbox and its request must not be lost.
  // It was, and the client waited in Atomics.wait forever.
  const client = blockingClient("closed-mid-call", new SharedArrayBuffer(MAILBOX_BYTES));
  const rep = await deadline(client.next(), 10_000, "a blocking call on a mailbox closed mid-call");
  assert.equal(rep.during.code, "ESHUTDOWN");
  assert.equal(rep.after.code, "ESHUTDOWN");
  assert.equal(await client.exited, 0);
});
