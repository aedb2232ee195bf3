/**
 * What the raw API's pcbs share in both modes, the in-thread ones
 * (raw-udp.ts, raw-ip.ts, raw-tcp.ts) and the Worker-mode ones
 * (bindings/worker/remote-raw.ts): the core's generation-tagged handle
 * (assembly/abi/handles.ts), 0 once the pcb is dead, after which every
 * operation throws; and the callbacks, which each mode's event dispatch
 * calls.
 *
 * @module
 */
import { check } from "../abi.js";
import type { RawApi } from "./raw.js";
import type {
  TcpPcbLike, TcpRecvFn, TcpAcceptFn, TcpConnectedFn, TcpSentFn, TcpErrFn, UdpRecvFn, UdpErrFn,
} from "./raw-types.js";

export abstract class PcbHandle {
  /** @internal */
  protected h: number;

  /**
   * @internal `kind` names the pcb in errors ("udp.bind: …"), `gone` says
   * why a dead one refuses ("was removed", "is closed").
   */
  protected constructor(
    h: number,
    private readonly kind: string,
    private readonly gone: string,
  ) {
    this.h = h;
  }

  /** The core's handle (0 once the pcb is dead). */
  get handle(): number {
    return this.h;
  }

  /** The live handle, for an operation named `what`. */
  protected live(what: string): number {
    if (this.h === 0) throw new Error(`${this.kind}.${what}: pcb ${this.gone}`);
    return this.h;
  }
}

/** A TCP pcb's callbacks (lwIP tcp_recv, tcp_sent, tcp_err, tcp_accept); `P` is the mode's pcb class. */
export abstract class TcpPcbCallbacks<P extends TcpPcbLike> extends PcbHandle {
  protected recvFn: TcpRecvFn | undefined;
  protected acceptFn: TcpAcceptFn<P> | undefined;
  protected connectedFn: TcpConnectedFn | undefined;
  protected sentFn: TcpSentFn | undefined;
  protected errFn: TcpErrFn | undefined;
  protected pollFn: (() => void) | undefined;

  /** The accept callback: gets the new connection's pcb (set its callbacks there). */
  accept(fn: TcpAcceptFn<P> | undefined): this {
    this.live("accept");
    this.acceptFn = fn;
    return this;
  }

  /** The receive callback (lwIP tcp_recv). `data` is valid only during the call; null = FIN. */
  recv(fn: TcpRecvFn | undefined): this {
    this.live("recv");
    this.recvFn = fn;
    return this;
  }

  /** The sent callback (lwIP tcp_sent): acknowledged bytes, and room to write. */
  sent(fn: TcpSentFn | undefined): this {
    this.live("sent");
    this.sentFn = fn;
    return this;
  }

  /** The error callback (lwIP tcp_err): the connection is gone. */
  err(fn: TcpErrFn | undefined): this {
    this.live("err");
    this.errFn = fn;
    return this;
  }
}

/** A UDP pcb's callbacks (lwIP udp_recv; ICMP errors). */
export abstract class UdpPcbCallbacks extends PcbHandle {
  protected recvFn: UdpRecvFn | undefined;
  protected errFn: UdpErrFn | undefined;

  /** The receive callback (lwIP udp_recv). `data` is valid only during the call. */
  recv(fn: UdpRecvFn | undefined): this {
    this.live("recv");
    this.recvFn = fn;
    return this;
  }

  /** The ICMP error callback (port unreachable, …). */
  err(fn: UdpErrFn | undefined): this {
    this.live("err");
    this.errFn = fn;
    return this;
  }
}

/**
 * Runs export call `f` for an in-thread pcb's live handle `h` inside the
 * stack's guard; a negative err_t throws as an AsipError named `name`.
 * Returns the export's result.
 */
export function coreCall(api: RawApi, name: string, h: number, f: (ex: Record<string, any>, h: number) => number): number {
  const s = api.stack;
  const r: number = s.guard(() => f(s.ex, h));
  check(r, name);
  return r;
}

/**
 * Closes in-thread pcb `h` (already marked dead by its object) with export
 * call `f`: the raw API forgets the handle first, so events still queued for
 * it are dropped.
 */
export function coreRemove(api: RawApi, name: string, h: number, f: (ex: Record<string, any>, h: number) => number): void {
  api.forget(h);
  coreCall(api, name, h, f);
}
