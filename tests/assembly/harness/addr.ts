// Addresses for specs: ip_addr values in a few fixed slots (a test names at
// most a handful at once), MACs, and the usual TEST-NET fixtures.
import { ip_addr, ip_addr_set_ip4, IP_ADDR_SIZE, IPADDR_TYPE_V6, IP4 } from "../../../assembly/ip_addr";

const SLOTS: u32 = 8;
const slots: usize = memory.data(<i32>(SLOTS * <u32>IP_ADDR_SIZE), 8);

/** The IPv4 address `a` (network-order u32, see IP4) as an ip_addr in slot `slot` (0..7). */
export function A(a: u32, slot: u32 = 0): ip_addr {
  const r = changetype<ip_addr>(slots + <usize>(slot % SLOTS) * IP_ADDR_SIZE);
  ip_addr_set_ip4(r, a);
  return r;
}

/**
 * An IPv6 address from its eight 16-bit groups (as written: 0x2001, 0xdb8, …)
 * in slot `slot`, with scope zone `zone` (a netif index, 0 = none).
 */
export function A6(g0: u16, g1: u16, g2: u16, g3: u16, g4: u16, g5: u16, g6: u16, g7: u16, slot: u32 = 0, zone: u8 = 0): ip_addr {
  const r = changetype<ip_addr>(slots + <usize>(slot % SLOTS) * IP_ADDR_SIZE);
  memory.fill(changetype<usize>(r), 0, IP_ADDR_SIZE);
  const b = changetype<usize>(r);
  store<u16>(b, bswap<u16>(g0)); store<u16>(b, bswap<u16>(g1), 2);
  store<u16>(b, bswap<u16>(g2), 4); store<u16>(b, bswap<u16>(g3), 6);
  store<u16>(b, bswap<u16>(g4), 8); store<u16>(b, bswap<u16>(g5), 10);
  store<u16>(b, bswap<u16>(g6), 12); store<u16>(b, bswap<u16>(g7), 14);
  r.type = IPADDR_TYPE_V6;
  r.zone = zone;
  return r;
}

// TEST-NET-1 (RFC 5737) and documentation IPv6 (RFC 3849), as the peer tests use them.
export const OUR_IP = IP4(192, 0, 2, 2);
export const PEER_IP = IP4(192, 0, 2, 1);
export const MASK = IP4(255, 255, 255, 0);

export const OUR_MAC: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x02, 0, 0]);
export const PEER_MAC: usize = memory.data<u8>([0x02, 0, 0, 0, 0, 0x01, 0, 0]);
export const BCAST_MAC: usize = memory.data<u8>([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);

export function mac_is(a: usize, b: usize): bool { return memory.compare(a, b, 6) == 0; }
export function be16(a: usize): u16 { return bswap<u16>(load<u16>(a)); }
export function be32(a: usize): u32 { return bswap<u32>(load<u32>(a)); }
