// Changing an interface's address, as lwIP's netif_set_ipaddr does it: TCP
// connections on the old address are aborted (the peer gets a RST, the
// application ERR_ABRT), listeners and bound pcbs move to the
// new address, and UDP pcbs bound to it follow. Release and mvp builds.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { TcpPcb } from "../../bindings/api/raw.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, until } from "../helpers/stacks.js";
import "../../bindings/api/net.js";
import "../../bindings/api/dgram.js";

for (const variant of VARIANTS) {
  test(`${variant}: a new address aborts TCP connections on the old one and moves listeners, bound TCP and UDP pcbs`, async () => {
    const { a, b, ia, ib } = await twoStacks({ variant });
    a.raw.tcp.setTimeWait(20);
    b.raw.tcp.setTimeWait(20);
    const baseA = baseline(a), baseB = baseline(b);

    // B: a listener bound to its address (raw API: its err callback gets
    // lwIP's err_t), and a UDP socket bound to it too.
    const errs: string[] = [];
    const l = b.raw.tcp.new().bind("192.0.2.2", 8000).listen(4);
    l.accept((p: TcpPcb) => {
      p.err((e) => errs.push(e.code));
      p.recv((d) => {
        if (d === null) return p.close();
        p.write(d);
        p.recved(d.length);
      });
    });
    const udp = b.dgram.createSocket("udp4");
    await new Promise<void>((r) => udp.bind(9000, "192.0.2.2", () => r()));
    udp.on("message", (m, rinfo) => udp.send(m, rinfo.port, rinfo.address));

    // An established connection on the old address.
    const c = a.net.connect(8000, "192.0.2.2");
    const aErr = new Promise<NodeJS.ErrnoException>((r) => c.on("error", r));
    await new Promise<void>((r) => c.once("connect", () => r()));
    c.write("before");
    await new Promise<void>((r) => c.once("data", () => r()));

    b.setAddress(ib, "192.0.2.3/24");
    assert.deepEqual(errs, ["ERR_ABRT"], "B's connection is aborted");
    assert.equal((await aErr).code, "ECONNRESET", "A's end gets B's RST");

    // The listener moved: a new connection to the new address echoes.
    const c2 = a.net.connect(8000, "192.0.2.3");
    c2.end("after");
    let back = "";
    c2.on("data", (d: Buffer) => (back += d));
    await new Promise<void>((r) => c2.on("close", () => r()));
    assert.equal(back, "after");
    assert.equal(l.localAddress, "192.0.2.3");

    // The UDP socket moved too.
    const u = a.dgram.createSocket("udp4");
    const reply = new Promise<string>((r) => u.on("message", (m) => r(m.toString())));
    u.send("udp after", 9000, "192.0.2.3");
    assert.equal(await reply, "udp after");
    assert.equal(udp.address().address, "192.0.2.3");

    u.close();
    udp.close();
    l.close();
    // Connections gone (TIME_WAIT is 20 ms), then the interfaces with their ARP state.
    await until(() => a.usage().pools.TCP_PCB === 0 && b.usage().pools.TCP_PCB === 0, 5000, "connections closed");
    await a.removeInterface(ia);
    await b.removeInterface(ib);
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
    await a.close();
    await b.close();
  });
}
