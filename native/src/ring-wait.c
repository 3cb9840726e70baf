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
 *
 * This file: the flush points (submission), the drain and delivery of completions, and the two
 * ways the loop is woken (smbts_ring_on_poll; smbts_ring_on_wait_prepare and the kick after it).
 * ring.c has the map of the ring's other files.
 */
#include "ring-internal.h"

#include <errno.h>
#include <poll.h>

/* ---- flushing ---- */

static void on_prepare(uv_prepare_t *h);
static void on_check(uv_check_t *h);

void smbts_ring_arm_flush(smbts_ring *r) {
  if (r->flush_armed || r->torn_down) return;
  r->flush_armed = true;
  uv_prepare_start(&r->prepare, on_prepare);
  uv_check_start(&r->check, on_check);
}

void smbts_ring_disarm_flush(smbts_ring *r) {
  if (!r->flush_armed) return;
  r->flush_armed = false;
  uv_prepare_stop(&r->prepare);
  uv_check_stop(&r->check);
}

/* One io_uring_submit for everything prepped so far. */
int smbts_ring_flush(smbts_ring *r) {
  if (!r->ring_ok) return 0;
  if (io_uring_sq_ready(&r->ring) == 0) {
    smbts_ring_disarm_flush(r);
    return 0;
  }
  int ret = io_uring_submit(&r->ring);
  if (ret >= 0) {
    r->c_submits++;
    r->c_sqes += (uint64_t)ret;
  } else {
    r->c_submit_errors++; /* EBUSY/EAGAIN: retried at the next flush point */
  }
  if (io_uring_sq_ready(&r->ring) == 0) smbts_ring_disarm_flush(r);
  return ret;
}

static void on_prepare(uv_prepare_t *h) { smbts_ring_flush(h->data); }
static void on_check(uv_check_t *h) { smbts_ring_flush(h->data); }

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
  smbts_ring_teardown(r);
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

/* Puts one completion for JS at results[k]. */
static inline void put_result(smbts_ring *r, uint32_t k, int32_t tag, int32_t res, int32_t buf) {
  r->results[3 * k] = tag;
  r->results[3 * k + 1] = res;
  r->results[3 * k + 2] = buf;
}

/* The CQE of a spliced chain's slotless splice (RING_CHAIN_UD + the last op's slot): one that
 * posts nothing when whole (IOSQE_CQE_SKIP_SUCCESS) failed or came back short. The kernel then
 * cancels the rest of the chain without CQEs (a failing skip-success request sets
 * REQ_F_SKIP_LINK_CQES: io_uring/io_uring.h req_set_fail, io_fail_links), so the ops still
 * waiting for theirs are settled here: the head, when it had not completed (a staging splice
 * failed: nothing was sent), with -ECANCELED, and the last with the failure. When the head had
 * failed instead, the rest is cancelled with CQEs, the last's own included: nothing to do.
 * Returns the new count of results. */
static uint32_t chain_failed(smbts_ring *r, uint64_t ud, int32_t res, uint32_t k) {
  ring_op *last = &r->ops[ud - RING_CHAIN_UD];
  if (!last->used || last->chain_role != CHAIN_LAST || last->chain_own) return k;
  r->c_errors++;
  if (last->chain_peer != RING_NO_SLOT) {
    ring_op *head = &r->ops[last->chain_peer];
    put_result(r, k++, head->tag, -ECANCELED, -1);
    smbts_ring_op_release(r, head);
    smbts_ring_inflight_dec(r);
  }
  put_result(r, k++, last->tag, res < 0 ? res : -ECANCELED, -1);
  smbts_ring_op_release(r, last);
  smbts_ring_inflight_dec(r);
  return k;
}

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
      if (ud >= RING_CHAIN_UD && ud < RING_CHAIN_UD + r->cq_entries) {
        k = chain_failed(r, ud, res, k);
        continue;
      }
      if (ud == RING_INTERNAL_UD || ud == 0 || ud > r->cq_entries) continue;
      ring_op *op = &r->ops[ud - 1];
      if (!op->used) continue;
      if (op->chain_role == CHAIN_HEAD) {
        /* The last op completes after the head: it is still ours. A head that failed or was
         * short cancels the rest of the chain with CQEs. */
        ring_op *last = &r->ops[op->chain_peer];
        last->chain_peer = RING_NO_SLOT;
        if (res != (int32_t)op->chain_len) last->chain_own = true;
      }
      /* A multishot op's CQE with F_MORE: more will come, the slot stays; JS sees -tag. */
      unsigned flags = r->cqes[i]->flags;
      bool more = (flags & IORING_CQE_F_MORE) != 0;
      /* With the provided buffer this CQE consumed (its data, if res > 0, is in it), or -1. */
      put_result(r, k, more ? -op->tag : op->tag, res,
                 (flags & IORING_CQE_F_BUFFER) ? (int32_t)(flags >> IORING_CQE_BUFFER_SHIFT) : -1);
      if ((flags & IORING_CQE_F_BUFFER) && op->bgid >= 0) r->groups[op->bgid].outstanding = false;
      k++;
      if (res < 0) r->c_errors++;
      if (more) {
        r->c_more++;
        continue;
      }
      smbts_ring_op_release(r, op);
      smbts_ring_inflight_dec(r);
    }
    io_uring_cq_advance(&r->ring, n);
    r->c_cqes += n;
    if (k && r->waits && !woke) {
      /* A waiting ring's wake-up, as smbts_ring_on_poll counts one for a polled ring. */
      woke = true;
      r->c_wakeups++;
      if (r->busy_ns > 0) smbts_ring_busy_wake(r);
    }
    if (k) deliver(r, k, false); /* may prep more, submit, or close */
  }
  if (r->closing && r->inflight == 0 && !r->torn_down) deliver_closed(r);
}

void smbts_ring_on_poll(uv_poll_t *h, int status, int events) {
  smbts_ring *r = h->data;
  if (r->torn_down) return;
  r->c_wakeups++;
  if (r->busy_ns > 0) smbts_ring_busy_wake(r);
  napi_handle_scope scope;
  if (napi_open_handle_scope(r->env, &scope) != napi_ok) return;
  drain(r);
  smbts_ring_flush(r); /* whatever the callbacks prepped goes out in one submit */
  napi_close_handle_scope(r->env, scope);
}

static void on_kick(uv_idle_t *h) { uv_idle_stop(h); }

/* A waiting ring (DEFER_TASKRUN), once per loop turn just before libuv polls for I/O: take what
 * completed; then, if libuv is about to sleep and ops of ours are in flight, sleep here instead,
 * in io_uring_enter(GETEVENTS) (the one wait the kernel wakes for deferred work), for as long as
 * libuv would have, with its epoll fd polled on the ring so any other event ends the wait. */
void smbts_ring_on_wait_prepare(uv_prepare_t *h) {
  smbts_ring *r = h->data;
  if (r->torn_down || !r->ring_ok) return;
  smbts_ring_flush(r);
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
  if (!waited && !ring_pending(r)) {
    /* libuv said it would not sleep (an idle handle, a pending callback, a closing handle, a
     * child to reap), so neither did this ring. But libuv computes its own poll timeout only
     * after every prepare callback, and what made it 0 here may be gone by then: measured, after
     * a SIGCHLD the loop then slept in epoll until its next timer (1-20 s) while a connection's
     * accept sat in the ring's deferred work. With ops in flight, the kick makes this turn poll
     * without sleeping, and the next prepare decides again. */
    if (r->inflight > 0 && !r->torn_down) uv_idle_start(&r->kick, on_kick);
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(r->env, &scope) != napi_ok) return;
  drain(r);
  smbts_ring_flush(r);
  napi_close_handle_scope(r->env, scope);
  /* libuv computes its poll timeout after this: this turn it polls without sleeping (what woke us
   * may be its event; the callbacks may have started ops, whose completions only a wait in the
   * ring would see); the next turn's prepare sleeps again if need be. */
  if (!r->torn_down) uv_idle_start(&r->kick, on_kick);
}
