/* backend/cpu/cpu_reduce.c - CPU kernels for the reduce op family: Reduce*, ArgMax/ArgMin, TopK.
 * f32 reductions run on oneDNN when it has a primitive for the shapes; everything else is C over
 * precomputed offsets, accumulating floats in double. Softmax and the losses are in
 * cpu_softmax.c, CumSum and Einsum in cpu_einsum.c. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_reduce_int.h"
#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_reduce.h"

/* ---------------------------------------------------------------- Reduce* */

typedef enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ } red_op_t;

typedef struct {
  red_op_t op;
  gl_dtype_t dt;
  bool noop;
  int64_t n_out, n_red;
  int64_t *koff, *roff; /* input offset of each output's first element / of each reduced element */
  dnn1_t dnn;           /* f32 on oneDNN when it has the algorithm (prim NULL otherwise) */
} red_t;

static void red_destroy(void *p) {
  red_t *r = p;
  if (!r) return;
  dnn1_fini(&r->dnn);
  gl_free(r->koff);
  gl_free(r->roff);
  gl_free(r);
}

#define RED_FLOAT(NAME, T, AT, EXP)                                                             \
  static void NAME(const red_t *r, const T *x, T *y) {                              \
    const int64_t nr = r->n_red, *ro = r->roff;                                         \
    _Pragma("omp parallel for if (r->n_out * nr > PAR_MIN)")                           \
    for (int64_t o = 0; o < r->n_out; o++) {                                            \
      const T *b = x + (r->koff ? r->koff[o] : o * nr);                                                      \
      double a = 0;                                                                     \
      switch (r->op) {                                                                  \
        case R_SUM: case R_MEAN: case R_LOGSUM:                                         \
          for (int64_t j = 0; j < nr; j++) a += AT(j);                               \
          if (r->op == R_MEAN) a /= (double)nr;                                         \
          if (r->op == R_LOGSUM) a = log(a);                                            \
          break;                                                                        \
        case R_MAX:                                                                     \
          a = -INFINITY;                                                                \
          for (int64_t j = 0; j < nr; j++) a = AT(j) > a ? AT(j) : a;             \
          break;                                                                        \
        case R_MIN:                                                                     \
          a = INFINITY;                                                                 \
          for (int64_t j = 0; j < nr; j++) a = AT(j) < a ? AT(j) : a;             \
          break;                                                                        \
        case R_PROD:                                                                    \
          a = 1;                                                                        \
          for (int64_t j = 0; j < nr; j++) a *= AT(j);                               \
          break;                                                                        \
        case R_L1:                                                                      \
          for (int64_t j = 0; j < nr; j++) a += fabs((double)AT(j));                 \
          break;                                                                        \
        case R_L2: case R_SUMSQ:                                                        \
          for (int64_t j = 0; j < nr; j++) a += (double)AT(j) * AT(j);            \
          if (r->op == R_L2) a = sqrt(a);                                               \
          break;                                                                        \
        case R_LOGSUMEXP: {                                                             \
          double m = -INFINITY;                                                         \
          for (int64_t j = 0; j < nr; j++) m = AT(j) > m ? AT(j) : m;             \
          if (isinf(m)) { a = m; break; }                                               \
          for (int64_t j = 0; j < nr; j++) a += EXP(AT(j) - (T)m);                   \
          a = m + log(a);                                                               \
          break;                                                                        \
        }                                                                               \
      }                                                                                 \
      y[o] = (T)a;                                                                      \
    }                                                                                   \
  }
/* Reduced elements through the offset table, or contiguous when the reduced dims are innermost. */
#define AT_TAB(j) b[ro[j]]
#define AT_CONTIG(j) ((void)ro, b[j])
RED_FLOAT(red_float, float, AT_TAB, expf)
RED_FLOAT(red_float_c, float, AT_CONTIG, expf)
RED_FLOAT(red_double, double, AT_TAB, exp)
RED_FLOAT(red_double_c, double, AT_CONTIG, exp)

#define RED_INT(NAME, T, AT)                                                               \
  static void NAME(const red_t *r, const T *x, T *y) {                              \
    const int64_t nr = r->n_red, *ro = r->roff;                                         \
    _Pragma("omp parallel for if (r->n_out * nr > PAR_MIN)")                           \
    for (int64_t o = 0; o < r->n_out; o++) {                                            \
      const T *b = x + (r->koff ? r->koff[o] : o * nr);                                                      \
      int64_t a = 0;                                                                    \
      double f = 0;                                                                     \
      switch (r->op) {                                                                  \
        case R_SUM: case R_MEAN:                                                        \
          for (int64_t j = 0; j < nr; j++) a += AT(j);                               \
          if (r->op == R_MEAN && nr) a /= nr;                                           \
          break;                                                                        \
        case R_MAX:                                                                     \
          a = INT64_MIN;                                                                \
          for (int64_t j = 0; j < nr; j++) a = AT(j) > a ? AT(j) : a;             \
          break;                                                                        \
        case R_MIN:                                                                     \
          a = INT64_MAX;                                                                \
          for (int64_t j = 0; j < nr; j++) a = AT(j) < a ? AT(j) : a;             \
          break;                                                                        \
        case R_PROD:                                                                    \
          a = 1;                                                                        \
          for (int64_t j = 0; j < nr; j++) a *= AT(j);                               \
          break;                                                                        \
        case R_L1:                                                                      \
          for (int64_t j = 0; j < nr; j++) a += AT(j) < 0 ? -(int64_t)AT(j) : AT(j); \
          break;                                                                        \
        case R_SUMSQ:                                                                   \
          for (int64_t j = 0; j < nr; j++) a += (int64_t)AT(j) * AT(j);           \
          break;                                                                        \
        case R_L2:                                                                      \
          for (int64_t j = 0; j < nr; j++) f += (double)AT(j) * AT(j);            \
          a = (int64_t)sqrt(f);                                                         \
          break;                                                                        \
        case R_LOGSUM:                                                                  \
          for (int64_t j = 0; j < nr; j++) f += (double)AT(j);                       \
          a = (int64_t)log(f);                                                          \
          break;                                                                        \
        case R_LOGSUMEXP:                                                               \
          for (int64_t j = 0; j < nr; j++) f += exp((double)AT(j));                  \
          a = (int64_t)log(f);                                                          \
          break;                                                                        \
      }                                                                                 \
      y[o] = (T)a;                                                                      \
    }                                                                                   \
  }
RED_INT(red_i32, int32_t, AT_TAB)
RED_INT(red_i32_c, int32_t, AT_CONTIG)
RED_INT(red_i64, int64_t, AT_TAB)
RED_INT(red_i64_c, int64_t, AT_CONTIG)

static gl_status_t red_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const red_t *r = k->state;
  if (r->noop) {
    memcpy(out[0], in[0], (size_t)r->n_out * gl_dtype_size(r->dt));
    return GL_OK;
  }
  if (r->dnn.prim) return dnn1_run(&r->dnn, x, in[0], out[0]);
  bool c = r->roff == NULL;
  switch (r->dt) {
    case GL_DT_F32: (c ? red_float_c : red_float)(r, in[0], out[0]); break;
    case GL_DT_F64: (c ? red_double_c : red_double)(r, in[0], out[0]); break;
    case GL_DT_I32: (c ? red_i32_c : red_i32)(r, in[0], out[0]); break;
    default: (c ? red_i64_c : red_i64)(r, in[0], out[0]); break;
  }
  return GL_OK;
}

/* True when every reduced dim (ignoring 1s) comes after every kept one: each output then reduces
 * one contiguous run of n_red elements. */
static bool red_innermost(const gl_shape_t *s, const bool *mask) {
  bool seen_red = false;
  for (int d = 0; d < s->rank; d++) {
    if (s->d[d] == 1) continue;
    if (mask[d]) seen_red = true;
    else if (seen_red) return false;
  }
  return true;
}

/* oneDNN's reduction for f32 where it has the algorithm; leaves r->dnn empty otherwise. */
static void red_try_dnnl(red_t *r, const gl_cpu_exec_t *x, const gl_shape_t *s, const bool *mask) {
  dnnl_alg_kind_t alg;
  float p = 0;
  switch (r->op) {
    case R_SUM: alg = dnnl_reduction_sum; break;
    case R_MEAN: alg = dnnl_reduction_mean; break;
    case R_MAX: alg = dnnl_reduction_max; break;
    case R_MIN: alg = dnnl_reduction_min; break;
    case R_PROD: alg = dnnl_reduction_mul; break;
    case R_L1: alg = dnnl_reduction_norm_lp_sum; p = 1; break;
    case R_L2: alg = dnnl_reduction_norm_lp_sum; p = 2; break;
    case R_SUMSQ: alg = dnnl_reduction_norm_lp_power_p_sum; p = 2; break;
    default: return;
  }
  if (s->rank == 0 || r->n_red <= 1 || r->n_out * r->n_red < 4096) return;
  /* oneDNN 2.6 is fast when the reduced dims are the innermost ones and much slower than the C
   * loops otherwise (ReduceSum over axis 1 of [8,512,7,7]: 2 ms against 0.1 ms). */
  if (!red_innermost(s, mask)) return;
  dnnl_dims_t sd, dd;
  for (int d = 0; d < s->rank; d++) {
    sd[d] = s->d[d];
    dd[d] = mask[d] ? 1 : s->d[d];
  }
  dnnl_memory_desc_t smd, dmd;
  if (dnnl_memory_desc_init_by_strides(&smd, s->rank, sd, dnnl_f32, NULL) != dnnl_success ||
      dnnl_memory_desc_init_by_strides(&dmd, s->rank, dd, dnnl_f32, NULL) != dnnl_success)
    return;
  dnnl_reduction_desc_t rd;
  if (dnnl_reduction_desc_init(&rd, alg, &smd, &dmd, p, 0.f) != dnnl_success) return;
  if (dnn1_make(&r->dnn, x, &rd, &smd, &dmd, "creating a reduction")) gl_err_clear();
}

static gl_status_t prep_reduce(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k, red_op_t op) {
  const gl_value_t *in = gl_in(g, n, 0);
  if (!dt_ok(in->dtype, true)) return bad_dtype(n, in->dtype);
  const gl_shape_t *s = &in->shape;
  bool mask[GL_MAX_RANK], noop;
  GL_TRY(gl_reduce_axes(g, n, s->rank, mask, &noop));
  red_t *r = gl_calloc(1, sizeof *r);
  if (!r) return gl_err(GL_ENOMEM, "out of memory");
  k->state = r;
  k->destroy = red_destroy;
  k->run = red_run;
  r->op = op;
  r->dt = in->dtype;
  r->noop = noop;
  if (noop) {
    r->n_out = gl_shape_numel(s);
    return GL_OK;
  }
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(s, st);
  r->n_out = r->n_red = 1;
  for (int d = 0; d < s->rank; d++) {
    if (mask[d]) r->n_red *= s->d[d];
    else r->n_out *= s->d[d];
  }
  if (red_innermost(s, mask)) { /* contiguous: no offset tables */
    if (r->dt == GL_DT_F32) red_try_dnnl(r, x, s, mask);
    return GL_OK;
  }
  r->koff = gl_malloc(sizeof(int64_t) * (size_t)(r->n_out ? r->n_out : 1));
  r->roff = gl_malloc(sizeof(int64_t) * (size_t)(r->n_red ? r->n_red : 1));
  if (!r->koff || !r->roff) return gl_err(GL_ENOMEM, "%s: out of memory", gl_node_label(n));
  /* Walk the kept dims and the reduced dims as two odometers, row-major. */
  for (int pass = 0; pass < 2; pass++) {
    int64_t *tab = pass ? r->roff : r->koff, cnt = pass ? r->n_red : r->n_out;
    int64_t idx[GL_MAX_RANK] = {0};
    for (int64_t i = 0; i < cnt; i++) {
      int64_t off = 0;
      for (int d = 0; d < s->rank; d++)
        if (mask[d] == (pass == 1)) off += idx[d] * st[d];
      tab[i] = off;
      for (int d = s->rank - 1; d >= 0; d--) {
        if (mask[d] != (pass == 1)) continue;
        if (++idx[d] < s->d[d]) break;
        idx[d] = 0;
      }
    }
  }
  return GL_OK;
}

#define RED_PREP(NAME, OP)                                                              \
  static gl_status_t prep_##NAME(const gl_cpu_exec_t *x, const gl_graph_t *g,           \
                                 const gl_node_t *n, gl_cpu_kernel_t *k) {              \
    return prep_reduce(x, g, n, k, OP);                                                 \
  }
RED_PREP(sum, R_SUM)
RED_PREP(mean, R_MEAN)
RED_PREP(max, R_MAX)
RED_PREP(min, R_MIN)
RED_PREP(prod, R_PROD)
RED_PREP(l1, R_L1)
RED_PREP(l2, R_L2)
RED_PREP(logsum, R_LOGSUM)
RED_PREP(logsumexp, R_LOGSUMEXP)
RED_PREP(sumsq, R_SUMSQ)

/* ---------------------------------------------------------------- ArgMax / ArgMin */

typedef struct {
  gl_dtype_t dt;
  bool is_max, last;
  int64_t outer, len, inner;
} arg_t;

#define ARG(NAME, T)                                                                    \
  static void NAME(const arg_t *a, const T *x, int64_t *y) {                            \
    const int64_t total = a->outer * a->inner, len = a->len, inner = a->inner;          \
    _Pragma("omp parallel for if (total * len > PAR_MIN)")                             \
    for (int64_t o = 0; o < total; o++) {                                               \
      const T *p = x + (o / inner) * len * inner + o % inner;                           \
      int64_t best = 0;                                                                 \
      T bv = len ? p[0] : (T)0;                                                         \
      if (a->is_max && a->last) {                                                       \
        for (int64_t j = 1; j < len; j++) if (p[j * inner] >= bv) bv = p[j * inner], best = j; \
      } else if (a->is_max) {                                                           \
        for (int64_t j = 1; j < len; j++) if (p[j * inner] > bv) bv = p[j * inner], best = j; \
      } else if (a->last) {                                                             \
        for (int64_t j = 1; j < len; j++) if (p[j * inner] <= bv) bv = p[j * inner], best = j; \
      } else {                                                                          \
        for (int64_t j = 1; j < len; j++) if (p[j * inner] < bv) bv = p[j * inner], best = j; \
      }                                                                                 \
      y[o] = best;                                                                      \
    }                                                                                   \
  }
ARG(arg_f32, float)
ARG(arg_f64, double)
ARG(arg_i32, int32_t)
ARG(arg_i64, int64_t)

static gl_status_t arg_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const arg_t *a = k->state;
  switch (a->dt) {
    case GL_DT_F32: arg_f32(a, in[0], out[0]); break;
    case GL_DT_F64: arg_f64(a, in[0], out[0]); break;
    case GL_DT_I32: arg_i32(a, in[0], out[0]); break;
    default: arg_i64(a, in[0], out[0]); break;
  }
  return GL_OK;
}

static gl_status_t prep_arg(const gl_graph_t *g, const gl_node_t *n, gl_cpu_kernel_t *k, bool is_max) {
  const gl_value_t *in = gl_in(g, n, 0);
  if (!dt_ok(in->dtype, true)) return bad_dtype(n, in->dtype);
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), in->shape.rank, &axis));
  arg_t *a = gl_calloc(1, sizeof *a);
  if (!a) return gl_err(GL_ENOMEM, "out of memory");
  k->state = a;
  k->run = arg_run;
  a->dt = in->dtype;
  a->is_max = is_max;
  a->last = gl_attr_i(n, "select_last_index", 0) != 0;
  split_axis(&in->shape, axis, &a->outer, &a->len, &a->inner);
  return GL_OK;
}

static gl_status_t prep_argmax(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  return prep_arg(g, n, k, true);
}
static gl_status_t prep_argmin(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  return prep_arg(g, n, k, false);
}

/* ---------------------------------------------------------------- TopK */

typedef struct {
  gl_dtype_t dt;
  bool largest, has_val, has_idx;
  int64_t outer, len, inner, k;
  int64_t *idx, *tmp; /* scratch: len each */
} topk_t;

static void topk_destroy(void *p) {
  topk_t *t = p;
  if (!t) return;
  gl_free(t->idx);
  gl_free(t->tmp);
  gl_free(t);
}

/* a before b: larger (or smaller) value first, ties by lower index (merge sort is stable). */
static inline bool topk_before(const topk_t *t, const void *x, int64_t base, int64_t a, int64_t b) {
  if (t->dt == GL_DT_F32 || t->dt == GL_DT_F64) {
    double va = ld_f(x, t->dt, base + a * t->inner), vb = ld_f(x, t->dt, base + b * t->inner);
    return t->largest ? va > vb : va < vb;
  }
  int64_t va = ld_i(x, t->dt, base + a * t->inner), vb = ld_i(x, t->dt, base + b * t->inner);
  return t->largest ? va > vb : va < vb;
}

static gl_status_t topk_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  const topk_t *t = k->state;
  int64_t *idx = t->idx, *tmp = t->tmp;
  size_t es = gl_dtype_size(t->dt);
  for (int64_t o = 0; o < t->outer * t->inner; o++) {
    int64_t oo = o / t->inner, ii = o % t->inner, base = oo * t->len * t->inner + ii;
    for (int64_t j = 0; j < t->len; j++) idx[j] = j;
    /* bottom-up merge sort of idx by value */
    int64_t *src = idx, *dst = tmp;
    for (int64_t w = 1; w < t->len; w *= 2) {
      for (int64_t lo = 0; lo < t->len; lo += 2 * w) {
        int64_t mid = lo + w < t->len ? lo + w : t->len, hi = lo + 2 * w < t->len ? lo + 2 * w : t->len;
        int64_t a = lo, b = mid, d = lo;
        while (a < mid && b < hi) dst[d++] = topk_before(t, in[0], base, src[b], src[a]) ? src[b++] : src[a++];
        while (a < mid) dst[d++] = src[a++];
        while (b < hi) dst[d++] = src[b++];
      }
      int64_t *sw = src;
      src = dst;
      dst = sw;
    }
    int64_t obase = oo * t->k * t->inner + ii;
    for (int64_t j = 0; j < t->k; j++) {
      int64_t oi = obase + j * t->inner;
      if (t->has_val) memcpy((char *)out[0] + oi * es, (const char *)in[0] + (base + src[j] * t->inner) * es, es);
      if (t->has_idx) ((int64_t *)out[1])[oi] = src[j];
    }
  }
  return GL_OK;
}

static gl_status_t prep_topk(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                             gl_cpu_kernel_t *k) {
  const gl_value_t *in = gl_in(g, n, 0), *y = gl_out(g, n, 0) ? gl_out(g, n, 0) : gl_out(g, n, 1);
  if (!dt_ok(in->dtype, true)) return bad_dtype(n, in->dtype);
  if (!y) return gl_err(GL_EINVAL, "%s: has no outputs", gl_node_label(n));
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), in->shape.rank, &axis));
  topk_t *t = gl_calloc(1, sizeof *t);
  if (!t) return gl_err(GL_ENOMEM, "out of memory");
  k->state = t;
  k->destroy = topk_destroy;
  k->run = topk_run;
  t->dt = in->dtype;
  t->largest = gl_attr_i(n, "largest", 1) != 0;
  t->has_val = gl_out(g, n, 0) != NULL;
  t->has_idx = gl_out(g, n, 1) != NULL;
  split_axis(&in->shape, axis, &t->outer, &t->len, &t->inner);
  t->k = y->shape.d[axis];
  t->idx = gl_malloc(sizeof(int64_t) * (size_t)(t->len + 1));
  t->tmp = gl_malloc(sizeof(int64_t) * (size_t)(t->len + 1));
  if (!t->idx || !t->tmp) return gl_err(GL_ENOMEM, "%s: out of memory", gl_node_label(n));
  return GL_OK;
}

const gl_cpu_op_t gl_cpu_ops_reduce[] = {
    {"ReduceSum", prep_sum},
    {"ReduceMean", prep_mean},
    {"ReduceMax", prep_max},
    {"ReduceMin", prep_min},
    {"ReduceProd", prep_prod},
    {"ReduceL1", prep_l1},
    {"ReduceL2", prep_l2},
    {"ReduceLogSum", prep_logsum},
    {"ReduceLogSumExp", prep_logsumexp},
    {"ReduceSumSquare", prep_sumsq},
    {"ArgMax", prep_argmax},
    {"ArgMin", prep_argmin},
    {"TopK", prep_topk},
    {0},
};
