// tcp_cc: congestion control behind one small interface (NewReno and CUBIC).
//
// The engine (tcp_in/tcp_out) owns loss detection, recovery state and the
// retransmission queue; this file owns only the window arithmetic: cwnd,
// ssthresh and what each algorithm needs to grow them. All windows are in
// bytes; "MSS" below is the sender's SMSS as the engine passes it in.
//
// Calls the engine makes (see each function for the RFC it implements):
//   cc_init            connection start: IW (RFC 6928), ssthresh = "infinite"
//                      (call again when the handshake settles the MSS: IW
//                      depends on it; cc_init_after_syn_loss if the SYN or
//                      SYN-ACK had to be retransmitted)
//   cc_on_ack          new data cumulatively ACKed, NOT in fast recovery
//   cc_on_loss         entering fast recovery (3 dupacks or RFC 6675 IsLost)
//   cc_on_recovery_end full ACK ends fast recovery (RFC 6582 §3.2 step 3)
//   cc_on_rto          retransmission timer expired (every expiry)
//   cc_on_idle_restart sending after an idle period longer than the RTO
//
// `flight` everywhere is FlightSize (RFC 5681 §2): bytes sent but not yet
// cumulatively acknowledged, measured when the event happened — for cc_on_ack
// that is BEFORE the ACK is applied (snd_nxt - old snd_una), so that a full
// window being acked reads as "cwnd-limited".
//
// Floating point: CUBIC's cube and cube root use f64. The mvp build disables
// nontrapping float-to-int, so every f64 -> integer conversion goes through
// f64_to_u32 (clamped, NaN -> 0) and can never trap.
//
//   class cc_state (56 bytes, embedded in the pcb):
//   +0  algo u32       +4  cwnd u32       +8  ssthresh u32    +12 bytes_acked u32
//   +16 w_max u32      +20 cwnd_prior u32 +24 epoch_start u32 +28 flags u32
//   +32 k f64 (s)      +40 w_est f64 (bytes)  +48 inc_frac f64 (bytes)

export const enum CcAlgo { NEWRENO = 0, CUBIC = 1 }

/** Largest cwnd we ever hold: the largest window a peer can offer (RFC 7323
 *  §2.3: 2^30 with shift 14). Keeps every sum below 2^31, so the engine can add
 *  cwnd to a sequence number or compare it with a window without overflow. */
export const CC_CWND_MAX: u32 = 0x40000000;
/** ssthresh before the first loss: "arbitrarily high" (RFC 5681 §3.1). */
export const CC_SSTHRESH_INF: u32 = 0xffffffff;

/** RFC 3465 §2.2: L, the slow-start byte-counting limit, in SMSS. */
const ABC_L: u32 = 2;
/** RFC 9438 §4.2: C = 0.4 (segments / s^3). */
const CUBIC_C: f64 = 0.4;
/** RFC 9438 §4.6: β_cubic = 0.7. */
const CUBIC_BETA: f64 = 0.7;
/** RFC 9438 §4.3: α_cubic = 3 (1 − β_cubic) / (1 + β_cubic) ≈ 0.529. */
const CUBIC_ALPHA: f64 = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);

/** flags: a congestion-avoidance epoch is running (epoch_start, k, w_est valid). */
const CCF_EPOCH: u32 = 1;
/** flags: the last window reduction was an RTO (RFC 9438 §4.8: next CA stage
 *  uses K = 0 and W_max = cwnd at its start). */
const CCF_AFTER_RTO: u32 = 2;
/** flags: cc_on_rto already ran with no new data acked since: a backed-off
 *  retransmission of the same segment keeps ssthresh (RFC 5681 §3.1 eq. 4
 *  applies to the first retransmission only). */
const CCF_IN_RTO: u32 = 4;

@unmanaged
export class cc_state {
  algo: u32;
  cwnd: u32;
  ssthresh: u32;
  /** NewReno: RFC 3465 bytes_acked counter in congestion avoidance. */
  bytes_acked: u32;
  /** CUBIC W_max in bytes (RFC 9438 §4.2, after fast convergence §4.7). */
  w_max: u32;
  /** CUBIC cwnd_prior: cwnd just before the last reduction (RFC 9438 §4.3). */
  cwnd_prior: u32;
  /** CUBIC: now_ms at the start of the current congestion-avoidance stage. */
  epoch_start: u32;
  flags: u32;
  /** CUBIC K in seconds (RFC 9438 §4.2 eq. 2). */
  k: f64;
  /** CUBIC W_est in bytes (RFC 9438 §4.3 eq. 4). */
  w_est: f64;
  /** CUBIC: fractional bytes of cwnd growth not yet applied. */
  inc_frac: f64;
}

export const CC_STATE_SIZE: u32 = <u32>offsetof<cc_state>();

// ---------------------------------------------------------------- helpers

/** f64 -> u32 that cannot trap (mvp has no nontrapping-f2i): NaN and
 *  negatives give 0, anything above `max` gives `max`. */
// @ts-ignore: decorator
@inline function f64_to_u32(x: f64, max: u32): u32 {
  if (!(x > 0.0)) return 0;                 // also catches NaN
  if (x >= <f64>max) return max;
  return <u32>x;
}

// @ts-ignore: decorator
@inline function umin(a: u32, b: u32): u32 { return a < b ? a : b; }
// @ts-ignore: decorator
@inline function umax(a: u32, b: u32): u32 { return a > b ? a : b; }

/** a + b saturating at CC_CWND_MAX (u64 so nothing wraps). */
// @ts-ignore: decorator
@inline function cwnd_add(a: u32, b: u32): u32 {
  const s = <u64>a + <u64>b;
  return s > <u64>CC_CWND_MAX ? CC_CWND_MAX : <u32>s;
}

/** Largest SMSS the formulas take (far above any real MSS: the MSS option is
 *  16 bits); keeps 10*SMSS and friends well inside u32. */
const SMSS_MAX: u32 = 1 << 20;

/** An MSS of 0 would make every formula degenerate; treat it as 1. */
// @ts-ignore: decorator
@inline function smss(mss: u32): u32 { return mss == 0 ? 1 : mss > SMSS_MAX ? SMSS_MAX : mss; }

/** RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)). */
export function cc_initial_window(mss: u32): u32 {
  const m = <u64>smss(mss);
  let iw = m * 2 > 14600 ? m * 2 : <u64>14600;
  if (m * 10 < iw) iw = m * 10;
  return iw > <u64>CC_CWND_MAX ? CC_CWND_MAX : <u32>iw;
}

/** RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
function reno_ssthresh(mss: u32, flight: u32): u32 {
  return umax(flight >> 1, two_smss(mss));
}

/** 2*SMSS, the floor of every ssthresh (u64: an absurd MSS must not wrap). */
function two_smss(mss: u32): u32 {
  const t = <u64>smss(mss) * 2;
  return t > <u64>CC_CWND_MAX ? CC_CWND_MAX : <u32>t;
}

/** RFC 9438 §4.6: ssthresh = max(cwnd * β_cubic, 2*SMSS). cwnd rather than
 *  FlightSize, as Linux and the RFC's figure do; cc_on_ack only grows cwnd
 *  while the sender is cwnd-limited, which is the "other measure" the RFC
 *  asks of implementations that use cwnd here. */
function cubic_ssthresh(cc: cc_state, mss: u32): u32 {
  const t = f64_to_u32(<f64>cc.cwnd * CUBIC_BETA, CC_CWND_MAX);
  return umax(t, two_smss(mss));
}

/** Keeps cwnd within [SMSS, CC_CWND_MAX] whatever was stored before (a pcb
 *  field the engine or a test set directly, an MSS that changed). */
function sane(cc: cc_state, m: u32): void {
  if (cc.cwnd > CC_CWND_MAX) cc.cwnd = CC_CWND_MAX;
  if (cc.cwnd < m) cc.cwnd = m;
}

// ---------------------------------------------------------------- interface

/** Connection start: cwnd = IW (RFC 6928), ssthresh arbitrarily high
 *  (RFC 5681 §3.1), no CUBIC history. */
export function cc_init(cc: cc_state, algo: u32, mss: u32): void {
  cc.algo = algo == CcAlgo.CUBIC ? CcAlgo.CUBIC : CcAlgo.NEWRENO;
  cc.cwnd = cc_initial_window(mss);
  cc.ssthresh = CC_SSTHRESH_INF;
  cc.bytes_acked = 0;
  cc.w_max = 0;
  cc.cwnd_prior = 0;
  cc.epoch_start = 0;
  cc.flags = 0;
  cc.k = 0.0;
  cc.w_est = 0.0;
  cc.inc_frac = 0.0;
}

/** The handshake needed a retransmitted SYN or SYN-ACK: RFC 5681 §3.1 (kept
 *  by RFC 6928 §2) — the initial window after a correctly transmitted SYN
 *  MUST be one SMSS. Call once the connection is established (after cc_init
 *  with the negotiated MSS). ssthresh is left as is. */
export function cc_init_after_syn_loss(cc: cc_state, mss: u32): void {
  cc.cwnd = smss(mss);
  cc.bytes_acked = 0;
}

/** Switches algorithm mid-connection (tcp_set_cc): keeps cwnd and ssthresh,
 *  restarts the algorithm's private history. */
export function cc_set_algo(cc: cc_state, algo: u32): void {
  cc.algo = algo == CcAlgo.CUBIC ? CcAlgo.CUBIC : CcAlgo.NEWRENO;
  cc.bytes_acked = 0;
  cc.flags &= ~CCF_EPOCH;
  cc.inc_frac = 0.0;
}

/** True while cwnd < ssthresh (RFC 5681 §3.1: slow start). */
export function cc_in_slow_start(cc: cc_state): bool {
  return cc.cwnd < cc.ssthresh;
}

/**
 * New data cumulatively ACKed outside fast recovery.
 *
 * Growth happens only while the sender is cwnd-limited (FlightSize ≥ cwnd/2,
 * the test Linux uses; RFC 7661 §4.1 and RFC 9438 §4.6 ask that cwnd not grow
 * when the application, not the window, limits the flight).
 *
 * Slow start (cwnd < ssthresh), both algorithms — RFC 5681 §3.1 with RFC 3465
 * §2.2 Appropriate Byte Counting: cwnd += min(acked, L*SMSS), L = 2. Growth
 * stops at ssthresh; bytes beyond it count toward congestion avoidance.
 *
 * Congestion avoidance:
 *  NewReno — RFC 5681 §3.1 / RFC 3465 §2.1: bytes_acked += acked; when
 *   bytes_acked ≥ cwnd: bytes_acked −= cwnd, cwnd += SMSS (≈ 1 SMSS per RTT).
 *  CUBIC — RFC 9438 §4.2–4.5, see cubic_ca().
 */
export function cc_on_ack(cc: cc_state, mss: u32, acked: u32, flight: u32, now_ms: u32, srtt_ms: u32): void {
  const m = smss(mss);
  sane(cc, m);
  if (acked == 0) return;
  cc.flags &= ~CCF_IN_RTO;
  if (<u64>flight * 2 < <u64>cc.cwnd) return;         // application-limited: hold cwnd

  let rest = acked;
  if (cc.cwnd < cc.ssthresh) {
    // RFC 3465 §2.2: increase by the bytes acked, at most L*SMSS per ACK.
    const lim = <u64>m * ABC_L;
    let inc = <u64>acked < lim ? acked : <u32>lim;
    const room = cc.ssthresh - cc.cwnd;                // > 0 here
    if (inc > room) inc = room;
    cc.cwnd = cwnd_add(cc.cwnd, inc);
    if (cc.cwnd < cc.ssthresh) return;
    // Crossed ssthresh: the bytes not used for slow start feed CA below.
    rest = acked > inc ? acked - inc : 0;
    if (rest == 0) return;
  }
  if (cc.algo == CcAlgo.CUBIC) cubic_ca(cc, m, rest, now_ms, srtt_ms);
  else reno_ca(cc, m, rest);
}

/** RFC 5681 §3.1 congestion avoidance with RFC 3465 §2.1 byte counting. */
function reno_ca(cc: cc_state, m: u32, acked: u32): void {
  const total = <u64>cc.bytes_acked + <u64>acked;
  if (total >= <u64>cc.cwnd) {
    const left = total - <u64>cc.cwnd;
    cc.cwnd = cwnd_add(cc.cwnd, m);
    // Never carry more than one window's worth: an ACK of a huge range still
    // earns one SMSS (RFC 3465 §2.1 increases cwnd once per cwnd bytes).
    cc.bytes_acked = left >= <u64>cc.cwnd ? cc.cwnd - 1 : <u32>left;
  } else {
    cc.bytes_acked = <u32>total;
  }
}

/**
 * CUBIC congestion avoidance (RFC 9438), windows converted to bytes:
 *
 *  §4.2 eq. 1  W_cubic(t) = C·(t − K)³ + W_max          (segments, t in s)
 *  §4.2 eq. 2  K = ∛((W_max − cwnd_epoch) / C)           (0 if W_max ≤ cwnd_epoch)
 *       t is the time since the CA stage began (epoch_start, set by the
 *       first ACK in CA after a reduction or at the end of slow start).
 *  §4.3 eq. 4  W_est += α_cubic · segments_acked / cwnd   (per ACK)
 *       α_cubic = 3(1 − β)/(1 + β) until W_est ≥ cwnd_prior, then 1.
 *       If W_cubic(t) < W_est: Reno-friendly region, cwnd = W_est.
 *  §4.4/4.5    target = W_cubic(t + RTT), bounded to [cwnd, 1.5·cwnd];
 *       cwnd += (target − cwnd)/cwnd per SMSS acked — in bytes:
 *       cwnd += (target − cwnd) · acked / cwnd.
 *  §4.8 After an RTO, the first CA stage uses K = 0 and W_max = cwnd at its
 *       start.
 */
function cubic_ca(cc: cc_state, m: u32, acked: u32, now_ms: u32, srtt_ms: u32): void {
  const mf = <f64>m;
  if (!(cc.flags & CCF_EPOCH)) {
    cc.flags |= CCF_EPOCH;
    cc.epoch_start = now_ms;
    cc.inc_frac = 0.0;
    cc.w_est = <f64>cc.cwnd;                           // §4.3: W_est = cwnd at the stage's start
    if ((cc.flags & CCF_AFTER_RTO) || cc.w_max <= cc.cwnd) {
      // §4.8 after an RTO: K = 0, W_max = cwnd at the stage's start. The same
      // when slow start ended without a loss (no W_max yet) or cwnd is
      // already past W_max: the curve starts on its plateau and then probes
      // upward along the convex part.
      cc.flags &= ~CCF_AFTER_RTO;
      cc.w_max = cc.cwnd;
      cc.k = 0.0;
    } else {
      cc.k = Math.cbrt((<f64>(cc.w_max - cc.cwnd) / mf) / CUBIC_C);
    }
  }
  // Elapsed time in the epoch; u32 subtraction handles now_ms wrapping.
  const t = <f64>(now_ms - cc.epoch_start) / 1000.0;
  const rtt = <f64>srtt_ms / 1000.0;
  const cwnd = <f64>cc.cwnd;

  // §4.3: the Reno-friendly estimate.
  const alpha = cc.w_est >= <f64>cc.cwnd_prior ? 1.0 : CUBIC_ALPHA;
  cc.w_est += alpha * <f64>acked * mf / cwnd;
  if (cc.w_est > <f64>CC_CWND_MAX) cc.w_est = <f64>CC_CWND_MAX;

  const w_t = cubic_w(cc, mf, t);
  if (w_t < cc.w_est) {
    // Reno-friendly region: cwnd follows W_est.
    const w = f64_to_u32(cc.w_est, CC_CWND_MAX);
    if (w > cc.cwnd) cc.cwnd = w;
    cc.inc_frac = 0.0;
    return;
  }
  // §4.4 concave / §4.5 convex region.
  let target = cubic_w(cc, mf, t + rtt);
  if (target < cwnd) target = cwnd;
  if (target > cwnd * 1.5) target = cwnd * 1.5;
  const inc = (target - cwnd) * <f64>acked / cwnd + cc.inc_frac;
  const whole = f64_to_u32(inc, CC_CWND_MAX);
  cc.inc_frac = inc - <f64>whole;
  if (!(cc.inc_frac >= 0.0 && cc.inc_frac < 1.0)) cc.inc_frac = 0.0;
  cc.cwnd = cwnd_add(cc.cwnd, whole);
}

/** RFC 9438 §4.2 eq. 1 in bytes: (C·(t − K)³)·SMSS + W_max. */
function cubic_w(cc: cc_state, mf: f64, t: f64): f64 {
  const d = t - cc.k;
  return CUBIC_C * d * d * d * mf + <f64>cc.w_max;
}

/**
 * Entering fast recovery (the third duplicate ACK, or RFC 6675 loss
 * detection). Sets ssthresh and cwnd = ssthresh.
 *
 *  NewReno — RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 2:
 *    ssthresh = max(FlightSize/2, 2*SMSS). The caller then inflates cwnd by
 *    3*SMSS for NewReno fast recovery (RFC 6582 §3.2 step 3 — and by SMSS per
 *    further dupack); with SACK loss recovery (RFC 6675 §5) there is no
 *    inflation at all: pipe is compared with cwnd = ssthresh.
 *  CUBIC — RFC 9438 §4.6: ssthresh = max(cwnd·β_cubic, 2*SMSS);
 *    cwnd_prior = cwnd; §4.7 fast convergence: W_max = cwnd·(1 + β)/2 if cwnd
 *    is below the previous W_max (we are losing ground to a new flow), else
 *    W_max = cwnd. The next CA stage starts a new epoch.
 */
export function cc_on_loss(cc: cc_state, mss: u32, flight: u32, now_ms: u32): void {
  const m = smss(mss);
  sane(cc, m);
  if (flight > CC_CWND_MAX) flight = CC_CWND_MAX;
  if (cc.algo == CcAlgo.CUBIC) cubic_reduce(cc, m);
  else cc.ssthresh = reno_ssthresh(m, flight);
  cc.cwnd = cc.ssthresh;
  cc.bytes_acked = 0;
  cc.flags &= ~(CCF_EPOCH | CCF_AFTER_RTO);
}

/** RFC 9438 §4.6 and §4.7 (fast convergence). */
function cubic_reduce(cc: cc_state, m: u32): void {
  const cwnd = cc.cwnd;
  if (cwnd < cc.w_max) {
    cc.w_max = f64_to_u32(<f64>cwnd * (1.0 + CUBIC_BETA) / 2.0, CC_CWND_MAX);
  } else {
    cc.w_max = cwnd;
  }
  cc.cwnd_prior = cwnd;
  cc.ssthresh = cubic_ssthresh(cc, m);
}

/**
 * A full ACK ends fast recovery — RFC 6582 §3.2 step 3, option (2):
 * cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), FlightSize measured
 * after the ACK. Deflating to this value rather than to ssthresh avoids a
 * burst when little is in flight. Same for CUBIC (RFC 9438 leaves recovery to
 * RFC 6582/6675).
 */
export function cc_on_recovery_end(cc: cc_state, mss: u32, flight: u32): void {
  const m = smss(mss);
  const f = umin(umax(flight, m), CC_CWND_MAX);
  cc.cwnd = umin(cc.ssthresh, cwnd_add(f, m));
  if (cc.cwnd < m) cc.cwnd = m;
  cc.bytes_acked = 0;
}

/**
 * The retransmission timer expired — RFC 5681 §3.1 eq. 4 and loss window:
 * ssthresh = max(FlightSize/2, 2*SMSS) (CUBIC: RFC 9438 §4.8 uses the §4.6
 * β_cubic reduction instead), cwnd = LW = 1 SMSS. Call on every expiry: a
 * repeated expiry with no new data acked since (a backed-off retransmission
 * of the same segment) keeps ssthresh, as RFC 5681 §3.1 ("ssthresh ... held
 * constant") asks.
 */
export function cc_on_rto(cc: cc_state, mss: u32, flight: u32, now_ms: u32): void {
  const m = smss(mss);
  sane(cc, m);
  if (flight > CC_CWND_MAX) flight = CC_CWND_MAX;
  if (!(cc.flags & CCF_IN_RTO)) {
    if (cc.algo == CcAlgo.CUBIC) {
      cubic_reduce(cc, m);
      cc.flags |= CCF_AFTER_RTO;
    } else {
      cc.ssthresh = reno_ssthresh(m, flight);
    }
  }
  cc.cwnd = umin(m, CC_CWND_MAX);
  cc.bytes_acked = 0;
  cc.flags = (cc.flags & ~CCF_EPOCH) | CCF_IN_RTO;
}

/**
 * Sending again after an idle period longer than the RTO — RFC 5681 §4.1:
 * cwnd = min(RW, cwnd) with RW = min(IW, cwnd), IW per RFC 6928. CUBIC also
 * restarts its epoch so the idle time does not count as growth time.
 */
export function cc_on_idle_restart(cc: cc_state, mss: u32): void {
  const iw = cc_initial_window(mss);
  sane(cc, smss(mss));
  if (cc.cwnd > iw) cc.cwnd = iw;
  cc.bytes_acked = 0;
  cc.flags &= ~CCF_EPOCH;
}
