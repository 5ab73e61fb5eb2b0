/* backend/cpu/cpu_gather.c - CPU kernels for indexed data movement: Gather, GatherElements,
 * GatherND, ScatterElements/Scatter, ScatterND (any dtype, indices checked at run time). */
#include <stdlib.h>

#include "backend/cpu/cpu_tensor_int.h"

/* ---- Gather, GatherElements, GatherND ---- */

typedef struct {
  int64_t outer, axis_len, nidx;
  size_t block; /* bytes */
  gl_dtype_t it;
  char label[96];
} gather_t;


static gl_status_t run_gather(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const gather_t *s = k->state;
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < -s->axis_len || v >= s->axis_len) return index_error(s->label, v, s->axis_len);
  }
  bool par = (size_t)(s->outer * s->nidx) * s->block >= PAR_BYTES && s->outer * s->nidx > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t t = 0; t < s->outer * s->nidx; t++) {
    int64_t o = t / s->nidx, j = t % s->nidx;
    int64_t v = load_i64(in[1], s->it, j);
    if (v < 0) v += s->axis_len;
    memcpy((char *)out[0] + (size_t)t * s->block,
           (const char *)in[0] + (size_t)(o * s->axis_len + v) * s->block, s->block);
  }
  return GL_OK;
}

static gl_status_t prep_gather(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *ix = vin(g, n, 1);
  size_t es;
  int axis;
  GL_TRY(elem_size(n, a->dtype, &es));
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), a->shape.rank, &axis));
  gather_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  snprintf(s->label, sizeof s->label, "%s", LBL);
  s->outer = 1;
  for (int d = 0; d < axis; d++) s->outer *= a->shape.d[d];
  s->axis_len = a->shape.d[axis];
  int64_t inner = 1;
  for (int d = axis + 1; d < a->shape.rank; d++) inner *= a->shape.d[d];
  s->block = (size_t)inner * es;
  s->nidx = gl_shape_numel(&ix->shape);
  s->it = ix->dtype;
  k->run = run_gather;
  return GL_OK;
}

/* GatherElements and ScatterElements share this walk over the indices' shape. */
typedef struct {
  int rank, axis;
  size_t es;
  gl_dtype_t it, dt;
  int red; /* 0 none, 1 add, 2 mul, 3 max, 4 min */
  int64_t nidx, out_numel;
  int64_t ishape[GL_MAX_RANK], dstride[GL_MAX_RANK];
  char label[96];
} elems_t;

static gl_status_t prep_elems(const gl_graph_t *g, const gl_node_t *n, gl_cpu_kernel_t *k,
                              elems_t **out) {
  const gl_value_t *a = vin(g, n, 0), *ix = vin(g, n, 1);
  elems_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), a->shape.rank, &s->axis));
  snprintf(s->label, sizeof s->label, "%s", LBL);
  s->rank = a->shape.rank;
  s->it = ix->dtype;
  s->dt = a->dtype;
  s->nidx = gl_shape_numel(&ix->shape);
  s->out_numel = gl_shape_numel(&a->shape);
  memcpy(s->ishape, ix->shape.d, sizeof s->ishape);
  gl_shape_strides(&a->shape, s->dstride);
  *out = s;
  return GL_OK;
}

/* Offset into data of the element that indices element j (value v, already normalised) names. */
static int64_t elems_offset(const elems_t *s, int64_t j, int64_t v) {
  int64_t off = 0;
  for (int d = s->rank - 1; d >= 0; d--) {
    int64_t i = j % s->ishape[d];
    j /= s->ishape[d];
    off += (d == s->axis ? v : i) * s->dstride[d];
  }
  return off;
}

static int64_t elems_axis_len(const elems_t *s) {
  int64_t above = s->axis > 0 ? s->dstride[s->axis - 1] : s->out_numel;
  return s->dstride[s->axis] ? above / s->dstride[s->axis] : 0;
}

static gl_status_t run_gather_elements(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                       void *const *in, void *const *out) {
  const elems_t *s = k->state;
  int64_t len = elems_axis_len(s);
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < -len || v >= len) return index_error(s->label, v, len);
    if (v < 0) v += len;
    copy_elem((char *)out[0] + (size_t)j * s->es,
              (const char *)in[0] + (size_t)elems_offset(s, j, v) * s->es, s->es);
  }
  return GL_OK;
}

static gl_status_t prep_gather_elements(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                        const gl_node_t *n, gl_cpu_kernel_t *k) {
  elems_t *s;
  GL_TRY(prep_elems(g, n, k, &s));
  k->run = run_gather_elements;
  return GL_OK;
}

/* Applies reduction red of type t: *dst = dst (op) src. */
static void reduce_elem(void *dst, const void *src, gl_dtype_t t, int red, size_t es) {
#define RED(T)                                                                        \
  {                                                                                   \
    T a = *(T *)dst, b = *(const T *)src;                                             \
    *(T *)dst = red == 1 ? (T)(a + b) : red == 2 ? (T)(a * b) : red == 3 ? (a > b ? a : b) \
                                                                         : (a < b ? a : b); \
    return;                                                                           \
  }
  if (red == 0) {
    copy_elem(dst, src, es);
    return;
  }
  switch (t) {
    case GL_DT_F32: RED(float)
    case GL_DT_F64: RED(double)
    case GL_DT_I8: RED(int8_t)
    case GL_DT_U8: RED(uint8_t)
    case GL_DT_I16: RED(int16_t)
    case GL_DT_U16: RED(uint16_t)
    case GL_DT_I32: RED(int32_t)
    case GL_DT_U32: RED(uint32_t)
    case GL_DT_I64: RED(int64_t)
    case GL_DT_U64: RED(uint64_t)
    default: copy_elem(dst, src, es);
  }
#undef RED
}

static int reduction_code(const gl_node_t *n, gl_dtype_t t, gl_status_t *st) {
  const char *r = gl_attr_s(n, "reduction", "none");
  static const char *names[] = {"none", "add", "mul", "max", "min"};
  *st = GL_OK;
  for (int i = 0; i < 5; i++)
    if (!strcmp(r, names[i])) {
      if (i && (t == GL_DT_F16 || t == GL_DT_BF16 || t == GL_DT_BOOL))
        *st = gl_err(GL_EUNSUPPORTED, "%s: reduction '%s' on %s is not supported", LBL, r, gl_dtype_name(t));
      return i;
    }
  *st = gl_err(GL_EUNSUPPORTED, "%s: reduction '%s' is not supported", LBL, r);
  return 0;
}

static gl_status_t run_scatter_elements(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                        void *const *in, void *const *out) {
  const elems_t *s = k->state;
  int64_t len = elems_axis_len(s);
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < -len || v >= len) return index_error(s->label, v, len);
  }
  if (in[0] != out[0]) memcpy(out[0], in[0], (size_t)s->out_numel * s->es);
  for (int64_t j = 0; j < s->nidx; j++) {
    int64_t v = load_i64(in[1], s->it, j);
    if (v < 0) v += len;
    reduce_elem((char *)out[0] + (size_t)elems_offset(s, j, v) * s->es,
                (const char *)in[2] + (size_t)j * s->es, s->dt, s->red, s->es);
  }
  return GL_OK;
}

static gl_status_t prep_scatter_elements(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                         const gl_node_t *n, gl_cpu_kernel_t *k) {
  elems_t *s;
  GL_TRY(prep_elems(g, n, k, &s));
  gl_status_t st;
  s->red = reduction_code(n, s->dt, &st);
  GL_TRY(st);
  k->run = run_scatter_elements;
  return GL_OK;
}

/* GatherND and ScatterND: batches of index tuples naming slices of data. */
typedef struct {
  int64_t batches, tuples, k; /* tuples per batch, tuple length */
  int64_t batch_stride;        /* data elements per batch */
  int64_t slice;               /* elements per slice */
  int64_t dim[GL_MAX_RANK], stride[GL_MAX_RANK]; /* of the k indexed dims */
  size_t es;
  gl_dtype_t it, dt;
  int red;
  int64_t data_numel;
  char label[96];
} nd_t;

static gl_status_t nd_offset(const nd_t *s, const void *idx, int64_t t, int64_t *off) {
  int64_t o = 0;
  for (int64_t j = 0; j < s->k; j++) {
    int64_t v = load_i64(idx, s->it, t * s->k + j);
    if (v < -s->dim[j] || v >= s->dim[j]) return index_error(s->label, v, s->dim[j]);
    if (v < 0) v += s->dim[j];
    o += v * s->stride[j];
  }
  *off = o;
  return GL_OK;
}

static gl_status_t run_gather_nd(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                 void *const *out) {
  const nd_t *s = k->state;
  size_t bytes = (size_t)s->slice * s->es;
  for (int64_t b = 0; b < s->batches; b++)
    for (int64_t t = 0; t < s->tuples; t++) {
      int64_t off;
      GL_TRY(nd_offset(s, in[1], b * s->tuples + t, &off));
      memcpy((char *)out[0] + (size_t)(b * s->tuples + t) * bytes,
             (const char *)in[0] + (size_t)(b * s->batch_stride + off) * s->es, bytes);
    }
  return GL_OK;
}

static gl_status_t run_scatter_nd(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                  void *const *out) {
  const nd_t *s = k->state;
  int64_t off;
  for (int64_t t = 0; t < s->tuples; t++) GL_TRY(nd_offset(s, in[1], t, &off));
  if (in[0] != out[0]) memcpy(out[0], in[0], (size_t)s->data_numel * s->es);
  for (int64_t t = 0; t < s->tuples; t++) {
    GL_TRY(nd_offset(s, in[1], t, &off));
    char *d = (char *)out[0] + (size_t)off * s->es;
    const char *u = (const char *)in[2] + (size_t)(t * s->slice) * s->es;
    if (s->red == 0) memcpy(d, u, (size_t)s->slice * s->es);
    else
      for (int64_t e = 0; e < s->slice; e++)
        reduce_elem(d + (size_t)e * s->es, u + (size_t)e * s->es, s->dt, s->red, s->es);
  }
  return GL_OK;
}

static gl_status_t prep_nd(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                           gl_cpu_kernel_t *k) {
  bool scatter = !strcmp(n->op_type, "ScatterND");
  const gl_value_t *a = vin(g, n, 0), *ix = vin(g, n, 1);
  nd_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  snprintf(s->label, sizeof s->label, "%s", LBL);
  int r = a->shape.rank, q = ix->shape.rank;
  int64_t b = scatter ? 0 : gl_attr_i(n, "batch_dims", 0);
  s->k = ix->shape.d[q - 1];
  s->it = ix->dtype;
  s->dt = a->dtype;
  s->data_numel = gl_shape_numel(&a->shape);
  int64_t st[GL_MAX_RANK];
  gl_shape_strides(&a->shape, st);
  s->batches = 1;
  for (int d = 0; d < b; d++) s->batches *= a->shape.d[d];
  s->tuples = 1;
  for (int64_t d = b; d < q - 1; d++) s->tuples *= ix->shape.d[d];
  s->batch_stride = b > 0 ? st[b - 1] : s->data_numel;
  for (int64_t j = 0; j < s->k; j++) s->dim[j] = a->shape.d[b + j], s->stride[j] = st[b + j];
  s->slice = 1;
  for (int64_t d = b + s->k; d < r; d++) s->slice *= a->shape.d[d];
  if (scatter) {
    gl_status_t e;
    s->red = reduction_code(n, s->dt, &e);
    GL_TRY(e);
  }
  k->run = scatter ? run_scatter_nd : run_gather_nd;
  return GL_OK;
}


const gl_cpu_op_t gl_cpu_ops_gather[] = {
    {"Gather", prep_gather},
    {"GatherElements", prep_gather_elements},
    {"GatherND", prep_nd},
    {"ScatterElements", prep_scatter_elements},
    {"Scatter", prep_scatter_elements},
    {"ScatterND", prep_nd},
    {0},
};
