/**
 * DNS messages (RFC 1035 §4.1): the header and question names.
 *
 * @module
 */

export const DNS_HLEN = 12;
export const DNS_PORT = 53;

/**
 * Reads the name at `off` of a question (labels, no compression pointers:
 * RFC 1035 §4.1.2 questions carry the name in full); [name, offset after
 * it], or undefined when malformed (a label over 63, a name over 255 bytes).
 */
export function dnsName(m: Uint8Array, off: number): [string, number] | undefined {
  const labels: string[] = [];
  let n = 0;
  while (off < m.length) {
    const len = m[off++];
    if (len === 0) return [labels.join("."), off];
    if (len > 63 || off + len > m.length || (n += len + 1) > 255) return undefined;
    labels.push(String.fromCharCode(...m.subarray(off, off + len)));
    off += len;
  }
  return undefined;
}
