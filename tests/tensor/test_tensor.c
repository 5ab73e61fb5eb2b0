/* tests/tensor/test_tensor.c - shapes, broadcasting, half-precision conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tensor/tensor.h"

static void test_broadcast(void **state) {
  (void)state;
  gl_shape_t a = {3, {8, 1, 6}}, b = {2, {7, 1}}, o;
  assert_int_equal(gl_shape_broadcast(&a, &b, &o), GL_OK);
  assert_int_equal(o.rank, 3);
  assert_int_equal(o.d[0], 8);
  assert_int_equal(o.d[1], 7);
  assert_int_equal(o.d[2], 6);
  gl_shape_t c = {1, {5}};
  assert_int_equal(gl_shape_broadcast(&a, &c, &o), GL_ESHAPE);
  assert_non_null(strstr(gl_errmsg(), "[8,1,6]"));
}

static void test_numel_overflow(void **state) {
  (void)state;
  gl_shape_t s = {3, {1LL << 40, 1LL << 30, 4}};
  assert_int_equal(gl_shape_numel(&s), -1);
  gl_shape_t u = {2, {-1, 4}};
  assert_int_equal(gl_shape_numel(&u), -1);
  gl_shape_t scalar = {0, {0}};
  assert_int_equal(gl_shape_numel(&scalar), 1);
}

static void test_half(void **state) {
  (void)state;
  float vals[] = {0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    assert_true(gl_f16_to_f32(gl_f32_to_f16(vals[i])) == vals[i]);
  assert_int_equal(gl_f32_to_f16(1e6f), 0x7c00); /* overflow to infinity */
  assert_true(gl_bf16_to_f32(gl_f32_to_bf16(3.0f)) == 3.0f);
}

static void test_alloc_refuses_unknown(void **state) {
  (void)state;
  gl_tensor_t t;
  gl_shape_t s = {2, {-1, 3}};
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &s), GL_ESHAPE);
  gl_shape_t ok = {2, {2, 3}};
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_STRING, &ok), GL_ETYPE);
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_I64, &ok), GL_OK);
  assert_int_equal(gl_tensor_nbytes(&t), 48);
  gl_tensor_fini(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_broadcast),
      cmocka_unit_test(test_numel_overflow),
      cmocka_unit_test(test_half),
      cmocka_unit_test(test_alloc_refuses_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
