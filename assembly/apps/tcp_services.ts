// tcp_services: small built-in TCP servers for `asip up --serve`, written on
// the in-core raw API the way lwIP's contrib apps are (tcpecho_raw, httpd).
//
//   echo     (7)  RFC 862: every byte comes back. Received data is acknowledged
//                 to the window (tcp_recved) only once it is in the send queue,
//                 so a client that does not read stalls its own sending.
//   discard  (9)  RFC 863: received and dropped (iperf's server side too).
//   chargen (19)  RFC 864: a continuous stream of 72-character lines
//                 ("!\"#$%&...", each line starting one character later) +
//                 CRLF, until the client closes; what it sends is discarded.
//   http    (80)  a test responder, HTTP/1.0 style (one request, then close):
//                 GET /          → a small HTML page
//                 GET /bytes/N   → N bytes (0 ≤ N ≤ 10^12) of the pattern
//                                  below, application/octet-stream
//                 anything else  → 404 (unknown path) / 400 (not a GET) / 405
//
// The /bytes pattern: byte i of the body is PAT[i mod 65521], with
// PAT[k] = ((k * 2654435761) mod 2^32) >> 24 (Knuth's multiplicative hash; a
// prime period so a segment delivered at the wrong offset changes the bytes).
// Clients check it with SHA-256 of the same bytes generated locally.
//
// Streaming (chargen, http) follows the sent callback: each time the peer
// acknowledges data, as much as tcp_sndbuf allows is queued again, straight
// from a precomputed table (one copy into the segment). Nothing is buffered
// per connection beyond a 24-byte state (plus the request line for http).

import { pbuf, pbuf_free, pbuf_copy_partial, pbuf_cat } from "../core/pbuf";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL } from "../core/err";
import { mem_malloc, mem_free } from "../core/mem";
import { ip_addr, ip_addr_set_any, IP_ADDR_SIZE } from "../ip_addr";
import { SERVICE_IP_TYPE } from "./services";
import { SOF_REUSEADDR } from "../udp";
import {
  tcp_pcb, tcp_new_ip_type, tcp_arg, tcp_bind, tcp_listen_with_backlog, tcp_accept, tcp_write, tcp_output,
  tcp_recved, tcp_sndbuf, tcp_recv, tcp_sent, tcp_err, tcp_poll, tcp_close, tcp_abort,
  TCP_WRITE_FLAG_COPY, TCP_WRITE_FLAG_MORE, tcp_set_syn_queue,
} from "../tcp/tcp";
import { MEMP, memp_num } from "../core/memp";

export const SVC_ECHO: u32 = 0;
export const SVC_DISCARD: u32 = 1;
export const SVC_CHARGEN: u32 = 2;
export const SVC_HTTP: u32 = 3;

/** Period of the /bytes pattern (the largest prime below 2^16). */
export const HTTP_PAT_PERIOD: u32 = 65521;
/** One chargen cycle: 95 lines of 72 characters + CRLF. */
const CHARGEN_LINE: u32 = 74;
const CHARGEN_CYCLE: u32 = 95 * CHARGEN_LINE;
/** Longest request head the http responder reads. */
const HTTP_REQ_MAX: u32 = 1024;
/** Poll every 2 coarse ticks (1 s): retries a write that found no memory. */
const POLL_INTERVAL: u8 = 2;

// Tables, built on first start (heap.alloc: outside `mem`, never freed).
let http_pat: usize = 0;
let chargen_pat: usize = 0;

function tables_init(): void {
  if (http_pat != 0) return;
  // The tables are read with `pos mod period` and written from at most one
  // period ahead: keep a second copy behind the first so any window
  // [k, k + period) is contiguous.
  http_pat = heap.alloc(<usize>HTTP_PAT_PERIOD * 2);
  for (let k: u32 = 0; k < HTTP_PAT_PERIOD; k++) {
    const v = <u8>((k * <u32>2654435761) >>> 24);
    store<u8>(http_pat + k, v);
    store<u8>(http_pat + HTTP_PAT_PERIOD + k, v);
  }
  chargen_pat = heap.alloc(<usize>CHARGEN_CYCLE * 2);
  for (let line: u32 = 0; line < 95; line++) {
    const base = chargen_pat + <usize>(line * CHARGEN_LINE);
    for (let c: u32 = 0; c < 72; c++) store<u8>(base + c, <u8>(32 + (line + c) % 95));
    store<u8>(base + 72, 13);
    store<u8>(base + 73, 10);
  }
  memory.copy(chargen_pat + CHARGEN_CYCLE, chargen_pat, CHARGEN_CYCLE);
}

// ---- per-connection state (mem_malloc'd, 32 bytes) -------------------------------------
//
//   +0 kind u32      +4 flags u32 (ST_*)    +8 p usize (echo: data not yet queued)
//   +12 off u32 (echo: bytes of p already queued; http: request bytes read)
//   +16 remaining u64 (bytes still to queue; chargen: unbounded)
//   +24 pos u64 (stream position into the pattern)
//   request head buffer (http): separate block, pointer at +8

const ST_SIZE: u32 = 32;
const ST_FIN: u32 = 1;        // the peer closed
const ST_STREAMING: u32 = 2;  // chargen/http body in progress
const ST_CLOSE_AFTER: u32 = 4; // close once everything is queued

@inline function st_kind(s: usize): u32 { return load<u32>(s); }
@inline function st_flags(s: usize): u32 { return load<u32>(s, 4); }
@inline function st_set_flags(s: usize, f: u32): void { store<u32>(s, f, 4); }
@inline function st_p(s: usize): usize { return load<usize>(s, 8); }
@inline function st_set_p(s: usize, p: usize): void { store<usize>(s, p, 8); }
@inline function st_off(s: usize): u32 { return load<u32>(s, 12); }
@inline function st_set_off(s: usize, v: u32): void { store<u32>(s, v, 12); }
@inline function st_remaining(s: usize): u64 { return load<u64>(s, 16); }
@inline function st_set_remaining(s: usize, v: u64): void { store<u64>(s, v, 16); }
@inline function st_pos(s: usize): u64 { return load<u64>(s, 24); }
@inline function st_set_pos(s: usize, v: u64): void { store<u64>(s, v, 24); }

function st_free(s: usize): void {
  if (s == 0) return;
  const k = st_kind(s);
  const p = st_p(s);
  if (p != 0) {
    if (k == SVC_ECHO) pbuf_free(changetype<pbuf>(p));
    else if (k == SVC_HTTP) mem_free(p);
  }
  mem_free(s);
}

/** Closes `pcb` for good: callbacks off (late data is consumed), state freed. */
function svc_close(pcb: tcp_pcb, s: usize): void {
  tcp_arg(pcb, 0);
  tcp_sent(pcb, null);
  tcp_err(pcb, null);
  tcp_poll(pcb, null, 0);
  tcp_recv(pcb, sink_recv);
  st_free(s);
  if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
}

/** After close: acknowledge and drop whatever still arrives. */
function sink_recv(arg: usize, pcb: tcp_pcb, p: pbuf | null, err: err_t): err_t {
  if (p != null) {
    tcp_recved(pcb, p.tot_len);
    pbuf_free(p);
  }
  return ERR_OK;
}

// ---- listeners -------------------------------------------------------------------------

const any_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

/** Starts service `kind` on `port`. Returns the listen pcb (> 0) or an err_t. */
export function tcp_service_start(kind: u32, port: u16): isize {
  tables_init();
  const pcb = tcp_new_ip_type(SERVICE_IP_TYPE);
  if (pcb == null) return ERR_MEM;
  pcb.so_options |= SOF_REUSEADDR;
  ip_addr_set_any(changetype<ip_addr>(any_addr), SERVICE_IP_TYPE);
  const err = tcp_bind(pcb, changetype<ip_addr>(any_addr), port);
  if (err != ERR_OK) {
    tcp_abort(pcb);
    return err;
  }
  const lpcb = tcp_listen_with_backlog(pcb, 255);
  if (lpcb == null) {
    tcp_abort(pcb);
    return ERR_MEM;
  }
  // Connection requests may come in bursts (a kernel opening 1,000
  // connections at once): let the SYN queue hold as many half-open
  // connections as there are pcbs, as Linux's SYN queue would, rather than
  // evicting half-open ones whose ACK is on its way.
  tcp_set_syn_queue(lpcb, <u16>min<u32>(0xffff, memp_num(MEMP.TCP_PCB)));
  tcp_arg(lpcb, <usize>kind);
  tcp_accept(lpcb, svc_accept);
  return changetype<isize>(lpcb);
}

export function tcp_service_stop(handle: usize): void {
  if (handle != 0) tcp_close(changetype<tcp_pcb>(handle));
}

function svc_accept(arg: usize, newpcb: tcp_pcb | null, err: err_t): err_t {
  if (newpcb == null || err != ERR_OK) return ERR_VAL;
  const s = mem_malloc(ST_SIZE);
  if (s == 0) return ERR_MEM; // TCP aborts the new connection
  memory.fill(s, 0, ST_SIZE);
  const kind = <u32>arg;
  store<u32>(s, kind);
  tcp_arg(newpcb, s);
  tcp_recv(newpcb, svc_recv);
  tcp_sent(newpcb, svc_sent);
  tcp_err(newpcb, svc_err);
  tcp_poll(newpcb, svc_poll, POLL_INTERVAL);
  if (kind == SVC_CHARGEN) {
    st_set_flags(s, ST_STREAMING);
    st_set_remaining(s, 0xffffffffffffffff);
    stream_more(newpcb, s);
  }
  return ERR_OK;
}

function svc_err(arg: usize, err: err_t): void {
  // The pcb is gone already.
  st_free(arg);
}

function svc_poll(arg: usize, pcb: tcp_pcb): err_t {
  if (arg == 0) return ERR_OK;
  return pump(pcb, arg);
}

function svc_sent(arg: usize, pcb: tcp_pcb, len: u32): err_t {
  if (arg == 0) return ERR_OK;
  return pump(pcb, arg);
}

/** Queues whatever the connection has to send; closes when done. ERR_ABRT when it closed the pcb. */
function pump(pcb: tcp_pcb, s: usize): err_t {
  const k = st_kind(s);
  if (k == SVC_ECHO) echo_send(pcb, s);
  else if ((st_flags(s) & ST_STREAMING) != 0) stream_more(pcb, s);
  const f = st_flags(s);
  const done = k == SVC_ECHO ? st_p(s) == 0 : (f & ST_STREAMING) == 0;
  if (done && (f & (ST_FIN | ST_CLOSE_AFTER)) != 0) {
    svc_close(pcb, s);
    return ERR_OK;
  }
  return ERR_OK;
}

function svc_recv(arg: usize, pcb: tcp_pcb, p: pbuf | null, err: err_t): err_t {
  const s = arg;
  if (s == 0) return sink_recv(0, pcb, p, err);
  const k = st_kind(s);
  if (p == null) {
    // The peer is done sending. Echo/http finish what they owe, then close.
    st_set_flags(s, st_flags(s) | ST_FIN);
    if (k == SVC_CHARGEN) {
      // RFC 864: the stream stops when the user closes.
      svc_close(pcb, s);
      return ERR_OK;
    }
    return pump(pcb, s);
  }
  if (k == SVC_DISCARD || k == SVC_CHARGEN) {
    tcp_recved(pcb, p.tot_len);
    pbuf_free(p);
    return ERR_OK;
  }
  if (k == SVC_ECHO) {
    const q = st_p(s);
    if (q == 0) st_set_p(s, changetype<usize>(p));
    else pbuf_cat(changetype<pbuf>(q), p);
    echo_send(pcb, s);
    return ERR_OK;
  }
  // http
  http_recv(pcb, s, p);
  return ERR_OK;
}

// ---- echo --------------------------------------------------------------------------------

/**
 * Queues as much pending data as the send buffer takes. Bytes are
 * acknowledged to the peer's window (tcp_recved) as they move into the
 * send queue: a client that never reads stops being able to send.
 */
function echo_send(pcb: tcp_pcb, s: usize): void {
  let queued: u32 = 0;
  for (;;) {
    const pp = st_p(s);
    if (pp == 0) break;
    const p = changetype<pbuf>(pp);
    const off = st_off(s);
    let n = p.len - off;
    const room = tcp_sndbuf(pcb);
    if (room == 0) break;
    if (n > room) n = room;
    if (n > 0) {
      const more = p.next != null || off + n < p.len;
      if (tcp_write(pcb, p.payload + off, n, TCP_WRITE_FLAG_COPY | (more ? TCP_WRITE_FLAG_MORE : 0)) != ERR_OK) break;
      queued += n;
    }
    if (off + n < p.len) {
      st_set_off(s, off + n);
      break;
    }
    // The first pbuf is done: unlink it and keep the rest. The reference
    // the head held on `rest` moves to st_p (taking another would leak
    // every pbuf after the first of a chain: the pool ran dry after a few
    // full-duplex transfers).
    const rest = p.next;
    const plen = p.len;
    p.next = null;
    p.tot_len = p.len;
    pbuf_free(p);
    st_set_p(s, changetype<usize>(rest));
    st_set_off(s, 0);
    tcp_recved(pcb, plen);
  }
  if (queued > 0) tcp_output(pcb);
}

// ---- chargen and http bodies ---------------------------------------------------------------

function stream_more(pcb: tcp_pcb, s: usize): void {
  const k = st_kind(s);
  const table = k == SVC_CHARGEN ? chargen_pat : http_pat;
  const period: u64 = k == SVC_CHARGEN ? <u64>CHARGEN_CYCLE : <u64>HTTP_PAT_PERIOD;
  let remaining = st_remaining(s);
  let pos = st_pos(s);
  let queued = false;
  while (remaining > 0) {
    let n = <u64>tcp_sndbuf(pcb);
    if (n == 0) break;
    if (n > remaining) n = remaining;
    if (n > period) n = period;
    const more = n < remaining;
    const err = tcp_write(pcb, table + <usize>(pos % period), <u32>n, TCP_WRITE_FLAG_COPY | (more ? TCP_WRITE_FLAG_MORE : 0));
    if (err != ERR_OK) break;
    remaining -= n;
    pos += n;
    queued = true;
  }
  st_set_remaining(s, remaining);
  st_set_pos(s, pos);
  if (remaining == 0) st_set_flags(s, st_flags(s) & ~ST_STREAMING);
  if (queued) tcp_output(pcb);
}

// ---- http ---------------------------------------------------------------------------------

const PAGE_HEAD = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nServer: asip\r\nContent-Length: ";
const PAGE_BODY = "<!DOCTYPE html>\n<html><head><title>asip</title></head><body><h1>asip</h1><p>A lightweight TCP/IP stack in AssemblyScript, answering from inside WebAssembly.</p><p>Try <a href=\"/bytes/1000000\">/bytes/1000000</a>.</p></body></html>\n";
const BYTES_HEAD = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\nServer: asip\r\nContent-Length: ";
const NOT_FOUND = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 10\r\n\r\nnot found\n";
const BAD_REQUEST = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 12\r\n\r\nbad request\n";
const NOT_ALLOWED = "HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 19\r\n\r\nmethod not allowed\n";

/** Scratch for building a response head. */
const head_buf: usize = memory.data(256, 8);

/** Writes the ASCII string `str` at `dst`; returns bytes written. */
function put_ascii(dst: usize, str: string): u32 {
  const n = str.length;
  for (let i = 0; i < n; i++) store<u8>(dst + <usize>i, <u8>str.charCodeAt(i));
  return <u32>n;
}

function put_dec(dst: usize, v: u64): u32 {
  let digits: u32 = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  let t = v;
  for (let i = <i32>digits - 1; i >= 0; i--) {
    store<u8>(dst + <usize>i, <u8>(48 + <u32>(t % 10)));
    t /= 10;
  }
  return digits;
}

/** Queues a complete small response and closes after it. */
function http_respond(pcb: tcp_pcb, s: usize, text: string): void {
  const n = put_ascii(head_buf, text);
  tcp_write(pcb, head_buf, n, TCP_WRITE_FLAG_COPY);
  tcp_output(pcb);
  st_set_flags(s, st_flags(s) | ST_CLOSE_AFTER);
  svc_close(pcb, s);
}

function http_recv(pcb: tcp_pcb, s: usize, p: pbuf): void {
  if ((st_flags(s) & (ST_STREAMING | ST_CLOSE_AFTER)) != 0) {
    // One request per connection: anything after it is ignored.
    tcp_recved(pcb, p.tot_len);
    pbuf_free(p);
    return;
  }
  let buf = st_p(s);
  if (buf == 0) {
    buf = mem_malloc(HTTP_REQ_MAX);
    if (buf == 0) {
      tcp_recved(pcb, p.tot_len);
      pbuf_free(p);
      svc_close(pcb, s);
      return;
    }
    st_set_p(s, buf);
  }
  const have = st_off(s);
  const take = p.tot_len < HTTP_REQ_MAX - have ? p.tot_len : HTTP_REQ_MAX - have;
  pbuf_copy_partial(p, buf + have, take, 0);
  tcp_recved(pcb, p.tot_len);
  pbuf_free(p);
  const len = have + take;
  st_set_off(s, len);
  // Wait for the end of the head (CRLF CRLF, or a bare LF LF from hand-typed requests).
  let end: i32 = -1;
  for (let i: u32 = 0; i + 1 < len; i++) {
    const c = load<u8>(buf + i);
    if (c == 10 && load<u8>(buf + i + 1) == 10) { end = <i32>i; break; }
    if (c == 10 && i + 2 < len && load<u8>(buf + i + 1) == 13 && load<u8>(buf + i + 2) == 10) { end = <i32>i; break; }
  }
  if (end < 0) {
    if (len >= HTTP_REQ_MAX) http_respond(pcb, s, BAD_REQUEST);
    return;
  }
  http_dispatch(pcb, s, buf, len);
}

function match(buf: usize, len: u32, at: u32, lit: string): bool {
  const n = <u32>lit.length;
  if (at + n > len) return false;
  for (let i: u32 = 0; i < n; i++) if (load<u8>(buf + at + i) != <u8>lit.charCodeAt(<i32>i)) return false;
  return true;
}

function http_dispatch(pcb: tcp_pcb, s: usize, buf: usize, len: u32): void {
  if (!match(buf, len, 0, "GET ")) {
    // A method token followed by a space: not ours to serve.
    let sp: u32 = 0;
    while (sp < len && load<u8>(buf + sp) > 32) sp++;
    http_respond(pcb, s, sp > 0 && sp < len && load<u8>(buf + sp) == 32 ? NOT_ALLOWED : BAD_REQUEST);
    return;
  }
  // The path runs to the next space (or line end for HTTP/0.9).
  let e: u32 = 4;
  while (e < len && load<u8>(buf + e) != 32 && load<u8>(buf + e) != 13 && load<u8>(buf + e) != 10) e++;
  if (e == 5 && load<u8>(buf + 4) == 47 /* "/" */) {
    const body = PAGE_BODY;
    let n = put_ascii(head_buf, PAGE_HEAD);
    n += put_dec(head_buf + n, <u64>body.length);
    n += put_ascii(head_buf + n, "\r\n\r\n");
    // head + body in one write (the page is short)
    const total = n + <u32>body.length;
    const tmp = mem_malloc(total);
    if (tmp == 0) { svc_close(pcb, s); return; }
    memory.copy(tmp, head_buf, n);
    put_ascii(tmp + n, body);
    tcp_write(pcb, tmp, total, TCP_WRITE_FLAG_COPY);
    mem_free(tmp);
    tcp_output(pcb);
    svc_close(pcb, s);
    return;
  }
  if (match(buf, len, 4, "/bytes/")) {
    let v: u64 = 0;
    let i: u32 = 11;
    let digits: u32 = 0;
    while (i < e) {
      const c = load<u8>(buf + i);
      if (c < 48 || c > 57 || digits >= 13) { http_respond(pcb, s, NOT_FOUND); return; }
      v = v * 10 + <u64>(c - 48);
      digits++;
      i++;
    }
    if (digits == 0) { http_respond(pcb, s, NOT_FOUND); return; }
    let n = put_ascii(head_buf, BYTES_HEAD);
    n += put_dec(head_buf + n, v);
    n += put_ascii(head_buf + n, "\r\n\r\n");
    // The request head is no longer needed.
    mem_free(buf);
    st_set_p(s, 0);
    if (tcp_write(pcb, head_buf, n, TCP_WRITE_FLAG_COPY | (v > 0 ? TCP_WRITE_FLAG_MORE : 0)) != ERR_OK) {
      svc_close(pcb, s);
      return;
    }
    st_set_remaining(s, v);
    st_set_pos(s, 0);
    st_set_flags(s, st_flags(s) | ST_CLOSE_AFTER | (v > 0 ? ST_STREAMING : 0));
    if (v > 0) stream_more(pcb, s);
    else tcp_output(pcb);
    if ((st_flags(s) & ST_STREAMING) == 0) svc_close(pcb, s);
    return;
  }
  http_respond(pcb, s, NOT_FOUND);
}
