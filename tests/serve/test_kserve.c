/* tests/serve/test_kserve.c - the KServe v2 request parser on good and malformed bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "serve/kserve.h"

static const gl_kv_limits_t lim = {1 << 20, 1 << 16, 8};

static gl_status_t parse(const char *s, long long hl, gl_kv_request_t *r) {
  return gl_kv_parse_request(s, strlen(s), hl, &lim, NULL, r);
}

static void test_nested_and_flat(void **state) {
  gl_kv_request_t a, b;
  assert_int_equal(parse("{\"id\":\"7\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"INT64\",\"data\":[[1,2],[3,4]]}],"
                         "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}", -1, &a), GL_OK);
  assert_int_equal(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"INT64\",\"data\":[1,2,3,4]}]}", -1, &b), GL_OK);
  assert_string_equal(a.id, "7");
  assert_int_equal(a.n_inputs, 1);
  assert_int_equal(a.inputs[0].t.dtype, GL_DT_I64);
  assert_memory_equal(a.inputs[0].t.data, b.inputs[0].t.data, 32);
  assert_int_equal(((int64_t *)a.inputs[0].t.data)[3], 4);
  assert_int_equal(a.n_outputs, 1);
  assert_int_equal(a.outputs[0].binary, 1);
  assert_int_equal(b.n_outputs, 0);
  gl_kv_request_fini(&a);
  gl_kv_request_fini(&b);
}

static void test_binary(void **state) {
  const char *h = "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}}]}";
  char body[256];
  size_t hl = strlen(h);
  memcpy(body, h, hl);
  float v[2] = {1.5f, -2.0f};
  memcpy(body + hl, v, 8);
  gl_kv_request_t r;
  assert_int_equal(gl_kv_parse_request(body, hl + 8, (long long)hl, &lim, NULL, &r), GL_OK);
  assert_true(((float *)r.inputs[0].t.data)[1] == -2.0f);
  gl_kv_request_fini(&r);
  /* truncated body, header past the end, trailing bytes */
  assert_int_equal(gl_kv_parse_request(body, hl + 5, (long long)hl, &lim, NULL, &r), GL_EINVAL);
  assert_int_equal(gl_kv_parse_request(body, hl + 8, (long long)hl + 100, &lim, NULL, &r), GL_EINVAL);
  assert_int_equal(gl_kv_parse_request(body, hl + 8, -1, &lim, NULL, &r), GL_EPARSE);
  /* raw binary: needs a spec, sizes must fit */
  assert_int_equal(gl_kv_parse_request((char *)v, 8, 0, &lim, NULL, &r), GL_EINVAL);
  gl_kv_raw_spec_t sp = {"x", GL_DT_F32, {2, {1, -1}}};
  assert_int_equal(gl_kv_parse_request((char *)v, 8, 0, &lim, &sp, &r), GL_OK);
  assert_int_equal(r.inputs[0].t.shape.d[1], 2);
  assert_true(r.raw);
  gl_kv_request_fini(&r);
  assert_int_equal(gl_kv_parse_request((char *)v, 7, 0, &lim, &sp, &r), GL_ESHAPE);
}

static void test_malformed(void **state) {
  static const struct { const char *body; gl_status_t want; } cases[] = {
      {"", GL_EPARSE},
      {"{", GL_EPARSE},
      {"[]", GL_EPARSE},
      {"{\"inputs\":3}", GL_EINVAL},
      {"{\"inputs\":[]}", GL_EINVAL},
      {"{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP33\",\"data\":[1]}]}", GL_ETYPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_ESHAPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1,2]}]}", GL_ESHAPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[\"a\"]}]}", GL_ETYPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[300]}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[1.5]}]}", GL_ETYPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[0],\"datatype\":\"FP32\",\"data\":[]}]}", GL_ESHAPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_ESHAPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1,1,1,1,1,1,1,1],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_ESHAPE},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1000000],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_ELIMIT},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[1]}]}", GL_EUNSUPPORTED},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"a\"]}]}", GL_EUNSUPPORTED},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],\"parameters\":{\"binary_data_size\":4}}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],\"outputs\":[{}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],\"parameters\":{\"timeout\":-5}}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],\"parameters\":{\"p\":[1]}}", GL_EINVAL},
      {"{\"id\":5,\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", GL_EINVAL},
      {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]}", GL_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gl_kv_request_t r;
    size_t live = gl_alloc_live_count();
    gl_status_t st = parse(cases[i].body, -1, &r);
    if (st != cases[i].want) fail_msg("case %zu (%s): got %d, want %d", i, cases[i].body, st, cases[i].want);
    assert_int_equal(r.n_inputs, 0); /* cleared on error */
    assert_int_equal(gl_alloc_live_count(), live); /* nothing leaked on the error path */
  }
}

static void test_response(void **state) {
  gl_tensor_t t;
  gl_shape_t s = {2, {1, 2}};
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F32, &s), GL_OK);
  ((float *)t.data)[0] = 0.5f;
  ((float *)t.data)[1] = -1;
  gl_kv_out_t o[2] = {{"y", &t, false}, {"z\"q", &t, true}};
  gl_kv_buf_t b = {0};
  size_t hl = 0;
  assert_int_equal(gl_kv_write_response(&b, "m", "1", "id1", o, 2, &hl), GL_OK);
  assert_int_equal(b.len, hl + 8);
  b.p[hl] = 0;
  assert_string_equal(b.p, "{\"model_name\":\"m\",\"model_version\":\"1\",\"id\":\"id1\",\"outputs\":["
                           "{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[0.5,-1]},"
                           "{\"name\":\"z\\\"q\",\"datatype\":\"FP32\",\"shape\":[1,2],\"parameters\":{\"binary_data_size\":8}}]}");
  gl_kv_buf_fini(&b);
  gl_tensor_fini(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nested_and_flat),
      cmocka_unit_test(test_binary),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_response),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
