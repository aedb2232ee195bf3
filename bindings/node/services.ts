/**
 * Built-in services for `asip up --serve` (each runs inside the core).
 *
 * @module
 */
import type { Stack } from "../stack.js";
import { check } from "../abi.js";

/** Services `--serve` knows, with their default ports. */
export const SERVICES: Record<string, { port: number; start: (s: Stack, port: number) => number }> = {
  "udp-echo": { port: 7, start: (s, port) => s.guard(() => s.ex.service_udp_echo(port)) },
  // TCP services (assembly/apps/tcp_services.ts): RFC 862, 863, 864, and a test HTTP responder.
  echo: { port: 7, start: (s, port) => Number(s.guard(() => s.ex.service_tcp(0, port))) },
  discard: { port: 9, start: (s, port) => Number(s.guard(() => s.ex.service_tcp(1, port))) },
  chargen: { port: 19, start: (s, port) => Number(s.guard(() => s.ex.service_tcp(2, port))) },
  http: { port: 80, start: (s, port) => Number(s.guard(() => s.ex.service_tcp(3, port))) },
};
export const SERVICE_NAMES = Object.keys(SERVICES);

/** Starts services given as `name[:port]`. */
export function startServices(stack: Stack, list: string[]): void {
  for (const item of list) {
    const [name, p] = item.split(":");
    const svc = SERVICES[name];
    if (!svc) throw new Error(`unknown service ${name} (known: ${SERVICE_NAMES.join(", ")})`);
    const port = p === undefined ? svc.port : Number(p);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port in ${item}`);
    check(svc.start(stack, port), `--serve ${item}`);
  }
  stack.drainNow();
}
