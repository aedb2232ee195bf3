/**
 * An echo client on the kernel's TCP (Node's own net module), run inside a
 * test namespace with `ip netns exec NS node kernel-echo-client.js ARGS`:
 *
 *   --host ADDR --port N      the echo server (asip)
 *   --conns N --size BYTES    N connections, each sending BYTES and reading them back
 *   --parallel N              at most N connections open at once (default: all)
 *   --pause-at BYTES --pause-ms MS
 *                             each connection stops reading for MS once it has
 *                             read BYTES (a reader that stalls mid-transfer)
 *   --timeout-ms MS           give up after MS (default 120000)
 *
 * Each connection writes pseudo-random bytes, half-closes (end), and reads
 * until the server closes; it is good when the SHA-256 of what came back
 * equals that of what was sent. Prints one JSON line:
 * {"ok":N,"bad":N,"errors":[…],"bytes":N,"ms":N}. Exits 0 when every
 * connection was good.
 */
import net from "node:net";
import { createHash, randomBytes } from "node:crypto";

function arg(name: string, def?: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) {
    if (def === undefined) throw new Error(`--${name} is required`);
    return def;
  }
  return Number(process.argv[i + 1]);
}
const host = process.argv[process.argv.indexOf("--host") + 1];
const port = arg("port");
const conns = arg("conns", 1);
const size = arg("size");
const parallel = arg("parallel", conns);
const pauseAt = arg("pause-at", -1);
const pauseMs = arg("pause-ms", 0);
const timeoutMs = arg("timeout-ms", 120_000);

// One random block, sent at a per-connection offset: cheap for 1,000 connections.
const block = randomBytes(Math.max(size, 1) + 4096);

function one(k: number): Promise<string | null> {
  const off = (k * 977) % 4096;
  const data = block.subarray(off, off + size);
  const want = createHash("sha256").update(data).digest("hex");
  return new Promise((resolve) => {
    const h = createHash("sha256");
    let got = 0;
    let paused = false;
    const s = net.connect({ host, port }, () => s.end(data));
    s.on("data", (d: Buffer) => {
      h.update(d);
      got += d.length;
      if (pauseAt >= 0 && !paused && got >= pauseAt) {
        paused = true;
        s.pause();
        setTimeout(() => s.resume(), pauseMs);
      }
    });
    s.on("error", (e) => resolve(`conn ${k}: ${e.message} after ${got} bytes`));
    s.on("close", (hadError) => {
      if (hadError) return;
      const sum = h.digest("hex");
      resolve(sum === want && got === size ? null : `conn ${k}: ${got} of ${size} bytes, sha256 ${sum === want ? "equal" : "differs"}`);
    });
  });
}

const t0 = Date.now();
const timer = setTimeout(() => {
  console.log(JSON.stringify({ ok: 0, bad: conns, errors: [`timed out after ${timeoutMs} ms`], bytes: 0, ms: Date.now() - t0 }));
  process.exit(2);
}, timeoutMs);

let next = 0, ok = 0, bad = 0;
const errors: string[] = [];
async function worker(): Promise<void> {
  while (next < conns) {
    const r = await one(next++);
    if (r === null) ok++;
    else {
      bad++;
      if (errors.length < 10) errors.push(r);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(parallel, conns) }, worker));
clearTimeout(timer);
console.log(JSON.stringify({ ok, bad, errors, bytes: ok * size, ms: Date.now() - t0 }));
process.exit(bad === 0 ? 0 : 1);
