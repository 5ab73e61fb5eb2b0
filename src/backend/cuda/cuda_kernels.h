/* backend/cuda/cuda_kernels.h - the bodies of gpulet's own GPU kernels, as functions over explicit
 * indices that compile both as CUDA device code and as plain C. The CUDA backend launches them;
 * tests/backend/test_cuda_kernels.c runs the same bodies on the CPU against the CPU backend, so
 * only the launch code and the cuDNN/cuBLAS calls wait for a GPU to be checked.
 * f32 only; everything here is pure (no allocation, no globals). */
#ifndef GL_BACKEND_CUDA_CUDA_KERNELS_H
#define GL_BACKEND_CUDA_CUDA_KERNELS_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define GL_HD __host__ __device__
#else
#define GL_HD
#endif

#define GL_K_MAX_RANK 8

/* Unary ops (and fused activations) the CUDA backend computes itself. */
enum {
  GL_K_IDENT = 0, GL_K_RELU, GL_K_LEAKY, GL_K_CLIP, GL_K_SIGMOID, GL_K_TANH, GL_K_HSIGMOID,
  GL_K_HSWISH, GL_K_GELU_ERF, GL_K_GELU_TANH, GL_K_ERF, GL_K_SQRT, GL_K_EXP, GL_K_LOG, GL_K_NEG,
  GL_K_ABS, GL_K_RECIP, GL_K_ELU, GL_K_SOFTPLUS, GL_K_FLOOR, GL_K_CEIL,
};

/* Binary ops. */
enum { GL_K_ADD = 0, GL_K_SUB, GL_K_MUL, GL_K_DIV, GL_K_POW, GL_K_MIN, GL_K_MAX, GL_K_PRELU };

GL_HD static inline float gl_k_unary(int op, float x, float a, float b) {
  switch (op) {
    case GL_K_RELU: return x > 0.f ? x : 0.f;
    case GL_K_LEAKY: return x >= 0.f ? x : a * x;
    case GL_K_CLIP: return x < a ? a : (x > b ? b : x);
    case GL_K_SIGMOID: return 1.f / (1.f + expf(-x));
    case GL_K_TANH: return tanhf(x);
    case GL_K_HSIGMOID: return fmaxf(0.f, fminf(1.f, a * x + b));
    case GL_K_HSWISH: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case GL_K_GELU_ERF: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case GL_K_GELU_TANH:
      return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case GL_K_ERF: return erff(x);
    case GL_K_SQRT: return sqrtf(x);
    case GL_K_EXP: return expf(x);
    case GL_K_LOG: return logf(x);
    case GL_K_NEG: return -x;
    case GL_K_ABS: return fabsf(x);
    case GL_K_RECIP: return 1.f / x;
    case GL_K_ELU: return x >= 0.f ? x : a * (expf(x) - 1.f);
    case GL_K_SOFTPLUS: return logf(1.f + expf(x));
    case GL_K_FLOOR: return floorf(x);
    case GL_K_CEIL: return ceilf(x);
    default: return x;
  }
}

GL_HD static inline float gl_k_binary(int op, float x, float y) {
  switch (op) {
    case GL_K_ADD: return x + y;
    case GL_K_SUB: return x - y;
    case GL_K_MUL: return x * y;
    case GL_K_DIV: return x / y;
    case GL_K_POW: return powf(x, y);
    case GL_K_MIN: return fminf(x, y);
    case GL_K_MAX: return fmaxf(x, y);
    case GL_K_PRELU: return x >= 0.f ? x : x * y;
    default: return x;
  }
}

/* Broadcast addressing: out has rank dims; an input's element for output index i is at
 * sum over d of coord_d(i) * st[d], where st[d] is 0 on a broadcast dim. */
typedef struct {
  int rank;
  int64_t dims[GL_K_MAX_RANK];
  int64_t st[2][GL_K_MAX_RANK]; /* strides of input 0 and input 1, in elements */
} gl_k_bcast_t;

GL_HD static inline void gl_k_bcast_offsets(const gl_k_bcast_t *b, int64_t i, int64_t *o0, int64_t *o1) {
  int64_t a = 0, c = 0;
  for (int d = b->rank - 1; d >= 0; d--) {
    int64_t q = i % b->dims[d];
    i /= b->dims[d];
    a += q * b->st[0][d];
    c += q * b->st[1][d];
  }
  *o0 = a;
  *o1 = c;
}

/* Element i of y = op(x0, x1) with broadcasting. */
GL_HD static inline void gl_k_binary_at(const gl_k_bcast_t *b, int op, const float *x0,
                                        const float *x1, float *y, int64_t i) {
  int64_t o0, o1;
  gl_k_bcast_offsets(b, i, &o0, &o1);
  y[i] = gl_k_binary(op, x0[o0], x1[o1]);
}

/* Epilogue after a convolution or matrix product, element i of a [outer, c, inner] tensor:
 * y = act(y + bias[c] + sum[i]). bias and sum may be NULL. */
GL_HD static inline void gl_k_epilogue_at(float *y, const float *bias, const float *sum,
                                          int64_t c_dim, int64_t inner, int act, float a,
                                          float b, int64_t i) {
  float v = y[i];
  if (bias) v += bias[(i / inner) % c_dim];
  if (sum) v += sum[i];
  y[i] = gl_k_unary(act, v, a, b);
}

/* Inference batch normalization, element i of [n, c, inner]. */
GL_HD static inline void gl_k_batchnorm_at(const float *x, float *y, const float *scale,
                                           const float *bias, const float *mean,
                                           const float *var, float eps, int64_t c_dim,
                                           int64_t inner, int64_t i) {
  int64_t c = (i / inner) % c_dim;
  y[i] = (x[i] - mean[c]) * (scale[c] / sqrtf(var[c] + eps)) + bias[c];
}

/* Transpose: output element i of rank dims from input strides permuted (in_st[d] is the input
 * stride of output dim d). */
typedef struct {
  int rank;
  int64_t dims[GL_K_MAX_RANK];  /* output dims */
  int64_t in_st[GL_K_MAX_RANK]; /* input stride for each output dim */
} gl_k_perm_t;

GL_HD static inline int64_t gl_k_perm_offset(const gl_k_perm_t *p, int64_t i) {
  int64_t off = 0;
  for (int d = p->rank - 1; d >= 0; d--) {
    off += (i % p->dims[d]) * p->in_st[d];
    i /= p->dims[d];
  }
  return off;
}

/* Slice uses the same addressing with a start offset (steps folded into in_st). */
GL_HD static inline int64_t gl_k_slice_offset(const gl_k_perm_t *p, int64_t start, int64_t i) {
  return start + gl_k_perm_offset(p, i);
}

/* Gather along axis: data viewed as [outer, axis_len, inner], indices flattened to n_idx;
 * output [outer, n_idx, inner]. Returns the data offset for output element i, or -1 when the
 * index is out of range. */
GL_HD static inline int64_t gl_k_gather_offset(const int64_t *idx, int64_t n_idx, int64_t axis_len,
                                               int64_t inner, int64_t i) {
  int64_t in_i = i % inner, r = i / inner;
  int64_t j = r % n_idx, o = r / n_idx;
  int64_t k = idx[j];
  if (k < 0) k += axis_len;
  if (k < 0 || k >= axis_len) return -1;
  return (o * axis_len + k) * inner + in_i;
}

/* Concat: the output viewed as [outer, total_axis * inner]; input k occupies columns
 * [col0, col0 + cols) of each row. Element i of input k goes to this output offset. */
GL_HD static inline int64_t gl_k_concat_dst(int64_t cols, int64_t col0, int64_t row_len, int64_t i) {
  return (i / cols) * row_len + col0 + (i % cols);
}

/* Softmax over rows of length n: given the row's max m and sum of exp(x - m) s. */
GL_HD static inline float gl_k_softmax_at(float x, float m, float s, int log_softmax) {
  return log_softmax ? (x - m) - logf(s) : expf(x - m) / s;
}

/* Layer normalization of one element of a row given the row's mean and inverse std; scale and
 * bias are indexed by the position within the normalized block (may be NULL for bias). */
GL_HD static inline float gl_k_layernorm_at(float x, float mean, float inv, const float *scale,
                                            const float *bias, int64_t j) {
  float v = (x - mean) * inv * scale[j];
  return bias ? v + bias[j] : v;
}

#endif
