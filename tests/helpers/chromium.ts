/**
 * Headless Debian Chromium for the e2e tests and the web bench, launched the
 * one way that works on these machines (a test tool's own browser download
 * does not): playwright-core with executablePath and the flags that keep it
 * off the network and out of background throttling.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const CHROMIUM = "/usr/bin/chromium";

/** Always: headless, no sandbox (root), no GPU, no background networking or updates. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

/** WebRTC between tabs on loopback with no STUN: real host candidates, loopback allowed. */
export const WEBRTC_ARGS = ["--disable-features=WebRtcHideLocalIpsWithMdns", "--allow-loopback-in-peer-connection"];

/** Tabs in the background must not be throttled while they carry traffic. */
export const NO_THROTTLE_ARGS = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows"];

/** Why Chromium cannot run here, or null. */
export function chromiumSkipReason(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`;
}

/** Launches Chromium with a fresh profile (playwright passes it as --user-data-dir). */
export async function launchChromium(opts: { prefix: string; viewport?: { width: number; height: number }; args?: string[] }) {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(path.join(tmpdir(), opts.prefix));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...(opts.viewport ? { viewport: opts.viewport } : {}),
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
  });
  return { browser, profile };
}

type Context = Awaited<ReturnType<typeof launchChromium>>["browser"];

/**
 * Opens the web demo in a new tab and waits until its stack is ready.
 * Throws with the page's own error (and any uncaught page errors) if it failed.
 */
export async function openDemoPage(browser: Context, url: string, timeout = 15000) {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => (window as any).asipDemo?.state.ready || (window as any).asipDemo?.state.error, null, { timeout });
  const err: string = await page.evaluate(() => (window as any).asipDemo.state.error);
  if (err !== "") throw new Error(`web demo failed in Chromium: ${err} ${errors.join("; ")}`);
  return page;
}
