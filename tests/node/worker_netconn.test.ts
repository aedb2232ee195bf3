// Remote netconns (bindings/worker/remote-netconn.ts ↔ netconn-service.ts):
// the netconn API of a core worker used from the main thread. Two core
// workers joined by a MessagePort link (A = 192.0.2.1, B = 192.0.2.2),
// release and mvp: (a) a TCP echo server on B and a client on A, both remote
// netconns, 1 MiB byte-exact (SHA-256) with a half-close; (b) UDP sendto/recv
// with netbufs and callback events; (c) TCP errors: refused (ERR_RST), recv
// after the peer's reset, nonblocking connect (ERR_INPROGRESS, then SENDPLUS
// or ERROR + err()); (d) misuse and timeouts give the same error class and
// code as the local API (the same script run against a local Stack);
// (e) shutting a worker down aborts what its clients left open. Every test
// ends with both workers back at their baseline usage (asked inside them).
import "../../bindings/api/dgram.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Stack } from "../../bindings/stack.js";
import { twoWorkers as twoCoreWorkers, workersNoLeaks, A, B } from "../helpers/workers.js";
import {
  RemoteNetbuf, type RemoteNetconn,
  NETCONN_TCP, NETCONN_UDP, NETCONN_RAW, NETCONN_EVT_RCVPLUS, NETCONN_EVT_RCVMINUS, NETCONN_EVT_SENDPLUS, NETCONN_EVT_ERROR,
} from "../../bindings/worker/remote-netconn.js";
import { AsipError, ERR } from "../../bindings/abi.js";

/** Two core workers (tests/helpers/workers.ts) and their netconn APIs. */
async function twoWorkers(variant: "release" | "mvp") {
  const w = await twoCoreWorkers(variant);
  return { ...w, na: w.a.netconn, nb: w.b.netconn };
}

const noLeaks = workersNoLeaks;

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const isCode = (code: string) => (e: unknown) => e instanceof AsipError && e.code === code;

for (const variant of ["release", "mvp"] as const) {
  test(`${variant}: remote netconn: TCP echo across two workers, 1 MiB byte-exact (SHA-256), half-close`, async () => {
    const { a, b, na, nb, baseA, baseB } = await twoWorkers(variant);
    // Server on B: echo every netbuf until the client's FIN (ERR_CLSD), then close.
    const l = nb.new(NETCONN_TCP);
    await l.bind(null, 7300);
    await l.listen(4);
    const serverSha = createHash("sha256");
    const server = (async () => {
      const c = await l.accept();
      assert.equal((await c.peer()).addr, A);
      let total = 0;
      for (;;) {
        let buf;
        try {
          buf = await c.recv();
        } catch (e) {
          assert.ok(isCode("ERR_CLSD")(e), `server recv ended with ${e}`);
          break;
        }
        serverSha.update(buf.data());
        total += buf.len;
        assert.equal(buf.fromaddr, A);
        await c.write(buf.data());
        buf.delete();
      }
      await c.close();
      await c.delete();
      return total;
    })();
    // Client on A: new() needs no answer before connect().
    const c = na.new(NETCONN_TCP);
    await c.connect(B, 7300);
    assert.deepEqual(await c.peer(), { addr: B, port: 7300 });
    assert.equal((await c.addr()).addr, A);
    const data = randomBytes(1 << 20);
    const sha = createHash("sha256");
    const reader = (async () => {
      let total = 0;
      for (;;) {
        let buf: RemoteNetbuf;
        try {
          buf = await c.recv();
        } catch (e) {
          assert.ok(isCode("ERR_CLSD")(e), `client recv ended with ${e}`);
          return total;
        }
        sha.update(buf.data());
        total += buf.len;
        buf.delete();
      }
    })();
    // Two writes (one from a view into a larger buffer), then the half-close: the echo keeps coming.
    const big = new Uint8Array(data.length + 100);
    big.set(data, 50);
    assert.equal(await c.write(big.subarray(50, 50 + 4096)), 4096);
    assert.equal(await c.write(data.subarray(4096)), data.length - 4096);
    await c.shutdown(false, true);
    const [sent, got] = await Promise.all([server, reader]);
    const want = createHash("sha256").update(data).digest("hex");
    assert.equal(sent, data.length);
    assert.equal(serverSha.digest("hex"), want, "what the server received");
    assert.equal(got, data.length);
    assert.equal(sha.digest("hex"), want, "what came back");
    // After FIN, recv keeps saying ERR_CLSD.
    await assert.rejects(c.recv(), isCode("ERR_CLSD"));
    await c.close();
    await c.delete();
    await l.delete();
    await noLeaks(a, baseA, b, baseB);
    assert.deepEqual(await a.close(), baseA);
    assert.deepEqual(await b.close(), baseB);
  });

  test(`${variant}: remote netconn: UDP sendto/recv with netbufs, callback events`, async () => {
    const { a, b, na, nb, baseA, baseB } = await twoWorkers(variant);
    const names = ["RCVPLUS", "RCVMINUS", "SENDPLUS", "SENDMINUS", "ERROR"];
    const events: string[] = [];
    const srv = nb.new(NETCONN_UDP, (conn, evt, len) => {
      assert.equal(conn, srv);
      events.push(`${names[evt]}:${len}`);
    });
    await srv.bind(null, 7400);
    assert.deepEqual(await srv.getaddr(true), { addr: "0.0.0.0", port: 7400 });
    const cli = na.new(NETCONN_UDP);
    await cli.bind(null, 0);
    const cport = (await cli.getaddr(true)).port;
    assert.ok(cport > 0);
    // The three ways to fill a netbuf: alloc (write in place), take (copy), ref.
    const enc = new TextEncoder(), dec = new TextDecoder();
    const n1 = na.netbuf();
    n1.alloc(3).set(enc.encode("one"));
    await cli.sendto(n1, B, 7400);
    const n2 = na.netbuf();
    n2.take(enc.encode("two"));
    await cli.sendto(n2, B, 7400);
    const n3 = na.netbuf();
    n3.ref(enc.encode("three"));
    await cli.sendto(n3, B, 7400);
    for (const n of [n1, n2, n3]) n.delete();
    await until(() => events.length === 3, 2000, "RCVPLUS events");
    assert.deepEqual(events, ["RCVPLUS:3", "RCVPLUS:3", "RCVPLUS:5"]);
    const bufs = [await srv.recv(), await srv.recv(), await srv.recv()];
    await until(() => events.length === 6, 2000, "RCVMINUS events");
    assert.deepEqual(events.slice(3), ["RCVMINUS:3", "RCVMINUS:3", "RCVMINUS:5"]);
    assert.deepEqual(bufs.map((x) => dec.decode(x.data())), ["one", "two", "three"]);
    assert.equal(bufs[0].fromaddr, A);
    assert.equal(bufs[0].fromport, cport);
    assert.equal(bufs[0].toaddr, B);
    assert.equal(bufs[2].len, 5);
    assert.equal(bufs[2].next(), -1);
    const part = new Uint8Array(3);
    assert.equal(bufs[2].copy(part, 2), 3);
    assert.equal(dec.decode(part), "ree");
    // Reply to where it came from; a connected UDP netconn uses send().
    await srv.sendto(bufs[0], bufs[0].fromaddr, bufs[0].fromport);
    const back = await cli.recv();
    assert.equal(dec.decode(back.data()), "one");
    assert.equal(back.fromport, 7400);
    for (const x of bufs) x.delete();
    await cli.connect(B, 7400);
    await cli.send(Uint8Array.of(1, 2, 3, 4));
    assert.deepEqual([...(await srv.recv()).data()], [1, 2, 3, 4]);
    await cli.disconnect();
    await assert.rejects(cli.send(na.netbuf()), isCode("ERR_CONN"));
    // A full receive mailbox drops (the local property recvmboxSize / drops, via info()).
    await srv.setRecvmboxSize(2);
    for (let i = 0; i < 5; i++) await cli.sendto(Uint8Array.of(i), B, 7400);
    const end = Date.now() + 2000;
    let info = await srv.info();
    while (info.drops < 3 && Date.now() < end) info = await srv.info();
    assert.equal(info.drops, 3);
    assert.equal(info.available.count, 2);
    // ICMP port unreachable: an ERROR event and icmpError.
    const errs: number[] = [];
    const u3 = na.new(NETCONN_UDP, (_c, evt) => errs.push(evt));
    await u3.connect(B, 4999);
    await u3.send(new Uint8Array(4));
    await until(() => errs.includes(NETCONN_EVT_ERROR), 2000, "ICMP error event");
    assert.equal((await u3.info()).icmpError?.code, 3);
    // A raw netconn sees ICMP (the whole IP packet).
    const r = nb.newWithProto(NETCONN_RAW, 1);
    const ping = na.newWithProto(NETCONN_RAW, 1);
    await ping.sendto(Uint8Array.of(8, 0, 0xf7, 0xff, 0, 0, 0, 0), B);
    const pkt = await r.recv();
    assert.equal(pkt.data()[9], 1);
    assert.equal(pkt.fromaddr, A);
    for (const x of [srv, cli, u3, r, ping]) await x.delete();
    await noLeaks(a, baseA, b, baseB);
    assert.deepEqual(await a.close(), baseA);
    assert.deepEqual(await b.close(), baseB);
  });

  test(`${variant}: remote netconn: refused, reset by the peer, nonblocking connect, accepted connections inherit the callback`, async () => {
    const { a, b, na, nb, baseA, baseB } = await twoWorkers(variant);
    // Refused: ERR_RST, as locally; the conn is dead afterwards.
    const c1 = na.new(NETCONN_TCP);
    await assert.rejects(c1.connect(B, 4242), isCode("ERR_RST"));
    await assert.rejects(c1.connect(B, 4242), isCode("ERR_RST"));
    await c1.delete();
    // Nonblocking and refused: ERR_INPROGRESS, then ERROR; err() says why (and clears).
    const evs: number[] = [];
    const c2 = na.new(NETCONN_TCP, (_c, evt) => evs.push(evt));
    await c2.setNonblocking(true);
    assert.equal(await c2.isNonblocking(), true);
    await assert.rejects(c2.connect(B, 4242), isCode("ERR_INPROGRESS"));
    await until(() => evs.includes(NETCONN_EVT_ERROR), 2000, "ERROR event");
    assert.equal(await c2.err(), ERR.ERR_RST);
    assert.equal(await c2.err(), 0);
    await c2.delete();
    // A listener with a callback: its accepted connections inherit it, with
    // their own handles (events that came before accept() are delivered first).
    const lev: { h: number; evt: number; len: number }[] = [];
    const l = nb.new(NETCONN_TCP, (conn, evt, len) => lev.push({ h: conn.handle, evt, len }));
    await l.bind(null, 7301);
    await l.listen(2);
    // Nonblocking and accepted: ERR_INPROGRESS, then SENDPLUS.
    evs.length = 0;
    const c3 = na.new(NETCONN_TCP, (_c, evt) => evs.push(evt));
    await c3.setNonblocking(true);
    await assert.rejects(c3.connect(B, 7301), isCode("ERR_INPROGRESS"));
    await until(() => evs.includes(NETCONN_EVT_SENDPLUS), 2000, "SENDPLUS event");
    assert.equal((await c3.peer()).port, 7301);
    await c3.setNonblocking(false);
    assert.equal(await c3.write(Uint8Array.of(1, 2, 3)), 3);
    await until(() => lev.some((e) => e.h === l.handle && e.evt === NETCONN_EVT_RCVPLUS), 2000, "listener RCVPLUS");
    await new Promise((r) => setTimeout(r, 20)); // let the bytes arrive before accept()
    const s3 = await l.accept();
    assert.notEqual(s3.handle, l.handle);
    assert.equal(s3.callback, l.callback);
    const b3 = await s3.recv();
    assert.deepEqual([...b3.data()], [1, 2, 3]);
    await until(() => lev.some((e) => e.h === s3.handle && e.evt === NETCONN_EVT_RCVMINUS && e.len === 3), 2000, "child events");
    const child = lev.filter((e) => e.h === s3.handle).map((e) => `${e.evt}:${e.len}`);
    assert.deepEqual(child.slice(0, 2), [`${NETCONN_EVT_RCVPLUS}:3`, `${NETCONN_EVT_RCVMINUS}:3`], "early RCVPLUS, then RCVMINUS");
    // Reset by the peer: B aborts, A's pending recv fails with ERR_RST, and so do later calls.
    const pending = c3.recv();
    pending.catch(() => {}); // rejected while s3.abort() is awaited; checked below
    await s3.abort();
    await assert.rejects(pending, isCode("ERR_RST"));
    await assert.rejects(c3.recv(), isCode("ERR_RST"));
    await assert.rejects(c3.write(Uint8Array.of(1)), isCode("ERR_RST"));
    await s3.delete();
    await c3.delete();
    // A pending accept fails with ERR_CLSD when the listener is closed.
    const acc = l.accept();
    acc.catch(() => {});
    await l.close();
    await assert.rejects(acc, isCode("ERR_CLSD"));
    await l.delete();
    await noLeaks(a, baseA, b, baseB);
    assert.deepEqual(await a.close(), baseA);
    assert.deepEqual(await b.close(), baseB);
  });

  test(`${variant}: remote netconn: misuse, timeouts and nonblocking give the local API's errors`, async () => {
    const { a, b, na, baseA, baseB } = await twoWorkers(variant);
    const local = await Stack.create({ variant });
    const baseLocal = local.usage();
    /** The same script against an API; each step's outcome as "ok" or "<class>:<code>". */
    async function script(api: any, port: number): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      const step = async (name: string, f: () => unknown) => {
        try {
          await f();
          out[name] = "ok";
        } catch (e) {
          const x = e as Error & { code?: string };
          out[name] = `${x.constructor.name}:${x.code ?? ""}`;
        }
      };
      await step("new bad type", () => api.new(0x77));
      await step("new udp bad type", () => api.new(0x2f));
      await step("raw bad proto", () => api.newWithProto(NETCONN_RAW, 300));
      const u1 = api.new(NETCONN_UDP), u2 = api.new(NETCONN_UDP);
      await step("bind", () => u1.bind(null, port));
      await step("bind in use", () => u2.bind(null, port));
      await step("bind bad addr", () => u2.bind("1.2.3", 1));
      await step("bind bad port", () => u2.bind(null, 70000));
      await step("send unconnected", () => u2.send(api.netbuf()));
      await step("sendto bad addr", () => u2.sendto(api.netbuf(), "nope", 1));
      await step("udp listen", () => u2.listen());
      await step("udp write", () => u2.write(new Uint8Array(1)));
      await step("udp shutdown", () => u2.shutdown(false, true));
      await step("getaddr remote unconnected", () => u2.getaddr(false));
      await step("bad recv timeout", () => u2.setRecvTimeout(-1));
      await step("alloc too big", () => api.netbuf().alloc(70000));
      await step("take too big", () => {
        const n = api.netbuf();
        n.alloc(2);
        try {
          n.take(new Uint8Array(3));
        } finally {
          n.delete();
        }
      });
      await u1.setNonblocking(true);
      await step("nonblocking recv", () => u1.recv());
      await u1.setNonblocking(false);
      await u1.setRecvTimeout(30);
      const t0 = Date.now();
      await step("recv timeout", () => u1.recv());
      out["waited"] = String(Date.now() - t0 >= 25);
      await u1.setRecvTimeout(0);
      const t = api.new(NETCONN_TCP);
      await step("tcp write unconnected", () => t.write(new Uint8Array(1)));
      await step("tcp recv unconnected nonblocking", async () => {
        await t.setNonblocking(true);
        try {
          await t.recv();
        } finally {
          await t.setNonblocking(false);
        }
      });
      await step("tcp peer unconnected", () => t.getaddr(false));
      await step("tcp shutdown unconnected", () => t.shutdown(false, true));
      await step("tcp listen", () => t.listen(1));
      await step("tcp accept nonblocking", async () => {
        await t.setNonblocking(true);
        try {
          await t.accept();
        } finally {
          await t.setNonblocking(false);
        }
      });
      await step("tcp recv on listener", () => t.recv());
      await step("tcp connect on listener", () => t.connect(B, 1));
      await t.setRecvTimeout(30);
      await step("tcp accept timeout", () => t.accept());
      // A pending recv fails when the conn is closed.
      const pending = u1.recv();
      pending.catch(() => {});
      await step("close", () => u1.close());
      await step("pending recv after close", () => pending);
      await step("close again", () => u1.close());
      await step("recv after close", () => u1.recv());
      await step("delete", () => u1.delete());
      await step("delete again", () => u1.delete());
      // Use after delete.
      await u2.delete();
      await t.delete();
      await step("recv after delete", () => u2.recv());
      await step("bind after delete", () => u2.bind(null, port + 1));
      await step("connect after delete", () => u2.connect(B, 1));
      await step("sendto after delete", () => u2.sendto(api.netbuf(), B, 1));
      await step("getaddr after delete", () => u2.getaddr(true));
      await step("disconnect after delete", () => u2.disconnect());
      await step("tcp write after delete", () => t.write(new Uint8Array(1)));
      await step("tcp accept after delete", () => t.accept());
      await step("tcp listen after delete", () => t.listen(1));
      await step("tcp close after delete", () => t.close());
      await step("tcp shutdown after delete", () => t.shutdown(true, true));
      return out;
    }
    const want = await script(local.netconn, 7500);
    const got = await script(na, 7500);
    assert.deepEqual(got, want);
    // A few spelled out, so the comparison cannot pass on two equally wrong lists.
    assert.equal(want["new bad type"], "AsipError:ERR_VAL");
    assert.equal(want["raw bad proto"], "RangeError:");
    assert.equal(want["bind in use"], "AsipError:ERR_USE");
    assert.equal(want["bind bad addr"], "TypeError:");
    assert.equal(want["nonblocking recv"], "AsipError:ERR_WOULDBLOCK");
    assert.equal(want["recv timeout"], "AsipError:ERR_TIMEOUT");
    assert.equal(want["waited"], "true");
    assert.equal(want["pending recv after close"], "AsipError:ERR_CLSD");
    assert.equal(want["recv after delete"], "AsipError:ERR_CLSD");
    assert.equal(want["tcp accept timeout"], "AsipError:ERR_TIMEOUT");
    assert.equal(want["delete again"], "ok");
    assert.deepEqual(local.usage(), baseLocal);
    await local.close();
    await noLeaks(a, baseA, b, baseB);
    assert.deepEqual(await a.close(), baseA);
    assert.deepEqual(await b.close(), baseB);
  });

  test(`${variant}: remote netconn: shutting a worker down aborts what its client left open`, async () => {
    const { a, b, na, nb, baseA, baseB } = await twoWorkers(variant);
    const l = nb.new(NETCONN_TCP);
    await l.bind(null, 7302);
    await l.listen(2);
    const c = na.new(NETCONN_TCP);
    const [, s] = await Promise.all([c.connect(B, 7302), l.accept()]);
    await c.write(new Uint8Array(1000));
    const u = na.new(NETCONN_UDP);
    await u.bind(null, 7303);
    const pending = u.recv();
    pending.catch(() => {});
    // Nothing closed: A's shutdown aborts the TCP connection (RST) and deletes the netconns.
    assert.deepEqual(await a.close(), baseA, "A's final report from inside the worker");
    await assert.rejects(pending);
    await assert.rejects(c.recv(), { code: "ESHUTDOWN" });
    // B saw the RST.
    await assert.rejects((async () => {
      for (;;) (await s.recv()).delete();
    })(), isCode("ERR_RST"));
    // B's client leaves its listener and the dead connection: B's shutdown deletes them.
    assert.deepEqual(await b.close(), baseB, "B's final report from inside the worker");
  });
}
