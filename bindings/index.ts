/**
 * asip: a lightweight TCP/IP stack in the spirit of lwIP, in AssemblyScript
 * compiled to WebAssembly, driven from TypeScript. This is the Node.js
 * entry; bundlers targeting browsers get bindings/browser.ts (the package's
 * `browser` condition), which leaves out what needs Node.
 *
 * @packageDocumentation
 */
// Everything a browser gets, then what needs Node.
export * from "./browser.js";
export { TapDevice } from "./netif/tap.js";
export { Relay, LocalPort, AddressPool, DEFAULT_NETWORK, type RelayOptions, type RelayStats, type NetworkPlan, type DropCounters } from "./node/relay.js";
export { Gateway, type GatewayOptions, type GatewayStats } from "./node/gateway.js";
export { DgramApi, Socket as DgramSocket } from "./api/dgram.js";
export { NetApi, Socket as NetSocket, Server as NetServer } from "./api/net.js";
