// ip_addr: the tagged dual-stack address (lwIP ip_addr.h).
//
// Every address a pcb or netif holds is an ip_addr: a type tag and room for
// an IPv6 address. IPv4 addresses occupy the first 4 bytes, stored in
// network byte order, so `load<u32>` of them gives lwIP's `ip4_addr.addr`
// (network order in memory) and comparisons need no swapping.
//
//   struct ip_addr (20 bytes):
//   +0  type  u8   IPADDR_TYPE_V4 | IPADDR_TYPE_V6 | IPADDR_TYPE_ANY
//   +1  zone  u8   IPv6 scope zone (netif index), 0 = none
//   +2..3          reserved
//   +4  addr  16 bytes (IPv4: first 4 bytes)

export const IPADDR_TYPE_V4: u8 = 0;
export const IPADDR_TYPE_V6: u8 = 6;
export const IPADDR_TYPE_ANY: u8 = 46;
export const IP_ADDR_SIZE: usize = 20;

@unmanaged
export class ip_addr {
  type: u8;
  zone: u8;
  _r: u16;
  a0: u32; // addr bytes 0..3 (the IPv4 address), network order in memory
  a1: u32;
  a2: u32;
  a3: u32;
}

// IPv4 constants, as u32 values whose memory bytes are in network order.
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

export function ip_addr_set_ip4(dst: ip_addr, a: u32): void {
  dst.type = IPADDR_TYPE_V4;
  dst.zone = 0;
  dst.a0 = a;
  dst.a1 = 0;
  dst.a2 = 0;
  dst.a3 = 0;
}

export function ip_addr_copy(dst: ip_addr, src: ip_addr): void {
  memory.copy(changetype<usize>(dst), changetype<usize>(src), IP_ADDR_SIZE);
}

export function ip_addr_isany(a: ip_addr): bool {
  if (a.type == IPADDR_TYPE_V4) return a.a0 == 0;
  return (a.a0 | a.a1 | a.a2 | a.a3) == 0;
}

export function ip_addr_eq(a: ip_addr, b: ip_addr): bool {
  if (a.type != b.type) return false;
  if (a.type == IPADDR_TYPE_V4) return a.a0 == b.a0;
  return a.a0 == b.a0 && a.a1 == b.a1 && a.a2 == b.a2 && a.a3 == b.a3 && a.zone == b.zone;
}
