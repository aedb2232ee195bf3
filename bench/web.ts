/**
 * Web benchmarks (issue 6): TCP throughput over the browser tunnels, each as a
 * ratio to two Node stacks over pair() measured in the same run.
 *
 * Every figure moves BENCH_WEB_MIB MiB (default 8) over one asip TCP
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
 *   a relay (bindings/node/relay.ts); stacks and relay in this process.
 * - `relay.node_to_chromium` / `relay.chromium_to_node`: a Node stack and
 *   the web demo in headless Chromium (Debian's /usr/bin/chromium through
 *   playwright-core), both on the demo's relay; the direction is where the
 *   bytes go (the tab fetches from the Node stack's server, or the Node stack
 *   from the tab's).
 * - `relay.chromium_to_chromium`: tab to tab through the relay.
 * - `webrtc.chromium_to_chromium`: tab to tab over RtcDataChannelLink (the
 *   demo's WebRTC link, MTU 16000 or BENCH_WEB_RTC_MTU), signalled through
 *   the relay.
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
const BYTES = Math.round(Number(process.env.BENCH_WEB_MIB ?? 8) * MiB);
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

async function nodeOnRelay(url: string): Promise<{ stack: Stack; api: RawApi; ip: string; link: WebSocketLink }> {
  const link = new WebSocketLink(url, { WebSocket: WebSocket as unknown as WebSocketCtor });
  await link.ready();
  const cfg = link.config!;
  if (!cfg.ip) throw new Error("the relay announced no address");
  const stack = await Stack.create({ heapSize: 8 * MiB });
  stack.addInterface(link, { ip: cfg.ip, gateway: cfg.gateway, mtu: cfg.mtu });
  return { stack, api: rawApi(stack), ip: cfg.ip.split("/")[0], link };
}

async function relayNodeRun(): Promise<Run> {
  const relay = await Relay.start({ port: 0, host: "127.0.0.1" });
  const a = await nodeOnRelay(relay.url);
  const b = await nodeOnRelay(relay.url);
  const l = serveBytes(b.api);
  await getBytes(a.api, b.ip, 1000);
  return {
    metric: "relay.node_to_node",
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
  const open = (): Promise<Page> => openDemoPage(browser, RTC_MTU ? `${demo.url}?rtcMtu=${Number(RTC_MTU)}` : demo.url, 20000);
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
  const a = await open();
  const b = await open();
  const [ipA, ipB, idB] = [await a.evaluate(() => (window as any).asipDemo.state.ip), ...(await b.evaluate(() => {
    const d = (window as any).asipDemo;
    d.serve();
    return [d.state.ip, d.state.id];
  }))];
  await a.evaluate((id) => (window as any).asipDemo.rtcConnect(id), idB);
  const [rtc] = await a.evaluate(() => (window as any).asipDemo.rtc);
  // Warm up each path (ARP, JIT).
  await tabGet(a, `http://${node.ip}:8080/bytes/1000`).catch(() => 0);
  await getBytes(node.api, ipB, 1000);
  let closed = false;
  const closeAll = async () => {
    if (closed) return;
    closed = true;
    l.close();
    await node.stack.close();
    await browser.close();
    await demo.close();
    rmSync(profile, { recursive: true, force: true });
  };
  const runs: Run[] = [
    { metric: "relay.node_to_chromium", once: () => tabGet(a, `http://${node.ip}:8080/bytes/${BYTES}`), close: closeAll },
    {
      metric: "relay.chromium_to_node",
      async once() {
        const r = await getBytes(node.api, ipB, BYTES);
        if (r.bytes !== BYTES) throw new Error(`from the tab: got ${r.bytes} of ${BYTES} bytes`);
        return mbps(r.bytes, r.ms);
      },
      close: closeAll,
    },
    { metric: "relay.chromium_to_chromium", once: () => tabGet(a, `http://${ipB}/bytes/${BYTES}`), close: closeAll },
    { metric: "webrtc.chromium_to_chromium", once: () => tabGet(a, `http://${rtc.peerIp}/bytes/${BYTES}`), close: closeAll },
  ];
  bench.log(`web bench: Chromium tabs ${ipA} and ${ipB}, Node stack ${node.ip}, WebRTC ${rtc.ip} ↔ ${rtc.peerIp}`);
  return runs;
}

runBench(async () => {
  const bench = new Bench("web");
  bench.log(`web bench: ${BYTES / MiB} MiB per run, best of ${SAMPLES}`);
  const runs: Run[] = [await pairRun(), await relayNodeRun()];
  try {
    runs.push(...(await browserRuns(bench)));
  } catch (e) {
    bench.log(`web bench: browser figures skipped: ${(e as Error).message}`);
  }
  // One untimed full-size run of the Node-only paths first: they finish in
  // milliseconds, so a cold JIT would otherwise decide their figure.
  for (const r of runs.slice(0, 2)) await r.once();
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
