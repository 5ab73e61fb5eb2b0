/* backend/cuda/cuda_ops_nn.cu - the CUDA backend's library ops: convolution through cuDNN (the
 * algorithm measured once and cached; conv + bias + ReLU (+ residual) in one
 * cudnnConvolutionBiasActivationForward call where the node's fusion allows it, else the
 * convolution and gpulet's epilogue kernel), Gemm and MatMul through cuBLAS, pooling and LRN
 * through cuDNN, and gpulet's own pooling kernel for what cuDNN cannot express.
 * Precision: fp32 FMA only; tf32 tensor cores on f32 data; fp16 half data (cuDNN's
 * pseudo-half configuration and cuBLAS 16F operands, both accumulating in f32). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_ops_int.h"

extern "C" {
#include "graph/nn_geom.h"
#include "graph/ops.h"
}

__global__ void k_pool(gl_k_pool_t p, const void *x, void *y, int h, int64_t n) {
  GL_CU_FOR(i, n) gl_k_stf(y, h, i, gl_k_pool_at(&p, x, h, i));
}

static cudnnDataType_t data_type(const gl_cu_ctx_t *cx) { return cx->half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }

/* A tensor descriptor of shape s (rank < 4 padded with trailing 1s), packed. */
static gl_status_t set_nd(cudnnTensorDescriptor_t t, const gl_shape_t *s, cudnnDataType_t dt) {
  int dims[GL_MAX_RANK], st[GL_MAX_RANK], r = s->rank < 4 ? 4 : s->rank;
  for (int d = 0; d < r; d++) dims[d] = d < s->rank ? (int)s->d[d] : 1;
  st[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) st[d] = st[d + 1] * dims[d + 1];
  GL_CUDNN(cudnnSetTensorNdDescriptor(t, dt, r, dims, st), "describing a tensor");
  return GL_OK;
}

/* A packed rank-4 tensor descriptor of logical dims s in NHWC memory order (channels-last). */
static gl_status_t set_nhwc(cudnnTensorDescriptor_t t, const gl_shape_t *s, cudnnDataType_t dt) {
  if (s->rank != 4) return gl_err(GL_EINVAL, "a channels-last tensor of rank %d", s->rank);
  GL_CUDNN(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NHWC, dt, (int)s->d[0], (int)s->d[1], (int)s->d[2], (int)s->d[3]),
           "describing an NHWC tensor");
  return GL_OK;
}

/* ---------------------------------------------------------------- convolution (cuDNN) */
typedef struct {
  cudnnTensorDescriptor_t x, y, bias;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnActivationDescriptor_t act;
  cudnnConvolutionFwdAlgo_t algo;
  size_t ws;
  gl_cu_epi_t epi;
  int64_t c, inner;
  bool has_bias;
  bool fused;     /* one cudnnConvolutionBiasActivationForward call does conv + bias + sum + ReLU */
  bool fused_off; /* cuDNN refused the fused call at the first run: separate kernels from then on */
} conv_t;

static void conv_destroy(void *p) {
  conv_t *s = (conv_t *)p;
  if (s->x) cudnnDestroyTensorDescriptor(s->x);
  if (s->y) cudnnDestroyTensorDescriptor(s->y);
  if (s->bias) cudnnDestroyTensorDescriptor(s->bias);
  if (s->w) cudnnDestroyFilterDescriptor(s->w);
  if (s->conv) cudnnDestroyConvolutionDescriptor(s->conv);
  if (s->act) cudnnDestroyActivationDescriptor(s->act);
  gl_free(s);
}

static gl_status_t run_conv(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  conv_t *s = (conv_t *)k->state; /* fused_off may be set on the first run */
  const float one = 1.f, zero = 0.f;
  if (s->fused && !s->fused_off) {
    /* y = relu(conv(x) + 1 * z + bias): z is the fused residual, or y itself with weight 0. */
    const float a2 = s->epi.sum_in >= 0 ? 1.f : 0.f;
    const void *z = s->epi.sum_in >= 0 ? in[s->epi.sum_in] : out[0];
    cudnnStatus_t e = cudnnConvolutionBiasActivationForward(cx->dnn, &one, s->x, in[0], s->w, in[1], s->conv, s->algo,
                                                            ws, s->ws, &a2, s->y, z, s->bias, in[2], s->act, s->y,
                                                            out[0]);
    if (e == CUDNN_STATUS_SUCCESS) return GL_OK;
    if (e != CUDNN_STATUS_NOT_SUPPORTED && e != CUDNN_STATUS_BAD_PARAM) return gl_cudnn_check(e, "fused convolution");
    s->fused_off = true; /* the decision is made before any work was queued: fall through */
  }
  GL_CUDNN(cudnnConvolutionForward(cx->dnn, &one, s->x, in[0], s->w, in[1], s->conv, s->algo, ws, s->ws, &zero, s->y, out[0]),
           "convolution");
  const void *bias = s->has_bias ? in[2] : NULL;
  if (gl_cu_epi_needed(&s->epi, bias)) return gl_cu_epi_run(&s->epi, cx->stream, out[0], bias, s->c, s->inner, in);
  return GL_OK;
}

/* The fused call covers ReLU with a bias and, optionally, a residual of y's exact shape. */
static bool conv_fusable(const gl_graph_t *g, const gl_node_t *n, const conv_t *s) {
  const char *e = getenv("GPULET_CUDA_FUSED_CONV");
  if (e && !strcmp(e, "0")) return false;
  if (n->fuse.act != GL_ACT_RELU || !s->has_bias) return false;
  if (n->fuse.sum_input < 0) return true;
  const gl_shape_t *z = &gl_in(g, n, n->fuse.sum_input)->shape, *y = &gl_out(g, n, 0)->shape;
  if (z->rank != y->rank) return false;
  for (int d = 0; d < y->rank; d++)
    if (z->d[d] != y->d[d]) return false;
  return true;
}

gl_status_t gl_cu_prep_conv(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *w = gl_in(g, n, 1), *y = gl_out(g, n, 0);
  conv_t *s = (conv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = conv_destroy;
  k->run = run_conv;
  if (x->shape.rank < 3) return gl_err(GL_EUNSUPPORTED, "%s: Conv input of rank %d on CUDA", gl_node_label(n), x->shape.rank);
  if (!gl_shape_numel(&x->shape) || !gl_shape_numel(&y->shape) || !gl_shape_numel(&w->shape))
    return gl_err(GL_EUNSUPPORTED, "%s: empty tensors in a convolution on CUDA", gl_node_label(n));
  if (x->dtype != GL_DT_F32 || w->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  GL_TRY(gl_cu_int_sized(n, &x->shape));
  GL_TRY(gl_cu_int_sized(n, &y->shape));
  gl_nn_geom_t geo;
  GL_TRY(gl_nn_geom(n, &x->shape, &w->shape.d[2], GL_GEOM_CONV, &geo));
  int nsp = geo.nsp < 2 ? 2 : geo.nsp, pad[GL_NN_MAX_SP], str[GL_NN_MAX_SP], dil[GL_NN_MAX_SP], fdim[GL_MAX_RANK];
  for (int d = 0; d < nsp; d++) {
    bool real = d < geo.nsp;
    if (real && geo.pb[d] != geo.pe[d])
      return gl_err(GL_EUNSUPPORTED, "%s: asymmetric padding is not supported on CUDA", gl_node_label(n));
    pad[d] = real ? (int)geo.pb[d] : 0;
    str[d] = real ? (int)geo.s[d] : 1;
    dil[d] = real ? (int)geo.d[d] : 1;
  }
  int wr = w->shape.rank < 4 ? 4 : w->shape.rank;
  for (int d = 0; d < wr; d++) fdim[d] = d < w->shape.rank ? (int)w->shape.d[d] : 1;
  cudnnDataType_t dt = data_type(cx);
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->x), "descriptor");
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->y), "descriptor");
  GL_CUDNN(cudnnCreateFilterDescriptor(&s->w), "descriptor");
  GL_CUDNN(cudnnCreateConvolutionDescriptor(&s->conv), "descriptor");
  /* Channels-last (the layout pass, fp16 by default): x and y NHWC, the weights uploaded KRSC. */
  const bool nhwc = cx->nhwc_node != 0;
  if (nhwc && (x->shape.rank != 4 || w->shape.rank != 4))
    return gl_err(GL_EINVAL, "%s: a channels-last convolution of rank %d", gl_node_label(n), x->shape.rank);
  GL_TRY(nhwc ? set_nhwc(s->x, &x->shape, dt) : set_nd(s->x, &x->shape, dt));
  GL_TRY(nhwc ? set_nhwc(s->y, &y->shape, dt) : set_nd(s->y, &y->shape, dt));
  GL_CUDNN(cudnnSetFilterNdDescriptor(s->w, dt, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, wr, fdim),
           "describing weights");
  /* f32 accumulation at every precision (fp16: cuDNN's pseudo-half configuration). */
  GL_CUDNN(cudnnSetConvolutionNdDescriptor(s->conv, nsp, pad, str, dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
           "describing the convolution");
  GL_CUDNN(cudnnSetConvolutionGroupCount(s->conv, (int)gl_attr_i(n, "group", 1)), "setting groups");
  /* CUDNN_DEFAULT_MATH lets cuDNN use TF32 tensor cores for float data on Ampere and later, so
   * fp32 asks for FMA kernels only; tf32 and fp16 (half data) allow tensor cores. */
  cudnnMathType_t math = cx->precision == GL_PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
  GL_CUDNN(cudnnSetConvolutionMathType(s->conv, math), "setting the math type");
  /* The algorithm is chosen by measurement (cudnnFind, outside any graph capture: it allocates
   * and synchronises), once per (shape, precision, GPU and SMs available): the choice is kept in
   * a file so the next compile skips the measurement. "v2": fp16 entries now mean half data. */
  char key[512];
  {
    int o = snprintf(key, sizeof key, "%s|v2|p%d%s|g%lld|x", cx->gpu, cx->precision, nhwc ? "|nhwc" : "",
                     (long long)gl_attr_i(n, "group", 1));
    for (int d = 0; d < x->shape.rank && o < 400; d++) o += snprintf(key + o, sizeof key - (size_t)o, ",%lld", (long long)x->shape.d[d]);
    o += snprintf(key + o, sizeof key - (size_t)o, "|w");
    for (int d = 0; d < w->shape.rank && o < 440; d++) o += snprintf(key + o, sizeof key - (size_t)o, ",%lld", (long long)w->shape.d[d]);
    for (int d = 0; d < nsp && o < 500; d++)
      o += snprintf(key + o, sizeof key - (size_t)o, "|%d,%d,%d", pad[d], str[d], dil[d]);
  }
  /* A cached entry is "algo + 16 * math type": cudnnFind reports the math type each algorithm
   * ran with, and the descriptor must carry that type for the algorithm to behave as measured. */
  int algo = -1, code = -1;
  size_t ws_need = 0;
  if (gl_cuda_algo_cache_get(key, &code, &ws_need) && code % 16 < CUDNN_CONVOLUTION_FWD_ALGO_COUNT &&
      code / 16 <= CUDNN_FMA_MATH) {
    algo = code % 16;
    GL_CUDNN(cudnnSetConvolutionMathType(s->conv, (cudnnMathType_t)(code / 16)), "setting the math type");
  } else {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    GL_CUDNN(cudnnFindConvolutionForwardAlgorithm(cx->dnn, s->x, s->w, s->conv, s->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                  &found, perf),
             "choosing an algorithm");
    cudnnMathType_t got = math;
    for (int i = 0; i < found && algo < 0; i++) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      /* fp32 takes FMA kernels only; tf32 anything but down-conversion to half. */
      if (cx->precision == GL_PREC_FP32 &&
          (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;
      if (cx->precision == GL_PREC_TF32 && perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      algo = (int)perf[i].algo, ws_need = perf[i].memory;
      got = cx->precision == GL_PREC_FP32 ? CUDNN_FMA_MATH : perf[i].mathType;
    }
    if (algo < 0) return gl_err(GL_EUNSUPPORTED, "%s: cuDNN has no algorithm for this convolution at this precision", gl_node_label(n));
    GL_CUDNN(cudnnSetConvolutionMathType(s->conv, got), "setting the math type");
    gl_cuda_algo_cache_put(key, algo + 16 * (int)got, ws_need);
  }
  s->algo = (cudnnConvolutionFwdAlgo_t)algo;
  /* Ask again for this algorithm's workspace (a cached entry may come from another cuDNN). */
  {
    size_t need = 0;
    GL_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(cx->dnn, s->x, s->w, s->conv, s->y, s->algo, &need),
             "sizing the workspace");
    s->ws = need > ws_need ? need : ws_need;
  }
  if (s->ws > cx->workspace_need) cx->workspace_need = s->ws;
  s->has_bias = n->n_inputs > 2 && n->inputs[2] >= 0 && n->fuse.sum_input != 2;
  s->c = y->shape.d[1];
  /* The epilogue's bias of element i is channel (i / inner) % c: NHWC has the channel innermost. */
  s->inner = nhwc ? 1 : gl_shape_numel(&y->shape) / (y->shape.d[0] * s->c);
  GL_TRY(gl_cu_epi_init(&s->epi, cx, g, n)); /* its residual has y's shape and layout */
  if (conv_fusable(g, n, s)) {
    gl_shape_t bs = y->shape;
    for (int d = 0; d < bs.rank; d++) bs.d[d] = d == 1 ? y->shape.d[1] : 1;
    GL_CUDNN(cudnnCreateTensorDescriptor(&s->bias), "descriptor");
    GL_TRY(nhwc ? set_nhwc(s->bias, &bs, dt) : set_nd(s->bias, &bs, dt));
    GL_CUDNN(cudnnCreateActivationDescriptor(&s->act), "descriptor");
    GL_CUDNN(cudnnSetActivationDescriptor(s->act, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0), "describing ReLU");
    s->fused = true;
  }
  return GL_OK;
}

/* ---------------------------------------------------------------- Gemm and MatMul (cuBLAS) */
typedef struct {
  int64_t m, n, k, batch;
  int64_t sa, sb, sy; /* batch strides (0 = broadcast) */
  bool ta, tb;
  float alpha, beta;
  cublasComputeType_t compute;
  cudaDataType_t dt; /* CUDA_R_32F, or CUDA_R_16F at fp16 */
  int h;
  int c_in;           /* Gemm's C input or -1 */
  gl_k_bcast_t c_bc;
  gl_cu_epi_t epi;
} mm_t;

static gl_status_t run_mm(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mm_t *s = (const mm_t *)k->state;
  const float zero = 0.f;
  /* Row-major Y[m,n] = A[m,k] B[k,n] is column-major Y^T = B^T A^T. */
  int lda = (int)(s->ta ? s->m : s->k), ldb = (int)(s->tb ? s->k : s->n);
  GL_CUBLAS(cublasGemmStridedBatchedEx(cx->blas, s->tb ? CUBLAS_OP_T : CUBLAS_OP_N, s->ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                       (int)s->n, (int)s->m, (int)s->k, &s->alpha, in[1], s->dt, ldb, s->sb, in[0],
                                       s->dt, lda, s->sa, &zero, out[0], s->dt, (int)s->n, s->sy,
                                       (int)s->batch, s->compute, CUBLAS_GEMM_DEFAULT),
            "matrix product");
  if (s->c_in >= 0 && in[s->c_in])
    GL_TRY(gl_cu_binary_launch(cx->stream, &s->c_bc, GL_K_ADD, out[0], in[s->c_in], out[0], s->h, s->m * s->n * s->batch));
  if (gl_cu_epi_needed(&s->epi, NULL)) return gl_cu_epi_run(&s->epi, cx->stream, out[0], NULL, 1, 1, in);
  return GL_OK;
}

gl_status_t gl_cu_prep_mm(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *a = &gl_in(g, n, 0)->shape, *b = &gl_in(g, n, 1)->shape, *y = &gl_out(g, n, 0)->shape;
  mm_t *s = (mm_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_mm;
  s->alpha = 1.f;
  s->c_in = -1;
  s->batch = 1;
  s->h = cx->half;
  /* fp16: half operands and output, f32 accumulation (tensor cores); tf32: f32 data, TF32 tensor
   * cores; fp32: plain f32. */
  s->dt = cx->half ? CUDA_R_16F : CUDA_R_32F;
  s->compute = cx->precision == GL_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  if (gl_in(g, n, 0)->dtype != GL_DT_F32 || gl_in(g, n, 1)->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  if (!strcmp(n->op_type, "Gemm")) {
    s->ta = gl_attr_i(n, "transA", 0) != 0;
    s->tb = gl_attr_i(n, "transB", 0) != 0;
    s->alpha = gl_attr_f(n, "alpha", 1.f);
    s->beta = gl_attr_f(n, "beta", 1.f);
    s->m = s->ta ? a->d[1] : a->d[0];
    s->k = s->ta ? a->d[0] : a->d[1];
    s->n = s->tb ? b->d[0] : b->d[1];
    if (a->rank != 2 || b->rank != 2) return gl_err(GL_EUNSUPPORTED, "%s: Gemm operands must be 2-D", gl_node_label(n));
    if (n->n_inputs > 2 && n->inputs[2] >= 0 && n->fuse.sum_input != 2) {
      if (s->beta != 1.f) return gl_err(GL_EUNSUPPORTED, "%s: beta other than 1 on CUDA", gl_node_label(n));
      s->c_in = 2;
      GL_TRY(gl_cu_bcast_init(&s->c_bc, y, y, &gl_in(g, n, 2)->shape));
    }
  } else {
    if (a->rank < 2 || b->rank < 2) return gl_err(GL_EUNSUPPORTED, "%s: 1-D MatMul operands on CUDA", gl_node_label(n));
    s->m = a->d[a->rank - 2];
    s->k = a->d[a->rank - 1];
    s->n = b->d[b->rank - 1];
    if (s->m * s->k == 0 || s->k * s->n == 0)
      return gl_err(GL_EUNSUPPORTED, "%s: empty MatMul operands on CUDA", gl_node_label(n));
    int64_t ba = gl_shape_numel(a) / (s->m * s->k), bb = gl_shape_numel(b) / (s->k * s->n);
    int64_t by = (s->m * s->n != 0) ? gl_shape_numel(y) / (s->m * s->n) : 0;
    /* Supported batch broadcasts: B without batch (its rows shared: A's batch folds into m), A
     * without batch (stride 0), or both with the output's whole batch (then, dim by dim, both
     * equal the output's: a_d <= y_d, a_d in {1, y_d} and prod a_d = prod y_d). */
    if (bb == 1) {
      s->m *= ba;
    } else if ((ba == by || ba == 1) && bb == by) {
      s->batch = by;
      s->sa = ba == 1 ? 0 : s->m * s->k;
      s->sb = s->k * s->n;
      s->sy = s->m * s->n;
    } else {
      return gl_err(GL_EUNSUPPORTED, "%s: MatMul batch broadcasting of this kind on CUDA", gl_node_label(n));
    }
  }
  if (s->m > INT_MAX || s->n > INT_MAX || s->k > INT_MAX || s->batch > INT_MAX)
    return gl_err(GL_EUNSUPPORTED, "%s: a matrix dimension above 2^31 on cuBLAS", gl_node_label(n));
  return gl_cu_epi_init(&s->epi, cx, g, n);
}

/* ---------------------------------------------------------------- pooling and LRN (cuDNN) */
typedef struct {
  cudnnTensorDescriptor_t x, y;
  cudnnPoolingDescriptor_t pool;
  cudnnLRNDescriptor_t lrn;
  bool own;      /* gpulet's own kernel (asymmetric padding, ceil_mode, dilation) */
  gl_k_pool_t kp;
  int64_t n;
  int h;
} pool_t;

static void pool_destroy(void *p) {
  pool_t *s = (pool_t *)p;
  if (s->x) cudnnDestroyTensorDescriptor(s->x);
  if (s->y) cudnnDestroyTensorDescriptor(s->y);
  if (s->pool) cudnnDestroyPoolingDescriptor(s->pool);
  if (s->lrn) cudnnDestroyLRNDescriptor(s->lrn);
  gl_free(s);
}

static gl_status_t run_pool(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const pool_t *s = (const pool_t *)k->state;
  const float one = 1.f, zero = 0.f;
  if (s->own) {
    k_pool<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->kp, in[0], out[0], s->h, s->n);
    return gl_cu_launch_check("pooling kernel");
  }
  if (s->lrn)
    GL_CUDNN(cudnnLRNCrossChannelForward(cx->dnn, s->lrn, CUDNN_LRN_CROSS_CHANNEL_DIM1, &one, s->x, in[0], &zero, s->y, out[0]), "LRN");
  else
    GL_CUDNN(cudnnPoolingForward(cx->dnn, s->pool, &one, s->x, in[0], &zero, s->y, out[0]), "pooling");
  return GL_OK;
}

gl_status_t gl_cu_prep_pool(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (n->n_outputs > 1 && n->outputs[1] >= 0) return gl_err(GL_EUNSUPPORTED, "%s: MaxPool indices on CUDA", gl_node_label(n));
  pool_t *s = (pool_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = pool_destroy;
  k->run = run_pool;
  s->h = cx->half;
  if (x->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  if (x->shape.rank < 3) return gl_err(GL_EUNSUPPORTED, "%s: input of rank %d on CUDA", gl_node_label(n), x->shape.rank);
  if (!gl_shape_numel(&x->shape) || !gl_shape_numel(&y->shape))
    return gl_err(GL_EUNSUPPORTED, "%s: empty tensors in pooling on CUDA", gl_node_label(n));
  GL_TRY(gl_cu_int_sized(n, &x->shape));
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->x), "descriptor");
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->y), "descriptor");
  const bool nhwc = cx->nhwc_node != 0; /* channels-last (never LRN: the layout pass keeps it NCHW) */
  if (nhwc && (x->shape.rank != 4 || !strcmp(n->op_type, "LRN")))
    return gl_err(GL_EINVAL, "%s: channels-last pooling of rank %d", gl_node_label(n), x->shape.rank);
  GL_TRY(nhwc ? set_nhwc(s->x, &x->shape, data_type(cx)) : set_nd(s->x, &x->shape, data_type(cx)));
  GL_TRY(nhwc ? set_nhwc(s->y, &y->shape, data_type(cx)) : set_nd(s->y, &y->shape, data_type(cx)));
  if (!strcmp(n->op_type, "LRN")) {
    GL_CUDNN(cudnnCreateLRNDescriptor(&s->lrn), "descriptor");
    GL_CUDNN(cudnnSetLRNDescriptor(s->lrn, (unsigned)gl_attr_i(n, "size", 1), gl_attr_f(n, "alpha", 1e-4f),
                                   gl_attr_f(n, "beta", 0.75f), gl_attr_f(n, "bias", 1.f)), "describing LRN");
    return GL_OK;
  }
  bool global = !strncmp(n->op_type, "Global", 6);
  bool is_max = strstr(n->op_type, "Max") != NULL;
  int nsp = x->shape.rank - 2, win[GL_NN_MAX_SP], pad[GL_NN_MAX_SP], str[GL_NN_MAX_SP];
  if (nsp < 1 || nsp > GL_NN_MAX_SP) return gl_err(GL_EUNSUPPORTED, "%s: rank on CUDA", gl_node_label(n));
  if (global) {
    for (int d = 0; d < nsp; d++) win[d] = (int)x->shape.d[2 + d], pad[d] = 0, str[d] = 1;
  } else {
    gl_nn_geom_t geo;
    GL_TRY(gl_nn_geom(n, &x->shape, NULL, GL_GEOM_POOL, &geo));
    bool plain = true;
    for (int d = 0; d < nsp; d++) /* cuDNN: symmetric pads, no dilation, floor output sizes */
      plain = plain && geo.pb[d] == geo.pe[d] && geo.d[d] == 1 &&
              geo.out[d] == (geo.in[d] + geo.pb[d] + geo.pe[d] - geo.k[d]) / geo.s[d] + 1;
    if (!plain) { /* what cuDNN's symmetric pooling cannot say: gpulet's own kernel */
      if (nsp > 3) return gl_err(GL_EUNSUPPORTED, "%s: pooling over %d spatial dims on CUDA", gl_node_label(n), nsp);
      s->own = true;
      s->kp.nhwc = nhwc;
      s->kp.c = x->shape.d[1];
      s->kp.is_max = is_max;
      s->kp.count_pad = gl_attr_i(n, "count_include_pad", 0) != 0;
      for (int d = 0; d < 3; d++) {
        int j = d - (3 - nsp); /* leading size-1 dims */
        bool real = j >= 0;
        s->kp.in[d] = real ? x->shape.d[2 + j] : 1;
        s->kp.out[d] = real ? y->shape.d[2 + j] : 1;
        s->kp.k[d] = real ? geo.k[j] : 1;
        s->kp.s[d] = real ? geo.s[j] : 1;
        s->kp.d[d] = real ? geo.d[j] : 1;
        s->kp.pb[d] = real ? geo.pb[j] : 0;
        s->kp.pe[d] = real ? geo.pe[j] : 0;
      }
      s->n = gl_shape_numel(&y->shape);
      return GL_OK;
    }
    for (int d = 0; d < nsp; d++) win[d] = (int)geo.k[d], pad[d] = (int)geo.pb[d], str[d] = (int)geo.s[d];
  }
  int nd = nsp < 2 ? 2 : nsp;
  for (int d = nsp; d < nd; d++) win[d] = 1, pad[d] = 0, str[d] = 1;
  cudnnPoolingMode_t mode = is_max ? CUDNN_POOLING_MAX
                                   : (gl_attr_i(n, "count_include_pad", 0) ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                                           : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING);
  GL_CUDNN(cudnnCreatePoolingDescriptor(&s->pool), "descriptor");
  GL_CUDNN(cudnnSetPoolingNdDescriptor(s->pool, mode, CUDNN_PROPAGATE_NAN, nd, win, pad, str), "describing pooling");
  return GL_OK;
}
