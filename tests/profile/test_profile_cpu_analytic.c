/* tests/profile/test_profile_cpu_analytic.c - the analytic CPU profile (roofline over cores). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "profile/profile.h"

static void test_cpu_spec(void **st) {
  (void)st;
  gl_device_spec_t d;
  gl_profile_cpu_spec(4, 0, 0, 0, &d);
  assert_int_equal(d.total_units, 4);
  assert_int_equal(d.n_sizes, 4);
  assert_int_equal(d.sizes[3], 4);
  assert_true(fabs(d.peak_flops - 4 * 220e9) < 1);
  assert_true(fabs(d.mem_bw - 20e9) < 1);
  gl_profile_cpu_spec(2, 50, 11.6, 8000, &d);
  assert_true(fabs(d.peak_flops - 100e9) < 1);
  assert_true(fabs(d.mem_bw - 11.6e9) < 1);
  assert_true(d.mem_mb == 8000);
  gl_profile_cpu_spec(0, 0, 0, 0, &d); /* clamped to one core */
  assert_int_equal(d.total_units, 1);
}

static void test_cpu_profile(void **st) {
  (void)st;
  gl_device_spec_t d;
  gl_profile_cpu_spec(4, 0, 0, 0, &d);
  int n;
  const gl_model_spec_t *ms = gl_profile_model_specs(&n);
  gl_profile_t *p = NULL;
  assert_int_equal(gl_profile_analytic_build(&d, ms, n, &p), GL_OK);
  assert_true(p->analytic);
  assert_string_equal(p->kind, "cpu");
  assert_string_equal(p->unit, "core");
  int r = gl_profile_find(p, "resnet50");
  assert_true(r >= 0);
  /* more cores: faster; larger batch: slower; never faster than the FLOP peak allows */
  double l1 = gl_profile_latency(p, r, 8, 1, false), l4 = gl_profile_latency(p, r, 8, 4, false);
  assert_true(l4 < l1);
  assert_true(gl_profile_latency(p, r, 16, 4, false) > l4);
  double floor_ms = 2 * 4.1e9 * 8 / (4 * 220e9) * 1e3;
  assert_true(l4 > floor_ms);
  gl_profile_destroy(p);
  /* by name: the online cores */
  assert_int_equal(gl_profile_analytic("cpu", &p), GL_OK);
  assert_true(p->total_units >= 1);
  gl_profile_destroy(p);
  assert_int_equal(gl_profile_analytic("tpu", &p), GL_ENOTFOUND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cpu_spec),
      cmocka_unit_test(test_cpu_profile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
