// Worker mode (bindings/worker): cores in Workers, two of them joined by a
// MessagePort link (A = 192.0.2.1, B = 192.0.2.2), release and mvp:
// (a) the sockets echo from the main thread through the RPC, (b) a Worker
// running C-style blocking code (while ((n = recv(fd, buf)) > 0) send(...))
// byte-exact over 1 MiB with SHA-256, (c) errno names across the boundary
// both ways, (d) close() ends the worker, a blocked client wakes, pools are
// back to baseline as reported from inside the worker.
//
// This file is also the blocking client's Worker script (workerData.role).
import { isMainThread, workerData, parentPort, Worker } from "node:worker_threads";
import { createHash, randomBytes } from "node:crypto";
import assert from "node:assert/strict";

const A = "192.0.2.1", B = "192.0.2.2";
const AF_INET = 2, SOCK_STREAM = 1, SHUT_WR = 1;

if (!isMainThread && workerData?.role) {
  // ---- inside a blocking-client Worker: plain C-style code ----
  const { connectBlocking } = await import("../../bindings/worker/client.js");
  const so = connectBlocking(workerData.to);
  const report = (x: unknown) => parentPort!.postMessage(x);
  const errOf = (f: () => unknown) => {
    try {
      f();
      return "no error";
    } catch (e) {
      const x = e as { name: string; code: string; errno: number; syscall: string };
      return { name: x.name, code: x.code, errno: x.errno, syscall: x.syscall };
    }
  };
  if (workerData.role === "echo") {
    const fd = so.socket(AF_INET, SOCK_STREAM, 0);
    so.connect(fd, { family: AF_INET, addr: B, port: workerData.port });
    const buf = new Uint8Array(16384);
    const h = createHash("sha256");
    let n: number, total = 0;
    while ((n = so.recv(fd, buf)) > 0) {
      h.update(buf.subarray(0, n));
      total += n;
      so.send(fd, buf.subarray(0, n));
    }
    so.close(fd);
    report({ total, sha: h.digest("hex") });
  } else if (workerData.role === "errors") {
    const fd = so.socket(AF_INET, SOCK_STREAM, 0);
    const refused = errOf(() => so.connect(fd, { family: AF_INET, addr: B, port: 4242 }));
    so.close(fd);
    const badf = errOf(() => so.recv(999, new Uint8Array(10)));
    const afno = errOf(() => so.socket(10, SOCK_STREAM, 0));
    report({ refused, badf, afno, errno: so.errno });
  } else if (workerData.role === "blocked") {
    const fd = so.socket(AF_INET, SOCK_STREAM, 0);
    so.bind(fd, { family: AF_INET, addr: "0.0.0.0", port: 7100 });
    so.listen(fd, 1);
    report("listening");
    const accept = errOf(() => so.accept(fd));
    const after = errOf(() => so.socket(AF_INET, SOCK_STREAM, 0));
    report({ accept, after });
  }
} else {
  // ---- the tests ----
  const { test } = await import("node:test");
  const { SocketError } = await import("../../bindings/api/errno.js");

  // Two core workers and the in-worker leak check (tests/helpers/workers.ts).
  const { twoWorkers, workersNoLeaks: noLeaks } = await import("../helpers/workers.js");

  function runWorker(role: string, to: SharedArrayBuffer | MessagePort, extra: Record<string, unknown> = {}) {
    const transfer = to instanceof SharedArrayBuffer ? [] : [to as never];
    const w = new Worker(new URL(import.meta.url), { workerData: { role, to, ...extra }, transferList: transfer });
    const messages: unknown[] = [];
    const waiters: (() => void)[] = [];
    w.on("message", (m) => {
      messages.push(m);
      waiters.splice(0).forEach((f) => f());
    });
    let error: Error | undefined;
    w.on("error", (e) => {
      error = e;
      waiters.splice(0).forEach((f) => f());
    });
    const next = async (): Promise<any> => {
      while (messages.length === 0) {
        if (error) throw error;
        await new Promise<void>((r) => waiters.push(r));
      }
      return messages.shift();
    };
    const exited = new Promise<number>((r) => w.once("exit", r));
    return { w, next, exited };
  }

  for (const variant of ["release", "mvp"] as const) {
    test(`${variant}: worker mode: sockets echo from the main thread through the RPC`, async () => {
      const { a, b, baseA, baseB } = await twoWorkers(variant);
      const sa = a.sockets, sb = b.sockets;
      const lfd = await sb.socket(AF_INET, SOCK_STREAM, 0);
      assert.equal(await sb.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: 7000 }), 0);
      assert.equal(await sb.listen(lfd, 4), 0);
      const cfd = await sa.socket(AF_INET, SOCK_STREAM, 0);
      const peer = { family: 0, addr: "", port: 0 };
      const [, sfd] = await Promise.all([
        sa.connect(cfd, { family: AF_INET, addr: B, port: 7000 }),
        sb.accept(lfd, peer),
      ]);
      assert.equal(peer.addr, A);
      assert.deepEqual(await sa.getpeername(cfd), { family: AF_INET, addr: B, port: 7000 });
      // Server: echo until EOF, then close.
      const server = (async () => {
        const buf = new Uint8Array(8192);
        let n: number;
        while ((n = await sb.recv(sfd, buf)) > 0) await sb.send(sfd, buf.subarray(0, n));
        await sb.close(sfd);
      })();
      const data = randomBytes(256 * 1024);
      const got: Uint8Array[] = [];
      const reader = (async () => {
        const buf = new Uint8Array(32768);
        let n: number;
        while ((n = await sa.recv(cfd, buf)) > 0) got.push(buf.slice(0, n));
      })();
      assert.equal(await sa.send(cfd, data), data.length);
      await sa.shutdown(cfd, SHUT_WR);
      await Promise.all([server, reader]);
      assert.ok(Buffer.concat(got).equals(data), "echo is byte-exact");
      await sa.close(cfd);
      await sb.close(lfd);
      assert.deepEqual(await sa.open(), []);
      const st = await a.stats();
      assert.ok(typeof st === "object" && st !== null);
      await noLeaks(a, baseA, b, baseB);
      await a.close();
      await b.close();
    });

    test(`${variant}: worker mode: C-style blocking echo client in a Worker, 1 MiB byte-exact (SHA-256)`, async () => {
      const { a, b, baseA, baseB } = await twoWorkers(variant);
      const sb = b.sockets;
      const lfd = await sb.socket(AF_INET, SOCK_STREAM, 0);
      await sb.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: 7001 });
      await sb.listen(lfd, 1);
      // The client attaches its own mailbox through a port to core A.
      const client = runWorker("echo", a.port(), { port: 7001 });
      const sfd = await sb.accept(lfd);
      const data = randomBytes(1 << 20);
      const h = createHash("sha256");
      let total = 0;
      const reader = (async () => {
        const buf = new Uint8Array(65536);
        let n: number;
        while ((n = await sb.recv(sfd, buf)) > 0) {
          h.update(buf.subarray(0, n));
          total += n;
        }
      })();
      await sb.send(sfd, data);
      await sb.shutdown(sfd, SHUT_WR);
      await reader;
      const want = createHash("sha256").update(data).digest("hex");
      const rep = await client.next();
      assert.equal(rep.total, data.length);
      assert.equal(rep.sha, want, "what the Worker received");
      assert.equal(total, data.length);
      assert.equal(h.digest("hex"), want, "what came back");
      await sb.close(sfd);
      await sb.close(lfd);
      assert.equal(await client.exited, 0);
      await noLeaks(a, baseA, b, baseB);
      await a.close();
      await b.close();
    });

    test(`${variant}: worker mode: errno names cross the boundary (RPC and blocking)`, async () => {
      const { a, b, baseA, baseB } = await twoWorkers(variant);
      const sa = a.sockets, sb = b.sockets;
      const fd = await sa.socket(AF_INET, SOCK_STREAM, 0);
      await assert.rejects(sa.connect(fd, { family: AF_INET, addr: B, port: 4242 }), (e: any) => {
        assert.ok(e instanceof SocketError);
        assert.equal(e.code, "ECONNREFUSED");
        assert.equal(e.errno, 111);
        assert.equal(e.syscall, "connect");
        return true;
      });
      assert.equal(sa.errno, 111);
      await sa.close(fd);
      await assert.rejects(sa.close(fd), { code: "EBADF", errno: 9, syscall: "close" });
      const l1 = await sb.socket(AF_INET, SOCK_STREAM, 0), l2 = await sb.socket(AF_INET, SOCK_STREAM, 0);
      await sb.bind(l1, { family: AF_INET, addr: B, port: 7002 });
      await assert.rejects(sb.bind(l2, { family: AF_INET, addr: B, port: 7002 }), { code: "EADDRINUSE", syscall: "bind" });
      await assert.rejects(sb.bind(l2, { family: AF_INET, addr: "198.51.100.9", port: 1 }), { code: "EADDRNOTAVAIL" });
      await sb.close(l1);
      await sb.close(l2);
      // The same from blocking code in a Worker, through a mailbox made on this thread.
      const client = runWorker("errors", a.mailbox());
      const rep = await client.next();
      assert.deepEqual(rep.refused, { name: "SocketError", code: "ECONNREFUSED", errno: 111, syscall: "connect" });
      assert.deepEqual(rep.badf, { name: "SocketError", code: "EBADF", errno: 9, syscall: "recv" });
      assert.deepEqual(rep.afno, { name: "SocketError", code: "EAFNOSUPPORT", errno: 97, syscall: "socket" });
      assert.equal(rep.errno, 97);
      assert.equal(await client.exited, 0);
      await noLeaks(a, baseA, b, baseB);
      await a.close();
      await b.close();
    });

    test(`${variant}: worker mode: close() aborts connections, ends the worker, wakes a blocked client, nothing leaks`, async () => {
      const { a, b, baseA, baseB } = await twoWorkers(variant);
      // A connection left open on purpose, and a Worker blocked in accept().
      const sa = a.sockets, sb = b.sockets;
      const lfd = await sb.socket(AF_INET, SOCK_STREAM, 0);
      await sb.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: 7003 });
      await sb.listen(lfd, 1);
      const cfd = await sa.socket(AF_INET, SOCK_STREAM, 0);
      await Promise.all([sa.connect(cfd, { family: AF_INET, addr: B, port: 7003 }), sb.accept(lfd)]);
      const client = runWorker("blocked", a.mailbox());
      assert.equal(await client.next(), "listening");
      await new Promise((r) => setTimeout(r, 20)); // let it block in accept
      // close() closes every descriptor: the blocked accept fails, later calls see the core gone.
      const usageA = await a.close();
      const rep = await client.next();
      // Woken with an error either way: EBADF when the close of its descriptor
      // answers first, ESHUTDOWN when the mailbox is already marked closed.
      assert.ok(["EBADF", "ESHUTDOWN"].includes(rep.accept.code), `blocked accept woke with ${rep.accept.code}`);
      assert.equal(rep.after.code, "ESHUTDOWN");
      assert.equal(await client.exited, 0);
      assert.equal(typeof (await a.exited), "number");
      await assert.rejects(sa.socket(AF_INET, SOCK_STREAM, 0), { code: "ESHUTDOWN" });
      // A's report, taken inside the worker after its connections were aborted.
      assert.deepEqual(usageA, baseA, "A's final report from inside the worker");
      // B: its connection was reset by A's close; close B's descriptors, B is back at baseline.
      await sb.closeAll();
      const end = Date.now() + 5000;
      let ub = await b.usage();
      while (JSON.stringify(ub) !== JSON.stringify(baseB) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 10));
        ub = await b.usage();
      }
      assert.deepEqual(ub, baseB, "B back to baseline");
      assert.deepEqual(await b.close(), baseB, "B's final report from inside the worker");
      assert.equal(typeof (await b.exited), "number");
    });
  }
}
