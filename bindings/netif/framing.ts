/**
 * Tunnel framing: how Ethernet frames ride in WebSocket messages.
 *
 * Two formats, chosen per connection by WebSocket subprotocol negotiation
 * (RFC 6455 §1.9, `Sec-WebSocket-Protocol`):
 *
 * - **One frame per binary message** (no subprotocol): the format of v86's
 *   and other emulators' network relays (websockproxy, wsnic, …), and the
 *   default. A WebSocket message already has a length, so there is nothing
 *   else on the wire.
 * - **Batched** ({@link BATCH_PROTOCOL}, offered by asip's WebSocketLink and
 *   accepted by asip's relay): a binary message carries one or more
 *   records, each a frame preceded by its length:
 *
 *   ```
 *   +--------+--------+--------+--------+------------------------+
 *   |       length (u32, big-endian)    |  frame (length bytes)  |  … repeated
 *   +--------+--------+--------+--------+------------------------+
 *   ```
 *
 *   A length of 0, or one that runs past the end of the message, makes the
 *   rest of the message invalid (the frames before it stand). Frames queued
 *   while the sender works through one burst (a drain of its stack, one read
 *   of its socket) go out as one message, so the per-message costs — a
 *   syscall, a browser's IPC hop and event, a relay's dispatch — are paid per
 *   burst rather than per frame.
 *
 * Text messages are the JSON control channel in both formats.
 *
 * **MTU.** Either format carries frames of any size up to
 * {@link MAX_TUNNEL_MTU} + 14 (+ 4 with an 802.1Q tag). A client asks for an
 * MTU with the URL's `mtu` query parameter and the relay announces the one
 * it grants in its `config` message; a client that asks for nothing (an
 * emulator) gets the network's ordinary MTU (1500). Stations with different
 * MTUs share the switch as they do on a real LAN: TCP agrees on the smaller
 * MSS in its handshake, and a frame too big for a port is dropped there and
 * counted.
 *
 * No `node:` imports: this file is part of the browser entry.
 *
 * @module
 */

/** The WebSocket subprotocol of the batched framing. */
export const BATCH_PROTOCOL = "asip.batch.v1";

/** The largest MTU a tunnel offers (the IPv4 total-length limit). */
export const MAX_TUNNEL_MTU = 65535;

/** Default size at which a batch is sent without waiting for the end of the burst. */
export const DEFAULT_BATCH_BYTES = 256 * 1024;

/** Largest batched message a receiver accepts (a batch, plus one frame that did not fit, with room to spare). */
export const MAX_BATCH_MESSAGE = 1 << 20;

/** Bytes of the length prefix of each record. */
export const RECORD_HDR = 4;

/**
 * Calls `onFrame` with each frame of a batched message, as views into `msg`
 * (they stay valid as long as `msg` does). Returns the number of frames, or
 * `-(frames before the error) - 1` when a record is malformed (its length 0
 * or past the end); the frames before it were delivered.
 */
export function decodeBatch(msg: Uint8Array, onFrame: (frame: Uint8Array) => void): number {
  const end = msg.length;
  let off = 0, n = 0;
  while (off < end) {
    if (end - off < RECORD_HDR) return -n - 1;
    const len = ((msg[off] << 24) | (msg[off + 1] << 16) | (msg[off + 2] << 8) | msg[off + 3]) >>> 0;
    off += RECORD_HDR;
    if (len === 0 || len > end - off) return -n - 1;
    onFrame(msg.subarray(off, off + len));
    off += len;
    n++;
  }
  return n;
}

/**
 * Builds one batched message from frames the caller keeps unchanged until
 * this returns (one copy of each). `alloc` makes the message's buffer (the
 * relay passes Node's `Buffer.allocUnsafe`, which skips zero-filling).
 */
export function encodeBatch(frames: readonly Uint8Array[], bytes: number, alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
  const out = alloc(bytes + RECORD_HDR * frames.length);
  let off = 0;
  for (const f of frames) {
    const len = f.length;
    out[off] = len >>> 24;
    out[off + 1] = (len >>> 16) & 255;
    out[off + 2] = (len >>> 8) & 255;
    out[off + 3] = len & 255;
    out.set(f, off + RECORD_HDR);
    off += RECORD_HDR + len;
  }
  return out;
}

/**
 * Collects frames that are only valid during the call that hands them over
 * (views over a stack's memory) into batched messages: each frame is copied
 * once, into the message being built. A message goes out through `emit`
 * when it reaches `limit` bytes, or at the end of the current burst
 * (`schedule`, a microtask by default), whichever comes first. Each
 * emitted message is a fresh buffer that the receiver of `emit` owns.
 */
export class FrameBatcher {
  #buf: Uint8Array | undefined;
  #len = 0;
  #frames = 0;
  /** The size the next buffer starts at: follows the bursts seen, so small bursts take small buffers. */
  #cap = 16 * 1024;
  #scheduled = false;
  readonly #flush = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(
    private readonly emit: (msg: Uint8Array, frames: number) => void,
    readonly limit = DEFAULT_BATCH_BYTES,
    private readonly schedule: (f: () => void) => void = (f) => queueMicrotask(f),
  ) {}

  /** Bytes waiting to be sent (records, with their length prefixes). */
  get pending(): number {
    return this.#len;
  }

  /** Copies `frame` into the batch being built. */
  add(frame: Uint8Array): void {
    const need = RECORD_HDR + frame.length;
    if (this.#len > 0 && this.#len + need > this.limit) this.flush();
    let buf = this.#buf;
    if (!buf || buf.length - this.#len < need) {
      const size = Math.max(this.#cap, this.#len + need, buf ? buf.length * 2 : 0);
      const grown = new Uint8Array(Math.min(size, Math.max(this.limit, need) + RECORD_HDR));
      if (buf && this.#len) grown.set(buf.subarray(0, this.#len));
      this.#buf = buf = grown;
    }
    const off = this.#len, len = frame.length;
    buf[off] = len >>> 24;
    buf[off + 1] = (len >>> 16) & 255;
    buf[off + 2] = (len >>> 8) & 255;
    buf[off + 3] = len & 255;
    buf.set(frame, off + RECORD_HDR);
    this.#len = off + need;
    this.#frames++;
    if (this.#len >= this.limit) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      this.schedule(this.#flush);
    }
  }

  /** Sends what is batched now. */
  flush(): void {
    const buf = this.#buf, len = this.#len, frames = this.#frames;
    if (!buf || len === 0) return;
    this.#buf = undefined;
    this.#len = 0;
    this.#frames = 0;
    // The next burst probably looks like this one.
    this.#cap = Math.min(Math.max(4096, 2 ** Math.ceil(Math.log2(len))), this.limit + RECORD_HDR);
    this.emit(len === buf.length ? buf : buf.subarray(0, len), frames);
  }

  /** Forgets what is batched (the connection went away). */
  clear(): void {
    this.#buf = undefined;
    this.#len = 0;
    this.#frames = 0;
  }
}
