/* tests/backend/test_cuda_coverage.c - every live node of every zoo model's prepared graph (fused,
 * folded, at batch 1 and 8) has a CUDA kernel and dtypes the CUDA module accepts; checked on the
 * CPU through the module's own op list (backend/cuda/cuda_optable.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backend/cuda/cuda_optable.h"
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
    if (!gl_cuda_has_op(n->op_type)) {
      fprintf(stderr, "%s b%lld: no CUDA kernel for %s (%s)\n", name, (long long)batch, n->op_type,
              gl_node_label(n));
      missing++;
    } else if (!gl_cuda_node_dtypes_ok(pg, n)) {
      fprintf(stderr, "%s b%lld: CUDA refuses the dtypes of %s\n", name, (long long)batch,
              gl_node_label(n));
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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_zoo_covered), cmocka_unit_test(test_unknown_op)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
