// Host-facing exports for raw (re-exported by assembly/index.ts).
//
// A host-side raw pcb (handle = pcb pointer) receives EV_RAW_RECV events
// (raw.ts describes the record) and sends IP payloads of its protocol, or
// whole IP packets with `hdrincl`. As for UDP, the fastest send is
// raw_tx_buffer → write the payload in place (u32 at pbuf + 4) →
// raw_host_send_pbuf (consumes the pbuf); raw_sendto_host copies from core
// memory instead.

import { pbuf, pbuf_alloc, pbuf_free, pbuf_take, pbuf_layer, pbuf_type } from "../core/pbuf";
import { err_t, ERR_OK, ERR_ARG, ERR_MEM, ERR_VAL } from "../core/err";
import { MEMP, memp_owns } from "../core/memp";
import { ip_addr, ip_addr_set_ip4, IPADDR_TYPE_V4, IPADDR_TYPE_V6, IPADDR_TYPE_ANY, IP_ADDR_SIZE } from "../ip_addr";
import { netif_get_by_index } from "../netif/netif";
import {
  raw_pcb, raw_new_ip_type, raw_remove, raw_bind, raw_bind_netif, raw_connect, raw_disconnect, raw_sendto,
  RAW_FLAGS_HOST, RAW_FLAGS_HOST_EAT, RAW_FLAGS_HDRINCL,
} from "../raw";

const arg_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

function addr4(a: u32): ip_addr {
  const r = changetype<ip_addr>(arg_addr);
  ip_addr_set_ip4(r, a);
  return r;
}

function host_pcb(h: usize): raw_pcb | null {
  if (h == 0 || !memp_owns(MEMP.RAW_PCB, h)) return null;
  const pcb = changetype<raw_pcb>(h);
  return (pcb.flags & RAW_FLAGS_HOST) != 0 ? pcb : null;
}

/**
 * A new host-side raw pcb for IP protocol `proto`. `ip_type`: 4, 6 or 46;
 * `eat` ≠ 0: packets it receives go no further (ICMP will not answer a ping
 * this pcb took). Returns the handle, or 0.
 */
export function raw_host_new(proto: u32, ip_type: u32, eat: u32): usize {
  if (proto > 255) return 0;
  const t: u8 = ip_type == 6 ? IPADDR_TYPE_V6 : ip_type == 46 ? IPADDR_TYPE_ANY : IPADDR_TYPE_V4;
  const pcb = raw_new_ip_type(t, <u8>proto);
  if (pcb == null) return 0;
  pcb.flags |= RAW_FLAGS_HOST | (eat != 0 ? RAW_FLAGS_HOST_EAT : 0);
  pcb.host = <u32>changetype<usize>(pcb);
  return changetype<usize>(pcb);
}

export function raw_host_bind(h: usize, ip: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  return raw_bind(pcb, addr4(ip));
}

export function raw_host_bind_netif(h: usize, idx: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (idx == 0) { raw_bind_netif(pcb, null); return ERR_OK; }
  const n = netif_get_by_index(idx);
  if (n == null) return ERR_ARG;
  raw_bind_netif(pcb, n);
  return ERR_OK;
}

export function raw_host_connect(h: usize, ip: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  return raw_connect(pcb, addr4(ip));
}

export function raw_host_disconnect(h: usize): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  raw_disconnect(pcb);
  return ERR_OK;
}

/** `hdrincl` ≠ 0: sends carry their own IP header. `eat` ≠ 0: received packets stop here. */
export function raw_host_set_flags(h: usize, hdrincl: u32, eat: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (hdrincl != 0) pcb.flags |= RAW_FLAGS_HDRINCL; else pcb.flags &= ~RAW_FLAGS_HDRINCL;
  if (eat != 0) pcb.flags |= RAW_FLAGS_HOST_EAT; else pcb.flags &= ~RAW_FLAGS_HOST_EAT;
  return ERR_OK;
}

/** Sets (`on` ≠ 0) or clears socket options (SOF_BROADCAST 0x20). */
export function raw_host_set_options(h: usize, sof: u32, on: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (on != 0) pcb.so_options |= <u8>sof; else pcb.so_options &= ~<u8>sof;
  return ERR_OK;
}

export function raw_host_set_ttl_tos(h: usize, ttl: u32, tos: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null || ttl > 255 || tos > 255) return ERR_ARG;
  pcb.ttl = <u8>ttl;
  pcb.tos = <u8>tos;
  return ERR_OK;
}

/**
 * A pbuf for `len` bytes to send on `h`: header room for IP and link, or for
 * the link only when the pcb includes its own IP header. 0 when short.
 */
export function raw_tx_buffer(h: usize, len: u32): usize {
  const pcb = host_pcb(h);
  if (pcb == null || len > 0xffff) return 0;
  const layer = (pcb.flags & RAW_FLAGS_HDRINCL) != 0 ? pbuf_layer.PBUF_LINK : pbuf_layer.PBUF_IP;
  return changetype<usize>(pbuf_alloc(layer, len, pbuf_type.PBUF_RAM));
}

/** Sends a pbuf from raw_tx_buffer to `ip`. Always consumes the pbuf. */
export function raw_host_send_pbuf(h: usize, p: usize, ip: u32): err_t {
  if (p == 0) return ERR_ARG;
  const pcb = host_pcb(h);
  const err = pcb != null ? raw_sendto(pcb, changetype<pbuf>(p), addr4(ip)) : ERR_ARG;
  pbuf_free(changetype<pbuf>(p));
  return err;
}

/** Copies `len` bytes at `data` (core memory) into a packet to `ip`. */
export function raw_sendto_host(h: usize, data: usize, len: u32, ip: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (len > 0xffff) return ERR_VAL;
  const layer = (pcb.flags & RAW_FLAGS_HDRINCL) != 0 ? pbuf_layer.PBUF_LINK : pbuf_layer.PBUF_IP;
  const p = pbuf_alloc(layer, len, pbuf_type.PBUF_RAM);
  if (p == null) return ERR_MEM;
  pbuf_take(p, data, len);
  const err = raw_sendto(pcb, p, addr4(ip));
  pbuf_free(p);
  return err;
}

export function raw_host_close(h: usize): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  pcb.flags = 0;
  raw_remove(pcb);
  return ERR_OK;
}
