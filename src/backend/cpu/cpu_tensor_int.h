/* backend/cpu/cpu_tensor_int.h - helpers shared by the tensor op family's kernel files
 * (cpu_tensor.c, cpu_gather.c, cpu_resample.c): element sizes by dtype, kernel state blocks,
 * element copies, index loads and stores with saturation, index errors. */
#ifndef GL_BACKEND_CPU_TENSOR_INT_H
#define GL_BACKEND_CPU_TENSOR_INT_H

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_tensor.h"

#define LBL gl_node_label(n)
#define PAR_BYTES (1 << 16) /* below this much data a kernel stays on one thread */

static inline const gl_value_t *vin(const gl_graph_t *g, const gl_node_t *n, int i) { return gl_in(g, n, i); }
static inline const gl_value_t *vout(const gl_graph_t *g, const gl_node_t *n, int i) { return gl_out(g, n, i); }

static inline gl_status_t elem_size(const gl_node_t *n, gl_dtype_t t, size_t *es) {
  *es = gl_dtype_size(t);
  if (!*es) return gl_err(GL_EUNSUPPORTED, "%s: element type %s is not supported", LBL, gl_dtype_name(t));
  return GL_OK;
}

static inline void *state_alloc(gl_cpu_kernel_t *k, size_t bytes) {
  k->state = gl_calloc(1, bytes ? bytes : 1);
  if (!k->state) gl_err(GL_ENOMEM, "out of memory");
  return k->state;
}

static inline void copy_elem(void *dst, const void *src, size_t es) {
  switch (es) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es);
  }
}

/* Reads element i of raw data of type t as int64 (indices of any integer or float type). */
static inline int64_t load_i64(const void *p, gl_dtype_t t, int64_t i) {
  gl_tensor_t v = {.dtype = t, .data = (void *)p};
  return gl_tensor_get_i64(&v, i);
}

/* v clamped into [lo, hi] (NaN -> 0): a cast of an out-of-range double to an integer type is
 * undefined in C, and a model's constant can hold any value. */
static inline double sat(double v, double lo, double hi) { return v != v ? 0 : v < lo ? lo : v > hi ? hi : v; }

/* Writes v as one element of type t at dst (which need not be aligned); integers saturate. */
static inline void store_f64(void *dst, gl_dtype_t t, double v) {
#define ST(T, expr)        \
  {                        \
    T tmp = (T)(expr);     \
    memcpy(dst, &tmp, sizeof tmp); \
    break;                 \
  }
  switch (t) {
    case GL_DT_F32: ST(float, v)
    case GL_DT_F64: ST(double, v)
    case GL_DT_F16: ST(uint16_t, gl_f32_to_f16((float)v))
    case GL_DT_BF16: ST(uint16_t, gl_f32_to_bf16((float)v))
    case GL_DT_I8: ST(int8_t, sat(v, INT8_MIN, INT8_MAX))
    case GL_DT_U8: ST(uint8_t, sat(v, 0, UINT8_MAX))
    case GL_DT_BOOL: ST(uint8_t, v != 0)
    case GL_DT_I16: ST(int16_t, sat(v, INT16_MIN, INT16_MAX))
    case GL_DT_U16: ST(uint16_t, sat(v, 0, UINT16_MAX))
    case GL_DT_I32: ST(int32_t, sat(v, INT32_MIN, INT32_MAX))
    case GL_DT_U32: ST(uint32_t, sat(v, 0, UINT32_MAX))
    case GL_DT_I64: ST(int64_t, sat(v, -9223372036854775808.0, 9223372036854774784.0))
    case GL_DT_U64: ST(uint64_t, sat(v, 0, 18446744073709549568.0))
    default: break;
  }
#undef ST
}

static inline void fill_bytes(char *dst, const void *val, size_t es, int64_t count) {
  bool zero = true;
  for (size_t b = 0; b < es; b++) zero = zero && ((const uint8_t *)val)[b] == 0;
  if (zero) {
    memset(dst, 0, (size_t)count * es);
    return;
  }
  for (int64_t i = 0; i < count; i++) memcpy(dst + (size_t)i * es, val, es);
}

static inline gl_status_t index_error(const char *label, int64_t v, int64_t len) {
  return gl_err(GL_EINVAL, "%s: index %lld is out of range for a dim of size %lld", label,
                (long long)v, (long long)len);
}

#endif
