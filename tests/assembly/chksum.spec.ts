import {
  inet_chksum, lwip_standard_chksum, inet_chksum_scalar, lwip_standard_chksum_scalar,
  inet_chksum_simd, lwip_standard_chksum_simd, inet_chksum_pbuf, inet_chksum_pseudo,
  inet_chksum_pseudo_partial, ip6_chksum_pseudo, ip6_chksum_pseudo_partial, inet_chksum_copy,
  pbuf_copy_in_chksum, chksum_add, chksum_swap, CHKSUM_COPY_ERR,
} from "../../assembly/core/chksum";
import { pbuf } from "../../assembly/core/pbuf";
import { ref_sum } from "./harness/checksum";

// xorshift32: deterministic test data
let seed: u32 = 0x2545f491;
function rnd(): u32 {
  let x = seed;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  seed = x;
  return x;
}
function fill(p: usize, n: usize): void {
  for (let i: usize = 0; i < n; i++) store<u8>(p + i, <u8>rnd());
}

function ref_chksum(p: usize, n: usize): u16 {
  return <u16>~ref_sum(p, <u32>n);
}

const MAX: usize = 1 << 20;
const buf = heap.alloc(MAX + 64);
const buf2 = heap.alloc(MAX + 64);

function bytes_equal(a: usize, b: usize, n: usize): bool {
  for (let i: usize = 0; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Builds a chain over `total` random bytes with random (often odd) segment lengths; the same bytes go to `flat`. */
function make_chain(total: u32, flat: usize, max_seg: u32): pbuf {
  fill(flat, total);
  let head: pbuf | null = null;
  let tail: pbuf | null = null;
  let done: u32 = 0;
  const segs = new Array<pbuf>();
  do {
    let n = rnd() % (max_seg + 1);
    if (n > total - done) n = total - done;
    const q = changetype<pbuf>(heap.alloc(24));
    const room = heap.alloc(n + 8);
    q.payload = room + (rnd() & 7);
    memory.copy(q.payload, flat + done, n);
    q.len = n;
    q.next = null;
    q.type_internal = 0x80;
    q.ref = 1;
    if (tail === null) head = q; else tail.next = q;
    tail = q;
    segs.push(q);
    done += n;
  } while (done < total);
  // tot_len: this segment and all that follow
  let rest = total;
  for (let i = 0; i < segs.length; i++) {
    segs[i].tot_len = rest;
    rest -= segs[i].len;
  }
  return changetype<pbuf>(head);
}

function free_chain(p: pbuf | null): void {
  while (p !== null) {
    const next = p.next;
    heap.free(changetype<usize>(p));
    p = next;
  }
}

describe("chksum", () => {
  it("matches RFC 1071 §3's worked example", () => {
    const p = buf;
    const ex: u8[] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    for (let i = 0; i < ex.length; i++) store<u8>(p + i, ex[i]);
    expect(lwip_standard_chksum(p, 8)).toBe(0xddf2);
    expect(inet_chksum(p, 8)).toBe(0x220d);
    expect(inet_chksum_scalar(p, 8)).toBe(0x220d);
    expect(inet_chksum_simd(p, 8)).toBe(0x220d);
  });

  it("checksums an IPv4 header, and the header with its checksum sums to zero", () => {
    const h: u8[] = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
      0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
    for (let off: usize = 0; off < 8; off++) {
      const p = buf + off;
      for (let i = 0; i < h.length; i++) store<u8>(p + i, h[i]);
      const c = inet_chksum(p, 20);
      expect(c).toBe(0xb861);
      store<u16>(p + 10, bswap<u16>(c));
      expect(inet_chksum(p, 20)).toBe(0);
      expect(inet_chksum_scalar(p, 20)).toBe(0);
    }
  });

  it("equals the byte-pair reference for every length 0..2048 (scalar == simd == reference)", () => {
    let bad = 0;
    for (let len: u32 = 0; len <= 2048; len++) {
      const p = buf + (len & 7);
      fill(p, len);
      const r = ref_chksum(p, len);
      if (inet_chksum(p, len) != r) bad++;
      if (inet_chksum_scalar(p, len) != r) bad++;
      if (inet_chksum_simd(p, len) != r) bad++;
      if (lwip_standard_chksum(p, len) != <u16>~r) bad++;
      if (lwip_standard_chksum_scalar(p, len) != <u16>~r) bad++;
      if (lwip_standard_chksum_simd(p, len) != <u16>~r) bad++;
    }
    expect(bad).toBe(0);
  });

  it("equals the reference for random lengths up to 1 MiB at offsets 0..7", () => {
    for (let i = 0; i < 48; i++) {
      const len = i < 8 ? <u32>MAX - <u32>i : rnd() % (<u32>MAX + 1);
      const p = buf + (i & 7);
      fill(p, len);
      const r = ref_chksum(p, len);
      expect(inet_chksum(p, len)).toBe(r);
      expect(inet_chksum_scalar(p, len)).toBe(r);
      expect(inet_chksum_simd(p, len)).toBe(r);
    }
  });

  it("handles all-0xFF data, the worst case for the lane accumulators", () => {
    const big = heap.alloc(4 << 20);
    memory.fill(big, 0xff, 4 << 20);
    const lens: u32[] = [0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 1500, 65535, 65536, 512 << 10, (512 << 10) + 64, 3 << 20, (4 << 20) - 1, 4 << 20];
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i];
      const r = ref_chksum(big, len);
      expect(inet_chksum(big, len)).toBe(r);
      expect(inet_chksum_scalar(big, len)).toBe(r);
      expect(inet_chksum_simd(big, len)).toBe(r);
    }
    // even lengths of 0xff words sum to 0xffff (negative zero): checksum 0
    expect(inet_chksum(big, 4 << 20)).toBe(0);
    heap.free(big);
  });

  it("gives 0xffff for all-zero data (never confuses +0 and -0)", () => {
    memory.fill(buf, 0, 4096);
    expect(inet_chksum(buf, 4096)).toBe(0xffff);
    expect(inet_chksum_scalar(buf + 3, 1001)).toBe(0xffff);
    expect(lwip_standard_chksum(buf, 0)).toBe(0);
  });

  it("sums pbuf chains with odd segment lengths like the flat packet", () => {
    for (let i = 0; i < 300; i++) {
      const total = i < 20 ? <u32>i : rnd() % 9000;
      const max_seg: u32 = (i & 1) ? 7 : 1600;
      const p = make_chain(total, buf, max_seg);
      expect(inet_chksum_pbuf(p)).toBe(ref_chksum(buf, total));
      free_chain(p);
    }
  });

  it("combines partial sums with chksum_add and chksum_swap at odd splits", () => {
    for (let i = 0; i < 200; i++) {
      const len = rnd() % 3000;
      fill(buf, len);
      const cut = len == 0 ? 0 : rnd() % len;
      let a = <u32>lwip_standard_chksum(buf, cut);
      let b = <u32>lwip_standard_chksum(buf + cut, len - cut);
      if (cut & 1) b = chksum_swap(b);
      expect(<u16>~chksum_add(a, b)).toBe(ref_chksum(buf, len));
    }
  });

  it("covers the IPv4 pseudo header (RFC 768), whole and partial (RFC 3828)", () => {
    const src = heap.alloc(4), dst = heap.alloc(4);
    for (let i = 0; i < 200; i++) {
      store<u32>(src, rnd()); store<u32>(dst, rnd());
      const proto = <u8>(i & 1 ? 17 : 6);
      const total = rnd() % 3000;
      const ph = buf2;
      // pseudo header: src, dst, zero, proto, length (16 bits)
      memory.copy(ph, src, 4); memory.copy(ph + 4, dst, 4);
      store<u8>(ph + 8, 0); store<u8>(ph + 9, proto);
      store<u16>(ph + 10, bswap<u16>(<u16>total));
      const p = make_chain(total, ph + 12, 301);
      expect(inet_chksum_pseudo(p, proto, total, src, dst)).toBe(ref_chksum(ph, 12 + total));
      const cover = total == 0 ? 0 : rnd() % (total + 1);
      expect(inet_chksum_pseudo_partial(p, 136, total, cover, src, dst))
        .toBe((store<u8>(ph + 9, 136), ref_chksum(ph, 12 + cover)));
      free_chain(p);
    }
  });

  it("covers the IPv6 pseudo header (RFC 8200 §8.1), whole and partial", () => {
    const src = heap.alloc(16), dst = heap.alloc(16);
    for (let i = 0; i < 200; i++) {
      fill(src, 16); fill(dst, 16);
      const proto = <u8>(i % 3 == 0 ? 58 : i % 3 == 1 ? 17 : 6);
      const total = i < 4 ? 70000 + <u32>i : rnd() % 3000;
      const ph = buf2;
      // pseudo header: src, dst, length (32 bits), three zero bytes, next header
      memory.copy(ph, src, 16); memory.copy(ph + 16, dst, 16);
      store<u32>(ph + 32, bswap<u32>(total));
      store<u32>(ph + 36, 0); store<u8>(ph + 39, proto);
      const p = make_chain(total, ph + 40, 1500);
      expect(ip6_chksum_pseudo(p, proto, total, src, dst)).toBe(ref_chksum(ph, 40 + total));
      const cover = total == 0 ? 0 : rnd() % (total + 1);
      store<u8>(ph + 39, 136);
      expect(ip6_chksum_pseudo_partial(p, 136, total, cover, src, dst)).toBe(ref_chksum(ph, 40 + cover));
      free_chain(p);
    }
  });

  it("copies with checksum exactly like copy + checksum", () => {
    for (let i = 0; i < 400; i++) {
      const len = i < 130 ? <u32>i : rnd() % (i < 390 ? 70000 : <u32>MAX);
      const s = buf + (rnd() & 7), d = buf2 + (rnd() & 7);
      fill(s, len);
      memory.fill(d, 0xa5, len + 1);
      const sum = inet_chksum_copy(d, s, len);
      expect(sum).toBe(ref_sum(s, len));
      expect(bytes_equal(d, s, len)).toBe(true);
      expect(load<u8>(d + len)).toBe(0xa5);
    }
  });

  it("copies into a pbuf chain at an offset with checksum (pbuf_copy_in_chksum)", () => {
    for (let i = 0; i < 300; i++) {
      const total = 1 + rnd() % 5000;
      const p = make_chain(total, buf2, (i & 1) ? 9 : 1600);
      const offset = rnd() % total;
      const len = rnd() % (total - offset + 1);
      const src = buf + (rnd() & 7);
      fill(src, len);
      const sum = pbuf_copy_in_chksum(p, offset, src, len);
      expect(sum).toBe(ref_sum(src, len));
      // expected packet: original bytes with [offset, offset+len) replaced
      memory.copy(buf2 + offset, src, len);
      let q: pbuf | null = p;
      let at: usize = 0;
      let same = true;
      while (q !== null) {
        if (!bytes_equal(q.payload, buf2 + at, q.len)) same = false;
        at += q.len;
        q = q.next;
      }
      expect(same).toBe(true);
      expect(pbuf_copy_in_chksum(p, offset, src, total - offset + 1)).toBe(CHKSUM_COPY_ERR);
      free_chain(p);
    }
  });
});
