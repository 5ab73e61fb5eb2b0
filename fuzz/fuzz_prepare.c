/* fuzz/fuzz_prepare.c - libFuzzer target: models that load go through the whole CPU pipeline
 * (bind batch 1, infer and fold, fuse, plan, one run on zeroed inputs). Finds crashes, leaks and
 * undefined behaviour in shape inference and kernels, which must answer bad models with errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"

#define MAX_IO_BYTES ((size_t)64 << 20)    /* skip running plans whose inputs/outputs are bigger */
#define MAX_PLAN_BYTES ((size_t)256 << 20) /* skip compiling graphs whose values add up to more */

static gl_backend_t *be;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (gl_cpu_backend_create(&be)) abort();
  return 0;
}

static void run_plan(gl_plan_t *plan) {
  size_t bytes = 0;
  for (int i = 0; i < plan->n_inputs; i++) bytes += gl_tensor_nbytes(&plan->inputs[i]);
  for (int i = 0; i < plan->n_outputs; i++) bytes += gl_tensor_nbytes(&plan->outputs[i]);
  if (bytes > MAX_IO_BYTES) return;
  gl_tensor_t *ins = gl_calloc((size_t)plan->n_inputs + 1, sizeof *ins);
  gl_tensor_t *outs = gl_calloc((size_t)plan->n_outputs + 1, sizeof *outs);
  bool ok = ins && outs;
  for (int i = 0; ok && i < plan->n_inputs; i++)
    ok = gl_tensor_alloc(&ins[i], plan->inputs[i].dtype, &plan->inputs[i].shape) == GL_OK;
  if (ok && gl_plan_alloc_outputs(plan, outs) == GL_OK) {
    if (gl_plan_run(plan, ins, outs) == GL_OK) (void)gl_plan_wait(plan);
    for (int i = 0; i < plan->n_outputs; i++) gl_tensor_fini(&outs[i]);
  }
  for (int i = 0; ins && i < plan->n_inputs; i++) gl_tensor_fini(&ins[i]);
  gl_free(ins);
  gl_free(outs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t live = gl_alloc_live_count();
  gl_onnx_limits_t lim = {.max_file_bytes = 1 << 20, .max_nodes = 200};
  gl_graph_t *g = NULL;
  if (gl_onnx_load_buffer(data, size, NULL, &lim, &g) == GL_OK) {
    gl_model_t *m = NULL;
    if (gl_model_from_graph(g, &m) == GL_OK) {
      gl_compile_opts_t co = {.batch = 1, .placement = {.threads = 1}};
      gl_plan_t *plan = NULL;
      /* A valid model may simply need gigabytes; only plan those that fit in MAX_PLAN_BYTES. */
      gl_graph_t *pg = NULL;
      bool small = false;
      if (gl_model_prepare(m, &co, &pg) == GL_OK) {
        size_t bytes = 0;
        for (int v = 0; v < pg->n_values; v++) {
          int64_t n = gl_shape_numel(&pg->values[v].shape);
          if (n > 0) bytes += (size_t)n * gl_dtype_size(pg->values[v].dtype);
        }
        small = bytes <= MAX_PLAN_BYTES;
        gl_graph_destroy(pg);
      }
      if (small && gl_model_compile(m, be, &co, &plan) == GL_OK) {
        run_plan(plan);
        gl_plan_destroy(plan);
      }
      gl_model_destroy(m);
    }
  }
  if (gl_alloc_live_count() != live) {
    fprintf(stderr, "%zu blocks leaked\n", gl_alloc_live_count() - live);
    abort();
  }
  return 0;
}
