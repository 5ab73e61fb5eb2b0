/* tests/core/test_core.c - the counting allocator, failure injection, error messages, percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/alloc.h"
#include "core/stats.h"
#include "core/status.h"
#include "tensor/tensor.h"

static void test_counts(void **state) {
  (void)state;
  size_t base = gl_alloc_live_bytes(), count = gl_alloc_live_count();
  char *a = gl_malloc(100);
  void *b = gl_aligned_alloc(1000);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal((uintptr_t)b % 64, 0);
  assert_int_equal(gl_alloc_live_bytes(), base + 1100);
  assert_int_equal(gl_alloc_live_count(), count + 2);
  a = gl_realloc(a, 300);
  assert_non_null(a);
  assert_int_equal(gl_alloc_live_bytes(), base + 1300);
  assert_true(gl_alloc_peak_bytes() >= base + 1300);
  gl_free(a);
  gl_aligned_free(b);
  gl_free(NULL);
  gl_aligned_free(NULL);
  assert_int_equal(gl_alloc_live_bytes(), base);
  assert_int_equal(gl_alloc_live_count(), count);
}

static void test_fail_injection(void **state) {
  (void)state;
  gl_alloc_fail_after(2);
  void *a = gl_malloc(8);  /* 1st: fine */
  void *b = gl_malloc(8);  /* 2nd: fails */
  void *c = gl_malloc(8);  /* disarmed after firing */
  assert_non_null(a);
  assert_null(b);
  assert_non_null(c);
  gl_free(a), gl_free(c);
  /* A tensor allocation that fails says so. */
  gl_alloc_fail_after(1);
  gl_tensor_t t;
  gl_shape_t s = {1, {4}};
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &s), GL_ENOMEM);
  assert_non_null(strstr(gl_errmsg(), "out of memory"));
  assert_int_equal(gl_realloc(NULL, SIZE_MAX), NULL);
  assert_int_equal(gl_calloc(SIZE_MAX / 2, 4), NULL);
}

static void test_errors(void **state) {
  (void)state;
  assert_string_equal(gl_status_name(GL_ESHAPE), "GL_ESHAPE");
  assert_string_equal(gl_status_str(GL_ENOMEM), "out of memory");
  assert_string_equal(gl_status_name((gl_status_t)-999), "GL_UNKNOWN");
  assert_int_equal(gl_err(GL_EINVAL, "bad %s %d", "thing", 7), GL_EINVAL);
  assert_string_equal(gl_errmsg(), "bad thing 7");
  assert_int_equal(gl_err_wrap(GL_EINVAL, "loading %s", "x.onnx"), GL_EINVAL);
  assert_string_equal(gl_errmsg(), "loading x.onnx: bad thing 7");
  /* A very long message is cut, never overflowed. */
  char big[4000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  gl_err(GL_EINVAL, "%s", big);
  gl_err_wrap(GL_EINVAL, "%s", big);
  assert_true(strlen(gl_errmsg()) < 1024);
  gl_err_clear();
  assert_string_equal(gl_errmsg(), "");
}

static void test_percentiles(void **state) {
  (void)state;
  double v[] = {5, 1, 4, 2, 3};
  gl_sort_doubles(v, 5);
  assert_true(v[0] == 1 && v[4] == 5);
  assert_true(gl_percentile_sorted(v, 5, 50) == 3);
  assert_true(gl_percentile_sorted(v, 5, 0) == 1);
  assert_true(gl_percentile_sorted(v, 5, 100) == 5);
  assert_true(gl_percentile_sorted(v, 5, 25) == 2);
  assert_true(gl_percentile_sorted(v, 5, 90) > 4.5 && gl_percentile_sorted(v, 5, 90) < 5);
  assert_true(gl_percentile_sorted(v, 0, 50) == 0);
  assert_true(gl_mean(v, 5) == 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts), cmocka_unit_test(test_fail_injection),
      cmocka_unit_test(test_errors), cmocka_unit_test(test_percentiles)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
