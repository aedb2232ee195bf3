// The Worker-mode suite's scenarios (bindings/worker): two core workers
// joined by a MessagePort link (A = 192.0.2.1, B = 192.0.2.2), release or
// mvp: (a) the sockets echo from the main thread through the RPC, (b) a
// Worker running C-style blocking code (while ((n = recv(fd, buf)) > 0)
// send(...)) byte-exact over 1 MiB with SHA-256, (c) errno names across
// the boundary both ways, (d) close() ends the worker, a blocked client
// wakes, pools are back to baseline as reported from inside the worker,
// (e) terminate() (no cleanup inside the worker) still wakes blocked
// clients, on a mailbox and on a port, and fails pending calls of a port.
// api_worker.test.ts runs each once; tests/stress/worker.test.ts runs them
// round after round under a competing CPU load. Not a test file itself.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { SocketError } from "../../bindings/api/errno.js";
import { attachPort } from "../../bindings/worker/client.js";
import { twoWorkers, workersNoLeaks as noLeaks, blockingClient, A, B } from "../helpers/workers.js";

const AF_INET = 2, SOCK_STREAM = 1, SHUT_WR = 1;

export type Variant = "release" | "mvp";

async function rpcEcho(variant: Variant): Promise<void> {
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
}

async function blockingEcho(variant: Variant): Promise<void> {
  const { a, b, baseA, baseB } = await twoWorkers(variant);
  const sb = b.sockets;
  const lfd = await sb.socket(AF_INET, SOCK_STREAM, 0);
  await sb.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: 7001 });
  await sb.listen(lfd, 1);
  // The client attaches its own mailbox through a port to core A.
  const client = blockingClient("echo", a.port(), { port: 7001 });
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
}

async function errnoNames(variant: Variant): Promise<void> {
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
  const client = blockingClient("errors", a.mailbox());
  const rep = await client.next();
  assert.deepEqual(rep.refused, { name: "SocketError", code: "ECONNREFUSED", errno: 111, syscall: "connect" });
  assert.deepEqual(rep.badf, { name: "SocketError", code: "EBADF", errno: 9, syscall: "recv" });
  assert.deepEqual(rep.afno, { name: "SocketError", code: "EAFNOSUPPORT", errno: 97, syscall: "socket" });
  assert.equal(rep.errno, 97);
  assert.equal(await client.exited, 0);
  await noLeaks(a, baseA, b, baseB);
  await a.close();
  await b.close();
}

async function closeWakesBlocked(variant: Variant): Promise<void> {
  const { a, b, baseA, baseB } = await twoWorkers(variant);
  // A connection left open on purpose, and a Worker blocked in accept().
  const sa = a.sockets, sb = b.sockets;
  const lfd = await sb.socket(AF_INET, SOCK_STREAM, 0);
  await sb.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: 7003 });
  await sb.listen(lfd, 1);
  const cfd = await sa.socket(AF_INET, SOCK_STREAM, 0);
  await Promise.all([sa.connect(cfd, { family: AF_INET, addr: B, port: 7003 }), sb.accept(lfd)]);
  const client = blockingClient("blocked", a.mailbox(), { port: 7100 });
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
}

async function terminateWakesBlocked(variant: Variant): Promise<void> {
  const { a, b, baseB } = await twoWorkers(variant);
  // Two clients blocked in accept() (one on a mailbox made here, one that
  // attached its own through a port) and an RPC accept over another port.
  const viaMailbox = blockingClient("blocked", a.mailbox(), { port: 7101 });
  const viaPort = blockingClient("blocked", a.port(), { port: 7102 });
  const rpc = attachPort(a.port(), a.interfaces).sockets;
  const lfd = await rpc.socket(AF_INET, SOCK_STREAM, 0);
  await rpc.bind(lfd, { family: AF_INET, addr: "0.0.0.0", port: 7103 });
  await rpc.listen(lfd, 1);
  // Handled now: it fails while this thread awaits the clients' reports.
  const pending = assert.rejects(rpc.accept(lfd), { code: "ESHUTDOWN" }, "a call pending on a port of the core fails when the port closes");
  assert.equal(await viaMailbox.next(), "listening");
  assert.equal(await viaPort.next(), "listening");
  // Nothing in the core answers now: this thread marks the mailboxes CLOSED.
  await a.terminate();
  for (const c of [viaMailbox, viaPort]) {
    const rep = await c.next();
    assert.equal(rep.accept.code, "ESHUTDOWN", "a blocked accept wakes");
    assert.equal(rep.after.code, "ESHUTDOWN", "later calls fail at once");
    assert.equal(await c.exited, 0);
  }
  await pending;
  await assert.rejects(a.sockets.socket(AF_INET, SOCK_STREAM, 0), { code: "ESHUTDOWN" });
  // B never had a connection: its final report is its baseline.
  assert.deepEqual(await b.close(), baseB, "B's final report from inside the worker");
}

/**
 * The scenarios, in the order the suite runs them. Each ends with both
 * workers gone and their heap and pools at baseline (but A in the last one:
 * it is terminated, with nothing left to ask).
 */
export const workerScenarios: { name: string; run: (variant: Variant) => Promise<void> }[] = [
  { name: "sockets echo from the main thread through the RPC", run: rpcEcho },
  { name: "C-style blocking echo client in a Worker, 1 MiB byte-exact (SHA-256)", run: blockingEcho },
  { name: "errno names cross the boundary (RPC and blocking)", run: errnoNames },
  { name: "close() aborts connections, ends the worker, wakes a blocked client, nothing leaks", run: closeWakesBlocked },
  { name: "terminate() wakes blocked clients (mailbox and port) and fails a port's pending calls", run: terminateWakesBlocked },
];
