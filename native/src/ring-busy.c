/*
 * Busy polling (setBusyPoll). A thread that sleeps in epoll and is woken for the next request
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
 * empty; sparse traffic opens about one window in (cost + 1) wake-ups.
 *
 * The ring's other files: ring.c has the map; ring-wait.c's header comment is the design.
 */
#include "ring-internal.h"

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

void smbts_ring_busy_wake(smbts_ring *r) {
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

/* ---- registration (ring.c defines the class) ---- */

const napi_property_descriptor smbts_ring_busy_methods[] = {
    RING_METHOD("setBusyPoll", js_ring_set_busy_poll),
};
const size_t smbts_ring_busy_method_count =
    sizeof smbts_ring_busy_methods / sizeof smbts_ring_busy_methods[0];
