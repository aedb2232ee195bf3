// node:net on both families, differential: the same scripts run on Node's
// own node:net over the kernel's loopback (dual-stack '::', bindv6only 0 as
// Linux defaults) and on asip's stack.net over two stacks of the release
// build (IPv6 on), in-thread and in Worker mode, and the observable shapes
// must match: server.address(), each socket's local/remote address and
// family, error codes. IPv4 addresses are compared as "V4" (loopback's
// 127.0.0.1 there, 192.0.2.x here) and ports as numbers, so
// `::ffff:V4`, `'::'` and families are what is compared.
//
// SCENARIOS run over IPv4 packets through dual-stack pcbs; SCENARIOS6 over
// IPv6 packets (Node on ::1, asip between 2001:db8::1 and ::2; IPv6
// addresses are compared as "V6").
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeNet from "node:net";
import { createHash } from "node:crypto";
import "../../bindings/api/net.js";
import { tcpStacks, noLeaks, A, B } from "./api_tcp_common.js";
import { twoWorkers, workersNoLeaks } from "../helpers/workers.js";
import { normAddresses } from "../helpers/norm-addresses.js";
import { isIP as asipIsIP } from "../../bindings/ip-address.js";
import type { Stack, Interface } from "../../bindings/stack.js";

type NetLike = Pick<typeof nodeNet, "createServer" | "connect">;
interface Env { server: NetLike; client: NetLike; serverHost: string; clientHost: string; serverHost6?: string; clientHost6?: string }

/** "S6"/"C6" and "S"/"C" in a scenario's text: the server's and client's IPv6 and IPv4 addresses. */
const sub = (t: string, env: Env) =>
  t.replace("S6", env.serverHost6 ?? "S6").replace("C6", env.clientHost6 ?? "C6").replace("S", env.serverHost).replace("C", env.clientHost);


const ends = (s: nodeNet.Socket) => ({
  localAddress: s.localAddress, localFamily: (s as { localFamily?: string }).localFamily, localPort: s.localPort,
  remoteAddress: s.remoteAddress, remoteFamily: s.remoteFamily, remotePort: s.remotePort, address: s.address(),
});

/**
 * One scenario: a server listening with `listen`, a client connecting with
 * `connect` (the server's IPv4 address substituted for "S"), both ends'
 * shapes recorded, then `rounds` exchanges of `size` bytes each way at once.
 */
async function scenario(env: Env, listen: nodeNet.ListenOptions, connect: { host: string; localAddress?: string }, size = 0, rounds = 1) {
  // The two ends' records apart: which connect callback runs first is timing.
  const log: unknown[] = [];
  const serverLog: unknown[] = [];
  const srv = env.server.createServer((c) => {
    serverLog.push(ends(c));
    const h = createHash("sha256");
    c.on("data", (d) => h.update(d));
    c.on("end", () => { c.write(h.digest("hex")); c.end(); });
    c.on("error", () => {});
  });
  await new Promise<void>((res, rej) => { srv.once("error", rej); srv.listen(listen, () => res()); });
  log.push({ listening: srv.address() });
  const port = (srv.address() as nodeNet.AddressInfo).port;
  const host = sub(connect.host, env);
  const localAddress = connect.localAddress === undefined ? undefined : sub(connect.localAddress, env);
  try {
    for (let r = 0; r < rounds; r++) {
      const payload = Buffer.alloc(size, r + 1);
      const out = await new Promise<unknown>((res) => {
        const c = env.client.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
        const got: Buffer[] = [];
        c.on("connect", () => {
          log.push({ client: ends(c) });
          c.end(payload);
        });
        c.on("data", (d) => got.push(d));
        c.on("error", (e: NodeJS.ErrnoException) => res({ error: e.code, syscall: e.syscall }));
        c.on("close", () => res({ digestOk: Buffer.concat(got).toString() === createHash("sha256").update(payload).digest("hex") }));
      });
      log.push(out);
    }
  } finally {
    await new Promise<void>((res) => srv.close(() => res()));
  }
  return normAddresses({ client: log, server: serverLog });
}

const SCENARIOS: [string, nodeNet.ListenOptions, { host: string; localAddress?: string }][] = [
  ["listen() with no host is '::', dual-stack: IPv4 peers are ::ffff:", { port: 0 }, { host: "S" }],
  ["listen('::') takes an IPv4 client", { port: 0, host: "::" }, { host: "S" }],
  ["listen('0.0.0.0') stays IPv4", { port: 0, host: "0.0.0.0" }, { host: "S" }],
  ["connect to ::ffff:a.b.c.d is a family-6 socket", { port: 0, host: "::" }, { host: "::ffff:S" }],
  ["connect to ::ffff:a.b.c.d from localAddress ::ffff:c", { port: 0, host: "0.0.0.0" }, { host: "::ffff:S", localAddress: "::ffff:C" }],
  ["listen on ::ffff:a.b.c.d", { port: 0, host: "::ffff:S" }, { host: "S" }],
  ["ipv6Only refuses IPv4 peers", { port: 0, host: "::", ipv6Only: true }, { host: "S" }],
];

const kernel: Env = { server: nodeNet, client: nodeNet, serverHost: "127.0.0.1", clientHost: "127.0.0.1", serverHost6: "::1", clientHost6: "::1" };

const SCENARIOS6: [string, nodeNet.ListenOptions, { host: string; localAddress?: string }][] = [
  ["listen() with no host takes an IPv6 client", { port: 0 }, { host: "S6" }],
  ["listen('::', ipv6Only) takes an IPv6 client", { port: 0, host: "::", ipv6Only: true }, { host: "S6" }],
  ["listen on an IPv6 address", { port: 0, host: "S6" }, { host: "S6" }],
  ["connect from localAddress (IPv6)", { port: 0, host: "::" }, { host: "S6", localAddress: "C6" }],
  ["an IPv6 listener refuses IPv4 clients", { port: 0, host: "S6" }, { host: "S" }],
  ["connect to a port nobody listens on (IPv6)", { port: 0, host: "0.0.0.0" }, { host: "S6" }],
];

/** Two stacks with IPv6 addresses past DAD (and a warm neighbour cache), and their baselines. */
async function ip6Stacks() {
  const st = await tcpStacks("release");
  const { a, b, ia, ib } = st as typeof st & { ia: Interface; ib: Interface };
  a.addAddress6(ia, "2001:db8::1/64");
  b.addAddress6(ib, "2001:db8::2/64");
  for (const [s, i, x] of [[a, ia, "2001:db8::1"], [b, ib, "2001:db8::2"]] as [Stack, Interface, string][]) {
    await s.waitAddress6(i, (t) => t === x);
    await s.waitAddress6(i, (t) => t.startsWith("fe80:"));
  }
  return { a, b };
}

async function expected(listen: nodeNet.ListenOptions, connect: { host: string; localAddress?: string }) {
  const l = { ...listen, host: listen.host?.replace("S", kernel.serverHost) };
  return scenario(kernel, l, connect);
}

test("ip6 net: isIP, isIPv4, isIPv6 agree with Node's for both families", () => {
  const cases = ["::", "::1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0", "1.2.3.4", "01.2.3.4", "1.2.3", "256.1.1.1",
    "2001:db8::1::2", "::ffff:1.2.3.256", "", "localhost", "2001:DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9"];
  for (const c of cases) assert.equal(asipIsIP(c), nodeNet.isIP(c), `isIP(${JSON.stringify(c)})`);
});

test("ip6 net: scenarios match node:net (in-thread, release build)", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  try {
    assert.equal(a.ipv6, true);
    const asip: Env = { server: b.net as unknown as NetLike, client: a.net as unknown as NetLike, serverHost: B, clientHost: A };
    for (const [name, listen, connect] of SCENARIOS) {
      const want = await expected(listen, connect);
      const l = { ...listen, host: listen.host?.replace("S", B) };
      const got = await scenario(asip, l, connect);
      assert.deepEqual(got, want, name);
    }
    await noLeaks(a, baseA, b, baseB);
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 net: IPv6 scenarios match node:net on ::1 (release build, IPv6 packets), 256 KiB each way, 2 rounds", async () => {
  const { a, b } = await ip6Stacks();
  try {
    const asip: Env = {
      server: b.net as unknown as NetLike, client: a.net as unknown as NetLike, serverHost: B, clientHost: A,
      serverHost6: "2001:db8::2", clientHost6: "2001:db8::1",
    };
    for (const [name, listen, connect] of SCENARIOS6) {
      const want = await scenario(kernel, { ...listen, host: listen.host === undefined ? undefined : sub(listen.host, kernel) }, connect, 256 * 1024, 2);
      const got = await scenario(asip, { ...listen, host: listen.host === undefined ? undefined : sub(listen.host, asip) }, connect, 256 * 1024, 2);
      assert.deepEqual(got, want, name);
    }
    // Nothing left behind (timers aside: the interfaces still solicit routers for their first seconds).
    await new Promise((r) => setTimeout(r, 100));
    for (const s of [a, b]) {
      const p = s.usage().pools;
      assert.equal(p.TCP_PCB + p.TCP_PCB_LISTEN + p.TCP_SEG + p.PBUF + p.PBUF_POOL, 0, "pcbs, segments and buffers released");
    }
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 net: a dual-stack listener carries 1 MiB each way at once, 3 times, pools back after", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  try {
    const asip: Env = { server: b.net as unknown as NetLike, client: a.net as unknown as NetLike, serverHost: B, clientHost: A };
    const got = await scenario(asip, { port: 0 }, { host: "::ffff:S" }, 1 << 20, 3);
    const want = await scenario(kernel, { port: 0 }, { host: "::ffff:S" }, 1 << 20, 3);
    assert.deepEqual(got, want);
    await noLeaks(a, baseA, b, baseB);
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 net: scenarios match node:net in Worker mode (release build)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  try {
    assert.equal(a.ipv6, true);
    const asip: Env = { server: b.net as unknown as NetLike, client: a.net as unknown as NetLike, serverHost: B, clientHost: A };
    for (const [name, listen, connect] of SCENARIOS) {
      const l = { ...listen, host: listen.host?.replace("S", B) };
      const got = await scenario(asip, l, connect, 64 * 1024, 2);
      const want = await scenario(kernel, { ...listen, host: listen.host?.replace("S", kernel.serverHost) }, connect, 64 * 1024, 2);
      assert.deepEqual(got, want, name);
    }
    await workersNoLeaks(a, baseA, b, baseB);
  } finally {
    await a.close();
    await b.close();
  }
});

test("ip6 net: an IPv4-only core keeps '0.0.0.0' shapes and refuses IPv6 hosts with EAFNOSUPPORT", async () => {
  const { a, b } = await tcpStacks("ipv4");
  try {
    assert.equal(a.ipv6, false);
    const srv = b.net.createServer();
    await new Promise<void>((r) => srv.listen(0, () => r()));
    assert.equal(srv.address()!.address, "0.0.0.0");
    assert.equal(srv.address()!.family, "IPv4");
    await new Promise<void>((r) => srv.close(() => r()));
    const err = await new Promise<NodeJS.ErrnoException>((res) => a.net.connect({ host: "2001:db8::2", port: 80 }).on("error", res));
    assert.equal(err.code, "EAFNOSUPPORT");
  } finally {
    a.close();
    b.close();
  }
});
