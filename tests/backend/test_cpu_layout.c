/* tests/backend/test_cpu_layout.c - the CPU plan's layout pass: a fused graph of convs, pools, BN,
 * activations, a residual add and a channel concat gives the same outputs with values kept in
 * oneDNN's blocked layouts as with every value plain, and graph outputs always come out plain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "graph/passes.h"

static unsigned rng = 777;
static float frand(void) {
  rng = rng * 1103515245u + 12345u;
  return (float)((rng >> 8) & 0xffff) / 32768.f - 1.f;
}

static int add_val(gl_graph_t *g, const char *name, gl_shape_t s) {
  int v = gl_graph_add_value(g, name);
  assert_true(v >= 0);
  g->values[v].dtype = GL_DT_F32;
  g->values[v].shape = s;
  return v;
}
static int add_rand_const(gl_graph_t *g, gl_shape_t s, float lo) {
  int v = add_val(g, NULL, s);
  gl_tensor_t t;
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &s), GL_OK);
  float *p = t.data;
  for (int64_t i = 0; i < gl_shape_numel(&s); i++) p[i] = lo > 0 ? lo + fabsf(frand()) : frand() * 0.3f;
  assert_int_equal(gl_value_set_const(g, v, &t), GL_OK);
  return v;
}
static void attr_ints(gl_graph_t *g, int ni, const char *name, const int64_t *v, int n) {
  gl_attr_t *a = gl_node_add_attr(g, ni, name, GL_ATTR_INTS);
  assert_non_null(a);
  a->ints = gl_malloc(sizeof(int64_t) * (size_t)n);
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  a->n = n;
}
static void attr_i(gl_graph_t *g, int ni, const char *name, int64_t v) {
  gl_attr_t *a = gl_node_add_attr(g, ni, name, GL_ATTR_INT);
  assert_non_null(a);
  a->i = v;
}
static int node(gl_graph_t *g, const char *op, const int *in, int nin) {
  int out = add_val(g, NULL, (gl_shape_t){.rank = -1});
  int ni = gl_graph_add_node(g, op, NULL, in, nin, &out, 1);
  assert_true(ni >= 0);
  return out;
}
/* Conv k x k, stride s, same padding, with bias. */
static int conv(gl_graph_t *g, int x, int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t group) {
  int w = add_rand_const(g, (gl_shape_t){4, {cout, cin / group, k, k}}, 0);
  int b = add_rand_const(g, (gl_shape_t){1, {cout}}, 0);
  int y = node(g, "Conv", (int[]){x, w, b}, 3);
  int ni = g->n_nodes - 1;
  int64_t p = k / 2;
  attr_ints(g, ni, "pads", (int64_t[]){p, p, p, p}, 4);
  attr_ints(g, ni, "strides", (int64_t[]){s, s}, 2);
  if (group > 1) attr_i(g, ni, "group", group);
  return y;
}
static int unary(gl_graph_t *g, const char *op, int x) { return node(g, op, (int[]){x}, 1); }
static int bn(gl_graph_t *g, int x, int64_t c) {
  int in[5] = {x, add_rand_const(g, (gl_shape_t){1, {c}}, 0), add_rand_const(g, (gl_shape_t){1, {c}}, 0),
               add_rand_const(g, (gl_shape_t){1, {c}}, 0), add_rand_const(g, (gl_shape_t){1, {c}}, 0.5f)};
  return node(g, "BatchNormalization", in, 5);
}

/* A small network with every layout-aware kind of step: conv (3x3, 1x1, depthwise, with odd
 * channel counts that blocked layouts pad), fused BN/ReLU/residual, max and average pools, an
 * unfused BN + ReLU, a same-shape Mul, a channel Concat, a global pool. Two outputs: the pooled
 * vector (behind a Flatten, a plain reader) and `mid`, a value that ends in a conv and is also
 * read by later convs (a graph output must come out plain). */
static gl_graph_t *build(int *mid_out) {
  rng = 777; /* the same weights every time */
  gl_graph_t *g = gl_graph_create();
  assert_non_null(g);
  g->opset = 17;
  int x = add_val(g, "x", (gl_shape_t){4, {2, 5, 13, 13}});
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  int a = unary(g, "Relu", bn(g, conv(g, x, 5, 20, 3, 1, 1), 20)); /* fused into the conv */
  int p = node(g, "MaxPool", (int[]){a}, 1);
  attr_ints(g, g->n_nodes - 1, "kernel_shape", (int64_t[]){3, 3}, 2);
  attr_ints(g, g->n_nodes - 1, "strides", (int64_t[]){2, 2}, 2);
  attr_ints(g, g->n_nodes - 1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  int mid = conv(g, p, 20, 20, 3, 1, 20);                            /* depthwise: graph output */
  int r = unary(g, "Clip", conv(g, mid, 20, 24, 1, 1, 1));
  int s = node(g, "Add", (int[]){conv(g, r, 24, 20, 1, 1, 1), mid}, 2); /* fused residual */
  int u = unary(g, "Relu", bn(g, s, 20));                            /* BN after an add: unfused */
  int m = node(g, "Mul", (int[]){u, unary(g, "Sigmoid", u)}, 2);
  int c = node(g, "Concat", (int[]){m, conv(g, m, 20, 12, 3, 1, 1), p}, 3);
  attr_i(g, g->n_nodes - 1, "axis", 1);
  int ap = node(g, "AveragePool", (int[]){c}, 1);
  attr_ints(g, g->n_nodes - 1, "kernel_shape", (int64_t[]){2, 2}, 2);
  attr_ints(g, g->n_nodes - 1, "strides", (int64_t[]){1, 1}, 2);
  int gp = unary(g, "GlobalAveragePool", ap);
  int f = unary(g, "Flatten", gp);
  /* Whole 16-channel blocks (nChw16c): the concat runs as copies. */
  int q = conv(g, p, 20, 16, 1, 1, 1);
  int c2 = node(g, "Concat", (int[]){conv(g, q, 16, 16, 3, 1, 1), conv(g, q, 16, 32, 1, 1, 1)}, 2);
  attr_i(g, g->n_nodes - 1, "axis", 1);
  int t = unary(g, "Transpose", c2); /* a blocked source, one reorder into the transposed output */
  attr_ints(g, g->n_nodes - 1, "perm", (int64_t[]){0, 2, 3, 1}, 4);
  assert_int_equal(gl_graph_add_output(g, f), GL_OK);
  assert_int_equal(gl_graph_add_output(g, mid), GL_OK);
  assert_int_equal(gl_graph_add_output(g, t), GL_OK);
  *mid_out = mid;
  return g;
}

/* Compiles a fresh graph with or without the layout pass, runs it on x; returns the outputs
 * (gl_malloc'd, caller frees) and how many values the plan kept blocked. */
static int run(bool layouts, const float *x, float **out0, int64_t *n0, float **out1, int64_t *n1,
               float **out2, int64_t *n2) {
  if (layouts) unsetenv("GL_CPU_PLAIN_LAYOUT");
  else setenv("GL_CPU_PLAIN_LAYOUT", "1", 1);
  int mid;
  gl_graph_t *g = build(&mid);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_prepare_opts_t po = {.batch = 0};
  gl_status_t st = gl_graph_prepare(g, &po, gl_cpu_eval, NULL);
  if (st) fail_msg("prepare: %s", gl_errmsg());
  int convs = 0;
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, "Conv")) convs++;
  assert_int_equal(convs, 8);
  gl_backend_t *be;
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_placement_t pl = {.threads = 2};
  gl_plan_t *p = NULL;
  st = gl_plan_create(be, g, &pl, &p);
  if (st) fail_msg("plan: %s", gl_errmsg());
  int blocked = gl_cpu_plan_blocked_values(p);
  const gl_value_t *v0 = &g->values[g->outputs[0]], *v1 = &g->values[g->outputs[1]];
  const gl_value_t *v2 = &g->values[g->outputs[2]];
  *n2 = gl_shape_numel(&v2->shape);
  assert_int_equal(*n2, 2 * 7 * 7 * 48);
  *out2 = gl_malloc(sizeof(float) * (size_t)*n2);
  *n0 = gl_shape_numel(&v0->shape);
  *n1 = gl_shape_numel(&v1->shape);
  assert_int_equal(*n0, 2 * (20 + 12 + 20));
  assert_int_equal(*n1, 2 * 20 * 7 * 7);
  *out0 = gl_malloc(sizeof(float) * (size_t)*n0);
  *out1 = gl_malloc(sizeof(float) * (size_t)*n1);
  gl_tensor_t in = {.dtype = GL_DT_F32, .shape = g->values[g->inputs[0]].shape, .data = (void *)x};
  gl_tensor_t outs[3] = {{.dtype = GL_DT_F32, .shape = v0->shape, .data = *out0},
                         {.dtype = GL_DT_F32, .shape = v1->shape, .data = *out1},
                         {.dtype = GL_DT_F32, .shape = v2->shape, .data = *out2}};
  for (int rep = 0; rep < 2; rep++) { /* twice: the plan is reusable */
    st = gl_plan_run(p, &in, outs);
    if (st) fail_msg("run: %s", gl_errmsg());
  }
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_graph_destroy(g);
  unsetenv("GL_CPU_PLAIN_LAYOUT");
  return blocked;
}

static void expect_close(const float *got, const float *want, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++)
    if (!(fabsf(got[i] - want[i]) <= 1e-4f * (1.f + fabsf(want[i]))))
      fail_msg("%s element %lld: got %g, want %g", what, (long long)i, got[i], want[i]);
}

static void test_propagated_equals_plain(void **st) {
  float x[2 * 5 * 13 * 13];
  rng = 4242;
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = frand();
  float *p0, *p1, *p2, *b0, *b1, *b2;
  int64_t n0, n1, n2;
  int plain_blocked = run(false, x, &p0, &n0, &p1, &n1, &p2, &n2);
  int blocked = run(true, x, &b0, &n0, &b1, &n1, &b2, &n2);
  assert_int_equal(plain_blocked, 0);
  /* The pass must have kept the values between layout-aware steps blocked (at least the pool,
   * the convs after mid, the BN, the activations, the Mul and the Concat). */
  if (blocked < 8) fail_msg("only %d values kept blocked", blocked);
  /* mid ends in a conv whose output oneDNN would keep blocked: as a graph output it is plain. */
  expect_close(b1, p1, n1, "conv output");
  expect_close(b0, p0, n0, "pooled output");
  expect_close(b2, p2, n2, "transposed output");
  gl_free(p0), gl_free(p1), gl_free(p2), gl_free(b0), gl_free(b1), gl_free(b2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_propagated_equals_plain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
