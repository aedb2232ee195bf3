// The Worker script of the Worker-mode scenarios' blocking clients
// (tests/node/worker_scenarios.ts starts it through blockingClient() in
// tests/helpers/workers.ts): plain C-style code on connectBlocking()
// sockets, reporting to the parent with postMessage. workerData.role picks
// what it does; workerData.to is the mailbox or the port to core A.
// Not a test file itself.
import { workerData, parentPort } from "node:worker_threads";
import { createHash } from "node:crypto";
import { connectBlocking } from "../../bindings/worker/client.js";

const B = "192.0.2.2";
const AF_INET = 2, SOCK_STREAM = 1;

const so = connectBlocking(workerData.to);
const report = (x: unknown) => parentPort!.postMessage(x);
/** What the core does to a mailbox when it shuts down (ST_CLOSED, protocol.ts). */
const closeMailbox = (i32: Int32Array) => {
  Atomics.store(i32, 0, 3);
  Atomics.notify(i32, 0);
};
const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
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
  // while ((n = recv(fd, buf)) > 0) send(fd, buf, n); with a SHA-256 of what came.
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
  const afno = errOf(() => so.socket(1, SOCK_STREAM, 0)); // AF_UNIX: no such family in asip
  report({ refused, badf, afno, errno: so.errno });
} else if (workerData.role === "blocked") {
  // Blocks in accept() until the core shuts down; then one more call, which
  // races the core's exit. It stalls inside that call for up to 3 ms (its
  // address is encoded into the request), as a preempted thread would, so
  // that the exit often lands between the call's first look at the mailbox
  // and its request: the window where a CLOSED used to be lost.
  const fd = so.socket(AF_INET, SOCK_STREAM, 0);
  so.bind(fd, { family: AF_INET, addr: "0.0.0.0", port: workerData.port });
  so.listen(fd, 1);
  report("listening");
  const accept = errOf(() => so.accept(fd));
  const stall = Math.random() * 3;
  const slowAddr = { family: AF_INET, addr: B, port: 7, toJSON: () => (spin(stall), { family: AF_INET, addr: B, port: 7 }) };
  const after = errOf(() => so.connect(fd, slowAddr));
  report({ accept, after });
} else if (workerData.role === "closed-mid-call") {
  // No core serves this mailbox. The core's shutdown is made to land inside
  // a call, between its first look at the mailbox and its request: the
  // address's toJSON runs while the request is encoded, and stores CLOSED
  // there as the core's exit() does.
  const i32 = new Int32Array(workerData.to, 0, 1);
  const addr = { family: AF_INET, addr: B, port: 7, toJSON: () => (closeMailbox(i32), { family: AF_INET, addr: B, port: 7 }) };
  const during = errOf(() => so.connect(3, addr));
  const after = errOf(() => so.socket(AF_INET, SOCK_STREAM, 0));
  report({ during, after });
} else {
  throw new Error(`blocking-client: unknown role ${String(workerData.role)}`);
}
