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

// Entropy for secrets (RFC 6528's ISN key): 16 bytes from the host's random
// source, handed over before init (index.ts config_entropy). Without it the
// secret is derived from the 32-bit seed, which is weaker.
const entropy: usize = memory.data(16, 8);
let entropy_set = false;

export function random_set_entropy(src: usize): void {
  memory.copy(entropy, src, 16);
  entropy_set = true;
}

/** 128 bits for a keyed hash: the host's entropy when given, else from the seeded generator. */
export function random_secret(out: usize): void {
  if (entropy_set) {
    memory.copy(out, entropy, 16);
  } else {
    for (let i: usize = 0; i < 16; i += 4) store<u32>(out + i, asip_random());
  }
}
