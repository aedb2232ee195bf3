/**
 * Peer-test fixtures: an asip stack attached to a TAP inside a namespace the
 * test made, with captures on both sides checked by tshark at the end.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { Stack, type Interface } from "../../bindings/stack.js";
import { TapDevice } from "../../bindings/netif/tap.js";
import { PcapWriter, capture } from "../../bindings/netif/pcap.js";
import { createNetns, tsharkCheck, type Netns, type Capture, type NetnsOptions } from "./netns.js";
import { baseline, type Usage } from "./stacks.js";

export interface PeerSide {
  ns: Netns;
  tap: TapDevice;
  iface: Interface;
  /** Kernel-side capture (tshark inside the namespace). */
  kcap: Capture;
  /** Driver-side capture (what asip sent and received). */
  pcap: PcapWriter;
  pcapFile: string;
}

export interface PeerFixture {
  stack: Stack;
  sides: PeerSide[];
  dir: string;
  base: Usage;
  /** Stops captures, checks them with tshark, closes everything. Returns bad frames. */
  finish(): Promise<string[]>;
}

/** One namespace per entry of `nets`; asip takes `asipIp` (and `ip6`: IPv6 on, with these static addresses) on each TAP. */
export async function peerStack(
  nets: Array<{ ns?: NetnsOptions; asipIp?: string; gateway?: string; mtu?: number; ip6?: boolean | string[]; slaac?: boolean; dad?: boolean }>,
  t?: { after(fn: () => unknown): void },
): Promise<PeerFixture> {
  const dir = mkdtempSync(path.join(tmpdir(), "asip-peer-"));
  const stack = await Stack.create();
  const base = baseline(stack);
  const sides: PeerSide[] = [];
  for (const [i, n] of nets.entries()) {
    const ns = createNetns(n.ns ?? {}, t);
    const tap = await TapDevice.open(ns.tap, { netns: ns.name });
    await tap.waitUp();
    const kcap = await ns.startCapture(path.join(dir, `kernel-${i}.pcap`));
    const pcapFile = path.join(dir, `asip-${i}.pcap`);
    const pcap = await PcapWriter.toFile(pcapFile);
    const iface = stack.addInterface(capture(tap, pcap), { ip: n.asipIp, gateway: n.gateway, mtu: n.mtu ?? tap.mtu, ip6: n.ip6, slaac: n.slaac, dad: n.dad });
    sides.push({ ns, tap, iface, kcap, pcap, pcapFile });
  }
  let finished = false;
  const finish = async (): Promise<string[]> => {
    if (finished) return [];
    finished = true;
    const bad: string[] = [];
    for (const s of sides) {
      await s.kcap.stop();
      await s.pcap.close();
      bad.push(...tsharkCheck(s.kcap.file).map((l) => `kernel side: ${l}`));
      bad.push(...tsharkCheck(s.pcapFile).map((l) => `asip side: ${l}`));
    }
    await stack.close();
    for (const s of sides) await s.ns.destroy();
    return bad;
  };
  t?.after(() => finish());
  return { stack, sides, dir, base, finish };
}

/** Parses ping's summary: transmitted, received. */
export function pingSummary(out: string): { tx: number; rx: number } {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  assert.ok(m, `no ping summary in:\n${out}`);
  return { tx: Number(m[1]), rx: Number(m[2]) };
}
