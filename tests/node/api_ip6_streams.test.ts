// WHATWG streams (TCPSocket, TCPServerSocket, UDPSocket) with IPv6
// addresses, release build, in-thread and in Worker mode: a "::" listener
// takes IPv4 clients as ::ffff:a.b.c.d, a client of ::ffff:a.b.c.d is an
// IPv6 socket over IPv4, ipv6Only refuses IPv4; data both ways at once,
// several times, pools back after.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { StreamsApi, TCPSocket } from "../../bindings/api/streams.js";
import { tcpStacks, noLeaks, A, B } from "./api_tcp_common.js";
import { twoWorkers, workersNoLeaks } from "../helpers/workers.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function drain(r: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of r as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

/** Both ends write `n` bytes and read the other's at once; returns what each read. */
async function exchange(x: TCPSocket, y: TCPSocket, n: number) {
  const [ox, oy] = await Promise.all([x.opened, y.opened]);
  const dx = new Uint8Array(n).map((_, i) => i * 3), dy = new Uint8Array(n).map((_, i) => i * 5);
  const send = async (w: WritableStream<Uint8Array>, d: Uint8Array) => {
    const wr = w.getWriter();
    for (let off = 0; off < d.length; off += 65536) await wr.write(d.subarray(off, off + 65536));
    await wr.close();
  };
  const [gx, gy] = await Promise.all([drain(ox.readable), drain(oy.readable), send(ox.writable, dx), send(oy.writable, dy)]);
  assert.equal(sha(gx), sha(dy));
  assert.equal(sha(gy), sha(dx));
  return { ox, oy };
}

async function scenarios(sa: StreamsApi, sb: StreamsApi): Promise<void> {
  const srv = sb.listen({ localAddress: "::" });
  const so = await srv.opened;
  assert.equal(so.localAddress, "::");
  const accepted = (srv as unknown as AsyncIterable<TCPSocket>)[Symbol.asyncIterator]();
  for (const [to, family] of [[B, 4], [`::ffff:${B}`, 6], [B, 4]] as const) {
    const c = sa.connect(to, so.localPort);
    const s = (await accepted.next()).value as TCPSocket;
    const { ox: oc, oy: os } = await exchange(c, s, 512 * 1024);
    assert.equal(os.remoteAddress, `::ffff:${A}`);
    assert.equal(os.localAddress, `::ffff:${B}`);
    assert.equal(oc.remoteAddress, family === 6 ? `::ffff:${B}` : B);
    assert.equal(oc.localAddress, family === 6 ? `::ffff:${A}` : A);
    await Promise.all([c.closed, s.closed]);
  }
  await srv.close();

  const only6 = sb.listen({ localAddress: "::", ipv6Only: true });
  const o6 = await only6.opened;
  const refused = sa.connect(B, o6.localPort);
  await assert.rejects(refused.opened);
  await refused.closed.catch(() => {});
  await only6.close();
  await assert.rejects(sb.listen({ localAddress: `::ffff:${B}`, ipv6Only: true }).opened, /ipv6Only/);

  // UDP: a "::" socket hears an IPv4 one as ::ffff:, answers there; 3 datagrams.
  const u6 = sb.udp({ localAddress: "::" });
  const ou6 = await u6.opened;
  assert.equal(ou6.localAddress, "::");
  const u4 = sa.udp({ remoteAddress: B, remotePort: ou6.localPort });
  const ou4 = await u4.opened;
  const r6 = ou6.readable.getReader(), w6 = ou6.writable.getWriter();
  const r4 = ou4.readable.getReader(), w4 = ou4.writable.getWriter();
  for (let i = 0; i < 3; i++) {
    await w4.write({ data: Uint8Array.of(i, 9) });
    const m = (await r6.read()).value!;
    assert.equal(m.remoteAddress, `::ffff:${A}`);
    await w6.write({ data: m.data, remoteAddress: m.remoteAddress, remotePort: m.remotePort });
    const back = (await r4.read()).value!;
    assert.equal(back.remoteAddress, B);
    assert.deepEqual([...back.data], [i, 9]);
  }
  r6.releaseLock(); w6.releaseLock(); r4.releaseLock(); w4.releaseLock();
  await u6.close();
  await u4.close();
}

test("ip6 streams: '::' listeners, ::ffff: clients, ipv6Only, UDP (in-thread, release build)", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  try {
    await scenarios(a.streams, b.streams);
    await noLeaks(a, baseA, b, baseB);
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 streams: the same in Worker mode (release build)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  try {
    await scenarios(a.streams, b.streams);
    await workersNoLeaks(a, baseA, b, baseB);
  } finally {
    await a.close();
    await b.close();
  }
});
