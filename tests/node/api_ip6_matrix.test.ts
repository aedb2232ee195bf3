// The API pair matrices (api_echo.ts: 25 TCP pairs; udp_echo.ts: 25 UDP
// pairs) with the family dimension: every API's server is its IPv6 socket
// on "::" (raw tcp.new(46), NETCONN_TCP_IPV6, AF_INET6, net listen('::'),
// dgram 'udp6', streams on "::"), and every API's client is its IPv6
// socket too, in-thread and in Worker mode, with the pools back to baseline
// after. Here the clients connect to B's IPv4-mapped address: the
// dual-stack path, IPv6 APIs over IPv4 packets. Over IPv6 packets (to
// 2001:db8::2) they run in api_ip6_packets.test.ts; IPv4 ones in
// api_tcp_cross, api_udp and api_worker_cross.
import "../../bindings/api/net.js";
import "../../bindings/api/dgram.js";
import { test } from "node:test";
import { tcpEchoMatrix, type Fam } from "./api_echo.js";
import { udpEchoMatrix } from "./udp_echo.js";
import { tcpStacks, noLeaks, B } from "./api_tcp_common.js";
import { twoWorkers, workersNoLeaks } from "../helpers/workers.js";
import { settle, assertNoLeaks, baseline } from "../helpers/stacks.js";

const TARGETS: Fam[] = [{ v6: true, target: `::ffff:${B}` }];

for (const f of TARGETS) {
  const what = f.v6 ? `IPv6 sockets to ${f.target}` : "IPv4";
  test(`release: TCP, every API's server serves every API's client (25 pairs, 96 KiB each way), ${what}`, async () => {
    const { a, b, baseA, baseB } = await tcpStacks("release");
    await tcpEchoMatrix(a, b, undefined, f);
    await noLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });

  test(`release: UDP, every API's server answers every API's client (25 pairs), ${what}`, async () => {
    const { a, b } = await tcpStacks("release");
    await settle();
    const baseA = baseline(a), baseB = baseline(b);
    await udpEchoMatrix(a, b, async (sname) => {
      await settle();
      assertNoLeaks(b, baseB, `B after ${sname} server`);
    }, f);
    await settle();
    assertNoLeaks(a, baseA, "A");
    await a.close();
    await b.close();
  });

  test(`release: worker mode: TCP 25 pairs and UDP 25 pairs, ${what}`, async () => {
    const { a, b, baseA, baseB } = await twoWorkers("release");
    await tcpEchoMatrix(a, b, undefined, f);
    await udpEchoMatrix(a, b, undefined, f);
    await workersNoLeaks(a, baseA, b, baseB);
    await a.close();
    await b.close();
  });
}
