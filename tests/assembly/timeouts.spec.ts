import { mem_init } from "../../assembly/core/mem";
import { memp_init, memp_used, MEMP } from "../../assembly/core/memp";
import {
  sys_timeout, sys_timeout_cyclic, sys_untimeout, sys_check_timeouts, sys_timeouts_sleeptime, sys_set_now,
  sys_now, sys_timeouts_count, sys_timeout_pending,
} from "../../assembly/core/timeouts";
import { ERR_OK } from "../../assembly/core/err";
import { leak_mark, leak_check } from "./harness/leak";

// What fired, in order: (arg, time) pairs.
const fired = new StaticArray<u32>(256);
let nfired = 0;
function record(arg: usize): void {
  fired[nfired * 2] = <u32>arg;
  fired[nfired * 2 + 1] = sys_now();
  nfired++;
}
function reset(): void { nfired = 0; }

// A handler that adds another timeout while timeouts are being processed (lwIP bug #52748).
function adds_another(arg: usize): void {
  record(arg);
  sys_timeout(10, record, 99);
}

function cancel_self(arg: usize): void {
  record(arg);
  sys_untimeout(cancel_self, arg);
}

function clear_all(): void {
  while (sys_timeouts_count() > 0) {
    sys_untimeout(record, 1); sys_untimeout(record, 2); sys_untimeout(record, 3);
    sys_untimeout(record, 4); sys_untimeout(record, 99); sys_untimeout(adds_another, 7);
    sys_untimeout(cancel_self, 5);
    if (sys_timeouts_count() > 0) { sys_check_timeouts(sys_now() + 0x40000000); }
  }
}

function run_at(base: u32): void {
  sys_set_now(base);
  reset();
  // order: later timers inserted first; equal deadlines keep insertion order
  expect(sys_timeout(30, record, 3)).toBe(ERR_OK);
  expect(sys_timeout(10, record, 1)).toBe(ERR_OK);
  expect(sys_timeout(20, record, 2)).toBe(ERR_OK);
  expect(sys_timeout(20, record, 4)).toBe(ERR_OK);
  expect(sys_timeouts_sleeptime()).toBe(10);
  sys_check_timeouts(base + 9);
  expect(nfired).toBe(0);
  expect(sys_timeouts_sleeptime()).toBe(1);
  sys_check_timeouts(base + 10); // exactly on the ms
  expect(nfired).toBe(1);
  expect(fired[0]).toBe(1);
  expect(fired[1]).toBe(base + 10);
  sys_check_timeouts(base + 25);
  expect(nfired).toBe(3);
  expect(fired[2]).toBe(2);
  expect(fired[4]).toBe(4);
  sys_check_timeouts(base + 30);
  expect(nfired).toBe(4);
  expect(fired[6]).toBe(3);
  expect(sys_timeouts_sleeptime()).toBe(-1);
}

describe("timeouts", () => {
  beforeAll(() => { mem_init(64 * 1024); memp_init(); });

  it("fires in deadline order, exactly on the ms, and then sleeps forever", () => {
    leak_mark();
    run_at(1000);
    leak_check();
  });

  it("keeps order across u32 clock wraparound", () => {
    leak_mark();
    run_at(0xffffffff - 15); // deadlines straddle the wrap
    run_at(0xffffffff);
    leak_check();
  });

  it("cancels by handler and argument", () => {
    leak_mark();
    sys_set_now(5000);
    reset();
    sys_timeout(10, record, 1);
    sys_timeout(20, record, 2);
    expect(sys_timeout_pending(record, 2)).toBe(true);
    expect(sys_untimeout(record, 2)).toBe(1);
    expect(sys_timeout_pending(record, 2)).toBe(false);
    sys_check_timeouts(5100);
    expect(nfired).toBe(1);
    expect(fired[0]).toBe(1);
    leak_check();
  });

  it("fires a timeout added during processing at the right time (lwIP bug #52748)", () => {
    leak_mark();
    sys_set_now(100);
    reset();
    sys_timeout(10, adds_another, 7);
    sys_check_timeouts(130); // late by 20: the new one is due at 130 + 10
    expect(nfired).toBe(1);
    expect(sys_timeouts_sleeptime()).toBe(10);
    sys_check_timeouts(139);
    expect(nfired).toBe(1);
    sys_check_timeouts(140);
    expect(nfired).toBe(2);
    expect(fired[2]).toBe(99);
    leak_check();
  });

  it("re-arms cyclic timers from the planned time, and from now when 2 intervals late", () => {
    for (let w = 0; w < 2; w++) {
      const base: u32 = w == 0 ? 0 : 0xffffffff - 250;
      leak_mark();
      sys_set_now(base);
      reset();
      sys_timeout_cyclic(100, record, 1);
      sys_check_timeouts(base + 105); // 5 late: next is base + 200, not 205
      expect(nfired).toBe(1);
      expect(sys_timeouts_sleeptime()).toBe(95);
      sys_check_timeouts(base + 200);
      expect(nfired).toBe(2);
      sys_check_timeouts(base + 550); // more than 2 intervals late: one call, next at now + 100
      expect(nfired).toBe(3);
      expect(sys_timeouts_sleeptime()).toBe(100);
      expect(sys_untimeout(record, 1)).toBe(1);
      leak_check();
    }
  });

  it("lets a cyclic handler cancel itself", () => {
    leak_mark();
    sys_set_now(0);
    reset();
    sys_timeout_cyclic(10, cancel_self, 5);
    sys_check_timeouts(10);
    expect(nfired).toBe(1);
    expect(sys_timeouts_count()).toBe(0);
    leak_check();
  });

  it("does not fire a UINT32_MAX/4 timeout early (long_timer)", () => {
    leak_mark();
    sys_set_now(0x10);
    reset();
    const long: u32 = u32.MAX_VALUE / 4;
    sys_timeout(long, record, 1);
    sys_check_timeouts(0x10 + long - 1);
    expect(nfired).toBe(0);
    sys_check_timeouts(0x10 + long);
    expect(nfired).toBe(1);
    leak_check();
  });

  it("returns ERR_MEM when the pool is empty, without leaking", () => {
    leak_mark();
    sys_set_now(0);
    let n = 0;
    while (sys_timeout(1000, record, 4) == ERR_OK) n++;
    expect(n).toBeGreaterThan(0);
    expect(memp_used(MEMP.SYS_TIMEOUT)).toBe(<u32>n);
    expect(sys_untimeout(record, 4)).toBe(n);
    leak_check();
  });
});
