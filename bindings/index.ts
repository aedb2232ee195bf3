/**
 * asip: a lightweight TCP/IP stack in the spirit of lwIP, in AssemblyScript
 * compiled to WebAssembly, driven from TypeScript. This is the Node.js
 * entry; bundlers targeting browsers get bindings/browser.ts (the package's
 * `browser` condition), which leaves out what needs Node.
 *
 * @packageDocumentation
 */
export { Stack, Interface, type StackOptions, type InterfaceOptions } from "./stack.js";
export { loadCore, CoreAbortError, type Core, type CoreVariant } from "./core.js";
export { AsipError, ERR, errName, type StackStats } from "./abi.js";
export { pair, PairEnd, type PairOptions, type Impairment } from "./netif/pair.js";
export type { LinkDriver } from "./netif/driver.js";
export { TapDevice } from "./netif/tap.js";
export { PcapWriter, capture } from "./netif/pcap.js";
export {
  WebSocketLink, type WebSocketLinkOptions, type WebSocketLinkCounters, type WebSocketLike, type WebSocketCtor, type ControlMessage,
} from "./netif/websocket.js";
export {
  RtcDataChannelLink, type RtcDataChannelLinkOptions, type RtcDataChannelLinkCounters, type RtcSignal, type Signaller,
} from "./netif/webrtc.js";
export { BATCH_PROTOCOL, MAX_TUNNEL_MTU, FrameBatcher, decodeBatch, encodeBatch } from "./netif/framing.js";
export { Relay, LocalPort, AddressPool, DEFAULT_NETWORK, type RelayOptions, type RelayStats, type NetworkPlan, type DropCounters } from "./node/relay.js";
export { Gateway, type GatewayOptions, type GatewayStats } from "./node/gateway.js";
export { rawApi, RawApi, UdpPcb, RawPcb } from "./api/raw.js";
export { SocketError, errno, errnoName, strerror, errToErrno } from "./api/errno.js";
export * as netconn from "./api/netconn.js";
export { Netconn, Netbuf, NetconnApi } from "./api/netconn.js";
export * as sockets from "./api/sockets.js";
export { SocketsApi } from "./api/sockets.js";
export { DgramApi, Socket as DgramSocket } from "./api/dgram.js";
export { StreamsApi, UDPSocket } from "./api/streams.js";
export { NetApi, Socket as NetSocket, Server as NetServer } from "./api/net.js";
export { RemoteRaw, RemoteTcpPcb, RemoteUdpPcb } from "./worker/remote-raw.js";
export { RemoteNetconnApi, RemoteNetconn, RemoteNetbuf } from "./worker/remote-netconn.js";
export { StackWorker, WorkerApis, WorkerSockets, BlockingSockets, connectBlocking, attachPort, portLink, PortLink, RingLink, ringBuffer, type StackWorkerOptions, type InterfaceDescription, type LinkDescription } from "./worker/client.js";
