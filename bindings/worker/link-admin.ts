/**
 * What a core worker does for its interfaces beyond carrying frames, for a
 * client in another thread (the web demo's UI, tests): record frames (a
 * pcap and the last few frames for a packet log), and ping (ICMP echo on a
 * raw pcb, which Worker mode does not offer to other threads). No node:
 * imports: a browser Worker runs it.
 *
 * @module
 */
import type { LinkDriver } from "../netif/driver.js";
import { PcapWriter } from "../netif/pcap.js";
import type { Stack } from "../stack.js";

/** One frame of the packet log: its first bytes, which way it went, when. */
export interface LoggedFrame {
  seq: number;
  dir: "in" | "out";
  /** performance.now() in the worker when the frame passed. */
  t: number;
  /** The interface it passed on. */
  index: number;
  /** Its first `headBytes` bytes. */
  head: Uint8Array;
  len: number;
}

/**
 * Records every frame of the interfaces wrapped with {@link FrameRecorder.wrap}:
 * into a pcap (up to `maxFrames`, then only counted) and a log of the last
 * `logFrames` frames' heads.
 */
export class FrameRecorder {
  readonly pcap = new PcapWriter();
  private readonly log: LoggedFrame[] = [];
  private seq = 0;
  frames = 0;

  constructor(readonly maxFrames = 50000, readonly logFrames = 200, readonly headBytes = 256) {}

  /** A driver that records what crosses `link` (interface `index` once it is known: set `.index`). */
  wrap(link: LinkDriver): LinkDriver & { index: number } {
    const rec = this;
    return {
      index: 0,
      get mtu() { return link.mtu; },
      send(frame) { rec.record("out", this.index, frame); link.send(frame); },
      onReceive(cb) { link.onReceive((frame) => { rec.record("in", this.index, frame); cb(frame); }); },
      close() { return link.close(); },
    };
  }

  private record(dir: "in" | "out", index: number, frame: Uint8Array): void {
    this.frames++;
    if (this.pcap.frames < this.maxFrames) this.pcap.write(frame);
    this.log.push({ seq: ++this.seq, dir, t: performance.now(), index, head: frame.slice(0, this.headBytes), len: frame.length });
    if (this.log.length > this.logFrames) this.log.splice(0, this.log.length - this.logFrames);
  }

  /** The logged frames after `since` (a seq), oldest first. */
  after(since: number): LoggedFrame[] {
    return this.log.filter((e) => e.seq > since);
  }
}

/** RFC 1071 checksum of an ICMP message. */
function icmpChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

let pingId = Math.floor(Math.random() * 0xffff);

/**
 * Pings `to` (ICMP echo, RFC 792) `count` times, `intervalMs` apart, each
 * waiting up to `timeoutMs`; resolves with the round-trip times in ms
 * (NaN for a lost one).
 */
export async function ping(stack: Stack, to: string, count = 4, intervalMs = 200, timeoutMs = 1000): Promise<number[]> {
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new RangeError(`ping: bad count ${count} (1..1000)`);
  const pcb = stack.raw.ip.new(1);
  const id = (pingId = (pingId + 1) & 0xffff);
  const sentAt = new Map<number, number>();
  const rtts: number[] = [];
  const waiters = new Map<number, () => void>();
  pcb.recv((pkt, _src, info) => {
    const o = info.hlen;
    if (pkt[o] !== 0 || ((pkt[o + 4] << 8) | pkt[o + 5]) !== id) return;
    const seq = (pkt[o + 6] << 8) | pkt[o + 7];
    const t0 = sentAt.get(seq);
    if (t0 === undefined) return;
    rtts[seq] = performance.now() - t0;
    waiters.get(seq)?.();
  });
  try {
    for (let seq = 0; seq < count; seq++) {
      const req = new Uint8Array(64);
      req[0] = 8;
      req[4] = id >> 8; req[5] = id & 255; req[6] = seq >> 8; req[7] = seq & 255;
      for (let i = 8; i < req.length; i++) req[i] = i;
      const c = icmpChecksum(req);
      req[2] = c >> 8; req[3] = c & 255;
      rtts[seq] = NaN;
      const got = new Promise<void>((r) => { waiters.set(seq, r); setTimeout(r, timeoutMs); });
      sentAt.set(seq, performance.now());
      pcb.sendto(req, to);
      await got;
      if (seq + 1 < count) await new Promise((r) => setTimeout(r, intervalMs));
    }
  } finally {
    pcb.remove();
  }
  return rtts;
}
