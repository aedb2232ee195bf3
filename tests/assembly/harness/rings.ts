// The host's side of the rings, for specs: copy TX frames out as a host
// would, read and release event records.
import {
  tx_done, tx_pending, tx_frame_copy, tx_entry, ev_ring, ev_done, RING_HDR, EV_RECORD,
} from "../../../assembly/core/rings";

/** Room for the largest frame a spec reads (a 64 KiB MTU plus headers). */
export const FRAME_MAX: u32 = 70000;
/** The frame tx_frame copied last, and its length. */
export const frame: usize = memory.data(<i32>FRAME_MAX, 8);
export let frame_len: u32 = 0;

/** Copies pending TX frame `i` (0 = oldest) as queued into `frame`; returns its length. */
export function tx_frame(i: u32): u32 {
  frame_len = tx_frame_copy(i, frame, FRAME_MAX);
  return frame_len;
}
/** Pointer to pending TX frame `i`'s first byte, in place (rings.ts tx_entry). */
export function tx_frame_start(i: u32): usize { return load<usize>(tx_entry(i), 8); }
export function tx_count(): u32 { return tx_pending(); }
/** Releases every pending TX frame, as a host does after sending them. */
export function tx_clear(): void { tx_done(tx_pending()); }
export function expect_no_tx(): void { expect(tx_pending()).toBe(0, "nothing sent"); }

export function ev_pending(): u32 { return load<u32>(ev_ring) - load<u32>(ev_ring, 4); }
export function ev_clear(): void { ev_done(ev_pending()); }
/** Address of pending event record `i` (0 = oldest). */
export function ev_record(i: u32): usize {
  const tail = load<u32>(ev_ring, 4);
  const cap = load<u32>(ev_ring, 8);
  return ev_ring + RING_HDR + <usize>((tail + i) & (cap - 1)) * EV_RECORD;
}
export function ev_type(r: usize): u16 { return load<u16>(r); }
export function ev_flags(r: usize): u16 { return load<u16>(r, 2); }
export function ev_handle(r: usize): u32 { return load<u32>(r, 4); }
export function ev_pbuf(r: usize): usize { return load<usize>(r, 8); }
/** Argument `k` of a record: 0..4 for a..e. */
export function ev_arg(r: usize, k: u32): u32 { return load<u32>(r + 12 + (<usize>k << 2)); }
