/* backend/cuda/cuda_int.h - inside the CUDA module: the device context, what a step of a CUDA plan
 * is, and the op table (cuda_ops_*.cu). CUDA C++, compiled by nvcc into libgpulet_cuda.so only. */
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
#include "backend/cuda/cuda_optable.h"
#include "backend/cuda_support.h"

/* What a step's prepare and run may use: the plan's library handles (bound to its stream). */
typedef struct {
  int device;
  cudaStream_t stream;
  cudnnHandle_t dnn;
  cublasHandle_t blas;
  size_t workspace_need; /* prepare raises it to what its step needs */
  int precision;         /* gl_precision_t of the plan */
  int half;              /* 1 at fp16: every f32 value (constants too) is stored as IEEE half */
  int *bad_flag;         /* device int: kernels set it on bad input (Gather's index); plan_wait reads it */
  char gpu[256];         /* device name, cuDNN version, SMs available (keys the algorithm cache) */
  int nhwc_node;         /* set around one prepare: this node runs channels-last (cuda_layout.h):
                            its rank-4 activations are NHWC, a Conv's weights KRSC */
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

/* Launch geometry for n elements: 256 threads a block, at most 2^20 blocks; kernels walk their
 * range with GL_CU_FOR (a grid-stride loop), so any n fits the grid limits. */
static inline unsigned gl_cu_blocks(int64_t n) {
  int64_t b = (n + 255) / 256;
  return (unsigned)(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}
#define GL_CU_FOR(i, n)                                                              \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (int64_t)(n); \
       i += (int64_t)gridDim.x * blockDim.x)

/* The plan's edges at fp16: n floats from one storage (h = 1: half) to the other on stream s
 * (cuda_ops_ew.cu). */
gl_status_t gl_cu_convert_launch(cudaStream_t s, int from_h, int to_h, const void *x, void *y, int64_t n);

/* Bytes of one element of a value of type dt on the device (2 for f32 at fp16). */
static inline size_t gl_cu_esz(const gl_cu_ctx_t *cx, gl_dtype_t dt) {
  return cx->half && dt == GL_DT_F32 ? 2 : gl_dtype_size(dt);
}

/* Device copies of constants, shared by every plan of a model on a device (cuda_plan.cu):
 * equal contents (same size and 128-bit hash) and storage (half: f32 stored as half) map to one
 * device buffer, refcounted. */
gl_status_t gl_cu_const_get(int device, const gl_tensor_t *t, int half, void **dev);
void gl_cu_const_put(int device, void *dev);


#endif
