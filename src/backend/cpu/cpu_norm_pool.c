/* backend/cpu/cpu_norm_pool.c - CPU kernels for normalisations and pools: BatchNormalization,
 * InstanceNormalization, LayerNormalization, LRN as loops; float Max/Average pools on oneDNN
 * pooling in the producer's layout, the remaining pools (Indices, LpPool, int8, ONNX-only padding
 * rules) as loops; and the layout pass's question of which nodes take a blocked source. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_dnn.h"
#include "core/alloc.h"
#include "graph/nn_geom.h"
#include "graph/ops.h"

/* ======================================================================================
 * Normalisations (plain loops)
 * ====================================================================================== */

typedef struct {
  int64_t outer, ch, inner; /* x viewed as [outer, ch, inner] */
  float eps;
  float *a, *b;             /* per-channel scale and shift (BN), computed at prepare or run */
  bool params_const;
} bn_t;

static void bn_params(bn_t *s, const float *sc, const float *bi, const float *mean,
                      const float *var) {
  for (int64_t c = 0; c < s->ch; c++) {
    float a = sc[c] / sqrtf(var[c] + s->eps);
    s->a[c] = a;
    s->b[c] = bi[c] - mean[c] * a;
  }
}

static gl_status_t bn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                          void *const *out) {
  bn_t *s = k->state;
  if (!s->params_const) bn_params(s, in[1], in[2], in[3], in[4]);
  const float *xs = in[0];
  float *y = out[0];
  int64_t planes = s->outer * s->ch, inner = s->inner, ch = s->ch;
#pragma omp parallel for if (planes * inner > 32768)
  for (int64_t p = 0; p < planes; p++) {
    float a = s->a[p % ch], b = s->b[p % ch];
    const float *xp = xs + p * inner;
    float *yp = y + p * inner;
    for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
  }
  return GL_OK;
}

static gl_status_t bn_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  bn_t *s = gl_calloc(1, sizeof *s + sizeof(float) * 2 * (size_t)xs->d[1]);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->outer = xs->d[0];
  s->ch = xs->d[1];
  s->inner = 1;
  for (int d = 2; d < xs->rank; d++) s->inner *= xs->d[d];
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  s->a = (float *)(s + 1);
  s->b = s->a + s->ch;
  s->params_const = true;
  for (int i = 1; i < 5; i++)
    if (!gl_in(g, n, i)->data) s->params_const = false;
  if (s->params_const)
    bn_params(s, gl_in(g, n, 1)->data->data, gl_in(g, n, 2)->data->data,
              gl_in(g, n, 3)->data->data, gl_in(g, n, 4)->data->data);
  k->state = s;
  k->run = bn_run;
  return GL_OK;
}

typedef struct {
  int64_t outer, ch, inner;
  float eps;
} inorm_t;

static gl_status_t inorm_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const inorm_t *s = k->state;
  const float *xs = in[0], *sc = in[1], *bi = in[2];
  float *y = out[0];
  int64_t planes = s->outer * s->ch, inner = s->inner;
#pragma omp parallel for if (planes * inner > 32768)
  for (int64_t p = 0; p < planes; p++) {
    const float *xp = xs + p * inner;
    float *yp = y + p * inner;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < inner; i++) sum += xp[i];
    double mean = sum / (double)inner;
    for (int64_t i = 0; i < inner; i++) sq += (xp[i] - mean) * (xp[i] - mean);
    float inv = 1.f / sqrtf((float)(sq / (double)inner) + s->eps);
    float a = sc[p % s->ch] * inv, b = bi[p % s->ch] - (float)mean * a;
    for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
  }
  return GL_OK;
}

static gl_status_t inorm_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  inorm_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->outer = xs->d[0];
  s->ch = xs->d[1];
  s->inner = 1;
  for (int d = 2; d < xs->rank; d++) s->inner *= xs->d[d];
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  k->state = s;
  k->run = inorm_run;
  return GL_OK;
}

/* Broadcast index map: for each of the inner elements, the offset into a parameter whose shape
 * right-aligns against the inner dims. */
static void bcast_index(const gl_shape_t *inner, const gl_shape_t *p, int64_t *idx) {
  int64_t n = gl_shape_numel(inner);
  int64_t pst[GL_MAX_RANK];
  gl_shape_strides(p, pst);
  for (int64_t i = 0; i < n; i++) {
    int64_t rem = i, off = 0;
    for (int d = inner->rank - 1; d >= 0; d--) {
      int64_t c = rem % inner->d[d];
      rem /= inner->d[d];
      int pd = d - (inner->rank - p->rank);
      if (pd >= 0 && p->d[pd] != 1) off += c * pst[pd];
    }
    idx[i] = off;
  }
}

typedef struct {
  int64_t outer, inner;
  float eps;
  bool has_b;
  float *scale, *bias; /* expanded to inner elements */
  int64_t *sidx, *bidx;
} lnorm_t;

static gl_status_t lnorm_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const lnorm_t *s = k->state;
  const float *sc = in[1], *bi = in[2];
  for (int64_t i = 0; i < s->inner; i++) {
    s->scale[i] = sc[s->sidx[i]];
    s->bias[i] = s->has_b ? bi[s->bidx[i]] : 0.f;
  }
  const float *xs = in[0];
  float *y = out[0], *mo = out[1], *io = out[2];
  int64_t inner = s->inner;
#pragma omp parallel for if (s->outer * inner > 32768)
  for (int64_t o = 0; o < s->outer; o++) {
    const float *xp = xs + o * inner;
    float *yp = y + o * inner;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < inner; i++) sum += xp[i];
    float mean = (float)(sum / (double)inner);
    for (int64_t i = 0; i < inner; i++) sq += (double)(xp[i] - mean) * (xp[i] - mean);
    float inv = 1.f / sqrtf((float)(sq / (double)inner) + s->eps);
    for (int64_t i = 0; i < inner; i++) yp[i] = (xp[i] - mean) * inv * s->scale[i] + s->bias[i];
    if (mo) mo[o] = mean;
    if (io) io[o] = inv;
  }
  return GL_OK;
}

static void lnorm_destroy(void *p) { gl_free(p); }

static gl_status_t lnorm_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), xs->rank, &axis));
  gl_shape_t inner = {xs->rank - axis, {0}};
  memcpy(inner.d, &xs->d[axis], sizeof(int64_t) * (size_t)inner.rank);
  int64_t ni = gl_shape_numel(&inner);
  size_t bytes = sizeof(lnorm_t) + (size_t)(ni ? ni : 1) * (2 * sizeof(float) + 2 * sizeof(int64_t));
  lnorm_t *s = gl_calloc(1, bytes);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->inner = ni;
  s->outer = gl_shape_numel(xs) / (ni ? ni : 1);
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  s->sidx = (int64_t *)(s + 1);
  s->bidx = s->sidx + ni;
  s->scale = (float *)(s->bidx + ni);
  s->bias = s->scale + ni;
  bcast_index(&inner, &gl_in(g, n, 1)->shape, s->sidx);
  s->has_b = gl_in(g, n, 2) != NULL;
  if (s->has_b) bcast_index(&inner, &gl_in(g, n, 2)->shape, s->bidx);
  k->state = s;
  k->destroy = lnorm_destroy;
  k->run = lnorm_run;
  return GL_OK;
}

typedef struct {
  int64_t n, c, inner, size;
  float alpha, beta, bias;
} lrn_t;

static gl_status_t lrn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const lrn_t *s = k->state;
  const float *xs = in[0];
  float *y = out[0];
  int64_t lo = (s->size - 1) / 2, hi = s->size - 1 - lo, inner = s->inner;
  float am = s->alpha / (float)s->size;
#pragma omp parallel for if (s->n * s->c * inner > 32768)
  for (int64_t p = 0; p < s->n * s->c; p++) {
    int64_t b = p / s->c, c = p % s->c;
    int64_t c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi >= s->c ? s->c - 1 : c + hi;
    for (int64_t i = 0; i < inner; i++) {
      float sq = 0;
      for (int64_t cc = c0; cc <= c1; cc++) {
        float v = xs[(b * s->c + cc) * inner + i];
        sq += v * v;
      }
      y[p * inner + i] = xs[p * inner + i] / powf(s->bias + am * sq, s->beta);
    }
  }
  return GL_OK;
}

static gl_status_t lrn_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  lrn_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->n = xs->d[0];
  s->c = xs->d[1];
  s->inner = 1;
  for (int d = 2; d < xs->rank; d++) s->inner *= xs->d[d];
  s->size = gl_attr_i(n, "size", 1);
  s->alpha = gl_attr_f(n, "alpha", 1e-4f);
  s->beta = gl_attr_f(n, "beta", 0.75f);
  s->bias = gl_attr_f(n, "bias", 1.f);
  k->state = s;
  k->run = lrn_run;
  return GL_OK;
}

/* ======================================================================================
 * Pools (plain loops over N*C planes, up to 3 spatial dims)
 * ====================================================================================== */

typedef enum { POOL_MAX, POOL_AVG, POOL_LP } pool_kind_t;

typedef struct {
  pool_kind_t kind;
  gl_dtype_t dtype;
  int64_t planes;
  int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3]; /* padded to 3 dims (leading 1s) */
  bool count_pad, col_major, has_ind;
  float p;
} pool_t;

/* Window taps j (input index st + j*d) with lo_b <= index < hi_b: j in [*lo, *hi). */
static void tap_range(int64_t st, int64_t d, int64_t k, int64_t lo_b, int64_t hi_b, int64_t *lo,
                      int64_t *hi) {
  int64_t a, b;
  if (d == 1) { /* the common case, without divisions */
    a = st >= lo_b ? 0 : lo_b - st;
    b = st >= hi_b ? 0 : hi_b - st;
  } else {
    a = st >= lo_b ? 0 : (lo_b - st + d - 1) / d;
    b = st >= hi_b ? 0 : (hi_b - st + d - 1) / d;
  }
  if (b > k) b = k;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

/* Element i of a pool input (float, or uint8/int8 for MaxPool); the dtype branch is uniform. */
static inline float pool_ld(gl_dtype_t t, const void *x, int64_t i) {
  if (t == GL_DT_F32) return ((const float *)x)[i];
  if (t == GL_DT_U8) return ((const uint8_t *)x)[i];
  return ((const int8_t *)x)[i];
}

static gl_status_t pool_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  /* A local copy: stores through the int64 Indices output could otherwise alias the state. */
  const pool_t S = *(const pool_t *)k->state;
  const gl_dtype_t dt = S.dtype;
  const size_t esz = gl_dtype_size(dt);
  int64_t *ind = S.has_ind ? out[1] : NULL;
  int64_t isz = S.in[0] * S.in[1] * S.in[2], osz = S.out[0] * S.out[1] * S.out[2];
#pragma omp parallel for if (S.planes * osz > 4096)
  for (int64_t p = 0; p < S.planes; p++) {
    const char *xp = (const char *)in[0] + (size_t)(p * isz) * esz;
    for (int64_t o0 = 0; o0 < S.out[0]; o0++)
      for (int64_t o1 = 0; o1 < S.out[1]; o1++)
        for (int64_t o2 = 0; o2 < S.out[2]; o2++) {
          int64_t st[3] = {o0 * S.s[0] - S.pb[0], o1 * S.s[1] - S.pb[1], o2 * S.s[2] - S.pb[2]};
          int64_t lo[3], hi[3], cntpad = 1;
          for (int d = 0; d < 3; d++) {
            int64_t plo, phi;
            tap_range(st[d], S.d[d], S.k[d], -S.pb[d], S.in[d] + S.pe[d], &plo, &phi);
            cntpad *= phi - plo;
            tap_range(st[d], S.d[d], S.k[d], 0, S.in[d], &lo[d], &hi[d]);
          }
          float best = -INFINITY, acc = 0;
          int64_t arg = -1, cnt = (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
          for (int64_t j0 = lo[0]; j0 < hi[0]; j0++) {
            int64_t i0 = st[0] + j0 * S.d[0];
            for (int64_t j1 = lo[1]; j1 < hi[1]; j1++) {
              int64_t row = (i0 * S.in[1] + st[1] + j1 * S.d[1]) * S.in[2] + st[2];
              if (S.kind == POOL_MAX) {
                for (int64_t j2 = lo[2]; j2 < hi[2]; j2++) {
                  int64_t off = row + j2 * S.d[2];
                  float v = pool_ld(dt, xp, off);
                  if (v > best || arg < 0) best = v, arg = off;
                }
              } else if (S.kind == POOL_AVG) {
                for (int64_t j2 = lo[2]; j2 < hi[2]; j2++) acc += pool_ld(dt, xp, row + j2 * S.d[2]);
              } else {
                for (int64_t j2 = lo[2]; j2 < hi[2]; j2++)
                  acc += powf(fabsf(pool_ld(dt, xp, row + j2 * S.d[2])), S.p);
              }
            }
          }
          int64_t oi = p * osz + (o0 * S.out[1] + o1) * S.out[2] + o2;
          if (S.kind == POOL_MAX) {
            if (dt == GL_DT_F32) ((float *)out[0])[oi] = best;
            else if (dt == GL_DT_U8) ((uint8_t *)out[0])[oi] = (uint8_t)best;
            else ((int8_t *)out[0])[oi] = (int8_t)best;
            if (ind) {
              if (S.col_major && arg >= 0) /* 2-D only: (h, w) -> w * H + h */
                arg = (arg % S.in[2]) * S.in[1] + arg / S.in[2];
              ind[oi] = p * isz + (arg < 0 ? 0 : arg);
            }
          } else if (S.kind == POOL_AVG) {
            int64_t div = S.count_pad ? cntpad : cnt;
            ((float *)out[0])[oi] = div ? acc / (float)div : 0.f;
          } else {
            ((float *)out[0])[oi] = powf(acc, 1.f / S.p);
          }
        }
  }
  return GL_OK;
}

/* A float MaxPool/AveragePool (no Indices) as a oneDNN pooling over plain layouts; GL_EUNSUPPORTED
 * when ONNX's semantics differ from oneDNN's (an average including the padding over a ceil_mode
 * window that extends past the end padding), so the caller keeps the loop. */
static bool pool_dnnl_geom(const pool_t *p, int nsp, dnnl_dims_t st, dnnl_dims_t kk, dnnl_dims_t dil,
                           dnnl_dims_t pl, dnnl_dims_t pr) {
  int off = 3 - nsp;
  for (int i = 0; i < nsp; i++) {
    int j = off + i;
    int64_t ek = (p->k[j] - 1) * p->d[j] + 1;
    st[i] = p->s[j], kk[i] = p->k[j], dil[i] = p->d[j] - 1, pl[i] = p->pb[j];
    pr[i] = (p->out[j] - 1) * p->s[j] + ek - p->in[j] - p->pb[j];
    if (pr[i] < 0 || pl[i] >= ek || pr[i] >= ek) return false;
    if (p->kind == POOL_AVG && p->count_pad && pr[i] > p->pe[j]) return false;
  }
  return true;
}

/* Whether a pool of this kind and dtype runs on oneDNN at all (else the loop). */
static bool pool_dnnl_kind(const pool_t *p) {
  return p->dtype == GL_DT_F32 && p->kind != POOL_LP && !p->has_ind && !getenv("GL_POOL_LOOP");
}

/* Takes the source in its producer's layout (x->lay) and, when the source is blocked, lets oneDNN
 * pick dst's layout (kept when the plan allows, else reordered to plain). */
static gl_status_t pool_dnnl(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                             const pool_t *p, int nsp, gl_dnn_t *s) {
  dnnl_dims_t st, kk, dil, pl, pr;
  if (!pool_dnnl_geom(p, nsp, st, kk, dil, pl, pr)) return GL_EUNSUPPORTED;
  const gl_value_t *xv = gl_in(g, n, 0), *yv = gl_out(g, n, 0);
  dnnl_memory_desc_t xmd, ymd, xsrc, ydst;
  GL_TRY(gl_dnn_plain_md(&xmd, xv->shape.rank, xv->shape.d));
  GL_TRY(gl_dnn_plain_md(&ymd, yv->shape.rank, yv->shape.d));
  const dnnl_memory_desc_t *x_lay = gl_cpu_layout_of(x, n->inputs[0]);
  xsrc = x_lay ? *x_lay : xmd;
  ydst = ymd;
  if (x_lay) {
    dnnl_dims_t yd;
    for (int i = 0; i < yv->shape.rank; i++) yd[i] = yv->shape.d[i];
    GL_DNNL(dnnl_memory_desc_init_by_tag(&ydst, yv->shape.rank, yd, dnnl_f32, dnnl_format_tag_any),
            "dst md");
  }
  dnnl_alg_kind_t alg = p->kind == POOL_MAX ? dnnl_pooling_max
                        : p->count_pad       ? dnnl_pooling_avg_include_padding
                                             : dnnl_pooling_avg_exclude_padding;
  dnnl_pooling_v2_desc_t d;
  if (dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &xsrc, &ydst, st, kk, dil,
                                        pl, pr) != dnnl_success)
    return GL_EUNSUPPORTED;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, x->engine, NULL) != dnnl_success)
    return GL_EUNSUPPORTED;
  const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  dnnl_memory_desc_t y_user = ymd;
  if (x_lay && gl_cpu_layout_publish(x, n->outputs[0], dst_md)) y_user = *dst_md;
  gl_status_t rc = gl_dnn_mem_init(&s->src, x->engine, &xsrc, &xsrc, false);
  if (!rc) rc = gl_dnn_mem_init(&s->dst, x->engine, dst_md, &y_user, true);
  if (!rc) rc = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a pooling");
  dnnl_primitive_desc_destroy(pd);
  if (rc) return rc == GL_EUNSUPPORTED ? GL_EBACKEND : rc;
  gl_dnn_add_arg(s, DNNL_ARG_SRC, s->src.mem);
  gl_dnn_add_arg(s, DNNL_ARG_DST, s->dst.mem);
  return GL_OK;
}

/* Fills s (zeroed) for node n. */
static gl_status_t pool_setup(const gl_graph_t *g, const gl_node_t *n, pool_kind_t kind, bool global,
                              pool_t *s) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  int nsp = xs->rank - 2;
  if (nsp < 1 || nsp > 3)
    return gl_err(GL_EUNSUPPORTED, "%s: %d spatial dims (1 to 3 supported)", gl_node_label(n), nsp);
  s->kind = kind;
  s->dtype = gl_in(g, n, 0)->dtype;
  s->planes = xs->d[0] * xs->d[1];
  for (int i = 0; i < 3; i++) s->in[i] = s->k[i] = s->s[i] = s->d[i] = s->out[i] = 1;
  int off = 3 - nsp;
  if (global) {
    for (int i = 0; i < nsp; i++) s->in[off + i] = s->k[off + i] = xs->d[2 + i];
  } else {
    gl_nn_geom_t geo;
    GL_TRY(gl_nn_geom(n, xs, NULL, GL_GEOM_POOL, &geo));
    for (int i = 0; i < nsp; i++) {
      s->in[off + i] = geo.in[i];
      s->k[off + i] = geo.k[i];
      s->s[off + i] = geo.s[i];
      s->d[off + i] = geo.d[i];
      s->pb[off + i] = geo.pb[i];
      s->pe[off + i] = geo.pe[i];
      s->out[off + i] = geo.out[i];
    }
  }
  s->count_pad = gl_attr_i(n, "count_include_pad", 0) != 0;
  s->col_major = gl_attr_i(n, "storage_order", 0) != 0;
  s->has_ind = kind == POOL_MAX && n->n_outputs > 1 && n->outputs[1] >= 0;
  const gl_attr_t *pa = gl_attr(n, "p");
  s->p = pa ? (pa->type == GL_ATTR_FLOAT ? pa->f : (float)pa->i) : 2.f;
  return GL_OK;
}

static gl_status_t pool_prepare_kind(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                     gl_cpu_kernel_t *k, pool_kind_t kind, bool global) {
  pool_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t pst = pool_setup(g, n, kind, global, s);
  if (pst) {
    gl_free(s);
    return pst;
  }
  int nsp = gl_in(g, n, 0)->shape.rank - 2;
  if (pool_dnnl_kind(s)) {
    gl_dnn_t *d = gl_dnn_new();
    if (!d) {
      gl_free(s);
      return gl_err(GL_ENOMEM, "out of memory");
    }
    gl_status_t st = pool_dnnl(x, g, n, s, nsp, d);
    if (st == GL_OK) {
      gl_free(s);
      k->state = d;
      k->destroy = gl_dnn_destroy;
      k->run = gl_dnn_run;
      return GL_OK;
    }
    gl_dnn_destroy(d);
    if (st == GL_EUNSUPPORTED && gl_cpu_layout_of(x, n->inputs[0]))
      st = gl_err(GL_EBACKEND, "%s: blocked source but no oneDNN pooling", gl_node_label(n));
    if (st != GL_EUNSUPPORTED) {
      gl_free(s);
      return st;
    }
  }
  k->state = s;
  k->run = pool_run;
  return GL_OK;
}

static gl_status_t maxpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                   gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_MAX, false);
}
static gl_status_t avgpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                   gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_AVG, false);
}
static gl_status_t lppool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                  gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_LP, false);
}
static gl_status_t gavgpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_AVG, true);
}
static gl_status_t gmaxpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_MAX, true);
}

/* ======================================================================================
 * Layout awareness (the plan's layout pass)
 * ====================================================================================== */

static bool f32_rank4(const gl_graph_t *g, const gl_node_t *n, int slot) {
  const gl_value_t *v = gl_in(g, n, slot);
  return v && v->dtype == GL_DT_F32 && v->shape.rank == 4;
}

bool gl_cpu_nn_layout_accepts(const gl_graph_t *g, const gl_node_t *n, int slot) {
  if (!strcmp(n->op_type, "Conv"))
    return (slot == 0 || slot == n->fuse.sum_input) && f32_rank4(g, n, slot) && f32_rank4(g, n, 0);
  static const struct { const char *op; pool_kind_t kind; bool global; } pools[] = {
      {"MaxPool", POOL_MAX, false},
      {"AveragePool", POOL_AVG, false},
      {"GlobalAveragePool", POOL_AVG, true},
      {"GlobalMaxPool", POOL_MAX, true},
  };
  for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
    if (strcmp(n->op_type, pools[i].op)) continue;
    if (slot != 0 || !f32_rank4(g, n, 0)) return false;
    pool_t p = {0};
    if (pool_setup(g, n, pools[i].kind, pools[i].global, &p) != GL_OK) return false;
    dnnl_dims_t a, b, c, d, e;
    return pool_dnnl_kind(&p) && pool_dnnl_geom(&p, 2, a, b, c, d, e);
  }
  return false;
}

const gl_cpu_op_t gl_cpu_ops_norm_pool[] = {
    {"BatchNormalization", bn_prepare},
    {"InstanceNormalization", inorm_prepare},
    {"LayerNormalization", lnorm_prepare},
    {"LRN", lrn_prepare},
    {"MaxPool", maxpool_prepare},
    {"AveragePool", avgpool_prepare},
    {"LpPool", lppool_prepare},
    {"GlobalAveragePool", gavgpool_prepare},
    {"GlobalMaxPool", gmaxpool_prepare},
    {0},
};
