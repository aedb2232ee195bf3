/**
 * DHCP messages (RFC 2131 §2) and their options (RFC 2132): what a DHCP
 * server or client reads.
 *
 * @module
 */
import { rd32 } from "./bytes.js";

/** DHCP message types (option 53). */
export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
/** The magic cookie before the options (RFC 2131 §3). */
export const DHCP_MAGIC = 0x63825363;
/** Fixed part of a BOOTP/DHCP message before the magic cookie. */
export const BOOTP_LEN = 236;
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

/** Reads DHCP options into a map (code → bytes); undefined when malformed. */
export function dhcpOptions(m: Uint8Array): Map<number, Uint8Array> | undefined {
  if (m.length < BOOTP_LEN + 4 || rd32(m, BOOTP_LEN) !== DHCP_MAGIC) return undefined;
  const opts = new Map<number, Uint8Array>();
  let i = BOOTP_LEN + 4;
  while (i < m.length) {
    const code = m[i++];
    if (code === 0) continue; // pad
    if (code === 255) return opts; // end
    if (i >= m.length) return undefined;
    const len = m[i++];
    if (i + len > m.length) return undefined;
    opts.set(code, m.subarray(i, i + len));
    i += len;
  }
  return opts; // no end option: tolerated, like most servers
}
