// The family rules every host API shares (bindings/api/family.ts), the IPv6
// address state names, the Stack's IPv6 interface options on cores without
// the IPv6 address ABI, and `asip up`'s IPv6 argument errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { IpAddress } from "../../bindings/ip-address.js";
import { pcbPlan, connectIpType, socketAddress, coreAddress, familyName } from "../../bindings/api/family.js";
import { Stack, ip6StateName } from "../../bindings/stack.js";
import { pair } from "../../bindings/netif/pair.js";

const P = (s: string) => IpAddress.parse(s);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

test("family: pcb family and bind address of each socket kind (ipv6(7))", () => {
  assert.deepEqual(pcbPlan(4, P("0.0.0.0"), false), { ipType: 4, ip: "0.0.0.0" });
  assert.deepEqual(pcbPlan(4, P("192.0.2.1"), false), { ipType: 4, ip: "192.0.2.1" });
  assert.equal(pcbPlan(4, P("::"), false), undefined);
  assert.deepEqual(pcbPlan(6, P("::"), false), { ipType: 46, ip: "::" });
  assert.deepEqual(pcbPlan(6, P("::"), true), { ipType: 6, ip: "::" });
  assert.deepEqual(pcbPlan(6, P("::ffff:192.0.2.1"), false), { ipType: 46, ip: "192.0.2.1" });
  assert.equal(pcbPlan(6, P("::ffff:192.0.2.1"), true), undefined);
  assert.deepEqual(pcbPlan(6, P("2001:DB8::1"), false), { ipType: 6, ip: "2001:db8::1" });
  assert.equal(pcbPlan(6, P("192.0.2.1"), false), undefined);
  assert.equal(connectIpType(6, P("2001:db8::1"), false), 6);
  assert.equal(connectIpType(6, P("::ffff:192.0.2.1"), false), 46);
  assert.equal(connectIpType(6, P("::ffff:192.0.2.1"), true), undefined);
  assert.equal(connectIpType(4, P("192.0.2.1"), false), 4);
  assert.equal(connectIpType(4, P("2001:db8::1"), false), undefined);
  assert.equal(socketAddress("192.0.2.1", 6), "::ffff:192.0.2.1");
  assert.equal(socketAddress("192.0.2.1", 4), "192.0.2.1");
  assert.equal(socketAddress("2001:db8::1", 6), "2001:db8::1");
  assert.equal(coreAddress(P("::ffff:192.0.2.1")).toString(), "192.0.2.1");
  assert.equal(coreAddress(P("2001:db8::1")).toString(), "2001:db8::1");
  assert.equal(familyName("::ffff:192.0.2.1"), "IPv6");
  assert.equal(familyName("192.0.2.1"), "IPv4");
});

test("ip6StateName: the core's IP6_ADDR_* values", () => {
  assert.equal(ip6StateName(0), "invalid");
  for (let probes = 0; probes < 8; probes++) assert.equal(ip6StateName(0x08 + probes), "tentative");
  assert.equal(ip6StateName(0x30), "preferred");
  assert.equal(ip6StateName(0x10), "deprecated");
  assert.equal(ip6StateName(0x40), "duplicated");
});

test("Stack: IPv6 interface options need a core with IPv6, and say so", async () => {
  const v4 = await Stack.create({ variant: "ipv4" });
  assert.equal(v4.ipv6, false);
  const [e1, e2] = pair();
  assert.throws(() => v4.addInterface(e1, { ip: "192.0.2.1/24", ip6: "2001:db8::1/64" }), /need a core with IPv6/);
  const i = v4.addInterface(e2, { ip: "192.0.2.1/24" });
  assert.throws(() => v4.addAddress6(i, "2001:db8::1/64"), /no IPv6/);
  await v4.close();
  const dual = await Stack.create({ variant: "release" }); // release carries IPv6
  assert.equal(dual.ipv6, true);
  const [d1] = pair();
  const di = dual.addInterface(d1, { ip: "192.0.2.1/24" });
  if (typeof dual.ex.netif_ip6_add === "function") {
    assert.throws(() => dual.addAddress6(di, "192.0.2.9/24"), TypeError);
    assert.throws(() => dual.addAddress6(di, "::ffff:192.0.2.9/64"), TypeError);
  } else {
    assert.throws(() => dual.addAddress6(di, "2001:db8::1/64"), /no netif_ip6_add export/);
  }
  await dual.close();
});

test("asip up: --ip6 argument errors are one `asip: ` line and a non-zero exit", () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, "bin/asip.js"), "up", ...args], { encoding: "utf8" });
  for (const bad of ["192.0.2.1/24", "ff02::1/64", "::/64", "::1/128", "2001:db8::1/129", "fe80::1%eth0/64", "::ffff:192.0.2.1/64", "nonsense"]) {
    const r = run("--tap", "asipnone0", "--ip6", bad);
    assert.notEqual(r.status, 0, bad);
    assert.equal(r.stderr.trim(), `asip: --ip6 takes a unicast IPv6 ADDR/PREFIX, not ${bad}`);
  }
  const r = run("--ip6", "2001:db8::2/64");
  assert.match(r.stderr, /^asip: interface options must follow --tap NAME/);
  // The IPv4-only build refuses before any TAP is opened.
  const nov6 = run("--variant", "ipv4", "--tap", "asipnone0", "--ip6", "2001:db8::2/64");
  assert.notEqual(nov6.status, 0);
  assert.equal(nov6.stderr.trim(), "asip: --ip6 and --no-slaac need a core with IPv6 (--variant ipv4 has none)");
  const noslaac = run("--variant", "ipv4", "--tap", "asipnone0", "--no-slaac");
  assert.equal(noslaac.stderr.trim(), "asip: --ip6 and --no-slaac need a core with IPv6 (--variant ipv4 has none)");
});
