/* backend/cpu/cpu_einsum.c - CPU kernels for sums along axes that keep them: CumSum and Einsum. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_reduce_int.h"
#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_reduce.h"

/* ---------------------------------------------------------------- CumSum */

typedef struct {
  gl_dtype_t dt, axis_dt;
  gl_shape_t shape;
  bool exclusive, reverse;
  char label[128]; /* the node's label, for errors at run */
} cumsum_t;

#define CUMSUM(T, ACC)                                                                  \
  static void cumsum_##T(const cumsum_t *c, int64_t outer, int64_t len, int64_t inner,  \
                         const T *x, T *y) {                                            \
    _Pragma("omp parallel for if (outer * len * inner > PAR_MIN)")                     \
    for (int64_t o = 0; o < outer * inner; o++) {                                       \
      int64_t base = (o / inner) * len * inner + o % inner;                             \
      ACC acc = 0;                                                                      \
      for (int64_t jj = 0; jj < len; jj++) {                                            \
        int64_t j = c->reverse ? len - 1 - jj : jj, i = base + j * inner;               \
        if (c->exclusive) {                                                             \
          T v = x[i];                                                                   \
          y[i] = (T)acc;                                                                \
          acc += v;                                                                     \
        } else {                                                                        \
          acc += x[i];                                                                  \
          y[i] = (T)acc;                                                                \
        }                                                                               \
      }                                                                                 \
    }                                                                                   \
  }
CUMSUM(float, double)
CUMSUM(double, double)
CUMSUM(int32_t, int64_t)
CUMSUM(int64_t, int64_t)

static gl_status_t cumsum_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const cumsum_t *c = k->state;
  int64_t axis = ld_i(in[1], c->axis_dt, 0), rank = c->shape.rank;
  if (axis < -rank || axis >= (rank ? rank : 1))
    return gl_err(GL_EINVAL, "%s: axis %lld is out of range for rank %lld", c->label,
                  (long long)axis, (long long)rank);
  if (axis < 0) axis += rank;
  int64_t outer = 1, len = 1, inner = 1;
  if (rank) split_axis(&c->shape, (int)axis, &outer, &len, &inner);
  switch (c->dt) {
    case GL_DT_F32: cumsum_float(c, outer, len, inner, in[0], out[0]); break;
    case GL_DT_F64: cumsum_double(c, outer, len, inner, in[0], out[0]); break;
    case GL_DT_I32: cumsum_int32_t(c, outer, len, inner, in[0], out[0]); break;
    default: cumsum_int64_t(c, outer, len, inner, in[0], out[0]); break;
  }
  return GL_OK;
}

static gl_status_t prep_cumsum(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *in = gl_in(g, n, 0), *ax = gl_in(g, n, 1);
  if (!dt_ok(in->dtype, true)) return bad_dtype(n, in->dtype);
  if (ax->dtype != GL_DT_I32 && ax->dtype != GL_DT_I64) return bad_dtype(n, ax->dtype);
  cumsum_t *c = gl_calloc(1, sizeof *c);
  if (!c) return gl_err(GL_ENOMEM, "out of memory");
  k->state = c;
  k->run = cumsum_run;
  c->dt = in->dtype;
  c->axis_dt = ax->dtype;
  c->shape = in->shape;
  c->exclusive = gl_attr_i(n, "exclusive", 0) != 0;
  c->reverse = gl_attr_i(n, "reverse", 0) != 0;
  snprintf(c->label, sizeof c->label, "%s", gl_node_label(n));
  return GL_OK;
}

/* ---------------------------------------------------------------- Einsum */

typedef struct {
  gl_einsum_t e;
  gl_dtype_t dt;
  int n_loop;                                    /* output labels first, then summed ones */
  int loop_label[GL_EINSUM_MAX_LABELS];
  int64_t loop_size[GL_EINSUM_MAX_LABELS];
  int64_t stride[GL_EINSUM_MAX_OPS][GL_EINSUM_MAX_LABELS]; /* per operand, per loop: step */
  int64_t n_out, n_sum;
} einsum_t;

/* One output element at a time: the summed labels run as an odometer whose last label is an
 * explicit inner loop (a dot product when there are two operands). */
#define EINSUM(NAME, T, ACC)                                                            \
  static void NAME(const einsum_t *E, void *const *in, T *y) {                          \
    const int no = E->e.out_rank, nl = E->n_loop, nops = E->e.n_ops;                    \
    const int last = nl - 1;                                                            \
    const int64_t L = nl > no ? E->loop_size[last] : 1;                                 \
    const int64_t n_rest = L ? E->n_sum / L : 0;                                        \
    const T *const *ops = (const T *const *)in;                                         \
    _Pragma("omp parallel for if (E->n_out * E->n_sum > PAR_MIN)")                     \
    for (int64_t o = 0; o < E->n_out; o++) {                                            \
      int64_t off[GL_EINSUM_MAX_OPS] = {0}, rem = o, sl[GL_EINSUM_MAX_OPS];             \
      for (int l = no - 1; l >= 0; l--) {                                               \
        int64_t v = rem % E->loop_size[l];                                              \
        rem /= E->loop_size[l];                                                         \
        for (int p = 0; p < nops; p++) off[p] += v * E->stride[p][l];                   \
      }                                                                                 \
      for (int p = 0; p < nops; p++) sl[p] = nl > no ? E->stride[p][last] : 0;          \
      ACC acc = 0;                                                                      \
      int64_t idx[GL_EINSUM_MAX_LABELS] = {0};                                          \
      for (int64_t s = 0; s < n_rest; s++) {                                            \
        if (nops == 2) {                                                                \
          const T *a = ops[0] + off[0], *b = ops[1] + off[1];                           \
          for (int64_t j = 0; j < L; j++) acc += (ACC)a[j * sl[0]] * b[j * sl[1]];      \
        } else {                                                                        \
          for (int64_t j = 0; j < L; j++) {                                             \
            ACC prod = 1;                                                               \
            for (int p = 0; p < nops; p++) prod *= ops[p][off[p] + j * sl[p]];          \
            acc += prod;                                                                \
          }                                                                             \
        }                                                                               \
        for (int l = last - 1; l >= no; l--) {                                          \
          for (int p = 0; p < nops; p++) off[p] += E->stride[p][l];                     \
          if (++idx[l] < E->loop_size[l]) break;                                        \
          for (int p = 0; p < nops; p++) off[p] -= E->stride[p][l] * E->loop_size[l];   \
          idx[l] = 0;                                                                   \
        }                                                                               \
      }                                                                                 \
      y[o] = (T)acc;                                                                    \
    }                                                                                   \
  }
EINSUM(einsum_f32, float, double)
EINSUM(einsum_f64, double, double)
EINSUM(einsum_i32, int32_t, int64_t)
EINSUM(einsum_i64, int64_t, int64_t)

static gl_status_t einsum_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const einsum_t *E = k->state;
  switch (E->dt) {
    case GL_DT_F32: einsum_f32(E, in, out[0]); break;
    case GL_DT_F64: einsum_f64(E, in, out[0]); break;
    case GL_DT_I32: einsum_i32(E, in, out[0]); break;
    default: einsum_i64(E, in, out[0]); break;
  }
  return GL_OK;
}

static gl_status_t prep_einsum(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  gl_dtype_t dt = gl_in(g, n, 0)->dtype;
  if (!dt_ok(dt, true)) return bad_dtype(n, dt);
  einsum_t *E = gl_calloc(1, sizeof *E);
  if (!E) return gl_err(GL_ENOMEM, "out of memory");
  k->state = E;
  k->run = einsum_run;
  E->dt = dt;
  GL_TRY(gl_einsum_parse(g, n, &E->e));
  bool in_out[GL_EINSUM_MAX_LABELS] = {0};
  E->n_out = E->n_sum = 1;
  for (int d = 0; d < E->e.out_rank; d++) {
    int id = E->e.out_label[d];
    in_out[id] = true;
    E->loop_label[E->n_loop] = id;
    E->loop_size[E->n_loop++] = E->e.size[id];
    E->n_out *= E->e.size[id];
  }
  for (int id = 0; id < GL_EINSUM_MAX_LABELS; id++)
    if (E->e.used[id] && !in_out[id]) {
      E->loop_label[E->n_loop] = id;
      E->loop_size[E->n_loop++] = E->e.size[id];
      E->n_sum *= E->e.size[id];
    }
  for (int p = 0; p < E->e.n_ops; p++) {
    const gl_value_t *v = gl_in(g, n, p);
    int64_t st[GL_MAX_RANK];
    gl_shape_strides(&v->shape, st);
    for (int d = 0; d < E->e.rank[p]; d++) {
      if (v->shape.d[d] == 1) continue; /* broadcast: stays put */
      for (int l = 0; l < E->n_loop; l++)
        if (E->loop_label[l] == E->e.label[p][d]) E->stride[p][l] += st[d];
    }
  }
  return GL_OK;
}

const gl_cpu_op_t gl_cpu_ops_einsum[] = {
    {"CumSum", prep_cumsum},
    {"Einsum", prep_einsum},
    {0},
};
