// bindings/ip-address.ts: the one place text addresses become core
// arguments and back. Parsing follows RFC 4291 §2.2 (and RFC 4007 §11 for
// zones), formatting RFC 5952; the checks of lwIP's test_ip6.c (IPv4-mapped
// forms accepted and bogus ones rejected, the longest zero run compressed,
// single zero groups kept) are here too, with RFC 5952's lower case.
import { test } from "node:test";
import assert from "node:assert/strict";
import { IpAddress, isIP, parseCidr, prefixToMask4, IP_ADDR_SIZE } from "../../bindings/ip-address.js";

const fmt = (s: string) => IpAddress.parse(s).toString();

test("IPv4: dotted quads parse and print; junk is refused", () => {
  assert.equal(fmt("192.0.2.1"), "192.0.2.1");
  assert.equal(fmt("0.0.0.0"), "0.0.0.0");
  assert.equal(fmt("255.255.255.255"), "255.255.255.255");
  for (const bad of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "a.b.c.d", "1.2.3.4 ", "", "1..2.3"]) {
    assert.equal(IpAddress.tryParse(bad), undefined, bad);
    assert.throws(() => IpAddress.parse(bad), TypeError);
  }
  const a = IpAddress.parse("192.0.2.1");
  assert.equal(a.family, 4);
  assert.equal(a.core4, 0x010200c0, "the core's network-order u32: memory bytes c0 00 02 01");
  assert.equal(a.v4Int, 0xc0000201);
  assert.equal(IpAddress.fromCore4(0x010200c0).toString(), "192.0.2.1");
  assert.equal(IpAddress.fromV4Int(0xc0000201).toString(), "192.0.2.1");
  assert.deepEqual([...a.bytes()], [192, 0, 2, 1]);
});

test("IPv6: every RFC 4291 §2.2 text form parses; output is RFC 5952", () => {
  // RFC 5952 §4.1 leading zeros; §4.2.1 shorten as much as possible; §4.3 lower case.
  assert.equal(fmt("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  assert.equal(fmt("2001:DB8::1"), "2001:db8::1");
  // §4.2.2: one 16-bit zero field is not "::".
  assert.equal(fmt("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  // §4.2.3: the longest run; the first of equal runs.
  assert.equal(fmt("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
  assert.equal(fmt("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(fmt("::"), "::");
  assert.equal(fmt("::1"), "::1");
  assert.equal(fmt("1::"), "1::");
  assert.equal(fmt("fe80::1:2"), "fe80::1:2");
  assert.equal(fmt("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0", "a single trailing zero group is written out");
  assert.equal(fmt("::2:3:4:5:6:7:8"), "0:2:3:4:5:6:7:8");
  // Embedded IPv4 (RFC 4291 §2.2 form 3); IPv4-mapped printed that way (RFC 5952 §5).
  assert.equal(fmt("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
  assert.equal(fmt("::FFFF:c000:0201"), "::ffff:192.0.2.1");
  assert.equal(fmt("64:ff9b::192.0.2.33"), "64:ff9b::c000:221");
  for (const bad of [":::", "1:::2", "::1::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g", ":1::", "1::2:",
    "1:2:3:4:5:6:7:8::", "::ffff:192.0.2", "::ffff:192.0.2.256", "::192.0.2.1:1", "1.2.3.4::", "fe80::1%", "fe80::1%a%b"]) {
    assert.equal(IpAddress.tryParse(bad), undefined, bad);
  }
});

test("IPv6: zones, special addresses, mapped addresses", () => {
  const ll = IpAddress.parse("fe80::1%tap0");
  assert.equal(ll.zone, "tap0");
  assert.equal(ll.toString(), "fe80::1%tap0");
  assert.ok(ll.isLinkLocal());
  assert.ok(!ll.equals(IpAddress.parse("fe80::1")), "the zone is part of the address");
  assert.ok(IpAddress.parse("::").isUnspecified());
  assert.ok(IpAddress.parse("::1").isLoopback());
  assert.ok(IpAddress.parse("127.1.2.3").isLoopback());
  assert.ok(IpAddress.parse("ff02::1").isMulticast());
  assert.ok(IpAddress.parse("239.1.2.3").isMulticast());
  assert.ok(IpAddress.parse("169.254.0.9").isLinkLocal());
  assert.ok(!IpAddress.parse("fec0::1").isLinkLocal());
  const m = IpAddress.parse("::ffff:192.0.2.7");
  assert.ok(m.isV4Mapped());
  assert.equal(m.toV4()?.toString(), "192.0.2.7");
  assert.equal(IpAddress.parse("192.0.2.7").toV4Mapped().toString(), "::ffff:192.0.2.7");
  assert.equal(IpAddress.parse("2001:db8::1").toV4(), undefined);
  assert.deepEqual([...IpAddress.parse("2001:db8::1").bytes()], [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(IpAddress.fromBytes(IpAddress.parse("2001:db8::1").bytes()).toString(), "2001:db8::1");
});

test("the core's ip_addr: 16 address bytes, type, zone index (docs/abi.md)", () => {
  assert.equal(IP_ADDR_SIZE, 20);
  const mem = new Uint32Array(16);
  IpAddress.parse("2001:db8::1").write(mem, 8, 3);
  const bytes = new Uint8Array(mem.buffer, 8, 20);
  assert.deepEqual([...bytes.subarray(0, 16)], [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(bytes[16], 6, "IPADDR_TYPE_V6");
  assert.equal(bytes[17], 3, "zone index");
  assert.equal(IpAddress.read(mem, 8).toString(), "2001:db8::1%3");
  assert.equal(IpAddress.read(mem, 8, (i) => (i === 3 ? "tap0" : undefined)).toString(), "2001:db8::1%tap0");
  IpAddress.parse("192.0.2.1").write(mem, 8);
  assert.deepEqual([...bytes.subarray(0, 17)], [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(IpAddress.read(mem, 8).toString(), "192.0.2.1");
  bytes.fill(0);
  bytes[16] = 46; // IPADDR_TYPE_ANY
  assert.equal(IpAddress.read(mem, 8).toString(), "::");
});

test("isIP, CIDR and netmasks", () => {
  assert.equal(isIP("192.0.2.1"), 4);
  assert.equal(isIP("2001:db8::1"), 6);
  assert.equal(isIP("example.com"), 0);
  assert.equal(prefixToMask4(24).toString(), "255.255.255.0");
  assert.equal(prefixToMask4(0).toString(), "0.0.0.0");
  assert.equal(prefixToMask4(32).toString(), "255.255.255.255");
  assert.throws(() => prefixToMask4(33), RangeError);
  assert.equal(parseCidr("10.1.2.3/8").prefix, 8);
  assert.equal(parseCidr("10.1.2.3").prefix, 24);
  assert.equal(parseCidr("2001:db8::1/48").prefix, 48);
  assert.equal(parseCidr("2001:db8::1").prefix, 64);
  assert.throws(() => parseCidr("10.1.2.3/33"), RangeError);
});
