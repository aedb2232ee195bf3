// tcp_sack: the sender's scoreboard (RFC 2018 blocks, RFC 6675 recovery).
import {
  sack_board, SACK_BOARD_SIZE, SACK_MAX_RANGES,
  sack_reset, sack_update, sack_advance, sack_is_lost, sack_pipe, sack_next_seg,
  sack_sacked_bytes, sack_is_sacked, sack_count, sack_range_start, sack_range_end,
  sack_enter_recovery, sack_on_sent, sack_in_recovery, sack_high_rxt, sack_high_sacked,
  sack_leave_recovery, sack_reneged, sack_set_rack_lost,
  SACK_NEXT_NONE, SACK_NEXT_RULE1, SACK_NEXT_NEW, SACK_NEXT_RULE3, SACK_NEXT_RESCUE,
} from "../../assembly/tcp/tcp_sack";

const board = memory.data(96, 8);
const sb = changetype<sack_board>(board);
const blk = memory.data(64, 8);
const out = memory.data(8, 8);

/** Feeds SACK blocks given as [l0, r0, l1, r1, ...] (written big-endian, as
 *  in the option). Returns sack_update's result. */
function sack(una: u32, nxt: u32, edges: u32[]): u32 {
  const n = edges.length >> 1;
  for (let i = 0; i < edges.length; i++) store<u32>(blk + (<usize>i << 2), bswap<u32>(edges[i]));
  return sack_update(sb, una, nxt, blk, n);
}

function expectRanges(edges: u32[]): void {
  expect(sack_count(sb)).toBe(edges.length >> 1, "range count");
  for (let i = 0; i < (edges.length >> 1); i++) {
    expect(sack_range_start(sb, i)).toBe(edges[2 * i], "start " + i.toString());
    expect(sack_range_end(sb, i)).toBe(edges[2 * i + 1], "end " + i.toString());
  }
}

function next(una: u32, nxt: u32, max_new: u32, mss: u32): u32 {
  return sack_next_seg(sb, una, nxt, max_new, mss, out);
}
function out_seq(): u32 { return load<u32>(out); }
function out_len(): u32 { return load<u32>(out + 4); }

describe("tcp_sack: scoreboard ranges", () => {
  beforeEach(() => { sack_reset(sb); });

  it("fits in the pcb", () => {
    expect(SACK_BOARD_SIZE).toBeLessThanOrEqual(96); // the pcb reserves 96 bytes (_s0.._s11)
    expect(SACK_MAX_RANGES).toBe(8);
  });

  it("keeps ranges sorted and disjoint; merges adjacent and overlapping blocks", () => {
    expect(sack(1000, 20000, [8000, 9000])).toBe(1000);
    expect(sack(1000, 20000, [2000, 3000, 5000, 6000])).toBe(2000);
    expectRanges([2000, 3000, 5000, 6000, 8000, 9000]);
    expect(sack(1000, 20000, [3000, 4000])).toBe(1000);           // touches [2000,3000)
    expectRanges([2000, 4000, 5000, 6000, 8000, 9000]);
    expect(sack(1000, 20000, [1500, 2500])).toBe(500);            // overlaps the bottom
    expectRanges([1500, 4000, 5000, 6000, 8000, 9000]);
    expect(sack(1000, 20000, [3500, 8500])).toBe(3000);           // swallows two ranges
    expectRanges([1500, 9000]);
    expect(sack(1000, 20000, [2000, 3000])).toBe(0);              // already known
    expect(sack_sacked_bytes(sb)).toBe(7500);
    expect(sack_high_sacked(sb, 1000)).toBe(9000);
  });

  it("ignores blocks outside (snd_una, snd_nxt] and empty or reversed blocks", () => {
    expect(sack(5000, 10000, [4000, 5000])).toBe(0);              // D-SACK below the ACK
    expect(sack(5000, 10000, [4000, 6000])).toBe(0);              // straddles snd_una
    expect(sack(5000, 10000, [5000, 6000])).toBe(0);              // at snd_una: contradicts the ACK
    expect(sack(5000, 10000, [9000, 10001])).toBe(0);             // beyond snd_nxt
    expect(sack(5000, 10000, [7000, 7000])).toBe(0);              // empty
    expect(sack(5000, 10000, [8000, 7000])).toBe(0);              // reversed
    expect(sack(5000, 10000, [0x80000000, 0x80001000])).toBe(0);  // far away
    // each edge within 2^31 of the window's edges, the block itself outside
    // (found by fuzzing: separate signed comparisons accepted it)
    expect(sack(0x480e07a4, 0x480f551c, [0xc6547066, 0x1d80f29f])).toBe(0);
    expect(sack_count(sb)).toBe(0);
    // a D-SACK first block followed by a real one (RFC 2883): only the real one counts
    expect(sack(5000, 10000, [4000, 5000, 9000, 10000])).toBe(1000);
    expectRanges([9000, 10000]);
  });

  it("holds at most 8 ranges, dropping the highest", () => {
    for (let i: u32 = 0; i < 8; i++) sack(0, 100000, [10000 + i * 2000, 11000 + i * 2000]);
    expect(sack_count(sb)).toBe(8);
    expect(sack_range_end(sb, 7)).toBe(25000);
    // a new highest range is the one dropped
    expect(sack(0, 100000, [40000, 41000])).toBe(0);
    expect(sack_range_end(sb, 7)).toBe(25000);
    // a new lower range pushes the top one out
    sack(0, 100000, [1000, 2000]);
    expect(sack_count(sb)).toBe(8);
    expect(sack_range_start(sb, 0)).toBe(1000);
    expect(sack_range_end(sb, 7)).toBe(23000);
    // merging frees slots again
    sack(0, 100000, [10000, 23000]);
    expectRanges([1000, 2000, 10000, 23000]);
  });

  it("advances with the cumulative ACK: drops covered ranges, clips a cut one", () => {
    sack(1000, 20000, [2000, 3000, 5000, 6000, 8000, 9000]);
    sack_advance(sb, 3000);
    expectRanges([5000, 6000, 8000, 9000]);
    sack_advance(sb, 5500);                                       // a peer that reneged partially
    expectRanges([5500, 6000, 8000, 9000]);
    sack_advance(sb, 9000);
    expect(sack_count(sb)).toBe(0);
  });

  it("answers is_sacked for whole segments only", () => {
    sack(1000, 20000, [2000, 4000]);
    expect(sack_is_sacked(sb, 2000, 1000)).toBe(true);
    expect(sack_is_sacked(sb, 3000, 1000)).toBe(true);
    expect(sack_is_sacked(sb, 3500, 1000)).toBe(false);
    expect(sack_is_sacked(sb, 1000, 1000)).toBe(false);
    expect(sack_is_sacked(sb, 3999, 0)).toBe(true);
    expect(sack_is_sacked(sb, 4000, 0)).toBe(false);
  });

  it("works across the 2^32 wrap", () => {
    const una: u32 = 0xfffffc00, nxt: u32 = 0x00000c00;
    expect(sack(una, nxt, [0x400, 0x600, 0xfffffe00, 0x200])).toBe(1536);
    expectRanges([0xfffffe00, 0x200, 0x400, 0x600]);                // sorted in sequence space
    expect(sack(una, nxt, [0x200, 0x400])).toBe(512);
    expectRanges([0xfffffe00, 0x600]);
    expect(sack_is_sacked(sb, 0xffffff00, 0x200)).toBe(true);
    expect(sack_is_lost(sb, una, 512)).toBe(true);                 // 2048 bytes above > 2·512
    // hole [una, 0xfffffe00) lost → not in pipe; [0x600, 0xc00) not lost
    expect(sack_pipe(sb, una, nxt, 512)).toBe(0xc00 - 0x600);
    sack_enter_recovery(sb, una, nxt);
    expect(next(una, nxt, nxt, 512)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(una); expect(out_len()).toBe(512);
    sack_on_sent(sb, SACK_NEXT_RULE1, una, 512);
    expect(sack_high_rxt(sb)).toBe(0xfffffe00);
    expect(sack_pipe(sb, una, nxt, 512)).toBe(0xc00 - 0x600 + 512);
    expect(next(una, nxt, nxt, 512)).toBe(SACK_NEXT_RESCUE);
    expect(out_seq()).toBe(0xa00);
    sack_advance(sb, 0x100);
    expectRanges([0x100, 0x600]);
    expect(sack(0x100, nxt, [0xfffffe00, 0x800])).toBe(0);         // now partly below the ACK
  });
});

describe("tcp_sack: RFC 6675 IsLost, SetPipe, NextSeg", () => {
  beforeEach(() => { sack_reset(sb); });

  it("IsLost: DupThresh discontiguous ranges or more than 2·SMSS bytes above", () => {
    sack(1000, 11000, [3000, 4000]);
    expect(sack_is_lost(sb, 1000, 1000)).toBe(false);
    sack(1000, 11000, [5000, 6000]);
    expect(sack_is_lost(sb, 1000, 1000)).toBe(false);              // 2 ranges, exactly 2·SMSS
    sack(1000, 11000, [7000, 7100]);
    expect(sack_is_lost(sb, 1000, 1000)).toBe(true);               // 3 discontiguous ranges
    expect(sack_is_lost(sb, 4000, 1000)).toBe(false);              // only 2 above 4000
    expect(sack_is_lost(sb, 6999, 1000)).toBe(false);
    sack_reset(sb);
    sack(1000, 11000, [3000, 5001]);
    expect(sack_is_lost(sb, 1000, 1000)).toBe(true);               // 2001 bytes > 2000
    expect(sack_is_lost(sb, 3000, 1000)).toBe(false);              // octets above 3000: 2000
  });

  it("SetPipe counts unSACKed octets not lost, plus retransmitted ones", () => {
    // 10 segments of 1000 from 1000; the first two lost, the next three SACKed.
    sack(1000, 11000, [3000, 6000]);
    sack_enter_recovery(sb, 1000, 11000);
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(5000);           // [6000, 11000)
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 1000);
    expect(sack_high_rxt(sb)).toBe(2000);
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(6000);
    sack_on_sent(sb, SACK_NEXT_RULE1, 2000, 1000);
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(7000);
    // without SACKs everything outstanding is in the pipe
    sack_reset(sb);
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(10000);
  });

  it("NextSeg walks rules 1, 2 and 4 through a recovery", () => {
    sack(1000, 11000, [3000, 6000]);
    sack_enter_recovery(sb, 1000, 11000);
    expect(sack_in_recovery(sb)).toBe(true);
    // rule 1: lowest lost hole above HighRxt
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(1000); expect(out_len()).toBe(1000);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 1000);
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(2000); expect(out_len()).toBe(1000);
    sack_on_sent(sb, SACK_NEXT_RULE1, 2000, 1000);
    // rule 2 when new data is available and allowed
    expect(next(1000, 11000, 11500, 1000)).toBe(SACK_NEXT_NEW);
    expect(out_seq()).toBe(11000); expect(out_len()).toBe(500);
    // no new data: rule 4, one rescue ending at the highest unSACKed octet
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RESCUE);
    expect(out_seq()).toBe(10000); expect(out_len()).toBe(1000);
    const hr = sack_high_rxt(sb);
    sack_on_sent(sb, SACK_NEXT_RESCUE, 10000, 1000);
    expect(sack_high_rxt(sb)).toBe(hr);                            // HighRxt not updated
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_NONE);   // once per recovery
    expect(out_len()).toBe(0);
    // the cumulative ACK passes RecoveryPoint: recovery over
    sack_advance(sb, 11000);
    expect(sack_in_recovery(sb)).toBe(false);
  });

  it("NextSeg rule 3 retransmits a hole not yet deemed lost when nothing else may go", () => {
    sack(1000, 11000, [3000, 4000]);                               // one SACK: nothing is lost
    sack_enter_recovery(sb, 1000, 11000);
    expect(next(1000, 11000, 12000, 1000)).toBe(SACK_NEXT_NEW);    // rule 2 first
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE3);
    expect(out_seq()).toBe(1000); expect(out_len()).toBe(1000);
    sack_on_sent(sb, SACK_NEXT_RULE3, 1000, 1000);
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE3);
    expect(out_seq()).toBe(2000);
    sack_on_sent(sb, SACK_NEXT_RULE3, 2000, 1000);
    // holes below the highest SACK exhausted: rescue ends at 10999
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RESCUE);
    expect(out_seq()).toBe(10000);
  });

  it("NextSeg never sends into SACKed data and starts above HighRxt", () => {
    // holes [1000,1500) and [2000,2300) under three SACKed ranges
    sack(1000, 20000, [1500, 2000, 2300, 3000, 5000, 6000]);
    sack_enter_recovery(sb, 1000, 20000);
    expect(next(1000, 20000, 20000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(1000); expect(out_len()).toBe(500);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 200);                  // sent only part of it
    expect(next(1000, 20000, 20000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(1200); expect(out_len()).toBe(300);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1200, 300);
    // [2000,2300) has 2 ranges and 1700 bytes above it: not lost, so only rule 3
    expect(next(1000, 20000, 20000, 1000)).toBe(SACK_NEXT_RULE3);
    expect(out_seq()).toBe(2000); expect(out_len()).toBe(300);
  });

  it("a fast retransmit reported before entering recovery still moves HighRxt", () => {
    sack(1000, 11000, [3000, 6000]);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 1000);                 // tcp_rexmit_fast first
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(6000);
    sack_enter_recovery(sb, 1000, 11000);
    expect(sack_high_rxt(sb)).toBe(2000);
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(2000);
    // recovery ends when the ACK reaches RecoveryPoint: HighRxt forgotten
    sack_advance(sb, 11000);
    expect(sack_in_recovery(sb)).toBe(false);
    expect(sack_pipe(sb, 11000, 12000, 1000)).toBe(1000);
  });

  it("no rescue retransmission outside recovery", () => {
    sack(1000, 11000, [3000, 6000]);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 2000);
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_NONE);
    sack_on_sent(sb, SACK_NEXT_RESCUE, 10000, 1000);               // ignored
    sack_enter_recovery(sb, 1000, 11000);
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RESCUE);
  });

  it("the rescue segment lies below a top SACK that reaches snd_nxt", () => {
    sack(1000, 6000, [5000, 6000]);
    sack_enter_recovery(sb, 1000, 6000);
    sack_on_sent(sb, SACK_NEXT_RULE3, 1000, 4000);                 // pretend all holes resent
    expect(next(1000, 6000, 6000, 1000)).toBe(SACK_NEXT_RESCUE);
    expect(out_seq()).toBe(4000); expect(out_len()).toBe(1000);
  });

  it("a partial ACK keeps HighRxt at or above snd_una; RescueRxt allows another rescue past RecoveryPoint", () => {
    sack(1000, 11000, [3000, 6000]);
    sack_enter_recovery(sb, 1000, 11000);
    sack_advance(sb, 2500);
    expect(sack_high_rxt(sb)).toBe(2500);
    expect(next(2500, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(2500); expect(out_len()).toBe(500);
    sack_reset(sb);
    expect(sack_count(sb)).toBe(0);
    expect(sack_in_recovery(sb)).toBe(false);
  });
});

// xorshift32, deterministic
let rs: u32 = 1;
function rnd(): u32 { let x = rs; x ^= x << 13; x ^= x >> 17; x ^= x << 5; rs = x; return x; }

describe("tcp_sack: random blocks, ACKs and recoveries keep the invariants", () => {
  it("ranges stay sorted, disjoint, inside (snd_una, snd_nxt]; NextSeg never picks SACKed or unsent data", () => {
    let bad = 0;
    for (let seed: u32 = 1; seed <= 200 && bad == 0; seed++) {
      rs = seed * 2654435761 | 1;
      sack_reset(sb);
      let una = rnd(), nxt = una + (rnd() & 0xfffff);
      for (let step = 0; step < 400 && bad == 0; step++) {
        const op = rnd() & 7;
        if (op < 4) {
          const nb = rnd() & 3;
          for (let k: u32 = 0; k < nb; k++) {
            const l = (rnd() & 1) ? una + (rnd() % (nxt - una + 2)) : rnd();
            const r = (rnd() & 1) ? l + (rnd() & 0xffff) : rnd();
            store<u32>(blk + k * 8, bswap<u32>(l));
            store<u32>(blk + k * 8 + 4, bswap<u32>(r));
          }
          sack_update(sb, una, nxt, blk, nb);
        } else if (op == 4) {
          una += rnd() % (nxt - una + 1);
          sack_advance(sb, una);
        } else if (op == 5) {
          nxt += rnd() & 0xffff;
        } else if (op == 6) {
          sack_enter_recovery(sb, una, nxt);
        } else {
          const mss: u32 = (rnd() & 1) ? 1460 : 1 + (rnd() & 0xffff);
          const rule = next(una, nxt, nxt + (rnd() & 0xfff), mss);
          const s = out_seq(), l = out_len();
          if (rule != SACK_NEXT_NONE) {
            if (l == 0 || l > mss || <i32>(s - una) < 0) bad = 1;
            if (rule != SACK_NEXT_NEW && <i32>(nxt - (s + l)) < 0) bad = 2;
            if (rule != SACK_NEXT_NEW && sack_is_sacked(sb, s, 1)) bad = 3;
            sack_on_sent(sb, rule, s, l);
          }
          if (sack_pipe(sb, una, nxt, mss) > 2 * (nxt - una)) bad = 4;
        }
        const n = sack_count(sb);
        if (n > SACK_MAX_RANGES) bad = 5;
        for (let k: u32 = 0; k < n; k++) {
          const a = sack_range_start(sb, k), b = sack_range_end(sb, k);
          if (!(a - una < b - una && b - una <= nxt - una)) bad = 7;
          if (k > 0 && !(sack_range_end(sb, k - 1) - una < a - una)) bad = 8;
        }
        if (bad != 0) log<string>("seed " + seed.toString() + " step " + step.toString());
      }
    }
    expect(bad).toBe(0);
  });
});

describe("tcp_sack: timeouts, reneging and RACK", () => {
  beforeEach(() => { sack_reset(sb); });

  it("a timeout leaves recovery but keeps the SACKed ranges (RFC 6675 §5.1)", () => {
    sack(1000, 11000, [3000, 6000, 7000, 8000]);
    sack_enter_recovery(sb, 1000, 11000);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 1000);
    sack_leave_recovery(sb);
    expect(sack_in_recovery(sb)).toBe(false);
    expectRanges([3000, 6000, 7000, 8000]);
    expect(sack_is_sacked(sb, 4000, 1000)).toBe(true);
    // nothing counts as retransmitted any more: every unSACKed octet not lost is in the pipe
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(4000);           // [6000, 7000) + [8000, 11000); 1000..3000 is lost (IsLost)
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);  // NextSeg still works from the board
    expect(out_seq()).toBe(1000);
  });

  it("reneging (RFC 2018 §8): the ACK stops at, or inside, a SACKed range", () => {
    sack(1000, 11000, [3000, 6000]);
    sack_advance(sb, 2000);
    expect(sack_reneged(sb, 2000)).toBe(false);                    // below the range: an ordinary partial ACK
    sack_advance(sb, 3000);
    expect(sack_reneged(sb, 3000)).toBe(true);                     // the receiver held 3000.. yet did not ACK past it
    sack_reset(sb);
    sack(1000, 11000, [3000, 6000]);
    sack_advance(sb, 4000);
    expect(sack_reneged(sb, 4000)).toBe(true);                     // inside the range
    sack_reset(sb);
    sack(1000, 11000, [3000, 6000]);
    sack_advance(sb, 6000);
    expect(sack_reneged(sb, 6000)).toBe(false);                    // past it: all is well
    expect(sack_count(sb)).toBe(0);
  });

  it("RACK's lost mark: SetPipe leaves the lost octets out and NextSeg resends them, also above the highest SACK", () => {
    // 10 segments from 1000; 2000..3000 SACKed. Without RACK nothing is lost yet.
    sack(1000, 11000, [2000, 3000]);
    sack_enter_recovery(sb, 1000, 11000);
    sack_on_sent(sb, SACK_NEXT_RULE1, 1000, 1000);                 // the fast retransmit
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(10000);          // 9000 not lost + 1000 retransmitted
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RESCUE); // no hole above HighRxt below the SACK: only the rescue
    // RACK declares 3000..5000 lost (sent before something delivered later).
    sack_set_rack_lost(sb, 5000);
    expect(sack_pipe(sb, 1000, 11000, 1000)).toBe(7000);           // 1000..2000 (lost, retransmitted: once) and 3000..5000 out
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(3000); expect(out_len()).toBe(1000);
    sack_on_sent(sb, SACK_NEXT_RULE1, 3000, 1000);
    expect(next(1000, 11000, 11000, 1000)).toBe(SACK_NEXT_RULE1);
    expect(out_seq()).toBe(4000); expect(out_len()).toBe(1000);    // above the highest SACKed octet, below the mark
    sack_on_sent(sb, SACK_NEXT_RULE1, 4000, 1000);
    // the mark goes once the cumulative ACK passes it
    sack_advance(sb, 5000);
    expect(sack_pipe(sb, 5000, 11000, 1000)).toBe(6000);
  });
});
