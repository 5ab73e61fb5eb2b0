/* graph/ops_reduce.c - schemas and shape inference for the reduce op family. */
#include "graph/ops_reduce.h"

#include <string.h>

#include "graph/ops.h"

gl_status_t gl_reduce_axes(const gl_graph_t *g, const gl_node_t *n, int rank, bool *mask,
                           bool *noop) {
  int64_t axes[GL_MAX_RANK];
  int n_axes = 0;
  const gl_value_t *ax = gl_in(g, n, 1);
  if (ax) { /* ReduceSum from opset 13 (and every Reduce* from 18) */
    GL_TRY(gl_need_const(g, n, 1));
    int64_t cnt = gl_shape_numel(&ax->shape);
    if (!gl_dtype_is_int(ax->dtype) || ax->shape.rank > 1)
      return gl_err(GL_ETYPE, "%s: axes must be a 1-D integer tensor", gl_node_label(n));
    if (cnt > rank) return gl_err(GL_EINVAL, "%s: %lld axes for rank %d", gl_node_label(n), (long long)cnt, rank);
    for (int64_t i = 0; i < cnt; i++) axes[n_axes++] = gl_tensor_get_i64(ax->data, i);
  } else {
    int cnt = 0;
    const int64_t *a = gl_attr_ints(n, "axes", &cnt);
    if (cnt > rank) return gl_err(GL_EINVAL, "%s: %d axes for rank %d", gl_node_label(n), cnt, rank);
    for (int i = 0; i < cnt; i++) axes[n_axes++] = a[i];
  }
  *noop = false;
  for (int d = 0; d < rank; d++) mask[d] = false;
  if (n_axes == 0) {
    if (gl_attr_i(n, "noop_with_empty_axes", 0)) *noop = true;
    else
      for (int d = 0; d < rank; d++) mask[d] = true;
    return GL_OK;
  }
  for (int i = 0; i < n_axes; i++) {
    int d;
    GL_TRY(gl_norm_axis(n, axes[i], rank, &d));
    if (mask[d]) return gl_err(GL_EINVAL, "%s: axis %d is repeated", gl_node_label(n), d);
    mask[d] = true;
  }
  return GL_OK;
}

static gl_status_t infer_reduce(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = gl_in(g, n, 0);
  bool mask[GL_MAX_RANK], noop;
  GL_TRY(gl_reduce_axes(g, n, x->shape.rank, mask, &noop));
  bool keep = gl_attr_i(n, "keepdims", 1) != 0;
  gl_shape_t s = {0};
  if (noop) {
    s = x->shape;
  } else {
    for (int d = 0; d < x->shape.rank; d++) {
      if (!mask[d]) s.d[s.rank++] = x->shape.d[d];
      else if (keep) s.d[s.rank++] = 1;
    }
  }
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_arg(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = gl_in(g, n, 0);
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), x->shape.rank, &axis));
  if (x->shape.rank == 0) return gl_err(GL_ESHAPE, "%s: input must have rank >= 1", gl_node_label(n));
  bool keep = gl_attr_i(n, "keepdims", 1) != 0;
  gl_shape_t s = {0};
  for (int d = 0; d < x->shape.rank; d++) {
    if (d != axis) s.d[s.rank++] = x->shape.d[d];
    else if (keep) s.d[s.rank++] = 1;
  }
  gl_set_out(g, n, 0, GL_DT_I64, &s);
  return GL_OK;
}

static gl_status_t infer_topk(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = gl_in(g, n, 0);
  if (x->shape.rank == 0) return gl_err(GL_ESHAPE, "%s: input must have rank >= 1", gl_node_label(n));
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), x->shape.rank, &axis));
  int64_t k;
  if (g->opset >= 10) {
    GL_TRY(gl_need_const(g, n, 1));
    const gl_value_t *kv = gl_in(g, n, 1);
    if (gl_shape_numel(&kv->shape) != 1 || !gl_dtype_is_int(kv->dtype))
      return gl_err(GL_EINVAL, "%s: K must hold one integer", gl_node_label(n));
    k = gl_tensor_get_i64(kv->data, 0);
  } else {
    k = gl_attr_i(n, "k", -1);
  }
  if (k < 0 || k > x->shape.d[axis])
    return gl_err(GL_EINVAL, "%s: k=%lld does not fit axis %d of size %lld", gl_node_label(n),
                  (long long)k, axis, (long long)x->shape.d[axis]);
  gl_shape_t s = x->shape;
  s.d[axis] = k;
  gl_set_out(g, n, 0, x->dtype, &s);
  gl_set_out(g, n, 1, GL_DT_I64, &s);
  return GL_OK;
}

static gl_status_t infer_softmax(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = gl_in(g, n, 0);
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", g->opset >= 13 ? -1 : 1), x->shape.rank, &axis));
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

static gl_status_t infer_cumsum(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = gl_in(g, n, 0), *a = gl_in(g, n, 1);
  if (!gl_dtype_is_int(a->dtype) || gl_shape_numel(&a->shape) != 1)
    return gl_err(GL_EINVAL, "%s: axis must be one integer", gl_node_label(n));
  if (a->data) {
    int axis;
    GL_TRY(gl_norm_axis(n, gl_tensor_get_i64(a->data, 0), x->shape.rank, &axis));
  }
  gl_set_out(g, n, 0, x->dtype, &x->shape);
  return GL_OK;
}

/* NegativeLogLikelihoodLoss(input, target, weight?) and SoftmaxCrossEntropyLoss(scores, labels,
 * weights?) -> loss (, log_prob): input (N, C, d1..dk), target (N, d1..dk). */
static gl_status_t infer_loss(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = gl_in(g, n, 0), *t = gl_in(g, n, 1), *w = gl_in(g, n, 2);
  if (x->shape.rank < 2 || t->shape.rank != x->shape.rank - 1)
    return gl_err(GL_ESHAPE, "%s: input must be (N, C, ...) and target (N, ...)", gl_node_label(n));
  if (t->shape.d[0] != x->shape.d[0])
    return gl_err(GL_ESHAPE, "%s: target's N differs from input's", gl_node_label(n));
  for (int d = 1; d < t->shape.rank; d++)
    if (t->shape.d[d] != x->shape.d[d + 1])
      return gl_err(GL_ESHAPE, "%s: target dim %d differs from input's", gl_node_label(n), d);
  if (!gl_dtype_is_int(t->dtype)) return gl_err(GL_ETYPE, "%s: target must be integer", gl_node_label(n));
  if (w && (w->shape.rank != 1 || w->shape.d[0] != x->shape.d[1]))
    return gl_err(GL_ESHAPE, "%s: weight must be (C)", gl_node_label(n));
  const char *red = gl_attr_s(n, "reduction", "mean");
  gl_shape_t s = {0};
  if (!strcmp(red, "none")) s = t->shape;
  else if (strcmp(red, "sum") && strcmp(red, "mean"))
    return gl_err(GL_EINVAL, "%s: unknown reduction '%s'", gl_node_label(n), red);
  gl_set_out(g, n, 0, x->dtype, &s);
  gl_set_out(g, n, 1, x->dtype, &x->shape);
  return GL_OK;
}

static int label_id(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

gl_status_t gl_einsum_parse(const gl_graph_t *g, const gl_node_t *n, gl_einsum_t *e) {
  const char *eq = gl_attr_s(n, "equation", NULL);
  if (!eq) return gl_err(GL_EINVAL, "%s: missing equation", gl_node_label(n));
  memset(e, 0, sizeof *e);
  int nin = n->n_inputs;
  if (nin > GL_EINSUM_MAX_OPS)
    return gl_err(GL_EUNSUPPORTED, "%s: more than %d operands", gl_node_label(n), GL_EINSUM_MAX_OPS);
  e->n_ops = nin;
  const char *p = eq;
  int ell_max = 0; /* ellipsis dims (broadcast, aligned right) */
  int count[GL_EINSUM_MAX_LABELS] = {0}, op_ell[GL_EINSUM_MAX_OPS] = {0};
  for (int op = 0; op < nin; op++) {
    const gl_value_t *v = gl_in(g, n, op);
    if (!v) return gl_err(GL_EINVAL, "%s: operand %d is absent", gl_node_label(n), op);
    int rank = v->shape.rank, labels[GL_MAX_RANK + 8], nl = 0, ell_at = -1;
    while (*p == ' ') p++;
    for (; *p && *p != ',' && *p != '-'; p++) {
      if (*p == ' ') continue;
      if (*p == '.') {
        if (strncmp(p, "...", 3) || ell_at >= 0)
          return gl_err(GL_EINVAL, "%s: bad ellipsis in '%s'", gl_node_label(n), eq);
        ell_at = nl;
        p += 2;
        continue;
      }
      int id = label_id(*p);
      if (id < 0 || nl >= GL_MAX_RANK)
        return gl_err(GL_EINVAL, "%s: bad equation '%s'", gl_node_label(n), eq);
      labels[nl++] = id;
    }
    int n_ell = ell_at >= 0 ? rank - nl : 0;
    if (n_ell < 0 || (ell_at < 0 && nl != rank))
      return gl_err(GL_ESHAPE, "%s: operand %d has rank %d, the equation says %d", gl_node_label(n),
                    op, rank, nl);
    if (n_ell > ell_max) ell_max = n_ell;
    e->rank[op] = rank;
    int d = 0;
    for (int i = 0; i <= nl; i++) {
      if (i == ell_at)
        for (int j = 0; j < n_ell; j++) e->label[op][d++] = -1 - j; /* resolved below */
      if (i < nl) e->label[op][d++] = labels[i];
    }
    op_ell[op] = n_ell;
    if (op + 1 < nin) {
      if (*p != ',') return gl_err(GL_EINVAL, "%s: equation '%s' names fewer operands than %d", gl_node_label(n), eq, nin);
      p++;
    }
  }
  while (*p == ' ') p++;
  if (*p == ',') return gl_err(GL_EINVAL, "%s: equation '%s' names more operands than %d", gl_node_label(n), eq, nin);
  for (int op = 0; op < nin; op++)
    for (int k = 0; k < e->rank[op]; k++) {
      int c = e->label[op][k];
      if (c >= 0) continue;
      /* ellipsis dims align right: dim j of an operand's n_ell is global ellipsis dim
       * ell_max - n_ell + j */
      e->label[op][k] = 52 + (ell_max - op_ell[op] + (-c - 1));
    }
  for (int op = 0; op < nin; op++) {
    const gl_value_t *v = gl_in(g, n, op);
    for (int k = 0; k < e->rank[op]; k++) {
      int id = e->label[op][k];
      int64_t sz = v->shape.d[k];
      count[id]++;
      if (!e->used[id] || e->size[id] == 1) e->size[id] = sz;
      else if (sz != 1 && sz != e->size[id])
        return gl_err(GL_ESHAPE, "%s: label sizes %lld and %lld differ", gl_node_label(n),
                      (long long)e->size[id], (long long)sz);
      e->used[id] = true;
    }
  }
  if (*p == '-') {
    if (p[1] != '>') return gl_err(GL_EINVAL, "%s: bad equation '%s'", gl_node_label(n), eq);
    p += 2;
    bool seen[GL_EINSUM_MAX_LABELS] = {0};
    for (; *p; p++) {
      if (*p == ' ') continue;
      if (*p == '.') {
        if (strncmp(p, "...", 3)) return gl_err(GL_EINVAL, "%s: bad ellipsis in '%s'", gl_node_label(n), eq);
        for (int j = 0; j < ell_max; j++) {
          if (e->out_rank >= GL_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "%s: output rank > %d", gl_node_label(n), GL_MAX_RANK);
          e->out_label[e->out_rank++] = 52 + j;
        }
        p += 2;
        continue;
      }
      int id = label_id(*p);
      if (id < 0 || !e->used[id] || seen[id] || e->out_rank >= GL_MAX_RANK)
        return gl_err(GL_EINVAL, "%s: bad output '%c' in '%s'", gl_node_label(n), *p, eq);
      seen[id] = true;
      e->out_label[e->out_rank++] = id;
    }
  } else if (*p) {
    return gl_err(GL_EINVAL, "%s: bad equation '%s'", gl_node_label(n), eq);
  } else { /* implicit: ellipsis dims, then labels seen once, in ASCII order */
    for (int j = 0; j < ell_max; j++) e->out_label[e->out_rank++] = 52 + j;
    for (int id = 26; id < 52; id++)
      if (count[id] == 1 && e->out_rank < GL_MAX_RANK) e->out_label[e->out_rank++] = id;
    for (int id = 0; id < 26; id++)
      if (count[id] == 1 && e->out_rank < GL_MAX_RANK) e->out_label[e->out_rank++] = id;
  }
  return GL_OK;
}

static gl_status_t infer_einsum(gl_graph_t *g, gl_node_t *n) {
  for (int i = 0; i < n->n_inputs; i++) GL_TRY(gl_need_in(g, n, i));
  gl_einsum_t e;
  GL_TRY(gl_einsum_parse(g, n, &e));
  gl_shape_t s = {.rank = e.out_rank};
  for (int d = 0; d < e.out_rank; d++) s.d[d] = e.size[e.out_label[d]];
  gl_dtype_t t = gl_in(g, n, 0)->dtype;
  for (int i = 1; i < n->n_inputs; i++)
    if (gl_in(g, n, i)->dtype != t)
      return gl_err(GL_ETYPE, "%s: operands have different types", gl_node_label(n));
  gl_set_out(g, n, 0, t, &s);
  return GL_OK;
}

const gl_op_schema_t gl_schemas_reduce[] = {
    {"ReduceMean", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceSum", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceMax", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceMin", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceProd", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceL1", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceL2", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceLogSum", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceLogSumExp", 1, 2, 1, 1, infer_reduce, 0},
    {"ReduceSumSquare", 1, 2, 1, 1, infer_reduce, 0},
    {"ArgMax", 1, 1, 1, 1, infer_arg, 0},
    {"ArgMin", 1, 1, 1, 1, infer_arg, 0},
    {"TopK", 1, 2, 2, 2, infer_topk, 0},
    {"Softmax", 1, 1, 1, 1, infer_softmax, 0},
    {"LogSoftmax", 1, 1, 1, 1, infer_softmax, 0},
    {"Hardmax", 1, 1, 1, 1, infer_softmax, 0},
    {"CumSum", 2, 2, 1, 1, infer_cumsum, 11},
    {"NegativeLogLikelihoodLoss", 2, 3, 1, 1, infer_loss, 12},
    {"SoftmaxCrossEntropyLoss", 2, 3, 1, 2, infer_loss, 12},
    {"Einsum", 1, -1, 1, 1, infer_einsum, 12},
    {0},
};
