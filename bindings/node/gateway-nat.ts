/**
 * The gateway's user-mode NAT (bindings/node/gateway.ts): flows from virtual
 * hosts to the host or to allowed outside destinations are rewritten in
 * front of the gateway's stack to a per-flow port on its own address
 * (checksums updated incrementally, RFC 1624), terminated by an ordinary pcb,
 * and proxied to a real host socket; what the stack sends from such a port
 * is rewritten back.
 *
 * @module
 */
import dgram from "node:dgram";
import net from "node:net";
import type { Stack } from "../stack.js";
import { rawApi, type UdpPcb, type TcpPcb, type TcpPcbLike } from "../api/raw.js";
import { IpAddress } from "../ip-address.js";
import { rd16, rd32, wr16, wr32 } from "../wire/bytes.js";
import { checksumAdjust } from "../wire/checksum.js";
import { ETH_HLEN, ETHTYPE_IPV4, ethType } from "../wire/ethernet.js";
import { IPV4_SRC, IPV4_DST, IPV4_CSUM, IPV4_PROTO, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP, ipv4Ihl, ipv4IsFragment } from "../wire/ipv4.js";
import {
  UDP_HLEN, UDP_SPORT, UDP_DPORT, UDP_CSUM, TCP_HLEN, TCP_SPORT, TCP_DPORT, TCP_FLAGS, TCP_CSUM, ICMP_ECHO_REPLY, ICMP_ID, ICMP_SEQ,
} from "../wire/transport.js";
import { hostText, type NetworkPlan } from "./relay.js";
import type { GatewayStats } from "./gateway.js";

/** NAT ports on the gateway's address: below the core's ephemeral range (49152–65535, RFC 6335). */
const NAT_PORT_FIRST = 20000;
const NAT_PORT_LAST = 39999;

/** What the NAT needs from its gateway. */
export interface NatContext {
  readonly stack: Stack;
  readonly plan: NetworkPlan;
  /** The gateway's address, host order. */
  readonly gwIp: number;
  readonly counters: GatewayStats["nat"];
  /** UDP flows idle this long are closed (ms). */
  readonly udpIdleMs: number;
  log(line: string): void;
  /** Hands a (rewritten) frame to the gateway's stack. */
  toStack(frame: Uint8Array): void;
  /** A RST for the TCP segment in `f`, as from a closed port. */
  sendRst(f: Uint8Array, ihl: number): void;
}

// ---- rewriting (RFC 1624) -------------------------------------------------------------------

/** Rewrites a 32-bit field at `at` and adjusts the checksums at `sums` (offsets of 16-bit fields). */
function rewrite32(f: Uint8Array, at: number, v: number, sums: number[]): void {
  const hi = rd16(f, at), lo = rd16(f, at + 2);
  for (const c of sums) {
    let hc = rd16(f, c);
    hc = checksumAdjust(hc, hi, v >>> 16);
    hc = checksumAdjust(hc, lo, v & 0xffff);
    wr16(f, c, hc);
  }
  wr32(f, at, v);
}

function rewrite16(f: Uint8Array, at: number, v: number, sums: number[]): void {
  const old = rd16(f, at);
  for (const c of sums) wr16(f, c, checksumAdjust(rd16(f, c), old, v));
  wr16(f, at, v);
}

/** The checksums a UDP rewrite adjusts: the IP header's, and UDP's unless it is 0, "none" (RFC 768). */
function udpSums(f: Uint8Array, ipOff: number, l4: number): number[] {
  return rd16(f, l4 + UDP_CSUM) === 0 ? [ipOff + IPV4_CSUM] : [ipOff + IPV4_CSUM, l4 + UDP_CSUM];
}

/** A UDP checksum that comes out 0 is sent as 0xffff (RFC 768: 0 means "no checksum"). */
function fixUdpZero(f: Uint8Array, l4: number, sums: number[]): void {
  if (sums.length > 1 && rd16(f, l4 + UDP_CSUM) === 0) wr16(f, l4 + UDP_CSUM, 0xffff);
}

// ---- flows ------------------------------------------------------------------------------------

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
export function pipeTcp(pcb: TcpPcbLike, sock: net.Socket, onDone: () => void): void {
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

/** The flows of one gateway. */
export class GatewayNat {
  private readonly udpFlows = new Map<string, UdpFlow>();
  private readonly udpByNatPort = new Map<number, UdpFlow>();
  private readonly tcpFlows = new Map<string, TcpFlow>();
  private readonly tcpByNatPort = new Map<number, TcpFlow>();
  private nextNatPort = NAT_PORT_FIRST;
  /** Echo requests NATed to the gateway: "client/id/seq" → destination the client pinged. */
  private readonly echoes = new Map<string, { dst: number; at: number }>();

  constructor(private readonly gw: NatContext) {}

  /**
   * An echo request to the host alias `dst`: the gateway answers for the host
   * (it is reachable by definition); the reply's source is rewritten back.
   */
  echoIn(frame: Uint8Array, ip: number, l4: number, dst: number): void {
    const client = rd32(frame, ip + IPV4_SRC);
    this.echoes.set(`${client}/${rd16(frame, l4 + ICMP_ID)}/${rd16(frame, l4 + ICMP_SEQ)}`, { dst, at: performance.now() });
    const f = frame.slice();
    rewrite32(f, ip + IPV4_DST, this.gw.gwIp, [ip + IPV4_CSUM]);
    this.gw.counters.icmpEcho++;
    this.gw.toStack(f);
  }

  /** UDP from a virtual host to `dst`, reached at `real` (host order): rewritten to a flow's gateway port and handed to the stack. */
  udpIn(f: Uint8Array, ip: number, l4: number, dst: number, real: number): void {
    const client = rd32(f, ip + IPV4_SRC), sport = rd16(f, l4 + UDP_SPORT), dport = rd16(f, l4 + UDP_DPORT);
    if (dport === 0) return;
    const key = `${client}:${sport}>${dst}:${dport}`;
    let flow = this.udpFlows.get(key);
    if (!flow) {
      const made = this.newUdpFlow(key, client, sport, dst, dport, hostText(real));
      if (!made) {
        this.gw.counters.dropped++;
        return;
      }
      flow = made;
    }
    flow.last = performance.now();
    this.gw.counters.udpOut++;
    f = f.slice(); // the switch may have handed the same frame to others
    const sums = udpSums(f, ip, l4);
    rewrite32(f, ip + IPV4_DST, this.gw.gwIp, sums);
    rewrite16(f, l4 + UDP_DPORT, flow.natPort, sums.slice(1));
    fixUdpZero(f, l4, sums);
    this.gw.toStack(f);
  }

  /**
   * The next NAT port no UDP flow uses (`tcp`: nor a TCP flow), round robin
   * over the range so a port just freed is not reused at once; 0 when all
   * are taken.
   */
  private takeNatPort(tcp: boolean): number {
    for (let i = 0; i <= NAT_PORT_LAST - NAT_PORT_FIRST; i++) {
      const p = this.nextNatPort;
      this.nextNatPort = p === NAT_PORT_LAST ? NAT_PORT_FIRST : p + 1;
      if (!this.udpByNatPort.has(p) && !(tcp && this.tcpByNatPort.has(p))) return p;
    }
    return 0;
  }

  private newUdpFlow(key: string, clientIp: number, clientPort: number, dstIp: number, dstPort: number, realIp: string): UdpFlow | undefined {
    const natPort = this.takeNatPort(false);
    if (!natPort) return undefined;
    let pcb: UdpPcb;
    try {
      pcb = rawApi(this.gw.stack).udp.new().bind(this.gw.plan.gateway, natPort);
    } catch {
      return undefined; // out of UDP pcbs: the datagram is dropped
    }
    const sock = dgram.createSocket("udp4");
    const flow: UdpFlow = { key, clientIp, clientPort, dstIp, dstPort, realIp, natPort, pcb, sock, last: performance.now(), pending: [] };
    sock.on("error", () => this.closeUdpFlow(flow));
    sock.on("message", (msg) => {
      flow.last = performance.now();
      this.gw.counters.udpIn++;
      try {
        flow.pcb.sendToAddress(msg, IpAddress.fromV4Int(clientIp), clientPort);
      } catch {
        this.gw.counters.dropped++;
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
    this.gw.counters.udpFlows++;
    this.gw.counters.udpOpen++;
    this.gw.log(`NAT udp ${hostText(clientIp)}:${clientPort} → ${hostText(dstIp)}:${dstPort} (host ${realIp}:${dstPort}) via port ${natPort}`);
    return flow;
  }

  /**
   * TCP through the NAT: the first SYN of a flow makes a listener on a fresh
   * gateway port; every segment of the flow is rewritten to that port, so the
   * gateway's TCP terminates the connection and {@link pipeTcp} joins it to
   * a node:net socket connected to the real destination.
   */
  tcpIn(frame: Uint8Array, ip: number, l4: number, ihl: number, dst: number, real: number): void {
    const client = rd32(frame, ip + IPV4_SRC), sport = rd16(frame, l4 + TCP_SPORT), dport = rd16(frame, l4 + TCP_DPORT);
    const key = `${client}:${sport}>${dst}:${dport}`;
    let flow = this.tcpFlows.get(key);
    const flags = frame[l4 + TCP_FLAGS];
    if (!flow || (flow.done && (flags & 0x12) === 0x02)) {
      if (flow) this.closeTcpFlow(flow);
      if ((flags & 0x17) !== 0x02) {
        // Not a SYN and no flow: answer like a closed port (RFC 9293 §3.10.7.1).
        this.gw.counters.tcpRefused++;
        this.gw.sendRst(frame, ihl);
        return;
      }
      flow = this.newTcpFlow(key, client, sport, dst, dport, hostText(real));
      if (!flow) {
        this.gw.counters.dropped++;
        return; // out of ports or pcbs: the SYN is dropped, the client retries
      }
    }
    flow.last = performance.now();
    const f = frame.slice();
    rewrite32(f, ip + IPV4_DST, this.gw.gwIp, [ip + IPV4_CSUM, l4 + TCP_CSUM]);
    rewrite16(f, l4 + TCP_DPORT, flow.natPort, [l4 + TCP_CSUM]);
    this.gw.toStack(f);
  }

  private newTcpFlow(key: string, clientIp: number, clientPort: number, dstIp: number, dstPort: number, realIp: string): TcpFlow | undefined {
    const natPort = this.takeNatPort(true);
    if (!natPort) return undefined;
    let listener: TcpPcb;
    try {
      listener = rawApi(this.gw.stack).tcp.new();
      listener.reuseaddr = true;
      listener.bind(this.gw.plan.gateway, natPort).listen(1);
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
    this.gw.counters.tcpFlows++;
    this.gw.counters.tcpOpen++;
    this.gw.log(`NAT tcp ${hostText(clientIp)}:${clientPort} → ${hostText(dstIp)}:${dstPort} (host ${realIp}:${dstPort}) via port ${natPort}`);
    return flow;
  }

  private closeTcpFlow(flow: TcpFlow): void {
    if (this.tcpFlows.get(flow.key) !== flow) return;
    this.tcpFlows.delete(flow.key);
    this.tcpByNatPort.delete(flow.natPort);
    this.gw.counters.tcpOpen--;
    try { flow.listener?.close(); } catch { /* closed */ }
    flow.sock?.destroy();
  }

  private closeUdpFlow(flow: UdpFlow): void {
    if (this.udpFlows.get(flow.key) !== flow) return;
    this.udpFlows.delete(flow.key);
    this.udpByNatPort.delete(flow.natPort);
    this.gw.counters.udpOpen--;
    try { flow.pcb.remove(); } catch { /* stack closed */ }
    try { flow.sock.close(); } catch { /* closed */ }
  }

  /** Closes idle UDP flows and finished TCP flows (once a second). */
  expire(): void {
    const now = performance.now();
    const idle = this.gw.udpIdleMs;
    for (const f of [...this.udpFlows.values()]) if (now - f.last > idle) this.closeUdpFlow(f);
    // A finished TCP flow keeps its port for 2 MSL-ish (the gateway's TIME_WAIT side), then goes;
    // one whose SYN never completed goes after 75 s (RFC 1122 §4.2.3.5 connect timeout).
    for (const f of [...this.tcpFlows.values()]) {
      if ((f.done && now - f.last > 5000) || (f.listener && now - f.last > 75000)) this.closeTcpFlow(f);
    }
    for (const [k, e] of this.echoes) if (now - e.at > 10000) this.echoes.delete(k);
  }

  /**
   * A frame the gateway's stack sends: NAT traffic from a flow's port goes
   * back out rewritten to come from the destination the client used (the
   * frame to put on the switch is returned); anything else: undefined.
   */
  outbound(view: Uint8Array): Uint8Array | undefined {
    if (view.length >= ETH_HLEN + 28 && ethType(view) === ETHTYPE_IPV4 && rd32(view, ETH_HLEN + IPV4_SRC) === this.gw.gwIp) {
      const ip = ETH_HLEN;
      const ihl = ipv4Ihl(view, ip);
      const l4 = ip + ihl;
      const proto = view[ip + IPV4_PROTO];
      const frag = ipv4IsFragment(view, ip);
      if (proto === IP_PROTO_TCP && !frag && view.length >= l4 + TCP_HLEN) {
        const flow = this.tcpByNatPort.get(rd16(view, l4));
        if (flow && rd32(view, ip + IPV4_DST) === flow.clientIp && rd16(view, l4 + TCP_DPORT) === flow.clientPort) {
          const f = view.slice();
          rewrite32(f, ip + IPV4_SRC, flow.dstIp, [ip + IPV4_CSUM, l4 + TCP_CSUM]);
          rewrite16(f, l4 + TCP_SPORT, flow.dstPort, [l4 + TCP_CSUM]);
          return f;
        }
      } else if (proto === IP_PROTO_UDP && !frag && view.length >= l4 + UDP_HLEN) {
        const flow = this.udpByNatPort.get(rd16(view, l4));
        if (flow) {
          const f = view.slice();
          const sums = udpSums(f, ip, l4);
          rewrite32(f, ip + IPV4_SRC, flow.dstIp, sums);
          rewrite16(f, l4, flow.dstPort, sums.slice(1));
          fixUdpZero(f, l4, sums);
          return f;
        }
      } else if (proto === IP_PROTO_ICMP && !frag && view[l4] === ICMP_ECHO_REPLY) {
        const k = `${rd32(view, ip + IPV4_DST)}/${rd16(view, l4 + ICMP_ID)}/${rd16(view, l4 + ICMP_SEQ)}`;
        const e = this.echoes.get(k);
        if (e) {
          this.echoes.delete(k);
          const f = view.slice();
          rewrite32(f, ip + IPV4_SRC, e.dst, [ip + IPV4_CSUM]);
          return f;
        }
      }
    }
    return undefined;
  }


  /** Closes every flow. */
  close(): void {
    for (const f of [...this.udpFlows.values()]) this.closeUdpFlow(f);
    for (const f of [...this.tcpFlows.values()]) this.closeTcpFlow(f);
  }
}
