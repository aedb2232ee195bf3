// Half-close as node:net has it, checked differentially: every script of
// halfclose_scripts.ts (net echo, writes in and after 'end', destroySoon,
// the server's FIN first, TLS echo, http and https request/response) runs
// on Node's own node:net over the kernel's loopback and on asip's stack.net
// between two stacks over pair(), for sizes 1 B to 8 MiB and allowHalfOpen
// off and on at either end; bytes (SHA-256) and every socket's event log
// must be equal. Release and mvp; each test ends with both stacks' heap and
// pools back at baseline. Worker mode: api_halfclose_worker.test.ts.
import { test } from "node:test";
import "../../bindings/api/net.js";
import { VARIANTS } from "../helpers/stacks.js";
import { tcpStacks, noLeaks, B } from "./api_tcp_common.js";
import { SCRIPTS, assertLikeNode, asipNet, type ScriptName } from "./halfclose_scripts.js";

for (const variant of VARIANTS) {
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    test(`${variant}: half-close like node:net: ${name} (1 B..8 MiB, allowHalfOpen off/on at each end)`, async () => {
      const { a, b, baseA, baseB } = await tcpStacks(variant);
      // Servers on B, clients on A.
      await assertLikeNode(name, { net: asipNet(b.net, a.net), host: B });
      await noLeaks(a, baseA, b, baseB);
      await a.close();
      await b.close();
    });
  }
}
