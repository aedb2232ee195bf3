/**
 * A frame decoded layer by layer — Ethernet, ARP, IPv4, ICMP, UDP, TCP —
 * for packet logs (the web demo) and tests that read what a stack sent.
 * Read-only, and never throws on short or odd frames: a layer that does not
 * fit is simply absent.
 *
 * @module
 */
import { IpAddress } from "../ip-address.js";
import { rd16, rd32 } from "./bytes.js";
import { ETH_HLEN, ETHTYPE_ARP, ETHTYPE_IPV4, ethType, macText } from "./ethernet.js";
import { parseArp } from "./arp.js";
import { IPV4_HLEN, IPV4_TOTLEN, IPV4_FRAG, IPV4_TTL, IPV4_PROTO, IPV4_SRC, IPV4_DST, IPV4_ID, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP, ipv4Ihl } from "./ipv4.js";
import { ICMP_HLEN, ICMP_ID, ICMP_SEQ, UDP_HLEN, UDP_LEN, TCP_HLEN, TCP_SEQ, TCP_ACK, TCP_FLAGS, TCP_WND, tcpHlen } from "./transport.js";

export interface DecodedFrame {
  dst: string;
  src: string;
  type: number;
  /** Bytes of the frame. */
  length: number;
  arp?: { op: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string };
  ip?: {
    src: string; dst: string; proto: number; ttl: number; id: number; totalLength: number; headerLength: number;
    /** Offset of this fragment in the datagram, bytes. */
    fragOffset: number; moreFragments: boolean;
  };
  icmp?: { type: number; code: number; id: number; seq: number };
  udp?: { sport: number; dport: number; /** payload bytes */ length: number; /** offset of the payload in the frame */ payload: number };
  tcp?: {
    sport: number; dport: number; seq: number; ack: number; flags: number; win: number;
    /** payload bytes */ length: number; /** offset of the payload in the frame */ payload: number;
  };
}

const v4 = (n: number) => IpAddress.fromV4Int(n).toString();

/** Decodes what fits of `f`; undefined for a frame shorter than an Ethernet header. */
export function decodeFrame(f: Uint8Array): DecodedFrame | undefined {
  if (f.length < ETH_HLEN) return undefined;
  const d: DecodedFrame = { dst: macText(f, 0), src: macText(f, 6), type: ethType(f), length: f.length };
  if (d.type === ETHTYPE_ARP) {
    const a = parseArp(f, ETH_HLEN);
    if (a) d.arp = { op: a.op, senderMac: macText(a.sha, 0), senderIp: v4(a.spa), targetMac: macText(a.tha, 0), targetIp: v4(a.tpa) };
    return d;
  }
  const ip = ETH_HLEN;
  if (d.type !== ETHTYPE_IPV4 || f.length < ip + IPV4_HLEN || f[ip] >> 4 !== 4) return d;
  const ihl = ipv4Ihl(f, ip), total = rd16(f, ip + IPV4_TOTLEN), frag = rd16(f, ip + IPV4_FRAG);
  d.ip = {
    src: v4(rd32(f, ip + IPV4_SRC)), dst: v4(rd32(f, ip + IPV4_DST)), proto: f[ip + IPV4_PROTO], ttl: f[ip + IPV4_TTL],
    id: rd16(f, ip + IPV4_ID), totalLength: total, headerLength: ihl, fragOffset: (frag & 0x1fff) * 8, moreFragments: (frag & 0x2000) !== 0,
  };
  // Later fragments carry no transport header.
  if ((frag & 0x1fff) !== 0 || ihl < IPV4_HLEN) return d;
  const l4 = ip + ihl;
  const end = Math.min(f.length, ip + total);
  if (d.ip.proto === IP_PROTO_ICMP && end >= l4 + ICMP_HLEN) {
    d.icmp = { type: f[l4], code: f[l4 + 1], id: rd16(f, l4 + ICMP_ID), seq: rd16(f, l4 + ICMP_SEQ) };
  } else if (d.ip.proto === IP_PROTO_UDP && end >= l4 + UDP_HLEN) {
    d.udp = { sport: rd16(f, l4), dport: rd16(f, l4 + 2), length: rd16(f, l4 + UDP_LEN) - UDP_HLEN, payload: l4 + UDP_HLEN };
  } else if (d.ip.proto === IP_PROTO_TCP && end >= l4 + TCP_HLEN) {
    const hl = tcpHlen(f, l4);
    d.tcp = {
      sport: rd16(f, l4), dport: rd16(f, l4 + 2), seq: rd32(f, l4 + TCP_SEQ), ack: rd32(f, l4 + TCP_ACK), flags: f[l4 + TCP_FLAGS],
      win: rd16(f, l4 + TCP_WND), length: total - ihl - hl, payload: l4 + hl,
    };
  }
  return d;
}
