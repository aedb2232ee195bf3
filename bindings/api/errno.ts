/**
 * POSIX errno names and values, lwIP's err_t → errno mapping, and the Error
 * shapes the host APIs throw.
 *
 * Three kinds of errors leave the host APIs:
 *  - {@link AsipError} (bindings/abi.ts): the sequential and raw APIs, whose
 *    `code` is the err_t name ("ERR_USE"), as lwIP's netconn returns err_t.
 *  - {@link SocketError}: BSD sockets; `errno` is the positive POSIX value
 *    (Linux numbering) and `code` its name ("EADDRINUSE"), like C's errno.
 *  - {@link nodeError}: node:net / node:dgram; shaped like Node's own system
 *    errors: `code` "ECONNREFUSED", `errno` NEGATIVE (libuv's convention, so
 *    `err.errno === -os.constants.errno.ECONNREFUSED` holds on Linux), plus
 *    `syscall`, `address` and `port`, and Node's message
 *    "connect ECONNREFUSED 192.0.2.2:80". Node's argument errors (ERR_*)
 *    come from {@link nodeCodeError}.
 *
 * @module
 */
import { AsipError, ERR, errName } from "../abi.js";

/** POSIX errno values as Linux numbers them (asm-generic/errno*.h). */
export const errno = {
  EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, EBADF: 9, EAGAIN: 11, EWOULDBLOCK: 11, ENOMEM: 12, EACCES: 13,
  EFAULT: 14, EBUSY: 16, EEXIST: 17, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOSPC: 28, EPIPE: 32, ERANGE: 34,
  ENOSYS: 38, ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90, EPROTOTYPE: 91, ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93, ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95, EAFNOSUPPORT: 97, EADDRINUSE: 98,
  EADDRNOTAVAIL: 99, ENETDOWN: 100, ENETUNREACH: 101, ECONNABORTED: 103, ECONNRESET: 104, ENOBUFS: 105,
  EISCONN: 106, ENOTCONN: 107, ESHUTDOWN: 108, ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTDOWN: 112,
  EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115,
} as const;
export type ErrnoName = keyof typeof errno;

const ERRNO_NAMES = new Map<number, ErrnoName>();
for (const [k, v] of Object.entries(errno) as [ErrnoName, number][]) {
  // EAGAIN and EWOULDBLOCK share 11: name it EAGAIN, as strerror/Node do.
  if (!ERRNO_NAMES.has(v)) ERRNO_NAMES.set(v, k);
}

/** strerror(3) texts (glibc), for messages. */
const STRERROR: Partial<Record<ErrnoName, string>> = {
  EBADF: "Bad file descriptor", EAGAIN: "Resource temporarily unavailable", ENOMEM: "Cannot allocate memory",
  EINVAL: "Invalid argument", EMFILE: "Too many open files", EPIPE: "Broken pipe", ENOTSOCK: "Socket operation on non-socket",
  EDESTADDRREQ: "Destination address required", EMSGSIZE: "Message too long", EPROTOTYPE: "Protocol wrong type for socket",
  ENOPROTOOPT: "Protocol not available", EPROTONOSUPPORT: "Protocol not supported", EOPNOTSUPP: "Operation not supported",
  EAFNOSUPPORT: "Address family not supported by protocol", EADDRINUSE: "Address already in use",
  EADDRNOTAVAIL: "Cannot assign requested address", ENETUNREACH: "Network is unreachable",
  ECONNABORTED: "Software caused connection abort", ECONNRESET: "Connection reset by peer",
  ENOBUFS: "No buffer space available", EISCONN: "Transport endpoint is already connected",
  ENOTCONN: "Transport endpoint is not connected", ESHUTDOWN: "Cannot send after transport endpoint shutdown",
  ETIMEDOUT: "Connection timed out", ECONNREFUSED: "Connection refused", EHOSTUNREACH: "No route to host",
  EALREADY: "Operation already in progress", EINPROGRESS: "Operation now in progress", EIO: "Input/output error",
  ENOSYS: "Function not implemented",
};

/** The name of a (positive) errno value: 111 → "ECONNREFUSED". */
export function errnoName(e: number): string {
  return ERRNO_NAMES.get(Math.abs(e)) ?? `E${Math.abs(e)}`;
}

/** strerror(3). */
export function strerror(e: number | string): string {
  const name = typeof e === "string" ? e : errnoName(e);
  return STRERROR[name as ErrnoName] ?? name;
}

/**
 * lwIP's err_to_errno (sockets.c err_to_errno_table): the errno a socket call
 * reports for an err_t. ERR_TIMEOUT and ERR_WOULDBLOCK are EWOULDBLOCK (a
 * receive timeout looks like a nonblocking miss, as in lwIP and Linux with
 * SO_RCVTIMEO); ERR_CLSD is ENOTCONN; ERR_ARG, which lwIP maps to EIO, is
 * EINVAL here (asip returns ERR_ARG for arguments the host got wrong).
 */
export function errToErrno(err: number): number {
  switch (errName(err)) {
    case "ERR_OK": return 0;
    case "ERR_MEM": return errno.ENOMEM;
    case "ERR_BUF": return errno.ENOBUFS;
    case "ERR_TIMEOUT": return errno.EWOULDBLOCK;
    case "ERR_RTE": return errno.EHOSTUNREACH;
    case "ERR_INPROGRESS": return errno.EINPROGRESS;
    case "ERR_VAL": return errno.EINVAL;
    case "ERR_WOULDBLOCK": return errno.EWOULDBLOCK;
    case "ERR_USE": return errno.EADDRINUSE;
    case "ERR_ALREADY": return errno.EALREADY;
    case "ERR_ISCONN": return errno.EISCONN;
    case "ERR_CONN": return errno.ENOTCONN;
    case "ERR_IF": return errno.EIO;
    case "ERR_ABRT": return errno.ECONNABORTED;
    case "ERR_RST": return errno.ECONNRESET;
    case "ERR_CLSD": return errno.ENOTCONN;
    case "ERR_ARG": return errno.EINVAL;
    default: return errno.EIO;
  }
}

/**
 * The errno Node reports for an err_t in a given syscall: like
 * {@link errToErrno}, but a refused connect (ERR_RST, ERR_CONN while
 * connecting) is ECONNREFUSED, an abort by the retransmission timers
 * (ERR_ABRT / ERR_TIMEOUT) is ETIMEDOUT, and a write after the peer reset us
 * is EPIPE/ECONNRESET the way Linux reports them.
 */
export function errToNodeErrno(err: number, syscall: string): number {
  const name = errName(err);
  if (syscall === "connect") {
    if (name === "ERR_RST" || name === "ERR_CONN") return errno.ECONNREFUSED;
    if (name === "ERR_ABRT" || name === "ERR_TIMEOUT") return errno.ETIMEDOUT;
  }
  if (name === "ERR_TIMEOUT") return errno.ETIMEDOUT;
  if ((syscall === "write" || syscall === "send") && name === "ERR_CLSD") return errno.EPIPE;
  return errToErrno(err);
}

/** A BSD-sockets error: `errno` is the positive POSIX value, `code` its name. */
export class SocketError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  /** The err_t behind it, when the core reported one. */
  readonly err?: number;
  constructor(e: number, syscall: string, err?: number) {
    const code = errnoName(e);
    super(`${syscall}: ${code} (${strerror(code)})${err !== undefined ? ` [${errName(err)}]` : ""}`);
    this.name = "SocketError";
    this.errno = e;
    this.code = code;
    this.syscall = syscall;
    if (err !== undefined) this.err = err;
  }
}

/** A Node-style system error (what node:net and node:dgram emit). */
export interface NodeSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
  /** The err_t name behind it, when the core reported one. */
  errT?: string;
}

/**
 * Node's system error shape: `syscall CODE address:port`, errno negative.
 * `e` is a positive errno value or its name.
 */
export function nodeError(e: number | ErrnoName, syscall: string, address?: string, port?: number, err?: number): NodeSystemError {
  const num = typeof e === "number" ? e : errno[e];
  const code = errnoName(num);
  let msg = `${syscall} ${code}`;
  if (address !== undefined) msg += ` ${address}${port !== undefined && port !== 0 ? `:${port}` : ""}`;
  const ex = new Error(msg) as NodeSystemError;
  ex.errno = -num;
  ex.code = code;
  ex.syscall = syscall;
  if (address !== undefined) ex.address = address;
  if (port !== undefined) ex.port = port;
  if (err !== undefined) ex.errT = errName(err);
  return ex;
}

/** A Node-style system error for an err_t returned by the core. */
export function nodeErrorFromErr(err: number, syscall: string, address?: string, port?: number): NodeSystemError {
  return nodeError(errToNodeErrno(err, syscall), syscall, address, port, err);
}

/** Node's internal argument errors (`code` ERR_*), with Node's class and message. */
export function nodeCodeError(code: string, message: string, kind: "Error" | "TypeError" | "RangeError" = "Error"): Error & { code: string } {
  const C = kind === "TypeError" ? TypeError : kind === "RangeError" ? RangeError : Error;
  const ex = new C(message) as Error & { code: string };
  ex.code = code;
  return ex;
}

/** Throws an AsipError for a negative err_t (sequential API). */
export function checkErr(err: number, what: string): number {
  if (err < 0) throw new AsipError(err, what);
  return err;
}

export { AsipError, ERR, errName };

/**
 * Keeps the event loop alive while ref'd handles exist (Node's ref/unref
 * semantics for sockets and servers): one never-firing interval per stack
 * while any handle is ref'd. Stacks' own timers are unref'd, so without
 * this a process with an open asip socket would exit under it.
 */
export class Refs {
  private n = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  add(): void {
    if (this.n++ === 0) this.timer = setInterval(() => {}, 0x7fffffff);
  }
  remove(): void {
    if (this.n === 0) return;
    if (--this.n === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** A handle's ref/unref state over a shared {@link Refs}. */
export class RefHandle {
  private refd = false;
  constructor(private readonly refs: Refs) {}
  /** Holds the loop (if not unref'd meanwhile). */
  hold(wanted: boolean): void {
    if (wanted && !this.refd) {
      this.refd = true;
      this.refs.add();
    } else if (!wanted && this.refd) {
      this.refd = false;
      this.refs.remove();
    }
  }
  get held(): boolean {
    return this.refd;
  }
}
