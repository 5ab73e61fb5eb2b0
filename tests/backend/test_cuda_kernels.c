/* tests/backend/test_cuda_kernels.c - the CUDA kernels' bodies (cuda_kernels.h), run on the CPU
 * over every index, against the CPU backend running the same op through a one-node graph. Only the
 * launch code and the cuDNN/cuBLAS calls are left for a GPU to check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda_support.h"
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
  gl_dtype_t dt[5];
  gl_shape_t shape[5];
  const void *data[5];
  unsigned const_mask;
  void (*attrs)(gl_graph_t *g, int ni);
  gl_dtype_t out_dt; /* 0: f32 */
} onenode_t;

static void run_cpu(const onenode_t *o, void *y, int64_t ny) {
  gl_graph_t *g = gl_graph_create();
  g->opset = 17;
  int ins[5], out = gl_graph_add_value(g, "y");
  gl_tensor_t feed[5];
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
  gl_dtype_t odt = o->out_dt ? o->out_dt : GL_DT_F32;
  assert_int_equal(p->outputs[0].dtype, odt);
  gl_tensor_t yt = {.dtype = odt, .shape = p->outputs[0].shape, .data = y};
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
    onenode_t o = {cases[c].op, 1, {GL_DT_F32}, {{1, {N}}}, {x}, 0, cases[c].a ? attr_alpha : NULL, 0};
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
    onenode_t o = {cases[c].op, 2, {GL_DT_F32, GL_DT_F32}, {sa, sb}, {a, b}, 0, NULL, 0};
    run_cpu(&o, ref, 120);
    for (int64_t i = 0; i < 120; i++) gl_k_binary_at(&bc, cases[c].code, a, b, got, 0, i);
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
    gl_k_batchnorm_at(x, got, sc, bi, mu, var, 0, 1e-5f, C, IN, i);
  }
  near(got, ref, NE, 1e-5f);
}

static void test_transpose(void **state) {
  (void)state;
  float x[120], ref[120], got[120];
  fill(x, 120);
  gl_shape_t sx = {4, {2, 3, 4, 5}};
  onenode_t o = {"Transpose", 1, {GL_DT_F32}, {sx}, {x}, 0, NULL, 0};
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
  onenode_t o = {"Gather", 2, {GL_DT_F32, GL_DT_I64}, {sx, si}, {x, idx}, 0x2, attr_axis1, 0};
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
  onenode_t o = {"Concat", 2, {GL_DT_F32, GL_DT_F32}, {sa, sb}, {a, b}, 0, attr_axis1, 0};
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
  onenode_t sm = {"Softmax", 1, {GL_DT_F32}, {sx}, {x}, 0, NULL, 0};
  run_cpu(&sm, ref, R * L);
  for (int r = 0; r < R; r++) {
    const float *xr = x + r * L;
    float m = -INFINITY, s = 0;
    for (int j = 0; j < L; j++) m = fmaxf(m, xr[j]);
    for (int j = 0; j < L; j++) s += expf(xr[j] - m);
    for (int j = 0; j < L; j++) got[r * L + j] = gl_k_softmax_at(xr[j], m, s, 0);
  }
  near(got, ref, R * L, 1e-5f);
  onenode_t ln = {"LayerNormalization", 3, {GL_DT_F32, GL_DT_F32, GL_DT_F32}, {sx, sl, sl}, {x, sc, bi}, 0x6, NULL, 0};
  run_cpu(&ln, ref, R * L);
  for (int r = 0; r < R; r++) {
    const float *xr = x + r * L;
    float s = 0, q = 0;
    for (int j = 0; j < L; j++) s += xr[j];
    float mean = s / L;
    for (int j = 0; j < L; j++) q += (xr[j] - mean) * (xr[j] - mean);
    float inv = 1.f / sqrtf(q / L + 1e-5f); /* two passes, as k_layernorm */
    for (int j = 0; j < L; j++) got[r * L + j] = gl_k_layernorm_at(xr[j], mean, inv, sc, bi, 0, j);
  }
  near(got, ref, R * L, 1e-4f);
}

/* Slice with negative steps through the strided-copy body (start and steps folded as prep_slice
 * does). */
static void test_slice_body(void **state) {
  (void)state;
  float x[60], ref[8], got[8];
  fill(x, 60);
  int64_t starts[3] = {1, 0, 4}, ends[3] = {3, 4, -10}, axes[3] = {0, 1, 2}, steps[3] = {1, 2, -2};
  gl_shape_t sx = {3, {3, 4, 5}}, s3 = {1, {3}};
  onenode_t o = {"Slice", 5, {GL_DT_F32, GL_DT_I64, GL_DT_I64, GL_DT_I64, GL_DT_I64}, {sx, s3, s3, s3, s3},
                 {x, starts, ends, axes, steps}, 0x1e, NULL, 0};
  /* [1:3, 0:4:2, 4::-2] -> [2, 2, 3] */
  enum { NY = 12 };
  float ref2[NY], got2[NY];
  (void)ref, (void)got;
  run_cpu(&o, ref2, NY);
  int64_t st[3] = {20, 5, 1}, start[3] = {1, 0, 4}, step[3] = {1, 2, -2}, dims[3] = {2, 2, 3};
  gl_k_perm_t p = {.rank = 3};
  int64_t off = 0;
  for (int d = 0; d < 3; d++) p.dims[d] = dims[d], p.in_st[d] = st[d] * step[d], off += start[d] * st[d];
  for (int64_t i = 0; i < NY; i++) got2[i] = x[gl_k_slice_offset(&p, off, i)];
  near(got2, ref2, NY, 0);
}

static void test_expand_tile_bodies(void **state) {
  (void)state;
  float x[3], ref[24], got[24];
  fill(x, 3);
  int64_t shape[3] = {2, 3, 4};
  gl_shape_t sx = {2, {3, 1}}, ss = {1, {3}};
  onenode_t o = {"Expand", 2, {GL_DT_F32, GL_DT_I64}, {sx, ss}, {x, shape}, 0x2, NULL, 0};
  run_cpu(&o, ref, 24);
  gl_k_perm_t p = {.rank = 3, .dims = {2, 3, 4}, .in_st = {0, 1, 0}}; /* bcast_strides of [3,1] in [2,3,4] */
  for (int64_t i = 0; i < 24; i++) got[i] = x[gl_k_perm_offset(&p, i)];
  near(got, ref, 24, 0);

  float t[6], tref[24], tgot[24];
  fill(t, 6);
  int64_t reps[2] = {2, 2};
  gl_shape_t st = {2, {2, 3}}, sr = {1, {2}};
  onenode_t ot = {"Tile", 2, {GL_DT_F32, GL_DT_I64}, {st, sr}, {t, reps}, 0x2, NULL, 0};
  run_cpu(&ot, tref, 24);
  gl_k_tile_t tl = {.rank = 2, .dims = {4, 6}, .in_dims = {2, 3}, .in_st = {3, 1}};
  for (int64_t i = 0; i < 24; i++) tgot[i] = t[gl_k_tile_offset(&tl, i)];
  near(tgot, tref, 24, 0);
}

static void test_pad_body(void **state) {
  (void)state;
  float x[6], ref[15], got[15], value = 0.5f;
  fill(x, 6);
  int64_t pads[4] = {1, 0, 0, 2}; /* dim 0: 1 before; dim 1: 2 after -> [3, 5] */
  gl_shape_t sx = {2, {2, 3}}, sp = {1, {4}}, sv = {0, {0}};
  onenode_t o = {"Pad", 3, {GL_DT_F32, GL_DT_I64, GL_DT_F32}, {sx, sp, sv}, {x, pads, &value}, 0x6, NULL, 0};
  run_cpu(&o, ref, 15);
  gl_k_pad_t p = {.rank = 2, .dims = {3, 5}, .in_dims = {2, 3}, .in_st = {3, 1}, .pre = {1, 0}};
  for (int64_t i = 0; i < 15; i++) {
    int64_t src = gl_k_pad_src(&p, i);
    got[i] = src < 0 ? value : x[src];
  }
  near(got, ref, 15, 0);
  gl_k_pad_t crop = {.rank = 1, .dims = {2}, .in_dims = {4}, .in_st = {1}, .pre = {-1}};
  assert_int_equal(gl_k_pad_src(&crop, 0), 1);
  assert_int_equal(gl_k_pad_src(&crop, 1), 2);
}

static void test_where_body(void **state) {
  (void)state;
  bool c[3] = {true, false, true};
  float a[4], b[12], ref[12], got[12];
  fill(a, 4), fill(b, 12);
  gl_shape_t sc = {2, {3, 1}}, sa = {2, {1, 4}}, sb = {2, {3, 4}};
  onenode_t o = {"Where", 3, {GL_DT_BOOL, GL_DT_F32, GL_DT_F32}, {sc, sa, sb}, {c, a, b}, 0, NULL, 0};
  run_cpu(&o, ref, 12);
  gl_k_bcast3_t bc = {.rank = 2, .dims = {3, 4}, .st = {{1, 0}, {0, 1}, {4, 1}}};
  for (int64_t i = 0; i < 12; i++) {
    int64_t off[3];
    gl_k_bcast3_offsets(&bc, i, off);
    got[i] = ((const unsigned char *)c)[off[0]] ? a[off[1]] : b[off[2]];
  }
  near(got, ref, 12, 0);
}

static void attr_to_i64(gl_graph_t *g, int ni) { gl_node_add_attr(g, ni, "to", GL_ATTR_INT)->i = GL_DT_I64; }
static void attr_to_f32(gl_graph_t *g, int ni) { gl_node_add_attr(g, ni, "to", GL_ATTR_INT)->i = GL_DT_F32; }
static void attr_to_bool(gl_graph_t *g, int ni) { gl_node_add_attr(g, ni, "to", GL_ATTR_INT)->i = GL_DT_BOOL; }

static void test_cast_body(void **state) {
  (void)state;
  enum { N = 64 };
  float x[N];
  for (int i = 0; i < N; i++) x[i] = (frand() * 1000.f);
  x[0] = 0.f, x[1] = -2.7f, x[2] = 2.7f;
  gl_shape_t s = {1, {N}};
  int64_t ref64[N], got64[N];
  onenode_t o = {"Cast", 1, {GL_DT_F32}, {s}, {x}, 0, attr_to_i64, GL_DT_I64};
  run_cpu(&o, ref64, N);
  for (int64_t i = 0; i < N; i++) gl_k_cast_at(GL_K_T_F32, GL_K_T_I64, x, got64, i);
  for (int i = 0; i < N; i++) assert_int_equal(got64[i], ref64[i]);
  float back_ref[N], back[N];
  onenode_t ob = {"Cast", 1, {GL_DT_I64}, {s}, {ref64}, 0, attr_to_f32, GL_DT_F32};
  run_cpu(&ob, back_ref, N);
  for (int64_t i = 0; i < N; i++) gl_k_cast_at(GL_K_T_I64, GL_K_T_F32, ref64, back, i);
  near(back, back_ref, N, 0);
  unsigned char bref[N], bgot[N];
  onenode_t oc = {"Cast", 1, {GL_DT_F32}, {s}, {x}, 0, attr_to_bool, GL_DT_BOOL};
  run_cpu(&oc, bref, N);
  for (int64_t i = 0; i < N; i++) gl_k_cast_at(GL_K_T_F32, GL_K_T_BOOL, x, bgot, i);
  for (int i = 0; i < N; i++) assert_int_equal(bgot[i], bref[i]);
  assert_int_equal(bgot[0], 0);
}

/* Pooling the way prep_pool sets up gpulet's own kernel, against the CPU backend: GoogLeNet's
 * ceil_mode max pool, an asymmetric average with and without counting the padding, a dilated max. */
typedef struct {
  const char *op;
  int64_t k, s, d, pb, pe;
  int ceil, count_pad;
} poolcase_t;
static const poolcase_t *g_pc;
static void attr_pool(gl_graph_t *g, int ni) {
  gl_attr_t *a = gl_node_add_attr(g, ni, "kernel_shape", GL_ATTR_INTS);
  a->n = 2, a->ints = gl_malloc(2 * sizeof(int64_t)), a->ints[0] = a->ints[1] = g_pc->k;
  a = gl_node_add_attr(g, ni, "strides", GL_ATTR_INTS);
  a->n = 2, a->ints = gl_malloc(2 * sizeof(int64_t)), a->ints[0] = a->ints[1] = g_pc->s;
  a = gl_node_add_attr(g, ni, "pads", GL_ATTR_INTS);
  a->n = 4, a->ints = gl_malloc(4 * sizeof(int64_t));
  a->ints[0] = a->ints[1] = g_pc->pb, a->ints[2] = a->ints[3] = g_pc->pe;
  if (g_pc->d != 1) {
    a = gl_node_add_attr(g, ni, "dilations", GL_ATTR_INTS);
    a->n = 2, a->ints = gl_malloc(2 * sizeof(int64_t)), a->ints[0] = a->ints[1] = g_pc->d;
  }
  if (g_pc->ceil) gl_node_add_attr(g, ni, "ceil_mode", GL_ATTR_INT)->i = 1;
  if (g_pc->count_pad) gl_node_add_attr(g, ni, "count_include_pad", GL_ATTR_INT)->i = 1;
}

static void test_pool_body(void **state) {
  (void)state;
  static const poolcase_t cases[] = {
      {"MaxPool", 3, 2, 1, 0, 0, 1, 0},     {"MaxPool", 3, 2, 1, 1, 1, 1, 0},
      {"AveragePool", 3, 2, 1, 0, 1, 0, 0}, {"AveragePool", 3, 2, 1, 0, 1, 0, 1},
      {"AveragePool", 2, 2, 1, 0, 0, 1, 1}, {"MaxPool", 2, 1, 2, 1, 0, 0, 0},
  };
  enum { N = 2, C = 3, H = 10, W = 10 };
  float x[N * C * H * W], ref[N * C * H * W], got[N * C * H * W];
  fill(x, N * C * H * W);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const poolcase_t *pc = &cases[c];
    g_pc = pc;
    int64_t ek = (pc->k - 1) * pc->d + 1, span = H + pc->pb + pc->pe - ek;
    int64_t out = (pc->ceil ? (span + pc->s - 1) / pc->s : span / pc->s) + 1;
    if (pc->ceil && (out - 1) * pc->s >= H + pc->pb) out--;
    gl_shape_t sx = {4, {N, C, H, W}};
    onenode_t o = {pc->op, 1, {GL_DT_F32}, {sx}, {x}, 0, attr_pool, 0};
    int64_t ny = N * C * out * out;
    run_cpu(&o, ref, ny);
    /* prep_pool's state: gl_nn_geom's pads (ceil_mode only changes the output size). */
    gl_k_pool_t kp = {.in = {1, H, W}, .out = {1, out, out}, .k = {1, pc->k, pc->k}, .s = {1, pc->s, pc->s},
                      .d = {1, pc->d, pc->d}, .pb = {0, pc->pb, pc->pb}, .pe = {0, pc->pe, pc->pe},
                      .is_max = !strcmp(pc->op, "MaxPool"), .count_pad = pc->count_pad};
    for (int64_t i = 0; i < ny; i++) got[i] = gl_k_pool_at(&kp, x, 0, i);
    near(got, ref, ny, 1e-6f);
  }
}

/* Resize through the host tables and the kernel body, against the CPU backend. */
static const char *g_mode, *g_coord, *g_nearest;
static void attr_str(gl_graph_t *g, int ni, const char *name, const char *v) {
  gl_attr_t *a = gl_node_add_attr(g, ni, name, GL_ATTR_STRING);
  a->s = gl_strdup(v);
  a->s_len = strlen(v);
}
static void attr_resize(gl_graph_t *g, int ni) {
  attr_str(g, ni, "mode", g_mode);
  attr_str(g, ni, "coordinate_transformation_mode", g_coord);
  attr_str(g, ni, "nearest_mode", g_nearest);
}

static void test_resize_body(void **state) {
  (void)state;
  static const struct { const char *mode, *coord, *nearest; } cases[] = {
      {"nearest", "half_pixel", "round_prefer_floor"}, {"nearest", "asymmetric", "floor"},
      {"linear", "half_pixel", "floor"},               {"linear", "align_corners", "floor"},
      {"linear", "pytorch_half_pixel", "floor"},
  };
  enum { NX = 2 * 4 * 5, NY = 2 * 10 * 8 };
  float x[NX], roi[1] = {0}, scales[4] = {1.f, 1.f, 2.5f, 1.6f}, ref[NY], got[NY];
  fill(x, NX);
  gl_shape_t sx = {4, {1, 2, 4, 5}}, sr = {1, {0}}, ss = {1, {4}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    g_mode = cases[c].mode, g_coord = cases[c].coord, g_nearest = cases[c].nearest;
    onenode_t o = {"Resize", 3, {GL_DT_F32, GL_DT_F32, GL_DT_F32}, {sx, sr, ss}, {x, roi, scales}, 0x6, attr_resize, 0};
    run_cpu(&o, ref, NY);
    /* The same node again, for the tables. */
    gl_graph_t *g = gl_graph_create();
    g->opset = 17;
    int in[3] = {gl_graph_add_value(g, "x"), gl_graph_add_value(g, "roi"), gl_graph_add_value(g, "scales")}, y = gl_graph_add_value(g, "y");
    g->values[in[0]].dtype = GL_DT_F32, g->values[in[0]].shape = sx;
    gl_tensor_t t;
    assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &sr), GL_OK);
    assert_int_equal(gl_value_set_const(g, in[1], &t), GL_OK);
    assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &ss), GL_OK);
    memcpy(t.data, scales, sizeof scales);
    assert_int_equal(gl_value_set_const(g, in[2], &t), GL_OK);
    int ni = gl_graph_add_node(g, "Resize", "r", in, 3, &y, 1);
    attr_resize(g, ni);
    gl_k_resize_t r = {.rank = 4, .odim = {1, 2, 10, 8}, .ist = {40, 20, 5, 1}};
    int64_t *tab = NULL, total = 0;
    int linear = 0;
    double extrap = 0;
    assert_int_equal(gl_cuda_resize_tables(g, &g->nodes[ni], &tab, r.off, &total, &linear, &extrap), GL_OK);
    assert_int_equal(total, 1 + 2 + 10 + 8);
    r.linear = linear, r.extrap = (float)extrap;
    for (int64_t i = 0; i < NY; i++) got[i] = gl_k_resize_at(&r, tab, tab + total, (const double *)(tab + 2 * total), x, 0, i);
    near(got, ref, NY, 1e-6f);
    gl_free(tab);
    gl_graph_destroy(g);
  }
}

/* ---------------------------------------------------------------- fp16 storage */
/* Known float -> half bit patterns (checked against IEEE round-to-nearest-even, e.g. Python's
 * struct 'e' format), both directions where exact. */
static void test_half_bits(void **state) {
  (void)state;
  static const struct { float f; uint16_t h; } enc[] = {
      {0.f, 0x0000}, {-0.f, 0x8000}, {1.f, 0x3c00}, {-2.f, 0xc000}, {0.5f, 0x3800},
      {65504.f, 0x7bff}, {65519.99f, 0x7bff}, {65520.f, 0x7c00}, {1e6f, 0x7c00}, {-1e6f, 0xfc00},
      {0.33333334f, 0x3555}, {0.1f, 0x2e66}, {3.14159265f, 0x4248},
      {1.00048828125f, 0x3c00} /* 1 + 2^-11: tie, to even */, {1.00146484375f, 0x3c02} /* tie, up to even */,
      {5.9604644775390625e-8f, 0x0001} /* 2^-24, the smallest subnormal */, {-5.9604644775390625e-8f, 0x8001},
      {2.98023223876953125e-8f, 0x0000} /* 2^-25: tie, to even zero */, {4.470348358154297e-8f, 0x0001},
      {1.4901161193847656e-7f, 0x0002} /* 2.5 * 2^-24: tie, to even */, {1e-8f, 0x0000},
      {6.097555160522461e-5f, 0x03ff} /* the largest subnormal */, {6.103515625e-5f, 0x0400} /* 2^-14 */,
      {6.102025508880615e-5f, 0x0400} /* rounds up into the smallest normal */, {1e-45f, 0x0000},
  };
  for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++)
    if (gl_k_f2h(enc[i].f) != enc[i].h)
      fail_msg("f2h(%.9g) = 0x%04x, expected 0x%04x", enc[i].f, gl_k_f2h(enc[i].f), enc[i].h);
  assert_true(isinf(gl_k_h2f(0x7c00)) && gl_k_h2f(0x7c00) > 0);
  assert_true(isinf(gl_k_h2f(0xfc00)) && gl_k_h2f(0xfc00) < 0);
  assert_true(gl_k_h2f(0x0001) == 5.9604644775390625e-8f);
  assert_true(gl_k_h2f(0x8400) == -6.103515625e-5f);
  assert_true(gl_k_h2f(0x7bff) == 65504.f);
  assert_true(gl_k_h2f(0x3555) == 0.333251953125f);
  assert_true(isnan(gl_k_h2f(gl_k_f2h(NAN))));
  assert_int_equal(gl_k_f2h(INFINITY), 0x7c00);
  assert_int_equal(gl_k_f2h(-INFINITY), 0xfc00);
  /* Every half round-trips through float exactly; NaNs stay NaN. */
  for (uint32_t b = 0; b < 0x10000; b++) {
    uint16_t h = (uint16_t)b;
    float f = gl_k_h2f(h);
    if (((b >> 10) & 0x1f) == 0x1f && (b & 0x3ff)) {
      assert_true(isnan(f));
      assert_true((gl_k_f2h(f) & 0x7c00) == 0x7c00 && (gl_k_f2h(f) & 0x3ff));
      continue;
    }
    if (gl_k_f2h(f) != h) fail_msg("0x%04x -> %.9g -> 0x%04x", h, f, gl_k_f2h(f));
  }
  /* Nearest: for random floats across the normal range the result is within half a half-ulp,
   * and no other half is closer. */
  for (int k = 0; k < 100000; k++) {
    float f = ldexpf(frand(), (int)(k % 30) - 20);
    uint16_t h = gl_k_f2h(f);
    double got = gl_k_h2f(h), err = fabs(got - f);
    double up = gl_k_h2f((uint16_t)(h + 1)), dn = h & 0x7fff ? gl_k_h2f((uint16_t)(h - 1)) : got;
    if (!(err <= fabs(up - f) && err <= fabs(dn - f)))
      fail_msg("f2h(%.9g) = %.9g is not the nearest half", f, got);
  }
}

static void to_half(const float *x, uint16_t *h, int64_t n) {
  for (int64_t i = 0; i < n; i++) h[i] = gl_k_f2h(x[i]);
}
static void from_half(const uint16_t *h, float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = gl_k_h2f(h[i]);
}

/* The fp16 tolerance of a body: inputs in [-2, 2] rounded to half, f32 arithmetic, one rounding
 * of the result: HALF_TOL * (1 + |ref|) against the CPU backend's f32 answer (half's epsilon
 * is 2^-10 ~ 1e-3; this allows a few roundings). */
#define HALF_TOL 4e-3f

/* fp16 elementwise bodies (unary, binary with broadcast, batchnorm, epilogue, conversions, Cast
 * to and from f16 storage) against the CPU backend in f32. */
static void test_half_elementwise(void **state) {
  (void)state;
  enum { N = 1000 };
  static float x[N], y[N], ref[N], got[N];
  static uint16_t xh[N], yh[N], oh[N];
  fill(x, N), fill(y, N);
  to_half(x, xh, N);
  static const struct { const char *op; int code; } un[] = {
      {"Relu", GL_K_RELU}, {"Sigmoid", GL_K_SIGMOID}, {"Tanh", GL_K_TANH}, {"Exp", GL_K_EXP},
      {"HardSwish", GL_K_HSWISH}, {"Erf", GL_K_ERF}, {"Abs", GL_K_ABS}};
  for (size_t c = 0; c < sizeof un / sizeof un[0]; c++) {
    onenode_t o = {un[c].op, 1, {GL_DT_F32}, {{1, {N}}}, {x}, 0, NULL, 0};
    run_cpu(&o, ref, N);
    for (int64_t i = 0; i < N; i++) gl_k_unary_at(un[c].code, xh, oh, 1, 0, 0, i);
    from_half(oh, got, N);
    near(got, ref, N, HALF_TOL);
  }
  /* binary with broadcast: [2,3,4,5] op [3,1,5] */
  gl_shape_t sa = {4, {2, 3, 4, 5}}, sb = {3, {3, 1, 5}};
  static const struct { const char *op; int code; } bin[] = {
      {"Add", GL_K_ADD}, {"Sub", GL_K_SUB}, {"Mul", GL_K_MUL}, {"Max", GL_K_MAX}};
  gl_k_bcast_t bc = {.rank = 4, .dims = {2, 3, 4, 5}, .st = {{60, 20, 5, 1}, {0, 5, 0, 1}}};
  to_half(y, yh, 15);
  for (size_t c = 0; c < sizeof bin / sizeof bin[0]; c++) {
    onenode_t o = {bin[c].op, 2, {GL_DT_F32, GL_DT_F32}, {sa, sb}, {x, y}, 0, NULL, 0};
    run_cpu(&o, ref, 120);
    for (int64_t i = 0; i < 120; i++) gl_k_binary_at(&bc, bin[c].code, xh, yh, oh, 1, i);
    from_half(oh, got, 120);
    near(got, ref, 120, HALF_TOL);
  }
  /* batchnorm over [2, 3, 10] with half parameters */
  enum { C = 3, IN = 10, NE = 2 * C * IN };
  float sc[C], bi[C], mu[C], var[C];
  uint16_t p16[4][C];
  fill(sc, C), fill(bi, C), fill(mu, C), fill(var, C);
  for (int c = 0; c < C; c++) var[c] = fabsf(var[c]) + 0.5f;
  to_half(sc, p16[0], C), to_half(bi, p16[1], C), to_half(mu, p16[2], C), to_half(var, p16[3], C);
  for (int64_t i = 0; i < NE; i++) {
    int c = (int)((i / IN) % C);
    ref[i] = (x[i] - mu[c]) / sqrtf(var[c] + 1e-5f) * sc[c] + bi[c];
    gl_k_batchnorm_at(xh, oh, p16[0], p16[1], p16[2], p16[3], 1, 1e-5f, C, IN, i);
  }
  from_half(oh, got, NE);
  near(got, ref, NE, 2 * HALF_TOL);
  /* epilogue: relu(y + bias[c] + sum) */
  for (int64_t i = 0; i < NE; i++) {
    float v = x[i] + bi[(i / IN) % C] + y[i];
    ref[i] = v > 0 ? v : 0;
    oh[i] = xh[i];
  }
  to_half(y, yh, NE);
  for (int64_t i = 0; i < NE; i++) gl_k_epilogue_at(oh, p16[1], yh, 1, C, IN, GL_K_RELU, 0, 0, i);
  from_half(oh, got, NE);
  near(got, ref, NE, HALF_TOL);
  /* the plan's edge conversions: f32 -> half -> f32 is one rounding */
  for (int64_t i = 0; i < N; i++) gl_k_convert_at(0, 1, x, oh, i);
  for (int64_t i = 0; i < N; i++) gl_k_convert_at(1, 0, oh, got, i);
  for (int64_t i = 0; i < N; i++) {
    assert_int_equal(oh[i], gl_k_f2h(x[i]));
    assert_true(fabsf(got[i] - x[i]) <= ldexpf(fabsf(x[i]), -11) + 1e-7f);
  }
  /* Cast from half storage to int64 truncates the stored value; int64 to half rounds. */
  int64_t iv[N], back[N];
  for (int64_t i = 0; i < N; i++) x[i] *= 1000.f;
  to_half(x, xh, N);
  for (int64_t i = 0; i < N; i++) gl_k_cast_at(GL_K_T_F16, GL_K_T_I64, xh, iv, i);
  for (int64_t i = 0; i < N; i++) assert_int_equal(iv[i], (int64_t)gl_k_h2f(xh[i]));
  for (int64_t i = 0; i < N; i++) gl_k_cast_at(GL_K_T_I64, GL_K_T_F16, iv, oh, i);
  for (int64_t i = 0; i < N; i++) gl_k_cast_at(GL_K_T_F16, GL_K_T_I64, oh, back, i);
  for (int64_t i = 0; i < N; i++) assert_true(llabs(back[i] - iv[i]) <= 1 + llabs(iv[i]) / 1024);
}

/* Pooling, resize and layernorm bodies reading half storage, against the CPU backend in f32. */
static void test_half_pool_norm(void **state) {
  (void)state;
  enum { N = 2, C = 3, H = 10, W = 10, NX = N * C * H * W };
  static float x[NX], ref[NX], got[NX];
  static uint16_t xh[NX];
  fill(x, NX);
  to_half(x, xh, NX);
  static const poolcase_t cases[] = {{"MaxPool", 3, 2, 1, 0, 0, 1, 0}, {"AveragePool", 3, 2, 1, 0, 1, 0, 1}};
  for (size_t c = 0; c < 2; c++) {
    const poolcase_t *pc = &cases[c];
    g_pc = pc;
    int64_t ek = (pc->k - 1) * pc->d + 1, span = H + pc->pb + pc->pe - ek;
    int64_t out = (pc->ceil ? (span + pc->s - 1) / pc->s : span / pc->s) + 1;
    if (pc->ceil && (out - 1) * pc->s >= H + pc->pb) out--;
    gl_shape_t sx = {4, {N, C, H, W}};
    onenode_t o = {pc->op, 1, {GL_DT_F32}, {sx}, {x}, 0, attr_pool, 0};
    int64_t ny = N * C * out * out;
    run_cpu(&o, ref, ny);
    gl_k_pool_t kp = {.in = {1, H, W}, .out = {1, out, out}, .k = {1, pc->k, pc->k}, .s = {1, pc->s, pc->s},
                      .d = {1, pc->d, pc->d}, .pb = {0, pc->pb, pc->pb}, .pe = {0, pc->pe, pc->pe},
                      .is_max = !strcmp(pc->op, "MaxPool"), .count_pad = pc->count_pad};
    for (int64_t i = 0; i < ny; i++) got[i] = gl_k_h2f(gl_k_f2h(gl_k_pool_at(&kp, xh, 1, i)));
    near(got, ref, ny, HALF_TOL);
  }
  /* layernorm rows of 50 with half scale and bias; statistics from the half inputs in f32 */
  enum { R = 12, L = 50 };
  float sc[L], bi[L];
  uint16_t sch[L], bih[L];
  fill(sc, L), fill(bi, L);
  to_half(sc, sch, L), to_half(bi, bih, L);
  gl_shape_t sr = {2, {R, L}}, sl = {1, {L}};
  onenode_t ln = {"LayerNormalization", 3, {GL_DT_F32, GL_DT_F32, GL_DT_F32}, {sr, sl, sl}, {x, sc, bi}, 0x6, NULL, 0};
  run_cpu(&ln, ref, R * L);
  for (int r = 0; r < R; r++) {
    float s = 0, q = 0;
    for (int j = 0; j < L; j++) s += gl_k_ldf(xh, 1, r * L + j);
    float mean = s / L;
    for (int j = 0; j < L; j++) q += (gl_k_ldf(xh, 1, r * L + j) - mean) * (gl_k_ldf(xh, 1, r * L + j) - mean);
    float inv = 1.f / sqrtf(q / L + 1e-5f);
    for (int j = 0; j < L; j++)
      got[r * L + j] = gl_k_h2f(gl_k_f2h(gl_k_layernorm_at(gl_k_ldf(xh, 1, r * L + j), mean, inv, sch, bih, 1, j)));
  }
  near(got, ref, R * L, 2 * HALF_TOL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unary),        cmocka_unit_test(test_binary_broadcast),
      cmocka_unit_test(test_batchnorm),    cmocka_unit_test(test_transpose),
      cmocka_unit_test(test_gather_bodies), cmocka_unit_test(test_concat),
      cmocka_unit_test(test_softmax_layernorm), cmocka_unit_test(test_slice_body),
      cmocka_unit_test(test_expand_tile_bodies), cmocka_unit_test(test_pad_body),
      cmocka_unit_test(test_where_body),   cmocka_unit_test(test_cast_body),
      cmocka_unit_test(test_pool_body),    cmocka_unit_test(test_resize_body),
      cmocka_unit_test(test_half_bits),    cmocka_unit_test(test_half_elementwise),
      cmocka_unit_test(test_half_pool_norm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
