/*
 * The io_uring operations the addon builds on (native/src/ring-ops.c, ring-bufs.c), one by one, in
 * C over the same static liburing: each prints a TAP line, "ok", "not ok" with what went wrong, or
 * "ok ... # SKIP" with the reason when this kernel lacks the op or the feature (an opcode the
 * probe does not list, EINVAL for a flag it does not know). Exit status 1 when any op failed. Run
 * by test/native/c-ops.test.ts, which compiles it with the system's cc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int n_tests, n_failed;
static struct io_uring_probe *probe;

static void ok(const char *name) { printf("ok %d - %s\n", ++n_tests, name); }
static void skip(const char *name, const char *why) { printf("ok %d - %s # SKIP %s\n", ++n_tests, name, why); }
static void fail(const char *name, const char *what, int res) {
  printf("not ok %d - %s: %s (res %d%s%s)\n", ++n_tests, name, what, res, res < 0 ? ", " : "",
         res < 0 ? strerror(-res) : "");
  n_failed++;
}

static bool supported(int op) { return probe && io_uring_opcode_supported(probe, op); }

/* Submits what is prepped and waits for one CQE: its res (and flags through *flags). */
static int run1(struct io_uring *ring, unsigned *flags) {
  struct io_uring_cqe *cqe;
  int ret = io_uring_submit_and_wait(ring, 1);
  if (ret < 0) return ret;
  ret = io_uring_wait_cqe(ring, &cqe);
  if (ret < 0) return ret;
  int res = cqe->res;
  if (flags) *flags = cqe->flags;
  io_uring_cqe_seen(ring, cqe);
  return res;
}

static struct io_uring_sqe *sqe_of(struct io_uring *ring) { return io_uring_get_sqe(ring); }

int main(void) {
  struct io_uring ring;
  int ret = io_uring_queue_init(64, &ring, 0);
  if (ret < 0) {
    printf("1..0 # SKIP io_uring_setup: %s\n", strerror(-ret));
    return 0;
  }
  probe = io_uring_get_probe_ring(&ring);

  char dir[] = "/tmp/smbts-cops-XXXXXX";
  if (!mkdtemp(dir)) {
    printf("Bail out! mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  struct io_uring_sqe *sqe;
  int res;

  /* nop */
  io_uring_prep_nop(sqe_of(&ring));
  res = run1(&ring, NULL);
  if (res == 0) ok("nop"); else fail("nop", "nop failed", res);

  /* openat2, confined beneath the directory: a name and a '..' escape */
  int fd = -1;
  if (!supported(IORING_OP_OPENAT2)) {
    skip("openat2", "IORING_OP_OPENAT2 not supported");
  } else {
    struct open_how how = {.flags = O_RDWR | O_CREAT | O_CLOEXEC, .mode = 0644, .resolve = RESOLVE_BENEATH};
    io_uring_prep_openat2(sqe_of(&ring), dfd, "f", &how);
    fd = run1(&ring, NULL);
    struct open_how out = {.flags = O_RDONLY, .resolve = RESOLVE_BENEATH};
    io_uring_prep_openat2(sqe_of(&ring), dfd, "../etc", &out);
    res = run1(&ring, NULL);
    if (fd < 0) fail("openat2", "open of a new file beneath the directory", fd);
    else if (res != -EXDEV) fail("openat2", "'..' out of the directory was not refused with EXDEV", res);
    else ok("openat2 (RESOLVE_BENEATH refuses '..')");
    if (res >= 0) close(res);
  }
  if (fd < 0) fd = openat(dfd, "f", O_RDWR | O_CREAT | O_CLOEXEC, 0644);

  /* write, read */
  char data[8192], back[8192];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 7);
  io_uring_prep_write(sqe_of(&ring), fd, data, sizeof data, 4096);
  res = run1(&ring, NULL);
  if (res != (int)sizeof data) fail("write", "short or failed write", res); else ok("write");
  io_uring_prep_read(sqe_of(&ring), fd, back, sizeof back, 4096);
  res = run1(&ring, NULL);
  if (res != (int)sizeof back || memcmp(data, back, sizeof back)) fail("read", "read back differs", res);
  else ok("read");

  /* read into a registered buffer */
  struct iovec iov = {.iov_base = back, .iov_len = sizeof back};
  ret = io_uring_register_buffers(&ring, &iov, 1);
  if (ret < 0) {
    skip("read_fixed", "io_uring_register_buffers refused");
  } else {
    memset(back, 0, sizeof back);
    io_uring_prep_read_fixed(sqe_of(&ring), fd, back, sizeof back, 4096, 0);
    res = run1(&ring, NULL);
    if (res != (int)sizeof back || memcmp(data, back, sizeof back)) fail("read_fixed", "read back differs", res);
    else ok("read_fixed");
    io_uring_unregister_buffers(&ring);
  }

  /* fsync, fdatasync */
  io_uring_prep_fsync(sqe_of(&ring), fd, 0);
  res = run1(&ring, NULL);
  if (res != 0) fail("fsync", "fsync failed", res); else ok("fsync");
  io_uring_prep_fsync(sqe_of(&ring), fd, IORING_FSYNC_DATASYNC);
  res = run1(&ring, NULL);
  if (res != 0) fail("fdatasync", "fsync DATASYNC failed", res); else ok("fdatasync");

  /* fallocate */
  if (!supported(IORING_OP_FALLOCATE)) {
    skip("fallocate", "IORING_OP_FALLOCATE not supported");
  } else {
    io_uring_prep_fallocate(sqe_of(&ring), fd, 0, 0, 1 << 20);
    res = run1(&ring, NULL);
    struct stat st;
    fstat(fd, &st);
    if (res == -EOPNOTSUPP) skip("fallocate", "the temp dir's file system does not allocate");
    else if (res != 0 || st.st_size != 1 << 20) fail("fallocate", "size not 1 MiB after fallocate", res);
    else ok("fallocate");
  }

  /* statx */
  if (!supported(IORING_OP_STATX)) {
    skip("statx", "IORING_OP_STATX not supported");
  } else {
    struct statx stx;
    io_uring_prep_statx(sqe_of(&ring), fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx);
    res = run1(&ring, NULL);
    if (res != 0 || !S_ISREG(stx.stx_mode)) fail("statx", "no regular file seen", res); else ok("statx");
  }

  /* fsetxattr, fgetxattr */
  if (!supported(IORING_OP_FSETXATTR) || !supported(IORING_OP_FGETXATTR)) {
    skip("fsetxattr/fgetxattr", "IORING_OP_FSETXATTR/FGETXATTR not supported");
  } else {
    io_uring_prep_fsetxattr(sqe_of(&ring), fd, "user.smbts.test", "v1", 0, 2);
    res = run1(&ring, NULL);
    char v[8] = {0};
    if (res == -EOPNOTSUPP) {
      skip("fsetxattr/fgetxattr", "the temp dir's file system keeps no user xattrs");
    } else {
      io_uring_prep_fgetxattr(sqe_of(&ring), fd, "user.smbts.test", v, sizeof v);
      int got = run1(&ring, NULL);
      if (res != 0 || got != 2 || memcmp(v, "v1", 2)) fail("fsetxattr/fgetxattr", "value not read back", res ? res : got);
      else ok("fsetxattr/fgetxattr");
    }
  }

  /* close */
  if (!supported(IORING_OP_CLOSE)) {
    skip("close", "IORING_OP_CLOSE not supported");
    close(fd);
  } else {
    io_uring_prep_close(sqe_of(&ring), fd);
    res = run1(&ring, NULL);
    if (res != 0 || fcntl(fd, F_GETFD) != -1) fail("close", "fd still open", res); else ok("close");
  }

  /* mkdirat, linkat, renameat2, unlinkat */
  if (!supported(IORING_OP_MKDIRAT) || !supported(IORING_OP_LINKAT) || !supported(IORING_OP_RENAMEAT) ||
      !supported(IORING_OP_UNLINKAT)) {
    skip("mkdirat/linkat/renameat/unlinkat", "path ops not supported (5.15+)");
  } else {
    io_uring_prep_mkdirat(sqe_of(&ring), dfd, "d", 0755);
    int r1 = run1(&ring, NULL);
    io_uring_prep_linkat(sqe_of(&ring), dfd, "f", dfd, "d/g", 0);
    int r2 = run1(&ring, NULL);
    io_uring_prep_renameat(sqe_of(&ring), dfd, "d/g", dfd, "h", RENAME_NOREPLACE);
    int r3 = run1(&ring, NULL);
    io_uring_prep_unlinkat(sqe_of(&ring), dfd, "h", 0);
    int r4 = run1(&ring, NULL);
    io_uring_prep_unlinkat(sqe_of(&ring), dfd, "d", AT_REMOVEDIR);
    int r5 = run1(&ring, NULL);
    if (r1 || r2 || r3 || r4 || r5) fail("mkdirat/linkat/renameat/unlinkat", "a path op failed", r1 ? r1 : r2 ? r2 : r3 ? r3 : r4 ? r4 : r5);
    else ok("mkdirat/linkat/renameat/unlinkat");
  }

  /* send, recv, sendmsg on a socket pair; cancel of a recv that waits */
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  io_uring_prep_send(sqe_of(&ring), sv[0], "ping", 4, MSG_WAITALL);
  int s1 = run1(&ring, NULL);
  char rb[16] = {0};
  io_uring_prep_recv(sqe_of(&ring), sv[1], rb, sizeof rb, 0);
  int r1 = run1(&ring, NULL);
  if (s1 != 4 || r1 != 4 || memcmp(rb, "ping", 4)) fail("send/recv", "bytes differ", s1 != 4 ? s1 : r1);
  else ok("send/recv");
  struct iovec parts[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = "cd", .iov_len = 2}};
  struct msghdr mh = {.msg_iov = parts, .msg_iovlen = 2};
  io_uring_prep_sendmsg(sqe_of(&ring), sv[0], &mh, MSG_WAITALL);
  s1 = run1(&ring, NULL);
  memset(rb, 0, sizeof rb);
  ssize_t got = recv(sv[1], rb, sizeof rb, 0);
  if (s1 != 4 || got != 4 || memcmp(rb, "abcd", 4)) fail("sendmsg", "iovecs not sent in order", s1);
  else ok("sendmsg");
  sqe = sqe_of(&ring);
  io_uring_prep_recv(sqe, sv[1], rb, sizeof rb, 0);
  io_uring_sqe_set_data64(sqe, 42);
  io_uring_submit(&ring);
  if (!supported(IORING_OP_ASYNC_CANCEL)) {
    skip("cancel", "IORING_OP_ASYNC_CANCEL not supported");
    send(sv[0], "x", 1, 0);
    run1(&ring, NULL);
  } else {
    sqe = sqe_of(&ring);
    io_uring_prep_cancel64(sqe, 42, 0);
    io_uring_sqe_set_data64(sqe, 43);
    io_uring_submit(&ring);
    int cancelled = 0, recv_res = 1;
    for (int i = 0; i < 2; i++) {
      struct io_uring_cqe *cqe;
      if (io_uring_wait_cqe(&ring, &cqe) < 0) break;
      if (cqe->user_data == 42) recv_res = cqe->res;
      if (cqe->user_data == 43) cancelled = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
    }
    if (cancelled != 0 || recv_res != -ECANCELED) fail("cancel", "the waiting recv was not cancelled", recv_res);
    else ok("cancel");
  }

  /* multishot recv into a provided-buffer ring (6.0+) */
  struct io_uring_buf_ring *br = NULL;
  char *chunk = NULL;
  if (posix_memalign((void **)&br, 4096, 4096) == 0 && posix_memalign((void **)&chunk, 64, 64) == 0) {
    memset(br, 0, 4096);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = 1, .bgid = 1};
    ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret < 0) {
      skip("multishot recv (provided buffers)", "buffer rings not supported (6.0+)");
    } else {
      io_uring_buf_ring_init(br);
      io_uring_buf_ring_add(br, chunk, 64, 0, io_uring_buf_ring_mask(1), 0);
      io_uring_buf_ring_advance(br, 1);
      sqe = sqe_of(&ring);
      io_uring_prep_recv_multishot(sqe, sv[1], NULL, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 1;
      send(sv[0], "multi", 5, 0);
      unsigned flags = 0;
      res = run1(&ring, &flags);
      if (res == -EINVAL) skip("multishot recv (provided buffers)", "multishot recv not supported (6.0+)");
      else if (res != 5 || !(flags & IORING_CQE_F_BUFFER) || memcmp(chunk, "multi", 5))
        fail("multishot recv (provided buffers)", "chunk not received into the provided buffer", res);
      else if (!(flags & IORING_CQE_F_MORE)) fail("multishot recv (provided buffers)", "not armed for more", res);
      else ok("multishot recv (provided buffers)");
      if (res >= 0) {
        /* Ends it: the next chunk finds no buffer (ENOBUFS) or the cancel does. */
        io_uring_prep_cancel_fd(sqe_of(&ring), sv[1], 0);
        io_uring_submit(&ring);
        for (int i = 0; i < 2; i++) {
          struct io_uring_cqe *cqe;
          struct __kernel_timespec ts = {.tv_sec = 1};
          if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) < 0) break;
          io_uring_cqe_seen(&ring, cqe);
        }
      }
      io_uring_unregister_buf_ring(&ring, 1);
    }
  }

  /* multishot accept (5.19+) */
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  socklen_t alen = sizeof a;
  bind(ls, (struct sockaddr *)&a, sizeof a);
  listen(ls, 4);
  getsockname(ls, (struct sockaddr *)&a, &alen);
  io_uring_prep_multishot_accept(sqe_of(&ring), ls, NULL, NULL, SOCK_CLOEXEC);
  io_uring_submit(&ring);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  connect(c, (struct sockaddr *)&a, sizeof a);
  unsigned aflags = 0;
  res = run1(&ring, &aflags);
  if (res == -EINVAL) skip("multishot accept", "not supported (5.19+)");
  else if (res < 0) fail("multishot accept", "no connection accepted", res);
  else if (!(aflags & IORING_CQE_F_MORE)) fail("multishot accept", "not armed for more", res);
  else ok("multishot accept");
  if (res >= 0) close(res);
  close(c);
  close(ls);
  close(sv[0]);
  close(sv[1]);
  io_uring_queue_exit(&ring);

  /* DEFER_TASKRUN (6.1+), as the server sets up its ring, with an eventfd registered */
  struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
  ret = io_uring_queue_init_params(8, &ring, &p);
  if (ret == -EINVAL) {
    skip("DEFER_TASKRUN", "not supported (6.1+)");
  } else if (ret < 0) {
    fail("DEFER_TASKRUN", "setup failed", ret);
  } else {
    io_uring_prep_nop(sqe_of(&ring));
    res = run1(&ring, NULL);
    if (res != 0) fail("DEFER_TASKRUN", "nop on a deferred ring", res); else ok("DEFER_TASKRUN");
    io_uring_queue_exit(&ring);
  }

  unlinkat(dfd, "f", 0);
  close(dfd);
  rmdir(dir);
  if (probe) io_uring_free_probe(probe);
  printf("1..%d\n", n_tests);
  return n_failed ? 1 : 0;
}
