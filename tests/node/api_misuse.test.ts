// Host APIs (UDP): behaviour and misuse. node:dgram on asip is compared with
// Node's own dgram on the kernel's loopback (same calls, same error codes);
// netconn's nonblocking mode, receive timeout, callback events and netbufs;
// BSD sockets' errno values, options, select/poll, MSG_PEEK/MSG_TRUNC,
// FIONREAD; streams with AbortSignal. Every test ends leak-free.
import "../../bindings/api/dgram.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import nodeDgram from "node:dgram";
import { AsipError } from "../../bindings/abi.js";
import type { Stack } from "../../bindings/stack.js";
import {
  NETCONN_UDP, NETCONN_TCP, NETCONN_RAW, NETCONN_EVT_RCVPLUS, NETCONN_EVT_RCVMINUS, NETCONN_EVT_ERROR,
} from "../../bindings/api/netconn.js";
import * as S from "../../bindings/api/sockets.js";
import { errno, SocketError } from "../../bindings/api/errno.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, settle, until } from "../helpers/stacks.js";

const B = "192.0.2.2";

async function setup(variant: (typeof VARIANTS)[number]) {
  const st = await twoStacks({ variant });
  // Settle ARP so baselines are stable.
  const w = st.a.raw.udp.new();
  w.sendto(new Uint8Array(1), B, 9);
  await settle(5);
  w.remove();
  await settle();
  return { ...st, baseA: baseline(st.a), baseB: baseline(st.b) };
}

async function finish(a: Stack, b: Stack, baseA: ReturnType<typeof baseline>, baseB: ReturnType<typeof baseline>) {
  await settle();
  assertNoLeaks(a, baseA, "A");
  assertNoLeaks(b, baseB, "B");
  await a.close();
  await b.close();
}

/** Runs a script of dgram calls against a dgram module; returns what each step did. */
async function dgramScript(dgram: { createSocket: (t: "udp4") => nodeDgram.Socket }, localIp: string): Promise<string[]> {
  const out: string[] = [];
  const code = (f: () => unknown): string => {
    try {
      f();
      return "ok";
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  };
  const s = dgram.createSocket("udp4");
  out.push("address unbound: " + code(() => s.address()));
  out.push("remoteAddress unbound: " + code(() => s.remoteAddress()));
  out.push("disconnect unconnected: " + code(() => s.disconnect()));
  out.push("setBroadcast unbound: " + code(() => s.setBroadcast(true)));
  out.push("setTTL unbound: " + code(() => s.setTTL(5)));
  out.push("getRecvBufferSize unbound: " + code(() => s.getRecvBufferSize()));
  // (Node's bind(70000) silently binds port 70000 & 0xffff; asip throws ERR_SOCKET_BAD_PORT: not compared.)
  out.push("send bad port: " + code(() => s.send("x", 0, localIp)));
  out.push("send bad port 2: " + code(() => s.send("x", 65536, localIp)));
  out.push("send bad address type: " + code(() => s.send("x", 9, 42 as unknown as string)));
  out.push("send bad msg: " + code(() => s.send(42 as unknown as string, 9, localIp)));
  out.push("connect port 0: " + code(() => s.connect(0, localIp)));
  await new Promise<void>((r) => s.bind(0, localIp, () => r()));
  out.push("family: " + s.address().family + " bound to " + s.address().address);
  out.push("bind twice: " + code(() => s.bind(0)));
  out.push("setTTL 0: " + code(() => s.setTTL(0)));
  out.push("setTTL 64: " + code(() => s.setTTL(64)));
  out.push("setTTL string: " + code(() => s.setTTL("x" as unknown as number)));
  // A second socket on the same port: EADDRINUSE via 'error'.
  const s2 = dgram.createSocket("udp4");
  const err2 = await new Promise<{ code?: string; syscall?: string }>((r) => {
    s2.on("error", (e) => r(e as { code?: string; syscall?: string }));
    s2.bind(s.address().port, localIp);
  });
  out.push(`bind in use: ${err2.code} ${err2.syscall}`);
  s2.close();
  // Loopback message to ourselves with offset/length and an array of buffers.
  const got: string[] = [];
  s.on("message", (m, rinfo) => got.push(`${m.toString()} from ${rinfo.family} size ${rinfo.size}`));
  const port = s.address().port;
  await new Promise<void>((r) => s.send(Buffer.from("xxhelloxx"), 2, 5, port, localIp, () => r()));
  await new Promise<void>((r) => s.send([Buffer.from("ar"), "ray"], port, localIp, () => r()));
  for (let i = 0; i < 200 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
  out.push(...got);
  // connect, then sending with an address is an error; remoteAddress works.
  await new Promise<void>((r) => s.connect(port, localIp, () => r()));
  out.push("connect twice: " + code(() => s.connect(port, localIp)));
  out.push("send with port when connected: " + code(() => s.send("x", port, localIp)));
  out.push("remote port matches: " + (s.remoteAddress().port === port));
  await new Promise<void>((r) => s.send("conn", (err: Error | null) => { out.push("connected send err: " + err); r(); }));
  for (let i = 0; i < 200 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 2));
  out.push(got[2] ?? "no connected loopback");
  s.disconnect();
  out.push("remoteAddress after disconnect: " + code(() => s.remoteAddress()));
  const closed = new Promise<void>((r) => s.on("close", () => r()));
  s.close();
  await closed;
  out.push("close twice: " + code(() => s.close()));
  out.push("send after close: " + code(() => s.send("x", 9, localIp)));
  out.push("bind after close: " + code(() => s.bind(0)));
  return out;
}

test("dgram on asip behaves like Node's dgram (kernel loopback): same results and error codes", async () => {
  const kernel = await dgramScript(nodeDgram, "127.0.0.1");
  const { a, b, baseA, baseB } = await setup("release");
  // On asip the socket binds to the interface address and loops back through the core.
  const ours = await dgramScript(a.dgram as unknown as typeof nodeDgram, "192.0.2.1");
  assert.deepEqual(ours.map((l) => l.replace("192.0.2.1", "127.0.0.1")), kernel);
  await finish(a, b, baseA, baseB);
});

for (const variant of VARIANTS) {
  test(`${variant}: dgram errors: bad types refused, bind to a foreign address, ICMP refusal on a connected socket`, async () => {
    const { a, b, baseA, baseB } = await setup(variant);
    // 'udp6' is a socket on cores with IPv6 (release, mvp; EAFNOSUPPORT on the ipv4 build: api_ip6_dgram.test.ts).
    const u6 = a.dgram.createSocket("udp6");
    assert.equal(u6.type, "udp6");
    u6.close();
    assert.throws(() => a.dgram.createSocket("tcp" as "udp4"), { code: "ERR_SOCKET_BAD_TYPE" });
    const s = a.dgram.createSocket("udp4");
    const e = await new Promise<Error & { code: string; errno: number; syscall: string }>((r) => {
      s.on("error", r as (e: Error) => void);
      s.bind(5000, "198.51.100.9");
    });
    assert.equal(e.code, "EADDRNOTAVAIL");
    assert.equal(e.errno, -99);
    assert.equal(e.syscall, "bind");
    assert.match(e.message, /^bind EADDRNOTAVAIL 198\.51\.100\.9:5000$/);
    s.close();
    // Connected socket, nobody on the far port: ICMP port unreachable → 'error' ECONNREFUSED (Linux/Node behaviour).
    const c = a.dgram.createSocket("udp4");
    await new Promise<void>((r) => c.connect(4444, B, () => r()));
    const refused = new Promise<Error & { code: string; syscall: string }>((r) => c.once("error", r as (e: Error) => void));
    c.send("anyone?");
    const re = await refused;
    assert.equal(re.code, "ECONNREFUSED");
    assert.equal(re.syscall, "recvmsg");
    await new Promise<void>((r) => c.close(() => r()));
    // Broadcast without setBroadcast: EACCES like Linux; with it: sent.
    const bc = a.dgram.createSocket("udp4");
    await new Promise<void>((r) => bc.bind(0, () => r()));
    const be = await new Promise<Error | null>((r) => bc.send("b", 9, "192.0.2.255", r));
    assert.equal((be as { code?: string })?.code, "EACCES");
    bc.setBroadcast(true);
    const be2 = await new Promise<Error | null>((r) => bc.send("b", 9, "192.0.2.255", r));
    assert.equal(be2, null);
    bc.close();
    // AbortSignal closes the socket.
    const ac = new AbortController();
    const sig = a.dgram.createSocket({ type: "udp4", signal: ac.signal });
    await new Promise<void>((r) => sig.bind(0, () => r()));
    const closed = new Promise<void>((r) => sig.on("close", () => r()));
    ac.abort();
    await closed;
    await finish(a, b, baseA, baseB);
  });

  test(`${variant}: netconn: nonblocking, receive timeout, callback events, netbufs, misuse`, async () => {
    const { a, b, baseA, baseB } = await setup(variant);
    const events: string[] = [];
    const names = ["RCVPLUS", "RCVMINUS", "SENDPLUS", "SENDMINUS", "ERROR"];
    const srv = b.netconn.new(NETCONN_UDP, (_c, evt, len) => events.push(`${names[evt]}:${len}`));
    srv.bind(null, 6000);
    assert.deepEqual(srv.getaddr(true), { addr: "0.0.0.0", port: 6000 });
    // Nonblocking with nothing queued: ERR_WOULDBLOCK.
    srv.setNonblocking(true);
    await assert.rejects(srv.recv(), (e: AsipError) => e.code === "ERR_WOULDBLOCK");
    srv.setNonblocking(false);
    // Receive timeout: ERR_TIMEOUT.
    srv.setRecvTimeout(30);
    const t0 = Date.now();
    await assert.rejects(srv.recv(), (e: AsipError) => e.code === "ERR_TIMEOUT");
    assert.ok(Date.now() - t0 >= 25);
    srv.setRecvTimeout(0);
    // Three datagrams queue (RCVPLUS each), recv takes them (RCVMINUS each).
    const cli = a.netconn.new(NETCONN_UDP);
    cli.bind(null, 0);
    for (const m of ["one", "two", "three"]) {
      const nb = a.netconn.netbuf();
      const view = nb.alloc(m.length); // a core buffer, written in place
      view.set(new TextEncoder().encode(m));
      await cli.sendto(nb, B, 6000);
      nb.delete();
    }
    await until(() => events.length === 3, 2000, "RCVPLUS events");
    assert.deepEqual(events, ["RCVPLUS:3", "RCVPLUS:3", "RCVPLUS:5"]);
    const bufs = [await srv.recv(), await srv.recv(), await srv.recv()];
    assert.deepEqual(events.slice(3), ["RCVMINUS:3", "RCVMINUS:3", "RCVMINUS:5"]);
    assert.deepEqual(bufs.map((x) => new TextDecoder().decode(x.data())), ["one", "two", "three"]);
    assert.equal(bufs[0].fromaddr, "192.0.2.1");
    assert.equal(bufs[0].fromport, cli.getaddr(true).port);
    assert.equal(bufs[2].len, 5);
    assert.equal(bufs[2].next(), -1);
    const part = new Uint8Array(3);
    assert.equal(bufs[2].copy(part, 2), 3);
    assert.equal(new TextDecoder().decode(part), "ree");
    // The netbufs hold core buffers until deleted.
    assert.ok(b.usage().heap > baseB.heap || Object.values(b.usage().pools).some((v, i) => v !== Object.values(baseB.pools)[i]));
    for (const x of bufs) x.delete();
    // A full mailbox drops.
    srv.recvmboxSize = 2;
    for (let i = 0; i < 5; i++) {
      const nb = a.netconn.netbuf();
      nb.ref(new Uint8Array([i]));
      await cli.sendto(nb, B, 6000);
    }
    await until(() => srv.drops >= 3, 2000, "mailbox drops");
    assert.equal(srv.available.count, 2);
    // A pending recv fails with ERR_CLSD when the conn is closed; the queue is freed.
    await srv.close();
    await assert.rejects(srv.recv(), (e: AsipError) => e.code === "ERR_CLSD");
    await assert.rejects(srv.close(), (e: AsipError) => e.code === "ERR_CLSD");
    await srv.delete(); // idempotent
    // Waiting recv rejected by close.
    const c2 = b.netconn.new(NETCONN_UDP);
    c2.bind(null, 6001);
    const pending = c2.recv();
    await c2.close();
    await assert.rejects(pending, (e: AsipError) => e.code === "ERR_CLSD");
    // Misuse: in-use port (ERR_USE), bad address/port, send unconnected, TCP not yet, ICMP error event.
    const u1 = b.netconn.new(NETCONN_UDP);
    u1.bind(null, 6002);
    const u2 = b.netconn.new(NETCONN_UDP);
    assert.throws(() => u2.bind(null, 6002), (e: AsipError) => e.code === "ERR_USE");
    assert.throws(() => u2.bind("1.2.3", 1), TypeError);
    assert.throws(() => u2.bind(null, 70000), RangeError);
    await assert.rejects(u2.send(b.netconn.netbuf()), (e: AsipError) => e.code === "ERR_CONN");
    const t = b.netconn.new(NETCONN_TCP);
    await assert.rejects(t.write(new Uint8Array(1)), (e: AsipError) => e.code === "ERR_CONN"); // TCP: not connected
    await t.delete();
    assert.throws(() => b.netconn.new(0x77), (e: AsipError) => e.code === "ERR_VAL");
    let errEvt = 0;
    const u3 = a.netconn.new(NETCONN_UDP, (_c, evt) => { if (evt === NETCONN_EVT_ERROR) errEvt++; });
    await u3.connect(B, 4999);
    const nb = a.netconn.netbuf();
    nb.ref(new Uint8Array(4));
    await u3.send(nb);
    await until(() => errEvt === 1, 2000, "ICMP error event");
    assert.equal(u3.icmpError?.code, 3);
    assert.equal(NETCONN_EVT_RCVPLUS + NETCONN_EVT_RCVMINUS, 1);
    for (const c of [u1, u2, u3, cli, c2]) await c.delete();
    // A raw netconn sees ICMP (the whole IP packet).
    const r = b.netconn.newWithProto(NETCONN_RAW, 1);
    const ping = a.raw.ip.new(1);
    ping.sendto(Uint8Array.of(8, 0, 0xf7, 0xff, 0, 0, 0, 0), B);
    const pkt = await r.recv();
    assert.equal(pkt.data()[9], 1);
    assert.equal(pkt.fromaddr, "192.0.2.1");
    pkt.delete();
    ping.remove();
    await r.delete();
    await finish(a, b, baseA, baseB);
  });

  test(`${variant}: sockets: errno values, options, MSG_PEEK/MSG_TRUNC, FIONREAD, nonblocking, select/poll`, async () => {
    const { a, b, baseA, baseB } = await setup(variant);
    const so = b.sockets, sa = a.sockets;
    const en = (f: () => unknown) => {
      try {
        f();
        return 0;
      } catch (e) {
        assert.ok(e instanceof SocketError);
        return e.errno;
      }
    };
    const aen = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 0;
      } catch (e) {
        assert.ok(e instanceof SocketError, String(e));
        return e.errno;
      }
    };
    assert.equal(en(() => so.socket(1 /* AF_UNIX */, S.SOCK_DGRAM)), errno.EAFNOSUPPORT);
    assert.equal(en(() => so.socket(S.AF_INET, S.SOCK_STREAM, S.IPPROTO_UDP)), errno.EPROTONOSUPPORT);
    assert.equal(en(() => so.socket(S.AF_INET, 9)), errno.ESOCKTNOSUPPORT);
    assert.equal(en(() => so.bind(99, { family: S.AF_INET, addr: "0.0.0.0", port: 1 })), errno.EBADF);
    assert.equal(so.errno, errno.EBADF);
    const fd = so.socket(S.AF_INET, S.SOCK_DGRAM);
    assert.equal(so.getsockopt(fd, S.SOL_SOCKET, S.SO_TYPE), S.SOCK_DGRAM);
    assert.equal(en(() => so.getpeername(fd)), errno.ENOTCONN);
    assert.equal(en(() => so.bind(fd, { family: S.AF_INET, addr: "198.51.100.10", port: 7 })), errno.EADDRNOTAVAIL);
    assert.equal(en(() => so.bind(fd, { family: S.AF_INET, addr: "0.0.0.0", port: 70000 })), errno.EINVAL);
    so.bind(fd, { family: S.AF_INET, addr: "0.0.0.0", port: 8000 });
    assert.equal(en(() => so.bind(fd, { family: S.AF_INET, addr: "0.0.0.0", port: 8001 })), errno.EINVAL);
    const fd2 = so.socket(S.AF_INET, S.SOCK_DGRAM);
    assert.equal(en(() => so.bind(fd2, { family: S.AF_INET, addr: "0.0.0.0", port: 8000 })), errno.EADDRINUSE);
    assert.deepEqual(so.getsockname(fd), { family: S.AF_INET, addr: "0.0.0.0", port: 8000 });
    assert.equal(en(() => so.listen(fd, 5)), errno.EOPNOTSUPP);
    assert.equal(await aen(() => so.send(fd, new Uint8Array(1))), errno.EDESTADDRREQ);
    assert.equal(en(() => so.getsockopt(fd, S.IPPROTO_TCP, S.TCP_NODELAY)), errno.ENOPROTOOPT);
    so.setsockopt(fd, S.IPPROTO_IP, S.IP_TTL, 9);
    assert.equal(so.getsockopt(fd, S.IPPROTO_IP, S.IP_TTL), 9);
    assert.equal(en(() => so.setsockopt(fd, S.IPPROTO_IP, S.IP_TTL, 300)), errno.EINVAL);
    so.setsockopt(fd, S.SOL_SOCKET, S.SO_RCVBUF, 4096);
    assert.equal(so.getsockopt(fd, S.SOL_SOCKET, S.SO_RCVBUF), 8192);
    so.setsockopt(fd, S.SOL_SOCKET, S.SO_LINGER, { onoff: 1, linger: 3 });
    assert.deepEqual(so.getsockopt(fd, S.SOL_SOCKET, S.SO_LINGER), { onoff: 1, linger: 3 });
    // Nonblocking three ways.
    assert.equal(so.fcntl(fd, S.F_GETFL) & S.O_NONBLOCK, 0);
    so.fcntl(fd, S.F_SETFL, S.O_NONBLOCK);
    const buf = new Uint8Array(4);
    assert.equal(await aen(() => so.recv(fd, buf)), errno.EAGAIN);
    so.ioctl(fd, S.FIONBIO, 0);
    assert.equal(await aen(() => so.recv(fd, buf, S.MSG_DONTWAIT)), errno.EAGAIN);
    // SO_RCVTIMEO: EAGAIN after the timeout.
    so.setsockopt(fd, S.SOL_SOCKET, S.SO_RCVTIMEO, 20);
    assert.equal(await aen(() => so.recv(fd, buf)), errno.EAGAIN);
    so.setsockopt(fd, S.SOL_SOCKET, S.SO_RCVTIMEO, 0);
    // select: nothing readable yet (timeout 0), writable at once.
    const rs = new Set([fd]), ws = new Set([fd]);
    assert.equal(await so.select(fd + 1, rs, ws, null, 0), 1);
    assert.deepEqual([...rs, ...ws], [fd]);
    // A recv waiting in select wakes when a datagram arrives.
    const c = sa.socket(S.AF_INET, S.SOCK_DGRAM);
    const rs2 = new Set([fd]);
    const sel = so.select(fd + 1, rs2, null, null, 2000);
    await sa.sendto(c, new TextEncoder().encode("0123456789"), 0, { family: S.AF_INET, addr: B, port: 8000 });
    assert.equal(await sel, 1);
    assert.ok(rs2.has(fd));
    assert.equal(so.ioctl(fd, S.FIONREAD), 10);
    // MSG_PEEK leaves it; a short buffer truncates (MSG_TRUNC reports the real length).
    assert.equal(await so.recv(fd, buf, S.MSG_PEEK), 4);
    const from = { family: 0, addr: "", port: 0 };
    assert.equal(await so.recvfrom(fd, buf, S.MSG_TRUNC, from), 10);
    assert.equal(new TextDecoder().decode(buf), "0123");
    assert.equal(from.addr, "192.0.2.1");
    assert.equal(so.ioctl(fd, S.FIONREAD), 0);
    // recvmsg with two iovecs and MSG_TRUNC in flags; sendmsg gathers.
    await sa.sendmsg(c, { name: { family: S.AF_INET, addr: B, port: 8000 }, iov: [Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5)] });
    const pfd = [{ fd, events: S.POLLIN, revents: 0 }];
    assert.equal(await so.poll(pfd, 2000), 1);
    assert.equal(pfd[0].revents & S.POLLIN, S.POLLIN);
    const msg = { iov: [new Uint8Array(2), new Uint8Array(2)] } as S.MsgHdr;
    assert.equal(await so.recvmsg(fd, msg), 4);
    assert.equal(msg.flags, S.MSG_TRUNC);
    assert.deepEqual([...msg.iov[0], ...msg.iov[1]], [1, 2, 3, 4]);
    // Connected datagram socket to a closed port: the ICMP error comes back as ECONNREFUSED (SO_ERROR, then the next call).
    await sa.connect(c, { family: S.AF_INET, addr: B, port: 8999 });
    await sa.send(c, Uint8Array.of(1));
    const p2 = [{ fd: c, events: S.POLLIN, revents: 0 }];
    await sa.poll(p2, 2000);
    assert.equal(p2[0].revents & S.POLLERR, S.POLLERR);
    assert.equal(sa.getsockopt(c, S.SOL_SOCKET, S.SO_ERROR), errno.ECONNREFUSED);
    assert.equal(sa.getsockopt(c, S.SOL_SOCKET, S.SO_ERROR), 0);
    assert.equal(sa.getpeername(c).port, 8999);
    // A recv blocked when the descriptor is closed: EBADF. Double close: EBADF.
    const blocked = aen(() => so.recv(fd, buf));
    await so.close(fd);
    assert.equal(await blocked, errno.EBADF);
    assert.equal(await aen(() => so.close(fd)), errno.EBADF);
    // inet_pton / inet_ntop.
    assert.deepEqual(so.inet_pton(S.AF_INET, "192.0.2.33"), Uint8Array.of(192, 0, 2, 33));
    assert.equal(so.inet_pton(S.AF_INET, "192.0.2.256"), 0);
    assert.equal(so.inet_ntop(S.AF_INET, Uint8Array.of(10, 1, 2, 3)), "10.1.2.3");
    assert.equal(so.htons(0x1234), 0x3412);
    await so.close(fd2);
    await sa.close(c);
    assert.deepEqual(so.open, []);
    await finish(a, b, baseA, baseB);
  });

  test(`${variant}: streams: UDP with a slow reader drops past the high-water mark; AbortSignal errors the streams`, async () => {
    const { a, b, baseA, baseB } = await setup(variant);
    const srv = b.streams.udp({ localPort: 9000, readableHighWaterMark: 4 });
    const { readable } = await srv.opened;
    const cli = a.raw.udp.new();
    for (let i = 0; i < 10; i++) cli.sendto(Uint8Array.of(i), B, 9000);
    await until(() => srv.dropped === 6, 2000, "drops");
    const r = readable.getReader();
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await r.read()).value!.data[0]);
    assert.deepEqual(got, [0, 1, 2, 3]);
    r.releaseLock();
    await srv.close();
    // Abort: opened already; the readable errors with the reason, closed rejects.
    const ac = new AbortController();
    const u = b.streams.udp({ localPort: 9001, signal: ac.signal });
    const o = await u.opened;
    const reason = new Error("stop");
    ac.abort(reason);
    await assert.rejects(o.readable.getReader().read(), (e) => e === reason);
    await assert.rejects(u.closed, (e) => e === reason);
    // Already-aborted signal: opened rejects.
    const u2 = b.streams.udp({ localPort: 9002, signal: AbortSignal.abort(reason) });
    await assert.rejects(u2.opened, (e) => e === reason);
    // Bad arguments reject opened.
    await assert.rejects(b.streams.udp({ localPort: 70000 }).opened, RangeError);
    await assert.rejects(b.streams.udp({ localAddress: "x" }).opened, TypeError);
    // Unconnected write without an address errors the writable.
    const u3 = b.streams.udp();
    const w = (await u3.opened).writable.getWriter();
    await assert.rejects(w.write({ data: new Uint8Array(1) }), TypeError);
    await u3.close();
    cli.remove();
    await finish(a, b, baseA, baseB);
  });
}
