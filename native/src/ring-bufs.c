/*
 * Buffers the ring holds beyond one op: registered buffers (registerBuffers, setBuffer; readFixed
 * in ring-ops.c reads into them) and provided-buffer groups (createBufGroup, provideBuffer,
 * destroyBufGroup) with the multishot recv that takes from them. The ring's other files: ring.c
 * has the map; ring-wait.c's header comment is the design.
 */
#include "ring-internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* registerBuffers(slots): a sparse table of `slots` registered buffers (io_uring pins their
 * pages once, so a READ_FIXED into one skips pinning them per op). Once per ring. */
static napi_value js_ring_register_buffers(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t slots;
  if (!smbts_arg_uint32(&a, 0, "slots", &slots)) return smbts_args_throw(&a);
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (r->nbufs) return ring_throw(env, "SMBTS_ERR_RING_BUFFERS", "buffers are already registered");
  if (slots < 1 || slots > 16384) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "slots must be 1..16384");
    return NULL;
  }
  napi_ref *refs = calloc(slots, sizeof *refs);
  if (!refs) return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
  int ret = io_uring_register_buffers_sparse(&r->ring, slots);
  if (ret < 0) {
    free(refs);
    return smbts_throw_errno(env, -ret, "io_uring_register_buffers_sparse");
  }
  r->buf_refs = refs;
  r->nbufs = slots;
  return NULL;
}

/* setBuffer(index, buffer | null): registers `buffer` in slot `index` (held until replaced), or
 * empties the slot. An op already in flight on the old buffer keeps its pages (the kernel waits
 * for it) and its own reference to the Buffer. */
static napi_value js_ring_set_buffer(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t index;
  if (!smbts_arg_uint32(&a, 0, "index", &index)) return smbts_args_throw(&a);
  if (index >= r->nbufs) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "index is not a registered-buffer slot");
    return NULL;
  }
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  napi_valuetype t = napi_undefined;
  napi_typeof(env, a.argv[1], &t);
  struct iovec iov = {NULL, 0};
  if (t != napi_null && t != napi_undefined) {
    uint8_t *data;
    size_t len;
    if (!smbts_arg_bytes(&a, 1, "buffer", &data, &len)) return smbts_args_throw(&a);
    if (len == 0) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "an empty buffer cannot be registered");
      return NULL;
    }
    iov.iov_base = data;
    iov.iov_len = len;
  }
  __u64 tag = 0;
  int ret = io_uring_register_buffers_update_tag(&r->ring, index, &iov, &tag, 1);
  if (ret < 0) return smbts_throw_errno(env, -ret, "io_uring_register_buffers_update_tag");
  if (r->buf_refs[index]) napi_delete_reference(env, r->buf_refs[index]);
  r->buf_refs[index] = NULL;
  if (iov.iov_base && napi_create_reference(env, a.argv[1], 1, &r->buf_refs[index]) != napi_ok) {
    return smbts_throw_napi(env, "napi_create_reference");
  }
  return NULL;
}

/* ---- provided-buffer groups and multishot recv ----
 *
 * A connection receives small frames through one multishot recv that stays armed across
 * requests (no SQE, no submit per request). Its data goes into the span its group was last given
 * (provideBuffer): one span at a time, the next given by the caller after the CQE that filled the
 * last one, so the caller decides where every byte lands (the free tail of its receive arena: no
 * copy). With no span given the multishot ends with -ENOBUFS, which the caller takes as a cue to
 * arm it again (or to receive a large frame another way). */

/* createBufGroup() -> bgid: a one-entry buffer ring registered with the kernel, empty. */
static napi_value js_ring_create_buf_group(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (r->groups_free == RING_NO_SLOT || r->groups_free >= r->ngroups) {
    uint32_t n = r->ngroups ? r->ngroups * 2 : 64;
    if (n > RING_MAX_BUF_GROUPS) n = RING_MAX_BUF_GROUPS;
    if (n <= r->ngroups) return ring_throw(env, "SMBTS_ERR_RING_FULL", "every provided-buffer group is in use");
    ring_buf_group *g = realloc(r->groups, (size_t)n * sizeof *g);
    if (!g) return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
    memset(g + r->ngroups, 0, (size_t)(n - r->ngroups) * sizeof *g);
    for (uint32_t i = r->ngroups; i < n; i++) g[i].next_free = i + 1 < n ? i + 1 : RING_NO_SLOT;
    r->groups = g;
    r->groups_free = r->ngroups;
    r->ngroups = n;
  }
  uint32_t id = r->groups_free;
  ring_buf_group *g = &r->groups[id];
  void *mem = NULL;
  long page = sysconf(_SC_PAGESIZE);
  if (posix_memalign(&mem, page > 0 ? (size_t)page : 4096, page > 0 ? (size_t)page : 4096) != 0) {
    return ring_throw(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
  }
  memset(mem, 0, page > 0 ? (size_t)page : 4096);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)mem;
  reg.ring_entries = 1;
  reg.bgid = (uint16_t)id;
  int ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
  if (ret < 0) {
    free(mem);
    return smbts_throw_errno(env, -ret, "io_uring_register_buf_ring");
  }
  r->groups_free = g->next_free;
  g->used = true;
  g->registered = true;
  g->br = mem;
  io_uring_buf_ring_init(g->br);
  g->ref = NULL;
  g->inflight = 0;
  g->outstanding = false;
  napi_value v;
  napi_create_uint32(env, id, &v);
  return v;
}

/* The group at argument i, or NULL with a JS exception pending. */
static ring_buf_group *group_arg(smbts_ring *r, smbts_args *a, size_t i, uint32_t *id) {
  if (!smbts_arg_uint32(a, i, "group", id)) {
    smbts_args_throw(a);
    return NULL;
  }
  if (*id >= r->ngroups || !r->groups[*id].used) {
    napi_throw_range_error(a->env, "ERR_OUT_OF_RANGE", "not a provided-buffer group of this ring");
    return NULL;
  }
  return &r->groups[*id];
}

/* provideBuffer(group, buf, offset, length): the span the group's next recv fills. Only once the
 * last span given was consumed (a CQE reported it), else SMBTS_ERR_RING_BUSY. `buf` is held. */
static napi_value js_ring_provide_buffer(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t id;
  uint8_t *ptr;
  uint32_t len;
  ring_buf_group *g = group_arg(r, &a, 0, &id);
  if (!g) return NULL;
  if (!smbts_ring_parse_span(&a, 1, &ptr, &len)) return smbts_args_throw(&a);
  if (len == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "an empty span cannot be provided");
    return NULL;
  }
  if (r->closing || !r->ring_ok) return ring_throw(env, "SMBTS_ERR_RING_CLOSED", "the ring is closed");
  if (g->outstanding) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "the group's last span is not consumed yet");
  /* Hold the Buffer (a new reference only when it is another one than last time). */
  bool same = false;
  napi_value held;
  if (g->ref && napi_get_reference_value(env, g->ref, &held) == napi_ok && held) {
    napi_strict_equals(env, held, a.argv[1], &same);
  }
  if (!same) {
    napi_ref ref;
    if (napi_create_reference(env, a.argv[1], 1, &ref) != napi_ok) return smbts_throw_napi(env, "napi_create_reference");
    if (g->ref) napi_delete_reference(env, g->ref);
    g->ref = ref;
  }
  io_uring_buf_ring_add(g->br, ptr, len, 0, io_uring_buf_ring_mask(1), 0);
  io_uring_buf_ring_advance(g->br, 1); /* a release store: the kernel sees the entry first */
  g->outstanding = true;
  return NULL;
}

/* destroyBufGroup(group): unregisters it and drops its Buffer. Refused while a multishot recv
 * takes from it (its final CQE must be in first). */
static napi_value js_ring_destroy_buf_group(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  uint32_t id;
  ring_buf_group *g = group_arg(r, &a, 0, &id);
  if (!g) return NULL;
  if (g->inflight > 0) return ring_throw(env, "SMBTS_ERR_RING_BUSY", "a recv still takes from this group");
  if (g->registered && r->ring_ok) io_uring_unregister_buf_ring(&r->ring, (int)id);
  if (g->ref) napi_delete_reference(env, g->ref);
  free(g->br);
  memset(g, 0, sizeof *g);
  g->next_free = r->groups_free;
  r->groups_free = id;
  return NULL;
}

/* recvMultishot(tag, fd, group): one SQE receiving into the group's spans, a CQE per chunk
 * (F_MORE while it stays armed; JS sees -tag). It ends with a CQE without F_MORE: 0 at end of
 * stream, -ENOBUFS when no span was provided, -ECANCELED, an error, or data when the kernel
 * chose to stop. */
static napi_value js_ring_recv_multishot(napi_env env, napi_callback_info info) {
  RING_METHOD_BEGIN();
  int32_t tag, fd;
  uint32_t id;
  if (!(smbts_arg_int32(&a, 0, "tag", &tag) && smbts_arg_int32(&a, 1, "fd", &fd))) return smbts_args_throw(&a);
  ring_buf_group *g = group_arg(r, &a, 2, &id);
  if (!g) return NULL;
  ring_op *op;
  struct io_uring_sqe *sqe = smbts_ring_prep_begin(env, r, &op);
  if (!sqe) return NULL;
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t)id;
  op->bgid = (int32_t)id;
  r->groups[id].inflight++;
  smbts_ring_prep_end(r, sqe, op, tag, RK_RECV_MULTI);
  return NULL;
}

/* ---- registration (ring.c defines the class) ---- */

const napi_property_descriptor smbts_ring_buf_methods[] = {
    RING_METHOD("registerBuffers", js_ring_register_buffers),
    RING_METHOD("setBuffer", js_ring_set_buffer),
    RING_METHOD("createBufGroup", js_ring_create_buf_group),
    RING_METHOD("provideBuffer", js_ring_provide_buffer),
    RING_METHOD("destroyBufGroup", js_ring_destroy_buf_group),
    RING_METHOD("recvMultishot", js_ring_recv_multishot),
};
const size_t smbts_ring_buf_method_count =
    sizeof smbts_ring_buf_methods / sizeof smbts_ring_buf_methods[0];
