/* graph/fuse.c - fusion of Conv+BatchNormalization, residual / bias adds and activations (GELU's
 * erf pattern included) into the Conv/Gemm/MatMul before them. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "graph/passes.h"

static bool is_op(const gl_node_t *n, const char *op) {
  return !n->dead && !strcmp(n->op_type, op) && (!n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx"));
}

/* A value only this node reads: one use, not a graph output. */
static bool single_use(const gl_graph_t *g, int v) {
  return v >= 0 && g->values[v].n_uses == 1 && !g->values[v].is_output && !g->values[v].data;
}

static bool const_f32(const gl_graph_t *g, int v) {
  return v >= 0 && g->values[v].data && g->values[v].dtype == GL_DT_F32;
}

/* Appends value v as a new input of node ni; returns its index or -1 on OOM. */
static int add_input(gl_graph_t *g, int ni, int v) {
  gl_node_t *n = &g->nodes[ni];
  int *in = gl_realloc(n->inputs, sizeof(int) * (size_t)(n->n_inputs + 1));
  if (!in) return -1;
  n->inputs = in;
  in[n->n_inputs] = v;
  return n->n_inputs++;
}

static int only_output(const gl_node_t *n) {
  for (int k = 1; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0) return -1;
  return n->n_outputs >= 1 ? n->outputs[0] : -1;
}

/* Adds a constant f32 value of shape s; returns its index and its data, or -1 on OOM. */
static int new_const(gl_graph_t *g, const gl_shape_t *s, float **data) {
  gl_tensor_t t = {0};
  if (gl_tensor_alloc(&t, GL_DT_F32, s) != GL_OK) return -1;
  int v = gl_graph_add_value(g, NULL);
  if (v < 0 || gl_value_set_const(g, v, &t) != GL_OK) {
    gl_tensor_fini(&t);
    return -1;
  }
  *data = g->values[v].data->data;
  return v;
}

/* Conv -> BatchNormalization with constant weights and statistics: new weights and bias. */
static gl_status_t fuse_conv_bn(gl_graph_t *g) {
  for (int bi = 0; bi < g->n_nodes; bi++) {
    gl_node_t *bn = &g->nodes[bi];
    if (!is_op(bn, "BatchNormalization") || bn->n_inputs < 5 || only_output(bn) < 0) continue;
    if (gl_attr_i(bn, "training_mode", 0)) continue;
    int y = bn->inputs[0];
    if (!single_use(g, y) || g->values[y].producer < 0) continue;
    int ci = g->values[y].producer;
    gl_node_t *cv = &g->nodes[ci];
    if (!is_op(cv, "Conv") || cv->fuse.act || cv->fuse.sum_input >= 0 || cv->n_inputs < 2) continue;
    int w = cv->inputs[1], b = cv->n_inputs > 2 ? cv->inputs[2] : -1;
    if (!const_f32(g, w) || (b >= 0 && !const_f32(g, b))) continue;
    bool ok = true;
    for (int k = 1; k < 5; k++) ok = ok && const_f32(g, bn->inputs[k]);
    if (!ok) continue;
    const gl_shape_t ws = g->values[w].shape;
    int64_t m = ws.d[0], per = gl_shape_numel(&ws) / (m ? m : 1);
    for (int k = 1; k < 5; k++) ok = ok && gl_shape_numel(&g->values[bn->inputs[k]].shape) == m;
    if (!ok) continue;
    float eps = gl_attr_f(bn, "epsilon", 1e-5f);
    float *nw, *nb;
    int vw = new_const(g, &ws, &nw);
    gl_shape_t bs = {1, {m}};
    int vb = vw < 0 ? -1 : new_const(g, &bs, &nb);
    if (vb < 0) return gl_err(GL_ENOMEM, "out of memory fusing %s", gl_node_label(bn));
    bn = &g->nodes[bi];
    cv = &g->nodes[ci];
    const float *ow = g->values[w].data->data;
    const float *ob = b >= 0 ? g->values[b].data->data : NULL;
    const float *sc = g->values[bn->inputs[1]].data->data, *sh = g->values[bn->inputs[2]].data->data;
    const float *mean = g->values[bn->inputs[3]].data->data, *var = g->values[bn->inputs[4]].data->data;
    for (int64_t o = 0; o < m; o++) {
      float a = sc[o] / sqrtf(var[o] + eps);
      for (int64_t j = 0; j < per; j++) nw[o * per + j] = ow[o * per + j] * a;
      nb[o] = ((ob ? ob[o] : 0.f) - mean[o]) * a + sh[o];
    }
    cv->inputs[1] = vw;
    if (cv->n_inputs > 2) cv->inputs[2] = vb;
    else if (add_input(g, ci, vb) != 2) return gl_err(GL_ENOMEM, "out of memory");
    cv = &g->nodes[ci];
    cv->outputs[0] = bn->outputs[0];
    bn->dead = true;
    gl_graph_recount(g);
  }
  return GL_OK;
}

static bool is_fusable_producer(const gl_node_t *n) {
  return is_op(n, "Conv") || is_op(n, "Gemm") || is_op(n, "MatMul");
}

/* True when the constant c of shape cs is a bias over the last dim of out. */
static bool bias_shaped(const gl_shape_t *cs, const gl_shape_t *out) {
  if (cs->rank < 1 || out->rank < 1 || cs->rank > out->rank) return false;
  int64_t last = out->d[out->rank - 1];
  return cs->d[cs->rank - 1] == last && gl_shape_numel(cs) == last;
}

/* Add(op(x), r) -> op with fuse.sum_input: a same-shape residual into Conv/Gemm/MatMul, or a
 * constant bias over the last dim into Gemm/MatMul (BERT's dense layers). */
static gl_status_t fuse_add(gl_graph_t *g) {
  for (int ai = 0; ai < g->n_nodes; ai++) {
    gl_node_t *a = &g->nodes[ai];
    if (!is_op(a, "Add") || a->n_inputs != 2 || a->n_outputs != 1 || a->outputs[0] < 0) continue;
    const gl_shape_t *os = &g->values[a->outputs[0]].shape;
    if (g->values[a->outputs[0]].dtype != GL_DT_F32) continue;
    for (int side = 0; side < 2; side++) {
      int v = a->inputs[side], r = a->inputs[1 - side];
      if (v < 0 || r < 0 || v == r || !single_use(g, v)) continue;
      int fi = g->values[v].producer;
      if (fi < 0 || fi >= ai) continue;
      gl_node_t *f = &g->nodes[fi];
      if (!is_fusable_producer(f) || f->fuse.act || f->fuse.sum_input >= 0) continue;
      if (only_output(f) != v || !gl_shape_eq(&g->values[v].shape, os)) continue;
      const gl_value_t *rv = &g->values[r];
      if (rv->dtype != GL_DT_F32) continue;
      bool same = gl_shape_eq(&rv->shape, os);
      bool bias = !is_op(f, "Conv") && rv->data && bias_shaped(&rv->shape, os);
      if (!same && !bias) continue;
      /* A Gemm takes one constant addend besides its bias-shaped one: a constant C stays alone. */
      if (rv->data && is_op(f, "Gemm") && f->n_inputs > 2 && f->inputs[2] >= 0 &&
          g->values[f->inputs[2]].data)
        continue;
      /* The residual must be ready when the op runs. */
      if (rv->producer >= fi) continue;
      /* Keep input 2 meaning bias / C: an absent one stays as -1 before the residual. */
      if (!is_op(f, "MatMul") && f->n_inputs == 2 && add_input(g, fi, -1) != 2)
        return gl_err(GL_ENOMEM, "out of memory");
      int idx = add_input(g, fi, r);
      if (idx < 0) return gl_err(GL_ENOMEM, "out of memory");
      f = &g->nodes[fi];
      a = &g->nodes[ai];
      f->fuse.sum_input = idx;
      f->outputs[0] = a->outputs[0];
      a->dead = true;
      gl_graph_recount(g);
      break;
    }
  }
  return GL_OK;
}

/* Activation(op(x)) -> op with fuse.act. */
static gl_status_t fuse_act(gl_graph_t *g) {
  for (int ai = 0; ai < g->n_nodes; ai++) {
    gl_node_t *a = &g->nodes[ai];
    if (a->dead || a->n_inputs < 1 || a->n_outputs != 1 || a->outputs[0] < 0) continue;
    gl_act_t act;
    float alpha = 0, beta = 0;
    if (is_op(a, "Relu")) {
      act = GL_ACT_RELU;
    } else if (is_op(a, "LeakyRelu")) {
      act = GL_ACT_LEAKY_RELU;
      alpha = gl_attr_f(a, "alpha", 0.01f);
    } else if (is_op(a, "Sigmoid")) {
      act = GL_ACT_SIGMOID;
    } else if (is_op(a, "Tanh")) {
      act = GL_ACT_TANH;
    } else if (is_op(a, "HardSigmoid")) {
      act = GL_ACT_HARD_SIGMOID;
      alpha = gl_attr_f(a, "alpha", 0.2f);
      beta = gl_attr_f(a, "beta", 0.5f);
    } else if (is_op(a, "HardSwish")) {
      act = GL_ACT_HARD_SWISH;
    } else if (is_op(a, "Clip")) {
      act = GL_ACT_CLIP;
      alpha = -FLT_MAX, beta = FLT_MAX;
      if (g->opset < 11) {
        alpha = gl_attr_f(a, "min", -FLT_MAX);
        beta = gl_attr_f(a, "max", FLT_MAX);
      } else {
        bool ok = true;
        for (int k = 1; k < a->n_inputs && k < 3; k++) {
          int c = a->inputs[k];
          if (c < 0) continue;
          if (!const_f32(g, c) || gl_shape_numel(&g->values[c].shape) != 1) ok = false;
          else if (k == 1) alpha = ((const float *)g->values[c].data->data)[0];
          else beta = ((const float *)g->values[c].data->data)[0];
        }
        if (!ok) continue;
      }
    } else {
      continue;
    }
    int v = a->inputs[0];
    if (!single_use(g, v) || g->values[v].dtype != GL_DT_F32) continue;
    int fi = g->values[v].producer;
    if (fi < 0) continue;
    gl_node_t *f = &g->nodes[fi];
    if (!is_fusable_producer(f) || f->fuse.act || only_output(f) != v) continue;
    f->fuse.act = act;
    f->fuse.alpha = alpha;
    f->fuse.beta = beta;
    f->outputs[0] = a->outputs[0];
    a->dead = true;
    gl_graph_recount(g);
  }
  return GL_OK;
}

static bool const_scalar(const gl_graph_t *g, int v, float *out) {
  if (!const_f32(g, v) || gl_shape_numel(&g->values[v].shape) != 1) return false;
  *out = ((const float *)g->values[v].data->data)[0];
  return true;
}

/* The one live node reading v (v has a single use and is no graph output), or -1. */
static int sole_consumer(const gl_graph_t *g, int v) {
  if (!single_use(g, v)) return -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] == v) return i;
  }
  return -1;
}

/* For a binary node with v as one input: the other input (or -1). */
static int other_input(const gl_node_t *n, int v) {
  if (n->n_inputs != 2) return -1;
  return n->inputs[0] == v ? n->inputs[1] : n->inputs[1] == v ? n->inputs[0] : -1;
}

static bool near(float a, float b) { return fabsf(a - b) <= 1e-4f * fabsf(b); }

/* GELU as PyTorch exports it, x * 0.5 * (1 + erf(x / sqrt(2))) in either order of the two Muls
 * (Div by sqrt(2) or Mul by 1/sqrt(2)), after a Conv/Gemm/MatMul -> fuse.act = GL_ACT_GELU_ERF. */
static gl_status_t fuse_gelu(gl_graph_t *g) {
  for (int ei = 0; ei < g->n_nodes; ei++) {
    gl_node_t *e = &g->nodes[ei];
    if (!is_op(e, "Erf") || e->n_inputs != 1 || e->n_outputs != 1) continue;
    int d = e->inputs[0];
    if (d < 0 || !single_use(g, d) || g->values[d].producer < 0) continue;
    int di = g->values[d].producer;
    const gl_node_t *dn = &g->nodes[di];
    int x = dn->n_inputs == 2 ? dn->inputs[0] : -1;
    float c;
    if (x < 0 || !const_scalar(g, dn->inputs[1], &c)) continue;
    if (!((is_op(dn, "Div") && near(c, 1.41421356f)) || (is_op(dn, "Mul") && near(c, 0.70710678f))))
      continue;
    const gl_value_t *xv = &g->values[x];
    if (xv->n_uses != 2 || xv->is_output || xv->producer < 0 || xv->dtype != GL_DT_F32) continue;
    int fi = xv->producer;
    gl_node_t *f = &g->nodes[fi];
    if (!is_fusable_producer(f) || f->fuse.act || only_output(f) != x) continue;
    /* 1 + erf */
    int ai = sole_consumer(g, e->outputs[0]);
    if (ai < 0 || !is_op(&g->nodes[ai], "Add")) continue;
    if (!const_scalar(g, other_input(&g->nodes[ai], e->outputs[0]), &c) || !near(c, 1.f)) continue;
    int a_out = g->nodes[ai].outputs[0];
    /* the other use of x: Mul(x, 1 + erf) then * 0.5, or Mul(x, 0.5) then * (1 + erf) */
    int m1 = -1;
    for (int i = 0; i < g->n_nodes && m1 < 0; i++)
      if (i != di && is_op(&g->nodes[i], "Mul") && other_input(&g->nodes[i], x) >= 0) m1 = i;
    if (m1 < 0) continue;
    int m1_other = other_input(&g->nodes[m1], x), m2, last;
    if (m1_other == a_out) {
      m2 = sole_consumer(g, g->nodes[m1].outputs[0]);
      if (m2 < 0 || !is_op(&g->nodes[m2], "Mul")) continue;
      if (!const_scalar(g, other_input(&g->nodes[m2], g->nodes[m1].outputs[0]), &c) || !near(c, 0.5f))
        continue;
    } else if (const_scalar(g, m1_other, &c) && near(c, 0.5f)) {
      m2 = sole_consumer(g, g->nodes[m1].outputs[0]);
      if (m2 < 0 || !is_op(&g->nodes[m2], "Mul") ||
          other_input(&g->nodes[m2], g->nodes[m1].outputs[0]) != a_out || sole_consumer(g, a_out) != m2)
        continue;
    } else {
      continue;
    }
    last = g->nodes[m2].outputs[0];
    if (last < 0 || !gl_shape_eq(&g->values[last].shape, &xv->shape)) continue;
    f->fuse.act = GL_ACT_GELU_ERF;
    f->outputs[0] = last;
    int dead[5] = {di, ei, ai, m1, m2};
    for (int k = 0; k < 5; k++) g->nodes[dead[k]].dead = true;
    gl_graph_recount(g);
  }
  return GL_OK;
}

gl_status_t gl_graph_fuse(gl_graph_t *g) {
  gl_graph_recount(g);
  GL_TRY(fuse_conv_bn(g));
  GL_TRY(fuse_add(g));
  GL_TRY(fuse_act(g));
  GL_TRY(fuse_gelu(g));
  gl_graph_recount(g);
  return GL_OK;
}
