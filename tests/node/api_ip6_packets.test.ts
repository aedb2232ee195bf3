// IPv6 packets between two stacks over pair(), through the host APIs: the
// API pair matrices (25 TCP, 25 UDP) with IPv6 addresses, in-thread and in
// Worker mode, and 64 MiB each way at once over IPv6 at 5% loss through
// node:net, byte-exact by SHA-256, several times, pools back to baseline.
// Needs a core that configures IPv6 addresses (netif_ip6_add, the IPv6
// core of issue 11); the tests say so and skip on cores without it.
import "../../bindings/api/net.js";
import "../../bindings/api/dgram.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Stack } from "../../bindings/stack.js";
import { pair, type PairOptions } from "../../bindings/netif/pair.js";
import type { CoreVariant } from "../../bindings/core.js";
import { tcpEchoMatrix, type Fam } from "./api_echo.js";
import { udpEchoMatrix } from "./udp_echo.js";
import { VARIANTS, baseline, until, settle, type Usage } from "../helpers/stacks.js";
import { StackWorker } from "../../bindings/worker/client.js";
import { MessageChannel } from "node:worker_threads";

const A6 = "2001:db8::1", B6 = "2001:db8::2";
const MiB = 1 << 20;
const LOSS5_MIB = Number(process.env.TCP_LOSS5_MIB ?? 64);

/** Which of the builds every test runs (release, mvp) configure IPv6 addresses; the reason when none does. */
async function ip6Variants(): Promise<{ variants: CoreVariant[]; why?: string }> {
  const variants: CoreVariant[] = [];
  for (const v of VARIANTS) {
    const s = await Stack.create({ variant: v });
    if (s.ipv6 && typeof s.ex.netif_ip6_add === "function") variants.push(v);
    await s.close();
  }
  return variants.length ? { variants } : { variants: [], why: "no core configures IPv6 addresses (netif_ip6_add: the IPv6 core of issue 11)" };
}
const { variants: V6, why } = await ip6Variants();
if (why) console.log(`# skipped: ${why}`);

/** Both stacks with IPv6 addresses, static and link-local, past DAD. */
async function ip6Stacks(variant: CoreVariant, p?: PairOptions) {
  const [ea, eb] = pair(p);
  const a = await Stack.create({ variant });
  const b = await Stack.create({ variant });
  const ia = a.addInterface(ea, { ip: "192.0.2.1/24", mac: "02:00:00:00:00:01", ip6: [`${A6}/64`] });
  const ib = b.addInterface(eb, { ip: "192.0.2.2/24", mac: "02:00:00:00:00:02", ip6: [`${B6}/64`] });
  await a.waitAddress6(ia, (s) => s === A6);
  await b.waitAddress6(ib, (s) => s === B6);
  await a.waitAddress6(ia, (s) => s.startsWith("fe80:"));
  await b.waitAddress6(ib, (s) => s.startsWith("fe80:"));
  a.raw.tcp.setTimeWait(20);
  b.raw.tcp.setTimeWait(20);
  // Neighbour Discovery both ways before the baselines.
  await new Promise<void>((r) => {
    const s = b.net.createServer((c) => c.end()).listen(9, "::", () => {
      a.net.connect(9, B6).on("close", () => s.close(() => r())).resume();
    });
  });
  await until(() => a.usage().pools.TCP_PCB === 0 && b.usage().pools.TCP_PCB === 0, 5000, "the ND warm-up connection gone");
  await settle(5);
  return { a, b, ia, ib };
}

/**
 * Usage back at `base`, except that a timer running at the baseline may
 * have ended since: an interface solicits routers for its first seconds
 * (RFC 4861 §6.3.7: 3 RSs, 4 s apart), longer than these tests take to
 * reach their baseline. One timer more than at the baseline still fails.
 */
function sameUsage(now: Usage, base: Usage, what: string): void {
  const t = "SYS_TIMEOUT" as keyof Usage["pools"];
  assert.ok(now.pools[t] <= base.pools[t], `${what}: more timers than at the baseline`);
  assert.deepEqual({ ...now, pools: { ...now.pools, [t]: 0 } }, { ...base, pools: { ...base.pools, [t]: 0 } }, `${what}: heap/pools not back to baseline`);
}

async function noLeaks(a: Stack, baseA: Usage, b: Stack, baseB: Usage) {
  await until(() => {
    try { sameUsage(a.usage(), baseA, "A"); sameUsage(b.usage(), baseB, "B"); return true; } catch { return false; }
  }, 8000, "pools back to baseline").catch(() => {});
  sameUsage(a.usage(), baseA, "A");
  sameUsage(b.usage(), baseB, "B");
}

async function workersNoLeaks(a: StackWorker, baseA: Usage, b: StackWorker, baseB: Usage) {
  const ok = async () => {
    const [ua, ub] = await Promise.all([a.usage(), b.usage()]);
    sameUsage(ua, baseA, "A");
    sameUsage(ub, baseB, "B");
  };
  const end = Date.now() + 8000;
  for (;;) {
    try { return await ok(); } catch (e) { if (Date.now() > end) throw e; }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const FAM6: Fam = { v6: true, target: B6 };

for (const variant of V6.length ? V6 : ["release" as CoreVariant]) {
  const skip = why ?? false;
  test(`${variant}: IPv6: TCP 25 pairs and UDP 25 pairs of every API's IPv6 sockets to ${B6}`, { skip }, async () => {
    const { a, b } = await ip6Stacks(variant);
    const baseA = baseline(a), baseB = baseline(b);
    await tcpEchoMatrix(a, b, undefined, FAM6);
    await udpEchoMatrix(a, b, undefined, FAM6);
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });

  test(`${variant}: IPv6: ${LOSS5_MIB} MiB each way at once at 5% loss through node:net, SHA-256 equal, 2 times, pools back`, { skip, timeout: 600_000 }, async () => {
    const { a, b } = await ip6Stacks(variant, { loss: 0.05, seed: 11 });
    const baseA = baseline(a), baseB = baseline(b);
    const total = LOSS5_MIB * MiB;
    const chunk = new Uint8Array(MiB).map((_, i) => (i * 2654435761) >>> 24);
    const run = (s: import("../../bindings/api/net.js").Socket) => new Promise<{ rx: string; rxBytes: number }>((resolve, reject) => {
      const h = createHash("sha256");
      let n = 0;
      s.on("data", (d: Buffer) => { h.update(d); n += d.length; });
      s.on("error", reject);
      s.on("end", () => resolve({ rx: h.digest("hex"), rxBytes: n }));
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", pump);
        }
        s.end();
      };
      pump();
    });
    const want = createHash("sha256");
    for (let i = 0; i < total; i += MiB) want.update(chunk);
    const digest = want.digest("hex");
    for (let round = 0; round < 2; round++) {
      const server = new Promise<{ rx: string; rxBytes: number; remote: string | undefined; family: string | undefined }>((resolve, reject) => {
        // Both ends half-open: each finishes reading after its own writes (Node's default would end a side at the peer's FIN).
        const srv = b.net.createServer({ allowHalfOpen: true }, (c) => {
          run(c).then((r) => { srv.close(); resolve({ ...r, remote: c.remoteAddress, family: c.remoteFamily }); }, reject);
        }).listen(5001 + round, "::");
      });
      const c = a.net.connect({ port: 5001 + round, host: B6, allowHalfOpen: true });
      const [cr, sr] = await Promise.all([run(c), server]);
      assert.equal(sr.remote, A6);
      assert.equal(sr.family, "IPv6");
      assert.equal(cr.rxBytes, total);
      assert.equal(sr.rxBytes, total);
      assert.equal(cr.rx, digest);
      assert.equal(sr.rx, digest);
    }
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });

  test(`${variant}: IPv6 multicast: dgram addMembership and sockets IPV6_JOIN_GROUP receive a group's datagrams until they leave`, { skip }, async () => {
    const { a, b, ia, ib } = await ip6Stacks(variant);
    const GROUP = "ff02::1:3";
    const rx = b.dgram.createSocket("udp6");
    const got: string[] = [];
    rx.on("message", (m, r) => got.push(`${m} ${r.family}`));
    await new Promise<void>((r) => rx.bind(7400, r));
    rx.addMembership(GROUP, `::%${ib.index}`);
    const tx = a.dgram.createSocket("udp6");
    const send = (t: string) => new Promise<void>((r, j) => tx.send(t, 7400, `${GROUP}%${ia.index}`, (e: Error | null) => (e ? j(e) : r())));
    await send("one");
    await until(() => got.length === 1, 2000, "the group's datagram");
    assert.deepEqual(got, ["one IPv6"]);
    rx.dropMembership(GROUP, `::%${ib.index}`);
    await send("two");
    await settle(20);
    assert.deepEqual(got, ["one IPv6"], "not after dropMembership");
    // BSD sockets: IPV6_JOIN_GROUP with struct ipv6_mreq.
    const so = b.sockets;
    const fd = so.socket(10, 2);
    so.bind(fd, { family: 10, addr: "::", port: 7401 });
    so.setsockopt(fd, 41, 20, { multiaddr: GROUP, interface: ib.index });
    await new Promise<void>((r, j) => tx.send("three", 7401, `${GROUP}%${ia.index}`, (e: Error | null) => (e ? j(e) : r())));
    const buf = new Uint8Array(16);
    const from = {} as { family: number; addr: string; port: number };
    assert.equal(await so.recvfrom(fd, buf, 0, from), 5);
    assert.equal(from.family, 10);
    await so.close(fd);
    tx.close();
    rx.close();
    await a.close();
    await b.close();
  });

  test(`${variant}: IPv6 sockets: IPV6_UNICAST_HOPS is the hop limit on the wire (64 by default), sockaddr_in6 scopeId reaches a link-local peer`, { skip }, async () => {
    // B's link sees every frame: the hop limit of UDP datagrams to port 7500.
    const [ea, eb] = pair();
    const hops: number[] = [];
    const tapB = {
      get mtu() { return eb.mtu; },
      get linkType() { return eb.linkType; },
      send: (f: Uint8Array) => eb.send(f),
      onReceive: (cb: (f: Uint8Array) => void) => eb.onReceive((f) => {
        // Ethernet (14) + IPv6: next header at +6, hop limit at +7, UDP destination port at 40+2.
        if (f[12] === 0x86 && f[13] === 0xdd && f[14 + 6] === 17 && ((f[14 + 42] << 8) | f[14 + 43]) === 7500) hops.push(f[14 + 7]);
        cb(f);
      }),
      close: () => eb.close(),
    };
    const a = await Stack.create({ variant });
    const b = await Stack.create({ variant });
    const ia = a.addInterface(ea, { mac: "02:00:00:00:00:01", ip6: [`${A6}/64`] });
    const ib = b.addInterface(tapB, { mac: "02:00:00:00:00:02", ip6: [`${B6}/64`] });
    await a.waitAddress6(ia, (s) => s === A6);
    await b.waitAddress6(ib, (s) => s === B6);
    const llB = (await b.waitAddress6(ib, (s) => s.startsWith("fe80:"))).split("%")[0];
    await a.waitAddress6(ia, (s) => s.startsWith("fe80:"));
    try {
      const so = a.sockets, sb = b.sockets;
      const rx = sb.socket(10, 2);
      sb.bind(rx, { family: 10, addr: "::", port: 7500 });
      const tx = so.socket(10, 2);
      const recv = async () => {
        const from = {} as { family: number; addr: string; port: number; scopeId?: number };
        const n = await sb.recvfrom(rx, new Uint8Array(16), 0, from);
        return { n, from };
      };
      await so.sendto(tx, Uint8Array.of(1), 0, { family: 10, addr: B6, port: 7500, flowinfo: 0, scopeId: 0 });
      assert.equal((await recv()).n, 1);
      so.setsockopt(tx, 41, 16, 9); // IPV6_UNICAST_HOPS
      await so.sendto(tx, Uint8Array.of(2), 0, { family: 10, addr: B6, port: 7500, flowinfo: 0, scopeId: 0 });
      await recv();
      assert.deepEqual(hops, [64, 9]);
      // Link-local: the scope id names A's interface; B sees A's link-local source with its own interface as scope.
      await so.sendto(tx, Uint8Array.of(3), 0, { family: 10, addr: llB, port: 7500, flowinfo: 0, scopeId: ia.index });
      const r = await recv();
      assert.equal(r.n, 1);
      assert.match(r.from.addr, /^fe80:/);
      assert.equal(r.from.scopeId, ib.index);
      so.close(tx);
      sb.close(rx);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test(`${variant}: IPv6 in Worker mode: TCP 25 pairs and UDP 25 pairs to ${B6}`, { skip }, async () => {
    const ch = new MessageChannel();
    const [a, b] = await Promise.all([
      StackWorker.start({ variant: variant as "release", interfaces: [{ link: { type: "port", port: ch.port1 as never }, ip: "192.0.2.1/24", mac: "02:00:00:00:00:01" }], tcpTimeWaitMs: 20 }),
      StackWorker.start({ variant: variant as "release", interfaces: [{ link: { type: "port", port: ch.port2 as never }, ip: "192.0.2.2/24", mac: "02:00:00:00:00:02" }], tcpTimeWaitMs: 20 }),
    ]);
    try {
      await a.addAddress6(a.interfaces[0].index, `${A6}/64`);
      await b.addAddress6(b.interfaces[0].index, `${B6}/64`);
      const pref = (w: StackWorker, f: (s: string) => boolean) => (w.interfaces[0].ip6 ?? []).some((s) => f(s.address) && s.stateName === "preferred");
      await until(() => pref(a, (s) => s === A6) && pref(b, (s) => s === B6) && pref(a, (s) => s.startsWith("fe80:")) && pref(b, (s) => s.startsWith("fe80:")), 10_000, "IPv6 addresses preferred (DAD)");
      await settle(5);
      const baseA = await a.usage(), baseB = await b.usage();
      await tcpEchoMatrix(a, b, undefined, FAM6);
      await udpEchoMatrix(a, b, undefined, FAM6);
      await workersNoLeaks(a, baseA, b, baseB);
    } finally {
      await a.close();
      await b.close();
    }
  });
}
