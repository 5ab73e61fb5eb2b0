/* graph/ops_index.c - schemas and shape inference for the indexing ops of the tensor family:
 * Gather, GatherElements, GatherND, Scatter*, OneHot, Trilu, EyeLike, and the data-dependent ones
 * that infer only from constant inputs (Compress, NonZero, Unique computes its outputs here). */
#include "graph/ops_tensor_int.h"

/* ---- Gather family, Scatter family ---- */

static gl_status_t infer_gather(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = in_v(g, n, 0), *ix = in_v(g, n, 1);
  GL_TRY(need_index_type(n, ix));
  int r = x->shape.rank, q = ix->shape.rank, axis;
  if (r == 0) return gl_err(GL_ESHAPE, "%s: data must have rank >= 1", LBL);
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), r, &axis));
  GL_TRY(check_rank(n, r + q - 1));
  if (ix->data) {
    int64_t k = x->shape.d[axis], cnt = gl_shape_numel(&ix->shape);
    for (int64_t i = 0; i < cnt; i++) {
      int64_t v = gl_tensor_get_i64(ix->data, i);
      if (v < -k || v >= k)
        return gl_err(GL_EINVAL, "%s: index %lld is out of range for axis %d of size %lld", LBL,
                      (long long)v, axis, (long long)k);
    }
  }
  gl_shape_t s = {0, {0}};
  for (int d = 0; d < axis; d++) s.d[s.rank++] = x->shape.d[d];
  for (int d = 0; d < q; d++) s.d[s.rank++] = ix->shape.d[d];
  for (int d = axis + 1; d < r; d++) s.d[s.rank++] = x->shape.d[d];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_gather_elements(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = in_v(g, n, 0), *ix = in_v(g, n, 1);
  GL_TRY(need_index_type(n, ix));
  int r = x->shape.rank, axis;
  if (r == 0 || ix->shape.rank != r)
    return gl_err(GL_ESHAPE, "%s: data and indices must have the same rank >= 1", LBL);
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), r, &axis));
  for (int d = 0; d < r; d++)
    if (d != axis && ix->shape.d[d] > x->shape.d[d])
      return gl_err(GL_ESHAPE, "%s: indices dim %d (%lld) exceeds data's (%lld)", LBL, d,
                    (long long)ix->shape.d[d], (long long)x->shape.d[d]);
  gl_set_out(g, n, 0, x->dtype, &ix->shape);
  return GL_OK;
}

static gl_status_t infer_gather_nd(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = in_v(g, n, 0), *ix = in_v(g, n, 1);
  if (ix->dtype != GL_DT_I64) GL_TRY(need_index_type(n, ix));
  int r = x->shape.rank, q = ix->shape.rank;
  int64_t b = gl_attr_i(n, "batch_dims", 0);
  if (r < 1 || q < 1) return gl_err(GL_ESHAPE, "%s: data and indices need rank >= 1", LBL);
  if (b < 0 || b >= r || b >= q)
    return gl_err(GL_EINVAL, "%s: batch_dims %lld does not fit ranks %d and %d", LBL, (long long)b, r, q);
  int64_t k = ix->shape.d[q - 1];
  if (k < 1 || k > r - b)
    return gl_err(GL_ESHAPE, "%s: indices' last dim %lld must be in 1..%lld", LBL, (long long)k,
                  (long long)(r - b));
  for (int d = 0; d < b; d++)
    if (x->shape.d[d] != ix->shape.d[d])
      return gl_err(GL_ESHAPE, "%s: batch dim %d differs (%lld vs %lld)", LBL, d,
                    (long long)x->shape.d[d], (long long)ix->shape.d[d]);
  gl_shape_t s = {0, {0}};
  GL_TRY(check_rank(n, (int)(q - 1 + r - b - k)));
  for (int d = 0; d < q - 1; d++) s.d[s.rank++] = ix->shape.d[d];
  for (int64_t d = b + k; d < r; d++) s.d[s.rank++] = x->shape.d[d];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t check_reduction(const gl_node_t *n) {
  const char *red = gl_attr_s(n, "reduction", "none");
  if (strcmp(red, "none") && strcmp(red, "add") && strcmp(red, "mul") && strcmp(red, "max") &&
      strcmp(red, "min"))
    return gl_err(GL_EUNSUPPORTED, "%s: reduction '%s' is not supported", LBL, red);
  return GL_OK;
}

static gl_status_t infer_scatter_elements(gl_graph_t *g, gl_node_t *n) {
  for (int i = 0; i < 3; i++) GL_TRY(gl_need_in(g, n, i));
  const gl_value_t *x = in_v(g, n, 0), *ix = in_v(g, n, 1), *u = in_v(g, n, 2);
  GL_TRY(need_index_type(n, ix));
  GL_TRY(check_reduction(n));
  int r = x->shape.rank, axis;
  if (r == 0 || ix->shape.rank != r || !gl_shape_eq(&ix->shape, &u->shape))
    return gl_err(GL_ESHAPE, "%s: indices and updates must have data's rank and one shape", LBL);
  if (u->dtype != x->dtype) return gl_err(GL_ETYPE, "%s: updates and data differ in type", LBL);
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), r, &axis));
  for (int d = 0; d < r; d++)
    if (d != axis && ix->shape.d[d] > x->shape.d[d])
      return gl_err(GL_ESHAPE, "%s: indices dim %d exceeds data's", LBL, d);
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

static gl_status_t infer_scatter_nd(gl_graph_t *g, gl_node_t *n) {
  for (int i = 0; i < 3; i++) GL_TRY(gl_need_in(g, n, i));
  const gl_value_t *x = in_v(g, n, 0), *ix = in_v(g, n, 1), *u = in_v(g, n, 2);
  GL_TRY(need_index_type(n, ix));
  GL_TRY(check_reduction(n));
  int r = x->shape.rank, q = ix->shape.rank;
  if (r < 1 || q < 1) return gl_err(GL_ESHAPE, "%s: data and indices need rank >= 1", LBL);
  int64_t k = ix->shape.d[q - 1];
  if (k < 1 || k > r) return gl_err(GL_ESHAPE, "%s: indices' last dim %lld exceeds rank %d", LBL, (long long)k, r);
  /* updates.shape == indices.shape[:-1] + data.shape[k:] */
  bool ok = u->shape.rank == q - 1 + r - k;
  for (int d = 0; ok && d < q - 1; d++) ok = u->shape.d[d] == ix->shape.d[d];
  for (int64_t d = k; ok && d < r; d++) ok = u->shape.d[q - 1 + d - k] == x->shape.d[d];
  if (!ok) return gl_err(GL_ESHAPE, "%s: updates' shape does not fit indices and data", LBL);
  if (u->dtype != x->dtype) return gl_err(GL_ETYPE, "%s: updates and data differ in type", LBL);
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

/* ---- OneHot, Trilu, EyeLike ---- */

static gl_status_t infer_one_hot(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(need_data(g, n, 1));
  GL_TRY(gl_need_in(g, n, 2));
  const gl_value_t *ix = in_v(g, n, 0), *dv = in_v(g, n, 1), *vals = in_v(g, n, 2);
  if (gl_shape_numel(&dv->shape) != 1) return gl_err(GL_ESHAPE, "%s: depth must be a scalar", LBL);
  if (gl_shape_numel(&vals->shape) != 2) return gl_err(GL_ESHAPE, "%s: values must hold 2 elements", LBL);
  GL_TRY(need_data_type(n, vals));
  if (gl_dtype_size(ix->dtype) == 0) return gl_err(GL_ETYPE, "%s: bad indices type", LBL);
  double depth = gl_tensor_get_f64(dv->data, 0);
  if (!(depth >= 1 && depth <= (double)DIM_MAX)) return gl_err(GL_EINVAL, "%s: invalid depth %g", LBL, depth);
  int r = ix->shape.rank + 1, axis;
  GL_TRY(check_rank(n, r));
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), r, &axis));
  gl_shape_t s = {r, {0}};
  for (int d = 0, k = 0; d < r; d++) s.d[d] = d == axis ? (int64_t)depth : ix->shape.d[k++];
  gl_set_out(g, n, 0, vals->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_trilu(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  if (x->shape.rank < 2) return gl_err(GL_ESHAPE, "%s: input needs rank >= 2", LBL);
  if (in_v(g, n, 1) && gl_shape_numel(&in_v(g, n, 1)->shape) != 1)
    return gl_err(GL_ESHAPE, "%s: k must be a scalar", LBL);
  if (in_v(g, n, 1) && in_v(g, n, 1)->dtype != GL_DT_I64)
    return gl_err(GL_ETYPE, "%s: k must be int64", LBL);
  GL_TRY(need_data_type(n, x));
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

static gl_status_t infer_eye_like(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  if (x->shape.rank != 2) return gl_err(GL_ESHAPE, "%s: input must have rank 2", LBL);
  gl_dtype_t t = (gl_dtype_t)gl_attr_i(n, "dtype", x->dtype);
  if (gl_dtype_size(t) == 0 || !strcmp(gl_dtype_name(t), "undefined"))
    return gl_err(GL_EUNSUPPORTED, "%s: dtype %d is not supported", LBL, (int)t);
  gl_set_out(g, n, 0, t, &x->shape);
  return GL_OK;
}

/* ---- Compress, NonZero (only with constant inputs) ---- */

static gl_status_t infer_compress(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(need_data(g, n, 1));
  const gl_value_t *x = in_v(g, n, 0), *c = in_v(g, n, 1);
  if (c->shape.rank != 1) return gl_err(GL_ESHAPE, "%s: condition must be 1-D", LBL);
  int64_t len = c->shape.d[0], lim;
  const gl_attr_t *aa = gl_attr(n, "axis");
  int axis = -1;
  if (aa) {
    GL_TRY(gl_norm_axis(n, aa->i, x->shape.rank, &axis));
    lim = x->shape.d[axis];
  } else {
    lim = gl_shape_numel(&x->shape);
  }
  if (len > lim)
    return gl_err(GL_ESHAPE, "%s: condition has %lld entries, the axis %lld", LBL, (long long)len,
                  (long long)lim);
  int64_t cnt = 0;
  for (int64_t i = 0; i < len; i++) cnt += gl_tensor_get_i64(c->data, i) != 0;
  gl_shape_t s = {1, {cnt}};
  if (aa) {
    s = x->shape;
    s.d[axis] = cnt;
  }
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_nonzero(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(need_data(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  GL_TRY(need_data_type(n, x));
  int64_t k = gl_shape_numel(&x->shape), cnt = 0;
  bool fl = gl_dtype_is_float(x->dtype);
  for (int64_t i = 0; i < k; i++)
    cnt += fl ? gl_tensor_get_f64(x->data, i) != 0 : gl_tensor_get_i64(x->data, i) != 0;
  gl_set_out(g, n, 0, GL_DT_I64, &(gl_shape_t){2, {x->shape.rank, cnt}});
  return GL_OK;
}

/* ---- ReverseSequence ---- */

static gl_status_t infer_reverse_sequence(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = in_v(g, n, 0), *l = in_v(g, n, 1);
  int64_t ba = gl_attr_i(n, "batch_axis", 1), ta = gl_attr_i(n, "time_axis", 0);
  if (x->shape.rank < 2 || (ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta)
    return gl_err(GL_EINVAL, "%s: needs rank >= 2 and batch_axis/time_axis 0 and 1", LBL);
  if (l->dtype != GL_DT_I64 || l->shape.rank != 1 || l->shape.d[0] != x->shape.d[ba])
    return gl_err(GL_ESHAPE, "%s: sequence_lens must be int64 of shape [%lld]", LBL,
                  (long long)x->shape.d[ba]);
  GL_TRY(need_data_type(n, x));
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

/* ---- Unique (only with a constant input: every output is computed here) ---- */

/* The input seen as K items of L elements: item j holds x[o, j, i] for o < outer, i < inner. */
typedef struct {
  const gl_tensor_t *x;
  int64_t k, outer, inner;
  bool fl;
} uniq_t;

static _Thread_local const uniq_t *uniq_ctx;

static int uniq_cmp_items(const uniq_t *u, int64_t a, int64_t b) {
  for (int64_t o = 0; o < u->outer; o++)
    for (int64_t i = 0; i < u->inner; i++) {
      int64_t ia = (o * u->k + a) * u->inner + i, ib = (o * u->k + b) * u->inner + i;
      if (u->fl) {
        double va = gl_tensor_get_f64(u->x, ia), vb = gl_tensor_get_f64(u->x, ib);
        if (va != vb) return va < vb ? -1 : 1;
      } else {
        int64_t va = gl_tensor_get_i64(u->x, ia), vb = gl_tensor_get_i64(u->x, ib);
        if (va != vb) return va < vb ? -1 : 1;
      }
    }
  return 0;
}

/* Orders item indices by value, then by position (so each group starts at its first occurrence). */
static int uniq_cmp(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  int c = uniq_cmp_items(uniq_ctx, a, b);
  return c ? c : (a < b ? -1 : a > b);
}

static int cmp_first(const void *pa, const void *pb) {
  int64_t a = ((const int64_t *)pa)[0], b = ((const int64_t *)pb)[0];
  return a < b ? -1 : a > b;
}

static gl_status_t infer_unique(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(need_data(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  GL_TRY(need_data_type(n, x));
  uniq_t u = {.x = x->data, .outer = 1, .inner = 1, .fl = gl_dtype_is_float(x->dtype)};
  const gl_attr_t *aa = gl_attr(n, "axis");
  int axis = -1;
  if (aa) {
    GL_TRY(gl_norm_axis(n, aa->i, x->shape.rank, &axis));
    if (x->shape.rank == 0) return gl_err(GL_ESHAPE, "%s: axis given for a scalar", LBL);
    u.k = x->shape.d[axis];
    for (int d = 0; d < axis; d++) u.outer *= x->shape.d[d];
    for (int d = axis + 1; d < x->shape.rank; d++) u.inner *= x->shape.d[d];
  } else {
    u.k = gl_shape_numel(&x->shape);
  }
  bool sorted = gl_attr_i(n, "sorted", 1) != 0;
  int64_t k = u.k, nu = 0;
  /* order: item indices sorted; groups: per unique [first index, count]; inv: per item its group */
  int64_t *order = gl_malloc(sizeof(int64_t) * (size_t)(k + 1));
  int64_t *groups = gl_malloc(sizeof(int64_t) * 2 * (size_t)(k + 1));
  int64_t *inv = gl_malloc(sizeof(int64_t) * (size_t)(k + 1));
  int64_t *rank_of = gl_malloc(sizeof(int64_t) * (size_t)(k + 1));
  gl_status_t st = GL_OK;
  gl_tensor_t t[4] = {{0}};
  if (!order || !groups || !inv || !rank_of) {
    st = gl_err(GL_ENOMEM, "out of memory");
    goto done;
  }
  for (int64_t j = 0; j < k; j++) order[j] = j;
  uniq_ctx = &u;
  qsort(order, (size_t)k, sizeof *order, uniq_cmp);
  for (int64_t j = 0; j < k; j++) {
    if (j == 0 || uniq_cmp_items(&u, order[j - 1], order[j])) {
      groups[2 * nu] = order[j];
      groups[2 * nu + 1] = 0;
      nu++;
    }
    groups[2 * (nu - 1) + 1]++;
    inv[order[j]] = nu - 1;
  }
  /* not sorted: groups in order of first occurrence; rank_of maps sorted group -> output slot */
  if (!sorted) {
    int64_t *pairs = order; /* reuse: [first index, sorted group] */
    int64_t *tmp = gl_malloc(sizeof(int64_t) * 2 * (size_t)(nu + 1));
    if (!tmp) {
      st = gl_err(GL_ENOMEM, "out of memory");
      goto done;
    }
    for (int64_t q = 0; q < nu; q++) tmp[2 * q] = groups[2 * q], tmp[2 * q + 1] = q;
    qsort(tmp, (size_t)nu, 2 * sizeof *tmp, cmp_first);
    for (int64_t q = 0; q < nu; q++) rank_of[tmp[2 * q + 1]] = q;
    for (int64_t q = 0; q < nu; q++) pairs[q] = tmp[2 * q + 1];
    gl_free(tmp);
  } else {
    for (int64_t q = 0; q < nu; q++) rank_of[q] = q, order[q] = q;
  }
  /* order[slot] = sorted group shown in that slot */
  gl_shape_t ys = {1, {nu}};
  if (aa) {
    ys = x->shape;
    ys.d[axis] = nu;
  }
  size_t es = gl_dtype_size(x->dtype);
  st = gl_tensor_alloc(&t[0], x->dtype, &ys);
  if (!st) st = gl_tensor_alloc(&t[1], GL_DT_I64, &(gl_shape_t){1, {nu}});
  if (!st) st = gl_tensor_alloc(&t[2], GL_DT_I64, &(gl_shape_t){1, {k}});
  if (!st) st = gl_tensor_alloc(&t[3], GL_DT_I64, &(gl_shape_t){1, {nu}});
  if (st) goto done;
  for (int64_t q = 0; q < nu; q++) {
    int64_t grp = order[q], first = groups[2 * grp];
    ((int64_t *)t[1].data)[q] = first;
    ((int64_t *)t[3].data)[q] = groups[2 * grp + 1];
    for (int64_t o = 0; o < u.outer; o++)
      memcpy((char *)t[0].data + (size_t)((o * nu + q) * u.inner) * es,
             (const char *)x->data->data + (size_t)((o * k + first) * u.inner) * es, (size_t)u.inner * es);
  }
  for (int64_t j = 0; j < k; j++) ((int64_t *)t[2].data)[j] = rank_of[inv[j]];
  for (int i = 0; i < 4 && !st; i++) st = set_const_out(g, n, i, &t[i]);
done:
  for (int i = 0; i < 4; i++) gl_tensor_fini(&t[i]);
  gl_free(order), gl_free(groups), gl_free(inv), gl_free(rank_of);
  return st;
}

const gl_op_schema_t gl_schemas_index[] = {
    {"Gather", 2, 2, 1, 1, infer_gather, 0},
    {"GatherElements", 2, 2, 1, 1, infer_gather_elements, 0},
    {"GatherND", 2, 2, 1, 1, infer_gather_nd, 0},
    {"ScatterElements", 3, 3, 1, 1, infer_scatter_elements, 0},
    {"Scatter", 3, 3, 1, 1, infer_scatter_elements, 0},
    {"ScatterND", 3, 3, 1, 1, infer_scatter_nd, 0},
    {"OneHot", 3, 3, 1, 1, infer_one_hot, 9},
    {"Trilu", 1, 2, 1, 1, infer_trilu, 0},
    {"EyeLike", 1, 1, 1, 1, infer_eye_like, 0},
    {"Compress", 2, 2, 1, 1, infer_compress, 9},
    {"NonZero", 1, 1, 1, 1, infer_nonzero, 9},
    {"ReverseSequence", 2, 2, 1, 1, infer_reverse_sequence, 10},
    {"Unique", 1, 1, 1, 4, infer_unique, 11},
    {0},
};
