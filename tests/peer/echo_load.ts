// Shared by echo_load_*.test.ts: `asip up --serve echo:7` under the load a new user puts on it: the kernel
// echoes 100 MB three times in a row (nc -N, as the bug report did it), then
// opens 1,000 connections at once that each echo 100 KB; every byte checked
// by SHA-256. Three times over: on a clean TAP, with 5% nftables drop both
// ways, and with kernel readers that stop reading for 5 s mid-transfer
// (one test file each, so that each gets its own time budget).
// Afterwards every pool and the heap are back at their baseline, read from
// the stats line `asip up` prints on SIGTERM (the baseline is an idle
// `asip up` that answered one ping, stopped the same way).
//
// What this guards: a full-duplex echo once wedged the stack for good (the
// echo service leaked a reference to every pbuf after the first of a
// chain, and the receive pool ran dry: every frame dropped from then on).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import { canRunPeerTests, createNetns, type Netns } from "../helpers/netns.js";

export const skip = canRunPeerTests(["nc", "nft", "ping", "sha256sum"]);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CLIENT = path.join(ROOT, "dist/tests/helpers/kernel-echo-client.js");
const BIG = 100_000_000;

interface Up {
  child: ChildProcess;
  out: () => string;
}

async function startUp(ns: Netns): Promise<Up> {
  const child = spawn(process.execPath, [path.join(ROOT, "bin/asip.js"), "up", "--tap", ns.tap, "--netns", ns.name,
    "--ip", "192.0.2.2/24", "--serve", "echo:7"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`asip up printed no ready line:\n${out}`)), 20_000);
    child.stdout!.on("data", () => {
      if (/^asip up /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (c) => reject(new Error(`asip up exited ${c}:\n${out}`)));
  });
  return { child, out: () => out };
}

interface UsageLine {
  mem: number;
  pools: Record<string, number>;
}

/** SIGTERM, then the heap and pool usage from the stats line. */
async function stopUp(up: Up): Promise<UsageLine> {
  const exited = new Promise<number | null>((r) => up.child.on("exit", (c) => r(c)));
  up.child.kill("SIGTERM");
  assert.equal(await exited, 0, "asip up exits 0 on SIGTERM");
  return usage(up);
}

/** The heap and pool usage from the last stats line `up` printed. */
function usage(up: Up): UsageLine {
  const stats = JSON.parse(up.out().trim().split("\n").pop()!).stats;
  const pools: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats.pools as Record<string, { used: number; illegal: number }>)) {
    pools[k] = v.used;
    assert.equal(v.illegal, 0, `pool ${k}: illegal frees`);
  }
  return { mem: stats.mem.used, pools };
}

// asip up forms a link-local address and solicits routers (3 RSs, 4 s
// apart, RFC 4861 §6.3.7) on a core with IPv6: the idle baseline, stopped
// at once, still has that timer; a run this long does not. One timer fewer
// is no leak; one more still fails (checked apart).
const T = "SYS_TIMEOUT";
const timers = (u: UsageLine): number => u.pools[T] ?? 0;
const noTimers = (u: UsageLine): UsageLine => ({ ...u, pools: { ...u.pools, [T]: 0 } });

/** Asks the running `up` for its stats until they match `base` (timers apart), for at most `ms`. */
async function settle(up: Up, base: UsageLine, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const before = up.out().length;
    up.child.kill("SIGUSR1");
    const asked = Date.now();
    while ((up.out().length === before || !up.out().endsWith("\n")) && Date.now() - asked < 2000) await new Promise((r) => setTimeout(r, 20));
    try {
      const u = usage(up);
      if (timers(u) <= timers(base) && isDeepStrictEqual(noTimers(u), noTimers(base))) return true;
    } catch {
      // no stats line yet: ask again
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function addLoss(ns: Netns): void {
  const rules = `table netdev lossy {
  chain in { type filter hook ingress device ${ns.tap} priority 0; numgen random mod 100 < 5 drop; }
  chain out { type filter hook egress device ${ns.tap} priority 0; numgen random mod 100 < 5 drop; }
}`;
  const r = spawnSync("ip", ["netns", "exec", ns.name, "nft", "-f", "-"], { input: rules, encoding: "utf8" });
  assert.equal(r.status, 0, `nft: ${r.stderr}`);
}

/** The kernel-side echo client (tests/helpers/kernel-echo-client.ts); resolves with its report. */
async function kernelClient(ns: Netns, args: string[], timeoutMs: number): Promise<{ ok: number; bad: number; errors: string[]; ms: number }> {
  const r = await ns.run(process.execPath, [CLIENT, "--host", "192.0.2.2", "--port", "7", "--timeout-ms", String(timeoutMs), ...args], { timeoutMs: timeoutMs + 10_000 });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`echo client said: ${r.stdout}\n${r.stderr}`);
  }
}



/** One scenario of the echo load test. */
export interface Scenario {
  name: string;
  /** 5% nftables drop on the TAP, both ways. */
  loss: boolean;
  /** Kernel readers stop reading for 5 s mid-transfer. */
  pause: boolean;
  /** Budget for one step (one 100 MB echo, or the 1,000 parallel echoes). */
  timeoutMs: number;
}

/** Defines the test of one scenario. */
export function echoLoadSuite(sc: Scenario): void {
  describe(`asip up --serve echo:7 under load, the kernel as the client: ${sc.name}`, { skip: skip ?? false }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), "asip-echo-"));
    const file = path.join(dir, "big.bin");
    let want = "";
    let base: UsageLine;
    before(async () => {
      const data = randomBytes(BIG);
      writeFileSync(file, data);
      want = createHash("sha256").update(data).digest("hex");
      // The baseline: an idle asip up that has resolved its peer (one ARP
      // entry and the ARP timer stay), stopped the same way.
      const ns = createNetns();
      try {
        const up = await startUp(ns);
        const r = await ns.run("ping", ["-c", "1", "-W", "2", "192.0.2.2"]);
        assert.equal(r.code, 0, r.stdout);
        base = await stopUp(up);
      } finally {
        await ns.destroy();
      }
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test("3 × 100 MB, then 1,000 parallel 100 KB echoes, byte-exact; pools and heap back at baseline", { timeout: sc.timeoutMs * 3 }, async () => {
      const ns = createNetns();
      try {
        if (sc.loss) addLoss(ns);
        const up = await startUp(ns);
        for (let i = 1; i <= 3; i++) {
          if (sc.pause) {
            const r = await kernelClient(ns, ["--conns", "1", "--size", String(BIG), "--pause-at", String(BIG / 2), "--pause-ms", "5000"], sc.timeoutMs);
            assert.deepEqual(r.errors, [], `run ${i}`);
            assert.equal(r.ok, 1, `run ${i}`);
          } else {
            const r = await ns.run("sh", ["-c", `timeout ${sc.timeoutMs / 1000} nc -N 192.0.2.2 7 < ${file} | sha256sum`], { timeoutMs: sc.timeoutMs + 5000 });
            assert.equal(r.stdout.split(" ")[0], want, `run ${i}: the echo of 100 MB differs (${r.stderr})`);
          }
        }
        const pauseArgs = sc.pause ? ["--pause-at", "50000", "--pause-ms", "5000"] : [];
        const many = await kernelClient(ns, ["--conns", "1000", "--size", "100000", ...pauseArgs], sc.timeoutMs);
        assert.deepEqual(many.errors, []);
        assert.equal(many.ok, 1000);
        // A kernel client is done once it has asip's FIN; asip's pcb is gone
        // only once the kernel's ACK of that FIN arrives. With 5% drop that
        // last ACK (or the ACK of a last segment) is lost now and then, and
        // the pcb waits for its retransmission timeout to resend: ask the
        // running stack for its stats (SIGUSR1) until the pools are back,
        // for a while, then stop it and compare.
        if (!(await settle(up, base, 30_000))) {
          // Say what is left on the kernel's side before the assertion below fails.
          const ss = await ns.run("ss", ["-tani"]);
          console.log(`# pools not back after 30 s; the kernel's sockets:\n${ss.stdout}`);
        }
        const now = await stopUp(up);
        assert.ok(timers(now) <= timers(base), "no more timers than at the idle baseline");
        assert.deepEqual(noTimers(now), noTimers(base), "heap and pools back at the idle baseline");
      } finally {
        await ns.destroy();
      }
    });
  });
}
