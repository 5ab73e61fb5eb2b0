/* graph/infer.c - binding input shapes, shape/type inference with constant folding, dead code. */
#include "graph/passes.h"

#include <string.h>

#include "core/alloc.h"
#include "graph/ops.h"

gl_status_t gl_graph_set_batch(gl_graph_t *g, int64_t batch) {
  for (int i = 0; i < g->n_inputs; i++) {
    gl_value_t *v = &g->values[g->inputs[i]];
    if (v->shape.rank < 0)
      return gl_err(GL_ESHAPE, "input '%s' has no shape in the model", v->name);
    for (int d = 0; d < v->shape.rank; d++) {
      if (d == 0 && batch > 0 && (v->shape.d[0] < 0 || v->dim_param[0])) v->shape.d[0] = batch;
      if (v->shape.d[d] < 0)
        return gl_err(GL_ESHAPE, "input '%s' has an unknown dimension %d%s%s%s", v->name, d,
                      v->dim_param[d] ? " ('" : "", v->dim_param[d] ? v->dim_param[d] : "",
                      v->dim_param[d] ? "')" : "");
    }
  }
  return GL_OK;
}

gl_status_t gl_graph_set_input_shape(gl_graph_t *g, int i, const gl_shape_t *s) {
  if (i < 0 || i >= g->n_inputs) return gl_err(GL_EINVAL, "the model has no input %d", i);
  gl_value_t *v = &g->values[g->inputs[i]];
  if (v->shape.rank >= 0 && v->shape.rank != s->rank)
    return gl_err(GL_ESHAPE, "input '%s' has rank %d, not %d", v->name, v->shape.rank, s->rank);
  for (int d = 0; d < s->rank && v->shape.rank >= 0; d++)
    if (v->shape.d[d] >= 0 && !v->dim_param[d] && v->shape.d[d] != s->d[d])
      return gl_err(GL_ESHAPE, "input '%s' dimension %d is %lld, not %lld", v->name, d,
                    (long long)v->shape.d[d], (long long)s->d[d]);
  v->shape = *s;
  return GL_OK;
}

static bool all_inputs_const(const gl_graph_t *g, const gl_node_t *n) {
  for (int k = 0; k < n->n_inputs; k++)
    if (n->inputs[k] >= 0 && !g->values[n->inputs[k]].data) return false;
  return true;
}

static gl_status_t fold(gl_graph_t *g, int ni, gl_eval_fn eval, void *ctx) {
  gl_node_t *n = &g->nodes[ni];
  gl_tensor_t outs[16];
  if (n->n_outputs > 16) return GL_OK;
  memset(outs, 0, sizeof outs);
  gl_status_t st = eval(ctx, g, n, outs);
  for (int k = 0; k < n->n_outputs && st == GL_OK; k++) {
    if (n->outputs[k] < 0) continue;
    st = gl_value_set_const(g, n->outputs[k], &outs[k]);
  }
  for (int k = 0; k < n->n_outputs; k++) gl_tensor_fini(&outs[k]);
  if (st != GL_OK) return gl_err_wrap(st, "folding %s", gl_node_label(n));
  n->dead = true;
  return GL_OK;
}

gl_status_t gl_graph_infer(gl_graph_t *g, gl_eval_fn eval, void *ctx) {
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead) continue;
    if (g->opset < 8) {
      bool inserted;
      GL_TRY(gl_graph_legacy_node(g, i, &inserted));
    }
    gl_node_t *n = &g->nodes[i];
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
      return gl_err(GL_EUNSUPPORTED, "%s: op domain '%s' is not supported", gl_node_label(n),
                    n->domain);
    const gl_op_schema_t *s = gl_op_schema(n->op_type);
    if (!s) return gl_err(GL_EUNSUPPORTED, "%s: op '%s' is not supported", gl_node_label(n), n->op_type);
    if (s->min_opset && g->opset < s->min_opset && !gl_graph_legacy_compatible(g, n))
      return gl_err(GL_EUNSUPPORTED, "%s: opset %lld is older than the %d gpulet implements",
                    gl_node_label(n), (long long)g->opset, s->min_opset);
    int nin = n->n_inputs;
    while (nin > 0 && n->inputs[nin - 1] < 0) nin--;
    if (nin < s->min_inputs || (s->max_inputs >= 0 && nin > s->max_inputs))
      return gl_err(GL_EINVAL, "%s: has %d inputs, expected %d..%d", gl_node_label(n), nin,
                    s->min_inputs, s->max_inputs);
    if (n->n_outputs < s->min_outputs || (s->max_outputs >= 0 && n->n_outputs > s->max_outputs))
      return gl_err(GL_EINVAL, "%s: has %d outputs, expected %d..%d", gl_node_label(n),
                    n->n_outputs, s->min_outputs, s->max_outputs);
    for (int k = 0; k < n->n_inputs; k++) {
      const gl_value_t *v = gl_in(g, n, k);
      if (v && (v->shape.rank < 0 || v->dtype == GL_DT_UNDEFINED))
        return gl_err(GL_ESHAPE, "%s: input '%s' has no known type and shape", gl_node_label(n),
                      v->name);
    }
    GL_TRY(s->infer(g, n));
    bool produced = true;
    for (int k = 0; k < n->n_outputs; k++) {
      gl_value_t *v = gl_out(g, n, k);
      if (!v) continue;
      if (v->shape.rank < 0 || gl_shape_numel(&v->shape) < 0)
        return gl_err(GL_ESHAPE, "%s: could not infer the shape of output '%s'", gl_node_label(n),
                      v->name);
      if (!v->data) produced = false;
    }
    if (produced) {
      n->dead = true; /* infer computed every output itself (Shape, Size...) */
      continue;
    }
    if (eval && all_inputs_const(g, n)) GL_TRY(fold(g, i, eval, ctx));
  }
  gl_graph_recount(g);
  return GL_OK;
}

void gl_graph_dce(gl_graph_t *g) {
  gl_graph_recount(g);
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    bool used = false;
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] >= 0 && g->values[n->outputs[k]].n_uses > 0) used = true;
    if (used) continue;
    n->dead = true;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0) g->values[n->inputs[k]].n_uses--;
  }
  for (int v = 0; v < g->n_values; v++) {
    gl_value_t *val = &g->values[v];
    if (val->data && val->n_uses == 0 && !val->is_output) {
      gl_tensor_fini(val->data);
      gl_free(val->data);
      val->data = NULL;
    }
  }
}

gl_status_t gl_graph_prepare(gl_graph_t *g, const gl_prepare_opts_t *o, gl_eval_fn eval,
                             void *ctx) {
  GL_TRY(gl_graph_set_batch(g, o ? o->batch : 0));
  GL_TRY(gl_graph_infer(g, eval, ctx));
  if (!o || !o->no_fuse) GL_TRY(gl_graph_fuse(g));
  gl_graph_dce(g);
  return GL_OK;
}
