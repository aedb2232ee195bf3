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
import { normAddresses } from "../helpers/norm-addresses.js";
import type { Interface } from "../../bindings/stack.js";

type DgramLike = Pick<typeof nodeDgram, "createSocket">;
interface Env { server: DgramLike; client: DgramLike; serverHost: string; serverHost6?: string }

/** "S6" and "S" in a case's text: the server's IPv6 and IPv4 addresses. */
const sub = (t: string, env: Env) => t.replace("S6", env.serverHost6 ?? "S6").replace("S", env.serverHost);


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
  log.bound = await bound(srv, 0, addr === undefined ? undefined : sub(addr, env));
  if ((log.bound as { error?: string }).error) {
    await closed(srv).catch(() => {});
    return normAddresses(log);
  }
  const port = (srv.address() as { port: number }).port;
  const cli = env.client.createSocket(clientType);
  const dst = sub(to, env);
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
    seen.push({ sent, reply: sent === "sent" ? await m : "none" });
  }
  log.client = seen;
  log.server = seenAtServer;
  log.serverAddress = srv.address();
  await closed(srv, cli);
  return normAddresses(log);
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

const kernel: Env = { server: nodeDgram, client: nodeDgram, serverHost: "127.0.0.1", serverHost6: "::1" };

const CASES6: Case[] = [
  ["udp6 bound without an address answers a udp6 client over IPv6", "udp6", undefined, false, "udp6", "S6", false],
  ["udp6 ipv6Only hears IPv6", "udp6", "::", true, "udp6", "S6", false],
  ["udp6 bound to its IPv6 address, connected client", "udp6", "S6", false, "udp6", "S6", true],
  ["udp4 cannot send to an IPv6 address", "udp4", "0.0.0.0", false, "udp4", "S6", false],
];

test("ip6 dgram: IPv6 cases match node:dgram on ::1 (release build, IPv6 packets)", async () => {
  const { a, b, ia, ib } = (await tcpStacks("release")) as Awaited<ReturnType<typeof tcpStacks>> & { ia: Interface; ib: Interface };
  try {
    a.addAddress6(ia, "2001:db8::1/64");
    b.addAddress6(ib, "2001:db8::2/64");
    await a.waitAddress6(ia, (t) => t === "2001:db8::1");
    await b.waitAddress6(ib, (t) => t === "2001:db8::2");
    const asip: Env = { server: b.dgram as unknown as DgramLike, client: a.dgram as unknown as DgramLike, serverHost: B, serverHost6: "2001:db8::2" };
    for (const c of CASES6) {
      const want = await scenario(kernel, ...(c.slice(1) as [never, never, never, never, never, never]));
      const got = await scenario(asip, ...(c.slice(1) as [never, never, never, never, never, never]));
      assert.deepEqual(got, want, c[0]);
    }
    await new Promise((r) => setTimeout(r, 50));
    for (const s of [a, b]) assert.equal(s.usage().pools.UDP_PCB + s.usage().pools.PBUF + s.usage().pools.PBUF_POOL, 0, "sockets and buffers released");
  } finally {
    a.close();
    b.close();
  }
});

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
