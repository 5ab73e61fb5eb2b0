/* backend/cpu/cpu_layout.c - layout-aware kernels for the ops that sit between convs: inference
 * BatchNormalization, unary activations, same-shape binary ops and channel Concat as oneDNN
 * primitives over whatever layout their sources have (see cpu_plan.c's layout pass), and a rank-4
 * Transpose as one reorder from the source's layout into the transposed plain output.
 *
 * These kernels replace the op's plain kernel only when at least one source is blocked; with plain
 * sources the op's ordinary kernel runs (its output then stays plain). The output keeps the
 * primitive's layout when the plan allows (gl_cpu_layout_publish), else it is reordered to plain
 * inside the kernel. gl_cpu_layout_accepts, the layout pass's question, lives here too: it accepts
 * exactly the slots these kernels (and cpu_nn.c's convs and pools) can read in any layout. */
#include <string.h>

#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"

#define LK_MAX_SRC 64

typedef struct {
  dnnl_primitive_t prim;
  int n_src;
  int slot[LK_MAX_SRC];       /* node input of each source */
  dnnl_memory_t src[LK_MAX_SRC];
  dnnl_memory_t dst;          /* the primitive's dst (wraps out[0] unless dst_reorder) */
  dnnl_memory_t dst_user;     /* plain view of out[0] when the output must be plain */
  dnnl_primitive_t dst_reorder;
  void *dst_buf;
  dnnl_memory_t params[4];    /* BN: scale, shift, mean, variance (owned copies in param_buf) */
  void *param_buf;
  dnnl_exec_arg_t args[LK_MAX_SRC + 8];
  int n_args;
  /* Concat as copies (no prim) when every source and dst is plain NCHW or nChw16c with whole
   * channel blocks: per batch item each source is one contiguous run of the dst. */
  bool copy_concat;
  int64_t batch, dst_item;          /* floats per batch item of dst */
  int64_t item[LK_MAX_SRC], off[LK_MAX_SRC]; /* per source: floats per item, offset in dst's item */
} lk_t;

static void lk_destroy(void *p) {
  lk_t *s = p;
  if (!s) return;
  if (s->prim) dnnl_primitive_destroy(s->prim);
  for (int i = 0; i < s->n_src; i++)
    if (s->src[i]) dnnl_memory_destroy(s->src[i]);
  if (s->dst) dnnl_memory_destroy(s->dst);
  if (s->dst_user) dnnl_memory_destroy(s->dst_user);
  if (s->dst_reorder) dnnl_primitive_destroy(s->dst_reorder);
  for (int i = 0; i < 4; i++)
    if (s->params[i]) dnnl_memory_destroy(s->params[i]);
  gl_aligned_free(s->dst_buf);
  gl_aligned_free(s->param_buf);
  gl_free(s);
}

static gl_status_t concat_copy_run(const lk_t *s, void *const *in, float *y) {
  int64_t jobs = s->batch * s->n_src;
#pragma omp parallel for if (s->dst_item * s->batch > 65536)
  for (int64_t j = 0; j < jobs; j++) {
    int64_t b = j / s->n_src, i = j % s->n_src;
    memcpy(y + b * s->dst_item + s->off[i], (const float *)in[s->slot[i]] + b * s->item[i],
           sizeof(float) * (size_t)s->item[i]);
  }
  return GL_OK;
}

static gl_status_t lk_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                          void *const *out) {
  const lk_t *s = k->state;
  if (s->copy_concat) return concat_copy_run(s, in, out[0]);
  for (int i = 0; i < s->n_src; i++) dnnl_memory_set_data_handle_v2(s->src[i], in[s->slot[i]], x->stream);
  if (!s->dst_reorder) dnnl_memory_set_data_handle_v2(s->dst, out[0], x->stream);
  GL_DNNL(dnnl_primitive_execute(s->prim, x->stream, s->n_args, s->args), "running a primitive");
  if (s->dst_reorder) {
    dnnl_memory_set_data_handle_v2(s->dst_user, out[0], x->stream);
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, s->dst}, {DNNL_ARG_TO, s->dst_user}};
    GL_DNNL(dnnl_primitive_execute(s->dst_reorder, x->stream, 2, a), "running a reorder");
  }
  return GL_OK;
}

static gl_status_t plain_md4(dnnl_memory_desc_t *md, const gl_shape_t *sh) {
  dnnl_dims_t d;
  for (int i = 0; i < sh->rank; i++) d[i] = sh->d[i];
  GL_DNNL(dnnl_memory_desc_init_by_tag(md, sh->rank, d, dnnl_f32,
                                       sh->rank == 4 ? dnnl_abcd : dnnl_abc),
          "describing a tensor");
  return GL_OK;
}

/* The md of node input slot: its producer's layout or plain. */
static gl_status_t src_md(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n, int slot,
                          dnnl_memory_desc_t *md) {
  const dnnl_memory_desc_t *l = gl_cpu_layout_of(x, n->inputs[slot]);
  if (l) {
    *md = *l;
    return GL_OK;
  }
  return plain_md4(md, &gl_in(g, n, slot)->shape);
}

static gl_status_t add_src(lk_t *s, const gl_cpu_exec_t *x, int slot, const dnnl_memory_desc_t *md,
                           int arg) {
  GL_DNNL(dnnl_memory_create(&s->src[s->n_src], md, x->engine, DNNL_MEMORY_NONE), "creating a memory");
  s->slot[s->n_src] = slot;
  s->args[s->n_args++] = (dnnl_exec_arg_t){arg, s->src[s->n_src]};
  s->n_src++;
  return GL_OK;
}

/* Creates the primitive and dst from pd: dst keeps the primitive's layout when the plan allows,
 * else an owned buffer plus a reorder to plain. Destroys pd. */
static gl_status_t finish(lk_t *s, const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                          dnnl_primitive_desc_t pd) {
  const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  gl_status_t st = GL_OK;
  dnnl_memory_desc_t plain;
  if (gl_cpu_layout_publish(x, n->outputs[0], dmd)) {
    st = gl_dnnl_check(dnnl_memory_create(&s->dst, dmd, x->engine, DNNL_MEMORY_NONE), "creating a memory");
  } else {
    st = plain_md4(&plain, &gl_out(g, n, 0)->shape);
    if (!st && dnnl_memory_desc_equal(&plain, dmd)) {
      st = gl_dnnl_check(dnnl_memory_create(&s->dst, dmd, x->engine, DNNL_MEMORY_NONE), "creating a memory");
    } else if (!st) {
      size_t sz = dnnl_memory_desc_get_size(dmd);
      s->dst_buf = gl_aligned_alloc(sz ? sz : 64);
      if (!s->dst_buf) st = gl_err(GL_ENOMEM, "out of memory");
      if (!st) st = gl_dnnl_check(dnnl_memory_create(&s->dst, dmd, x->engine, s->dst_buf), "creating a memory");
      if (!st) st = gl_dnnl_check(dnnl_memory_create(&s->dst_user, &plain, x->engine, DNNL_MEMORY_NONE), "creating a memory");
      dnnl_primitive_desc_t rpd = NULL;
      if (!st) st = gl_dnnl_check(dnnl_reorder_primitive_desc_create(&rpd, dmd, x->engine, &plain, x->engine, NULL), "creating a reorder");
      if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->dst_reorder, rpd), "creating a reorder");
      if (rpd) dnnl_primitive_desc_destroy(rpd);
    }
  }
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a primitive");
  dnnl_primitive_desc_destroy(pd);
  if (st) return st;
  s->args[s->n_args++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->dst};
  return GL_OK;
}

/* ---- which ops, and their parameters ---- */

static bool f32_r4(const gl_graph_t *g, const gl_node_t *n, int slot) {
  const gl_value_t *v = gl_in(g, n, slot);
  return v && v->dtype == GL_DT_F32 && v->shape.rank == 4 && gl_shape_numel(&v->shape) > 0;
}

/* A unary activation as a oneDNN eltwise: its algorithm and parameters. */
static bool eltwise_of(const gl_graph_t *g, const gl_node_t *n, dnnl_alg_kind_t *alg, float *a,
                       float *b) {
  const char *op = n->op_type;
  *a = 0.f, *b = 0.f;
  if (!strcmp(op, "Relu")) *alg = dnnl_eltwise_relu;
  else if (!strcmp(op, "LeakyRelu")) *alg = dnnl_eltwise_relu, *a = gl_attr_f(n, "alpha", 0.01f);
  else if (!strcmp(op, "Sigmoid")) *alg = dnnl_eltwise_logistic;
  else if (!strcmp(op, "Tanh")) *alg = dnnl_eltwise_tanh;
  else if (!strcmp(op, "HardSwish")) *alg = dnnl_eltwise_hardswish;
  else if (!strcmp(op, "Clip")) {
    *alg = dnnl_eltwise_clip_v2;
    *a = -3.402823466e+38f, *b = 3.402823466e+38f;
    if (g->opset < 11) {
      *a = gl_attr_f(n, "min", *a), *b = gl_attr_f(n, "max", *b);
    } else {
      for (int i = 1; i < 3 && i < n->n_inputs; i++) {
        const gl_value_t *v = gl_in(g, n, i);
        if (!v) continue;
        if (!v->data || v->dtype != GL_DT_F32 || gl_shape_numel(&v->shape) != 1) return false;
        float c = ((const float *)v->data->data)[0];
        if (i == 1) *a = c;
        else *b = c;
      }
    }
  } else {
    return false;
  }
  return n->n_outputs == 1;
}

static bool binary_of(const gl_graph_t *g, const gl_node_t *n, dnnl_alg_kind_t *alg) {
  static const struct { const char *op; dnnl_alg_kind_t alg; } ops[] = {
      {"Add", dnnl_binary_add}, {"Sum", dnnl_binary_add}, {"Mul", dnnl_binary_mul},
      {"Sub", dnnl_binary_sub}, {"Div", dnnl_binary_div}, {"Max", dnnl_binary_max},
      {"Min", dnnl_binary_min},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    if (strcmp(n->op_type, ops[i].op)) continue;
    if (n->n_inputs != 2 || !f32_r4(g, n, 0) || !f32_r4(g, n, 1)) return false;
    if (!gl_shape_eq(&gl_in(g, n, 0)->shape, &gl_in(g, n, 1)->shape)) return false;
    *alg = ops[i].alg;
    return true;
  }
  return false;
}

static bool bn_ok(const gl_graph_t *g, const gl_node_t *n) {
  if (strcmp(n->op_type, "BatchNormalization") || n->n_inputs < 5 || gl_attr_i(n, "training_mode", 0))
    return false;
  for (int k = 1; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0) return false;
  int64_t c = gl_in(g, n, 0)->shape.d[1];
  for (int i = 1; i < 5; i++) {
    const gl_value_t *v = gl_in(g, n, i);
    if (!v || !v->data || v->dtype != GL_DT_F32 || gl_shape_numel(&v->shape) != c) return false;
  }
  return true;
}

static int concat_axis(const gl_graph_t *g, const gl_node_t *n) {
  if (strcmp(n->op_type, "Concat") || n->n_inputs < 1 || n->n_inputs > LK_MAX_SRC) return -1;
  for (int i = 0; i < n->n_inputs; i++)
    if (!f32_r4(g, n, i) || gl_in(g, n, i)->data) return -1;
  int64_t ax = gl_attr_i(n, "axis", 1);
  if (ax < 0) ax += 4;
  return ax == 1 ? 1 : -1;
}

/* Transpose of a rank-4 float tensor: its permutation. */
static bool transpose_of(const gl_graph_t *g, const gl_node_t *n, int64_t perm[4]) {
  if (strcmp(n->op_type, "Transpose") || n->n_outputs != 1) return false;
  const gl_attr_t *a = gl_attr(n, "perm");
  if (a && a->n != 4) return false;
  for (int i = 0; i < 4; i++) perm[i] = a ? a->ints[i] : 3 - i;
  int seen = 0;
  for (int i = 0; i < 4; i++) {
    if (perm[i] < 0 || perm[i] > 3) return false;
    seen |= 1 << perm[i];
  }
  return seen == 15;
}

/* Whether node n is one of this file's ops in a form its kernel handles. */
static bool lk_op(const gl_graph_t *g, const gl_node_t *n) {
  dnnl_alg_kind_t alg;
  float a, b;
  if (n->n_outputs < 1 || n->n_inputs < 1 || !f32_r4(g, n, 0)) return false;
  int64_t perm[4];
  return (eltwise_of(g, n, &alg, &a, &b)) || binary_of(g, n, &alg) || bn_ok(g, n) ||
         concat_axis(g, n) == 1 || transpose_of(g, n, perm);
}



bool gl_cpu_layout_accepts(const gl_graph_t *g, const gl_node_t *n, int slot) {
  if (gl_cpu_nn_layout_accepts(g, n, slot)) return true;
  if (!lk_op(g, n)) return false;
  if (!strcmp(n->op_type, "Concat")) return true;
  dnnl_alg_kind_t alg;
  if (binary_of(g, n, &alg)) return slot < 2;
  return slot == 0;
}

/* ---- prepare ---- */

static gl_status_t lk_build(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n, lk_t *s) {
  dnnl_alg_kind_t alg;
  float a, b;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_memory_desc_t m0, m1, any;
  GL_TRY(src_md(x, g, n, 0, &m0));
  if (eltwise_of(g, n, &alg, &a, &b)) {
    dnnl_eltwise_desc_t d;
    GL_DNNL(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, &m0, a, b), "describing an eltwise");
    GL_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, x->engine, NULL), "creating an eltwise");
    gl_status_t st = add_src(s, x, 0, &m0, DNNL_ARG_SRC);
    if (st) {
      dnnl_primitive_desc_destroy(pd);
      return st;
    }
    return finish(s, x, g, n, pd);
  }
  if (binary_of(g, n, &alg)) {
    GL_TRY(src_md(x, g, n, 1, &m1));
    dnnl_dims_t d;
    const gl_shape_t *ys = &gl_out(g, n, 0)->shape;
    for (int i = 0; i < 4; i++) d[i] = ys->d[i];
    GL_DNNL(dnnl_memory_desc_init_by_tag(&any, 4, d, dnnl_f32, dnnl_format_tag_any), "dst md");
    dnnl_binary_desc_t bd;
    GL_DNNL(dnnl_binary_desc_init(&bd, alg, &m0, &m1, &any), "describing a binary");
    GL_DNNL(dnnl_primitive_desc_create(&pd, &bd, NULL, x->engine, NULL), "creating a binary");
    gl_status_t st = add_src(s, x, 0, &m0, DNNL_ARG_SRC_0);
    if (!st) st = add_src(s, x, 1, &m1, DNNL_ARG_SRC_1);
    if (st) {
      dnnl_primitive_desc_destroy(pd);
      return st;
    }
    return finish(s, x, g, n, pd);
  }
  if (bn_ok(g, n)) {
    int64_t c = gl_in(g, n, 0)->shape.d[1];
    s->param_buf = gl_aligned_alloc(sizeof(float) * 4 * (size_t)c);
    if (!s->param_buf) return gl_err(GL_ENOMEM, "out of memory");
    dnnl_memory_desc_t pmd;
    dnnl_dims_t pd1 = {c};
    GL_DNNL(dnnl_memory_desc_init_by_tag(&pmd, 1, pd1, dnnl_f32, dnnl_a), "param md");
    for (int i = 0; i < 4; i++) {
      float *p = (float *)s->param_buf + i * c;
      memcpy(p, gl_in(g, n, 1 + i)->data->data, sizeof(float) * (size_t)c);
      GL_DNNL(dnnl_memory_create(&s->params[i], &pmd, x->engine, p), "creating a memory");
    }
    dnnl_batch_normalization_desc_t d;
    GL_DNNL(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_inference, &m0,
                                                       gl_attr_f(n, "epsilon", 1e-5f),
                                                       dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift),
            "describing a batch norm");
    GL_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, x->engine, NULL), "creating a batch norm");
    static const int pargs[4] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    for (int i = 0; i < 4; i++) s->args[s->n_args++] = (dnnl_exec_arg_t){pargs[i], s->params[i]};
    gl_status_t st = add_src(s, x, 0, &m0, DNNL_ARG_SRC);
    if (st) {
      dnnl_primitive_desc_destroy(pd);
      return st;
    }
    return finish(s, x, g, n, pd);
  }
  if (concat_axis(g, n) == 1) {
    dnnl_memory_desc_t mds[LK_MAX_SRC];
    for (int i = 0; i < n->n_inputs; i++) GL_TRY(src_md(x, g, n, i, &mds[i]));
    dnnl_dims_t d;
    const gl_shape_t *ys = &gl_out(g, n, 0)->shape;
    for (int i = 0; i < 4; i++) d[i] = ys->d[i];
    GL_DNNL(dnnl_memory_desc_init_by_tag(&any, 4, d, dnnl_f32, dnnl_format_tag_any), "dst md");
    /* The copy form: every source plain or nChw16c with whole blocks, all alike. */
    dnnl_format_tag_t ctag = dnnl_format_tag_undef;
    for (int t = 0; t < 2 && ctag == dnnl_format_tag_undef; t++) {
      dnnl_format_tag_t cand = t == 0 ? dnnl_aBcd16b : dnnl_abcd;
      bool all = true;
      for (int i = 0; i < n->n_inputs && all; i++) {
        dnnl_memory_desc_t tm;
        all = (cand == dnnl_abcd || mds[i].dims[1] % 16 == 0) &&
              dnnl_memory_desc_init_by_tag(&tm, 4, mds[i].dims, dnnl_f32, cand) == dnnl_success &&
              dnnl_memory_desc_equal(&tm, &mds[i]);
      }
      if (all) ctag = cand;
    }
    if (ctag != dnnl_format_tag_undef) {
      dnnl_memory_desc_t dmd;
      GL_DNNL(dnnl_memory_desc_init_by_tag(&dmd, 4, d, dnnl_f32, ctag), "dst md");
      dnnl_memory_desc_t plain;
      GL_TRY(plain_md4(&plain, ys));
      /* dst keeps the sources' layout when the plan allows it, or is plain anyway */
      if (gl_cpu_layout_publish(x, n->outputs[0], &dmd) || dnnl_memory_desc_equal(&dmd, &plain)) {
        s->copy_concat = true;
        s->batch = ys->d[0];
        s->dst_item = ys->d[1] * ys->d[2] * ys->d[3];
        int64_t off = 0;
        for (int i = 0; i < n->n_inputs; i++) {
          s->slot[i] = i;
          s->item[i] = mds[i].dims[1] * ys->d[2] * ys->d[3];
          s->off[i] = off;
          off += s->item[i];
        }
        s->n_src = n->n_inputs;
        return GL_OK;
      }
    }
    GL_DNNL(dnnl_concat_primitive_desc_create(&pd, &any, n->n_inputs, 1, mds, NULL, x->engine),
            "creating a concat");
    gl_status_t st = GL_OK;
    for (int i = 0; i < n->n_inputs && !st; i++) st = add_src(s, x, i, &mds[i], DNNL_ARG_MULTIPLE_SRC + i);
    if (st) {
      dnnl_primitive_desc_destroy(pd);
      return st;
    }
    return finish(s, x, g, n, pd);
  }
  int64_t perm[4];
  if (transpose_of(g, n, perm)) {
    /* One reorder from the source's layout straight into the transposed plain output: the
     * output described over the source's dims, with the strides the permutation gives. */
    const gl_shape_t *ys = &gl_out(g, n, 0)->shape, *xs = &gl_in(g, n, 0)->shape;
    int64_t yst[4], acc = 1;
    for (int j = 3; j >= 0; j--) yst[j] = acc, acc *= ys->d[j];
    dnnl_dims_t xd, xst;
    for (int j = 0; j < 4; j++) xst[perm[j]] = yst[j];
    for (int i = 0; i < 4; i++) xd[i] = xs->d[i];
    dnnl_memory_desc_t tmd;
    GL_DNNL(dnnl_memory_desc_init_by_strides(&tmd, 4, xd, dnnl_f32, xst), "describing a transpose");
    GL_DNNL(dnnl_reorder_primitive_desc_create(&pd, &m0, x->engine, &tmd, x->engine, NULL), "creating a reorder");
    gl_status_t st = add_src(s, x, 0, &m0, DNNL_ARG_FROM);
    if (!st) st = gl_dnnl_check(dnnl_memory_create(&s->dst, &tmd, x->engine, DNNL_MEMORY_NONE), "creating a memory");
    if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a reorder");
    dnnl_primitive_desc_destroy(pd);
    if (st) return st;
    s->args[s->n_args++] = (dnnl_exec_arg_t){DNNL_ARG_TO, s->dst};
    return GL_OK;
  }
  return gl_err(GL_EUNSUPPORTED, "%s: no layout-aware kernel", gl_node_label(n));
}

static gl_status_t lk_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  lk_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = lk_build(x, g, n, s);
  if (st) {
    lk_destroy(s);
    return gl_err_wrap(st, "%s", gl_node_label(n));
  }
  k->state = s;
  k->destroy = lk_destroy;
  k->run = lk_run;
  return GL_OK;
}

gl_cpu_prepare_fn gl_cpu_layout_kernel(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n) {
  if (!x->lay || !lk_op(g, n)) return NULL;
  for (int i = 0; i < n->n_inputs; i++)
    if (gl_cpu_layout_of(x, n->inputs[i])) return lk_prepare;
  return NULL;
}
