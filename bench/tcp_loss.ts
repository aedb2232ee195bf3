/**
 * TCP under random loss (loss recovery: RACK-TLP, SACK, timeouts):
 *
 * - `pair.loss1` / `pair.loss5` (Gbit/s): one connection, stack A sends
 *   PAIR_MIB MiB to stack B over pair() with the JS link dropping 1% / 5%
 *   of the frames both ways (seeded). ref: `pair.clean`, the same transfer
 *   on a clean pair in the same run. Best of three each, after a warm-up.
 * - `tap.loss1.asip_send`, `tap.loss5.asip_send` (Mbit/s, root only): the
 *   kernel in a namespace fetches TAP_MB MB from asip's http service
 *   (`/bytes/N`) through a TAP with nftables dropping 1% / 5% both ways
 *   (PEERS.md; netem is not in this kernel). `….asip_recv`: the kernel
 *   sends TAP_MB MB to asip's discard service. ref: `veth.lossN.linux`, the
 *   kernel to itself over a veth pair with the same drop, measured with the
 *   same client in the same run (Linux↔Linux on the same path).
 *
 * Each TAP figure is the best of TAP_SAMPLES runs: the path shares two
 * cores with everything else on the machine, and the least disturbed run
 * is the one that says something about the stack. Skipped with the reason
 * on stderr without root or nft.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { Bench, runBench } from "./harness.js";
import { Stack } from "../bindings/stack.js";
import { pair, type PairOptions } from "../bindings/netif/pair.js";
import { rawApi } from "../bindings/api/raw.js";

const MiB = 1 << 20;
const PAIR_MIB = Number(process.env.BENCH_TCP_LOSS_MIB ?? 64);
const TAP_MB = Number(process.env.BENCH_TCP_LOSS_TAP_MB ?? 10);
const LINUX_MB = Number(process.env.BENCH_TCP_LOSS_LINUX_MB ?? 100);
const TAP_SAMPLES = Number(process.env.BENCH_TCP_LOSS_SAMPLES ?? 3);

/** A → B over pair(): seconds for `bytes`. */
async function pairBulk(bytes: number, imp: PairOptions): Promise<number> {
  const [ea, eb] = pair(imp);
  const a = await Stack.create({ heapSize: 8 * MiB });
  const b = await Stack.create({ heapSize: 8 * MiB });
  a.addInterface(ea, { ip: "192.0.2.1/24", mac: "02:00:00:00:00:01" });
  b.addInterface(eb, { ip: "192.0.2.2/24", mac: "02:00:00:00:00:02" });
  a.addStaticArp("192.0.2.2", Uint8Array.of(2, 0, 0, 0, 0, 2));
  b.addStaticArp("192.0.2.1", Uint8Array.of(2, 0, 0, 0, 0, 1));
  let got = 0;
  let fin = false;
  rawApi(b).tcp.new().bind("0.0.0.0", 5001).listen(1).accept((pcb) => {
    pcb.recv((d) => {
      if (d === null) { fin = true; pcb.close(); } else got += d.length;
    });
  });
  const c = rawApi(a).tcp.new();
  const chunk = new Uint8Array(256 * 1024);
  let sent = 0;
  const pump = () => {
    while (sent < bytes) {
      const n = c.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)));
      if (n <= 0) return;
      sent += n;
    }
    c.close();
  };
  c.sent(pump);
  const t0 = performance.now();
  c.connect("192.0.2.2", 5001, () => pump());
  while (!fin) {
    await new Promise((r) => setTimeout(r, 1));
    if (performance.now() - t0 > 300_000) throw new Error("pair transfer timed out");
  }
  const s = (performance.now() - t0) / 1000;
  if (got !== bytes) throw new Error(`pair transfer: ${got} of ${bytes} bytes`);
  await a.close();
  await b.close();
  return s;
}

/**
 * The kernel-side client, run with node inside a namespace: `get HOST PORT N`
 * fetches /bytes/N over HTTP/1.0 and reads to EOF; `push HOST PORT N` writes
 * N bytes, half-closes and waits for the peer to close; `serve` runs an
 * http /bytes/N server on 80 and a discard server on 9 (the Linux
 * reference's peer). Prints the milliseconds a transfer took.
 */
const PEER_JS = `
const net = require("net"); const [mode, host, port, n] = process.argv.slice(1);
const buf = Buffer.alloc(1 << 16);
if (mode === "serve") {
  net.createServer((s) => { let h = ""; s.on("data", (d) => { if (h === null) return; h += d; const m = /GET \\/bytes\\/(\\d+)/.exec(h); if (!m || !h.includes("\\r\\n\\r\\n")) return; h = null;
    let left = +m[1]; s.write("HTTP/1.0 200 OK\\r\\nContent-Length: " + left + "\\r\\n\\r\\n");
    (function w() { while (left > 0) { const k = Math.min(left, buf.length); left -= k; if (!s.write(buf.subarray(0, k))) return s.once("drain", w); } s.end(); })(); }); s.on("error", () => {}); }).listen(80, "192.0.2.2");
  net.createServer((s) => { s.resume(); s.on("end", () => s.end()); s.on("error", () => {}); }).listen(9, "192.0.2.2");
} else {
  const t0 = process.hrtime.bigint(); let got = 0; let left = +n;
  const s = net.connect(+port, host, () => {
    if (mode === "get") { s.write("GET /bytes/" + n + " HTTP/1.0\\r\\n\\r\\n"); return; }
    (function w() { while (left > 0) { const k = Math.min(left, buf.length); left -= k; if (!s.write(buf.subarray(0, k))) return s.once("drain", w); } s.end(); })();
  });
  s.on("data", (d) => { got += d.length; });
  s.on("close", () => { if (mode === "get" && got < +n) { console.error("short read " + got); process.exit(1); } console.log(Number(process.hrtime.bigint() - t0) / 1e6); process.exit(0); });
  s.on("error", (e) => { console.error(String(e)); process.exit(1); });
  setTimeout(() => { console.error("timeout"); process.exit(2); }, 240000);
}`;

function nftLoss(ns: string, dev: string, pct: number): void {
  const rules = `table netdev lossy {
  chain in { type filter hook ingress device ${dev} priority 0; numgen random mod 100 < ${pct} drop; }
  chain out { type filter hook egress device ${dev} priority 0; numgen random mod 100 < ${pct} drop; }
}`;
  const r = spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: rules, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nft: ${r.stderr}`);
}

/** Runs the peer script in `ns`; resolves with the milliseconds it printed. */
function peerRun(ns: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // spawn, not spawnSync: the stack under test runs in this process.
    import("node:child_process").then(({ spawn }) => {
      const p = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", PEER_JS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "", err = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (err += d));
      p.on("close", (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`peer ${args.join(" ")}: exit ${code} ${err}`))));
    }, reject);
  });
}

const mbits = (bytes: number, ms: number) => (bytes * 8) / (ms / 1000) / 1e6;

/** Linux↔Linux over a veth with `pct`% drop both ways on one end: best Mbit/s of each direction's samples. */
async function linuxRef(pct: number): Promise<number> {
  const tag = `tl${process.pid}`;
  const A = `${tag}a`, B = `${tag}b`;
  const sh = (...a: string[]) => spawnSync(a[0], a.slice(1), { encoding: "utf8" });
  sh("ip", "netns", "add", A); sh("ip", "netns", "add", B);
  const { spawn } = await import("node:child_process");
  let server: ReturnType<typeof spawn> | undefined;
  try {
    sh("ip", "link", "add", "va", "netns", A, "type", "veth", "peer", "name", "vb", "netns", B);
    sh("ip", "-n", A, "addr", "add", "192.0.2.1/24", "dev", "va");
    sh("ip", "-n", B, "addr", "add", "192.0.2.2/24", "dev", "vb");
    for (const [ns, dev] of [[A, "va"], [B, "vb"]]) {
      sh("ip", "-n", ns, "link", "set", dev, "up"); sh("ip", "-n", ns, "link", "set", "lo", "up");
      // MTU-sized frames as on the TAP (no TSO/GSO/GRO aggregates).
      sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off");
    }
    nftLoss(A, "va", pct);
    server = spawn("ip", ["netns", "exec", B, process.execPath, "-e", PEER_JS, "serve"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 500));
    const bytes = LINUX_MB * 1e6;
    let best = 0;
    for (let i = 0; i < TAP_SAMPLES; i++) {
      best = Math.max(best, mbits(bytes, await peerRun(A, ["get", "192.0.2.2", "80", String(bytes)])));
      best = Math.max(best, mbits(bytes, await peerRun(A, ["push", "192.0.2.2", "9", String(bytes)])));
    }
    return best;
  } finally {
    server?.kill("SIGTERM");
    sh("ip", "netns", "del", A); sh("ip", "netns", "del", B);
  }
}

async function tapLoss(bench: Bench): Promise<void> {
  const { canRunPeerTests, createNetns } = await import("../tests/helpers/netns.js");
  const why = canRunPeerTests(["nft", "ethtool"]);
  if (why) {
    bench.log(`tcp_loss: TAP and veth figures skipped: ${why}`);
    return;
  }
  const { TapDevice } = await import("../bindings/netif/tap.js");
  for (const pct of [1, 5]) {
    bench.log(`Linux↔Linux over a veth, ${pct}% drop both ways (${LINUX_MB} MB)`);
    const ref = `veth.loss${pct}.linux`;
    bench.add(ref, await linuxRef(pct), "Mbit/s");
    bench.log(`asip through a TAP, ${pct}% drop both ways (${TAP_MB} MB)`);
    const ns = createNetns({});
    try {
      nftLoss(ns.name, ns.tap, pct);
      const tap = await TapDevice.open(ns.tap, { netns: ns.name });
      await tap.waitUp();
      const s = await Stack.create({ heapSize: 16 * MiB });
      s.addInterface(tap, { ip: "192.0.2.2/24", mtu: tap.mtu });
      s.guard(() => s.ex.service_tcp(3, 80)); // http: /bytes/N
      s.guard(() => s.ex.service_tcp(1, 9)); // discard
      s.drainNow();
      const bytes = TAP_MB * 1e6;
      let send = 0, recv = 0;
      for (let i = 0; i < TAP_SAMPLES; i++) {
        send = Math.max(send, mbits(bytes, await peerRun(ns.name, ["get", "192.0.2.2", "80", String(bytes)])));
        recv = Math.max(recv, mbits(bytes, await peerRun(ns.name, ["push", "192.0.2.2", "9", String(bytes)])));
      }
      bench.add(`tap.loss${pct}.asip_send`, send, "Mbit/s", ref);
      bench.add(`tap.loss${pct}.asip_recv`, recv, "Mbit/s", ref);
      await s.close();
    } finally {
      await ns.destroy();
    }
  }
}

async function main(): Promise<void> {
  const bench = new Bench("tcp_loss");
  const bytes = PAIR_MIB * MiB;
  bench.log(`asip → asip over pair(), ${PAIR_MIB} MiB: clean, 1% and 5% loss`);
  await pairBulk(bytes, {}); // warm-up: the engine's optimizing tier
  let clean = 0;
  for (let i = 0; i < 3; i++) clean = Math.max(clean, bytes * 8 / (await pairBulk(bytes, {})) / 1e9);
  bench.add("pair.clean", clean, "Gbit/s");
  for (const [pct, seed] of [[1, 31], [5, 32]]) {
    let best = 0;
    for (let i = 0; i < 3; i++) best = Math.max(best, bytes * 8 / (await pairBulk(bytes, { seed: seed + 100 * i, loss: pct / 100 })) / 1e9);
    bench.add(`pair.loss${pct}`, best, "Gbit/s", "pair.clean");
  }
  await tapLoss(bench);
  bench.finish();
}

runBench(main);
