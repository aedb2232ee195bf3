// The relay (bindings/node/relay.ts) as a learning switch between WebSocket
// clients: learning, flooding (broadcast, unknown unicast), ageing, filtering;
// limits (short, long, text, group source, rate, MACs per client) dropped and
// counted; a client over maxBadFrames thrown out (1008) while others carry
// on; --token; 50 clients at once with one of them sending garbage; two
// asip stacks talking UDP through the relay over WebSocketLink; a client
// that speaks only v86's format (one frame per message, no subprotocol)
// reaching an asip stack on a batched link; the batched framing itself
// (one message per burst, malformed records, per-port MTU); and 100 MB of
// TCP between two stacks over batched 64 KiB-MTU links, hash-checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { WebSocket } from "ws";
import { Relay } from "../../bindings/node/relay.js";
import { WebSocketLink, type WebSocketCtor } from "../../bindings/netif/websocket.js";
import { BATCH_PROTOCOL, decodeBatch, encodeBatch } from "../../bindings/netif/framing.js";
import { Stack } from "../../bindings/stack.js";
import { rawApi } from "../../bindings/api/raw.js";
import { until, baseline, assertNoLeaks } from "../helpers/stacks.js";
import { arpRequest, eth, ipv4, icmpEcho, parse } from "../helpers/frames.js";

const WS = WebSocket as unknown as WebSocketCtor;

/** A bare client: collects binary frames and control messages. */
class Client {
  readonly frames: Buffer[] = [];
  readonly control: any[] = [];
  closeCode: number | undefined;
  id = "";
  constructor(readonly ws: WebSocket) {
    ws.on("message", (d, bin) => {
      if (bin) this.frames.push(d as Buffer);
      else {
        const m = JSON.parse(String(d));
        if (m.type === "config") this.id = m.id;
        this.control.push(m);
      }
    });
    ws.on("close", (code) => (this.closeCode = code));
  }
  static async open(url: string, protocols: string[] = []): Promise<Client> {
    const ws = new WebSocket(url, protocols);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    await until(() => c.id !== "" || c.closeCode !== undefined, 2000, "config");
    return c;
  }
  send(f: Uint8Array | string): void {
    this.ws.send(f);
  }
  close(): void {
    this.ws.close();
  }
}

/** A frame from MAC 02:00:00:00:00:<src> to <dst> (a number or a 6-byte array) with a payload tag. */
function frame(dst: number | number[], src: number, tag = 0, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  if (Array.isArray(dst)) f.set(dst, 0);
  else f.set([2, 0, 0, 0, 0, dst], 0);
  f.set([2, 0, 0, 0, 0, src], 6);
  f[12] = 0x88; f[13] = 0xb5; // IEEE 802 local experimental ethertype
  f[14] = tag & 255; f[15] = tag >>> 8;
  return f;
}
const BCAST = [255, 255, 255, 255, 255, 255];
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

test("learning switch: broadcast floods, known unicast goes to one port, unknown unicast floods, ageing forgets", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1", ageingMs: 300 });
  try {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => Client.open(relay.url)));
    assert.equal(relay.stats().clients, 3);
    // a broadcasts: b and c see it; a learned.
    a.send(frame(BCAST, 0xa, 1));
    await until(() => b.frames.length === 1 && c.frames.length === 1, 2000, "broadcast");
    assert.equal(a.frames.length, 0, "no echo to the sender");
    assert.equal(relay.macTable().get("02:00:00:00:00:0a"), a.id);
    // b answers a by unicast: only a.
    b.send(frame(0xa, 0xb, 2));
    await until(() => a.frames.length === 1, 2000, "unicast to a");
    await settle();
    assert.equal(c.frames.length, 1, "c does not see b→a");
    // a → unknown MAC: flooded to b and c.
    a.send(frame(0xee, 0xa, 3));
    await until(() => b.frames.length === 2 && c.frames.length === 2, 2000, "unknown unicast");
    // a → b (known): b only.
    a.send(frame(0xb, 0xa, 4));
    await until(() => b.frames.length === 3, 2000, "known unicast");
    await settle();
    assert.equal(c.frames.length, 2);
    assert.equal(b.frames[2][14], 4, "payload intact");
    // a → its own MAC (a station on the same port): filtered.
    a.send(frame(0xa, 0xa, 5));
    await settle();
    assert.equal(relay.stats().filtered, 1);
    // after ageing, b's entry is gone: a → b floods again.
    await settle(700);
    assert.equal(relay.macTable().has("02:00:00:00:00:0b"), false, "aged out");
    a.send(frame(0xb, 0xa, 6));
    await until(() => b.frames.length === 4 && c.frames.length === 3, 2000, "flood after ageing");
    // a client that leaves takes its MACs with it.
    c.send(frame(BCAST, 0xc, 7));
    await until(() => relay.macTable().has("02:00:00:00:00:0c"), 2000, "learn c");
    c.close();
    await until(() => !relay.macTable().has("02:00:00:00:00:0c") && relay.stats().clients === 2, 2000, "c gone");
    // every client got a config with an address in the pool, and a peer list.
    assert.match(a.control[0].ip, /^192\.0\.2\.\d+\/24$/);
    assert.equal(a.control[0].gateway, "192.0.2.1");
    assert.ok(a.control.some((m) => m.type === "peers"));
    a.close();
    b.close();
  } finally {
    await relay.close();
  }
});

test("bad frames are dropped and counted; a client over maxBadFrames is disconnected, others carry on", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1", maxFrame: 1514, maxBadFrames: 10, maxMacs: 2 });
  try {
    const bad = await Client.open(relay.url);
    const good = await Client.open(relay.url);
    const peer = await Client.open(relay.url);
    bad.send(new Uint8Array(13)); // short
    bad.send(new Uint8Array(1515)); // long
    bad.send("not json"); // text, not a control message
    bad.send(JSON.stringify({ type: "nonsense" }));
    bad.send(frame(BCAST, 0, 0).map((v, i) => (i === 6 ? 0x03 : v))); // group source address
    bad.send(frame(BCAST, 0x31));
    bad.send(frame(BCAST, 0x32));
    bad.send(frame(BCAST, 0x33)); // a third MAC: over maxMacs
    await until(() => relay.stats().dropped.macLimit === 1, 2000, "counted");
    const d = relay.stats().dropped;
    assert.deepEqual([d.short, d.long, d.notBinary, d.badSource, d.macLimit], [1, 1, 2, 1, 1]);
    assert.equal(bad.closeCode, undefined, "still connected below the threshold");
    // A frame of exactly maxFrame passes.
    good.send(frame(BCAST, 0x41, 9, 1514));
    await until(() => peer.frames.some((f) => f.length === 1514), 2000, "max frame");
    // Push it over the edge while good and peer exchange frames.
    for (let i = 0; i < 20; i++) {
      bad.send(new Uint8Array(3));
      good.send(frame(0x42, 0x41, i));
      peer.send(frame(0x41, 0x42, i));
    }
    await until(() => bad.closeCode !== undefined, 2000, "bad client thrown out");
    assert.equal(bad.closeCode, 1008);
    assert.equal(relay.stats().disconnectedBad, 1);
    await until(() => good.frames.length >= 20 && peer.frames.filter((f) => f.length === 60).length >= 20, 2000, "others unaffected");
    assert.equal(good.closeCode, undefined);
    assert.equal(peer.closeCode, undefined);
    good.close();
    peer.close();
  } finally {
    await relay.close();
  }
});

test("per-client rate limit: frames over the rate are dropped and counted, not fatal", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1", rateBytes: 100_000, burstBytes: 10_000, maxBadFrames: 1 });
  try {
    const a = await Client.open(relay.url);
    const b = await Client.open(relay.url);
    for (let i = 0; i < 100; i++) a.send(frame(BCAST, 0xa, i, 1000)); // 100 kB at once, 10 kB burst
    await until(() => b.frames.length + relay.stats().dropped.rate === 100, 3000, "all accounted");
    assert.ok(b.frames.length >= 10 && b.frames.length < 30, `passed ${b.frames.length}`);
    assert.ok(relay.stats().dropped.rate > 70);
    assert.equal(a.closeCode, undefined, "a rate-limited client stays connected");
    a.close();
    b.close();
  } finally {
    await relay.close();
  }
});

test("--token: a wrong or missing token is refused (1008), the right one admitted; WebSocketLink does not retry a refusal", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1", token: "s3cret" });
  try {
    const none = new Client(new WebSocket(relay.url));
    const wrong = new Client(new WebSocket(`${relay.url}?token=guess`));
    await until(() => none.closeCode !== undefined && wrong.closeCode !== undefined, 2000, "refusals");
    assert.equal(none.closeCode, 1008);
    assert.equal(wrong.closeCode, 1008);
    assert.equal(relay.stats().refusedAuth, 2);
    const link = new WebSocketLink(relay.url, { WebSocket: WS, token: "nope" });
    await assert.rejects(link.ready(), /refused.*bad token/);
    assert.equal(relay.stats().refusedAuth, 3);
    const ok = new WebSocketLink(relay.url, { WebSocket: WS, token: "s3cret" });
    await ok.ready();
    assert.match(ok.config!.ip!, /^192\.0\.2\./);
    ok.close();
    link.close();
  } finally {
    await relay.close();
  }
});

test("50 clients at once, one sending garbage: every other client's frames arrive, the garbage one is thrown out", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1", maxFrame: 1514, maxBadFrames: 32 });
  try {
    const N = 50, PER = 40;
    const clients = await Promise.all(Array.from({ length: N }, () => Client.open(relay.url)));
    assert.equal(relay.stats().clients, N);
    const evil = clients[0];
    const good = clients.slice(1);
    // Learn: each good client broadcasts once (MAC 0x10 + i).
    good.forEach((c, i) => c.send(frame(BCAST, 0x10 + i, 0xffff)));
    await until(() => relay.macTable().size === good.length, 5000, "learned");
    await until(() => good.every((c) => c.frames.length === good.length - 1) && evil.frames.length === good.length, 5000, "broadcasts seen");
    for (const c of clients) c.frames.length = 0;
    // Garbage and traffic interleaved: each good client sends PER frames to the next one.
    let x = 1;
    const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let k = 0; k < PER; k++) {
      const r = rnd();
      if (evil.ws.readyState === WebSocket.OPEN) {
        evil.send(r < 0.3 ? new Uint8Array(Math.floor(r * 40)) : r < 0.6 ? new Uint8Array(1600 + k) : r < 0.8 ? "{garbage" : frame(BCAST, 0, 0).map((v, i) => (i === 6 ? 1 : v)));
      }
      good.forEach((c, i) => c.send(frame(0x10 + ((i + 1) % good.length), 0x10 + i, k, 64 + k)));
    }
    await until(() => good.every((c) => c.frames.length >= PER), 10000, "all frames delivered");
    good.forEach((c, i) => {
      const from = 0x10 + ((i - 1 + good.length) % good.length);
      assert.equal(c.frames.length, PER, `client ${i} got exactly its frames`);
      c.frames.forEach((f, k) => {
        assert.equal(f[11], from);
        assert.equal(f[14], k, "in order");
        assert.equal(f.length, 64 + k);
      });
      assert.equal(c.closeCode, undefined);
    });
    await until(() => evil.closeCode !== undefined, 5000, "evil thrown out");
    assert.equal(evil.closeCode, 1008);
    assert.equal(relay.stats().clients, N - 1);
    for (const c of clients) c.close();
  } finally {
    await relay.close();
  }
});

test("two asip stacks over WebSocketLink through the relay: announced addresses, ARP, UDP both ways", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const la = new WebSocketLink(relay.url, { WebSocket: WS });
  const lb = new WebSocketLink(relay.url, { WebSocket: WS });
  const a = await Stack.create();
  const b = await Stack.create();
  try {
    await Promise.all([la.ready(), lb.ready()]);
    a.addInterface(la, { ip: la.config!.ip });
    b.addInterface(lb, { ip: lb.config!.ip });
    const ipB = lb.config!.ip!.split("/")[0];
    assert.notEqual(la.config!.ip, lb.config!.ip);
    const ua = rawApi(a).udp.new().bind("0.0.0.0", 1000);
    const ub = rawApi(b).udp.new().bind("0.0.0.0", 2000);
    ub.recv((d, addr, port) => ub.sendto(d, addr, port)); // echo
    const got: number[] = [];
    ua.recv((d) => got.push(d[0] | (d[1] << 8)));
    for (let i = 0; i < 200 && got.length === 0; i++) {
      ua.sendto(new Uint8Array([0, 0]), ipB, 2000); // until ARP resolved
      await settle(10);
    }
    got.length = 0;
    for (let i = 0; i < 100; i++) ua.sendto(new Uint8Array(1000).fill(7).map((v, k) => (k === 0 ? i & 255 : k === 1 ? i >> 8 : v)), ipB, 2000);
    await until(() => got.length === 100, 5000, "echoes");
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    assert.ok(la.counters.txFrames >= 100 && lb.counters.rxFrames >= 100);
  } finally {
    await a.close();
    await b.close();
    await relay.close();
  }
});

test("WebSocketLink reconnects with backoff when the relay comes back, and drops frames while down", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const port = relay.port;
  const link = new WebSocketLink(relay.url, { WebSocket: WS, minDelay: 20, maxDelay: 100 });
  await link.ready();
  assert.equal(link.counters.connects, 1);
  await relay.close();
  await until(() => !link.up, 2000, "down");
  link.send(new Uint8Array(60));
  assert.equal(link.counters.txDroppedDown, 1);
  const again = await Relay.start({ port, host: "127.0.0.1" });
  try {
    await until(() => link.up && link.counters.connects === 2, 5000, "reconnected");
  } finally {
    link.close();
    await again.close();
  }
});

test("a v86-style client (one frame per message, no subprotocol) reaches an asip stack on a batched link: ARP and ping", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const link = new WebSocketLink(relay.url, { WebSocket: WS });
  const s = await Stack.create();
  try {
    const v86 = await Client.open(relay.url); // what v86's network adapter does: no protocols, no query
    await link.ready();
    assert.equal(link.batched, true, "asip's link speaks the batched framing");
    assert.equal(v86.ws.protocol, "", "the emulator gets no subprotocol");
    assert.equal(v86.control[0].mtu, 1500, "and the network's MTU");
    assert.equal(link.config!.mtu, 65535, "asip's link got the MTU it asked for");
    s.addInterface(link, { ip: link.config!.ip, mtu: link.mtu });
    const ip = link.config!.ip!.split("/")[0];
    const myMac = "02:00:00:00:86:01";
    v86.send(arpRequest(myMac, "192.0.2.200", ip));
    await until(() => v86.frames.some((f) => f[12] === 8 && f[13] === 6 && f[21] === 2), 3000, "ARP reply");
    const reply = v86.frames.find((f) => f[12] === 8 && f[13] === 6 && f[21] === 2)!;
    const stackMac = [...reply.subarray(6, 12)].map((x) => x.toString(16).padStart(2, "0")).join(":");
    for (let seq = 0; seq < 5; seq++) v86.send(eth(stackMac, myMac, 0x0800, ipv4("192.0.2.200", ip, 1, icmpEcho(0x86, seq, new Uint8Array(1000).fill(seq)))));
    await until(() => v86.frames.filter((f) => parse(f).icmp?.type === 0).length === 5, 3000, "echo replies");
    // Every message the emulator got is exactly one Ethernet frame.
    for (const f of v86.frames) assert.equal(f.length, parse(f).ip ? 14 + ((f[16] << 8) | f[17]) : f.length);
    assert.ok(link.counters.txMessages > 0 && link.counters.txFrames >= 6);
  } finally {
    await s.close();
    await relay.close();
  }
});

test("batched framing: a burst crosses as one message, records are checked, frames too big for a port are dropped", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  try {
    const a = await Client.open(`${relay.url}?mtu=9000`, [BATCH_PROTOCOL]);
    const b = await Client.open(`${relay.url}?mtu=9000`, [BATCH_PROTOCOL]);
    const legacy = await Client.open(relay.url);
    assert.equal(a.ws.protocol, BATCH_PROTOCOL);
    assert.equal(a.control[0].mtu, 9000);
    const burst = [frame(BCAST, 0xa, 1), frame(BCAST, 0xa, 2, 3000), frame(BCAST, 0xa, 3)];
    a.send(encodeBatch(burst, burst.reduce((n, f) => n + f.length, 0)));
    await until(() => b.frames.length === 1 && legacy.frames.length === 2, 2000, "burst delivered");
    // b (batched) got the burst as one message of three records; the legacy
    // client got the two frames that fit its MTU (1500), one per message.
    const got: Uint8Array[] = [];
    assert.equal(decodeBatch(b.frames[0], (f) => got.push(f)), 3);
    assert.deepEqual(got.map((f) => f[14]), [1, 2, 3]);
    assert.deepEqual(legacy.frames.map((f) => f[14]), [1, 3]);
    assert.equal(relay.stats().dropped.tooBig, 1);
    // A record running past the end: the frames before it stand, the rest is dropped and counted.
    const bad = encodeBatch([frame(BCAST, 0xa, 4)], 60);
    const broken = new Uint8Array(bad.length + 8);
    broken.set(bad);
    broken.set([0, 0, 0, 200, 1, 2, 3, 4], bad.length);
    a.send(broken);
    await until(() => legacy.frames.length === 3, 2000, "the good record");
    assert.equal(legacy.frames[2][14], 4);
    assert.equal(relay.stats().dropped.badBatch, 1);
    a.send(new Uint8Array([0, 0, 0, 0])); // a zero length
    await until(() => relay.stats().dropped.badBatch === 2, 2000, "zero-length record");
    const st = relay.stats();
    assert.ok(st.rxMessages < st.rxFrames, `fewer messages than frames: ${st.rxMessages} / ${st.rxFrames}`);
  } finally {
    await relay.close();
  }
});

test("100 MB of TCP between two stacks on batched 64 KiB-MTU links through the relay, hash-checked, pools back", async () => {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const la = new WebSocketLink(relay.url, { WebSocket: WS });
  const lb = new WebSocketLink(relay.url, { WebSocket: WS, wsOptions: { generateMask: (m: Uint8Array) => m.fill(0) } });
  const a = await Stack.create();
  const b = await Stack.create();
  try {
    await Promise.all([la.ready(), lb.ready()]);
    assert.equal(la.mtu, 65535);
    a.addInterface(la, { ip: la.config!.ip, mtu: la.mtu });
    b.addInterface(lb, { ip: lb.config!.ip, mtu: lb.mtu });
    rawApi(a).tcp.setTimeWait(20);
    rawApi(b).tcp.setTimeWait(20);
    const ipB = lb.config!.ip!.split("/")[0];
    const N = 100 << 20;
    const data = new Uint8Array(N);
    for (let i = 0; i < N; i += 4096) data[i] = (i >>> 12) & 255, data[i + 1] = i % 251;
    const l = rawApi(b).tcp.new().bind("0.0.0.0", 7).listen();
    l.accept((pcb) => {
      let off = 0, n = 0;
      const pump = () => {
        while (off < n) { const k = pcb.write(data.subarray(off, Math.min(n, off + 65536))); if (!k) return; off += k; }
        pcb.sent(undefined);
        pcb.close();
      };
      pcb.recv((d) => {
        if (d === null) { if (pcb.handle) pcb.close(); return; }
        n = d[0] === 1 ? N : 1000; // the first byte asks for the whole or a little
        pcb.sent(pump);
        pump();
      });
    });
    const fetch = (all: boolean) => new Promise<string>((resolve, reject) => {
      const hash = createHash("sha256");
      let got = 0;
      const c = rawApi(a).tcp.new();
      c.err((e) => reject(e));
      c.recv((d) => {
        if (d === null) { c.close(); resolve(got === (all ? N : 1000) ? hash.digest("hex") : `only ${got} bytes`); return; }
        hash.update(d);
        got += d.length;
      });
      c.connect(ipB, 7, () => c.write(Uint8Array.of(all ? 1 : 0)));
    });
    await fetch(false); // ARP resolved, its timer running: the state the baseline holds
    await new Promise((r) => setTimeout(r, 100));
    const baseA = baseline(a), baseB = baseline(b);
    assert.equal(await fetch(true), createHash("sha256").update(data).digest("hex"));
    assert.ok(la.counters.rxMessages < la.counters.rxFrames, "frames arrived batched");
    assert.ok(la.counters.rxBytes / la.counters.rxFrames > 30000, "in large frames");
    await until(() => { try { assertNoLeaks(a, baseA, "a"); assertNoLeaks(b, baseB, "b"); return true; } catch { return false; } }, 5000, "pools back").catch(() => {
      assertNoLeaks(a, baseA, "a");
      assertNoLeaks(b, baseB, "b");
    });
    l.close();
  } finally {
    await a.close();
    await b.close();
    await relay.close();
  }
});
