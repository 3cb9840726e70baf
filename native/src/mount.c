/*
 * mount(2) and umount2(2) for the control mount (src/control/fuse.ts): the FUSE protocol itself is
 * spoken over /dev/fuse from JavaScript; only these two calls need C. Both run on the JS thread,
 * synchronously (they are quick), and throw the errno Error of smbts_throw_errno.
 */
#include <stdlib.h>
#include <sys/mount.h>

#include "smbts.h"

/* mountFs(source, target, fstype, flags, data): mount(2). */
static napi_value js_mountFs(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *source = NULL, *target = NULL, *fstype = NULL, *data = NULL;
  int64_t flags = 0;
  napi_value ret = NULL;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_path(&a, 0, "source", &source) ||
      !smbts_arg_path(&a, 1, "target", &target) || !smbts_arg_path(&a, 2, "fstype", &fstype) ||
      !smbts_arg_int64(&a, 3, "flags", 0, 0xffffffffLL, &flags) ||
      !smbts_arg_path(&a, 4, "data", &data)) {
    ret = smbts_args_throw(&a);
    goto out;
  }
  if (mount(source, target, fstype, (unsigned long)flags, data) < 0) ret = smbts_throw_errno(env, errno, "mount");
out:
  free(source);
  free(target);
  free(fstype);
  free(data);
  return ret;
}

/* umount2(target, flags): umount2(2). */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *target = NULL;
  int32_t flags = 0;
  napi_value ret = NULL;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_path(&a, 0, "target", &target) ||
      !smbts_arg_int32(&a, 1, "flags", &flags)) {
    ret = smbts_args_throw(&a);
    goto out;
  }
  if (umount2(target, flags) < 0) ret = smbts_throw_errno(env, errno, "umount2");
out:
  free(target);
  return ret;
}

napi_status smbts_mount_init(napi_env env, napi_value exports) {
#define FN(js) {#js, NULL, js_##js, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor d[] = {FN(mountFs), FN(umount2)};
#undef FN
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
