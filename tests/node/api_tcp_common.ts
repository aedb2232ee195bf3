// Shared by the api_tcp*/api_http*/api_worker* tests (not a test file itself):
// two stacks over pair() with static ARP and a short TIME_WAIT, and the
// leak check that waits TIME_WAIT out.
import type { Stack, StackOptions } from "../../bindings/stack.js";
import { VARIANTS, twoStacks, baseline, assertNoLeaks, until, type Usage } from "../helpers/stacks.js";

export const A = "192.0.2.1", B = "192.0.2.2";
export const TIME_WAIT_MS = 20;
export const MiB = 1 << 20;

export async function tcpStacks(variant: (typeof VARIANTS)[number], stack?: StackOptions) {
  const st = await twoStacks({ variant, stack });
  // Static ARP both ways: no first segment waits for resolution, baselines are stable.
  st.a.addStaticArp(B, Uint8Array.of(2, 0, 0, 0, 0, 2));
  st.b.addStaticArp(A, Uint8Array.of(2, 0, 0, 0, 0, 1));
  st.a.raw.tcp.setTimeWait(TIME_WAIT_MS);
  st.b.raw.tcp.setTimeWait(TIME_WAIT_MS);
  return { ...st, baseA: baseline(st.a), baseB: baseline(st.b) };
}

/** Waits out TIME_WAIT, then both stacks must be back at baseline. */
export async function noLeaks(a: Stack, baseA: Usage, b: Stack, baseB: Usage, ms = 5000): Promise<void> {
  await until(() => {
    try {
      assertNoLeaks(a, baseA, "A");
      assertNoLeaks(b, baseB, "B");
      return true;
    } catch {
      return false;
    }
  }, ms, "pools back to baseline").catch(() => {});
  assertNoLeaks(a, baseA, "A");
  assertNoLeaks(b, baseB, "B");
}

export const once = <T = unknown>(em: { once(ev: string, f: (...a: any[]) => void): unknown }, ev: string) =>
  new Promise<T>((r) => em.once(ev, (x: T) => r(x)));
