/*
 * Kerberos acceptor (SMB2 SESSION_SETUP with krb5, src/auth/krb5.ts) over MIT GSSAPI.
 *
 * libgssapi_krb5.so.2 is opened with dlopen on first use, not linked: the addon (the io_uring fast
 * path) loads and runs on a host without it, and only Kerberos is then unavailable. The RFC 2744
 * C types are declared here (they are the standard ABI), so no krb5 headers are needed to build.
 *
 * gssAccept(token, keytab, principal, rcache) -> Promise<result>
 *   Runs gss_acquire_cred_from (the dedicated keytab; the service principal when one is given,
 *   else any key in the keytab) and gss_accept_sec_context on a libuv threadpool thread: the
 *   acceptor reads the keytab and writes the replay cache, file I/O the event loop must not wait
 *   for. On a completed context the same job asks for the SSPI session key
 *   (gss_inquire_sec_context_by_oid, GSS_C_INQ_SSPI_SESSION_KEY) and the client's name.
 *   The Promise always resolves:
 *     { major, minor, message, output?: Buffer, principal?: string, sessionKey?: Buffer,
 *       keyType?: Buffer (the enctype OID's DER content), lifetime?: seconds, flags?: number,
 *       context?: External }
 *   major 0 is success; `context` (only then) keeps the GSS context for gssGetMic/gssVerifyMic
 *   (the SPNEGO mechListMIC) until gssRelease or garbage collection.
 * gssGetMic(context, message) -> Buffer and gssVerifyMic(context, message, mic) -> boolean run on
 *   the JS thread: checksums of a few dozen bytes, no I/O.
 * gssRelease(context) deletes the context now.
 * gssAvailable() -> string | null: null when the library loaded, else why not.
 */
#include "smbts.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 2744 3 (and MIT's gssapi.h, which follows it). */
typedef uint32_t OM_uint32;
typedef struct {
  OM_uint32 length;
  void *elements;
} gss_OID_desc, *gss_OID;
typedef struct {
  size_t count;
  gss_OID elements;
} gss_OID_set_desc, *gss_OID_set;
typedef struct {
  size_t length;
  void *value;
} gss_buffer_desc, *gss_buffer_t;
typedef struct {
  size_t count;
  gss_buffer_desc *elements;
} gss_buffer_set_desc, *gss_buffer_set_t;
/* MIT's credential store extension (gssapi_ext.h). */
typedef struct {
  const char *key;
  const char *value;
} gss_key_value_element_desc;
typedef struct {
  OM_uint32 count;
  gss_key_value_element_desc *elements;
} gss_key_value_set_desc;
typedef void *gss_name_t, *gss_cred_id_t, *gss_ctx_id_t;

#define GSS_C_ACCEPT 2
#define GSS_C_GSS_CODE 1
#define GSS_C_MECH_CODE 2
#define GSS_C_INDEFINITE 0xffffffffu
#define GSS_S_COMPLETE 0u
#define GSS_S_CONTINUE_NEEDED 1u
#define GSS_ERROR(x) ((x) & 0xffff0000u)

static struct {
  OM_uint32 (*acquire_cred_from)(OM_uint32 *, gss_name_t, OM_uint32, gss_OID_set, int,
                                 const gss_key_value_set_desc *, gss_cred_id_t *, gss_OID_set *,
                                 OM_uint32 *);
  OM_uint32 (*accept_sec_context)(OM_uint32 *, gss_ctx_id_t *, gss_cred_id_t, gss_buffer_t, void *,
                                  gss_name_t *, gss_OID *, gss_buffer_t, OM_uint32 *, OM_uint32 *,
                                  gss_cred_id_t *);
  OM_uint32 (*inquire_sec_context_by_oid)(OM_uint32 *, gss_ctx_id_t, gss_OID, gss_buffer_set_t *);
  OM_uint32 (*display_name)(OM_uint32 *, gss_name_t, gss_buffer_t, gss_OID *);
  OM_uint32 (*display_status)(OM_uint32 *, OM_uint32, int, gss_OID, OM_uint32 *, gss_buffer_t);
  OM_uint32 (*import_name)(OM_uint32 *, gss_buffer_t, gss_OID, gss_name_t *);
  OM_uint32 (*get_mic)(OM_uint32 *, gss_ctx_id_t, OM_uint32, gss_buffer_t, gss_buffer_t);
  OM_uint32 (*verify_mic)(OM_uint32 *, gss_ctx_id_t, gss_buffer_t, gss_buffer_t, OM_uint32 *);
  OM_uint32 (*release_buffer)(OM_uint32 *, gss_buffer_t);
  OM_uint32 (*release_buffer_set)(OM_uint32 *, gss_buffer_set_t *);
  OM_uint32 (*release_name)(OM_uint32 *, gss_name_t *);
  OM_uint32 (*release_cred)(OM_uint32 *, gss_cred_id_t *);
  OM_uint32 (*delete_sec_context)(OM_uint32 *, gss_ctx_id_t *, gss_buffer_t);
  char error[256];
  bool ok;
} gss;
static pthread_once_t gss_once = PTHREAD_ONCE_INIT;

static void gss_resolve(void) {
  void *h = dlopen("libgssapi_krb5.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(gss.error, sizeof gss.error, "cannot load libgssapi_krb5.so.2: %s", dlerror());
    return;
  }
#define SYM(field, name)                                                                        \
  do {                                                                                          \
    *(void **)&gss.field = dlsym(h, name);                                                      \
    if (!gss.field) {                                                                           \
      snprintf(gss.error, sizeof gss.error, "libgssapi_krb5.so.2 lacks %s", name);              \
      return;                                                                                   \
    }                                                                                           \
  } while (0)
  SYM(acquire_cred_from, "gss_acquire_cred_from");
  SYM(accept_sec_context, "gss_accept_sec_context");
  SYM(inquire_sec_context_by_oid, "gss_inquire_sec_context_by_oid");
  SYM(display_name, "gss_display_name");
  SYM(display_status, "gss_display_status");
  SYM(import_name, "gss_import_name");
  SYM(get_mic, "gss_get_mic");
  SYM(verify_mic, "gss_verify_mic");
  SYM(release_buffer, "gss_release_buffer");
  SYM(release_buffer_set, "gss_release_buffer_set");
  SYM(release_name, "gss_release_name");
  SYM(release_cred, "gss_release_cred");
  SYM(delete_sec_context, "gss_delete_sec_context");
#undef SYM
  gss.ok = true;
}

static bool gss_loaded(void) {
  pthread_once(&gss_once, gss_resolve);
  return gss.ok;
}

/* GSS_C_INQ_SSPI_SESSION_KEY, 1.2.840.113554.1.2.2.5.5 (MIT gssapi_krb5.h). */
static unsigned char oid_sspi_session_key[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12,
                                               0x01, 0x02, 0x02, 0x05, 0x05};
/* GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1 (RFC 1964 2.1.1). */
static unsigned char oid_krb5_principal[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12,
                                             0x01, 0x02, 0x02, 0x01};

/* ---- the context a completed accept leaves for the mechListMIC ---- */

typedef struct {
  gss_ctx_id_t ctx;
} gss_holder;

static void holder_delete(gss_holder *h) {
  if (h->ctx) {
    OM_uint32 minor;
    gss.delete_sec_context(&minor, &h->ctx, NULL);
    h->ctx = NULL;
  }
}

static void holder_finalize(napi_env env, void *data, void *hint) {
  holder_delete(data);
  free(data);
}

/* ---- gssAccept ---- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref token_ref;
  uint8_t *token;
  size_t token_len;
  char *keytab, *principal, *rcache;

  OM_uint32 major, minor;
  char message[512];
  gss_ctx_id_t ctx;
  gss_buffer_desc output;
  char *client;
  uint8_t key[64];
  size_t key_len;
  uint8_t key_type[32];
  size_t key_type_len;
  OM_uint32 lifetime, flags;
} accept_job;

/* "<GSS message>: <mechanism message>" for a failed call. */
static void describe(accept_job *j, const char *call) {
  size_t n = (size_t)snprintf(j->message, sizeof j->message, "%s: ", call);
  OM_uint32 minor, ctx = 0;
  gss_buffer_desc b = {0, NULL};
  if (gss.display_status(&minor, j->major, GSS_C_GSS_CODE, NULL, &ctx, &b) == GSS_S_COMPLETE) {
    n += (size_t)snprintf(j->message + n, n < sizeof j->message ? sizeof j->message - n : 0, "%.*s",
                          (int)b.length, (char *)b.value);
    gss.release_buffer(&minor, &b);
  }
  ctx = 0;
  if (j->minor != 0 &&
      gss.display_status(&minor, j->minor, GSS_C_MECH_CODE, NULL, &ctx, &b) == GSS_S_COMPLETE) {
    if (n < sizeof j->message)
      snprintf(j->message + n, sizeof j->message - n, ": %.*s", (int)b.length, (char *)b.value);
    gss.release_buffer(&minor, &b);
  }
}

static void accept_execute(napi_env env, void *data) {
  accept_job *j = data;
  OM_uint32 minor;
  gss_name_t want = NULL, src = NULL;
  gss_cred_id_t cred = NULL;
  gss_key_value_element_desc el[2];
  gss_key_value_set_desc store = {0, el};
  if (j->keytab[0]) el[store.count++] = (gss_key_value_element_desc){"keytab", j->keytab};
  if (j->rcache[0]) el[store.count++] = (gss_key_value_element_desc){"rcache", j->rcache};

  if (j->principal[0]) {
    gss_buffer_desc nb = {strlen(j->principal), j->principal};
    gss_OID_desc nt = {sizeof oid_krb5_principal, oid_krb5_principal};
    j->major = gss.import_name(&j->minor, &nb, &nt, &want);
    if (GSS_ERROR(j->major)) {
      describe(j, "gss_import_name");
      goto out;
    }
  }
  j->major = gss.acquire_cred_from(&j->minor, want, GSS_C_INDEFINITE, NULL, GSS_C_ACCEPT,
                                   store.count ? &store : NULL, &cred, NULL, NULL);
  if (GSS_ERROR(j->major)) {
    describe(j, "gss_acquire_cred_from");
    goto out;
  }
  gss_buffer_desc in = {j->token_len, j->token};
  j->major = gss.accept_sec_context(&j->minor, &j->ctx, cred, &in, NULL, &src, NULL, &j->output,
                                    &j->flags, &j->lifetime, NULL);
  if (GSS_ERROR(j->major)) {
    describe(j, "gss_accept_sec_context");
    goto out;
  }
  if (j->major == GSS_S_CONTINUE_NEEDED) {
    /* krb5 completes in one step unless DCE-style was asked for, which SMB never does. */
    j->major = 0x00090000u; /* GSS_S_FAILURE: reported as a failure with the message below */
    snprintf(j->message, sizeof j->message, "gss_accept_sec_context: the mechanism wants another round trip");
    goto out;
  }
  gss_buffer_set_t set = NULL;
  gss_OID_desc key_oid = {sizeof oid_sspi_session_key, oid_sspi_session_key};
  j->major = gss.inquire_sec_context_by_oid(&j->minor, j->ctx, &key_oid, &set);
  if (GSS_ERROR(j->major) || set == NULL || set->count < 1 || set->elements[0].length == 0 ||
      set->elements[0].length > sizeof j->key) {
    if (!GSS_ERROR(j->major)) {
      j->major = 0x00090000u;
      snprintf(j->message, sizeof j->message, "gss_inquire_sec_context_by_oid: no usable session key");
    } else {
      describe(j, "gss_inquire_sec_context_by_oid");
    }
    if (set) gss.release_buffer_set(&minor, &set);
    goto out;
  }
  j->key_len = set->elements[0].length;
  memcpy(j->key, set->elements[0].value, j->key_len);
  if (set->count > 1 && set->elements[1].length <= sizeof j->key_type) {
    j->key_type_len = set->elements[1].length;
    memcpy(j->key_type, set->elements[1].value, j->key_type_len);
  }
  gss.release_buffer_set(&minor, &set);
  gss_buffer_desc nameb = {0, NULL};
  j->major = gss.display_name(&j->minor, src, &nameb, NULL);
  if (GSS_ERROR(j->major)) {
    describe(j, "gss_display_name");
    goto out;
  }
  j->client = strndup(nameb.value, nameb.length);
  gss.release_buffer(&minor, &nameb);
  if (!j->client) {
    j->major = 0x00090000u;
    snprintf(j->message, sizeof j->message, "out of memory");
  }
out:
  if (GSS_ERROR(j->major) && j->ctx) gss.delete_sec_context(&minor, &j->ctx, NULL);
  if (src) gss.release_name(&minor, &src);
  if (want) gss.release_name(&minor, &want);
  if (cred) gss.release_cred(&minor, &cred);
}

static void job_free(napi_env env, accept_job *j) {
  OM_uint32 minor;
  if (j->ctx) gss.delete_sec_context(&minor, &j->ctx, NULL);
  if (j->output.value) gss.release_buffer(&minor, &j->output);
  if (j->token_ref) napi_delete_reference(env, j->token_ref);
  if (j->work) napi_delete_async_work(env, j->work);
  free(j->client);
  free(j->keytab);
  free(j->principal);
  free(j->rcache);
  memset(j->key, 0, sizeof j->key);
  free(j);
}

#define SET(obj, name, make)                                                                    \
  do {                                                                                          \
    napi_value v_;                                                                              \
    if ((make) != napi_ok || napi_set_named_property(env, obj, name, v_) != napi_ok) goto fail;  \
  } while (0)

static void accept_complete(napi_env env, napi_status status, void *data) {
  accept_job *j = data;
  napi_value r;
  if (napi_create_object(env, &r) != napi_ok) goto fail;
  SET(r, "major", napi_create_uint32(env, j->major, &v_));
  SET(r, "minor", napi_create_uint32(env, j->minor, &v_));
  SET(r, "message", napi_create_string_utf8(env, j->message, NAPI_AUTO_LENGTH, &v_));
  if (j->output.length > 0)
    SET(r, "output", napi_create_buffer_copy(env, j->output.length, j->output.value, NULL, &v_));
  if (!GSS_ERROR(j->major)) {
    SET(r, "principal", napi_create_string_utf8(env, j->client, NAPI_AUTO_LENGTH, &v_));
    SET(r, "sessionKey", napi_create_buffer_copy(env, j->key_len, j->key, NULL, &v_));
    SET(r, "keyType", napi_create_buffer_copy(env, j->key_type_len, j->key_type, NULL, &v_));
    SET(r, "lifetime", napi_create_uint32(env, j->lifetime, &v_));
    SET(r, "flags", napi_create_uint32(env, j->flags, &v_));
    gss_holder *h = calloc(1, sizeof *h);
    if (!h) goto fail;
    napi_value ext;
    if (napi_create_external(env, h, holder_finalize, NULL, &ext) != napi_ok) {
      free(h);
      goto fail;
    }
    h->ctx = j->ctx; /* the holder owns it now */
    j->ctx = NULL;
    if (napi_set_named_property(env, r, "context", ext) != napi_ok) goto fail;
  }
  napi_resolve_deferred(env, j->deferred, r);
  job_free(env, j);
  return;
fail: {
  napi_value msg, err;
  napi_create_string_utf8(env, "gssAccept: cannot build the result", NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_reject_deferred(env, j->deferred, err);
  job_free(env, j);
}
}

static napi_value js_gssAccept(napi_env env, napi_callback_info info) {
  smbts_args a;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  if (!gss_loaded()) {
    napi_throw_error(env, "SMBTS_ERR_GSSAPI_UNAVAILABLE", gss.error);
    return NULL;
  }
  accept_job *j = calloc(1, sizeof *j);
  if (!j) return smbts_throw_errno(env, ENOMEM, "calloc");
  if (!(smbts_arg_bytes(&a, 0, "token", &j->token, &j->token_len) &&
        smbts_arg_path(&a, 1, "keytab", &j->keytab) &&
        smbts_arg_path(&a, 2, "principal", &j->principal) &&
        smbts_arg_path(&a, 3, "rcache", &j->rcache))) {
    job_free(env, j);
    return smbts_args_throw(&a);
  }
  napi_value promise, name;
  if (napi_create_reference(env, a.argv[0], 1, &j->token_ref) != napi_ok ||
      napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "gssAccept", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, accept_execute, accept_complete, j, &j->work) !=
          napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    /* A created Promise is abandoned with the job: the throw below is what the caller sees. */
    job_free(env, j);
    return smbts_throw_napi(env, "gssAccept: queueing the work");
  }
  return promise;
}

/* ---- the mechListMIC (RFC 4178 5) ---- */

static gss_holder *holder_arg(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &p) != napi_ok)
    return NULL;
  return p;
}

static napi_value js_gssGetMic(napi_env env, napi_callback_info info) {
  smbts_args a;
  uint8_t *msg;
  size_t len;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  gss_holder *h = a.argc > 0 ? holder_arg(env, a.argv[0]) : NULL;
  if (!h || !h->ctx || !smbts_arg_bytes(&a, 1, "message", &msg, &len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "gssGetMic(context, message): bad argument");
    return NULL;
  }
  OM_uint32 major, minor;
  gss_buffer_desc in = {len, msg}, out = {0, NULL};
  major = gss.get_mic(&minor, h->ctx, 0, &in, &out);
  if (GSS_ERROR(major)) {
    napi_throw_error(env, "SMBTS_ERR_GSSAPI", "gss_get_mic failed");
    return NULL;
  }
  napi_value r;
  napi_status st = napi_create_buffer_copy(env, out.length, out.value, NULL, &r);
  gss.release_buffer(&minor, &out);
  return st == napi_ok ? r : smbts_throw_napi(env, "gssGetMic");
}

static napi_value js_gssVerifyMic(napi_env env, napi_callback_info info) {
  smbts_args a;
  uint8_t *msg, *mic;
  size_t len, mlen;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  gss_holder *h = a.argc > 0 ? holder_arg(env, a.argv[0]) : NULL;
  if (!h || !h->ctx || !smbts_arg_bytes(&a, 1, "message", &msg, &len) ||
      !smbts_arg_bytes(&a, 2, "mic", &mic, &mlen)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "gssVerifyMic(context, message, mic): bad argument");
    return NULL;
  }
  OM_uint32 minor, qop = 0;
  gss_buffer_desc in = {len, msg}, tok = {mlen, mic};
  OM_uint32 major = gss.verify_mic(&minor, h->ctx, &in, &tok, &qop);
  napi_value r;
  SMBTS_NAPI(env, napi_get_boolean(env, !GSS_ERROR(major), &r));
  return r;
}

static napi_value js_gssRelease(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  SMBTS_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gss_holder *h = argc > 0 ? holder_arg(env, argv[0]) : NULL;
  if (h) holder_delete(h);
  SMBTS_NAPI(env, napi_get_undefined(env, &r));
  return r;
}

static napi_value js_gssAvailable(napi_env env, napi_callback_info info) {
  napi_value r;
  if (gss_loaded()) {
    SMBTS_NAPI(env, napi_get_null(env, &r));
  } else {
    SMBTS_NAPI(env, napi_create_string_utf8(env, gss.error, NAPI_AUTO_LENGTH, &r));
  }
  return r;
}

napi_status smbts_gss_init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"gssAccept", NULL, js_gssAccept, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gssGetMic", NULL, js_gssGetMic, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gssVerifyMic", NULL, js_gssVerifyMic, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gssRelease", NULL, js_gssRelease, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gssAvailable", NULL, js_gssAvailable, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
