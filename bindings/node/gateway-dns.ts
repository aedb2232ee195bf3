/**
 * The gateway's DNS server (RFC 1035): A records from the host's resolver
 * (a loopback answer becomes the host alias), and names for the gateway and
 * the host.
 *
 * @module
 */
import dns from "node:dns/promises";
import type { Stack } from "../stack.js";
import { rawApi } from "../api/raw.js";
import { rd16, wr16, wr32 } from "../wire/bytes.js";
import { DNS_HLEN, DNS_PORT, dnsName } from "../wire/dns.js";
import { hostU32, type NetworkPlan } from "./relay.js";
import type { GatewayStats } from "./gateway.js";

/** What the DNS server needs from its gateway. */
export interface DnsContext {
  readonly stack: Stack;
  readonly plan: NetworkPlan;
  readonly counters: GatewayStats["dns"];
  /** Resolver (default node:dns lookup, IPv4). */
  readonly resolve: ((name: string) => Promise<string[]>) | undefined;
}

export class DnsServer {
  /** Stopped: answers still being resolved are not sent. */
  private stopped = false;

  constructor(private readonly ctx: DnsContext) {}

  /** Serves on port 53 of the gateway's stack; returns the closer. */
  start(): () => void {
    const pcb = rawApi(this.ctx.stack).udp.new().bind("0.0.0.0", DNS_PORT);
    pcb.recv((data, addr, port) => {
      const q = data.slice();
      void this.answer(q).then((answer) => {
        if (answer && !this.stopped) {
          try { pcb.sendto(answer, addr, port); } catch { /* stack closed */ }
        }
      });
    });
    return () => {
      this.stopped = true;
      pcb.remove();
    };
  }

  /** Answers one DNS query (RFC 1035 §4.1): A from the host's resolver, empty NOERROR for other types of names that exist. */
  async answer(q: Uint8Array): Promise<Uint8Array | undefined> {
    const c = this.ctx.counters;
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
    const nm = dnsName(q, DNS_HLEN);
    if (!nm || nm[1] + 4 > q.length) { c.bad++; return head(1, 0, 12); } // FORMERR
    const [name, at] = nm;
    const qtype = rd16(q, at), qclass = rd16(q, at + 2);
    const end = at + 4;
    let addrs: string[] = [];
    const lower = name.toLowerCase();
    if (lower === "host.asip.internal") addrs = [this.ctx.plan.hostAlias];
    else if (lower === "gateway.asip.internal") addrs = [this.ctx.plan.gateway];
    else {
      try {
        addrs = this.ctx.resolve ? await this.ctx.resolve(name) : (await dns.lookup(name, { family: 4, all: true })).map((a) => a.address);
      } catch {
        c.nxdomain++;
        return head(3, 0, end); // NXDOMAIN
      }
      // A virtual host's 127/8 is its own loopback: give the host alias instead.
      addrs = [...new Set(addrs.map((a) => (a.startsWith("127.") ? this.ctx.plan.hostAlias : a)))];
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
}
