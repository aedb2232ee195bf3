// tcp: retransmission limits, fast retransmit across the 2^32 wrap, zero-window
// probes and persist splitting, out-of-order queue limits and double FINs,
// refused data, window update after recved, the bad-segment corpus.
import { leak_mark, leak_check } from "./harness/leak";
import { ERR_OK, ERR_RST, ERR_ABRT, ERR_MEM } from "../../assembly/core/err";
import { Proto, Ctr, stats_get } from "../../assembly/core/stats";
import { netif_set_link_down, netif_set_link_up } from "../../assembly/netif/netif";
import {
  tcp_pcb, tcp_new, tcp_connect, tcp_write, tcp_output, tcp_abort, tcp_state, tcp_active_head,
  tcp_nagle_disable, tcp_timer_is_armed, TCP_WRITE_FLAG_COPY, TCP_WND_MAX, TCP_OOSEQ_MAX_PBUFS,
} from "../../assembly/tcp/tcp";
import { tcp_isn_set_secret } from "../../assembly/tcp/tcp_isn";
import {
  harness_init, nif, A, PEER_IP, seg_in, out, expect_seg, expect_nothing, expect_pat, fill_pat, tx_clear,
  o_seq, o_ack, o_sport, o_len, o_wnd, o_nsack, o_sack, opt_mss, opt_sack_perm, opt_ws, opt_sack, advance,
  clock_sync, cb_reset, cb_err, cb_errs, cb_fin, cb_recv_bytes, cb_sent, rx, pat, on_connected, install,
  set_recv_mode, set_bad_doff, set_bad_csum, set_urgp, malformed_reset, opt_byte, SYN, ACK, FIN, RST, PSH,
} from "./harness/tcp";

let iss: u32 = 0;
let lp: u16 = 0;
const PSEQ: u32 = 5000;

/** Active open; the peer announces `wnd`, MSS `mss`, and optionally SACK. */
function connect(wnd: u16 = 65535, mss: u16 = 1000, sack: bool = false): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  tcp_connect(pcb, A(PEER_IP), 7, on_connected);
  expect(out()).toBe(true);
  iss = o_seq; lp = o_sport;
  opt_mss(mss);
  if (sack) opt_sack_perm();
  seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, wnd);
  expect_seg(ACK, iss + 1, PSEQ + 1);
  return pcb;
}
function ack(a: u32, wnd: u16 = 65535): void { seg_in(7, lp, PSEQ + 1, a, ACK, wnd); }
function drain(): u32 { let n: u32 = 0; while (out()) n++; return n; }

describe("tcp retransmission and windows", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); leak_mark(); });

  test("rto_timeout: 12 retransmissions then ERR_ABRT, RTO backing off", () => {
    const pcb = connect();
    tcp_write(pcb, fill_pat(0, 100), 100, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect_seg(ACK | PSH, iss + 1, PSEQ + 1, 100);
    let n: u32 = 0;
    for (let i = 0; i < 1000 && cb_errs == 0; i++) { advance(1000, 50); n += drain(); }
    expect(n).toBe(12);
    expect(cb_err).toBe(ERR_ABRT);
    expect(tcp_active_head()).toBe(0);
    expect(tcp_timer_is_armed()).toBe(false);
    leak_check();
  });

  test("rto_timeout_link_down: nothing goes out but the abort still comes", () => {
    const pcb = connect();
    tcp_write(pcb, fill_pat(0, 100), 100, TCP_WRITE_FLAG_COPY);
    netif_set_link_down(nif);
    tcp_output(pcb);
    for (let i = 0; i < 1000 && cb_errs == 0; i++) advance(1000, 100);
    netif_set_link_up(nif);
    expect(cb_err).toBe(ERR_ABRT);
    tx_clear();
    leak_check();
  });

  test("rto_timeout_syn_sent: 6 SYN retransmissions then ERR_ABRT", () => {
    const pcb = tcp_new()!;
    install(pcb);
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    expect(out()).toBe(true);
    let n: u32 = 0;
    for (let i = 0; i < 400 && cb_errs == 0; i++) { advance(1000, 100); n += drain(); }
    expect(n).toBe(6);
    expect(cb_err).toBe(ERR_ABRT);
    leak_check();
  });

  test("fast retransmit and NewReno recovery across the 2^32 wrap", () => {
    tcp_isn_set_secret(1, 2);
    // find an ISS close to the wrap by retrying
    let pcb = connect(65535, 1000);
    for (let tries = 0; tries < 1; tries++) {}
    // move our sequence space next to the wrap: rewrite the (fresh) pcb's numbers
    const base: u32 = 0xfffff000;
    pcb.iss = base - 1; pcb.snd_una = base; pcb.snd_nxt = base; pcb.snd_max = base; pcb.snd_lbb = base;
    pcb.snd_wl2 = base; pcb.recover = base;
    tcp_nagle_disable(pcb);
    tcp_write(pcb, fill_pat(0, 8000), 8000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    let n = drain();
    expect(n).toBe(8);
    // segment 1 lost: three dupacks
    ack(base + 1000); ack(base + 1000); ack(base + 1000); ack(base + 1000);
    expect_seg(ACK, base + 1000, PSEQ + 1, 1000);
    expect_pat(1000);
    drain();
    // full ACK ends recovery, across the wrap
    ack(base + 8000);
    expect(pcb.snd_una).toBe(base + 8000);
    expect(pcb.flags & 4).toBe(0);
    expect(cb_sent).toBe(8000);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SACK loss recovery (RFC 6675): the hole is resent, SACKed data is not", () => {
    const pcb = connect(65535, 1000, true);
    tcp_nagle_disable(pcb);
    tcp_write(pcb, fill_pat(0, 8000), 8000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(8);
    const b = new StaticArray<u32>(2);
    b[0] = iss + 1 + 1000;
    for (let k: u32 = 2; k <= 4; k++) {
      b[1] = iss + 1 + 1000 * k;
      opt_sack(1, b);
      ack(iss + 1);
    }
    // the hole [0, 1000) goes out again, and only it
    expect(out()).toBe(true);
    expect(o_seq).toBe(iss + 1);
    expect(o_len).toBe(1000);
    expect_pat(0);
    let again = false;
    while (out()) if (o_seq == iss + 1001 || o_seq == iss + 2001) again = true;
    expect(again).toBe(false);
    ack(iss + 8001);
    expect(pcb.flags & 4).toBe(0);
    expect(cb_sent).toBe(8000);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("zero-window probes back off; a zero-window reply resets the count; then the window opens", () => {
    const pcb = connect(65535, 1000);
    tcp_write(pcb, fill_pat(0, 500), 500, TCP_WRITE_FLAG_COPY);
    ack(iss + 1, 0); // window closes before anything is sent
    tcp_output(pcb);
    expect_nothing();
    advance(1000, 50);
    expect(out()).toBe(true);
    expect(o_len).toBe(0);
    expect(o_seq).toBe(iss); // below snd_una: the peer must answer with its window
    ack(iss + 1, 0);
    expect(pcb.persist_backoff).toBeLessThanOrEqual(1);
    advance(5000, 50);
    drain();
    ack(iss + 1, 2000);
    expect_seg(ACK | PSH, iss + 1, PSEQ + 1, 500);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("zwp_timeout: unanswered zero-window probes abort", () => {
    const pcb = connect(65535, 1000);
    tcp_write(pcb, fill_pat(0, 500), 500, TCP_WRITE_FLAG_COPY);
    ack(iss + 1, 0);
    tcp_output(pcb);
    for (let i = 0; i < 1000 && cb_errs == 0; i++) { advance(1000, 100); drain(); }
    expect(cb_err).toBe(ERR_ABRT);
    leak_check();
  });

  test("persist_split: a small window gets the front of a queued segment", () => {
    const pcb = connect(65535, 1000);
    tcp_write(pcb, fill_pat(0, 750), 750, TCP_WRITE_FLAG_COPY);
    ack(iss + 1, 500);
    tcp_output(pcb);
    expect_nothing();
    advance(1000, 50);
    expect_seg(ACK, iss + 1, PSEQ + 1, 500);
    expect_pat(0);
    ack(iss + 501, 1000);
    expect_seg(ACK | PSH, iss + 501, PSEQ + 1, 250);
    expect_pat(500);
    ack(iss + 751, 1000);
    expect(cb_sent).toBe(750);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("out of order: queued, SACKed, delivered in order when the gap fills, FIN out of order", () => {
    const pcb = connect(65535, 1000, true);
    seg_in(7, lp, PSEQ + 1 + 100, iss + 1, ACK, 65535, fill_pat(100, 100), 100);
    expect_seg(ACK, iss + 1, PSEQ + 1);
    expect(o_nsack).toBe(1);
    expect(o_sack[0]).toBe(PSEQ + 101);
    expect(o_sack[1]).toBe(PSEQ + 201);
    seg_in(7, lp, PSEQ + 1 + 300, iss + 1, ACK | FIN, 65535, fill_pat(300, 50), 50);
    expect_seg(ACK, iss + 1, PSEQ + 1);
    expect(o_nsack).toBe(2);
    expect(o_sack[0]).toBe(PSEQ + 301); // most recent first
    // overlapping both neighbours
    seg_in(7, lp, PSEQ + 1 + 150, iss + 1, ACK, 65535, fill_pat(150, 160), 160);
    tx_clear();
    expect(cb_recv_bytes).toBe(0);
    seg_in(7, lp, PSEQ + 1, iss + 1, ACK, 65535, fill_pat(0, 100), 100);
    expect_seg(ACK, iss + 1, PSEQ + 1 + 351);
    expect(cb_recv_bytes).toBe(350);
    expect(cb_fin).toBe(1);
    let ok = true;
    for (let i: u32 = 0; i < 350; i++) if (load<u8>(rx + i) != pat(i)) ok = false;
    expect(ok).toBe(true);
    expect(pcb.state).toBe(<u8>tcp_state.CLOSE_WAIT);
    // a second FIN and data after it are ignored
    seg_in(7, lp, PSEQ + 1 + 350, iss + 1, ACK | FIN, 65535, fill_pat(0, 10), 10);
    expect(cb_fin).toBe(1);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("out-of-order queue stays within the window and the pbuf limit (overrun_rxwin, max_pbufs)", () => {
    const pcb = connect(65535, 1000);
    for (let i: u32 = 0; i < 200; i++) {
      seg_in(7, lp, PSEQ + 1 + 1000 + i * 600, iss + 1, ACK, 65535, fill_pat(0, 500), 500);
    }
    tx_clear();
    let bytes: u32 = 0, segs: u32 = 0;
    let last_end: u32 = 0;
    for (let s = pcb.ooseq; s != 0; s = load<usize>(s)) { bytes += load<u32>(s, 8); segs++; last_end = load<u32>(s, 12) + load<u32>(s, 8); }
    expect(segs).toBeLessThanOrEqual(TCP_OOSEQ_MAX_PBUFS);
    expect(last_end - (PSEQ + 1)).toBeLessThanOrEqual(TCP_WND_MAX);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("refused data is kept, redelivered, and the window stays closed meanwhile", () => {
    const pcb = connect(65535, 1000);
    set_recv_mode(1);
    seg_in(7, lp, PSEQ + 1, iss + 1, ACK | PSH, 65535, fill_pat(0, 300), 300);
    expect(cb_recv_bytes).toBe(0);
    expect(pcb.refused_data).not.toBe(0);
    tx_clear();
    // more data while refused: not taken
    seg_in(7, lp, PSEQ + 301, iss + 1, ACK | PSH, 65535, fill_pat(300, 100), 100);
    expect(pcb.rcv_nxt).toBe(PSEQ + 301);
    tx_clear();
    set_recv_mode(0);
    advance(200, 50);
    expect(cb_recv_bytes).toBe(300);
    expect(pcb.refused_data).toBe(0);
    tx_clear();
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("window update after recved when the window had closed", () => {
    const pcb = connect(65535, 1000);
    set_recv_mode(1);
    // fill the whole window
    let off: u32 = 0;
    while (off < TCP_WND_MAX) {
      const n = TCP_WND_MAX - off < 1000 ? TCP_WND_MAX - off : 1000;
      seg_in(7, lp, PSEQ + 1 + off, iss + 1, ACK, 65535, fill_pat(off, n), n);
      off += n;
      if (pcb.refused_data != 0) break;
    }
    tx_clear();
    const taken = pcb.rcv_nxt - (PSEQ + 1);
    set_recv_mode(0);
    advance(200, 50);
    // the application read everything: a window update goes out
    let saw = false;
    while (out()) if (o_wnd > 0 && o_ack == PSEQ + 1 + taken) saw = true;
    expect(saw).toBe(true);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("segment corpus: bad data offset, options past the header, bad checksum, MSS 0, WS 15, SACK outside the window, RST with data, large urgent pointer", () => {
    const l0 = stats_get(Proto.TCP, Ctr.LENERR), c0 = stats_get(Proto.TCP, Ctr.CHKERR), o0 = stats_get(Proto.TCP, Ctr.OPTERR);
    // data offset 4 and 15 (beyond the segment)
    set_bad_doff(4); seg_in(7, 9999, 1, 0, SYN, 100); malformed_reset();
    set_bad_doff(15); seg_in(7, 9999, 1, 0, SYN, 100, fill_pat(0, 10), 10); malformed_reset();
    expect(stats_get(Proto.TCP, Ctr.LENERR)).toBe(l0 + 2);
    set_bad_csum(true); seg_in(7, 9999, 1, 0, SYN, 100); malformed_reset();
    expect(stats_get(Proto.TCP, Ctr.CHKERR)).toBe(c0 + 1);
    // an MSS option whose length runs past the header
    opt_byte(2); opt_byte(8); opt_byte(5); opt_byte(0);
    seg_in(7, 9999, 1, 0, SYN, 100);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 1);
    expect_nothing();
    // MSS 0 and WS 15 on a real connection: fixed up and counted
    const pcb = tcp_new()!;
    install(pcb);
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    expect(out()).toBe(true);
    iss = o_seq; lp = o_sport;
    opt_mss(0); opt_ws(15); opt_sack_perm();
    seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, 1000);
    expect(out()).toBe(true);
    expect(pcb.mss).toBe(536);
    expect(pcb.snd_scale).toBe(14);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 3);
    // SACK blocks outside the window are ignored
    const b = new StaticArray<u32>(2);
    b[0] = iss + 100000; b[1] = iss + 200000;
    opt_sack(1, b);
    ack(iss + 1, 1000);
    // large urgent pointer: data delivered inline, nothing breaks
    set_urgp(0xffff);
    seg_in(7, lp, PSEQ + 1, iss + 1, ACK | 0x20, 1000, fill_pat(0, 10), 10);
    malformed_reset();
    expect(cb_recv_bytes).toBe(10);
    // RST with data at the exact sequence number: a reset like any other
    seg_in(7, lp, PSEQ + 11, iss + 1, RST, 1000, fill_pat(0, 10), 10);
    expect(cb_err).toBe(ERR_RST);
    tx_clear();
    leak_check();
  });

  test("write returns ERR_MEM when the send buffer is short; sent signals room", () => {
    const pcb = connect(65535, 1000);
    let total: u32 = 0;
    for (;;) {
      const e = tcp_write(pcb, fill_pat(0, 1000), 1000, TCP_WRITE_FLAG_COPY);
      if (e != ERR_OK) { expect(e).toBe(ERR_MEM); break; }
      total += 1000;
    }
    expect(total).toBeGreaterThan(0);
    tcp_output(pcb);
    drain();
    ack(iss + 1 + 10000);
    expect(cb_sent).toBe(10000);
    expect(tcp_write(pcb, fill_pat(0, 1000), 1000, TCP_WRITE_FLAG_COPY)).toBe(ERR_OK);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });
});
