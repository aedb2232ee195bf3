// tcp: timers — keepalive (SOF_KEEPALIVE with idle / interval / count, RFC 1122
// §4.2.3.6), the poll callback at its interval, TIME_WAIT length (2*MSL),
// the FIN_WAIT_2 timeout, and no timer on an idle stack.
import { leak_mark, leak_check } from "./harness/leak";
import { ERR_OK, ERR_ABRT, err_t } from "../../assembly/core/err";
import {
  tcp_pcb, tcp_new, tcp_connect, tcp_close, tcp_abort, tcp_poll, tcp_keepalive_set, tcp_set_time_wait,
  tcp_state, tcp_active_head, tcp_tw_head, tcp_timer_is_armed, tcp_time_wait_ms,
  SOF_KEEPALIVE, TCP_KEEPIDLE_DEFAULT, TCP_MSL, TCP_SLOW_INTERVAL, TCP_FIN_WAIT_TIMEOUT,
} from "../../assembly/tcp/tcp";
import {
  harness_init, A, PEER_IP, seg_in, out, expect_seg, expect_nothing, fill_pat, tx_clear, pending, o_seq,
  o_ack, o_flags, o_sport, o_len, opt_mss, advance, clock_sync, cb_reset, cb_err, cb_errs, cb_fin,
  cb_recv_bytes, on_connected, install, SYN, ACK, FIN, RST,
} from "./harness/tcp";

let iss: u32 = 0;
let lp: u16 = 0;
const PSEQ: u32 = 5000;
const D: u32 = PSEQ + 1;

/** Active open (peer ISS 5000); `keep` sets SOF_KEEPALIVE before connecting. */
function connect(keep: bool = false): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  if (keep) pcb.so_options |= SOF_KEEPALIVE;
  expect(tcp_connect(pcb, A(PEER_IP), 7, on_connected)).toBe(ERR_OK);
  expect(out()).toBe(true);
  iss = o_seq; lp = o_sport;
  opt_mss(1000);
  seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, 65535);
  expect_seg(ACK, iss + 1, D);
  return pcb;
}

/** Advances 1 ms at a time until a frame is queued or `max` ms passed; returns the ms taken (max+1: none). */
function ms_until_frame(max: u32): u32 {
  for (let t: u32 = 1; t <= max; t++) {
    advance(1, 1);
    if (pending() > 0) return t;
  }
  return max + 1;
}

/** A keepalive probe: ACK, SEG.SEQ = SND.UNA - 1, no data (RFC 1122 §4.2.3.6; the peer must answer). */
function expect_probe(una: u32, rcv: u32): void {
  expect(out()).toBe(true);
  expect(o_flags).toBe(ACK);
  expect(o_seq).toBe(una - 1);
  expect(o_ack).toBe(rcv);
  expect(o_len).toBe(0);
}

let polls: u32 = 0;
let poll_abort: bool = false;
function on_poll(arg: usize, pcb: tcp_pcb): err_t {
  polls++;
  if (poll_abort) { tcp_abort(pcb); return ERR_ABRT; }
  return ERR_OK;
}

describe("tcp timers", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); polls = 0; poll_abort = false; leak_mark(); });

  test("no keepalive without SOF_KEEPALIVE: an idle connection sends nothing, ever", () => {
    const pcb = connect();
    advance(TCP_KEEPIDLE_DEFAULT + 600000, 60000);
    expect_nothing();
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SOF_KEEPALIVE with the defaults: the first probe after 2 h idle (RFC 1122 §4.2.3.6)", () => {
    const pcb = connect(true);
    advance(TCP_KEEPIDLE_DEFAULT - 1000, 60000);
    expect_nothing();
    expect(ms_until_frame(1000)).toBe(1000);
    expect_probe(iss + 1, D);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("keepalive: probes at idle, then every interval; cnt unanswered → RST and ERR_ABRT", () => {
    const pcb = connect(true);
    tcp_keepalive_set(pcb, 10000, 1000, 3);
    expect(ms_until_frame(10000)).toBe(10000);
    expect_probe(iss + 1, D);
    expect(ms_until_frame(1000)).toBe(1000);
    expect_probe(iss + 1, D);
    expect(ms_until_frame(1000)).toBe(1000);
    expect_probe(iss + 1, D);
    expect(cb_errs).toBe(0);
    // The 3rd probe went unanswered for an interval: the peer is gone.
    expect(ms_until_frame(1000)).toBe(1000);
    expect(out()).toBe(true);
    expect(o_flags & RST).toBe(RST);
    expect(cb_err).toBe(ERR_ABRT);
    expect(tcp_active_head()).toBe(0);
    expect(tcp_timer_is_armed()).toBe(false);
    leak_check();
  });

  test("keepalive: a reply resets the count and the idle clock; data from the peer too", () => {
    const pcb = connect(true);
    tcp_keepalive_set(pcb, 10000, 1000, 2);
    expect(ms_until_frame(10000)).toBe(10000);
    expect_probe(iss + 1, D);
    advance(500, 10);
    // The peer answers the probe with an ACK.
    seg_in(7, lp, D, iss + 1, ACK, 65535);
    expect_nothing();
    expect(pcb.keep_cnt_sent).toBe(0);
    // Idle again from the reply: the next probe 10 s after it.
    expect(ms_until_frame(10000)).toBe(10000);
    expect_probe(iss + 1, D);
    expect(ms_until_frame(1000)).toBe(1000);
    expect_probe(iss + 1, D);
    // Data instead of a bare ACK: also alive.
    seg_in(7, lp, D, iss + 1, ACK, 65535, fill_pat(0, 10), 10);
    expect(cb_recv_bytes).toBe(10);
    advance(200, 10); // the delayed ACK
    tx_clear();
    // 2 probes after the data, still not dead until the interval after the 2nd.
    expect(ms_until_frame(10000)).toBe(9800);
    expect_probe(iss + 1, D + 10);
    expect(ms_until_frame(1000)).toBe(1000);
    expect_probe(iss + 1, D + 10);
    expect(cb_errs).toBe(0);
    expect(ms_until_frame(1000)).toBe(1000);
    expect(out()).toBe(true);
    expect(o_flags & RST).toBe(RST);
    expect(cb_err).toBe(ERR_ABRT);
    leak_check();
  });

  test("keepalive in CLOSE_WAIT too; not after our FIN", () => {
    const pcb = connect(true);
    tcp_keepalive_set(pcb, 5000, 1000, 5);
    seg_in(7, lp, D, iss + 1, ACK | FIN, 65535);
    expect(cb_fin).toBe(1);
    tx_clear();
    expect(pcb.state).toBe(<u8>tcp_state.CLOSE_WAIT);
    expect(ms_until_frame(5000)).toBe(5000);
    expect_probe(iss + 1, D + 1);
    tcp_close(pcb);
    expect(out()).toBe(true);
    expect(o_flags & FIN).toBe(FIN);
    expect(pcb.state).toBe(<u8>tcp_state.LAST_ACK);
    expect(o_seq).toBe(iss + 1);
    tx_clear();
    seg_in(7, lp, D + 1, iss + 2, ACK, 65535);
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("poll: the callback every interval × 500 ms; interval 0 stops it; ERR_ABRT from poll", () => {
    const pcb = connect();
    tcp_poll(pcb, on_poll, 2);
    advance(999, 1);
    expect(polls).toBe(0);
    advance(1, 1);
    expect(polls).toBe(1);
    advance(4000, 10);
    expect(polls).toBe(5);
    tcp_poll(pcb, on_poll, 0);
    advance(5000, 100);
    expect(polls).toBe(5);
    // interval 1 = TCP_SLOW_INTERVAL; an abort from inside poll is safe
    tcp_poll(pcb, on_poll, 1);
    advance(TCP_SLOW_INTERVAL, 10);
    expect(polls).toBe(6);
    poll_abort = true;
    advance(TCP_SLOW_INTERVAL, 10);
    expect(polls).toBe(7);
    expect(cb_err).toBe(ERR_ABRT);
    expect(tcp_active_head()).toBe(0);
    tx_clear();
    advance(5000, 100);
    expect(polls).toBe(7);
    expect(tcp_timer_is_armed()).toBe(false);
    leak_check();
  });

  test("poll keeps running while closing (FIN_WAIT_1 / FIN_WAIT_2)", () => {
    const pcb = connect();
    tcp_poll(pcb, on_poll, 1);
    tcp_close(pcb);
    expect(out()).toBe(true);
    expect(o_flags & FIN).toBe(FIN);
    advance(TCP_SLOW_INTERVAL, 10);
    expect(polls).toBe(1);
    seg_in(7, lp, D, iss + 2, ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_2);
    advance(TCP_SLOW_INTERVAL, 10);
    expect(polls).toBe(2);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("TIME_WAIT lasts exactly 2*MSL; a shorter tcp_set_time_wait is honoured", () => {
    expect(tcp_time_wait_ms).toBe(2 * TCP_MSL);
    for (let round = 0; round < 2; round++) {
      const tw = round == 0 ? 2 * TCP_MSL : 3000;
      tcp_set_time_wait(tw);
      const pcb = connect();
      tcp_close(pcb);
      expect(out()).toBe(true);
      seg_in(7, lp, D, iss + 2, ACK | FIN, 65535);
      expect_seg(ACK, iss + 2, D + 1);
      expect(pcb.state).toBe(<u8>tcp_state.TIME_WAIT);
      expect(tcp_active_head()).toBe(0);
      expect(tcp_tw_head()).toBe(changetype<usize>(pcb));
      advance(tw - 10, 10);
      expect(tcp_tw_head()).toBe(changetype<usize>(pcb));
      advance(10, 1);
      expect(tcp_tw_head()).toBe(0);
      expect(tcp_timer_is_armed()).toBe(false);
      expect_nothing();
    }
    tcp_set_time_wait(2 * TCP_MSL);
    leak_check();
  });

  test("FIN_WAIT_2 after tcp_close: given up after TCP_FIN_WAIT_TIMEOUT with ERR_ABRT", () => {
    const pcb = connect();
    tcp_close(pcb);
    expect(out()).toBe(true);
    seg_in(7, lp, D, iss + 2, ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_2);
    advance(TCP_FIN_WAIT_TIMEOUT - 10, 10);
    expect(tcp_active_head()).toBe(changetype<usize>(pcb));
    advance(10, 1);
    expect(tcp_active_head()).toBe(0);
    expect(cb_err).toBe(ERR_ABRT);
    expect(tcp_timer_is_armed()).toBe(false);
    tx_clear();
    leak_check();
  });
});
