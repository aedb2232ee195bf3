#!/usr/bin/env node
// Writes BENCHMARKS.md (and docs/bench-write-size.svg) from `npm run bench`
// output: runs the benches with --json, then renders machine, date, every
// figure with its in-run reference and ratio, and a chart of TCP throughput
// against write size.
//   node scripts/benchmarks-md.mjs [bench ...]     (default: all)
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// `--from FILE` renders saved `--json` output instead of running the benches.
const argv = process.argv.slice(2);
const fromIdx = argv.indexOf("--from");
let text;
if (fromIdx >= 0) {
  text = readFileSync(argv[fromIdx + 1], "utf8");
} else {
  const r = spawnSync(process.execPath, [path.join(root, "scripts/bench.mjs"), ...argv, "--json"], {
    cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20,
  });
  text = r.stdout;
  mkdirSync(path.join(root, "build"), { recursive: true });
  writeFileSync(path.join(root, "build/bench-results.jsonl"), text);
}
const results = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
if (results.length === 0) {
  console.error("no results");
  process.exit(1);
}

const fmt = (v) => (typeof v !== "number" ? "" : Math.abs(v) >= 1e5 ? v.toExponential(3) : String(v));
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const lines = [
  "# Benchmarks",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Linux ${os.release()}, Node ${process.version}. Made by \`node scripts/benchmarks-md.mjs\` from \`npm run bench -- --json\`;`,
  "every ratio compares with a reference measured in the same run (memory.copy, Node's own sockets over the kernel's loopback,",
  "or asip over `pair()`), never with a number from another machine or day. The machine is shared and small (2 cores):",
  "figures move by tens of percent between runs; ratios move less.",
  "",
];
const get = (m) => results.find((x) => x.metric === m);
const hl = [
  ["checksum, v128, 64 KiB", "release.simd.65536", "× memory.copy (aim ≥ 0.5)"],
  ["UDP 1472 B between two stacks", "release.asip.1472.gbit_per_s", "× Node dgram on loopback"],
  ["TCP bulk, MTU 1500", "bulk.mtu1500", "× Node net on loopback (aim ≥ 0.5)"],
  ["TCP bulk, MTU 65535", "bulk.mtu65535", "× Node net on loopback (aim ≥ 1)"],
  ["TCP request/response, 1 byte", "rr.asip", "× Node net on loopback (aim ≥ 4)"],
  ["core memory per idle connection", "memory.idle_connection", "bytes (aim ≤ 512)"],
  ["iperf 2, Linux → asip through a TAP", "tap.iperf.to_asip", "× Node net on loopback (aim ≥ 2 Gbit/s)"],
  ["iperf 2, asip → Linux through a TAP", "tap.iperf.from_asip", "× Node net on loopback (aim ≥ 2 Gbit/s)"],
  ["iperf 2, Linux → asip, TAP offload", "tap.iperf.to_asip.offload", "× Node net on loopback (aim ≥ 5 Gbit/s)"],
  ["iperf 2, asip → Linux, TAP offload", "tap.iperf.from_asip.offload", "× Node net on loopback (aim ≥ 5 Gbit/s)"],
  ["relay, Node ↔ Node", "relay.node_to_node", "× pair() (aim ≥ 2 Gbit/s)"],
  ["relay, Node → Chromium", "relay.node_to_chromium", "× pair() (aim ≥ 1 Gbit/s)"],
  ["relay, Chromium → Node", "relay.chromium_to_node", "× pair() (aim ≥ 1 Gbit/s)"],
  ["relay, tab ↔ tab", "relay.chromium_to_chromium", "× pair() (aim ≥ 500 Mbit/s)"],
  ["WebRTC, tab ↔ tab", "webrtc.chromium_to_chromium", "× pair() (aim ≥ 300 Mbit/s or Chromium's limit)"],
  ["Worker mode, MTU 1500", "worker.ring.mtu1500", "× in one thread (aim ≥ 0.5)"],
  ["node:net bulk", "release.tcp_bulk.net.gbit_s", "× raw API (aim ≥ 0.7)"],
  ["streams bulk", "release.tcp_bulk.streams.gbit_s", "× raw API (aim ≥ 0.7)"],
];
const hlRows = hl.filter(([, m]) => get(m)).map(([what, m, unit]) => {
  const x = get(m);
  return `| ${what} | ${fmt(x.value)} ${x.unit} | ${x.ratio !== null ? `${x.ratio} ` : ""}${x.ratio !== null ? unit : unit.replace(/^bytes |^Gbit\/s /, "")} |`;
});
if (hlRows.length) lines.push("## Highlights", "", "| what | value | ratio / aim |", "|---|---:|---|", ...hlRows, "");
const byBench = new Map();
for (const x of results) {
  if (!byBench.has(x.bench)) byBench.set(x.bench, []);
  byBench.get(x.bench).push(x);
}
for (const [bench, rows] of byBench) {
  lines.push(`## ${bench}`, "", "| metric | value | unit | reference | ratio |", "|---|---:|---|---|---:|");
  for (const x of rows) lines.push(`| ${x.metric} | ${fmt(x.value)} | ${x.unit} | ${x.ref ?? ""} | ${x.ratio ?? ""} |`);
  lines.push("");
}

// Throughput against write size (bench tcp, bulk.mtu1500.writeN).
const sweep = results.filter((x) => /^bulk\.mtu1500\.write\d+$/.test(x.metric)).map((x) => ({ size: Number(x.metric.split("write")[1]), v: x.value }));
const nodeRef = results.find((x) => x.metric === "node.net.bulk")?.value;
if (sweep.length > 1) {
  const W = 640, H = 320, L = 60, B = 40, T = 20, R = 20;
  const xs = sweep.map((p) => Math.log2(p.size));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const ymax = Math.max(...sweep.map((p) => p.v), nodeRef ?? 0) * 1.1;
  const X = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => H - B - (v / ymax) * (H - B - T);
  const pts = sweep.map((p) => `${X(Math.log2(p.size)).toFixed(1)},${Y(p.v).toFixed(1)}`).join(" ");
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    ...sweep.map((p) => `<text x="${X(Math.log2(p.size))}" y="${H - B + 16}" text-anchor="middle">${p.size >= 1024 ? p.size / 1024 + "K" : p.size}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">write size (bytes)</text>`,
    ...[0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${L - 6}" y="${Y(f * ymax) + 4}" text-anchor="end">${(f * ymax).toFixed(1)}</text>`),
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">Gbit/s</text>`,
    nodeRef ? `<line x1="${L}" y1="${Y(nodeRef)}" x2="${W - R}" y2="${Y(nodeRef)}" stroke="#c33" stroke-dasharray="4 3"/><text x="${W - R}" y="${Y(nodeRef) - 4}" text-anchor="end" fill="#c33">Node net, kernel loopback (64 KiB writes)</text>` : "",
    `<polyline points="${pts}" fill="none" stroke="#26c" stroke-width="2"/>`,
    ...sweep.map((p) => `<circle cx="${X(Math.log2(p.size))}" cy="${Y(p.v)}" r="3" fill="#26c"/>`),
    `<text x="${L + 8}" y="${T + 12}" fill="#26c">asip ↔ asip over pair(), MTU 1500, one connection</text>`,
    `</svg>`,
  ].join("\n");
  mkdirSync(path.join(root, "docs"), { recursive: true });
  writeFileSync(path.join(root, "docs/bench-write-size.svg"), svg + "\n");
  lines.push("## TCP throughput against write size", "",
    "One connection between two stacks over `pair()` at MTU 1500, release build; the dashed line is Node's net over the",
    "kernel's loopback with 64 KiB writes, measured in the same run.", "",
    "![TCP throughput against write size](docs/bench-write-size.svg)", "");
}
// Throughput per path (bench web, tcp's TAP figures, bench worker): one bar each, log scale.
const PATHS = [
  ["pair.node_to_node", "two stacks over pair(), MTU 1500 (ref)"],
  ["relay.node_to_node", "relay, Node ↔ Node (batched, MTU 64K)"],
  ["relay.node_to_node.legacy", "relay, Node ↔ Node (frame per message, 1500)"],
  ["relay.node_to_chromium", "relay, Node → Chromium (Worker)"],
  ["relay.chromium_to_node", "relay, Chromium (Worker) → Node"],
  ["relay.node_to_chromium.page", "relay, Node → Chromium (main thread)"],
  ["relay.chromium_to_node.page", "relay, Chromium (main thread) → Node"],
  ["relay.chromium_to_chromium", "relay, tab ↔ tab"],
  ["webrtc.chromium_to_chromium", "WebRTC, tab ↔ tab"],
  ["webrtc.chromium_to_chromium.worker", "WebRTC, tab ↔ tab (Workers)"],
  ["chromium.websocket.down", "Chromium WebSocket alone, down"],
  ["chromium.websocket.up", "Chromium WebSocket alone, up"],
  ["chromium.datachannel", "Chromium data channel alone"],
  ["tap.iperf.to_asip", "TAP, Linux → asip"],
  ["tap.iperf.from_asip", "TAP, asip → Linux"],
  ["tap.iperf.to_asip.offload", "TAP offload, Linux → asip"],
  ["tap.iperf.from_asip.offload", "TAP offload, asip → Linux"],
  ["inthread.mtu1500", "two stacks in one thread, 1500"],
  ["worker.ring.mtu1500", "Worker mode, rings, 1500"],
  ["worker.port.mtu1500", "Worker mode, port, 1500"],
  ["inthread.mtu65535", "two stacks in one thread, 64K"],
  ["worker.ring.mtu65535", "Worker mode, rings, 64K"],
];
const bars = PATHS.map(([m, label]) => {
  const x = get(m);
  if (!x) return null;
  const mbps = x.unit === "Gbit/s" ? x.value * 1000 : x.value;
  return { label, mbps, ref: m === "pair.node_to_node" || m.startsWith("inthread") || m.startsWith("chromium.") };
}).filter(Boolean);
if (bars.length > 3) {
  const W = 800, rowH = 22, L = 330, R = 80, T = 24, B = 34;
  const H = T + B + rowH * bars.length;
  const lo = 10, hi = 10 ** Math.ceil(Math.log10(Math.max(...bars.map((b) => b.mbps))));
  const X = (v) => L + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - L - R);
  const ticks = [];
  for (let v = lo; v <= hi; v *= 10) ticks.push(v);
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...ticks.map((v) => `<line x1="${X(v)}" y1="${T - 6}" x2="${X(v)}" y2="${H - B}" stroke="#ddd"/><text x="${X(v)}" y="${H - B + 14}" text-anchor="middle">${v >= 1000 ? v / 1000 + " G" : v + " M"}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">bit/s (log scale)</text>`,
    ...bars.map((b, i) => {
      const y = T + i * rowH;
      return `<text x="${L - 8}" y="${y + 14}" text-anchor="end">${b.label}</text>` +
        `<rect x="${L}" y="${y + 3}" width="${(X(b.mbps) - L).toFixed(1)}" height="${rowH - 8}" fill="${b.ref ? "#aaa" : "#26c"}"/>` +
        `<text x="${(X(b.mbps) + 4).toFixed(1)}" y="${y + 14}">${b.mbps >= 1000 ? (b.mbps / 1000).toPrecision(3) + " G" : b.mbps.toPrecision(3) + " M"}</text>`;
    }),
    `</svg>`,
  ].join("\n");
  writeFileSync(path.join(root, "docs/bench-paths.svg"), svg + "\n");
  lines.push("## Throughput per path", "",
    "TCP throughput of one connection on each path users take (bench web, the TAP figures of bench tcp, bench worker), from",
    "the same run; grey bars are references (asip over pair() or in one thread, and Chromium's WebSocket and data channel",
    "moving bytes with nothing else to do).", "",
    "![Throughput per path](docs/bench-paths.svg)", "");
}
writeFileSync(path.join(root, "BENCHMARKS.md"), lines.join("\n"));
console.log(`BENCHMARKS.md: ${results.length} figures`);
