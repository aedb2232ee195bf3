// Host-facing exports for udp (re-exported by assembly/index.ts).
//
// A host-side UDP pcb is created with udp_host_new; its handle is
// generation-tagged (abi/handles.ts), so events still queued for a closed pcb
// name a handle the host no longer knows. Received datagrams arrive as
// EV_UDP_RECV events, ICMP errors as EV_UDP_ERR (udp.ts describes both
// records). Addresses are ip_addrs (20 bytes, either family) at a pointer
// into core memory, usually abi_scratch().
//
// Sending, fastest first:
//   1. udp_tx_buffer(len) → a pbuf with `len` payload bytes and header room
//      for UDP/IP/Ethernet. The host writes its bytes straight to the pbuf's
//      payload (the u32 at pbuf + 4) and calls udp_host_send_pbuf, which
//      builds the headers in place and always consumes the pbuf. One copy
//      (host → pbuf) and one checksum pass; nothing else touches the bytes.
//   2. udp_sendto_host(h, ptr, len, addr, port): the bytes are already in
//      core memory (e.g. abi_scratch); they are copied into a new pbuf with
//      the checksum taken in the same pass.

import { pbuf, pbuf_alloc, pbuf_free, pbuf_layer, pbuf_type } from "../core/pbuf";
import { err_t, ERR_OK, ERR_ARG, ERR_MEM, ERR_VAL } from "../core/err";
import { MEMP, memp_num } from "../core/memp";
import { pbuf_copy_in_chksum, CHKSUM_COPY_ERR } from "../core/chksum";
import { handle_table, handle_new, handle_get, handle_free, abi_addr_arg, abi_addr_err, abi_addr_out, abi_ip_type } from "./handles";
import { netif_get_by_index } from "../netif/netif";
import { ip_pcb_local } from "../ip";
import {
  udp_pcb, udp_new_ip_type, udp_remove, udp_bind, udp_bind_netif, udp_connect, udp_disconnect, udp_sendto, udp_sendto_chksum,
  UDP_FLAGS_HOST, UDP_FLAGS_UDPLITE, UDP_FLAGS_NOCHKSUM, UDP_FLAGS_MULTICAST_LOOP,
} from "../udp";

const handles = changetype<handle_table>(memory.data(16, 8));

/** The live host-side pcb of handle `h`, or null (stale and unknown handles are refused, never trapped on). */
function host_pcb(h: u32): udp_pcb | null {
  const p = handle_get(handles, h);
  return p != 0 ? changetype<udp_pcb>(p) : null;
}

/**
 * A new host-side pcb. `ip_type`: 4 (IPv4), 6 (IPv6, in builds with it), 46
 * (dual stack); `udplite` ≠ 0 for UDP-Lite. Returns the handle, or 0 when out
 * of pcbs or the family is unknown.
 */
export function udp_host_new(ip_type: u32, udplite: u32): u32 {
  const t = abi_ip_type(ip_type);
  if (t == 0xff) return 0;
  const pcb = udp_new_ip_type(t);
  if (pcb == null) return 0;
  const h = handle_new(handles, memp_num(MEMP.UDP_PCB), changetype<usize>(pcb));
  if (h == 0) {
    udp_remove(pcb);
    return 0;
  }
  pcb.flags |= UDP_FLAGS_HOST | (udplite != 0 ? UDP_FLAGS_UDPLITE : 0);
  pcb.host = h;
  return h;
}

/** Binds to the ip_addr at `addr` (unspecified = any) and `port` (0 = ephemeral; read it back with udp_host_local_port). */
export function udp_host_bind(h: u32, addr: usize, port: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || port > 0xffff) return ERR_ARG;
  const a = abi_addr_arg(addr);
  if (a == null) return abi_addr_err;
  return udp_bind(pcb, a, <u16>port);
}

/** Restricts the pcb to netif `idx` (0 = any). */
export function udp_host_bind_netif(h: u32, idx: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (idx == 0) { udp_bind_netif(pcb, null); return ERR_OK; }
  const n = netif_get_by_index(idx);
  if (n == null) return ERR_ARG;
  udp_bind_netif(pcb, n);
  return ERR_OK;
}

/** Connects to the ip_addr at `addr`, port `port`: only its datagrams are received, and sends default to it. */
export function udp_host_connect(h: u32, addr: usize, port: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || port > 0xffff) return ERR_ARG;
  const a = abi_addr_arg(addr);
  if (a == null) return abi_addr_err;
  return udp_connect(pcb, a, <u16>port);
}

export function udp_host_disconnect(h: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  udp_disconnect(pcb);
  return ERR_OK;
}

export function udp_host_local_port(h: u32): u32 {
  const pcb = host_pcb(h);
  return pcb != null ? <u32>pcb.local_port : 0;
}

/** Writes the bound local address to `out` (an ip_addr). */
export function udp_host_local_ip(h: u32, out: usize): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  return abi_addr_out(out, ip_pcb_local(pcb)) ? ERR_OK : ERR_ARG;
}

/** Sets (`on` ≠ 0) or clears socket options: SOF_REUSEADDR 0x04, SOF_BROADCAST 0x20. */
export function udp_host_set_options(h: u32, sof: u32, on: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (on != 0) pcb.so_options |= <u8>sof; else pcb.so_options &= ~<u8>sof;
  return ERR_OK;
}

/** Unicast TTL / hop limit and TOS of what the pcb sends; TTL 0 is the default (64, or over IPv6 the link's RA Cur Hop Limit). */
export function udp_host_set_ttl_tos(h: u32, ttl: u32, tos: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || ttl > 255 || tos > 255) return ERR_ARG;
  pcb.ttl = <u8>ttl;
  pcb.tos = <u8>tos;
  return ERR_OK;
}

/** Multicast TTL, outgoing interface (0 = routed) and loopback of our own multicasts. */
export function udp_host_set_multicast(h: u32, ttl: u32, ifindex: u32, loop: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || ttl > 255 || ifindex > 255) return ERR_ARG;
  pcb.mcast_ttl = <u8>ttl;
  pcb.mcast_ifindex = <u8>ifindex;
  if (loop != 0) pcb.flags |= UDP_FLAGS_MULTICAST_LOOP; else pcb.flags &= ~UDP_FLAGS_MULTICAST_LOOP;
  return ERR_OK;
}

/** Send without a checksum (IPv4 UDP only; RFC 768 allows it). */
export function udp_host_set_nochksum(h: u32, on: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (on != 0) pcb.flags |= UDP_FLAGS_NOCHKSUM; else pcb.flags &= ~UDP_FLAGS_NOCHKSUM;
  return ERR_OK;
}

/**
 * UDP-Lite checksum coverage (RFC 3828 §3.1, §3.3): `tx` for what we send,
 * `rx` the minimum we accept; 0 = the whole datagram; 1..7 are illegal.
 */
export function udp_host_set_coverage(h: u32, tx: u32, rx: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || (pcb.flags & UDP_FLAGS_UDPLITE) == 0) return ERR_ARG;
  if ((tx != 0 && tx < 8) || (rx != 0 && rx < 8) || tx > 0xffff || rx > 0xffff) return ERR_VAL;
  pcb.chksum_len_tx = <u16>tx;
  pcb.chksum_len_rx = <u16>rx;
  return ERR_OK;
}

/**
 * A pbuf for `len` payload bytes, with room for the UDP, IP and link headers
 * in front. The host writes to its payload (u32 at +4) then passes it to
 * udp_host_send_pbuf, or frees it with pbuf_release. 0 when memory is short.
 */
export function udp_tx_buffer(len: u32): usize {
  if (len > 0xffff) return 0;
  return changetype<usize>(pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, len, pbuf_type.PBUF_RAM));
}

/** Sends a pbuf from udp_tx_buffer to the ip_addr at `addr`, port `port`. Always consumes the pbuf. */
export function udp_host_send_pbuf(h: u32, p: usize, addr: usize, port: u32): err_t {
  if (p == 0) return ERR_ARG;
  const pcb = host_pcb(h);
  let err: err_t = ERR_ARG;
  if (pcb != null && port <= 0xffff) {
    const a = abi_addr_arg(addr);
    err = a != null ? udp_sendto(pcb, changetype<pbuf>(p), a, <u16>port) : abi_addr_err;
  }
  pbuf_free(changetype<pbuf>(p));
  return err;
}

/** Copies `len` bytes at `data` (core memory) into a datagram to the ip_addr at `addr`, port `port`. */
export function udp_sendto_host(h: u32, data: usize, len: u32, addr: usize, port: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || port > 0xffff) return ERR_ARG;
  if (len > 0xffff) return ERR_VAL;
  const ip = abi_addr_arg(addr);
  if (ip == null) return abi_addr_err;
  const p = pbuf_alloc(pbuf_layer.PBUF_TRANSPORT, len, pbuf_type.PBUF_RAM);
  if (p == null) return ERR_MEM;
  const sum = pbuf_copy_in_chksum(p, 0, data, len);
  // UDP-Lite's coverage may end inside the payload: its sum is computed on send.
  const err = sum == CHKSUM_COPY_ERR || (pcb.flags & UDP_FLAGS_UDPLITE) != 0
    ? udp_sendto(pcb, p, ip, <u16>port)
    : udp_sendto_chksum(pcb, p, ip, <u16>port, sum);
  pbuf_free(p);
  return err;
}

/** Closes the pcb. The handle is dead at once; events already queued name it, and the host knows it no more. */
export function udp_host_close(h: u32): err_t {
  const p = handle_free(handles, h);
  if (p == 0) return ERR_ARG;
  const pcb = changetype<udp_pcb>(p);
  pcb.flags = 0;
  udp_remove(pcb);
  return ERR_OK;
}
