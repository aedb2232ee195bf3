// Issue 11's peer "a kernel namespace routing between two asip interfaces
// (forwarding)": one namespace with two TAPs and IPv6 forwarding on
// (2001:db8:1::1/64 on tap0, 2001:db8:2::1/64 on tap1); asip stack A on tap0
// (2001:db8:1::2, default router 2001:db8:1::1) and asip stack B on tap1
// (2001:db8:2::2, default router 2001:db8:2::1). What A sends B is off-link,
// so it goes to A's router (RFC 4861 §5.2 next-hop determination, ND for the
// router's address), the kernel forwards it (hop limit one less, counted in
// Ip6OutForwDatagrams) and resolves B by ND on the other link. Checked:
// ping6 A → B and B → A across the router, the kernel's own ping6 to both,
// TCP 2 MiB each way at once between A and B with SHA-256 equal, and both
// stacks' pools back at their baselines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Stack, type Interface } from "../../bindings/stack.js";
import { TapDevice } from "../../bindings/netif/tap.js";
import { rawApi } from "../../bindings/api/raw.js";
import { tcpBothWays } from "../helpers/tcp-both-ways.js";
import { IpAddress } from "../../bindings/ip-address.js";
import { inetChecksum, pseudoHeaderSum } from "../../bindings/wire/checksum.js";
import { canRunPeerTests, createNetns } from "../helpers/netns.js";
import { pingSummary } from "../helpers/peer.js";
import { baseline, assertNoLeaks, until, settle } from "../helpers/stacks.js";

const skip = canRunPeerTests(["ping", "sysctl"]);
if (skip) console.log(`ipv6_kernel_router: skipped: ${skip}`);

const A = "2001:db8:1::2", RA = "2001:db8:1::1";
const B = "2001:db8:2::2", RB = "2001:db8:2::1";

function echo6(src: string, dst: string, seq: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + body.length);
  m[0] = 128;
  m[5] = 0x42; m[6] = seq >> 8; m[7] = seq & 0xff;
  m.set(body, 8);
  const c = inetChecksum(m, 0, m.length, pseudoHeaderSum(IpAddress.parse(src), IpAddress.parse(dst), 58, m.length));
  m[2] = c >> 8; m[3] = c & 0xff;
  return m;
}

/** Pings `dst` from stack `s` through a raw ICMPv6 pcb; returns the reply's hop limit. */
async function ping6(s: Stack, src: string, dst: string, size: number): Promise<number> {
  const r = rawApi(s).ip.new(58, { ipType: 6 });
  let hops = -1, len = -1;
  r.recv((pkt, _from, info) => { if (pkt[info.hlen] === 129) { hops = pkt[7]!; len = pkt.length - info.hlen; } });
  try {
    for (let i = 0; i < 3 && hops < 0; i++) {
      r.sendto(echo6(src, dst, i, new Uint8Array(size).map((_, k) => k & 0xff)), dst);
      await until(() => hops >= 0, 2000, `the echo reply from ${dst}`).catch(() => {});
    }
    assert.ok(hops >= 0, `no echo reply from ${dst}`);
    assert.equal(len, 8 + size);
    return hops;
  } finally {
    r.remove();
  }
}

function forwarded(ns: { exec(cmd: string, args?: string[]): { stdout: string } }): number {
  const m = /Ip6OutForwDatagrams\s+(\d+)/.exec(ns.exec("cat", ["/proc/net/snmp6"]).stdout);
  return m ? Number(m[1]) : -1;
}

test("a kernel namespace routes IPv6 between two asip stacks: ping6 both ways, TCP both ways SHA-256 equal", { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  const ns = createNetns({ addr: null, ipv6: `${RA}/64` }, t);
  const tap1 = "tap1";
  const must = (r: { status: number | null; stderr: string }, what: string) => assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  must(ns.ip("tuntap", "add", "dev", tap1, "mode", "tap"), "tuntap add tap1");
  must(ns.ip("addr", "add", `${RB}/64`, "dev", tap1, "nodad"), "addr add tap1");
  must(ns.ip("link", "set", tap1, "up"), "link set tap1 up");
  must(ns.exec("sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]), "sysctl forwarding");

  const a = await Stack.create();
  const b = await Stack.create();
  t.after(async () => { await a.close(); await b.close(); });
  const tapA = await TapDevice.open(ns.tap, { netns: ns.name });
  const tapB = await TapDevice.open(tap1, { netns: ns.name });
  await tapA.waitUp();
  await tapB.waitUp();
  const ia: Interface = a.addInterface(tapA, { mtu: tapA.mtu, ip6: [`${A}/64`], gateway6: RA });
  const ib: Interface = b.addInterface(tapB, { mtu: tapB.mtu, ip6: [`${B}/64`], gateway6: RB });
  await a.waitAddress6(ia, (x) => x === A, 15_000);
  await b.waitAddress6(ib, (x) => x === B, 15_000);
  await until(() => !/tentative/.test(ns.ip("-6", "addr", "show").stdout), 10_000, "the kernel's addresses");
  rawApi(a).tcp.setTimeWait(50);
  rawApi(b).tcp.setTimeWait(50);
  await new Promise((r) => setTimeout(r, 1500)); // MLD's repeated reports (RFC 3810 §9.11) are over
  await settle(5);
  const baseA = baseline(a), baseB = baseline(b);

  // The kernel reaches both stacks on its own links.
  for (const dst of [A, B]) {
    const r = await ns.run("ping", ["-6", "-c", "2", "-i", "0.2", "-W", "2", dst]);
    assert.equal(pingSummary(r.stdout).rx, 2, r.stdout + r.stderr);
  }

  // A ↔ B through the router: the replies arrive with the hop limit one less
  // than the other stack sent (the kernel forwarded them once).
  const fw0 = forwarded(ns);
  const hopsAtA = await ping6(a, A, B, 1000);
  const hopsAtB = await ping6(b, B, A, 56);
  assert.equal(hopsAtA, 63, "B's reply, forwarded once");
  assert.equal(hopsAtB, 63, "A's reply, forwarded once");
  assert.ok(forwarded(ns) - fw0 >= 4, "the kernel forwarded the requests and replies");

  // TCP: 2 MiB each way at once, A connecting to B across the router.
  const size = 2 << 20;
  const da = randomBytes(size), db = randomBytes(size);
  const fw1 = forwarded(ns);
  await tcpBothWays(a, b, { dst: B, port: 5001, da, db, what: "2 MiB each way" });
  assert.ok(forwarded(ns) - fw1 >= (2 * size) / 1500, "the kernel forwarded the TCP flow");

  await until(() => { try { assertNoLeaks(a, baseA, "A"); assertNoLeaks(b, baseB, "B"); return true; } catch { return false; } }, 8000, "pools back").catch(() => {});
  assertNoLeaks(a, baseA, "A");
  assertNoLeaks(b, baseB, "B");
  await ns.destroy();
});
