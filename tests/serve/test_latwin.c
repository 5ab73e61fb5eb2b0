/* tests/serve/test_latwin.c - the window of recent outcomes: percentiles by nearest rank, SLO
 * attainment counting rejections, the time window and the ring's bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "serve/latwin.h"

#define MS 1000000LL
#define S 1000000000LL

static void test_empty(void **st) {
  (void)st;
  gl_latwin_t *w = gl_calloc(1, sizeof *w);
  gl_latwin_stats_t s;
  gl_latwin_stats(w, 100 * S, 10 * S, &s);
  assert_int_equal(s.answered, 0);
  assert_true(s.p50_ms < 0 && s.p99_ms < 0 && s.attain < 0);
  gl_free(w);
}

static void test_percentiles_and_attain(void **st) {
  (void)st;
  gl_latwin_t *w = gl_calloc(1, sizeof *w);
  /* latencies 1..100 ms, shuffled order; 90 met, 10 missed; 10 rejected */
  for (int i = 0; i < 100; i++) {
    int v = (i * 37) % 100 + 1;
    gl_latwin_add(w, 50 * S + i, v * MS, v <= 90 ? GL_LW_MET : GL_LW_MISSED);
  }
  for (int i = 0; i < 10; i++) gl_latwin_add(w, 50 * S, 0, GL_LW_REJECTED);
  gl_latwin_stats_t s;
  gl_latwin_stats(w, 51 * S, 10 * S, &s);
  assert_int_equal(s.answered, 100);
  assert_int_equal(s.met, 90);
  assert_int_equal(s.missed, 10);
  assert_int_equal(s.rejected, 10);
  assert_float_equal(s.p50_ms, 50.0, 1e-9);
  assert_float_equal(s.p99_ms, 99.0, 1e-9);
  assert_float_equal(s.p999_ms, 100.0, 1e-9);
  assert_float_equal(s.attain, 90.0 / 110.0, 1e-9);
  /* 20 s later the window is empty again */
  gl_latwin_stats(w, 70 * S, 10 * S, &s);
  assert_int_equal(s.answered + s.rejected, 0);
  assert_true(s.attain < 0);
  gl_free(w);
}

/* The ring keeps only the last GL_LATWIN_N outcomes: old slow ones are overwritten by fast ones. */
static void test_ring_bound(void **st) {
  (void)st;
  gl_latwin_t *w = gl_calloc(1, sizeof *w);
  for (int i = 0; i < GL_LATWIN_N; i++) gl_latwin_add(w, S + i, 500 * MS, GL_LW_MISSED);
  for (int i = 0; i < GL_LATWIN_N; i++) gl_latwin_add(w, S + GL_LATWIN_N + i, 2 * MS, GL_LW_MET);
  gl_latwin_stats_t s;
  gl_latwin_stats(w, 2 * S, 10 * S, &s);
  assert_int_equal(s.answered, GL_LATWIN_N);
  assert_int_equal(s.missed, 0);
  assert_float_equal(s.p999_ms, 2.0, 1e-9);
  assert_float_equal(s.attain, 1.0, 1e-9);
  gl_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_percentiles_and_attain),
      cmocka_unit_test(test_ring_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
