/* graph/ops.c - lookup over the op families and helpers shared by infer functions. */
#include "graph/ops.h"

#include <string.h>

static const gl_op_schema_t *const families[] = {
    gl_schemas_elementwise, gl_schemas_tensor, gl_schemas_nn, gl_schemas_reduce, gl_schemas_index};

const gl_op_schema_t *gl_op_schema(const char *op_type) {
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const gl_op_schema_t *s = families[f]; s->op_type; s++)
      if (!strcmp(s->op_type, op_type)) return s;
  return NULL;
}

void gl_set_out(gl_graph_t *g, gl_node_t *n, int i, gl_dtype_t t, const gl_shape_t *s) {
  gl_value_t *v = gl_out(g, n, i);
  if (!v) return;
  v->dtype = t;
  v->shape = *s;
}

gl_status_t gl_need_in(const gl_graph_t *g, const gl_node_t *n, int i) {
  const gl_value_t *v = gl_in(g, n, i);
  if (!v) return gl_err(GL_EINVAL, "%s: input %d is required", gl_node_label(n), i);
  if (v->shape.rank < 0 || gl_shape_numel(&v->shape) < 0)
    return gl_err(GL_ESHAPE, "%s: input '%s' has no known shape", gl_node_label(n), v->name);
  return GL_OK;
}

gl_status_t gl_need_const(const gl_graph_t *g, const gl_node_t *n, int i) {
  GL_TRY(gl_need_in(g, n, i));
  if (!gl_in(g, n, i)->data)
    return gl_err(GL_EUNSUPPORTED, "%s: input '%s' must be known when the model is compiled",
                  gl_node_label(n), gl_in(g, n, i)->name);
  return GL_OK;
}

gl_status_t gl_norm_axis(const gl_node_t *n, int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= (rank ? rank : 1))
    return gl_err(GL_EINVAL, "%s: axis %lld is out of range for rank %d", gl_node_label(n),
                  (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return GL_OK;
}
