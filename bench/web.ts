/**
 * Web benchmarks (issue 6): TCP throughput over the browser tunnels, each as a
 * ratio to two Node stacks over pair() measured in the same run.
 *
 * Every figure moves BENCH_WEB_MIB MiB (default 32) over one asip TCP
 * connection, as an HTTP GET of /bytes/N (the web demo's server and client:
 * one request, then the body streamed through the send buffer), timed from
 * the connect to the last byte; the best of BENCH_SAMPLES (default 3) runs,
 * taken round-robin so every figure sees the same machine load (the
 * Node-only paths get one untimed warm-up run first). The stacks
 * run on their own (microtask drains and timers, as an application sees
 * them), pair() included.
 *
 * - `pair.node_to_node` (Mbit/s): two Node stacks over pair() (MTU 1500) — the ref.
 * - `relay.node_to_node`: two Node stacks, each on a WebSocketLink (`ws`) to
 *   a relay (bindings/node/relay.ts); stacks and relay in this process. The
 *   links' defaults: batched framing, MTU 65535.
 *   `relay.node_to_node.legacy`: the same speaking one frame per message at
 *   MTU 1500 (what emulators' relays speak).
 * - `relay.node_to_chromium` / `relay.chromium_to_node`: a Node stack and
 *   the web demo in headless Chromium (Debian's /usr/bin/chromium through
 *   playwright-core), both on the demo's relay; the direction is where the
 *   bytes go (the tab fetches from the Node stack's server, or the Node stack
 *   from the tab's). The demo's default: the stack in a module Worker.
 *   `….page`: the demo with its stack on the page's main thread (`?worker=0`).
 * - `relay.chromium_to_chromium`: tab to tab through the relay (Workers).
 * - `webrtc.chromium_to_chromium`: tab to tab over RtcDataChannelLink (the
 *   demo's WebRTC link, MTU 16000 or BENCH_WEB_RTC_MTU), signalled through
 *   the relay, between two tabs with their stacks on the page
 *   (`webrtc.chromium_to_chromium.worker`: in Workers, the data channel's
 *   frames crossing to the stack through SharedArrayBuffer rings: the demo
 *   page is cross-origin isolated).
 * - Chromium's own ceilings, no asip involved: `chromium.websocket.down` /
 *   `.up` (a tab and a `ws` server in this process, 256 KiB messages as fast
 *   as bufferedAmount allows) and `chromium.datachannel` (two peer
 *   connections in one tab, unordered, maxRetransmits 0, 16 KiB messages).
 *
 * Without Chromium (or playwright-core) the browser figures are skipped with
 * the reason on stderr.
 *
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { WebSocket } from "ws";
import { Bench, runBench } from "./harness.js";
import { Stack } from "../bindings/stack.js";
import { pair } from "../bindings/netif/pair.js";
import { rawApi, type RawApi, type TcpPcb } from "../bindings/api/raw.js";
import { WebSocketLink, type WebSocketCtor } from "../bindings/netif/websocket.js";
import { Relay } from "../bindings/node/relay.js";

const MiB = 1 << 20;
const BYTES = Math.round(Number(process.env.BENCH_WEB_MIB ?? 32) * MiB);
const SAMPLES = Math.max(1, Number(process.env.BENCH_SAMPLES ?? 3) | 0);
import { CHROMIUM, WEBRTC_ARGS, NO_THROTTLE_ARGS, launchChromium, openDemoPage } from "../tests/helpers/chromium.js";
const RTC_MTU = process.env.BENCH_WEB_RTC_MTU;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A one-route HTTP server on an asip stack: GET /bytes/N answers N bytes of 'a'. */
function serveBytes(api: RawApi, port = 80): TcpPcb {
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  const l = api.tcp.new().bind("0.0.0.0", port).listen();
  l.accept((pcb) => {
    let req = "";
    pcb.recv((d) => {
      if (d === null) { if (pcb.handle !== 0) pcb.close(); return; }
      if (req.includes("\r\n\r\n")) return;
      req += dec.decode(d);
      if (!req.includes("\r\n\r\n")) return;
      const n = Number(/^GET \/bytes\/(\d+) /.exec(req)?.[1] ?? 0);
      const head = enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`);
      let headOff = 0, sent = 0;
      const pump = () => {
        if (pcb.handle === 0) return;
        while (headOff < head.length) {
          const k = pcb.write(head.subarray(headOff));
          headOff += k;
          if (k === 0) return;
        }
        while (sent < n) {
          const k = pcb.write(chunk.subarray(0, Math.min(chunk.length, n - sent)));
          sent += k;
          if (k === 0) return;
        }
        pcb.sent(undefined);
        pcb.close();
      };
      pcb.sent(pump);
      pump();
    });
  });
  return l;
}

/** GET /bytes/N from ip:port over asip; resolves with the body length and the ms from connect to FIN. */
function getBytes(api: RawApi, ip: string, n: number, port = 80): Promise<{ bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const pcb = api.tcp.new();
    let total = 0, headLen = -1, head = "";
    pcb.err((e) => reject(new Error(`GET from ${ip}: ${e.code}`)));
    pcb.recv((d) => {
      if (d === null) {
        const ms = performance.now() - t0;
        pcb.close();
        resolve({ bytes: total - Math.max(headLen, 0), ms });
        return;
      }
      if (headLen < 0) {
        head += dec.decode(d.subarray(0, 512));
        const k = head.indexOf("\r\n\r\n");
        if (k >= 0) headLen = k + 4;
      }
      total += d.length;
    });
    pcb.connect(ip, port, () => pcb.write(enc.encode(`GET /bytes/${n} HTTP/1.1\r\nHost: ${ip}\r\nConnection: close\r\n\r\n`)));
  });
}

const mbps = (bytes: number, ms: number) => (bytes * 8) / ms / 1000;

/** A named throughput run: resolves with Mbit/s. */
interface Run { metric: string; once: () => Promise<number>; close: () => Promise<void> }

async function pairRun(): Promise<Run> {
  const [ea, eb] = pair({ mtu: 1500 });
  const a = await Stack.create({ heapSize: 8 * MiB });
  const b = await Stack.create({ heapSize: 8 * MiB });
  a.addInterface(ea, { ip: "192.0.2.1/24", mtu: 1500 });
  b.addInterface(eb, { ip: "192.0.2.2/24", mtu: 1500 });
  const ra = rawApi(a), rb = rawApi(b);
  const l = serveBytes(rb);
  await getBytes(ra, "192.0.2.2", 1000); // ARP resolved, code warm
  return {
    metric: "pair.node_to_node",
    async once() {
      const r = await getBytes(ra, "192.0.2.2", BYTES);
      if (r.bytes !== BYTES) throw new Error(`pair: got ${r.bytes} of ${BYTES} bytes`);
      return mbps(r.bytes, r.ms);
    },
    async close() { l.close(); await a.close(); await b.close(); },
  };
}

async function nodeOnRelay(url: string, legacy = false): Promise<{ stack: Stack; api: RawApi; ip: string; link: WebSocketLink }> {
  const link = new WebSocketLink(url, { WebSocket: WebSocket as unknown as WebSocketCtor, ...(legacy ? { batch: false, mtu: 1500 } : {}) });
  await link.ready();
  const cfg = link.config!;
  if (!cfg.ip) throw new Error("the relay announced no address");
  const stack = await Stack.create({ heapSize: 8 * MiB });
  stack.addInterface(link, { ip: cfg.ip, gateway: cfg.gateway, mtu: link.mtu });
  return { stack, api: rawApi(stack), ip: cfg.ip.split("/")[0], link };
}

async function relayNodeRun(legacy = false): Promise<Run> {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const a = await nodeOnRelay(relay.url, legacy);
  const b = await nodeOnRelay(relay.url, legacy);
  const l = serveBytes(b.api);
  await getBytes(a.api, b.ip, 1000);
  return {
    metric: legacy ? "relay.node_to_node.legacy" : "relay.node_to_node",
    async once() {
      const r = await getBytes(a.api, b.ip, BYTES);
      if (r.bytes !== BYTES) throw new Error(`relay: got ${r.bytes} of ${BYTES} bytes`);
      return mbps(r.bytes, r.ms);
    },
    async close() {
      l.close();
      await a.stack.close();
      await b.stack.close();
      await relay.close();
    },
  };
}

type Page = import("playwright-core").Page;

/** The browser runs: Node ↔ tab and tab ↔ tab through the demo's relay, tab ↔ tab over WebRTC. */
async function browserRuns(bench: Bench): Promise<Run[]> {
  if (!existsSync(CHROMIUM)) {
    bench.log(`web bench: ${CHROMIUM} is missing (apt-get install chromium): browser figures skipped`);
    return [];
  }
  let chromium: typeof import("playwright-core").chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    bench.log(`web bench: playwright-core is not installed (${(e as Error).message}): browser figures skipped`);
    return [];
  }
  const { startDemo } = await import("../bindings/node/demo.js");
  const demo = await startDemo({ port: 0, host: "127.0.0.1", httpPort: 0 });
  const { browser, profile } = await launchChromium({ prefix: "asip-bench-web-", args: [...WEBRTC_ARGS, ...NO_THROTTLE_ARGS] });
  const open = (worker = true): Promise<Page> => {
    const q = new URLSearchParams();
    if (RTC_MTU) q.set("rtcMtu", String(Number(RTC_MTU)));
    if (!worker) q.set("worker", "0");
    return openDemoPage(browser, `${demo.url}?${q}`, 20000);
  };
  const tabGet = async (page: Page, url: string): Promise<number> => {
    const r = await page.evaluate(async (u) => {
      const d = (window as any).asipDemo;
      const t0 = performance.now();
      const res = await d.httpGet(u);
      return { bytes: res.bytes as number, ms: performance.now() - t0 };
    }, url);
    if (r.bytes !== BYTES) throw new Error(`${url}: got ${r.bytes} of ${BYTES} bytes`);
    return mbps(r.bytes, r.ms);
  };
  const node = await nodeOnRelay(demo.relay.url);
  const l = serveBytes(node.api, 8080);
  const serveIn = (p: Page): Promise<[string, string]> => p.evaluate(() => {
    const d = (window as any).asipDemo;
    d.serve();
    return [d.state.ip, d.state.id] as [string, string];
  });
  // a, b: the demo's default (stacks in Workers); c, d: stacks on the page.
  const a = await open();
  const b = await open();
  const c = await open(false);
  const d = await open(false);
  const ipA: string = await a.evaluate(() => (window as any).asipDemo.state.ip);
  const [ipB, idB] = await serveIn(b);
  const [ipC] = await serveIn(c);
  const [, idD] = await serveIn(d);
  await a.evaluate((id) => (window as any).asipDemo.rtcConnect(id), idB);
  const [rtcW] = await a.evaluate(() => (window as any).asipDemo.rtc);
  await c.evaluate((id) => (window as any).asipDemo.rtcConnect(id), idD);
  const [rtc] = await c.evaluate(() => (window as any).asipDemo.rtc);
  // Warm up each path (ARP, JIT).
  for (const p of [a, c]) await tabGet(p, `http://${node.ip}:8080/bytes/1000`).catch(() => 0);
  for (const ip of [ipB, ipC]) await getBytes(node.api, ip, 1000);
  let closed = false;
  const closeAll = async () => {
    if (closed) return;
    closed = true;
    l.close();
    wss.close();
    await node.stack.close();
    await browser.close();
    await demo.close();
    rmSync(profile, { recursive: true, force: true });
  };
  // Chromium's own WebSocket and data channel, with nothing else to do.
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", maxPayload: 1 << 24 });
  await new Promise((r) => wss.once("listening", r));
  const wsUrl = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
  const MSG = 256 * 1024;
  wss.on("connection", (ws, req) => {
    if (req.url?.includes("down")) {
      const buf = Buffer.alloc(MSG, 97);
      let sent = 0;
      const pump = () => {
        while (sent < BYTES && ws.readyState === 1 && ws.bufferedAmount < 4 * MSG) { ws.send(buf); sent += MSG; }
        if (sent < BYTES && ws.readyState === 1) setImmediate(pump);
      };
      pump();
    } else {
      let got = 0;
      ws.on("message", (d: Buffer) => { got += d.length; if (got >= BYTES) ws.send("done"); });
    }
  });
  const rawWs = (dir: "down" | "up") => () => a.evaluate(async ([url, dir, total, msg]) => new Promise<number>((res) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let got = 0, t0 = 0;
    const done = () => { res((total * 8) / (performance.now() - t0) / 1000); ws.close(); };
    ws.onopen = () => {
      t0 = performance.now();
      if (dir !== "up") return;
      const b = new Uint8Array(msg);
      let sent = 0;
      const pump = () => {
        while (sent < total && ws.bufferedAmount < 4 * msg) { ws.send(b); sent += msg; }
        if (sent < total) setTimeout(pump, 0);
      };
      pump();
    };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") return done();
      got += (e.data as ArrayBuffer).byteLength;
      if (got >= total) done();
    };
  }), [`${wsUrl}${dir}`, dir, BYTES, MSG] as const);
  const rawDc = () => a.evaluate(async ([total, size]) => {
    const x = new RTCPeerConnection(), y = new RTCPeerConnection();
    x.onicecandidate = (e) => { if (e.candidate) void y.addIceCandidate(e.candidate); };
    y.onicecandidate = (e) => { if (e.candidate) void x.addIceCandidate(e.candidate); };
    const o = { ordered: false, maxRetransmits: 0, negotiated: true, id: 0 };
    const dx = x.createDataChannel("raw", o), dy = y.createDataChannel("raw", o);
    dy.binaryType = "arraybuffer";
    await x.setLocalDescription(await x.createOffer());
    await y.setRemoteDescription(x.localDescription!);
    await y.setLocalDescription(await y.createAnswer());
    await x.setRemoteDescription(y.localDescription!);
    await new Promise((r) => (dx.readyState === "open" ? r(0) : (dx.onopen = r)));
    const msg = new Uint8Array(size);
    let sent = 0, got = 0;
    const t0 = performance.now();
    const rate = await new Promise<number>((res) => {
      // Unreliable: what arrived in the time it took (a lost message is not waited for).
      const finish = () => res((got * 8) / (performance.now() - t0) / 1000);
      const stop = setTimeout(finish, 20000);
      dy.onmessage = (e) => { got += (e.data as ArrayBuffer).byteLength; if (got >= total * 0.98) { clearTimeout(stop); finish(); } };
      dx.bufferedAmountLowThreshold = 1 << 20;
      const pump = () => { while (sent < total && dx.bufferedAmount < 4 << 20) { dx.send(msg); sent += size; } if (sent >= total) setTimeout(() => { clearTimeout(stop); finish(); }, 1000); };
      dx.onbufferedamountlow = pump;
      pump();
    });
    x.close();
    y.close();
    return rate;
  }, [BYTES, 16014] as const);
  const fromTab = (ip: string) => async () => {
    const r = await getBytes(node.api, ip, BYTES);
    if (r.bytes !== BYTES) throw new Error(`from the tab: got ${r.bytes} of ${BYTES} bytes`);
    return mbps(r.bytes, r.ms);
  };
  const runs: Run[] = [
    { metric: "relay.node_to_chromium", once: () => tabGet(a, `http://${node.ip}:8080/bytes/${BYTES}`), close: closeAll },
    { metric: "relay.chromium_to_node", once: fromTab(ipB), close: closeAll },
    { metric: "relay.node_to_chromium.page", once: () => tabGet(c, `http://${node.ip}:8080/bytes/${BYTES}`), close: closeAll },
    { metric: "relay.chromium_to_node.page", once: fromTab(ipC), close: closeAll },
    { metric: "relay.chromium_to_chromium", once: () => tabGet(a, `http://${ipB}/bytes/${BYTES}`), close: closeAll },
    { metric: "webrtc.chromium_to_chromium", once: () => tabGet(c, `http://${rtc.peerIp}/bytes/${BYTES}`), close: closeAll },
    { metric: "webrtc.chromium_to_chromium.worker", once: () => tabGet(a, `http://${rtcW.peerIp}/bytes/${BYTES}`), close: closeAll },
    { metric: "chromium.websocket.down", once: rawWs("down"), close: closeAll },
    { metric: "chromium.websocket.up", once: rawWs("up"), close: closeAll },
    { metric: "chromium.datachannel", once: rawDc, close: closeAll },
  ];
  bench.log(`web bench: Chromium tabs ${ipA} and ${ipB} (Workers), ${ipC} (page), Node stack ${node.ip}, WebRTC ${rtc.ip} ↔ ${rtc.peerIp} and ${rtcW.ip} ↔ ${rtcW.peerIp}`);
  return runs;
}

runBench(async () => {
  const bench = new Bench("web");
  bench.log(`web bench: ${BYTES / MiB} MiB per run, best of ${SAMPLES}`);
  const runs: Run[] = [await pairRun(), await relayNodeRun(), await relayNodeRun(true)];
  try {
    runs.push(...(await browserRuns(bench)));
  } catch (e) {
    bench.log(`web bench: browser figures skipped: ${(e as Error).message}`);
  }
  // One untimed full-size run of the Node-only paths first: they finish in
  // milliseconds, so a cold JIT would otherwise decide their figure.
  for (const r of runs.slice(0, 3)) await r.once();
  const best = new Map<string, number>();
  for (let s = 0; s < SAMPLES; s++) {
    for (const r of runs) {
      const v = await r.once();
      best.set(r.metric, Math.max(best.get(r.metric) ?? 0, v));
    }
  }
  const ref = runs[0].metric;
  for (const r of runs) bench.add(r.metric, best.get(r.metric)!, "Mbit/s", r === runs[0] ? null : ref);
  for (const c of new Set(runs.map((r) => r.close))) await c();
  bench.finish();
});
