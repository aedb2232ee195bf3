/**
 * A packet, decoded layer by layer for the packet log: Ethernet, ARP, IPv4,
 * ICMP, UDP (DNS, DHCP), TCP — the layers from bindings/wire/decode.ts, as
 * one line each. Read-only; never throws on short or odd frames.
 */
import { IpAddress } from "../bindings/ip-address.js";
import { rd16, rd32 } from "../bindings/wire/bytes.js";
import { ETH_HLEN } from "../bindings/wire/ethernet.js";
import { decodeFrame } from "../bindings/wire/decode.js";
import { DNS_HLEN, DNS_PORT } from "../bindings/wire/dns.js";
import { BOOTP_LEN, DHCP_CLIENT_PORT, DHCP_SERVER_PORT } from "../bindings/wire/dhcp.js";

export interface Layer {
  name: string;
  summary: string;
}

const hex = (b: number) => b.toString(16).padStart(2, "0");
const flagNames = (fl: number) => ["FIN", "SYN", "RST", "PSH", "ACK", "URG"].filter((_, i) => fl & (1 << i)).join(",");
const ICMP_NAMES: Record<number, string> = { 0: "echo reply", 8: "echo request", 3: "destination unreachable", 11: "time exceeded" };

export function decode(f: Uint8Array): Layer[] {
  const d = decodeFrame(f);
  if (!d) return [{ name: "?", summary: `${f.length} bytes (runt)` }];
  const out: Layer[] = [{ name: "Ethernet", summary: `${d.src} → ${d.dst} type 0x${d.type.toString(16).padStart(4, "0")}` }];
  if (d.arp) {
    const a = d.arp;
    out.push({ name: "ARP", summary: a.op === 1 ? `who has ${a.targetIp}? tell ${a.senderIp}` : `${a.senderIp} is at ${a.senderMac}` });
    return out;
  }
  const ip = d.ip;
  if (!ip) return out;
  const frag = ip.moreFragments || ip.fragOffset ? ` frag off ${ip.fragOffset}` : "";
  out.push({ name: "IPv4", summary: `${ip.src} → ${ip.dst} ttl ${ip.ttl} len ${ip.totalLength}${frag}` });
  if (d.icmp) {
    const { type: t, code: c } = d.icmp;
    out.push({ name: "ICMP", summary: `${ICMP_NAMES[t] ?? `type ${t}`} code ${c}${t === 0 || t === 8 ? ` id ${d.icmp.id} seq ${d.icmp.seq}` : ""}` });
  } else if (d.udp) {
    const { sport: sp, dport: dp, payload: p } = d.udp;
    out.push({ name: "UDP", summary: `${sp} → ${dp} len ${d.udp.length}` });
    if ((sp === DNS_PORT || dp === DNS_PORT) && f.length >= p + DNS_HLEN) {
      out.push({ name: "DNS", summary: `${f[p + 2] & 0x80 ? "response" : "query"} id ${rd16(f, p)} ${rd16(f, p + 6)} answers rcode ${f[p + 3] & 15}` });
    } else if ((sp === DHCP_SERVER_PORT || sp === DHCP_CLIENT_PORT) && f.length >= p + BOOTP_LEN + 4) {
      out.push({ name: "DHCP", summary: `${f[p] === 1 ? "request" : "reply"} xid ${rd32(f, p + 4).toString(16)} yiaddr ${IpAddress.fromV4Int(rd32(f, p + 16))}` });
    }
  } else if (d.tcp) {
    const t = d.tcp;
    out.push({ name: "TCP", summary: `${t.sport} → ${t.dport} [${flagNames(t.flags)}] seq ${t.seq} ack ${t.ack} win ${t.win} len ${t.length}` });
    if (t.length > 0 && f.length > t.payload + 4) {
      const text = String.fromCharCode(...f.subarray(t.payload, Math.min(t.payload + 40, ETH_HLEN + ip.totalLength)));
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
