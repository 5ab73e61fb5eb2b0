/* backend/cpu/cpu_tensor.c - CPU kernels for the tensor op family: data movement by element size
 * (any dtype), index tables built in prepare, a shared strided-copy engine for Transpose, Slice,
 * Expand, Tile, DepthToSpace and SpaceToDepth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_tensor.h"

#define LBL gl_node_label(n)
#define PAR_BYTES (1 << 16) /* below this much data a kernel stays on one thread */

static const gl_value_t *vin(const gl_graph_t *g, const gl_node_t *n, int i) { return gl_in(g, n, i); }
static const gl_value_t *vout(const gl_graph_t *g, const gl_node_t *n, int i) { return gl_out(g, n, i); }

static gl_status_t elem_size(const gl_node_t *n, gl_dtype_t t, size_t *es) {
  *es = gl_dtype_size(t);
  if (!*es) return gl_err(GL_EUNSUPPORTED, "%s: element type %s is not supported", LBL, gl_dtype_name(t));
  return GL_OK;
}

static void *state_alloc(gl_cpu_kernel_t *k, size_t bytes) {
  k->state = gl_calloc(1, bytes ? bytes : 1);
  if (!k->state) gl_err(GL_ENOMEM, "out of memory");
  return k->state;
}

static void copy_elem(void *dst, const void *src, size_t es) {
  switch (es) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es);
  }
}

/* Reads element i of raw data of type t as int64 (indices of any integer or float type). */
static int64_t load_i64(const void *p, gl_dtype_t t, int64_t i) {
  gl_tensor_t v = {.dtype = t, .data = (void *)p};
  return gl_tensor_get_i64(&v, i);
}

/* v clamped into [lo, hi] (NaN -> 0): a cast of an out-of-range double to an integer type is
 * undefined in C, and a model's constant can hold any value. */
static double sat(double v, double lo, double hi) { return v != v ? 0 : v < lo ? lo : v > hi ? hi : v; }

/* Writes v as one element of type t at dst (which need not be aligned); integers saturate. */
static void store_f64(void *dst, gl_dtype_t t, double v) {
#define ST(T, expr)        \
  {                        \
    T tmp = (T)(expr);     \
    memcpy(dst, &tmp, sizeof tmp); \
    break;                 \
  }
  switch (t) {
    case GL_DT_F32: ST(float, v)
    case GL_DT_F64: ST(double, v)
    case GL_DT_F16: ST(uint16_t, gl_f32_to_f16((float)v))
    case GL_DT_BF16: ST(uint16_t, gl_f32_to_bf16((float)v))
    case GL_DT_I8: ST(int8_t, sat(v, INT8_MIN, INT8_MAX))
    case GL_DT_U8: ST(uint8_t, sat(v, 0, UINT8_MAX))
    case GL_DT_BOOL: ST(uint8_t, v != 0)
    case GL_DT_I16: ST(int16_t, sat(v, INT16_MIN, INT16_MAX))
    case GL_DT_U16: ST(uint16_t, sat(v, 0, UINT16_MAX))
    case GL_DT_I32: ST(int32_t, sat(v, INT32_MIN, INT32_MAX))
    case GL_DT_U32: ST(uint32_t, sat(v, 0, UINT32_MAX))
    case GL_DT_I64: ST(int64_t, sat(v, -9223372036854775808.0, 9223372036854774784.0))
    case GL_DT_U64: ST(uint64_t, sat(v, 0, 18446744073709549568.0))
    default: break;
  }
#undef ST
}

static void fill_bytes(char *dst, const void *val, size_t es, int64_t count) {
  bool zero = true;
  for (size_t b = 0; b < es; b++) zero = zero && ((const uint8_t *)val)[b] == 0;
  if (zero) {
    memset(dst, 0, (size_t)count * es);
    return;
  }
  for (int64_t i = 0; i < count; i++) memcpy(dst + (size_t)i * es, val, es);
}

/* ---- the strided copy engine: dst[doff + sum i*ds] = src[soff + sum i*ss] over shape n ---- */

#define XR (2 * GL_MAX_RANK)
typedef struct {
  int rank;
  bool empty;
  size_t es;
  int64_t soff, doff; /* elements */
  int64_t n[XR], ss[XR], ds[XR];
} xcopy_t;

/* Drops size-1 dims and merges dims that are contiguous in both source and destination. */
static void xcopy_simplify(xcopy_t *c) {
  int r = 0;
  c->empty = false;
  for (int d = 0; d < c->rank; d++) {
    if (c->n[d] == 0) c->empty = true;
    if (c->n[d] == 1) continue;
    if (r > 0 && c->ss[r - 1] == c->ss[d] * c->n[d] && c->ds[r - 1] == c->ds[d] * c->n[d]) {
      c->n[r - 1] *= c->n[d];
      c->ss[r - 1] = c->ss[d];
      c->ds[r - 1] = c->ds[d];
      continue;
    }
    c->n[r] = c->n[d], c->ss[r] = c->ss[d], c->ds[r] = c->ds[d];
    r++;
  }
  c->rank = r;
}

/* Transposing copy: the innermost destination dim is strided in the source while dim p is
 * contiguous there. Walks 16x16 tiles of (p, last) so both sides stay in cache. */
#define TILE 16
static void xcopy_run_tiled(const xcopy_t *c, const char *src, char *dst, int p) {
  size_t es = c->es;
  int last = c->rank - 1;
  int64_t np = c->n[p], nl = c->n[last], rows = 1;
  for (int d = 0; d < last; d++)
    if (d != p) rows *= c->n[d];
  int64_t tp = (np + TILE - 1) / TILE, tl = (nl + TILE - 1) / TILE, jobs = rows * tp * tl;
  int64_t sp = c->ss[p], dp = c->ds[p], sl = c->ss[last], dl = c->ds[last];
  bool par = (size_t)(rows * np * nl) * es >= PAR_BYTES && jobs > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t job = 0; job < jobs; job++) {
    int64_t r = job / (tp * tl), t = job % (tp * tl), p0 = (t / tl) * TILE, l0 = (t % tl) * TILE;
    int64_t so = 0, dof = 0, q = r;
    for (int d = last - 1; d >= 0; d--) {
      if (d == p) continue;
      int64_t i = q % c->n[d];
      q /= c->n[d];
      so += i * c->ss[d];
      dof += i * c->ds[d];
    }
    int64_t p1 = p0 + TILE < np ? p0 + TILE : np, l1 = l0 + TILE < nl ? l0 + TILE : nl;
    if (es == 4) {
      const uint32_t *s4 = (const uint32_t *)src + so;
      uint32_t *d4 = (uint32_t *)dst + dof;
      for (int64_t i = p0; i < p1; i++)
        for (int64_t l = l0; l < l1; l++) d4[i * dp + l * dl] = s4[i * sp + l * sl];
    } else {
      for (int64_t l = l0; l < l1; l++)
        for (int64_t i = p0; i < p1; i++)
          copy_elem(dst + (dof + i * dp + l * dl) * (int64_t)es, src + (so + i * sp + l * sl) * (int64_t)es, es);
    }
  }
}

static void xcopy_run(const xcopy_t *c, const char *src, char *dst) {
  if (c->empty) return;
  size_t es = c->es;
  src += c->soff * (int64_t)es;
  dst += c->doff * (int64_t)es;
  if (c->rank == 0) {
    memcpy(dst, src, es);
    return;
  }
  int last = c->rank - 1;
  int64_t inner = c->n[last], rows = 1;
  for (int d = 0; d < last; d++) rows *= c->n[d];
  bool contig = c->ss[last] == 1 && c->ds[last] == 1;
  if (c->ds[last] == 1 && c->ss[last] > 1 && inner >= 8)
    for (int p = last - 1; p >= 0; p--)
      if (c->ss[p] == 1 && c->n[p] >= 8) {
        xcopy_run_tiled(c, src, dst, p);
        return;
      }
  int64_t iss = c->ss[last], ids = c->ds[last];
  bool par = (size_t)(rows * inner) * es >= PAR_BYTES && rows > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < rows; r++) {
    int64_t so = 0, dof = 0, q = r;
    for (int d = last - 1; d >= 0; d--) {
      int64_t i = q % c->n[d];
      q /= c->n[d];
      so += i * c->ss[d];
      dof += i * c->ds[d];
    }
    const char *s = src + so * (int64_t)es;
    char *o = dst + dof * (int64_t)es;
    if (contig) {
      memcpy(o, s, (size_t)inner * es);
    } else if (es == 4) {
      for (int64_t i = 0; i < inner; i++) ((uint32_t *)o)[i * ids] = ((const uint32_t *)s)[i * iss];
    } else if (es == 8) {
      for (int64_t i = 0; i < inner; i++) ((uint64_t *)o)[i * ids] = ((const uint64_t *)s)[i * iss];
    } else if (es == 2) {
      for (int64_t i = 0; i < inner; i++) ((uint16_t *)o)[i * ids] = ((const uint16_t *)s)[i * iss];
    } else if (es == 1) {
      for (int64_t i = 0; i < inner; i++) o[i * ids] = s[i * iss];
    } else {
      for (int64_t i = 0; i < inner; i++) memcpy(o + i * ids * (int64_t)es, s + i * iss * (int64_t)es, es);
    }
  }
}

static gl_status_t run_xcopy(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  xcopy_run(k->state, in[0], out[0]);
  return GL_OK;
}

/* Output row-major strides as the destination strides of c (over the output's own dims). */
static void dense_strides(const gl_shape_t *s, int64_t *st) { gl_shape_strides(s, st); }

static gl_status_t xcopy_kernel(const gl_node_t *n, gl_cpu_kernel_t *k, xcopy_t *tmpl) {
  xcopy_t *c = state_alloc(k, sizeof *c);
  if (!c) return GL_ENOMEM;
  *c = *tmpl;
  xcopy_simplify(c);
  k->run = run_xcopy;
  return GL_OK;
}

/* ---- plain copies: Reshape, Flatten, Squeeze, Unsqueeze ---- */

static gl_status_t run_copy(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  size_t bytes = *(const size_t *)k->state;
  if (bytes && in[0] != out[0]) memcpy(out[0], in[0], bytes);
  return GL_OK;
}

static gl_status_t prep_copy(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                             gl_cpu_kernel_t *k) {
  const gl_value_t *o = vout(g, n, 0);
  size_t es;
  GL_TRY(elem_size(n, o->dtype, &es));
  size_t *b = state_alloc(k, sizeof *b);
  if (!b) return GL_ENOMEM;
  *b = (size_t)gl_shape_numel(&o->shape) * es;
  k->run = run_copy;
  return GL_OK;
}

/* ---- constants: Shape, Size, Constant, ConstantOfShape, EyeLike ---- */

typedef struct {
  size_t bytes;
  char data[];
} blob_t;

static gl_status_t run_blob(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  const blob_t *b = k->state;
  memcpy(out[0], b->data, b->bytes);
  return GL_OK;
}

/* A kernel that writes a fixed output computed in prepare (bytes copied from src if given). */
static blob_t *blob_kernel(gl_cpu_kernel_t *k, size_t bytes) {
  blob_t *b = state_alloc(k, sizeof *b + bytes);
  if (!b) return NULL;
  b->bytes = bytes;
  k->run = run_blob;
  return b;
}

static gl_status_t prep_shape(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const gl_value_t *v = vin(g, n, 0), *o = vout(g, n, 0);
  int r = v->shape.rank;
  int64_t s = gl_attr_i(n, "start", 0);
  if (s < 0) s += r;
  s = s < 0 ? 0 : (s > r ? r : s);
  int64_t len = gl_shape_numel(&o->shape);
  blob_t *b = blob_kernel(k, sizeof(int64_t) * (size_t)len);
  if (!b) return GL_ENOMEM;
  for (int64_t i = 0; i < len; i++) ((int64_t *)b->data)[i] = v->shape.d[s + i];
  return GL_OK;
}

static gl_status_t prep_size(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                             gl_cpu_kernel_t *k) {
  blob_t *b = blob_kernel(k, sizeof(int64_t));
  if (!b) return GL_ENOMEM;
  *(int64_t *)b->data = gl_shape_numel(&vin(g, n, 0)->shape);
  return GL_OK;
}

static gl_status_t prep_constant(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_value_t *o = vout(g, n, 0);
  size_t es;
  GL_TRY(elem_size(n, o->dtype, &es));
  size_t bytes = (size_t)gl_shape_numel(&o->shape) * es;
  blob_t *b = blob_kernel(k, bytes);
  if (!b) return GL_ENOMEM;
  const gl_attr_t *a;
  if ((a = gl_attr(n, "value")) && a->t && gl_tensor_nbytes(a->t) == bytes) memcpy(b->data, a->t->data, bytes);
  else if ((a = gl_attr(n, "value_float"))) memcpy(b->data, &a->f, 4);
  else if ((a = gl_attr(n, "value_int"))) memcpy(b->data, &a->i, 8);
  else if ((a = gl_attr(n, "value_floats")) && a->floats) memcpy(b->data, a->floats, bytes);
  else if ((a = gl_attr(n, "value_ints")) && a->ints) memcpy(b->data, a->ints, bytes);
  else return gl_err(GL_EUNSUPPORTED, "%s: unsupported constant", LBL);
  return GL_OK;
}

typedef struct {
  size_t es;
  int64_t count;
  char val[16];
} fill_t;

static gl_status_t run_fill(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  const fill_t *f = k->state;
  fill_bytes(out[0], f->val, f->es, f->count);
  return GL_OK;
}

static gl_status_t prep_constant_of_shape(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                          const gl_node_t *n, gl_cpu_kernel_t *k) {
  const gl_value_t *o = vout(g, n, 0);
  fill_t *f = state_alloc(k, sizeof *f);
  if (!f) return GL_ENOMEM;
  GL_TRY(elem_size(n, o->dtype, &f->es));
  if (f->es > sizeof f->val) return gl_err(GL_EUNSUPPORTED, "%s: element type too wide", LBL);
  f->count = gl_shape_numel(&o->shape);
  const gl_attr_t *a = gl_attr(n, "value");
  if (a && a->t && a->t->data) memcpy(f->val, a->t->data, f->es);
  k->run = run_fill;
  return GL_OK;
}

typedef struct {
  size_t es;
  int64_t rows, cols, k;
  char one[16];
} eye_t;

static gl_status_t run_eye(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const eye_t *e = k->state;
  char *o = out[0];
  memset(o, 0, (size_t)(e->rows * e->cols) * e->es);
  for (int64_t i = 0; i < e->rows; i++) {
    int64_t j = i + e->k;
    if (j >= 0 && j < e->cols) memcpy(o + (size_t)(i * e->cols + j) * e->es, e->one, e->es);
  }
  return GL_OK;
}

static gl_status_t prep_eye_like(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_value_t *o = vout(g, n, 0);
  eye_t *e = state_alloc(k, sizeof *e);
  if (!e) return GL_ENOMEM;
  GL_TRY(elem_size(n, o->dtype, &e->es));
  if (e->es > sizeof e->one) return gl_err(GL_EUNSUPPORTED, "%s: element type too wide", LBL);
  e->rows = o->shape.d[0];
  e->cols = o->shape.d[1];
  e->k = gl_attr_i(n, "k", 0);
  store_f64(e->one, o->dtype, 1.0);
  k->run = run_eye;
  return GL_OK;
}

/* ---- Transpose, Slice, Expand, Tile, DepthToSpace, SpaceToDepth (strided copies) ---- */

/* Transpose of float / int32 through a oneDNN reorder between two strided views. */
typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst;
} reorder_t;

static void reorder_destroy(void *state) {
  reorder_t *r = state;
  if (!r) return;
  if (r->prim) dnnl_primitive_destroy(r->prim);
  if (r->src) dnnl_memory_destroy(r->src);
  if (r->dst) dnnl_memory_destroy(r->dst);
  gl_free(r);
}

static gl_status_t run_reorder(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                               void *const *out) {
  const reorder_t *r = k->state;
  GL_DNNL(dnnl_memory_set_data_handle_v2(r->src, in[0], x->stream), "setting a reorder source");
  GL_DNNL(dnnl_memory_set_data_handle_v2(r->dst, out[0], x->stream), "setting a reorder destination");
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, r->src}, {DNNL_ARG_TO, r->dst}};
  GL_DNNL(dnnl_primitive_execute(r->prim, x->stream, 2, args), "running a transpose reorder");
  return GL_OK;
}

/* Sets k up as a oneDNN reorder for c (positive strides, no offsets); GL_EUNSUPPORTED when
 * oneDNN has no implementation, so the caller can fall back to the C loop. */
static gl_status_t reorder_kernel(const gl_cpu_exec_t *x, const xcopy_t *c, dnnl_data_type_t dt,
                                  gl_cpu_kernel_t *k) {
  if (c->rank < 1 || c->rank > DNNL_MAX_NDIMS || c->empty || c->soff || c->doff) return GL_EUNSUPPORTED;
  dnnl_dims_t dims, ss, ds;
  for (int d = 0; d < c->rank; d++) {
    if (c->ss[d] <= 0 || c->ds[d] <= 0) return GL_EUNSUPPORTED;
    dims[d] = c->n[d], ss[d] = c->ss[d], ds[d] = c->ds[d];
  }
  dnnl_memory_desc_t smd, dmd;
  if (dnnl_memory_desc_init_by_strides(&smd, c->rank, dims, dt, ss) != dnnl_success ||
      dnnl_memory_desc_init_by_strides(&dmd, c->rank, dims, dt, ds) != dnnl_success)
    return GL_EUNSUPPORTED;
  dnnl_primitive_desc_t pd = NULL;
  if (dnnl_reorder_primitive_desc_create(&pd, &smd, x->engine, &dmd, x->engine, NULL) != dnnl_success)
    return GL_EUNSUPPORTED;
  reorder_t *r = gl_calloc(1, sizeof *r);
  if (!r) {
    dnnl_primitive_desc_destroy(pd);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  dnnl_status_t st = dnnl_primitive_create(&r->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (st == dnnl_success) st = dnnl_memory_create(&r->src, &smd, x->engine, DNNL_MEMORY_NONE);
  if (st == dnnl_success) st = dnnl_memory_create(&r->dst, &dmd, x->engine, DNNL_MEMORY_NONE);
  if (st != dnnl_success) {
    reorder_destroy(r);
    return gl_dnnl_check(st, "creating a transpose reorder");
  }
  k->state = r;
  k->destroy = reorder_destroy;
  k->run = run_reorder;
  return GL_OK;
}

static gl_status_t prep_transpose(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                  gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  xcopy_t c = {.rank = a->shape.rank};
  GL_TRY(elem_size(n, a->dtype, &c.es));
  int64_t ist[GL_MAX_RANK], ost[GL_MAX_RANK];
  dense_strides(&a->shape, ist);
  dense_strides(&o->shape, ost);
  int cnt;
  const int64_t *perm = gl_attr_ints(n, "perm", &cnt);
  for (int d = 0; d < c.rank; d++) {
    int p = perm ? (int)perm[d] : c.rank - 1 - d;
    c.n[d] = o->shape.d[d];
    c.ss[d] = ist[p];
    c.ds[d] = ost[d];
  }
  if (a->dtype == GL_DT_F32 || a->dtype == GL_DT_I32) {
    xcopy_t sc = c;
    xcopy_simplify(&sc);
    /* when the innermost dim stays innermost the C loop copies whole rows: keep it */
    if (sc.rank > 1 && sc.ss[sc.rank - 1] != 1 && !getenv("GL_TRANSPOSE_LOOP")) {
      gl_status_t st = reorder_kernel(x, &sc, a->dtype == GL_DT_F32 ? dnnl_f32 : dnnl_s32, k);
      if (st != GL_EUNSUPPORTED) return st;
    }
  }
  return xcopy_kernel(n, k, &c);
}

static gl_status_t prep_slice(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  gl_slice_params_t p;
  GL_TRY(gl_slice_params(g, n, &p));
  xcopy_t c = {.rank = a->shape.rank};
  GL_TRY(elem_size(n, a->dtype, &c.es));
  int64_t ist[GL_MAX_RANK], ost[GL_MAX_RANK];
  dense_strides(&a->shape, ist);
  dense_strides(&o->shape, ost);
  for (int d = 0; d < c.rank; d++) {
    c.n[d] = p.count[d];
    c.soff += p.start[d] * ist[d];
    c.ss[d] = p.step[d] * ist[d];
    c.ds[d] = ost[d];
  }
  return xcopy_kernel(n, k, &c);
}

static gl_status_t prep_expand(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  xcopy_t c = {.rank = o->shape.rank};
  GL_TRY(elem_size(n, a->dtype, &c.es));
  int64_t ist[GL_MAX_RANK], ost[GL_MAX_RANK];
  dense_strides(&a->shape, ist);
  dense_strides(&o->shape, ost);
  int off = o->shape.rank - a->shape.rank;
  for (int d = 0; d < c.rank; d++) {
    int ad = d - off;
    c.n[d] = o->shape.d[d];
    c.ss[d] = (ad < 0 || a->shape.d[ad] == 1) ? 0 : ist[ad];
    c.ds[d] = ost[d];
  }
  return xcopy_kernel(n, k, &c);
}

static gl_status_t prep_tile(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                             gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  int r = a->shape.rank;
  xcopy_t c = {.rank = 2 * r};
  GL_TRY(elem_size(n, a->dtype, &c.es));
  int64_t ist[GL_MAX_RANK], ost[GL_MAX_RANK];
  dense_strides(&a->shape, ist);
  dense_strides(&o->shape, ost);
  for (int d = 0; d < r; d++) {
    int64_t dim = a->shape.d[d];
    c.n[2 * d] = dim ? o->shape.d[d] / dim : 0;
    c.ss[2 * d] = 0;
    c.ds[2 * d] = dim * ost[d];
    c.n[2 * d + 1] = dim;
    c.ss[2 * d + 1] = ist[d];
    c.ds[2 * d + 1] = ost[d];
  }
  return xcopy_kernel(n, k, &c);
}

/* Both ops as a 6-D copy walking the output densely in the order given by on[]. */
static gl_status_t prep_depth_space(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0);
  int64_t b = gl_attr_i(n, "blocksize", 1);
  int64_t N = a->shape.d[0], C = a->shape.d[1], H = a->shape.d[2], W = a->shape.d[3];
  int64_t sN = C * H * W, sC = H * W, sH = W, sW = 1;
  xcopy_t c = {.rank = 6};
  GL_TRY(elem_size(n, a->dtype, &c.es));
  if (!strcmp(n->op_type, "DepthToSpace")) {
    int64_t Co = C / (b * b);
    bool crd = !strcmp(gl_attr_s(n, "mode", "DCR"), "CRD");
    /* output [N, Co, H, b1, W, b2] */
    int64_t nn[6] = {N, Co, H, b, W, b};
    int64_t ss[6] = {sN, crd ? sC * b * b : sC, sH, crd ? sC * b : sC * b * Co, sW, crd ? sC : sC * Co};
    memcpy(c.n, nn, sizeof nn);
    memcpy(c.ss, ss, sizeof ss);
  } else {
    /* output [N, b1, b2, C, H/b, W/b] */
    int64_t nn[6] = {N, b, b, C, H / b, W / b};
    int64_t ss[6] = {sN, sH, sW, sC, sH * b, sW * b};
    memcpy(c.n, nn, sizeof nn);
    memcpy(c.ss, ss, sizeof ss);
  }
  int64_t st = 1;
  for (int d = 5; d >= 0; d--) c.ds[d] = st, st *= c.n[d];
  return xcopy_kernel(n, k, &c);
}

/* ---- Concat, Split ---- */

typedef struct {
  int64_t outer;
  int n;
  size_t total; /* bytes of one outer row of the concatenated tensor */
  size_t part[]; /* bytes of one outer row of each piece */
} cat_t;

static gl_status_t run_concat(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const cat_t *c = k->state;
  bool par = (size_t)c->outer * c->total >= PAR_BYTES && c->outer > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t o = 0; o < c->outer; o++) {
    char *dst = (char *)out[0] + (size_t)o * c->total;
    for (int i = 0; i < c->n; i++) {
      if (c->part[i]) memcpy(dst, (const char *)in[i] + (size_t)o * c->part[i], c->part[i]);
      dst += c->part[i];
    }
  }
  return GL_OK;
}

static gl_status_t run_split(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const cat_t *c = k->state;
  bool par = (size_t)c->outer * c->total >= PAR_BYTES && c->outer > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t o = 0; o < c->outer; o++) {
    const char *src = (const char *)in[0] + (size_t)o * c->total;
    for (int i = 0; i < c->n; i++) {
      if (c->part[i] && out[i]) memcpy((char *)out[i] + (size_t)o * c->part[i], src, c->part[i]);
      src += c->part[i];
    }
  }
  return GL_OK;
}

static gl_status_t prep_concat_split(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                     gl_cpu_kernel_t *k) {
  bool split = !strcmp(n->op_type, "Split");
  const gl_value_t *whole = split ? vin(g, n, 0) : vout(g, n, 0);
  int parts = split ? n->n_outputs : n->n_inputs, axis;
  size_t es;
  GL_TRY(elem_size(n, whole->dtype, &es));
  int64_t dflt = !split && g->opset < 4 ? 1 : 0; /* Concat-1..3 default to axis 1 */
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", dflt), whole->shape.rank, &axis));
  cat_t *c = state_alloc(k, sizeof *c + sizeof(size_t) * (size_t)parts);
  if (!c) return GL_ENOMEM;
  c->n = parts;
  c->outer = 1;
  for (int d = 0; d < axis; d++) c->outer *= whole->shape.d[d];
  int64_t inner = 1;
  for (int d = axis + 1; d < whole->shape.rank; d++) inner *= whole->shape.d[d];
  c->total = (size_t)(whole->shape.d[axis] * inner) * es;
  for (int i = 0; i < parts; i++) {
    const gl_value_t *p = split ? vout(g, n, i) : vin(g, n, i);
    /* an omitted Split output still takes its share: recover it from the others */
    c->part[i] = p ? (size_t)(p->shape.d[axis] * inner) * es : 0;
  }
  if (split) {
    size_t sum = 0;
    int missing = -1;
    for (int i = 0; i < parts; i++) {
      sum += c->part[i];
      if (!vout(g, n, i)) missing = i;
    }
    if (missing >= 0 && sum != c->total) {
      if (parts - 1 > 0 && gl_attr(n, "split") == NULL && !vin(g, n, 1))
        for (int i = 0; i < parts; i++) c->part[i] = c->total / (size_t)parts;
      else
        return gl_err(GL_EUNSUPPORTED, "%s: omitted outputs with uneven split", LBL);
    }
  }
  k->run = split ? run_split : run_concat;
  return GL_OK;
}

/* ---- Gather, GatherElements, GatherND ---- */

typedef struct {
  int64_t outer, axis_len, nidx;
  size_t block; /* bytes */
  gl_dtype_t it;
  char label[96];
} gather_t;

static gl_status_t index_error(const char *label, int64_t v, int64_t len) {
  return gl_err(GL_EINVAL, "%s: index %lld is out of range for a dim of size %lld", label,
                (long long)v, (long long)len);
}

static gl_status_t run_gather(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const gather_t *s = k->state;
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < -s->axis_len || v >= s->axis_len) return index_error(s->label, v, s->axis_len);
  }
  bool par = (size_t)(s->outer * s->nidx) * s->block >= PAR_BYTES && s->outer * s->nidx > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t t = 0; t < s->outer * s->nidx; t++) {
    int64_t o = t / s->nidx, j = t % s->nidx;
    int64_t v = load_i64(in[1], s->it, j);
    if (v < 0) v += s->axis_len;
    memcpy((char *)out[0] + (size_t)t * s->block,
           (const char *)in[0] + (size_t)(o * s->axis_len + v) * s->block, s->block);
  }
  return GL_OK;
}

static gl_status_t prep_gather(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *ix = vin(g, n, 1);
  size_t es;
  int axis;
  GL_TRY(elem_size(n, a->dtype, &es));
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), a->shape.rank, &axis));
  gather_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  snprintf(s->label, sizeof s->label, "%s", LBL);
  s->outer = 1;
  for (int d = 0; d < axis; d++) s->outer *= a->shape.d[d];
  s->axis_len = a->shape.d[axis];
  int64_t inner = 1;
  for (int d = axis + 1; d < a->shape.rank; d++) inner *= a->shape.d[d];
  s->block = (size_t)inner * es;
  s->nidx = gl_shape_numel(&ix->shape);
  s->it = ix->dtype;
  k->run = run_gather;
  return GL_OK;
}

/* GatherElements and ScatterElements share this walk over the indices' shape. */
typedef struct {
  int rank, axis;
  size_t es;
  gl_dtype_t it, dt;
  int red; /* 0 none, 1 add, 2 mul, 3 max, 4 min */
  int64_t nidx, out_numel;
  int64_t ishape[GL_MAX_RANK], dstride[GL_MAX_RANK];
  char label[96];
} elems_t;

static gl_status_t prep_elems(const gl_graph_t *g, const gl_node_t *n, gl_cpu_kernel_t *k,
                              elems_t **out) {
  const gl_value_t *a = vin(g, n, 0), *ix = vin(g, n, 1);
  elems_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), a->shape.rank, &s->axis));
  snprintf(s->label, sizeof s->label, "%s", LBL);
  s->rank = a->shape.rank;
  s->it = ix->dtype;
  s->dt = a->dtype;
  s->nidx = gl_shape_numel(&ix->shape);
  s->out_numel = gl_shape_numel(&a->shape);
  memcpy(s->ishape, ix->shape.d, sizeof s->ishape);
  gl_shape_strides(&a->shape, s->dstride);
  *out = s;
  return GL_OK;
}

/* Offset into data of the element that indices element j (value v, already normalised) names. */
static int64_t elems_offset(const elems_t *s, int64_t j, int64_t v) {
  int64_t off = 0;
  for (int d = s->rank - 1; d >= 0; d--) {
    int64_t i = j % s->ishape[d];
    j /= s->ishape[d];
    off += (d == s->axis ? v : i) * s->dstride[d];
  }
  return off;
}

static int64_t elems_axis_len(const elems_t *s) {
  int64_t above = s->axis > 0 ? s->dstride[s->axis - 1] : s->out_numel;
  return s->dstride[s->axis] ? above / s->dstride[s->axis] : 0;
}

static gl_status_t run_gather_elements(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                       void *const *in, void *const *out) {
  const elems_t *s = k->state;
  int64_t len = elems_axis_len(s);
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < -len || v >= len) return index_error(s->label, v, len);
    if (v < 0) v += len;
    copy_elem((char *)out[0] + (size_t)j * s->es,
              (const char *)in[0] + (size_t)elems_offset(s, j, v) * s->es, s->es);
  }
  return GL_OK;
}

static gl_status_t prep_gather_elements(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                        const gl_node_t *n, gl_cpu_kernel_t *k) {
  elems_t *s;
  GL_TRY(prep_elems(g, n, k, &s));
  k->run = run_gather_elements;
  return GL_OK;
}

/* Applies reduction red of type t: *dst = dst (op) src. */
static void reduce_elem(void *dst, const void *src, gl_dtype_t t, int red, size_t es) {
#define RED(T)                                                                        \
  {                                                                                   \
    T a = *(T *)dst, b = *(const T *)src;                                             \
    *(T *)dst = red == 1 ? (T)(a + b) : red == 2 ? (T)(a * b) : red == 3 ? (a > b ? a : b) \
                                                                         : (a < b ? a : b); \
    return;                                                                           \
  }
  if (red == 0) {
    copy_elem(dst, src, es);
    return;
  }
  switch (t) {
    case GL_DT_F32: RED(float)
    case GL_DT_F64: RED(double)
    case GL_DT_I8: RED(int8_t)
    case GL_DT_U8: RED(uint8_t)
    case GL_DT_I16: RED(int16_t)
    case GL_DT_U16: RED(uint16_t)
    case GL_DT_I32: RED(int32_t)
    case GL_DT_U32: RED(uint32_t)
    case GL_DT_I64: RED(int64_t)
    case GL_DT_U64: RED(uint64_t)
    default: copy_elem(dst, src, es);
  }
#undef RED
}

static int reduction_code(const gl_node_t *n, gl_dtype_t t, gl_status_t *st) {
  const char *r = gl_attr_s(n, "reduction", "none");
  static const char *names[] = {"none", "add", "mul", "max", "min"};
  *st = GL_OK;
  for (int i = 0; i < 5; i++)
    if (!strcmp(r, names[i])) {
      if (i && (t == GL_DT_F16 || t == GL_DT_BF16 || t == GL_DT_BOOL))
        *st = gl_err(GL_EUNSUPPORTED, "%s: reduction '%s' on %s is not supported", LBL, r, gl_dtype_name(t));
      return i;
    }
  *st = gl_err(GL_EUNSUPPORTED, "%s: reduction '%s' is not supported", LBL, r);
  return 0;
}

static gl_status_t run_scatter_elements(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                        void *const *in, void *const *out) {
  const elems_t *s = k->state;
  int64_t len = elems_axis_len(s);
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < -len || v >= len) return index_error(s->label, v, len);
  }
  if (in[0] != out[0]) memcpy(out[0], in[0], (size_t)s->out_numel * s->es);
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < 0) v += len;
    reduce_elem((char *)out[0] + (size_t)elems_offset(s, j, v) * s->es,
                (const char *)in[2] + (size_t)j * s->es, s->dt, s->red, s->es);
  }
  return GL_OK;
}

static gl_status_t prep_scatter_elements(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                         const gl_node_t *n, gl_cpu_kernel_t *k) {
  elems_t *s;
  GL_TRY(prep_elems(g, n, k, &s));
  gl_status_t st;
  s->red = reduction_code(n, s->dt, &st);
  GL_TRY(st);
  k->run = run_scatter_elements;
  return GL_OK;
}

/* GatherND and ScatterND: batches of index tuples naming slices of data. */
typedef struct {
  int64_t batches, tuples, k; /* tuples per batch, tuple length */
  int64_t batch_stride;        /* data elements per batch */
  int64_t slice;               /* elements per slice */
  int64_t dim[GL_MAX_RANK], stride[GL_MAX_RANK]; /* of the k indexed dims */
  size_t es;
  gl_dtype_t it, dt;
  int red;
  int64_t data_numel;
  char label[96];
} nd_t;

static gl_status_t nd_offset(const nd_t *s, const void *idx, int64_t t, int64_t *off) {
  int64_t o = 0;
  for (int64_t j = 0; j < s->k; j++) {
    int64_t v = load_i64(idx, s->it, t * s->k + j);
    if (v < -s->dim[j] || v >= s->dim[j]) return index_error(s->label, v, s->dim[j]);
    if (v < 0) v += s->dim[j];
    o += v * s->stride[j];
  }
  *off = o;
  return GL_OK;
}

static gl_status_t run_gather_nd(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                 void *const *out) {
  const nd_t *s = k->state;
  size_t bytes = (size_t)s->slice * s->es;
  for (int64_t b = 0; b < s->batches; b++)
    for (int64_t t = 0; t < s->tuples; t++) {
      int64_t off;
      GL_TRY(nd_offset(s, in[1], b * s->tuples + t, &off));
      memcpy((char *)out[0] + (size_t)(b * s->tuples + t) * bytes,
             (const char *)in[0] + (size_t)(b * s->batch_stride + off) * s->es, bytes);
    }
  return GL_OK;
}

static gl_status_t run_scatter_nd(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                  void *const *out) {
  const nd_t *s = k->state;
  int64_t off;
  for (int64_t t = 0; t < s->tuples; t++) GL_TRY(nd_offset(s, in[1], t, &off));
  if (in[0] != out[0]) memcpy(out[0], in[0], (size_t)s->data_numel * s->es);
  for (int64_t t = 0; t < s->tuples; t++) {
    GL_TRY(nd_offset(s, in[1], t, &off));
    char *d = (char *)out[0] + (size_t)off * s->es;
    const char *u = (const char *)in[2] + (size_t)(t * s->slice) * s->es;
    if (s->red == 0) memcpy(d, u, (size_t)s->slice * s->es);
    else
      for (int64_t e = 0; e < s->slice; e++)
        reduce_elem(d + (size_t)e * s->es, u + (size_t)e * s->es, s->dt, s->red, s->es);
  }
  return GL_OK;
}

static gl_status_t prep_nd(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                           gl_cpu_kernel_t *k) {
  bool scatter = !strcmp(n->op_type, "ScatterND");
  const gl_value_t *a = vin(g, n, 0), *ix = vin(g, n, 1);
  nd_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  snprintf(s->label, sizeof s->label, "%s", LBL);
  int r = a->shape.rank, q = ix->shape.rank;
  int64_t b = scatter ? 0 : gl_attr_i(n, "batch_dims", 0);
  s->k = ix->shape.d[q - 1];
  s->it = ix->dtype;
  s->dt = a->dtype;
  s->data_numel = gl_shape_numel(&a->shape);
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(&a->shape, st);
  s->batches = 1;
  for (int d = 0; d < b; d++) s->batches *= a->shape.d[d];
  s->tuples = 1;
  for (int64_t d = b; d < q - 1; d++) s->tuples *= ix->shape.d[d];
  s->batch_stride = b > 0 ? st[b - 1] : s->data_numel;
  for (int64_t j = 0; j < s->k; j++) s->dim[j] = a->shape.d[b + j], s->stride[j] = st[b + j];
  s->slice = 1;
  for (int64_t d = b + s->k; d < r; d++) s->slice *= a->shape.d[d];
  if (scatter) {
    gl_status_t e;
    s->red = reduction_code(n, s->dt, &e);
    GL_TRY(e);
  }
  k->run = scatter ? run_scatter_nd : run_gather_nd;
  return GL_OK;
}

/* ---- Range, OneHot, Trilu ---- */

typedef struct {
  gl_dtype_t t;
  int64_t count;
} range_t;

static gl_status_t run_range(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const range_t *r = k->state;
  switch (r->t) {
#define RANGE(DT, T)                                                            \
  case DT: {                                                                    \
    T s = *(const T *)in[0], d = *(const T *)in[2];                             \
    for (int64_t i = 0; i < r->count; i++) ((T *)out[0])[i] = (T)(s + (T)i * d); \
    break;                                                                      \
  }
    RANGE(GL_DT_F32, float)
    RANGE(GL_DT_F64, double)
    RANGE(GL_DT_I16, int16_t)
    RANGE(GL_DT_I32, int32_t)
    RANGE(GL_DT_I64, int64_t)
#undef RANGE
    default: return gl_err(GL_EUNSUPPORTED, "Range: type %s is not supported", gl_dtype_name(r->t));
  }
  return GL_OK;
}

static gl_status_t prep_range(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const gl_value_t *o = vout(g, n, 0);
  if (o->dtype != GL_DT_F32 && o->dtype != GL_DT_F64 && o->dtype != GL_DT_I16 &&
      o->dtype != GL_DT_I32 && o->dtype != GL_DT_I64)
    return gl_err(GL_EUNSUPPORTED, "%s: type %s is not supported", LBL, gl_dtype_name(o->dtype));
  range_t *r = state_alloc(k, sizeof *r);
  if (!r) return GL_ENOMEM;
  r->t = o->dtype;
  r->count = gl_shape_numel(&o->shape);
  k->run = run_range;
  return GL_OK;
}

typedef struct {
  int64_t outer, depth, inner;
  size_t es;
  gl_dtype_t it;
} onehot_t;

static gl_status_t run_one_hot(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                               void *const *out) {
  const onehot_t *s = k->state;
  const char *off = in[2], *on = (const char *)in[2] + s->es;
  char *o = out[0];
  for (int64_t a = 0; a < s->outer; a++)
    for (int64_t d = 0; d < s->depth; d++)
      for (int64_t i = 0; i < s->inner; i++) {
        int64_t v = load_i64(in[0], s->it, a * s->inner + i);
        if (v < 0) v += s->depth;
        copy_elem(o + (size_t)((a * s->depth + d) * s->inner + i) * s->es, v == d ? on : off, s->es);
      }
  return GL_OK;
}

static gl_status_t prep_one_hot(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                gl_cpu_kernel_t *k) {
  const gl_value_t *ix = vin(g, n, 0), *o = vout(g, n, 0);
  onehot_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, o->dtype, &s->es));
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), o->shape.rank, &axis));
  s->it = ix->dtype;
  s->depth = o->shape.d[axis];
  s->outer = 1;
  s->inner = 1;
  for (int d = 0; d < axis; d++) s->outer *= o->shape.d[d];
  for (int d = axis + 1; d < o->shape.rank; d++) s->inner *= o->shape.d[d];
  k->run = run_one_hot;
  return GL_OK;
}

typedef struct {
  int64_t batches, rows, cols;
  size_t es;
  bool upper, has_k;
} trilu_t;

static gl_status_t run_trilu(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const trilu_t *s = k->state;
  int64_t kk = s->has_k && in[1] ? *(const int64_t *)in[1] : 0;
  size_t es = s->es;
  for (int64_t b = 0; b < s->batches; b++)
    for (int64_t i = 0; i < s->rows; i++) {
      size_t row = (size_t)((b * s->rows + i) * s->cols) * es;
      const char *src = (const char *)in[0] + row;
      char *dst = (char *)out[0] + row;
      /* upper keeps j >= i + k, lower keeps j <= i + k */
      int64_t lim = i + kk;
      for (int64_t j = 0; j < s->cols; j++) {
        bool keep = s->upper ? j >= lim : j <= lim;
        if (keep) copy_elem(dst + (size_t)j * es, src + (size_t)j * es, es);
        else memset(dst + (size_t)j * es, 0, es);
      }
    }
  return GL_OK;
}

static gl_status_t prep_trilu(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0);
  trilu_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  int r = a->shape.rank;
  s->rows = a->shape.d[r - 2];
  s->cols = a->shape.d[r - 1];
  s->batches = 1;
  for (int d = 0; d < r - 2; d++) s->batches *= a->shape.d[d];
  s->upper = gl_attr_i(n, "upper", 1) != 0;
  s->has_k = vin(g, n, 1) != NULL; /* in[] has only the node's inputs: never read past them */
  k->run = run_trilu;
  return GL_OK;
}

/* ---- Compress, NonZero ---- */

typedef struct {
  int64_t outer, len, inner; /* len: condition entries used */
  size_t es;
  gl_dtype_t ct;
} compress_t;

static gl_status_t run_compress(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                void *const *out) {
  const compress_t *s = k->state;
  size_t blk = (size_t)s->inner * s->es;
  int64_t axis_len = s->len; /* stride of the source along the axis is set by prep */
  const int64_t *full = (const int64_t *)(s + 1);
  char *o = out[0];
  for (int64_t a = 0; a < s->outer; a++)
    for (int64_t j = 0; j < axis_len; j++)
      if (load_i64(in[1], s->ct, j)) {
        memcpy(o, (const char *)in[0] + (size_t)(a * full[0] + j) * blk, blk);
        o += blk;
      }
  return GL_OK;
}

static gl_status_t prep_compress(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *c = vin(g, n, 1);
  compress_t *s = state_alloc(k, sizeof *s + sizeof(int64_t));
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  int64_t *full = (int64_t *)(s + 1);
  s->ct = c->dtype;
  s->len = c->shape.d[0];
  s->outer = 1;
  s->inner = 1;
  const gl_attr_t *aa = gl_attr(n, "axis");
  if (aa) {
    int axis;
    GL_TRY(gl_norm_axis(n, aa->i, a->shape.rank, &axis));
    for (int d = 0; d < axis; d++) s->outer *= a->shape.d[d];
    for (int d = axis + 1; d < a->shape.rank; d++) s->inner *= a->shape.d[d];
    *full = a->shape.d[axis];
  } else {
    *full = gl_shape_numel(&a->shape);
  }
  k->run = run_compress;
  return GL_OK;
}

typedef struct {
  gl_shape_t shape;
  gl_dtype_t t;
} nonzero_t;

static gl_status_t run_nonzero(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                               void *const *out) {
  const nonzero_t *s = k->state;
  gl_tensor_t v = {.dtype = s->t, .shape = s->shape, .data = in[0]};
  int64_t total = gl_shape_numel(&s->shape), cnt = 0, r = s->shape.rank;
  bool fl = gl_dtype_is_float(s->t);
  for (int64_t i = 0; i < total; i++)
    cnt += fl ? gl_tensor_get_f64(&v, i) != 0 : gl_tensor_get_i64(&v, i) != 0;
  int64_t *o = out[0], j = 0;
  for (int64_t i = 0; i < total; i++) {
    if (fl ? gl_tensor_get_f64(&v, i) == 0 : gl_tensor_get_i64(&v, i) == 0) continue;
    int64_t q = i;
    for (int64_t d = r - 1; d >= 0; d--) {
      o[d * cnt + j] = q % s->shape.d[d];
      q /= s->shape.d[d];
    }
    j++;
  }
  return GL_OK;
}

static gl_status_t prep_nonzero(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  if (!a->data)
    return gl_err(GL_EUNSUPPORTED, "%s: data-dependent output shape (input '%s' is not constant)",
                  LBL, a->name);
  nonzero_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  s->shape = a->shape;
  s->t = a->dtype;
  (void)o;
  k->run = run_nonzero;
  return GL_OK;
}

/* ---- Pad ---- */

typedef struct {
  int rank;
  size_t es;
  bool value_input;
  char value[16];
  int64_t orows;                   /* output rows (all dims but the last) */
  int64_t odim[GL_MAX_RANK], istride[GL_MAX_RANK];
  int64_t *map[GL_MAX_RANK];       /* per dim: source index of each output index, -1 = constant */
  int64_t lo, hi;                  /* last dim: [lo, hi) maps to map[last][lo] + (o - lo) */
} pad_t;

static gl_status_t run_pad(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const pad_t *s = k->state;
  size_t es = s->es;
  const char *val = s->value_input && in[2] ? (const char *)in[2] : s->value;
  int last = s->rank - 1;
  if (s->rank == 0) {
    memcpy(out[0], in[0], es);
    return GL_OK;
  }
  int64_t olen = s->odim[last];
  const int64_t *lm = s->map[last];
  bool par = (size_t)(s->orows * olen) * es >= PAR_BYTES && s->orows > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < s->orows; r++) {
    char *o = (char *)out[0] + (size_t)(r * olen) * es;
    int64_t q = r, so = 0;
    bool fill = false;
    for (int d = last - 1; d >= 0; d--) {
      int64_t i = q % s->odim[d];
      q /= s->odim[d];
      int64_t m = s->map[d][i];
      if (m < 0) fill = true;
      so += m * s->istride[d];
    }
    if (fill) {
      fill_bytes(o, val, es, olen);
      continue;
    }
    const char *src = (const char *)in[0] + (size_t)so * es;
    for (int64_t j = 0; j < s->lo; j++)
      copy_elem(o + (size_t)j * es, lm[j] < 0 ? val : src + (size_t)lm[j] * es, es);
    if (s->hi > s->lo) memcpy(o + (size_t)s->lo * es, src + (size_t)lm[s->lo] * es, (size_t)(s->hi - s->lo) * es);
    for (int64_t j = s->hi > s->lo ? s->hi : s->lo; j < olen; j++)
      copy_elem(o + (size_t)j * es, lm[j] < 0 ? val : src + (size_t)lm[j] * es, es);
  }
  return GL_OK;
}

static int64_t pad_source(int mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case GL_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case GL_PAD_WRAP: return ((i % n) + n) % n;
    case GL_PAD_REFLECT:
      if (n == 1) return 0;
      {
        int64_t p = 2 * (n - 1);
        i = ((i % p) + p) % p;
        return i < n ? i : p - i;
      }
    default: return -1;
  }
}

static gl_status_t prep_pad(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                            gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  gl_pad_params_t p;
  GL_TRY(gl_pad_params(g, n, &p));
  size_t es;
  GL_TRY(elem_size(n, a->dtype, &es));
  if (es > 16) return gl_err(GL_EUNSUPPORTED, "%s: element type too wide", LBL);
  int64_t total = 0;
  for (int d = 0; d < p.rank; d++) total += o->shape.d[d];
  pad_t *s = state_alloc(k, sizeof *s + sizeof(int64_t) * (size_t)total);
  if (!s) return GL_ENOMEM;
  s->rank = p.rank;
  s->es = es;
  s->value_input = p.value_input;
  if (!p.value_input) store_f64(s->value, a->dtype, p.value);
  gl_shape_strides(&a->shape, s->istride);
  int64_t *tab = (int64_t *)(s + 1);
  s->orows = 1;
  for (int d = 0; d < p.rank; d++) {
    s->odim[d] = o->shape.d[d];
    if (d < p.rank - 1) s->orows *= o->shape.d[d];
    s->map[d] = tab;
    for (int64_t i = 0; i < o->shape.d[d]; i++)
      tab[i] = pad_source(p.mode, i - p.begin[d], a->shape.d[d]);
    tab += o->shape.d[d];
  }
  if (p.rank > 0) {
    int last = p.rank - 1;
    int64_t olen = o->shape.d[last], lo = p.begin[last] < 0 ? 0 : p.begin[last];
    int64_t hi = p.begin[last] + a->shape.d[last];
    if (hi > olen) hi = olen;
    if (lo > olen) lo = olen;
    s->lo = lo;
    s->hi = hi < lo ? lo : hi;
  }
  k->run = run_pad;
  return GL_OK;
}

/* ---- Resize, Upsample ---- */

typedef struct {
  int rank, mode;
  size_t es;
  gl_dtype_t t;
  double extrap;
  int64_t orows, olast;
  int64_t odim[GL_MAX_RANK], istride[GL_MAX_RANK];
  bool interp[GL_MAX_RANK];        /* linear: does this dim blend two inputs */
  int64_t *i0[GL_MAX_RANK], *i1[GL_MAX_RANK]; /* source indices (i0 -1 = extrapolate) */
  double *w[GL_MAX_RANK];          /* weight of i1 */
} resize_t;

/* One output row (all dims but the last fixed): the outer dims give up to 2^(rank-1) source rows
 * with weights; the last dim blends two elements of each. */
#define RESIZE_ROW(T)                                                                          \
  {                                                                                            \
    const T *src = in[0];                                                                      \
    T *dst = (T *)o;                                                                           \
    for (int64_t j = 0; j < s->olast; j++) {                                                   \
      int64_t v0 = l0[j], v1 = l1[j];                                                          \
      if (v0 < 0) {                                                                            \
        dst[j] = (T)s->extrap;                                                                 \
        continue;                                                                              \
      }                                                                                        \
      double w = lw[j], acc = 0;                                                               \
      for (int c = 0; c < nc; c++)                                                             \
        acc += cw[c] * ((1 - w) * (double)src[coff[c] + v0] + w * (double)src[coff[c] + v1]);  \
      dst[j] = (T)acc;                                                                         \
    }                                                                                          \
  }

static gl_status_t run_resize(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const resize_t *s = k->state;
  int last = s->rank - 1;
  size_t es = s->es;
  const int64_t *l0 = s->i0[last], *l1 = s->i1[last];
  const double *lw = s->w[last];
  bool par = (size_t)(s->orows * s->olast) * es >= PAR_BYTES && s->orows > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t row = 0; row < s->orows; row++) {
    int64_t idx[GL_MAX_RANK], q = row, coff[1 << (GL_MAX_RANK - 1)];
    double cw[1 << (GL_MAX_RANK - 1)];
    for (int d = last - 1; d >= 0; d--) idx[d] = q % s->odim[d], q /= s->odim[d];
    char *o = (char *)out[0] + (size_t)(row * s->olast) * es;
    int nc = 1;
    bool ext = false;
    coff[0] = 0;
    cw[0] = 1;
    for (int d = 0; d < last; d++) {
      int64_t v0 = s->i0[d][idx[d]], st = s->istride[d];
      if (v0 < 0) ext = true;
      if (s->mode == GL_RESIZE_LINEAR && s->interp[d]) {
        int64_t v1 = s->i1[d][idx[d]];
        double w = s->w[d][idx[d]];
        for (int c = 0; c < nc; c++) {
          coff[nc + c] = coff[c] + v1 * st;
          cw[nc + c] = cw[c] * w;
          coff[c] += v0 * st;
          cw[c] *= 1 - w;
        }
        nc *= 2;
      } else {
        for (int c = 0; c < nc; c++) coff[c] += v0 * st;
      }
    }
    if (ext) {
      for (int64_t j = 0; j < s->olast; j++) store_f64(o + (size_t)j * es, s->t, s->extrap);
      continue;
    }
    if (s->mode == GL_RESIZE_NEAREST) {
      const char *src = (const char *)in[0] + (size_t)coff[0] * es;
      for (int64_t j = 0; j < s->olast; j++) {
        if (l0[j] < 0) store_f64(o + (size_t)j * es, s->t, s->extrap);
        else copy_elem(o + (size_t)j * es, src + (size_t)l0[j] * es, es);
      }
    } else if (s->t == GL_DT_F32) {
      RESIZE_ROW(float)
    } else {
      RESIZE_ROW(double)
    }
  }
  return GL_OK;
}

static int64_t round_nearest(int mode, double v) {
  double f = floor(v);
  switch (mode) {
    case GL_NEAREST_FLOOR: return (int64_t)f;
    case GL_NEAREST_CEIL: return (int64_t)ceil(v);
    case GL_NEAREST_ROUND_PREFER_CEIL: return v - f == 0.5 ? (int64_t)f + 1 : (int64_t)llround(v);
    default: return v - f == 0.5 ? (int64_t)f : (int64_t)llround(v);
  }
}

static gl_status_t prep_resize(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0);
  gl_resize_params_t p;
  GL_TRY(gl_resize_params(g, n, &p));
  size_t es;
  GL_TRY(elem_size(n, a->dtype, &es));
  if (p.mode == GL_RESIZE_LINEAR && a->dtype != GL_DT_F32 && a->dtype != GL_DT_F64)
    return gl_err(GL_EUNSUPPORTED, "%s: linear mode supports float and double only", LBL);
  if (p.rank == 0) return gl_err(GL_EUNSUPPORTED, "%s: cannot resize a scalar", LBL);
  int64_t total = 0;
  for (int d = 0; d < p.rank; d++) total += p.out[d];
  size_t bytes = sizeof(resize_t) + (size_t)total * (2 * sizeof(int64_t) + sizeof(double));
  resize_t *s = state_alloc(k, bytes);
  if (!s) return GL_ENOMEM;
  s->rank = p.rank;
  s->mode = p.mode;
  s->es = es;
  s->t = a->dtype;
  s->extrap = p.extrapolation;
  gl_shape_strides(&a->shape, s->istride);
  char *mem = (char *)(s + 1);
  s->orows = 1;
  for (int d = 0; d < p.rank; d++) {
    int64_t on = p.out[d], in_len = a->shape.d[d];
    s->odim[d] = on;
    if (d < p.rank - 1) s->orows *= on;
    s->i0[d] = (int64_t *)mem, mem += sizeof(int64_t) * (size_t)on;
    s->i1[d] = (int64_t *)mem, mem += sizeof(int64_t) * (size_t)on;
    s->w[d] = (double *)mem, mem += sizeof(double) * (size_t)on;
    for (int64_t o = 0; o < on; o++) {
      double c = gl_resize_coord(&p, d, o, in_len);
      bool outside = p.coord == GL_COORD_TF_CROP_AND_RESIZE && (c < 0 || c > (double)(in_len - 1));
      if (p.mode == GL_RESIZE_NEAREST) {
        int mode = p.nearest;
        if (mode == GL_NEAREST_SIMPLE) mode = p.scale[d] < 1 ? GL_NEAREST_CEIL : GL_NEAREST_FLOOR;
        int64_t v = round_nearest(mode, c);
        v = v < 0 ? 0 : (v > in_len - 1 ? in_len - 1 : v);
        s->i0[d][o] = outside ? -1 : v;
        s->i1[d][o] = s->i0[d][o];
        s->w[d][o] = 0;
      } else {
        if (c < 0) c = 0;
        if (c > (double)(in_len - 1)) c = (double)(in_len - 1);
        int64_t i0 = (int64_t)floor(c), i1 = i0 + 1 < in_len ? i0 + 1 : i0;
        s->i0[d][o] = outside ? -1 : i0;
        s->i1[d][o] = outside ? -1 : i1;
        s->w[d][o] = c - (double)i0;
        if (s->w[d][o] != 0 && i1 != i0) s->interp[d] = true;
      }
    }
  }
  s->olast = p.out[p.rank - 1];
  if (gl_shape_numel(&vout(g, n, 0)->shape) == 0) s->orows = 0;
  k->run = run_resize;
  return GL_OK;
}

/* ---- ReverseSequence ---- */

typedef struct {
  int64_t batch, time, inner;
  bool time_first;
  size_t es;
  char label[96];
} revseq_t;

static gl_status_t run_reverse_sequence(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                        void *const *in, void *const *out) {
  const revseq_t *s = k->state;
  const int64_t *lens = in[1];
  for (int64_t b = 0; b < s->batch; b++)
    if (lens[b] < 0 || lens[b] > s->time)
      return gl_err(GL_EINVAL, "%s: sequence length %lld is outside 0..%lld", s->label,
                    (long long)lens[b], (long long)s->time);
  size_t blk = (size_t)s->inner * s->es;
  for (int64_t b = 0; b < s->batch; b++)
    for (int64_t t = 0; t < s->time; t++) {
      int64_t src_t = t < lens[b] ? lens[b] - 1 - t : t;
      int64_t o = s->time_first ? t * s->batch + b : b * s->time + t;
      int64_t i = s->time_first ? src_t * s->batch + b : b * s->time + src_t;
      memcpy((char *)out[0] + (size_t)o * blk, (const char *)in[0] + (size_t)i * blk, blk);
    }
  return GL_OK;
}

static gl_status_t prep_reverse_sequence(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                         const gl_node_t *n, gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0);
  revseq_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  snprintf(s->label, sizeof s->label, "%s", LBL);
  s->time_first = gl_attr_i(n, "time_axis", 0) == 0;
  s->time = a->shape.d[s->time_first ? 0 : 1];
  s->batch = a->shape.d[s->time_first ? 1 : 0];
  s->inner = 1;
  for (int d = 2; d < a->shape.rank; d++) s->inner *= a->shape.d[d];
  k->run = run_reverse_sequence;
  return GL_OK;
}

/* ---- GridSample ---- */

typedef struct {
  int64_t n, c, h, w, ho, wo;
  bool nearest, align;
  int pad; /* 0 zeros, 1 border, 2 reflection */
} grid_t;

/* Reflects x into the range the padding mode allows (PyTorch's and ONNX's rule), then clamps. */
static double grid_reflect(double x, int64_t size, bool align) {
  double lo = align ? 0 : -0.5, hi = align ? (double)(size - 1) : (double)size - 0.5;
  double span = hi - lo;
  if (span <= 0) return 0;
  double d = fabs(x - lo), extra = fmod(d, span);
  int64_t flips = (int64_t)floor(d / span);
  x = flips % 2 == 0 ? lo + extra : hi - extra;
  return x < 0 ? 0 : (x > (double)(size - 1) ? (double)(size - 1) : x);
}

static double grid_coord(const grid_t *s, double gcoord, int64_t size) {
  double x = s->align ? (gcoord + 1) / 2 * (double)(size - 1) : ((gcoord + 1) * (double)size - 1) / 2;
  if (s->pad == 1) x = x < 0 ? 0 : (x > (double)(size - 1) ? (double)(size - 1) : x);
  else if (s->pad == 2) x = grid_reflect(x, size, s->align);
  return x;
}

static gl_status_t run_grid_sample(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                   void *const *out) {
  const grid_t *s = k->state;
  const float *X = in[0], *G = in[1];
  float *Y = out[0];
  int64_t plane = s->h * s->w, oplane = s->ho * s->wo;
  bool par = s->n * s->c * oplane >= 16384 && s->n * s->ho > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t nh = 0; nh < s->n * s->ho; nh++) {
    int64_t b = nh / s->ho, oh = nh % s->ho;
    for (int64_t ow = 0; ow < s->wo; ow++) {
      const float *gp = G + ((b * s->ho + oh) * s->wo + ow) * 2;
      double fx = grid_coord(s, gp[0], s->w), fy = grid_coord(s, gp[1], s->h);
      int64_t tx[4], ty[4];
      double tw[4];
      int nt;
      if (s->nearest) {
        tx[0] = (int64_t)nearbyint(fx), ty[0] = (int64_t)nearbyint(fy), tw[0] = 1, nt = 1;
      } else {
        int64_t x0 = (int64_t)floor(fx), y0 = (int64_t)floor(fy);
        double ax = fx - (double)x0, ay = fy - (double)y0;
        tx[0] = x0, ty[0] = y0, tw[0] = (1 - ax) * (1 - ay);
        tx[1] = x0 + 1, ty[1] = y0, tw[1] = ax * (1 - ay);
        tx[2] = x0, ty[2] = y0 + 1, tw[2] = (1 - ax) * ay;
        tx[3] = x0 + 1, ty[3] = y0 + 1, tw[3] = ax * ay;
        nt = 4;
      }
      int64_t off[4];
      for (int t = 0; t < nt; t++) {
        bool inside = tx[t] >= 0 && tx[t] < s->w && ty[t] >= 0 && ty[t] < s->h;
        off[t] = inside ? ty[t] * s->w + tx[t] : -1; /* outside taps read as 0 */
      }
      for (int64_t c = 0; c < s->c; c++) {
        const float *xp = X + (b * s->c + c) * plane;
        double acc = 0;
        for (int t = 0; t < nt; t++)
          if (off[t] >= 0) acc += tw[t] * xp[off[t]];
        Y[(b * s->c + c) * oplane + oh * s->wo + ow] = (float)acc;
      }
    }
  }
  return GL_OK;
}

static gl_status_t prep_grid_sample(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  grid_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  s->n = a->shape.d[0], s->c = a->shape.d[1], s->h = a->shape.d[2], s->w = a->shape.d[3];
  s->ho = o->shape.d[2], s->wo = o->shape.d[3];
  s->nearest = !strcmp(gl_attr_s(n, "mode", "bilinear"), "nearest");
  s->align = gl_attr_i(n, "align_corners", 0) != 0;
  const char *pad = gl_attr_s(n, "padding_mode", "zeros");
  s->pad = !strcmp(pad, "border") ? 1 : !strcmp(pad, "reflection") ? 2 : 0;
  k->run = run_grid_sample;
  return GL_OK;
}

const gl_cpu_op_t gl_cpu_ops_tensor[] = {
    {"Shape", prep_shape},
    {"Size", prep_size},
    {"Constant", prep_constant},
    {"ConstantOfShape", prep_constant_of_shape},
    {"Reshape", prep_copy},
    {"Flatten", prep_copy},
    {"Squeeze", prep_copy},
    {"Unsqueeze", prep_copy},
    {"Transpose", prep_transpose},
    {"Concat", prep_concat_split},
    {"Split", prep_concat_split},
    {"Slice", prep_slice},
    {"Gather", prep_gather},
    {"GatherElements", prep_gather_elements},
    {"GatherND", prep_nd},
    {"ScatterElements", prep_scatter_elements},
    {"Scatter", prep_scatter_elements},
    {"ScatterND", prep_nd},
    {"Expand", prep_expand},
    {"Tile", prep_tile},
    {"Range", prep_range},
    {"Pad", prep_pad},
    {"Resize", prep_resize},
    {"Upsample", prep_resize},
    {"DepthToSpace", prep_depth_space},
    {"SpaceToDepth", prep_depth_space},
    {"OneHot", prep_one_hot},
    {"Trilu", prep_trilu},
    {"EyeLike", prep_eye_like},
    {"Compress", prep_compress},
    {"NonZero", prep_nonzero},
    {"ReverseSequence", prep_reverse_sequence},
    {"GridSample", prep_grid_sample},
    {0},
};
