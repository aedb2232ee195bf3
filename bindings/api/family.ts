/**
 * Socket families over the core's pcb families, one set of rules for
 * node:net, node:dgram, the BSD sockets and the WHATWG streams.
 *
 * A socket of family 6 (AF_INET6, `'udp6'`, a `'::'` listener) is, as on
 * Linux (ipv6(7)), dual-stack unless it is IPv6-only: it talks to IPv4
 * peers through IPv4-mapped addresses (`::ffff:a.b.c.d`, RFC 4291
 * §2.5.5.2). The core has no mapped addresses: its dual-stack pcb (ip_type
 * 46, lwIP's IPADDR_TYPE_ANY) carries IPv4 with IPv4 addresses. So the
 * mapping is done here, at the edge: a mapped address going in becomes the
 * IPv4 address, and an IPv4 address coming out of a family-6 socket's pcb
 * becomes the mapped one.
 *
 * | socket                      | pcb ip_type | bound to            |
 * |-----------------------------|-------------|---------------------|
 * | family 4, any address       | 4           | the address         |
 * | family 6, `::`              | 46          | ANY (both families) |
 * | family 6, `::`, IPv6-only   | 6           | `::`                |
 * | family 6, `::ffff:a.b.c.d`  | 46          | a.b.c.d             |
 * | family 6, an IPv6 address   | 6           | the address         |
 *
 * @module
 */
import { IpAddress } from "../ip-address.js";
import type { IpType } from "./raw-args.js";

/** Node's family names. */
export type FamilyName = "IPv4" | "IPv6";

/** "IPv6" for text with a colon (any IPv6 address, mapped ones too), else "IPv4". */
export function familyName(address: string): FamilyName {
  return address.includes(":") ? "IPv6" : "IPv4";
}

/**
 * How a socket of `family` names an address its pcb reports: an IPv4
 * address, seen by a family-6 socket, is IPv4-mapped.
 */
export function socketAddress(address: string, family: 4 | 6): string {
  return family === 6 && !address.includes(":") ? `::ffff:${address}` : address;
}

/** The address the core uses for `a`: the IPv4 address inside an IPv4-mapped one, else `a`. */
export function coreAddress(a: IpAddress): IpAddress {
  return a.isV4Mapped() ? a.toV4()! : a;
}

/** What a socket of `family` bound to `addr` is in the core. */
export interface PcbPlan {
  ipType: IpType;
  /** The address to bind the pcb to (text the raw API takes). */
  ip: string;
}

/**
 * The pcb family and bind address of a socket of `family` bound (or about
 * to connect) with local address `addr`. Undefined when the combination
 * is impossible: an IPv6 address on a family-4 socket, or an IPv4-mapped
 * one on an IPv6-only socket (Linux: EINVAL / EAFNOSUPPORT).
 */
export function pcbPlan(family: 4 | 6, addr: IpAddress, v6only: boolean): PcbPlan | undefined {
  if (family === 4) return addr.family === 4 ? { ipType: 4, ip: addr.toString() } : undefined;
  if (addr.family === 4) return undefined; // AF_INET6 sockets take IPv6 text (mapped for IPv4)
  if (addr.isV4Mapped()) return v6only ? undefined : { ipType: 46, ip: addr.toV4()!.toString() };
  if (addr.isUnspecified()) return { ipType: v6only ? 6 : 46, ip: "::" };
  return { ipType: 6, ip: addr.toString() };
}

/**
 * The pcb family of a socket of `family` that connects to `dst` without a
 * bind: 6 for an IPv6 peer, 46 for an IPv4-mapped one (undefined when
 * IPv6-only: Linux refuses with ENETUNREACH), 4 for IPv4.
 */
export function connectIpType(family: 4 | 6, dst: IpAddress, v6only: boolean): IpType | undefined {
  if (family === 4) return dst.family === 4 ? 4 : undefined;
  if (dst.family === 4) return undefined;
  if (dst.isV4Mapped()) return v6only ? undefined : 46;
  return 6;
}
