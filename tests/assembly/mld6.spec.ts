// MLD listener (RFC 3810, MLDv1 compatibility RFC 2710): reports on join and
// leave, answers to queries, v1 compatibility mode, solicited-node groups,
// and the 33:33 multicast MAC filter.
import { asip_init } from "../../assembly/index";
import { netif_ip6_add } from "../../assembly/abi/ip6";
import { netif, netif_add, netif_set_up, netif_set_link_up, netif_input } from "../../assembly/netif/netif";
import { mld6_joingroup_netif, mld6_leavegroup_netif, mld6_lookfor, mld6_v1_mode } from "../../assembly/ipv6/mld6";
import { stats_get, Proto, Ctr } from "../../assembly/core/stats";
import { tx_clear, ev_clear } from "./harness/rings";
import { OUR_MAC } from "./harness/addr";
import {
  addr6, OURS, PEER_LL, ALLNODES, T, body_reset, b8, b16, bzero, baddr, send_icmp6, frame6, tx6, eq16,
  advance_ms, tx_count, frame, body, blen, icmp6_sum,
} from "./harness/ip6";

let n: netif = changetype<netif>(0);
const OUR_LL = addr6(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const GROUP = addr6(0xff0e, 0, 0, 0, 0, 0, 0, 0x101);
const GROUP_MAC: usize = memory.data<u8>([0x33, 0x33, 0, 0, 1, 1, 0, 0]);
const OTHER_MAC33: usize = memory.data<u8>([0x33, 0x33, 0, 0, 2, 2, 0, 0]);
const MLDV2_ROUTERS = addr6(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
const ALL_ROUTERS = addr6(0xff02, 0, 0, 0, 0, 0, 0, 2);
const ALLNODES_MAC: usize = memory.data<u8>([0x33, 0x33, 0, 0, 0, 1, 0, 0]);

function setup(): void {
  if (changetype<usize>(n) == 0) {
    asip_init(0, 1);
    n = netif_add(OUR_MAC, 1500)!;
    netif_set_up(n);
    netif_set_link_up(n);
    netif_ip6_add(n.num, changetype<usize>(T(OUR_LL, 0, n.num)), 64, 1);
    netif_ip6_add(n.num, changetype<usize>(T(OURS)), 64, 1);
    advance_ms(3000);
  }
  tx_clear();
  ev_clear();
}

/** MLD messages on the TX ring about `group`: [kind, …] with kind 143 record type ×1000 + 143, or 131/132. */
function reports(group: usize): i32[] {
  const r: i32[] = [];
  for (let i: u32 = 0; i < tx_count(); i++) {
    const h = tx6(i);
    if (h == 0 || load<u8>(h + 6) != 0) continue; // MLD always has hop-by-hop
    // Hop-by-hop with Router Alert (RFC 3810 §5), hop limit 1, from our link-local address.
    expect(load<u8>(h + 7)).toBe(1, "hop limit 1");
    expect(load<u8>(h + 42)).toBe(5, "router alert option");
    expect(eq16(h + 8, OUR_LL)).toBe(true, "from our link-local address");
    const m = h + 48;
    const t = load<u8>(m);
    if (t == 143) {
      if (!eq16(m + 12, group)) continue;
      expect(eq16(h + 24, MLDV2_ROUTERS)).toBe(true, "v2 reports go to ff02::16");
      r.push(<i32>load<u8>(m + 8) * 1000 + 143);
    } else if (t == 131 || t == 132) {
      if (!eq16(m + 8, group)) continue;
      expect(eq16(h + 24, t == 131 ? group : ALL_ROUTERS)).toBe(true, "v1 report to the group, done to all routers");
      r.push(<i32>t);
    }
  }
  return r;
}

function query(v1: bool, group: usize, hl: u8 = 1): void {
  body_reset();
  b8(130); b8(0); b16(0); b16(1000); b16(0); baddr(group);
  if (!v1) { b8(2); b8(125); b16(0); }
  send_icmp6(n, PEER_LL, ALLNODES, hl, ALLNODES_MAC);
}

describe("MLD (RFC 3810)", () => {
  test("joining sends a state-change report (change to exclude), repeated once; the group is listened to", () => {
    setup();
    mld6_joingroup_netif(n, GROUP);
    expect(mld6_lookfor(n, GROUP)).toBe(true);
    expect(reports(GROUP)).toStrictEqual([4143]);
    tx_clear();
    advance_ms(1100);
    expect(reports(GROUP)).toStrictEqual([4143], "robustness: sent twice");
    tx_clear();
    advance_ms(2000);
    expect(reports(GROUP).length).toBe(0);
  });

  test("the solicited-node groups of our addresses are joined and reported; all-nodes is never reported", () => {
    setup();
    const sol = addr6(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    expect(mld6_lookfor(n, sol)).toBe(true);
    query(false, addr6(0, 0, 0, 0, 0, 0, 0, 0));
    advance_ms(1100);
    expect(reports(sol)).toStrictEqual([2143], "mode is exclude, after a random delay");
    expect(reports(GROUP)).toStrictEqual([2143]);
    expect(reports(ALLNODES).length).toBe(0);
  });

  test("a group-specific query is answered for that group only; a query with hop limit 255 is dropped", () => {
    setup();
    const sol = addr6(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    query(false, GROUP);
    advance_ms(1100);
    expect(reports(GROUP)).toStrictEqual([2143]);
    expect(reports(sol).length).toBe(0);
    tx_clear();
    const before = stats_get(Proto.MLD6, Ctr.PROTERR);
    query(false, GROUP, 255);
    advance_ms(1100);
    expect(reports(GROUP).length).toBe(0);
    expect(stats_get(Proto.MLD6, Ctr.PROTERR)).toBe(before + 1);
  });

  test("an MLDv1 query switches to v1: v1 reports to the group, and done on leave", () => {
    setup();
    query(true, GROUP);
    expect(mld6_v1_mode(n)).toBe(true);
    advance_ms(1100);
    expect(reports(GROUP)).toStrictEqual([131]);
    tx_clear();
    mld6_leavegroup_netif(n, GROUP);
    expect(reports(GROUP)).toStrictEqual([132]);
    expect(mld6_lookfor(n, GROUP)).toBe(false);
    advance_ms(261000);
    expect(mld6_v1_mode(n)).toBe(false, "older version querier present timeout");
  });

  test("in v2, leaving sends change to include; frames to a group MAC we left are filtered", () => {
    setup();
    mld6_joingroup_netif(n, GROUP);
    tx_clear();
    mld6_leavegroup_netif(n, GROUP);
    expect(reports(GROUP)).toStrictEqual([3143]);
    const before = stats_get(Proto.LINK, Ctr.DROP);
    body_reset(); b8(128); b8(0); b16(0); bzero(4);
    icmp6_sum(body(), blen, PEER_LL, GROUP);
    netif_input(frame6(PEER_LL, GROUP, 58, 64, body(), blen, GROUP_MAC), n);
    netif_input(frame6(PEER_LL, GROUP, 58, 64, body(), blen, OTHER_MAC33), n);
    expect(stats_get(Proto.LINK, Ctr.DROP)).toBe(before + 2);
    advance_ms(3000);
  });
});
