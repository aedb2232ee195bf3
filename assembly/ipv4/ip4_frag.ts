// ip4_frag: IPv4 fragmentation and reassembly (RFC 791 §2.3 and §3.2,
// RFC 815, RFC 1122 §3.3.2; lwIP's ip4_frag.c feature set).
//
// ## Reassembly (ip4_reass)
//
// A datagram is identified by (source, destination, identification,
// protocol) (RFC 791 §3.2). Each one being reassembled has an
// `ip_reassdata` from MEMP.REASSDATA; the list runs oldest first, so the
// head is the one to evict when memory runs short.
//
// The fragments of a datagram are kept as their own pbuf chains, ordered by
// fragment offset. Instead of RFC 815's explicit hole descriptors the holes
// are the gaps between neighbours in that ordered list (the equivalent
// formulation): the datagram is complete when the first fragment starts at 0,
// each one starts where the previous one ends, and the last one ends where the
// fragment without MF said the datagram ends.
//
// The IP header of a stored fragment is no longer needed once its offset and
// length are known (the first fragment's header is saved in the
// ip_reassdata), so the list links and the fragment's extent are written over
// the first 16 bytes of that header (lwIP does the same with its
// ip_reass_helper). The first fragment's header is copied back before the
// datagram is handed on or quoted in an ICMP error.
//
//   struct frag_helper (16 bytes), over the fragment's IP header:
//   +0  next   usize  next fragment's pbuf, higher offset, 0 at the end
//   +4  start  u32    first payload byte's offset in the datagram
//   +8  end    u32    offset one past the last payload byte
//   +12 hlen   u16    this fragment's IP header length (stripped on completion)
//   +14 last   u16    1 when MF was clear (this fragment ends the datagram)
//
//   struct ip_reassdata (56 bytes, MEMP.REASSDATA reserves 64):
//   +0  next      usize  next (younger) datagram in reassembly
//   +4  frags     usize  fragment with the lowest offset (pbuf), 0 if none
//   +8  created   u32    sys_now() when its first fragment arrived
//   +12 data_len  u32    payload length, known once the last fragment came
//   +16 clen      u32    pbufs its fragments hold (counted against IP_REASS_MAX_PBUFS)
//   +20 flags     u32    REASS_LAST / REASS_FIRST / REASS_DEAD
//   +24 src u32  +28 dest u32  +32 id u16  +34 proto u8  +35 pad
//   +36 hdr       20 bytes: the IP header of the fragment at offset 0
//                 (of the first fragment to arrive until that one comes)
//
// Policy (every drop is counted, Proto.IPFRAG):
// * Overlapping fragments drop the whole datagram, and fragments of it that
//   arrive later are discarded too until its reassembly time runs out
//   (RFC 5722 §3 policy, applied to IPv4: overlaps are how the "teardrop" and
//   overlapping-header attacks work, and no honest sender makes them).
//   Counted as proterr; the datagram's fragments as drop.
// * An exact duplicate (same offset, same length, same MF) is not an overlap:
//   the network duplicates packets. The copy that arrives later is dropped,
//   the datagram is kept (RFC 8200 §4.5 allows the same for IPv6). Counted as
//   drop. The bytes are not compared: the first copy wins either way.
// * A second fragment without MF that ends elsewhere, a fragment past the end
//   that fragment announced, or a last fragment that ends before data already
//   received are contradictions: the whole datagram goes (proterr).
// * A fragment with MF whose payload is not a multiple of 8 bytes or is empty
//   (RFC 791 §3.2: every fragment but the last carries a multiple of 8
//   octets), or one that would put the datagram past 65535 bytes (the "ping
//   of death"), is dropped alone (lenerr).
// * Memory is bounded: at most MEMP_NUM_REASSDATA datagrams (the pool) and at
//   most IP_REASS_MAX_PBUFS pbufs held in total. When a new fragment does not
//   fit, the oldest other datagrams are dropped until it does (memerr each);
//   if it still cannot fit, the fragment itself is dropped.
// * A datagram not complete IP_REASS_MAXAGE seconds after its first fragment
//   arrived is dropped (RFC 1122 §3.3.2; counted as err). If its offset-0
//   fragment had arrived, an ICMP Time Exceeded, code 1 "fragment reassembly
//   time exceeded" (RFC 792) quotes it. Evicted or poisoned datagrams send
//   nothing: their time did not run out.
//
// The timer is a 1 s cyclic timeout that runs only while something is being
// reassembled (an idle stack has no timers, DESIGN.md), so a datagram times
// out between IP_REASS_MAXAGE and IP_REASS_MAXAGE + 1 seconds after its first
// fragment.
//
// The reassembled datagram is the offset-0 fragment's chain with the other
// fragments' payloads chained after it: one IP header (the first fragment's,
// with its options), total length set, MF and offset cleared, and the header
// checksum RECOMPUTED, so raw sockets and loopback see a valid header.
//
// ## Fragmentation (ip4_frag)
//
// Splits an outgoing datagram into fragments that fit the netif's MTU
// (RFC 791 §3.2 "An Example Fragmentation Procedure"). Each fragment is a new
// PBUF_RAM pbuf with the header and a copy of its share of the payload: the
// fragments sit in the TX ring (or the ARP queue) after ip4_frag returns, so
// they must not point into the caller's packet, which the caller frees. The
// first fragment carries the whole header; later ones carry only the options
// whose copied flag is set (RFC 791 §3.1 "Options"). Fragments of a fragment
// (forwarding) keep the original offset and the original MF on the last one.
//
// ## Counters
//
// Proto.IPFRAG: recv = fragments given to ip4_reass, xmit = fragments sent,
// fw = datagrams reassembled (handed back up to ip4_input), drop = fragments
// discarded, lenerr / proterr / memerr as above, err = datagrams timed out.
// The MIB-II style counters (RFC 4293 ipSystemStats: ReasmReqds, ReasmOKs,
// ReasmFails, OutFragOKs, OutFragFails, OutFragCreates) are six u32 in static
// memory at `ip4_frag_mib_base()`, for the host to read.

import { IP_REASS_MAX_PBUFS, IP_REASS_MAXAGE_S } from "../config";
import { err_t, ERR_OK, ERR_MEM, ERR_VAL, ERR_BUF } from "../core/err";
import { MEMP, memp_malloc, memp_free } from "../core/memp";
import {
  pbuf, pbuf_alloc, pbuf_free, pbuf_clen, pbuf_realloc, pbuf_free_header,
  pbuf_copy_partial, pbuf_layer, pbuf_type,
} from "../core/pbuf";
import { inet_chksum } from "../core/chksum";
import { STATS_INC, Proto, Ctr } from "../core/stats";
import { sys_now, sys_timeout_cyclic, sys_untimeout } from "../core/timeouts";
import { netif } from "../netif/netif";
import { netif_output4 } from "../netif/netif";
import { icmp_time_exceeded, ICMP_TE_FRAG } from "./icmp";
import { ip4_nexthop } from "./ip4";
import {
  IP_HLEN, IP_MF, IP_DF, IP_OFFMASK,
  ip4_hdr_hlen, ip4_hdr_len, ip4_hdr_id, ip4_hdr_offset, ip4_hdr_proto, ip4_hdr_src, ip4_hdr_dest,
  ip4_hdr_set_len, ip4_hdr_set_offset, ip4_hdr_set_chksum, ip4_hdr_set_vhl,
} from "./ip4_hdr";

/**
 * Seconds a datagram may take to reassemble (lwIP IP_REASS_MAXAGE). RFC 1122
 * §3.3.2 suggests 60–120 s; lwIP's 15 s keeps memory free on small hosts.
 * Override with `--use ASIP_IP_REASS_MAXAGE=n`.
 */
export const IP_REASS_MAXAGE: u32 = <u32>IP_REASS_MAXAGE_S;
/** Period of the reassembly timer (lwIP IP_TMR_INTERVAL). */
export const IP_TMR_INTERVAL: u32 = 1000;

/** Largest IPv4 datagram (the total length field is 16 bits). */
const IP_MAX_DATAGRAM: u32 = 0xffff;

// ---- MIB-II counters (RFC 4293 ipSystemStatsTable names) --------------------

export const enum FragMib {
  /** Fragments received that needed reassembly. */
  REASM_REQDS = 0,
  /** Datagrams reassembled. */
  REASM_OKS = 1,
  /** Datagrams (or lone fragments) given up: timeouts, errors, evictions. */
  REASM_FAILS = 2,
  /** Datagrams fragmented and sent. */
  FRAG_OKS = 3,
  /** Datagrams that needed fragmenting and could not be sent. */
  FRAG_FAILS = 4,
  /** Fragments made. */
  FRAG_CREATES = 5,
}
export const FRAG_MIB_COUNT: i32 = 6;
const mib: usize = memory.data(FRAG_MIB_COUNT * 4, 4);

// @ts-ignore: decorator
@inline function MIB_INC(c: FragMib): void {
  const a = mib + (<usize>c << 2);
  store<u32>(a, load<u32>(a) + 1);
}

/** Address of the FragMib counters (FRAG_MIB_COUNT u32s). */
export function ip4_frag_mib_base(): usize { return mib; }
export function ip4_frag_mib(c: FragMib): u32 { return load<u32>(mib + (<usize>c << 2)); }

// ---- the structures ---------------------------------------------------------

@unmanaged
class frag_helper {
  next: usize;
  start: u32;
  end: u32;
  hlen: u16;
  last: u16;
}

const REASS_LAST: u32 = 1;  // the fragment without MF arrived: data_len is known
const REASS_FIRST: u32 = 2; // the fragment at offset 0 arrived: hdr is its header
const REASS_DEAD: u32 = 4;  // dropped for overlap; later fragments are discarded

@unmanaged
class ip_reassdata {
  next: usize;
  frags: usize;
  created: u32;
  data_len: u32;
  clen: u32;
  flags: u32;
  src: u32;
  dest: u32;
  id: u16;
  proto: u8;
  _pad: u8;
  hdr0: u32; hdr1: u32; hdr2: u32; hdr3: u32; hdr4: u32;
}

export const IP_REASSDATA_SIZE: u32 = offsetof<ip_reassdata>();

// @ts-ignore: decorator
@inline function hdr_copy(r: ip_reassdata): usize {
  return changetype<usize>(r) + offsetof<ip_reassdata>("hdr0");
}

// @ts-ignore: decorator
@inline function helper_of(p: usize): frag_helper {
  return changetype<frag_helper>(changetype<pbuf>(p).payload);
}

/** Datagrams being reassembled, oldest first. */
let reassdatagrams: usize = 0;
/** pbufs held by all of them. */
let reass_pbufcount: u32 = 0;
/** Is ip_reass_tmr scheduled? */
let timer_on = false;

/** Resets reassembly (nothing in progress, no timer). Called by asip_init. */
export function ip4_frag_init(): void {
  // memp_set_size is not needed: ip_reassdata fits the 64 bytes reserved.
  while (reassdatagrams != 0) {
    free_datagram(changetype<ip_reassdata>(reassdatagrams));
  }
  reass_pbufcount = 0;
  stop_timer();
}

/** Datagrams in reassembly (tests, stats). */
export function ip4_reass_datagrams(): u32 {
  let n: u32 = 0;
  for (let r = reassdatagrams; r != 0; r = changetype<ip_reassdata>(r).next) n++;
  return n;
}

/** pbufs held by reassembly (tests, stats). */
export function ip4_reass_pbufcount(): u32 { return reass_pbufcount; }

// ---- timer ------------------------------------------------------------------

function start_timer(): bool {
  if (timer_on) return true;
  if (sys_timeout_cyclic(IP_TMR_INTERVAL, ip_reass_tmr, 0) != ERR_OK) return false;
  timer_on = true;
  return true;
}

function stop_timer(): void {
  if (!timer_on) return;
  sys_untimeout(ip_reass_tmr, 0);
  timer_on = false;
}

/**
 * Every second while reassembly is in progress: drop datagrams older than
 * IP_REASS_MAXAGE, with an ICMP Time Exceeded when their first fragment came
 * (RFC 1122 §3.3.2, RFC 792).
 */
export function ip_reass_tmr(arg: usize): void {
  const now = sys_now();
  let cur = reassdatagrams;
  while (cur != 0) {
    const r = changetype<ip_reassdata>(cur);
    const next = r.next;
    if (now - r.created >= IP_REASS_MAXAGE * 1000) {
      const dead = (r.flags & REASS_DEAD) != 0;
      if (!dead) {
        STATS_INC(Proto.IPFRAG, Ctr.ERR);
        MIB_INC(FragMib.REASM_FAILS);
      }
      unlink(r);
      if (!dead && (r.flags & REASS_FIRST) != 0 && r.frags != 0
          && helper_of(r.frags).start == 0) {
        // Quote the first fragment as it arrived: its header comes back.
        const first = changetype<pbuf>(r.frags);
        r.frags = helper_of(r.frags).next;
        restore_header(r, first);
        icmp_time_exceeded(first, ICMP_TE_FRAG);
        STATS_INC(Proto.IPFRAG, Ctr.DROP);
        pbuf_free(first);
      }
      release(r);
    }
    cur = next;
  }
  if (reassdatagrams == 0) stop_timer();
}

// ---- datagram list ------------------------------------------------------------

function find(src: u32, dest: u32, id: u16, proto: u8): ip_reassdata | null {
  for (let cur = reassdatagrams; cur != 0; cur = changetype<ip_reassdata>(cur).next) {
    const r = changetype<ip_reassdata>(cur);
    if (r.src == src && r.dest == dest && r.id == id && r.proto == proto) return r;
  }
  return null;
}

function unlink(r: ip_reassdata): void {
  const rp = changetype<usize>(r);
  if (reassdatagrams == rp) {
    reassdatagrams = r.next;
    return;
  }
  for (let cur = reassdatagrams; cur != 0; cur = changetype<ip_reassdata>(cur).next) {
    const c = changetype<ip_reassdata>(cur);
    if (c.next == rp) {
      c.next = r.next;
      return;
    }
  }
}

/** Frees the fragments of `r`, counting each as dropped. `r` stays allocated. */
function drop_fragments(r: ip_reassdata): void {
  let f = r.frags;
  while (f != 0) {
    const next = helper_of(f).next;
    pbuf_free(changetype<pbuf>(f));
    STATS_INC(Proto.IPFRAG, Ctr.DROP);
    f = next;
  }
  r.frags = 0;
  reass_pbufcount -= r.clen;
  r.clen = 0;
}

/** Frees an unlinked datagram and what it holds. */
function release(r: ip_reassdata): void {
  drop_fragments(r);
  memp_free(MEMP.REASSDATA, changetype<usize>(r));
}

function free_datagram(r: ip_reassdata): void {
  unlink(r);
  release(r);
}

/**
 * Drops the oldest datagram other than `keep` (lwIP's
 * ip_reass_remove_oldest_datagram). False when there is none.
 */
function evict_oldest(keep: ip_reassdata | null): bool {
  let cur = reassdatagrams;
  if (cur != 0 && cur == changetype<usize>(keep)) cur = changetype<ip_reassdata>(cur).next;
  if (cur == 0) return false;
  const r = changetype<ip_reassdata>(cur);
  if ((r.flags & REASS_DEAD) == 0) {
    STATS_INC(Proto.IPFRAG, Ctr.MEMERR);
    MIB_INC(FragMib.REASM_FAILS);
  }
  free_datagram(r);
  return true;
}

function new_datagram(h: usize): ip_reassdata | null {
  let m = memp_malloc(MEMP.REASSDATA);
  while (m == 0) {
    if (!evict_oldest(null)) return null;
    m = memp_malloc(MEMP.REASSDATA);
  }
  const r = changetype<ip_reassdata>(m);
  memory.fill(m, 0, IP_REASSDATA_SIZE);
  r.created = sys_now();
  r.src = ip4_hdr_src(h);
  r.dest = ip4_hdr_dest(h);
  r.id = ip4_hdr_id(h);
  r.proto = ip4_hdr_proto(h);
  memory.copy(hdr_copy(r), h, IP_HLEN);
  // Youngest last: the head is what evict_oldest takes.
  if (reassdatagrams == 0) {
    reassdatagrams = m;
  } else {
    let c = changetype<ip_reassdata>(reassdatagrams);
    while (c.next != 0) c = changetype<ip_reassdata>(c.next);
    c.next = m;
  }
  return r;
}

/** Writes the saved header of the offset-0 fragment back over its helper. */
function restore_header(r: ip_reassdata, first: pbuf): void {
  memory.copy(first.payload, hdr_copy(r), IP_HLEN);
}

/**
 * Poisons `r` after an overlap or a contradiction: its fragments go, the
 * entry stays (holding no pbufs) until its time runs out so that fragments
 * still on their way are discarded too (RFC 5722 §3).
 */
function poison(r: ip_reassdata): void {
  STATS_INC(Proto.IPFRAG, Ctr.PROTERR);
  MIB_INC(FragMib.REASM_FAILS);
  drop_fragments(r);
  r.flags = REASS_DEAD;
}

function drop_fragment(p: pbuf, ctr: Ctr): void {
  STATS_INC(Proto.IPFRAG, ctr);
  if (ctr != Ctr.DROP) STATS_INC(Proto.IPFRAG, Ctr.DROP);
  pbuf_free(p);
}

// ---- reassembly -----------------------------------------------------------------

/**
 * Takes a fragment (MF set or offset non-zero) with p.payload at its IP
 * header, the header already validated by ip4_input (version, IHL, checksum,
 * p trimmed to the total length). Takes ownership of `p`.
 *
 * Returns the reassembled datagram when this fragment filled the last hole
 * (one pbuf chain, payload at its single IPv4 header, total length and offset
 * rewritten, checksum recomputed; ip4_input re-reads the header from it), or
 * null when the fragment was stored or dropped.
 */
export function ip4_reass(p: pbuf): pbuf | null {
  STATS_INC(Proto.IPFRAG, Ctr.RECV);
  MIB_INC(FragMib.REASM_REQDS);
  const h = p.payload;
  const hlen = ip4_hdr_hlen(h);
  const tot = <u32>ip4_hdr_len(h);
  if (hlen < IP_HLEN || p.len < hlen || tot < hlen || p.tot_len < tot) {
    MIB_INC(FragMib.REASM_FAILS);
    drop_fragment(p, Ctr.LENERR);
    return null;
  }
  if (p.tot_len > tot) pbuf_realloc(p, tot); // link-layer padding
  const off = ip4_hdr_offset(h);
  const last = (off & IP_MF) == 0;
  const start = (<u32>(off & IP_OFFMASK)) << 3;
  const len = tot - hlen;
  const end = start + len;
  // RFC 791 §3.2: all fragments but the last carry a multiple of 8 octets;
  // the datagram, header included, fits a 16-bit total length.
  if ((!last && (len == 0 || (len & 7) != 0)) || end + hlen > IP_MAX_DATAGRAM) {
    MIB_INC(FragMib.REASM_FAILS);
    drop_fragment(p, Ctr.LENERR);
    return null;
  }

  let r = find(ip4_hdr_src(h), ip4_hdr_dest(h), ip4_hdr_id(h), ip4_hdr_proto(h));
  if (r != null && (r.flags & REASS_DEAD) != 0) {
    drop_fragment(p, Ctr.DROP);
    return null;
  }
  const clen = pbuf_clen(p);
  if (clen > <u32>IP_REASS_MAX_PBUFS) {
    MIB_INC(FragMib.REASM_FAILS);
    drop_fragment(p, Ctr.MEMERR);
    return null;
  }
  let created = false;
  if (r == null) {
    r = new_datagram(h);
    if (r == null || !start_timer()) {
      if (r != null) free_datagram(r);
      MIB_INC(FragMib.REASM_FAILS);
      drop_fragment(p, Ctr.MEMERR);
      return null;
    }
    created = true;
  }
  // Bounded memory: make room by dropping older datagrams.
  while (reass_pbufcount + clen > <u32>IP_REASS_MAX_PBUFS) {
    if (!evict_oldest(r)) break;
  }
  if (reass_pbufcount + clen > <u32>IP_REASS_MAX_PBUFS) {
    if (created) free_datagram(r);
    MIB_INC(FragMib.REASM_FAILS);
    drop_fragment(p, Ctr.MEMERR);
    return null;
  }

  const verdict = insert(r, p, start, end, hlen, last);
  if (verdict == INSERT_DUP) {
    drop_fragment(p, Ctr.DROP);
    return null;
  }
  if (verdict == INSERT_BAD) {
    poison(r);
    MIB_INC(FragMib.REASM_FAILS);
    drop_fragment(p, Ctr.DROP);
    return null;
  }
  if (!complete(r)) return null;
  return finish(r);
}

const INSERT_OK: i32 = 0;
const INSERT_DUP: i32 = 1;
const INSERT_BAD: i32 = 2;

/**
 * Puts the fragment [start, end) into r's ordered list, or says why not:
 * INSERT_DUP for an exact duplicate, INSERT_BAD for an overlap or a
 * contradiction about where the datagram ends. Nothing changes unless OK.
 */
function insert(r: ip_reassdata, p: pbuf, start: u32, end: u32, hlen: u32, last: bool): i32 {
  // Where the datagram ends: announced by the fragment without MF.
  if (last) {
    if ((r.flags & REASS_LAST) != 0 && r.data_len != end) return INSERT_BAD;
  } else if ((r.flags & REASS_LAST) != 0 && end > r.data_len) {
    return INSERT_BAD;
  }
  // Find the neighbours: prev starts before `start` (or at it), next after.
  let prev: usize = 0;
  let cur = r.frags;
  while (cur != 0) {
    const c = helper_of(cur);
    if (c.start == start && c.end == end && (c.last != 0) == last) return INSERT_DUP;
    if (c.start > start || (c.start == start && c.end > end)) break;
    prev = cur;
    cur = c.next;
  }
  if (prev != 0 && helper_of(prev).end > start) return INSERT_BAD;
  if (cur != 0 && helper_of(cur).start < end) return INSERT_BAD;
  // A zero-length piece sitting inside or at the edge of another is still
  // a contradiction when it claims to be the end and data lies beyond it.
  if (last) {
    let tail = r.frags;
    while (tail != 0) {
      if (helper_of(tail).end > end) return INSERT_BAD;
      tail = helper_of(tail).next;
    }
  }

  if (start == 0) {
    // Keep the offset-0 header: the reassembled datagram and an ICMP
    // Time Exceeded both need it.
    memory.copy(hdr_copy(r), p.payload, IP_HLEN);
    r.flags |= REASS_FIRST;
  }
  if (last) {
    r.flags |= REASS_LAST;
    r.data_len = end;
  }
  const hp = changetype<usize>(p);
  const fh = helper_of(hp);
  fh.next = cur;
  fh.start = start;
  fh.end = end;
  fh.hlen = <u16>hlen;
  fh.last = last ? 1 : 0;
  if (prev != 0) helper_of(prev).next = hp;
  else r.frags = hp;
  const clen = pbuf_clen(p);
  r.clen += clen;
  reass_pbufcount += clen;
  return INSERT_OK;
}

/** No holes left: starts at 0, contiguous, ends where the last fragment said. */
function complete(r: ip_reassdata): bool {
  if ((r.flags & (REASS_LAST | REASS_FIRST)) != (REASS_LAST | REASS_FIRST)) return false;
  let expect: u32 = 0;
  for (let f = r.frags; f != 0; f = helper_of(f).next) {
    const h = helper_of(f);
    if (h.start != expect) return false;
    expect = h.end;
  }
  return expect == r.data_len;
}

/** Chains the fragments into one datagram and frees `r`. */
function finish(r: ip_reassdata): pbuf | null {
  unlink(r);
  const first = changetype<pbuf>(r.frags);
  const first_hlen = <u32>helper_of(r.frags).hlen;
  const total = first_hlen + r.data_len;
  if (total > IP_MAX_DATAGRAM) {
    // Only possible when the first fragment has more options than the one
    // that set the end had: no 16-bit total length describes the datagram.
    STATS_INC(Proto.IPFRAG, Ctr.LENERR);
    MIB_INC(FragMib.REASM_FAILS);
    release(r);
    if (reassdatagrams == 0) stop_timer();
    return null;
  }
  reass_pbufcount -= r.clen;
  // Strip the other fragments' headers and link their chains behind the first.
  let tail = first;
  while (tail.next) tail = tail.next!;
  let f = helper_of(r.frags).next;
  while (f != 0) {
    const fh = helper_of(f);
    const next = fh.next;
    const rest = pbuf_free_header(changetype<pbuf>(f), <u32>fh.hlen);
    if (rest != null) {
      tail.next = rest;
      tail = rest;
      while (tail.next) tail = tail.next!;
    }
    f = next;
  }
  // tot_len of every pbuf is what remains of the datagram from it on.
  let remain = total;
  for (let q: pbuf | null = first; q; q = q.next) {
    q.tot_len = remain;
    remain -= q.len;
  }
  const h = first.payload;
  restore_header(r, first);
  memp_free(MEMP.REASSDATA, changetype<usize>(r));
  if (reassdatagrams == 0) stop_timer();
  ip4_hdr_set_len(h, <u16>total);
  ip4_hdr_set_offset(h, 0);
  ip4_hdr_set_chksum(h, 0);
  ip4_hdr_set_chksum(h, inet_chksum(h, first_hlen));
  STATS_INC(Proto.IPFRAG, Ctr.FW);
  MIB_INC(FragMib.REASM_OKS);
  return first;
}

// ---- fragmentation ----------------------------------------------------------------

/** Header for the second and later fragments: the copied options only. */
const later_hdr: usize = memory.data(<i32>60, 4);

/**
 * Builds at `later_hdr` the header of non-first fragments from the header `h`
 * (hlen bytes): the fixed 20 bytes, then each option whose copied flag (the
 * type's high bit) is set, padded with End of Option List to a multiple of 4
 * (RFC 791 §3.1). Returns its length.
 */
function build_later_header(h: usize, hlen: u32): u32 {
  memory.copy(later_hdr, h, IP_HLEN);
  let out: u32 = IP_HLEN;
  let i: u32 = IP_HLEN;
  while (i < hlen) {
    const type = load<u8>(h + i);
    if (type == 0) break; // End of Option List
    if (type == 1) { i++; continue; } // No Operation: not copied
    if (i + 1 >= hlen) break;
    const olen = <u32>load<u8>(h + i + 1);
    if (olen < 2 || i + olen > hlen) break; // malformed: copy nothing more
    if (type & 0x80) {
      memory.copy(later_hdr + out, h + i, olen);
      out += olen;
    }
    i += olen;
  }
  const padded = (out + 3) & ~3;
  memory.fill(later_hdr + out, 0, padded - out);
  ip4_hdr_set_vhl(later_hdr, padded);
  return padded;
}

/**
 * Sends the datagram `p` (payload at its IP header, header complete and
 * checksummed, DF clear, p.tot_len > n.mtu) as fragments of at most n.mtu
 * bytes through n's output (ARP on Ethernet). The caller keeps its reference to `p`.
 * Returns ERR_OK, ERR_VAL when the MTU cannot carry 8 bytes of payload
 * after the header, ERR_MEM, or the output's error (fragments already
 * sent stay sent).
 */
export function ip4_frag(p: pbuf, n: netif, dest: u32): err_t {
  const h = p.payload;
  const hlen = ip4_hdr_hlen(h);
  if (hlen < IP_HLEN || p.len < hlen || p.tot_len < hlen) {
    MIB_INC(FragMib.FRAG_FAILS);
    return ERR_VAL;
  }
  const data_len = p.tot_len - hlen;
  const later_hlen = build_later_header(h, hlen);
  const mtu = n.mtu;
  if (mtu < hlen + 8 || mtu < later_hlen + 8) {
    MIB_INC(FragMib.FRAG_FAILS);
    return ERR_VAL;
  }
  const field = ip4_hdr_offset(h);
  const base = (<u32>(field & IP_OFFMASK)) << 3; // non-zero when forwarding a fragment
  const nexthop = ip4_nexthop(n, dest);
  let off: u32 = 0;
  do {
    const fhlen = off == 0 ? hlen : later_hlen;
    let chunk = (mtu - fhlen) & ~7;
    let last = false;
    if (chunk >= data_len - off) {
      chunk = data_len - off;
      last = true;
    }
    const q = pbuf_alloc(pbuf_layer.PBUF_LINK, fhlen + chunk, pbuf_type.PBUF_RAM);
    if (q == null) {
      STATS_INC(Proto.IPFRAG, Ctr.MEMERR);
      MIB_INC(FragMib.FRAG_FAILS);
      return ERR_MEM;
    }
    const qh = q.payload;
    memory.copy(qh, off == 0 ? h : later_hdr, fhlen);
    if (pbuf_copy_partial(p, qh + fhlen, chunk, hlen + off) != chunk) {
      pbuf_free(q);
      MIB_INC(FragMib.FRAG_FAILS);
      return ERR_BUF;
    }
    // RFC 791 §3.2: MF on all but the last, which keeps the original's MF.
    const mf: u16 = last ? (field & IP_MF) : IP_MF;
    ip4_hdr_set_offset(qh, (field & IP_DF) | mf | <u16>((base + off) >> 3));
    ip4_hdr_set_len(qh, <u16>(fhlen + chunk));
    ip4_hdr_set_chksum(qh, 0);
    ip4_hdr_set_chksum(qh, inet_chksum(qh, fhlen));
    const err = netif_output4(n, q, nexthop);
    pbuf_free(q);
    if (err != ERR_OK) {
      MIB_INC(FragMib.FRAG_FAILS);
      return err;
    }
    STATS_INC(Proto.IPFRAG, Ctr.XMIT);
    MIB_INC(FragMib.FRAG_CREATES);
    off += chunk;
  } while (off < data_len);
  MIB_INC(FragMib.FRAG_OKS);
  return ERR_OK;
}
