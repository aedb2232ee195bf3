import { mem_init, mem_malloc, mem_free, mem_trim, mem_calloc, mem_used, mem_illegal, mem_err, mem_size, mem_largest_free, mem_block_size } from "../../assembly/core/mem";

describe("mem", () => {
  beforeAll(() => { mem_init(64 * 1024); });

  it("mallocs, trims and frees back to zero (mem_one)", () => {
    expect(mem_used()).toBe(0);
    const p = mem_malloc(1024);
    expect(p).toBeGreaterThan(0);
    expect(p & 7).toBe(0);
    expect(mem_used()).toBeGreaterThanOrEqual(1024);
    const q = mem_trim(p, 100);
    expect(q).toBe(p);
    expect(mem_used()).toBeLessThan(200);
    mem_free(p);
    expect(mem_used()).toBe(0);
  });

  it("frees 16 random allocations in many orders back to empty (mem_random)", () => {
    const ptrs = new StaticArray<usize>(16);
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 16; i++) {
        ptrs[i] = mem_malloc(<u32>(1 + ((i * 7 + round * 13) % 31)));
        expect(ptrs[i]).toBeGreaterThan(0);
      }
      // free in a permutation that depends on the round
      for (let k = 0; k < 16; k++) {
        const i = (k * 5 + round) & 15;
        mem_free(ptrs[i]);
      }
      expect(mem_used()).toBe(0);
    }
    expect(mem_largest_free()).toBeGreaterThanOrEqual(mem_size() - 8);
  });

  it("counts invalid frees without corrupting (mem_invalid_free)", () => {
    const before = mem_illegal();
    const p = mem_malloc(64);
    mem_free(p - 4096 * 64); // below the heap
    mem_free(p + 1024 * 1024); // above
    mem_free(p + 3); // misaligned
    expect(mem_illegal()).toBe(before + 3);
    mem_free(p);
    expect(mem_used()).toBe(0);
  });

  it("detects double free of first, middle and last blocks (mem_double_free)", () => {
    for (let which = 0; which < 3; which++) {
      const a = mem_malloc(100), b = mem_malloc(100), c = mem_malloc(100);
      // For the last block the freed area merges with the free tail, where a
      // new allocation would land at the same address (a legal reuse), so the
      // larger block is taken before the frees.
      const d0 = which == 2 ? mem_malloc(400) : 0;
      const victim = which == 0 ? a : which == 1 ? b : c;
      const before = mem_illegal();
      mem_free(victim);
      mem_free(victim);
      expect(mem_illegal()).toBe(before + 1);
      // reallocate a larger block elsewhere, then free the stale pointer again
      const d = which == 2 ? d0 : mem_malloc(400);
      mem_free(victim);
      expect(mem_illegal()).toBe(before + 2);
      if (victim != a) mem_free(a);
      if (victim != b) mem_free(b);
      if (victim != c) mem_free(c);
      mem_free(d);
      expect(mem_used()).toBe(0);
    }
  });

  it("coalesces neighbours so a fragmented heap becomes one block again", () => {
    const n = 32;
    const ptrs = new StaticArray<usize>(n);
    for (let i = 0; i < n; i++) ptrs[i] = mem_malloc(1000);
    for (let i = 0; i < n; i += 2) mem_free(ptrs[i]);
    // holes of ~1 KiB: a 3000-byte block must come from the tail
    const big = mem_malloc(3000);
    expect(big).toBeGreaterThan(ptrs[n - 1]);
    for (let i = 1; i < n; i += 2) mem_free(ptrs[i]);
    mem_free(big);
    expect(mem_used()).toBe(0);
    expect(mem_largest_free()).toBeGreaterThanOrEqual(mem_size() - 8);
  });

  it("returns 0 and counts err when exhausted", () => {
    const e = mem_err();
    expect(mem_malloc(mem_size() + 1)).toBe(0);
    const p = mem_malloc(mem_size() - 8);
    expect(p).toBeGreaterThan(0);
    expect(mem_malloc(8)).toBe(0);
    expect(mem_err()).toBe(e + 2);
    mem_free(p);
    expect(mem_used()).toBe(0);
  });

  it("calloc zeroes and checks overflow", () => {
    const p = mem_malloc(256);
    memory.fill(p, 0xAB, 256);
    mem_free(p);
    const q = mem_calloc(16, 16);
    for (let i: usize = 0; i < 256; i++) expect(load<u8>(q + i)).toBe(0);
    expect(mem_block_size(q)).toBeGreaterThanOrEqual(256);
    mem_free(q);
    expect(mem_calloc(0x10000, 0x10000)).toBe(0);
    expect(mem_used()).toBe(0);
  });
});
