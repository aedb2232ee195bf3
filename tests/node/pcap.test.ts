// PcapWriter: the classic libpcap format, read back in JS and (when present) by tshark.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { PcapWriter, capture, PCAP_MAGIC, PCAP_SNAPLEN, LINKTYPE_ETHERNET } from "../../bindings/netif/pcap.js";
import type { LinkDriver } from "../../bindings/netif/driver.js";

/** A broadcast ARP who-has 192.0.2.2 from 192.0.2.1 (42 bytes). */
function arpRequest(): Uint8Array {
  return Uint8Array.from([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06,
    0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2,
  ]);
}

/** An IPv4/UDP frame 192.0.2.1:1234 → 192.0.2.2:7 with `n` payload bytes and correct checksums. */
function udpFrame(n: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + n);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2], 14);
  v.setUint16(16, 20 + 8 + n);
  v.setUint16(24, sum(f, 14, 34, 0));
  v.setUint16(34, 1234);
  v.setUint16(36, 7);
  v.setUint16(38, 8 + n);
  for (let i = 0; i < n; i++) f[42 + i] = i & 0xff;
  const pseudo = 0xc000 + 0x0201 + 0xc000 + 0x0202 + 17 + 8 + n;
  const c = sum(f, 34, f.length, pseudo);
  v.setUint16(40, c === 0 ? 0xffff : c);
  return f;
}

function sum(b: Uint8Array, start: number, end: number, init: number): number {
  let s = init;
  for (let i = start; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) & 1) s += b[end - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

interface Rec { sec: number; usec: number; incl: number; orig: number; data: Uint8Array }

function parsePcap(b: Uint8Array): { snaplen: number; linktype: number; records: Rec[] } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(v.getUint32(0, true), PCAP_MAGIC, "magic (little-endian, µs)");
  assert.equal(v.getUint16(4, true), 2);
  assert.equal(v.getUint16(6, true), 4);
  const records: Rec[] = [];
  let p = 24;
  while (p < b.length) {
    assert.ok(p + 16 <= b.length, "truncated record header");
    const incl = v.getUint32(p + 8, true);
    records.push({ sec: v.getUint32(p, true), usec: v.getUint32(p + 4, true), incl, orig: v.getUint32(p + 12, true), data: b.subarray(p + 16, p + 16 + incl) });
    p += 16 + incl;
  }
  assert.equal(p, b.length);
  return { snaplen: v.getUint32(16, true), linktype: v.getUint32(20, true), records };
}

const frames = [arpRequest(), udpFrame(0), udpFrame(1), udpFrame(1472), udpFrame(300_000)];

test("file and in-memory writers produce the same valid pcap", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "asip-pcap-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let clock = 1_700_000_000_123.4567;
  const now = () => (clock += 1.0005);
  const file = path.join(dir, "t.pcap");
  const fw = await PcapWriter.toFile(file, now);
  clock = 1_700_000_000_123.4567;
  const mw = new PcapWriter(now);
  for (const f of frames) {
    const c = clock;
    fw.write(f);
    clock = c;
    mw.write(f);
  }
  fw.close();
  fw.write(frames[0]!); // ignored after close
  const bytes = new Uint8Array(readFileSync(file));
  assert.deepEqual(bytes, mw.toUint8Array());
  assert.equal(mw.toBlob().size, bytes.length);
  assert.equal(mw.toBlob().type, "application/vnd.tcpdump.pcap");

  const { snaplen, linktype, records } = parsePcap(bytes);
  assert.equal(snaplen, PCAP_SNAPLEN);
  assert.equal(linktype, LINKTYPE_ETHERNET);
  assert.equal(records.length, frames.length);
  records.forEach((r, i) => {
    const f = frames[i]!;
    assert.equal(r.orig, f.length);
    assert.equal(r.incl, Math.min(f.length, PCAP_SNAPLEN));
    assert.deepEqual(r.data, f.subarray(0, r.incl));
    assert.ok(r.usec < 1_000_000);
  });
  assert.equal(records[0]!.sec, 1_700_000_000);
  assert.equal(records[0]!.usec, 124_457); // 123.4567 + 1.0005 ms
  assert.equal(fw.frames, frames.length);

  const tshark = spawnSync("tshark", ["-v"], { encoding: "utf8" });
  if (tshark.error) {
    t.diagnostic("tshark not installed: reading the file with tshark was skipped");
    return;
  }
  const r = spawnSync("tshark", ["-n", "-r", file, "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "frame.len", "-e", "_ws.col.Protocol", "-e", "udp.checksum.status", "-e", "ip.checksum.status"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(lines.map((l) => +l[0]!), frames.map((f) => f.length));
  assert.equal(lines[0]![1], "ARP");
  for (const l of lines.slice(1, 4)) {
    assert.equal(l[2], "1", `udp checksum status good (1): ${l.join(" ")}`);
    assert.equal(l[3], "1", `ip checksum status good (1): ${l.join(" ")}`);
  }
});

test("capture() records both directions and passes frames through", () => {
  const sent: Uint8Array[] = [];
  let deliver: ((f: Uint8Array) => void) | undefined;
  let closed = false;
  const inner: LinkDriver = {
    mtu: 1500,
    send: (f) => void sent.push(f.slice()),
    onReceive: (cb) => void (deliver = cb),
    close: () => void (closed = true),
  };
  const w = new PcapWriter(() => 0);
  const link = capture(inner, w);
  assert.equal(link.mtu, 1500);
  const got: Uint8Array[] = [];
  link.onReceive((f) => got.push(f.slice()));
  link.send(frames[1]!);
  deliver!(frames[0]!);
  void link.close();
  assert.equal(closed, true);
  assert.deepEqual(sent, [frames[1]]);
  assert.deepEqual(got, [frames[0]]);
  const { records } = parsePcap(w.toUint8Array());
  assert.deepEqual(records.map((r) => r.data), [frames[1], frames[0]]);
});
