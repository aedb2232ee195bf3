// tcp_isn: initial sequence numbers (RFC 6528) from SipHash-2-4.
//
// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey), where M is a timer ticking every 4 µs and F a keyed
// pseudo-random function that outsiders cannot compute. Each 4-tuple thus
// gets its own sequence space offset (an off-path attacker cannot guess it,
// RFC 6528 §1) that still advances with time, so a new incarnation of a
// connection starts above the old one's numbers (RFC 9293 §3.4.1).
//
// F is SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
// 2012) — a PRF built for exactly this: short inputs under a 128-bit key;
// Linux uses it for the same purpose. The low 32 bits are used.
//
// The secret must come from the host's random source (tcp_init / asip_init
// calls tcp_isn_set_secret); until then it is zero and ISNs are predictable.
//
// Input block hashed (network byte order, as on the wire):
//   IPv4: local addr (4) | local port (2) | remote addr (4) | remote port (2)
//   IPv6: local addr (16) | local port (2) | remote addr (16) | remote port (2)

import { ip_addr, ip_2_ip6, IP_IS_V6 } from "../ip_addr";

let key0: u64 = 0;
let key1: u64 = 0;

/** Scratch for the hashed tuple (IPv6 needs 36 bytes). */
const tuple_buf: usize = memory.data(40, 8);

/** Sets the RFC 6528 secret key (128 bits, from the host's random source). */
export function tcp_isn_set_secret(k0: u64, k1: u64): void {
  key0 = k0;
  key1 = k1;
}

// @ts-ignore: decorator
@inline function rotl(x: u64, b: u64): u64 { return (x << b) | (x >> (64 - b)); }

/**
 * SipHash-2-4 of len bytes at ptr under the key (k0, k1) — k0 is the first 8
 * key bytes read little-endian, k1 the next 8, as in the reference code.
 * 2 compression rounds per 8-byte word, 4 finalisation rounds.
 */
export function siphash24(k0: u64, k1: u64, ptr: usize, len: u32): u64 {
  let v0: u64 = k0 ^ 0x736f6d6570736575;   // "somepseudorandomlygeneratedbytes"
  let v1: u64 = k1 ^ 0x646f72616e646f6d;
  let v2: u64 = k0 ^ 0x6c7967656e657261;
  let v3: u64 = k1 ^ 0x7465646279746573;
  const end = ptr + (<usize>len & ~7);
  let p = ptr;
  // One SipRound, written out (AssemblyScript has no macros; @inline helpers
  // cannot update four locals at once).
  while (p < end) {
    const m = load<u64>(p);                  // wasm is little-endian, as SipHash reads words
    v3 ^= m;
    for (let r = 0; r < 2; r++) {
      v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
      v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
      v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
      v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    v0 ^= m;
    p += 8;
  }
  // Last block: the remaining 0–7 bytes, little-endian, length mod 256 in
  // the top byte.
  let b: u64 = (<u64>(len & 0xff)) << 56;
  const left = <u32>(<usize>len & 7);
  for (let i: u32 = 0; i < left; i++) b |= (<u64>load<u8>(p + i)) << (<u64>(i << 3));
  v3 ^= b;
  for (let r = 0; r < 2; r++) {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  v0 ^= b;
  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  return v0 ^ v1 ^ v2 ^ v3;
}

/** RFC 6528 M: a 4 µs clock, from the millisecond clock (250 ticks per ms;
 *  wraps every ~4.77 hours, like the RFC's 32-bit timer). */
// @ts-ignore: decorator
@inline function isn_clock(now_ms: u32): u32 { return now_ms * 250; }

/** Stores a port in network byte order. */
// @ts-ignore: decorator
@inline function put_port(a: usize, port: u16): void { store<u16>(a, bswap<u16>(port)); }

/**
 * RFC 6528 ISN for a connection between `local` and `remote` (of one family;
 * their 4 or 16 address bytes and the ports are hashed), ports host numbers.
 */
export function tcp_isn(local: ip_addr, local_port: u16, remote: ip_addr, remote_port: u16, now_ms: u32): u32 {
  if (IP_IS_V6(local)) return tcp_isn6(ip_2_ip6(local), local_port, ip_2_ip6(remote), remote_port, now_ms);
  return tcp_isn4(local.a0, local_port, remote.a0, remote_port, now_ms);
}

/**
 * RFC 6528 ISN for an IPv4 connection. Addresses are network-order u32 (the
 * u32 whose memory bytes are a.b.c.d), ports host numbers.
 */
export function tcp_isn4(local_ip: u32, local_port: u16, remote_ip: u32, remote_port: u16, now_ms: u32): u32 {
  const b = tuple_buf;
  store<u32>(b, local_ip);
  put_port(b + 4, local_port);
  store<u32>(b + 6, remote_ip);
  put_port(b + 10, remote_port);
  const f = <u32>siphash24(key0, key1, b, 12);
  return isn_clock(now_ms) + f;
}

/** RFC 6528 ISN for an IPv6 connection: pointers to the 16-byte addresses. */
export function tcp_isn6(local_ptr: usize, local_port: u16, remote_ptr: usize, remote_port: u16, now_ms: u32): u32 {
  const b = tuple_buf;
  memory.copy(b, local_ptr, 16);
  put_port(b + 16, local_port);
  memory.copy(b + 18, remote_ptr, 16);
  put_port(b + 34, remote_port);
  const f = <u32>siphash24(key0, key1, b, 36);
  return isn_clock(now_ms) + f;
}
