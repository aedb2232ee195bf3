// tcp: options and the write API — timestamps (RFC 7323 §3-§5: TSval/TSecr
// echo rules, PAWS, RTT from TSecr), window scale above 14, MSS 0 and tiny,
// SACK-permitted / WS / TS only when both sides send them, options running
// past the header; ICMP errors about our segments (port/protocol
// unreachable in SYN_SENT, frag needed with a next-hop MTU, RFC 1191);
// no-copy writes; ERR_MEM on a short send queue and room signalled by sent.
import { leak_mark, leak_check } from "./harness/leak";
import { ERR_OK, ERR_RST, ERR_MEM, err_t } from "../../assembly/core/err";
import { Proto, Ctr, stats_get } from "../../assembly/core/stats";
import { pbuf_alloc, pbuf_layer, pbuf_type } from "../../assembly/core/pbuf";
import { inet_chksum } from "../../assembly/core/chksum";
import { netif_input } from "../../assembly/netif/netif";
import {
  tcp_pcb, tcp_new, tcp_bind, tcp_listen, tcp_accept, tcp_connect, tcp_write, tcp_output, tcp_close,
  tcp_abort, tcp_sent, tcp_active_head, tcp_sndbuf, tcp_sndqueuelen, tcp_nagle_disable, TF_TIMESTAMP,
  TF_SACK, TF_WND_SCALE, TCP_WRITE_FLAG_COPY, TCP_WRITE_FLAG_MORE, TCP_DEFAULT_MSS, TCP_MIN_MSS,
} from "../../assembly/tcp/tcp";
import {
  harness_init, nif, A, OUR_IP, PEER_IP, ETH_HLEN, seg_in, out, expect_seg, expect_nothing, fill_pat,
  tx_clear, o_seq, o_ack, o_flags, o_sport, o_len, o_data, o_mss, o_ws, o_sack_perm, o_ts, o_tsval, o_tsecr,
  o_nsack, o_wnd, opt_mss, opt_ws, opt_sack_perm, opt_ts, opt_byte, advance, clock_sync, cb_reset,
  cb_accepted, cb_accepts, cb_connected, cb_err, cb_errs, cb_recv_bytes, cb_sent, pat, on_accept,
  on_connected, install, SYN, ACK, RST, PSH,
} from "./harness/tcp";

let iss: u32 = 0;
let lp: u16 = 0;
let our_ts0: u32 = 0;
const PSEQ: u32 = 5000;
const D: u32 = PSEQ + 1;
const LPORT: u16 = 80;

/** Active open; the peer's SYN-ACK carries MSS `mss` and, when asked, TS (TSval 100), SACK-permitted, WS 2. */
function connect(ts: bool, sack: bool = false, ws: bool = false, mss: u16 = 1000): tcp_pcb {
  const pcb = tcp_new()!;
  install(pcb);
  expect(tcp_connect(pcb, A(PEER_IP), 7, on_connected)).toBe(ERR_OK);
  expect(out()).toBe(true);
  iss = o_seq; lp = o_sport;
  // Our SYN offers everything (RFC 7323, RFC 2018); TSecr is 0 in a SYN.
  expect(o_ts).toBe(true);
  expect(o_tsecr).toBe(0);
  expect(o_sack_perm).toBe(true);
  expect(o_ws).toBeGreaterThanOrEqual(0);
  our_ts0 = o_tsval;
  opt_mss(mss);
  if (ts) opt_ts(100, our_ts0);
  if (sack) opt_sack_perm();
  if (ws) opt_ws(2);
  seg_in(7, lp, PSEQ, iss + 1, SYN | ACK, 65535);
  expect_seg(ACK, iss + 1, D);
  expect(o_ts).toBe(ts);
  if (ts) expect(o_tsecr).toBe(100);
  return pcb;
}

function listen_on(port: u16): tcp_pcb {
  const pcb = tcp_new()!;
  expect(tcp_bind(pcb, null, port)).toBe(ERR_OK);
  const l = tcp_listen(pcb)!;
  tcp_accept(l, on_accept);
  return l;
}

/** Data from the peer with a timestamp. */
function ts_data(off: u32, len: u32, tsval: u32, tsecr: u32): void {
  opt_ts(tsval, tsecr);
  seg_in(7, lp, D + off, iss + 1, ACK, 65535, fill_pat(off, len), len);
}

// ---- ICMP in ---------------------------------------------------------------------------------

const icmp_frame: usize = memory.data(128, 8);
/** ICMP type/code from the peer (router) quoting a TCP segment we sent: our address → peer, ports, seq. */
function icmp_in(type: u8, code: u8, mtu: u16, sport: u16, dport: u16, seq: u32): void {
  const qlen: u32 = 20 + 8;
  const iplen: u32 = 20 + 8 + qlen;
  const p = pbuf_alloc(pbuf_layer.PBUF_RAW, ETH_HLEN + iplen, pbuf_type.PBUF_RAM)!;
  const f = p.payload;
  // Ethernet: to us from the peer's MAC (the same bytes tcp_util uses).
  store<u32>(f, 0x00000002); store<u16>(f + 4, 0x0200);
  store<u32>(f + 6, 0x00000002); store<u16>(f + 10, 0x0100);
  store<u16>(f + 12, bswap<u16>(0x0800));
  const h = f + ETH_HLEN;
  store<u8>(h, 0x45); store<u8>(h + 1, 0);
  store<u16>(h + 2, bswap<u16>(<u16>iplen));
  store<u32>(h + 4, 0);
  store<u8>(h + 8, 64); store<u8>(h + 9, 1);
  store<u16>(h + 10, 0);
  store<u32>(h + 12, PEER_IP);
  store<u32>(h + 16, OUR_IP);
  store<u16>(h + 10, bswap<u16>(inet_chksum(h, 20)));
  const ic = h + 20;
  store<u8>(ic, type); store<u8>(ic + 1, code); store<u16>(ic + 2, 0);
  store<u16>(ic + 4, 0); store<u16>(ic + 6, bswap<u16>(mtu));
  const q = ic + 8;
  store<u8>(q, 0x45); store<u8>(q + 1, 0);
  store<u16>(q + 2, bswap<u16>(1040));
  store<u32>(q + 4, 0x00400000);
  store<u8>(q + 8, 64); store<u8>(q + 9, 6);
  store<u16>(q + 10, 0);
  store<u32>(q + 12, OUR_IP);
  store<u32>(q + 16, PEER_IP);
  store<u16>(q + 10, bswap<u16>(inet_chksum(q, 20)));
  const t = q + 20;
  store<u16>(t, bswap<u16>(sport)); store<u16>(t + 2, bswap<u16>(dport));
  store<u32>(t + 4, bswap<u32>(seq));
  store<u16>(ic + 2, bswap<u16>(inet_chksum(ic, 8 + qlen)));
  netif_input(p, nif);
}

// ---- write helpers ---------------------------------------------------------------------------

/** Caller-owned data for no-copy writes: it must stay valid until the sent callback. */
const ncbuf: usize = memory.data(8192, 8);
function ncfill(off: u32, len: u32): void { for (let i: u32 = 0; i < len; i++) store<u8>(ncbuf + i, pat(off + i)); }

let sent_calls: u32 = 0;
let sent_total: u32 = 0;
let sent_refill: bool = false;
let refill_err: i32 = 99;
function my_sent(arg: usize, pcb: tcp_pcb, len: u32): err_t {
  sent_calls++;
  sent_total += len;
  if (sent_refill && refill_err == 99) refill_err = tcp_write(pcb, ncbuf, 1, 0);
  return ERR_OK;
}

/** Collects every data segment sent (in order of seq from `base`) into rx2; returns frames read. */
const rx2: usize = memory.data(16384, 8);
function collect(base: u32): u32 {
  let n: u32 = 0;
  while (out()) {
    n++;
    if (o_len > 0) memory.copy(rx2 + (o_seq - base), o_data, o_len);
  }
  return n;
}
/** rx2 holds the pattern from stream offset `off` for `len` bytes, starting at rx2 + `at`. */
function rx2_ok(off: u32, len: u32, at: u32 = 0): bool {
  for (let i: u32 = 0; i < len; i++) if (load<u8>(rx2 + at + i) != pat(off + i)) return false;
  return true;
}

describe("tcp options", () => {
  beforeAll(() => { harness_init(); });
  beforeEach(() => {
    tx_clear(); cb_reset(); clock_sync(); leak_mark();
    sent_calls = 0; sent_total = 0; sent_refill = false; refill_err = 99;
  });

  test("timestamps: TSecr echoes the segment that covers Last.ACK.sent (RFC 7323 §4.3 delayed ACK / out of order / gap)", () => {
    const pcb = connect(true);
    expect(pcb.flags & TF_TIMESTAMP).toBe(TF_TIMESTAMP);
    expect(pcb.mss).toBe(1000 - 12);
    // (A) delayed ACK over two segments: the earlier TSval is echoed.
    ts_data(0, 10, 200, 0);
    expect_nothing();
    ts_data(10, 10, 300, 0);
    expect(out()).toBe(true);
    expect(o_ack).toBe(D + 20);
    expect(o_ts).toBe(true);
    expect(o_tsecr).toBe(200);
    // (B) out of order: the duplicate ACK still echoes the last in-order TSval.
    ts_data(30, 10, 400, 0);
    expect(out()).toBe(true);
    expect(o_ack).toBe(D + 20);
    expect(o_tsecr).toBe(200);
    // (C) the gap fills: its TSval is echoed.
    ts_data(20, 10, 500, 0);
    expect(out()).toBe(true);
    expect(o_ack).toBe(D + 40);
    expect(o_tsecr).toBe(500);
    expect(cb_recv_bytes).toBe(40);
    // Every segment we send carries TS (RFC 7323 §3.2); TSval advances with our clock.
    const t1 = o_tsval;
    advance(250, 10);
    tcp_write(pcb, fill_pat(0, 10), 10, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(out()).toBe(true);
    expect(o_ts).toBe(true);
    expect(o_tsval - t1).toBeGreaterThanOrEqual(250);
    expect(o_tsecr).toBe(500);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("PAWS (RFC 7323 §5.3): a segment with an old TSval is dropped, ACKed and counted; a RST is exempt", () => {
    const pcb = connect(true);
    ts_data(0, 10, 1000, 0);
    advance(200, 10);
    tx_clear();
    const pe0 = stats_get(Proto.TCP, Ctr.PROTERR), dr0 = stats_get(Proto.TCP, Ctr.DROP);
    // In window and in order, but TSval 999 < TS.Recent 1000: an old duplicate.
    ts_data(10, 10, 999, 0);
    expect(cb_recv_bytes).toBe(10);
    expect(pcb.rcv_nxt).toBe(D + 10);
    expect(stats_get(Proto.TCP, Ctr.PROTERR)).toBe(pe0 + 1);
    expect(stats_get(Proto.TCP, Ctr.DROP)).toBe(dr0 + 1);
    expect(out()).toBe(true);
    expect(o_ack).toBe(D + 10);
    expect(o_tsecr).toBe(1000);
    // The same TSval (not older) is fine.
    ts_data(10, 10, 1000, 0);
    expect(cb_recv_bytes).toBe(20);
    advance(200, 10);
    tx_clear();
    // A RST with an old TSval at the exact sequence number still resets.
    opt_ts(5, 0);
    seg_in(7, lp, D + 20, 0, RST, 0);
    expect(cb_err).toBe(ERR_RST);
    expect(tcp_active_head()).toBe(0);
    leak_check();
  });

  test("RTT sample from TSecr (RFC 7323 §4.1): the echoed TSval, not the timed segment, gives the sample", () => {
    const pcb = connect(true);
    tcp_write(pcb, fill_pat(0, 100), 100, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(out()).toBe(true);
    const tsv = o_tsval;
    advance(300, 10);
    const sa0 = pcb.sa, sv0 = pcb.sv;
    // The peer echoes a TSval 100 ms older than this segment's: RTT 400 from TSecr (300 by the timed segment).
    opt_ts(200, tsv - 100);
    seg_in(7, lp, D, iss + 101, ACK, 65535);
    // RFC 6298 §2.2 / §2.3 in the engine's scaled form (sa = 8*SRTT, sv = 4*RTTVAR).
    let sa1: i32, sv1: i32;
    if (sa0 == 0 && sv0 == 1000) { sa1 = 400 << 3; sv1 = 400 << 1; }
    else {
      let m = 400 - (sa0 >> 3);
      sa1 = sa0 + m;
      if (m < 0) m = -m;
      m -= sv0 >> 2;
      sv1 = sv0 + m;
    }
    expect(pcb.sa).toBe(sa1);
    expect(pcb.sv).toBe(sv1);
    expect(cb_sent).toBe(100);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("no timestamps unless both sides send them: the peer's SYN-ACK without TS turns them off", () => {
    const pcb = connect(false);
    expect(pcb.flags & TF_TIMESTAMP).toBe(0);
    expect(pcb.mss).toBe(1000);
    tcp_write(pcb, fill_pat(0, 10), 10, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(out()).toBe(true);
    expect(o_ts).toBe(false);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("SACK only when both sides send SACK-permitted (RFC 2018 §2): no blocks without it, blocks with it", () => {
    // Active open, the peer does not permit SACK.
    let pcb = connect(false, false);
    expect(pcb.flags & TF_SACK).toBe(0);
    seg_in(7, lp, D + 100, iss + 1, ACK, 65535, fill_pat(100, 10), 10);
    expect(out()).toBe(true);
    expect(o_ack).toBe(D);
    expect(o_nsack).toBe(0);
    tcp_abort(pcb);
    tx_clear();
    // The peer permits SACK.
    pcb = connect(false, true);
    expect(pcb.flags & TF_SACK).toBe(TF_SACK);
    seg_in(7, lp, D + 100, iss + 1, ACK, 65535, fill_pat(100, 10), 10);
    expect(out()).toBe(true);
    expect(o_nsack).toBe(1);
    tcp_abort(pcb);
    tx_clear();
    // Passive open: a SYN without SACK-permitted, WS or TS gets a SYN-ACK without them (RFC 7323 §1.3, RFC 2018 §2).
    const l = listen_on(LPORT);
    opt_mss(1200);
    seg_in(40000, LPORT, 7000, 0, SYN, 65535);
    expect(out()).toBe(true);
    expect(o_flags).toBe(SYN | ACK);
    expect(o_sack_perm).toBe(false);
    expect(o_ts).toBe(false);
    expect(o_ws).toBe(-1);
    expect(o_mss).toBeGreaterThan(0);
    const siss = o_seq;
    seg_in(40000, LPORT, 7001, siss + 1, ACK, 65535);
    expect(cb_accepts).toBe(1);
    pcb = changetype<tcp_pcb>(cb_accepted);
    expect(pcb.flags & (TF_SACK | TF_TIMESTAMP | TF_WND_SCALE)).toBe(0);
    expect(pcb.mss).toBe(1200);
    // without window scaling the announced window is the raw 16-bit value
    seg_in(40000, LPORT, 7001 + 100, siss + 1, ACK, 65535, fill_pat(0, 10), 10);
    expect(out()).toBe(true);
    expect(o_nsack).toBe(0);
    expect(o_wnd).toBeLessThanOrEqual(65535);
    tcp_abort(pcb);
    tx_clear();
    tcp_close(l);
    leak_check();
  });

  test("window scale above 14 is used as 14 and counted; 14 itself is not counted (RFC 7323 §2.3)", () => {
    const l = listen_on(LPORT);
    const o0 = stats_get(Proto.TCP, Ctr.OPTERR);
    opt_mss(1460); opt_ws(14);
    seg_in(40001, LPORT, 7000, 0, SYN, 1);
    expect(out()).toBe(true);
    expect(o_ws).toBeGreaterThanOrEqual(0);
    seg_in(40001, LPORT, 7001, o_seq + 1, ACK, 1);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0);
    let pcb = changetype<tcp_pcb>(cb_accepted);
    expect(pcb.snd_scale).toBe(14);
    expect(pcb.snd_wnd).toBe(1 << 14);
    tcp_abort(pcb);
    tx_clear();
    opt_mss(1460); opt_ws(15);
    seg_in(40002, LPORT, 7000, 0, SYN, 1);
    expect(out()).toBe(true);
    seg_in(40002, LPORT, 7001, o_seq + 1, ACK, 2);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 1);
    pcb = changetype<tcp_pcb>(cb_accepted);
    expect(pcb.snd_scale).toBe(14);
    expect(pcb.snd_wnd).toBe(2 << 14);
    tcp_abort(pcb);
    tx_clear();
    tcp_close(l);
    leak_check();
  });

  test("MSS 0 is taken as the 536 default, a tiny MSS raised to the minimum; both counted", () => {
    const l = listen_on(LPORT);
    const o0 = stats_get(Proto.TCP, Ctr.OPTERR);
    opt_mss(0);
    seg_in(40003, LPORT, 7000, 0, SYN, 65535);
    expect(out()).toBe(true);
    seg_in(40003, LPORT, 7001, o_seq + 1, ACK, 65535);
    let pcb = changetype<tcp_pcb>(cb_accepted);
    expect(pcb.mss).toBe(<u16>TCP_DEFAULT_MSS);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 1);
    // data goes out in segments of at most that MSS
    tcp_write(pcb, fill_pat(0, 1000), 1000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect(out()).toBe(true);
    expect(o_len).toBe(TCP_DEFAULT_MSS);
    tcp_abort(pcb);
    tx_clear();
    opt_mss(10);
    seg_in(40004, LPORT, 7000, 0, SYN, 65535);
    expect(out()).toBe(true);
    seg_in(40004, LPORT, 7001, o_seq + 1, ACK, 65535);
    pcb = changetype<tcp_pcb>(cb_accepted);
    expect(pcb.mss).toBe(<u16>TCP_MIN_MSS);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 2);
    tcp_abort(pcb);
    tx_clear();
    tcp_close(l);
    leak_check();
  });

  test("options running past the header: dropped and counted, on a SYN and on a connection; bad lengths never hang", () => {
    const l = listen_on(LPORT);
    const o0 = stats_get(Proto.TCP, Ctr.OPTERR);
    // A timestamp option of length 10 in 8 bytes of option space.
    opt_byte(8); opt_byte(10); opt_byte(0); opt_byte(0); opt_byte(0); opt_byte(1);
    seg_in(40005, LPORT, 7000, 0, SYN, 65535);
    expect_nothing();
    expect(tcp_active_head()).toBe(0);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 1);
    tcp_close(l);
    const pcb = connect(false);
    // The same on a data segment: not delivered, nothing changes.
    opt_byte(1); opt_byte(1); opt_byte(8); opt_byte(12);
    seg_in(7, lp, D, iss + 1, ACK, 65535, fill_pat(0, 10), 10);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 2);
    expect(cb_recv_bytes).toBe(0);
    expect(pcb.rcv_nxt).toBe(D);
    // Length 0 and 1 would loop forever if trusted.
    opt_byte(30); opt_byte(0);
    seg_in(7, lp, D, iss + 1, ACK, 65535, fill_pat(0, 10), 10);
    opt_byte(30); opt_byte(1); opt_byte(0); opt_byte(0);
    seg_in(7, lp, D, iss + 1, ACK, 65535, fill_pat(0, 10), 10);
    expect(stats_get(Proto.TCP, Ctr.OPTERR)).toBe(o0 + 4);
    expect(cb_recv_bytes).toBe(0);
    // Unknown options with good lengths are skipped and the segment is taken.
    opt_byte(30); opt_byte(4); opt_byte(0); opt_byte(0);
    seg_in(7, lp, D, iss + 1, ACK, 65535, fill_pat(0, 10), 10);
    expect(cb_recv_bytes).toBe(10);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("ICMP port / protocol unreachable quoting our SYN fails the connect with ERR_RST; a wrong quote is ignored", () => {
    for (let code: u8 = 2; code <= 3; code++) {
      cb_reset();
      const pcb = tcp_new()!;
      install(pcb);
      tcp_connect(pcb, A(PEER_IP), 7, on_connected);
      expect(out()).toBe(true);
      const s = o_seq, p = o_sport;
      // RFC 5927 §4.1: a quote whose sequence number is not in flight is ignored.
      icmp_in(3, code, 0, p, 7, s + 1000);
      expect(cb_errs).toBe(0);
      expect(tcp_active_head()).toBe(changetype<usize>(pcb));
      // Another port: not ours.
      icmp_in(3, code, 0, p + 1, 7, s);
      expect(cb_errs).toBe(0);
      icmp_in(3, code, 0, p, 7, s);
      expect(cb_errs).toBe(1);
      expect(cb_err).toBe(ERR_RST);
      expect(cb_connected).toBe(0);
      expect(tcp_active_head()).toBe(0);
      expect_nothing();
    }
    leak_check();
  });

  test("ICMP host unreachable (soft error) does not end the connect: the SYN is retried", () => {
    const pcb = tcp_new()!;
    install(pcb);
    tcp_connect(pcb, A(PEER_IP), 7, on_connected);
    expect(out()).toBe(true);
    const s = o_seq, p = o_sport;
    icmp_in(3, 1, 0, p, 7, s);
    expect(cb_errs).toBe(0);
    advance(1100, 10);
    expect_seg(SYN, s, 0);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("ICMP fragmentation needed with a next-hop MTU lowers the MSS (RFC 1191) and resends; larger MTUs do not raise it", () => {
    const pcb = connect(false, false, false, 1460);
    expect(pcb.mss).toBe(1460);
    tcp_nagle_disable(pcb);
    tcp_write(pcb, fill_pat(0, 1460), 1460, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    expect_seg(ACK | PSH, iss + 1, D, 1460);
    // A quote outside the flight: ignored.
    icmp_in(3, 4, 1000, lp, 7, iss + 50000);
    expect(pcb.mss).toBe(1460);
    icmp_in(3, 4, 1000, lp, 7, iss + 1);
    expect(pcb.mss).toBe(960);
    // The dropped segment goes again at once.
    expect(out()).toBe(true);
    expect(o_seq).toBe(iss + 1);
    // An MTU above the current one changes nothing.
    icmp_in(3, 4, 1400, lp, 7, iss + 1);
    expect(pcb.mss).toBe(960);
    tx_clear();
    seg_in(7, lp, D, iss + 1461, ACK, 65535);
    // New data uses the lower MSS.
    tcp_write(pcb, fill_pat(1460, 2000), 2000, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    let segs: u32 = 0, bytes: u32 = 0;
    while (out()) { expect(o_len).toBeLessThanOrEqual(960); bytes += o_len; segs++; }
    expect(bytes).toBe(2000);
    expect(segs).toBe(3);
    // An MTU below 68 (a pre-RFC 1191 router sends 0): 576 is assumed.
    seg_in(7, lp, D, iss + 3461, ACK, 65535);
    tcp_write(pcb, fill_pat(0, 100), 100, TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    tx_clear();
    icmp_in(3, 4, 0, lp, 7, iss + 3461);
    expect(pcb.mss).toBe(536);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("no-copy writes: the caller's bytes go out (and again on retransmission); sent comes only when they are acked", () => {
    const pcb = connect(false);
    tcp_sent(pcb, my_sent);
    tcp_nagle_disable(pcb);
    ncfill(0, 3000);
    expect(tcp_write(pcb, ncbuf, 3000, 0)).toBe(ERR_OK);
    tcp_output(pcb);
    expect(collect(iss + 1)).toBe(3);
    expect(rx2_ok(0, 3000)).toBe(true);
    expect(sent_calls).toBe(0);
    // Lost: the RTO resends from the same (still untouched) memory.
    memory.fill(rx2, 0, 3000);
    advance(1100, 10);
    expect(collect(iss + 1)).toBeGreaterThanOrEqual(1);
    expect(rx2_ok(0, 1000)).toBe(true);
    seg_in(7, lp, D, iss + 1001, ACK, 65535);
    expect(sent_total).toBe(1000);
    seg_in(7, lp, D, iss + 3001, ACK, 65535);
    expect(sent_total).toBe(3000);
    // Now the buffer may be reused: copy and no-copy writes mixed arrive in order.
    tx_clear();
    ncfill(3000, 500);
    expect(tcp_write(pcb, fill_pat(2500, 500), 500, TCP_WRITE_FLAG_COPY | TCP_WRITE_FLAG_MORE)).toBe(ERR_OK);
    expect(tcp_write(pcb, ncbuf, 500, TCP_WRITE_FLAG_MORE)).toBe(ERR_OK);
    expect(tcp_write(pcb, fill_pat(3500, 500), 500, TCP_WRITE_FLAG_COPY)).toBe(ERR_OK);
    tcp_output(pcb);
    collect(iss + 3001);
    expect(rx2_ok(2500, 1500, 0)).toBe(true);
    seg_in(7, lp, D, iss + 4501, ACK, 65535);
    expect(sent_total).toBe(4500);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });

  test("write returns ERR_MEM when the send queue is full (nothing queued); sent signals room and a write from it succeeds", () => {
    const pcb = connect(false);
    tcp_sent(pcb, my_sent);
    ncfill(0, 16);
    let n: u32 = 0;
    let e: err_t = ERR_OK;
    for (; n < 10000; n++) {
      // One-byte no-copy writes: one segment and two pbufs each, so the queue fills long before the byte buffer.
      e = tcp_write(pcb, ncbuf, 1, TCP_WRITE_FLAG_MORE);
      if (e != ERR_OK) break;
    }
    expect(e).toBe(ERR_MEM);
    expect(n).toBeGreaterThan(0);
    const ql = tcp_sndqueuelen(pcb);
    const sb = tcp_sndbuf(pcb);
    expect(tcp_write(pcb, ncbuf, 1, 0)).toBe(ERR_MEM);
    expect(tcp_sndqueuelen(pcb)).toBe(ql);
    expect(tcp_sndbuf(pcb)).toBe(sb);
    // A write larger than the send buffer is refused too.
    expect(tcp_write(pcb, ncbuf, tcp_sndbuf(pcb) + 1, 0)).toBe(ERR_MEM);
    sent_refill = true;
    tcp_output(pcb);
    // The peer acks what came; the first sent callback writes again and that works.
    let guard = 0;
    while (sent_total < n && guard++ < 2000) {
      let hi: u32 = 0;
      while (out()) { const e2 = o_seq + o_len; if (<i32>(e2 - hi) > 0 || hi == 0) hi = e2; }
      if (hi == 0) { advance(100, 10); continue; }
      seg_in(7, lp, D, hi, ACK, 65535);
    }
    expect(sent_calls).toBeGreaterThan(0);
    expect(refill_err).toBe(ERR_OK);
    expect(sent_total).toBeGreaterThanOrEqual(n);
    tcp_abort(pcb);
    tx_clear();
    leak_check();
  });
});
