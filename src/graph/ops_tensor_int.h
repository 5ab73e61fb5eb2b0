/* graph/ops_tensor_int.h - helpers shared by the tensor op family's schema files (ops_tensor.c,
 * ops_index.c): constant integer inputs, axes that moved from attributes to inputs, rank and
 * dtype checks, constant outputs. */
#ifndef GL_GRAPH_OPS_TENSOR_INT_H
#define GL_GRAPH_OPS_TENSOR_INT_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "graph/ops.h"
#include "graph/ops_tensor.h"

#define LBL gl_node_label(n)
#define DIM_MAX ((int64_t)1 << 40) /* larger dims are refused before any arithmetic can overflow */

/* ---- helpers ---- */

static inline const gl_value_t *in_v(const gl_graph_t *g, const gl_node_t *n, int i) { return gl_in(g, n, i); }

/* Reads constant input i (an integer tensor of at most max elements) into buf. */
static inline gl_status_t const_ints(const gl_graph_t *g, const gl_node_t *n, int i, int64_t *buf, int max,
                                     int *count) {
  GL_TRY(gl_need_const(g, n, i));
  const gl_value_t *v = in_v(g, n, i);
  if (!gl_dtype_is_int(v->dtype))
    return gl_err(GL_ETYPE, "%s: input '%s' must be an integer tensor, not %s", LBL, v->name,
                  gl_dtype_name(v->dtype));
  int64_t k = gl_shape_numel(&v->shape);
  if (v->shape.rank > 1 || k > max)
    return gl_err(GL_ESHAPE, "%s: input '%s' must be a vector of at most %d elements", LBL,
                  v->name, max);
  for (int64_t j = 0; j < k; j++) buf[j] = gl_tensor_get_i64(v->data, j);
  *count = (int)k;
  return GL_OK;
}

/* A data-dependent input: the output shape depends on its values. */
static inline gl_status_t need_data(const gl_graph_t *g, const gl_node_t *n, int i) {
  GL_TRY(gl_need_in(g, n, i));
  if (!in_v(g, n, i)->data)
    return gl_err(GL_EUNSUPPORTED, "%s: data-dependent output shape (input '%s' is not constant)",
                  LBL, in_v(g, n, i)->name);
  return GL_OK;
}

/* Axes from an INTS attribute (opset < from_opset) or constant input idx (opset >= from_opset).
 * *present is false when neither gives any. */
static inline gl_status_t get_axes(const gl_graph_t *g, const gl_node_t *n, int idx, int from_opset,
                                   int64_t *axes, int *count, bool *present) {
  *count = 0;
  *present = false;
  if (g->opset >= from_opset && in_v(g, n, idx)) {
    GL_TRY(const_ints(g, n, idx, axes, GL_MAX_RANK, count));
    *present = true;
    return GL_OK;
  }
  int c;
  const int64_t *a = gl_attr_ints(n, "axes", &c);
  if (a) {
    if (c > GL_MAX_RANK) return gl_err(GL_ESHAPE, "%s: too many axes (%d)", LBL, c);
    memcpy(axes, a, sizeof(int64_t) * (size_t)c);
    *count = c;
    *present = true;
  }
  return GL_OK;
}

static inline gl_status_t check_rank(const gl_node_t *n, int rank) {
  if (rank > GL_MAX_RANK)
    return gl_err(GL_ELIMIT, "%s: output rank %d exceeds gpulet's limit of %d", LBL, rank, GL_MAX_RANK);
  return GL_OK;
}

static inline gl_status_t need_index_type(const gl_node_t *n, const gl_value_t *v) {
  if (v->dtype != GL_DT_I32 && v->dtype != GL_DT_I64)
    return gl_err(GL_ETYPE, "%s: indices '%s' must be int32 or int64, not %s", LBL, v->name,
                  gl_dtype_name(v->dtype));
  return GL_OK;
}

static inline gl_status_t need_data_type(const gl_node_t *n, const gl_value_t *v) {
  if (gl_dtype_size(v->dtype) == 0)
    return gl_err(GL_EUNSUPPORTED, "%s: element type %s is not supported", LBL,
                  gl_dtype_name(v->dtype));
  return GL_OK;
}

/* Sets output i to a constant built from t (moves t's storage). */
static inline gl_status_t set_const_out(gl_graph_t *g, gl_node_t *n, int i, gl_tensor_t *t) {
  if (i >= n->n_outputs || n->outputs[i] < 0) {
    gl_tensor_fini(t);
    return GL_OK;
  }
  gl_status_t st = gl_value_set_const(g, n->outputs[i], t);
  gl_tensor_fini(t);
  return st;
}

#endif
