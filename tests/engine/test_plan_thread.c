/* tests/engine/test_plan_thread.c - a CPU plan runs on the thread that compiled it; from another
 * thread it answers GL_ESTATE instead of running oneDNN primitives whose library scratchpad
 * belongs to the compiling thread (that crashed ResNet-50's gemm convs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"

static gl_plan_t *plan;
static float xs[8], ys[8];
static gl_status_t other_status;

static gl_status_t run_once(void) {
  gl_tensor_t in = {.dtype = GL_DT_F32, .shape = {1, {8}}, .data = xs};
  gl_tensor_t out = {.dtype = GL_DT_F32, .shape = {1, {8}}, .data = ys};
  return gl_plan_run(plan, &in, &out);
}

static void *other(void *arg) {
  (void)arg;
  other_status = run_once();
  return NULL;
}

static void test_owner_thread(void **state) {
  (void)state;
  gl_graph_t *g = gl_graph_create();
  int x = gl_graph_add_value(g, "x"), y = gl_graph_add_value(g, "y");
  g->values[x].dtype = GL_DT_F32;
  g->values[x].shape = (gl_shape_t){1, {8}};
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  assert_true(gl_graph_add_node(g, "Relu", "r", &x, 1, &y, 1) >= 0);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_model_t *m;
  gl_backend_t *be;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_compile_opts_t co = {0};
  assert_int_equal(gl_model_compile(m, be, &co, &plan), GL_OK);
  for (int i = 0; i < 8; i++) xs[i] = (float)i - 4;
  assert_int_equal(run_once(), GL_OK);
  assert_true(ys[0] == 0 && ys[7] == 3);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, other, NULL), 0);
  pthread_join(t, NULL);
  assert_int_equal(other_status, GL_ESTATE);
  assert_int_equal(run_once(), GL_OK); /* still fine on its own thread */
  gl_plan_destroy(plan);
  gl_backend_destroy(be);
  gl_model_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_owner_thread)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
