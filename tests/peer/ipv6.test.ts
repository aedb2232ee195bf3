// IPv6, ICMPv6, Neighbor Discovery, SLAAC and DAD against the Linux kernel
// through a TAP in a namespace (2001:db8::/64): ping -6 up to 65,000 bytes
// (fragmented both ways), a link-local ping with %tap0, TCP with nc -6
// (SHA-256 equal), UDP echo, ndisc6 answered, rdisc6 unanswered (asip is a
// host), radvd giving asip a SLAAC address the kernel reaches, and scapy
// probes of the RFC 4861/8200/5722 rules. tshark checks every frame.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { IpAddress } from "../../bindings/ip-address.js";
import path from "node:path";
import { canRunPeerTests } from "../helpers/netns.js";
import { peerStack, pingSummary, type PeerFixture } from "../helpers/peer.js";
import { rawApi } from "../../bindings/api/raw.js";
import { until } from "../helpers/stacks.js";

const skip = canRunPeerTests(["ping", "nc", "tshark", "ndisc6", "rdisc6", "radvd", "sha256sum"]);
const noScapy = spawnSync("/usr/bin/python3", ["-c", "import scapy.all"]).status === 0 ? null : "python3-scapy missing (Debian package python3-scapy, importable from /usr/bin/python3)";

const US = "2001:db8::2";
const KERNEL = "2001:db8::1";

/** Waits until the kernel's address on tap0 is no longer tentative (it is added with nodad) and the link is up. */
async function kernelReady(fx: PeerFixture): Promise<void> {
  const { ns } = fx.sides[0];
  await until(() => !/tentative/.test(ns.ip("-6", "addr", "show", "dev", ns.tap).stdout), 10000, "the kernel's IPv6 address");
}

describe("IPv6/ICMPv6/ND against the Linux kernel", { skip: skip ?? false }, () => {
  let fx: PeerFixture;
  before(async () => {
    fx = await peerStack([{ ns: { ipv6: `${KERNEL}/64` }, asipIp: "192.0.2.2/24", ip6: [`${US}/64`] }]);
    const { iface } = fx.sides[0];
    await fx.stack.waitAddress6(iface, (a) => a === US, 15000);
    await fx.stack.waitAddress6(iface, (a) => a.startsWith("fe80:"), 15000);
    await kernelReady(fx);
    // TCP echo and UDP echo on :: port 7.
    const raw = rawApi(fx.stack);
    const l = raw.tcp.new(6).bind("::", 7).listen();
    l.accept((pcb) => {
      const q: Uint8Array[] = [];
      let fin = false, closed = false;
      // Close after the FIN only once everything received is echoed: data
      // still queued here when the peer's FIN came would be lost.
      const flush = () => {
        while (q.length) { const n = pcb.write(q[0]!); if (n < q[0]!.length) { q[0] = q[0]!.subarray(n); return; } q.shift(); }
        if (fin && !closed) { closed = true; pcb.close(); }
      };
      pcb.sent(flush);
      pcb.recv((d) => { if (d === null) fin = true; else q.push(d.slice()); flush(); });
    });
    const u = raw.udp.new({ ipType: 6 }).bind("::", 7);
    u.recv((d, addr, port) => u.sendto(d.slice(), addr, port));
  });
  after(async () => {
    const bad = await fx.finish();
    assert.deepEqual(bad, [], "tshark: bad checksums or malformed frames");
  });

  test("ping -6 answers every request", async () => {
    const r = await fx.sides[0].ns.run("ping", ["-6", "-c", "10", "-i", "0.05", "-W", "1", US]);
    assert.equal(pingSummary(r.stdout).rx, 10, r.stdout + r.stderr);
  });

  for (const size of [1452, 8000, 30000, 65000]) {
    test(`ping -6 -s ${size} (${size > 1452 ? "fragmented both ways" : "one full frame"})`, async () => {
      const r = await fx.sides[0].ns.run("ping", ["-6", "-c", "3", "-i", "0.3", "-W", "3", "-s", String(size), US], { timeoutMs: 30_000 });
      assert.equal(pingSummary(r.stdout).rx, 3, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`${size + 8} bytes from ${US}`));
    });
  }

  test("a link-local ping with %tap0", async () => {
    const { ns, iface } = fx.sides[0];
    const ll = [...iface.ip6.values()].find((s) => s.address.startsWith("fe80:"))!.address.replace(/%.*$/, "");
    const r = await ns.run("ping", ["-6", "-c", "3", "-i", "0.2", "-W", "2", `${ll}%${ns.tap}`]);
    assert.equal(pingSummary(r.stdout).rx, 3, r.stdout + r.stderr);
  });

  test("the kernel's neighbour cache has asip's MAC; ndisc6 is answered", async () => {
    const { ns, iface } = fx.sides[0];
    const r = await ns.run("ndisc6", ["-1", "-r", "3", "-w", "1000", US, ns.tap]);
    assert.match(r.stdout.toLowerCase(), new RegExp(iface.mac.replace(/:/g, ":")), r.stdout + r.stderr);
    const out = ns.ip("-6", "neigh", "show", US, "dev", ns.tap).stdout;
    assert.ok(out.includes(iface.mac), out);
  });

  test("rdisc6 gets no advertisement: asip is a host (RFC 4861 §6.2.6)", async () => {
    const { ns } = fx.sides[0];
    // rdisc6 fails and prints no advertisement. (asip's own ND traffic, its
    // router solicitations and NUD probes of the kernel, goes on meanwhile,
    // so a count of what it sent proves nothing either way.)
    const r = await ns.run("rdisc6", ["-1", "-r", "2", "-w", "500", ns.tap]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /Hop limit/, r.stdout);
  });

  test("TCP over IPv6 with nc -6: 2 MiB echoed, SHA-256 equal", async () => {
    const { ns } = fx.sides[0];
    const data = randomBytes(2 << 20);
    const file = path.join(fx.dir, "tcp6.bin");
    writeFileSync(file, data);
    const r = await ns.run("sh", ["-c", `nc -6 -N -w 10 ${US} 7 < ${file} | sha256sum`], { timeoutMs: 60_000 });
    assert.equal(r.stdout.split(" ")[0], createHash("sha256").update(data).digest("hex"), r.stderr);
  });

  test("UDP echo over IPv6 with nc -6 -u", async () => {
    const r = await fx.sides[0].ns.run("sh", ["-c", `printf 'hello over IPv6\\n' | nc -6 -u -w 1 ${US} 7`]);
    assert.equal(r.stdout, "hello over IPv6\n", r.stderr);
  });

  test("asip sends to the kernel: UDP to a closed kernel port gets port unreachable back to asip", async () => {
    const u = rawApi(fx.stack).udp.new({ ipType: 6 }).bind("::", 0);
    const before = fx.stack.stats().proto.icmp6.recv;
    u.sendto(Buffer.from("x"), KERNEL, 9);
    await until(() => fx.stack.stats().proto.icmp6.recv > before, 5000, "the kernel's port unreachable");
    u.remove();
  });

  test("scapy: NS with hop limit 64 ignored, unknown next header → parameter problem pointer 6, overlapping fragments dropped", { skip: noScapy ?? false }, async () => {
    const { ns, iface } = fx.sides[0];
    const script = `
import sys
from scapy.all import *
conf.verb = 0
iface = "${ns.tap}"
us = "${US}"
mac = "${iface.mac}"
src = "2001:db8::99"
smac = "02:00:00:00:00:99"
out = []
def solnode(a):
    b = inet_pton(socket.AF_INET6, a)
    return inet_ntop(socket.AF_INET6, bytes.fromhex("ff0200000000000000000001ff") + b[13:])
def probe(pkts, filt, wait=1.5):
    sn = AsyncSniffer(iface=iface, lfilter=filt)
    sn.start(); time.sleep(0.3)
    sendp(pkts, iface=iface)
    time.sleep(wait); sn.stop()
    return sn.results
# 1. NS with hop limit 64 for our address: no NA.
# Only an NA to the probe's source counts: the kernel's own NUD exchanges with asip go on meanwhile.
ns = Ether(src=smac, dst="33:33:ff:00:00:02")/IPv6(src=src, dst=solnode(us), hlim=64)/ICMPv6ND_NS(tgt=us)/ICMPv6NDOptSrcLLAddr(lladdr=smac)
r = probe(ns, lambda p: ICMPv6ND_NA in p and p[IPv6].dst == src)
out.append("ns64:" + ("answered" if r else "ignored"))
# The same with hop limit 255: answered.
ns[IPv6].hlim = 255
r = probe(ns, lambda p: ICMPv6ND_NA in p and p[IPv6].dst == src)
out.append("ns255:" + ("answered" if r else "ignored"))
# 2. Unknown next header 253: parameter problem code 1, pointer 6.
p = Ether(src=smac, dst=mac)/IPv6(src=src, dst=us, nh=253)/Raw(b"x" * 16)
r = probe(p, lambda p: ICMPv6ParamProblem in p)
out.append("pp:%s,%s" % (r[0][ICMPv6ParamProblem].code, r[0][ICMPv6ParamProblem].ptr) if r else "pp:none")
# 3. Overlapping fragments of an echo request: no reply. Non-overlapping ones: a reply.
def frags(ident, overlap):
    payload = raw(IPv6(src=src, dst=us)/ICMPv6EchoRequest(id=7, seq=ident, data=b"A" * 64))[40:]
    a = payload[:48]
    b = payload[40:] if overlap else payload[48:]
    boff = 5 if overlap else 6
    return [Ether(src=smac, dst=mac)/IPv6(src=src, dst=us)/IPv6ExtHdrFragment(nh=58, offset=0, m=1, id=ident)/Raw(a),
            Ether(src=smac, dst=mac)/IPv6(src=src, dst=us)/IPv6ExtHdrFragment(nh=58, offset=boff, m=0, id=ident)/Raw(b)]
r = probe(frags(101, True), lambda p: ICMPv6EchoReply in p and p[ICMPv6EchoReply].seq == 101)
out.append("overlap:%d" % len(r))
r = probe(frags(102, False), lambda p: ICMPv6EchoReply in p and p[ICMPv6EchoReply].seq == 102)
out.append("clean:%d" % len(r))
print(" ".join(out))
`;
    const r = await ns.run("/usr/bin/python3", ["-c", script], { timeoutMs: 60_000 });
    assert.equal(r.stdout.trim(), "ns64:ignored ns255:answered pp:1,6 overlap:0 clean:1", r.stderr);
  });

  test("scapy: an NA without the override flag does not replace a REACHABLE entry", { skip: noScapy ?? false }, async () => {
    const { ns, iface } = fx.sides[0];
    // asip resolves 2001:db8::98 (a UDP datagram to it); scapy answers as 02:..:98, then
    // sends an unsolicited NA without O claiming 02:..:97.
    const script = `
from scapy.all import *
conf.verb = 0
iface = "${ns.tap}"
mac = "${iface.mac}"
t = "2001:db8::98"
def on(p):
    if ICMPv6ND_NS in p and p[ICMPv6ND_NS].tgt == t:
        sendp(Ether(src="02:00:00:00:00:98", dst=mac)/IPv6(src=t, dst=p[IPv6].src, hlim=255)/ICMPv6ND_NA(tgt=t, S=1, O=1, R=0)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:98"), iface=iface)
        return True
    return False
s = AsyncSniffer(iface=iface, stop_filter=on, timeout=5)
s.start(); time.sleep(0.3)
print("ready", flush=True)
s.join()
time.sleep(0.3)
sendp(Ether(src="02:00:00:00:00:97", dst=mac)/IPv6(src=t, dst="${US}", hlim=255)/ICMPv6ND_NA(tgt=t, S=0, O=0, R=0)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:97"), iface=iface)
print("done", flush=True)
`;
    const child = ns.spawn("/usr/bin/python3", ["-c", script]);
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    await until(() => out.includes("ready"), 15000, "scapy ready");
    const u = rawApi(fx.stack).udp.new({ ipType: 6 }).bind("::", 0);
    u.sendto(Buffer.from("to the neighbour"), "2001:db8::98", 9);
    await until(() => out.includes("done"), 15000, "scapy done");
    await new Promise((r) => setTimeout(r, 300));
    u.remove();
    const rec = neighbour(fx, "2001:db8::98");
    assert.ok(rec, "an entry");
    assert.equal(rec!.mac, "02:00:00:00:00:98", "the REACHABLE address is kept");
    assert.equal(rec!.state, 3, "and the entry is STALE (RFC 4861 §7.2.5)");
  });

  test("scapy: a DAD collision marks the address duplicated and it is never used", { skip: noScapy ?? false }, async () => {
    const { ns, iface } = fx.sides[0];
    const target = "2001:db8::77";
    const script = `
from scapy.all import *
conf.verb = 0
iface = "${ns.tap}"
t = "${target}"
def on(p):
    if ICMPv6ND_NS in p and p[ICMPv6ND_NS].tgt == t and p[IPv6].src == "::":
        sendp(Ether(src="02:00:00:00:00:77", dst="33:33:00:00:00:01")/IPv6(src=t, dst="ff02::1", hlim=255)/ICMPv6ND_NA(tgt=t, S=0, O=1, R=0)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:77"), iface=iface)
        return True
    return False
s = AsyncSniffer(iface=iface, stop_filter=on, timeout=8)
s.start(); time.sleep(0.3)
print("ready", flush=True)
s.join()
print("done", flush=True)
`;
    const child = ns.spawn("/usr/bin/python3", ["-c", script]);
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    await until(() => out.includes("ready"), 15000, "scapy ready");
    fx.stack.addAddress6(iface, `${target}/64`);
    await until(() => out.includes("done"), 15000, "scapy saw the probe");
    await until(() => [...iface.ip6.values()].some((s) => s.address === target && s.state === 0x40), 5000, "the address duplicated");
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok([...iface.ip6.values()].some((s) => s.address === target && s.state === 0x40), "still duplicated");
    const r = await ns.run("ping", ["-6", "-c", "1", "-W", "1", target]);
    assert.equal(pingSummary(r.stdout).rx, 0, "not answered");
    fx.stack.removeAddress6(iface, target);
  });

  test("nothing leaked in the stack", () => {
    const st = fx.stack.stats();
    assert.equal(st.pools.PBUF_POOL.used, 0, "rx buffers");
    assert.equal(st.mem.illegal, 0);
  });
});

/** asip's neighbour cache entry for `addr` (ABI ip6_neighbor_get). */
function neighbour(fx: PeerFixture, addr: string): { mac: string; state: number } | undefined {
  const s = fx.stack;
  const out = s.addrOut();
  for (let i = 0; ; i++) {
    const st: number = s.ex.ip6_neighbor_get(i, out);
    if (st < 0) return undefined;
    if (st === 0) continue;
    const m = s.mem();
    const text = IpAddress.fromBytes(m.slice(out, out + 16)).toString();
    if (text === addr) {
      return { mac: Array.from(m.subarray(out + 16, out + 22), (x) => x.toString(16).padStart(2, "0")).join(":"), state: m[out + 22]! };
    }
  }
}

describe("SLAAC from radvd", { skip: skip ?? false }, () => {
  let fx: PeerFixture;
  before(async () => {
    fx = await peerStack([{ ns: { ipv6: `${KERNEL}/64` }, ip6: true, slaac: true }]);
    await kernelReady(fx);
  });
  after(async () => {
    const bad = await fx.finish();
    assert.deepEqual(bad, [], "tshark: bad checksums or malformed frames");
  });

  test("radvd's prefix gives asip an address the kernel reaches; RDNSS and MTU are learned", async () => {
    const { ns, iface } = fx.sides[0];
    const conf = path.join(fx.dir, "radvd.conf");
    writeFileSync(conf, `interface ${ns.tap} {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvLinkMTU 1400;
  prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; };
  RDNSS 2001:db8::53 { };
};
`);
    ns.exec("sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]);
    // The router's own address on the advertised prefix (radvd adds no route).
    ns.ip("addr", "add", "2001:db8:1::1/64", "dev", ns.tap, "nodad");
    const pid = path.join(fx.dir, "radvd.pid");
    ns.spawn("radvd", ["-n", "-C", conf, "-p", pid, "-m", "stderr"]);
    const addr = await fx.stack.waitAddress6(iface, (a) => a.startsWith("2001:db8:1:"), 20000);
    const r = await ns.run("ping", ["-6", "-c", "3", "-i", "0.2", "-W", "2", addr]);
    assert.equal(pingSummary(r.stdout).rx, 3, r.stdout + r.stderr);
    // The RDNSS server and the router are in asip's lists (ABI ip6_nd_list_get).
    const s = fx.stack;
    const out = s.addrOut();
    assert.equal(s.ex.ip6_nd_list_get(2, 0, out), iface.index, "an RDNSS entry");
    assert.equal(IpAddress.fromBytes(s.mem().slice(out, out + 16)).toString(), "2001:db8::53");
    assert.equal(s.ex.ip6_nd_list_get(0, 0, out), iface.index, "a default router");
    assert.ok(IpAddress.fromBytes(s.mem().slice(out, out + 16)).toString().startsWith("fe80:"));
    // The address is EUI-64-free by default (RFC 7217): no ff:fe in the middle.
    assert.doesNotMatch(addr, /ff:fe/);
  });
});
