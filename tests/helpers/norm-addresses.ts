/**
 * What differential tests compare when Node and asip run on different
 * addresses (Node on the kernel's loopback, asip on 192.0.2.0/24 and
 * 2001:db8::/64): IPv4 addresses become "V4" (mapped ones keep their
 * ::ffff: prefix), other IPv6 ones but '::' become "V6", and numeric
 * fields named …port become "P", through strings, arrays and objects.
 */
import { IpAddress } from "../../bindings/ip-address.js";

export function normAddresses(x: unknown): unknown {
  if (typeof x === "string") {
    const a = IpAddress.tryParse(x);
    if (a?.family === 6 && !a.isUnspecified() && !a.isV4Mapped()) return "V6";
    return x.replace(/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/g, "V4");
  }
  if (Array.isArray(x)) return x.map(normAddresses);
  if (x && typeof x === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = /port$/i.test(k) && typeof v === "number" ? "P" : normAddresses(v);
    return o;
  }
  return x;
}
