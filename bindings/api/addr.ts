/**
 * Address helpers shared by the host APIs. No node: imports and no value
 * import of Stack, so the browser-safe APIs (sockets, netconn, streams) can
 * use them without pulling Node modules or import cycles in.
 *
 * @module
 */
import type { Stack } from "../stack.js";

/** Is `ip` one of the stack's own IPv4 addresses (or ANY, or 127/8)? */
export function isLocalAddress(stack: Stack, ip: string): boolean {
  if (ip === "0.0.0.0" || ip.startsWith("127.")) return true;
  return stack.ifaces.some((i) => i.ip === ip);
}
