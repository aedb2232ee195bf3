/**
 * IP addresses of both families, for every host API: parsing (the text forms
 * of RFC 4291 §2.2, with a scope zone as in RFC 4007 §11), formatting (RFC
 * 5952: lower case, the longest run of zero groups as `::`, IPv4-mapped
 * addresses as `::ffff:a.b.c.d`), the family, and the core's encoding of an
 * address: the 20-byte ip_addr of docs/abi.md (16 address bytes, a type, a
 * zone index). Every place the bindings turn text into core arguments or
 * core results into text goes through here.
 *
 * ```ts
 * IpAddress.parse("2001:DB8:0:0:0:0:0:1").toString();   // "2001:db8::1"
 * IpAddress.parse("::ffff:192.0.2.1").toV4()?.toString(); // "192.0.2.1"
 * IpAddress.parse("fe80::1%tap0").zone;                  // "tap0"
 * ```
 *
 * @module
 */

/** 4 or 6. */
export type IpFamily = 4 | 6;

/** ip_addr type bytes (assembly/ip_addr.ts). */
export const IPADDR_TYPE_V4 = 0;
export const IPADDR_TYPE_V6 = 6;
export const IPADDR_TYPE_ANY = 46;
/** Bytes of one ip_addr in core memory. */
export const IP_ADDR_SIZE = 20;

const V4_RE = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/**
 * The four bytes of a dotted-quad IPv4 address (each a decimal number
 * 0..255 of one to three digits, RFC 1123 §2.1, without leading zeros:
 * inet_pton and node:net's isIP refuse "01.2.3.4", which inet_aton would
 * read as octal), or undefined.
 */
function parseV4Bytes(s: string): number[] | undefined {
  const m = V4_RE.exec(s);
  if (!m) return undefined;
  const b = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  return b.every((x) => x <= 255) ? b : undefined;
}

/** The 16 bytes of an IPv6 address in RFC 4291 §2.2 text form (without a zone), or undefined. */
function parseV6Bytes(s: string): Uint8Array | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  const out = new Uint8Array(16);
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const r: number[] = [];
    const fields = part.split(":");
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      if (i === fields.length - 1 && f.includes(".")) {
        // An IPv4 address in the last 32 bits (RFC 4291 §2.2 form 3).
        const b = parseV4Bytes(f);
        if (!b) return undefined;
        r.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(f)) return undefined;
      r.push(parseInt(f, 16));
    }
    return r;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  // An IPv4 part may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  const n = head.length + tail.length;
  if (halves.length === 1 ? n !== 8 : n > 7) return undefined; // "::" stands for at least one group
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >>> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/** RFC 5952 §4: the text of 16 address bytes. */
function formatV6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i] << 8) | b[2 * i + 1]);
  // §5: an IPv4-mapped address ends in dotted decimal.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  // §4.2: the longest run of two or more zero groups (the first of equals) becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The last two unscoped IPv6 addresses {@link IpAddress.read} made (a flow reads the same ones again). */
const read6Cache: (IpAddress | undefined)[] = [undefined, undefined];
let read6Next = 0;

/** An IPv4 or IPv6 address, immutable; IPv6 ones may carry a scope zone. */
export class IpAddress {
  /** 4 or 6. */
  readonly family: IpFamily;
  /**
   * The scope zone of an IPv6 address (RFC 4007 §11): an interface name or
   * index as written after `%`; undefined when there is none.
   */
  readonly zone: string | undefined;
  /**
   * @internal The address bytes as the core stores them: four u32s, each
   * read little-endian from four network-order bytes (IPv4: w0 only).
   */
  readonly w: Uint32Array;
  private text: string | undefined;

  private constructor(family: IpFamily, w: Uint32Array, zone: string | undefined) {
    this.family = family;
    this.w = w;
    this.zone = zone;
  }

  /** Parses "a.b.c.d", an RFC 4291 §2.2 IPv6 address, or either with "%zone" (IPv6 only). Throws a TypeError otherwise. */
  static parse(text: string): IpAddress {
    const a = IpAddress.tryParse(text);
    if (!a) throw new TypeError(`not an IP address: ${JSON.stringify(text)}`);
    return a;
  }

  /** As {@link parse}, undefined instead of throwing. */
  static tryParse(text: string): IpAddress | undefined {
    if (typeof text !== "string") return undefined;
    const v4 = parseV4Bytes(text);
    if (v4) return IpAddress.fromBytes(Uint8Array.from(v4));
    const pct = text.indexOf("%");
    const addr = pct < 0 ? text : text.slice(0, pct);
    const zone = pct < 0 ? undefined : text.slice(pct + 1);
    if (zone !== undefined && (zone.length === 0 || /[%\s]/.test(zone))) return undefined;
    const b = parseV6Bytes(addr);
    return b ? IpAddress.fromBytes(b, zone) : undefined;
  }

  /** An address from its 4 or 16 network-order bytes. */
  static fromBytes(bytes: Uint8Array, zone?: string): IpAddress {
    if (bytes.length === 4) return new IpAddress(4, Uint32Array.of(bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24), 0, 0, 0), undefined);
    if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
    const w = new Uint32Array(4);
    for (let i = 0; i < 4; i++) w[i] = bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) | (bytes[4 * i + 3] << 24);
    return new IpAddress(6, w, zone);
  }

  /** An IPv4 address from the core's network-order u32 (the u32 whose memory bytes are a.b.c.d). */
  static fromCore4(v: number): IpAddress {
    return new IpAddress(4, Uint32Array.of(v >>> 0, 0, 0, 0), undefined);
  }

  /** An IPv4 address from its 32-bit number, a·2²⁴ + b·2¹⁶ + c·2⁸ + d (as read big-endian off the wire). */
  static fromV4Int(n: number): IpAddress {
    n >>>= 0;
    return IpAddress.fromCore4(((n >>> 24) | ((n >>> 8) & 0xff00) | ((n & 0xff00) << 8) | (n << 24)) >>> 0);
  }

  /**
   * Reads an ip_addr (20 bytes, docs/abi.md) at `ptr` (4-aligned) of core
   * memory. A zone index is named by `zoneName` (else written as its number).
   * IPADDR_TYPE_ANY reads as `::` (a dual-stack pcb's unspecified address).
   */
  static read(mem32: Uint32Array, ptr: number, zoneName?: (index: number) => string | undefined): IpAddress {
    const i = ptr >>> 2;
    const tz = mem32[i + 4];
    const type = tz & 0xff;
    if (type === IPADDR_TYPE_V4) return IpAddress.fromCore4(mem32[i]);
    if (type === IPADDR_TYPE_ANY) return IpAddress.ANY6;
    const zi = (tz >>> 8) & 0xff;
    if (zi === 0) {
      // Addresses are immutable, so the last two unscoped ones read are
      // handed out again: a flow's every datagram names the same peer, and
      // formatting 16 bytes per event cost IPv6 more than the stack did.
      for (const c of read6Cache) {
        if (c && c.w[0] === mem32[i] && c.w[1] === mem32[i + 1] && c.w[2] === mem32[i + 2] && c.w[3] === mem32[i + 3]) return c;
      }
      const a = new IpAddress(6, Uint32Array.of(mem32[i], mem32[i + 1], mem32[i + 2], mem32[i + 3]), undefined);
      read6Cache[read6Next] = a;
      read6Next ^= 1;
      return a;
    }
    const zone = zoneName?.(zi) ?? String(zi);
    return new IpAddress(6, Uint32Array.of(mem32[i], mem32[i + 1], mem32[i + 2], mem32[i + 3]), zone);
  }

  /** The core's network-order u32 of an IPv4 address. A TypeError for IPv6. */
  get core4(): number {
    if (this.family !== 4) throw new TypeError(`not an IPv4 address: ${this.toString()}`);
    return this.w[0];
  }

  /** The 32-bit number of an IPv4 address (a·2²⁴ + … + d). A TypeError for IPv6. */
  get v4Int(): number {
    const v = this.core4;
    return ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) >>> 0;
  }

  /** The 4 or 16 network-order bytes. */
  bytes(): Uint8Array {
    const n = this.family === 4 ? 4 : 16;
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (this.w[i >>> 2] >>> ((i & 3) * 8)) & 0xff;
    return b;
  }

  /**
   * Writes the address as the core's ip_addr at `ptr` (4-aligned): the 16
   * address bytes, the type, and `zoneIndex` (the netif index of the zone;
   * the caller resolves names).
   */
  write(mem32: Uint32Array, ptr: number, zoneIndex = 0): void {
    const i = ptr >>> 2;
    const w = this.w;
    mem32[i] = w[0];
    mem32[i + 1] = w[1];
    mem32[i + 2] = w[2];
    mem32[i + 3] = w[3];
    mem32[i + 4] = (this.family === 4 ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6) | ((zoneIndex & 0xff) << 8);
  }

  /** 0.0.0.0 or :: (RFC 4291 §2.5.2). */
  isUnspecified(): boolean {
    const w = this.w;
    return (w[0] | w[1] | w[2] | w[3]) === 0;
  }
  /** 127.0.0.0/8 or ::1. */
  isLoopback(): boolean {
    const w = this.w;
    return this.family === 4 ? (w[0] & 0xff) === 127 : (w[0] | w[1] | w[2]) === 0 && w[3] === 0x01000000;
  }
  /** 224.0.0.0/4 or ff00::/8. */
  isMulticast(): boolean {
    return this.family === 4 ? (this.w[0] & 0xf0) === 0xe0 : (this.w[0] & 0xff) === 0xff;
  }
  /** 169.254.0.0/16 or fe80::/10. */
  isLinkLocal(): boolean {
    return this.family === 4 ? (this.w[0] & 0xffff) === 0xfea9 : (this.w[0] & 0xc0ff) === 0x80fe;
  }
  /** ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
  isV4Mapped(): boolean {
    const w = this.w;
    return this.family === 6 && w[0] === 0 && w[1] === 0 && w[2] === 0xffff0000;
  }

  /** The IPv4 address inside an IPv4-mapped address; this address if it is IPv4; else undefined. */
  toV4(): IpAddress | undefined {
    if (this.family === 4) return this;
    return this.isV4Mapped() ? IpAddress.fromCore4(this.w[3]) : undefined;
  }

  /** An IPv4 address as ::ffff:a.b.c.d (how a dual-stack socket names IPv4 peers); IPv6 ones unchanged. */
  toV4Mapped(): IpAddress {
    if (this.family === 6) return this;
    return new IpAddress(6, Uint32Array.of(0, 0, 0xffff0000, this.w[0]), undefined);
  }

  /** Same family, bytes and zone. */
  equals(other: IpAddress): boolean {
    const a = this.w, b = other.w;
    return this.family === other.family && a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && this.zone === other.zone;
  }

  /** "a.b.c.d", or RFC 5952 text with "%zone". */
  toString(): string {
    if (this.text !== undefined) return this.text;
    if (this.family === 4) {
      this.text = formatCore4(this.w[0]);
    } else {
      const t = formatV6(this.bytes());
      this.text = this.zone === undefined ? t : `${t}%${this.zone}`;
    }
    return this.text;
  }

  static readonly ANY4: IpAddress = IpAddress.fromCore4(0);
  static readonly ANY6: IpAddress = new IpAddress(6, new Uint32Array(4), undefined);
}

/** Dotted-quad text of an IPv4 address as the core stores it (network-order bytes in a little-endian u32). */
export function formatCore4(v: number): string {
  return `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${v >>> 24}`;
}

/** node:net's isIP: 4, 6, or 0 for text that is no IP address. */
export function isIP(text: string): 0 | 4 | 6 {
  return IpAddress.tryParse(text)?.family ?? 0;
}

/**
 * The netmask (as an IPv4 address) of a prefix length 0..32.
 */
export function prefixToMask4(prefix: number): IpAddress {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new RangeError(`bad prefix length: ${prefix}`);
  return IpAddress.fromV4Int(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/** "address/len" (len defaults to 24 for IPv4, 64 for IPv6). */
export function parseCidr(text: string): { address: IpAddress; prefix: number } {
  const slash = text.lastIndexOf("/");
  const address = IpAddress.parse(slash < 0 ? text : text.slice(0, slash));
  const max = address.family === 4 ? 32 : 128;
  const prefix = slash < 0 ? (address.family === 4 ? 24 : 64) : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new RangeError(`bad prefix length in ${text}`);
  return { address, prefix };
}
