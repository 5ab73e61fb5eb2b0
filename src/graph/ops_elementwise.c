/* graph/ops_elementwise.c - schemas and shape inference for the elementwise op family. */
#include "graph/ops.h"

#include <string.h>

/* Output 0 has input 0's dtype and shape. */
static gl_status_t infer_same(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = gl_in(g, n, 0);
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

/* Output 0 is bool with input 0's shape (IsNaN, IsInf). */
static gl_status_t infer_bool_same(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  gl_set_out(g, n, 0, GL_DT_BOOL, &gl_in(g, n, 0)->shape);
  return GL_OK;
}

/* Broadcasts every present input's shape into *s; with same_type, all dtypes must agree. */
static gl_status_t bcast_all(gl_graph_t *g, gl_node_t *n, int first, bool same_type,
                             gl_shape_t *s) {
  GL_TRY(gl_need_in(g, n, first));
  const gl_value_t *a = gl_in(g, n, first);
  *s = a->shape;
  for (int i = first + 1; i < n->n_inputs; i++) {
    const gl_value_t *b = gl_in(g, n, i);
    if (!b) continue;
    GL_TRY(gl_need_in(g, n, i));
    if (same_type && b->dtype != a->dtype)
      return gl_err(GL_ETYPE, "%s: input '%s' is %s but input '%s' is %s", gl_node_label(n),
                    a->name, gl_dtype_name(a->dtype), b->name, gl_dtype_name(b->dtype));
    gl_shape_t t;
    if (gl_shape_broadcast(s, &b->shape, &t) != GL_OK)
      return gl_err_wrap(GL_ESHAPE, "%s", gl_node_label(n));
    *s = t;
  }
  return GL_OK;
}

/* Add, Sub, Min, Sum...: inputs of one dtype, output broadcast. */
static gl_status_t infer_bcast(gl_graph_t *g, gl_node_t *n) {
  gl_shape_t s;
  GL_TRY(bcast_all(g, n, 0, true, &s));
  gl_set_out(g, n, 0, gl_in(g, n, 0)->dtype, &s);
  return GL_OK;
}

/* Pow: the exponent may have another dtype; the output has the base's. */
static gl_status_t infer_pow(gl_graph_t *g, gl_node_t *n) {
  gl_shape_t s;
  GL_TRY(bcast_all(g, n, 0, false, &s));
  gl_set_out(g, n, 0, gl_in(g, n, 0)->dtype, &s);
  return GL_OK;
}

/* Comparisons and logic: one input dtype, bool output. */
static gl_status_t infer_cmp(gl_graph_t *g, gl_node_t *n) {
  gl_shape_t s;
  GL_TRY(bcast_all(g, n, 0, true, &s));
  gl_set_out(g, n, 0, GL_DT_BOOL, &s);
  return GL_OK;
}

/* PRelu: slope broadcasts to X (unidirectionally). */
static gl_status_t infer_prelu(gl_graph_t *g, gl_node_t *n) {
  gl_shape_t s;
  GL_TRY(bcast_all(g, n, 0, true, &s));
  const gl_value_t *x = gl_in(g, n, 0);
  if (!gl_shape_eq(&s, &x->shape))
    return gl_err(GL_ESHAPE, "%s: slope does not broadcast to X's shape", gl_node_label(n));
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

static gl_status_t infer_where(gl_graph_t *g, gl_node_t *n) {
  for (int i = 0; i < 3; i++) GL_TRY(gl_need_in(g, n, i));
  const gl_value_t *c = gl_in(g, n, 0), *x = gl_in(g, n, 1), *y = gl_in(g, n, 2);
  if (c->dtype != GL_DT_BOOL)
    return gl_err(GL_ETYPE, "%s: condition is %s, not bool", gl_node_label(n),
                  gl_dtype_name(c->dtype));
  if (x->dtype != y->dtype)
    return gl_err(GL_ETYPE, "%s: X is %s but Y is %s", gl_node_label(n), gl_dtype_name(x->dtype),
                  gl_dtype_name(y->dtype));
  gl_shape_t s;
  GL_TRY(bcast_all(g, n, 0, false, &s));
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_cast(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  int64_t to = gl_attr_i(n, "to", 0);
  if (to == GL_DT_STRING || gl_in(g, n, 0)->dtype == GL_DT_STRING)
    return gl_err(GL_EUNSUPPORTED, "%s: casts to or from string are not supported",
                  gl_node_label(n));
  if (to <= 0 || gl_dtype_size((gl_dtype_t)to) == 0 || !strcmp(gl_dtype_name((gl_dtype_t)to), "undefined"))
    return gl_err(GL_EUNSUPPORTED, "%s: cast to data type %lld is not supported",
                  gl_node_label(n), (long long)to);
  gl_set_out(g, n, 0, (gl_dtype_t)to, &gl_in(g, n, 0)->shape);
  return GL_OK;
}

static gl_status_t infer_castlike(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  gl_dtype_t a = gl_in(g, n, 0)->dtype, b = gl_in(g, n, 1)->dtype;
  if (a == GL_DT_STRING || b == GL_DT_STRING)
    return gl_err(GL_EUNSUPPORTED, "%s: casts to or from string are not supported",
                  gl_node_label(n));
  gl_set_out(g, n, 0, b, &gl_in(g, n, 0)->shape);
  return GL_OK;
}

/* Inference only: training mode with a positive ratio would need random masks. The check is
 * here because a one-output Dropout runs as an alias without a kernel (cpu_plan.c). */
static gl_status_t infer_dropout(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(infer_same(g, n));
  const gl_value_t *r = gl_in(g, n, 1), *tm = gl_in(g, n, 2);
  if (tm && tm->data && gl_tensor_get_i64(tm->data, 0)) {
    double ratio = r && r->data ? gl_tensor_get_f64(r->data, 0) : 0.5;
    if (ratio > 0)
      return gl_err(GL_EUNSUPPORTED, "%s: training mode is not supported", gl_node_label(n));
  }
  if (tm && !tm->data && n->n_outputs == 1) /* with a mask output the kernel checks at run */
    return gl_err(GL_EUNSUPPORTED, "%s: training_mode must be known when the model is compiled",
                  gl_node_label(n));
  gl_set_out(g, n, 1, GL_DT_BOOL, &gl_in(g, n, 0)->shape);
  return GL_OK;
}

const gl_op_schema_t gl_schemas_elementwise[] = {
    /* unary, same dtype and shape */
    {"Relu", 1, 1, 1, 1, infer_same, 0},
    {"LeakyRelu", 1, 1, 1, 1, infer_same, 0},
    {"Elu", 1, 1, 1, 1, infer_same, 0},
    {"Selu", 1, 1, 1, 1, infer_same, 0},
    {"Celu", 1, 1, 1, 1, infer_same, 0},
    {"ThresholdedRelu", 1, 1, 1, 1, infer_same, 0},
    {"Sigmoid", 1, 1, 1, 1, infer_same, 0},
    {"HardSigmoid", 1, 1, 1, 1, infer_same, 0},
    {"HardSwish", 1, 1, 1, 1, infer_same, 0},
    {"Tanh", 1, 1, 1, 1, infer_same, 0},
    {"Softplus", 1, 1, 1, 1, infer_same, 0},
    {"Softsign", 1, 1, 1, 1, infer_same, 0},
    {"Erf", 1, 1, 1, 1, infer_same, 0},
    {"Gelu", 1, 1, 1, 1, infer_same, 0},
    {"Sqrt", 1, 1, 1, 1, infer_same, 0},
    {"Exp", 1, 1, 1, 1, infer_same, 0},
    {"Log", 1, 1, 1, 1, infer_same, 0},
    {"Neg", 1, 1, 1, 1, infer_same, 0},
    {"Abs", 1, 1, 1, 1, infer_same, 0},
    {"Reciprocal", 1, 1, 1, 1, infer_same, 0},
    {"Floor", 1, 1, 1, 1, infer_same, 0},
    {"Ceil", 1, 1, 1, 1, infer_same, 0},
    {"Round", 1, 1, 1, 1, infer_same, 0},
    {"Sign", 1, 1, 1, 1, infer_same, 0},
    {"Sin", 1, 1, 1, 1, infer_same, 0},
    {"Cos", 1, 1, 1, 1, infer_same, 0},
    {"Tan", 1, 1, 1, 1, infer_same, 0},
    {"Asin", 1, 1, 1, 1, infer_same, 0},
    {"Acos", 1, 1, 1, 1, infer_same, 0},
    {"Atan", 1, 1, 1, 1, infer_same, 0},
    {"Sinh", 1, 1, 1, 1, infer_same, 0},
    {"Cosh", 1, 1, 1, 1, infer_same, 0},
    {"Asinh", 1, 1, 1, 1, infer_same, 0},
    {"Acosh", 1, 1, 1, 1, infer_same, 0},
    {"Atanh", 1, 1, 1, 1, infer_same, 0},
    {"Not", 1, 1, 1, 1, infer_same, 0},
    {"Shrink", 1, 1, 1, 1, infer_same, 0},
    {"Clip", 1, 3, 1, 1, infer_same, 0},
    {"Identity", 1, 1, 1, 1, infer_same, 0},
    {"IsNaN", 1, 1, 1, 1, infer_bool_same, 0},
    {"IsInf", 1, 1, 1, 1, infer_bool_same, 0},
    {"Dropout", 1, 3, 1, 2, infer_dropout, 0},
    {"Cast", 1, 1, 1, 1, infer_cast, 0},
    {"CastLike", 2, 2, 1, 1, infer_castlike, 0},
    {"PRelu", 2, 2, 1, 1, infer_prelu, 0},
    /* broadcasting binary and variadic */
    {"Add", 2, 2, 1, 1, infer_bcast, 7},
    {"Sub", 2, 2, 1, 1, infer_bcast, 7},
    {"Mul", 2, 2, 1, 1, infer_bcast, 7},
    {"Div", 2, 2, 1, 1, infer_bcast, 7},
    {"Pow", 2, 2, 1, 1, infer_pow, 7},
    {"Mod", 2, 2, 1, 1, infer_bcast, 0},
    {"BitShift", 2, 2, 1, 1, infer_bcast, 0},
    {"And", 2, 2, 1, 1, infer_cmp, 7},
    {"Or", 2, 2, 1, 1, infer_cmp, 7},
    {"Xor", 2, 2, 1, 1, infer_cmp, 7},
    {"Equal", 2, 2, 1, 1, infer_cmp, 7},
    {"Less", 2, 2, 1, 1, infer_cmp, 7},
    {"Greater", 2, 2, 1, 1, infer_cmp, 7},
    {"LessOrEqual", 2, 2, 1, 1, infer_cmp, 0},
    {"GreaterOrEqual", 2, 2, 1, 1, infer_cmp, 0},
    {"Min", 1, -1, 1, 1, infer_bcast, 8},
    {"Max", 1, -1, 1, 1, infer_bcast, 8},
    {"Sum", 1, -1, 1, 1, infer_bcast, 8},
    {"Mean", 1, -1, 1, 1, infer_bcast, 8},
    {"Where", 3, 3, 1, 1, infer_where, 0},
    {0},
};
