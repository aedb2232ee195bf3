/**
 * The gateway (`asip relay --gateway`): an asip stack on the relay's switch
 * that is the virtual network's router, DHCP server, DNS server and
 * user-mode NAT to the host, in the manner of libslirp and gvisor-tap-vsock.
 *
 *   192.0.2.1    the gateway (router, DHCP server on 67, DNS on 53)
 *   192.0.2.254  the host: flows to it go to the host's 127.0.0.1 (and DNS
 *                answers that resolve to loopback, e.g. `localhost`, are
 *                given as this address, since a virtual host's own 127/8 is
 *                its own loopback)
 *   other        flows to addresses outside the virtual network go to that
 *                address from the host — if the allowlist allows it
 *
 * NAT without a core hook. asip has no "accept anything" pcb (neither has
 * lwIP), so the gateway's link driver does the NAT in front of the stack: a
 * packet from a virtual host to a NATed destination D:dport is rewritten on
 * its way in to the gateway's own address and a per-flow port P (IP and UDP
 * checksums updated incrementally, RFC 1624), so an ordinary pcb bound to P
 * terminates it; packets the stack sends from P are rewritten back to come
 * from D:dport. Each flow is proxied to a real host socket (node:dgram now,
 * node:net when asip's TCP is there) connected to the real destination.
 * The proper core hook is described in docs of the report (a listen pcb that
 * accepts any destination); this driver-level NAT works with what exists.
 *
 * Refused destinations (outside the allowlist; default 127.0.0.0/8 only) get
 * ICMP destination unreachable, code 13 "communication administratively
 * prohibited" (RFC 1812 §5.2.7.1) for UDP and ICMP, and a RST for TCP.
 * IP fragments to NATed destinations are dropped (counted): the proxy would
 * need reassembly in front of the stack.
 *
 * @module
 */
import dgram from "node:dgram";
import net from "node:net";
import dns from "node:dns/promises";
import { Stack } from "../stack.js";
import { rawApi, type UdpPcb, type TcpPcb } from "../api/raw.js";
import type { LinkDriver } from "../netif/driver.js";
import { Relay, hostU32, hostText, type LocalPort, type NetworkPlan } from "./relay.js";

/** Options of {@link Gateway.start}. */
export interface GatewayOptions {
  /** Destinations (CIDR) the NAT may reach, after mapping the host alias to 127.0.0.1. Default ["127.0.0.0/8"]. */
  allow?: string[];
  /** Port forwards from the host into the virtual network: "[udp:|tcp:]HOSTPORT:IP:PORT". */
  forwards?: string[];
  /** Address the host side of forwards listens on (default "127.0.0.1"). */
  forwardHost?: string;
  /** DHCP lease time in seconds (default 3600). */
  leaseTime?: number;
  /** UDP flows idle this long are closed (default 60000 ms). */
  udpIdleMs?: number;
  /** The gateway's MAC (default 02:a5:1b:00:00:01). */
  mac?: string;
  /** Resolver for DNS (default node:dns lookup, IPv4). Tests may stub it. */
  resolve?: (name: string) => Promise<string[]>;
  log?: (line: string) => void;
}

/** Gateway counters. */
export interface GatewayStats {
  dhcp: { discover: number; offer: number; request: number; ack: number; nak: number; release: number; decline: number; inform: number; bad: number };
  dns: { queries: number; answered: number; nxdomain: number; bad: number };
  nat: { udpFlows: number; udpOpen: number; udpIn: number; udpOut: number; icmpEcho: number; refused: number; fragments: number; tcpFlows: number; tcpOpen: number; tcpRefused: number; dropped: number };
  forwards: { udp: number; tcp: number };
}

const ETH_HLEN = 14;
const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;
const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
/** NAT ports on the gateway's address: below the core's ephemeral range (49152–65535, RFC 6335). */
const NAT_PORT_FIRST = 20000;
const NAT_PORT_LAST = 39999;

// ---- packet helpers (network byte order; offsets into an Ethernet frame) -------------------

const rd16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const wr16 = (b: Uint8Array, o: number, v: number) => { b[o] = (v >>> 8) & 255; b[o + 1] = v & 255; };
const rd32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const wr32 = (b: Uint8Array, o: number, v: number) => { wr16(b, o, v >>> 16); wr16(b, o + 2, v & 0xffff); };

/** RFC 1071 checksum of b[off, off+len) plus `init` (a partial sum), as the field value. */
export function inetChecksum(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 eqn. 3: the checksum field after one 16-bit word changes from `m` to `m2`. */
export function csumAdjust(hc: number, m: number, m2: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + m2;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Rewrites a 32-bit field at `at` and adjusts the checksums at `sums` (offsets of 16-bit fields). */
function rewrite32(f: Uint8Array, at: number, v: number, sums: number[]): void {
  const hi = rd16(f, at), lo = rd16(f, at + 2);
  for (const c of sums) {
    let hc = rd16(f, c);
    hc = csumAdjust(hc, hi, v >>> 16);
    hc = csumAdjust(hc, lo, v & 0xffff);
    wr16(f, c, hc);
  }
  wr32(f, at, v);
}

function rewrite16(f: Uint8Array, at: number, v: number, sums: number[]): void {
  const old = rd16(f, at);
  for (const c of sums) wr16(f, c, csumAdjust(rd16(f, c), old, v));
  wr16(f, at, v);
}

/** A UDP checksum of 0 means "none" (RFC 768); a computed 0 is sent as 0xffff. */
function udpSums(f: Uint8Array, ipOff: number, l4: number): number[] {
  return rd16(f, l4 + 6) === 0 ? [ipOff + 10] : [ipOff + 10, l4 + 6];
}

/** A UDP checksum that comes out 0 is sent as 0xffff (RFC 768: 0 means "no checksum"). */
function fixUdpZero(f: Uint8Array, l4: number, sums: number[]): void {
  if (sums.length > 1 && rd16(f, l4 + 6) === 0) wr16(f, l4 + 6, 0xffff);
}

function parseMacText(s: string): Uint8Array {
  const p = s.split(":").map((x) => parseInt(x, 16));
  if (p.length !== 6 || p.some((x) => !(x >= 0 && x <= 255))) throw new TypeError(`bad MAC ${s}`);
  return Uint8Array.from(p);
}

/** Parses "a.b.c.d/len" into [network, mask] (host order). */
export function parseCidrHost(c: string): [number, number] {
  const [a, l] = c.split("/");
  const len = l === undefined ? 32 : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new RangeError(`bad prefix in ${c}`);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [(hostU32(a) & mask) >>> 0, mask];
}

// ---- DHCP (RFC 2131, options RFC 2132) ------------------------------------------------------

const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
const DHCP_MAGIC = 0x63825363;
/** Fixed part of a BOOTP/DHCP message before the options' magic cookie. */
const BOOTP_LEN = 236;

/** Reads DHCP options into a map (code → bytes); undefined when malformed. */
export function dhcpOptions(m: Uint8Array): Map<number, Uint8Array> | undefined {
  if (m.length < BOOTP_LEN + 4 || rd32(m, BOOTP_LEN) !== DHCP_MAGIC) return undefined;
  const opts = new Map<number, Uint8Array>();
  let i = BOOTP_LEN + 4;
  while (i < m.length) {
    const code = m[i++];
    if (code === 0) continue; // pad
    if (code === 255) return opts; // end
    if (i >= m.length) return undefined;
    const len = m[i++];
    if (i + len > m.length) return undefined;
    opts.set(code, m.subarray(i, i + len));
    i += len;
  }
  return opts; // no end option: tolerated, like most servers
}

// ---- DNS (RFC 1035) -------------------------------------------------------------------------

/** Reads the question's name at `off`; returns [name, offset after it] or undefined (no compression in questions). */
function dnsName(m: Uint8Array, off: number): [string, number] | undefined {
  const labels: string[] = [];
  let n = 0;
  while (off < m.length) {
    const len = m[off++];
    if (len === 0) return [labels.join("."), off];
    if (len > 63 || off + len > m.length || (n += len + 1) > 255) return undefined;
    labels.push(String.fromCharCode(...m.subarray(off, off + len)));
    off += len;
  }
  return undefined;
}

// ---- NAT flows ------------------------------------------------------------------------------

interface UdpFlow {
  key: string;
  clientIp: number;
  clientPort: number;
  /** The destination the virtual host used (host order). */
  dstIp: number;
  dstPort: number;
  /** Where the host socket sends (the real destination). */
  realIp: string;
  natPort: number;
  pcb: UdpPcb;
  sock: dgram.Socket;
  last: number;
  /** Datagrams waiting for the host socket to be connected. */
  pending: Uint8Array[] | undefined;
}

interface TcpFlow {
  key: string;
  clientIp: number;
  clientPort: number;
  dstIp: number;
  dstPort: number;
  natPort: number;
  listener: TcpPcb | undefined;
  sock?: net.Socket;
  last: number;
  /** Both sides closed: the flow only waits to release its port. */
  done: boolean;
}

/**
 * Joins an asip TCP connection and a node:net socket, with backpressure both
 * ways: what the pcb cannot take yet waits (and the socket is paused) until
 * the sent callback; the pcb's window stays closed by what the socket has
 * not flushed. FIN and RST travel across.
 */
export function pipeTcp(pcb: TcpPcb, sock: net.Socket, onDone: () => void): void {
  let pending: Uint8Array[] = [];
  let finPending = false, gotFin = false, sentFin = false, finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    onDone();
  };
  const flush = () => {
    while (pending.length > 0 && pcb.handle !== 0) {
      const d = pending[0];
      const n = pcb.write(d);
      if (n < d.length) {
        pending[0] = d.subarray(n);
        return;
      }
      pending.shift();
    }
    if (pending.length === 0) {
      sock.resume();
      if (finPending && !sentFin && pcb.handle !== 0) {
        sentFin = true;
        pcb.shutdown(false, true);
        if (gotFin) closeBoth();
      }
    }
  };
  const closeBoth = () => {
    if (pcb.handle !== 0) try { pcb.close(); } catch { /* gone */ }
    sock.destroy();
    finish();
  };
  pcb.autoRecved = false;
  pcb.recv((data) => {
    if (data === null) {
      gotFin = true;
      sock.end();
      if (sentFin) closeBoth();
      return;
    }
    const n = data.length;
    sock.write(data.slice(), () => {
      if (pcb.handle !== 0) pcb.recved(n);
    });
  });
  pcb.sent(() => flush());
  pcb.err(() => {
    sock.destroy();
    finish();
  });
  sock.on("data", (chunk) => {
    if (pcb.handle === 0) return;
    pending.push(chunk);
    flush();
    if (pending.length > 0) sock.pause();
  });
  sock.on("end", () => {
    finPending = true;
    flush();
  });
  sock.on("error", () => {
    pending = [];
    if (pcb.handle !== 0) try { pcb.abort(); } catch { /* gone */ }
    finish();
  });
  sock.on("close", () => {
    if (!finPending && pcb.handle !== 0) try { pcb.abort(); } catch { /* gone */ }
  });
}

/** The gateway: a stack on the relay plus the services and NAT around it. */
export class Gateway {
  readonly stack: Stack;
  readonly relay: Relay;
  readonly plan: NetworkPlan;
  readonly mac: Uint8Array;
  readonly counters: GatewayStats = {
    dhcp: { discover: 0, offer: 0, request: 0, ack: 0, nak: 0, release: 0, decline: 0, inform: 0, bad: 0 },
    dns: { queries: 0, answered: 0, nxdomain: 0, bad: 0 },
    nat: { udpFlows: 0, udpOpen: 0, udpIn: 0, udpOut: 0, icmpEcho: 0, refused: 0, fragments: 0, tcpFlows: 0, tcpOpen: 0, tcpRefused: 0, dropped: 0 },
    forwards: { udp: 0, tcp: 0 },
  };
  /** Host-order addresses. */
  readonly gwIp: number;
  readonly aliasIp: number;
  readonly netBase: number;
  readonly netMask: number;
  private readonly allow: [number, number][];
  private readonly port: LocalPort;
  private readonly opts: GatewayOptions;
  private rx: (frame: Uint8Array) => void = () => {};
  private readonly udpFlows = new Map<string, UdpFlow>();
  private readonly udpByNatPort = new Map<number, UdpFlow>();
  private readonly tcpFlows = new Map<string, TcpFlow>();
  private readonly tcpByNatPort = new Map<number, TcpFlow>();
  private nextNatPort = NAT_PORT_FIRST;
  /** Echo requests NATed to the gateway: "client/id/seq" → destination the client pinged. */
  private readonly echoes = new Map<string, { dst: number; at: number }>();
  private readonly closers: (() => void | Promise<void>)[] = [];
  private sweep: ReturnType<typeof setInterval>;
  private closed = false;

  private constructor(relay: Relay, stack: Stack, port: LocalPort, opts: GatewayOptions) {
    this.relay = relay;
    this.stack = stack;
    this.port = port;
    this.opts = opts;
    this.plan = relay.plan;
    this.mac = parseMacText(opts.mac ?? "02:a5:1b:00:00:01");
    this.gwIp = hostU32(this.plan.gateway);
    this.aliasIp = hostU32(this.plan.hostAlias);
    [this.netBase, this.netMask] = parseCidrHost(this.plan.subnet);
    this.allow = (opts.allow ?? ["127.0.0.0/8"]).map(parseCidrHost);
    this.sweep = setInterval(() => this.expire(), 1000);
    this.sweep.unref();
  }

  /** Starts a gateway on `relay`'s switch. */
  static async start(relay: Relay, opts: GatewayOptions = {}): Promise<Gateway> {
    const stack = await Stack.create({ pools: { UDP_PCB: 320, TCP_PCB: 512, TCP_PCB_LISTEN: 64 } });
    const port = relay.attachLocal("gateway");
    const gw = new Gateway(relay, stack, port, opts);
    const link: LinkDriver = {
      mtu: port.mtu,
      send: (frame) => gw.fromStack(frame),
      onReceive: (cb) => { gw.rx = cb; },
      close: () => port.close(),
    };
    port.onReceive((frame) => gw.fromSwitch(frame));
    const prefix = relay.pool.prefix;
    stack.addInterface(link, { ip: `${relay.plan.gateway}/${prefix}`, mac: opts.mac ?? "02:a5:1b:00:00:01", mtu: port.mtu });
    gw.startDhcp();
    gw.startDns();
    for (const f of opts.forwards ?? []) await gw.addForward(f);
    gw.log(`gateway ${relay.plan.gateway}/${prefix}, host alias ${relay.plan.hostAlias} → 127.0.0.1, NAT allowlist ${(opts.allow ?? ["127.0.0.0/8"]).join(", ")}`);
    return gw;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Whether the NAT may reach `ip` (host order). */
  allowed(ip: number): boolean {
    return this.allow.some(([net, mask]) => ((ip & mask) >>> 0) === net);
  }

  private inSubnet(ip: number): boolean {
    return ((ip & this.netMask) >>> 0) === this.netBase;
  }

  // ---- frames from the switch (towards the stack) ----

  private fromSwitch(frame: Uint8Array): void {
    if (this.closed || frame.length < ETH_HLEN) return;
    const type = rd16(frame, 12);
    if (type === ETH_ARP) {
      this.proxyArp(frame);
      this.rx(frame);
      return;
    }
    if (type !== ETH_IP || frame.length < ETH_HLEN + 20) return this.rx(frame);
    // Only frames addressed to our MAC are routed; broadcasts go to the stack as they are.
    for (let i = 0; i < 6; i++) if (frame[i] !== this.mac[i]) return this.rx(frame);
    const ip = ETH_HLEN;
    if (frame[ip] >> 4 !== 4) return this.rx(frame);
    const dst = rd32(frame, ip + 16);
    if (dst === this.gwIp) return this.rx(frame);
    // A packet to route: to the host alias or outside the virtual network.
    if (this.inSubnet(dst) && dst !== this.aliasIp) {
      this.counters.nat.dropped++; // on-link; not ours to route
      return;
    }
    const ihl = (frame[ip] & 15) * 4;
    const total = rd16(frame, ip + 2);
    if (ihl < 20 || total < ihl || ETH_HLEN + total > frame.length) {
      this.counters.nat.dropped++;
      return;
    }
    if ((rd16(frame, ip + 6) & 0x3fff) !== 0) {
      this.counters.nat.fragments++;
      return;
    }
    const real = dst === this.aliasIp ? 0x7f000001 : dst;
    const proto = frame[ip + 9];
    if (!this.allowed(real)) {
      this.counters.nat.refused++;
      this.log(`NAT refused ${hostText(rd32(frame, ip + 12))} → ${hostText(dst)} (proto ${proto}): not in the allowlist`);
      if (proto === PROTO_TCP) this.sendRst(frame, ihl);
      else this.sendUnreachable(frame, ihl, 13);
      return;
    }
    const l4 = ip + ihl;
    if (proto === PROTO_UDP && total >= ihl + 8) {
      this.natUdpIn(frame, ip, l4, dst, real);
    } else if (proto === PROTO_ICMP && total >= ihl + 8 && frame[l4] === 8 && dst === this.aliasIp) {
      // Echo to the host alias: the gateway answers for the host (it is
      // reachable by definition). The reply's source is rewritten back.
      const client = rd32(frame, ip + 12);
      this.echoes.set(`${client}/${rd16(frame, l4 + 4)}/${rd16(frame, l4 + 6)}`, { dst, at: performance.now() });
      const f = frame.slice();
      rewrite32(f, ip + 16, this.gwIp, [ip + 10]);
      this.counters.nat.icmpEcho++;
      this.rx(f);
    } else if (proto === PROTO_TCP && total >= ihl + 20) {
      this.natTcpIn(frame, ip, l4, ihl, dst, real);
    } else {
      this.sendUnreachable(frame, ihl, 1); // host unreachable: we do not proxy this
    }
  }

  /** Proxy ARP (RFC 1027) for the host alias: it lives behind the gateway. */
  private proxyArp(f: Uint8Array): void {
    if (f.length < ETH_HLEN + 28 || rd16(f, 14) !== 1 || rd16(f, 16) !== ETH_IP || rd16(f, 20) !== 1) return;
    if (rd32(f, 38) !== this.aliasIp) return;
    const r = new Uint8Array(60);
    r.set(f.subarray(6, 12), 0);
    r.set(this.mac, 6);
    wr16(r, 12, ETH_ARP);
    wr16(r, 14, 1); wr16(r, 16, ETH_IP); r[18] = 6; r[19] = 4; wr16(r, 20, 2);
    r.set(this.mac, 22);
    wr32(r, 28, this.aliasIp);
    r.set(f.subarray(22, 32), 32); // target = the asker's MAC and IP
    this.toSwitch(r);
  }

  private natUdpIn(f: Uint8Array, ip: number, l4: number, dst: number, real: number): void {
    const client = rd32(f, ip + 12), sport = rd16(f, l4), dport = rd16(f, l4 + 2);
    if (dport === 0) return;
    const key = `${client}:${sport}>${dst}:${dport}`;
    let flow = this.udpFlows.get(key);
    if (!flow) {
      const made = this.newUdpFlow(key, client, sport, dst, dport, hostText(real));
      if (!made) {
        this.counters.nat.dropped++;
        return;
      }
      flow = made;
    }
    flow.last = performance.now();
    this.counters.nat.udpOut++;
    f = f.slice(); // the switch may have handed the same frame to others
    const sums = udpSums(f, ip, l4);
    rewrite32(f, ip + 16, this.gwIp, sums);
    rewrite16(f, l4 + 2, flow.natPort, sums.slice(1));
    fixUdpZero(f, l4, sums);
    this.rx(f);
  }

  private newUdpFlow(key: string, clientIp: number, clientPort: number, dstIp: number, dstPort: number, realIp: string): UdpFlow | undefined {
    let natPort = 0;
    for (let i = 0; i <= NAT_PORT_LAST - NAT_PORT_FIRST; i++) {
      const p = this.nextNatPort;
      this.nextNatPort = p === NAT_PORT_LAST ? NAT_PORT_FIRST : p + 1;
      if (!this.udpByNatPort.has(p)) { natPort = p; break; }
    }
    if (!natPort) return undefined;
    let pcb: UdpPcb;
    try {
      pcb = rawApi(this.stack).udp.new().bind(this.plan.gateway, natPort);
    } catch {
      return undefined; // out of UDP pcbs: the datagram is dropped
    }
    const sock = dgram.createSocket("udp4");
    const flow: UdpFlow = { key, clientIp, clientPort, dstIp, dstPort, realIp, natPort, pcb, sock, last: performance.now(), pending: [] };
    sock.on("error", () => this.closeUdpFlow(flow));
    sock.on("message", (msg) => {
      flow.last = performance.now();
      this.counters.nat.udpIn++;
      try {
        flow.pcb.sendRaw(msg, this.u32(clientIp), clientPort);
      } catch {
        this.counters.nat.dropped++;
      }
    });
    sock.connect(dstPort, realIp, () => {
      const q = flow.pending ?? [];
      flow.pending = undefined;
      for (const d of q) sock.send(d);
    });
    sock.unref();
    pcb.recv((data) => {
      if (flow.pending) flow.pending.push(data.slice());
      else sock.send(data.slice());
    });
    this.udpFlows.set(key, flow);
    this.udpByNatPort.set(natPort, flow);
    this.counters.nat.udpFlows++;
    this.counters.nat.udpOpen++;
    this.log(`NAT udp ${hostText(clientIp)}:${clientPort} → ${hostText(dstIp)}:${dstPort} (host ${realIp}:${dstPort}) via port ${natPort}`);
    return flow;
  }

  /**
   * TCP through the NAT: the first SYN of a flow makes a listener on a fresh
   * gateway port; every segment of the flow is rewritten to that port, so the
   * gateway's TCP terminates the connection and {@link pipeTcp} joins it to
   * a node:net socket connected to the real destination.
   */
  private natTcpIn(frame: Uint8Array, ip: number, l4: number, ihl: number, dst: number, real: number): void {
    const client = rd32(frame, ip + 12), sport = rd16(frame, l4), dport = rd16(frame, l4 + 2);
    const key = `${client}:${sport}>${dst}:${dport}`;
    let flow = this.tcpFlows.get(key);
    const flags = frame[l4 + 13];
    if (!flow || (flow.done && (flags & 0x12) === 0x02)) {
      if (flow) this.closeTcpFlow(flow);
      if ((flags & 0x17) !== 0x02) {
        // Not a SYN and no flow: answer like a closed port (RFC 9293 §3.10.7.1).
        this.counters.nat.tcpRefused++;
        this.sendRst(frame, ihl);
        return;
      }
      flow = this.newTcpFlow(key, client, sport, dst, dport, hostText(real));
      if (!flow) {
        this.counters.nat.dropped++;
        return; // out of ports or pcbs: the SYN is dropped, the client retries
      }
    }
    flow.last = performance.now();
    const f = frame.slice();
    rewrite32(f, ip + 16, this.gwIp, [ip + 10, l4 + 16]);
    rewrite16(f, l4 + 2, flow.natPort, [l4 + 16]);
    this.rx(f);
  }

  private newTcpFlow(key: string, clientIp: number, clientPort: number, dstIp: number, dstPort: number, realIp: string): TcpFlow | undefined {
    let natPort = 0;
    for (let i = 0; i <= NAT_PORT_LAST - NAT_PORT_FIRST; i++) {
      const p = this.nextNatPort;
      this.nextNatPort = p === NAT_PORT_LAST ? NAT_PORT_FIRST : p + 1;
      if (!this.udpByNatPort.has(p) && !this.tcpByNatPort.has(p)) { natPort = p; break; }
    }
    if (!natPort) return undefined;
    let listener: TcpPcb;
    try {
      listener = rawApi(this.stack).tcp.new();
      listener.reuseaddr = true;
      listener.bind(this.plan.gateway, natPort).listen(1);
    } catch {
      return undefined;
    }
    const flow: TcpFlow = { key, clientIp, clientPort, dstIp, dstPort, natPort, listener, last: performance.now(), done: false };
    listener.accept((pcb) => {
      try { listener.close(); } catch { /* closed */ }
      flow.listener = undefined;
      const sock = net.connect({ host: realIp, port: dstPort });
      flow.sock = sock;
      pipeTcp(pcb, sock, () => {
        flow.done = true;
        flow.last = performance.now();
      });
    });
    this.tcpFlows.set(key, flow);
    this.tcpByNatPort.set(natPort, flow);
    this.counters.nat.tcpFlows++;
    this.counters.nat.tcpOpen++;
    this.log(`NAT tcp ${hostText(clientIp)}:${clientPort} → ${hostText(dstIp)}:${dstPort} (host ${realIp}:${dstPort}) via port ${natPort}`);
    return flow;
  }

  private closeTcpFlow(flow: TcpFlow): void {
    if (this.tcpFlows.get(flow.key) !== flow) return;
    this.tcpFlows.delete(flow.key);
    this.tcpByNatPort.delete(flow.natPort);
    this.counters.nat.tcpOpen--;
    try { flow.listener?.close(); } catch { /* closed */ }
    flow.sock?.destroy();
  }

  private closeUdpFlow(flow: UdpFlow): void {
    if (this.udpFlows.get(flow.key) !== flow) return;
    this.udpFlows.delete(flow.key);
    this.udpByNatPort.delete(flow.natPort);
    this.counters.nat.udpOpen--;
    try { flow.pcb.remove(); } catch { /* stack closed */ }
    try { flow.sock.close(); } catch { /* closed */ }
  }

  private expire(): void {
    const now = performance.now();
    const idle = this.opts.udpIdleMs ?? 60000;
    for (const f of [...this.udpFlows.values()]) if (now - f.last > idle) this.closeUdpFlow(f);
    // A finished TCP flow keeps its port for 2 MSL-ish (the gateway's TIME_WAIT side), then goes;
    // one whose SYN never completed goes after 75 s (RFC 1122 §4.2.3.5 connect timeout).
    for (const f of [...this.tcpFlows.values()]) {
      if ((f.done && now - f.last > 5000) || (f.listener && now - f.last > 75000)) this.closeTcpFlow(f);
    }
    for (const [k, e] of this.echoes) if (now - e.at > 10000) this.echoes.delete(k);
  }

  /** Host-order → the core's network-order u32 (for sendRaw). */
  private u32(h: number): number {
    return (((h >>> 24) & 255) | (((h >>> 16) & 255) << 8) | (((h >>> 8) & 255) << 16) | ((h & 255) << 24)) >>> 0;
  }

  // ---- frames from the stack (towards the switch) ----

  private fromStack(view: Uint8Array): void {
    if (this.closed) return;
    if (view.length >= ETH_HLEN + 28 && rd16(view, 12) === ETH_IP && rd32(view, ETH_HLEN + 12) === this.gwIp) {
      const ip = ETH_HLEN;
      const ihl = (view[ip] & 15) * 4;
      const l4 = ip + ihl;
      const proto = view[ip + 9];
      const frag = rd16(view, ip + 6) & 0x3fff;
      if (proto === PROTO_TCP && frag === 0 && view.length >= l4 + 20) {
        const flow = this.tcpByNatPort.get(rd16(view, l4));
        if (flow && rd32(view, ip + 16) === flow.clientIp && rd16(view, l4 + 2) === flow.clientPort) {
          const f = view.slice();
          rewrite32(f, ip + 12, flow.dstIp, [ip + 10, l4 + 16]);
          rewrite16(f, l4, flow.dstPort, [l4 + 16]);
          this.relay.input(this.port, f);
          return;
        }
      } else if (proto === PROTO_UDP && frag === 0 && view.length >= l4 + 8) {
        const flow = this.udpByNatPort.get(rd16(view, l4));
        if (flow) {
          const f = view.slice();
          const sums = udpSums(f, ip, l4);
          rewrite32(f, ip + 12, flow.dstIp, sums);
          rewrite16(f, l4, flow.dstPort, sums.slice(1));
          fixUdpZero(f, l4, sums);
          this.relay.input(this.port, f);
          return;
        }
      } else if (proto === PROTO_ICMP && frag === 0 && view[l4] === 0) {
        const k = `${rd32(view, ip + 16)}/${rd16(view, l4 + 4)}/${rd16(view, l4 + 6)}`;
        const e = this.echoes.get(k);
        if (e) {
          this.echoes.delete(k);
          const f = view.slice();
          rewrite32(f, ip + 12, e.dst, [ip + 10]);
          this.relay.input(this.port, f);
          return;
        }
      }
    }
    this.port.send(view);
  }

  private toSwitch(frame: Uint8Array): void {
    this.relay.input(this.port, frame);
  }

  /** An IPv4 packet from the gateway to `dst` (host order) with the given payload, in an Ethernet frame to `dstMac`. */
  private ipFrame(dstMac: Uint8Array, src: number, dst: number, proto: number, payload: Uint8Array): Uint8Array {
    const f = new Uint8Array(Math.max(60, ETH_HLEN + 20 + payload.length));
    f.set(dstMac, 0);
    f.set(this.mac, 6);
    wr16(f, 12, ETH_IP);
    const ip = ETH_HLEN;
    f[ip] = 0x45;
    wr16(f, ip + 2, 20 + payload.length);
    wr16(f, ip + 6, 0x4000); // DF
    f[ip + 8] = 64;
    f[ip + 9] = proto;
    wr32(f, ip + 12, src);
    wr32(f, ip + 16, dst);
    wr16(f, ip + 10, inetChecksum(f, ip, 20));
    f.set(payload, ip + 20);
    return f;
  }

  /** ICMP destination unreachable (RFC 792) about the packet in `f`, from the gateway (RFC 1812 §4.3.2.4). */
  private sendUnreachable(f: Uint8Array, ihl: number, code: number): void {
    const ip = ETH_HLEN;
    const quoted = f.subarray(ip, Math.min(ip + rd16(f, ip + 2), ip + ihl + 8));
    const icmp = new Uint8Array(8 + quoted.length);
    icmp[0] = 3;
    icmp[1] = code;
    icmp.set(quoted, 8);
    wr16(icmp, 2, inetChecksum(icmp, 0, icmp.length));
    this.toSwitch(this.ipFrame(f.subarray(6, 12), this.gwIp, rd32(f, ip + 12), PROTO_ICMP, icmp));
  }

  /** A RST for the TCP segment in `f` (RFC 9293 §3.10.7.1, as from a CLOSED port), from the destination it tried. */
  private sendRst(f: Uint8Array, ihl: number): void {
    const ip = ETH_HLEN, l4 = ip + ihl;
    const total = rd16(f, ip + 2);
    if (total < ihl + 20) return;
    const flags = f[l4 + 13];
    if (flags & 0x04) return; // never answer a RST
    const hlen = (f[l4 + 12] >> 4) * 4;
    const segLen = total - ihl - hlen + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0);
    const t = new Uint8Array(20);
    wr16(t, 0, rd16(f, l4 + 2));
    wr16(t, 2, rd16(f, l4));
    if (flags & 0x10) {
      wr32(t, 4, rd32(f, l4 + 8)); // <SEQ=SEG.ACK><CTL=RST>
      t[13] = 0x04;
    } else {
      wr32(t, 8, (rd32(f, l4 + 4) + segLen) >>> 0); // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
      t[13] = 0x14;
    }
    t[12] = 5 << 4;
    const src = rd32(f, ip + 16), dst = rd32(f, ip + 12);
    // Pseudo-header sum (RFC 9293 §3.1).
    const ph = new Uint8Array(12);
    wr32(ph, 0, src); wr32(ph, 4, dst); ph[9] = PROTO_TCP; wr16(ph, 10, 20);
    let s = 0;
    for (let i = 0; i < 12; i += 2) s += rd16(ph, i);
    wr16(t, 16, inetChecksum(t, 0, 20, s));
    this.toSwitch(this.ipFrame(f.subarray(6, 12), src, dst, PROTO_TCP, t));
  }

  // ---- DHCP server ----

  private startDhcp(): void {
    const pcb = rawApi(this.stack).udp.new().bind("0.0.0.0", 67);
    pcb.broadcast = true;
    pcb.recv((data) => {
      try {
        this.dhcp(pcb, data);
      } catch {
        this.counters.dhcp.bad++;
      }
    });
    this.closers.push(() => pcb.remove());
  }

  private dhcp(pcb: UdpPcb, m: Uint8Array): void {
    const c = this.counters.dhcp;
    if (m.length < BOOTP_LEN + 4 || m[0] !== 1 || m[1] !== 1 || m[2] !== 6) { c.bad++; return; } // BOOTREQUEST, Ethernet
    const opts = dhcpOptions(m);
    const type = opts?.get(53)?.[0];
    if (!opts || type === undefined) { c.bad++; return; }
    const chaddr = m.subarray(28, 34);
    const cid = opts.get(61);
    const key = `dhcp:${Buffer.from(cid ?? chaddr).toString("hex")}`;
    const pool = this.relay.pool;
    const serverId = opts.get(54);
    const reqIp = opts.get(50);
    const ciaddr = rd32(m, 12);
    switch (type) {
      case DHCP.DISCOVER: {
        c.discover++;
        // RFC 2131 §4.3.1: the client's current lease, else the requested address if free, else a free one.
        let ip: string | undefined;
        if (reqIp?.length === 4 && pool.contains(hostText(rd32(reqIp, 0))) && pool.holder(hostText(rd32(reqIp, 0))) === undefined) {
          ip = hostText(rd32(reqIp, 0));
          if (!pool.byKey.has(key)) pool.reserve(key, ip);
          else ip = pool.lease(key);
        } else ip = pool.lease(key);
        if (!ip) return; // pool exhausted: no offer (§4.3.1 "the server MAY choose not to respond")
        c.offer++;
        this.dhcpReply(pcb, m, DHCP.OFFER, hostU32(ip));
        return;
      }
      case DHCP.REQUEST: {
        c.request++;
        if (serverId && (serverId.length !== 4 || rd32(serverId, 0) !== this.gwIp)) {
          pool.release(key); // SELECTING another server: forget our offer (§4.3.2)
          return;
        }
        const want = reqIp?.length === 4 ? rd32(reqIp, 0) : ciaddr;
        if (!want || !pool.contains(hostText(want)) || !pool.reserve(key, hostText(want))) {
          c.nak++;
          this.dhcpReply(pcb, m, DHCP.NAK, 0);
          return;
        }
        c.ack++;
        this.dhcpReply(pcb, m, DHCP.ACK, want);
        this.log(`DHCP ${Buffer.from(chaddr).toString("hex").match(/../g)!.join(":")} → ${hostText(want)}`);
        return;
      }
      case DHCP.RELEASE:
        c.release++;
        if (pool.holder(hostText(ciaddr)) === key) pool.release(key);
        return;
      case DHCP.DECLINE:
        // The address is in use by someone we do not know (§4.3.3): take it out of the pool.
        c.decline++;
        if (reqIp?.length === 4) {
          pool.release(key);
          pool.reserve(`declined:${hostText(rd32(reqIp, 0))}`, hostText(rd32(reqIp, 0)));
        }
        return;
      case DHCP.INFORM:
        c.inform++;
        c.ack++;
        this.dhcpReply(pcb, m, DHCP.ACK, 0, true);
        return;
      default:
        c.bad++;
    }
  }

  private dhcpReply(pcb: UdpPcb, req: Uint8Array, type: number, yiaddr: number, inform = false): void {
    const plan = this.plan;
    const r = new Uint8Array(300);
    r[0] = 2; r[1] = 1; r[2] = 6; // BOOTREPLY, Ethernet, hlen 6
    r.set(req.subarray(4, 8), 4); // xid
    r.set(req.subarray(10, 12), 10); // flags
    if (inform) r.set(req.subarray(12, 16), 12); // ciaddr
    wr32(r, 16, yiaddr);
    if (type !== DHCP.NAK) wr32(r, 20, this.gwIp); // siaddr
    r.set(req.subarray(24, 44), 24); // giaddr, chaddr
    wr32(r, BOOTP_LEN, DHCP_MAGIC);
    let o = BOOTP_LEN + 4;
    const opt = (code: number, bytes: number[]) => { r[o++] = code; r[o++] = bytes.length; for (const b of bytes) r[o++] = b; };
    const ip4 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    opt(53, [type]);
    opt(54, ip4(this.gwIp));
    if (type !== DHCP.NAK) {
      const lease = this.opts.leaseTime ?? 3600;
      if (!inform) {
        opt(51, ip4(lease));
        opt(58, ip4(Math.floor(lease / 2))); // T1 (RFC 2131 §4.4.5)
        opt(59, ip4(Math.floor((lease * 7) / 8))); // T2
      }
      opt(1, ip4(this.netMask));
      opt(3, ip4(hostU32(plan.gateway)));
      opt(6, ip4(hostU32(plan.dns)));
      opt(26, [(plan.mtu >>> 8) & 255, plan.mtu & 255]);
    }
    r[o++] = 255;
    const out = r.subarray(0, Math.max(o, 300));
    // Broadcast (RFC 2131 §4.1): the client has no address yet, and the
    // gateway's ARP cannot resolve one it has not taken.
    const to = inform && rd32(req, 12) ? hostText(rd32(req, 12)) : "255.255.255.255";
    pcb.sendto(out, to, 68);
  }

  // ---- DNS server ----

  private startDns(): void {
    const pcb = rawApi(this.stack).udp.new().bind("0.0.0.0", 53);
    pcb.recv((data, addr, port) => {
      const q = data.slice();
      void this.dns(q).then((answer) => {
        if (answer && !this.closed) {
          try { pcb.sendto(answer, addr, port); } catch { /* stack closed */ }
        }
      });
    });
    this.closers.push(() => pcb.remove());
  }

  /** Answers one DNS query (RFC 1035 §4.1): A from the host's resolver, empty NOERROR for other types of names that exist. */
  async dns(q: Uint8Array): Promise<Uint8Array | undefined> {
    const c = this.counters.dns;
    c.queries++;
    if (q.length < 12 || q[2] & 0x80) { c.bad++; return undefined; } // not a query
    const opcode = (q[2] >> 3) & 15;
    const qd = rd16(q, 4);
    const head = (rcode: number, an: number, end: number) => {
      const r = new Uint8Array(end);
      r.set(q.subarray(0, end), 0);
      r[2] = 0x80 | (q[2] & 0x79); // QR, opcode, RD copied
      r[3] = 0x80 | rcode; // RA
      wr16(r, 4, end > 12 ? 1 : 0); wr16(r, 6, an); wr16(r, 8, 0); wr16(r, 10, 0);
      return r;
    };
    if (opcode !== 0 || qd !== 1) { c.bad++; return head(4, 0, 12); } // NOTIMP
    const nm = dnsName(q, 12);
    if (!nm || nm[1] + 4 > q.length) { c.bad++; return head(1, 0, 12); } // FORMERR
    const [name, at] = nm;
    const qtype = rd16(q, at), qclass = rd16(q, at + 2);
    const end = at + 4;
    let addrs: string[] = [];
    const lower = name.toLowerCase();
    if (lower === "host.asip.internal") addrs = [this.plan.hostAlias];
    else if (lower === "gateway.asip.internal") addrs = [this.plan.gateway];
    else {
      try {
        addrs = this.opts.resolve ? await this.opts.resolve(name) : (await dns.lookup(name, { family: 4, all: true })).map((a) => a.address);
      } catch {
        c.nxdomain++;
        return head(3, 0, end); // NXDOMAIN
      }
      // A virtual host's 127/8 is its own loopback: give the host alias instead.
      addrs = [...new Set(addrs.map((a) => (a.startsWith("127.") ? this.plan.hostAlias : a)))];
    }
    if (qclass !== 1 || qtype !== 1) { c.answered++; return head(0, 0, end); } // no data of that type
    const r = new Uint8Array(end + 16 * addrs.length);
    r.set(head(0, addrs.length, end), 0);
    let o = end;
    for (const a of addrs) {
      wr16(r, o, 0xc00c); // name: pointer to the question
      wr16(r, o + 2, 1); wr16(r, o + 4, 1);
      wr32(r, o + 6, 60); // TTL
      wr16(r, o + 10, 4);
      wr32(r, o + 12, hostU32(a));
      o += 16;
    }
    c.answered++;
    return r;
  }

  // ---- port forwards ----

  /** Adds a forward "[udp:|tcp:]HOSTPORT:IP:PORT" (host → virtual network). */
  async addForward(spec: string): Promise<number> {
    const m = /^(?:(tcp|udp):)?(\d+):(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(spec);
    if (!m) throw new Error(`bad forward ${spec} (want [udp:|tcp:]HOSTPORT:IP:PORT)`);
    const proto = m[1] ?? "tcp";
    const hostPort = Number(m[2]), ip = m[3], port = Number(m[4]);
    if (proto === "tcp") {
      // Each host connection becomes a connection from the gateway's stack into the virtual network.
      const server = net.createServer((sock) => {
        this.counters.forwards.tcp++;
        let pcb: TcpPcb;
        try {
          pcb = rawApi(this.stack).tcp.new();
        } catch {
          sock.destroy();
          return;
        }
        sock.pause();
        pipeTcp(pcb, sock, () => {});
        pcb.connect(ip, port, (err) => {
          if (err) sock.destroy();
          else sock.resume();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(hostPort, this.opts.forwardHost ?? "127.0.0.1", () => { server.off("error", reject); resolve(); });
      });
      const bound = (server.address() as net.AddressInfo).port;
      this.closers.push(() => new Promise<void>((r) => { server.close(() => r()); }));
      this.log(`forward tcp ${this.opts.forwardHost ?? "127.0.0.1"}:${bound} → ${ip}:${port}`);
      return bound;
    }
    // UDP: one gateway pcb per host-side sender, so replies find their way back.
    const sock = dgram.createSocket("udp4");
    const peers = new Map<string, { pcb: UdpPcb; last: number }>();
    sock.on("message", (msg, rinfo) => {
      const k = `${rinfo.address}:${rinfo.port}`;
      let e = peers.get(k);
      if (!e) {
        let pcb: UdpPcb;
        try {
          pcb = rawApi(this.stack).udp.new().bind("0.0.0.0", 0);
        } catch {
          return;
        }
        pcb.recv((d, from, fromPort) => {
          if (from === ip && fromPort === port) sock.send(d.slice(), rinfo.port, rinfo.address);
        });
        e = { pcb, last: 0 };
        peers.set(k, e);
      }
      e.last = performance.now();
      this.counters.forwards.udp++;
      try { e.pcb.sendto(msg, ip, port); } catch { /* out of buffers: dropped */ }
    });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(hostPort, this.opts.forwardHost ?? "127.0.0.1", () => { sock.off("error", reject); resolve(); });
    });
    const bound = sock.address().port;
    this.closers.push(() => {
      for (const e of peers.values()) try { e.pcb.remove(); } catch { /* closed */ }
      sock.close();
    });
    this.log(`forward udp ${this.opts.forwardHost ?? "127.0.0.1"}:${bound} → ${ip}:${port}`);
    return bound;
  }

  stats(): GatewayStats & { stack: ReturnType<Stack["stats"]> } {
    return { ...this.counters, stack: this.stack.stats() };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.sweep);
    for (const f of [...this.udpFlows.values()]) this.closeUdpFlow(f);
    for (const f of [...this.tcpFlows.values()]) this.closeTcpFlow(f);
    for (const c of this.closers) {
      try { await c(); } catch { /* best effort */ }
    }
    this.closed = true;
    await this.stack.close();
  }
}
