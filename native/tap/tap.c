/*
 * asip_tap: a Linux TAP device for Node.js, in plain C N-API.
 *
 *   const t = new Tap(name, netns?)   attach to (or create) TAP `name`, in
 *                                     /var/run/netns/<netns> if given
 *   t.start(cb, lens, shared?)        poll the fd with libuv; on each wakeup
 *                                     read up to lens.length frames (until
 *                                     EAGAIN) and call cb ONCE:
 *                                       cb(buf, count)   frames back to back
 *                                       in buf, their lengths in lens[0..count)
 *                                     buf is a fresh Buffer (frames stay valid),
 *                                     or, when `shared` (a Uint8Array) is
 *                                     given, frames are read straight into it,
 *                                     buf is that same array and they are only
 *                                     valid during the call.
 *                                     On a read error: cb(undefined, -errno),
 *                                     and polling stops.
 *   t.stop()                          stop polling (start() again to resume)
 *   t.write(u8)                       one frame, one write(); bytes written or
 *                                     -errno (EAGAIN is returned, not thrown)
 *   t.ref() / t.unref()               whether polling keeps the loop alive
 *   t.writeBatch(buf, lens, count)    frames back to back in buf: one write()
 *                                     each, one call from JS; returns how many
 *                                     were written (stops at the first error)
 *   t.close()                         stop polling, close the fd
 *   t.fd, t.name, t.mtu, t.mac        (mac: the kernel side's address)
 *   t.offload                         whether virtio-net headers are on
 *
 * Offload (new Tap(name, netns, { offload: true, mtu })): the device is
 * opened with IFF_VNET_HDR and TUNSETOFFLOAD (TUN_F_CSUM, TSO4, TSO6), as
 * QEMU, passt and gVisor do. Every frame then crosses with a 10-byte
 * struct virtio_net_hdr in front, which this file reads and writes so that
 * JavaScript sees plain Ethernet frames:
 *  - kernel → us: frames may be GSO super-frames (up to 64 KiB, one TCP
 *    segment as far as we are concerned) and may carry a partial checksum
 *    (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the pseudo-header sum,
 *    csum_start/csum_offset say where). We complete it here: the core
 *    verifies every checksum. SYNs from the kernel get their MSS option
 *    raised to fit `mtu` (checksum updated, RFC 1624), so the core's TCP sends
 *    segments as large as its own MTU allows.
 *  - us → kernel: a TCP frame longer than the wire MTU (the interface's
 *    MTU, read at open) is marked GSO (TCPV4/TCPV6, gso_size = wire MTU less
 *    the IP and TCP headers), so the kernel treats it as a TSO super-frame
 *    and segments it where it must (forwarding; locally it is received
 *    whole, as GRO would). Its checksum is complete (the core computed it):
 *    no NEEDS_CSUM, and the kernel verifies it like any other.
 *
 * The namespace switch uses setns(2) on the calling thread only, for the
 * open and the TUNSETIFF, then switches back; no other thread moves. A tun
 * fd stays bound to the device (and so to its namespace) after that.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>
#include <unistd.h>

#define MAX_BATCH 1024          /* upper bound on frames per wakeup */
#define SCRATCH_SIZE (1 << 20)  /* internal read buffer */
#define FRAME_RESERVE (65536 + 32) /* room kept for the largest possible frame */

typedef struct tap {
  napi_env env;
  int fd;
  uv_poll_t poll;
  int poll_inited;   /* uv_poll_init done and uv_close not yet completed */
  int polling;
  int closing;       /* uv_close issued */
  int js_alive;      /* the JS wrapper has not been finalized */
  int refed;
  int hook_added;
  napi_ref cb;
  napi_ref lens_ref;
  uint32_t *lens;
  size_t lens_cap;
  napi_ref shared_ref;
  uint8_t *shared;
  size_t shared_len;
  uint8_t *scratch;
  napi_async_context actx;
  int mtu;
  int vnet;          /* IFF_VNET_HDR on: a virtio_net_hdr precedes every frame */
  int mss_to;        /* raise the MSS option of the kernel's SYNs to fit this MTU (0: leave them) */
  char name[IFNAMSIZ];
  unsigned char mac[6];
} tap_t;

/* ---- checksums and header fix-ups for offload (network byte order) ---- */

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* RFC 1071 sum of b[0..len) added to `sum` (not folded). */
static uint64_t sum_bytes(const uint8_t *b, size_t len, uint64_t sum) {
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    /* Sum 32-bit halves in native order; the byte order is fixed up at the
     * fold (a one's-complement sum is byte-order independent, RFC 1071 §2B). */
    sum += (w & 0xffffffffu) + (w >> 32);
    b += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t h;
    memcpy(&h, b, 2);
    sum += h;
    b += 2;
    len -= 2;
  }
  if (len) {
    uint16_t h = 0;
    memcpy(&h, b, 1);
    sum += h;
  }
  return sum;
}

static uint16_t fold_native(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* VIRTIO_NET_HDR_F_NEEDS_CSUM: the field at start+offset holds the
 * pseudo-header sum; the checksum covers [start, len). */
static void complete_csum(uint8_t *f, size_t len, unsigned start, unsigned offset) {
  if (start + offset + 2 > len) return;
  uint16_t s = fold_native(sum_bytes(f + start, len - start, 0));
  uint16_t c = (uint16_t)~s;
  /* Native-order sum of native-order halfwords: store as it is. */
  memcpy(f + start + offset, &c, 2);
}

/* RFC 1624 eqn. 3: the checksum after a 16-bit word changes from m to m2. */
static uint16_t csum_adjust(uint16_t hc, uint16_t m, uint16_t m2) {
  uint32_t s = (uint16_t)~hc + (uint16_t)~m + m2;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

/* Where the TCP header of an Ethernet frame starts (0: not TCP over IPv4
 * or IPv6 without extension headers), and the IP header's length. */
static size_t tcp_offset(const uint8_t *f, size_t len, int *v6, size_t *iphl) {
  if (len < 14 + 20) return 0;
  uint16_t type = rd16(f + 12);
  if (type == 0x0800) {
    size_t ihl = (size_t)(f[14] & 15) * 4;
    if ((f[14] >> 4) != 4 || ihl < 20 || f[14 + 9] != 6 || (rd16(f + 14 + 6) & 0x3fff) != 0) return 0;
    if (len < 14 + ihl + 20) return 0;
    *v6 = 0;
    *iphl = ihl;
    return 14 + ihl;
  }
  if (type == 0x86dd) {
    if (len < 14 + 40 + 20 || (f[14] >> 4) != 6 || f[14 + 6] != 6) return 0;
    *v6 = 1;
    *iphl = 40;
    return 14 + 40;
  }
  return 0;
}

/* A SYN from the kernel: raise its MSS option to `to` (the core then sends
 * segments as large as its MTU allows; the kernel side takes them whole). */
static void raise_mss(uint8_t *f, size_t len, int to) {
  int v6;
  size_t iphl;
  size_t t = tcp_offset(f, len, &v6, &iphl);
  if (!t || !(f[t + 13] & 0x02)) return;
  size_t thl = (size_t)(f[t + 12] >> 4) * 4;
  if (thl < 20 || t + thl > len) return;
  int max = to - (int)iphl - 20;
  if (max > 65535) max = 65535;
  for (size_t o = t + 20; o < t + thl;) {
    uint8_t kind = f[o];
    if (kind == 0) break;
    if (kind == 1) { o++; continue; }
    if (o + 1 >= t + thl || f[o + 1] < 2 || o + f[o + 1] > t + thl) break;
    if (kind == 2 && f[o + 1] == 4) {
      uint16_t old = rd16(f + o + 2);
      if (old < max) {
        wr16(f + o + 2, (uint16_t)max);
        wr16(f + t + 16, csum_adjust(rd16(f + t + 16), old, (uint16_t)max));
      }
      break;
    }
    o += f[o + 1];
  }
}

/* The virtio_net_hdr for a frame we write: a TCP frame longer than the wire
 * MTU goes as GSO (its checksum is complete; the kernel checks it). */
static void tx_hdr(const tap_t *t, const uint8_t *f, size_t len, struct virtio_net_hdr *h) {
  memset(h, 0, sizeof *h);
  if (len <= (size_t)t->mtu + 14) return;
  int v6;
  size_t iphl;
  size_t off = tcp_offset(f, len, &v6, &iphl);
  if (!off) return;
  size_t thl = (size_t)(f[off + 12] >> 4) * 4;
  if (thl < 20 || off + thl >= len || (int)(iphl + thl) >= t->mtu) return;
  h->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  if (f[off + 13] & 0x80) h->gso_type |= VIRTIO_NET_HDR_GSO_ECN; /* CWR */
  h->hdr_len = (uint16_t)(off + thl);
  h->gso_size = (uint16_t)(t->mtu - iphl - thl);
}

#define CHECK(call)                                                        \
  do {                                                                     \
    napi_status s_ = (call);                                               \
    if (s_ != napi_ok) {                                                   \
      const napi_extended_error_info *ei_ = NULL;                          \
      napi_get_last_error_info(env, &ei_);                                 \
      bool pending_ = false;                                               \
      napi_is_exception_pending(env, &pending_);                           \
      if (!pending_)                                                       \
        napi_throw_error(env, NULL,                                        \
                         ei_ && ei_->error_message ? ei_->error_message    \
                                                   : "N-API call failed"); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static void throw_errno(napi_env env, int err, const char *what) {
  char msg[512];
  const char *code = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code ? code : "EIO", msg);
}

static void maybe_free(tap_t *t) {
  if (t->js_alive || t->poll_inited) return;
  free(t->scratch);
  free(t);
}

static void on_poll_closed(uv_handle_t *h) {
  tap_t *t = (tap_t *)h->data;
  t->poll_inited = 0;
  t->closing = 0;
  maybe_free(t);
}

static void drop_refs(tap_t *t) {
  napi_env env = t->env;
  if (t->cb) { napi_delete_reference(env, t->cb); t->cb = NULL; }
  if (t->lens_ref) { napi_delete_reference(env, t->lens_ref); t->lens_ref = NULL; }
  if (t->shared_ref) { napi_delete_reference(env, t->shared_ref); t->shared_ref = NULL; }
  t->lens = NULL; t->lens_cap = 0; t->shared = NULL; t->shared_len = 0;
}

/* Stops polling and closes the fd. Safe to call more than once, and from
 * inside the receive callback. `js` says whether JS references may be
 * touched (not in an env cleanup hook). */
static void tap_shutdown(tap_t *t, int js) {
  if (t->poll_inited && !t->closing) {
    uv_poll_stop(&t->poll);
    t->polling = 0;
    t->closing = 1;
    uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  }
  if (t->fd >= 0) { close(t->fd); t->fd = -1; }
  if (js) {
    drop_refs(t);
    if (t->actx) { napi_async_destroy(t->env, t->actx); t->actx = NULL; }
  }
}

static void cleanup_hook(void *arg) {
  tap_t *t = (tap_t *)arg;
  t->hook_added = 0;
  tap_shutdown(t, 0);
}

static void tap_close_js(tap_t *t) {
  if (t->hook_added) {
    napi_remove_env_cleanup_hook(t->env, cleanup_hook, t);
    t->hook_added = 0;
  }
  tap_shutdown(t, 1);
}

static void finalize(napi_env env, void *data, void *hint) {
  tap_t *t = (tap_t *)data;
  tap_close_js(t);
  t->js_alive = 0;
  maybe_free(t);
}

static void call_js(tap_t *t, int argc, napi_value *argv) {
  napi_env env = t->env;
  napi_value fn, recv, result;
  if (!t->cb || napi_get_reference_value(env, t->cb, &fn) != napi_ok || !fn) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_status s = napi_make_callback(env, t->actx, recv, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tap_t *t = (tap_t *)h->data;
  if (t->fd < 0 || !t->polling) return;
  napi_env env = t->env;
  int err = status < 0 ? status : 0;
  uint8_t *base = t->shared ? t->shared : t->scratch;
  size_t cap = t->shared ? t->shared_len : SCRATCH_SIZE;
  size_t max = t->lens_cap < MAX_BATCH ? t->lens_cap : MAX_BATCH;
  size_t off = 0;
  uint32_t n = 0;
  while (!err && n < max && cap - off >= FRAME_RESERVE) {
    ssize_t r;
    struct virtio_net_hdr vh;
    if (t->vnet) {
      struct iovec iov[2] = { { &vh, sizeof vh }, { base + off, cap - off } };
      r = readv(t->fd, iov, 2);
      if (r >= 0 && (size_t)r < sizeof vh) continue; /* a runt: nothing to deliver */
      if (r >= 0) r -= (ssize_t)sizeof vh;
    } else {
      r = read(t->fd, base + off, cap - off);
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      err = -errno;
      break;
    }
    if (t->vnet) {
      if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) complete_csum(base + off, (size_t)r, vh.csum_start, vh.csum_offset);
      if (t->mss_to) raise_mss(base + off, (size_t)r, t->mss_to);
    }
    t->lens[n++] = (uint32_t)r;
    off += (size_t)r;
  }
  /* A shared buffer smaller than FRAME_RESERVE still gets one frame per
   * wakeup, read with whatever room it has. */
  if (!err && n == 0 && t->shared && cap < FRAME_RESERVE && cap > 0) {
    ssize_t r = read(t->fd, base, cap);
    if (r >= 0) t->lens[n++] = (uint32_t)r;
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) err = -errno;
  }

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (n > 0) {
    napi_value argv[2];
    if (t->shared) {
      napi_get_reference_value(env, t->shared_ref, &argv[0]);
    } else {
      void *data;
      napi_create_buffer_copy(env, off, base, &data, &argv[0]);
    }
    napi_create_uint32(env, n, &argv[1]);
    call_js(t, 2, argv);
  }
  if (err && t->fd >= 0 && t->polling) {
    uv_poll_stop(&t->poll);
    t->polling = 0;
    napi_value argv[2];
    napi_get_undefined(env, &argv[0]);
    napi_create_int32(env, err, &argv[1]);
    call_js(t, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

static int valid_name(const char *s) {
  return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

/* Opens the TAP in the current namespace. Returns fd or -errno; *what says
 * which step failed. */
static int open_here(tap_t *t, const char **what) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { *what = "open /dev/net/tun"; return -errno; }
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (t->vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, t->name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    *what = "ioctl TUNSETIFF";
    return -e;
  }
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  if (t->vnet) {
    int sz = (int)sizeof(struct virtio_net_hdr);
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 || ioctl(fd, TUNSETOFFLOAD, off) < 0) {
      int e = errno;
      close(fd);
      *what = "ioctl TUNSETOFFLOAD";
      return -e;
    }
  }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock >= 0) {
    struct ifreq q;
    memset(&q, 0, sizeof q);
    strncpy(q.ifr_name, t->name, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFMTU, &q) == 0) t->mtu = q.ifr_mtu;
    memset(&q, 0, sizeof q);
    strncpy(q.ifr_name, t->name, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFHWADDR, &q) == 0) memcpy(t->mac, q.ifr_hwaddr.sa_data, 6);
    close(sock);
  }
  return fd;
}

static char *get_string(napi_env env, napi_value v, char *buf, size_t len) {
  size_t got;
  if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok) return NULL;
  if (got >= len - 1) return NULL;
  return buf;
}

static napi_value New(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self, target;
  CHECK(napi_get_new_target(env, info, &target));
  if (!target) { napi_throw_type_error(env, NULL, "Tap must be called with new"); return NULL; }
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  char name[IFNAMSIZ + 8], ns[NAME_MAX + 1];
  napi_valuetype vt = napi_undefined;
  if (argc < 1 || !get_string(env, argv[0], name, sizeof name) || strlen(name) >= IFNAMSIZ ||
      !valid_name(name)) {
    napi_throw_type_error(env, NULL, "Tap(name): name must be an interface name of 1-15 characters");
    return NULL;
  }
  int use_ns = 0;
  if (argc >= 2) napi_typeof(env, argv[1], &vt);
  if (vt == napi_string) {
    if (!get_string(env, argv[1], ns, sizeof ns) || !valid_name(ns)) {
      napi_throw_type_error(env, NULL, "Tap(name, netns): bad namespace name");
      return NULL;
    }
    use_ns = 1;
  } else if (vt != napi_undefined && vt != napi_null) {
    napi_throw_type_error(env, NULL, "Tap(name, netns): netns must be a string");
    return NULL;
  }

  int vnet = 0, mss_to = 0;
  vt = napi_undefined;
  if (argc >= 3) napi_typeof(env, argv[2], &vt);
  if (vt == napi_object) {
    napi_value v;
    bool b = false;
    if (napi_get_named_property(env, argv[2], "offload", &v) == napi_ok) napi_get_value_bool(env, v, &b);
    vnet = b ? 1 : 0;
    int32_t m = 0;
    if (napi_get_named_property(env, argv[2], "mtu", &v) == napi_ok && napi_get_value_int32(env, v, &m) == napi_ok) mss_to = m;
    if (mss_to < 0 || mss_to > 65535) {
      napi_throw_range_error(env, NULL, "Tap(name, netns, { mtu }): mtu must be 0..65535");
      return NULL;
    }
  } else if (vt != napi_undefined && vt != napi_null) {
    napi_throw_type_error(env, NULL, "Tap(name, netns, options): options must be an object");
    return NULL;
  }

  tap_t *t = calloc(1, sizeof *t);
  if (!t) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  t->env = env;
  t->fd = -1;
  t->vnet = vnet;
  t->mss_to = vnet ? mss_to : 0;
  memcpy(t->name, name, strlen(name) + 1);

  const char *what = "";
  int fd;
  if (use_ns) {
    char path[PATH_MAX];
    int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig < 0) { int e = errno; free(t); throw_errno(env, e, "open /proc/self/ns/net"); return NULL; }
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      int e = errno;
      close(orig); free(t);
      char m[PATH_MAX + 32];
      snprintf(m, sizeof m, "open %s", path);
      throw_errno(env, e, m);
      return NULL;
    }
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      int e = errno;
      close(nsfd); close(orig); free(t);
      throw_errno(env, e, "setns into the namespace");
      return NULL;
    }
    fd = open_here(t, &what);
    if (setns(orig, CLONE_NEWNET) < 0) {
      /* The main thread would stay in the wrong namespace: nothing sane
       * can continue. */
      napi_fatal_error("asip_tap", NAPI_AUTO_LENGTH, "setns back to the original network namespace failed", NAPI_AUTO_LENGTH);
    }
    close(nsfd);
    close(orig);
  } else {
    fd = open_here(t, &what);
  }
  if (fd < 0) {
    free(t);
    char m[128];
    snprintf(m, sizeof m, "%s %s", what, name);
    throw_errno(env, -fd, m);
    return NULL;
  }
  t->fd = fd;
  t->js_alive = 1;
  t->refed = 1;
  t->poll.data = t;
  napi_value rname;
  napi_create_string_utf8(env, "asip.tap", NAPI_AUTO_LENGTH, &rname);
  if (napi_async_init(env, self, rname, &t->actx) != napi_ok) t->actx = NULL;
  if (napi_wrap(env, self, t, finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(t);
    napi_throw_error(env, NULL, "napi_wrap failed");
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, cleanup_hook, t) == napi_ok) t->hook_added = 1;
  return self;
}

static tap_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *p = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "not a Tap");
    return NULL;
  }
  return (tap_t *)p;
}

static int typed_u8(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t n;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &type, &n, data, &ab, &off) != napi_ok) return 0;
    size_t el = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: el = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: el = 8; break;
      default: el = 1;
    }
    *len = n * el;
    return 1;
  }
  napi_is_dataview(env, v, &is);
  if (is) {
    napi_value ab;
    size_t off;
    return napi_get_dataview_info(env, v, len, data, &ab, &off) == napi_ok;
  }
  return 0;
}

static napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  tap_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  if (t->fd < 0) { throw_errno(env, EBADF, "start: the TAP is closed"); return NULL; }
  napi_valuetype vt = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &vt);
  if (vt != napi_function) { napi_throw_type_error(env, NULL, "start(cb, lens[, shared]): cb must be a function"); return NULL; }
  bool is = false;
  napi_typedarray_type type = napi_int8_array;
  size_t nlens = 0;
  void *lens = NULL;
  if (argc >= 2) napi_is_typedarray(env, argv[1], &is);
  if (is) {
    napi_value ab;
    size_t off;
    CHECK(napi_get_typedarray_info(env, argv[1], &type, &nlens, &lens, &ab, &off));
  }
  if (!is || type != napi_uint32_array || nlens == 0) {
    napi_throw_type_error(env, NULL, "start(cb, lens[, shared]): lens must be a non-empty Uint32Array");
    return NULL;
  }
  void *shared = NULL;
  size_t shared_len = 0;
  vt = napi_undefined;
  if (argc >= 3) napi_typeof(env, argv[2], &vt);
  if (vt != napi_undefined && vt != napi_null) {
    napi_typedarray_type st = napi_int8_array;
    size_t sn = 0;
    napi_value ab;
    size_t off;
    is = false;
    napi_is_typedarray(env, argv[2], &is);
    if (is) CHECK(napi_get_typedarray_info(env, argv[2], &st, &sn, &shared, &ab, &off));
    if (!is || st != napi_uint8_array || sn == 0) {
      napi_throw_type_error(env, NULL, "start(cb, lens, shared): shared must be a non-empty Uint8Array");
      return NULL;
    }
    shared_len = sn;
  }
  if (!shared && !t->scratch) {
    t->scratch = malloc(SCRATCH_SIZE);
    if (!t->scratch) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  }
  drop_refs(t);
  CHECK(napi_create_reference(env, argv[0], 1, &t->cb));
  CHECK(napi_create_reference(env, argv[1], 1, &t->lens_ref));
  t->lens = (uint32_t *)lens;
  t->lens_cap = nlens;
  if (shared) {
    CHECK(napi_create_reference(env, argv[2], 1, &t->shared_ref));
    t->shared = shared;
    t->shared_len = shared_len;
  }
  if (!t->poll_inited) {
    uv_loop_t *loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    int r = uv_poll_init(loop, &t->poll, t->fd);
    if (r < 0) { throw_errno(env, -r, "uv_poll_init"); return NULL; }
    t->poll.data = t;
    t->poll_inited = 1;
    if (!t->refed) uv_unref((uv_handle_t *)&t->poll);
  }
  int r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
  if (r < 0) { throw_errno(env, -r, "uv_poll_start"); return NULL; }
  t->polling = 1;
  return NULL;
}

static napi_value Stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  if (t->poll_inited && !t->closing) uv_poll_stop(&t->poll);
  t->polling = 0;
  return NULL;
}

/* One frame, one write (with its virtio_net_hdr when offload is on): bytes
 * of the frame written, or -errno. */
static ssize_t write_frame(tap_t *t, const uint8_t *data, size_t len) {
  ssize_t r;
  if (t->fd < 0) return -EBADF;
  if (t->vnet) {
    struct virtio_net_hdr vh;
    tx_hdr(t, data, len, &vh);
    struct iovec iov[2] = { { &vh, sizeof vh }, { (void *)data, len } };
    do r = writev(t->fd, iov, 2); while (r < 0 && errno == EINTR);
    if (r >= (ssize_t)sizeof vh) r -= (ssize_t)sizeof vh;
  } else {
    do r = write(t->fd, data, len); while (r < 0 && errno == EINTR);
  }
  return r < 0 ? -errno : r;
}

static napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ret;
  tap_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  void *data;
  size_t len;
  if (argc < 1 || !typed_u8(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, NULL, "write(frame): frame must be a Uint8Array (or another ArrayBufferView)");
    return NULL;
  }
  ssize_t r = write_frame(t, data, len);
  napi_create_int32(env, (int32_t)r, &ret);
  return ret;
}

static napi_value WriteBatch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], ret;
  tap_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  void *data, *lensp;
  size_t len, lenbytes;
  uint32_t count = 0;
  if (argc < 3 || !typed_u8(env, argv[0], &data, &len) || !typed_u8(env, argv[1], &lensp, &lenbytes) ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok || (size_t)count * 4 > lenbytes) {
    napi_throw_type_error(env, NULL, "writeBatch(buf, lens, count): buf a Uint8Array, lens a Uint32Array of at least count lengths");
    return NULL;
  }
  const uint32_t *lens = (const uint32_t *)lensp;
  size_t off = 0;
  uint32_t i = 0;
  for (; i < count; i++) {
    if (off + lens[i] > len) break;
    ssize_t r = write_frame(t, (uint8_t *)data + off, lens[i]);
    if (r != (ssize_t)lens[i]) break;
    off += lens[i];
  }
  napi_create_uint32(env, i, &ret);
  return ret;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  tap_close_js(t);
  return NULL;
}

static napi_value Ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  t->refed = 1;
  if (t->poll_inited && !t->closing) uv_ref((uv_handle_t *)&t->poll);
  return NULL;
}

static napi_value Unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  t->refed = 0;
  if (t->poll_inited && !t->closing) uv_unref((uv_handle_t *)&t->poll);
  return NULL;
}

static napi_value GetFd(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value v;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_create_int32(env, t->fd, &v);
  return v;
}

static napi_value GetName(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value v;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value GetMtu(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value v;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_create_int32(env, t->mtu, &v);
  return v;
}

static napi_value GetOffload(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value v;
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_get_boolean(env, t->vnet != 0, &v);
  return v;
}

static napi_value GetMac(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value v;
  char s[18];
  tap_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", t->mac[0], t->mac[1], t->mac[2], t->mac[3],
           t->mac[4], t->mac[5]);
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "start", NULL, Start, NULL, NULL, NULL, napi_default, NULL },
    { "stop", NULL, Stop, NULL, NULL, NULL, napi_default, NULL },
    { "write", NULL, Write, NULL, NULL, NULL, napi_default, NULL },
    { "writeBatch", NULL, WriteBatch, NULL, NULL, NULL, napi_default, NULL },
    { "offload", NULL, NULL, GetOffload, NULL, NULL, napi_default, NULL },
    { "close", NULL, Close, NULL, NULL, NULL, napi_default, NULL },
    { "ref", NULL, Ref, NULL, NULL, NULL, napi_default, NULL },
    { "unref", NULL, Unref, NULL, NULL, NULL, napi_default, NULL },
    { "fd", NULL, NULL, GetFd, NULL, NULL, napi_default, NULL },
    { "name", NULL, NULL, GetName, NULL, NULL, napi_default, NULL },
    { "mtu", NULL, NULL, GetMtu, NULL, NULL, napi_default, NULL },
    { "mac", NULL, NULL, GetMac, NULL, NULL, napi_default, NULL },
  };
  napi_value cls, max;
  CHECK(napi_define_class(env, "Tap", NAPI_AUTO_LENGTH, New, NULL, sizeof props / sizeof props[0], props, &cls));
  CHECK(napi_set_named_property(env, exports, "Tap", cls));
  CHECK(napi_create_uint32(env, MAX_BATCH, &max));
  CHECK(napi_set_named_property(env, exports, "MAX_BATCH", max));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
