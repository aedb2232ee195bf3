// IPv4, ARP, ICMP and UDP against the Linux kernel through a TAP in a
// namespace: ping in all sizes, flood ping, the neighbour table, arping, UDP
// echo with nc and with 1,000 random datagrams, port unreachable, and asip
// routing between two namespaces. Every frame is checked by tshark.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { canRunPeerTests } from "../helpers/netns.js";
import { peerStack, pingSummary, type PeerFixture } from "../helpers/peer.js";
import { startServices } from "../../bindings/node/services.js";

const skip = canRunPeerTests(["ping", "arping", "nc", "tshark", "python3"]);

describe("IPv4/ARP/ICMP/UDP against the Linux kernel", { skip: skip ?? false }, () => {
  let fx: PeerFixture;
  before(async () => {
    fx = await peerStack([{ asipIp: "192.0.2.2/24" }]);
    startServices(fx.stack, ["udp-echo:7"]);
  });
  after(async () => {
    const bad = await fx.finish();
    assert.deepEqual(bad, [], "tshark: bad checksums or malformed frames");
  });

  test("ping -c 20 answers every request", async () => {
    const r = await fx.sides[0].ns.run("ping", ["-c", "20", "-i", "0.05", "-W", "1", "192.0.2.2"]);
    const s = pingSummary(r.stdout);
    assert.equal(s.rx, 20, r.stdout);
  });

  test("the kernel's neighbour table shows asip REACHABLE with its MAC", async () => {
    const { ns, iface } = fx.sides[0];
    await ns.run("ping", ["-c", "1", "-W", "1", "192.0.2.2"]);
    const out = ns.ip("neigh", "show", "192.0.2.2", "dev", ns.tap).stdout;
    assert.match(out, /REACHABLE|DELAY|PROBE/, out);
    assert.ok(out.includes(iface.mac), `${out} should name ${iface.mac}`);
  });

  test("asip answers arping", async () => {
    const { ns, iface } = fx.sides[0];
    const r = await ns.run("arping", ["-c", "3", "-w", "5", "-I", ns.tap, "192.0.2.2"]);
    assert.match(r.stdout, /Received [1-9]\d* response|reply from 192\.0\.2\.2/i, r.stdout + r.stderr);
    assert.ok(r.stdout.toLowerCase().includes(iface.mac), r.stdout);
  });

  for (const size of [1472, 8000, 60000]) {
    test(`ping -s ${size} (${size > 1472 ? "fragmented both ways" : "one full frame"})`, async () => {
      const r = await fx.sides[0].ns.run("ping", ["-c", "3", "-i", "0.2", "-W", "2", "-s", String(size), "192.0.2.2"]);
      const s = pingSummary(r.stdout);
      assert.equal(s.rx, 3, r.stdout);
      assert.match(r.stdout, new RegExp(`${size + 8} bytes from 192\\.0\\.2\\.2`));
    });
  }

  test("ping -f -c 5000: no loss", async () => {
    const r = await fx.sides[0].ns.run("ping", ["-f", "-c", "5000", "-W", "1", "192.0.2.2"], { timeoutMs: 60_000 });
    const s = pingSummary(r.stdout);
    assert.equal(s.tx, 5000);
    assert.equal(s.rx, 5000, r.stdout);
  });

  test("UDP echo with nc -u", async () => {
    const r = await fx.sides[0].ns.run("sh", ["-c", "printf 'hello asip\\n' | nc -u -w 1 192.0.2.2 7"]);
    assert.equal(r.stdout, "hello asip\n", r.stderr);
  });

  test("1,000 UDP datagrams of random sizes come back intact", async () => {
    const script = `
import socket, random, hashlib, sys
random.seed(7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("192.0.2.2", 7))
ok = 0
for i in range(1000):
    n = random.randint(0, 8000)
    data = random.randbytes(n)
    s.send(data)
    back = s.recv(65536)
    if back == data: ok += 1
print(ok)
`;
    const r = await fx.sides[0].ns.run("python3", ["-c", script], { timeoutMs: 120_000 });
    assert.equal(r.stdout.trim(), "1000", r.stderr);
  });

  test("UDP to a closed port gets ICMP port unreachable", async () => {
    const script = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("192.0.2.2", 9999))
s.send(b"anyone?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
`;
    const r = await fx.sides[0].ns.run("python3", ["-c", script]);
    assert.equal(r.stdout.trim(), "refused", r.stderr);
    assert.ok(fx.stack.stats().proto.icmp.xmit > 0);
  });

  test("nothing leaked in the stack", () => {
    const st = fx.stack.stats();
    assert.equal(st.pools.PBUF_POOL.used, 0, "rx buffers");
    assert.equal(st.pools.REASSDATA.used, 0, "reassembly");
    assert.equal(st.mem.illegal, 0);
  });
});

describe("asip routes between two namespaces", { skip: skip ?? canRunPeerTests(["traceroute"]) ?? false }, () => {
  let fx: PeerFixture;
  before(async () => {
    fx = await peerStack([
      { ns: { addr: "192.0.2.1/26" }, asipIp: "192.0.2.2/26" },
      { ns: { addr: "192.0.2.65/26" }, asipIp: "192.0.2.66/26" },
    ]);
    fx.stack.ex.ip_forwarding(1);
    fx.sides[0].ns.ip("route", "add", "192.0.2.64/26", "via", "192.0.2.2");
    fx.sides[1].ns.ip("route", "add", "192.0.2.0/26", "via", "192.0.2.66");
  });
  after(async () => {
    const bad = await fx.finish();
    assert.deepEqual(bad, [], "tshark: bad checksums or malformed frames");
  });

  test("ping across the router", async () => {
    const r = await fx.sides[0].ns.run("ping", ["-c", "5", "-i", "0.1", "-W", "2", "192.0.2.65"]);
    assert.equal(pingSummary(r.stdout).rx, 5, r.stdout);
    assert.ok(fx.stack.stats().proto.ip.fw >= 10);
  });

  test("a large ping is fragmented on the way and reassembled by the far kernel", async () => {
    const r = await fx.sides[0].ns.run("ping", ["-c", "2", "-i", "0.2", "-W", "2", "-s", "4000", "192.0.2.65"]);
    assert.equal(pingSummary(r.stdout).rx, 2, r.stdout);
  });

  test("ping -t 1 gets time exceeded from asip", async () => {
    const r = await fx.sides[0].ns.run("ping", ["-c", "1", "-t", "1", "-W", "2", "192.0.2.65"]);
    assert.match(r.stdout, /From 192\.0\.2\.2 .*Time to live exceeded/i, r.stdout);
  });

  test("traceroute shows asip as the first hop", async () => {
    const r = await fx.sides[0].ns.run("traceroute", ["-n", "-q", "1", "-w", "2", "-m", "3", "192.0.2.65"]);
    assert.match(r.stdout, /^\s*1\s+192\.0\.2\.2\s/m, r.stdout);
    assert.match(r.stdout, /^\s*2\s+192\.0\.2\.65\s/m, r.stdout);
  });
});
