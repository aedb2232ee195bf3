// Stress: the Worker-mode suite (tests/node/worker_scenarios.ts, which
// api_worker.test.ts runs once) round after round, all of it under a
// competing CPU load: busy-loop processes, one per CPU by default, so that
// the core workers, the blocking clients and this thread are preempted at
// arbitrary points (see docs/design.md, "Worker mode", for the race this
// was written for). A hang shows as a scenario that does not finish: each
// has a deadline, far above what it takes under load, and fails with its
// name and round. The deadline detects; it fixes nothing.
//
//   ASIP_STRESS_ROUNDS   rounds (default 3, what `npm test` runs;
//                        `npm run stress -- worker` runs 20)
//   ASIP_STRESS_LOAD     busy-loop processes (default: one per CPU)
import { test, before, after } from "node:test";
import { spawn, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { workerScenarios } from "../node/worker_scenarios.js";
import { deadline } from "../helpers/workers.js";

const ROUNDS = Number(process.env.ASIP_STRESS_ROUNDS ?? 3);
const LOAD = Number(process.env.ASIP_STRESS_LOAD ?? availableParallelism());
/** A scenario takes well under a second unloaded and a few under this load. */
const DEADLINE_MS = 60_000;

// Each busy loop spins until this process is gone: it checks its parent
// every 100 ms, so that a test process killed by a watchdog leaves no
// spinning orphan behind.
const SPIN = "const p = process.ppid; for (;;) { const t = Date.now() + 100; while (Date.now() < t); if (process.ppid !== p) process.exit(0); }";
const load: ChildProcess[] = [];
const stopLoad = () => {
  for (const c of load.splice(0)) c.kill("SIGKILL");
};
before(() => {
  for (let i = 0; i < LOAD; i++) load.push(spawn(process.execPath, ["-e", SPIN], { stdio: "ignore" }));
});
after(stopLoad);
process.once("exit", stopLoad);

for (let round = 1; round <= ROUNDS; round++) {
  for (const variant of ["release", "mvp"] as const) {
    for (const s of workerScenarios) {
      const name = `round ${round}/${ROUNDS}, ${variant}: worker mode: ${s.name}`;
      test(name, () => deadline(s.run(variant), DEADLINE_MS, `${name} (under a load of ${LOAD} busy processes)`));
    }
  }
}
