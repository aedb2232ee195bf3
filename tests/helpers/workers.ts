// Worker mode helpers shared by the api_worker*, worker_* tests: two core
// workers joined by a MessagePort link (A = 192.0.2.1, B = 192.0.2.2) with
// static ARP and a short TIME_WAIT, the leak check asked inside the
// workers, and blocking clients (tests/helpers/blocking-client.ts) in
// Workers of their own. Not a test file itself.
import assert from "node:assert/strict";
import { MessageChannel, Worker } from "node:worker_threads";
import { after } from "node:test";
import { StackWorker } from "../../bindings/worker/client.js";

export const A = "192.0.2.1", B = "192.0.2.2";
export const MAC_A = "02:00:00:00:00:01", MAC_B = "02:00:00:00:00:02";

// Whatever a failed test left running is terminated at the end (a client
// blocked in Atomics.wait would otherwise keep the test process alive).
const started: StackWorker[] = [];
const clients = new Set<Worker>();
after(async () => {
  for (const w of started) await w.terminate();
  for (const w of clients) await w.terminate();
});

/** Two core workers on one link, and their heap/pool baselines (asked inside the workers). */
export async function twoWorkers(variant: "release" | "mvp" | "ipv4") {
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

/**
 * A blocking client (tests/helpers/blocking-client.ts, `role`) in a Worker
 * of its own, on a mailbox or a port of a core worker. `next()` is its next
 * report; it rejects if the Worker fails or ends without one.
 */
export function blockingClient(role: string, to: SharedArrayBuffer | MessagePort, extra: Record<string, unknown> = {}) {
  const transfer = to instanceof SharedArrayBuffer ? [] : [to as never];
  const w = new Worker(new URL("./blocking-client.js", import.meta.url), { workerData: { role, to, ...extra }, transferList: transfer });
  clients.add(w);
  const messages: unknown[] = [];
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((f) => f());
  let error: Error | undefined;
  let ended = false;
  w.on("message", (m) => {
    messages.push(m);
    wake();
  });
  w.on("error", (e) => {
    error = e;
    wake();
  });
  // Made now, not when awaited: the exit may come before anyone asks.
  const exited = new Promise<number>((r) => w.once("exit", (code) => {
    ended = true;
    clients.delete(w);
    wake();
    r(code);
  }));
  const next = async (): Promise<any> => {
    while (messages.length === 0) {
      if (error) throw error;
      if (ended) throw new Error(`blocking client "${role}" ended without a report`);
      await new Promise<void>((r) => waiters.push(r));
    }
    return messages.shift();
  };
  return { w, next, exited };
}

/**
 * `p`, or a failure naming `what` if it has not settled after `ms`: turns a
 * hang into a failing test with a clear message (it detects; it fixes nothing).
 */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not finished after ${ms / 1000} s: a hang`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
