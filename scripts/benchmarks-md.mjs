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
  ["iperf 2, Linux → asip through a TAP", "tap.iperf.to_asip", "Gbit/s (aim ≥ 2)"],
  ["iperf 2, asip → Linux through a TAP", "tap.iperf.from_asip", "Gbit/s (aim ≥ 2)"],
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
writeFileSync(path.join(root, "BENCHMARKS.md"), lines.join("\n"));
console.log(`BENCHMARKS.md: ${results.length} figures`);
