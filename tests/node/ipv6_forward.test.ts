// IPv6 forwarding (RFC 8200 §3, RFC 4443): A — R — B over two pair()s, R
// forwarding (ip_forwarding, one switch for both families), A and B with a
// static IPv6 gateway. Pings cross R with the hop limit lowered by one; hop
// limit 1 gets time exceeded from R; a packet larger than R's outgoing MTU
// gets packet too big, after which A fragments to the path MTU (RFC 8201);
// TCP crosses both ways.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Stack } from "../../bindings/stack.js";
import { pair } from "../../bindings/netif/pair.js";
import { rawApi } from "../../bindings/api/raw.js";
import { IpAddress } from "../../bindings/ip-address.js";
import { inetChecksum, pseudoHeaderSum } from "../../bindings/wire/checksum.js";
import { until } from "../helpers/stacks.js";

function echo6(src: string, dst: string, seq: number, size: number): Uint8Array {
  const m = new Uint8Array(8 + size);
  m[0] = 128; m[4] = 0; m[5] = 9; m[6] = seq >> 8; m[7] = seq & 0xff;
  for (let i = 0; i < size; i++) m[8 + i] = i & 0xff;
  const c = inetChecksum(m, 0, m.length, pseudoHeaderSum(IpAddress.parse(src), IpAddress.parse(dst), 58, m.length));
  m[2] = c >> 8; m[3] = c & 0xff;
  return m;
}

test("IPv6 forwarding: hop limit, time exceeded, packet too big and path MTU, TCP across", async () => {
  const [a1, r1] = pair();
  const [r2, b2] = pair();
  const a = await Stack.create();
  const r = await Stack.create();
  const b = await Stack.create();
  const ia = a.addInterface(a1, { ip6: ["2001:db8:a::2/64"], gateway6: "2001:db8:a::1", dad: false });
  const ir1 = r.addInterface(r1, { ip6: ["2001:db8:a::1/64"], dad: false, slaac: false });
  const ir2 = r.addInterface(r2, { ip6: ["2001:db8:b::1/64"], dad: false, slaac: false, mtu: 1280 });
  const ib = b.addInterface(b2, { ip6: ["2001:db8:b::2/64"], gateway6: "2001:db8:b::1", dad: false, mtu: 1280 });
  r.ex.ip_forwarding(1);
  await a.waitAddress6(ia, (s) => s === "2001:db8:a::2");
  await b.waitAddress6(ib, (s) => s === "2001:db8:b::2");
  await r.waitAddress6(ir1, (s) => s === "2001:db8:a::1");
  await r.waitAddress6(ir2, (s) => s === "2001:db8:b::1");

  // What A hears back on a raw ICMPv6 pcb: type, hop limit of echo replies.
  const pcb = rawApi(a).ip.new(58, { ipType: 6 });
  const heard: Array<{ type: number; code: number; from: string; hl: number; len: number; mtu: number }> = [];
  pcb.recv((pkt, from, info) => {
    const m = pkt.subarray(info.hlen);
    heard.push({ type: m[0]!, code: m[1]!, from, hl: pkt[7]!, len: m.length, mtu: (m[4]! << 24 | m[5]! << 16 | m[6]! << 8 | m[7]!) >>> 0 });
  });
  const A = "2001:db8:a::2", B = "2001:db8:b::2";

  pcb.sendto(echo6(A, B, 1, 56), B);
  await until(() => heard.some((h) => h.type === 129), 5000, "the echo reply across R");
  assert.equal(heard.find((h) => h.type === 129)!.hl, 63, "B's 64 less one at R");
  assert.ok(r.stats().proto.ip6.fw >= 2, "R forwarded both ways");

  // Hop limit 1: R answers time exceeded (code 0) from its address on A's link.
  heard.length = 0;
  pcb.setTtlTos(1);
  pcb.sendto(echo6(A, B, 2, 8), B);
  await until(() => heard.some((h) => h.type === 3), 5000, "time exceeded");
  assert.deepEqual(heard.filter((h) => h.type === 3).map((h) => [h.code, h.from]), [[0, "2001:db8:a::1"]]);
  pcb.setTtlTos(64);

  // 1400 bytes do not fit R's 1280-byte link to B: packet too big with MTU 1280.
  heard.length = 0;
  pcb.sendto(echo6(A, B, 3, 1400), B);
  await until(() => heard.some((h) => h.type === 2), 5000, "packet too big");
  assert.equal(heard.find((h) => h.type === 2)!.mtu, 1280);
  // A now fragments to the path MTU, and the echo gets through.
  heard.length = 0;
  pcb.sendto(echo6(A, B, 4, 1400), B);
  await until(() => heard.some((h) => h.type === 129 && h.len === 1408), 5000, "the large echo reply");

  // TCP across R, both ways at once (MSS from the path MTU after PTBs).
  rawApi(a).tcp.setTimeWait(50);
  rawApi(b).tcp.setTimeWait(50);
  const size = 256 * 1024;
  const da = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
  const db = new Uint8Array(size).map((_, i) => (i * 11 + 1) & 0xff);
  let gotA: Buffer[] = [], gotB: Buffer[] = [];
  let nA = 0, nB = 0;
  const l = rawApi(b).tcp.new(6).bind("::", 80).listen();
  l.accept((p) => {
    p.recv((d) => { if (d) { gotB.push(Buffer.from(d)); nB += d.length; } else p.close(); });
    let off = 0;
    const push = () => { while (off < db.length) { const k = p.write(db.subarray(off)); if (k === 0) return; off += k; } };
    p.sent(push);
    push();
  });
  const c = rawApi(a).tcp.new(6);
  c.recv((d) => { if (d) { gotA.push(Buffer.from(d)); nA += d.length; } });
  let off = 0;
  const push = () => { while (off < da.length) { const k = c.write(da.subarray(off)); if (k === 0) return; off += k; } };
  c.sent(push);
  c.connect(B, 80, () => push());
  await until(() => nA >= size && nB >= size, 30000, "TCP both ways across R");
  const h = (x: Uint8Array) => createHash("sha256").update(x).digest("hex");
  assert.equal(h(Buffer.concat(gotB)), h(da));
  assert.equal(h(Buffer.concat(gotA)), h(db));
  c.close();
  l.close();
  pcb.remove();
  gotA = []; gotB = [];
  await a.close();
  await b.close();
  await r.close();
});
