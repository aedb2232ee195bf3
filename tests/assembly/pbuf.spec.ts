// pbuf: lwIP's test_pbuf.c checklist plus every operation of core/pbuf.ts.
// Every test starts with leak_start() and ends with leak_check(): the heap
// and every pool are back to the counts they had.
import { mem_init, mem_used } from "../../assembly/core/mem";
import { MEMP, memp_init, memp_set_num, memp_used, memp_num } from "../../assembly/core/memp";
import { ERR_ARG, ERR_MEM, ERR_OK, ERR_VAL } from "../../assembly/core/err";
import { leak_mark, leak_check, leak_marked_pool } from "./harness/leak";
import {
  pbuf, pbuf_custom, pbuf_layer, pbuf_type, PBUF_STRUCT_SIZE, PBUF_CUSTOM_SIZE, PBUF_FLAG_IS_CUSTOM,
  PBUF_MEMCMP_OUT_OF_RANGE, PBUF_NOT_FOUND,
  pbuf_alloc, pbuf_alloc_reference, pbuf_alloced_custom, pbuf_alloc_custom, pbuf_custom_fn_index,
  pbuf_free, pbuf_ref, pbuf_clen, pbuf_cat, pbuf_chain, pbuf_dechain, pbuf_realloc,
  pbuf_add_header, pbuf_add_header_force, pbuf_remove_header, pbuf_header, pbuf_header_force,
  pbuf_free_header, pbuf_copy, pbuf_copy_partial, pbuf_copy_partial_pbuf, pbuf_get_contiguous,
  pbuf_take, pbuf_take_at, pbuf_skip, pbuf_coalesce, pbuf_clone, pbuf_get_at, pbuf_try_get_at,
  pbuf_put_at, pbuf_memcmp, pbuf_memfind, pbuf_strstr, pbuf_unref_volatile, pbuf_needs_copy,
  pbuf_pool_pressure, pool_pressure, pbuf_holds_pool, pbuf_compact, pbuf_keep,
} from "../../assembly/core/pbuf";

const POOL_NUM: u32 = 80; // 80 × 1536 B: room for a 100 KiB chain, small enough to exhaust
const HDR_NUM: u32 = 16;
const POOL_BUF: u32 = 1536;

// ---- helpers -------------------------------------------------------------------

/** Records the heap and pool counts a test must end with. */
function leak_start(): void { leak_mark(); }

// @ts-ignore: decorator
@inline function P(p: pbuf | null): usize { return changetype<usize>(p); }

/** A test buffer outside the mem heap and pools, filled with a pattern from `seed`. */
function tbuf(n: u32, seed: u32 = 0): usize {
  const b = heap.alloc(<usize>max(n, 1));
  let x: u32 = 0x9E3779B9 ^ (seed * 0x85EBCA6B);
  for (let i: u32 = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5; // xorshift32: no short period
    store<u8>(b + i, <u8>(x >> 24));
  }
  return b;
}

function bytes_equal(a: usize, b: usize, n: u32): bool {
  return memory.compare(a, b, n) == 0;
}

/** A chain of RAM pbufs of the given lengths, its bytes numbered 0, 1, 2, … from the start. */
function ram_chain(lens: StaticArray<u32>): pbuf {
  let head: pbuf | null = null;
  let k: u32 = 0;
  for (let i = 0; i < lens.length; i++) {
    const q = pbuf_alloc(pbuf_layer.PBUF_RAW, lens[i], pbuf_type.PBUF_RAM)!;
    for (let j: u32 = 0; j < lens[i]; j++) store<u8>(q.payload + j, <u8>(k++));
    if (head) pbuf_cat(head, q);
    else head = q;
  }
  return head!;
}

let hook_calls = 0;
let hook_last: usize = 0;
let hook_arg: u32 = 0;
function count_hook(p: pbuf_custom): void {
  hook_calls++;
  hook_last = changetype<usize>(p);
  hook_arg = p.custom_arg;
}

describe("pbuf", () => {
  beforeAll(() => {
    mem_init(512 * 1024);
    memp_set_num(MEMP.PBUF_POOL, POOL_NUM);
    memp_set_num(MEMP.PBUF, HDR_NUM);
    memp_init();
  });

  it("keeps the documented layout", () => {
    expect(offsetof<pbuf>()).toBe(PBUF_STRUCT_SIZE);
    expect(offsetof<pbuf_custom>()).toBe(PBUF_CUSTOM_SIZE);
    expect(offsetof<pbuf>("tot_len")).toBe(8);
    expect(offsetof<pbuf>("ref")).toBe(18);
    expect(offsetof<pbuf_custom>("custom_free")).toBe(24);
    expect(memp_num(MEMP.PBUF_POOL)).toBe(POOL_NUM);
  });

  it("allocates zero-length pbufs of every kind (alloc_zero_pbufs)", () => {
    leak_start();
    const kinds: StaticArray<i32> = [pbuf_type.PBUF_ROM, pbuf_type.PBUF_RAM, pbuf_type.PBUF_REF, pbuf_type.PBUF_POOL];
    for (let i = 0; i < kinds.length; i++) {
      const p = pbuf_alloc(pbuf_layer.PBUF_RAW, 0, kinds[i]);
      expect(P(p)).not.toBe(0);
      expect(p!.len).toBe(0);
      expect(p!.tot_len).toBe(0);
      expect(p!.ref).toBe(1);
      expect(P(p!.next)).toBe(0);
      expect(p!.type_internal).toBe(<u8>kinds[i]);
      expect(pbuf_clen(p)).toBe(1);
      expect(pbuf_free(p)).toBe(1);
    }
    // with header room too
    const q = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 0, pbuf_type.PBUF_POOL);
    expect(P(q)).not.toBe(0);
    expect(pbuf_add_header(q, 78)).toBe(0);
    expect(pbuf_free(q)).toBe(1);
    leak_check();
  });

  it("lays out a RAM pbuf in one aligned heap block with layer header room", () => {
    leak_start();
    const before = mem_used();
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 101, pbuf_type.PBUF_RAM)!;
    expect(mem_used()).toBeGreaterThanOrEqual(before + PBUF_STRUCT_SIZE + 80 + 101);
    expect(P(p) & 7).toBe(0);
    expect(p.payload & 7).toBe(0);
    expect(p.payload).toBe(P(p) + PBUF_STRUCT_SIZE + 80); // 78 aligned up
    expect(p.len).toBe(101);
    expect(p.tot_len).toBe(101);
    expect(p.flags).toBe(0);
    expect(p.if_idx).toBe(0);
    memory.fill(p.payload, 0xEE, 101);
    expect(pbuf_free(p)).toBe(1);
    leak_check();
  });

  it("chains pool elements for a long POOL pbuf, only the first with header room", () => {
    leak_start();
    const used = memp_used(MEMP.PBUF_POOL);
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 4000, pbuf_type.PBUF_POOL)!;
    expect(memp_used(MEMP.PBUF_POOL)).toBe(used + 3);
    expect(pbuf_clen(p)).toBe(3);
    expect(p.len).toBe(POOL_BUF - 80);
    expect(p.tot_len).toBe(4000);
    expect(p.payload).toBe(P(p) + PBUF_STRUCT_SIZE + 80);
    const q = p.next!;
    expect(q.len).toBe(POOL_BUF);
    expect(q.tot_len).toBe(4000 - (POOL_BUF - 80));
    expect(q.payload).toBe(P(q) + PBUF_STRUCT_SIZE);
    const r = q.next!;
    expect(r.len).toBe(4000 - (POOL_BUF - 80) - POOL_BUF);
    expect(r.tot_len).toBe(r.len);
    expect(P(r.next)).toBe(0);
    expect(pbuf_add_header(q, 1)).toBe(1); // no room in the 2nd element
    expect(pbuf_free(p)).toBe(3);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(used);
    leak_check();
  });

  it("allocates ROM/REF headers only and rejects other kinds in pbuf_alloc_reference", () => {
    leak_start();
    const data = tbuf(64);
    const r = pbuf_alloc_reference(data, 64, pbuf_type.PBUF_REF)!;
    expect(r.payload).toBe(data);
    expect(r.len).toBe(64);
    expect(memp_used(MEMP.PBUF)).toBe(leak_marked_pool(MEMP.PBUF) + 1);
    const o = pbuf_alloc(pbuf_layer.PBUF_IP, 10, pbuf_type.PBUF_ROM)!;
    expect(o.payload).toBe(0);
    expect(o.tot_len).toBe(10);
    expect(P(pbuf_alloc_reference(data, 8, pbuf_type.PBUF_RAM))).toBe(0);
    expect(P(pbuf_alloc_reference(data, 8, pbuf_type.PBUF_POOL))).toBe(0);
    expect(pbuf_free(r)).toBe(1);
    expect(pbuf_free(o)).toBe(1);
    heap.free(data);
    leak_check();
  });

  it("frees only up to a pbuf still referenced (ref in the middle of a chain)", () => {
    leak_start();
    const used = memp_used(MEMP.PBUF_POOL);
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, 3 * POOL_BUF, pbuf_type.PBUF_POOL)!;
    expect(pbuf_clen(p)).toBe(3);
    const mid = p.next!;
    expect(pbuf_ref(mid)).toBe(true);
    expect(mid.ref).toBe(2);
    expect(pbuf_free(p)).toBe(1); // head only
    expect(memp_used(MEMP.PBUF_POOL)).toBe(used + 2);
    expect(mid.ref).toBe(1);
    expect(pbuf_clen(mid)).toBe(2);
    expect(pbuf_free(mid)).toBe(2);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(used);
    expect(pbuf_free(null)).toBe(0);
    expect(pbuf_ref(null)).toBe(false);
    leak_check();
  });

  it("refuses to overflow ref and stops at a pbuf already freed", () => {
    leak_start();
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, 4, pbuf_type.PBUF_ROM)!;
    p.ref = u16.MAX_VALUE;
    expect(pbuf_ref(p)).toBe(false);
    expect(p.ref).toBe(u16.MAX_VALUE);
    p.ref = 1;
    expect(pbuf_free(p)).toBe(1);
    // A second free sees ref 0 and frees nothing (the element is not reused in between).
    expect(pbuf_free(p)).toBe(0);
    leak_check();
  });

  it("cats and chains: tot_len adds up, references pass or are taken (cat/chain)", () => {
    leak_start();
    const h = pbuf_alloc(pbuf_layer.PBUF_RAW, 10, pbuf_type.PBUF_RAM)!;
    const t = pbuf_alloc(pbuf_layer.PBUF_RAW, 20, pbuf_type.PBUF_POOL)!;
    const u = pbuf_alloc(pbuf_layer.PBUF_RAW, 30, pbuf_type.PBUF_RAM)!;
    pbuf_cat(h, t);
    expect(h.tot_len).toBe(30);
    expect(t.ref).toBe(1);
    pbuf_chain(h, u);
    expect(h.tot_len).toBe(60);
    expect(t.tot_len).toBe(50);
    expect(u.ref).toBe(2);
    expect(pbuf_clen(h)).toBe(3);
    // a loop is refused
    pbuf_cat(h, t);
    expect(h.tot_len).toBe(60);
    pbuf_cat(h, null);
    pbuf_cat(null, h);
    expect(pbuf_free(h)).toBe(2); // u still held by us
    expect(u.ref).toBe(1);
    expect(pbuf_free(u)).toBe(1);
    leak_check();
  });

  it("dechains the first pbuf from the rest (dechain)", () => {
    leak_start();
    const h = pbuf_alloc(pbuf_layer.PBUF_RAW, 10, pbuf_type.PBUF_RAM)!;
    const t = pbuf_alloc(pbuf_layer.PBUF_RAW, 20, pbuf_type.PBUF_RAM)!;
    pbuf_chain(h, t); // t.ref = 2
    const rest = pbuf_dechain(h);
    expect(P(rest)).toBe(P(t));
    expect(h.tot_len).toBe(10);
    expect(P(h.next)).toBe(0);
    expect(t.ref).toBe(1);
    // the head's reference was the last one: the rest is freed and null returned
    pbuf_cat(h, t);
    expect(P(pbuf_dechain(h))).toBe(0);
    expect(P(pbuf_dechain(h))).toBe(0); // no next
    expect(pbuf_free(h)).toBe(1);
    leak_check();
  });

  it("shrinks a RAM pbuf in the heap and frees the tail of a POOL chain (realloc)", () => {
    leak_start();
    const p = pbuf_alloc(pbuf_layer.PBUF_IP, 4000, pbuf_type.PBUF_RAM)!;
    const u0 = mem_used();
    pbuf_realloc(p, 5000); // growing is ignored
    expect(p.tot_len).toBe(4000);
    pbuf_realloc(p, 100);
    expect(p.len).toBe(100);
    expect(p.tot_len).toBe(100);
    expect(mem_used()).toBeLessThan(u0 - 3800);
    pbuf_free(p);

    const used = memp_used(MEMP.PBUF_POOL);
    const q = pbuf_alloc(pbuf_layer.PBUF_RAW, 4 * POOL_BUF, pbuf_type.PBUF_POOL)!;
    expect(memp_used(MEMP.PBUF_POOL)).toBe(used + 4);
    pbuf_realloc(q, POOL_BUF + 7);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(used + 2);
    expect(q.tot_len).toBe(POOL_BUF + 7);
    expect(q.len).toBe(POOL_BUF);
    expect(q.next!.len).toBe(7);
    expect(q.next!.tot_len).toBe(7);
    expect(P(q.next!.next)).toBe(0);
    pbuf_realloc(q, POOL_BUF); // exactly the first pbuf
    expect(pbuf_clen(q)).toBe(1);
    pbuf_realloc(q, 0);
    expect(q.tot_len).toBe(0);
    expect(pbuf_free(q)).toBe(1);

    // RAM chain: the pbuf holding the new end is trimmed, the rest freed
    const lens: StaticArray<u32> = [300, 500, 700];
    const c = ram_chain(lens);
    const u1 = mem_used();
    pbuf_realloc(c, 310);
    expect(pbuf_clen(c)).toBe(2);
    expect(c.tot_len).toBe(310);
    expect(c.next!.len).toBe(10);
    expect(mem_used()).toBeLessThan(u1 - 700 - 400);
    expect(pbuf_get_at(c, 309)).toBe(<u8>309);
    pbuf_free(c);
    leak_check();
  });

  it("adds and removes headers; header room exhausted is an error, not a trap", () => {
    leak_start();
    // RAM: 80 bytes of room for PBUF_TRANSPORT
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, 20, pbuf_type.PBUF_RAM)!;
    const pl = p.payload;
    expect(pbuf_add_header(p, 0)).toBe(0);
    expect(pbuf_add_header(p, 80)).toBe(0);
    expect(p.payload).toBe(P(p) + PBUF_STRUCT_SIZE);
    expect(p.len).toBe(100);
    expect(p.tot_len).toBe(100);
    expect(pbuf_add_header(p, 1)).toBe(1);
    expect(pbuf_add_header_force(p, 1)).toBe(1); // force does not pass the struct either
    expect(pbuf_add_header(p, u32.MAX_VALUE)).toBe(1);
    expect(pbuf_remove_header(p, 101)).toBe(1);
    expect(pbuf_remove_header(p, 80)).toBe(0);
    expect(p.payload).toBe(pl);
    expect(pbuf_header(p, -20)).toBe(0);
    expect(p.len).toBe(0);
    expect(pbuf_header(p, -1)).toBe(1);
    expect(pbuf_header(p, 100)).toBe(0);
    expect(pbuf_header(p, 1)).toBe(1);
    expect(pbuf_header(p, i32.MIN_VALUE)).toBe(1);
    pbuf_free(p);

    // RAW layer: no room at all
    const r = pbuf_alloc(pbuf_layer.PBUF_RAW, 20, pbuf_type.PBUF_RAM)!;
    expect(pbuf_add_header(r, 1)).toBe(1);
    pbuf_free(r);

    // POOL: the layer's room, then failure
    const q = pbuf_alloc(pbuf_layer.PBUF_LINK, 20, pbuf_type.PBUF_POOL)!;
    expect(pbuf_add_header(q, 25)).toBe(1); // 18 aligned up to 24
    expect(pbuf_add_header(q, 14)).toBe(0);
    expect(pbuf_add_header(q, 10)).toBe(0);
    expect(pbuf_add_header(q, 1)).toBe(1);
    expect(q.tot_len).toBe(44);
    expect(q.payload).toBe(P(q) + PBUF_STRUCT_SIZE);
    pbuf_free(q);

    // ROM/REF: no room unless forced
    const data = tbuf(64);
    const f = pbuf_alloc_reference(data + 16, 48, pbuf_type.PBUF_REF)!;
    expect(pbuf_add_header(f, 1)).toBe(1);
    expect(pbuf_header(f, 1)).toBe(1);
    expect(pbuf_add_header_force(f, 8)).toBe(0);
    expect(pbuf_header_force(f, 8)).toBe(0);
    expect(f.payload).toBe(data);
    expect(f.len).toBe(64);
    expect(pbuf_header_force(f, -16)).toBe(0);
    expect(f.payload).toBe(data + 16);
    const g = pbuf_alloc_reference(data, 4, pbuf_type.PBUF_ROM)!;
    expect(pbuf_add_header(g, 4)).toBe(1);
    pbuf_free(f);
    pbuf_free(g);
    heap.free(data);
    expect(pbuf_add_header(null, 1)).toBe(1);
    expect(pbuf_remove_header(null, 1)).toBe(1);
    leak_check();
  });

  it("frees header bytes across pbufs (free_header)", () => {
    leak_start();
    const lens: StaticArray<u32> = [10, 20, 30];
    const c = ram_chain(lens);
    let r = pbuf_free_header(c, 5);
    expect(P(r)).toBe(P(c));
    expect(r!.tot_len).toBe(55);
    expect(pbuf_get_at(r, 0)).toBe(5);
    r = pbuf_free_header(r, 5 + 20 + 1); // drops the first two pbufs and 1 byte of the third
    expect(pbuf_clen(r)).toBe(1);
    expect(r!.tot_len).toBe(29);
    expect(pbuf_get_at(r, 0)).toBe(31);
    expect(P(pbuf_free_header(r, 29))).toBe(0);
    expect(P(pbuf_free_header(null, 3))).toBe(0);
    leak_check();
  });

  it("copies into a too-small destination → ERR_VAL, no ref leak (copy_zero_pbuf)", () => {
    leak_start();
    const p1 = pbuf_alloc(pbuf_layer.PBUF_RAW, 1024, pbuf_type.PBUF_RAM)!;
    const p2 = pbuf_alloc(pbuf_layer.PBUF_RAW, 2, pbuf_type.PBUF_POOL)!;
    p2.len = 0;
    p2.tot_len = 0;
    pbuf_cat(p1, p2);
    expect(p1.ref).toBe(1);
    expect(p2.ref).toBe(1);
    memory.fill(p1.payload, 0x5A, 1024);
    const small = pbuf_alloc(pbuf_layer.PBUF_RAW, 1023, pbuf_type.PBUF_POOL)!;
    expect(pbuf_copy(small, p1)).toBe(ERR_VAL);
    const p3 = pbuf_alloc(pbuf_layer.PBUF_RAW, p1.tot_len, pbuf_type.PBUF_POOL)!;
    expect(pbuf_copy(p3, p1)).toBe(ERR_OK); // the zero-length tail is harmless
    expect(bytes_equal(p3.payload, p1.payload, 1024)).toBe(true);
    expect(pbuf_copy(null, p1)).toBe(ERR_ARG);
    expect(pbuf_copy(p3, null)).toBe(ERR_ARG);
    expect(p1.ref).toBe(1);
    expect(p3.ref).toBe(1);
    expect(pbuf_free(p1)).toBe(2);
    expect(pbuf_free(p3)).toBe(1);
    expect(pbuf_free(small)).toBe(1);
    leak_check();
  });

  it("copies between chains of different segment sizes (copy_unmatched_chains)", () => {
    leak_start();
    const a: StaticArray<u32> = [3, 1, 250, 7, 0, 99];
    const from = ram_chain(a); // 360 bytes
    const to = ram_chain([100, 0, 11, 200, 60]); // 371 bytes
    expect(pbuf_copy(to, from)).toBe(ERR_OK);
    for (let i: u32 = 0; i < 360; i++) expect(pbuf_get_at(to, i)).toBe(<u8>i);
    expect(pbuf_get_at(to, 360)).toBe(<u8>360); // untouched past the copy
    pbuf_free(from);
    pbuf_free(to);
    leak_check();
  });

  it("copies part of a chain into another: bounds ERR_ARG, offsets work (copy_partial_pbuf)", () => {
    leak_start();
    const src = ram_chain([5, 10, 15]); // bytes 0..29
    const dst = ram_chain([4, 4, 4]);
    memory.fill(dst.payload, 0xFF, 4);
    expect(pbuf_copy_partial_pbuf(null, src, 1, 0)).toBe(ERR_ARG);
    expect(pbuf_copy_partial_pbuf(dst, null, 1, 0)).toBe(ERR_ARG);
    expect(pbuf_copy_partial_pbuf(dst, src, 13, 0)).toBe(ERR_ARG); // dst too short
    expect(pbuf_copy_partial_pbuf(dst, src, 12, 19)).toBe(ERR_ARG); // src ends at 30
    expect(pbuf_copy_partial_pbuf(dst, src, 1, u32.MAX_VALUE)).toBe(ERR_ARG); // no wrap
    expect(pbuf_copy_partial_pbuf(dst, src, 12, 18)).toBe(ERR_OK);
    for (let i: u32 = 0; i < 12; i++) expect(pbuf_get_at(dst, i)).toBe(<u8>(18 + i));
    expect(pbuf_copy_partial_pbuf(dst, src, 3, 4)).toBe(ERR_OK); // across 1st/2nd
    expect(pbuf_get_at(dst, 0)).toBe(4);
    expect(pbuf_get_at(dst, 2)).toBe(6);
    expect(pbuf_get_at(dst, 3)).toBe(21); // left alone
    expect(pbuf_copy_partial_pbuf(dst, src, 0, 30)).toBe(ERR_OK);
    pbuf_free(src);
    pbuf_free(dst);
    leak_check();
  });

  it("copies out of a chain with offsets (copy_partial, get_contiguous)", () => {
    leak_start();
    const c = ram_chain([5, 10, 15]);
    const out = tbuf(64);
    expect(pbuf_copy_partial(c, out, 30, 0)).toBe(30);
    for (let i: u32 = 0; i < 30; i++) expect(load<u8>(out + i)).toBe(<u8>i);
    memory.fill(out, 0, 64);
    expect(pbuf_copy_partial(c, out, 8, 3)).toBe(8);
    expect(load<u8>(out)).toBe(3);
    expect(load<u8>(out + 7)).toBe(10);
    expect(pbuf_copy_partial(c, out, 100, 25)).toBe(5); // clipped at the end
    expect(load<u8>(out + 4)).toBe(29);
    expect(pbuf_copy_partial(c, out, 1, 30)).toBe(0);
    expect(pbuf_copy_partial(c, out, 1, 1000)).toBe(0);
    expect(pbuf_copy_partial(c, 0, 1, 0)).toBe(0);
    expect(pbuf_copy_partial(null, out, 1, 0)).toBe(0);

    // within one pbuf: a pointer into the payload
    expect(pbuf_get_contiguous(c, out, 64, 4, 6)).toBe(c.next!.payload + 1);
    // across pbufs: copied into the buffer
    memory.fill(out, 0, 64);
    expect(pbuf_get_contiguous(c, out, 64, 10, 3)).toBe(out);
    expect(load<u8>(out)).toBe(3);
    expect(load<u8>(out + 9)).toBe(12);
    expect(pbuf_get_contiguous(c, out, 9, 10, 3)).toBe(0); // buffer too small
    expect(pbuf_get_contiguous(c, out, 64, 10, 25)).toBe(0); // packet too short
    expect(pbuf_get_contiguous(c, out, 64, 1, 30)).toBe(0);
    expect(pbuf_get_contiguous(c, 0, 64, 1, 0)).toBe(0);
    heap.free(out);
    pbuf_free(c);
    leak_check();
  });

  it("takes data in at the start/end of the 1st pbuf and the start of the 2nd (take_at_edge)", () => {
    leak_start();
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, POOL_BUF + 64, pbuf_type.PBUF_POOL)!;
    expect(pbuf_clen(p)).toBe(2);
    memory.fill(p.payload, 0, p.len);
    memory.fill(p.next!.payload, 0, p.next!.len);
    const src = tbuf(8, 1);
    // start of the first
    expect(pbuf_take_at(p, src, 4, 0)).toBe(ERR_OK);
    for (let i: u32 = 0; i < 4; i++) expect(pbuf_get_at(p, i)).toBe(load<u8>(src + i));
    // end of the first, spilling into the second
    expect(pbuf_take_at(p, src, 8, POOL_BUF - 3)).toBe(ERR_OK);
    for (let i: u32 = 0; i < 8; i++) expect(pbuf_get_at(p, POOL_BUF - 3 + i)).toBe(load<u8>(src + i));
    expect(load<u8>(p.payload + POOL_BUF - 1)).toBe(load<u8>(src + 2));
    expect(load<u8>(p.next!.payload)).toBe(load<u8>(src + 3));
    // start of the second
    expect(pbuf_take_at(p, src + 4, 4, POOL_BUF)).toBe(ERR_OK);
    expect(load<u8>(p.next!.payload)).toBe(load<u8>(src + 4));
    // the very end, and past it
    expect(pbuf_take_at(p, src, 8, POOL_BUF + 56)).toBe(ERR_OK);
    expect(pbuf_take_at(p, src, 8, POOL_BUF + 57)).toBe(ERR_MEM);
    expect(pbuf_take_at(p, src, 1, u32.MAX_VALUE)).toBe(ERR_MEM);
    expect(pbuf_take_at(p, src, 0, POOL_BUF + 64)).toBe(ERR_OK);
    expect(pbuf_take_at(null, src, 1, 0)).toBe(ERR_ARG);
    expect(pbuf_take_at(p, 0, 1, 0)).toBe(ERR_ARG);
    // pbuf_take from the start
    const big = tbuf(POOL_BUF + 64, 2);
    expect(pbuf_take(p, big, POOL_BUF + 64)).toBe(ERR_OK);
    const back = tbuf(POOL_BUF + 64);
    expect(pbuf_copy_partial(p, back, POOL_BUF + 64, 0)).toBe(POOL_BUF + 64);
    expect(bytes_equal(big, back, POOL_BUF + 64)).toBe(true);
    expect(pbuf_take(p, big, POOL_BUF + 65)).toBe(ERR_MEM);
    expect(pbuf_take(null, big, 1)).toBe(ERR_ARG);
    expect(pbuf_take(p, 0, 1)).toBe(ERR_ARG);
    heap.free(src);
    heap.free(big);
    heap.free(back);
    pbuf_free(p);
    leak_check();
  });

  it("reads and writes single bytes across a chain boundary (get_put_at_edge)", () => {
    leak_start();
    const p = pbuf_alloc(pbuf_layer.PBUF_RAW, POOL_BUF + 2, pbuf_type.PBUF_POOL)!;
    const last = POOL_BUF - 1;
    pbuf_put_at(p, last, 0xA1);
    pbuf_put_at(p, last + 1, 0xB2);
    pbuf_put_at(p, last + 2, 0xC3);
    pbuf_put_at(p, last + 3, 0xD4); // past the end: ignored
    expect(load<u8>(p.payload + last)).toBe(0xA1);
    expect(load<u8>(p.next!.payload)).toBe(0xB2);
    expect(pbuf_get_at(p, last)).toBe(0xA1);
    expect(pbuf_get_at(p, last + 1)).toBe(0xB2);
    expect(pbuf_get_at(p, last + 2)).toBe(0xC3);
    expect(pbuf_get_at(p, last + 3)).toBe(0);
    expect(pbuf_try_get_at(p, last + 1)).toBe(0xB2);
    expect(pbuf_try_get_at(p, last + 3)).toBe(-1);
    expect(pbuf_try_get_at(null, 0)).toBe(-1);
    pbuf_free(p);
    leak_check();
  });

  it("finds the pbuf holding an offset (skip)", () => {
    leak_start();
    const c = ram_chain([5, 0, 10]);
    const out = heap.alloc(4);
    expect(P(pbuf_skip(c, 4, out))).toBe(P(c));
    expect(load<u32>(out)).toBe(4);
    expect(P(pbuf_skip(c, 5, out))).toBe(P(c.next!.next)); // the empty pbuf is skipped
    expect(load<u32>(out)).toBe(0);
    expect(P(pbuf_skip(c, 14, 0))).toBe(P(c.next!.next));
    expect(P(pbuf_skip(c, 15, out))).toBe(0);
    heap.free(out);
    pbuf_free(c);
    leak_check();
  });

  it("handles a 100 KiB POOL chain: tot_len, byte-exact copy in and out, coalesce", () => {
    leak_start();
    const N: u32 = 100 * 1024;
    const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, N, pbuf_type.PBUF_POOL)!;
    expect(p.tot_len).toBe(N);
    expect(pbuf_clen(p)).toBe((N + 80 + POOL_BUF - 1) / POOL_BUF);
    let sum: u32 = 0;
    let q: pbuf | null = p;
    while (q) { sum += q.len; q = q.next; }
    expect(sum).toBe(N);
    const src = tbuf(N, 3);
    expect(pbuf_take(p, src, N)).toBe(ERR_OK);
    const back = tbuf(N);
    memory.fill(back, 0, N);
    expect(pbuf_copy_partial(p, back, N, 0)).toBe(N);
    expect(bytes_equal(src, back, N)).toBe(true);
    expect(pbuf_get_at(p, 70000)).toBe(load<u8>(src + 70000));
    expect(pbuf_memcmp(p, 65530, src + 65530, 100)).toBe(0);
    // byte after 64 KiB found by memfind
    expect(pbuf_memfind(p, src + 66000, 16, 65000)).toBe(66000);
    const r = pbuf_coalesce(p, pbuf_layer.PBUF_RAW)!;
    expect(P(r.next)).toBe(0);
    expect(r.len).toBe(N);
    expect(r.type_internal).toBe(<u8>pbuf_type.PBUF_RAM);
    expect(bytes_equal(src, r.payload, N)).toBe(true);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(leak_marked_pool(MEMP.PBUF_POOL)); // p was freed
    pbuf_free(r);
    heap.free(src);
    heap.free(back);
    leak_check();
  });

  it("coalesces and clones odd-sized chains", () => {
    leak_start();
    const c = ram_chain([1, 13, 0, 255, 7]); // 276 bytes
    const k = pbuf_clone(pbuf_layer.PBUF_LINK, pbuf_type.PBUF_POOL, c)!;
    expect(k.tot_len).toBe(276);
    expect(pbuf_clen(k)).toBe(1);
    expect(pbuf_add_header(k, 18)).toBe(0); // the layer's room is there
    expect(pbuf_remove_header(k, 18)).toBe(0);
    for (let i: u32 = 0; i < 276; i++) expect(pbuf_get_at(k, i)).toBe(<u8>i);
    expect(c.ref).toBe(1);
    const odd = ram_chain([1000, 1000, 999]);
    const big = pbuf_clone(pbuf_layer.PBUF_RAW, pbuf_type.PBUF_POOL, odd)!;
    expect(pbuf_clen(big)).toBe(2);
    expect(big.len).toBe(POOL_BUF);
    expect(pbuf_memcmp(big, 0, odd.payload, 1000)).toBe(0);
    expect(pbuf_get_at(big, 2998)).toBe(pbuf_get_at(odd, 2998));
    pbuf_free(odd);
    pbuf_free(big);
    expect(P(pbuf_clone(pbuf_layer.PBUF_RAW, pbuf_type.PBUF_RAM, null))).toBe(0);
    const m = pbuf_coalesce(c, pbuf_layer.PBUF_IP)!;
    expect(P(m)).not.toBe(P(c));
    expect(m.len).toBe(276);
    expect(pbuf_add_header(m, 58)).toBe(0);
    expect(pbuf_get_at(m, 58 + 275)).toBe(<u8>275);
    // a single pbuf comes back unchanged
    expect(P(pbuf_coalesce(m, pbuf_layer.PBUF_IP))).toBe(P(m));
    expect(P(pbuf_coalesce(null, pbuf_layer.PBUF_IP))).toBe(0);
    pbuf_free(m);
    pbuf_free(k);
    leak_check();
  });

  it("coalesce keeps p when the heap cannot hold the copy", () => {
    leak_start();
    const c = pbuf_alloc(pbuf_layer.PBUF_RAW, 600 * 1024, pbuf_type.PBUF_ROM)!; // tot_len only
    const d = pbuf_alloc(pbuf_layer.PBUF_RAW, 0, pbuf_type.PBUF_ROM)!;
    pbuf_cat(c, d);
    expect(P(pbuf_coalesce(c, pbuf_layer.PBUF_RAW))).toBe(P(c)); // 600 KiB > 512 KiB heap
    expect(P(pbuf_clone(pbuf_layer.PBUF_RAW, pbuf_type.PBUF_RAM, c))).toBe(0);
    expect(pbuf_free(c)).toBe(2);
    leak_check();
  });

  it("compares and searches across pbuf boundaries (memcmp, memfind, strstr)", () => {
    leak_start();
    const c = ram_chain([3, 4, 0, 5]); // bytes 0..11
    const s = tbuf(16);
    for (let i: u32 = 0; i < 16; i++) store<u8>(s + i, <u8>i);
    expect(pbuf_memcmp(c, 0, s, 12)).toBe(0);
    expect(pbuf_memcmp(c, 2, s + 2, 8)).toBe(0);
    store<u8>(s + 8, 0xFF);
    expect(pbuf_memcmp(c, 2, s + 2, 8)).toBe(7); // index 6 differs → 7
    expect(pbuf_memcmp(c, 0, s, 13)).toBe(PBUF_MEMCMP_OUT_OF_RANGE);
    expect(pbuf_memcmp(c, u32.MAX_VALUE, s, 2)).toBe(PBUF_MEMCMP_OUT_OF_RANGE);
    expect(pbuf_memcmp(c, 12, s, 0)).toBe(0);
    expect(pbuf_memcmp(null, 0, s, 0)).toBe(PBUF_MEMCMP_OUT_OF_RANGE);
    store<u8>(s + 8, 8);
    expect(pbuf_memfind(c, s + 2, 3, 0)).toBe(2); // 2,3,4 spans pbufs 1 and 2
    expect(pbuf_memfind(c, s + 6, 2, 0)).toBe(6); // across the empty pbuf
    expect(pbuf_memfind(c, s + 2, 3, 3)).toBe(PBUF_NOT_FOUND);
    expect(pbuf_memfind(c, s + 9, 3, 9)).toBe(9); // the very end
    expect(pbuf_memfind(c, s, 13, 0)).toBe(PBUF_NOT_FOUND);
    const pat = memory.data<u8>([5, 6, 7, 0]);
    expect(pbuf_strstr(c, pat)).toBe(5);
    const nope = memory.data<u8>([7, 5, 0]);
    expect(pbuf_strstr(c, nope)).toBe(PBUF_NOT_FOUND);
    expect(pbuf_strstr(c, memory.data<u8>([0]))).toBe(PBUF_NOT_FOUND);
    expect(pbuf_strstr(c, 0)).toBe(PBUF_NOT_FOUND);
    heap.free(s);
    pbuf_free(c);
    leak_check();
  });

  it("calls a custom pbuf's free hook exactly once and returns its MEMP.PBUF header", () => {
    leak_start();
    const idx = pbuf_custom_fn_index(count_hook);
    expect(idx).not.toBe(0);
    const data = tbuf(100);
    hook_calls = 0;
    const p = pbuf_alloc_custom(data, 100, idx, 0xC0FFEE)!;
    expect(p.flags & PBUF_FLAG_IS_CUSTOM).toBe(PBUF_FLAG_IS_CUSTOM);
    expect(memp_used(MEMP.PBUF)).toBe(leak_marked_pool(MEMP.PBUF) + 1);
    expect(pbuf_get_at(p, 99)).toBe(load<u8>(data + 99));
    expect(pbuf_add_header(p, 1)).toBe(1);
    // in a chain, held twice
    const h = pbuf_alloc(pbuf_layer.PBUF_RAW, 10, pbuf_type.PBUF_RAM)!;
    pbuf_chain(h, p);
    expect(pbuf_free(h)).toBe(1);
    expect(hook_calls).toBe(0);
    expect(pbuf_free(p)).toBe(1);
    expect(hook_calls).toBe(1);
    expect(hook_last).toBe(P(p));
    expect(hook_arg).toBe(0xC0FFEE);
    expect(memp_used(MEMP.PBUF)).toBe(leak_marked_pool(MEMP.PBUF));

    // the driver's own header (pbuf_alloced_custom): hook called, header left to the driver
    const own = heap.alloc(PBUF_CUSTOM_SIZE);
    const pc = changetype<pbuf_custom>(own);
    pc.custom_free = idx;
    pc.custom_arg = 7;
    const q = pbuf_alloced_custom(pbuf_layer.PBUF_LINK, 50, pbuf_type.PBUF_REF, pc, data, 100)!;
    expect(P(q)).toBe(own);
    expect(q.payload).toBe(data + 24); // 18 aligned up
    expect(q.len).toBe(50);
    expect(P(pbuf_alloced_custom(pbuf_layer.PBUF_LINK, 77, pbuf_type.PBUF_REF, pc, data, 100))).toBe(0);
    expect(P(pbuf_alloced_custom(pbuf_layer.PBUF_LINK, 1, pbuf_type.PBUF_REF, null, data, 100))).toBe(0);
    expect(pbuf_free(q)).toBe(1);
    expect(hook_calls).toBe(2);
    expect(hook_arg).toBe(7);
    // without a hook nothing is called
    const r = pbuf_alloc_custom(data, 1, 0, 0)!;
    expect(pbuf_free(r)).toBe(1);
    expect(hook_calls).toBe(2);
    heap.free(own);
    heap.free(data);
    leak_check();
  });

  it("returns null on pool exhaustion without leaking the partial chain", () => {
    leak_start();
    expect(memp_used(MEMP.PBUF_POOL)).toBe(0, "the pool must be empty for this test");
    expect(P(pbuf_alloc(pbuf_layer.PBUF_RAW, (POOL_NUM + 1) * POOL_BUF, pbuf_type.PBUF_POOL))).toBe(0);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(0);
    // exactly the whole pool works, one more byte does not
    const all = pbuf_alloc(pbuf_layer.PBUF_RAW, POOL_NUM * POOL_BUF, pbuf_type.PBUF_POOL)!;
    expect(memp_used(MEMP.PBUF_POOL)).toBe(POOL_NUM);
    expect(P(pbuf_alloc(pbuf_layer.PBUF_RAW, 0, pbuf_type.PBUF_POOL))).toBe(0);
    expect(pbuf_free(all)).toBe(<u8>POOL_NUM);
    // MEMP.PBUF headers
    const hs = new StaticArray<usize>(HDR_NUM);
    for (let i: u32 = 0; i < HDR_NUM; i++) hs[i] = P(pbuf_alloc(pbuf_layer.PBUF_RAW, 1, pbuf_type.PBUF_ROM));
    expect(P(pbuf_alloc_reference(1, 1, pbuf_type.PBUF_REF))).toBe(0);
    expect(P(pbuf_alloc_custom(1, 1, 0, 0))).toBe(0);
    for (let i: u32 = 0; i < HDR_NUM; i++) pbuf_free(changetype<pbuf>(hs[i]));
    // the heap
    expect(P(pbuf_alloc(pbuf_layer.PBUF_RAW, 600 * 1024, pbuf_type.PBUF_RAM))).toBe(0);
    expect(P(pbuf_alloc(pbuf_layer.PBUF_RAW, u32.MAX_VALUE, pbuf_type.PBUF_RAM))).toBe(0);
    expect(P(pbuf_alloc(pbuf_layer.PBUF_RAW, 1, <pbuf_type>0x33))).toBe(0);
    // a bogus layer larger than a pool buffer (or wrapping when aligned)
    expect(P(pbuf_alloc(<pbuf_layer>2000, 1, pbuf_type.PBUF_POOL))).toBe(0);
    expect(P(pbuf_alloc(<pbuf_layer>-1, 0, pbuf_type.PBUF_POOL))).toBe(0);
    expect(P(pbuf_alloc(<pbuf_layer>-1, 0, pbuf_type.PBUF_RAM))).toBe(0);
    const cust = heap.alloc(PBUF_CUSTOM_SIZE);
    expect(P(pbuf_alloced_custom(<pbuf_layer>-1, 0, pbuf_type.PBUF_REF, changetype<pbuf_custom>(cust), 64, 100))).toBe(0);
    heap.free(cust);
    leak_check();
  });

  it("copies volatile (REF) payloads before queueing (unref_volatile)", () => {
    leak_start();
    const data = tbuf(40);
    const h = pbuf_alloc(pbuf_layer.PBUF_RAW, 8, pbuf_type.PBUF_RAM)!;
    memory.fill(h.payload, 0x11, 8);
    const r = pbuf_alloc_reference(data, 40, pbuf_type.PBUF_REF)!;
    pbuf_cat(h, r);
    expect(pbuf_needs_copy(h)).toBe(true);
    const q = pbuf_unref_volatile(h)!;
    expect(P(q)).not.toBe(P(h));
    expect(pbuf_needs_copy(q)).toBe(false);
    expect(q.tot_len).toBe(48);
    expect(pbuf_get_at(q, 0)).toBe(0x11);
    expect(pbuf_memcmp(q, 8, data, 40)).toBe(0);
    expect(pbuf_add_header(q, 18)).toBe(0); // PBUF_LINK room by default
    store<u8>(data, 0xEE);
    expect(pbuf_get_at(q, 18 + 8)).not.toBe(0xEE); // really a copy
    pbuf_free(q); // h was freed by unref_volatile
    const o = pbuf_alloc_reference(data, 40, pbuf_type.PBUF_ROM)!;
    expect(P(pbuf_unref_volatile(o))).toBe(P(o));
    pbuf_free(o);
    expect(P(pbuf_unref_volatile(null))).toBe(0);
    heap.free(data);
    leak_check();
  });

  it("reports receive-pool pressure and keeps received data out of the pool under it (compact, keep)", () => {
    leak_start();
    // POOL_NUM = 80: HIGH from 40 in use (PBUF_POOL_COMPACT_PCT 50), CRITICAL
    // with 9 or fewer free (PBUF_POOL_RESERVE_PCT 12).
    expect(pbuf_pool_pressure()).toBe(pool_pressure.NONE);
    const held = new StaticArray<usize>(80);
    let n = 0;
    while (memp_used(MEMP.PBUF_POOL) < 38) held[n++] = P(pbuf_alloc(pbuf_layer.PBUF_RAW, 100, pbuf_type.PBUF_POOL));
    expect(pbuf_pool_pressure()).toBe(pool_pressure.NONE);
    // Without pressure pbuf_keep keeps the pool buffer itself.
    const data = tbuf(300, 5);
    const a = pbuf_alloc(pbuf_layer.PBUF_RAW, 300, pbuf_type.PBUF_POOL)!;
    pbuf_take(a, data, 300);
    expect(pbuf_holds_pool(a)).toBe(true);
    expect(P(pbuf_keep(a))).toBe(P(a)); // a is the 39th
    held[n++] = P(pbuf_alloc(pbuf_layer.PBUF_RAW, 100, pbuf_type.PBUF_POOL));
    expect(pbuf_pool_pressure()).toBe(pool_pressure.HIGH);
    // Under pressure it keeps a tight heap copy: same bytes, flags and netif, pool buffer freed.
    a.flags = 0x20;
    a.if_idx = 3;
    const k = pbuf_keep(a)!;
    expect(P(k)).not.toBe(P(a));
    expect(pbuf_holds_pool(k)).toBe(false);
    expect(k.tot_len).toBe(300);
    expect(k.next == null).toBe(true);
    expect(k.flags).toBe(0x20);
    expect(k.if_idx).toBe(3);
    expect(pbuf_memcmp(k, 0, data, 300)).toBe(0);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(39);
    pbuf_free(k);
    // A chain with one pool pbuf in it is compacted whole.
    const r = pbuf_alloc(pbuf_layer.PBUF_RAW, 10, pbuf_type.PBUF_RAM)!;
    memory.fill(r.payload, 0x77, 10);
    expect(pbuf_holds_pool(r)).toBe(false);
    while (memp_used(MEMP.PBUF_POOL) < 60) held[n++] = P(pbuf_alloc(pbuf_layer.PBUF_RAW, 100, pbuf_type.PBUF_POOL));
    const t = pbuf_alloc(pbuf_layer.PBUF_RAW, 20, pbuf_type.PBUF_POOL)!;
    memory.fill(t.payload, 0x88, 20);
    pbuf_cat(r, t);
    expect(pbuf_holds_pool(r)).toBe(true);
    const c = pbuf_compact(r)!;
    expect(c.tot_len).toBe(30);
    expect(pbuf_get_at(c, 9)).toBe(0x77);
    expect(pbuf_get_at(c, 10)).toBe(0x88);
    pbuf_free(c);
    // CRITICAL: nearly empty.
    while (memp_used(MEMP.PBUF_POOL) < 71) held[n++] = P(pbuf_alloc(pbuf_layer.PBUF_RAW, 100, pbuf_type.PBUF_POOL));
    expect(pbuf_pool_pressure()).toBe(pool_pressure.CRITICAL);
    // With the heap full too, a CRITICAL pool drops the data (and frees it) …
    const hog = pbuf_alloc(pbuf_layer.PBUF_RAW, 100, pbuf_type.PBUF_POOL)!;
    const big: usize[] = [];
    for (;;) { const m = pbuf_alloc(pbuf_layer.PBUF_RAW, 4096, pbuf_type.PBUF_RAM); if (!m) break; big.push(P(m)); }
    for (;;) { const m = pbuf_alloc(pbuf_layer.PBUF_RAW, 64, pbuf_type.PBUF_RAM); if (!m) break; big.push(P(m)); }
    expect(P(pbuf_compact(hog))).toBe(0); // no room: hog untouched
    expect(P(pbuf_keep(hog))).toBe(0);
    expect(memp_used(MEMP.PBUF_POOL)).toBe(71);
    // … while under HIGH pressure a failed copy keeps the pool buffer.
    for (let i = 0; i < 20; i++) pbuf_free(changetype<pbuf>(held[--n]));
    expect(pbuf_pool_pressure()).toBe(pool_pressure.HIGH);
    const h2 = pbuf_alloc(pbuf_layer.PBUF_RAW, 100, pbuf_type.PBUF_POOL)!;
    expect(P(pbuf_keep(h2))).toBe(P(h2));
    pbuf_free(h2);
    for (let i = 0; i < big.length; i++) pbuf_free(changetype<pbuf>(big[i]));
    while (n > 0) pbuf_free(changetype<pbuf>(held[--n]));
    heap.free(data);
    expect(pbuf_pool_pressure()).toBe(pool_pressure.NONE);
    leak_check();
  });
});
