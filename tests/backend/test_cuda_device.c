/* tests/backend/test_cuda_device.c - the CUDA backend on a real GPU (ctest label `gpu`; run by
 * bench/gpu/checklist.sh with `ctest -L gpu`). Every zoo model compiled for --device cuda against
 * the CPU backend on the same seeded inputs, per output element:
 *   fp32 (graph replay, and eager with GPULET_CUDA_GRAPHS=0): |y - cpu| <= 1e-3 |cpu| + 1e-4 M
 *   tf32:                                                      |y - cpu| <= 1e-2 |cpu| + 1e-2 M
 *   fp32 channels-last (GPULET_CUDA_NHWC=1) as fp32
 *   fp16 against CUDA fp32, NHWC (default) and NCHW:            |y - y32| <= 1e-2 |y32| + 1e-2 M
 * where M = max(1, max |reference|) over the output (random-weight networks' outputs have no
 * natural scale). ResNet-50 also runs with the fused cuDNN conv+bias+ReLU turned off
 * (GPULET_CUDA_FUSED_CONV=0) against the CPU, and Gather's out-of-range flag must turn into an
 * error. Prints every comparison's worst error as a fraction of its bound, so a pass shows its
 * margin. Without a CUDA device (or module) it prints "no CUDA device: skipped" and exits 77
 * (SKIP_RETURN_CODE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "core/alloc.h"
#include "engine/engine.h"
#include "zoo/zoo.h"

static gl_backend_t *cuda_be, *cpu_be;

typedef struct {
  int n;
  gl_tensor_t t[16];
} outs_t;

static void outs_fini(outs_t *o) {
  for (int i = 0; i < o->n; i++) gl_tensor_fini(&o->t[i]);
  o->n = 0;
}

/* Seeded inputs for a compiled plan: floats in [-1, 1), integers in [0, 100) (BERT's ids). */
static void make_inputs(const gl_plan_t *p, gl_tensor_t *in) {
  uint64_t s = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < p->n_inputs; i++) {
    assert_int_equal(gl_tensor_alloc(&in[i], p->inputs[i].dtype, &p->inputs[i].shape), GL_OK);
    int64_t n = gl_shape_numel(&in[i].shape);
    for (int64_t k = 0; k < n; k++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      if (in[i].dtype == GL_DT_F32) ((float *)in[i].data)[k] = (float)((double)(s >> 11) / (double)(1ULL << 53) * 2 - 1);
      else if (in[i].dtype == GL_DT_I64) ((int64_t *)in[i].data)[k] = (int64_t)(s % 100);
      else if (in[i].dtype == GL_DT_I32) ((int32_t *)in[i].data)[k] = (int32_t)(s % 100);
      else memset((char *)in[i].data + k * (int64_t)gl_dtype_size(in[i].dtype), 0, gl_dtype_size(in[i].dtype));
    }
  }
}

/* Compiles m for batch on be at precision prec, runs it twice (the second run replays the CUDA
 * graph the first one captured), keeps the second run's outputs; the two must agree exactly. */
static void run(const gl_model_t *m, gl_backend_t *be, int64_t batch, int prec, gl_tensor_t *in, int *n_in,
                outs_t *out) {
  gl_compile_opts_t co = {.batch = batch, .placement = {.precision = prec}};
  gl_plan_t *p = NULL;
  gl_status_t st = gl_model_compile(m, be, &co, &p);
  if (st) fail_msg("compile (%s, precision %s): %s", be->i->name, gl_precision_name(prec), gl_errmsg());
  if (*n_in < 0) {
    make_inputs(p, in);
    *n_in = p->n_inputs;
  }
  assert_int_equal(p->n_inputs, *n_in);
  outs_t first = {0};
  assert_true(p->n_outputs <= 16);
  out->n = first.n = p->n_outputs;
  assert_int_equal(gl_plan_alloc_outputs(p, first.t), GL_OK);
  assert_int_equal(gl_plan_alloc_outputs(p, out->t), GL_OK);
  st = gl_plan_run(p, in, first.t);
  if (!st) st = gl_plan_wait(p);
  if (!st) st = gl_plan_run(p, in, out->t);
  if (!st) st = gl_plan_wait(p);
  if (st) fail_msg("run (%s, precision %s): %s", be->i->name, gl_precision_name(prec), gl_errmsg());
  for (int o = 0; o < out->n; o++)
    if (memcmp(first.t[o].data, out->t[o].data, gl_tensor_nbytes(&out->t[o])))
      fail_msg("%s: output %d differs between the first and the second run", be->i->name, o);
  outs_fini(&first);
  gl_plan_destroy(p);
}

/* Checks got against ref with |d| <= rtol |ref| + atol_m * max(1, max |ref|); prints the worst
 * error as a fraction of its bound (<= 1 passes). Non-float outputs must match exactly. */
static void compare(const char *what, const outs_t *got, const outs_t *ref, double rtol, double atol_m) {
  assert_int_equal(got->n, ref->n);
  for (int o = 0; o < ref->n; o++) {
    const gl_tensor_t *g = &got->t[o], *r = &ref->t[o];
    assert_int_equal(g->dtype, r->dtype);
    int64_t n = gl_shape_numel(&r->shape);
    assert_int_equal(gl_shape_numel(&g->shape), n);
    if (r->dtype != GL_DT_F32) {
      if (memcmp(g->data, r->data, gl_tensor_nbytes(r))) fail_msg("%s: output %d (not float) differs", what, o);
      continue;
    }
    const float *a = g->data, *b = r->data;
    double m = 1;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(b[i]));
    double worst = 0, worst_d = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
      double d = fabs((double)a[i] - b[i]), bound = rtol * fabs(b[i]) + atol_m * m;
      double f = isnan(d) ? INFINITY : d / bound;
      if (f > worst) worst = f, worst_d = d, wi = i;
    }
    printf("  %-40s out %d: worst %.3g of the bound (|d| %.3g at %lld, max|ref| %.3g)\n", what, o, worst, worst_d,
           (long long)wi, m);
    if (!(worst <= 1)) fail_msg("%s: output %d element %lld: %.9g, reference %.9g", what, o, (long long)wi, a[wi], b[wi]);
  }
}

static void check_model(const char *name) {
  gl_zoo_opts_t zo = {.seed = 1, .batch = 0, .seq = 128};
  gl_graph_t *g = NULL;
  assert_int_equal(gl_zoo_build(name, &zo, &g), GL_OK);
  gl_model_t *m = NULL;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  int64_t batch = strcmp(name, "bert-base") ? 2 : 1;
  gl_tensor_t in[8];
  int n_in = -1;
  outs_t ref = {0}, y32 = {0}, y = {0};
  char what[96];
  printf("%s, batch %lld\n", name, (long long)batch);
  run(m, cpu_be, batch, GL_PREC_FP32, in, &n_in, &ref);
  run(m, cuda_be, batch, GL_PREC_FP32, in, &n_in, &y32);
  snprintf(what, sizeof what, "%s cuda fp32 vs cpu", name);
  compare(what, &y32, &ref, 1e-3, 1e-4);
  setenv("GPULET_CUDA_GRAPHS", "0", 1);
  run(m, cuda_be, batch, GL_PREC_FP32, in, &n_in, &y);
  unsetenv("GPULET_CUDA_GRAPHS");
  snprintf(what, sizeof what, "%s cuda fp32 eager vs cpu", name);
  compare(what, &y, &ref, 1e-3, 1e-4);
  outs_fini(&y);
  if (!strcmp(name, "resnet50")) {
    setenv("GPULET_CUDA_FUSED_CONV", "0", 1);
    run(m, cuda_be, batch, GL_PREC_FP32, in, &n_in, &y);
    unsetenv("GPULET_CUDA_FUSED_CONV");
    snprintf(what, sizeof what, "%s cuda fp32 unfused vs cpu", name);
    compare(what, &y, &ref, 1e-3, 1e-4);
    outs_fini(&y);
  }
  run(m, cuda_be, batch, GL_PREC_TF32, in, &n_in, &y);
  snprintf(what, sizeof what, "%s cuda tf32 vs cpu", name);
  compare(what, &y, &ref, 1e-2, 1e-2);
  outs_fini(&y);
  /* The channels-last layout pass at fp32 data (GPULET_CUDA_NHWC=1): the layout logic (conversions,
   * KRSC weights, NHWC descriptors and gpulet's channels-last kernels) at fp32's tolerance. */
  setenv("GPULET_CUDA_NHWC", "1", 1);
  run(m, cuda_be, batch, GL_PREC_FP32, in, &n_in, &y);
  unsetenv("GPULET_CUDA_NHWC");
  snprintf(what, sizeof what, "%s cuda fp32 nhwc vs cpu", name);
  compare(what, &y, &ref, 1e-3, 1e-4);
  outs_fini(&y);
  run(m, cuda_be, batch, GL_PREC_FP16, in, &n_in, &y); /* NHWC by default at fp16 */
  snprintf(what, sizeof what, "%s cuda fp16 vs cuda fp32", name);
  compare(what, &y, &y32, 1e-2, 1e-2);
  outs_fini(&y);
  setenv("GPULET_CUDA_NHWC", "0", 1);
  run(m, cuda_be, batch, GL_PREC_FP16, in, &n_in, &y);
  unsetenv("GPULET_CUDA_NHWC");
  snprintf(what, sizeof what, "%s cuda fp16 nchw vs cuda fp32", name);
  compare(what, &y, &y32, 1e-2, 1e-2);
  outs_fini(&y), outs_fini(&y32), outs_fini(&ref);
  for (int i = 0; i < n_in; i++) gl_tensor_fini(&in[i]);
  gl_model_destroy(m);
}

static void test_zoo(void **state) {
  (void)state;
  const char *only = getenv("GPULET_TEST_ZOO"); /* e.g. "lenet,resnet50" to run a few */
  for (int i = 0; i < gl_zoo_count(); i++) {
    const char *name = gl_zoo_info(i)->name;
    if (only && only[0]) {
      const char *hit = strstr(only, name);
      size_t l = strlen(name);
      if (!hit || (hit != only && hit[-1] != ',') || (hit[l] && hit[l] != ',')) continue;
    }
    check_model(name);
  }
}

/* Gather with an index out of range: the kernel raises the plan's flag, plan_wait returns an
 * error; an in-range index afterwards runs clean (the flag is cleared every run). */
static void test_gather_flag(void **state) {
  (void)state;
  gl_graph_t *g = gl_graph_create();
  g->opset = 13;
  int x = gl_graph_add_value(g, "x"), ix = gl_graph_add_value(g, "i"), y = gl_graph_add_value(g, "y");
  g->values[x].dtype = GL_DT_F32, g->values[x].shape = (gl_shape_t){2, {4, 3}};
  g->values[ix].dtype = GL_DT_I64, g->values[ix].shape = (gl_shape_t){1, {2}};
  assert_int_equal(gl_graph_add_input(g, x), GL_OK);
  assert_int_equal(gl_graph_add_input(g, ix), GL_OK);
  int ins[2] = {x, ix};
  gl_graph_add_node(g, "Gather", "gather", ins, 2, &y, 1);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  gl_model_t *m = NULL;
  assert_int_equal(gl_model_from_graph(g, &m), GL_OK);
  gl_compile_opts_t co = {0};
  gl_plan_t *p = NULL;
  assert_int_equal(gl_model_compile(m, cuda_be, &co, &p), GL_OK);
  float xd[12], yd[6];
  for (int i = 0; i < 12; i++) xd[i] = (float)i;
  int64_t bad[2] = {1, 7}, good[2] = {3, -4};
  gl_tensor_t in[2] = {{.dtype = GL_DT_F32, .shape = {2, {4, 3}}, .data = xd},
                       {.dtype = GL_DT_I64, .shape = {1, {2}}, .data = bad}};
  gl_tensor_t out = {.dtype = GL_DT_F32, .shape = {2, {2, 3}}, .data = yd};
  assert_int_equal(gl_plan_run(p, in, &out), GL_OK);
  assert_int_equal(gl_plan_wait(p), GL_EINVAL);
  in[1].data = good;
  assert_int_equal(gl_plan_run(p, in, &out), GL_OK);
  assert_int_equal(gl_plan_wait(p), GL_OK);
  const float want[6] = {9, 10, 11, 0, 1, 2};
  for (int i = 0; i < 6; i++) assert_true(yd[i] == want[i]);
  gl_plan_destroy(p);
  gl_model_destroy(m);
}

int main(void) {
  if (gl_cuda_backend_open(0, &cuda_be) != GL_OK) {
    printf("no CUDA device: skipped (%s)\n", gl_errmsg());
    return 77;
  }
  if (gl_cpu_backend_create(&cpu_be) != GL_OK) {
    printf("the CPU backend did not start: %s\n", gl_errmsg());
    return 1;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_gather_flag), cmocka_unit_test(test_zoo)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  gl_backend_destroy(cpu_be);
  gl_backend_destroy(cuda_be);
  return rc;
}
