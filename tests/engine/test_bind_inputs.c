/* tests/engine/test_bind_inputs.c - inputs the graph needs at compile time are bound to a given
 * value, and a run with another value is refused rather than answered wrongly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"

/* y = ReduceSum(x [2,3], axes) with axes a graph input (opset 13), keepdims 0. */
static gl_model_t *reduce_model(void) {
  gl_graph_t *g = gl_graph_create();
  g->opset = 13;
  int x = gl_graph_add_value(g, "x"), axes = gl_graph_add_value(g, "axes"), y = gl_graph_add_value(g, "y");
  g->values[x].dtype = GL_DT_F32;
  g->values[x].shape = (gl_shape_t){2, {2, 3}};
  g->values[axes].dtype = GL_DT_I64;
  g->values[axes].shape = (gl_shape_t){1, {1}};
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  assert_int_equal(gl_graph_add_input(g, axes), GL_OK);
  int ins[2] = {x, axes};
  int ni = gl_graph_add_node(g, "ReduceSum", "sum", ins, 2, &y, 1);
  assert_true(ni >= 0);
  gl_attr_t *a = gl_node_add_attr(g, ni, "keepdims", GL_ATTR_INT);
  a->i = 0;
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_model_t *m;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  return m;
}

static void test_bind(void **state) {
  (void)state;
  gl_model_t *m = reduce_model();
  gl_backend_t *be;
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  float xs[6] = {1, 2, 3, 4, 5, 6};
  int64_t ax1 = 1, ax0 = 0;
  gl_tensor_t in[2] = {{.dtype = GL_DT_F32, .shape = {2, {2, 3}}, .data = xs},
                      {.dtype = GL_DT_I64, .shape = {1, {1}}, .data = &ax1}};
  gl_plan_t *p = NULL;
  gl_compile_opts_t plain = {0};
  /* Without a value the shape of y cannot be known: a clear "unsupported", not a crash. */
  assert_int_equal(gl_model_compile(m, be, &plain, &p), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "axes"));
  gl_compile_opts_t bound = {.input_values = in};
  assert_int_equal(gl_model_compile(m, be, &bound, &p), GL_OK);
  assert_int_equal(p->outputs[0].shape.rank, 1);
  assert_int_equal(p->outputs[0].shape.d[0], 2);
  gl_tensor_t out;
  assert_int_equal(gl_plan_alloc_outputs(p, &out), GL_OK);
  assert_int_equal(gl_plan_run(p, in, &out), GL_OK);
  assert_true(((float *)out.data)[0] == 6.f && ((float *)out.data)[1] == 15.f);
  in[1].data = &ax0;
  assert_int_equal(gl_plan_run(p, in, &out), GL_EINVAL);
  assert_non_null(strstr(gl_errmsg(), "bound"));
  gl_tensor_fini(&out);
  gl_plan_destroy(p);
  gl_backend_destroy(be);
  gl_model_destroy(m);
  assert_int_equal(gl_alloc_live_count(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bind)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
