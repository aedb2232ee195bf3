// Host-facing exports for TCP (re-exported by assembly/index.ts).
//
// A host-side TCP pcb is an ordinary raw-API pcb (tcp/tcp.ts) whose callbacks
// are the functions below: each turns what happened into an event on the
// ring (rings.ts), so the host learns everything from one drain.
//
// Handles are generation-tagged (abi/handles.ts), as for UDP and raw pcbs:
// pcbs are freed by the core on their own (RST, retransmission limit) and
// their memory is reused at once, while the host may still hold the handle
// until it has read the ERR event. The handle survives listen() (which swaps
// the pcb for a listen pcb in lwIP).
//
// Addresses are ip_addrs (20 bytes) the host writes to (or reads from) core
// memory, usually abi_scratch(); events carry them as rings.ts says.
//
// Events (type, handle, p, a, b, c, d, e):
//   EV_TCP_ACCEPT    (50) handle = the listener; a = the new connection's
//                         handle; b = remote address; c = remote port;
//                         d = local address; e = local port.
//   EV_TCP_CONNECTED (51) a = err_t (ERR_OK: the handshake completed).
//   EV_TCP_RECV      (52) p = the data (a pbuf chain, ring-referenced);
//                         a = its length. The host reads it during the drain,
//                         or keeps it with ev_take and frees it later with
//                         pbuf_release. Either way it calls tcp_host_recved
//                         when it has consumed the bytes: until then the
//                         receive window stays closed by that much (the
//                         host's backpressure). When the ring is full the data
//                         is refused and TCP redelivers it later (lwIP's
//                         refused_data).
//   EV_TCP_SENT      (53) a = bytes newly acknowledged; b = tcp_sndbuf (room
//                         for writes now); c = tcp_sndqueuelen. The host's
//                         "writable" signal. Bytes acknowledged while the ring
//                         was full are added to the next SENT.
//   EV_TCP_ERR       (54) a = err_t (ERR_RST reset by the peer, ERR_ABRT
//                         aborted — retransmission limit, pool reclaim —,
//                         ERR_CLSD, ERR_CONN refused during connect). The pcb
//                         is gone: the handle is dead from this event on.
//   EV_TCP_FIN       (55) the peer closed its side (no more data will come).
//   EV_TCP_POLL      (56) the poll interval set with tcp_host_poll elapsed.
//
// Sending: the host writes its bytes into core memory — the buffer from
// tcp_tx_buffer (TCP_TX_BUF_SIZE bytes, reused by every call) or anywhere
// else it owns — and calls tcp_host_write, which copies them into the send
// queue (one copy, taking the checksum later per segment) and returns how
// many it took: at most tcp_sndbuf, 0 when the queue is full (wait for SENT).
//
// Built-in services (apps/tcp_services.ts) also start from here.

import { pbuf, pbuf_free } from "../core/pbuf";
import { err_t, ERR_OK, ERR_ARG, ERR_MEM, ERR_VAL, ERR_CONN } from "../core/err";
import { MEMP, memp_num } from "../core/memp";
import { ev_push, ev_push_flags, ev_addr, ev_addr_flags } from "../core/rings";
import { ip_pcb_local, ip_pcb_remote } from "../ip";
import { ip_addr, ip_addr_set_any, IP_ADDR_SIZE } from "../ip_addr";
import {
  handle_table, handle_new, handle_slot, handle_get, handle_set, handle_free, abi_addr_arg, abi_addr_err, abi_addr_out,
  abi_ip_type,
} from "./handles";
import { netif_get_by_index } from "../netif/netif";
import {
  tcp_pcb, tcp_new_ip_type, tcp_arg, tcp_bind, tcp_bind_netif, tcp_listen_with_backlog, tcp_accept, tcp_connect,
  tcp_write, tcp_output, tcp_recved, tcp_sndbuf, tcp_sndqueuelen, tcp_recv, tcp_sent, tcp_err, tcp_poll,
  tcp_close, tcp_shutdown, tcp_abort, tcp_setprio, tcp_nagle_disable, tcp_nagle_enable, tcp_set_cc,
  tcp_state_of, tcp_backlog_delayed, tcp_backlog_accepted, tcp_keepalive_set,
  tcp_set_syn_queue, tcp_set_time_wait, TCP_PCB_SIZE, TF_HOST, SOF_KEEPALIVE, TCP_WRITE_FLAG_COPY, TCP_WRITE_FLAG_MORE, tcp_listen_err } from "../tcp/tcp";
/** Loss-recovery counters (tcp.ts TcpMib): address of TcpMib.COUNT u32s. */
export { tcp_mib_base } from "../tcp/tcp";
import { tcp_service_start, tcp_service_stop } from "../apps/tcp_services";

export const EV_TCP_ACCEPT: u16 = 50;
export const EV_TCP_CONNECTED: u16 = 51;
export const EV_TCP_RECV: u16 = 52;
export const EV_TCP_SENT: u16 = 53;
export const EV_TCP_ERR: u16 = 54;
export const EV_TCP_FIN: u16 = 55;
export const EV_TCP_POLL: u16 = 56;

/** tcp_host_write flag: call tcp_output after queueing (saves the host a call). */
export const TCP_HOST_WRITE_OUTPUT: u32 = 0x80;
/** Bytes of the shared write buffer tcp_tx_buffer returns. */
export const TCP_TX_BUF_SIZE: u32 = 64 * 1024;

// ---- the handle table (abi/handles.ts) ------------------------------------------------------
//
// The slot's protocol word (+8) holds bytes acknowledged while the event
// ring was full, added to the next EV_TCP_SENT.

/** tcp_state.LISTEN (a listener is a shorter pcb: only the common prefix may be touched). */
const LISTEN: u8 = 1;
const handles = changetype<handle_table>(memory.data(16, 8));
let tx_buf: usize = 0;

/** A handle for `pcb`, sized for every pcb the pools can hold; 0 when the table is full. */
function slot_new(pcb: tcp_pcb): u32 {
  const h = handle_new(handles, memp_num(MEMP.TCP_PCB) + memp_num(MEMP.TCP_PCB_LISTEN), changetype<usize>(pcb));
  if (h == 0) return 0;
  pcb.host = h;
  pcb.flags |= TF_HOST;
  tcp_arg(pcb, <usize>h);
  return h;
}

// @ts-ignore: decorator
@inline function slot_addr(h: u32): usize { return handle_slot(handles, h); }

/** The live host pcb of handle `h`, or null (stale, unknown or detached handles are refused). */
function host_pcb(h: u32): tcp_pcb | null {
  const p = handle_get(handles, h);
  return p != 0 ? changetype<tcp_pcb>(p) : null;
}

/** Frees the slot of `h`: the handle is dead from now on (the next one gets a new generation). */
// @ts-ignore: decorator
@inline function slot_free(h: u32): void { handle_free(handles, h); }

/** Drops every callback of a pcb the host no longer owns; data still arriving is consumed. */
function quiet(pcb: tcp_pcb): void {
  pcb.host = 0;
  pcb.flags &= ~TF_HOST;
  tcp_arg(pcb, 0);
  if (pcb.state == LISTEN) {
    tcp_accept(pcb, null);
  } else {
    tcp_recv(pcb, detached_recv);
    tcp_sent(pcb, null);
    tcp_err(pcb, null);
    tcp_poll(pcb, null, 0);
  }
}

function detach(pcb: tcp_pcb): void {
  slot_free(pcb.host);
  quiet(pcb);
}

// ---- callbacks: everything becomes an event ----------------------------------------------

function host_accept(arg: usize, newpcb: tcp_pcb | null, err: err_t): err_t {
  const lh = <u32>arg;
  if (newpcb == null || err != ERR_OK) return ERR_VAL;
  if (slot_addr(lh) == 0) {
    // The listener was closed meanwhile.
    tcp_arg(newpcb, 0);
    return ERR_VAL;
  }
  const h = slot_new(newpcb);
  if (h == 0) {
    tcp_arg(newpcb, 0);
    return ERR_MEM;
  }
  install(newpcb);
  const remote = ip_pcb_remote(newpcb), local = ip_pcb_local(newpcb);
  const ok = ev_push_flags(EV_TCP_ACCEPT, ev_addr_flags(remote), lh, null, h, ev_addr(remote, 0), <u32>newpcb.remote_port,
    ev_addr(local, 1), <u32>newpcb.local_port);
  if (!ok) {
    // The host would never hear of it: refuse (TCP aborts it; the client sees RST).
    slot_free(h);
    newpcb.host = 0;
    newpcb.flags &= ~TF_HOST;
    tcp_arg(newpcb, 0);
    return ERR_MEM;
  }
  return ERR_OK;
}

function host_connected(arg: usize, pcb: tcp_pcb, err: err_t): err_t {
  ev_push(EV_TCP_CONNECTED, <u32>arg, null, <u32>err, 0, 0, 0, 0);
  return ERR_OK;
}

function host_recv(arg: usize, pcb: tcp_pcb, p: pbuf | null, err: err_t): err_t {
  const h = <u32>arg;
  if (h == 0 || slot_addr(h) == 0) return detached_recv(0, pcb, p, err);
  if (p == null) {
    return ev_push(EV_TCP_FIN, h, null, 0, 0, 0, 0, 0) ? ERR_OK : ERR_MEM;
  }
  // The ring takes its own reference; ours goes. Refused (kept by TCP) when full.
  if (!ev_push(EV_TCP_RECV, h, p, p.tot_len, 0, 0, 0, 0)) return ERR_MEM;
  pbuf_free(p);
  return ERR_OK;
}

/** After the host closed: data still arriving (half-close) is acknowledged and dropped. */
function detached_recv(arg: usize, pcb: tcp_pcb, p: pbuf | null, err: err_t): err_t {
  if (p != null) {
    tcp_recved(pcb, p.tot_len);
    pbuf_free(p);
  }
  return ERR_OK;
}

function host_sent(arg: usize, pcb: tcp_pcb, len: u32): err_t {
  const h = <u32>arg;
  const s = slot_addr(h);
  if (s == 0) return ERR_OK;
  const total = load<u32>(s, 8) + len;
  if (ev_push(EV_TCP_SENT, h, null, total, tcp_sndbuf(pcb), tcp_sndqueuelen(pcb), 0, 0)) {
    store<u32>(s, 0, 8);
  } else {
    store<u32>(s, total, 8);
  }
  return ERR_OK;
}

function host_err(arg: usize, err: err_t): void {
  // The pcb is already freed: touch only the table.
  const h = <u32>arg;
  if (h == 0 || slot_addr(h) == 0) return;
  slot_free(h);
  ev_push(EV_TCP_ERR, h, null, <u32>err, 0, 0, 0, 0);
}

function host_poll(arg: usize, pcb: tcp_pcb): err_t {
  const h = <u32>arg;
  if (slot_addr(h) != 0) ev_push(EV_TCP_POLL, h, null, 0, 0, 0, 0, 0);
  return ERR_OK;
}

function install(pcb: tcp_pcb): void {
  tcp_recv(pcb, host_recv);
  tcp_sent(pcb, host_sent);
  tcp_err(pcb, host_err);
}

// ---- exports ------------------------------------------------------------------------------

/**
 * A new host-side pcb of family `ip_type`: 4 (IPv4), 6 (IPv6, in builds with
 * it), 46 (either: a listener that takes both). Returns its handle, or 0 when
 * out of pcbs or the family is unknown.
 */
export function tcp_host_new(ip_type: u32): u32 {
  const t = abi_ip_type(ip_type);
  if (t == 0xff) return 0;
  const pcb = tcp_new_ip_type(t);
  if (pcb == null) return 0;
  const h = slot_new(pcb);
  if (h == 0) {
    tcp_abort(pcb);
    return 0;
  }
  install(pcb);
  return h;
}

/** Binds to the ip_addr at `addr` (unspecified = any) and `port` (0 = ephemeral). */
export function tcp_host_bind(h: u32, addr: usize, port: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || port > 0xffff) return ERR_ARG;
  const a = abi_addr_arg(addr);
  if (a == null) return abi_addr_err;
  return tcp_bind(pcb, a, <u16>port);
}

/** Restricts the pcb to netif `idx` (0 = any). */
export function tcp_host_bind_netif(h: u32, idx: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (idx == 0) { tcp_bind_netif(pcb, null); return ERR_OK; }
  const n = netif_get_by_index(idx);
  if (n == null) return ERR_ARG;
  tcp_bind_netif(pcb, n);
  return ERR_OK;
}

/**
 * Listens with a backlog of `backlog` pending connections (1..255). The
 * handle stays the same; new connections arrive as EV_TCP_ACCEPT.
 */
export function tcp_host_listen(h: u32, backlog: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  const b: u8 = backlog == 0 ? 1 : backlog > 255 ? 255 : <u8>backlog;
  const lpcb = tcp_listen_with_backlog(pcb, b);
  if (lpcb == null) return tcp_listen_err; // the original pcb is still ours and unchanged
  // lwIP frees the original pcb and returns a listen pcb: move the handle over.
  handle_set(handles, h, changetype<usize>(lpcb));
  lpcb.host = h;
  lpcb.flags |= TF_HOST;
  tcp_arg(lpcb, <usize>h);
  tcp_accept(lpcb, host_accept);
  return ERR_OK;
}

/** lwIP tcp_backlog_delayed / _accepted for an accepted connection. */
export function tcp_host_backlog(h: u32, delayed: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (delayed != 0) tcp_backlog_delayed(pcb); else tcp_backlog_accepted(pcb);
  return ERR_OK;
}

/** Connects to the ip_addr at `addr`, port `port`; EV_TCP_CONNECTED (or EV_TCP_ERR) follows. */
export function tcp_host_connect(h: u32, addr: usize, port: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || port == 0 || port > 0xffff) return ERR_ARG;
  const a = abi_addr_arg(addr);
  if (a == null) return abi_addr_err;
  return tcp_connect(pcb, a, <u16>port, host_connected);
}

/** The shared write buffer (TCP_TX_BUF_SIZE bytes): write here, then tcp_host_write. */
export function tcp_tx_buffer(): usize {
  if (tx_buf == 0) tx_buf = heap.alloc(<usize>TCP_TX_BUF_SIZE);
  return tx_buf;
}

/**
 * Queues up to `len` bytes at `data` (core memory) for sending: copies
 * min(len, tcp_sndbuf) bytes into the send queue. `flags`:
 * TCP_WRITE_FLAG_MORE (2, no PSH: more follows), TCP_HOST_WRITE_OUTPUT (0x80,
 * send now). Returns the bytes queued (0: queue full, wait for EV_TCP_SENT)
 * or an err_t (ERR_CONN not connected, ERR_ARG bad handle).
 */
export function tcp_host_write(h: u32, data: usize, len: u32, flags: u32): i32 {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (pcb.state == LISTEN) return ERR_CONN;
  let n = tcp_sndbuf(pcb);
  if (n > len) n = len;
  if (n > 0x7fffffff) n = 0x7fffffff;
  let err: err_t = ERR_OK;
  if (n > 0) {
    const more = n < len || (flags & TCP_WRITE_FLAG_MORE) != 0;
    err = tcp_write(pcb, data, n, TCP_WRITE_FLAG_COPY | (more ? TCP_WRITE_FLAG_MORE : 0));
    // Short of segments or pbufs: nothing queued, try again after SENT.
    if (err == ERR_MEM) { n = 0; err = ERR_OK; }
  }
  if (err != ERR_OK) return err;
  if ((flags & TCP_HOST_WRITE_OUTPUT) != 0) {
    const e = tcp_output(pcb);
    if (e != ERR_OK && e != ERR_MEM) return e;
  }
  return <i32>n;
}

/** lwIP tcp_output: sends what the window allows now. */
export function tcp_host_output(h: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (pcb.state == LISTEN) return ERR_CONN;
  return tcp_output(pcb);
}

/** The host consumed `len` received bytes: reopen the window by that much. */
export function tcp_host_recved(h: u32, len: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  tcp_recved(pcb, len);
  return ERR_OK;
}

export function tcp_host_sndbuf(h: u32): u32 {
  const pcb = host_pcb(h);
  return pcb != null ? tcp_sndbuf(pcb) : 0;
}

export function tcp_host_sndqueuelen(h: u32): u32 {
  const pcb = host_pcb(h);
  return pcb != null ? tcp_sndqueuelen(pcb) : 0;
}

/** The pcb's tcp_state (0 CLOSED … 10 TIME_WAIT), or -1 for a dead handle. */
export function tcp_host_state(h: u32): i32 {
  const pcb = host_pcb(h);
  return pcb != null ? <i32>tcp_state_of(pcb) : -1;
}

/**
 * Writes the local (`which` 0) or remote (1) address to `out` (an ip_addr)
 * and returns that port. A listener's remote end is the unspecified address,
 * port 0. ERR_ARG for a dead handle or a bad pointer.
 */
export function tcp_host_addr(h: u32, which: u32, out: usize): i32 {
  const pcb = host_pcb(h);
  if (pcb == null || which > 1) return ERR_ARG;
  if (which == 0) return abi_addr_out(out, ip_pcb_local(pcb)) ? <i32>pcb.local_port : ERR_ARG;
  if (pcb.state == LISTEN) {
    const r = changetype<ip_addr>(any_out);
    ip_addr_set_any(r, ip_pcb_local(pcb).type);
    return abi_addr_out(out, r) ? 0 : ERR_ARG;
  }
  return abi_addr_out(out, ip_pcb_remote(pcb)) ? <i32>pcb.remote_port : ERR_ARG;
}
const any_out: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

/**
 * Closes (lwIP tcp_close: FIN after queued data; a listener is freed). On
 * success the handle is dead at once and nothing more is reported; ERR_MEM
 * means try again later (lwIP).
 */
export function tcp_host_close(h: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  // Quiet the pcb first: tcp_close may free it at once (listeners, SYN_SENT).
  quiet(pcb);
  const err = tcp_close(pcb);
  if (err != ERR_OK) {
    // lwIP: ERR_MEM, no room for the FIN; the pcb is unchanged and still ours.
    pcb.flags |= TF_HOST;
    pcb.host = h;
    tcp_arg(pcb, <usize>h);
    install(pcb);
    if (pcb.state == LISTEN) tcp_accept(pcb, host_accept);
    return err;
  }
  slot_free(h);
  return ERR_OK;
}

/** lwIP tcp_shutdown: `rx` ≠ 0 stops receiving, `tx` ≠ 0 sends FIN. Both: like close. */
export function tcp_host_shutdown(h: u32, rx: u32, tx: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (rx != 0 && tx != 0) return tcp_host_close(h);
  return tcp_shutdown(pcb, rx != 0, tx != 0);
}

/** Aborts (RST); the handle is dead at once (no EV_TCP_ERR follows). */
export function tcp_host_abort(h: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  detach(pcb);
  tcp_abort(pcb);
  return ERR_OK;
}

/** Nagle's algorithm on (≠ 0) or off. */
export function tcp_host_nagle(h: u32, on: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (on != 0) tcp_nagle_enable(pcb); else tcp_nagle_disable(pcb);
  return ERR_OK;
}

/** Keepalive on/off with idle time, probe interval (ms) and probe count (0 = keep current). */
export function tcp_host_keepalive(h: u32, on: u32, idle_ms: u32, intvl_ms: u32, cnt: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (pcb.state == LISTEN) return ERR_CONN; // a listener has no connection fields
  if (on != 0) pcb.so_options |= SOF_KEEPALIVE; else pcb.so_options &= ~SOF_KEEPALIVE;
  tcp_keepalive_set(pcb, idle_ms != 0 ? idle_ms : pcb.keep_idle, intvl_ms != 0 ? intvl_ms : pcb.keep_intvl,
    cnt != 0 ? cnt : pcb.keep_cnt);
  return ERR_OK;
}

/** Sets (`on` ≠ 0) or clears SOF_* options (SOF_REUSEADDR 0x04, SOF_KEEPALIVE 0x08). */
export function tcp_host_set_options(h: u32, sof: u32, on: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || sof > 0xff) return ERR_ARG;
  if (on != 0) pcb.so_options |= <u8>sof; else pcb.so_options &= ~<u8>sof;
  return ERR_OK;
}

/** Congestion control: 0 NewReno, 1 CUBIC (tcp_cc.ts CcAlgo). */
export function tcp_host_set_cc(h: u32, algo: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || algo > 1) return ERR_ARG;
  tcp_set_cc(pcb, algo);
  return ERR_OK;
}

export function tcp_host_set_prio(h: u32, prio: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || prio > 255) return ERR_ARG;
  tcp_setprio(pcb, <u8>prio);
  return ERR_OK;
}

/** Unicast TTL / hop limit and TOS of what the pcb sends; TTL 0 is the default (64, or over IPv6 the link's RA Cur Hop Limit). */
export function tcp_host_set_ttl_tos(h: u32, ttl: u32, tos: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || ttl > 255 || tos > 255) return ERR_ARG;
  pcb.ttl = <u8>ttl;
  pcb.tos = <u8>tos;
  return ERR_OK;
}

/** EV_TCP_POLL every `interval` coarse ticks (lwIP: 500 ms units); 0 = off. */
export function tcp_host_poll(h: u32, interval: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || interval > 255) return ERR_ARG;
  if (pcb.state == LISTEN) return ERR_CONN;
  tcp_poll(pcb, interval != 0 ? host_poll : null, <u8>interval);
  return ERR_OK;
}

/** Half-open connections (SYN_RCVD) the listener `h` keeps before dropping the oldest (default 16). */
export function tcp_host_set_syn_queue(h: u32, n: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || pcb.state != LISTEN || n > 0xffff) return ERR_ARG;
  tcp_set_syn_queue(pcb, <u16>n);
  return ERR_OK;
}

/** Bytes of one connection pcb (a pool element), for memory figures. */
export function tcp_host_pcb_size(): u32 {
  return TCP_PCB_SIZE;
}

/** TIME_WAIT duration for every connection from now on, ms (default 2*MSL = 60 s; tests shorten it). */
export function tcp_host_set_time_wait(ms: u32): void {
  tcp_set_time_wait(ms);
}

// ---- built-in services -------------------------------------------------------------------

/**
 * Starts a built-in TCP service on `port`: `kind` 0 echo (RFC 862), 1 discard
 * (RFC 863), 2 chargen (RFC 864), 3 http (test responder: GET / and
 * GET /bytes/N). Returns a handle > 0 for service_tcp_stop, or an err_t.
 */
export function service_tcp(kind: u32, port: u32): isize {
  if (port == 0 || port > 0xffff || kind > 3) return ERR_ARG;
  return tcp_service_start(kind, <u16>port);
}

export function service_tcp_stop(handle: usize): void {
  tcp_service_stop(handle);
}
