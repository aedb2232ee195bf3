/**
 * Raw IP pcbs of the raw API, in-thread (lwIP raw_new & co.): `raw.ip.new(proto)`.
 * Not offered in Worker mode (they need the core's thread).
 *
 * @module
 */
import { AsipError, EV, check } from "../abi.js";
import type { IpAddress } from "../ip-address.js";
import type { RawApi } from "./raw.js";
import { addrArg, byteArg, dataArg, ipTypeArg, SOF_BROADCAST, type IpType } from "./raw-args.js";
import { PcbHandle, coreCall, coreRemove } from "./raw-pcb.js";
import type { Dispatch } from "./raw-types.js";

/** Details of a packet a raw pcb received; reused: read during the callback. */
export interface RawRecvInfo {
  /** Destination address. */
  dst: string;
  netif: number;
  /** IP protocol. */
  proto: number;
  /** IP header length: the protocol's payload starts at `packet[hlen]`. */
  hlen: number;
}

/** `packet` is the whole IP packet (header included), valid only during the call. */
export type RawRecvFn = (packet: Uint8Array, src: string, info: RawRecvInfo) => void;

/** Options of {@link RawIpApi.new}. */
export interface RawNewOptions {
  /** The pcb's family (default 4). */
  ipType?: IpType;
  /**
   * The pcb eats what it receives (lwIP: recv returns 1): IP goes no further,
   * e.g. ICMP will not answer an echo request the pcb took. Default false.
   */
  eat?: boolean;
  /** Sends carry their own IP header (IP_HDRINCL). */
  hdrincl?: boolean;
}

/** `raw.ip`: lwIP's raw_new. */
export class RawIpApi {
  constructor(private readonly api: RawApi) {}

  /** A raw pcb for IP protocol `proto` (1 = ICMP, …). */
  new(proto: number, opts: RawNewOptions = {}): RawPcb {
    byteArg(proto, "raw.new: protocol");
    const s = this.api.stack;
    const t = ipTypeArg(opts.ipType, "raw.new");
    const h: number = s.guard(() => s.ex.raw_host_new(proto, t, opts.eat ? 1 : 0));
    if (h === 0) throw new AsipError(-1, "raw.new");
    const pcb = new RawPcb(this.api, h, proto);
    this.api.pcbs.set(h, pcb);
    if (opts.hdrincl) pcb.setFlags(true, !!opts.eat);
    return pcb;
  }
}

/** A raw IP pcb owned by JS. */
export class RawPcb extends PcbHandle implements Dispatch {
  private recvFn: RawRecvFn | undefined;
  private readonly info: RawRecvInfo = { dst: "", netif: 0, proto: 0, hlen: 20 };

  /** @internal */
  constructor(private readonly api: RawApi, h: number, readonly protocol: number) {
    super(h, "raw", "was removed");
  }

  private call(what: string, f: (ex: Record<string, any>, h: number) => number): number {
    return coreCall(this.api, `raw.${what}`, this.live(what), f);
  }

  /** Receive only packets to `ip` ("0.0.0.0" = any of ours). */
  bind(ip: string): this {
    const a = addrArg(ip, "raw.bind");
    this.call("bind", (ex, h) => ex.raw_host_bind(h, this.api.stack.addrArg(a)));
    return this;
  }

  /** Receive only from `ip`; send() goes there. */
  connect(ip: string): this {
    const a = addrArg(ip, "raw.connect");
    this.call("connect", (ex, h) => ex.raw_host_connect(h, this.api.stack.addrArg(a)));
    this.remote = a;
    return this;
  }
  private remote: IpAddress | undefined;

  disconnect(): this {
    this.call("disconnect", (ex, h) => ex.raw_host_disconnect(h));
    this.remote = undefined;
    return this;
  }

  /** IP_HDRINCL and eat (see {@link RawNewOptions}). */
  setFlags(hdrincl: boolean, eat: boolean): this {
    this.call("setFlags", (ex, h) => ex.raw_host_set_flags(h, hdrincl ? 1 : 0, eat ? 1 : 0));
    return this;
  }

  set broadcast(on: boolean) {
    this.call("broadcast", (ex, h) => ex.raw_host_set_options(h, SOF_BROADCAST, on ? 1 : 0));
  }

  setTtlTos(ttl: number, tos = 0): this {
    byteArg(ttl, "raw.ttl");
    byteArg(tos, "raw.tos");
    this.call("setTtlTos", (ex, h) => ex.raw_host_set_ttl_tos(h, ttl, tos));
    return this;
  }

  /** The receive callback. `packet` is the whole IP packet, valid only during the call. */
  recv(fn: RawRecvFn | undefined): this {
    this.live("recv");
    this.recvFn = fn;
    return this;
  }

  /** Sends to the connected address. */
  send(data: Uint8Array): void {
    if (!this.remote) throw new Error("raw.send: pcb is not connected (use sendto or connect first)");
    this.sendToAddress(dataArg(data, "raw.send"), this.remote, "send");
  }

  /** Sends `data` (the protocol's payload, or a whole IP packet with hdrincl) to `ip`. */
  sendto(data: Uint8Array, ip: string): void {
    this.sendToAddress(dataArg(data, "raw.sendto"), addrArg(ip, "raw.sendto"), "sendto");
  }

  /** sendto with an address already parsed. */
  sendToAddress(data: Uint8Array, ip: IpAddress, what = "sendto"): void {
    const h = this.live(what);
    if (data.length > 65515) throw new RangeError(`raw.${what}: ${data.length} bytes is more than an IPv4 packet holds`);
    const s = this.api.stack;
    const ex = s.ex;
    const p: number = s.guard(() => ex.raw_tx_buffer(h, data.length));
    if (p === 0) throw new AsipError(-1, `raw.${what}`);
    this.api.fill(p, data);
    check(s.guard(() => ex.raw_host_send_pbuf(h, p, s.addrArg(ip))), `raw.${what}`);
    s.kick();
  }

  remove(): void {
    const h = this.live("remove");
    this.h = 0;
    coreRemove(this.api, "raw.remove", h, (ex) => ex.raw_host_close(h));
  }

  /** @internal */
  ev(type: number, p: number, a: number, b: number, c: number, d: number, e: number, _index: number, flags: number): void {
    if (type !== EV.RAW_RECV || !this.recvFn) return;
    const info = this.info;
    info.dst = this.api.addr(b, flags);
    info.netif = c;
    info.proto = d;
    info.hlen = e;
    this.recvFn(this.api.view(p), this.api.addr(a, flags), info);
  }
}
