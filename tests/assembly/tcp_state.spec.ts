// tcp: RST handling and generation in every state, RFC 5961 challenge ACKs,
// simultaneous open and close, SYN flood, pool reclaim (lwIP test_tcp_state rows).
import { leak_mark, leak_check } from "./harness/leak";
import { ERR_OK, ERR_RST } from "../../assembly/core/err";
import {
  tcp_pcb, tcp_new, tcp_bind, tcp_listen, tcp_accept, tcp_connect, tcp_close, tcp_abort, tcp_state,
  tcp_active_head, tcp_tw_head, tcp_set_syn_queue,
} from "../../assembly/tcp/tcp";
import { tcp_challenge_ack_reset } from "../../assembly/tcp/tcp_in";
import {
  harness_init, A, PEER_IP, seg_in, out, expect_seg, expect_nothing, fill_pat, tx_clear, o_seq, o_flags,
  o_sport, opt_mss, advance, clock_sync, cb_reset, cb_accepted, cb_accepts, cb_connected, cb_err, cb_errs,
  on_accept, on_connected, install, SYN, ACK, FIN, RST,
} from "./harness/tcp";

const LPORT: u16 = 80;
const PPORT: u16 = 40000;
const PISS: u32 = 1000;
let our_iss: u32 = 0;

function listen_on(port: u16): tcp_pcb {
  const pcb = tcp_new()!;
  expect(tcp_bind(pcb, null, port)).toBe(ERR_OK);
  const l = tcp_listen(pcb)!;
  tcp_accept(l, on_accept);
  return l;
}
function syn_rcvd(pport: u16 = PPORT): void {
  seg_in(pport, LPORT, PISS, 0, SYN, 65535);
  expect(out()).toBe(true);
  expect(o_flags).toBe(SYN | ACK);
  our_iss = o_seq;
}
function established(): tcp_pcb {
  syn_rcvd();
  seg_in(PPORT, LPORT, PISS + 1, our_iss + 1, ACK, 65535);
  expect(cb_accepts).toBe(1);
  return changetype<tcp_pcb>(cb_accepted);
}
/** Active open to the peer; returns the pcb in ESTABLISHED with peer ISS 5000. */
let act_iss: u32 = 0;
let act_port: u16 = 0;
function active(): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  tcp_connect(pcb, A(PEER_IP), 7, on_connected);
  expect(out()).toBe(true);
  act_iss = o_seq; act_port = o_sport;
  seg_in(7, act_port, 5000, act_iss + 1, SYN | ACK, 65535);
  expect_seg(ACK, act_iss + 1, 5001);
  return pcb;
}

describe("tcp state", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); tcp_challenge_ack_reset(); leak_mark(); });

  test("gen_rst_in_CLOSED: a segment for no pcb gets a RST", () => {
    seg_in(PPORT, 9999, 777, 0, SYN, 1000);
    expect_seg(RST | ACK, 0, 778);
    seg_in(PPORT, 9999, 777, 4242, ACK, 1000, fill_pat(0, 10), 10);
    expect_seg(RST, 4242, 0);
    seg_in(PPORT, 9999, 777, 4242, RST | ACK, 1000);
    expect_nothing();
    leak_check();
  });

  test("gen_rst_in_LISTEN: a bare ACK to a listener gets a RST; the listener stays", () => {
    const l = listen_on(LPORT);
    seg_in(PPORT, LPORT, 5, 12345, ACK, 1000);
    expect_seg(RST, 12345, 0);
    expect(l.state).toBe(<u8>tcp_state.LISTEN);
    tcp_close(l);
    leak_check();
  });

  test("SYN+FIN and RST to a listener are dropped", () => {
    const l = listen_on(LPORT);
    seg_in(PPORT, LPORT, 5, 0, SYN | FIN, 1000);
    seg_in(PPORT, LPORT, 5, 0, RST, 1000);
    expect_nothing();
    expect(tcp_active_head()).toBe(0);
    tcp_close(l);
    leak_check();
  });

  test("gen_rst_in_SYN_RCVD: ACK with a bad ack gets a RST, the pcb stays; RST returns to LISTEN", () => {
    const l = listen_on(LPORT);
    syn_rcvd();
    seg_in(PPORT, LPORT, PISS + 1, our_iss + 100, ACK, 65535);
    expect_seg(RST, our_iss + 100, 0);
    expect(tcp_active_head()).not.toBe(0);
    // receive_rst_SYN_RCVD_to_LISTEN
    seg_in(PPORT, LPORT, PISS + 1, 0, RST, 65535);
    expect(tcp_active_head()).toBe(0);
    expect(cb_errs).toBe(0);
    expect(l.state).toBe(<u8>tcp_state.LISTEN);
    expect(l.syn_pending).toBe(0);
    tcp_close(l);
    leak_check();
  });

  test("SYN retransmitted in SYN_RCVD: SYN-ACK again", () => {
    const l = listen_on(LPORT);
    syn_rcvd();
    seg_in(PPORT, LPORT, PISS, 0, SYN, 65535);
    expect_seg(SYN | ACK, our_iss, PISS + 1);
    tcp_close(l);
    tx_clear();
    leak_check();
  });

  test("process_rst_seqno: RST only with the exact sequence number; in-window earns a challenge ACK", () => {
    const l = listen_on(LPORT);
    const pcb = established();
    // out of window: ignored silently
    seg_in(PPORT, LPORT, PISS + 1 + 100000, 0, RST, 65535);
    expect_nothing();
    // in window, not exact: challenge ACK (RFC 5961 §3.2)
    seg_in(PPORT, LPORT, PISS + 10, 0, RST, 65535);
    expect_seg(ACK, our_iss + 1, PISS + 1);
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    // exact: reset
    seg_in(PPORT, LPORT, PISS + 1, 0, RST, 65535);
    expect(cb_err).toBe(ERR_RST);
    expect(tcp_active_head()).toBe(0);
    tcp_close(l);
    leak_check();
  });

  test("SYN in ESTABLISHED earns a challenge ACK (RFC 5961 §4); rate limited", () => {
    const l = listen_on(LPORT);
    const pcb = established();
    seg_in(PPORT, LPORT, PISS + 500, 0, SYN, 65535);
    expect_seg(ACK, our_iss + 1, PISS + 1);
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    for (let i = 0; i < 200; i++) seg_in(PPORT, LPORT, PISS + 500, 0, SYN, 65535);
    let n: u32 = 0;
    while (out()) n++;
    expect(n).toBeLessThanOrEqual(100);
    tcp_abort(pcb);
    tx_clear();
    tcp_close(l);
    leak_check();
  });

  test("ACK of unsent data: ACK and drop; too old ACK: challenge", () => {
    const l = listen_on(LPORT);
    const pcb = established();
    seg_in(PPORT, LPORT, PISS + 1, our_iss + 5000, ACK, 65535, fill_pat(0, 10), 10);
    expect_seg(ACK, our_iss + 1, PISS + 1);
    expect(pcb.rcv_nxt).toBe(PISS + 1);
    tcp_abort(pcb);
    tx_clear();
    tcp_close(l);
    leak_check();
  });

  test("RST in SYN_SENT: only with an acceptable ACK (connection refused)", () => {
    const pcb = tcp_new()!;
    install(pcb);
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    expect(out()).toBe(true);
    const iss = o_seq, lp = o_sport;
    seg_in(7, lp, 0, iss + 5, RST | ACK, 0);
    expect(cb_errs).toBe(0);
    // a RST is never answered
    expect_nothing();
    // gen_rst_in_SYN_SENT_ackseq: a SYN-ACK with a bad ack gets a RST
    seg_in(7, lp, 0, iss + 5, SYN | ACK, 1000);
    expect_seg(RST, iss + 5, 0);
    seg_in(7, lp, 0, iss + 1, RST | ACK, 0);
    expect(cb_err).toBe(ERR_RST);
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("gen_rst_in_SYN_SENT_non_syn_ack: ACK without SYN → RST and the SYN again", () => {
    const pcb = tcp_new()!;
    install(pcb);
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    expect(out()).toBe(true);
    const iss = o_seq, lp = o_sport;
    seg_in(7, lp, 300, iss + 1, ACK, 1000);
    expect_seg(RST, iss + 1, 0);
    expect_seg(SYN, iss, 0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("simultaneous open: SYN in SYN_SENT → SYN_RCVD → ESTABLISHED", () => {
    const pcb = tcp_new()!;
    install(pcb);
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    expect(out()).toBe(true);
    const iss = o_seq, lp = o_sport;
    opt_mss(1000);
    seg_in(7, lp, 9000, 0, SYN, 8000);
    expect(pcb.state).toBe(<u8>tcp_state.SYN_RCVD);
    expect_seg(SYN | ACK, iss, 9001);
    seg_in(7, lp, 9001, iss + 1, SYN | ACK, 8000);
    // its SYN-ACK: a SYN in a synchronized-ish state is answered by an ACK
    tx_clear();
    seg_in(7, lp, 9001, iss + 1, ACK, 8000);
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    expect(cb_connected).toBe(1);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("simultaneous close: crossing FINs → CLOSING → TIME_WAIT", () => {
    const pcb = active();
    expect(tcp_close(pcb)).toBe(ERR_OK);
    expect_seg(FIN | ACK, act_iss + 1, 5001);
    seg_in(7, act_port, 5001, act_iss + 1, FIN | ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.CLOSING);
    expect_seg(ACK, act_iss + 2, 5002);
    seg_in(7, act_port, 5002, act_iss + 2, ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.TIME_WAIT);
    expect(tcp_tw_head()).toBe(changetype<usize>(pcb));
    // gen_rst_in_TIME_WAIT: a SYN in the window gets a RST
    seg_in(7, act_port, 5002, 0, SYN, 65535);
    expect(out()).toBe(true);
    expect(o_flags & RST).toBe(RST);
    // a retransmitted FIN gets its ACK again
    seg_in(7, act_port, 5001, act_iss + 2, FIN | ACK, 65535);
    expect_seg(ACK, act_iss + 2, 5002);
    advance(61000, 1000);
    expect(tcp_tw_head()).toBe(0);
    leak_check();
  });

  test("active_close in LISTEN and SYN_SENT frees at once", () => {
    const l = listen_on(LPORT);
    expect(tcp_close(l)).toBe(ERR_OK);
    const pcb = tcp_new()!;
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    tx_clear();
    expect(tcp_close(pcb)).toBe(ERR_OK);
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("SYN flood: bounded half-open queue, oldest dropped, listener alive and accepting", () => {
    const l = listen_on(LPORT);
    tcp_set_syn_queue(l, 8);
    for (let i: u16 = 0; i < 200; i++) {
      seg_in(1000 + i, LPORT, 7000 + <u32>i, 0, SYN, 1000);
      advance(1, 1);
    }
    tx_clear();
    expect(l.syn_pending).toBe(8);
    let n: u32 = 0;
    for (let q = tcp_active_head(); q != 0; q = changetype<tcp_pcb>(q).next) {
      n++;
      // the survivors are the newest
      expect(changetype<tcp_pcb>(q).remote_port).toBeGreaterThanOrEqual(1000 + 192);
    }
    expect(n).toBe(8);
    // a real client still gets in
    seg_in(PPORT, LPORT, PISS, 0, SYN, 65535);
    expect(out()).toBe(true);
    const iss = o_seq;
    seg_in(PPORT, LPORT, PISS + 1, iss + 1, ACK, 65535);
    expect(cb_accepts).toBe(1);
    tcp_abort(changetype<tcp_pcb>(cb_accepted));
    tcp_close(l);
    tx_clear();
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("new_max_num: a full pool reclaims a TIME_WAIT pcb", () => {
    const pcbs = new StaticArray<usize>(200);
    // one connection in TIME_WAIT
    const pcb = active();
    tcp_close(pcb);
    tx_clear();
    seg_in(7, act_port, 5001, act_iss + 2, FIN | ACK, 65535);
    tx_clear();
    expect(pcb.state).toBe(<u8>tcp_state.TIME_WAIT);
    let n = 0;
    for (;;) {
      const p = tcp_new();
      if (p == null) break;
      // the TIME_WAIT pcb is taken once everything else is in use
      if (tcp_tw_head() == 0) { pcbs[n++] = changetype<usize>(p); break; }
      pcbs[n++] = changetype<usize>(p);
    }
    expect(tcp_tw_head()).toBe(0);
    expect(changetype<usize>(tcp_new())).toBe(0);
    for (let i = 0; i < n; i++) tcp_abort(changetype<tcp_pcb>(pcbs[i]));
    tx_clear();
    leak_check();
  });
});
