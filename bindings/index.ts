/**
 * asip: a lightweight TCP/IP stack in the spirit of lwIP, in AssemblyScript
 * compiled to WebAssembly, driven from TypeScript.
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
export { StackWorker, WorkerApis, WorkerSockets, BlockingSockets, connectBlocking, attachPort, portLink, PortLink, type StackWorkerOptions, type InterfaceDescription, type LinkDescription } from "./worker/client.js";
