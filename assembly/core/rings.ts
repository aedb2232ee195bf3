// rings: how the core hands frames and events to the host.
//
// The core never calls out. Frames to transmit and events for host-side pcbs
// are appended to two rings in linear memory; after every call the host reads
// what was appended, handles it, and tells the core how many entries it is
// done with (tx_done / ev_done), which releases the pbufs they hold. One call
// can carry any number of frames and events, and nothing crosses the
// boundary per byte.
//
// Both rings are single-producer (core) single-consumer (host). `head` counts
// entries ever written, `tail` entries ever released; both wrap at 2^32 and
// the entry for count n is at index n & (capacity - 1).
//
//   TX ring header (16 bytes) then TX_RING_SIZE entries of 16 bytes:
//   +0 head u32   +4 tail u32   +8 capacity u32   +12 dropped u32 (ring full)
//   entry: +0 p usize (pbuf chain of one frame)   +4 netif u32 (netif index)
//          +8 payload usize  +12 len u32   (the first pbuf's payload and
//          length when queued: the frame's first bytes)
//
// The first pbuf's payload and length are recorded at push time because the
// caller still owns the pbuf and moves its payload pointer back as soon as
// linkoutput returns (ethernet_output removes the header it added). The bytes
// themselves must not change while queued: a sender that rewrites a queued
// pbuf (a TCP retransmission) checks `ref` first, as lwIP's TCP does.
//
//   event ring header (16 bytes) then EVENT_RING_SIZE records of 32 bytes:
//   +0 head u32   +4 tail u32   +8 capacity u32   +12 dropped u32
//   record: +0 type u16  +2 flags u16  +4 handle u32  +8 p usize (pbuf or 0)
//           +12 a u32  +16 b u32  +20 c u32  +24 d u32  +28 e u32
//
// A frame's pbuf is referenced by the ring until tx_done; an event's pbuf
// (payload of a received datagram or segment) until ev_done, unless the host
// took it over with ev_take (then the host frees it later with pbuf_free).

//
// Addresses in events. Records that name addresses (UDP and raw receive,
// UDP ICMP errors, TCP accept, IPv6 address changes) carry an IPv4 address
// in a u32 argument, network order, as everywhere in the ABI. An IPv6
// address does not fit: then the record's flags have EV_FLAG_IP6, and each
// address argument is instead the pointer to an ip_addr (20 bytes,
// ip_addr.ts) in the record's address area (two per record), valid until
// the record is released. The area exists only with LWIP_IPV6.

import { TX_RING_SIZE, EVENT_RING_SIZE, LWIP_IPV6 } from "../config";
import { pbuf, pbuf_free, pbuf_ref } from "./pbuf";
import { ip_addr, ip_addr_copy, IP_IS_V6, IP_ADDR_SIZE } from "../ip_addr";

export const RING_HDR: usize = 16;
export const TX_ENTRY: usize = 16;
export const EV_RECORD: usize = 32;

// Capacities are powers of two so the index is a mask.
const TX_CAP: u32 = <u32>(1 << (32 - clz<u32>(<u32>TX_RING_SIZE - 1)));
const EV_CAP: u32 = <u32>(1 << (32 - clz<u32>(<u32>EVENT_RING_SIZE - 1)));

export let tx_ring: usize = 0;
export let ev_ring: usize = 0;
/** LWIP_IPV6: two ip_addrs per event record (see the file comment). */
let ev_addrs: usize = 0;

/** Flag of an event record whose address arguments are ip_addr pointers (IPv6). */
export const EV_FLAG_IP6: u16 = 0x0001;

export function rings_init(): void {
  tx_ring = heap.alloc(RING_HDR + <usize>TX_CAP * TX_ENTRY);
  memory.fill(tx_ring, 0, RING_HDR);
  store<u32>(tx_ring, TX_CAP, 8);
  ev_ring = heap.alloc(RING_HDR + <usize>EV_CAP * EV_RECORD);
  memory.fill(ev_ring, 0, RING_HDR);
  store<u32>(ev_ring, EV_CAP, 8);
  if (LWIP_IPV6) ev_addrs = heap.alloc(<usize>EV_CAP * 2 * IP_ADDR_SIZE);
}

/**
 * Queues one frame for the host. Takes its own reference on `p`: the caller
 * keeps (and frees) its reference as with any netif linkoutput. Returns false
 * (and counts it) when the ring is full.
 */
export function tx_push(p: pbuf, netif_idx: u32): bool {
  const head = load<u32>(tx_ring);
  if (head - load<u32>(tx_ring, 4) >= TX_CAP) {
    store<u32>(tx_ring, load<u32>(tx_ring, 12) + 1, 12);
    return false;
  }
  const e = tx_ring + RING_HDR + <usize>(head & (TX_CAP - 1)) * TX_ENTRY;
  pbuf_ref(p);
  store<usize>(e, changetype<usize>(p));
  store<u32>(e, netif_idx, 4);
  store<usize>(e, p.payload, 8);
  store<u32>(e, p.len, 12);
  store<u32>(tx_ring, head + 1);
  return true;
}

/** Frames queued and not yet released by the host. */
export function tx_pending(): u32 {
  return load<u32>(tx_ring) - load<u32>(tx_ring, 4);
}

/** The host is done with the oldest `n` frames: release their pbufs. */
export function tx_done(n: u32): void {
  let tail = load<u32>(tx_ring, 4);
  const head = load<u32>(tx_ring);
  if (n > head - tail) n = head - tail;
  for (let i: u32 = 0; i < n; i++) {
    const e = tx_ring + RING_HDR + <usize>(tail & (TX_CAP - 1)) * TX_ENTRY;
    pbuf_free(changetype<pbuf>(load<usize>(e)));
    store<usize>(e, 0);
    tail++;
  }
  store<u32>(tx_ring, tail, 4);
}

/**
 * Appends an event. `p`, when not null, is referenced by the ring until the
 * host releases the record. Returns false (and counts it) when the ring is full.
 */
export function ev_push(type: u16, handle: u32, p: pbuf | null, a: u32, b: u32, c: u32, d: u32, e: u32): bool {
  return ev_push_flags(type, 0, handle, p, a, b, c, d, e);
}

/** The record flags for address arguments like `a`: EV_FLAG_IP6 when it is IPv6. */
// @ts-ignore: decorator
@inline export function ev_addr_flags(a: ip_addr): u16 { return IP_IS_V6(a) ? EV_FLAG_IP6 : 0; }

/**
 * The argument that carries `a` in the next record pushed: the IPv4 address
 * itself, or (IPv6) the pointer to a copy in that record's address slot `k`
 * (0 or 1). Evaluate it as an argument of the ev_push_flags that follows.
 */
// @ts-ignore: decorator
@inline export function ev_addr(a: ip_addr, k: u32): u32 {
  if (!IP_IS_V6(a)) return a.a0;
  return ev_addr6(a, k);
}

function ev_addr6(a: ip_addr, k: u32): u32 {
  const head = load<u32>(ev_ring);
  // A full ring's next slot is still the oldest record's: leave it (the push fails anyway).
  if (head - load<u32>(ev_ring, 4) >= EV_CAP) return 0;
  const s = ev_addrs + (<usize>(head & (EV_CAP - 1)) * 2 + <usize>k) * IP_ADDR_SIZE;
  ip_addr_copy(changetype<ip_addr>(s), a);
  return <u32>s;
}

/** ev_push with record flags (EV_FLAG_IP6: the address arguments are ip_addr pointers). */
export function ev_push_flags(type: u16, flags: u16, handle: u32, p: pbuf | null, a: u32, b: u32, c: u32, d: u32, e: u32): bool {
  const head = load<u32>(ev_ring);
  if (head - load<u32>(ev_ring, 4) >= EV_CAP) {
    store<u32>(ev_ring, load<u32>(ev_ring, 12) + 1, 12);
    return false;
  }
  const r = ev_ring + RING_HDR + <usize>(head & (EV_CAP - 1)) * EV_RECORD;
  store<u16>(r, type);
  store<u16>(r, flags, 2);
  store<u32>(r, handle, 4);
  if (p) pbuf_ref(p);
  store<usize>(r, changetype<usize>(p), 8);
  store<u32>(r, a, 12);
  store<u32>(r, b, 16);
  store<u32>(r, c, 20);
  store<u32>(r, d, 24);
  store<u32>(r, e, 28);
  store<u32>(ev_ring, head + 1);
  return true;
}

/** Free slots in the event ring. */
export function ev_space(): u32 {
  return EV_CAP - (load<u32>(ev_ring) - load<u32>(ev_ring, 4));
}

/** The host is done with the oldest `n` events: release the pbufs they still hold. */
export function ev_done(n: u32): void {
  let tail = load<u32>(ev_ring, 4);
  const head = load<u32>(ev_ring);
  if (n > head - tail) n = head - tail;
  for (let i: u32 = 0; i < n; i++) {
    const r = ev_ring + RING_HDR + <usize>(tail & (EV_CAP - 1)) * EV_RECORD;
    const p = load<usize>(r, 8);
    if (p != 0) {
      pbuf_free(changetype<pbuf>(p));
      store<usize>(r, 0, 8);
    }
    tail++;
  }
  store<u32>(ev_ring, tail, 4);
}

/**
 * The host keeps the pbuf of the event `index` entries after the tail (it
 * will call pbuf_free itself): the ring forgets it without freeing.
 */
export function ev_take(index: u32): usize {
  const tail = load<u32>(ev_ring, 4);
  const r = ev_ring + RING_HDR + <usize>((tail + index) & (EV_CAP - 1)) * EV_RECORD;
  const p = load<usize>(r, 8);
  store<usize>(r, 0, 8);
  return p;
}

/** Address of TX ring entry `i` places after the tail (0 = oldest pending). */
export function tx_entry(i: u32): usize {
  return tx_ring + RING_HDR + <usize>((load<u32>(tx_ring, 4) + i) & (TX_CAP - 1)) * TX_ENTRY;
}

/**
 * Copies pending frame `i` (0 = oldest) as it was queued to `dst`, at most
 * `max` bytes; returns its full length. What a host does when draining, for
 * tests and hosts that want contiguous frames.
 */
export function tx_frame_copy(i: u32, dst: usize, max: u32): u32 {
  const e = tx_entry(i);
  const p = changetype<pbuf>(load<usize>(e));
  const len0 = load<u32>(e, 12);
  let n = len0 < max ? len0 : max;
  memory.copy(dst, load<usize>(e, 8), n);
  let total = len0;
  let q = p.next;
  while (q != null) {
    const room = max - n;
    const c = q.len < room ? q.len : room;
    if (c > 0) memory.copy(dst + n, q.payload, c);
    n += c;
    total += q.len;
    q = q.next;
  }
  return total;
}
