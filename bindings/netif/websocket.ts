/**
 * WebSocketLink: Ethernet frames over a WebSocket. Works in browsers (the
 * global WebSocket) and in Node.js (pass the `ws` package's WebSocket, or use
 * Node's global one where it exists).
 *
 * The link offers the batched framing's subprotocol ({@link BATCH_PROTOCOL},
 * bindings/netif/framing.ts) and asks for a large MTU (`?mtu=`, 65535 unless
 * `mtu` is given). asip's relay accepts both: the frames of one burst then go
 * as one message, and TCP uses 64 KiB segments. A server that selects no
 * subprotocol (an emulator's relay) gets one frame per binary message, and
 * the MTU its `config` announces, or 1500.
 *
 * Text messages on the same socket are a small JSON control channel with the
 * relay (bindings/node/relay.ts): the relay announces an address for the
 * client (`{type:"config", ...}`) and carries WebRTC signalling
 * (`{type:"signal", ...}`). See {@link ControlMessage}.
 *
 * Like a real wire, the link never queues without bound: when the socket's
 * `bufferedAmount` is above `maxBuffered`, or the socket is not open, a frame
 * is dropped and counted (TCP above recovers; UDP loses it, as it would on a
 * congested Ethernet). When the socket closes, the link reconnects with
 * exponential backoff plus jitter unless it was closed on purpose or the
 * relay refused us for good (close code 1008, policy: a bad token, a
 * misbehaving client).
 *
 * @packageDocumentation
 */
import type { LinkDriver } from "./driver.js";
import { BATCH_PROTOCOL, DEFAULT_BATCH_BYTES, MAX_TUNNEL_MTU, FrameBatcher, decodeBatch } from "./framing.js";

/** Just what the link uses of a WebSocket (the browser's and `ws`'s agree on it). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  /** The subprotocol the server selected ("" for none). */
  readonly protocol?: string;
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}
/**
 * A WebSocket constructor: the browser's (`new WebSocket(url, protocols)`) or
 * the `ws` package's, which also takes an options object as a third argument.
 */
export type WebSocketCtor = new (url: string, protocols?: string | string[], options?: any) => WebSocketLike;

/** A control message (text frame, JSON) between the relay and a client. */
export type ControlMessage =
  /** Relay → client on connect: who we are on the switch, and the address to take (when the relay has one for us). */
  | { type: "config"; id: string; ip?: string; gateway?: string; dns?: string; mtu?: number; hostAlias?: string }
  /** Client → relay → client: WebRTC signalling (or any opaque message) to another client by id. */
  | { type: "signal"; to: string; from?: string; data: unknown }
  /** Relay → client: the ids of the other clients (on connect and when it changes). */
  | { type: "peers"; peers: string[] }
  | { type: string; [k: string]: unknown };

/** Options of {@link WebSocketLink}. */
export interface WebSocketLinkOptions {
  /** The WebSocket implementation (default: globalThis.WebSocket). In Node 20, pass `(await import("ws")).WebSocket`. */
  WebSocket?: WebSocketCtor;
  /** Appended to the URL as `?token=` (the relay's `--token`). */
  token?: string;
  /**
   * The MTU to ask the relay for, and to report to the stack (576..65535).
   * Default: ask for 65535 and report what the relay's `config` announces
   * (1500 before it has, or when it announces none).
   */
  mtu?: number;
  /** Offer the batched framing (default true); false speaks one frame per message only. */
  batch?: boolean;
  /** A batch is sent once it holds this many bytes, even mid-burst (default 256 KiB). */
  batchBytes?: number;
  /**
   * Options for the `ws` package's constructor (its third argument; browsers
   * have none). For example `{ generateMask: (m: Uint8Array) => m.fill(0) }`
   * makes a Node client skip masking its frames (RFC 6455 §5.3 masks exist
   * for browser-controlled payloads meeting confused proxies): a trusted
   * Node process on loopback saves a pass over every byte.
   */
  wsOptions?: Record<string, unknown>;
  /** Frames are dropped while the socket buffers more than this many bytes (default 1 MiB). */
  maxBuffered?: number;
  /** Reconnect after the socket closes (default true). */
  reconnect?: boolean;
  /** First reconnect delay in ms (default 250), doubled per failure up to `maxDelay` (default 10000). */
  minDelay?: number;
  maxDelay?: number;
  /** Called for each control (text) message from the relay. */
  onControl?: (msg: ControlMessage) => void;
  /** Called when the link goes up or down. */
  onState?: (up: boolean) => void;
}

/** Counters of a {@link WebSocketLink}. */
export interface WebSocketLinkCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Binary messages received / sent (fewer than frames when batched). */
  rxMessages: number;
  txMessages: number;
  /** Batched messages with a malformed record (the rest of such a message is dropped). */
  rxBadBatch: number;
  /** Frames dropped because bufferedAmount was above maxBuffered. */
  txDroppedFull: number;
  /** Frames dropped because the socket was not open. */
  txDroppedDown: number;
  /** Text messages that were not valid JSON control messages. */
  rxBadControl: number;
  /** Connections made (1 + reconnects). */
  connects: number;
}

const OPEN = 1;

/** A {@link LinkDriver} over a WebSocket. */
export class WebSocketLink implements LinkDriver {
  readonly url: string;
  readonly counters: WebSocketLinkCounters = {
    rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxMessages: 0, txMessages: 0, rxBadBatch: 0,
    txDroppedFull: 0, txDroppedDown: 0, rxBadControl: 0, connects: 0,
  };
  /** The last `config` message from the relay (our id and announced address). */
  config: Extract<ControlMessage, { type: "config" }> | undefined;
  /** Why the relay closed us for good, when it did (close code 1008). */
  refused: string | undefined;

  #ctor: WebSocketCtor;
  #opts: WebSocketLinkOptions;
  #ws: WebSocketLike | undefined;
  #rx: (frame: Uint8Array) => void = () => {};
  #closed = false;
  #delay: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #controlListeners = new Set<(msg: ControlMessage) => void>();
  /** The batcher of the current connection, when it speaks the batched framing. */
  #batcher: FrameBatcher | undefined;

  constructor(url: string, opts: WebSocketLinkOptions = {}) {
    const ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!ctor) throw new Error("WebSocketLink: no WebSocket implementation (in Node 20 pass { WebSocket } from the `ws` package)");
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 576 || opts.mtu > MAX_TUNNEL_MTU)) {
      throw new RangeError(`WebSocketLink: bad MTU ${opts.mtu} (576..${MAX_TUNNEL_MTU})`);
    }
    const batchBytes = opts.batchBytes ?? DEFAULT_BATCH_BYTES;
    if (!Number.isInteger(batchBytes) || batchBytes < 2048 || batchBytes > (1 << 20) - 65600) {
      throw new RangeError(`WebSocketLink: bad batchBytes ${opts.batchBytes} (2048..${(1 << 20) - 65600})`);
    }
    this.#ctor = ctor;
    this.#opts = opts;
    this.#delay = opts.minDelay ?? 250;
    const u = new URL(url);
    if (opts.token !== undefined) u.searchParams.set("token", opts.token);
    if (!u.searchParams.has("mtu")) u.searchParams.set("mtu", String(opts.mtu ?? MAX_TUNNEL_MTU));
    this.url = u.toString();
    if (opts.onControl) this.#controlListeners.add(opts.onControl);
    this.#connect();
  }

  /** The MTU to give the stack: the one asked for, else the relay's announced one, else 1500. */
  get mtu(): number {
    return this.#opts.mtu ?? this.config?.mtu ?? 1500;
  }

  /** True while the socket is open. */
  get up(): boolean {
    return this.#ws?.readyState === OPEN;
  }

  /** True while the connection speaks the batched framing (the server selected {@link BATCH_PROTOCOL}). */
  get batched(): boolean {
    return this.#batcher !== undefined;
  }

  /** Resolves when the socket is open and the relay has sent its `config` (rejects if the link is closed or refused first). */
  ready(): Promise<void> {
    if (this.up && this.config) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error(this.refused ?? "WebSocketLink closed"));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Adds a listener of control messages; returns a function that removes it. */
  addControlListener(fn: (msg: ControlMessage) => void): () => void {
    this.#controlListeners.add(fn);
    return () => this.#controlListeners.delete(fn);
  }

  /** Sends a control message (JSON text) to the relay; false when the socket is not open. */
  sendControl(msg: ControlMessage): boolean {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  #connect(): void {
    if (this.#closed) return;
    let ws: WebSocketLike;
    try {
      const protocols = this.#opts.batch === false ? [] : [BATCH_PROTOCOL];
      ws = this.#opts.wsOptions ? new this.#ctor(this.url, protocols, this.#opts.wsOptions) : new this.#ctor(this.url, protocols);
    } catch (e) {
      this.#fail(new Error(`WebSocketLink: ${(e as Error).message}`));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.onopen = () => {
      this.counters.connects++;
      this.#batcher?.clear();
      this.#batcher = ws.protocol === BATCH_PROTOCOL
        ? new FrameBatcher((msg, frames) => this.#sendBatch(ws, msg, frames), this.#opts.batchBytes ?? DEFAULT_BATCH_BYTES)
        : undefined;
      this.#delay = this.#opts.minDelay ?? 250;
      this.#opts.onState?.(true);
    };
    ws.onmessage = (ev: { data: unknown }) => {
      const d = ev.data;
      if (typeof d === "string") {
        this.#control(d);
        return;
      }
      let frame: Uint8Array;
      if (d instanceof ArrayBuffer) frame = new Uint8Array(d);
      else if (ArrayBuffer.isView(d)) frame = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      else if (Array.isArray(d)) {
        // ws with binaryType "fragments" (not ours, but be safe): join them.
        const parts = d as Uint8Array[];
        frame = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) { frame.set(p, o); o += p.length; }
      } else return; // a Blob: binaryType was changed under us; ignore
      this.counters.rxMessages++;
      if (this.#batcher) {
        const n = decodeBatch(frame, this.#rxBatched);
        if (n < 0) this.counters.rxBadBatch++;
        return;
      }
      this.counters.rxFrames++;
      this.counters.rxBytes += frame.length;
      this.#rx(frame);
    };
    ws.onerror = () => {
      // onclose follows and decides about reconnecting.
    };
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#batcher?.clear();
      this.#batcher = undefined;
      this.#opts.onState?.(false);
      if (ev?.code === 1008) {
        // Policy violation: a wrong token or a client the relay threw out. Retrying would not help.
        this.refused = `relay refused the link: ${ev.reason || "policy violation"}`;
        this.#fail(new Error(this.refused));
        return;
      }
      if (this.#closed || this.#opts.reconnect === false) {
        this.#fail(new Error("WebSocketLink closed"));
        return;
      }
      // Backoff with jitter (0.5..1 × delay) so many clients do not reconnect in lockstep.
      const wait = this.#delay * (0.5 + Math.random() / 2);
      this.#delay = Math.min(this.#delay * 2, this.#opts.maxDelay ?? 10000);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#connect();
      }, wait);
    };
  }

  #control(text: string): void {
    let msg: ControlMessage;
    try {
      msg = JSON.parse(text);
      if (!msg || typeof msg !== "object" || typeof msg.type !== "string") throw new Error("no type");
    } catch {
      this.counters.rxBadControl++;
      return;
    }
    if (msg.type === "config") {
      this.config = msg as Extract<ControlMessage, { type: "config" }>;
      const w = this.#waiters;
      this.#waiters = [];
      for (const x of w) x.resolve();
    }
    for (const fn of this.#controlListeners) {
      try {
        fn(msg);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  #fail(e: Error): void {
    this.#closed = this.#closed || this.refused !== undefined || this.#opts.reconnect === false;
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.reject(e);
  }

  onReceive(cb: (frame: Uint8Array) => void): void {
    this.#rx = cb;
  }

  readonly #rxBatched = (frame: Uint8Array): void => {
    this.counters.rxFrames++;
    this.counters.rxBytes += frame.length;
    this.#rx(frame);
  };

  send(frame: Uint8Array): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) {
      this.counters.txDroppedDown++;
      return;
    }
    const b = this.#batcher;
    if (ws.bufferedAmount + (b ? b.pending : 0) > (this.#opts.maxBuffered ?? 1 << 20)) {
      this.counters.txDroppedFull++;
      return;
    }
    this.counters.txFrames++;
    this.counters.txBytes += frame.length;
    // The frame is a view over the stack's memory, valid only now: it is
    // copied (into the batch, or on its own: browsers copy on send anyway,
    // but ws may keep the view while it is queued).
    if (b) b.add(frame);
    else {
      ws.send(frame.slice());
      this.counters.txMessages++;
    }
  }

  #sendBatch(ws: WebSocketLike, msg: Uint8Array, _frames: number): void {
    if (this.#ws !== ws || ws.readyState !== OPEN) return;
    ws.send(msg);
    this.counters.txMessages++;
  }

  close(): void {
    if (this.#closed && !this.#ws) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#batcher?.flush();
    this.#batcher = undefined;
    const ws = this.#ws;
    this.#ws = undefined;
    this.#rx = () => {};
    try {
      ws?.close(1000, "bye");
    } catch {
      // already closing
    }
    this.#fail(new Error("WebSocketLink closed"));
  }
}
