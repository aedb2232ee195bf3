// The shared leak check for as-pect specs: every test ends with the heap and
// every pool back to the counts it started with.
import { mem_used } from "../../../assembly/core/mem";
import { MEMP_MAX, memp_used } from "../../../assembly/core/memp";

const marks = new StaticArray<u32>(MEMP_MAX + 1);

/** Records the heap's and every pool's usage. */
export function leak_mark(): void {
  marks[0] = mem_used();
  for (let i = 0; i < MEMP_MAX; i++) marks[i + 1] = memp_used(i);
}

/** Expects the heap and every pool back at the marks. */
export function leak_check(): void {
  expect(mem_used()).toBe(marks[0], "heap bytes in use");
  for (let i = 0; i < MEMP_MAX; i++) expect(memp_used(i)).toBe(marks[i + 1], "pool " + i.toString() + " elements in use");
}

/** How many elements of `pool` were in use at the mark. */
export function leak_marked_pool(pool: i32): u32 { return marks[pool + 1]; }
