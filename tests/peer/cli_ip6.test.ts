// `asip up --ip6` against the Linux kernel: a stack on a TAP in a namespace
// (kernel 2001:db8::1/64 and 192.0.2.1/24) with a static IPv6 address and the
// --serve services; it must print its IPv6 lines (the static address and
// the link-local one once DAD has passed, ../shared/CLI.md), and the
// kernel's own tools reach its services over IPv6 and IPv4 alike: `nc -6`
// echo of 1 MiB and `curl -6` of /bytes/N (SHA-256 equal to the same over
// IPv4), UDP echo with `nc -6 -u`. Skips, saying why, without root or tools,
// or when the release core cannot configure IPv6 addresses yet.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { canRunPeerTests, createNetns, type Netns } from "../helpers/netns.js";
import { Stack } from "../../bindings/stack.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

async function coreSkip(): Promise<string | null> {
  const s = await Stack.create();
  const ok = s.ipv6 && typeof s.ex.netif_ip6_add === "function";
  await s.close();
  return ok ? null : "the release core has no IPv6 address configuration (netif_ip6_add) yet: asip up --ip6 cannot run";
}

const skip = canRunPeerTests(["nc", "curl"]) ?? (await coreSkip());
if (skip) console.log(`# skipped: ${skip}`);

function waitLines(child: ChildProcess, res: RegExp[], ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`not all of ${res.join(", ")} within ${ms} ms; got:\n${buf}`)), ms);
    const check = () => {
      const lines = buf.split("\n");
      const found = res.map((re) => lines.find((l) => re.test(l)));
      if (found.every((l) => l !== undefined)) {
        clearTimeout(timer);
        resolve(found as string[]);
      }
    };
    child.stdout!.on("data", (d: Buffer) => {
      buf += d;
      check();
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}:\n${buf}`)));
  });
}

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** The http service's /bytes pattern (assembly/apps/tcp_services.ts; as tests/node/tcp.test.ts). */
function httpBytes(n: number): Uint8Array {
  const P = 65521;
  const pat = new Uint8Array(P);
  for (let k = 0; k < P; k++) pat[k] = Math.imul(k, 2654435761) >>> 24;
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += P) out.set(pat.subarray(0, Math.min(P, n - o)), o);
  return out;
}

describe("asip up --ip6 against the Linux kernel", { skip: skip ?? false }, () => {
  let ns: Netns;
  let child: ChildProcess;
  let out = "";
  const dir = mkdtempSync(path.join(tmpdir(), "asip-cli6-"));
  before(() => {
    ns = createNetns({ ipv6: "2001:db8::1/64" });
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await ns.destroy();
  });

  test("prints `asip up` for its static IPv6 address and its link-local one after DAD", async () => {
    child = spawn(process.execPath, [path.join(ROOT, "bin/asip.js"), "up", "--tap", ns.tap, "--netns", ns.name,
      "--ip", "192.0.2.2/24", "--ip6", "2001:db8::2/64", "--serve", "echo:7,udp-echo:7,http:80"], { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout!.on("data", (d: Buffer) => (out += d));
    const [v4, v6, ll] = await waitLines(child, [/^asip up 192\./, /^asip up 2001:/, /^asip up fe80:/], 30_000);
    assert.equal(v4, `asip up 192.0.2.2/24 on ${ns.tap}`);
    assert.equal(v6, `asip up 2001:db8::2/64 on ${ns.tap}`);
    assert.match(ll, new RegExp(`^asip up fe80::[0-9a-f:]+/64 on ${ns.tap}$`));
  });

  test("nc -6 echo (16 MiB) and nc -6 -u echo", async () => {
    const file = path.join(dir, "data");
    const data = randomBytes(16 << 20);
    writeFileSync(file, data);
    const r = await ns.run("sh", ["-c", `nc -6 -N -w 30 2001:db8::2 7 < ${file} | sha256sum`]);
    assert.equal(r.stdout.split(" ")[0], sha(data), r.stderr);
    const u = await ns.run("sh", ["-c", "printf 'over IPv6\\n' | nc -6 -u -w 1 2001:db8::2 7"]);
    assert.equal(u.stdout, "over IPv6\n");
  });

  test("curl -6 of 100 MB from /bytes/N: SHA-256 of the http service's pattern; the same over IPv4", async () => {
    const n = 100_000_000;
    const want = sha(Buffer.from(httpBytes(n)));
    const six = await ns.run("sh", ["-c", `curl -6 -s --max-time 120 http://[2001:db8::2]/bytes/${n} | sha256sum`]);
    assert.equal(six.stdout.split(" ")[0], want, six.stderr);
    const four = await ns.run("sh", ["-c", `curl -4 -s --max-time 60 http://192.0.2.2/bytes/${8 << 20} | sha256sum`]);
    assert.equal(four.stdout.split(" ")[0], sha(Buffer.from(httpBytes(8 << 20))));
  });

  test("stops on SIGINT and prints its stats", async () => {
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    const stats = JSON.parse(out.trim().split("\n").pop()!).stats;
    assert.ok(stats.proto.tcp.recv > 0);
  });
});

// The services of a core with IPv6 are dual-stack pcbs (assembly/apps:
// SERVICE_IP_TYPE) and its interfaces have IPv6 on: over IPv4 they answer
// as before.
const skip4 = canRunPeerTests(["nc", "curl"]);
describe("asip up: --serve services (dual-stack pcbs) over IPv4", { skip: skip4 ?? false }, () => {
  let ns: Netns;
  let child: ChildProcess;
  before(() => {
    ns = createNetns();
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await ns.destroy();
  });

  test("echo, udp-echo and http answer the kernel over IPv4", async () => {
    child = spawn(process.execPath, [path.join(ROOT, "bin/asip.js"), "up", "--variant", "release", "--tap", ns.tap, "--netns", ns.name,
      "--ip", "192.0.2.2/24", "--serve", "echo:7,udp-echo:7,http:80"], { stdio: ["ignore", "pipe", "inherit"] });
    await waitLines(child, [/^asip up 192\./], 20_000);
    const data = randomBytes(256 * 1024);
    const file = path.join(mkdtempSync(path.join(tmpdir(), "asip-dual-")), "data");
    writeFileSync(file, data);
    const r = await ns.run("sh", ["-c", `nc -4 -N -w 10 192.0.2.2 7 < ${file} | sha256sum`]);
    assert.equal(r.stdout.split(" ")[0], sha(data), r.stderr);
    const u = await ns.run("sh", ["-c", "printf 'dual\\n' | nc -4 -u -w 1 192.0.2.2 7"]);
    assert.equal(u.stdout, "dual\n");
    const len = await ns.run("sh", ["-c", "curl -4 -s --max-time 30 http://192.0.2.2/bytes/100000 | wc -c"]);
    assert.equal(Number(len.stdout.trim()), 100000);
    const exited = new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
  });
});

// SLAAC from the kernel's radvd: asip up takes an address from the
// advertised prefix and prints it after DAD; with --no-slaac it does not
// (its link-local address still comes up).
const skipRa = canRunPeerTests(["radvd"]) ?? skip;
describe("asip up and Router Advertisements from radvd: SLAAC, and --no-slaac", { skip: skipRa ?? false }, () => {
  let ns: Netns;
  const children: ChildProcess[] = [];
  before(() => {
    ns = createNetns({ ipv6: "2001:db8:1::1/64" });
    ns.exec("sysctl", ["-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    const dir = mkdtempSync(path.join(tmpdir(), "asip-radvd-"));
    const conf = path.join(dir, "radvd.conf");
    writeFileSync(conf, `interface ${ns.tap} {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; };
};
`);
    ns.spawn("radvd", ["-n", "-C", conf, "-p", path.join(dir, "radvd.pid"), "-m", "stderr"]);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await ns.destroy();
  });

  const up = (extra: string[]) => {
    const c = spawn(process.execPath, [path.join(ROOT, "bin/asip.js"), "up", "--tap", ns.tap, "--netns", ns.name, "--ip", "192.0.2.2/24", ...extra], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(c);
    return c;
  };
  const stop = async (c: ChildProcess) => {
    const exited = new Promise<number | null>((r) => c.on("exit", (code) => r(code)));
    c.kill("SIGINT");
    assert.equal(await exited, 0);
  };

  test("prints its SLAAC address from the advertised prefix, and the kernel reaches it", async () => {
    const c = up(["--serve", "udp-echo:7"]);
    const [slaac] = await waitLines(c, [/^asip up 2001:db8:1:0?:[0-9a-f:]+\/64 on /], 30_000);
    const addr = /^asip up (\S+)\/64/.exec(slaac)![1];
    const u = await ns.run("sh", ["-c", `printf 'slaac\\n' | nc -6 -u -w 1 ${addr} 7`]);
    assert.equal(u.stdout, "slaac\n");
    await stop(c);
  });

  test("--no-slaac: the link-local address comes up, no address from the prefix", async () => {
    const c = up(["--no-slaac"]);
    let out = "";
    c.stdout!.on("data", (d: Buffer) => (out += d));
    await waitLines(c, [/^asip up fe80:/], 30_000);
    // Two advertisement intervals more: an address from the prefix would be up by now.
    await new Promise((r) => setTimeout(r, 9000));
    assert.doesNotMatch(out, /asip up 2001:db8:1:/);
    await stop(c);
  });
});
