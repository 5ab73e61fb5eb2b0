/* tests/backend/test_gpu_precision.c - the CUDA precision names (gl_precision_parse/_name), which
 * `gpulet run --precision` and serve's config.json "precision" share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "backend/gpu.h"

static void test_names(void **state) {
  (void)state;
  int p = -1;
  assert_int_equal(gl_precision_parse("fp32", &p), GL_OK);
  assert_int_equal(p, GL_PREC_FP32);
  assert_int_equal(gl_precision_parse("tf32", &p), GL_OK);
  assert_int_equal(p, GL_PREC_TF32);
  assert_int_equal(gl_precision_parse("fp16", &p), GL_OK);
  assert_int_equal(p, GL_PREC_FP16);
  for (int i = GL_PREC_FP32; i <= GL_PREC_FP16; i++) {
    assert_int_equal(gl_precision_parse(gl_precision_name(i), &p), GL_OK);
    assert_int_equal(p, i);
  }
  p = 7;
  assert_int_equal(gl_precision_parse("fp64", &p), GL_EINVAL);
  assert_non_null(strstr(gl_errmsg(), "fp64"));
  assert_int_equal(gl_precision_parse("FP16", &p), GL_EINVAL);
  assert_int_equal(gl_precision_parse("", &p), GL_EINVAL);
  assert_int_equal(gl_precision_parse(NULL, &p), GL_EINVAL);
  assert_int_equal(p, 7); /* untouched on error */
  assert_string_equal(gl_precision_name(3), "?");
  assert_string_equal(gl_precision_name(-1), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_names)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
