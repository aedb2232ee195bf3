// RingLink (bindings/worker/ring-link.ts): frames through SharedArrayBuffer
// rings. In one thread: order and bytes kept across many wrap-arounds, a
// full ring drops (counted) instead of blocking, close ends both sides.
// Between two core workers (Worker mode, doorbell and Atomics.waitAsync
// wakeups): 32 MB over TCP with equal SHA-256, pools back at baseline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MessageChannel } from "node:worker_threads";
import { RingLink, ringBuffer } from "../../bindings/worker/ring-link.js";
import { StackWorker } from "../../bindings/worker/client.js";
import { until } from "../helpers/stacks.js";
import { A, B, MAC_A, MAC_B, workersNoLeaks } from "../helpers/workers.js";

test("RingLink in one thread: 20,000 frames of 1..9000 bytes keep order and bytes across wrap-arounds; a full ring drops", async () => {
  const sab = ringBuffer(131072);
  const a = new RingLink(sab, 0), b = new RingLink(sab, 1);
  const got: Uint8Array[] = [];
  b.onReceive((f) => got.push(f.slice()));
  const frame = (i: number) => {
    const f = new Uint8Array(1 + ((i * 7919) % 9000));
    f[0] = i & 255;
    f[f.length - 1] = (i >>> 8) & 255;
    return f;
  };
  let sent = 0;
  for (let i = 0; i < 20000; i++) {
    a.send(frame(i));
    sent++;
    if (a.counters.txDroppedFull > 0) break;
    if (i % 8 === 7) await until(() => got.length === sent, 2000, "delivered");
  }
  assert.equal(a.counters.txDroppedFull, 0);
  await until(() => got.length === 20000, 5000, "all frames");
  for (let i = 0; i < 20000; i++) {
    const want = frame(i);
    assert.equal(got[i].length, want.length);
    assert.equal(got[i][0], want[0]);
    assert.equal(got[i][want.length - 1], want[want.length - 1]);
  }
  // Nobody reads: the ring fills and then drops.
  b.onReceive(() => {});
  const c = new RingLink(ringBuffer(131072), 0);
  for (let i = 0; i < 100; i++) c.send(new Uint8Array(9000));
  assert.ok(c.counters.txDroppedFull > 80, `dropped when full: ${c.counters.txDroppedFull}`);
  assert.ok(c.counters.txFrames >= 13 && c.counters.txFrames <= 15);
  a.close();
  c.close();
  assert.throws(() => new RingLink(new SharedArrayBuffer(100), 0), /ringBuffer/);
});

for (const doorbell of [true, false]) {
  test(`two core workers on a RingLink (${doorbell ? "doorbell port" : "Atomics.waitAsync"} wakeups): 100 MB over TCP, SHA-256 equal, pools back`, { timeout: 120_000 }, async () => {
    const sab = ringBuffer();
    const bell = new MessageChannel();
    const [a, b] = await Promise.all([
      StackWorker.start({ interfaces: [{ link: { type: "ring", sab, side: 0, ...(doorbell ? { doorbell: bell.port1 as never } : {}) }, ip: `${A}/24`, mac: MAC_A, mtu: 9000 }], arp: [{ ip: B, mac: MAC_B }], tcpTimeWaitMs: 20 }),
      StackWorker.start({ interfaces: [{ link: { type: "ring", sab, side: 1, ...(doorbell ? { doorbell: bell.port2 as never } : {}) }, ip: `${B}/24`, mac: MAC_B, mtu: 9000 }], arp: [{ ip: A, mac: MAC_A }], tcpTimeWaitMs: 20 }),
    ]);
    try {
      const baseA = await a.usage(), baseB = await b.usage();
      const N = 100 << 20;
      const data = new Uint8Array(N);
      for (let i = 0; i < N; i += 1000) data[i] = (i / 1000) & 255;
      const l = b.raw.tcp.new().bind("0.0.0.0", 9).listen();
      await l.ready;
      const hash = createHash("sha256");
      let got = 0;
      const done = new Promise<void>((resolve) => {
        l.accept((pcb) => {
          pcb.recv((d) => {
            if (d === null) { pcb.close(); resolve(); return; }
            hash.update(d);
            got += d.length;
          });
        });
      });
      const c = a.raw.tcp.new();
      let off = 0;
      const pump = () => {
        while (off < N) {
          const k = c.write(data.subarray(off, off + 65536));
          if (!k) return;
          off += k;
        }
        c.sent(undefined);
        c.close();
      };
      c.connect(B, 9, () => { c.sent(pump); pump(); });
      await done;
      l.close();
      assert.equal(got, N);
      assert.equal(hash.digest("hex"), createHash("sha256").update(data).digest("hex"));
      const counters = (await a.linkCounters())[2] as Record<string, number>;
      assert.ok(counters.rxFrames > 0 && counters.txDroppedFull === 0, JSON.stringify(counters));
      assert.ok(counters.rxFrames / counters.wakeups > 1, `many frames per wakeup: ${JSON.stringify(counters)}`);
      await workersNoLeaks(a, baseA, b, baseB);
    } finally {
      await a.close();
      await b.close();
    }
  });
}
