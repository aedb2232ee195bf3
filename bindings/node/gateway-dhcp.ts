/**
 * The gateway's DHCP server (RFC 2131, options RFC 2132): leases from the
 * relay's address pool, with the gateway as router and DNS server.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { rawApi, type UdpPcb } from "../api/raw.js";
import { rd32, wr32 } from "../wire/bytes.js";
import { DHCP, DHCP_MAGIC, BOOTP_LEN, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, dhcpOptions } from "../wire/dhcp.js";
import { hostText, hostU32, type Relay, type NetworkPlan } from "./relay.js";
import type { GatewayStats } from "./gateway.js";

/** What the DHCP server needs from its gateway. */
export interface DhcpContext {
  readonly stack: Stack;
  readonly relay: Relay;
  readonly plan: NetworkPlan;
  /** The gateway's address and the network's mask, host order. */
  readonly gwIp: number;
  readonly netMask: number;
  /** Lease time, s. */
  readonly leaseTime: number;
  readonly counters: GatewayStats["dhcp"];
  log(line: string): void;
}

export class DhcpServer {
  constructor(private readonly ctx: DhcpContext) {}

  /** Serves on port 67 of the gateway's stack; returns the closer. */
  start(): () => void {
    const pcb = rawApi(this.ctx.stack).udp.new().bind("0.0.0.0", DHCP_SERVER_PORT);
    pcb.broadcast = true;
    pcb.recv((data) => {
      try {
        this.dhcp(pcb, data);
      } catch {
        this.ctx.counters.bad++;
      }
    });
    return () => pcb.remove();
  }

  private dhcp(pcb: UdpPcb, m: Uint8Array): void {
    const c = this.ctx.counters;
    if (m.length < BOOTP_LEN + 4 || m[0] !== 1 || m[1] !== 1 || m[2] !== 6) { c.bad++; return; } // BOOTREQUEST, Ethernet
    const opts = dhcpOptions(m);
    const type = opts?.get(53)?.[0];
    if (!opts || type === undefined) { c.bad++; return; }
    const chaddr = m.subarray(28, 34);
    const cid = opts.get(61);
    const key = `dhcp:${Buffer.from(cid ?? chaddr).toString("hex")}`;
    const pool = this.ctx.relay.pool;
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
        this.reply(pcb, m, DHCP.OFFER, hostU32(ip));
        return;
      }
      case DHCP.REQUEST: {
        c.request++;
        if (serverId && (serverId.length !== 4 || rd32(serverId, 0) !== this.ctx.gwIp)) {
          pool.release(key); // SELECTING another server: forget our offer (§4.3.2)
          return;
        }
        const want = reqIp?.length === 4 ? rd32(reqIp, 0) : ciaddr;
        if (!want || !pool.contains(hostText(want)) || !pool.reserve(key, hostText(want))) {
          c.nak++;
          this.reply(pcb, m, DHCP.NAK, 0);
          return;
        }
        c.ack++;
        this.reply(pcb, m, DHCP.ACK, want);
        this.ctx.log(`DHCP ${Buffer.from(chaddr).toString("hex").match(/../g)!.join(":")} → ${hostText(want)}`);
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
        this.reply(pcb, m, DHCP.ACK, 0, true);
        return;
      default:
        c.bad++;
    }
  }

  private reply(pcb: UdpPcb, req: Uint8Array, type: number, yiaddr: number, inform = false): void {
    const plan = this.ctx.plan;
    const r = new Uint8Array(300);
    r[0] = 2; r[1] = 1; r[2] = 6; // BOOTREPLY, Ethernet, hlen 6
    r.set(req.subarray(4, 8), 4); // xid
    r.set(req.subarray(10, 12), 10); // flags
    if (inform) r.set(req.subarray(12, 16), 12); // ciaddr
    wr32(r, 16, yiaddr);
    if (type !== DHCP.NAK) wr32(r, 20, this.ctx.gwIp); // siaddr
    r.set(req.subarray(24, 44), 24); // giaddr, chaddr
    wr32(r, BOOTP_LEN, DHCP_MAGIC);
    let o = BOOTP_LEN + 4;
    const opt = (code: number, bytes: number[]) => { r[o++] = code; r[o++] = bytes.length; for (const b of bytes) r[o++] = b; };
    const ip4 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    opt(53, [type]);
    opt(54, ip4(this.ctx.gwIp));
    if (type !== DHCP.NAK) {
      const lease = this.ctx.leaseTime ?? 3600;
      if (!inform) {
        opt(51, ip4(lease));
        opt(58, ip4(Math.floor(lease / 2))); // T1 (RFC 2131 §4.4.5)
        opt(59, ip4(Math.floor((lease * 7) / 8))); // T2
      }
      opt(1, ip4(this.ctx.netMask));
      opt(3, ip4(hostU32(plan.gateway)));
      opt(6, ip4(hostU32(plan.dns)));
      opt(26, [(plan.mtu >>> 8) & 255, plan.mtu & 255]);
    }
    r[o++] = 255;
    const out = r.subarray(0, Math.max(o, 300));
    // Broadcast (RFC 2131 §4.1): the client has no address yet, and the
    // gateway's ARP cannot resolve one it has not taken.
    const to = inform && rd32(req, 12) ? hostText(rd32(req, 12)) : "255.255.255.255";
    pcb.sendto(out, to, DHCP_CLIENT_PORT);
  }
}
