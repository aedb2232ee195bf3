// Proof that node:net on asip is really compatible: Node's own http module
// serves over asip (an http.Server fed with emit('connection', asipSocket))
// and fetches over asip (http.request with createConnection), keep-alive
// included, and node:tls runs over asip sockets both ways (tls.connect({
// socket }) and new tls.TLSSocket(socket, { isServer: true })) with a
// self-signed certificate generated for the test by openssl (or, without
// openssl, the test-only fixture in tests/fixtures/). Two stacks over
// pair(), release and mvp, leak-checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import "../../bindings/api/net.js";
import type { Socket } from "../../bindings/api/net.js";
import { VARIANTS } from "../helpers/stacks.js";
import { testCert } from "../helpers/tls.js";
import { tcpStacks, noLeaks } from "./api_tcp_common.js";

const B = "192.0.2.2";

function body(res: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on("data", (d: Buffer) => parts.push(d));
    res.on("end", () => resolve(Buffer.concat(parts)));
    res.on("error", reject);
  });
}

for (const variant of VARIANTS) {
  test(`${variant}: Node's http serves and fetches over asip (bodies both ways, keep-alive, 1 MiB response)`, async () => {
    const { a, b, baseA, baseB } = await tcpStacks(variant);
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >>> 11)) & 0xff;
    const hs = http.createServer(async (req, res) => {
      const got = await body(req);
      if (req.url === "/big") {
        res.setHeader("content-type", "application/octet-stream");
        res.end(big);
        return;
      }
      res.setHeader("x-remote", `${req.socket.remoteAddress}:${req.socket.remotePort}`);
      res.end(`${req.method} ${req.url} ${got.length} ${createHash("sha256").update(got).digest("hex").slice(0, 16)}`);
    });
    const srv = b.net.createServer((s) => hs.emit("connection", s));
    await new Promise<void>((r) => srv.listen(80, r));

    // One connection per request (createConnection, no agent).
    const req = (method: string, url: string, payload?: Buffer) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; data: Buffer }>((resolve, reject) => {
      const r = http.request({ host: B, port: 80, method, path: url, createConnection: () => a.net.createConnection(80, B) as unknown as import("node:net").Socket },
        async (res) => resolve({ status: res.statusCode!, headers: res.headers, data: await body(res) }));
      r.on("error", reject);
      r.end(payload);
    });
    const post = Buffer.alloc(300_000, 0x61);
    const r1 = await req("POST", "/upload", post);
    assert.equal(r1.status, 200);
    assert.equal(r1.data.toString(), `POST /upload 300000 ${createHash("sha256").update(post).digest("hex").slice(0, 16)}`);
    // listen(80) without a host is '::', dual-stack, as in Node: the IPv4 client is IPv4-mapped.
    assert.match(String(r1.headers["x-remote"]), /^::ffff:192\.0\.2\.1:\d+$/);
    const r2 = await req("GET", "/big");
    assert.equal(r2.data.length, big.length);
    assert.ok(r2.data.equals(big));

    // Keep-alive through an Agent whose sockets are asip's: several requests, one connection.
    let made = 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // Agent.prototype.createConnection is what an Agent calls for a new socket.
    (agent as unknown as { createConnection: (o: { port: number; host: string }) => unknown }).createConnection = (o) => {
      made++;
      return a.net.createConnection(Number(o.port), String(o.host));
    };
    for (let i = 0; i < 5; i++) {
      const r = await new Promise<string>((resolve, reject) => {
        http.get({ host: B, port: 80, path: `/k${i}`, agent }, async (res) => resolve((await body(res)).toString())).on("error", reject);
      });
      assert.match(r, new RegExp(`^GET /k${i} 0 `));
    }
    assert.equal(made, 1, "keep-alive reused one asip connection");
    agent.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
    hs.close();
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });

  test(`${variant}: node:tls over asip sockets: tls.connect({ socket }) against new tls.TLSSocket(socket, { isServer: true })`, async () => {
    const { a, b, baseA, baseB } = await tcpStacks(variant);
    const { key, cert } = testCert();
    const serverSide: tls.TLSSocket[] = [];
    const srv = b.net.createServer((s: Socket) => {
      const t = new tls.TLSSocket(s as unknown as import("node:net").Socket, { isServer: true, key, cert });
      serverSide.push(t);
      // Echo with a prefix, byte-exact.
      t.on("data", (d: Buffer) => t.write(Buffer.concat([Buffer.from("echo:"), d])));
      t.on("end", () => t.end());
      t.on("error", () => {});
    });
    await new Promise<void>((r) => srv.listen(443, r));
    const rawSock = a.net.connect(443, B);
    const t = tls.connect({ socket: rawSock as unknown as import("node:net").Socket, ca: cert, servername: "asip.test" });
    await new Promise<void>((resolve, reject) => {
      t.once("secureConnect", resolve);
      t.once("error", reject);
    });
    assert.equal(t.authorized, true, String(t.authorizationError));
    assert.equal(t.getProtocol(), "TLSv1.3");
    assert.equal(t.getPeerCertificate().subject.CN, "asip.test");
    // 256 KiB through TLS, echoed back.
    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
    let got = Buffer.alloc(0);
    const want = 5 * Math.ceil(payload.length / 16384) + payload.length; // one "echo:" per TLS record at most 16 KiB
    t.on("data", (d: Buffer) => (got = Buffer.concat([got, d])));
    t.write(payload);
    await new Promise<void>((resolve) => {
      const check = () => {
        const stripped = Buffer.from(got.toString("latin1").split("echo:").join(""), "latin1");
        if (stripped.length >= payload.length) return resolve();
        setTimeout(check, 5);
      };
      check();
    });
    const stripped = Buffer.from(got.toString("latin1").split("echo:").join(""), "latin1");
    assert.ok(stripped.equals(payload), "TLS payload byte-exact");
    assert.ok(got.length <= want + payload.length);
    // A wrong CA is refused by the client (the handshake really verifies).
    const bad = tls.connect({ socket: a.net.connect(443, B) as unknown as import("node:net").Socket, servername: "asip.test" });
    const e = await new Promise<NodeJS.ErrnoException>((r) => bad.once("error", r));
    assert.equal(e.code, "DEPTH_ZERO_SELF_SIGNED_CERT");
    bad.destroy();
    t.end();
    await new Promise((r) => t.once("close", r));
    await new Promise<void>((r) => srv.close(() => r()));
    for (const s of serverSide) s.destroy();
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });
}
