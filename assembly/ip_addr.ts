// ip_addr: the tagged dual-stack address (lwIP ip_addr.h), and the address
// facts of both families (RFC 1122 §3.2.1.3, RFC 4291 §2.4).
//
// Every address a pcb or netif holds, and every address the host passes in
// or reads out (docs/abi.md), is an ip_addr:
//
//   struct ip_addr (IP_ADDR_SIZE = 20 bytes):
//   +0   addr  16 bytes, network order: an IPv6 address, or an IPv4 address
//              in bytes 0..3 with bytes 4..15 zero
//   +16  type  u8   IPADDR_TYPE_V4 (0) | IPADDR_TYPE_V6 (6) | IPADDR_TYPE_ANY (46)
//   +17  zone  u8   IPv6 scope zone (RFC 4007 §6): the netif index a scoped
//                   (link-local) address belongs to; 0 = none
//   +18        u16  reserved, zero
//
// The address comes first so that a pointer to an ip_addr is a pointer to its
// address bytes: IPv4 code loads the u32 at +0 (lwIP's ip4_addr.addr, network
// order in memory, so comparisons need no swapping), and pseudo headers and
// ISNs read the 16 bytes in place (lwIP's ip_2_ip4 / ip_2_ip6 are no-ops).
//
// IPADDR_TYPE_ANY is lwIP's "either family": a pcb of that type serves IPv4
// and IPv6 (its all-zero address is both 0.0.0.0 and ::). With LWIP_IPV6 off
// every address is IPv4 (V4, or ANY meaning IPv4 too), and the v6 branches
// below are compiled out.

import { LWIP_IPV6 } from "./config";

export const IPADDR_TYPE_V4: u8 = 0;
export const IPADDR_TYPE_V6: u8 = 6;
export const IPADDR_TYPE_ANY: u8 = 46;
export const IP_ADDR_SIZE: usize = 20;

@unmanaged
export class ip_addr {
  a0: u32; // addr bytes 0..3 (the IPv4 address), network order in memory
  a1: u32;
  a2: u32;
  a3: u32;
  type: u8;
  zone: u8;
  _r: u16;
}

// ---- IPv4 (values: the u32 whose memory bytes are a.b.c.d) --------------------------

export const IP4_ADDR_ANY: u32 = 0;
export const IP4_ADDR_BROADCAST: u32 = 0xffffffff;
/** 127.0.0.1 */
export const IP4_ADDR_LOOPBACK: u32 = 0x0100007f;

/** Makes the in-memory (network order) u32 of a.b.c.d. */
// @ts-ignore: decorator
@inline export function IP4(a: u32, b: u32, c: u32, d: u32): u32 {
  return (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | ((d & 0xff) << 24);
}

// @ts-ignore: decorator
@inline export function ip4_addr_isany(a: u32): bool { return a == 0; }
// @ts-ignore: decorator
@inline export function ip4_addr_isloopback(a: u32): bool { return (a & 0xff) == 127; }
// @ts-ignore: decorator
@inline export function ip4_addr_ismulticast(a: u32): bool { return (a & 0xf0) == 0xe0; }
// @ts-ignore: decorator
@inline export function ip4_addr_islinklocal(a: u32): bool { return (a & 0xffff) == 0xfea9; }
// @ts-ignore: decorator
@inline export function ip4_addr_net_eq(a: u32, b: u32, mask: u32): bool { return (a & mask) == (b & mask); }

// ---- IPv6 (a pointer to 16 bytes in network order; RFC 4291 §2.4) --------------------

/** :: (the unspecified address, RFC 4291 §2.5.2). */
export function ip6_addr_isany(p: usize): bool {
  return (load<u32>(p) | load<u32>(p, 4) | load<u32>(p, 8) | load<u32>(p, 12)) == 0;
}
/** ::1 (RFC 4291 §2.5.3). */
export function ip6_addr_isloopback(p: usize): bool {
  return (load<u32>(p) | load<u32>(p, 4) | load<u32>(p, 8)) == 0 && load<u32>(p, 12) == 0x01000000;
}
/** ff00::/8 (RFC 4291 §2.7). */
// @ts-ignore: decorator
@inline export function ip6_addr_ismulticast(p: usize): bool { return load<u8>(p) == 0xff; }
/** fe80::/10 (RFC 4291 §2.5.6). */
// @ts-ignore: decorator
@inline export function ip6_addr_islinklocal(p: usize): bool { return load<u8>(p) == 0xfe && (load<u8>(p, 1) & 0xc0) == 0x80; }
/** ::ffff:0:0/96, an IPv4-mapped address (RFC 4291 §2.5.5.2); its IPv4 address is the u32 at +12. */
export function ip6_addr_isipv4mapped(p: usize): bool {
  return (load<u32>(p) | load<u32>(p, 4)) == 0 && load<u32>(p, 8) == 0xffff0000;
}

// ---- the tagged address ---------------------------------------------------------------

/** Is `a` an IPv6 address? Always false in builds without IPv6. */
// @ts-ignore: decorator
@inline export function IP_IS_V6(a: ip_addr): bool { return LWIP_IPV6 && a.type == IPADDR_TYPE_V6; }
/** Is `a` an IPv4 address (V4, or ANY, whose zero bytes are 0.0.0.0 too)? */
// @ts-ignore: decorator
@inline export function IP_IS_V4(a: ip_addr): bool { return !IP_IS_V6(a); }
/** Pointer to `a`'s 16 address bytes (lwIP ip_2_ip6). */
// @ts-ignore: decorator
@inline export function ip_2_ip6(a: ip_addr): usize { return changetype<usize>(a); }

// The helpers below that run for every packet (ip_current_*, demux, the
// ABI's address arguments) use plain loads and stores rather than field
// accessors: the size-optimised mvp build keeps accessors as calls.

export function ip_addr_set_ip4(dst: ip_addr, a: u32): void {
  const d = changetype<usize>(dst);
  store<u32>(d, a);
  store<u32>(d, 0, 4);
  store<u64>(d, 0, 8);
  store<u32>(d, 0, 16); // type V4, zone 0, reserved 0
}

/** An IPv6 address from 16 bytes at `src`, with scope zone `zone` (0 = none). */
export function ip_addr_set_ip6(dst: ip_addr, src: usize, zone: u8): void {
  memory.copy(changetype<usize>(dst), src, 16);
  dst.type = IPADDR_TYPE_V6;
  dst.zone = zone;
  dst._r = 0;
}

/** The unspecified address of `type` (0.0.0.0, ::, or either). */
export function ip_addr_set_any(dst: ip_addr, type: u8): void {
  memory.fill(changetype<usize>(dst), 0, IP_ADDR_SIZE);
  dst.type = type;
}

export function ip_addr_copy(dst: ip_addr, src: ip_addr): void {
  memory.copy(changetype<usize>(dst), changetype<usize>(src), IP_ADDR_SIZE);
}

/** 0.0.0.0 or :: (either family's unspecified address). Inline where every address is IPv4. */
export function ip_addr_isany(a: ip_addr): bool {
  if (!LWIP_IPV6) return load<u32>(changetype<usize>(a)) == 0;
  return ip_addr_isany_tagged(a);
}

function ip_addr_isany_tagged(a: ip_addr): bool {
  const p = changetype<usize>(a);
  if (!IP_IS_V6(a)) return load<u32>(p) == 0;
  return (load<u64>(p) | load<u64>(p, 8)) == 0;
}

/**
 * Same family, same address, and for IPv6 the same zone (lwIP ip_addr_cmp).
 * Inline where every address is IPv4.
 */
export function ip_addr_eq(a: ip_addr, b: ip_addr): bool {
  if (!LWIP_IPV6) return load<u32>(changetype<usize>(a)) == load<u32>(changetype<usize>(b));
  return ip_addr_eq_tagged(a, b);
}

function ip_addr_eq_tagged(a: ip_addr, b: ip_addr): bool {
  const p = changetype<usize>(a), q = changetype<usize>(b);
  const type = load<u8>(p, 16);
  if (type != load<u8>(q, 16)) return false;
  if (type != IPADDR_TYPE_V6) return load<u32>(p) == load<u32>(q);
  return load<u64>(p) == load<u64>(q) && load<u64>(p, 8) == load<u64>(q, 8) && load<u8>(p, 17) == load<u8>(q, 17);
}

/** 224.0.0.0/4 or ff00::/8. */
export function ip_addr_ismulticast(a: ip_addr): bool {
  const p = changetype<usize>(a);
  return IP_IS_V6(a) ? ip6_addr_ismulticast(p) : ip4_addr_ismulticast(load<u32>(p));
}

export function ip_addr_isloopback(a: ip_addr): bool {
  return IP_IS_V6(a) ? ip6_addr_isloopback(ip_2_ip6(a)) : ip4_addr_isloopback(a.a0);
}

export function ip_addr_islinklocal(a: ip_addr): bool {
  return IP_IS_V6(a) ? ip6_addr_islinklocal(ip_2_ip6(a)) : ip4_addr_islinklocal(a.a0);
}
