// The package's `browser` export condition: a page that does
// `import * as asip from "asip"` and is bundled by Vite for the browser gets
// bindings/browser.ts, and the bundle pulls in no `node:` module (Vite would
// externalize or stub it, and warn). The Node entry exports the drivers, the
// relay and the gateway.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "../../bindings/node/demo.js";

test("Vite bundles `import * as asip from \"asip\"` for the browser from the browser entry, with no node: module in it", { timeout: 120_000 }, async () => {
  const { build, createLogger } = await import("vite");
  const dir = mkdtempSync(path.join(tmpdir(), "asip-browser-entry-"));
  try {
    mkdirSync(path.join(dir, "node_modules"));
    symlinkSync(ROOT, path.join(dir, "node_modules", "asip"), "dir");
    writeFileSync(path.join(dir, "page.js"), [
      'import * as asip from "asip";',
      "export const names = Object.keys(asip);",
      "export const { Stack, WebSocketLink, RtcDataChannelLink, StackWorker } = asip;",
    ].join("\n"));
    const warnings: string[] = [];
    const logger = createLogger("warn", { allowClearScreen: false });
    logger.warn = (msg) => { warnings.push(msg); };
    logger.warnOnce = (msg) => { warnings.push(msg); };
    const out = await build({
      root: dir, configFile: false, logLevel: "warn", customLogger: logger,
      build: { write: false, target: "es2022", minify: false, assetsInlineLimit: 0, lib: { entry: path.join(dir, "page.js"), formats: ["es"], fileName: "page" } },
    });
    const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => ("output" in o ? o.output : []));
    const code = outputs.map((c) => ("code" in c ? c.code : "")).join("\n");
    assert.ok(code.length > 10_000, "a bundle came out");
    // Rolldown writes `class X {` or `var X$1 = class {`.
    const defines = (name: string) => new RegExp(`class ${name}(\\$\\d+)? \\{|\\b${name}(\\$\\d+)? = class\\b`).test(code);
    assert.ok(defines("WebSocketLink") && defines("RtcDataChannelLink") && defines("Stack"), "the stack and the drivers are in it");
    const nodeOnly = ["TapDevice", "Relay", "Gateway", "NetApi"].filter(defines);
    assert.deepEqual(nodeOnly, [], "Node-only parts stay out");
    const nodeRefs = code.match(/(from\s*|import\s*\(\s*|require\s*\(\s*)["']node:[a-z_/]+["']/g) ?? [];
    assert.deepEqual(nodeRefs, [], "no node: module in the browser bundle");
    assert.deepEqual(warnings.filter((w) => /externalized for browser compatibility|node:/.test(w)), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the Node entry exports the drivers, the relay and the gateway", async () => {
  const asip = await import("../../bindings/index.js");
  for (const name of ["WebSocketLink", "RtcDataChannelLink", "Relay", "Gateway", "TapDevice", "pair", "PcapWriter", "BATCH_PROTOCOL"]) {
    assert.ok(name in asip, `asip exports ${name}`);
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { exports: Record<string, Record<string, string>> };
  assert.equal(pkg.exports["."].browser, "./dist/bindings/browser.js");
});
