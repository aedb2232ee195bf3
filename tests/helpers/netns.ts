/**
 * Test plumbing for tests/peer: a throwaway network namespace holding a TAP
 * whose kernel side is a real peer (see /work/shared/PEERS.md).
 *
 *   const reason = canRunPeerTests(["ping", "tshark"]);
 *   describe("…", { skip: reason ?? false }, () => { … createNetns() … });
 *
 * Everything a namespace starts is tracked and killed by destroy(), which
 * also runs after the test given to createNetns and at process exit, so a
 * failing test never leaves a namespace behind.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess, SpawnOptions, SpawnSyncOptions, SpawnSyncReturns } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { tapUnavailableReason } from "../../bindings/netif/tap.js";

/** The first executable called `cmd` on PATH, or null. */
export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  // sbin is often not on a non-login PATH.
  for (const dir of ["/usr/sbin", "/sbin"]) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * Why the peer tests cannot run here, or null when they can: not Linux, not
 * root, no /dev/net/tun, no `ip`, one of `tools` missing, or the TAP addon
 * not built. Pass the result as node:test's `skip` so the reason is printed.
 */
export function canRunPeerTests(tools: string[] = []): string | null {
  if (process.platform !== "linux") return `peer tests need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "peer tests need root (network namespaces, TAP devices)";
  if (!existsSync("/dev/net/tun")) return "no /dev/net/tun (TUN/TAP support missing in this kernel or container)";
  if (!which("ip")) return "no `ip` command (Debian package iproute2)";
  const missing = tools.filter((t) => !which(t));
  if (missing.length) return `missing tool${missing.length > 1 ? "s" : ""}: ${missing.join(", ")} (see .ci/run for the Debian packages)`;
  const addon = tapUnavailableReason();
  if (addon) return addon;
  return null;
}

/** Options for {@link createNetns}. */
export interface NetnsOptions {
  /** Name of the TAP inside the namespace (default `tap0`). */
  tap?: string;
  /** Kernel side IPv4 address with prefix (default `192.0.2.1/24`); null for none. */
  addr?: string | null;
  /** Enable IPv6 (default false: disabled in the namespace, so the kernel sends no MLD/RS/DAD). A string is a kernel side address, e.g. `2001:db8::1/64` (`true` means that one). */
  ipv6?: boolean | string;
  /** MTU of the TAP (default: the kernel's, 1500). */
  mtu?: number;
  /** Set the TAP administratively up (default true). */
  up?: boolean;
}

/** A running tshark capture started by {@link Netns.startCapture}. */
export interface Capture {
  /** The pcap file being written. */
  readonly file: string;
  /**
   * Stops the capture and resolves once tshark has written and exited. It
   * first waits `settleMs` (default 500): dumpcap reads the kernel's packet
   * ring in blocks that retire after 250 ms, and frames still in a block at
   * SIGINT are lost.
   */
  stop(settleMs?: number): Promise<void>;
}

/** Result of {@link Netns.run}. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A namespace made by {@link createNetns}. */
export interface Netns {
  /** The namespace's name (for `ip -n`, `ip netns exec`, and TapDevice.open's `netns`). */
  readonly name: string;
  /** The TAP interface name inside it. */
  readonly tap: string;
  /** The kernel side IPv4 address (no prefix), if any. */
  readonly addr: string | undefined;
  /** Runs a command inside the namespace and waits (blocks the event loop: nothing in this process answers meanwhile; use {@link Netns.run} when the stack under test must respond). */
  exec(cmd: string, args?: string[], opts?: SpawnSyncOptions): SpawnSyncReturns<string>;
  /** Runs a command inside the namespace without blocking; resolves when it exits. Killed on destroy. */
  run(cmd: string, args?: string[], opts?: SpawnOptions & { timeoutMs?: number }): Promise<RunResult>;
  /** Starts a long-running peer inside the namespace. Tracked and killed on destroy. */
  spawn(cmd: string, args?: string[], opts?: SpawnOptions): ChildProcess;
  /** Starts tshark on the TAP inside the namespace writing a classic pcap to `file`; resolves once capturing. */
  startCapture(file: string, filter?: string): Promise<Capture>;
  /** Runs `ip -n NS ARGS…` from the root namespace (see PEERS.md: `ip netns exec` gets its own /sys). */
  ip(...args: string[]): SpawnSyncReturns<string>;
  /** Kills what this namespace started, then deletes it. Idempotent. */
  destroy(): Promise<void>;
  /** Whether the namespace still exists. */
  exists(): boolean;
}

let counter = 0;
const live = new Set<NetnsImpl>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const ns of live) ns.destroySync();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const ns of live) ns.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: "utf8", ...opts }) as SpawnSyncReturns<string>;
}

function must(r: SpawnSyncReturns<string>, what: string): void {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${(r.stderr || r.stdout).trim()}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes namespaces `asip-<pid>-<n>` left by test processes that no longer run. */
function reapStale(): void {
  let names: string[] = [];
  try {
    names = readdirSync("/var/run/netns");
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^asip-(\d+)-\d+$/.exec(n);
    if (m && +m[1]! !== process.pid && !pidAlive(+m[1]!)) sh("ip", ["netns", "del", n]);
  }
}

class NetnsImpl implements Netns {
  readonly name: string;
  readonly tap: string;
  readonly addr: string | undefined;
  #children = new Set<ChildProcess>();
  #destroyed = false;

  constructor(opts: NetnsOptions) {
    this.name = `asip-${process.pid}-${counter++}`;
    this.tap = opts.tap ?? "tap0";
    const addr = opts.addr === undefined ? "192.0.2.1/24" : opts.addr;
    this.addr = addr ? addr.split("/")[0] : undefined;
    must(sh("ip", ["netns", "add", this.name]), `ip netns add ${this.name}`);
    live.add(this);
    hookExit();
    try {
      const v6 = opts.ipv6 === true ? "2001:db8::1/64" : opts.ipv6 || undefined;
      const inNs = (args: string[]) => must(sh("ip", ["netns", "exec", this.name, ...args]), args.join(" "));
      // Before the TAP exists, so it is created with IPv6 already off.
      inNs(["sysctl", "-qw", `net.ipv6.conf.all.disable_ipv6=${v6 ? 0 : 1}`]);
      inNs(["sysctl", "-qw", `net.ipv6.conf.default.disable_ipv6=${v6 ? 0 : 1}`]);
      must(this.ip("link", "set", "lo", "up"), "ip link set lo up");
      must(this.ip("tuntap", "add", "dev", this.tap, "mode", "tap"), `ip tuntap add dev ${this.tap}`);
      if (opts.mtu) must(this.ip("link", "set", this.tap, "mtu", String(opts.mtu)), "ip link set mtu");
      if (addr) must(this.ip("addr", "add", addr, "dev", this.tap), `ip addr add ${addr}`);
      if (v6) must(this.ip("addr", "add", v6, "dev", this.tap, "nodad"), `ip addr add ${v6}`);
      if (opts.up !== false) must(this.ip("link", "set", this.tap, "up"), "ip link set up");
    } catch (e) {
      this.destroySync();
      throw e;
    }
  }

  ip(...args: string[]): SpawnSyncReturns<string> {
    return sh("ip", ["-n", this.name, ...args]);
  }

  exec(cmd: string, args: string[] = [], opts: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
    return sh("ip", ["netns", "exec", this.name, cmd, ...args], { timeout: 60_000, ...opts });
  }

  spawn(cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    if (this.#destroyed) throw new Error(`netns ${this.name} is destroyed`);
    const child = spawn("ip", ["netns", "exec", this.name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], ...opts });
    this.#children.add(child);
    child.on("exit", () => this.#children.delete(child));
    child.on("error", () => this.#children.delete(child));
    return child;
  }

  run(cmd: string, args: string[] = [], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
    const { timeoutMs = 60_000, ...rest } = opts;
    return new Promise((resolve, reject) => {
      const child = this.spawn(cmd, args, rest);
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  startCapture(file: string, filter?: string): Promise<Capture> {
    const args = ["-i", this.tap, "-n", "-q", "-F", "pcap", "-w", file];
    if (filter) args.push("-f", filter);
    const child = this.spawn("tshark", args);
    return new Promise((resolve, reject) => {
      let err = "";
      const exited = new Promise<void>((r) => child.on("close", () => r()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`tshark did not start capturing within 10 s: ${err.trim()}`));
      }, 10_000);
      child.stdout?.resume();
      child.stderr?.setEncoding("utf8").on("data", (d: string) => {
        err += d;
        if (/Capture started/.test(err)) {
          clearTimeout(timer);
          resolve({
            file,
            stop: async (settleMs = 500) => {
              if (child.exitCode === null && child.signalCode === null) {
                await new Promise((r) => setTimeout(r, settleMs));
                child.kill("SIGINT");
              }
              await exited;
            },
          });
        }
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        reject(new Error(`tshark exited (${code}) before capturing: ${err.trim()}`));
      });
    });
  }

  exists(): boolean {
    return existsSync(`/var/run/netns/${this.name}`);
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    const children = [...this.#children];
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              c.kill("SIGKILL");
            }, 2000);
            c.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    this.destroySync();
  }

  /** The synchronous teardown (for process exit): SIGKILL what is left, delete the namespace. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    this.#children.clear();
    // Anything else still inside (a peer that double-forked) goes too: only
    // processes in this namespace, which this test made.
    const pids = sh("ip", ["netns", "pids", this.name]);
    for (const p of (pids.stdout ?? "").split(/\s+/).filter(Boolean)) {
      try {
        process.kill(+p, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    sh("ip", ["netns", "del", this.name]);
    live.delete(this);
  }
}

/**
 * Creates a uniquely named namespace (`asip-<pid>-<n>`) with `lo` up, a TAP
 * (`tap0`) holding the kernel address 192.0.2.1/24, IPv6 disabled unless
 * asked for, and the TAP set up (it stays NO-CARRIER until a TapDevice
 * attaches).
 *
 * Teardown: pass the test's context `t` to destroy the namespace after that
 * test (`t.after`). From a `before()` hook, call destroy() in the matching
 * `after()` (node:test's global `after()` called inside a hook would run as
 * soon as the hook ends). Whatever is left is destroyed at process exit,
 * SIGINT and SIGTERM.
 */
export function createNetns(opts: NetnsOptions = {}, t?: { after(fn: () => unknown): void }): Netns {
  reapStale();
  const ns = new NetnsImpl(opts);
  t?.after(() => ns.destroy());
  return ns;
}

/** tshark's display filter for frames with a bad checksum or that it cannot parse (PEERS.md). */
// A TCP checksum field of 0xFFFF is valid (negative zero, RFC 1624 §3; the
// kernel sends it after incremental updates) though tshark marks it bad.
export const BAD_FRAME_FILTER =
  "ip.checksum.status==0 || icmp.checksum.status==0 || icmpv6.checksum.status==0 || (tcp.checksum.status==0 && tcp.checksum!=0xffff) || udp.checksum.status==0 || _ws.malformed";

/**
 * Reads a capture with tshark, checksum validation on for IP, UDP and TCP
 * (ICMP is always checked), and returns one summary line per bad frame (bad
 * checksum or malformed). Empty means clean.
 *
 * @throws Error when tshark cannot read the file.
 */
export function tsharkCheck(pcapFile: string): string[] {
  const r = sh("tshark", [
    "-n", "-r", pcapFile,
    "-o", "ip.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
    "-Y", BAD_FRAME_FILTER,
  ], { timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`tshark: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tshark -r ${pcapFile} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}
