/*
 * inotify(7) for CHANGE_NOTIFY (src/vfs/watch.ts), and fanotify(7) for the changes other programs
 * make to files clients cache (src/vfs/local-changes.ts): one non-blocking instance per watcher,
 * its fd polled by a uv_poll on the JS thread's loop (no thread, no threadsafe function). When it
 * is readable, every queued event is read and handed to the JS callback as raw bytes, which
 * TypeScript decodes (src/vfs/inotify-events.ts, src/vfs/local-changes.ts; so the decoding is in
 * the fuzz suite, and C only moves bytes).
 *
 *   inotifyOpen(onEvents) -> handle      onEvents(buf: Buffer) per batch read: struct inotify_event records
 *   inotifyAdd(handle, path, mask) -> wd inotify_add_watch(2); throws the errno Error
 *   inotifyRemove(handle, wd)            inotify_rm_watch(2); a wd already gone is fine
 *   inotifyRead(handle) -> Buffer|null   one read now, for a caller that must see what is queued
 *   inotifyClose(handle)                 stops the poll, closes the fd; later calls throw EBADF
 *
 *   fanotifyOpen(onEvents) -> handle     fanotify_init(2), FAN_CLASS_NOTIF (needs CAP_SYS_ADMIN)
 *   fanotifyMark(handle, fd, mask, add)  fanotify_mark(2) of the file open as `fd` (an inode mark)
 *   fanotifyClose(handle)                as inotifyClose
 * A fanotify event carries an open descriptor of the file; C turns each into a fixed record and
 * closes it: u64 st_dev, u64 st_ino, u64 mask, u32 pid (the changer's process), u32 0 — st_dev
 * and st_ino 0 for an event without a file (FAN_Q_OVERFLOW).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "smbts.h"

/* One read takes at most this much: ~1,000 events with short names. */
#define INOTIFY_READ_BYTES 65536
/* A fanotify record handed to JS (above), and the most one read can make of them. */
#define FAN_RECORD_BYTES 32
#define FAN_RECORDS_MAX (INOTIFY_READ_BYTES / sizeof(struct fanotify_event_metadata) + 1)

typedef struct smbts_inotify {
  napi_env env;
  uv_poll_t poll;
  int fd;
  bool closed;     /* shut(): fd closed, poll closing */
  bool poll_done;  /* the poll's close callback ran */
  bool finalized;  /* the JS handle was collected */
  bool fanotify;   /* a fanotify instance: each read is turned into fixed records */
  napi_ref callback;
  uint8_t buf[INOTIFY_READ_BYTES];
  uint8_t out[]; /* fanotify only: FAN_RECORDS_MAX records */
} smbts_inotify;

/* fanotify: the events in w->buf[0, n) as records in w->out (each event's descriptor closed). */
static size_t fan_records(smbts_inotify *w, size_t n) {
  size_t len = n, used = 0;
  struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)w->buf;
  for (; FAN_EVENT_OK(m, len) && used + FAN_RECORD_BYTES <= FAN_RECORDS_MAX * FAN_RECORD_BYTES; m = FAN_EVENT_NEXT(m, len)) {
    if (m->vers != FANOTIFY_METADATA_VERSION) {
      if (m->fd >= 0) close(m->fd);
      continue;
    }
    uint64_t dev = 0, ino = 0, mask = m->mask;
    uint32_t pid = (uint32_t)m->pid, zero = 0;
    if (m->fd >= 0) {
      struct stat st;
      if (fstat(m->fd, &st) == 0) {
        dev = (uint64_t)st.st_dev;
        ino = (uint64_t)st.st_ino;
      }
      close(m->fd);
    }
    uint8_t *r = w->out + used;
    memcpy(r, &dev, 8);
    memcpy(r + 8, &ino, 8);
    memcpy(r + 16, &mask, 8);
    memcpy(r + 24, &pid, 4);
    memcpy(r + 28, &zero, 4);
    used += FAN_RECORD_BYTES;
  }
  return used;
}

/* The struct lives until both the poll is closed and the JS handle is collected. */
static void on_poll_closed(uv_handle_t *h) {
  smbts_inotify *w = h->data;
  w->poll_done = true;
  if (w->finalized) free(w);
}

static void shut(smbts_inotify *w) {
  if (w->closed) return;
  w->closed = true;
  uv_poll_stop(&w->poll);
  close(w->fd);
  w->fd = -1;
  if (w->callback) napi_delete_reference(w->env, w->callback);
  w->callback = NULL;
  uv_close((uv_handle_t *)&w->poll, on_poll_closed);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  smbts_inotify *w = p->data;
  if (w->closed) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  for (;;) {
    ssize_t n = read(w->fd, w->buf, sizeof w->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* EAGAIN: drained */
    const uint8_t *bytes = w->buf;
    size_t len = (size_t)n;
    if (w->fanotify) {
      len = fan_records(w, len);
      bytes = w->out;
      if (len == 0) continue;
    }
    napi_value cb, global, arg, ret;
    void *data;
    if (napi_get_reference_value(env, w->callback, &cb) != napi_ok || cb == NULL) break;
    if (napi_create_buffer_copy(env, len, bytes, &data, &arg) != napi_ok) break;
    napi_get_global(env, &global);
    /* An exception in the callback goes to the process's uncaughtException, as any event's. */
    if (napi_make_callback(env, NULL, global, cb, 1, &arg, &ret) != napi_ok) break;
    if (w->closed) break; /* the callback closed it */
  }
  napi_close_handle_scope(env, scope);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  /* The JS handle is gone: close what is still open; free once the poll is closed too. */
  smbts_inotify *w = data;
  w->finalized = true;
  if (!w->closed) shut(w);
  else if (w->poll_done) free(w);
}

static smbts_inotify *handle_arg(smbts_args *a, size_t i) {
  void *data = NULL;
  napi_valuetype t;
  if (i >= a->argc || napi_typeof(a->env, a->argv[i], &t) != napi_ok || t != napi_external ||
      napi_get_value_external(a->env, a->argv[i], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(a->env, "ERR_INVALID_ARG_TYPE", "not an inotify or fanotify handle");
    return NULL;
  }
  return data;
}

static napi_value open_watcher(napi_env env, napi_callback_info info, bool fan) {
  smbts_args a;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  napi_valuetype t;
  if (a.argc < 1 || napi_typeof(env, a.argv[0], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onEvents must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return smbts_throw_napi(env, "napi_get_uv_event_loop");
  const char *what = fan ? "fanotify_init" : "inotify_init1";
  smbts_inotify *w = calloc(1, sizeof *w + (fan ? FAN_RECORDS_MAX * FAN_RECORD_BYTES : 0));
  if (!w) return smbts_throw_errno(env, ENOMEM, what);
  w->env = env;
  w->fanotify = fan;
  w->fd = fan ? fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC)
              : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0) {
    int err = errno;
    free(w);
    return smbts_throw_errno(env, err, what);
  }
  if (uv_poll_init(loop, &w->poll, w->fd) != 0) {
    close(w->fd);
    free(w);
    return smbts_throw_errno(env, EINVAL, "uv_poll_init");
  }
  w->poll.data = w;
  napi_value handle;
  if (napi_create_reference(env, a.argv[0], 1, &w->callback) != napi_ok) {
    w->finalized = true; /* no JS handle will ever be collected: the poll's close frees it */
    shut(w);
    return smbts_throw_napi(env, "napi_create_reference");
  }
  if (napi_create_external(env, w, handle_finalize, NULL, &handle) != napi_ok) {
    w->finalized = true;
    shut(w);
    return smbts_throw_napi(env, "napi_create_external");
  }
  uv_poll_start(&w->poll, UV_READABLE, on_readable);
  /* A watcher that only waits for the file system does not keep the process alive. */
  uv_unref((uv_handle_t *)&w->poll);
  return handle;
}

static napi_value js_inotifyOpen(napi_env env, napi_callback_info info) { return open_watcher(env, info, false); }
static napi_value js_fanotifyOpen(napi_env env, napi_callback_info info) { return open_watcher(env, info, true); }

/* fanotifyMark(handle, fd, mask, add): an inode mark on the file open as `fd`, added to or
 * removed from. Removing a mark that is not there (ENOENT) is fine. */
static napi_value js_fanotifyMark(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd;
  uint32_t mask;
  bool add;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  smbts_inotify *w = handle_arg(&a, 0);
  if (!w) return NULL;
  if (!smbts_arg_int32(&a, 1, "fd", &fd) || !smbts_arg_uint32(&a, 2, "mask", &mask)) return smbts_args_throw(&a);
  if (a.argc < 4 || napi_get_value_bool(env, a.argv[3], &add) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "add must be a boolean");
    return NULL;
  }
  if (w->closed || !w->fanotify) return smbts_throw_errno(env, EBADF, "fanotify_mark");
  if (fanotify_mark(w->fd, add ? FAN_MARK_ADD : FAN_MARK_REMOVE, mask, fd, NULL) < 0 && !(errno == ENOENT && !add))
    return smbts_throw_errno(env, errno, "fanotify_mark");
  return NULL;
}

static napi_value js_inotifyAdd(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *path = NULL;
  uint32_t mask;
  napi_value ret = NULL;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  smbts_inotify *w = handle_arg(&a, 0);
  if (!w) return NULL;
  if (!smbts_arg_path(&a, 1, "path", &path) || !smbts_arg_uint32(&a, 2, "mask", &mask)) {
    ret = smbts_args_throw(&a);
    goto out;
  }
  if (w->closed) {
    ret = smbts_throw_errno(env, EBADF, "inotify_add_watch");
    goto out;
  }
  int wd = inotify_add_watch(w->fd, path, mask);
  if (wd < 0) {
    ret = smbts_throw_errno(env, errno, "inotify_add_watch");
    goto out;
  }
  napi_create_int32(env, wd, &ret);
out:
  free(path);
  return ret;
}

static napi_value js_inotifyRemove(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t wd;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  smbts_inotify *w = handle_arg(&a, 0);
  if (!w) return NULL;
  if (!smbts_arg_int32(&a, 1, "wd", &wd)) return smbts_args_throw(&a);
  if (w->closed) return smbts_throw_errno(env, EBADF, "inotify_rm_watch");
  /* EINVAL: the kernel already dropped it (its directory was deleted): nothing to do. */
  if (inotify_rm_watch(w->fd, wd) < 0 && errno != EINVAL) return smbts_throw_errno(env, errno, "inotify_rm_watch");
  return NULL;
}

/* inotifyRead(handle) -> Buffer | null: what one read gives now (null: nothing queued). For a
 * caller that must see every change made before it acts (CHANGE_NOTIFY drains first). */
static napi_value js_inotifyRead(napi_env env, napi_callback_info info) {
  smbts_args a;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  smbts_inotify *w = handle_arg(&a, 0);
  if (!w) return NULL;
  napi_value ret;
  napi_get_null(env, &ret);
  if (w->closed) return ret;
  ssize_t n;
  do n = read(w->fd, w->buf, sizeof w->buf); while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) return smbts_throw_errno(env, errno, "read");
  if (n <= 0) return ret;
  void *data;
  if (napi_create_buffer_copy(env, (size_t)n, w->buf, &data, &ret) != napi_ok) return smbts_throw_napi(env, "napi_create_buffer_copy");
  return ret;
}

static napi_value js_inotifyClose(napi_env env, napi_callback_info info) {
  smbts_args a;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  smbts_inotify *w = handle_arg(&a, 0);
  if (!w) return NULL;
  shut(w);
  return NULL;
}

napi_status smbts_inotify_init(napi_env env, napi_value exports) {
#define FN(js) {#js, NULL, js_##js, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor d[] = {FN(inotifyOpen), FN(inotifyAdd), FN(inotifyRemove), FN(inotifyRead), FN(inotifyClose),
                                  FN(fanotifyOpen), FN(fanotifyMark),
                                  {"fanotifyClose", NULL, js_inotifyClose, NULL, NULL, NULL, napi_enumerable, NULL}};
#undef FN
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
