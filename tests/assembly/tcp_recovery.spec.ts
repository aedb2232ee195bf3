// tcp: how a sender recovers from loss without waiting for the RTO —
// duplicate ACKs as RFC 6675 §2 defines them with SACK, limited transmit
// (RFC 3042), the partial ACK in SACK recovery, lost retransmissions found
// from later SACKs, and the tail loss probe (RFC 8985 §7). Each of these
// was missing once and cost a 200 ms+ timeout per loss (20 MB over 5% loss
// to Linux took a minute).
import { leak_mark, leak_check } from "./harness/leak";
import {
  tcp_pcb, tcp_new, tcp_connect, tcp_write, tcp_output, tcp_abort, tcp_nagle_disable, tcp_cc,
  tcp_mib_base, TcpMib, TCP_WRITE_FLAG_COPY, TF_INFR,
} from "../../assembly/tcp/tcp";
import {
  A, PEER_IP, harness_init, seg_in, out, fill_pat, tx_clear, advance, clock_sync, o_seq, o_sport, o_tsval,
  opt_mss, opt_sack_perm, opt_sack, opt_ts, cb_reset, install, on_connected, SYN, ACK,
} from "./harness/tcp";

let iss: u32 = 0;
let lp: u16 = 0;
const PSEQ: u32 = 5000;
const MSS: u32 = 1000;

/** Active open; the peer announces MSS 1000 and optionally SACK and timestamps. */
function connect(sack: bool, ts: bool = false): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  tcp_connect(pcb, A(PEER_IP), 7, on_connected);
  expect(out()).toBe(true);
  iss = o_seq; lp = o_sport;
  opt_mss(<u16>MSS);
  if (sack) opt_sack_perm();
  if (ts) opt_ts(100, o_tsval);
  advance(4, 1); // a 4 ms RTT sample from the handshake (RTO: the 200 ms minimum)
  seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, 65535);
  expect(out()).toBe(true); // our ACK (expect_seg would not know its options)
  tcp_nagle_disable(pcb);
  return pcb;
}
/** Stream offset `off` as a sequence number. */
// @ts-ignore: decorator
@inline function S(off: u32): u32 { return iss + 1 + off; }
function ack(a: u32, wnd: u16 = 65535): void { seg_in(7, lp, PSEQ + 1, a, ACK, wnd); }
/** An ACK of `a` SACKing [l, r) (stream offsets). */
function sack_ack(a: u32, l: u32, r: u32, wnd: u16 = 65535): void {
  const b = new StaticArray<u32>(2);
  b[0] = S(l); b[1] = S(r);
  opt_sack(1, b);
  ack(S(a), wnd);
}
/** Sends out everything queued; returns how many segments, and remembers their offsets. */
const sent = new StaticArray<u32>(256);
let nsent: u32 = 0;
function drain(): u32 {
  nsent = 0;
  while (out()) { if (nsent < 256) sent[nsent] = o_seq - S(0); nsent++; }
  return nsent;
}
function sent_has(off: u32): bool { for (let i: u32 = 0; i < nsent && i < 256; i++) if (sent[i] == off) return true; return false; }
function mib(c: TcpMib): u32 { return load<u32>(tcp_mib_base() + (<usize>c << 2)); }

describe("tcp loss recovery without the RTO", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => { tx_clear(); cb_reset(); clock_sync(); leak_mark(); });

  test("SACK: ACKs that SACK new data are duplicates even when the window changes (RFC 6675 §2)", () => {
    const pcb = connect(true);
    tcp_write(pcb, fill_pat(0, 8000), 8000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(8);
    // Segment 0 lost; the receiver's application reads meanwhile, so every
    // ACK announces a different window (RFC 5681 §2 would not count them).
    sack_ack(0, 1000, 2000, 65000);
    sack_ack(0, 1000, 3000, 64000);
    sack_ack(0, 1000, 4000, 63000);
    drain();
    expect(sent_has(0)).toBe(true, "the hole is resent (fast retransmit)");
    expect(pcb.flags & TF_INFR).toBe(TF_INFR);
    ack(S(8000));
    expect(pcb.flags & TF_INFR).toBe(0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SACK: ACKs that only repeat old blocks (a duplicate arrived) are not duplicates", () => {
    const pcb = connect(true);
    tcp_write(pcb, fill_pat(0, 8000), 8000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(8);
    // 1 arrives early (reordered), then three spurious copies of it: the
    // receiver ACKs each with the same block — nothing new is reported.
    sack_ack(0, 1000, 2000);
    sack_ack(0, 1000, 2000);
    sack_ack(0, 1000, 2000);
    sack_ack(0, 1000, 2000);
    drain();
    expect(sent_has(0)).toBe(false, "no fast retransmit");
    expect(pcb.flags & TF_INFR).toBe(0);
    ack(S(8000));
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("limited transmit (RFC 3042): each of the first two dupacks lets one new segment out", () => {
    const pcb = connect(false);
    tcp_cc(pcb).cwnd = 3 * MSS;
    tcp_write(pcb, fill_pat(0, 8000), 8000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(3);
    ack(S(0));
    expect(drain()).toBe(1);
    expect(sent[0]).toBe(3000);
    ack(S(0));
    expect(drain()).toBe(1);
    expect(sent[0]).toBe(4000);
    // the third: fast retransmit
    ack(S(0));
    drain();
    expect(sent_has(0)).toBe(true);
    expect(tcp_cc(pcb).cwnd).toBeLessThan(8 * MSS);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SACK limited transmit: a small window still collects enough SACKs to recover", () => {
    const pcb = connect(true);
    tcp_cc(pcb).cwnd = 3 * MSS;
    tcp_write(pcb, fill_pat(0, 8000), 8000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(3);
    // 0 lost, 1 and 2 arrive: two SACKs, not yet IsLost — new data goes out
    sack_ack(0, 1000, 2000);
    sack_ack(0, 1000, 3000);
    drain();
    expect(sent_has(3000)).toBe(true);
    sack_ack(0, 1000, 4000);
    drain();
    expect(sent_has(0)).toBe(true, "recovery began from the SACKs limited transmit drew");
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SACK recovery: a partial ACK resends the next hole at once", () => {
    const pcb = connect(true);
    tcp_write(pcb, fill_pat(0, 14000), 14000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(10);
    // 0 and 8 lost. SACKs for 1..7 start recovery at 0.
    for (let k: u32 = 2; k <= 8; k++) sack_ack(0, 1000, k * 1000);
    drain();
    expect(sent_has(0)).toBe(true);
    // The retransmission of 0 arrives: ACK 8000 (a partial ACK), 9 SACKed.
    sack_ack(8000, 9000, 10000);
    drain();
    expect(nsent).toBeGreaterThan(0);
    expect(sent[0]).toBe(8000, "the hole the partial ACK stopped at, before new data");
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SACK recovery: a lost retransmission is sent again once later data is SACKed", () => {
    const pcb = connect(true);
    tcp_write(pcb, fill_pat(0, 30000), 30000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(10);
    let times: u32 = 0;
    let right: u32 = 2000;
    const before = mib(TcpMib.LOST_REXMIT);
    // Segment 0 is lost, and so is its retransmission: the peer keeps SACKing
    // everything else as it arrives, including data sent after the retransmission.
    let mark: u32 = 0;
    for (let i = 0; i < 40 && times < 2; i++) {
      sack_ack(0, 1000, right);
      drain();
      if (sent_has(0)) { times++; mark = pcb.snd_max - S(0); }
      const top = pcb.snd_max - S(0);
      right = right + 1000 <= top ? right + 1000 : top;
    }
    expect(times).toBe(2, "resent a second time without a timeout");
    expect(mark).toBeGreaterThan(0);
    expect(mib(TcpMib.LOST_REXMIT)).toBe(before + 1);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("tail loss probe (RFC 8985 §7): unanswered segments draw a probe after 2·SRTT, long before the RTO", () => {
    const pcb = connect(true);
    const rto0 = mib(TcpMib.RTO), tlp0 = mib(TcpMib.TLP);
    tcp_write(pcb, fill_pat(0, 3000), 3000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(3);
    // SRTT 4 ms: the probe is due after max(2·SRTT, TCP_PTO_MIN) = 10 ms.
    advance(30, 1);
    expect(drain()).toBe(1);
    expect(sent[0]).toBe(2000, "the last segment again (nothing new to send)");
    expect(mib(TcpMib.TLP)).toBe(tlp0 + 1);
    expect(mib(TcpMib.RTO)).toBe(rto0);
    // The probe's SACK shows the tail arrived but 0 and 1 did not: recovery, not a timeout.
    sack_ack(0, 2000, 3000);
    drain();
    // Still no timeout if nothing more comes for a while: one probe per flight.
    advance(100, 5);
    expect(drain()).toBe(0);
    ack(S(3000));
    expect(mib(TcpMib.RTO)).toBe(rto0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("a spurious timeout (Eifel, RFC 3522): the ACK echoes the original, so the rest is not resent and cwnd comes back", () => {
    const pcb = connect(false, true);
    const sp0 = mib(TcpMib.SPURIOUS_RTO);
    const m = <u32>pcb.mss; // 988: timestamps take 12 bytes
    tcp_write(pcb, fill_pat(0, 5 * m), 5 * m, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(out()).toBe(true);
    const ts_orig = o_tsval;
    expect(drain()).toBe(4);
    const cwnd0 = tcp_cc(pcb).cwnd;
    // The ACKs are late (a queue grew): the RTO fires and resends segment 0.
    advance(250, 5);
    expect(drain()).toBe(1);
    expect(sent[0]).toBe(0);
    expect(tcp_cc(pcb).cwnd).toBe(m);
    // Then the ACK for the original arrives, echoing its timestamp.
    opt_ts(200, ts_orig);
    ack(S(m));
    expect(drain()).toBe(0, "segments 1-4 went once and are not sent again");
    expect(mib(TcpMib.SPURIOUS_RTO)).toBe(sp0 + 1);
    expect(tcp_cc(pcb).cwnd).toBeGreaterThanOrEqual(cwnd0);
    opt_ts(201, ts_orig);
    ack(S(5 * m));
    expect(pcb.snd_una).toBe(S(5 * m));
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("a real timeout: the ACK echoes the retransmission, go-back-N goes on", () => {
    const pcb = connect(false, true);
    const sp0 = mib(TcpMib.SPURIOUS_RTO);
    const m = <u32>pcb.mss; // 988: timestamps take 12 bytes
    tcp_write(pcb, fill_pat(0, 5 * m), 5 * m, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(5);
    advance(250, 5);
    expect(out()).toBe(true);
    const ts_rxt = o_tsval;
    expect(o_seq).toBe(S(0));
    opt_ts(200, ts_rxt);
    ack(S(m));
    expect(drain()).toBeGreaterThan(0, "slow start resends from the second segment");
    expect(sent[0]).toBe(m);
    expect(mib(TcpMib.SPURIOUS_RTO)).toBe(sp0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("no probe without SACK: the RTO alone (a probe could not show which segment is missing)", () => {
    const pcb = connect(false);
    tcp_write(pcb, fill_pat(0, 3000), 3000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(drain()).toBe(3);
    advance(100, 5);
    expect(drain()).toBe(0);
    advance(200, 5);
    expect(drain()).toBe(1);
    expect(sent[0]).toBe(0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });
});
