// Receive-pool pressure (core/pbuf.ts, docs/design.md "Memory"): one
// connection that keeps received data — a reader that stops, an
// out-of-order flood — must not take the whole PBUF_POOL. While it holds
// what it holds, other connections, ARP and ICMP keep working; once it reads
// or goes, the pool is back at its baseline. Release and mvp builds, with a
// 64-buffer pool so that one 256 KiB receive window (181 full segments)
// would be more than the pool.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Stack } from "../../bindings/stack.js";
import { NETCONN_TCP } from "../../bindings/api/netconn.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, until, settle } from "../helpers/stacks.js";
import {
  arpRequest, eth, ipv4, icmpEcho, tcp4, parse, TCP_ACK, TCP_SYN, TCP_RST, type Parsed,
} from "../helpers/frames.js";
import "../../bindings/api/net.js";

const POOL = 64;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** ICMP echo from `s` to `to` over a raw pcb; resolves when the reply comes. */
async function ping(s: Stack, to: string): Promise<void> {
  const pcb = s.raw.ip.new(1);
  let got = false;
  pcb.recv((data: Uint8Array) => {
    // The whole IP packet: an echo reply is ICMP type 0 after the header.
    const hl = (data[0] & 15) * 4;
    if (data[hl] === 0) got = true;
    return true;
  });
  pcb.sendto(Uint8Array.from(icmpEcho(0x4242, 1, [1, 2, 3, 4])), to);
  try {
    await until(() => got, 3000, `echo reply from ${to}`);
  } finally {
    pcb.remove();
  }
}

/** A TCP round trip of `n` bytes through B's echo server on port 7. */
async function echoRoundTrip(a: Stack, to: string, n: number): Promise<void> {
  const data = randomBytes(n);
  const back: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = a.net.connect(7, to, () => c.end(data));
    c.on("data", (d: Buffer) => back.push(d));
    c.on("error", reject);
    c.on("close", () => resolve());
  });
  assert.equal(sha(Buffer.concat(back)), sha(data), "echo during pressure is byte-exact");
}

for (const variant of VARIANTS) {
  test(`${variant}: a netconn reader that stops holds no more than its share of the receive pool; TCP, ICMP and ARP go on; the pool comes back`, async () => {
    const { a, b, ib } = await twoStacks({ variant, stack: { pools: { PBUF_POOL: POOL } } });
    // Baselines once ARP has resolved (its entries and timer stay).
    await ping(a, "192.0.2.2");
    const baseA = baseline(a), baseB = baseline(b);
    a.raw.tcp.setTimeWait(20);
    b.raw.tcp.setTimeWait(20);

    // B: an echo server (node:net) and a netconn server that does not read.
    const echo = b.net.createServer((s) => s.pipe(s)).listen(7);
    const l = b.netconn.new(NETCONN_TCP);
    await l.bind(null, 9000);
    await l.listen(4);
    const accepted = l.accept();

    // A sends 2 MiB to the stalled reader: the window closes at 256 KiB.
    const payload = randomBytes(2 << 20);
    let sentDone = false;
    const c = a.net.connect(9000, "192.0.2.2", () => c.end(payload, () => (sentDone = true)));
    c.resume();
    const conn = await accepted;
    let peak = 0;
    let last = -1, still = 0;
    // Wait until nothing moves any more (the window is shut), watching B's pool.
    await until(() => {
      const used = b.usage().pools.PBUF_POOL;
      peak = Math.max(peak, used);
      const tx = a.stats().proto.tcp.xmit;
      still = tx === last ? still + 1 : 0;
      last = tx;
      return still > 200;
    }, 20_000, "the sender to stall on the closed window");
    assert.equal(sentDone, false, "2 MiB cannot all have been taken by a reader that never reads");
    peak = Math.max(peak, b.usage().pools.PBUF_POOL);
    assert.ok(peak < POOL, `the pool never ran dry (peak ${peak} of ${POOL})`);
    assert.ok(b.usage().pools.PBUF_POOL <= POOL / 2 + 2, `held pool buffers stay near half the pool (${b.usage().pools.PBUF_POOL})`);

    // Meanwhile: ICMP, another TCP connection, and ARP.
    await ping(a, "192.0.2.2");
    await echoRoundTrip(a, "192.0.2.2", 300_000);
    const arpBefore = b.stats().proto.etharp.xmit;
    b.input(ib, arpRequest("02:00:00:00:00:33", "192.0.2.33", "192.0.2.2"));
    await until(() => b.stats().proto.etharp.xmit > arpBefore, 2000, "B's ARP reply");

    // The reader wakes up and takes everything: byte-exact.
    const got: Uint8Array[] = [];
    for (;;) {
      let buf;
      try {
        buf = await conn.recv();
      } catch (e) {
        if ((e as { code?: string }).code === "ERR_CLSD") break;
        throw e;
      }
      got.push(Uint8Array.from(buf.data()));
      buf.delete();
    }
    assert.equal(sha(Buffer.concat(got)), sha(payload));
    await conn.close();
    await conn.delete();
    await l.close();
    await l.delete();
    await new Promise<void>((r) => echo.close(() => r()));
    await until(() => {
      try {
        assertNoLeaks(a, baseA, "A");
        assertNoLeaks(b, baseB, "B");
        return true;
      } catch {
        return false;
      }
    }, 10_000, "pools and heap back at baseline").catch(() => {
      assertNoLeaks(a, baseA, "A"); // says what is left
      assertNoLeaks(b, baseB, "B");
    });
    await a.close();
    await b.close();
  });

  test(`${variant}: an out-of-order flood on one connection does not take the receive pool; ARP and ICMP are answered; RST frees it all`, async () => {
    const s = await Stack.create({ variant, manualClock: true, pools: { PBUF_POOL: POOL } });
    const base = baseline(s);
    const sent: Parsed[] = [];
    const US = "192.0.2.2", PEER = "192.0.2.9";
    const MAC_US = "02:00:00:00:00:02", MAC_PEER = "02:00:00:00:00:09";
    const iface = s.addInterface({ send: (f) => void sent.push(parse(f)), onReceive() {}, close() {} }, { ip: `${US}/24`, mac: MAC_US });
    const l = s.raw.tcp.new().bind("0.0.0.0", 80).listen(4);
    let conn: { close(): void; abort(): void } | undefined;
    l.accept((c: { close(): void; abort(): void }) => void (conn = c));
    const frame = (ip: Uint8Array) => eth(MAC_US, MAC_PEER, 0x0800, ip);
    const send = (ip: Uint8Array) => {
      s.input(iface, frame(ip));
      s.drainNow();
    };
    // Our ARP entry first, so replies need no resolution.
    s.input(iface, arpRequest(MAC_PEER, PEER, US));
    s.drainNow();
    const isn = 1_000_000;
    send(tcp4(PEER, US, { sport: 40000, dport: 80, seq: isn, ack: 0, flags: TCP_SYN, win: 65535, options: [2, 4, 0x05, 0xb4] }));
    const synack = sent.find((p) => p.tcp && (p.tcp.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK))?.tcp;
    assert.ok(synack, "SYN-ACK");
    send(tcp4(PEER, US, { sport: 40000, dport: 80, seq: isn + 1, ack: synack.seq + 1, flags: TCP_ACK, win: 65535 }));
    await settle();
    assert.ok(conn, "accepted");

    // 2,000 small segments, every one after a hole: nothing is ever in order.
    const rcvNxt = isn + 1;
    const data = new Uint8Array(100).fill(0x61);
    let peak = 0;
    for (let k = 0; k < 2000; k++) {
      send(tcp4(PEER, US, { sport: 40000, dport: 80, seq: rcvNxt + 100 + k * 200, ack: synack.seq + 1, flags: TCP_ACK, win: 65535, data }));
      peak = Math.max(peak, s.usage().pools.PBUF_POOL);
    }
    assert.ok(peak < POOL, `the pool never ran dry (peak ${peak} of ${POOL})`);

    // ARP and ICMP from another host are answered.
    sent.length = 0;
    s.input(iface, arpRequest("02:00:00:00:00:33", "192.0.2.33", US));
    send(ipv4(PEER, US, 1, icmpEcho(7, 1, [9, 9, 9, 9])));
    assert.ok(sent.some((p) => p.arp?.op === 2 && p.arp.targetIp === "192.0.2.33"), "ARP reply");
    assert.ok(sent.some((p) => p.icmp?.type === 0 && p.icmp.id === 7), "ICMP echo reply");

    // The peer resets: the out-of-order queue goes with the connection.
    send(tcp4(PEER, US, { sport: 40000, dport: 80, seq: rcvNxt, ack: 0, flags: TCP_RST, win: 0 }));
    await settle();
    l.close();
    for (let i = 0; i < 40; i++) s.advance(1000);
    await s.removeInterface(iface);
    assertNoLeaks(s, base, variant);
    assert.equal(s.stats().pools.PBUF_POOL.illegal, 0);
    await s.close();
  });
}
