/**
 * A TCP transfer both ways at once over the raw API, the check several
 * IPv6 tests share: `a` connects to a listener on `b`, each side writes its
 * buffer as fast as the window lets it, and both must receive the other's
 * bytes intact (SHA-256). B closes once A's data has ended; A's pcb and the
 * listener are closed when both directions are complete.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Stack } from "../../bindings/stack.js";
import { rawApi } from "../../bindings/api/raw.js";
import { until } from "./stacks.js";

type TcpPcb = ReturnType<ReturnType<typeof rawApi>["tcp"]["new"]>;

export interface BothWays {
  /** The address of `b` that `a` connects to, and the port `b` listens on (bound to `::`). */
  dst: string;
  port: number;
  /** What A sends to B, and B to A. */
  da: Uint8Array;
  db: Uint8Array;
  timeoutMs?: number;
  /** What the wait reports when it times out. */
  what?: string;
}

const digest = (x: Uint8Array): string => createHash("sha256").update(x).digest("hex");

/** Writes `data` on `pcb` whenever its send buffer has room; returns the first push. */
function pump(pcb: TcpPcb, data: Uint8Array): () => void {
  let off = 0;
  const push = () => {
    while (off < data.length) {
      const k = pcb.write(data.subarray(off));
      if (k === 0) return;
      off += k;
    }
  };
  pcb.sent(push);
  return push;
}

export async function tcpBothWays(a: Stack, b: Stack, o: BothWays): Promise<void> {
  const gotA: Buffer[] = [], gotB: Buffer[] = [];
  let nA = 0, nB = 0;
  const l = rawApi(b).tcp.new(6).bind("::", o.port).listen();
  l.accept((pcb) => {
    pcb.recv((d) => {
      if (d) {
        gotB.push(Buffer.from(d));
        nB += d.length;
      } else pcb.close();
    });
    pump(pcb, o.db)();
  });
  const c = rawApi(a).tcp.new(6);
  c.recv((d) => {
    if (d) {
      gotA.push(Buffer.from(d));
      nA += d.length;
    }
  });
  const push = pump(c, o.da);
  c.connect(o.dst, o.port, () => push());
  await until(() => nA >= o.db.length && nB >= o.da.length, o.timeoutMs ?? 30_000, o.what ?? "TCP both ways");
  assert.equal(digest(Buffer.concat(gotB)), digest(o.da), "A → B intact");
  assert.equal(digest(Buffer.concat(gotA)), digest(o.db), "B → A intact");
  c.close();
  l.close();
}
