// tcp_isn: SipHash-2-4 against the reference vectors, RFC 6528 ISNs.
import { siphash24, tcp_isn4, tcp_isn6, tcp_isn_set_secret } from "../../assembly/tcp/tcp_isn";

// The SipHash reference test vectors (veorq/SipHash vectors.h, the paper's
// appendix): key 00 01 .. 0f, message i bytes 00 01 .. (i-1), for i = 0..63,
// as u64 read little-endian from the 8 output bytes.
const VECTORS: u64[] = [
  0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
  0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
  0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
  0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
  0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
  0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
  0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
  0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
  0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
  0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
  0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
  0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
  0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
  0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
  0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
  0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572
];

const K0: u64 = 0x0706050403020100;
const K1: u64 = 0x0f0e0d0c0b0a0908;
const msg = memory.data(64, 8);
const a6 = memory.data(16, 8);
const b6 = memory.data(16, 8);

function ip4(a: u32, b: u32, c: u32, d: u32): u32 { return a | (b << 8) | (c << 16) | (d << 24); }

describe("siphash24", () => {
  it("matches the 64 reference vectors (key 00..0f, messages 00, 00 01, ...)", () => {
    for (let i = 0; i < 64; i++) store<u8>(msg + i, <u8>i);
    expect(VECTORS.length).toBe(64);
    for (let len = 0; len < 64; len++) {
      expect(siphash24(K0, K1, msg, len)).toBe(VECTORS[len], "length " + len.toString());
    }
  });

  it("gives the paper's worked example (15-byte message) a129ca6149be45e5", () => {
    expect(siphash24(K0, K1, msg, 15)).toBe(0xa129ca6149be45e5);
  });

  it("does not read past the message: bytes after len do not matter", () => {
    for (let i = 0; i < 64; i++) store<u8>(msg + i, <u8>i);
    const h = siphash24(K0, K1, msg, 13);
    store<u8>(msg + 13, 0xff); store<u8>(msg + 15, 0xee);
    expect(siphash24(K0, K1, msg, 13)).toBe(h);
    for (let i = 0; i < 64; i++) store<u8>(msg + i, <u8>i);
  });
});

describe("tcp_isn (RFC 6528)", () => {
  beforeEach(() => { tcp_isn_set_secret(0x0123456789abcdef, 0xfedcba9876543210); });

  it("is M + F: advances 250 per millisecond (4 µs clock) for a fixed tuple", () => {
    const l = ip4(192, 0, 2, 1), r = ip4(192, 0, 2, 2);
    const i0 = tcp_isn4(l, 80, r, 40000, 1000);
    expect(tcp_isn4(l, 80, r, 40000, 1000)).toBe(i0, "deterministic");
    expect(tcp_isn4(l, 80, r, 40000, 1001) - i0).toBe(250);
    expect(tcp_isn4(l, 80, r, 40000, 5000) - i0).toBe(250 * 4000);
    // monotonic over a few hours of clock (until the 32-bit space wraps)
    let prev = tcp_isn4(l, 80, r, 40000, 0);
    for (let t: u32 = 1; t < 17000000; t += 99991) {
      const cur = tcp_isn4(l, 80, r, 40000, t);
      expect(<i32>(cur - prev)).toBeGreaterThan(0);
      prev = cur;
    }
    // the clock wraps cleanly with now_ms
    expect(tcp_isn4(l, 80, r, 40000, 3) - tcp_isn4(l, 80, r, 40000, 0xffffffff)).toBe(250 * 4);
  });

  it("differs across tuples (each field matters) and across secrets", () => {
    const l = ip4(10, 0, 0, 1), r = ip4(10, 0, 0, 2);
    const base = tcp_isn4(l, 1234, r, 80, 777);
    expect(tcp_isn4(ip4(10, 0, 0, 3), 1234, r, 80, 777)).not.toBe(base, "local ip");
    expect(tcp_isn4(l, 1235, r, 80, 777)).not.toBe(base, "local port");
    expect(tcp_isn4(l, 1234, ip4(10, 0, 0, 4), 80, 777)).not.toBe(base, "remote ip");
    expect(tcp_isn4(l, 1234, r, 81, 777)).not.toBe(base, "remote port");
    expect(tcp_isn4(r, 80, l, 1234, 777)).not.toBe(base, "direction");
    tcp_isn_set_secret(0x0123456789abcdef, 0xfedcba9876543211);
    expect(tcp_isn4(l, 1234, r, 80, 777)).not.toBe(base, "secret");
  });

  it("spreads consecutive ports over the sequence space (no visible pattern)", () => {
    const l = ip4(10, 0, 0, 1), r = ip4(10, 0, 0, 2);
    let hi: u32 = 0;
    for (let p: u32 = 49152; p < 49152 + 256; p++) {
      const isn = tcp_isn4(l, <u16>p, r, 80, 0);
      if (isn >= 0x80000000) hi++;
    }
    // Top bit set about half the time (binomial 256, 1/2: 128 ± 8).
    expect(hi).toBeGreaterThan(96);
    expect(hi).toBeLessThan(160);
  });

  it("equals SipHash of the wire-order tuple with the low 32 bits as F", () => {
    tcp_isn_set_secret(K0, K1);
    // 192.0.2.1:80 -> 192.0.2.2:40000, network order
    const t = msg;
    store<u8>(t, 192); store<u8>(t + 1, 0); store<u8>(t + 2, 2); store<u8>(t + 3, 1);
    store<u8>(t + 4, 0); store<u8>(t + 5, 80);
    store<u8>(t + 6, 192); store<u8>(t + 7, 0); store<u8>(t + 8, 2); store<u8>(t + 9, 2);
    store<u8>(t + 10, 0x9c); store<u8>(t + 11, 0x40);
    const f = <u32>siphash24(K0, K1, t, 12);
    expect(tcp_isn4(ip4(192, 0, 2, 1), 80, ip4(192, 0, 2, 2), 40000, 2)).toBe(f + 500);
    for (let i = 0; i < 64; i++) store<u8>(msg + i, <u8>i);
  });

  it("IPv6 variant: deterministic, time-driven, tuple-sensitive", () => {
    for (let i = 0; i < 16; i++) { store<u8>(a6 + i, <u8>(0x20 + i)); store<u8>(b6 + i, <u8>(0x40 + i)); }
    const i0 = tcp_isn6(a6, 443, b6, 50000, 10);
    expect(tcp_isn6(a6, 443, b6, 50000, 10)).toBe(i0);
    expect(tcp_isn6(a6, 443, b6, 50000, 14) - i0).toBe(1000);
    expect(tcp_isn6(b6, 443, a6, 50000, 10)).not.toBe(i0);
    store<u8>(b6 + 15, 0x99);
    expect(tcp_isn6(a6, 443, b6, 50000, 10)).not.toBe(i0);
    expect(tcp_isn6(a6, 444, b6, 50000, 10)).not.toBe(tcp_isn6(a6, 443, b6, 50000, 10));
  });
});
