// The relay's TAP uplink against the Linux kernel: an asip stack joined to the
// relay over a WebSocket is reached from a namespace through the relay's
// switch and its TAP port — ping, UDP echo and a TCP fetch from the kernel.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { Relay } from "../../bindings/node/relay.js";
import { WebSocketLink, type WebSocketCtor } from "../../bindings/netif/websocket.js";
import { Stack } from "../../bindings/stack.js";
import { startServices } from "../../bindings/node/services.js";
import { canRunPeerTests, createNetns, type Netns } from "../helpers/netns.js";
import { pingSummary } from "../helpers/peer.js";
import { until } from "../helpers/stacks.js";

const skip = canRunPeerTests(["ping", "nc", "curl"]);

describe("relay with a TAP uplink, against the Linux kernel", { skip: skip ?? false }, () => {
  let ns: Netns;
  let relay: Relay;
  let stack: Stack;
  let link: WebSocketLink;
  before(async () => {
    ns = createNetns();
    relay = await Relay.start({ port: 0, host: "127.0.0.1" });
    await relay.attachTap(ns.tap, { netns: ns.name });
    stack = await Stack.create();
    link = new WebSocketLink(relay.url, { WebSocket: WebSocket as unknown as WebSocketCtor });
    stack.addInterface(link, { ip: "192.0.2.2/24" });
    startServices(stack, ["udp-echo:7", "http:80"]);
    await until(() => relay.stats().clients >= 1, 5000, "the stack joins the relay");
  });
  after(async () => {
    await stack?.close();
    await relay?.close();
    await ns?.destroy();
  });

  test("the kernel pings the stack through the relay", async () => {
    const r = await ns.run("ping", ["-c", "5", "-i", "0.1", "-W", "2", "192.0.2.2"]);
    assert.equal(pingSummary(r.stdout).rx, 5, r.stdout);
  });

  test("UDP echo through the relay", async () => {
    const r = await ns.run("sh", ["-c", "printf 'via the relay\\n' | nc -u -w 1 192.0.2.2 7"]);
    assert.equal(r.stdout, "via the relay\n");
  });

  test("curl fetches 1 MB from the stack's http service through the relay", async () => {
    const r = await ns.run("sh", ["-c", "curl -s --max-time 20 http://192.0.2.2/bytes/1000000 | wc -c"]);
    assert.equal(r.stdout.trim(), "1000000", r.stderr);
  });
});
