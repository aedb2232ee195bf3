/**
 * UDP pcbs of the raw API, in-thread (lwIP udp_new & co.): `raw.udp.new()`.
 * bindings/api/raw.ts describes the API; bindings/worker/remote-raw.ts has the
 * Worker-mode twin, and both implement UdpPcbLike (raw-types.ts).
 *
 * @module
 */
import { AsipError, EV, EV_FLAG_IP6, check } from "../abi.js";
import { IpAddress } from "../ip-address.js";
import type { RawApi } from "./raw.js";
import { addrArg, portArg, byteArg, dataArg, ipTypeArg, type IpType, icmpName, SOF_REUSEADDR, SOF_BROADCAST, UDP_MAX_PAYLOAD } from "./raw-args.js";
import { UdpPcbCallbacks, coreCall, coreRemove } from "./raw-pcb.js";
import type { Dispatch, UdpPcbLike, UdpRecvMeta, UdpNewOptions } from "./raw-types.js";

/** Details of a received datagram; the object is reused: read it during the callback. */
export class UdpRecvInfo implements UdpRecvMeta {
  /** @internal the event's source and destination arguments and flags (rings.ts) */
  srcArg = 0;
  /** @internal */ dstArg = 0;
  /** @internal */ flags = 0;
  /** @internal */ api: RawApi | undefined;
  /** Index of the netif it arrived on. */
  netif = 0;
  broadcast = false;
  multicast = false;
  /** 4 or 6: the family of the datagram's addresses. */
  get family(): 4 | 6 {
    return (this.flags & EV_FLAG_IP6) !== 0 ? 6 : 4;
  }
  /** Destination address (ours, or the broadcast/multicast address it was sent to). */
  get dst(): string {
    return this.api!.addr(this.dstArg, this.flags);
  }
  /** Source address. */
  get srcAddress(): IpAddress {
    return this.api!.address(this.srcArg, this.flags);
  }
  /** Destination address. */
  get dstAddress(): IpAddress {
    return this.api!.address(this.dstArg, this.flags);
  }
}

/** `raw.udp`: lwIP's udp_new. */
export class UdpApi {
  constructor(private readonly api: RawApi) {}

  /** A new, unbound UDP pcb (lwIP udp_new). Throws ERR_MEM when the pool is empty. */
  new(opts: UdpNewOptions = {}): UdpPcb {
    const s = this.api.stack;
    const t = ipTypeArg(opts.ipType, "udp.new");
    const h: number = s.guard(() => s.ex.udp_host_new(t, opts.lite ? 1 : 0));
    if (h === 0) throw new AsipError(-1, "udp.new");
    const pcb = new UdpPcb(this.api, h);
    pcb.ipType = t as IpType;
    this.api.pcbs.set(h, pcb);
    return pcb;
  }
}

/** A UDP pcb owned by JS. */
export class UdpPcb extends UdpPcbCallbacks implements UdpPcbLike, Dispatch {
  private remoteIp: IpAddress = IpAddress.ANY4;
  private remotePortNum = 0;
  private connected = false;
  private readonly info = new UdpRecvInfo();
  /**
   * The family it was made with (udp.new's ipType). On a dual-stack pcb
   * (46), bind("::") takes both families (lwIP's IP_ANY_TYPE).
   */
  ipType: IpType = 4;
  /** On a dual-stack pcb: bind("::") takes IPv6 only (lwIP's NETCONN_FLAG_IPV6_V6ONLY, IPV6_V6ONLY). */
  v6only = false;

  /** @internal */
  constructor(private readonly api: RawApi, h: number) {
    super(h, "udp", "was removed");
    this.info.api = api;
  }

  private call(what: string, f: (ex: Record<string, any>, h: number) => number): number {
    return coreCall(this.api, `udp.${what}`, this.live(what), f);
  }

  /**
   * The outcome of the operations so far (their error, or the local address
   * and port). Here operations run at once and throw, so there is nothing to
   * wait for: undefined. A pcb of a core in a Worker
   * (bindings/worker/remote-raw.ts) returns a Promise: read it once, after
   * bind/listen/connect.
   */
  get ready(): Promise<{ localAddress: string; localPort: number }> | undefined {
    return undefined;
  }

  /** Binds to `ip` ("0.0.0.0" = any) and `port` (0 = ephemeral; see {@link localPort}). */
  bind(ip: string, port: number): this {
    const a = addrArg(ip, "udp.bind");
    portArg(port, "udp.bind");
    const s = this.api.stack;
    this.call("bind", (ex, h) => ex.udp_host_bind(h, this.ipType === 46 && !this.v6only ? s.addrArgDual(a) : s.addrArg(a), port));
    return this;
  }

  /** Only datagrams arriving on netif `index` (0 = any). */
  bindNetif(index: number): this {
    this.call("bindNetif", (ex, h) => ex.udp_host_bind_netif(h, index >>> 0));
    return this;
  }

  /** Sets the remote end: send() goes there and only its datagrams are received. */
  connect(ip: string, port: number): this {
    const a = addrArg(ip, "udp.connect");
    portArg(port, "udp.connect", true);
    this.call("connect", (ex, h) => ex.udp_host_connect(h, this.api.stack.addrArg(a), port));
    this.remoteIp = a;
    this.remotePortNum = port;
    this.connected = true;
    return this;
  }

  disconnect(): this {
    this.call("disconnect", (ex, h) => ex.udp_host_disconnect(h));
    this.connected = false;
    return this;
  }

  /** The bound local port (after an ephemeral bind, the one the core chose). */
  get localPort(): number {
    const h = this.live("localPort");
    return this.api.stack.ex.udp_host_local_port(h);
  }

  /** The bound local address. */
  get localAddress(): string {
    const h = this.live("localAddress");
    const s = this.api.stack;
    const out = s.addrOut();
    check(s.guard(() => s.ex.udp_host_local_ip(h, out)), "udp.localAddress");
    return s.readAddr(out).toString();
  }

  /** SO_BROADCAST: allow sending to broadcast addresses. */
  set broadcast(on: boolean) {
    this.call("broadcast", (ex, h) => ex.udp_host_set_options(h, SOF_BROADCAST, on ? 1 : 0));
  }

  /** SO_REUSEADDR: share a bound address/port with other pcbs that set it too. */
  set reuseaddr(on: boolean) {
    this.call("reuseaddr", (ex, h) => ex.udp_host_set_options(h, SOF_REUSEADDR, on ? 1 : 0));
  }

  /** TTL and TOS of unicast datagrams sent. */
  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "udp.ttl");
    byteArg(tos, "udp.tos");
    this.call("setTtlTos", (ex, h) => ex.udp_host_set_ttl_tos(h, ttl, tos));
    return this;
  }

  /** Sends to the connected remote (lwIP udp_send). */
  send(data: Uint8Array): void {
    if (!this.connected) throw new Error("udp.send: pcb is not connected (use sendto or connect first)");
    this.sendToAddress(dataArg(data, "udp.send"), this.remoteIp, this.remotePortNum, "send");
  }

  /** Sends one datagram to `ip`:`port` (lwIP udp_sendto). */
  sendto(data: Uint8Array, ip: string, port: number): void {
    const a = addrArg(ip, "udp.sendto");
    portArg(port, "udp.sendto", true);
    this.sendToAddress(dataArg(data, "udp.sendto"), a, port, "sendto");
  }

  /**
   * Zero-copy send: `fill` writes the `len` payload bytes straight into the
   * core's buffer (the view is valid only during `fill`). To the connected
   * remote when `ip` is omitted.
   */
  sendWith(len: number, fill: (buf: Uint8Array) => void, ip?: string, port?: number): void {
    let a: IpAddress, pt: number;
    if (ip === undefined) {
      if (!this.connected) throw new Error("udp.sendWith: pcb is not connected (give ip and port)");
      a = this.remoteIp;
      pt = this.remotePortNum;
    } else {
      a = addrArg(ip, "udp.sendWith");
      pt = portArg(port ?? -1, "udp.sendWith", true);
    }
    if (!Number.isInteger(len) || len < 0 || len > UDP_MAX_PAYLOAD) throw new RangeError(`udp.sendWith: length out of range: ${len}`);
    const h = this.live("sendWith");
    const s = this.api.stack;
    const ex = s.ex;
    const p: number = s.guard(() => ex.udp_tx_buffer(len));
    if (p === 0) throw new AsipError(-1, "udp.sendWith");
    try {
      fill(this.api.payload(p, len));
    } catch (e) {
      s.guard(() => ex.pbuf_release(p));
      throw e;
    }
    check(s.guard(() => ex.udp_host_send_pbuf(h, p, s.addrArg(a), pt)), "udp.sendWith");
    s.kick();
  }

  /** sendto with an address already parsed (hot loops, the gateway's NAT). */
  sendToAddress(data: Uint8Array, ip: IpAddress, port: number, what = "sendto"): void {
    const h = this.live(what);
    if (data.length > UDP_MAX_PAYLOAD) throw new RangeError(`udp.${what}: ${data.length} bytes is more than a UDP datagram holds (${UDP_MAX_PAYLOAD})`);
    const s = this.api.stack;
    const ex = s.ex;
    const p: number = s.guard(() => ex.udp_tx_buffer(data.length));
    if (p === 0) throw new AsipError(-1, `udp.${what}`);
    this.api.fill(p, data);
    check(s.guard(() => ex.udp_host_send_pbuf(h, p, s.addrArg(ip), port)), `udp.${what}`);
    s.kick();
  }

  /** Multicast TTL and loopback of what this pcb sends (IP_MULTICAST_TTL / IP_MULTICAST_LOOP). */
  setMulticast(ttl: number, loop: boolean): this {
    byteArg(ttl, "udp.multicastTtl");
    const h = this.live("setMulticast");
    const s = this.api.stack;
    s.guard(() => s.ex.udp_host_set_multicast(h, ttl, 0, loop ? 1 : 0));
    return this;
  }

  /** Closes the pcb (lwIP udp_remove); datagrams still queued for it are dropped. */
  remove(): void {
    const h = this.live("remove");
    this.h = 0;
    coreRemove(this.api, "udp.remove", h, (ex) => ex.udp_host_close(h));
  }

  /** @internal */
  ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, _index: number, flags: number): void {
    if (type === EV.UDP_RECV) {
      const fn = this.recvFn;
      if (!fn) return;
      const info = this.info;
      info.srcArg = a;
      info.dstArg = c;
      info.flags = flags;
      info.netif = d;
      info.broadcast = (e & 1) !== 0;
      info.multicast = (e & 2) !== 0;
      fn(this.api.view(p), this.api.addr(a, flags), b, info);
    } else if (type === EV.UDP_ERR) {
      const fn = this.errFn;
      if (!fn) return;
      const v6 = (flags & EV_FLAG_IP6) !== 0;
      fn({ type: a, code: b, name: icmpName(a, b, v6), addr: this.api.addr(c, flags), port: d });
    }
  }
}
