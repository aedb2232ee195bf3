// Neighbor Discovery (RFC 4861), DAD (RFC 4862 §5.4) and Router
// Advertisement processing, driven message by message through netif_input
// and checked on the TX ring, the neighbour cache and the address slots.
import { asip_init } from "../../assembly/index";
import { netif_ip6_add, netif_ip6_remove, netif_ip6_config } from "../../assembly/abi/ip6";
import {
  netif, netif_add, netif_set_up, netif_set_link_up, netif_ip6_addr_state, netif_ip6_addr, netif_ip6_addr_valid_life,
  netif_ip6_addr_pref_life, netif_ip6_addr_set_lifetimes, netif_remove, netif_input, netif_ip6_addr_origin, EV_NETIF_IP6, IP6_ADDR_PREFERRED,
  IP6_ADDR_DEPRECATED, IP6_ADDR_DUPLICATED, IP6_ADDR_INVALID, IP6_ADDR_TENTATIVE, ip6_addr_istentative,
} from "../../assembly/netif/netif";
import {
  nd6_cleanup_netif, nd6_neighbor_state, nd6_neighbor_mac, nd6_list_info, nd6_output, nd6_link_mtu, nd6_onlink,
  nd6_router_netif, nd6_add_static_router, ND6_INCOMPLETE, ND6_REACHABLE, ND6_STALE, ND6_DELAY, ND6_PROBE, ND6_NO_ENTRY, ND6_LIST_ROUTERS,
  ND6_LIST_PREFIXES, ND6_LIST_RDNSS, EV_ND6_RDNSS,
} from "../../assembly/ipv6/nd6";
import { ip6_output_if_src } from "../../assembly/ipv6/ip6";
import { udp_pcb, udp_new_ip_type, udp_remove, udp_sendto } from "../../assembly/udp";
import { IPADDR_TYPE_V6 } from "../../assembly/ip_addr";
import { tcp_new_ip_type, tcp_connect, tcp_abort } from "../../assembly/tcp/tcp";
import { tcp_write, tcp_output } from "../../assembly/tcp/tcp_out";
import { ref_sum, ref_pseudo_sum } from "./harness/checksum";
import { netif_ip6_select_src, IP6_ORIGIN_TEMP, IP6_ORIGIN_SLAAC } from "../../assembly/netif/netif";
import { pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { stats_get, Proto, Ctr } from "../../assembly/core/stats";
import { MEMP, MEMP_MAX, memp_used } from "../../assembly/core/memp";
import { mem_used } from "../../assembly/core/mem";
import { leak_marked_pool } from "./harness/leak";
import { test_begin } from "./harness/netif";
import { tx_clear, expect_no_tx, ev_pending, ev_record, ev_type, ev_arg, ev_clear } from "./harness/rings";
import { OUR_MAC, PEER_MAC, mac_is } from "./harness/addr";
import {
  addr6, OURS, PEER6, OTHER6, PEER_LL, UNSPEC, ALLNODES, OTHER_MAC, T, solnode, body_reset, b8, b16, b32, baddr, bzero,
  send_icmp6, tx6, upper, find_icmp6, count_icmp6, eq16, advance_ms, frame, tx_count, frame6, body, blen, icmp6_sum,
} from "./harness/ip6";

let n: netif = changetype<netif>(0);
let slot: i32 = -1;

function setup(): void {
  if (changetype<usize>(n) == 0) {
    asip_init(0, 1);
    n = netif_add(OUR_MAC, 1500)!;
    netif_set_up(n);
    netif_set_link_up(n);
    slot = netif_ip6_add(n.num, changetype<usize>(T(OURS)), 64, 1);
    advance_ms(1000);
  }
  nd6_cleanup_netif(n);
  tx_clear();
  ev_clear();
  test_begin();
  heap_mark = mem_used();
}

function teardown(): void {
  nd6_cleanup_netif(n);
  tx_clear();
  ev_clear();
  // The ND and MLD timers run while something ages: not a leak.
  expect(mem_used()).toBe(heap_mark, "heap bytes in use");
  for (let i = 0; i < MEMP_MAX; i++) if (i != MEMP.SYS_TIMEOUT) expect(memp_used(i)).toBe(leak_marked_pool(i), "pool " + i.toString());
}
let heap_mark: u32 = 0;

// ND messages (RFC 4861 §4) into the body buffer.
function ns_body(target: usize, sllao: usize): void {
  body_reset(); b8(135); b8(0); b16(0); b32(0); baddr(target);
  if (sllao != 0) { b8(1); b8(1); for (let i = 0; i < 6; i++) b8(load<u8>(sllao + i)); }
}
function na_body(target: usize, flags: u8, tllao: usize): void {
  body_reset(); b8(136); b8(0); b16(0); b8(flags); b8(0); b16(0); baddr(target);
  if (tllao != 0) { b8(2); b8(1); for (let i = 0; i < 6; i++) b8(load<u8>(tllao + i)); }
}
const S: u8 = 0x40, O: u8 = 0x20, R: u8 = 0x80;
const ALLNODES_MAC: usize = memory.data<u8>([0x33, 0x33, 0, 0, 0, 1, 0, 0]);

/** A one-byte UDP-ish payload sent to `dst` (so that ND must resolve it). */
function send_to(dst: usize): void {
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 8, pbuf_type.PBUF_RAM)!;
  memory.fill(p.payload, 0, 8);
  ip6_output_if_src(p, OURS, dst, 64, 0, 59, n);
  pbuf_free(p);
}

/** Makes PEER6 a REACHABLE neighbour at PEER_MAC. */
function make_reachable(): void {
  send_to(PEER6);
  na_body(PEER6, S | O, PEER_MAC);
  send_icmp6(n, PEER6, OURS, 255);
  expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_REACHABLE);
  tx_clear();
}

describe("neighbor solicitation and advertisement", () => {
  test("the static address passed (no-DAD) and is preferred", () => {
    setup();
    expect(netif_ip6_addr_state(n, slot)).toBe(IP6_ADDR_PREFERRED);
    teardown();
  });

  test("an NS for our address is answered by a solicited NA with override and our MAC; the asker is cached STALE", () => {
    setup();
    ns_body(OURS, PEER_MAC);
    send_icmp6(n, PEER6, solnode(OURS), 255, OUR_MAC);
    const i = find_icmp6(136);
    expect(i).toBeGreaterThanOrEqual(0, "an NA");
    const h = tx6(<u32>i);
    expect(mac_is(frame, PEER_MAC)).toBe(true, "to the asker's MAC");
    expect(load<u8>(h + 7)).toBe(255, "hop limit 255");
    expect(eq16(h + 8, OURS)).toBe(true, "from the target");
    expect(eq16(h + 24, PEER6)).toBe(true, "to the asker");
    const m = upper(h);
    expect(load<u8>(m + 4)).toBe(S | O, "solicited, override, not a router");
    expect(eq16(m + 8, OURS)).toBe(true, "target");
    expect(load<u8>(m + 24)).toBe(2, "TLLAO");
    expect(mac_is(m + 26, OUR_MAC)).toBe(true, "our MAC");
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_DELAY, "STALE, then DELAY as the NA used it");
    teardown();
  });

  test("an NS with hop limit 64 is ignored (RFC 4861 §7.1.1)", () => {
    setup();
    const before = stats_get(Proto.ND6, Ctr.DROP);
    ns_body(OURS, PEER_MAC);
    send_icmp6(n, PEER6, solnode(OURS), 64, OUR_MAC);
    expect(find_icmp6(136)).toBe(-1);
    expect(stats_get(Proto.ND6, Ctr.DROP)).toBe(before + 1);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_NO_ENTRY);
    teardown();
  });

  test("an ND option of length 0 drops the message (RFC 4861 §7.1.1)", () => {
    setup();
    ns_body(OURS, 0);
    b8(1); b8(0); bzero(6);
    send_icmp6(n, PEER6, solnode(OURS), 255, OUR_MAC);
    expect(find_icmp6(136)).toBe(-1);
    expect(stats_get(Proto.ND6, Ctr.OPTERR)).toBe(1);
    teardown();
  });

  test("an NS for someone else's address is not answered", () => {
    setup();
    ns_body(OTHER6, PEER_MAC);
    send_icmp6(n, PEER6, solnode(OTHER6), 255, OUR_MAC);
    expect(find_icmp6(136)).toBe(-1);
    teardown();
  });

  test("address resolution: INCOMPLETE with a multicast NS and the packet queued; the NA sends it and makes the entry REACHABLE", () => {
    setup();
    send_to(PEER6);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_INCOMPLETE);
    expect(tx_count()).toBe(1, "only the NS");
    const h = tx6(0);
    expect(load<u8>(upper(h))).toBe(135);
    expect(eq16(h + 24, solnode(PEER6))).toBe(true, "to the solicited-node group");
    expect(load<u16>(frame)).toBe(0x3333, "33:33 MAC");
    expect(load<u8>(upper(h) + 24)).toBe(1, "with our SLLAO");
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(1, "one packet queued");
    tx_clear();
    na_body(PEER6, S | O, PEER_MAC);
    send_icmp6(n, PEER6, OURS, 255);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_REACHABLE);
    expect(tx_count()).toBe(1, "the queued packet went out");
    const q = tx6(0);
    expect(mac_is(frame, PEER_MAC)).toBe(true);
    expect(load<u8>(q + 6)).toBe(59);
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(0);
    teardown();
  });

  test("an INCOMPLETE entry keeps at most 3 packets, the newest", () => {
    setup();
    for (let i = 0; i < 5; i++) send_to(PEER6);
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(3);
    expect(count_icmp6(135)).toBe(1, "one NS, not one per packet");
    teardown();
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(0);
  });

  test("INCOMPLETE gives up after 3 solicitations and frees its queue", () => {
    setup();
    send_to(PEER6);
    tx_clear();
    advance_ms(2000);
    expect(count_icmp6(135)).toBe(2, "retransmitted each RetransTimer");
    advance_ms(1000);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_NO_ENTRY);
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(0);
    teardown();
  });

  test("an NA without override and with another address does not replace a REACHABLE entry; it becomes STALE (RFC 4861 §7.2.5)", () => {
    setup();
    make_reachable();
    na_body(PEER6, S, OTHER_MAC);
    send_icmp6(n, PEER6, OURS, 255);
    expect(mac_is(nd6_neighbor_mac(n, PEER6), PEER_MAC)).toBe(true, "address kept");
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_STALE);
    // With override it does replace.
    na_body(PEER6, O, OTHER_MAC);
    send_icmp6(n, PEER6, OURS, 255);
    expect(mac_is(nd6_neighbor_mac(n, PEER6), OTHER_MAC)).toBe(true, "replaced with O");
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_STALE, "unsolicited: STALE");
    teardown();
  });

  test("an unsolicited NA for an unknown neighbour creates nothing; a multicast NA with S is invalid", () => {
    setup();
    na_body(OTHER6, O, OTHER_MAC);
    send_icmp6(n, OTHER6, ALLNODES, 255, OUR_MAC);
    expect(nd6_neighbor_state(n, OTHER6)).toBe(ND6_NO_ENTRY);
    make_reachable();
    na_body(PEER6, S | O, OTHER_MAC);
    send_icmp6(n, PEER6, ALLNODES, 255, OUR_MAC);
    expect(mac_is(nd6_neighbor_mac(n, PEER6), PEER_MAC)).toBe(true);
    expect(stats_get(Proto.ND6, Ctr.PROTERR)).toBe(1);
    teardown();
  });

  test("NUD: REACHABLE → STALE after ReachableTime; use → DELAY → PROBE with unicast NS → gone after 3 probes", () => {
    setup();
    make_reachable();
    advance_ms(46000);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_STALE);
    send_to(PEER6);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_DELAY);
    expect(tx_count()).toBe(1, "sent at once to the stale address");
    tx_clear();
    advance_ms(5000);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_PROBE);
    const i = find_icmp6(135);
    expect(i).toBeGreaterThanOrEqual(0);
    const h = tx6(<u32>i);
    expect(eq16(h + 24, PEER6)).toBe(true, "unicast probe");
    expect(mac_is(frame, PEER_MAC)).toBe(true);
    // A solicited NA confirms.
    na_body(PEER6, S, PEER_MAC);
    send_icmp6(n, PEER6, OURS, 255);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_REACHABLE);
    advance_ms(46000);
    send_to(PEER6);
    advance_ms(5000);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_PROBE);
    advance_ms(3000);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_NO_ENTRY, "unreachable after 3 probes");
    teardown();
  });
});

// ---- upper-layer reachability confirmation -----------------------------------------------

const tcp_data: usize = memory.data(100, 8);

/** A TCP segment from PEER6 port 80 to our `dport` (no options, window 65535), checksum filled. */
function tcp6_in(dport: u16, seq: u32, ack: u32, flags: u8): void {
  body_reset();
  b16(80); b16(dport); b32(seq); b32(ack); b8(5 << 4); b8(flags); b16(65535); b16(0); b16(0);
  const s = <u16>~ref_sum(body(), blen, ref_pseudo_sum(T(PEER6, 2), T(OURS, 3), 6, blen));
  store<u16>(body() + 16, bswap<u16>(s));
  netif_input(frame6(PEER6, OURS, 6, 64, body(), blen), n);
}

describe("upper-layer reachability confirmation (RFC 4861 §7.3.1)", () => {
  test("ACKs of new data keep a TCP peer's neighbour entry REACHABLE: no DELAY, PROBE or NS over 100 s", () => {
    setup();
    make_reachable();
    const pcb = tcp_new_ip_type(IPADDR_TYPE_V6)!;
    expect(tcp_connect(pcb, T(PEER6), 80, null)).toBe(0);
    const syn = upper(tx6(0));
    const lport = bswap<u16>(load<u16>(syn));
    let snd = bswap<u32>(load<u32>(syn + 4)) + 1;
    tx_clear();
    tcp6_in(lport, 1000, snd, 0x12); // SYN-ACK
    tx_clear();
    let not_reachable = 0;
    let solicitations: u32 = 0;
    for (let s = 0; s < 100; s++) {
      expect(tcp_write(pcb, tcp_data, 100, 1)).toBe(0);
      tcp_output(pcb);
      snd += 100;
      tcp6_in(lport, 1001, snd, 0x10);
      solicitations += count_icmp6(135);
      tx_clear();
      advance_ms(1000);
      solicitations += count_icmp6(135);
      tx_clear();
      if (nd6_neighbor_state(n, PEER6) != ND6_REACHABLE) not_reachable++;
    }
    expect(not_reachable).toBe(0, "seconds the entry was not REACHABLE");
    expect(solicitations).toBe(0, "neighbour solicitations");
    // Without progress the entry ages as before (§7.3.3).
    advance_ms(46000);
    expect(nd6_neighbor_state(n, PEER6)).toBe(ND6_STALE);
    tcp_abort(pcb);
    teardown();
  });
});

// ---- DAD ----------------------------------------------------------------------------------

const DAD_ADDR = addr6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77);

/** The nonce option of the DAD NS in the last frame read (a pointer into `frame`). */
function dad_probe(): usize {
  const i = find_icmp6(135);
  expect(i).toBeGreaterThanOrEqual(0, "a DAD probe");
  const h = tx6(<u32>i);
  expect(eq16(h + 8, UNSPEC)).toBe(true, "from ::");
  expect(eq16(h + 24, solnode(DAD_ADDR))).toBe(true, "to the solicited-node group");
  const m = upper(h);
  expect(eq16(m + 8, DAD_ADDR)).toBe(true, "target");
  expect(load<u8>(m + 24)).toBe(14, "a nonce option, no SLLAO");
  return m + 26;
}

function dad_ns_body(nonce: usize): void {
  ns_body(DAD_ADDR, 0);
  b8(14); b8(1); for (let i = 0; i < 6; i++) b8(load<u8>(nonce + i));
}

const nonce_copy: usize = memory.data(8);

describe("duplicate address detection (RFC 4862 §5.4)", () => {
  test("a new address is tentative, probes once from :: with a nonce, and is preferred a RetransTimer later", () => {
    setup();
    const s = netif_ip6_add(n.num, changetype<usize>(T(DAD_ADDR)), 64, 0);
    expect(ip6_addr_istentative(netif_ip6_addr_state(n, s))).toBe(true);
    advance_ms(1000);
    dad_probe();
    expect(ip6_addr_istentative(netif_ip6_addr_state(n, s))).toBe(true);
    advance_ms(1000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_PREFERRED);
    netif_ip6_remove(n.num, DAD_ADDR);
    teardown();
  });

  test("our own probe looped back (same nonce) is not a conflict", () => {
    setup();
    const s = netif_ip6_add(n.num, changetype<usize>(T(DAD_ADDR)), 64, 0);
    advance_ms(1000);
    memory.copy(nonce_copy, dad_probe(), 6);
    dad_ns_body(nonce_copy);
    send_icmp6(n, UNSPEC, solnode(DAD_ADDR), 255, OUR_MAC, OUR_MAC);
    advance_ms(1000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_PREFERRED);
    netif_ip6_remove(n.num, DAD_ADDR);
    teardown();
  });

  test("an NS from :: with another nonce is a collision: DUPLICATED, reported, never preferred", () => {
    setup();
    const s = netif_ip6_add(n.num, changetype<usize>(T(DAD_ADDR)), 64, 0);
    advance_ms(1000);
    store<u32>(nonce_copy, 0x12345678);
    store<u16>(nonce_copy + 4, 0x9abc);
    ev_clear();
    dad_ns_body(nonce_copy);
    send_icmp6(n, UNSPEC, solnode(DAD_ADDR), 255, OUR_MAC);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_DUPLICATED);
    let seen = false;
    for (let i: u32 = 0; i < ev_pending(); i++) {
      const r = ev_record(i);
      if (ev_type(r) == EV_NETIF_IP6 && ev_arg(r, 1) == IP6_ADDR_DUPLICATED) seen = true;
    }
    expect(seen).toBe(true, "EV_NETIF_IP6 with state duplicated");
    advance_ms(3000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_DUPLICATED, "stays duplicated");
    // A packet to it is not ours.
    ns_body(DAD_ADDR, PEER_MAC);
    tx_clear();
    send_icmp6(n, PEER6, solnode(DAD_ADDR), 255, OUR_MAC);
    expect(find_icmp6(136)).toBe(-1, "not defended");
    netif_ip6_remove(n.num, DAD_ADDR);
    teardown();
  });

  test("an NA for a tentative address is a collision", () => {
    setup();
    const s = netif_ip6_add(n.num, changetype<usize>(T(DAD_ADDR)), 64, 0);
    advance_ms(1000);
    na_body(DAD_ADDR, O, OTHER_MAC);
    send_icmp6(n, DAD_ADDR, ALLNODES, 255, OUR_MAC);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_DUPLICATED);
    netif_ip6_remove(n.num, DAD_ADDR);
    teardown();
  });

  test("someone else's DAD for our preferred address is answered to all-nodes", () => {
    setup();
    store<u32>(nonce_copy, 1);
    ns_body(OURS, 0);
    b8(14); b8(1); bzero(6);
    send_icmp6(n, UNSPEC, solnode(OURS), 255, OUR_MAC);
    const i = find_icmp6(136);
    expect(i).toBeGreaterThanOrEqual(0);
    const h = tx6(<u32>i);
    expect(eq16(h + 24, ALLNODES)).toBe(true);
    expect(load<u8>(upper(h) + 4)).toBe(O, "not solicited (to a multicast group)");
    teardown();
  });
});

// ---- Router Advertisements --------------------------------------------------------------

const PREFIX = addr6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);
const DNS = addr6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53);
const IN_PREFIX = addr6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x99);
const list_rec: usize = memory.data(24, 8);

function ra_body(lifetime: u16, pflags: u8, valid: u32, pref: u32, mtu: u32, dns_life: u32): void {
  body_reset();
  b8(134); b8(0); b16(0); b8(64); b8(0); b16(lifetime); b32(0); b32(0);
  b8(1); b8(1); for (let i = 0; i < 6; i++) b8(load<u8>(PEER_MAC + i));
  // Prefix information (§4.6.2)
  b8(3); b8(4); b8(64); b8(pflags); b32(valid); b32(pref); b32(0); baddr(PREFIX);
  if (mtu != 0) { b8(5); b8(1); b16(0); b32(mtu); }
  if (dns_life != 0) { b8(25); b8(3); b16(0); b32(dns_life); baddr(DNS); }
}

function slaac_slot(): i32 {
  for (let i = 0; i < 3; i++) {
    const st = netif_ip6_addr_state(n, i);
    if (st != IP6_ADDR_INVALID && memory.compare(changetype<usize>(netif_ip6_addr(n, i)), PREFIX, 8) == 0) return i;
  }
  return -1;
}

/** Sends 4 bytes from `pcb` to PEER6 and returns the hop limit of the one frame that went out. */
function hop_limit_sent(pcb: udp_pcb): u8 {
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 4, pbuf_type.PBUF_RAM)!;
  memory.fill(p.payload, 0x61, 4);
  expect(udp_sendto(pcb, p, T(PEER6), 7)).toBe(0);
  pbuf_free(p);
  expect(tx_count()).toBe(1);
  const h = tx6(0);
  tx_clear();
  return load<u8>(h + 7);
}

describe("router advertisements (RFC 4861 §6.3.4, RFC 4862 §5.5.3)", () => {
  test("an RA adds the router, an on-link prefix (L), the MTU, an RDNSS server (event), and a SLAAC address (A) that passes DAD", () => {
    setup();
    netif_ip6_config(n.num, 3, 0);
    ev_clear();
    ra_body(1800, 0xc0, 86400, 14400, 1400, 600);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(<i32>n.num, "router");
    expect(eq16(list_rec, PEER_LL)).toBe(true);
    expect(load<u32>(list_rec + 20)).toBe(1800);
    expect(nd6_router_netif(0) == n).toBe(true);
    expect(nd6_onlink(n, IN_PREFIX)).toBe(true, "on-link prefix");
    expect(nd6_link_mtu(n)).toBe(1400, "MTU option");
    expect(nd6_list_info(ND6_LIST_RDNSS, 0, list_rec)).toBe(<i32>n.num);
    expect(eq16(list_rec, DNS)).toBe(true, "RDNSS server");
    let rdnss_ev = false;
    for (let i: u32 = 0; i < ev_pending(); i++) if (ev_type(ev_record(i)) == EV_ND6_RDNSS) rdnss_ev = true;
    expect(rdnss_ev).toBe(true, "EV_ND6_RDNSS");
    const s = slaac_slot();
    expect(s).toBeGreaterThanOrEqual(0, "a SLAAC address");
    expect(ip6_addr_istentative(netif_ip6_addr_state(n, s))).toBe(true);
    expect(netif_ip6_addr_valid_life(n, s)).toBe(86400);
    advance_ms(2000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_PREFERRED, "after DAD");
    netif_ip6_remove(n.num, changetype<usize>(netif_ip6_addr(n, s)));
    netif_ip6_config(n.num, 0, 0);
    teardown();
  });

  test("router lifetime 0 removes the router; the prefix's valid lifetime 0 removes it from the on-link list", () => {
    setup();
    ra_body(1800, 0x80, 3600, 3600, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(<i32>n.num);
    ra_body(0, 0x80, 0, 0, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(0, "router gone");
    expect(nd6_router_netif(0) == null).toBe(true);
    expect(nd6_onlink(n, IN_PREFIX)).toBe(false, "prefix gone");
    teardown();
  });

  test("an RA with hop limit 64, or from a global address, is ignored; an RA's router lifetime ticks down", () => {
    setup();
    ra_body(1800, 0x80, 3600, 3600, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 64, OUR_MAC);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(0, "hop limit 64");
    send_icmp6(n, PEER6, ALLNODES, 255, OUR_MAC);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(0, "global source");
    ra_body(3, 0x80, 3600, 3600, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(<i32>n.num);
    advance_ms(4000);
    expect(nd6_list_info(ND6_LIST_ROUTERS, 0, list_rec)).toBe(0, "expired");
    teardown();
  });

  test("an RA's Cur Hop Limit is the hop limit of pcbs left at the default; a hop limit set on the pcb wins (§6.3.4)", () => {
    setup();
    make_reachable();
    ra_body(1800, 0x80, 3600, 3600, 0, 0);
    store<u8>(body() + 4, 200); // Cur Hop Limit
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    tx_clear();
    const pcb = udp_new_ip_type(IPADDR_TYPE_V6)!;
    expect(hop_limit_sent(pcb)).toBe(200, "the RA's");
    pcb.ttl = 64; // IPV6_UNICAST_HOPS 64, set explicitly
    expect(hop_limit_sent(pcb)).toBe(64, "the pcb's");
    pcb.ttl = 0; // back to the default (IPV6_UNICAST_HOPS -1)
    ra_body(1800, 0x80, 3600, 3600, 0, 0);
    store<u8>(body() + 4, 0); // 0: unspecified, the current value stays
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    tx_clear();
    expect(hop_limit_sent(pcb)).toBe(200, "an RA with 0 changes nothing");
    udp_remove(pcb);
    nd6_cleanup_netif(n);
    make_reachable();
    const pcb2 = udp_new_ip_type(IPADDR_TYPE_V6)!;
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 4, pbuf_type.PBUF_RAM)!;
    memory.fill(p.payload, 0, 4);
    udp_sendto(pcb2, p, T(PEER6), 7);
    pbuf_free(p);
    expect(load<u8>(tx6(0) + 7)).toBe(64, "forgotten with the link: 64 again");
    udp_remove(pcb2);
    teardown();
  });

  test("SLAAC lifetimes: preferred over → deprecated, valid over → removed; the two-hour rule (§5.5.3 e)", () => {
    setup();
    netif_ip6_config(n.num, 3, 1);
    ra_body(0, 0x40, 8000, 3, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    const s = slaac_slot();
    expect(s).toBeGreaterThanOrEqual(0);
    // EUI-64: the MAC with ff:fe and the U/L bit flipped.
    const a = changetype<usize>(netif_ip6_addr(n, s));
    expect(load<u8>(a + 8)).toBe(load<u8>(OUR_MAC) ^ 2);
    expect(load<u8>(a + 11)).toBe(0xff);
    expect(load<u8>(a + 12)).toBe(0xfe);
    advance_ms(2000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_PREFERRED);
    advance_ms(2000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_DEPRECATED);
    // A short valid lifetime may not cut a longer one below two hours.
    ra_body(0, 0x40, 10, 0, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(netif_ip6_addr_valid_life(n, s)).toBe(7200);
    // Below two hours left, it is ignored.
    netif_ip6_addr_set_lifetimes(n, s, 5, 0);
    ra_body(0, 0x40, 3, 0, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(netif_ip6_addr_valid_life(n, s)).toBe(5);
    advance_ms(6000);
    expect(netif_ip6_addr_state(n, s)).toBe(IP6_ADDR_INVALID, "valid lifetime over");
    netif_ip6_config(n.num, 0, 0);
    teardown();
  });

  test("SLAAC off: the prefix is on-link but gives no address", () => {
    setup();
    netif_ip6_config(n.num, 1, 0);
    ra_body(0, 0xc0, 3600, 3600, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    expect(slaac_slot()).toBe(-1);
    expect(nd6_onlink(n, IN_PREFIX)).toBe(true);
    netif_ip6_config(n.num, 0, 0);
    teardown();
  });
});

// ---- redirects (RFC 4861 §8) ------------------------------------------------------------

const FAR = addr6(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 1);
const OTHER_LL = addr6(0xfe80, 0, 0, 0, 0, 0, 0, 3);

function redirect_body(target: usize, dest: usize): void {
  body_reset(); b8(137); b8(0); b16(0); b32(0); baddr(target); baddr(dest);
  b8(2); b8(1); for (let i = 0; i < 6; i++) b8(load<u8>(OTHER_MAC + i));
}

describe("redirects (RFC 4861 §8.3)", () => {
  test("an off-link destination goes to the default router; a redirect from that router moves it to a better first hop", () => {
    setup();
    nd6_add_static_router(n, PEER_LL);
    send_to(FAR);
    na_body(PEER_LL, S | O | R, PEER_MAC);
    send_icmp6(n, PEER_LL, OURS, 255);
    let i = tx_count() - 1;
    tx6(i);
    expect(mac_is(frame, PEER_MAC)).toBe(true, "via the router");
    tx_clear();
    // From someone who is not the first hop: ignored.
    redirect_body(OTHER_LL, FAR);
    send_icmp6(n, OTHER_LL, OURS, 255);
    send_to(FAR);
    tx6(0);
    expect(mac_is(frame, PEER_MAC)).toBe(true, "a redirect from another node is ignored");
    tx_clear();
    redirect_body(OTHER_LL, FAR);
    send_icmp6(n, PEER_LL, OURS, 255);
    send_to(FAR);
    expect(tx_count()).toBe(1);
    tx6(0);
    expect(mac_is(frame, OTHER_MAC)).toBe(true, "to the better first hop, whose address the redirect carried");
    teardown();
  });
});

// ---- temporary addresses (RFC 8981) ------------------------------------------------------

describe("temporary addresses (RFC 8981)", () => {
  test("with the option on, an RA prefix gives a public and a temporary address; the temporary one is the preferred source", () => {
    setup();
    netif_ip6_remove(n.num, OURS); // room: link-local, public, temporary
    netif_ip6_config(n.num, 7, 0);
    ra_body(0, 0x40, 86400, 14400, 0, 0);
    send_icmp6(n, PEER_LL, ALLNODES, 255, OUR_MAC);
    let pub = -1, tmp = -1;
    for (let i = 0; i < 3; i++) {
      const o = netif_ip6_addr_origin(n, i) & 0x0f;
      if (netif_ip6_addr_state(n, i) == IP6_ADDR_INVALID) continue;
      if (o == IP6_ORIGIN_SLAAC) pub = i;
      if (o == IP6_ORIGIN_TEMP) tmp = i;
    }
    expect(pub).toBeGreaterThanOrEqual(0, "public");
    expect(tmp).toBeGreaterThanOrEqual(0, "temporary");
    const pa = changetype<usize>(netif_ip6_addr(n, pub)), ta = changetype<usize>(netif_ip6_addr(n, tmp));
    expect(memory.compare(pa, ta, 8)).toBe(0, "same prefix");
    expect(memory.compare(pa + 8, ta + 8, 8) != 0).toBe(true, "another identifier");
    expect(netif_ip6_addr_valid_life(n, tmp)).toBe(86400, "capped by the prefix");
    expect(netif_ip6_addr_pref_life(n, tmp) <= 14400).toBe(true);
    advance_ms(2000);
    expect(netif_ip6_addr_state(n, tmp)).toBe(IP6_ADDR_PREFERRED, "after DAD");
    const sel = netif_ip6_select_src(n, T(IN_PREFIX));
    expect(sel != null && changetype<usize>(sel) == ta).toBe(true, "rule 7: temporary first");
    netif_ip6_remove(n.num, ta);
    netif_ip6_remove(n.num, pa);
    netif_ip6_config(n.num, 0, 0);
    teardown();
  });
});

describe("stable identifiers after a conflict (RFC 7217 §6)", () => {
  test("a link-local address that DAD finds in use is marked duplicated, then replaced by the next identifier", () => {
    setup();
    const MAC2: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x12, 0, 0]);
    const n2 = netif_add(MAC2, 1500)!;
    netif_set_up(n2);
    netif_set_link_up(n2);
    netif_ip6_config(n2.num, 1, 0);
    let s = -1;
    for (let i = 0; i < 3; i++) if (ip6_addr_istentative(netif_ip6_addr_state(n2, i))) s = i;
    expect(s).toBeGreaterThanOrEqual(0, "a tentative link-local address");
    const first = addr6(0, 0, 0, 0, 0, 0, 0, 0);
    memory.copy(first, changetype<usize>(netif_ip6_addr(n2, s)), 16);
    expect(load<u16>(first)).toBe(0x80fe, "fe80::/64");
    advance_ms(1000);
    ev_clear();
    na_body(first, O, OTHER_MAC);
    icmp6_sum(body(), blen, first, ALLNODES);
    netif_input(frame6(first, ALLNODES, 58, 255, body(), blen, ALLNODES_MAC, OTHER_MAC), n2);
    let dup = false;
    for (let i: u32 = 0; i < ev_pending(); i++) {
      const r = ev_record(i);
      if (ev_type(r) == EV_NETIF_IP6 && ev_arg(r, 1) == IP6_ADDR_DUPLICATED) dup = true;
    }
    expect(dup).toBe(true, "reported duplicated");
    expect(ip6_addr_istentative(netif_ip6_addr_state(n2, s))).toBe(true, "a new tentative address in the slot");
    const now = changetype<usize>(netif_ip6_addr(n2, s));
    expect(memory.compare(now, first, 8)).toBe(0, "same prefix");
    expect(memory.compare(now + 8, first + 8, 8) != 0).toBe(true, "another identifier");
    advance_ms(2000);
    expect(netif_ip6_addr_state(n2, s)).toBe(IP6_ADDR_PREFERRED);
    netif_remove(n2);
    tx_clear();
    ev_clear();
  });
});
