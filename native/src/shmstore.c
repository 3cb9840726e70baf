/*
 * The shared record store (src/locking/record-db.ts ShmRecordDb): one file, mapped MAP_SHARED by
 * every worker process (on /dev/shm by default: memory, gone at reboot, which is what state about
 * open handles wants), holding a hash table of variable-length records keyed by byte strings.
 *
 * Layout (every reference inside the file is an offset from its start, since each process maps it
 * at its own address):
 *
 *   header   magic, version, sizes of the things whose layout processes must agree on, the hash
 *            seed, and the allocator: its robust mutex, the bump offset, one free list per class
 *   chains   nchains x 64 bytes: a process-shared robust mutex, the chain's first record, and two
 *            intent slots (pend_new, pend_old) naming the blocks an update is moving
 *   heap     blocks: a 32-byte header (size class, state, next, hash, key and value lengths)
 *            followed by the key and the value
 *
 * Locking: a record is updated under its chain's mutex, taken by storeLock and released by
 * storeWriteUnlock/storeUnlock on the same handle, with the caller's (synchronous) function run in
 * between. The mutexes are ROBUST: when their owner dies, the next locker gets EOWNERDEAD, marks
 * the mutex consistent and goes on; nothing the dead process meant to write is visible unless it
 * was published, since a record is never written in place:
 *
 *   1. a fresh block is taken from the allocator straight into the chain's pend_new slot,
 *   2. the new key and value are written into it,
 *   3. the old block (if any) is named in pend_old,
 *   4. ONE aligned 8-byte store publishes the change (the link that pointed at the old record, or
 *      the chain head, now points at the new one; for a delete, past the old one),
 *   5. pend_new is cleared, and the old block freed (pend_old cleared first, then pushed).
 *
 * A process killed anywhere in 1-5 leaves the chain as before step 4 or as after it. The next
 * locker (EOWNERDEAD) frees what the intent slots name that is no longer reachable from the chain:
 * the new block of an update that was never published, the old block of one that was. Slots are
 * always cleared before the block they name is freed, so a death costs at worst a leaked block
 * (in the few instructions between taking a block and recording it), never a double free.
 *
 * The allocator: size classes four per power of two (64, 80, 96, 112, 128, 160, ...), each with a
 * free list (push and pop are each one published store), above a bump pointer; a block keeps its
 * class for life. A request no class list nor the bump can serve borrows a block of a larger
 * class; none left is SMBTS_ERR_STORE_FULL, and the store stays usable. Its mutex is robust too.
 *
 * Everything here runs on the calling JS thread, synchronously; a lock waits at most the handle's
 * lock timeout (then SMBTS_ERR_STORE_BUSY: a live process stuck inside an update).
 */
#include "smbts.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_MAGIC 0x3154535354424d53ULL /* "SMBTSST1" read as little-endian bytes */
#define STORE_VERSION 1
#define STORE_KEY_MAX 65536u
#define STORE_VALUE_MAX (16u << 20)
#define STORE_MIN_SIZE (1u << 20)
#define STORE_MAX_CHAINS (1u << 20)

/* Size classes: 2^e + k * 2^(e-2) for e = 6.. and k = 0..3; the largest holds a maximal record. */
#define CLASS_MIN_SHIFT 6
#define NCLASSES 80

#define BLK_USED 0x55534544u /* "DESU" */
#define BLK_FREE 0x45455246u /* "FREE" */

typedef struct blk {
  uint32_t cls;
  uint32_t state;
  uint64_t next; /* a record: the chain's next record; a free block: the next free block */
  uint64_t hash;
  uint32_t klen;
  uint32_t vlen;
  uint8_t data[]; /* key, then value */
} blk;

typedef struct chain {
  pthread_mutex_t mu;
  uint64_t head;
  uint64_t pend_new;
  uint64_t pend_old;
} __attribute__((aligned(64))) chain;

typedef struct store_hdr {
  uint64_t magic;
  uint32_t version;
  uint32_t hdr_size;
  uint64_t size;
  /* What processes must agree on to share the file (a different build or libc would differ). */
  uint32_t mutex_size;
  uint32_t chain_size;
  uint32_t blk_size;
  uint32_t nclasses;
  uint32_t nchains;
  uint32_t pad;
  uint64_t seed;
  uint64_t chains_off;
  uint64_t heap_off;
  pthread_mutex_t alloc_mu __attribute__((aligned(64)));
  uint64_t bump;
  uint64_t free_head[NCLASSES];
} store_hdr;

_Static_assert(sizeof(blk) == 32, "block header is 32 bytes");
_Static_assert(sizeof(chain) == 64, "a chain is one cache line");

#define HANDLE_MAGIC 0x534d4254535354ULL

typedef struct store {
  uint64_t magic; /* HANDLE_MAGIC while open, so a stale or foreign external is refused */
  uint8_t *base;
  size_t size;
  store_hdr *hdr;
  chain *chains;
  uint32_t mask;
  int64_t timeout_ns;
  /* The lock this handle holds between storeLock and storeWriteUnlock/storeUnlock. */
  chain *locked;
  uint64_t *link;  /* the slot pointing at `found` (or the chain head when nothing was found) */
  uint64_t found;  /* offset of the key's record, 0 when it has none */
  uint64_t hash;
  uint32_t klen;
  uint8_t *key;    /* STORE_KEY_MAX + 2 bytes: the key being looked up or held */
} store;

/* ---- errors ---- */

static napi_value throw_code(napi_env env, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static napi_value throw_code(napi_env env, const char *code, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, code, msg);
  return NULL;
}

/* ---- hashing ---- */

/* 64x64->128 multiply, folded: the mixing step of the key hash. */
static inline uint64_t fold(uint64_t a, uint64_t b) {
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint64_t load_tail(const uint8_t *p, size_t n) { /* n < 8 */
  uint64_t v = 0;
  memcpy(&v, p, n);
  return v;
}

/* Keys are names clients choose: seeded (a random per-store seed), so that nobody can aim many
 * keys at one chain without knowing it; 16 bytes per multiply. */
static uint64_t key_hash(uint64_t seed, const uint8_t *p, size_t n) {
  const uint64_t k0 = 0x9e3779b97f4a7c15ULL, k1 = 0xc2b2ae3d27d4eb4fULL,
                 k2 = 0x165667b19e3779f9ULL, k3 = 0xd6e8feb86659fd93ULL;
  uint64_t h = fold(seed ^ k0, (uint64_t)n ^ k1);
  size_t len = n;
  while (len >= 16) {
    h = fold(load64(p) ^ k2 ^ h, load64(p + 8) ^ k3);
    p += 16;
    len -= 16;
  }
  uint64_t a, b = 0;
  if (len >= 8) {
    a = load64(p);
    b = load_tail(p + 8, len - 8);
  } else {
    a = load_tail(p, len);
  }
  h = fold(a ^ k2 ^ h, b ^ k3 ^ (uint64_t)n);
  return fold(h ^ k0, k1);
}

/* ---- size classes ---- */

static inline uint64_t class_size(uint32_t c) {
  uint32_t e = CLASS_MIN_SHIFT + c / 4;
  return (1ULL << e) + (uint64_t)(c % 4) * (1ULL << (e - 2));
}

static uint32_t class_of(uint64_t n) {
  if (n <= (1u << CLASS_MIN_SHIFT)) return 0;
  uint32_t e = 63 - (uint32_t)__builtin_clzll(n); /* 2^e <= n < 2^(e+1) */
  uint64_t rest = n - (1ULL << e), step = 1ULL << (e - 2);
  uint32_t k = (uint32_t)((rest + step - 1) / step);
  return (e - CLASS_MIN_SHIFT) * 4 + k; /* k == 4 is the next power's first class */
}

/* ---- offsets ---- */

static inline blk *blk_at(store *s, uint64_t off) { return (blk *)(s->base + off); }

/* An offset found in the file is trusted only inside the heap and 16-byte aligned: a torn or
 * foreign file must give an error, never a wild pointer. */
static inline bool off_ok(store *s, uint64_t off) {
  return off >= s->hdr->heap_off && off <= s->size - sizeof(blk) && (off & 15) == 0;
}

/* A record read from the file: its key and value must lie inside the file too. */
static inline bool rec_ok(store *s, uint64_t off) {
  blk *b = blk_at(s, off);
  return (uint64_t)b->klen + b->vlen <= s->size - off - sizeof(blk);
}

static inline void publish(uint64_t *slot, uint64_t v) {
  __atomic_store_n(slot, v, __ATOMIC_RELEASE);
}

/* ---- robust locks ---- */

static int mutex_init_shared(pthread_mutex_t *mu) {
  pthread_mutexattr_t at;
  int r = pthread_mutexattr_init(&at);
  if (r) return r;
  if (!(r = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED)) &&
      !(r = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST)) &&
      /* ERRORCHECK: a second lock from the same thread (another handle on the same file, same
       * chain) is EDEADLK rather than a hang. */
      !(r = pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK))) {
    r = pthread_mutex_init(mu, &at);
  }
  pthread_mutexattr_destroy(&at);
  return r;
}

/* Locks mu: 0, or EOWNERDEAD (the lock is ours and consistent again; the caller repairs), or an
 * errno (ETIMEDOUT after the handle's timeout, EDEADLK, ENOTRECOVERABLE). */
static int robust_lock(store *s, pthread_mutex_t *mu) {
  int r = pthread_mutex_trylock(mu);
  if (r == EBUSY) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + s->timeout_ns;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    do r = pthread_mutex_clocklock(mu, CLOCK_MONOTONIC, &ts);
    while (r == EINTR);
  }
  if (r == EOWNERDEAD) pthread_mutex_consistent(mu);
  return r;
}

static napi_value throw_lock(napi_env env, int r) {
  if (r == ETIMEDOUT) {
    return throw_code(env, "SMBTS_ERR_STORE_BUSY",
                      "shared store: a record stayed locked past the lock timeout (a process "
                      "stuck inside an update?)");
  }
  if (r == EDEADLK) {
    return throw_code(env, "SMBTS_ERR_STORE_LOCK",
                      "shared store: this thread already holds that record's lock (update() "
                      "inside update()?)");
  }
  return smbts_throw_errno(env, r, "pthread_mutex_lock");
}

/* ---- allocator ---- */

/* Frees the block named by *slot: the slot is cleared first, then the block pushed, so a death
 * between the two leaks the block rather than freeing it twice. Caller holds the chain lock. */
static int block_free(store *s, uint64_t *slot) {
  uint64_t off = *slot;
  if (!off) return 0;
  store_hdr *h = s->hdr;
  int r = robust_lock(s, &h->alloc_mu);
  if (r && r != EOWNERDEAD) return r;
  publish(slot, 0);
  blk *b = blk_at(s, off);
  if (b->cls < NCLASSES && b->state == BLK_USED) {
    b->state = BLK_FREE;
    b->next = h->free_head[b->cls];
    publish(&h->free_head[b->cls], off);
  }
  pthread_mutex_unlock(&h->alloc_mu);
  return 0;
}

/* Takes a block for `need` bytes into *slot (a chain's pend_new) before anyone else can see it.
 * 0, ENOSPC (full), or a lock errno. */
static int block_alloc(store *s, uint64_t need, uint64_t *slot) {
  store_hdr *h = s->hdr;
  uint32_t c = class_of(need);
  if (c >= NCLASSES) return ENOSPC;
  int r = robust_lock(s, &h->alloc_mu);
  if (r && r != EOWNERDEAD) return r;
  uint64_t off = 0;
  uint32_t cls = c;
  if (!h->free_head[c] && h->bump <= s->size && s->size - h->bump >= class_size(c)) {
    off = h->bump;
    blk_at(s, off)->cls = c;
    publish(&h->bump, off + class_size(c));
  } else {
    /* This class's list, else a larger class's: a borrowed block keeps its own class. */
    while (cls < NCLASSES && !h->free_head[cls]) cls++;
    if (cls < NCLASSES) {
      off = h->free_head[cls];
      if (!off_ok(s, off)) {
        pthread_mutex_unlock(&h->alloc_mu);
        return EUCLEAN;
      }
      publish(&h->free_head[cls], blk_at(s, off)->next);
    }
  }
  if (off) {
    blk_at(s, off)->state = BLK_USED;
    publish(slot, off);
  }
  pthread_mutex_unlock(&h->alloc_mu);
  return off ? 0 : ENOSPC;
}

/* ---- chains ---- */

static bool chain_reaches(store *s, chain *c, uint64_t off) {
  for (uint64_t o = c->head; o && off_ok(s, o); o = blk_at(s, o)->next) {
    if (o == off) return true;
  }
  return false;
}

/* After EOWNERDEAD: the dead owner's intent slots name blocks it was moving; free the ones the
 * chain no longer (pend_old) or never (pend_new) reaches. */
static void chain_repair(store *s, chain *c) {
  if (c->pend_new && !chain_reaches(s, c, c->pend_new)) block_free(s, &c->pend_new);
  publish(&c->pend_new, 0);
  if (c->pend_old && !chain_reaches(s, c, c->pend_old)) block_free(s, &c->pend_old);
  publish(&c->pend_old, 0);
}

static int chain_lock(store *s, chain *c) {
  int r = robust_lock(s, &c->mu);
  if (r == EOWNERDEAD) {
    chain_repair(s, c);
    r = 0;
  }
  return r;
}

static inline chain *chain_of(store *s, uint64_t hash) {
  return &s->chains[(uint32_t)(hash >> 32) & s->mask];
}

/* Finds s->key (s->klen bytes, s->hash) in c: sets s->found and s->link. false: a bad offset. */
static bool chain_find(store *s, chain *c) {
  uint64_t *link = &c->head;
  uint64_t o;
  while ((o = *link) != 0) {
    if (!off_ok(s, o) || !rec_ok(s, o)) return false;
    blk *b = blk_at(s, o);
    if (b->hash == s->hash && b->klen == s->klen && memcmp(b->data, s->key, s->klen) == 0) break;
    link = &b->next;
  }
  s->found = o;
  s->link = o ? link : &c->head;
  return true;
}

/* ---- handles ---- */

static void store_unmap(store *s) {
  if (s->locked) {
    pthread_mutex_unlock(&s->locked->mu);
    s->locked = NULL;
  }
  if (s->base) munmap(s->base, s->size);
  s->base = NULL;
  s->magic = 0;
}

static void store_finalize(napi_env env, void *data, void *hint) {
  store *s = data;
  store_unmap(s);
  free(s->key);
  free(s);
}

static napi_value wrap_store(napi_env env, uint8_t *base, size_t size, int64_t timeout_ns) {
  store *s = calloc(1, sizeof *s);
  uint8_t *key = malloc(STORE_KEY_MAX + 2);
  if (!s || !key) {
    free(s);
    free(key);
    munmap(base, size);
    return smbts_throw_errno(env, ENOMEM, "malloc");
  }
  s->magic = HANDLE_MAGIC;
  s->base = base;
  s->size = size;
  s->hdr = (store_hdr *)base;
  s->chains = (chain *)(base + s->hdr->chains_off);
  s->mask = s->hdr->nchains - 1;
  s->timeout_ns = timeout_ns;
  s->key = key;
  napi_value ext;
  if (napi_create_external(env, s, store_finalize, NULL, &ext) != napi_ok) {
    store_finalize(env, s, NULL);
    return smbts_throw_napi(env, "napi_create_external");
  }
  return ext;
}

/* The handle in argv[0], open; NULL with an exception pending otherwise. */
static store *get_store(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a store handle");
    return NULL;
  }
  store *s = p;
  if (s->magic != HANDLE_MAGIC) {
    throw_code(env, "SMBTS_ERR_STORE_CLOSED", "shared store: the handle is closed");
    return NULL;
  }
  return s;
}

/* Reads the key argument into s->key and hashes it. */
static bool get_key(napi_env env, store *s, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, (char *)s->key, STORE_KEY_MAX + 2, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "the key must be a string");
    return false;
  }
  if (len > STORE_KEY_MAX) {
    throw_code(env, "ERR_OUT_OF_RANGE", "shared store: a key is at most %u bytes (UTF-8)",
               STORE_KEY_MAX);
    return false;
  }
  s->klen = (uint32_t)len;
  s->hash = key_hash(s->hdr->seed, s->key, len);
  return true;
}

static int64_t timeout_arg(napi_env env, napi_value v) {
  double ms = 0;
  if (napi_get_value_double(env, v, &ms) != napi_ok || !(ms > 0)) ms = 10000;
  if (ms > 86400000.0) ms = 86400000.0;
  return (int64_t)(ms * 1e6);
}

/* storeCreate(path, sizeBytes, chains, lockTimeoutMs) -> handle. Builds the file beside `path`
 * and renames it into place: a process still mapping an older file keeps it, and no process can
 * open a half-initialised one. The whole size is allocated now (posix_fallocate): on tmpfs a page
 * that cannot be had later would be a SIGBUS, not an error. */
static napi_value js_storeCreate(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *path = NULL;
  int64_t size = 0;
  uint32_t nchains = 0;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_path(&a, 0, "path", &path) ||
      !smbts_arg_int64(&a, 1, "sizeBytes", STORE_MIN_SIZE, (int64_t)1 << 40, &size) ||
      !smbts_arg_uint32(&a, 2, "chains", &nchains)) {
    free(path);
    return smbts_args_throw(&a);
  }
  if (nchains == 0 || nchains > STORE_MAX_CHAINS || (nchains & (nchains - 1))) {
    free(path);
    return throw_code(env, "ERR_OUT_OF_RANGE", "chains must be a power of two, 1..%u",
                      STORE_MAX_CHAINS);
  }
  int64_t timeout_ns = timeout_arg(env, a.argv[3]);
  size = (size + 4095) & ~(int64_t)4095;
  uint64_t chains_off = (sizeof(store_hdr) + 63) & ~(uint64_t)63;
  uint64_t heap_off = (chains_off + (uint64_t)nchains * sizeof(chain) + 4095) & ~(uint64_t)4095;
  if (heap_off + (1u << 16) > (uint64_t)size) {
    free(path);
    return throw_code(env, "ERR_OUT_OF_RANGE", "sizeBytes too small for %u chains", nchains);
  }
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (!tmp) {
    free(path);
    return smbts_throw_errno(env, ENOMEM, "malloc");
  }
  snprintf(tmp, plen + 32, "%s.%d.tmp", path, (int)getpid());
  const char *sc = "open";
  int err = 0;
  uint8_t *base = MAP_FAILED;
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = errno;
    goto out;
  }
  sc = "posix_fallocate";
  if ((err = posix_fallocate(fd, 0, size)) != 0) goto out;
  sc = "mmap";
  base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    err = errno;
    goto out;
  }
  store_hdr *h = (store_hdr *)base;
  h->version = STORE_VERSION;
  h->hdr_size = sizeof(store_hdr);
  h->size = (uint64_t)size;
  h->mutex_size = sizeof(pthread_mutex_t);
  h->chain_size = sizeof(chain);
  h->blk_size = sizeof(blk);
  h->nclasses = NCLASSES;
  h->nchains = nchains;
  h->chains_off = chains_off;
  h->heap_off = heap_off;
  h->bump = heap_off;
  sc = "getrandom";
  if (getrandom(&h->seed, sizeof h->seed, 0) != sizeof h->seed) {
    err = errno;
    goto out;
  }
  sc = "pthread_mutex_init";
  if ((err = mutex_init_shared(&h->alloc_mu)) != 0) goto out;
  chain *chains = (chain *)(base + chains_off);
  for (uint32_t i = 0; i < nchains; i++) {
    if ((err = mutex_init_shared(&chains[i].mu)) != 0) goto out;
  }
  publish(&h->magic, STORE_MAGIC); /* last: a file with the magic is complete */
  sc = "rename";
  if (rename(tmp, path) < 0) err = errno;
out:
  if (fd >= 0) close(fd);
  if (err) {
    if (base != MAP_FAILED) munmap(base, size);
    unlink(tmp);
  }
  free(tmp);
  free(path);
  if (err) return smbts_throw_errno(env, err, sc);
  return wrap_store(env, base, (size_t)size, timeout_ns);
}

/* storeOpen(path, lockTimeoutMs) -> handle, for a file storeCreate made (in any process). */
static napi_value js_storeOpen(napi_env env, napi_callback_info info) {
  smbts_args a;
  char *path = NULL;
  if (!smbts_args_init(env, info, &a) || !smbts_arg_path(&a, 0, "path", &path)) {
    free(path);
    return smbts_args_throw(&a);
  }
  int64_t timeout_ns = timeout_arg(env, a.argv[1]);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  free(path);
  if (fd < 0) return smbts_throw_errno(env, errno, "open");
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int err = errno;
    close(fd);
    return smbts_throw_errno(env, err, "fstat");
  }
  if (st.st_size < (off_t)sizeof(store_hdr)) {
    close(fd);
    return throw_code(env, "SMBTS_ERR_STORE_FORMAT", "shared store: not a store file (too short)");
  }
  uint8_t *base = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (base == MAP_FAILED) return smbts_throw_errno(env, err, "mmap");
  store_hdr *h = (store_hdr *)base;
  const char *why = NULL;
  if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != STORE_MAGIC) why = "not a store file";
  else if (h->version != STORE_VERSION) why = "another version of the store";
  else if (h->hdr_size != sizeof(store_hdr) || h->mutex_size != sizeof(pthread_mutex_t) ||
           h->chain_size != sizeof(chain) || h->blk_size != sizeof(blk) ||
           h->nclasses != NCLASSES) {
    why = "another build's layout";
  } else if (h->size != (uint64_t)st.st_size) why = "its size differs from its header's";
  else if (!h->nchains || (h->nchains & (h->nchains - 1)) || h->nchains > STORE_MAX_CHAINS ||
           h->chains_off < sizeof(store_hdr) ||
           h->heap_off < h->chains_off + (uint64_t)h->nchains * sizeof(chain) ||
           h->heap_off >= h->size) {
    why = "a damaged header";
  }
  if (why) {
    munmap(base, st.st_size);
    return throw_code(env, "SMBTS_ERR_STORE_FORMAT", "shared store: %s", why);
  }
  return wrap_store(env, base, (size_t)st.st_size, timeout_ns);
}

/* Copies the value of the record at `off` into out (when it fits) and returns its length, -1 for
 * no record: a number and a caller-owned Buffer, since making a Buffer per call
 * (napi_create_buffer_copy) costs about a microsecond here, as much as the rest of the call. */
static napi_value value_out(napi_env env, store *s, uint64_t off, uint8_t *out, size_t outlen) {
  napi_value v;
  if (!off) {
    napi_create_int32(env, -1, &v);
    return v;
  }
  blk *b = blk_at(s, off);
  if (b->vlen <= outlen) memcpy(out, b->data + b->klen, b->vlen);
  napi_create_uint32(env, b->vlen, &v);
  return v;
}

static bool out_arg(napi_env env, napi_value v, uint8_t **out, size_t *outlen) {
  void *p = NULL;
  if (napi_get_buffer_info(env, v, &p, outlen) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "out must be a Buffer");
    return false;
  }
  *out = p;
  return true;
}

static napi_value throw_corrupt(napi_env env) {
  return throw_code(env, "SMBTS_ERR_STORE_CORRUPT",
                    "shared store: a record link points outside the heap");
}

/* storeLock(h, key, out) -> length | -1: locks key's chain for this handle, copies the value into
 * out when it fits and returns its length (-1: no record). A value longer than out is copied by
 * storeValue. The lock stays held until storeWriteUnlock or storeUnlock on this handle. */
static napi_value js_storeLock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  uint8_t *out;
  size_t outlen;
  if (!out_arg(env, argv[2], &out, &outlen)) return NULL;
  if (s->locked) {
    return throw_code(env, "SMBTS_ERR_STORE_LOCK",
                      "shared store: this handle already holds a lock (update() inside update()?)");
  }
  if (!get_key(env, s, argv[1])) return NULL;
  chain *c = chain_of(s, s->hash);
  int r = chain_lock(s, c);
  if (r) return throw_lock(env, r);
  if (!chain_find(s, c)) {
    pthread_mutex_unlock(&c->mu);
    return throw_corrupt(env);
  }
  s->locked = c;
  return value_out(env, s, s->found, out, outlen);
}

/* storeValue(h, out): copies the held record's value into out (as long as storeLock said). */
static napi_value js_storeValue(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  uint8_t *out;
  size_t outlen;
  if (!out_arg(env, argv[1], &out, &outlen)) return NULL;
  if (!s->locked) return throw_code(env, "SMBTS_ERR_STORE_LOCK", "shared store: no lock held");
  return value_out(env, s, s->found, out, outlen);
}

/* storeUnlock(h): releases the handle's lock, writing nothing. */
static napi_value js_storeUnlock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  if (!s->locked) return throw_code(env, "SMBTS_ERR_STORE_LOCK", "shared store: no lock held");
  pthread_mutex_unlock(&s->locked->mu);
  s->locked = NULL;
  return NULL;
}

/* storeWriteUnlock(h, value: Buffer | null): stores value as the held key's record (null deletes
 * it) and releases the lock, which is released also when this throws (SMBTS_ERR_STORE_FULL: the
 * record is left as it was). */
static napi_value js_storeWriteUnlock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  chain *c = s->locked;
  if (!c) return throw_code(env, "SMBTS_ERR_STORE_LOCK", "shared store: no lock held");
  s->locked = NULL;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  bool del = t == napi_null || t == napi_undefined;
  void *val = NULL;
  size_t vlen = 0;
  if (!del) {
    bool isbuf = false;
    if (napi_is_buffer(env, argv[1], &isbuf) != napi_ok || !isbuf ||
        napi_get_buffer_info(env, argv[1], &val, &vlen) != napi_ok) {
      pthread_mutex_unlock(&c->mu);
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "the value must be a Buffer or null");
      return NULL;
    }
    if (vlen > STORE_VALUE_MAX) {
      pthread_mutex_unlock(&c->mu);
      return throw_code(env, "ERR_OUT_OF_RANGE", "shared store: a value is at most %u bytes",
                        STORE_VALUE_MAX);
    }
  }
  uint64_t old = s->found;
  int r = 0;
  if (del) {
    if (old) {
      publish(&c->pend_old, old);
      publish(s->link, blk_at(s, old)->next);
      r = block_free(s, &c->pend_old);
    }
  } else {
    r = block_alloc(s, sizeof(blk) + s->klen + vlen, &c->pend_new);
    if (!r) {
      uint64_t off = c->pend_new;
      blk *b = blk_at(s, off);
      b->hash = s->hash;
      b->klen = s->klen;
      b->vlen = (uint32_t)vlen;
      memcpy(b->data, s->key, s->klen);
      if (vlen) memcpy(b->data + s->klen, val, vlen);
      if (old) {
        b->next = blk_at(s, old)->next;
        publish(&c->pend_old, old);
      } else {
        b->next = c->head;
      }
      publish(s->link, off); /* the one store that makes the update visible */
      publish(&c->pend_new, 0);
      if (old) r = block_free(s, &c->pend_old);
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (r == ENOSPC) {
    return throw_code(env, "SMBTS_ERR_STORE_FULL",
                      "shared store full: no room for a %zu-byte record (%zu bytes in all)",
                      sizeof(blk) + s->klen + vlen, s->size);
  }
  if (r == EUCLEAN) return throw_corrupt(env);
  if (r) return throw_lock(env, r);
  return NULL;
}

/* storeRead(h, key, out) -> length | -1: storeLock's copy under the chain's lock, released at
 * once (not taken when this handle holds it: read() inside an update's function). A value longer
 * than out is not copied: call again with a larger out. */
static napi_value js_storeRead(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  uint8_t *out;
  size_t outlen;
  if (!out_arg(env, argv[2], &out, &outlen)) return NULL;
  /* get_key overwrites the held key's bytes: keep them aside while a lock is held. */
  chain *held = s->locked;
  uint64_t hold_hash = s->hash, hold_found = s->found, *hold_link = s->link;
  uint32_t hold_klen = s->klen;
  uint8_t *saved = NULL;
  if (held) {
    saved = malloc(hold_klen ? hold_klen : 1);
    if (!saved) return smbts_throw_errno(env, ENOMEM, "malloc");
    memcpy(saved, s->key, hold_klen);
  }
  napi_value v = NULL;
  if (get_key(env, s, argv[1])) {
    chain *c = chain_of(s, s->hash);
    int r = c == held ? 0 : chain_lock(s, c);
    if (r) {
      throw_lock(env, r);
    } else {
      if (!chain_find(s, c)) throw_corrupt(env);
      else v = value_out(env, s, s->found, out, outlen);
      if (c != held) pthread_mutex_unlock(&c->mu);
    }
  }
  if (held) {
    memcpy(s->key, saved, hold_klen);
    free(saved);
    s->klen = hold_klen;
    s->hash = hold_hash;
    s->found = hold_found;
    s->link = hold_link;
  }
  return v;
}

/* storeKeys(h) -> string[]: every key, each chain read under its lock. */
static napi_value js_storeKeys(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  napi_value arr, k;
  SMBTS_NAPI(env, napi_create_array(env, &arr));
  uint32_t n = 0;
  for (uint32_t i = 0; i <= s->mask; i++) {
    chain *c = &s->chains[i];
    int r = c == s->locked ? 0 : chain_lock(s, c);
    if (r) return throw_lock(env, r);
    bool ok = true;
    uint64_t o;
    for (o = c->head; o && off_ok(s, o) && rec_ok(s, o) && ok; o = blk_at(s, o)->next) {
      blk *b = blk_at(s, o);
      ok = napi_create_string_utf8(env, (const char *)b->data, b->klen, &k) == napi_ok &&
           napi_set_element(env, arr, n++, k) == napi_ok;
    }
    if (c != s->locked) pthread_mutex_unlock(&c->mu);
    if (!ok) return smbts_throw_napi(env, "building the key list");
    if (o) return throw_corrupt(env);
  }
  return arr;
}

/* storeStats(h) -> { sizeBytes, heapBytes, bumpBytes, chains }: bumpBytes is the heap ever
 * carved into blocks; it stops growing once freed blocks are being reused. */
static napi_value js_storeStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (!s) return NULL;
  napi_value o, v;
  SMBTS_NAPI(env, napi_create_object(env, &o));
  SMBTS_NAPI(env, napi_create_double(env, (double)s->size, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "sizeBytes", v));
  SMBTS_NAPI(env, napi_create_double(env, (double)(s->size - s->hdr->heap_off), &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "heapBytes", v));
  uint64_t bump = __atomic_load_n(&s->hdr->bump, __ATOMIC_ACQUIRE);
  SMBTS_NAPI(env, napi_create_double(env, (double)(bump - s->hdr->heap_off), &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "bumpBytes", v));
  SMBTS_NAPI(env, napi_create_uint32(env, s->hdr->nchains, &v));
  SMBTS_NAPI(env, napi_set_named_property(env, o, "chains", v));
  return o;
}

/* storeClose(h): releases a held lock (writing nothing) and unmaps; later calls on h throw
 * SMBTS_ERR_STORE_CLOSED. The file stays for the other processes (the creator removes it). */
static napi_value js_storeClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  store *s = get_store(env, argv[0]);
  if (s) store_unmap(s);
  return NULL;
}

napi_status smbts_shmstore_init(napi_env env, napi_value exports) {
#define FN(js) {#js, NULL, js_##js, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor d[] = {FN(storeCreate), FN(storeOpen),  FN(storeLock),
                                  FN(storeValue),  FN(storeUnlock), FN(storeWriteUnlock), FN(storeRead),
                                  FN(storeKeys),   FN(storeStats), FN(storeClose)};
#undef FN
  return napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
