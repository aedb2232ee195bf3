// The mvp core translated to C by wasm2c, driven by hosts/c/main.c (no
// JavaScript at all), against the Linux kernel: what a microcontroller host
// does, with a TAP in place of its Ethernet MAC.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { canRunPeerTests, createNetns, type Netns } from "../helpers/netns.js";
import { pingSummary } from "../helpers/peer.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const BIN = path.join(ROOT, "build/c-host/asip-c");
const skip = canRunPeerTests(["ping", "nc"]) ??
  (existsSync(BIN) ? null : "build/c-host/asip-c was not built (needs wasm2c from Debian's wabt and a C compiler; see hosts/c/build.mjs)");

describe("the core as C (wasm2c) against the Linux kernel", { skip: skip ?? false }, () => {
  let ns: Netns;
  let child: ChildProcess;
  let out = "";
  before(async () => {
    ns = createNetns();
    child = spawn(BIN, ["--netns", ns.name, "--tap", ns.tap, "--ip", "192.0.2.2/24", "--udp-echo", "7"], { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout!.on("data", (d: Buffer) => (out += d));
    const end = Date.now() + 10_000;
    while (!out.includes("asip-c up")) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`asip-c did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  after(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await ns.destroy();
  });

  test("answers ping, fragmented ping and flood ping", async () => {
    const r = await ns.run("ping", ["-c", "5", "-i", "0.05", "-W", "1", "192.0.2.2"]);
    assert.equal(pingSummary(r.stdout).rx, 5, r.stdout);
    const big = await ns.run("ping", ["-c", "2", "-i", "0.2", "-W", "2", "-s", "20000", "192.0.2.2"]);
    assert.equal(pingSummary(big.stdout).rx, 2, big.stdout);
    const flood = await ns.run("ping", ["-f", "-c", "2000", "-W", "1", "192.0.2.2"]);
    assert.equal(pingSummary(flood.stdout).rx, 2000, flood.stdout);
  });

  test("answers UDP echo", async () => {
    const r = await ns.run("sh", ["-c", "printf 'hello from C\\n' | nc -u -w 1 192.0.2.2 7"]);
    assert.equal(r.stdout, "hello from C\n");
  });

  test("stops cleanly on SIGINT", async () => {
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.match(out, /asip-c: \d+ frames in, \d+ out, 0 without buffer/);
  });
});

// IPv6 in the C host (--ip6: netif_ip6_config and netif_ip6_add through the
// wasm2c exports): its address and its link-local one are printed after
// DAD, the kernel pings both (ping -6, fragmented too) and UDP-echoes over IPv6.
describe("the core as C (wasm2c) with IPv6 against the Linux kernel", { skip: skip ?? false }, () => {
  let ns: Netns;
  let child: ChildProcess;
  let out = "";
  before(async () => {
    ns = createNetns({ ipv6: "2001:db8::1/64" });
    child = spawn(BIN, ["--netns", ns.name, "--tap", ns.tap, "--ip", "192.0.2.2/24", "--ip6", "2001:db8::2/64", "--udp-echo", "7"], { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout!.on("data", (d: Buffer) => (out += d));
    const end = Date.now() + 15_000;
    while (!(out.includes("asip-c up 2001:db8::2/64") && /asip-c up fe80:/.test(out))) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`asip-c did not bring IPv6 up: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  after(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await ns.destroy();
  });

  test("prints its IPv6 addresses once DAD has passed", () => {
    assert.match(out, new RegExp(`^asip-c up 2001:db8::2/64 on ${ns.tap}$`, "m"));
    assert.match(out, new RegExp(`^asip-c up fe80::[0-9a-f:]+/64 on ${ns.tap}$`, "m"));
  });

  test("answers ping -6 (fragmented too, and link-local) and UDP echo over IPv6", async () => {
    const r = await ns.run("ping", ["-6", "-c", "5", "-i", "0.05", "-W", "1", "2001:db8::2"]);
    assert.equal(pingSummary(r.stdout).rx, 5, r.stdout);
    const big = await ns.run("ping", ["-6", "-c", "2", "-i", "0.2", "-W", "2", "-s", "5000", "2001:db8::2"]);
    assert.equal(pingSummary(big.stdout).rx, 2, big.stdout);
    const ll = /asip-c up (fe80::[0-9a-f:]+)\/64/.exec(out)![1];
    const l = await ns.run("ping", ["-6", "-c", "3", "-i", "0.1", "-W", "1", `${ll}%${ns.tap}`]);
    assert.equal(pingSummary(l.stdout).rx, 3, l.stdout);
    const u = await ns.run("sh", ["-c", "printf 'IPv6 from C\\n' | nc -6 -u -w 1 2001:db8::2 7"]);
    assert.equal(u.stdout, "IPv6 from C\n");
  });

  test("stops cleanly on SIGINT", async () => {
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
  });
});
