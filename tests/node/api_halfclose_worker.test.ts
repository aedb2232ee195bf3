// Half-close as node:net has it, in Worker mode: the scripts of
// api_halfclose.test.ts again, with stack.net running in this thread over
// the remote pcbs of two core Workers (bindings/worker/remote-raw.ts), the
// same Socket implementation over the other transport. Bytes (SHA-256) and
// event logs equal to Node's own node:net over loopback; release and mvp;
// both workers' heap and pools back at baseline after each test.
import { test } from "node:test";
import "../../bindings/api/net.js";
import { twoWorkers, workersNoLeaks, B } from "../helpers/workers.js";
import { SCRIPTS, assertLikeNode, asipNet, type ScriptName } from "./halfclose_scripts.js";

for (const variant of ["release", "mvp"] as const) {
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    test(`${variant}: worker mode: half-close like node:net: ${name} (1 B..8 MiB, allowHalfOpen off/on at each end)`, async () => {
      const { a, b, baseA, baseB } = await twoWorkers(variant);
      await assertLikeNode(name, { net: asipNet(b.net, a.net), host: B });
      await workersNoLeaks(a, baseA, b, baseB);
      await a.close();
      await b.close();
    });
  }
}
