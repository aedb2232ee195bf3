// Host-facing exports for etharp (re-exported by assembly/index.ts).
//
// Addresses are network-order u32s; MACs are 6 bytes at a pointer (the host
// writes them into abi_scratch()). Entry records (16 bytes, for debugging
// views such as `arp -a`):
//   +0 ipaddr u32  +4 mac 6 bytes  +10 state u8  +11 netif index u8
//   +12 age in seconds u16  +14 queued packets u8  +15 reserved
// States: 0 EMPTY, 1 PENDING, 2 STABLE, 3/4 STABLE re-requesting, 5 STATIC.
// A build without IPv4 (ASIP_IPV4=0) has no ARP: every call answers ERR_ARG
// (lookups: empty, 0 entries), and none of etharp is compiled in.

import { err_t, ERR_ARG } from "../core/err";
import { LWIP_IPV4 } from "../config";
import { netif_get_by_index } from "../netif/netif";
import {
  etharp_add_static_entry, etharp_remove_static_entry, etharp_entry_info, etharp_find,
  etharp_request, ARP_TABLE_SIZE,
} from "../netif/etharp";

/** Adds or replaces a static entry: `ip` is at the MAC at `mac_ptr`. ERR_RTE when no netif reaches `ip`. */
export function arp_static_add(ip: u32, mac_ptr: usize): err_t {
  if (!LWIP_IPV4) return ERR_ARG;
  return etharp_add_static_entry(ip, mac_ptr);
}

/** Removes a static entry. ERR_ARG when there is no entry, ERR_VAL when it is not static. */
export function arp_static_remove(ip: u32): err_t {
  if (!LWIP_IPV4) return ERR_ARG;
  return etharp_remove_static_entry(ip);
}

/** Looks `ip` up: writes its record at `out_ptr` and returns its state, 0 (EMPTY) when unknown. */
export function arp_lookup(ip: u32, out_ptr: usize): i32 {
  if (!LWIP_IPV4) return 0;
  const i = etharp_find(ip);
  if (i < 0) return 0;
  return etharp_entry_info(i, out_ptr);
}

/** Entries in the cache: iterate arp_entry(0 .. arp_table_size() - 1). */
export function arp_table_size(): i32 {
  if (!LWIP_IPV4) return 0;
  return ARP_TABLE_SIZE;
}

/** Writes entry `i`'s record at `out_ptr`; returns its state (0 = empty slot), -1 past the end. */
export function arp_entry(i: i32, out_ptr: usize): i32 {
  if (!LWIP_IPV4) return -1;
  return etharp_entry_info(i, out_ptr);
}

/** Broadcasts a request for `ip` on netif `idx` (like arping). */
export function arp_request(idx: u32, ip: u32): err_t {
  if (!LWIP_IPV4) return ERR_ARG;
  const n = netif_get_by_index(idx);
  if (n == null) return ERR_ARG;
  return etharp_request(n, ip);
}
