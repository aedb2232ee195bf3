/**
 * Frame builders and parsers for node tests that play a peer by hand:
 * Ethernet, ARP, IPv4, ICMP echo and TCP, with real checksums. A test gives
 * a stack frames from a "wire" driver it controls and reads back what the
 * stack sent. Not a test file itself.
 */

/** Internet checksum (RFC 1071) of `b[start, end)`, added to `init`. */
export function csum(b: Uint8Array, start = 0, end = b.length, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function mac(s: string): number[] {
  return s.split(":").map((h) => parseInt(h, 16));
}

export function ip4(s: string): number[] {
  return s.split(".").map(Number);
}

/** An Ethernet II frame. */
export function eth(dst: string, src: string, type: number, payload: ArrayLike<number>): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload as ArrayLike<number>, 14);
  return f;
}

/** An ARP request: who has `target`? tell `sender` (`senderMac`). */
export function arpRequest(senderMac: string, sender: string, target: string): Uint8Array {
  const a = [0, 1, 8, 0, 6, 4, 0, 1, ...mac(senderMac), ...ip4(sender), 0, 0, 0, 0, 0, 0, ...ip4(target)];
  return eth("ff:ff:ff:ff:ff:ff", senderMac, 0x0806, a);
}

/** An IPv4 datagram (no options, DF clear). */
export function ipv4(src: string, dst: string, proto: number, payload: ArrayLike<number>, { ttl = 64, id = 1 } = {}): Uint8Array {
  const h = new Uint8Array(20 + payload.length);
  h[0] = 0x45;
  h[2] = h.length >> 8;
  h[3] = h.length & 0xff;
  h[4] = id >> 8;
  h[5] = id & 0xff;
  h[8] = ttl;
  h[9] = proto;
  h.set(ip4(src), 12);
  h.set(ip4(dst), 16);
  const c = csum(h, 0, 20);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  h.set(payload as ArrayLike<number>, 20);
  return h;
}

/** An ICMP echo request. */
export function icmpEcho(id: number, seq: number, data: ArrayLike<number> = []): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = 8;
  m[4] = id >> 8;
  m[5] = id & 0xff;
  m[6] = seq >> 8;
  m[7] = seq & 0xff;
  m.set(data as ArrayLike<number>, 8);
  const c = csum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10;

export interface TcpSeg {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  /** Raw option bytes (padded to 4 by the builder). */
  options?: number[];
  data?: ArrayLike<number>;
}

/** A TCP segment inside an IPv4 datagram from `src` to `dst`. */
export function tcp4(src: string, dst: string, s: TcpSeg): Uint8Array {
  const opts = [...(s.options ?? [])];
  while (opts.length % 4) opts.push(0);
  const data = s.data ?? [];
  const hl = 20 + opts.length;
  const t = new Uint8Array(hl + data.length);
  const dv = new DataView(t.buffer);
  dv.setUint16(0, s.sport);
  dv.setUint16(2, s.dport);
  dv.setUint32(4, s.seq >>> 0);
  dv.setUint32(8, s.ack >>> 0);
  t[12] = (hl / 4) << 4;
  t[13] = s.flags;
  dv.setUint16(14, s.win);
  t.set(opts, 20);
  t.set(data as ArrayLike<number>, hl);
  const pseudo = new Uint8Array(12);
  pseudo.set(ip4(src), 0);
  pseudo.set(ip4(dst), 4);
  pseudo[9] = 6;
  pseudo[10] = t.length >> 8;
  pseudo[11] = t.length & 0xff;
  const c = csum(t, 0, t.length, 0xffff & ~csum(pseudo));
  dv.setUint16(16, c);
  return ipv4(src, dst, 6, t);
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
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const type = dv.getUint16(12);
  const out: Parsed = { type };
  if (type === 0x0806) {
    out.arp = { op: dv.getUint16(20), senderIp: [...f.subarray(28, 32)].join("."), targetIp: [...f.subarray(38, 42)].join(".") };
  } else if (type === 0x0800) {
    const ihl = (f[14] & 15) * 4;
    const tot = dv.getUint16(16);
    const proto = f[23];
    out.ip = { src: [...f.subarray(26, 30)].join("."), dst: [...f.subarray(30, 34)].join("."), proto };
    const l4 = 14 + ihl;
    if (proto === 1) out.icmp = { type: f[l4], id: dv.getUint16(l4 + 4), seq: dv.getUint16(l4 + 6) };
    if (proto === 6) {
      const hl = (f[l4 + 12] >> 4) * 4;
      out.tcp = {
        sport: dv.getUint16(l4), dport: dv.getUint16(l4 + 2), seq: dv.getUint32(l4 + 4), ack: dv.getUint32(l4 + 8),
        flags: f[l4 + 13], win: dv.getUint16(l4 + 14), len: tot - ihl - hl,
      };
    }
  }
  return out;
}
