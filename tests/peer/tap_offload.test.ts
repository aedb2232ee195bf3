// The TAP with offloads on (TapDevice.open(..., { offload: true }):
// IFF_VNET_HDR, TUNSETOFFLOAD with checksum offload and TSO4/6), against the
// Linux kernel in a namespace whose interface keeps MTU 1500: asip's
// interface has MTU 65535, iperf 2 moves 100 MB each way, 100 MB go each way
// through nc with equal SHA-256, the frames really are super-frames (GSO), and tshark on the
// kernel side finds every frame asip sent valid (the kernel's own frames
// carry partial checksums where offloaded, as on any offloading NIC, and are
// completed by the addon before the core checks them: the core counts no
// checksum error). Pools are back at baseline at the end.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { Stack } from "../../bindings/stack.js";
import { TapDevice } from "../../bindings/netif/tap.js";
import { rawApi } from "../../bindings/api/raw.js";
import { canRunPeerTests, createNetns, BAD_FRAME_FILTER, type Netns, type Capture } from "../helpers/netns.js";
import { baseline, until } from "../helpers/stacks.js";

const skip = canRunPeerTests(["iperf", "tshark", "nc", "sha256sum"]);
const MB = 100 << 20;

describe("TAP with offloads (virtio-net header, checksum offload, TSO) against the Linux kernel", { skip: skip ?? false }, () => {
  let ns: Netns;
  let tap: TapDevice;
  let stack: Stack;
  let cap: Capture;
  let dir: string;
  let base: ReturnType<typeof baseline>;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "asip-tap-offload-"));
    ns = createNetns({});
    tap = await TapDevice.open(ns.tap, { netns: ns.name, offload: true });
    await tap.waitUp();
    cap = await ns.startCapture(path.join(dir, "kernel.pcap"));
    stack = await Stack.create({ heapSize: 16 << 20 });
    stack.addInterface(tap, { ip: "192.0.2.2/24", mtu: tap.mtu });
    rawApi(stack).tcp.setTimeWait(50);
    stack.guard(() => stack.ex.service_tcp(1, 5001)); // discard, for iperf
    stack.drainNow();
    base = baseline(stack);
  });

  after(async () => {
    await cap?.stop(0).catch(() => {});
    await stack?.close();
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the device: offload on, asip's MTU 65535, the kernel's 1500", () => {
    assert.equal(tap.offload, true);
    assert.equal(tap.mtu, 65535);
    assert.equal(tap.wireMtu, 1500);
    const link = ns.ip("-j", "link", "show", "dev", ns.tap);
    assert.equal(JSON.parse(link.stdout)[0].mtu, 1500);
  });

  test("iperf 2, kernel → asip, 100 MB in super-frames", { timeout: 60_000 }, async () => {
    const rx0 = tap.rxFrames, rxB0 = tap.rxBytes;
    const r = await ns.run("iperf", ["-c", "192.0.2.2", "-p", "5001", "-n", String(MB), "-f", "m"], { timeoutMs: 40_000 });
    const m = /([\d.]+) Mbits\/sec/.exec(r.stdout);
    assert.ok(m, `${r.stdout}${r.stderr}`);
    process.stderr.write(`# iperf -c asip with offloads: ${m[1]} Mbit/s\n`);
    const mean = (tap.rxBytes - rxB0) / (tap.rxFrames - rx0);
    assert.ok(mean > 3000, `frames from the kernel average ${mean.toFixed(0)} bytes: GSO super-frames`);
    assert.equal(stack.stats().proto.tcp.chkerr, 0, "every completed checksum verified by the core");
  });

  test("iperf 2, asip → kernel iperf -s, 100 MB in super-frames", { timeout: 60_000 }, async () => {
    const srv = ns.spawn("iperf", ["-s", "-B", "192.0.2.1", "-p", "5002", "-f", "m"]);
    let out = "";
    srv.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    await new Promise((r) => setTimeout(r, 500));
    const tx0 = tap.txFrames, txB0 = tap.txBytes;
    const p = rawApi(stack).tcp.new();
    const zeros = new Uint8Array(256 * 1024);
    let written = 0, err: Error | undefined;
    const pump = () => {
      while (written < MB) {
        const k = p.write(zeros.subarray(0, Math.min(zeros.length, MB - written)));
        if (!k) return;
        written += k;
      }
      p.sent(undefined);
      p.close();
    };
    p.err((e) => (err = e));
    p.sent(pump);
    p.connect("192.0.2.1", 5002, pump);
    await until(() => /Mbits\/sec/.test(out) || err !== undefined, 40_000, "iperf -s report");
    assert.equal(err, undefined);
    const m = /([\d.]+) MBytes\s+([\d.]+) Mbits\/sec/.exec(out);
    assert.ok(m, out);
    process.stderr.write(`# asip → iperf -s with offloads: ${m[2]} Mbit/s\n`);
    assert.equal(Math.round(Number(m[1])), MB >> 20, `iperf -s got all of it: ${out}`);
    const mean = (tap.txBytes - txB0) / (tap.txFrames - tx0);
    assert.ok(mean > 3000, `frames to the kernel average ${mean.toFixed(0)} bytes: super-frames`);
    srv.kill("SIGTERM");
  });

  test("100 MB each way through nc, SHA-256 equal", { timeout: 120_000 }, async () => {
    const data = new Uint8Array(MB);
    for (let i = 0; i < MB; i += 512) data[i] = (i >>> 9) & 255, data[i + 1] = i % 253;
    const want = createHash("sha256").update(data).digest("hex");
    // asip → kernel: nc -l | sha256sum
    const sink = ns.spawn("sh", ["-c", "nc -l -N 192.0.2.1 9001 | sha256sum"]);
    let sum = "";
    sink.stdout!.on("data", (b: Buffer) => (sum += b.toString()));
    await new Promise((r) => setTimeout(r, 300));
    await new Promise<void>((resolve, reject) => {
      const p = rawApi(stack).tcp.new();
      let off = 0;
      const pump = () => {
        while (off < MB) {
          const k = p.write(data.subarray(off, off + 65536));
          if (!k) return;
          off += k;
        }
        p.sent(undefined);
        p.close();
        resolve();
      };
      p.err((e) => reject(e));
      p.sent(pump);
      p.connect("192.0.2.1", 9001, pump);
    });
    await until(() => sum.length >= 64, 30_000, "sha256sum of what the kernel got");
    assert.equal(sum.slice(0, 64), want);
    // kernel → asip: a file through nc into an asip listener that hashes.
    const file = path.join(dir, "up.bin");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, data);
    const hash = createHash("sha256");
    let got = 0;
    const done = new Promise<void>((resolve) => {
      const l = rawApi(stack).tcp.new().bind("0.0.0.0", 9002).listen();
      l.accept((pcb) => {
        pcb.recv((d) => {
          if (d === null) { pcb.close(); l.close(); resolve(); return; }
          hash.update(d);
          got += d.length;
        });
      });
    });
    const r = await ns.run("sh", ["-c", `nc -N 192.0.2.2 9002 < ${file}`], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    await done;
    assert.equal(got, MB);
    assert.equal(hash.digest("hex"), want);
  });

  test("tshark on the kernel side: every frame asip sent is valid; the core saw no bad checksum; pools back", { timeout: 120_000 }, async () => {
    await cap.stop();
    const r = spawnSync("tshark", [
      "-n", "-r", cap.file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
      "-Y", `ip.src==192.0.2.2 && (${BAD_FRAME_FILTER})`,
    ], { encoding: "utf8", maxBuffer: 64 << 20, timeout: 110_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.split("\n").filter((l) => l.trim()), [], "bad frames from asip");
    const big = spawnSync("tshark", ["-n", "-r", cap.file, "-Y", "ip.src==192.0.2.2 && frame.len > 1514", "-T", "fields", "-e", "frame.number"], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.ok(big.stdout.trim().split("\n").length > 100, "super-frames on the kernel side");
    const s = stack.stats().proto;
    assert.equal(s.tcp.chkerr + s.ip.chkerr, 0);
    // Pools back: once TIME_WAIT is over nothing of the transfers is held
    // (the ARP entry's timer is the only thing the baseline did not have).
    const held = () => {
      const u = stack.usage();
      return { heap: u.heap, ...u.pools, SYS_TIMEOUT: 0 };
    };
    const want = { heap: base.heap, ...base.pools, SYS_TIMEOUT: 0 };
    await until(() => JSON.stringify(held()) === JSON.stringify(want), 5000, "pools back").catch(() => assert.deepEqual(held(), want));
  });
});
