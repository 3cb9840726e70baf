/*
 * The few socket syscalls the io_uring transport needs around the ring: a listening socket libuv
 * never watches (the ring's multishot accept takes its connections), the peer address of an
 * accepted fd, TCP_NODELAY, the bytes the peer acknowledged (TCP_INFO). Plain synchronous calls:
 * none of them blocks. And the peer of the ring's start-up self-check (wakeProbe), a thread of
 * its own.
 *
 * And passing a client's connection to another worker (src/transport/handoff.ts): a unix
 * datagram socket per worker (fdSocket), one datagram per connection carrying its fd as
 * SCM_RIGHTS and the bytes already read from it (sendFd), taken by the peer with a non-blocking
 * recvmsg when told to look (recvFd). Node's net module passes only its own handles, and only
 * to a child over its IPC channel; a ring-accepted fd is no handle at all.
 */
#include "smbts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static napi_value addr_object(napi_env env, const struct sockaddr_storage *ss) {
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  const char *family = "IPv4";
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    family = "IPv6";
  }
  napi_value o, v;
  SMBTS_NAPI(env, napi_create_object(env, &o));
  SMBTS_NAPI(env, napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "address", v));
  SMBTS_NAPI(env, napi_create_int32(env, port, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "port", v));
  SMBTS_NAPI(env, napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "family", v));
  return o;
}

/* listenTcp(host, port, backlog, reusePort) -> { fd, address, port, family }: a non-blocking,
 * close-on-exec TCP listener on a numeric address ('::' listens on IPv4 too, as node:net does). */
static napi_value js_listenTcp(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *host = NULL;
  uint32_t port = 0, backlog = 0, reuse_port = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_path(&a, 0, "host", &host) ||
      !smbts_arg_uint32(&a, 1, "port", &port) || !smbts_arg_uint32(&a, 2, "backlog", &backlog) ||
      !smbts_arg_uint32(&a, 3, "reusePort", &reuse_port)) {
    free(host);
    return smbts_args_throw(&a);
  }
  if (port > 65535) {
    free(host);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "port must be 0..65535");
    return NULL;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char service[8];
  snprintf(service, sizeof service, "%u", port);
  int gai = getaddrinfo(host, service, &hints, &res);
  free(host);
  if (gai != 0 || !res) {
    napi_throw_error(env, "EINVAL", gai_strerror(gai));
    return NULL;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    freeaddrinfo(res);
    return smbts_throw_errno(env, err, "socket");
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  const char *failed = NULL;
  if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) failed = "bind";
  else if (listen(fd, (int)backlog) < 0) failed = "listen";
  freeaddrinfo(res);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (!failed && getsockname(fd, (struct sockaddr *)&ss, &len) < 0) failed = "getsockname";
  if (failed) {
    int err = errno;
    close(fd);
    return smbts_throw_errno(env, err, failed);
  }
  napi_value o = addr_object(env, &ss), v;
  if (!o) {
    close(fd);
    return NULL;
  }
  SMBTS_NAPI(env, napi_create_int32(env, fd, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "fd", v));
  return o;
}

/* peerName(fd) -> { address, port, family } (getpeername). */
static napi_value js_peerName(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return smbts_throw_errno(env, errno, "getpeername");
  return addr_object(env, &ss);
}

/* setNoDelay(fd): TCP_NODELAY, as node:net's noDelay. */
static napi_value js_setNoDelay(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) return smbts_throw_errno(env, errno, "setsockopt");
  return NULL;
}

/* tcpBytesAcked(fd) -> the bytes of this connection's stream the peer has acknowledged, or
 * -errno (smbts_tcp_bytes_acked in tcpinfo.c). Progress a sender can see while a send is in
 * flight: a client that reads nothing closes its window, and this stops growing. */
static napi_value js_tcpBytesAcked(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  uint64_t acked = 0;
  int rc = smbts_tcp_bytes_acked(fd, &acked);
  napi_value v;
  SMBTS_NAPI(env, napi_create_double(env, rc < 0 ? (double)rc : (double)acked, &v));
  return v;
}

/* sendNow(fd, buffers) -> bytes: one sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL) of the buffers, now,
 * on the calling thread: what the socket buffer takes at once (0 when it takes nothing, EAGAIN).
 * Other errors throw. For small replies: no ring op, no completion to wait for. */
#define SEND_NOW_MAX_IOV 64
static napi_value js_sendNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd;
  bool is_array = false;
  uint32_t n = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  if (napi_is_array(env, a.argv[1], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"buffers\" argument must be an array");
    return NULL;
  }
  napi_get_array_length(env, a.argv[1], &n);
  if (n < 1 || n > SEND_NOW_MAX_IOV) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendNow takes 1..64 buffers");
    return NULL;
  }
  struct iovec iov[SEND_NOW_MAX_IOV];
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    void *data = NULL;
    size_t len = 0;
    bool is_buf = false;
    if (napi_get_element(env, a.argv[1], i, &v) != napi_ok || napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf ||
        napi_get_buffer_info(env, v, &data, &len) != napi_ok) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "every buffer must be a Buffer");
      return NULL;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
  }
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
  ssize_t sent;
  do {
    sent = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return smbts_throw_errno(env, errno, "sendmsg");
  napi_value out;
  SMBTS_NAPI(env, napi_create_double(env, sent < 0 ? 0 : (double)sent, &out));
  return out;
}

/* ---- wakeProbe: a client in another thread, for the ring's start-up self-check ---- */

typedef struct probe_peer {
  int fd;
  uint32_t rounds;
  uint64_t deadline_ns;
} probe_peer;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One-byte ping-pongs, each waiting for the answer, until `rounds` or the deadline; then close,
 * which the other side reads as end of file. A real client's shape: the server's thread sleeps
 * between requests, and each request must wake it. */
static void *probe_peer_main(void *arg) {
  probe_peer *pp = arg;
  char b = 'p';
  for (uint32_t i = 0; i < pp->rounds; i++) {
    uint64_t now = mono_ns();
    if (now >= pp->deadline_ns) break;
    if (write(pp->fd, &b, 1) != 1) break;
    struct pollfd pfd = {.fd = pp->fd, .events = POLLIN};
    int ms = (int)((pp->deadline_ns - now) / 1000000u) + 1;
    if (poll(&pfd, 1, ms) <= 0) break;
    if (read(pp->fd, &b, 1) != 1) break;
  }
  close(pp->fd);
  free(pp);
  return NULL;
}

/* wakeProbe(rounds, budgetMs) -> fd: a connected TCP loopback pair; the returned end is ours
 * (blocking, close-on-exec), the other is driven by a detached thread (probe_peer_main) that
 * stops after `rounds` round trips or `budgetMs`, whichever comes first, and closes its end. */
static napi_value js_wakeProbe(napi_env env, napi_callback_info info) {
  smbts_args a;
  uint32_t rounds = 0, budget_ms = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_uint32(&a, 0, "rounds", &rounds) ||
      !smbts_arg_uint32(&a, 1, "budgetMs", &budget_ms)) {
    return smbts_args_throw(&a);
  }
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cs = -1, ss = -1, err = 0;
  const char *call = "socket";
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int one = 1;
  if (ls < 0) goto fail;
  call = "bind";
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) goto fail;
  call = "getsockname";
  if (getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) goto fail;
  call = "listen";
  if (listen(ls, 1) < 0) goto fail;
  call = "socket";
  cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (cs < 0) goto fail;
  call = "connect";
  if (connect(cs, (struct sockaddr *)&sa, sizeof sa) < 0) goto fail;
  call = "accept4";
  ss = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (ss < 0) goto fail;
  setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(ss, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  close(ls);
  ls = -1;
  probe_peer *pp = malloc(sizeof *pp);
  call = "malloc";
  if (!pp) {
    errno = ENOMEM;
    goto fail;
  }
  pp->fd = cs;
  pp->rounds = rounds;
  pp->deadline_ns = mono_ns() + (uint64_t)budget_ms * 1000000u;
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  err = pthread_create(&th, &attr, probe_peer_main, pp);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    free(pp);
    errno = err;
    call = "pthread_create";
    goto fail;
  }
  napi_value v;
  SMBTS_NAPI(env, napi_create_int32(env, ss, &v));
  return v;
fail:
  err = errno;
  if (ls >= 0) close(ls);
  if (cs >= 0) close(cs);
  if (ss >= 0) close(ss);
  return smbts_throw_errno(env, err, call);
}

/* ---- passing a connection's fd to another worker ---- */

static bool unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len) {
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof sun->sun_path) return false;
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, n + 1);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return true;
}

/* fdSocket(path) -> fd: a non-blocking, close-on-exec unix datagram socket bound at `path` (which
 * must not exist). It receives hand-overs (recvFd) and sends them (sendFd names the peer). */
static napi_value js_fdSocket(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *path = NULL;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_path(&a, 0, "path", &path)) return smbts_args_throw(&a);
  struct sockaddr_un sun;
  socklen_t len;
  if (!unix_addr(path, &sun, &len)) {
    free(path);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "path is empty or longer than a unix socket path may be");
    return NULL;
  }
  free(path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return smbts_throw_errno(env, errno, "socket");
  if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
    int err = errno;
    close(fd);
    return smbts_throw_errno(env, err, "bind");
  }
  napi_value v;
  SMBTS_NAPI(env, napi_create_int32(env, fd, &v));
  return v;
}

/* sendFd(sock, path, fd, buffer): one datagram to the socket bound at `path`, carrying `buffer`
 * and a duplicate of `fd` (SCM_RIGHTS), now (MSG_DONTWAIT): the peer's queue full is EAGAIN, no
 * peer ENOENT or ECONNREFUSED, all thrown. Our `fd` stays ours to close: the kernel holds the
 * duplicate until the peer takes it, or closes it with the peer's socket. */
static napi_value js_sendFd(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t sock, fd;
  char *path = NULL;
  uint8_t *data = NULL;
  size_t n = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "sock", &sock) ||
      !smbts_arg_path(&a, 1, "path", &path) || !smbts_arg_int32(&a, 2, "fd", &fd) ||
      !smbts_arg_bytes(&a, 3, "buffer", &data, &n)) {
    free(path);
    return smbts_args_throw(&a);
  }
  struct sockaddr_un sun;
  socklen_t len;
  bool ok = unix_addr(path, &sun, &len);
  free(path);
  if (!ok) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "path is empty or longer than a unix socket path may be");
    return NULL;
  }
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {.iov_base = data, .iov_len = n};
  struct msghdr msg = {.msg_name = &sun, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t sent;
  do {
    sent = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return smbts_throw_errno(env, errno, "sendmsg");
  return NULL;
}

/* recvFd(sock, buffer) -> { fd, length, truncated } | null: the next datagram, now (null when none
 * is queued). `fd` is the one fd it carried (close-on-exec), -1 when it carried none; extra fds
 * are closed here. `truncated`: the datagram or its fds did not fit, and the fd (if any) should be
 * closed unused. */
static napi_value js_recvFd(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t sock;
  uint8_t *data = NULL;
  size_t n = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "sock", &sock) ||
      !smbts_arg_bytes(&a, 1, "buffer", &data, &n)) {
    return smbts_args_throw(&a);
  }
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {.iov_base = data, .iov_len = n};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t got;
  do {
    got = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_value null;
      SMBTS_NAPI(env, napi_get_null(env, &null));
      return null;
    }
    return smbts_throw_errno(env, errno, "recvmsg");
  }
  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int x;
      memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fd < 0) fd = x;
      else close(x);
    }
  }
  bool truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  napi_value o, v;
  SMBTS_NAPI(env, napi_create_object(env, &o));
  SMBTS_NAPI(env, napi_create_int32(env, fd, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "fd", v));
  SMBTS_NAPI(env, napi_create_double(env, (double)got, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "length", v));
  SMBTS_NAPI(env, napi_get_boolean(env, truncated, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "truncated", v));
  return o;
}

napi_status smbts_sock_init(napi_env env, napi_value exports) {
#define FN(js) {#js, NULL, js_##js, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor d[] = {FN(listenTcp), FN(peerName), FN(setNoDelay), FN(tcpBytesAcked), FN(sendNow),
                                  FN(wakeProbe), FN(fdSocket), FN(sendFd), FN(recvFd)};
#undef FN
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
