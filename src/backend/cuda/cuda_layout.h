/* backend/cuda/cuda_layout.h - the CUDA plan's layout pass: which rank-4 float values are stored
 * channels-last (NHWC) so that fp16 convolutions get cuDNN's NHWC tensor-core kernels, and where
 * the plan converts between NCHW and NHWC. Plain C (header-only) so that
 * tests/backend/test_cuda_layout.c checks the decisions on the CPU; cuda_plan.cu acts on them.
 *
 * Owns the rules:
 *  - a Conv over a rank-4 input with constant rank-4 weights runs NHWC (its weights are uploaded
 *    KRSC, gl_cu_nhwc_weights); ops that can read NHWC as is run NHWC when one of their
 *    activation inputs is NHWC: the unary elementwise ops (and Identity/Dropout), binary ops whose
 *    other operands are NHWC or have the same bytes in both layouts, MaxPool/AveragePool/
 *    GlobalAveragePool/GlobalMaxPool, BatchNormalization, Concat of rank-4 tensors;
 *  - a Transpose with perm (0, 2, 3, 1) of an NHWC value (an SSD head's) is a view: its plain
 *    [n, h, w, c] output has exactly the input's bytes (gl_cu_lay_is_nhwc_view);
 *  - everything else (Reshape, Gemm, LRN, Softmax, ...) reads NCHW; graph inputs and outputs are
 *    NCHW (a node whose output is a graph output runs NCHW unless that output's bytes are the
 *    same in both layouts);
 *  - a value whose bytes are the same in both layouts (c == 1 or h * w == 1, e.g. a global
 *    pool's [n, c, 1, 1]) is never converted and is labelled NCHW;
 *  - a consumer that wants the other layout of a value reads a converted copy, made once per
 *    (value, direction) right before its first such consumer.
 * Does not own: the conversion kernel (cuda_ops_move.cu, body gl_k_relayout_perm in
 * cuda_kernels.h) or the NHWC descriptors (cuda_ops_nn.cu). */
#ifndef GL_BACKEND_CUDA_CUDA_LAYOUT_H
#define GL_BACKEND_CUDA_CUDA_LAYOUT_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "core/alloc.h"
#include "graph/graph.h"
#ifdef __cplusplus
}
#endif

#include "backend/cuda/cuda_kernels.h"

enum { GL_CU_LAY_ASIS = 0, GL_CU_LAY_TO_NHWC = 1, GL_CU_LAY_TO_NCHW = 2 };

typedef struct {
  uint8_t *val_nhwc;  /* per value: stored channels-last */
  uint8_t *node_nhwc; /* per node: runs channels-last */
  int n_values, n_nodes;
} gl_cu_layout_t;

static inline void gl_cu_layout_fini(gl_cu_layout_t *L) {
  gl_free(L->val_nhwc);
  gl_free(L->node_nhwc);
  memset(L, 0, sizeof *L);
}

/* A float tensor of rank 4 with known dims. */
static inline int gl_cu_lay_rank4(const gl_value_t *v) {
  if (!v || v->dtype != GL_DT_F32 || v->shape.rank != 4) return 0;
  for (int d = 0; d < 4; d++)
    if (v->shape.d[d] < 0) return 0;
  return 1;
}

/* Same bytes in NCHW and NHWC: shape right-aligned to rank 4 has c == 1 or h * w == 1. */
static inline int gl_cu_lay_same_bytes(const gl_shape_t *s) {
  if (s->rank > 4 || s->rank < 0) return 0;
  int64_t d4[4] = {1, 1, 1, 1};
  for (int d = 0; d < s->rank; d++) d4[4 - s->rank + d] = s->d[d];
  return d4[1] == 1 || d4[2] * d4[3] == 1;
}

/* The node's rank-4 shape permuted to its NHWC memory order (n, h, w, c); lower ranks are
 * right-aligned to 4 first (what a broadcast operand of an NHWC binary op is read as). */
static inline gl_shape_t gl_cu_lay_nhwc_shape(const gl_shape_t *s) {
  int64_t d4[4] = {1, 1, 1, 1};
  for (int d = 0; d < s->rank && s->rank <= 4; d++) d4[4 - s->rank + d] = s->d[d];
  gl_shape_t r;
  memset(&r, 0, sizeof r);
  r.rank = 4;
  r.d[0] = d4[0], r.d[1] = d4[2], r.d[2] = d4[3], r.d[3] = d4[1];
  return r;
}

static inline int gl_cu_lay_is(const char *op, const char *const *list, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(op, list[i])) return 1;
  return 0;
}

static const char *const gl_cu_lay_unary[] = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
                                              "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Elu",
                                              "Softplus", "Floor", "Ceil", "Clip", "Gelu", "Identity", "Dropout"};
static const char *const gl_cu_lay_binary[] = {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "PRelu", "Sum"};
static const char *const gl_cu_lay_pool[] = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
#define GL_CU_LAY_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* 1 when input slot k of n is an activation that follows the node's layout (0: parameters such
 * as a conv's weights and bias, BatchNormalization's statistics, Clip's bounds). */
static inline int gl_cu_lay_slot(const gl_node_t *n, int k) {
  if (!strcmp(n->op_type, "Conv")) return k == 0 || k == n->fuse.sum_input;
  if (gl_cu_lay_is(n->op_type, gl_cu_lay_binary, GL_CU_LAY_N(gl_cu_lay_binary)) || !strcmp(n->op_type, "Concat"))
    return 1;
  return k == 0;
}

/* Transpose(perm 0,2,3,1): NCHW -> plain NHWC, which is a view of an NHWC-stored input. */
static inline int gl_cu_lay_nhwc_transpose(const gl_graph_t *g, const gl_node_t *n) {
  int cnt = 0;
  const int64_t *perm = gl_attr_ints(n, "perm", &cnt);
  return !strcmp(n->op_type, "Transpose") && cnt == 4 && perm[0] == 0 && perm[1] == 2 && perm[2] == 3 &&
         perm[3] == 1 && gl_cu_lay_rank4(gl_in(g, n, 0)) && gl_cu_lay_rank4(gl_out(g, n, 0));
}

/* Whether n can run channels-last at all (its inputs converted where needed). */
static inline int gl_cu_lay_capable(const gl_graph_t *g, const gl_node_t *n) {
  const gl_value_t *y = gl_out(g, n, 0);
  if (!gl_cu_lay_rank4(y)) return 0;
  if (gl_cu_lay_nhwc_transpose(g, n)) return 1; /* its output is plain: may be a graph output */
  for (int k = 1; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0) return 0; /* Dropout's mask, MaxPool's indices, BN's training outputs */
  if (y->is_output && !gl_cu_lay_same_bytes(&y->shape)) return 0;
  const char *op = n->op_type;
  if (!strcmp(op, "Conv")) {
    const gl_value_t *w = gl_in(g, n, 1);
    if (!gl_cu_lay_rank4(gl_in(g, n, 0)) || !gl_cu_lay_rank4(w) || !w->data) return 0;
    int s = n->fuse.sum_input;
    return s < 0 || gl_cu_lay_rank4(gl_in(g, n, s));
  }
  if (gl_cu_lay_is(op, gl_cu_lay_unary, GL_CU_LAY_N(gl_cu_lay_unary)) ||
      gl_cu_lay_is(op, gl_cu_lay_pool, GL_CU_LAY_N(gl_cu_lay_pool)) || !strcmp(op, "BatchNormalization"))
    return gl_cu_lay_rank4(gl_in(g, n, 0));
  if (gl_cu_lay_is(op, gl_cu_lay_binary, GL_CU_LAY_N(gl_cu_lay_binary))) {
    for (int k = 0; k < n->n_inputs; k++) {
      const gl_value_t *v = gl_in(g, n, k);
      if (!v || v->dtype != GL_DT_F32) return 0;
      if (!gl_cu_lay_rank4(v) && !gl_cu_lay_same_bytes(&v->shape)) return 0; /* e.g. [c, h, w]: no */
    }
    return 1;
  }
  if (!strcmp(op, "Concat")) {
    for (int k = 0; k < n->n_inputs; k++)
      if (!gl_cu_lay_rank4(gl_in(g, n, k))) return 0;
    return 1;
  }
  return 0;
}

/* Decides every value's and node's layout (all NCHW when enable is 0). */
static inline gl_status_t gl_cu_layout_plan(const gl_graph_t *g, int enable, gl_cu_layout_t *L) {
  memset(L, 0, sizeof *L);
  L->val_nhwc = (uint8_t *)gl_calloc((size_t)g->n_values + 1, 1);
  L->node_nhwc = (uint8_t *)gl_calloc((size_t)g->n_nodes + 1, 1);
  if (!L->val_nhwc || !L->node_nhwc) {
    gl_cu_layout_fini(L);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  L->n_values = g->n_values, L->n_nodes = g->n_nodes;
  if (!enable) return GL_OK;
  for (int i = 0; i < g->n_nodes; i++) { /* nodes are in topological order: one forward sweep */
    const gl_node_t *n = &g->nodes[i];
    if (n->dead || !gl_cu_lay_capable(g, n)) continue;
    int run = !strcmp(n->op_type, "Conv");
    for (int k = 0; k < n->n_inputs && !run; k++)
      if (n->inputs[k] >= 0 && gl_cu_lay_slot(n, k) && L->val_nhwc[n->inputs[k]]) run = 1;
    if (!run) continue;
    L->node_nhwc[i] = 1;
    const gl_value_t *y = gl_out(g, n, 0);
    L->val_nhwc[n->outputs[0]] = !gl_cu_lay_same_bytes(&y->shape) && !gl_cu_lay_nhwc_transpose(g, n);
  }
  return GL_OK;
}

/* Node i (already planned channels-last) is a Transpose that the plan runs as an alias of its
 * input: the NHWC bytes are the transposed tensor's plain bytes. */
static inline int gl_cu_lay_is_nhwc_view(const gl_graph_t *g, const gl_cu_layout_t *L, int i) {
  return L->node_nhwc[i] && gl_cu_lay_nhwc_transpose(g, &g->nodes[i]);
}

/* The conversion input k of node i needs before the node reads it (GL_CU_LAY_*). */
static inline int gl_cu_layout_need(const gl_graph_t *g, const gl_cu_layout_t *L, int i, int k) {
  const gl_node_t *n = &g->nodes[i];
  int v = k < n->n_inputs ? n->inputs[k] : -1;
  if (v < 0 || !gl_cu_lay_rank4(&g->values[v]) || gl_cu_lay_same_bytes(&g->values[v].shape)) return GL_CU_LAY_ASIS;
  int want = L->node_nhwc[i] && gl_cu_lay_slot(n, k);
  if (L->node_nhwc[i] && !gl_cu_lay_slot(n, k)) return GL_CU_LAY_ASIS; /* parameters: weights handled apart */
  if (want == (int)L->val_nhwc[v]) return GL_CU_LAY_ASIS;
  return want ? GL_CU_LAY_TO_NHWC : GL_CU_LAY_TO_NCHW;
}

/* KCRS convolution weights (f32) -> a new tensor holding them KRSC (logical shape unchanged), for
 * cuDNN's NHWC filter format. */
static inline gl_status_t gl_cu_nhwc_weights(const gl_tensor_t *w, gl_tensor_t *out) {
  memset(out, 0, sizeof *out);
  if (w->dtype != GL_DT_F32 || w->shape.rank != 4) return gl_err(GL_EINVAL, "NHWC weights must be f32 of rank 4");
  GL_TRY(gl_tensor_alloc(out, GL_DT_F32, &w->shape));
  gl_k_perm_t p;
  gl_k_relayout_perm(&p, w->shape.d[0], w->shape.d[1], w->shape.d[2], w->shape.d[3], 1);
  int64_t nel = gl_shape_numel(&w->shape);
  const float *src = (const float *)w->data;
  float *dst = (float *)out->data;
  for (int64_t i = 0; i < nel; i++) dst[i] = src[gl_k_perm_offset(&p, i)];
  return GL_OK;
}

/* GPULET_CUDA_NHWC: "0" off, "1" on at every precision; unset: on at fp16 (half data is where
 * cuDNN's tensor-core kernels want channels-last). */
static inline int gl_cu_layout_enabled(const char *env, int half) {
  if (env && !strcmp(env, "0")) return 0;
  if (env && !strcmp(env, "1")) return 1;
  return half;
}

#endif
