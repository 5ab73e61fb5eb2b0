/* tests/serve/test_let_estimate.c - a gpu-let's batch-latency estimate: one stalled batch (a
 * preemption on a shared CPU) cannot push it past an SLO, and a lasting slowdown still moves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "serve/let.h"

#define MS 1000000LL
#define S 1000000000LL

static void test_first_sample_taken(void **st) {
  (void)st;
  assert_int_equal(gl_slet_lat_update(0, 8 * MS), 8 * MS);
}

/* The server's death spiral before the clamp: 8 ms batches, one batch stalled 800 ms by other
 * processes made the 1/8 EWMA 107 ms > a 100 ms SLO, so every arrival was rejected. */
static void test_one_stall_bounded(void **st) {
  (void)st;
  int64_t ew = 8 * MS;
  ew = gl_slet_lat_update(ew, 800 * MS);
  assert_true(ew <= 9 * MS);
  assert_true(ew > 8 * MS);
  for (int i = 0; i < 8; i++) ew = gl_slet_lat_update(ew, 8 * MS);
  assert_true(ew < 8 * MS + MS / 2);
}

static void test_lasting_slowdown_tracked(void **st) {
  (void)st;
  int64_t ew = 8 * MS;
  for (int i = 0; i < 40; i++) ew = gl_slet_lat_update(ew, 30 * MS);
  assert_true(ew > 29 * MS && ew <= 30 * MS);
  for (int i = 0; i < 40; i++) ew = gl_slet_lat_update(ew, 8 * MS);
  assert_true(ew < 9 * MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_sample_taken),
      cmocka_unit_test(test_one_stall_bounded),
      cmocka_unit_test(test_lasting_slowdown_tracked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
