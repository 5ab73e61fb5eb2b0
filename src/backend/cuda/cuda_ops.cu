/* backend/cuda/cuda_ops.cu - the CUDA backend's ops: cuDNN for convolution, pooling and LRN,
 * cuBLAS for Gemm and MatMul, gpulet's own kernels (bodies in cuda_kernels.h) for the rest.
 * Every op honours the node's fusion (bias, residual/bias sum, activation) in one epilogue. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_int.h"

extern "C" {
#include "graph/nn_geom.h"
#include "graph/ops.h"
#include "graph/ops_tensor.h"
}

/* ---------------------------------------------------------------- kernels */
/* Every elementwise kernel is a grid-stride loop (GL_CU_FOR), so the grid is capped at 2^20
 * blocks whatever n is; row kernels (softmax, layernorm) likewise walk rows by gridDim.x. */
__global__ void k_unary(int op, const float *x, float *y, int64_t n, float a, float b) {
  GL_CU_FOR(i, n) y[i] = gl_k_unary(op, x[i], a, b);
}

__global__ void k_binary(gl_k_bcast_t bc, int op, const float *x0, const float *x1, float *y, int64_t n) {
  GL_CU_FOR(i, n) gl_k_binary_at(&bc, op, x0, x1, y, i);
}

/* y = act(y + bias[c] + sum broadcast); the sum's offsets come from bc's input 1 strides. */
__global__ void k_epilogue(float *y, const float *bias, const float *sum, gl_k_bcast_t bc,
                           int64_t c_dim, int64_t inner, int act, float a, float b, int64_t n) {
  GL_CU_FOR(i, n) {
    float v = y[i];
    if (bias) v += bias[(i / inner) % c_dim];
    if (sum) {
      int64_t o0, o1;
      gl_k_bcast_offsets(&bc, i, &o0, &o1);
      v += sum[o1];
    }
    y[i] = gl_k_unary(act, v, a, b);
  }
}

__global__ void k_batchnorm(const float *x, float *y, const float *sc, const float *bi, const float *mu,
                            const float *var, float eps, int64_t c, int64_t inner, int64_t n) {
  GL_CU_FOR(i, n) gl_k_batchnorm_at(x, y, sc, bi, mu, var, eps, c, inner, i);
}

/* Copies with a precomputed source offset, typed by element size (1, 2, 4 or 8 bytes). */
template <typename T>
__global__ void k_permute(gl_k_perm_t p, int64_t start, const T *x, T *y, int64_t n) {
  GL_CU_FOR(i, n) y[i] = x[gl_k_slice_offset(&p, start, i)];
}

template <typename T>
__global__ void k_tile(gl_k_tile_t t, const T *x, T *y, int64_t n) {
  GL_CU_FOR(i, n) y[i] = x[gl_k_tile_offset(&t, i)];
}

template <typename T>
__global__ void k_pad(gl_k_pad_t p, const T *x, T *y, T value, int64_t n) {
  GL_CU_FOR(i, n) {
    int64_t o = gl_k_pad_src(&p, i);
    y[i] = o < 0 ? value : x[o];
  }
}

template <typename T>
__global__ void k_where(gl_k_bcast3_t b, const unsigned char *c, const T *x, const T *z, T *y, int64_t n) {
  GL_CU_FOR(i, n) {
    int64_t o[3];
    gl_k_bcast3_offsets(&b, i, o);
    y[i] = c[o[0]] ? x[o[1]] : z[o[2]];
  }
}

__global__ void k_pool(gl_k_pool_t p, const float *x, float *y, int64_t n) {
  GL_CU_FOR(i, n) y[i] = gl_k_pool_at(&p, x, i);
}

__global__ void k_resize(gl_k_resize_t r, const int64_t *i0, const int64_t *i1, const double *w, const float *x,
                         float *y, int64_t n) {
  GL_CU_FOR(i, n) y[i] = gl_k_resize_at(&r, i0, i1, w, x, i);
}

__global__ void k_cast(int from, int to, const void *x, void *y, int64_t n) {
  GL_CU_FOR(i, n) gl_k_cast_at(from, to, x, y, i);
}

template <typename T>
__global__ void k_gather(const T *x, const int64_t *idx64, const int32_t *idx32, int64_t n_idx,
                         int64_t axis_len, int64_t inner, T *y, int64_t n, int *bad) {
  GL_CU_FOR(i, n) {
    int64_t in_i = i % inner, r = i / inner, j = r % n_idx, o = r / n_idx;
    int64_t k = idx64 ? idx64[j] : idx32[j];
    if (k < 0) k += axis_len;
    if (k < 0 || k >= axis_len) {
      *bad = 1;
      y[i] = T(0);
    } else {
      y[i] = x[(o * axis_len + k) * inner + in_i];
    }
  }
}

template <typename T>
__global__ void k_concat(const T *x, T *y, int64_t cols, int64_t col0, int64_t row_len, int64_t n) {
  GL_CU_FOR(i, n) y[gl_k_concat_dst(cols, col0, row_len, i)] = x[i];
}

/* Block-wide sum or max over 256 threads through shared memory; every thread gets the result. */
__device__ float block_reduce(float v, float *red, bool is_max) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s)
      red[threadIdx.x] = is_max ? fmaxf(red[threadIdx.x], red[threadIdx.x + s]) : red[threadIdx.x] + red[threadIdx.x + s];
    __syncthreads();
  }
  float r = red[0];
  __syncthreads(); /* red is reused by the next reduction */
  return r;
}

/* One block (256 threads) per row: max, sum of exp, then each element. */
__global__ void k_softmax(const float *x, float *y, int64_t rows, int64_t len, int log_sm) {
  __shared__ float red[256];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * len;
    float *yr = y + row * len;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_reduce(m, red, true);
    float sum = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += expf(xr[j] - m);
    sum = block_reduce(sum, red, false);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) yr[j] = gl_k_softmax_at(xr[j], m, sum, log_sm);
  }
}

/* One block per row: mean, then variance as the mean of squared deviations (two passes, so
 * rows with a large mean keep their precision), then each element. */
__global__ void k_layernorm(const float *x, float *y, const float *sc, const float *bi, int64_t rows, int64_t len,
                            float eps) {
  __shared__ float red[256];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * len;
    float *yr = y + row * len;
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += xr[j];
    float mean = block_reduce(s, red, false) / (float)len;
    float q = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      float d = xr[j] - mean;
      q += d * d;
    }
    float inv = rsqrtf(block_reduce(q, red, false) / (float)len + eps);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) yr[j] = gl_k_layernorm_at(xr[j], mean, inv, sc, bi, j);
  }
}

/* Mean/sum over the inner `len` elements of each of `rows` rows (reduced axes made innermost by
 * the caller's permutation p). */
__global__ void k_reduce(gl_k_perm_t p, const float *x, float *y, int64_t rows, int64_t len, int mean) {
  GL_CU_FOR(r, rows) {
    float s = 0.f;
    for (int64_t j = 0; j < len; j++) s += x[gl_k_perm_offset(&p, r * len + j)];
    y[r] = mean ? s / (float)len : s;
  }
}

/* ---------------------------------------------------------------- shared helpers */
static gl_status_t launch_check(const char *what) { return gl_cu_check(cudaGetLastError(), what); }

/* Blocks for a row kernel: one per row, at most 2^20 (the kernels loop over the rest). */
static unsigned row_blocks(int64_t rows) { return (unsigned)(rows < 1 ? 1 : (rows > (1 << 20) ? (1 << 20) : rows)); }

/* Element size check for the typed data-movement kernels. */
static gl_status_t esz_ok(const gl_node_t *n, size_t esz) {
  if (esz == 1 || esz == 2 || esz == 4 || esz == 8) return GL_OK;
  return gl_err(GL_EUNSUPPORTED, "%s: %zu-byte elements on CUDA", gl_node_label(n), esz);
}

/* cuDNN describes tensors with int dims and strides. */
static gl_status_t int_sized(const gl_node_t *n, const gl_shape_t *s) {
  if (gl_shape_numel(s) <= INT32_MAX) return GL_OK;
  return gl_err(GL_EUNSUPPORTED, "%s: a tensor of more than 2^31 elements on cuDNN", gl_node_label(n));
}

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
  if (n->n_outputs > 1 && n->outputs[1] >= 0)
    return gl_err(GL_EUNSUPPORTED, "%s: Dropout's mask output on CUDA", gl_node_label(n));
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
  if (x->shape.rank < 3) return gl_err(GL_EUNSUPPORTED, "%s: Conv input of rank %d on CUDA", gl_node_label(n), x->shape.rank);
  if (!gl_shape_numel(&x->shape) || !gl_shape_numel(&y->shape) || !gl_shape_numel(&w->shape))
    return gl_err(GL_EUNSUPPORTED, "%s: empty tensors in a convolution on CUDA", gl_node_label(n));
  if (x->dtype != GL_DT_F32 || w->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  GL_TRY(int_sized(n, &x->shape));
  GL_TRY(int_sized(n, &y->shape));
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
  /* CUDNN_DEFAULT_MATH lets cuDNN use TF32 tensor cores for float data on Ampere and later, so
   * fp32 asks for FMA kernels only; tf32 allows tensor cores; fp16 also lets cuDNN down-convert
   * the float inputs to half. */
  cudnnMathType_t math = cx->precision == GL_PREC_FP16   ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                         : cx->precision == GL_PREC_TF32 ? CUDNN_TENSOR_OP_MATH
                                                          : CUDNN_FMA_MATH;
  GL_CUDNN(cudnnSetConvolutionMathType(s->conv, math), "setting the math type");
  /* The algorithm is chosen by measurement (cudnnFind, outside any graph capture: it allocates
   * and synchronises), once per (shape, precision, GPU): the choice is kept in a file so the next
   * compile skips the measurement. */
  char key[512];
  {
    int o = snprintf(key, sizeof key, "%s|p%d|g%lld|x", cx->gpu, cx->precision, (long long)gl_attr_i(n, "group", 1));
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
  s->inner = gl_shape_numel(&y->shape) / (y->shape.d[0] * s->c);
  return epi_init(&s->epi, g, n);
}

/* ---------------------------------------------------------------- Gemm and MatMul (cuBLAS) */
typedef struct {
  int64_t m, n, k, batch;
  int64_t sa, sb, sy; /* batch strides (0 = broadcast) */
  bool ta, tb;
  float alpha, beta;
  cublasComputeType_t compute;
  int c_in;           /* Gemm's C input or -1 */
  gl_k_bcast_t c_bc;
  epi_t epi;
} mm_t;

static gl_status_t run_mm(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mm_t *s = (const mm_t *)k->state;
  const float zero = 0.f;
  /* Row-major Y[m,n] = A[m,k] B[k,n] is column-major Y^T = B^T A^T. */
  int lda = (int)(s->ta ? s->m : s->k), ldb = (int)(s->tb ? s->k : s->n);
  GL_CUBLAS(cublasGemmStridedBatchedEx(cx->blas, s->tb ? CUBLAS_OP_T : CUBLAS_OP_N, s->ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                       (int)s->n, (int)s->m, (int)s->k, &s->alpha, in[1], CUDA_R_32F, ldb, s->sb, in[0],
                                       CUDA_R_32F, lda, s->sa, &zero, out[0], CUDA_R_32F, (int)s->n, s->sy,
                                       (int)s->batch, s->compute, CUBLAS_GEMM_DEFAULT),
            "matrix product");
  if (s->c_in >= 0 && in[s->c_in]) {
    int64_t total = s->m * s->n * s->batch;
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
  s->compute = cx->precision == GL_PREC_FP16   ? CUBLAS_COMPUTE_32F_FAST_16F
               : cx->precision == GL_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                : CUBLAS_COMPUTE_32F;
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
      GL_TRY(bcast_init(&s->c_bc, y, y, &gl_in(g, n, 2)->shape));
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
  return epi_init(&s->epi, g, n);
}

/* ---------------------------------------------------------------- pooling and LRN (cuDNN) */
typedef struct {
  cudnnTensorDescriptor_t x, y;
  cudnnPoolingDescriptor_t pool;
  cudnnLRNDescriptor_t lrn;
  bool own;      /* gpulet's own kernel (asymmetric padding, ceil_mode, dilation) */
  gl_k_pool_t kp;
  int64_t n;
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
    k_pool<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->kp, (const float *)in[0], (float *)out[0], s->n);
    return launch_check("pooling kernel");
  }
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
  if (x->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  if (x->shape.rank < 3) return gl_err(GL_EUNSUPPORTED, "%s: input of rank %d on CUDA", gl_node_label(n), x->shape.rank);
  if (!gl_shape_numel(&x->shape) || !gl_shape_numel(&y->shape))
    return gl_err(GL_EUNSUPPORTED, "%s: empty tensors in pooling on CUDA", gl_node_label(n));
  GL_TRY(int_sized(n, &x->shape));
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
    bool plain = true;
    for (int d = 0; d < nsp; d++) /* cuDNN: symmetric pads, no dilation, floor output sizes */
      plain = plain && geo.pb[d] == geo.pe[d] && geo.d[d] == 1 &&
              geo.out[d] == (geo.in[d] + geo.pb[d] + geo.pe[d] - geo.k[d]) / geo.s[d] + 1;
    if (!plain) { /* what cuDNN's symmetric pooling cannot say: gpulet's own kernel */
      if (nsp > 3) return gl_err(GL_EUNSUPPORTED, "%s: pooling over %d spatial dims on CUDA", gl_node_label(n), nsp);
      s->own = true;
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

/* ---------------------------------------------------------------- norms and softmax */
typedef struct {
  int64_t rows, len, c, inner, n;
  float eps;
  int log_sm;
  bool has_bias, is_ln;
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
  if (n->n_outputs > 1 && n->outputs[1] >= 0) return gl_err(GL_EUNSUPPORTED, "%s: training outputs on CUDA", gl_node_label(n));
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
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
  if (s->is_ln)
    k_layernorm<<<row_blocks(s->rows), 256, 0, cx->stream>>>((const float *)in[0], (float *)out[0], (const float *)in[1],
                                                              s->has_bias ? (const float *)in[2] : NULL, s->rows, s->len,
                                                              s->eps);
  else
    k_softmax<<<row_blocks(s->rows), 256, 0, cx->stream>>>((const float *)in[0], (float *)out[0], s->rows, s->len,
                                                            s->log_sm);
  return launch_check("row kernel");
}

static gl_status_t prep_rows(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  bool ln = !strcmp(n->op_type, "LayerNormalization");
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
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
    s->is_ln = true;
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
  int *bad; /* the plan's device flag, set by Gather on an out-of-range index (not owned) */
  int mean;
  int64_t rows, len;
  int axis;
} mv_t;

static void mv_destroy(void *p) {
  mv_t *s = (mv_t *)p;
  gl_free(s);
}

static gl_status_t run_transpose(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  switch (s->esz) {
    case 1: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint8_t *)in[0], (uint8_t *)out[0], s->n); break;
    case 2: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint16_t *)in[0], (uint16_t *)out[0], s->n); break;
    case 4: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint32_t *)in[0], (uint32_t *)out[0], s->n); break;
    default: k_permute<<<nb, 256, 0, cx->stream>>>(s->p, s->start, (const uint64_t *)in[0], (uint64_t *)out[0], s->n); break;
  }
  return launch_check("strided copy kernel");
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
  return esz_ok(n, (size_t)s->esz);
}

static gl_status_t run_gather(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n) return GL_OK;
  const int64_t *i64 = s->idx64 ? (const int64_t *)in[1] : NULL;
  const int32_t *i32 = s->idx64 ? NULL : (const int32_t *)in[1];
  unsigned nb = gl_cu_blocks(s->n);
  if (s->esz == 4)
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint32_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint32_t *)out[0], s->n, s->bad);
  else if (s->esz == 8)
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint64_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint64_t *)out[0], s->n, s->bad);
  else
    k_gather<<<nb, 256, 0, cx->stream>>>((const uint8_t *)in[0], i64, i32, s->n_idx, s->axis_len, s->inner,
                                         (uint8_t *)out[0], s->n, s->bad);
  return launch_check("gather kernel");
}

static gl_status_t prep_gather(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *ix = gl_in(g, n, 1);
  size_t xsz = gl_dtype_size(x->dtype);
  if ((xsz != 1 && xsz != 4 && xsz != 8) || (ix->dtype != GL_DT_I64 && ix->dtype != GL_DT_I32))
    return gl_err(GL_EUNSUPPORTED, "%s: CUDA gathers 1-, 4- or 8-byte data with int32/int64 indices", gl_node_label(n));
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
  s->esz = (int)xsz;
  /* Out-of-range indices are zeroed and raise the plan's flag, which plan_wait reads. */
  s->bad = cx->bad_flag;
  if (!s->bad) return gl_err(GL_EINVAL, "%s: the plan has no error flag", gl_node_label(n));
  return GL_OK;
}

static gl_status_t run_concat(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  for (int i = 0; i < s->n_parts; i++) {
    int64_t cnt = s->cols[i] * s->rows;
    if (!cnt) continue;
    unsigned nb = gl_cu_blocks(cnt);
    if (s->esz == 8)
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint64_t *)in[i], (uint64_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
    else if (s->esz == 4)
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint32_t *)in[i], (uint32_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
    else
      k_concat<<<nb, 256, 0, cx->stream>>>((const uint8_t *)in[i], (uint8_t *)out[0], s->cols[i], s->col0[i], s->row_len, cnt);
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
  s->esz = (int)gl_dtype_size(gl_out(g, n, 0)->dtype);
  if (s->esz != 1 && s->esz != 4 && s->esz != 8)
    return gl_err(GL_EUNSUPPORTED, "%s: %d-byte elements in Concat on CUDA", gl_node_label(n), s->esz);
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
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
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

/* ---------------------------------------------------------------- more data movement */
/* Reshape and friends when the plan cannot alias them: a device-to-device copy. */
static gl_status_t run_copy(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  if (!s->n || in[0] == out[0]) return GL_OK;
  GL_CU(cudaMemcpyAsync(out[0], in[0], (size_t)s->n, cudaMemcpyDeviceToDevice, cx->stream), "copying a tensor");
  return GL_OK;
}

static gl_status_t prep_copy(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (x->dtype != y->dtype || gl_shape_numel(&x->shape) != gl_shape_numel(&y->shape))
    return gl_err(GL_EINVAL, "%s: a copy that changes the type or the size", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_copy;
  s->n = gl_shape_numel(&y->shape) * (int64_t)gl_dtype_size(y->dtype);
  return GL_OK;
}

/* The strided copy of Transpose, run for Slice (start and steps folded in) and Expand
 * (broadcast dims read with stride 0). */
static gl_status_t prep_slice(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  gl_slice_params_t sp;
  GL_TRY(gl_slice_params(g, n, &sp));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(&x->shape, st);
  s->p.rank = x->shape.rank ? x->shape.rank : 1;
  s->p.dims[0] = 1;
  for (int d = 0; d < x->shape.rank; d++) {
    s->p.dims[d] = y->shape.d[d];
    s->p.in_st[d] = st[d] * sp.step[d];
    s->start += sp.start[d] * st[d];
  }
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_dtype_size(x->dtype);
  return esz_ok(n, (size_t)s->esz);
}

static gl_status_t prep_expand(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (y->shape.rank > GL_K_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "%s: rank on CUDA", gl_node_label(n));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_transpose;
  s->p.rank = y->shape.rank ? y->shape.rank : 1;
  s->p.dims[0] = 1;
  for (int d = 0; d < y->shape.rank; d++) s->p.dims[d] = y->shape.d[d];
  bcast_strides(&y->shape, &x->shape, s->p.in_st);
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_dtype_size(x->dtype);
  return esz_ok(n, (size_t)s->esz);
}

/* Split: output k is the slice [col0[k], col0[k] + cols[k]) of the split axis. */
static gl_status_t run_split(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv_t *s = (const mv_t *)k->state;
  for (int i = 0; i < s->n_parts; i++) {
    if (!out[i] || !s->cols[i]) continue;
    gl_k_perm_t p = s->p;
    p.dims[s->axis] = s->cols[i];
    int64_t cnt = s->n / s->p.dims[s->axis] * s->cols[i], start = s->col0[i] * s->p.in_st[s->axis];
    unsigned nb = gl_cu_blocks(cnt);
    if (s->esz == 8) k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint64_t *)in[0], (uint64_t *)out[i], cnt);
    else if (s->esz == 4) k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint32_t *)in[0], (uint32_t *)out[i], cnt);
    else if (s->esz == 2) k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint16_t *)in[0], (uint16_t *)out[i], cnt);
    else k_permute<<<nb, 256, 0, cx->stream>>>(p, start, (const uint8_t *)in[0], (uint8_t *)out[i], cnt);
  }
  return launch_check("split kernel");
}

static gl_status_t prep_split(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0);
  if (n->n_outputs > 64) return gl_err(GL_EUNSUPPORTED, "%s: more than 64 outputs on CUDA", gl_node_label(n));
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), x->shape.rank, &axis));
  mv_t *s = (mv_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_split;
  s->axis = axis;
  gl_shape_strides(&x->shape, s->p.in_st);
  s->p.rank = x->shape.rank;
  for (int d = 0; d < x->shape.rank; d++) s->p.dims[d] = x->shape.d[d];
  s->n = gl_shape_numel(&x->shape);
  int64_t c0 = 0;
  for (int i = 0; i < n->n_outputs; i++) {
    const gl_value_t *o = gl_out(g, n, i);
    s->cols[i] = o ? o->shape.d[axis] : 0;
    s->col0[i] = c0;
    c0 += s->cols[i];
  }
  s->n_parts = n->n_outputs;
  if (c0 > x->shape.d[axis]) return gl_err(GL_ESHAPE, "%s: the parts exceed the input", gl_node_label(n));
  s->esz = (int)gl_dtype_size(x->dtype);
  return esz_ok(n, (size_t)s->esz);
}

typedef struct {
  gl_k_tile_t t;
  gl_k_pad_t pad;
  gl_k_bcast3_t b3;
  int64_t n;
  int esz, from, to;
  uint64_t value; /* Pad's constant, as the element's bits */
} mv2_t;

static gl_status_t run_tile(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  if (s->esz == 8) k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint64_t *)in[0], (uint64_t *)out[0], s->n);
  else if (s->esz == 4) k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint32_t *)in[0], (uint32_t *)out[0], s->n);
  else if (s->esz == 2) k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint16_t *)in[0], (uint16_t *)out[0], s->n);
  else k_tile<<<nb, 256, 0, cx->stream>>>(s->t, (const uint8_t *)in[0], (uint8_t *)out[0], s->n);
  return launch_check("tile kernel");
}

static gl_status_t prep_tile(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_tile;
  s->t.rank = x->shape.rank ? x->shape.rank : 1;
  s->t.dims[0] = s->t.in_dims[0] = 1;
  gl_shape_strides(&x->shape, s->t.in_st);
  for (int d = 0; d < x->shape.rank; d++) {
    s->t.dims[d] = y->shape.d[d];
    s->t.in_dims[d] = x->shape.d[d];
    if (!x->shape.d[d] && y->shape.d[d]) return gl_err(GL_ESHAPE, "%s: tiling an empty dim", gl_node_label(n));
  }
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_dtype_size(x->dtype);
  return esz_ok(n, (size_t)s->esz);
}

static gl_status_t run_pad(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  if (s->esz == 8) k_pad<<<nb, 256, 0, cx->stream>>>(s->pad, (const uint64_t *)in[0], (uint64_t *)out[0], (uint64_t)s->value, s->n);
  else k_pad<<<nb, 256, 0, cx->stream>>>(s->pad, (const uint32_t *)in[0], (uint32_t *)out[0], (uint32_t)s->value, s->n);
  return launch_check("pad kernel");
}

static gl_status_t prep_pad(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  gl_pad_params_t pp;
  GL_TRY(gl_pad_params(g, n, &pp));
  if (pp.mode != GL_PAD_CONSTANT) return gl_err(GL_EUNSUPPORTED, "%s: only constant Pad on CUDA", gl_node_label(n));
  if (x->dtype != GL_DT_F32 && x->dtype != GL_DT_I64)
    return gl_err(GL_EUNSUPPORTED, "%s: Pad of %s on CUDA", gl_node_label(n), gl_dtype_name(x->dtype));
  double v = pp.value;
  if (pp.value_input) {
    const gl_value_t *cv = gl_in(g, n, 2);
    if (!cv->data) return gl_err(GL_EUNSUPPORTED, "%s: a computed pad value on CUDA", gl_node_label(n));
    v = gl_tensor_get_f64(cv->data, 0);
  }
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_pad;
  s->pad.rank = x->shape.rank ? x->shape.rank : 1;
  s->pad.dims[0] = s->pad.in_dims[0] = 1;
  gl_shape_strides(&x->shape, s->pad.in_st);
  for (int d = 0; d < x->shape.rank; d++) {
    s->pad.dims[d] = y->shape.d[d];
    s->pad.in_dims[d] = x->shape.d[d];
    s->pad.pre[d] = pp.begin[d];
  }
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)gl_dtype_size(x->dtype);
  if (x->dtype == GL_DT_F32) {
    float f = (float)v;
    uint32_t b;
    memcpy(&b, &f, 4);
    s->value = b;
  } else {
    int64_t i = (int64_t)v;
    memcpy(&s->value, &i, 8);
  }
  return GL_OK;
}

static gl_status_t run_where(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (!s->n) return GL_OK;
  unsigned nb = gl_cu_blocks(s->n);
  const unsigned char *c = (const unsigned char *)in[0];
  if (s->esz == 8) k_where<<<nb, 256, 0, cx->stream>>>(s->b3, c, (const uint64_t *)in[1], (const uint64_t *)in[2], (uint64_t *)out[0], s->n);
  else k_where<<<nb, 256, 0, cx->stream>>>(s->b3, c, (const uint32_t *)in[1], (const uint32_t *)in[2], (uint32_t *)out[0], s->n);
  return launch_check("where kernel");
}

static gl_status_t prep_where(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *c = gl_in(g, n, 0), *a = gl_in(g, n, 1), *b = gl_in(g, n, 2), *y = gl_out(g, n, 0);
  size_t esz = gl_dtype_size(y->dtype);
  if (c->dtype != GL_DT_BOOL || (esz != 4 && esz != 8))
    return gl_err(GL_EUNSUPPORTED, "%s: Where of %s on CUDA", gl_node_label(n), gl_dtype_name(y->dtype));
  if (y->shape.rank > GL_K_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "%s: rank on CUDA", gl_node_label(n));
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_where;
  s->b3.rank = y->shape.rank ? y->shape.rank : 1;
  s->b3.dims[0] = 1;
  for (int d = 0; d < y->shape.rank; d++) s->b3.dims[d] = y->shape.d[d];
  bcast_strides(&y->shape, &c->shape, s->b3.st[0]);
  bcast_strides(&y->shape, &a->shape, s->b3.st[1]);
  bcast_strides(&y->shape, &b->shape, s->b3.st[2]);
  s->n = gl_shape_numel(&y->shape);
  s->esz = (int)esz;
  return GL_OK;
}

static int cast_code(gl_dtype_t t) {
  switch (t) {
    case GL_DT_F32: return GL_K_T_F32;
    case GL_DT_I64: return GL_K_T_I64;
    case GL_DT_I32: return GL_K_T_I32;
    case GL_DT_BOOL: return GL_K_T_BOOL;
    default: return -1;
  }
}

static gl_status_t run_cast(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const mv2_t *s = (const mv2_t *)k->state;
  if (s->n) k_cast<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->from, s->to, in[0], out[0], s->n);
  return launch_check("cast kernel");
}

static gl_status_t prep_cast(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  int from = cast_code(x->dtype), to = cast_code(y->dtype);
  if (from < 0 || to < 0)
    return gl_err(GL_EUNSUPPORTED, "%s: Cast from %s to %s on CUDA", gl_node_label(n), gl_dtype_name(x->dtype),
                  gl_dtype_name(y->dtype));
  mv2_t *s = (mv2_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_cast;
  s->from = from, s->to = to;
  s->n = gl_shape_numel(&y->shape);
  return GL_OK;
}

/* Resize: the host builds the per-dim source tables once (as the CPU backend does) and uploads
 * them at prepare time, outside any capture. */
typedef struct {
  gl_k_resize_t r;
  void *tab; /* device: i0[total], i1[total], w[total] */
  int64_t total, n;
} resize_t;

static void resize_destroy(void *p) {
  resize_t *s = (resize_t *)p;
  if (s->tab) cudaFree(s->tab);
  gl_free(s);
}

static gl_status_t run_resize(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const resize_t *s = (const resize_t *)k->state;
  if (!s->n) return GL_OK;
  const int64_t *i0 = (const int64_t *)s->tab, *i1 = i0 + s->total;
  const double *w = (const double *)(i1 + s->total);
  k_resize<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->r, i0, i1, w, (const float *)in[0], (float *)out[0], s->n);
  return launch_check("resize kernel");
}

static gl_status_t prep_resize(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_value_t *x = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (x->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float Resize only on CUDA", gl_node_label(n));
  resize_t *s = (resize_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->destroy = resize_destroy;
  k->run = run_resize;
  int64_t *tab = NULL;
  int linear = 0;
  double extrap = 0;
  GL_TRY(gl_cuda_resize_tables(g, n, &tab, s->r.off, &s->total, &linear, &extrap));
  size_t bytes = (size_t)(s->total ? s->total : 1) * (2 * sizeof(int64_t) + sizeof(double));
  gl_status_t st = gl_cu_check(cudaMalloc(&s->tab, bytes), "allocating Resize's tables");
  if (!st) st = gl_cu_check(cudaMemcpy(s->tab, tab, bytes, cudaMemcpyHostToDevice), "uploading Resize's tables");
  gl_free(tab);
  GL_TRY(st);
  s->r.rank = x->shape.rank;
  s->r.linear = linear;
  s->r.extrap = (float)extrap;
  gl_shape_strides(&x->shape, s->r.ist);
  for (int d = 0; d < y->shape.rank; d++) s->r.odim[d] = y->shape.d[d];
  s->n = gl_shape_numel(&y->shape);
  return GL_OK;
}

/* ---------------------------------------------------------------- the table */
#define GL_CU_OP_ROW(name, prep) {name, prep},
static const struct {
  const char *op;
  gl_cu_prepare_fn prep;
} ops[] = {GL_CUDA_OPS(GL_CU_OP_ROW)};
#undef GL_CU_OP_ROW

gl_cu_prepare_fn gl_cu_find_op(const char *op_type) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].op, op_type)) return ops[i].prep;
  return NULL;
}
