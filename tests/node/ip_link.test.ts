// A link that carries bare IP packets (LinkDriver.linkType "ip", the core's
// NetifKind.HOST_IP): the per-kind netif dispatch (input, output4,
// linkoutput) with no Ethernet and no ARP under IP. Two stacks over a pair()
// of "TUN devices" talk TCP, UDP and ICMP; every frame on the cable is an IP
// packet; a capture says LINKTYPE_RAW.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Stack } from "../../bindings/stack.js";
import { pair } from "../../bindings/netif/pair.js";
import { PcapWriter, capture, pcapLinkType, LINKTYPE_RAW } from "../../bindings/netif/pcap.js";
import { rawApi } from "../../bindings/api/raw.js";
import { icmpMessage, ICMP_ECHO } from "../../bindings/wire/transport.js";
import { VARIANTS, baseline, assertNoLeaks, until, settle } from "../helpers/stacks.js";

for (const variant of VARIANTS) {
  test(`${variant}: two stacks over an IP link (no Ethernet, no ARP): TCP, UDP and ping`, async () => {
    const [ea, eb] = pair({ linkType: "ip" });
    const sent: Uint8Array[] = [];
    const send = ea.send.bind(ea);
    ea.send = (f) => { sent.push(f.slice(0, 1)); send(f); };
    const a = await Stack.create({ variant });
    const b = await Stack.create({ variant });
    const w = new PcapWriter(undefined, pcapLinkType(ea));
    const ia = a.addInterface(capture(ea, w), { ip: "192.0.2.1/24" });
    b.addInterface(eb, { ip: "192.0.2.2/24" });
    assert.equal(ia.mac, "", "no MAC on an IP link");
    assert.throws(() => a.addInterface(pair({ linkType: "ip" })[0], { mac: "02:00:00:00:00:09" }), TypeError);
    rawApi(a).tcp.setTimeWait(50);
    rawApi(b).tcp.setTimeWait(50);
    const baseA = baseline(a), baseB = baseline(b);

    // TCP: 256 KiB echoed back.
    const data = new Uint8Array(256 * 1024).map((_, i) => (i * 7 + 3) & 0xff);
    const l = rawApi(b).tcp.new().bind("0.0.0.0", 7).listen();
    l.accept((pcb) => {
      let q: Uint8Array[] = [];
      const flush = () => { while (q.length) { const n = pcb.write(q[0]); if (n < q[0].length) { q[0] = q[0].subarray(n); return; } q.shift(); } };
      pcb.sent(flush);
      pcb.recv((d) => { if (d === null) { pcb.close(); return; } q.push(d.slice()); flush(); });
    });
    const c = rawApi(a).tcp.new();
    const got: Uint8Array[] = [];
    let n = 0, off = 0;
    const push = () => { while (off < data.length) { const k = c.write(data.subarray(off)); if (k === 0) return; off += k; } };
    c.recv((d) => { if (d) { got.push(d.slice()); n += d.length; } });
    c.sent(push);
    c.connect("192.0.2.2", 7, () => push());
    await until(() => n >= data.length, 20000, "the echo");
    assert.equal(createHash("sha256").update(Buffer.concat(got)).digest("hex"), createHash("sha256").update(data).digest("hex"));
    c.close();
    l.close();

    // UDP both ways.
    const ub = rawApi(b).udp.new().bind("0.0.0.0", 9);
    ub.recv((d, addr, port) => ub.sendto(d.slice(), addr, port));
    const ua = rawApi(a).udp.new().bind("0.0.0.0", 0);
    let echoed = "";
    ua.recv((d) => { echoed = Buffer.from(d).toString(); });
    ua.sendto(Buffer.from("over IP"), "192.0.2.2", 9);
    await until(() => echoed === "over IP", 5000, "the UDP echo");

    // ICMP echo through a raw pcb (B's ICMP answers it).
    const r = rawApi(a).ip.new(1, { eat: true });
    let reply = -1;
    r.recv((pkt, src, info) => { if (src === "192.0.2.2") reply = pkt[info.hlen]; });
    r.sendto(icmpMessage(ICMP_ECHO, 0, 0x00070001, [1, 2, 3]), "192.0.2.2");
    await until(() => reply === 0, 5000, "the echo reply");
    ua.remove(); ub.remove(); r.remove();

    assert.ok(sent.length > 100 && sent.every((f) => f[0] >> 4 === 4), "every frame is an IPv4 packet");
    assert.equal(a.stats().proto.etharp.xmit + b.stats().proto.etharp.xmit, 0, "no ARP");
    await new Promise((res) => setTimeout(res, 200));
    await settle(5);
    w.close();
    const cap = w.toUint8Array();
    assert.equal(new DataView(cap.buffer, cap.byteOffset).getUint32(20, true), LINKTYPE_RAW);
    await until(() => { try { assertNoLeaks(a, baseA, "A"); assertNoLeaks(b, baseB, "B"); return true; } catch { return false; } }, 5000, "pools back");
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });
}
