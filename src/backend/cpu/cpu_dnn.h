/* backend/cpu/cpu_dnn.h - the oneDNN primitive state shared by the nn family's kernel files
 * (cpu_nn.c: Conv, ConvTranspose, Gemm, MatMul; cpu_norm_pool.c: the oneDNN pools): a memory
 * with its optional reorder from/to the plan's plain layout, the kernel state, and running it. */
#ifndef GL_BACKEND_CPU_DNN_H
#define GL_BACKEND_CPU_DNN_H

#include "backend/cpu/cpu_int.h"

/* Memory the primitive reads or writes, plus when its layout is not plain, the plain user view
 * and the reorder between them (user->mem for inputs, mem->user for outputs). */
typedef struct {
  dnnl_memory_t mem;
  dnnl_memory_t user;
  dnnl_primitive_t reorder;
  void *buf; /* gl_aligned_alloc'd storage of mem when owned */
} gl_dmem_t;

/* State of every oneDNN-backed kernel (conv, deconv, matmul, gemm). */
typedef struct {
  dnnl_primitive_t prim;
  gl_dmem_t src, wei, bias, dst, sum;
  dnnl_memory_t src1[2];  /* binary post-op operands (runtime, plain) */
  int src1_in[2];         /* the node input each comes from */
  int wei_in, bias_in;    /* >= 0: weights / bias are runtime inputs at this index */
  int sum_in;             /* >= 0: residual input to copy/reorder into dst (sum post-op) */
  bool manual_post;       /* residual and activation applied by a loop after the primitive */
  gl_act_t act;
  float act_alpha, act_beta;
  int64_t dst_numel;
  size_t dst_bytes;       /* bytes of dst in the primitive's layout (the residual copy) */
  void *const_bias;       /* owned plain bias (scaled copy) when bias comes from a constant */
  void *const_c;          /* owned beta*C for a constant C added by a binary post-op */
  dnnl_exec_arg_t args[8];
  int n_args;
} gl_dnn_t;

/* Sets m up for the primitive's layout want; plain is the layout the plan's buffers have.
 * is_out: the reorder goes mem -> user. */
gl_status_t gl_dnn_mem_init(gl_dmem_t *m, dnnl_engine_t eng, const dnnl_memory_desc_t *want,
                            const dnnl_memory_desc_t *plain, bool is_out);
/* Row-major plain f32 md of rank r with dims d. */
gl_status_t gl_dnn_plain_md(dnnl_memory_desc_t *md, int r, const int64_t *d);
/* A zeroed state with no runtime inputs; NULL when out of memory. Freed by gl_dnn_destroy. */
gl_dnn_t *gl_dnn_new(void);
void gl_dnn_destroy(void *p);
void gl_dnn_add_arg(gl_dnn_t *s, int arg, dnnl_memory_t m);
/* The run function of a kernel whose state is a gl_dnn_t. */
gl_status_t gl_dnn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in, void *const *out);

#endif
