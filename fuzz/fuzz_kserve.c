/* fuzz/fuzz_kserve.c - libFuzzer target: the KServe v2 request parser (JSON, binary, raw) on
 * arbitrary bytes. Byte 0 picks the Inference-Header-Content-Length mode: none, raw (0), or the
 * next two bytes as a length. Oracles besides the sanitizers: a parsed request's tensors hold
 * exactly numel * element-size bytes within the limits, a response written from them has the
 * header length it reports, and nothing leaks through gpulet's allocator. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "serve/kserve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  static const gl_kv_limits_t lim = {1 << 20, 1 << 16, 8};
  long long hl = -1;
  switch (data[0] % 3) {
    case 0: hl = -1; break;
    case 1: hl = 0; break;
    default: hl = (long long)(data[1] | (data[2] << 8)); break;
  }
  const char *body = (const char *)data + 3;
  size_t len = size - 3;
  gl_kv_raw_spec_t raw = {"x", (data[1] & 1) ? GL_DT_F32 : GL_DT_I64, {3, {1, -1, 2}}};
  size_t live = gl_alloc_live_count();
  gl_kv_request_t r;
  if (gl_kv_parse_request(body, len, hl, &lim, (data[2] & 1) ? &raw : NULL, &r) == GL_OK) {
    gl_kv_out_t outs[8];
    int n = 0;
    for (int i = 0; i < r.n_inputs; i++) {
      const gl_tensor_t *t = &r.inputs[i].t;
      int64_t numel = gl_shape_numel(&t->shape);
      if (numel < 1 || numel > lim.max_elements) abort();
      if (gl_tensor_nbytes(t) != (size_t)numel * gl_dtype_size(t->dtype)) abort();
      if (n < 8) outs[n++] = (gl_kv_out_t){r.inputs[i].name, t, (i & 1) != 0};
    }
    gl_kv_buf_t b = {0};
    size_t h = 0;
    if (gl_kv_write_response(&b, "m", "1", r.id, outs, n, &h) == GL_OK && h > b.len) abort();
    gl_kv_buf_fini(&b);
    gl_kv_request_fini(&r);
  }
  if (gl_alloc_live_count() != live) abort();
  return 0;
}
