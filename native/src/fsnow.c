/*
 * The synchronous calls: each runs its syscalls on the calling thread, the JS thread, and returns
 * their result; nothing here goes to the threadpool (fsops.c has the Promise-returning calls).
 *
 * For metadata a local file system answers from memory (the VFS decides when: src/vfs/inline.ts):
 * no threadpool or io-wq hop, no wake-up to wait for. Each returns its result, or -errno; none
 * throws for an errno (a name that does not exist is an everyday answer to a CREATE, and an Error
 * per call costs more than the call). Bad arguments throw, as for the synchronous socket calls.
 *
 * A call here holds the JS thread for as long as its syscalls take, so the VFS makes them only
 * where the share's file system answers from memory (src/vfs/inline.ts), and sleepsNow lets it see
 * when one waited anyway. openat2Now and openStatNow add O_NONBLOCK so that a FIFO or a leased
 * file answers at once instead of blocking the thread.
 */
#include "smbts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static napi_value ret_number(napi_env env, long r) {
  napi_value v;
  SMBTS_NAPI(env, napi_create_int64(env, r < 0 ? -(int64_t)(errno ? errno : EIO) : (int64_t)r, &v));
  return v;
}

/* openat2Now(dirfd, path, flags, mode, resolve) -> fd or -errno (O_CLOEXEC added, as openat2;
 * -EAGAIN where the open would wait: RESOLVE_CACHED could not answer from memory, or a lease). */
static napi_value js_openat2Now(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t dirfd = -1;
  char *path = NULL;
  uint32_t flags = 0, mode = 0;
  int64_t resolve = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "dirfd", &dirfd) ||
      !smbts_arg_path(&a, 1, "path", &path) || !smbts_arg_uint32(&a, 2, "flags", &flags) ||
      !smbts_arg_uint32(&a, 3, "mode", &mode) || !smbts_arg_int64(&a, 4, "resolve", 0, INT64_MAX, &resolve)) {
    free(path);
    return smbts_args_throw(&a);
  }
  bool creating = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  /* Never wait on this thread: O_NONBLOCK makes the open of a FIFO with no writer return at once
   * (ENXIO for writing with no reader) and a lease another process holds answer EWOULDBLOCK
   * rather than wait for its break (the caller then opens off this thread). The fd is then made
   * blocking again, as the caller asked. An O_PATH or O_DIRECTORY open takes no such flag. */
  bool path_only = (flags & O_PATH) != 0;
  /* O_DIRECTORY never opens a FIFO (ENOTDIR) nor a leased file: no flag, no fcntl after. */
  bool added = !path_only && !(flags & O_DIRECTORY) && !(flags & O_NONBLOCK);
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC | (added ? O_NONBLOCK : 0),
                         .mode = creating ? mode : 0, .resolve = (uint64_t)resolve};
  errno = 0;
  long r = SMBTS_RETRY(syscall(SYS_openat2, dirfd, path, &how, sizeof how));
  free(path);
  if (r >= 0 && added && fcntl((int)r, F_SETFL, (int)flags) < 0) {
    int e = errno;
    close((int)r);
    errno = e;
    r = -1;
  }
  return ret_number(env, r);
}

/* statxXattrNow(dirfd, path, flags, mask, xattrName, out, opath) -> the statx result (0 or
 * -errno), with one statxBatch record written at the start of `out` (at least SMBTS_BATCH_REC
 * bytes): both results, the struct statx, the xattr value. xattrName '' reads no xattr
 * (-ENODATA). opath: dirfd is an O_PATH fd (its xattr is read through /proc at once). */
static napi_value js_statxXattrNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t dirfd = -1;
  char *path = NULL, *name = NULL;
  uint32_t flags = 0, mask = 0;
  uint8_t *out = NULL;
  size_t size = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "dirfd", &dirfd) ||
      !smbts_arg_path(&a, 1, "path", &path) || !smbts_arg_uint32(&a, 2, "flags", &flags) ||
      !smbts_arg_uint32(&a, 3, "mask", &mask) || !smbts_arg_path(&a, 4, "xattrName", &name) ||
      !smbts_arg_bytes(&a, 5, "out", &out, &size)) {
    free(path);
    free(name);
    return smbts_args_throw(&a);
  }
  if (size < SMBTS_BATCH_REC) {
    free(path);
    free(name);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "out is smaller than one statx record");
    return NULL;
  }
  bool opath = false;
  napi_get_value_bool(env, a.argv[6], &opath); /* undefined: false */
  int32_t sres = smbts_stat_record(dirfd, path, (int)flags, mask, name[0] ? name : NULL, out, opath);
  free(path);
  free(name);
  napi_value v;
  SMBTS_NAPI(env, napi_create_int32(env, sres, &v));
  return v;
}

/* openStatNow(dirfd, path, flags, resolve, mask, xattrName, out) -> an fd, or -errno. The CREATE of a
 * name that exists, in one call: what the name is (an O_PATH open and its statx type: opening
 * anything else than a regular file or a directory could wait, as a FIFO with no writer, or act,
 * as a device's driver does on open), then, for those two only, the open itself (`flags`, plus
 * O_DIRECTORY|O_RDONLY instead of the access mode for a directory; O_NONBLOCK for the open of a
 * file only, as openat2Now) and one statxBatch record of the opened fd written at the start of
 * `out` (its statx with `mask`, and the xattr `xattrName`; '' reads none). -ENOTSUP: neither a
 * regular file nor a directory (the caller takes its slow path, which says what it is). `flags`
 * must not create or truncate; with O_DIRECTORY only a directory is opened, with no probe. */
static napi_value js_openStatNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t dirfd = -1;
  char *path = NULL, *name = NULL;
  uint32_t flags = 0, mask = 0;
  int64_t resolve = 0;
  uint8_t *out = NULL;
  size_t size = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "dirfd", &dirfd) ||
      !smbts_arg_path(&a, 1, "path", &path) || !smbts_arg_uint32(&a, 2, "flags", &flags) ||
      !smbts_arg_int64(&a, 3, "resolve", 0, INT64_MAX, &resolve) ||
      !smbts_arg_uint32(&a, 4, "mask", &mask) || !smbts_arg_path(&a, 5, "xattrName", &name) ||
      !smbts_arg_bytes(&a, 6, "out", &out, &size)) {
    free(path);
    free(name);
    return smbts_args_throw(&a);
  }
  if (size < SMBTS_BATCH_REC || (flags & (O_CREAT | O_TRUNC | O_PATH)) || (flags & O_TMPFILE) == O_TMPFILE) {
    free(path);
    free(name);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", size < SMBTS_BATCH_REC
                           ? "out is smaller than one statx record"
                           : "openStatNow opens what exists: no O_CREAT, O_TRUNC, O_PATH or O_TMPFILE");
    return NULL;
  }
  long r = -1;
  int e = 0;
  /* O_DIRECTORY: only a directory will do, and such an open can meet nothing else (ENOTDIR):
   * no probe. Otherwise, what the name is, without opening it for I/O. */
  bool dir = (flags & O_DIRECTORY) != 0;
  if (!dir) {
    struct open_how probe = {.flags = O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW), .resolve = (uint64_t)resolve};
    long pfd = SMBTS_RETRY(syscall(SYS_openat2, dirfd, path, &probe, sizeof probe));
    if (pfd < 0) {
      e = errno;
      goto done;
    }
    struct statx pst;
    if (SMBTS_RETRY(statx((int)pfd, "", AT_EMPTY_PATH, STATX_TYPE, &pst)) < 0) {
      e = errno;
      close((int)pfd);
      goto done;
    }
    close((int)pfd);
    dir = S_ISDIR(pst.stx_mode);
    if (!dir && !S_ISREG(pst.stx_mode)) {
      e = ENOTSUP;
      goto done;
    }
  }
  /* The name may have changed since: the open still never waits (O_NONBLOCK; O_DIRECTORY opens
   * no FIFO), and the statx of the opened fd says what was opened. */
  uint64_t oflags = dir ? (uint64_t)((flags & ~(uint32_t)O_ACCMODE) | O_DIRECTORY | O_RDONLY)
                        : (uint64_t)(flags | O_NONBLOCK);
  struct open_how how = {.flags = oflags | O_CLOEXEC, .resolve = (uint64_t)resolve};
  r = SMBTS_RETRY(syscall(SYS_openat2, dirfd, path, &how, sizeof how));
  if (r < 0) {
    e = errno;
    goto done;
  }
  if (!dir && !(flags & O_NONBLOCK) && fcntl((int)r, F_SETFL, (int)flags) < 0) {
    e = errno;
    close((int)r);
    r = -1;
    goto done;
  }
  int32_t sres = smbts_stat_record((int)r, "", AT_EMPTY_PATH, mask | STATX_TYPE, name[0] ? name : NULL, out, false);
  const struct statx *stx = (const struct statx *)(out + 8);
  if (sres < 0 || !(S_ISREG(stx->stx_mode) || S_ISDIR(stx->stx_mode))) {
    e = sres < 0 ? -sres : ENOTSUP;
    close((int)r);
    r = -1;
  }
done:
  free(path);
  free(name);
  errno = e;
  return ret_number(env, r);
}

/* closeNow(fd) -> 0 or -errno (never retried: the fd is gone even on EINTR). */
static napi_value js_closeNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  errno = 0;
  long r = close(fd);
  if (r < 0 && errno == EINTR) r = 0;
  return ret_number(env, r);
}

/* fcntlSetflNow(fd, flags) -> 0 or -errno: fcntl(F_SETFL) now, never waits. For an fd opened off
 * this thread with O_NONBLOCK added (src/vfs/posix.ts: the open of a FIFO or device never
 * blocks a thread): the flag is cleared again, or io_uring would answer a read of that regular
 * file EAGAIN instead of punting it. */
static napi_value js_fcntlSetflNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  uint32_t flags = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd) ||
      !smbts_arg_uint32(&a, 1, "flags", &flags)) {
    return smbts_args_throw(&a);
  }
  errno = 0;
  long r = fcntl(fd, F_SETFL, (int)flags);
  return ret_number(env, r);
}

/* fcntlGetflNow(fd) -> the file status flags (F_GETFL) or -errno, now. */
static napi_value js_fcntlGetflNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  errno = 0;
  long r = fcntl(fd, F_GETFL);
  return ret_number(env, r);
}

/* pwriteNow(fd, buf, offset, length, position) -> bytes written (all of them unless the file
 * system refused more: ENOSPC, EFBIG after some) or -errno when nothing was written. For a file
 * system whose writes are memory copies (tmpfs): no io-wq punt, no wake-up. */
static napi_value js_pwriteNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  uint8_t *data = NULL;
  size_t size = 0;
  int64_t offset = 0, length = 0, position = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd) ||
      !smbts_arg_bytes(&a, 1, "buffer", &data, &size) ||
      !smbts_arg_int64(&a, 2, "offset", 0, (int64_t)size, &offset) ||
      !smbts_arg_int64(&a, 3, "length", 0, (int64_t)size - offset, &length) ||
      !smbts_arg_int64(&a, 4, "position", 0, INT64_MAX, &position)) {
    return smbts_args_throw(&a);
  }
  size_t done = 0;
  long r = 0;
  errno = 0;
  while (done < (size_t)length) {
    r = SMBTS_RETRY(pwrite(fd, data + offset + done, (size_t)length - done, (off_t)(position + (int64_t)done)));
    if (r <= 0) break;
    done += (size_t)r;
  }
  return ret_number(env, done > 0 || r >= 0 ? (long)done : r);
}

/* sleepsNow() -> this thread's voluntary context switches so far (getrusage RUSAGE_THREAD
 * ru_nvcsw): a syscall that waited (for a disk, a lock) adds one; being preempted does not. */
static napi_value js_sleepsNow(napi_env env, napi_callback_info info) {
  struct rusage ru;
  napi_value v;
  if (getrusage(RUSAGE_THREAD, &ru) < 0) ru.ru_nvcsw = 0;
  SMBTS_NAPI(env, napi_create_double(env, (double)ru.ru_nvcsw, &v));
  return v;
}

/* fsTypeNow(fd) -> the file system's magic (fstatfs f_type), or -errno. */
static napi_value js_fsTypeNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  struct statfs sf;
  errno = 0;
  long r = SMBTS_RETRY(fstatfs(fd, &sf));
  return ret_number(env, r < 0 ? r : (long)(unsigned long)sf.f_type);
}

/* nameToHandleNow(fd) -> Buffer (the handle's type, u32 little-endian, then its bytes) or -errno:
 * the file's identity as the kernel gives it (name_to_handle_at with AT_EMPTY_PATH), which
 * outlives any rename and this process (src/session/persistent.ts records it). */
static napi_value js_nameToHandleNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd)) return smbts_args_throw(&a);
  struct {
    struct file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mnt = 0;
  errno = 0;
  long r = SMBTS_RETRY(name_to_handle_at(fd, "", &h.fh, &mnt, AT_EMPTY_PATH));
  if (r < 0) return ret_number(env, r);
  napi_value out;
  void *data = NULL;
  SMBTS_NAPI(env, napi_create_buffer(env, 4 + h.fh.handle_bytes, &data, &out));
  uint32_t type = (uint32_t)h.fh.handle_type;
  unsigned char *d = data;
  d[0] = type & 0xff; d[1] = (type >> 8) & 0xff; d[2] = (type >> 16) & 0xff; d[3] = (type >> 24) & 0xff;
  memcpy(d + 4, h.fh.f_handle, h.fh.handle_bytes);
  return out;
}

/* openByHandleNow(mountFd, handle, flags) -> fd or -errno: open_by_handle_at of what
 * nameToHandleNow gave (O_CLOEXEC added), on the file system of mountFd. Needs
 * CAP_DAC_READ_SEARCH (EPERM without). ESTALE: the file is gone. */
static napi_value js_openByHandleNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t mfd = -1;
  uint8_t *data = NULL;
  size_t size = 0;
  uint32_t flags = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "mountFd", &mfd) ||
      !smbts_arg_bytes(&a, 1, "handle", &data, &size) || !smbts_arg_uint32(&a, 2, "flags", &flags)) {
    return smbts_args_throw(&a);
  }
  if (size < 4 || size - 4 > MAX_HANDLE_SZ) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "handle: 4 to 4 + MAX_HANDLE_SZ bytes");
    return NULL;
  }
  struct {
    struct file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  h.fh.handle_bytes = (unsigned int)(size - 4);
  h.fh.handle_type = (int)((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
  memcpy(h.fh.f_handle, data + 4, size - 4);
  errno = 0;
  long r = SMBTS_RETRY(open_by_handle_at(mfd, &h.fh, (int)flags | O_CLOEXEC));
  return ret_number(env, r);
}

/* unlinkatNow(dirfd, name, flags) -> 0 or -errno: unlinkat(2) now. For a memory file system
 * (src/vfs/inline.ts), where removing a name frees nothing a disk must be told of. */
static napi_value js_unlinkatNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t dirfd = -1;
  char *name = NULL;
  uint32_t flags = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "dirfd", &dirfd) ||
      !smbts_arg_path(&a, 1, "name", &name) || !smbts_arg_uint32(&a, 2, "flags", &flags)) {
    free(name);
    return smbts_args_throw(&a);
  }
  errno = 0;
  long r = SMBTS_RETRY(unlinkat(dirfd, name, (int)flags));
  free(name);
  return ret_number(env, r);
}

/* flistxattrNow(fd, out) -> the bytes of the NUL-separated name list written into `out`, or
 * -errno (-ERANGE: `out` is too small for it). For an fd of a file system that keeps its xattrs
 * in memory or in the inode (src/vfs/inline.ts). */
static napi_value js_flistxattrNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  int32_t fd = -1;
  uint8_t *data = NULL;
  size_t size = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_int32(&a, 0, "fd", &fd) ||
      !smbts_arg_bytes(&a, 1, "out", &data, &size)) {
    return smbts_args_throw(&a);
  }
  errno = 0;
  long r = SMBTS_RETRY(flistxattr(fd, (char *)data, size));
  return ret_number(env, r);
}

/* pipeNow(size) -> [readFd, writeFd, capacity] or -errno: a close-on-exec pipe whose capacity
 * is raised to `size` (F_SETPIPE_SZ; an unprivileged process may go up to
 * /proc/sys/fs/pipe-max-size, 1 MiB by default). The pipe is closed again when the size is refused. */
static napi_value js_pipeNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  uint32_t size;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_uint32(&a, 0, "size", &size)) return smbts_args_throw(&a);
  int p[2];
  int r = pipe2(p, O_CLOEXEC);
  if (r == 0) {
    r = fcntl(p[1], F_SETPIPE_SZ, (int)size);
    if (r < 0) {
      int e = errno;
      close(p[0]);
      close(p[1]);
      errno = e;
    }
  }
  napi_value out;
  if (r < 0) {
    SMBTS_NAPI(env, napi_create_int32(env, -errno, &out));
    return out;
  }
  SMBTS_NAPI(env, napi_create_array_with_length(env, 3, &out));
  int32_t v[3] = {p[0], p[1], r};
  for (uint32_t i = 0; i < 3; i++) {
    napi_value x;
    SMBTS_NAPI(env, napi_create_int32(env, v[i], &x));
    SMBTS_NAPI(env, napi_set_element(env, out, i, x));
  }
  return out;
}

/* ---- registration ---- */

napi_status smbts_fsnow_init(napi_env env, napi_value exports) {
#define FN(js) {#js, NULL, js_##js, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor d[] = {
      FN(openat2Now), FN(statxXattrNow), FN(openStatNow), FN(closeNow), FN(fcntlSetflNow), FN(fcntlGetflNow), FN(fsTypeNow),
      FN(pwriteNow), FN(sleepsNow), FN(nameToHandleNow), FN(openByHandleNow), FN(unlinkatNow),
      FN(flistxattrNow), FN(pipeNow),
  };
#undef FN
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
