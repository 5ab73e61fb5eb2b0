/* backend/cpu/cpu_softmax.c - CPU kernels for Softmax/LogSoftmax/Hardmax and the NLL and softmax
 * cross-entropy losses (f32 softmax on oneDNN where it has a primitive). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_reduce_int.h"
#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_reduce.h"

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

const gl_cpu_op_t gl_cpu_ops_softmax[] = {
    {"Softmax", prep_softmax},
    {"LogSoftmax", prep_logsoftmax},
    {"Hardmax", prep_hardmax},
    {"NegativeLogLikelihoodLoss", prep_nll},
    {"SoftmaxCrossEntropyLoss", prep_sce},
    {0},
};
