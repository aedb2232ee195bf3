// The IPv6-only core (asc --use ASIP_IPV4=0, built here into a temp dir the
// way bench/size.ts builds it): smaller than the dual core, carries no ARP
// (the ABI answers ERR_ARG), drops IPv4 and ARP frames, and two such stacks
// over pair() pass DAD, resolve each other by ND, answer ping6 and carry TCP
// both ways, with pools back at their baselines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Stack } from "../../bindings/stack.js";
import { pair } from "../../bindings/netif/pair.js";
import { rawApi } from "../../bindings/api/raw.js";
import { tcpBothWays } from "../helpers/tcp-both-ways.js";
import { IpAddress } from "../../bindings/ip-address.js";
import { inetChecksum, pseudoHeaderSum } from "../../bindings/wire/checksum.js";
import { baseline, assertNoLeaks, until, settle } from "../helpers/stacks.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const ERR_ARG = -16;

async function buildIpv6Only(): Promise<Uint8Array<ArrayBuffer>> {
  const dir = mkdtempSync(path.join(tmpdir(), "asip-ipv6only-"));
  const cwd = process.cwd();
  try {
    process.chdir(root);
    const ascName = "assemblyscript/asc";
    const asc = ((await import(ascName)) as { default: { main(argv: string[], o: object): Promise<{ error: Error | null; stderr: { toString(): string } }> } }).default;
    const out = path.join(dir, "asip-ipv6.wasm");
    const { error, stderr } = await asc.main(["--target", "release", "--outFile", out, "--use", "ASIP_IPV4=0"], {});
    if (error) throw new Error(`asc: ${error.message}\n${stderr.toString()}`);
    return new Uint8Array(readFileSync(out));
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
}

function echo6(src: string, dst: string, seq: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + body.length);
  m[0] = 128;
  m[4] = 0; m[5] = 0x66; m[6] = seq >> 8; m[7] = seq & 0xff;
  m.set(body, 8);
  const c = inetChecksum(m, 0, m.length, pseudoHeaderSum(IpAddress.parse(src), IpAddress.parse(dst), 58, m.length));
  m[2] = c >> 8; m[3] = c & 0xff;
  return m;
}

test("IPv6-only core (ASIP_IPV4=0): smaller, no ARP, ping6 and TCP over IPv6 between two stacks", { timeout: 120_000 }, async () => {
  const wasm = await buildIpv6Only();
  const dual = statSync(path.join(root, "build", "asip.wasm")).size;
  assert.ok(wasm.length < dual * 0.95, `IPv6-only ${wasm.length} B vs dual ${dual} B`);

  const [ea, eb] = pair();
  const a = await Stack.create({ wasm });
  const b = await Stack.create({ wasm });
  assert.equal(a.ex.abi_features() & 3, 2, "IPv6 and not IPv4");
  const ia = a.addInterface(ea, { mac: "02:00:00:00:00:01", ip6: ["2001:db8::1/64"] });
  const ib = b.addInterface(eb, { mac: "02:00:00:00:00:02", ip6: ["2001:db8::2/64"] });
  rawApi(a).tcp.setTimeWait(50);
  rawApi(b).tcp.setTimeWait(50);
  await a.waitAddress6(ia, (s) => s === "2001:db8::1");
  await b.waitAddress6(ib, (s) => s === "2001:db8::2");
  // MLD repeats its unsolicited reports for up to 1 s (RFC 3810 §9.11): the
  // baseline is the idle stack's.
  await new Promise((r) => setTimeout(r, 1500));
  await settle(5);
  const baseA = baseline(a), baseB = baseline(b);

  // No ARP in this core: the ABI says so instead of trapping.
  assert.equal(a.ex.arp_table_size(), 0);
  assert.equal(a.ex.arp_static_add(0x0200000a, a.scratch(Uint8Array.of(2, 0, 0, 0, 0, 9))), ERR_ARG);
  assert.equal(a.ex.arp_request(ia.index, 0x0200000a), ERR_ARG);

  // An ARP request and an IPv4 echo request for A (from B's end of the
  // link) are dropped and counted: nothing answers.
  const dropsBefore = a.stats().proto.link.drop, sentBefore = a.stats().proto.link.xmit;
  const arp = new Uint8Array(42);
  arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 0, 2]);
  arp.set([10, 0, 0, 1], 38);
  const ip4 = Uint8Array.of(2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00,
    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1, 8, 0, 0xf7, 0xff, 0, 0, 0, 0);
  eb.send(arp);
  eb.send(ip4);
  await settle(3);
  assert.equal(a.stats().proto.link.xmit - sentBefore, 0, "A answered nothing");
  assert.equal(a.stats().proto.link.drop - dropsBefore, 2, "both dropped and counted");

  // ping6 both ways.
  for (const [s, src, dst] of [[a, "2001:db8::1", "2001:db8::2"], [b, "2001:db8::2", "2001:db8::1"]] as const) {
    const r = rawApi(s).ip.new(58, { ipType: 6 });
    let got = -1;
    r.recv((pkt, _from, info) => { if (pkt[info.hlen] === 129) got = pkt.length - info.hlen; });
    r.sendto(echo6(src, dst, 1, new Uint8Array(100).fill(7)), dst);
    await until(() => got >= 0, 5000, `the echo reply from ${dst}`);
    assert.equal(got, 108);
    r.remove();
  }

  // TCP: 512 KiB each way at once, SHA-256 checked.
  const size = 512 * 1024;
  const da = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
  const db = new Uint8Array(size).map((_, i) => (i * 13 + 5) & 0xff);
  await tcpBothWays(a, b, { dst: "2001:db8::2", port: 5001, da, db });

  await until(() => { try { assertNoLeaks(a, baseA, "A"); assertNoLeaks(b, baseB, "B"); return true; } catch { return false; } }, 8000, "pools back").catch(() => {});
  assertNoLeaks(a, baseA, "A");
  assertNoLeaks(b, baseB, "B");
  await a.close();
  await b.close();
});
