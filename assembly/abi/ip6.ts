// ABI: IPv6 configuration and inspection (docs/abi.md). Addresses are
// ip_addr pointers (usually into abi_scratch()); results are written to
// caller-given memory. Only with LWIP_IPV6; otherwise every call is ERR_ARG.

import { err_t, ERR_OK, ERR_ARG, ERR_MEM, ERR_VAL } from "../core/err";
import { LWIP_IPV6, LWIP_IPV6_NUM_ADDRESSES } from "../config";
import {
  netif, netif_get_by_index, netif_add_ip6_address, netif_ip6_addr_set_prefix_len, netif_ip6_addr_set_origin,
  netif_ip6_addr_origin, netif_ip6_addr_state, netif_ip6_addr, netif_ip6_addr_prefix_len,
  netif_ip6_addr_valid_life, netif_ip6_addr_pref_life, IP6_ORIGIN_STATIC, IP6_ORIGIN_NODAD, IP6_ADDR_INVALID,
} from "../netif/netif";
import { ip_addr, IP_IS_V6, ip_2_ip6, ip6_addr_ismulticast, ip6_addr_isany, ip6_addr_isloopback, ip_addr_copy } from "../ip_addr";
import { nd6_arm_timer, nd6_neighbor_info, nd6_list_info, nd6_add_static_router, nd6_remove_router } from "../ipv6/nd6";
import { slaac_configure, slaac_set_iid_mode, slaac_addr_remove, slaac_set_temporary } from "../ipv6/slaac";
import { mld6_joingroup, mld6_leavegroup, mld6_group_info } from "../ipv6/mld6";
import { ip6_addr_eq16 } from "../ipv6/ip6";

/** Flag of netif_ip6_add: no DAD for this address (Linux's `nodad`). */
export const IP6_ADD_NODAD: u32 = 1;

/**
 * Adds the static IPv6 address at `addr` with on-link prefix length `plen`
 * (0..128; 0 = no on-link prefix) to netif `idx`. It is TENTATIVE until DAD
 * passes (EV_NETIF_IP6 events follow its state). Returns the slot, or an err_t.
 */
export function netif_ip6_add(idx: u32, addr: usize, plen: u32, flags: u32): i32 {
  if (!LWIP_IPV6) return ERR_ARG;
  const n = netif_get_by_index(idx);
  const a = changetype<ip_addr>(addr);
  if (n == null || !IP_IS_V6(a) || plen > 128) return ERR_ARG;
  const p = ip_2_ip6(a);
  if (ip6_addr_ismulticast(p) || ip6_addr_isany(p) || ip6_addr_isloopback(p)) return ERR_VAL;
  const i = netif_add_ip6_address(n, a);
  if (i < 0) return ERR_MEM;
  netif_ip6_addr_set_prefix_len(n, i, <u8>plen);
  netif_ip6_addr_set_origin(n, i, (netif_ip6_addr_origin(n, i) & 0x80) | IP6_ORIGIN_STATIC | ((flags & IP6_ADD_NODAD) != 0 ? IP6_ORIGIN_NODAD : 0));
  nd6_arm_timer();
  return i;
}

/** Removes the IPv6 address at `addr` from netif `idx` (any origin). ERR_VAL when it has none. */
export function netif_ip6_remove(idx: u32, addr: usize): err_t {
  if (!LWIP_IPV6) return ERR_ARG;
  const n = netif_get_by_index(idx);
  if (n == null || idx == 1) return ERR_ARG;
  for (let i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    if (netif_ip6_addr_state(n, i) == IP6_ADDR_INVALID) continue;
    if (!ip6_addr_eq16(changetype<usize>(netif_ip6_addr(n, i)), addr)) continue;
    slaac_addr_remove(n, i);
    return ERR_OK;
  }
  return ERR_VAL;
}

/** Flags of netif_ip6_config. */
export const IP6_CONFIG_AUTO: u32 = 1;
export const IP6_CONFIG_SLAAC: u32 = 2;
export const IP6_CONFIG_TEMP: u32 = 4;

/**
 * IPv6 autoconfiguration of netif `idx` (off until a host asks): flags
 * IP6_CONFIG_AUTO (1) forms the link-local address and solicits routers,
 * IP6_CONFIG_SLAAC (2) also takes addresses from RA prefixes,
 * IP6_CONFIG_TEMP (4) adds temporary addresses (RFC 8981); `iid_mode`
 * is the interface identifier kind (0 stable opaque RFC 7217, 1 EUI-64).
 */
export function netif_ip6_config(idx: u32, flags: u32, iid_mode: u32): err_t {
  if (!LWIP_IPV6) return ERR_ARG;
  const n = netif_get_by_index(idx);
  if (n == null || idx == 1 || iid_mode > 1) return ERR_ARG;
  slaac_set_iid_mode(n, <u8>iid_mode);
  slaac_configure(n, (flags & IP6_CONFIG_AUTO) != 0, (flags & IP6_CONFIG_SLAAC) != 0);
  slaac_set_temporary(n, (flags & IP6_CONFIG_TEMP) != 0);
  return ERR_OK;
}

/**
 * Writes slot `slot` of netif `idx` at `out` (36 bytes): +0 ip_addr (20)
 * +20 state u8 +21 prefix length u8 +22 origin u8 +24 valid lifetime u32
 * +28 preferred lifetime u32. Returns the state, or ERR_ARG.
 */
export function netif_ip6_get(idx: u32, slot: i32, out: usize): i32 {
  if (!LWIP_IPV6) return ERR_ARG;
  const n = netif_get_by_index(idx);
  if (n == null || slot < 0 || slot >= LWIP_IPV6_NUM_ADDRESSES) return ERR_ARG;
  ip_addr_copy(changetype<ip_addr>(out), netif_ip6_addr(n, slot));
  store<u8>(out, netif_ip6_addr_state(n, slot), 20);
  store<u8>(out, netif_ip6_addr_prefix_len(n, slot), 21);
  store<u8>(out, netif_ip6_addr_origin(n, slot), 22);
  store<u8>(out, 0, 23);
  store<u32>(out, netif_ip6_addr_valid_life(n, slot), 24);
  store<u32>(out, netif_ip6_addr_pref_life(n, slot), 28);
  return netif_ip6_addr_state(n, slot);
}

/**
 * A static default router (IPv6 gateway) for netif `idx`: the address at
 * `addr` (link-local, or on one of its prefixes), never expiring; routers
 * from RAs are added beside it. `remove` takes it (or a learned one) away.
 */
export function netif_ip6_gateway(idx: u32, addr: usize, remove: bool): err_t {
  if (!LWIP_IPV6) return ERR_ARG;
  const n = netif_get_by_index(idx);
  const a = changetype<ip_addr>(addr);
  if (n == null || idx == 1 || !IP_IS_V6(a) || ip6_addr_ismulticast(addr) || ip6_addr_isany(addr)) return ERR_ARG;
  if (remove) { nd6_remove_router(n, addr); return ERR_OK; }
  return nd6_add_static_router(n, addr);
}

/** Neighbour cache entry `i` at `out` (nd6.ts ND6_NB_INFO_SIZE layout); its state, or -1 past the end. */
export function ip6_neighbor_get(i: i32, out: usize): i32 { return LWIP_IPV6 ? nd6_neighbor_info(i, out) : -1; }
/** Entry `i` of the routers (0), prefixes (1) or RDNSS (2) list at `out` (nd6.ts layout); netif index or 0, -1 past the end. */
export function ip6_nd_list_get(which: u32, i: i32, out: usize): i32 { return LWIP_IPV6 ? nd6_list_info(which, i, out) : -1; }
/** MLD group entry `i` at `out` (mld6.ts layout); netif index or 0, -1 past the end. */
export function ip6_group_get(i: i32, out: usize): i32 { return LWIP_IPV6 ? mld6_group_info(i, out) : -1; }

/** Joins the IPv6 multicast group at `group` on netif `idx` (0 = every netif with MLD). */
export function ip6_join_group(idx: u32, group: usize): err_t {
  if (!LWIP_IPV6) return ERR_ARG;
  const n: netif | null = idx == 0 ? null : netif_get_by_index(idx);
  if (idx != 0 && n == null) return ERR_ARG;
  return mld6_joingroup(n, changetype<ip_addr>(group));
}

/** Leaves it (as ip6_join_group). */
export function ip6_leave_group(idx: u32, group: usize): err_t {
  if (!LWIP_IPV6) return ERR_ARG;
  const n: netif | null = idx == 0 ? null : netif_get_by_index(idx);
  if (idx != 0 && n == null) return ERR_ARG;
  return mld6_leavegroup(n, changetype<ip_addr>(group));
}
