/**
 * The transport headers hosts read and write by hand: ICMP (RFC 792), UDP
 * (RFC 768) and TCP (RFC 9293 §3.1) — field offsets from the start of the
 * header, and builders that fill in the checksum (with the pseudo header of
 * the addresses' family).
 *
 * @module
 */
import { IpAddress } from "../ip-address.js";
import { wr16, wr32 } from "./bytes.js";
import { inetChecksum, pseudoHeaderSum } from "./checksum.js";
import { IP_PROTO_TCP } from "./ipv4.js";

// ICMP: type, code, checksum, then identifier and sequence number (echo) or unused / next-hop MTU.
export const ICMP_HLEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_ID = 4;
export const ICMP_SEQ = 6;

// UDP: source port, destination port, length, checksum.
export const UDP_HLEN = 8;
export const UDP_SPORT = 0;
export const UDP_DPORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;

// TCP.
export const TCP_HLEN = 20;
export const TCP_SPORT = 0;
export const TCP_DPORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
/** Data offset in the high nibble (32-bit words). */
export const TCP_DOFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WND = 14;
export const TCP_CSUM = 16;
export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK_FLAG = 0x10, TCP_URG = 0x20;

/** Header length in bytes of the TCP header at `f[l4]`. */
export const tcpHlen = (f: Uint8Array, l4: number): number => (f[l4 + TCP_DOFF] >> 4) * 4;

/** An ICMP message of `type`/`code` with the 4 bytes `rest` and `body`, checksummed. */
export function icmpMessage(type: number, code: number, rest: number, body: ArrayLike<number> = []): Uint8Array {
  const m = new Uint8Array(ICMP_HLEN + body.length);
  m[0] = type;
  m[1] = code;
  wr32(m, 4, rest);
  m.set(body, ICMP_HLEN);
  wr16(m, 2, inetChecksum(m, 0, m.length));
  return m;
}

/** A TCP segment to build (ports, sequence space, flags, window, raw options, data). */
export interface TcpSegment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  /** Raw option bytes, padded with EOL to a multiple of 4. */
  options?: ArrayLike<number>;
  data?: ArrayLike<number>;
}

/** The bytes of a TCP segment from `src` to `dst`, checksum over the pseudo header of their family. */
export function tcpSegment(src: IpAddress, dst: IpAddress, s: TcpSegment): Uint8Array {
  const opts = Array.from(s.options ?? []);
  while (opts.length % 4) opts.push(0);
  const data = s.data ?? [];
  const hl = TCP_HLEN + opts.length;
  const t = new Uint8Array(hl + data.length);
  wr16(t, TCP_SPORT, s.sport);
  wr16(t, TCP_DPORT, s.dport);
  wr32(t, TCP_SEQ, s.seq >>> 0);
  wr32(t, TCP_ACK, s.ack >>> 0);
  t[TCP_DOFF] = (hl / 4) << 4;
  t[TCP_FLAGS] = s.flags;
  wr16(t, TCP_WND, s.win);
  t.set(opts, TCP_HLEN);
  t.set(data, hl);
  wr16(t, TCP_CSUM, inetChecksum(t, 0, t.length, pseudoHeaderSum(src, dst, IP_PROTO_TCP, t.length)));
  return t;
}
