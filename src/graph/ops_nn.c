/* graph/ops_nn.c - schemas and shape inference for the nn op family (conv, gemm, pooling, norms). */
#include <string.h>

#include "graph/nn_geom.h"
#include "graph/ops.h"

static int64_t cdiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
static int64_t fdiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Reads an INTS attribute of exactly nsp values (or fills dflt when absent). */
static gl_status_t attr_sp(const gl_node_t *n, const char *name, int nsp, int64_t dflt,
                           int64_t *out) {
  int cnt = 0;
  const int64_t *v = gl_attr_ints(n, name, &cnt);
  if (!v) {
    for (int i = 0; i < nsp; i++) out[i] = dflt;
    return GL_OK;
  }
  if (cnt != nsp)
    return gl_err(GL_EINVAL, "%s: attribute %s has %d values for %d spatial dims", gl_node_label(n),
                  name, cnt, nsp);
  for (int i = 0; i < nsp; i++) out[i] = v[i];
  return GL_OK;
}

gl_status_t gl_nn_geom(const gl_node_t *n, const gl_shape_t *x, const int64_t *kernel,
                       gl_geom_kind_t kind, gl_nn_geom_t *o) {
  memset(o, 0, sizeof *o);
  if (x->rank < 3 || x->rank > GL_MAX_RANK)
    return gl_err(GL_ESHAPE, "%s: input rank %d; expected N, C and 1 to %d spatial dims",
                  gl_node_label(n), x->rank, GL_NN_MAX_SP);
  int nsp = o->nsp = x->rank - 2;
  for (int i = 0; i < nsp; i++) o->in[i] = x->d[i + 2];
  if (kernel) {
    int cnt = 0;
    const int64_t *ks = gl_attr_ints(n, "kernel_shape", &cnt);
    for (int i = 0; i < nsp; i++) o->k[i] = kernel[i];
    if (ks && cnt == nsp)
      for (int i = 0; i < nsp; i++)
        if (ks[i] != kernel[i])
          return gl_err(GL_ESHAPE, "%s: kernel_shape disagrees with the weights", gl_node_label(n));
  } else {
    int cnt = 0;
    if (!gl_attr_ints(n, "kernel_shape", &cnt))
      return gl_err(GL_EINVAL, "%s: kernel_shape is required", gl_node_label(n));
    GL_TRY(attr_sp(n, "kernel_shape", nsp, 1, o->k));
  }
  GL_TRY(attr_sp(n, "strides", nsp, 1, o->s));
  GL_TRY(attr_sp(n, "dilations", nsp, 1, o->d));
  GL_TRY(attr_sp(n, "output_padding", nsp, 0, o->opad));
  int64_t pads[2 * GL_NN_MAX_SP] = {0};
  int pcnt = 0;
  const int64_t *pv = gl_attr_ints(n, "pads", &pcnt);
  if (pv) {
    if (pcnt != 2 * nsp)
      return gl_err(GL_EINVAL, "%s: pads has %d values for %d spatial dims", gl_node_label(n), pcnt,
                    nsp);
    memcpy(pads, pv, sizeof(int64_t) * (size_t)pcnt);
  }
  for (int i = 0; i < nsp; i++) {
    if (o->k[i] < 1 || o->s[i] < 1 || o->d[i] < 1 || o->in[i] < 0)
      return gl_err(GL_EINVAL, "%s: kernel, strides and dilations must be positive", gl_node_label(n));
    if (kind != GL_GEOM_CONV_T && (pads[i] < 0 || pads[i + nsp] < 0))
      return gl_err(GL_EINVAL, "%s: negative pads", gl_node_label(n));
  }
  const char *ap = gl_attr_s(n, "auto_pad", "NOTSET");
  bool same_u = !strcmp(ap, "SAME_UPPER"), same_l = !strcmp(ap, "SAME_LOWER");
  bool valid = !strcmp(ap, "VALID");
  if (!same_u && !same_l && !valid && strcmp(ap, "NOTSET"))
    return gl_err(GL_EINVAL, "%s: unknown auto_pad '%s'", gl_node_label(n), ap);
  bool ceil_mode = kind == GL_GEOM_POOL && gl_attr_i(n, "ceil_mode", 0) != 0;

  if (kind == GL_GEOM_CONV_T) {
    int ocnt = 0;
    const int64_t *os = gl_attr_ints(n, "output_shape", &ocnt);
    for (int i = 0; i < nsp; i++) {
      int64_t ek = (o->k[i] - 1) * o->d[i] + 1;
      int64_t full = o->s[i] * (o->in[i] - 1) + o->opad[i] + ek;
      if (os || same_u || same_l) {
        int64_t want;
        if (os) {
          if (ocnt != nsp && ocnt != nsp + 2)
            return gl_err(GL_EINVAL, "%s: output_shape has %d values", gl_node_label(n), ocnt);
          want = os[ocnt - nsp + i];
        } else {
          want = o->in[i] * o->s[i];
        }
        int64_t total = full - want; /* negative: extra output at the end */
        if (same_u) {
          o->pb[i] = fdiv(total, 2);
          o->pe[i] = total - fdiv(total, 2);
        } else {
          o->pb[i] = total - fdiv(total, 2);
          o->pe[i] = fdiv(total, 2);
        }
        o->out[i] = want;
      } else {
        if (!valid) {
          o->pb[i] = pads[i];
          o->pe[i] = pads[i + nsp];
        }
        o->out[i] = full - o->pb[i] - o->pe[i];
      }
      if (o->out[i] < 1)
        return gl_err(GL_ESHAPE, "%s: output dim %d would be %lld", gl_node_label(n), i + 2,
                      (long long)o->out[i]);
    }
    return GL_OK;
  }

  for (int i = 0; i < nsp; i++) {
    int64_t ek = (o->k[i] - 1) * o->d[i] + 1;
    if (same_u || same_l) {
      int64_t out = cdiv(o->in[i], o->s[i]);
      int64_t total = (out - 1) * o->s[i] + ek - o->in[i];
      if (total < 0) total = 0;
      o->pb[i] = same_u ? total / 2 : total - total / 2;
      o->pe[i] = total - o->pb[i];
      o->out[i] = out;
    } else {
      if (!valid) {
        o->pb[i] = pads[i];
        o->pe[i] = pads[i + nsp];
      }
      int64_t span = o->in[i] + o->pb[i] + o->pe[i] - ek;
      if (span < 0)
        return gl_err(GL_ESHAPE, "%s: the window (%lld) is larger than the padded input (%lld)",
                      gl_node_label(n), (long long)ek,
                      (long long)(o->in[i] + o->pb[i] + o->pe[i]));
      int64_t out = (ceil_mode ? cdiv(span, o->s[i]) : fdiv(span, o->s[i])) + 1;
      /* A last window that would start inside the end padding is dropped. */
      if (ceil_mode && (out - 1) * o->s[i] >= o->in[i] + o->pb[i]) out--;
      o->out[i] = out;
    }
    if (o->out[i] < 1)
      return gl_err(GL_ESHAPE, "%s: output dim %d would be %lld", gl_node_label(n), i + 2,
                    (long long)o->out[i]);
  }
  return GL_OK;
}

static gl_status_t need_f32(const gl_graph_t *g, const gl_node_t *n, int i) {
  const gl_value_t *v = gl_in(g, n, i);
  if (v && v->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: input '%s' is %s; only float is supported",
                  gl_node_label(n), v->name, gl_dtype_name(v->dtype));
  return GL_OK;
}

static gl_status_t infer_conv(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  GL_TRY(need_f32(g, n, 0));
  GL_TRY(need_f32(g, n, 1));
  GL_TRY(need_f32(g, n, 2));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape, *w = &gl_in(g, n, 1)->shape;
  int64_t group = gl_attr_i(n, "group", 1);
  if (x->rank < 3 || w->rank != x->rank)
    return gl_err(GL_ESHAPE, "%s: input rank %d and weight rank %d do not fit", gl_node_label(n),
                  x->rank, w->rank);
  if (group < 1 || x->d[1] % group || w->d[0] % group || w->d[1] * group != x->d[1])
    return gl_err(GL_ESHAPE, "%s: %lld input channels, weights [%lld,%lld,...] and group %lld do not fit",
                  gl_node_label(n), (long long)x->d[1], (long long)w->d[0], (long long)w->d[1],
                  (long long)group);
  const gl_value_t *b = gl_in(g, n, 2);
  if (b && (b->shape.rank != 1 || b->shape.d[0] != w->d[0]))
    return gl_err(GL_ESHAPE, "%s: bias must be [%lld]", gl_node_label(n), (long long)w->d[0]);
  gl_nn_geom_t geo;
  GL_TRY(gl_nn_geom(n, x, &w->d[2], GL_GEOM_CONV, &geo));
  gl_shape_t y = {x->rank, {x->d[0], w->d[0]}};
  for (int i = 0; i < geo.nsp; i++) y.d[i + 2] = geo.out[i];
  gl_set_out(g, n, 0, GL_DT_F32, &y);
  return GL_OK;
}

static gl_status_t infer_conv_t(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  GL_TRY(need_f32(g, n, 0));
  GL_TRY(need_f32(g, n, 1));
  GL_TRY(need_f32(g, n, 2));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape, *w = &gl_in(g, n, 1)->shape;
  int64_t group = gl_attr_i(n, "group", 1);
  if (x->rank < 3 || w->rank != x->rank)
    return gl_err(GL_ESHAPE, "%s: input rank %d and weight rank %d do not fit", gl_node_label(n),
                  x->rank, w->rank);
  if (group < 1 || w->d[0] != x->d[1] || x->d[1] % group)
    return gl_err(GL_ESHAPE, "%s: %lld input channels, weights [%lld,...] and group %lld do not fit",
                  gl_node_label(n), (long long)x->d[1], (long long)w->d[0], (long long)group);
  int64_t m = w->d[1] * group;
  const gl_value_t *b = gl_in(g, n, 2);
  if (b && (b->shape.rank != 1 || b->shape.d[0] != m))
    return gl_err(GL_ESHAPE, "%s: bias must be [%lld]", gl_node_label(n), (long long)m);
  gl_nn_geom_t geo;
  GL_TRY(gl_nn_geom(n, x, &w->d[2], GL_GEOM_CONV_T, &geo));
  gl_shape_t y = {x->rank, {x->d[0], m}};
  for (int i = 0; i < geo.nsp; i++) y.d[i + 2] = geo.out[i];
  gl_set_out(g, n, 0, GL_DT_F32, &y);
  return GL_OK;
}

static gl_status_t infer_gemm(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  for (int i = 0; i < 3; i++) GL_TRY(need_f32(g, n, i));
  const gl_shape_t *a = &gl_in(g, n, 0)->shape, *b = &gl_in(g, n, 1)->shape;
  if (a->rank != 2 || b->rank != 2)
    return gl_err(GL_ESHAPE, "%s: A and B must be matrices", gl_node_label(n));
  bool ta = gl_attr_i(n, "transA", 0), tb = gl_attr_i(n, "transB", 0);
  int64_t m = ta ? a->d[1] : a->d[0], k = ta ? a->d[0] : a->d[1];
  int64_t kb = tb ? b->d[1] : b->d[0], nn = tb ? b->d[0] : b->d[1];
  if (k != kb)
    return gl_err(GL_ESHAPE, "%s: inner dims %lld and %lld differ", gl_node_label(n), (long long)k,
                  (long long)kb);
  gl_shape_t y = {2, {m, nn}};
  const gl_value_t *c = gl_in(g, n, 2);
  if (c && !(n->fuse.sum_input == 2)) {
    gl_shape_t bc;
    if (c->shape.rank > 2 || gl_shape_broadcast(&c->shape, &y, &bc) != GL_OK ||
        !gl_shape_eq(&bc, &y))
      return gl_err(GL_ESHAPE, "%s: C does not broadcast to [%lld,%lld]", gl_node_label(n),
                    (long long)m, (long long)nn);
  }
  gl_set_out(g, n, 0, GL_DT_F32, &y);
  return GL_OK;
}

static gl_status_t infer_matmul(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  GL_TRY(need_f32(g, n, 0));
  GL_TRY(need_f32(g, n, 1));
  gl_shape_t a = gl_in(g, n, 0)->shape, b = gl_in(g, n, 1)->shape;
  if (a.rank < 1 || b.rank < 1)
    return gl_err(GL_ESHAPE, "%s: operands must have rank >= 1", gl_node_label(n));
  bool a1 = a.rank == 1, b1 = b.rank == 1;
  if (a1) a = (gl_shape_t){2, {1, a.d[0]}};
  if (b1) b = (gl_shape_t){2, {b.d[0], 1}};
  if (a.d[a.rank - 1] != b.d[b.rank - 2])
    return gl_err(GL_ESHAPE, "%s: inner dims %lld and %lld differ", gl_node_label(n),
                  (long long)a.d[a.rank - 1], (long long)b.d[b.rank - 2]);
  gl_shape_t ab = {a.rank - 2, {0}}, bb = {b.rank - 2, {0}}, batch;
  memcpy(ab.d, a.d, sizeof(int64_t) * (size_t)ab.rank);
  memcpy(bb.d, b.d, sizeof(int64_t) * (size_t)bb.rank);
  GL_TRY(gl_shape_broadcast(&ab, &bb, &batch));
  if (batch.rank + 2 > GL_MAX_RANK) return gl_err(GL_ELIMIT, "%s: rank too large", gl_node_label(n));
  gl_shape_t y = batch;
  if (!a1) y.d[y.rank++] = a.d[a.rank - 2];
  if (!b1) y.d[y.rank++] = b.d[b.rank - 1];
  gl_set_out(g, n, 0, GL_DT_F32, &y);
  return GL_OK;
}

/* Output 0 has the shape of input 0; inputs 1..k are per-channel vectors of x->d[1]. */
static gl_status_t infer_channel_norm(gl_graph_t *g, gl_node_t *n, int nparams) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  if (x->rank < 2) return gl_err(GL_ESHAPE, "%s: input rank must be >= 2", gl_node_label(n));
  for (int i = 0; i <= nparams; i++) {
    GL_TRY(gl_need_in(g, n, i));
    GL_TRY(need_f32(g, n, i));
    if (i && (gl_shape_numel(&gl_in(g, n, i)->shape) != x->d[1] || gl_in(g, n, i)->shape.rank != 1))
      return gl_err(GL_ESHAPE, "%s: parameter %d must be [%lld]", gl_node_label(n), i,
                    (long long)x->d[1]);
  }
  gl_set_out(g, n, 0, GL_DT_F32, x);
  return GL_OK;
}

static gl_status_t infer_bn(gl_graph_t *g, gl_node_t *n) {
  if (gl_attr_i(n, "training_mode", 0))
    return gl_err(GL_EUNSUPPORTED, "%s: training_mode is not supported", gl_node_label(n));
  for (int i = 1; i < n->n_outputs; i++)
    if (n->outputs[i] >= 0)
      return gl_err(GL_EUNSUPPORTED, "%s: training outputs (running mean/var) are not supported",
                    gl_node_label(n));
  if (g->opset < 9 && gl_attr_i(n, "spatial", 1) == 0)
    return gl_err(GL_EUNSUPPORTED, "%s: spatial=0 is not supported", gl_node_label(n));
  return infer_channel_norm(g, n, 4);
}

static gl_status_t infer_instnorm(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(infer_channel_norm(g, n, 2));
  if (gl_in(g, n, 0)->shape.rank < 3)
    return gl_err(GL_ESHAPE, "%s: input rank must be >= 3", gl_node_label(n));
  return GL_OK;
}

static gl_status_t infer_layernorm(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  for (int i = 0; i < 3; i++) GL_TRY(need_f32(g, n, i));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), x->rank, &axis));
  if (gl_attr_i(n, "stash_type", 1) != 1)
    return gl_err(GL_EUNSUPPORTED, "%s: stash_type must be float", gl_node_label(n));
  gl_shape_t inner = {x->rank - axis, {0}};
  memcpy(inner.d, &x->d[axis], sizeof(int64_t) * (size_t)inner.rank);
  for (int i = 1; i < 3; i++) {
    const gl_value_t *p = gl_in(g, n, i);
    gl_shape_t bc;
    if (p && (gl_shape_broadcast(&p->shape, &inner, &bc) != GL_OK || !gl_shape_eq(&bc, &inner)))
      return gl_err(GL_ESHAPE, "%s: %s does not broadcast to the normalised dims", gl_node_label(n),
                    i == 1 ? "Scale" : "B");
  }
  gl_set_out(g, n, 0, GL_DT_F32, x);
  gl_shape_t st = *x;
  for (int d = axis; d < x->rank; d++) st.d[d] = 1;
  gl_set_out(g, n, 1, GL_DT_F32, &st);
  gl_set_out(g, n, 2, GL_DT_F32, &st);
  return GL_OK;
}

static gl_status_t infer_lrn(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(need_f32(g, n, 0));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  if (x->rank < 3) return gl_err(GL_ESHAPE, "%s: input rank must be >= 3", gl_node_label(n));
  if (gl_attr_i(n, "size", 0) < 1)
    return gl_err(GL_EINVAL, "%s: size must be a positive integer", gl_node_label(n));
  gl_set_out(g, n, 0, GL_DT_F32, x);
  return GL_OK;
}

static gl_status_t infer_pool(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  gl_dtype_t dt = gl_in(g, n, 0)->dtype;
  if (!(!strcmp(n->op_type, "MaxPool") && (dt == GL_DT_U8 || dt == GL_DT_I8))) GL_TRY(need_f32(g, n, 0));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  if (!strcmp(n->op_type, "MaxPool") && gl_attr_i(n, "storage_order", 0) != 0 && x->rank != 4)
    return gl_err(GL_EUNSUPPORTED, "%s: storage_order=1 needs a 2-D pool", gl_node_label(n));
  gl_nn_geom_t geo;
  GL_TRY(gl_nn_geom(n, x, NULL, GL_GEOM_POOL, &geo));
  gl_shape_t y = {x->rank, {x->d[0], x->d[1]}};
  for (int i = 0; i < geo.nsp; i++) y.d[i + 2] = geo.out[i];
  gl_set_out(g, n, 0, dt, &y);
  gl_set_out(g, n, 1, GL_DT_I64, &y);
  return GL_OK;
}

static gl_status_t infer_global_pool(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(need_f32(g, n, 0));
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  if (x->rank < 3) return gl_err(GL_ESHAPE, "%s: input rank must be >= 3", gl_node_label(n));
  gl_shape_t y = *x;
  for (int d = 2; d < y.rank; d++) y.d[d] = 1;
  gl_set_out(g, n, 0, GL_DT_F32, &y);
  return GL_OK;
}

const gl_op_schema_t gl_schemas_nn[] = {
    {"Conv", 2, 3, 1, 1, infer_conv, 0},
    {"ConvTranspose", 2, 3, 1, 1, infer_conv_t, 0},
    {"Gemm", 2, 3, 1, 1, infer_gemm, 0},
    {"MatMul", 2, 2, 1, 1, infer_matmul, 0},
    {"BatchNormalization", 5, 5, 1, 5, infer_bn, 0},
    {"InstanceNormalization", 3, 3, 1, 1, infer_instnorm, 0},
    {"LayerNormalization", 2, 3, 1, 3, infer_layernorm, 0},
    {"LRN", 1, 1, 1, 1, infer_lrn, 0},
    {"MaxPool", 1, 1, 1, 2, infer_pool, 0},
    {"AveragePool", 1, 1, 1, 1, infer_pool, 0},
    {"LpPool", 1, 1, 1, 1, infer_pool, 0},
    {"GlobalAveragePool", 1, 1, 1, 1, infer_global_pool, 0},
    {"GlobalMaxPool", 1, 1, 1, 1, infer_global_pool, 0},
    {0},
};
