/* tests/backend/test_cpu_elementwise.c - elementwise ops through compile and run, against scalar
 * reference formulas: unary math (plain loops and oneDNN), broadcasting, ints, bools, casts. */
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
#include "graph/graph.h"

typedef struct {
  gl_dtype_t t;
  gl_shape_t s;
  const void *data;
  bool is_const;
} in_t;

typedef void (*attr_fn)(gl_graph_t *g, int ni);

#define MAX_OUT 2
static gl_tensor_t outs[MAX_OUT];

static void free_outs(void) {
  for (int i = 0; i < MAX_OUT; i++) gl_tensor_fini(&outs[i]);
}

/* Builds a one-node graph, compiles it on the CPU backend and runs it; outputs land in outs[]. */
static gl_status_t run_op(const char *op, int64_t opset, const in_t *ins, int nin, int nout,
                          attr_fn attrs) {
  free_outs();
  gl_graph_t *g = gl_graph_create();
  assert_non_null(g);
  g->opset = opset;
  int iv[8], ov[MAX_OUT];
  gl_tensor_t rt[8];
  int nrt = 0;
  for (int i = 0; i < nin; i++) {
    if (!ins[i].data) {
      iv[i] = -1;
      continue;
    }
    char name[16];
    snprintf(name, sizeof name, "in%d", i);
    iv[i] = gl_graph_add_value(g, name);
    gl_value_t *v = &g->values[iv[i]];
    v->dtype = ins[i].t;
    v->shape = ins[i].s;
    gl_tensor_t t = {0};
    assert_int_equal(gl_tensor_alloc(&t, ins[i].t, &ins[i].s), GL_OK);
    memcpy(t.data, ins[i].data, gl_tensor_nbytes(&t));
    if (ins[i].is_const) {
      assert_int_equal(gl_value_set_const(g, iv[i], &t), GL_OK);
      gl_tensor_fini(&t);
    } else {
      assert_int_equal(gl_graph_add_input(g, iv[i]), GL_OK);
      rt[nrt++] = t;
    }
  }
  for (int i = 0; i < nout; i++) {
    char name[16];
    snprintf(name, sizeof name, "out%d", i);
    ov[i] = gl_graph_add_value(g, name);
  }
  int ni = gl_graph_add_node(g, op, "n", iv, nin, ov, nout);
  assert_true(ni >= 0);
  if (attrs) attrs(g, ni);
  for (int i = 0; i < nout; i++) assert_int_equal(gl_graph_add_output(g, ov[i]), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_model_t *m = NULL;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  gl_backend_t *be = NULL;
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_compile_opts_t co = {0};
  gl_plan_t *plan = NULL;
  gl_status_t st = gl_model_compile(m, be, &co, &plan);
  if (st == GL_OK) {
    for (int i = 0; i < nout; i++)
      assert_int_equal(gl_tensor_alloc(&outs[i], plan->outputs[i].dtype, &plan->outputs[i].shape),
                       GL_OK);
    st = gl_plan_run(plan, rt, outs);
  }
  for (int i = 0; i < nrt; i++) gl_tensor_fini(&rt[i]);
  gl_plan_destroy(plan);
  gl_backend_destroy(be);
  gl_model_destroy(m);
  return st;
}

static float rnd(uint32_t *seed) {
  *seed = *seed * 1664525u + 1013904223u;
  return ((float)(*seed >> 8) / 16777216.0f) * 8.0f - 4.0f;
}

static void fill(float *x, int64_t n, uint32_t seed) {
  for (int64_t i = 0; i < n; i++) x[i] = rnd(&seed);
}

static void check_close(const float *got, const float *want, int64_t n, double tol) {
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    if (isnan(want[i]) && isnan(got[i])) continue;
    if (d > tol * (1 + fabs(want[i]))) fail_msg("element %lld: got %.7g want %.7g", (long long)i, got[i], want[i]);
  }
}

/* ---- unary ---- */
typedef struct {
  const char *op;
  double (*ref)(double);
  float domain_shift; /* adds to |x| for ops defined on positives; < 0: use x as is */
  attr_fn attrs;
} un_case_t;

static double r_relu(double x) { return x > 0 ? x : 0; }
static double r_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double r_softplus(double x) { return log(1 + exp(x)); }
static double r_softsign(double x) { return x / (1 + fabs(x)); }
static double r_hsig(double x) { return fmax(0, fmin(1, 0.2 * x + 0.5)); }
static double r_hswish(double x) { return x * fmax(0, fmin(1, x / 6 + 0.5)); }
static double r_elu(double x) { return x >= 0 ? x : exp(x) - 1; }
static double r_selu(double x) {
  return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (exp(x) - 1));
}
static double r_celu(double x) { return fmax(0, x) + fmin(0, exp(x) - 1); }
static double r_leaky(double x) { return x >= 0 ? x : 0.01 * x; }
static double r_thr(double x) { return x > 1 ? x : 0; }
static double r_neg(double x) { return -x; }
static double r_recip(double x) { return 1 / x; }
static double r_sign(double x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
static double r_shrink(double x) { return x < -0.5 ? x : (x > 0.5 ? x : 0); }
static double r_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double r_clip(double x) { return x < -1 ? -1 : (x > 2 ? 2 : x); }

static void a_clip_attrs(gl_graph_t *g, int ni) {
  gl_node_add_attr(g, ni, "min", GL_ATTR_FLOAT)->f = -1;
  gl_node_add_attr(g, ni, "max", GL_ATTR_FLOAT)->f = 2;
}

static const un_case_t un_cases[] = {
    {"Relu", r_relu, -1, NULL},       {"Sigmoid", r_sigmoid, -1, NULL},
    {"Tanh", tanh, -1, NULL},         {"Softplus", r_softplus, -1, NULL},
    {"Softsign", r_softsign, -1, NULL}, {"HardSigmoid", r_hsig, -1, NULL},
    {"HardSwish", r_hswish, -1, NULL}, {"Elu", r_elu, -1, NULL},
    {"Selu", r_selu, -1, NULL},       {"Celu", r_celu, -1, NULL},
    {"LeakyRelu", r_leaky, -1, NULL}, {"ThresholdedRelu", r_thr, -1, NULL},
    {"Erf", erf, -1, NULL},           {"Exp", exp, -1, NULL},
    {"Log", log, 0.1f, NULL},         {"Sqrt", sqrt, 0.0f, NULL},
    {"Neg", r_neg, -1, NULL},         {"Abs", fabs, -1, NULL},
    {"Reciprocal", r_recip, 0.5f, NULL}, {"Floor", floor, -1, NULL},
    {"Ceil", ceil, -1, NULL},         {"Sign", r_sign, -1, NULL},
    {"Sin", sin, -1, NULL},           {"Cos", cos, -1, NULL},
    {"Atan", atan, -1, NULL},         {"Sinh", sinh, -1, NULL},
    {"Cosh", cosh, -1, NULL},         {"Asinh", asinh, -1, NULL},
    {"Acosh", acosh, 1.0f, NULL},     {"Shrink", r_shrink, -1, NULL},
    {"Gelu", r_gelu, -1, NULL},       {"Clip", r_clip, -1, a_clip_attrs},
};

static void unary_sweep(int64_t n) {
  float *x = gl_malloc(sizeof(float) * (size_t)n), *want = gl_malloc(sizeof(float) * (size_t)n);
  for (size_t c = 0; c < sizeof un_cases / sizeof un_cases[0]; c++) {
    const un_case_t *u = &un_cases[c];
    fill(x, n, 7 + (uint32_t)c);
    for (int64_t i = 0; i < n; i++) {
      if (u->domain_shift >= 0) x[i] = fabsf(x[i]) + u->domain_shift;
      want[i] = (float)u->ref(x[i]);
    }
    in_t in = {GL_DT_F32, {2, {n / 4, 4}}, x, false};
    gl_status_t st = run_op(u->op, u->attrs ? 6 : 13, &in, 1, 1, u->attrs);
    if (st != GL_OK) fail_msg("%s: %s", u->op, gl_errmsg());
    assert_int_equal(outs[0].dtype, GL_DT_F32);
    check_close(outs[0].data, want, n, 2e-5);
  }
  gl_free(x);
  gl_free(want);
  free_outs();
}

static void test_unary_small(void **state) { unary_sweep(64); }        /* plain loops */
static void test_unary_large(void **state) { unary_sweep(40000); }     /* oneDNN, threads */

static void test_round_half_even(void **state) {
  const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, -2.6f};
  const float want[] = {0, 2, 2, -0.0f, -2, -2, 2, -3};
  in_t in = {GL_DT_F32, {1, {8}}, x, false};
  assert_int_equal(run_op("Round", 13, &in, 1, 1, NULL), GL_OK);
  check_close(outs[0].data, want, 8, 0);
  free_outs();
}

/* The vectorised exp, sigmoid and tanh of the plain loops at the edges of float's range. */
static void test_unary_extremes(void **state) {
  const float x[] = {100, -100, NAN, 88.7f, -86.0f, 20, -20, 1e-6f, -0.05f, 0};
  const int n = 10;
  in_t in = {GL_DT_F32, {1, {n}}, x, false};
  static const struct {
    const char *op;
    double (*ref)(double);
  } ops[] = {{"Exp", exp}, {"Sigmoid", r_sigmoid}, {"Tanh", tanh}};
  for (size_t o = 0; o < 3; o++) {
    assert_int_equal(run_op(ops[o].op, 13, &in, 1, 1, NULL), GL_OK);
    const float *y = outs[0].data;
    for (int i = 0; i < n; i++) {
      float want = (float)ops[o].ref(x[i]);
      if (isnan(want) || isinf(want)) {
        if (isnan(want)) assert_true(isnan(y[i]));
        else assert_true(y[i] == want);
        continue;
      }
      if (fabsf(y[i] - want) > 1e-6f * fabsf(want) + 1e-30f)
        fail_msg("%s(%g): got %.9g want %.9g", ops[o].op, x[i], y[i], want);
    }
  }
  free_outs();
}

/* ---- binary with broadcasting ---- */
static double b_add(double a, double b) { return a + b; }
static double b_sub(double a, double b) { return a - b; }
static double b_mul(double a, double b) { return a * b; }
static double b_div(double a, double b) { return a / b; }
static double b_min(double a, double b) { return fmin(a, b); }
static double b_max(double a, double b) { return fmax(a, b); }
static double b_pow(double a, double b) { return pow(fabs(a), b); }

static void bin_check(const char *op, double (*ref)(double, double), const gl_shape_t *sa,
                      const gl_shape_t *sb, bool abs_a) {
  gl_shape_t so;
  assert_int_equal(gl_shape_broadcast(sa, sb, &so), GL_OK);
  int64_t na = gl_shape_numel(sa), nb = gl_shape_numel(sb), no = gl_shape_numel(&so);
  float *a = gl_malloc(sizeof(float) * (size_t)na), *b = gl_malloc(sizeof(float) * (size_t)nb);
  float *want = gl_malloc(sizeof(float) * (size_t)no);
  fill(a, na, 1);
  fill(b, nb, 2);
  for (int64_t i = 0; i < na; i++)
    if (abs_a) a[i] = fabsf(a[i]) + 0.1f;
  for (int64_t i = 0; i < nb; i++)
    if (fabsf(b[i]) < 0.1f) b[i] = 0.5f;
  /* reference through explicit index arithmetic */
  int64_t sto[GL_MAX_RANK];
  gl_shape_strides(&so, sto);
  for (int64_t i = 0; i < no; i++) {
    int64_t ia = 0, ib = 0, ma = 1, mb = 1;
    for (int d = so.rank - 1; d >= 0; d--) {
      int64_t idx = (i / sto[d]) % so.d[d];
      int da = d - (so.rank - sa->rank), db = d - (so.rank - sb->rank);
      if (da >= 0) {
        ia += (sa->d[da] == 1 ? 0 : idx) * ma;
        ma *= sa->d[da];
      }
      if (db >= 0) {
        ib += (sb->d[db] == 1 ? 0 : idx) * mb;
        mb *= sb->d[db];
      }
    }
    want[i] = (float)ref(a[ia], b[ib]);
  }
  in_t in[2] = {{GL_DT_F32, *sa, a, false}, {GL_DT_F32, *sb, b, false}};
  if (run_op(op, 13, in, 2, 1, NULL) != GL_OK) fail_msg("%s: %s", op, gl_errmsg());
  assert_true(gl_shape_eq(&outs[0].shape, &so));
  check_close(outs[0].data, want, no, 1e-5);
  gl_free(a);
  gl_free(b);
  gl_free(want);
  free_outs();
}

static void test_binary_broadcast(void **state) {
  static const struct {
    const char *op;
    double (*ref)(double, double);
  } ops[] = {{"Add", b_add}, {"Sub", b_sub}, {"Mul", b_mul}, {"Div", b_div},
             {"Min", b_min}, {"Max", b_max}, {"Sum", b_add}};
  const gl_shape_t shapes[][2] = {
      {{3, {2, 3, 4}}, {2, {3, 1}}},           /* small, plain loops */
      {{1, {5}}, {0, {0}}},                    /* scalar */
      {{2, {4, 1}}, {2, {1, 6}}},              /* both broadcast */
      {{4, {4, 32, 16, 16}}, {3, {32, 1, 1}}}, /* per-channel: oneDNN */
      {{1, {1}}, {2, {300, 200}}},             /* input 0 broadcasts: swap or loops */
      {{3, {8, 64, 128}}, {3, {8, 64, 128}}},  /* same shapes, long rows */
      {{3, {7, 1, 4099}}, {2, {5, 1}}},        /* odd sizes, threads */
  };
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      bin_check(ops[o].op, ops[o].ref, &shapes[s][0], &shapes[s][1], false);
  bin_check("Pow", b_pow, &shapes[0][0], &shapes[0][1], true);
}

/* ---- integers and bools ---- */
static void a_fmod1(gl_graph_t *g, int ni) { gl_node_add_attr(g, ni, "fmod", GL_ATTR_INT)->i = 1; }
static void a_left(gl_graph_t *g, int ni) {
  gl_attr_t *a = gl_node_add_attr(g, ni, "direction", GL_ATTR_STRING);
  a->s = gl_strdup("LEFT");
  a->s_len = 4;
}

static void test_int_ops(void **state) {
  const int32_t a[] = {-7, 7, -7, 7, 9, 0}, b[] = {2, -2, 3, -3, 0, 5};
  in_t in[2] = {{GL_DT_I32, {1, {6}}, a, false}, {GL_DT_I32, {1, {6}}, b, false}};
  assert_int_equal(run_op("Div", 13, in, 2, 1, NULL), GL_OK);
  const int32_t div_want[] = {-3, -3, -2, -2, 0, 0};
  assert_memory_equal(outs[0].data, div_want, sizeof div_want);
  assert_int_equal(run_op("Mod", 13, in, 2, 1, NULL), GL_OK); /* Python signs */
  const int32_t mod_want[] = {1, -1, 2, -2, 0, 0};
  assert_memory_equal(outs[0].data, mod_want, sizeof mod_want);
  assert_int_equal(run_op("Mod", 13, in, 2, 1, a_fmod1), GL_OK); /* C signs */
  const int32_t fmod_want[] = {-1, 1, -1, 1, 0, 0};
  assert_memory_equal(outs[0].data, fmod_want, sizeof fmod_want);
  assert_int_equal(run_op("Less", 13, in, 2, 1, NULL), GL_OK);
  assert_int_equal(outs[0].dtype, GL_DT_BOOL);
  const uint8_t lt_want[] = {1, 0, 1, 0, 0, 1};
  assert_memory_equal(outs[0].data, lt_want, sizeof lt_want);

  /* int64 with broadcasting: [2,3] + [3], and Pow */
  const int64_t x[] = {1, 2, 3, 4, 5, 6}, y[] = {10, -20, 3};
  in_t i64[2] = {{GL_DT_I64, {2, {2, 3}}, x, false}, {GL_DT_I64, {1, {3}}, y, false}};
  assert_int_equal(run_op("Add", 13, i64, 2, 1, NULL), GL_OK);
  const int64_t add_want[] = {11, -18, 6, 14, -15, 9};
  assert_memory_equal(outs[0].data, add_want, sizeof add_want);
  const int64_t e[] = {2};
  in_t pw[2] = {{GL_DT_I64, {2, {2, 3}}, x, false}, {GL_DT_I64, {0, {0}}, e, false}};
  assert_int_equal(run_op("Pow", 13, pw, 2, 1, NULL), GL_OK);
  const int64_t pow_want[] = {1, 4, 9, 16, 25, 36};
  assert_memory_equal(outs[0].data, pow_want, sizeof pow_want);
  /* float base, int exponent */
  const float fb[] = {1.5f, -2.0f, 3.0f};
  const int32_t ie[] = {2, 3, 0};
  in_t pwf[2] = {{GL_DT_F32, {1, {3}}, fb, false}, {GL_DT_I32, {1, {3}}, ie, false}};
  assert_int_equal(run_op("Pow", 15, pwf, 2, 1, NULL), GL_OK);
  const float powf_want[] = {2.25f, -8.0f, 1.0f};
  check_close(outs[0].data, powf_want, 3, 1e-6);

  /* uint8 shifts and Max variadic */
  const uint8_t u[] = {1, 2, 255, 16}, sh[] = {1, 7, 1, 9};
  in_t us[2] = {{GL_DT_U8, {1, {4}}, u, false}, {GL_DT_U8, {1, {4}}, sh, false}};
  assert_int_equal(run_op("BitShift", 11, us, 2, 1, a_left), GL_OK);
  const uint8_t shl_want[] = {2, 0, 254, 0};
  assert_memory_equal(outs[0].data, shl_want, sizeof shl_want);
  const int8_t m0[] = {-5, 3}, m1[] = {2}, m2[] = {-1, -9};
  in_t mx[3] = {{GL_DT_I8, {1, {2}}, m0, false}, {GL_DT_I8, {1, {1}}, m1, false},
                {GL_DT_I8, {1, {2}}, m2, false}};
  assert_int_equal(run_op("Max", 13, mx, 3, 1, NULL), GL_OK);
  const int8_t max_want[] = {2, 3};
  assert_memory_equal(outs[0].data, max_want, sizeof max_want);
  assert_int_equal(run_op("Neg", 13, mx, 1, 1, NULL), GL_OK);
  const int8_t neg_want[] = {5, -3};
  assert_memory_equal(outs[0].data, neg_want, sizeof neg_want);

  /* Clip on int8 with constant bounds (opset 13 inputs) */
  const int8_t cx[] = {-100, -3, 0, 4, 120}, lo[] = {-2}, hi[] = {5};
  in_t cl[3] = {{GL_DT_I8, {1, {5}}, cx, false}, {GL_DT_I8, {0, {0}}, lo, true},
                {GL_DT_I8, {0, {0}}, hi, true}};
  assert_int_equal(run_op("Clip", 13, cl, 3, 1, NULL), GL_OK);
  const int8_t clip_want[] = {-2, -2, 0, 4, 5};
  assert_memory_equal(outs[0].data, clip_want, sizeof clip_want);
  /* only max given, min absent: int8's lowest stays */
  in_t cl2[3] = {{GL_DT_I8, {1, {5}}, cx, false}, {GL_DT_I8, {0, {0}}, NULL, false},
                 {GL_DT_I8, {0, {0}}, hi, false}};
  assert_int_equal(run_op("Clip", 13, cl2, 3, 1, NULL), GL_OK);
  const int8_t clip2_want[] = {-100, -3, 0, 4, 5};
  assert_memory_equal(outs[0].data, clip2_want, sizeof clip2_want);
  free_outs();
}

static void test_bool_ops(void **state) {
  const uint8_t a[] = {0, 1, 0, 1, 1, 0}, b[] = {1, 1, 0};
  in_t in[2] = {{GL_DT_BOOL, {2, {2, 3}}, a, false}, {GL_DT_BOOL, {1, {3}}, b, false}};
  assert_int_equal(run_op("And", 13, in, 2, 1, NULL), GL_OK);
  const uint8_t and_w[] = {0, 1, 0, 1, 1, 0};
  assert_memory_equal(outs[0].data, and_w, 6);
  assert_int_equal(run_op("Xor", 13, in, 2, 1, NULL), GL_OK);
  const uint8_t xor_w[] = {1, 0, 0, 0, 0, 0};
  assert_memory_equal(outs[0].data, xor_w, 6);
  assert_int_equal(run_op("Not", 13, in, 1, 1, NULL), GL_OK);
  const uint8_t not_w[] = {1, 0, 1, 0, 0, 1};
  assert_memory_equal(outs[0].data, not_w, 6);
  assert_int_equal(run_op("Equal", 13, in, 2, 1, NULL), GL_OK);
  const uint8_t eq_w[] = {0, 1, 1, 1, 1, 1};
  assert_memory_equal(outs[0].data, eq_w, 6);
  free_outs();
}

/* Offset of output element i in an input of shape s broadcast to so. */
static int64_t bc_index(const gl_shape_t *so, const gl_shape_t *s, int64_t i) {
  int64_t st[GL_MAX_RANK], off = 0, m = 1;
  gl_shape_strides(so, st);
  for (int d = so->rank - 1; d >= 0; d--) {
    int sd = d - (so->rank - s->rank);
    if (sd < 0) break;
    int64_t idx = (i / st[d]) % so->d[d];
    off += (s->d[sd] == 1 ? 0 : idx) * m;
    m *= s->d[sd];
  }
  return off;
}

static void test_where_patterns(void **state) {
  const gl_shape_t sh[][3] = {
      {{2, {4, 5}}, {2, {4, 5}}, {2, {4, 5}}},       /* all contiguous */
      {{2, {4, 1}}, {2, {4, 5}}, {0, {0}}},          /* row mask, scalar y */
      {{1, {5}}, {0, {0}}, {2, {4, 5}}},             /* column mask, scalar x */
      {{4, {2, 1, 1, 64}}, {4, {2, 3, 64, 64}}, {1, {1}}}, /* attention mask, threads */
      {{3, {3, 1, 7}}, {2, {1, 7}}, {3, {3, 2, 1}}}, /* all broadcast differently */
  };
  for (size_t c = 0; c < sizeof sh / sizeof sh[0]; c++) {
    gl_shape_t so, t;
    assert_int_equal(gl_shape_broadcast(&sh[c][0], &sh[c][1], &t), GL_OK);
    assert_int_equal(gl_shape_broadcast(&t, &sh[c][2], &so), GL_OK);
    int64_t nc = gl_shape_numel(&sh[c][0]), nx = gl_shape_numel(&sh[c][1]),
            ny = gl_shape_numel(&sh[c][2]), no = gl_shape_numel(&so);
    uint8_t *cd = gl_malloc((size_t)nc);
    float *xd = gl_malloc(sizeof(float) * (size_t)nx), *yd = gl_malloc(sizeof(float) * (size_t)ny);
    float *want = gl_malloc(sizeof(float) * (size_t)no);
    for (int64_t i = 0; i < nc; i++) cd[i] = (uint8_t)((i * 7 + c) % 3 == 0);
    fill(xd, nx, 3);
    fill(yd, ny, 4);
    for (int64_t i = 0; i < no; i++)
      want[i] = cd[bc_index(&so, &sh[c][0], i)] ? xd[bc_index(&so, &sh[c][1], i)]
                                                 : yd[bc_index(&so, &sh[c][2], i)];
    in_t in[3] = {{GL_DT_BOOL, sh[c][0], cd, false}, {GL_DT_F32, sh[c][1], xd, false},
                  {GL_DT_F32, sh[c][2], yd, false}};
    assert_int_equal(run_op("Where", 16, in, 3, 1, NULL), GL_OK);
    assert_true(gl_shape_eq(&outs[0].shape, &so));
    check_close(outs[0].data, want, no, 0);
    gl_free(cd), gl_free(xd), gl_free(yd), gl_free(want);
  }
  free_outs();
}

static void test_where(void **state) {
  const uint8_t c[] = {1, 0, 1};                 /* [3] */
  const float x[] = {1, 2};                      /* [2,1] */
  const float y[] = {-1, -2, -3, -4, -5, -6};    /* [2,3] */
  in_t in[3] = {{GL_DT_BOOL, {1, {3}}, c, false}, {GL_DT_F32, {2, {2, 1}}, x, false},
                {GL_DT_F32, {2, {2, 3}}, y, false}};
  assert_int_equal(run_op("Where", 16, in, 3, 1, NULL), GL_OK);
  const float want[] = {1, -2, 1, 2, -5, 2};
  check_close(outs[0].data, want, 6, 0);
  const int64_t xi[] = {7, 8}, yi[] = {0};
  in_t ii[3] = {{GL_DT_BOOL, {1, {3}}, c, false}, {GL_DT_I64, {2, {2, 1}}, xi, false},
                {GL_DT_I64, {0, {0}}, yi, false}};
  assert_int_equal(run_op("Where", 16, ii, 3, 1, NULL), GL_OK);
  const int64_t wi[] = {7, 0, 7, 8, 0, 8};
  assert_memory_equal(outs[0].data, wi, sizeof wi);
  free_outs();
}

static void a_to(gl_graph_t *g, int ni, int64_t to) {
  gl_node_add_attr(g, ni, "to", GL_ATTR_INT)->i = to;
}
static void a_to_f16(gl_graph_t *g, int ni) { a_to(g, ni, GL_DT_F16); }
static void a_to_i32(gl_graph_t *g, int ni) { a_to(g, ni, GL_DT_I32); }
static void a_to_bool(gl_graph_t *g, int ni) { a_to(g, ni, GL_DT_BOOL); }
static void a_to_f32(gl_graph_t *g, int ni) { a_to(g, ni, GL_DT_F32); }
static void a_to_str(gl_graph_t *g, int ni) { a_to(g, ni, GL_DT_STRING); }

static void test_cast_and_half(void **state) {
  const float x[] = {1.5f, -2.75f, 0.0f, 65504.0f, -0.3f};
  in_t in = {GL_DT_F32, {1, {5}}, x, false};
  assert_int_equal(run_op("Cast", 13, &in, 1, 1, a_to_f16), GL_OK);
  assert_int_equal(outs[0].dtype, GL_DT_F16);
  const uint16_t *h = outs[0].data;
  assert_int_equal(h[0], 0x3e00); /* 1.5 */
  assert_int_equal(h[3], 0x7bff); /* 65504 */
  uint16_t hc[5];
  memcpy(hc, h, sizeof hc);
  assert_int_equal(run_op("Cast", 13, &in, 1, 1, a_to_i32), GL_OK);
  const int32_t wi[] = {1, -2, 0, 65504, 0};
  assert_memory_equal(outs[0].data, wi, sizeof wi);
  assert_int_equal(run_op("Cast", 13, &in, 1, 1, a_to_bool), GL_OK);
  const uint8_t wb[] = {1, 1, 0, 1, 1};
  assert_memory_equal(outs[0].data, wb, sizeof wb);
  const int64_t big[] = {-3, 1LL << 40};
  in_t ib = {GL_DT_I64, {1, {2}}, big, false};
  assert_int_equal(run_op("Cast", 13, &ib, 1, 1, a_to_f32), GL_OK);
  const float wf[] = {-3.0f, 1099511627776.0f};
  check_close(outs[0].data, wf, 2, 0);

  /* f16 arithmetic computes in f32 and rounds back */
  in_t hh[2] = {{GL_DT_F16, {1, {5}}, hc, false}, {GL_DT_F16, {1, {5}}, hc, false}};
  assert_int_equal(run_op("Mul", 13, hh, 2, 1, NULL), GL_OK);
  assert_int_equal(outs[0].dtype, GL_DT_F16);
  const uint16_t *m = outs[0].data;
  assert_true(fabsf(gl_f16_to_f32(m[0]) - 2.25f) < 1e-3f);
  assert_true(fabsf(gl_f16_to_f32(m[1]) - 7.5625f) < 1e-2f);
  assert_true(isinf(gl_f16_to_f32(m[3])));
  assert_int_equal(run_op("Sigmoid", 13, hh, 1, 1, NULL), GL_OK);
  m = outs[0].data;
  assert_true(fabsf(gl_f16_to_f32(m[0]) - 0.817574f) < 1e-3f);

  /* string casts are named as unsupported */
  assert_int_equal(run_op("Cast", 13, &in, 1, 1, a_to_str), GL_EUNSUPPORTED);
  free_outs();
}

static void test_variadic(void **state) {
  const float a[] = {1, 2, 3}, b[] = {10, 20}, c[] = {100};
  /* [3] , [2,1], [1] -> [2,3] */
  in_t in[3] = {{GL_DT_F32, {1, {3}}, a, false}, {GL_DT_F32, {2, {2, 1}}, b, false},
                {GL_DT_F32, {1, {1}}, c, false}};
  assert_int_equal(run_op("Sum", 13, in, 3, 1, NULL), GL_OK);
  const float sum_w[] = {111, 112, 113, 121, 122, 123};
  check_close(outs[0].data, sum_w, 6, 0);
  assert_int_equal(run_op("Mean", 13, in, 3, 1, NULL), GL_OK);
  float mean_w[6];
  for (int i = 0; i < 6; i++) mean_w[i] = sum_w[i] / 3;
  check_close(outs[0].data, mean_w, 6, 1e-6);
  assert_int_equal(run_op("Min", 13, in, 3, 1, NULL), GL_OK);
  const float min_w[] = {1, 2, 3, 1, 2, 3};
  check_close(outs[0].data, min_w, 6, 0);
  assert_int_equal(run_op("Max", 13, in, 1, 1, NULL), GL_OK); /* one input: a copy */
  check_close(outs[0].data, a, 3, 0);
  free_outs();
}

static void test_prelu_isinf_dropout(void **state) {
  const float x[] = {-1, 2, -3, 4, -5, 6}, slope[] = {0.5f, 0.25f, 2.0f};
  in_t in[2] = {{GL_DT_F32, {2, {2, 3}}, x, false}, {GL_DT_F32, {1, {3}}, slope, false}};
  assert_int_equal(run_op("PRelu", 16, in, 2, 1, NULL), GL_OK);
  const float w[] = {-0.5f, 2, -6, 4, -1.25f, 6};
  check_close(outs[0].data, w, 6, 0);

  const float v[] = {INFINITY, -INFINITY, NAN, 1.0f};
  in_t vi = {GL_DT_F32, {1, {4}}, v, false};
  assert_int_equal(run_op("IsInf", 13, &vi, 1, 1, NULL), GL_OK);
  const uint8_t inf_w[] = {1, 1, 0, 0};
  assert_memory_equal(outs[0].data, inf_w, 4);
  assert_int_equal(run_op("IsNaN", 13, &vi, 1, 1, NULL), GL_OK);
  const uint8_t nan_w[] = {0, 0, 1, 0};
  assert_memory_equal(outs[0].data, nan_w, 4);

  assert_int_equal(run_op("Dropout", 13, in, 1, 2, NULL), GL_OK);
  check_close(outs[0].data, x, 6, 0);
  const uint8_t ones[] = {1, 1, 1, 1, 1, 1};
  assert_memory_equal(outs[1].data, ones, 6);
  const float ratio[] = {0.5f};
  const uint8_t train[] = {1};
  in_t dt[3] = {{GL_DT_F32, {2, {2, 3}}, x, false}, {GL_DT_F32, {0, {0}}, ratio, true},
                {GL_DT_BOOL, {0, {0}}, train, true}};
  assert_int_equal(run_op("Dropout", 13, dt, 3, 1, NULL), GL_EUNSUPPORTED);
  free_outs();
}

static void test_unsupported_dtype(void **state) {
  const int32_t x[] = {1, 2, 3};
  in_t in[2] = {{GL_DT_I32, {1, {3}}, x, false}, {GL_DT_I32, {1, {3}}, x, false}};
  assert_int_equal(run_op("Sigmoid", 13, in, 1, 1, NULL), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "int32"));
  assert_int_equal(run_op("BitShift", 11, in, 2, 1, a_left), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "int32"));
  assert_int_equal(run_op("And", 13, in, 2, 1, NULL), GL_EUNSUPPORTED);
  const float f[] = {1, 2, 3};
  in_t mixed[2] = {{GL_DT_I32, {1, {3}}, x, false}, {GL_DT_F32, {1, {3}}, f, false}};
  assert_int_equal(run_op("Add", 13, mixed, 2, 1, NULL), GL_ETYPE);
  in_t badshape[2] = {{GL_DT_F32, {1, {3}}, f, false}, {GL_DT_F32, {1, {2}}, f, false}};
  assert_int_equal(run_op("Add", 13, badshape, 2, 1, NULL), GL_ESHAPE);
  free_outs();
}

static void test_pow_const_and_clip_inputs(void **state) {
  const float x[] = {-3, -0.5f, 0, 1.5f, 4};
  const float two[] = {2}, half[] = {0.5f};
  in_t in[2] = {{GL_DT_F32, {1, {5}}, x, false}, {GL_DT_F32, {0, {0}}, two, true}};
  assert_int_equal(run_op("Pow", 13, in, 2, 1, NULL), GL_OK); /* the x*x loop */
  const float sq[] = {9, 0.25f, 0, 2.25f, 16};
  check_close(outs[0].data, sq, 5, 0);
  const float ax[] = {9, 0.25f, 0, 2.25f, 16};
  in_t sr[2] = {{GL_DT_F32, {1, {5}}, ax, false}, {GL_DT_F32, {1, {1}}, half, true}};
  assert_int_equal(run_op("Pow", 13, sr, 2, 1, NULL), GL_OK);
  const float rt[] = {3, 0.5f, 0, 1.5f, 4};
  check_close(outs[0].data, rt, 5, 1e-7);
  /* Clip with bounds computed at run time (graph inputs, not constants) */
  const float lo[] = {-1}, hi[] = {2};
  in_t cl[3] = {{GL_DT_F32, {1, {5}}, x, false}, {GL_DT_F32, {0, {0}}, lo, false},
                {GL_DT_F32, {0, {0}}, hi, false}};
  assert_int_equal(run_op("Clip", 13, cl, 3, 1, NULL), GL_OK);
  const float cw[] = {-1, -0.5f, 0, 1.5f, 2};
  check_close(outs[0].data, cw, 5, 0);
  /* min above max: min(max(x, min), max) is max everywhere, as numpy and oneDNN do it */
  in_t inv[3] = {{GL_DT_F32, {1, {5}}, x, false}, {GL_DT_F32, {0, {0}}, hi, true},
                 {GL_DT_F32, {0, {0}}, lo, true}};
  assert_int_equal(run_op("Clip", 13, inv, 3, 1, NULL), GL_OK);
  const float iw[] = {-1, -1, -1, -1, -1};
  check_close(outs[0].data, iw, 5, 0);
  /* Erf near zero keeps its relative accuracy */
  const float ex[] = {1e-6f, -3e-4f, 0.49f, 0.51f, 2.0f, -5.0f};
  float ew[6];
  for (int i = 0; i < 6; i++) ew[i] = (float)erf(ex[i]);
  in_t ei = {GL_DT_F32, {1, {6}}, ex, false};
  assert_int_equal(run_op("Erf", 13, &ei, 1, 1, NULL), GL_OK);
  const float *eg = outs[0].data;
  for (int i = 0; i < 6; i++) assert_true(fabs(eg[i] - ew[i]) <= 1e-6 * fabs(ew[i]) + 1e-12);
  free_outs();
}

static void test_empty(void **state) {
  const float one[] = {1, 2, 3};
  in_t in[2] = {{GL_DT_F32, {2, {0, 3}}, one, false}, {GL_DT_F32, {1, {3}}, one, false}};
  assert_int_equal(run_op("Add", 13, in, 2, 1, NULL), GL_OK);
  assert_int_equal(gl_shape_numel(&outs[0].shape), 0);
  assert_int_equal(run_op("Dropout", 13, in, 1, 2, NULL), GL_OK);
  assert_int_equal(run_op("Cast", 13, in, 1, 1, a_to_f16), GL_OK);
  assert_int_equal(run_op("Sigmoid", 13, in, 1, 1, NULL), GL_OK);
  free_outs();
}

static void test_constant_fold(void **state) {
  const int64_t a[] = {2, 3}, b[] = {4};
  in_t in[2] = {{GL_DT_I64, {1, {2}}, a, true}, {GL_DT_I64, {1, {1}}, b, true}};
  assert_int_equal(run_op("Mul", 13, in, 2, 1, NULL), GL_OK);
  const int64_t w[] = {8, 12};
  assert_memory_equal(outs[0].data, w, sizeof w);
  free_outs();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unary_small),     cmocka_unit_test(test_unary_large),
      cmocka_unit_test(test_round_half_even), cmocka_unit_test(test_binary_broadcast),
      cmocka_unit_test(test_int_ops),         cmocka_unit_test(test_bool_ops),
      cmocka_unit_test(test_where),           cmocka_unit_test(test_cast_and_half),
      cmocka_unit_test(test_variadic),        cmocka_unit_test(test_prelu_isinf_dropout),
      cmocka_unit_test(test_unsupported_dtype), cmocka_unit_test(test_constant_fold),
      cmocka_unit_test(test_pow_const_and_clip_inputs), cmocka_unit_test(test_empty),
      cmocka_unit_test(test_where_patterns), cmocka_unit_test(test_unary_extremes),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free_outs();
  return rc;
}
