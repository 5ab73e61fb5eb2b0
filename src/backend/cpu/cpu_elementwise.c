/* backend/cpu/cpu_elementwise.c - CPU kernels for the elementwise op family.
 * One prepare for every op: it picks a kind of kernel and the row function for the dtype.
 *  - f32 unary ops oneDNN has (relu, elu, tanh, logistic, gelu, clip...) and f32 binary ops whose
 *    input 0 (or 1, when the op commutes) has the output's shape run as oneDNN primitives, unless
 *    the tensor is small or oneDNN would only offer its reference implementation;
 *  - everything else runs typed row functions (omp simd loops stamped out per dtype) over a
 *    broadcast iteration laid out in prepare (dims merged so rows are long; each input's row
 *    stride is 0 or 1), split across OpenMP threads for large tensors;
 *  - f16/bf16 inputs are converted to f32 scratch (allocated in prepare), computed, converted back.
 * Variadic ops fold one input at a time into the output; Mean then scales.
 * The row functions and the broadcast iteration live in cpu_elementwise_loops.c. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_elementwise_int.h"
#include "core/alloc.h"

/* The typed loops below are stamped out for signed and unsigned types alike; comparisons such as
 * x < 0 are always false for the unsigned ones, which is what we want. */
#pragma GCC diagnostic ignored "-Wtype-limits"
/* Nothing here reads floating-point exception flags; without this GCC will not turn the selects in
 * the loops (x > 0 ? x : 0...) into vector blends. */
#pragma GCC optimize("no-trapping-math")

/* ---------------------------------------------------------------------------------------------
 * Kernel state
 * ------------------------------------------------------------------------------------------- */
enum { K_MAP, K_UNARY, K_COPY, K_CAST, K_DNNL, K_DROPOUT };

typedef struct {
  int kind;
  ew_par_t par;
  row_fn fn;
  int64_t n;           /* output elements */
  size_t nbytes;       /* K_COPY / K_DROPOUT: bytes of output 0 */
  size_t isz, osz;     /* K_UNARY / K_CAST: element sizes */
  int n_in;
  /* K_MAP: broadcast steps; step s reads inputs step_in[s][0..2] (-1 = the output so far) */
  int n_steps;
  bc_t *bc;
  int (*step_in)[3];
  /* Mean: a final scale of the output */
  bool scale;
  /* conversions of inputs (f16 and bf16 to f32, Pow's exponent) into scratch, and of the output */
  row_fn conv[EW_MAX_IN];
  void *scratch[EW_MAX_IN];
  int64_t in_n[EW_MAX_IN];
  size_t conv_isz[EW_MAX_IN];
  row_fn conv_out;
  void *scratch_out;
  size_t oesz; /* element size of output 0 */
  gl_dtype_t cdt; /* the dtype the row functions compute in */
  /* Clip with non-constant bounds */
  gl_dtype_t clip_t;
  bool clip_rt[2];
  /* Dropout with a non-constant training_mode */
  bool drop_rt;
  gl_dtype_t drop_ratio_t;
  char label[96]; /* the node, for errors found at run */
  /* oneDNN */
  dnnl_primitive_t prim;
  dnnl_memory_t mem[3];
  int dnnl_in[2]; /* which node inputs feed src0 / src1 */
} ew_t;

static void ew_destroy(void *state) {
  ew_t *s = state;
  if (!s) return;
  gl_free(s->bc);
  gl_free(s->step_in);
  for (int i = 0; i < EW_MAX_IN; i++) gl_aligned_free(s->scratch[i]);
  gl_aligned_free(s->scratch_out);
  for (int i = 0; i < 3; i++)
    if (s->mem[i]) dnnl_memory_destroy(s->mem[i]);
  if (s->prim) dnnl_primitive_destroy(s->prim);
  gl_free(s);
}

static double load_f64(gl_dtype_t t, const void *p) {
  gl_tensor_t v = {.dtype = t, .data = (void *)p};
  return gl_tensor_get_f64(&v, 0);
}
static int64_t load_i64(gl_dtype_t t, const void *p) {
  gl_tensor_t v = {.dtype = t, .data = (void *)p};
  return gl_tensor_get_i64(&v, 0);
}

static gl_status_t ew_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                          void *const *out) {
  ew_t *s = k->state;
  ew_par_t par = s->par;
  if (s->kind == K_COPY || s->kind == K_DROPOUT) {
    if (s->drop_rt && in[2] && *(const uint8_t *)in[2]) {
      double ratio = in[1] ? load_f64(s->drop_ratio_t, in[1]) : 0.5;
      if (ratio > 0)
        return gl_err(GL_EUNSUPPORTED, "%s: training mode is not supported", s->label);
    }
    if (s->nbytes && out[0] != in[0]) memcpy(out[0], in[0], s->nbytes);
    if (s->kind == K_DROPOUT && out[1] && s->n > 0) memset(out[1], 1, (size_t)s->n);
    return GL_OK;
  }
  if (s->n <= 0) return GL_OK;
  const void *ptr[EW_MAX_IN];
  for (int i = 0; i < s->n_in; i++) {
    ptr[i] = in[i];
    if (s->conv[i] && in[i]) {
      gl_ew_flat_run(s->conv[i], &par, in[i], s->conv_isz[i], s->scratch[i],
               gl_dtype_size(s->cdt), s->in_n[i]);
      ptr[i] = s->scratch[i];
    }
  }
  /* Clip bounds given as inputs (after any conversion they have the compute dtype) */
  for (int j = 0; j < 2; j++) {
    if (!s->clip_rt[j] || !ptr[1 + j]) continue;
    if (j == 0) {
      par.a = load_f64(s->cdt, ptr[1]);
      par.ilo = load_i64(s->cdt, ptr[1]);
    } else {
      par.b = load_f64(s->cdt, ptr[2]);
      par.ihi = load_i64(s->cdt, ptr[2]);
    }
  }
  void *o = s->conv_out ? s->scratch_out : out[0];
  switch (s->kind) {
    case K_DNNL: {
      for (int j = 0; j < 3 && s->mem[j]; j++) {
        void *h = j == 2 ? o : (void *)ptr[s->dnnl_in[j]];
        GL_DNNL(dnnl_memory_set_data_handle_v2(s->mem[j], h, x->stream), "setting a handle");
      }
      dnnl_exec_arg_t args[3];
      int na = 0;
      if (s->mem[2]) {
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_0, s->mem[0]};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_1, s->mem[1]};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->mem[2]};
      } else {
        GL_DNNL(dnnl_memory_set_data_handle_v2(s->mem[1], o, x->stream), "setting a handle");
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, s->mem[0]};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->mem[1]};
      }
      GL_DNNL(dnnl_primitive_execute(s->prim, x->stream, na, args), "running an eltwise op");
      break;
    }
    case K_UNARY:
    case K_CAST:
      gl_ew_flat_run(s->fn, &par, ptr[0], s->isz, o, s->osz, s->n);
      break;
    case K_MAP:
      for (int st = 0; st < s->n_steps; st++) {
        const void *ip[3];
        for (int j = 0; j < s->bc[st].n_in; j++)
          ip[j] = s->step_in[st][j] >= 0 ? ptr[s->step_in[st][j]] : o;
        gl_ew_bc_run(&s->bc[st], s->fn, &par, ip, o);
      }
      if (s->scale) {
        ew_par_t sp = {.op = OP_SCALE, .a = 1.0 / s->n_in};
        gl_ew_flat_run(gl_ew_un_tab[dt_slot(s->cdt)], &sp, o, gl_dtype_size(s->cdt), o,
                 gl_dtype_size(s->cdt), s->n);
      }
      break;
    default: break;
  }
  if (s->conv_out)
    gl_ew_flat_run(s->conv_out, &par, s->scratch_out, gl_dtype_size(s->cdt), out[0], s->oesz, s->n);
  return GL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Prepare
 * ------------------------------------------------------------------------------------------- */
/* What an op is and which dtypes it takes. */
enum {
  C_UF,      /* float unary */
  C_US,      /* float or signed int unary (Relu, Neg) */
  C_UA,      /* float or any int unary (Abs, Sign) */
  C_CLIP, C_NOT, C_ISX,
  C_BIN,     /* float or int, broadcast (Add..., Min/Max/Sum variadic) */
  C_MEAN,    /* float, variadic */
  C_POW, C_MOD, C_SHIFT, C_LOGIC, C_EQ, C_CMP, C_PRELU, C_WHERE,
  C_CAST, C_CASTLIKE, C_COPY, C_DROPOUT,
};

typedef struct {
  const char *name;
  int op, cls;
} ew_desc_t;

static const ew_desc_t descs[] = {
    {"Relu", OP_RELU, C_US},         {"LeakyRelu", OP_LEAKY, C_UF},
    {"Elu", OP_ELU, C_UF},           {"Selu", OP_SELU, C_UF},
    {"Celu", OP_CELU, C_UF},         {"ThresholdedRelu", OP_THRELU, C_UF},
    {"Sigmoid", OP_SIGMOID, C_UF},   {"HardSigmoid", OP_HSIGMOID, C_UF},
    {"HardSwish", OP_HSWISH, C_UF},  {"Tanh", OP_TANH, C_UF},
    {"Softplus", OP_SOFTPLUS, C_UF}, {"Softsign", OP_SOFTSIGN, C_UF},
    {"Erf", OP_ERF, C_UF},           {"Gelu", OP_GELU, C_UF},
    {"Sqrt", OP_SQRT, C_UF},         {"Exp", OP_EXP, C_UF},
    {"Log", OP_LOG, C_UF},           {"Neg", OP_NEG, C_US},
    {"Abs", OP_ABS, C_UA},           {"Reciprocal", OP_RECIP, C_UF},
    {"Floor", OP_FLOOR, C_UF},       {"Ceil", OP_CEIL, C_UF},
    {"Round", OP_ROUND, C_UF},       {"Sign", OP_SIGN, C_UA},
    {"Sin", OP_SIN, C_UF},           {"Cos", OP_COS, C_UF},
    {"Tan", OP_TAN, C_UF},           {"Asin", OP_ASIN, C_UF},
    {"Acos", OP_ACOS, C_UF},         {"Atan", OP_ATAN, C_UF},
    {"Sinh", OP_SINH, C_UF},         {"Cosh", OP_COSH, C_UF},
    {"Asinh", OP_ASINH, C_UF},       {"Acosh", OP_ACOSH, C_UF},
    {"Atanh", OP_ATANH, C_UF},       {"Shrink", OP_SHRINK, C_UF},
    {"Clip", OP_CLIP, C_CLIP},       {"Not", OP_NOT, C_NOT},
    {"IsNaN", OP_ISNAN, C_ISX},      {"IsInf", OP_ISINF, C_ISX},
    {"Add", OP_ADD, C_BIN},          {"Sub", OP_SUB, C_BIN},
    {"Mul", OP_MUL, C_BIN},          {"Div", OP_DIV, C_BIN},
    {"Min", OP_MIN, C_BIN},          {"Max", OP_MAX, C_BIN},
    {"Sum", OP_ADD, C_BIN},          {"Mean", OP_ADD, C_MEAN},
    {"Pow", OP_POW, C_POW},          {"Mod", OP_MOD, C_MOD},
    {"BitShift", OP_SHL, C_SHIFT},   {"And", OP_AND, C_LOGIC},
    {"Or", OP_OR, C_LOGIC},          {"Xor", OP_XOR, C_LOGIC},
    {"Equal", OP_EQ, C_EQ},          {"Less", OP_LT, C_CMP},
    {"Greater", OP_GT, C_CMP},       {"LessOrEqual", OP_LE, C_CMP},
    {"GreaterOrEqual", OP_GE, C_CMP}, {"PRelu", OP_PRELU, C_PRELU},
    {"Where", 0, C_WHERE},           {"Cast", 0, C_CAST},
    {"CastLike", 0, C_CASTLIKE},     {"Identity", 0, C_COPY},
    {"Dropout", 0, C_DROPOUT},
};

static const ew_desc_t *find_desc(const char *op) {
  for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++)
    if (!strcmp(descs[i].name, op)) return &descs[i];
  return NULL;
}

static gl_status_t bad_dtype(const gl_node_t *n, gl_dtype_t t) {
  return gl_err(GL_EUNSUPPORTED, "%s: data type %s is not supported", gl_node_label(n),
                gl_dtype_name(t));
}

/* The lowest and highest value of an integer type, as int64 bit patterns. */
static int64_t type_lo(gl_dtype_t t) {
  switch (t) {
    case GL_DT_I8: return INT8_MIN;
    case GL_DT_I16: return INT16_MIN;
    case GL_DT_I32: return INT32_MIN;
    case GL_DT_I64: return INT64_MIN;
    default: return 0;
  }
}
static int64_t type_hi(gl_dtype_t t) {
  switch (t) {
    case GL_DT_I8: return INT8_MAX;
    case GL_DT_I16: return INT16_MAX;
    case GL_DT_I32: return INT32_MAX;
    case GL_DT_I64: return INT64_MAX;
    case GL_DT_U8: case GL_DT_BOOL: return UINT8_MAX;
    case GL_DT_U16: return UINT16_MAX;
    case GL_DT_U32: return UINT32_MAX;
    default: return -1; /* UINT64_MAX */
  }
}

/* Input i is converted from its dtype to cdt into scratch at run when they differ. */
static gl_status_t conv_in(ew_t *s, const gl_graph_t *g, const gl_node_t *n, int i,
                           gl_dtype_t cdt) {
  const gl_value_t *v = gl_in(g, n, i);
  if (!v || v->dtype == cdt) return GL_OK;
  s->conv[i] = gl_ew_cast_fn(v->dtype, cdt);
  if (!s->conv[i]) return bad_dtype(n, v->dtype);
  s->in_n[i] = gl_shape_numel(&v->shape);
  s->conv_isz[i] = gl_dtype_size(v->dtype);
  s->scratch[i] = gl_aligned_alloc((size_t)(s->in_n[i] > 0 ? s->in_n[i] : 1) * gl_dtype_size(cdt));
  if (!s->scratch[i]) return gl_err(GL_ENOMEM, "%s: no memory for scratch", gl_node_label(n));
  return GL_OK;
}

static gl_status_t conv_output(ew_t *s, const gl_node_t *n, gl_dtype_t odt, gl_dtype_t cdt) {
  if (odt == cdt) return GL_OK;
  s->conv_out = gl_ew_cast_fn(cdt, odt);
  if (!s->conv_out) return bad_dtype(n, odt);
  s->scratch_out = gl_aligned_alloc((size_t)(s->n > 0 ? s->n : 1) * gl_dtype_size(cdt));
  if (!s->scratch_out) return gl_err(GL_ENOMEM, "%s: no memory for scratch", gl_node_label(n));
  return GL_OK;
}

static gl_status_t make_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims) {
  dnnl_dims_t d, st;
  int64_t acc = 1;
  for (int i = rank - 1; i >= 0; i--) {
    d[i] = dims[i];
    st[i] = acc;
    acc *= dims[i];
  }
  GL_DNNL(dnnl_memory_desc_init_by_strides(md, rank, d, dnnl_f32, st), "making a memory desc");
  return GL_OK;
}

/* Creates the primitive for op_desc unless oneDNN only has its reference implementation (slower
 * than our loops); *ok tells which. */
static gl_status_t make_prim(const gl_cpu_exec_t *x, const void *op_desc, ew_t *s, bool *ok) {
  dnnl_primitive_desc_t pd;
  *ok = false;
  if (dnnl_primitive_desc_create(&pd, op_desc, NULL, x->engine, NULL) != dnnl_success)
    return GL_OK;
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, (void *)&impl) != dnnl_success ||
      !impl || !strncmp(impl, "ref", 3)) {
    dnnl_primitive_desc_destroy(pd);
    return GL_OK;
  }
  dnnl_status_t st = dnnl_primitive_create(&s->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  GL_DNNL(st, "creating a primitive");
  *ok = true;
  return GL_OK;
}

/* oneDNN eltwise for f32 unary ops it has. */
static gl_status_t try_dnnl_eltwise(const gl_cpu_exec_t *x, ew_t *s, bool *ok) {
  dnnl_alg_kind_t alg;
  float a = 0, b = 0;
  *ok = false;
  switch (s->par.op) {
    case OP_RELU: alg = dnnl_eltwise_relu; break;
    case OP_LEAKY: alg = dnnl_eltwise_relu; a = (float)s->par.a; break;
    case OP_ELU: alg = dnnl_eltwise_elu; a = (float)s->par.a; break;
    case OP_TANH: alg = dnnl_eltwise_tanh; break;
    case OP_SIGMOID: alg = dnnl_eltwise_logistic; break;
    case OP_SQRT: alg = dnnl_eltwise_sqrt; break;
    case OP_EXP: alg = dnnl_eltwise_exp; break;
    case OP_LOG: alg = dnnl_eltwise_log; break;
    case OP_ABS: alg = dnnl_eltwise_abs; break;
    case OP_GELU: alg = dnnl_eltwise_gelu_erf; break;
    case OP_GELU_TANH: alg = dnnl_eltwise_gelu_tanh; break;
    case OP_HSWISH: alg = dnnl_eltwise_hardswish; break;
    case OP_SOFTPLUS: alg = dnnl_eltwise_soft_relu; break;
    case OP_NEG: alg = dnnl_eltwise_linear; a = -1.f; break;
    case OP_CLIP:
      if (s->clip_rt[0] || s->clip_rt[1]) return GL_OK;
      alg = dnnl_eltwise_clip_v2;
      a = (float)s->par.a;
      b = (float)s->par.b;
      break;
    default: return GL_OK;
  }
  dnnl_memory_desc_t md;
  GL_TRY(make_md(&md, 1, &s->n));
  dnnl_eltwise_desc_t ed;
  if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &md, a, b) != dnnl_success)
    return GL_OK; /* the plain loops do it */
  GL_TRY(make_prim(x, &ed, s, ok));
  if (!*ok) return GL_OK;
  GL_DNNL(dnnl_memory_create(&s->mem[0], &md, x->engine, DNNL_MEMORY_NONE), "making memory");
  GL_DNNL(dnnl_memory_create(&s->mem[1], &md, x->engine, DNNL_MEMORY_NONE), "making memory");
  s->dnnl_in[0] = 0;
  s->kind = K_DNNL;
  return GL_OK;
}

/* oneDNN binary for f32 when input 0 (or input 1 of a commutative op) has the output's shape. */
static gl_status_t try_dnnl_binary(const gl_cpu_exec_t *x, ew_t *s, bool *ok) {
  dnnl_alg_kind_t alg;
  *ok = false;
  switch (s->par.op) {
    case OP_ADD: alg = dnnl_binary_add; break;
    case OP_SUB: alg = dnnl_binary_sub; break;
    case OP_MUL: alg = dnnl_binary_mul; break;
    case OP_DIV: alg = dnnl_binary_div; break;
    case OP_MIN: alg = dnnl_binary_min; break;
    case OP_MAX: alg = dnnl_binary_max; break;
    default: return GL_OK;
  }
  bool comm = alg == dnnl_binary_add || alg == dnnl_binary_mul || alg == dnnl_binary_min ||
              alg == dnnl_binary_max;
  const bc_t *b = &s->bc[0];
  int full = -1;
  for (int k = 0; k < 2 && full < 0; k++) {
    bool all = true;
    for (int d = 0; d < b->rank; d++)
      if (!b->st[k][d] && b->dims[d] != 1) all = false;
    if (all && (k == 0 || comm)) full = k;
  }
  if (full < 0) return GL_OK;
  int other = 1 - full;
  int64_t d1[GL_MAX_RANK];
  for (int d = 0; d < b->rank; d++) d1[d] = b->st[other][d] ? b->dims[d] : 1;
  dnnl_memory_desc_t md0, md1;
  GL_TRY(make_md(&md0, b->rank, b->dims));
  GL_TRY(make_md(&md1, b->rank, d1));
  dnnl_binary_desc_t bd;
  if (dnnl_binary_desc_init(&bd, alg, &md0, &md1, &md0) != dnnl_success) return GL_OK;
  GL_TRY(make_prim(x, &bd, s, ok));
  if (!*ok) return GL_OK;
  GL_DNNL(dnnl_memory_create(&s->mem[0], &md0, x->engine, DNNL_MEMORY_NONE), "making memory");
  GL_DNNL(dnnl_memory_create(&s->mem[1], &md1, x->engine, DNNL_MEMORY_NONE), "making memory");
  GL_DNNL(dnnl_memory_create(&s->mem[2], &md0, x->engine, DNNL_MEMORY_NONE), "making memory");
  s->dnnl_in[0] = full;
  s->dnnl_in[1] = other;
  s->kind = K_DNNL;
  return GL_OK;
}

/* Sets up broadcast steps over the node's inputs: one step for two or three inputs, n-1 steps
 * (each folding one more input into the output) for variadic ops. */
static gl_status_t setup_map(ew_t *s, const gl_graph_t *g, const gl_node_t *n, size_t isz,
                             size_t osz, bool three) {
  const gl_value_t *y = gl_out(g, n, 0);
  int nin = s->n_in;
  s->n_steps = three ? 1 : nin - 1;
  s->bc = gl_calloc((size_t)s->n_steps, sizeof *s->bc);
  s->step_in = gl_calloc((size_t)s->n_steps, sizeof *s->step_in);
  if (!s->bc || !s->step_in) return gl_err(GL_ENOMEM, "%s: no memory", gl_node_label(n));
  for (int st = 0; st < s->n_steps; st++) {
    const gl_shape_t *sh[3];
    size_t sz[3] = {isz, isz, isz};
    int cnt;
    if (three) {
      for (int j = 0; j < 3; j++) {
        sh[j] = &gl_in(g, n, j)->shape;
        s->step_in[st][j] = j;
      }
      sz[0] = 1;
      cnt = 3;
    } else if (st == 0) {
      sh[0] = &gl_in(g, n, 0)->shape;
      sh[1] = &gl_in(g, n, 1)->shape;
      s->step_in[st][0] = 0;
      s->step_in[st][1] = 1;
      cnt = 2;
    } else {
      sh[0] = &y->shape;
      sh[1] = &gl_in(g, n, st + 1)->shape;
      s->step_in[st][0] = -1;
      s->step_in[st][1] = st + 1;
      sz[0] = osz;
      cnt = 2;
    }
    gl_ew_bc_init(&s->bc[st], &y->shape, sh, sz, cnt, osz);
  }
  s->kind = K_MAP;
  return GL_OK;
}

static gl_status_t read_clip_bounds(ew_t *s, const gl_graph_t *g, const gl_node_t *n,
                                    gl_dtype_t t) {
  if (is_flt(t)) {
    s->par.a = -INFINITY;
    s->par.b = INFINITY;
  }
  s->par.ilo = type_lo(t);
  s->par.ihi = type_hi(t);
  if (g->opset < 11) {
    s->par.a = gl_attr_f(n, "min", -INFINITY);
    s->par.b = gl_attr_f(n, "max", INFINITY);
    return GL_OK;
  }
  for (int j = 0; j < 2; j++) {
    const gl_value_t *v = gl_in(g, n, 1 + j);
    if (!v) continue;
    if (v->dtype != t)
      return gl_err(GL_ETYPE, "%s: bound '%s' is %s, not %s", gl_node_label(n), v->name,
                    gl_dtype_name(v->dtype), gl_dtype_name(t));
    if (gl_shape_numel(&v->shape) != 1)
      return gl_err(GL_ESHAPE, "%s: bound '%s' is not a scalar", gl_node_label(n), v->name);
    if (!v->data) {
      s->clip_rt[j] = true;
      continue;
    }
    double f = gl_tensor_get_f64(v->data, 0);
    int64_t i = gl_tensor_get_i64(v->data, 0);
    if (j == 0) {
      s->par.a = f;
      s->par.ilo = i;
    } else {
      s->par.b = f;
      s->par.ihi = i;
    }
  }
  return GL_OK;
}

static gl_status_t prepare_unary(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                 const gl_node_t *n, ew_t *s, const ew_desc_t *d) {
  const gl_value_t *xv = gl_in(g, n, 0);
  gl_dtype_t t = xv->dtype;
  bool ok = is_flt(t) || (d->cls == C_US && is_sint(t)) ||
            ((d->cls == C_UA || d->cls == C_CLIP) && (is_sint(t) || is_uint(t))) ||
            (d->cls == C_NOT && t == GL_DT_BOOL);
  if (d->cls == C_NOT && t != GL_DT_BOOL) ok = false;
  if (!ok) return bad_dtype(n, t);
  ew_par_t *p = &s->par;
  switch (d->op) {
    case OP_LEAKY: p->a = gl_attr_f(n, "alpha", 0.01f); break;
    case OP_ELU: case OP_CELU: case OP_THRELU: p->a = gl_attr_f(n, "alpha", 1.0f); break;
    case OP_SELU:
      p->a = gl_attr_f(n, "alpha", 1.67326319217681884765625f);
      p->g = gl_attr_f(n, "gamma", 1.05070102214813232421875f);
      break;
    case OP_HSIGMOID:
      p->a = gl_attr_f(n, "alpha", 0.2f);
      p->b = gl_attr_f(n, "beta", 0.5f);
      break;
    case OP_SHRINK:
      p->a = gl_attr_f(n, "lambd", 0.5f);
      p->b = gl_attr_f(n, "bias", 0.0f);
      break;
    case OP_GELU: {
      const char *ap = gl_attr_s(n, "approximate", "none");
      if (!strcmp(ap, "tanh")) p->op = OP_GELU_TANH;
      else if (strcmp(ap, "none"))
        return gl_err(GL_EUNSUPPORTED, "%s: approximate='%s' is not supported", gl_node_label(n), ap);
      break;
    }
    case OP_CLIP: GL_TRY(read_clip_bounds(s, g, n, t)); break;
    default: break;
  }
  gl_dtype_t cdt = is_half(t) ? GL_DT_F32 : t;
  s->cdt = cdt;
  for (int i = 0; i < n->n_inputs; i++) GL_TRY(conv_in(s, g, n, i, cdt));
  if (t == GL_DT_F32 && s->n >= EW_DNNL_MIN) {
    GL_TRY(try_dnnl_eltwise(x, s, &ok));
    if (ok) return GL_OK;
  }
  GL_TRY(conv_output(s, n, t, cdt));
  s->kind = K_UNARY;
  s->fn = gl_ew_un_tab[dt_slot(cdt)];
  s->isz = s->osz = gl_dtype_size(cdt);
  return GL_OK;
}

static gl_status_t prepare_binary(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                  const gl_node_t *n, ew_t *s, const ew_desc_t *d) {
  gl_dtype_t t = gl_in(g, n, 0)->dtype;
  bool num = is_flt(t) || is_sint(t) || is_uint(t);
  bool ok;
  switch (d->cls) {
    case C_BIN: case C_MOD: ok = num; break;
    case C_MEAN: ok = is_flt(t); break;
    case C_POW: ok = num; break;
    case C_SHIFT: ok = is_uint(t); break;
    case C_LOGIC: ok = t == GL_DT_BOOL; break;
    case C_EQ: ok = num || t == GL_DT_BOOL; break;
    case C_CMP: ok = num; break;
    case C_PRELU: ok = is_flt(t) || is_sint(t) || is_uint(t); break;
    default: ok = false;
  }
  if (!ok) return bad_dtype(n, t);
  for (int i = 1; i < s->n_in; i++) {
    const gl_value_t *v = gl_in(g, n, i);
    if (!v) return gl_err(GL_EINVAL, "%s: input %d is missing", gl_node_label(n), i);
    if (d->cls == C_POW) {
      if (!(is_flt(v->dtype) || is_sint(v->dtype) || is_uint(v->dtype))) return bad_dtype(n, v->dtype);
    } else if (v->dtype != t) {
      return gl_err(GL_ETYPE, "%s: input '%s' is %s, not %s", gl_node_label(n), v->name,
                    gl_dtype_name(v->dtype), gl_dtype_name(t));
    }
  }
  ew_par_t *p = &s->par;
  if (d->cls == C_MOD && gl_attr_i(n, "fmod", 0)) p->op = OP_FMOD;
  if (d->cls == C_SHIFT) {
    const char *dir = gl_attr_s(n, "direction", "");
    if (!strcmp(dir, "RIGHT")) p->op = OP_SHR;
    else if (strcmp(dir, "LEFT"))
      return gl_err(GL_EINVAL, "%s: direction must be LEFT or RIGHT, not '%s'", gl_node_label(n), dir);
  }
  gl_dtype_t cdt = is_half(t) ? GL_DT_F32 : t;
  s->cdt = cdt;
  if (d->cls == C_POW && is_flt(t)) { /* x^2 (LayerNorm's variance), x^0.5...: a unary loop */
    const gl_value_t *e = gl_in(g, n, 1), *xv = gl_in(g, n, 0);
    int uop = -1;
    if (e->data && gl_shape_numel(&e->shape) == 1 &&
        gl_shape_numel(&xv->shape) == s->n) {
      double ev = gl_tensor_get_f64(e->data, 0);
      uop = ev == 2 ? OP_SQUARE : ev == 3 ? OP_CUBE : ev == 0.5 ? OP_SQRT : ev == 1 ? OP_COPYF
          : ev == -1 ? OP_RECIP : -1;
    }
    if (uop >= 0) {
      p->op = uop;
      GL_TRY(conv_in(s, g, n, 0, cdt));
      GL_TRY(conv_output(s, n, t, cdt));
      s->kind = K_UNARY;
      s->fn = gl_ew_un_tab[dt_slot(cdt)];
      s->isz = s->osz = gl_dtype_size(cdt);
      return GL_OK;
    }
  }
  for (int i = 0; i < s->n_in; i++) GL_TRY(conv_in(s, g, n, i, cdt));
  bool cmp = d->cls == C_LOGIC || d->cls == C_EQ || d->cls == C_CMP;
  gl_dtype_t odt = gl_out(g, n, 0)->dtype;
  if (s->n_in == 1) { /* Sum(x), Max(x)...: a copy */
    s->kind = K_COPY;
    s->nbytes = (size_t)s->n * gl_dtype_size(t);
    return GL_OK;
  }
  size_t csz = gl_dtype_size(cdt);
  GL_TRY(setup_map(s, g, n, csz, cmp ? 1 : csz, false));
  s->fn = cmp ? gl_ew_cmp_tab[dt_slot(cdt)] : gl_ew_bin_tab[dt_slot(cdt)];
  s->scale = d->cls == C_MEAN;
  if (!cmp) GL_TRY(conv_output(s, n, odt, cdt));
  if (t == GL_DT_F32 && s->n_in == 2 && s->n >= EW_DNNL_MIN && !cmp) {
    bool dn;
    GL_TRY(try_dnnl_binary(x, s, &dn));
  }
  return GL_OK;
}

static gl_status_t ew_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const ew_desc_t *d = find_desc(n->op_type);
  if (!d) return gl_err(GL_EUNSUPPORTED, "%s: no elementwise kernel", gl_node_label(n));
  if (n->n_inputs > EW_MAX_IN)
    return gl_err(GL_ELIMIT, "%s: more than %d inputs", gl_node_label(n), EW_MAX_IN);
  const gl_value_t *xv = gl_in(g, n, 0), *y = gl_out(g, n, 0);
  if (!xv || !y) return gl_err(GL_EINVAL, "%s: input 0 and output 0 are required", gl_node_label(n));
  ew_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "%s: no memory", gl_node_label(n));
  k->state = s;
  k->destroy = ew_destroy;
  k->run = ew_run;
  s->n_in = n->n_inputs;
  s->n = gl_shape_numel(&y->shape);
  s->oesz = gl_dtype_size(y->dtype);
  s->par.op = d->op;
  if (xv->dtype == GL_DT_STRING || y->dtype == GL_DT_STRING || dt_slot(xv->dtype) < 0)
    return bad_dtype(n, xv->dtype == GL_DT_STRING || dt_slot(xv->dtype) < 0 ? xv->dtype : y->dtype);
  switch (d->cls) {
    case C_UF: case C_US: case C_UA: case C_CLIP: case C_NOT:
      return prepare_unary(x, g, n, s, d);
    case C_ISX: {
      if (!is_flt(xv->dtype)) return bad_dtype(n, xv->dtype);
      s->par.pos = (int)gl_attr_i(n, "detect_positive", 1);
      s->par.neg = (int)gl_attr_i(n, "detect_negative", 1);
      s->cdt = is_half(xv->dtype) ? GL_DT_F32 : xv->dtype;
      GL_TRY(conv_in(s, g, n, 0, s->cdt));
      s->kind = K_UNARY;
      s->fn = s->cdt == GL_DT_F32 ? gl_ew_isx_f32 : gl_ew_isx_f64;
      s->isz = gl_dtype_size(s->cdt);
      s->osz = 1;
      return GL_OK;
    }
    case C_WHERE: {
      size_t es = gl_dtype_size(y->dtype);
      s->cdt = y->dtype;
      GL_TRY(setup_map(s, g, n, es, es, true));
      s->fn = es == 1 ? gl_ew_where_1 : es == 2 ? gl_ew_where_2 : es == 4 ? gl_ew_where_4 : gl_ew_where_8;
      return GL_OK;
    }
    case C_CAST: case C_CASTLIKE:
      if (xv->dtype == y->dtype) {
        s->kind = K_COPY;
        s->nbytes = (size_t)s->n * s->oesz;
        return GL_OK;
      }
      s->fn = gl_ew_cast_fn(xv->dtype, y->dtype);
      if (!s->fn) return bad_dtype(n, y->dtype);
      s->kind = K_CAST;
      s->isz = gl_dtype_size(xv->dtype);
      s->osz = s->oesz;
      return GL_OK;
    case C_COPY:
      s->kind = K_COPY;
      s->nbytes = (size_t)s->n * s->oesz;
      return GL_OK;
    case C_DROPOUT: {
      s->kind = n->n_outputs > 1 && n->outputs[1] >= 0 ? K_DROPOUT : K_COPY;
      s->nbytes = (size_t)s->n * s->oesz;
      const gl_value_t *r = gl_in(g, n, 1), *tm = gl_in(g, n, 2);
      if (tm && tm->dtype != GL_DT_BOOL) return bad_dtype(n, tm->dtype);
      if (tm && tm->data) {
        /* a ratio known only at run time counts as positive */
        double ratio = r && r->data ? gl_tensor_get_f64(r->data, 0) : 0.5;
        if (gl_tensor_get_i64(tm->data, 0) && ratio > 0)
          return gl_err(GL_EUNSUPPORTED, "%s: training mode is not supported", gl_node_label(n));
      } else if (tm) {
        s->drop_rt = true;
        snprintf(s->label, sizeof s->label, "%s", gl_node_label(n));
        s->drop_ratio_t = r ? r->dtype : GL_DT_F32;
      }
      return GL_OK;
    }
    default:
      return prepare_binary(x, g, n, s, d);
  }
}

const gl_cpu_op_t gl_cpu_ops_elementwise[] = {
    {"Relu", ew_prepare},        {"LeakyRelu", ew_prepare},    {"Elu", ew_prepare},
    {"Selu", ew_prepare},        {"Celu", ew_prepare},         {"ThresholdedRelu", ew_prepare},
    {"Sigmoid", ew_prepare},     {"HardSigmoid", ew_prepare},  {"HardSwish", ew_prepare},
    {"Tanh", ew_prepare},        {"Softplus", ew_prepare},     {"Softsign", ew_prepare},
    {"Erf", ew_prepare},         {"Gelu", ew_prepare},         {"Sqrt", ew_prepare},
    {"Exp", ew_prepare},         {"Log", ew_prepare},          {"Neg", ew_prepare},
    {"Abs", ew_prepare},         {"Reciprocal", ew_prepare},   {"Floor", ew_prepare},
    {"Ceil", ew_prepare},        {"Round", ew_prepare},        {"Sign", ew_prepare},
    {"Sin", ew_prepare},         {"Cos", ew_prepare},          {"Tan", ew_prepare},
    {"Asin", ew_prepare},        {"Acos", ew_prepare},         {"Atan", ew_prepare},
    {"Sinh", ew_prepare},        {"Cosh", ew_prepare},         {"Asinh", ew_prepare},
    {"Acosh", ew_prepare},       {"Atanh", ew_prepare},        {"Shrink", ew_prepare},
    {"Clip", ew_prepare},        {"Not", ew_prepare},          {"IsNaN", ew_prepare},
    {"IsInf", ew_prepare},       {"Add", ew_prepare},          {"Sub", ew_prepare},
    {"Mul", ew_prepare},         {"Div", ew_prepare},          {"Min", ew_prepare},
    {"Max", ew_prepare},         {"Sum", ew_prepare},          {"Mean", ew_prepare},
    {"Pow", ew_prepare},         {"Mod", ew_prepare},          {"BitShift", ew_prepare},
    {"And", ew_prepare},         {"Or", ew_prepare},           {"Xor", ew_prepare},
    {"Equal", ew_prepare},       {"Less", ew_prepare},         {"Greater", ew_prepare},
    {"LessOrEqual", ew_prepare}, {"GreaterOrEqual", ew_prepare}, {"PRelu", ew_prepare},
    {"Where", ew_prepare},       {"Cast", ew_prepare},         {"CastLike", ew_prepare},
    {"Identity", ew_prepare},    {"Dropout", ew_prepare},
    {0},
};
