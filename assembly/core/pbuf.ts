// pbuf: packet buffers (lwIP pbuf.c).
//
// A packet is a chain of pbufs linked through `next`. The first pbuf's
// `tot_len` is the length of the whole packet; each pbuf's `len` is the bytes
// in its own payload. Kinds (lwIP's encoding of `type_internal`):
//
//   PBUF_RAM   header and payload in one `mem` heap block (contiguous)
//   PBUF_POOL  header and payload in one PBUF_POOL element; larger packets
//              are chains of them
//   PBUF_ROM   header from MEMP.PBUF, payload in memory that never changes
//   PBUF_REF   header from MEMP.PBUF, payload in memory that may change
//              (copied by pbuf_unref_volatile/clone before queueing)
//   custom     (flag PBUF_FLAG_IS_CUSTOM) payload owned by a driver; freeing
//              calls the driver's free hook instead of returning memory
//
//   struct pbuf (24 bytes, PBUF_STRUCT_SIZE):
//   +0  next          usize   next pbuf in the chain, 0 at the end
//   +4  payload       usize   first byte of this pbuf's data
//   +8  tot_len       u32     bytes in this pbuf and all that follow
//   +12 len           u32     bytes in this pbuf
//   +16 type_internal u8      kind bits (PBUF_TYPE_*)
//   +17 flags         u8      PBUF_FLAG_*
//   +18 ref           u16     references; freed when it drops to 0
//   +20 if_idx        u8      netif the packet came in on (NETIF_NO_INDEX)
//   +21..23           reserved
//   struct pbuf_custom (32 bytes, PBUF_CUSTOM_SIZE) adds:
//   +24 custom_free   u32     free hook: a function table index
//   +28 custom_arg    u32     the driver's own word
//
// tot_len and len are u32 (lwIP: u16), so chains longer than 64 KiB and
// RAM pbufs holding a 64 KiB-MTU frame need no special cases.

import { MEM_ALIGNMENT, PBUF_POOL_COMPACT_PCT, PBUF_POOL_RESERVE_PCT } from "../config";
import { ERR_ARG, ERR_BUF, ERR_MEM, ERR_OK, ERR_VAL, err_t } from "./err";
import { mem_free, mem_malloc, mem_trim } from "./mem";
import { MEMP, memp_free, memp_malloc, memp_size, memp_num, memp_used } from "./memp";

export const PBUF_STRUCT_SIZE: u32 = 24;
export const PBUF_CUSTOM_SIZE: u32 = 32;

/** Layers: how much header room to reserve in front of the payload. */
export const enum pbuf_layer {
  /** Room for transport (TCP) + IP + link headers. */
  PBUF_TRANSPORT = 78, // PBUF_LINK_ENCAPSULATION_HLEN + PBUF_LINK_HLEN + PBUF_IP_HLEN + PBUF_TRANSPORT_HLEN
  /** Room for IP + link headers. */
  PBUF_IP = 58,
  /** Room for the link header. */
  PBUF_LINK = 18,
  /** Room for link encapsulation only (none here). */
  PBUF_RAW_TX = 0,
  /** No header room: received frames. */
  PBUF_RAW = 0,
}

// type_internal bits (lwIP pbuf.h)
export const PBUF_TYPE_FLAG_STRUCT_DATA_CONTIGUOUS: u8 = 0x80;
export const PBUF_TYPE_FLAG_DATA_VOLATILE: u8 = 0x40;
export const PBUF_TYPE_ALLOC_SRC_MASK: u8 = 0x0f;
export const PBUF_TYPE_ALLOC_SRC_MASK_STD_HEAP: u8 = 0x00;
export const PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF: u8 = 0x01;
export const PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF_POOL: u8 = 0x02;

/** The kinds, as values of `type_internal`. */
export const enum pbuf_type {
  PBUF_RAM = 0x80, // CONTIGUOUS | HEAP
  PBUF_ROM = 0x01, // MEMP_PBUF
  PBUF_REF = 0x41, // VOLATILE | MEMP_PBUF
  PBUF_POOL = 0x82, // CONTIGUOUS | MEMP_PBUF_POOL
}

// flags
export const PBUF_FLAG_PUSH: u8 = 0x01;
export const PBUF_FLAG_IS_CUSTOM: u8 = 0x02;
export const PBUF_FLAG_MCASTLOOP: u8 = 0x04;
export const PBUF_FLAG_LLBCAST: u8 = 0x08;
export const PBUF_FLAG_LLMCAST: u8 = 0x10;
export const PBUF_FLAG_TCP_FIN: u8 = 0x20;

export const NETIF_NO_INDEX: u8 = 0;

@unmanaged
export class pbuf {
  next: pbuf | null;
  payload: usize;
  tot_len: u32;
  len: u32;
  type_internal: u8;
  flags: u8;
  ref: u16;
  if_idx: u8;
  _r0: u8;
  _r1: u16;
}

@unmanaged
export class pbuf_custom extends pbuf {
  /** Function table index of `(p: pbuf) => void`, called when the last reference goes. */
  custom_free: u32;
  custom_arg: u32;
}

// ---- asip additions to the layout ---------------------------------------------
//
// Custom pbufs made by pbuf_alloc_custom take their header from MEMP.PBUF;
// pbuf_free gives it back after the driver's hook ran. The kind bits cannot
// say so (a custom pbuf's kind is the driver's choice), so a flag does. It is
// meaningful only together with PBUF_FLAG_IS_CUSTOM.
export const PBUF_FLAG_CUSTOM_MEMP_HDR: u8 = 0x80;

/** pbuf_memcmp: the compared range runs past the end of the packet. */
export const PBUF_MEMCMP_OUT_OF_RANGE: u32 = 0xffff;
/** pbuf_memfind / pbuf_strstr: no match. */
export const PBUF_NOT_FOUND: u32 = u32.MAX_VALUE;

/**
 * A custom pbuf's free hook. Stored in `custom_free` as a function table
 * index (`fn.index`) and called with `call_indirect`, which works the same
 * under the stub runtime and as-pect's. Plain functions only (no closures).
 * Index 0 means "no hook".
 */
export type pbuf_free_custom_fn = (p: pbuf_custom) => void;

/** The table index to store in `pbuf_custom.custom_free` for `fn`. */
export function pbuf_custom_fn_index(fn: pbuf_free_custom_fn): u32 {
  return fn.index;
}

// @ts-ignore: decorator
@inline function align(n: usize): usize {
  return (n + (<usize>MEM_ALIGNMENT - 1)) & ~(<usize>MEM_ALIGNMENT - 1);
}

// @ts-ignore: decorator
@inline function align64(n: u32): u64 {
  return (<u64>n + (MEM_ALIGNMENT - 1)) & ~(<u64>MEM_ALIGNMENT - 1);
}

/** Allocation source bits of a pbuf (PBUF_TYPE_ALLOC_SRC_MASK_*). */
// @ts-ignore: decorator
@inline export function pbuf_get_allocsrc(p: pbuf): u8 {
  return p.type_internal & PBUF_TYPE_ALLOC_SRC_MASK;
}

/** Must this packet be copied before it is queued (some payload may change)? */
export function pbuf_needs_copy(p: pbuf | null): bool {
  let q = p;
  while (q) {
    if (q.type_internal & PBUF_TYPE_FLAG_DATA_VOLATILE) return true;
    q = q.next;
  }
  return false;
}

/** Payload bytes a PBUF_POOL element holds after its header. */
function pool_bufsize(): u32 {
  const size = memp_size(MEMP.PBUF_POOL);
  return size > PBUF_STRUCT_SIZE ? size - PBUF_STRUCT_SIZE : 0;
}

function pbuf_init_alloced(
  p: pbuf, payload: usize, tot_len: u32, len: u32, type: u8, flags: u8,
): void {
  p.next = null;
  p.payload = payload;
  p.tot_len = tot_len;
  p.len = len;
  p.type_internal = type;
  p.flags = flags;
  p.ref = 1;
  p.if_idx = NETIF_NO_INDEX;
  p._r0 = 0;
  p._r1 = 0;
}

// ---- allocation -----------------------------------------------------------------

/**
 * Allocates a packet of `length` payload bytes with room for the headers of
 * `layer` in front of it.
 *
 * PBUF_RAM is one heap block (header, header room, payload); PBUF_POOL is a
 * chain of pool elements, only the first keeping `layer` header room;
 * PBUF_ROM and PBUF_REF get a header only (payload 0, set it yourself, or use
 * pbuf_alloc_reference). Zero length gives one pbuf of every kind. On
 * exhaustion everything taken is given back and the result is null.
 */
export function pbuf_alloc(layer: pbuf_layer, length: u32, type: pbuf_type): pbuf | null {
  switch (type) {
    case pbuf_type.PBUF_REF:
    case pbuf_type.PBUF_ROM: return pbuf_alloc_reference(0, length, type);
    case pbuf_type.PBUF_POOL: return pbuf_alloc_pool(<u32>layer, length);
    case pbuf_type.PBUF_RAM: return pbuf_alloc_ram(<u32>layer, length);
  }
  return null;
}

function pbuf_alloc_ram(offset: u32, length: u32): pbuf | null {
  // In u64: aligning a length near u32.MAX_VALUE must not wrap to a small block.
  const total = <u64>PBUF_STRUCT_SIZE + align64(offset) + align64(length);
  if (total > <u64>u32.MAX_VALUE) return null;
  const m = mem_malloc(<u32>total);
  if (m == 0) return null;
  const p = changetype<pbuf>(m);
  pbuf_init_alloced(p, m + PBUF_STRUCT_SIZE + align(offset), length, length, <u8>pbuf_type.PBUF_RAM, 0);
  return p;
}

function pbuf_alloc_pool(offset: u32, length: u32): pbuf | null {
  const bufsize = pool_bufsize();
  const room64 = align64(offset);
  if (room64 > <u64>bufsize || (room64 == <u64>bufsize && length > 0)) return null;
  let room = <u32>room64;
  let head: pbuf | null = null;
  let last: pbuf | null = null;
  let rem = length;
  do {
    const m = memp_malloc(MEMP.PBUF_POOL);
    if (m == 0) {
      pbuf_free(head);
      return null;
    }
    const q = changetype<pbuf>(m);
    const qlen = min(rem, bufsize - room);
    pbuf_init_alloced(q, m + PBUF_STRUCT_SIZE + room, rem, qlen, <u8>pbuf_type.PBUF_POOL, 0);
    if (last) last.next = q;
    else head = q;
    last = q;
    rem -= qlen;
    room = 0;
  } while (rem > 0);
  return head;
}

/**
 * A PBUF_ROM or PBUF_REF pbuf pointing at `payload` (memory the caller
 * keeps alive until the pbuf is freed). Null for other kinds or when
 * MEMP.PBUF is empty.
 */
export function pbuf_alloc_reference(payload: usize, length: u32, type: pbuf_type): pbuf | null {
  if (type != pbuf_type.PBUF_REF && type != pbuf_type.PBUF_ROM) return null;
  const m = memp_malloc(MEMP.PBUF);
  if (m == 0) return null;
  pbuf_init_alloced(changetype<pbuf>(m), payload, length, length, <u8>type, 0);
  return changetype<pbuf>(m);
}

/**
 * Initialises a custom pbuf whose header `p` the driver owns (lwIP's
 * pbuf_alloced_custom). The payload starts `layer` bytes (aligned) into
 * `payload_mem`; null when that does not fit in `payload_mem_len`. The driver
 * sets `p.custom_free` (pbuf_custom_fn_index) before the pbuf is freed.
 */
export function pbuf_alloced_custom(
  layer: pbuf_layer, length: u32, type: pbuf_type, p: pbuf_custom | null,
  payload_mem: usize, payload_mem_len: u32,
): pbuf | null {
  if (!p) return null;
  const offset = align64(<u32>layer);
  if (offset + length > <u64>payload_mem_len) return null;
  const payload = payload_mem ? align(payload_mem + <usize>offset) : 0;
  pbuf_init_alloced(p, payload, length, length, <u8>type, PBUF_FLAG_IS_CUSTOM);
  return p;
}

/**
 * A custom PBUF_REF pbuf over a driver's `payload`, its header from
 * MEMP.PBUF: when the last reference goes, the hook at table index
 * `free_fn_index` runs (it releases the payload; `custom_arg` holds `arg`),
 * then the header returns to MEMP.PBUF. Null when MEMP.PBUF is empty.
 */
export function pbuf_alloc_custom(payload: usize, length: u32, free_fn_index: u32, arg: u32): pbuf | null {
  const m = memp_malloc(MEMP.PBUF);
  if (m == 0) return null;
  const pc = changetype<pbuf_custom>(m);
  pbuf_init_alloced(pc, payload, length, length, <u8>pbuf_type.PBUF_REF,
    PBUF_FLAG_IS_CUSTOM | PBUF_FLAG_CUSTOM_MEMP_HDR);
  pc.custom_free = free_fn_index;
  pc.custom_arg = arg;
  return pc;
}

// ---- references and freeing -------------------------------------------------------

/** Gives one pbuf back to where it came from (its ref is already 0). */
function pbuf_dealloc(p: pbuf): void {
  const m = changetype<usize>(p);
  const flags = p.flags;
  if (flags & PBUF_FLAG_IS_CUSTOM) {
    const hook = changetype<pbuf_custom>(m).custom_free;
    if (hook != 0) call_indirect<void>(hook, m);
    if (flags & PBUF_FLAG_CUSTOM_MEMP_HDR) memp_free(MEMP.PBUF, m);
    return;
  }
  const src = pbuf_get_allocsrc(p);
  if (src == PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF_POOL) memp_free(MEMP.PBUF_POOL, m);
  else if (src == PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF) memp_free(MEMP.PBUF, m);
  else mem_free(m);
}

/**
 * Drops one reference to the chain at `p`: walks the chain, freeing each pbuf
 * whose count reaches 0, and stops at the first one still referenced.
 * Returns the number of pbufs freed (saturating at 255). A pbuf whose count
 * is already 0 (a double free) stops the walk instead of underflowing.
 */
export function pbuf_free(p: pbuf | null): u8 {
  let count: u32 = 0;
  while (p) {
    const ref = p.ref;
    if (ref == 0) break;
    p.ref = ref - 1;
    if (ref != 1) break;
    const next = p.next;
    pbuf_dealloc(p);
    count++;
    p = next;
  }
  return <u8>min(count, 255);
}

/**
 * Takes one more reference to `p`. Returns false (and takes none) for null or
 * when the count would overflow u16 (lwIP asserts there).
 */
export function pbuf_ref(p: pbuf | null): bool {
  if (!p || p.ref == u16.MAX_VALUE) return false;
  p.ref++;
  return true;
}

/** Number of pbufs in the chain. */
export function pbuf_clen(p: pbuf | null): u32 {
  let n: u32 = 0;
  let q = p;
  while (q) {
    n++;
    q = q.next;
  }
  return n;
}

// ---- chains -------------------------------------------------------------------------

function cat(h: pbuf | null, t: pbuf | null): bool {
  if (!h || !t) return false;
  // Find the end first: linking `t` if it is already in `h` would make a loop.
  let last = h;
  for (;;) {
    if (last == t) return false;
    const next = last.next;
    if (!next) break;
    last = next;
  }
  const add = t.tot_len;
  let p = h;
  while (p != last) {
    p.tot_len += add;
    p = p.next!;
  }
  last.tot_len += add;
  last.next = t;
  return true;
}

/**
 * Appends `t` to `h`; the caller's reference to `t` passes to `h` (do not
 * free `t` afterwards). Ignored when either is null or `t` is already in `h`.
 */
export function pbuf_cat(h: pbuf | null, t: pbuf | null): void {
  cat(h, t);
}

/** Appends `t` to `h` and takes a reference to `t` (the caller keeps its own). */
export function pbuf_chain(h: pbuf | null, t: pbuf | null): void {
  if (cat(h, t)) pbuf_ref(t);
}

/**
 * Unlinks the first pbuf of `p` from the rest. Returns the rest, or null if
 * there was none or dropping the head's reference to it freed it.
 */
export function pbuf_dechain(p: pbuf | null): pbuf | null {
  if (!p) return null;
  const q = p.next;
  if (!q) return null;
  p.next = null;
  p.tot_len = p.len;
  return pbuf_free(q) > 0 ? null : q;
}

/**
 * Shrinks the packet to `new_len` bytes: the pbuf holding the new end gets
 * the new length (a RAM block is trimmed in the heap), pbufs after it are
 * freed. Growing is not possible; a larger `new_len` is ignored.
 */
export function pbuf_realloc(p: pbuf | null, new_len: u32): void {
  if (!p || new_len >= p.tot_len) return;
  const shrink = p.tot_len - new_len;
  let rem = new_len;
  let q = p;
  while (rem > q.len) {
    rem -= q.len;
    q.tot_len -= shrink;
    const next = q.next;
    if (!next) return; // len fields disagree with tot_len: leave the chain alone
    q = next;
  }
  if (rem != q.len && pbuf_get_allocsrc(q) == PBUF_TYPE_ALLOC_SRC_MASK_STD_HEAP
      && (q.flags & PBUF_FLAG_IS_CUSTOM) == 0) {
    const m = changetype<usize>(q);
    mem_trim(m, <u32>(q.payload - m) + rem);
  }
  q.len = rem;
  q.tot_len = rem;
  const rest = q.next;
  q.next = null;
  pbuf_free(rest);
}

// ---- headers ------------------------------------------------------------------------

function add_header(p: pbuf | null, n: u32, force: bool): u8 {
  if (!p) return 1;
  if (n == 0) return 0;
  if (<u64>p.tot_len + n > <u64>u32.MAX_VALUE) return 1;
  if (p.type_internal & PBUF_TYPE_FLAG_STRUCT_DATA_CONTIGUOUS) {
    // The header room ends where the struct does.
    const floor = changetype<usize>(p)
      + ((p.flags & PBUF_FLAG_IS_CUSTOM) ? PBUF_CUSTOM_SIZE : PBUF_STRUCT_SIZE);
    if (p.payload < floor || p.payload - floor < n) return 1;
  } else if (!force) {
    return 1;
  }
  p.payload -= n;
  p.len += n;
  p.tot_len += n;
  return 0;
}

/**
 * Moves the payload `n` bytes back to make room for a header. Returns 0, or
 * 1 when there is not that much header room (RAM, POOL) or the payload is
 * not ours to extend (ROM, REF).
 */
export function pbuf_add_header(p: pbuf | null, n: u32): u8 {
  return add_header(p, n, false);
}

/** As pbuf_add_header, and ROM/REF payloads move too: the caller knows the bytes before them are valid. */
export function pbuf_add_header_force(p: pbuf | null, n: u32): u8 {
  return add_header(p, n, true);
}

/** Moves the payload `n` bytes forward (hides a header). 1 when `n` exceeds this pbuf's len. */
export function pbuf_remove_header(p: pbuf | null, n: u32): u8 {
  if (!p || n > p.len) return 1;
  p.payload += n;
  p.len -= n;
  p.tot_len -= n;
  return 0;
}

/** Positive `delta` adds header room, negative removes it (lwIP's older API). */
export function pbuf_header(p: pbuf | null, delta: i32): u8 {
  return delta < 0 ? pbuf_remove_header(p, <u32>(-delta)) : add_header(p, <u32>delta, false);
}

/** pbuf_header that may move ROM/REF payloads back. */
export function pbuf_header_force(p: pbuf | null, delta: i32): u8 {
  return delta < 0 ? pbuf_remove_header(p, <u32>(-delta)) : add_header(p, <u32>delta, true);
}

/**
 * Drops `size` bytes from the front of the packet, freeing pbufs that become
 * empty. Returns what is left (null if nothing is).
 */
export function pbuf_free_header(q: pbuf | null, size: u32): pbuf | null {
  let p = q;
  let left = size;
  while (left && p) {
    if (left >= p.len) {
      const f = p;
      left -= p.len;
      p = p.next;
      f.next = null;
      pbuf_free(f);
    } else {
      pbuf_remove_header(p, left);
      left = 0;
    }
  }
  return p;
}

// ---- finding an offset ----------------------------------------------------------------

/** Offset inside the pbuf the last skip() returned. */
let skip_off: u32 = 0;

/** The pbuf holding byte `offset` of the packet (null past the end); its offset in skip_off. */
function skip(p: pbuf | null, offset: u32): pbuf | null {
  while (p && p.len <= offset) {
    offset -= p.len;
    p = p.next;
  }
  skip_off = offset;
  return p;
}

/**
 * The pbuf that holds byte `in_offset` of the packet, or null when the
 * packet is shorter. The byte's offset inside that pbuf is stored as a u32
 * at `out_offset_ptr` (skipped when 0).
 */
export function pbuf_skip(p: pbuf | null, in_offset: u32, out_offset_ptr: usize): pbuf | null {
  const q = skip(p, in_offset);
  if (out_offset_ptr) store<u32>(out_offset_ptr, skip_off);
  return q;
}

// ---- copying ----------------------------------------------------------------------------

/**
 * Copies the whole packet `from` into the start of `to`; segment sizes may
 * differ. ERR_ARG for null, ERR_VAL when `to` is shorter than `from`.
 */
export function pbuf_copy(to: pbuf | null, from: pbuf | null): err_t {
  if (!to || !from) return ERR_ARG;
  if (to.tot_len < from.tot_len) return ERR_VAL;
  return pbuf_copy_partial_pbuf(to, from, from.tot_len, 0);
}

/**
 * Copies `copy_len` bytes from `p_from` at `offset` into the start of
 * `p_to`. ERR_ARG when either is null, `p_to` is shorter than `copy_len` or
 * `p_from` ends before `offset + copy_len`.
 */
export function pbuf_copy_partial_pbuf(
  p_to: pbuf | null, p_from: pbuf | null, copy_len: u32, offset: u32,
): err_t {
  if (!p_to || !p_from || p_to.tot_len < copy_len) return ERR_ARG;
  if (<u64>p_from.tot_len < <u64>offset + copy_len) return ERR_ARG;
  let f = skip(p_from, offset);
  let off_from = skip_off;
  let t: pbuf | null = p_to;
  let off_to: u32 = 0;
  let left = copy_len;
  while (left) {
    while (t && off_to >= t.len) { t = t.next; off_to = 0; }
    while (f && off_from >= f.len) { f = f.next; off_from = 0; }
    if (!t || !f) return ERR_BUF; // len fields disagree with tot_len
    const n = min(left, min(t.len - off_to, f.len - off_from));
    memory.copy(t.payload + off_to, f.payload + off_from, n);
    off_to += n;
    off_from += n;
    left -= n;
  }
  return ERR_OK;
}

/**
 * Copies up to `len` bytes of the packet from `offset` into `dataptr`.
 * Returns the number copied (less than `len` when the packet ends first).
 */
export function pbuf_copy_partial(p: pbuf | null, dataptr: usize, len: u32, offset: u32): u32 {
  if (dataptr == 0) return 0;
  let q = skip(p, offset);
  let off = skip_off;
  let done: u32 = 0;
  while (q && done < len) {
    const n = min(len - done, q.len - off);
    memory.copy(dataptr + done, q.payload + off, n);
    done += n;
    off = 0;
    q = q.next;
  }
  return done;
}

/**
 * `len` bytes of the packet from `offset` in one piece: a pointer into the
 * payload when they are all in one pbuf, else copied into `buffer` (of
 * `bufsize` bytes) and `buffer` returned. 0 when the packet is too short or
 * the buffer too small.
 */
export function pbuf_get_contiguous(
  p: pbuf | null, buffer: usize, bufsize: u32, len: u32, offset: u32,
): usize {
  if (!p || buffer == 0 || bufsize < len) return 0;
  const q = skip(p, offset);
  if (!q) return 0;
  const off = skip_off;
  if (<u64>q.len >= <u64>off + len) return q.payload + off;
  return pbuf_copy_partial(q, buffer, len, off) == len ? buffer : 0;
}

/**
 * Copies `len` bytes from `dataptr` into the packet from its start.
 * ERR_ARG for null pointers, ERR_MEM when the packet is shorter than `len`.
 */
export function pbuf_take(buf: pbuf | null, dataptr: usize, len: u32): err_t {
  if (!buf || (dataptr == 0 && len != 0)) return ERR_ARG;
  if (buf.tot_len < len) return ERR_MEM;
  return take_from(buf, 0, dataptr, len);
}

function take_from(q: pbuf | null, off: u32, dataptr: usize, len: u32): err_t {
  let done: u32 = 0;
  while (done < len) {
    if (!q) return ERR_BUF; // len fields disagree with tot_len
    const n = min(len - done, q.len - off);
    memory.copy(q.payload + off, dataptr + done, n);
    done += n;
    off = 0;
    q = q.next;
  }
  return ERR_OK;
}

/** Copies `len` bytes from `dataptr` into the packet at `offset`. ERR_MEM when it does not fit. */
export function pbuf_take_at(buf: pbuf | null, dataptr: usize, len: u32, offset: u32): err_t {
  if (!buf || (dataptr == 0 && len != 0)) return ERR_ARG;
  if (<u64>buf.tot_len < <u64>offset + len) return ERR_MEM;
  if (len == 0) return ERR_OK;
  const q = skip(buf, offset);
  return take_from(q, skip_off, dataptr, len);
}

/**
 * Copies the packet into a new pbuf of `type` with `layer` header room.
 * Null when that cannot be allocated.
 */
export function pbuf_clone(layer: pbuf_layer, type: pbuf_type, p: pbuf | null): pbuf | null {
  if (!p) return null;
  const q = pbuf_alloc(layer, p.tot_len, type);
  if (!q) return null;
  if (pbuf_copy(q, p) != ERR_OK) {
    pbuf_free(q);
    return null;
  }
  return q;
}

/**
 * Makes the packet one PBUF_RAM pbuf: returns the copy and drops the
 * caller's reference to `p`. A single pbuf, or a failed allocation, returns
 * `p` unchanged.
 */
export function pbuf_coalesce(p: pbuf | null, layer: pbuf_layer): pbuf | null {
  if (!p || !p.next) return p;
  const q = pbuf_clone(layer, pbuf_type.PBUF_RAM, p);
  if (!q) return p;
  pbuf_free(p);
  return q;
}

/**
 * Makes a packet safe to queue: if any of its payload may change (PBUF_REF),
 * returns a PBUF_RAM copy with `layer` header room and drops the caller's
 * reference to `p`; otherwise returns `p`. Null when the copy cannot be
 * allocated; `p` is then left to the caller.
 */
export function pbuf_unref_volatile(p: pbuf | null, layer: pbuf_layer = pbuf_layer.PBUF_LINK): pbuf | null {
  if (!p || !pbuf_needs_copy(p)) return p;
  const q = pbuf_clone(layer, pbuf_type.PBUF_RAM, p);
  if (q) pbuf_free(p);
  return q;
}

// ---- single bytes -------------------------------------------------------------------------

/** Byte `offset` of the packet, or -1 past its end. */
export function pbuf_try_get_at(p: pbuf | null, offset: u32): i32 {
  const q = skip(p, offset);
  return q ? <i32>load<u8>(q.payload + skip_off) : -1;
}

/** Byte `offset` of the packet, or 0 past its end. */
export function pbuf_get_at(p: pbuf | null, offset: u32): u8 {
  const q = skip(p, offset);
  return q ? load<u8>(q.payload + skip_off) : 0;
}

/** Writes byte `offset` of the packet; ignored past its end. */
export function pbuf_put_at(p: pbuf | null, offset: u32, data: u8): void {
  const q = skip(p, offset);
  if (q) store<u8>(q.payload + skip_off, data);
}

// ---- comparing and searching ----------------------------------------------------------------

/**
 * Compares `n` bytes of the packet from `offset` with memory at `s`.
 * Returns 0 when equal, else the index of the first difference plus one;
 * PBUF_MEMCMP_OUT_OF_RANGE (0xffff) when the packet ends before
 * `offset + n`. (For n > 65534 a difference at index 65534 also reads 0xffff.)
 */
export function pbuf_memcmp(p: pbuf | null, offset: u32, s: usize, n: u32): u32 {
  if (!p || <u64>p.tot_len < <u64>offset + n) return PBUF_MEMCMP_OUT_OF_RANGE;
  let q = skip(p, offset);
  let off = skip_off;
  for (let i: u32 = 0; i < n; i++) {
    while (q && off >= q.len) { q = q.next; off = 0; }
    if (!q) return PBUF_MEMCMP_OUT_OF_RANGE;
    if (load<u8>(q.payload + off) != load<u8>(s + i)) return i + 1;
    off++;
  }
  return 0;
}

/**
 * Offset of the first occurrence of `mem_len` bytes at `mem` in the packet,
 * at or after `start_offset`; PBUF_NOT_FOUND (u32.MAX_VALUE) if none.
 */
export function pbuf_memfind(p: pbuf | null, mem: usize, mem_len: u32, start_offset: u32): u32 {
  if (!p || <u64>p.tot_len < <u64>mem_len + start_offset) return PBUF_NOT_FOUND;
  const last = p.tot_len - mem_len;
  for (let i = start_offset; i <= last; i++) {
    if (pbuf_memcmp(p, i, mem, mem_len) == 0) return i;
    if (i == u32.MAX_VALUE) break;
  }
  return PBUF_NOT_FOUND;
}

/**
 * Offset of the NUL-terminated byte string at `substr` in the packet, or
 * PBUF_NOT_FOUND (also for a null or empty string).
 */
export function pbuf_strstr(p: pbuf | null, substr: usize): u32 {
  if (substr == 0 || load<u8>(substr) == 0) return PBUF_NOT_FOUND;
  let n: u32 = 0;
  while (load<u8>(substr + n) != 0) n++;
  return pbuf_memfind(p, substr, n, 0);
}

// ---- receive-pool pressure ----------------------------------------------------
//
// PBUF_POOL holds received frames. Most are freed before netif_input returns,
// but data a protocol keeps for later (TCP's receive and out-of-order queues,
// data given to an application that has not read it yet, a netconn's
// mailbox) pins whole pool buffers however few bytes each carries. Left
// alone, one slow reader can take the whole pool, and then every frame is
// dropped, including the ACKs that would let the send queue drain: the stack
// wedges (an echo through a TAP did exactly that).
//
// So, as Linux collapses socket buffers under memory pressure (truesize
// accounting, tcp_collapse), a protocol that is about to keep received data
// asks `pbuf_pool_pressure()`. From half the pool in use (HIGH), it keeps a
// tight PBUF_RAM copy instead (`pbuf_compact`), so the pool stays free for
// new frames. When even that copy cannot be had and the pool is nearly gone
// (CRITICAL, the last PBUF_POOL_RESERVE_PCT), it drops the data instead of
// keeping it: TCP still takes the segment's ACK, and the peer sends the data
// again. The pool then never runs dry because of what is *held*, and it
// comes back on its own as applications read. docs/design.md, "Memory".

/** How full the receive pool is, for code that would keep received data. */
export const enum pool_pressure {
  /** Under PBUF_POOL_COMPACT_PCT in use: keep pool buffers as they are. */
  NONE = 0,
  /** Compact what is kept into PBUF_RAM copies. */
  HIGH = 1,
  /** Within PBUF_POOL_RESERVE_PCT of empty: keep nothing in the pool. */
  CRITICAL = 2,
}

export function pbuf_pool_pressure(): pool_pressure {
  const num = memp_num(MEMP.PBUF_POOL);
  const used = memp_used(MEMP.PBUF_POOL);
  if (<u64>used * 100 < <u64>num * <u64>PBUF_POOL_COMPACT_PCT) return pool_pressure.NONE;
  const free = num - min(used, num);
  if (<u64>free * 100 <= <u64>num * <u64>PBUF_POOL_RESERVE_PCT) return pool_pressure.CRITICAL;
  return pool_pressure.HIGH;
}

/** Does any pbuf of the chain live in PBUF_POOL? */
export function pbuf_holds_pool(p: pbuf | null): bool {
  let q = p;
  while (q) {
    if (pbuf_get_allocsrc(q) == PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF_POOL && (q.flags & PBUF_FLAG_IS_CUSTOM) == 0) return true;
    q = q.next;
  }
  return false;
}

/**
 * Copies the packet into one PBUF_RAM pbuf of exactly its length (no header
 * room) and drops the caller's reference to `p`. Null, with `p` untouched,
 * when the heap has no room. The copy keeps `p`'s flags and netif index.
 */
export function pbuf_compact(p: pbuf): pbuf | null {
  const q = pbuf_alloc(pbuf_layer.PBUF_RAW, p.tot_len, pbuf_type.PBUF_RAM);
  if (!q) return null;
  pbuf_copy_partial(p, q.payload, p.tot_len, 0);
  q.flags = p.flags;
  q.if_idx = p.if_idx;
  pbuf_free(p);
  return q;
}

/**
 * What a protocol about to keep received data `p` should keep: `p` itself
 * when the pool is not under pressure (or `p` holds no pool buffer), else a
 * compact copy. Null when the pool is CRITICAL and no copy could be made: the
 * data must be dropped (`p` is then freed). Under HIGH pressure a failed copy
 * keeps `p`.
 */
export function pbuf_keep(p: pbuf): pbuf | null {
  if (!pbuf_holds_pool(p)) return p;
  const lvl = pbuf_pool_pressure();
  if (lvl == pool_pressure.NONE) return p;
  const q = pbuf_compact(p);
  if (q) return q;
  if (lvl == pool_pressure.CRITICAL) {
    pbuf_free(p);
    return null;
  }
  return p;
}
