// BSD sockets and netconn on both families (release build): AF_INET6 with
// sockaddr_in6, dual-stack sockets reaching IPv4 peers through IPv4-mapped
// addresses, IPV6_V6ONLY, IPV6_UNICAST_HOPS, inet_pton/ntop; NETCONN_*_IPV6.
// The errno values expected are what the Linux kernel answers for the same
// calls (checked with Python's socket module on Linux 6, ipv6(7)).
// In-thread and through a Worker (Promise RPC), data both ways, pools after.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as S from "../../bindings/api/sockets.js";
import * as NC from "../../bindings/api/netconn.js";
import { errno } from "../../bindings/api/errno.js";
import { tcpStacks, noLeaks, A, B } from "./api_tcp_common.js";
import { twoWorkers, workersNoLeaks } from "../helpers/workers.js";

type SocketsLike = {
  socket(d: number, t: number, p?: number): number | Promise<number>;
  bind(fd: number, sa: S.SockAddr): number | Promise<number>;
  listen(fd: number, b?: number): number | Promise<number>;
  accept(fd: number, addr?: S.SockAddr): Promise<number>;
  connect(fd: number, sa: S.SockAddr): Promise<number>;
  send(fd: number, b: Uint8Array, f?: number): Promise<number>;
  recv(fd: number, b: Uint8Array, f?: number): Promise<number>;
  sendto(fd: number, b: Uint8Array, f: number, to: S.SockAddr): Promise<number>;
  recvfrom(fd: number, b: Uint8Array, f: number, from: S.SockAddr): Promise<number>;
  getsockname(fd: number): S.SockAddr | Promise<S.SockAddr>;
  getpeername(fd: number): S.SockAddr | Promise<S.SockAddr>;
  setsockopt(fd: number, l: number, n: number, v: number): number | Promise<number>;
  getsockopt(fd: number, l: number, n: number): unknown;
  close(fd: number): Promise<number> | number;
  inet_pton(af: number, s: string): Uint8Array | 0;
  inet_ntop(af: number, b: Uint8Array): string;
};

async function en(f: () => unknown): Promise<number> {
  try {
    await f();
  } catch (e) {
    return (e as { errno: number }).errno;
  }
  return 0;
}

const six = (addr: string, port: number): S.SockAddr => ({ family: S.AF_INET6, addr, port, flowinfo: 0, scopeId: 0 });
const four = (addr: string, port: number): S.SockAddr => ({ family: S.AF_INET, addr, port });

async function readAll(so: SocketsLike, fd: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const b = new Uint8Array(Math.min(65536, n - got));
    const k = await so.recv(fd, b);
    if (k === 0) break;
    out.set(b.subarray(0, k), got);
    got += k;
  }
  return out.subarray(0, got);
}
async function writeAll(so: SocketsLike, fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await so.send(fd, data.subarray(off, off + 65536));
}

/** The scenarios, on the sockets of stack B (server) and A (client). */
async function scenarios(sa: SocketsLike, sb: SocketsLike): Promise<void> {
  // Options and their errors (ipv6(7)).
  const u = await sb.socket(S.AF_INET6, S.SOCK_DGRAM);
  assert.equal(await sb.getsockopt(u, S.IPPROTO_IPV6, S.IPV6_V6ONLY), 0);
  assert.equal(await sb.getsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS), 64);
  await sb.setsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, 9);
  assert.equal(await sb.getsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS), 9);
  await sb.setsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, -1);
  assert.equal(await sb.getsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS), 64);
  assert.equal(await en(() => sb.setsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, 256)), errno.EINVAL);
  assert.equal(await en(() => sb.setsockopt(u, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, -2)), errno.EINVAL);
  assert.equal(await en(() => sb.bind(u, four("0.0.0.0", 0))), errno.EINVAL);
  assert.equal(await en(() => sb.bind(u, six("0.0.0.0", 0))), errno.EINVAL);
  assert.equal(await en(() => sb.bind(u, six("2001:db8::99", 0))), errno.EADDRNOTAVAIL);
  // Without MLD in the core: ENOPROTOOPT; with it, a bad ipv6_mreq is EFAULT.
  const mld: number[] = [errno.ENOPROTOOPT, errno.EFAULT];
  assert.ok(mld.includes(await en(() => sb.setsockopt(u, S.IPPROTO_IPV6, S.IPV6_JOIN_GROUP, 0))));
  await sb.bind(u, six("::", 0));
  assert.equal(await en(() => sb.setsockopt(u, S.IPPROTO_IPV6, S.IPV6_V6ONLY, 1)), errno.EINVAL);
  const uname = await sb.getsockname(u);
  assert.deepEqual({ ...uname, port: 0 }, six("::", 0));
  const u4 = await sa.socket(S.AF_INET, S.SOCK_DGRAM);
  assert.equal(await en(() => sa.getsockopt(u4, S.IPPROTO_IPV6, S.IPV6_V6ONLY)), errno.EOPNOTSUPP);
  assert.equal(await en(() => sa.setsockopt(u4, S.IPPROTO_IPV6, S.IPV6_UNICAST_HOPS, 3)), errno.ENOPROTOOPT);

  // UDP: a dual-stack AF_INET6 socket hears an AF_INET one as ::ffff:a.b.c.d and answers it there, 3 times.
  for (let i = 0; i < 3; i++) {
    await sa.sendto(u4, Uint8Array.of(i, 1, 2), 0, four(B, uname.port));
    const from = {} as S.SockAddr;
    const b = new Uint8Array(16);
    const n = await sb.recvfrom(u, b, 0, from);
    assert.equal(n, 3);
    assert.deepEqual({ ...from, port: 0 }, six(`::ffff:${A}`, 0));
    await sb.sendto(u, b.subarray(0, n), 0, from);
    const back = {} as S.SockAddr;
    const r = new Uint8Array(16);
    assert.equal(await sa.recvfrom(u4, r, 0, back), 3);
    assert.deepEqual(back, four(B, uname.port));
    assert.equal(r[0], i);
  }
  await sa.close(u4);
  await sb.close(u);

  // An IPv6-only UDP socket cannot send to a mapped address.
  const u6 = await sa.socket(S.AF_INET6, S.SOCK_DGRAM);
  await sa.setsockopt(u6, S.IPPROTO_IPV6, S.IPV6_V6ONLY, 1);
  assert.equal(await sa.getsockopt(u6, S.IPPROTO_IPV6, S.IPV6_V6ONLY), 1);
  assert.equal(await en(() => sa.sendto(u6, Uint8Array.of(1), 0, six(`::ffff:${B}`, 9))), errno.ENETUNREACH);
  assert.equal(await en(() => sa.bind(u6, six(`::ffff:${A}`, 0))), errno.EINVAL);
  await sa.close(u6);

  // TCP: an AF_INET6 listener on '::' accepts AF_INET and AF_INET6 (mapped) clients; 256 KiB each way at once.
  const l = await sb.socket(S.AF_INET6, S.SOCK_STREAM);
  await sb.bind(l, six("::", 0));
  await sb.listen(l, 4);
  const lport = (await sb.getsockname(l)).port;
  assert.deepEqual(await sb.getsockname(l), six("::", lport));
  for (const clientFamily of [S.AF_INET, S.AF_INET6, S.AF_INET]) {
    const c = await sa.socket(clientFamily, S.SOCK_STREAM);
    const conn = sa.connect(c, clientFamily === S.AF_INET ? four(B, lport) : six(`::ffff:${B}`, lport));
    const peer = {} as S.SockAddr;
    const s = await sb.accept(l, peer);
    await conn;
    const cname = await sa.getsockname(c);
    assert.deepEqual(peer, six(`::ffff:${A}`, cname.port));
    assert.deepEqual(await sb.getpeername(s), six(`::ffff:${A}`, cname.port));
    assert.deepEqual(await sb.getsockname(s), six(`::ffff:${B}`, lport));
    if (clientFamily === S.AF_INET6) {
      assert.deepEqual(cname, six(`::ffff:${A}`, cname.port));
      assert.deepEqual(await sa.getpeername(c), six(`::ffff:${B}`, lport));
    } else {
      assert.deepEqual(cname, four(A, cname.port));
    }
    const up = new Uint8Array(256 * 1024).map((_, i) => i * 7);
    const down = new Uint8Array(256 * 1024).map((_, i) => i * 13);
    const [gotDown, gotUp] = await Promise.all([
      (async () => { const w = writeAll(sa, c, up); const r = await readAll(sa, c, down.length); await w; return r; })(),
      (async () => { const w = writeAll(sb, s, down); const r = await readAll(sb, s, up.length); await w; return r; })(),
    ]);
    assert.deepEqual(gotUp, up);
    assert.deepEqual(gotDown, down);
    await sa.close(c);
    await sb.close(s);
  }
  await sb.close(l);

  // IPV6_V6ONLY listener: an IPv4 client is refused; an AF_INET6 client connecting to a mapped address from an IPv6-only socket: ENETUNREACH.
  const l6 = await sb.socket(S.AF_INET6, S.SOCK_STREAM);
  await sb.setsockopt(l6, S.IPPROTO_IPV6, S.IPV6_V6ONLY, 1);
  await sb.bind(l6, six("::", 0));
  await sb.listen(l6, 4);
  const p6 = (await sb.getsockname(l6)).port;
  const c4 = await sa.socket(S.AF_INET, S.SOCK_STREAM);
  assert.equal(await en(() => sa.connect(c4, four(B, p6))), errno.ECONNREFUSED);
  await sa.close(c4);
  const c6 = await sa.socket(S.AF_INET6, S.SOCK_STREAM);
  await sa.setsockopt(c6, S.IPPROTO_IPV6, S.IPV6_V6ONLY, 1);
  assert.equal(await en(() => sa.connect(c6, six(`::ffff:${B}`, p6))), errno.ENETUNREACH);
  assert.equal(await en(() => sa.connect(c6, four(B, p6))), errno.EAFNOSUPPORT);
  await sa.close(c6);
  await sb.close(l6);

  // inet_pton / inet_ntop for AF_INET6.
  assert.deepEqual(sa.inet_pton(S.AF_INET6, "2001:db8::1"), Uint8Array.of(0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  assert.equal(sa.inet_pton(S.AF_INET6, "2001:db8::1::2"), 0);
  assert.equal(sa.inet_pton(S.AF_INET6, "192.0.2.1"), 0);
  assert.equal(sa.inet_ntop(S.AF_INET6, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1)), "::ffff:192.0.2.1");
  assert.equal(sa.inet_ntop(S.AF_INET6, Uint8Array.of(0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)), "2001:db8::1");
}

test("ip6 sockets: AF_INET6 on an IPv4-only core is EAFNOSUPPORT; NETCONN_*_IPV6 is ERR_VAL", async () => {
  const { a, b } = await tcpStacks("ipv4");
  try {
    assert.throws(() => a.sockets.socket(S.AF_INET6, S.SOCK_STREAM), { errno: errno.EAFNOSUPPORT });
    assert.throws(() => a.netconn.new(NC.NETCONN_TCP_IPV6), { code: "ERR_VAL" });
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 sockets: AF_INET6 scenarios, in-thread (release build)", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  try {
    await scenarios(a.sockets as unknown as SocketsLike, b.sockets as unknown as SocketsLike);
    await noLeaks(a, baseA, b, baseB);
  } finally {
    a.close();
    b.close();
  }
});

test("ip6 sockets: AF_INET6 scenarios through a Worker (release build)", async () => {
  const { a, b, baseA, baseB } = await twoWorkers("release");
  try {
    await scenarios(a.sockets as unknown as SocketsLike, b.sockets as unknown as SocketsLike);
    await workersNoLeaks(a, baseA, b, baseB);
  } finally {
    await a.close();
    await b.close();
  }
});

test("ip6 netconn: NETCONN_TCP_IPV6 and NETCONN_UDP_IPV6 are dual-stack until setIpv6Only; addresses stay IPv4", async () => {
  const { a, b, baseA, baseB } = await tcpStacks("release");
  try {
    assert.equal(NC.NETCONN_TCP_IPV6, 0x18);
    assert.equal(NC.NETCONN_UDP_IPV6, 0x28);
    assert.equal(NC.NETCONN_RAW_IPV6, 0x48);
    const l = b.netconn.new(NC.NETCONN_TCP_IPV6);
    l.bind(null, 7000);
    assert.deepEqual(l.addr(), { addr: "::", port: 7000 });
    l.listen();
    const c = a.netconn.new(NC.NETCONN_TCP);
    const acc = l.accept();
    await c.connect(B, 7000);
    const s = await acc;
    assert.deepEqual(s.peer().addr, A);
    await c.write(Uint8Array.of(1, 2, 3));
    const got = await s.recv();
    assert.deepEqual(got.copy(), Uint8Array.of(1, 2, 3));
    got.delete();
    await c.close();
    await s.close();
    await l.close();

    const v6 = b.netconn.new(NC.NETCONN_TCP_IPV6);
    v6.setIpv6Only(true);
    assert.equal(v6.getIpv6Only(), true);
    v6.bind(null, 7001);
    v6.listen();
    const c2 = a.netconn.new(NC.NETCONN_TCP);
    await assert.rejects(c2.connect(B, 7001), { code: "ERR_RST" });
    await c2.close().catch(() => {});
    await v6.close();
    const c4 = a.netconn.new(NC.NETCONN_UDP);
    assert.throws(() => c4.setIpv6Only(true), { code: "ERR_VAL" });
    await c4.close();

    const u = b.netconn.new(NC.NETCONN_UDP_IPV6);
    u.bind(null, 7002);
    const cu = a.netconn.new(NC.NETCONN_UDP);
    const nb = a.netconn.netbuf();
    nb.ref(Uint8Array.of(5));
    await cu.sendto(nb, B, 7002);
    nb.delete();
    const d = await u.recv();
    assert.equal(d.fromaddr, A);
    d.delete();
    await cu.close();
    await u.close();
    await noLeaks(a, baseA, b, baseB);
  } finally {
    a.close();
    b.close();
  }
});
