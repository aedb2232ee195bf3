// tcp_out: queueing data, sending segments, retransmission (RFC 9293 §3.8,
// RFC 5681, RFC 6582, RFC 6675, RFC 6298; lwIP tcp_out.c).
//
// tcp_write cuts data into segments of at most one MSS as it arrives, each
// one pbuf holding the TCP header (and the timestamp option slot) in front
// of the data, so output only fills in the ACK, window, timestamps and
// checksum: one pbuf per segment, no copy at send time. Copied data is
// summed while it is copied (pbuf_copy_in_chksum), so the checksum at send
// time covers only the pseudo header and the TCP header. A segment that is
// not full keeps room up to one MSS ("oversize") so small writes behind a
// Nagle-held segment fill it instead of making new ones. No-copy writes make
// a header pbuf chained to a PBUF_ROM pbuf over the caller's data.
//
// Queues: unsent (queued, not yet sent), unacked (sent, waiting for an ACK),
// both in sequence order with tail pointers. After a retransmission timeout
// everything unacked goes back to unsent (go-back-N, lwIP tcp_rexmit_rto)
// and snd_nxt falls back to snd_una; snd_max keeps the highest sequence
// number ever sent, so ACKs up to it stay acceptable. The SACK scoreboard
// survives the timeout, so the go-back-N skips what the peer SACKed
// (send_first_unsent), and RACK resends what it loses again (tcp_rack_resend).
//
// A segment we sent may still sit on the TX ring (p.ref > 1) when it must
// be sent again: its bytes are never rewritten then; a copy goes out
// instead (pbuf_clone), as lwIP's tcp_output_segment_busy avoids the same
// hazard by waiting.
//
//   struct tcp_seg (40 bytes, MEMP.TCP_SEG):
//   +0 next  +4 p (payload at the TCP header; received segments: at the data)
//   +8 len (data bytes)  +12 seqno  +16 hlen u16 flags u8 sflags u8
//   +20 chksum (partial sum of the data)  +24 oversize  +28 ts_off u16 _r u16
//   +32 xmit_ts (ms, last transmission)  +36 xmit_n (send order of the last
//       transmission) — RACK's per-segment state (tcp_rack.ts)

import {
  pbuf, pbuf_alloc, pbuf_free, pbuf_clone, pbuf_chain, pbuf_clen, pbuf_add_header, pbuf_alloc_reference,
  pbuf_layer, pbuf_type, pbuf_realloc,
} from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_CONN, ERR_RTE, ERR_VAL, ERR_ABRT, ERR_BUF } from "../core/err";
import { MEMP, memp_malloc, memp_free } from "../core/memp";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { sys_now } from "../core/timeouts";
import { pbuf_copy_in_chksum, chksum_add, chksum_swap, lwip_standard_chksum, CHKSUM_COPY_ERR } from "../core/chksum";
import { netif, netif_get_by_index } from "../netif/netif";
import { ip_addr } from "../ip_addr";
import {
  ip_pcb_local, ip_pcb_remote, ip_output_if, ip_route, ip_chksum_pseudo, ip_chksum_pseudo_sum, IP_DEFAULT_TTL, IP_PROTO_TCP,
} from "../ip";
import { cc_on_rto } from "./tcp_cc";
import { sack_leave_recovery, sack_is_sacked, sack_pipe, sack_next_seg, sack_on_sent, sack_high_rxt, SACK_NEXT_NONE, SACK_NEXT_NEW } from "./tcp_sack";
import { rack_on_transmit } from "./tcp_rack";
import { tcp_rack_timeout } from "./tcp_in";
import { seq_lt, seq_leq, seq_gt, seq_geq, seq_max } from "./tcp_seq";
import {
  TCP_HLEN, TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, tcp_hdr_set_src, tcp_hdr_set_dest,
  tcp_hdr_set_seqno, tcp_hdr_set_ackno, tcp_hdr_set_hlen, tcp_hdr_set_flags, tcp_hdr_set_wnd,
  tcp_hdr_set_chksum, tcp_hdr_set_urgp, tcpopt_put_mss, tcpopt_put_ws, tcpopt_put_sack_perm, tcpopt_put_ts,
  tcpopt_put_sack_hdr, tcpopt_put_sack_block, TCPOLEN_TS,
} from "./tcp_hdr";
import {
  tcp_pcb, tcp_state, tcp_route, tcp_cc, tcp_sb, tcp_rack, tcp_input_pcb, tcp_set_deadline_rtx, tcp_tlp_rearm,
  tcp_set_deadline_persist, tcp_update_rcv_ann_wnd, tcp_pcb_remove, tcp_report_err, TcpMib, TCP_MIB_INC,
  TF_ACK_DELAY, TF_ACK_NOW, TF_INFR, TF_FIN, TF_NODELAY, TF_NAGLEMEMERR, TF_WND_SCALE, TF_TIMESTAMP, TF_SACK,
  TF_RTO, TF_TLP, TF_TLP_SENT, TF_RACK, TCP_MAXRTX, TCP_SYNMAXRTX, TCP_SND_QUEUELEN, TCP_WRITE_FLAG_COPY,
  TCP_WRITE_FLAG_MORE,
} from "./tcp";
import { TCP_RCV_SCALE } from "../config";

// ---- segments ---------------------------------------------------------------------------------

/** seg.sflags */
export const SF_COPY: u8 = 0x01;     // the data is ours (PBUF_RAM): more may be appended in the oversize room
export const SF_CHKSUM: u8 = 0x02;   // seg.chksum holds the data's partial sum
export const SF_SENT: u8 = 0x04;     // transmitted at least once
export const SF_REXMIT: u8 = 0x08;   // retransmitted (Karn: no RTT sample from it)
export const SF_LOST: u8 = 0x10;     // RACK declared this transmission lost (RFC 8985 §6.2); cleared when sent again
export const SF_SACKED: u8 = 0x20;   // the peer SACKed it (RACK counted the delivery); cleared if it reneges

@unmanaged
export class tcp_seg {
  next: usize;
  p: usize;
  len: u32;
  seqno: u32;
  hlen: u16;
  flags: u8;
  sflags: u8;
  chksum: u32;
  oversize: u32;
  ts_off: u16;
  _r: u16;
  xmit_ts: u32;
  xmit_n: u32;
}
export const TCP_SEG_SIZE: u32 = <u32>offsetof<tcp_seg>();

/** Sequence space a segment occupies (data + SYN + FIN). */
// @ts-ignore: decorator
@inline export function seg_tcplen(s: tcp_seg): u32 { return s.len + ((s.flags & (TCP_SYN | TCP_FIN)) != 0 ? ((s.flags & TCP_SYN) != 0 ? 1 : 0) + ((s.flags & TCP_FIN) != 0 ? 1 : 0) : 0); }

export function tcp_seg_free(s: usize): void {
  if (s == 0) return;
  const seg = changetype<tcp_seg>(s);
  if (seg.p != 0) pbuf_free(changetype<pbuf>(seg.p));
  memp_free(MEMP.TCP_SEG, s);
}

export function tcp_segs_free(s: usize): void {
  while (s != 0) {
    const n = changetype<tcp_seg>(s).next;
    tcp_seg_free(s);
    s = n;
  }
}

export function tcp_seg_new(): tcp_seg | null {
  const m = memp_malloc(MEMP.TCP_SEG);
  if (m == 0) return null;
  memory.fill(m, 0, TCP_SEG_SIZE);
  return changetype<tcp_seg>(m);
}

/** Option bytes on every non-SYN segment (the timestamp option, when negotiated). */
// @ts-ignore: decorator
@inline function data_optlen(pcb: tcp_pcb): u32 { return (pcb.flags & TF_TIMESTAMP) != 0 ? TCPOLEN_TS : 0; }

/** Writes the fixed header fields of a new segment in front of its options. */
function seg_hdr_init(pcb: tcp_pcb, seg: tcp_seg, h: usize, hlen: u32): void {
  tcp_hdr_set_src(h, pcb.local_port);
  tcp_hdr_set_dest(h, pcb.remote_port);
  tcp_hdr_set_seqno(h, seg.seqno);
  tcp_hdr_set_hlen(h, hlen);
  tcp_hdr_set_urgp(h, 0);
  seg.hlen = <u16>hlen;
}

function queue_unsent(pcb: tcp_pcb, seg: tcp_seg): void {
  seg.next = 0;
  if (pcb.unsent_tail != 0) changetype<tcp_seg>(pcb.unsent_tail).next = changetype<usize>(seg);
  else pcb.unsent = changetype<usize>(seg);
  pcb.unsent_tail = changetype<usize>(seg);
}

/**
 * Queues a segment carrying only SYN or FIN (with its options: on SYN the
 * MSS, window scale, SACK-permitted and timestamps we offer — on a SYN-ACK
 * only those the peer offered, RFC 7323 §2.2/§3.2, RFC 2018 §2).
 */
export function tcp_enqueue_flags(pcb: tcp_pcb, flags: u8): err_t {
  if (pcb.snd_queuelen >= TCP_SND_QUEUELEN) { pcb.flags |= TF_NAGLEMEMERR; STATS_INC(Proto.TCP, Ctr.MEMERR); return ERR_MEM; }
  let optlen: u32 = 0;
  const syn = (flags & TCP_SYN) != 0;
  if (syn) {
    optlen = 4; // MSS
    const active = pcb.state == tcp_state.CLOSED || pcb.state == tcp_state.SYN_SENT;
    if (active || (pcb.flags & TF_WND_SCALE) != 0) optlen += 4;
    if (active || (pcb.flags & TF_SACK) != 0) optlen += 4;
    if (active || (pcb.flags & TF_TIMESTAMP) != 0) optlen += TCPOLEN_TS;
  } else {
    optlen = data_optlen(pcb);
  }
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, optlen, pbuf_type.PBUF_RAM);
  if (p == null) { pcb.flags |= TF_NAGLEMEMERR; STATS_INC(Proto.TCP, Ctr.MEMERR); return ERR_MEM; }
  const seg = tcp_seg_new();
  if (seg == null) { pbuf_free(p); pcb.flags |= TF_NAGLEMEMERR; STATS_INC(Proto.TCP, Ctr.MEMERR); return ERR_MEM; }
  pbuf_add_header(p, TCP_HLEN);
  seg.p = changetype<usize>(p);
  seg.flags = flags;
  seg.seqno = pcb.snd_lbb;
  const h = p.payload;
  seg_hdr_init(pcb, seg, h, TCP_HLEN + optlen);
  let o = h + TCP_HLEN;
  if (syn) {
    const active = pcb.state == tcp_state.CLOSED || pcb.state == tcp_state.SYN_SENT;
    o += tcpopt_put_mss(o, pcb.rcv_mss);
    if (active || (pcb.flags & TF_WND_SCALE) != 0) o += tcpopt_put_ws(o, <u8>TCP_RCV_SCALE);
    if (active || (pcb.flags & TF_SACK) != 0) o += tcpopt_put_sack_perm(o);
    if (active || (pcb.flags & TF_TIMESTAMP) != 0) { seg.ts_off = <u16>(o - h); o += tcpopt_put_ts(o, 0, 0); }
  } else if (optlen != 0) {
    seg.ts_off = <u16>TCP_HLEN;
    tcpopt_put_ts(o, 0, 0);
  }
  seg.sflags = SF_CHKSUM; // no data: the data sum is 0
  queue_unsent(pcb, seg);
  pcb.snd_lbb += 1;
  pcb.snd_queuelen += pbuf_clen(p);
  if ((flags & TCP_FIN) != 0) pcb.flags |= TF_FIN;
  return ERR_OK;
}

/** Queues our FIN: on the last unsent segment when it can carry it, else on its own. */
export function tcp_send_fin(pcb: tcp_pcb): err_t {
  if (pcb.unsent_tail != 0) {
    const last = changetype<tcp_seg>(pcb.unsent_tail);
    if ((last.flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0) {
      last.flags |= TCP_FIN;
      last.oversize = 0;
      pcb.snd_lbb += 1;
      pcb.flags |= TF_FIN;
      return ERR_OK;
    }
  }
  return tcp_enqueue_flags(pcb, TCP_FIN);
}

/** The largest segment payload to build now: the MSS, or half the largest window seen if smaller (lwIP). */
function tcp_mss_local(pcb: tcp_pcb): u32 {
  let m = <u32>pcb.mss;
  const half = pcb.snd_wnd_max >> 1;
  if (half != 0 && half < m) m = half;
  return m == 0 ? 1 : m;
}

/**
 * Queues `len` bytes at `data` (lwIP tcp_write). With TCP_WRITE_FLAG_COPY
 * the bytes are copied now; without, they must stay valid and unchanged
 * until acknowledged (PBUF_ROM pbufs point at them). TCP_WRITE_FLAG_MORE:
 * more follows, so no PSH. ERR_MEM when the send buffer or queue is short
 * (nothing is queued then; the sent callback signals room), ERR_CONN when
 * the connection cannot send.
 */
export function tcp_write(pcb: tcp_pcb, data: usize, len: u32, apiflags: u8): err_t {
  const st = pcb.state;
  if (st != tcp_state.ESTABLISHED && st != tcp_state.CLOSE_WAIT && st != tcp_state.SYN_SENT && st != tcp_state.SYN_RCVD) return ERR_CONN;
  if ((pcb.flags & TF_FIN) != 0) return ERR_CONN;
  if (len == 0) return ERR_OK;
  if (len > pcb.snd_buf) { pcb.flags |= TF_NAGLEMEMERR; return ERR_MEM; }
  if (pcb.snd_queuelen >= TCP_SND_QUEUELEN) { pcb.flags |= TF_NAGLEMEMERR; STATS_INC(Proto.TCP, Ctr.MEMERR); return ERR_MEM; }
  const copy = (apiflags & TCP_WRITE_FLAG_COPY) != 0;
  const mss = tcp_mss_local(pcb);
  const optlen = data_optlen(pcb);

  // 1. How much fits into the oversize room of the last unsent segment.
  let fill: u32 = 0;
  let last: tcp_seg | null = null;
  if (pcb.unsent_tail != 0) {
    last = changetype<tcp_seg>(pcb.unsent_tail);
    if (copy && (last.sflags & (SF_COPY | SF_SENT)) == SF_COPY && (last.flags & (TCP_SYN | TCP_FIN)) == 0 && last.oversize != 0 && last.len < mss) {
      fill = min(min(last.oversize, mss - last.len), len);
    }
  }

  // 2. New segments for the rest, built on a private list first so a
  // failure leaves the queue untouched.
  let head: usize = 0, tail: usize = 0;
  let pos = fill;
  let queued: u32 = 0;
  const nagle_likely = (pcb.flags & TF_NODELAY) == 0 || (apiflags & TCP_WRITE_FLAG_MORE) != 0;
  while (pos < len) {
    const seglen = min(len - pos, mss);
    const seg = tcp_seg_new();
    if (seg == null) { STATS_INC(Proto.TCP, Ctr.MEMERR); tcp_segs_free(head); pcb.flags |= TF_NAGLEMEMERR; return ERR_MEM; }
    let p: pbuf | null;
    if (copy) {
      // A partial segment gets room up to one MSS when more small writes are likely.
      const cap = seglen < mss && nagle_likely ? mss : seglen;
      p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, optlen + cap, pbuf_type.PBUF_RAM);
      if (p != null) {
        p.len = p.tot_len = optlen + seglen;
        const s = pbuf_copy_in_chksum(p, optlen, data + pos, seglen);
        seg.chksum = s == CHKSUM_COPY_ERR ? 0 : s;
        seg.sflags = SF_COPY | (s == CHKSUM_COPY_ERR ? 0 : SF_CHKSUM);
        seg.oversize = cap - seglen;
      }
    } else {
      p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, optlen, pbuf_type.PBUF_RAM);
      if (p != null) {
        const r = pbuf_alloc_reference(data + pos, seglen, pbuf_type.PBUF_ROM);
        if (r == null) { pbuf_free(p); p = null; }
        else pbuf_chain(p, r), pbuf_free(r);
      }
    }
    if (p == null) {
      memp_free(MEMP.TCP_SEG, changetype<usize>(seg));
      STATS_INC(Proto.TCP, Ctr.MEMERR);
      tcp_segs_free(head);
      pcb.flags |= TF_NAGLEMEMERR;
      return ERR_MEM;
    }
    pbuf_add_header(p, TCP_HLEN);
    seg.p = changetype<usize>(p);
    seg.len = seglen;
    seg.seqno = pcb.snd_lbb + pos;
    seg_hdr_init(pcb, seg, p.payload, TCP_HLEN + optlen);
    if (optlen != 0) { seg.ts_off = <u16>TCP_HLEN; tcpopt_put_ts(p.payload + TCP_HLEN, 0, 0); }
    if (tail != 0) changetype<tcp_seg>(tail).next = changetype<usize>(seg);
    else head = changetype<usize>(seg);
    tail = changetype<usize>(seg);
    queued += pbuf_clen(p);
    pos += seglen;
  }
  if (pcb.snd_queuelen + queued > TCP_SND_QUEUELEN + 8 && queued > 0) {
    tcp_segs_free(head);
    pcb.flags |= TF_NAGLEMEMERR;
    STATS_INC(Proto.TCP, Ctr.MEMERR);
    return ERR_MEM;
  }

  // 3. Commit: fill the oversize room, link the new segments.
  if (fill != 0 && last != null) {
    const p = changetype<pbuf>(last.p);
    const off = <u32>last.hlen + last.len;
    p.len += fill;
    p.tot_len += fill;
    const s = pbuf_copy_in_chksum(p, off, data, fill);
    if (s == CHKSUM_COPY_ERR) last.sflags &= ~SF_CHKSUM;
    else if ((last.sflags & SF_CHKSUM) != 0) last.chksum = chksum_add(last.chksum, (last.len & 1) != 0 ? chksum_swap(s) : s);
    last.len += fill;
    last.oversize -= fill;
  }
  if (head != 0) {
    if (pcb.unsent_tail != 0) changetype<tcp_seg>(pcb.unsent_tail).next = head;
    else pcb.unsent = head;
    pcb.unsent_tail = tail;
  }
  // PSH on the last segment unless more follows (RFC 9293 §3.9.1.2).
  if ((apiflags & TCP_WRITE_FLAG_MORE) == 0 && pcb.unsent_tail != 0) changetype<tcp_seg>(pcb.unsent_tail).flags |= TCP_PSH;
  pcb.snd_lbb += len;
  pcb.snd_buf -= len;
  pcb.snd_queuelen += queued;
  pcb.flags &= ~TF_NAGLEMEMERR;
  return ERR_OK;
}

// ---- the window we announce ------------------------------------------------------------------------

/** The window field for the next segment (scaled unless it is a SYN, RFC 7323 §2.2). */
function wnd_field(pcb: tcp_pcb, syn: bool): u16 {
  tcp_update_rcv_ann_wnd(pcb);
  let w = pcb.rcv_ann_wnd;
  if (!syn && (pcb.flags & TF_WND_SCALE) != 0) w >>= pcb.rcv_scale;
  return w > 0xffff ? 0xffff : <u16>w;
}

/** After sending anything carrying ACK = rcv_nxt. */
function acked_now(pcb: tcp_pcb): void {
  pcb.flags &= ~(TF_ACK_DELAY | TF_ACK_NOW);
  pcb.t_dack = 0;
  pcb.dack_cnt = 0;
  pcb.last_ack_sent = pcb.rcv_nxt;
  pcb.rcv_ann_right_edge = pcb.rcv_nxt + pcb.rcv_ann_wnd;
}

// @ts-ignore: decorator
@inline function ts_now(pcb: tcp_pcb): u32 { return sys_now() + pcb.ts_offset; }

/**
 * Sends one queued segment (first time or again): ACK, window, timestamps
 * and checksum are filled in here. A segment still on the TX ring is sent
 * from a copy. ERR_MEM only when that copy cannot be made (nothing sent).
 */
export function tcp_output_segment(pcb: tcp_pcb, seg: tcp_seg, n: netif): err_t {
  const p = changetype<pbuf>(seg.p);
  let q = p;
  if (p.ref > 1) {
    const c = pbuf_clone(pbuf_layer.PBUF_IP, pbuf_type.PBUF_RAM, p);
    if (c == null) { STATS_INC(Proto.TCP, Ctr.MEMERR); return ERR_MEM; }
    q = c;
  }
  const h = q.payload;
  const syn = (seg.flags & TCP_SYN) != 0;
  let fl = seg.flags;
  if (pcb.state != tcp_state.SYN_SENT || !syn) fl |= TCP_ACK;
  tcp_hdr_set_flags(h, fl);
  tcp_hdr_set_ackno(h, (fl & TCP_ACK) != 0 ? pcb.rcv_nxt : 0);
  tcp_hdr_set_wnd(h, wnd_field(pcb, syn));
  if (seg.ts_off != 0) {
    const o = h + <usize>seg.ts_off;
    store<u32>(o, bswap<u32>(ts_now(pcb)), 4);
    store<u32>(o, bswap<u32>((fl & TCP_ACK) != 0 ? pcb.ts_recent : 0), 8);
  }
  tcp_hdr_set_chksum(h, 0);
  const src = ip_pcb_local(pcb);
  const dst = ip_pcb_remote(pcb);
  let c: u16;
  if ((seg.sflags & SF_CHKSUM) != 0) {
    // Pseudo header + TCP header here; the data's sum was taken while copying.
    let s = chksum_add(ip_chksum_pseudo_sum(IP_PROTO_TCP, q.tot_len, src, dst), <u32>lwip_standard_chksum(h, seg.hlen));
    s = chksum_add(s, seg.chksum);
    c = <u16>(~s & 0xffff);
  } else {
    c = ip_chksum_pseudo(q, IP_PROTO_TCP, q.tot_len, src, dst);
  }
  tcp_hdr_set_chksum(h, c);
  STATS_INC(Proto.TCP, Ctr.XMIT);
  ip_output_if(q, src, dst, pcb.ttl, pcb.tos, IP_PROTO_TCP, n);
  if (q != p) pbuf_free(q);
  if ((fl & TCP_ACK) != 0) acked_now(pcb);
  if ((seg.sflags & SF_SENT) != 0) seg.sflags |= SF_REXMIT;
  seg.sflags |= SF_SENT;
  rack_on_transmit(tcp_rack(pcb), seg, sys_now());
  seg.oversize = 0; // bytes of a sent segment never change
  return ERR_OK;
}

function queue_unacked(pcb: tcp_pcb, seg: tcp_seg): void {
  seg.next = 0;
  // Usually the tail; after go-back-N a segment may belong before it.
  if (pcb.unacked_tail == 0) { pcb.unacked = pcb.unacked_tail = changetype<usize>(seg); return; }
  const t = changetype<tcp_seg>(pcb.unacked_tail);
  if (seq_lt(t.seqno, seg.seqno)) { t.next = changetype<usize>(seg); pcb.unacked_tail = changetype<usize>(seg); return; }
  let prev: usize = 0;
  let cur = pcb.unacked;
  while (cur != 0 && seq_lt(changetype<tcp_seg>(cur).seqno, seg.seqno)) { prev = cur; cur = changetype<tcp_seg>(cur).next; }
  seg.next = cur;
  if (prev == 0) pcb.unacked = changetype<usize>(seg);
  else changetype<tcp_seg>(prev).next = changetype<usize>(seg);
  if (cur == 0) pcb.unacked_tail = changetype<usize>(seg);
}

/** Sends the first unsent segment and moves it to unacked. */
function send_first_unsent(pcb: tcp_pcb, n: netif): err_t {
  const seg = changetype<tcp_seg>(pcb.unsent);
  // After go-back-N, data the peer already SACKed is not sent again.
  const skip = (pcb.flags & TF_SACK) != 0 && (seg.sflags & SF_SENT) != 0 && seg.len != 0 &&
    (seg.flags & (TCP_SYN | TCP_FIN)) == 0 && sack_is_sacked(tcp_sb(pcb), seg.seqno, seg.len);
  if (!skip) {
    const resent = (seg.sflags & SF_SENT) != 0;
    const err = tcp_output_segment(pcb, seg, n);
    if (err != ERR_OK) return err;
    if (resent) TCP_MIB_INC(TcpMib.RTO_RESENT);
  }
  pcb.unsent = seg.next;
  if (pcb.unsent == 0) pcb.unsent_tail = 0;
  const end = seg.seqno + seg_tcplen(seg);
  const is_new = seq_geq(seg.seqno, pcb.snd_max);
  if (seq_gt(end, pcb.snd_nxt)) pcb.snd_nxt = end;
  if (seq_gt(end, pcb.snd_max)) pcb.snd_max = end;
  // RTT by timing one segment at a time when there are no timestamps (Karn: new data only).
  if (!skip && is_new && pcb.rttest == 0 && (pcb.flags & TF_TIMESTAMP) == 0) {
    pcb.rttest = sys_now() | 1;
    pcb.rtseq = seg.seqno;
  }
  queue_unacked(pcb, seg);
  if (pcb.t_rtx == 0) tcp_set_deadline_rtx(pcb);
  else if (is_new && !skip) tcp_tlp_rearm(pcb);
  return ERR_OK;
}

/** Can the first unsent segment go now (window, Nagle)? */
function can_send(pcb: tcp_pcb, seg: tcp_seg, wnd: u32): bool {
  if (!can_send_wnd(pcb, seg, wnd)) return false;
  // Nagle (RFC 896, RFC 9293 §3.8.6.2.2): a segment smaller than the MSS
  // waits while data is unacknowledged, unless it is the end (FIN), the
  // queue is full, or fast recovery needs it.
  if ((pcb.flags & TF_NODELAY) == 0 && seg.len < <u32>pcb.mss && seg.next == 0 &&
      (seg.flags & (TCP_FIN | TCP_SYN)) == 0 && pcb.snd_una != pcb.snd_nxt &&
      (pcb.flags & (TF_INFR | TF_NAGLEMEMERR)) == 0 && pcb.snd_buf != 0 && pcb.snd_queuelen < TCP_SND_QUEUELEN) {
    return false;
  }
  return true;
}

/** Does the segment fit the usable window `wnd` (from snd_una)? */
function can_send_wnd(pcb: tcp_pcb, seg: tcp_seg, wnd: u32): bool {
  if (<u64>(seg.seqno - pcb.snd_una) + <u64>seg_tcplen(seg) > <u64>wnd) {
    // RFC 9293 lets a FIN wait for the window like data; a FIN alone at the
    // window's edge takes no space and goes out.
    return seg.len == 0 && seg_tcplen(seg) != 0 && (seg.flags & TCP_FIN) != 0 && seq_leq(seg.seqno, pcb.snd_una + wnd);
  }
  return true;
}

const nextseg: usize = memory.data(8, 8);

/** Finds the unacked segment holding `seq`. */
function find_unacked(pcb: tcp_pcb, seq: u32): tcp_seg | null {
  for (let s = pcb.unacked; s != 0; s = changetype<tcp_seg>(s).next) {
    const seg = changetype<tcp_seg>(s);
    if (seq_geq(seq, seg.seqno) && seq_lt(seq, seg.seqno + (seg_tcplen(seg) == 0 ? 1 : seg_tcplen(seg)))) return seg;
  }
  return null;
}

/**
 * Sends what the windows allow (lwIP tcp_output): queued segments while
 * they fit min(cwnd, snd_wnd) and Nagle agrees; during SACK recovery the
 * RFC 6675 pipe decides and NextSeg picks; an ACK alone when one is owed
 * and nothing else carried it. Starts the persist timer when the peer's
 * window holds everything back.
 */
export function tcp_output(pcb: tcp_pcb): err_t {
  // Inside tcp_input for this pcb: tcp_input sends once it is done.
  if (changetype<usize>(pcb) == tcp_input_pcb) return ERR_OK;
  const st = pcb.state;
  if (st == tcp_state.CLOSED || st == tcp_state.LISTEN || st == tcp_state.TIME_WAIT) return ERR_OK;
  const n = tcp_route(pcb);
  if (n == null) {
    // No route (link down): data waits, but the retransmission timer runs so
    // the retry limits still end the connection (lwIP rto_timeout_link_down).
    STATS_INC(Proto.TCP, Ctr.RTERR);
    if (pcb.unsent != 0 && pcb.t_rtx == 0) tcp_set_deadline_rtx(pcb);
    return ERR_RTE;
  }
  const cc = tcp_cc(pcb);
  const mss = <u32>pcb.mss;

  if ((pcb.flags & (TF_INFR | TF_SACK)) == (TF_INFR | TF_SACK)) {
    // RFC 6675 §5 (C): while cwnd - pipe >= SMSS, NextSeg.
    const sb = tcp_sb(pcb);
    for (let guard = 0; guard < 256; guard++) {
      const pipe = sack_pipe(sb, pcb.snd_una, pcb.snd_max, mss);
      if (<u64>pipe + <u64>mss > <u64>cc.cwnd) break;
      let avail_end = pcb.snd_una + pcb.snd_wnd;
      if (seq_gt(avail_end, pcb.snd_lbb)) avail_end = pcb.snd_lbb;
      const rule = sack_next_seg(sb, pcb.snd_una, pcb.snd_max, avail_end, mss, nextseg);
      if (rule == SACK_NEXT_NONE) break;
      const seq = load<u32>(nextseg);
      if (rule == SACK_NEXT_NEW) {
        if (pcb.unsent == 0) break;
        const seg = changetype<tcp_seg>(pcb.unsent);
        if (!can_send(pcb, seg, pcb.snd_wnd)) break;
        if (send_first_unsent(pcb, n) != ERR_OK) break;
        continue;
      }
      const seg = find_unacked(pcb, seq);
      if (seg == null) break;
      if (tcp_rexmit_seg(pcb, seg, n) != ERR_OK) break;
      sack_on_sent(sb, rule, seg.seqno, seg.len);
      STATS_INC(Proto.TCP, Ctr.FW); // counted as a retransmission
      TCP_MIB_INC(TcpMib.SACK_REXMIT);
    }
  } else {
    let cw = cc.cwnd;
    if (pcb.dupacks != 0 && (pcb.flags & (TF_INFR | TF_RTO)) == 0) {
      // Limited transmit: duplicate ACKs before recovery each let new data
      // out, so a small window still gathers the three duplicates (or SACKed
      // segments) that fast retransmit needs instead of waiting for the RTO.
      // RFC 3042 §2: the first two duplicates, one segment each, cwnd unchanged.
      let extra = (pcb.dupacks < 2 ? <u32>pcb.dupacks : 2) * mss;
      if ((pcb.flags & TF_SACK) != 0) {
        // RFC 6675 §5 step (3): while cwnd - pipe >= SMSS; pipe leaves out
        // what the peer SACKed, so the window grows by the flight minus pipe
        // (whichever of the two lets more out).
        const flight = pcb.snd_max - pcb.snd_una;
        const pipe = sack_pipe(tcp_sb(pcb), pcb.snd_una, pcb.snd_max, mss);
        if (flight > pipe && flight - pipe > extra) extra = flight - pipe;
      }
      const c2 = cw + extra;
      cw = c2 < cw ? 0xffffffff : c2;
    }
    let wnd = pcb.snd_wnd < cw ? pcb.snd_wnd : cw;
    while (pcb.unsent != 0) {
      const seg = changetype<tcp_seg>(pcb.unsent);
      // SYN segments go regardless of the (unknown) window.
      if ((seg.flags & TCP_SYN) == 0 && !can_send(pcb, seg, wnd)) break;
      if (send_first_unsent(pcb, n) != ERR_OK) break;
    }
  }

  // Nothing in flight, data waiting, window too small: probe (RFC 9293 §3.8.6.1).
  if (pcb.unsent != 0 && pcb.snd_una == pcb.snd_nxt && pcb.t_persist == 0 && pcb.t_rtx == 0) {
    const seg = changetype<tcp_seg>(pcb.unsent);
    if (<u64>seg_tcplen(seg) > <u64>pcb.snd_wnd && (seg.flags & TCP_SYN) == 0) {
      pcb.persist_backoff = 0;
      tcp_set_deadline_persist(pcb);
    }
  }
  if ((pcb.flags & TF_ACK_NOW) != 0) tcp_send_empty_ack(pcb);
  return ERR_OK;
}

/** Retransmits one unacked segment in place (fast retransmit, SACK holes). */
export function tcp_rexmit_seg(pcb: tcp_pcb, seg: tcp_seg, n: netif): err_t {
  const err = tcp_output_segment(pcb, seg, n);
  if (err != ERR_OK) return err;
  // Karn's rule: a timed segment that is retransmitted gives no sample.
  if (pcb.rttest != 0 && seq_leq(seg.seqno, pcb.rtseq) && seq_lt(pcb.rtseq, seg.seqno + seg.len + 1)) pcb.rttest = 0;
  if (pcb.t_rtx == 0) tcp_set_deadline_rtx(pcb);
  return ERR_OK;
}

/** Fast retransmit: the first unacked segment again. */
export function tcp_rexmit_fast(pcb: tcp_pcb): void {
  if (pcb.unacked == 0) return;
  const n = tcp_route(pcb);
  if (n == null) return;
  const seg = changetype<tcp_seg>(pcb.unacked);
  if (tcp_rexmit_seg(pcb, seg, n) != ERR_OK) return;
  STATS_INC(Proto.TCP, Ctr.FW);
  TCP_MIB_INC(TcpMib.FAST_REXMIT);
  if ((pcb.flags & TF_SACK) != 0) sack_on_sent(tcp_sb(pcb), 1, seg.seqno, seg.len);
}

/**
 * Resends what RACK declared lost (tcp_rack.ts; SF_LOST) and nothing else
 * will: in SACK recovery the retransmissions below HighRxt (NextSeg only
 * looks above it; the holes above are NextSeg's, through the RACK mark on
 * the board), after a timeout every lost segment already resent by the
 * go-back-N. Lowest first; a segment marked again only after something sent
 * later is delivered, so each delivery releases at most what it proved lost.
 */
export function tcp_rack_resend(pcb: tcp_pcb, below: u32, all: bool): void {
  const n = tcp_route(pcb);
  if (n == null) return;
  for (let s = pcb.unacked; s != 0; s = changetype<tcp_seg>(s).next) {
    const seg = changetype<tcp_seg>(s);
    if ((seg.sflags & (SF_LOST | SF_SACKED)) != SF_LOST) continue;
    if (!all && !seq_lt(seg.seqno, below)) break;
    if (tcp_rexmit_seg(pcb, seg, n) != ERR_OK) return;
    STATS_INC(Proto.TCP, Ctr.FW);
    TCP_MIB_INC(TcpMib.LOST_REXMIT);
  }
}

/**
 * The timeout was spurious (tcp_in: the first ACK after it echoes a
 * timestamp older than the retransmission, RFC 3522 §3.2): the segments
 * go-back-N put back on unsent arrived already — they go back to unacked
 * unsent again, snd_nxt returns to snd_max, and the congestion state before
 * the timeout is restored (RFC 4015 §3 response, simplified). Without this
 * one late ACK resent the whole window (a tab behind a queueing WebSocket
 * relay: 237 duplicates in 6,000 segments).
 */
export function tcp_rto_undo(pcb: tcp_pcb): void {
  while (pcb.unsent != 0) {
    const seg = changetype<tcp_seg>(pcb.unsent);
    if ((seg.sflags & SF_SENT) == 0 || !seq_lt(seg.seqno, pcb.snd_max)) break;
    pcb.unsent = seg.next;
    queue_unacked(pcb, seg);
  }
  if (pcb.unsent == 0) pcb.unsent_tail = 0;
  pcb.snd_nxt = pcb.snd_max;
  pcb.flags &= ~TF_RTO;
  const cc = tcp_cc(pcb);
  if (pcb.undo_cwnd > cc.cwnd) cc.cwnd = pcb.undo_cwnd;
  if (pcb.undo_ssthresh > cc.ssthresh) cc.ssthresh = pcb.undo_ssthresh;
  pcb.rto_ts = 0;
  TCP_MIB_INC(TcpMib.SPURIOUS_RTO);
}

/** Go-back-N after a timeout (lwIP tcp_rexmit_rto): unacked segments go back in front of unsent. */
export function tcp_rexmit_rto_prepare(pcb: tcp_pcb): void {
  if (pcb.unacked == 0) return;
  let s = pcb.unacked;
  while (s != 0) { changetype<tcp_seg>(s).oversize = 0; if (changetype<tcp_seg>(s).next == 0) break; s = changetype<tcp_seg>(s).next; }
  changetype<tcp_seg>(pcb.unacked_tail).next = pcb.unsent;
  if (pcb.unsent == 0) pcb.unsent_tail = pcb.unacked_tail;
  pcb.unsent = pcb.unacked;
  pcb.unacked = pcb.unacked_tail = 0;
  pcb.snd_nxt = changetype<tcp_seg>(pcb.unsent).seqno;
  pcb.rttest = 0;
}

/**
 * The retransmission timer fired (RFC 6298 §5.4–5.6): give up after
 * TCP_MAXRTX (TCP_SYNMAXRTX for a SYN) retransmissions with ERR_ABRT;
 * otherwise back off, shrink cwnd to one segment (RFC 5681 §3.1), leave
 * recovery (keeping the SACKed ranges: sack_leave_recovery) and resend
 * from snd_una, skipping what the peer SACKed.
 */
export function tcp_timer_rto(pcb: tcp_pcb): void {
  if (pcb.unacked == 0 && pcb.unsent == 0) return;
  // Held back only by the peer's window: that is the persist timer's job.
  if (pcb.unacked == 0 && pcb.t_persist != 0) return;
  const syn = pcb.state == tcp_state.SYN_SENT || pcb.state == tcp_state.SYN_RCVD;
  if (pcb.nrtx >= (syn ? TCP_SYNMAXRTX : TCP_MAXRTX)) {
    STATS_INC(Proto.TCP, Ctr.ERR);
    const errf = pcb.errf, arg = pcb.callback_arg;
    tcp_pcb_remove(pcb);
    tcp_report_err(errf, arg, ERR_ABRT);
    return;
  }
  if ((pcb.flags & TF_RACK) != 0) {
    // RACK's reordering timer (RFC 8985 §6.3): segments waited out
    // RACK.rtt + reo_wnd; detect again, then the RTO (or a probe) again.
    pcb.flags &= ~TF_RACK;
    tcp_set_deadline_rtx(pcb);
    tcp_rack_timeout(pcb);
    return;
  }
  if ((pcb.flags & TF_TLP) != 0) {
    // Probe timeout (RFC 8985 §7.3): one segment, new data if the peer's
    // window takes it, else the last one sent again; cwnd stays; then the
    // real RTO. In loss recovery (asip's extension, see tcp_tlp_allowed)
    // the segment at snd_una again instead: the cumulative ACK stopped
    // there for 2·SRTT, so either its retransmission or the ACK for it was
    // lost. Sent again it fills the hole or arrives as a duplicate, and
    // either draws an immediate ACK (RFC 5681 §4.2) — new data in order may
    // sit in the peer's delayed-ACK timer (Linux: 40 ms), and the last
    // segment again is only D-SACKed: nothing newly delivered, so RACK
    // could not tell that the retransmission below it was lost.
    pcb.flags = (pcb.flags & ~TF_TLP) | TF_TLP_SENT;
    TCP_MIB_INC(TcpMib.TLP);
    const n = tcp_route(pcb);
    if (n != null) {
      const u = pcb.unsent;
      if ((pcb.flags & (TF_INFR | TF_RTO)) != 0 && pcb.unacked != 0) {
        const head = changetype<tcp_seg>(pcb.unacked);
        if (tcp_rexmit_seg(pcb, head, n) == ERR_OK) {
          STATS_INC(Proto.TCP, Ctr.FW);
          if ((pcb.flags & TF_INFR) != 0) sack_on_sent(tcp_sb(pcb), 1, head.seqno, head.len);
        }
      } else if (u != 0 && (changetype<tcp_seg>(u).flags & TCP_SYN) == 0 && can_send_wnd(pcb, changetype<tcp_seg>(u), pcb.snd_wnd)) {
        send_first_unsent(pcb, n);
      } else if (pcb.unacked_tail != 0 && tcp_rexmit_seg(pcb, changetype<tcp_seg>(pcb.unacked_tail), n) == ERR_OK) {
        STATS_INC(Proto.TCP, Ctr.FW);
      }
    }
    tcp_set_deadline_rtx(pcb);
    return;
  }
  pcb.nrtx++;
  TCP_MIB_INC(TcpMib.RTO);
  const flight = pcb.snd_max - pcb.snd_una;
  // Eifel (RFC 3522 §3): remember the first retransmission's TSval and what
  // to restore should the ACK that ends this prove the timeout spurious.
  if (pcb.nrtx == 1 && !syn && (pcb.flags & TF_TIMESTAMP) != 0 && (pcb.flags & TF_RTO) == 0) {
    pcb.rto_ts = ts_now(pcb); // the retransmission below carries this TSval (0: detection skipped, 1 in 2^32)
    pcb.undo_cwnd = tcp_cc(pcb).cwnd;
    pcb.undo_ssthresh = tcp_cc(pcb).ssthresh;
  } else if (pcb.nrtx == 1) {
    pcb.rto_ts = 0;
  }
  if (!syn) cc_on_rto(tcp_cc(pcb), <u32>pcb.mss, flight, sys_now());
  pcb.flags &= ~TF_INFR;
  pcb.flags |= TF_RTO;
  pcb.recover = pcb.snd_max; // RFC 6582 §4
  pcb.dupacks = 0;
  // RFC 6675 §5.1: recovery ends, the SACKed ranges stay (sack_leave_recovery).
  sack_leave_recovery(tcp_sb(pcb));
  tcp_rexmit_rto_prepare(pcb);
  STATS_INC(Proto.TCP, Ctr.FW);
  const n = tcp_route(pcb);
  // The first segment goes out whatever cwnd says (it is the loss window).
  if (n != null && pcb.unsent != 0) send_first_unsent(pcb, n);
  tcp_set_deadline_rtx(pcb);
}

/**
 * The persist timer fired: with a small nonzero window, split the first
 * unsent segment to fit (lwIP persist_split) and send it; with a zero
 * window, a probe. Unanswered probes past TCP_MAXRTX abort the connection.
 */
export function tcp_timer_persist(pcb: tcp_pcb): void {
  if (pcb.unsent == 0 || pcb.snd_una != pcb.snd_nxt) { pcb.persist_backoff = 0; return; }
  if (pcb.persist_backoff >= TCP_MAXRTX) {
    STATS_INC(Proto.TCP, Ctr.ERR);
    const errf = pcb.errf, arg = pcb.callback_arg;
    tcp_pcb_remove(pcb);
    tcp_report_err(errf, arg, ERR_ABRT);
    return;
  }
  const n = tcp_route(pcb);
  const seg = changetype<tcp_seg>(pcb.unsent);
  const wnd = pcb.snd_wnd;
  if (n != null && wnd > 0 && seg.len > wnd && (seg.flags & TCP_SYN) == 0) {
    if (tcp_split_unsent_seg(pcb, wnd) == ERR_OK) {
      send_first_unsent(pcb, n);
      pcb.persist_backoff = 0;
      return;
    }
  }
  if (n != null && wnd >= seg_tcplen(seg) && wnd > 0) {
    send_first_unsent(pcb, n);
    pcb.persist_backoff = 0;
    return;
  }
  tcp_zero_window_probe(pcb);
  pcb.persist_backoff++;
  tcp_set_deadline_persist(pcb);
}

/** Splits the first unsent segment so its first part carries `split` bytes (lwIP tcp_split_unsent_seg). */
export function tcp_split_unsent_seg(pcb: tcp_pcb, split: u32): err_t {
  const seg = changetype<tcp_seg>(pcb.unsent);
  if (split == 0 || split >= seg.len) return ERR_VAL;
  const remain = seg.len - split;
  const optlen = data_optlen(pcb);
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, optlen + remain, pbuf_type.PBUF_RAM);
  if (p == null) return ERR_MEM;
  const ns = tcp_seg_new();
  if (ns == null) { pbuf_free(p); return ERR_MEM; }
  const old = changetype<pbuf>(seg.p);
  // Copy the tail of the data into the new segment.
  const copied = pbuf_copy_partial_to(old, p.payload + optlen, remain, <u32>seg.hlen + split);
  if (copied != remain) { pbuf_free(p); memp_free(MEMP.TCP_SEG, changetype<usize>(ns)); return ERR_BUF; }
  pbuf_add_header(p, TCP_HLEN);
  ns.p = changetype<usize>(p);
  ns.len = remain;
  ns.seqno = seg.seqno + split;
  ns.flags = seg.flags & (TCP_PSH | TCP_FIN);
  ns.sflags = SF_COPY;
  seg_hdr_init(pcb, ns, p.payload, TCP_HLEN + optlen);
  if (optlen != 0) { ns.ts_off = <u16>TCP_HLEN; tcpopt_put_ts(p.payload + TCP_HLEN, 0, 0); }
  // Shorten the first part (its data checksum must be recomputed).
  pbuf_realloc(old, <u32>seg.hlen + split);
  seg.len = split;
  seg.flags &= ~(TCP_PSH | TCP_FIN);
  seg.sflags &= ~SF_CHKSUM;
  seg.oversize = 0;
  ns.next = seg.next;
  seg.next = changetype<usize>(ns);
  if (pcb.unsent_tail == changetype<usize>(seg)) pcb.unsent_tail = changetype<usize>(ns);
  pcb.snd_queuelen += 1;
  return ERR_OK;
}

import { pbuf_copy_partial } from "../core/pbuf";
function pbuf_copy_partial_to(p: pbuf, dst: usize, len: u32, off: u32): u32 { return pbuf_copy_partial(p, dst, len, off); }

// ---- segments without queue: ACKs, RSTs, probes ---------------------------------------------------

/** A header-only segment for `pcb` with room for `optlen` option bytes. */
function tcp_output_alloc_header(pcb: tcp_pcb, optlen: u32, seqno: u32, flags: u8): pbuf | null {
  const p = pbuf_alloc(pbuf_layer.PBUF_IP, TCP_HLEN + optlen, pbuf_type.PBUF_RAM);
  if (p == null) { STATS_INC(Proto.TCP, Ctr.MEMERR); return null; }
  const h = p.payload;
  tcp_hdr_set_src(h, pcb.local_port);
  tcp_hdr_set_dest(h, pcb.remote_port);
  tcp_hdr_set_seqno(h, seqno);
  tcp_hdr_set_ackno(h, pcb.rcv_nxt);
  tcp_hdr_set_hlen(h, TCP_HLEN + optlen);
  tcp_hdr_set_flags(h, flags);
  tcp_hdr_set_wnd(h, wnd_field(pcb, false));
  tcp_hdr_set_urgp(h, 0);
  return p;
}

function tcp_output_control(pcb: tcp_pcb, p: pbuf): err_t {
  const n = tcp_route(pcb);
  const h = p.payload;
  const src = ip_pcb_local(pcb), dst = ip_pcb_remote(pcb);
  tcp_hdr_set_chksum(h, 0);
  tcp_hdr_set_chksum(h, ip_chksum_pseudo(p, IP_PROTO_TCP, p.tot_len, src, dst));
  let err: err_t = ERR_RTE;
  if (n != null) {
    STATS_INC(Proto.TCP, Ctr.XMIT);
    err = ip_output_if(p, src, dst, pcb.ttl, pcb.tos, IP_PROTO_TCP, n);
  } else {
    STATS_INC(Proto.TCP, Ctr.RTERR);
  }
  pbuf_free(p);
  return err;
}

/**
 * The SACK blocks we report (RFC 2018 §4): the out-of-order queue as
 * contiguous ranges, the one holding the most recently received segment
 * first, then the others in order, at most `max`.
 */
function sack_blocks(pcb: tcp_pcb, out: usize, max: u32): u32 {
  let n: u32 = 0;
  let first_i: i32 = -1;
  let s = pcb.ooseq;
  while (s != 0 && n < 8) {
    const seg = changetype<tcp_seg>(s);
    const left = seg.seqno;
    let right = seg.seqno + seg.len;
    let recent = seq_geq(pcb.ooseq_last, left) && seq_lt(pcb.ooseq_last, right + 1);
    s = seg.next;
    while (s != 0 && changetype<tcp_seg>(s).seqno == right) {
      const g = changetype<tcp_seg>(s);
      if (seq_geq(pcb.ooseq_last, g.seqno) && seq_lt(pcb.ooseq_last, g.seqno + g.len + 1)) recent = true;
      right = g.seqno + g.len;
      s = g.next;
    }
    store<u32>(out + (<usize>n << 3), left);
    store<u32>(out + (<usize>n << 3), right, 4);
    if (recent && first_i < 0) first_i = <i32>n;
    n++;
  }
  if (first_i > 0) {
    // Move the most recent block to the front.
    const l = load<u32>(out + (<usize>first_i << 3)), r = load<u32>(out + (<usize>first_i << 3), 4);
    for (let i = first_i; i > 0; i--) {
      store<u64>(out + (<usize>i << 3), load<u64>(out + (<usize>(i - 1) << 3)));
    }
    store<u32>(out, l);
    store<u32>(out, r, 4);
  }
  return n < max ? n : max;
}

const sackbuf: usize = memory.data(64, 8);

/** An ACK alone (with timestamps and SACK blocks when negotiated). */
export function tcp_send_empty_ack(pcb: tcp_pcb): err_t {
  let optlen: u32 = 0;
  const ts = (pcb.flags & TF_TIMESTAMP) != 0;
  if (ts) optlen += TCPOLEN_TS;
  let nsack: u32 = 0;
  if ((pcb.flags & TF_SACK) != 0 && pcb.ooseq != 0) {
    nsack = sack_blocks(pcb, sackbuf, ts ? 3 : 4);
    if (nsack != 0) optlen += 4 + 8 * nsack;
  }
  const p = tcp_output_alloc_header(pcb, optlen, pcb.snd_nxt, TCP_ACK);
  if (p == null) {
    // Try again later: keep the ACK owed.
    pcb.flags |= TF_ACK_NOW;
    return ERR_MEM;
  }
  let o = p.payload + TCP_HLEN;
  if (ts) o += tcpopt_put_ts(o, ts_now(pcb), pcb.ts_recent);
  if (nsack != 0) {
    o += tcpopt_put_sack_hdr(o, nsack);
    for (let i: u32 = 0; i < nsack; i++) o += tcpopt_put_sack_block(o, load<u32>(sackbuf + (<usize>i << 3)), load<u32>(sackbuf + (<usize>i << 3), 4));
  }
  acked_now(pcb);
  return tcp_output_control(pcb, p);
}

/**
 * Zero-window probe and keepalive: a segment one below snd_una with no data
 * (RFC 9293 §3.8.6.1 allows it; the peer must answer with an ACK carrying
 * its current window, RFC 1122 §4.2.3.6).
 */
export function tcp_zero_window_probe(pcb: tcp_pcb): err_t {
  const optlen = (pcb.flags & TF_TIMESTAMP) != 0 ? TCPOLEN_TS : 0;
  const p = tcp_output_alloc_header(pcb, optlen, pcb.snd_una - 1, TCP_ACK);
  if (p == null) return ERR_MEM;
  if (optlen != 0) tcpopt_put_ts(p.payload + TCP_HLEN, ts_now(pcb), pcb.ts_recent);
  return tcp_output_control(pcb, p);
}

export function tcp_keepalive(pcb: tcp_pcb): err_t { return tcp_zero_window_probe(pcb); }

/**
 * A RST (lwIP tcp_rst): `ackf` adds ACK = `ackno`. `pcb` (or null) gives
 * the netif binding, TTL and TOS; the addresses and ports are explicit
 * because RSTs also answer segments that have no pcb.
 */
export function tcp_rst(seqno: u32, ackno: u32, local: ip_addr, remote: ip_addr, lport: u16, rport: u16, ackf: bool, pcb: tcp_pcb | null): void {
  const p = pbuf_alloc(pbuf_layer.PBUF_IP, TCP_HLEN, pbuf_type.PBUF_RAM);
  if (p == null) { STATS_INC(Proto.TCP, Ctr.MEMERR); return; }
  const h = p.payload;
  tcp_hdr_set_src(h, lport);
  tcp_hdr_set_dest(h, rport);
  tcp_hdr_set_seqno(h, seqno);
  tcp_hdr_set_ackno(h, ackf ? ackno : 0);
  tcp_hdr_set_hlen(h, TCP_HLEN);
  tcp_hdr_set_flags(h, ackf ? TCP_RST | TCP_ACK : TCP_RST);
  tcp_hdr_set_wnd(h, 0);
  tcp_hdr_set_urgp(h, 0);
  tcp_hdr_set_chksum(h, 0);
  tcp_hdr_set_chksum(h, ip_chksum_pseudo(p, IP_PROTO_TCP, TCP_HLEN, local, remote));
  let n: netif | null = null;
  if (pcb != null && pcb.netif_idx != 0) n = netif_get_by_index(pcb.netif_idx);
  else n = ip_route(local, remote);
  if (n != null) {
    STATS_INC(Proto.TCP, Ctr.XMIT);
    ip_output_if(p, local, remote, pcb != null ? pcb.ttl : IP_DEFAULT_TTL, pcb != null ? pcb.tos : 0, IP_PROTO_TCP, n);
  } else {
    STATS_INC(Proto.TCP, Ctr.RTERR);
  }
  pbuf_free(p);
}

