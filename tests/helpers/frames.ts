/**
 * Frame builders and parsers for node tests that play a peer by hand:
 * Ethernet, ARP, IPv4, ICMP echo and TCP, with real checksums — the test
 * spellings (addresses as text) of bindings/wire. A test gives a stack
 * frames from a "wire" driver it controls and reads back what the stack
 * sent. Not a test file itself.
 */
import { IpAddress } from "../../bindings/ip-address.js";
import { parseMac } from "../../bindings/abi.js";
import { inetChecksum } from "../../bindings/wire/checksum.js";
import { ethFrame, ETHTYPE_ARP } from "../../bindings/wire/ethernet.js";
import { ARP_LEN, ARP_REQUEST, writeArp } from "../../bindings/wire/arp.js";
import { ipv4Packet } from "../../bindings/wire/ipv4.js";
import { icmpMessage, tcpSegment, ICMP_ECHO, type TcpSegment } from "../../bindings/wire/transport.js";
import { decodeFrame } from "../../bindings/wire/decode.js";

export { TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK_FLAG as TCP_ACK } from "../../bindings/wire/transport.js";

/** Internet checksum (RFC 1071) of `b[start, end)`, added to `init`. */
export function csum(b: Uint8Array, start = 0, end = b.length, init = 0): number {
  return inetChecksum(b, start, end - start, init);
}

const v4 = (s: string) => IpAddress.parse(s).v4Int;

/** An Ethernet II frame. */
export function eth(dst: string, src: string, type: number, payload: ArrayLike<number>): Uint8Array {
  return ethFrame(parseMac(dst), parseMac(src), type, payload);
}

/** An ARP request: who has `target`? tell `sender` (`senderMac`). */
export function arpRequest(senderMac: string, sender: string, target: string): Uint8Array {
  const a = new Uint8Array(ARP_LEN);
  writeArp(a, 0, { op: ARP_REQUEST, sha: parseMac(senderMac), spa: v4(sender), tha: new Uint8Array(6), tpa: v4(target) });
  return eth("ff:ff:ff:ff:ff:ff", senderMac, ETHTYPE_ARP, a);
}

/** An IPv4 datagram (no options, DF clear). */
export function ipv4(src: string, dst: string, proto: number, payload: ArrayLike<number>, { ttl = 64, id = 1 } = {}): Uint8Array {
  return ipv4Packet(v4(src), v4(dst), proto, payload, { ttl, id });
}

/** An ICMP echo request. */
export function icmpEcho(id: number, seq: number, data: ArrayLike<number> = []): Uint8Array {
  return icmpMessage(ICMP_ECHO, 0, ((id & 0xffff) << 16) | (seq & 0xffff), data);
}

export type TcpSeg = TcpSegment;

/** A TCP segment inside an IPv4 datagram from `src` to `dst`. */
export function tcp4(src: string, dst: string, s: TcpSeg): Uint8Array {
  return ipv4(src, dst, 6, tcpSegment(IpAddress.parse(src), IpAddress.parse(dst), s));
}

/** What a test reads back from a frame the stack sent. */
export interface Parsed {
  type: number;
  arp?: { op: number; senderIp: string; targetIp: string };
  ip?: { src: string; dst: string; proto: number };
  icmp?: { type: number; id: number; seq: number };
  tcp?: { sport: number; dport: number; seq: number; ack: number; flags: number; win: number; len: number };
}

export function parse(f: Uint8Array): Parsed {
  const d = decodeFrame(f)!;
  const out: Parsed = { type: d.type };
  if (d.arp) out.arp = { op: d.arp.op, senderIp: d.arp.senderIp, targetIp: d.arp.targetIp };
  if (d.ip) out.ip = { src: d.ip.src, dst: d.ip.dst, proto: d.ip.proto };
  if (d.icmp) out.icmp = { type: d.icmp.type, id: d.icmp.id, seq: d.icmp.seq };
  if (d.tcp) {
    const t = d.tcp;
    out.tcp = { sport: t.sport, dport: t.dport, seq: t.seq, ack: t.ack, flags: t.flags, win: t.win, len: t.length };
  }
  return out;
}
