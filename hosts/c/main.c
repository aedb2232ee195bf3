/*
 * asip-c: the asip core (mvp build, translated to C by wasm2c) driving a
 * Linux TAP device, with no JavaScript anywhere. It follows docs/abi.md and
 * is what a microcontroller host looks like, minus the TAP.
 *
 *   asip-c [--netns NS] --tap NAME --ip A.B.C.D/PREFIX [--gateway A.B.C.D]
 *          [--ip6 ADDR/PREFIX ...] [--mac aa:bb:cc:dd:ee:ff] [--mtu N] [--udp-echo PORT]
 *
 * Prints "asip-c up ADDR on NAME" when ready, and "asip-c up ADDR/PREFIX on
 * NAME" for each IPv6 address (the link-local one too) once DAD has passed;
 * runs until SIGINT/SIGTERM and then prints frames in/out. IPv6 is on when
 * --ip6 is given (netif_ip6_config, netif_ip6_add: docs/abi.md).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "asip.h"
#include "wasm-rt.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint32_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)(ts.tv_sec * 1000u + ts.tv_nsec / 1000000u);
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* Opens a TAP, inside network namespace `ns` when given (this thread only). */
static int tap_open(const char *name, const char *ns) {
  int self = -1;
  if (ns) {
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    self = open("/proc/self/ns/net", O_RDONLY);
    int target = open(path, O_RDONLY);
    if (self < 0 || target < 0) die("open netns");
    if (setns(target, CLONE_NEWNET) < 0) die("setns");
    close(target);
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (ns) {
    if (setns(self, CLONE_NEWNET) < 0) die("setns back");
    close(self);
  }
  return fd;
}

/* "a.b.c.d" as the core wants it: the u32 whose memory bytes are a,b,c,d. */
static uint32_t ip4(const char *s) {
  struct in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1) { fprintf(stderr, "bad address %s\n", s); exit(2); }
  return a.s_addr; /* already network order in memory */
}

int main(int argc, char **argv) {
  const char *ns = NULL, *tap = NULL, *cidr = NULL, *gw = NULL, *mac_s = "02:00:00:00:c0:02";
  uint32_t mtu = 1500, udp_echo = 0;
  const char *cidr6[4];
  int n6 = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) { fprintf(stderr, "%s needs a value\n", a); return 2; }
    if (!strcmp(a, "--netns")) ns = v;
    else if (!strcmp(a, "--tap")) tap = v;
    else if (!strcmp(a, "--ip")) cidr = v;
    else if (!strcmp(a, "--gateway")) gw = v;
    else if (!strcmp(a, "--mac")) mac_s = v;
    else if (!strcmp(a, "--mtu")) mtu = (uint32_t)atoi(v);
    else if (!strcmp(a, "--udp-echo")) udp_echo = (uint32_t)atoi(v);
    else if (!strcmp(a, "--ip6")) {
      if (n6 == 4) { fprintf(stderr, "at most 4 --ip6\n"); return 2; }
      cidr6[n6++] = v;
    }
    else { fprintf(stderr, "unknown option %s\n", a); return 2; }
    i++;
  }
  if (!tap || !cidr) { fprintf(stderr, "usage: asip-c [--netns NS] --tap NAME --ip A.B.C.D/P\n"); return 2; }
  char addr[64];
  snprintf(addr, sizeof addr, "%s", cidr);
  char *slash = strchr(addr, '/');
  int prefix = slash ? atoi(slash + 1) : 24;
  if (slash) *slash = 0;
  uint32_t mask_host = prefix ? 0xffffffffu << (32 - prefix) : 0;
  uint32_t mask = htonl(mask_host);

  int fd = tap_open(tap, ns);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  /* The core. */
  wasm_rt_init();
  Z_asip_init_module();
  Z_asip_instance_t core;
  Z_asip_instantiate(&core);
  uint32_t seed;
  if (getentropy(&seed, sizeof seed) < 0) seed = (uint32_t)time(NULL);
  {
    /* 128 bits for the core's secrets (TCP ISNs, RFC 6528). */
    wasm_rt_memory_t *mm = Z_asipZ_memory(&core);
    uint32_t at = Z_asipZ_abi_scratch(&core);
    if (getentropy(mm->data + at, 16) == 0) Z_asipZ_config_entropy(&core, at);
  }
  Z_asipZ_asip_init(&core, now_ms(), seed);
  wasm_rt_memory_t *m = Z_asipZ_memory(&core);
#define MEM (m->data) /* re-read after every call: memory may grow */
  uint32_t layout = Z_asipZ_abi_layout(&core);
  uint32_t txr = *(uint32_t *)(MEM + layout + 4);
  uint32_t evr = *(uint32_t *)(MEM + layout + 8);

  unsigned b[6];
  if (sscanf(mac_s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) { fprintf(stderr, "bad MAC\n"); return 2; }
  uint32_t scratch = Z_asipZ_abi_scratch(&core);
  for (int i = 0; i < 6; i++) MEM[scratch + i] = (uint8_t)b[i];
  int32_t idx = (int32_t)Z_asipZ_netif_add_ethernet(&core, scratch, mtu);
  if (idx < 0) { fprintf(stderr, "netif_add_ethernet: %d\n", idx); return 1; }
  Z_asipZ_netif_config_ip4(&core, (uint32_t)idx, ip4(addr), mask, gw ? ip4(gw) : 0);
  if (n6) {
    /* IPv6 on: a link-local address, router solicitation, SLAAC (IP6_CONFIG_AUTO | IP6_CONFIG_SLAAC). */
    int32_t r = (int32_t)Z_asipZ_netif_ip6_config(&core, (uint32_t)idx, 3, 0);
    if (r < 0) { fprintf(stderr, "netif_ip6_config: %d\n", r); return 1; }
  }
  for (int k = 0; k < n6; k++) {
    /* The 20-byte ip_addr (docs/abi.md): 16 address bytes, type 6, zone 0. */
    char a6[64];
    snprintf(a6, sizeof a6, "%s", cidr6[k]);
    char *sl = strchr(a6, '/');
    int plen = sl ? atoi(sl + 1) : 64;
    if (sl) *sl = 0;
    struct in6_addr x;
    if (inet_pton(AF_INET6, a6, &x) != 1 || plen < 0 || plen > 128) { fprintf(stderr, "bad address %s\n", cidr6[k]); return 2; }
    uint32_t at = scratch + 128;
    memcpy(MEM + at, &x, 16);
    memset(MEM + at + 16, 0, 4);
    MEM[at + 16] = 6;
    int32_t r = (int32_t)Z_asipZ_netif_ip6_add(&core, (uint32_t)idx, at, (uint32_t)plen, 0);
    if (r < 0) { fprintf(stderr, "netif_ip6_add %s: %d\n", cidr6[k], r); return 1; }
  }
  Z_asipZ_netif_set_state(&core, (uint32_t)idx, 1, 1, 1);
  if (udp_echo) {
    int32_t h = (int32_t)Z_asipZ_service_udp_echo(&core, udp_echo);
    if (h < 0) { fprintf(stderr, "udp echo: %d\n", h); return 1; }
  }
  printf("asip-c up %s on %s\n", cidr, tap);
  fflush(stdout);

  static uint8_t frame[65536 + 64];
  unsigned long rx = 0, tx = 0, rx_nobuf = 0;
  int32_t next = -1;
  uint32_t shown6 = 0; /* IPv6 slots already printed */
  while (!stop) {
    /* IPv6 addresses that became preferred (0x30) since the last turn: netif_ip6_get, 36 bytes per slot. */
    for (int32_t slot = 0; n6 && slot < 8; slot++) {
      uint32_t at = scratch + 128;
      int32_t st = (int32_t)Z_asipZ_netif_ip6_get(&core, (uint32_t)idx, slot, at);
      if (st < 0) break;
      if ((st & 0x30) != 0x30 || (shown6 & (1u << slot))) continue;
      char txt[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, MEM + at, txt, sizeof txt);
      printf("asip-c up %s/%u on %s\n", txt, MEM[at + 21] ? MEM[at + 21] : 64, tap);
      fflush(stdout);
      shown6 |= 1u << slot;
    }
    /* Frames from the kernel. */
    for (int n = 0; n < 256; n++) {
      ssize_t len = read(fd, frame, sizeof frame);
      if (len <= 0) break;
      rx++;
      uint32_t p = Z_asipZ_rx_alloc(&core, (uint32_t)len);
      if (!p) { rx_nobuf++; continue; }
      memcpy(MEM + *(uint32_t *)(MEM + p + 4), frame, (size_t)len);
      Z_asipZ_netif_input_frame(&core, (uint32_t)idx, p);
    }
    /* Time, loopback, and what the core wants sent. */
    next = (int32_t)Z_asipZ_tick(&core, now_ms());
    for (;;) {
      uint32_t *h = (uint32_t *)(MEM + txr);
      uint32_t count = h[0] - h[1], cap = h[2];
      for (uint32_t k = 0; k < count; k++) {
        uint32_t *e = (uint32_t *)(MEM + txr + 16 + ((h[1] + k) & (cap - 1)) * 16);
        uint32_t len = e[3], off = e[3];
        memcpy(frame, MEM + e[2], len);
        for (uint32_t q = *(uint32_t *)(MEM + e[0]); q; q = *(uint32_t *)(MEM + q)) {
          uint32_t ql = *(uint32_t *)(MEM + q + 12);
          memcpy(frame + off, MEM + *(uint32_t *)(MEM + q + 4), ql);
          off += ql;
        }
        if (write(fd, frame, off) > 0) tx++;
      }
      if (count) Z_asipZ_tx_done(&core, count);
      uint32_t *ev = (uint32_t *)(MEM + evr);
      uint32_t evc = ev[0] - ev[1];
      if (evc) Z_asipZ_ev_done(&core, evc); /* this host has no host-side pcbs */
      if (next != 0) break;
      next = (int32_t)Z_asipZ_drain(&core);
    }
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    poll(&pfd, 1, next < 0 ? 1000 : next);
  }
  printf("asip-c: %lu frames in, %lu out, %lu without buffer\n", rx, tx, rx_nobuf);
  Z_asip_free(&core);
  wasm_rt_free();
  return 0;
}
