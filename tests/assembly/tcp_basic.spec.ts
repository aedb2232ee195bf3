// tcp: handshakes, data, close, segment by segment (lwIP test_tcp / test_tcp_state rows).
import { leak_mark, leak_check } from "./harness/leak";
import { ERR_OK, ERR_ABRT } from "../../assembly/core/err";
import { MEMP, memp_used } from "../../assembly/core/memp";
import { Proto, Ctr, stats_get } from "../../assembly/core/stats";
import {
  tcp_pcb, tcp_new, tcp_bind, tcp_listen, tcp_accept, tcp_connect, tcp_write, tcp_output, tcp_close,
  tcp_abort, tcp_state, tcp_timer_is_armed, tcp_active_head, tcp_tw_head, TCP_WRITE_FLAG_COPY,
} from "../../assembly/tcp/tcp";
import {
  harness_init, A, PEER_IP, seg_in, out, expect_seg, expect_nothing, expect_pat, fill_pat, tx_clear, o_seq,
  o_ack, o_flags, o_mss, o_ws, o_sack_perm, o_ts, o_tsecr, o_sport, opt_mss, opt_ws, opt_sack_perm, opt_ts,
  advance, clock_sync, cb_reset, cb_accepted, cb_accepts, cb_connected, cb_recv_bytes, cb_fin, cb_sent,
  cb_err, rx, pat, on_accept, on_connected, install, set_recv_mode, set_bad_doff, malformed_reset, SYN, ACK,
  FIN, RST, PSH,
} from "./harness/tcp";

const LPORT: u16 = 80;
const PPORT: u16 = 40000;
const PISS: u32 = 1000;

let listener: tcp_pcb | null = null;

function listen_on(port: u16): tcp_pcb {
  const pcb = tcp_new()!;
  expect(tcp_bind(pcb, null, port)).toBe(ERR_OK);
  const l = tcp_listen(pcb)!;
  tcp_accept(l, on_accept);
  return l;
}

/** Passive open with plain options; returns the accepted pcb and our ISS. */
let our_iss: u32 = 0;
function passive_open(): tcp_pcb {
  opt_mss(1460);
  seg_in(PPORT, LPORT, PISS, 0, SYN, 65535);
  expect(out()).toBe(true);
  expect(o_flags).toBe(SYN | ACK);
  expect(o_ack).toBe(PISS + 1);
  our_iss = o_seq;
  seg_in(PPORT, LPORT, PISS + 1, our_iss + 1, ACK, 65535);
  expect(cb_accepts).toBe(1);
  expect_nothing();
  return changetype<tcp_pcb>(cb_accepted);
}

describe("tcp basic", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); leak_mark(); });

  test("new then abort frees the pcb (new_abort)", () => {
    const pcb = tcp_new()!;
    expect(memp_used(MEMP.TCP_PCB)).toBeGreaterThan(0);
    tcp_abort(pcb);
    expect_nothing();
    leak_check();
  });

  test("passive open: SYN gets SYN-ACK with our options, ACK establishes, accept runs", () => {
    const l = listen_on(LPORT);
    opt_mss(1200); opt_ws(7); opt_sack_perm(); opt_ts(555, 0);
    seg_in(PPORT, LPORT, PISS, 0, SYN, 65535);
    expect(out()).toBe(true);
    expect(o_flags).toBe(SYN | ACK);
    expect(o_ack).toBe(PISS + 1);
    expect(o_mss).toBe(1460);
    expect(o_ws).toBe(3);
    expect(o_sack_perm).toBe(true);
    expect(o_ts).toBe(true);
    expect(o_tsecr).toBe(555);
    const iss = o_seq;
    seg_in(PPORT, LPORT, PISS + 1, iss + 1, ACK, 1000);
    expect(cb_accepts).toBe(1);
    const pcb = changetype<tcp_pcb>(cb_accepted);
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    expect(pcb.mss).toBe(1200 - 12);
    expect(pcb.snd_wnd).toBe(1000 << 7);
    tcp_abort(pcb);
    expect_seg(RST | ACK, iss + 1, PISS + 1);
    expect(cb_err).toBe(ERR_ABRT);
    tcp_close(l);
    leak_check();
  });

  test("a SYN truncated by 2 bytes is dropped (listen_passive_open)", () => {
    const l = listen_on(LPORT);
    const before = stats_get(Proto.TCP, Ctr.DROP);
    // The data offset says 24 bytes of header; the segment has 20.
    set_bad_doff(6);
    seg_in(PPORT, LPORT, PISS, 0, SYN, 65535);
    malformed_reset();
    expect_nothing();
    expect(stats_get(Proto.TCP, Ctr.DROP)).toBe(before + 1);
    tcp_close(l);
    leak_check();
  });

  test("data in order reaches recv; delayed ACK on one segment, immediate on the second", () => {
    const l = listen_on(LPORT);
    const pcb = passive_open();
    seg_in(PPORT, LPORT, PISS + 1, our_iss + 1, ACK | PSH, 65535, fill_pat(0, 100), 100);
    expect(cb_recv_bytes).toBe(100);
    expect_nothing();
    seg_in(PPORT, LPORT, PISS + 101, our_iss + 1, ACK | PSH, 65535, fill_pat(100, 100), 100);
    expect(cb_recv_bytes).toBe(200);
    expect_seg(ACK, our_iss + 1, PISS + 201);
    seg_in(PPORT, LPORT, PISS + 201, our_iss + 1, ACK | PSH, 65535, fill_pat(200, 10), 10);
    expect_nothing();
    advance(200);
    expect_seg(ACK, our_iss + 1, PISS + 211);
    let ok = true;
    for (let i: u32 = 0; i < 210; i++) if (load<u8>(rx + i) != pat(i)) ok = false;
    expect(ok).toBe(true);
    tcp_abort(pcb);
    tx_clear();
    tcp_close(l);
    leak_check();
  });

  test("passive close: FIN → recv(null), app closes, LAST_ACK, ACK frees", () => {
    const l = listen_on(LPORT);
    const pcb = passive_open();
    set_recv_mode(2);
    seg_in(PPORT, LPORT, PISS + 1, our_iss + 1, ACK | FIN, 65535);
    expect(cb_fin).toBe(1);
    // ACK of the FIN may be combined with our FIN
    expect(out()).toBe(true);
    expect(o_flags & FIN).toBe(FIN);
    expect(o_ack).toBe(PISS + 2);
    expect(pcb.state).toBe(<u8>tcp_state.LAST_ACK);
    seg_in(PPORT, LPORT, PISS + 2, our_iss + 2, ACK, 65535);
    expect(tcp_active_head()).toBe(0);
    tcp_close(l);
    leak_check();
  });

  test("active open, write, close: FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT → gone after 2MSL", () => {
    const pcb = tcp_new()!;
    install(pcb);
    expect(tcp_connect(pcb, A(PEER_IP), 7, on_connected)).toBe(ERR_OK);
    expect(out()).toBe(true);
    expect(o_flags).toBe(SYN);
    expect(o_mss).toBe(1460);
    const iss = o_seq;
    opt_mss(1460);
    seg_in(7, o_sport, 5000, iss + 1, SYN | ACK, 65535);
    expect(cb_connected).toBe(1);
    expect_seg(ACK, iss + 1, 5001);
    expect(pcb.state).toBe(<u8>tcp_state.ESTABLISHED);
    const lport = pcb.local_port;
    expect(tcp_write(pcb, fill_pat(0, 3000), 3000, TCP_WRITE_FLAG_COPY)).toBe(ERR_OK);
    expect(tcp_output(pcb)).toBe(ERR_OK);
    expect_seg(ACK, iss + 1, 5001, 1460);
    expect_pat(0);
    expect_seg(ACK, iss + 1461, 5001, 1460);
    expect_pat(1460);
    // Nagle holds the small tail while full segments are unacknowledged.
    expect_nothing();
    seg_in(7, lport, 5001, iss + 2921, ACK, 65535);
    expect_seg(ACK | PSH, iss + 2921, 5001, 80);
    expect_pat(2920);
    seg_in(7, lport, 5001, iss + 3001, ACK, 65535);
    expect(cb_sent).toBe(3000);
    expect(tcp_close(pcb)).toBe(ERR_OK);
    expect_seg(ACK | FIN, iss + 3001, 5001);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_1);
    seg_in(7, lport, 5001, iss + 3002, ACK, 65535);
    expect(pcb.state).toBe(<u8>tcp_state.FIN_WAIT_2);
    seg_in(7, lport, 5001, iss + 3002, ACK | FIN, 65535);
    expect_seg(ACK, iss + 3002, 5002);
    expect(pcb.state).toBe(<u8>tcp_state.TIME_WAIT);
    expect(tcp_tw_head()).toBe(changetype<usize>(pcb));
    advance(60000, 1000);
    expect(tcp_tw_head()).toBe(0);
    expect(tcp_timer_is_armed()).toBe(false);
    leak_check();
  });
});
