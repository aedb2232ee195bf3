// Browser stand-in for node:buffer (see events.js): Uint8Array-based.
const enc = new TextEncoder();
export class Buffer extends Uint8Array {
  static from(x, o, l) {
    if (typeof x === "string") return new Buffer(enc.encode(x));
    if (x instanceof ArrayBuffer) return new Buffer(x, o, l);
    return new Buffer(x);
  }
  static alloc(n) { return new Buffer(n); }
  static isBuffer(b) { return b instanceof Buffer; }
  static concat(list) {
    const out = new Buffer(list.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of list) { out.set(b, o); o += b.length; }
    return out;
  }
  toString() { return new TextDecoder().decode(this); }
}
export default { Buffer };
