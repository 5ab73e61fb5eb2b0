/* backend/cuda/cuda_ops_ew.cu - the CUDA backend's elementwise and row ops (unary, binary,
 * BatchNormalization, Softmax/LogSoftmax, LayerNormalization), the fused epilogue and the f32/half
 * conversion of the plan's edges, the helpers the op files share, and the op table. Kernel bodies
 * are in cuda_kernels.h; float tensors are f32 or half (the step's flag h, set from the plan's
 * precision), arithmetic is f32. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_layout.h"
#include "backend/cuda/cuda_ops_int.h"

extern "C" {
#include "graph/ops.h"
}

/* ---------------------------------------------------------------- kernels */
/* Every elementwise kernel is a grid-stride loop (GL_CU_FOR), so the grid is capped at 2^20
 * blocks whatever n is; row kernels (softmax, layernorm) likewise walk rows by gridDim.x. */
__global__ void k_unary(int op, const void *x, void *y, int h, int64_t n, float a, float b) {
  GL_CU_FOR(i, n) gl_k_unary_at(op, x, y, h, a, b, i);
}

__global__ void k_binary(gl_k_bcast_t bc, int op, const void *x0, const void *x1, void *y, int h, int64_t n) {
  GL_CU_FOR(i, n) gl_k_binary_at(&bc, op, x0, x1, y, h, i);
}

__global__ void k_convert(int from_h, int to_h, const void *x, void *y, int64_t n) {
  GL_CU_FOR(i, n) gl_k_convert_at(from_h, to_h, x, y, i);
}

/* y = act(y + bias[c] + sum broadcast); the sum's offsets come from bc's input 1 strides. */
__global__ void k_epilogue(void *y, const void *bias, const void *sum, int h, gl_k_bcast_t bc, int64_t c_dim,
                           int64_t inner, int act, float a, float b, int64_t n) {
  GL_CU_FOR(i, n) {
    float v = gl_k_ldf(y, h, i);
    if (bias) v += gl_k_ldf(bias, h, (i / inner) % c_dim);
    if (sum) {
      int64_t o0, o1;
      gl_k_bcast_offsets(&bc, i, &o0, &o1);
      v += gl_k_ldf(sum, h, o1);
    }
    gl_k_stf(y, h, i, gl_k_unary(act, v, a, b));
  }
}

__global__ void k_batchnorm(const void *x, void *y, const void *sc, const void *bi, const void *mu, const void *var,
                            int h, float eps, int64_t c, int64_t inner, int64_t n) {
  GL_CU_FOR(i, n) gl_k_batchnorm_at(x, y, sc, bi, mu, var, h, eps, c, inner, i);
}

/* Block-wide sum or max over 256 threads through shared memory; every thread gets the result. */
__device__ float block_reduce(float v, float *red, bool is_max) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s)
      red[threadIdx.x] = is_max ? fmaxf(red[threadIdx.x], red[threadIdx.x + s]) : red[threadIdx.x] + red[threadIdx.x + s];
    __syncthreads();
  }
  float r = red[0];
  __syncthreads(); /* red is reused by the next reduction */
  return r;
}

/* One block (256 threads) per row: max, sum of exp, then each element. */
__global__ void k_softmax(const void *x, void *y, int h, int64_t rows, int64_t len, int log_sm) {
  __shared__ float red[256];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t o = row * len;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) m = fmaxf(m, gl_k_ldf(x, h, o + j));
    m = block_reduce(m, red, true);
    float sum = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += expf(gl_k_ldf(x, h, o + j) - m);
    sum = block_reduce(sum, red, false);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x)
      gl_k_stf(y, h, o + j, gl_k_softmax_at(gl_k_ldf(x, h, o + j), m, sum, log_sm));
  }
}

/* One block per row: mean, then variance as the mean of squared deviations (two passes, so
 * rows with a large mean keep their precision), then each element. Statistics in f32. */
__global__ void k_layernorm(const void *x, void *y, const void *sc, const void *bi, int h, int64_t rows, int64_t len,
                            float eps) {
  __shared__ float red[256];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t o = row * len;
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += gl_k_ldf(x, h, o + j);
    float mean = block_reduce(s, red, false) / (float)len;
    float q = 0.f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      float d = gl_k_ldf(x, h, o + j) - mean;
      q += d * d;
    }
    float inv = rsqrtf(block_reduce(q, red, false) / (float)len + eps);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x)
      gl_k_stf(y, h, o + j, gl_k_layernorm_at(gl_k_ldf(x, h, o + j), mean, inv, sc, bi, h, j));
  }
}

/* ---------------------------------------------------------------- shared helpers */
gl_status_t gl_cu_launch_check(const char *what) { return gl_cu_check(cudaGetLastError(), what); }

gl_status_t gl_cu_esz_ok(const gl_node_t *n, size_t esz) {
  if (esz == 1 || esz == 2 || esz == 4 || esz == 8) return GL_OK;
  return gl_err(GL_EUNSUPPORTED, "%s: %zu-byte elements on CUDA", gl_node_label(n), esz);
}

gl_status_t gl_cu_int_sized(const gl_node_t *n, const gl_shape_t *s) {
  if (gl_shape_numel(s) <= INT32_MAX) return GL_OK;
  return gl_err(GL_EUNSUPPORTED, "%s: a tensor of more than 2^31 elements on cuDNN", gl_node_label(n));
}

void gl_cu_bcast_strides(const gl_shape_t *out, const gl_shape_t *in, int64_t *st) {
  int64_t acc = 1;
  for (int d = out->rank - 1; d >= 0; d--) {
    int id = d - (out->rank - in->rank);
    if (id < 0) {
      st[d] = 0;
      continue;
    }
    st[d] = in->d[id] == 1 ? 0 : acc;
    acc *= in->d[id];
  }
}

gl_status_t gl_cu_bcast_init(gl_k_bcast_t *b, const gl_shape_t *out, const gl_shape_t *a, const gl_shape_t *c) {
  if (out->rank > GL_K_MAX_RANK) return gl_err(GL_EUNSUPPORTED, "rank %d is too high for the CUDA kernels", out->rank);
  memset(b, 0, sizeof *b);
  b->rank = out->rank ? out->rank : 1;
  if (out->rank == 0) b->dims[0] = 1;
  for (int d = 0; d < out->rank; d++) b->dims[d] = out->d[d];
  if (a) gl_cu_bcast_strides(out, a, b->st[0]);
  if (c) gl_cu_bcast_strides(out, c, b->st[1]);
  return GL_OK;
}

int gl_cu_act_code(gl_act_t a) {
  switch (a) {
    case GL_ACT_RELU: return GL_K_RELU;
    case GL_ACT_LEAKY_RELU: return GL_K_LEAKY;
    case GL_ACT_CLIP: return GL_K_CLIP;
    case GL_ACT_SIGMOID: return GL_K_SIGMOID;
    case GL_ACT_TANH: return GL_K_TANH;
    case GL_ACT_HARD_SIGMOID: return GL_K_HSIGMOID;
    case GL_ACT_HARD_SWISH: return GL_K_HSWISH;
    case GL_ACT_GELU_ERF: return GL_K_GELU_ERF;
    case GL_ACT_GELU_TANH: return GL_K_GELU_TANH;
    default: return GL_K_IDENT;
  }
}

gl_status_t gl_cu_epi_init(gl_cu_epi_t *e, const gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n) {
  memset(e, 0, sizeof *e);
  e->act = gl_cu_act_code(n->fuse.act);
  e->a = n->fuse.alpha;
  e->b = n->fuse.beta;
  e->sum_in = n->fuse.sum_input;
  e->h = cx->half;
  const gl_value_t *y = gl_out(g, n, 0);
  e->n = gl_shape_numel(&y->shape);
  if (e->sum_in >= 0) GL_TRY(gl_cu_bcast_init(&e->sum_bc, &y->shape, &y->shape, &gl_in(g, n, e->sum_in)->shape));
  return GL_OK;
}

gl_status_t gl_cu_epi_run(const gl_cu_epi_t *e, cudaStream_t s, void *y, const void *bias, int64_t c, int64_t inner,
                          void *const *in) {
  const void *sum = e->sum_in >= 0 ? in[e->sum_in] : NULL;
  k_epilogue<<<gl_cu_blocks(e->n), 256, 0, s>>>(y, bias, sum, e->h, e->sum_bc, c ? c : 1, inner ? inner : 1, e->act,
                                                  e->a, e->b, e->n);
  return gl_cu_launch_check("epilogue kernel");
}

gl_status_t gl_cu_binary_launch(cudaStream_t s, const gl_k_bcast_t *bc, int op, const void *x0, const void *x1,
                                void *y, int h, int64_t n) {
  if (n) k_binary<<<gl_cu_blocks(n), 256, 0, s>>>(*bc, op, x0, x1, y, h, n);
  return gl_cu_launch_check("binary kernel");
}

gl_status_t gl_cu_convert_launch(cudaStream_t s, int from_h, int to_h, const void *x, void *y, int64_t n) {
  if (n) k_convert<<<gl_cu_blocks(n), 256, 0, s>>>(from_h, to_h, x, y, n);
  return gl_cu_launch_check("f32/half conversion kernel");
}

float gl_cu_const_scalar(const gl_graph_t *g, const gl_node_t *n, int i, float dflt) {
  const gl_value_t *v = gl_in(g, n, i);
  return v && v->data && gl_shape_numel(&v->shape) == 1 ? (float)gl_tensor_get_f64(v->data, 0) : dflt;
}

/* ---------------------------------------------------------------- unary and binary */
typedef struct {
  int op, h;
  float a, b;
  int64_t n;
  gl_k_bcast_t bc;
} ew_t;

static gl_status_t run_unary(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const ew_t *s = (const ew_t *)k->state;
  if (s->n) k_unary<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(s->op, in[0], out[0], s->h, s->n, s->a, s->b);
  return gl_cu_launch_check("unary kernel");
}

static const struct { const char *op; int code; float a, b; } unary_ops[] = {
    {"Relu", GL_K_RELU, 0, 0}, {"LeakyRelu", GL_K_LEAKY, 0.01f, 0}, {"Sigmoid", GL_K_SIGMOID, 0, 0},
    {"Tanh", GL_K_TANH, 0, 0}, {"HardSigmoid", GL_K_HSIGMOID, 0.2f, 0.5f}, {"HardSwish", GL_K_HSWISH, 0, 0},
    {"Erf", GL_K_ERF, 0, 0}, {"Sqrt", GL_K_SQRT, 0, 0}, {"Exp", GL_K_EXP, 0, 0}, {"Log", GL_K_LOG, 0, 0},
    {"Neg", GL_K_NEG, 0, 0}, {"Abs", GL_K_ABS, 0, 0}, {"Reciprocal", GL_K_RECIP, 0, 0}, {"Elu", GL_K_ELU, 1.f, 0},
    {"Softplus", GL_K_SOFTPLUS, 0, 0}, {"Floor", GL_K_FLOOR, 0, 0}, {"Ceil", GL_K_CEIL, 0, 0},
    {"Identity", GL_K_IDENT, 0, 0}, {"Dropout", GL_K_IDENT, 0, 0}, {"Clip", GL_K_CLIP, 0, 0},
    {"Gelu", GL_K_GELU_ERF, 0, 0},
};

gl_status_t gl_cu_prep_unary(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  if (n->n_outputs > 1 && n->outputs[1] >= 0)
    return gl_err(GL_EUNSUPPORTED, "%s: Dropout's mask output on CUDA", gl_node_label(n));
  ew_t *s = (ew_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_unary;
  s->h = cx->half;
  s->n = gl_shape_numel(&gl_out(g, n, 0)->shape);
  for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++)
    if (!strcmp(unary_ops[i].op, n->op_type)) {
      s->op = unary_ops[i].code;
      s->a = gl_attr_f(n, "alpha", unary_ops[i].a);
      s->b = gl_attr_f(n, "beta", unary_ops[i].b);
    }
  if (!strcmp(n->op_type, "Gelu") && strcmp(gl_attr_s(n, "approximate", "none"), "none")) s->op = GL_K_GELU_TANH;
  if (s->op == GL_K_CLIP) {
    s->a = g->opset < 11 ? gl_attr_f(n, "min", -INFINITY) : gl_cu_const_scalar(g, n, 1, -INFINITY);
    s->b = g->opset < 11 ? gl_attr_f(n, "max", INFINITY) : gl_cu_const_scalar(g, n, 2, INFINITY);
    if ((gl_in(g, n, 1) && !gl_in(g, n, 1)->data) || (gl_in(g, n, 2) && !gl_in(g, n, 2)->data))
      return gl_err(GL_EUNSUPPORTED, "%s: computed clip bounds are not supported on CUDA", gl_node_label(n));
  }
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  return GL_OK;
}

static gl_status_t run_binary(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const ew_t *s = (const ew_t *)k->state;
  return gl_cu_binary_launch(cx->stream, &s->bc, s->op, in[0], in[1], out[0], s->h, s->n);
}

gl_status_t gl_cu_prep_binary(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  static const struct { const char *op; int code; } ops[] = {
      {"Add", GL_K_ADD}, {"Sub", GL_K_SUB}, {"Mul", GL_K_MUL}, {"Div", GL_K_DIV}, {"Pow", GL_K_POW},
      {"Min", GL_K_MIN}, {"Max", GL_K_MAX}, {"PRelu", GL_K_PRELU}, {"Sum", GL_K_ADD}};
  if (n->n_inputs != 2 || !gl_in(g, n, 1))
    return gl_err(GL_EUNSUPPORTED, "%s: CUDA takes exactly two inputs here", gl_node_label(n));
  if (gl_in(g, n, 0)->dtype != GL_DT_F32 || gl_in(g, n, 1)->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  ew_t *s = (ew_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_binary;
  s->h = cx->half;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].op, n->op_type)) s->op = ops[i].code;
  const gl_shape_t *o = &gl_out(g, n, 0)->shape;
  s->n = gl_shape_numel(o);
  if (cx->nhwc_node) { /* channels-last: broadcast over (n, h, w, c); the layout pass made every
                          operand NHWC or of the same bytes in both layouts */
    gl_shape_t op = gl_cu_lay_nhwc_shape(o), a = gl_cu_lay_nhwc_shape(&gl_in(g, n, 0)->shape),
               b = gl_cu_lay_nhwc_shape(&gl_in(g, n, 1)->shape);
    return gl_cu_bcast_init(&s->bc, &op, &a, &b);
  }
  return gl_cu_bcast_init(&s->bc, o, &gl_in(g, n, 0)->shape, &gl_in(g, n, 1)->shape);
}

/* ---------------------------------------------------------------- norms and softmax */
typedef struct {
  int64_t rows, len, c, inner, n;
  float eps;
  int log_sm, h;
  bool has_bias, is_ln;
} norm_t;

static gl_status_t run_bn(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const norm_t *s = (const norm_t *)k->state;
  if (s->n)
    k_batchnorm<<<gl_cu_blocks(s->n), 256, 0, cx->stream>>>(in[0], out[0], in[1], in[2], in[3], in[4], s->h, s->eps,
                                                            s->c, s->inner, s->n);
  return gl_cu_launch_check("batch normalization kernel");
}

gl_status_t gl_cu_prep_bn(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  if (n->n_outputs > 1 && n->outputs[1] >= 0) return gl_err(GL_EUNSUPPORTED, "%s: training outputs on CUDA", gl_node_label(n));
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  norm_t *s = (norm_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_bn;
  s->h = cx->half;
  s->n = gl_shape_numel(x);
  s->c = x->rank > 1 ? x->d[1] : 1;
  s->inner = s->n / ((x->d[0] ? x->d[0] : 1) * (s->c ? s->c : 1));
  if (cx->nhwc_node) s->inner = 1; /* channels-last: element i is in channel i % c */
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  return GL_OK;
}

static gl_status_t run_rows(const gl_cu_step_t *k, const gl_cu_ctx_t *cx, void *ws, size_t wsb, void *const *in, void *const *out) {
  const norm_t *s = (const norm_t *)k->state;
  if (!s->rows) return GL_OK;
  if (s->is_ln)
    k_layernorm<<<gl_cu_row_blocks(s->rows), 256, 0, cx->stream>>>(in[0], out[0], in[1], s->has_bias ? in[2] : NULL,
                                                                    s->h, s->rows, s->len, s->eps);
  else
    k_softmax<<<gl_cu_row_blocks(s->rows), 256, 0, cx->stream>>>(in[0], out[0], s->h, s->rows, s->len, s->log_sm);
  return gl_cu_launch_check("row kernel");
}

gl_status_t gl_cu_prep_rows(gl_cu_ctx_t *cx, const gl_graph_t *g, const gl_node_t *n, gl_cu_step_t *k) {
  const gl_shape_t *x = &gl_in(g, n, 0)->shape;
  bool ln = !strcmp(n->op_type, "LayerNormalization");
  if (gl_in(g, n, 0)->dtype != GL_DT_F32) return gl_err(GL_EUNSUPPORTED, "%s: float only on CUDA", gl_node_label(n));
  int axis;
  int64_t dflt = ln ? -1 : (g->opset < 13 ? 1 : -1);
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", dflt), x->rank, &axis));
  if (!ln && g->opset >= 13 && axis != x->rank - 1)
    return gl_err(GL_EUNSUPPORTED, "%s: softmax over a non-last axis on CUDA", gl_node_label(n));
  if (ln && n->n_outputs > 1 && (n->outputs[1] >= 0 || (n->n_outputs > 2 && n->outputs[2] >= 0)))
    return gl_err(GL_EUNSUPPORTED, "%s: Mean/InvStdDev outputs on CUDA", gl_node_label(n));
  norm_t *s = (norm_t *)gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  k->state = s;
  k->run = run_rows;
  s->h = cx->half;
  s->len = 1;
  for (int d = axis; d < x->rank; d++) s->len *= x->d[d];
  s->rows = s->len ? gl_shape_numel(x) / s->len : 0;
  s->log_sm = !strcmp(n->op_type, "LogSoftmax");
  if (ln) {
    s->is_ln = true;
    s->eps = gl_attr_f(n, "epsilon", 1e-5f);
    s->has_bias = n->n_inputs > 2 && n->inputs[2] >= 0;
    if (gl_shape_numel(&gl_in(g, n, 1)->shape) != s->len ||
        (s->has_bias && gl_shape_numel(&gl_in(g, n, 2)->shape) != s->len))
      return gl_err(GL_EUNSUPPORTED, "%s: broadcast scale/bias on CUDA", gl_node_label(n));
  }
  return GL_OK;
}

/* ---------------------------------------------------------------- the table */
#define GL_CU_OP_ROW(name, prep) {name, gl_cu_##prep},
static const struct {
  const char *op;
  gl_cu_prepare_fn prep;
} ops[] = {GL_CUDA_OPS(GL_CU_OP_ROW)};
#undef GL_CU_OP_ROW

gl_cu_prepare_fn gl_cu_find_op(const char *op_type) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i].op, op_type)) return ops[i].prep;
  return NULL;
}
