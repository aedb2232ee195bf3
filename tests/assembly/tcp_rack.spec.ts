// tcp: RACK-TLP (RFC 8985) and what a timeout keeps — losses found by time
// (§6.2), lost retransmissions found after a timeout without a second one,
// the SACK scoreboard kept across an RTO (RFC 6675 §5.1) so the go-back-N
// skips what the receiver holds, reneging (RFC 2018 §8), and the loss probe
// in recovery. Each of these was a 200 ms+ timeout at 5% loss to Linux.
import { leak_mark, leak_check } from "./harness/leak";
import {
  tcp_pcb, tcp_new, tcp_connect, tcp_write, tcp_output, tcp_abort, tcp_nagle_disable, tcp_sb, tcp_cc,
  tcp_mib_base, TcpMib, TCP_WRITE_FLAG_COPY, TF_INFR, TF_RTO,
} from "../../assembly/tcp/tcp";
import { sack_count } from "../../assembly/tcp/tcp_sack";
import {
  A, PEER_IP, harness_init, seg_in, out, fill_pat, tx_clear, advance, clock_sync, o_seq, o_sport, o_tsval,
  opt_mss, opt_sack_perm, opt_sack, opt_ts, cb_reset, install, on_connected, SYN, ACK,
} from "./harness/tcp";

let iss: u32 = 0;
let lp: u16 = 0;
const PSEQ: u32 = 5000;
const MSS: u32 = 1000;

/** Active open with SACK (and timestamps if `ts`); the peer announces MSS 1000; a 4 ms RTT sample from the handshake. */
function connect(ts: bool = false): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  tcp_connect(pcb, A(PEER_IP), 7, on_connected);
  expect(out()).toBe(true);
  iss = o_seq; lp = o_sport;
  opt_mss(<u16>MSS);
  opt_sack_perm();
  if (ts) opt_ts(100, o_tsval);
  advance(4, 1);
  seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, 65535);
  expect(out()).toBe(true);
  tcp_nagle_disable(pcb);
  return pcb;
}
/** Stream offset `off` as a sequence number. */
// @ts-ignore: decorator
@inline function S(off: u32): u32 { return iss + 1 + off; }
function ack(a: u32): void { seg_in(7, lp, PSEQ + 1, a, ACK, 65535); }
/** An ACK of stream offset `a` SACKing up to two blocks [l1, r1), [l2, r2) (offsets; r = 0: none). */
function sack_ack(a: u32, l1: u32, r1: u32, l2: u32 = 0, r2: u32 = 0): void {
  const n: u32 = r2 != 0 ? 2 : 1;
  const b = new StaticArray<u32>(4);
  b[0] = S(l1); b[1] = S(r1); b[2] = S(l2); b[3] = S(r2);
  opt_sack(n, b);
  ack(S(a));
}
const sent = new StaticArray<u32>(256);
let nsent: u32 = 0;
/** Sends out everything queued; returns how many segments, and remembers their offsets. */
function drain(): u32 {
  nsent = 0;
  while (out()) { if (nsent < 256) sent[nsent] = o_seq - S(0); nsent++; }
  return nsent;
}
function sent_has(off: u32): bool { for (let i: u32 = 0; i < nsent && i < 256; i++) if (sent[i] == off) return true; return false; }
function mib(c: TcpMib): u32 { return load<u32>(tcp_mib_base() + (<usize>c << 2)); }

describe("tcp RACK-TLP and timeouts", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); leak_mark(); });

  test("RACK (RFC 8985 §6.2): a SACK marks earlier segments lost once the reordering window has passed", () => {
    const pcb = connect();
    const rack0 = mib(TcpMib.RACK_LOST), rto0 = mib(TcpMib.RTO);
    tcp_write(pcb, fill_pat(0, 10000), 10000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(10);
    // Segment 1 arrives, 0 does not: one SACK, far from DupThresh.
    sack_ack(0, 1000, 2000);
    drain();
    expect(sent_has(0)).toBe(false, "0 may only be reordered: RACK waits reo_wnd");
    expect(pcb.flags & TF_INFR).toBe(0);
    // RACK's reordering timer: 1 ms later 0 is lost, sent before 1 which arrived.
    advance(3, 1);
    drain();
    expect(sent_has(0)).toBe(true, "fast retransmit from RACK, not from three duplicates");
    expect(nsent).toBe(1, "only 0: 2..9 left after 1");
    expect(pcb.flags & TF_INFR).toBe(TF_INFR);
    expect(mib(TcpMib.RACK_LOST)).toBe(rack0 + 1);
    ack(S(10000));
    expect(pcb.flags & TF_INFR).toBe(0);
    expect(mib(TcpMib.RTO)).toBe(rto0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("the loss probe in recovery resends the segment at snd_una; the scoreboard survives the RTO and the go-back-N skips what was SACKed", () => {
    const pcb = connect();
    const rto0 = mib(TcpMib.RTO), tlp0 = mib(TcpMib.TLP);
    tcp_write(pcb, fill_pat(0, 10000), 10000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(10);
    // 0 lost; 1..2 and 5..6 arrive (3, 4, 7, 8, 9 lost too): recovery.
    sack_ack(0, 1000, 3000);
    sack_ack(0, 1000, 3000, 5000, 7000);
    advance(2, 1);
    drain();
    expect(sent_has(0)).toBe(true);
    expect(pcb.flags & TF_INFR).toBe(TF_INFR);
    // Then silence: the retransmission and whatever followed are lost. A
    // probe after 2·SRTT (10 ms here) resends 0 — not a timeout.
    advance(20, 1);
    drain();
    expect(mib(TcpMib.TLP)).toBe(tlp0 + 1);
    expect(sent_has(0)).toBe(true, "the probe is the segment at snd_una");
    expect(mib(TcpMib.RTO)).toBe(rto0);
    // Still nothing: the RTO fires. The board is kept (RFC 6675 §5.1).
    advance(400, 5);
    drain();
    expect(mib(TcpMib.RTO)).toBe(rto0 + 1);
    expect(pcb.flags & TF_RTO).toBe(TF_RTO);
    expect(sack_count(tcp_sb(pcb))).toBe(2);
    // The go-back-N: the peer ACKs what it gets, SACKing 5..6 meanwhile.
    // Segments 1, 2, 5 and 6 are never sent again.
    // A receiver holding 1, 2, 5 and 6: it ACKs what is contiguous and
    // SACKs the next block it holds above that.
    const have = new StaticArray<bool>(10);
    have[1] = have[2] = have[5] = have[6] = true;
    let resent_sacked = false;
    for (let guard = 0; pcb.snd_una != S(10000) && guard < 60; guard++) {
      for (let i: u32 = 0; i < nsent; i++) {
        const k = sent[i] / MSS;
        if (have[k] && (k == 1 || k == 2 || k == 5 || k == 6)) resent_sacked = true;
        have[k] = true;
      }
      let una: u32 = 0;
      while (una < 10 && have[una]) una++;
      let l = una;
      while (l < 10 && !have[l]) l++;
      let r = l;
      while (r < 10 && have[r]) r++;
      advance(5, 1);
      if (l < 10) sack_ack(una * MSS, l * MSS, r * MSS);
      else ack(S(una * MSS));
      drain();
    }
    expect(resent_sacked).toBe(false, "SACKed segments skipped after the timeout");
    expect(pcb.snd_una).toBe(S(10000));
    expect(mib(TcpMib.RTO)).toBe(rto0 + 1, "one timeout");
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("RACK after a timeout: a go-back-N retransmission that is lost is sent again when later data arrives, not by a second RTO", () => {
    const pcb = connect();
    const rto0 = mib(TcpMib.RTO), lost0 = mib(TcpMib.LOST_REXMIT);
    tcp_write(pcb, fill_pat(0, 6000), 6000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(6);
    // Everything and the probe lost: the RTO resends 0.
    advance(400, 5);
    drain();
    expect(mib(TcpMib.RTO)).toBe(rto0 + 1);
    expect(sent_has(0)).toBe(true);
    // 0 arrives; slow start sends 1 and 2 (and maybe more).
    ack(S(1000));
    drain();
    expect(sent_has(1000)).toBe(true);
    expect(sent_has(2000)).toBe(true);
    // 1 is lost again, 2 arrives (an RTT later: a retransmission ACKed
    // sooner than min_RTT could be its first copy's, RFC 8985 §6.2 step 2):
    // RACK (reo_wnd 0 in RTO recovery) resends 1 at once.
    advance(5, 1);
    sack_ack(1000, 2000, 3000);
    drain();
    expect(sent_has(1000)).toBe(true, "the lost retransmission again, at once");
    expect(mib(TcpMib.LOST_REXMIT)).toBe(lost0 + 1);
    ack(S(6000));
    expect(mib(TcpMib.RTO)).toBe(rto0 + 1, "no second timeout");
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("reneging (RFC 2018 §8): an ACK stopping at SACKed data clears the board, and that data is sent again", () => {
    const pcb = connect();
    const ren0 = mib(TcpMib.SACK_RENEGE);
    tcp_write(pcb, fill_pat(0, 6000), 6000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(6);
    // 0, 1 late; 2..3 SACKed.
    sack_ack(0, 2000, 4000);
    expect(sack_count(tcp_sb(pcb))).toBe(1);
    // The receiver then dropped 2..3 (its out-of-order queue was pruned):
    // its ACK covers 0..1 and stops where its SACK began.
    ack(S(2000));
    expect(mib(TcpMib.SACK_RENEGE)).toBe(ren0 + 1);
    expect(sack_count(tcp_sb(pcb))).toBe(0);
    // Nothing is skipped: 2 and 3 go again, soon (the timer is short now).
    let saw2 = false, saw3 = false;
    for (let i = 0; i < 20 && !(saw2 && saw3); i++) {
      drain();
      if (sent_has(2000)) saw2 = true;
      if (sent_has(3000)) saw3 = true;
      if (saw2 && !saw3) ack(S(3000));
      advance(50, 5);
    }
    expect(saw2).toBe(true);
    expect(saw3).toBe(true);
    ack(S(6000));
    expect(pcb.snd_una).toBe(S(6000));
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("a spurious timeout with SACK (Eifel, RFC 3522): the first ACK echoes the original; the go-back-N stops, cwnd comes back to where the timeout found it, the board stays", () => {
    const pcb = connect(true);
    const sp0 = mib(TcpMib.SPURIOUS_RTO), rto0 = mib(TcpMib.RTO);
    const m = <u32>pcb.mss; // 988: timestamps take 12 bytes
    tcp_write(pcb, fill_pat(0, 6 * m), 6 * m, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(out()).toBe(true);
    const ts_orig = o_tsval;
    expect(drain()).toBe(5);
    // 4 is SACKed: RACK soon calls 0..3 lost and fast recovery starts.
    const b = new StaticArray<u32>(2);
    b[0] = S(4 * m); b[1] = S(5 * m);
    opt_ts(150, ts_orig);
    opt_sack(1, b);
    ack(S(0));
    advance(3, 1);
    drain();
    expect(pcb.flags & TF_INFR).toBe(TF_INFR);
    const cwnd0 = tcp_cc(pcb).cwnd;
    // Then the ACKs stall (the receiver holds them): the probe, then the
    // RTO, which resends 0 with cwnd at one segment.
    advance(600, 5);
    drain();
    expect(mib(TcpMib.RTO)).toBe(rto0 + 1);
    expect(tcp_cc(pcb).cwnd).toBe(m);
    expect(sack_count(tcp_sb(pcb))).toBe(1);
    // The held ACK for 0..3 arrives, echoing the original transmissions.
    opt_ts(200, ts_orig);
    opt_sack(1, b);
    ack(S(4 * m));
    expect(mib(TcpMib.SPURIOUS_RTO)).toBe(sp0 + 1);
    expect(tcp_cc(pcb).cwnd).toBeGreaterThanOrEqual(cwnd0);
    expect(pcb.flags & TF_RTO).toBe(0);
    drain();
    expect(sent_has(4 * m)).toBe(false, "the SACKed segment is not resent");
    opt_ts(201, ts_orig);
    ack(S(6 * m));
    expect(pcb.snd_una).toBe(S(6 * m));
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });
});
