/* tests/graph/test_toposort.c - topological sorting: model order kept, reversed graphs sorted in
 * near-linear time, diamonds, repeated inputs, cycles and dangling values named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/status.h"
#include "graph/graph.h"

/* A chain x -> v1 -> ... -> vlen of Relu nodes added in reverse order (last node first). */
static gl_graph_t *reversed_chain(int len) {
  gl_graph_t *g = gl_graph_create();
  int *v = test_malloc(sizeof(int) * (size_t)(len + 1));
  v[0] = gl_graph_add_value(g, "x");
  assert_int_equal(gl_graph_add_input(g, v[0]), GL_OK);
  for (int i = 1; i <= len; i++) v[i] = gl_graph_add_value(g, NULL);
  for (int i = len; i >= 1; i--) assert_true(gl_graph_add_node(g, "Relu", NULL, &v[i - 1], 1, &v[i], 1) >= 0);
  assert_int_equal(gl_graph_add_output(g, v[len]), GL_OK);
  test_free(v);
  return g;
}

static void assert_topological(const gl_graph_t *g) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      int v = g->nodes[i].inputs[k];
      if (v >= 0 && g->values[v].producer >= 0) assert_true(g->values[v].producer < i);
    }
}

static void test_reversed_chain_sorted(void **state) {
  (void)state;
  /* 50,000 nodes: the old quadratic sort took minutes here; this one is near-linear. */
  gl_graph_t *g = reversed_chain(50000);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  assert_int_equal(g->n_nodes, 50000);
  assert_topological(g);
  gl_graph_destroy(g);
}

static void test_model_order_kept(void **state) {
  (void)state;
  /* x -> a, x -> b (independent), a + b -> c: already sorted, the order must not change. */
  gl_graph_t *g = gl_graph_create();
  int x = gl_graph_add_value(g, "x"), a = gl_graph_add_value(g, "a"), b = gl_graph_add_value(g, "b"),
      c = gl_graph_add_value(g, "c");
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  assert_true(gl_graph_add_node(g, "Relu", "nb", &x, 1, &b, 1) >= 0);
  assert_true(gl_graph_add_node(g, "Sigmoid", "na", &x, 1, &a, 1) >= 0);
  int ab[2] = {a, b};
  assert_true(gl_graph_add_node(g, "Add", "nc", ab, 2, &c, 1) >= 0);
  assert_int_equal(gl_graph_add_output(g, c), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  assert_string_equal(g->nodes[0].name, "nb");
  assert_string_equal(g->nodes[1].name, "na");
  assert_string_equal(g->nodes[2].name, "nc");
  gl_graph_destroy(g);
}

static void test_repeated_input_and_diamond(void **state) {
  (void)state;
  /* Added out of order: d = Mul(c, c); c = Add(a, b); a = Relu(x); b = Relu(a). */
  gl_graph_t *g = gl_graph_create();
  int x = gl_graph_add_value(g, "x"), a = gl_graph_add_value(g, "a"), b = gl_graph_add_value(g, "b"),
      c = gl_graph_add_value(g, "c"), d = gl_graph_add_value(g, "d");
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  int cc[2] = {c, c}, ab[2] = {a, b};
  assert_true(gl_graph_add_node(g, "Mul", "nd", cc, 2, &d, 1) >= 0);
  assert_true(gl_graph_add_node(g, "Add", "nc", ab, 2, &c, 1) >= 0);
  assert_true(gl_graph_add_node(g, "Relu", "nb", &a, 1, &b, 1) >= 0);
  assert_true(gl_graph_add_node(g, "Relu", "na", &x, 1, &a, 1) >= 0);
  assert_int_equal(gl_graph_add_output(g, d), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  assert_topological(g);
  assert_string_equal(g->nodes[0].name, "na");
  assert_string_equal(g->nodes[3].name, "nd");
  gl_graph_destroy(g);
}

static void test_cycle_named(void **state) {
  (void)state;
  gl_graph_t *g = gl_graph_create();
  int x = gl_graph_add_value(g, "x"), a = gl_graph_add_value(g, "a"), b = gl_graph_add_value(g, "b");
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  int xb[2] = {x, b};
  assert_true(gl_graph_add_node(g, "Add", "loop_a", xb, 2, &a, 1) >= 0);
  assert_true(gl_graph_add_node(g, "Relu", "loop_b", &a, 1, &b, 1) >= 0);
  assert_int_equal(gl_graph_add_output(g, b), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_EPARSE);
  assert_non_null(strstr(gl_errmsg(), "cycle"));
  assert_non_null(strstr(gl_errmsg(), "loop_a"));
  gl_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reversed_chain_sorted),
      cmocka_unit_test(test_model_order_kept),
      cmocka_unit_test(test_repeated_input_and_diamond),
      cmocka_unit_test(test_cycle_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
