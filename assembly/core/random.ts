// random: the core's pseudo-random numbers, seeded by the host's random
// source at init. Used for IP IDs, ephemeral ports, jitter. Not for secrets:
// TCP's ISN (RFC 6528) uses a keyed hash of the 4-tuple instead.

let state: u32 = 0x9e3779b9;

export function random_seed(seed: u32): void {
  state = seed != 0 ? seed : 0x9e3779b9;
}

/** xorshift32 (Marsaglia 2003). */
export function asip_random(): u32 {
  let x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}
