// Listening again on a port whose last server-side connections are still in
// TIME_WAIT, checked differentially: Node's own node:net over the kernel's
// loopback and asip's stack.net between two stacks must agree (the new
// listener binds; a second listener beside it gets EADDRINUSE). Release and
// mvp; both stacks' heap and pools back at baseline after.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import "../../bindings/api/net.js";
import { VARIANTS } from "../helpers/stacks.js";
import { tcpStacks, noLeaks, B } from "./api_tcp_common.js";

type NetLike = Pick<typeof net, "createServer" | "connect">;

/** Serves one connection that the server closes first (its side lingers in TIME_WAIT), then listens again. */
async function relisten(srv: NetLike, cli: NetLike, host: string, port: number): Promise<string[]> {
  const log: string[] = [];
  const s1 = srv.createServer((c) => c.end("bye"));
  await new Promise<void>((resolve, reject) => {
    s1.once("error", reject);
    s1.listen(port, host, resolve);
  });
  await new Promise<void>((resolve) => {
    const c = cli.connect(port, host);
    c.on("data", () => {});
    c.on("end", () => c.end());
    c.on("close", () => resolve());
  });
  await new Promise<void>((resolve) => s1.close(() => resolve()));
  const listen = (s: net.Server, what: string) =>
    new Promise<void>((resolve) => {
      s.once("error", (e: NodeJS.ErrnoException) => {
        log.push(`${what}: ${e.code}`);
        resolve();
      });
      s.listen(port, host, () => {
        log.push(`${what}: listening`);
        resolve();
      });
    });
  const s2 = srv.createServer(() => {});
  await listen(s2, "again");
  const s3 = srv.createServer(() => {});
  await listen(s3, "beside");
  for (const s of [s3, s2]) if (s.listening) await new Promise<void>((resolve) => s.close(() => resolve()));
  return log;
}

for (const variant of VARIANTS) {
  test(`${variant}: a listener binds over its predecessor's TIME_WAIT connections, as node:net's does`, async () => {
    const want = await relisten(net, net, "127.0.0.1", 0x9000 + (process.pid % 0x1000));
    assert.deepEqual(want, ["again: listening", "beside: EADDRINUSE"]);
    const { a, b, baseA, baseB } = await tcpStacks(variant);
    assert.deepEqual(await relisten(b.net as unknown as NetLike, a.net as unknown as NetLike, B, 7070), want);
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });
}
