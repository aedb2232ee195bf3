/**
 * A packet, decoded layer by layer for the packet log: Ethernet, ARP, IPv4,
 * ICMP, UDP (DNS, DHCP), TCP. Read-only; never throws on short or odd frames.
 */
export interface Layer {
  name: string;
  summary: string;
}

const hex = (b: number) => b.toString(16).padStart(2, "0");
const mac = (f: Uint8Array, o: number) => Array.from(f.subarray(o, o + 6), hex).join(":");
const ip = (f: Uint8Array, o: number) => `${f[o]}.${f[o + 1]}.${f[o + 2]}.${f[o + 3]}`;
const u16 = (f: Uint8Array, o: number) => (f[o] << 8) | f[o + 1];
const u32 = (f: Uint8Array, o: number) => ((f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3]) >>> 0;

export function decode(f: Uint8Array): Layer[] {
  const out: Layer[] = [];
  if (f.length < 14) return [{ name: "?", summary: `${f.length} bytes (runt)` }];
  const type = u16(f, 12);
  out.push({ name: "Ethernet", summary: `${mac(f, 6)} → ${mac(f, 0)} type 0x${type.toString(16).padStart(4, "0")}` });
  if (type === 0x0806 && f.length >= 42) {
    const op = u16(f, 20);
    out.push({ name: "ARP", summary: op === 1 ? `who has ${ip(f, 38)}? tell ${ip(f, 28)}` : `${ip(f, 28)} is at ${mac(f, 22)}` });
    return out;
  }
  if (type !== 0x0800 || f.length < 34) return out;
  const ihl = (f[14] & 15) * 4, total = u16(f, 16), proto = f[23];
  const frag = u16(f, 20);
  const l4 = 14 + ihl;
  out.push({ name: "IPv4", summary: `${ip(f, 26)} → ${ip(f, 30)} ttl ${f[22]} len ${total}${frag & 0x2000 || frag & 0x1fff ? ` frag off ${(frag & 0x1fff) * 8}` : ""}` });
  if ((frag & 0x1fff) !== 0) return out;
  if (proto === 1 && f.length >= l4 + 8) {
    const t = f[l4], c = f[l4 + 1];
    const names: Record<number, string> = { 0: "echo reply", 8: "echo request", 3: "destination unreachable", 11: "time exceeded" };
    out.push({ name: "ICMP", summary: `${names[t] ?? `type ${t}`} code ${c}${t === 0 || t === 8 ? ` id ${u16(f, l4 + 4)} seq ${u16(f, l4 + 6)}` : ""}` });
  } else if (proto === 17 && f.length >= l4 + 8) {
    const sp = u16(f, l4), dp = u16(f, l4 + 2);
    out.push({ name: "UDP", summary: `${sp} → ${dp} len ${u16(f, l4 + 4) - 8}` });
    const p = l4 + 8;
    if ((sp === 53 || dp === 53) && f.length >= p + 12) {
      out.push({ name: "DNS", summary: `${f[p + 2] & 0x80 ? "response" : "query"} id ${u16(f, p)} ${u16(f, p + 6)} answers rcode ${f[p + 3] & 15}` });
    } else if ((sp === 67 || sp === 68) && f.length >= p + 240) {
      out.push({ name: "DHCP", summary: `${f[p] === 1 ? "request" : "reply"} xid ${u32(f, p + 4).toString(16)} yiaddr ${ip(f, p + 16)}` });
    }
  } else if (proto === 6 && f.length >= l4 + 20) {
    const fl = f[l4 + 13];
    const flags = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"].filter((_, i) => fl & (1 << i)).join(",");
    const hl = (f[l4 + 12] >> 4) * 4;
    const len = total - ihl - hl;
    out.push({ name: "TCP", summary: `${u16(f, l4)} → ${u16(f, l4 + 2)} [${flags}] seq ${u32(f, l4 + 4)} ack ${u32(f, l4 + 8)} win ${u16(f, l4 + 14)} len ${len}` });
    const p = l4 + hl;
    if (len > 0 && f.length > p + 4) {
      const text = String.fromCharCode(...f.subarray(p, Math.min(p + 40, 14 + total)));
      if (/^(GET|POST|HEAD|PUT|HTTP\/)/.test(text)) out.push({ name: "HTTP", summary: text.split("\r\n")[0] });
    }
  }
  return out;
}

export function hexdump(f: Uint8Array, max = 256): string {
  const lines: string[] = [];
  for (let o = 0; o < Math.min(f.length, max); o += 16) {
    const row = f.subarray(o, Math.min(o + 16, f.length));
    lines.push(`${o.toString(16).padStart(4, "0")}  ${Array.from(row, hex).join(" ").padEnd(48)}  ${Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("")}`);
  }
  if (f.length > max) lines.push(`… ${f.length - max} more bytes`);
  return lines.join("\n");
}
