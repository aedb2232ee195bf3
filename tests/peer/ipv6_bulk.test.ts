// Bulk TCP over IPv6 against the Linux kernel through a TAP (issue 11's peer
// list): nc -6 with 100 MB each way, SHA-256 equal (the upload direction
// the curl -6 test of cli_ip6 does not cover), and iperf -V (iperf 2) both
// ways: the kernel's client to asip's discard service, asip's raw-API client
// to the kernel's iperf -s -V. No captures: 200 MB of pcap would cost more
// than the transfer (tests/peer/ipv6.test.ts checks frames with tshark).
// Figures are printed, never asserted against a time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Stack } from "../../bindings/stack.js";
import { TapDevice } from "../../bindings/netif/tap.js";
import { rawApi } from "../../bindings/api/raw.js";
import { canRunPeerTests, createNetns } from "../helpers/netns.js";
import { baseline, assertNoLeaks, until, settle } from "../helpers/stacks.js";

const skip = canRunPeerTests(["nc", "iperf", "sha256sum"]);
if (skip) console.log(`ipv6_bulk: skipped: ${skip}`);

const US = "2001:db8::2", KERNEL = "2001:db8::1";
const SIZE = 100_000_000;

test("TCP over IPv6 with the kernel: nc -6 100 MB each way SHA-256 equal, iperf -V both ways", { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "asip-ipv6-bulk-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ns = createNetns({ addr: null, ipv6: `${KERNEL}/64` }, t);
  const tap = await TapDevice.open(ns.tap, { netns: ns.name });
  await tap.waitUp();
  const s = await Stack.create({ heapSize: 16 << 20 });
  t.after(() => s.close());
  const iface = s.addInterface(tap, { mtu: tap.mtu, ip6: [`${US}/64`] });
  await s.waitAddress6(iface, (a) => a === US, 15_000);
  await until(() => !/tentative/.test(ns.ip("-6", "addr", "show", "dev", ns.tap).stdout), 10_000, "the kernel's address");
  const raw = rawApi(s);
  raw.tcp.setTimeWait(50);
  await new Promise((r) => setTimeout(r, 1500)); // MLD's repeated reports are over
  await settle(5);
  const base = baseline(s);

  const data = randomBytes(SIZE);
  const file = path.join(dir, "100MB.bin");
  writeFileSync(file, data);
  const want = createHash("sha256").update(data).digest("hex");

  // Kernel → asip: nc -6 uploads the file; asip hashes what arrives.
  {
    const h = createHash("sha256");
    let n = 0, closed = false;
    const l = raw.tcp.new(6).bind("::", 5001).listen();
    l.accept((pcb) => pcb.recv((d) => { if (d) { h.update(d); n += d.length; } else { closed = true; pcb.close(); } }));
    const t0 = performance.now();
    const r = await ns.run("sh", ["-c", `nc -6 -N -w 10 ${US} 5001 < ${file}`], { timeoutMs: 60_000 });
    await until(() => closed, 10_000, "the upload's FIN");
    console.log(`nc -6 upload: ${((SIZE * 8) / ((performance.now() - t0) / 1000) / 1e9).toFixed(2)} Gbit/s`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(n, SIZE);
    assert.equal(h.digest("hex"), want, "kernel → asip intact");
    l.close();
  }

  // asip → kernel: asip sends the file to nc -6 -l, which hashes it.
  {
    const srv = ns.run("sh", ["-c", `nc -6 -l ${KERNEL} 5002 | sha256sum`], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    const c = raw.tcp.new(6);
    let off = 0;
    const push = () => {
      while (off < SIZE) { const k = c.write(data.subarray(off, Math.min(SIZE, off + (1 << 20)))); if (k === 0) return; off += k; }
      c.close();
    };
    c.sent(push);
    const t0 = performance.now();
    c.connect(KERNEL, 5002, () => push());
    const r = await srv;
    console.log(`nc -6 download: ${((SIZE * 8) / ((performance.now() - t0) / 1000) / 1e9).toFixed(2)} Gbit/s`);
    assert.equal(off, SIZE);
    assert.equal(r.stdout.split(" ")[0], want, `asip → kernel intact ${r.stderr}`);
  }

  // iperf -V, kernel → asip's discard service.
  {
    const svc = s.guard(() => s.ex.service_tcp(1, 5003));
    assert.ok(svc > 0, "discard service");
    const r = await ns.run("iperf", ["-c", US, "-V", "-p", "5003", "-t", "2", "-f", "m"], { timeoutMs: 30_000 });
    const m = /([\d.]+) Mbits\/sec/.exec(r.stdout);
    assert.ok(m && Number(m[1]) > 0, `iperf -c -V: ${r.stdout}${r.stderr}`);
    console.log(`iperf -V to asip: ${m[1]} Mbit/s`);
    s.ex.service_tcp_stop(svc);
  }

  // iperf -V, asip → the kernel's iperf -s -V.
  {
    const srv = ns.spawn("iperf", ["-s", "-V", "-B", KERNEL, "-p", "5004", "-f", "m"]);
    let out = "";
    srv.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    const c = raw.tcp.new(6);
    const zeros = new Uint8Array(256 * 1024);
    let acked = 0, connected = false, stop = false;
    c.sent((len) => { acked += len; if (!stop) c.write(zeros); });
    c.connect(KERNEL, 5004, () => { connected = true; c.write(zeros); });
    await until(() => connected, 5000, "the connection to iperf -s -V");
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    c.close();
    await until(() => /Mbits\/sec/.test(out), 10_000, "iperf -s -V's report");
    console.log(`iperf -V from asip: ${/([\d.]+) Mbits\/sec/.exec(out)![1]} Mbit/s (${acked} bytes acknowledged)`);
    assert.ok(acked > 1 << 20, `acknowledged ${acked}`);
    srv.kill("SIGTERM");
  }

  await until(() => { try { assertNoLeaks(s, base); return true; } catch { return false; } }, 10_000, "pools back").catch(() => {});
  assertNoLeaks(s, base);
  await ns.destroy();
});
