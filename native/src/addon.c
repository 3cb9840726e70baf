/*
 * smbts native addon: module entry, per-environment state, counters and constants.
 */
#include "smbts.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>

const char *const smbts_op_names[SMBTS_OP__COUNT] = {
#define SMBTS_OP_NAME(up, js) #js,
    SMBTS_OPS(SMBTS_OP_NAME)
#undef SMBTS_OP_NAME
};

static void instance_finalize(napi_env env, void *data, void *hint) { free(data); }

smbts_instance *smbts_instance_get(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

/* counters() -> { ops: {openat2: n, ...}, errors: {...}, inflight }
 * Counted on the JS thread when an op is queued (ops) and when it settles with an error (errors),
 * so a test can prove the native path ran. */
static napi_value js_counters(napi_env env, napi_callback_info info) {
  smbts_instance *inst = smbts_instance_get(env);
  napi_value result, ops, errors, v;
  SMBTS_NAPI(env, napi_create_object(env, &result));
  SMBTS_NAPI(env, napi_create_object(env, &ops));
  SMBTS_NAPI(env, napi_create_object(env, &errors));
  for (int i = 0; i < SMBTS_OP__COUNT; i++) {
    SMBTS_NAPI(env, napi_create_double(env, inst ? (double)inst->started[i] : 0, &v));
    SMBTS_NAPI(env, napi_set_named_property(env, ops, smbts_op_names[i], v));
    SMBTS_NAPI(env, napi_create_double(env, inst ? (double)inst->failed[i] : 0, &v));
    SMBTS_NAPI(env, napi_set_named_property(env, errors, smbts_op_names[i], v));
  }
  SMBTS_NAPI(env, napi_set_named_property(env, result, "ops", ops));
  SMBTS_NAPI(env, napi_set_named_property(env, result, "errors", errors));
  SMBTS_NAPI(env, napi_create_double(env, inst ? (double)inst->inflight : 0, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, result, "inflight", v));
  return result;
}

/* mallocTrimNow() -> whether glibc gave memory back (malloc_trim(0)): every arena's free pages,
 * not only the top of the main heap, are returned to the kernel (MADV_DONTNEED). After a busy
 * spell the JS heap's collection frees what Node, OpenSSL and V8's compiler threads allocated,
 * but glibc keeps it, in the main heap and in the arenas of the threads that freed it
 * (src/io/idle-gc.ts calls this once a process is quiet). Holds the JS thread while it walks the
 * arenas: a few ms. */
static napi_value js_mallocTrimNow(napi_env env, napi_callback_info info) {
  napi_value v;
  SMBTS_NAPI(env, napi_get_boolean(env, malloc_trim(0) != 0, &v));
  return v;
}

/* ---- constants ---- */

/* Kernel values newer than glibc 2.36's headers (checked against the uapi headers). */
#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif
#ifndef STATX_ATTR_VERITY
#define STATX_ATTR_VERITY 0x00100000
#endif
#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000
#endif
#ifndef RESOLVE_CACHED
#define RESOLVE_CACHED 0x20
#endif

struct smbts_const {
  const char *name;
  double value;
};

#define C(x) {#x, (double)(x)}
static const struct smbts_const constants[] = {
    /* open(2) flags */
    C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_ACCMODE), C(O_CREAT), C(O_EXCL), C(O_NOCTTY),
    C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK), C(O_DSYNC), C(O_SYNC), C(O_DIRECT), C(O_DIRECTORY),
    C(O_NOFOLLOW), C(O_NOATIME), C(O_CLOEXEC), C(O_PATH), C(O_TMPFILE),
    /* openat2 resolve flags (linux/openat2.h) */
    C(RESOLVE_NO_XDEV), C(RESOLVE_NO_MAGICLINKS), C(RESOLVE_NO_SYMLINKS), C(RESOLVE_BENEATH),
    C(RESOLVE_IN_ROOT), C(RESOLVE_CACHED),
    /* *at flags */
    C(AT_FDCWD), C(AT_SYMLINK_NOFOLLOW), C(AT_SYMLINK_FOLLOW), C(AT_REMOVEDIR), C(AT_EMPTY_PATH),
    C(AT_NO_AUTOMOUNT), C(AT_STATX_SYNC_AS_STAT), C(AT_STATX_FORCE_SYNC),
    C(AT_STATX_DONT_SYNC),
    /* renameat2 */
    C(RENAME_NOREPLACE), C(RENAME_EXCHANGE), C(RENAME_WHITEOUT),
    /* statx mask and attributes */
    C(STATX_TYPE), C(STATX_MODE), C(STATX_NLINK), C(STATX_UID), C(STATX_GID), C(STATX_ATIME),
    C(STATX_MTIME), C(STATX_CTIME), C(STATX_INO), C(STATX_SIZE), C(STATX_BLOCKS),
    C(STATX_BASIC_STATS), C(STATX_BTIME), C(STATX_MNT_ID), C(STATX_DIOALIGN),
    C(STATX_ATTR_COMPRESSED), C(STATX_ATTR_IMMUTABLE), C(STATX_ATTR_APPEND), C(STATX_ATTR_NODUMP),
    C(STATX_ATTR_ENCRYPTED), C(STATX_ATTR_AUTOMOUNT), C(STATX_ATTR_MOUNT_ROOT),
    C(STATX_ATTR_VERITY), C(STATX_ATTR_DAX),
    /* fallocate */
    C(FALLOC_FL_KEEP_SIZE), C(FALLOC_FL_PUNCH_HOLE), C(FALLOC_FL_NO_HIDE_STALE),
    C(FALLOC_FL_COLLAPSE_RANGE), C(FALLOC_FL_ZERO_RANGE), C(FALLOC_FL_INSERT_RANGE),
    C(FALLOC_FL_UNSHARE_RANGE),
    /* getdents d_type */
    C(DT_UNKNOWN), C(DT_FIFO), C(DT_CHR), C(DT_DIR), C(DT_BLK), C(DT_REG), C(DT_LNK), C(DT_SOCK),
    C(DT_WHT),
    /* st_mode */
    C(S_IFMT), C(S_IFSOCK), C(S_IFLNK), C(S_IFREG), C(S_IFBLK), C(S_IFDIR), C(S_IFCHR), C(S_IFIFO),
    /* xattr */
    C(XATTR_CREATE), C(XATTR_REPLACE),
};
#undef C

napi_status smbts_constants_init(napi_env env, napi_value exports) {
  napi_value obj, v;
  napi_status st;
  if ((st = napi_create_object(env, &obj)) != napi_ok) return st;
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    if ((st = napi_create_double(env, constants[i].value, &v)) != napi_ok) return st;
    if ((st = napi_set_named_property(env, obj, constants[i].name, v)) != napi_ok) return st;
  }
  if ((st = napi_object_freeze(env, obj)) != napi_ok) return st;
  return napi_set_named_property(env, exports, "constants", obj);
}

NAPI_MODULE_INIT() {
  smbts_instance *inst = calloc(1, sizeof *inst);
  if (!inst || napi_set_instance_data(env, inst, instance_finalize, NULL) != napi_ok) {
    free(inst);
    napi_throw_error(env, "SMBTS_ERR_NATIVE_INIT", "smbts native: cannot set instance data");
    return NULL;
  }
  napi_property_descriptor d[] = {
      {"counters", NULL, js_counters, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mallocTrimNow", NULL, js_mallocTrimNow, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof d / sizeof d[0], d) != napi_ok ||
      smbts_fsops_init(env, exports) != napi_ok || smbts_fsnow_init(env, exports) != napi_ok ||
      smbts_constants_init(env, exports) != napi_ok ||
      smbts_ring_init(env, exports) != napi_ok || smbts_sock_init(env, exports) != napi_ok ||
      smbts_aead_init(env, exports) != napi_ok || smbts_shmstore_init(env, exports) != napi_ok ||
      smbts_gss_init(env, exports) != napi_ok || smbts_mount_init(env, exports) != napi_ok ||
      smbts_inotify_init(env, exports) != napi_ok || smbts_privs_init(env, exports) != napi_ok) {
    return smbts_throw_napi(env, "module init");
  }
  return exports;
}
