/**
 * RingLink: Ethernet frames between two threads through a SharedArrayBuffer
 * holding two single-producer single-consumer rings, one per direction —
 * the Worker-mode transport for frames when memory can be shared (Node;
 * browsers when the page is cross-origin isolated). Sending a frame is one
 * copy into the ring and two atomic stores; the receiving thread is woken
 * only when it was idle, so a busy link carries many frames per wakeup,
 * where {@link PortLink} costs one postMessage (a structured clone and an
 * event) per frame. The wakeup is a one-byte message on a MessagePort (the
 * "doorbell", when the two ends have one: Node's Atomics.waitAsync wakes a
 * thread far later than a port message does), else Atomics.notify with
 * Atomics.waitAsync.
 *
 * ```
 * SharedArrayBuffer: [ ring A | ring B ]     side 0 sends on A, receives on B
 * ring:  Int32[0] HEAD     byte offset the producer writes next (published last)
 *        Int32[1] TAIL     byte offset the consumer reads next
 *        Int32[2] WAITING  1 while the consumer sleeps (the producer then notifies HEAD)
 *        Int32[3] CLOSED   1 once either side closed
 *        Int32[4] DROPPED  frames the producer dropped (ring full)
 *        bytes 32…         records: u32 length (little-endian), frame, padded to 4;
 *                          a length of 0xFFFFFFFF means "continue at offset 0"
 * ```
 * The ring never fills completely (4 bytes stay free), so HEAD == TAIL means
 * empty. Like a wire, a full ring drops the frame (counted) rather than
 * blocking: TCP above recovers.
 *
 * No node: imports.
 *
 * @module
 */
import type { LinkDriver } from "../netif/driver.js";

const HEAD = 0, TAIL = 1, WAITING = 2, CLOSED = 3, DROPPED = 4;
/** Bytes of a ring's header. */
const HDR = 32;
const WRAP = 0xffffffff;

/** Default bytes of each ring's data area: room for a TCP window and more in flight. */
export const DEFAULT_RING_BYTES = 4 << 20;

/** A SharedArrayBuffer for {@link RingLink}s: two rings of `bytes` each. */
export function ringBuffer(bytes = DEFAULT_RING_BYTES): SharedArrayBuffer {
  if (!Number.isInteger(bytes) || bytes < 131072 || bytes % 4 !== 0 || bytes > 1 << 30) {
    throw new RangeError(`ringBuffer: bad size ${bytes} (a multiple of 4, 128 KiB..1 GiB)`);
  }
  return new SharedArrayBuffer(2 * (HDR + bytes));
}

/** Yields to the event loop without a timer's clamp (setImmediate in Node, a MessageChannel task in browsers). */
const yieldTask: () => Promise<void> = typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? () => new Promise<void>((r) => (globalThis as unknown as { setImmediate(f: () => void): void }).setImmediate(r))
  : (() => {
    const ch = new MessageChannel();
    const q: (() => void)[] = [];
    ch.port1.onmessage = () => q.shift()?.();
    return () => new Promise<void>((r) => { q.push(r); ch.port2.postMessage(0); });
  })();

/** Atomics.waitAsync (ES2024; Node 16+, Chromium 87+), typed here since the project's lib is ES2022. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

class Ring {
  /** Wakes the consumer (the producer calls it when WAITING was set). */
  wake: () => void = () => Atomics.notify(this.i32, HEAD);
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly cap: number;
  constructor(sab: SharedArrayBuffer, offset: number, cap: number) {
    this.i32 = new Int32Array(sab, offset, HDR / 4);
    this.u8 = new Uint8Array(sab, offset + HDR, cap);
    this.dv = new DataView(sab, offset + HDR, cap);
    this.cap = cap;
  }

  /** Producer: appends a frame; false when there is no room (or the ring is closed). */
  put(frame: Uint8Array): boolean {
    const i32 = this.i32, cap = this.cap;
    if (Atomics.load(i32, CLOSED)) return false;
    const head = Atomics.load(i32, HEAD), tail = Atomics.load(i32, TAIL);
    const rec = 4 + ((frame.length + 3) & ~3);
    const free = (tail - head - 4 + cap) % cap; // bytes writable without reaching tail
    let at = head;
    if (cap - head < rec) {
      // Does not fit before the end: skip to 0 (a wrap marker if there is room for one).
      if (free < cap - head + rec) return false;
      if (cap - head >= 4) this.dv.setUint32(head, WRAP, true);
      at = 0;
    } else if (free < rec) return false;
    this.dv.setUint32(at, frame.length, true);
    this.u8.set(frame, at + 4);
    let next = at + rec;
    if (next === cap) next = 0;
    Atomics.store(i32, HEAD, next);
    if (Atomics.load(i32, WAITING) && Atomics.compareExchange(i32, WAITING, 1, 2) === 1) this.wake();
    return true;
  }

  /** Consumer: hands every waiting frame to `f` (a view into the ring, valid during the call); returns how many. */
  drain(f: (frame: Uint8Array) => void): number {
    const i32 = this.i32, cap = this.cap;
    let tail = Atomics.load(i32, TAIL);
    const head = Atomics.load(i32, HEAD);
    let n = 0;
    while (tail !== head) {
      if (cap - tail < 4) { tail = 0; continue; }
      const len = this.dv.getUint32(tail, true);
      if (len === WRAP) { tail = 0; continue; }
      f(this.u8.subarray(tail + 4, tail + 4 + len));
      tail += 4 + ((len + 3) & ~3);
      if (tail === cap) tail = 0;
      n++;
      // Free the space as we go, so the producer can refill a big ring while we work.
      if ((n & 63) === 0) Atomics.store(i32, TAIL, tail);
    }
    Atomics.store(i32, TAIL, tail);
    return n;
  }
}

/** Counters of a {@link RingLink}. */
export interface RingLinkCounters {
  txFrames: number;
  rxFrames: number;
  /** Frames dropped because the ring to the other side was full. */
  txDroppedFull: number;
  /** Wakeups of the receiving loop (frames per wakeup = rxFrames / wakeups). */
  wakeups: number;
}

/**
 * One end of a frame link over a SharedArrayBuffer from {@link ringBuffer}.
 * The two threads make one end each, with `side` 0 and 1.
 */
export class RingLink implements LinkDriver {
  readonly counters: RingLinkCounters = { txFrames: 0, rxFrames: 0, txDroppedFull: 0, wakeups: 0 };
  readonly #tx: Ring;
  readonly #rx: Ring;
  #cb: (frame: Uint8Array) => void = () => {};
  #closed = false;
  #deliver = (f: Uint8Array) => this.#cb(f);
  #bell: { postMessage(m: unknown): void; close?(): void } | undefined;
  #rang: (() => void) | undefined;

  /**
   * @param doorbell a MessagePort whose other end the other side passes
   * (optional; see the module notes): the two ends ring each other's.
   */
  constructor(readonly sab: SharedArrayBuffer, readonly side: 0 | 1, readonly mtu?: number, doorbell?: MessagePort) {
    if (!(sab instanceof SharedArrayBuffer)) throw new TypeError("RingLink: sab must be a SharedArrayBuffer from ringBuffer()");
    if (side !== 0 && side !== 1) throw new RangeError("RingLink: side must be 0 or 1");
    const cap = sab.byteLength / 2 - HDR;
    if (!Number.isInteger(cap) || cap < 131072 || cap % 4 !== 0) throw new RangeError("RingLink: sab is not from ringBuffer()");
    const a = new Ring(sab, 0, cap), b = new Ring(sab, HDR + cap, cap);
    [this.#tx, this.#rx] = side === 0 ? [a, b] : [b, a];
    if (doorbell) {
      const bell = doorbell as unknown as { postMessage(m: unknown): void; on?(e: string, f: () => void): void; onmessage: unknown; unref?(): void; close?(): void };
      this.#bell = bell;
      this.#tx.wake = () => bell.postMessage(0);
      const ring = () => this.#rang?.();
      if (typeof bell.on === "function") bell.on("message", ring);
      else bell.onmessage = ring;
    }
    void this.#loop();
  }

  async #loop(): Promise<void> {
    const rx = this.#rx, i32 = rx.i32;
    while (!this.#closed && !Atomics.load(i32, CLOSED)) {
      const n = rx.drain(this.#deliver);
      this.counters.rxFrames += n;
      if (n > 0) {
        // Let the stack drain what these frames caused (and other events run) before looking again.
        await yieldTask();
        continue;
      }
      const head = Atomics.load(i32, HEAD);
      // Sleeping: the producer rings (WAITING 1 → 2) after its next frame.
      Atomics.store(i32, WAITING, 1);
      // A frame published between our drain and WAITING=1 would not ring: look once more.
      if (Atomics.load(i32, HEAD) !== Atomics.load(i32, TAIL)) {
        Atomics.store(i32, WAITING, 0);
        continue;
      }
      if (this.#bell) {
        await new Promise<void>((r) => (this.#rang = r));
        this.#rang = undefined;
      } else {
        const w = waitAsync(i32, HEAD, head);
        if (w.async) await w.value;
      }
      Atomics.store(i32, WAITING, 0);
      this.counters.wakeups++;
    }
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    if (this.#tx.put(frame)) this.counters.txFrames++;
    else {
      this.counters.txDroppedFull++;
      Atomics.add(this.#tx.i32, DROPPED, 1);
    }
  }

  onReceive(cb: (frame: Uint8Array) => void): void {
    this.#cb = cb;
  }

  /** Closes both directions (the other end's loop ends too). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of [this.#tx, this.#rx]) {
      Atomics.store(r.i32, CLOSED, 1);
      Atomics.notify(r.i32, HEAD);
    }
    try { this.#bell?.postMessage(0); } catch { /* closed */ }
    this.#rang?.();
    this.#bell?.close?.();
  }
}
