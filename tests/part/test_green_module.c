/* tests/part/test_green_module.c - the real libgpulet_green.so on a machine without a GPU: the
 * module contract's ABI checks, and clear errors with no driver and with the stub driver
 * (cuInit fails). Skipped when the module was not built (no CUDA toolkit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/status.h"
#include "part/cuda_green.h"

#ifndef GL_GREEN_MODULE_PATH
#define GL_GREEN_MODULE_PATH ""
#endif
#define STUB "/usr/local/cuda/lib/stubs/libcuda.so"

static char last_msg[512];
static void set_error(int st, const char *msg) { snprintf(last_msg, sizeof last_msg, "%s", msg); }
static void log_fn(int level, const char *msg) {}

static void test_abi(void **state) {
  if (access(GL_GREEN_MODULE_PATH, R_OK) != 0) skip();
  void *h = dlopen(GL_GREEN_MODULE_PATH, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  gl_cuda_green_init_fn init = (gl_cuda_green_init_fn)dlsym(h, GL_CUDA_GREEN_INIT);
  assert_non_null(init);
  const gl_cuda_green_api_t *api = (const gl_cuda_green_api_t *)1;
  gl_host_api_t bad = {GL_CUDA_MODULE_ABI + 1, sizeof(gl_host_api_t), set_error, log_fn};
  assert_int_equal(init(&bad, &api), GL_EDEVICE); /* a host of another ABI is refused */
  assert_null(api);
  gl_host_api_t small = {GL_CUDA_MODULE_ABI, 4, set_error, log_fn};
  assert_int_equal(init(&small, &api), GL_EDEVICE); /* a host table too short to call */
  gl_host_api_t good = {GL_CUDA_MODULE_ABI, sizeof(gl_host_api_t), set_error, log_fn};
  assert_int_equal(init(&good, &api), GL_OK);
  assert_non_null(api);
  assert_int_equal(api->abi_version, GL_CUDA_GREEN_ABI);
  assert_int_equal(api->size, sizeof(gl_cuda_green_api_t));
  assert_non_null(api->dev_open);
  assert_non_null(api->part_create);
  assert_non_null(api->part_enter);
  assert_non_null(api->part_destroy);
  assert_non_null(api->dev_close);
  /* The module exports nothing but its init (gpulet's core inside it stays hidden). */
  assert_null(dlsym(h, "gl_malloc"));
  assert_null(dlsym(h, "gl_err"));
  dlclose(h);
}

/* No driver, then the stub driver (the module loads the driver once it succeeds, so this order). */
static void test_no_driver_then_stub(void **state) {
  if (access(GL_GREEN_MODULE_PATH, R_OK) != 0) skip();
  setenv("GPULET_GREEN_MODULE", GL_GREEN_MODULE_PATH, 1);
  setenv("GPULET_LIBCUDA", "libcuda-not-here.so.1", 1);
  gl_part_dev_t *d = NULL;
  assert_int_equal(gl_part_dev_cuda_green_create(0, &d), GL_EDEVICE);
  assert_null(d);
  assert_non_null(strstr(gl_errmsg(), "no CUDA driver"));
  assert_non_null(strstr(gl_errmsg(), "libcuda-not-here.so.1"));
  if (access(STUB, R_OK) != 0) return;
  setenv("GPULET_LIBCUDA", STUB, 1);
  assert_int_equal(gl_part_dev_cuda_green_create(0, &d), GL_EDEVICE);
  assert_null(d);
  assert_non_null(strstr(gl_errmsg(), "cuInit failed"));
  assert_non_null(strstr(gl_errmsg(), "stub"));
  fprintf(stderr, "stub driver: %s\n", gl_errmsg());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_abi),
      cmocka_unit_test(test_no_driver_then_stub),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
