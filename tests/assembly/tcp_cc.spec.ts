// tcp_cc: NewReno (RFC 5681/3465/6582) and CUBIC (RFC 9438) window arithmetic.
import {
  cc_state, CC_STATE_SIZE, CcAlgo, CC_CWND_MAX, CC_SSTHRESH_INF,
  cc_init, cc_on_ack, cc_on_loss, cc_on_recovery_end, cc_on_rto, cc_on_idle_restart,
  cc_initial_window, cc_in_slow_start, cc_init_after_syn_loss,
} from "../../assembly/tcp/tcp_cc";

const buf = memory.data(64, 8);
const cc = changetype<cc_state>(buf);

/** One round trip with the pipe full: cwnd/mss ACKs of `per_ack` bytes each,
 *  spread over rtt_ms. Returns the time at the end. */
function round(mss: u32, per_ack: u32, now: u32, rtt_ms: u32): u32 {
  const acks = cc.cwnd / per_ack;
  for (let i: u32 = 0; i < acks; i++) {
    cc_on_ack(cc, mss, per_ack, cc.cwnd, now + (rtt_ms * i) / (acks == 0 ? 1 : acks), rtt_ms);
  }
  return now + rtt_ms;
}

describe("tcp_cc: initial window (RFC 6928)", () => {
  it("fits in the pcb", () => {
    expect(CC_STATE_SIZE).toBeLessThanOrEqual(64);
  });

  it("IW = min(10*MSS, max(2*MSS, 14600)) for several MSS", () => {
    expect(cc_initial_window(1460)).toBe(14600);
    expect(cc_initial_window(536)).toBe(5360);
    expect(cc_initial_window(1000)).toBe(10000);
    expect(cc_initial_window(1220)).toBe(12200);
    expect(cc_initial_window(4380)).toBe(14600);   // max(8760, 14600)
    expect(cc_initial_window(8960)).toBe(17920);   // 2*MSS above 14600
    expect(cc_initial_window(65495)).toBe(130990);
    expect(cc_initial_window(1)).toBe(10);
    expect(cc_initial_window(0)).toBe(10);         // MSS 0 treated as 1
    expect(cc_initial_window(0xffffffff)).toBe(2 << 20);  // SMSS capped at 1 MiB
  });

  it("cc_init sets IW and an infinite ssthresh for both algorithms", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1460);
    expect(cc.algo).toBe(CcAlgo.NEWRENO);
    expect(cc.cwnd).toBe(14600);
    expect(cc.ssthresh).toBe(CC_SSTHRESH_INF);
    expect(cc_in_slow_start(cc)).toBe(true);
    cc_init(cc, CcAlgo.CUBIC, 536);
    expect(cc.algo).toBe(CcAlgo.CUBIC);
    expect(cc.cwnd).toBe(5360);
    cc_init(cc, 99, 536);                          // unknown: NewReno
    expect(cc.algo).toBe(CcAlgo.NEWRENO);
  });
});

describe("tcp_cc: SYN loss", () => {
  it("a retransmitted SYN leaves an initial window of one SMSS (RFC 5681 §3.1)", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1460);
    cc_init_after_syn_loss(cc, 1460);
    expect(cc.cwnd).toBe(1460);
    expect(cc.ssthresh).toBe(CC_SSTHRESH_INF);
  });
});

describe("tcp_cc: slow start with ABC (RFC 5681 §3.1, RFC 3465 L = 2)", () => {
  it("doubles per RTT with an ACK per segment", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    let now: u32 = 0;
    let w = cc.cwnd;
    for (let r = 0; r < 5; r++) {
      now = round(1000, 1000, now, 100);
      expect(cc.cwnd).toBe(w * 2);
      w = cc.cwnd;
    }
    expect(cc.cwnd).toBe(320000);
  });

  it("doubles per RTT with delayed ACKs (2 segments per ACK)", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    let now: u32 = 0;
    for (let r = 0; r < 4; r++) now = round(1000, 2000, now, 100);
    expect(cc.cwnd).toBe(160000);
  });

  it("limits each ACK to L*SMSS: stretch ACKs of 4 segments grow 1.5x per RTT", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc_on_ack(cc, 1000, 4000, 10000, 0, 100);
    expect(cc.cwnd).toBe(12000);
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    round(1000, 4000, 0, 100);                      // 10000/4000 = 2 ACKs
    expect(cc.cwnd).toBe(14000);
  });

  it("stops at ssthresh and carries the rest into congestion avoidance", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 9000; cc.ssthresh = 10000;
    cc_on_ack(cc, 1000, 2000, 9000, 0, 100);
    expect(cc.cwnd).toBe(10000);
    expect(cc.bytes_acked).toBe(1000);
    expect(cc_in_slow_start(cc)).toBe(false);
  });

  it("does not grow when the application, not cwnd, limits the flight", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc_on_ack(cc, 1000, 1000, 2000, 0, 100);       // 2000 in flight of 10000
    expect(cc.cwnd).toBe(10000);
    cc_on_ack(cc, 1000, 1000, 5000, 0, 100);       // half the window: cwnd-limited
    expect(cc.cwnd).toBe(11000);
  });
});

describe("tcp_cc: NewReno congestion avoidance and loss (RFC 5681, 6582)", () => {
  it("grows about 1 SMSS per RTT (byte counting)", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 20000; cc.ssthresh = 20000;
    let now: u32 = 0;
    now = round(1000, 1000, now, 100);
    expect(cc.cwnd).toBe(21000);
    for (let r = 0; r < 9; r++) now = round(1000, 1000, now, 100);
    expect(cc.cwnd).toBe(30000);
    // delayed ACKs: still one SMSS per RTT (ABC, unlike per-ACK counting)
    cc.bytes_acked = 0;
    for (let r = 0; r < 10; r++) now = round(1000, 2000, now, 100);
    // (an odd cwnd leaves 1000 bytes of a round for the next one)
    expect(cc.cwnd).toBeGreaterThanOrEqual(39000);
    expect(cc.cwnd).toBeLessThanOrEqual(40000);
  });

  it("an ACK covering more than cwnd earns a single SMSS", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 20000; cc.ssthresh = 10000;
    cc_on_ack(cc, 1000, 100000, 20000, 0, 100);
    expect(cc.cwnd).toBe(21000);
    expect(cc.bytes_acked).toBeLessThan(21000);
  });

  it("fast retransmit: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 20000;
    cc_on_loss(cc, 1000, 20000, 0);
    expect(cc.ssthresh).toBe(10000);
    expect(cc.cwnd).toBe(10000);
    expect(cc.bytes_acked).toBe(0);
    cc_on_loss(cc, 1000, 1000, 0);                  // tiny flight: floor of 2 SMSS
    expect(cc.ssthresh).toBe(2000);
    expect(cc.cwnd).toBe(2000);
  });

  it("full ACK: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) (RFC 6582 §3.2 step 3)", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 20000;
    cc_on_loss(cc, 1000, 20000, 0);
    cc.cwnd += 3000;                                // the caller's inflation
    cc_on_recovery_end(cc, 1000, 3000);
    expect(cc.cwnd).toBe(4000);
    cc_on_recovery_end(cc, 1000, 20000);
    expect(cc.cwnd).toBe(10000);
    cc_on_recovery_end(cc, 1000, 0);
    expect(cc.cwnd).toBe(2000);
    expect(cc_in_slow_start(cc)).toBe(true);        // below ssthresh: slow start again
  });

  it("RTO: loss window of 1 SMSS; backed-off repeats keep ssthresh until new data is acked", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 20000;
    cc_on_rto(cc, 1000, 20000, 0);
    expect(cc.ssthresh).toBe(10000);
    expect(cc.cwnd).toBe(1000);
    cc_on_rto(cc, 1000, 20000, 1000);               // second expiry, same segment
    expect(cc.ssthresh).toBe(10000);
    expect(cc.cwnd).toBe(1000);
    cc_on_ack(cc, 1000, 1000, 1000, 2000, 100);     // progress: slow start
    expect(cc.cwnd).toBe(2000);
    cc_on_rto(cc, 1000, 6000, 3000);                // a new loss episode
    expect(cc.ssthresh).toBe(3000);
    expect(cc.cwnd).toBe(1000);
  });

  it("idle restart: cwnd = min(IW, cwnd) (RFC 5681 §4.1)", () => {
    cc_init(cc, CcAlgo.NEWRENO, 1000);
    cc.cwnd = 50000;
    cc_on_idle_restart(cc, 1000);
    expect(cc.cwnd).toBe(10000);
    cc.cwnd = 3000;
    cc_on_idle_restart(cc, 1000);
    expect(cc.cwnd).toBe(3000);
  });
});

describe("tcp_cc: CUBIC (RFC 9438)", () => {
  it("multiplicative decrease: β = 0.7, W_max = cwnd, cwnd_prior = cwnd (§4.6)", () => {
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, 0);
    expect(cc.ssthresh).toBe(70000);
    expect(cc.cwnd).toBe(70000);
    expect(cc.w_max).toBe(100000);
    expect(cc.cwnd_prior).toBe(100000);
    cc.cwnd = 2000;
    cc_on_loss(cc, 1000, 2000, 0);                  // floor of 2 SMSS
    expect(cc.ssthresh).toBe(2000);
  });

  it("fast convergence: a loss below the previous W_max sets W_max = cwnd·(1+β)/2 (§4.7)", () => {
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, 0);
    expect(cc.w_max).toBe(100000);
    cc.cwnd = 80000;
    cc_on_loss(cc, 1000, 80000, 0);
    expect(cc.w_max).toBe(68000);
    expect(cc.cwnd_prior).toBe(80000);
    expect(cc.ssthresh).toBe(56000);
    cc.cwnd = 90000;                                // above W_max now: plain W_max = cwnd
    cc_on_loss(cc, 1000, 90000, 0);
    expect(cc.w_max).toBe(90000);
  });

  it("K = ∛((W_max − cwnd_epoch)/C) and W(t) from the first CA stage after a loss", () => {
    // W_max = 100 segments, cwnd_epoch = 70: K = ∛(30 / 0.4) = ∛75 = 4.21716 s
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, 0);
    cc_on_ack(cc, 1000, 1000, 70000, 1000, 100);
    expect(Math.abs(cc.k - 4.2171633265)).toBeLessThan(1e-9);
    // t = 0: W_cubic(0) = 70 segments = cwnd, W_est = 70000 + α·1000·1000/70000
    // = 70007.56 (α = 3·0.3/1.7): the Reno-friendly estimate is ahead.
    expect(Math.abs(cc.w_est - 70007.5630252)).toBeLessThan(1e-6);
    expect(cc.cwnd).toBe(70007);
    // t = 2 s: W_cubic(2) = 95640 > W_est: concave region. target =
    // W_cubic(2 + RTT 0.1) = 0.4·(2.1 − K)³·1000 + 100000 = 96204.03;
    // cwnd += (target − cwnd)·acked/cwnd = 26197.03·1000/70007 = 374.2
    cc_on_ack(cc, 1000, 1000, 70007, 3000, 100);
    expect(cc.cwnd).toBe(70381);
    expect(Math.abs(cc.inc_frac - 0.2058267)).toBeLessThan(1e-5);
  });

  it("reaches W_max at t = K, then grows convexly past it, never slower than W_est", () => {
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, 0);
    // 100 ms RTT, ACK per segment, pipe full
    let now: u32 = 1000;
    while (now < 1000 + 4217 - 100) now = round(1000, 1000, now, 100);
    // one RTT before K the target is W(K) = W_max; growth per RTT is bounded
    // by the target, so cwnd is close to but not above W_max
    expect(cc.cwnd).toBeLessThanOrEqual(100000);
    expect(cc.cwnd).toBeGreaterThan(98000);
    // K + 3 s: W_cubic = W_max + 0.4·3³ segments = 110.8 segments. By then the
    // Reno estimate (α = 0.53 up to cwnd_prior, then 1 segment per RTT) has
    // caught up too; cwnd follows the larger of the two.
    while (now < 1000 + 4217 + 3000) now = round(1000, 1000, now, 100);
    const t = <f64>(now - 1000) / 1000.0 - cc.k;
    const w_cubic = 0.4 * t * t * t * 1000.0 + 100000.0;
    expect(<f64>cc.cwnd).toBeGreaterThanOrEqual(Math.min(w_cubic, cc.w_est) - 1000.0);
    expect(<f64>cc.cwnd).toBeLessThanOrEqual(Math.max(w_cubic + 1200.0, cc.w_est + 1.0));
    expect(cc.cwnd).toBeGreaterThan(108000);
  });

  it("convex region with a long RTT: cwnd tracks W_cubic(t) above W_max", () => {
    // 1 s RTT: Reno gains 1 segment per second, the cubic 0.4·t³.
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, 0);
    let now: u32 = 0;
    while (now < 10000) now = round(1000, 1000, now, 1000);
    // last round's ACKs ran at t ∈ [9, 10) s, aiming at W(t + 1): t − K ≈ 5.8
    // → W ≈ 100 + 0.4·5.8³ ≈ 178 segments; cwnd lags the target within a round.
    expect(cc.w_est).toBeLessThan(120000.0);
    expect(cc.cwnd).toBeGreaterThan(150000);
    expect(cc.cwnd).toBeLessThan(180000);
  });

  it("Reno-friendly region: small W_max and a short RTT follow W_est (§4.3)", () => {
    // W_max = 10 segments, cwnd 7: K = ∛7.5 = 1.96 s; W_cubic(1 s) = 9.65
    // segments while Reno grows ~1 segment per 10 ms RTT.
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 10000;
    cc_on_loss(cc, 1000, 10000, 0);
    expect(cc.cwnd).toBe(7000);
    let now: u32 = 0;
    while (now < 1000) now = round(1000, 1000, now, 10);
    // α = 0.53 until W_est ≥ cwnd_prior (10 segments, ~6 RTTs), then 1:
    // about 7 + 3 + (100 − 6) = 104 segments; the cubic alone would be < 10.
    expect(cc.cwnd).toBeGreaterThan(90000);
    expect(cc.cwnd).toBeLessThan(110000);
    expect(Math.abs(<f64>cc.cwnd - cc.w_est)).toBeLessThan(1000.0);
  });

  it("slow start below ssthresh as NewReno; CA without a prior loss starts at K = 0", () => {
    cc_init(cc, CcAlgo.CUBIC, 1000);
    round(1000, 1000, 0, 100);
    expect(cc.cwnd).toBe(20000);
    cc.ssthresh = 20000;
    cc_on_ack(cc, 1000, 1000, 20000, 200, 100);
    expect(cc.k).toBe(0.0);
    expect(cc.w_max).toBe(20000);
  });

  it("RTO: ssthresh by β, cwnd 1 SMSS; the next CA stage uses K = 0, W_max = cwnd (§4.8)", () => {
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_rto(cc, 1000, 100000, 0);
    expect(cc.ssthresh).toBe(70000);
    expect(cc.cwnd).toBe(1000);
    let now: u32 = 0;
    while (cc_in_slow_start(cc)) now = round(1000, 1000, now, 100);
    // the round that reached ssthresh fed its remaining ACKs to CA
    expect(cc.cwnd).toBeGreaterThanOrEqual(70000);
    expect(cc.cwnd).toBeLessThan(71000);
    expect(cc.k).toBe(0.0);
    expect(cc.w_max).toBe(70000);
  });

  it("handles now_ms wrapping inside an epoch", () => {
    const start: u32 = 0xffffffff - 999;            // 1 s before the wrap
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, start);
    cc_on_ack(cc, 1000, 1000, 70000, start, 100);
    cc_on_ack(cc, 1000, 1000, 70007, start + 2000, 100); // wraps to 999 + 1000
    expect(cc.cwnd).toBe(70381);                    // same as the unwrapped case
  });

  it("idle restart caps cwnd at IW and restarts the epoch", () => {
    cc_init(cc, CcAlgo.CUBIC, 1000);
    cc.cwnd = 100000;
    cc_on_loss(cc, 1000, 100000, 0);
    cc_on_ack(cc, 1000, 1000, 70000, 0, 100);
    cc_on_idle_restart(cc, 1000);
    expect(cc.cwnd).toBe(10000);
  });
});

describe("tcp_cc: extreme inputs never trap", () => {
  it("cwnd near 2^32, MSS 1 and 2^32-1, huge ACKs, srtt and clocks", () => {
    for (let algo: u32 = 0; algo < 2; algo++) {
      const msss: u32[] = [0, 1, 536, 65535, 0xffffffff];
      for (let i = 0; i < msss.length; i++) {
        const m = msss[i];
        cc_init(cc, algo, m);
        cc.cwnd = 0xfffffff0;
        cc_on_ack(cc, m, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
        expect(cc.cwnd).toBeLessThanOrEqual(CC_CWND_MAX);
        cc.ssthresh = 1;                            // force congestion avoidance
        cc.cwnd = 0xfffffff0;
        cc_on_ack(cc, m, 0xffffffff, 0xffffffff, 0, 0xffffffff);
        cc_on_ack(cc, m, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
        cc_on_ack(cc, m, 1, 0xffffffff, 0x7fffffff, 0);
        expect(cc.cwnd).toBeLessThanOrEqual(CC_CWND_MAX);
        cc.cwnd = 0xffffffff;
        cc_on_loss(cc, m, 0xffffffff, 0xffffffff);
        expect(cc.cwnd).toBeLessThanOrEqual(CC_CWND_MAX);
        expect(cc.cwnd).toBeGreaterThan(0);
        cc_on_ack(cc, m, 0xffffffff, 0xffffffff, 12345, 0xffffffff);
        cc_on_recovery_end(cc, m, 0xffffffff);
        expect(cc.cwnd).toBeLessThanOrEqual(CC_CWND_MAX);
        cc.cwnd = 0xffffffff;
        cc_on_rto(cc, m, 0xffffffff, 0);
        expect(cc.cwnd).toBeGreaterThan(0);
        cc_on_idle_restart(cc, m);
        cc_on_ack(cc, m, 1, 0, 0, 0);
        cc_on_ack(cc, m, 0, 0xffffffff, 0, 0);
        // a tiny cwnd with a huge W_max: K is large, W(t) strongly negative
        cc.cwnd = 1; cc.w_max = CC_CWND_MAX; cc.ssthresh = 1;
        cc_on_ack(cc, m, 1, 1, 0, 1);
        cc_on_ack(cc, m, 1, 1, 0x80000000, 0xffffffff);
        expect(cc.cwnd).toBeGreaterThan(0);
        expect(cc.cwnd).toBeLessThanOrEqual(CC_CWND_MAX);
        // garbage stored in the pcb is brought back into [SMSS, CC_CWND_MAX]
        cc.cwnd = 0;
        cc_on_idle_restart(cc, m);
        expect(cc.cwnd).toBeGreaterThan(0);
        cc.cwnd = 0xffffffff;
        cc_on_ack(cc, m, 0, 0, 0, 0);
        expect(cc.cwnd).toBe(CC_CWND_MAX);
      }
    }
  });
});
