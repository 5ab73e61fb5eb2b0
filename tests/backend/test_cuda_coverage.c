/* tests/backend/test_cuda_coverage.c - every live node of every zoo model's prepared graph (fused,
 * folded, at batch 1 and 8) has a CUDA kernel whose dtype and attribute limits it meets; checked
 * on the CPU through the module's own op list and limits (backend/cuda_support.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backend/cuda/cuda_optable.h"
#include "backend/cuda_support.h"
#include "core/alloc.h"
#include "engine/engine.h"
#include "zoo/zoo.h"

static void check_model(const char *name, int64_t batch) {
  gl_zoo_opts_t zo = {.seed = 1, .batch = 0, .seq = 128};
  gl_graph_t *g = NULL;
  assert_int_equal(gl_zoo_build(name, &zo, &g), GL_OK);
  gl_model_t *m = NULL;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  gl_compile_opts_t co = {.batch = batch};
  gl_graph_t *pg = NULL;
  gl_status_t st = gl_model_prepare(m, &co, &pg);
  if (st) fprintf(stderr, "%s: %s\n", name, gl_errmsg());
  assert_int_equal(st, GL_OK);
  int missing = 0, live = 0, n_ops = 0;
  const char *ops[64];
  for (int i = 0; i < pg->n_nodes; i++) {
    const gl_node_t *n = &pg->nodes[i];
    if (n->dead) continue;
    live++;
    int seen = 0;
    for (int k = 0; k < n_ops; k++) seen |= !strcmp(ops[k], n->op_type);
    if (!seen && n_ops < 64) ops[n_ops++] = n->op_type;
    if (gl_cuda_node_supported(pg, n) != GL_OK) {
      fprintf(stderr, "%s b%lld: %s\n", name, (long long)batch, gl_errmsg());
      missing++;
    }
  }
  printf("%-14s batch %2lld: %d live nodes, %d without a CUDA kernel\n", name, (long long)batch,
         live, missing);
  for (int k = 0; k < n_ops; k++) printf("%s%s", k ? " " : "  ops: ", ops[k]);
  printf("\n");
  assert_true(live > 0);
  assert_int_equal(missing, 0);
  gl_graph_destroy(pg);
  gl_model_destroy(m);
}

static void test_zoo_covered(void **state) {
  (void)state;
  for (int i = 0; i < gl_zoo_count(); i++) {
    check_model(gl_zoo_info(i)->name, 1);
    check_model(gl_zoo_info(i)->name, 8);
  }
}

/* The list can fail: an op the module lacks is reported. */
static void test_unknown_op(void **state) {
  (void)state;
  assert_true(gl_cuda_has_op("Conv"));
  assert_true(gl_cuda_has_op("MatMul"));
  assert_false(gl_cuda_has_op("NonMaxSuppression"));
  assert_false(gl_cuda_has_op("conv"));
}

/* The limits can fail: a non-last softmax axis, Gemm's beta, an unknown op; asymmetric pooling
 * is accepted (gpulet's own pool kernel). */
static void test_limits_refuse(void **state) {
  (void)state;
  gl_graph_t *g = gl_graph_create();
  g->opset = 13;
  int x = gl_graph_add_value(g, "x"), y = gl_graph_add_value(g, "y"), z = gl_graph_add_value(g, "z");
  g->values[x].dtype = g->values[y].dtype = g->values[z].dtype = GL_DT_F32;
  g->values[x].shape = (gl_shape_t){4, {1, 2, 5, 5}};
  g->values[y].shape = (gl_shape_t){4, {1, 2, 5, 5}};
  g->values[z].shape = (gl_shape_t){4, {1, 2, 3, 3}};
  int sm = gl_graph_add_node(g, "Softmax", "sm", &x, 1, &y, 1);
  gl_node_add_attr(g, sm, "axis", GL_ATTR_INT)->i = 1;
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[sm]), GL_EUNSUPPORTED);
  int sm2 = gl_graph_add_node(g, "Softmax", "sm2", &x, 1, &y, 1);
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[sm2]), GL_OK);
  int mp = gl_graph_add_node(g, "MaxPool", "mp", &x, 1, &z, 1);
  gl_attr_t *k = gl_node_add_attr(g, mp, "kernel_shape", GL_ATTR_INTS);
  k->n = 2;
  k->ints = gl_malloc(2 * sizeof(int64_t));
  k->ints[0] = k->ints[1] = 3;
  gl_attr_t *pads = gl_node_add_attr(g, mp, "pads", GL_ATTR_INTS);
  pads->n = 4;
  pads->ints = gl_malloc(4 * sizeof(int64_t));
  pads->ints[0] = pads->ints[1] = 0, pads->ints[2] = pads->ints[3] = 0;
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[mp]), GL_OK);
  pads->ints[2] = pads->ints[3] = 1; /* end pads only: asymmetric, gpulet's own pool kernel */
  g->values[z].shape = (gl_shape_t){4, {1, 2, 4, 4}};
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[mp]), GL_OK);
  int ab[3] = {gl_graph_add_value(g, "a"), gl_graph_add_value(g, "b"), gl_graph_add_value(g, "c")};
  int gy = gl_graph_add_value(g, "gy");
  g->values[ab[0]].shape = (gl_shape_t){2, {2, 3}};
  g->values[ab[1]].shape = (gl_shape_t){2, {3, 4}};
  g->values[ab[2]].shape = (gl_shape_t){1, {4}};
  g->values[gy].shape = (gl_shape_t){2, {2, 4}};
  for (int i = 0; i < 3; i++) g->values[ab[i]].dtype = GL_DT_F32;
  g->values[gy].dtype = GL_DT_F32;
  int gm = gl_graph_add_node(g, "Gemm", "gemm", ab, 3, &gy, 1);
  g->nodes[gm].fuse.sum_input = -1;
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[gm]), GL_OK);
  gl_node_add_attr(g, gm, "beta", GL_ATTR_FLOAT)->f = 0.5f;
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[gm]), GL_EUNSUPPORTED);
  int nm = gl_graph_add_node(g, "NonMaxSuppression", "nms", &x, 1, &y, 1);
  assert_int_equal(gl_cuda_node_supported(g, &g->nodes[nm]), GL_EUNSUPPORTED);
  gl_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_zoo_covered), cmocka_unit_test(test_unknown_op),
                                     cmocka_unit_test(test_limits_refuse)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
