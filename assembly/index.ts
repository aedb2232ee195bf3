// The exported ABI of the asip core. This file and the abi/ wrappers it
// re-exports are the only places that export. See docs/abi.md.
//
// Conventions: pointers and lengths only (never strings or arrays through
// generated glue: on the stub runtime nothing is freed); addresses are
// ip_addrs (20 bytes, either family, ip_addr.ts) at a pointer into core
// memory, usually abi_scratch(), except in exports that are IPv4 by nature
// (netif_config_ip4, ARP), which take network-order u32s; errors are err_t
// values (<0).

// The mvp build routes abort() to core/abort's trapAbort (asconfig.json).
import "./core/abort";
import { mem_init, mem_used } from "./core/mem";
import { memp_init, memp_set_num, MEMP_MAX, memp_used } from "./core/memp";
import { sys_check_timeouts, sys_timeouts_sleeptime, sys_set_now } from "./core/timeouts";
import { stats_base, STATS_SIZE, STATS_PROTO_COUNT, STATS_PROTO_WORDS, STATS_MEM_OFFSET, STATS_MEMP_OFFSET } from "./core/stats";
import { rings_init, tx_ring, ev_ring, tx_done, ev_done, ev_take } from "./core/rings";
import { pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "./core/pbuf";
import { PBUF_POOL_BUFSIZE, LWIP_IPV4 } from "./config";
import {
  netif_init, netif_add, netif_add_ip as netif_add_ip_link, netif_remove, NetifKind, netif_get_by_index, netif_set_addr, netif_set_up, netif_set_down,
  netif_set_link_up, netif_set_link_down, netif_set_default, netif_input, netif_poll, netif_loop_pending,
} from "./netif/netif";
import { ERR_ARG, ERR_OK, ERR_MEM, err_t } from "./core/err";
import { ip4_init } from "./ipv4/ip4";
import { random_seed, random_set_entropy } from "./core/random";
import { etharp_init } from "./netif/etharp";
import { udp_init } from "./udp";
import { tcp_init } from "./tcp/tcp";
import { LWIP_IPV6 } from "./config";
import { nd6_init } from "./ipv6/nd6";
import { slaac_init } from "./ipv6/slaac";
import { mld6_init } from "./ipv6/mld6";
import { ip6_frag_init } from "./ipv6/ip6_frag";
import { icmp6_rate_reset } from "./ipv6/icmp6";

export * from "./abi/chksum";
export * from "./abi/etharp";
export * from "./abi/udp";
export * from "./abi/raw";
export * from "./abi/services";
export * from "./abi/tcp";
export * from "./abi/ip6";

/**
 * ABI version: bump when a structure or export the host relies on changes.
 * 2: addresses as ip_addr pointers, generation-tagged UDP and raw handles,
 * EV_FLAG_IP6 event addresses.
 */
export const ABI_VERSION: u32 = 2;

let initialised = false;

/** Before asip_init: set a pool's element count (memp.ts MEMP order). */
export function config_pool(pool: i32, num: u32): bool {
  return memp_set_num(pool, num);
}

/** Before asip_init: 16 bytes of the host's randomness at `ptr`, for secrets (TCP ISNs, RFC 6528). */
export function config_entropy(ptr: usize): void {
  random_set_entropy(ptr);
}

let heap_size: u32 = 0;
/** Before asip_init: set the heap size in bytes (0 = MEM_SIZE from config.ts). */
export function config_heap(size: u32): void {
  heap_size = size;
}

/**
 * Initialises the core once. `now` is the host's clock in ms (u32, may wrap);
 * `seed` comes from the host's random source (ISNs, IP IDs, ephemeral ports).
 */
export function asip_init(now: u32, seed: u32): void {
  if (initialised) return;
  sys_set_now(now);
  if (heap_size) mem_init(heap_size); else mem_init();
  // Protocols size their pools before the pools are carved.
  udp_init();
  tcp_init();
  memp_init();
  rings_init();
  random_seed(seed);
  netif_init();
  if (LWIP_IPV4) {
    etharp_init();
    ip4_init();
  }
  if (LWIP_IPV6) {
    nd6_init();
    slaac_init();
    mld6_init();
    ip6_frag_init();
    icmp6_rate_reset();
  }
  initialised = true;
}


// ---- time -------------------------------------------------------------------

/**
 * Runs what is due at `now` and delivers looped-back packets. Returns the ms
 * until the next deadline (0 = call again at once), or -1 when no timer runs.
 */
export function tick(now: u32): i32 {
  sys_check_timeouts(now);
  return drain();
}

/**
 * Delivers loopback traffic (bounded per call). Returns like tick: 0 when
 * more is pending, else the ms to the next timer or -1.
 */
export function drain(): i32 {
  netif_poll();
  if (netif_loop_pending() != 0) return 0;
  return sys_timeouts_sleeptime();
}

// ---- the host's view of memory ----------------------------------------------

/**
 * Address of the layout table the host reads once (u32 words):
 *  [0] ABI_VERSION  [1] tx ring  [2] event ring  [3] stats  [4] stats size
 *  [5] STATS_PROTO_COUNT  [6] STATS_PROTO_WORDS  [7] stats mem offset
 *  [8] stats memp offset  [9] MEMP_MAX  [10] PBUF_POOL_BUFSIZE
 */
export function abi_layout(): usize {
  const t = layout;
  store<u32>(t, ABI_VERSION, 0);
  store<u32>(t, <u32>tx_ring, 4);
  store<u32>(t, <u32>ev_ring, 8);
  store<u32>(t, <u32>stats_base, 12);
  store<u32>(t, <u32>STATS_SIZE, 16);
  store<u32>(t, <u32>STATS_PROTO_COUNT, 20);
  store<u32>(t, <u32>STATS_PROTO_WORDS, 24);
  store<u32>(t, <u32>STATS_MEM_OFFSET, 28);
  store<u32>(t, <u32>STATS_MEMP_OFFSET, 32);
  store<u32>(t, <u32>MEMP_MAX, 36);
  store<u32>(t, <u32>PBUF_POOL_BUFSIZE, 40);
  return t;
}
const layout: usize = memory.data(64, 8);

/** The families this build carries: bit 0 IPv4 (LWIP_IPV4), bit 1 IPv6 (LWIP_IPV6). */
export function abi_features(): u32 {
  return (LWIP_IPV4 ? 1 : 0) | (LWIP_IPV6 ? 2 : 0);
}

/** Scratch space for host arguments (addresses, MACs): 256 bytes, reused by every call. */
export function abi_scratch(): usize { return scratch; }
const scratch: usize = memory.data(256, 8);

export { tx_done, ev_done, ev_take };

// ---- buffers ----------------------------------------------------------------

/**
 * A buffer for a received frame of `len` bytes: one contiguous pbuf (a pool
 * buffer when it fits, else a heap block). The host copies the frame to its
 * payload (pbuf +4) and calls netif_input_frame. Returns 0 when memory is short
 * (neither the pool nor the heap has room).
 */
export function rx_alloc(len: u32): usize {
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, len, len <= <u32>PBUF_POOL_BUFSIZE ? pbuf_type.PBUF_POOL : pbuf_type.PBUF_RAM);
  if (p != null && p.next == null) return changetype<usize>(p);
  // A pool chain (the host needs one contiguous buffer), or an empty pool:
  // the heap takes the frame. An empty pool must not stop the ACKs and
  // control frames that let the stack drain it again.
  if (p != null) pbuf_free(p);
  return changetype<usize>(pbuf_alloc(pbuf_layer.PBUF_RAW, len, pbuf_type.PBUF_RAM));
}

/** Frees a pbuf the host holds (an rx buffer it did not use, or a taken event pbuf). */
export function pbuf_release(p: usize): void {
  if (p) pbuf_free(changetype<pbuf>(p));
}

// ---- interfaces -------------------------------------------------------------

/** Adds an Ethernet netif; the MAC is 6 bytes at `mac`. Returns its index or ERR_MEM. */
export function netif_add_ethernet(mac: usize, mtu: u32): i32 {
  const n = netif_add(mac, mtu);
  return n ? <i32>n.num : ERR_MEM;
}

/**
 * Adds a host link that carries bare IP packets (a TUN device: no link
 * header, no ARP); frames on the TX ring and to netif_input_frame are then
 * IP packets. Returns its index or ERR_MEM.
 */
export function netif_add_ip(mtu: u32): i32 {
  const n = netif_add_ip_link(mtu);
  return n ? <i32>n.num : ERR_MEM;
}

/** Frame input: takes ownership of the pbuf from rx_alloc. */
export function netif_input_frame(idx: u32, p: usize): err_t {
  const n = netif_get_by_index(idx);
  if (!n) { pbuf_free(changetype<pbuf>(p)); return ERR_ARG; }
  const r = netif_input(changetype<pbuf>(p), n);
  return r;
}

/** Sets IPv4 address, netmask, gateway (network-order u32s). */
export function netif_config_ip4(idx: u32, ip: u32, mask: u32, gw: u32): err_t {
  const n = netif_get_by_index(idx);
  if (!n) return ERR_ARG;
  netif_set_addr(n, ip, mask, gw);
  return ERR_OK;
}

/** Administrative and link state; `is_default` makes it the default route. */
export function netif_set_state(idx: u32, up: bool, link_up: bool, is_default: bool): err_t {
  const n = netif_get_by_index(idx);
  if (!n) return ERR_ARG;
  if (up) netif_set_up(n); else netif_set_down(n);
  if (link_up) netif_set_link_up(n); else netif_set_link_down(n);
  if (is_default) netif_set_default(n);
  return ERR_OK;
}

/** Tags frames with 802.1Q VLAN `vid` (1..4094) and accepts only that VLAN; 0 = untagged. */
export function netif_config_vlan(idx: u32, vid: u32): err_t {
  const n = netif_get_by_index(idx);
  if (!n || n.kind != NetifKind.HOST_ETHERNET || vid > 4094) return ERR_ARG;
  n.vlan = <u16>vid;
  return ERR_OK;
}

export function netif_del(idx: u32): err_t {
  const n = netif_get_by_index(idx);
  if (!n || idx == 1) return ERR_ARG;
  netif_remove(n);
  return ERR_OK;
}

// ---- leak checks ------------------------------------------------------------

/** Heap bytes in use (a leak check compares it with its baseline). */
export function heap_used(): u32 { return mem_used(); }
/** Elements in use in pool `i`. */
export function pool_used(i: i32): u32 { return memp_used(i); }


/** Aborts on purpose, so hosts can test their abort hook (release/debug: an Error; mvp: a trap). */
export function selftest_abort(): void {
  // What a failed assertion passes (static strings: no allocation, no __new).
  abort("self-test abort", "assembly/index.ts", 211, 3);
}
