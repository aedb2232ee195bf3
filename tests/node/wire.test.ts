// bindings/wire: the packet formats hosts read and build themselves (the
// gateway, the web demo's log, tests playing a peer) — builders against
// fixed checksums, parse ← build round trips, and odd input refused quietly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { IpAddress } from "../../bindings/ip-address.js";
import { rd16, wr16 } from "../../bindings/wire/bytes.js";
import { inetChecksum, onesSum, checksumAdjust, pseudoHeaderSum } from "../../bindings/wire/checksum.js";
import { ethFrame, ETHTYPE_IPV4, ETHTYPE_ARP } from "../../bindings/wire/ethernet.js";
import { ARP_LEN, ARP_REQUEST, parseArp, writeArp } from "../../bindings/wire/arp.js";
import { ipv4Packet, ipv4Valid, IP_PROTO_TCP, IP_PROTO_UDP } from "../../bindings/wire/ipv4.js";
import { tcpSegment, icmpMessage, TCP_SYN, TCP_ACK_FLAG, ICMP_ECHO } from "../../bindings/wire/transport.js";
import { dhcpOptions, BOOTP_LEN, DHCP_MAGIC } from "../../bindings/wire/dhcp.js";
import { dnsName } from "../../bindings/wire/dns.js";
import { decodeFrame } from "../../bindings/wire/decode.js";

const A = (s: string) => IpAddress.parse(s);
const MAC1 = [2, 0, 0, 0, 0, 1], MAC2 = [2, 0, 0, 0, 0, 2];

test("checksums: RFC 1071's example, RFC 1624's update, pseudo headers of both families", () => {
  // RFC 1071 §3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assert.equal(onesSum(b, 0, 8), 0xddf2);
  assert.equal(inetChecksum(b, 0, 8), 0x220d);
  // Change one word and adjust instead of summing again.
  const c = inetChecksum(b, 0, 8);
  wr16(b, 2, 0x1234);
  assert.equal(checksumAdjust(c, 0xf203, 0x1234), inetChecksum(b, 0, 8));
  // UDP 1234 → 53 "hello" (the same vectors as tests/assembly/ip.spec.ts).
  const u = Uint8Array.of(0x04, 0xd2, 0x00, 0x35, 0x00, 0x0d, 0, 0, 0x68, 0x65, 0x6c, 0x6c, 0x6f);
  assert.equal(inetChecksum(u, 0, 13, pseudoHeaderSum(A("2001:db8::1"), A("2001:db8::2"), IP_PROTO_UDP, 13)), 0x5b86);
  assert.equal(inetChecksum(u, 0, 13, pseudoHeaderSum(A("192.0.2.1"), A("192.0.2.2"), IP_PROTO_UDP, 13)), 0x32f7);
});

test("IPv4 + TCP: a built SYN decodes to what was built and verifies", () => {
  const seg = tcpSegment(A("192.0.2.1"), A("192.0.2.2"), { sport: 1234, dport: 80, seq: 0xfffffff0, ack: 0, flags: TCP_SYN, win: 65535, options: [2, 4, 5, 0xb4] });
  assert.equal(inetChecksum(seg, 0, seg.length, pseudoHeaderSum(A("192.0.2.1"), A("192.0.2.2"), IP_PROTO_TCP, seg.length)), 0, "checksum verifies");
  const ip = ipv4Packet(A("192.0.2.1").v4Int, A("192.0.2.2").v4Int, IP_PROTO_TCP, seg, { ttl: 7, id: 99, df: true });
  assert.equal(inetChecksum(ip, 0, 20), 0, "header checksum verifies");
  const f = ethFrame(MAC2, MAC1, ETHTYPE_IPV4, ip);
  assert.ok(ipv4Valid(f, 14));
  const d = decodeFrame(f)!;
  assert.equal(d.src, "02:00:00:00:00:01");
  assert.deepEqual(d.ip, { src: "192.0.2.1", dst: "192.0.2.2", proto: 6, ttl: 7, id: 99, totalLength: 44, headerLength: 20, fragOffset: 0, moreFragments: false });
  assert.deepEqual(d.tcp, { sport: 1234, dport: 80, seq: 0xfffffff0, ack: 0, flags: TCP_SYN, win: 65535, length: 0, payload: 14 + 20 + 24 });
  // Over IPv6 the pseudo header differs: the same segment's checksum too.
  const seg6 = tcpSegment(A("2001:db8::1"), A("2001:db8::2"), { sport: 1, dport: 2, seq: 3, ack: 4, flags: TCP_ACK_FLAG, win: 5, data: [1, 2, 3] });
  assert.equal(inetChecksum(seg6, 0, seg6.length, pseudoHeaderSum(A("2001:db8::1"), A("2001:db8::2"), IP_PROTO_TCP, seg6.length)), 0);
});

test("ARP and ICMP round-trip; short and odd frames decode to what fits", () => {
  const a = new Uint8Array(ARP_LEN);
  writeArp(a, 0, { op: ARP_REQUEST, sha: Uint8Array.from(MAC1), spa: A("192.0.2.1").v4Int, tha: new Uint8Array(6), tpa: A("192.0.2.9").v4Int });
  const f = ethFrame([255, 255, 255, 255, 255, 255], MAC1, ETHTYPE_ARP, a);
  assert.equal(parseArp(f, 14)?.tpa, A("192.0.2.9").v4Int);
  assert.deepEqual(decodeFrame(f)?.arp, { op: 1, senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetMac: "00:00:00:00:00:00", targetIp: "192.0.2.9" });
  assert.equal(parseArp(f.subarray(0, 41), 14), undefined, "27 bytes of ARP");
  const echo = icmpMessage(ICMP_ECHO, 0, 0x00010002, [9, 9]);
  assert.equal(inetChecksum(echo, 0, echo.length), 0);
  const e = decodeFrame(ethFrame(MAC2, MAC1, ETHTYPE_IPV4, ipv4Packet(1, 2, 1, echo)))!;
  assert.deepEqual(e.icmp, { type: 8, code: 0, id: 1, seq: 2 });
  assert.equal(decodeFrame(new Uint8Array(13)), undefined, "a runt");
  const cut = ethFrame(MAC2, MAC1, ETHTYPE_IPV4, ipv4Packet(1, 2, IP_PROTO_TCP, new Uint8Array(20))).subarray(0, 14 + 30);
  const dc = decodeFrame(cut)!;
  assert.ok(dc.ip && !dc.tcp, "the IP header, no TCP header that does not fit");
  assert.equal(ipv4Valid(cut, 14), false);
});

test("DHCP options and DNS names refuse malformed input", () => {
  const m = new Uint8Array(BOOTP_LEN + 12);
  new DataView(m.buffer).setUint32(BOOTP_LEN, DHCP_MAGIC);
  m.set([53, 1, 1, 0, 255], BOOTP_LEN + 4);
  assert.deepEqual([...dhcpOptions(m)!.get(53)!], [1]);
  m.set([53, 9], BOOTP_LEN + 4);
  assert.equal(dhcpOptions(m), undefined, "an option running past the message");
  assert.equal(dhcpOptions(m.subarray(0, BOOTP_LEN + 3)), undefined, "no magic cookie");
  const q = Uint8Array.of(3, 0x77, 0x77, 0x77, 7, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 3, 0x63, 0x6f, 0x6d, 0, 0, 1);
  assert.deepEqual(dnsName(q, 0), ["www.example.com", 17]);
  assert.equal(dnsName(Uint8Array.of(64, ...new Uint8Array(64), 0), 0), undefined, "a label over 63");
  assert.equal(dnsName(Uint8Array.of(3, 0x61), 0), undefined, "cut short");
  assert.equal(rd16(q, 17), 1);
});
