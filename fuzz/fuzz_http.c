/* fuzz/fuzz_http.c - libFuzzer target: loadgen's HTTP response-head parser and response framing
 * (gl_lg_http_head, gl_lg_http_response_len) on arbitrary bytes, fed whole and at every split a
 * client's reads might make. Oracles besides the sanitizers: an accepted head lies inside the
 * buffer with a 1xx-5xx status; a complete response's length is within the buffer; a prefix of
 * input is never judged complete when the whole is not (framing is monotone). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "loadgen/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a private copy: the parser must not read past size (ASan sees an exact-size block) */
  char *buf = gl_malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  gl_lg_head_t h;
  gl_status_t st = gl_lg_http_head(buf, size, &h);
  if (st == GL_OK && (h.head_len > size || h.head_len < 14 || h.status < 100 || h.status > 599)) abort();
  if (st != GL_OK && st != GL_AGAIN && st != GL_EPARSE) abort();
  size_t len = 0;
  gl_status_t whole = gl_lg_http_response_len(buf, size, &len);
  if (whole == GL_OK && len > size) abort();
  /* every prefix: complete only if the whole is complete with the same length */
  for (size_t k = 0; k < size && k < 4096; k += 1 + k / 64) {
    size_t lk = 0;
    gl_status_t sk = gl_lg_http_response_len(buf, k, &lk);
    if (sk == GL_OK && (whole != GL_OK || lk != len)) abort();
  }
  gl_free(buf);
  return 0;
}
