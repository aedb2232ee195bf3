/**
 * The shapes the raw API's pcbs share: the callbacks and options, and the
 * interfaces that both the in-thread pcbs (raw-udp.ts, raw-tcp.ts) and the
 * Worker-mode remote pcbs (bindings/worker/remote-raw.ts) implement. net,
 * dgram and streams program against these, so the compiler checks that
 * whatever they call exists in both modes.
 *
 * @module
 */
import type { AsipError } from "../abi.js";
import type { IpAddress } from "../ip-address.js";
import type { IpType } from "./raw-args.js";

/** @internal How the raw API hands one event record to the pcb it names. */
export interface Dispatch {
  ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number): void;
}

/** TCP event types (assembly/abi/tcp.ts). */
export const EV_TCP = { ACCEPT: 50, CONNECTED: 51, RECV: 52, SENT: 53, ERR: 54, FIN: 55, POLL: 56 } as const;

/** tcp_state names, by value (assembly/tcp/tcp.ts). */
export const TCP_STATES = [
  "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
  "LAST_ACK", "TIME_WAIT",
] as const;
export type TcpStateName = (typeof TCP_STATES)[number];

/** `data` is valid only during the call; null means the peer closed its side (FIN). */
export type TcpRecvFn = (data: Uint8Array | null) => void;
/** Gets the new connection (set its callbacks there); `P` is the pcb class of the mode. */
export type TcpAcceptFn<P extends TcpPcbLike = TcpPcbLike> = (pcb: P) => void;
/** `err` null: connected. */
export type TcpConnectedFn = (err: AsipError | null) => void;
/** `len` bytes newly acknowledged; `sndbuf` bytes may be written now. */
export type TcpSentFn = (len: number, sndbuf: number) => void;
/** The connection is gone (ERR_RST, ERR_ABRT, …); the pcb is dead already. */
export type TcpErrFn = (err: AsipError) => void;

/** Options of {@link TcpPcb.write}. */
export interface TcpWriteOptions {
  /** More data follows at once: no PSH, and Nagle may hold a small tail (TCP_WRITE_FLAG_MORE). */
  more?: boolean;
  /** Call tcp_output after queueing (default true; false = lwIP's write-then-output). */
  output?: boolean;
}

/** An ICMP error about a datagram this pcb sent (RFC 792, RFC 1122 §4.1.3.3). */
export interface UdpErrorInfo {
  type: number;
  code: number;
  /** "port unreachable", … */
  name: string;
  /** Destination of the datagram that caused it. */
  addr: string;
  port: number;
}


/** What a UDP receive callback learns besides the payload and the source. */
export interface UdpRecvMeta {
  /** Destination address (ours, or the broadcast/multicast address it was sent to). */
  readonly dst: string;
  /** Index of the netif it arrived on. */
  readonly netif: number;
  readonly broadcast: boolean;
  readonly multicast: boolean;
  /** 4 or 6: the family of the datagram's addresses. */
  readonly family: 4 | 6;
}

/** `data` is valid only during the call (in-thread; a copy in Worker mode). */
export type UdpRecvFn = (data: Uint8Array, addr: string, port: number, info: UdpRecvMeta) => void;
export type UdpErrFn = (err: UdpErrorInfo) => void;

/** Options of `raw.udp.new()`. */
export interface UdpNewOptions {
  /** UDP-Lite (RFC 3828) instead of UDP. */
  lite?: boolean;
  /** The pcb's family (default 4). */
  ipType?: IpType;
}

/** The local end a bind/listen/connect ended up with. */
export interface LocalAddress {
  localAddress: string;
  localPort: number;
}

/** A UDP pcb, in-thread or in a Worker: what net, dgram and streams may use. */
export interface UdpPcbLike {
  /** Nonzero while the pcb lives. */
  readonly handle: number;
  /** The outcome of the operations so far: undefined in-thread (they throw at once), a Promise in Worker mode. */
  readonly ready: Promise<LocalAddress> | undefined;
  bind(ip: string, port: number): this;
  bindNetif(index: number): this;
  connect(ip: string, port: number): this;
  disconnect(): this;
  readonly localPort: number;
  readonly localAddress: string;
  set broadcast(on: boolean);
  set reuseaddr(on: boolean);
  setTtlTos(ttl: number, tos?: number): this;
  setMulticast(ttl: number, loop: boolean): this;
  recv(fn: UdpRecvFn | undefined): this;
  err(fn: UdpErrFn | undefined): this;
  send(data: Uint8Array): void;
  sendto(data: Uint8Array, ip: string, port: number): void;
  sendToAddress(data: Uint8Array, ip: IpAddress, port: number, what?: string): void;
  sendWith(len: number, fill: (buf: Uint8Array) => void, ip?: string, port?: number): void;
  remove(): void;
}

/** A TCP pcb, in-thread or in a Worker: what net, dgram and streams may use. */
export interface TcpPcbLike {
  /** Nonzero while the pcb lives (0 once closed, aborted or reset). */
  readonly handle: number;
  /** The outcome of the operations so far: undefined in-thread (they throw at once), a Promise in Worker mode. */
  readonly ready: Promise<LocalAddress> | undefined;
  bind(ip: string, port: number): this;
  listen(backlog?: number, synQueue?: number): this;
  /**
   * bind + listen the way a Node listener on Linux does (raw.ts
   * tcpListenExclusive): it binds over lingering connections (SO_REUSEADDR,
   * which the listener keeps and its connections inherit), never beside a
   * second listener on the port. `exclusive`: no SO_REUSEADDR at all.
   */
  listenExclusive(ip: string, port: number, backlog: number, exclusive: boolean): void;
  accept(fn: TcpAcceptFn | undefined): this;
  connect(ip: string, port: number, fn?: TcpConnectedFn): this;
  recv(fn: TcpRecvFn | undefined): this;
  sent(fn: TcpSentFn | undefined): this;
  err(fn: TcpErrFn | undefined): this;
  poll(fn: (() => void) | undefined, interval?: number): this;
  write(data: Uint8Array, opts?: TcpWriteOptions): number;
  output(): void;
  recved(len: number): void;
  readonly sndbuf: number;
  readonly sndqueuelen: number;
  readonly state: TcpStateName;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  set nagle(on: boolean);
  set reuseaddr(on: boolean);
  keepalive(on: boolean, idleMs?: number, intervalMs?: number, count?: number): this;
  set cc(algo: "newreno" | "cubic");
  set prio(p: number);
  setTtlTos(ttl: number, tos?: number): this;
  close(): void;
  shutdown(rx: boolean, tx: boolean): void;
  abort(): void;
  /** Reopen the receive window after each recv callback (default); false: call recved yourself. */
  autoRecved: boolean;
  bytesReceived: number;
  bytesWritten: number;
}

/** The raw API's TCP and UDP halves, in-thread (RawApi) or in a Worker (RemoteRaw). */
export interface RawApiLike {
  readonly tcp: { "new"(ipType?: IpType): TcpPcbLike };
  readonly udp: { "new"(opts?: UdpNewOptions): UdpPcbLike };
}
