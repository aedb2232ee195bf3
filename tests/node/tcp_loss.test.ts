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
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Stack } from "../../bindings/stack.js";
import { rawApi, type TcpPcb } from "../../bindings/api/raw.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, until, type Usage } from "../helpers/stacks.js";

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

/** A deterministic byte stream: xorshift32 from `seed`, generated as it is sent. */
class Source {
  private x: number;
  constructor(seed: number) { this.x = seed | 1; }
  fill(b: Uint8Array): void {
    let x = this.x;
    for (let i = 0; i < b.length; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      b[i] = x & 0xff;
    }
    this.x = x;
  }
}

/** One end: sends `total` bytes of its source, hashes what it sends and what it receives, half-closes, closes on the peer's FIN. */
class End {
  private sent = 0;
  private pending: Uint8Array | null = null;
  private readonly src: Source;
  received = 0;
  readonly tx = createHash("sha256");
  readonly rx = createHash("sha256");
  txDigest = "";
  rxDigest = "";
  finSent = false;
  finRecv = false;
  closed = false;
  error: Error | undefined;

  constructor(readonly pcb: TcpPcb, seed: number, readonly total: number) {
    this.src = new Source(seed);
    pcb.recv((d) => {
      if (d === null) {
        this.finRecv = true;
        this.rxDigest = this.rx.digest("hex");
        this.maybeClose();
        return;
      }
      this.rx.update(d);
      this.received += d.length;
    });
    pcb.sent(() => this.pump());
    pcb.err((e) => (this.error = e));
  }

  pump(): void {
    if (this.closed || this.finSent) return;
    while (this.sent < this.total) {
      if (!this.pending) {
        this.pending = new Uint8Array(Math.min(64 * 1024, this.total - this.sent));
        this.src.fill(this.pending);
      }
      const n = this.pcb.write(this.pending);
      if (n > 0) {
        this.tx.update(this.pending.subarray(0, n));
        this.sent += n;
        this.pending = n < this.pending.length ? this.pending.subarray(n) : null;
      }
      if (this.pending) return;
    }
    this.txDigest = this.tx.digest("hex");
    this.finSent = true;
    this.pcb.shutdown(false, true);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.finSent && this.finRecv && !this.closed) {
      this.closed = true;
      this.pcb.close();
    }
  }
}

async function round(a: Stack, b: Stack, port: number, seed: number): Promise<number> {
  const listener = rawApi(b).tcp.new().bind("0.0.0.0", port).listen(4);
  let server: End | undefined;
  listener.accept((pcb) => {
    server = new End(pcb, seed * 2 + 1, BYTES);
    server.pump();
  });
  const t0 = performance.now();
  const c = rawApi(a).tcp.new();
  const client = new End(c, seed * 2, BYTES);
  c.connect("192.0.2.2", port, (err) => {
    assert.equal(err, null);
    client.pump();
  });
  await until(() => (client.closed && !!server?.closed) || !!client.error || !!server?.error, 200_000, `round ${seed}: ${BYTES} bytes each way`);
  const ms = performance.now() - t0;
  listener.close();
  assert.equal(client.error, undefined, `client: ${client.error}`);
  assert.equal(server!.error, undefined, `server: ${server!.error}`);
  assert.equal(server!.received, BYTES, "A → B bytes");
  assert.equal(client.received, BYTES, "B → A bytes");
  assert.equal(server!.rxDigest, client.txDigest, "A → B SHA-256");
  assert.equal(client.rxDigest, server!.txDigest, "B → A SHA-256");
  return ms;
}

async function backToBaseline(a: Stack, baseA: Usage, b: Stack, baseB: Usage): Promise<void> {
  await new Promise((r) => setTimeout(r, TIME_WAIT_MS * 3));
  await until(() => {
    try {
      assertNoLeaks(a, baseA, "A");
      assertNoLeaks(b, baseB, "B");
      return true;
    } catch {
      return false;
    }
  }, 5000, "pools back to baseline");
  assertNoLeaks(a, baseA, "A");
  assertNoLeaks(b, baseB, "B");
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
        const ms = await round(a, b, 5001 + r, r + 1);
        process.stderr.write(`# ${variant} round ${r + 1}: 2 × ${BYTES / MiB} MiB in ${ms.toFixed(0)} ms; A ${JSON.stringify(tcpMib(a))} B ${JSON.stringify(tcpMib(b))}; cable A→B lost ${ea.counters.lost}, B→A lost ${eb.counters.lost}\n`);
        await backToBaseline(a, baseA, b, baseB);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
}
