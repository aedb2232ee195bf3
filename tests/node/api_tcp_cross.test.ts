// TCP across the host APIs: an echo server written against each API (raw,
// netconn, sockets, net, streams; the code is in api_echo.ts and runs in
// Worker mode too, api_worker_cross.test.ts) serves a client written
// against every API (25 pairs, 96 KiB each way, byte-exact, half-close then EOF); error
// codes for refused, reset and timed-out connections in netconn, sockets
// and streams (net: api_tcp.test.ts); netconn's nonblocking connect
// (ERR_INPROGRESS, then events) and sockets' (EINPROGRESS, then select and
// SO_ERROR); 10,000 connections opened and closed with the pools back to
// baseline. Two stacks over pair(), release and mvp, leak-checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import "../../bindings/api/net.js";
import { NETCONN_TCP, NETCONN_EVT_SENDPLUS, NETCONN_EVT_ERROR } from "../../bindings/api/netconn.js";
import * as S from "../../bindings/api/sockets.js";
import { errno, SocketError } from "../../bindings/api/errno.js";
import { AsipError } from "../../bindings/abi.js";
import { VARIANTS, until } from "../helpers/stacks.js";
import { B, tcpStacks, noLeaks } from "./api_tcp_common.js";
import { servers, rawEcho, tcpEchoMatrix } from "./api_echo.js";

for (const variant of VARIANTS) {
  test(`${variant}: every API's TCP echo server serves every API's client (25 pairs, 96 KiB each way)`, async () => {
    const { a, b, baseA, baseB } = await tcpStacks(variant);
    await tcpEchoMatrix(a, b);
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });

  test(`${variant}: netconn/sockets/streams TCP errors: refused, reset, timed out; nonblocking connect`, async () => {
    const { a, b, baseA, baseB } = await tcpStacks(variant);
    // Refused.
    const nc = a.netconn.new(NETCONN_TCP);
    await assert.rejects(nc.connect(B, 4242), (e: AsipError) => e.code === "ERR_RST");
    await nc.delete();
    const so = a.sockets;
    const fd = so.socket(S.AF_INET, S.SOCK_STREAM);
    await assert.rejects(so.connect(fd, { family: S.AF_INET, addr: B, port: 4242 }), (e: SocketError) => e.code === "ECONNREFUSED");
    await so.close(fd);
    const st = a.streams.connect(B, 4242);
    await assert.rejects(st.opened, (e: AsipError) => e.code === "ERR_RST");
    await assert.rejects(st.closed);

    // Nonblocking connect, lwIP style: ERR_INPROGRESS, then SENDPLUS (connected) or ERROR.
    const evs: number[] = [];
    const nb = a.netconn.new(NETCONN_TCP, (_c, evt) => evs.push(evt));
    nb.setNonblocking(true);
    await assert.rejects(nb.connect(B, 4242), (e: AsipError) => e.code === "ERR_INPROGRESS");
    await until(() => evs.includes(NETCONN_EVT_ERROR), 2000, "ERROR event");
    assert.equal(AsipError.prototype.isPrototypeOf(new AsipError(nb.err(), "x")), true);
    await nb.delete();
    const srvStop = await servers.net(b, 7200);
    const nb2 = a.netconn.new(NETCONN_TCP, (_c, evt) => evs.push(evt));
    nb2.setNonblocking(true);
    evs.length = 0;
    await assert.rejects(nb2.connect(B, 7200), (e: AsipError) => e.code === "ERR_INPROGRESS");
    await until(() => evs.includes(NETCONN_EVT_SENDPLUS), 2000, "SENDPLUS event");
    assert.equal(nb2.peer().port, 7200);
    await nb2.delete();
    // Sockets: EINPROGRESS, select for writability, SO_ERROR.
    a.addStaticArp("192.0.2.99", Uint8Array.of(2, 0, 0, 0, 0, 0x99)); // never answers
    const fd1 = so.socket(S.AF_INET, S.SOCK_STREAM | S.SOCK_NONBLOCK);
    await assert.rejects(so.connect(fd1, { family: S.AF_INET, addr: "192.0.2.99", port: 80 }), (e: SocketError) => e.code === "EINPROGRESS");
    await assert.rejects(so.connect(fd1, { family: S.AF_INET, addr: "192.0.2.99", port: 80 }), (e: SocketError) => e.code === "EALREADY");
    assert.equal(await so.select(fd1 + 1, null, new Set([fd1]), null, 20), 0, "not writable while connecting");
    await so.close(fd1);
    const fd2 = so.socket(S.AF_INET, S.SOCK_STREAM | S.SOCK_NONBLOCK);
    await assert.rejects(so.connect(fd2, { family: S.AF_INET, addr: B, port: 4242 }), (e: SocketError) => e.code === "EINPROGRESS");
    const wset = new Set([fd2]);
    assert.equal(await so.select(fd2 + 1, null, wset, null, 2000), 1);
    assert.equal(so.getsockopt(fd2, S.SOL_SOCKET, S.SO_ERROR), errno.ECONNREFUSED);
    await so.close(fd2);
    const fd3 = so.socket(S.AF_INET, S.SOCK_STREAM);
    so.fcntl(fd3, S.F_SETFL, S.O_NONBLOCK);
    await assert.rejects(so.connect(fd3, { family: S.AF_INET, addr: B, port: 7200 }), (e: SocketError) => e.code === "EINPROGRESS");
    const w3 = new Set([fd3]);
    assert.equal(await so.select(fd3 + 1, null, w3, null, 2000), 1);
    assert.equal(so.getsockopt(fd3, S.SOL_SOCKET, S.SO_ERROR), 0);
    assert.equal(so.getpeername(fd3).port, 7200);
    const buf = new Uint8Array(4);
    await assert.rejects(so.recv(fd3, buf), (e: SocketError) => e.code === "EAGAIN");
    await assert.rejects(so.connect(fd3, { family: S.AF_INET, addr: B, port: 7200 }), (e: SocketError) => e.code === "EISCONN");
    await so.close(fd3);
    await srvStop();

    // Reset by the peer (a raw listener that aborts what it accepts).
    const l = b.raw.tcp.new().bind("0.0.0.0", 7201).listen(4);
    l.accept((c) => setTimeout(() => c.abort(), 10));
    const nc2 = a.netconn.new(NETCONN_TCP);
    await nc2.connect(B, 7201);
    await assert.rejects(nc2.recv(), (e: AsipError) => e.code === "ERR_RST");
    await nc2.delete();
    const fd4 = so.socket(S.AF_INET, S.SOCK_STREAM);
    await so.connect(fd4, { family: S.AF_INET, addr: B, port: 7201 });
    await assert.rejects(so.recv(fd4, buf), (e: SocketError) => e.code === "ECONNRESET");
    await so.close(fd4);
    const st2 = a.streams.connect(B, 7201);
    const { readable } = await st2.opened;
    await assert.rejects(readable.getReader().read(), (e: AsipError) => e.code === "ERR_RST");
    l.close();

    // SO_LINGER {1, 0}: close() sends a RST; the peer sees ECONNRESET.
    const srv = b.sockets;
    const lfd = srv.socket(S.AF_INET, S.SOCK_STREAM);
    srv.bind(lfd, { family: S.AF_INET, addr: "0.0.0.0", port: 7202 });
    srv.listen(lfd, 4);
    const cfd = so.socket(S.AF_INET, S.SOCK_STREAM);
    so.setsockopt(cfd, S.IPPROTO_TCP, S.TCP_NODELAY, 1);
    assert.equal(so.getsockopt(cfd, S.IPPROTO_TCP, S.TCP_NODELAY), 1);
    so.setsockopt(cfd, S.SOL_SOCKET, S.SO_KEEPALIVE, 1);
    so.setsockopt(cfd, S.IPPROTO_TCP, S.TCP_KEEPIDLE, 30);
    so.setsockopt(cfd, S.IPPROTO_TCP, S.TCP_KEEPINTVL, 5);
    so.setsockopt(cfd, S.IPPROTO_TCP, S.TCP_KEEPCNT, 3);
    assert.equal(so.getsockopt(cfd, S.IPPROTO_TCP, S.TCP_KEEPCNT), 3);
    await so.connect(cfd, { family: S.AF_INET, addr: B, port: 7202 });
    const from: S.SockAddr = { family: 0, addr: "", port: 0 };
    const afd = await srv.accept(lfd, from);
    assert.equal(from.addr, "192.0.2.1");
    assert.equal(srv.getsockopt(lfd, S.SOL_SOCKET, S.SO_ACCEPTCONN), 1);
    so.setsockopt(cfd, S.SOL_SOCKET, S.SO_LINGER, { onoff: 1, linger: 0 });
    await so.send(cfd, new Uint8Array([1, 2, 3]));
    await so.close(cfd);
    const rb = new Uint8Array(8);
    // The bytes may or may not have arrived before the RST; the reset is reported either way.
    let sawReset = false;
    for (let i = 0; i < 3 && !sawReset; i++) {
      try {
        await srv.recv(afd, rb);
      } catch (e) {
        assert.equal((e as SocketError).code, "ECONNRESET");
        sawReset = true;
      }
    }
    assert.ok(sawReset);
    await srv.close(afd);
    await srv.close(lfd);
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });

  test(`${variant}: sockets and netconn time out an unanswered SYN (ETIMEDOUT / ERR_ABRT), simulated clock`, async () => {
    const { a, b, baseA, baseB } = await tcpStacks(variant, { manualClock: true });
    a.addStaticArp("192.0.2.99", Uint8Array.of(2, 0, 0, 0, 0, 0x99));
    const so = a.sockets;
    const fd = so.socket(S.AF_INET, S.SOCK_STREAM);
    let sockErr: SocketError | undefined;
    void so.connect(fd, { family: S.AF_INET, addr: "192.0.2.99", port: 80 }).catch((e) => (sockErr = e));
    const nc = a.netconn.new(NETCONN_TCP);
    let ncErr: AsipError | undefined;
    void nc.connect("192.0.2.99", 81).catch((e) => (ncErr = e));
    const st = a.streams.connect("192.0.2.99", 82);
    let stErr: AsipError | undefined;
    st.opened.catch((e) => (stErr = e));
    for (let t = 0; t < 400 && !(sockErr && ncErr && stErr); t++) {
      a.advance(1000);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(sockErr?.code, "ETIMEDOUT");
    assert.equal(ncErr?.code, "ERR_ABRT");
    assert.equal(stErr?.code, "ERR_ABRT");
    await so.close(fd);
    await nc.delete();
    await noLeaks(a, baseA, b, baseB, 100);
    await a.close();
    await b.close();
  });
}

test("release: 10,000 TCP connections opened and closed (net client, raw echo server), pools back to baseline", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  const l = b.raw.tcp.new().bind("0.0.0.0", 7300).listen(64);
  l.accept(rawEcho);
  const N = 10_000, PAR = 16;
  let done = 0;
  const t0 = performance.now();
  const one = () => new Promise<void>((resolve, reject) => {
    const c = a.net.connect(7300, B);
    let got = 0;
    c.on("data", (d: Buffer) => (got += d.length));
    c.on("error", reject);
    c.on("close", () => (got === 4 ? resolve() : reject(new Error(`echo got ${got}`))));
    c.end("ping");
  });
  await Promise.all(Array.from({ length: PAR }, async () => {
    while (done < N) {
      done++;
      await one();
    }
  }));
  const ms = performance.now() - t0;
  console.log(`# ${N} connections in ${ms.toFixed(0)} ms (${((N / ms) * 1000).toFixed(0)}/s), ${PAR} at a time`);
  l.close();
  await noLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});

test("release: streams: a BYOB read waiting when the peer's FIN arrives ends with done", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  const l = b.raw.tcp.new().bind("0.0.0.0", 7400).listen(4);
  l.accept((c) => {
    c.err(() => {});
    c.write(new TextEncoder().encode("hi"));
    setTimeout(() => c.close(), 20); // FIN while the client's second read waits
  });
  const conn = a.streams.connect(B, 7400);
  const { readable } = await conn.opened;
  const r = readable.getReader({ mode: "byob" });
  const first = await r.read(new Uint8Array(16));
  assert.equal(new TextDecoder().decode(first.value!), "hi");
  const second = await r.read(new Uint8Array(16));
  assert.equal(second.done, true);
  r.releaseLock();
  await conn.close();
  l.close();
  await noLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});

test("release: streams: a reader that stops reading closes the window; then all 8 MiB arrive in order", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  const TOTAL = 8 << 20;
  const src = new Uint8Array(TOTAL);
  for (let i = 0; i < TOTAL; i++) src[i] = (i * 131 + (i >>> 13)) & 0xff;
  let taken = 0;
  const l = b.raw.tcp.new().bind("0.0.0.0", 7401).listen(4);
  l.accept((c) => {
    c.err(() => {});
    const pump = () => {
      while (taken < TOTAL && c.handle !== 0) {
        const n = c.write(src.subarray(taken, Math.min(TOTAL, taken + 65536)));
        if (n === 0) return;
        taken += n;
      }
      if (taken === TOTAL && c.handle !== 0) c.close();
    };
    c.sent(pump);
    pump();
  });
  const conn = a.streams.connect(B, 7401);
  const { readable } = await conn.opened;
  await new Promise((r) => setTimeout(r, 300));
  // The sender's core took its send buffer plus our window (256 KiB each) and no more.
  const stalled = taken;
  assert.ok(stalled < 2 << 20, `the sender's core took ${stalled} bytes from a stalled reader`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(taken, stalled, "nothing moves while the reader is stalled");
  const got = new Uint8Array(TOTAL);
  let n = 0;
  for await (const chunk of readable as unknown as AsyncIterable<Uint8Array>) {
    got.set(chunk, n);
    n += chunk.length;
  }
  assert.equal(n, TOTAL);
  assert.ok(Buffer.from(got).equals(Buffer.from(src)), "bytes in order");
  await conn.close(); // our writable is still open: close it
  l.close();
  await noLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
});
