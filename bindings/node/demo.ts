/**
 * `asip demo` (what `npm start` runs): builds the web demo when its sources
 * changed, then serves it together with the relay (WebSocket on the same
 * port), the gateway, and a sample HTTP server on the host's loopback that
 * pages reach through the gateway's NAT as http://host.asip.internal:PORT/.
 *
 * @module
 */
import http from "node:http";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Relay, type RelayOptions } from "./relay.js";
import { Gateway } from "./gateway.js";

/** The package root (dist/bindings/node/demo.js is three levels below). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DEMO_SRC = path.join(ROOT, "web-demo");
const DEMO_DIST = path.join(DEMO_SRC, "dist");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm",
  ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json", ".map": "application/json",
};

function newest(dir: string, re: RegExp): number {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "dist" || e.name === "node_modules") continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, re));
    else if (re.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Builds web-demo/dist with Vite unless it is newer than its sources and the core. */
export function buildDemo(force = false): void {
  const out = path.join(DEMO_DIST, "index.html");
  const src = Math.max(
    newest(DEMO_SRC, /\.(ts|js|mjs|html|css)$/), newest(path.join(ROOT, "bindings"), /\.ts$/),
    existsSync(path.join(ROOT, "build", "asip.wasm")) ? statSync(path.join(ROOT, "build", "asip.wasm")).mtimeMs : 0,
  );
  if (!force && existsSync(out) && statSync(out).mtimeMs > src) return;
  const vite = path.join(ROOT, "node_modules", "vite", "bin", "vite.js");
  const r = spawnSync(process.execPath, [vite, "build", "--config", path.join(DEMO_SRC, "vite.config.mjs"), "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error("vite build of web-demo failed");
}

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Port of the page and the relay (default 8080; 0 = any). */
  port?: number;
  host?: string;
  /** Port of the sample host HTTP server on 127.0.0.1 (default 8081; 0 = any). */
  httpPort?: number;
  relay?: Omit<RelayOptions, "server" | "port" | "host">;
  /** Extra NAT allowlist entries and forwards for the gateway. */
  allow?: string[];
  forwards?: string[];
  /** Skip the Vite build (dist must exist). */
  noBuild?: boolean;
  log?: (line: string) => void;
}

/** A running demo. */
export interface Demo {
  url: string;
  relay: Relay;
  gateway: Gateway;
  server: http.Server;
  hostHttp: http.Server;
  hostHttpPort: number;
  close(): Promise<void>;
}

/** The sample server pages fetch through the gateway. */
function sampleServer(): http.Server {
  return http.createServer((req, res) => {
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? "");
    if (m) {
      const n = Math.min(Number(m[1]), 64 << 20);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
      res.end(Buffer.alloc(n, 0x61));
      return;
    }
    const body = `<!doctype html><title>host</title><h1>Hello from the host</h1>
<p>This page came from a Node.js HTTP server on the host's 127.0.0.1, through asip's TCP in your tab,
the relay, and the gateway's NAT. You asked for ${String(req.url).replace(/[<>&]/g, "")} at ${new Date().toISOString()}.</p>\n`;
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}

export async function startDemo(opts: DemoOptions = {}): Promise<Demo> {
  if (!opts.noBuild) buildDemo();
  if (!existsSync(path.join(DEMO_DIST, "index.html"))) throw new Error("web-demo/dist is missing: run without noBuild");
  const log = opts.log ?? (() => {});
  const hostHttp = sampleServer();
  await new Promise<void>((r) => hostHttp.listen(opts.httpPort ?? 8081, "127.0.0.1", r));
  const hostHttpPort = (hostHttp.address() as { port: number }).port;
  const defaultUrl = `http://host.asip.internal:${hostHttpPort}/`;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    let rel = decodeURIComponent(u.pathname);
    if (rel === "/") rel = "/index.html";
    const file = path.join(DEMO_DIST, path.normalize(rel));
    if (!file.startsWith(DEMO_DIST + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      return;
    }
    let body: Buffer | string = readFileSync(file);
    if (rel === "/index.html") body = body.toString().replace('value="http://host.asip.internal/"', `value="${defaultUrl}"`);
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-cache",
      // Cross-origin isolation (the page loads nothing from elsewhere): SharedArrayBuffer is available to it and its Worker.
      "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp",
    });
    res.end(body);
  });
  const relay = await Relay.start({ ...opts.relay, server, log });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, opts.host ?? "0.0.0.0", () => { server.off("error", reject); resolve(); });
  });
  const gateway = await Gateway.start(relay, { allow: ["127.0.0.0/8", ...(opts.allow ?? [])], forwards: opts.forwards, log });
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/`;
  return {
    url, relay, gateway, server, hostHttp, hostHttpPort,
    async close() {
      await gateway.close();
      await relay.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      hostHttp.closeAllConnections();
      await new Promise<void>((r) => hostHttp.close(() => r()));
    },
  };
}
