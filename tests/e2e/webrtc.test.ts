// RtcDataChannelLink (bindings/netif/webrtc.ts) in Debian's headless
// Chromium through playwright-core: two tabs of the web demo join the relay,
// one offers a WebRTC link to the other (signalling through the relay's
// `signal` messages), each adds it to its asip stack as a point-to-point
// subnet, and 100 MB go over asip's TCP from the serving tab to the fetching
// one with equal SHA-256 — on the data channel, not the relay (checked with
// the links' byte counters). Then the serving tab closes the link and the
// other side sees it closed. A broken connection is re-established by the
// offering side. A screenshot is kept in test-results/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startDemo, ROOT, type Demo } from "../../bindings/node/demo.js";
import { chromiumSkipReason, launchChromium, openDemoPage, WEBRTC_ARGS } from "../helpers/chromium.js";

const skip = chromiumSkipReason() ?? false;
const RESULTS = path.join(ROOT, "test-results");

/**
 * Chromium flags for WebRTC between tabs on one machine with no STUN server:
 * host candidates must be real addresses (not mDNS `.local` names, which
 * would need multicast DNS to resolve), and loopback may carry them when the
 * machine has no other interface.
 */

type Browser = import("playwright-core").BrowserContext;
type Page = import("playwright-core").Page;

let demo: Demo;
let browser: Browser;
let profile: string;

before(async () => {
  if (skip) return;
  demo = await startDemo({ port: 0, host: "127.0.0.1", httpPort: 0 });
  ({ browser, profile } = await launchChromium({ prefix: "asip-e2e-rtc-", viewport: { width: 420, height: 1000 }, args: WEBRTC_ARGS }));
});

after(async () => {
  if (skip) return;
  await browser?.close();
  await demo?.close();
  rmSync(profile, { recursive: true, force: true });
});

function openPage(): Promise<Page> {
  return openDemoPage(browser, demo.url);
}

test("two pages exchange 100 MB over asip's TCP through a WebRTC data channel with equal SHA-256", { skip, timeout: 240_000 }, async () => {
  const a = await openPage();
  const b = await openPage();
  const idB = await b.evaluate(() => { const d = (window as any).asipDemo; d.serve(); return d.state.id; });
  // A sees B in the relay's peer list, then offers a link from the page's control.
  await a.waitForFunction((id) => (window as any).asipDemo.state.peers.includes(id), idB, { timeout: 5000 });
  await a.selectOption("#rtc-peer", idB);
  await a.click("#rtc-form button");
  await a.waitForFunction(() => (window as any).asipDemo.rtc[0]?.state === "up", null, { timeout: 20000 });
  await b.waitForFunction(() => (window as any).asipDemo.rtc[0]?.state === "up", null, { timeout: 5000 });
  const [ra] = await a.evaluate(() => (window as any).asipDemo.rtc);
  const [rb] = await b.evaluate(() => (window as any).asipDemo.rtc);
  // The offering tab takes 4n+1 of its link's /30 in 198.18.0.0/15 (RFC 2544's test range).
  assert.match(ra.ip, /^198\.18\.\d+\.\d+$/);
  assert.equal(Number(ra.ip.split(".")[3]) % 4, 1);
  assert.equal(rb.ip, ra.peerIp, "the answering tab took the address the offer named");
  assert.equal(rb.peerIp, ra.ip);

  const wsBefore = await a.evaluate(async () => (await (window as any).asipDemo.linkCounters()).rxBytes);
  const N = 100 << 20;
  const r = await a.evaluate(async ([ip, n]) => {
    const d = (window as any).asipDemo;
    const t0 = performance.now();
    const res = await d.httpGet(`http://${ip}/bytes/${n}`);
    const want = await d.sha256(d.pattern(n));
    return { status: res.status, bytes: res.bytes, got: res.sha256, want, ms: performance.now() - t0 };
  }, [ra.peerIp, N] as const);
  assert.match(r.status, /200 OK/);
  assert.equal(r.bytes, N);
  assert.equal(r.got, r.want);
  console.log(`# 100 MB tab → tab over WebRTC in ${r.ms.toFixed(0)} ms`);

  // It went over the data channel, not the relay.
  const [after] = await a.evaluate(() => (window as any).asipDemo.rtc);
  const wsAfter = await a.evaluate(async () => (await (window as any).asipDemo.linkCounters()).rxBytes);
  assert.ok(after.counters.rxBytes > N, `data channel carried it: ${after.counters.rxBytes}`);
  assert.ok(wsAfter - wsBefore < N / 10, `the relay did not: ${wsAfter - wsBefore}`);
  assert.equal(after.counters.txDroppedTooBig, 0);

  await a.waitForFunction(() => /TCP/.test(document.getElementById("log")!.textContent!), null, { timeout: 5000 });
  mkdirSync(RESULTS, { recursive: true });
  await a.screenshot({ path: path.join(RESULTS, "webrtc-demo.png"), fullPage: true });

  // The connection breaks under the answering tab (its peer connection closed
  // without a bye): the offering tab sees the channel close, offers a new
  // session after its backoff, the answering tab takes it, and TCP works again.
  await b.evaluate(() => (window as any).asipDemo.rtcLink(0).peerConnection.close());
  await a.waitForFunction(() => (window as any).asipDemo.rtc[0].counters.opens === 2 && (window as any).asipDemo.rtc[0].state === "up", null, { timeout: 20000 });
  await b.waitForFunction(() => (window as any).asipDemo.rtc[0].state === "up", null, { timeout: 5000 });
  const again = await a.evaluate((ip) => (window as any).asipDemo.httpGet(`http://${ip}/`), ra.peerIp);
  assert.match(again.status, /200 OK/);
  assert.match(again.body, /Hello from the tab/);

  // Closing the page ends the link on the other side (the relay reports the peer gone, or ICE fails).
  await b.close();
  await a.waitForFunction(() => /^closed/.test((window as any).asipDemo.rtc[0].state), null, { timeout: 40000 });
  await a.close();
});
