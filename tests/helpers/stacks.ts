/**
 * Helpers for node tests that run stacks in one process: creating them over
 * pair(), running until quiet, and the shared leak check.
 */
import assert from "node:assert/strict";
import { Stack, type StackOptions } from "../../bindings/stack.js";
import { pair, type PairOptions } from "../../bindings/netif/pair.js";
import type { CoreVariant } from "../../bindings/core.js";

/** The builds every core test runs against. */
export const VARIANTS: CoreVariant[] = ["release", "mvp"];

/** Heap and pool usage now, to compare with later. */
export type Usage = ReturnType<Stack["usage"]>;

export function baseline(stack: Stack): Usage {
  return stack.usage();
}

/**
 * Asserts the heap and every pool are back at `base`. Timeouts may be fewer
 * than at the baseline, never more: a timer that ran then may have ended
 * since (with IPv6 on, router solicitation runs 3 × 4 s after the link-local
 * address, RFC 4861 §6.3.7; a slow run outlasts it).
 */
export function assertNoLeaks(stack: Stack, base: Usage, what = "stack"): void {
  const now = stack.usage();
  const timers = now.pools.SYS_TIMEOUT, baseTimers = base.pools.SYS_TIMEOUT;
  if (timers !== undefined && baseTimers !== undefined && timers < baseTimers) {
    assert.deepEqual({ ...now, pools: { ...now.pools, SYS_TIMEOUT: baseTimers } }, base, `${what}: heap/pools not back to baseline`);
    return;
  }
  assert.deepEqual(now, base, `${what}: heap/pools not back to baseline`);
}


/** Two stacks joined by a pair(), A = 192.0.2.1, B = 192.0.2.2. */
export async function twoStacks(opts: { variant?: CoreVariant; pair?: PairOptions; stack?: StackOptions; mtu?: number } = {}) {
  const [ea, eb] = pair({ mtu: opts.mtu, ...opts.pair });
  const a = await Stack.create({ variant: opts.variant, ...opts.stack });
  const b = await Stack.create({ variant: opts.variant, ...opts.stack });
  const ia = a.addInterface(ea, { ip: "192.0.2.1/24", mac: "02:00:00:00:00:01", mtu: opts.mtu });
  const ib = b.addInterface(eb, { ip: "192.0.2.2/24", mac: "02:00:00:00:00:02", mtu: opts.mtu });
  return { a, b, ia, ib, ea, eb };
}

/** Resolves after the event loop has run `turns` macrotask turns (lets drains and timers settle). */
export function settle(turns = 3): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    const step = () => (++n >= turns ? resolve() : setImmediate(step));
    setImmediate(step);
  });
}

/** Waits until `cond()` holds, polling each turn, or fails after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
