// IPv6 between two stacks over pair(): static addresses and link-local ones
// pass DAD, Neighbor Discovery resolves both ends, ping6 (ICMPv6 echo through
// a raw pcb), TCP bulk both directions at once several times in a row, and
// UDP echo; then heap and pools are back at their baselines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Stack, type Interface } from "../../bindings/stack.js";
import { pair } from "../../bindings/netif/pair.js";
import { rawApi } from "../../bindings/api/raw.js";
import { tcpBothWays } from "../helpers/tcp-both-ways.js";
import { IpAddress } from "../../bindings/ip-address.js";
import { inetChecksum, pseudoHeaderSum } from "../../bindings/wire/checksum.js";
import { VARIANTS, baseline, assertNoLeaks, until, settle } from "../helpers/stacks.js";

/** An ICMPv6 echo request from `src` to `dst` with its checksum (RFC 4443 §2.3). */
function echo6(src: string, dst: string, id: number, seq: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + body.length);
  m[0] = 128;
  m[4] = id >> 8; m[5] = id & 0xff; m[6] = seq >> 8; m[7] = seq & 0xff;
  m.set(body, 8);
  const s = pseudoHeaderSum(IpAddress.parse(src.replace(/%.*$/, "")), IpAddress.parse(dst.replace(/%.*$/, "")), 58, m.length);
  const c = inetChecksum(m, 0, m.length, s);
  m[2] = c >> 8; m[3] = c & 0xff;
  return m;
}

function linkLocal(i: Interface): string {
  for (const s of i.ip6.values()) if (s.address.startsWith("fe80:") && s.state === 0x30) return s.address.replace(/%.*$/, "");
  throw new Error("no link-local address");
}

async function ping6(a: Stack, src: string, dst: string, size = 56): Promise<void> {
  const r = rawApi(a).ip.new(58, { ipType: 6 });
  let got = -1;
  r.recv((pkt, from, info) => { if (pkt[info.hlen] === 129) got = pkt.length - info.hlen; });
  const body = new Uint8Array(size).map((_, i) => i & 0xff);
  r.sendto(echo6(src, dst, 0x77, 1, body), dst);
  try {
    await until(() => got >= 0, 5000, `the echo reply from ${dst}`);
    assert.equal(got, 8 + size);
  } finally {
    r.remove();
  }
}

for (const variant of VARIANTS) {
  test(`${variant}: IPv6 over pair(): DAD, ND, ping6, TCP both ways, UDP`, async () => {
    const [ea, eb] = pair();
    const a = await Stack.create({ variant });
    const b = await Stack.create({ variant });
    const ia = a.addInterface(ea, { mac: "02:00:00:00:00:01", ip6: ["2001:db8::1/64"] });
    const ib = b.addInterface(eb, { mac: "02:00:00:00:00:02", ip6: ["2001:db8::2/64"] });
    rawApi(a).tcp.setTimeWait(50);
    rawApi(b).tcp.setTimeWait(50);
    await a.waitAddress6(ia, (s) => s === "2001:db8::1");
    await b.waitAddress6(ib, (s) => s === "2001:db8::2");
    await a.waitAddress6(ia, (s) => s.startsWith("fe80:"));
    await b.waitAddress6(ib, (s) => s.startsWith("fe80:"));
    await settle(5);
    const baseA = baseline(a), baseB = baseline(b);

    await ping6(a, "2001:db8::1", "2001:db8::2");
    await ping6(b, "2001:db8::2", "2001:db8::1", 1400);
    // Link-local, with the zone naming A's interface.
    await ping6(a, linkLocal(ia), `${linkLocal(ib)}%${ia.index}`);
    assert.ok(a.stats().proto.nd6.xmit > 0 && b.stats().proto.nd6.recv > 0, "Neighbor Discovery ran");

    // TCP: each side sends 512 KiB to the other at the same time, three times.
    for (let round = 0; round < 3; round++) {
      const size = 512 * 1024;
      const da = new Uint8Array(size).map((_, i) => (i * 7 + round) & 0xff);
      const db = new Uint8Array(size).map((_, i) => (i * 13 + 5 + round) & 0xff);
      await tcpBothWays(a, b, { dst: "2001:db8::2", port: 5001 + round, da, db, what: `round ${round}` });
    }

    // ::1 through the loopback netif: ping and UDP inside one stack.
    await ping6(a, "::1", "::1");
    {
      const s1 = rawApi(a).udp.new({ ipType: 6 }).bind("::1", 9999);
      s1.recv((d, addr, port) => s1.sendto(d.slice(), addr, port));
      const s2 = rawApi(a).udp.new({ ipType: 6 }).bind("::", 0);
      let back = "";
      s2.recv((d, addr) => { back = `${addr} ${Buffer.from(d).toString()}`; });
      s2.sendto(Buffer.from("loop"), "::1", 9999);
      await until(() => back !== "", 5000, "the ::1 echo");
      assert.equal(back, "::1 loop");
      // Our own global address loops back too.
      let own = "";
      const s3 = rawApi(a).udp.new({ ipType: 6 }).bind("2001:db8::1", 9998);
      s3.recv((d) => { own = Buffer.from(d).toString(); });
      s2.sendto(Buffer.from("self"), "2001:db8::1", 9998);
      await until(() => own !== "", 5000, "the datagram to our own address");
      s1.remove(); s2.remove(); s3.remove();
    }

    // UDP echo.
    const ub = rawApi(b).udp.new({ ipType: 6 }).bind("::", 7);
    ub.recv((d, addr, port) => ub.sendto(d.slice(), addr, port));
    const ua = rawApi(a).udp.new({ ipType: 6 }).bind("::", 0);
    const seen: string[] = [];
    ua.recv((d, addr) => { seen.push(`${addr} ${Buffer.from(d).toString()}`); });
    for (let i = 0; i < 5; i++) ua.sendto(Buffer.from(`datagram ${i}`), "2001:db8::2", 7);
    await until(() => seen.length === 5, 5000, "the UDP echoes");
    assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4].map((i) => `2001:db8::2 datagram ${i}`));
    ua.remove(); ub.remove();

    await until(() => { try { assertNoLeaks(a, baseA, "A"); assertNoLeaks(b, baseB, "B"); return true; } catch { return false; } }, 8000, "pools back").catch(() => {});
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });
}
