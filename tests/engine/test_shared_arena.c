/* tests/engine/test_shared_arena.c - CPU plans of several batch sizes sharing one activation arena
 * (as a gpu-let's executor compiles them: largest first) give the same outputs as plans with their
 * own, run interleaved; a plan larger than the arena keeps its own; the arena lives until its last
 * user is gone. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"
#include "zoo/zoo.h"

static gl_plan_t *compile(gl_model_t *m, gl_backend_t *be, int batch, gl_arena_t *a) {
  gl_compile_opts_t co = {.batch = batch};
  co.placement.threads = 1;
  co.placement.arena = a;
  gl_plan_t *p = NULL;
  assert_int_equal(gl_model_compile(m, be, &co, &p), GL_OK);
  return p;
}

/* Runs p on input filled from seed; returns the output (caller frees). */
static float *run(gl_plan_t *p, unsigned seed, size_t *n) {
  gl_tensor_t in, out;
  assert_int_equal(gl_tensor_alloc(&in, p->inputs[0].dtype, &p->inputs[0].shape), GL_OK);
  float *x = in.data;
  size_t ni = gl_tensor_nbytes(&in) / sizeof(float);
  for (size_t i = 0; i < ni; i++) x[i] = (float)((i * 7919u + seed * 104729u) % 1000u) / 500.0f - 1.0f;
  assert_int_equal(gl_plan_alloc_outputs(p, &out), GL_OK);
  assert_int_equal(gl_plan_run(p, &in, &out), GL_OK);
  assert_int_equal(gl_plan_wait(p), GL_OK);
  *n = gl_tensor_nbytes(&out) / sizeof(float);
  float *y = gl_malloc(*n * sizeof(float));
  memcpy(y, out.data, *n * sizeof(float));
  gl_tensor_fini(&in);
  gl_tensor_fini(&out);
  return y;
}

static void test_shared_matches_own(void **state) {
  (void)state;
  gl_graph_t *g = NULL;
  gl_zoo_opts_t zo = {0};
  assert_int_equal(gl_zoo_build("lenet", &zo, &g), GL_OK);
  gl_model_t *m;
  gl_backend_t *be;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_arena_t *a = gl_arena_create();
  assert_non_null(a);
  int sizes[3] = {8, 4, 1};
  gl_plan_t *shared[3], *own[3];
  size_t grew_shared = 0, grew_own = 0;
  for (int i = 0; i < 3; i++) {
    size_t b0 = gl_alloc_live_bytes();
    shared[i] = compile(m, be, sizes[i], a);
    size_t b1 = gl_alloc_live_bytes();
    own[i] = compile(m, be, sizes[i], NULL);
    size_t b2 = gl_alloc_live_bytes();
    if (i > 0) grew_shared += b1 - b0, grew_own += b2 - b1;
  }
  /* the batch-4 and batch-1 plans took no activation memory of their own */
  size_t ar4, c4;
  assert_true(gl_cpu_plan_memory(own[1], &ar4, &c4));
  assert_true(grew_shared + ar4 <= grew_own);
  size_t first = gl_arena_bytes(a);
  assert_true(first > 0);
  /* a plan larger than the arena keeps its own and leaves the arena as it was */
  gl_plan_t *big = compile(m, be, 32, a);
  assert_int_equal(gl_arena_bytes(a), first);
  /* interleaved: each shared plan's run overwrites the others' activations */
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 3; i++) {
      size_t n1, n2;
      float *y1 = run(shared[i], (unsigned)(round * 3 + i), &n1);
      float *y2 = run(own[i], (unsigned)(round * 3 + i), &n2);
      assert_int_equal(n1, n2);
      for (size_t k = 0; k < n1; k++) assert_true(fabsf(y1[k] - y2[k]) <= 1e-5f * (1 + fabsf(y2[k])));
      gl_free(y1);
      gl_free(y2);
    }
  /* the creator lets go first: the plans still hold the memory */
  gl_arena_unref(a);
  size_t n;
  gl_free(run(shared[2], 9, &n));
  for (int i = 0; i < 3; i++) gl_plan_destroy(shared[i]), gl_plan_destroy(own[i]);
  gl_plan_destroy(big);
  gl_backend_destroy(be);
  gl_model_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_shared_matches_own)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
