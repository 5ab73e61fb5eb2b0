/* backend/cpu/cpu_elementwise_int.h - private to the elementwise family: its ops and parameters,
 * the row-function type and dtype slots, and what cpu_elementwise_loops.c exports to
 * cpu_elementwise.c (the typed row functions by slot, casts, the broadcast iteration). */
#ifndef GL_BACKEND_CPU_ELEMENTWISE_INT_H
#define GL_BACKEND_CPU_ELEMENTWISE_INT_H

#include "backend/cpu/cpu_int.h"

#define EW_MAX_IN 64
#define EW_PAR_MIN 32768  /* elements below which a kernel stays on one thread */
#define EW_BLOCK 16384    /* elements one thread task handles in a long row */
#define EW_DNNL_MIN 4096  /* elements below which plain loops beat a oneDNN call */

/* ---------------------------------------------------------------------------------------------
 * Ops and their parameters
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  /* unary */
  OP_RELU, OP_LEAKY, OP_ELU, OP_SELU, OP_CELU, OP_THRELU, OP_SIGMOID, OP_HSIGMOID, OP_HSWISH,
  OP_TANH, OP_SOFTPLUS, OP_SOFTSIGN, OP_ERF, OP_GELU, OP_GELU_TANH, OP_SQRT, OP_EXP, OP_LOG,
  OP_NEG, OP_ABS, OP_RECIP, OP_FLOOR, OP_CEIL, OP_ROUND, OP_SIGN, OP_SIN, OP_COS, OP_TAN, OP_ASIN,
  OP_ACOS, OP_ATAN, OP_SINH, OP_COSH, OP_ASINH, OP_ACOSH, OP_ATANH, OP_SHRINK, OP_CLIP, OP_NOT,
  OP_SCALE, OP_ISNAN, OP_ISINF, OP_SQUARE, OP_CUBE, OP_COPYF,
  /* binary */
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MOD, OP_FMOD, OP_SHL, OP_SHR, OP_MIN, OP_MAX,
  OP_PRELU,
  /* binary with a bool output */
  OP_EQ, OP_LT, OP_GT, OP_LE, OP_GE, OP_AND, OP_OR, OP_XOR,
} ew_op_t;

typedef struct {
  int op;
  double a, b, g;     /* alpha, beta, gamma; Clip's float bounds in a, b */
  int64_t ilo, ihi;   /* Clip's integer bounds (bit patterns of the element type) */
  int pos, neg;       /* IsInf */
} ew_par_t;

/* One row of work: in[k] points at the row's first element of input k, st[k] is 0 (broadcast
 * scalar) or 1 (contiguous). */
typedef void (*row_fn)(const ew_par_t *p, const void *const *in, const int64_t *st, void *out,
                       int64_t n);

/* Slots for the dtypes kernels are stamped out for. */
enum { S_F32, S_F64, S_F16, S_BF16, S_I8, S_I16, S_I32, S_I64, S_U8, S_U16, S_U32, S_U64, S_BOOL,
       S_COUNT };

static inline int dt_slot(gl_dtype_t t) {
  switch (t) {
    case GL_DT_F32: return S_F32;
    case GL_DT_F64: return S_F64;
    case GL_DT_F16: return S_F16;
    case GL_DT_BF16: return S_BF16;
    case GL_DT_I8: return S_I8;
    case GL_DT_I16: return S_I16;
    case GL_DT_I32: return S_I32;
    case GL_DT_I64: return S_I64;
    case GL_DT_U8: return S_U8;
    case GL_DT_U16: return S_U16;
    case GL_DT_U32: return S_U32;
    case GL_DT_U64: return S_U64;
    case GL_DT_BOOL: return S_BOOL;
    default: return -1;
  }
}

static inline bool is_half(gl_dtype_t t) { return t == GL_DT_F16 || t == GL_DT_BF16; }
static inline bool is_flt(gl_dtype_t t) {
  return t == GL_DT_F32 || t == GL_DT_F64 || t == GL_DT_F16 || t == GL_DT_BF16;
}
static inline bool is_sint(gl_dtype_t t) {
  return t == GL_DT_I8 || t == GL_DT_I16 || t == GL_DT_I32 || t == GL_DT_I64;
}
static inline bool is_uint(gl_dtype_t t) {
  return t == GL_DT_U8 || t == GL_DT_U16 || t == GL_DT_U32 || t == GL_DT_U64;
}

/* ---------------------------------------------------------------------------------------------
 * Row functions (cpu_elementwise_loops.c)
 * ------------------------------------------------------------------------------------------- */
extern const row_fn gl_ew_un_tab[S_COUNT];  /* unary ops, by slot */
extern const row_fn gl_ew_bin_tab[S_COUNT]; /* binary ops, by slot */
extern const row_fn gl_ew_cmp_tab[S_COUNT]; /* comparisons and logic (bool output), by slot */
extern const row_fn gl_ew_isx_f32, gl_ew_isx_f64; /* IsNaN / IsInf */
extern const row_fn gl_ew_where_1, gl_ew_where_2, gl_ew_where_4, gl_ew_where_8; /* by size */
/* The cast between two dtypes, or NULL. */
row_fn gl_ew_cast_fn(gl_dtype_t from, gl_dtype_t to);

/* Broadcast iteration */
typedef struct {
  int n_in, rank;
  int64_t dims[GL_MAX_RANK];
  int64_t st[3][GL_MAX_RANK]; /* element strides; 0 where input k broadcasts */
  int64_t n, outer, inner;
  size_t isz[3], osz;
} bc_t;

void gl_ew_bc_init(bc_t *b, const gl_shape_t *out, const gl_shape_t *const *ins,
                   const size_t *isz, int n_in, size_t osz);
void gl_ew_bc_run(const bc_t *b, row_fn fn, const ew_par_t *p, const void *const *in,
                  void *out);
/* A contiguous map over n elements (unary ops, casts), parallel when large. */
void gl_ew_flat_run(row_fn fn, const ew_par_t *p, const void *in, size_t isz, void *out,
                    size_t osz, int64_t n);

#endif
