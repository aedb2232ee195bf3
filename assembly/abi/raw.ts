// Host-facing exports for raw (re-exported by assembly/index.ts).
//
// A host-side raw pcb (a generation-tagged handle, abi/handles.ts) receives
// EV_RAW_RECV events (raw.ts describes the record) and sends IP payloads of
// its protocol, or whole IP packets with `hdrincl`. As for UDP, the fastest
// send is raw_tx_buffer → write the payload in place (u32 at pbuf + 4) →
// raw_host_send_pbuf (consumes the pbuf); raw_sendto_host copies from core
// memory instead. Addresses are ip_addrs at a pointer into core memory.

import { pbuf, pbuf_alloc, pbuf_free, pbuf_take, pbuf_layer, pbuf_type } from "../core/pbuf";
import { err_t, ERR_OK, ERR_ARG, ERR_MEM, ERR_VAL } from "../core/err";
import { MEMP, memp_num } from "../core/memp";
import { handle_table, handle_new, handle_get, handle_free, abi_addr_arg, abi_addr_err, abi_ip_type } from "./handles";
import { netif_get_by_index } from "../netif/netif";
import {
  raw_pcb, raw_new_ip_type, raw_remove, raw_bind, raw_bind_netif, raw_connect, raw_disconnect, raw_sendto,
  RAW_FLAGS_HOST, RAW_FLAGS_HOST_EAT, RAW_FLAGS_HDRINCL,
} from "../raw";

const handles = changetype<handle_table>(memory.data(16, 8));

function host_pcb(h: u32): raw_pcb | null {
  const p = handle_get(handles, h);
  return p != 0 ? changetype<raw_pcb>(p) : null;
}

/**
 * A new host-side raw pcb for IP protocol `proto`. `ip_type`: 4, 6 or 46;
 * `eat` ≠ 0: packets it receives go no further (ICMP will not answer a ping
 * this pcb took). Returns the handle, or 0.
 */
export function raw_host_new(proto: u32, ip_type: u32, eat: u32): u32 {
  const t = abi_ip_type(ip_type);
  if (proto > 255 || t == 0xff) return 0;
  const pcb = raw_new_ip_type(t, <u8>proto);
  if (pcb == null) return 0;
  const h = handle_new(handles, memp_num(MEMP.RAW_PCB), changetype<usize>(pcb));
  if (h == 0) {
    raw_remove(pcb);
    return 0;
  }
  pcb.flags |= RAW_FLAGS_HOST | (eat != 0 ? RAW_FLAGS_HOST_EAT : 0);
  pcb.host = h;
  return h;
}

/** Receives only packets to the ip_addr at `addr` (unspecified: any of ours). */
export function raw_host_bind(h: u32, addr: usize): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  const a = abi_addr_arg(addr);
  if (a == null) return abi_addr_err;
  return raw_bind(pcb, a);
}

export function raw_host_bind_netif(h: u32, idx: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (idx == 0) { raw_bind_netif(pcb, null); return ERR_OK; }
  const n = netif_get_by_index(idx);
  if (n == null) return ERR_ARG;
  raw_bind_netif(pcb, n);
  return ERR_OK;
}

/** Receives only from the ip_addr at `addr`; sends default to it. */
export function raw_host_connect(h: u32, addr: usize): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  const a = abi_addr_arg(addr);
  if (a == null) return abi_addr_err;
  return raw_connect(pcb, a);
}

export function raw_host_disconnect(h: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  raw_disconnect(pcb);
  return ERR_OK;
}

/** `hdrincl` ≠ 0: sends carry their own IP header. `eat` ≠ 0: received packets stop here. */
export function raw_host_set_flags(h: u32, hdrincl: u32, eat: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (hdrincl != 0) pcb.flags |= RAW_FLAGS_HDRINCL; else pcb.flags &= ~RAW_FLAGS_HDRINCL;
  if (eat != 0) pcb.flags |= RAW_FLAGS_HOST_EAT; else pcb.flags &= ~RAW_FLAGS_HOST_EAT;
  return ERR_OK;
}

/** Sets (`on` ≠ 0) or clears socket options (SOF_BROADCAST 0x20). */
export function raw_host_set_options(h: u32, sof: u32, on: u32): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (on != 0) pcb.so_options |= <u8>sof; else pcb.so_options &= ~<u8>sof;
  return ERR_OK;
}

/** Unicast TTL / hop limit and TOS of what the pcb sends; TTL 0 is the default (64, or over IPv6 the link's RA Cur Hop Limit). */
export function raw_host_set_ttl_tos(h: u32, ttl: u32, tos: u32): err_t {
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
export function raw_tx_buffer(h: u32, len: u32): usize {
  const pcb = host_pcb(h);
  if (pcb == null || len > 0xffff) return 0;
  const layer = (pcb.flags & RAW_FLAGS_HDRINCL) != 0 ? pbuf_layer.PBUF_LINK : pbuf_layer.PBUF_IP;
  return changetype<usize>(pbuf_alloc(layer, len, pbuf_type.PBUF_RAM));
}

/** Sends a pbuf from raw_tx_buffer to the ip_addr at `addr`. Always consumes the pbuf. */
export function raw_host_send_pbuf(h: u32, p: usize, addr: usize): err_t {
  if (p == 0) return ERR_ARG;
  const pcb = host_pcb(h);
  let err: err_t = ERR_ARG;
  if (pcb != null) {
    const a = abi_addr_arg(addr);
    err = a != null ? raw_sendto(pcb, changetype<pbuf>(p), a) : abi_addr_err;
  }
  pbuf_free(changetype<pbuf>(p));
  return err;
}

/** Copies `len` bytes at `data` (core memory) into a packet to the ip_addr at `addr`. */
export function raw_sendto_host(h: u32, data: usize, len: u32, addr: usize): err_t {
  const pcb = host_pcb(h);
  if (pcb == null) return ERR_ARG;
  if (len > 0xffff) return ERR_VAL;
  const ip = abi_addr_arg(addr);
  if (ip == null) return abi_addr_err;
  const layer = (pcb.flags & RAW_FLAGS_HDRINCL) != 0 ? pbuf_layer.PBUF_LINK : pbuf_layer.PBUF_IP;
  const p = pbuf_alloc(layer, len, pbuf_type.PBUF_RAM);
  if (p == null) return ERR_MEM;
  pbuf_take(p, data, len);
  const err = raw_sendto(pcb, p, ip);
  pbuf_free(p);
  return err;
}

export function raw_host_close(h: u32): err_t {
  const p = handle_free(handles, h);
  if (p == 0) return ERR_ARG;
  const pcb = changetype<raw_pcb>(p);
  pcb.flags = 0;
  raw_remove(pcb);
  return ERR_OK;
}
