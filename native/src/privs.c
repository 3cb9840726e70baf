/*
 * dropPrivileges for the RPC process (src/rpc/child.ts): the process that parses DCE/RPC gives up
 * everything it could misuse before it reads a byte from a client. As root it is shut in an empty
 * directory (chroot, so the shares and the password db are out of its reach even where their
 * modes let "other" read), loses its supplementary groups, then becomes uid/gid (all three ids of
 * each, so it cannot switch back; the kernel clears its capabilities with the uid change). Last,
 * no_new_privs (prctl), so no execve can give anything back. Not root: only no_new_privs.
 *
 * glibc applies setgroups/setresgid/setresuid to every thread of the process; chroot acts on the
 * fs_struct the threads share; no_new_privs is the calling thread's (the JS thread, which is the
 * one that forks and execs in Node).
 */
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "smbts.h"

static napi_value set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) != napi_ok || napi_set_named_property(env, obj, name, n) != napi_ok) return NULL;
  return obj;
}

/* dropPrivileges(rootDir | null, uid, gid) -> { uid, gid, chrooted, noNewPrivs, capEffective, capPermitted } */
static napi_value js_dropPrivileges(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *root = NULL;
  int64_t uid = 0, gid = 0;
  napi_value ret = NULL, obj;
  bool have_root = false;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  if (a.argc > 0) {
    napi_valuetype t;
    if (napi_typeof(env, a.argv[0], &t) != napi_ok) return smbts_throw_napi(env, "typeof");
    have_root = t != napi_null && t != napi_undefined;
  }
  if ((have_root && !smbts_arg_path(&a, 0, "rootDir", &root)) ||
      !smbts_arg_int64(&a, 1, "uid", 1, 0xfffffffeLL, &uid) ||
      !smbts_arg_int64(&a, 2, "gid", 1, 0xfffffffeLL, &gid)) {
    ret = smbts_args_throw(&a);
    goto out;
  }
  bool chrooted = false;
  if (geteuid() == 0) {
    if (root != NULL) {
      /* In first, then remove the directory's name, then make it the root: the process that made
       * it may be killed at any time, and a directory nobody names cannot be left behind. A
       * deleted directory can still be entered as "." and can never hold an entry again. */
      if (chdir(root) < 0) { ret = smbts_throw_errno(env, errno, "chdir"); goto out; }
      if (rmdir(root) < 0 && errno != ENOENT) { ret = smbts_throw_errno(env, errno, "rmdir"); goto out; }
      if (chroot(".") < 0) { ret = smbts_throw_errno(env, errno, "chroot"); goto out; }
      if (chdir("/") < 0) { ret = smbts_throw_errno(env, errno, "chdir"); goto out; }
      chrooted = true;
    }
    if (setgroups(0, NULL) < 0) { ret = smbts_throw_errno(env, errno, "setgroups"); goto out; }
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0) { ret = smbts_throw_errno(env, errno, "setresgid"); goto out; }
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) { ret = smbts_throw_errno(env, errno, "setresuid"); goto out; }
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) { ret = smbts_throw_errno(env, errno, "prctl"); goto out; }
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {0};
  if (syscall(SYS_capget, &hdr, data) < 0) { ret = smbts_throw_errno(env, errno, "capget"); goto out; }
  double eff = (double)data[0].effective + 4294967296.0 * (double)data[1].effective;
  double perm = (double)data[0].permitted + 4294967296.0 * (double)data[1].permitted;
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) { ret = smbts_throw_errno(env, errno, "getresuid"); goto out; }
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  napi_value b;
  if (napi_create_object(env, &obj) != napi_ok || !set_num(env, obj, "uid", eu) || !set_num(env, obj, "gid", eg) ||
      !set_num(env, obj, "capEffective", eff) || !set_num(env, obj, "capPermitted", perm) ||
      napi_get_boolean(env, nnp == 1, &b) != napi_ok || napi_set_named_property(env, obj, "noNewPrivs", b) != napi_ok ||
      napi_get_boolean(env, chrooted, &b) != napi_ok || napi_set_named_property(env, obj, "chrooted", b) != napi_ok) {
    ret = smbts_throw_napi(env, "dropPrivileges result");
    goto out;
  }
  ret = obj;
out:
  free(root);
  return ret;
}

/*
 * restrictSyscalls(): a seccomp filter, on every thread (SECCOMP_FILTER_FLAG_TSYNC, which also
 * gives them no_new_privs), that refuses with EPERM what the RPC process never needs and an
 * attacker inside it would want: running programs, tracing or reading other processes, mounts,
 * namespaces, modules, BPF, keys, new rings, and any socket but a Unix one (it has its one
 * socket already). A denylist, so that Node's own needs (which vary by version) stay allowed.
 * Returns false (nothing done) on an architecture this filter does not know.
 */
#if defined(__x86_64__)
#define SMBTS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SMBTS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static napi_value js_restrictSyscalls(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ret;
#ifndef SMBTS_AUDIT_ARCH
  napi_get_boolean(env, false, &ret);
  return ret;
#else
  static const int denied[] = {
#ifdef SYS_execve
      SYS_execve,
#endif
      SYS_execveat, SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_mount, SYS_umount2, SYS_pivot_root,
      SYS_chroot, SYS_bpf, SYS_kexec_load, SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_reboot,
      SYS_swapon, SYS_swapoff, SYS_setns, SYS_unshare, SYS_perf_event_open, SYS_keyctl, SYS_add_key, SYS_request_key,
      SYS_userfaultfd, SYS_open_by_handle_at, SYS_name_to_handle_at,
#ifdef SYS_kexec_file_load
      SYS_kexec_file_load,
#endif
#ifdef SYS_io_uring_setup
      SYS_io_uring_setup,
#endif
  };
  enum { N = sizeof denied / sizeof denied[0] };
  struct sock_filter f[N + 10];
  size_t k = 0;
  f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  /* another architecture's syscall numbers (32-bit compat): refused outright */
  f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SMBTS_AUDIT_ARCH, 1, 0);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  /* each denied number jumps to the EPERM at the end: N - i - 1 more tests, the socket test (2), ALLOW, the family test (2) */
  for (size_t i = 0; i < N; i++) f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], (unsigned char)(N - i - 1 + 5), 0);
  f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 1, 0);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
  f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  struct sock_fprog prog = {.len = (unsigned short)k, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return smbts_throw_errno(env, errno, "prctl");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
    return smbts_throw_errno(env, errno, "seccomp");
  }
  napi_get_boolean(env, true, &ret);
  return ret;
#endif
}

napi_status smbts_privs_init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"dropPrivileges", NULL, js_dropPrivileges, NULL, NULL, NULL, napi_enumerable, NULL},
      {"restrictSyscalls", NULL, js_restrictSyscalls, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, 2, d);
}
