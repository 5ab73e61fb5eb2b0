/* backend/cuda/cuda_int.h - inside the CUDA module: the device context, what a step of a CUDA plan
 * is, and the op table (cuda_ops.cu). CUDA C++, compiled by nvcc into libgpulet_cuda.so only. */
#ifndef GL_BACKEND_CUDA_CUDA_INT_H
#define GL_BACKEND_CUDA_CUDA_INT_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "backend/backend.h"
#include "core/alloc.h"
#include "core/status.h"
#include "graph/graph.h"
}

#include "backend/cuda/cuda_kernels.h"

/* What a step's prepare and run may use: the plan's library handles (bound to its stream). */
typedef struct {
  int device;
  cudaStream_t stream;
  cudnnHandle_t dnn;
  cublasHandle_t blas;
  size_t workspace_need; /* prepare raises it to what its step needs */
} gl_cu_ctx_t;

typedef struct gl_cu_step gl_cu_step_t;
typedef gl_status_t (*gl_cu_run_fn)(const gl_cu_step_t *s, const gl_cu_ctx_t *cx, void *workspace,
                                    size_t ws_bytes, void *const *in, void *const *out);

struct gl_cu_step {
  gl_cu_run_fn run;
  void *state;                  /* gl_malloc'd; freed with destroy (or gl_free) */
  void (*destroy)(void *state);
};

/* Prepares step s for node n (shapes known; constant inputs readable on the host through
 * value->data; their device copies are passed to run in `in`). */
typedef gl_status_t (*gl_cu_prepare_fn)(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n,
                                        gl_cu_step_t *s);

gl_cu_prepare_fn gl_cu_find_op(const char *op_type);

gl_status_t gl_cu_check(cudaError_t e, const char *what);
gl_status_t gl_cudnn_check(cudnnStatus_t e, const char *what);
gl_status_t gl_cublas_check(cublasStatus_t e, const char *what);
#define GL_CU(call, what) GL_TRY(gl_cu_check((call), (what)))
#define GL_CUDNN(call, what) GL_TRY(gl_cudnn_check((call), (what)))
#define GL_CUBLAS(call, what) GL_TRY(gl_cublas_check((call), (what)))

/* Launch geometry for n elements. */
static inline unsigned gl_cu_blocks(int64_t n) { return (unsigned)((n + 255) / 256); }

#endif
