// Segment-by-segment TCP test harness (the way smoltcp's socket tests work):
// build a segment by hand, feed it through netif_input, read what the stack
// queued on the TX ring. Shared by the tcp_*.spec.ts files; built on the
// generic harness (addresses, frames, reference checksums, rings).
import { asip_init } from "../../../assembly/index";
import { pbuf, pbuf_free, pbuf_copy_partial } from "../../../assembly/core/pbuf";
import { tx_pending, tx_done } from "../../../assembly/core/rings";
import { sys_check_timeouts, sys_now } from "../../../assembly/core/timeouts";
import { netif, netif_input } from "../../../assembly/netif/netif";
import { netif_up, peer_at } from "./netif";
import { IP_HLEN, IP_PROTO_TCP } from "../../../assembly/ipv4/ip4_hdr";
import { err_t, ERR_OK, ERR_MEM, ERR_ABRT } from "../../../assembly/core/err";
import { tcp_pcb, tcp_recved, tcp_close, tcp_abort, tcp_recv, tcp_sent, tcp_err } from "../../../assembly/tcp/tcp";
import { A, OUR_IP, PEER_IP, MASK, OUR_MAC, PEER_MAC } from "./addr";
import { ETH_HLEN, ip_frame } from "./frames";
import { ref_transport_ok, ref_transport_chksum } from "./checksum";
import { frame, tx_frame, tx_clear } from "./rings";

export { A, OUR_IP, PEER_IP, MASK, ETH_HLEN, frame, tx_clear };

export const FIN: u8 = 0x01;
export const SYN: u8 = 0x02;
export const RST: u8 = 0x04;
export const PSH: u8 = 0x08;
export const ACK: u8 = 0x10;
export const URG: u8 = 0x20;

export let nif: netif = changetype<netif>(0);
let inited = false;

/** Brings the core up once with one Ethernet netif (MTU `mtu`) and a static ARP entry for the peer. */
export function harness_init(mtu: u32 = 1500): void {
  if (inited) return;
  inited = true;
  asip_init(0, 1);
  nif = netif_up(OUR_MAC, OUR_IP, MASK, PEER_IP, true, mtu);
  peer_at(PEER_IP, PEER_MAC);
  tx_clear();
}

// ---- options for the next segment sent -----------------------------------------------------------

export const opt_buf: usize = memory.data(64, 8);
export let opt_len: u32 = 0;
export function opts_clear(): void { opt_len = 0; }
export function opt_byte(b: u8): void { store<u8>(opt_buf + opt_len, b); opt_len++; }
export function opt_mss(m: u16): void { opt_byte(2); opt_byte(4); opt_byte(<u8>(m >> 8)); opt_byte(<u8>m); }
export function opt_ws(s: u8): void { opt_byte(1); opt_byte(3); opt_byte(3); opt_byte(s); }
export function opt_sack_perm(): void { opt_byte(1); opt_byte(1); opt_byte(4); opt_byte(2); }
export function opt_ts(val: u32, ecr: u32): void {
  opt_byte(1); opt_byte(1); opt_byte(8); opt_byte(10);
  store<u32>(opt_buf + opt_len, bswap<u32>(val)); opt_len += 4;
  store<u32>(opt_buf + opt_len, bswap<u32>(ecr)); opt_len += 4;
}
export function opt_sack(n: u32, blocks: StaticArray<u32>): void {
  opt_byte(1); opt_byte(1); opt_byte(5); opt_byte(<u8>(2 + 8 * n));
  for (let i: u32 = 0; i < 2 * n; i++) { store<u32>(opt_buf + opt_len, bswap<u32>(blocks[i])); opt_len += 4; }
}

// ---- segments in ------------------------------------------------------------------------------

/** Payload byte at stream offset `i` (a pattern that shows misplaced bytes). */
export function pat(i: u32): u8 { return <u8>(i * 7 + 3); }
export const data_buf: usize = memory.data(70000, 8);
/** Fills data_buf with the pattern starting at stream offset `off`. */
export function fill_pat(off: u32, len: u32): usize {
  for (let i: u32 = 0; i < len; i++) store<u8>(data_buf + i, pat(off + i));
  return data_buf;
}

/** Overrides for malformed segments: the data offset field (-1 = correct), checksum corruption, urgent pointer. */
export let bad_doff: i32 = -1;
export let bad_csum: bool = false;
export let urgp: u16 = 0;
export function malformed_reset(): void { bad_doff = -1; bad_csum = false; urgp = 0; }
export function set_bad_doff(v: i32): void { bad_doff = v; }
export function set_bad_csum(v: bool): void { bad_csum = v; }
export function set_urgp(v: u16): void { urgp = v; }

const seg_buf: usize = memory.data(70000, 8);

/** Builds and feeds one segment from the peer; options from opt_buf (then cleared). Data: `len` bytes at `data`. */
export function seg_in(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, wnd: u16, data: usize = 0, len: u32 = 0, src: u32 = PEER_IP): void {
  const thlen = 20 + ((opt_len + 3) & ~3);
  const t = seg_buf;
  store<u16>(t, bswap<u16>(sport));
  store<u16>(t + 2, bswap<u16>(dport));
  store<u32>(t + 4, bswap<u32>(seq));
  store<u32>(t + 8, bswap<u32>(ack));
  const doff = bad_doff >= 0 ? <u32>bad_doff : thlen >> 2;
  store<u8>(t + 12, <u8>(doff << 4));
  store<u8>(t + 13, flags);
  store<u16>(t + 14, bswap<u16>(wnd));
  store<u16>(t + 16, 0);
  store<u16>(t + 18, bswap<u16>(urgp));
  memory.fill(t + 20, 0, thlen - 20);
  memory.copy(t + 20, opt_buf, opt_len);
  if (len > 0) memory.copy(t + thlen, data, len);
  const s = A(src, 6), d = A(OUR_IP, 7);
  let c = ref_transport_chksum(s, d, IP_PROTO_TCP, t, thlen + len);
  if (bad_csum) c ^= 0x0101;
  store<u16>(t + 16, bswap<u16>(c));
  opt_len = 0;
  netif_input(ip_frame(s, d, IP_PROTO_TCP, t, thlen + len), nif);
}

// ---- segments out -----------------------------------------------------------------------------

export let o_src: u32 = 0;
export let o_dst: u32 = 0;
export let o_sport: u16 = 0;
export let o_dport: u16 = 0;
export let o_seq: u32 = 0;
export let o_ack: u32 = 0;
export let o_flags: u8 = 0;
export let o_wnd: u32 = 0;
export let o_hlen: u32 = 0;
export let o_len: u32 = 0;
export let o_data: usize = 0;
export let o_csum_ok: bool = false;
/** Parsed options of the last frame read. */
export let o_mss: u32 = 0;
export let o_ws: i32 = -1;
export let o_sack_perm: bool = false;
export let o_ts: bool = false;
export let o_tsval: u32 = 0;
export let o_tsecr: u32 = 0;
export let o_nsack: u32 = 0;
export const o_sack: StaticArray<u32> = new StaticArray<u32>(8);

export function pending(): u32 { return tx_pending(); }

/** Reads the oldest frame from the TX ring, parses it, and releases it. False when none. */
export function out(): bool {
  if (tx_pending() == 0) return false;
  tx_frame(0);
  tx_done(1);
  const h = frame + ETH_HLEN;
  expect(load<u8>(h + 9)).toBe(IP_PROTO_TCP, "a TCP segment");
  const iplen = <u32>bswap<u16>(load<u16>(h + 2));
  o_src = load<u32>(h + 12);
  o_dst = load<u32>(h + 16);
  const t = h + IP_HLEN;
  o_sport = bswap<u16>(load<u16>(t));
  o_dport = bswap<u16>(load<u16>(t + 2));
  o_seq = bswap<u32>(load<u32>(t + 4));
  o_ack = bswap<u32>(load<u32>(t + 8));
  o_hlen = (<u32>load<u8>(t + 12) >> 4) << 2;
  o_flags = load<u8>(t + 13);
  o_wnd = <u32>bswap<u16>(load<u16>(t + 14));
  o_len = iplen - IP_HLEN - o_hlen;
  o_data = t + o_hlen;
  o_csum_ok = ref_transport_ok(A(o_src, 6), A(o_dst, 7), IP_PROTO_TCP, t, iplen - IP_HLEN);
  // options
  o_mss = 0; o_ws = -1; o_sack_perm = false; o_ts = false; o_nsack = 0;
  let i: u32 = 20;
  while (i < o_hlen) {
    const k = load<u8>(t + i);
    if (k == 0) break;
    if (k == 1) { i++; continue; }
    const l = <u32>load<u8>(t + i + 1);
    if (l < 2) break;
    if (k == 2) o_mss = <u32>bswap<u16>(load<u16>(t + i + 2));
    else if (k == 3) o_ws = <i32>load<u8>(t + i + 2);
    else if (k == 4) o_sack_perm = true;
    else if (k == 8) { o_ts = true; o_tsval = bswap<u32>(load<u32>(t + i + 2)); o_tsecr = bswap<u32>(load<u32>(t + i + 6)); }
    else if (k == 5) {
      o_nsack = (l - 2) / 8;
      for (let j: u32 = 0; j < o_nsack && j < 4; j++) {
        o_sack[j * 2] = bswap<u32>(load<u32>(t + i + 2 + j * 8));
        o_sack[j * 2 + 1] = bswap<u32>(load<u32>(t + i + 6 + j * 8));
      }
    }
    i += l;
  }
  expect(o_csum_ok).toBe(true, "TCP checksum");
  return true;
}

/** Reads the next frame and checks flags, seq, ack and data length. */
export function expect_seg(flags: u8, seq: u32, ack: u32, len: u32 = 0, what: string = ""): void {
  expect(out()).toBe(true, "a segment was sent " + what + " (flags " + flags.toString() + " seq " + seq.toString() + ")");
  expect(o_flags).toBe(flags, "flags");
  expect(o_seq).toBe(seq, "seq");
  if ((flags & ACK) != 0) expect(o_ack).toBe(ack, "ack");
  expect(o_len).toBe(len, "data length");
}

export function expect_nothing(): void { expect(tx_pending()).toBe(0, "nothing sent"); }

/** Checks the data of the last frame read is the pattern from stream offset `off`. */
export function expect_pat(off: u32): void {
  let ok = true;
  for (let i: u32 = 0; i < o_len; i++) if (load<u8>(o_data + i) != pat(off + i)) { ok = false; break; }
  expect(ok).toBe(true, "payload pattern");
}

// ---- time ------------------------------------------------------------------------------------

let clock: u32 = 1000;
export function now(): u32 { return clock; }
/** Advances the clock by `ms` in steps of `step`, running timers. */
export function advance(ms: u32, step: u32 = 10): void {
  let left = ms;
  while (left > 0) {
    const d = left < step ? left : step;
    clock += d;
    left -= d;
    sys_check_timeouts(clock);
  }
}
export function clock_sync(): void { clock = sys_now(); }

// ---- callback recorders --------------------------------------------------------------------------

export let cb_accepted: usize = 0;
export let cb_accepts: u32 = 0;
export let cb_connected: u32 = 0;
export let cb_recv_bytes: u32 = 0;
export let cb_recv_calls: u32 = 0;
export let cb_fin: u32 = 0;
export let cb_sent: u32 = 0;
export let cb_err: i32 = 1;
export let cb_errs: u32 = 0;
export let cb_polls: u32 = 0;
/** 1: refuse data (return ERR_MEM); 2: close in recv(null); 3: abort on data */
export let recv_mode: u32 = 0;
export const rx: usize = memory.data(70000, 8);

export function cb_reset(): void {
  cb_accepted = 0; cb_accepts = 0; cb_connected = 0; cb_recv_bytes = 0; cb_recv_calls = 0; cb_fin = 0;
  cb_sent = 0; cb_err = 1; cb_errs = 0; cb_polls = 0; recv_mode = 0;
}
export function set_recv_mode(m: u32): void { recv_mode = m; }


export function on_accept(arg: usize, pcb: tcp_pcb | null, err: err_t): err_t {
  cb_accepts++;
  cb_accepted = changetype<usize>(pcb);
  if (pcb != null) install(pcb);
  return ERR_OK;
}
export function on_connected(arg: usize, pcb: tcp_pcb, err: err_t): err_t { cb_connected++; return ERR_OK; }
export function on_recv(arg: usize, pcb: tcp_pcb, p: pbuf | null, err: err_t): err_t {
  cb_recv_calls++;
  if (p == null) {
    cb_fin++;
    if (recv_mode == 2) tcp_close(pcb);
    return ERR_OK;
  }
  if (recv_mode == 1) return ERR_MEM;
  if (recv_mode == 3) { pbuf_free(p); tcp_abort(pcb); return ERR_ABRT; }
  const n = p.tot_len;
  if (cb_recv_bytes + n <= 70000) pbuf_copy_partial(p, rx + cb_recv_bytes, n, 0);
  cb_recv_bytes += n;
  tcp_recved(pcb, n);
  pbuf_free(p);
  return ERR_OK;
}
export function on_sent(arg: usize, pcb: tcp_pcb, len: u32): err_t { cb_sent += len; return ERR_OK; }
export function on_err(arg: usize, err: err_t): void { cb_err = err; cb_errs++; }

/** Installs the recorders on a pcb. */
export function install(pcb: tcp_pcb): void {
  tcp_recv(pcb, on_recv);
  tcp_sent(pcb, on_sent);
  tcp_err(pcb, on_err);
}
