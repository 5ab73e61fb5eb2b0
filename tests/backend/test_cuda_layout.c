/* tests/backend/test_cuda_layout.c - the CUDA plan's channels-last pieces on the CPU: the layout
 * pass's decisions (cuda_layout.h) on a hand-built graph, the NCHW <-> NHWC conversion body and
 * the KRSC weights against index formulas, and the channels-last pooling body against the NCHW one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_layout.h"
#include "core/alloc.h"
#include "engine/engine.h"
#include "graph/graph.h"
#include "zoo/zoo.h"

static float val(int64_t i) { return (float)((i * 7919) % 1009) - 500.f; }

static void test_relayout_body(void **state) {
  (void)state;
  enum { N = 2, C = 3, H = 4, W = 5, NEL = N * C * H * W };
  float x[NEL], y[NEL], back[NEL];
  for (int i = 0; i < NEL; i++) x[i] = val(i);
  gl_k_perm_t to, from;
  gl_k_relayout_perm(&to, N, C, H, W, 1);
  gl_k_relayout_perm(&from, N, C, H, W, 0);
  for (int64_t i = 0; i < NEL; i++) y[i] = x[gl_k_perm_offset(&to, i)];
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          assert_true(y[((n * H + h) * W + w) * C + c] == x[((n * C + c) * H + h) * W + w]);
  for (int64_t i = 0; i < NEL; i++) back[i] = y[gl_k_perm_offset(&from, i)];
  assert_memory_equal(back, x, sizeof x);
}

static void test_nhwc_weights(void **state) {
  (void)state;
  gl_tensor_t w, k;
  gl_shape_t s = {4, {5, 3, 2, 3}};
  assert_int_equal(gl_tensor_alloc(&w, GL_DT_F32, &s), GL_OK);
  float *src = w.data;
  for (int i = 0; i < 90; i++) src[i] = val(i);
  assert_int_equal(gl_cu_nhwc_weights(&w, &k), GL_OK);
  assert_int_equal(k.shape.rank, 4); /* logical KCRS shape kept; the bytes are KRSC */
  assert_int_equal(k.shape.d[1], 3);
  const float *dst = k.data;
  for (int o = 0; o < 5; o++)
    for (int c = 0; c < 3; c++)
      for (int r = 0; r < 2; r++)
        for (int q = 0; q < 3; q++) assert_true(dst[((o * 2 + r) * 3 + q) * 3 + c] == src[((o * 3 + c) * 2 + r) * 3 + q]);
  gl_tensor_fini(&k);
  gl_shape_t s3 = {3, {5, 3, 2}};
  w.shape = s3;
  assert_int_equal(gl_cu_nhwc_weights(&w, &k), GL_EINVAL);
  w.shape = s;
  gl_tensor_fini(&w);
}

/* gpulet's own pooling kernel channels-last gives the NCHW result, permuted. */
static void test_nhwc_pool_body(void **state) {
  (void)state;
  enum { N = 2, C = 3, H = 7, W = 6 };
  static const gl_k_pool_t cases[] = {
      /* 3x3 stride 2, ceil_mode-like asymmetric end padding, max */
      {.in = {1, H, W}, .out = {1, 4, 3}, .k = {1, 3, 3}, .s = {1, 2, 2}, .d = {1, 1, 1}, .pb = {0, 0, 0},
       .pe = {0, 2, 1}, .is_max = 1},
      /* 2x2 average counting the padding, dilation 2 */
      {.in = {1, H, W}, .out = {1, 5, 4}, .k = {1, 2, 2}, .s = {1, 1, 1}, .d = {1, 2, 2}, .pb = {0, 1, 1},
       .pe = {0, 0, 0}, .count_pad = 1},
      /* average excluding the padding */
      {.in = {1, H, W}, .out = {1, 4, 4}, .k = {1, 3, 3}, .s = {1, 2, 2}, .d = {1, 1, 1}, .pb = {0, 1, 1},
       .pe = {0, 1, 2}},
  };
  float x[N * C * H * W], xh[N * C * H * W], ref[N * C * 5 * 4], got[N * C * 5 * 4];
  for (int i = 0; i < N * C * H * W; i++) x[i] = val(i) / 100.f;
  gl_k_perm_t to;
  gl_k_relayout_perm(&to, N, C, H, W, 1);
  for (int64_t i = 0; i < N * C * H * W; i++) xh[i] = x[gl_k_perm_offset(&to, i)];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    gl_k_pool_t p = cases[c];
    int64_t oh = p.out[1], ow = p.out[2], ny = N * C * oh * ow;
    for (int64_t i = 0; i < ny; i++) ref[i] = gl_k_pool_at(&p, x, 0, i);
    p.nhwc = 1;
    p.c = C;
    for (int64_t i = 0; i < ny; i++) got[i] = gl_k_pool_at(&p, xh, 0, i);
    gl_k_perm_t back;
    gl_k_relayout_perm(&back, N, C, oh, ow, 0);
    for (int64_t i = 0; i < ny; i++) assert_true(got[gl_k_perm_offset(&back, i)] == ref[i]);
  }
}

/* ---- the layout pass ---- */
static int value(gl_graph_t *g, const char *name, int rank, const int64_t *d) {
  int v = gl_graph_add_value(g, name);
  g->values[v].dtype = GL_DT_F32;
  g->values[v].shape.rank = rank;
  for (int i = 0; i < rank; i++) g->values[v].shape.d[i] = d[i];
  return v;
}

static int constant(gl_graph_t *g, const char *name, int rank, const int64_t *d) {
  int v = value(g, name, rank, d);
  gl_tensor_t t;
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &g->values[v].shape), GL_OK);
  assert_int_equal(gl_value_set_const(g, v, &t), GL_OK);
  return v;
}

static int node(gl_graph_t *g, const char *op, int a, int b, int y) {
  int in[2] = {a, b};
  int ni = gl_graph_add_node(g, op, NULL, in, b >= 0 ? 2 : 1, &y, 1);
  assert_true(ni >= 0);
  g->nodes[ni].fuse.sum_input = -1;
  return ni;
}

static void test_layout_pass(void **state) {
  (void)state;
  gl_graph_t *g = gl_graph_create();
  static const int64_t s8[4] = {1, 3, 8, 8}, s48[4] = {1, 4, 8, 8}, s44[4] = {1, 4, 4, 4}, s41[4] = {1, 4, 1, 1},
                       w1s[4] = {4, 3, 3, 3}, w2s[4] = {4, 4, 1, 1}, k3s[3] = {4, 4, 4}, fls[2] = {1, 4},
                       r2[2] = {4, 16}, cc[4] = {1, 8, 4, 4};
  int x = value(g, "x", 4, s8);
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  int w1 = constant(g, "w1", 4, w1s), w2 = constant(g, "w2", 4, w2s), w3 = constant(g, "w3", 4, w2s);
  int k3 = constant(g, "k3", 3, k3s), sc = constant(g, "sc", 4, s41);
  int a = value(g, "a", 4, s48), b = value(g, "b", 4, s48), c = value(g, "c", 4, s44), d = value(g, "d", 4, s44);
  int e = value(g, "e", 4, s44), f = value(g, "f", 4, s44), r = value(g, "r", 2, r2), gp = value(g, "gp", 4, s41);
  int fl = value(g, "fl", 2, fls), out = value(g, "out", 4, s44), cat = value(g, "cat", 4, cc);
  int lrn = value(g, "lrn", 4, s48), m = value(g, "m", 4, s44), m2 = value(g, "m2", 4, s44);
  int n_conv1 = node(g, "Conv", x, w1, a);     /* NHWC; x converted */
  int n_relu = node(g, "Relu", a, -1, b);      /* follows a */
  int n_pool = node(g, "MaxPool", b, -1, c);   /* follows b */
  int n_conv2 = node(g, "Conv", c, w2, d);     /* NHWC, c as is */
  int n_add = node(g, "Add", c, d, e);         /* both NHWC */
  int n_addk = node(g, "Add", e, k3, f);       /* [4,4,4] operand: not channels-last */
  int n_resh = node(g, "Reshape", e, -1, r);   /* reads NCHW */
  int n_gap = node(g, "GlobalAveragePool", e, -1, gp); /* NHWC; its [1,4,1,1] has one layout */
  int n_flat = node(g, "Flatten", gp, -1, fl); /* reads gp as is */
  int n_conv3 = node(g, "Conv", d, w3, out);   /* a graph output: runs NCHW */
  int n_cat = node(g, "Concat", c, d, cat);    /* NHWC */
  int n_lrn = node(g, "LRN", b, -1, lrn);      /* NCHW only */
  int n_mul = node(g, "Mul", e, sc, m);        /* per-channel scale: NHWC */
  int n_relu2 = node(g, "Relu", f, -1, m2);    /* f is NCHW: stays NCHW */
  static const int64_t tps[4] = {1, 4, 4, 4}, perm[4] = {0, 2, 3, 1}, perm2[4] = {0, 3, 1, 2};
  int tp = value(g, "tp", 4, tps), tp2 = value(g, "tp2", 4, tps);
  int n_tp = node(g, "Transpose", d, -1, tp);   /* NHWC -> plain [n,h,w,c]: a view */
  int n_tp2 = node(g, "Transpose", d, -1, tp2); /* another permutation: reads NCHW */
  gl_attr_t *pa = gl_node_add_attr(g, n_tp, "perm", GL_ATTR_INTS);
  pa->n = 4, pa->ints = gl_malloc(sizeof perm), memcpy(pa->ints, perm, sizeof perm);
  pa = gl_node_add_attr(g, n_tp2, "perm", GL_ATTR_INTS);
  pa->n = 4, pa->ints = gl_malloc(sizeof perm2), memcpy(pa->ints, perm2, sizeof perm2);
  assert_int_equal(gl_graph_add_output(g, tp), GL_OK);
  assert_int_equal(gl_graph_add_output(g, tp2), GL_OK);
  int outs[] = {f, r, fl, out, cat, lrn, m, m2};
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
    if (outs[i] != cat && outs[i] != m) assert_int_equal(gl_graph_add_output(g, outs[i]), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);

  gl_cu_layout_t L;
  assert_int_equal(gl_cu_layout_plan(g, 1, &L), GL_OK);
  /* nodes kept their order (already topological) */
  assert_string_equal(g->nodes[n_conv1].op_type, "Conv");
  assert_int_equal(L.node_nhwc[n_conv1], 1);
  assert_int_equal(L.node_nhwc[n_relu], 1);
  assert_int_equal(L.node_nhwc[n_pool], 1);
  assert_int_equal(L.node_nhwc[n_conv2], 1);
  assert_int_equal(L.node_nhwc[n_add], 1);
  assert_int_equal(L.node_nhwc[n_addk], 0);
  assert_int_equal(L.node_nhwc[n_resh], 0);
  assert_int_equal(L.node_nhwc[n_gap], 1);
  assert_int_equal(L.node_nhwc[n_flat], 0);
  assert_int_equal(L.node_nhwc[n_conv3], 0);
  assert_int_equal(L.node_nhwc[n_cat], 1);
  assert_int_equal(L.node_nhwc[n_lrn], 0);
  assert_int_equal(L.node_nhwc[n_mul], 1);
  assert_int_equal(L.node_nhwc[n_relu2], 0);
  assert_int_equal(L.node_nhwc[n_tp], 1);
  assert_true(gl_cu_lay_is_nhwc_view(g, &L, n_tp));
  assert_int_equal(L.val_nhwc[tp], 0); /* plain, and a graph output */
  assert_int_equal(gl_cu_layout_need(g, &L, n_tp, 0), GL_CU_LAY_ASIS);
  assert_int_equal(L.node_nhwc[n_tp2], 0);
  assert_false(gl_cu_lay_is_nhwc_view(g, &L, n_tp2));
  assert_int_equal(gl_cu_layout_need(g, &L, n_tp2, 0), GL_CU_LAY_TO_NCHW);
  assert_int_equal(L.val_nhwc[x], 0);  /* graph inputs stay NCHW */
  assert_int_equal(L.val_nhwc[a], 1);
  assert_int_equal(L.val_nhwc[e], 1);
  assert_int_equal(L.val_nhwc[gp], 0); /* same bytes in both layouts */
  assert_int_equal(L.val_nhwc[out], 0);
  assert_int_equal(L.val_nhwc[f], 0);
  assert_int_equal(L.val_nhwc[w1], 0); /* weights are handled apart (KRSC copies) */
  /* conversions */
  assert_int_equal(gl_cu_layout_need(g, &L, n_conv1, 0), GL_CU_LAY_TO_NHWC);
  assert_int_equal(gl_cu_layout_need(g, &L, n_conv1, 1), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_relu, 0), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_conv2, 0), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_add, 0), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_add, 1), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_addk, 0), GL_CU_LAY_TO_NCHW);
  assert_int_equal(gl_cu_layout_need(g, &L, n_addk, 1), GL_CU_LAY_ASIS); /* rank 3: not a layout */
  assert_int_equal(gl_cu_layout_need(g, &L, n_resh, 0), GL_CU_LAY_TO_NCHW);
  assert_int_equal(gl_cu_layout_need(g, &L, n_flat, 0), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_conv3, 0), GL_CU_LAY_TO_NCHW);
  assert_int_equal(gl_cu_layout_need(g, &L, n_lrn, 0), GL_CU_LAY_TO_NCHW);
  assert_int_equal(gl_cu_layout_need(g, &L, n_mul, 1), GL_CU_LAY_ASIS);
  assert_int_equal(gl_cu_layout_need(g, &L, n_relu2, 0), GL_CU_LAY_ASIS);
  gl_cu_layout_fini(&L);

  /* Off: everything NCHW, nothing converted. */
  assert_int_equal(gl_cu_layout_plan(g, 0, &L), GL_OK);
  for (int i = 0; i < g->n_nodes; i++) {
    assert_int_equal(L.node_nhwc[i], 0);
    for (int k = 0; k < g->nodes[i].n_inputs; k++) assert_int_equal(gl_cu_layout_need(g, &L, i, k), GL_CU_LAY_ASIS);
  }
  gl_cu_layout_fini(&L);
  gl_graph_destroy(g);
  assert_int_equal(gl_alloc_live_count(), 0);
}

/* A conv whose input is a rank-4 broadcast operand needing no conversion, and the fused residual
 * of a channels-last conv converted when it comes NCHW. */
static void test_layout_residual(void **state) {
  (void)state;
  gl_graph_t *g = gl_graph_create();
  static const int64_t s[4] = {1, 4, 6, 6}, ws[4] = {4, 4, 3, 3};
  int x = value(g, "x", 4, s), z = value(g, "z", 4, s);
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  assert_int_equal(gl_graph_add_input(g, z), GL_OK);
  int w = constant(g, "w", 4, ws), y = value(g, "y", 4, s), o = value(g, "o", 4, s);
  int in[3] = {x, w, z};
  int nc = gl_graph_add_node(g, "Conv", NULL, in, 3, &y, 1);
  g->nodes[nc].fuse.sum_input = 2;
  g->nodes[nc].fuse.act = GL_ACT_RELU;
  int nr = node(g, "Sigmoid", y, -1, o);
  assert_int_equal(gl_graph_add_output(g, o), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_cu_layout_t L;
  assert_int_equal(gl_cu_layout_plan(g, gl_cu_layout_enabled(NULL, 1), &L), GL_OK);
  assert_int_equal(L.node_nhwc[nc], 1);
  assert_int_equal(gl_cu_layout_need(g, &L, nc, 0), GL_CU_LAY_TO_NHWC);
  assert_int_equal(gl_cu_layout_need(g, &L, nc, 2), GL_CU_LAY_TO_NHWC); /* the residual follows y */
  assert_int_equal(L.node_nhwc[nr], 0); /* its output is the graph's: NCHW */
  assert_int_equal(gl_cu_layout_need(g, &L, nr, 0), GL_CU_LAY_TO_NCHW);
  gl_cu_layout_fini(&L);
  /* The option: unset = on at fp16 only; "0" off; "1" on. */
  assert_int_equal(gl_cu_layout_enabled(NULL, 0), 0);
  assert_int_equal(gl_cu_layout_enabled("0", 1), 0);
  assert_int_equal(gl_cu_layout_enabled("1", 0), 1);
  gl_graph_destroy(g);
}

/* The pass on every zoo model's prepared graph (batch 8): every 2-D Conv with constant weights runs
 * channels-last unless it writes a graph output; no value is converted twice in one direction;
 * every channels-last node's activations arrive NHWC (or of one layout). Prints the counts the GPU
 * checklist's fp16 A/B will be read against. ResNet-50 needs exactly one conversion (its input). */
static void test_layout_zoo(void **state) {
  (void)state;
  for (int z = 0; z < gl_zoo_count(); z++) {
    const char *name = gl_zoo_info(z)->name;
    gl_zoo_opts_t zo = {.seed = 1, .batch = 0, .seq = 128};
    gl_graph_t *g0 = NULL, *g = NULL;
    assert_int_equal(gl_zoo_build(name, &zo, &g0), GL_OK);
    gl_model_t *m = NULL;
    assert_int_equal(gl_model_from_graph(g0, &m), GL_OK);
    gl_compile_opts_t co = {.batch = 8};
    assert_int_equal(gl_model_prepare(m, &co, &g), GL_OK);
    gl_cu_layout_t L;
    assert_int_equal(gl_cu_layout_plan(g, 1, &L), GL_OK);
    uint8_t *seen = gl_calloc((size_t)g->n_values * 2 + 1, 1);
    assert_non_null(seen);
    int convs = 0, nhwc_convs = 0, nhwc_nodes = 0, to_nhwc = 0, to_nchw = 0, live = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      const gl_node_t *n = &g->nodes[i];
      if (n->dead) continue;
      live++;
      nhwc_nodes += L.node_nhwc[i];
      if (!strcmp(n->op_type, "Conv") && gl_cu_lay_rank4(gl_in(g, n, 0))) {
        convs++;
        nhwc_convs += L.node_nhwc[i];
        if (gl_in(g, n, 1)->data && !gl_out(g, n, 0)->is_output) assert_int_equal(L.node_nhwc[i], 1);
      }
      for (int k = 0; k < n->n_inputs; k++) {
        int dir = gl_cu_layout_need(g, &L, i, k), v = n->inputs[k];
        if (dir == GL_CU_LAY_ASIS) {
          /* what the node reads as is is in its layout, or of one layout */
          if (v >= 0 && gl_cu_lay_rank4(&g->values[v]) && !gl_cu_lay_same_bytes(&g->values[v].shape) &&
              gl_cu_lay_slot(n, k))
            assert_int_equal(L.val_nhwc[v], L.node_nhwc[i]);
          continue;
        }
        if (!seen[(dir - 1) * g->n_values + v]) *(dir == GL_CU_LAY_TO_NHWC ? &to_nhwc : &to_nchw) += 1;
        seen[(dir - 1) * g->n_values + v] = 1;
      }
    }
    for (int k = 0; k < g->n_outputs; k++) assert_int_equal(L.val_nhwc[g->outputs[k]], 0);
    printf("%-14s %3d live nodes, %3d/%3d convs and %3d nodes channels-last, %d to NHWC, %d to NCHW\n", name, live,
           nhwc_convs, convs, nhwc_nodes, to_nhwc, to_nchw);
    if (!strcmp(name, "resnet50")) {
      assert_int_equal(to_nhwc, 1);
      assert_int_equal(to_nchw, 0);
      assert_int_equal(nhwc_convs, convs);
    }
    gl_free(seen);
    gl_cu_layout_fini(&L);
    gl_graph_destroy(g);
    gl_model_destroy(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relayout_body), cmocka_unit_test(test_nhwc_weights),
      cmocka_unit_test(test_nhwc_pool_body), cmocka_unit_test(test_layout_pass),
      cmocka_unit_test(test_layout_residual), cmocka_unit_test(test_layout_zoo),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
