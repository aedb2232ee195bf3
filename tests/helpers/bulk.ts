/**
 * A bulk TCP transfer both ways at once between two stacks over the raw
 * API (tests/node/tcp.test.ts, tcp_loss.test.ts): each end sends `total`
 * bytes from its source, hashing what it sends and what it receives,
 * half-closes when done sending and closes once the peer's FIN is in too.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Stack } from "../../bindings/stack.js";
import { rawApi, type TcpPcb } from "../../bindings/api/raw.js";
import { until } from "./stacks.js";

/**
 * The next bytes an end sends: called once per chunk, with the offset
 * reached and the most still wanted; returns at most that many (a chunk the
 * pcb takes only in part is written again from its rest, not asked anew).
 */
export type ByteSource = (offset: number, max: number) => Uint8Array;

/** A source that repeats `pat`, a doubled pattern of period `period` (any `period` bytes from an offset below it are contiguous). */
export function patternSource(pat: Uint8Array, period: number, chunk = 256 * 1024): ByteSource {
  return (offset, max) => {
    const off = offset % period;
    return pat.subarray(off, off + Math.min(max, period, chunk));
  };
}

/** A deterministic stream made as it is sent (no buffer of the whole size): xorshift32 from `seed`. */
export function xorshiftSource(seed: number, chunk = 64 * 1024): ByteSource {
  let x = seed | 1;
  return (_offset, max) => {
    const b = new Uint8Array(Math.min(max, chunk));
    for (let i = 0; i < b.length; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      b[i] = x & 0xff;
    }
    return b;
  };
}

/** One end of the transfer. */
export class Bulk {
  private sentBytes = 0;
  private pending: Uint8Array | null = null;
  recvBytes = 0;
  private readonly txHash = createHash("sha256");
  private readonly rxHash = createHash("sha256");
  txDigest = "";
  rxDigest = "";
  finSent = false;
  finRecv = false;
  closed = false;
  error: Error | undefined;

  constructor(readonly pcb: TcpPcb, private readonly source: ByteSource, readonly total: number) {
    pcb.recv((d) => {
      if (d === null) {
        this.finRecv = true;
        this.rxDigest = this.rxHash.digest("hex");
        this.maybeClose();
        return;
      }
      this.rxHash.update(d);
      this.recvBytes += d.length;
    });
    pcb.sent(() => this.pump());
    pcb.err((e) => (this.error = e));
  }

  pump(): void {
    if (this.closed || this.finSent) return;
    while (this.sentBytes < this.total) {
      this.pending ??= this.source(this.sentBytes, this.total - this.sentBytes);
      const n = this.pcb.write(this.pending);
      if (n > 0) {
        this.txHash.update(this.pending.subarray(0, n));
        this.sentBytes += n;
        this.pending = n < this.pending.length ? this.pending.subarray(n) : null;
      }
      if (this.pending) return;
    }
    this.txDigest = this.txHash.digest("hex");
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

export interface BulkOptions {
  bytes: number;
  /** What A (the client) and B (the server, listening on 0.0.0.0) send. */
  sourceA: ByteSource;
  sourceB: ByteSource;
  port?: number;
  /** B's address, as A connects to it. */
  host?: string;
  timeoutMs: number;
  what?: string;
}

/** Transfers `bytes` each way between A (client) and B (server) at once; checks that neither end failed. */
export async function bulkBothWays(a: Stack, b: Stack, o: BulkOptions): Promise<{ client: Bulk; server: Bulk; ms: number }> {
  const port = o.port ?? 5001;
  const listener = rawApi(b).tcp.new().bind("0.0.0.0", port).listen(4);
  let server: Bulk | undefined;
  listener.accept((pcb) => {
    server = new Bulk(pcb, o.sourceB, o.bytes);
    server.pump();
  });
  const t0 = performance.now();
  const c = rawApi(a).tcp.new();
  const client = new Bulk(c, o.sourceA, o.bytes);
  c.connect(o.host ?? "192.0.2.2", port, (err) => {
    assert.equal(err, null);
    client.pump();
  });
  await until(() => (client.closed && !!server?.closed) || !!client.error || !!server?.error, o.timeoutMs,
    o.what ?? `bulk transfer of ${o.bytes} bytes each way`);
  const ms = performance.now() - t0;
  listener.close();
  assert.equal(client.error, undefined, `client: ${client.error}`);
  assert.equal(server!.error, undefined, `server: ${server!.error}`);
  return { client, server: server!, ms };
}

/** Every byte arrived each way, and what each end received hashes as what the other sent. */
export function checkBulk(r: { client: Bulk; server: Bulk }, bytes: number): void {
  assert.equal(r.server.recvBytes, bytes, "A → B bytes");
  assert.equal(r.client.recvBytes, bytes, "B → A bytes");
  assert.equal(r.server.rxDigest, r.client.txDigest, "A → B SHA-256");
  assert.equal(r.client.rxDigest, r.server.txDigest, "B → A SHA-256");
}
