// asip's compile-time options: the lwipopts.h of asip.
//
// Every option has lwIP's name and a default chosen for asip's hosts (Node,
// browsers, microcontroller runtimes). A build overrides any of them with
// asc's `--use ASIP_NAME=value`; the pool counts and heap size can also be
// changed at run time before `asip_init` (index.ts `config_pool`, `config_heap`;
// the Stack options `pools` and `heapSize`).
//
// | option               | default | meaning                                            |
// |----------------------|---------|----------------------------------------------------|
// | LWIP_IPV4            | 1       | IPv4: ip4, ip4_frag, icmp, etharp                  |
// | LWIP_IPV6            | 1       | IPv6 (ipv6/: ip6, ip6_frag, icmp6, nd6, slaac,    |
// |                      |         | mld6) through the dual-stack seam (ip.ts)         |
// | LWIP_IPV6_NUM_ADDRESSES | 3    | IPv6 address slots per netif (link-local + 2)      |
// | ND6_NUM_NEIGHBORS    | 16      | entries in the neighbour cache (RFC 4861)          |
// | ND6_NUM_DESTINATIONS | 16      | entries in the destination cache (next hop, PMTU)  |
// | ND6_NUM_PREFIXES     | 8       | on-link prefixes learned from RAs                  |
// | ND6_NUM_ROUTERS      | 4       | default routers learned from RAs                   |
// | ND6_NUM_RDNSS        | 3       | DNS servers learned from RAs (RFC 8106)            |
// | ND6_QUEUE_LEN        | 3       | packets one INCOMPLETE neighbour holds             |
// | MLD6_NUM_GROUPS      | 16      | IPv6 multicast groups listened to (all netifs)     |
// | IP6_REASS_MAX_DATAGRAMS | 8    | IPv6 datagrams being reassembled at once           |
// | IP6_REASS_MAX_FRAGS  | 96      | IPv6 fragments held for reassembly                 |
// | IP6_REASS_MAX_BYTES  | 192 KiB | fragment data held for reassembly                  |
// | IP6_REASS_MAXAGE_S   | 60      | seconds an IPv6 datagram may take (RFC 8200 §4.5) |
// | MEM_SIZE             | 8 MiB   | bytes in the `mem` heap (PBUF_RAM, variable blocks) |
// | MEM_ALIGNMENT        | 8       | alignment of heap blocks and pool elements          |
// | PBUF_POOL_SIZE       | 512     | buffers in the PBUF_POOL pool (RX frames)          |
// | PBUF_POOL_BUFSIZE    | 1536    | payload bytes per pool buffer (one 1500-MTU frame) |
// | PBUF_POOL_COMPACT_PCT | 50     | % of PBUF_POOL in use from which received data   |
// |                      |         | that is kept (TCP queues, unread data) is copied  |
// |                      |         | out of the pool into tight PBUF_RAM pbufs          |
// | PBUF_POOL_RESERVE_PCT | 12     | % of PBUF_POOL kept free for new frames: below it, |
// |                      |         | data that cannot be copied out is dropped (the ACK |
// |                      |         | it carried is still used) rather than kept         |
// | MEMP_NUM_PBUF        | 256     | pbuf headers for ROM/REF pbufs                     |
// | MEMP_NUM_SYS_TIMEOUT | 64      | simultaneously active timeouts                     |
// | MEMP_NUM_UDP_PCB     | 32      | UDP pcbs                                           |
// | MEMP_NUM_RAW_PCB     | 8       | raw IP pcbs                                        |
// | MEMP_NUM_TCP_PCB     | 64      | active TCP pcbs                                    |
// | MEMP_NUM_TCP_PCB_LISTEN | 16   | listening TCP pcbs                                 |
// | MEMP_NUM_TCP_SEG     | 512     | queued TCP segments                                |
// | MEMP_NUM_REASSDATA   | 8       | IP datagrams being reassembled at once             |
// | MEMP_NUM_ARP_QUEUE   | 32      | packets queued while ARP resolves                  |
// | IP_REASS_MAX_PBUFS   | 64      | pbufs all reassembly may hold                      |
// | IP_REASS_MAXAGE_S    | 15      | seconds a datagram may take to reassemble          |
// | ARP_TABLE_SIZE       | 32      | entries in the ARP cache                           |
// | ARP_QUEUE_LEN        | 3       | packets one unresolved ARP entry holds             |
// | TCP_MSS              | 1460    | default MSS (lowered to fit the netif MTU)         |
// | TCP_WND              | 256 KiB | receive window (scaled with TCP_RCV_SCALE)         |
// | TCP_SND_BUF          | 256 KiB | send buffer per pcb                                |
// | TCP_RCV_SCALE        | 3       | window scale we announce (RFC 7323)                |
// | TX_RING_SIZE         | 1024    | frames the core can queue for the host per call    |
// | EVENT_RING_SIZE      | 4096    | events the core can queue for the host per call    |
//
// The pbuf layer header room (PBUF_LINK_HLEN etc.) follows lwIP's opt.h.

// Each option: `--use ASIP_<NAME>=value` overrides it at build time.

// ---- protocols (lwIP opt.h) -----------------------------------------------------
// Feature switches are compile-time constants: code under `if (LWIP_IPV6)`
// is neither compiled nor resolved when the switch is off, so a build
// carries only the protocols it names (lwIP's #if LWIP_IPV6). Later
// protocols (DHCP, IGMP, MLD, …) get one switch each here.
export const LWIP_IPV4: bool = isDefined(ASIP_IPV4) ? ASIP_IPV4 != 0 : true;
export const LWIP_IPV6: bool = isDefined(ASIP_IPV6) ? ASIP_IPV6 != 0 : true;
export const LWIP_IPV6_NUM_ADDRESSES: i32 = isDefined(ASIP_IPV6_NUM_ADDRESSES) ? ASIP_IPV6_NUM_ADDRESSES : 3;
export const ND6_NUM_NEIGHBORS: i32 = isDefined(ASIP_ND6_NUM_NEIGHBORS) ? ASIP_ND6_NUM_NEIGHBORS : 16;
export const ND6_NUM_DESTINATIONS: i32 = isDefined(ASIP_ND6_NUM_DESTINATIONS) ? ASIP_ND6_NUM_DESTINATIONS : 16;
export const ND6_NUM_PREFIXES: i32 = isDefined(ASIP_ND6_NUM_PREFIXES) ? ASIP_ND6_NUM_PREFIXES : 8;
export const ND6_NUM_ROUTERS: i32 = isDefined(ASIP_ND6_NUM_ROUTERS) ? ASIP_ND6_NUM_ROUTERS : 4;
export const ND6_NUM_RDNSS: i32 = isDefined(ASIP_ND6_NUM_RDNSS) ? ASIP_ND6_NUM_RDNSS : 3;
export const ND6_QUEUE_LEN: u32 = isDefined(ASIP_ND6_QUEUE_LEN) ? <u32>ASIP_ND6_QUEUE_LEN : 3;
export const MLD6_NUM_GROUPS: i32 = isDefined(ASIP_MLD6_NUM_GROUPS) ? ASIP_MLD6_NUM_GROUPS : 16;
export const IP6_REASS_MAX_DATAGRAMS: i32 = isDefined(ASIP_IP6_REASS_MAX_DATAGRAMS) ? ASIP_IP6_REASS_MAX_DATAGRAMS : 8;
export const IP6_REASS_MAX_FRAGS: i32 = isDefined(ASIP_IP6_REASS_MAX_FRAGS) ? ASIP_IP6_REASS_MAX_FRAGS : 96;
export const IP6_REASS_MAX_BYTES: i32 = isDefined(ASIP_IP6_REASS_MAX_BYTES) ? ASIP_IP6_REASS_MAX_BYTES : 192 * 1024;
export const IP6_REASS_MAXAGE_S: i32 = isDefined(ASIP_IP6_REASS_MAXAGE) ? ASIP_IP6_REASS_MAXAGE : 60;
// @ts-ignore: a compile-time check
if (!LWIP_IPV4 && !LWIP_IPV6) ERROR("config.ts: a build needs LWIP_IPV4 or LWIP_IPV6 (ASIP_IPV4 / ASIP_IPV6)");

export const MEM_SIZE: i32 = isDefined(ASIP_MEM_SIZE) ? ASIP_MEM_SIZE : 8 << 20;
export const MEM_ALIGNMENT: i32 = 8;
export const PBUF_POOL_SIZE: i32 = isDefined(ASIP_PBUF_POOL_SIZE) ? ASIP_PBUF_POOL_SIZE : 512;
export const PBUF_POOL_BUFSIZE: i32 = isDefined(ASIP_PBUF_POOL_BUFSIZE) ? ASIP_PBUF_POOL_BUFSIZE : 1536;
export const PBUF_POOL_COMPACT_PCT: i32 = isDefined(ASIP_PBUF_POOL_COMPACT_PCT) ? ASIP_PBUF_POOL_COMPACT_PCT : 50;
export const PBUF_POOL_RESERVE_PCT: i32 = isDefined(ASIP_PBUF_POOL_RESERVE_PCT) ? ASIP_PBUF_POOL_RESERVE_PCT : 12;
export const MEMP_NUM_PBUF: i32 = isDefined(ASIP_MEMP_NUM_PBUF) ? ASIP_MEMP_NUM_PBUF : 256;
export const MEMP_NUM_SYS_TIMEOUT: i32 = isDefined(ASIP_MEMP_NUM_SYS_TIMEOUT) ? ASIP_MEMP_NUM_SYS_TIMEOUT : 64;
export const MEMP_NUM_UDP_PCB: i32 = isDefined(ASIP_MEMP_NUM_UDP_PCB) ? ASIP_MEMP_NUM_UDP_PCB : 32;
export const MEMP_NUM_RAW_PCB: i32 = isDefined(ASIP_MEMP_NUM_RAW_PCB) ? ASIP_MEMP_NUM_RAW_PCB : 8;
export const MEMP_NUM_TCP_PCB: i32 = isDefined(ASIP_MEMP_NUM_TCP_PCB) ? ASIP_MEMP_NUM_TCP_PCB : 64;
export const MEMP_NUM_TCP_PCB_LISTEN: i32 = isDefined(ASIP_MEMP_NUM_TCP_PCB_LISTEN) ? ASIP_MEMP_NUM_TCP_PCB_LISTEN : 16;
export const MEMP_NUM_TCP_SEG: i32 = isDefined(ASIP_MEMP_NUM_TCP_SEG) ? ASIP_MEMP_NUM_TCP_SEG : 512;
export const MEMP_NUM_REASSDATA: i32 = isDefined(ASIP_MEMP_NUM_REASSDATA) ? ASIP_MEMP_NUM_REASSDATA : 8;
export const MEMP_NUM_ARP_QUEUE: i32 = isDefined(ASIP_MEMP_NUM_ARP_QUEUE) ? ASIP_MEMP_NUM_ARP_QUEUE : 32;
export const IP_REASS_MAX_PBUFS: i32 = isDefined(ASIP_IP_REASS_MAX_PBUFS) ? ASIP_IP_REASS_MAX_PBUFS : 64;
export const IP_REASS_MAXAGE_S: i32 = isDefined(ASIP_IP_REASS_MAXAGE) ? ASIP_IP_REASS_MAXAGE : 15;
export const ARP_TABLE_SIZE: i32 = isDefined(ASIP_ARP_TABLE_SIZE) ? ASIP_ARP_TABLE_SIZE : 32;
export const ARP_QUEUE_LEN: u32 = isDefined(ASIP_ARP_QUEUE_LEN) ? <u32>ASIP_ARP_QUEUE_LEN : 3;
export const TCP_MSS: i32 = isDefined(ASIP_TCP_MSS) ? ASIP_TCP_MSS : 1460;
export const TCP_WND: i32 = isDefined(ASIP_TCP_WND) ? ASIP_TCP_WND : 256 * 1024;
export const TCP_SND_BUF: i32 = isDefined(ASIP_TCP_SND_BUF) ? ASIP_TCP_SND_BUF : 256 * 1024;
export const TCP_RCV_SCALE: i32 = isDefined(ASIP_TCP_RCV_SCALE) ? ASIP_TCP_RCV_SCALE : 3;
export const TX_RING_SIZE: i32 = isDefined(ASIP_TX_RING_SIZE) ? ASIP_TX_RING_SIZE : 1024;
export const EVENT_RING_SIZE: i32 = isDefined(ASIP_EVENT_RING_SIZE) ? ASIP_EVENT_RING_SIZE : 4096;

// pbuf header room per layer (lwIP opt.h PBUF_*_HLEN). The link layer reserves
// room for an 802.1Q tag; IP reserves room for IPv6's 40-byte header.
export const PBUF_LINK_ENCAPSULATION_HLEN: i32 = 0;
export const PBUF_LINK_HLEN: i32 = 18; // Ethernet 14 + 802.1Q tag 4
export const PBUF_IP_HLEN: i32 = 40; // IPv6 header (IPv4's 20 fits)
export const PBUF_TRANSPORT_HLEN: i32 = 20; // TCP header without options
