/* tests/graph/test_memplan.c - the memory plan never overlaps live values and reuses dead ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "graph/graph.h"
#include "graph/memplan.h"

/* A chain x -> a -> b -> c -> y of Relu nodes, every value 1000 floats. */
static gl_graph_t *chain(int len) {
  gl_graph_t *g = gl_graph_create();
  int prev = gl_graph_add_value(g, "x");
  g->values[prev].dtype = GL_DT_F32;
  g->values[prev].shape = (gl_shape_t){1, {1000}};
  assert_int_equal(gl_graph_add_input(g, prev), GL_OK);
  for (int i = 0; i < len; i++) {
    int v = gl_graph_add_value(g, NULL);
    g->values[v].dtype = GL_DT_F32;
    g->values[v].shape = (gl_shape_t){1, {1000}};
    assert_true(gl_graph_add_node(g, "Relu", NULL, &prev, 1, &v, 1) >= 0);
    prev = v;
  }
  assert_int_equal(gl_graph_add_output(g, prev), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  return g;
}

static void test_chain_reuses(void **state) {
  (void)state;
  gl_graph_t *g = chain(6);
  gl_memplan_t p;
  assert_int_equal(gl_memplan_build(g, NULL, &p), GL_OK);
  /* Six 4000-byte values (4032 aligned); at most two are alive at a time. */
  assert_int_equal(p.naive_bytes, 6 * 4032);
  assert_int_equal(p.arena_bytes, 2 * 4032);
  /* Consecutive values (producer and consumer of one node) never share bytes. */
  for (int i = 0; i < g->n_nodes; i++) {
    int a = g->nodes[i].inputs[0], b = g->nodes[i].outputs[0];
    if (p.offset[a] < 0) continue;
    assert_true(p.offset[a] + 4032 <= p.offset[b] || p.offset[b] + 4032 <= p.offset[a]);
  }
  assert_int_equal(p.offset[g->inputs[0]], -1); /* inputs live in the caller's buffer */
  gl_memplan_fini(&p);
  gl_graph_destroy(g);
}

static void test_alias_extends_lifetime(void **state) {
  (void)state;
  gl_graph_t *g = chain(4);
  int alias[16];
  for (int i = 0; i < 16; i++) alias[i] = -1;
  /* Value 2 is a view of value 1: value 1 must stay alive until value 2's last use. */
  alias[2] = 1;
  gl_memplan_t p;
  assert_int_equal(gl_memplan_build(g, alias, &p), GL_OK);
  assert_int_equal(p.offset[2], p.offset[1]);
  assert_true(p.offset[3] != p.offset[1]);
  gl_memplan_fini(&p);
  gl_graph_destroy(g);
}

/* Exact sizes: a GPU plan storing f32 as half gives 2 bytes per element; the arena halves. */
static void test_exact_halves_the_arena(void **state) {
  (void)state;
  gl_graph_t *g = chain(6);
  int64_t bytes[16];
  for (int v = 0; v < 16; v++) bytes[v] = v < g->n_values ? 2 * gl_shape_numel(&g->values[v].shape) : -1;
  gl_memplan_t p;
  assert_int_equal(gl_memplan_build_exact(g, NULL, bytes, &p), GL_OK);
  assert_int_equal(p.naive_bytes, 6 * 2048); /* 2000 bytes, 64-aligned */
  assert_int_equal(p.arena_bytes, 2 * 2048);
  for (int i = 0; i < g->n_nodes; i++) {
    int a = g->nodes[i].inputs[0], b = g->nodes[i].outputs[0];
    if (p.offset[a] < 0) continue;
    assert_true(p.offset[a] + 2048 <= p.offset[b] || p.offset[b] + 2048 <= p.offset[a]);
  }
  gl_memplan_fini(&p);
  /* The f32 plan of the same graph needs twice that. */
  assert_int_equal(gl_memplan_build(g, NULL, &p), GL_OK);
  assert_int_equal(p.arena_bytes, 2 * 4032);
  gl_memplan_fini(&p);
  gl_graph_destroy(g);
}

/* -1 takes the shape's size; a larger exact size is honoured; live values never overlap. */
static void test_exact_mixed_sizes(void **state) {
  (void)state;
  gl_graph_t *g = chain(4); /* values 0 (input) .. 4 */
  int64_t bytes[5] = {-1, 100, -1, 10000, 0};
  gl_memplan_t p;
  assert_int_equal(gl_memplan_build_exact(g, NULL, bytes, &p), GL_OK);
  size_t sz[5] = {0, 128, 4032, 10048, 64}; /* 0 bytes still gets a 64-byte slot */
  assert_int_equal(p.naive_bytes, 128 + 4032 + 10048); /* naive counts the 0 as 0 */
  for (int i = 0; i < g->n_nodes; i++) {
    int a = g->nodes[i].inputs[0], b = g->nodes[i].outputs[0];
    if (p.offset[a] < 0) continue;
    assert_true((size_t)p.offset[a] + sz[a] <= (size_t)p.offset[b] || (size_t)p.offset[b] + sz[b] <= (size_t)p.offset[a]);
  }
  /* 3 (10048) is alive with 2 and with 4: the arena holds the largest pair. */
  assert_int_equal(p.arena_bytes, 10048 + 4032);
  gl_memplan_fini(&p);
  /* An alias takes its root's offset whatever its own entry says. */
  int alias[5] = {-1, -1, 1, -1, -1};
  assert_int_equal(gl_memplan_build_exact(g, alias, bytes, &p), GL_OK);
  assert_int_equal(p.offset[2], p.offset[1]);
  assert_int_equal(p.naive_bytes, 128 + 10048);
  gl_memplan_fini(&p);
  gl_graph_destroy(g);
}

static void test_oom_is_reported(void **state) {
  (void)state;
  gl_graph_t *g = chain(3);
  gl_memplan_t p;
  gl_alloc_fail_after(1);
  assert_int_equal(gl_memplan_build(g, NULL, &p), GL_ENOMEM);
  gl_alloc_fail_after(0);
  gl_graph_destroy(g);
  assert_int_equal(gl_alloc_live_count(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_reuses),
      cmocka_unit_test(test_alias_extends_lifetime),
      cmocka_unit_test(test_exact_halves_the_arena),
      cmocka_unit_test(test_exact_mixed_sizes),
      cmocka_unit_test(test_oom_is_reported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
