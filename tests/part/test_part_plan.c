/* tests/part/test_part_plan.c - a compiled plan runs inside a partition's executor with exactly
 * the partition's threads, and gives the same numbers as a plain reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "graph/passes.h"
#include "part/part.h"

enum { M = 16, K = 96, N = 64 };

typedef struct {
  gl_backend_t *be;
  const gl_graph_t *g;
  gl_plan_t *plan;
  gl_tensor_t in, out;
  int threads_in_job, threads_after;
} job_t;

static gl_status_t compile_job(gl_part_t *p, void *arg) {
  job_t *j = arg;
  gl_placement_t pl;
  gl_part_placement(p, &pl);
  return gl_plan_create(j->be, j->g, &pl, &j->plan);
}

static gl_status_t run_job(gl_part_t *p, void *arg) {
  job_t *j = arg;
  j->threads_in_job = omp_get_max_threads();
  gl_status_t st = gl_plan_run(j->plan, &j->in, &j->out);
  if (st == GL_OK) st = gl_plan_wait(j->plan);
  j->threads_after = omp_get_max_threads();
  return st;
}

static void test_plan_in_partition(void **state) {
  (void)state;
  /* x[M,K] x w[K,N] as MatMul (oneDNN) or, where that kernel is missing, as Einsum "ij,jk->ik". */
  bool matmul = gl_cpu_supports("MatMul");
  if (!matmul && !gl_cpu_supports("Einsum")) skip(); /* no kernels in this build yet */
  gl_graph_t *g = gl_graph_create();
  int x = gl_graph_add_value(g, "x"), y = gl_graph_add_value(g, "y");
  g->values[x].dtype = GL_DT_F32;
  g->values[x].shape = (gl_shape_t){2, {M, K}};
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  int wv = gl_graph_add_value(g, "w");
  gl_tensor_t wt;
  assert_int_equal(gl_tensor_alloc(&wt, GL_DT_F32, &(gl_shape_t){2, {K, N}}), GL_OK);
  float *w = gl_malloc(sizeof(float) * K * N);
  for (int i = 0; i < K * N; i++) w[i] = (float)((i * 7) % 13 - 6) * 0.05f;
  memcpy(wt.data, w, sizeof(float) * K * N);
  assert_int_equal(gl_value_set_const(g, wv, &wt), GL_OK);
  int ins[2] = {x, wv};
  int ni = gl_graph_add_node(g, matmul ? "MatMul" : "Einsum", "mm", ins, 2, &y, 1);
  assert_true(ni >= 0);
  if (!matmul) {
    gl_attr_t *a = gl_node_add_attr(g, ni, "equation", GL_ATTR_STRING);
    assert_non_null(a);
    a->s = gl_strdup("ij,jk->ik");
    a->s_len = strlen(a->s);
  }
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_prepare_opts_t po = {0};
  assert_int_equal(gl_graph_prepare(g, &po, gl_cpu_eval, NULL), GL_OK);

  gl_part_dev_t *d;
  assert_int_equal(gl_part_dev_cpu_create(&d), GL_OK);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  gl_part_t *p;
  gl_part_grant_t grant;
  assert_int_equal(gl_part_create(d, 1.0 / info.units_total, NULL, &p, &grant), GL_OK);

  job_t j = {.g = g};
  assert_int_equal(gl_cpu_backend_create(&j.be), GL_OK);
  assert_int_equal(gl_part_run_sync(p, compile_job, &j), GL_OK);
  assert_int_equal(gl_tensor_alloc(&j.in, GL_DT_F32, &g->values[x].shape), GL_OK);
  float *xi = j.in.data;
  for (int i = 0; i < M * K; i++) xi[i] = (float)((i * 5) % 11 - 5) * 0.1f;
  assert_int_equal(gl_plan_alloc_outputs(j.plan, &j.out), GL_OK);
  assert_int_equal(gl_part_run_sync(p, run_job, &j), GL_OK);
  assert_int_equal(j.threads_in_job, grant.threads);
  assert_int_equal(j.threads_after, grant.threads);
  const float *yo = j.out.data;
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) {
      double ref = 0;
      for (int k = 0; k < K; k++) ref += (double)xi[r * K + k] * w[k * N + c];
      assert_true(fabs(yo[r * N + c] - ref) <= 1e-4 + 1e-4 * fabs(ref));
    }
  gl_tensor_fini(&j.in);
  gl_tensor_fini(&j.out);
  gl_free(w);
  gl_part_destroy(p);
  gl_plan_destroy(j.plan);
  gl_backend_destroy(j.be);
  gl_part_dev_destroy(d);
  gl_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_plan_in_partition)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
