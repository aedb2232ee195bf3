// timeouts: one-shot and cyclic timers in one ordered list (lwIP timeouts.c).
//
// The host owns the clock. It calls `sys_check_timeouts(now)` (index.ts
// `tick`) when the earliest deadline is due, and sleeps until the next one:
// an idle stack has no timer and costs nothing.
//
// Times are u32 milliseconds that wrap every 49.7 days. Every comparison is
// made on the signed difference (TIME_LESS_THAN), so the list stays ordered
// across the wrap as long as no timeout is longer than 2^31 - 1 ms.
//
//   struct sys_timeo (24 bytes, SYS_TIMEO_SIZE), from MEMP.SYS_TIMEOUT:
//   +0  next      usize  next timeout, later or equal deadline
//   +4  time      u32    absolute deadline
//   +8  handler   usize  the handler (an AssemblyScript function reference)
//   +12 arg       usize  its argument
//   +16 interval  u32    0 for one-shot; the period of a cyclic timer
//   +20           reserved

import { ERR_MEM, ERR_OK, err_t } from "./err";
import { MEMP, memp_free, memp_malloc } from "./memp";

export const SYS_TIMEO_SIZE: u32 = 24;

/** A timeout handler. Plain functions only (no closures): they are stored in linear memory. */
export type sys_timeout_handler = (arg: usize) => void;

@unmanaged
class sys_timeo {
  next: usize;
  time: u32;
  handler: usize;
  arg: usize;
  interval: u32;
  _r: u32;
}

/** Head of the list, earliest deadline first. */
let next_timeout: usize = 0;
/** The host's clock as of the last call. */
let now_ms: u32 = 0;
/** Deadline of the timeout being run, the base for re-arming cyclic timers. */
let current_due: u32 = 0;

// @ts-ignore: decorator
@inline export function TIME_LESS_THAN(t: u32, compare_to: u32): bool {
  return <i32>(t - compare_to) < 0;
}

/** The stack's idea of now: the time the host passed in last. */
export function sys_now(): u32 {
  return now_ms;
}

/** Sets the clock without running anything (host start-up). */
export function sys_set_now(now: u32): void {
  now_ms = now;
}

function insert(t: sys_timeo): void {
  if (next_timeout == 0 || TIME_LESS_THAN(t.time, changetype<sys_timeo>(next_timeout).time)) {
    t.next = next_timeout;
    next_timeout = changetype<usize>(t);
    return;
  }
  let prev = changetype<sys_timeo>(next_timeout);
  // Equal deadlines keep insertion order: walk past every entry not later than t.
  while (prev.next != 0 && !TIME_LESS_THAN(t.time, changetype<sys_timeo>(prev.next).time)) {
    prev = changetype<sys_timeo>(prev.next);
  }
  t.next = prev.next;
  prev.next = changetype<usize>(t);
}

function add_at(time: u32, interval: u32, handler: sys_timeout_handler, arg: usize): err_t {
  const m = memp_malloc(MEMP.SYS_TIMEOUT);
  if (m == 0) return ERR_MEM;
  const t = changetype<sys_timeo>(m);
  t.next = 0;
  t.time = time;
  t.handler = changetype<usize>(handler);
  t.arg = arg;
  t.interval = interval;
  insert(t);
  return ERR_OK;
}

/**
 * Calls `handler(arg)` once, `msecs` from now. Returns ERR_MEM when the
 * MEMP.SYS_TIMEOUT pool is empty. `msecs` must be below 2^31.
 */
export function sys_timeout(msecs: u32, handler: sys_timeout_handler, arg: usize): err_t {
  return add_at(now_ms + msecs, 0, handler, arg);
}

/**
 * Calls `handler(arg)` every `interval` ms. The next deadline is the planned
 * one plus the interval, not the end of the handler, so a cyclic timer does
 * not drift; when the host was late by more than an interval, it restarts
 * from now (lwIP's cyclic_timer).
 */
export function sys_timeout_cyclic(interval: u32, handler: sys_timeout_handler, arg: usize): err_t {
  if (interval == 0) interval = 1;
  return add_at(now_ms + interval, interval, handler, arg);
}

/** Cancels every pending timeout with this handler and argument. Returns how many. */
export function sys_untimeout(handler: sys_timeout_handler, arg: usize): i32 {
  const h = changetype<usize>(handler);
  let n = 0;
  let prev: usize = 0;
  let cur = next_timeout;
  while (cur != 0) {
    const t = changetype<sys_timeo>(cur);
    const nxt = t.next;
    if (t.handler == h && t.arg == arg) {
      if (prev == 0) next_timeout = nxt;
      else changetype<sys_timeo>(prev).next = nxt;
      memp_free(MEMP.SYS_TIMEOUT, cur);
      n++;
    } else {
      prev = cur;
    }
    cur = nxt;
  }
  return n;
}

/** Is a timeout with this handler and argument pending? */
export function sys_timeout_pending(handler: sys_timeout_handler, arg: usize): bool {
  const h = changetype<usize>(handler);
  for (let cur = next_timeout; cur != 0; cur = changetype<sys_timeo>(cur).next) {
    const t = changetype<sys_timeo>(cur);
    if (t.handler == h && t.arg == arg) return true;
  }
  return false;
}

/**
 * Sets the clock to `now` and runs every timeout that is due, in deadline
 * order. Timeouts added by handlers with a deadline not after `now` run in the
 * same call.
 */
export function sys_check_timeouts(now: u32): void {
  now_ms = now;
  while (next_timeout != 0) {
    const t = changetype<sys_timeo>(next_timeout);
    if (TIME_LESS_THAN(now, t.time)) break;
    next_timeout = t.next;
    current_due = t.time;
    const handler = changetype<sys_timeout_handler>(t.handler);
    const arg = t.arg;
    if (t.interval != 0) {
      // Re-arm before the call so the handler may cancel itself.
      let time = current_due + t.interval;
      if (TIME_LESS_THAN(time, now)) time = now + t.interval;
      t.time = time;
      t.next = 0;
      insert(t);
    } else {
      memp_free(MEMP.SYS_TIMEOUT, changetype<usize>(t));
    }
    handler(arg);
  }
}

/**
 * Milliseconds from `now` (the last clock) to the earliest deadline: 0 if one
 * is due, -1 if there is no timer at all.
 */
export function sys_timeouts_sleeptime(): i32 {
  if (next_timeout == 0) return -1;
  const dt = <i32>(changetype<sys_timeo>(next_timeout).time - now_ms);
  return dt < 0 ? 0 : dt;
}

/** Absolute deadline of the earliest timeout (only meaningful when one exists). */
export function sys_timeouts_next_deadline(): u32 {
  return next_timeout == 0 ? now_ms : changetype<sys_timeo>(next_timeout).time;
}

/** Number of pending timeouts (tests and stats). */
export function sys_timeouts_count(): i32 {
  let n = 0;
  for (let cur = next_timeout; cur != 0; cur = changetype<sys_timeo>(cur).next) n++;
  return n;
}
