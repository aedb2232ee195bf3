// The relay (bindings/node/relay.ts) as a learning switch between WebSocket
// clients: learning, flooding (broadcast, unknown unicast), ageing, filtering;
// limits (short, long, text, group source, rate, MACs per client) dropped and
// counted; a client over maxBadFrames thrown out (1008) while others carry
// on; --token; 50 clients at once with one of them sending garbage; and two
// asip stacks talking UDP through the relay over WebSocketLink.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { Relay } from "../../bindings/node/relay.js";
import { WebSocketLink, type WebSocketCtor } from "../../bindings/netif/websocket.js";
import { Stack } from "../../bindings/stack.js";
import { rawApi } from "../../bindings/api/raw.js";
import { until } from "../helpers/stacks.js";

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
  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url);
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
