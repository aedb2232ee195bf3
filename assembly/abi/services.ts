// Host-facing exports for the built-in services (apps/services.ts) and the
// stack-wide switches the CLI uses.
import { udp_echo_start, udp_echo_stop } from "../apps/services";
import { ip4_set_forwarding } from "../ipv4/ip4";
import { ERR_ARG } from "../core/err";

/** Starts the UDP echo service on `port`: a handle > 0, or an err_t. */
export function service_udp_echo(port: u32): isize {
  if (port == 0 || port > 0xffff) return ERR_ARG;
  return udp_echo_start(<u16>port);
}

export function service_udp_echo_stop(handle: usize): void {
  udp_echo_stop(handle);
}

/** Turns forwarding between netifs on (≠ 0) or off, IPv4 and IPv6 alike (RFC 1812, RFC 8200 §3). */
export function ip_forwarding(on: u32): void {
  ip4_set_forwarding(on != 0);
}
