/*
 * The Ring class: an io_uring owned by the JS thread. Its files:
 *
 *   ring.c           this file: the Ring class. Construction (setup flags, the one waiting ring
 *                    per loop), op slots, teardown and close(), submit(), counters(), and the
 *                    class's registration with the methods of the files below.
 *   ring-wait.c      the ring in the event loop: the flush points (when SQEs are submitted), the
 *                    drain and delivery of completions to JS, and how the loop is woken: a plain
 *                    ring's uv_poll of its fd, or a DEFER_TASKRUN ring's sleep in io_uring_enter
 *                    where libuv would sleep in epoll, and the kick after it. Its header comment
 *                    is the design of the whole ring (docs/io_uring.md says why): read it first.
 *   ring-busy.c      busy polling (setBusyPoll): the adaptive window after a wake-up.
 *   ring-ops.c       the op preparations: one SQE per JS call (two for readThenSendmsg, a chain
 *                    for spliceThenSendmsg), cancel().
 *   ring-bufs.c      buffers the ring holds beyond one op: registered buffers (readFixed) and
 *                    provided-buffer groups, with the multishot recv that takes from them.
 *   ring-internal.h  smbts_ring, ring_op, ring_buf_group and the functions the files share.
 */
#include "ring-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_MAX_ENTRIES 4096u

/* Setup flags we accept. All are known to liburing 2.3 and leave the ring layout alone (no SQPOLL,
 * IOPOLL, SQE128/CQE32, NO_SQARRAY...). COOP_TASKRUN is left out: with it, completions may wait
 * for the JS thread to enter the kernel, which it does not do while idle in epoll. */
#define RING_ALLOWED_FLAGS                                                                      \
  (IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |                  \
   IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG)
#define RING_DEFAULT_FLAGS (IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER)

static const char *const ring_kind_names[RK__COUNT] = {
#define RK_NAME(up, js) #js,
    RING_KINDS(RK_NAME)
#undef RK_NAME
};

/* ---- slots ---- */

void smbts_ring_inflight_inc(smbts_ring *r) {
  if (r->inflight++ == 0) {
    /* Pending ops keep the process alive and the Ring object reachable. */
    uv_ref(r->keepalive);
    r->loop_ref = true;
    uint32_t cnt;
    napi_reference_ref(r->env, r->self, &cnt);
  }
}

void smbts_ring_inflight_dec(smbts_ring *r) {
  if (--r->inflight == 0) {
    if (r->loop_ref) uv_unref(r->keepalive);
    r->loop_ref = false;
    uint32_t cnt;
    napi_reference_unref(r->env, r->self, &cnt);
  }
}

ring_op *smbts_ring_op_alloc(smbts_ring *r) {
  if (r->free_head == RING_NO_SLOT) return NULL;
  ring_op *op = &r->ops[r->free_head];
  r->free_head = op->next_free;
  op->used = true;
  op->ref = NULL;
  op->path = NULL;
  op->path2 = NULL;
  op->mem = NULL;
  op->bgid = -1;
  op->chain_role = CHAIN_NONE;
  op->chain_own = false;
  op->chain_peer = RING_NO_SLOT;
  op->chain_len = 0;
  return op;
}

void smbts_ring_op_release(smbts_ring *r, ring_op *op) {
  if (op->ref) napi_delete_reference(r->env, op->ref);
  free(op->path);
  free(op->path2);
  free(op->mem);
  op->mem = NULL;
  if (op->bgid >= 0) r->groups[op->bgid].inflight--;
  op->bgid = -1;
  op->ref = NULL;
  op->path = NULL;
  op->path2 = NULL;
  op->used = false;
  op->next_free = r->free_head;
  r->free_head = (uint32_t)(op - r->ops);
}

/* ---- one waiting ring per loop ---- */

/* A thread asleep in one ring's io_uring_enter is not woken by another ring's deferred work, so
 * at most one ring per libuv loop waits (DEFER_TASKRUN); others on that loop are plain rings.
 * Loops belong to threads (the main one, workers): a short list under a mutex. */
#define RING_MAX_WAIT_LOOPS 64
static pthread_mutex_t wait_loops_mu = PTHREAD_MUTEX_INITIALIZER;
static uv_loop_t *wait_loops[RING_MAX_WAIT_LOOPS];

static bool loop_waiter_claim(uv_loop_t *loop) {
  bool ok = false;
  pthread_mutex_lock(&wait_loops_mu);
  int free_i = -1;
  bool taken = false;
  for (int i = 0; i < RING_MAX_WAIT_LOOPS; i++) {
    if (wait_loops[i] == loop) taken = true;
    if (!wait_loops[i] && free_i < 0) free_i = i;
  }
  if (!taken && free_i >= 0) {
    wait_loops[free_i] = loop;
    ok = true;
  }
  pthread_mutex_unlock(&wait_loops_mu);
  return ok;
}

static void loop_waiter_release(uv_loop_t *loop) {
  pthread_mutex_lock(&wait_loops_mu);
  for (int i = 0; i < RING_MAX_WAIT_LOOPS; i++) {
    if (wait_loops[i] == loop) wait_loops[i] = NULL;
  }
  pthread_mutex_unlock(&wait_loops_mu);
}

/* ---- teardown ---- */

static void ring_free(smbts_ring *r) {
  free(r->groups);
  free(r->buf_refs);
  free(r->ops);
  free(r->cqes);
  free(r);
}

static void on_handle_closed(uv_handle_t *h) {
  smbts_ring *r = h->data;
  if (--r->handles_open > 0) return;
  if (r->cleanup) {
    napi_async_cleanup_hook_handle hh = r->cleanup;
    r->cleanup = NULL;
    napi_remove_async_cleanup_hook(hh);
  }
  if (r->wrapper_gone) ring_free(r);
}

/* Reap CQEs without JS (teardown only): releases slots. */
static void reap_silently(smbts_ring *r) {
  struct io_uring_cqe *cqe;
  unsigned head, n = 0;
  io_uring_for_each_cqe(&r->ring, head, cqe) {
    uint64_t ud = cqe->user_data;
    if (ud != RING_INTERNAL_UD && ud >= 1 && ud <= r->cq_entries && r->ops[ud - 1].used) {
      smbts_ring_op_release(r, &r->ops[ud - 1]);
      smbts_ring_inflight_dec(r);
    }
    n++;
  }
  io_uring_cq_advance(&r->ring, n);
}

/* Environment teardown with ops in flight: cancel them and wait (bounded) for their CQEs, so no
 * kernel write lands in memory the environment is about to free. */
static void cancel_and_wait(smbts_ring *r) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    io_uring_submit(&r->ring);
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (sqe) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
  }
  io_uring_submit(&r->ring);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (r->inflight > 0) {
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
    reap_silently(r);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > 5) break; /* give up rather than hang the exit */
  }
}

void smbts_ring_teardown(smbts_ring *r) {
  if (r->torn_down) return;
  r->torn_down = true;
  r->closing = true;
  /* Handles first: libuv takes the polled ring fd out of its epoll set now, while it is still
   * open, never after its number might have been reused. */
  smbts_ring_disarm_flush(r);
  uv_poll_stop(&r->poll);
  uv_idle_stop(&r->idle);
  uv_prepare_stop(&r->waiter);
  uv_idle_stop(&r->kick);
  r->busy = false;
  if (r->waits) loop_waiter_release(r->loop);
  r->handles_open = 6;
  uv_close((uv_handle_t *)&r->poll, on_handle_closed);
  uv_close((uv_handle_t *)&r->prepare, on_handle_closed);
  uv_close((uv_handle_t *)&r->check, on_handle_closed);
  uv_close((uv_handle_t *)&r->idle, on_handle_closed);
  uv_close((uv_handle_t *)&r->waiter, on_handle_closed);
  uv_close((uv_handle_t *)&r->kick, on_handle_closed);
  if (r->ring_ok) {
    if (r->inflight > 0) cancel_and_wait(r);
    io_uring_queue_exit(&r->ring);
    r->ring_ok = false;
  }
  /* The ring is gone, and with it the kernel's use of the registered and provided buffers. */
  for (uint32_t i = 0; i < r->ngroups; i++) {
    ring_buf_group *g = &r->groups[i];
    if (g->ref) napi_delete_reference(r->env, g->ref);
    g->ref = NULL;
    free(g->br);
    g->br = NULL;
    g->registered = false;
  }
  for (uint32_t i = 0; i < r->nbufs; i++) {
    if (r->buf_refs[i]) napi_delete_reference(r->env, r->buf_refs[i]);
    r->buf_refs[i] = NULL;
  }
  /* Slots still marked used only if the wait above gave up: drop their references anyway. */
  for (uint32_t i = 0; i < r->cq_entries; i++) {
    if (r->ops[i].used) {
      smbts_ring_op_release(r, &r->ops[i]);
      smbts_ring_inflight_dec(r);
    }
  }
  if (r->callback) napi_delete_reference(r->env, r->callback);
  if (r->results_ref) napi_delete_reference(r->env, r->results_ref);
  r->callback = r->results_ref = NULL;
  if (r->actx) napi_async_destroy(r->env, r->actx);
  r->actx = NULL;
}

static void ring_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  smbts_ring *r = arg;
  r->cleanup = handle;
  if (r->torn_down) {
    /* Handles are already closing; on_handle_closed removes the hook. */
    if (r->handles_open == 0) {
      r->cleanup = NULL;
      napi_remove_async_cleanup_hook(handle);
    }
    return;
  }
  smbts_ring_teardown(r);
}

static void ring_finalize(napi_env env, void *data, void *hint) {
  smbts_ring *r = data;
  r->wrapper_gone = true;
  if (r->self) napi_delete_reference(env, r->self);
  r->self = NULL;
  if (!r->torn_down) {
    smbts_ring_teardown(r); /* frees in on_handle_closed */
  } else if (r->handles_open == 0) {
    ring_free(r);
  }
}

/* ---- JS: construction ---- */

smbts_ring *smbts_ring_unwrap(napi_env env, napi_value thisv) {
  void *p = NULL;
  if (napi_unwrap(env, thisv, &p) != napi_ok || !p) {
    ring_throw(env, "ERR_INVALID_THIS", "not a Ring");
    return NULL;
  }
  return p;
}

static napi_value js_ring_ctor(napi_env env, napi_callback_info info) {
  smbts_args a;
  uint32_t entries = 0, flags = RING_DEFAULT_FLAGS;
  napi_valuetype t = napi_undefined;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  if (!smbts_arg_uint32(&a, 0, "entries", &entries)) return smbts_args_throw(&a);
  napi_typeof(env, a.argv[1], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"onCompletions\" argument must be a function");
    return NULL;
  }
  napi_valuetype ft = napi_undefined;
  napi_typeof(env, a.argv[2], &ft);
  bool default_flags = ft == napi_undefined || ft == napi_null;
  if (!default_flags && !smbts_arg_uint32(&a, 2, "flags", &flags)) return smbts_args_throw(&a);
  if (entries < 1 || entries > RING_MAX_ENTRIES) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "entries must be 1..4096");
    return NULL;
  }
  if (flags & ~RING_ALLOWED_FLAGS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "unsupported io_uring setup flags (allowed: CLAMP, SUBMIT_ALL, "
                           "SINGLE_ISSUER, DEFER_TASKRUN, TASKRUN_FLAG)");
    return NULL;
  }

  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return smbts_throw_napi(env, "napi_get_uv_event_loop");
  smbts_ring *r = calloc(1, sizeof *r);
  if (!r) return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
  r->env = env;
  r->loop = loop;
  /* DEFER_TASKRUN makes this the loop's waiting ring, if it has none yet (see the header). */
  bool claimed = false;
  if (flags & IORING_SETUP_DEFER_TASKRUN) {
    claimed = loop_waiter_claim(loop);
    if (claimed) flags |= IORING_SETUP_TASKRUN_FLAG;
    else flags &= ~(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  }
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = flags;
  int ret = io_uring_queue_init_params(entries, &r->ring, &p);
  if (ret == -EINVAL && (flags & IORING_SETUP_TASKRUN_FLAG)) {
    /* A kernel that refuses the flag with DEFER_TASKRUN: pending work is then asked for. */
    memset(&p, 0, sizeof p);
    p.flags = flags & ~IORING_SETUP_TASKRUN_FLAG;
    ret = io_uring_queue_init_params(entries, &r->ring, &p);
  }
  if (ret == -EINVAL && default_flags) {
    /* Older kernel without SUBMIT_ALL/SINGLE_ISSUER: plain ring. */
    memset(&p, 0, sizeof p);
    ret = io_uring_queue_init_params(entries, &r->ring, &p);
  }
  if (ret < 0) {
    if (claimed) loop_waiter_release(loop);
    free(r);
    return smbts_throw_errno(env, -ret, "io_uring_setup");
  }
  r->waits = (p.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
  if (claimed && !r->waits) loop_waiter_release(loop);
  r->taskrun_flag = (p.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
  r->ring_ok = true;
  r->setup_flags = p.flags;
  r->sq_entries = p.sq_entries;
  r->cq_entries = p.cq_entries;

  const char *fail_call = NULL;
  int fail_err = 0;
  r->ops = calloc(r->cq_entries, sizeof *r->ops);
  r->cqes = calloc(r->cq_entries, sizeof *r->cqes);
  if (!r->ops || !r->cqes) {
    fail_call = "calloc";
    fail_err = ENOMEM;
    goto fail_ring;
  }
  for (uint32_t i = 0; i < r->cq_entries; i++) {
    r->ops[i].next_free = i + 1 < r->cq_entries ? i + 1 : RING_NO_SLOT;
  }
  r->free_head = 0;
  napi_value ab, results, name;
  void *data = NULL;
  /* Three int32s per completion delivered; a batch of CQEs can deliver twice as many (a failed
   * slotless splice settles two ops: ring-wait.c drain). */
  if (napi_create_arraybuffer(env, (size_t)r->cq_entries * 6 * sizeof(int32_t), &data, &ab) !=
          napi_ok ||
      napi_create_typedarray(env, napi_int32_array, (size_t)r->cq_entries * 6, ab, 0, &results) !=
          napi_ok ||
      napi_create_reference(env, results, 1, &r->results_ref) != napi_ok ||
      napi_create_reference(env, a.argv[1], 1, &r->callback) != napi_ok ||
      napi_create_string_utf8(env, "smbts:ring", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &r->actx) != napi_ok) {
    fail_call = "napi";
    fail_err = ENOMEM;
    goto fail_refs;
  }
  r->results = data;

  if (uv_poll_init(loop, &r->poll, r->ring.ring_fd) != 0) {
    fail_call = "uv_poll_init";
    fail_err = EINVAL;
    goto fail_refs;
  }
  uv_prepare_init(loop, &r->prepare);
  uv_check_init(loop, &r->check);
  uv_idle_init(loop, &r->idle);
  uv_prepare_init(loop, &r->waiter);
  uv_idle_init(loop, &r->kick);
  r->poll.data = r->prepare.data = r->check.data = r->idle.data = r->waiter.data = r->kick.data = r;
  /* Idle rings do not keep the process alive; in-flight ops do (smbts_ring_inflight_inc). */
  uv_unref((uv_handle_t *)&r->poll);
  uv_unref((uv_handle_t *)&r->prepare);
  uv_unref((uv_handle_t *)&r->check);
  uv_unref((uv_handle_t *)&r->idle);
  uv_unref((uv_handle_t *)&r->waiter);
  uv_unref((uv_handle_t *)&r->kick);
  if (r->waits) {
    r->keepalive = (uv_handle_t *)&r->waiter;
    uv_prepare_start(&r->waiter, smbts_ring_on_wait_prepare);
  } else {
    r->keepalive = (uv_handle_t *)&r->poll;
    uv_poll_start(&r->poll, UV_READABLE, smbts_ring_on_poll);
  }

  if (napi_wrap(env, a.thisv, r, ring_finalize, NULL, &r->self) != napi_ok) {
    /* Without a wrapper nobody can reach r: tear it down now. */
    r->wrapper_gone = true;
    smbts_ring_teardown(r);
    return smbts_throw_napi(env, "napi_wrap");
  }
  napi_add_async_cleanup_hook(env, ring_env_cleanup, r, &r->cleanup);
  return a.thisv;

fail_refs:
  if (r->callback) napi_delete_reference(env, r->callback);
  if (r->results_ref) napi_delete_reference(env, r->results_ref);
  if (r->actx) napi_async_destroy(env, r->actx);
fail_ring:
  io_uring_queue_exit(&r->ring);
  if (r->waits) loop_waiter_release(loop);
  ring_free(r);
  return smbts_throw_errno(env, fail_err, fail_call);
}

static napi_value js_ring_submit(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int ret = smbts_ring_flush(r);
  if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) return smbts_throw_errno(env, -ret, "io_uring_enter");
  napi_value v;
  napi_create_int32(env, ret < 0 ? 0 : ret, &v);
  return v;
}

/* close() -> true when the ring is gone now; false when ops are in flight: they are cancelled
 * and the callback is called with (null, true) once the last CQE is in. */
static napi_value js_ring_close(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  napi_value v;
  if (r->torn_down) {
    napi_get_boolean(env, true, &v);
    return v;
  }
  if (r->closing) {
    napi_get_boolean(env, false, &v);
    return v;
  }
  r->closing = true;
  if (r->inflight == 0) {
    smbts_ring_teardown(r);
    napi_get_boolean(env, true, &v);
    return v;
  }
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    smbts_ring_flush(r);
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (sqe) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
  }
  smbts_ring_flush(r);
  napi_get_boolean(env, false, &v);
  return v;
}

static napi_status set_num(napi_env env, napi_value obj, const char *name, double d) {
  napi_value v;
  napi_status st = napi_create_double(env, d, &v);
  return st == napi_ok ? napi_set_named_property(env, obj, name, v) : st;
}

static napi_value js_ring_counters(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  napi_value obj, ops;
  SMBTS_NAPI(env, napi_create_object(env, &obj));
  SMBTS_NAPI(env, napi_create_object(env, &ops));
  for (int i = 0; i < RK__COUNT; i++) SMBTS_NAPI(env, set_num(env, ops, ring_kind_names[i], (double)r->c_ops[i]));
  SMBTS_NAPI(env, napi_set_named_property(env, obj, "ops", ops));
  SMBTS_NAPI(env, set_num(env, obj, "submits", (double)r->c_submits));
  SMBTS_NAPI(env, set_num(env, obj, "sqes", (double)r->c_sqes));
  SMBTS_NAPI(env, set_num(env, obj, "submitErrors", (double)r->c_submit_errors));
  SMBTS_NAPI(env, set_num(env, obj, "cqes", (double)r->c_cqes));
  SMBTS_NAPI(env, set_num(env, obj, "batches", (double)r->c_batches));
  SMBTS_NAPI(env, set_num(env, obj, "wakeups", (double)r->c_wakeups));
  SMBTS_NAPI(env, set_num(env, obj, "busyPollHits", (double)r->c_busy_hits));
  SMBTS_NAPI(env, set_num(env, obj, "busyPollMisses", (double)r->c_busy_misses));
  SMBTS_NAPI(env, set_num(env, obj, "busyPollWindows", (double)r->c_busy_windows));
  SMBTS_NAPI(env, set_num(env, obj, "ringWaits", (double)r->c_ring_waits));
  SMBTS_NAPI(env, set_num(env, obj, "links", (double)r->c_links));
  SMBTS_NAPI(env, set_num(env, obj, "spliceChains", (double)r->c_splice_chains));
  SMBTS_NAPI(env, set_num(env, obj, "moreCqes", (double)r->c_more));
  SMBTS_NAPI(env, set_num(env, obj, "errors", (double)r->c_errors));
  SMBTS_NAPI(env, set_num(env, obj, "inflight", (double)r->inflight));
  SMBTS_NAPI(env, set_num(env, obj, "pending", r->ring_ok ? (double)io_uring_sq_ready(&r->ring) : 0));
  SMBTS_NAPI(env, set_num(env, obj, "sqEntries", (double)r->sq_entries));
  SMBTS_NAPI(env, set_num(env, obj, "cqEntries", (double)r->cq_entries));
  SMBTS_NAPI(env, set_num(env, obj, "setupFlags", (double)r->setup_flags));
  napi_value closed;
  SMBTS_NAPI(env, napi_get_boolean(env, r->torn_down, &closed));
  SMBTS_NAPI(env, napi_set_named_property(env, obj, "closed", closed));
  return obj;
}

/* ---- registration ---- */

static napi_status statx_layout(napi_env env, napi_value exports) {
  napi_value o;
  napi_status st;
  if ((st = napi_create_object(env, &o)) != napi_ok) return st;
#define OFF(js, field)                                                                          \
  if ((st = set_num(env, o, js, (double)offsetof(struct statx, field))) != napi_ok) return st
  OFF("mask", stx_mask);
  OFF("blksize", stx_blksize);
  OFF("attributes", stx_attributes);
  OFF("nlink", stx_nlink);
  OFF("uid", stx_uid);
  OFF("gid", stx_gid);
  OFF("mode", stx_mode);
  OFF("ino", stx_ino);
  OFF("size", stx_size);
  OFF("blocks", stx_blocks);
  OFF("attributesMask", stx_attributes_mask);
  OFF("atime", stx_atime);
  OFF("btime", stx_btime);
  OFF("ctime", stx_ctime);
  OFF("mtime", stx_mtime);
  OFF("rdevMajor", stx_rdev_major);
  OFF("rdevMinor", stx_rdev_minor);
  OFF("devMajor", stx_dev_major);
  OFF("devMinor", stx_dev_minor);
  OFF("mntId", stx_mnt_id);
#undef OFF
  if ((st = set_num(env, o, "size_of", (double)sizeof(struct statx))) != napi_ok) return st;
  if ((st = set_num(env, o, "timestampNsec", (double)offsetof(struct statx_timestamp, tv_nsec))) != napi_ok) return st;
  if ((st = napi_object_freeze(env, o)) != napi_ok) return st;
  return napi_set_named_property(env, exports, "statxLayout", o);
}

/* The methods of this file; the others come from ring-ops.c, ring-bufs.c and ring-busy.c. */
static const napi_property_descriptor ring_methods[] = {
    RING_METHOD("submit", js_ring_submit),
    RING_METHOD("close", js_ring_close),
    RING_METHOD("counters", js_ring_counters),
};
#define RING_MAX_METHODS 64

napi_status smbts_ring_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[RING_MAX_METHODS];
  const napi_property_descriptor *const tables[] = {
      ring_methods, smbts_ring_op_methods, smbts_ring_buf_methods, smbts_ring_busy_methods};
  const size_t counts[] = {sizeof ring_methods / sizeof ring_methods[0], smbts_ring_op_method_count,
                           smbts_ring_buf_method_count, smbts_ring_busy_method_count};
  size_t nprops = 0;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    if (nprops + counts[i] > RING_MAX_METHODS) return napi_generic_failure;
    memcpy(props + nprops, tables[i], counts[i] * sizeof props[0]);
    nprops += counts[i];
  }
  napi_value cls, setup;
  napi_status st = napi_define_class(env, "Ring", NAPI_AUTO_LENGTH, js_ring_ctor, NULL,
                                     nprops, props, &cls);
  if (st != napi_ok) return st;
  if ((st = napi_set_named_property(env, exports, "Ring", cls)) != napi_ok) return st;
  if ((st = napi_create_object(env, &setup)) != napi_ok) return st;
  if ((st = set_num(env, setup, "IORING_SETUP_CLAMP", IORING_SETUP_CLAMP)) != napi_ok ||
      (st = set_num(env, setup, "IORING_SETUP_SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL)) != napi_ok ||
      (st = set_num(env, setup, "IORING_SETUP_SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER)) != napi_ok ||
      (st = set_num(env, setup, "IORING_SETUP_DEFER_TASKRUN", IORING_SETUP_DEFER_TASKRUN)) != napi_ok ||
      (st = set_num(env, setup, "default", RING_DEFAULT_FLAGS)) != napi_ok) {
    return st;
  }
  if ((st = napi_object_freeze(env, setup)) != napi_ok) return st;
  if ((st = napi_set_named_property(env, exports, "ringSetupFlags", setup)) != napi_ok) return st;
  return statx_layout(env, exports);
}
