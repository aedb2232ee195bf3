/**
 * A Linux TAP device as a {@link LinkDriver}, through the native addon in
 * `native/tap` (built by `native/build.mjs`).
 *
 * Node.js on Linux only. Opening needs CAP_NET_ADMIN (root) unless the TAP
 * was made persistent for this user; opening inside a network namespace also
 * needs CAP_SYS_ADMIN.
 *
 * @packageDocumentation
 */
import { createRequire } from "node:module";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import type { LinkDriver } from "./driver.js";

/** The addon's class, as `native/tap/tap.c` defines it. */
interface NativeTap {
  start(cb: (buf: Uint8Array | undefined, count: number) => void, lens: Uint32Array, shared?: Uint8Array): void;
  stop(): void;
  write(frame: ArrayBufferView): number;
  writeBatch(buf: Uint8Array, lens: Uint32Array, count: number): number;
  close(): void;
  ref(): void;
  unref(): void;
  readonly fd: number;
  readonly name: string;
  readonly mtu: number;
  readonly mac: string;
  readonly offload: boolean;
}

interface NativeModule {
  Tap: new (name: string, netns?: string | null, opts?: { offload?: boolean; mtu?: number }) => NativeTap;
  MAX_BATCH: number;
}

/** Where the addon is, relative to the package root. */
const ADDON = "./native/tap/build/Release/asip_tap.node";

let addon: NativeModule | undefined;
let addonError: string | undefined;

function loadAddon(): NativeModule {
  if (addon) return addon;
  if (addonError) throw new Error(addonError);
  if (process.platform !== "linux") {
    addonError = `TAP devices need Linux; this is ${process.platform}`;
    throw new Error(addonError);
  }
  // dist/bindings/netif/tap.js is three directories below the package root.
  const req = createRequire(new URL("../../../package.json", import.meta.url));
  try {
    addon = req(ADDON) as NativeModule;
    return addon;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    addonError =
      err.code === "MODULE_NOT_FOUND"
        ? `the TAP addon is not built (${ADDON} is missing; run \`node native/build.mjs\`, which needs a C compiler, make and python3)`
        : `the TAP addon failed to load: ${err.message}`;
    throw new Error(addonError);
  }
}

/**
 * Why TAP devices cannot be opened in this process, or `null` when the addon
 * loads. Does not check privileges.
 */
export function tapUnavailableReason(): string | null {
  try {
    loadAddon();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Options for {@link TapDevice.open}. */
export interface TapOpenOptions {
  /**
   * The network namespace (a name under /var/run/netns, as `ip netns add`
   * makes) that holds the TAP. Only the opening thread enters it, briefly.
   */
  netns?: string;
  /** Most frames read per wakeup and delivered in one batch (default 256, at most 1024). */
  batch?: number;
  /**
   * `"copy"` (default): each batch is a fresh buffer. `"shared"`: frames are
   * read into one reused buffer, so they are valid only during the callback.
   */
  rxMode?: "copy" | "shared";
  /** Do not keep the Node.js event loop alive while open (default false). */
  unref?: boolean;
  /**
   * Offload (default false): open with IFF_VNET_HDR and TUNSETOFFLOAD
   * (checksum offload, TSO4/TSO6), as QEMU, passt and gVisor do, so 64 KiB
   * TCP super-frames cross the TAP in both directions while the kernel's
   * interface keeps its MTU (`wireMtu`). The device reports `mtu` (the
   * stack's interface MTU; default 65535) instead of the interface's. The
   * addon completes partial checksums of received frames (the core checks
   * every checksum), marks sent TCP frames longer than the wire MTU as GSO,
   * and raises the MSS of the kernel's SYNs to fit `mtu` so asip's TCP uses
   * large segments. Non-TCP packets longer than `wireMtu` are sent whole:
   * the kernel delivers them locally but would not forward them.
   */
  offload?: boolean;
  /** With `offload`: the MTU to report to the stack (1280..65535, default 65535). */
  mtu?: number;
}

/**
 * Receives a batch of frames: `count` frames back to back in `data`, frame
 * `i` being `lengths[i]` bytes long. Valid only during the call.
 */
export type FrameBatchHandler = (data: Uint8Array, lengths: Uint32Array, count: number) => void;

/**
 * An open TAP device. Reads are driven by libuv: every wakeup drains the
 * device (up to `batch` frames) and crosses into JavaScript once. Writes are
 * synchronous, one frame per `write(2)`, straight from the caller's view.
 *
 * @example
 * ```ts
 * const tap = await TapDevice.open("tap0", { netns: "asip-1" });
 * await tap.waitUp();
 * tap.onReceive((frame) => stack.input(frame));
 * tap.send(frame);
 * tap.close();
 * ```
 */
export class TapDevice implements LinkDriver {
  /** Frames received from the kernel. */
  rxFrames = 0;
  /** Bytes received from the kernel. */
  rxBytes = 0;
  /** Wakeups that delivered frames (rxFrames / rxBatches is the mean batch). */
  rxBatches = 0;
  /** Frames written to the kernel. */
  txFrames = 0;
  /** Bytes written to the kernel. */
  txBytes = 0;
  /** Frames that could not be written (see {@link TapDevice.lastTxErrno}). */
  txErrors = 0;
  /** The negative errno of the last failed write (e.g. -11 for EAGAIN, -5 for EIO while the link is down), or 0. */
  lastTxErrno = 0;
  /** Set when reading failed and receiving stopped (e.g. the device was deleted). */
  rxError: Error | undefined;

  /** The interface name. */
  readonly name: string;
  /** The namespace the TAP lives in, if not the process's own. */
  readonly netns: string | undefined;
  /** The MTU for the stack: the interface's, or with `offload` the virtual one (default 65535). */
  readonly mtu: number;
  /** The kernel interface's MTU when opened (the wire's). */
  readonly wireMtu: number;
  /** Whether virtio-net headers and offloads are on (see {@link TapOpenOptions.offload}). */
  readonly offload: boolean;
  /** The kernel side's MAC address of the TAP interface (`aa:bb:cc:dd:ee:ff`). */
  readonly kernelMac: string;

  #tap: NativeTap;
  #closed = false;
  #started = false;
  #lens: Uint32Array;
  #shared: Uint8Array | undefined;
  #frameCb: ((frame: Uint8Array) => void) | undefined;
  #batchCb: FrameBatchHandler | undefined;
  #errorCb: ((err: Error) => void) | undefined;

  private constructor(tap: NativeTap, opts: TapOpenOptions) {
    this.#tap = tap;
    this.name = tap.name;
    this.netns = opts.netns;
    this.wireMtu = tap.mtu;
    this.offload = tap.offload;
    this.mtu = tap.offload ? (opts.mtu ?? 65535) : tap.mtu;
    this.kernelMac = tap.mac;
    const batch = Math.max(1, Math.min(opts.batch ?? 256, 1024));
    this.#lens = new Uint32Array(batch);
    if (opts.rxMode === "shared") this.#shared = new Uint8Array(Math.max(1 << 20, 65568 + batch * 1600));
    if (opts.unref) tap.unref();
  }

  /**
   * Attaches to the TAP interface `name` (creating a non-persistent one if
   * none exists), optionally inside network namespace `opts.netns`.
   *
   * @throws Error when not on Linux, when the addon is not built (the message
   * says how to build it), or when the open fails (the error's `code` is the
   * errno name, e.g. `EPERM`, `ENOENT` for a missing namespace).
   */
  static async open(name: string, opts: TapOpenOptions = {}): Promise<TapDevice> {
    const mod = loadAddon();
    if (opts.mtu !== undefined && (!opts.offload || !Number.isInteger(opts.mtu) || opts.mtu < 1280 || opts.mtu > 65535)) {
      throw new RangeError(`TapDevice.open: mtu ${opts.mtu} needs offload and 1280..65535`);
    }
    const mtu = opts.offload ? (opts.mtu ?? 65535) : 0;
    return new TapDevice(new mod.Tap(name, opts.netns ?? null, { offload: !!opts.offload, mtu }), opts);
  }

  /** The underlying file descriptor (-1 once closed). */
  get fd(): number {
    return this.#tap.fd;
  }

  /** Whether {@link TapDevice.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits until the kernel reports the interface's operational state UP.
   * Right after attaching the TAP is NO-CARRIER for a moment, and a frame
   * sent then can be lost; call this before sending the first frame.
   *
   * @param timeoutMs how long to wait (default 5000)
   * @throws Error on timeout, saying which state the link was in (an
   * interface that was never `ip link set … up` stays DOWN).
   */
  async waitUp(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let state = "unknown";
    for (;;) {
      state = await this.operState();
      if (state === "UP") return;
      if (Date.now() >= deadline) {
        throw new Error(`TAP ${this.name}${this.netns ? ` in netns ${this.netns}` : ""} not UP after ${timeoutMs} ms (operstate ${state})`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The kernel's operstate of the interface (`UP`, `DOWN`, `UNKNOWN`, …). */
  async operState(): Promise<string> {
    if (!this.netns) {
      try {
        return readFileSync(`/sys/class/net/${this.name}/operstate`, "utf8").trim().toUpperCase();
      } catch {
        return "MISSING";
      }
    }
    const out = await new Promise<string>((resolve) => {
      execFile("ip", ["-n", this.netns!, "-j", "link", "show", "dev", this.name], (err, stdout) => resolve(err ? "" : stdout));
    });
    try {
      const j = JSON.parse(out) as Array<{ operstate?: string }>;
      return j[0]?.operstate ?? "UNKNOWN";
    } catch {
      return "MISSING";
    }
  }

  /**
   * Sets the per-frame receive callback ({@link LinkDriver.onReceive}) and
   * starts reading. The frame is valid only during the call.
   */
  onReceive(cb: (frame: Uint8Array) => void): void {
    this.#frameCb = cb;
    this.#start();
  }

  /**
   * Sets a batch receive callback, called once per wakeup with every frame
   * read (no per-frame objects), and starts reading. Runs after the
   * per-frame callback when both are set.
   */
  onBatch(cb: FrameBatchHandler): void {
    this.#batchCb = cb;
    this.#start();
  }

  /** Called once if reading fails (receiving then stops). Without it, the error is only kept in {@link TapDevice.rxError}. */
  onError(cb: (err: Error) => void): void {
    this.#errorCb = cb;
  }

  #start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const lens = this.#lens;
    this.#tap.start((buf, count) => {
      if (buf === undefined) {
        const errno = -count;
        this.rxError = Object.assign(new Error(`reading TAP ${this.name} failed (errno ${errno})`), { errno: count });
        this.#errorCb?.(this.rxError);
        return;
      }
      this.rxBatches++;
      this.rxFrames += count;
      const fcb = this.#frameCb;
      let off = 0;
      if (fcb) {
        for (let i = 0; i < count; i++) {
          const len = lens[i]!;
          fcb(buf.subarray(off, off + len));
          off += len;
          if (this.#closed) return;
        }
      } else {
        for (let i = 0; i < count; i++) off += lens[i]!;
      }
      this.rxBytes += off;
      this.#batchCb?.(buf, lens, count);
    }, lens, this.#shared);
  }

  /**
   * Sends one frame ({@link LinkDriver.send}): one synchronous `write(2)`
   * from the caller's bytes, no copy. Returns false when the frame was not
   * written (counted in {@link TapDevice.txErrors}; EAGAIN is such a case,
   * never an exception).
   */
  send(frame: Uint8Array): boolean {
    const r = this.#tap.write(frame);
    if (r === frame.byteLength) {
      this.txFrames++;
      this.txBytes += r;
      return true;
    }
    this.txErrors++;
    this.lastTxErrno = r < 0 ? r : -5;
    return false;
  }

  /**
   * Sends `count` frames lying back to back in `buf` (frame `i` is
   * `lens[i]` bytes) with one call into the addon: one `write(2)` each.
   * Returns how many were written (it stops at the first failure, counted in
   * {@link TapDevice.txErrors}).
   */
  sendBatch(buf: Uint8Array, lens: Uint32Array, count: number): number {
    const n = this.#tap.writeBatch(buf, lens, count);
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += lens[i]!;
    this.txFrames += n;
    this.txBytes += bytes;
    if (n < count) this.txErrors++;
    return n;
  }

  /** The raw write: bytes written, or a negative errno. Not counted. */
  write(frame: Uint8Array): number {
    return this.#tap.write(frame);
  }

  /** Keep the event loop alive while reading (the default). */
  ref(): this {
    this.#tap.ref();
    return this;
  }

  /** Do not keep the event loop alive just for this device. */
  unref(): this {
    this.#tap.unref();
    return this;
  }

  /**
   * Stops reading and closes the device. A non-persistent TAP (one the
   * kernel created on open) disappears; one made by `ip tuntap add` stays,
   * NO-CARRIER. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tap.close();
  }
}
