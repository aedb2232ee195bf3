// UDP and raw IP from JS through the raw API (bindings/api/raw.ts): two
// stacks over pair(), release and mvp builds. Datagrams both ways byte-exact,
// broadcast, loopback (own address and 127.0.0.1, delivered on the next
// drain), port unreachable to the sender's error callback, ping on a raw
// ICMP pcb, 10,000 datagrams over an impaired cable arriving intact or not
// at all, misuse errors, and pools back to baseline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { AsipError } from "../../bindings/abi.js";
import type { Stack } from "../../bindings/stack.js";
import { rawApi, type UdpPcb } from "../../bindings/api/raw.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, settle, until } from "../helpers/stacks.js";

/** xorshift32 bytes: deterministic payloads. */
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** The ICMP checksum (RFC 1071) of `b`, as the big-endian field value. */
function inetChksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s >>> 16) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Resolves ARP both ways before a test measures anything: probes B's closed
 * port 9 from A until B's ICMP port unreachable comes back (A then knows B's
 * MAC and B knows A's), so no measured datagram waits in ARP's queue (which
 * keeps only the newest ARP_QUEUE_LEN packets) and counts stay exact.
 */
async function resolveArp(a: Stack, b: Stack): Promise<void> {
  const ra = rawApi(a);
  const probe = ra.udp.new();
  let answered = false;
  probe.err(() => (answered = true));
  for (let i = 0; i < 500 && !answered; i++) {
    probe.sendto(new Uint8Array(1), b.ifaces[0].ip, 9);
    await new Promise((r) => setTimeout(r, 10));
  }
  probe.remove();
  assert.ok(answered, "ARP resolved");
  await settle();
}

for (const variant of VARIANTS) {
  test(`${variant}: datagrams both ways arrive byte-exact (sizes 0..8000, fragmented above the MTU)`, async () => {
    const { a, b } = await twoStacks({ variant });
    await resolveArp(a, b);
    const ra = rawApi(a), rb = rawApi(b);
    const baseA = baseline(a), baseB = baseline(b);
    const ua = ra.udp.new().bind("0.0.0.0", 4000);
    const ub = rb.udp.new().bind("192.0.2.2", 5000);
    const sizes = [0, 1, 2, 63, 64, 512, 1471, 1472, 1473, 2000, 4000, 8000];
    const sent = { ab: [] as string[], ba: [] as string[] };
    const got = { ab: [] as string[], ba: [] as string[] };
    const from: string[] = [];
    ub.recv((d, addr, port, info) => {
      got.ab.push(sha(d));
      from.push(`${addr}:${port}>${info.dst}`);
    });
    ua.recv((d) => got.ba.push(sha(d)));
    for (let round = 0; round < 5; round++) {
      for (const [i, n] of sizes.entries()) {
        const x = bytes(n, round * 100 + i + 1);
        sent.ab.push(sha(x));
        ua.sendto(x, "192.0.2.2", 5000);
        const y = bytes(n, round * 100 + i + 7777);
        sent.ba.push(sha(y));
        ub.sendto(y, "192.0.2.1", 4000);
      }
      await settle();
    }
    await until(() => got.ab.length === sent.ab.length && got.ba.length === sent.ba.length, 5000, "all datagrams");
    assert.deepEqual(got.ab, sent.ab);
    assert.deepEqual(got.ba, sent.ba);
    assert.equal(from[0], "192.0.2.1:4000>192.0.2.2");
    assert.equal(ua.localPort, 4000);
    // connect + send, and the zero-copy sendWith
    const uc = ra.udp.new().bind("0.0.0.0", 0).connect("192.0.2.2", 5000);
    assert.ok(uc.localPort >= 0xc000, `ephemeral port ${uc.localPort}`);
    got.ab.length = 0;
    uc.send(bytes(100, 1));
    uc.sendWith(3, (buf) => buf.set([1, 2, 3]));
    await until(() => got.ab.length === 2, 2000, "connected sends");
    assert.deepEqual(got.ab, [sha(bytes(100, 1)), sha(Uint8Array.of(1, 2, 3))]);
    for (const u of [ua, ub, uc]) u.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });

  test(`${variant}: broadcast needs SO_BROADCAST and arrives flagged as broadcast`, async () => {
    const { a, b } = await twoStacks({ variant });
    await resolveArp(a, b);
    const ra = rawApi(a), rb = rawApi(b);
    const baseA = baseline(a), baseB = baseline(b);
    const ub = rb.udp.new().bind("0.0.0.0", 6000);
    const got: Array<{ dst: string; bc: boolean; len: number }> = [];
    ub.recv((d, _addr, _port, info) => got.push({ dst: info.dst, bc: info.broadcast, len: d.length }));
    const ua = ra.udp.new();
    assert.throws(() => ua.sendto(bytes(10, 1), "255.255.255.255", 6000), (e: unknown) => e instanceof AsipError && e.code === "ERR_VAL");
    ua.broadcast = true;
    ua.sendto(bytes(10, 1), "255.255.255.255", 6000);
    ua.sendto(bytes(20, 2), "192.0.2.255", 6000);
    await until(() => got.length === 2, 2000, "broadcasts");
    assert.deepEqual(got, [
      { dst: "255.255.255.255", bc: true, len: 10 },
      { dst: "192.0.2.255", bc: true, len: 20 },
    ]);
    ua.remove();
    ub.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });

  test(`${variant}: UDP to one's own address and to 127.0.0.1 loops back on the next drain`, async () => {
    const { a, b } = await twoStacks({ variant });
    await resolveArp(a, b);
    const ra = rawApi(a);
    const baseA = baseline(a);
    const framesBefore = a.ifaces[0].txFrames;
    const server = ra.udp.new().bind("0.0.0.0", 7000);
    const got: string[] = [];
    server.recv((d, addr, _p, info) => got.push(`${addr}>${info.dst}:${Buffer.from(d).toString()}`));
    const client = ra.udp.new();
    client.sendto(new TextEncoder().encode("own"), "192.0.2.1", 7000);
    client.sendto(new TextEncoder().encode("lo"), "127.0.0.1", 7000);
    assert.deepEqual(got, [], "not delivered synchronously inside sendto");
    await settle(1);
    assert.deepEqual(got.sort(), ["127.0.0.1>127.0.0.1:lo", "192.0.2.1>192.0.2.1:own"]);
    assert.equal(a.ifaces[0].txFrames, framesBefore, "nothing went on the wire");
    client.remove();
    server.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    await a.close();
    await b.close();
  });

  test(`${variant}: a datagram to a closed port reaches the sender's error callback (ICMP port unreachable)`, async () => {
    const { a, b } = await twoStacks({ variant });
    await resolveArp(a, b);
    const ra = rawApi(a);
    const baseA = baseline(a), baseB = baseline(b);
    const u = ra.udp.new().bind("0.0.0.0", 4444);
    const errs: string[] = [];
    u.err((e) => errs.push(`${e.type}/${e.code} ${e.name} ${e.addr}:${e.port}`));
    u.sendto(bytes(32, 3), "192.0.2.2", 9999);
    await until(() => errs.length === 1, 2000, "port unreachable");
    assert.deepEqual(errs, ["3/3 port unreachable 192.0.2.2:9999"]);
    assert.ok(b.stats().proto.icmp.xmit >= 1);
    u.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });

  test(`${variant}: ping implemented on a raw ICMP pcb`, async () => {
    const { a, b } = await twoStacks({ variant });
    await resolveArp(a, b);
    const ra = rawApi(a);
    const baseA = baseline(a), baseB = baseline(b);
    const icmp = ra.ip.new(1);
    const replies: Array<{ src: string; seq: number; ok: boolean }> = [];
    const payload = bytes(56, 42);
    icmp.recv((pkt, src, info) => {
      const m = pkt.subarray(info.hlen);
      if (m[0] !== 0) return; // echo replies only
      const id = (m[4] << 8) | m[5];
      if (id !== 0x4153) return;
      replies.push({ src, seq: (m[6] << 8) | m[7], ok: inetChksum(m) === 0 && sha(m.subarray(8)) === sha(payload) });
    });
    for (let seq = 1; seq <= 5; seq++) {
      const m = new Uint8Array(8 + payload.length);
      m[0] = 8; // echo request (RFC 792)
      m[4] = 0x41; m[5] = 0x53; m[6] = seq >> 8; m[7] = seq & 0xff;
      m.set(payload, 8);
      const c = inetChksum(m);
      m[2] = c >> 8; m[3] = c & 0xff;
      icmp.sendto(m, "192.0.2.2");
    }
    await until(() => replies.length === 5, 2000, "echo replies");
    assert.deepEqual(replies.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.ok(replies.every((r) => r.ok && r.src === "192.0.2.2"), JSON.stringify(replies));
    icmp.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });

  test(`${variant}: 10,000 datagrams over a cable with 5% loss, reordering, duplication and corruption arrive intact or not at all`, async () => {
    const { a, b, ea } = await twoStacks({ variant, pair: { seed: 99, aToB: { loss: 0.05, reorder: 0.05, duplicate: 0.05, corrupt: 0.02 } } });
    await resolveArp(a, b);
    const ra = rawApi(a), rb = rawApi(b);
    const baseA = baseline(a), baseB = baseline(b);
    const N = 10_000;
    const seen = new Uint8Array(N);
    let bad = 0, dups = 0, received = 0;
    const ub = rb.udp.new().bind("0.0.0.0", 8000);
    ub.recv((d) => {
      // [seq u32][sha-256 of the rest, first 8 bytes][payload]
      const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
      const seq = dv.getUint32(0);
      const h = createHash("sha256").update(d.subarray(12)).digest();
      if (seq >= N || !h.subarray(0, 8).equals(Buffer.from(d.buffer, d.byteOffset + 4, 8))) {
        bad++;
        return;
      }
      if (seen[seq]) dups++;
      else received++;
      seen[seq] = 1;
    });
    const ua = ra.udp.new();
    for (let i = 0; i < N; i++) {
      const n = 12 + ((i * 7919) % 1400);
      const d = bytes(n, i + 1);
      new DataView(d.buffer).setUint32(0, i);
      d.set(createHash("sha256").update(d.subarray(12)).digest().subarray(0, 8), 4);
      ua.sendto(d, "192.0.2.2", 8000);
      if (i % 200 === 199) await settle(1);
    }
    await settle(5);
    await new Promise((r) => setTimeout(r, 20)); // the reorder buffer releases its last frame after 5 ms
    await settle(2);
    const c = ea.counters;
    assert.equal(bad, 0, "no datagram arrives damaged");
    assert.ok(c.lost > 300 && c.corrupted > 100 && c.duplicated > 300 && c.reordered > 300, JSON.stringify(c));
    // Every datagram the cable delivered undamaged arrives exactly once more or less duplicates.
    assert.ok(received > N * 0.9 && received < N, `received ${received} of ${N}`);
    assert.ok(dups > 0, "duplicates are delivered as datagrams (UDP does not deduplicate)");
    const st = b.stats();
    assert.ok(st.proto.udp.chkerr + st.proto.ip.chkerr + st.proto.link.drop + st.proto.ip.drop > 0, "corrupted frames counted");
    ua.remove();
    ub.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });

  test(`${variant}: misuse raises clear errors`, async () => {
    const { a, b } = await twoStacks({ variant });
    await resolveArp(a, b);
    const ra = rawApi(a);
    const baseA = baseline(a);
    const u = ra.udp.new();
    assert.throws(() => u.bind("300.1.1.1", 1), TypeError);
    assert.throws(() => u.bind("0.0.0.0", 65536), RangeError);
    assert.throws(() => u.bind("0.0.0.0", -1), RangeError);
    assert.throws(() => u.sendto(new Uint8Array(1), "192.0.2.2", 0), RangeError);
    assert.throws(() => u.sendto(new Uint8Array(70000), "192.0.2.2", 9), RangeError);
    assert.throws(() => u.send(new Uint8Array(1)), /not connected/);
    u.bind("0.0.0.0", 1234);
    const v = ra.udp.new();
    assert.throws(() => v.bind("0.0.0.0", 1234), (e: unknown) => e instanceof AsipError && e.code === "ERR_USE");
    v.remove();
    u.remove();
    assert.throws(() => u.remove(), /removed/);
    assert.throws(() => u.sendto(new Uint8Array(1), "192.0.2.2", 9), /removed/);
    assert.throws(() => ra.ip.new(256), RangeError);
    // Pool exhaustion is an err_t, not a crash.
    const many: UdpPcb[] = [];
    assert.throws(() => { for (;;) many.push(ra.udp.new()); }, (e: unknown) => e instanceof AsipError && e.code === "ERR_MEM");
    for (const m of many) m.remove();
    await settle();
    assertNoLeaks(a, baseA, "A");
    await a.close();
    await b.close();
  });
}
