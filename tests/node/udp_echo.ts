// UDP echo servers and clients written against each host API (raw,
// netconn, sockets, dgram, streams), shared by the in-thread test
// (api_udp.test.ts) and Worker mode (api_worker_cross.test.ts): the same
// code runs against a Stack and against a StackWorker's APIs (calls that
// return Promises in Worker mode are awaited; awaiting a value is harmless).
// Not a test file itself.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { DgramApi } from "../../bindings/api/dgram.js";
import type { StreamsApi } from "../../bindings/api/streams.js";
import { NETCONN_UDP, NETCONN_UDP_IPV6 } from "../../bindings/api/netconn.js";
import { AF_INET, AF_INET6, SOCK_DGRAM } from "../../bindings/api/sockets.js";
import { FAM4, rawTarget, type Fam } from "./api_echo.js";
import { until } from "../helpers/stacks.js";

/** A Stack or a StackWorker's APIs (raw, netconn, sockets typed loosely: values in-thread, Promises or remote objects in Worker mode). */
export interface UdpApis {
  raw: any;
  netconn: any;
  sockets: any;
  dgram: DgramApi;
  streams: StreamsApi;
}

const B = "192.0.2.2";

type Stop = () => Promise<void>;

/** Echo servers: start on `stack` at `port`, return a stopper. */
export const udpServers: Record<string, (s: UdpApis, port: number, f?: Fam) => Promise<Stop>> = {
  async raw(s, port, f = FAM4) {
    const pcb = f.v6 ? s.raw.udp.new({ ipType: 46 }).bind("::", port) : s.raw.udp.new().bind("0.0.0.0", port);
    pcb.recv((data: Uint8Array, addr: string, p: number) => pcb.sendto(data, addr, p));
    await pcb.ready; // Worker mode: bound in the core once this resolves
    return async () => pcb.remove();
  },
  async netconn(s, port, f = FAM4) {
    const conn = s.netconn.new(f.v6 ? NETCONN_UDP_IPV6 : NETCONN_UDP);
    await conn.bind(null, port);
    const loop = (async () => {
      for (;;) {
        let buf;
        try {
          buf = await conn.recv();
        } catch (e) {
          if ((e as { code?: string }).code === "ERR_CLSD") return;
          throw e;
        }
        await conn.sendto(buf, buf.fromaddr, buf.fromport); // straight from the received pbuf
        await buf.delete();
      }
    })();
    return async () => {
      await conn.close();
      await loop;
      await conn.delete();
    };
  },
  async sockets(s, port, f = FAM4) {
    const so = s.sockets;
    const fd = await so.socket(f.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    await so.bind(fd, f.v6 ? { family: AF_INET6, addr: "::", port } : { family: AF_INET, addr: "0.0.0.0", port });
    const buf = new Uint8Array(65536);
    const loop = (async () => {
      for (;;) {
        const from = { family: 0, addr: "", port: 0 };
        let n: number;
        try {
          n = await so.recvfrom(fd, buf, 0, from);
        } catch (e) {
          if ((e as { code?: string }).code === "EBADF") return;
          throw e;
        }
        await so.sendto(fd, buf.subarray(0, n), 0, from);
      }
    })();
    return async () => {
      await so.close(fd);
      await loop;
    };
  },
  async dgram(s, port, f = FAM4) {
    const sock = s.dgram.createSocket(f.v6 ? "udp6" : "udp4");
    sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((r) => sock.bind(port, r));
    return () => new Promise<void>((r) => sock.close(() => r()));
  },
  async streams(s, port, f = FAM4) {
    const u = s.streams.udp({ localPort: port, ...(f.v6 ? { localAddress: "::" } : {}) });
    const { readable, writable } = await u.opened;
    const w = writable.getWriter();
    const loop = (async () => {
      const r = readable.getReader();
      for (;;) {
        const { value: m, done } = await r.read();
        if (done) return;
        await w.write({ data: m.data, remoteAddress: m.remoteAddress, remotePort: m.remotePort });
      }
    })();
    return async () => {
      await u.close();
      await loop;
    };
  },
};

/** Clients: send each payload to B:port, one at a time, and return what came back. */
export const udpClients: Record<string, (s: UdpApis, port: number, msgs: Uint8Array[], f?: Fam) => Promise<Uint8Array[]>> = {
  async raw(s, port, msgs, f = FAM4) {
    const t = rawTarget(f);
    const pcb = s.raw.udp.new({ ipType: t.ipType }).bind(t.ipType === 4 ? "0.0.0.0" : "::", 0);
    const got: Uint8Array[] = [];
    pcb.recv((d: Uint8Array) => got.push(d.slice()));
    for (const m of msgs) {
      const n = got.length;
      pcb.sendto(m, t.ip, port);
      await until(() => got.length > n, 2000, "raw echo");
    }
    pcb.remove();
    return got;
  },
  async netconn(s, port, msgs, f = FAM4) {
    const t = rawTarget(f);
    const conn = s.netconn.new(f.v6 ? NETCONN_UDP_IPV6 : NETCONN_UDP);
    await conn.connect(t.ip, port);
    await conn.setRecvTimeout(2000);
    const got: Uint8Array[] = [];
    for (const m of msgs) {
      const nb = s.netconn.netbuf();
      await nb.ref(m);
      await conn.send(nb);
      await nb.delete();
      const r = await conn.recv();
      got.push(await r.copy());
      assert.equal(r.fromaddr, t.ip);
      assert.equal(r.fromport, port);
      await r.delete();
    }
    await conn.delete();
    return got;
  },
  async sockets(s, port, msgs, f = FAM4) {
    const so = s.sockets;
    const fd = await so.socket(f.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    await so.connect(fd, { family: f.v6 ? AF_INET6 : AF_INET, addr: f.target, port });
    const got: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (const m of msgs) {
      assert.equal(await so.send(fd, m), m.length);
      const n = await so.recv(fd, buf);
      got.push(buf.slice(0, n));
    }
    await so.close(fd);
    return got;
  },
  async dgram(s, port, msgs, f = FAM4) {
    const sock = s.dgram.createSocket(f.v6 ? "udp6" : "udp4");
    const got: Uint8Array[] = [];
    sock.on("message", (m) => got.push(new Uint8Array(m)));
    for (const m of msgs) {
      const n = got.length;
      await new Promise<void>((r, j) => sock.send(m, port, f.target, (err: Error | null) => (err ? j(err) : r())));
      await until(() => got.length > n, 2000, "dgram echo");
    }
    await new Promise<void>((r) => sock.close(() => r()));
    return got;
  },
  async streams(s, port, msgs, f = FAM4) {
    const u = s.streams.udp({ remoteAddress: f.target, remotePort: port });
    const { readable, writable } = await u.opened;
    const w = writable.getWriter();
    const r = readable.getReader();
    const got: Uint8Array[] = [];
    for (const m of msgs) {
      await w.write({ data: m });
      const x = await r.read();
      got.push(x.value!.data);
    }
    r.releaseLock();
    w.releaseLock();
    await u.close();
    return got;
  },
};


/** Datagrams of 0, 1, 100, 1472 (a full Ethernet frame) and 3000 bytes (fragmented). */
export function udpPayloads(): Uint8Array[] {
  return [0, 1, 100, 1472, 3000].map((n, i) => Uint8Array.from({ length: n }, (_, k) => (k * 7 + i) & 255));
}

/**
 * Every API's UDP echo server on `b` (ports from 7000 up) answers every
 * API's client on `a`, each payload byte-exact; `afterServer` runs once a
 * server is stopped (a leak check).
 */
export async function udpEchoMatrix(a: UdpApis, b: UdpApis, afterServer?: (name: string) => Promise<void>, f: Fam = FAM4): Promise<void> {
  const msgs = udpPayloads();
  let port = 7000;
  for (const sname of Object.keys(udpServers)) {
    const p = port++;
    const stop = await udpServers[sname](b, p, f);
    for (const cname of Object.keys(udpClients)) {
      const got = await udpClients[cname](a, p, msgs, f);
      assert.equal(got.length, msgs.length, `${cname} → ${sname} (${f.target})`);
      got.forEach((g, i) => assert.ok(Buffer.from(g).equals(Buffer.from(msgs[i])), `${cname} → ${sname}: message ${i} (${msgs[i].length} bytes)`));
    }
    await stop();
    await afterServer?.(sname);
  }
}
