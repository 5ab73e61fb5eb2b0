/* backend/cpu/cpu_tensor.c - CPU kernels for the tensor op family: data movement by element size
 * (any dtype), index tables built in prepare, a shared strided-copy engine for Transpose, Slice,
 * Expand, Tile, DepthToSpace and SpaceToDepth. */
#include <stdlib.h>

#include "backend/cpu/cpu_tensor_int.h"

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
    {"Expand", prep_expand},
    {"Tile", prep_tile},
    {"Range", prep_range},
    {"DepthToSpace", prep_depth_space},
    {"SpaceToDepth", prep_depth_space},
    {"OneHot", prep_one_hot},
    {"Trilu", prep_trilu},
    {"EyeLike", prep_eye_like},
    {"Compress", prep_compress},
    {"NonZero", prep_nonzero},
    {0},
};
