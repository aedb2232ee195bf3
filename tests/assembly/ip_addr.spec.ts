// ip_addr: the tagged address's layout (docs/abi.md relies on it) and the
// address facts of both families. The specs build with ASIP_IPV6=1.
import { LWIP_IPV6 } from "../../assembly/config";
import {
  ip_addr, IP_ADDR_SIZE, IPADDR_TYPE_V4, IPADDR_TYPE_V6, IPADDR_TYPE_ANY, IP4, IP_IS_V4, IP_IS_V6,
  ip_addr_set_ip4, ip_addr_set_ip6, ip_addr_set_any, ip_addr_copy, ip_addr_isany, ip_addr_eq,
  ip_addr_ismulticast, ip_addr_isloopback, ip_addr_islinklocal,
  ip6_addr_isany, ip6_addr_isloopback, ip6_addr_ismulticast, ip6_addr_islinklocal, ip6_addr_isipv4mapped,
} from "../../assembly/ip_addr";
import { A, A6 } from "./harness/addr";

describe("ip_addr", () => {
  it("is built with IPv6 (as-pect.config.js)", () => {
    expect(LWIP_IPV6).toBe(true);
  });

  it("lays out 16 address bytes, then type, zone and a reserved half-word (20 bytes)", () => {
    expect(IP_ADDR_SIZE).toBe(20);
    expect(offsetof<ip_addr>("a0")).toBe(0);
    expect(offsetof<ip_addr>("type")).toBe(16);
    expect(offsetof<ip_addr>("zone")).toBe(17);
    expect(offsetof<ip_addr>()).toBe(20);
    const a = A(IP4(192, 0, 2, 1));
    const p = changetype<usize>(a);
    expect(load<u8>(p)).toBe(192, "IPv4 bytes first, network order");
    expect(load<u8>(p, 3)).toBe(1);
    expect(load<u32>(p, 4) | load<u32>(p, 8) | load<u32>(p, 12)).toBe(0, "the rest zero");
    expect(load<u8>(p, 16)).toBe(IPADDR_TYPE_V4);
    const b = A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1, 1, 3);
    const q = changetype<usize>(b);
    expect(load<u8>(q)).toBe(0x20);
    expect(load<u8>(q, 1)).toBe(0x01);
    expect(load<u8>(q, 15)).toBe(1);
    expect(load<u8>(q, 16)).toBe(IPADDR_TYPE_V6);
    expect(load<u8>(q, 17)).toBe(3, "zone");
  });

  it("tells the families apart", () => {
    expect(IP_IS_V4(A(IP4(192, 0, 2, 1)))).toBe(true);
    expect(IP_IS_V6(A(IP4(192, 0, 2, 1)))).toBe(false);
    expect(IP_IS_V6(A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))).toBe(true);
    const any = A(0);
    ip_addr_set_any(any, IPADDR_TYPE_ANY);
    expect(IP_IS_V4(any)).toBe(true, "ANY reads as IPv4 too");
    expect(ip_addr_isany(any)).toBe(true);
  });

  it("compares family, address and (IPv6) zone", () => {
    expect(ip_addr_eq(A(IP4(192, 0, 2, 1), 0), A(IP4(192, 0, 2, 1), 1))).toBe(true);
    expect(ip_addr_eq(A(IP4(192, 0, 2, 1), 0), A(IP4(192, 0, 2, 2), 1))).toBe(false);
    expect(ip_addr_eq(A6(0xfe80, 0, 0, 0, 0, 0, 0, 1, 0, 2), A6(0xfe80, 0, 0, 0, 0, 0, 0, 1, 1, 2))).toBe(true);
    expect(ip_addr_eq(A6(0xfe80, 0, 0, 0, 0, 0, 0, 1, 0, 2), A6(0xfe80, 0, 0, 0, 0, 0, 0, 1, 1, 3))).toBe(false, "other zone");
    // 0.0.0.0 and :: have the same bytes but not the same family.
    const v6any = A6(0, 0, 0, 0, 0, 0, 0, 0, 1);
    expect(ip_addr_eq(A(0, 0), v6any)).toBe(false);
    const c = A(0, 2);
    ip_addr_copy(c, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7, 3));
    expect(ip_addr_eq(c, A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7, 4))).toBe(true, "copied");
    const d = A(0, 5);
    ip_addr_set_ip6(d, changetype<usize>(A6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9, 6)), 0);
    expect(IP_IS_V6(d) && load<u8>(changetype<usize>(d), 15) == 9).toBe(true, "set from 16 bytes");
    ip_addr_set_ip4(d, IP4(10, 0, 0, 1));
    expect(IP_IS_V4(d) && d.a1 == 0 && d.a3 == 0 && d.zone == 0).toBe(true, "set back to IPv4: rest cleared");
  });

  it("knows the special addresses of both families (RFC 1122 §3.2.1.3, RFC 4291 §2.4)", () => {
    expect(ip_addr_ismulticast(A(IP4(224, 0, 0, 1)))).toBe(true);
    expect(ip_addr_ismulticast(A(IP4(192, 0, 2, 1)))).toBe(false);
    expect(ip_addr_isloopback(A(IP4(127, 0, 0, 1)))).toBe(true);
    expect(ip_addr_islinklocal(A(IP4(169, 254, 1, 1)))).toBe(true);
    expect(ip_addr_ismulticast(A6(0xff02, 0, 0, 0, 0, 0, 0, 1))).toBe(true);
    expect(ip_addr_isloopback(A6(0, 0, 0, 0, 0, 0, 0, 1))).toBe(true);
    expect(ip_addr_isloopback(A6(0, 0, 0, 0, 0, 0, 0, 2))).toBe(false);
    expect(ip_addr_islinklocal(A6(0xfe80, 0, 0, 0, 0, 0, 0, 1))).toBe(true);
    expect(ip_addr_islinklocal(A6(0xfec0, 0, 0, 0, 0, 0, 0, 1))).toBe(false, "site-local is not link-local");
    expect(ip6_addr_isany(changetype<usize>(A6(0, 0, 0, 0, 0, 0, 0, 0)))).toBe(true);
    expect(ip6_addr_isloopback(changetype<usize>(A6(0, 0, 0, 0, 0, 0, 0, 1)))).toBe(true);
    expect(ip6_addr_ismulticast(changetype<usize>(A6(0xff05, 0, 0, 0, 0, 0, 0, 2)))).toBe(true);
    expect(ip6_addr_islinklocal(changetype<usize>(A6(0xfebf, 0, 0, 0, 0, 0, 0, 1)))).toBe(true);
    expect(ip6_addr_isipv4mapped(changetype<usize>(A6(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201)))).toBe(true);
    expect(load<u32>(changetype<usize>(A6(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201)), 12)).toBe(IP4(192, 0, 2, 1), "its IPv4 address at +12");
    expect(ip6_addr_isipv4mapped(changetype<usize>(A6(0, 0, 0, 0, 0, 0xfffe, 0xc000, 0x0201)))).toBe(false);
  });
});
