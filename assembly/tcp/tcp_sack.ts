// tcp_sack: the sender's SACK scoreboard (RFC 2018 blocks, RFC 6675 loss
// recovery).
//
// The scoreboard remembers which bytes above snd_una the peer has SACKed, as
// at most SACK_MAX_RANGES sorted, disjoint, non-adjacent [start, end) ranges
// (end exclusive). On top of it sit the RFC 6675 routines the engine calls
// during loss recovery: IsLost, SetPipe (sack_pipe) and NextSeg
// (sack_next_seg), with HighRxt and RescueRxt kept here.
//
// Sequence numbers follow the RFC's octet numbering converted to asip's
// exclusive ends:
//   RFC 6675 HighACK  = snd_una − 1  (we pass snd_una)
//   RFC 6675 HighData = snd_nxt − 1  (we pass snd_nxt)
//   high_rxt  = one past the highest octet retransmitted in this recovery
//               (RFC HighRxt + 1); starts at snd_una; meaningful only while
//               SBF_RXT is set: from the first reported retransmission or
//               sack_enter_recovery (whichever comes first — the engine may
//               report its fast retransmit before or after entering
//               recovery) until the ACK passes it / recovery_point, or a reset
//   rescue_rxt = RFC RescueRxt + 1, valid when SBF_RESCUE is set
//   recovery_point = snd_nxt when recovery began (RFC RecoveryPoint + 1)
// All comparisons wrap (tcp_seq.ts); everything on the board lies within
// (snd_una, snd_nxt], less than 2^31 bytes, so signed differences are exact.
//
// How the engine uses it:
//   ACK arrives:  sack_advance(sb, new_una); sack_update(sb, new_una, snd_nxt,
//                 blocks, n)  (the order does not matter)
//   loss detected (3 dupacks or sack_is_lost(snd_una)): sack_enter_recovery
//   while cwnd − pipe ≥ SMSS: sack_next_seg → send → sack_on_sent(rule, seq, len)
//   RACK (tcp_rack.ts) marked segments lost: sack_set_rack_lost(sb, end)
//   RTO: sack_leave_recovery — the board itself is kept (see there)
//   after sack_advance: sack_reneged(sb, snd_una) → sack_reset
//
//   class sack_board (84 bytes):
//   +0  n u16  flags u16   +4  high_rxt u32   +8  rescue_rxt u32
//   +12 recovery_point u32 +16 start[8] u32   +48 end[8] u32
//   +80 rack_lost u32 (valid with SBF_RLOST)

import { seq_lt, seq_leq, seq_gt, seq_geq, seq_max, seq_min } from "./tcp_seq";

/** Ranges kept; Linux keeps 4 per option but up to 32 on the board; 8 covers
 *  the 3–4 blocks an option carries plus history. */
export const SACK_MAX_RANGES: u32 = 8;
/** RFC 6675 §2: DupThresh. */
export const SACK_DUPTHRESH: u32 = 3;

/** sack_next_seg results. */
export const SACK_NEXT_NONE: u32 = 0;
export const SACK_NEXT_RULE1: u32 = 1;   // retransmit a lost hole
export const SACK_NEXT_NEW: u32 = 2;     // new data
export const SACK_NEXT_RULE3: u32 = 3;   // retransmit a hole not yet deemed lost
export const SACK_NEXT_RESCUE: u32 = 4;  // rescue retransmission

/** flags: rescue_rxt holds a value (RFC 6675: RescueRxt defined). */
const SBF_RESCUE: u16 = 1;
/** flags: in loss recovery (sack_enter_recovery ran, no reset since). */
const SBF_RECOVERY: u16 = 2;
/** flags: high_rxt holds a value. */
const SBF_RXT: u16 = 4;
/** flags: rack_lost holds a value. */
const SBF_RLOST: u16 = 8;

@unmanaged
export class sack_board {
  n: u16;
  flags: u16;
  high_rxt: u32;
  rescue_rxt: u32;
  recovery_point: u32;
  // start[8] and end[8] follow, reached through the accessors below.
}

const OFF_START: usize = 16;
const OFF_END: usize = OFF_START + 4 * SACK_MAX_RANGES;
const OFF_RLOST: usize = OFF_END + 4 * SACK_MAX_RANGES;
export const SACK_BOARD_SIZE: u32 = <u32>OFF_RLOST + 4;

// @ts-ignore: decorator
@inline function r_start(sb: sack_board, i: u32): u32 { return load<u32>(changetype<usize>(sb) + OFF_START + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function r_end(sb: sack_board, i: u32): u32 { return load<u32>(changetype<usize>(sb) + OFF_END + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function set_range(sb: sack_board, i: u32, s: u32, e: u32): void {
  const b = changetype<usize>(sb) + (<usize>i << 2);
  store<u32>(b + OFF_START, s);
  store<u32>(b + OFF_END, e);
}

/** Range i (0-based, ascending) of the board, for the engine and tests. */
export function sack_range_start(sb: sack_board, i: u32): u32 { return r_start(sb, i); }
export function sack_range_end(sb: sack_board, i: u32): u32 { return r_end(sb, i); }
export function sack_count(sb: sack_board): u32 { return sb.n; }
/** HighRxt (exclusive); meaningful only in recovery. */
export function sack_high_rxt(sb: sack_board): u32 { return sb.high_rxt; }
export function sack_in_recovery(sb: sack_board): bool { return (sb.flags & SBF_RECOVERY) != 0; }

/** Empties the board and leaves recovery. */
export function sack_reset(sb: sack_board): void {
  memory.fill(changetype<usize>(sb), 0, SACK_BOARD_SIZE);
}

/**
 * A retransmission timeout: loss recovery ends (RFC 6675 §5.1: HighRxt,
 * RescueRxt and RecoveryPoint no longer apply; the engine keeps its own
 * RecoveryPoint so no new recovery starts before it is acknowledged), but
 * the SACKed ranges stay. RFC 2018 §8 lets a receiver discard SACKed data
 * (renege), so it advises turning the SACKed bits off after a timeout;
 * Linux keeps them unless the receiver is seen reneging, and so does asip
 * (sack_reneged): the go-back-N after the timeout then skips what the
 * receiver holds instead of sending the whole window again.
 */
export function sack_leave_recovery(sb: sack_board): void {
  sb.flags &= ~(SBF_RECOVERY | SBF_RXT | SBF_RESCUE | SBF_RLOST);
  sb.high_rxt = 0;
  sb.rescue_rxt = 0;
  sb.recovery_point = 0;
}

/**
 * After sack_advance(sb, snd_una): has the receiver reneged (RFC 2018 §8)?
 * A receiver that still held a SACKed block starting at or below its new
 * cumulative ACK would have acknowledged past it; an ACK that stops at, or
 * inside, a SACKed range means the receiver dropped that data (Linux
 * tcp_check_sack_reneging tests the same: the segment at snd_una is marked
 * SACKed). The engine then clears the board and lets retransmission
 * resend what it skipped.
 */
export function sack_reneged(sb: sack_board, snd_una: u32): bool {
  return sb.n > 0 && r_start(sb, 0) == snd_una;
}

/**
 * RACK (RFC 8985) declared the segments up to `end` lost — every unSACKed
 * octet below `end` counts as lost for SetPipe and NextSeg (RFC 8985 §4:
 * RACK replaces the DupThresh rule of IsLost). Original transmissions go
 * out in sequence order, so when RACK finds one lost every older unSACKed
 * one is lost too; retransmissions below HighRxt are counted by rule (b)
 * of SetPipe and the engine resends those itself.
 */
export function sack_set_rack_lost(sb: sack_board, end: u32): void {
  const a = changetype<usize>(sb) + OFF_RLOST;
  if ((sb.flags & SBF_RLOST) == 0 || seq_gt(end, load<u32>(a))) store<u32>(a, end);
  sb.flags |= SBF_RLOST;
}

/** The RACK lost mark, never below snd_una (snd_una when none). */
function rack_mark(sb: sack_board, snd_una: u32): u32 {
  if ((sb.flags & SBF_RLOST) == 0) return snd_una;
  return seq_max(load<u32>(changetype<usize>(sb) + OFF_RLOST), snd_una);
}

/** Removes range i, shifting the ranges above it down. */
function remove_at(sb: sack_board, i: u32): void {
  const n = <u32>sb.n;
  for (let j = i; j + 1 < n; j++) set_range(sb, j, r_start(sb, j + 1), r_end(sb, j + 1));
  sb.n = <u16>(n - 1);
}

/**
 * Adds [s, e) to the board, merging with overlapping or adjacent ranges.
 * When the board would hold more than SACK_MAX_RANGES ranges, the highest is
 * dropped (the one least useful for retransmission decisions: holes below it
 * are still described by the others).
 */
function insert_range(sb: sack_board, s: u32, e: u32): void {
  let n = <u32>sb.n;
  // First range that ends at or after s (could merge with, or lies above).
  let i: u32 = 0;
  while (i < n && seq_lt(r_end(sb, i), s)) i++;
  if (i < n && seq_leq(r_start(sb, i), e)) {
    // Overlaps or touches range i: grow it, then swallow the ones it reaches.
    let ns = seq_min(r_start(sb, i), s);
    let ne = seq_max(r_end(sb, i), e);
    while (i + 1 < n && seq_leq(r_start(sb, i + 1), ne)) {
      ne = seq_max(ne, r_end(sb, i + 1));
      remove_at(sb, i + 1);
      n--;
    }
    set_range(sb, i, ns, ne);
    return;
  }
  // Disjoint: insert at i, dropping the highest range if full.
  if (n == SACK_MAX_RANGES) {
    if (i == n) return;                     // the new range would be the highest
    n--;                                    // drop the top one
  }
  for (let j = n; j > i; j--) set_range(sb, j, r_start(sb, j - 1), r_end(sb, j - 1));
  set_range(sb, i, s, e);
  sb.n = <u16>(n + 1);
}

/**
 * Merges received SACK blocks: `blocks` points at nblocks pairs of big-endian
 * u32 (left edge, right edge), as in the option (RFC 2018 §3). A block counts
 * only if snd_una < left < right ≤ snd_nxt: blocks at or below the cumulative
 * ACK (D-SACK, RFC 2883 — reported, not acted on) and blocks beyond what we
 * sent (bogus or stale) are ignored. Returns the bytes newly SACKed.
 */
export function sack_update(sb: sack_board, snd_una: u32, snd_nxt: u32, blocks: usize, nblocks: u32): u32 {
  const before = sack_sacked_bytes(sb);
  for (let k: u32 = 0; k < nblocks; k++) {
    const l = bswap<u32>(load<u32>(blocks + (<usize>k << 3)));
    const r = bswap<u32>(load<u32>(blocks + (<usize>k << 3) + 4));
    // Offsets from snd_una, unsigned: 0 < left < right ≤ snd_nxt − snd_una.
    // (Three separate signed comparisons are not enough: a block whose edges
    // are each within 2^31 of the window's edges can still lie outside it.)
    const ol = l - snd_una, or = r - snd_una;
    if (ol == 0) continue;                  // at/below the cumulative ACK: D-SACK or stale
    if (ol >= or) continue;                 // empty, reversed, or straddling snd_una
    if (or > snd_nxt - snd_una) continue;   // SACKs data we never sent
    insert_range(sb, l, r);
  }
  const after = sack_sacked_bytes(sb);
  return after > before ? after - before : 0;
}

/**
 * The cumulative ACK moved to snd_una: forget what it covers, clip a range it
 * cuts into, keep HighRxt from falling behind HighACK, and leave recovery once
 * the RecoveryPoint is acknowledged (RFC 6675 §5 step (A) / RFC 6582).
 */
export function sack_advance(sb: sack_board, snd_una: u32): void {
  while (sb.n > 0 && seq_leq(r_end(sb, 0), snd_una)) remove_at(sb, 0);
  if (sb.n > 0 && seq_lt(r_start(sb, 0), snd_una)) set_range(sb, 0, snd_una, r_end(sb, 0));
  if (sb.flags & SBF_RECOVERY) {
    if (seq_geq(snd_una, sb.recovery_point)) sb.flags &= ~(SBF_RECOVERY | SBF_RXT);
  } else if ((sb.flags & SBF_RXT) && seq_leq(sb.high_rxt, snd_una)) {
    sb.flags &= ~SBF_RXT;                   // a retransmission outside recovery, now acked
  }
  if ((sb.flags & SBF_RXT) && seq_lt(sb.high_rxt, snd_una)) sb.high_rxt = snd_una;
  if ((sb.flags & SBF_RLOST) && seq_leq(load<u32>(changetype<usize>(sb) + OFF_RLOST), snd_una)) sb.flags &= ~SBF_RLOST;
}

/** Total bytes on the board. */
export function sack_sacked_bytes(sb: sack_board): u32 {
  let t: u32 = 0;
  for (let i: u32 = 0; i < <u32>sb.n; i++) t += r_end(sb, i) - r_start(sb, i);
  return t;
}

/** True if all of [seq, seq+len) was SACKed (len 0: the octet at seq). */
export function sack_is_sacked(sb: sack_board, seq: u32, len: u32): bool {
  const e = seq + (len == 0 ? 1 : len);
  for (let i: u32 = 0; i < <u32>sb.n; i++) {
    if (seq_geq(seq, r_start(sb, i)) && seq_leq(e, r_end(sb, i))) return true;
  }
  return false;
}

/** The highest SACKed sequence number + 1 (RFC 6675 "highest octet covered by
 *  any received SACK" + 1), or `otherwise` when the board is empty. */
export function sack_high_sacked(sb: sack_board, otherwise: u32): u32 {
  return sb.n > 0 ? r_end(sb, <u32>sb.n - 1) : otherwise;
}

/**
 * RFC 6675 §4 IsLost(SeqNum): true when DupThresh discontiguous SACKed
 * sequences lie above SeqNum, or more than (DupThresh − 1)·SMSS bytes above
 * SeqNum were SACKed. "Discontiguous SACKed sequences" are counted as
 * disjoint ranges on the board (ranges are merged, so each is separated from
 * the next by a hole); bytes "above" are those with sequence > SeqNum.
 */
export function sack_is_lost(sb: sack_board, seq: u32, mss: u32): bool {
  let ranges: u32 = 0;
  let bytes: u64 = 0;
  const above = seq + 1;
  for (let i: u32 = 0; i < <u32>sb.n; i++) {
    const s = r_start(sb, i), e = r_end(sb, i);
    if (seq_leq(e, above)) continue;
    ranges++;
    bytes += <u64>(e - seq_max(s, above));
  }
  return ranges >= SACK_DUPTHRESH || bytes > <u64>(SACK_DUPTHRESH - 1) * <u64>(mss == 0 ? 1 : mss);
}

/**
 * Walks the holes (unSACKed stretches) of [snd_una, snd_nxt) from the bottom.
 * Every octet of one hole has the same SACKed ranges above it, so IsLost is
 * the same for the whole hole: evaluate it once per hole. Hole i lies below
 * range i; the hole above the top range (i == n) is not followed by a SACK.
 */
// @ts-ignore: decorator
@inline function hole_start(sb: sack_board, i: u32, snd_una: u32): u32 { return i == 0 ? snd_una : r_end(sb, i - 1); }

/** IsLost for every octet of hole i (below range i, i < n). */
function hole_lost(sb: sack_board, i: u32, mss: u32): bool {
  const n = <u32>sb.n;
  if (n - i >= SACK_DUPTHRESH) return true;
  let bytes: u64 = 0;
  for (let j = i; j < n; j++) bytes += <u64>(r_end(sb, j) - r_start(sb, j));
  return bytes > <u64>(SACK_DUPTHRESH - 1) * <u64>(mss == 0 ? 1 : mss);
}

/**
 * RFC 6675 §4 SetPipe: the sender's estimate of octets in flight. For each
 * octet in [HighACK+1, HighData] that has not been SACKed:
 *   (a) if IsLost(octet) is false, pipe += 1 (the original may still arrive);
 *   (b) if octet ≤ HighRxt, pipe += 1 (its retransmission is in flight).
 * Computed per hole (see hole_start).
 */
export function sack_pipe(sb: sack_board, snd_una: u32, snd_nxt: u32, mss: u32): u32 {
  let pipe: u64 = 0;
  const n = <u32>sb.n;
  // HighRxt only means something during recovery; outside it nothing has
  // been retransmitted by NextSeg.
  const hr = rxt_mark(sb, snd_una);
  const rl = rack_mark(sb, snd_una);
  for (let i: u32 = 0; i <= n; i++) {
    const hs = hole_start(sb, i, snd_una);
    const he = i < n ? r_start(sb, i) : snd_nxt;
    if (!seq_lt(hs, he)) continue;
    // (a): octets not lost, by IsLost or by RACK (below the RACK mark).
    if (i == n || !hole_lost(sb, i, mss)) {
      const from = seq_max(hs, rl);
      if (seq_lt(from, he)) pipe += <u64>(he - from);
    }
    // (b): retransmitted octets of this hole: [hs, min(he, high_rxt)).
    if (seq_gt(hr, hs)) pipe += <u64>(seq_min(he, hr) - hs);
  }
  return pipe > 0xffffffff ? 0xffffffff : <u32>pipe;
}

/** HighRxt as an exclusive mark, never below snd_una; snd_una when nothing
 *  was retransmitted (the board's high_rxt is stale then). */
function rxt_mark(sb: sack_board, snd_una: u32): u32 {
  return (sb.flags & SBF_RXT) ? seq_max(sb.high_rxt, snd_una) : snd_una;
}

/**
 * Entering loss recovery (RFC 6675 §5 step (4.2)/(4.3)): RecoveryPoint =
 * HighData, HighRxt = HighACK, RescueRxt undefined.
 */
export function sack_enter_recovery(sb: sack_board, snd_una: u32, snd_nxt: u32): void {
  // A fast retransmit reported just before (sack_on_sent) is kept.
  if (!(sb.flags & SBF_RXT) || seq_lt(sb.high_rxt, snd_una)) sb.high_rxt = snd_una;
  sb.flags = (sb.flags & ~SBF_RESCUE) | SBF_RECOVERY | SBF_RXT;
  sb.recovery_point = snd_nxt;
  sb.rescue_rxt = 0;
}

/**
 * RFC 6675 §4 NextSeg. Writes the sequence number of the next segment to
 * send to out[0] (u32) and its maximum length to out[1] (u32); returns the
 * rule that chose it (SACK_NEXT_*), 0 when nothing may be sent.
 *  (1) the lowest unSACKed S2 > HighRxt, below the highest SACKed octet, with
 *      IsLost(S2): retransmit up to SMSS from S2 (not into SACKed data);
 *  (2) else new data: up to SMSS from HighData+1 (snd_nxt) if snd_max_new
 *      (the end of queued data the receiver's window allows) is above it;
 *  (3) else the lowest unSACKed S3 > HighRxt below the highest SACKed octet
 *      (IsLost not required);
 *  (4) else, once per recovery (HighACK > RescueRxt or RescueRxt undefined),
 *      a rescue retransmission of up to SMSS ending at the highest
 *      outstanding unSACKed octet.
 * The caller sends, then reports what it sent with sack_on_sent (which moves
 * HighRxt for rules 1 and 3 and RescueRxt for rule 4, as the RFC requires).
 * The congestion check (cwnd − pipe ≥ SMSS, RFC 6675 §5 step (C)) is the
 * caller's.
 */
export function sack_next_seg(sb: sack_board, snd_una: u32, snd_nxt: u32, snd_max_new: u32, mss: u32, out: usize): u32 {
  const m = mss == 0 ? 1 : mss;
  const n = <u32>sb.n;
  const hr = rxt_mark(sb, snd_una);
  const rl = rack_mark(sb, snd_una);
  // Rules (1) and (3): holes below the highest SACKed octet (i < n); rule
  // (1) also takes what RACK declared lost above it (i == n, below the mark).
  let s3: u32 = 0, s3_len: u32 = 0, have3 = false;
  for (let i: u32 = 0; i <= n; i++) {
    const he = i < n ? r_start(sb, i) : seq_min(snd_nxt, rl);
    if (!seq_lt(hr, he)) continue;          // hole entirely at or below HighRxt
    const hs = seq_max(hole_start(sb, i, snd_una), hr);
    if (!seq_lt(hs, he)) continue;
    const len = umin32(he - hs, m);
    if (seq_lt(hs, rl) || (i < n && hole_lost(sb, i, m))) return emit(out, hs, i < n ? len : umin32(len, rl - hs), SACK_NEXT_RULE1);
    if (i < n && !have3) { have3 = true; s3 = hs; s3_len = len; }
  }
  // Rule (2): new data.
  if (seq_lt(snd_nxt, snd_max_new)) return emit(out, snd_nxt, umin32(snd_max_new - snd_nxt, m), SACK_NEXT_NEW);
  // Rule (3).
  if (have3) return emit(out, s3, s3_len, SACK_NEXT_RULE3);
  // Rule (4): rescue retransmission.
  // Only inside a recovery episode: outside one there is no RecoveryPoint to
  // make it happen once.
  if ((sb.flags & SBF_RECOVERY) && (!(sb.flags & SBF_RESCUE) || seq_gt(snd_una, sb.rescue_rxt))) {
    // The highest outstanding unSACKed octet: just below snd_nxt, or below
    // the top range if that reaches snd_nxt.
    let top = snd_nxt, below = n;
    if (n > 0 && seq_geq(r_end(sb, n - 1), snd_nxt)) { top = r_start(sb, n - 1); below = n - 1; }
    const hs = hole_start(sb, below, snd_una);
    if (seq_lt(hs, top)) {
      const len = umin32(top - hs, m);
      return emit(out, top - len, len, SACK_NEXT_RESCUE);
    }
  }
  store<u32>(out, 0);
  store<u32>(out + 4, 0);
  return SACK_NEXT_NONE;
}

// @ts-ignore: decorator
@inline function umin32(a: u32, b: u32): u32 { return a < b ? a : b; }

function emit(out: usize, seq: u32, len: u32, rule: u32): u32 {
  store<u32>(out, seq);
  store<u32>(out + 4, len);
  return rule;
}

/**
 * The engine sent [seq, seq+len) as chosen by sack_next_seg rule `rule`:
 * rules 1 and 3 move HighRxt to the segment's end (RFC 6675 §4 NextSeg
 * notes); rule 4 sets RescueRxt = RecoveryPoint and leaves HighRxt alone;
 * new data (rule 2) changes nothing here (snd_nxt moves in the engine).
 * Report any other retransmission (the fast retransmit of snd_una, RFC 6675
 * §5 step (4.3)) as rule 1 — before or after sack_enter_recovery, both work.
 * [seq, seq+len) must reach past the sequence number NextSeg returned, or
 * NextSeg will return it again. A rescue reported outside recovery is
 * ignored.
 */
export function sack_on_sent(sb: sack_board, rule: u32, seq: u32, len: u32): void {
  if (rule == SACK_NEXT_RULE1 || rule == SACK_NEXT_RULE3) {
    const e = seq + len;
    if (!(sb.flags & SBF_RXT) || seq_gt(e, sb.high_rxt)) sb.high_rxt = e;
    sb.flags |= SBF_RXT;
  } else if (rule == SACK_NEXT_RESCUE && (sb.flags & SBF_RECOVERY)) {
    sb.rescue_rxt = sb.recovery_point;
    sb.flags |= SBF_RESCUE;
  }
}
