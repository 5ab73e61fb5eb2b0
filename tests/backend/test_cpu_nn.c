/* tests/backend/test_cpu_nn.c - nn kernels (conv, deconv, gemm, matmul, pools, norms) against naive
 * loops on small random shapes, and the fusion pass against the unfused computation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "graph/ops.h"
#include "graph/passes.h"

/* ---------------------------------------------------------------- graph building helpers */

static const gl_shape_t UNK = {.rank = -1}, SCALAR = {.rank = 0};

static unsigned rng = 12345;
static float frand(void) {
  rng = rng * 1103515245u + 12345u;
  return (float)((rng >> 8) & 0xffff) / 32768.f - 1.f;
}
static float *rand_buf(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = frand();
  return p;
}

static int add_val(gl_graph_t *g, const char *name, gl_shape_t s) {
  int v = gl_graph_add_value(g, name);
  assert_true(v >= 0);
  g->values[v].dtype = GL_DT_F32;
  g->values[v].shape = s;
  return v;
}
static int add_input(gl_graph_t *g, const char *name, gl_shape_t s) {
  int v = add_val(g, name, s);
  assert_int_equal(gl_graph_add_input(g, v), GL_OK);
  return v;
}
static int add_const(gl_graph_t *g, gl_shape_t s, const float *data) {
  int v = add_val(g, NULL, s);
  gl_tensor_t t;
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &s), GL_OK);
  memcpy(t.data, data, sizeof(float) * (size_t)gl_shape_numel(&s));
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
static void attr_f(gl_graph_t *g, int ni, const char *name, float v) {
  gl_attr_t *a = gl_node_add_attr(g, ni, name, GL_ATTR_FLOAT);
  assert_non_null(a);
  a->f = v;
}
static int node(gl_graph_t *g, const char *op, const int *in, int nin, int out) {
  int ni = gl_graph_add_node(g, op, NULL, in, nin, &out, 1);
  assert_true(ni >= 0);
  return ni;
}

static int live_nodes(const gl_graph_t *g) {
  int c = 0;
  for (int i = 0; i < g->n_nodes; i++) c += !g->nodes[i].dead;
  return c;
}

/* Prepares g (consumed) and runs it once. inputs: one buffer per graph input; outputs: one
 * caller buffer per graph output. Returns the number of live nodes after preparation. Graphs
 * with ops this branch has no schema for (Add, Relu...) are fused without inference (their
 * shapes are set by the test). */
static int run_graph(gl_graph_t *g, bool fuse, float *const *inputs, float **outputs) {
  g->opset = 17;
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  bool all_known = true;
  for (int i = 0; i < g->n_nodes; i++)
    if (!gl_op_schema(g->nodes[i].op_type)) all_known = false;
  if (all_known) {
    gl_prepare_opts_t po = {.batch = 0, .no_fuse = !fuse};
    gl_status_t st = gl_graph_prepare(g, &po, gl_cpu_eval, NULL);
    if (st) fail_msg("prepare: %s", gl_errmsg());
  } else {
    gl_graph_recount(g);
    if (fuse) assert_int_equal(gl_graph_fuse(g), GL_OK);
    gl_graph_dce(g);
  }
  int live = live_nodes(g);
  gl_backend_t *be;
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_placement_t pl = {.threads = 2};
  gl_plan_t *p = NULL;
  gl_status_t st = gl_plan_create(be, g, &pl, &p);
  if (st) fail_msg("plan: %s", gl_errmsg());
  gl_tensor_t in[8], out[8];
  for (int i = 0; i < g->n_inputs; i++) {
    const gl_value_t *v = &g->values[g->inputs[i]];
    in[i] = (gl_tensor_t){.dtype = v->dtype, .shape = v->shape, .data = inputs[i]};
  }
  for (int i = 0; i < g->n_outputs; i++) {
    const gl_value_t *v = &g->values[g->outputs[i]];
    out[i] = (gl_tensor_t){.dtype = v->dtype, .shape = v->shape, .data = outputs[i]};
  }
  st = gl_plan_run(p, in, out);
  if (st) fail_msg("run: %s", gl_errmsg());
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_graph_destroy(g);
  return live;
}

static void expect_close(const float *got, const float *want, int64_t n, float tol) {
  for (int64_t i = 0; i < n; i++) {
    float d = fabsf(got[i] - want[i]);
    if (!(d <= tol * (1.f + fabsf(want[i]))))
      fail_msg("element %lld: got %g, want %g", (long long)i, got[i], want[i]);
  }
}

/* ---------------------------------------------------------------- Conv */

typedef struct {
  int nsp;
  int64_t n, c, m, group;
  int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
  bool bias, w_input;
  const char *auto_pad;
} conv_case_t;

static int64_t conv_out(const conv_case_t *c, int i) {
  int64_t ek = (c->k[i] - 1) * c->d[i] + 1;
  return (c->in[i] + c->pb[i] + c->pe[i] - ek) / c->s[i] + 1;
}

/* Naive reference over 1..3 spatial dims (missing dims are size 1). */
static void ref_conv(const conv_case_t *c, const float *x, const float *w, const float *b,
                     float *y) {
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0}, out[3] = {1, 1, 1};
  int off = 3 - c->nsp;
  for (int i = 0; i < c->nsp; i++) {
    in[off + i] = c->in[i], k[off + i] = c->k[i], s[off + i] = c->s[i], d[off + i] = c->d[i];
    pb[off + i] = c->pb[i], out[off + i] = conv_out(c, i);
  }
  int64_t icg = c->c / c->group, ocg = c->m / c->group;
  for (int64_t nn = 0; nn < c->n; nn++)
    for (int64_t m = 0; m < c->m; m++) {
      int64_t gidx = m / ocg;
      for (int64_t o0 = 0; o0 < out[0]; o0++)
        for (int64_t o1 = 0; o1 < out[1]; o1++)
          for (int64_t o2 = 0; o2 < out[2]; o2++) {
            double acc = b ? b[m] : 0;
            for (int64_t ic = 0; ic < icg; ic++)
              for (int64_t k0 = 0; k0 < k[0]; k0++)
                for (int64_t k1 = 0; k1 < k[1]; k1++)
                  for (int64_t k2 = 0; k2 < k[2]; k2++) {
                    int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                    int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                    int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                    if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= in[0] || i1 >= in[1] || i2 >= in[2])
                      continue;
                    int64_t ci = gidx * icg + ic;
                    float xv = x[(((nn * c->c + ci) * in[0] + i0) * in[1] + i1) * in[2] + i2];
                    float wv = w[(((m * icg + ic) * k[0] + k0) * k[1] + k1) * k[2] + k2];
                    acc += (double)xv * wv;
                  }
            y[(((nn * c->m + m) * out[0] + o0) * out[1] + o1) * out[2] + o2] = (float)acc;
          }
    }
}

static void check_conv(const conv_case_t *c) {
  gl_shape_t xs = {c->nsp + 2, {c->n, c->c}}, ws = {c->nsp + 2, {c->m, c->c / c->group}};
  gl_shape_t ys = {c->nsp + 2, {c->n, c->m}};
  for (int i = 0; i < c->nsp; i++) {
    xs.d[2 + i] = c->in[i];
    ws.d[2 + i] = c->k[i];
    ys.d[2 + i] = conv_out(c, i);
  }
  float *x = rand_buf(gl_shape_numel(&xs)), *w = rand_buf(gl_shape_numel(&ws)), *b = rand_buf(c->m);
  int64_t ny = gl_shape_numel(&ys);
  float *want = malloc(sizeof(float) * (size_t)ny), *got = calloc((size_t)ny, sizeof(float));
  ref_conv(c, x, w, c->bias ? b : NULL, want);

  gl_graph_t *g = gl_graph_create();
  int in[3];
  in[0] = add_input(g, "x", xs);
  in[1] = c->w_input ? add_input(g, "w", ws) : add_const(g, ws, w);
  if (c->bias) in[2] = add_const(g, (gl_shape_t){1, {c->m}}, b);
  int y = add_val(g, "y", UNK);
  int ni = node(g, "Conv", in, c->bias ? 3 : 2, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  attr_i(g, ni, "group", c->group);
  attr_ints(g, ni, "strides", c->s, c->nsp);
  attr_ints(g, ni, "dilations", c->d, c->nsp);
  if (c->auto_pad) {
    gl_attr_t *a = gl_node_add_attr(g, ni, "auto_pad", GL_ATTR_STRING);
    a->s = gl_strdup(c->auto_pad);
    a->s_len = strlen(c->auto_pad);
  } else {
    int64_t pads[6];
    for (int i = 0; i < c->nsp; i++) pads[i] = c->pb[i], pads[c->nsp + i] = c->pe[i];
    attr_ints(g, ni, "pads", pads, 2 * c->nsp);
  }
  float *ins[2] = {x, w};
  run_graph(g, true, ins, &got);
  expect_close(got, want, ny, 1e-4f);
  free(x), free(w), free(b), free(want), free(got);
}

static void test_conv(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  const conv_case_t cases[] = {
      /* nsp  n  c  m  g   in          k        s        d        pb       pe     bias */
      {2, 1, 3, 4, 1, {7, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true, false, NULL},
      {2, 2, 4, 6, 2, {9, 8}, {3, 2}, {2, 1}, {1, 1}, {1, 0}, {2, 1}, true, false, NULL},
      {2, 1, 6, 6, 6, {8, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false, false, NULL}, /* depthwise */
      {2, 1, 4, 5, 1, {10, 9}, {3, 3}, {1, 2}, {2, 3}, {2, 0}, {1, 3}, true, false, NULL}, /* dilated */
      {2, 1, 16, 32, 1, {14, 14}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, true, false, NULL},
      {2, 1, 3, 4, 1, {7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true, true, NULL}, /* W input */
      {1, 2, 3, 5, 1, {11}, {3}, {2}, {2}, {2}, {1}, true, false, NULL},
      {3, 1, 2, 4, 2, {5, 6, 4}, {3, 3, 2}, {1, 2, 1}, {1, 1, 1}, {1, 1, 0}, {1, 0, 1}, true, false, NULL},
      {2, 1, 3, 4, 1, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {1, 1}, false, false, "SAME_UPPER"},
      {2, 1, 3, 4, 1, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 0}, false, false, "SAME_LOWER"},
      {2, 1, 3, 4, 1, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false, false, "VALID"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(&cases[i]);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* A conv whose inputs are all constant is folded at compile time through the same kernel. */
static void test_conv_folded(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  conv_case_t c = {2, 1, 3, 4, 1, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, false, false, NULL};
  float *x = rand_buf(75), *w = rand_buf(108), want[100], got[100], dummy[1] = {0}, sink[1];
  ref_conv(&c, x, w, NULL, want);
  gl_graph_t *g = gl_graph_create();
  int in = add_input(g, "unused", (gl_shape_t){3, {1, 1, 1}});
  int y = add_val(g, "y", UNK), z = add_val(g, "z", UNK);
  int ni = node(g, "Conv", (int[]){add_const(g, (gl_shape_t){4, {1, 3, 5, 5}}, x),
                                   add_const(g, (gl_shape_t){4, {4, 3, 3, 3}}, w)}, 2, y);
  attr_ints(g, ni, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  node(g, "MaxPool", &in, 1, z);
  attr_ints(g, g->n_nodes - 1, "kernel_shape", (int64_t[]){1}, 1);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  int live = run_graph(g, true, (float *[]){dummy}, (float *[]){got, sink});
  assert_int_equal(live, 1); /* the conv folded; only the pool on the input is left */
  expect_close(got, want, 100, 1e-4f);
  free(x), free(w);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* ---------------------------------------------------------------- ConvTranspose */

static void test_conv_transpose(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  /* 2-D, group 2, stride 2, dilation 1, pads 1/0, output_padding 1. */
  const int64_t n = 1, c = 4, m = 6, grp = 2, H = 3, W = 4, k = 3, s = 2, pb = 1, pe = 0, op = 1;
  const int64_t oh = s * (H - 1) + op + k - pb - pe, ow = s * (W - 1) + op + k - pb - pe;
  int64_t icg = c / grp, ocg = m / grp;
  float *x = rand_buf(n * c * H * W), *w = rand_buf(c * ocg * k * k), *b = rand_buf(m);
  float *want = calloc((size_t)(n * m * oh * ow), sizeof(float));
  float *got = calloc((size_t)(n * m * oh * ow), sizeof(float));
  for (int64_t o = 0; o < m; o++)
    for (int64_t i = 0; i < oh * ow; i++) want[o * oh * ow + i] = b[o];
  for (int64_t ci = 0; ci < c; ci++)
    for (int64_t oc = 0; oc < ocg; oc++)
      for (int64_t ih = 0; ih < H; ih++)
        for (int64_t iw = 0; iw < W; iw++)
          for (int64_t kh = 0; kh < k; kh++)
            for (int64_t kw = 0; kw < k; kw++) {
              int64_t y0 = ih * s - pb + kh, y1 = iw * s - pb + kw;
              if (y0 < 0 || y1 < 0 || y0 >= oh || y1 >= ow) continue;
              int64_t mo = (ci / icg) * ocg + oc;
              want[(mo * oh + y0) * ow + y1] +=
                  x[(ci * H + ih) * W + iw] * w[((ci * ocg + oc) * k + kh) * k + kw];
            }
  gl_graph_t *g = gl_graph_create();
  int in[3] = {add_input(g, "x", (gl_shape_t){4, {n, c, H, W}}),
               add_const(g, (gl_shape_t){4, {c, ocg, k, k}}, w), add_const(g, (gl_shape_t){1, {m}}, b)};
  int y = add_val(g, "y", UNK);
  int ni = node(g, "ConvTranspose", in, 3, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  attr_i(g, ni, "group", grp);
  attr_ints(g, ni, "strides", (int64_t[]){s, s}, 2);
  attr_ints(g, ni, "pads", (int64_t[]){pb, pb, pe, pe}, 4);
  attr_ints(g, ni, "output_padding", (int64_t[]){op, op}, 2);
  run_graph(g, true, (float *[]){x}, &got);
  expect_close(got, want, n * m * oh * ow, 1e-4f);
  free(x), free(w), free(b), free(want), free(got);
}

/* ---------------------------------------------------------------- Gemm and MatMul */

static void check_gemm(int64_t M, int64_t K, int64_t N, bool ta, bool tb, float alpha, float beta,
                       gl_shape_t cs, bool c_const, bool b_const) {
  float *a = rand_buf(M * K), *b = rand_buf(K * N), *c = rand_buf(gl_shape_numel(&cs));
  float *want = malloc(sizeof(float) * (size_t)(M * N)), *got = calloc((size_t)(M * N), 4);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double acc = 0;
      for (int64_t p = 0; p < K; p++)
        acc += (double)(ta ? a[p * M + i] : a[i * K + p]) * (tb ? b[j * K + p] : b[p * N + j]);
      int64_t ci = cs.rank == 0 ? 0 : cs.rank == 1 ? (cs.d[0] == 1 ? 0 : j)
                 : (cs.d[0] == 1 ? 0 : i) * cs.d[1] + (cs.d[1] == 1 ? 0 : j);
      want[i * N + j] = (float)(alpha * acc + beta * c[ci]);
    }
  gl_graph_t *g = gl_graph_create();
  int in[3];
  in[0] = add_input(g, "a", ta ? (gl_shape_t){2, {K, M}} : (gl_shape_t){2, {M, K}});
  gl_shape_t bs = tb ? (gl_shape_t){2, {N, K}} : (gl_shape_t){2, {K, N}};
  in[1] = b_const ? add_const(g, bs, b) : add_input(g, "b", bs);
  in[2] = c_const ? add_const(g, cs, c) : add_input(g, "c", cs);
  int y = add_val(g, "y", UNK);
  int ni = node(g, "Gemm", in, 3, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  attr_i(g, ni, "transA", ta);
  attr_i(g, ni, "transB", tb);
  attr_f(g, ni, "alpha", alpha);
  attr_f(g, ni, "beta", beta);
  float *ins[3];
  int k = 0;
  ins[k++] = a;
  if (!b_const) ins[k++] = b;
  if (!c_const) ins[k++] = c;
  run_graph(g, true, ins, &got);
  expect_close(got, want, M * N, 1e-4f);
  free(a), free(b), free(c), free(want), free(got);
}

/* A fused HardSigmoid on a Gemm whose runtime C needs beta's linear post-op (oneDNN 2.6 breaks two
 * linear post-ops in one matmul; the kernel applies the activation itself then). */
static void test_gemm_hard_sigmoid(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  float *a = rand_buf(6), *b = rand_buf(6), *c = rand_buf(4), want[4], got[4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      float v = 0;
      for (int p = 0; p < 3; p++) v += a[i * 3 + p] * b[p * 2 + j];
      v = 2.f * v + 0.5f * c[i * 2 + j];
      v = 0.3f * v + 0.4f;
      want[i * 2 + j] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  gl_graph_t *g = gl_graph_create();
  int in[3] = {add_input(g, "a", (gl_shape_t){2, {2, 3}}), add_const(g, (gl_shape_t){2, {3, 2}}, b),
               add_input(g, "c", (gl_shape_t){2, {2, 2}})};
  int y = add_val(g, "y", UNK);
  int ni = node(g, "Gemm", in, 3, y);
  attr_f(g, ni, "alpha", 2.f);
  attr_f(g, ni, "beta", 0.5f);
  g->nodes[ni].fuse = (gl_fusion_t){GL_ACT_HARD_SIGMOID, 0.3f, 0.4f, -1};
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_graph(g, true, (float *[]){a, c}, (float *[]){got});
  expect_close(got, want, 4, 1e-4f);
  free(a), free(b), free(c);
  assert_int_equal(gl_alloc_live_count(), live0);
}

static void test_gemm(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  check_gemm(5, 7, 3, false, false, 1.f, 0.f, (gl_shape_t){1, {3}}, true, true);
  check_gemm(5, 7, 3, false, false, 1.f, 1.f, (gl_shape_t){1, {3}}, false, true);
  check_gemm(5, 7, 3, false, false, 1.f, 1.f, (gl_shape_t){1, {3}}, true, true);
  check_gemm(5, 7, 3, true, true, 0.5f, 2.f, (gl_shape_t){2, {5, 1}}, true, true);
  check_gemm(4, 6, 8, false, true, 1.5f, 0.5f, (gl_shape_t){2, {4, 8}}, false, false);
  check_gemm(4, 6, 8, true, false, 1.f, -1.f, SCALAR, false, true);
  check_gemm(3, 2, 4, false, false, 2.f, 1.f, (gl_shape_t){2, {1, 4}}, true, false);
  assert_int_equal(gl_alloc_live_count(), live0);
}

static void check_matmul(gl_shape_t as, gl_shape_t bs, bool b_const) {
  /* Reference through explicit broadcasting of the batch dims. */
  gl_shape_t a2 = as, b2 = bs;
  if (a2.rank == 1) a2 = (gl_shape_t){2, {1, as.d[0]}};
  if (b2.rank == 1) b2 = (gl_shape_t){2, {bs.d[0], 1}};
  int r = a2.rank > b2.rank ? a2.rank : b2.rank;
  int64_t ad[8] = {0}, bd[8] = {0}, yd[8] = {0};
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a2.rank), ib = i - (r - b2.rank);
    ad[i] = ia >= 0 ? a2.d[ia] : 1;
    bd[i] = ib >= 0 ? b2.d[ib] : 1;
    yd[i] = ad[i] > bd[i] ? ad[i] : bd[i];
  }
  int64_t M = ad[r - 2], K = ad[r - 1], N = bd[r - 1], batch = 1;
  for (int i = 0; i < r - 2; i++) batch *= yd[i];
  float *a = rand_buf(gl_shape_numel(&as)), *b = rand_buf(gl_shape_numel(&bs));
  float *want = malloc(sizeof(float) * (size_t)(batch * M * N)), *got = calloc((size_t)(batch * M * N), 4);
  for (int64_t t = 0; t < batch; t++) {
    int64_t rem = t, ao = 0, bo = 0, am = 1, bm = 1;
    for (int i = r - 3; i >= 0; i--) {
      int64_t ci = rem % yd[i];
      rem /= yd[i];
      ao += (ad[i] == 1 ? 0 : ci) * am;
      bo += (bd[i] == 1 ? 0 : ci) * bm;
      am *= ad[i];
      bm *= bd[i];
    }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0;
        for (int64_t p = 0; p < K; p++) acc += (double)a[ao * M * K + i * K + p] * b[bo * K * N + p * N + j];
        want[(t * M + i) * N + j] = (float)acc;
      }
  }
  gl_graph_t *g = gl_graph_create();
  int in[2] = {add_input(g, "a", as), b_const ? add_const(g, bs, b) : add_input(g, "b", bs)};
  int y = add_val(g, "y", UNK);
  node(g, "MatMul", in, 2, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_graph(g, true, (float *[]){a, b}, &got);
  expect_close(got, want, batch * M * N, 1e-4f);
  free(a), free(b), free(want), free(got);
}

static void test_matmul(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  check_matmul((gl_shape_t){2, {3, 4}}, (gl_shape_t){2, {4, 5}}, true);
  check_matmul((gl_shape_t){2, {5, 7}}, (gl_shape_t){2, {7, 3}}, true);
  check_matmul((gl_shape_t){4, {2, 1, 3, 4}}, (gl_shape_t){3, {5, 4, 6}}, false);
  check_matmul((gl_shape_t){3, {2, 3, 4}}, (gl_shape_t){2, {4, 6}}, true); /* flattened */
  check_matmul((gl_shape_t){1, {4}}, (gl_shape_t){3, {2, 4, 3}}, false);
  check_matmul((gl_shape_t){3, {2, 3, 4}}, (gl_shape_t){1, {4}}, false);
  check_matmul((gl_shape_t){1, {4}}, (gl_shape_t){1, {4}}, false);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* ---------------------------------------------------------------- pools and norms */

static gl_graph_t *one_node(const char *op, gl_shape_t xs, int n_out, int *ni) {
  gl_graph_t *g = gl_graph_create();
  int x = add_input(g, "x", xs);
  int outs[2] = {add_val(g, "y", UNK), n_out > 1 ? add_val(g, "i", UNK) : -1};
  *ni = gl_graph_add_node(g, op, NULL, &x, 1, outs, n_out);
  for (int i = 0; i < n_out; i++) assert_int_equal(gl_graph_add_output(g, outs[i]), GL_OK);
  return g;
}

static void test_pools(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  float x[16];
  for (int i = 0; i < 16; i++) x[i] = (float)(i + 1); /* 4x4: 1..16 */
  gl_shape_t xs = {4, {1, 1, 4, 4}};
  int ni;
  /* MaxPool 2x2 stride 2 with indices. */
  float y[16] = {0};
  int64_t idx[16] = {0};
  gl_graph_t *g = one_node("MaxPool", xs, 2, &ni);
  attr_ints(g, ni, "kernel_shape", (int64_t[]){2, 2}, 2);
  attr_ints(g, ni, "strides", (int64_t[]){2, 2}, 2);
  run_graph(g, true, (float *[]){x}, (float *[]){y, (float *)idx});
  expect_close(y, (float[]){6, 8, 14, 16}, 4, 0);
  assert_int_equal(idx[0], 5);
  assert_int_equal(idx[3], 15);
  /* MaxPool 3x3 stride 2 ceil_mode, pads 1: output 3x3 (last window starts at 3). */
  g = one_node("MaxPool", xs, 1, &ni);
  attr_ints(g, ni, "kernel_shape", (int64_t[]){3, 3}, 2);
  attr_ints(g, ni, "strides", (int64_t[]){2, 2}, 2);
  attr_ints(g, ni, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  attr_i(g, ni, "ceil_mode", 1);
  run_graph(g, true, (float *[]){x}, (float *[]){y});
  expect_close(y, (float[]){6, 8, 8, 14, 16, 16, 14, 16, 16}, 9, 0);
  /* AveragePool 3x3 stride 1 pad 1, excluding and including the padding. */
  for (int inc = 0; inc < 2; inc++) {
    g = one_node("AveragePool", xs, 1, &ni);
    attr_ints(g, ni, "kernel_shape", (int64_t[]){3, 3}, 2);
    attr_ints(g, ni, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    attr_i(g, ni, "count_include_pad", inc);
    run_graph(g, true, (float *[]){x}, (float *[]){y});
    assert_float_equal(y[0], inc ? 14.f / 9.f : 3.5f, 1e-5);
    assert_float_equal(y[5], 6.f, 1e-5);
  }
  /* Dilated MaxPool: kernel 2, dilation 2 -> windows {0,2},{1,3}. */
  g = one_node("MaxPool", xs, 1, &ni);
  attr_ints(g, ni, "kernel_shape", (int64_t[]){2, 2}, 2);
  attr_ints(g, ni, "dilations", (int64_t[]){2, 2}, 2);
  run_graph(g, true, (float *[]){x}, (float *[]){y});
  expect_close(y, (float[]){11, 12, 15, 16}, 4, 0);
  g = one_node("GlobalAveragePool", xs, 1, &ni);
  run_graph(g, true, (float *[]){x}, (float *[]){y});
  assert_float_equal(y[0], 8.5f, 1e-5);
  g = one_node("GlobalMaxPool", xs, 1, &ni);
  run_graph(g, true, (float *[]){x}, (float *[]){y});
  assert_float_equal(y[0], 16.f, 0);
  g = one_node("LpPool", xs, 1, &ni);
  attr_ints(g, ni, "kernel_shape", (int64_t[]){4, 4}, 2);
  run_graph(g, true, (float *[]){x}, (float *[]){y});
  assert_float_equal(y[0], sqrtf(1496.f), 1e-3); /* sum of squares 1..16 */
  assert_int_equal(gl_alloc_live_count(), live0);
}

static void test_norms(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  /* LayerNormalization over the last dim of [2, 3, 4], with Mean / InvStdDev outputs. */
  float *x = rand_buf(24), sc[4] = {1, 2, 0.5f, -1}, bi[4] = {0, 1, 2, 3};
  float y[24], mean[6], inv[6];
  gl_graph_t *g = gl_graph_create();
  int in[3] = {add_input(g, "x", (gl_shape_t){3, {2, 3, 4}}), add_const(g, (gl_shape_t){1, {4}}, sc),
               add_const(g, (gl_shape_t){1, {4}}, bi)};
  int outs[3] = {add_val(g, "y", UNK), add_val(g, "m", UNK),
                 add_val(g, "s", UNK)};
  int ni = gl_graph_add_node(g, "LayerNormalization", NULL, in, 3, outs, 3);
  attr_f(g, ni, "epsilon", 1e-5f);
  for (int i = 0; i < 3; i++) assert_int_equal(gl_graph_add_output(g, outs[i]), GL_OK);
  run_graph(g, true, (float *[]){x}, (float *[]){y, mean, inv});
  for (int r = 0; r < 6; r++) {
    float m = 0, v = 0;
    for (int i = 0; i < 4; i++) m += x[r * 4 + i] / 4;
    for (int i = 0; i < 4; i++) v += (x[r * 4 + i] - m) * (x[r * 4 + i] - m) / 4;
    assert_float_equal(mean[r], m, 1e-5);
    assert_float_equal(inv[r], 1 / sqrtf(v + 1e-5f), 1e-3);
    for (int i = 0; i < 4; i++)
      assert_float_equal(y[r * 4 + i], (x[r * 4 + i] - m) / sqrtf(v + 1e-5f) * sc[i] + bi[i], 1e-4);
  }
  /* BatchNormalization (inference) on [2, 3, 2]. */
  float *p = rand_buf(12), var[3] = {0.5f, 1.f, 2.f};
  g = gl_graph_create();
  int bin[5] = {add_input(g, "x", (gl_shape_t){3, {2, 3, 2}}), add_const(g, (gl_shape_t){1, {3}}, p),
                add_const(g, (gl_shape_t){1, {3}}, p + 3), add_const(g, (gl_shape_t){1, {3}}, p + 6),
                add_const(g, (gl_shape_t){1, {3}}, var)};
  int yo = add_val(g, "y", UNK);
  node(g, "BatchNormalization", bin, 5, yo);
  assert_int_equal(gl_graph_add_output(g, yo), GL_OK);
  run_graph(g, true, (float *[]){x}, (float *[]){y});
  for (int i = 0; i < 12; i++) {
    int c = (i / 2) % 3;
    assert_float_equal(y[i], (x[i] - p[6 + c]) / sqrtf(var[c] + 1e-5f) * p[c] + p[3 + c], 1e-4);
  }
  free(x), free(p);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* ---------------------------------------------------------------- fusion */

/* y = relu(bn(conv(x)) + x): a ResNet basic block's tail, 8 channels, 3x3 pad 1. */
static gl_graph_t *resblock(const float *w, const float *b, const float *bn) {
  gl_graph_t *g = gl_graph_create();
  gl_shape_t xs = {4, {2, 8, 6, 5}};
  int x = add_input(g, "x", xs);
  int cin[3] = {x, add_const(g, (gl_shape_t){4, {8, 8, 3, 3}}, w), add_const(g, (gl_shape_t){1, {8}}, b)};
  int c = add_val(g, "c", xs), n = add_val(g, "n", xs), s = add_val(g, "s", xs), y = add_val(g, "y", xs);
  int ci = node(g, "Conv", cin, 3, c);
  attr_ints(g, ci, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  int bnin[5] = {c};
  for (int i = 0; i < 4; i++) bnin[1 + i] = add_const(g, (gl_shape_t){1, {8}}, bn + 8 * i);
  node(g, "BatchNormalization", bnin, 5, n);
  node(g, "Add", (int[]){x, n}, 2, s);
  node(g, "Relu", &s, 1, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  return g;
}

static void test_fuse_resblock(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  float *w = rand_buf(8 * 8 * 9), *b = rand_buf(8), *bn = rand_buf(32), *x = rand_buf(2 * 8 * 30);
  for (int i = 24; i < 32; i++) bn[i] = fabsf(bn[i]) + 0.1f; /* variances */
  int64_t ny = 2 * 8 * 30;
  float *want = malloc(sizeof(float) * ny), *got = calloc(ny, 4), *unf = calloc(ny, 4);
  conv_case_t cc = {2, 2, 8, 8, 1, {6, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true, false, NULL};
  ref_conv(&cc, x, w, b, want);
  for (int64_t i = 0; i < ny; i++) {
    int ch = (int)((i / 30) % 8);
    float v = (want[i] - bn[16 + ch]) / sqrtf(bn[24 + ch] + 1e-5f) * bn[ch] + bn[8 + ch] + x[i];
    want[i] = v > 0 ? v : 0;
  }
  gl_graph_t *g = resblock(w, b, bn);
  int live = run_graph(g, true, (float *[]){x}, &got);
  assert_int_equal(live, 1); /* conv with bn folded, residual sum and relu as post-ops */
  expect_close(got, want, ny, 1e-4f);
  if (gl_cpu_op("Add") && gl_cpu_op("Relu") && gl_op_schema("Add") && gl_op_schema("Relu")) {
    g = resblock(w, b, bn);
    assert_int_equal(run_graph(g, false, (float *[]){x}, &unf), 4);
    expect_close(got, unf, ny, 1e-4f);
  }
  free(w), free(b), free(bn), free(x), free(want), free(got), free(unf);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* Add(conv_a(x), conv_b(x)): the sum goes into whichever conv runs second. */
static void test_fuse_two_branches(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  float *wa = rand_buf(4 * 4), *wb = rand_buf(4 * 4), *x = rand_buf(4 * 9);
  float want[36], ya[36], yb[36], got[36];
  conv_case_t cc = {2, 1, 4, 4, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, false, false, NULL};
  ref_conv(&cc, x, wa, NULL, ya);
  ref_conv(&cc, x, wb, NULL, yb);
  for (int i = 0; i < 36; i++) want[i] = ya[i] + yb[i] > 0 ? ya[i] + yb[i] : 0;
  gl_graph_t *g = gl_graph_create();
  gl_shape_t xs = {4, {1, 4, 3, 3}};
  int x_ = add_input(g, "x", xs);
  int a = add_val(g, "a", xs), bb = add_val(g, "b", xs), s = add_val(g, "s", xs), y = add_val(g, "y", xs);
  node(g, "Conv", (int[]){x_, add_const(g, (gl_shape_t){4, {4, 4, 1, 1}}, wa)}, 2, a);
  node(g, "Conv", (int[]){x_, add_const(g, (gl_shape_t){4, {4, 4, 1, 1}}, wb)}, 2, bb);
  node(g, "Add", (int[]){bb, a}, 2, s);
  node(g, "Relu", &s, 1, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  float *outp = got;
  assert_int_equal(run_graph(g, true, (float *[]){x}, &outp), 2);
  expect_close(got, want, 36, 1e-4f);
  free(wa), free(wb), free(x);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* relu(MatMul(x[2,3,4], W[4,5]) + bias[5]) becomes one matmul with bias and a relu post-op; a
 * value that is a graph output is not fused away. */
static void test_fuse_matmul_bias(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  (void)live0;
  float *x = rand_buf(24), *w = rand_buf(20), *bias = rand_buf(5), want[30], got[30], mid[30];
  for (int r = 0; r < 6; r++)
    for (int j = 0; j < 5; j++) {
      float acc = bias[j];
      for (int p = 0; p < 4; p++) acc += x[r * 4 + p] * w[p * 5 + j];
      want[r * 5 + j] = acc > 0 ? acc : 0;
    }
  for (int out_mid = 0; out_mid < 2; out_mid++) {
    if (out_mid && !gl_cpu_op("Relu")) continue; /* needs the elementwise family's kernel */
    gl_graph_t *g = gl_graph_create();
    int xi = add_input(g, "x", (gl_shape_t){3, {2, 3, 4}});
    gl_shape_t ys = {3, {2, 3, 5}};
    int m = add_val(g, "m", ys), s = add_val(g, "s", ys), y = add_val(g, "y", ys);
    node(g, "MatMul", (int[]){xi, add_const(g, (gl_shape_t){2, {4, 5}}, w)}, 2, m);
    node(g, "Add", (int[]){m, add_const(g, (gl_shape_t){1, {5}}, bias)}, 2, s);
    node(g, "Relu", &s, 1, y);
    assert_int_equal(gl_graph_add_output(g, y), GL_OK);
    if (out_mid) assert_int_equal(gl_graph_add_output(g, s), GL_OK);
    int live = run_graph(g, true, (float *[]){x}, out_mid ? (float *[]){got, mid} : (float *[]){got});
    assert_int_equal(live, out_mid ? 2 : 1);
    expect_close(got, want, 30, 1e-4f);
  }
  /* A runtime residual of the output's shape: MatMul(x, W) + r, one node. */
  float *res = rand_buf(30);
  for (int i = 0; i < 30; i++) want[i] = 0;
  for (int r = 0; r < 6; r++)
    for (int j = 0; j < 5; j++) {
      float acc = res[r * 5 + j];
      for (int p = 0; p < 4; p++) acc += x[r * 4 + p] * w[p * 5 + j];
      want[r * 5 + j] = acc;
    }
  gl_graph_t *g = gl_graph_create();
  gl_shape_t ys = {3, {2, 3, 5}};
  int xi = add_input(g, "x", (gl_shape_t){3, {2, 3, 4}}), ri = add_input(g, "r", ys);
  int m = add_val(g, "m", ys), y = add_val(g, "y", ys);
  node(g, "MatMul", (int[]){xi, add_const(g, (gl_shape_t){2, {4, 5}}, w)}, 2, m);
  node(g, "Add", (int[]){ri, m}, 2, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(run_graph(g, true, (float *[]){x, res}, (float *[]){got}), 1);
  expect_close(got, want, 30, 1e-4f);
  free(x), free(w), free(bias), free(res);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* Sigmoid(Gemm(a, B^T) + bias) with no C: the bias becomes the fused addend (input 3, with input 2
 * left absent) and the sigmoid a post-op. */
static void test_fuse_gemm_bias(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  float *a = rand_buf(12), *b = rand_buf(15), *bias = rand_buf(5), want[20], got[20];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 5; j++) {
      float v = bias[j];
      for (int p = 0; p < 3; p++) v += a[i * 3 + p] * b[j * 3 + p];
      want[i * 5 + j] = 1.f / (1.f + expf(-v));
    }
  gl_graph_t *g = gl_graph_create();
  gl_shape_t ys = {2, {4, 5}};
  int ai = add_input(g, "a", (gl_shape_t){2, {4, 3}});
  int m = add_val(g, "m", ys), s = add_val(g, "s", ys), y = add_val(g, "y", ys);
  int ni = node(g, "Gemm", (int[]){ai, add_const(g, (gl_shape_t){2, {5, 3}}, b)}, 2, m);
  attr_i(g, ni, "transB", 1);
  node(g, "Add", (int[]){m, add_const(g, (gl_shape_t){2, {1, 5}}, bias)}, 2, s);
  node(g, "Sigmoid", &s, 1, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(run_graph(g, true, (float *[]){a}, (float *[]){got}), 1);
  expect_close(got, want, 20, 1e-4f);
  free(a), free(b), free(bias);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* Gemm with a runtime C plus a fused runtime residual: two binary post-ops in one matmul. */
static void test_fuse_gemm_c_residual(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  float *a = rand_buf(6), *b = rand_buf(6), *c = rand_buf(2), *r = rand_buf(4), want[4], got[4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      float v = 0;
      for (int p = 0; p < 3; p++) v += a[i * 3 + p] * b[p * 2 + j];
      want[i * 2 + j] = v + c[j] + r[i * 2 + j];
    }
  gl_graph_t *g = gl_graph_create();
  gl_shape_t ys = {2, {2, 2}};
  int ai = add_input(g, "a", (gl_shape_t){2, {2, 3}}), ci = add_input(g, "c", (gl_shape_t){1, {2}});
  int ri = add_input(g, "r", ys);
  int m = add_val(g, "m", ys), y = add_val(g, "y", ys);
  node(g, "Gemm", (int[]){ai, add_const(g, (gl_shape_t){2, {3, 2}}, b), ci}, 3, m);
  node(g, "Add", (int[]){m, ri}, 2, y);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(run_graph(g, true, (float *[]){a, c, r}, (float *[]){got}), 1);
  expect_close(got, want, 4, 1e-4f);
  free(a), free(b), free(c), free(r);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* BERT's dense + GELU: MatMul, Add(bias), x * 0.5 * (1 + erf(x / sqrt 2)) -> one MatMul. */
static gl_graph_t *dense_gelu(const float *w, const float *bias, bool half_first) {
  gl_graph_t *g = gl_graph_create();
  gl_shape_t ys = {3, {2, 3, 5}};
  float c_sqrt2 = 1.41421356f, c_one = 1.f, c_half = 0.5f;
  int xi = add_input(g, "x", (gl_shape_t){3, {2, 3, 4}});
  int m = add_val(g, "m", ys), h = add_val(g, "h", ys), d = add_val(g, "d", ys), e = add_val(g, "e", ys);
  int a = add_val(g, "a", ys), p = add_val(g, "p", ys), y = add_val(g, "y", ys);
  node(g, "MatMul", (int[]){xi, add_const(g, (gl_shape_t){2, {4, 5}}, w)}, 2, m);
  node(g, "Add", (int[]){add_const(g, (gl_shape_t){1, {5}}, bias), m}, 2, h);
  node(g, "Div", (int[]){h, add_const(g, SCALAR, &c_sqrt2)}, 2, d);
  node(g, "Erf", &d, 1, e);
  node(g, "Add", (int[]){e, add_const(g, SCALAR, &c_one)}, 2, a);
  if (half_first) {
    node(g, "Mul", (int[]){h, add_const(g, SCALAR, &c_half)}, 2, p);
    node(g, "Mul", (int[]){p, a}, 2, y);
  } else {
    node(g, "Mul", (int[]){h, a}, 2, p);
    node(g, "Mul", (int[]){add_const(g, SCALAR, &c_half), p}, 2, y);
  }
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  return g;
}

static void test_fuse_gelu(void **state) {
  (void)state;
  size_t live0 = gl_alloc_live_count();
  float *x = rand_buf(24), *w = rand_buf(20), *bias = rand_buf(5), want[30], got[30], unf[30];
  for (int r = 0; r < 6; r++)
    for (int j = 0; j < 5; j++) {
      float v = bias[j];
      for (int p = 0; p < 4; p++) v += x[r * 4 + p] * w[p * 5 + j];
      want[r * 5 + j] = 0.5f * v * (1.f + erff(v / 1.41421356f));
    }
  for (int half_first = 0; half_first < 2; half_first++) {
    assert_int_equal(run_graph(dense_gelu(w, bias, half_first), true, (float *[]){x}, (float *[]){got}), 1);
    expect_close(got, want, 30, 1e-4f);
    if (gl_cpu_op("Erf") && gl_cpu_op("Mul") && gl_op_schema("Erf")) {
      assert_int_equal(run_graph(dense_gelu(w, bias, half_first), false, (float *[]){x}, (float *[]){unf}), 7);
      expect_close(got, unf, 30, 1e-4f);
    }
  }
  free(x), free(w), free(bias);
  assert_int_equal(gl_alloc_live_count(), live0);
}

/* ---------------------------------------------------------------- timing (GL_BENCH=1 only) */

static void bench_conv(int64_t batch, int64_t c, int64_t m, int64_t hw, int64_t k, int64_t s,
                       gl_act_t act) {
  int64_t pad = k / 2, o = (hw + 2 * pad - k) / s + 1;
  gl_shape_t xs = {4, {batch, c, hw, hw}};
  float *x = rand_buf(gl_shape_numel(&xs)), *w = rand_buf(m * c * k * k), *b = rand_buf(m);
  float *y = malloc(sizeof(float) * (size_t)(batch * m * o * o));
  gl_graph_t *g = gl_graph_create();
  int xi = add_input(g, "x", xs);
  int yi = add_val(g, "y", UNK);
  int ni = node(g, "Conv", (int[]){xi, add_const(g, (gl_shape_t){4, {m, c, k, k}}, w),
                                   add_const(g, (gl_shape_t){1, {m}}, b)}, 3, yi);
  attr_ints(g, ni, "pads", (int64_t[]){pad, pad, pad, pad}, 4);
  attr_ints(g, ni, "strides", (int64_t[]){s, s}, 2);
  g->nodes[ni].fuse.act = act;
  assert_int_equal(gl_graph_add_output(g, yi), GL_OK);
  g->opset = 17;
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  assert_int_equal(gl_graph_prepare(g, &(gl_prepare_opts_t){0}, gl_cpu_eval, NULL), GL_OK);
  gl_backend_t *be;
  gl_plan_t *p;
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  const char *th = getenv("GL_BENCH_THREADS");
  assert_int_equal(gl_plan_create(be, g, &(gl_placement_t){.threads = th ? atoi(th) : 2}, &p), GL_OK);
  gl_tensor_t in = {.dtype = GL_DT_F32, .shape = xs, .data = x},
              out = {.dtype = GL_DT_F32, .shape = g->values[yi].shape, .data = y};
  assert_int_equal(gl_plan_run(p, &in, &out), GL_OK);
  /* The dev box is shared: report the minimum wall time and the process CPU time per run. */
  int iters = 10;
  double ms = 1e30;
  struct timespec c0, c1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  for (int i = 0; i < iters; i++) {
    int64_t t0 = gl_now_ns();
    assert_int_equal(gl_plan_run(p, &in, &out), GL_OK);
    double t = (double)(gl_now_ns() - t0) / 1e6;
    if (t < ms) ms = t;
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  double cpu_ms = ((double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6) / iters;
  double gflop = 2.0 * (double)(batch * m * o * o * c * k * k) / 1e9;
  printf("conv%s b=%lld %lldx%lldx%lld -> %lld k%lld s%lld: min %.3f ms wall, %.1f GFLOP/s; %.3f ms cpu"
         " per run, %.1f GFLOP/cpu-s\n", act ? "+relu" : "", (long long)batch, (long long)c, (long long)hw, (long long)hw,
         (long long)m, (long long)k, (long long)s, ms, gflop / (ms / 1e3), cpu_ms,
         gflop / (cpu_ms / 1e3));
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_graph_destroy(g);
  free(x), free(w), free(b), free(y);
}

static void bench_pool(const char *op, int64_t batch, int64_t c, int64_t hw) {
  gl_shape_t xs = {4, {batch, c, hw, hw}};
  float *x = rand_buf(gl_shape_numel(&xs));
  float *y = malloc(sizeof(float) * (size_t)gl_shape_numel(&xs));
  int ni;
  gl_graph_t *g = one_node(op, xs, 1, &ni);
  if (!strcmp(op, "MaxPool")) {
    attr_ints(g, ni, "kernel_shape", (int64_t[]){3, 3}, 2);
    attr_ints(g, ni, "strides", (int64_t[]){2, 2}, 2);
    attr_ints(g, ni, "pads", (int64_t[]){1, 1, 1, 1}, 4);
  }
  g->opset = 17;
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  assert_int_equal(gl_graph_prepare(g, &(gl_prepare_opts_t){0}, gl_cpu_eval, NULL), GL_OK);
  gl_backend_t *be;
  gl_plan_t *p;
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  const char *th = getenv("GL_BENCH_THREADS");
  assert_int_equal(gl_plan_create(be, g, &(gl_placement_t){.threads = th ? atoi(th) : 2}, &p), GL_OK);
  gl_tensor_t in = {.dtype = GL_DT_F32, .shape = xs, .data = x},
              out = {.dtype = GL_DT_F32, .shape = g->values[g->outputs[0]].shape, .data = y};
  double ms = 1e30;
  for (int i = 0; i < 10; i++) {
    int64_t t0 = gl_now_ns();
    assert_int_equal(gl_plan_run(p, &in, &out), GL_OK);
    double t = (double)(gl_now_ns() - t0) / 1e6;
    if (t < ms) ms = t;
  }
  printf("%s b=%lld %lldx%lldx%lld: min %.3f ms\n", op, (long long)batch, (long long)c, (long long)hw,
         (long long)hw, ms);
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_graph_destroy(g);
  free(x), free(y);
}

static void test_bench(void **state) {
  (void)state;
  if (!getenv("GL_BENCH")) skip();
  { /* the naive loop (ref_conv) on one ResNet shape, for scale */
    conv_case_t c = {2, 1, 64, 64, 1, {56, 56}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true, false, NULL};
    float *x = rand_buf(64 * 56 * 56), *w = rand_buf(64 * 64 * 9), *b = rand_buf(64);
    float *y = malloc(sizeof(float) * 64 * 56 * 56);
    int64_t t0 = gl_now_ns();
    ref_conv(&c, x, w, b, y);
    double ms = (double)(gl_now_ns() - t0) / 1e6;
    printf("naive conv b=1 64x56x56 -> 64 k3 s1: %.1f ms, %.2f GFLOP/s\n", ms,
           2.0 * 64 * 64 * 9 * 56 * 56 / 1e9 / (ms / 1e3));
    free(x), free(w), free(b), free(y);
  }
  bench_pool("MaxPool", 1, 64, 112);
  bench_pool("GlobalAveragePool", 1, 2048, 7);
  int64_t batches[2] = {1, 8};
  for (int i = 0; i < 2; i++) {
    for (int a = 0; a < 2; a++) {
      gl_act_t act = a ? GL_ACT_RELU : GL_ACT_NONE;
      bench_conv(batches[i], 64, 64, 56, 3, 1, act);
      bench_conv(batches[i], 64, 256, 56, 1, 1, act);
      bench_conv(batches[i], 128, 128, 28, 3, 1, act);
      bench_conv(batches[i], 256, 256, 14, 3, 1, act);
      bench_conv(batches[i], 512, 512, 7, 3, 1, act);
      bench_conv(batches[i], 256, 512, 56, 1, 2, act);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv),
      cmocka_unit_test(test_conv_folded),
      cmocka_unit_test(test_conv_transpose),
      cmocka_unit_test(test_gemm),
      cmocka_unit_test(test_gemm_hard_sigmoid),
      cmocka_unit_test(test_matmul),
      cmocka_unit_test(test_pools),
      cmocka_unit_test(test_norms),
      cmocka_unit_test(test_fuse_resblock),
      cmocka_unit_test(test_fuse_two_branches),
      cmocka_unit_test(test_fuse_matmul_bias),
      cmocka_unit_test(test_fuse_gemm_bias),
      cmocka_unit_test(test_fuse_gemm_c_residual),
      cmocka_unit_test(test_fuse_gelu),
      cmocka_unit_test(test_bench),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
