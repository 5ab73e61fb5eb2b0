/* graph/legacy.c - rewrites nodes from opsets before 7/8 into the semantics gpulet implements:
 * the explicit `broadcast`/`axis` attributes of old binary ops and PRelu's per-channel slope
 * become numpy broadcasting by giving the second operand trailing 1-dims. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "graph/passes.h"

static bool is_legacy_binary(const char *op) {
  static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal",
                              "Greater", "Less"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(op, ops[i])) return true;
  return false;
}

bool gl_graph_legacy_compatible(const gl_graph_t *g, const gl_node_t *n) {
  if (g->opset >= 8) return false;
  const char *op = n->op_type;
  if (g->opset < 7 && (is_legacy_binary(op) || !strcmp(op, "PRelu"))) return true;
  return !strcmp(op, "Min") || !strcmp(op, "Max") || !strcmp(op, "Sum") || !strcmp(op, "Mean");
}

/* Gives input 1 of node ni the shape `to` (same element count): a reshaped constant copy when
 * it is constant, else a Reshape node inserted before ni. */
static gl_status_t reshape_input(gl_graph_t *g, int ni, const gl_shape_t *to, bool *inserted) {
  int src = g->nodes[ni].inputs[1];
  char name[300];
  snprintf(name, sizeof name, "%s_gl_legacy_%d", g->values[src].name, ni);
  int nv = gl_graph_add_value(g, name);
  if (nv < 0) return gl_err(GL_ENOMEM, "out of memory");
  gl_value_t *s = &g->values[src], *v = &g->values[nv];
  v->dtype = s->dtype;
  v->shape = *to;
  if (s->data) {
    gl_tensor_t t;
    GL_TRY(gl_tensor_copy(&t, s->data));
    t.shape = *to;
    GL_TRY(gl_value_set_const(g, nv, &t));
    g->nodes[ni].inputs[1] = nv;
    return GL_OK;
  }
  snprintf(name, sizeof name, "%s_gl_legacy_shape_%d", g->values[src].name, ni);
  int sv = gl_graph_add_value(g, name);
  if (sv < 0) return gl_err(GL_ENOMEM, "out of memory");
  gl_tensor_t st;
  gl_shape_t ss = {1, {to->rank}};
  GL_TRY(gl_tensor_alloc(&st, GL_DT_I64, &ss));
  for (int d = 0; d < to->rank; d++) ((int64_t *)st.data)[d] = to->d[d];
  GL_TRY(gl_value_set_const(g, sv, &st));
  int ins[2] = {src, sv};
  int at = gl_graph_add_node(g, "Reshape", "gl_legacy_broadcast", ins, 2, &nv, 1);
  if (at < 0) return gl_err(GL_ENOMEM, "out of memory");
  gl_node_t moved = g->nodes[at];
  memmove(&g->nodes[ni + 1], &g->nodes[ni], sizeof moved * (size_t)(at - ni));
  g->nodes[ni] = moved;
  g->nodes[ni + 1].inputs[1] = nv;
  *inserted = true;
  return GL_OK;
}

gl_status_t gl_graph_legacy_node(gl_graph_t *g, int ni, bool *inserted) {
  *inserted = false;
  gl_node_t *n = &g->nodes[ni];
  if (g->opset >= 7 || n->n_inputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0) return GL_OK;
  const gl_value_t *a = &g->values[n->inputs[0]], *b = &g->values[n->inputs[1]];
  if (a->shape.rank < 0 || b->shape.rank < 0) return GL_OK;
  int axis;
  if (is_legacy_binary(n->op_type)) {
    if (!gl_attr_i(n, "broadcast", 0) || !gl_attr(n, "axis")) return GL_OK;
    int64_t ax = gl_attr_i(n, "axis", 0);
    if (ax < 0) ax += a->shape.rank;
    if (ax < 0 || ax + b->shape.rank > a->shape.rank)
      return gl_err(GL_ESHAPE, "%s: legacy broadcast axis %lld does not fit shapes", gl_node_label(n),
                    (long long)gl_attr_i(n, "axis", 0));
    axis = (int)ax;
  } else if (!strcmp(n->op_type, "PRelu")) {
    if (b->shape.rank != 1 || a->shape.rank < 3 || b->shape.d[0] == 1) return GL_OK;
    axis = 1; /* the slope is per channel */
  } else {
    return GL_OK;
  }
  int trailing = a->shape.rank - axis - b->shape.rank;
  if (trailing <= 0) return GL_OK;
  gl_shape_t to = b->shape;
  for (int k = 0; k < trailing; k++) to.d[to.rank++] = 1;
  return reshape_input(g, ni, &to, inserted);
}
