/*
 * smbts native addon: shared declarations.
 *
 * Where each call runs:
 *
 * - On the libuv threadpool: the file operations of fsops.c (openat2, statx, statxBatch,
 *   getdents, pread, pwrite, fsync, the xattr calls, ...). Each is a napi_async_work: the call
 *   returns a Promise at once and the syscall runs on a threadpool thread; the Promise settles on
 *   the JS thread. A failed syscall rejects with an Error carrying .code (errno name), .errno
 *   (positive errno) and .syscall (smbts_errno_error).
 *   gssAccept (gss.c) too: the Kerberos acceptor reads the keytab and writes the replay cache
 *   there; it always resolves, with the GSS status.
 *
 * - On the JS thread, synchronously, holding it for as long as their syscalls take:
 *   - the *Now calls of fsnow.c (openat2Now, statxXattrNow, openStatNow, closeNow, fcntlSetflNow,
 *     pwriteNow, fsTypeNow, sleepsNow): they return the result or -errno and throw only for bad
 *     arguments;
 *   - the socket calls of sock.c: listenTcp, peerName, setNoDelay, sendNow (MSG_DONTWAIT), and
 *     wakeProbe, which also starts a detached thread of its own (plain C, no N-API);
 *   - aeadNow (aead.c), counters (addon.c), gssGetMic/gssVerifyMic/gssRelease (gss.c); mountFs
 *     and umount2 (mount.c);
 *   - the shared record store (shmstore.c): storeLock and the calls that wait for a record's lock
 *     block this thread until it is free (at most the handle's lock timeout);
 *   - the Ring (ring*.c): its methods fill SQEs and return; its submits (io_uring_enter), its
 *     completion callbacks and, for a DEFER_TASKRUN ring, the loop's sleep itself all happen on
 *     the JS thread (ring-wait.c says how).
 *   A failed syscall there throws the same Error (smbts_throw_errno), where it throws at all.
 *
 * No N-API call is made off the JS thread.
 */
#ifndef SMBTS_H
#define SMBTS_H

#include <errno.h>
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* One entry per JS-visible operation; the order is the order of smbts_op_names[]. */
#define SMBTS_OPS(X)                                                                            \
  X(OPENAT2, openat2)                                                                           \
  X(MKDIRAT, mkdirat)                                                                           \
  X(UNLINKAT, unlinkat)                                                                         \
  X(RENAMEAT2, renameat2)                                                                       \
  X(LINKAT, linkat)                                                                             \
  X(SYMLINKAT, symlinkat)                                                                       \
  X(READLINKAT, readlinkat)                                                                     \
  X(MKNODAT, mknodat)                                                                           \
  X(STATX, statx)                                                                               \
  X(STATX_XATTR, statxXattr)                                                                    \
  X(STATX_BATCH, statxBatch)                                                                    \
  X(GETDENTS, getdents)                                                                         \
  X(FSYNC, fsync)                                                                               \
  X(FDATASYNC, fdatasync)                                                                       \
  X(FALLOCATE, fallocate)                                                                       \
  X(COPY_FILE_RANGE, copyFileRange)                                                             \
  X(CLONE_RANGE, cloneRange)                                                                    \
  X(FTRUNCATE, ftruncate)                                                                       \
  X(FUTIMENS, futimens)                                                                         \
  X(FCHMOD, fchmod)                                                                             \
  X(FCHOWN, fchown)                                                                             \
  X(FGETXATTR, fgetxattr)                                                                       \
  X(FSETXATTR, fsetxattr)                                                                       \
  X(FLISTXATTR, flistxattr)                                                                     \
  X(FREMOVEXATTR, fremovexattr)                                                                 \
  X(CLOSE, close)                                                                               \
  X(PREAD, pread)                                                                               \
  X(PWRITE, pwrite)                                                                             \
  X(ALLOCATED_RANGES, allocatedRanges)

enum smbts_op {
#define SMBTS_OP_ENUM(up, js) SMBTS_OP_##up,
  SMBTS_OPS(SMBTS_OP_ENUM)
#undef SMBTS_OP_ENUM
  SMBTS_OP__COUNT
};

extern const char *const smbts_op_names[SMBTS_OP__COUNT];

/* Per-environment state (one per main thread / worker_thread that loads the addon). Touched only
 * on that environment's JS thread, so plain integers suffice. */
typedef struct smbts_instance {
  uint64_t started[SMBTS_OP__COUNT];
  uint64_t failed[SMBTS_OP__COUNT];
  uint64_t inflight;
} smbts_instance;

smbts_instance *smbts_instance_get(napi_env env);

/* ---- argument parsing (args.c) ----
 * Each getter returns false on a bad argument after recording the first problem in the
 * smbts_args; callers chain them with && and then call smbts_args_reject(), which returns a
 * Promise rejected with a TypeError/RangeError (code ERR_INVALID_ARG_TYPE / _VALUE). */
#define SMBTS_MAX_ARGS 12

typedef struct smbts_args {
  napi_env env;
  size_t argc;
  napi_value argv[SMBTS_MAX_ARGS];
  napi_value thisv;
  const char *err_code; /* NULL while all is well */
  bool err_range;
  char err_msg[192];
} smbts_args;

bool smbts_args_init(napi_env env, napi_callback_info info, smbts_args *a);
napi_value smbts_args_reject(smbts_args *a);
/* The same error, thrown synchronously (for calls that do not return a Promise). */
napi_value smbts_args_throw(smbts_args *a);

bool smbts_arg_int32(smbts_args *a, size_t i, const char *name, int32_t *out);
bool smbts_arg_uint32(smbts_args *a, size_t i, const char *name, uint32_t *out);
/* number (safe integer) or bigint; min/max inclusive. */
bool smbts_arg_int64(smbts_args *a, size_t i, const char *name, int64_t min, int64_t max,
                     int64_t *out);
/* Like smbts_arg_int64 but null/undefined give *present = false. */
bool smbts_arg_opt_int64(smbts_args *a, size_t i, const char *name, int64_t min, int64_t max,
                         int64_t *out, bool *present);
/* Nanoseconds since the epoch as a timespec: number (safe integer) or bigint of up to 127 bits;
 * null/undefined give *present = false. */
bool smbts_arg_opt_ns(smbts_args *a, size_t i, const char *name, struct timespec *out,
                      bool *present);
/* string (UTF-8) or Buffer/Uint8Array; malloc'd, NUL-terminated copy. Embedded NUL is refused. */
bool smbts_arg_path(smbts_args *a, size_t i, const char *name, char **out);
/* Buffer/Uint8Array: data pointer, byte length and the value itself (to reference). */
bool smbts_arg_bytes(smbts_args *a, size_t i, const char *name, uint8_t **data, size_t *len);

/* ---- errors (args.c) ---- */
/* An Error for a failed syscall: .code (errno name), .errno (positive), .syscall, and the message
 * "ENOENT: no such file or directory, openat2" (the shape of Node's own fs errors). NULL when it
 * cannot be built. */
napi_value smbts_errno_error(napi_env env, int err, const char *syscall);
/* Throws smbts_errno_error(env, err, syscall) (synchronous calls); returns NULL for convenience. */
napi_value smbts_throw_errno(napi_env env, int err, const char *syscall);
/* Throws a plain Error for an N-API failure; returns NULL for convenience. */
napi_value smbts_throw_napi(napi_env env, const char *what);

#define SMBTS_NAPI(env, call)                                                                   \
  do {                                                                                          \
    if ((call) != napi_ok) return smbts_throw_napi((env), #call);                                \
  } while (0)

/* ---- async work (args.c) ---- */
typedef struct smbts_work smbts_work;
typedef void (*smbts_exec_fn)(smbts_work *w);
typedef napi_value (*smbts_done_fn)(napi_env env, smbts_work *w);

struct smbts_work {
  napi_async_work work;
  napi_deferred deferred;
  enum smbts_op op;
  smbts_exec_fn exec; /* runs on a threadpool thread: no N-API calls */
  smbts_done_fn done; /* on success, on the JS thread; NULL resolves with undefined */
  const char *syscall;
  int err;     /* errno of the failed syscall, 0 on success */
  int64_t ret; /* syscall return value */

  int fd, fd2;
  uint64_t flags, mode, resolve;
  int64_t off, len;
  int64_t off2; /* copyFileRange: the offset in fd2 */
  uint32_t uid, gid;
  char *path, *path2;

  napi_ref ref; /* keeps a caller's Buffer alive until completion */
  uint8_t *buf;
  size_t buflen;

  void *out; /* malloc'd result bytes, freed after done() */
  size_t outlen;
  size_t outcount;
  size_t maxcount;
  bool truncated;

  struct timespec ts[2];
  struct statx stx;
  int xerr; /* statxXattr: errno of the xattr read (path2 names it), 0 when it succeeded */
};

/* calloc'd work; the caller fills it and passes it to smbts_work_queue. */
smbts_work *smbts_work_new(enum smbts_op op, const char *syscall, smbts_exec_fn exec,
                           smbts_done_fn done);
/* Queues w and returns its Promise. On failure frees w and returns NULL with an exception set. */
napi_value smbts_work_queue(napi_env env, smbts_work *w);
/* Frees w without queueing it (used when argument parsing fails after allocation). */
void smbts_work_free(napi_env env, smbts_work *w);

/* ---- file-system helpers (fsops.c), shared with the synchronous calls (fsnow.c) ---- */

/* Retry a syscall-shaped expression interrupted by a signal. */
#define SMBTS_RETRY(expr)                                                                       \
  ({                                                                                            \
    long smbts_r_;                                                                              \
    do {                                                                                        \
      smbts_r_ = (long)(expr);                                                                  \
    } while (smbts_r_ < 0 && errno == EINTR);                                                   \
    smbts_r_;                                                                                   \
  })

/* The xattr value statxXattr reads at most; a larger value reads as ERANGE (our records are tiny,
 * anything bigger under our name is not ours). */
#define SMBTS_STATX_XATTR_MAX 256

/* One statxBatch record (statxBatch, statxXattrNow, openStatNow): int32 statx result (0 or
 * -errno), int32 xattr result (the value's length, or -errno; -ENODATA when no xattr was asked
 * for), the struct statx (256 bytes), the xattr value (up to SMBTS_STATX_XATTR_MAX bytes). */
#define SMBTS_BATCH_REC (8 + sizeof(struct statx) + SMBTS_STATX_XATTR_MAX)

/* Writes the record of `name` in dirfd (statx with `flags` and `mask`, then, when xname is not
 * NULL and statx succeeded, the xattr xname) at `rec`; returns the statx result. opath: dirfd is
 * an O_PATH fd (its own xattr is read through /proc/self/fd). No N-API: any thread. */
int32_t smbts_stat_record(int dirfd, const char *name, int flags, unsigned int mask,
                          const char *xname, uint8_t *rec, bool opath);

/* ---- module parts ---- */
napi_status smbts_fsops_init(napi_env env, napi_value exports);
napi_status smbts_fsnow_init(napi_env env, napi_value exports);
napi_status smbts_constants_init(napi_env env, napi_value exports);
napi_status smbts_ring_init(napi_env env, napi_value exports);
napi_status smbts_sock_init(napi_env env, napi_value exports);
napi_status smbts_mount_init(napi_env env, napi_value exports);
napi_status smbts_inotify_init(napi_env env, napi_value exports);
napi_status smbts_privs_init(napi_env env, napi_value exports);
napi_status smbts_aead_init(napi_env env, napi_value exports);
napi_status smbts_shmstore_init(napi_env env, napi_value exports);
napi_status smbts_gss_init(napi_env env, napi_value exports);

/* ---- sockets (tcpinfo.c) ---- */
/* TCP_INFO tcpi_bytes_acked of a connected socket; 0, or -errno. */
int smbts_tcp_bytes_acked(int fd, uint64_t *out);

#endif
