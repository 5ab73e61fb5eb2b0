/* backend/cuda/cuda_ops_int.h - what the CUDA op files (cuda_ops_ew.cu, cuda_ops_nn.cu,
 * cuda_ops_move.cu) share: broadcast and size helpers, the fused epilogue of a conv/gemm/matmul
 * node, launchers for kernels one file defines and another uses, and every op's prepare function
 * (named in cuda_optable.h). A launcher lives in the file that defines its kernel (no relocatable
 * device code). Inside the module only. */
#ifndef GL_BACKEND_CUDA_CUDA_OPS_INT_H
#define GL_BACKEND_CUDA_CUDA_OPS_INT_H

#include "backend/cuda/cuda_int.h"

/* Blocks for a row kernel: one per row, at most 2^20 (the kernels loop over the rest). */
static inline unsigned gl_cu_row_blocks(int64_t rows) {
  return (unsigned)(rows < 1 ? 1 : (rows > (1 << 20) ? (1 << 20) : rows));
}

gl_status_t gl_cu_launch_check(const char *what);
/* Element size check for the typed data-movement kernels (1, 2, 4 or 8 bytes). */
gl_status_t gl_cu_esz_ok(const gl_node_t *n, size_t esz);
/* cuDNN describes tensors with int dims and strides. */
gl_status_t gl_cu_int_sized(const gl_node_t *n, const gl_shape_t *s);
/* Broadcast strides of `in` against `out` (0 where broadcast), right-aligned. */
void gl_cu_bcast_strides(const gl_shape_t *out, const gl_shape_t *in, int64_t *st);
gl_status_t gl_cu_bcast_init(gl_k_bcast_t *b, const gl_shape_t *out, const gl_shape_t *a, const gl_shape_t *c);
/* A constant scalar input's value (dflt when absent or not constant). */
float gl_cu_const_scalar(const gl_graph_t *g, const gl_node_t *n, int i, float dflt);
/* The cuda_kernels.h code of a fused activation. */
int gl_cu_act_code(gl_act_t a);

/* The fused epilogue of a conv / gemm / matmul node: y = act(y + bias + input[sum_in]). */
typedef struct {
  int act;
  float a, b;
  int sum_in; /* node input index or -1 */
  gl_k_bcast_t sum_bc;
  int64_t n;
  int h; /* float storage is half */
} gl_cu_epi_t;

gl_status_t gl_cu_epi_init(gl_cu_epi_t *e, const gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n);
static inline bool gl_cu_epi_needed(const gl_cu_epi_t *e, const void *bias) {
  return bias || e->sum_in >= 0 || e->act != GL_K_IDENT;
}
gl_status_t gl_cu_epi_run(const gl_cu_epi_t *e, cudaStream_t s, void *y, const void *bias, int64_t c, int64_t inner,
                          void *const *in);
/* y = op(x0, x1) with broadcasting over float storage h. */
gl_status_t gl_cu_binary_launch(cudaStream_t s, const gl_k_bcast_t *bc, int op, const void *x0, const void *x1,
                                void *y, int h, int64_t n);

/* The NCHW <-> NHWC conversion of rank-4 float value v (cuda_layout.h decides where). */
gl_status_t gl_cu_prep_relayout(gl_cu_ctx_t *cx, const gl_value_t *v, int to_nhwc, gl_cu_step_t *k);

/* Every op's prepare function: gl_cu_prep_unary, gl_cu_prep_conv, ... */
#define GL_CU_PREP_DECL_(name, prep) \
  gl_status_t gl_cu_##prep(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k);
GL_CUDA_OPS(GL_CU_PREP_DECL_)
#undef GL_CU_PREP_DECL_

#endif
