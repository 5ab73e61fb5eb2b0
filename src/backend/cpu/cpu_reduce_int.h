/* backend/cpu/cpu_reduce_int.h - private to the reduce-like families (cpu_reduce.c, cpu_softmax.c,
 * cpu_einsum.c): dtype checks, typed loads, splitting a shape at an axis, and a oneDNN primitive
 * with one src and one dst. */
#ifndef GL_BACKEND_CPU_REDUCE_INT_H
#define GL_BACKEND_CPU_REDUCE_INT_H

#include <string.h>

#include "backend/cpu/cpu_int.h"

#define PAR_MIN 32768 /* elements below which a loop stays on one thread */

static inline bool dt_ok(gl_dtype_t t, bool ints) {
  return t == GL_DT_F32 || t == GL_DT_F64 || (ints && (t == GL_DT_I32 || t == GL_DT_I64));
}

static inline gl_status_t bad_dtype(const gl_node_t *n, gl_dtype_t t) {
  return gl_err(GL_EUNSUPPORTED, "%s: element type %s is not supported", gl_node_label(n),
                gl_dtype_name(t));
}

/* Element i of a float or integer buffer of type t, as double / int64. */
static inline double ld_f(const void *p, gl_dtype_t t, int64_t i) {
  switch (t) {
    case GL_DT_F32: return ((const float *)p)[i];
    case GL_DT_F64: return ((const double *)p)[i];
    case GL_DT_I32: return ((const int32_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
  }
}
static inline int64_t ld_i(const void *p, gl_dtype_t t, int64_t i) {
  return t == GL_DT_I32 ? ((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

/* Splits shape s at axis into outer x len x inner. */
static inline void split_axis(const gl_shape_t *s, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = *inner = 1;
  for (int d = 0; d < axis; d++) *outer *= s->d[d];
  *len = s->d[axis];
  for (int d = axis + 1; d < s->rank; d++) *inner *= s->d[d];
}

/* ---------------------------------------------------------------- oneDNN helper */

/* A oneDNN primitive with one src and one dst memory whose handles are set at each run. */
typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst;
} dnn1_t;

static inline void dnn1_fini(dnn1_t *d) {
  if (d->prim) dnnl_primitive_destroy(d->prim);
  if (d->src) dnnl_memory_destroy(d->src);
  if (d->dst) dnnl_memory_destroy(d->dst);
  memset(d, 0, sizeof *d);
}

/* Makes the primitive from an op descriptor; on failure leaves d empty and returns the status. */
static inline gl_status_t dnn1_make(dnn1_t *d, const gl_cpu_exec_t *x, const void *op_desc,
                                    const dnnl_memory_desc_t *smd, const dnnl_memory_desc_t *dmd,
                                    const char *what) {
  dnnl_primitive_desc_t pd = NULL;
  gl_status_t st = gl_dnnl_check(dnnl_primitive_desc_create(&pd, op_desc, NULL, x->engine, NULL), what);
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&d->prim, pd), what);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (!st) st = gl_dnnl_check(dnnl_memory_create(&d->src, smd, x->engine, DNNL_MEMORY_NONE), what);
  if (!st) st = gl_dnnl_check(dnnl_memory_create(&d->dst, dmd, x->engine, DNNL_MEMORY_NONE), what);
  if (st) dnn1_fini(d);
  return st;
}

static inline gl_status_t dnn1_run(const dnn1_t *d, const gl_cpu_exec_t *x, const void *src, void *dst) {
  GL_DNNL(dnnl_memory_set_data_handle_v2(d->src, (void *)src, x->stream), "setting a source");
  GL_DNNL(dnnl_memory_set_data_handle_v2(d->dst, dst, x->stream), "setting a destination");
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_DST, d->dst}};
  GL_DNNL(dnnl_primitive_execute(d->prim, x->stream, 2, args), "executing");
  return GL_OK;
}

#endif
