/*
 * Argument parsing, errno errors and the async-work plumbing shared by every operation.
 */
#include "smbts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2^53 - 1: the largest integer a JS number holds exactly. */
#define SMBTS_MAX_SAFE_INTEGER 9007199254740991LL

static bool arg_fail(smbts_args *a, bool range, const char *fmt, ...) {
  if (a->err_code) return false; /* keep the first problem */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->err_msg, sizeof a->err_msg, fmt, ap);
  va_end(ap);
  a->err_range = range;
  a->err_code = range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE";
  return false;
}

bool smbts_args_init(napi_env env, napi_callback_info info, smbts_args *a) {
  memset(a, 0, sizeof *a);
  a->env = env;
  a->argc = SMBTS_MAX_ARGS;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, &a->thisv, NULL) != napi_ok) {
    return arg_fail(a, false, "cannot read arguments");
  }
  /* Missing trailing arguments read as undefined. */
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = a->argc; i < SMBTS_MAX_ARGS; i++) a->argv[i] = undef;
  return true;
}

napi_value smbts_args_reject(smbts_args *a) {
  napi_env env = a->env;
  napi_value promise, code, msg, err;
  napi_deferred deferred;
  SMBTS_NAPI(env, napi_create_promise(env, &deferred, &promise));
  SMBTS_NAPI(env, napi_create_string_utf8(env, a->err_code ? a->err_code : "ERR_INVALID_ARG_TYPE",
                                          NAPI_AUTO_LENGTH, &code));
  SMBTS_NAPI(env, napi_create_string_utf8(env, a->err_msg, NAPI_AUTO_LENGTH, &msg));
  if (a->err_range) {
    SMBTS_NAPI(env, napi_create_range_error(env, code, msg, &err));
  } else {
    SMBTS_NAPI(env, napi_create_type_error(env, code, msg, &err));
  }
  SMBTS_NAPI(env, napi_reject_deferred(env, deferred, err));
  return promise;
}

napi_value smbts_args_throw(smbts_args *a) {
  napi_env env = a->env;
  napi_value code, msg, err;
  if (napi_create_string_utf8(env, a->err_code ? a->err_code : "ERR_INVALID_ARG_TYPE",
                              NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, a->err_msg, NAPI_AUTO_LENGTH, &msg) != napi_ok) {
    return smbts_throw_napi(env, "building argument error");
  }
  if (a->err_range) napi_create_range_error(env, code, msg, &err);
  else napi_create_type_error(env, code, msg, &err);
  napi_throw(env, err);
  return NULL;
}

static napi_valuetype type_of(smbts_args *a, size_t i) {
  napi_valuetype t = napi_undefined;
  napi_typeof(a->env, a->argv[i], &t);
  return t;
}

static bool get_integer(smbts_args *a, size_t i, const char *name, int64_t min, int64_t max,
                        int64_t *out) {
  napi_valuetype t = type_of(a, i);
  if (t == napi_number) {
    double d;
    napi_get_value_double(a->env, a->argv[i], &d);
    if (d != d || d < -(double)SMBTS_MAX_SAFE_INTEGER || d > (double)SMBTS_MAX_SAFE_INTEGER ||
        d != (double)(int64_t)d) {
      return arg_fail(a, true, "The value of \"%s\" must be a safe integer", name);
    }
    *out = (int64_t)d;
  } else if (t == napi_bigint) {
    bool lossless = false;
    napi_get_value_bigint_int64(a->env, a->argv[i], out, &lossless);
    if (!lossless) return arg_fail(a, true, "The value of \"%s\" does not fit in 64 bits", name);
  } else {
    return arg_fail(a, false, "The \"%s\" argument must be of type number or bigint", name);
  }
  if (*out < min || *out > max) {
    return arg_fail(a, true, "The value of \"%s\" is out of range (%lld..%lld), got %lld", name,
                    (long long)min, (long long)max, (long long)*out);
  }
  return true;
}

bool smbts_arg_int32(smbts_args *a, size_t i, const char *name, int32_t *out) {
  int64_t v;
  if (!get_integer(a, i, name, INT32_MIN, INT32_MAX, &v)) return false;
  *out = (int32_t)v;
  return true;
}

bool smbts_arg_uint32(smbts_args *a, size_t i, const char *name, uint32_t *out) {
  int64_t v;
  if (!get_integer(a, i, name, 0, UINT32_MAX, &v)) return false;
  *out = (uint32_t)v;
  return true;
}

bool smbts_arg_int64(smbts_args *a, size_t i, const char *name, int64_t min, int64_t max,
                     int64_t *out) {
  return get_integer(a, i, name, min, max, out);
}

bool smbts_arg_opt_int64(smbts_args *a, size_t i, const char *name, int64_t min, int64_t max,
                         int64_t *out, bool *present) {
  napi_valuetype t = type_of(a, i);
  if (t == napi_null || t == napi_undefined) {
    *present = false;
    *out = 0;
    return true;
  }
  *present = true;
  return get_integer(a, i, name, min, max, out);
}

bool smbts_arg_opt_ns(smbts_args *a, size_t i, const char *name, struct timespec *out,
                      bool *present) {
  napi_valuetype t = type_of(a, i);
  *present = !(t == napi_null || t == napi_undefined);
  if (!*present) return true;
  __int128 ns;
  if (t == napi_bigint) {
    /* Beyond 64 bits too: a FILETIME reaches 30828 AD, 2^63 ns only 2262 AD. */
    int sign = 0;
    size_t count = 2;
    uint64_t words[2] = {0, 0};
    if (napi_get_value_bigint_words(a->env, a->argv[i], &sign, &count, words) != napi_ok || count > 2 ||
        (words[1] >> 63) != 0) {
      return arg_fail(a, true, "The value of \"%s\" does not fit in 127 bits", name);
    }
    unsigned __int128 mag = ((unsigned __int128)words[1] << 64) | words[0];
    ns = sign ? -(__int128)mag : (__int128)mag;
  } else {
    int64_t v;
    if (!get_integer(a, i, name, INT64_MIN, INT64_MAX, &v)) return false;
    ns = v;
  }
  __int128 sec = ns / 1000000000, rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    sec -= 1;
  }
  if (sec < INT64_MIN || sec > INT64_MAX) {
    return arg_fail(a, true, "The value of \"%s\" is out of range (seconds beyond 64 bits)", name);
  }
  out->tv_sec = (time_t)sec;
  out->tv_nsec = (long)rem;
  return true;
}

static bool is_bytes(smbts_args *a, size_t i, uint8_t **data, size_t *len) {
  bool yes = false;
  napi_is_buffer(a->env, a->argv[i], &yes);
  if (yes) {
    void *p = NULL;
    napi_get_buffer_info(a->env, a->argv[i], &p, len);
    *data = p;
    return true;
  }
  napi_is_typedarray(a->env, a->argv[i], &yes);
  if (yes) {
    napi_typedarray_type tt;
    size_t n;
    void *p = NULL;
    napi_get_typedarray_info(a->env, a->argv[i], &tt, &n, &p, NULL, NULL);
    if (tt == napi_uint8_array || tt == napi_int8_array || tt == napi_uint8_clamped_array) {
      *data = p;
      *len = n;
      return true;
    }
  }
  return false;
}

bool smbts_arg_path(smbts_args *a, size_t i, const char *name, char **out) {
  *out = NULL;
  if (a->err_code) return false;
  napi_valuetype t = type_of(a, i);
  size_t len = 0;
  char *s;
  if (t == napi_string) {
    if (napi_get_value_string_utf8(a->env, a->argv[i], NULL, 0, &len) != napi_ok) {
      return arg_fail(a, false, "cannot read \"%s\"", name);
    }
    s = malloc(len + 1);
    if (!s) return arg_fail(a, true, "out of memory for \"%s\"", name);
    napi_get_value_string_utf8(a->env, a->argv[i], s, len + 1, &len);
  } else {
    uint8_t *data;
    if (!is_bytes(a, i, &data, &len)) {
      return arg_fail(a, false, "The \"%s\" argument must be of type string or Buffer", name);
    }
    s = malloc(len + 1);
    if (!s) return arg_fail(a, true, "out of memory for \"%s\"", name);
    if (len) memcpy(s, data, len);
    s[len] = 0;
  }
  /* A NUL inside would silently shorten the path the kernel sees. */
  if (strlen(s) != len) {
    free(s);
    arg_fail(a, false, "The \"%s\" argument must not contain null bytes", name);
    a->err_code = "ERR_INVALID_ARG_VALUE";
    return false;
  }
  *out = s;
  return true;
}

bool smbts_arg_bytes(smbts_args *a, size_t i, const char *name, uint8_t **data, size_t *len) {
  if (a->err_code) return false;
  if (!is_bytes(a, i, data, len)) {
    return arg_fail(a, false, "The \"%s\" argument must be a Buffer or Uint8Array", name);
  }
  return true;
}

/* ---- errors ---- */

napi_value smbts_errno_error(napi_env env, int err, const char *syscall) {
  char name_buf[24], msg_buf[256];
  const char *name = strerrorname_np(err); /* glibc >= 2.32 */
  if (!name) {
    snprintf(name_buf, sizeof name_buf, "E%d", err);
    name = name_buf;
  }
  /* The shape of Node's own fs errors: "ENOENT: no such file or directory, openat2". */
  snprintf(msg_buf, sizeof msg_buf, "%s: %s, %s", name, strerrordesc_np(err) ? strerrordesc_np(err)
                                                                             : "unknown error",
           syscall);
  napi_value code, msg, error, errnum, sc;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg_buf, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok ||
      napi_create_int32(env, err, &errnum) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc) != napi_ok ||
      napi_set_named_property(env, error, "errno", errnum) != napi_ok ||
      napi_set_named_property(env, error, "syscall", sc) != napi_ok) {
    return NULL;
  }
  return error;
}

napi_value smbts_throw_errno(napi_env env, int err, const char *syscall) {
  napi_value e = smbts_errno_error(env, err, syscall);
  if (e) napi_throw(env, e);
  return NULL;
}

napi_value smbts_throw_napi(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    char msg[256];
    snprintf(msg, sizeof msg, "smbts native: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown N-API error");
    napi_throw_error(env, "SMBTS_ERR_NAPI", msg);
  }
  return NULL;
}

/* ---- async work ---- */

smbts_work *smbts_work_new(enum smbts_op op, const char *syscall, smbts_exec_fn exec,
                           smbts_done_fn done) {
  smbts_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->op = op;
  w->syscall = syscall;
  w->exec = exec;
  w->done = done;
  w->fd = w->fd2 = -1;
  return w;
}

void smbts_work_free(napi_env env, smbts_work *w) {
  if (!w) return;
  if (w->ref) napi_delete_reference(env, w->ref);
  if (w->work) napi_delete_async_work(env, w->work);
  free(w->path);
  free(w->path2);
  free(w->out);
  free(w);
}

static void work_execute(napi_env env, void *data) {
  (void)env; /* threadpool thread: no N-API here */
  smbts_work *w = data;
  errno = 0;
  w->exec(w);
}

static void work_complete(napi_env env, napi_status status, void *data) {
  smbts_work *w = data;
  smbts_instance *inst = smbts_instance_get(env);
  if (inst) inst->inflight--;
  napi_value value = NULL;
  bool ok = false;
  if (status != napi_ok) {
    /* Cancelled (environment teardown): nobody should be waiting, but settle anyway. */
    napi_value code, msg;
    if (napi_create_string_utf8(env, "SMBTS_ERR_CANCELLED", NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_string_utf8(env, "smbts native: operation cancelled", NAPI_AUTO_LENGTH, &msg) ==
            napi_ok) {
      napi_create_error(env, code, msg, &value);
    }
  } else if (w->err) {
    value = smbts_errno_error(env, w->err, w->syscall);
  } else if (w->done) {
    value = w->done(env, w);
    ok = value != NULL;
  } else {
    ok = napi_get_undefined(env, &value) == napi_ok;
  }
  if (!ok && inst) inst->failed[w->op]++;
  if (ok) {
    napi_resolve_deferred(env, w->deferred, value);
  } else {
    if (!value) {
      /* Building the result threw (out of memory?): reject with that exception. */
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, &value);
      if (!value) {
        napi_value msg;
        napi_create_string_utf8(env, "smbts native: cannot build result", NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, NULL, msg, &value);
      }
    }
    napi_reject_deferred(env, w->deferred, value);
  }
  smbts_work_free(env, w);
}

napi_value smbts_work_queue(napi_env env, smbts_work *w) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) goto fail;
  if (napi_create_string_utf8(env, smbts_op_names[w->op], NAPI_AUTO_LENGTH, &resource_name) !=
      napi_ok) {
    goto fail_deferred;
  }
  if (napi_create_async_work(env, NULL, resource_name, work_execute, work_complete, w, &w->work) !=
      napi_ok) {
    goto fail_deferred;
  }
  if (napi_queue_async_work(env, w->work) != napi_ok) goto fail_deferred;
  smbts_instance *inst = smbts_instance_get(env);
  if (inst) {
    inst->started[w->op]++;
    inst->inflight++;
  }
  return promise;

fail_deferred:
  smbts_throw_napi(env, "queueing async work");
  {
    /* The Promise exists: hand the exception to it rather than throwing. */
    napi_value exc = NULL;
    napi_get_and_clear_last_exception(env, &exc);
    napi_reject_deferred(env, w->deferred, exc);
  }
  smbts_work_free(env, w);
  return promise;
fail:
  smbts_work_free(env, w);
  return smbts_throw_napi(env, "napi_create_promise");
}
