/**
 * Recording frames in the classic libpcap format (what `tshark -r`,
 * Wireshark and tcpdump read): LINKTYPE_ETHERNET (or LINKTYPE_RAW for links
 * that carry bare IP packets), microsecond timestamps, snaplen 262144,
 * little-endian.
 *
 * Works in browsers (in memory, {@link PcapWriter.toBlob}) and in Node.js
 * (to a file, {@link PcapWriter.toFile}).
 *
 * @packageDocumentation
 */
import type { LinkDriver } from "./driver.js";
import { nodeImport } from "../host.js";

/** libpcap's magic for microsecond timestamps. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** Ethernet, as libpcap numbers link types. */
export const LINKTYPE_ETHERNET = 1;
/** Bare IPv4/IPv6 packets, version in the first nibble (libpcap's LINKTYPE_RAW). */
export const LINKTYPE_RAW = 101;

/** The pcap link type of a driver's frames. */
export function pcapLinkType(driver: LinkDriver): number {
  return driver.linkType === "ip" ? LINKTYPE_RAW : LINKTYPE_ETHERNET;
}
/** Largest frame recorded in full; longer frames are truncated (their original length is kept). */
export const PCAP_SNAPLEN = 262144;

const FLUSH_AT = 1 << 16;

/** Where a file-backed writer puts its bytes (Node's fs, loaded on demand). */
interface FileSink {
  write(bytes: Uint8Array): void;
  close(): void;
}

/**
 * Writes frames to a pcap capture, buffered.
 *
 * @example
 * ```ts
 * const w = await PcapWriter.toFile("run.pcap");   // Node.js
 * const w2 = new PcapWriter();                      // in memory, anywhere
 * w.write(frame);
 * w.close();
 * const blob = w2.toBlob();
 * ```
 */
export class PcapWriter {
  /** Frames recorded. */
  frames = 0;

  #chunks: Uint8Array<ArrayBuffer>[] = [];
  #buf = new Uint8Array(FLUSH_AT * 2);
  #pos = 0;
  #view = new DataView(this.#buf.buffer);
  #sink: FileSink | undefined;
  #closed = false;
  #now: () => number;
  #linkType: number;

  /**
   * An in-memory writer; read the capture with {@link PcapWriter.toUint8Array}
   * or {@link PcapWriter.toBlob}.
   *
   * @param now the clock for timestamps, in milliseconds since the epoch
   * (fractions kept to the microsecond); defaults to a high-resolution wall clock.
   * @param linkType what the frames are (LINKTYPE_ETHERNET; {@link pcapLinkType} of a driver)
   */
  constructor(now?: () => number, linkType = LINKTYPE_ETHERNET) {
    this.#now = now ?? defaultClock();
    this.#linkType = linkType;
    this.#header();
  }

  /**
   * A writer to a file (Node.js only). The file is created or truncated now;
   * data reaches it in 64 KiB blocks and on {@link PcapWriter.flush} /
   * {@link PcapWriter.close}.
   */
  static async toFile(path: string, now?: () => number, linkType = LINKTYPE_ETHERNET): Promise<PcapWriter> {
    const fs = await nodeImport<typeof import("node:fs")>("node:fs");
    const fd = fs.openSync(path, "w");
    const w = new PcapWriter(now, linkType);
    w.#sink = {
      write(bytes) {
        let off = 0;
        while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
      },
      close() {
        fs.closeSync(fd);
      },
    };
    w.flush();
    return w;
  }

  #header(): void {
    const v = this.#view;
    v.setUint32(0, PCAP_MAGIC, true);
    v.setUint16(4, 2, true); // version 2.4
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, PCAP_SNAPLEN, true);
    v.setUint32(20, this.#linkType, true);
    this.#pos = 24;
  }

  /**
   * Records one frame (copied; the view need not outlive the call).
   *
   * @param timeMs the timestamp in ms since the epoch (default: now)
   */
  write(frame: Uint8Array, timeMs?: number): void {
    if (this.#closed) return;
    const t = timeMs ?? this.#now();
    let sec = Math.floor(t / 1000);
    let usec = Math.round((t - sec * 1000) * 1000);
    if (usec >= 1000000) { sec++; usec -= 1000000; }
    const incl = Math.min(frame.length, PCAP_SNAPLEN);
    if (this.#pos + 16 + incl > this.#buf.length) {
      this.#spill();
      if (16 + incl > this.#buf.length) {
        this.#buf = new Uint8Array(16 + incl);
        this.#view = new DataView(this.#buf.buffer);
      }
    }
    const v = this.#view;
    const p = this.#pos;
    v.setUint32(p, sec >>> 0, true);
    v.setUint32(p + 4, usec, true);
    v.setUint32(p + 8, incl, true);
    v.setUint32(p + 12, frame.length, true);
    this.#buf.set(incl === frame.length ? frame : frame.subarray(0, incl), p + 16);
    this.#pos = p + 16 + incl;
    this.frames++;
    if (this.#sink && this.#pos >= FLUSH_AT) this.flush();
  }

  /** Moves buffered bytes to the file, or (in memory) to the chunk list. */
  #spill(): void {
    if (this.#pos === 0) return;
    const bytes = this.#buf.slice(0, this.#pos);
    if (this.#sink) this.#sink.write(bytes);
    else this.#chunks.push(bytes);
    this.#pos = 0;
  }

  /** Writes buffered records to the file now (no-op in memory). */
  flush(): void {
    if (this.#sink) this.#spill();
  }

  /** Flushes and closes the file. Later writes are ignored. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#sink?.close();
  }

  /** The whole capture so far (in-memory writers only). */
  toUint8Array(): Uint8Array<ArrayBuffer> {
    if (this.#sink) throw new Error("PcapWriter: toUint8Array() is for in-memory writers; this one writes to a file");
    this.#spill();
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    const out = new Uint8Array(n);
    n = 0;
    for (const c of this.#chunks) { out.set(c, n); n += c.length; }
    this.#chunks = n > 0 ? [out] : [];
    return out;
  }

  /** The whole capture so far as a Blob (`application/vnd.tcpdump.pcap`), for a browser download. */
  toBlob(): Blob {
    return new Blob([this.toUint8Array()], { type: "application/vnd.tcpdump.pcap" });
  }
}

function defaultClock(): () => number {
  const p = globalThis.performance;
  if (p && typeof p.now === "function" && typeof p.timeOrigin === "number") {
    const origin = p.timeOrigin;
    return () => origin + p.now();
  }
  return () => Date.now();
}

/**
 * Wraps a driver so that every frame it sends or receives is also written to
 * `writer`. The result is itself a {@link LinkDriver}; use it in the
 * driver's place. Closing it closes the inner driver (not the writer).
 */
export function capture(driver: LinkDriver, writer: PcapWriter): LinkDriver {
  return {
    get mtu() {
      return driver.mtu;
    },
    get linkType() {
      return driver.linkType;
    },
    send(frame: Uint8Array): void {
      writer.write(frame);
      driver.send(frame);
    },
    onReceive(cb: (frame: Uint8Array) => void): void {
      driver.onReceive((frame) => {
        writer.write(frame);
        cb(frame);
      });
    },
    close(): void | Promise<void> {
      return driver.close();
    },
  };
}
