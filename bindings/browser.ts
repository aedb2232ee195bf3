/**
 * asip's browser entry (the package's `browser` export condition): what a
 * page or a Worker can use, and nothing that pulls in a `node:` module —
 * the Stack and its APIs (raw, netconn, sockets, WHATWG streams), Worker
 * mode, and the drivers a browser has: `pair()`, {@link WebSocketLink} to a
 * relay, {@link RtcDataChannelLink} between tabs, and pcap capture into
 * memory. Node-only parts (TAP devices, the relay and gateway, node:net and
 * node:dgram shapes) are in the Node entry (bindings/index.ts).
 *
 * @packageDocumentation
 */
export { Stack, Interface, type StackOptions, type InterfaceOptions } from "./stack.js";
export { loadCore, CoreAbortError, type Core, type CoreVariant } from "./core.js";
export { AsipError, ERR, errName, type StackStats } from "./abi.js";
export { pair, PairEnd, type PairOptions, type Impairment } from "./netif/pair.js";
export type { LinkDriver } from "./netif/driver.js";
export { PcapWriter, capture } from "./netif/pcap.js";
export {
  WebSocketLink, type WebSocketLinkOptions, type WebSocketLinkCounters, type WebSocketLike, type WebSocketCtor, type ControlMessage,
} from "./netif/websocket.js";
export {
  RtcDataChannelLink, type RtcDataChannelLinkOptions, type RtcDataChannelLinkCounters, type RtcSignal, type Signaller,
} from "./netif/webrtc.js";
export { BATCH_PROTOCOL, MAX_TUNNEL_MTU, FrameBatcher, decodeBatch, encodeBatch } from "./netif/framing.js";
export { rawApi, RawApi, UdpPcb, RawPcb } from "./api/raw.js";
export { SocketError, errno, errnoName, strerror, errToErrno } from "./api/errno.js";
export * as netconn from "./api/netconn.js";
export { Netconn, Netbuf, NetconnApi } from "./api/netconn.js";
export * as sockets from "./api/sockets.js";
export { SocketsApi } from "./api/sockets.js";
export { StreamsApi, UDPSocket } from "./api/streams.js";
export { RemoteRaw, RemoteTcpPcb, RemoteUdpPcb } from "./worker/remote-raw.js";
export { RemoteNetconnApi, RemoteNetconn, RemoteNetbuf } from "./worker/remote-netconn.js";
export { StackWorker, WorkerApis, WorkerSockets, BlockingSockets, connectBlocking, attachPort, portLink, PortLink, RingLink, ringBuffer, type StackWorkerOptions, type InterfaceDescription, type LinkDescription } from "./worker/client.js";
