// tcp_seq: comparisons in TCP's 32-bit sequence space (RFC 9293 §3.4).
//
// Sequence numbers wrap at 2^32, so "a before b" means the signed 32-bit
// difference a - b is negative (RFC 1982-style serial arithmetic; valid while
// the two are less than 2^31 apart, which the window sizes guarantee).
// Never compare sequence numbers with a raw `<`.

// @ts-ignore: decorator
@inline export function seq_lt(a: u32, b: u32): bool { return <i32>(a - b) < 0; }
// @ts-ignore: decorator
@inline export function seq_leq(a: u32, b: u32): bool { return <i32>(a - b) <= 0; }
// @ts-ignore: decorator
@inline export function seq_gt(a: u32, b: u32): bool { return <i32>(a - b) > 0; }
// @ts-ignore: decorator
@inline export function seq_geq(a: u32, b: u32): bool { return <i32>(a - b) >= 0; }
/** lo <= a <= hi, in sequence space. */
// @ts-ignore: decorator
@inline export function seq_between(a: u32, lo: u32, hi: u32): bool { return a - lo <= hi - lo; }
// @ts-ignore: decorator
@inline export function seq_max(a: u32, b: u32): u32 { return seq_gt(a, b) ? a : b; }
// @ts-ignore: decorator
@inline export function seq_min(a: u32, b: u32): u32 { return seq_lt(a, b) ? a : b; }
