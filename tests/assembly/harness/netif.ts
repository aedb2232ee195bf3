// Interfaces and the bracket around each test: the setup every protocol spec
// starts from, and the leak check every test ends with.
import { netif, netif_add, netif_set_addr, netif_set_up, netif_set_link_up, netif_set_default } from "../../../assembly/netif/netif";
import { etharp_add_static_entry } from "../../../assembly/netif/etharp";
import { stats_reset_protocols } from "../../../assembly/core/stats";
import { leak_mark, leak_check } from "./leak";
import { tx_clear, ev_clear } from "./rings";

/** An Ethernet netif with MAC `mac`, addressed, up and link up; the default route when asked. */
export function netif_up(mac: usize, ip: u32, mask: u32, gw: u32, make_default: bool = false, mtu: u32 = 1500): netif {
  const n = netif_add(mac, mtu)!;
  netif_set_addr(n, ip, mask, gw);
  netif_set_up(n);
  netif_set_link_up(n);
  if (make_default) netif_set_default(n);
  return n;
}

/** A static ARP entry: the peer's IPv4 address is at `mac` (so nothing waits for ARP). */
export function peer_at(ip: u32, mac: usize): void {
  etharp_add_static_entry(ip, mac);
}

/** Start of a test: empty rings, zeroed protocol counters, the leak baseline taken. */
export function test_begin(): void {
  tx_clear();
  ev_clear();
  stats_reset_protocols();
  leak_mark();
}

/** End of a test: rings released as a host would, then heap and pools back at the baseline. */
export function test_end(): void {
  tx_clear();
  ev_clear();
  leak_check();
}
