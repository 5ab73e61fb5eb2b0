/* backend/cuda/cuda_kernels.h - the bodies of gpulet's own GPU kernels, as functions over explicit
 * indices that compile both as CUDA device code and as plain C. The CUDA backend launches them;
 * tests/backend/test_cuda_kernels.c runs the same bodies on the CPU against the CPU backend, so
 * only the launch code and the cuDNN/cuBLAS calls wait for a GPU to be checked.
 * Arithmetic is f32. Float tensors are stored as f32 or, at fp16 precision, as IEEE half (the
 * bits in a uint16_t, converted by gl_k_f2h/gl_k_h2f below: gpulet's own round-to-nearest-even
 * code on the host, tested bit by bit, and the GPU's conversion instructions, the same rounding,
 * on the device). Bodies that read or write float tensors take them as void pointers plus a flag
 * `h` (1: half). The data-movement bodies return offsets and work for any element type.
 * Everything here is pure (no allocation, no globals). */
#ifndef GL_BACKEND_CUDA_CUDA_KERNELS_H
#define GL_BACKEND_CUDA_CUDA_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define GL_HD __host__ __device__
#else
#define GL_HD
#endif

#define GL_K_MAX_RANK 8

/* ---- IEEE 754 binary16 ("half") storage ---- */
GL_HD static inline uint32_t gl_k_fbits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}

GL_HD static inline float gl_k_bitsf(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

/* float -> half bits, rounding to nearest even; overflow gives infinity, NaN stays NaN (quiet,
 * top payload bits kept), values below half the smallest subnormal (2^-25) give signed zero.
 * On the GPU the hardware conversion does the same IEEE rounding in one instruction (NaN
 * payloads may differ); the host code below is what the CPU tests check bit by bit and what
 * converts the weights at upload. */
GL_HD static inline uint16_t gl_k_f2h(float f) {
#ifdef __CUDA_ARCH__
  return __half_as_ushort(__float2half_rn(f));
#else
  uint32_t x = gl_k_fbits(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf, NaN */
    return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to infinity */
  if (ax < 0x38800000u) {                                    /* below 2^-14: subnormal or zero */
    if (ax <= 0x33000000u) return (uint16_t)sign;              /* <= 2^-25: ties to even zero */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* value / 2^-24 = m * 2^(e - 126); e in [102, 112] */
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r); /* r = 0x400 is the smallest normal: the encoding carries over */
  }
  uint32_t r = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu; /* rebias 127 -> 15 */
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
  return (uint16_t)(sign | r);
#endif
}

/* half bits -> float (exact; the GPU's conversion instruction there). */
GL_HD static inline float gl_k_h2f(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __half2float(__ushort_as_half(h));
#else
  uint32_t sign = ((uint32_t)h & 0x8000u) << 16, e = ((uint32_t)h >> 10) & 0x1fu, m = (uint32_t)h & 0x3ffu;
  if (e == 0) {
    float v = (float)m * 5.9604644775390625e-8f; /* m * 2^-24 */
    return sign ? -v : v;
  }
  if (e == 31) return gl_k_bitsf(sign | 0x7f800000u | (m << 13));
  return gl_k_bitsf(sign | ((e + 112u) << 23) | (m << 13));
#endif
}

/* Element i of a float tensor stored as f32 (h = 0) or half (h = 1). */
GL_HD static inline float gl_k_ldf(const void *p, int h, int64_t i) {
  return h ? gl_k_h2f(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}
GL_HD static inline void gl_k_stf(void *p, int h, int64_t i, float v) {
  if (h) ((uint16_t *)p)[i] = gl_k_f2h(v);
  else ((float *)p)[i] = v;
}

/* The plan's edges and constant uploads: element i from one float storage to the other. */
GL_HD static inline void gl_k_convert_at(int from_h, int to_h, const void *x, void *y, int64_t i) {
  gl_k_stf(y, to_h, i, gl_k_ldf(x, from_h, i));
}

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

/* Element i of y = op(x) over float storage h. */
GL_HD static inline void gl_k_unary_at(int op, const void *x, void *y, int h, float a, float b, int64_t i) {
  gl_k_stf(y, h, i, gl_k_unary(op, gl_k_ldf(x, h, i), a, b));
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

/* Element i of y = op(x0, x1) with broadcasting, float storage h. */
GL_HD static inline void gl_k_binary_at(const gl_k_bcast_t *b, int op, const void *x0,
                                        const void *x1, void *y, int h, int64_t i) {
  int64_t o0, o1;
  gl_k_bcast_offsets(b, i, &o0, &o1);
  gl_k_stf(y, h, i, gl_k_binary(op, gl_k_ldf(x0, h, o0), gl_k_ldf(x1, h, o1)));
}

/* Epilogue after a convolution or matrix product, element i of a [outer, c, inner] tensor:
 * y = act(y + bias[c] + sum[i]). bias and sum may be NULL. The sum is added in f32 before the
 * one rounding to storage. */
GL_HD static inline void gl_k_epilogue_at(void *y, const void *bias, const void *sum, int h,
                                          int64_t c_dim, int64_t inner, int act, float a,
                                          float b, int64_t i) {
  float v = gl_k_ldf(y, h, i);
  if (bias) v += gl_k_ldf(bias, h, (i / inner) % c_dim);
  if (sum) v += gl_k_ldf(sum, h, i);
  gl_k_stf(y, h, i, gl_k_unary(act, v, a, b));
}

/* Inference batch normalization, element i of [n, c, inner]. */
GL_HD static inline void gl_k_batchnorm_at(const void *x, void *y, const void *scale,
                                           const void *bias, const void *mean,
                                           const void *var, int h, float eps, int64_t c_dim,
                                           int64_t inner, int64_t i) {
  int64_t c = (i / inner) % c_dim;
  float v = (gl_k_ldf(x, h, i) - gl_k_ldf(mean, h, c)) *
                (gl_k_ldf(scale, h, c) / sqrtf(gl_k_ldf(var, h, c) + eps)) +
            gl_k_ldf(bias, h, c);
  gl_k_stf(y, h, i, v);
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

/* The NCHW <-> NHWC conversion of a [n, c, h, w] tensor (fp16 convolution chains run channels-last,
 * cuda_layout.h) as a permutation for gl_k_perm_offset: to_nhwc = 1 reads NCHW and writes NHWC
 * (output dims n, h, w, c), 0 the reverse (output dims n, c, h, w). The same permutation turns
 * KCRS convolution weights into KRSC on the host. */
GL_HD static inline void gl_k_relayout_perm(gl_k_perm_t *p, int64_t n, int64_t c, int64_t h, int64_t w,
                                            int to_nhwc) {
  p->rank = 4;
  p->dims[0] = n;
  if (to_nhwc) { /* out (n, y, x, ch) reads in[n][ch][y][x] */
    p->dims[1] = h, p->dims[2] = w, p->dims[3] = c;
    p->in_st[0] = c * h * w, p->in_st[1] = w, p->in_st[2] = 1, p->in_st[3] = h * w;
  } else { /* out (n, ch, y, x) reads in[n][y][x][ch] */
    p->dims[1] = c, p->dims[2] = h, p->dims[3] = w;
    p->in_st[0] = h * w * c, p->in_st[1] = 1, p->in_st[2] = w * c, p->in_st[3] = c;
  }
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
 * bias (storage h) are indexed by the position within the normalized block (bias may be NULL). */
GL_HD static inline float gl_k_layernorm_at(float x, float mean, float inv, const void *scale,
                                            const void *bias, int h, int64_t j) {
  float v = (x - mean) * inv * gl_k_ldf(scale, h, j);
  return bias ? v + gl_k_ldf(bias, h, j) : v;
}

/* Tile: output element i of rank dims reads the input at coordinates (o_d mod in_dims[d]). */
typedef struct {
  int rank;
  int64_t dims[GL_K_MAX_RANK];    /* output dims */
  int64_t in_dims[GL_K_MAX_RANK]; /* input dims */
  int64_t in_st[GL_K_MAX_RANK];   /* input strides */
} gl_k_tile_t;

GL_HD static inline int64_t gl_k_tile_offset(const gl_k_tile_t *t, int64_t i) {
  int64_t off = 0;
  for (int d = t->rank - 1; d >= 0; d--) {
    off += ((i % t->dims[d]) % t->in_dims[d]) * t->in_st[d];
    i /= t->dims[d];
  }
  return off;
}

/* Constant Pad: output element i reads input offset, or -1 where it lies in the padding.
 * pre[d] is the (possibly negative) padding before dim d. */
typedef struct {
  int rank;
  int64_t dims[GL_K_MAX_RANK];    /* output dims */
  int64_t in_dims[GL_K_MAX_RANK];
  int64_t in_st[GL_K_MAX_RANK];
  int64_t pre[GL_K_MAX_RANK];
} gl_k_pad_t;

GL_HD static inline int64_t gl_k_pad_src(const gl_k_pad_t *p, int64_t i) {
  int64_t off = 0;
  for (int d = p->rank - 1; d >= 0; d--) {
    int64_t c = i % p->dims[d] - p->pre[d];
    i /= p->dims[d];
    if (c < 0 || c >= p->in_dims[d]) return -1;
    off += c * p->in_st[d];
  }
  return off;
}

/* Where: three-way broadcast (condition, x, y) into the output. */
typedef struct {
  int rank;
  int64_t dims[GL_K_MAX_RANK];
  int64_t st[3][GL_K_MAX_RANK];
} gl_k_bcast3_t;

GL_HD static inline void gl_k_bcast3_offsets(const gl_k_bcast3_t *b, int64_t i, int64_t *o) {
  int64_t a0 = 0, a1 = 0, a2 = 0;
  for (int d = b->rank - 1; d >= 0; d--) {
    int64_t q = i % b->dims[d];
    i /= b->dims[d];
    a0 += q * b->st[0][d];
    a1 += q * b->st[1][d];
    a2 += q * b->st[2][d];
  }
  o[0] = a0, o[1] = a1, o[2] = a2;
}

/* Cast between the types the CUDA backend converts: f32, i64, i32, bool (u8), and f16 (how an
 * f32 value is stored at fp16 precision). ONNX casts float to integer by truncation toward zero;
 * anything non-zero becomes true. */
enum { GL_K_T_F32 = 0, GL_K_T_I64, GL_K_T_I32, GL_K_T_BOOL, GL_K_T_F16 };

GL_HD static inline double gl_k_load_as_f64(int t, const void *x, int64_t i) {
  switch (t) {
    case GL_K_T_F32: return (double)((const float *)x)[i];
    case GL_K_T_I64: return (double)((const int64_t *)x)[i];
    case GL_K_T_I32: return (double)((const int32_t *)x)[i];
    case GL_K_T_F16: return (double)gl_k_h2f(((const uint16_t *)x)[i]);
    default: return ((const unsigned char *)x)[i] ? 1.0 : 0.0;
  }
}

GL_HD static inline void gl_k_cast_at(int from, int to, const void *x, void *y, int64_t i) {
  if (from == GL_K_T_I64 && to == GL_K_T_I64) {
    ((int64_t *)y)[i] = ((const int64_t *)x)[i];
    return;
  }
  if (from == GL_K_T_I64 && to == GL_K_T_I32) { /* exact, no round trip through double */
    ((int32_t *)y)[i] = (int32_t)((const int64_t *)x)[i];
    return;
  }
  double v = gl_k_load_as_f64(from, x, i);
  switch (to) {
    case GL_K_T_F32: ((float *)y)[i] = (float)v; break;
    case GL_K_T_I64: ((int64_t *)y)[i] = (int64_t)v; break;
    case GL_K_T_I32: ((int32_t *)y)[i] = (int32_t)v; break;
    case GL_K_T_F16: ((uint16_t *)y)[i] = gl_k_f2h((float)v); break;
    default: ((unsigned char *)y)[i] = v != 0.0; break;
  }
}

/* Max/average pooling over up to 3 spatial dims (fewer are padded with size-1 dims in front),
 * any padding (asymmetric, ceil_mode), strides and dilations; the CUDA backend uses it where
 * cuDNN's symmetric-padding pooling cannot express the node. Padding never wins a max; an
 * average divides by the taps inside the input, or (count_pad) inside [-pb, in + pe). */
typedef struct {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  int is_max, count_pad;
  int nhwc;  /* channels last: x and y are [n, spatial..., c] (c channels) instead of [n, c, spatial...] */
  int64_t c;
} gl_k_pool_t;

/* Output element i of planes of out[0]*out[1]*out[2] (input planes of in[0]*in[1]*in[2]);
 * x in float storage h. Channels last (nhwc): element i is (batch, spatial, channel), the
 * channel innermost, and the input's taps are c elements apart. */
GL_HD static inline float gl_k_pool_at(const gl_k_pool_t *p, const void *x, int h, int64_t i) {
  int64_t osz = p->out[0] * p->out[1] * p->out[2], isz = p->in[0] * p->in[1] * p->in[2];
  int64_t r, base, step;
  if (p->nhwc) {
    int64_t ch = i % p->c, rest = i / p->c;
    r = rest % osz;
    base = (rest / osz) * isz * p->c + ch;
    step = p->c;
  } else {
    r = i % osz;
    base = (i / osz) * isz;
    step = 1;
  }
  int64_t o[3] = {r / (p->out[1] * p->out[2]), (r / p->out[2]) % p->out[1], r % p->out[2]};
  float best = -INFINITY, acc = 0.f;
  int64_t cnt = 0, cntpad = 0;
  for (int64_t j0 = 0; j0 < p->k[0]; j0++) {
    int64_t c0 = o[0] * p->s[0] - p->pb[0] + j0 * p->d[0];
    for (int64_t j1 = 0; j1 < p->k[1]; j1++) {
      int64_t c1 = o[1] * p->s[1] - p->pb[1] + j1 * p->d[1];
      for (int64_t j2 = 0; j2 < p->k[2]; j2++) {
        int64_t c2 = o[2] * p->s[2] - p->pb[2] + j2 * p->d[2];
        if (c0 >= -p->pb[0] && c0 < p->in[0] + p->pe[0] && c1 >= -p->pb[1] && c1 < p->in[1] + p->pe[1] &&
            c2 >= -p->pb[2] && c2 < p->in[2] + p->pe[2])
          cntpad++;
        if (c0 < 0 || c0 >= p->in[0] || c1 < 0 || c1 >= p->in[1] || c2 < 0 || c2 >= p->in[2]) continue;
        float v = gl_k_ldf(x, h, base + ((c0 * p->in[1] + c1) * p->in[2] + c2) * step);
        if (v > best) best = v;
        acc += v;
        cnt++;
      }
    }
  }
  if (p->is_max) return best;
  int64_t div = p->count_pad ? cntpad : cnt;
  return div ? acc / (float)div : 0.f;
}

/* Resize (nearest or linear, any coordinate rule) from per-dim tables built on the host
 * (gl_cuda_resize_tables in backend/cuda_support.h): for output coordinate o of dim d the
 * sources i0[off[d] + o] and i1[off[d] + o] (i0 = -1: outside the roi, the extrapolation value)
 * and the weight w of i1. */
typedef struct {
  int rank, linear;
  int64_t odim[GL_K_MAX_RANK], ist[GL_K_MAX_RANK], off[GL_K_MAX_RANK];
  float extrap;
} gl_k_resize_t;

GL_HD static inline float gl_k_resize_at(const gl_k_resize_t *r, const int64_t *i0, const int64_t *i1,
                                         const double *w, const void *x, int h, int64_t i) {
  int64_t c[GL_K_MAX_RANK];
  for (int d = r->rank - 1; d >= 0; d--) c[d] = i % r->odim[d], i /= r->odim[d];
  int64_t base = 0;
  int blend[GL_K_MAX_RANK], nb = 0;
  for (int d = 0; d < r->rank; d++) {
    int64_t t = r->off[d] + c[d];
    if (i0[t] < 0) return r->extrap;
    base += i0[t] * r->ist[d];
    if (r->linear && w[t] != 0.0 && i1[t] != i0[t]) blend[nb++] = d;
  }
  if (!nb) return gl_k_ldf(x, h, base);
  double acc = 0.0;
  for (int m = 0; m < (1 << nb); m++) {
    double wt = 1.0;
    int64_t off = base;
    for (int b = 0; b < nb; b++) {
      int64_t t = r->off[blend[b]] + c[blend[b]];
      if (m & (1 << b)) wt *= w[t], off += (i1[t] - i0[t]) * r->ist[blend[b]];
      else wt *= 1.0 - w[t];
    }
    acc += wt * (double)gl_k_ldf(x, h, off);
  }
  return (float)acc;
}

#endif
