/**
 * RtcDataChannelLink (browser): Ethernet frames between two peers over a
 * WebRTC data channel, one frame per message, signalled through the relay.
 *
 * The channel is unordered with `maxRetransmits: 0` (RFC 8831 §6.1
 * partial reliability; RFC 3758 PR-SCTP): SCTP sends each message once and
 * never holds later messages back behind a lost one, so the link behaves
 * like a wire — a frame arrives, or it is lost and TCP above recovers. A
 * reliable ordered channel would put a second retransmission and
 * head-of-line-blocking loop under TCP's own (the TCP-over-TCP problem).
 * The channel is pre-negotiated (`negotiated: true, id: 0`, RFC 8832 not
 * used), so both ends create the identical channel and no DCEP open
 * message has to cross first.
 *
 * **MTU.** Default 1500 (frames up to 1514 bytes). SCTP fragments a message
 * into DATA chunks of about 1200 bytes; with `maxRetransmits: 0` losing any
 * chunk loses the whole message, so a bigger MTU trades loss amplification
 * on a lossy path for fewer messages per byte. Measured tab to tab on one
 * 2-core machine (32 MB over asip's TCP, Chromium 14x): MTU 1500 33 Mbit/s,
 * 16000 (the web demo's choice) 98-122, 65535 83-86; reliable ordered
 * instead of unordered, or 1 MiB of `maxBuffered` instead of 256 KiB,
 * changed nothing beyond noise. Chromium's SCTP itself, two peer
 * connections in one page with nothing else to do, carried 130-160 Mbit/s
 * unordered and 110-210 ordered (16-256 KiB messages): asip reaches about
 * two thirds of what the data channel gives. `maxMessageSize` is 256 KiB. Up to 65535 is accepted, but a frame longer than
 * the channel's maximum message size (`RTCSctpTransport.maxMessageSize`,
 * from the peer's `a=max-message-size`, RFC 8841 §6; 256 KiB in
 * Chromium, 64 KiB is safe everywhere) is dropped and counted
 * (`txDroppedTooBig`).
 *
 * **Backpressure.** Like {@link WebSocketLink}, the link never queues
 * without bound: above `maxBuffered` bytes in `bufferedAmount`, a frame is
 * dropped and counted (`txDroppedFull`). The default (256 KiB) keeps the
 * queueing delay TCP sees short; Chromium closes a channel whose buffer
 * passes 16 MiB, which this also prevents.
 *
 * **Signalling.** Offers, answers and ICE candidates travel as the `data`
 * of the relay's `{type:"signal", to, data}` control messages (see
 * {@link ControlMessage}); any object with `sendControl` and
 * `addControlListener` (a {@link WebSocketLink}) serves. `data` is an
 * {@link RtcSignal}: every message carries a session id, so signals of an
 * older attempt are ignored. The initiator ({@link RtcDataChannelLink.connect})
 * makes the offer; the other end accepts it ({@link RtcDataChannelLink.listen}).
 *
 * **Close and reconnect.** When the peer connection fails or the channel
 * closes without a `bye`, the link goes down (frames dropped and counted,
 * `onState(false)`) and the initiator offers a new session after a backoff
 * with jitter (doubling from `minDelay` to `maxDelay`); a session that has
 * not opened within `openTimeoutMs` is abandoned and retried the same way.
 * The answering end waits for the next offer. {@link RtcDataChannelLink.close}
 * sends `bye`, and a `bye` or the peer leaving the relay (absent from its
 * `peers` list) closes the link for good (`onClosed`). Signals are bound to
 * relay ids: if either end's WebSocket reconnects (a new id), an open channel
 * keeps working but can no longer be re-established.
 *
 * **ICE.** No STUN/TURN by default (`iceServers: []`): host candidates
 * only, enough for tabs on one machine or LAN. Pass servers to cross NATs.
 * Chromium may hide host addresses behind mDNS names (`*.local`), which
 * need multicast DNS to resolve; headless tests launch Chromium with
 * `--disable-features=WebRtcHideLocalIpsWithMdns`.
 *
 * @packageDocumentation
 */
import type { LinkDriver } from "./driver.js";
import type { ControlMessage } from "./websocket.js";

/** What the link needs of the relay's control channel (a {@link WebSocketLink} has it). */
export interface Signaller {
  sendControl(msg: ControlMessage): boolean;
  addControlListener(fn: (msg: ControlMessage) => void): () => void;
}

/** The `data` of a relay `signal` message used by this link. */
export interface RtcSignal {
  /** Marks the message as ours (other users of `signal` may coexist). */
  rtc: 1;
  /** The attempt this belongs to (a fresh random id per offer). */
  session: string;
  kind: "offer" | "answer" | "candidate" | "bye";
  sdp?: string;
  candidate?: RTCIceCandidateInit;
  /** Opaque data of the initiator, given to the answering side with the offer (e.g. the addresses to take). */
  meta?: unknown;
}

/** Options of {@link RtcDataChannelLink}. */
export interface RtcDataChannelLinkOptions {
  /** MTU reported to the stack (default 1500; 576..65535). See the module notes. */
  mtu?: number;
  /** Frames are dropped while the channel buffers more than this many bytes (default 256 KiB). */
  maxBuffered?: number;
  /**
   * Deliver in order and reliably (SCTP retransmits; default false: unordered
   * with `maxRetransmits: 0`, the wire-like choice, see the module notes).
   * Both ends must agree: the channel is pre-negotiated.
   */
  reliable?: boolean;
  /** STUN/TURN servers (default none: host candidates only). */
  iceServers?: RTCIceServer[];
  /** The RTCPeerConnection implementation (default globalThis.RTCPeerConnection). */
  RTCPeerConnection?: typeof RTCPeerConnection;
  /** Re-establish after a failure (initiator; default true). */
  reconnect?: boolean;
  /** First retry delay in ms (default 500), doubled per failure up to `maxDelay` (default 10000). */
  minDelay?: number;
  maxDelay?: number;
  /** An attempt not open after this many ms is abandoned (default 15000). */
  openTimeoutMs?: number;
  /** Initiator: sent to the answering side with every offer. */
  meta?: unknown;
  /** Called when the channel opens (true) or goes down (false). */
  onState?: (up: boolean) => void;
  /** Called once when the link closes for good (close(), the peer's bye, the peer left the relay). */
  onClosed?: (reason: string) => void;
}

/** Counters of a {@link RtcDataChannelLink}. */
export interface RtcDataChannelLinkCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames dropped because bufferedAmount was above maxBuffered (or send() refused them). */
  txDroppedFull: number;
  /** Frames dropped because the channel was not open. */
  txDroppedDown: number;
  /** Frames longer than the channel's maximum message size. */
  txDroppedTooBig: number;
  /** Sessions that opened (1 + reconnects). */
  opens: number;
  /** Offers made (initiator) or answered. */
  attempts: number;
}

const isSignal = (d: unknown): d is RtcSignal =>
  !!d && typeof d === "object" && (d as RtcSignal).rtc === 1 && typeof (d as RtcSignal).session === "string" &&
  typeof (d as RtcSignal).kind === "string";

function newSession(): string {
  const b = new Uint8Array(8);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A {@link LinkDriver} over a WebRTC data channel to one peer. */
export class RtcDataChannelLink implements LinkDriver {
  readonly mtu: number;
  /** The peer's relay id. */
  readonly peer: string;
  /** True for the end that makes offers. */
  readonly initiator: boolean;
  /** The initiator's meta (on the answering side: from the first offer). */
  meta: unknown;
  readonly counters: RtcDataChannelLinkCounters = {
    rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, txDroppedFull: 0, txDroppedDown: 0, txDroppedTooBig: 0, opens: 0, attempts: 0,
  };
  /** The largest message the channel takes (from the SCTP transport once connected; 65536 until then). */
  maxMessageSize = 65536;
  /** Why the link closed for good, once it has. */
  closedReason: string | undefined;

  #sig: Signaller;
  #opts: RtcDataChannelLinkOptions;
  #Pc: typeof RTCPeerConnection;
  #pc: RTCPeerConnection | undefined;
  #dc: RTCDataChannel | undefined;
  #session = "";
  #pending: RTCIceCandidateInit[] = [];
  #haveRemote = false;
  #rx: (frame: Uint8Array) => void = () => {};
  #up = false;
  #delay: number;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #openTimer: ReturnType<typeof setTimeout> | undefined;
  #unlisten: () => void;
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #stateListeners = new Set<(up: boolean, closedReason?: string) => void>();

  private constructor(sig: Signaller, peer: string, initiator: boolean, opts: RtcDataChannelLinkOptions) {
    const Pc = opts.RTCPeerConnection ?? (globalThis as { RTCPeerConnection?: typeof RTCPeerConnection }).RTCPeerConnection;
    if (!Pc) throw new Error("RtcDataChannelLink: no RTCPeerConnection here (a browser is needed)");
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new RangeError(`RtcDataChannelLink: bad MTU ${mtu} (576..65535)`);
    this.#Pc = Pc;
    this.#sig = sig;
    this.#opts = opts;
    this.mtu = mtu;
    this.peer = peer;
    this.initiator = initiator;
    this.meta = opts.meta;
    this.#delay = opts.minDelay ?? 500;
    this.#unlisten = sig.addControlListener((m) => this.#control(m));
  }

  /** Offers a link to the client `peer` (its relay id); the peer must be {@link listen}ing. */
  static connect(sig: Signaller, peer: string, opts: RtcDataChannelLinkOptions = {}): RtcDataChannelLink {
    const link = new RtcDataChannelLink(sig, peer, true, opts);
    link.#offer();
    return link;
  }

  /**
   * Accepts links offered by other clients: for each offer from a client
   * without a live link here, makes an answering link and passes it (with the
   * offerer's meta and id) to `onLink` before answering, so the caller can
   * attach it to a stack. `opts(meta, from)` may give per-link options.
   * Returns a function that stops listening (links already made stay).
   */
  static listen(
    sig: Signaller,
    onLink: (link: RtcDataChannelLink, meta: unknown, from: string) => void,
    opts: RtcDataChannelLinkOptions | ((meta: unknown, from: string) => RtcDataChannelLinkOptions) = {},
  ): () => void {
    const live = new Map<string, RtcDataChannelLink>();
    return sig.addControlListener((m) => {
      if (m.type !== "signal" || typeof m.from !== "string" || !isSignal(m.data) || m.data.kind !== "offer") return;
      const from = m.from as string;
      const have = live.get(from);
      if (have && have.closedReason === undefined) return; // a re-offer: that link's own listener handles it
      const o = typeof opts === "function" ? opts(m.data.meta, from) : opts;
      const link = new RtcDataChannelLink(sig, from, false, { ...o, meta: m.data.meta });
      live.set(from, link);
      const onClosed = o.onClosed;
      link.#opts = { ...link.#opts, onClosed: (r) => { if (live.get(from) === link) live.delete(from); onClosed?.(r); } };
      onLink(link, m.data.meta, from);
      // The link's own listener may already have seen this offer (listeners
      // added during dispatch run too); answering is idempotent per session.
      link.#answer(m.data);
    });
  }

  /** True while the channel is open. */
  get up(): boolean {
    return this.#up;
  }

  /** Resolves when the channel is open (rejects if the link closes for good first). */
  ready(): Promise<void> {
    if (this.#up) return Promise.resolve();
    if (this.closedReason !== undefined) return Promise.reject(new Error(this.closedReason));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Adds a listener called when the channel opens (true), goes down (false),
   * and once more when the link closes for good (false, the reason). Returns
   * a function that removes it.
   */
  addStateListener(fn: (up: boolean, closedReason?: string) => void): () => void {
    this.#stateListeners.add(fn);
    return () => this.#stateListeners.delete(fn);
  }

  /** The underlying peer connection of the current attempt (for stats and tests). */
  get peerConnection(): RTCPeerConnection | undefined {
    return this.#pc;
  }

  onReceive(cb: (frame: Uint8Array) => void): void {
    this.#rx = cb;
  }

  send(frame: Uint8Array): void {
    const dc = this.#dc;
    if (!this.#up || !dc || dc.readyState !== "open") {
      this.counters.txDroppedDown++;
      return;
    }
    if (frame.length > this.maxMessageSize) {
      this.counters.txDroppedTooBig++;
      return;
    }
    if (dc.bufferedAmount > (this.#opts.maxBuffered ?? 256 << 10)) {
      this.counters.txDroppedFull++;
      return;
    }
    try {
      // send() copies the bytes synchronously, so the view over the stack's
      // memory can go as it is (no slice) — unless it is a view of shared
      // memory (a RingLink's ring), which send() refuses.
      dc.send((typeof SharedArrayBuffer !== "undefined" && frame.buffer instanceof SharedArrayBuffer ? frame.slice() : frame) as Uint8Array<ArrayBuffer>);
    } catch {
      // OperationError (the channel's buffer is full) or InvalidStateError (closing).
      this.counters.txDroppedFull++;
      return;
    }
    this.counters.txFrames++;
    this.counters.txBytes += frame.length;
  }

  /** Closes the link for good and tells the peer (`bye`). */
  close(): void {
    if (this.closedReason !== undefined) return;
    if (this.#session) this.#signal({ rtc: 1, session: this.#session, kind: "bye" });
    this.#finish("closed");
  }

  // ---- sessions ---------------------------------------------------------------------------------

  #signal(data: RtcSignal): void {
    this.#sig.sendControl({ type: "signal", to: this.peer, data });
  }

  /** Drops the current attempt's peer connection (and goes down if it was up). */
  #teardown(): void {
    if (this.#openTimer) clearTimeout(this.#openTimer);
    this.#openTimer = undefined;
    const pc = this.#pc, dc = this.#dc;
    this.#pc = undefined;
    this.#dc = undefined;
    this.#pending = [];
    this.#haveRemote = false;
    if (dc) { dc.onopen = dc.onclose = dc.onmessage = dc.onerror = null; try { dc.close(); } catch { /* closing */ } }
    if (pc) { pc.onicecandidate = pc.onconnectionstatechange = null; try { pc.close(); } catch { /* closed */ } }
    this.#setUp(false);
  }

  #setUp(up: boolean): void {
    if (this.#up === up) return;
    this.#up = up;
    if (up) {
      this.counters.opens++;
      this.#delay = this.#opts.minDelay ?? 500;
      const w = this.#waiters;
      this.#waiters = [];
      for (const x of w) x.resolve();
    }
    this.#opts.onState?.(up);
    for (const fn of this.#stateListeners) fn(up);
  }

  /** A new peer connection and its (pre-negotiated) channel for `session`. */
  #newPc(session: string): RTCPeerConnection {
    this.#teardown();
    this.#session = session;
    this.counters.attempts++;
    const pc = new this.#Pc({ iceServers: this.#opts.iceServers ?? [] });
    const dc = pc.createDataChannel("asip-ethernet", this.#opts.reliable
      ? { ordered: true, negotiated: true, id: 0 }
      : { ordered: false, maxRetransmits: 0, negotiated: true, id: 0 });
    dc.binaryType = "arraybuffer";
    this.#pc = pc;
    this.#dc = dc;
    pc.onicecandidate = (ev) => {
      if (ev.candidate) this.#signal({ rtc: 1, session, kind: "candidate", candidate: ev.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      if (this.#pc !== pc) return;
      // "disconnected" may recover by itself (ICE consent, RFC 7675); "failed" and "closed" do not.
      if (pc.connectionState === "failed" || pc.connectionState === "closed") this.#lost(`connection ${pc.connectionState}`);
    };
    dc.onopen = () => {
      if (this.#dc !== dc) return;
      if (this.#openTimer) clearTimeout(this.#openTimer);
      this.#openTimer = undefined;
      const max = pc.sctp?.maxMessageSize;
      // 0 means "no limit" in the spec (RFC 8841 §6.1); keep the 64 KiB that is safe everywhere then.
      this.maxMessageSize = max && Number.isFinite(max) ? max : 65536;
      this.#setUp(true);
    };
    dc.onclose = () => {
      if (this.#dc === dc) this.#lost("channel closed");
    };
    dc.onmessage = (ev: MessageEvent) => {
      const d = ev.data;
      if (!(d instanceof ArrayBuffer)) return; // text or a Blob: not a frame
      const frame = new Uint8Array(d);
      this.counters.rxFrames++;
      this.counters.rxBytes += frame.length;
      this.#rx(frame);
    };
    const timeout = this.#opts.openTimeoutMs ?? 15000;
    this.#openTimer = setTimeout(() => {
      this.#openTimer = undefined;
      if (this.#pc === pc && !this.#up) this.#lost("not open in time");
    }, timeout);
    return pc;
  }

  /** The current attempt failed: down, and (initiator) retry after a backoff. */
  #lost(_why: string): void {
    if (this.closedReason !== undefined) return;
    this.#teardown();
    if (!this.initiator || this.#opts.reconnect === false) return; // the answering end waits for a new offer
    if (this.#retry) return;
    const wait = this.#delay * (0.5 + Math.random() / 2);
    this.#delay = Math.min(this.#delay * 2, this.#opts.maxDelay ?? 10000);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#offer();
    }, wait);
  }

  #offer(): void {
    if (this.closedReason !== undefined) return;
    const session = newSession();
    const pc = this.#newPc(session);
    (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      if (this.#pc !== pc) return;
      this.#signal({ rtc: 1, session, kind: "offer", sdp: pc.localDescription!.sdp, meta: this.meta });
    })().catch(() => { if (this.#pc === pc) this.#lost("offer failed"); });
  }

  #answer(s: RtcSignal): void {
    if (this.closedReason !== undefined || s.session === this.#session || typeof s.sdp !== "string") return;
    const pc = this.#newPc(s.session);
    (async () => {
      await pc.setRemoteDescription({ type: "offer", sdp: s.sdp });
      await this.#flushCandidates(pc);
      await pc.setLocalDescription(await pc.createAnswer());
      if (this.#pc !== pc) return;
      this.#signal({ rtc: 1, session: s.session, kind: "answer", sdp: pc.localDescription!.sdp });
    })().catch(() => { if (this.#pc === pc) this.#lost("answer failed"); });
  }

  async #flushCandidates(pc: RTCPeerConnection): Promise<void> {
    this.#haveRemote = true;
    const q = this.#pending;
    this.#pending = [];
    for (const c of q) await pc.addIceCandidate(c).catch(() => {});
  }

  #control(m: ControlMessage): void {
    if (this.closedReason !== undefined) return;
    if (m.type === "peers") {
      const peers = (m as { peers?: unknown }).peers;
      if (Array.isArray(peers) && !peers.includes(this.peer)) this.#finish("the peer left the relay");
      return;
    }
    if (m.type !== "signal" || m.from !== this.peer || !isSignal(m.data)) return;
    const s = m.data;
    if (s.kind === "offer") {
      if (!this.initiator) this.#answer(s);
      return;
    }
    if (s.session !== this.#session) return; // an older attempt's
    const pc = this.#pc;
    if (!pc) return;
    if (s.kind === "bye") {
      this.#finish("the peer closed the link");
    } else if (s.kind === "answer" && this.initiator && typeof s.sdp === "string" && !this.#haveRemote) {
      pc.setRemoteDescription({ type: "answer", sdp: s.sdp })
        .then(() => this.#flushCandidates(pc))
        .catch(() => { if (this.#pc === pc) this.#lost("bad answer"); });
    } else if (s.kind === "candidate" && s.candidate) {
      if (this.#haveRemote) pc.addIceCandidate(s.candidate).catch(() => {});
      else this.#pending.push(s.candidate);
    }
  }

  #finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#teardown();
    this.#unlisten();
    this.#rx = () => {};
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.reject(new Error(reason));
    this.#opts.onClosed?.(reason);
    for (const fn of this.#stateListeners) fn(false, reason);
    this.#stateListeners.clear();
  }
}
