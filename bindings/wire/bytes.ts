/**
 * Big-endian (network byte order) fields in byte arrays: what every header
 * of bindings/wire reads and writes with.
 *
 * @module
 */

export const rd16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
export const rd32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
export const wr16 = (b: Uint8Array, o: number, v: number): void => { b[o] = (v >>> 8) & 255; b[o + 1] = v & 255; };
export const wr32 = (b: Uint8Array, o: number, v: number): void => { wr16(b, o, v >>> 16); wr16(b, o + 2, v & 0xffff); };
