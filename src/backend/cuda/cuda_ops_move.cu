/* backend/cuda/cuda_ops_move.cu - the CUDA backend's data movement (Transpose, Slice, Expand,
 * Gather, Concat, Split, Tile, Pad, Where, copies), conversions (Cast) and reductions (ReduceMean,
 * ReduceSum) and Resize. The movers are typed by element size only (1, 2, 4 or 8 bytes), so they
 * carry f32 at fp16 as 2-byte halves unchanged; Cast, Resize and the reductions read and write
 * float storage through gl_k_ldf/gl_k_stf. Bodies in cuda_kernels.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_layout.h"
#include "backend/cuda/cuda_ops_int.h"

extern "C" {
#include "graph/ops.h"
#include "graph/ops_tensor.h"
}

/* ---------------------------------------------------------------- kernels */
template <typename T>
__global__ void k_permute(gl_k_perm_t p, int64_t start, const T *x, T *y, int64_t n) {
  GL_CU_FOR(i, n) y[i] = x[gl_k_slice_offset(&p, start, i)];
}

template <typename T>
__global__ void k_tile(gl_k_tile_t t, const T *x, T *y, int64_t n) {
  GL_CU_FOR(i, n) y[i] = x[gl_k_tile_offset(&t, i)];
}

template <typename T>
__global__ void k_pad(gl_k_pad_t p, const T *x, T *y, T value, int64_t n) {
  GL_CU_FOR(i, n) {
    int64_t o = gl_k_pad_src(&p, i);
    y[i] = o < 0 ? value : x[o];
  }
}

template <typename T>
__global__ void k_where(gl_k_bcast3_t b, const unsigned char *c, const T *x, const T *z, T *y, int64_t n) {
  GL_CU_FOR(i, n) {
    int64_t o[3];
    gl_k_bcast3_offsets(&b, i, o);
    y[i] = c[o[0]] ? x[o[1]] : z[o[2]];
  }
}

__global__ void k_resize(gl_k_resize_t r, const int64_t *i0, const int64_t *i1, const double *w, const void *x,
                         void *y, int h, int64_t n) {
  GL_CU_FOR(i, n) gl_k_stf(y, h, i, gl_k_resize_at(&r, i0, i1, w, x, h, i));
}

__global__ void k_cast(int from, int to, const void *x, void *y, int64_t n) {
  GL_CU_FOR(i, n) gl_k_cast_at(from, to, x, y, i);
}

template <typename T>
__global__ void k_gather(const T *x, const int64_t *idx64, const int32_t *idx32, int64_t n_idx,
                         int64_t axis_len, int64_t inner, T *y, int64_t n, int *bad) {
  GL_CU_FOR(i, n) {
    int64_t in_i = i % inner, r = i / inner, j = r % n_idx, o = r / n_idx;
    int64_t k = idx64 ? idx64[j] : idx32[j];
    if (k < 0) k += axis_len;
    if (k < 0 || k >= axis_len) {
      *bad = 1;
      y[i] = T(0);
    } else {
      y[i] = x[(o * axis_len + k) * inner + in_i];
    }
  }
}

template <typename T>
__global__ void k_concat(const T *x, T *y, int64_t cols, int64_t col0, int64_t row_len, int64_t n) {
  GL_CU_FOR(i, n) y[gl_k_concat_dst(cols, col0, row_len, i)] = x[i];
}

/* Mean/sum over the inner `len` elements of each of `rows` rows (reduced axes made innermost by
 * the caller's permutation p). */
__global__ void k_reduce(gl_k_perm_t p, const void *x, void *y, int h, int64_t rows, int64_t len, int mean) {
  GL_CU_FOR(r, rows) {
    float acc = 0.f;
    for (int64_t j = 0; j < len; j++) acc += gl_k_ldf(x, h, gl_k_perm_offset(&p, r * len + j));
    gl_k_stf(y, h, r, mean ? acc / (float)len : acc);
  }
}

/* ---------------------------------------------------------------- data movement */
typedef struct {
  gl_k_perm_t p;
  int64_t start, n, n_idx, axis_len, inner;
  int esz;
  int idx64;
  int n_parts;
  int64_t cols[64], col0[64], row_len;
  int *bad; /* the plan's device flag, set by Gather on an out-of-range index (not owned) */
  int mean;
  int64_t rows, len;
  int axis;
  int h; /* float storage is half (the reductions) */
} mv_t;

static void mv_destroy(void *p) {
  mv_t *s = (mv_t *)p;
  gl_free(s);
}

static gl_status_t run_transpose(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  switch (s->esz) {
    case 1: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint8_t *)in[0], (uint8_t *)out[0], s->n); break;
    case 2: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint16_t *)in[0], (uint16_t *)out[0], s->n); break;
    case 4: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint32_t *)in[0], (uint32_t *)out[0], s->n); break;
    default: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint64_t *)in[0], (uint64_t *)out[0], s->n); break;
  }
  return gl_cu_launch_check("strided copy kernel");
}

gl_status_t gl_cu_prep_transpose(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  int cnt;
  const int64_t *perm = gl_attr_ints(n, "perm", &cnt);
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(x, st);
  s->p.rank = x->rank ? x->rank : 1;
  s->p.dims[0] = 1;
  for (int d = 0; d < x->rank; d++) {
    int from = perm ? (int)perm[d] : x->rank - 1 - d;
    s->p.dims[d] = x->d[from];
    s->p.in_st[d] = st[from];
  }
  s->n = gl_shape_numel(x);
  s->esz = (int)gl_cu_esz(cx, gl_in(g, n, 0)->dtype);
  return gl_cu_esz_ok(n, (size_t)s->esz);
}

gl_status_t gl_cu_prep_relayout(gl_cu_ctx_t *cx, const gl_value_t *v, int to_nhwc, gl_cu_step_t *k) {
  if (v->shape.rank != 4) return gl_err(GL_EINVAL, "a layout conversion of a rank-%d tensor", v->shape.rank);
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  gl_k_relayout_perm(&s->p, v->shape.d[0], v->shape.d[1], v->shape.d[2], v->shape.d[3], to_nhwc);
  s->n = gl_shape_numel(&v->shape);
  s->esz = (int)gl_cu_esz(cx, v->dtype);
  return GL_OK;
}

static gl_status_t run_gather(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n) return GL_OK;
  const int64_t *i64 = s->idx64 ? (const int64_t *)in[1] : NULL;
  const int32_t *i32 = s->idx64 ? NULL : (const int32_t *)in[1];
  unsigned nb = gl_cu_blocks(s->n);
  if (s->esz == 4)
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint32_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint32_t *)out[0], s->n, s->bad);
  else if (s->esz == 8)
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint64_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint64_t *)out[0], s->n, s->bad);
  else if (s->esz == 2)
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint16_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint16_t *)out[0], s->n, s->bad);
  else
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint8_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint8_t *)out[0], s->n, s->bad);
  return gl_cu_launch_check("gather kernel");
}

gl_status_t gl_cu_prep_gather(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *ix = gl_in(g, n, 1);
  size_t xsz = gl_cu_esz(cx, x->dtype);
  if ((xsz != 1 && xsz != 2 && xsz != 4 && xsz != 8) || (ix->dtype != GL_DT_I64 && ix->dtype != GL_DT_I32))
    return gl_err(GL_EUNSUPPORTED, "%s: CUDA gathers 1-, 2-, 4- or 8-byte data with int32/int64 indices", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = mv_destroy;
  k->run = run_gather;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), x->shape.rank, &axis));
  s->axis_len = x->shape.d[axis];
  s->inner = 1;
  for (int d = axis + 1; d < x->shape.rank; d++) s->inner *= x->shape.d[d];
  s->n_idx = gl_shape_numel(&ix->shape);
  s->n = gl_shape_numel(&gl_out(g, n, 0)->shape);
  s->idx64 = ix->dtype == GL_DT_I64;
  s->esz = (int)xsz;
  /* Out-of-range indices are zeroed and raise the plan's flag, which plan_wait reads. */
  s->bad = cx->bad_flag;
  if (!s->bad) return gl_err(GL_EINVAL, "%s: the plan has no error flag", gl_node_label(n));
  return GL_OK;
}

static gl_status_t run_concat(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  for (int i = 0; i < s->n_parts; i++) {
    int64_t cnt = s->cols[i] * s->rows;
    if (!cnt) continue;
    unsigned nb = gl_cu_blocks(cnt);
    if (s->esz == 8)
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint64_t *)in[i], (uint64_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
    else if (s->esz == 4)
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint32_t *)in[i], (uint32_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
    else if (s->esz == 2)
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint16_t *)in[i], (uint16_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
    else
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint8_t *)in[i], (uint8_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
  }
  return gl_cu_launch_check("concat kernel");
}

gl_status_t gl_cu_prep_concat(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *y = &gl_out(g, n, 0)->shape;
  if (n->n_inputs > 64) return gl_err(GL_EUNSUPPORTED, "%s: more than 64 inputs on CUDA", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_concat;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), y->rank, &axis));
  gl_shape_t yp = *y;
  if (cx->nhwc_node) { /* channels-last: the same concat over (n, h, w, c) */
    static const int to_phys[4] = {0, 3, 1, 2};
    yp = gl_cu_lay_nhwc_shape(y);
    axis = to_phys[axis];
    y = &yp;
  }
  s->rows = 1;
  for (int d = 0; d < axis; d++) s->rows *= y->d[d];
  s->row_len = s->rows ? gl_shape_numel(y) / s->rows : 0;
  int64_t c0 = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    const gl_value_t *v = gl_in(g, n, i);
    s->cols[i] = s->rows ? gl_shape_numel(&v->shape) / s->rows : 0;
    s->col0[i] = c0;
    c0 += s->cols[i];
  }
  s->n_parts = n->n_inputs;
  s->esz = (int)gl_cu_esz(cx, gl_out(g, n, 0)->dtype);
  if (s->esz != 1 && s->esz != 2 && s->esz != 4 && s->esz != 8)
    return gl_err(GL_EUNSUPPORTED, "%s: %d-byte elements in Concat on CUDA", gl_node_label(n), s->esz);
  return GL_OK;
}

static gl_status_t run_reduce(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (s->rows) k_reduce<<<gl_cu_blocks(s->rows), 256, 0, cx->stream>>>(s->p, in[0], out[0], s->h, s->rows, s->len, s->mean);
  return gl_cu_launch_check("reduce kernel");
}

gl_status_t gl_cu_prep_reduce(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  bool red[GL_MAX_RANK] = {false};
  int cnt = 0;
  const int64_t *axes = gl_attr_ints(n, "axes", &cnt);
  const gl_value_t *av = gl_in(g, n, 1);
  int64_t tmp[GL_MAX_RANK];
  if (!axes && av && av->data) {
    cnt = (int)gl_shape_numel(&av->shape);
    for (int i = 0; i < cnt && i < GL_MAX_RANK; i++) tmp[i] = gl_tensor_get_i64(av->data, i);
    axes = tmp;
  }
  if (!cnt) {
    if (gl_attr_i(n, "noop_with_empty_axes", 0)) return gl_err(GL_EUNSUPPORTED, "%s: no-op reduce on CUDA", gl_node_label(n));
    for (int d = 0; d < x->rank; d++) red[d] = true;
  }
  for (int i = 0; i < cnt; i++) {
    int a;
    GL_TRY(gl_norm_axis(n, axes[i], x->rank, &a));
    red[a] = true;
  }
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_reduce;
  s->mean = !strcmp(n->op_type, "ReduceMean");
  s->h = cx->half;
  /* Permute kept dims first, reduced dims last. */
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(x, st);
  int r = 0;
  s->rows = 1;
  s->len = 1;
  for (int pass = 0; pass < 2; pass++)
    for (int d = 0; d < x->rank; d++)
      if (red[d] == (pass == 1)) {
        s->p.dims[r] = x->d[d];
        s->p.in_st[r++] = st[d];
        if (pass) s->len *= x->d[d];
        else s->rows *= x->d[d];
      }
  s->p.rank = r ? r : 1;
  if (!r) s->p.dims[0] = 1;
  return GL_OK;
}

/* ---------------------------------------------------------------- more data movement */
/* Reshape and friends when the plan cannot alias them: a device-to-device copy. */
static gl_status_t run_copy(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n || in[0] == out[0]) return GL_OK;
  GL_CU(cudaMemcpyAsync(out[0], in[0], (size_t)s->n, cudaMemcpyDeviceToDevice, cx->stream), "copying a tensor");
  return GL_OK;
}

gl_status_t gl_cu_prep_copy(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (x->dtype != y->dtype || gl_shape_numel(&x->shape) != gl_shape_numel(&y->shape))
    return gl_err(GL_EINVAL, "%s: a copy that changes the type or the size", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_copy;
  s->n = gl_shape_numel(&y->shape) * (int64_t)gl_cu_esz(cx, y->dtype);
  return GL_OK;
}

/* The strided copy of Transpose, run for Slice (start and steps folded in) and Expand
 * (broadcast dims read with stride 0). */
gl_status_t gl_cu_prep_slice(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  gl_slice_params_t sp;
  GL_TRY(gl_slice_params(g, n, &sp));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(&x->shape, st);
  s->p.rank = x->shape.rank ? x->shape.rank : 1;
  s->p.dims[0] = 1;
  for (int d = 0; d < x->shape.rank; d++) {
    s->p.dims[d] = y->shape.d[d];
    s->p.in_st[d] = st[d] * sp.step[d];
    s->start += sp.start[d] * st[d];
  }
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_cu_esz(cx, x->dtype);
  return gl_cu_esz_ok(n, (size_t)s->esz);
}

gl_status_t gl_cu_prep_expand(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (y->shape.rank > GL_K_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "%s: rank on CUDA", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  s->p.rank = y->shape.rank ? y->shape.rank : 1;
  s->p.dims[0] = 1;
  for (int d = 0; d < y->shape.rank; d++) s->p.dims[d] = y->shape.d[d];
  gl_cu_bcast_strides(&y->shape, &x->shape, s->p.in_st);
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_cu_esz(cx, x->dtype);
  return gl_cu_esz_ok(n, (size_t)s->esz);
}

/* Split: output k is the slice [col0[k], col0[k] + cols[k]) of the split axis. */
static gl_status_t run_split(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  for (int i = 0; i < s->n_parts; i++) {
    if (!out[i] || !s->cols[i]) continue;
    gl_k_perm_t p = s->p;
    p.dims[s->axis] = s->cols[i];
    int64_t cnt = s->n / s->p.dims[s->axis] * s->cols[i], start = s->col0[i] * s->p.in_st[s->axis];
    unsigned nb = gl_cu_blocks(cnt);
    if (s->esz == 8) k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint64_t *)in[0], (uint64_t *)out[i], cnt);
    else if (s->esz == 4) k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint32_t *)in[0], (uint32_t *)out[i], cnt);
    else if (s->esz == 2) k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint16_t *)in[0], (uint16_t *)out[i], cnt);
    else k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint8_t *)in[0], (uint8_t *)out[i], cnt);
  }
  return gl_cu_launch_check("split kernel");
}

gl_status_t gl_cu_prep_split(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0);
  if (n->n_outputs > 64) return gl_err(GL_EUNSUPPORTED, "%s: more than 64 outputs on CUDA", gl_node_label(n));
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), x->shape.rank, &axis));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_split;
  s->axis = axis;
  gl_shape_strides(&x->shape, s->p.in_st);
  s->p.rank = x->shape.rank;
  for (int d = 0; d < x->shape.rank; d++) s->p.dims[d] = x->shape.d[d];
  s->n = gl_shape_numel(&x->shape);
  int64_t c0 = 0;
  for (int i = 0; i < n->n_outputs; i++) {
    const gl_value_t *o = gl_out(g, n, i);
    s->cols[i] = o ? o->shape.d[axis] : 0;
    s->col0[i] = c0;
    c0 += s->cols[i];
  }
  s->n_parts = n->n_outputs;
  if (c0 > x->shape.d[axis]) return gl_err(GL_ESHAPE, "%s: the parts exceed the input", gl_node_label(n));
  s->esz = (int)gl_cu_esz(cx, x->dtype);
  return gl_cu_esz_ok(n, (size_t)s->esz);
}

typedef struct {
  gl_k_tile_t t;
  gl_k_pad_t pad;
  gl_k_bcast3_t b3;
  int64_t n;
  int esz, from, to;
  uint64_t value; /* Pad's constant, as the element's bits */
} mv2_t;

static gl_status_t run_tile(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  if (s->esz == 8) k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint64_t *)in[0], (uint64_t *)out[0], s->n);
  else if (s->esz == 4) k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint32_t *)in[0], (uint32_t *)out[0], s->n);
  else if (s->esz == 2) k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint16_t *)in[0], (uint16_t *)out[0], s->n);
  else k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint8_t *)in[0], (uint8_t *)out[0], s->n);
  return gl_cu_launch_check("tile kernel");
}

gl_status_t gl_cu_prep_tile(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_tile;
  s->t.rank = x->shape.rank ? x->shape.rank : 1;
  s->t.dims[0] = s->t.in_dims[0] = 1;
  gl_shape_strides(&x->shape, s->t.in_st);
  for (int d = 0; d < x->shape.rank; d++) {
    s->t.dims[d] = y->shape.d[d];
    s->t.in_dims[d] = x->shape.d[d];
    if (!x->shape.d[d] && y->shape.d[d]) return gl_err(GL_ESHAPE, "%s: tiling an empty dim", gl_node_label(n));
  }
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_cu_esz(cx, x->dtype);
  return gl_cu_esz_ok(n, (size_t)s->esz);
}

static gl_status_t run_pad(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  if (s->esz == 8) k_pad<<<nb, 256, 0, cx->stream>>>(s->pad, (const uint64_t *)in[0], (uint64_t *)out[0], (uint64_t)s->value, s->n);
  else if (s->esz == 4) k_pad<<<nb, 256, 0, cx->stream>>>(s->pad, (const uint32_t *)in[0], (uint32_t *)out[0], (uint32_t)s->value, s->n);
  else k_pad<<<nb, 256, 0, cx->stream>>>(s->pad, (const uint16_t *)in[0], (uint16_t *)out[0], (uint16_t)s->value, s->n);
  return gl_cu_launch_check("pad kernel");
}

gl_status_t gl_cu_prep_pad(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  gl_pad_params_t pp;
  GL_TRY(gl_pad_params(g, n, &pp));
  if (pp.mode != GL_PAD_CONSTANT) return gl_err(GL_EUNSUPPORTED, "%s: only constant Pad on CUDA", gl_node_label(n));
  if (x->dtype != GL_DT_F32 && x->dtype != GL_DT_I64)
    return gl_err(GL_EUNSUPPORTED, "%s: Pad of %s on CUDA", gl_node_label(n), gl_dtype_name(x->dtype));
  double v = pp.value;
  if (pp.value_input) {
    const gl_value_t *cv = gl_in(g, n, 2);
    if (!cv->data) return gl_err(GL_EUNSUPPORTED, "%s: a computed pad value on CUDA", gl_node_label(n));
    v = gl_tensor_get_f64(cv->data, 0);
  }
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_pad;
  s->pad.rank = x->shape.rank ? x->shape.rank : 1;
  s->pad.dims[0] = s->pad.in_dims[0] = 1;
  gl_shape_strides(&x->shape, s->pad.in_st);
  for (int d = 0; d < x->shape.rank; d++) {
    s->pad.dims[d] = y->shape.d[d];
    s->pad.in_dims[d] = x->shape.d[d];
    s->pad.pre[d] = pp.begin[d];
  }
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_cu_esz(cx, x->dtype);
  if (x->dtype == GL_DT_F32 && cx->half) {
    s->value = gl_k_f2h((float)v);
  } else if (x->dtype == GL_DT_F32) {
    float f = (float)v;
    uint32_t b;
    memcpy(&b, &f, 4);
    s->value = b;
  } else {
    int64_t i = (int64_t)v;
    memcpy(&s->value, &i, 8);
  }
  return GL_OK;
}

static gl_status_t run_where(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  const unsigned char *c = (const unsigned char *)in[0];
  if (s->esz == 8) k_where<<<nb, 256, 0, cx->stream>>>(s->b3, c, (const uint64_t *)in[1], (const uint64_t *)in[2], (uint64_t *)out[0], s->n);
  else if (s->esz == 4) k_where<<<nb, 256, 0, cx->stream>>>(s->b3, c, (const uint32_t *)in[1], (const uint32_t *)in[2], (uint32_t *)out[0], s->n);
  else k_where<<<nb, 256, 0, cx->stream>>>(s->b3, c, (const uint16_t *)in[1], (const uint16_t *)in[2], (uint16_t *)out[0], s->n);
  return gl_cu_launch_check("where kernel");
}

gl_status_t gl_cu_prep_where(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *c = gl_in(g, n, 0), *a = gl_in(g, n, 1), *b = gl_in(g, n, 2), *y = gl_out(g, n, 0);
  size_t esz = gl_cu_esz(cx, y->dtype);
  if (c->dtype != GL_DT_BOOL || (esz != 2 && esz != 4 && esz != 8))
    return gl_err(GL_EUNSUPPORTED, "%s: Where of %s on CUDA", gl_node_label(n), gl_dtype_name(y->dtype));
  if (y->shape.rank > GL_K_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "%s: rank on CUDA", gl_node_label(n));
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_where;
  s->b3.rank = y->shape.rank ? y->shape.rank : 1;
  s->b3.dims[0] = 1;
  for (int d = 0; d < y->shape.rank; d++) s->b3.dims[d] = y->shape.d[d];
  gl_cu_bcast_strides(&y->shape, &c->shape, s->b3.st[0]);
  gl_cu_bcast_strides(&y->shape, &a->shape, s->b3.st[1]);
  gl_cu_bcast_strides(&y->shape, &b->shape, s->b3.st[2]);
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)esz;
  return GL_OK;
}

static int cast_code(const gl_cu_ctx_t *cx, gl_dtype_t t) {
  switch (t) {
    case GL_DT_F32: return cx->half ? GL_K_T_F16 : GL_K_T_F32;
    case GL_DT_I64: return GL_K_T_I64;
    case GL_DT_I32: return GL_K_T_I32;
    case GL_DT_BOOL: return GL_K_T_BOOL;
    default: return -1;
  }
}

static gl_status_t run_cast(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (s->n) k_cast<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->from, s->to, in[0], out[0], s->n);
  return gl_cu_launch_check("cast kernel");
}

gl_status_t gl_cu_prep_cast(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  int from = cast_code(cx, x->dtype), to = cast_code(cx, y->dtype);
  if (from < 0 || to < 0)
    return gl_err(GL_EUNSUPPORTED, "%s: Cast from %s to %s on CUDA", gl_node_label(n), gl_dtype_name(x->dtype),
                  gl_dtype_name(y->dtype));
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_cast;
  s->from = from, s->to = to;
  s->n = gl_shape_numel(&y->shape);
  return GL_OK;
}

/* Resize: the host builds the per-dim source tables once (as the CPU backend does) and uploads
 * them at prepare time, outside any capture. */
typedef struct {
  gl_k_resize_t r;
  void *tab; /* device: i0[total], i1[total], w[total] */
  int64_t total, n;
  int h;
} resize_t;

static void resize_destroy(void *p) {
  resize_t *s = (resize_t *)p;
  if (s->tab) cudaFree(s->tab);
  gl_free(s);
}

static gl_status_t run_resize(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const resize_t *s = (const resize_t *)k->state;
  if (!s->n) return GL_OK;
  const int64_t *i0 = (const int64_t *)s->tab, *i1 = i0 + s->total;
  const double *w = (const double *)(i1 + s->total);
  k_resize<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->r, i0, i1, w, in[0], out[0], s->h, s->n);
  return gl_cu_launch_check("resize kernel");
}

gl_status_t gl_cu_prep_resize(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (x->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float Resize only on CUDA", gl_node_label(n));
  resize_t *s = (resize_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = resize_destroy;
  k->run = run_resize;
  s->h = cx->half;
  int64_t *tab = NULL;
  int linear = 0;
  double extrap = 0;
  GL_TRY(gl_cuda_resize_tables(g, n, &tab, s->r.off, &s->total, &linear, &extrap));
  size_t bytes = (size_t)(s->total ? s->total : 1) * (2 * sizeof(int64_t) + sizeof(double));
  gl_status_t st = gl_cu_check(cudaMalloc(&s->tab, bytes), "allocating Resize's tables");
  if (!st) st = gl_cu_check(cudaMemcpy(s->tab, tab, bytes, cudaMemcpyHostToDevice), "uploading Resize's tables");
  gl_free(tab);
  GL_TRY(st);
  s->r.rank = x->shape.rank;
  s->r.linear = linear;
  s->r.extrap = (float)extrap;
  gl_shape_strides(&x->shape, s->r.ist);
  for (int d = 0; d < y->shape.rank; d++) s->r.odim[d] = y->shape.d[d];
  s->n = gl_shape_numel(&y->shape);
  return GL_OK;
}

