/**
 * The gateway (`asip relay --gateway`): an asip stack on the relay's switch
 * that is the virtual network's router, DHCP server (gateway-dhcp.ts), DNS
 * server (gateway-dns.ts) and user-mode NAT to the host (gateway-nat.ts), in
 * the manner of libslirp and gvisor-tap-vsock. Packets are read and built
 * with bindings/wire.
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
import { Stack } from "../stack.js";
import { parseMac } from "../abi.js";
import { rawApi, type UdpPcb, type TcpPcb } from "../api/raw.js";
import { IpAddress } from "../ip-address.js";
import type { LinkDriver } from "../netif/driver.js";
import { rd16, rd32, wr16 } from "../wire/bytes.js";
import { ETH_HLEN, ETH_MIN_FRAME, ETHTYPE_ARP, ETHTYPE_IPV4, ethFrame, ethType } from "../wire/ethernet.js";
import { ARP_REQUEST, ARP_REPLY, parseArp, writeArp } from "../wire/arp.js";
import {
  IPV4_HLEN, IPV4_TOTLEN, IPV4_PROTO, IPV4_SRC, IPV4_DST, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
  ipv4Ihl, ipv4Valid, ipv4IsFragment, ipv4Packet,
} from "../wire/ipv4.js";
import {
  ICMP_HLEN, ICMP_ECHO, ICMP_DEST_UNREACH, UDP_HLEN, TCP_HLEN, TCP_SPORT, TCP_DPORT, TCP_SEQ, TCP_ACK, TCP_FLAGS,
  TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK_FLAG, icmpMessage, tcpSegment, tcpHlen,
} from "../wire/transport.js";
import { Relay, hostU32, hostText, type LocalPort, type NetworkPlan } from "./relay.js";
import { GatewayNat, pipeTcp } from "./gateway-nat.js";
import { DhcpServer } from "./gateway-dhcp.js";
import { DnsServer } from "./gateway-dns.js";

export { pipeTcp };

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

/** Parses "a.b.c.d/len" into [network, mask] (host order). */
export function parseCidrHost(c: string): [number, number] {
  const [a, l] = c.split("/");
  const len = l === undefined ? 32 : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new RangeError(`bad prefix in ${c}`);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [(hostU32(a) & mask) >>> 0, mask];
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
  private readonly nat: GatewayNat;
  private readonly dnsServer: DnsServer;
  private readonly closers: (() => void | Promise<void>)[] = [];
  private sweep: ReturnType<typeof setInterval>;
  private closed = false;

  private constructor(relay: Relay, stack: Stack, port: LocalPort, opts: GatewayOptions) {
    this.relay = relay;
    this.stack = stack;
    this.port = port;
    this.opts = opts;
    this.plan = relay.plan;
    this.mac = parseMac(opts.mac ?? "02:a5:1b:00:00:01");
    this.gwIp = hostU32(this.plan.gateway);
    this.aliasIp = hostU32(this.plan.hostAlias);
    [this.netBase, this.netMask] = parseCidrHost(this.plan.subnet);
    this.allow = (opts.allow ?? ["127.0.0.0/8"]).map(parseCidrHost);
    this.nat = new GatewayNat({
      stack, plan: this.plan, gwIp: this.gwIp, counters: this.counters.nat, udpIdleMs: opts.udpIdleMs ?? 60000,
      log: (line) => this.log(line), toStack: (f) => this.rx(f), sendRst: (f, ihl) => this.sendRst(f, ihl),
    });
    this.dnsServer = new DnsServer({
      stack, plan: this.plan, counters: this.counters.dns, resolve: opts.resolve,
    });
    this.sweep = setInterval(() => this.nat.expire(), 1000);
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
    gw.closers.push(new DhcpServer({
      stack, relay, plan: gw.plan, gwIp: gw.gwIp, netMask: gw.netMask, leaseTime: opts.leaseTime ?? 3600,
      counters: gw.counters.dhcp, log: (line) => gw.log(line),
    }).start());
    gw.closers.push(gw.dnsServer.start());
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
    const type = ethType(frame);
    if (type === ETHTYPE_ARP) {
      this.proxyArp(frame);
      this.rx(frame);
      return;
    }
    if (type !== ETHTYPE_IPV4 || frame.length < ETH_HLEN + IPV4_HLEN) return this.rx(frame);
    // Only frames addressed to our MAC are routed; broadcasts go to the stack as they are.
    for (let i = 0; i < 6; i++) if (frame[i] !== this.mac[i]) return this.rx(frame);
    const ip = ETH_HLEN;
    if (frame[ip] >> 4 !== 4) return this.rx(frame);
    const dst = rd32(frame, ip + IPV4_DST);
    if (dst === this.gwIp) return this.rx(frame);
    // A packet to route: to the host alias or outside the virtual network.
    if (this.inSubnet(dst) && dst !== this.aliasIp) {
      this.counters.nat.dropped++; // on-link; not ours to route
      return;
    }
    if (!ipv4Valid(frame, ip)) {
      this.counters.nat.dropped++;
      return;
    }
    const ihl = ipv4Ihl(frame, ip);
    const total = rd16(frame, ip + IPV4_TOTLEN);
    if (ipv4IsFragment(frame, ip)) {
      this.counters.nat.fragments++;
      return;
    }
    const real = dst === this.aliasIp ? 0x7f000001 : dst;
    const proto = frame[ip + IPV4_PROTO];
    if (!this.allowed(real)) {
      this.counters.nat.refused++;
      this.log(`NAT refused ${hostText(rd32(frame, ip + IPV4_SRC))} → ${hostText(dst)} (proto ${proto}): not in the allowlist`);
      if (proto === IP_PROTO_TCP) this.sendRst(frame, ihl);
      else this.sendUnreachable(frame, ihl, 13);
      return;
    }
    const l4 = ip + ihl;
    if (proto === IP_PROTO_UDP && total >= ihl + UDP_HLEN) {
      this.nat.udpIn(frame, ip, l4, dst, real);
    } else if (proto === IP_PROTO_ICMP && total >= ihl + ICMP_HLEN && frame[l4] === ICMP_ECHO && dst === this.aliasIp) {
      this.nat.echoIn(frame, ip, l4, dst);
    } else if (proto === IP_PROTO_TCP && total >= ihl + TCP_HLEN) {
      this.nat.tcpIn(frame, ip, l4, ihl, dst, real);
    } else {
      this.sendUnreachable(frame, ihl, 1); // host unreachable: we do not proxy this
    }
  }

  /** Proxy ARP (RFC 1027) for the host alias: it lives behind the gateway. */
  private proxyArp(f: Uint8Array): void {
    const a = parseArp(f, ETH_HLEN);
    if (!a || a.op !== ARP_REQUEST || a.tpa !== this.aliasIp) return;
    const r = new Uint8Array(ETH_MIN_FRAME);
    r.set(f.subarray(6, 12), 0);
    r.set(this.mac, 6);
    wr16(r, 12, ETHTYPE_ARP);
    // The answer: the alias is at our MAC; the target is the asker.
    writeArp(r, ETH_HLEN, { op: ARP_REPLY, sha: this.mac, spa: this.aliasIp, tha: a.sha, tpa: a.spa });
    this.toSwitch(r);
  }

  // ---- frames from the stack (towards the switch) ----

  private fromStack(view: Uint8Array): void {
    if (this.closed) return;
    const f = this.nat.outbound(view);
    if (f) this.relay.input(this.port, f);
    else this.port.send(view);
  }

  private toSwitch(frame: Uint8Array): void {
    this.relay.input(this.port, frame);
  }

  /** An IPv4 packet from the gateway (DF) to `dst` (host order) with the given payload, in an Ethernet frame to `dstMac`. */
  private ipFrame(dstMac: Uint8Array, src: number, dst: number, proto: number, payload: Uint8Array): Uint8Array {
    return ethFrame(dstMac, this.mac, ETHTYPE_IPV4, ipv4Packet(src, dst, proto, payload, { df: true }), ETH_MIN_FRAME);
  }

  /** ICMP destination unreachable (RFC 792) about the packet in `f`, from the gateway (RFC 1812 §4.3.2.4). */
  private sendUnreachable(f: Uint8Array, ihl: number, code: number): void {
    const ip = ETH_HLEN;
    const quoted = f.subarray(ip, Math.min(ip + rd16(f, ip + IPV4_TOTLEN), ip + ihl + 8));
    const icmp = icmpMessage(ICMP_DEST_UNREACH, code, 0, quoted);
    this.toSwitch(this.ipFrame(f.subarray(6, 12), this.gwIp, rd32(f, ip + IPV4_SRC), IP_PROTO_ICMP, icmp));
  }

  /** A RST for the TCP segment in `f` (RFC 9293 §3.10.7.1, as from a CLOSED port), from the destination it tried. */
  private sendRst(f: Uint8Array, ihl: number): void {
    const ip = ETH_HLEN, l4 = ip + ihl;
    const total = rd16(f, ip + IPV4_TOTLEN);
    if (total < ihl + TCP_HLEN) return;
    const flags = f[l4 + TCP_FLAGS];
    if (flags & TCP_RST) return; // never answer a RST
    const segLen = total - ihl - tcpHlen(f, l4) + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
    const src = rd32(f, ip + IPV4_DST), dst = rd32(f, ip + IPV4_SRC);
    const acked = (flags & TCP_ACK_FLAG) !== 0;
    const t = tcpSegment(IpAddress.fromV4Int(src), IpAddress.fromV4Int(dst), {
      sport: rd16(f, l4 + TCP_DPORT), dport: rd16(f, l4 + TCP_SPORT),
      // <SEQ=SEG.ACK><CTL=RST>, or <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
      seq: acked ? rd32(f, l4 + TCP_ACK) : 0, ack: acked ? 0 : (rd32(f, l4 + TCP_SEQ) + segLen) >>> 0,
      flags: acked ? TCP_RST : TCP_RST | TCP_ACK_FLAG, win: 0,
    });
    this.toSwitch(this.ipFrame(f.subarray(6, 12), src, dst, IP_PROTO_TCP, t));
  }

  /** Answers one DNS query (RFC 1035 §4.1), as the gateway's DNS server does. */
  dns(q: Uint8Array): Promise<Uint8Array | undefined> {
    return this.dnsServer.answer(q);
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
    this.nat.close();
    for (const c of this.closers) {
      try { await c(); } catch { /* best effort */ }
    }
    this.closed = true;
    await this.stack.close();
  }
}
