// tcp_in: segment arrival (RFC 9293 §3.10.7 "SEGMENT ARRIVES"; lwIP tcp_in.c).
//
// tcp_input validates the segment (checksum, data offset, options), finds
// the pcb (connection, TIME_WAIT, listener — in that order) and runs the
// RFC's steps in its order:
//   SYN_SENT: ACK check, RST, SYN (→ ESTABLISHED or, simultaneous open,
//             SYN_RCVD).
//   otherwise: PAWS (RFC 7323 §5), acceptability (RFC 9293 §3.10.7.4
//             table), RST (RFC 5961 §3.2: exact sequence number resets,
//             in-window ones earn a challenge ACK), SYN (RFC 5961 §4.2:
//             challenge ACK), ACK (RFC 5961 §5.2 validation; new data
//             acked, RTT, congestion control, SACK, fast retransmit /
//             recovery, window update), text (in order: delivered; out of
//             order: queued within the window and TCP_OOSEQ_MAX_*), FIN.
// Callbacks run after the state is settled: sent, then recv(data), then
// recv(null) for the FIN. The pcb being processed is tcp_input_pcb; a
// callback that frees it (tcp_abort/tcp_close) only marks it dead and the
// memory goes back at the end.
//
// Bad input is dropped and counted in Proto.TCP: LENERR (short, data offset
// below 5 or beyond the segment), CHKERR, OPTERR (malformed option list;
// MSS 0 or tiny and window scale above 14 are fixed up, counted, and the
// segment kept), PROTERR (no pcb, SYN+FIN to a listener, unacceptable
// segments), DROP for everything dropped.

import { pbuf, pbuf_free, pbuf_remove_header, pbuf_realloc, pbuf_free_header, pbuf_cat, pbuf_clen, pbuf_keep, PBUF_FLAG_TCP_FIN } from "../core/pbuf";
import { err_t, ERR_OK, ERR_ABRT, ERR_RST, ERR_CLSD, ERR_MEM } from "../core/err";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { sys_now } from "../core/timeouts";
import { MEMP, memp_free } from "../core/memp";
import { ip_addr, ip_addr_isany, ip_addr_eq, ip_addr_copy, ip_addr_ismulticast, IP_IS_V6 } from "../ip_addr";
import { netif } from "../netif/netif";
import {
  ip_pcb_local, ip_pcb_remote, ip_pcb_local_match, ip_current_src_addr, ip_current_dest_addr, ip_addr_isbroadcast,
  ip_chksum_pseudo, ip_icmp_is_refusal, ip_icmp_is_pmtu, ip_min_mtu, ip_hdr_len, IP_PROTO_TCP, ip_reachability_hint,
} from "../ip";
import { TCP_RCV_SCALE } from "../config";
import { cc_init, cc_on_ack, cc_on_loss, cc_on_recovery_end } from "./tcp_cc";
import {
  sack_update, sack_advance, sack_is_lost, sack_enter_recovery, sack_high_rxt, sack_is_sacked, sack_reneged, sack_reset,
  sack_set_rack_lost,
} from "./tcp_sack";
import { tcp_isn } from "./tcp_isn";
import { seq_lt, seq_leq, seq_gt, seq_geq, seq_between, seq_max } from "./tcp_seq";
import {
  TCP_HLEN, TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK, TCP_URG, tcp_hdr_src, tcp_hdr_dest, tcp_hdr_seqno,
  tcp_hdr_ackno, tcp_hdr_flags, tcp_hdr_wnd, tcp_hdr_check, tcp_opts, tcp_parseopt, TCPOPT_F_MSS,
  TCPOPT_F_WS, TCPOPT_F_SACK_PERM, TCPOPT_F_TS, TCPOPT_F_SACK, TCPOLEN_TS,
} from "./tcp_hdr";
import {
  tcp_pcb, tcp_state, tcp_cc, tcp_sb, tcp_alloc, tcp_reg_active, tcp_active_to_front, tcp_pcb_remove,
  tcp_report_err, tcp_abort, tcp_enter_time_wait, tcp_rtt_sample, tcp_srtt, tcp_mss_for, tcp_set_input_pcb,
  tcp_input_pcb, tcp_input_pcb_dead, tcp_keepalive_restart, tcp_set_deadline_rtx, tcp_set_deadline_dack,
  tcp_set_deadline_2msl, tcp_set_deadline_misc, tcp_time_wait_ms, tcp_active_pcbs, tcp_tw_pcbs,
  tcp_listen_pcbs, tcp_recved, tcp_close, tcp_accept_fn, tcp_connected_fn, tcp_recv_fn, tcp_sent_fn,
  TF_ACK_DELAY, TF_ACK_NOW, TF_INFR, TF_RXCLOSED, TF_FIN, TF_NODELAY, TF_WND_SCALE, TF_TIMESTAMP, TF_SACK,
  TF_PASSIVE, TF_GOT_FIN, TF_RTO, TF_HOST, TF_CLOSED_APP, TF_TLP_SENT, TCP_DEFAULT_MSS, TCP_MIN_MSS,
  TCP_OOSEQ_MAX_BYTES, TCP_OOSEQ_MAX_PBUFS, TCP_CHALLENGE_ACK_LIMIT, TCP_FIN_WAIT_TIMEOUT, SOF_KEEPALIVE,
  SOF_REUSEADDR, TcpMib, TCP_MIB_INC,
} from "./tcp";
import {
  tcp_output, tcp_enqueue_flags, tcp_rst, tcp_send_empty_ack, tcp_segs_free, tcp_seg, tcp_seg_new,
  tcp_seg_free, seg_tcplen, tcp_rexmit_fast, tcp_rexmit_seg, tcp_rack_resend, tcp_rto_undo, SF_SENT, SF_SACKED,
} from "./tcp_out";
import { tcp_route, tcp_rack, tcp_set_deadline_rack, TF_TLP, TF_RACK, tcp_timer_need } from "./tcp";
import {
  rack_on_delivered, rack_on_dsack, rack_reo_wnd, rack_detect_loss, rack_marked, rack_any_lost, rack_lost_hi,
} from "./tcp_rack";

// ---- the segment being processed ------------------------------------------------------------

const opts_mem: usize = memory.data(32, 8);
// @ts-ignore: decorator
@inline function opts(): tcp_opts { return changetype<tcp_opts>(opts_mem); }

let seg_seq: u32 = 0;
let seg_ack: u32 = 0;
let seg_flags: u8 = 0;
let seg_wnd: u32 = 0;
let seg_len: u32 = 0;      // data bytes
let in_tcplen: u32 = 0;   // data + SYN + FIN
let src_port: u16 = 0;
let dst_port: u16 = 0;

/** Results of one segment, reported after processing. */
let recv_data: pbuf | null = null;
let recv_fin: bool = false;
let recv_acked: u32 = 0;
/** FIN_WAIT_2 got the FIN: enter TIME_WAIT at the end. */
let goto_tw: bool = false;

/** 24 days in ms: a TS.Recent older than this is no longer valid for PAWS (RFC 7323 §5.5). */
const PAWS_IDLE_MS: u32 = 24 * 24 * 3600 * 1000;

// ---- RFC 5961 §7: challenge ACK rate limit ------------------------------------------------------

let chal_second: u32 = 0;
let chal_count: u32 = 0;

/** Sends a challenge ACK unless this second's budget is used up (then counted and skipped). */
function challenge_ack(pcb: tcp_pcb): void {
  const now = sys_now();
  const sec = now / 1000;
  if (sec != chal_second) { chal_second = sec; chal_count = 0; }
  if (chal_count >= TCP_CHALLENGE_ACK_LIMIT) { STATS_INC(Proto.TCP, Ctr.DROP); return; }
  chal_count++;
  tcp_send_empty_ack(pcb);
}
/** Tests: restart the challenge ACK budget. */
export function tcp_challenge_ack_reset(): void { chal_count = 0; }

// ---- input --------------------------------------------------------------------------------

function drop(p: pbuf, ctr: Ctr): void {
  if (ctr != Ctr.DROP) STATS_INC(Proto.TCP, ctr);
  STATS_INC(Proto.TCP, Ctr.DROP);
  pbuf_free(p);
}

/**
 * A TCP segment arrived (p.payload at the TCP header, its addresses in
 * ip.ts's ip_current_*). Takes ownership of `p`.
 */
export function tcp_input(p: pbuf, inp: netif): void {
  STATS_INC(Proto.TCP, Ctr.RECV);
  if (p.len < TCP_HLEN) { drop(p, Ctr.LENERR); return; }
  const src_ip = ip_current_src_addr();
  const dst_ip = ip_current_dest_addr();
  // RFC 9293 §3.9.1 / RFC 1122 §4.2.3.10: never to or from a broadcast or multicast address.
  if (ip_addr_isbroadcast(dst_ip, inp) || ip_addr_ismulticast(dst_ip) || ip_addr_ismulticast(src_ip) || ip_addr_isany(src_ip)) {
    drop(p, Ctr.PROTERR);
    return;
  }
  if (ip_chksum_pseudo(p, IP_PROTO_TCP, p.tot_len, src_ip, dst_ip) != 0) { drop(p, Ctr.CHKERR); return; }
  const h = p.payload;
  const hlen = tcp_hdr_check(h, p.len, p.tot_len);
  if (hlen == 0) { drop(p, Ctr.LENERR); return; }
  if (!tcp_parseopt(h, hlen, opts())) { drop(p, Ctr.OPTERR); return; }
  src_port = tcp_hdr_src(h);
  dst_port = tcp_hdr_dest(h);
  seg_seq = tcp_hdr_seqno(h);
  seg_ack = tcp_hdr_ackno(h);
  seg_flags = tcp_hdr_flags(h);
  seg_wnd = <u32>tcp_hdr_wnd(h);
  seg_len = p.tot_len - hlen;
  in_tcplen = seg_len + ((seg_flags & TCP_SYN) != 0 ? 1 : 0) + ((seg_flags & TCP_FIN) != 0 ? 1 : 0);
  pbuf_remove_header(p, hlen);

  // Connections first (busy ones move to the front, lwIP).
  let prev: usize = 0;
  for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
    const pcb = changetype<tcp_pcb>(q);
    if (pcb.local_port == dst_port && pcb.remote_port == src_port && ip_addr_eq(ip_pcb_remote(pcb), src_ip) &&
        ip_addr_eq(ip_pcb_local(pcb), dst_ip) && (pcb.netif_idx == 0 || pcb.netif_idx == inp.num)) {
      tcp_active_to_front(pcb, prev);
      tcp_process_segment(pcb, p);
      return;
    }
    prev = q;
  }
  for (let q = tcp_tw_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
    const pcb = changetype<tcp_pcb>(q);
    if (pcb.local_port == dst_port && pcb.remote_port == src_port && ip_addr_eq(ip_pcb_remote(pcb), src_ip) &&
        ip_addr_eq(ip_pcb_local(pcb), dst_ip)) {
      tcp_timewait_input(pcb);
      pbuf_free(p);
      return;
    }
  }
  // Listeners: one bound to the destination address beats one bound to ANY.
  let best: tcp_pcb | null = null;
  for (let q = tcp_listen_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
    const l = changetype<tcp_pcb>(q);
    if (l.local_port != dst_port) continue;
    if (l.netif_idx != 0 && l.netif_idx != inp.num) continue;
    const la = ip_pcb_local(l);
    if (!ip_pcb_local_match(la, dst_ip)) continue;
    if (best == null || !ip_addr_isany(la)) best = l;
    if (!ip_addr_isany(la)) break;
  }
  if (best != null) {
    tcp_listen_input(best, inp);
    pbuf_free(p);
    return;
  }
  // CLOSED (RFC 9293 §3.10.7.1): answer anything but a RST with a RST.
  if ((seg_flags & TCP_RST) == 0) send_rst_for_segment(null);
  drop(p, Ctr.PROTERR);
}

/** RST for the current segment: <SEQ=SEG.ACK><CTL=RST> if it had ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
function send_rst_for_segment(pcb: tcp_pcb | null): void {
  const local = ip_current_dest_addr(), remote = ip_current_src_addr();
  if ((seg_flags & TCP_ACK) != 0) tcp_rst(seg_ack, 0, local, remote, dst_port, src_port, false, pcb);
  else tcp_rst(0, seg_seq + in_tcplen, local, remote, dst_port, src_port, true, pcb);
}

// ---- options of a SYN --------------------------------------------------------------------------

/** Applies the options of the peer's SYN (or SYN-ACK): MSS, window scale, SACK-permitted, timestamps. */
function apply_syn_options(pcb: tcp_pcb): void {
  const o = opts();
  let peer_mss: u32 = TCP_DEFAULT_MSS;
  if ((o.present & TCPOPT_F_MSS) != 0) {
    peer_mss = o.mss;
    // MSS 0 is meaningless: take the RFC 9293 default; a tiny one is raised (counted).
    if (peer_mss == 0) { peer_mss = TCP_DEFAULT_MSS; STATS_INC(Proto.TCP, Ctr.OPTERR); }
    else if (peer_mss < TCP_MIN_MSS) { peer_mss = TCP_MIN_MSS; STATS_INC(Proto.TCP, Ctr.OPTERR); }
  }
  if ((o.present & TCPOPT_F_WS) != 0) {
    pcb.flags |= TF_WND_SCALE;
    let ws = o.ws;
    // RFC 7323 §2.3: a shift above 14 is used as 14 (and logged).
    if (ws > 14) { ws = 14; STATS_INC(Proto.TCP, Ctr.OPTERR); }
    pcb.snd_scale = <u8>ws;
    pcb.rcv_scale = <u8>TCP_RCV_SCALE;
  } else {
    pcb.flags &= ~TF_WND_SCALE;
    pcb.snd_scale = 0;
    pcb.rcv_scale = 0;
    if (pcb.rcv_wnd > 0xffff) pcb.rcv_wnd = 0xffff;
    if (pcb.rcv_ann_wnd > 0xffff) pcb.rcv_ann_wnd = 0xffff;
  }
  if ((o.present & TCPOPT_F_SACK_PERM) != 0) pcb.flags |= TF_SACK; else pcb.flags &= ~TF_SACK;
  if ((o.present & TCPOPT_F_TS) != 0) {
    pcb.flags |= TF_TIMESTAMP;
    pcb.ts_recent = o.tsval;
    pcb.ts_recent_age = sys_now();
  } else {
    pcb.flags &= ~TF_TIMESTAMP;
  }
  let mss = peer_mss < <u32>pcb.rcv_mss ? peer_mss : <u32>pcb.rcv_mss;
  // Timestamps take 12 bytes of every segment (RFC 7323 §3.2 / Linux).
  if ((pcb.flags & TF_TIMESTAMP) != 0 && mss > TCPOLEN_TS + 32) mss -= TCPOLEN_TS;
  pcb.mss = <u16>mss;
}

// ---- LISTEN --------------------------------------------------------------------------------------

/** Drops the oldest half-open connection of listener `l` (SYN flood: the oldest goes first). */
function drop_oldest_half_open(l: tcp_pcb): bool {
  const now = sys_now();
  let victim: tcp_pcb | null = null;
  let age: u32 = 0;
  const me = changetype<usize>(l);
  for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
    const p = changetype<tcp_pcb>(q);
    if (p.listener != me || p.state != tcp_state.SYN_RCVD || (p.flags & TF_PASSIVE) == 0) continue;
    const a = now - p.tmr;
    if (victim == null || a >= age) { victim = p; age = a; }
  }
  if (victim == null) return false;
  STATS_INC(Proto.TCP, Ctr.DROP);
  tcp_pcb_remove(victim);
  return true;
}

function tcp_listen_input(l: tcp_pcb, inp: netif): void {
  if ((seg_flags & TCP_RST) != 0) { STATS_INC(Proto.TCP, Ctr.DROP); return; }
  if ((seg_flags & TCP_ACK) != 0) {
    // RFC 9293 §3.10.7.2: an ACK to a listener gets <SEQ=SEG.ACK><CTL=RST>; the listener stays.
    send_rst_for_segment(null);
    STATS_INC(Proto.TCP, Ctr.PROTERR);
    STATS_INC(Proto.TCP, Ctr.DROP);
    return;
  }
  if ((seg_flags & TCP_SYN) == 0 || (seg_flags & TCP_FIN) != 0) {
    // Nothing to do; SYN+FIN is not a connection request anyone sends.
    STATS_INC(Proto.TCP, Ctr.PROTERR);
    STATS_INC(Proto.TCP, Ctr.DROP);
    return;
  }
  if (l.accepts_pending >= l.backlog) { STATS_INC(Proto.TCP, Ctr.DROP); return; }
  const syn_max: u16 = l.syn_max == 0 ? 1 : l.syn_max;
  while (l.syn_pending >= syn_max) if (!drop_oldest_half_open(l)) break;
  let npcb = tcp_alloc(l.prio, true);
  if (npcb == null && drop_oldest_half_open(l)) npcb = tcp_alloc(l.prio, true);
  if (npcb == null) { STATS_INC(Proto.TCP, Ctr.MEMERR); STATS_INC(Proto.TCP, Ctr.DROP); return; }
  const now = sys_now();
  const src_ip = ip_current_src_addr(), dst_ip = ip_current_dest_addr();
  // The connection's family is the segment's (a dual-stack listener takes either).
  ip_addr_copy(ip_pcb_local(npcb), dst_ip);
  ip_addr_copy(ip_pcb_remote(npcb), src_ip);
  npcb.local_port = dst_port;
  npcb.remote_port = src_port;
  npcb.state = <u8>tcp_state.SYN_RCVD;
  npcb.flags |= TF_PASSIVE | (l.flags & (TF_NODELAY | TF_HOST));
  npcb.host = l.host;
  npcb.listener = changetype<usize>(l);
  l.syn_pending++;
  npcb.so_options = l.so_options & (SOF_KEEPALIVE | SOF_REUSEADDR);
  npcb.prio = l.prio;
  npcb.ttl = l.ttl;
  npcb.tos = l.tos;
  npcb.netif_idx = l.netif_idx;
  npcb.callback_arg = l.callback_arg;
  npcb.rcv_nxt = seg_seq + 1;
  npcb.rcv_ann_right_edge = npcb.rcv_nxt;
  npcb.snd_wnd = seg_wnd; // a SYN's window is never scaled
  npcb.snd_wnd_max = seg_wnd;
  npcb.snd_wl1 = seg_seq;
  npcb.rcv_mss = <u16>tcp_mss_for(inp, src_ip);
  apply_syn_options(npcb);
  npcb.iss = tcp_isn(dst_ip, dst_port, src_ip, src_port, now);
  npcb.snd_una = npcb.snd_nxt = npcb.snd_max = npcb.snd_lbb = npcb.snd_wl2 = npcb.recover = npcb.iss;
  cc_init(tcp_cc(npcb), tcp_cc(npcb).algo, <u32>npcb.mss);
  if (tcp_enqueue_flags(npcb, TCP_SYN) != ERR_OK) {
    l.syn_pending--;
    memp_free(MEMP.TCP_PCB, changetype<usize>(npcb));
    STATS_INC(Proto.TCP, Ctr.DROP);
    return;
  }
  tcp_reg_active(npcb);
  tcp_output(npcb);
}

// ---- TIME_WAIT (lwIP tcp_timewait_input) --------------------------------------------------------------

function tcp_timewait_input(pcb: tcp_pcb): void {
  // RFC 1337: a RST must not end TIME_WAIT early (TIME-WAIT assassination).
  if ((seg_flags & TCP_RST) != 0) return;
  if ((seg_flags & TCP_SYN) != 0) {
    // A new SYN inside the old window: refuse it; the peer retries after 2MSL (lwIP).
    if (seq_between(seg_seq, pcb.rcv_nxt, pcb.rcv_nxt + pcb.rcv_wnd)) {
      send_rst_for_segment(pcb);
      return;
    }
  } else if ((seg_flags & TCP_FIN) != 0) {
    // A retransmitted FIN: our last ACK got lost; restart the 2MSL wait (RFC 9293 §3.10.7.4).
    tcp_set_deadline_2msl(pcb, tcp_time_wait_ms);
  }
  if (in_tcplen > 0) tcp_send_empty_ack(pcb);
}

// ---- connections ------------------------------------------------------------------------------------

/**
 * Delivers refused data again (lwIP tcp_process_refused_data). The caller
 * made `pcb` the tcp_input_pcb. ERR_ABRT when the pcb went away, ERR_MEM
 * when refused again.
 */
export function tcp_process_refused_data(pcb: tcp_pcb): err_t {
  const p = changetype<pbuf>(pcb.refused_data);
  const fin = (p.flags & PBUF_FLAG_TCP_FIN) != 0;
  pcb.refused_data = 0;
  p.flags &= ~PBUF_FLAG_TCP_FIN;
  let err: err_t;
  if ((pcb.flags & TF_RXCLOSED) != 0) { tcp_recved(pcb, p.tot_len); pbuf_free(p); err = ERR_OK; }
  else if (pcb.recv != 0) err = changetype<tcp_recv_fn>(pcb.recv)(pcb.callback_arg, pcb, p, ERR_OK);
  else err = recv_null(pcb, p);
  if (tcp_input_pcb_dead || err == ERR_ABRT) return ERR_ABRT;
  if (err != ERR_OK) {
    // Refused again: keep it (with the FIN mark).
    if (fin) p.flags |= PBUF_FLAG_TCP_FIN;
    pcb.refused_data = changetype<usize>(p);
    tcp_set_deadline_misc(pcb);
    return ERR_MEM;
  }
  if (fin && (deliver_fin(pcb) == ERR_ABRT || tcp_input_pcb_dead)) return ERR_ABRT;
  return ERR_OK;
}


/** The default receive function (lwIP tcp_recv_null): consume and close on FIN. */
function recv_null(pcb: tcp_pcb, p: pbuf | null): err_t {
  if (p != null) {
    tcp_recved(pcb, p.tot_len);
    pbuf_free(p);
  } else {
    tcp_close(pcb);
  }
  return ERR_OK;
}

/** recv(null): the peer closed. Returns ERR_ABRT when the pcb went away. */
function deliver_fin(pcb: tcp_pcb): err_t {
  if ((pcb.flags & TF_RXCLOSED) != 0 && pcb.recv == 0) return ERR_OK;
  if ((pcb.flags & TF_CLOSED_APP) != 0) return ERR_OK;
  let err: err_t;
  if (pcb.recv != 0) err = changetype<tcp_recv_fn>(pcb.recv)(pcb.callback_arg, pcb, null, ERR_OK);
  else err = recv_null(pcb, null);
  return tcp_input_pcb_dead ? ERR_ABRT : err;
}

/** Is the current segment acceptable (RFC 9293 §3.10.7.4 first check)? */
function acceptable(pcb: tcp_pcb): bool {
  const wnd = pcb.rcv_wnd;
  const nxt = pcb.rcv_nxt;
  if (in_tcplen == 0) {
    if (wnd == 0) return seg_seq == nxt;
    return seq_geq(seg_seq, nxt) && seq_lt(seg_seq, nxt + wnd);
  }
  if (wnd == 0) return false;
  return (seq_geq(seg_seq, nxt) && seq_lt(seg_seq, nxt + wnd)) ||
    (seq_geq(seg_seq + in_tcplen - 1, nxt) && seq_lt(seg_seq + in_tcplen - 1, nxt + wnd));
}

function tcp_process_segment(pcb: tcp_pcb, p: pbuf): void {
  tcp_set_input_pcb(changetype<usize>(pcb));
  recv_data = null;
  recv_fin = false;
  recv_acked = 0;
  const now = sys_now();
  pcb.tmr = now;
  if (pcb.t_keep != 0 || pcb.keep_cnt_sent != 0) tcp_keepalive_restart(pcb);
  let data: pbuf | null = p;

  // Data the application refused earlier goes first; while it stays refused
  // no new data is taken (the window is closed to the peer anyway).
  let hold_data = false;
  if (pcb.refused_data != 0) {
    if (tcp_process_refused_data(pcb) == ERR_ABRT || tcp_input_pcb_dead) { pbuf_free(p); finish(pcb); return; }
    if (pcb.refused_data != 0 && seg_len > 0) hold_data = true;
  }

  if (pcb.state == tcp_state.SYN_SENT) {
    syn_sent_input(pcb, p);
    finish(pcb);
    return;
  }

  const o = opts();
  const rst = (seg_flags & TCP_RST) != 0;
  // PAWS (RFC 7323 §5.3 R1): an old timestamp marks an old duplicate.
  if ((pcb.flags & TF_TIMESTAMP) != 0 && (o.present & TCPOPT_F_TS) != 0 && !rst &&
      seq_lt(o.tsval, pcb.ts_recent) && now - pcb.ts_recent_age < PAWS_IDLE_MS) {
    pcb.flags |= TF_ACK_NOW;
    drop(p, Ctr.PROTERR);
    finish(pcb);
    return;
  }

  // SYN_RCVD: the peer's SYN again (our SYN-ACK was lost) — send it again.
  if (pcb.state == tcp_state.SYN_RCVD && (seg_flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN && seg_seq == pcb.rcv_nxt - 1) {
    if (pcb.unacked != 0) { const n = tcp_route(pcb); if (n != null) tcp_rexmit_seg(pcb, changetype<tcp_seg>(pcb.unacked), n); }
    pbuf_free(p);
    finish(pcb);
    return;
  }

  // First: sequence number acceptable? A zero window still takes ACK/RST/URG
  // information from a segment at rcv_nxt (RFC 9293 §3.10.7.4).
  let ok = acceptable(pcb);
  if (!ok && pcb.rcv_wnd == 0 && seg_seq == pcb.rcv_nxt) { ok = true; hold_data = true; }
  if (!ok) {
    if (!rst) pcb.flags |= TF_ACK_NOW;
    drop(p, Ctr.PROTERR);
    finish(pcb);
    return;
  }

  // Second: RST (RFC 5961 §3.2).
  if (rst) {
    if (seg_seq == pcb.rcv_nxt) {
      const errf = pcb.errf, arg = pcb.callback_arg;
      const passive = pcb.state == tcp_state.SYN_RCVD && (pcb.flags & TF_PASSIVE) != 0;
      tcp_pcb_remove(pcb);
      // A half-open connection from a listener just goes (the listener stays, RFC 9293 §3.10.7.4).
      if (!passive) tcp_report_err(errf, arg, ERR_RST);
    } else {
      challenge_ack(pcb);
      STATS_INC(Proto.TCP, Ctr.DROP);
    }
    pbuf_free(p);
    finish(pcb);
    return;
  }

  // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK, drop.
  if ((seg_flags & TCP_SYN) != 0) {
    challenge_ack(pcb);
    drop(p, Ctr.PROTERR);
    finish(pcb);
    return;
  }

  // Fifth: ACK.
  if ((seg_flags & TCP_ACK) == 0) { drop(p, Ctr.PROTERR); finish(pcb); return; }
  if (pcb.state == tcp_state.SYN_RCVD) {
    if (seq_gt(seg_ack, pcb.snd_una) && seq_leq(seg_ack, pcb.snd_max)) {
      if (!syn_rcvd_established(pcb)) { pbuf_free(p); finish(pcb); return; }
    } else {
      // RFC 9293 §3.10.7.4: <SEQ=SEG.ACK><CTL=RST>; the half-open connection stays.
      send_rst_for_segment(pcb);
      drop(p, Ctr.PROTERR);
      finish(pcb);
      return;
    }
  }
  if (seq_gt(seg_ack, pcb.snd_max)) {
    // Acks something not yet sent: ACK and drop (RFC 9293 §3.10.7.4, RFC 5961 §5.2).
    pcb.flags |= TF_ACK_NOW;
    drop(p, Ctr.PROTERR);
    finish(pcb);
    return;
  }
  if (seq_lt(seg_ack, pcb.snd_una - pcb.snd_wnd_max - 1)) {
    // Too old to be a real ACK (RFC 5961 §5.2): challenge.
    challenge_ack(pcb);
    drop(p, Ctr.PROTERR);
    finish(pcb);
    return;
  }
  tcp_receive_ack(pcb);
  if (tcp_input_pcb_dead) { pbuf_free(p); finish(pcb); return; }

  // Timestamps: TS.Recent follows the segment that covers Last.ACK.sent (RFC 7323 §4.3).
  if ((pcb.flags & TF_TIMESTAMP) != 0 && (o.present & TCPOPT_F_TS) != 0 &&
      seq_leq(seg_seq, pcb.last_ack_sent) && seq_geq(o.tsval, pcb.ts_recent)) {
    pcb.ts_recent = o.tsval;
    pcb.ts_recent_age = now;
  }

  // State changes an ACK of our FIN brings.
  const fin_acked = (pcb.flags & TF_FIN) != 0 && pcb.snd_una == pcb.snd_lbb;
  const st = pcb.state;
  if (st == tcp_state.FIN_WAIT_1 && fin_acked) {
    pcb.state = <u8>tcp_state.FIN_WAIT_2;
    if ((pcb.flags & TF_RXCLOSED) != 0) tcp_set_deadline_2msl(pcb, TCP_FIN_WAIT_TIMEOUT);
  } else if (st == tcp_state.CLOSING && fin_acked) {
    pbuf_free(p);
    report_sent(pcb);
    if (!tcp_input_pcb_dead) tcp_enter_time_wait(pcb);
    finish(pcb);
    return;
  } else if (st == tcp_state.LAST_ACK && fin_acked) {
    pbuf_free(p);
    report_sent(pcb);
    if (!tcp_input_pcb_dead) {
      const errf = pcb.errf, arg = pcb.callback_arg, rxc = (pcb.flags & TF_RXCLOSED) != 0;
      tcp_pcb_remove(pcb);
      // Shut for sending only, the application still reads: tell it the end came.
      if (!rxc) tcp_report_err(errf, arg, ERR_CLSD);
    }
    finish(pcb);
    return;
  }

  // Seventh: text; eighth: FIN.
  const s2 = pcb.state;
  if (s2 == tcp_state.ESTABLISHED || s2 == tcp_state.FIN_WAIT_1 || s2 == tcp_state.FIN_WAIT_2) {
    if (hold_data && seg_len > 0) {
      // Keep nothing of it (the ACK part was used); the peer sends it again.
      pcb.flags |= TF_ACK_NOW;
      pbuf_free(p);
    } else if ((pcb.flags & TF_RXCLOSED) != 0 && seg_len > 0) {
      // Data for an application that closed: reset (lwIP; RFC 9293 §3.10.7.4 "connection closing").
      pbuf_free(p);
      tcp_abort(pcb);
      finish(pcb);
      return;
    } else {
      receive_text(pcb, p);
    }
  } else {
    // CLOSE_WAIT, CLOSING, LAST_ACK: the peer's FIN came already; text is ignored.
    if (in_tcplen > 0) pcb.flags |= TF_ACK_NOW;
    pbuf_free(p);
  }

  report_sent(pcb);
  if (tcp_input_pcb_dead) { if (recv_data != null) pbuf_free(recv_data); finish(pcb); return; }
  deliver(pcb);
  finish(pcb);
}

/** SYN_RCVD → ESTABLISHED: the accept callback (passive open) or the connected one (simultaneous open). */
function syn_rcvd_established(pcb: tcp_pcb): bool {
  pcb.state = <u8>tcp_state.ESTABLISHED;
  tcp_keepalive_restart(pcb);
  cc_init(tcp_cc(pcb), tcp_cc(pcb).algo, <u32>pcb.mss);
  if ((pcb.flags & TF_PASSIVE) != 0) {
    const lp = pcb.listener;
    if (lp != 0) {
      const l = changetype<tcp_pcb>(lp);
      if (l.syn_pending > 0) l.syn_pending--;
    }
    if (lp == 0 || changetype<tcp_pcb>(lp).accept == 0) {
      // Nobody to accept it (lwIP tcp_accept_null): reset.
      tcp_abort(pcb);
      return false;
    }
    const err = changetype<tcp_accept_fn>(changetype<tcp_pcb>(lp).accept)(changetype<tcp_pcb>(lp).callback_arg, pcb, ERR_OK);
    if (tcp_input_pcb_dead) return false;
    if (err != ERR_OK) {
      if (err != ERR_ABRT) tcp_abort(pcb);
      return false;
    }
  } else if (pcb.connected != 0) {
    const err = changetype<tcp_connected_fn>(pcb.connected)(pcb.callback_arg, pcb, ERR_OK);
    if (tcp_input_pcb_dead || err == ERR_ABRT) return false;
  }
  return true;
}

/** SYN_SENT (RFC 9293 §3.10.7.3). */
function syn_sent_input(pcb: tcp_pcb, p: pbuf): void {
  const ackf = (seg_flags & TCP_ACK) != 0;
  const ack_ok = ackf && seq_gt(seg_ack, pcb.iss) && seq_leq(seg_ack, pcb.snd_max);
  if (ackf && !ack_ok) {
    if ((seg_flags & TCP_RST) == 0) send_rst_for_segment(pcb);
    drop(p, Ctr.PROTERR);
    return;
  }
  if ((seg_flags & TCP_RST) != 0) {
    // Only a RST that acknowledges our SYN counts (RFC 5961 §3.2): connection refused.
    if (ack_ok) {
      const errf = pcb.errf, arg = pcb.callback_arg;
      tcp_pcb_remove(pcb);
      tcp_report_err(errf, arg, ERR_RST);
    } else {
      STATS_INC(Proto.TCP, Ctr.DROP);
    }
    pbuf_free(p);
    return;
  }
  if ((seg_flags & TCP_SYN) == 0) {
    if (ackf) {
      // An ACK without SYN: reset the other side's idea of a connection and
      // try our SYN again (lwIP).
      send_rst_for_segment(pcb);
      if (pcb.nrtx < 6 && pcb.unacked != 0) {
        const n = tcp_route(pcb);
        if (n != null) tcp_rexmit_seg(pcb, changetype<tcp_seg>(pcb.unacked), n);
      }
    }
    drop(p, Ctr.PROTERR);
    return;
  }
  pcb.rcv_nxt = seg_seq + 1;
  pcb.rcv_ann_right_edge = pcb.rcv_nxt;
  pcb.last_ack_sent = pcb.rcv_nxt;
  apply_syn_options(pcb);
  pcb.snd_wnd = seg_wnd;
  pcb.snd_wnd_max = seg_wnd;
  pcb.snd_wl1 = seg_seq;
  pcb.snd_wl2 = seg_ack;
  if (ack_ok) {
    // Our SYN is acknowledged: ESTABLISHED.
    const rtt_ok = pcb.nrtx == 0 && pcb.rttest != 0;
    if (rtt_ok) tcp_rtt_sample(pcb, sys_now() - pcb.rttest);
    pcb.rttest = 0;
    ack_segments(pcb, seg_ack, sys_now(), 0);
    pcb.snd_una = seg_ack;
    pcb.nrtx = 0;
    pcb.t_rtx = pcb.unacked != 0 ? pcb.t_rtx : 0;
    pcb.state = <u8>tcp_state.ESTABLISHED;
    cc_init(tcp_cc(pcb), tcp_cc(pcb).algo, <u32>pcb.mss);
    tcp_keepalive_restart(pcb);
    pcb.flags |= TF_ACK_NOW;
    if (pcb.connected != 0) {
      const err = changetype<tcp_connected_fn>(pcb.connected)(pcb.callback_arg, pcb, ERR_OK);
      if (tcp_input_pcb_dead || err == ERR_ABRT) { pbuf_free(p); return; }
    }
    // Data or FIN with the SYN-ACK: take it like any other segment.
    seg_seq += 1;
    seg_flags &= ~TCP_SYN;
    in_tcplen -= 1;
    if (in_tcplen > 0) {
      receive_text(pcb, p);
      deliver(pcb);
    } else {
      pbuf_free(p);
    }
  } else {
    // Simultaneous open (RFC 9293 §3.5 figure 7): SYN_RCVD, our SYN again with ACK.
    pcb.state = <u8>tcp_state.SYN_RCVD;
    pcb.nrtx = 0;
    if (pcb.unacked != 0) {
      const n = tcp_route(pcb);
      if (n != null) tcp_rexmit_seg(pcb, changetype<tcp_seg>(pcb.unacked), n);
    }
    pbuf_free(p);
  }
}

/**
 * Frees segments of unacked (and, after go-back-N, unsent) that `ack` fully
 * covers, telling RACK of each delivery not already reported by a SACK.
 * Returns data bytes freed.
 */
function ack_segments(pcb: tcp_pcb, ack: u32, now: u32, tsecr: u32): u32 {
  let freed: u32 = 0;
  const rk = tcp_rack(pcb);
  while (pcb.unacked != 0) {
    const seg = changetype<tcp_seg>(pcb.unacked);
    if (seq_gt(seg.seqno + seg_tcplen(seg), ack)) break;
    if ((seg.sflags & SF_SACKED) == 0) rack_on_delivered(rk, seg, now, tsecr);
    pcb.unacked = seg.next;
    freed += seg.len;
    pcb.snd_queuelen -= min(pcb.snd_queuelen, pbuf_clen(changetype<pbuf>(seg.p)));
    tcp_seg_free(changetype<usize>(seg));
  }
  if (pcb.unacked == 0) {
    pcb.unacked_tail = 0;
    // After go-back-N the peer may ack segments we moved back to unsent.
    while (pcb.unsent != 0) {
      const seg = changetype<tcp_seg>(pcb.unsent);
      if (seq_gt(seg.seqno + seg_tcplen(seg), ack) || seg_tcplen(seg) == 0) break;
      if ((seg.sflags & SF_SACKED) == 0) rack_on_delivered(rk, seg, now, tsecr);
      pcb.unsent = seg.next;
      freed += seg.len;
      pcb.snd_queuelen -= min(pcb.snd_queuelen, pbuf_clen(changetype<pbuf>(seg.p)));
      tcp_seg_free(changetype<usize>(seg));
    }
    if (pcb.unsent == 0) pcb.unsent_tail = 0;
  }
  return freed;
}

/** The ACK part of a segment (RFC 9293 §3.10.7.4 fifth check, RFC 5681/6582/6675/6298). */
function tcp_receive_ack(pcb: tcp_pcb): void {
  const o = opts();
  const cc = tcp_cc(pcb);
  const mss = <u32>pcb.mss;
  const now = sys_now();
  const wnd = (seg_flags & TCP_SYN) != 0 ? seg_wnd : seg_wnd << pcb.snd_scale;
  const sack = (pcb.flags & TF_SACK) != 0;
  const sb = tcp_sb(pcb);
  // The timestamp echo in our clock (RACK's retransmission check), 0: none.
  const tsecr = (pcb.flags & TF_TIMESTAMP) != 0 && (o.present & TCPOPT_F_TS) != 0 && o.tsecr != 0 ? o.tsecr - pcb.ts_offset : 0;
  let sacked_new: u32 = 0;
  if (sack && (o.present & TCPOPT_F_SACK) != 0 && o.sack_n != 0) {
    // D-SACK (RFC 2883 §4): a first block at or below the cumulative ACK
    // reports a duplicate — a retransmission that was not needed; RACK
    // widens its reordering window (RFC 8985 §6.2 step 4).
    if (seq_leq(bswap<u32>(load<u32>(o.sack_ptr + 4)), seg_ack)) {
      rack_on_dsack(tcp_rack(pcb));
      TCP_MIB_INC(TcpMib.DSACK);
    }
    sacked_new = sack_update(sb, pcb.snd_una, pcb.snd_max, o.sack_ptr, o.sack_n);
    if (sacked_new != 0) mark_sacked(pcb, now, tsecr);
  }
  let delivered = sacked_new != 0;

  // Window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ or (= and SND.WL2 =< SEG.ACK)).
  let wnd_changed = false;
  if (seq_lt(pcb.snd_wl1, seg_seq) || (pcb.snd_wl1 == seg_seq && seq_leq(pcb.snd_wl2, seg_ack))) {
    wnd_changed = pcb.snd_wnd != wnd;
    pcb.snd_wnd = wnd;
    if (wnd > pcb.snd_wnd_max) pcb.snd_wnd_max = wnd;
    pcb.snd_wl1 = seg_seq;
    pcb.snd_wl2 = seg_ack;
    if (wnd != 0 && pcb.t_persist != 0) { pcb.t_persist = 0; pcb.persist_backoff = 0; }
  }

  // Duplicate ACK (RFC 5681 §2): no data, no window change, nothing new
  // acked, data outstanding. With SACK (RFC 6675 §2) an ACK that SACKs new
  // data counts as one too, even when it changes the window, carries data or
  // moves snd_una: a receiver's window update riding on its SACKs must not
  // hide them (it did: a small window then never got three duplicates).
  const dup5681 = seg_ack == pcb.snd_una && seg_len == 0 && (seg_flags & (TCP_SYN | TCP_FIN)) == 0 && !wnd_changed &&
    pcb.unacked != 0 && pcb.snd_una != pcb.snd_max;
  // With SACK only ACKs that SACK something new count: one that merely
  // repeats the blocks or reports a duplicate (D-SACK, RFC 2883) tells of
  // nothing lost — a spurious retransmission draws such ACKs, and counting
  // them started false recoveries that sent more duplicates.
  const dup = sack && (o.present & TCPOPT_F_SACK) != 0 ? sacked_new != 0 : dup5681 || sacked_new != 0;

  if (seq_gt(seg_ack, pcb.snd_una)) {
    if (pcb.rto_ts != 0) {
      // The first ACK of new data after a timeout: it echoes the original
      // transmission when that arrived after all — the timeout was spurious
      // (Eifel detection, RFC 3522 §3.2; timestamps only).
      if ((pcb.flags & TF_RTO) != 0 && (o.present & TCPOPT_F_TS) != 0 && o.tsecr != 0 && seq_lt(o.tsecr, pcb.rto_ts)) tcp_rto_undo(pcb);
      pcb.rto_ts = 0;
    }
    const acked = seg_ack - pcb.snd_una;
    const flight = pcb.snd_max - pcb.snd_una;
    // RTT: timestamps give a sample per ACK (RFC 7323 §4.1), otherwise the one timed segment (Karn).
    if ((pcb.flags & TF_TIMESTAMP) != 0 && (o.present & TCPOPT_F_TS) != 0 && o.tsecr != 0) {
      const rtt = now - (o.tsecr - pcb.ts_offset);
      if (rtt < 0x7fffffff) tcp_rtt_sample(pcb, rtt);
    } else if (pcb.rttest != 0 && seq_gt(seg_ack, pcb.rtseq)) {
      tcp_rtt_sample(pcb, now - pcb.rttest);
      pcb.rttest = 0;
    }
    const freed = ack_segments(pcb, seg_ack, now, tsecr);
    delivered = true;
    pcb.snd_una = seg_ack;
    ip_reachability_hint(ip_pcb_remote(pcb)); // RFC 4861 §7.3.1: forward progress confirms the neighbour
    if (seq_lt(pcb.snd_nxt, seg_ack)) pcb.snd_nxt = seg_ack;
    pcb.snd_buf += freed;
    if (pcb.snd_buf > <u32>65535 * 1024) pcb.snd_buf = <u32>65535 * 1024;
    recv_acked += freed;
    pcb.nrtx = 0;
    pcb.flags &= ~TF_TLP_SENT;
    let reneged = false;
    if (sack) {
      sack_advance(sb, seg_ack);
      if (sack_reneged(sb, seg_ack)) {
        // RFC 2018 §8: the receiver dropped data it had SACKed. Forget the
        // board; what the go-back-N or recovery skipped is resent by the
        // retransmission timer, armed short below (as Linux does).
        sack_reset(sb);
        for (let s = pcb.unacked; s != 0; s = changetype<tcp_seg>(s).next) changetype<tcp_seg>(s).sflags &= ~SF_SACKED;
        for (let s = pcb.unsent; s != 0; s = changetype<tcp_seg>(s).next) changetype<tcp_seg>(s).sflags &= ~SF_SACKED;
        TCP_MIB_INC(TcpMib.SACK_RENEGE);
        reneged = true;
      }
    }

    if ((pcb.flags & TF_INFR) != 0) {
      if (seq_geq(seg_ack, pcb.recover)) {
        // Full ACK: recovery ends (RFC 6582 §3.2 step 3, RFC 6675 §5).
        pcb.flags &= ~TF_INFR;
        cc_on_recovery_end(cc, mss, pcb.snd_max - pcb.snd_una);
        pcb.dupacks = 0;
      } else if (!sack) {
        // Partial ACK (RFC 6582 §3.2 step 4): resend the next hole, deflate.
        tcp_rexmit_fast(pcb);
        cc.cwnd = cc.cwnd > acked ? cc.cwnd - acked : mss;
        if (acked >= mss) cc.cwnd += mss;
        if (pcb.unacked != 0) tcp_set_deadline_rtx(pcb);
      } else if (seq_geq(pcb.snd_una, sack_high_rxt(sb))) {
        // Partial ACK in SACK recovery: a retransmission arrived and the
        // cumulative ACK stopped at a hole sent before it, not retransmitted
        // yet — lost (RFC 6675 §5 says nothing here; NewReno, FreeBSD's
        // partial-ACK handling and RACK all resend it). Waiting for NextSeg
        // stalls when the hole is not yet IsLost and pipe fills cwnd: no ACK
        // comes and only the RTO would send it.
        tcp_rexmit_fast(pcb);
      }
    } else {
      if ((pcb.flags & TF_RTO) != 0 && seq_geq(seg_ack, pcb.recover)) pcb.flags &= ~TF_RTO;
      cc_on_ack(cc, mss, acked, flight, now, tcp_srtt(pcb));
      pcb.dupacks = 0;
    }
    // Restart or stop the retransmission timer (RFC 6298 §5.2–5.3).
    if (pcb.snd_una != pcb.snd_max && (pcb.unacked != 0)) tcp_set_deadline_rtx(pcb);
    else pcb.t_rtx = 0;
    if (reneged && pcb.unacked != 0) {
      // Linux tcp_check_sack_reneging: the timeout soon, max(SRTT/2, 10 ms).
      let ms = tcp_srtt(pcb) >> 1;
      if (ms < 10) ms = 10;
      pcb.flags &= ~(TF_TLP | TF_RACK);
      pcb.t_rtx = sys_now() + ms;
      if (pcb.t_rtx == 0) pcb.t_rtx = 1;
      tcp_timer_need(pcb.t_rtx);
    }
    pcb.persist_backoff = 0;
  }
  if (dup && pcb.unacked != 0 && pcb.snd_una != pcb.snd_max) {
    if ((pcb.flags & TF_INFR) == 0) {
      if (pcb.dupacks < 255) pcb.dupacks++;
      TCP_MIB_INC(TcpMib.DUPACK);
      // RFC 5681 §3.2 / RFC 6675 §5 steps (1)-(2): DupThresh duplicates, or
      // IsLost(HighACK + 1) from the scoreboard.
      const lost = pcb.dupacks >= 3 || (sack && sack_is_lost(sb, pcb.snd_una, mss));
      if (lost && may_enter_recovery(pcb)) enter_recovery(pcb, now);
      // Otherwise limited transmit (RFC 3042, RFC 6675 §5 step (3)) lets new data out in tcp_output.
    } else if (!sack && dup5681) {
      // RFC 6582 §3.2 step 3: every further dupack inflates by one MSS.
      cc.cwnd += mss;
    }
  }
  // RACK (RFC 8985 §6.2): something was delivered — is anything sent
  // before it lost? (With SACK only: without it nothing but the cumulative
  // ACK is known, and NewReno's rules apply.)
  if (sack && delivered) tcp_rack_check(pcb, now);
}

/** RFC 6582 §3.2 step 1 / RFC 6675 §5.1: not again for losses of the window already recovered. */
function may_enter_recovery(pcb: tcp_pcb): bool {
  return seq_gt(pcb.snd_una, pcb.recover) || pcb.recover == pcb.iss ||
    (pcb.flags & TF_RTO) == 0 && seq_geq(pcb.snd_una, pcb.recover);
}

/** Fast retransmit and entry into fast recovery (RFC 5681 §3.2, RFC 6582 §3.2, RFC 6675 §5 step (4)). */
function enter_recovery(pcb: tcp_pcb, now: u32): void {
  const cc = tcp_cc(pcb);
  const mss = <u32>pcb.mss;
  pcb.recover = pcb.snd_max;
  pcb.flags |= TF_INFR;
  TCP_MIB_INC(TcpMib.FAST_RECOVERY);
  cc_on_loss(cc, mss, pcb.snd_max - pcb.snd_una, now);
  if ((pcb.flags & TF_SACK) != 0) sack_enter_recovery(tcp_sb(pcb), pcb.snd_una, pcb.snd_max);
  else cc.cwnd = cc.ssthresh + 3 * mss; // RFC 6582 §3.2 step 2 inflation
  pcb.rttest = 0;
  tcp_rexmit_fast(pcb);
  tcp_set_deadline_rtx(pcb);
}

/** Flags the unacked segments the board now covers as SACKed and reports each delivery to RACK. */
function mark_sacked(pcb: tcp_pcb, now: u32, tsecr: u32): void {
  const sb = tcp_sb(pcb);
  const rk = tcp_rack(pcb);
  for (let s = pcb.unacked; s != 0; s = changetype<tcp_seg>(s).next) {
    const seg = changetype<tcp_seg>(s);
    if ((seg.sflags & (SF_SENT | SF_SACKED)) != SF_SENT || seg.len == 0) continue;
    if (!sack_is_sacked(sb, seg.seqno, seg.len)) continue;
    seg.sflags |= SF_SACKED;
    rack_on_delivered(rk, seg, now, tsecr);
  }
}

/**
 * RACK loss detection (RFC 8985 §6.2 steps 4–5) and what follows from it:
 * in the open state a loss starts fast recovery (RFC 8985 §4: RACK as the
 * trigger besides DupThresh); in SACK recovery the lost octets are marked
 * on the board for SetPipe/NextSeg and lost retransmissions go again at
 * once; after a timeout lost segments of the go-back-N go again at once
 * (RFC 6675 §5.1 forbids a new recovery before RecoveryPoint, and without
 * this each such loss cost another RTO). Segments that may still arrive
 * arm the reordering timer (§6.3).
 */
export function tcp_rack_check(pcb: tcp_pcb, now: u32): void {
  if (pcb.unacked == 0 || (pcb.flags & TF_SACK) == 0) return;
  const rk = tcp_rack(pcb);
  const sb = tcp_sb(pcb);
  const mss = <u32>pcb.mss;
  const inrec = (pcb.flags & (TF_INFR | TF_RTO)) != 0;
  const reo = rack_reo_wnd(rk, inrec, sack_is_lost(sb, pcb.snd_una, mss), tcp_srtt(pcb));
  const wait = rack_detect_loss(rk, pcb.unacked, now, reo);
  for (let i: u32 = 0; i < rack_marked; i++) TCP_MIB_INC(TcpMib.RACK_LOST);
  if (rack_any_lost) {
    const lost_end = rack_lost_hi;
    if (!inrec && may_enter_recovery(pcb)) enter_recovery(pcb, now);
    if ((pcb.flags & TF_INFR) != 0) {
      sack_set_rack_lost(sb, lost_end);
      tcp_rack_resend(pcb, seq_max(sack_high_rxt(sb), pcb.snd_una), false);
    } else {
      tcp_rack_resend(pcb, 0, true);
    }
  }
  if (wait != 0) tcp_set_deadline_rack(pcb, wait);
}

/** RACK's reordering timer fired (tcp_timer_rto): detect again and send. */
export function tcp_rack_timeout(pcb: tcp_pcb): void {
  tcp_rack_check(pcb, sys_now());
  tcp_output(pcb);
}

/** In-window text of ESTABLISHED / FIN_WAIT_1 / FIN_WAIT_2 (and the FIN). */
function receive_text(pcb: tcp_pcb, p: pbuf): void {
  let seq = seg_seq;
  let len = seg_len;
  let fin = (seg_flags & TCP_FIN) != 0;
  let q: pbuf | null = p;
  // Trim what came before rcv_nxt (RFC 9293 §3.10.7.4; lwIP recv_inseq_trim).
  if (seq_lt(seq, pcb.rcv_nxt)) {
    const off = pcb.rcv_nxt - seq;
    if (off >= len) {
      // Only old data (and maybe the FIN right at rcv_nxt).
      if (q != null) { pbuf_free(q); q = null; }
      fin = fin && seq + len == pcb.rcv_nxt;
      len = 0;
      if (!fin) { pcb.flags |= TF_ACK_NOW; return; }
    } else {
      q = pbuf_free_header(q, off);
      len -= off;
    }
    seq = pcb.rcv_nxt;
  }
  // Trim what lies beyond the window (and the FIN with it).
  const right = pcb.rcv_nxt + pcb.rcv_wnd;
  if (seq_gt(seq + len, right)) {
    const keep = seq_gt(right, seq) ? right - seq : 0;
    if (keep == 0) { if (q != null) pbuf_free(q); q = null; }
    else pbuf_realloc(q, keep);
    len = keep;
    fin = false;
  }
  if (len == 0 && q != null) { pbuf_free(q); q = null; }
  // Whatever is kept from here on (the application's unread data, the
  // out-of-order queue) must not pin the receive pool (core/pbuf.ts,
  // "receive-pool pressure"). Under pressure it is copied out; when not even
  // that is possible the data is dropped, not accepted: its ACK was used
  // already and the peer sends it again.
  if (q != null) {
    q = pbuf_keep(q);
    if (q == null) {
      STATS_INC(Proto.TCP, Ctr.MEMERR);
      pcb.flags |= TF_ACK_NOW;
      return;
    }
  }

  if (seq == pcb.rcv_nxt) {
    const had_ooseq = pcb.ooseq != 0;
    if (len > 0) {
      pcb.rcv_nxt += len;
      pcb.rcv_wnd -= len < pcb.rcv_wnd ? len : pcb.rcv_wnd;
      recv_data = q;
    }
    // Pull whatever the out-of-order queue now continues.
    while (pcb.ooseq != 0 && !fin) {
      const s = changetype<tcp_seg>(pcb.ooseq);
      if (seq_gt(s.seqno, pcb.rcv_nxt)) break;
      pcb.ooseq = s.next;
      const sfin = (s.flags & TCP_FIN) != 0;
      const end = s.seqno + s.len;
      let sp: pbuf | null = changetype<pbuf>(s.p);
      s.p = 0;
      tcp_seg_free(changetype<usize>(s));
      if (seq_leq(end, pcb.rcv_nxt) && !(sfin && end == pcb.rcv_nxt)) { if (sp != null) pbuf_free(sp); continue; }
      let slen = s.len;
      const off = pcb.rcv_nxt - s.seqno;
      if (off > 0 && sp != null) { sp = pbuf_free_header(sp, off); slen -= off; }
      if (slen > 0 && sp != null) {
        pcb.rcv_nxt += slen;
        pcb.rcv_wnd -= slen < pcb.rcv_wnd ? slen : pcb.rcv_wnd;
        if (recv_data == null) recv_data = sp; else pbuf_cat(recv_data, sp);
      } else if (sp != null) {
        pbuf_free(sp);
      }
      if (sfin) fin = true;
    }
    if (fin) {
      // Data after the FIN can never be delivered.
      tcp_segs_free(pcb.ooseq);
      pcb.ooseq = 0;
      pcb.rcv_nxt += 1;
      recv_fin = true;
      pcb.flags |= TF_ACK_NOW | TF_GOT_FIN;
      const st = pcb.state;
      if (st == tcp_state.ESTABLISHED) pcb.state = <u8>tcp_state.CLOSE_WAIT;
      else if (st == tcp_state.FIN_WAIT_1) {
        // Our FIN acked too (checked before text): TIME_WAIT; else both closing.
        pcb.state = <u8>tcp_state.CLOSING;
      } else if (st == tcp_state.FIN_WAIT_2) {
        goto_tw = true; // TIME_WAIT once the application has seen the FIN
      }
    } else if (had_ooseq || (seg_flags & TCP_URG) != 0) {
      // Filling a gap: ACK at once (RFC 5681 §4.2).
      pcb.flags |= TF_ACK_NOW;
    } else if (len > 0) {
      // Delayed ACK: every second segment at once, else within TCP_ACK_DELAY_MS.
      if ((pcb.flags & TF_ACK_DELAY) != 0) pcb.flags |= TF_ACK_NOW;
      else { pcb.flags |= TF_ACK_DELAY; tcp_set_deadline_dack(pcb); }
    }
  } else {
    // Out of order: keep it if there is room, and say so at once (RFC 5681 §4.2, with SACK).
    if (q != null || fin) ooseq_insert(pcb, q, seq, len, fin);
    pcb.flags |= TF_ACK_NOW;
  }
}

/** Queues an out-of-order segment, trimming overlaps, bounded by the window and TCP_OOSEQ_MAX_*. */
function ooseq_insert(pcb: tcp_pcb, p: pbuf | null, seq: u32, len: u32, fin: bool): void {
  let prev: usize = 0;
  let cur = pcb.ooseq;
  while (cur != 0) {
    const c = changetype<tcp_seg>(cur);
    const cs = c.seqno, ce = c.seqno + c.len;
    const cfin = (c.flags & TCP_FIN) != 0;
    // Beyond a queued FIN: data after the FIN is ignored.
    if (cfin && seq_geq(seq, ce)) { if (p != null) pbuf_free(p); return; }
    // Entirely covered by what we have: a duplicate.
    if (seq_geq(seq, cs) && seq_leq(seq + len, ce) && (!fin || (cfin && seq + len == ce))) { if (p != null) pbuf_free(p); return; }
    if (seq_lt(seq, cs)) {
      if (seq_geq(seq + len, ce) && !(cfin && !fin)) {
        // The new segment covers this one: drop the old.
        const nx = c.next;
        if (prev == 0) pcb.ooseq = nx; else changetype<tcp_seg>(prev).next = nx;
        tcp_seg_free(cur);
        cur = nx;
        continue;
      }
      if (seq_gt(seq + len, cs)) {
        // Overlaps its front: keep only the part before it.
        len = cs - seq;
        pbuf_realloc(p, len);
        fin = false;
      }
      break;
    }
    if (seq_lt(seq, ce)) {
      // Overlaps its end: drop our front part. What is left starts where this
      // segment ends; if that is past a FIN, it is data after the FIN: ignored.
      if (cfin) { if (p != null) pbuf_free(p); return; }
      const off = ce - seq;
      p = pbuf_free_header(p, off);
      seq = ce;
      len -= off;
      if (len == 0 && !fin) { if (p != null) pbuf_free(p); return; }
    }
    prev = cur;
    cur = c.next;
  }
  const s = tcp_seg_new();
  if (s == null) { if (p != null) pbuf_free(p); STATS_INC(Proto.TCP, Ctr.MEMERR); return; }
  s.p = changetype<usize>(p);
  s.seqno = seq;
  s.len = len;
  s.flags = fin ? TCP_FIN : 0;
  s.next = cur;
  if (prev == 0) pcb.ooseq = changetype<usize>(s); else changetype<tcp_seg>(prev).next = changetype<usize>(s);
  if (fin) { tcp_segs_free(s.next); s.next = 0; }
  pcb.ooseq_last = seq;
  // Bounds: bytes and pbufs held; the highest segments go first (lwIP).
  for (;;) {
    let bytes: u32 = 0, pbufs: u32 = 0, n: u32 = 0;
    let last: usize = 0, before_last: usize = 0;
    for (let q = pcb.ooseq; q != 0; q = changetype<tcp_seg>(q).next) {
      const g = changetype<tcp_seg>(q);
      bytes += g.len;
      if (g.p != 0) pbufs += pbuf_clen(changetype<pbuf>(g.p));
      before_last = last;
      last = q;
      n++;
    }
    if (bytes <= TCP_OOSEQ_MAX_BYTES && pbufs <= TCP_OOSEQ_MAX_PBUFS) break;
    if (last == 0) break;
    if (before_last == 0) pcb.ooseq = 0; else changetype<tcp_seg>(before_last).next = 0;
    tcp_seg_free(last);
    STATS_INC(Proto.TCP, Ctr.MEMERR);
  }
}

/** The sent callback for data the peer acknowledged. */
function report_sent(pcb: tcp_pcb): void {
  if (recv_acked == 0 || tcp_input_pcb_dead) return;
  const n = recv_acked;
  recv_acked = 0;
  if (pcb.sent != 0) changetype<tcp_sent_fn>(pcb.sent)(pcb.callback_arg, pcb, n);
}

/** Hands received data and the FIN to the application. */
function deliver(pcb: tcp_pcb): void {
  if (recv_data != null) {
    const d = recv_data!;
    recv_data = null;
    if (recv_fin) d.flags |= 0; // FIN handled below
    if ((pcb.flags & TF_RXCLOSED) != 0) {
      // Shut for reading (tcp_shutdown rx): the data goes nowhere, the window reopens.
      tcp_recved(pcb, d.tot_len);
      pbuf_free(d);
    } else {
      let err: err_t;
      if (pcb.recv != 0) err = changetype<tcp_recv_fn>(pcb.recv)(pcb.callback_arg, pcb, d, ERR_OK);
      else err = recv_null(pcb, d);
      if (tcp_input_pcb_dead || err == ERR_ABRT) return;
      if (err != ERR_OK) {
        // Refused: keep it; the FIN waits with it (lwIP refused_data).
        pcb.refused_data = changetype<usize>(d);
        if (recv_fin) d.flags |= PBUF_FLAG_TCP_FIN;
        recv_fin = false;
        tcp_set_deadline_misc(pcb);
      }
    }
  }
  if (recv_fin) {
    recv_fin = false;
    if (pcb.refused_data != 0) {
      changetype<pbuf>(pcb.refused_data).flags |= PBUF_FLAG_TCP_FIN;
    } else {
      deliver_fin(pcb);
      if (tcp_input_pcb_dead) return;
    }
  }
}

/** End of processing for `pcb`: release a dead pcb, enter TIME_WAIT, send what is due. */
function finish(pcb: tcp_pcb): void {
  const me = changetype<usize>(pcb);
  if (tcp_input_pcb_dead) {
    memp_free(MEMP.TCP_PCB, me);
    tcp_set_input_pcb(0);
    goto_tw = false;
    if (recv_data != null) { pbuf_free(recv_data); recv_data = null; }
    return;
  }
  tcp_set_input_pcb(0);
  if (goto_tw) {
    // FIN_WAIT_2 took the peer's FIN: ACK it, then wait 2MSL.
    goto_tw = false;
    if (pcb.state == tcp_state.FIN_WAIT_2) {
      tcp_send_empty_ack(pcb);
      tcp_enter_time_wait(pcb);
      return;
    }
  }
  tcp_output(pcb);
}

// ---- ICMP errors -----------------------------------------------------------------------------------

/**
 * ICMP or ICMPv6 reported an error `type`/`code` about a segment we sent
 * from `src` to `dst` (the quoted addresses; their family says which ICMP);
 * `th` points at the quoted TCP header, `len` bytes of it (at least 8).
 * Only a quote whose sequence number is in flight counts (RFC 5927 §4.1).
 * A port or protocol unreachable while connecting fails the connect with
 * ERR_RST, like a RST would (ECONNREFUSED; RFC 1122 §4.2.3.9 lets hard
 * errors abort a connection attempt); fragmentation needed (RFC 1191) or
 * packet too big (RFC 8201) lowers the MSS to the path MTU, `next_mtu`, and
 * resends.
 */
export function tcp_icmp_error(src: ip_addr, dst: ip_addr, th: usize, len: u32, type: u8, code: u8, next_mtu: u32): void {
  if (len < 8) return;
  const v6 = IP_IS_V6(src);
  const sport = tcp_hdr_src(th), dport = tcp_hdr_dest(th);
  const seq = tcp_hdr_seqno(th);
  for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
    const pcb = changetype<tcp_pcb>(q);
    if (pcb.local_port != sport || pcb.remote_port != dport || !ip_addr_eq(ip_pcb_local(pcb), src) ||
        !ip_addr_eq(ip_pcb_remote(pcb), dst)) continue;
    if (!seq_between(seq, pcb.snd_una, pcb.snd_max)) { STATS_INC(Proto.TCP, Ctr.DROP); return; }
    if (ip_icmp_is_refusal(v6, type, code) && pcb.state == tcp_state.SYN_SENT) {
      const errf = pcb.errf, arg = pcb.callback_arg;
      tcp_pcb_remove(pcb);
      tcp_report_err(errf, arg, ERR_RST);
      return;
    }
    if (ip_icmp_is_pmtu(v6, type, code)) {
      // The path's MTU; never below what the family guarantees (IPv4's 68:
      // take the classic 576; IPv6: 1280, RFC 8201 §4), and never raised.
      let mtu = next_mtu;
      if (mtu < ip_min_mtu(v6)) mtu = v6 ? 1280 : 576;
      let mss = mtu - ip_hdr_len(src) - TCP_HLEN;
      if ((pcb.flags & TF_TIMESTAMP) != 0) mss -= TCPOLEN_TS;
      if (mss < TCP_MIN_MSS) mss = TCP_MIN_MSS;
      if (mss < <u32>pcb.mss) {
        pcb.mss = <u16>mss;
        // The segment was dropped: send it again now (IP fragments it; later writes use the new MSS).
        if (pcb.unacked != 0) {
          const n = tcp_route(pcb);
          if (n != null) tcp_rexmit_seg(pcb, changetype<tcp_seg>(pcb.unacked), n);
        }
      }
    }
    return;
  }
}
