/**
 * The `asip` command line.
 *
 *   asip up --tap NAME [--netns NS] --ip ADDR/PREFIX [--ip6 ADDR/PREFIX …] [--no-slaac] [--gateway ADDR]
 *           [--mtu N] [--mac MAC] [--pcap FILE] [--tap NAME …] [--forward] [--serve LIST]
 *           [--variant release|mvp|ipv4|debug] [--pool NAME=N …] [--heap BYTES]
 *
 * Runs a stack on one or more TAP devices until SIGINT/SIGTERM. Interface
 * options apply to the `--tap` before them. Prints the lines of
 * ../shared/CLI.md: `asip up ADDR/PREFIX on NAME` for each address once it
 * is usable (an IPv6 one, the link-local one included, once DAD has passed),
 * `asip conflict ADDR on NAME` when DAD finds an address in use, `asip down
 * ADDR/PREFIX on NAME` when one goes, and the stack's stats when it stops.
 *
 * @module
 */
import { Stack, type Interface, type Ip6AddressState } from "../stack.js";
import { parseCidr } from "../ip-address.js";
import { TapDevice } from "../netif/tap.js";
import { PcapWriter, capture } from "../netif/pcap.js";
import type { LinkDriver } from "../netif/driver.js";
import type { CoreVariant } from "../core.js";
import { MEMP_NAMES, type PoolName } from "../abi.js";
import { startServices, SERVICE_NAMES } from "./services.js";

/**
 * Pool sizes and heap of `asip up` unless --pool/--heap say otherwise. The
 * core's defaults (assembly/config.ts) suit a small device; `asip up` runs
 * on a host that serves many clients at once (a kernel opening 1,000
 * connections in parallel), and memory is cheap there: about 0.5 KiB per
 * TCP pcb.
 */
export const UP_POOLS: Partial<Record<PoolName, number>> = { TCP_PCB: 1024, TCP_PCB_LISTEN: 64, TCP_SEG: 8192 };
export const UP_HEAP = 64 << 20;

interface IfaceArgs {
  tap: string;
  netns?: string;
  ip?: string;
  gateway?: string;
  mtu?: number;
  mac?: string;
  pcap?: string;
  vlan?: number;
  /** virtio-net header with checksum offload and TSO (TapDeviceOptions.offload). */
  offload?: boolean;
  /** Static IPv6 addresses (--ip6, repeatable). */
  ip6: string[];
  /** --no-slaac */
  noSlaac?: boolean;
}

const HELP = `usage:
  asip up --tap NAME [--netns NS] --ip ADDR/PREFIX [--ip6 ADDR/PREFIX ...] [--no-slaac] [--gateway ADDR] [--mtu N] [--mac MAC]
          [--vlan VID] [--offload] [--pcap FILE] [--tap NAME ...] [--forward] [--serve LIST] [--variant release|mvp|ipv4|debug]
          [--pool NAME=N ...] [--heap BYTES]
      Run a stack on TAP devices until SIGINT/SIGTERM (then one {"stats": ...} line); SIGUSR1 prints that line and goes on.
      Interface options follow their --tap.
      --ip6 adds a static IPv6 address (repeatable; a link-local one is always formed); --no-slaac ignores
      Router Advertisements' prefixes. Both need a core with IPv6.
      --offload: virtio-net headers with checksum offload and TSO: 64 KiB frames through the TAP (asip's MTU 65535).
      --serve takes a comma-separated list of services (${SERVICE_NAMES.join(", ")}), e.g. udp-echo:7.
      --pool sets a pool's element count (${MEMP_NAMES.join(", ")}); defaults here:
      ${Object.entries(UP_POOLS).map(([k, v]) => `${k}=${v}`).join(", ")}, heap ${UP_HEAP >> 20} MiB; the rest as in assembly/config.ts.
  asip relay [--port N] [--host ADDR] [--token T] [--gateway] [--allow CIDR ...] [--forward [udp:|tcp:]HOSTPORT:IP:PORT ...]
             [--tap NAME [--netns NS]] [--rate BYTES_PER_S] [--max-frame N]
      A WebSocket learning switch for asip stacks in browsers and elsewhere (one Ethernet frame per
      binary message). --gateway adds a router at 192.0.2.1 with DHCP, DNS and NAT to the host
      (192.0.2.254 = the host's 127.0.0.1; --allow opens more destinations); --tap uplinks a TAP.
  asip demo [--port N] [--http-port N] [--no-build]
      Builds and serves the web demo with a relay, a gateway and a sample host HTTP server (npm start).
  asip help`;

function parseUp(argv: string[]): {
  ifaces: IfaceArgs[]; forward: boolean; serve: string[]; variant: CoreVariant;
  pools: Partial<Record<PoolName, number>>; heap: number;
} {
  const ifaces: IfaceArgs[] = [];
  const pools: Partial<Record<PoolName, number>> = { ...UP_POOLS };
  let heap = UP_HEAP;
  let forward = false;
  let serve: string[] = [];
  let variant: CoreVariant = "release";
  const cur = (): IfaceArgs => {
    const c = ifaces[ifaces.length - 1];
    if (!c) throw new Error("interface options must follow --tap NAME");
    return c;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case "--tap": ifaces.push({ tap: val(), ip6: [] }); break;
      case "--ip6": {
        const v = val();
        let ok = false;
        try {
          const c = parseCidr(v);
          ok = c.address.family === 6 && !c.address.isV4Mapped() && !c.address.isMulticast() && !c.address.isUnspecified() && !c.address.isLoopback() && c.address.zone === undefined;
        } catch { ok = false; }
        if (!ok) throw new Error(`--ip6 takes a unicast IPv6 ADDR/PREFIX, not ${v}`);
        cur().ip6.push(v);
        break;
      }
      case "--no-slaac": cur().noSlaac = true; break;
      case "--netns": cur().netns = val(); break;
      case "--ip": cur().ip = val(); break;
      case "--gateway": cur().gateway = val(); break;
      case "--mtu": cur().mtu = Number(val()); break;
      case "--mac": cur().mac = val(); break;
      case "--pcap": cur().pcap = val(); break;
      case "--vlan": cur().vlan = Number(val()); break;
      case "--offload": cur().offload = true; break;
      case "--forward": forward = true; break;
      case "--serve": serve = serve.concat(val().split(",").filter(Boolean)); break;
      case "--variant": variant = val() as CoreVariant; break;
      case "--pool": {
        const m = /^([A-Z_]+)=(\d+)$/.exec(val());
        if (!m || !(MEMP_NAMES as readonly string[]).includes(m[1]) || Number(m[2]) < 1) {
          throw new Error(`--pool takes NAME=N with NAME one of ${MEMP_NAMES.join(", ")} and N ≥ 1`);
        }
        pools[m[1] as PoolName] = Number(m[2]);
        break;
      }
      case "--heap": {
        heap = Number(val());
        if (!Number.isInteger(heap) || heap < 65536) throw new Error("--heap takes a size in bytes (at least 65536)");
        break;
      }
      default: throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  if (ifaces.length === 0) throw new Error(`asip up needs --tap NAME\n${HELP}`);
  return { ifaces, forward, serve, variant, pools, heap };
}

async function up(argv: string[]): Promise<void> {
  const opts = parseUp(argv);
  const stack = await Stack.create({ variant: opts.variant, pools: opts.pools, heapSize: opts.heap });
  if (!stack.ipv6 && opts.ifaces.some((ia) => ia.ip6.length > 0 || ia.noSlaac)) {
    await stack.close();
    throw new Error(`--ip6 and --no-slaac need a core with IPv6 (--variant ${opts.variant} has none)`);
  }
  const taps: TapDevice[] = [];
  const pcaps: PcapWriter[] = [];
  for (const ia of opts.ifaces) {
    const tap = await TapDevice.open(ia.tap, { netns: ia.netns, offload: ia.offload });
    taps.push(tap);
    await tap.waitUp();
    const v6 = stack.ipv6 && (ia.ip6.length > 0 || !!ia.noSlaac || typeof stack.ex.netif_ip6_config === "function");
    let driver: LinkDriver = tap;
    if (ia.pcap) {
      const w = await PcapWriter.toFile(ia.pcap);
      pcaps.push(w);
      driver = capture(tap, w);
    }
    const iface = stack.addInterface(driver, {
      ip: ia.ip, gateway: ia.gateway, mtu: ia.mtu ?? tap.mtu, mac: ia.mac, vlan: ia.vlan,
      // ../shared/CLI.md: on a core with IPv6 every interface forms a link-local address; SLAAC unless --no-slaac.
      // (A core with the IPv6 seam but no IPv6 configuration, netif_ip6_config, runs IPv4 only unless asked.)
      ...(v6 ? { ip6: ia.ip6.length > 0 ? ia.ip6 : true, slaac: !ia.noSlaac } : {}),
    });
    if (v6) printIp6Lines(iface, ia.tap, ia.ip6);
  }
  if (opts.forward) stack.ex.ip_forwarding(1);
  startServices(stack, opts.serve);
  for (const i of stack.ifaces) {
    console.log(`asip up ${i.ip}/${maskBits(i.netmask)} on ${opts.ifaces[i.index - 2]?.tap ?? i.index}`);
  }
  // SIGUSR1: the stats line of a running stack (what SIGTERM prints last), e.g. to watch pools drain.
  const printStats = () => console.log(JSON.stringify({ stats: stack.stats() }, null, 0));
  process.on("SIGUSR1", printStats);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  process.off("SIGUSR1", printStats);
  const stats = stack.stats();
  await stack.close();
  for (const w of pcaps) await w.close();
  console.log(JSON.stringify({ stats }, null, 0));
}

/**
 * The IPv6 lines of ../shared/CLI.md for one interface: `asip up
 * ADDR/PREFIX on NAME` when an address becomes preferred (DAD passed; the
 * link-local and SLAAC ones too), `asip conflict ADDR on NAME` when DAD
 * finds it in use, `asip down ADDR/PREFIX on NAME` when a printed one goes.
 */
function printIp6Lines(iface: Interface, name: string, statics: string[]): void {
  const shown = new Map<number, string>();
  const prefixOf = (s: Ip6AddressState): number => {
    if (s.prefix !== undefined && s.prefix > 0) return s.prefix;
    const given = statics.map((c) => parseCidr(c)).find((c) => c.address.toString() === s.address.split("%")[0]);
    return given?.prefix ?? 64;
  };
  const show = (slot: number, now: Ip6AddressState | undefined, before: Ip6AddressState | undefined) => {
    const addr = now?.address.split("%")[0];
    const was = shown.get(slot);
    if (was !== undefined && (!now || now.stateName === "invalid" || now.stateName === "duplicated" || addr !== was.split("/")[0])) {
      console.log(`asip down ${was} on ${name}`);
      shown.delete(slot);
    }
    if (!now) return;
    if (now.stateName === "duplicated" && before?.stateName !== "duplicated") console.log(`asip conflict ${addr} on ${name}`);
    if ((now.stateName === "preferred" || now.stateName === "deprecated") && !shown.has(slot)) {
      const line = `${addr}/${prefixOf(now)}`;
      shown.set(slot, line);
      console.log(`asip up ${line} on ${name}`);
    }
  };
  for (const [slot, s] of iface.ip6) show(slot, s, undefined);
  iface.watchIp6(show);
}

function maskBits(mask: string): number {
  return mask.split(".").reduce((n, o) => n + (Number(o).toString(2).match(/1/g)?.length ?? 0), 0);
}

/** Parses `--name value` options; `flags` take no value; `multi` may repeat. */
function parseOpts(argv: string[], known: string[], flags: string[] = [], multi: string[] = []): Record<string, string | string[] | true> {
  const o: Record<string, string | string[] | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.replace(/^--/, "");
    if (!a.startsWith("--") || (!known.includes(name) && !flags.includes(name))) throw new Error(`unknown option ${a}\n${HELP}`);
    if (flags.includes(name)) { o[name] = true; continue; }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (multi.includes(name)) o[name] = [...((o[name] as string[] | undefined) ?? []), v];
    else o[name] = v;
  }
  return o;
}

function waitForSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

async function relayCmd(argv: string[]): Promise<void> {
  const o = parseOpts(argv, ["port", "host", "token", "allow", "forward", "tap", "netns", "rate", "max-frame"], ["gateway"], ["allow", "forward"]);
  const { Relay } = await import("./relay.js");
  const log = (l: string) => console.log(l);
  const relay = await Relay.start({
    port: o.port !== undefined ? Number(o.port) : 8080, host: o.host as string | undefined, token: o.token as string | undefined,
    rateBytes: o.rate !== undefined ? Number(o.rate) : undefined, maxFrame: o["max-frame"] !== undefined ? Number(o["max-frame"]) : undefined, log,
  });
  if (o.tap) await relay.attachTap(o.tap as string, { netns: o.netns as string | undefined });
  let gateway: { close(): Promise<void> } | undefined;
  if (o.gateway) {
    const { Gateway } = await import("./gateway.js");
    gateway = await Gateway.start(relay, { allow: ["127.0.0.0/8", ...((o.allow as string[]) ?? [])], forwards: o.forward as string[] | undefined, log });
  } else if (o.allow || o.forward) throw new Error("--allow and --forward need --gateway");
  console.log(`asip relay listening on ws://${o.host ?? "0.0.0.0"}:${relay.port}/${o.token ? " (token required)" : ""}`);
  await waitForSignal();
  console.log(JSON.stringify({ relay: relay.stats() }));
  await gateway?.close();
  await relay.close();
}

async function demoCmd(argv: string[]): Promise<void> {
  const o = parseOpts(argv, ["port", "http-port", "host"], ["no-build"]);
  const { startDemo } = await import("./demo.js");
  const demo = await startDemo({
    port: o.port !== undefined ? Number(o.port) : 8080, host: o.host as string | undefined,
    httpPort: o["http-port"] !== undefined ? Number(o["http-port"]) : 8081, noBuild: !!o["no-build"],
  });
  console.log(`asip demo: open ${demo.url}  (relay on the same port; gateway 192.0.2.1; sample server http://host.asip.internal:${demo.hostHttpPort}/ = 127.0.0.1:${demo.hostHttpPort}). Ctrl-C stops.`);
  await waitForSignal();
  await demo.close();
}

/** Entry point of bin/asip.js. */
export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "up":
      await up(rest);
      break;
    case "relay":
      await relayCmd(rest);
      break;
    case "demo":
      await demoCmd(rest);
      break;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(HELP);
      break;
    default:
      throw new Error(`unknown command ${cmd}\n${HELP}`);
  }
}
