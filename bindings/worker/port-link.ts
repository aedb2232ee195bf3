/**
 * A link driver that carries Ethernet frames over a MessagePort: between two
 * core workers (their stacks talk directly, not through the main thread), or
 * between a core worker and a Stack on another thread. Both ends use the same
 * class. Each frame is copied once out of the sender's memory and its buffer
 * transferred, not cloned.
 *
 * @module
 */
import type { LinkDriver } from "../netif/driver.js";
import { onMessage, type PortLike } from "./protocol.js";

export class PortLink implements LinkDriver {
  private rx: (frame: Uint8Array) => void = () => {};
  private closed = false;
  /** Frames sent / received. */
  sent = 0;
  received = 0;

  constructor(private readonly port: PortLike, readonly mtu?: number) {
    onMessage(port, (d: unknown) => {
      if (this.closed || !(d instanceof Uint8Array)) return;
      this.received++;
      this.rx(d);
    });
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    const copy = frame.slice();
    this.sent++;
    this.port.postMessage(copy, [copy.buffer]);
  }

  onReceive(cb: (frame: Uint8Array) => void): void {
    this.rx = cb;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close?.();
  }
}

/** A link driver over `port` (the other end goes to a core worker's interface description). */
export function portLink(port: PortLike, mtu?: number): PortLink {
  return new PortLink(port, mtu);
}
