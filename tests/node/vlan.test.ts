// 802.1Q between two stacks: tagged frames on the wire (checked byte by byte
// and by tshark when present), untagged or foreign-VLAN frames refused.
// (This machine's kernel has no 8021q, so the kernel peer test skips; see tests/peer/cli.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Stack } from "../../bindings/stack.js";
import { pair } from "../../bindings/netif/pair.js";
import { PcapWriter, capture } from "../../bindings/netif/pcap.js";
import type { LinkDriver } from "../../bindings/netif/driver.js";
import { IpAddress } from "../../bindings/ip-address.js";
import { VARIANTS, baseline, assertNoLeaks, until } from "../helpers/stacks.js";

/** Wraps a driver, keeping a copy of every frame sent through it. */
function recording(d: LinkDriver, frames: Uint8Array[]): LinkDriver {
  return { send: (f) => { frames.push(f.slice()); d.send(f); }, onReceive: (cb) => d.onReceive(cb), close: () => d.close() };
}

for (const variant of VARIANTS) {
  test(`${variant}: ARP between two stacks on VLAN 42; frames for VLAN 43 or untagged are refused`, async () => {
    const [ea, eb] = pair();
    const file = path.join(mkdtempSync(path.join(tmpdir(), "asip-vlan-")), "vlan.pcap");
    const w = await PcapWriter.toFile(file);
    const frames: Uint8Array[] = [];
    const a = await Stack.create({ variant });
    const b = await Stack.create({ variant });
    const baseA = baseline(a), baseB = baseline(b);
    const ia = a.addInterface(recording(capture(ea, w), frames), { ip: "192.0.2.1/24", vlan: 42 });
    const ib = b.addInterface(eb, { ip: "192.0.2.2/24", vlan: 42 });
    const ask = () => { a.ex.arp_request(ia.index, IpAddress.parse("192.0.2.2").core4); a.drainNow(); };

    ask();
    await until(() => a.stats().proto.etharp.recv >= 1, 2000, "ARP reply over VLAN 42");
    const tagged = frames.find((x) => x[12] === 0x81 && x[13] === 0x00);
    assert.ok(tagged, "a tagged frame on the wire");
    assert.equal(((tagged![14] << 8) | tagged![15]) & 0x0fff, 42);

    // B moves to VLAN 43: A's VLAN-42 requests are dropped at B's link layer.
    b.ex.netif_config_vlan(ib.index, 43);
    const drops = b.stats().proto.link.drop, arpRx = b.stats().proto.etharp.recv;
    ask();
    await until(() => b.stats().proto.link.drop > drops, 2000, "B drops a foreign VLAN");
    assert.equal(b.stats().proto.etharp.recv, arpRx);
    // A untagged: B (tagged) drops that too.
    a.ex.netif_config_vlan(ia.index, 0);
    ask();
    await until(() => b.stats().proto.link.drop > drops + 1, 2000, "B drops untagged frames");
    assert.equal(b.stats().proto.etharp.recv, arpRx);

    await a.close();
    await b.close();
    await w.close();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    if (spawnSync("tshark", ["-v"]).status === 0) {
      const r = spawnSync("tshark", ["-r", file, "-Y", "vlan.id == 42 && arp"], { encoding: "utf8" });
      assert.ok(r.stdout.trim().split("\n").length >= 2, `tshark decodes the tagged ARP pair:\n${r.stdout}${r.stderr}`);
    }
  });
}
