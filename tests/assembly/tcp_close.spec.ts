// tcp: closing — the double-FIN loss/order patterns (lwIP test_tcp_oos
// double_FIN_0..15), FIN out of order / in order over overlapping and
// duplicate out-of-order segments (FIN_OOSEQ / FIN_INSEQ), half-close with
// tcp_shutdown, active close in LISTEN / SYN_SENT.
import { leak_mark, leak_check } from "./harness/leak";
import { ERR_OK, ERR_ABRT, ERR_CONN, ERR_CLSD } from "../../assembly/core/err";
import {
  tcp_pcb, tcp_new, tcp_bind, tcp_listen, tcp_connect, tcp_write, tcp_output, tcp_close, tcp_abort,
  tcp_shutdown, tcp_state, tcp_active_head, tcp_tw_head, tcp_listen_head, tcp_bound_head, tcp_timer_is_armed,
  TCP_WRITE_FLAG_COPY,
} from "../../assembly/tcp/tcp";
import { tcp_seg } from "../../assembly/tcp/tcp_out";
import {
  harness_init, A, PEER_IP, seg_in, out, expect_seg, expect_nothing, expect_pat, fill_pat, tx_clear, o_seq,
  o_ack, o_flags, o_sport, o_len, opt_mss, advance, clock_sync, cb_reset, cb_connected, cb_err, cb_errs,
  cb_fin, cb_recv_bytes, cb_sent, rx, pat, on_connected, install, SYN, ACK, FIN, RST, PSH,
} from "./harness/tcp";

let iss: u32 = 0;
let lp: u16 = 0;
const PSEQ: u32 = 5000;
const D: u32 = PSEQ + 1; // the peer's first data byte

/** Active open to the peer (ISS 5000, MSS 1000); ESTABLISHED. */
function connect(): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  expect(tcp_connect(pcb, A(PEER_IP), 7, on_connected)).toBe(ERR_OK);
  expect(out()).toBe(true);
  iss = o_seq; lp = o_sport;
  opt_mss(1000);
  seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, 65535);
  expect_seg(ACK, iss + 1, PSEQ + 1);
  expect(cb_connected).toBe(1);
  return pcb;
}

/** A segment from the peer carrying stream bytes [off, off+len) (pattern) and maybe FIN. */
function data_in(off: u32, len: u32, fl: u8 = 0): void {
  seg_in(7, lp, D + off, iss + 1, ACK | fl, 65535, len > 0 ? fill_pat(off, len) : 0, len);
}

/** The first n bytes received are the pattern. */
function rx_ok(n: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (load<u8>(rx + i) != pat(i)) return false;
  return true;
}

/** Segments and bytes on the out-of-order queue; checks it is sorted and disjoint. */
let oo_segs: u32 = 0;
let oo_bytes: u32 = 0;
function ooseq_scan(pcb: tcp_pcb): void {
  oo_segs = 0; oo_bytes = 0;
  let end: u32 = pcb.rcv_nxt;
  for (let s = pcb.ooseq; s != 0; s = changetype<tcp_seg>(s).next) {
    const g = changetype<tcp_seg>(s);
    expect(<i32>(g.seqno - end)).toBeGreaterThanOrEqual(0, "ooseq sorted, disjoint, beyond rcv_nxt");
    end = g.seqno + g.len;
    oo_segs++;
    oo_bytes += g.len;
  }
}

/** Closes from CLOSE_WAIT: our FIN, the peer's ACK frees the pcb. */
function finish_close_wait(pcb: tcp_pcb, fin_seq_peer: u32): void {
  expect(pcb.state).toBe(<u8>tcp_state.CLOSE_WAIT);
  tx_clear();
  expect(tcp_close(pcb)).toBe(ERR_OK);
  expect(out()).toBe(true);
  expect(o_flags & FIN).toBe(FIN);
  expect(o_ack).toBe(fin_seq_peer + 1);
  expect(pcb.state).toBe(<u8>tcp_state.LAST_ACK);
  seg_in(7, lp, fin_seq_peer + 1, o_seq + o_len + 1, ACK, 65535);
  expect(tcp_active_head()).toBe(0);
  expect(cb_errs).toBe(0);
}

const NDATA: u32 = 1000;
/**
 * lwIP test_tcp_recv_ooseq_double_FINs: four segments — data [0,1000), FIN
 * at 1000, one byte "after the FIN" at 1001, a second FIN at 1002. Bit i of
 * `delayed` holds segment i back until the others were sent (reordering;
 * with a loss the retransmission arrives the same way, so each held-back
 * segment is also sent twice). Exactly one close, exactly the 1000 bytes.
 */
function double_fin(delayed: u32): void {
  const pcb = connect();
  for (let round = 0; round < 3; round++) {
    for (let i: u32 = 0; i < 4; i++) {
      const held = (delayed & (1 << i)) != 0;
      if ((round == 0) == held) continue;
      if (i == 0) data_in(0, NDATA);
      else if (i == 1) data_in(NDATA, 0, FIN);
      else if (i == 2) data_in(NDATA + 1, 1);
      else data_in(NDATA + 2, 0, FIN);
    }
    if (round == 0) ooseq_scan(pcb);
    if (delayed == 0) break;
  }
  expect(cb_fin).toBe(1, "exactly one recv(null)");
  expect(cb_recv_bytes).toBe(NDATA, "only the bytes before the FIN");
  expect(rx_ok(NDATA)).toBe(true);
  expect(pcb.rcv_nxt).toBe(D + NDATA + 1);
  expect(pcb.ooseq).toBe(0);
  finish_close_wait(pcb, D + NDATA);
  tx_clear();
  leak_check();
}

describe("tcp close", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); leak_mark(); });

  test("double_FIN_0", () => { double_fin(0); });
  test("double_FIN_1", () => { double_fin(1); });
  test("double_FIN_2", () => { double_fin(2); });
  test("double_FIN_3", () => { double_fin(3); });
  test("double_FIN_4", () => { double_fin(4); });
  test("double_FIN_5", () => { double_fin(5); });
  test("double_FIN_6", () => { double_fin(6); });
  test("double_FIN_7", () => { double_fin(7); });
  test("double_FIN_8", () => { double_fin(8); });
  test("double_FIN_9", () => { double_fin(9); });
  test("double_FIN_10", () => { double_fin(10); });
  test("double_FIN_11", () => { double_fin(11); });
  test("double_FIN_12", () => { double_fin(12); });
  test("double_FIN_13", () => { double_fin(13); });
  test("double_FIN_14", () => { double_fin(14); });
  test("double_FIN_15", () => { double_fin(15); });

  test("FIN_OOSEQ: overlapping and duplicate out-of-order segments, FIN out of order; delivered in order once the gap fills", () => {
    const pcb = connect();
    // [8,16)+FIN first: queued, dup ACK at once.
    data_in(8, 8, FIN);
    expect_seg(ACK, iss + 1, D);
    ooseq_scan(pcb);
    expect(oo_segs).toBe(1);
    expect(oo_bytes).toBe(8);
    // [4,12): overlaps the front of the queued segment; only [4,8) is new.
    data_in(4, 8);
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(12);
    // [4,14): nothing new.
    data_in(4, 10);
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(12);
    // [2,16): covers [4,8) and reaches the FIN; 2 new bytes.
    data_in(2, 14);
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(14);
    expect(oo_segs).toBeLessThanOrEqual(2);
    // Duplicates: the FIN alone, and the first segment again.
    data_in(16, 0, FIN);
    data_in(8, 8, FIN);
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(14);
    expect(cb_recv_bytes).toBe(0);
    expect(cb_fin).toBe(0);
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    tx_clear();
    // The gap [0,4) fills: 16 bytes and the FIN, in order, one recv(null).
    data_in(0, 4);
    expect_seg(ACK, iss + 1, D + 17);
    expect(cb_recv_bytes).toBe(16);
    expect(rx_ok(16)).toBe(true);
    expect(cb_fin).toBe(1);
    expect(pcb.ooseq).toBe(0);
    // A retransmitted FIN later gets its ACK again, and no second close.
    data_in(8, 8, FIN);
    expect_seg(ACK, iss + 1, D + 17);
    expect(cb_fin).toBe(1);
    finish_close_wait(pcb, D + 16);
    leak_check();
  });

  test("FIN_INSEQ: out-of-order segments, some beyond the FIN; the FIN arrives in order and ends it", () => {
    const pcb = connect();
    data_in(4, 8);   // [4,12)
    data_in(1, 2);   // [1,3)
    data_in(15, 1);  // [15,16): beyond the FIN that comes at 14
    data_in(4, 8);   // duplicate
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(11);
    expect(oo_segs).toBe(3);
    tx_clear();
    // [0,14)+FIN in order: everything up to the FIN, then the close; [15,16) is discarded.
    data_in(0, 14, FIN);
    expect_seg(ACK, iss + 1, D + 15);
    expect(cb_recv_bytes).toBe(14);
    expect(rx_ok(14)).toBe(true);
    expect(cb_fin).toBe(1);
    expect(pcb.ooseq).toBe(0);
    expect(pcb.state).toBe(<u8>tcp_state.CLOSE_WAIT);
    // Data after the FIN and a second FIN: ignored (ACKed), no second close.
    data_in(15, 1);
    data_in(16, 0, FIN);
    expect(cb_recv_bytes).toBe(14);
    expect(cb_fin).toBe(1);
    finish_close_wait(pcb, D + 14);
    leak_check();
  });

  test("FIN_INSEQ with a queued FIN: the in-order FIN wins over a queued segment that carried a later one", () => {
    const pcb = connect();
    data_in(6, 4, FIN); // [6,10)+FIN at 10 (a FIN the peer's real FIN contradicts)
    data_in(2, 2);      // [2,4)
    tx_clear();
    data_in(0, 6, FIN); // the FIN at 6 arrives in order
    expect(cb_recv_bytes).toBe(6);
    expect(rx_ok(6)).toBe(true);
    expect(cb_fin).toBe(1);
    expect(pcb.rcv_nxt).toBe(D + 7);
    expect(pcb.ooseq).toBe(0);
    finish_close_wait(pcb, D + 6);
    leak_check();
  });

  test("an out-of-order segment straddling a queued FIN: delivered correctly, one close", () => {
    const pcb = connect();
    data_in(8, 8, FIN); // [8,16)+FIN
    data_in(6, 14);     // [6,20): only [6,8) is new; [16,20) lies after the FIN
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(10);
    data_in(7, 13);     // [7,20): starts inside [6,8), runs past the FIN
    data_in(4, 16);     // [4,20): [4,6) is new
    tx_clear();
    data_in(0, 4);
    expect(cb_recv_bytes).toBe(16);
    expect(rx_ok(16)).toBe(true);
    expect(cb_fin).toBe(1);
    expect(pcb.ooseq).toBe(0);
    finish_close_wait(pcb, D + 16);
    leak_check();
  });

  // Once a bug (tcp_in.ts ooseq_insert): front-trimming against a queued FIN segment queued the bytes beyond the FIN.
  it("an out-of-order segment straddling a queued FIN keeps nothing beyond the FIN", () => {
    const pcb = connect();
    data_in(8, 8, FIN); // [8,16)+FIN
    data_in(6, 2);      // [6,8)
    data_in(7, 13);     // [7,20): starts inside [6,8), runs past the FIN: nothing new
    ooseq_scan(pcb);
    expect(oo_bytes).toBe(10);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("shutdown(tx): FIN goes out, receiving continues through FIN_WAIT_2, the peer's FIN ends in TIME_WAIT", () => {
    const pcb = connect();
    expect(tcp_shutdown(pcb, false, true)).toBe(ERR_OK);
    expect_seg(ACK | FIN, iss + 1, D);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_1);
    // No more writes after our FIN.
    expect(tcp_write(pcb, fill_pat(0, 10), 10, TCP_WRITE_FLAG_COPY)).toBe(ERR_CONN);
    // Data in FIN_WAIT_1 is delivered.
    data_in(0, 100);
    expect(cb_recv_bytes).toBe(100);
    seg_in(7, lp, D + 100, iss + 2, ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_2);
    // Data in FIN_WAIT_2 too, however long it takes (the app did not close rx: no FIN_WAIT_2 timeout).
    advance(30000, 1000);
    tx_clear();
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_2);
    seg_in(7, lp, D + 100, iss + 2, ACK, 65535, fill_pat(100, 200), 200);
    expect(cb_recv_bytes).toBe(300);
    expect(rx_ok(300)).toBe(true);
    seg_in(7, lp, D + 300, iss + 2, ACK | FIN, 65535);
    expect(cb_fin).toBe(1);
    expect(out()).toBe(true);
    expect(o_ack).toBe(D + 301);
    tx_clear();
    expect(pcb.state).toBe(<u8>tcp_state.TIME_WAIT);
    expect(cb_errs).toBe(0);
    advance(61000, 1000);
    expect(tcp_tw_head()).toBe(0);
    leak_check();
  });

  test("shutdown(tx) in CLOSE_WAIT: LAST_ACK, the ACK frees the pcb and err(ERR_CLSD) tells the still-reading app", () => {
    const pcb = connect();
    data_in(0, 50, FIN);
    expect(cb_fin).toBe(1);
    expect(pcb.state).toBe(<u8>tcp_state.CLOSE_WAIT);
    tx_clear();
    // Writing still works in CLOSE_WAIT, then the half-close.
    expect(tcp_write(pcb, fill_pat(0, 20), 20, TCP_WRITE_FLAG_COPY)).toBe(ERR_OK);
    expect(tcp_shutdown(pcb, false, true)).toBe(ERR_OK);
    expect(pcb.state).toBe(<u8>tcp_state.LAST_ACK);
    let fin_seen = false, data_seen = false;
    while (out()) { if ((o_flags & FIN) != 0) fin_seen = true; if (o_len == 20) { data_seen = true; expect_pat(0); } }
    expect(fin_seen).toBe(true);
    expect(data_seen).toBe(true);
    seg_in(7, lp, D + 51, iss + 22, ACK, 65535);
    expect(tcp_active_head()).toBe(0);
    expect(cb_sent).toBe(20);
    expect(cb_err).toBe(ERR_CLSD);
    leak_check();
  });

  test("shutdown(rx): nothing is sent, writing continues; data arriving afterwards resets the connection", () => {
    const pcb = connect();
    expect(tcp_shutdown(pcb, true, false)).toBe(ERR_OK);
    expect_nothing();
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    expect(tcp_write(pcb, fill_pat(0, 30), 30, TCP_WRITE_FLAG_COPY)).toBe(ERR_OK);
    expect(tcp_output(pcb)).toBe(ERR_OK);
    expect_seg(ACK | PSH, iss + 1, D, 30);
    expect_pat(0);
    seg_in(7, lp, D, iss + 31, ACK, 65535);
    expect(cb_sent).toBe(30);
    // The application reads no more: data is answered with a RST (not all data was processed).
    data_in(0, 10);
    expect(cb_recv_bytes).toBe(0);
    expect(out()).toBe(true);
    expect(o_flags & RST).toBe(RST);
    expect(o_seq).toBe(iss + 31);
    expect(cb_err).toBe(ERR_ABRT);
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("shutdown(rx, tx) is a close; shutdown of a listener is ERR_CONN; shut_tx twice is ERR_CONN", () => {
    const l0 = tcp_new()!;
    expect(tcp_bind(l0, null, 81)).toBe(ERR_OK);
    const l = tcp_listen(l0)!;
    expect(tcp_shutdown(l, false, true)).toBe(ERR_CONN);
    expect(tcp_close(l)).toBe(ERR_OK);
    const pcb = connect();
    expect(tcp_shutdown(pcb, false, true)).toBe(ERR_OK);
    expect_seg(ACK | FIN, iss + 1, D);
    expect(tcp_shutdown(pcb, false, true)).toBe(ERR_CONN);
    // Now rx too: a full close; FIN_WAIT_1 → FIN_WAIT_2 (with the FIN_WAIT_2 timeout) → gone.
    expect(tcp_shutdown(pcb, true, true)).toBe(ERR_OK);
    expect_nothing();
    seg_in(7, lp, D, iss + 2, ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_2);
    advance(21000, 1000);
    tx_clear();
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("active close in LISTEN, in SYN_SENT and of a bound pcb frees at once, sends nothing; a late SYN-ACK gets a RST", () => {
    const b = tcp_new()!;
    expect(tcp_bind(b, null, 82)).toBe(ERR_OK);
    expect(tcp_bound_head()).toBe(changetype<usize>(b));
    expect(tcp_close(b)).toBe(ERR_OK);
    expect(tcp_bound_head()).toBe(0);
    const l0 = tcp_new()!;
    expect(tcp_bind(l0, null, 83)).toBe(ERR_OK);
    const l = tcp_listen(l0)!;
    expect(tcp_listen_head()).toBe(changetype<usize>(l));
    expect(tcp_close(l)).toBe(ERR_OK);
    expect(tcp_listen_head()).toBe(0);
    const pcb = tcp_new()!;
    install(pcb);
    expect(tcp_connect(pcb, A(PEER_IP), 7, on_connected)).toBe(ERR_OK);
    expect(out()).toBe(true);
    const s = o_seq, p = o_sport;
    expect(tcp_close(pcb)).toBe(ERR_OK);
    expect_nothing();
    expect(tcp_active_head()).toBe(0);
    expect(cb_errs).toBe(0);
    // No SYN retransmission later either.
    advance(5000, 100);
    expect_nothing();
    expect(tcp_timer_is_armed()).toBe(false);
    seg_in(7, p, 9000, s + 1, SYN | ACK, 65535);
    expect_seg(RST, s + 1, 0);
    expect(cb_connected).toBe(0);
    leak_check();
  });
});
