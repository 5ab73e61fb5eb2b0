/* backend/cpu/cpu_elementwise_loops.c - the elementwise family's typed row functions (unary,
 * binary, compare, Where, casts between every pair of dtypes) and the broadcast iteration that
 * runs them over OpenMP threads; cpu_elementwise.c picks among them in prepare. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_elementwise_int.h"

/* The typed loops below are stamped out for signed and unsigned types alike; comparisons such as
 * x < 0 are always false for the unsigned ones, which is what we want. */
#pragma GCC diagnostic ignored "-Wtype-limits"
/* Nothing here reads floating-point exception flags; without this GCC will not turn the selects in
 * the loops (x > 0 ? x : 0...) into vector blends. */
#pragma GCC optimize("no-trapping-math")

/* ---------------------------------------------------------------------------------------------
 * Unary loops
 * ------------------------------------------------------------------------------------------- */
#define MF(fn) fn##f
#define MD(fn) fn

#define SIMD _Pragma("omp simd")
#define UN(EXPR)                                                                         \
  SIMD for (int64_t i = 0; i < n; i++) {                                                      \
    ET x = X[i];                                                                         \
    Y[i] = (EXPR);                                                                       \
  }                                                                                      \
  break

/* Float unary ops for element type T with math functions M(name). */
#define DEF_UNARY_F(NAME, T, M, ERF, EXP, SIGM, TANH)                                    \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    typedef T ET;                                                                        \
    const ET *X = in[0];                                                                 \
    ET *Y = out;                                                                         \
    const ET A = (ET)p->a, B = (ET)p->b, G = (ET)p->g, Z = 0, O = 1;                     \
    switch (p->op) {                                                                     \
      case OP_RELU: UN(x > Z ? x : Z);                                                   \
      case OP_LEAKY: UN(x >= Z ? x : A * x);                                             \
      case OP_ELU: UN(x >= Z ? x : A * (M(exp)(x) - O));                                 \
      case OP_SELU: UN(x > Z ? G * x : G * (A * M(exp)(x) - A));                         \
      case OP_CELU: UN((x > Z ? x : Z) + M(fmin)(Z, A * (M(exp)(x / A) - O)));          \
      case OP_THRELU: UN(x > A ? x : Z);                                                 \
      case OP_SIGMOID: UN(SIGM(x));                                                      \
      case OP_HSIGMOID: UN(M(fmax)(Z, M(fmin)(O, A * x + B)));                           \
      case OP_HSWISH: UN(x * M(fmax)(Z, M(fmin)(O, x / (ET)6 + (ET)0.5)));              \
      case OP_TANH: UN(TANH(x));                                                         \
      case OP_SOFTPLUS: UN(x > Z ? x + M(log1p)(M(exp)(-x)) : M(log1p)(M(exp)(x)));      \
      case OP_SOFTSIGN: UN(x / (O + M(fabs)(x)));                                        \
      case OP_ERF: UN(ERF(x));                                                           \
      case OP_GELU: UN((ET)0.5 * x * (O + M(erf)(x * (ET)0.70710678118654752)));         \
      case OP_GELU_TANH:                                                                 \
        UN((ET)0.5 * x *                                                                 \
           (O + M(tanh)((ET)0.79788456080286536 * (x + (ET)0.044715 * x * x * x))));     \
      case OP_SQRT: UN(M(sqrt)(x));                                                      \
      case OP_EXP: UN(EXP(x));                                                           \
      case OP_LOG: UN(M(log)(x));                                                        \
      case OP_NEG: UN(-x);                                                               \
      case OP_ABS: UN(M(fabs)(x));                                                       \
      case OP_RECIP: UN(O / x);                                                          \
      case OP_FLOOR: UN(M(floor)(x));                                                    \
      case OP_CEIL: UN(M(ceil)(x));                                                      \
      case OP_ROUND: UN(M(rint)(x));                                                     \
      case OP_SIGN: UN(x > Z ? O : (x < Z ? -O : Z));                                    \
      case OP_SIN: UN(M(sin)(x));                                                        \
      case OP_COS: UN(M(cos)(x));                                                        \
      case OP_TAN: UN(M(tan)(x));                                                        \
      case OP_ASIN: UN(M(asin)(x));                                                      \
      case OP_ACOS: UN(M(acos)(x));                                                      \
      case OP_ATAN: UN(M(atan)(x));                                                      \
      case OP_SINH: UN(M(sinh)(x));                                                      \
      case OP_COSH: UN(M(cosh)(x));                                                      \
      case OP_ASINH: UN(M(asinh)(x));                                                    \
      case OP_ACOSH: UN(M(acosh)(x));                                                    \
      case OP_ATANH: UN(M(atanh)(x));                                                    \
      case OP_SHRINK: UN(x < -A ? x + B : (x > A ? x - B : Z));                          \
      case OP_CLIP: UN(x < A ? (A > B ? B : A) : (x > B ? B : x));  \
      case OP_SCALE: UN(x * A);                                                          \
      case OP_SQUARE: UN(x * x);                                                         \
      case OP_CUBE: UN(x * x * x);                                                       \
      case OP_COPYF: UN(x);                                                              \
      default: break;                                                                    \
    }                                                                                    \
  }

/* e^x for floats without libm, so loops over it vectorise: x = k ln2 + r, |r| <= ln2/2, e^r by
 * its Taylor series to r^7 (relative error about 2e-7), 2^k by building the exponent bits.
 * Overflows to inf above 88.72, flushes to 0 below -86.5 (results under 3e-38), keeps NaN. */
static inline float exp_vf(float x) {
  float c = x > -86.5f ? x : -86.5f; /* also maps NaN to a finite value for the int conversion */
  c = c < 88.7228394f ? c : 88.7228394f;
  float k = rintf(c * 1.44269504088896341f);
  float r = c - k * 0.693145751953125f - k * 1.428606765330187e-06f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t e = ((int32_t)k + 126) << 23; /* 2^(k-1): k reaches 128 near the top */
  float s;
  memcpy(&s, &e, 4);
  float y = p * s * 2.0f;
  y = x > 88.7228394f ? INFINITY : y;
  y = x < -86.5f ? 0.0f : y;
  return x != x ? x : y;
}

static inline float sigmoid_vf(float x) { return 1.0f / (1.0f + exp_vf(-x)); }

/* tanh from e^-2|x| = t: (1 - t) / (1 + t), with the odd series below |x| = 1/16 where 1 - t
 * would cancel. */
static inline float tanh_vf(float x) {
  float a = fabsf(x), x2 = x * x;
  float t = exp_vf(-2.0f * a);
  float big = copysignf((1.0f - t) / (1.0f + t), x);
  float small = x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
  return a < 0.0625f ? small : big;
}

static inline double sigmoid_d(double x) {
  return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

/* erf for floats: the Maclaurin series below |x| = 0.5, Abramowitz and Stegun 7.1.26 (absolute
 * error under 1.5e-7) above; both computed and one selected so the loop vectorises. */
static inline float erf_vf(float x) {
  float a = fabsf(x), x2 = x * x;
  float s = -1.0f / 75600;
  s = s * x2 + 1.0f / 9360;
  s = s * x2 - 1.0f / 1320;
  s = s * x2 + 1.0f / 216;
  s = s * x2 - 1.0f / 42;
  s = s * x2 + 1.0f / 10;
  s = s * x2 - 1.0f / 3;
  s = s * x2 + 1.0f;
  s = s * x * 1.12837916709551257f;
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float q = 1.061405429f;
  q = q * t - 1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t - 0.284496736f;
  q = q * t + 0.254829592f;
  float l = 1.0f - q * t * exp_vf(-x2);
  l = copysignf(l, x);
  return a < 0.5f ? s : l;
}

DEF_UNARY_F(un_f32, float, MF, erf_vf, exp_vf, sigmoid_vf, tanh_vf)
DEF_UNARY_F(un_f64, double, MD, erf, exp, sigmoid_d, tanh)

/* Integer unary ops (also bool, as uint8). */
#define DEF_UNARY_I(NAME, T, UT)                                                         \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    typedef T ET;                                                                        \
    const ET *X = in[0];                                                                 \
    ET *Y = out;                                                                         \
    const ET lo = (ET)p->ilo, hi = (ET)p->ihi, Z = 0;                                    \
    switch (p->op) {                                                                     \
      case OP_RELU: UN(x > Z ? x : Z);                                                   \
      case OP_NEG: UN((ET)((UT)0 - (UT)x));                                              \
      case OP_ABS: UN(x < Z ? (ET)((UT)0 - (UT)x) : x);                                  \
      case OP_SIGN: UN((ET)((x > Z) - (x < Z)));                                         \
      case OP_CLIP: UN(x < lo ? (lo > hi ? hi : lo) : (x > hi ? hi : x));       \
      case OP_NOT: UN((ET)!x);                                                           \
      default: break;                                                                    \
    }                                                                                    \
  }

DEF_UNARY_I(un_i8, int8_t, uint8_t)
DEF_UNARY_I(un_i16, int16_t, uint16_t)
DEF_UNARY_I(un_i32, int32_t, uint32_t)
DEF_UNARY_I(un_i64, int64_t, uint64_t)
DEF_UNARY_I(un_u8, uint8_t, uint8_t)
DEF_UNARY_I(un_u16, uint16_t, uint16_t)
DEF_UNARY_I(un_u32, uint32_t, uint32_t)
DEF_UNARY_I(un_u64, uint64_t, uint64_t)

const row_fn gl_ew_un_tab[S_COUNT] = {
    [S_F32] = un_f32, [S_F64] = un_f64, [S_I8] = un_i8,   [S_I16] = un_i16, [S_I32] = un_i32,
    [S_I64] = un_i64, [S_U8] = un_u8,   [S_U16] = un_u16, [S_U32] = un_u32, [S_U64] = un_u64,
    [S_BOOL] = un_u8};

#define DEF_ISX(NAME, T)                                                                 \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    const T *X = in[0];                                                                  \
    uint8_t *Y = out;                                                                    \
    if (p->op == OP_ISNAN)                                                               \
      for (int64_t i = 0; i < n; i++) Y[i] = isnan(X[i]) != 0;                           \
    else                                                                                 \
      for (int64_t i = 0; i < n; i++)                                                    \
        Y[i] = isinf(X[i]) && ((X[i] > 0 && p->pos) || (X[i] < 0 && p->neg));           \
  }
DEF_ISX(isx_f32, float)
DEF_ISX(isx_f64, double)

/* ---------------------------------------------------------------------------------------------
 * Binary loops: the four stride patterns of a row, each a loop the compiler can vectorise
 * ------------------------------------------------------------------------------------------- */
#define BIN(EXPR)                                                                        \
  if (st[0] && st[1]) {                                                                  \
    SIMD for (int64_t i = 0; i < n; i++) {                                                    \
      ET a = A_[i], b = B_[i];                                                           \
      Y[i] = (OT)(EXPR);                                                                 \
    }                                                                                    \
  } else if (st[1]) {                                                                    \
    ET a = A_[0];                                                                        \
    SIMD for (int64_t i = 0; i < n; i++) {                                                    \
      ET b = B_[i];                                                                      \
      Y[i] = (OT)(EXPR);                                                                 \
    }                                                                                    \
  } else if (st[0]) {                                                                    \
    ET b = B_[0];                                                                        \
    SIMD for (int64_t i = 0; i < n; i++) {                                                    \
      ET a = A_[i];                                                                      \
      Y[i] = (OT)(EXPR);                                                                 \
    }                                                                                    \
  } else {                                                                               \
    ET a = A_[0], b = B_[0];                                                             \
    OT v = (OT)(EXPR);                                                                   \
    for (int64_t i = 0; i < n; i++) Y[i] = v;                                            \
  }                                                                                      \
  break

static inline double py_fmod(double a, double b) {
  double r = fmod(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static inline float py_fmodf(float a, float b) {
  float r = fmodf(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

#define DEF_BIN_F(NAME, T, M, PYMOD)                                                     \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    typedef T ET;                                                                        \
    typedef T OT;                                                                        \
    const ET *A_ = in[0], *B_ = in[1];                                                   \
    OT *Y = out;                                                                         \
    switch (p->op) {                                                                     \
      case OP_ADD: BIN(a + b);                                                           \
      case OP_SUB: BIN(a - b);                                                           \
      case OP_MUL: BIN(a * b);                                                           \
      case OP_DIV: BIN(a / b);                                                           \
      case OP_POW: BIN(M(pow)(a, b));                                                    \
      case OP_MOD: BIN(PYMOD(a, b));                                                     \
      case OP_FMOD: BIN(M(fmod)(a, b));                                                  \
      case OP_MIN: BIN(a < b || isnan(a) ? a : b);                                       \
      case OP_MAX: BIN(a > b || isnan(a) ? a : b);                                       \
      case OP_PRELU: BIN(a < 0 ? a * b : a);                                             \
      default: break;                                                                    \
    }                                                                                    \
  }

DEF_BIN_F(bin_f32, float, MF, py_fmodf)
DEF_BIN_F(bin_f64, double, MD, py_fmod)

/* Integer power with wrap-around; negative exponents give 0 unless the base is 1 or -1. */
static inline int64_t ipow_s(int64_t a, int64_t e) {
  if (e < 0) return a == 1 ? 1 : (a == -1 ? ((e & 1) ? -1 : 1) : 0);
  uint64_t r = 1, b = (uint64_t)a;
  while (e) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return (int64_t)r;
}
static inline uint64_t ipow_u(uint64_t b, uint64_t e) {
  uint64_t r = 1;
  while (e) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return r;
}
/* Python's modulo (sign of the divisor); x % 0 gives 0 rather than a trap. */
static inline int64_t py_imod(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static inline int64_t c_imod(int64_t a, int64_t b) { return (b == 0 || b == -1) ? 0 : a % b; }
static inline int64_t c_idiv(int64_t a, int64_t b) {
  return b == 0 ? 0 : (b == -1 ? (int64_t)(0 - (uint64_t)a) : a / b);
}

#define DEF_BIN_I(NAME, T, UT, SGN)                                                      \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    typedef T ET;                                                                        \
    typedef T OT;                                                                        \
    const ET *A_ = in[0], *B_ = in[1];                                                   \
    OT *Y = out;                                                                         \
    const uint64_t bits = sizeof(ET) * 8;                                                \
    switch (p->op) {                                                                     \
      case OP_ADD: BIN((UT)a + (UT)b);                                                   \
      case OP_SUB: BIN((UT)a - (UT)b);                                                   \
      case OP_MUL: BIN((UT)a * (UT)b);                                                   \
      case OP_DIV:                                                                       \
        if (SGN) { BIN(c_idiv((int64_t)a, (int64_t)b)); }                                \
        else { BIN(b ? (uint64_t)a / (uint64_t)b : 0); }                                 \
      case OP_POW:                                                                       \
        if (SGN) { BIN(ipow_s((int64_t)a, (int64_t)b)); }                                \
        else { BIN(ipow_u((uint64_t)a, (uint64_t)b)); }                                  \
      case OP_MOD:                                                                       \
        if (SGN) { BIN(py_imod((int64_t)a, (int64_t)b)); }                               \
        else { BIN(b ? (uint64_t)a % (uint64_t)b : 0); }                                 \
      case OP_FMOD:                                                                      \
        if (SGN) { BIN(c_imod((int64_t)a, (int64_t)b)); }                                \
        else { BIN(b ? (uint64_t)a % (uint64_t)b : 0); }                                 \
      case OP_SHL: BIN((uint64_t)b >= bits ? 0 : (UT)((UT)a << (uint64_t)b));            \
      case OP_SHR: BIN((uint64_t)b >= bits ? 0 : (UT)((UT)a >> (uint64_t)b));            \
      case OP_MIN: BIN(a < b ? a : b);                                                   \
      case OP_MAX: BIN(a > b ? a : b);                                                   \
      case OP_PRELU: BIN(a < 0 ? (ET)((UT)a * (UT)b) : a);                               \
      default: break;                                                                    \
    }                                                                                    \
  }

DEF_BIN_I(bin_i8, int8_t, uint8_t, 1)
DEF_BIN_I(bin_i16, int16_t, uint16_t, 1)
DEF_BIN_I(bin_i32, int32_t, uint32_t, 1)
DEF_BIN_I(bin_i64, int64_t, uint64_t, 1)
DEF_BIN_I(bin_u8, uint8_t, uint8_t, 0)
DEF_BIN_I(bin_u16, uint16_t, uint16_t, 0)
DEF_BIN_I(bin_u32, uint32_t, uint32_t, 0)
DEF_BIN_I(bin_u64, uint64_t, uint64_t, 0)

const row_fn gl_ew_bin_tab[S_COUNT] = {
    [S_F32] = bin_f32, [S_F64] = bin_f64, [S_I8] = bin_i8,   [S_I16] = bin_i16,
    [S_I32] = bin_i32, [S_I64] = bin_i64, [S_U8] = bin_u8,   [S_U16] = bin_u16,
    [S_U32] = bin_u32, [S_U64] = bin_u64, [S_BOOL] = bin_u8};

#define DEF_CMP(NAME, T)                                                                 \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    typedef T ET;                                                                        \
    typedef uint8_t OT;                                                                  \
    const ET *A_ = in[0], *B_ = in[1];                                                   \
    OT *Y = out;                                                                         \
    switch (p->op) {                                                                     \
      case OP_EQ: BIN(a == b);                                                           \
      case OP_LT: BIN(a < b);                                                            \
      case OP_GT: BIN(a > b);                                                            \
      case OP_LE: BIN(a <= b);                                                           \
      case OP_GE: BIN(a >= b);                                                           \
      case OP_AND: BIN((a != 0) & (b != 0));                                             \
      case OP_OR: BIN((a != 0) | (b != 0));                                              \
      case OP_XOR: BIN((a != 0) ^ (b != 0));                                             \
      default: break;                                                                    \
    }                                                                                    \
  }

DEF_CMP(cmp_f32, float)
DEF_CMP(cmp_f64, double)
DEF_CMP(cmp_i8, int8_t)
DEF_CMP(cmp_i16, int16_t)
DEF_CMP(cmp_i32, int32_t)
DEF_CMP(cmp_i64, int64_t)
DEF_CMP(cmp_u8, uint8_t)
DEF_CMP(cmp_u16, uint16_t)
DEF_CMP(cmp_u32, uint32_t)
DEF_CMP(cmp_u64, uint64_t)

const row_fn gl_ew_cmp_tab[S_COUNT] = {
    [S_F32] = cmp_f32, [S_F64] = cmp_f64, [S_I8] = cmp_i8,   [S_I16] = cmp_i16,
    [S_I32] = cmp_i32, [S_I64] = cmp_i64, [S_U8] = cmp_u8,   [S_U16] = cmp_u16,
    [S_U32] = cmp_u32, [S_U64] = cmp_u64, [S_BOOL] = cmp_u8};

/* Where: cond, x, y with their own strides; by element size. */
#define WLOOP(A, B, C_)                                                                  \
  SIMD for (int64_t i = 0; i < n; i++) O[i] = C[i * A] ? X[i * B] : Yv[i * C_];         \
  break
#define DEF_WHERE(NAME, T)                                                               \
  static void NAME(const ew_par_t *p, const void *const *in, const int64_t *st, void *out, \
                   int64_t n) {                                                          \
    const uint8_t *C = in[0];                                                            \
    const T *X = in[1], *Yv = in[2];                                                     \
    T *O = out;                                                                          \
    switch (st[0] * 4 + st[1] * 2 + st[2]) { /* each stride is 0 or 1 */                 \
      case 0: WLOOP(0, 0, 0);                                                            \
      case 1: WLOOP(0, 0, 1);                                                            \
      case 2: WLOOP(0, 1, 0);                                                            \
      case 3: WLOOP(0, 1, 1);                                                            \
      case 4: WLOOP(1, 0, 0);                                                            \
      case 5: WLOOP(1, 0, 1);                                                            \
      case 6: WLOOP(1, 1, 0);                                                            \
      default: WLOOP(1, 1, 1);                                                           \
    }                                                                                    \
  }
DEF_WHERE(where_1, uint8_t)
DEF_WHERE(where_2, uint16_t)
DEF_WHERE(where_4, uint32_t)
DEF_WHERE(where_8, uint64_t)

const row_fn gl_ew_isx_f32 = isx_f32, gl_ew_isx_f64 = isx_f64;
const row_fn gl_ew_where_1 = where_1, gl_ew_where_2 = where_2, gl_ew_where_4 = where_4,
             gl_ew_where_8 = where_8;

/* ---------------------------------------------------------------------------------------------
 * Casts: every pair of slots, as a row function of one contiguous input
 * ------------------------------------------------------------------------------------------- */
/* IEEE half through the compiler's _Float16 (F16C instructions, vectorised, where the target has
 * them); rounds to nearest even like gl_f32_to_f16, which serves compilers without _Float16
 * (clang 14 on x86, used for the fuzzers). */
#ifdef __FLT16_MAX__
static inline float half_ld(uint16_t v) {
  _Float16 h;
  memcpy(&h, &v, 2);
  return (float)h;
}
static inline uint16_t half_st(float f) {
  _Float16 h = (_Float16)f;
  uint16_t v;
  memcpy(&v, &h, 2);
  return v;
}
#else
static inline float half_ld(uint16_t v) { return gl_f16_to_f32(v); }
static inline uint16_t half_st(float f) { return gl_f32_to_f16(f); }
#endif

/* float -> bfloat16 by dropping the low 16 bits, as ONNX's reference Cast does (opsets <= 17 and
 * their test data); NaN stays NaN. */
static inline uint16_t f32_to_bf16_trunc(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return isnan(f) ? (uint16_t)((u >> 16) | 0x40) : (uint16_t)(u >> 16);
}

#define LD_f32(v) (v)
#define LD_f64(v) (v)
#define LD_f16(v) half_ld(v)
#define LD_bf16(v) gl_bf16_to_f32(v)
#define LD_i8(v) (v)
#define LD_i16(v) (v)
#define LD_i32(v) (v)
#define LD_i64(v) (v)
#define LD_u8(v) (v)
#define LD_u16(v) (v)
#define LD_u32(v) (v)
#define LD_u64(v) (v)
#define LD_b(v) (v)
#define ST_f32(v) ((float)(v))
#define ST_f64(v) ((double)(v))
#define ST_f16(v) half_st((float)(v))
#define ST_bf16(v) f32_to_bf16_trunc((float)(v))
#define ST_i8(v) ((int8_t)(v))
#define ST_i16(v) ((int16_t)(v))
#define ST_i32(v) ((int32_t)(v))
#define ST_i64(v) ((int64_t)(v))
#define ST_u8(v) ((uint8_t)(v))
#define ST_u16(v) ((uint16_t)(v))
#define ST_u32(v) ((uint32_t)(v))
#define ST_u64(v) ((uint64_t)(v))
#define ST_b(v) ((uint8_t)((v) != 0))

#define TYPES_A(X, ...)                                                                  \
  X(f32, float, __VA_ARGS__) X(f64, double, __VA_ARGS__) X(f16, uint16_t, __VA_ARGS__)   \
  X(bf16, uint16_t, __VA_ARGS__) X(i8, int8_t, __VA_ARGS__) X(i16, int16_t, __VA_ARGS__) \
  X(i32, int32_t, __VA_ARGS__) X(i64, int64_t, __VA_ARGS__) X(u8, uint8_t, __VA_ARGS__)  \
  X(u16, uint16_t, __VA_ARGS__) X(u32, uint32_t, __VA_ARGS__) X(u64, uint64_t, __VA_ARGS__) \
  X(b, uint8_t, __VA_ARGS__)
#define TYPES_B(X)                                                                       \
  X(f32, float) X(f64, double) X(f16, uint16_t) X(bf16, uint16_t) X(i8, int8_t)          \
  X(i16, int16_t) X(i32, int32_t) X(i64, int64_t) X(u8, uint8_t) X(u16, uint16_t)        \
  X(u32, uint32_t) X(u64, uint64_t) X(b, uint8_t)

#define CAST_DEF(DN, DT, SN, ST)                                                         \
  static void cast_##SN##_##DN(const ew_par_t *p, const void *const *in, const int64_t *st, \
                               void *out, int64_t n) {                                   \
    const ST *s = in[0];                                                                 \
    DT *d = out;                                                                         \
    SIMD for (int64_t i = 0; i < n; i++) d[i] = ST_##DN(LD_##SN(s[i]));                       \
  }
#define CAST_ROW(SN, ST) TYPES_A(CAST_DEF, SN, ST)
TYPES_B(CAST_ROW)

#define CAST_ENT(DN, DT, SN) cast_##SN##_##DN,
#define CAST_TAB_ROW(SN, ST) {TYPES_A(CAST_ENT, SN)},
/* cast_tab[src slot][dst slot] */
static const row_fn cast_tab[S_COUNT][S_COUNT] = {TYPES_B(CAST_TAB_ROW)};

row_fn gl_ew_cast_fn(gl_dtype_t from, gl_dtype_t to) {
  int a = dt_slot(from), b = dt_slot(to);
  return (a < 0 || b < 0) ? NULL : cast_tab[a][b];
}

/* ---------------------------------------------------------------------------------------------
 * Broadcast iteration
 * ------------------------------------------------------------------------------------------- */

/* Lays out an iteration over out's shape reading inputs of the given shapes (each broadcasting to
 * out); merges dims so the innermost loop is as long as possible. */
void gl_ew_bc_init(bc_t *b, const gl_shape_t *out, const gl_shape_t *const *ins,
                   const size_t *isz, int n_in, size_t osz) {
  memset(b, 0, sizeof *b);
  b->n_in = n_in;
  b->osz = osz;
  int64_t dims[GL_MAX_RANK], st[3][GL_MAX_RANK];
  int r = out->rank;
  for (int k = 0; k < n_in; k++) {
    const gl_shape_t *s = ins[k];
    b->isz[k] = isz[k];
    int64_t acc = 1;
    for (int d = r - 1; d >= 0; d--) {
      int sd = d - (r - s->rank);
      int64_t dim = sd >= 0 ? s->d[sd] : 1;
      st[k][d] = (dim == 1 && out->d[d] != 1) ? 0 : acc;
      acc *= dim;
    }
  }
  for (int d = 0; d < r; d++) dims[d] = out->d[d];
  /* drop size-1 dims, then merge neighbours whose strides continue each other */
  int m = 0;
  for (int d = 0; d < r; d++) {
    if (dims[d] == 1) continue;
    if (m > 0) {
      bool merge = true;
      for (int k = 0; k < n_in; k++)
        if (b->st[k][m - 1] != st[k][d] * dims[d]) merge = false;
      if (merge) {
        b->dims[m - 1] *= dims[d];
        for (int k = 0; k < n_in; k++) b->st[k][m - 1] = st[k][d];
        continue;
      }
    }
    b->dims[m] = dims[d];
    for (int k = 0; k < n_in; k++) b->st[k][m] = st[k][d];
    m++;
  }
  if (m == 0) {
    b->dims[0] = 1;
    for (int k = 0; k < n_in; k++) b->st[k][0] = 1;
    m = 1;
  }
  b->rank = m;
  b->inner = b->dims[m - 1];
  b->outer = 1;
  for (int d = 0; d < m - 1; d++) b->outer *= b->dims[d];
  b->n = b->outer * b->inner;
}

void gl_ew_bc_run(const bc_t *b, row_fn fn, const ew_par_t *p, const void *const *in,
                  void *out) {
  if (b->n <= 0) return;
  const int r = b->rank;
  int64_t ist[3];
  for (int k = 0; k < b->n_in; k++) ist[k] = b->st[k][r - 1];
  if (b->n < EW_PAR_MIN) {
    if (r == 1) {
      fn(p, in, ist, out, b->n);
      return;
    }
  }
  int64_t blk = b->inner, nblk = 1;
  if (b->n >= EW_PAR_MIN && b->inner > EW_BLOCK) {
    nblk = (b->inner + EW_BLOCK - 1) / EW_BLOCK;
    blk = (b->inner + nblk - 1) / nblk;
  }
  int64_t tasks = b->outer * nblk;
#pragma omp parallel for schedule(static) if (b->n >= EW_PAR_MIN)
  for (int64_t t = 0; t < tasks; t++) {
    int64_t o = t / nblk, j0 = (t % nblk) * blk;
    int64_t len = b->inner - j0 < blk ? b->inner - j0 : blk;
    int64_t off[3] = {0, 0, 0}, rem = o;
    for (int d = r - 2; d >= 0; d--) {
      int64_t i = rem % b->dims[d];
      rem /= b->dims[d];
      for (int k = 0; k < b->n_in; k++) off[k] += i * b->st[k][d];
    }
    const void *ip[3];
    for (int k = 0; k < b->n_in; k++)
      ip[k] = (const char *)in[k] + (size_t)(off[k] + j0 * ist[k]) * b->isz[k];
    fn(p, ip, ist, (char *)out + (size_t)(o * b->inner + j0) * b->osz, len);
  }
}

/* A contiguous map over n elements (unary ops, casts), parallel when large. */
void gl_ew_flat_run(row_fn fn, const ew_par_t *p, const void *in, size_t isz, void *out,
                    size_t osz, int64_t n) {
  static const int64_t one[1] = {1};
  if (n <= 0) return;
  if (n < EW_PAR_MIN) {
    const void *ip[1] = {in};
    fn(p, ip, one, out, n);
    return;
  }
  int64_t tasks = (n + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; t++) {
    int64_t j0 = t * EW_BLOCK, len = n - j0 < EW_BLOCK ? n - j0 : EW_BLOCK;
    const void *ip[1] = {(const char *)in + (size_t)j0 * isz};
    fn(p, ip, one, (char *)out + (size_t)j0 * osz, len);
  }
}

