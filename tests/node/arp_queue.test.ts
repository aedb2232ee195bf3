// The first packet to a neighbour that is not in the ARP cache yet waits in
// the ARP queue and goes out, intact, when the reply comes (lwIP etharp_query).
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawApi } from "../../bindings/api/raw.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, until } from "../helpers/stacks.js";

for (const variant of VARIANTS) {
  test(`${variant}: UDP datagrams sent before ARP resolves all arrive intact`, async () => {
    const { a, b } = await twoStacks({ variant });
    const baseA = baseline(a), baseB = baseline(b);
    const got: string[] = [];
    const rb = new RawApi(b);
    const server = rb.udp.new();
    server.bind("0.0.0.0", 5000);
    server.recv((data) => void got.push(Buffer.from(data).toString()));
    const ra = new RawApi(a);
    const client = ra.udp.new();
    // Three datagrams at once, before any ARP exchange: all queue, all arrive.
    client.sendto(Buffer.from("first"), "192.0.2.2", 5000);
    client.sendto(Buffer.from("second"), "192.0.2.2", 5000);
    client.sendto(Buffer.from("third"), "192.0.2.2", 5000);
    a.kick();
    await until(() => got.length === 3, 2000, "three datagrams");
    assert.deepEqual(got, ["first", "second", "third"]);
    client.remove();
    server.remove();
    await a.close();
    await b.close();
    assertNoLeaks(a, baseA, "A");
    assertNoLeaks(b, baseB, "B");
  });
}
