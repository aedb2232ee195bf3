/**
 * WHATWG streams over asip, shaped after the WICG Direct Sockets API
 * (UDPSocket / TCPSocket / TCPServerSocket): an object whose `opened`
 * Promise yields `{ readable, writable, … }` and whose `closed` Promise
 * settles when it is gone. Works in browsers and Node (no node: imports).
 *
 * ```ts
 * const u = stack.streams.udp({ localPort: 7 });
 * const { readable, writable } = await u.opened;
 * const w = writable.getWriter();
 * for await (const m of readable) await w.write({ data: m.data, remoteAddress: m.remoteAddress, remotePort: m.remotePort });
 * ```
 *
 * UDP: `readable` is a ReadableStream of {@link UDPMessage} (one per
 * datagram; `data` is a copy). Its queue holds `readableHighWaterMark`
 * datagrams (default 64); past that, datagrams are dropped and counted in
 * `dropped` — UDP's own answer to a slow reader. `writable` takes
 * UDPMessages (`remoteAddress`/`remotePort` may be omitted when connected
 * with `remoteAddress`/`remotePort` options).
 *
 * An AbortSignal (`signal` option) closes the socket and errors both streams
 * with the signal's reason.
 *
 * TCP: `connect(address, port, opts)` → a {@link TCPSocket} whose `opened`
 * yields a ReadableStream of bytes (type "bytes": BYOB readers work) and a
 * WritableStream of BufferSources. Backpressure both ways: a write's
 * Promise settles when the core's send queue has taken all its bytes (SENT
 * events make room), so `writer.ready` waits while the send buffer is full;
 * received bytes are given back to the core's window (tcp_recved) only as
 * the readable side's queue (`readableHighWaterMark` bytes, default 64 KiB)
 * drains, so the peer's window closes while nobody reads. Closing the
 * writable sends FIN; cancelling the readable stops receiving; `close()`
 * closes both; the AbortSignal (`signal`) aborts the connection with a RST.
 * `listen(opts)` → a {@link TCPServerSocket}: `opened` yields a
 * ReadableStream of accepted TCPSockets, and the server is itself an async
 * iterable of them (`for await (const conn of server)`).
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { rawApiFor } from "./raw.js";
import { UDPSocket, type UDPSocketOptions } from "./streams-udp.js";
import { TCPSocket, type TCPSocketOptions } from "./streams-tcp.js";
import { TCPServerSocket, type TCPServerSocketOptions } from "./streams-server.js";

export * from "./streams-udp.js";
export * from "./streams-tcp.js";
export * from "./streams-server.js";

/** `stack.streams`: WHATWG-stream sockets of one stack. */
export class StreamsApi {
  /** @internal */ readonly raw;

  constructor(readonly stack: Stack) {
    this.raw = rawApiFor(stack);
  }

  /** A UDP socket (see {@link UDPSocket}). */
  udp(opts: UDPSocketOptions = {}): UDPSocket {
    return new UDPSocket(this, opts);
  }

  /** A TCP connection (see {@link TCPSocket}). */
  connect(remoteAddress: string, remotePort: number, opts: TCPSocketOptions = {}): TCPSocket {
    return new TCPSocket(this, remoteAddress, remotePort, opts);
  }

  /** A TCP listener (see {@link TCPServerSocket}). */
  listen(opts: TCPServerSocketOptions = {}): TCPServerSocket {
    return new TCPServerSocket(this, opts);
  }
}

const apis = new WeakMap<Stack, StreamsApi>();

/** The stack's WHATWG streams API (what `stack.streams` returns). */
export function streamsApi(stack: Stack): StreamsApi {
  let s = apis.get(stack);
  if (!s) {
    s = new StreamsApi(stack);
    apis.set(stack, s);
  }
  return s;
}
