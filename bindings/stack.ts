/**
 * A Stack is one asip core instance plus the host machinery around it: the
 * clock (one timer that sleeps until the core's next deadline), the drivers
 * of its interfaces, and the draining of the TX and event rings.
 *
 * Every call into the core is followed by a drain, scheduled as a microtask,
 * so a burst of received frames is processed before the frames and events it
 * caused are handed out, and one drain carries many frames.
 *
 * @module
 */
import { loadCore, type Core, type CoreVariant } from "./core.js";
import {
  readLayout, readStats, check, parseMac, formatMac, MEMP_NAMES, EV, EV_FLAG_IP6,
  RING_HEAD, RING_TAIL, RING_HDR_BYTES, TX_ENTRY_BYTES, EV_RECORD_BYTES, PBUF_NEXT, PBUF_PAYLOAD, PBUF_LEN,
  type Layout, type StackStats, type PoolName,
} from "./abi.js";
import { IpAddress, IP_ADDR_SIZE, IPADDR_TYPE_ANY, parseCidr, prefixToMask4 } from "./ip-address.js";
import type { LinkDriver } from "./netif/driver.js";
import { rawApi, type RawApi } from "./api/raw.js";
import { netconnApi, type NetconnApi } from "./api/netconn.js";
import { socketsApi, type SocketsApi } from "./api/sockets.js";
import type { DgramApi } from "./api/dgram.js";
import { streamsApi, type StreamsApi } from "./api/streams.js";
import type { NetApi } from "./api/net.js";

/** Options of {@link Stack.create}. */
export interface StackOptions {
  /** Which build of the core to run (default "release"). */
  variant?: CoreVariant;
  /**
   * The core's wasm bytes, for a build of your own (asc with other
   * `--use ASIP_*` options, e.g. ASIP_IPV4=0): run instead of `variant`'s
   * file, which still names the build's profile.
   */
  wasm?: BufferSource;
  /** Heap (mem) size in bytes; default MEM_SIZE from assembly/config.ts. */
  heapSize?: number;
  /** Element counts of pools, by pool name (assembly/core/memp.ts). */
  pools?: Partial<Record<PoolName, number>>;
  /** Seed for the core's random numbers; default from crypto.getRandomValues. */
  seed?: number;
  /** Clock in ms; default performance.now(). Tests may drive time themselves. */
  clock?: () => number;
  /** Don't schedule timers: the caller calls {@link Stack.advance} (tests). */
  manualClock?: boolean;
}

/** Options of {@link Stack.addInterface}. */
export interface InterfaceOptions {
  /** "a.b.c.d/len" */
  ip?: string;
  gateway?: string;
  mtu?: number;
  /** "aa:bb:cc:dd:ee:ff"; default a random locally administered MAC. */
  mac?: string;
  /** Make it the default route (default: true for the first interface with a gateway or the first one). */
  default?: boolean;
  /** 802.1Q VLAN ID (1..4094): frames are tagged with it and only that VLAN is accepted. */
  vlan?: number;
  /**
   * IPv6 on this interface (cores with IPv6, `stack.ipv6`): `true`, or
   * static addresses "ADDR/PREFIX" (prefix default 64). With IPv6 on, a
   * link-local address is formed and routers are solicited; every address
   * is tentative until Duplicate Address Detection passes (RFC 4862 §5.4),
   * and {@link Interface.ip6} follows its state. Default: off (unless
   * `slaac` is given).
   */
  ip6?: boolean | string | string[];
  /** Addresses from Router Advertisements' prefixes (RFC 4862 SLAAC); default true when IPv6 is on, as in Linux and lwIP. */
  slaac?: boolean;
  /** Temporary addresses (RFC 8981) beside the SLAAC ones, preferred as sources; default false. */
  temporary?: boolean;
  /** Interface identifiers: "stable" (RFC 7217 opaque, the default, as current Linux) or "eui64". */
  iid?: "stable" | "eui64";
  /** Run Duplicate Address Detection on the static `ip6` addresses (default true). */
  dad?: boolean;
  /** A static IPv6 default router (link-local, or on one of the `ip6` prefixes); RAs may add more. */
  gateway6?: string;
}

/** Names of the core's IPv6 address states (RFC 4862 §5.5.4, lwIP's IP6_ADDR_*). */
export type Ip6StateName = "invalid" | "tentative" | "preferred" | "deprecated" | "duplicated";

/** The name of an IP6_ADDR_* state value. */
export function ip6StateName(state: number): Ip6StateName {
  if (state === 0) return "invalid";
  if ((state & 0x40) !== 0) return "duplicated";
  if ((state & 0xf8) === 0x08) return "tentative";
  if ((state & 0x30) === 0x30) return "preferred";
  return "deprecated";
}

/**
 * A sink of one event type: the record's handle, pbuf and arguments a–e,
 * its position among the records being drained (for ev_take), and its
 * flags (EV_FLAG_IP6: address arguments point at ip_addrs, see rings.ts).
 */
export type EventHandler = (handle: number, p: number, a: number, b: number, c: number, d: number, e: number, index: number, flags: number) => void;

/** An IPv6 address of an interface, as the core reports it (EV_NETIF_IP6). */
export interface Ip6AddressState {
  address: string;
  /** The core's IP6_ADDR_* state: 0x08 tentative (+ probes), 0x30 preferred, 0x10 deprecated, 0x40 duplicated. */
  state: number;
  /** The state by name. */
  stateName: Ip6StateName;
  /** On-link prefix length (cores that report it; else undefined). */
  prefix?: number;
  /** Valid and preferred lifetimes in seconds (0 = static / not given). */
  validLifetime: number;
  preferredLifetime: number;
}

/** Called when an IPv6 address slot of an interface changes (`now` undefined: the slot was emptied). */
export type Ip6Watcher = (slot: number, now: Ip6AddressState | undefined, before: Ip6AddressState | undefined) => void;

/** An interface of a stack. */
export class Interface {
  /** The core's netif index (if_idx). */
  readonly index: number;
  /** "" on links without one ("ip" links). */
  readonly mac: string;
  readonly mtu: number;
  /** Frames received from / sent to the driver. */
  rxFrames = 0;
  txFrames = 0;
  /** Frames the core had no buffer for. */
  rxDropped = 0;
  up = false;
  linkUp = false;
  ip = "0.0.0.0";
  netmask = "0.0.0.0";
  gateway = "0.0.0.0";
  /** IPv6 address slots that hold an address (cores built with IPv6), by slot. */
  readonly ip6 = new Map<number, Ip6AddressState>();
  /** @internal */
  readonly ip6Watchers = new Set<Ip6Watcher>();
  /** @internal IPv6 autoconfiguration as configured (netif_ip6_config): on, SLAAC, IID kind. */
  ip6Config = { on: false, slaac: false, temporary: false, iid: 0 };
  /** Calls `fn` on every change of an IPv6 address slot (state, lifetime, removal); returns the unsubscribe function. */
  watchIp6(fn: Ip6Watcher): () => void {
    this.ip6Watchers.add(fn);
    return () => this.ip6Watchers.delete(fn);
  }
  /** The IPv6 addresses, link-local first as the slots hold them. */
  get ip6Addresses(): Ip6AddressState[] {
    return [...this.ip6.entries()].sort((x, y) => x[0] - y[0]).map((e) => e[1]);
  }
  /** @internal */
  constructor(readonly stack: Stack, readonly driver: LinkDriver, index: number, mac: string, mtu: number) {
    this.index = index;
    this.mac = mac;
    this.mtu = mtu;
  }
}

/** Offset in abi_scratch() of the ip_addr argument slots (six of 20 bytes). */
const ADDR_AREA = 128;

function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0] || 1;
}

function randomMac(): Uint8Array {
  const m = new Uint8Array(6);
  globalThis.crypto.getRandomValues(m);
  m[0] = (m[0] & 0xfe) | 0x02; // unicast, locally administered
  return m;
}

/** One asip core instance and its interfaces. */
export class Stack {
  readonly core: Core;
  /** The core's exports (docs/abi.md). Calls made directly must be followed by {@link Stack.kick}. */
  readonly ex: Record<string, any>;
  private readonly layout: Layout;
  private readonly clock: () => number;
  private readonly clockBase: number;
  private readonly manual: boolean;
  private manualNow = 0;
  private u8: Uint8Array;
  private u32: Uint32Array;
  private readonly interfaces = new Map<number, Interface>();
  private readonly handlers = new Map<number, EventHandler>();
  private drainQueued = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private closed = false;
  private scratchBuf: Uint8Array = new Uint8Array(2048);
  /** abi_scratch(): 256 bytes; ip_addr arguments use its upper half (ADDR_AREA). */
  private readonly scratchPtr: number;
  /** Set when the core aborted: the instance is unusable afterwards. */
  failure: Error | undefined;
  /**
   * Whether this core carries IPv6 (abi_features bit 1): IPv6 pcbs,
   * dual-stack (`'::'`) listeners and IPv6 addresses. Without it the host
   * APIs refuse IPv6 with EAFNOSUPPORT and `'::'` listens on IPv4 only.
   */
  readonly ipv6: boolean;

  private constructor(core: Core, opts: StackOptions) {
    this.core = core;
    this.ex = core.exports;
    this.manual = !!opts.manualClock;
    this.clock = opts.clock ?? (() => performance.now());
    this.clockBase = this.clock();
    const ex = this.ex;
    if (opts.heapSize !== undefined) ex.config_heap(opts.heapSize >>> 0);
    for (const [name, num] of Object.entries(opts.pools ?? {})) {
      const i = MEMP_NAMES.indexOf(name as PoolName);
      if (i < 0) throw new RangeError(`unknown pool ${name}`);
      ex.config_pool(i, num! >>> 0);
    }
    if (opts.seed === undefined) {
      // 128 random bits for the core's secrets (TCP ISNs); a fixed seed keeps tests repeatable.
      const key = new Uint8Array(16);
      globalThis.crypto.getRandomValues(key);
      new Uint8Array(core.memory.buffer).set(key, ex.abi_scratch());
      ex.config_entropy(ex.abi_scratch());
    }
    ex.asip_init(this.now(), (opts.seed ?? randomSeed()) >>> 0);
    this.layout = readLayout(core.memory, ex.abi_layout());
    this.ipv6 = typeof ex.abi_features === "function" && (ex.abi_features() & 2) !== 0;
    this.scratchPtr = ex.abi_scratch();
    this.u8 = new Uint8Array(core.memory.buffer);
    this.u32 = new Uint32Array(core.memory.buffer);
    this.on(EV.NETIF, (handle, _p, reason, flags, ip, mask, gw) => {
      const i = this.interfaces.get(handle);
      if (!i) return;
      i.up = (flags & 0x01) !== 0;
      i.linkUp = (flags & 0x04) !== 0;
      i.ip = IpAddress.fromCore4(ip).toString();
      i.netmask = IpAddress.fromCore4(mask).toString();
      i.gateway = IpAddress.fromCore4(gw).toString();
    });
    this.on(EV.NETIF_IP6, (handle, _p, slot, state, addr, valid, pref, _index, flags) => {
      const i = this.interfaces.get(handle);
      if (!i || (flags & EV_FLAG_IP6) === 0) return;
      const before = i.ip6.get(slot);
      let now: Ip6AddressState | undefined;
      if (state === 0) i.ip6.delete(slot);
      else {
        now = {
          address: this.readAddr(addr).toString(), state, stateName: ip6StateName(state),
          prefix: this.ip6Prefix(handle, slot), validLifetime: valid >>> 0, preferredLifetime: pref >>> 0,
        };
        i.ip6.set(slot, now);
      }
      for (const w of i.ip6Watchers) w(slot, now, before);
    });
  }

  /** Loads a core and initialises it. */
  static async create(opts: StackOptions = {}): Promise<Stack> {
    const core = await loadCore(opts.variant ?? "release", opts.wasm);
    return new Stack(core, opts);
  }

  /** The stack's clock in ms, as the core sees it (u32, wraps). */
  now(): number {
    if (this.manual) return this.manualNow >>> 0;
    return Math.floor(this.clock() - this.clockBase) >>> 0;
  }

  /** With `manualClock`: moves time forward by `ms` and runs what is due. */
  advance(ms: number): void {
    this.manualNow += ms;
    this.guard(() => this.ex.tick(this.now()));
    this.drainNow();
  }

  /**
   * Views over linear memory, re-created when memory has grown. The core's
   * memory is not shared, so growing it detaches the old ArrayBuffer and
   * every view of it reads length 0: testing that is far cheaper than the
   * memory.buffer getter, and the packet path asks for the views several
   * times per datagram (payload, address arguments, received data).
   */
  mem(): Uint8Array {
    if (this.u8.length === 0) {
      this.u8 = new Uint8Array(this.core.memory.buffer);
      this.u32 = new Uint32Array(this.core.memory.buffer);
    }
    return this.u8;
  }
  mem32(): Uint32Array {
    this.mem();
    return this.u32;
  }

  /** Registers the handler of one event type (one per type). */
  on(type: number, h: EventHandler): void {
    this.handlers.set(type, h);
  }

  /** Runs `f` (a call into the core); an abort marks the stack failed and rethrows. */
  guard<T>(f: () => T): T {
    if (this.failure) throw this.failure;
    try {
      return f();
    } catch (e) {
      this.failure = e as Error;
      throw e;
    }
  }

  /** Schedules a drain after the current call stack (one per burst of calls). */
  kick(): void {
    if (this.drainQueued || this.closed) return;
    this.drainQueued = true;
    queueMicrotask(() => {
      this.drainQueued = false;
      this.drainNow();
    });
  }

  /**
   * Hands queued frames to drivers and events to handlers, delivers loopback
   * traffic, and re-arms the timer. Runs until the core has nothing left.
   */
  drainNow(): void {
    if (this.closed || this.failure) return;
    const ex = this.ex;
    for (let round = 0; round < 64; round++) {
      this.drainTx();
      this.drainEvents();
      let next: number;
      try {
        next = ex.drain();
      } catch (e) {
        this.failure = e as Error;
        throw e;
      }
      const u32 = this.mem32();
      const pending = u32[(this.layout.txRing >>> 2) + RING_HEAD] !== u32[(this.layout.txRing >>> 2) + RING_TAIL] ||
        u32[(this.layout.evRing >>> 2) + RING_HEAD] !== u32[(this.layout.evRing >>> 2) + RING_TAIL];
      if (next !== 0 && !pending) {
        this.schedule(next);
        return;
      }
    }
    // Still busy (e.g. a loopback storm): continue on the next turn of the event loop.
    setTimeout(() => this.drainNow(), 0);
  }

  private drainTx(): void {
    const ring = this.layout.txRing;
    const u32 = this.mem32();
    const u8 = this.u8;
    const h = ring >>> 2;
    const head = u32[h + RING_HEAD];
    let tail = u32[h + RING_TAIL];
    const cap = u32[h + 2];
    const n = (head - tail) >>> 0;
    if (n === 0) return;
    for (let k = 0; k < n; k++, tail = (tail + 1) >>> 0) {
      const e = (ring + RING_HDR_BYTES + (tail & (cap - 1)) * TX_ENTRY_BYTES) >>> 2;
      const p = u32[e];
      const iface = this.interfaces.get(u32[e + 1]);
      if (!iface) continue;
      let frame: Uint8Array;
      // The first pbuf's payload and length as they were when queued (rings.ts).
      const payload = u32[e + 2], len0 = u32[e + 3];
      const next = u32[(p >>> 2) + (PBUF_NEXT >>> 2)];
      if (next === 0) {
        frame = u8.subarray(payload, payload + len0);
      } else {
        // A chain: gather it into scratch (the driver gets one contiguous frame).
        let tot = len0;
        for (let q = next; q !== 0; q = u32[q >>> 2]) tot += u32[(q >>> 2) + (PBUF_LEN >>> 2)];
        if (this.scratchBuf.length < tot) this.scratchBuf = new Uint8Array(Math.max(tot, this.scratchBuf.length * 2));
        this.scratchBuf.set(u8.subarray(payload, payload + len0), 0);
        let off = len0;
        for (let q = next; q !== 0; q = u32[q >>> 2]) {
          const pl = u32[(q >>> 2) + (PBUF_PAYLOAD >>> 2)], len = u32[(q >>> 2) + (PBUF_LEN >>> 2)];
          this.scratchBuf.set(u8.subarray(pl, pl + len), off);
          off += len;
        }
        frame = this.scratchBuf.subarray(0, off);
      }
      iface.txFrames++;
      iface.driver.send(frame);
    }
    this.guard(() => this.ex.tx_done(n));
  }

  private drainEvents(): void {
    const ring = this.layout.evRing;
    let u32 = this.mem32();
    const h = ring >>> 2;
    const head = u32[h + RING_HEAD];
    let tail = u32[h + RING_TAIL];
    const cap = u32[h + 2];
    const n = (head - tail) >>> 0;
    if (n === 0) return;
    for (let k = 0; k < n; k++, tail = (tail + 1) >>> 0) {
      u32 = this.mem32();
      const r = (ring + RING_HDR_BYTES + (tail & (cap - 1)) * EV_RECORD_BYTES) >>> 2;
      const type = u32[r] & 0xffff;
      const handler = this.handlers.get(type);
      if (handler) handler(u32[r + 1], u32[r + 2], u32[r + 3], u32[r + 4], u32[r + 5], u32[r + 6], u32[r + 7], k, u32[r] >>> 16);
    }
    this.guard(() => this.ex.ev_done(n));
  }

  private schedule(delay: number): void {
    if (this.manual || this.closed) return;
    if (delay < 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    const at = this.now() + delay;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      if (this.closed || this.failure) return;
      this.guard(() => this.ex.tick(this.now()));
      this.drainNow();
    }, delay);
    // Timers alone don't keep the process alive; open sockets and drivers do.
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Copies `bytes` into the core's scratch area (its first 128 bytes) and returns its address. */
  scratch(bytes: Uint8Array): number {
    const p = this.scratchPtr;
    this.mem().set(bytes.subarray(0, ADDR_AREA), p);
    return p;
  }

  /**
   * Writes `ip` as the core's ip_addr in address slot `slot` (0..3) of the
   * scratch area and returns its address: the argument of exports that take
   * an address (docs/abi.md). A zone names one of this stack's interfaces.
   */
  addrArg(ip: IpAddress, slot = 0): number {
    const p = this.scratchPtr + ADDR_AREA + slot * IP_ADDR_SIZE;
    ip.write(this.mem32(), p, ip.zone === undefined ? 0 : this.zoneIndex(ip.zone));
    return p;
  }

  /**
   * As {@link addrArg}, but an unspecified address is written as
   * IPADDR_TYPE_ANY: the wildcard of both families, which a dual-stack pcb
   * (ip_type 46) binds to take IPv4 and IPv6 alike (lwIP's IP_ANY_TYPE).
   */
  addrArgDual(ip: IpAddress, slot = 0): number {
    const p = this.addrArg(ip, slot);
    if (ip.isUnspecified()) this.mem32()[(p >>> 2) + 4] = IPADDR_TYPE_ANY;
    return p;
  }

  /** Where exports that return an address write it (scratch address slot 5). */
  addrOut(): number {
    return this.scratchPtr + ADDR_AREA + 5 * IP_ADDR_SIZE;
  }

  /** The ip_addr at `ptr` of core memory (an export's result, or an event's IPv6 address). */
  readAddr(ptr: number): IpAddress {
    return IpAddress.read(this.mem32(), ptr, (index) => this.zoneName(index));
  }

  /**
   * The netif index of an IPv6 zone (RFC 4007 §11): a number, or the name
   * of an interface's driver (a TAP device's name). A TypeError when no
   * interface has it.
   */
  zoneIndex(zone: string): number {
    if (/^\d+$/.test(zone)) return Number(zone);
    for (const i of this.interfaces.values()) if ((i.driver as { name?: string }).name === zone) return i.index;
    throw new TypeError(`no interface for zone ${JSON.stringify(zone)}`);
  }

  /** The name of zone `index`: its interface's driver name when it has one. */
  zoneName(index: number): string | undefined {
    return (this.interfaces.get(index)?.driver as { name?: string } | undefined)?.name;
  }

  /**
   * Attaches a driver as a new interface — Ethernet, or an IP link when the
   * driver's linkType is "ip" (no MAC, no ARP) — sets it up and link up,
   * and configures its address.
   */
  addInterface(driver: LinkDriver, opts: InterfaceOptions = {}): Interface {
    if (this.closed) throw new Error("stack is closed");
    const ipLink = driver.linkType === "ip";
    if (ipLink && (opts.mac !== undefined || opts.vlan !== undefined)) throw new TypeError("addInterface: an IP link has no MAC and no VLAN");
    const mac = ipLink ? undefined : opts.mac ? parseMac(opts.mac) : randomMac();
    const mtu = opts.mtu ?? driver.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new RangeError(`bad MTU ${mtu} (576..65535)`);
    const idx = check(this.guard(() => mac ? this.ex.netif_add_ethernet(this.scratch(mac), mtu) : this.ex.netif_add_ip(mtu)), "addInterface");
    const iface = new Interface(this, driver, idx, mac ? formatMac(mac) : "", mtu);
    this.interfaces.set(idx, iface);
    driver.onReceive((frame) => this.input(iface, frame));
    if (opts.vlan !== undefined) {
      if (!Number.isInteger(opts.vlan) || opts.vlan < 1 || opts.vlan > 4094) throw new RangeError(`bad VLAN ID ${opts.vlan} (1..4094)`);
      check(this.guard(() => this.ex.netif_config_vlan(idx, opts.vlan)), "addInterface");
    }
    if (opts.ip) this.configIp4(idx, opts.ip, opts.gateway, "addInterface");
    const ip6 = typeof opts.ip6 === "string" ? [opts.ip6] : Array.isArray(opts.ip6) ? opts.ip6 : [];
    const v6on = (opts.ip6 !== undefined && opts.ip6 !== false) || opts.slaac !== undefined;
    if (v6on) {
      if (!this.ipv6) throw new TypeError("addInterface: ip6/slaac need a core with IPv6 (this one has none; build with ASIP_IPV6=1)");
      this.configIp6(iface, { on: true, slaac: opts.slaac ?? true, temporary: !!opts.temporary, iid: opts.iid === "eui64" ? 1 : 0 }, "addInterface");
    }
    for (const cidr of ip6) this.addAddress6(iface, cidr, { dad: opts.dad });
    if (opts.gateway6 !== undefined) {
      const g = IpAddress.parse(opts.gateway6);
      if (g.family !== 6) throw new TypeError(`addInterface: not an IPv6 gateway: ${opts.gateway6}`);
      const gw = this.ip6Export("netif_ip6_gateway", "addInterface");
      check(this.guard(() => gw(idx, this.addrArg(g), false)), "addInterface");
    }
    const isDefault = opts.default ?? (opts.gateway !== undefined || this.interfaces.size === 1);
    check(this.guard(() => this.ex.netif_set_state(idx, true, true, isDefault)), "addInterface");
    this.drainNow();
    return iface;
  }

  /**
   * Adds a static IPv6 address ("ADDR/PREFIX", prefix default 64) to an
   * interface; it is tentative until DAD passes (watch `iface.ip6`).
   * `dad: false` skips DAD (Linux's `nodad`). Returns the address slot.
   * An Error naming the err_t when the core refuses (ERR_MEM: no free slot).
   */
  addAddress6(iface: Interface, cidr: string, opts: { dad?: boolean } = {}): number {
    const add = this.ip6Export("netif_ip6_add", "addAddress6");
    const { address, prefix } = parseCidr(cidr);
    if (address.family !== 6 || address.isV4Mapped()) throw new TypeError(`addAddress6: not an IPv6 address: ${cidr}`);
    // An address turns IPv6 on (link-local, router solicitation; SLAAC as Linux's default).
    if (!iface.ip6Config.on) this.configIp6(iface, { on: true, slaac: true, temporary: false, iid: 0 }, "addAddress6");
    const slot = check(this.guard(() => add(iface.index, this.addrArg(address), prefix, opts.dad === false ? 1 : 0)), "addAddress6");
    this.drainNow();
    return slot;
  }

  /** Removes an IPv6 address from an interface. ERR_VAL when it has none. */
  removeAddress6(iface: Interface, address: string): void {
    const rm = this.ip6Export("netif_ip6_remove", "removeAddress6");
    const a = IpAddress.parse(address.replace(/\/\d+$/, ""));
    if (a.family !== 6) throw new TypeError(`removeAddress6: not an IPv6 address: ${address}`);
    check(this.guard(() => rm(iface.index, this.addrArg(a))), "removeAddress6");
    this.drainNow();
  }

  /**
   * Joins IPv6 multicast group `group` (MLD, RFC 3810) on interface index
   * `ifindex` (0: every interface with MLD). Joins are counted: each needs
   * its leave. UDP pcbs bound to the group's port then receive its datagrams.
   */
  joinGroup6(group: string, ifindex = 0): void {
    const f = this.ip6Export("ip6_join_group", "joinGroup6");
    const g = IpAddress.parse(group);
    if (g.family !== 6 || !g.isMulticast()) throw new TypeError(`joinGroup6: not an IPv6 multicast address: ${group}`);
    check(this.guard(() => f(ifindex >>> 0, this.addrArg(g))), "joinGroup6");
    this.drainNow();
  }

  /** Leaves a group joined with {@link joinGroup6}. ERR_VAL when not joined. */
  leaveGroup6(group: string, ifindex = 0): void {
    const f = this.ip6Export("ip6_leave_group", "leaveGroup6");
    const g = IpAddress.parse(group);
    if (g.family !== 6 || !g.isMulticast()) throw new TypeError(`leaveGroup6: not an IPv6 multicast address: ${group}`);
    check(this.guard(() => f(ifindex >>> 0, this.addrArg(g))), "leaveGroup6");
    this.drainNow();
  }

  /** SLAAC on or off on an interface (RFC 4862); turning it on turns IPv6 on there. */
  setSlaac(iface: Interface, on: boolean): void {
    const c = iface.ip6Config;
    this.configIp6(iface, { ...c, on: c.on || on, slaac: on }, "setSlaac");
    this.drainNow();
  }

  /** IPv6 autoconfiguration of an interface (netif_ip6_config: IP6_CONFIG_AUTO 1, IP6_CONFIG_SLAAC 2, IP6_CONFIG_TEMPORARY 4). */
  private configIp6(iface: Interface, c: { on: boolean; slaac: boolean; temporary: boolean; iid: number }, what: string): void {
    const f = this.ip6Export("netif_ip6_config", what);
    check(this.guard(() => f(iface.index, (c.on ? 1 : 0) | (c.slaac ? 2 : 0) | (c.temporary ? 4 : 0), c.iid)), what);
    iface.ip6Config = { ...c };
  }

  /** Resolves once `iface` has a preferred IPv6 address matching `filter` (default: any); rejects after `timeoutMs`. */
  async waitAddress6(iface: Interface, filter: (address: string) => boolean = () => true, timeoutMs = 10000): Promise<string> {
    const find = () => iface.ip6Addresses.find((s) => s.stateName === "preferred" && filter(s.address))?.address;
    const now = find();
    if (now !== undefined) return now;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error("waitAddress6: timed out")); }, timeoutMs);
      const stop = iface.watchIp6(() => {
        const a = find();
        if (a === undefined) return;
        clearTimeout(timer);
        stop();
        resolve(a);
      });
    });
  }

  /** An export of the core's IPv6 configuration ABI, or a clear Error when this core lacks it. */
  private ip6Export(name: string, what: string): (...a: unknown[]) => number {
    if (!this.ipv6) throw new Error(`${what}: this core has no IPv6 (abi_features; build with ASIP_IPV6=1)`);
    const f = this.ex[name];
    if (typeof f !== "function") throw new Error(`${what}: this core has IPv6 but no ${name} export (IPv6 address configuration is not in this build)`);
    return f as (...a: unknown[]) => number;
  }

  /** The on-link prefix length of IPv6 slot `slot` of netif `idx` (netif_ip6_get), when the core reports it. */
  private ip6Prefix(idx: number, slot: number): number | undefined {
    const get = this.ex.netif_ip6_get;
    if (typeof get !== "function") return undefined;
    const out = this.scratchPtr + ADDR_AREA - 64; // 36 bytes below the address slots (the scratch's first half is free here)
    if (get(idx, slot, out) < 0) return undefined;
    return this.mem()[out + 21];
  }

  /** Sets or changes an interface's IPv4 address. */
  setAddress(iface: Interface, cidr: string, gateway?: string): void {
    this.configIp4(iface.index, cidr, gateway, "setAddress");
    this.drainNow();
  }

  /** netif_config_ip4 from "a.b.c.d/len" and an optional gateway (IPv4 by nature: u32 arguments). */
  private configIp4(idx: number, cidr: string, gateway: string | undefined, what: string): void {
    const { address, prefix } = parseCidr(cidr);
    if (address.family !== 4) throw new TypeError(`${what}: not an IPv4 address: ${cidr}`);
    const gw = gateway ? IpAddress.parse(gateway) : IpAddress.ANY4;
    if (gw.family !== 4) throw new TypeError(`${what}: not an IPv4 gateway: ${gateway}`);
    check(this.guard(() => this.ex.netif_config_ip4(idx, address.core4, prefixToMask4(prefix).core4, gw.core4)), what);
  }

  /** A static ARP entry (lwIP etharp_add_static_entry): `ip` (IPv4) is at `mac`. ERR_RTE when no interface reaches it. */
  addStaticArp(ip: string, mac: string | Uint8Array): void {
    const a = IpAddress.parse(ip);
    if (a.family !== 4) throw new TypeError(`addStaticArp: ARP resolves IPv4 addresses, not ${ip}`);
    const m = typeof mac === "string" ? parseMac(mac) : mac;
    check(this.guard(() => this.ex.arp_static_add(a.core4, this.scratch(m))), "addStaticArp");
  }

  /** Link state as the driver reports it. */
  setLink(iface: Interface, up: boolean): void {
    check(this.guard(() => this.ex.netif_set_state(iface.index, iface.up, up, false)), "setLink");
    this.drainNow();
  }

  /** Detaches an interface and closes its driver. */
  async removeInterface(iface: Interface): Promise<void> {
    if (!this.interfaces.has(iface.index)) return;
    this.guard(() => this.ex.netif_del(iface.index));
    this.drainNow();
    this.interfaces.delete(iface.index);
    iface.driver.onReceive(() => {});
    await iface.driver.close();
  }

  /** All interfaces. */
  get ifaces(): Interface[] {
    return [...this.interfaces.values()];
  }

  /** A frame from a driver: one copy into a core buffer, then input. */
  input(iface: Interface, frame: Uint8Array): void {
    if (this.closed || this.failure) return;
    iface.rxFrames++;
    // The hottest path: no closures, one try for both calls.
    const ex = this.ex;
    try {
      const p: number = ex.rx_alloc(frame.length);
      if (p === 0) {
        iface.rxDropped++;
        return;
      }
      const u8 = this.mem();
      u8.set(frame, this.u32[(p >>> 2) + 1]);
      ex.netif_input_frame(iface.index, p);
    } catch (e) {
      this.failure = e as Error;
      throw e;
    }
    this.kick();
  }

  /** Every counter of the core. */
  stats(): StackStats {
    return readStats(this.core.memory, this.layout);
  }

  /** Heap bytes and pool elements in use: what a leak check compares. */
  usage(): { heap: number; pools: Record<PoolName, number> } {
    const pools = {} as Record<PoolName, number>;
    MEMP_NAMES.forEach((n, i) => (pools[n] = this.ex.pool_used(i)));
    return { heap: this.ex.heap_used(), pools };
  }

  /** Stops the timer, detaches and closes every driver, and releases the core. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const i of [...this.interfaces.values()]) await this.removeInterface(i);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  // ---- host APIs (bindings/api/*), created on first use, one of each per stack ----
  /** lwIP's raw API: callback-based UDP / raw IP (/ TCP) pcbs. */
  get raw(): RawApi { return rawApi(this); }
  /** lwIP's sequential API with async/await. */
  get netconn(): NetconnApi { return netconnApi(this); }
  /** BSD sockets. */
  get sockets(): SocketsApi { return socketsApi(this); }
  /**
   * node:dgram-compatible UDP. Node only, like `net`: bindings/api/dgram.js
   * registers it when imported (the package entry does).
   */
  get dgram(): DgramApi {
    const f = Stack.hostApis.get("dgram");
    if (!f) throw new Error("stack.dgram: import bindings/api/dgram.js (or the package entry) first; node:dgram support is Node-only");
    return f(this) as DgramApi;
  }
  /** WHATWG streams (Direct Sockets shapes). */
  get streams(): StreamsApi { return streamsApi(this); }
  /**
   * node:net-compatible TCP. Node only: bindings/api/net.js registers it when
   * imported (the package entry does), so Stack itself pulls in no node: module.
   */
  get net(): NetApi {
    const f = Stack.hostApis.get("net");
    if (!f) throw new Error("stack.net: import bindings/api/net.js (or the package entry) first; node:net support is Node-only");
    return f(this) as NetApi;
  }
  /** @internal Host APIs that need Node's modules, registered by their module on import (browser-safe Stack). */
  static readonly hostApis = new Map<string, (s: Stack) => unknown>();
}
