/* backend/cuda/cuda_ops.cu - the CUDA backend's ops: cuDNN for convolution, pooling and LRN,
 * cuBLAS for Gemm and MatMul, gpulet's own kernels (bodies in cuda_kernels.h) for the rest.
 * Every op honours the node's fusion (bias, residual/bias sum, activation) in one epilogue. */
#include <string.h>

#include "backend/cuda/cuda_int.h"

extern "C" {
#include "graph/nn_geom.h"
#include "graph/ops.h"
}

/* ---------------------------------------------------------------- kernels */
__global__ void k_unary(int op, const float *x, float *y, int64_t n, float a, float b) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = gl_k_unary(op, x[i], a, b);
}

__global__ void k_binary(gl_k_bcast_t bc, int op, const float *x0, const float *x1, float *y, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) gl_k_binary_at(&bc, op, x0, x1, y, i);
}

/* y = act(y + bias[c] + sum broadcast); the sum's offsets come from bc's input 1 strides. */
__global__ void k_epilogue(float *y, const float *bias, const float *sum, gl_k_bcast_t bc,
                           int64_t c_dim, int64_t inner, int act, float a, float b, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = y[i];
  if (bias) v += bias[(i / inner) % c_dim];
  if (sum) {
    int64_t o0, o1;
    gl_k_bcast_offsets(&bc, i, &o0, &o1);
    v += sum[o1];
  }
  y[i] = gl_k_unary(act, v, a, b);
}

__global__ void k_batchnorm(const float *x, float *y, const float *sc, const float *bi, const float *mu,
                            const float *var, float eps, int64_t c, int64_t inner, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) gl_k_batchnorm_at(x, y, sc, bi, mu, var, eps, c, inner, i);
}

__global__ void k_permute(gl_k_perm_t p, int64_t start, const char *x, char *y, int64_t n, int esz) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t o = gl_k_slice_offset(&p, start, i);
  for (int b = 0; b < esz; b++) y[i * esz + b] = x[o * esz + b];
}

__global__ void k_gather(const float *x, const int64_t *idx64, const int32_t *idx32, int64_t n_idx,
                         int64_t axis_len, int64_t inner, float *y, int64_t n, int *bad) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t in_i = i % inner, r = i / inner, j = r % n_idx, o = r / n_idx;
  int64_t k = idx64 ? idx64[j] : idx32[j];
  if (k < 0) k += axis_len;
  if (k < 0 || k >= axis_len) {
    *bad = 1;
    y[i] = 0.f;
    return;
  }
  y[i] = x[(o * axis_len + k) * inner + in_i];
}

__global__ void k_concat(const float *x, float *y, int64_t cols, int64_t col0, int64_t row_len, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[gl_k_concat_dst(cols, col0, row_len, i)] = x[i];
}

/* One block per row: max, sum of exp, then each element (block size a power of two). */
__global__ void k_softmax(const float *x, float *y, int64_t len, int log_sm) {
  __shared__ float red[256];
  const float *xr = x + (int64_t)blockIdx.x * len;
  float *yr = y + (int64_t)blockIdx.x * len;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) m = fmaxf(m, xr[j]);
  red[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  m = red[0];
  __syncthreads();
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += expf(xr[j] - m);
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  sum = red[0];
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) yr[j] = gl_k_softmax_at(xr[j], m, sum, log_sm);
}

/* One block per row: mean, variance, then each element. */
__global__ void k_layernorm(const float *x, float *y, const float *sc, const float *bi, int64_t len, float eps) {
  __shared__ float r1[256], r2[256];
  const float *xr = x + (int64_t)blockIdx.x * len;
  float *yr = y + (int64_t)blockIdx.x * len;
  float s = 0.f, q = 0.f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    s += xr[j];
    q += xr[j] * xr[j];
  }
  r1[threadIdx.x] = s;
  r2[threadIdx.x] = q;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if ((int)threadIdx.x < k) {
      r1[threadIdx.x] += r1[threadIdx.x + k];
      r2[threadIdx.x] += r2[threadIdx.x + k];
    }
    __syncthreads();
  }
  float mean = r1[0] / (float)len, var = fmaxf(r2[0] / (float)len - mean * mean, 0.f);
  float inv = rsqrtf(var + eps);
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) yr[j] = gl_k_layernorm_at(xr[j], mean, inv, sc, bi, j);
}

/* Mean/sum over the inner `len` elements of each of `rows` rows (reduced axes made innermost by
 * the caller's permutation p). */
__global__ void k_reduce(gl_k_perm_t p, const float *x, float *y, int64_t rows, int64_t len, int mean) {
  int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float s = 0.f;
  for (int64_t j = 0; j < len; j++) s += x[gl_k_perm_offset(&p, r * len + j)];
  y[r] = mean ? s / (float)len : s;
}

/* ---------------------------------------------------------------- shared helpers */
static gl_status_t launch_check(const char *what) { return gl_cu_check(cudaGetLastError(), what); }

/* Broadcast strides of `in` against `out` (0 where broadcast), right-aligned. */
static void bcast_strides(const gl_shape_t *out, const gl_shape_t *in, int64_t *st) {
  int64_t acc = 1;
  for (int d = out->rank - 1; d >= 0; d--) {
    int id = d - (out->rank - in->rank);
    if (id < 0) {
      st[d] = 0;
      continue;
    }
    st[d] = in->d[id] == 1 ? 0 : acc;
    acc *= in->d[id];
  }
}

static gl_status_t bcast_init(gl_k_bcast_t *b, const gl_shape_t *out, const gl_shape_t *a, const gl_shape_t *c) {
  if (out->rank > GL_K_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "rank %d is too high for the CUDA kernels", out->rank);
  memset(b, 0, sizeof *b);
  b->rank = out->rank ? out->rank : 1;
  if (out->rank == 0) b->dims[0] = 1;
  for (int d = 0; d < out->rank; d++) b->dims[d] = out->d[d];
  if (a) bcast_strides(out, a, b->st[0]);
  if (c) bcast_strides(out, c, b->st[1]);
  return GL_OK;
}

static int act_code(gl_act_t a) {
  switch (a) {
    case GL_ACT_RELU: return GL_K_RELU;
    case GL_ACT_LEAKY_RELU: return GL_K_LEAKY;
    case GL_ACT_CLIP: return GL_K_CLIP;
    case GL_ACT_SIGMOID: return GL_K_SIGMOID;
    case GL_ACT_TANH: return GL_K_TANH;
    case GL_ACT_HARD_SIGMOID: return GL_K_HSIGMOID;
    case GL_ACT_HARD_SWISH: return GL_K_HSWISH;
    case GL_ACT_GELU_ERF: return GL_K_GELU_ERF;
    case GL_ACT_GELU_TANH: return GL_K_GELU_TANH;
    default: return GL_K_IDENT;
  }
}

/* The fused epilogue of a conv / gemm / matmul node: which input is the residual or bias sum. */
typedef struct {
  int act;
  float a, b;
  int sum_in;         /* node input index or -1 */
  gl_k_bcast_t sum_bc;
  int64_t n;
} epi_t;

static gl_status_t epi_init(epi_t *e, const gl_graph_t *g, const gl_node_t *n) {
  memset(e, 0, sizeof *e);
  e->act = act_code(n->fuse.act);
  e->a = n->fuse.alpha;
  e->b = n->fuse.beta;
  e->sum_in = n->fuse.sum_input;
  const gl_value_t *y = gl_out(g, n, 0);
  e->n = gl_shape_numel(&y->shape);
  if (e->sum_in >= 0) GL_TRY(bcast_init(&e->sum_bc, &y->shape, &y->shape, &gl_in(g, n, e->sum_in)->shape));
  return GL_OK;
}

static bool epi_needed(const epi_t *e, const void *bias) { return bias || e->sum_in >= 0 || e->act != GL_K_IDENT; }

static gl_status_t epi_run(const epi_t *e, cudaStream_t s, float *y, const float *bias, int64_t c, int64_t inner,
                           void *const *in) {
  const float *sum = e->sum_in >= 0 ? (const float *)in[e->sum_in] : NULL;
  k_epilogue<<<gl_cu_blocks(e->n), 256, 0, s>>>(y, bias, sum, e->sum_bc, c ? c : 1, inner ? inner : 1, e->act,
                                                  e->a, e->b, e->n);
  return launch_check("epilogue kernel");
}

static float const_scalar(const gl_graph_t *g, const gl_node_t *n, int i, float dflt) {
  const gl_value_t *v = gl_in(g, n, i);
  return v && v->data && gl_shape_numel(&v->shape) == 1 ? (float)gl_tensor_get_f64(v->data, 0) : dflt;
}

/* ---------------------------------------------------------------- unary and binary */
typedef struct {
  int op;
  float a, b;
  int64_t n;
  gl_k_bcast_t bc;
} ew_t;

static gl_status_t run_unary(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const ew_t *s = (const ew_t *)k->state;
  if (s->n) k_unary<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->op, (const float *)in[0], (float *)out[0], s->n, s->a, s->b);
  return launch_check("unary kernel");
}

static const struct { const char *op; int code; float a, b; } unary_ops[] = {
    {"Relu", GL_K_RELU, 0, 0}, {"LeakyRelu", GL_K_LEAKY, 0.01f, 0}, {"Sigmoid", GL_K_SIGMOID, 0, 0},
    {"Tanh", GL_K_TANH, 0, 0}, {"HardSigmoid", GL_K_HSIGMOID, 0.2f, 0.5f}, {"HardSwish", GL_K_HSWISH, 0, 0},
    {"Erf", GL_K_ERF, 0, 0}, {"Sqrt", GL_K_SQRT, 0, 0}, {"Exp", GL_K_EXP, 0, 0}, {"Log", GL_K_LOG, 0, 0},
    {"Neg", GL_K_NEG, 0, 0}, {"Abs", GL_K_ABS, 0, 0}, {"Reciprocal", GL_K_RECIP, 0, 0}, {"Elu", GL_K_ELU, 1.f, 0},
    {"Softplus", GL_K_SOFTPLUS, 0, 0}, {"Floor", GL_K_FLOOR, 0, 0}, {"Ceil", GL_K_CEIL, 0, 0},
    {"Identity", GL_K_IDENT, 0, 0}, {"Dropout", GL_K_IDENT, 0, 0}, {"Clip", GL_K_CLIP, 0, 0},
    {"Gelu", GL_K_GELU_ERF, 0, 0},
};

static gl_status_t prep_unary(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  ew_t *s = (ew_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_unary;
  s->n = gl_shape_numel(&gl_out(g, n, 0)->shape);
  for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++)
    if (!strcmp(unary_ops[i].op, n->op_type)) {
      s->op = unary_ops[i].code;
      s->a = gl_attr_f(n, "alpha", unary_ops[i].a);
      s->b = gl_attr_f(n, "beta", unary_ops[i].b);
    }
  if (!strcmp(n->op_type, "Gelu") && strcmp(gl_attr_s(n, "approximate", "none"), "none")) s->op = GL_K_GELU_TANH;
  if (s->op == GL_K_CLIP) {
    s->a = g->opset < 11 ? gl_attr_f(n, "min", -INFINITY) : const_scalar(g, n, 1, -INFINITY);
    s->b = g->opset < 11 ? gl_attr_f(n, "max", INFINITY) : const_scalar(g, n, 2, INFINITY);
    if ((gl_in(g, n, 1) && !gl_in(g, n, 1)->data) || (gl_in(g, n, 2) && !gl_in(g, n, 2)->data))
      return gl_err(GL_EUNSUPPORTED, "%s: computed clip bounds are not supported on CUDA", gl_node_label(n));
  }
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  return GL_OK;
}

static gl_status_t run_binary(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const ew_t *s = (const ew_t *)k->state;
  if (s->n) k_binary<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->bc, s->op, (const float *)in[0], (const float *)in[1], (float *)out[0], s->n);
  return launch_check("binary kernel");
}

static gl_status_t prep_binary(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  static const struct { const char *op; int code; } ops[] = {
      {"Add", GL_K_ADD}, {"Sub", GL_K_SUB}, {"Mul", GL_K_MUL}, {"Div", GL_K_DIV}, {"Pow", GL_K_POW},
      {"Min", GL_K_MIN}, {"Max", GL_K_MAX}, {"PRelu", GL_K_PRELU}, {"Sum", GL_K_ADD}};
  if (n->n_inputs != 2 || !gl_in(g, n, 1))
    return gl_err(GL_EUNSUPPORTED, "%s: CUDA takes exactly two inputs here", gl_node_label(n));
  if (gl_in(g, n, 0)->dtype != GL_DT_F32 || gl_in(g, n, 1)->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  ew_t *s = (ew_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_binary;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].op, n->op_type)) s->op = ops[i].code;
  const gl_shape_t *o = &gl_out(g, n, 0)->shape;
  s->n = gl_shape_numel(o);
  return bcast_init(&s->bc, o, &gl_in(g, n, 0)->shape, &gl_in(g, n, 1)->shape);
}

/* ---------------------------------------------------------------- convolution (cuDNN) */
typedef struct {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnConvolutionFwdAlgo_t algo;
  size_t ws;
  epi_t epi;
  int64_t c, inner;
  bool has_bias;
} conv_t;

static void conv_destroy(void *p) {
  conv_t *s = (conv_t *)p;
  if (s->x) cudnnDestroyTensorDescriptor(s->x);
  if (s->y) cudnnDestroyTensorDescriptor(s->y);
  if (s->w) cudnnDestroyFilterDescriptor(s->w);
  if (s->conv) cudnnDestroyConvolutionDescriptor(s->conv);
  gl_free(s);
}

static gl_status_t set_nd(cudnnTensorDescriptor_t t, const gl_shape_t *s) {
  int dims[GL_MAX_RANK], st[GL_MAX_RANK], r = s->rank < 4 ? 4 : s->rank;
  for (int d = 0; d < r; d++) dims[d] = d < s->rank ? (int)s->d[d] : 1;
  st[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) st[d] = st[d + 1] * dims[d + 1];
  GL_CUDNN(cudnnSetTensorNdDescriptor(t, CUDNN_DATA_FLOAT, r, dims, st), "describing a tensor");
  return GL_OK;
}

static gl_status_t run_conv(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const conv_t *s = (const conv_t *)k->state;
  const float one = 1.f, zero = 0.f;
  GL_CUDNN(cudnnConvolutionForward(cx->dnn, &one, s->x, in[0], s->w, in[1], s->conv, s->algo, ws, s->ws, &zero, s->y, out[0]),
           "convolution");
  const float *bias = s->has_bias ? (const float *)in[2] : NULL;
  if (epi_needed(&s->epi, bias)) return epi_run(&s->epi, cx->stream, (float *)out[0], bias, s->c, s->inner, in);
  return GL_OK;
}

static gl_status_t prep_conv(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *w = gl_in(g, n, 1), *y = gl_out(g, n, 0);
  conv_t *s = (conv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = conv_destroy;
  k->run = run_conv;
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
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->x), "descriptor");
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->y), "descriptor");
  GL_CUDNN(cudnnCreateFilterDescriptor(&s->w), "descriptor");
  GL_CUDNN(cudnnCreateConvolutionDescriptor(&s->conv), "descriptor");
  GL_TRY(set_nd(s->x, &x->shape));
  GL_TRY(set_nd(s->y, &y->shape));
  GL_CUDNN(cudnnSetFilterNdDescriptor(s->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, wr, fdim), "describing weights");
  GL_CUDNN(cudnnSetConvolutionNdDescriptor(s->conv, nsp, pad, str, dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
           "describing the convolution");
  GL_CUDNN(cudnnSetConvolutionGroupCount(s->conv, (int)gl_attr_i(n, "group", 1)), "setting groups");
  GL_CUDNN(cudnnSetConvolutionMathType(s->conv, CUDNN_DEFAULT_MATH), "setting math (fp32, no TF32)");
  /* The algorithm is chosen by measurement, once per plan. */
  cudnnConvolutionFwdAlgoPerf_t perf[8];
  int found = 0;
  GL_CUDNN(cudnnFindConvolutionForwardAlgorithm(cx->dnn, s->x, s->w, s->conv, s->y, 8, &found, perf), "choosing an algorithm");
  int pick = -1;
  for (int i = 0; i < found && pick < 0; i++)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) pick = i;
  if (pick < 0) return gl_err(GL_EUNSUPPORTED, "%s: cuDNN has no algorithm for this convolution", gl_node_label(n));
  s->algo = perf[pick].algo;
  s->ws = perf[pick].memory;
  if (s->ws > cx->workspace_need) cx->workspace_need = s->ws;
  s->has_bias = n->n_inputs > 2 && n->inputs[2] >= 0 && n->fuse.sum_input != 2;
  s->c = y->shape.d[1];
  s->inner = gl_shape_numel(&y->shape) / (y->shape.d[0] * s->c);
  return epi_init(&s->epi, g, n);
}

/* ---------------------------------------------------------------- Gemm and MatMul (cuBLAS) */
typedef struct {
  int64_t m, n, k, batch;
  int64_t sa, sb, sy; /* batch strides (0 = broadcast) */
  bool ta, tb;
  float alpha, beta;
  int c_in;           /* Gemm's C input or -1 */
  gl_k_bcast_t c_bc;
  epi_t epi;
} mm_t;

static gl_status_t run_mm(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mm_t *s = (const mm_t *)k->state;
  const float zero = 0.f;
  /* Row-major Y[m,n] = A[m,k] B[k,n] is column-major Y^T = B^T A^T. */
  int lda = (int)(s->ta ? s->m : s->k), ldb = (int)(s->tb ? s->k : s->n);
  GL_CUBLAS(cublasSgemmStridedBatched(cx->blas, s->tb ? CUBLAS_OP_T : CUBLAS_OP_N, s->ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      (int)s->n, (int)s->m, (int)s->k, &s->alpha, (const float *)in[1], ldb, s->sb,
                                      (const float *)in[0], lda, s->sa, &zero, (float *)out[0], (int)s->n, s->sy,
                                      (int)s->batch),
            "matrix product");
  if (s->c_in >= 0 && in[s->c_in]) {
    int64_t total = s->m * s->n;
    k_binary<<<gl_cu_blocks(total), 256, 0, cx->stream>>>(s->c_bc, GL_K_ADD, (const float *)out[0],
                                                          (const float *)in[s->c_in], (float *)out[0], total);
    GL_TRY(launch_check("Gemm C"));
  }
  if (epi_needed(&s->epi, NULL)) return epi_run(&s->epi, cx->stream, (float *)out[0], NULL, 1, 1, in);
  return GL_OK;
}

static gl_status_t prep_mm(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *a = &gl_in(g, n, 0)->shape, *b = &gl_in(g, n, 1)->shape, *y = &gl_out(g, n, 0)->shape;
  mm_t *s = (mm_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_mm;
  s->alpha = 1.f;
  s->c_in = -1;
  s->batch = 1;
  if (!strcmp(n->op_type, "Gemm")) {
    s->ta = gl_attr_i(n, "transA", 0) != 0;
    s->tb = gl_attr_i(n, "transB", 0) != 0;
    s->alpha = gl_attr_f(n, "alpha", 1.f);
    s->beta = gl_attr_f(n, "beta", 1.f);
    s->m = s->ta ? a->d[1] : a->d[0];
    s->k = s->ta ? a->d[0] : a->d[1];
    s->n = s->tb ? b->d[0] : b->d[1];
    if (n->n_inputs > 2 && n->inputs[2] >= 0 && n->fuse.sum_input != 2) {
      if (s->beta != 1.f) return gl_err(GL_EUNSUPPORTED, "%s: beta other than 1 on CUDA", gl_node_label(n));
      s->c_in = 2;
      GL_TRY(bcast_init(&s->c_bc, y, y, &gl_in(g, n, 2)->shape));
    }
  } else {
    if (a->rank < 2 || b->rank < 2) return gl_err(GL_EUNSUPPORTED, "%s: 1-D MatMul operands on CUDA", gl_node_label(n));
    s->m = a->d[a->rank - 2];
    s->k = a->d[a->rank - 1];
    s->n = b->d[b->rank - 1];
    int64_t ba = gl_shape_numel(a) / (s->m * s->k), bb = gl_shape_numel(b) / (s->k * s->n);
    if (bb == 1) { /* weights: fold A's batch into rows */
      s->m *= ba;
    } else {
      s->batch = ba > bb ? ba : bb;
      if ((ba != bb && ba != 1 && bb != 1))
        return gl_err(GL_EUNSUPPORTED, "%s: mixed batch broadcasting on CUDA", gl_node_label(n));
      s->sa = ba == 1 ? 0 : s->m * s->k;
      s->sb = s->k * s->n;
      if (bb == 1) s->sb = 0;
      s->sy = s->m * s->n;
    }
  }
  return epi_init(&s->epi, g, n);
}

/* ---------------------------------------------------------------- pooling and LRN (cuDNN) */
typedef struct {
  cudnnTensorDescriptor_t x, y;
  cudnnPoolingDescriptor_t pool;
  cudnnLRNDescriptor_t lrn;
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
  if (s->lrn)
    GL_CUDNN(cudnnLRNCrossChannelForward(cx->dnn, s->lrn, CUDNN_LRN_CROSS_CHANNEL_DIM1, &one, s->x, in[0], &zero, s->y, out[0]), "LRN");
  else
    GL_CUDNN(cudnnPoolingForward(cx->dnn, s->pool, &one, s->x, in[0], &zero, s->y, out[0]), "pooling");
  return GL_OK;
}

static gl_status_t prep_pool(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (n->n_outputs > 1 && n->outputs[1] >= 0) return gl_err(GL_EUNSUPPORTED, "%s: MaxPool indices on CUDA", gl_node_label(n));
  pool_t *s = (pool_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = pool_destroy;
  k->run = run_pool;
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->x), "descriptor");
  GL_CUDNN(cudnnCreateTensorDescriptor(&s->y), "descriptor");
  GL_TRY(set_nd(s->x, &x->shape));
  GL_TRY(set_nd(s->y, &y->shape));
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
    for (int d = 0; d < nsp; d++) {
      if (geo.pb[d] != geo.pe[d] || geo.d[d] != 1)
        return gl_err(GL_EUNSUPPORTED, "%s: asymmetric padding, ceil_mode or dilation in pooling on CUDA", gl_node_label(n));
      win[d] = (int)geo.k[d], pad[d] = (int)geo.pb[d], str[d] = (int)geo.s[d];
    }
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

/* ---------------------------------------------------------------- norms and softmax */
typedef struct {
  int64_t rows, len, c, inner, n;
  float eps;
  int log_sm;
  bool has_bias;
} norm_t;

static gl_status_t run_bn(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const norm_t *s = (const norm_t *)k->state;
  k_batchnorm<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>((const float *)in[0], (float *)out[0], (const float *)in[1],
                                                          (const float *)in[2], (const float *)in[3], (const float *)in[4],
                                                          s->eps, s->c, s->inner, s->n);
  return launch_check("batch normalization kernel");
}

static gl_status_t prep_bn(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  if (n->n_outputs > 1) return gl_err(GL_EUNSUPPORTED, "%s: training outputs on CUDA", gl_node_label(n));
  norm_t *s = (norm_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_bn;
  s->n = gl_shape_numel(x);
  s->c = x->rank > 1 ? x->d[1] : 1;
  s->inner = s->n / ((x->d[0] ? x->d[0] : 1) * (s->c ? s->c : 1));
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  return GL_OK;
}

static gl_status_t run_rows(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const norm_t *s = (const norm_t *)k->state;
  if (!s->rows) return GL_OK;
  if (s->eps > 0.f)
    k_layernorm<<<(unsigned)s->rows, 256, 0, cx->stream>>>((const float *)in[0], (float *)out[0], (const float *)in[1],
                                                            s->has_bias ? (const float *)in[2] : NULL, s->len, s->eps);
  else
    k_softmax<<<(unsigned)s->rows, 256, 0, cx->stream>>>((const float *)in[0], (float *)out[0], s->len, s->log_sm);
  return launch_check("row kernel");
}

static gl_status_t prep_rows(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  bool ln = !strcmp(n->op_type, "LayerNormalization");
  int axis;
  int64_t dflt = ln ? -1 : (g->opset < 13 ? 1 : -1);
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", dflt), x->rank, &axis));
  if (!ln && g->opset >= 13 && axis != x->rank - 1)
    return gl_err(GL_EUNSUPPORTED, "%s: softmax over a non-last axis on CUDA", gl_node_label(n));
  if (ln && n->n_outputs > 1 && (n->outputs[1] >= 0 || (n->n_outputs > 2 && n->outputs[2] >= 0)))
    return gl_err(GL_EUNSUPPORTED, "%s: Mean/InvStdDev outputs on CUDA", gl_node_label(n));
  norm_t *s = (norm_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_rows;
  s->len = 1;
  for (int d = axis; d < x->rank; d++) s->len *= x->d[d];
  s->rows = s->len ? gl_shape_numel(x) / s->len : 0;
  s->log_sm = !strcmp(n->op_type, "LogSoftmax");
  if (ln) {
    s->eps = gl_attr_f(n, "epsilon", 1e-5f);
    s->has_bias = n->n_inputs > 2 && n->inputs[2] >= 0;
    if (gl_shape_numel(&gl_in(g, n, 1)->shape) != s->len ||
        (s->has_bias && gl_shape_numel(&gl_in(g, n, 2)->shape) != s->len))
      return gl_err(GL_EUNSUPPORTED, "%s: broadcast scale/bias on CUDA", gl_node_label(n));
  }
  return GL_OK;
}

/* ---------------------------------------------------------------- data movement */
typedef struct {
  gl_k_perm_t p;
  int64_t start, n, n_idx, axis_len, inner;
  int esz;
  int idx64;
  int n_parts;
  int64_t cols[64], col0[64], row_len;
  int *bad; /* device flag for Gather */
  int mean;
  int64_t rows, len;
} mv_t;

static void mv_destroy(void *p) {
  mv_t *s = (mv_t *)p;
  if (s->bad) cudaFree(s->bad);
  gl_free(s);
}

static gl_status_t run_transpose(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (s->n) k_permute<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->p, s->start, (const char *)in[0], (char *)out[0], s->n, s->esz);
  return launch_check("transpose kernel");
}

static gl_status_t prep_transpose(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  int cnt;
  const int64_t *perm = gl_attr_ints(n, "perm", &cnt);
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(x, st);
  s->p.rank = x->rank ? x->rank : 1;
  s->p.dims[0] = 1;
  for (int d = 0; d < x->rank; d++) {
    int from = perm ? (int)perm[d] : x->rank - 1 - d;
    s->p.dims[d] = x->d[from];
    s->p.in_st[d] = st[from];
  }
  s->n = gl_shape_numel(x);
  s->esz = (int)gl_dtype_size(gl_in(g, n, 0)->dtype);
  return GL_OK;
}

static gl_status_t run_gather(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n) return GL_OK;
  k_gather<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>((const float *)in[0], s->idx64 ? (const int64_t *)in[1] : NULL,
                                                       s->idx64 ? NULL : (const int32_t *)in[1], s->n_idx, s->axis_len,
                                                       s->inner, (float *)out[0], s->n, s->bad);
  return launch_check("gather kernel");
}

static gl_status_t prep_gather(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *ix = gl_in(g, n, 1);
  if (x->dtype != GL_DT_F32 || (ix->dtype != GL_DT_I64 && ix->dtype != GL_DT_I32))
    return gl_err(GL_EUNSUPPORTED, "%s: CUDA gathers float data with int32/int64 indices", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = mv_destroy;
  k->run = run_gather;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), x->shape.rank, &axis));
  s->axis_len = x->shape.d[axis];
  s->inner = 1;
  for (int d = axis + 1; d < x->shape.rank; d++) s->inner *= x->shape.d[d];
  s->n_idx = gl_shape_numel(&ix->shape);
  s->n = gl_shape_numel(&gl_out(g, n, 0)->shape);
  s->idx64 = ix->dtype == GL_DT_I64;
  /* Out-of-range indices are zeroed and flagged on the device (checking needs a sync). */
  GL_CU(cudaMalloc((void **)&s->bad, sizeof(int)), "allocating a flag");
  GL_CU(cudaMemset(s->bad, 0, sizeof(int)), "clearing a flag");
  return GL_OK;
}

static gl_status_t run_concat(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  for (int i = 0; i < s->n_parts; i++) {
    int64_t cnt = s->cols[i] * s->rows;
    if (cnt) k_concat<<<gl_cu_blocks(cnt), 256, 0, cx->stream>>>((const float *)in[i], (float *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
  }
  return launch_check("concat kernel");
}

static gl_status_t prep_concat(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *y = &gl_out(g, n, 0)->shape;
  if (n->n_inputs > 64) return gl_err(GL_EUNSUPPORTED, "%s: more than 64 inputs on CUDA", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_concat;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), y->rank, &axis));
  s->rows = 1;
  for (int d = 0; d < axis; d++) s->rows *= y->d[d];
  s->row_len = s->rows ? gl_shape_numel(y) / s->rows : 0;
  int64_t c0 = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    const gl_value_t *v = gl_in(g, n, i);
    s->cols[i] = s->rows ? gl_shape_numel(&v->shape) / s->rows : 0;
    s->col0[i] = c0;
    c0 += s->cols[i];
  }
  s->n_parts = n->n_inputs;
  return GL_OK;
}

static gl_status_t run_reduce(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (s->rows) k_reduce<<<gl_cu_blocks(s->rows), 256, 0, cx->stream>>>(s->p, (const float *)in[0], (float *)out[0], s->rows, s->len, s->mean);
  return launch_check("reduce kernel");
}

static gl_status_t prep_reduce(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  bool red[GL_MAX_RANK] = {false};
  int cnt = 0;
  const int64_t *axes = gl_attr_ints(n, "axes", &cnt);
  const gl_value_t *av = gl_in(g, n, 1);
  int64_t tmp[GL_MAX_RANK];
  if (!axes && av && av->data) {
    cnt = (int)gl_shape_numel(&av->shape);
    for (int i = 0; i < cnt && i < GL_MAX_RANK; i++) tmp[i] = gl_tensor_get_i64(av->data, i);
    axes = tmp;
  }
  if (!cnt) {
    if (gl_attr_i(n, "noop_with_empty_axes", 0)) return gl_err(GL_EUNSUPPORTED, "%s: no-op reduce on CUDA", gl_node_label(n));
    for (int d = 0; d < x->rank; d++) red[d] = true;
  }
  for (int i = 0; i < cnt; i++) {
    int a;
    GL_TRY(gl_norm_axis(n, axes[i], x->rank, &a));
    red[a] = true;
  }
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_reduce;
  s->mean = !strcmp(n->op_type, "ReduceMean");
  /* Permute kept dims first, reduced dims last. */
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(x, st);
  int r = 0;
  s->rows = 1;
  s->len = 1;
  for (int pass = 0; pass < 2; pass++)
    for (int d = 0; d < x->rank; d++)
      if (red[d] == (pass == 1)) {
        s->p.dims[r] = x->d[d];
        s->p.in_st[r++] = st[d];
        if (pass) s->len *= x->d[d];
        else s->rows *= x->d[d];
      }
  s->p.rank = r ? r : 1;
  if (!r) s->p.dims[0] = 1;
  return GL_OK;
}

/* ---------------------------------------------------------------- the table */
static const struct {
  const char *op;
  gl_cu_prepare_fn prep;
} ops[] = {
    {"Relu", prep_unary}, {"LeakyRelu", prep_unary}, {"Sigmoid", prep_unary}, {"Tanh", prep_unary},
    {"HardSigmoid", prep_unary}, {"HardSwish", prep_unary}, {"Erf", prep_unary}, {"Sqrt", prep_unary},
    {"Exp", prep_unary}, {"Log", prep_unary}, {"Neg", prep_unary}, {"Abs", prep_unary},
    {"Reciprocal", prep_unary}, {"Elu", prep_unary}, {"Softplus", prep_unary}, {"Floor", prep_unary},
    {"Ceil", prep_unary}, {"Identity", prep_unary}, {"Dropout", prep_unary}, {"Clip", prep_unary},
    {"Gelu", prep_unary},
    {"Add", prep_binary}, {"Sub", prep_binary}, {"Mul", prep_binary}, {"Div", prep_binary},
    {"Pow", prep_binary}, {"Min", prep_binary}, {"Max", prep_binary}, {"PRelu", prep_binary},
    {"Sum", prep_binary},
    {"Conv", prep_conv}, {"Gemm", prep_mm}, {"MatMul", prep_mm},
    {"MaxPool", prep_pool}, {"AveragePool", prep_pool}, {"GlobalAveragePool", prep_pool},
    {"GlobalMaxPool", prep_pool}, {"LRN", prep_pool},
    {"BatchNormalization", prep_bn}, {"LayerNormalization", prep_rows}, {"Softmax", prep_rows},
    {"LogSoftmax", prep_rows},
    {"Transpose", prep_transpose}, {"Gather", prep_gather}, {"Concat", prep_concat},
    {"ReduceMean", prep_reduce}, {"ReduceSum", prep_reduce},
};

gl_cu_prepare_fn gl_cu_find_op(const char *op_type) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].op, op_type)) return ops[i].prep;
  return NULL;
}
