// The host APIs against the Linux kernel through a TAP in a namespace
// (issue 5, "Peer"): curl fetching from Node's own http module serving over
// asip's node:net (a server fed with `emit('connection', socket)`), and
// asip's http.request (`createConnection` → stack.net) fetching from a
// kernel `python3 -m http.server`; ~10 MB bodies, SHA-256 equal both ways.
// Every frame on both sides is checked by tshark at the end (tests/helpers/peer.ts).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { canRunPeerTests } from "../helpers/netns.js";
import { peerStack, type PeerFixture } from "../helpers/peer.js";
import "../../bindings/api/net.js";

const skip = canRunPeerTests(["curl", "python3", "tshark"]);
const N = 10_000_000;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("host APIs against the Linux kernel", { skip: skip ?? false }, () => {
  let fx: PeerFixture;
  before(async () => {
    fx = await peerStack([{ asipIp: "192.0.2.2/24" }]);
  });
  after(async () => {
    const bad = await fx.finish();
    assert.deepEqual(bad, [], "tshark: bad checksums or malformed frames");
  });

  test("curl → node:http served over stack.net: a small page and a 10 MB body, SHA-256 equal", { timeout: 120_000 }, async () => {
    const body = randomBytes(N);
    const server = http.createServer((req, res) => {
      if (req.url === "/big") {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(N) });
        res.end(body);
      } else {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("hello from node:http over asip\n");
      }
    });
    const lst = fx.stack.net.createServer((sock) => server.emit("connection", sock));
    await new Promise<void>((r) => lst.listen(80, "0.0.0.0", r));
    try {
      const { ns } = fx.sides[0];
      const small = await ns.run("curl", ["-sS", "--max-time", "20", "-i", "http://192.0.2.2/"], { timeoutMs: 30_000 });
      assert.match(small.stdout, /^HTTP\/1\.1 200 OK/, small.stderr);
      assert.match(small.stdout, /hello from node:http over asip\n$/);
      const big = await ns.run("sh", ["-c", "curl -sS --max-time 90 http://192.0.2.2/big | sha256sum"], { timeoutMs: 100_000 });
      assert.equal(big.stdout.split(" ")[0], sha256(body), big.stderr);
    } finally {
      await new Promise<void>((r) => lst.close(() => r()));
      server.close();
    }
  });

  test("http.request over stack.net.createConnection ← kernel python3 -m http.server: 10 MB, SHA-256 equal", { timeout: 120_000 }, async () => {
    const { ns } = fx.sides[0];
    const file = randomBytes(N);
    writeFileSync(path.join(fx.dir, "big.bin"), file);
    ns.spawn("python3", ["-m", "http.server", "8080", "--bind", "192.0.2.1", "--directory", fx.dir], { stdio: "ignore" });
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      const r = await ns.run("sh", ["-c", "curl -s -o /dev/null -w '%{http_code}' http://192.0.2.1:8080/"]);
      up = r.stdout.trim() === "200";
      if (!up) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(up, "python3 -m http.server did not come up");
    const got = await new Promise<{ status: number; len: number; sha: string }>((resolve, reject) => {
      const req = http.request({
        // No agent: with createConnection and no agent, http.request takes its socket from it.
        host: "192.0.2.1", port: 8080, path: "/big.bin",
        createConnection: () => fx.stack.net.createConnection({ port: 8080, host: "192.0.2.1" }) as never,
      }, (res) => {
        const h = createHash("sha256");
        let len = 0;
        res.on("data", (d: Buffer) => {
          h.update(d);
          len += d.length;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, len, sha: h.digest("hex") }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.setTimeout(90_000, () => req.destroy(new Error("http.request timed out")));
      req.end();
    });
    assert.equal(got.status, 200);
    assert.equal(got.len, N);
    assert.equal(got.sha, sha256(file));
  });
});
