/* tests/serve/test_devices.c - the units a gpu-let is built on (gl_serve_pick_units): least used
 * cores first on a CPU; whole SM groups on a green-context device, which the green partition's
 * own check (gl__green_units_to_groups) accepts; the whole device with its remainder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "part/cuda_green.h"
#include "serve/serve_int.h"

static void test_cpu_least_used(void **state) {
  gl_part_dev_info_t di = {.kind = GL_PART_CPU_CORES, .units_total = 4};
  int used[256] = {1, 0, 0, 0}, out[256];
  int n = gl_serve_pick_units(&di, 4, 2, used, out);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 2);
  assert_int_equal(gl_serve_pick_units(&di, 4, 9, used, out), 4); /* clamped to the device */
}

static void check_green(const int *out, int n, int want_groups, int want_rem) {
  int groups[32], ng = 0, rem = 0;
  assert_int_equal(gl__green_units_to_groups(out, n, 8, 16, 4, groups, &ng, &rem), GL_OK);
  assert_int_equal(ng, want_groups);
  assert_int_equal(rem, want_rem);
}

static void test_green_groups(void **state) {
  /* an H100 split: 16 groups of 8 SMs plus 4 */
  gl_part_dev_info_t di = {.kind = GL_PART_CUDA_GREEN, .units_total = 132, .groups = 16, .group_units = 8, .rem_units = 4};
  int used[256] = {0}, out[256];
  int n = gl_serve_pick_units(&di, 132, 40, used, out);
  assert_int_equal(n, 40);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[39], 39);
  check_green(out, n, 5, 0);
  for (int k = 0; k < n; k++) used[out[k]]++;
  /* the next one goes to the free groups; 20 SMs round up to 3 groups */
  n = gl_serve_pick_units(&di, 132, 20, used, out);
  assert_int_equal(n, 24);
  assert_int_equal(out[0], 40);
  check_green(out, n, 3, 0);
  /* the whole device takes the remainder */
  n = gl_serve_pick_units(&di, 132, 132, used, out);
  assert_int_equal(n, 132);
  check_green(out, n, 16, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cpu_least_used), cmocka_unit_test(test_green_groups)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
