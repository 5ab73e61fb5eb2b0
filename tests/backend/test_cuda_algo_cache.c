/* tests/backend/test_cuda_algo_cache.c - the cuDNN algorithm cache file (backend/cuda_support.h):
 * choices survive a reload from disk, garbage lines are ignored, GPULET_CUDNN_NO_CACHE bypasses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend/cuda_support.h"

static void test_roundtrip(void **state) {
  (void)state;
  char dir[] = "/tmp/gl_algo_cache_XXXXXX";
  assert_non_null(mkdtemp(dir));
  setenv("GPULET_CACHE", dir, 1);
  unsetenv("GPULET_CUDNN_NO_CACHE");
  gl_cuda_algo_cache_reset();
  int code = -1;
  size_t ws = 0;
  assert_false(gl_cuda_algo_cache_get("H100/cudnn91900/whole-gpu|p0|x,1,3,224,224", &code, &ws));
  gl_cuda_algo_cache_put("H100/cudnn91900/whole-gpu|p0|x,1,3,224,224", 1 + 16 * 3, 4096);
  gl_cuda_algo_cache_put("H100/cudnn91900/whole-gpu|p1|x,1,3,224,224", 6 + 16 * 1, 123456789012ULL);
  /* A line another writer garbled, then a reload from the file alone. */
  char path[256];
  snprintf(path, sizeof path, "%s/cudnn_algos.txt", dir);
  FILE *f = fopen(path, "a");
  assert_non_null(f);
  fputs("not a line\n-3 5 negative|code\n", f);
  fclose(f);
  gl_cuda_algo_cache_reset();
  assert_true(gl_cuda_algo_cache_get("H100/cudnn91900/whole-gpu|p0|x,1,3,224,224", &code, &ws));
  assert_int_equal(code, 1 + 16 * 3);
  assert_int_equal(ws, 4096);
  assert_true(gl_cuda_algo_cache_get("H100/cudnn91900/whole-gpu|p1|x,1,3,224,224", &code, &ws));
  assert_int_equal(code, 6 + 16);
  assert_true(ws == 123456789012ULL);
  assert_false(gl_cuda_algo_cache_get("negative|code", &code, &ws));
  assert_false(gl_cuda_algo_cache_get("H100/cudnn91900/whole-gpu|p2|x,1,3,224,224", &code, &ws));
  setenv("GPULET_CUDNN_NO_CACHE", "1", 1);
  assert_false(gl_cuda_algo_cache_get("H100/cudnn91900/whole-gpu|p0|x,1,3,224,224", &code, &ws));
  unsetenv("GPULET_CUDNN_NO_CACHE");
  gl_cuda_algo_cache_reset();
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
