// tcp: TCP pcbs, the raw API and the timers (RFC 9293; lwIP tcp.c).
//
// STUB: the struct and the raw API signatures are stable; bodies land next.

import { pbuf } from "../core/pbuf";
import { err_t, ERR_VAL } from "../core/err";
import { ip_addr, IP_ADDR_SIZE } from "../ip_addr";
import { netif } from "../netif/netif";

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

/** The pcb belongs to the host (abi/tcp.ts); the core never interprets `host`. */
export const TF_HOST: u32 = 0x80000000;

@unmanaged
export class tcp_pcb {
  _l0: u32; _l1: u32; _l2: u32; _l3: u32; _l4: u32;
  _m0: u32; _m1: u32; _m2: u32; _m3: u32; _m4: u32;
  next: usize;
  state: u8; prio: u8; so_options: u8; tos: u8;
  ttl: u8; netif_idx: u8; backlog: u8; accepts_pending: u8;
  flags: u32;
  local_port: u16; remote_port: u16;
  callback_arg: usize;
  accept: usize;
  host: u32;
  syn_pending: u16; syn_max: u16;
  keep_idle: u32; keep_intvl: u32; keep_cnt: u32;
}

// @ts-ignore: decorator
@inline export function tcp_local_ip(pcb: tcp_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb)); }
// @ts-ignore: decorator
@inline export function tcp_remote_ip(pcb: tcp_pcb): ip_addr { return changetype<ip_addr>(changetype<usize>(pcb) + IP_ADDR_SIZE); }

export function tcp_init(): void {}
export function tcp_new(): tcp_pcb | null { return null; }
export function tcp_new_ip_type(t: u8): tcp_pcb | null { return null; }
export function tcp_arg(pcb: tcp_pcb, arg: usize): void { pcb.callback_arg = arg; }
export function tcp_bind(pcb: tcp_pcb, ip: ip_addr | null, port: u16): err_t { return ERR_VAL; }
export function tcp_bind_netif(pcb: tcp_pcb, n: netif | null): void {}
export function tcp_listen_with_backlog(pcb: tcp_pcb, backlog: u8): tcp_pcb | null { return null; }
export function tcp_listen(pcb: tcp_pcb): tcp_pcb | null { return null; }
export function tcp_backlog_delayed(pcb: tcp_pcb): void {}
export function tcp_backlog_accepted(pcb: tcp_pcb): void {}
export function tcp_accept(pcb: tcp_pcb, fn: tcp_accept_fn | null): void {}
export function tcp_connect(pcb: tcp_pcb, ip: ip_addr, port: u16, fn: tcp_connected_fn | null): err_t { return ERR_VAL; }
export function tcp_write(pcb: tcp_pcb, data: usize, len: u32, apiflags: u8): err_t { return ERR_VAL; }
export function tcp_output(pcb: tcp_pcb): err_t { return ERR_VAL; }
export function tcp_recved(pcb: tcp_pcb, len: u32): void {}
export function tcp_sndbuf(pcb: tcp_pcb): u32 { return 0; }
export function tcp_sndqueuelen(pcb: tcp_pcb): u32 { return 0; }
export function tcp_recv(pcb: tcp_pcb, fn: tcp_recv_fn | null): void {}
export function tcp_sent(pcb: tcp_pcb, fn: tcp_sent_fn | null): void {}
export function tcp_err(pcb: tcp_pcb, fn: tcp_err_fn | null): void {}
export function tcp_poll(pcb: tcp_pcb, fn: tcp_poll_fn | null, interval: u8): void {}
export function tcp_close(pcb: tcp_pcb): err_t { return ERR_VAL; }
export function tcp_shutdown(pcb: tcp_pcb, shut_rx: bool, shut_tx: bool): err_t { return ERR_VAL; }
export function tcp_abort(pcb: tcp_pcb): void {}
export function tcp_setprio(pcb: tcp_pcb, prio: u8): void { pcb.prio = prio; }
export function tcp_nagle_disable(pcb: tcp_pcb): void {}
export function tcp_nagle_enable(pcb: tcp_pcb): void {}
export function tcp_nagle_disabled(pcb: tcp_pcb): bool { return false; }
export function tcp_set_cc(pcb: tcp_pcb, algo: u32): void {}
export function tcp_state_of(pcb: tcp_pcb): u8 { return pcb.state; }
export function tcp_input(p: pbuf, inp: netif): void {}
export function tcp_icmp_error(quoted_iph: usize, len: u32, type: u8, code: u8, next_mtu: u32): void {}
