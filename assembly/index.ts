// The exported ABI: the only file that exports. See docs/abi.md.
// The mvp build routes abort() to core/abort's trapAbort (asconfig.json).
import "./core/abort";
import { mem_init, mem_malloc, mem_free, mem_used } from "./core/mem";
import { memp_init } from "./core/memp";
import { sys_check_timeouts, sys_timeouts_sleeptime } from "./core/timeouts";
import { stats_base } from "./core/stats";

export function asip_init(): void {
  mem_init();
  memp_init();
}
export function tick(now: u32): i32 {
  sys_check_timeouts(now);
  return sys_timeouts_sleeptime();
}
export function stats_ptr(): usize { return stats_base; }
export { mem_malloc, mem_free, mem_used };
