/**
 * The link-driver interface: what a stack needs from anything that carries
 * Ethernet frames (a TAP device, an in-process pair, a WebSocket tunnel, a
 * pcap recorder wrapped around another driver, …).
 *
 * @packageDocumentation
 */

/**
 * What a link's frames are: whole Ethernet frames (destination MAC first, no
 * FCS), or bare IP packets, IPv4 or IPv6 by their first nibble, with no link
 * header (a TUN device, a tunnel that frames IP itself). The stack gives an
 * "ip" link a netif without ARP or a MAC (the core's NetifKind.HOST_IP).
 */
export type LinkType = "ethernet" | "ip";

/**
 * A link that carries whole frames — Ethernet, or IP packets when its
 * {@link LinkDriver.linkType} says so — in both directions.
 *
 * Buffer ownership, both ways:
 * - A frame passed to {@link LinkDriver.send} is a view (typically over the
 *   stack's linear memory) that is valid only during the call. A driver that
 *   keeps it beyond the call (queues it, sends it later) must copy it.
 * - A frame passed to the {@link LinkDriver.onReceive} callback may likewise
 *   be a view over a buffer the driver reuses: it is valid only during the
 *   callback. A receiver that keeps it must copy it.
 */
export interface LinkDriver {
  /** The link's MTU (largest IP packet, without the 14-byte Ethernet header), when known. */
  readonly mtu?: number;
  /** What the frames are (default "ethernet"). */
  readonly linkType?: LinkType;
  /**
   * Sends one frame. Never throws for transient conditions (a full queue, a
   * link that is down); such frames are dropped, as on a real wire, and a
   * driver may count them.
   */
  send(frame: Uint8Array): void;
  /**
   * Sets the function that receives every incoming frame (one call per
   * frame). Setting it again replaces the previous one.
   */
  onReceive(cb: (frame: Uint8Array) => void): void;
  /** Releases the link. Frames are neither delivered nor sent afterwards. */
  close(): void | Promise<void>;
}
