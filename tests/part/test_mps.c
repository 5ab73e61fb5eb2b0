/* tests/part/test_mps.c - MPS partitions on the CPU: real worker processes (`gpulet mps-worker`)
 * on the CPU backend (GPULET_MPS_BACKEND=cpu) with no MPS daemon; checks the worker's
 * active-thread percentage, models loaded and run through the shared region against an
 * in-process run, errors carried back, a worker that dies, and teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"
#include "part/cuda_mps.h"

#ifndef GL_GPULET_BIN
#define GL_GPULET_BIN "gpulet"
#endif

static char model_path[256];

static int setup_all(void **state) {
  setenv("GPULET_MPS_BACKEND", "cpu", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  snprintf(model_path, sizeof model_path, "/tmp/gl_test_mps_%d.onnx", (int)getpid());
  char cmd[700];
  snprintf(cmd, sizeof cmd, "'%s' zoo lenet -o '%s' >/dev/null 2>&1", GL_GPULET_BIN, model_path);
  return system(cmd) == 0 ? 0 : -1;
}

static int teardown_all(void **state) {
  unlink(model_path);
  return 0;
}

static bool env_has(int pid, const char *want) {
  char path[64], buf[65536];
  snprintf(path, sizeof path, "/proc/%d/environ", pid);
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
    if (!strcmp(buf + i, want)) return true;
  return false;
}

static void test_load_run(void **state) {
  gl_part_dev_t *d;
  assert_int_equal(gl__part_dev_mps_create_with(NULL, GL_GPULET_BIN, 0, 8u << 20, &d), GL_OK);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.kind, GL_PART_CUDA_MPS);
  assert_int_equal(info.units_total, 100);
  gl_part_t *p, *q;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(d, 0.3, NULL, &p, &g), GL_OK);
  assert_int_equal(g.units, 30);
  assert_int_equal(gl_part_create(d, 0.7, NULL, &q, &g), GL_OK);
  assert_int_equal(g.units, 70);
  assert_true(env_has(gl__part_mps_pid(p), "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=30"));
  assert_true(env_has(gl__part_mps_pid(q), "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=70"));

  int id = -1;
  assert_int_equal(gl_part_mps_load(p, model_path, 2, &id), GL_OK);
  assert_int_equal(id, 0);
  /* The same model in this process, for reference. */
  gl_model_t *m;
  gl_backend_t *be;
  gl_plan_t *plan;
  assert_int_equal(gl_model_load(model_path, &m), GL_OK);
  assert_int_equal(gl_cpu_backend_create(&be), GL_OK);
  gl_compile_opts_t co = {.batch = 2};
  assert_int_equal(gl_model_compile(m, be, &co, &plan), GL_OK);
  gl_tensor_t in = {0}, ref = {0};
  assert_int_equal(gl_tensor_alloc(&in, plan->inputs[0].dtype, &plan->inputs[0].shape), GL_OK);
  float *x = in.data;
  for (int64_t i = 0; i < gl_shape_numel(&in.shape); i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
  assert_int_equal(gl_plan_alloc_outputs(plan, &ref), GL_OK);
  assert_int_equal(gl_plan_run(plan, &in, &ref), GL_OK);
  assert_int_equal(gl_plan_wait(plan), GL_OK);

  for (int rep = 0; rep < 3; rep++) {
    gl_tensor_t out[16];
    int n_out = -1;
    assert_int_equal(gl_part_mps_run(p, id, &in, 1, out, &n_out), GL_OK);
    assert_int_equal(n_out, 1);
    assert_int_equal(out[0].shape.rank, 2);
    assert_int_equal(out[0].shape.d[0], 2);
    assert_int_equal(out[0].shape.d[1], 10);
    /* Same model, same input; a tolerance as the two processes may pick different kernels (e.g. one
     * under valgrind). */
    const float *got = out[0].data, *want = ref.data;
    for (int i = 0; i < 20; i++) assert_true(fabsf(got[i] - want[i]) <= 1e-4f * (1.0f + fabsf(want[i])));
    gl_tensor_fini(&out[0]);
  }

  /* Errors come back with the worker's message. */
  int bad = -1;
  assert_true(gl_part_mps_load(q, "/nonexistent/model.onnx", 1, &bad) < 0);
  assert_int_equal(bad, -1);
  assert_non_null(strstr(gl_errmsg(), "MPS worker"));
  assert_non_null(strstr(gl_errmsg(), "/nonexistent/model.onnx"));
  gl_tensor_t out[16];
  int n_out = -1;
  assert_int_equal(gl_part_mps_run(q, 0, &in, 1, out, &n_out), GL_EINVAL); /* q has no model 0 */
  assert_int_equal(n_out, 0);
  gl_tensor_t small = {0};
  gl_shape_t s1 = {.rank = 4, .d = {1, 1, 28, 28}};
  assert_int_equal(gl_tensor_alloc(&small, GL_DT_F32, &s1), GL_OK);
  assert_int_equal(gl_part_mps_run(p, id, &small, 1, out, &n_out), GL_ESHAPE); /* batch 1, not 2 */
  gl_tensor_fini(&small);

  /* A worker that dies: its next request fails (no hang), and it can still be destroyed. */
  assert_int_equal(kill(gl__part_mps_pid(q), SIGKILL), 0);
  assert_int_equal(gl_part_mps_run(q, 0, &in, 1, out, &n_out), GL_EDEVICE);
  assert_non_null(strstr(gl_errmsg(), "died"));
  assert_int_equal(gl_part_mps_load(q, model_path, 1, &bad), GL_EDEVICE);
  gl_part_destroy(q);

  gl_tensor_fini(&in);
  gl_tensor_fini(&ref);
  gl_plan_destroy(plan);
  gl_backend_destroy(be);
  gl_model_destroy(m);
  int pid = gl__part_mps_pid(p);
  gl_part_destroy(p);
  assert_int_equal(kill(pid, 0), -1); /* the worker is gone (and reaped) */
  gl_part_dev_destroy(d);
}

/* A worker binary that cannot start is a clear error, nothing is held. */
static void test_bad_worker(void **state) {
  gl_part_dev_t *d;
  assert_int_equal(gl__part_dev_mps_create_with(NULL, "/nonexistent/gpulet", 0, 1u << 20, &d), GL_OK);
  gl_part_t *p;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &p, NULL), GL_EDEVICE);
  assert_null(p);
  assert_non_null(strstr(gl_errmsg(), "mps-worker")); /* spawn error, or the child exiting 127 */
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 100);
  gl_part_dev_destroy(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_run),
      cmocka_unit_test(test_bad_worker),
  };
  return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
