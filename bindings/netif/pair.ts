/**
 * pair(): a virtual Ethernet cable between two stacks in one process, with
 * optional seeded impairment for tests: loss, duplication, reordering,
 * corruption, delay and a rate limit.
 *
 * Without impairment a frame goes straight from one core's memory into the
 * other's receive buffer: one copy, no queue.
 *
 * @module
 */
import type { LinkDriver, LinkType } from "./driver.js";

/** Impairment of one direction (or both, when given at the top level). */
export interface Impairment {
  /** Probability (0..1) that a frame is dropped. */
  loss?: number;
  /** Probability that a frame is delivered twice. */
  duplicate?: number;
  /** Probability that a frame is held back and delivered after the next one. */
  reorder?: number;
  /** Probability that one random byte of a frame is flipped. */
  corrupt?: number;
  /** Added one-way delay in ms. */
  delay?: number;
  /** Random extra delay, 0..jitter ms. */
  jitter?: number;
  /** Bits per second; frames beyond it queue (and are dropped past `queue` frames). */
  rate?: number;
  /** Queue limit in frames for the rate limiter (default 1000). */
  queue?: number;
}

/** Options of {@link pair}. */
export interface PairOptions extends Impairment {
  /** PRNG seed, so impaired runs repeat exactly. */
  seed?: number;
  /** MTU both ends report. */
  mtu?: number;
  /** What the cable carries (default "ethernet"; "ip": bare IP packets, like a pair of TUN devices). */
  linkType?: LinkType;
  /** Impairment of frames sent by end A (overrides the top level). */
  aToB?: Impairment;
  /** Impairment of frames sent by end B. */
  bToA?: Impairment;
}

/** Counters of one direction. */
export interface PairCounters {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
}

/** One end of the cable. */
export class PairEnd implements LinkDriver {
  readonly mtu?: number;
  readonly linkType?: LinkType;
  /** Frames sent by this end. */
  readonly counters: PairCounters = { sent: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0 };
  /** @internal */ peer!: PairEnd;
  /** @internal */ rx: (frame: Uint8Array) => void = () => {};
  private closed = false;
  private held: Uint8Array | undefined;
  private busyUntil = 0;
  private queued = 0;

  constructor(private readonly imp: Impairment, private readonly rnd: () => number, mtu?: number, linkType?: LinkType) {
    this.mtu = mtu;
    this.linkType = linkType;
  }

  onReceive(cb: (frame: Uint8Array) => void): void {
    this.rx = cb;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    const c = this.counters;
    c.sent++;
    const imp = this.imp;
    if (imp.loss && this.rnd() < imp.loss) {
      c.lost++;
      return;
    }
    let f = frame;
    const copied = () => {
      if (f === frame) f = frame.slice();
      return f;
    };
    if (imp.corrupt && this.rnd() < imp.corrupt && f.length > 0) {
      copied()[Math.floor(this.rnd() * f.length)] ^= 1 << Math.floor(this.rnd() * 8);
      c.corrupted++;
    }
    const times = imp.duplicate && this.rnd() < imp.duplicate ? 2 : 1;
    if (times === 2) c.duplicated++;
    if (imp.reorder) {
      if (this.held) {
        const h = this.held;
        this.held = undefined;
        for (let i = 0; i < times; i++) this.deliver(f === frame ? frame : f);
        this.deliver(h);
        return;
      }
      if (this.rnd() < imp.reorder) {
        this.held = copied();
        c.reordered++;
        // Release it eventually even if nothing follows.
        setTimeout(() => {
          if (this.held) {
            const h = this.held;
            this.held = undefined;
            this.deliver(h);
          }
        }, 5).unref?.();
        return;
      }
    }
    for (let i = 0; i < times; i++) this.deliver(f);
  }

  private deliver(f: Uint8Array): void {
    const imp = this.imp;
    let delay = (imp.delay ?? 0) + (imp.jitter ? this.rnd() * imp.jitter : 0);
    if (imp.rate) {
      const now = performance.now();
      const start = Math.max(now, this.busyUntil);
      if (this.queued >= (imp.queue ?? 1000)) {
        this.counters.lost++;
        return;
      }
      this.busyUntil = start + ((f.length + 24) * 8 * 1000) / imp.rate;
      delay += this.busyUntil - now;
      this.queued++;
    }
    if (delay <= 0) {
      this.counters.delivered++;
      this.peer.rx(f);
      return;
    }
    const copy = f.slice();
    setTimeout(() => {
      if (imp.rate) this.queued--;
      if (this.closed || this.peer.closed) return;
      this.counters.delivered++;
      this.peer.rx(copy);
    }, delay);
  }

  close(): void {
    this.closed = true;
    this.held = undefined;
  }
}

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0 || 0x12345678;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Makes a cable: returns its two ends, each a {@link LinkDriver}. */
export function pair(opts: PairOptions = {}): [PairEnd, PairEnd] {
  const rnd = prng(opts.seed ?? 1);
  const { aToB, bToA, seed: _s, mtu, linkType, ...both } = opts;
  const a = new PairEnd({ ...both, ...aToB }, rnd, mtu, linkType);
  const b = new PairEnd({ ...both, ...bToA }, rnd, mtu, linkType);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
