// tcp_rack: RACK time-based loss detection (RFC 8985 §6).
//
// A segment is lost when a segment sent after it has been delivered (ACKed
// or SACKed) and more than RACK.rtt + RACK.reo_wnd has passed since it was
// sent (§6.2 step 5). Unlike RFC 6675's IsLost, which counts SACKed bytes
// above a hole, this works for retransmissions too: a retransmission that is
// lost is found as soon as anything sent after it arrives, not by the RTO —
// and it works in RTO recovery, where every loss of the go-back-N used to
// cost another timeout.
//
// Send order: every transmission of a segment gets the next value of a
// per-connection counter (seg.xmit_n) besides its time (seg.xmit_ts, ms).
// RFC 8985 orders by time with the end sequence as tie-break; with a
// millisecond clock most of a flight shares one timestamp, and a
// retransmission sent in the same millisecond as newer data would look
// older than it is. The counter gives the exact order; time only decides
// how long to wait (§6.2 step 5's deadline).
//
// The engine calls:
//   each transmission     rack_on_transmit(r, seg, now)
//   each segment newly    rack_on_delivered(r, seg, now, tsecr) (§6.2 steps 2–3)
//   ACKed or SACKed
//   after an ACK          rack_detect_loss(...) (steps 4–5): marks SF_LOST,
//                         returns the ms until the next segment may be
//                         declared lost (the reordering timer, §6.3), 0 if none
//
//   class rack_state (32 bytes, embedded in the pcb):
//   +0 xmit_ts  +4 xmit_n  +8 end_seq  +12 rtt  +16 min_rtt  +20 fack
//   +24 tx_n    +28 flags u16  reo_mult u16

import { seq_gt, seq_lt } from "./tcp_seq";
import { tcp_seg, seg_tcplen, SF_SENT, SF_REXMIT, SF_LOST, SF_SACKED } from "./tcp_out";

/** flags: RACK.xmit_ts/end_seq hold a delivered segment. */
const RF_VALID: u16 = 1;
/** flags: RACK.reord — reordering was seen (§6.2 step 3). */
const RF_REORD: u16 = 2;

/**
 * Smallest reordering window outside the zero cases of §6.2 step 4. The RFC
 * uses min_RTT/4, in microseconds in Linux; in whole milliseconds that is 0
 * on a LAN, and one SACK would then start recovery at once. One millisecond
 * keeps the RFC's tolerance for slight reordering in the open state.
 */
export const RACK_REO_WND_MIN: u32 = 1;
/** §6.2 step 4: RACK.reo_wnd_mult is capped so the window stays below SRTT. */
const RACK_REO_MULT_MAX: u16 = 16;

@unmanaged
export class rack_state {
  xmit_ts: u32;   // RACK.xmit_ts: send time of the most recently sent delivered segment
  xmit_n: u32;    // its send-order number (see above)
  end_seq: u32;   // RACK.end_seq
  rtt: u32;       // RACK.rtt, ms
  min_rtt: u32;   // RACK.min_RTT, ms (0xffffffff: none yet)
  fack: u32;      // highest end sequence delivered (RACK.fack)
  tx_n: u32;      // the send-order counter
  flags: u16;
  reo_mult: u16;  // RACK.reo_wnd_mult
}
export const RACK_STATE_SIZE: u32 = <u32>offsetof<rack_state>();

/** RFC 8985 §6.1 initialization. */
export function rack_reset(r: rack_state): void {
  memory.fill(changetype<usize>(r), 0, RACK_STATE_SIZE);
  r.min_rtt = 0xffffffff;
  r.reo_mult = 1;
}

/** A segment went out (first time or again): stamp it, and it is no longer lost. */
export function rack_on_transmit(r: rack_state, seg: tcp_seg, now: u32): void {
  r.tx_n += 1;
  seg.xmit_n = r.tx_n;
  seg.xmit_ts = now;
  seg.sflags &= ~SF_LOST;
}

/**
 * RFC 8985 §6.2 steps 2–3 for one segment newly ACKed or SACKed. `tsecr` is
 * the ACK's timestamp echo in our ms clock (0: none). A retransmitted
 * segment whose delivery may be its earlier copy's — the echo predates this
 * copy, or less than min_RTT passed since it was sent — tells nothing about
 * send order or RTT and is skipped (step 2).
 */
export function rack_on_delivered(r: rack_state, seg: tcp_seg, now: u32, tsecr: u32): void {
  if ((seg.sflags & SF_SENT) == 0) return;
  const rtt = now - seg.xmit_ts;
  const end = seg.seqno + seg_tcplen(seg);
  if ((seg.sflags & SF_REXMIT) != 0) {
    if (tsecr != 0 && <i32>(tsecr - seg.xmit_ts) < 0) return;
    if (r.min_rtt != 0xffffffff && rtt < r.min_rtt) return;
  } else {
    // Step 3: an original transmission delivered below the highest end
    // already delivered arrived out of order.
    if ((r.flags & RF_VALID) != 0 && seq_lt(end, r.fack)) r.flags |= RF_REORD;
    if (rtt < r.min_rtt) r.min_rtt = rtt;
  }
  if ((r.flags & RF_VALID) == 0 || seq_gt(end, r.fack)) r.fack = end;
  if ((r.flags & RF_VALID) == 0 || <i32>(seg.xmit_n - r.xmit_n) > 0) {
    r.xmit_ts = seg.xmit_ts;
    r.xmit_n = seg.xmit_n;
    r.end_seq = end;
    r.rtt = rtt;
    r.flags |= RF_VALID;
  }
}

/** Reordering was seen on this connection (RACK.reord). */
export function rack_reordering_seen(r: rack_state): bool { return (r.flags & RF_REORD) != 0; }

/** A D-SACK arrived (RFC 8985 §6.2 step 4): a spurious retransmission, widen the window. */
export function rack_on_dsack(r: rack_state): void {
  if (r.reo_mult < RACK_REO_MULT_MAX) r.reo_mult += 1;
  r.flags |= RF_REORD;
}

/**
 * RFC 8985 §6.2 step 4, RACK.reo_wnd: 0 while no reordering was seen and
 * the sender is in loss recovery or DupThresh segments were SACKed (losses
 * then are as likely as the RFC 6675 rules say, and waiting only delays);
 * otherwise reo_wnd_mult · min_RTT/4, at most SRTT, at least
 * RACK_REO_WND_MIN (see there).
 */
export function rack_reo_wnd(r: rack_state, in_recovery: bool, dupthresh_sacked: bool, srtt: u32): u32 {
  if ((r.flags & RF_REORD) == 0 && (in_recovery || dupthresh_sacked)) return 0;
  const m = r.min_rtt == 0xffffffff ? 0 : r.min_rtt;
  let w = <u32>r.reo_mult * (m >> 2);
  if (w > srtt) w = srtt;
  return w < RACK_REO_WND_MIN ? RACK_REO_WND_MIN : w;
}

/** Segments marked lost by the last rack_detect_loss. */
export let rack_marked: u32 = 0;
/** After rack_detect_loss: whether any segment is marked lost, and the end of the highest. */
export let rack_any_lost: bool = false;
export let rack_lost_hi: u32 = 0;

/**
 * RFC 8985 §6.2 step 5 over the sent, unacknowledged segments from `head`
 * (the unacked queue, in sequence order): each segment sent before RACK's
 * segment, neither SACKed nor already marked, is lost once RACK.rtt +
 * reo_wnd has passed since it was sent (SF_LOST; rack_marked counts them).
 * Returns the ms until the earliest of the others could be (the reordering
 * timer, §6.3), 0 when none waits; rack_any_lost/rack_lost_hi describe all
 * segments marked, before or now.
 *
 * The walk stops at the first original transmission sent after RACK's
 * segment: first transmissions go out in sequence order and a
 * retransmission only ever moves later, so everything above it was sent
 * later too. On a clean path that is the head of the queue: O(1) per ACK.
 */
export function rack_detect_loss(r: rack_state, head: usize, now: u32, reo_wnd: u32): u32 {
  rack_marked = 0;
  rack_any_lost = false;
  if ((r.flags & RF_VALID) == 0) return 0;
  let wait: u32 = 0;
  for (let s = head; s != 0; s = changetype<tcp_seg>(s).next) {
    const seg = changetype<tcp_seg>(s);
    const fl = seg.sflags;
    if ((fl & SF_SENT) == 0) continue;
    if (<i32>(r.xmit_n - seg.xmit_n) <= 0) {        // not sent before RACK's segment
      if ((fl & SF_REXMIT) == 0) break;
      continue;
    }
    if ((fl & SF_SACKED) != 0) continue;
    if ((fl & SF_LOST) == 0) {
      const remaining = <i32>(seg.xmit_ts + r.rtt + reo_wnd - now);
      if (remaining > 0) {
        if (<u32>remaining > wait) wait = <u32>remaining;
        continue;
      }
      seg.sflags = fl | SF_LOST;
      rack_marked++;
    }
    const e = seg.seqno + seg_tcplen(seg);
    if (!rack_any_lost || seq_gt(e, rack_lost_hi)) rack_lost_hi = e;
    rack_any_lost = true;
  }
  return wait;
}
