/**
 * The web demo: an asip stack joined to the relay over a WebSocket, with
 * ping, an HTTP client and server on asip's TCP, a live throughput chart, a
 * connection table, a decoded packet log and a pcap download.
 * `window.asipDemo` exposes the same actions to tests.
 *
 * By default the stack runs in a module Worker (Worker mode,
 * bindings/worker/): the worker opens the WebSocket itself, so frames never
 * touch this thread, and the page uses the same raw API over the worker's
 * port (received bytes arrive as transferred buffers). `?worker=0` runs the
 * stack on the page's main thread instead.
 */
import { Stack } from "../bindings/stack.js";
import { WebSocketLink } from "../bindings/netif/websocket.js";
import { RtcDataChannelLink, type Signaller } from "../bindings/netif/webrtc.js";
import { PcapWriter } from "../bindings/netif/pcap.js";
import type { LinkDriver } from "../bindings/netif/driver.js";
import { rawApi, type TcpPcb } from "../bindings/api/raw.js";
import { StackWorker, portLink, RingLink, ringBuffer, type LinkDescription } from "../bindings/worker/client.js";
import { decode, hexdump } from "./decode.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const relayUrl = params.get("relay") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/relay`;
/** Where the stack runs: a module Worker (default) or this thread (`?worker=0`). */
const useWorker = params.get("worker") !== "0";
/** `?batch=0`: speak one frame per message at MTU 1500, as an emulator's relay client does. */
const legacy = params.get("batch") === "0";
const enc = new TextEncoder();
const dec = new TextDecoder();

// ---- packet log and capture -------------------------------------------------------------------

const PCAP_MAX_FRAMES = 50000;
const pcap = new PcapWriter();
const LOG_MAX = 200;
const logged: { dir: "→" | "←"; t: number; frame: Uint8Array }[] = [];
let logDirty = false;
let totalFrames = 0;

function record(dir: "→" | "←", frame: Uint8Array): void {
  totalFrames++;
  if (pcap.frames < PCAP_MAX_FRAMES) pcap.write(frame);
  logged.push({ dir, t: performance.now(), frame: frame.slice(0, 256) });
  if (logged.length > LOG_MAX) logged.splice(0, logged.length - LOG_MAX);
  logDirty = true;
}

/** Wraps the link so every frame is logged and captured. */
function tap(link: LinkDriver): LinkDriver {
  return {
    get mtu() { return link.mtu; },
    send(frame) { record("→", frame); link.send(frame); },
    onReceive(cb) { link.onReceive((frame) => { record("←", frame); cb(frame); }); },
    close() { return link.close(); },
  };
}

function renderLog(): void {
  if (!logDirty) return;
  logDirty = false;
  const ol = $("log");
  const frag = document.createDocumentFragment();
  for (const e of logged.slice(-LOG_MAX).reverse()) {
    const li = document.createElement("li");
    const layers = decode(e.frame);
    const top = layers[layers.length - 1];
    li.innerHTML = `<span class="dir"></span><span class="l"></span> <span class="s"></span><span class="layers"></span>`;
    li.querySelector(".dir")!.textContent = e.dir;
    li.querySelector(".l")!.textContent = top.name;
    li.querySelector(".s")!.textContent = top.summary;
    li.querySelector(".layers")!.textContent = layers.slice(0, -1).map((l) => `${l.name}: ${l.summary}`).join("  ·  ");
    li.addEventListener("click", () => {
      const pre = li.querySelector("pre");
      if (pre) pre.remove();
      else {
        const p = document.createElement("pre");
        p.textContent = hexdump(e.frame);
        li.appendChild(p);
      }
    });
    frag.appendChild(li);
  }
  ol.replaceChildren(frag);
}

// ---- the stack ----------------------------------------------------------------------------------

interface Conn {
  kind: string;
  pcb: TcpPcb;
  local: string;
  remote: string;
  done?: string;
}
const conns: Conn[] = [];

const state = {
  mode: useWorker ? "worker" : "page",
  /** How WebRTC frames reach a Worker's stack: "ring" (SharedArrayBuffer, cross-origin isolated) or "port". */
  rtcTransport: "",
  ip: "",
  gateway: "",
  dns: "",
  id: "",
  peers: [] as string[],
  ready: false,
  error: "",
  serving: false,
  lastFetch: undefined as undefined | { status: string; body: string; bytes: number; sha256: string; ms: number },
};

/** The page's stack (`?worker=0`), or the Worker's handle (default). */
let stack: Stack | undefined;
let worker: StackWorker | undefined;
/** The raw API: the stack's own, or the Worker's remote pcbs (the same surface for what the demo does). */
let raw: { tcp: { new(): TcpPcb }; udp: { new(): any } };
/** The relay link (page mode), and the relay's control channel (both modes). */
let link: WebSocketLink | undefined;
let sig: Signaller;
/** The relay interface's index in the Worker's stack. */
let relayIndex = 0;

function setStatus(text: string, cls: "" | "ok" | "bad" = ""): void {
  const s = $("status");
  s.textContent = text;
  s.className = `status ${cls}`;
}

function onControl(m: { type: string; [k: string]: unknown }): void {
  if (m.type === "peers") {
    state.peers = (m as unknown as { peers: string[] }).peers;
    $("peers").textContent = state.peers.length ? state.peers.join(", ") : "none";
    renderRtcPeers();
  }
}

async function start(): Promise<void> {
  let cfg: { id: string; ip?: string; gateway?: string; dns?: string; mtu?: number };
  let mac: string;
  if (useWorker) {
    // Written out here so that Vite finds and bundles the worker's code.
    const w = new Worker(new URL("../bindings/worker/core-worker.ts", import.meta.url), { type: "module" });
    worker = await StackWorker.start({
      worker: w,
      interfaces: [{ link: { type: "websocket", url: relayUrl, token: params.get("token") ?? undefined, ...(legacy ? { batch: false, mtu: 1500 } : {}) }, capture: true }],
    });
    const info = worker.interfaces[0];
    relayIndex = info.index;
    cfg = info.config as typeof cfg;
    mac = info.mac;
    raw = worker.raw as unknown as typeof raw;
    sig = worker.signaller(relayIndex);
    sig.addControlListener(onControl);
    setStatus(`connected to ${relayUrl} (stack in a Worker)`, "ok");
  } else {
    const l = new WebSocketLink(relayUrl, {
      token: params.get("token") ?? undefined,
      ...(legacy ? { batch: false, mtu: 1500 } : {}),
      onState: (up) => setStatus(up ? `connected to ${relayUrl}` : "relay link down — reconnecting…", up ? "ok" : "bad"),
      onControl,
    });
    link = l;
    sig = l;
    await l.ready();
    cfg = l.config!;
    stack = await Stack.create();
    raw = rawApi(stack);
    mac = stack.addInterface(tap(l), { ip: cfg.ip, gateway: cfg.gateway, mtu: l.mtu }).mac;
  }
  if (!cfg.ip) throw new Error("the relay announced no address");
  state.ip = cfg.ip.split("/")[0];
  state.gateway = cfg.gateway ?? "";
  state.dns = cfg.dns ?? state.gateway;
  state.id = cfg.id;
  $("addr").textContent = cfg.ip;
  $("mac").textContent = mac;
  $("gw").textContent = `${state.gateway} (DNS ${state.dns})`;
  $("rid").textContent = cfg.id;
  $("serve-url").textContent = `http://${state.ip}/`;
  RtcDataChannelLink.listen(sig, (l, meta) => {
    const net = (meta as { net?: unknown } | undefined)?.net;
    if (typeof net !== "string" || !/^198\.18\.\d{1,3}\.\d{1,3}$/.test(net)) { l.close(); return; }
    attachRtc(l, net, false);
  }, { ...RTC_OPTS, mtu: RTC_MTU });
  // Resolve the gateway's MAC before the user's first ping, so its round
  // trip time does not include ARP.
  if (state.gateway) {
    await resolve("gateway.asip.internal").catch(() => resolve("gateway.asip.internal")).catch(() => {});
  }
  state.ready = true;
}

// ---- ping (ICMP echo on a raw pcb, RFC 792) ----------------------------------------------------

function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

let pingId = (Math.random() * 0xffff) | 0;

/** Pings `to` `count` times; resolves with the round-trip times (NaN = lost). */
async function ping(to: string, count = 4, out?: (line: string) => void): Promise<number[]> {
  if (worker) {
    // Raw IP pcbs live in the core's thread: the Worker pings.
    const rtts = await worker.ping(to, count);
    rtts.forEach((rtt, seq) => out?.(Number.isNaN(rtt) ? `seq=${seq}: no reply` : `reply from ${to}: seq=${seq} time=${rtt.toFixed(2)} ms`));
    return rtts;
  }
  const pcb = rawApi(stack!).ip.new(1);
  const id = (pingId = (pingId + 1) & 0xffff);
  const sentAt = new Map<number, number>();
  const rtts: number[] = [];
  const waiters = new Map<number, () => void>();
  pcb.recv((pkt, src, info) => {
    const o = info.hlen;
    if (pkt[o] !== 0 || ((pkt[o + 4] << 8) | pkt[o + 5]) !== id) return;
    const seq = (pkt[o + 6] << 8) | pkt[o + 7];
    const t0 = sentAt.get(seq);
    if (t0 === undefined) return;
    const rtt = performance.now() - t0;
    rtts[seq] = rtt;
    out?.(`reply from ${src}: seq=${seq} time=${rtt.toFixed(2)} ms`);
    waiters.get(seq)?.();
  });
  try {
    for (let seq = 0; seq < count; seq++) {
      const req = new Uint8Array(8 + 56);
      req[0] = 8;
      req[4] = id >> 8; req[5] = id & 255; req[6] = seq >> 8; req[7] = seq & 255;
      for (let i = 8; i < req.length; i++) req[i] = i;
      const c = checksum(req);
      req[2] = c >> 8; req[3] = c & 255;
      sentAt.set(seq, performance.now());
      rtts[seq] = NaN;
      const got = new Promise<void>((r) => { waiters.set(seq, r); setTimeout(r, 1000); });
      pcb.sendto(req, to);
      await got;
      if (Number.isNaN(rtts[seq])) out?.(`seq=${seq}: no reply`);
      if (seq + 1 < count) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    pcb.remove();
  }
  return rtts;
}

// ---- DNS (one A query to the gateway) ---------------------------------------------------------

async function resolve(name: string): Promise<string> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return name;
  const pcb = raw.udp.new().bind("0.0.0.0", 0);
  const id = (Math.random() * 0xffff) | 0;
  const q = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const l of name.split(".")) q.push(l.length, ...enc.encode(l));
  q.push(0, 0, 1, 0, 1);
  try {
    return await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`DNS: no answer for ${name}`)), 3000);
      pcb.recv((r) => {
        if (r.length < 12 || ((r[0] << 8) | r[1]) !== id) return;
        clearTimeout(timer);
        if ((r[3] & 15) !== 0) return rej(new Error(`DNS: ${name}: ${(r[3] & 15) === 3 ? "no such name" : `rcode ${r[3] & 15}`}`));
        let o = 12;
        while (r[o] !== 0) o += r[o] + 1;
        o += 5;
        for (let i = 0; i < ((r[6] << 8) | r[7]); i++) {
          const rdlen = (r[o + 10] << 8) | r[o + 11];
          if (((r[o + 2] << 8) | r[o + 3]) === 1 && rdlen === 4) return res(Array.from(r.subarray(o + 12, o + 16)).join("."));
          o += 12 + rdlen;
        }
        rej(new Error(`DNS: ${name} has no IPv4 address`));
      });
      pcb.sendto(Uint8Array.from(q), state.dns, 53);
    });
  } finally {
    pcb.remove();
  }
}

// ---- TCP helpers ---------------------------------------------------------------------------------

function track(kind: string, pcb: TcpPcb, remote: string): Conn {
  const c: Conn = { kind, pcb, local: "", remote };
  conns.push(c);
  if (conns.length > 50) conns.splice(0, conns.length - 50);
  return c;
}

/** Writes all of `data` respecting the send buffer; resolves when queued. */
function writeAll(pcb: TcpPcb, data: Uint8Array, onProgress?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const pump = () => {
      try {
        while (off < data.length && pcb.handle !== 0) {
          const n = pcb.write(data.subarray(off, off + 65536));
          if (n === 0) return;
          off += n;
          onProgress?.();
        }
        if (off >= data.length) { pcb.sent(undefined); resolve(); }
        else if (pcb.handle === 0) reject(new Error("connection closed while sending"));
      } catch (e) {
        reject(e);
      }
    };
    pcb.sent(() => pump());
    pump();
  });
}

async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Decodes an HTTP/1.x response (Content-Length, chunked, or until close). */
function parseResponse(all: Uint8Array): { status: string; headers: Record<string, string>; body: Uint8Array } {
  let end = -1;
  for (let i = 0; i + 3 < all.length; i++) if (all[i] === 13 && all[i + 1] === 10 && all[i + 2] === 13 && all[i + 3] === 10) { end = i; break; }
  if (end < 0) return { status: "(no complete header)", headers: {}, body: all };
  const lines = dec.decode(all.subarray(0, end)).split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const k = l.indexOf(":");
    if (k > 0) headers[l.slice(0, k).trim().toLowerCase()] = l.slice(k + 1).trim();
  }
  let body = all.subarray(end + 4);
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const parts: Uint8Array[] = [];
    let o = 0;
    for (;;) {
      let nl = o;
      while (nl + 1 < body.length && !(body[nl] === 13 && body[nl + 1] === 10)) nl++;
      const size = parseInt(dec.decode(body.subarray(o, nl)), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(nl + 2, nl + 2 + size));
      o = nl + 2 + size + 2;
    }
    const n = parts.reduce((s, p) => s + p.length, 0);
    const joined = new Uint8Array(n);
    let p = 0;
    for (const x of parts) { joined.set(x, p); p += x.length; }
    body = joined;
  } else if (headers["content-length"]) body = body.subarray(0, Number(headers["content-length"]));
  return { status: lines[0], headers, body };
}

/** GET `url` over asip's TCP. */
async function httpGet(url: string): Promise<{ status: string; body: string; bytes: number; sha256: string; ms: number }> {
  const u = new URL(url);
  if (u.protocol !== "http:") throw new Error("only http:// URLs");
  const ip = await resolve(u.hostname);
  const port = Number(u.port || 80);
  const t0 = performance.now();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const all = await new Promise<Uint8Array>((res, rej) => {
    const pcb = raw.tcp.new();
    const c = track("http client", pcb, `${ip}:${port}`);
    pcb.err((e) => { c.done = e.code; rej(new Error(`${url}: ${e.code === "ERR_RST" ? "connection refused or reset" : e.code}`)); });
    pcb.recv((d) => {
      if (d === null) {
        c.done = "done";
        pcb.close();
        const out = new Uint8Array(size);
        let o = 0;
        for (const x of chunks) { out.set(x, o); o += x.length; }
        res(out);
        return;
      }
      chunks.push(d.slice());
      size += d.length;
    });
    pcb.connect(ip, port, (err) => {
      if (err) return rej(err);
      c.local = `${pcb.localAddress}:${pcb.localPort}`;
      const req = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: asip-web-demo\r\nConnection: close\r\n\r\n`;
      writeAll(pcb, enc.encode(req)).catch(rej);
    });
  });
  const r = parseResponse(all);
  const result = {
    status: r.status,
    body: dec.decode(r.body.subarray(0, 4096)),
    bytes: r.body.length,
    sha256: await sha256(r.body),
    ms: performance.now() - t0,
  };
  state.lastFetch = result;
  return result;
}

// ---- HTTP server in the tab -------------------------------------------------------------------

/** Deterministic bytes for /bytes/N (so both sides can hash them). */
export function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}

let server: TcpPcb | undefined;

function serve(port = 80): void {
  if (server) return;
  server = raw.tcp.new().bind("0.0.0.0", port).listen();
  server.accept((pcb) => {
    const c = track("http server", pcb, `${pcb.remoteAddress}:${pcb.remotePort}`);
    c.local = `${pcb.localAddress}:${pcb.localPort}`;
    let req = "";
    pcb.err((e) => (c.done = e.code));
    pcb.recv((d) => {
      if (d === null) {
        if (pcb.handle !== 0) pcb.close();
        return;
      }
      if (req.includes("\r\n\r\n")) return;
      req += dec.decode(d);
      if (!req.includes("\r\n\r\n")) return;
      const path = req.split(" ")[1] ?? "/";
      const m = /^\/bytes\/(\d+)$/.exec(path);
      let body: Uint8Array, type: string;
      if (m) {
        body = pattern(Math.min(Number(m[1]), 256 << 20));
        type = "application/octet-stream";
      } else {
        body = enc.encode(`<!doctype html><title>asip tab</title><h1>Hello from the tab at ${state.ip}</h1><p>Served by asip's TCP in WebAssembly at ${new Date().toISOString()}.</p>\n`);
        type = "text/html";
      }
      const head = enc.encode(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      writeAll(pcb, head)
        .then(() => writeAll(pcb, body))
        .then(() => { c.done = "sent"; if (pcb.handle !== 0) pcb.close(); })
        .catch(() => { if (pcb.handle !== 0) pcb.abort(); });
    });
  });
  state.serving = true;
  $("serve-state").textContent = `listening on ${state.ip}:${port}`;
}

// ---- peer tabs over WebRTC (bindings/netif/webrtc.ts) ---------------------------------------
//
// Each link is its own point-to-point /30 in 198.18.0.0/15 (RFC 2544's range
// for test networks, never routed): 198.18.A.4n, where A is the last octet of
// the offering tab's relay address (unique on the relay) and n counts that
// tab's offers (up to 64); the offering tab takes 4n+1, the answering one 4n+2.

/** MTU of WebRTC links: larger than Ethernet's, since SCTP carries up to 64 KiB per message without loss on one machine. */
const RTC_MTU = Number(params.get("rtcMtu") ?? 16000);
/** Tuning knobs for measurements: `?rtcBuffered=BYTES` (the link's maxBuffered), `?rtcReliable=1`. */
const RTC_OPTS = {
  ...(params.get("rtcBuffered") ? { maxBuffered: Number(params.get("rtcBuffered")) } : {}),
  ...(params.get("rtcReliable") === "1" ? { reliable: true } : {}),
};
interface RtcInfo { peer: string; ip: string; peerIp: string; link: RtcDataChannelLink; state: string }
const rtcLinks: RtcInfo[] = [];
let rtcCount = 0;

function attachRtc(l: RtcDataChannelLink, net: string, offering: boolean): RtcInfo {
  const o = net.split(".");
  const host = (k: number) => `${o[0]}.${o[1]}.${o[2]}.${Number(o[3]) + k}`;
  const info: RtcInfo = { peer: l.peer, ip: host(offering ? 1 : 2), peerIp: host(offering ? 2 : 1), link: l, state: "connecting" };
  rtcLinks.push(info);
  // The data channel lives on this thread (RTCPeerConnection is not in
  // Workers); in Worker mode its frames cross to the stack through
  // SharedArrayBuffer rings when the page is cross-origin isolated (the demo
  // server sends COOP/COEP), else over a MessagePort.
  let setLink: (up: boolean) => void, remove: () => void;
  if (worker) {
    const w = worker;
    const ch = new MessageChannel();
    let desc: LinkDescription;
    let pl: LinkDriver;
    if (globalThis.crossOriginIsolated) {
      const sab = ringBuffer(1 << 20);
      pl = new RingLink(sab, 1, l.mtu, ch.port2);
      desc = { type: "ring", sab, side: 0, doorbell: ch.port1 as never, mtu: l.mtu };
    } else {
      pl = portLink(ch.port2);
      desc = { type: "port", port: ch.port1 as never, mtu: l.mtu };
    }
    state.rtcTransport = desc.type;
    l.onReceive((f) => pl.send(f));
    pl.onReceive((f) => l.send(f));
    const index = w.addInterface({ link: desc, ip: `${info.ip}/30`, mtu: l.mtu, default: false, capture: true })
      .then(async (i) => { await w.setLink(i.index, l.up); return i.index; });
    setLink = (up) => void index.then((i) => w.setLink(i, up)).catch(() => {});
    remove = () => void index.then((i) => w.removeInterface(i)).then(() => pl.close()).catch(() => {});
  } else {
    const s = stack!;
    const iface = s.addInterface(tap(l), { ip: `${info.ip}/30`, mtu: l.mtu, default: false });
    s.setLink(iface, false);
    setLink = (up) => s.setLink(iface, up);
    remove = () => void s.removeInterface(iface);
  }
  l.addStateListener((up, closed) => {
    if (closed !== undefined) {
      info.state = `closed (${closed})`;
      remove();
    } else {
      info.state = up ? "up" : "down";
      setLink(up);
    }
    renderRtcLinks();
  });
  renderRtcLinks();
  return info;
}

/** Offers a WebRTC link to the tab with relay id `peer`; resolves with the addresses once it is open. */
async function rtcConnect(peer: string): Promise<{ ip: string; peerIp: string }> {
  const a = state.ip.split(".")[3];
  const net = `198.18.${a}.${4 * (rtcCount++ & 63)}`;
  const l = RtcDataChannelLink.connect(sig, peer, { ...RTC_OPTS, mtu: RTC_MTU, meta: { net } });
  const info = attachRtc(l, net, true);
  await l.ready();
  return { ip: info.ip, peerIp: info.peerIp };
}

function renderRtcPeers(): void {
  const sel = $<HTMLSelectElement>("rtc-peer");
  const cur = sel.value;
  sel.replaceChildren(...state.peers.map((p) => { const o = document.createElement("option"); o.value = o.textContent = p; return o; }));
  if (state.peers.includes(cur)) sel.value = cur;
}

function renderRtcLinks(): void {
  $("rtc-links").replaceChildren(...rtcLinks.slice(-8).map((r) => {
    const li = document.createElement("li");
    li.textContent = `${r.ip} ↔ ${r.peerIp} (tab ${r.peer}): ${r.state}`;
    return li;
  }));
}

// ---- throughput chart and connection table ----------------------------------------------------

const samples: { rx: number; tx: number }[] = [];
let lastRx = 0, lastTx = 0, lastAt = performance.now();

function fmtRate(b: number): string {
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB/s`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(1)} kB/s`;
  return `${b.toFixed(0)} B/s`;
}

/** The relay link's counters (from the Worker in Worker mode). */
async function linkCounters(): Promise<Record<string, number>> {
  if (worker) return (await worker.linkCounters())[relayIndex] ?? {};
  return { ...(link?.counters ?? {}) } as unknown as Record<string, number>;
}

let sampling = false;
async function sample(): Promise<void> {
  if (!state.ready || sampling) return;
  sampling = true;
  const c = await linkCounters().finally(() => (sampling = false));
  if (worker) totalFrames = (c.rxFrames ?? 0) + (c.txFrames ?? 0);
  const now = performance.now();
  const dt = (now - lastAt) / 1000;
  let rx = c.rxBytes ?? 0, tx = c.txBytes ?? 0;
  for (const r of rtcLinks) { rx += r.link.counters.rxBytes; tx += r.link.counters.txBytes; }
  samples.push({ rx: (rx - lastRx) / dt, tx: (tx - lastTx) / dt });
  if (samples.length > 120) samples.shift();
  lastRx = rx; lastTx = tx; lastAt = now;
  const last = samples[samples.length - 1];
  $("rate").textContent = `rx ${fmtRate(last.rx)} · tx ${fmtRate(last.tx)} · ${totalFrames} frames`;
  const cv = $<HTMLCanvasElement>("chart");
  const w = (cv.width = cv.clientWidth * devicePixelRatio || 600);
  const h = (cv.height = 120 * devicePixelRatio);
  const g = cv.getContext("2d")!;
  g.clearRect(0, 0, w, h);
  const max = Math.max(1024, ...samples.map((s) => Math.max(s.rx, s.tx)));
  for (const [key, color] of [["rx", "#63b3ed"], ["tx", "#f6ad55"]] as const) {
    g.strokeStyle = color;
    g.lineWidth = 2 * devicePixelRatio;
    g.beginPath();
    samples.forEach((s, i) => {
      const x = (i / 119) * w, y = h - (s[key] / max) * (h - 8) - 4;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
  g.fillStyle = "#a0aec0";
  g.font = `${11 * devicePixelRatio}px sans-serif`;
  g.fillText(`${fmtRate(max)} max · rx blue, tx orange`, 6 * devicePixelRatio, 14 * devicePixelRatio);
}

function renderConns(): void {
  const tb = $("conns").querySelector("tbody")!;
  tb.replaceChildren(...conns.slice().reverse().map((c) => {
    const tr = document.createElement("tr");
    const st = c.pcb.handle !== 0 ? c.pcb.state : c.done ?? "CLOSED";
    for (const v of [c.kind, c.local, c.remote, st, String(c.pcb.bytesReceived), String(c.pcb.bytesWritten)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  }));
}

// ---- UI wiring --------------------------------------------------------------------------------

$("ping-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("ping-out");
  const to = $<HTMLInputElement>("ping-to").value.trim();
  out.textContent = `PING ${to}\n`;
  resolve(to)
    .then((ip) => ping(ip, 4, (l) => (out.textContent += `${l}\n`)))
    .then((r) => {
      const ok = r.filter((x) => !Number.isNaN(x));
      out.textContent += `${r.length} sent, ${ok.length} received${ok.length ? `, avg ${(ok.reduce((a, b) => a + b, 0) / ok.length).toFixed(2)} ms` : ""}\n`;
    })
    .catch((err) => (out.textContent += `${err.message}\n`));
});

$("http-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("http-out");
  const url = $<HTMLInputElement>("http-url").value.trim();
  out.textContent = `GET ${url} …\n`;
  httpGet(url)
    .then((r) => (out.textContent = `${r.status}  (${r.bytes} bytes in ${r.ms.toFixed(0)} ms)\n\n${r.body}`))
    .catch((err) => (out.textContent = `error: ${err.message}`));
});

$("serve").addEventListener("click", () => serve());

$("rtc-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const peer = $<HTMLSelectElement>("rtc-peer").value;
  if (peer) rtcConnect(peer).catch(() => {});
});

/** The capture so far, as a pcap file's bytes. */
async function pcapFile(): Promise<Uint8Array> {
  return worker ? worker.capturePcap() : pcap.toUint8Array();
}

/** Worker mode: the frames the Worker logged since the last look join the packet log. */
let logSeq = 0;
async function pullLog(): Promise<void> {
  if (!worker) return;
  for (const e of await worker.captureLog(logSeq)) {
    logSeq = e.seq;
    logged.push({ dir: e.dir === "in" ? "←" : "→", t: e.t, frame: e.head });
    logDirty = true;
  }
  if (logged.length > LOG_MAX) logged.splice(0, logged.length - LOG_MAX);
}

$("pcap").addEventListener("click", async () => {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([await pcapFile() as Uint8Array<ArrayBuffer>], { type: "application/vnd.tcpdump.pcap" }));
  a.download = `asip-${state.ip || "tab"}.pcap`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});
$("clear").addEventListener("click", () => { logged.length = 0; logDirty = true; renderLog(); });

setInterval(() => {
  void sample();
  renderConns();
  if (worker) void pullLog().then(renderLog, () => {});
  else renderLog();
}, 500);

const ready = start().then(
  () => {
    const hostHttp = params.get("http");
    if (hostHttp) $<HTMLInputElement>("http-url").value = hostHttp;
  },
  (e) => {
    state.error = String(e.message ?? e);
    setStatus(`failed: ${state.error}`, "bad");
    throw e;
  },
);

/** For tests and the console. */
(window as unknown as { asipDemo: unknown }).asipDemo = {
  ready, state, ping, resolve, httpGet, serve, pattern, sha256, rtcConnect,
  rtcLink: (i: number) => rtcLinks[i]?.link,
  get rtc() { return rtcLinks.map((r) => ({ peer: r.peer, ip: r.ip, peerIp: r.peerIp, state: r.state, counters: { ...r.link.counters } })); },
  pcapBytes: async () => (await pcapFile()).length,
  linkCounters,
  get stack() { return stack; },
  get worker() { return worker; },
  get link() { return link; },
};
