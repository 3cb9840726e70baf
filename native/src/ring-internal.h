/*
 * The io_uring ring's internals, shared by its files (ring.c has the map of them; ring-wait.c's
 * header comment is the design). JS sees only the Ring class.
 *
 * All of it runs on the JS thread that owns the ring (the ring is single-issuer); the one thing
 * locked is the process-wide registry of waiting rings (ring.c), which worker threads share.
 */
#ifndef SMBTS_RING_INTERNAL_H
#define SMBTS_RING_INTERNAL_H

#include "smbts.h"

#include <linux/openat2.h>
#include <liburing.h>
#include <uv.h>

/* user_data of SQEs we issue for ourselves (cancels): their CQEs are dropped. */
#define RING_INTERNAL_UD UINT64_MAX
/* user_data of the poll of libuv's epoll fd that a waiting ring keeps armed while it sleeps. */
#define RING_LOOP_POLL_UD (UINT64_MAX - 1)
#define RING_NO_SLOT UINT32_MAX
/* user_data of a spliced chain's slotless splices (ring-ops.c spliceThenSendmsg): this + the slot
 * of the chain's last op. Above every slot, so drain drops their CQEs. */
#define RING_CHAIN_UD (1ULL << 32)
enum { CHAIN_NONE = 0, CHAIN_HEAD = 1, CHAIN_LAST = 2 };

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
  X(RECV_MULTI, recvMultishot)                                                                  \
  X(SPLICE, splice)

enum ring_kind {
#define RK_ENUM(up, js) RK_##up,
  RING_KINDS(RK_ENUM)
#undef RK_ENUM
  RK__COUNT
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
  /* A spliced chain's head or last op (ring-ops.c spliceThenSendmsg; ring-wait.c drain settles
   * them when a slotless splice fails). The head: chain_peer is the last's slot, chain_len the
   * bytes it sends. The last: chain_peer is the head's slot until the head completes;
   * chain_own says the kernel will post the last's own CQE (the head failed or was short, so
   * the rest is cancelled with CQEs). Cancelling the last cancels the slotless splices too. */
  uint8_t chain_role;
  bool chain_own;
  uint32_t chain_peer;
  uint32_t chain_len;
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
  bool waits;    /* DEFER_TASKRUN: the loop sleeps in this ring (smbts_ring_on_wait_prepare) */
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
  uint64_t c_splice_chains; /* spliced READ responses prepped (spliceThenSendmsg) */
  uint64_t c_more;  /* CQEs of multishot ops that stay armed (F_MORE) */
  uint64_t c_busy_hits;    /* wake-ups that came while busy polling (no sleep before them) */
  uint64_t c_busy_misses;  /* windows that closed with nothing drained */
  uint64_t c_busy_windows; /* windows opened */
  uint64_t c_ring_waits;   /* sleeps in io_uring_enter (waiting rings) */
} smbts_ring;

static inline napi_value ring_throw(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/* ---- ring.c: op slots, teardown, the JS wrapper ---- */

/* The first op in flight refs the loop handle and the Ring object; the last one out unrefs them. */
void smbts_ring_inflight_inc(smbts_ring *r);
void smbts_ring_inflight_dec(smbts_ring *r);
/* A free slot (NULL when every one is in flight), and its release once the op's last CQE is in:
 * drops the Buffer reference and frees the names and memory the kernel read. */
ring_op *smbts_ring_op_alloc(smbts_ring *r);
void smbts_ring_op_release(smbts_ring *r, ring_op *op);
/* Closes the loop handles, cancels and waits for what is in flight, exits the ring and drops
 * every reference it held. Once; r is freed when the handles are closed and the wrapper gone. */
void smbts_ring_teardown(smbts_ring *r);
/* The ring behind `this`, or NULL with a JS exception pending. */
smbts_ring *smbts_ring_unwrap(napi_env env, napi_value thisv);

/* ---- ring-wait.c: flush points, completions, waiting ---- */

/* Submit at the next flush point (the loop's prepare or check phase) / no longer. */
void smbts_ring_arm_flush(smbts_ring *r);
void smbts_ring_disarm_flush(smbts_ring *r);
/* One io_uring_submit for everything prepped so far: its result (0 when nothing was pending). */
int smbts_ring_flush(smbts_ring *r);
/* The loop callbacks the constructor starts: a plain ring's poll of its fd; a waiting ring's
 * prepare, which sleeps in the ring where libuv would in epoll. */
void smbts_ring_on_poll(uv_poll_t *h, int status, int events);
void smbts_ring_on_wait_prepare(uv_prepare_t *h);

/* ---- ring-busy.c ---- */

/* A wake-up that delivered completions: opens a busy-poll window, or counts a hit in one. */
void smbts_ring_busy_wake(smbts_ring *r);

/* ---- ring-ops.c: the front and back of every op preparation ---- */

/* Ring usable, a slot and an SQE available (the SQ is flushed when full): the SQE and *opp, or
 * NULL with a JS exception pending. */
struct io_uring_sqe *smbts_ring_prep_begin(napi_env env, smbts_ring *r, ring_op **opp);
/* Tags the SQE with the slot, counts the op in flight, arms the flush. */
void smbts_ring_prep_end(smbts_ring *r, struct io_uring_sqe *sqe, ring_op *op, int32_t tag,
                         enum ring_kind kind);
/* (buf, offset, length) at argument index i: a pointer into buf and a length that fits it. */
bool smbts_ring_parse_span(smbts_args *a, size_t i, uint8_t **ptr, uint32_t *len);

#define RING_METHOD_BEGIN()                                                                     \
  smbts_args a;                                                                                 \
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);                             \
  smbts_ring *r = smbts_ring_unwrap(env, a.thisv);                                              \
  if (!r) return NULL

/* ---- the Ring class's methods: a table per file, ring.c defines the class with them all ---- */

#define RING_METHOD(js, fn) {js, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}
extern const napi_property_descriptor smbts_ring_op_methods[];
extern const size_t smbts_ring_op_method_count;
extern const napi_property_descriptor smbts_ring_buf_methods[];
extern const size_t smbts_ring_buf_method_count;
extern const napi_property_descriptor smbts_ring_busy_methods[];
extern const size_t smbts_ring_busy_method_count;

#endif
