// The stub-runtime builds themselves (release and mvp): instantiation, the
// abort hook, the layout table, stats, pools, and the timer contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Stack } from "../../bindings/stack.js";
import { loadCore, CoreAbortError } from "../../bindings/core.js";
import { MEMP_NAMES, PROTO_NAMES, AsipError, errName, ERR } from "../../bindings/abi.js";
import { VARIANTS, baseline, assertNoLeaks } from "../helpers/stacks.js";

for (const variant of VARIANTS) {
  test(`${variant}: a stack initialises with empty pools and readable stats`, async () => {
    const s = await Stack.create({ variant, manualClock: true });
    const st = s.stats();
    assert.deepEqual(Object.keys(st.proto), [...PROTO_NAMES]);
    assert.deepEqual(Object.keys(st.pools), [...MEMP_NAMES]);
    for (const name of MEMP_NAMES) {
      assert.equal(st.pools[name].used, 0, `${name} used`);
      assert.ok(st.pools[name].avail > 0, `${name} avail`);
    }
    assert.equal(st.mem.used, 0);
    assert.ok(st.mem.avail >= 1 << 20);
    await s.close();
  });

  test(`${variant}: pool sizes and heap size are configurable at run time`, async () => {
    const s = await Stack.create({ variant, manualClock: true, heapSize: 256 * 1024, pools: { PBUF_POOL: 16, TCP_PCB: 4 } });
    const st = s.stats();
    assert.equal(st.pools.PBUF_POOL.avail, 16);
    assert.equal(st.pools.TCP_PCB.avail, 4);
    assert.equal(st.mem.avail, 256 * 1024);
    await s.close();
  });

  test(`${variant}: the abort hook becomes an Error with message and file:line (a trap in mvp)`, async () => {
    const core = await loadCore(variant);
    if (variant === "mvp") {
      assert.throws(() => core.exports.selftest_abort(), WebAssembly.RuntimeError);
    } else {
      assert.throws(() => core.exports.selftest_abort(), (e: unknown) => {
        assert.ok(e instanceof CoreAbortError);
        assert.match(e.message, /self-test abort/);
        assert.match(e.file, /assembly\/index\.ts/);
        assert.ok(e.line > 0);
        return true;
      });
    }
  });

  test(`${variant}: 20,000 frames through rx_alloc/input don't grow memory`, async () => {
    const s = await Stack.create({ variant, manualClock: true });
    const base = baseline(s);
    const before = s.core.memory.buffer.byteLength;
    const iface = s.addInterface({ send() {}, onReceive() {}, close() {} }, { ip: "192.0.2.2/24" });
    const frame = new Uint8Array(1500);
    frame.fill(0xab);
    for (let i = 0; i < 20000; i++) s.input(iface, frame);
    s.drainNow();
    assert.equal(s.core.memory.buffer.byteLength, before);
    assert.ok(s.stats().proto.link.drop >= 20000, "foreign-MAC frames are dropped and counted");
    await s.removeInterface(iface);
    assertNoLeaks(s, base);
    await s.close();
  });
}

test("err_t names follow lwIP", () => {
  assert.equal(errName(0), "ERR_OK");
  assert.equal(errName(-8), "ERR_USE");
  assert.equal(ERR.ERR_ARG, -16);
  const e = new AsipError(-13, "tcp_write");
  assert.equal(e.code, "ERR_ABRT");
  assert.match(e.message, /tcp_write: ERR_ABRT/);
});

test("the release core takes memory from the runtime only at init or once on first use", async () => {
  // Under the stub runtime nothing is ever freed: an allocation on a packet
  // path (an array literal, `new`, a string concat) grows memory forever.
  const { readFile } = await import("node:fs/promises");
  const wat = await readFile(new URL("../../../build/asip.wat", import.meta.url), "utf8");
  const callers = new Set<string>();
  let fn = "";
  for (const line of wat.split("\n")) {
    const m = /^ \(func (\S+)/.exec(line);
    if (m) fn = m[1];
    else if (/call \$~lib\/rt\/(stub\/__alloc|stub\/__new|__new)/.test(line)) callers.add(fn);
  }
  // Init (heap, pools, rings), the host's bench scratch, the handle tables of
  // host pcbs (assembly/abi/handles.ts) and the TCP write buffer, allocated
  // once each on first use.
  const allowed = /asip_init|mem_init|memp_init|rings_init|bench_alloc|assembly\/abi\/handles\/(table_init|handle_new)|assembly\/abi\/tcp\/(slot_new|tcp_tx_buffer|service_tcp)/;
  const unexpected = [...callers].filter((f) => !allowed.test(f));
  assert.deepEqual(unexpected, [], "functions that allocate from the runtime");
});

test("the package entry loads on its own and registers every host API", async () => {
  const asip = await import("../../bindings/index.js");
  const s = await asip.Stack.create({ manualClock: true });
  for (const api of ["raw", "netconn", "sockets", "dgram", "streams", "net"] as const) assert.ok(s[api], `stack.${api}`);
  await s.close();
});
