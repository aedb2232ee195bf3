/**
 * The relay (`asip relay --port 8080`): a WebSocket server that is a learning
 * Ethernet switch between its clients (IEEE 802.1D transparent bridging:
 * learn the source MAC per port, forward known unicast to its port, flood
 * broadcast, multicast and unknown unicast to every other port, age entries
 * out after 300 s), with an optional uplink to a Linux TAP device and
 * in-process ports for stacks running next to it (the gateway).
 *
 * Each WebSocket client sends and receives one Ethernet frame per binary
 * message, the format of emulators' relays (v86's websockproxy and friends),
 * unless it offers the batched framing's subprotocol
 * (bindings/netif/framing.ts, asip's WebSocketLink does): then each binary
 * message carries the frames of one burst, length-prefixed, both ways.
 * Frames for one client that arrive in one turn of the event loop leave in
 * one message (batched) or one write (frame per message, the socket corked
 * for the turn). A client may ask for an MTU up to `maxMtu` with `?mtu=`; one
 * that does not gets the network's (1500), and a frame too big for a port is
 * dropped there and counted (`tooBig`). Text messages are a small JSON
 * control channel: on connect the relay sends `{type:"config", id, ip, ...}`
 * (the client's id on the switch and an address it may take while asip has
 * no DHCP client), `{type:"peers"}` when clients come and go, and forwards
 * `{type:"signal", to, data}` between clients (WebRTC signalling).
 *
 * Protection, per client: frames shorter than an Ethernet header (14 bytes),
 * longer than `maxFrame`, with a group (multicast) source address, text that
 * is not a control message, and frames over the client's rate (token bucket
 * in bytes/s) are dropped and counted; a client that sends more than
 * `maxBadFrames` bad frames is disconnected (close 1008) and nobody else
 * notices. A client may use at most `maxMacs` source MACs (so one client
 * cannot flood the MAC table). Egress never queues without bound: a frame for
 * a client whose socket buffers more than `maxBuffered` bytes is dropped.
 * `token`: clients must connect with `?token=…` (else close 1008).
 *
 * @module
 */
import http from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { WebSocketServer, WebSocket } from "ws";
import type { LinkDriver } from "../netif/driver.js";
import type { ControlMessage } from "../netif/websocket.js";
import { IpAddress } from "../ip-address.js";
import { BATCH_PROTOCOL, DEFAULT_BATCH_BYTES, MAX_BATCH_MESSAGE, MAX_TUNNEL_MTU, RECORD_HDR, decodeBatch, encodeBatch } from "../netif/framing.js";

/** Ethernet header: dst(6) src(6) type(2). */
export const ETH_HLEN = 14;
/** Default largest frame: a 64 KiB IP packet plus the Ethernet header. */
export const DEFAULT_MAX_FRAME = 65535 + ETH_HLEN;

/** Options of {@link Relay.start}. */
export interface RelayOptions {
  /** TCP port (0 = any free port; default 8080). */
  port?: number;
  /** Listen address (default "0.0.0.0"). */
  host?: string;
  /** Serve WebSockets on this existing HTTP server instead of making one (then port/host are ignored). */
  server?: http.Server;
  /** Clients must present `?token=` equal to this. */
  token?: string;
  /** Largest frame accepted from a client (default 65549 = 65535 + 14). */
  maxFrame?: number;
  /** Largest MTU granted to a client that asks with `?mtu=` (default 65535; clients that do not ask get `network.mtu`). */
  maxMtu?: number;
  /** Accept the batched framing's subprotocol (default true). */
  batch?: boolean;
  /** A batch to a client is sent once it holds this many bytes, even mid-turn (default 256 KiB). */
  batchBytes?: number;
  /** Per-client ingress rate in bytes/s (default 0 = unlimited). */
  rateBytes?: number;
  /** Token bucket depth in bytes (default: a quarter second at `rateBytes`, at least 2 max frames). */
  burstBytes?: number;
  /** Bad frames after which a client is disconnected (default 64). */
  maxBadFrames?: number;
  /** Source MACs one client may use (default 16). */
  maxMacs?: number;
  /** A client's socket may buffer this much before frames to it are dropped (default 4 MiB). */
  maxBuffered?: number;
  /** MAC table ageing time in ms (default 300000, IEEE 802.1D). */
  ageingMs?: number;
  /** Most clients at once (default 1024); more are refused with close 1013. */
  maxClients?: number;
  /** Addresses announced to clients: the virtual network (default 192.0.2.0/24, gateway .1). */
  network?: NetworkPlan;
  /** Announce addresses from the pool to clients (default true). */
  announce?: boolean;
  /** Log lines go here (default: nowhere). */
  log?: (line: string) => void;
}

/** The virtual network's numbering. */
export interface NetworkPlan {
  /** "a.b.c.d/len" of the virtual network. */
  subnet: string;
  /** The router's address (the gateway, when one runs). */
  gateway: string;
  /** The DNS server announced (the gateway). */
  dns: string;
  /** An address in the subnet that stands for the host's loopback (the gateway NATs it to 127.0.0.1). */
  hostAlias: string;
  /** First and last host number (last octets) handed out. */
  first: number;
  last: number;
  mtu: number;
}

export const DEFAULT_NETWORK: NetworkPlan = {
  subnet: "192.0.2.0/24", gateway: "192.0.2.1", dns: "192.0.2.1", hostAlias: "192.0.2.254", first: 10, last: 249, mtu: 1500,
};

/** Dropped-frame counters (of one client, or of the whole relay). */
export interface DropCounters {
  /** Shorter than 14 bytes. */
  short: number;
  /** Longer than maxFrame. */
  long: number;
  /** Text that is not a control message (or not a message we know). */
  notBinary: number;
  /** Source address is a group address (invalid, IEEE 802.3 §3.2.3). */
  badSource: number;
  /** From a source MAC beyond the client's maxMacs. */
  macLimit: number;
  /** Over the client's rate. */
  rate: number;
  /** To a client whose socket buffer was full. */
  egressFull: number;
  /** Larger than the MTU of the port it was going to. */
  tooBig: number;
  /** Batched messages with a malformed record (the rest of the message). */
  badBatch: number;
}

function drops(): DropCounters {
  return { short: 0, long: 0, notBinary: 0, badSource: 0, macLimit: 0, rate: 0, egressFull: 0, tooBig: 0, badBatch: 0 };
}

/** Counters of the whole relay. */
export interface RelayStats {
  clients: number;
  connections: number;
  refusedAuth: number;
  refusedFull: number;
  disconnectedBad: number;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** WebSocket binary messages received from / sent to clients (fewer than frames when batched). */
  rxMessages: number;
  txMessages: number;
  flooded: number;
  forwarded: number;
  /** Unicast frames whose destination is on the port they came from (a switch drops them). */
  filtered: number;
  macTable: number;
  dropped: DropCounters;
}

/** A port of the switch. */
export abstract class Port {
  /** MACs learned on this port. */
  readonly macs = new Set<number>();
  rxFrames = 0;
  rxBytes = 0;
  txFrames = 0;
  txBytes = 0;
  bad = 0;
  readonly dropped = drops();
  /**
   * @param mtu the largest IP packet the station behind this port takes:
   * longer frames for it are dropped (counted as `tooBig`).
   */
  constructor(readonly id: string, readonly kind: "ws" | "local" | "tap", readonly mtu: number) {}
  /** Hands a frame to the port's owner; the frame stays valid (the relay never reuses it). */
  abstract deliver(frame: Uint8Array): void;
  /** Whether `frame` fits the port's MTU (an 802.1Q tag adds 4 bytes to the header). */
  fits(frame: Uint8Array): boolean {
    const len = frame.length - ETH_HLEN;
    return len <= this.mtu || (len - 4 <= this.mtu && frame[12] === 0x81 && frame[13] === 0x00);
  }
}

/** The key of a MAC in the table: 48 bits as a number. */
function macKey(b: Uint8Array, off: number): number {
  return (b[off] * 0x10000000000) + (b[off + 1] * 0x100000000) + ((b[off + 2] << 24) >>> 0) + (b[off + 3] << 16) + (b[off + 4] << 8) + b[off + 5];
}

function macText(k: number): string {
  const s = k.toString(16).padStart(12, "0");
  return s.match(/../g)!.join(":");
}

/** Node's Buffer.allocUnsafe: a batch is written over entirely, no need to zero it first. */
const allocUnsafe = (n: number): Uint8Array => Buffer.allocUnsafe(n);

class WsPort extends Port {
  bucket: number;
  bucketAt = performance.now();
  rxMessages = 0;
  txMessages = 0;
  /** Frames for the client waiting for the end of this turn (batched framing). */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** The socket, while corked for this turn (frame-per-message framing). */
  private corked: { uncork(): void } | undefined;
  constructor(id: string, readonly ws: WebSocket, private readonly relay: Relay, readonly ip: string | undefined,
    readonly batched: boolean, mtu: number) {
    super(id, "ws", mtu);
    this.bucket = relay.burst;
  }
  deliver(frame: Uint8Array): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount + this.pendingBytes > this.relay.maxBuffered) {
      this.dropped.egressFull++;
      this.relay.totals.egressFull++;
      return;
    }
    this.txFrames++;
    this.txBytes += frame.length;
    if (this.batched) {
      // Frames handed to deliver stay unchanged (see Relay.input): keep
      // references, copy them once into the message at the end of the turn.
      this.pending.push(frame);
      this.pendingBytes += RECORD_HDR + frame.length;
      if (this.pendingBytes >= this.relay.batchBytes) this.flush();
      else if (this.pending.length === 1) this.relay.flushLater(this);
      return;
    }
    if (!this.corked) {
      // ws writes each message with its own write(2); corking the socket
      // for the rest of this turn makes the turn's messages one writev.
      const sock = (ws as unknown as { _socket?: { cork?(): void; uncork(): void } })._socket;
      if (sock?.cork) {
        sock.cork();
        this.corked = sock as { uncork(): void };
        this.relay.flushLater(this);
      }
    }
    ws.send(frame, { binary: true });
    this.txMessages++;
  }
  /** Sends what waited for the end of the turn. */
  flush(): void {
    if (this.corked) {
      const c = this.corked;
      this.corked = undefined;
      c.uncork();
    }
    if (this.pending.length === 0) return;
    const frames = this.pending;
    const bytes = this.pendingBytes - RECORD_HDR * frames.length;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(encodeBatch(frames, bytes, allocUnsafe), { binary: true });
    this.txMessages++;
  }
}

/** An in-process port: a {@link LinkDriver} for a stack running next to the relay. */
export class LocalPort extends Port implements LinkDriver {
  #rx: (frame: Uint8Array) => void = () => {};
  #closed = false;
  constructor(id: string, private readonly relay: Relay, mtu: number) {
    super(id, "local", mtu);
  }
  deliver(frame: Uint8Array): void {
    if (this.#closed) return;
    this.txFrames++;
    this.txBytes += frame.length;
    this.#rx(frame);
  }
  /** LinkDriver: a frame from the stack (a view over its memory: copied). */
  send(frame: Uint8Array): void {
    if (this.#closed) return;
    this.relay.input(this, frame.slice());
  }
  onReceive(cb: (frame: Uint8Array) => void): void {
    this.#rx = cb;
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.relay.detach(this);
  }
}

/** A pool of addresses in the virtual network, leased by key (a client id, a DHCP client identifier). */
export class AddressPool {
  readonly plan: NetworkPlan;
  readonly prefix: number;
  /** Network number as a host-order u32. */
  readonly base: number;
  readonly byKey = new Map<string, number>();
  readonly byHost = new Map<number, string>();
  constructor(plan: NetworkPlan) {
    this.plan = plan;
    const [net, len] = plan.subnet.split("/");
    this.prefix = Number(len ?? 24);
    const mask = this.prefix === 0 ? 0 : (0xffffffff << (32 - this.prefix)) >>> 0;
    this.base = (hostU32(net) & mask) >>> 0;
    for (const fixed of [plan.gateway, plan.dns, plan.hostAlias]) this.reserve(`fixed:${fixed}`, fixed);
  }
  /** The address leased to `key`, leasing a free one if needed; undefined when the pool is exhausted. */
  lease(key: string): string | undefined {
    const had = this.byKey.get(key);
    if (had !== undefined) return hostText(this.base + had);
    for (let h = this.plan.first; h <= this.plan.last; h++) {
      if (!this.byHost.has(h)) {
        this.byKey.set(key, h);
        this.byHost.set(h, key);
        return hostText(this.base + h);
      }
    }
    return undefined;
  }
  /** Marks `ip` as `key`'s (a static address in use, a DHCP REQUEST for a specific address); false if someone else has it. */
  reserve(key: string, ip: string): boolean {
    const h = (hostU32(ip) - this.base) >>> 0;
    if (h >= 2 ** (32 - this.prefix)) return false;
    const owner = this.byHost.get(h);
    if (owner !== undefined && owner !== key) return false;
    const old = this.byKey.get(key);
    if (old !== undefined && old !== h) this.byHost.delete(old);
    this.byKey.set(key, h);
    this.byHost.set(h, key);
    return true;
  }
  /** Who holds `ip`, if anyone. */
  holder(ip: string): string | undefined {
    return this.byHost.get((hostU32(ip) - this.base) >>> 0);
  }
  release(key: string): void {
    const h = this.byKey.get(key);
    if (h === undefined) return;
    this.byKey.delete(key);
    this.byHost.delete(h);
  }
  contains(ip: string): boolean {
    return ((hostU32(ip) - this.base) >>> 0) < 2 ** (32 - this.prefix);
  }
}

/** "a.b.c.d" → its host-order number (a·2²⁴ + … + d); a TypeError for anything but IPv4. */
export function hostU32(ip: string): number {
  const a = IpAddress.parse(ip);
  if (a.family !== 4) throw new TypeError(`not an IPv4 address: ${ip}`);
  return a.v4Int;
}

/** A host-order number → "a.b.c.d". */
export function hostText(v: number): string {
  return IpAddress.fromV4Int(v).toString();
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The relay: a WebSocket learning switch. */
export class Relay {
  readonly server: http.Server;
  readonly wss: WebSocketServer;
  readonly pool: AddressPool;
  readonly plan: NetworkPlan;
  readonly maxFrame: number;
  /** Largest MTU granted to clients that ask for one (and the MTU of in-process ports). */
  readonly maxMtu: number;
  /** Size at which a batch to a client is sent mid-turn. */
  readonly batchBytes: number;
  readonly maxBuffered: number;
  readonly burst: number;
  readonly rate: number;
  readonly totals = drops();
  readonly stats0 = { connections: 0, refusedAuth: 0, refusedFull: 0, disconnectedBad: 0, flooded: 0, forwarded: 0, filtered: 0 };
  /** Every port, by id. */
  readonly ports = new Map<string, Port>();
  private readonly table = new Map<number, { port: Port; at: number }>();
  private readonly opts: RelayOptions;
  private readonly ownServer: boolean;
  private sweep: ReturnType<typeof setInterval>;
  private closed = false;
  private tapClose: (() => Promise<void> | void) | undefined;
  /** Ports with frames waiting for the end of this turn. */
  private toFlush: WsPort[] = [];
  private readonly flushAll = () => {
    const ports = this.toFlush;
    this.toFlush = [];
    for (const p of ports) p.flush();
  };

  private constructor(opts: RelayOptions, server: http.Server, own: boolean) {
    this.opts = opts;
    this.server = server;
    this.ownServer = own;
    this.plan = opts.network ?? DEFAULT_NETWORK;
    this.pool = new AddressPool(this.plan);
    this.maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    this.maxMtu = opts.maxMtu ?? MAX_TUNNEL_MTU;
    if (!Number.isInteger(this.maxMtu) || this.maxMtu < 576 || this.maxMtu > MAX_TUNNEL_MTU) {
      throw new RangeError(`relay: bad maxMtu ${opts.maxMtu} (576..${MAX_TUNNEL_MTU})`);
    }
    this.batchBytes = opts.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.maxBuffered = opts.maxBuffered ?? 4 << 20;
    this.rate = opts.rateBytes ?? 0;
    this.burst = opts.burstBytes ?? Math.max(this.rate / 4, 2 * this.maxFrame);
    // ws refuses (closes 1009) messages above maxPayload before we see them;
    // keep it well above maxFrame (and a batch) so a slightly long frame is
    // dropped and counted here, and only absurd ones end the connection.
    const batch = opts.batch ?? true;
    this.wss = new WebSocketServer({
      noServer: true, maxPayload: Math.max(2 * this.maxFrame, batch ? MAX_BATCH_MESSAGE + 2 * this.maxFrame : 256 << 10), perMessageDeflate: false,
      handleProtocols: (protocols) => (batch && protocols.has(BATCH_PROTOCOL) ? BATCH_PROTOCOL : false),
    });
    server.on("upgrade", (req, socket, head) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    const ageing = opts.ageingMs ?? 300000;
    this.sweep = setInterval(() => this.age(ageing), Math.max(1000, Math.min(ageing / 2, 30000)));
    this.sweep.unref();
  }

  /** Starts a relay; resolves once it listens. */
  static async start(opts: RelayOptions = {}): Promise<Relay> {
    if (opts.server) return new Relay(opts, opts.server, false);
    const server = http.createServer((_req, res) => {
      res.writeHead(426, { "content-type": "text/plain" });
      res.end("asip relay: connect with a WebSocket\n");
    });
    const relay = new Relay(opts, server, true);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 8080, opts.host ?? "0.0.0.0", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return relay;
  }

  /** The port the relay listens on. */
  get port(): number {
    const a = this.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  /** ws://host:port/ for a client on this machine. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private accept(ws: WebSocket, req: http.IncomingMessage): void {
    if (this.closed) {
      ws.close(1001, "relay closing");
      return;
    }
    const url = new URL(req.url ?? "/", "http://x");
    if (this.opts.token !== undefined && !sameSecret(url.searchParams.get("token") ?? "", this.opts.token)) {
      this.stats0.refusedAuth++;
      ws.close(1008, "bad token");
      return;
    }
    let clients = 0;
    for (const p of this.ports.values()) if (p.kind === "ws") clients++;
    if (clients >= (this.opts.maxClients ?? 1024)) {
      this.stats0.refusedFull++;
      ws.close(1013, "relay full");
      return;
    }
    this.stats0.connections++;
    const id = randomBytes(6).toString("hex");
    const ip = this.opts.announce === false ? undefined : this.pool.lease(`client:${id}`);
    const plan = this.plan;
    // An MTU the client asked for (up to maxMtu), else the network's.
    const asked = Number(url.searchParams.get("mtu") ?? NaN);
    const mtu = Number.isInteger(asked) && asked >= 576 ? Math.min(asked, this.maxMtu) : plan.mtu;
    const port = new WsPort(id, ws, this, ip, ws.protocol === BATCH_PROTOCOL, mtu);
    this.ports.set(id, port);
    const pool = this.pool;
    const cfg: ControlMessage = {
      type: "config", id, mtu, hostAlias: plan.hostAlias,
      ...(ip ? { ip: `${ip}/${pool.prefix}`, gateway: plan.gateway, dns: plan.dns } : {}),
    };
    ws.send(JSON.stringify(cfg));
    this.announcePeers();
    this.log(`client ${id} connected from ${req.socket.remoteAddress}${ip ? `, announced ${ip}` : ""}, MTU ${mtu}${port.batched ? ", batched" : ""}`);
    ws.on("message", (data, isBinary) => this.fromClient(port, data as Buffer, isBinary));
    ws.on("close", () => {
      this.detach(port);
      this.pool.release(`client:${id}`);
      this.announcePeers();
      this.log(`client ${id} disconnected`);
    });
    ws.on("error", () => {
      // 'close' follows
    });
  }

  private announcePeers(): void {
    if (this.closed) return;
    const ids = [...this.ports.values()].filter((p) => p.kind === "ws").map((p) => p.id);
    if (ids.length > 64) return; // a big crowd: clients learn peers from signalling instead
    for (const p of this.ports.values()) {
      if (p instanceof WsPort && p.ws.readyState === WebSocket.OPEN) {
        p.ws.send(JSON.stringify({ type: "peers", peers: ids.filter((x) => x !== p.id) }));
      }
    }
  }

  private badFrame(port: Port, why: keyof DropCounters): void {
    port.dropped[why]++;
    this.totals[why]++;
    port.bad++;
    if (port instanceof WsPort && port.bad > (this.opts.maxBadFrames ?? 64) && port.ws.readyState === WebSocket.OPEN) {
      this.stats0.disconnectedBad++;
      this.log(`client ${port.id} disconnected: ${port.bad} bad frames`);
      port.ws.close(1008, "too many bad frames");
      this.detach(port);
    }
  }

  private fromClient(port: WsPort, data: Buffer, isBinary: boolean): void {
    if (!this.ports.has(port.id)) return; // thrown out already; late messages are ignored
    if (!isBinary) {
      this.control(port, data);
      return;
    }
    port.rxMessages++;
    if (port.batched) {
      // Each record is a frame; the views stay valid (ws hands a fresh buffer per message).
      if (decodeBatch(data, (f) => this.fromClientFrame(port, f)) < 0) this.badFrame(port, "badBatch");
      return;
    }
    this.fromClientFrame(port, data);
  }

  private fromClientFrame(port: WsPort, data: Uint8Array): void {
    if (this.rate > 0) {
      const now = performance.now();
      port.bucket = Math.min(this.burst, port.bucket + ((now - port.bucketAt) * this.rate) / 1000);
      port.bucketAt = now;
      if (port.bucket < data.length) {
        // Over the rate: dropped like a policer does, but not "bad".
        port.dropped.rate++;
        this.totals.rate++;
        return;
      }
      port.bucket -= data.length;
    }
    this.input(port, data);
  }

  private control(port: WsPort, data: Buffer): void {
    let msg: ControlMessage;
    try {
      if (data.length > 65536) throw new Error("too long");
      msg = JSON.parse(data.toString("utf8"));
      if (!msg || typeof msg !== "object" || typeof msg.type !== "string") throw new Error("no type");
    } catch {
      this.badFrame(port, "notBinary");
      return;
    }
    if (msg.type === "signal" && typeof msg.to === "string") {
      const to = this.ports.get(msg.to as string);
      if (to instanceof WsPort && to.ws.readyState === WebSocket.OPEN) {
        to.ws.send(JSON.stringify({ type: "signal", to: msg.to, from: port.id, data: msg.data }));
      }
      return;
    }
    if (msg.type === "ping") {
      port.ws.send(JSON.stringify({ type: "pong", t: msg.t }));
      return;
    }
    this.badFrame(port, "notBinary");
  }

  /**
   * A frame entering the switch on `port`. The relay keeps no reference
   * beyond the call except through the ports it delivers to, so `frame` must
   * not be reused by the caller (LocalPort copies; ws hands fresh buffers).
   */
  input(port: Port, frame: Uint8Array): void {
    if (this.closed) return;
    if (frame.length < ETH_HLEN) return this.badFrame(port, "short");
    if (frame.length > this.maxFrame) return this.badFrame(port, "long");
    if (frame[6] & 1) return this.badFrame(port, "badSource");
    const src = macKey(frame, 6);
    const now = performance.now();
    const e = this.table.get(src);
    if (e && e.port === port) {
      e.at = now;
    } else {
      if (!port.macs.has(src) && port.macs.size >= (this.opts.maxMacs ?? 16) && port.kind === "ws") {
        return this.badFrame(port, "macLimit");
      }
      if (e) e.port.macs.delete(src); // the station moved
      this.table.set(src, { port, at: now });
      port.macs.add(src);
    }
    port.rxFrames++;
    port.rxBytes += frame.length;
    if (frame[0] & 1) {
      this.flood(port, frame);
      return;
    }
    const d = this.table.get(macKey(frame, 0));
    const ageing = this.opts.ageingMs ?? 300000;
    if (!d || now - d.at > ageing) {
      this.flood(port, frame);
      return;
    }
    if (d.port === port) {
      this.stats0.filtered++;
      return;
    }
    this.stats0.forwarded++;
    this.egress(d.port, frame);
  }

  private egress(to: Port, frame: Uint8Array): void {
    if (to.fits(frame)) to.deliver(frame);
    else {
      to.dropped.tooBig++;
      this.totals.tooBig++;
    }
  }

  private flood(from: Port, frame: Uint8Array): void {
    this.stats0.flooded++;
    for (const p of this.ports.values()) if (p !== from) this.egress(p, frame);
  }

  /** @internal Flushes `port` at the end of this turn (after the current burst of input). */
  flushLater(port: WsPort): void {
    if (this.toFlush.length === 0) queueMicrotask(this.flushAll);
    this.toFlush.push(port);
  }

  private age(ageing: number): void {
    const now = performance.now();
    for (const [k, e] of this.table) {
      if (now - e.at > ageing) {
        this.table.delete(k);
        e.port.macs.delete(k);
      }
    }
  }

  /** Removes a port and the MACs learned on it. */
  detach(port: Port): void {
    if (this.ports.get(port.id) !== port) return;
    this.ports.delete(port.id);
    for (const k of port.macs) {
      if (this.table.get(k)?.port === port) this.table.delete(k);
    }
    port.macs.clear();
  }

  /**
   * A port for a stack in this process (the gateway, a test stack). Its MTU
   * is `mtu`, by default the largest the relay grants (`maxMtu`): TCP agrees
   * on the MSS with each station, whatever its MTU.
   */
  attachLocal(name = "local", mtu = this.maxMtu): LocalPort {
    const id = `${name}-${randomBytes(3).toString("hex")}`;
    const p = new LocalPort(id, this, mtu);
    this.ports.set(id, p);
    return p;
  }

  /**
   * Uplinks the switch to a TAP device (bindings/netif/tap.ts): the kernel
   * side of the TAP becomes one more station on the virtual network.
   */
  async attachTap(name: string, opts: { netns?: string } = {}): Promise<void> {
    const { TapDevice } = await import("../netif/tap.js");
    const tap = await TapDevice.open(name, { netns: opts.netns });
    await tap.waitUp();
    const relay = this;
    class TapPort extends Port {
      deliver(frame: Uint8Array): void {
        this.txFrames++;
        this.txBytes += frame.length;
        tap.send(frame);
      }
    }
    const port = new TapPort(`tap-${name}`, "tap", tap.mtu);
    this.ports.set(port.id, port);
    // TAP receive buffers are reused: copy each frame once on the way in.
    tap.onReceive((frame) => relay.input(port, frame.slice()));
    this.tapClose = async () => {
      this.detach(port);
      await tap.close();
    };
    this.log(`uplink to TAP ${name}${opts.netns ? ` in netns ${opts.netns}` : ""}`);
  }

  /** The MAC table as text (for logs and tests): mac → port id. */
  macTable(): Map<string, string> {
    const m = new Map<string, string>();
    const now = performance.now(), ageing = this.opts.ageingMs ?? 300000;
    for (const [k, e] of this.table) if (now - e.at <= ageing) m.set(macText(k), e.port.id);
    return m;
  }

  stats(): RelayStats {
    let clients = 0, rxFrames = 0, rxBytes = 0, txFrames = 0, txBytes = 0, rxMessages = 0, txMessages = 0;
    for (const p of this.ports.values()) {
      if (p instanceof WsPort) {
        clients++;
        rxMessages += p.rxMessages;
        txMessages += p.txMessages;
      }
      rxFrames += p.rxFrames; rxBytes += p.rxBytes; txFrames += p.txFrames; txBytes += p.txBytes;
    }
    return { clients, ...this.stats0, rxFrames, rxBytes, txFrames, txBytes, rxMessages, txMessages, macTable: this.table.size, dropped: { ...this.totals } };
  }

  /** Disconnects every client, closes the TAP uplink and (if it made it) the HTTP server. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    await this.tapClose?.();
    for (const p of [...this.ports.values()]) this.detach(p);
    if (this.ownServer) {
      this.server.closeAllConnections?.();
      await new Promise<void>((r) => this.server.close(() => r()));
    }
  }
}
