/**
 * What the core worker and its clients share: message shapes, the layout of
 * a SharedArrayBuffer mailbox, and errors as plain data. No node: imports,
 * so a browser Worker can load it too. The design is documented at the top
 * of bindings/worker/client.ts.
 *
 * @module
 */
import { AsipError } from "../abi.js";
import { SocketError } from "../api/errno.js";
import type { InterfaceOptions, Ip6AddressState } from "../stack.js";

// ---- SharedArrayBuffer mailbox (one per blocking client thread) -----------------------------

/** Int32 index of the state word; the only word anyone waits on. */
export const MB_STATE = 0;
/** Int32 index of the request counter (diagnostics only). */
export const MB_SEQ = 1;
/** Int32 index of the message length in bytes (header + binary). */
export const MB_LEN = 2;
/** Int32 index of the JSON header's length in bytes. */
export const MB_HDR = 3;
/** Byte offset of the data area. */
export const MB_DATA = 16;

/** The slot is free: the client may write a request. */
export const ST_IDLE = 0;
/** A request is in the slot: the core reads it (client waits for != REQUEST). */
export const ST_REQUEST = 1;
/** A response is in the slot: the client reads it and sets IDLE. */
export const ST_RESPONSE = 2;
/** The core is gone: every call fails with ESHUTDOWN. */
export const ST_CLOSED = 3;

/** Default mailbox size: 64 KiB of data area plus the header words. */
export const MAILBOX_BYTES = MB_DATA + 65536;

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Writes a message (JSON header, then raw bytes) into the data area.
 * Returns false when it does not fit.
 */
export function mbWrite(sab: SharedArrayBuffer, header: unknown, bin?: Uint8Array): boolean {
  const h = enc.encode(JSON.stringify(header));
  const n = h.length + (bin?.length ?? 0);
  if (MB_DATA + n > sab.byteLength) return false;
  const u8 = new Uint8Array(sab, MB_DATA);
  u8.set(h, 0);
  if (bin) u8.set(bin, h.length);
  const i32 = new Int32Array(sab, 0, 4);
  Atomics.store(i32, MB_HDR, h.length);
  Atomics.store(i32, MB_LEN, n);
  return true;
}

/** Reads the message in the data area; the bytes are copied out of the shared buffer. */
export function mbRead<H>(sab: SharedArrayBuffer): { header: H; bin: Uint8Array } {
  const i32 = new Int32Array(sab, 0, 4);
  const hl = Atomics.load(i32, MB_HDR), n = Atomics.load(i32, MB_LEN);
  const u8 = new Uint8Array(sab, MB_DATA, n);
  // TextDecoder refuses views of shared memory: copy first.
  const header = JSON.parse(dec.decode(u8.slice(0, hl))) as H;
  return { header, bin: u8.slice(hl, n) };
}

/** The largest binary part a request or response can carry in `sab` (headers are small). */
export function mbCapacity(sab: SharedArrayBuffer): number {
  return sab.byteLength - MB_DATA - 1024;
}

// ---- messages -------------------------------------------------------------------------------

/** A call, by MessagePort (with an id) or in a mailbox (without). */
export interface CallRequest {
  id?: number;
  /** Method name: a sockets call ("recv") or an admin call ("usage", "stats"). */
  m: string;
  /** Arguments, structured-clone/JSON data (buffers are replaced by their lengths; see client.ts). */
  a: unknown[];
  /** Outgoing bytes (send/sendto/write/sendmsg). */
  bin?: Uint8Array;
}

/** The answer to a call. */
export interface CallResponse {
  id?: number;
  ok: boolean;
  /** The C result (a descriptor, a count, 0, an option value). */
  v?: unknown;
  /** Out-parameters: a peer address, select's sets, poll's fds. */
  out?: unknown;
  /** Incoming bytes (recv family). */
  bin?: Uint8Array;
  e?: WireError;
}

/** An error as data (structured clone and JSON both keep it). */
export interface WireError {
  name: string;
  message: string;
  errno?: number;
  code?: string;
  syscall?: string;
  err?: number;
}

export function toWire(e: unknown): WireError {
  if (e instanceof SocketError) return { name: e.name, message: e.message, errno: e.errno, code: e.code, syscall: e.syscall, err: e.err };
  if (e instanceof AsipError) return { name: e.name, message: e.message, code: e.code, err: e.err };
  const x = e as { name?: string; message?: string; code?: string };
  return { name: x?.name ?? "Error", message: x?.message ?? String(e), code: x?.code };
}

/** Rebuilds the error on the caller's side: a SocketError stays a SocketError with the same errno and name. */
export function fromWire(w: WireError): Error {
  if (w.name === "SocketError" && w.errno !== undefined) return new SocketError(w.errno, w.syscall ?? "?", w.err);
  if (w.name === "AsipError" && w.err !== undefined) {
    const e = new AsipError(w.err, "");
    e.message = w.message;
    return e;
  }
  const C = w.name === "TypeError" ? TypeError : w.name === "RangeError" ? RangeError : Error;
  const e = new C(w.message) as Error & { code?: string };
  if (w.code) e.code = w.code;
  return e;
}

// ---- the link and interface descriptions ------------------------------------------------------

/**
 * How the core worker reaches the wire, described as data (it crosses
 * postMessage): frames over a MessagePort (to another core worker, or to a
 * Stack on this thread through {@link portLink}), a WebSocket to a relay
 * (the worker opens it: frames never cross to another thread), or a TAP
 * device (Node, root).
 */
export type LinkDescription =
  | { type: "port"; port: MessagePort; mtu?: number }
  /**
   * Frames through SharedArrayBuffer rings (bindings/worker/ring-link.ts):
   * `sab` from ringBuffer(), the other thread takes the other side;
   * `doorbell` one end of a MessageChannel, the other side the other end.
   */
  | { type: "ring"; sab: SharedArrayBuffer; side: 0 | 1; doorbell?: MessagePort; mtu?: number }
  | {
    type: "websocket"; url: string; token?: string;
    /** The MTU to ask the relay for (WebSocketLinkOptions.mtu). */
    mtu?: number;
    /** Offer the batched framing (default true). */
    batch?: boolean;
  }
  | { type: "tap"; name: string; netns?: string; mtu?: number; offload?: boolean };

/**
 * One interface of the worker's stack: a link and {@link InterfaceOptions}.
 * On a websocket link, `ip`, `gateway` and `mtu` default to what the
 * relay's `config` announces.
 */
export interface InterfaceDescription extends InterfaceOptions {
  link: LinkDescription;
  /** Record its frames (a pcap and a packet log; see StackWorker.capturePcap). */
  capture?: boolean;
}

/** An interface as the core worker reports it. */
export interface InterfaceInfo {
  index: number;
  mac: string;
  ip: string;
  /**
   * Its IPv6 addresses (cores with IPv6), kept current in the StackWorker
   * that made the worker by "iface" events as DAD, SLAAC and lifetimes
   * change them.
   */
  ip6?: Ip6AddressState[];
  /** A websocket link's `config` from the relay. */
  config?: Record<string, unknown>;
}

/** Minimal MessagePort surface shared by Node's worker_threads and the browser. */
export interface PortLike {
  postMessage(msg: unknown, transfer?: unknown[]): void;
  close?(): void;
}

/** Subscribes to a port's messages in Node (`on`) and browsers (`onmessage`) alike. */
export function onMessage(port: unknown, f: (data: any) => void): void {
  const p = port as { on?: (ev: string, f: (d: unknown) => void) => void; onmessage?: unknown };
  if (typeof p.on === "function") p.on("message", f);
  else p.onmessage = (ev: MessageEvent) => f(ev.data);
}

/**
 * Calls `f` once when the port is closed at either end (Node's MessagePort
 * `close` event; browsers that have it). A Worker object has no such event:
 * its end is `exit`.
 */
export function onClose(port: unknown, f: () => void): void {
  const p = port as { once?: (ev: string, f: () => void) => void; addEventListener?: (ev: string, f: () => void, o?: unknown) => void };
  if (typeof p.once === "function") p.once("close", f);
  else p.addEventListener?.("close", f, { once: true });
}

// ---- services: objects that live in the core and talk back --------------------------------------

/**
 * An event from an object living in the core (a pcb, a netconn) to the
 * client that created it, on that client's port. `ch` names the service
 * ("raw", "nc"), `h` the object, `k` the event; bytes travel in `bin`
 * (transferred).
 */
export interface EventMessage {
  type: "ev";
  ch: string;
  h: number;
  k: string;
  a?: unknown[];
  bin?: Uint8Array | null;
}

/**
 * A call without an answer (`{type:"op"}`): fire-and-forget operations on a
 * service object (write, recved, close). They share the port with calls, so
 * the core runs both in the order the client sent them; a failure is
 * reported as an event of that object.
 */
export interface OpMessage {
  type: "op";
  /** "<service>.<operation>", e.g. "raw.tw". */
  m: string;
  a: unknown[];
  bin?: Uint8Array;
}
