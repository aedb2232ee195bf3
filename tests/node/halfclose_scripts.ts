// Half-close scripts for the differential tests (api_halfclose*.test.ts):
// each one is written once against a net module and run both on Node's own
// node:net over the kernel's loopback (the oracle) and on asip's stack.net
// (in-thread or in Worker mode). A run returns what the receiving end got
// (length and SHA-256) and every socket's own event log (event, readyState,
// counters, error codes), so the two runs compare with one deepEqual.
//
// Logs record only what does not depend on timing: each socket's events in
// their order, never the interleaving of two sockets (loopback and pair()
// schedule differently), and counters only where they are final (watch()
// lists what else is left out, and why). A script ends when every socket it
// made has emitted 'close'; no assertion waits for a timer (run() fails a
// run that hangs, with its logs). Not a test file itself.
import net from "node:net";
import assert from "node:assert/strict";
import type { Duplex, Readable } from "node:stream";
import tls from "node:tls";
import http from "node:http";
import https from "node:https";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { NetApi } from "../../bindings/api/net.js";
import { testCert } from "../helpers/tls.js";

/** What a script needs of a net module: Node's node:net or asip's stack.net (typed as Node's). */
export interface NetModule {
  createServer(opts: net.ServerOpts, listener: (s: net.Socket) => void): net.Server;
  connect(opts: net.NetConnectOpts): net.Socket;
}

/** asip's stack.net as a script's net module: servers on `server`'s stack, clients on `client`'s. */
export function asipNet(server: NetApi, client: NetApi): NetModule {
  return {
    createServer: (opts, listener) => server.createServer(opts, listener as never) as unknown as net.Server,
    connect: (opts) => client.connect(opts as never) as unknown as net.Socket,
  };
}

/** Where a script runs: the net module, the address its server listens on and its client connects to. */
export interface Env {
  net: NetModule;
  host: string;
}

export interface Options {
  /** Bytes the first sender sends. */
  size: number;
  /** allowHalfOpen of the server's and of the client's TCP socket. */
  serverHalfOpen: boolean;
  clientHalfOpen: boolean;
}

/** Each socket's events in order, by end. */
export interface Logs {
  server: string[];
  client: string[];
}

/** What the receiving end got: length and SHA-256. */
export interface Received {
  received: number;
  sha: string;
}

/** What a run observed. */
export interface Outcome extends Received {
  logs: Logs;
}

/** A script logs into `logs` as it goes and resolves when every socket it made has closed. */
export type Script = (env: Env, o: Options, logs: Logs) => Promise<Received>;

const patterns = new Map<number, Buffer>();

/** `size` bytes of a fixed pattern (no period that a lost or repeated 64 KiB block would hide). */
export function pattern(size: number): Buffer {
  let b = patterns.get(size);
  if (!b) {
    b = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >>> 11) + (i >>> 19)) & 0xff;
    patterns.set(size, b);
  }
  return b;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The socket state that an event log records. */
interface Observed extends Duplex {
  readonly readyState: string;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** What a log leaves out (see {@link watch}). */
interface Unlogged {
  /** bytesRead and bytesWritten. */
  counters?: boolean;
  /** The 'end' event, and readyState (which tells whether it came). */
  end?: boolean;
  /** The order of 'end' and 'finish' (and readyState, which tells it): they are logged sorted. */
  order?: boolean;
}

/**
 * Records `s`'s 'end', 'finish', 'close' and 'error' in `log` with the
 * state that Node defines at that moment; resolves on 'close'. Counters
 * are logged where they are final: bytesRead at 'end' and 'close',
 * bytesWritten at 'finish' and 'close'.
 *
 * Left out where they are not the socket's own business but a race between
 * the two ends, decided by how fast each end's stack turns a message round
 * (Node's kernel round trip against asip's zero-latency link and the turns
 * that Node's JSStreamSocket takes per write): on TLS sockets the counters
 * (Node counts TLSWrap's bytes, not on a net.Socket's terms); on a TLS
 * client, whether the server's close_notify comes before its own shutdown
 * has completed (order); on both ends of an https "Connection: close",
 * whether the peer's close_notify comes before the socket is destroyed
 * (end).
 */
function watch(s: Observed, log: string[], leave: Unlogged = {}): Promise<void> {
  const rd = () => (leave.counters ? "" : ` read=${s.bytesRead}`);
  const wr = () => (leave.counters ? "" : ` written=${s.bytesWritten}`);
  const st = () => (leave.end || leave.order ? "" : ` ${s.readyState}`);
  const start = log.length;
  if (!leave.end) s.on("end", () => log.push(`end${st()}${rd()}`));
  s.on("finish", () => log.push(`finish${st()}${wr()}`));
  s.on("error", (e: NodeJS.ErrnoException) => log.push(`error ${e.code} ${e.syscall ?? "-"}: ${e.message}`));
  return new Promise((resolve) => s.on("close", (hadError: boolean) => {
    if (leave.order) log.splice(start, log.length - start, ...log.slice(start).sort());
    log.push(`close${hadError ? " hadError" : ""}${st()}${rd()}${wr()} destroyed=${s.destroyed}`);
    resolve();
  }));
}

/** Collects what `s` receives: its length and SHA-256. */
function collect(s: Readable): () => Received {
  const h = createHash("sha256");
  let n = 0;
  s.on("data", (d: Buffer) => {
    h.update(d);
    n += d.length;
  });
  return () => ({ received: n, sha: h.digest("hex") });
}

async function listen(env: Env, srv: net.Server): Promise<number> {
  await new Promise<void>((r) => srv.listen(0, env.host, r));
  return (srv.address() as net.AddressInfo).port;
}

const closed = (srv: net.Server) => new Promise<void>((r) => srv.close(() => r()));

/** A promise and its resolve, for sockets that do not exist yet. */
function later<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The client sends `size` bytes and ends; the server runs `serve` on its
 * socket. The client's log is "client", the server's "server"; the outcome
 * is what the client got back.
 */
async function clientFirst(env: Env, o: Options, logs: Logs, serve: (s: net.Socket, log: string[]) => void): Promise<Received> {
  const serverClosed = later<void>();
  const srv = env.net.createServer({ allowHalfOpen: o.serverHalfOpen }, (s) => {
    void watch(s, logs.server).then(serverClosed.resolve);
    serve(s, logs.server);
  });
  const port = await listen(env, srv);
  const c = env.net.connect({ port, host: env.host, allowHalfOpen: o.clientHalfOpen });
  const done = watch(c, logs.client);
  const got = collect(c);
  c.on("connect", () => c.end(pattern(o.size)));
  await done;
  await serverClosed.promise;
  await closed(srv);
  return got();
}

// ---- node:net ------------------------------------------------------------------------------------

/** Echo: the server pipes the socket to itself. */
export const netEcho: Script = (env, o, logs) => clientFirst(env, o, logs, (s) => s.pipe(s));

/**
 * Writes in the 'end' handler: the server keeps what arrives and writes it
 * all back from its 'end' handler, synchronously, then ends only if it is
 * half-open (otherwise Node's automatic end must send it first).
 */
export const netReplyOnEnd: Script = (env, o, logs) => clientFirst(env, o, logs, (s, log) => {
  const parts: Buffer[] = [];
  s.on("data", (d: Buffer) => parts.push(d));
  s.on("end", () => {
    // (Not logged: what write() returns, which says whether the kernel's or asip's buffers took it all.)
    s.write(Buffer.concat(parts));
    log.push(`write in 'end' ${s.readyState}`);
    if (o.serverHalfOpen) s.end();
  });
});

/**
 * A write after the automatic end: the server writes back one turn after
 * its 'end' (setImmediate): half-open, the bytes go and then end(); not
 * half-open, the socket has ended by then, and Node fails the write with
 * EPIPE ("ended by the other party").
 */
export const netWriteLate: Script = (env, o, logs) => clientFirst(env, o, logs, (s, log) => {
  const parts: Buffer[] = [];
  s.on("data", (d: Buffer) => parts.push(d));
  s.on("end", () => setImmediate(() => {
    s.write(Buffer.concat(parts), (e) => log.push(`late write cb ${e ? (e as NodeJS.ErrnoException).code : "ok"}`));
    log.push(`late write ${s.readyState} destroyed=${s.destroyed}`);
    if (o.serverHalfOpen) s.end();
  }));
});

/** destroySoon in the 'end' handler: what was written first still goes, then FIN and close. */
export const netDestroySoon: Script = (env, o, logs) => clientFirst(env, o, logs, (s, log) => {
  const parts: Buffer[] = [];
  s.on("data", (d: Buffer) => parts.push(d));
  s.on("end", () => {
    s.write(Buffer.concat(parts));
    s.destroySoon();
    log.push(`destroySoon ${s.readyState} ended=${s.writableEnded}`);
  });
});

/**
 * The server's FIN first: it sends `size` bytes and ends at once. The
 * client answers from its 'end' handler (the SHA-256 of what it got,
 * written synchronously), then ends if it is half-open; the outcome is what
 * the server got back.
 */
export const netServerFirst: Script = async (env, o, logs) => {
  const serverClosed = later<Received>();
  const srv = env.net.createServer({ allowHalfOpen: o.serverHalfOpen }, (s) => {
    const got = collect(s);
    void watch(s, logs.server).then(() => serverClosed.resolve(got()));
    s.end(pattern(o.size));
  });
  const port = await listen(env, srv);
  const c = env.net.connect({ port, host: env.host, allowHalfOpen: o.clientHalfOpen });
  const done = watch(c, logs.client);
  const h = createHash("sha256");
  c.on("data", (d: Buffer) => h.update(d));
  c.on("end", () => {
    c.write(h.digest("hex"));
    logs.client.push(`write in 'end' ${c.readyState}`);
    if (o.clientHalfOpen) c.end();
  });
  await done;
  const got = await serverClosed.promise;
  await closed(srv);
  return got;
};

// ---- node:tls over the net module ----------------------------------------------------------------

/**
 * TLS echo over the net module's sockets: the server wraps its socket in
 * `new tls.TLSSocket(s, { isServer })` and pipes it to itself; the client
 * runs `tls.connect({ socket })` and `end(msg)`. Logged: the TLS sockets
 * (the TCP sockets below them belong to TLS).
 */
export const tlsEcho: Script = async (env, o, logs) => {
  const { key, cert } = testCert();
  const serverClosed = later<void>();
  const srv = env.net.createServer({ allowHalfOpen: o.serverHalfOpen }, (s) => {
    const t = new tls.TLSSocket(s, { isServer: true, key, cert });
    void watch(t, logs.server, { counters: true }).then(serverClosed.resolve);
    t.pipe(t);
  });
  const port = await listen(env, srv);
  const sock = env.net.connect({ port, host: env.host, allowHalfOpen: o.clientHalfOpen });
  const t = tls.connect({ socket: sock, ca: cert, servername: "asip.test" });
  const done = watch(t, logs.client, { counters: true, order: true });
  const got = collect(t);
  t.on("secureConnect", () => {
    logs.client.push(`secureConnect authorized=${t.authorized}`);
    t.end(pattern(o.size));
  });
  await done;
  await serverClosed.promise;
  await closed(srv);
  return got();
};

// ---- node:http and node:https over the net module ------------------------------------------------

/**
 * One request over a fresh connection (no agent: "Connection: close"): a
 * POST of `size` bytes that the server echoes as the response body. The
 * server is Node's http.Server (or https.Server) fed the net module's
 * sockets with emit('connection'); the client's socket comes from
 * createConnection (for https, tls.connect({ socket }) over it).
 */
async function request(env: Env, o: Options, logs: Logs, secure: boolean): Promise<Received> {
  const { key, cert } = testCert();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    logs.server.push(`${req.method} ${req.url} content-length=${req.headers["content-length"]} connection=${req.headers.connection}`);
    // A content-length response: chunked framing would depend on how the body arrived.
    res.setHeader("content-type", "application/octet-stream");
    res.setHeader("content-length", String(req.headers["content-length"]));
    req.pipe(res);
  };
  const hs = secure ? https.createServer({ key, cert }, handler) : http.createServer(handler);
  const serverClosed = later<void>();
  const srv = env.net.createServer({ allowHalfOpen: o.serverHalfOpen }, (s) => {
    // The TCP socket is logged for http; under https it belongs to TLS.
    if (secure) hs.once("secureConnection", (t: tls.TLSSocket) => void watch(t, logs.server, { counters: true, end: true }).then(serverClosed.resolve));
    else void watch(s, logs.server).then(serverClosed.resolve);
    hs.emit("connection", s);
  });
  const port = await listen(env, srv);
  const body = pattern(o.size);
  let clientClosed: Promise<void> | undefined;
  const connect = () => {
    const s = env.net.connect({ port, host: env.host, allowHalfOpen: o.clientHalfOpen });
    const sock = secure ? tls.connect({ socket: s, ca: cert, servername: "asip.test" }) : s;
    clientClosed = watch(sock, logs.client, { counters: secure, end: secure });
    return sock;
  };
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const mod = secure ? https : http;
    const req = mod.request({ method: "POST", path: "/echo", headers: { "content-length": String(body.length) }, createConnection: connect }, resolve);
    req.on("error", reject);
    req.end(body);
  });
  logs.client.push(`response ${res.statusCode} content-type=${res.headers["content-type"]} connection=${res.headers.connection}`);
  const got = collect(res);
  await new Promise<void>((r) => res.on("end", r));
  logs.client.push("response end");
  await clientClosed;
  await serverClosed.promise;
  await closed(srv);
  hs.close();
  return got();
}

export const httpEcho: Script = (env, o, logs) => request(env, o, logs, false);
export const httpsEcho: Script = (env, o, logs) => request(env, o, logs, true);

/** Every script by name. */
export const SCRIPTS = {
  netEcho, netReplyOnEnd, netWriteLate, netDestroySoon, netServerFirst, tlsEcho, httpEcho, httpsEcho,
} satisfies Record<string, Script>;

export type ScriptName = keyof typeof SCRIPTS;

/** What each script must deliver (so that a broken oracle cannot pass either). */
export function intended(name: ScriptName, o: Options): Received {
  const all = { received: o.size, sha: sha256(pattern(o.size)) };
  switch (name) {
    case "netWriteLate":
      // Not half-open, the late write is refused (EPIPE) and nothing comes back.
      return o.serverHalfOpen ? all : { received: 0, sha: sha256(new Uint8Array(0)) };
    case "netServerFirst": {
      const answer = Buffer.from(sha256(pattern(o.size)));
      return { received: answer.length, sha: sha256(answer) };
    }
    default:
      return all;
  }
}

// ---- the matrix ------------------------------------------------------------------------------------

/** 1 B to 8 MiB: one segment, less than a window, a window, more than the send buffer, many windows. */
export const SIZES = [1, 1024, 64 * 1024, 200_000, 1_000_000, 8 * 1024 * 1024];

/** Every size with allowHalfOpen off and on at either end. */
export function matrix(): Options[] {
  const out: Options[] = [];
  for (const size of SIZES) {
    for (const [serverHalfOpen, clientHalfOpen] of [[false, false], [true, false], [false, true], [true, true]]) {
      out.push({ size, serverHalfOpen, clientHalfOpen });
    }
  }
  return out;
}

export const describe = (name: string, o: Options) =>
  `${name} ${o.size} B, allowHalfOpen server=${o.serverHalfOpen} client=${o.clientHalfOpen}`;

/** Longer than any run takes even under load: only a run that hangs gets there. */
const HANG_MS = 120_000;

/**
 * Runs a script. A run that never ends (a socket that never closes) fails
 * after HANG_MS with the logs so far, rather than hanging the suite: a
 * guard against hangs, not a timed assertion.
 */
export async function run(name: ScriptName, env: Env, o: Options): Promise<Outcome> {
  const logs: Logs = { server: [], client: [] };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${describe(name, o)}: did not end; logs so far: ${JSON.stringify(logs)}`)), HANG_MS);
  });
  try {
    const got = await Promise.race([SCRIPTS[name](env, o, logs), hung]);
    return { ...got, logs };
  } finally {
    clearTimeout(timer);
  }
}

const oracles = new Map<string, Outcome>();

/** The script on Node's own node:net over the kernel's loopback (once per process). */
export async function nodeOutcome(name: ScriptName, o: Options): Promise<Outcome> {
  const key = describe(name, o);
  let out = oracles.get(key);
  if (!out) {
    out = await run(name, { net, host: "127.0.0.1" }, o);
    assert.deepEqual({ received: out.received, sha: out.sha }, intended(name, o), `node:net itself: ${key}`);
    oracles.set(key, out);
  }
  return out;
}

/**
 * Runs the script over the whole matrix in `env` (asip) and asserts each
 * outcome equal to Node's: the same bytes (SHA-256) and the same event logs.
 */
export async function assertLikeNode(name: ScriptName, env: Env): Promise<void> {
  for (const o of matrix()) {
    const want = await nodeOutcome(name, o);
    const got = await run(name, env, o);
    assert.deepEqual(got, want, describe(name, o));
  }
}
