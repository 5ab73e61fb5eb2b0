/* tests/backend/test_cuda_kernels.c - the CUDA kernels' bodies (cuda_kernels.h), run on the CPU
 * over every index, against the CPU backend running the same op through a one-node graph. Only the
 * launch code and the cuDNN/cuBLAS calls are left for a GPU to check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_kernels.h"
#include "core/alloc.h"
#include "engine/engine.h"

static uint64_t rng = 88172645463325252ULL;
static float frand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((double)(rng >> 11) / (double)(1ULL << 53)) * 4.f - 2.f;
}

static void fill(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = frand();
}

/* Runs a one-node graph on the CPU backend: inputs are graph inputs (or constants when
 * const_mask has their bit set), one float output. */
typedef struct {
  const char *op;
  int n_in;
  gl_dtype_t dt[4];
  gl_shape_t shape[4];
  const void *data[4];
  unsigned const_mask;
  void (*attrs)(gl_graph_t *g, int ni);
} onenode_t;

static void run_cpu(const onenode_t *o, float *y, int64_t ny) {
  gl_graph_t *g = gl_graph_create();
  g->opset = 17;
  int ins[4], out = gl_graph_add_value(g, "y");
  gl_tensor_t feed[4];
  int nfeed = 0;
  for (int i = 0; i < o->n_in; i++) {
    char name[8] = {'x', (char)('0' + i), 0};
    ins[i] = gl_graph_add_value(g, name);
    g->values[ins[i]].dtype = o->dt[i];
    g->values[ins[i]].shape = o->shape[i];
    if (o->const_mask & (1u << i)) {
      gl_tensor_t t;
      assert_int_equal(gl_tensor_alloc(&t, o->dt[i], &o->shape[i]), GL_OK);
      memcpy(t.data, o->data[i], gl_tensor_nbytes(&t));
      assert_int_equal(gl_value_set_const(g, ins[i], &t), GL_OK);
    } else {
      assert_int_equal(gl_graph_add_input(g, ins[i]), GL_OK);
      feed[nfeed++] = (gl_tensor_t){.dtype = o->dt[i], .shape = o->shape[i], .data = (void *)o->data[i]};
    }
  }
  int ni = gl_graph_add_node(g, o->op, "n", ins, o->n_in, &out, 1);
  if (o->attrs) o->attrs(g, ni);
  assert_int_equal(gl_graph_add_output(g, out), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_model_t *m;
  gl_backend_t *be;
  gl_plan_t *p;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_compile_opts_t co = {.no_fuse = true};
  assert_int_equal(gl_model_compile(m, be, &co, &p), GL_OK);
  assert_int_equal(gl_shape_numel(&p->outputs[0].shape), ny);
  gl_tensor_t yt = {.dtype = GL_DT_F32, .shape = p->outputs[0].shape, .data = y};
  assert_int_equal(gl_plan_run(p, feed, &yt), GL_OK);
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_model_destroy(m);
}

static void near(const float *a, const float *b, int64_t n, float tol) {
  for (int64_t i = 0; i < n; i++) {
    float d = fabsf(a[i] - b[i]);
    if (!(d <= tol * (1.f + fabsf(b[i])))) fail_msg("element %lld: kernel %g, CPU backend %g", (long long)i, a[i], b[i]);
  }
}

static float g_alpha;
void attr_perm(gl_graph_t *g, int ni);
static void attr_alpha(gl_graph_t *g, int ni) { gl_node_add_attr(g, ni, "alpha", GL_ATTR_FLOAT)->f = g_alpha; }

static void test_unary(void **state) {
  (void)state;
  static const struct { const char *op; int code; float a, b; } cases[] = {
      {"Relu", GL_K_RELU, 0, 0}, {"LeakyRelu", GL_K_LEAKY, 0.1f, 0}, {"Sigmoid", GL_K_SIGMOID, 0, 0},
      {"Tanh", GL_K_TANH, 0, 0}, {"HardSwish", GL_K_HSWISH, 0, 0}, {"Erf", GL_K_ERF, 0, 0},
      {"Exp", GL_K_EXP, 0, 0}, {"Neg", GL_K_NEG, 0, 0}, {"Abs", GL_K_ABS, 0, 0}, {"Elu", GL_K_ELU, 0.7f, 0},
      {"Softplus", GL_K_SOFTPLUS, 0, 0}, {"Floor", GL_K_FLOOR, 0, 0}, {"Ceil", GL_K_CEIL, 0, 0},
  };
  enum { N = 1000 };
  float x[N], ref[N], got[N];
  fill(x, N);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    g_alpha = cases[c].a;
    onenode_t o = {cases[c].op, 1, {GL_DT_F32}, {{1, {N}}}, {x}, 0, cases[c].a ? attr_alpha : NULL};
    run_cpu(&o, ref, N);
    for (int64_t i = 0; i < N; i++) got[i] = gl_k_unary(cases[c].code, x[i], cases[c].a, cases[c].b);
    near(got, ref, N, 1e-5f);
  }
}

static void test_binary_broadcast(void **state) {
  (void)state;
  static const struct { const char *op; int code; } cases[] = {
      {"Add", GL_K_ADD}, {"Sub", GL_K_SUB}, {"Mul", GL_K_MUL}, {"Div", GL_K_DIV}, {"Max", GL_K_MAX}};
  gl_shape_t sa = {4, {2, 3, 4, 5}}, sb = {3, {3, 1, 5}}, so = {4, {2, 3, 4, 5}};
  float a[120], b[15], ref[120], got[120];
  fill(a, 120);
  fill(b, 15);
  for (int i = 0; i < 15; i++) b[i] = b[i] == 0.f ? 1.f : b[i];
  gl_k_bcast_t bc;
  memset(&bc, 0, sizeof bc);
  bc.rank = 4;
  for (int d = 0; d < 4; d++) bc.dims[d] = so.d[d];
  int64_t sta[4] = {60, 20, 5, 1}, stb[4] = {0, 5, 0, 1};
  memcpy(bc.st[0], sta, sizeof sta);
  memcpy(bc.st[1], stb, sizeof stb);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    onenode_t o = {cases[c].op, 2, {GL_DT_F32, GL_DT_F32}, {sa, sb}, {a, b}, 0, NULL};
    run_cpu(&o, ref, 120);
    for (int64_t i = 0; i < 120; i++) gl_k_binary_at(&bc, cases[c].code, a, b, got, i);
    near(got, ref, 120, 1e-6f);
  }
}

static void test_batchnorm(void **state) {
  (void)state;
  enum { C = 3, IN = 10, NE = 2 * C * IN };
  float x[NE], sc[C], bi[C], mu[C], var[C], ref[NE], got[NE];
  fill(x, NE), fill(sc, C), fill(bi, C), fill(mu, C), fill(var, C);
  for (int c = 0; c < C; c++) var[c] = fabsf(var[c]) + 0.1f;
  /* Reference computed from ONNX's formula (the CPU backend's standalone BatchNormalization is
   * covered by the node suite). */
  for (int64_t i = 0; i < NE; i++) {
    int c = (int)((i / IN) % C);
    ref[i] = (x[i] - mu[c]) / sqrtf(var[c] + 1e-5f) * sc[c] + bi[c];
    gl_k_batchnorm_at(x, got, sc, bi, mu, var, 1e-5f, C, IN, i);
  }
  near(got, ref, NE, 1e-5f);
}

static void test_transpose(void **state) {
  (void)state;
  float x[120], ref[120], got[120];
  fill(x, 120);
  gl_shape_t sx = {4, {2, 3, 4, 5}};
  onenode_t o = {"Transpose", 1, {GL_DT_F32}, {sx}, {x}, 0, NULL};
  static const int64_t perm[4] = {2, 0, 3, 1};
  o.attrs = attr_perm;
  run_cpu(&o, ref, 120);
  gl_k_perm_t p = {.rank = 4};
  int64_t st[4] = {60, 20, 5, 1};
  for (int d = 0; d < 4; d++) p.dims[d] = sx.d[perm[d]], p.in_st[d] = st[perm[d]];
  for (int64_t i = 0; i < 120; i++) got[i] = x[gl_k_perm_offset(&p, i)];
  near(got, ref, 120, 0);
}

void attr_perm(gl_graph_t *g, int ni) {
  gl_attr_t *a = gl_node_add_attr(g, ni, "perm", GL_ATTR_INTS);
  a->n = 4;
  a->ints = gl_malloc(4 * sizeof(int64_t));
  int64_t p[4] = {2, 0, 3, 1};
  memcpy(a->ints, p, sizeof p);
}

void attr_axis1(gl_graph_t *g, int ni);

void attr_axis1(gl_graph_t *g, int ni) { gl_node_add_attr(g, ni, "axis", GL_ATTR_INT)->i = 1; }

static void test_gather_bodies(void **state) {
  (void)state;
  float x[60], ref[48], got[48];
  fill(x, 60);
  int64_t idx[4] = {4, -1, 0, 2};
  gl_shape_t sx = {3, {3, 5, 4}}, si = {1, {4}};
  onenode_t o = {"Gather", 2, {GL_DT_F32, GL_DT_I64}, {sx, si}, {x, idx}, 0x2, attr_axis1};
  run_cpu(&o, ref, 48);
  for (int64_t i = 0; i < 48; i++) {
    int64_t off = gl_k_gather_offset(idx, 4, 5, 4, i);
    assert_true(off >= 0);
    got[i] = x[off];
  }
  near(got, ref, 48, 0);
  int64_t bad[1] = {5};
  assert_int_equal(gl_k_gather_offset(bad, 1, 5, 4, 0), -1);
}

static void test_concat(void **state) {
  (void)state;
  float a[24], b[12], ref[36], got[36];
  fill(a, 24), fill(b, 12);
  gl_shape_t sa = {3, {2, 4, 3}}, sb = {3, {2, 2, 3}};
  onenode_t o = {"Concat", 2, {GL_DT_F32, GL_DT_F32}, {sa, sb}, {a, b}, 0, attr_axis1};
  run_cpu(&o, ref, 36);
  /* rows = 2, row_len = 18; input a has 12 columns at 0, b 6 columns at 12 */
  for (int64_t i = 0; i < 24; i++) got[gl_k_concat_dst(12, 0, 18, i)] = a[i];
  for (int64_t i = 0; i < 12; i++) got[gl_k_concat_dst(6, 12, 18, i)] = b[i];
  near(got, ref, 36, 0);
}

static void test_softmax_layernorm(void **state) {
  (void)state;
  enum { R = 6, L = 33 };
  float x[R * L], ref[R * L], got[R * L], sc[L], bi[L];
  fill(x, R * L), fill(sc, L), fill(bi, L);
  gl_shape_t sx = {2, {R, L}}, sl = {1, {L}};
  onenode_t sm = {"Softmax", 1, {GL_DT_F32}, {sx}, {x}, 0, NULL};
  run_cpu(&sm, ref, R * L);
  for (int r = 0; r < R; r++) {
    const float *xr = x + r * L;
    float m = -INFINITY, s = 0;
    for (int j = 0; j < L; j++) m = fmaxf(m, xr[j]);
    for (int j = 0; j < L; j++) s += expf(xr[j] - m);
    for (int j = 0; j < L; j++) got[r * L + j] = gl_k_softmax_at(xr[j], m, s, 0);
  }
  near(got, ref, R * L, 1e-5f);
  onenode_t ln = {"LayerNormalization", 3, {GL_DT_F32, GL_DT_F32, GL_DT_F32}, {sx, sl, sl}, {x, sc, bi}, 0x6, NULL};
  run_cpu(&ln, ref, R * L);
  for (int r = 0; r < R; r++) {
    const float *xr = x + r * L;
    float s = 0, q = 0;
    for (int j = 0; j < L; j++) s += xr[j], q += xr[j] * xr[j];
    float mean = s / L, inv = 1.f / sqrtf(fmaxf(q / L - mean * mean, 0.f) + 1e-5f);
    for (int j = 0; j < L; j++) got[r * L + j] = gl_k_layernorm_at(xr[j], mean, inv, sc, bi, j);
  }
  near(got, ref, R * L, 1e-4f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unary),        cmocka_unit_test(test_binary_broadcast),
      cmocka_unit_test(test_batchnorm),    cmocka_unit_test(test_transpose),
      cmocka_unit_test(test_gather_bodies), cmocka_unit_test(test_concat),
      cmocka_unit_test(test_softmax_layernorm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
