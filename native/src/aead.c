/*
 * AES-GCM and AES-CCM over a buffer's own bytes (SMB3 encryption, src/crypto/encryption.ts).
 *
 * node:crypto has no encrypt/decrypt-into: every update() returns a fresh Buffer, which the
 * server copies back over the frame or READ payload it came from. Here the same cipher runs in
 * place. It is the OpenSSL the Node binary itself carries: its EVP functions are looked up with
 * dlsym in the running process (no second OpenSSL linked in, no headers needed). A Node built
 * without them exporting those symbols leaves `aeadAvailable` false and the server on node:crypto.
 *
 * aeadNow(seal, cipher, key, iv, aad, buffers, tag) -> boolean, synchronous:
 *   seal true:  encrypts each buffer over itself, in order, as one message; writes the 16-byte
 *               tag into `tag`. GCM any number of buffers, CCM exactly one, not empty (its
 *               length is part of the first block; OpenSSL checks a CCM tag while decrypting
 *               the data, so an empty message is left to node:crypto).
 *   seal false: decrypts each buffer over itself and checks `tag`; false when the message does
 *               not authenticate (the buffers then hold unauthenticated bytes nobody may use).
 * cipher: SMB's 1 AES-128-CCM, 2 AES-128-GCM, 3 AES-256-CCM, 4 AES-256-GCM; iv 11 (CCM) or 12
 * (GCM) bytes; tag 16 bytes.
 */
#include "smbts.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

typedef struct smbts_evp_ctx EVP_CTX;
typedef struct smbts_evp_cipher EVP_CIPHER_T;

/* EVP_CIPHER_CTX_ctrl types (openssl/evp.h; stable across OpenSSL 1.1 and 3.x). */
#define AEAD_SET_IVLEN 0x9
#define AEAD_GET_TAG 0x10
#define AEAD_SET_TAG 0x11

#define AEAD_TAG_LEN 16
#define AEAD_MAX_BUFFERS 64

static struct {
  EVP_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_CTX *);
  int (*init)(EVP_CTX *, const EVP_CIPHER_T *, void *, const unsigned char *, const unsigned char *, int);
  int (*ctrl)(EVP_CTX *, int, int, void *);
  int (*update)(EVP_CTX *, unsigned char *, int *, const unsigned char *, int);
  int (*final)(EVP_CTX *, unsigned char *, int *);
  const EVP_CIPHER_T *(*cipher[5])(void); /* by SMB cipher id, 1..4 */
  bool ok;
} ossl;

static void aead_resolve(void) {
  void *self = RTLD_DEFAULT;
  ossl.ctx_new = (EVP_CTX * (*)(void)) dlsym(self, "EVP_CIPHER_CTX_new");
  ossl.ctx_free = (void (*)(EVP_CTX *))dlsym(self, "EVP_CIPHER_CTX_free");
  ossl.init = (int (*)(EVP_CTX *, const EVP_CIPHER_T *, void *, const unsigned char *, const unsigned char *, int))dlsym(
      self, "EVP_CipherInit_ex");
  ossl.ctrl = (int (*)(EVP_CTX *, int, int, void *))dlsym(self, "EVP_CIPHER_CTX_ctrl");
  ossl.update = (int (*)(EVP_CTX *, unsigned char *, int *, const unsigned char *, int))dlsym(self, "EVP_CipherUpdate");
  ossl.final = (int (*)(EVP_CTX *, unsigned char *, int *))dlsym(self, "EVP_CipherFinal_ex");
  ossl.cipher[1] = (const EVP_CIPHER_T *(*)(void))dlsym(self, "EVP_aes_128_ccm");
  ossl.cipher[2] = (const EVP_CIPHER_T *(*)(void))dlsym(self, "EVP_aes_128_gcm");
  ossl.cipher[3] = (const EVP_CIPHER_T *(*)(void))dlsym(self, "EVP_aes_256_ccm");
  ossl.cipher[4] = (const EVP_CIPHER_T *(*)(void))dlsym(self, "EVP_aes_256_gcm");
  ossl.ok = ossl.ctx_new && ossl.ctx_free && ossl.init && ossl.ctrl && ossl.update && ossl.final &&
            ossl.cipher[1] && ossl.cipher[2] && ossl.cipher[3] && ossl.cipher[4];
}

static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void *p = NULL;
  napi_value ab;
  size_t off = 0;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &off) != napi_ok || type != napi_uint8_array) return false;
  *data = p;
  return true;
}

/* One message through the cipher. Returns 1 done/authentic, 0 not authentic, -1 OpenSSL refused. */
static int aead_run(bool seal, int cipher, const uint8_t *key, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
                    size_t aadlen, uint8_t **bufs, size_t *lens, uint32_t n, uint8_t *tag) {
  bool ccm = cipher == 1 || cipher == 3;
  EVP_CTX *c = ossl.ctx_new();
  if (!c) return -1;
  int rc = -1, outl = 0;
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) total += lens[i];
  if (ossl.init(c, ossl.cipher[cipher](), NULL, NULL, NULL, seal) != 1) goto out;
  if (ossl.ctrl(c, AEAD_SET_IVLEN, (int)ivlen, NULL) != 1) goto out;
  /* CCM fixes the tag length before the key (and, decrypting, takes the expected tag then). */
  if (ccm && ossl.ctrl(c, AEAD_SET_TAG, AEAD_TAG_LEN, seal ? NULL : tag) != 1) goto out;
  if (ossl.init(c, NULL, NULL, key, iv, seal) != 1) goto out;
  if (ccm && ossl.update(c, NULL, &outl, NULL, (int)total) != 1) goto out; /* CCM: the length first */
  if (aadlen > 0 && ossl.update(c, NULL, &outl, aad, (int)aadlen) != 1) goto out;
  for (uint32_t i = 0; i < n; i++) {
    if (lens[i] == 0) continue;
    int r = ossl.update(c, bufs[i], &outl, bufs[i], (int)lens[i]);
    /* CCM decryption verifies the tag in this (only) update. */
    if (r != 1) {
      rc = ccm && !seal ? 0 : -1;
      goto out;
    }
  }
  if (ccm && !seal) {
    rc = 1;
    goto out;
  }
  if (!seal && ossl.ctrl(c, AEAD_SET_TAG, AEAD_TAG_LEN, tag) != 1) goto out;
  uint8_t spare[32];
  if (ossl.final(c, spare, &outl) != 1) {
    rc = seal ? -1 : 0;
    goto out;
  }
  if (seal && ossl.ctrl(c, AEAD_GET_TAG, AEAD_TAG_LEN, tag) != 1) goto out;
  rc = 1;
out:
  ossl.ctx_free(c);
  return rc;
}

static napi_value js_aeadNow(napi_env env, napi_callback_info info) {
  smbts_args a;
  if (!smbts_args_init(env, info, &a)) return smbts_args_throw(&a);
  if (!ossl.ok) {
    napi_throw_error(env, "SMBTS_ERR_NO_OPENSSL", "aeadNow: this Node does not export OpenSSL's EVP functions");
    return NULL;
  }
  bool seal = false;
  int32_t cipher = 0;
  uint8_t *key, *iv, *aad, *tag;
  size_t keylen, ivlen, aadlen, taglen;
  if (napi_get_value_bool(env, a.argv[0], &seal) != napi_ok || !smbts_arg_int32(&a, 1, "cipher", &cipher) ||
      cipher < 1 || cipher > 4 || !get_bytes(env, a.argv[2], &key, &keylen) || !get_bytes(env, a.argv[3], &iv, &ivlen) ||
      !get_bytes(env, a.argv[4], &aad, &aadlen) || !get_bytes(env, a.argv[6], &tag, &taglen)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "aeadNow(seal, cipher 1..4, key, iv, aad, buffers, tag): bad argument");
    return NULL;
  }
  bool ccm = cipher == 1 || cipher == 3;
  size_t want_key = (cipher == 3 || cipher == 4) ? 32 : 16;
  if (keylen != want_key || ivlen != (ccm ? 11u : 12u) || taglen != AEAD_TAG_LEN || aadlen > INT_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "aeadNow: key, iv or tag length does not fit the cipher");
    return NULL;
  }
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, a.argv[5], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, a.argv[5], &n) != napi_ok || n > AEAD_MAX_BUFFERS || (ccm && n != 1)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "aeadNow: buffers must be an array of up to 64 (CCM: exactly 1)");
    return NULL;
  }
  uint8_t *bufs[AEAD_MAX_BUFFERS];
  size_t lens[AEAD_MAX_BUFFERS];
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, a.argv[5], i, &v) != napi_ok || !get_bytes(env, v, &bufs[i], &lens[i])) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "aeadNow: every buffer must be a Uint8Array");
      return NULL;
    }
    total += lens[i];
  }
  if (total > INT_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "aeadNow: message too long");
    return NULL;
  }
  /* OpenSSL's CCM checks the tag in the update of the data: an empty message has none. */
  if (ccm && total == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "aeadNow: an empty CCM message (node:crypto takes it)");
    return NULL;
  }
  int rc = aead_run(seal, cipher, key, iv, ivlen, aad, aadlen, bufs, lens, n, tag);
  if (rc < 0) {
    napi_throw_error(env, "SMBTS_ERR_OPENSSL", "aeadNow: OpenSSL refused the operation");
    return NULL;
  }
  napi_value out;
  SMBTS_NAPI(env, napi_get_boolean(env, rc == 1, &out));
  return out;
}

napi_status smbts_aead_init(napi_env env, napi_value exports) {
  aead_resolve();
  napi_value avail;
  napi_status st = napi_get_boolean(env, ossl.ok, &avail);
  if (st != napi_ok) return st;
  napi_property_descriptor d[] = {
      {"aeadNow", NULL, js_aeadNow, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadAvailable", NULL, NULL, NULL, NULL, avail, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
