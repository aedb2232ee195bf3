/**
 * Address helpers shared by the host APIs. No node: imports and no value
 * import of Stack, so the browser-safe APIs (sockets, netconn, streams) can
 * use them without pulling Node modules or import cycles in.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { IpAddress } from "../ip-address.js";

/**
 * Is `ip` one of the stack's own addresses: ANY or loopback of either
 * family, an interface's IPv4 address, one of its IPv6 addresses (zone
 * ignored), or the IPv4-mapped form of a local IPv4 address?
 */
export function isLocalAddress(stack: Stack, ip: string): boolean {
  if (ip === "0.0.0.0" || ip.startsWith("127.")) return true;
  if (!ip.includes(":")) return stack.ifaces.some((i) => i.ip === ip);
  const a = IpAddress.tryParse(ip);
  if (!a) return false;
  if (a.isUnspecified() || a.isLoopback()) return true;
  if (a.isV4Mapped()) return isLocalAddress(stack, a.toV4()!.toString());
  const bare = ip.split("%")[0];
  const text = IpAddress.parse(bare).toString();
  // A Stack's interfaces hold a Map of slots; a Worker's view (InterfaceInfo) an array.
  return stack.ifaces.some((i) => {
    const slots = (i as { ip6?: Map<number, { address: string }> | { address: string }[] }).ip6;
    if (!slots) return false;
    for (const s of slots.values()) if (s.address.split("%")[0] === text) return true;
    return false;
  });
}
