/* backend/cpu/cpu_reduce.c - CPU kernels for the reduce op family: Reduce*, ArgMax/ArgMin, TopK,
 * Softmax/LogSoftmax/Hardmax, CumSum, the NLL and softmax cross-entropy losses, Einsum.
 * f32 softmax and reductions run on oneDNN when it has a primitive for the shapes; everything
 * else is C over precomputed offsets, accumulating floats in double. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_reduce.h"

#define PAR_MIN 32768 /* elements below which a loop stays on one thread */

static bool dt_ok(gl_dtype_t t, bool ints) {
  return t == GL_DT_F32 || t == GL_DT_F64 || (ints && (t == GL_DT_I32 || t == GL_DT_I64));
}

static gl_status_t bad_dtype(const gl_node_t *n, gl_dtype_t t) {
  return gl_err(GL_EUNSUPPORTED, "%s: element type %s is not supported", gl_node_label(n),
                gl_dtype_name(t));
}

/* Element i of a float or integer buffer of type t, as double / int64. */
static inline double ld_f(const void *p, gl_dtype_t t, int64_t i) {
  switch (t) {
    case GL_DT_F32: return ((const float *)p)[i];
    case GL_DT_F64: return ((const double *)p)[i];
    case GL_DT_I32: return ((const int32_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
  }
}
static inline int64_t ld_i(const void *p, gl_dtype_t t, int64_t i) {
  return t == GL_DT_I32 ? ((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

/* Splits shape s at axis into outer x len x inner. */
static void split_axis(const gl_shape_t *s, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = *inner = 1;
  for (int d = 0; d < axis; d++) *outer *= s->d[d];
  *len = s->d[axis];
  for (int d = axis + 1; d < s->rank; d++) *inner *= s->d[d];
}

/* ---------------------------------------------------------------- oneDNN helper */

/* A oneDNN primitive with one src and one dst memory whose handles are set at each run. */
typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst;
} dnn1_t;

static void dnn1_fini(dnn1_t *d) {
  if (d->prim) dnnl_primitive_destroy(d->prim);
  if (d->src) dnnl_memory_destroy(d->src);
  if (d->dst) dnnl_memory_destroy(d->dst);
  memset(d, 0, sizeof *d);
}

/* Makes the primitive from an op descriptor; on failure leaves d empty and returns the status. */
static gl_status_t dnn1_make(dnn1_t *d, const gl_cpu_exec_t *x, const void *op_desc,
                             const dnnl_memory_desc_t *smd, const dnnl_memory_desc_t *dmd,
                             const char *what) {
  dnnl_primitive_desc_t pd = NULL;
  gl_status_t st = gl_dnnl_check(dnnl_primitive_desc_create(&pd, op_desc, NULL, x->engine, NULL), what);
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&d->prim, pd), what);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (!st) st = gl_dnnl_check(dnnl_memory_create(&d->src, smd, x->engine, DNNL_MEMORY_NONE), what);
  if (!st) st = gl_dnnl_check(dnnl_memory_create(&d->dst, dmd, x->engine, DNNL_MEMORY_NONE), what);
  if (st) dnn1_fini(d);
  return st;
}

static gl_status_t dnn1_run(const dnn1_t *d, const gl_cpu_exec_t *x, const void *src, void *dst) {
  GL_DNNL(dnnl_memory_set_data_handle_v2(d->src, (void *)src, x->stream), "setting a source");
  GL_DNNL(dnnl_memory_set_data_handle_v2(d->dst, dst, x->stream), "setting a destination");
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_DST, d->dst}};
  GL_DNNL(dnnl_primitive_execute(d->prim, x->stream, 2, args), "executing");
  return GL_OK;
}

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

/* ---------------------------------------------------------------- Softmax family */

typedef enum { SM_SOFT, SM_LOG, SM_HARD } sm_op_t;

typedef struct {
  sm_op_t op;
  gl_dtype_t dt;
  int64_t outer, len, inner;
  dnn1_t dnn;
} sm_t;

static void sm_destroy(void *p) {
  sm_t *s = p;
  if (!s) return;
  dnn1_fini(&s->dnn);
  gl_free(s);
}

#define SM_C(T, EXP)                                                                   \
  static void sm_##T(sm_op_t op, int64_t outer, int64_t len, int64_t inner, const T *x, \
                     T *y) {                                                            \
    _Pragma("omp parallel for if (outer * len * inner > PAR_MIN)")                     \
    for (int64_t o = 0; o < outer * inner; o++) {                                       \
      const T *a = x + (o / inner) * len * inner + o % inner;                           \
      T *b = y + (o / inner) * len * inner + o % inner;                                 \
      double m = -INFINITY, s = 0;                                                      \
      int64_t arg = 0;                                                                  \
      for (int64_t j = 0; j < len; j++)                                                 \
        if (a[j * inner] > m || j == 0) m = a[j * inner], arg = j;                      \
      if (op == SM_HARD) {                                                              \
        for (int64_t j = 0; j < len; j++) b[j * inner] = (T)(j == arg);                 \
        continue;                                                                       \
      }                                                                                 \
      const T mt = (T)m;                                                                \
      if (op == SM_LOG) {                                                               \
        for (int64_t j = 0; j < len; j++) s += EXP(a[j * inner] - mt);                  \
        double ls = log(s);                                                             \
        for (int64_t j = 0; j < len; j++) b[j * inner] = (T)(a[j * inner] - m - ls);    \
      } else { /* y = e^(x - max) / sum */                                              \
        for (int64_t j = 0; j < len; j++) {                                             \
          T e = EXP(a[j * inner] - mt);                                                 \
          b[j * inner] = e;                                                             \
          s += e;                                                                       \
        }                                                                               \
        const T inv = (T)(1.0 / s);                                                     \
        for (int64_t j = 0; j < len; j++) b[j * inner] *= inv;                          \
      }                                                                                 \
    }                                                                                   \
  }
SM_C(float, expf)
SM_C(double, exp)

static gl_status_t sm_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                          void *const *out) {
  const sm_t *s = k->state;
  if (s->dnn.prim) return dnn1_run(&s->dnn, x, in[0], out[0]);
  if (s->dt == GL_DT_F32) sm_float(s->op, s->outer, s->len, s->inner, in[0], out[0]);
  else sm_double(s->op, s->outer, s->len, s->inner, in[0], out[0]);
  return GL_OK;
}

static gl_status_t prep_sm(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                           gl_cpu_kernel_t *k, sm_op_t op) {
  const gl_value_t *in = gl_in(g, n, 0);
  if (!dt_ok(in->dtype, false)) return bad_dtype(n, in->dtype);
  int rank = in->shape.rank, axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", g->opset >= 13 ? -1 : 1), rank, &axis));
  sm_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = sm_destroy;
  k->run = sm_run;
  s->op = op;
  s->dt = in->dtype;
  if (rank == 0) {
    s->outer = s->len = s->inner = 1;
  } else if (g->opset >= 13) {
    split_axis(&in->shape, axis, &s->outer, &s->len, &s->inner);
  } else { /* coerced to 2-D: [prod(d[:axis]), prod(d[axis:])] */
    s->outer = s->len = 1;
    s->inner = 1;
    for (int d = 0; d < rank; d++) *(d < axis ? &s->outer : &s->len) *= in->shape.d[d];
  }
  if (s->dt == GL_DT_F32 && op != SM_HARD && s->len > 1 && s->outer * s->len * s->inner > 0) {
    dnnl_dims_t dims = {s->outer, s->len, s->inner};
    dnnl_memory_desc_t md;
    dnnl_softmax_v2_desc_t sd;
    if (dnnl_memory_desc_init_by_tag(&md, s->inner > 1 ? 3 : 2, dims, dnnl_f32,
                                     s->inner > 1 ? dnnl_abc : dnnl_ab) == dnnl_success &&
        dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference,
                                          op == SM_LOG ? dnnl_softmax_log : dnnl_softmax_accurate,
                                          &md, &md, 1) == dnnl_success) {
      if (dnn1_make(&s->dnn, x, &sd, &md, &md, "creating a softmax")) gl_err_clear();
    }
  }
  return GL_OK;
}

static gl_status_t prep_softmax(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                gl_cpu_kernel_t *k) {
  return prep_sm(x, g, n, k, SM_SOFT);
}
static gl_status_t prep_logsoftmax(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                   gl_cpu_kernel_t *k) {
  return prep_sm(x, g, n, k, SM_LOG);
}
static gl_status_t prep_hardmax(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                gl_cpu_kernel_t *k) {
  return prep_sm(x, g, n, k, SM_HARD);
}

/* ---------------------------------------------------------------- CumSum */

typedef struct {
  gl_dtype_t dt, axis_dt;
  gl_shape_t shape;
  bool exclusive, reverse;
  char label[128]; /* the node's label, for errors at run */
} cumsum_t;

#define CUMSUM(T, ACC)                                                                  \
  static void cumsum_##T(const cumsum_t *c, int64_t outer, int64_t len, int64_t inner,  \
                         const T *x, T *y) {                                            \
    _Pragma("omp parallel for if (outer * len * inner > PAR_MIN)")                     \
    for (int64_t o = 0; o < outer * inner; o++) {                                       \
      int64_t base = (o / inner) * len * inner + o % inner;                             \
      ACC acc = 0;                                                                      \
      for (int64_t jj = 0; jj < len; jj++) {                                            \
        int64_t j = c->reverse ? len - 1 - jj : jj, i = base + j * inner;               \
        if (c->exclusive) {                                                             \
          T v = x[i];                                                                   \
          y[i] = (T)acc;                                                                \
          acc += v;                                                                     \
        } else {                                                                        \
          acc += x[i];                                                                  \
          y[i] = (T)acc;                                                                \
        }                                                                               \
      }                                                                                 \
    }                                                                                   \
  }
CUMSUM(float, double)
CUMSUM(double, double)
CUMSUM(int32_t, int64_t)
CUMSUM(int64_t, int64_t)

static gl_status_t cumsum_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const cumsum_t *c = k->state;
  int64_t axis = ld_i(in[1], c->axis_dt, 0), rank = c->shape.rank;
  if (axis < -rank || axis >= (rank ? rank : 1))
    return gl_err(GL_EINVAL, "%s: axis %lld is out of range for rank %lld", c->label,
                  (long long)axis, (long long)rank);
  if (axis < 0) axis += rank;
  int64_t outer = 1, len = 1, inner = 1;
  if (rank) split_axis(&c->shape, (int)axis, &outer, &len, &inner);
  switch (c->dt) {
    case GL_DT_F32: cumsum_float(c, outer, len, inner, in[0], out[0]); break;
    case GL_DT_F64: cumsum_double(c, outer, len, inner, in[0], out[0]); break;
    case GL_DT_I32: cumsum_int32_t(c, outer, len, inner, in[0], out[0]); break;
    default: cumsum_int64_t(c, outer, len, inner, in[0], out[0]); break;
  }
  return GL_OK;
}

static gl_status_t prep_cumsum(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *in = gl_in(g, n, 0), *ax = gl_in(g, n, 1);
  if (!dt_ok(in->dtype, true)) return bad_dtype(n, in->dtype);
  if (ax->dtype != GL_DT_I32 && ax->dtype != GL_DT_I64) return bad_dtype(n, ax->dtype);
  cumsum_t *c = gl_calloc(1, sizeof *c);
  if (!c) return gl_err(GL_ENOMEM, "out of memory");
  k->state = c;
  k->run = cumsum_run;
  c->dt = in->dtype;
  c->axis_dt = ax->dtype;
  c->shape = in->shape;
  c->exclusive = gl_attr_i(n, "exclusive", 0) != 0;
  c->reverse = gl_attr_i(n, "reverse", 0) != 0;
  snprintf(c->label, sizeof c->label, "%s", gl_node_label(n));
  return GL_OK;
}

/* ---------------------------------------------------------------- NLL and SCE losses */

typedef enum { L_NONE, L_SUM, L_MEAN } loss_red_t;

typedef struct {
  bool sce;
  gl_dtype_t dt, tdt;
  loss_red_t red;
  bool has_ii, has_w, has_logp; /* in[2] / out[1] exist only when the node has them */
  int64_t ii;
  int64_t N, C, D;  /* input (N, C, D) after flattening d1..dk */
  void *logp;       /* SCE scratch for log_prob when the node does not output it */
  char label[128];  /* for errors at run */
} loss_t;

static void loss_destroy(void *p) {
  loss_t *l = p;
  if (!l) return;
  gl_aligned_free(l->logp);
  gl_free(l);
}

static inline void st_f(void *p, gl_dtype_t t, int64_t i, double v) {
  if (t == GL_DT_F32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

static gl_status_t loss_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  const loss_t *l = k->state;
  const void *inp = in[0], *w = l->has_w ? in[2] : NULL;
  const int64_t N = l->N, C = l->C, D = l->D;
  if (l->sce) { /* log_prob = LogSoftmax over C */
    void *lp = l->has_logp ? out[1] : l->logp;
    if (l->dt == GL_DT_F32) sm_float(SM_LOG, N, C, D, inp, lp);
    else sm_double(SM_LOG, N, C, D, inp, lp);
    inp = lp;
  }
  double sum = 0, wsum = 0;
  for (int64_t nn = 0; nn < N; nn++)
    for (int64_t d = 0; d < D; d++) {
      int64_t i = nn * D + d, t = ld_i(in[1], l->tdt, i);
      double loss = 0, wt = 0;
      if (!(l->has_ii && t == l->ii)) {
        if (t < 0 || t >= C)
          return gl_err(GL_EINVAL, "%s: target %lld is not a class in [0, %lld)", l->label,
                        (long long)t, (long long)C);
        wt = w ? ld_f(w, l->dt, t) : 1.0;
        loss = -ld_f(inp, l->dt, (nn * C + t) * D + d) * wt;
      }
      if (l->red == L_NONE) st_f(out[0], l->dt, i, loss);
      sum += loss;
      wsum += wt;
    }
  if (l->red == L_SUM) st_f(out[0], l->dt, 0, sum);
  else if (l->red == L_MEAN) st_f(out[0], l->dt, 0, sum / wsum);
  return GL_OK;
}

static gl_status_t prep_loss(const gl_graph_t *g, const gl_node_t *n, gl_cpu_kernel_t *k, bool sce) {
  const gl_value_t *in = gl_in(g, n, 0), *t = gl_in(g, n, 1), *w = gl_in(g, n, 2);
  if (!dt_ok(in->dtype, false)) return bad_dtype(n, in->dtype);
  if (t->dtype != GL_DT_I32 && t->dtype != GL_DT_I64) return bad_dtype(n, t->dtype);
  if (w && w->dtype != in->dtype)
    return gl_err(GL_ETYPE, "%s: weight type %s differs from input's", gl_node_label(n),
                  gl_dtype_name(w->dtype));
  loss_t *l = gl_calloc(1, sizeof *l);
  if (!l) return gl_err(GL_ENOMEM, "out of memory");
  k->state = l;
  k->destroy = loss_destroy;
  k->run = loss_run;
  l->sce = sce;
  l->dt = in->dtype;
  l->tdt = t->dtype;
  const char *red = gl_attr_s(n, "reduction", "mean");
  l->red = !strcmp(red, "none") ? L_NONE : !strcmp(red, "sum") ? L_SUM : L_MEAN;
  l->has_ii = gl_attr(n, "ignore_index") != NULL;
  l->ii = gl_attr_i(n, "ignore_index", 0);
  l->N = in->shape.d[0];
  l->C = in->shape.d[1];
  l->D = 1;
  for (int d = 2; d < in->shape.rank; d++) l->D *= in->shape.d[d];
  snprintf(l->label, sizeof l->label, "%s", gl_node_label(n));
  l->has_w = w != NULL;
  l->has_logp = sce && gl_out(g, n, 1) != NULL;
  if (sce && !l->has_logp) {
    l->logp = gl_aligned_alloc(gl_dtype_size(l->dt) * (size_t)(l->N * l->C * l->D + 1));
    if (!l->logp) return gl_err(GL_ENOMEM, "%s: out of memory", gl_node_label(n));
  }
  return GL_OK;
}

static gl_status_t prep_nll(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                            gl_cpu_kernel_t *k) {
  return prep_loss(g, n, k, false);
}
static gl_status_t prep_sce(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                            gl_cpu_kernel_t *k) {
  return prep_loss(g, n, k, true);
}

/* ---------------------------------------------------------------- Einsum */

typedef struct {
  gl_einsum_t e;
  gl_dtype_t dt;
  int n_loop;                                    /* output labels first, then summed ones */
  int loop_label[GL_EINSUM_MAX_LABELS];
  int64_t loop_size[GL_EINSUM_MAX_LABELS];
  int64_t stride[GL_EINSUM_MAX_OPS][GL_EINSUM_MAX_LABELS]; /* per operand, per loop: step */
  int64_t n_out, n_sum;
} einsum_t;

/* One output element at a time: the summed labels run as an odometer whose last label is an
 * explicit inner loop (a dot product when there are two operands). */
#define EINSUM(NAME, T, ACC)                                                            \
  static void NAME(const einsum_t *E, void *const *in, T *y) {                          \
    const int no = E->e.out_rank, nl = E->n_loop, nops = E->e.n_ops;                    \
    const int last = nl - 1;                                                            \
    const int64_t L = nl > no ? E->loop_size[last] : 1;                                 \
    const int64_t n_rest = L ? E->n_sum / L : 0;                                        \
    const T *const *ops = (const T *const *)in;                                         \
    _Pragma("omp parallel for if (E->n_out * E->n_sum > PAR_MIN)")                     \
    for (int64_t o = 0; o < E->n_out; o++) {                                            \
      int64_t off[GL_EINSUM_MAX_OPS] = {0}, rem = o, sl[GL_EINSUM_MAX_OPS];             \
      for (int l = no - 1; l >= 0; l--) {                                               \
        int64_t v = rem % E->loop_size[l];                                              \
        rem /= E->loop_size[l];                                                         \
        for (int p = 0; p < nops; p++) off[p] += v * E->stride[p][l];                   \
      }                                                                                 \
      for (int p = 0; p < nops; p++) sl[p] = nl > no ? E->stride[p][last] : 0;          \
      ACC acc = 0;                                                                      \
      int64_t idx[GL_EINSUM_MAX_LABELS] = {0};                                          \
      for (int64_t s = 0; s < n_rest; s++) {                                            \
        if (nops == 2) {                                                                \
          const T *a = ops[0] + off[0], *b = ops[1] + off[1];                           \
          for (int64_t j = 0; j < L; j++) acc += (ACC)a[j * sl[0]] * b[j * sl[1]];      \
        } else {                                                                        \
          for (int64_t j = 0; j < L; j++) {                                             \
            ACC prod = 1;                                                               \
            for (int p = 0; p < nops; p++) prod *= ops[p][off[p] + j * sl[p]];          \
            acc += prod;                                                                \
          }                                                                             \
        }                                                                               \
        for (int l = last - 1; l >= no; l--) {                                          \
          for (int p = 0; p < nops; p++) off[p] += E->stride[p][l];                     \
          if (++idx[l] < E->loop_size[l]) break;                                        \
          for (int p = 0; p < nops; p++) off[p] -= E->stride[p][l] * E->loop_size[l];   \
          idx[l] = 0;                                                                   \
        }                                                                               \
      }                                                                                 \
      y[o] = (T)acc;                                                                    \
    }                                                                                   \
  }
EINSUM(einsum_f32, float, double)
EINSUM(einsum_f64, double, double)
EINSUM(einsum_i32, int32_t, int64_t)
EINSUM(einsum_i64, int64_t, int64_t)

static gl_status_t einsum_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const einsum_t *E = k->state;
  switch (E->dt) {
    case GL_DT_F32: einsum_f32(E, in, out[0]); break;
    case GL_DT_F64: einsum_f64(E, in, out[0]); break;
    case GL_DT_I32: einsum_i32(E, in, out[0]); break;
    default: einsum_i64(E, in, out[0]); break;
  }
  return GL_OK;
}

static gl_status_t prep_einsum(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  gl_dtype_t dt = gl_in(g, n, 0)->dtype;
  if (!dt_ok(dt, true)) return bad_dtype(n, dt);
  einsum_t *E = gl_calloc(1, sizeof *E);
  if (!E) return gl_err(GL_ENOMEM, "out of memory");
  k->state = E;
  k->run = einsum_run;
  E->dt = dt;
  GL_TRY(gl_einsum_parse(g, n, &E->e));
  bool in_out[GL_EINSUM_MAX_LABELS] = {0};
  E->n_out = E->n_sum = 1;
  for (int d = 0; d < E->e.out_rank; d++) {
    int id = E->e.out_label[d];
    in_out[id] = true;
    E->loop_label[E->n_loop] = id;
    E->loop_size[E->n_loop++] = E->e.size[id];
    E->n_out *= E->e.size[id];
  }
  for (int id = 0; id < GL_EINSUM_MAX_LABELS; id++)
    if (E->e.used[id] && !in_out[id]) {
      E->loop_label[E->n_loop] = id;
      E->loop_size[E->n_loop++] = E->e.size[id];
      E->n_sum *= E->e.size[id];
    }
  for (int p = 0; p < E->e.n_ops; p++) {
    const gl_value_t *v = gl_in(g, n, p);
    int64_t st[GL_MAX_RANK];
    gl_shape_strides(&v->shape, st);
    for (int d = 0; d < E->e.rank[p]; d++) {
      if (v->shape.d[d] == 1) continue; /* broadcast: stays put */
      for (int l = 0; l < E->n_loop; l++)
        if (E->loop_label[l] == E->e.label[p][d]) E->stride[p][l] += st[d];
    }
  }
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
    {"Softmax", prep_softmax},
    {"LogSoftmax", prep_logsoftmax},
    {"Hardmax", prep_hardmax},
    {"CumSum", prep_cumsum},
    {"NegativeLogLikelihoodLoss", prep_nll},
    {"SoftmaxCrossEntropyLoss", prep_sce},
    {"Einsum", prep_einsum},
    {0},
};
