// Echo servers and clients written against each host API (raw, netconn,
// sockets, net, streams), shared by the in-thread tests
// (api_tcp_cross.test.ts) and the Worker-mode tests
// (api_worker_cross.test.ts): the same code runs against a Stack and
// against a StackWorker's APIs. Every call that returns a Promise in Worker
// mode (sockets, netconn) is awaited; awaiting a plain value is harmless.
// Not a test file itself.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { NetApi } from "../../bindings/api/net.js";
import type { StreamsApi } from "../../bindings/api/streams.js";
import { NETCONN_TCP, NETCONN_TCP_IPV6, NETCONN_MORE } from "../../bindings/api/netconn.js";
import { IpAddress } from "../../bindings/ip-address.js";
import * as S from "../../bindings/api/sockets.js";
import type { SocketError } from "../../bindings/api/errno.js";
import type { AsipError } from "../../bindings/abi.js";
import { B } from "./api_tcp_common.js";

/**
 * What the echo code needs of a stack: a Stack, or a StackWorker's APIs.
 * raw, netconn and sockets are typed loosely: the same calls return values
 * on a Stack and Promises (or remote pcbs) in Worker mode.
 */
export interface Apis {
  raw: any;
  netconn: any;
  sockets: any;
  net: NetApi;
  streams: StreamsApi;
}

/** A TCP pcb as both raw APIs give it (in-thread or remote). */
type Pcb = any;

export type Stop = () => Promise<void>;

/**
 * The family dimension: IPv4 (servers on 0.0.0.0, clients to B), or IPv6
 * (servers on "::", dual-stack; clients are IPv6 sockets of each API
 * connecting to `target`: an IPv6 address of B, or B's IPv4-mapped address,
 * which carries the connection over IPv4 through the same IPv6 APIs).
 */
export interface Fam {
  v6: boolean;
  target: string;
}
export const FAM4: Fam = { v6: false, target: B };
/** For a raw or netconn client (they do not map): the address to connect to, and the raw pcb family. */
export function rawTarget(f: Fam): { ip: string; ipType: 4 | 6 | 46 } {
  if (!f.v6) return { ip: f.target, ipType: 4 };
  const a = IpAddress.parse(f.target);
  return a.isV4Mapped() ? { ip: a.toV4()!.toString(), ipType: 46 } : { ip: a.toString(), ipType: 6 };
}

// ---- echo servers ------------------------------------------------------------------------------

/** Raw API echo: queue what arrives, write as sndbuf allows, close after the peer's FIN once all is out. */
export function rawEcho(child: Pcb): void {
  const q: Uint8Array[] = [];
  let fin = false;
  const pump = () => {
    while (q.length && child.handle !== 0) {
      const n = child.write(q[0]);
      if (n < q[0].length) {
        q[0] = q[0].subarray(n);
        return;
      }
      q.shift();
    }
    if (fin && q.length === 0 && child.handle !== 0) child.close();
  };
  child.recv((d: Uint8Array | null) => {
    if (d === null) fin = true;
    else q.push(d.slice());
    pump();
  });
  child.sent(pump);
  child.err(() => {});
}

export const servers: Record<string, (s: Apis, port: number, f?: Fam) => Promise<Stop>> = {
  async raw(s, port, f = FAM4) {
    const l = (f.v6 ? s.raw.tcp.new(46).bind("::", port) : s.raw.tcp.new().bind("0.0.0.0", port)).listen(16);
    l.accept(rawEcho);
    await l.ready; // Worker mode: the listener exists in the core once this resolves
    return async () => l.close();
  },
  async netconn(s, port, f = FAM4) {
    const l = s.netconn.new(f.v6 ? NETCONN_TCP_IPV6 : NETCONN_TCP);
    await l.bind(null, port);
    await l.listen(16);
    const serve = async (c: any) => {
      try {
        for (;;) {
          const buf = await c.recv();
          // Zero-copy: the netbuf's own view of the core's pbuf goes straight back.
          for (let more = 0; more >= 0; more = await buf.next()) await c.write(await buf.data(), NETCONN_MORE);
          await buf.delete();
        }
      } catch (e) {
        if ((e as AsipError).code !== "ERR_CLSD") throw e;
      }
      await c.close();
    };
    const loop = (async () => {
      for (;;) {
        let c: any;
        try {
          c = await l.accept();
        } catch (e) {
          if ((e as AsipError).code === "ERR_CLSD") return;
          throw e;
        }
        void serve(c);
      }
    })();
    return async () => {
      await l.close();
      await loop;
    };
  },
  async sockets(s, port, f = FAM4) {
    const so = s.sockets;
    const fd = await so.socket(f.v6 ? S.AF_INET6 : S.AF_INET, S.SOCK_STREAM, 0);
    await so.setsockopt(fd, S.SOL_SOCKET, S.SO_REUSEADDR, 1);
    await so.bind(fd, f.v6 ? { family: S.AF_INET6, addr: "::", port } : { family: S.AF_INET, addr: "0.0.0.0", port });
    await so.listen(fd, 16);
    const serve = async (cfd: number) => {
      const buf = new Uint8Array(16384);
      for (;;) {
        const n = await so.recv(cfd, buf);
        if (n === 0) break;
        let off = 0;
        while (off < n) off += await so.send(cfd, buf.subarray(off, n));
      }
      await so.close(cfd);
    };
    const loop = (async () => {
      for (;;) {
        let cfd: number;
        try {
          cfd = await so.accept(fd);
        } catch (e) {
          if ((e as SocketError).code === "EBADF") return;
          throw e;
        }
        void serve(cfd);
      }
    })();
    return async () => {
      await so.close(fd);
      await loop;
    };
  },
  async net(s, port, f = FAM4) {
    const srv = s.net.createServer((c) => c.pipe(c));
    await new Promise<void>((r) => srv.listen(port, f.v6 ? "::" : "0.0.0.0", r));
    return () => new Promise<void>((r) => srv.close(() => r()));
  },
  async streams(s, port, f = FAM4) {
    const srv = s.streams.listen({ localPort: port, ...(f.v6 ? { localAddress: "::" } : {}) });
    await srv.opened;
    const loop = (async () => {
      for await (const conn of srv) {
        void conn.opened.then(({ readable, writable }) => readable.pipeTo(writable)).then(() => conn.closed);
      }
    })();
    return async () => {
      await srv.close();
      await loop;
    };
  },
};

// ---- clients: send `data`, half-close, return everything received until EOF ----------------------

export const clients: Record<string, (s: Apis, port: number, data: Uint8Array, f?: Fam) => Promise<Uint8Array>> = {
  raw(s, port, data, f = FAM4) {
    const t = rawTarget(f);
    return new Promise((resolve, reject) => {
      const p = s.raw.tcp.new(t.ipType);
      const got: Uint8Array[] = [];
      let off = 0;
      const pump = () => {
        if (p.handle === 0) return;
        if (off < data.length) off += p.write(data.subarray(off));
        if (off === data.length) {
          off++;
          p.shutdown(false, true);
        }
      };
      p.err(reject);
      p.recv((d: Uint8Array | null) => {
        if (d === null) {
          p.close();
          resolve(Buffer.concat(got));
        } else got.push(d.slice());
      });
      p.sent(pump);
      p.connect(t.ip, port, (e: AsipError | null) => (e ? reject(e) : pump()));
    });
  },
  async netconn(s, port, data, f = FAM4) {
    const c = s.netconn.new(f.v6 ? NETCONN_TCP_IPV6 : NETCONN_TCP);
    await c.connect(rawTarget(f).ip, port);
    const got: Uint8Array[] = [];
    const reader = (async () => {
      try {
        for (;;) {
          const b = await c.recv();
          got.push(await b.copy());
          await b.delete();
        }
      } catch (e) {
        if ((e as AsipError).code !== "ERR_CLSD") throw e;
      }
    })();
    assert.equal(await c.write(data), data.length);
    await c.shutdown(false, true);
    await reader;
    await c.delete();
    return Buffer.concat(got);
  },
  async sockets(s, port, data, f = FAM4) {
    const so = s.sockets;
    const fd = await so.socket(f.v6 ? S.AF_INET6 : S.AF_INET, S.SOCK_STREAM, 0);
    await so.connect(fd, { family: f.v6 ? S.AF_INET6 : S.AF_INET, addr: f.target, port });
    const got: Uint8Array[] = [];
    const reader = (async () => {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await so.recv(fd, buf);
        if (n === 0) return;
        got.push(buf.slice(0, n));
      }
    })();
    assert.equal(await so.send(fd, data), data.length);
    await so.shutdown(fd, S.SHUT_WR);
    await reader;
    await so.close(fd);
    return Buffer.concat(got);
  },
  net(s, port, data, f = FAM4) {
    return new Promise((resolve, reject) => {
      const c = s.net.connect(port, f.target);
      const got: Buffer[] = [];
      c.on("data", (d: Buffer) => got.push(d));
      c.on("error", reject);
      c.on("close", () => resolve(Buffer.concat(got)));
      c.end(data);
    });
  },
  async streams(s, port, data, f = FAM4) {
    const conn = s.streams.connect(f.target, port);
    const { readable, writable } = await conn.opened;
    const w = writable.getWriter();
    const reader = (async () => {
      const got: Uint8Array[] = [];
      for await (const chunk of readable as unknown as AsyncIterable<Uint8Array>) got.push(chunk);
      return Buffer.concat(got);
    })();
    await w.write(data as Uint8Array<ArrayBuffer>);
    await w.close();
    const r = await reader;
    await conn.closed;
    return r;
  },
};


/** 96 KiB with no short period: each client sends it and must get it back. */
export const ECHO_DATA = Buffer.alloc(96 * 1024);
for (let i = 0; i < ECHO_DATA.length; i++) ECHO_DATA[i] = (i * 131 + (i >>> 10)) & 0xff;

/**
 * Every API's echo server on `b` (ports from 7101 up) serves every API's
 * client on `a`: 25 pairs, byte-exact, half-close then EOF.
 */
export async function tcpEchoMatrix(a: Apis, b: Apis, data: Uint8Array = ECHO_DATA, f: Fam = FAM4): Promise<void> {
  let port = 7100;
  for (const sname of Object.keys(servers)) {
    const stop = await servers[sname](b, ++port, f);
    for (const cname of Object.keys(clients)) {
      const got = await clients[cname](a, port, data, f);
      assert.equal(got.length, data.length, `${cname} → ${sname} (${f.target}): length`);
      assert.ok(Buffer.from(got).equals(data), `${cname} → ${sname} (${f.target}): bytes`);
    }
    await stop();
  }
}
