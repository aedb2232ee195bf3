// tcp: TCP pcbs, the raw API and the timers (RFC 9293; lwIP tcp.c).
//
// A connection is a `tcp_pcb` from MEMP.TCP_PCB; a listener is the first
// TCP_PCB_LISTEN_SIZE bytes of the same layout from MEMP.TCP_PCB_LISTEN
// (lwIP's tcp_pcb_listen: only the common prefix exists, never touch a
// listener's later fields). Pcbs live on one of four lists: bound (CLOSED
// with a port), listen, active (SYN_SENT … LAST_ACK) and TIME_WAIT.
//
// Files: tcp.ts (this: pcbs, lists, raw API, timers), tcp_in.ts (segment
// arrival, RFC 9293 §3.10.7), tcp_out.ts (queueing, output, retransmission),
// tcp_hdr.ts (header and options), tcp_seq.ts (sequence arithmetic);
// congestion control (tcp_cc.ts), the SACK scoreboard (tcp_sack.ts), RACK
// loss detection (tcp_rack.ts) and ISNs (tcp_isn.ts) sit behind small
// interfaces.
//
// Timers: no fixed tick. Each pcb keeps absolute deadlines (RTO, persist,
// delayed ACK, 2MSL/FIN_WAIT_2, keepalive, poll, retry of refused data or a
// pending close); one sys_timeout runs at the earliest deadline of all
// pcbs, handles what is due and re-arms at the next. An idle stack has no
// timer. Times are u32 ms (sys_now), compared by signed difference.
//
// Callbacks (lwIP semantics): recv(p = null) means the peer closed; a recv
// that returns anything but ERR_OK/ERR_ABRT refuses the data, which is kept
// (refused_data) and offered again on the next segment or within
// TCP_REFUSED_RETRY_MS, the window staying closed meanwhile. A callback that
// aborted its pcb returns ERR_ABRT. err(arg, e) runs after the pcb is gone.
// Callbacks stay installed after tcp_close (err may still report ERR_RST or
// ERR_ABRT while the FIN handshake finishes), as in lwIP; an application
// that freed its state clears them or its arg first.
//
// IP is reached through ip.ts only, with the 4-tuple's addresses as
// ip_addrs: one TCP serves both families, a pcb's family being its local
// address's type (an IPADDR_TYPE_ANY listener takes both).
//
//   struct tcp_pcb (TCP_PCB_SIZE bytes, MEMP.TCP_PCB; tcp_init sizes the pools):
//   common prefix (listeners have only this, TCP_PCB_LISTEN_SIZE bytes):
//   +0 ip_pcb (44): local_ip, remote_ip, netif_idx, so_options, tos, ttl
//   +44 next  +48 state prio backlog accepts_pending
//   +52 flags u32  +56 local_port remote_port  +60 callback_arg  +64 accept
//   +68 host u32   +72 syn_pending syn_max u16
//   then the connection: callbacks, sequence variables, RTT, deadlines,
//   queues, timestamps, keepalive, the embedded cc_state, sack_board and
//   rack_state.

import { pbuf, pbuf_free } from "../core/pbuf";
import {
  err_t, ERR_OK, ERR_VAL, ERR_MEM, ERR_USE, ERR_RTE, ERR_CONN, ERR_ABRT, ERR_ISCONN, ERR_ALREADY, ERR_CLSD,
  ERR_RST,
} from "../core/err";
import { MEMP, memp_malloc, memp_free, memp_set_size, memp_size } from "../core/memp";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { sys_now, sys_timeout, sys_untimeout, TIME_LESS_THAN } from "../core/timeouts";
import { asip_random, random_secret } from "../core/random";
import { ip_addr, ip_addr_copy, ip_addr_isany, ip_addr_eq, ip_addr_set_any, IP_ADDR_SIZE, IPADDR_TYPE_ANY } from "../ip_addr";
import { netif } from "../netif/netif";
import {
  ip_pcb, ip_pcb_local, ip_pcb_remote, ip_pcb_init, ip_pcb_type_ok, ip_pcb_family_ok, ip_pcb_families_overlap,
  ip_pcb_route, ip_pcb_local_follows, ip_netif_get_local_ip, ip_hdr_len, SOF_REUSEADDR, SOF_KEEPALIVE,
} from "../ip";
import { TCP_MSS, TCP_WND, TCP_SND_BUF, TCP_RCV_SCALE } from "../config";
import { cc_state, cc_init, cc_set_algo, CcAlgo } from "./tcp_cc";
import { sack_board, sack_reset } from "./tcp_sack";
import { rack_state, rack_reset } from "./tcp_rack";
import { tcp_isn, tcp_isn_set_secret } from "./tcp_isn";
import { seq_gt } from "./tcp_seq";
import { TCP_SYN, TCP_HLEN } from "./tcp_hdr";
import {
  tcp_output, tcp_enqueue_flags, tcp_send_fin, tcp_rst, tcp_timer_rto, tcp_timer_persist, tcp_keepalive,
  tcp_segs_free, TCP_SEG_SIZE,
} from "./tcp_out";
import { tcp_process_refused_data } from "./tcp_in";

// ---- states, callbacks, flags ------------------------------------------------------------

export const enum tcp_state {
  CLOSED = 0, LISTEN = 1, SYN_SENT = 2, SYN_RCVD = 3, ESTABLISHED = 4, FIN_WAIT_1 = 5,
  FIN_WAIT_2 = 6, CLOSE_WAIT = 7, CLOSING = 8, LAST_ACK = 9, TIME_WAIT = 10,
}

export type tcp_accept_fn = (arg: usize, newpcb: tcp_pcb | null, err: err_t) => err_t;
export type tcp_connected_fn = (arg: usize, pcb: tcp_pcb, err: err_t) => err_t;
export type tcp_recv_fn = (arg: usize, pcb: tcp_pcb, p: pbuf | null, err: err_t) => err_t;
export type tcp_sent_fn = (arg: usize, pcb: tcp_pcb, len: u32) => err_t;
export type tcp_poll_fn = (arg: usize, pcb: tcp_pcb) => err_t;
export type tcp_err_fn = (arg: usize, err: err_t) => void;

export const TCP_WRITE_FLAG_COPY: u8 = 0x01;
export const TCP_WRITE_FLAG_MORE: u8 = 0x02;

// pcb.flags
export const TF_ACK_DELAY: u32 = 0x01;   // an ACK is owed, within TCP_ACK_DELAY_MS
export const TF_ACK_NOW: u32 = 0x02;     // send an ACK at the next output
export const TF_INFR: u32 = 0x04;        // in fast recovery (RFC 6582 / RFC 6675)
export const TF_CLOSEPEND: u32 = 0x08;   // close wanted, FIN could not be queued yet
export const TF_RXCLOSED: u32 = 0x10;    // the application will read no more
export const TF_FIN: u32 = 0x20;         // our FIN is queued (no more writes)
export const TF_NODELAY: u32 = 0x40;     // Nagle off
export const TF_NAGLEMEMERR: u32 = 0x80; // a write failed for memory: send what we have
export const TF_WND_SCALE: u32 = 0x100;  // window scaling negotiated (RFC 7323 §2)
export const TF_BACKLOGPEND: u32 = 0x200;// counted in the listener's accepts_pending
export const TF_TIMESTAMP: u32 = 0x400;  // timestamps negotiated (RFC 7323 §3)
export const TF_SACK: u32 = 0x800;       // SACK permitted both ways (RFC 2018)
export const TF_PASSIVE: u32 = 0x1000;   // SYN_RCVD came from a listener
export const TF_GOT_FIN: u32 = 0x2000;   // the peer's FIN arrived
export const TF_RTO: u32 = 0x4000;       // go-back-N after a timeout until snd_max is acked
export const TF_CLOSED_APP: u32 = 0x8000;// tcp_close was called
export const TF_TLP: u32 = 0x10000;      // t_rtx is a probe timeout (RFC 8985 §7), not the RTO
export const TF_TLP_SENT: u32 = 0x20000; // a loss probe is out: no other until snd_una moves
export const TF_RACK: u32 = 0x40000;     // t_rtx is RACK's reordering timer (RFC 8985 §6.3), not the RTO
/** asip: the pcb belongs to the host (abi/tcp.ts); the core never interprets `host`. */
export const TF_HOST: u32 = 0x80000000;

// ---- tunables (lwIP opt.h names; the lead may move them to config.ts) -----------------------

/** Maximum segment lifetime; TIME_WAIT lasts 2*MSL (RFC 9293 §3.4.2; lwIP 2*TCP_MSL). */
export const TCP_MSL: u32 = 30000;
/** Retransmissions before ERR_ABRT (lwIP TCP_MAXRTX / TCP_SYNMAXRTX). */
export const TCP_MAXRTX: u8 = 12;
export const TCP_SYNMAXRTX: u8 = 6;
/** RFC 6298 §2.1 initial RTO 1 s; minimum 200 ms as Linux (RFC 6298 §2.4 says 1 s, a
 *  SHOULD: a LAN stack recovers far faster with 200 ms and spurious timeouts are
 *  cheap with timestamps); maximum 60 s (§2.5). */
export const TCP_RTO_INIT: u32 = 1000;
export const TCP_RTO_MIN: u32 = 200;
export const TCP_RTO_MAX: u32 = 60000;
/** Delayed ACK: at most this long, and every second segment at once (RFC 1122 §4.2.3.2, RFC 9293 §3.8.6.3). */
export const TCP_ACK_DELAY_MS: u32 = 100;
/** FIN_WAIT_2 with the application gone: give up after this (lwIP TCP_FIN_WAIT_TIMEOUT). */
export const TCP_FIN_WAIT_TIMEOUT: u32 = 20000;
/** Keepalive defaults (RFC 1122 §4.2.3.6: idle ≥ 2 h). */
export const TCP_KEEPIDLE_DEFAULT: u32 = 7200000;
export const TCP_KEEPINTVL_DEFAULT: u32 = 75000;
export const TCP_KEEPCNT_DEFAULT: u32 = 9;
/** Poll interval unit (lwIP's slow timer: 500 ms). */
export const TCP_SLOW_INTERVAL: u32 = 500;
/** Refused data / pending close retry. */
export const TCP_REFUSED_RETRY_MS: u32 = 100;
/** Segments queued for sending per pcb (lwIP TCP_SND_QUEUELEN). */
export const TCP_SND_QUEUELEN: u32 = (4 * <u32>TCP_SND_BUF + <u32>TCP_MSS - 1) / <u32>TCP_MSS;
/** Out-of-order queue bounds (lwIP TCP_OOSEQ_MAX_BYTES / _PBUFS); never beyond the window. */
export const TCP_OOSEQ_MAX_BYTES: u32 = <u32>TCP_WND;
export const TCP_OOSEQ_MAX_PBUFS: u32 = 64;
/**
 * Half-open (SYN_RCVD) connections per listener at least; the oldest goes
 * when full. A listener's queue is as deep as its accept backlog when that
 * is larger (Linux sizes its SYN queue from the backlog too): a burst of
 * legitimate connections as large as the backlog must not lose ones whose
 * SYN-ACK already went out (the client would see a RST on its first data).
 */
export const TCP_SYN_QUEUE_DEFAULT: u16 = 16;
/** RFC 5961 §7: challenge ACKs per second, all connections together. */
export const TCP_CHALLENGE_ACK_LIMIT: u32 = 100;
/** RFC 9293 §3.7.1: the MSS assumed when the peer sends none. */
export const TCP_DEFAULT_MSS: u32 = 536;
/** Smallest MSS we accept from a peer (or ICMP): smaller values are raised to it (counted). */
export const TCP_MIN_MSS: u32 = 64;
/** Receive window, bytes (announced scaled by TCP_RCV_SCALE). */
export const TCP_WND_MAX: u32 = <u32>TCP_WND;
export const TCP_PRIO_MIN: u8 = 1;
export const TCP_PRIO_NORMAL: u8 = 64;
export const TCP_PRIO_MAX: u8 = 127;
/** Ephemeral ports (RFC 6335 §6). */
export const TCP_LOCAL_PORT_RANGE_START: u32 = 0xc000;
export const TCP_LOCAL_PORT_RANGE_END: u32 = 0xffff;

/** TIME_WAIT duration in ms, 2*MSL unless a host changes it (tcp_set_time_wait). */
export let tcp_time_wait_ms: u32 = 2 * TCP_MSL;
export function tcp_set_time_wait(ms: u32): void { tcp_time_wait_ms = ms; }

// ---- the pcb ----------------------------------------------------------------------------------

@unmanaged
export class tcp_pcb extends ip_pcb {
  // -- common prefix (listeners end after syn_max) --
  next: usize;
  state: u8; prio: u8; backlog: u8; accepts_pending: u8;
  flags: u32;
  local_port: u16; remote_port: u16;
  callback_arg: usize;
  accept: usize;
  host: u32;
  syn_pending: u16; syn_max: u16;
  // -- connection --
  listener: usize;
  connected: usize; recv: usize; sent: usize; poll: usize; errf: usize;
  pollinterval: u8; nrtx: u8; dupacks: u8; persist_backoff: u8;
  snd_scale: u8; rcv_scale: u8; keep_cnt_sent: u8; dack_cnt: u8;
  mss: u16; rcv_mss: u16;
  // receiver
  rcv_nxt: u32; rcv_wnd: u32; rcv_ann_wnd: u32; rcv_ann_right_edge: u32;
  // sender
  iss: u32; snd_una: u32; snd_nxt: u32; snd_max: u32; snd_wnd: u32; snd_wnd_max: u32;
  snd_wl1: u32; snd_wl2: u32; snd_lbb: u32; snd_buf: u32; snd_queuelen: u32; recover: u32;
  // RTT (RFC 6298: sa = 8*SRTT, sv = 4*RTTVAR, ms)
  rto: u32; sa: i32; sv: i32; rtseq: u32; rttest: u32;
  // activity and deadlines (0 = off)
  tmr: u32; t_rtx: u32; t_persist: u32; t_dack: u32; t_2msl: u32; t_keep: u32; t_poll: u32; t_misc: u32;
  // timestamps (RFC 7323)
  ts_recent: u32; ts_recent_age: u32; last_ack_sent: u32; ts_offset: u32;
  // keepalive
  keep_idle: u32; keep_intvl: u32; keep_cnt: u32;
  // queues
  unsent: usize; unsent_tail: usize; unacked: usize; unacked_tail: usize; ooseq: usize;
  refused_data: usize;
  ooseq_last: u32;
  // Spurious timeout detection (RFC 3522/4015 Eifel with timestamps): the
  // TSval of the first retransmission of a timeout (0 = none pending) and
  // the congestion state before it, restored when the timeout was spurious.
  rto_ts: u32;
  undo_cwnd: u32; undo_ssthresh: u32;
  // congestion control state (tcp_cc.ts), 64 bytes
  _c0: u64; _c1: u64; _c2: u64; _c3: u64; _c4: u64; _c5: u64; _c6: u64; _c7: u64;
  // SACK scoreboard (tcp_sack.ts), 96 bytes
  _s0: u64; _s1: u64; _s2: u64; _s3: u64; _s4: u64; _s5: u64; _s6: u64; _s7: u64;
  _s8: u64; _s9: u64; _s10: u64; _s11: u64;
  // RACK loss detection (tcp_rack.ts), 32 bytes
  _k0: u64; _k1: u64; _k2: u64; _k3: u64;
}

export const TCP_PCB_SIZE: u32 = <u32>offsetof<tcp_pcb>();
export const TCP_PCB_LISTEN_SIZE: u32 = <u32>offsetof<tcp_pcb>("listener");
const CC_OFF: usize = offsetof<tcp_pcb>("_c0");
const SACK_OFF: usize = offsetof<tcp_pcb>("_s0");
const RACK_OFF: usize = offsetof<tcp_pcb>("_k0");

// @ts-ignore: decorator
@inline export function tcp_cc(pcb: tcp_pcb): cc_state { return changetype<cc_state>(changetype<usize>(pcb) + CC_OFF); }
// @ts-ignore: decorator
@inline export function tcp_sb(pcb: tcp_pcb): sack_board { return changetype<sack_board>(changetype<usize>(pcb) + SACK_OFF); }
// @ts-ignore: decorator
@inline export function tcp_rack(pcb: tcp_pcb): rack_state { return changetype<rack_state>(changetype<usize>(pcb) + RACK_OFF); }

// ---- loss-recovery counters ----------------------------------------------------------------------

/**
 * How the senders of this stack recovered from loss (Linux's TcpExt in
 * spirit; Proto.TCP FW counts every retransmitted segment): one u32 each,
 * all connections together, read by hosts and tests via tcp_mib_base().
 */
export const enum TcpMib {
  RTO = 0,            // retransmission timeouts that fired (go-back-N)
  FAST_RECOVERY = 1,  // entries into fast recovery (3 dupacks / SACK IsLost)
  FAST_REXMIT = 2,    // segments resent by fast retransmit / NewReno partial ACKs
  SACK_REXMIT = 3,    // segments resent by RFC 6675 NextSeg (rules 1, 3, 4)
  DUPACK = 4,         // duplicate ACKs counted (RFC 5681 §2)
  SPURIOUS_RTO = 5,   // timeouts found spurious by the timestamp echo (RFC 4015 detection)
  RTO_RESENT = 6,     // segments resent after a timeout (go-back-N)
  ACK_DROPPED = 7,    // segments dropped by the receiver as old duplicates (acked again)
  LOST_REXMIT = 8,    // segments RACK found lost that were resent outside NextSeg (tcp_rack_resend)
  TLP = 9,            // tail loss probes sent (RFC 8985 §7)
  RACK_LOST = 10,     // segments RACK declared lost (RFC 8985 §6.2)
  SACK_RENEGE = 11,   // the receiver reneged on SACKed data (RFC 2018 §8): board cleared
  DSACK = 12,         // D-SACKs received (RFC 2883): a retransmission was not needed
  COUNT = 13,
}
export const tcp_mib: usize = memory.data(4 * <i32>TcpMib.COUNT, 8);
// @ts-ignore: decorator
@inline export function TCP_MIB_INC(c: TcpMib): void { const a = tcp_mib + (<usize>c << 2); store<u32>(a, load<u32>(a) + 1); }
/** Address of the TcpMib counters (u32 each, TcpMib.COUNT of them). */
export function tcp_mib_base(): usize { return tcp_mib; }

// ---- lists ---------------------------------------------------------------------------------------

export let tcp_bound_pcbs: usize = 0;
export let tcp_listen_pcbs: usize = 0;
export let tcp_active_pcbs: usize = 0;
export let tcp_tw_pcbs: usize = 0;
/** Bumped whenever a pcb leaves the active or TIME_WAIT list (iterators restart). */
export let tcp_lists_changed: u32 = 0;

/** The pcb whose segment tcp_input is processing; its output waits until the end. */
export let tcp_input_pcb: usize = 0;
/** The pcb above was freed by a callback: tcp_input gives its memory back at the end. */
export let tcp_input_pcb_dead: bool = false;
export function tcp_set_input_pcb(p: usize): void { tcp_input_pcb = p; tcp_input_pcb_dead = false; }
export function tcp_mark_dead(): void { tcp_input_pcb_dead = true; }

function list_remove(head: usize, pcb: usize): usize {
  if (head == pcb) return changetype<tcp_pcb>(pcb).next;
  for (let q = head; q != 0; q = changetype<tcp_pcb>(q).next) {
    if (changetype<tcp_pcb>(q).next == pcb) {
      changetype<tcp_pcb>(q).next = changetype<tcp_pcb>(pcb).next;
      break;
    }
  }
  return head;
}

export function tcp_reg_active(pcb: tcp_pcb): void {
  pcb.next = tcp_active_pcbs;
  tcp_active_pcbs = changetype<usize>(pcb);
}

/** Moves an active pcb to the front (lwIP does this on input: busy pcbs are found first). */
export function tcp_active_to_front(pcb: tcp_pcb, prev: usize): void {
  if (prev == 0) return;
  changetype<tcp_pcb>(prev).next = pcb.next;
  pcb.next = tcp_active_pcbs;
  tcp_active_pcbs = changetype<usize>(pcb);
}

/** Unlinks a pcb from whichever list holds it (by state). */
function tcp_unlink(pcb: tcp_pcb): void {
  const me = changetype<usize>(pcb);
  if (pcb.state == tcp_state.TIME_WAIT) tcp_tw_pcbs = list_remove(tcp_tw_pcbs, me);
  else if (pcb.state == tcp_state.LISTEN) tcp_listen_pcbs = list_remove(tcp_listen_pcbs, me);
  else if (pcb.state == tcp_state.CLOSED) tcp_bound_pcbs = list_remove(tcp_bound_pcbs, me);
  else tcp_active_pcbs = list_remove(tcp_active_pcbs, me);
  pcb.next = 0;
  tcp_lists_changed++;
}

/** Leaves the half-open count / accept backlog of its listener. */
function tcp_listener_detach(pcb: tcp_pcb): void {
  if (pcb.listener == 0) return;
  const l = changetype<tcp_pcb>(pcb.listener);
  if (pcb.state == tcp_state.SYN_RCVD && (pcb.flags & TF_PASSIVE) != 0 && l.syn_pending > 0) l.syn_pending--;
  if ((pcb.flags & TF_BACKLOGPEND) != 0 && l.accepts_pending > 0) l.accepts_pending--;
  pcb.flags &= ~TF_BACKLOGPEND;
  pcb.listener = 0;
}

/**
 * Takes a connection pcb off its list and frees its queues (lwIP
 * tcp_pcb_purge + tcp_pcb_remove). The memory goes back to the pool at once,
 * or at the end of tcp_input when this is the pcb being processed.
 */
export function tcp_pcb_remove(pcb: tcp_pcb): void {
  tcp_listener_detach(pcb);
  tcp_unlink(pcb);
  tcp_segs_free(pcb.unsent); pcb.unsent = 0; pcb.unsent_tail = 0;
  tcp_segs_free(pcb.unacked); pcb.unacked = 0; pcb.unacked_tail = 0;
  tcp_segs_free(pcb.ooseq); pcb.ooseq = 0;
  if (pcb.refused_data != 0) { pbuf_free(changetype<pbuf>(pcb.refused_data)); pcb.refused_data = 0; }
  pcb.state = <u8>tcp_state.CLOSED;
  pcb.t_rtx = pcb.t_persist = pcb.t_dack = pcb.t_2msl = pcb.t_keep = pcb.t_poll = pcb.t_misc = 0;
  if (changetype<usize>(pcb) == tcp_input_pcb) tcp_input_pcb_dead = true;
  else memp_free(MEMP.TCP_PCB, changetype<usize>(pcb));
  tcp_timer_idle_check();
}

/** No connection left: the timer goes too (an idle stack schedules nothing). */
export function tcp_timer_idle_check(): void {
  if (tcp_active_pcbs == 0 && tcp_tw_pcbs == 0 && timer_armed) {
    sys_untimeout(tcp_timer, 0);
    timer_armed = false;
  }
}

/** Reports `err` to the application of a pcb that is already gone. */
// @ts-ignore: decorator
@inline export function tcp_report_err(errf: usize, arg: usize, err: err_t): void {
  if (errf != 0) changetype<tcp_err_fn>(errf)(arg, err);
}

/**
 * Frees a TIME_WAIT pcb for good (2MSL over, or reclaimed for a new
 * connection). lwIP frees it silently: its application closed the pcb
 * before. A host that still holds it (it shut its side and saw the peer's
 * FIN, but has not closed yet) hears ERR_CLSD, so its handle dies before
 * the memory serves another connection.
 */
function tcp_time_wait_remove(pcb: tcp_pcb): void {
  const host = (pcb.flags & TF_HOST) != 0;
  const errf = pcb.errf, arg = pcb.callback_arg;
  tcp_pcb_remove(pcb);
  if (host) tcp_report_err(errf, arg, ERR_CLSD);
}

// ---- init ------------------------------------------------------------------------------------------

/** Sizes the TCP pools (before memp_init) and seeds the ISN secret. */
export function tcp_init(): void {
  memp_set_size(MEMP.TCP_PCB, TCP_PCB_SIZE);
  memp_set_size(MEMP.TCP_PCB_LISTEN, TCP_PCB_LISTEN_SIZE);
  memp_set_size(MEMP.TCP_SEG, TCP_SEG_SIZE);
  // RFC 6528: the ISN secret comes from the host's random source
  // (config_entropy before asip_init; else derived from the init seed).
  const key = memory.data(16, 8);
  random_secret(key);
  tcp_isn_set_secret(load<u64>(key), load<u64>(key, 8));
}

// ---- allocation and reclaim (lwIP tcp_alloc) ----------------------------------------------------------

/** Frees the oldest pcb of `list` (whose states satisfy `state == want`, or any if want = 0xff). */
function tcp_kill_oldest(list: usize, want: u8): bool {
  const now = sys_now();
  let victim: tcp_pcb | null = null;
  let age: u32 = 0;
  for (let q = list; q != 0; q = changetype<tcp_pcb>(q).next) {
    const p = changetype<tcp_pcb>(q);
    if (want != 0xff && p.state != want) continue;
    if (changetype<usize>(p) == tcp_input_pcb) continue;
    const a = now - p.tmr;
    if (victim == null || a >= age) { victim = p; age = a; }
  }
  if (victim == null) return false;
  STATS_INC(Proto.TCP, Ctr.MEMERR);
  if (victim.state == tcp_state.TIME_WAIT) tcp_time_wait_remove(victim);
  else tcp_abort(victim);
  return true;
}

/** Frees the oldest active pcb of the lowest priority not above `prio` (lwIP tcp_kill_prio). */
function tcp_kill_prio(prio: u8): bool {
  const now = sys_now();
  let victim: tcp_pcb | null = null;
  let vprio: u8 = prio;
  let age: u32 = 0;
  for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
    const p = changetype<tcp_pcb>(q);
    if (changetype<usize>(p) == tcp_input_pcb) continue;
    const a = now - p.tmr;
    if (p.prio < vprio || (p.prio == vprio && (victim == null || a >= age))) { victim = p; vprio = p.prio; age = a; }
  }
  if (victim == null) return false;
  STATS_INC(Proto.TCP, Ctr.MEMERR);
  tcp_abort(victim);
  return true;
}

/**
 * A fresh pcb with every default set. When the pool is empty, reclaims as
 * lwIP does: the oldest TIME_WAIT pcb, then the oldest in LAST_ACK, CLOSING,
 * FIN_WAIT_1/2 (the application is done with those), then the oldest
 * active pcb of lower or equal priority.
 *
 * `passive` (a SYN on a listener) differs from lwIP in the last step: only a
 * pcb of strictly lower priority is taken. lwIP lets each new SYN abort the
 * oldest connection of the same priority, so a burst of connection requests
 * (1,000 clients at once, or a SYN flood) resets established transfers one
 * by one. A dropped SYN costs nothing: the peer sends it again (RFC 9293
 * §3.8.1), as it would to a Linux listener whose queue is full.
 */
export function tcp_alloc(prio: u8, passive: bool = false): tcp_pcb | null {
  if (memp_size(MEMP.TCP_PCB) < TCP_PCB_SIZE) return null;
  let m = memp_malloc(MEMP.TCP_PCB);
  if (m == 0) {
    if (tcp_kill_oldest(tcp_tw_pcbs, 0xff) ||
        tcp_kill_oldest(tcp_active_pcbs, <u8>tcp_state.LAST_ACK) ||
        tcp_kill_oldest(tcp_active_pcbs, <u8>tcp_state.CLOSING) ||
        tcp_kill_oldest(tcp_active_pcbs, <u8>tcp_state.FIN_WAIT_2) ||
        tcp_kill_oldest(tcp_active_pcbs, <u8>tcp_state.FIN_WAIT_1) ||
        ((!passive || prio > 0) && tcp_kill_prio(passive ? prio - 1 : prio))) {
      m = memp_malloc(MEMP.TCP_PCB);
    }
    if (m == 0) return null;
  }
  memory.fill(m, 0, TCP_PCB_SIZE);
  const pcb = changetype<tcp_pcb>(m);
  ip_pcb_init(pcb, 0);
  pcb.prio = prio;
  pcb.snd_buf = <u32>TCP_SND_BUF;
  pcb.rcv_wnd = TCP_WND_MAX;
  pcb.rcv_ann_wnd = TCP_WND_MAX;
  pcb.mss = <u16>TCP_DEFAULT_MSS;
  pcb.rcv_mss = <u16>TCP_DEFAULT_MSS;
  pcb.rto = TCP_RTO_INIT;
  pcb.sa = 0;
  pcb.sv = <i32>(TCP_RTO_INIT / 4) * 4; // RTTVAR such that SRTT + 4*RTTVAR = 1 s before a sample
  pcb.tmr = sys_now();
  pcb.keep_idle = TCP_KEEPIDLE_DEFAULT;
  pcb.keep_intvl = TCP_KEEPINTVL_DEFAULT;
  pcb.keep_cnt = TCP_KEEPCNT_DEFAULT;
  pcb.ts_offset = asip_random();
  cc_init(tcp_cc(pcb), CcAlgo.NEWRENO, TCP_DEFAULT_MSS);
  sack_reset(tcp_sb(pcb));
  rack_reset(tcp_rack(pcb));
  return pcb;
}

// ---- the raw API ---------------------------------------------------------------------------------

/** A new IPv4 pcb (lwIP tcp_new). Null when no pcb can be had. */
export function tcp_new(): tcp_pcb | null { return tcp_alloc(TCP_PRIO_NORMAL); }

/** A new pcb for addresses of `type` (IPADDR_TYPE_V4 / _V6 / _ANY); null also when the build lacks the family. */
export function tcp_new_ip_type(t: u8): tcp_pcb | null {
  if (!ip_pcb_type_ok(t)) return null;
  const pcb = tcp_alloc(TCP_PRIO_NORMAL);
  if (pcb != null) { ip_pcb_local(pcb).type = t; ip_pcb_remote(pcb).type = t; }
  return pcb;
}

export function tcp_arg(pcb: tcp_pcb, arg: usize): void { pcb.callback_arg = arg; }
export function tcp_recv(pcb: tcp_pcb, fn: tcp_recv_fn | null): void { if (pcb.state != tcp_state.LISTEN) pcb.recv = changetype<usize>(fn); }
export function tcp_sent(pcb: tcp_pcb, fn: tcp_sent_fn | null): void { if (pcb.state != tcp_state.LISTEN) pcb.sent = changetype<usize>(fn); }
export function tcp_err(pcb: tcp_pcb, fn: tcp_err_fn | null): void { if (pcb.state != tcp_state.LISTEN) pcb.errf = changetype<usize>(fn); }
export function tcp_accept(pcb: tcp_pcb, fn: tcp_accept_fn | null): void { pcb.accept = changetype<usize>(fn); }

/** Calls `fn` every `interval` × 500 ms (lwIP's slow-timer units); 0 stops it. */
export function tcp_poll(pcb: tcp_pcb, fn: tcp_poll_fn | null, interval: u8): void {
  if (pcb.state == tcp_state.LISTEN) return;
  pcb.poll = changetype<usize>(fn);
  pcb.pollinterval = interval;
  if (fn != null && interval != 0) tcp_set_deadline_poll(pcb);
  else pcb.t_poll = 0;
}

export function tcp_setprio(pcb: tcp_pcb, prio: u8): void { pcb.prio = prio; }
export function tcp_nagle_disable(pcb: tcp_pcb): void { pcb.flags |= TF_NODELAY; }
export function tcp_nagle_enable(pcb: tcp_pcb): void { pcb.flags &= ~TF_NODELAY; }
export function tcp_nagle_disabled(pcb: tcp_pcb): bool { return (pcb.flags & TF_NODELAY) != 0; }
export function tcp_set_cc(pcb: tcp_pcb, algo: u32): void { if (pcb.state != tcp_state.LISTEN) cc_set_algo(tcp_cc(pcb), algo); }
export function tcp_state_of(pcb: tcp_pcb): u8 { return pcb.state; }
export function tcp_sndbuf(pcb: tcp_pcb): u32 { return pcb.state == tcp_state.LISTEN ? 0 : pcb.snd_buf; }
export function tcp_sndqueuelen(pcb: tcp_pcb): u32 { return pcb.state == tcp_state.LISTEN ? 0 : pcb.snd_queuelen; }
/** Half-open connections a listener keeps before dropping the oldest (default TCP_SYN_QUEUE_DEFAULT). */
export function tcp_set_syn_queue(lpcb: tcp_pcb, n: u16): void { lpcb.syn_max = n == 0 ? 1 : n; }

/** Keepalive timing (SOF_KEEPALIVE switches it on): idle ms, interval ms, probe count. */
export function tcp_keepalive_set(pcb: tcp_pcb, idle: u32, intvl: u32, cnt: u32): void {
  pcb.keep_idle = idle; pcb.keep_intvl = intvl; pcb.keep_cnt = cnt;
  tcp_keepalive_restart(pcb);
}

/** Does any pcb other than `me` hold `port` on an address that clashes with `addr`? */
function port_clash(list: usize, me: usize, addr: ip_addr, port: u16, reuse: bool): bool {
  for (let q = list; q != 0; q = changetype<tcp_pcb>(q).next) {
    if (q == me) continue;
    const o = changetype<tcp_pcb>(q);
    if (o.local_port != port) continue;
    if (reuse && (o.so_options & SOF_REUSEADDR) != 0) continue;
    const ol = ip_pcb_local(o);
    // An IPv4 and an IPv6 address never clash; a dual-stack pcb clashes with both.
    if (!ip_pcb_families_overlap(ol, addr)) continue;
    if (ip_addr_isany(ol) || ip_addr_isany(addr) || ip_addr_eq(ol, addr)) return true;
  }
  return false;
}

export { SOF_REUSEADDR, SOF_KEEPALIVE };

function list_has_port(list: usize, port: u16): bool {
  for (let q = list; q != 0; q = changetype<tcp_pcb>(q).next) {
    if (changetype<tcp_pcb>(q).local_port == port) return true;
  }
  return false;
}

// No array literals here: under the stub runtime every one is an allocation never freed.
function port_in_use(port: u16): bool {
  return list_has_port(tcp_bound_pcbs, port) || list_has_port(tcp_listen_pcbs, port) ||
    list_has_port(tcp_active_pcbs, port) || list_has_port(tcp_tw_pcbs, port);
}

let tcp_port: u32 = 0;
/** The next free ephemeral port from a random start (RFC 6056 §3.3.2); 0 when none. */
function tcp_new_port(): u16 {
  const range = TCP_LOCAL_PORT_RANGE_END - TCP_LOCAL_PORT_RANGE_START + 1;
  if (tcp_port == 0) tcp_port = TCP_LOCAL_PORT_RANGE_START + asip_random() % range;
  for (let n: u32 = 0; n < range; n++) {
    tcp_port = tcp_port >= TCP_LOCAL_PORT_RANGE_END ? TCP_LOCAL_PORT_RANGE_START : tcp_port + 1;
    if (!port_in_use(<u16>tcp_port)) return <u16>tcp_port;
  }
  return 0;
}
export function tcp_set_port_cursor(port: u32): void { tcp_port = port; }

const bind_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

/**
 * Binds to a local address (null = ANY) and port (0 = ephemeral). ERR_USE
 * when the port is held on a clashing address, unless both pcbs set
 * SOF_REUSEADDR (which also allows binding over TIME_WAIT pcbs).
 */
export function tcp_bind(pcb: tcp_pcb, ipaddr: ip_addr | null, port: u16): err_t {
  if (pcb.state != tcp_state.CLOSED) return ERR_VAL;
  const addr = changetype<ip_addr>(bind_addr);
  if (ipaddr != null) ip_addr_copy(addr, ipaddr);
  else ip_addr_set_any(addr, ip_pcb_local(pcb).type);
  if (!ip_pcb_family_ok(ip_pcb_local(pcb), addr)) return ERR_VAL;
  if (port == 0) {
    port = tcp_new_port();
    if (port == 0) return ERR_USE;
  } else {
    const me = changetype<usize>(pcb);
    const reuse = (pcb.so_options & SOF_REUSEADDR) != 0;
    if (port_clash(tcp_bound_pcbs, me, addr, port, reuse) || port_clash(tcp_listen_pcbs, me, addr, port, reuse) ||
        port_clash(tcp_active_pcbs, me, addr, port, reuse) || port_clash(tcp_tw_pcbs, me, addr, port, reuse)) {
      return ERR_USE;
    }
  }
  ip_addr_copy(ip_pcb_local(pcb), addr);
  if (pcb.local_port == 0) {
    pcb.next = tcp_bound_pcbs;
    tcp_bound_pcbs = changetype<usize>(pcb);
  }
  pcb.local_port = port;
  return ERR_OK;
}

/** Only segments arriving on `n` reach the pcb, and it sends by `n` (null: any). */
export function tcp_bind_netif(pcb: tcp_pcb, n: netif | null): void {
  pcb.netif_idx = n != null ? n.num : 0;
}

/**
 * Makes a bound CLOSED pcb a listener (lwIP tcp_listen_with_backlog): the
 * listener is a new, smaller pcb and the original is freed. Null when
 * another listener holds the port (without SOF_REUSEADDR on both) or no
 * listen pcb is free; the original pcb is kept then.
 */
/** Why the last tcp_listen_with_backlog returned null (lwIP's tcp_listen_with_backlog_and_err). */
export let tcp_listen_err: err_t = ERR_OK;

export function tcp_listen_with_backlog(pcb: tcp_pcb, backlog: u8): tcp_pcb | null {
  tcp_listen_err = ERR_VAL;
  if (pcb.state != tcp_state.CLOSED) return null;
  tcp_listen_err = ERR_USE;
  if (pcb.local_port == 0 && tcp_bind(pcb, null, 0) != ERR_OK) return null;
  // Even with SO_REUSEADDR only one pcb may listen on an address and port
  // (lwIP checks the listen list the same way; Linux needs SO_REUSEPORT).
  if (port_clash(tcp_listen_pcbs, changetype<usize>(pcb), ip_pcb_local(pcb), pcb.local_port, false)) return null;
  tcp_listen_err = ERR_MEM;
  if (memp_size(MEMP.TCP_PCB_LISTEN) < TCP_PCB_LISTEN_SIZE) return null;
  const m = memp_malloc(MEMP.TCP_PCB_LISTEN);
  if (m == 0) return null;
  tcp_listen_err = ERR_OK;
  memory.copy(m, changetype<usize>(pcb), TCP_PCB_LISTEN_SIZE);
  const l = changetype<tcp_pcb>(m);
  l.state = <u8>tcp_state.LISTEN;
  l.backlog = backlog == 0 ? 1 : backlog;
  l.accepts_pending = 0;
  l.syn_pending = 0;
  l.syn_max = max(TCP_SYN_QUEUE_DEFAULT, <u16>l.backlog);
  l.flags &= TF_HOST | TF_NODELAY;
  tcp_unlink(pcb);
  memp_free(MEMP.TCP_PCB, changetype<usize>(pcb));
  l.next = tcp_listen_pcbs;
  tcp_listen_pcbs = m;
  return l;
}

export function tcp_listen(pcb: tcp_pcb): tcp_pcb | null { return tcp_listen_with_backlog(pcb, 0xff); }

/** The application wants to accept `pcb` later: it keeps counting against the backlog. */
export function tcp_backlog_delayed(pcb: tcp_pcb): void {
  if ((pcb.flags & TF_BACKLOGPEND) != 0 || pcb.listener == 0) return;
  const l = changetype<tcp_pcb>(pcb.listener);
  if (l.accepts_pending < 0xff) l.accepts_pending++;
  pcb.flags |= TF_BACKLOGPEND;
}

/** A delayed connection was accepted: its backlog slot is free again. */
export function tcp_backlog_accepted(pcb: tcp_pcb): void {
  if ((pcb.flags & TF_BACKLOGPEND) == 0 || pcb.listener == 0) return;
  const l = changetype<tcp_pcb>(pcb.listener);
  if (l.accepts_pending > 0) l.accepts_pending--;
  pcb.flags &= ~TF_BACKLOGPEND;
}

/**
 * The MSS we announce on `n` to a peer at `remote`: n's MTU minus the IP
 * header of remote's family and the TCP header (RFC 9293 §3.7.1; RFC 8200
 * §8.3 for IPv6's 40 bytes).
 */
export function tcp_mss_for(n: netif | null, remote: ip_addr): u32 {
  const hdrs = ip_hdr_len(remote) + TCP_HLEN;
  if (n == null || n.mtu <= hdrs + TCP_MIN_MSS) return TCP_DEFAULT_MSS;
  const m = n.mtu - hdrs;
  return m > 0xffff ? 0xffff : m;
}

/** The netif a pcb sends by (its bound netif, else the route to its remote address). */
export function tcp_route(pcb: tcp_pcb): netif | null {
  return ip_pcb_route(pcb, ip_pcb_remote(pcb));
}

/**
 * Opens a connection (SYN_SENT). `fn` runs with ERR_OK when it is
 * established; failures come through the err callback (ERR_RST refused,
 * ERR_ABRT timed out). ERR_RTE when nothing routes to `ipaddr`.
 */
export function tcp_connect(pcb: tcp_pcb, ipaddr: ip_addr, port: u16, fn: tcp_connected_fn | null): err_t {
  if (pcb.state == tcp_state.SYN_SENT) return ERR_ALREADY;
  if (pcb.state != tcp_state.CLOSED) return ERR_ISCONN;
  const l = ip_pcb_local(pcb);
  // A real address of the pcb's family (an ANY-typed address is unspecified).
  if (ipaddr.type == IPADDR_TYPE_ANY || !ip_pcb_family_ok(l, ipaddr)) return ERR_VAL;
  if (ip_addr_isany(ipaddr) || port == 0) return ERR_VAL;
  ip_addr_copy(ip_pcb_remote(pcb), ipaddr);
  pcb.remote_port = port;
  const n = tcp_route(pcb);
  if (n == null) { STATS_INC(Proto.TCP, Ctr.RTERR); return ERR_RTE; }
  if (ip_addr_isany(l)) {
    const src = ip_netif_get_local_ip(n, ipaddr);
    if (src == null) { STATS_INC(Proto.TCP, Ctr.RTERR); return ERR_RTE; }
    ip_addr_copy(l, src);
  }
  const was_bound = pcb.local_port != 0;
  if (!was_bound) {
    const p = tcp_new_port();
    if (p == 0) return ERR_USE;
    pcb.local_port = p;
  } else {
    // The 4-tuple must be unique (RFC 9293 §3.4).
    for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
      const o = changetype<tcp_pcb>(q);
      if (o.local_port == pcb.local_port && o.remote_port == port && ip_addr_eq(ip_pcb_remote(o), ipaddr) &&
          ip_addr_eq(ip_pcb_local(o), l)) return ERR_USE;
    }
  }
  const now = sys_now();
  pcb.iss = tcp_isn(l, pcb.local_port, ipaddr, port, now);
  pcb.snd_una = pcb.snd_nxt = pcb.snd_max = pcb.snd_lbb = pcb.iss;
  pcb.snd_wl2 = pcb.iss;
  pcb.recover = pcb.iss;
  pcb.rcv_nxt = 0;
  pcb.rcv_wnd = pcb.rcv_ann_wnd = TCP_WND_MAX;
  pcb.rcv_mss = <u16>tcp_mss_for(n, ipaddr);
  pcb.mss = <u16>TCP_DEFAULT_MSS;
  pcb.rcv_scale = <u8>TCP_RCV_SCALE;
  pcb.connected = changetype<usize>(fn);
  pcb.tmr = now;
  cc_init(tcp_cc(pcb), tcp_cc(pcb).algo, TCP_DEFAULT_MSS);
  const err = tcp_enqueue_flags(pcb, TCP_SYN);
  if (err != ERR_OK) { pcb.local_port = was_bound ? pcb.local_port : 0; return err; }
  if (was_bound) tcp_bound_pcbs = list_remove(tcp_bound_pcbs, changetype<usize>(pcb));
  pcb.state = <u8>tcp_state.SYN_SENT;
  tcp_reg_active(pcb);
  tcp_output(pcb);
  return ERR_OK;
}

/** Aborts every half-open connection of a closing listener; connections waiting for accept lose it. */
function tcp_listen_closed(l: tcp_pcb): void {
  const me = changetype<usize>(l);
  let restart = true;
  while (restart) {
    restart = false;
    for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
      const p = changetype<tcp_pcb>(q);
      if (p.listener != me) continue;
      if (p.state == tcp_state.SYN_RCVD) { tcp_abort(p); restart = true; break; }
      p.listener = 0;
      p.flags &= ~TF_BACKLOGPEND;
    }
  }
}

/**
 * Closes the connection (lwIP tcp_close): LISTEN, CLOSED and SYN_SENT pcbs
 * are freed at once; otherwise a FIN is queued and the pcb lives on until
 * the close handshake ends. Unread received data makes it a reset instead
 * (RFC 9293 §3.6, RFC 2525 §2.17). ERR_MEM when the FIN cannot be queued
 * yet: the pcb is then closed by a later retry (TF_CLOSEPEND).
 */
export function tcp_close(pcb: tcp_pcb): err_t {
  if (pcb.state != tcp_state.LISTEN) pcb.flags |= TF_RXCLOSED | TF_CLOSED_APP;
  return tcp_close_shutdown(pcb, true);
}

function tcp_close_shutdown(pcb: tcp_pcb, rst_on_unacked_data: bool): err_t {
  const st = pcb.state;
  if (rst_on_unacked_data && (st == tcp_state.ESTABLISHED || st == tcp_state.CLOSE_WAIT || st == tcp_state.SYN_RCVD) &&
      (pcb.refused_data != 0 || pcb.rcv_wnd != tcp_rcv_wnd_max(pcb))) {
    // Data the application never read: tell the peer it is lost (RFC 2525 §2.17).
    tcp_rst(pcb.snd_nxt, pcb.rcv_nxt, ip_pcb_local(pcb), ip_pcb_remote(pcb), pcb.local_port, pcb.remote_port, true, pcb);
    tcp_pcb_remove(pcb);
    return ERR_OK;
  }
  switch (<i32>st) {
    case tcp_state.CLOSED:
      tcp_unlink(pcb);
      if (changetype<usize>(pcb) == tcp_input_pcb) tcp_input_pcb_dead = true;
      else memp_free(MEMP.TCP_PCB, changetype<usize>(pcb));
      return ERR_OK;
    case tcp_state.LISTEN:
      tcp_listen_closed(pcb);
      tcp_unlink(pcb);
      memp_free(MEMP.TCP_PCB_LISTEN, changetype<usize>(pcb));
      return ERR_OK;
    case tcp_state.SYN_SENT:
      tcp_pcb_remove(pcb);
      return ERR_OK;
    default:
      return tcp_close_shutdown_fin(pcb);
  }
}

/** Queues our FIN and moves on (ESTABLISHED/SYN_RCVD → FIN_WAIT_1, CLOSE_WAIT → LAST_ACK). */
export function tcp_close_shutdown_fin(pcb: tcp_pcb): err_t {
  const st = pcb.state;
  if (st != tcp_state.ESTABLISHED && st != tcp_state.SYN_RCVD && st != tcp_state.CLOSE_WAIT) {
    return ERR_OK; // already closing
  }
  const err = tcp_send_fin(pcb);
  if (err != ERR_OK) {
    if (err == ERR_MEM) { pcb.flags |= TF_CLOSEPEND; tcp_set_deadline_misc(pcb); }
    return err;
  }
  pcb.flags &= ~TF_CLOSEPEND;
  pcb.state = st == tcp_state.CLOSE_WAIT ? <u8>tcp_state.LAST_ACK : <u8>tcp_state.FIN_WAIT_1;
  tcp_output(pcb);
  return ERR_OK;
}

/**
 * Half-close (lwIP tcp_shutdown): shut_rx drops refused data and delivers
 * no more (data arriving later resets the connection); shut_tx sends FIN
 * and keeps receiving. Both: tcp_close.
 */
export function tcp_shutdown(pcb: tcp_pcb, shut_rx: bool, shut_tx: bool): err_t {
  if (pcb.state == tcp_state.LISTEN) return ERR_CONN;
  if (shut_rx) {
    pcb.flags |= TF_RXCLOSED;
    if (shut_tx) return tcp_close(pcb);
    if (pcb.refused_data != 0) { pbuf_free(changetype<pbuf>(pcb.refused_data)); pcb.refused_data = 0; }
  }
  if (shut_tx) {
    const st = pcb.state;
    if (st == tcp_state.SYN_RCVD || st == tcp_state.ESTABLISHED || st == tcp_state.CLOSE_WAIT) {
      return tcp_close_shutdown(pcb, shut_rx);
    }
    return ERR_CONN;
  }
  return ERR_OK;
}

/**
 * Aborts: a RST to the peer (unless CLOSED, LISTEN or TIME_WAIT), the pcb
 * freed, err(ERR_ABRT). A callback that calls this must return ERR_ABRT.
 */
export function tcp_abort(pcb: tcp_pcb): void { tcp_abandon(pcb, true); }

export function tcp_abandon(pcb: tcp_pcb, reset: bool): void {
  const st = pcb.state;
  if (st == tcp_state.LISTEN || st == tcp_state.CLOSED) { tcp_close_shutdown(pcb, false); return; }
  if (st == tcp_state.TIME_WAIT) { tcp_pcb_remove(pcb); return; }
  const errf = pcb.errf;
  const arg = pcb.callback_arg;
  if (reset) {
    tcp_rst(pcb.snd_nxt, pcb.rcv_nxt, ip_pcb_local(pcb), ip_pcb_remote(pcb), pcb.local_port, pcb.remote_port, true, pcb);
  }
  tcp_pcb_remove(pcb);
  tcp_report_err(errf, arg, ERR_ABRT);
}

// ---- receive window ---------------------------------------------------------------------------

/**
 * The largest receive window this connection can use: TCP_WND_MAX with
 * window scaling, 65535 without (RFC 7323 §2.2: the field is 16 bits).
 */
export function tcp_rcv_wnd_max(pcb: tcp_pcb): u32 {
  if ((pcb.flags & TF_WND_SCALE) != 0 || TCP_WND_MAX <= 0xffff) return TCP_WND_MAX;
  // Before the handshake settles the option, the window is what we set up.
  if (pcb.state == tcp_state.SYN_SENT || pcb.state == tcp_state.LISTEN || pcb.state == tcp_state.CLOSED) return TCP_WND_MAX;
  return 0xffff;
}

/**
 * Moves the announced right edge only by at least min(half the buffer, one
 * MSS) (receiver SWS avoidance, RFC 9293 §3.8.6.2.2). Returns by how much
 * the edge may move (0 = keep announcing what we did).
 */
export function tcp_update_rcv_ann_wnd(pcb: tcp_pcb): u32 {
  const new_right = pcb.rcv_nxt + pcb.rcv_wnd;
  const half = tcp_rcv_wnd_max(pcb) >> 1;
  const step = half < <u32>pcb.rcv_mss ? half : <u32>pcb.rcv_mss;
  if (seq_geq32(new_right, pcb.rcv_ann_right_edge + step)) {
    pcb.rcv_ann_wnd = pcb.rcv_wnd;
    return new_right - pcb.rcv_ann_right_edge;
  }
  if (seq_gt(pcb.rcv_nxt, pcb.rcv_ann_right_edge)) pcb.rcv_ann_wnd = 0;
  else pcb.rcv_ann_wnd = pcb.rcv_ann_right_edge - pcb.rcv_nxt;
  return 0;
}

// @ts-ignore: decorator
@inline function seq_geq32(a: u32, b: u32): bool { return <i32>(a - b) >= 0; }

/**
 * The application consumed `len` bytes: the window opens, and a window
 * update goes out when it grew enough to matter (at least a quarter of the
 * buffer or 4 MSS) or was nearly closed before.
 */
export function tcp_recved(pcb: tcp_pcb, len: u32): void {
  if (pcb.state == tcp_state.LISTEN) return;
  const was = pcb.rcv_ann_wnd;
  const max = tcp_rcv_wnd_max(pcb);
  let w = <u64>pcb.rcv_wnd + <u64>len;
  if (w > <u64>max) w = <u64>max;
  pcb.rcv_wnd = <u32>w;
  const grow = tcp_update_rcv_ann_wnd(pcb);
  let thr = max >> 2;
  if (thr > 4 * <u32>pcb.rcv_mss) thr = 4 * <u32>pcb.rcv_mss;
  if (grow != 0 && (grow >= thr || was < <u32>pcb.rcv_mss)) {
    pcb.flags |= TF_ACK_NOW;
    tcp_output(pcb);
  }
}

// ---- RTT (RFC 6298) ------------------------------------------------------------------------------

/** Takes one RTT sample in ms. */
export function tcp_rtt_sample(pcb: tcp_pcb, rtt: u32): void {
  if (rtt > 0x7fffffff) return;
  let m = <i32>rtt;
  if (pcb.sa == 0 && pcb.sv == <i32>(TCP_RTO_INIT / 4) * 4) {
    // First measurement (§2.2): SRTT = R, RTTVAR = R/2.
    pcb.sa = m << 3;
    pcb.sv = m << 1;
  } else {
    // Van Jacobson's integer form of §2.3 (alpha 1/8, beta 1/4).
    m -= pcb.sa >> 3;
    pcb.sa += m;
    if (m < 0) m = -m;
    m -= pcb.sv >> 2;
    pcb.sv += m;
  }
  let rto = <u32>((pcb.sa >> 3) + pcb.sv);
  if (rto < TCP_RTO_MIN) rto = TCP_RTO_MIN;
  if (rto > TCP_RTO_MAX) rto = TCP_RTO_MAX;
  pcb.rto = rto;
}

/** Has an RTT sample been taken? (SRTT may well be 0 ms on a LAN.) */
export function tcp_rtt_measured(pcb: tcp_pcb): bool { return pcb.sa != 0 || pcb.sv != <i32>(TCP_RTO_INIT / 4) * 4; }

/** SRTT in ms (0 before a sample). */
export function tcp_srtt(pcb: tcp_pcb): u32 { return <u32>(pcb.sa >> 3); }

/** The RTO with the current backoff (RFC 6298 §5.5), capped at TCP_RTO_MAX. */
export function tcp_rto_backoff(pcb: tcp_pcb): u32 {
  const sh = pcb.nrtx > 12 ? 12 : <u32>pcb.nrtx;
  const r = <u64>pcb.rto << sh;
  return r > <u64>TCP_RTO_MAX ? TCP_RTO_MAX : <u32>r;
}

// ---- timers --------------------------------------------------------------------------------------

let timer_armed: bool = false;
let timer_at: u32 = 0;

/** Makes sure the TCP timer runs no later than `deadline`. */
export function tcp_timer_need(deadline: u32): void {
  if (timer_armed && !TIME_LESS_THAN(deadline, timer_at)) return;
  if (timer_armed) sys_untimeout(tcp_timer, 0);
  const now = sys_now();
  const d = TIME_LESS_THAN(deadline, now) ? 0 : deadline - now;
  if (sys_timeout(d, tcp_timer, 0) == ERR_OK) {
    timer_armed = true;
    timer_at = now + d;
  } else {
    timer_armed = false;
  }
}

// @ts-ignore: decorator
@inline function dl(ms: u32): u32 { const t = sys_now() + ms; return t == 0 ? 1 : t; }

/**
 * Arms the retransmission timer: the RTO with its backoff (RFC 6298), or —
 * when a tail loss probe is allowed and due earlier — the probe timeout
 * (TF_TLP; tcp_timer_rto sends the probe instead of timing out).
 */
export function tcp_set_deadline_rtx(pcb: tcp_pcb): void {
  let d = tcp_rto_backoff(pcb);
  pcb.flags &= ~(TF_TLP | TF_RACK);
  if (tcp_tlp_allowed(pcb)) {
    const pto = tcp_pto(pcb);
    if (pto < d) { d = pto; pcb.flags |= TF_TLP; }
  }
  pcb.t_rtx = dl(d);
  tcp_timer_need(pcb.t_rtx);
}

/**
 * New data went out (RFC 8985 §7.2: the PTO restarts with every new
 * transmission): a probe is due 2·SRTT from now, never later than the RTO
 * already armed. Matters when the timer was armed while a single segment
 * was out (PTO then exceeds the RTO) and the flight has grown since.
 */
export function tcp_tlp_rearm(pcb: tcp_pcb): void {
  if (!tcp_tlp_allowed(pcb)) return;
  const t = dl(tcp_pto(pcb));
  if (pcb.t_rtx != 0 && (pcb.flags & TF_TLP) == 0 && !TIME_LESS_THAN(t, pcb.t_rtx)) return;
  pcb.flags = (pcb.flags & ~TF_RACK) | TF_TLP;
  pcb.t_rtx = t;
  tcp_timer_need(t);
}

/**
 * RACK's reordering timer (RFC 8985 §6.3): segments sent before a delivered
 * one that may still arrive are checked again in `ms`. It shares t_rtx with
 * the RTO and the probe (TF_RACK) and only ever moves it earlier; when it
 * fires, the RTO is armed again (tcp_timer_rto).
 */
export function tcp_set_deadline_rack(pcb: tcp_pcb, ms: u32): void {
  const t = dl(ms);
  if (pcb.t_rtx != 0 && !TIME_LESS_THAN(t, pcb.t_rtx)) return;
  pcb.flags = (pcb.flags & ~TF_TLP) | TF_RACK;
  pcb.t_rtx = t;
  tcp_timer_need(t);
}

/** Smallest probe timeout: timers run in ms and a host's timer is coarser still (Linux: 2 jiffies). */
export const TCP_PTO_MIN: u32 = 10;
/** RFC 8985 §7.2 WCDelAckT: the peer may hold its ACK of a lone segment this long. */
export const TCP_WC_DELACK_MS: u32 = 200;

/**
 * Tail loss probe (RFC 8985 §7): with SACK, no timeout pending backoff, no
 * probe out, and an RTT measured. When the last segments of a flight or
 * every ACK for them are lost, no duplicate ACK ever comes and only the RTO
 * (≥ 200 ms, hundreds of RTTs on a LAN) would recover; a probe after 2·SRTT
 * draws the ACK/SACK that lets RACK and fast recovery do it instead.
 *
 * asip also probes in fast recovery and after a timeout once an ACK has
 * come (RFC 8985 §7.2 schedules the PTO only outside loss recovery; so does
 * Linux). Measured against Linux receivers at 5% loss: a Linux receiver
 * compresses its SACKs (tcp_comp_sack) and, once the retransmission fills
 * the hole, answers the whole flight with a single ACK; when that one ACK
 * was lost (5% of recoveries) nothing was left in flight to draw another
 * and the RTO, 200 ms, was the only way out — two thirds of all timeouts,
 * most of them "spurious" (the receiver had everything). The probe costs
 * one segment per 2·SRTT of silence and is never sent twice without
 * progress (TF_TLP_SENT).
 */
function tcp_tlp_allowed(pcb: tcp_pcb): bool {
  if ((pcb.flags & (TF_SACK | TF_TLP_SENT)) != TF_SACK) return false;
  if (pcb.nrtx != 0 || !tcp_rtt_measured(pcb) || pcb.unacked == 0) return false;
  const st = pcb.state;
  return st == tcp_state.ESTABLISHED || st == tcp_state.CLOSE_WAIT || st == tcp_state.FIN_WAIT_1 ||
    st == tcp_state.CLOSING || st == tcp_state.LAST_ACK;
}

/** RFC 8985 §7.2 PTO: 2·SRTT, plus WCDelAckT when one segment is in flight. */
function tcp_pto(pcb: tcp_pcb): u32 {
  let pto = tcp_srtt(pcb) << 1;
  if (pto < TCP_PTO_MIN) pto = TCP_PTO_MIN;
  if (pcb.snd_max - pcb.snd_una <= <u32>pcb.mss) pto += TCP_WC_DELACK_MS;
  return pto;
}
export function tcp_set_deadline_persist(pcb: tcp_pcb): void {
  const sh = pcb.persist_backoff > 12 ? 12 : <u32>pcb.persist_backoff;
  let r = <u64>(pcb.rto < 500 ? 500 : pcb.rto) << sh;
  if (r > <u64>TCP_RTO_MAX) r = <u64>TCP_RTO_MAX;
  pcb.t_persist = dl(<u32>r);
  tcp_timer_need(pcb.t_persist);
}
export function tcp_set_deadline_dack(pcb: tcp_pcb): void { if (pcb.t_dack == 0) { pcb.t_dack = dl(TCP_ACK_DELAY_MS); tcp_timer_need(pcb.t_dack); } }
export function tcp_set_deadline_2msl(pcb: tcp_pcb, ms: u32): void { pcb.t_2msl = dl(ms); tcp_timer_need(pcb.t_2msl); }
export function tcp_set_deadline_misc(pcb: tcp_pcb): void { if (pcb.t_misc == 0) { pcb.t_misc = dl(TCP_REFUSED_RETRY_MS); tcp_timer_need(pcb.t_misc); } }
function tcp_set_deadline_poll(pcb: tcp_pcb): void { pcb.t_poll = dl(<u32>pcb.pollinterval * TCP_SLOW_INTERVAL); tcp_timer_need(pcb.t_poll); }

/** Keepalive (SOF_KEEPALIVE in ESTABLISHED/CLOSE_WAIT): the idle clock restarts with every segment. */
export function tcp_keepalive_restart(pcb: tcp_pcb): void {
  pcb.keep_cnt_sent = 0;
  if ((pcb.so_options & SOF_KEEPALIVE) != 0 && (pcb.state == tcp_state.ESTABLISHED || pcb.state == tcp_state.CLOSE_WAIT)) {
    const t = dl(pcb.keep_idle);
    // Re-arm the global timer only when the keepalive deadline comes earlier than it.
    pcb.t_keep = t;
    tcp_timer_need(t);
  } else {
    pcb.t_keep = 0;
  }
}

/** Enters TIME_WAIT: the pcb moves to the TIME_WAIT list for 2*MSL. */
export function tcp_enter_time_wait(pcb: tcp_pcb): void {
  tcp_listener_detach(pcb);
  tcp_active_pcbs = list_remove(tcp_active_pcbs, changetype<usize>(pcb));
  tcp_lists_changed++;
  tcp_segs_free(pcb.unsent); pcb.unsent = 0; pcb.unsent_tail = 0;
  tcp_segs_free(pcb.unacked); pcb.unacked = 0; pcb.unacked_tail = 0;
  tcp_segs_free(pcb.ooseq); pcb.ooseq = 0;
  pcb.state = <u8>tcp_state.TIME_WAIT;
  pcb.t_rtx = pcb.t_persist = pcb.t_keep = pcb.t_poll = pcb.t_misc = 0;
  pcb.next = tcp_tw_pcbs;
  tcp_tw_pcbs = changetype<usize>(pcb);
  tcp_set_deadline_2msl(pcb, tcp_time_wait_ms);
}

/** The earliest deadline of a pcb (0 = none). */
function pcb_next_deadline(pcb: tcp_pcb, now: u32): u32 {
  // 0 means "no deadline"; a real deadline of 0 is stored as 1 by the setters.
  let best = earlier(0, pcb.t_rtx);
  best = earlier(best, pcb.t_persist);
  best = earlier(best, pcb.t_dack);
  best = earlier(best, pcb.t_2msl);
  best = earlier(best, pcb.t_keep);
  best = earlier(best, pcb.t_poll);
  best = earlier(best, pcb.t_misc);
  return best;
}

/** The earlier of two deadlines, where 0 is "none". */
// @ts-ignore: decorator
@inline function earlier(best: u32, t: u32): u32 {
  if (t == 0) return best;
  if (best == 0 || TIME_LESS_THAN(t, best)) return t;
  return best;
}

// @ts-ignore: decorator
@inline function due(t: u32, now: u32): bool { return t != 0 && !TIME_LESS_THAN(now, t); }

/** Runs what is due for one pcb. Returns false when the pcb is gone. */
function tcp_pcb_timers(pcb: tcp_pcb, now: u32): bool {
  const me = changetype<usize>(pcb);
  tcp_set_input_pcb(me);
  // TIME_WAIT and the FIN_WAIT_2 timeout.
  if (due(pcb.t_2msl, now)) {
    pcb.t_2msl = 0;
    if (pcb.state == tcp_state.TIME_WAIT) { tcp_time_wait_remove(pcb); return finish_pcb(); }
    if (pcb.state == tcp_state.FIN_WAIT_2 && (pcb.flags & TF_RXCLOSED) != 0) {
      const errf = pcb.errf, arg = pcb.callback_arg;
      tcp_pcb_remove(pcb);
      tcp_report_err(errf, arg, ERR_ABRT);
      return finish_pcb();
    }
  }
  if (due(pcb.t_rtx, now)) {
    pcb.t_rtx = 0;
    tcp_timer_rto(pcb);
    if (tcp_input_pcb_dead) return finish_pcb();
  }
  if (due(pcb.t_persist, now)) {
    pcb.t_persist = 0;
    tcp_timer_persist(pcb);
    if (tcp_input_pcb_dead) return finish_pcb();
  }
  if (due(pcb.t_keep, now)) {
    pcb.t_keep = 0;
    if ((pcb.so_options & SOF_KEEPALIVE) != 0 && (pcb.state == tcp_state.ESTABLISHED || pcb.state == tcp_state.CLOSE_WAIT)) {
      if (<u32>pcb.keep_cnt_sent >= pcb.keep_cnt) {
        // RFC 1122 §4.2.3.6: the peer is gone.
        tcp_abort(pcb);
        return finish_pcb();
      }
      tcp_keepalive(pcb);
      pcb.keep_cnt_sent++;
      pcb.t_keep = dl(pcb.keep_intvl);
    }
  }
  if (due(pcb.t_misc, now)) {
    pcb.t_misc = 0;
    if (pcb.refused_data != 0) {
      if (tcp_process_refused_data(pcb) == ERR_ABRT || tcp_input_pcb_dead) return finish_pcb();
      if (pcb.refused_data != 0) pcb.t_misc = dl(TCP_REFUSED_RETRY_MS);
    }
    if ((pcb.flags & TF_CLOSEPEND) != 0) {
      tcp_close_shutdown_fin(pcb);
      if (tcp_input_pcb_dead) return finish_pcb();
    }
  }
  if (due(pcb.t_poll, now)) {
    pcb.t_poll = 0;
    if (pcb.poll != 0 && pcb.pollinterval != 0) {
      pcb.t_poll = dl(<u32>pcb.pollinterval * TCP_SLOW_INTERVAL);
      const r = changetype<tcp_poll_fn>(pcb.poll)(pcb.callback_arg, pcb);
      if (r == ERR_ABRT || tcp_input_pcb_dead) return finish_pcb();
    }
  }
  if (due(pcb.t_dack, now)) {
    pcb.t_dack = 0;
    if ((pcb.flags & TF_ACK_DELAY) != 0) pcb.flags |= TF_ACK_NOW;
  }
  tcp_set_input_pcb(0);
  if (pcb.state != tcp_state.TIME_WAIT) tcp_output(pcb);
  return true;
}

function finish_pcb(): bool {
  if (tcp_input_pcb_dead) memp_free(MEMP.TCP_PCB, tcp_input_pcb);
  tcp_set_input_pcb(0);
  return false;
}

/** The single TCP timeout: runs every pcb's due deadlines and re-arms at the next one. */
export function tcp_timer(arg: usize): void {
  timer_armed = false;
  const now = sys_now();
  for (let li = 0; li < 2; li++) {
    let restart = true;
    let guard = 0;
    while (restart && guard++ < 1000) {
      restart = false;
      let q = li == 0 ? tcp_active_pcbs : tcp_tw_pcbs;
      while (q != 0) {
        const pcb = changetype<tcp_pcb>(q);
        const nxt = pcb.next;
        const d = pcb_next_deadline(pcb, now);
        if (d != 0 && !TIME_LESS_THAN(now, d)) {
          const gen = tcp_lists_changed;
          const alive = tcp_pcb_timers(pcb, now);
          // A callback may have freed other pcbs: start over (done ones are skipped fast).
          if (tcp_lists_changed != gen && !(!alive && tcp_lists_changed == gen + 1)) { restart = true; break; }
        }
        q = nxt;
      }
    }
  }
  tcp_timer_rearm();
}

/** Arms the timer at the earliest deadline of all pcbs (none: no timer). */
export function tcp_timer_rearm(): void {
  const now = sys_now();
  let best: u32 = 0;
  let have = false;
  for (let li = 0; li < 2; li++) {
    for (let q = li == 0 ? tcp_active_pcbs : tcp_tw_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
      const d = pcb_next_deadline(changetype<tcp_pcb>(q), now);
      if (d == 0) continue;
      if (!have || TIME_LESS_THAN(d, best)) { best = d; have = true; }
    }
  }
  if (have) tcp_timer_need(best);
}

/** Is the TCP timer scheduled? (tests: an idle stack schedules nothing) */
export function tcp_timer_is_armed(): bool { return timer_armed; }

// ---- iteration helpers for hosts and tests -----------------------------------------------------

export function tcp_active_head(): usize { return tcp_active_pcbs; }
export function tcp_tw_head(): usize { return tcp_tw_pcbs; }
export function tcp_listen_head(): usize { return tcp_listen_pcbs; }
export function tcp_bound_head(): usize { return tcp_bound_pcbs; }

/**
 * One of our addresses changed from `old` to `now` (null: removed; ip.ts
 * calls this). Connections on the old address cannot survive (lwIP
 * tcp_netif_ip_addr_changed aborts them); listeners and bound pcbs follow.
 */
export function tcp_netif_ip_addr_changed(old: ip_addr, now: ip_addr | null): void {
  let restart = true;
  while (restart) {
    restart = false;
    for (let q = tcp_active_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) {
      const p = changetype<tcp_pcb>(q);
      if (ip_addr_eq(ip_pcb_local(p), old)) { tcp_abort(p); restart = true; break; }
    }
  }
  if (now == null) return;
  for (let q = tcp_listen_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) ip_pcb_local_follows(ip_pcb_local(changetype<tcp_pcb>(q)), old, now);
  for (let q = tcp_bound_pcbs; q != 0; q = changetype<tcp_pcb>(q).next) ip_pcb_local_follows(ip_pcb_local(changetype<tcp_pcb>(q)), old, now);
}

export { tcp_input, tcp_icmp_error } from "./tcp_in";
export { tcp_write } from "./tcp_out";
export { tcp_output };
