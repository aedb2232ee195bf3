// services: small built-in servers for `asip up --serve`, written on the
// in-core raw API the way lwIP's contrib apps are.
//
//   udp-echo  RFC 862 over UDP: every datagram is sent back to its sender.
//
// TCP services (echo, discard, chargen, http) join when TCP lands.

import { pbuf, pbuf_free } from "../core/pbuf";
import { err_t, ERR_MEM, ERR_OK } from "../core/err";
import { ip_addr, ip_addr_set_any, IP_ADDR_SIZE, IPADDR_TYPE_ANY, IPADDR_TYPE_V4 } from "../ip_addr";
import { udp_pcb, udp_new_ip_type, udp_bind, udp_recv, udp_sendto, udp_remove } from "../udp";
import { LWIP_IPV6 } from "../config";

/** Services listen on both families where the build has IPv6 (a dual-stack pcb bound to ANY). */
export const SERVICE_IP_TYPE: u8 = LWIP_IPV6 ? IPADDR_TYPE_ANY : IPADDR_TYPE_V4;

const any_addr: usize = memory.data(<i32>IP_ADDR_SIZE, 8);

function udp_echo_recv(arg: usize, pcb: udp_pcb, p: pbuf, addr: ip_addr, port: u16): void {
  // The payload goes back in the same pbuf: the headers are rebuilt in its header room.
  udp_sendto(pcb, p, addr, port);
  pbuf_free(p);
}

/** Starts a UDP echo server on `port`. Returns the pcb handle (> 0) or an err_t. */
export function udp_echo_start(port: u16): isize {
  const pcb = udp_new_ip_type(SERVICE_IP_TYPE);
  if (pcb == null) return ERR_MEM;
  ip_addr_set_any(changetype<ip_addr>(any_addr), SERVICE_IP_TYPE);
  const err: err_t = udp_bind(pcb, changetype<ip_addr>(any_addr), port);
  if (err != ERR_OK) {
    udp_remove(pcb);
    return err;
  }
  udp_recv(pcb, udp_echo_recv, 0);
  return changetype<isize>(pcb);
}

export function udp_echo_stop(handle: usize): void {
  if (handle != 0) udp_remove(changetype<udp_pcb>(handle));
}
