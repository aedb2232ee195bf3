// Worker mode, the API tests again: the cores run in Workers (two of them
// joined by a MessagePort link) and every API is used from the main thread
// through StackWorker: raw (remote pcbs), netconn and sockets (Promise
// calls), node:net, node:dgram and WHATWG streams (the in-thread
// implementations over the remote pcbs).
// - The 25-pair TCP echo matrix of api_tcp_cross.test.ts, with the very
//   same server and client code (api_echo.ts), release and mvp; the UDP one
//   of api_udp.test.ts (udp_echo.ts).
// - Errors cross the port with their codes: refused, reset, port in use
//   (net, sockets, streams, raw, dgram), misuse raising at once.
// - Node's http serves and fetches over the cores in Workers.
// - UDP through dgram, streams and raw pcbs.
// - A reader in the main thread that stops reading closes the TCP window
//   on the wire (the sender's core stops taking bytes), then the transfer
//   completes byte-exact.
// Every test ends with both workers' heap and pools back at baseline
// (asked inside the workers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import http from "node:http";
import "../../bindings/api/net.js";
import * as S from "../../bindings/api/sockets.js";
import type { SocketError } from "../../bindings/api/errno.js";
import { AsipError } from "../../bindings/abi.js";
import type { NodeSystemError } from "../../bindings/api/errno.js";
import { tcpEchoMatrix } from "./api_echo.js";
import { udpEchoMatrix } from "./udp_echo.js";
import { twoWorkers, workersNoLeaks, B } from "../helpers/workers.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const isErr = (code: string) => (e: unknown) => (e as { code?: string }).code === code;
const netError = (s: { once(ev: string, f: (e: NodeSystemError) => void): unknown }) =>
  new Promise<NodeSystemError>((r) => s.once("error", r));

for (const variant of ["release", "mvp"] as const) {
  test(`${variant}: worker mode: every API's TCP echo server serves every API's client (25 pairs, 96 KiB each way)`, async () => {
    const { a, b, baseA, baseB } = await twoWorkers(variant);
    await tcpEchoMatrix(a, b);
    await workersNoLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });
}

test("release: worker mode: every API's UDP echo server answers every API's client (25 pairs)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  await udpEchoMatrix(a, b);
  await workersNoLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});

test("release: worker mode: errors cross the port with their codes (refused, reset, in use, misuse)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");

  // Refused, through every API.
  const nc = a.net.connect(4242, B);
  const e1 = await netError(nc);
  assert.equal(e1.code, "ECONNREFUSED");
  assert.equal(e1.syscall, "connect");
  const so = a.sockets;
  const fd = await so.socket(S.AF_INET, S.SOCK_STREAM);
  await assert.rejects(so.connect(fd, { family: S.AF_INET, addr: B, port: 4242 }), (e: SocketError) => e.code === "ECONNREFUSED");
  await so.close(fd);
  const st = a.streams.connect(B, 4242);
  await assert.rejects(st.opened, (e: AsipError) => e instanceof AsipError && e.code === "ERR_RST");
  const p = a.raw.tcp.new();
  const rawErr = new Promise<AsipError>((r) => p.err(r));
  p.connect(B, 4242);
  assert.equal((await rawErr).code, "ERR_RST");
  assert.equal(p.handle, 0);
  assert.throws(() => p.write(new Uint8Array(1)), /pcb is closed/);

  // A port in use: net, streams, raw, dgram.
  // Its connections ignore errors: the write-after-end below aborts one (RST).
  const s1 = b.net.createServer((s) => s.on("error", () => {}));
  await new Promise<void>((r) => s1.listen(7300, r));
  const s2 = b.net.createServer().listen(7300);
  const e2 = await netError(s2);
  assert.equal(e2.code, "EADDRINUSE");
  assert.equal(s2.listening, false);
  const ss = b.streams.listen({ localPort: 7300 });
  await assert.rejects(ss.opened, isErr("ERR_USE"));
  const l = b.raw.tcp.new().bind("0.0.0.0", 7300).listen(4);
  await assert.rejects(l.ready, isErr("ERR_USE"));
  assert.equal(l.handle, 0, "the pcb that failed is gone");
  const d1 = b.dgram.createSocket("udp4");
  await new Promise<void>((r) => d1.bind(7301, r));
  assert.equal(d1.address().port, 7301);
  const d2 = b.dgram.createSocket("udp4");
  d2.bind(7301);
  assert.equal((await netError(d2)).code, "EADDRINUSE");
  d2.close();
  d1.close();
  const eph = b.dgram.createSocket("udp4");
  await new Promise<void>((r) => eph.bind(0, r));
  assert.ok(eph.address().port >= 49152, "an ephemeral port comes back from the core");
  eph.close();

  // Reset by the peer: a raw listener on B that aborts what it accepts.
  const rl = b.raw.tcp.new().bind("0.0.0.0", 7302).listen(4);
  rl.accept((c: { abort(): void }) => setTimeout(() => c.abort(), 10));
  await rl.ready;
  const rc = a.net.connect(7302, B);
  const e3 = await netError(rc);
  assert.equal(e3.code, "ECONNRESET");
  rl.close();

  // Misuse raises at once, in this thread, with Node's codes.
  assert.throws(() => a.net.connect(70000, B), (e: NodeSystemError) => e.code === "ERR_SOCKET_BAD_PORT");
  const unbound = a.raw.tcp.new();
  assert.throws(() => unbound.bind("300.1.1.1", 1), TypeError);
  unbound.close();
  const live = a.net.connect(7300, B);
  await new Promise<void>((r) => live.once("connect", r));
  live.end();
  const lateError = netError(live); // Node reports it twice: to the write's callback and as 'error'
  const closed = new Promise<void>((r) => live.once("close", () => r()));
  const wae = await new Promise<Error>((r) => live.write("x", (e) => r(e!)));
  assert.equal((wae as NodeSystemError).code, "ERR_STREAM_WRITE_AFTER_END");
  assert.equal((await lateError).code, "ERR_STREAM_WRITE_AFTER_END");
  await closed;
  await new Promise<void>((r) => s1.close(() => r()));

  await workersNoLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});

test("release: worker mode: Node's http serves and fetches over cores in Workers (1 MiB body, 20 requests)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  const body = Buffer.alloc(1 << 20);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >>> 12)) & 0xff;
  const server = http.createServer((req, res) => {
    if (req.url === "/big") res.end(body);
    else res.end(`hello ${req.url}`);
  });
  const front = b.net.createServer((s) => server.emit("connection", s));
  await new Promise<void>((r) => front.listen(80, r));
  const get = (path: string) => new Promise<Buffer>((resolve, reject) => {
    const req = http.request({ host: B, port: 80, path, createConnection: () => a.net.createConnection(80, B) as never }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve(Buffer.concat(parts)));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
  assert.equal(sha(await get("/big")), sha(body));
  const small = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`/${i}`)));
  small.forEach((r, i) => assert.equal(r.toString(), `hello /${i}`));
  server.close();
  await new Promise<void>((r) => front.close(() => r()));
  await workersNoLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});

test("release: worker mode: UDP through dgram, streams and raw pcbs", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  // An echo on B written with dgram.
  const echo = b.dgram.createSocket("udp4", (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((r) => echo.bind(7400, r));

  // dgram client: 200 datagrams of varied sizes, all back, in order of sending per size.
  const dc = a.dgram.createSocket("udp4");
  const got: number[] = [];
  dc.on("message", (m) => got.push(m.readUInt32BE(0)));
  await new Promise<void>((r) => dc.bind(0, r));
  for (let i = 0; i < 200; i++) {
    const m = Buffer.alloc(4 + (i % 50) * 20);
    m.writeUInt32BE(i, 0);
    dc.send(m, 7400, B);
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
  }
  const end = Date.now() + 5000;
  while (got.length < 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i));
  dc.close();

  // streams: one datagram out, its echo in.
  const u = a.streams.udp();
  const { readable, writable, localPort } = await u.opened;
  assert.ok(localPort > 0);
  const w = writable.getWriter();
  await w.write({ data: new TextEncoder().encode("via streams"), remoteAddress: B, remotePort: 7400 });
  const { value } = await readable.getReader().read();
  assert.equal(new TextDecoder().decode(value!.data), "via streams");
  assert.equal(value!.remotePort, 7400);
  await u.close();

  // raw UDP pcb: sendto, recv with the source.
  const pcb = a.raw.udp.new().bind("0.0.0.0", 0);
  const reply = new Promise<{ d: string; from: string; port: number }>((r) =>
    pcb.recv((d: Uint8Array, from: string, port: number) => r({ d: new TextDecoder().decode(d), from, port })));
  await pcb.ready;
  pcb.sendto(new TextEncoder().encode("via raw"), B, 7400);
  assert.deepEqual(await reply, { d: "via raw", from: B, port: 7400 });
  pcb.remove();
  echo.close();
  await workersNoLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});

test("release: worker mode: a reader that stops reading closes the window on the wire; then all 8 MiB arrive intact", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  const TOTAL = 8 << 20;
  const chunk = Buffer.alloc(64 * 1024);
  const h = createHash("sha256");
  let sent = 0;
  let server: { bytesWritten: number } | undefined;
  const front = b.net.createServer((s) => {
    server = s;
    s.resume(); // reads the client's FIN (a socket nobody reads never ends, in Node too)
    const more = () => {
      while (sent < TOTAL) {
        for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32BE((sent + i) >>> 0, i);
        h.update(chunk);
        sent += chunk.length;
        if (!s.write(Buffer.from(chunk))) return void s.once("drain", more);
      }
      s.end();
    };
    more();
  });
  await new Promise<void>((r) => front.listen(7500, r));
  const c = a.net.connect(7500, B);
  c.pause();
  await new Promise<void>((r) => c.once("connect", r));
  await new Promise((r) => setTimeout(r, 400));
  // The core on B took at most its send buffer plus A's receive window
  // (256 KiB each) and what is on its way to this thread: far from 8 MiB.
  const taken = server!.bytesWritten;
  assert.ok(taken < 2 << 20, `the sender's core took ${taken} bytes from a stalled reader`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(server!.bytesWritten, taken, "nothing more moves while the reader is stalled");
  const rh = createHash("sha256");
  let n = 0;
  c.on("data", (d: Buffer) => {
    rh.update(d);
    n += d.length;
  });
  c.resume();
  await new Promise<void>((r) => c.once("end", r));
  assert.equal(n, TOTAL);
  assert.equal(rh.digest("hex"), h.digest("hex"));
  c.destroy();
  await new Promise<void>((r) => front.close(() => r()));
  await workersNoLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});
