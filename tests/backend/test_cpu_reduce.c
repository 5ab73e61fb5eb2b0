/* tests/backend/test_cpu_reduce.c - the reduce family's shapes and CPU kernels against scalar
 * reference code: Reduce* (attribute and input axes, keepdims, negative axes, ints), ArgMax/Min,
 * TopK, Softmax family (both opset semantics), CumSum, NLL / SCE losses, Einsum, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"

/* ---- building one-node graphs ---- */

static gl_graph_t *G;
static int NODE;
static gl_tensor_t IN[8];
static int N_IN;

static void begin(int64_t opset) {
  G = gl_graph_create();
  assert_non_null(G);
  G->opset = opset;
  N_IN = 0;
}

static int input(gl_dtype_t dt, gl_shape_t s, const void *data) {
  char name[16];
  snprintf(name, sizeof name, "in%d", N_IN);
  int v = gl_graph_add_value(G, name);
  G->values[v].dtype = dt;
  G->values[v].shape = s;
  G->values[v].kind = GL_VAL_INPUT;
  assert_int_equal(gl_graph_add_input(G, v), GL_OK);
  IN[N_IN++] = (gl_tensor_t){.dtype = dt, .shape = s, .data = (void *)data};
  return v;
}

static int constant(gl_dtype_t dt, gl_shape_t s, const void *data) {
  int v = gl_graph_add_value(G, NULL);
  gl_tensor_t *t = gl_calloc(1, sizeof *t);
  assert_int_equal(gl_tensor_alloc(t, dt, &s), GL_OK);
  if (gl_tensor_nbytes(t)) memcpy(t->data, data, gl_tensor_nbytes(t));
  assert_int_equal(gl_value_set_const(G, v, t), GL_OK);
  gl_free(t);
  return v;
}

static int const_i64(int n, const int64_t *v) {
  return constant(GL_DT_I64, (gl_shape_t){1, {n}}, v);
}

static void node(const char *op, const int *ins, int n_in, int n_out) {
  int outs[4];
  for (int i = 0; i < n_out; i++) {
    outs[i] = gl_graph_add_value(G, NULL);
    assert_int_equal(gl_graph_add_output(G, outs[i]), GL_OK);
  }
  NODE = gl_graph_add_node(G, op, "n", ins, n_in, outs, n_out);
  assert_true(NODE >= 0);
}

static void attr_i(const char *name, int64_t v) { gl_node_add_attr(G, NODE, name, GL_ATTR_INT)->i = v; }
static void attr_s(const char *name, const char *v) {
  gl_attr_t *a = gl_node_add_attr(G, NODE, name, GL_ATTR_STRING);
  a->s = gl_strdup(v);
  a->s_len = strlen(v);
}
static void attr_ints(const char *name, int n, const int64_t *v) {
  gl_attr_t *a = gl_node_add_attr(G, NODE, name, GL_ATTR_INTS);
  a->n = n;
  a->ints = gl_malloc(sizeof(int64_t) * (size_t)n);
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

/* Compiles and runs G; outputs are allocated into out (caller finis them). */
static gl_status_t run(gl_tensor_t *out, int n_out) {
  gl_model_t *m = NULL;
  gl_backend_t *be = NULL;
  gl_plan_t *p = NULL;
  assert_int_equal(gl_graph_toposort(G), GL_OK);
  assert_int_equal(gl_model_from_graph(G, &m), GL_OK);
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_compile_opts_t o = {0};
  gl_status_t st = gl_model_compile(m, be, &o, &p);
  if (st == GL_OK) {
    assert_int_equal(p->n_outputs, n_out);
    assert_int_equal(gl_plan_alloc_outputs(p, out), GL_OK);
    gl_alloc_fail_after(1); /* kernels allocate nothing while running */
    st = gl_plan_run(p, IN, out);
    gl_alloc_fail_after(0);
    if (st) for (int i = 0; i < n_out; i++) gl_tensor_fini(&out[i]);
  }
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_model_destroy(m);
  G = NULL;
  return st;
}

static void fill(float *x, int64_t n, uint32_t seed) {
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)((seed >> 8) % 2000) / 1000.f - 1.0f; /* [-1, 1) */
  }
}

static void near(double got, double want, double rtol) {
  if (fabs(got - want) > 1e-6 + rtol * fabs(want)) fail_msg("got %.9g, want %.9g", got, want);
}

/* ---- Reduce* ---- */

enum { SUM, MEAN, MAX, MIN, PROD, L1, L2, LOGSUM, LSE, SUMSQ };
static const char *red_names[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                  "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                  "ReduceSumSquare"};

/* Reference: y[o] for every output position, by walking all input elements. */
static void ref_reduce(int op, const float *x, const gl_shape_t *s, const bool *mask, double *y,
                       int64_t n_out) {
  double acc[4096];
  int64_t cnt = 1;
  for (int d = 0; d < s->rank; d++) if (mask[d]) cnt *= s->d[d];
  for (int64_t o = 0; o < n_out; o++)
    acc[o] = op == MAX ? -INFINITY : op == MIN ? INFINITY : op == PROD ? 1 : 0;
  int64_t idx[GL_MAX_RANK] = {0}, total = gl_shape_numel(s);
  for (int64_t i = 0; i < total; i++) {
    int64_t o = 0;
    for (int d = 0; d < s->rank; d++) if (!mask[d]) o = o * s->d[d] + idx[d];
    double v = x[i];
    switch (op) {
      case SUM: case MEAN: case LOGSUM: acc[o] += v; break;
      case MAX: acc[o] = fmax(acc[o], v); break;
      case MIN: acc[o] = fmin(acc[o], v); break;
      case PROD: acc[o] *= v; break;
      case L1: acc[o] += fabs(v); break;
      case L2: case SUMSQ: acc[o] += v * v; break;
      case LSE: acc[o] += exp(v); break;
    }
    for (int d = s->rank - 1; d >= 0; d--) {
      if (++idx[d] < s->d[d]) break;
      idx[d] = 0;
    }
  }
  for (int64_t o = 0; o < n_out; o++) {
    double a = acc[o];
    if (op == MEAN) a /= (double)cnt;
    if (op == L2) a = sqrt(a);
    if (op == LOGSUM || op == LSE) a = log(a);
    y[o] = a;
  }
}

static void check_reduce(int op, int64_t opset, gl_shape_t s, int n_axes, const int64_t *axes,
                         bool keep, bool axes_as_input) {
  static float x[8192];
  double want[4096];
  int64_t n = gl_shape_numel(&s);
  fill(x, n, 7 + (uint32_t)op);
  if (op == PROD) for (int64_t i = 0; i < n; i++) x[i] = 1.0f + x[i] * 0.01f;
  if (op == LOGSUM) for (int64_t i = 0; i < n; i++) x[i] = fabsf(x[i]) + 0.1f;
  begin(opset);
  int ins[2] = {input(GL_DT_F32, s, x), -1};
  if (axes_as_input) ins[1] = const_i64(n_axes, axes);
  node(red_names[op], ins, axes_as_input ? 2 : 1, 1);
  if (!axes_as_input && n_axes) attr_ints("axes", n_axes, axes);
  attr_i("keepdims", keep);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  bool mask[GL_MAX_RANK] = {0};
  for (int i = 0; i < n_axes; i++) mask[axes[i] < 0 ? axes[i] + s.rank : axes[i]] = true;
  if (!n_axes) for (int d = 0; d < s.rank; d++) mask[d] = true;
  int r = 0;
  for (int d = 0; d < s.rank; d++) {
    if (!mask[d]) assert_int_equal(y[0].shape.d[r++], s.d[d]);
    else if (keep) assert_int_equal(y[0].shape.d[r++], 1);
  }
  assert_int_equal(y[0].shape.rank, r);
  int64_t n_out = gl_shape_numel(&y[0].shape);
  ref_reduce(op, x, &s, mask, want, n_out);
  for (int64_t o = 0; o < n_out; o++) near(((float *)y[0].data)[o], want[o], 1e-4);
  gl_tensor_fini(&y[0]);
}

static void test_reduce_f32(void **state) {
  gl_shape_t big = {4, {4, 8, 16, 10}}, small = {3, {2, 3, 4}};
  for (int op = SUM; op <= SUMSQ; op++) {
    check_reduce(op, 11, big, 2, (int64_t[]){2, 3}, true, false);   /* innermost: oneDNN for most */
    check_reduce(op, 11, big, 2, (int64_t[]){1, 3}, true, false);   /* offset tables */
    check_reduce(op, 11, big, 1, (int64_t[]){-1}, false, false);
    check_reduce(op, 11, small, 2, (int64_t[]){0, -1}, false, false); /* C loops */
    check_reduce(op, 11, small, 0, NULL, true, false);                /* all axes */
  }
  /* ReduceSum takes its axes as an input from opset 13. */
  check_reduce(SUM, 13, big, 2, (int64_t[]){0, 2}, true, true);
  check_reduce(SUM, 13, small, 1, (int64_t[]){-2}, false, true);
}

static void test_reduce_noop_and_repeat(void **state) {
  float x[6] = {1, 2, 3, 4, 5, 6};
  begin(13);
  int ins[2] = {input(GL_DT_F32, (gl_shape_t){2, {2, 3}}, x), constant(GL_DT_I64, (gl_shape_t){1, {0}}, NULL)};
  node("ReduceSum", ins, 2, 1);
  attr_i("noop_with_empty_axes", 1);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  assert_int_equal(y[0].shape.rank, 2);
  assert_memory_equal(y[0].data, x, sizeof x);
  gl_tensor_fini(&y[0]);
  /* A repeated axis is invalid input. */
  begin(11);
  int xi = input(GL_DT_F32, (gl_shape_t){2, {2, 3}}, x);
  node("ReduceMax", &xi, 1, 1);
  attr_ints("axes", 2, (int64_t[]){1, -1});
  assert_int_equal(run(y, 1), GL_EINVAL);
}

static void test_reduce_ints(void **state) {
  int64_t a[6] = {1, -2, 3, 4000000000LL, 5, -6};
  begin(13);
  int ins[2] = {input(GL_DT_I64, (gl_shape_t){2, {2, 3}}, a), const_i64(1, (int64_t[]){1})};
  node("ReduceSum", ins, 2, 1);
  attr_i("keepdims", 0);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  assert_int_equal(y[0].dtype, GL_DT_I64);
  assert_int_equal(((int64_t *)y[0].data)[0], 2);
  assert_int_equal(((int64_t *)y[0].data)[1], 3999999999LL);
  gl_tensor_fini(&y[0]);
  int32_t b[6] = {1, -2, 3, 4, 5, -6};
  begin(11);
  int xi = input(GL_DT_I32, (gl_shape_t){2, {2, 3}}, b);
  node("ReduceMin", &xi, 1, 1);
  attr_ints("axes", 1, (int64_t[]){0});
  assert_int_equal(run(y, 1), GL_OK);
  assert_int_equal(y[0].shape.rank, 2);
  int32_t want[3] = {1, -2, -6};
  assert_memory_equal(y[0].data, want, sizeof want);
  gl_tensor_fini(&y[0]);
}

/* ---- ArgMax / ArgMin ---- */

static void test_argmax_argmin(void **state) {
  float x[8] = {1, 3, 3, 0, /**/ 2, 2, -1, -1};
  struct { const char *op; int last; int64_t axis; int keep; int64_t want[4]; int rank; } c[] = {
      {"ArgMax", 0, 1, 1, {1, 0}, 2},
      {"ArgMax", 1, -1, 0, {2, 1}, 1},
      {"ArgMin", 0, 1, 0, {3, 2}, 1},
      {"ArgMin", 1, 1, 0, {3, 3}, 1},
      {"ArgMax", 0, 0, 0, {1, 0, 0, 0}, 1},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    begin(13);
    int xi = input(GL_DT_F32, (gl_shape_t){2, {2, 4}}, x);
    node(c[i].op, &xi, 1, 1);
    attr_i("axis", c[i].axis);
    attr_i("keepdims", c[i].keep);
    attr_i("select_last_index", c[i].last);
    gl_tensor_t y[1] = {0};
    assert_int_equal(run(y, 1), GL_OK);
    assert_int_equal(y[0].dtype, GL_DT_I64);
    assert_int_equal(y[0].shape.rank, c[i].rank);
    int64_t n = gl_shape_numel(&y[0].shape);
    assert_memory_equal(y[0].data, c[i].want, sizeof(int64_t) * (size_t)n);
    gl_tensor_fini(&y[0]);
  }
  int32_t xi32[6] = {5, 9, 9, -4, -7, 0};
  begin(11);
  int xi = input(GL_DT_I32, (gl_shape_t){1, {6}}, xi32);
  node("ArgMin", &xi, 1, 1);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  assert_int_equal(((int64_t *)y[0].data)[0], 4);
  gl_tensor_fini(&y[0]);
}

/* ---- TopK ---- */

static void test_topk(void **state) {
  float x[10] = {3, 1, 4, 1, 5, /**/ 9, 2, 6, 5, 3};
  gl_tensor_t y[2] = {0};
  /* opset 11, k as an input, largest, ties by lower index */
  begin(11);
  int ins[2] = {input(GL_DT_F32, (gl_shape_t){2, {2, 5}}, x), const_i64(1, (int64_t[]){3})};
  node("TopK", ins, 2, 2);
  assert_int_equal(run(y, 2), GL_OK);
  float wv[6] = {5, 4, 3, 9, 6, 5};
  int64_t wi[6] = {4, 2, 0, 0, 2, 3};
  assert_memory_equal(y[0].data, wv, sizeof wv);
  assert_memory_equal(y[1].data, wi, sizeof wi);
  gl_tensor_fini(&y[0]), gl_tensor_fini(&y[1]);
  /* opset 9, k as an attribute, smallest along axis 0 */
  begin(9);
  int xi = input(GL_DT_F32, (gl_shape_t){2, {2, 5}}, x);
  node("TopK", &xi, 1, 2);
  attr_i("k", 1);
  attr_i("axis", 0);
  attr_i("largest", 0);
  gl_tensor_t z[2] = {0};
  assert_int_equal(run(z, 2), GL_OK);
  assert_int_equal(z[0].shape.d[0], 1);
  float zv[5] = {3, 1, 4, 1, 3};
  int64_t zi[5] = {0, 0, 0, 0, 1};
  assert_memory_equal(z[0].data, zv, sizeof zv);
  assert_memory_equal(z[1].data, zi, sizeof zi);
  gl_tensor_fini(&z[0]), gl_tensor_fini(&z[1]);
  /* k larger than the axis is invalid */
  begin(11);
  int ins2[2] = {input(GL_DT_F32, (gl_shape_t){2, {2, 5}}, x), const_i64(1, (int64_t[]){6})};
  node("TopK", ins2, 2, 2);
  assert_int_equal(run(y, 2), GL_EINVAL);
}

/* ---- Softmax family ---- */

static void ref_softmax(int kind, const float *x, int64_t outer, int64_t len, int64_t inner, double *y) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double m = -INFINITY, s = 0;
      int64_t arg = 0;
      for (int64_t j = 0; j < len; j++) {
        double v = x[(o * len + j) * inner + i];
        if (v > m) m = v, arg = j;
      }
      for (int64_t j = 0; j < len; j++) s += exp(x[(o * len + j) * inner + i] - m);
      for (int64_t j = 0; j < len; j++) {
        int64_t k = (o * len + j) * inner + i;
        y[k] = kind == 0 ? exp(x[k] - m) / s : kind == 1 ? x[k] - m - log(s) : (double)(j == arg);
      }
    }
}

static void check_softmax(int kind, int64_t opset, gl_shape_t s, int64_t axis, bool has_axis) {
  static const char *ops[] = {"Softmax", "LogSoftmax", "Hardmax"};
  static float x[20000];
  static double want[20000];
  int64_t n = gl_shape_numel(&s);
  fill(x, n, 99);
  for (int64_t i = 0; i < n; i++) x[i] *= 5;
  begin(opset);
  int xi = input(GL_DT_F32, s, x);
  node(ops[kind], &xi, 1, 1);
  if (has_axis) attr_i("axis", axis);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  int a = (int)(axis < 0 ? axis + s.rank : axis);
  int64_t outer = 1, len = 1, inner = 1;
  for (int d = 0; d < s.rank; d++) {
    if (d < a) outer *= s.d[d];
    else if (d == a || opset < 13) len *= s.d[d];
    else inner *= s.d[d];
  }
  ref_softmax(kind, x, outer, len, inner, want);
  for (int64_t i = 0; i < n; i++) near(((float *)y[0].data)[i], want[i], 1e-4);
  gl_tensor_fini(&y[0]);
}

static void test_softmax(void **state) {
  gl_shape_t bert = {3, {2, 64, 128}}, small = {3, {2, 3, 4}};
  for (int kind = 0; kind < 3; kind++) {
    check_softmax(kind, 13, bert, -1, false);  /* default axis -1 from 13 */
    check_softmax(kind, 13, small, 1, true);   /* a middle axis */
    check_softmax(kind, 13, small, 0, true);
    check_softmax(kind, 11, small, 1, false);  /* before 13: coerced 2-D at axis 1 */
    check_softmax(kind, 11, small, 0, true);
    check_softmax(kind, 11, small, -1, true);
  }
  /* f64 runs the C path */
  double x[4] = {1, 2, 3, 4};
  begin(13);
  int xi = input(GL_DT_F64, (gl_shape_t){2, {2, 2}}, x);
  node("Softmax", &xi, 1, 1);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  near(((double *)y[0].data)[1], 1.0 / (1.0 + exp(-1.0)), 1e-12);
  gl_tensor_fini(&y[0]);
}

/* ---- CumSum ---- */

static void test_cumsum(void **state) {
  float x[6] = {1, 2, 3, 4, 5, 6};
  struct { int excl, rev; int64_t axis; float want[6]; } c[] = {
      {0, 0, 1, {1, 3, 6, 4, 9, 15}},
      {1, 0, -1, {0, 1, 3, 0, 4, 9}},
      {0, 1, 1, {6, 5, 3, 15, 11, 6}},
      {1, 1, 0, {4, 5, 6, 0, 0, 0}},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    begin(14);
    int ins[2] = {input(GL_DT_F32, (gl_shape_t){2, {2, 3}}, x), input(GL_DT_I64, (gl_shape_t){0}, &c[i].axis)};
    node("CumSum", ins, 2, 1);
    attr_i("exclusive", c[i].excl);
    attr_i("reverse", c[i].rev);
    gl_tensor_t y[1] = {0};
    assert_int_equal(run(y, 1), GL_OK);
    assert_memory_equal(y[0].data, c[i].want, sizeof c[i].want);
    gl_tensor_fini(&y[0]);
  }
  int32_t xi[4] = {1, 2, 3, 4}, ax = 0;
  begin(14);
  int ins[2] = {input(GL_DT_I32, (gl_shape_t){1, {4}}, xi), input(GL_DT_I32, (gl_shape_t){0}, &ax)};
  node("CumSum", ins, 2, 1);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  int32_t want[4] = {1, 3, 6, 10};
  assert_memory_equal(y[0].data, want, sizeof want);
  gl_tensor_fini(&y[0]);
}

/* ---- NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss ---- */

enum { N_ = 3, C_ = 4, D_ = 2 };

/* loss per (n, d), weight sum; input already log-probabilities. */
static void ref_nll(const float *lp, const int64_t *t, const float *w, bool has_ii, int64_t ii,
                    double *loss, double *wsum) {
  *wsum = 0;
  for (int n = 0; n < N_; n++)
    for (int d = 0; d < D_; d++) {
      int64_t c = t[n * D_ + d];
      if (has_ii && c == ii) { loss[n * D_ + d] = 0; continue; }
      double wt = w ? w[c] : 1;
      loss[n * D_ + d] = -lp[(n * C_ + c) * D_ + d] * wt;
      *wsum += wt;
    }
}

static void test_losses(void **state) {
  float x[N_ * C_ * D_], w[C_] = {0.5f, 1, 2, 0.25f};
  int64_t t[N_ * D_] = {0, 3, 2, -1, 1, 2};
  fill(x, N_ * C_ * D_, 5);
  float lp[N_ * C_ * D_]; /* log_softmax over C */
  for (int n = 0; n < N_; n++)
    for (int d = 0; d < D_; d++) {
      double s = 0;
      for (int c = 0; c < C_; c++) s += exp(x[(n * C_ + c) * D_ + d]);
      for (int c = 0; c < C_; c++) lp[(n * C_ + c) * D_ + d] = (float)(x[(n * C_ + c) * D_ + d] - log(s));
    }
  const char *reds[] = {"none", "sum", "mean"};
  for (int sce = 0; sce < 2; sce++)
    for (int r = 0; r < 3; r++)
      for (int weighted = 0; weighted < 2; weighted++) {
        begin(13);
        int ins[3] = {input(GL_DT_F32, (gl_shape_t){3, {N_, C_, D_}}, sce ? x : lp),
                      input(GL_DT_I64, (gl_shape_t){2, {N_, D_}}, t), -1};
        if (weighted) ins[2] = input(GL_DT_F32, (gl_shape_t){1, {C_}}, w);
        int n_out = sce ? 2 : 1;
        node(sce ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss", ins, weighted ? 3 : 2, n_out);
        attr_s("reduction", reds[r]);
        attr_i("ignore_index", -1);
        gl_tensor_t y[2] = {0};
        assert_int_equal(run(y, n_out), GL_OK);
        double loss[N_ * D_], wsum, sum = 0;
        ref_nll(lp, t, weighted ? w : NULL, true, -1, loss, &wsum);
        for (int i = 0; i < N_ * D_; i++) sum += loss[i];
        const float *got = y[0].data;
        if (r == 0) {
          assert_int_equal(y[0].shape.rank, 2);
          for (int i = 0; i < N_ * D_; i++) near(got[i], loss[i], 1e-5);
        } else {
          assert_int_equal(y[0].shape.rank, 0);
          near(got[0], r == 1 ? sum : sum / wsum, 1e-5);
        }
        if (sce)
          for (int i = 0; i < N_ * C_ * D_; i++) near(((float *)y[1].data)[i], lp[i], 1e-5);
        for (int i = 0; i < n_out; i++) gl_tensor_fini(&y[i]);
      }
  /* SCE without the log_prob output, rank-2 scores, no ignore_index */
  begin(13);
  int64_t t2[N_] = {1, 0, 3};
  int ins[2] = {input(GL_DT_F32, (gl_shape_t){2, {N_, C_}}, x), input(GL_DT_I64, (gl_shape_t){1, {N_}}, t2)};
  node("SoftmaxCrossEntropyLoss", ins, 2, 1);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_OK);
  double want = 0;
  for (int n = 0; n < N_; n++) {
    double s = 0;
    for (int c = 0; c < C_; c++) s += exp(x[n * C_ + c]);
    want += -(x[n * C_ + t2[n]] - log(s));
  }
  near(((float *)y[0].data)[0], want / N_, 1e-5);
  gl_tensor_fini(&y[0]);
  /* A target outside [0, C) is an error at run time, not a crash. */
  begin(13);
  int64_t bad[N_] = {1, 7, 0};
  int ins3[2] = {input(GL_DT_F32, (gl_shape_t){2, {N_, C_}}, lp), input(GL_DT_I64, (gl_shape_t){1, {N_}}, bad)};
  node("NegativeLogLikelihoodLoss", ins3, 2, 1);
  assert_int_equal(run(y, 1), GL_EINVAL);
}

/* ---- Einsum ---- */

static void test_einsum(void **state) {
  float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, -1, 2, 0.5f, 3}, sq[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  gl_tensor_t y[1] = {0};
  /* matmul: [2,3] x [3,2] */
  begin(12);
  int ins[2] = {input(GL_DT_F32, (gl_shape_t){2, {2, 3}}, a), input(GL_DT_F32, (gl_shape_t){2, {3, 2}}, b)};
  node("Einsum", ins, 2, 1);
  attr_s("equation", "ij,jk->ik");
  assert_int_equal(run(y, 1), GL_OK);
  float mm[4] = {1 * 1 + 2 * -1 + 3 * 0.5f, 0 + 2 * 2 + 3 * 3, 4 * 1 + 5 * -1 + 6 * 0.5f, 0 + 5 * 2 + 6 * 3};
  for (int i = 0; i < 4; i++) near(((float *)y[0].data)[i], mm[i], 1e-6);
  gl_tensor_fini(&y[0]);
  /* diagonal, implicit transpose, ellipsis, inner product */
  struct { const char *eq; gl_shape_t s; const float *x; int n; float want[9]; int rank; } c[] = {
      {"ii->i", {2, {3, 3}}, sq, 3, {1, 5, 9}, 1},
      {"ij", {2, {3, 3}}, sq, 9, {1, 2, 3, 4, 5, 6, 7, 8, 9}, 2},
      {"ji", {2, {3, 3}}, sq, 9, {1, 4, 7, 2, 5, 8, 3, 6, 9}, 2},
      {"...ij->...ji", {3, {1, 2, 3}}, a, 6, {1, 4, 2, 5, 3, 6}, 3},
      {"ij->", {2, {2, 3}}, a, 1, {21}, 0},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    begin(12);
    int xi = input(GL_DT_F32, c[i].s, c[i].x);
    node("Einsum", &xi, 1, 1);
    attr_s("equation", c[i].eq);
    assert_int_equal(run(y, 1), GL_OK);
    assert_int_equal(y[0].shape.rank, c[i].rank);
    for (int j = 0; j < c[i].n; j++) near(((float *)y[0].data)[j], c[i].want[j], 1e-6);
    gl_tensor_fini(&y[0]);
  }
  begin(12);
  int ins2[2] = {input(GL_DT_F32, (gl_shape_t){1, {3}}, a), input(GL_DT_F32, (gl_shape_t){1, {3}}, b)};
  node("Einsum", ins2, 2, 1);
  attr_s("equation", "i,i");
  assert_int_equal(run(y, 1), GL_OK);
  near(((float *)y[0].data)[0], 1 - 3, 1e-6);
  gl_tensor_fini(&y[0]);
  /* three operands, two summed labels: ij,jk,kl->il over [2,3] [3,4] [4,2] */
  float m1[6], m2[12], m3[8];
  fill(m1, 6, 1), fill(m2, 12, 2), fill(m3, 8, 3);
  begin(12);
  int ins3[3] = {input(GL_DT_F32, (gl_shape_t){2, {2, 3}}, m1), input(GL_DT_F32, (gl_shape_t){2, {3, 4}}, m2),
                 input(GL_DT_F32, (gl_shape_t){2, {4, 2}}, m3)};
  node("Einsum", ins3, 3, 1);
  attr_s("equation", "ij,jk,kl->il");
  assert_int_equal(run(y, 1), GL_OK);
  for (int i = 0; i < 2; i++)
    for (int l = 0; l < 2; l++) {
      double w = 0;
      for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++) w += (double)m1[i * 3 + j] * m2[j * 4 + k] * m3[k * 2 + l];
      near(((float *)y[0].data)[i * 2 + l], w, 1e-5);
    }
  gl_tensor_fini(&y[0]);
  /* batched matmul with the batch label broadcast from 1, int64 */
  int64_t p[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, q[6] = {1, -1, 2, 0, 3, 1};
  begin(12);
  int ins4[2] = {input(GL_DT_I64, (gl_shape_t){3, {2, 2, 3}}, p), input(GL_DT_I64, (gl_shape_t){3, {1, 3, 2}}, q)};
  node("Einsum", ins4, 2, 1);
  attr_s("equation", "bij,bjk->bik");
  assert_int_equal(run(y, 1), GL_OK);
  assert_int_equal(y[0].shape.d[0], 2);
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < 2; i++)
      for (int k = 0; k < 2; k++) {
        int64_t w = 0;
        for (int j = 0; j < 3; j++) w += p[(b * 2 + i) * 3 + j] * q[j * 2 + k];
        assert_int_equal(((int64_t *)y[0].data)[(b * 2 + i) * 2 + k], w);
      }
  gl_tensor_fini(&y[0]);
  /* an equation that does not match the operand's rank */
  begin(12);
  int xi = input(GL_DT_F32, (gl_shape_t){2, {2, 3}}, a);
  node("Einsum", &xi, 1, 1);
  attr_s("equation", "ijk->i");
  assert_int_equal(run(y, 1), GL_ESHAPE);
}

/* ---- errors ---- */

static void test_unsupported_dtype(void **state) {
  uint16_t h[4] = {0};
  begin(11);
  int xi = input(GL_DT_F16, (gl_shape_t){1, {4}}, h);
  node("ReduceSum", &xi, 1, 1);
  gl_tensor_t y[1] = {0};
  assert_int_equal(run(y, 1), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "float16"));
  /* Softmax has no integer form */
  int64_t i[4] = {0};
  begin(13);
  xi = input(GL_DT_I64, (gl_shape_t){1, {4}}, i);
  node("Softmax", &xi, 1, 1);
  assert_int_equal(run(y, 1), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "int64"));
  /* an axis out of range */
  float x[4] = {0};
  begin(13);
  xi = input(GL_DT_F32, (gl_shape_t){1, {4}}, x);
  node("ArgMax", &xi, 1, 1);
  attr_i("axis", 2);
  assert_int_equal(run(y, 1), GL_EINVAL);
}

static int teardown(void **state) {
  if (gl_alloc_live_count() != 0) fail_msg("%zu allocations leaked", gl_alloc_live_count());
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_reduce_f32, teardown),
      cmocka_unit_test_teardown(test_reduce_noop_and_repeat, teardown),
      cmocka_unit_test_teardown(test_reduce_ints, teardown),
      cmocka_unit_test_teardown(test_argmax_argmin, teardown),
      cmocka_unit_test_teardown(test_topk, teardown),
      cmocka_unit_test_teardown(test_softmax, teardown),
      cmocka_unit_test_teardown(test_cumsum, teardown),
      cmocka_unit_test_teardown(test_losses, teardown),
      cmocka_unit_test_teardown(test_einsum, teardown),
      cmocka_unit_test_teardown(test_unsupported_dtype, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
