/*
 * An io_uring owned by the JS thread.
 *
 * Submission: prep methods fill SQEs; all pending SQEs go to the kernel in one io_uring_submit
 * per batch: at the end of a completion batch, before the loop next blocks (uv_prepare), after
 * the poll phase (uv_check), or when the caller says ring.submit().
 *
 * Completion, two ways (docs/io_uring.md says why, with the kernel source and traces):
 *
 * - A plain ring (no DEFER_TASKRUN): a uv_poll on the JS thread's loop watches the ring's own fd,
 *   readable (EPOLLIN) while CQEs wait. The kernel runs a completion's task work by interrupting
 *   this thread (TWA_SIGNAL), even while it sleeps in epoll, and then wakes pollers of the fd.
 *   libuv's epoll is level-triggered and the poll callback drains the CQ until it is empty (a CQ
 *   still not empty after 64 rounds keeps the fd readable: the next loop turn goes on).
 *
 * - A DEFER_TASKRUN ring: the kernel promises to run deferred work only when this thread asks for
 *   completions (io_uring_enter with GETEVENTS), and to wake this thread only while it waits
 *   there. Nothing else is promised: pollers of the ring fd are not woken when work is queued,
 *   and a registered eventfd is signalled on a best-effort path that may wait for an RCU grace
 *   period (measured: 4-16 ms per completion on one kernel build). So the loop waits in the ring,
 *   not the ring in the loop: just before libuv would sleep in epoll (uv_prepare), with ops in
 *   flight, this thread sleeps in io_uring_enter(GETEVENTS) instead, for as long as libuv would
 *   have slept (uv_backend_timeout), with a one-shot poll of libuv's own epoll fd on the ring so
 *   that any other event of the loop (sockets, timers' fds, the threadpool's async handle,
 *   signals) ends the wait too. After the wait the loop turns once without sleeping (an idle
 *   handle) so libuv serves what woke it. No wake-up rests on a notification the kernel does not
 *   promise. One such ring per loop: a thread sleeping in one ring is not woken by another's
 *   deferred work, so a second ring on the same loop is set up without DEFER_TASKRUN.
 *
 * The drain calls the JS callback once per batch with an Int32Array of [tag, res, provided
 * buffer id or -1] triplets (valid only during the call; one Int32Array made once, the call says
 * how many triplets are new). No ring thread, no threadsafe function: the ring stays
 * single-issuer.
 *
 * Provided-buffer groups (one-entry buffer rings, one per connection) let a multishot recv stay
 * armed across requests while the caller still chooses where each chunk lands: it gives the
 * group one span at a time (provideBuffer) and the next once a CQE says the last was filled.
 *
 * Ownership: every Buffer handed to the kernel is referenced (napi_ref) from its op slot until
 * that op's CQE arrives, even across cancel and close; a group holds the Buffer of its last span
 * until it is destroyed (refused while a recv takes from it) or the ring is gone. close()
 * cancels what is in flight and frees the ring only when the last CQE is in. Slots are as many
 * as CQ entries, so the CQ cannot overflow from our own ops.
 */
#include "smbts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define RING_MAX_ENTRIES 4096u
/* user_data of SQEs we issue for ourselves (cancels): their CQEs are dropped. */
#define RING_INTERNAL_UD UINT64_MAX
/* user_data of the poll of libuv's epoll fd that a waiting ring keeps armed while it sleeps. */
#define RING_LOOP_POLL_UD (UINT64_MAX - 1)
#define RING_NO_SLOT UINT32_MAX

/* Setup flags we accept. All are known to liburing 2.3 and leave the ring layout alone (no SQPOLL,
 * IOPOLL, SQE128/CQE32, NO_SQARRAY...). COOP_TASKRUN is left out: with it, completions may wait
 * for the JS thread to enter the kernel, which it does not do while idle in epoll. */
#define RING_ALLOWED_FLAGS                                                                      \
  (IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |                  \
   IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG)
#define RING_DEFAULT_FLAGS (IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER)

#define RING_KINDS(X)                                                                           \
  X(NOP, nop)                                                                                   \
  X(READ, read)                                                                                 \
  X(WRITE, write)                                                                               \
  X(OPENAT2, openat2)                                                                           \
  X(STATX, statx)                                                                               \
  X(FSYNC, fsync)                                                                               \
  X(CLOSE, close)                                                                               \
  X(RECV, recv)                                                                                 \
  X(SEND, send)                                                                                 \
  X(CANCEL, cancel)                                                                             \
  X(MKDIRAT, mkdirat)                                                                           \
  X(UNLINKAT, unlinkat)                                                                         \
  X(RENAMEAT, renameat2)                                                                        \
  X(LINKAT, linkat)                                                                             \
  X(FALLOCATE, fallocate)                                                                       \
  X(FGETXATTR, fgetxattr)                                                                       \
  X(FSETXATTR, fsetxattr)                                                                       \
  X(SENDMSG, sendmsg)                                                                           \
  X(ACCEPT, accept)                                                                             \
  X(READ_FIXED, readFixed)                                                                      \
  X(RECV_MULTI, recvMultishot)

enum ring_kind {
#define RK_ENUM(up, js) RK_##up,
  RING_KINDS(RK_ENUM)
#undef RK_ENUM
  RK__COUNT
};

static const char *const ring_kind_names[RK__COUNT] = {
#define RK_NAME(up, js) #js,
    RING_KINDS(RK_NAME)
#undef RK_NAME
};

typedef struct ring_op {
  int32_t tag;
  bool used;
  uint8_t kind;
  uint32_t next_free;
  napi_ref ref; /* the Buffer the kernel reads or writes */
  char *path;
  char *path2; /* the second name of renameat2/linkat; an xattr name */
  void *mem;   /* sendmsg's msghdr and iovecs, read by the kernel until the CQE */
  int32_t bgid; /* the provided-buffer group a multishot recv takes from, or -1 */
  struct open_how how;
} ring_op;

/* A provided-buffer group: a one-entry buffer ring (io_uring_register_buf_ring) that the caller
 * refills with a span of one of its Buffers after each CQE that consumed it (provideBuffer). The
 * Buffer is held until the group is destroyed or given another one. */
#define RING_MAX_BUF_GROUPS 16384u
typedef struct ring_buf_group {
  bool used;
  bool registered;
  struct io_uring_buf_ring *br; /* page-aligned, ours; the kernel reads it while registered */
  napi_ref ref;                 /* the Buffer the last provided span lies in */
  uint32_t inflight;            /* multishot recvs taking from this group */
  bool outstanding;             /* a provided span the kernel has not consumed yet */
  uint32_t next_free;
} ring_buf_group;

typedef struct smbts_ring {
  napi_env env;
  struct io_uring ring;
  unsigned setup_flags;
  unsigned sq_entries, cq_entries;
  bool waits;    /* DEFER_TASKRUN: the loop sleeps in this ring (on_wait_prepare) */
  bool taskrun_flag; /* the kernel sets IORING_SQ_TASKRUN when deferred work is queued */
  bool loop_poll_armed; /* the poll of libuv's epoll fd is in the ring */
  uv_loop_t *loop;
  bool ring_ok;   /* io_uring set up and not yet exited */
  bool closing;   /* close() called: no new ops */
  bool torn_down; /* ring exited, handles closing */
  bool wrapper_gone;
  bool loop_ref;
  int handles_open;
  uv_poll_t poll;
  uv_prepare_t prepare;
  uv_check_t check;
  uv_idle_t idle;        /* active while busy polling: the loop polls without blocking */
  uv_prepare_t waiter;   /* a waiting ring: sleeps in io_uring_enter where libuv would in epoll */
  uv_idle_t kick;        /* one loop turn without sleeping after such a sleep */
  uv_handle_t *keepalive; /* ref'd while ops are in flight: the poll, or for a waiting ring the waiter */
  uint64_t busy_ns;      /* busy-poll window after a wake-up (setBusyPoll), 0 = off */
  uint64_t last_wake_ns; /* when the last completions were drained */
  bool busy;             /* the idle handle is active */
  int32_t busy_credit;   /* > 0: a wake-up opens a window (adaptive: hits earn, misses cost) */
  int32_t busy_miss_cost; /* credits a window that closes empty costs */
  bool flush_armed;
  napi_ref self; /* weak, strong while ops are in flight */
  napi_ref callback;
  napi_ref results_ref;
  int32_t *results;
  struct io_uring_cqe **cqes;
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  ring_op *ops;
  uint32_t nbufs;       /* registered-buffer slots (registerBuffers), 0 = none */
  napi_ref *buf_refs;   /* the Buffer registered in each slot, held while it is */
  ring_buf_group *groups; /* provided-buffer groups, indexed by bgid */
  uint32_t ngroups, groups_free;
  uint32_t free_head;
  uint32_t inflight;
  uint64_t c_ops[RK__COUNT];
  uint64_t c_submits, c_sqes, c_cqes, c_batches, c_wakeups, c_errors, c_submit_errors;
  uint64_t c_links; /* linked pairs prepped (readThenSendmsg) */
  uint64_t c_more;  /* CQEs of multishot ops that stay armed (F_MORE) */
  uint64_t c_busy_hits;    /* wake-ups that came while busy polling (no sleep before them) */
  uint64_t c_busy_misses;  /* windows that closed with nothing drained */
  uint64_t c_busy_windows; /* windows opened */
  uint64_t c_ring_waits;   /* sleeps in io_uring_enter (waiting rings) */
} smbts_ring;

static napi_value ring_throw(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/* ---- flushing ---- */

static void on_prepare(uv_prepare_t *h);
static void on_check(uv_check_t *h);

static void arm_flush(smbts_ring *r) {
  if (r->flush_armed || r->torn_down) return;
  r->flush_armed = true;
  uv_prepare_start(&r->prepare, on_prepare);
  uv_check_start(&r->check, on_check);
}

static void disarm_flush(smbts_ring *r) {
  if (!r->flush_armed) return;
  r->flush_armed = false;
  uv_prepare_stop(&r->prepare);
  uv_check_stop(&r->check);
}

/* One io_uring_submit for everything prepped so far. */
static int ring_flush(smbts_ring *r) {
  if (!r->ring_ok) return 0;
  if (io_uring_sq_ready(&r->ring) == 0) {
    disarm_flush(r);
    return 0;
  }
  int ret = io_uring_submit(&r->ring);
  if (ret >= 0) {
    r->c_submits++;
    r->c_sqes += (uint64_t)ret;
  } else {
    r->c_submit_errors++; /* EBUSY/EAGAIN: retried at the next flush point */
  }
  if (io_uring_sq_ready(&r->ring) == 0) disarm_flush(r);
  return ret;
}

static void on_prepare(uv_prepare_t *h) { ring_flush(h->data); }
static void on_check(uv_check_t *h) { ring_flush(h->data); }

/* ---- slots ---- */

static void inflight_inc(smbts_ring *r) {
  if (r->inflight++ == 0) {
    /* Pending ops keep the process alive and the Ring object reachable. */
    uv_ref(r->keepalive);
    r->loop_ref = true;
    uint32_t cnt;
    napi_reference_ref(r->env, r->self, &cnt);
  }
}

static void inflight_dec(smbts_ring *r) {
  if (--r->inflight == 0) {
    if (r->loop_ref) uv_unref(r->keepalive);
    r->loop_ref = false;
    uint32_t cnt;
    napi_reference_unref(r->env, r->self, &cnt);
  }
}

static ring_op *op_alloc(smbts_ring *r) {
  if (r->free_head == RING_NO_SLOT) return NULL;
  ring_op *op = &r->ops[r->free_head];
  r->free_head = op->next_free;
  op->used = true;
  op->ref = NULL;
  op->path = NULL;
  op->path2 = NULL;
  op->mem = NULL;
  op->bgid = -1;
  return op;
}

static void op_release(smbts_ring *r, ring_op *op) {
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
      op_release(r, &r->ops[ud - 1]);
      inflight_dec(r);
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

static void ring_teardown(smbts_ring *r) {
  if (r->torn_down) return;
  r->torn_down = true;
  r->closing = true;
  /* Handles first: libuv takes the polled ring fd out of its epoll set now, while it is still
   * open, never after its number might have been reused. */
  disarm_flush(r);
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
      op_release(r, &r->ops[i]);
      inflight_dec(r);
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
  ring_teardown(r);
}

static void ring_finalize(napi_env env, void *data, void *hint) {
  smbts_ring *r = data;
  r->wrapper_gone = true;
  if (r->self) napi_delete_reference(env, r->self);
  r->self = NULL;
  if (!r->torn_down) {
    ring_teardown(r); /* frees in on_handle_closed */
  } else if (r->handles_open == 0) {
    ring_free(r);
  }
}

/* ---- completions ---- */

static void deliver(smbts_ring *r, uint32_t pairs, bool closed) {
  napi_env env = r->env;
  napi_value cb, view = NULL, args[3], recv, result;
  if (!r->callback || napi_get_reference_value(env, r->callback, &cb) != napi_ok || !cb) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  /* One Int32Array over the whole results buffer, made once; the count says how much is new. */
  if (pairs > 0) napi_get_reference_value(env, r->results_ref, &view);
  if (!view) napi_get_null(env, &view);
  args[0] = view;
  napi_get_boolean(env, closed, &args[1]);
  napi_create_uint32(env, view ? pairs : 0, &args[2]);
  r->c_batches++;
  napi_status st = napi_make_callback(env, r->actx, recv, cb, 3, args, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

/* The last call: tear the ring down first, so JS resuming from (null, true) sees it closed. */
static void deliver_closed(smbts_ring *r) {
  napi_env env = r->env;
  napi_value cb = NULL, recv, args[3], result;
  if (r->callback) napi_get_reference_value(env, r->callback, &cb); /* held by the handle scope */
  napi_async_context actx = r->actx;
  r->actx = NULL; /* teardown must not destroy it yet */
  ring_teardown(r);
  if (cb && actx) {
    napi_get_global(env, &recv);
    napi_get_null(env, &args[0]);
    napi_get_boolean(env, true, &args[1]);
    napi_create_uint32(env, 0, &args[2]);
    r->c_batches++;
    if (napi_make_callback(env, actx, recv, cb, 3, args, &result) == napi_pending_exception) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  if (actx) napi_async_destroy(env, actx);
}

/* Deferred task work or overflowed CQEs the kernel holds until this thread enters it. */
static bool ring_held_back(smbts_ring *r) {
  unsigned kflags = IO_URING_READ_ONCE(*r->ring.sq.kflags);
  if (kflags & IORING_SQ_CQ_OVERFLOW) return true;
  if (!(r->setup_flags & IORING_SETUP_DEFER_TASKRUN)) return false;
  return !r->taskrun_flag || (kflags & IORING_SQ_TASKRUN);
}

/* Whether a drain now would find something (or might: without the TASKRUN flag we cannot tell). */
static bool ring_pending(smbts_ring *r) {
  return io_uring_cq_ready(&r->ring) > 0 || ring_held_back(r);
}

static void busy_poll_wake(smbts_ring *r);

static void drain(smbts_ring *r) {
  if (!r->ring_ok) return;
  if (ring_held_back(r)) {
    io_uring_get_events(&r->ring); /* run deferred task work / flush overflowed CQEs */
  }
  bool woke = false;
  for (int round = 0; round < 64 && r->ring_ok; round++) {
    unsigned n = io_uring_peek_batch_cqe(&r->ring, r->cqes, r->cq_entries);
    if (n == 0) {
      if (io_uring_cq_has_overflow(&r->ring)) {
        io_uring_get_events(&r->ring);
        continue;
      }
      break;
    }
    uint32_t k = 0;
    for (unsigned i = 0; i < n; i++) {
      uint64_t ud = r->cqes[i]->user_data;
      int32_t res = r->cqes[i]->res;
      if (ud == RING_LOOP_POLL_UD) {
        r->loop_poll_armed = false; /* one-shot: armed again before the next sleep */
        continue;
      }
      if (ud == RING_INTERNAL_UD || ud == 0 || ud > r->cq_entries) continue;
      ring_op *op = &r->ops[ud - 1];
      if (!op->used) continue;
      /* A multishot op's CQE with F_MORE: more will come, the slot stays; JS sees -tag. */
      unsigned flags = r->cqes[i]->flags;
      bool more = (flags & IORING_CQE_F_MORE) != 0;
      r->results[3 * k] = more ? -op->tag : op->tag;
      r->results[3 * k + 1] = res;
      /* The provided buffer this CQE consumed (its data, if res > 0, is in it), or -1. */
      r->results[3 * k + 2] =
          (flags & IORING_CQE_F_BUFFER) ? (int32_t)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
      if ((flags & IORING_CQE_F_BUFFER) && op->bgid >= 0) r->groups[op->bgid].outstanding = false;
      k++;
      if (res < 0) r->c_errors++;
      if (more) {
        r->c_more++;
        continue;
      }
      op_release(r, op);
      inflight_dec(r);
    }
    io_uring_cq_advance(&r->ring, n);
    r->c_cqes += n;
    if (k && r->waits && !woke) {
      /* A waiting ring's wake-up, as on_poll counts one for a polled ring. */
      woke = true;
      r->c_wakeups++;
      if (r->busy_ns > 0) busy_poll_wake(r);
    }
    if (k) deliver(r, k, false); /* may prep more, submit, or close */
  }
  if (r->closing && r->inflight == 0 && !r->torn_down) deliver_closed(r);
}

/* Busy polling (setBusyPoll). A thread that sleeps in epoll and is woken for the next request
 * pays for the sleep and the wake-up; on a paravirtualised VM (bench/RESULTS.md) they cost more
 * than a small request itself. While the idle handle is active libuv polls with a zero timeout:
 * the loop goes on turning (timers, the threadpool, other fds all served as usual) and a
 * completion that comes within the window after the last wake-up is taken without a sleep. The
 * window closes, and the loop blocks again, after `busy_ns` with nothing drained.
 *
 * Adaptive, so that traffic a window rarely catches does not burn CPU: each wake-up a window
 * catches earns a credit (up to BUSY_CREDIT_MAX), a window that closes empty costs what it
 * wasted, one credit per BUSY_SAVED_NS of it (what a sleep and a wake-up it spares cost here,
 * roughly), a wake-up opens a window only with credit left, and each wake-up without one earns a
 * credit back. Windows stay on while they catch enough wake-ups to pay for the ones that close
 * empty; sparse traffic opens about one window in (cost + 1) wake-ups. */
#define BUSY_CREDIT_MAX 16
#define BUSY_SAVED_NS 25000u

static void on_idle(uv_idle_t *h) {
  smbts_ring *r = h->data;
  if (uv_hrtime() - r->last_wake_ns <= r->busy_ns) return;
  uv_idle_stop(&r->idle);
  r->busy = false;
  r->c_busy_misses++;
  r->busy_credit -= r->busy_miss_cost;
}

static void busy_poll_wake(smbts_ring *r) {
  r->last_wake_ns = uv_hrtime();
  if (r->busy) {
    r->c_busy_hits++;
    if (r->busy_credit < BUSY_CREDIT_MAX) r->busy_credit++;
    return;
  }
  if (r->busy_credit <= 0) {
    r->busy_credit++;
    return;
  }
  r->busy = true;
  r->c_busy_windows++;
  uv_idle_start(&r->idle, on_idle);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  smbts_ring *r = h->data;
  if (r->torn_down) return;
  r->c_wakeups++;
  if (r->busy_ns > 0) busy_poll_wake(r);
  napi_handle_scope scope;
  if (napi_open_handle_scope(r->env, &scope) != napi_ok) return;
  drain(r);
  ring_flush(r); /* whatever the callbacks prepped goes out in one submit */
  napi_close_handle_scope(r->env, scope);
}

static void on_kick(uv_idle_t *h) { uv_idle_stop(h); }

/* A waiting ring (DEFER_TASKRUN), once per loop turn just before libuv polls for I/O: take what
 * completed; then, if libuv is about to sleep and ops of ours are in flight, sleep here instead,
 * in io_uring_enter(GETEVENTS) (the one wait the kernel wakes for deferred work), for as long as
 * libuv would have, with its epoll fd polled on the ring so any other event ends the wait. */
static void on_wait_prepare(uv_prepare_t *h) {
  smbts_ring *r = h->data;
  if (r->torn_down || !r->ring_ok) return;
  ring_flush(r);
  bool waited = false;
  if (r->inflight > 0 && !ring_pending(r)) {
    int timeout = uv_backend_timeout(r->loop); /* ms; -1 = until an event; 0 = libuv won't sleep */
    if (timeout != 0) {
      if (!r->loop_poll_armed) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
        if (sqe) {
          /* One-shot: arming checks the epoll fd's readiness now, so nothing ready is missed. */
          io_uring_prep_poll_add(sqe, uv_backend_fd(r->loop), POLLIN);
          io_uring_sqe_set_data64(sqe, RING_LOOP_POLL_UD);
          r->loop_poll_armed = true;
        }
      }
      if (r->loop_poll_armed) {
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout > 0) {
          ts.tv_sec = timeout / 1000;
          ts.tv_nsec = (long long)(timeout % 1000) * 1000000LL;
          tsp = &ts;
        }
        struct io_uring_cqe *cqe;
        r->c_ring_waits++;
        /* Submits the poll (and anything prepped) and waits, in one io_uring_enter; -ETIME and
         * -EINTR are wake-ups like any other. */
        int ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, tsp, NULL);
        if (ret < 0 && ret != -ETIME && ret != -EINTR) r->c_submit_errors++;
        uv_update_time(r->loop); /* libuv's timeout must count from now, not from before the sleep */
        waited = true;
      }
    }
  }
  if (!waited && !ring_pending(r)) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(r->env, &scope) != napi_ok) return;
  drain(r);
  ring_flush(r);
  napi_close_handle_scope(r->env, scope);
  /* libuv computes its poll timeout after this: this turn it polls without sleeping (what woke us
   * may be its event; the callbacks may have started ops, whose completions only a wait in the
   * ring would see); the next turn's prepare sleeps again if need be. */
  if (!r->torn_down) uv_idle_start(&r->kick, on_kick);
}

/* ---- JS: construction ---- */

static smbts_ring *unwrap(napi_env env, napi_value thisv) {
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
  if (napi_create_arraybuffer(env, (size_t)r->cq_entries * 3 * sizeof(int32_t), &data, &ab) !=
          napi_ok ||
      napi_create_typedarray(env, napi_int32_array, (size_t)r->cq_entries * 3, ab, 0, &results) !=
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
  /* Idle rings do not keep the process alive; in-flight ops do (inflight_inc). */
  uv_unref((uv_handle_t *)&r->poll);
  uv_unref((uv_handle_t *)&r->prepare);
  uv_unref((uv_handle_t *)&r->check);
  uv_unref((uv_handle_t *)&r->idle);
  uv_unref((uv_handle_t *)&r->waiter);
  uv_unref((uv_handle_t *)&r->kick);
  if (r->waits) {
    r->keepalive = (uv_handle_t *)&r->waiter;
    uv_prepare_start(&r->waiter, on_wait_prepare);
  } else {
    r->keepalive = (uv_handle_t *)&r->poll;
    uv_poll_start(&r->poll, UV_READABLE, on_poll);
  }

  if (napi_wrap(env, a.thisv, r, ring_finalize, NULL, &r->self) != napi_ok) {
    /* Without a wrapper nobody can reach r: tear it down now. */
    r->wrapper_gone = true;
    ring_teardown(r);
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

/* ---- JS: prep methods ---- */

/* Common front of every prep: ring usable, a slot and an SQE available. */
static struct io_uring_sqe *prep_begin(napi_env env, smbts_ring *r, ring_op **opp) {
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
    ring_flush(r); /* SQ full: submit what is there, then take a fresh entry */
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (!sqe) {
    ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full and cannot be submitted");
    return NULL;
  }
  *opp = op_alloc(r);
  return sqe;
}

static void prep_end(smbts_ring *r, struct io_uring_sqe *sqe, ring_op *op, int32_t tag,
                     enum ring_kind kind) {
  op->tag = tag;
  op->kind = (uint8_t)kind;
  io_uring_sqe_set_data64(sqe, (uint64_t)(op - r->ops) + 1);
  inflight_inc(r);
  r->c_ops[kind]++;
  arm_flush(r);
}

/* An SQE taken but not used (argument error after prep_begin) must still go to the kernel
 * as something harmless, because liburing cannot give it back. */
static void prep_abort(smbts_ring *r, struct io_uring_sqe *sqe, ring_op *op) {
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
  if (op) op_release(r, op);
  arm_flush(r);
}

#define RING_METHOD_BEGIN()                                                                     \
  smbts_args a;                                                                                 \
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);                             \
  smbts_ring *r = unwrap(env, a.thisv);                                                         \
  if (!r) return NULL

/* (buf, offset, length) at argument index i. */
static bool parse_span(smbts_args *a, size_t i, uint8_t **ptr, uint32_t *len) {
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
        parse_span(&a, 2, &ptr, &len) && smbts_arg_int64(&a, 5, "position", -1, INT64_MAX, &pos) &&
        (kind != RK_READ_FIXED || smbts_arg_uint32(&a, 6, "index", &index)))) {
    return smbts_args_throw(&a);
  }
  if (kind == RK_READ_FIXED && index >= r->nbufs) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "index is not a registered-buffer slot");
    return NULL;
  }
  ring_op *op;
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  if (!hold(&a, 2, op)) {
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  if (kind == RK_READ) io_uring_prep_read(sqe, fd, ptr, len, (uint64_t)pos);
  else if (kind == RK_READ_FIXED) io_uring_prep_read_fixed(sqe, fd, ptr, len, (uint64_t)pos, (int)index);
  else io_uring_prep_write(sqe, fd, ptr, len, (uint64_t)pos);
  prep_end(r, sqe, op, tag, kind);
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
        parse_span(&a, 2, &ptr, &len) && smbts_arg_uint32(&a, 5, "flags", &flags))) {
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  if (!hold(&a, 2, op)) {
    prep_abort(r, sqe, op);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  if (kind == RK_RECV) io_uring_prep_recv(sqe, fd, ptr, len, (int)flags);
  else io_uring_prep_send(sqe, fd, ptr, len, (int)flags);
  prep_end(r, sqe, op, tag, kind);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
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
  prep_end(r, sqe, op, tag, RK_SENDMSG);
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
        smbts_arg_int32(&a, 2, "fd", &fd) && parse_span(&a, 3, &ptr, &len) &&
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
  /* Room for both SQEs now, so prep_begin cannot submit the read alone. */
  if (io_uring_sq_space_left(&r->ring) < 2) ring_flush(r);
  if (io_uring_sq_space_left(&r->ring) < 2) {
    free(m);
    return ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full and cannot be submitted");
  }
  ring_op *rop, *sop;
  struct io_uring_sqe *rsqe = prep_begin(env, r, &rop);
  if (!rsqe) {
    free(m);
    return NULL;
  }
  struct io_uring_sqe *ssqe = prep_begin(env, r, &sop);
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
  prep_end(r, rsqe, rop, rtag, fixed >= 0 ? RK_READ_FIXED : RK_READ);
  io_uring_prep_sendmsg(ssqe, sockfd, &m->msg, flags);
  prep_end(r, ssqe, sop, stag, RK_SENDMSG);
  r->c_links++;
  return NULL;
}

/* registerBuffers(slots): a sparse table of `slots` registered buffers (io_uring pins their
 * pages once, so a READ_FIXED into one skips pinning them per op). Once per ring. */
static napi_value js_ring_register_buffers(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t slots;
  if (!smbts_arg_uint32(&a, 0, "slots", &slots)) return smbts_args_throw(&a);
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (r->nbufs) return ring_throw(env, "SMBTS_ERR_RING_BUFFERS", "buffers are already registered");
  if (slots < 1 || slots > 16384) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "slots must be 1..16384");
    return NULL;
  }
  napi_ref *refs = calloc(slots, sizeof *refs);
  if (!refs) return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
  int ret = io_uring_register_buffers_sparse(&r->ring, slots);
  if (ret < 0) {
    free(refs);
    return smbts_throw_errno(env, -ret, "io_uring_register_buffers_sparse");
  }
  r->buf_refs = refs;
  r->nbufs = slots;
  return NULL;
}

/* setBuffer(index, buffer | null): registers `buffer` in slot `index` (held until replaced), or
 * empties the slot. An op already in flight on the old buffer keeps its pages (the kernel waits
 * for it) and its own reference to the Buffer. */
static napi_value js_ring_set_buffer(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t index;
  if (!smbts_arg_uint32(&a, 0, "index", &index)) return smbts_args_throw(&a);
  if (index >= r->nbufs) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "index is not a registered-buffer slot");
    return NULL;
  }
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  napi_valuetype t = napi_undefined;
  napi_typeof(env, a.argv[1], &t);
  struct iovec iov = {NULL, 0};
  if (t != napi_null && t != napi_undefined) {
    uint8_t *data;
    size_t len;
    if (!smbts_arg_bytes(&a, 1, "buffer", &data, &len)) return smbts_args_throw(&a);
    if (len == 0) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "an empty buffer cannot be registered");
      return NULL;
    }
    iov.iov_base = data;
    iov.iov_len = len;
  }
  __u64 tag = 0;
  int ret = io_uring_register_buffers_update_tag(&r->ring, index, &iov, &tag, 1);
  if (ret < 0) return smbts_throw_errno(env, -ret, "io_uring_register_buffers_update_tag");
  if (r->buf_refs[index]) napi_delete_reference(env, r->buf_refs[index]);
  r->buf_refs[index] = NULL;
  if (iov.iov_base && napi_create_reference(env, a.argv[1], 1, &r->buf_refs[index]) != napi_ok) {
    return smbts_throw_napi(env, "napi_create_reference");
  }
  return NULL;
}

static napi_value js_ring_read_fixed(napi_env env, napi_callback_info info) {
  return ring_rw(env, info, RK_READ_FIXED);
}

/* ---- provided-buffer groups and multishot recv ----
 *
 * A connection receives small frames through one multishot recv that stays armed across
 * requests (no SQE, no submit per request). Its data goes into the span its group was last given
 * (provideBuffer): one span at a time, the next given by the caller after the CQE that filled the
 * last one, so the caller decides where every byte lands (the free tail of its receive arena: no
 * copy). With no span given the multishot ends with -ENOBUFS, which the caller takes as a cue to
 * arm it again (or to receive a large frame another way). */

/* createBufGroup() -> bgid: a one-entry buffer ring registered with the kernel, empty. */
static napi_value js_ring_create_buf_group(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (r->groups_free == RING_NO_SLOT || r->groups_free >= r->ngroups) {
    uint32_t n = r->ngroups ? r->ngroups * 2 : 64;
    if (n > RING_MAX_BUF_GROUPS) n = RING_MAX_BUF_GROUPS;
    if (n <= r->ngroups) return ring_throw(env, "SMBTS_ERR_RING_FULL", "every provided-buffer group is in use");
    ring_buf_group *g = realloc(r->groups, (size_t)n * sizeof *g);
    if (!g) return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
    memset(g + r->ngroups, 0, (size_t)(n - r->ngroups) * sizeof *g);
    for (uint32_t i = r->ngroups; i < n; i++) g[i].next_free = i + 1 < n ? i + 1 : RING_NO_SLOT;
    r->groups = g;
    r->groups_free = r->ngroups;
    r->ngroups = n;
  }
  uint32_t id = r->groups_free;
  ring_buf_group *g = &r->groups[id];
  void *mem = NULL;
  long page = sysconf(_SC_PAGESIZE);
  if (posix_memalign(&mem, page > 0 ? (size_t)page : 4096, page > 0 ? (size_t)page : 4096) != 0) {
    return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
  }
  memset(mem, 0, page > 0 ? (size_t)page : 4096);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)mem;
  reg.ring_entries = 1;
  reg.bgid = (uint16_t)id;
  int ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
  if (ret < 0) {
    free(mem);
    return smbts_throw_errno(env, -ret, "io_uring_register_buf_ring");
  }
  r->groups_free = g->next_free;
  g->used = true;
  g->registered = true;
  g->br = mem;
  io_uring_buf_ring_init(g->br);
  g->ref = NULL;
  g->inflight = 0;
  g->outstanding = false;
  napi_value v;
  napi_create_uint32(env, id, &v);
  return v;
}

/* The group at argument i, or NULL with a JS exception pending. */
static ring_buf_group *group_arg(smbts_ring *r, smbts_args *a, size_t i, uint32_t *id) {
  if (!smbts_arg_uint32(a, i, "group", id)) {
    smbts_args_throw(a);
    return NULL;
  }
  if (*id >= r->ngroups || !r->groups[*id].used) {
    napi_throw_range_error(a->env, "ERR_OUT_OF_RANGE", "not a provided-buffer group of this ring");
    return NULL;
  }
  return &r->groups[*id];
}

/* provideBuffer(group, buf, offset, length): the span the group's next recv fills. Only once the
 * last span given was consumed (a CQE reported it), else SMBTS_ERR_RING_BUSY. `buf` is held. */
static napi_value js_ring_provide_buffer(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t id;
  uint8_t *ptr;
  uint32_t len;
  ring_buf_group *g = group_arg(r, &a, 0, &id);
  if (!g) return NULL;
  if (!parse_span(&a, 1, &ptr, &len)) return smbts_args_throw(&a);
  if (len == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "an empty span cannot be provided");
    return NULL;
  }
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (g->outstanding) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "the group's last span is not consumed yet");
  /* Hold the Buffer (a new reference only when it is another one than last time). */
  bool same = false;
  napi_value held;
  if (g->ref && napi_get_reference_value(env, g->ref, &held) == napi_ok && held) {
    napi_strict_equals(env, held, a.argv[1], &same);
  }
  if (!same) {
    napi_ref ref;
    if (napi_create_reference(env, a.argv[1], 1, &ref) != napi_ok) return smbts_throw_napi(env, "napi_create_reference");
    if (g->ref) napi_delete_reference(env, g->ref);
    g->ref = ref;
  }
  io_uring_buf_ring_add(g->br, ptr, len, 0, io_uring_buf_ring_mask(1), 0);
  io_uring_buf_ring_advance(g->br, 1); /* a release store: the kernel sees the entry first */
  g->outstanding = true;
  return NULL;
}

/* destroyBufGroup(group): unregisters it and drops its Buffer. Refused while a multishot recv
 * takes from it (its final CQE must be in first). */
static napi_value js_ring_destroy_buf_group(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t id;
  ring_buf_group *g = group_arg(r, &a, 0, &id);
  if (!g) return NULL;
  if (g->inflight > 0) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "a recv still takes from this group");
  if (g->registered && r->ring_ok) io_uring_unregister_buf_ring(&r->ring, (int)id);
  if (g->ref) napi_delete_reference(env, g->ref);
  free(g->br);
  memset(g, 0, sizeof *g);
  g->next_free = r->groups_free;
  r->groups_free = id;
  return NULL;
}

/* recvMultishot(tag, fd, group): one SQE receiving into the group's spans, a CQE per chunk
 * (F_MORE while it stays armed; JS sees -tag). It ends with a CQE without F_MORE: 0 at end of
 * stream, -ENOBUFS when no span was provided, -ECANCELED, an error, or data when the kernel
 * chose to stop. */
static napi_value js_ring_recv_multishot(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint32_t id;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd))) return smbts_args_throw(&a);
  ring_buf_group *g = group_arg(r, &a, 2, &id);
  if (!g) return NULL;
  ring_op *op;
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t)id;
  op->bgid = (int32_t)id;
  r->groups[id].inflight++;
  prep_end(r, sqe, op, tag, RK_RECV_MULTI);
  return NULL;
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
  prep_end(r, sqe, op, tag, RK_ACCEPT);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) {
    free(path);
    return NULL;
  }
  bool creating = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  op->path = path; /* read by the kernel at submit; freed at the CQE */
  op->how = (struct open_how){
      .flags = (uint64_t)flags | O_CLOEXEC, .mode = creating ? mode : 0, .resolve = (uint64_t)resolve};
  io_uring_prep_openat2(sqe, dirfd, op->path, &op->how);
  prep_end(r, sqe, op, tag, RK_OPENAT2);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
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
  prep_end(r, sqe, op, tag, RK_STATX);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
  prep_end(r, sqe, op, tag, RK_FSYNC);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_close(sqe, fd);
  prep_end(r, sqe, op, tag, RK_CLOSE);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) {
    free(path);
    return NULL;
  }
  op->path = path;
  if (kind == RK_MKDIRAT) io_uring_prep_mkdirat(sqe, dirfd, op->path, (mode_t)arg);
  else io_uring_prep_unlinkat(sqe, dirfd, op->path, (int)arg);
  prep_end(r, sqe, op, tag, kind);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
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
  prep_end(r, sqe, op, tag, kind);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_fallocate(sqe, fd, (int)mode, (__u64)offset, (__u64)length);
  prep_end(r, sqe, op, tag, RK_FALLOCATE);
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
        smbts_arg_path(&a, 2, "name", &name) && parse_span(&a, 3, &ptr, &len) &&
        (kind == RK_FGETXATTR || smbts_arg_uint32(&a, 6, "flags", &flags)))) {
    free(name);
    return smbts_args_throw(&a);
  }
  ring_op *op;
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
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
  prep_end(r, sqe, op, tag, kind);
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
  struct io_uring_sqe *sqe = prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_nop(sqe);
  prep_end(r, sqe, op, tag, RK_NOP);
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
      ring_flush(r);
      sqe = io_uring_get_sqe(&r->ring);
    }
    if (!sqe) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "submission queue full");
    io_uring_prep_cancel64(sqe, (uint64_t)slot + 1, 0);
    io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
    r->c_ops[RK_CANCEL]++;
    arm_flush(r);
  }
  napi_get_boolean(env, slot != RING_NO_SLOT, &result);
  return result;
}

static napi_value js_ring_submit(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int ret = ring_flush(r);
  if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) return smbts_throw_errno(env, -ret, "io_uring_enter");
  napi_value v;
  napi_create_int32(env, ret < 0 ? 0 : ret, &v);
  return v;
}

/* setBusyPoll(usec): after each wake-up, keep the loop polling without blocking for `usec` µs
 * (on_idle); 0 turns it off (the loop blocks again at once). At most one second. */
static napi_value js_ring_set_busy_poll(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t usec = 0;
  if (!smbts_arg_uint32(&a, 0, "usec", &usec)) return smbts_args_throw(&a);
  if (usec > 1000000) return ring_throw(env, "ERR_OUT_OF_RANGE", "busy poll is at most 1000000 µs");
  r->busy_ns = (uint64_t)usec * 1000;
  r->busy_credit = BUSY_CREDIT_MAX;
  uint64_t cost = r->busy_ns / BUSY_SAVED_NS;
  r->busy_miss_cost = cost < 1 ? 1 : cost > BUSY_CREDIT_MAX ? BUSY_CREDIT_MAX : (int32_t)cost;
  if (usec == 0 && r->busy && !r->torn_down) {
    uv_idle_stop(&r->idle);
    r->busy = false;
  }
  return NULL;
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
    ring_teardown(r);
    napi_get_boolean(env, true, &v);
    return v;
  }
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    ring_flush(r);
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (sqe) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, RING_INTERNAL_UD);
  }
  ring_flush(r);
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

napi_status smbts_ring_init(napi_env env, napi_value exports) {
#define M(js, fn) {js, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}
  napi_property_descriptor props[] = {
      M("nop", js_ring_nop),         M("read", js_ring_read),
      M("write", js_ring_write),     M("recv", js_ring_recv),
      M("send", js_ring_send),       M("openat2", js_ring_openat2),
      M("statx", js_ring_statx),     M("fsync", js_ring_fsync),
      M("closeFd", js_ring_close_fd), M("cancel", js_ring_cancel),
      M("submit", js_ring_submit),   M("close", js_ring_close),
      M("counters", js_ring_counters), M("setBusyPoll", js_ring_set_busy_poll),
      M("mkdirat", js_ring_mkdirat), M("unlinkat", js_ring_unlinkat),
      M("renameat2", js_ring_renameat2), M("linkat", js_ring_linkat),
      M("fallocate", js_ring_fallocate), M("fgetxattr", js_ring_fgetxattr),
      M("fsetxattr", js_ring_fsetxattr), M("sendmsg", js_ring_sendmsg),
      M("readThenSendmsg", js_ring_read_then_sendmsg), M("acceptMultishot", js_ring_accept_multishot),
      M("registerBuffers", js_ring_register_buffers), M("setBuffer", js_ring_set_buffer),
      M("readFixed", js_ring_read_fixed),
      M("createBufGroup", js_ring_create_buf_group), M("provideBuffer", js_ring_provide_buffer),
      M("destroyBufGroup", js_ring_destroy_buf_group), M("recvMultishot", js_ring_recv_multishot),
  };
#undef M
  napi_value cls, setup;
  napi_status st = napi_define_class(env, "Ring", NAPI_AUTO_LENGTH, js_ring_ctor, NULL,
                                     sizeof props / sizeof props[0], props, &cls);
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
