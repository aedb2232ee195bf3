/**
 * BSD sockets over asip, built on the sequential API (bindings/api/netconn.ts)
 * the way lwIP's sockets.c is built on netconn.
 *
 * The shape (a deliberate choice): C's names, arguments and constants, but
 * errors are thrown, not returned. Every call either returns its C result
 * (a descriptor, a byte count, 0) or throws a {@link SocketError} whose
 * `errno` is the POSIX value (Linux numbering, `errno.EAGAIN` …), `code` its
 * name ("EAGAIN") and `syscall` the call — `ret = -1; errno = X` becomes
 * `catch (e) { e.errno === X }`. For code that wants C's style literally,
 * `sockets.errno` also holds the last error (0 after a success is NOT
 * guaranteed, as in C).
 *
 * Calls that can block in C (accept, connect, recv*, read*, send* on TCP,
 * write*, select, poll, close with SO_LINGER) return Promises on the main
 * thread; the others (socket, bind, listen, shutdown, get/setsockopt,
 * getsockname, getpeername, ioctl, fcntl, inet_pton/ntop) return directly —
 * `await` on them is harmless. Nonblocking descriptors (O_NONBLOCK, FIONBIO,
 * SOCK_NONBLOCK, MSG_DONTWAIT) reject with EAGAIN instead of waiting.
 *
 * Buffers are Uint8Arrays the caller owns: `recv(fd, buf)` fills `buf`
 * (its length is C's `len`) and returns the count. Socket addresses are
 * `{ family: AF_INET, addr: "a.b.c.d", port }` (struct sockaddr_in) or
 * `{ family: AF_INET6, addr: "2001:db8::1", port, flowinfo, scopeId }`
 * (struct sockaddr_in6; scopeId is the netif index of a link-local
 * address's zone). fd_sets are `Set<number>`
 * (FD_SET = add, FD_ISSET = has); select() rewrites them in place like C.
 *
 * Types: SOCK_STREAM (TCP), SOCK_DGRAM (UDP, UDP-Lite) and SOCK_RAW.
 *
 * TCP as on Linux: listen/accept (accept4-style nonblocking EAGAIN);
 * connect blocks until the handshake completes, or with O_NONBLOCK throws
 * EINPROGRESS and the result comes as writability in select/poll and as
 * SO_ERROR (0, ECONNREFUSED, ETIMEDOUT); a second connect meanwhile is
 * EALREADY, on a connected socket EISCONN. recv returns what is there (up
 * to the buffer; 0 at end of stream; MSG_WAITALL waits for all, MSG_PEEK
 * leaves it), consuming netbufs partly like lwIP's lastdata — the receive
 * window reopens only as the application reads. send blocks until all is
 * queued (nonblocking: the part that fits, EAGAIN when none does; MSG_MORE
 * holds PSH). ECONNRESET after a reset, EPIPE after shutdown(SHUT_WR).
 * SO_LINGER {1, 0} makes close() send a RST; {1, n} waits up to n s for
 * the send queue to drain. TCP_NODELAY, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT (s),
 * SO_KEEPALIVE and SO_REUSEADDR reach the pcb.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { AsipError } from "../abi.js";
import { IpAddress } from "../ip-address.js";
import { errno, errToErrno, SocketError } from "./errno.js";
import {
  netconnApi, Netconn, NetconnApi, Netbuf, NETCONN_UDP, NETCONN_UDPLITE, NETCONN_RAW, NETCONN_TCP, NETCONN_EVT_ERROR,
  NETCONN_MORE, NETCONN_DONTBLOCK, NETCONN_TYPE_IPV6,
} from "./netconn.js";
import { ERR } from "../abi.js";
import { isLocalAddress } from "./addr.js";
import { socketAddress } from "./family.js";
import { UDP_MAX_PAYLOAD } from "./raw.js";

// ---- constants (Linux values) ----------------------------------------------------------------

export const AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10;
export const PF_INET = AF_INET, PF_INET6 = AF_INET6;
export const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_IP = 0, IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_UDPLITE = 136;
export const INADDR_ANY = "0.0.0.0", INADDR_LOOPBACK = "127.0.0.1", INADDR_BROADCAST = "255.255.255.255";
export const IN6ADDR_ANY = "::", IN6ADDR_LOOPBACK = "::1";
/** Level IPPROTO_IPV6 (41) and its options (Linux values, ipv6(7)). */
export const IPPROTO_IPV6 = 41;
export const IPV6_UNICAST_HOPS = 16, IPV6_MULTICAST_HOPS = 18, IPV6_MULTICAST_LOOP = 19, IPV6_JOIN_GROUP = 20,
  IPV6_LEAVE_GROUP = 21, IPV6_V6ONLY = 26;

export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_BROADCAST = 6, SO_SNDBUF = 7, SO_RCVBUF = 8,
  SO_KEEPALIVE = 9, SO_LINGER = 13, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SO_ACCEPTCONN = 30, SO_NO_CHECK = 11;
export const IP_TOS = 1, IP_TTL = 2, IP_HDRINCL = 3, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34;
export const TCP_NODELAY = 1, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5, TCP_KEEPCNT = 6;
export const UDPLITE_SEND_CSCOV = 10, UDPLITE_RECV_CSCOV = 11;

export const MSG_PEEK = 0x02, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_WAITALL = 0x100, MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000;
export const SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

export const FIONREAD = 0x541b, FIONBIO = 0x5421;
export const F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0o4000;

export const POLLIN = 0x001, POLLPRI = 0x002, POLLOUT = 0x004, POLLERR = 0x008, POLLHUP = 0x010, POLLNVAL = 0x020,
  POLLRDNORM = 0x040, POLLWRNORM = 0x100;

/** A socket address: struct sockaddr_in (AF_INET) or sockaddr_in6 (AF_INET6). */
export interface SockAddr {
  family: number;
  addr: string;
  port: number;
  /** sockaddr_in6's sin6_flowinfo (ignored on input; 0 on output). */
  flowinfo?: number;
  /** sockaddr_in6's sin6_scope_id: the netif index of a link-local address's zone (0 = none). */
  scopeId?: number;
}

/** struct linger */
export interface Linger {
  onoff: number;
  linger: number;
}

/** struct msghdr, as recvmsg/sendmsg use it. */
export interface MsgHdr {
  /** sendmsg: destination; recvmsg: filled with the source. */
  name?: SockAddr;
  iov: Uint8Array[];
  /** recvmsg: MSG_TRUNC when the datagram did not fit. */
  flags?: number;
}

export interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

/** struct ipv6_mreq (IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP): the group and an interface index (0: every interface). */
export interface Ipv6Mreq {
  multiaddr: string;
  interface: number;
}

type OptVal = number | Linger | boolean | Ipv6Mreq;

interface Sock {
  fd: number;
  /** AF_INET or AF_INET6. */
  domain: number;
  /** IPV6_V6ONLY (AF_INET6; Linux's default net.ipv6.bindv6only = 0). */
  v6only: boolean;
  /** IPV6_UNICAST_HOPS as set (-1: the default, 64). */
  hops: number;
  /** IPv6 groups joined ("group%ifindex"), left at close. */
  groups?: Set<string>;
  type: number;
  protocol: number;
  conn: Netconn;
  nonblock: boolean;
  soError: number;
  rcvTimeo: number;
  sndTimeo: number;
  rcvBuf: number;
  sndBuf: number;
  reuse: boolean;
  broadcast: boolean;
  keepalive: boolean;
  linger: Linger;
  /** IP_TTL / IPV6_UNICAST_HOPS as set; -1: the default (64, or an IPv6 router's Cur Hop Limit). */
  ttl: number;
  tos: number;
  bound: boolean;
  shutRd: boolean;
  shutWr: boolean;
  /** Wakers of select/poll/recv calls waiting on this socket. */
  wakers: Set<() => void>;
  /** TCP: the netbuf being read and how far (lwIP's lastdata). */
  rxBuf?: Netbuf;
  rxOff: number;
  /** TCP: connect() in progress (nonblocking), listening. */
  connecting: boolean;
  listening: boolean;
  nodelay: boolean;
  keepIdle: number;
  keepIntvl: number;
  keepCnt: number;
}

const FIRST_FD = 3;

/** `stack.sockets`: BSD sockets of one stack. */
export class SocketsApi {
  /** The last error, C-style (see module docs). */
  errno = 0;
  private readonly nc: NetconnApi;
  private readonly socks = new Map<number, Sock>();
  private readonly byConn = new Map<Netconn, Sock>();
  private nextFd = FIRST_FD;

  constructor(readonly stack: Stack) {
    this.nc = netconnApi(stack);
    this.nc.observe((conn, evt) => {
      const s = this.byConn.get(conn);
      if (!s) return;
      if (evt === NETCONN_EVT_ERROR && conn.icmpError && !conn.closed) {
        // Linux reports ICMP errors on connected sockets only (ip(7)).
        const r = conn.remoteAddr;
        const ie = conn.icmpError;
        if (r && ie.addr === r.ip.toString() && ie.port === r.port) {
          s.soError = ie.type === 3 && (ie.code === 2 || ie.code === 3) ? errno.ECONNREFUSED
            : ie.type === 3 && ie.code === 4 ? errno.EMSGSIZE : errno.EHOSTUNREACH;
        }
      }
      for (const w of [...s.wakers]) w();
    });
  }

  private fail(e: number, syscall: string, err?: number): never {
    this.errno = e;
    throw new SocketError(e, syscall, err);
  }

  private fromAsip(e: unknown, syscall: string): never {
    if (e instanceof AsipError) this.fail(errToErrno(e.err), syscall, e.err);
    if (e instanceof SocketError) {
      this.errno = e.errno;
      throw e;
    }
    if (e instanceof TypeError || e instanceof RangeError) this.fail(errno.EINVAL, syscall);
    throw e;
  }

  private get(fd: number, syscall: string): Sock {
    const s = this.socks.get(fd);
    if (!s) this.fail(typeof fd === "number" ? errno.EBADF : errno.ENOTSOCK, syscall);
    return s;
  }

  /**
   * The address of `sa` for socket `s`, as the core takes it (`ip`): an
   * AF_INET6 socket takes sockaddr_in6 only (EINVAL for bind, EAFNOSUPPORT
   * otherwise, as Linux), with IPv4 peers as IPv4-mapped addresses, which
   * become IPv4 here (`mapped`; bindings/api/family.ts); a scope id becomes
   * the zone of a link-local address.
   */
  private addrOf(s: Sock, sa: SockAddr | undefined, syscall: string): { ip: string; port: number; mapped: boolean; text: string } {
    if (!sa || typeof sa !== "object") this.fail(errno.EFAULT, syscall);
    if (sa.family !== s.domain) this.fail(s.domain === AF_INET6 && syscall === "bind" ? errno.EINVAL : errno.EAFNOSUPPORT, syscall);
    if (!Number.isInteger(sa.port) || sa.port < 0 || sa.port > 65535) this.fail(errno.EINVAL, syscall);
    const a = typeof sa.addr === "string" && !sa.addr.includes("%") ? IpAddress.tryParse(sa.addr) : undefined;
    if (a?.family !== (s.domain === AF_INET6 ? 6 : 4)) this.fail(errno.EINVAL, syscall);
    if (s.domain === AF_INET) return { ip: sa.addr, port: sa.port, mapped: false, text: sa.addr };
    if (a.isV4Mapped()) return { ip: a.toV4()!.toString(), port: sa.port, mapped: true, text: a.toString() };
    const scope = sa.scopeId ?? 0;
    if (!Number.isInteger(scope) || scope < 0) this.fail(errno.EINVAL, syscall);
    const ip = scope !== 0 && a.isLinkLocal() ? `${a.toString()}%${scope}` : a.toString();
    return { ip, port: sa.port, mapped: false, text: ip };
  }

  /** The sockaddr of `addr` (core text) for socket `s`: sockaddr_in6 with IPv4 as ::ffff:a.b.c.d on AF_INET6 sockets. */
  private sockaddr(s: Sock, addr: string, port: number): SockAddr {
    if (s.domain === AF_INET) return { family: AF_INET, addr, port };
    const pct = addr.indexOf("%");
    const zone = pct < 0 ? "" : addr.slice(pct + 1);
    let scopeId = 0;
    if (zone) {
      try { scopeId = this.stack.zoneIndex?.(zone) ?? Number(zone); } catch { scopeId = 0; }
    }
    return { family: AF_INET6, addr: socketAddress(pct < 0 ? addr : addr.slice(0, pct), 6), port, flowinfo: 0, scopeId };
  }

  // ---- creation -------------------------------------------------------------------------------

  /**
   * socket(2): AF_INET, or AF_INET6 on a core with IPv6, with SOCK_STREAM,
   * SOCK_DGRAM (UDP, UDP-Lite) or SOCK_RAW; `| SOCK_NONBLOCK` allowed. An
   * AF_INET6 socket is dual-stack until IPV6_V6ONLY (ipv6(7)).
   */
  socket(domain: number, type: number, protocol = 0): number {
    if (domain !== AF_INET && (domain !== AF_INET6 || !this.stack.ipv6)) this.fail(errno.EAFNOSUPPORT, "socket");
    const v6 = domain === AF_INET6 ? NETCONN_TYPE_IPV6 : 0;
    const nonblock = (type & SOCK_NONBLOCK) !== 0;
    const base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    let conn: Netconn;
    try {
      if (base === SOCK_DGRAM) {
        if (protocol !== 0 && protocol !== IPPROTO_UDP && protocol !== IPPROTO_UDPLITE) this.fail(errno.EPROTONOSUPPORT, "socket");
        conn = this.nc.new((protocol === IPPROTO_UDPLITE ? NETCONN_UDPLITE : NETCONN_UDP) | v6);
      } else if (base === SOCK_RAW) {
        if (!Number.isInteger(protocol) || protocol <= 0 || protocol > 255) this.fail(errno.EPROTONOSUPPORT, "socket");
        conn = this.nc.newWithProto(NETCONN_RAW | v6, protocol);
      } else if (base === SOCK_STREAM) {
        if (protocol !== 0 && protocol !== IPPROTO_TCP) this.fail(errno.EPROTONOSUPPORT, "socket");
        conn = this.nc.new(NETCONN_TCP | v6);
      } else {
        this.fail(errno.ESOCKTNOSUPPORT, "socket");
      }
    } catch (e) {
      if (e instanceof AsipError && e.code === "ERR_MEM") this.fail(errno.ENFILE, "socket", e.err);
      this.fromAsip(e, "socket");
    }
    const fd = this.nextFd++;
    const s: Sock = {
      fd, domain, v6only: false, hops: -1, type: base, protocol: base === SOCK_DGRAM ? (protocol || IPPROTO_UDP) : base === SOCK_STREAM ? IPPROTO_TCP : protocol, conn, nonblock,
      soError: 0, rcvTimeo: 0, sndTimeo: 0, rcvBuf: 212992, sndBuf: 212992, reuse: false, broadcast: false,
      keepalive: false, linger: { onoff: 0, linger: 0 }, ttl: -1, tos: 0, bound: false, shutRd: false, shutWr: false,
      wakers: new Set(), rxOff: 0, connecting: false, listening: false, nodelay: false, keepIdle: 7200, keepIntvl: 75, keepCnt: 9,
    };
    this.socks.set(fd, s);
    this.byConn.set(conn, s);
    return fd;
  }

  // ---- addresses -------------------------------------------------------------------------------

  /** bind(2) */
  bind(fd: number, sa: SockAddr): number {
    const s = this.get(fd, "bind");
    const { ip, port, mapped } = this.addrOf(s, sa, "bind");
    if (s.bound && s.type !== SOCK_RAW) this.fail(errno.EINVAL, "bind");
    // ipv6(7): an IPv6-only socket cannot take an IPv4-mapped address.
    if (mapped && (s.v6only || s.type === SOCK_RAW)) this.fail(errno.EINVAL, "bind");
    if (!isLocalAddress(this.stack, ip)) this.fail(errno.EADDRNOTAVAIL, "bind");
    try {
      if (s.domain === AF_INET6 && s.type !== SOCK_RAW) s.conn.setIpv6Only(s.v6only);
      s.conn.bind(ip, port);
    } catch (e) {
      this.fromAsip(e, "bind");
    }
    s.bound = true;
    return 0;
  }

  /** connect(2). UDP: sets the default destination and filters what is received. AF_UNSPEC dissolves it. */
  async connect(fd: number, sa: SockAddr): Promise<number> {
    const s = this.get(fd, "connect");
    if (sa && sa.family === AF_UNSPEC) {
      try {
        if (s.conn.remoteAddr) s.conn.disconnect();
      } catch (e) {
        this.fromAsip(e, "connect");
      }
      return 0;
    }
    const { ip, port, mapped } = this.addrOf(s, sa, "connect");
    if (mapped && (s.v6only || s.type === SOCK_RAW)) this.fail(errno.ENETUNREACH, "connect");
    if (s.type === SOCK_STREAM) return this.tcpConnect(s, ip, port);
    try {
      if (s.type === SOCK_DGRAM && port === 0) this.fail(errno.EINVAL, "connect");
      await s.conn.connect(ip, port);
    } catch (e) {
      this.fromAsip(e, "connect");
    }
    s.bound = true;
    return 0;
  }

  /** TCP connect: blocking, or EINPROGRESS with the outcome in SO_ERROR and writability. */
  private async tcpConnect(s: Sock, ip: string, port: number): Promise<number> {
    const phase = s.conn.tcpPhase;
    if (s.connecting) this.fail(errno.EALREADY, "connect");
    if (phase === "connected") this.fail(errno.EISCONN, "connect");
    if (phase === "listen") this.fail(errno.EINVAL, "connect");
    if (phase === "dead") this.fail(errno.ECONNABORTED, "connect");
    if (port === 0) this.fail(errno.ECONNREFUSED, "connect");
    let p: Promise<void>;
    try {
      p = s.conn.connect(ip, port);
    } catch (e) {
      this.fromAsip(e, "connect");
    }
    s.connecting = true;
    const settle = (err: number) => {
      s.connecting = false;
      if (err) s.soError = err;
      for (const w of [...s.wakers]) w();
    };
    if (s.nonblock) {
      p.then(() => settle(0), (e) => settle(this.connectErrno(e)));
      this.fail(errno.EINPROGRESS, "connect");
    }
    try {
      await p;
    } catch (e) {
      s.connecting = false;
      this.fail(this.connectErrno(e), "connect", e instanceof AsipError ? e.err : undefined);
    }
    s.connecting = false;
    s.bound = true;
    return 0;
  }

  /** The errno of a failed TCP connect, as Linux reports it. */
  private connectErrno(e: unknown): number {
    if (!(e instanceof AsipError)) return errno.EIO;
    if (e.err === ERR.ERR_RST || e.err === ERR.ERR_CONN) return errno.ECONNREFUSED;
    if (e.err === ERR.ERR_ABRT || e.err === ERR.ERR_TIMEOUT) return errno.ETIMEDOUT;
    if (e.err === ERR.ERR_CLSD) return errno.ECONNABORTED;
    return errToErrno(e.err);
  }

  /** listen(2): SOCK_STREAM only. `backlog` 0 means 1 (lwIP), at most 255. */
  listen(fd: number, backlog = 0): number {
    const s = this.get(fd, "listen");
    if (s.type !== SOCK_STREAM) this.fail(errno.EOPNOTSUPP, "listen");
    const phase = s.conn.tcpPhase;
    if (phase === "listen") return 0;
    if (phase !== "new" || s.connecting) this.fail(errno.EINVAL, "listen");
    try {
      s.conn.listen(Math.min(255, Math.max(1, backlog | 0)));
    } catch (e) {
      this.fromAsip(e, "listen");
    }
    s.listening = true;
    s.bound = true;
    return 0;
  }

  /** accept(2): the next connection as a new descriptor; `addr` (if given) receives the peer's address. */
  async accept(fd: number, addr?: SockAddr): Promise<number> {
    const s = this.get(fd, "accept");
    if (s.type !== SOCK_STREAM) this.fail(errno.EOPNOTSUPP, "accept");
    if (!s.listening) this.fail(errno.EINVAL, "accept");
    for (;;) {
      if (s.conn.acceptPending > 0) {
        let c: Netconn;
        try {
          c = await s.conn.accept();
        } catch (e) {
          this.fromAsip(e, "accept");
        }
        const nfd = this.adopt(c, s);
        if (addr) {
          const r = c.remoteAddr;
          Object.assign(addr, this.sockaddr(s, r ? r.ip.toString() : s.domain === AF_INET6 ? "::" : "0.0.0.0", r?.port ?? 0));
        }
        return nfd;
      }
      if (s.conn.closed) this.fail(errno.EBADF, "accept");
      if (s.nonblock) this.fail(errno.EAGAIN, "accept");
      const ok = await this.wait([s], () => s.conn.acceptPending > 0 || s.conn.closed || !this.socks.has(fd), s.rcvTimeo);
      if (!this.socks.has(fd)) this.fail(errno.EBADF, "accept");
      if (!ok) this.fail(errno.EAGAIN, "accept");
    }
  }

  /** A descriptor for an accepted connection (options inherited from the listener, as on Linux). */
  private adopt(conn: Netconn, from: Sock): number {
    const fd = this.nextFd++;
    const s: Sock = {
      fd, domain: from.domain, v6only: from.v6only, hops: from.hops,
      type: SOCK_STREAM, protocol: IPPROTO_TCP, conn, nonblock: false, soError: 0, rcvTimeo: from.rcvTimeo,
      sndTimeo: from.sndTimeo, rcvBuf: from.rcvBuf, sndBuf: from.sndBuf, reuse: from.reuse, broadcast: false,
      keepalive: from.keepalive, linger: { ...from.linger }, ttl: from.ttl, tos: from.tos, bound: true, shutRd: false,
      shutWr: false, wakers: new Set(), rxOff: 0, connecting: false, listening: false, nodelay: from.nodelay,
      keepIdle: from.keepIdle, keepIntvl: from.keepIntvl, keepCnt: from.keepCnt,
    };
    this.socks.set(fd, s);
    this.byConn.set(conn, s);
    const pcb = conn.tcpPcb;
    if (pcb && pcb.handle !== 0) {
      if (s.nodelay) pcb.nagle = false;
      if (s.keepalive) pcb.keepalive(true, s.keepIdle * 1000, s.keepIntvl * 1000, s.keepCnt);
    }
    return fd;
  }

  /** getsockname(2) */
  getsockname(fd: number): SockAddr {
    const s = this.get(fd, "getsockname");
    try {
      const a = s.conn.getaddr(true);
      return this.sockaddr(s, a.addr, a.port);
    } catch (e) {
      this.fromAsip(e, "getsockname");
    }
  }

  /** getpeername(2): ENOTCONN when not connected. */
  getpeername(fd: number): SockAddr {
    const s = this.get(fd, "getpeername");
    const r = s.conn.remoteAddr;
    if (!r) this.fail(errno.ENOTCONN, "getpeername");
    return this.sockaddr(s, r.ip.toString(), r.port);
  }

  // ---- receiving ---------------------------------------------------------------------------------

  /** Waits until `ready()` or the timeout (ms, 0 = forever). Resolves false on timeout. */
  private wait(socks: Sock[], ready: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (v: boolean) => {
        for (const s of socks) s.wakers.delete(wake);
        if (timer) clearTimeout(timer);
        resolve(v);
      };
      const wake = () => {
        if (ready()) done(true);
      };
      for (const s of socks) s.wakers.add(wake);
      if (timeoutMs > 0) timer = setTimeout(() => done(ready()), timeoutMs);
    });
  }

  /** Takes the pending SO_ERROR, throwing it. */
  private pendingError(s: Sock, syscall: string): void {
    if (s.soError) {
      const e = s.soError;
      s.soError = 0;
      this.fail(e, syscall);
    }
  }

  /**
   * The core of recv/recvfrom/recvmsg: fills `iov` from the next datagram.
   * Returns [bytes (or the full length with MSG_TRUNC), source, truncated].
   */
  private async recvInto(fd: number, iov: Uint8Array[], flags: number, syscall: string): Promise<{ n: number; from: SockAddr; trunc: boolean }> {
    const s = this.get(fd, syscall);
    if (s.type === SOCK_STREAM) {
      const n = await this.tcpRecv(s, iov, flags, syscall);
      const r = s.conn.remoteAddr;
      return { n, from: this.sockaddr(s, r ? r.ip.toString() : s.domain === AF_INET6 ? "::" : "0.0.0.0", r?.port ?? 0), trunc: false };
    }
    for (;;) {
      this.pendingError(s, syscall);
      if (s.shutRd || s.conn.closed) return { n: 0, from: this.sockaddr(s, s.domain === AF_INET6 ? "::" : "0.0.0.0", 0), trunc: false };
      const b = s.conn.peek();
      if (b) {
        let n: number;
        const tot = b.len;
        const space = iov.reduce((k, v) => k + v.length, 0);
        if (iov.length === 1) n = b.copy(iov[0]);
        else {
          const all = b.copy();
          n = 0;
          for (const v of iov) {
            const k = Math.min(v.length, all.length - n);
            v.set(all.subarray(n, n + k));
            n += k;
          }
        }
        const from: SockAddr = this.sockaddr(s, b.fromaddr, b.fromport);
        if ((flags & MSG_PEEK) === 0) {
          // Dequeue (the rest of a datagram that did not fit is discarded: udp(7)).
          const got = await s.conn.recv();
          got.delete();
        }
        return { n: (flags & MSG_TRUNC) !== 0 ? tot : n, from, trunc: tot > space };
      }
      if (s.nonblock || (flags & MSG_DONTWAIT) !== 0) this.fail(errno.EAGAIN, syscall);
      const ok = await this.wait([s], () => !!s.conn.peek() || s.soError !== 0 || s.conn.closed || !this.socks.has(fd), s.rcvTimeo);
      if (!this.socks.has(fd)) this.fail(errno.EBADF, syscall);
      if (!ok) this.fail(errno.EAGAIN, syscall); // SO_RCVTIMEO expired: EAGAIN (socket(7))
    }
  }

  /** Bytes readable now without waiting (TCP). */
  private tcpReadable(s: Sock): number {
    let n = s.conn.available.bytes;
    if (s.rxBuf) n += s.rxBuf.len - s.rxOff;
    return n;
  }

  /**
   * TCP receive: copies what is there into `iov` (waiting when nothing is,
   * unless nonblocking); 0 at end of stream. MSG_WAITALL fills it all (or
   * stops at EOF/error); MSG_PEEK copies without consuming.
   */
  private async tcpRecv(s: Sock, iov: Uint8Array[], flags: number, syscall: string): Promise<number> {
    const space = iov.reduce((k, v) => k + v.length, 0);
    const peek = (flags & MSG_PEEK) !== 0;
    const waitall = (flags & MSG_WAITALL) !== 0 && !peek;
    let got = 0;
    // Scatter helper: writes `src` at logical offset `got`.
    const put = (src: Uint8Array) => {
      let off = got, k = 0;
      for (const v of iov) {
        if (off >= v.length) { off -= v.length; continue; }
        const n = Math.min(v.length - off, src.length - k);
        v.set(src.subarray(k, k + n), off);
        k += n;
        off = 0;
        if (k >= src.length) break;
      }
      got += k;
    };
    for (;;) {
      if (s.listening) this.fail(errno.ENOTCONN, syscall);
      if (got < space && !s.shutRd) {
        // From the partly read netbuf, then from the queue.
        let peekIdx = 0;
        let peekBuf = s.rxBuf, peekOff = s.rxOff;
        while (got < space) {
          let b: Netbuf | undefined, off: number;
          if (peek) {
            if (peekBuf) { b = peekBuf; off = peekOff; peekBuf = undefined; }
            else { b = s.conn.peekAt(peekIdx++); off = 0; }
            if (!b) break;
          } else {
            if (!s.rxBuf) {
              if (!s.conn.peek()) break;
              try {
                s.rxBuf = await s.conn.recv();
              } catch (e) {
                this.fromAsip(e, syscall);
              }
              s.rxOff = 0;
            }
            b = s.rxBuf;
            off = s.rxOff;
          }
          const want = Math.min(space - got, b.len - off);
          const dst = iov.length === 1 ? iov[0].subarray(got, got + want) : new Uint8Array(want);
          const n = b.copy(dst, off);
          if (iov.length === 1) got += n;
          else put(dst.subarray(0, n));
          if (!peek) {
            s.rxOff += n;
            if (s.rxOff >= b.len) {
              b.delete();
              s.rxBuf = undefined;
              s.rxOff = 0;
            }
          }
        }
      }
      if (got > 0 && (!waitall || got >= space)) return got;
      if (got >= space) return got;
      // Nothing (more) to read now.
      if (s.shutRd || s.conn.eof) return got;
      const phase = s.conn.tcpPhase;
      if (phase === "dead" || s.conn.closed) {
        if (got > 0) return got;
        const pe = s.conn.err();
        if (pe === ERR.ERR_RST) this.fail(errno.ECONNRESET, syscall, pe);
        if (pe === ERR.ERR_ABRT || pe === ERR.ERR_TIMEOUT) this.fail(errno.ETIMEDOUT, syscall, pe);
        if (s.soError) this.pendingError(s, syscall);
        return 0;
      }
      if (phase === "new" && !s.connecting) this.fail(errno.ENOTCONN, syscall);
      if (s.nonblock || (flags & MSG_DONTWAIT) !== 0) {
        if (got > 0) return got;
        this.fail(errno.EAGAIN, syscall);
      }
      const fd = s.fd;
      const ok = await this.wait([s], () => !!s.conn.peek() || s.conn.eof || s.conn.tcpPhase === "dead" || s.conn.closed || s.shutRd || !this.socks.has(fd), s.rcvTimeo);
      if (!this.socks.has(fd)) this.fail(errno.EBADF, syscall);
      if (!ok) {
        if (got > 0) return got;
        this.fail(errno.EAGAIN, syscall);
      }
    }
  }

  /** TCP send: all of it (blocking) or what fits (nonblocking / MSG_DONTWAIT). */
  private async tcpSend(s: Sock, data: Uint8Array, flags: number, syscall: string): Promise<number> {
    this.pendingError(s, syscall);
    if (s.shutWr) this.fail(errno.EPIPE, syscall);
    const phase = s.conn.tcpPhase;
    if (phase === "dead") {
      const pe = s.conn.err();
      this.fail(pe === ERR.ERR_RST ? errno.ECONNRESET : errno.EPIPE, syscall, pe || undefined);
    }
    if (phase !== "connected") this.fail(errno.ENOTCONN, syscall);
    if (data.length === 0) return 0;
    const nb = s.nonblock || (flags & MSG_DONTWAIT) !== 0;
    let wflags = 0;
    if ((flags & MSG_MORE) !== 0) wflags |= NETCONN_MORE;
    if (nb) wflags |= NETCONN_DONTBLOCK;
    s.conn.setSendTimeout(s.sndTimeo);
    try {
      return await s.conn.write(data, wflags);
    } catch (e) {
      if (e instanceof AsipError) {
        const partial = (e as AsipError & { bytesWritten?: number }).bytesWritten;
        if (e.err === ERR.ERR_TIMEOUT && partial) return partial;
        if (e.err === ERR.ERR_WOULDBLOCK || e.err === ERR.ERR_TIMEOUT) this.fail(errno.EAGAIN, syscall, e.err);
        if (e.err === ERR.ERR_RST) this.fail(errno.ECONNRESET, syscall, e.err);
        if (e.err === ERR.ERR_CLSD || e.err === ERR.ERR_CONN || e.err === ERR.ERR_ABRT) this.fail(errno.EPIPE, syscall, e.err);
      }
      this.fromAsip(e, syscall);
    }
  }

  /** recv(2): fills `buf`, returns the byte count. */
  async recv(fd: number, buf: Uint8Array, flags = 0): Promise<number> {
    return (await this.recvInto(fd, [buf], flags, "recv")).n;
  }

  /** recvfrom(2): `from` (if given) receives the source address. */
  async recvfrom(fd: number, buf: Uint8Array, flags = 0, from?: SockAddr): Promise<number> {
    const r = await this.recvInto(fd, [buf], flags, "recvfrom");
    if (from) Object.assign(from, r.from);
    return r.n;
  }

  /** recvmsg(2): scatters into msg.iov, fills msg.name and msg.flags (MSG_TRUNC). */
  async recvmsg(fd: number, msg: MsgHdr, flags = 0): Promise<number> {
    const r = await this.recvInto(fd, msg.iov, flags, "recvmsg");
    if (msg.name) Object.assign(msg.name, r.from);
    else msg.name = r.from;
    msg.flags = r.trunc ? MSG_TRUNC : 0;
    return r.n;
  }

  /** read(2) = recv(fd, buf, 0). */
  read(fd: number, buf: Uint8Array): Promise<number> {
    return this.recvInto(fd, [buf], 0, "read").then((r) => r.n);
  }

  /** readv(2) */
  readv(fd: number, iov: Uint8Array[]): Promise<number> {
    return this.recvInto(fd, iov, 0, "readv").then((r) => r.n);
  }

  // ---- sending -----------------------------------------------------------------------------------

  private async sendData(fd: number, data: Uint8Array, flags: number, to: SockAddr | undefined, syscall: string): Promise<number> {
    const s = this.get(fd, syscall);
    if (!(data instanceof Uint8Array)) this.fail(errno.EFAULT, syscall);
    if (s.type === SOCK_STREAM) return this.tcpSend(s, data, flags, syscall);
    this.pendingError(s, syscall);
    if (s.shutWr) this.fail(errno.EPIPE, syscall);
    let ip: IpAddress, port: number;
    if (to) {
      const a = this.addrOf(s, to, syscall);
      if (a.mapped && (s.v6only || s.type === SOCK_RAW)) this.fail(errno.ENETUNREACH, syscall);
      ip = IpAddress.parse(a.ip);
      port = a.port;
      if (s.type === SOCK_DGRAM && port === 0) this.fail(errno.EINVAL, syscall);
    } else {
      const r = s.conn.remoteAddr;
      if (!r) this.fail(s.type === SOCK_DGRAM || s.type === SOCK_RAW ? errno.EDESTADDRREQ : errno.ENOTCONN, syscall);
      ip = r.ip;
      port = r.port;
    }
    if (data.length > (s.type === SOCK_RAW ? 65515 : UDP_MAX_PAYLOAD)) this.fail(errno.EMSGSIZE, syscall);
    try {
      s.conn.sendNow(data, ip, port, syscall);
    } catch (e) {
      if (e instanceof AsipError && e.code === "ERR_VAL" && !s.broadcast && (ip.toString().endsWith(".255"))) this.fail(errno.EACCES, syscall, e.err);
      this.fromAsip(e, syscall);
    }
    s.bound = true;
    return data.length;
  }

  /** send(2) */
  send(fd: number, data: Uint8Array, flags = 0): Promise<number> {
    return this.sendData(fd, data, flags, undefined, "send");
  }

  /** sendto(2) (`to` undefined = the connected address). */
  sendto(fd: number, data: Uint8Array, flags = 0, to?: SockAddr): Promise<number> {
    return this.sendData(fd, data, flags, to, "sendto");
  }

  /** sendmsg(2): gathers msg.iov into one datagram to msg.name (or the connected address). */
  sendmsg(fd: number, msg: MsgHdr, flags = 0): Promise<number> {
    const iov = msg.iov ?? [];
    const data = iov.length === 1 ? iov[0] : concat(iov);
    return this.sendData(fd, data, flags, msg.name, "sendmsg");
  }

  /** write(2) */
  write(fd: number, data: Uint8Array): Promise<number> {
    return this.sendData(fd, data, 0, undefined, "write");
  }

  /** writev(2) */
  writev(fd: number, iov: Uint8Array[]): Promise<number> {
    return this.sendData(fd, concat(iov), 0, undefined, "writev");
  }

  // ---- teardown -----------------------------------------------------------------------------------

  /** shutdown(2). Datagram sockets: marks the directions shut (Linux allows it on connected sockets). */
  shutdown(fd: number, how: number): number {
    const s = this.get(fd, "shutdown");
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) this.fail(errno.EINVAL, "shutdown");
    if (s.type !== SOCK_STREAM && !s.conn.remoteAddr) this.fail(errno.ENOTCONN, "shutdown");
    if (s.type === SOCK_STREAM) {
      if (s.conn.tcpPhase !== "connected") this.fail(errno.ENOTCONN, "shutdown");
      const rx = how !== SHUT_WR && !s.shutRd, tx = how !== SHUT_RD && !s.shutWr;
      if (rx || tx) {
        if (rx && s.rxBuf) {
          s.rxBuf.delete();
          s.rxBuf = undefined;
        }
        // Not awaited: netconn's shutdown acts at once.
        s.conn.shutdown(rx, tx).catch(() => {});
      }
    }
    if (how !== SHUT_WR) s.shutRd = true;
    if (how !== SHUT_RD) s.shutWr = true;
    for (const w of [...s.wakers]) w();
    return 0;
  }

  /** close(2): frees the descriptor; a second close is EBADF. Waiting calls fail with EBADF. */
  async close(fd: number): Promise<number> {
    const s = this.get(fd, "close");
    this.socks.delete(fd);
    this.byConn.delete(s.conn);
    // Linux drops a socket's memberships when it closes.
    for (const key of s.groups ?? []) {
      const [g, i] = key.split("%");
      try { this.stack.leaveGroup6(g, Number(i)); } catch { /* gone */ }
    }
    if (s.rxBuf) {
      s.rxBuf.delete();
      s.rxBuf = undefined;
    }
    if (s.type === SOCK_STREAM && s.linger.onoff && !s.conn.closed) {
      if (s.linger.linger === 0) {
        // SO_LINGER {1, 0}: abortive close, a RST (socket(7)).
        s.conn.abort();
        for (const w of [...s.wakers]) w();
        return 0;
      }
      // Wait (up to the linger time) for the send queue to drain.
      const pcb = s.conn.tcpPcb;
      const end = Date.now() + s.linger.linger * 1000;
      while (pcb && pcb.handle !== 0 && pcb.sndqueuelen > 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await s.conn.delete();
    for (const w of [...s.wakers]) w();
    return 0;
  }

  /** Closes every descriptor (e.g. before stack.close()). */
  async closeAll(): Promise<void> {
    for (const fd of [...this.socks.keys()]) await this.close(fd);
  }

  // ---- options -------------------------------------------------------------------------------------

  /** getsockopt(2): numbers for int options, {onoff, linger} for SO_LINGER, ms for SO_RCVTIMEO/SO_SNDTIMEO. */
  getsockopt(fd: number, level: number, name: number): OptVal {
    const s = this.get(fd, "getsockopt");
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_TYPE: return s.type;
        case SO_ERROR: { const e = s.soError; s.soError = 0; return e; }
        case SO_REUSEADDR: return s.reuse ? 1 : 0;
        case SO_BROADCAST: return s.broadcast ? 1 : 0;
        case SO_KEEPALIVE: return s.keepalive ? 1 : 0;
        case SO_RCVBUF: return s.rcvBuf;
        case SO_SNDBUF: return s.sndBuf;
        case SO_RCVTIMEO: return s.rcvTimeo;
        case SO_SNDTIMEO: return s.sndTimeo;
        case SO_LINGER: return { ...s.linger };
        case SO_ACCEPTCONN: return s.listening ? 1 : 0;
      }
    } else if (level === IPPROTO_IP) {
      switch (name) {
        case IP_TTL: return s.ttl === -1 ? 64 : s.ttl;
        case IP_TOS: return s.tos;
      }
    } else if (level === IPPROTO_IPV6) {
      if (s.domain !== AF_INET6) this.fail(errno.EOPNOTSUPP, "getsockopt"); // as Linux
      switch (name) {
        case IPV6_V6ONLY: return s.v6only ? 1 : 0;
        case IPV6_UNICAST_HOPS: return s.hops === -1 ? 64 : s.hops;
      }
    } else if (level === IPPROTO_TCP) {
      if (s.type !== SOCK_STREAM) this.fail(errno.ENOPROTOOPT, "getsockopt");
      switch (name) {
        case TCP_NODELAY: return s.nodelay ? 1 : 0;
        case TCP_KEEPIDLE: return s.keepIdle;
        case TCP_KEEPINTVL: return s.keepIntvl;
        case TCP_KEEPCNT: return s.keepCnt;
      }
    }
    this.fail(errno.ENOPROTOOPT, "getsockopt");
  }

  /** setsockopt(2) (see getsockopt for value shapes). */
  setsockopt(fd: number, level: number, name: number, value: OptVal): number {
    const s = this.get(fd, "setsockopt");
    const int = (): number => {
      const v = typeof value === "boolean" ? (value ? 1 : 0) : value;
      if (typeof v !== "number" || !Number.isFinite(v)) this.fail(errno.EINVAL, "setsockopt");
      return v;
    };
    const pcb = s.conn.udpPcb;
    const tpcb = s.conn.tcpPcb;
    try {
      if (level === SOL_SOCKET) {
        switch (name) {
          case SO_REUSEADDR:
            s.reuse = int() !== 0;
            if (pcb) pcb.reuseaddr = s.reuse;
            if (tpcb && tpcb.handle !== 0) tpcb.reuseaddr = s.reuse;
            return 0;
          case SO_BROADCAST:
            s.broadcast = int() !== 0;
            if (pcb) pcb.broadcast = s.broadcast;
            else if (s.conn.rawPcb) s.conn.rawPcb.broadcast = s.broadcast;
            return 0;
          case SO_KEEPALIVE:
            s.keepalive = int() !== 0;
            this.applyKeepalive(s);
            return 0;
          case SO_RCVBUF: {
            const v = int();
            if (v < 0) this.fail(errno.EINVAL, "setsockopt");
            s.rcvBuf = Math.max(2304, v * 2); // Linux doubles it (socket(7))
            s.conn.setRecvBufSize(s.rcvBuf);
            return 0;
          }
          case SO_SNDBUF: {
            const v = int();
            if (v < 0) this.fail(errno.EINVAL, "setsockopt");
            s.sndBuf = Math.max(4608, v * 2);
            return 0;
          }
          case SO_RCVTIMEO: {
            const v = int();
            if (v < 0) this.fail(errno.EINVAL, "setsockopt");
            s.rcvTimeo = v;
            return 0;
          }
          case SO_SNDTIMEO: {
            const v = int();
            if (v < 0) this.fail(errno.EINVAL, "setsockopt");
            s.sndTimeo = v;
            return 0;
          }
          case SO_LINGER: {
            if (typeof value !== "object" || value === null) this.fail(errno.EINVAL, "setsockopt");
            const l = value as Linger;
            s.linger = { onoff: l.onoff ? 1 : 0, linger: Math.max(0, l.linger | 0) };
            return 0;
          }
          case SO_NO_CHECK:
            if (pcb) this.stack.ex.udp_host_set_nochksum(pcb.handle, int() ? 1 : 0);
            return 0;
        }
      } else if (level === IPPROTO_IP) {
        switch (name) {
          case IP_TTL: {
            const v = int();
            if (v < -1 || v === 0 || v > 255) this.fail(errno.EINVAL, "setsockopt");
            s.ttl = v;
            (pcb ?? s.conn.rawPcb)?.setTtlTos(wireTtl(s), s.tos);
            if (tpcb && tpcb.handle !== 0) tpcb.setTtlTos(wireTtl(s), s.tos);
            return 0;
          }
          case IP_TOS: {
            const v = int();
            if (v < 0 || v > 255) this.fail(errno.EINVAL, "setsockopt");
            s.tos = v;
            (pcb ?? s.conn.rawPcb)?.setTtlTos(wireTtl(s), s.tos);
            if (tpcb && tpcb.handle !== 0) tpcb.setTtlTos(wireTtl(s), s.tos);
            return 0;
          }
          case IP_HDRINCL:
            if (s.type !== SOCK_RAW) this.fail(errno.ENOPROTOOPT, "setsockopt");
            s.conn.rawPcb!.setFlags(int() !== 0, false);
            return 0;
        }
      } else if (level === IPPROTO_IPV6) {
        if (s.domain !== AF_INET6) this.fail(errno.ENOPROTOOPT, "setsockopt");
        switch (name) {
          case IPV6_V6ONLY:
            // ipv6(7): only before the socket has a local port.
            if (s.bound || s.listening || s.connecting || s.conn.tcpPhase === "connected") this.fail(errno.EINVAL, "setsockopt");
            s.v6only = int() !== 0;
            return 0;
          case IPV6_UNICAST_HOPS: {
            // The pcb's hop limit (its TTL field serves both families); -1 = the default, 64.
            const v = int();
            if (v < -1 || v > 255) this.fail(errno.EINVAL, "setsockopt");
            s.hops = v;
            s.ttl = v;
            (pcb ?? s.conn.rawPcb)?.setTtlTos(wireTtl(s), s.tos);
            if (tpcb && tpcb.handle !== 0) tpcb.setTtlTos(wireTtl(s), s.tos);
            return 0;
          }
          case IPV6_JOIN_GROUP:
          case IPV6_LEAVE_GROUP: {
            // MLD (RFC 3810) in cores that have it (ip6_join_group).
            if (s.type !== SOCK_DGRAM && s.type !== SOCK_RAW) this.fail(errno.ENOPROTOOPT, "setsockopt");
            if (typeof this.stack.ex.ip6_join_group !== "function") this.fail(errno.ENOPROTOOPT, "setsockopt");
            const m = value as Ipv6Mreq;
            if (!m || typeof m !== "object" || typeof m.multiaddr !== "string") this.fail(errno.EFAULT, "setsockopt");
            const g = IpAddress.tryParse(m.multiaddr);
            const ifindex = m.interface ?? 0;
            if (!g || g.family !== 6 || !g.isMulticast() || !Number.isInteger(ifindex) || ifindex < 0) this.fail(errno.EINVAL, "setsockopt");
            const key = `${g.toString()}%${ifindex}`;
            s.groups ??= new Set();
            const join = name === IPV6_JOIN_GROUP;
            if (join && s.groups.has(key)) this.fail(errno.EADDRINUSE, "setsockopt");
            if (!join && !s.groups.has(key)) this.fail(errno.EADDRNOTAVAIL, "setsockopt");
            try {
              if (join) this.stack.joinGroup6(g.toString(), ifindex);
              else this.stack.leaveGroup6(g.toString(), ifindex);
            } catch (e) {
              if (e instanceof TypeError) this.fail(errno.EINVAL, "setsockopt");
              this.fromAsip(e, "setsockopt");
            }
            if (join) s.groups.add(key);
            else s.groups.delete(key);
            return 0;
          }
        }
      } else if (level === IPPROTO_TCP) {
        if (s.type !== SOCK_STREAM) this.fail(errno.ENOPROTOOPT, "setsockopt");
        switch (name) {
          case TCP_NODELAY:
            s.nodelay = int() !== 0;
            if (tpcb && tpcb.handle !== 0 && s.conn.tcpPhase !== "listen") tpcb.nagle = !s.nodelay;
            return 0;
          case TCP_KEEPIDLE:
          case TCP_KEEPINTVL:
          case TCP_KEEPCNT: {
            const v = int();
            // Linux: 1..32767 s (idle, interval), 1..127 probes.
            if (v < 1 || v > (name === TCP_KEEPCNT ? 127 : 32767)) this.fail(errno.EINVAL, "setsockopt");
            if (name === TCP_KEEPIDLE) s.keepIdle = v;
            else if (name === TCP_KEEPINTVL) s.keepIntvl = v;
            else s.keepCnt = v;
            this.applyKeepalive(s);
            return 0;
          }
        }
      }
    } catch (e) {
      this.fromAsip(e, "setsockopt");
    }
    this.fail(errno.ENOPROTOOPT, "setsockopt");
  }

  /** Keepalive settings to the pcb (connections only; a listener passes them on at accept). */
  private applyKeepalive(s: Sock): void {
    const tpcb = s.conn.tcpPcb;
    if (!tpcb || tpcb.handle === 0 || s.conn.tcpPhase === "listen" || s.conn.tcpPhase === "new") return;
    tpcb.keepalive(s.keepalive, s.keepIdle * 1000, s.keepIntvl * 1000, s.keepCnt);
  }

  /** ioctl(2): FIONBIO (arg: nonzero = nonblocking) → 0; FIONREAD → bytes of the next datagram (Linux udp(7)). */
  ioctl(fd: number, request: number, arg?: number): number {
    const s = this.get(fd, "ioctl");
    if (request === FIONBIO) {
      s.nonblock = !!arg;
      return 0;
    }
    if (request === FIONREAD) {
      if (s.type === SOCK_STREAM) return this.tcpReadable(s);
      const b = s.conn.peek();
      return b ? b.len : 0;
    }
    this.fail(errno.EINVAL, "ioctl");
  }

  /** fcntl(2): F_GETFL → O_NONBLOCK bit; F_SETFL with O_NONBLOCK. */
  fcntl(fd: number, cmd: number, arg = 0): number {
    const s = this.get(fd, "fcntl");
    if (cmd === F_GETFL) return 2 /* O_RDWR */ | (s.nonblock ? O_NONBLOCK : 0);
    if (cmd === F_SETFL) {
      s.nonblock = (arg & O_NONBLOCK) !== 0;
      return 0;
    }
    this.fail(errno.EINVAL, "fcntl");
  }

  // ---- readiness ---------------------------------------------------------------------------------

  private revents(s: Sock | undefined, events: number): number {
    if (!s) return POLLNVAL;
    let r = 0;
    if (s.type === SOCK_STREAM) {
      const phase = s.conn.tcpPhase;
      if (s.listening) {
        if (s.conn.acceptPending > 0) r |= POLLIN | POLLRDNORM;
      } else {
        if (this.tcpReadable(s) > 0 || s.conn.eof || s.shutRd || phase === "dead") r |= POLLIN | POLLRDNORM;
        if (phase === "connected" && !s.shutWr && s.conn.canWrite) r |= POLLOUT | POLLWRNORM;
        if (phase === "dead" && !s.connecting) r |= POLLOUT | POLLWRNORM; // a failed connect is "writable" with SO_ERROR set
        if (phase === "dead" || (s.conn.eof && s.shutWr)) r |= POLLHUP;
      }
      if (s.soError) r |= POLLERR;
      return r & (events | POLLERR | POLLHUP | POLLNVAL);
    }
    if (s.conn.peek() || s.shutRd) r |= POLLIN | POLLRDNORM;
    if (!s.shutWr) r |= POLLOUT | POLLWRNORM; // datagrams are always writable (lwIP sendevent = 1)
    if (s.soError) r |= POLLERR;
    if (s.shutRd && s.shutWr) r |= POLLHUP;
    return r & (events | POLLERR | POLLHUP | POLLNVAL);
  }

  /** poll(2): fills each `revents`; returns how many fds have some. `timeout` ms, -1 = forever, 0 = no wait. */
  async poll(fds: PollFd[], timeout = -1): Promise<number> {
    const scan = (): number => {
      let n = 0;
      for (const p of fds) {
        p.revents = p.fd < 0 ? 0 : this.revents(this.socks.get(p.fd), p.events);
        if (p.revents) n++;
      }
      return n;
    };
    let n = scan();
    if (n > 0 || timeout === 0) return n;
    const socks = fds.map((p) => this.socks.get(p.fd)).filter((s): s is Sock => !!s);
    await this.wait(socks, () => scan() > 0, timeout < 0 ? 0 : timeout);
    n = scan();
    return n;
  }

  /**
   * select(2): `readfds`/`writefds`/`exceptfds` are Sets (or undefined),
   * rewritten in place to the ready descriptors. `timeout` in ms; null or
   * undefined = forever. Returns the number of ready bits. EBADF for an
   * unknown descriptor in a set.
   */
  async select(nfds: number, readfds?: Set<number> | null, writefds?: Set<number> | null, exceptfds?: Set<number> | null,
    timeout?: number | null): Promise<number> {
    const want = (set: Set<number> | null | undefined) => [...(set ?? [])].filter((fd) => fd < nfds);
    const r = want(readfds), w = want(writefds), x = want(exceptfds);
    for (const fd of [...r, ...w, ...x]) this.get(fd, "select");
    const scan = (commit: boolean): number => {
      const rr = r.filter((fd) => this.revents(this.socks.get(fd), POLLIN) & (POLLIN | POLLERR | POLLHUP));
      const ww = w.filter((fd) => this.revents(this.socks.get(fd), POLLOUT) & (POLLOUT | POLLERR));
      const xx = x.filter((fd) => this.socks.get(fd)?.soError);
      if (commit) {
        for (const [set, ready] of [[readfds, rr], [writefds, ww], [exceptfds, xx]] as const) {
          if (!set) continue;
          set.clear();
          for (const fd of ready) set.add(fd);
        }
      }
      return rr.length + ww.length + xx.length;
    };
    if (scan(false) === 0 && timeout !== 0) {
      const socks = [...new Set([...r, ...w, ...x])].map((fd) => this.socks.get(fd)!).filter(Boolean);
      await this.wait(socks, () => scan(false) > 0, timeout == null ? 0 : Math.max(1, timeout));
    }
    return scan(true);
  }

  // ---- addresses as text ---------------------------------------------------------------------------

  /** inet_pton(3): the 4 bytes of a dotted quad (AF_INET) or the 16 of an IPv6 address (AF_INET6), 0 for invalid text. */
  inet_pton(af: number, src: string): Uint8Array | 0 {
    if (af === AF_INET6) {
      const a = typeof src === "string" && !src.includes("%") ? IpAddress.tryParse(src) : undefined;
      return a?.family === 6 ? a.bytes() : 0;
    }
    if (af !== AF_INET) this.fail(errno.EAFNOSUPPORT, "inet_pton");
    if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(src)) return 0;
    return Uint8Array.from(src.split(".").map(Number));
  }

  /** inet_ntop(3): 4 bytes → "a.b.c.d" (AF_INET), 16 bytes → RFC 5952 text (AF_INET6). */
  inet_ntop(af: number, src: Uint8Array): string {
    if (af === AF_INET6) {
      if (!(src instanceof Uint8Array) || src.length < 16) this.fail(errno.ENOSPC, "inet_ntop");
      return IpAddress.fromBytes(src.subarray(0, 16)).toString();
    }
    if (af !== AF_INET) this.fail(errno.EAFNOSUPPORT, "inet_ntop");
    if (!(src instanceof Uint8Array) || src.length < 4) this.fail(errno.ENOSPC, "inet_ntop");
    return `${src[0]}.${src[1]}.${src[2]}.${src[3]}`;
  }

  /** htons/ntohs/htonl/ntohl, for code ported from C. */
  htons(v: number): number { return ((v & 0xff) << 8) | ((v >>> 8) & 0xff); }
  ntohs(v: number): number { return this.htons(v); }
  htonl(v: number): number { return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0; }
  ntohl(v: number): number { return this.htonl(v); }

  /** Open descriptors (for leak checks). */
  get open(): number[] {
    return [...this.socks.keys()];
  }
}

/**
 * The TTL a pcb is given: 0 leaves the core's default (IP_TTL_DEFAULT: 64
 * for IPv4, the Cur Hop Limit of an IPv6 router's advertisement, RFC 4861
 * §6.3.4), so that a socket that never set one, or set -1, follows the RA.
 */
function wireTtl(s: { ttl: number }): number {
  return s.ttl === -1 ? 0 : s.ttl;
}

function concat(iov: Uint8Array[]): Uint8Array {
  const n = iov.reduce((k, v) => k + v.length, 0);
  const out = new Uint8Array(n);
  let off = 0;
  for (const v of iov) {
    out.set(v, off);
    off += v.length;
  }
  return out;
}

const apis = new WeakMap<Stack, SocketsApi>();

/** The stack's BSD sockets (what `stack.sockets` returns). */
export function socketsApi(stack: Stack): SocketsApi {
  let s = apis.get(stack);
  if (!s) {
    s = new SocketsApi(stack);
    apis.set(stack, s);
  }
  return s;
}
