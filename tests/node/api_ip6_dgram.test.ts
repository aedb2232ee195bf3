// node:dgram on both families, differential: the same scripts on Node's
// own node:dgram over the kernel's loopback and on asip's stack.dgram over
// two stacks of the release build, in-thread and in Worker mode. Compared:
// address() and remoteAddress() shapes, rinfo of each message, error codes.
// IPv4 addresses are "V4" and ports "P" (loopback there, 192.0.2.x here).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeDgram from "node:dgram";
import "../../bindings/api/dgram.js";
import { tcpStacks, noLeaks, A, B } from "./api_tcp_common.js";
import { twoWorkers, workersNoLeaks } from "../helpers/workers.js";

type DgramLike = Pick<typeof nodeDgram, "createSocket">;
interface Env { server: DgramLike; client: DgramLike; serverHost: string }

function norm(x: unknown): unknown {
  if (typeof x === "string") return x.replace(/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/g, "V4");
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = /port$/i.test(k) && typeof v === "number" ? "P" : norm(v);
    return o;
  }
  return x;
}

const bound = (s: nodeDgram.Socket, port?: number, address?: string) =>
  new Promise<unknown>((res) => {
    s.once("error", (e: NodeJS.ErrnoException) => res({ error: e.code, syscall: e.syscall }));
    s.bind({ port, address }, () => res(s.address()));
  });
const message = (s: nodeDgram.Socket, ms = 2000) =>
  new Promise<{ msg: string; rinfo: nodeDgram.RemoteInfo } | "none">((res) => {
    const t = setTimeout(() => res("none"), ms);
    s.once("message", (m, rinfo) => { clearTimeout(t); res({ msg: m.toString(), rinfo }); });
  });
const closed = (...ss: nodeDgram.Socket[]) => Promise.all(ss.map((s) => new Promise<void>((r) => s.close(() => r()))));

/**
 * A server socket of `type` (+ ipv6Only) bound to `addr`; a client socket of
 * `clientType` sends to `to` ("S" = the server's IPv4 address), the server
 * echoes to rinfo, each side records what it saw. `rounds` datagrams.
 */
async function scenario(env: Env, type: "udp4" | "udp6", addr: string | undefined, ipv6Only: boolean, clientType: "udp4" | "udp6", to: string, connect: boolean, rounds = 3) {
  const log: Record<string, unknown> = {};
  const srv = env.server.createSocket({ type, ipv6Only });
  srv.on("message", (m, rinfo) => srv.send(m, rinfo.port, rinfo.address));
  log.bound = await bound(srv, 0, addr?.replace("S", env.serverHost));
  if ((log.bound as { error?: string }).error) {
    await closed(srv).catch(() => {});
    return norm(log);
  }
  const port = (srv.address() as { port: number }).port;
  const cli = env.client.createSocket(clientType);
  const dst = to.replace("S", env.serverHost);
  const seen: unknown[] = [];
  const seenAtServer: unknown[] = [];
  srv.on("message", (m, rinfo) => seenAtServer.push(rinfo));
  if (connect) {
    log.connect = await new Promise<unknown>((res) => cli.connect(port, dst, (e?: Error) => res(e ? { error: (e as NodeJS.ErrnoException).code } : cli.remoteAddress())));
  }
  for (let i = 0; i < rounds; i++) {
    const m = message(cli, ipv6Only && clientType === "udp4" ? 150 : 2000);
    const sent = await new Promise<unknown>((res) => {
      const cb = (e: Error | null) => res(e ? { error: (e as NodeJS.ErrnoException).code } : "sent");
      if (connect) cli.send(`ping ${i}`, cb);
      else cli.send(`ping ${i}`, port, dst, cb);
    });
    seen.push({ sent, reply: await m });
  }
  log.client = seen;
  log.server = seenAtServer;
  log.serverAddress = srv.address();
  await closed(srv, cli);
  return norm(log);
}

type Case = [string, "udp4" | "udp6", string | undefined, boolean, "udp4" | "udp6", string, boolean];
const CASES: Case[] = [
  ["udp6 bound without an address is '::' and hears IPv4 peers as ::ffff:", "udp6", undefined, false, "udp4", "S", false],
  ["udp6 on '::' answers a udp6 client sending to ::ffff:S", "udp6", "::", false, "udp6", "::ffff:S", false],
  ["udp6 client connected to ::ffff:S", "udp6", "::", false, "udp6", "::ffff:S", true],
  ["udp4 server, udp6 client connected to ::ffff:S", "udp4", "0.0.0.0", false, "udp6", "::ffff:S", true],
  ["udp6 bound to ::ffff:S", "udp6", "::ffff:S", false, "udp4", "S", false],
  ["udp6 ipv6Only does not hear IPv4", "udp6", "::", true, "udp4", "S", false],
  ["udp4 cannot bind '::'", "udp4", "::", false, "udp4", "S", false],
  ["udp6 cannot bind an IPv4 literal", "udp6", "S", false, "udp4", "S", false],
  ["udp6 ipv6Only cannot bind ::ffff:S", "udp6", "::ffff:S", true, "udp4", "S", false],
];

const kernel: Env = { server: nodeDgram, client: nodeDgram, serverHost: "127.0.0.1" };

test("ip6 dgram: scenarios match node:dgram (in-thread, release build)", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  try {
    const asip: Env = { server: b.dgram as unknown as DgramLike, client: a.dgram as unknown as DgramLike, serverHost: B };
    for (const c of CASES) {
      const want = await scenario(kernel, ...(c.slice(1) as [never, never, never, never, never, never]));
      const got = await scenario(asip, ...(c.slice(1) as [never, never, never, never, never, never]));
      assert.deepEqual(got, want, c[0]);
    }
    await noLeaks(a, baseA, b, baseB);
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 dgram: scenarios match node:dgram in Worker mode (release build)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  try {
    const asip: Env = { server: b.dgram as unknown as DgramLike, client: a.dgram as unknown as DgramLike, serverHost: B };
    for (const c of CASES) {
      const want = await scenario(kernel, ...(c.slice(1) as [never, never, never, never, never, never]));
      const got = await scenario(asip, ...(c.slice(1) as [never, never, never, never, never, never]));
      assert.deepEqual(got, want, c[0]);
    }
    await workersNoLeaks(a, baseA, b, baseB);
  } finally {
    await a.close();
    await b.close();
  }
});

test("ip6 dgram: 'udp6' on an IPv4-only core is EAFNOSUPPORT", async () => {
  const { a, b } = await tcpStacks("ipv4");
  try {
    assert.throws(() => a.dgram.createSocket("udp6"), { code: "EAFNOSUPPORT" });
  } finally {
    a.close();
    b.close();
  }
  void A;
});
