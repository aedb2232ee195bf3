// Generation-tagged handles for host-side pcbs (TCP, UDP and raw alike), and
// the address arguments of the host-facing exports.
//
// Handles. A handle is NOT the pcb pointer: pcbs are freed by the core on
// their own (a RST, the retransmission limit) or by the host, and their
// memory is reused at once, while events naming the old pcb may still sit in
// the event ring and the host may still hold the handle. A handle is
// (generation << 16) | slot, slot indexing a table of host pcbs; a freed slot
// gets a new generation, so a stale handle is refused (ERR_ARG) and a stale
// event names a handle the host no longer knows, instead of reaching
// whichever pcb took over the memory. Generations start at 1, so no handle
// is 0 (0 means "no pcb").
//
//   handle table: tab usize (slots)  n u32 (slots)  free_head u32
//   slot (12 bytes): +0 pcb usize (0 = free)  +4 handle u32
//                    +8 next free slot (free) / a word for the protocol (in use)
//
// The slots are allocated with heap.alloc on first use (outside the `mem`
// heap, like the rings: they never shrink, and leak checks of `mem` stay
// exact), sized for every pcb the protocol's pools can hold.
//
// Addresses. Every address the host passes or reads is an ip_addr (20 bytes,
// ip_addr.ts) in core memory, usually in abi_scratch(): the exports take or
// fill a pointer to one.

import { LWIP_IPV6 } from "../config";
import { err_t, ERR_OK, ERR_ARG, ERR_VAL } from "../core/err";
import { ip_addr, ip_addr_set_ip6, ip_addr_copy, IPADDR_TYPE_V4, IPADDR_TYPE_V6, IPADDR_TYPE_ANY, IP_ADDR_SIZE } from "../ip_addr";

const SLOT: usize = 12;
const NONE: u32 = 0xffffffff;

/** One protocol's table; each declares its own over 16 zero bytes (memory.data), filled on first use. */
@unmanaged
export class handle_table {
  tab: usize;
  n: u32;
  free_head: u32;
}

/** Allocates `t`'s slots on first use: `count` of them (at most 65535). */
function table_init(t: handle_table, count: u32): void {
  if (t.tab != 0) return;
  const n: u32 = count > 0xffff ? 0xffff : count;
  t.n = n;
  t.tab = heap.alloc(<usize>max<u32>(n, 1) * SLOT);
  for (let i: u32 = 0; i < n; i++) {
    const s = t.tab + <usize>i * SLOT;
    store<usize>(s, 0);
    store<u32>(s, (1 << 16) | i, 4);
    store<u32>(s, i + 1 < n ? i + 1 : NONE, 8);
  }
  t.free_head = n > 0 ? 0 : NONE;
}

/**
 * A handle for `pcb` in `t` (sized for `count` pcbs on first use); 0 when
 * every slot is taken.
 */
export function handle_new(t: handle_table, count: u32, pcb: usize): u32 {
  table_init(t, count);
  if (t.free_head == NONE) return 0;
  const i = t.free_head;
  const s = t.tab + <usize>i * SLOT;
  t.free_head = load<u32>(s, 8);
  store<usize>(s, pcb);
  store<u32>(s, 0, 8);
  return load<u32>(s, 4);
}

/** The slot of live handle `h`, or 0 (stale, unknown or freed handles). */
export function handle_slot(t: handle_table, h: u32): usize {
  if (t.tab == 0) return 0;
  const i = h & 0xffff;
  if (i >= t.n) return 0;
  const s = t.tab + <usize>i * SLOT;
  if (load<u32>(s, 4) != h || load<usize>(s) == 0) return 0;
  return s;
}

/** The pcb of live handle `h`, or 0. */
export function handle_get(t: handle_table, h: u32): usize {
  const s = handle_slot(t, h);
  return s != 0 ? load<usize>(s) : 0;
}

/** Points live handle `h` at another pcb (TCP's listen swaps the pcb). */
export function handle_set(t: handle_table, h: u32, pcb: usize): void {
  const s = handle_slot(t, h);
  if (s != 0) store<usize>(s, pcb);
}

/**
 * Frees `h`: dead from now on (the slot's next handle has a new generation).
 * Returns the pcb it named, or 0 when `h` was not live.
 */
export function handle_free(t: handle_table, h: u32): usize {
  const s = handle_slot(t, h);
  if (s == 0) return 0;
  const i = h & 0xffff;
  const pcb = load<usize>(s);
  store<usize>(s, 0);
  let gen = (h >>> 16) + 1;
  if (gen > 0xffff) gen = 1;
  store<u32>(s, (gen << 16) | i, 4);
  store<u32>(s, t.free_head, 8);
  t.free_head = i;
  return pcb;
}

// ---- address arguments --------------------------------------------------------------------

const arg_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

/** Why the last abi_addr_arg returned null: ERR_ARG (a pointer outside memory) or ERR_VAL (a type this build lacks). */
export let abi_addr_err: err_t = ERR_OK;

/** Can `ptr` .. `ptr + n` be read? (A host's bad pointer is refused, never trapped on.) */
export function abi_ptr_ok(ptr: usize, n: usize): bool {
  // memory.size() << 16 wraps to 0 for a full 4 GiB memory, and 0 - n is then
  // 2^32 - n: right either way in u32 arithmetic (memory is never below n).
  return ptr != 0 && ptr <= (<usize>memory.size() << 16) - n;
}

/**
 * The ip_addr the host put at `ptr`, copied and checked: type V4 (bytes 4..15
 * ignored), V6 (in builds with IPv6; its zone kept), or ANY (the unspecified
 * address of either family). Null for a bad pointer or type (abi_addr_err says which).
 */
export function abi_addr_arg(ptr: usize): ip_addr | null {
  abi_addr_err = ERR_ARG;
  if (!abi_ptr_ok(ptr, IP_ADDR_SIZE)) return null;
  abi_addr_err = ERR_VAL;
  const src = changetype<ip_addr>(ptr);
  const a = changetype<ip_addr>(arg_addr);
  const type = src.type;
  if (LWIP_IPV6 && type == IPADDR_TYPE_V6) {
    ip_addr_set_ip6(a, ptr, src.zone);
    return a;
  }
  if (type != IPADDR_TYPE_V4 && type != IPADDR_TYPE_ANY) return null;
  // V4 or ANY: one store path (this is inlined into every export taking an address)
  a.a0 = type == IPADDR_TYPE_V4 ? src.a0 : 0;
  a.a1 = 0;
  a.a2 = 0;
  a.a3 = 0;
  store<u32>(arg_addr, type, 16); // type, zone 0, reserved 0
  return a;
}

/** Writes `a` to `out` for the host; false for a bad pointer. */
export function abi_addr_out(out: usize, a: ip_addr): bool {
  if (!abi_ptr_ok(out, IP_ADDR_SIZE)) return false;
  ip_addr_copy(changetype<ip_addr>(out), a);
  return true;
}

/** The pcb family of an ABI `ip_type`: 4 (IPv4), 6 (IPv6), 46 (either). 0xff for anything else. */
export function abi_ip_type(ip_type: u32): u8 {
  if (ip_type == 4) return 0;
  if (ip_type == 6) return IPADDR_TYPE_V6;
  if (ip_type == 46) return IPADDR_TYPE_ANY;
  return 0xff;
}
