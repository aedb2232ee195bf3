import { mem_init } from "../../assembly/core/mem";
import { memp_init, memp_set_num, memp_malloc, memp_free, memp_used, memp_err, memp_illegal, memp_num, memp_size, MEMP } from "../../assembly/core/memp";
import { leak_mark, leak_check } from "./harness/leak";

describe("memp", () => {
  beforeAll(() => {
    mem_init(64 * 1024);
    memp_set_num(MEMP.ARP_QUEUE, 4);
    memp_init();
  });

  it("honours counts set before init and refuses changes after", () => {
    expect(memp_num(MEMP.ARP_QUEUE)).toBe(4);
    expect(memp_set_num(MEMP.ARP_QUEUE, 8)).toBe(false);
    expect(memp_size(MEMP.PBUF) % 8).toBe(0);
  });

  it("allocates O(1) until empty, then returns 0 and counts err", () => {
    leak_mark();
    const a = new StaticArray<usize>(4);
    for (let i = 0; i < 4; i++) {
      a[i] = memp_malloc(MEMP.ARP_QUEUE);
      expect(a[i]).toBeGreaterThan(0);
      expect(a[i] & 7).toBe(0);
    }
    expect(memp_used(MEMP.ARP_QUEUE)).toBe(4);
    const err = memp_err(MEMP.ARP_QUEUE);
    expect(memp_malloc(MEMP.ARP_QUEUE)).toBe(0);
    expect(memp_err(MEMP.ARP_QUEUE)).toBe(err + 1);
    for (let i = 0; i < 4; i++) memp_free(MEMP.ARP_QUEUE, a[i]);
    leak_check();
  });

  it("detects double free and foreign pointers", () => {
    leak_mark();
    const ill = memp_illegal(MEMP.ARP_QUEUE);
    const e = memp_malloc(MEMP.ARP_QUEUE);
    memp_free(MEMP.ARP_QUEUE, e);
    memp_free(MEMP.ARP_QUEUE, e); // double
    memp_free(MEMP.ARP_QUEUE, e + 4); // inside an element
    memp_free(MEMP.ARP_QUEUE, 16); // not in the pool at all
    expect(memp_illegal(MEMP.ARP_QUEUE)).toBe(ill + 3);
    // the pool still works and holds all 4
    const b = new StaticArray<usize>(4);
    for (let i = 0; i < 4; i++) { b[i] = memp_malloc(MEMP.ARP_QUEUE); expect(b[i]).toBeGreaterThan(0); }
    for (let i = 0; i < 4; i++) memp_free(MEMP.ARP_QUEUE, b[i]);
    leak_check();
  });
});
