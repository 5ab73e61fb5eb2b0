/* backend/cuda_support.h - what the CUDA module can run, decided on the host without a GPU.
 * Owns: gl_cuda_node_supported, the op, dtype and attribute limits of the CUDA kernels, and the
 * on-disk cache of measured cuDNN convolution algorithms
 * (backend/cuda/cuda_ops_nn.cu), in plain C so the CPU test suite can check every zoo model's
 * prepared graph against them and the module refuses the same nodes with the same messages.
 * Does not own: the kernels or the op list itself (backend/cuda/cuda_optable.h). */
#ifndef GL_BACKEND_CUDA_SUPPORT_H
#define GL_BACKEND_CUDA_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GL_OK when the CUDA module has a kernel for node n of prepared graph g (shapes known) with
 * these dtypes and attributes; else GL_EUNSUPPORTED with a message naming the node and why. */
gl_status_t gl_cuda_node_supported(const gl_graph_t *g, const gl_node_t *n);

/* The convolution algorithm cache: $GPULET_CACHE/cudnn_algos.txt, else
 * ~/.cache/gpulet/cudnn_algos.txt, one "code workspace key" line per measured convolution
 * (code: algorithm + 16 * math type), read on first use and appended to as choices are made.
 * GPULET_CUDNN_NO_CACHE set: never read (every compile measures). Thread-safe. */
bool gl_cuda_algo_cache_get(const char *key, int *code, size_t *ws);
void gl_cuda_algo_cache_put(const char *key, int code, size_t ws);
void gl_cuda_algo_cache_reset(void); /* forgets what was read (tests) */

/* Resize's per-dim source tables for the CUDA kernel (cuda_kernels.h, gl_k_resize_at), computed
 * exactly as the CPU backend does: for each dim d and output coordinate o, at off[d] + o, the
 * first source i0 (-1: outside a tf_crop_and_resize roi), the second i1 and i1's weight w.
 * *total is the table length (the sum of the output dims); the tables are gl_malloc'd in one
 * block at *i0 (i1 = *i0 + total, w after them), freed with gl_free(*i0). */
gl_status_t gl_cuda_resize_tables(const gl_graph_t *g, const gl_node_t *n, int64_t **i0, int64_t *off,
                                  int64_t *total, int *linear, double *extrap) GL_MUST_USE;

#ifdef __cplusplus
}
#endif

#endif
