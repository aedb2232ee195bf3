// The gateway (bindings/node/gateway.ts) on a relay: DHCP (RFC 2131) with a
// hand-made client on a bare WebSocket, DNS (A for localhost through the
// host's resolver, mapped to the host alias; NXDOMAIN; other types), ping of
// the gateway and of the host alias, UDP NAT to a host socket on 127.0.0.1
// through the host alias, the allowlist refusing other destinations with
// ICMP "administratively prohibited", and a UDP port forward from the host
// into the virtual network. Clients are asip stacks over WebSocketLink.
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import { createHash } from "node:crypto";
import { WebSocket } from "ws";
import { Relay } from "../../bindings/node/relay.js";
import { Gateway } from "../../bindings/node/gateway.js";
import { inetChecksum } from "../../bindings/wire/checksum.js";
import { dhcpOptions } from "../../bindings/wire/dhcp.js";
import { WebSocketLink, type WebSocketCtor } from "../../bindings/netif/websocket.js";
import { Stack } from "../../bindings/stack.js";
import { rawApi } from "../../bindings/api/raw.js";
import { until } from "../helpers/stacks.js";

const WS = WebSocket as unknown as WebSocketCtor;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(opts: Parameters<typeof Gateway.start>[1] = {}) {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const gw = await Gateway.start(relay, opts);
  return { relay, gw };
}

/** An asip stack on the relay with the address the relay announced. */
async function client(relay: Relay, mtu?: number) {
  const link = new WebSocketLink(relay.url, { WebSocket: WS, mtu });
  await link.ready();
  const stack = await Stack.create();
  const c = link.config!;
  stack.addInterface(link, { ip: c.ip, gateway: c.gateway });
  return { stack, link, ip: c.ip!.split("/")[0], raw: rawApi(stack) };
}

/** Sends `data` to ip:port from a fresh pcb until `reply` sees an answer (ARP may take a round). */
async function ask(raw: ReturnType<typeof rawApi>, data: Uint8Array, ip: string, port: number): Promise<{ data: Uint8Array; addr: string; port: number }> {
  const pcb = raw.udp.new().bind("0.0.0.0", 0);
  let got: { data: Uint8Array; addr: string; port: number } | undefined;
  pcb.recv((d, addr, p) => (got ??= { data: d.slice(), addr, port: p }));
  try {
    for (let i = 0; i < 100 && !got; i++) {
      pcb.sendto(data, ip, port);
      for (let k = 0; k < 20 && !got; k++) await sleep(5);
    }
  } finally {
    pcb.remove();
  }
  assert.ok(got, `answer from ${ip}:${port}`);
  return got;
}

function dnsQuery(name: string, qtype = 1, id = 0x1234): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...[...l].map((c) => c.charCodeAt(0))]);
  return Uint8Array.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, qtype, 0, 1]);
}

function dnsAnswers(r: Uint8Array): { rcode: number; addrs: string[] } {
  const an = (r[6] << 8) | r[7];
  let o = 12;
  while (r[o] !== 0) o += r[o] + 1;
  o += 5;
  const addrs: string[] = [];
  for (let i = 0; i < an; i++) {
    const rdlen = (r[o + 10] << 8) | r[o + 11];
    if (rdlen === 4) addrs.push(Array.from(r.subarray(o + 12, o + 16)).join("."));
    o += 12 + rdlen;
  }
  return { rcode: r[3] & 15, addrs };
}

/** A DHCP client message in an Ethernet/IP/UDP broadcast frame (what dhclient sends before it has an address). */
function dhcpFrame(mac: number[], type: number, xid: number, extra: number[] = []): Uint8Array {
  const m = new Uint8Array(300);
  m[0] = 1; m[1] = 1; m[2] = 6;
  m.set([xid >>> 24, (xid >>> 16) & 255, (xid >>> 8) & 255, xid & 255], 4);
  m[10] = 0x80; // broadcast flag
  m.set(mac, 28);
  m.set([99, 130, 83, 99, 53, 1, type, ...extra, 255], 236);
  const udp = new Uint8Array(8 + m.length);
  udp.set([0, 68, 0, 67, (udp.length >> 8) & 255, udp.length & 255, 0, 0]);
  udp.set(m, 8);
  const f = new Uint8Array(14 + 20 + udp.length);
  f.set([255, 255, 255, 255, 255, 255, ...mac, 8, 0]);
  const ip = f.subarray(14, 34);
  ip.set([0x45, 0, ((20 + udp.length) >> 8) & 255, (20 + udp.length) & 255, 0, 1, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
  const c = inetChecksum(ip, 0, 20);
  ip[10] = c >> 8; ip[11] = c & 255;
  f.set(udp, 34); // UDP checksum 0: none (RFC 768)
  return f;
}

test("DHCP: DISCOVER → OFFER, REQUEST → ACK with options 1/3/6/51/54; a taken address is NAKed; RELEASE frees it", async () => {
  const { relay, gw } = await setup();
  const ws = new WebSocket(relay.url);
  const replies: Uint8Array[] = [];
  ws.on("message", (d, bin) => {
    if (!bin) return;
    const f = new Uint8Array(d as Buffer);
    if (f.length > 42 && f[23] === 17 && f[36] === 0 && f[37] === 68) replies.push(f.subarray(42));
  });
  await new Promise((r) => ws.once("open", r));
  try {
    const mac = [2, 0xdc, 0, 0, 0, 1];
    const opt = (m: Uint8Array) => dhcpOptions(m)!;
    ws.send(dhcpFrame(mac, 1, 0xabcd0001));
    await until(() => replies.length === 1, 3000, "OFFER");
    const offer = replies[0];
    assert.equal(offer[0], 2);
    assert.deepEqual(Array.from(offer.subarray(4, 8)), [0xab, 0xcd, 0, 1], "xid");
    const yi = Array.from(offer.subarray(16, 20));
    assert.equal(yi.slice(0, 3).join("."), "192.0.2");
    const o = opt(offer);
    assert.equal(o.get(53)![0], 2, "OFFER");
    assert.deepEqual(Array.from(o.get(54)!), [192, 0, 2, 1], "server id");
    assert.deepEqual(Array.from(o.get(1)!), [255, 255, 255, 0], "mask");
    assert.deepEqual(Array.from(o.get(3)!), [192, 0, 2, 1], "router");
    assert.deepEqual(Array.from(o.get(6)!), [192, 0, 2, 1], "dns");
    assert.equal(o.get(51)!.length, 4, "lease time");
    ws.send(dhcpFrame(mac, 3, 0xabcd0002, [50, 4, ...yi, 54, 4, 192, 0, 2, 1]));
    await until(() => replies.length === 2, 3000, "ACK");
    assert.equal(opt(replies[1]).get(53)![0], 5, "ACK");
    assert.deepEqual(Array.from(replies[1].subarray(16, 20)), yi);
    // Another client asking for the same address is refused.
    ws.send(dhcpFrame([2, 0xdc, 0, 0, 0, 2], 3, 0xabcd0003, [50, 4, ...yi]));
    await until(() => replies.length === 3, 3000, "NAK");
    assert.equal(opt(replies[2]).get(53)![0], 6, "NAK");
    // The relay announces different addresses than the lease.
    const c = await client(relay);
    assert.notEqual(c.ip, yi.join("."));
    await c.stack.close();
    // RELEASE, then the other client gets it.
    const rel = dhcpFrame(mac, 7, 0xabcd0004);
    rel.set(yi, 42 + 12); // ciaddr
    ws.send(rel);
    await until(() => gw.counters.dhcp.release === 1, 3000, "RELEASE");
    ws.send(dhcpFrame([2, 0xdc, 0, 0, 0, 2], 3, 0xabcd0005, [50, 4, ...yi]));
    await until(() => replies.length === 4, 3000, "ACK 2");
    assert.equal(opt(replies[3]).get(53)![0], 5);
    assert.deepEqual(gw.counters.dhcp, { discover: 1, offer: 1, request: 3, ack: 2, nak: 1, release: 1, decline: 0, inform: 0, bad: 0 });
  } finally {
    ws.close();
    await gw.close();
    await relay.close();
  }
});

test("DNS: A for localhost via the host's resolver comes back as the host alias; NXDOMAIN; no AAAA data", async () => {
  const { relay, gw } = await setup();
  const c = await client(relay);
  try {
    const r = await ask(c.raw, dnsQuery("localhost"), "192.0.2.1", 53);
    assert.equal(r.addr, "192.0.2.1");
    assert.equal(r.port, 53);
    assert.equal(r.data[0], 0x12);
    assert.equal(r.data[1], 0x34);
    assert.deepEqual(dnsAnswers(r.data), { rcode: 0, addrs: ["192.0.2.254"] });
    const h = await ask(c.raw, dnsQuery("host.asip.internal"), "192.0.2.1", 53);
    assert.deepEqual(dnsAnswers(h.data).addrs, ["192.0.2.254"]);
    const six = await ask(c.raw, dnsQuery("localhost", 28), "192.0.2.1", 53);
    assert.deepEqual(dnsAnswers(six.data), { rcode: 0, addrs: [] });
  } finally {
    await c.stack.close();
    await gw.close();
    await relay.close();
  }
  // NXDOMAIN and bad queries, with a stub resolver (no outside traffic).
  const r2 = await Relay.start({ port: 0, host: "127.0.0.1" });
  const g2 = await Gateway.start(r2, { resolve: async (n) => { if (n === "a.test") return ["198.51.100.7"]; throw new Error("ENOTFOUND"); } });
  try {
    assert.deepEqual(dnsAnswers((await g2.dns(dnsQuery("a.test")))!), { rcode: 0, addrs: ["198.51.100.7"] });
    assert.equal((await g2.dns(dnsQuery("nope.test")))![3] & 15, 3, "NXDOMAIN");
    assert.equal((await g2.dns(Uint8Array.from([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 1])))![3] & 15, 1, "FORMERR on a truncated name");
    assert.equal(await g2.dns(new Uint8Array(5)), undefined, "too short: no answer");
  } finally {
    await g2.close();
    await r2.close();
  }
});

test("ping the gateway and the host alias; UDP NAT to a host socket through the host alias; the allowlist refuses the rest", async () => {
  const { relay, gw } = await setup();
  const c = await client(relay);
  const echo = dgram.createSocket("udp4");
  echo.on("message", (m, r) => echo.send(Buffer.concat([Buffer.from("echo:"), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, "127.0.0.1", r));
  const hostPort = echo.address().port;
  try {
    // ping (raw ICMP pcb, echo request type 8)
    for (const dst of ["192.0.2.1", "192.0.2.254"]) {
      const icmp = c.raw.ip.new(1);
      let reply = "";
      icmp.recv((pkt, src, info) => {
        if (pkt[info.hlen] === 0 && pkt[info.hlen + 4] === 0x42) reply = src;
      });
      const req = Uint8Array.from([8, 0, 0, 0, 0x42, 0x42, 0, 1, 1, 2, 3, 4]);
      const s = inetChecksum(req, 0, req.length);
      req[2] = s >> 8; req[3] = s & 255;
      for (let i = 0; i < 50 && !reply; i++) {
        icmp.sendto(req, dst);
        await sleep(20);
      }
      icmp.remove();
      assert.equal(reply, dst, `echo reply from ${dst}`);
    }
    // UDP through the NAT to 127.0.0.1:hostPort, byte-exact both ways, many datagrams, two flows.
    const r = await ask(c.raw, new TextEncoder().encode("hello"), "192.0.2.254", hostPort);
    assert.equal(r.addr, "192.0.2.254");
    assert.equal(r.port, hostPort);
    assert.equal(new TextDecoder().decode(r.data), "echo:hello");
    const pcb = c.raw.udp.new().bind("0.0.0.0", 5555);
    const got = new Set<number>();
    pcb.recv((d) => { if (d.length === 5 + 1000 && d[5] === d[1004]) got.add(d[5] | (d[6] << 8)); });
    for (let i = 0; i < 200; i++) {
      const b = new Uint8Array(1000).fill(i & 255);
      b[0] = i & 255; b[1] = i >> 8; b[999] = i & 255;
      pcb.sendto(b, "192.0.2.254", hostPort);
      if (i % 20 === 19) await sleep(5);
    }
    await until(() => got.size >= 195, 5000, "NATed echoes");
    pcb.remove();
    assert.ok(gw.counters.nat.udpFlows >= 2);
    // Refused: outside the allowlist → ICMP 3/13 to the sender's error callback.
    const u = c.raw.udp.new().bind("0.0.0.0", 0);
    let err: { type: number; code: number; addr: string } | undefined;
    u.err((e) => (err = e));
    u.sendto(new Uint8Array(10), "203.0.113.7", 9);
    await until(() => err !== undefined, 3000, "ICMP error");
    assert.deepEqual({ ...err, name: undefined, port: undefined }, { type: 3, code: 13, addr: "203.0.113.7", name: undefined, port: undefined });
    assert.equal(gw.counters.nat.refused, 1);
    u.remove();
  } finally {
    echo.close();
    await c.stack.close();
    await gw.close();
    await relay.close();
  }
});

test("the allowlist can open other destinations; fragments to NATed destinations are dropped and counted", async () => {
  const { relay, gw } = await setup({ allow: ["127.0.0.0/8", "198.51.100.0/24"] });
  try {
    assert.equal(gw.allowed(0x7f000001), true);
    assert.equal(gw.allowed(0xc6336405), true);
    assert.equal(gw.allowed(0xcb007107), false);
    const c = await client(relay, 1500);
    const u = c.raw.udp.new().bind("0.0.0.0", 0);
    u.sendto(new Uint8Array(3000), "192.0.2.254", 9); // fragmented above the MTU
    await until(() => gw.counters.nat.fragments >= 2, 3000, "fragments counted");
    u.remove();
    await c.stack.close();
  } finally {
    await gw.close();
    await relay.close();
  }
});

test("UDP port forward: the host reaches a service inside the virtual network", async () => {
  const { relay, gw } = await setup();
  const c = await client(relay);
  try {
    const svc = c.raw.udp.new().bind("0.0.0.0", 7);
    svc.recv((d, addr, port) => svc.sendto(Uint8Array.from([...d, 33]), addr, port));
    const hostPort = await gw.addForward(`udp:0:${c.ip}:7`);
    const sock = dgram.createSocket("udp4");
    const got: string[] = [];
    sock.on("message", (m) => got.push(m.toString()));
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
    for (let i = 0; i < 50 && got.length === 0; i++) {
      sock.send("ping", hostPort, "127.0.0.1");
      await sleep(20);
    }
    assert.equal(got[0], "ping!");
    sock.close();
  } finally {
    await c.stack.close();
    await gw.close();
    await relay.close();
  }
});

/** Reads everything a raw TCP connection from the client stack gets until FIN. */
function tcpRequest(raw: ReturnType<typeof rawApi>, ip: string, port: number, send: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const pcb = raw.tcp.new();
    pcb.err((e) => reject(e));
    pcb.recv((d) => {
      if (d === null) {
        pcb.close();
        resolve(Buffer.concat(chunks));
      } else chunks.push(d.slice());
    });
    let off = 0;
    const pump = () => {
      while (off < send.length && pcb.handle !== 0) {
        const n = pcb.write(send.subarray(off, off + 65536));
        if (n === 0) return;
        off += n;
      }
      if (off === send.length && !shut && pcb.handle !== 0) {
        shut = true;
        pcb.shutdown(false, true); // our FIN: the request is complete
      }
    };
    let shut = false;
    pcb.sent(() => pump());
    pcb.connect(ip, port, (err) => (err ? reject(err) : pump()));
  });
}

test("TCP NAT: an HTTP GET and 2 MB both ways to host servers on 127.0.0.1 through the host alias; refused destinations get a RST", async () => {
  const { relay, gw } = await setup();
  const c = await client(relay);
  const web = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain", connection: "close" });
    res.end(`hello from the host, ${req.url}`);
  });
  const sink = net.createServer((s) => {
    const h = createHash("sha256");
    let n = 0;
    s.on("data", (d) => { h.update(d); n += d.length; });
    s.on("end", () => {
      const big = Buffer.alloc(2 << 20, 0x5a);
      s.end(Buffer.concat([Buffer.from(`${n} ${h.digest("hex")}\n`), big]));
    });
  });
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
  try {
    await ask(c.raw, dnsQuery("localhost"), "192.0.2.1", 53); // ARP for the gateway settled
    const res = Buffer.from(await tcpRequest(c.raw, "192.0.2.254", (web.address() as net.AddressInfo).port,
      new TextEncoder().encode("GET /page HTTP/1.1\r\nHost: host\r\nConnection: close\r\n\r\n"))).toString();
    assert.match(res, /^HTTP\/1\.1 200 OK/);
    assert.match(res, /\r\n\r\n1a\r\nhello from the host, \/page\r\n0\r\n/);
    const data = new Uint8Array(2 << 20).map((_, i) => (i * 7) & 255);
    const back = Buffer.from(await tcpRequest(c.raw, "192.0.2.254", (sink.address() as net.AddressInfo).port, data));
    const nl = back.indexOf(10);
    assert.equal(back.subarray(0, nl).toString(), `${data.length} ${createHash("sha256").update(data).digest("hex")}`);
    assert.equal(back.length - nl - 1, 2 << 20);
    assert.ok(back.subarray(nl + 1).every((b) => b === 0x5a));
    assert.equal(gw.counters.nat.tcpFlows, 2);
    await assert.rejects(tcpRequest(c.raw, "203.0.113.7", 80, new Uint8Array(1)), /ERR_RST|ERR_CONN|ERR_ABRT/);
    assert.equal(gw.counters.nat.refused, 1);
  } finally {
    web.close();
    sink.close();
    await c.stack.close();
    await gw.close();
    await relay.close();
  }
});

test("TCP port forward: the host's connections reach an HTTP server inside the virtual network", async () => {
  const { relay, gw } = await setup();
  const c = await client(relay);
  try {
    const lis = c.raw.tcp.new().bind("0.0.0.0", 80).listen();
    lis.accept((pcb) => {
      pcb.recv((d) => {
        if (d === null) return pcb.close();
        if (new TextDecoder().decode(d).includes("\r\n\r\n")) {
          pcb.write(new TextEncoder().encode("HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nserved inside asip"));
          pcb.close();
        }
      });
    });
    const port = await gw.addForward(`0:${c.ip}:80`);
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: "/" }, (res) => {
        let b = "";
        res.on("data", (d) => (b += d));
        res.on("end", () => resolve(b));
      }).on("error", reject);
    });
    assert.equal(body, "served inside asip");
    assert.equal(gw.counters.forwards.tcp, 1);
  } finally {
    await c.stack.close();
    await gw.close();
    await relay.close();
  }
});
