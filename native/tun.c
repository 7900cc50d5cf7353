/*
 * ipsec6in4 native addon (Linux): what node:dgram cannot do.
 *
 *   tunOpen(name)              open /dev/net/tun as IFF_TUN | IFF_NO_PI → { fd, name }
 *   rawOpen(protocol)          socket(AF_INET, SOCK_RAW, protocol) with IP_HDRINCL → fd
 *                              (receives whole IPv4 packets, header included; sends the
 *                              pipeline's IPv4 packets as they are)
 *   watch(fd, max, cb)         libuv poll on fd: when readable, read up to `max` packets
 *                              (non-blocking) and call cb(0, [Buffer, …]); on a poll error
 *                              (a TUN device deleted underneath: EBADFD) call cb(errno, null)
 *                              once and stop → handle
 *   unwatch(handle)            stop watching (idempotent)
 *   write(fd, buf)             write one packet → bytes written or -errno (never throws)
 *   sendTo(fd, buf, ipv4)      sendto() to an IPv4 address given as a uint32 → bytes or -errno
 *   close(fd)                  → 0 or -errno
 *   strerror(errno)            → text
 *
 * Every descriptor is O_NONBLOCK | O_CLOEXEC, so nothing here blocks the event loop. Errors
 * from the open calls are thrown as Error objects with `errno` (positive) and `syscall`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <uv.h>

#define PKT_MAX 65536

static unsigned char rxbuf[PKT_MAX];

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) return throw_napi(env);    \
  } while (0)

static napi_value throw_napi(napi_env env) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_get_last_error_info(env, &info);
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "ERR_NATIVE", info && info->error_message ? info->error_message : "N-API call failed");
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *syscall, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, what, strerror(err));
  napi_value text, error, num, sc;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

static int arg_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

/* tunOpen(name: string): { fd, name } */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ + 1] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "tunOpen(name): name must be a string");
    return NULL;
  }
  if (len >= IFNAMSIZ) {
    napi_throw_range_error(env, "ERR_INPUT_TYPE", "tunOpen(name): interface names have at most 15 characters");
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", "/dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    char what[64];
    snprintf(what, sizeof what, "TUNSETIFF %s", name);
    return throw_errno(env, "ioctl", what, e);
  }
  napi_value obj, n;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_set_named_property(env, obj, "fd", make_int(env, fd)));
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &n));
  CHECK(napi_set_named_property(env, obj, "name", n));
  return obj;
}

/* rawOpen(protocol: number): fd */
static napi_value raw_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t proto;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || arg_int(env, argv[0], &proto) || proto < 1 || proto > 255) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "rawOpen(protocol): protocol must be an integer from 1 to 255");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  char what[32];
  snprintf(what, sizeof what, "SOCK_RAW protocol %d", proto);
  if (fd < 0) return throw_errno(env, "socket", what, errno);
  int one = 1;
  if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt", "IP_HDRINCL", e);
  }
  int rcv = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv); /* best effort */
  return make_int(env, fd);
}

/* ---- watching a descriptor with libuv ---- */

typedef struct watcher {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  int fd;
  int max;
  int active;
  int closing;   /* uv_close() called */
  int closed;    /* libuv is done with the handle */
  int finalized; /* the JS handle is gone (or was never made) */
} watcher_t;

/* Two owners: libuv (until on_closed) and the JS external (until its finalizer). */
static void on_closed(uv_handle_t *h) {
  watcher_t *w = (watcher_t *)h->data;
  w->closed = 1;
  if (w->finalized) free(w);
}

/*
 * Close the libuv handle now, not when the JS handle is garbage-collected: closing a poll
 * handle removes its descriptor from the loop's epoll set (epoll_ctl DEL by number), and by GC
 * time the descriptor's number may belong to a new device (a TUN recreated under the same fd),
 * which would then silently stop delivering.
 */
static void close_watcher(watcher_t *w) {
  if (w->closing) return;
  w->closing = 1;
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

static void stop_watcher(watcher_t *w) {
  if (!w->active) return;
  w->active = 0;
  uv_poll_stop(&w->poll);
  if (w->cb) {
    napi_delete_reference(w->env, w->cb);
    w->cb = NULL;
  }
  if (w->ctx) {
    napi_async_destroy(w->env, w->ctx);
    w->ctx = NULL;
  }
}

static void call_js(watcher_t *w, int err, napi_value packets) {
  napi_env env = w->env;
  napi_value cb, global, argv[2], result;
  if (!w->cb || napi_get_reference_value(env, w->cb, &cb) != napi_ok) return;
  napi_get_global(env, &global);
  napi_create_int32(env, err, &argv[0]);
  if (packets) argv[1] = packets;
  else napi_get_null(env, &argv[1]);
  napi_status s = napi_make_callback(env, w->ctx, global, cb, 2, argv, &result);
  if (s == napi_pending_exception) {
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    napi_fatal_exception(env, ex);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  watcher_t *w = (watcher_t *)h->data;
  if (!w->active) return;
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF; ask the descriptor what is wrong */
    int err = -status;
    ssize_t r = read(w->fd, rxbuf, sizeof rxbuf);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
    call_js(w, err, NULL);
    stop_watcher(w);
    close_watcher(w);
    napi_close_handle_scope(w->env, scope);
    return;
  }
  (void)events;
  napi_value arr;
  napi_create_array(w->env, &arr);
  uint32_t n = 0;
  int err = 0;
  while ((int)n < w->max) {
    ssize_t r = read(w->fd, rxbuf, sizeof rxbuf);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (r == 0) break;
    napi_value buf;
    void *data;
    if (napi_create_buffer_copy(w->env, (size_t)r, rxbuf, &data, &buf) != napi_ok) break;
    napi_set_element(w->env, arr, n++, buf);
  }
  if (n > 0) call_js(w, 0, arr);
  if (err && w->active) {
    call_js(w, err, NULL);
    stop_watcher(w);
    close_watcher(w);
  }
  napi_close_handle_scope(w->env, scope);
}

static void finalize_watcher(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher_t *w = (watcher_t *)data;
  stop_watcher(w);
  w->finalized = 1;
  if (!w->closing) close_watcher(w);
  else if (w->closed) free(w);
}

/* watch(fd, max, cb): handle */
static napi_value watch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd, max;
  napi_valuetype t;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || arg_int(env, argv[0], &fd) || arg_int(env, argv[1], &max) || fd < 0 || max < 1) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "watch(fd, max, cb): fd and max must be non-negative integers");
    return NULL;
  }
  CHECK(napi_typeof(env, argv[2], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "watch(fd, max, cb): cb must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  watcher_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "watch: out of memory");
    return NULL;
  }
  w->env = env;
  w->fd = fd;
  w->max = max;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r < 0) {
    free(w);
    return throw_errno(env, "uv_poll_init", "", -r);
  }
  w->poll.data = w;
  napi_value name, handle;
  CHECK(napi_create_reference(env, argv[2], 1, &w->cb));
  CHECK(napi_create_string_utf8(env, "ipsec6in4:watch", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &w->ctx));
  r = uv_poll_start(&w->poll, UV_READABLE, on_poll);
  if (r < 0) {
    napi_delete_reference(env, w->cb);
    napi_async_destroy(env, w->ctx);
    w->finalized = 1; /* no JS handle will own it */
    close_watcher(w);
    return throw_errno(env, "uv_poll_start", "", -r);
  }
  w->active = 1;
  CHECK(napi_create_external(env, w, finalize_watcher, NULL, &handle));
  return handle;
}

/* unwatch(handle) */
static napi_value unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "unwatch(handle): not a watch handle");
    return NULL;
  }
  stop_watcher((watcher_t *)data);
  close_watcher((watcher_t *)data);
  return NULL;
}

static int arg_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, data, len) == napi_ok ? 0 : -1;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok || type != napi_uint8_array) return -1;
    return 0;
  }
  return -1;
}

/* write(fd, buf): bytes or -errno */
static napi_value do_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  void *data;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || arg_int(env, argv[0], &fd) || arg_buffer(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "write(fd, bytes): fd must be an integer, bytes a Uint8Array");
    return NULL;
  }
  ssize_t r;
  do r = write(fd, data, len);
  while (r < 0 && errno == EINTR);
  return make_int(env, r < 0 ? -errno : r);
}

/* sendTo(fd, buf, ipv4 as uint32): bytes or -errno */
static napi_value send_to(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  uint32_t addr;
  void *data;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || arg_int(env, argv[0], &fd) || arg_buffer(env, argv[1], &data, &len) || napi_get_value_uint32(env, argv[2], &addr) != napi_ok) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "sendTo(fd, bytes, ipv4): fd an integer, bytes a Uint8Array, ipv4 a uint32");
    return NULL;
  }
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(addr);
  ssize_t r;
  do r = sendto(fd, data, len, 0, (struct sockaddr *)&sin, sizeof sin);
  while (r < 0 && errno == EINTR);
  return make_int(env, r < 0 ? -errno : r);
}

/* close(fd): 0 or -errno */
static napi_value do_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || arg_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, "ERR_INPUT_TYPE", "close(fd): fd must be an integer");
    return NULL;
  }
  return make_int(env, close(fd) < 0 ? -errno : 0);
}

static napi_value do_strerror(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], s;
  int32_t e = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) arg_int(env, argv[0], &e);
  CHECK(napi_create_string_utf8(env, strerror(e < 0 ? -e : e), NAPI_AUTO_LENGTH, &s));
  return s;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rawOpen", NULL, raw_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatch", NULL, unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, do_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendTo", NULL, send_to, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, do_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"strerror", NULL, do_strerror, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value v;
  napi_create_int32(env, 1, &v);
  napi_set_named_property(env, exports, "abi", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
