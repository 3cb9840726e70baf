/*
 * The Ring's op preparations: each JS call fills one SQE (readThenSendmsg two, spliceThenSendmsg a
 * chain, linked) tagged with
 * a slot that holds what the kernel reads or writes (a Buffer reference, names, a msghdr) until
 * the op's CQE arrives; the SQEs go to the kernel at the next flush point (ring-wait.c). Also
 * cancel(). Buffers the ring holds beyond one op are in ring-bufs.c. The ring's other files:
 * ring.c has the map; ring-wait.c's header comment is the design.
 */
#include "ring-internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

/* ---- JS: prep methods ---- */

/* Common front of every prep: ring usable, a slot and an SQE available. */
struct io_uring_sqe *smbts_ring_prep_begin(napi_env env, smbts_ring *r, ring_op **opp) {
  if (r->closing || !r->ring_ok) {
    ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
    return NULL;
  }
  if (r->free_head == RING_NO_SLOT) {
    ring_throw(env, "SMBTS_ERR_RING_FULL",
               "every ring slot is in flight: wait for completions before queueing more");
    return NULL;
  }
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    smbts_ring_flush(r); /* SQ full: submit what is there, then take a fresh entry */
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (!sqe) {
    ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full and cannot be submitted");
    return NULL;
  }
  *opp = smbts_ring_op_alloc(r);
  return sqe;
}

void smbts_ring_prep_end(smbts_ring *r, struct io_uring_sqe *sqe, ring_op *op, int32_t tag,
                         enum ring_kind kind) {
  op->tag = tag;
  op->kind = (uint8_t)kind;
  io_uring_sqe_set_data64(sqe, (uint64_t)(op - r->ops) + 1);
  smbts_ring_inflight_inc(r);
  r->c_ops[kind]++;
  smbts_ring_arm_flush(r);
}

/* An SQE taken but not used (argument error after smbts_ring_prep_begin) must still go to the
 * kernel as something harmless, because liburing cannot give it back. */
static void prep_abort(smbts_ring *r, struct io_uring_sqe *sqe, ring_op *op) {
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
  if (op) smbts_ring_op_release(r, op);
  smbts_ring_arm_flush(r);
}

/* (buf, offset, length) at argument index i. */
bool smbts_ring_parse_span(smbts_args *a, size_t i, uint8_t **ptr, uint32_t *len) {
  uint8_t *data = NULL;
  size_t size = 0;
  int64_t offset = 0, length = 0;
  if (!(smbts_arg_bytes(a, i, "buffer", &data, &size) &&
        smbts_arg_int64(a, i + 1, "offset", 0, (int64_t)size, &offset) &&
        smbts_arg_int64(a, i + 2, "length", 0,
                        (int64_t)size - offset < UINT32_MAX ? (int64_t)size - offset : UINT32_MAX,
                        &length))) {
    return false;
  }
  *ptr = data + offset;
  *len = (uint32_t)length;
  return true;
}

static bool hold(smbts_args *a, size_t i, ring_op *op) {
  return napi_create_reference(a->env, a->argv[i], 1, &op->ref) == napi_ok;
}

/* read/write(tag, fd, buf, offset, length, position); position -1 = the file's current offset.
 * readFixed adds (index): a read into registered buffer `index` ([offset, offset + length) of
 * `buf` must lie in it: EFAULT otherwise). */
static napi_value ring_rw(napi_env env, napi_callback_info info, enum ring_kind kind) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint8_t *ptr;
  uint32_t len, index = 0;
  int64_t pos;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd) &&
        smbts_ring_parse_span(&a, 2, &ptr, &len) &&
        smbts_arg_int64(&a, 5, "position", -1, INT64_MAX, &pos) &&
        (kind != RK_READ_FIXED || smbts_arg_uint32(&a, 6, "index", &index)))) {
    return smbts_args_throw(&a);
  }
  if (kind == RK_READ_FIXED && index >= r->nbufs) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "index is not a registered-buffer slot");
    return NULL;
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  if (!hold(&a, 2, op)) {
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  if (kind == RK_READ) io_uring_prep_read(sqe, fd, ptr, len, (uint64_t)pos);
  else if (kind == RK_READ_FIXED) io_uring_prep_read_fixed(sqe, fd, ptr, len, (uint64_t)pos, (int)index);
  else io_uring_prep_write(sqe, fd, ptr, len, (uint64_t)pos);
  smbts_ring_prep_end(r, sqe, op, tag, kind);
  return NULL;
}

static napi_value js_ring_read(napi_env env, napi_callback_info info) {
  return ring_rw(env, info, RK_READ);
}
static napi_value js_ring_write(napi_env env, napi_callback_info info) {
  return ring_rw(env, info, RK_WRITE);
}

/* recv/send(tag, fd, buf, offset, length, flags) */
static napi_value ring_sr(napi_env env, napi_callback_info info, enum ring_kind kind) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint8_t *ptr;
  uint32_t len, flags = 0;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd) &&
        smbts_ring_parse_span(&a, 2, &ptr, &len) && smbts_arg_uint32(&a, 5, "flags", &flags))) {
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  if (!hold(&a, 2, op)) {
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  if (kind == RK_RECV) io_uring_prep_recv(sqe, fd, ptr, len, (int)flags);
  else io_uring_prep_send(sqe, fd, ptr, len, (int)flags);
  smbts_ring_prep_end(r, sqe, op, tag, kind);
  return NULL;
}

static napi_value js_ring_recv(napi_env env, napi_callback_info info) {
  return ring_sr(env, info, RK_RECV);
}
static napi_value js_ring_send(napi_env env, napi_callback_info info) {
  return ring_sr(env, info, RK_SEND);
}

/* The most buffers one sendmsg takes (the kernel's UIO_MAXIOV is 1024). */
#define RING_SENDMSG_MAX_IOV 256

typedef struct ring_msg {
  struct msghdr msg;
  struct iovec iov[];
} ring_msg;

/* A Buffer or Uint8Array's bytes. */
static bool value_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool yes = false;
  void *p = NULL;
  if (napi_is_buffer(env, v, &yes) == napi_ok && yes) {
    if (napi_get_buffer_info(env, v, &p, len) != napi_ok) return false;
    *data = p;
    return true;
  }
  if (napi_is_typedarray(env, v, &yes) != napi_ok || !yes) return false;
  napi_typedarray_type tt;
  if (napi_get_typedarray_info(env, v, &tt, len, &p, NULL, NULL) != napi_ok || tt != napi_uint8_array) {
    return false;
  }
  *data = p;
  return true;
}

/* The iovecs of `arr` (1..RING_SENDMSG_MAX_IOV Buffers/Uint8Arrays) and an array of our own
 * holding them, or NULL with a JS exception pending. */
static ring_msg *build_msg(napi_env env, napi_value arr, napi_value *held) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"buffers\" argument must be an array");
    return NULL;
  }
  napi_get_array_length(env, arr, &n);
  if (n < 1 || n > RING_SENDMSG_MAX_IOV) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sendmsg takes 1..256 buffers");
    return NULL;
  }
  ring_msg *m = calloc(1, sizeof *m + (size_t)n * sizeof m->iov[0]);
  if (!m) {
    ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
    return NULL;
  }
  if (napi_create_array_with_length(env, n, held) != napi_ok) {
    free(m);
    smbts_throw_napi(env, "napi_create_array_with_length");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    uint8_t *data = NULL;
    size_t len = 0;
    if (napi_get_element(env, arr, i, &v) != napi_ok || !value_bytes(env, v, &data, &len) ||
        napi_set_element(env, *held, i, v) != napi_ok) {
      free(m);
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "every buffer must be a Buffer or Uint8Array");
      return NULL;
    }
    m->iov[i].iov_base = data;
    m->iov[i].iov_len = len;
  }
  m->msg.msg_iov = m->iov;
  m->msg.msg_iovlen = n;
  return m;
}

/* sendmsg(tag, fd, buffers, flags): the buffers go out in order in one message (one SQE for a
 * reply's length, header and payload, or for several queued replies). The buffers are copied into
 * an array of our own, held until the CQE, so the caller changing its array cannot drop one the
 * kernel still reads. The result is the bytes sent (with MSG_WAITALL the kernel retries a short
 * send itself). */
static napi_value js_ring_sendmsg(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint32_t flags = 0;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd) &&
        smbts_arg_uint32(&a, 3, "flags", &flags))) {
    return smbts_args_throw(&a);
  }
  napi_value held;
  ring_msg *m = build_msg(env, a.argv[2], &held);
  if (!m) return NULL;
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) {
    free(m);
    return NULL;
  }
  if (napi_create_reference(env, held, 1, &op->ref) != napi_ok) {
    free(m);
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  op->mem = m;
  io_uring_prep_sendmsg(sqe, fd, &m->msg, flags);
  smbts_ring_prep_end(r, sqe, op, tag, RK_SENDMSG);
  return NULL;
}

/* readThenSendmsg(readTag, sendTag, fd, buf, offset, length, position, sockfd, buffers, flags):
 * a read linked to a sendmsg (IOSQE_IO_LINK): the send starts only once the read has filled
 * [offset, offset + length) completely, with no trip through JS in between. A short or failed
 * read breaks the link: the send completes with -ECANCELED, nothing sent, and the caller sends
 * what it has another way. Both SQEs go to the kernel in the same submit (a link never spans
 * two). `buffers` normally ends with the read's own span. */
static napi_value js_ring_read_then_sendmsg(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t rtag, stag, fd, sockfd;
  uint8_t *ptr;
  uint32_t len, flags = 0;
  int64_t pos;
  if (!(smbts_arg_int32(&a, 0, "readTag", &rtag) && smbts_arg_int32(&a, 1, "sendTag", &stag) &&
        smbts_arg_int32(&a, 2, "fd", &fd) && smbts_ring_parse_span(&a, 3, &ptr, &len) &&
        smbts_arg_int64(&a, 6, "position", 0, INT64_MAX, &pos) &&
        smbts_arg_int32(&a, 7, "sockfd", &sockfd) && smbts_arg_uint32(&a, 9, "flags", &flags))) {
    return smbts_args_throw(&a);
  }
  int32_t fixed = -1;
  napi_valuetype ft = napi_undefined;
  napi_typeof(env, a.argv[10], &ft);
  if (ft != napi_undefined && !smbts_arg_int32(&a, 10, "bufIndex", &fixed)) return smbts_args_throw(&a);
  if (fixed >= 0 && (uint32_t)fixed >= r->nbufs) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "bufIndex is not a registered-buffer slot");
    return NULL;
  }
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (r->free_head == RING_NO_SLOT || r->ops[r->free_head].next_free == RING_NO_SLOT) {
    return ring_throw(env, "SMBTS_ERR_RING_FULL",
                      "every ring slot is in flight: wait for completions before queueing more");
  }
  napi_value held;
  ring_msg *m = build_msg(env, a.argv[8], &held);
  if (!m) return NULL;
  /* Room for both SQEs now, so smbts_ring_prep_begin cannot submit the read alone. */
  if (io_uring_sq_space_left(&r->ring) < 2) smbts_ring_flush(r);
  if (io_uring_sq_space_left(&r->ring) < 2) {
    free(m);
    return ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full and cannot be submitted");
  }
  ring_op *rop, *sop;
  struct io_uring_sqe *rsqe = smbts_ring_prep_begin(env, r, &rop);
  if (!rsqe) {
    free(m);
    return NULL;
  }
  struct io_uring_sqe *ssqe = smbts_ring_prep_begin(env, r, &sop);
  if (!ssqe) { /* cannot happen: room and slots were checked */
    free(m);
    prep_abort(r, rsqe, rop);
    return NULL;
  }
  if (!hold(&a, 3, rop) || napi_create_reference(env, held, 1, &sop->ref) != napi_ok) {
    free(m);
    prep_abort(r, rsqe, rop);
    prep_abort(r, ssqe, sop);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  sop->mem = m;
  if (fixed >= 0) io_uring_prep_read_fixed(rsqe, fd, ptr, len, (uint64_t)pos, fixed);
  else io_uring_prep_read(rsqe, fd, ptr, len, (uint64_t)pos);
  io_uring_sqe_set_flags(rsqe, IOSQE_IO_LINK);
  smbts_ring_prep_end(r, rsqe, rop, rtag, fixed >= 0 ? RK_READ_FIXED : RK_READ);
  io_uring_prep_sendmsg(ssqe, sockfd, &m->msg, flags);
  smbts_ring_prep_end(r, ssqe, sop, stag, RK_SENDMSG);
  r->c_links++;
  return NULL;
}

/* spliceThenSendmsg(tags, fd, position, length, pipes, share, sockfd, buffers, flags): a READ
 * response whose data never enters user memory. One chain of linked SQEs:
 *   splice(fd at position -> pipe 0, `share` bytes) ... splice(fd -> pipe k-1)    (staging)
 *   sendmsg(sockfd, buffers, flags | MSG_MORE)                                     (the head)
 *   splice(pipe 0 -> sockfd) ... splice(pipe k-1 -> sockfd)                        (the data)
 * The staging splices take page references from the page cache (no copy); the data splices hand
 * those pages to the socket. The head leaves only once every staging splice moved its whole
 * share: a short or failed one breaks the link, the rest completes with -ECANCELED and nothing
 * was sent (the pipes may hold data: the caller closes them).
 *
 * Two CQEs for the whole chain: the head's and the last data splice's (`tags` holds their two
 * tags). Every other splice is IOSQE_CQE_SKIP_SUCCESS: whole, it posts nothing, so a READ costs
 * the loop two completions, not 2k + 1. The head succeeds only if every staging splice was
 * whole, the last data splice only if every one before it was. Those splices have no slot: their
 * user_data is RING_CHAIN_UD + the last splice's slot. One that fails (a splice that moves less
 * than asked fails) posts its CQE, and the kernel cancels the rest of the chain without any;
 * drain (ring-wait.c chain_failed) settles the head and the last from that CQE. Cancelling the
 * last splice's tag cancels them too (js_ring_cancel).
 *
 * `pipes` holds k (read end, write end) pairs, k = ceil(length / share), each able to take
 * `share` bytes (a pipe holds capacity / 4096 page pieces: from an offset inside a page, `share`
 * must be a page less than its capacity). The socket must block: into a non-blocking one a
 * splice stops short when the socket is full. All SQEs go to the kernel in one submit (a link
 * never spans two). Throws SMBTS_ERR_RING_UNSUPPORTED on a kernel without CQE skipping (before
 * 5.17): the caller sends the READ another way. */
static napi_value js_ring_splice_then_sendmsg(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t fd, sockfd;
  int64_t pos, length, pipe_size;
  uint32_t flags = 0;
  uint8_t *tag_bytes = NULL, *pipe_bytes = NULL;
  size_t tag_len = 0, pipe_len = 0;
  if (!(smbts_arg_bytes(&a, 0, "tags", &tag_bytes, &tag_len) && smbts_arg_int32(&a, 1, "fd", &fd) &&
        smbts_arg_int64(&a, 2, "position", 0, INT64_MAX, &pos) &&
        smbts_arg_int64(&a, 3, "length", 1, UINT32_MAX, &length) &&
        smbts_arg_bytes(&a, 4, "pipes", &pipe_bytes, &pipe_len) &&
        smbts_arg_int64(&a, 5, "share", 4096, INT32_MAX, &pipe_size) &&
        smbts_arg_int32(&a, 6, "sockfd", &sockfd) && smbts_arg_uint32(&a, 8, "flags", &flags))) {
    return smbts_args_throw(&a);
  }
  uint32_t k = (uint32_t)((length + pipe_size - 1) / pipe_size);
  uint32_t nsqe = 2 * k + 1;
  if (tag_len != 8 || pipe_len < (size_t)k * 8 || ((uintptr_t)tag_bytes & 3) || ((uintptr_t)pipe_bytes & 3)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "spliceThenSendmsg: tags must hold 2 int32s and pipes k pairs");
    return NULL;
  }
  const int32_t *tags = (const int32_t *)tag_bytes, *pipes = (const int32_t *)pipe_bytes;
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (!(r->ring.features & IORING_FEAT_CQE_SKIP)) {
    return ring_throw(env, "SMBTS_ERR_RING_UNSUPPORTED", "this kernel cannot skip the CQEs of a chain's splices");
  }
  if (r->free_head == RING_NO_SLOT || r->ops[r->free_head].next_free == RING_NO_SLOT) {
    return ring_throw(env, "SMBTS_ERR_RING_FULL", "every ring slot is in flight: wait for completions before queueing more");
  }
  if (io_uring_sq_space_left(&r->ring) < nsqe) smbts_ring_flush(r);
  if (io_uring_sq_space_left(&r->ring) < nsqe) {
    return ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full and cannot be submitted");
  }
  napi_value held;
  ring_msg *m = build_msg(env, a.argv[7], &held);
  if (!m) return NULL;
  napi_ref head_ref;
  if (napi_create_reference(env, held, 1, &head_ref) != napi_ok) {
    free(m);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  /* Room and slots were checked: nothing below can fail. The last splice's slot first, since
   * the skipped splices name it; only the head holds JS memory (the header's buffers). */
  ring_op *last = smbts_ring_op_alloc(r);
  last->chain_role = CHAIN_LAST;
  uint64_t chain_ud = RING_CHAIN_UD + (uint64_t)(last - r->ops);
  struct io_uring_sqe *sqe;
  for (uint32_t i = 0; i < k; i++) {
    int64_t at = (int64_t)i * pipe_size;
    uint32_t n = (uint32_t)(length - at < pipe_size ? length - at : pipe_size);
    sqe = io_uring_get_sqe(&r->ring);
    io_uring_prep_splice(sqe, fd, pos + at, pipes[2 * i + 1], -1, n, 0);
    io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
    io_uring_sqe_set_data64(sqe, chain_ud);
    r->c_ops[RK_SPLICE]++;
  }
  ring_op *hop;
  sqe = smbts_ring_prep_begin(env, r, &hop);
  hop->ref = head_ref;
  hop->mem = m;
  hop->chain_role = CHAIN_HEAD;
  hop->chain_peer = (uint32_t)(last - r->ops);
  for (size_t i = 0; i < m->msg.msg_iovlen; i++) hop->chain_len += (uint32_t)m->msg.msg_iov[i].iov_len;
  last->chain_peer = (uint32_t)(hop - r->ops);
  io_uring_prep_sendmsg(sqe, sockfd, &m->msg, (int)(flags | MSG_MORE));
  io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
  smbts_ring_prep_end(r, sqe, hop, tags[0], RK_SENDMSG);
  for (uint32_t i = 0; i < k; i++) {
    int64_t at = (int64_t)i * pipe_size;
    uint32_t n = (uint32_t)(length - at < pipe_size ? length - at : pipe_size);
    sqe = io_uring_get_sqe(&r->ring);
    io_uring_prep_splice(sqe, pipes[2 * i], -1, sockfd, -1, n, i + 1 < k ? SPLICE_F_MORE : 0);
    if (i + 1 < k) {
      io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
      io_uring_sqe_set_data64(sqe, chain_ud);
      r->c_ops[RK_SPLICE]++;
    } else {
      smbts_ring_prep_end(r, sqe, last, tags[1], RK_SPLICE);
    }
  }
  r->c_splice_chains++;
  return NULL;
}

static napi_value js_ring_read_fixed(napi_env env, napi_callback_info info) {
  return ring_rw(env, info, RK_READ_FIXED);
}

/* acceptMultishot(tag, fd): one SQE accepting every connection of a listening socket, each as
 * its own CQE (res = the new fd, close-on-exec) flagged F_MORE while the accept stays armed. It
 * ends with a CQE without F_MORE: cancelled, an error (EMFILE...), or the kernel could not keep
 * it armed; the caller arms it again if it still wants connections. */
static napi_value js_ring_accept_multishot(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd))) return smbts_args_throw(&a);
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
  smbts_ring_prep_end(r, sqe, op, tag, RK_ACCEPT);
  return NULL;
}

/* openat2(tag, dirfd, path, flags, mode, resolve): like the threadpool openat2, O_CLOEXEC added. */
static napi_value js_ring_openat2(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, dirfd;
  uint32_t flags, mode;
  int64_t resolve;
  char *path = NULL;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "dirfd", &dirfd) &&
        smbts_arg_path(&a, 2, "path", &path) && smbts_arg_uint32(&a, 3, "flags", &flags) &&
        smbts_arg_uint32(&a, 4, "mode", &mode) &&
        smbts_arg_int64(&a, 5, "resolve", 0, INT64_MAX, &resolve))) {
    free(path);
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) {
    free(path);
    return NULL;
  }
  bool creating = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  op->path = path; /* read by the kernel at submit; freed at the CQE */
  op->how = (struct open_how){
      .flags = (uint64_t)flags | O_CLOEXEC, .mode = creating ? mode : 0, .resolve = (uint64_t)resolve};
  io_uring_prep_openat2(sqe, dirfd, op->path, &op->how);
  smbts_ring_prep_end(r, sqe, op, tag, RK_OPENAT2);
  return NULL;
}

/* statx(tag, dirfd, path, flags, mask, out): the kernel fills `out` (>= 256 bytes) with a
 * struct statx; src/io/ring.ts decodes it by the layout in statxLayout. */
static napi_value js_ring_statx(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, dirfd;
  uint32_t flags, mask;
  char *path = NULL;
  uint8_t *out = NULL;
  size_t outlen = 0;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "dirfd", &dirfd) &&
        smbts_arg_path(&a, 2, "path", &path) && smbts_arg_uint32(&a, 3, "flags", &flags) &&
        smbts_arg_uint32(&a, 4, "mask", &mask) && smbts_arg_bytes(&a, 5, "out", &out, &outlen))) {
    free(path);
    return smbts_args_throw(&a);
  }
  if (outlen < sizeof(struct statx)) {
    free(path);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "statx out buffer must be at least 256 bytes");
    return NULL;
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) {
    free(path);
    return NULL;
  }
  op->path = path;
  if (!hold(&a, 5, op)) {
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  io_uring_prep_statx(sqe, dirfd, op->path, (int)flags, mask, (struct statx *)out);
  smbts_ring_prep_end(r, sqe, op, tag, RK_STATX);
  return NULL;
}

/* fsync(tag, fd, datasync) */
static napi_value js_ring_fsync(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  bool datasync = false;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd))) {
    return smbts_args_throw(&a);
  }
  napi_get_value_bool(env, a.argv[2], &datasync); /* anything but true = full fsync */
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
  smbts_ring_prep_end(r, sqe, op, tag, RK_FSYNC);
  return NULL;
}

/* close(tag, fd) — named closeFd in JS, close() being the ring's own. */
static napi_value js_ring_close_fd(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd))) {
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_close(sqe, fd);
  smbts_ring_prep_end(r, sqe, op, tag, RK_CLOSE);
  return NULL;
}

/* ---- path ops relative to a directory fd, as the threadpool calls take them: the caller hands
 * a dirfd it opened beneath the share (openat2 RESOLVE_BENEATH) and one final name, so these
 * resolve nothing outside it. Every name is copied and freed at the CQE. ---- */

/* mkdirat(tag, dirfd, name, mode) and unlinkat(tag, dirfd, name, flags; AT_REMOVEDIR for a
 * directory): same arguments, one name. */
static napi_value ring_one_name(napi_env env, napi_callback_info info, enum ring_kind kind) {
  RING_METHOD_BEGIN();
  int32_t tag, dirfd;
  uint32_t arg;
  char *path = NULL;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "dirfd", &dirfd) &&
        smbts_arg_path(&a, 2, "path", &path) &&
        smbts_arg_uint32(&a, 3, kind == RK_MKDIRAT ? "mode" : "flags", &arg))) {
    free(path);
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) {
    free(path);
    return NULL;
  }
  op->path = path;
  if (kind == RK_MKDIRAT) io_uring_prep_mkdirat(sqe, dirfd, op->path, (mode_t)arg);
  else io_uring_prep_unlinkat(sqe, dirfd, op->path, (int)arg);
  smbts_ring_prep_end(r, sqe, op, tag, kind);
  return NULL;
}

static napi_value js_ring_mkdirat(napi_env env, napi_callback_info info) {
  return ring_one_name(env, info, RK_MKDIRAT);
}
static napi_value js_ring_unlinkat(napi_env env, napi_callback_info info) {
  return ring_one_name(env, info, RK_UNLINKAT);
}

/* renameat2(tag, olddirfd, oldname, newdirfd, newname, flags) and
 * linkat(tag, olddirfd, oldname, newdirfd, newname, flags): same arguments, two names. */
static napi_value ring_two_names(napi_env env, napi_callback_info info, enum ring_kind kind) {
  RING_METHOD_BEGIN();
  int32_t tag, olddirfd, newdirfd;
  uint32_t flags;
  char *oldpath = NULL, *newpath = NULL;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "olddirfd", &olddirfd) &&
        smbts_arg_path(&a, 2, "oldpath", &oldpath) &&
        smbts_arg_int32(&a, 3, "newdirfd", &newdirfd) &&
        smbts_arg_path(&a, 4, "newpath", &newpath) && smbts_arg_uint32(&a, 5, "flags", &flags))) {
    free(oldpath);
    free(newpath);
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) {
    free(oldpath);
    free(newpath);
    return NULL;
  }
  op->path = oldpath;
  op->path2 = newpath;
  if (kind == RK_RENAMEAT)
    io_uring_prep_renameat(sqe, olddirfd, op->path, newdirfd, op->path2, flags);
  else
    io_uring_prep_linkat(sqe, olddirfd, op->path, newdirfd, op->path2, (int)flags);
  smbts_ring_prep_end(r, sqe, op, tag, kind);
  return NULL;
}

static napi_value js_ring_renameat2(napi_env env, napi_callback_info info) {
  return ring_two_names(env, info, RK_RENAMEAT);
}
static napi_value js_ring_linkat(napi_env env, napi_callback_info info) {
  return ring_two_names(env, info, RK_LINKAT);
}

/* fallocate(tag, fd, mode, offset, length) */
static napi_value js_ring_fallocate(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint32_t mode;
  int64_t offset, length;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd) &&
        smbts_arg_uint32(&a, 2, "mode", &mode) &&
        smbts_arg_int64(&a, 3, "offset", 0, INT64_MAX, &offset) &&
        smbts_arg_int64(&a, 4, "length", 1, INT64_MAX, &length))) {
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_fallocate(sqe, fd, (int)mode, (__u64)offset, (__u64)length);
  smbts_ring_prep_end(r, sqe, op, tag, RK_FALLOCATE);
  return NULL;
}

/* fgetxattr(tag, fd, name, buf, offset, length) -> the value's size (ERANGE when it does not
 * fit; length 0 asks for the size). fsetxattr(tag, fd, name, buf, offset, length, flags). The
 * Buffer is held until the CQE. */
static napi_value ring_xattr(napi_env env, napi_callback_info info, enum ring_kind kind) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint8_t *ptr;
  uint32_t len, flags = 0;
  char *name = NULL;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd) &&
        smbts_arg_path(&a, 2, "name", &name) && smbts_ring_parse_span(&a, 3, &ptr, &len) &&
        (kind == RK_FGETXATTR || smbts_arg_uint32(&a, 6, "flags", &flags)))) {
    free(name);
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) {
    free(name);
    return NULL;
  }
  op->path2 = name;
  if (!hold(&a, 3, op)) {
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  if (kind == RK_FGETXATTR)
    io_uring_prep_fgetxattr(sqe, fd, op->path2, (char *)ptr, len);
  else
    io_uring_prep_fsetxattr(sqe, fd, op->path2, (const char *)ptr, (int)flags, len);
  smbts_ring_prep_end(r, sqe, op, tag, kind);
  return NULL;
}

static napi_value js_ring_fgetxattr(napi_env env, napi_callback_info info) {
  return ring_xattr(env, info, RK_FGETXATTR);
}
static napi_value js_ring_fsetxattr(napi_env env, napi_callback_info info) {
  return ring_xattr(env, info, RK_FSETXATTR);
}

static napi_value js_ring_nop(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag;
  if (!smbts_arg_int32(&a, 0, "tag", &tag)) return smbts_args_throw(&a);
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_nop(sqe);
  smbts_ring_prep_end(r, sqe, op, tag, RK_NOP);
  return NULL;
}

/* cancel(tag) -> whether an op with that tag was in flight. Its CQE still arrives (usually
 * -ECANCELED, or its real result if it finished first); the Buffer stays held until then. */
static napi_value js_ring_cancel(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag;
  if (!smbts_arg_int32(&a, 0, "tag", &tag)) return smbts_args_throw(&a);
  napi_value result;
  uint32_t slot = RING_NO_SLOT;
  if (r->ring_ok) {
    for (uint32_t i = 0; i < r->cq_entries; i++) {
      if (r->ops[i].used && r->ops[i].tag == tag) {
        slot = i;
        break;
      }
    }
  }
  if (slot != RING_NO_SLOT) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
      smbts_ring_flush(r);
      sqe = io_uring_get_sqe(&r->ring);
    }
    if (!sqe) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full");
    io_uring_prep_cancel64(sqe, (uint64_t)slot + 1, 0);
    io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
    r->c_ops[RK_CANCEL]++;
    if (r->ops[slot].chain_role == CHAIN_LAST) {
      /* A spliced chain's last op: the chain's slotless splices too (spliceThenSendmsg). */
      struct io_uring_sqe *all = io_uring_get_sqe(&r->ring);
      if (!all) {
        smbts_ring_flush(r);
        all = io_uring_get_sqe(&r->ring);
      }
      if (!all) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full");
      io_uring_prep_cancel64(all, RING_CHAIN_UD + slot, IORING_ASYNC_CANCEL_ALL);
      io_uring_sqe_set_data64(all, RING_INTERNAL_UD);
      r->c_ops[RK_CANCEL]++;
    }
    smbts_ring_arm_flush(r);
  }
  napi_get_boolean(env, slot != RING_NO_SLOT, &result);
  return result;
}

/* ---- registration (ring.c defines the class) ---- */

const napi_property_descriptor smbts_ring_op_methods[] = {
    RING_METHOD("nop", js_ring_nop),
    RING_METHOD("read", js_ring_read),
    RING_METHOD("write", js_ring_write),
    RING_METHOD("recv", js_ring_recv),
    RING_METHOD("send", js_ring_send),
    RING_METHOD("openat2", js_ring_openat2),
    RING_METHOD("statx", js_ring_statx),
    RING_METHOD("fsync", js_ring_fsync),
    RING_METHOD("closeFd", js_ring_close_fd),
    RING_METHOD("cancel", js_ring_cancel),
    RING_METHOD("mkdirat", js_ring_mkdirat),
    RING_METHOD("unlinkat", js_ring_unlinkat),
    RING_METHOD("renameat2", js_ring_renameat2),
    RING_METHOD("linkat", js_ring_linkat),
    RING_METHOD("fallocate", js_ring_fallocate),
    RING_METHOD("fgetxattr", js_ring_fgetxattr),
    RING_METHOD("fsetxattr", js_ring_fsetxattr),
    RING_METHOD("sendmsg", js_ring_sendmsg),
    RING_METHOD("readThenSendmsg", js_ring_read_then_sendmsg),
    RING_METHOD("spliceThenSendmsg", js_ring_splice_then_sendmsg),
    RING_METHOD("acceptMultishot", js_ring_accept_multishot),
    RING_METHOD("readFixed", js_ring_read_fixed),
};
const size_t smbts_ring_op_method_count =
    sizeof smbts_ring_op_methods / sizeof smbts_ring_op_methods[0];
