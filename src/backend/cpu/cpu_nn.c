/* backend/cpu/cpu_nn.c - CPU kernels for the nn op family: Conv, ConvTranspose, Gemm and MatMul
 * on oneDNN primitives (created once in prepare, constant weights prepacked into the layout the
 * primitive prefers, fused activation / residual / bias as post-ops), float pools on oneDNN
 * pooling, norms and the remaining pools (Indices, LpPool, int8, ONNX-only padding rules) as loops.
 *
 * Activation layout of Conv: the plan hands plain NCHW buffers. A conv with a spatial kernel
 * is created with format_tag_any for src/dst and reorders in/out inside the kernel when oneDNN
 * picks another layout (on the AVX-512 dev box: nhwc, brgconv); a 1x1 conv stays plain nchw.
 * Measured with tests/backend's GL_BENCH=1 GL_BENCH_THREADS=1 (CPU time per run, so that the
 * shared box's load counts less; ResNet-50 shapes), GFLOP per CPU-second, any+reorders vs plain:
 *   3x3 64@56, 128@28, 256@14, 512@7: b1  84/70, 113/82, 112/90, 104/84;  b8  87/73, 98/81, 106/87, 102/91
 *   1x1 64->256@56, 256->512@56 s2:   b1  54/85, 62/73;                    b8  31/66, 51/70
 * GL_CONV_LAYOUT=plain|blocked forces one policy, for measuring. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "graph/nn_geom.h"
#include "graph/ops.h"

/* ======================================================================================
 * oneDNN helpers
 * ====================================================================================== */

/* Memory the primitive reads or writes, plus when its layout is not plain, the plain user view
 * and the reorder between them (user->mem for inputs, mem->user for outputs). */
typedef struct {
  dnnl_memory_t mem;
  dnnl_memory_t user;
  dnnl_primitive_t reorder;
  void *buf; /* gl_aligned_alloc'd storage of mem when owned */
} dmem_t;

static void dmem_fini(dmem_t *m) {
  if (m->reorder) dnnl_primitive_destroy(m->reorder);
  if (m->user) dnnl_memory_destroy(m->user);
  if (m->mem) dnnl_memory_destroy(m->mem);
  gl_aligned_free(m->buf);
  memset(m, 0, sizeof *m);
}

static gl_status_t make_reorder(dnnl_engine_t eng, dnnl_memory_t from, dnnl_memory_t to,
                                dnnl_primitive_t *out) {
  const dnnl_memory_desc_t *fmd, *tmd;
  dnnl_memory_get_memory_desc(from, &fmd);
  dnnl_memory_get_memory_desc(to, &tmd);
  dnnl_primitive_desc_t pd;
  GL_DNNL(dnnl_reorder_primitive_desc_create(&pd, fmd, eng, tmd, eng, NULL), "creating a reorder");
  dnnl_status_t s = dnnl_primitive_create(out, pd);
  dnnl_primitive_desc_destroy(pd);
  return gl_dnnl_check(s, "creating a reorder");
}

static gl_status_t run_reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to,
                               dnnl_stream_t st) {
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return gl_dnnl_check(dnnl_primitive_execute(r, st, 2, a), "running a reorder");
}

/* Sets m up for the primitive's layout want; plain is the layout the plan's buffers have.
 * is_out: the reorder goes mem -> user. */
static gl_status_t dmem_init(dmem_t *m, dnnl_engine_t eng, const dnnl_memory_desc_t *want,
                             const dnnl_memory_desc_t *plain, bool is_out) {
  if (dnnl_memory_desc_equal(want, plain)) {
    GL_DNNL(dnnl_memory_create(&m->mem, plain, eng, DNNL_MEMORY_NONE), "creating a memory");
    return GL_OK;
  }
  size_t sz = dnnl_memory_desc_get_size(want);
  m->buf = gl_aligned_alloc(sz ? sz : 64);
  if (!m->buf) return gl_err(GL_ENOMEM, "out of memory for a %zu-byte layout buffer", sz);
  GL_DNNL(dnnl_memory_create(&m->mem, want, eng, m->buf), "creating a memory");
  GL_DNNL(dnnl_memory_create(&m->user, plain, eng, DNNL_MEMORY_NONE), "creating a memory");
  return is_out ? make_reorder(eng, m->mem, m->user, &m->reorder)
                : make_reorder(eng, m->user, m->mem, &m->reorder);
}

/* Packs constant data (plain layout) into an owned buffer in layout want. */
static gl_status_t dmem_pack(dmem_t *m, const gl_cpu_exec_t *x, const dnnl_memory_desc_t *want,
                             const dnnl_memory_desc_t *plain, const void *data) {
  size_t sz = dnnl_memory_desc_get_size(want);
  m->buf = gl_aligned_alloc(sz ? sz : 64);
  if (!m->buf) return gl_err(GL_ENOMEM, "out of memory packing weights (%zu bytes)", sz);
  GL_DNNL(dnnl_memory_create(&m->mem, want, x->engine, m->buf), "creating a memory");
  if (dnnl_memory_desc_equal(want, plain)) {
    memcpy(m->buf, data, sz);
    return GL_OK;
  }
  dnnl_memory_t tmp;
  GL_DNNL(dnnl_memory_create(&tmp, plain, x->engine, (void *)data), "creating a memory");
  dnnl_primitive_t r = NULL;
  gl_status_t st = make_reorder(x->engine, tmp, m->mem, &r);
  if (!st) st = run_reorder(r, tmp, m->mem, x->stream);
  if (!st) st = gl_dnnl_check(dnnl_stream_wait(x->stream), "packing weights");
  if (r) dnnl_primitive_destroy(r);
  dnnl_memory_destroy(tmp);
  return st;
}

static void set_handle(dnnl_memory_t m, void *p, dnnl_stream_t s) {
  dnnl_memory_set_data_handle_v2(m, p, s);
}

/* Row-major plain md of rank r with dims d. */
static gl_status_t plain_md(dnnl_memory_desc_t *md, int r, const int64_t *d) {
  dnnl_dims_t dims, str;
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    dims[i] = d[i];
    str[i] = acc;
    acc *= d[i] > 0 ? d[i] : 1;
  }
  GL_DNNL(dnnl_memory_desc_init_by_strides(md, r, dims, dnnl_f32, str), "describing a tensor");
  return GL_OK;
}

/* State of every oneDNN-backed kernel (conv, deconv, matmul, gemm). */
typedef struct {
  dnnl_primitive_t prim;
  dmem_t src, wei, bias, dst, sum;
  dnnl_memory_t src1[2];  /* binary post-op operands (runtime, plain) */
  int src1_in[2];         /* the node input each comes from */
  int wei_in, bias_in;    /* >= 0: weights / bias are runtime inputs at this index */
  int sum_in;             /* >= 0: residual input to copy/reorder into dst (sum post-op) */
  bool manual_post;       /* residual and activation applied by a loop after the primitive */
  gl_act_t act;
  float act_alpha, act_beta;
  int64_t dst_numel;
  size_t dst_bytes;
  void *const_bias;       /* owned plain bias (scaled copy) when bias comes from a constant */
  void *const_c;          /* owned beta*C for a constant C added by a binary post-op */
  dnnl_exec_arg_t args[8];
  int n_args;
} dnn_t;

static void dnn_destroy(void *p) {
  dnn_t *s = p;
  if (!s) return;
  if (s->prim) dnnl_primitive_destroy(s->prim);
  dmem_fini(&s->src);
  dmem_fini(&s->wei);
  dmem_fini(&s->bias);
  dmem_fini(&s->dst);
  dmem_fini(&s->sum);
  for (int i = 0; i < 2; i++)
    if (s->src1[i]) dnnl_memory_destroy(s->src1[i]);
  gl_aligned_free(s->const_bias);
  gl_aligned_free(s->const_c);
  gl_free(s);
}

static dnn_t *dnn_new(void) {
  dnn_t *s = gl_calloc(1, sizeof *s);
  if (!s) return NULL;
  s->wei_in = s->bias_in = s->sum_in = -1;
  s->src1_in[0] = s->src1_in[1] = -1;
  return s;
}

/* y = act(y + r) in one parallel pass over cache-sized chunks (r may be NULL); ReLU and Clip
 * (the common ones) as SIMD loops. */
static void post_process(float *y, const float *r, int64_t n, gl_act_t act, float a, float b) {
  const int64_t chunk = 8192;
  int64_t nch = (n + chunk - 1) / chunk;
  if (act == GL_ACT_RELU) a = 0.f, b = INFINITY;
  bool clip = act == GL_ACT_RELU || act == GL_ACT_CLIP;
#pragma omp parallel for if (nch > 1)
  for (int64_t c = 0; c < nch; c++) {
    int64_t lo = c * chunk, hi = lo + chunk < n ? lo + chunk : n;
    if (clip && r) {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) {
        float v = y[i] + r[i];
        v = v < a ? a : v;
        y[i] = v > b ? b : v;
      }
    } else if (clip) {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) {
        float v = y[i] < a ? a : y[i];
        y[i] = v > b ? b : v;
      }
    } else {
      if (r) {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) y[i] += r[i];
      }
      gl_cpu_apply_act(y + lo, hi - lo, act, a, b);
    }
  }
}

static gl_status_t dnn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const dnn_t *s = k->state;
  dnnl_stream_t st = x->stream;
  if (s->src.reorder) {
    set_handle(s->src.user, in[0], st);
    GL_TRY(run_reorder(s->src.reorder, s->src.user, s->src.mem, st));
  } else {
    set_handle(s->src.mem, in[0], st);
  }
  if (s->wei_in >= 0) {
    if (s->wei.reorder) {
      set_handle(s->wei.user, in[s->wei_in], st);
      GL_TRY(run_reorder(s->wei.reorder, s->wei.user, s->wei.mem, st));
    } else {
      set_handle(s->wei.mem, in[s->wei_in], st);
    }
  }
  if (s->bias_in >= 0) set_handle(s->bias.mem, in[s->bias_in], st);
  for (int i = 0; i < 2; i++)
    if (s->src1_in[i] >= 0) set_handle(s->src1[i], in[s->src1_in[i]], st);
  if (!s->dst.reorder) set_handle(s->dst.mem, out[0], st);
  if (s->sum_in >= 0 && !s->manual_post) {
    if (s->dst.reorder) {
      set_handle(s->sum.user, in[s->sum_in], st);
      GL_TRY(run_reorder(s->sum.reorder, s->sum.user, s->dst.mem, st));
    } else if (in[s->sum_in] != out[0]) {
      memcpy(out[0], in[s->sum_in], s->dst_bytes);
    }
  }
  GL_DNNL(dnnl_primitive_execute(s->prim, st, s->n_args, s->args), "running a primitive");
  if (s->dst.reorder) {
    set_handle(s->dst.user, out[0], st);
    GL_TRY(run_reorder(s->dst.reorder, s->dst.mem, s->dst.user, st));
  }
  if (s->manual_post)
    post_process(out[0], s->sum_in >= 0 ? in[s->sum_in] : NULL, s->dst_numel, s->act,
                 s->act_alpha, s->act_beta);
  return GL_OK;
}

static void add_arg(dnn_t *s, int arg, dnnl_memory_t m) {
  s->args[s->n_args++] = (dnnl_exec_arg_t){arg, m};
}

/* Creates the primitive from an op desc; owns nothing on failure besides what s holds. */
static gl_status_t make_pd(const void *desc, dnnl_post_ops_t po, const float *scale,
                           dnnl_engine_t eng, dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t attr;
  GL_DNNL(dnnl_primitive_attr_create(&attr), "creating attributes");
  dnnl_status_t s = dnnl_primitive_attr_set_post_ops(attr, po);
  if (s == dnnl_success && scale) s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, scale);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, desc, attr, eng, NULL);
  dnnl_primitive_attr_destroy(attr);
  return gl_dnnl_check(s, "creating a primitive");
}

/* ======================================================================================
 * Conv and ConvTranspose
 * ====================================================================================== */

/* Whether the conv lets oneDNN choose its activation layout (see the file comment): yes for
 * spatial kernels, no for 1x1 (a plain GEMM over nchw, where the two reorders cost more than
 * they gain). GL_CONV_LAYOUT=plain|blocked overrides, for measuring. */
static bool conv_blocked(const gl_nn_geom_t *geo) {
  const char *e = getenv("GL_CONV_LAYOUT");
  if (e && !strcmp(e, "plain")) return false;
  if (e && !strcmp(e, "blocked")) return true;
  for (int i = 0; i < geo->nsp; i++)
    if (geo->k[i] != 1) return true;
  return false;
}

static gl_status_t conv_build(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              dnn_t *s, bool transposed) {
  const gl_value_t *xv = gl_in(g, n, 0), *wv = gl_in(g, n, 1), *yv = gl_out(g, n, 0);
  const gl_value_t *bv = gl_in(g, n, 2);
  if (n->fuse.sum_input == 2) bv = NULL;
  const gl_shape_t *xs = &xv->shape, *ws = &wv->shape;
  int64_t group = gl_attr_i(n, "group", 1);
  gl_nn_geom_t geo;
  GL_TRY(gl_nn_geom(n, xs, &ws->d[2], transposed ? GL_GEOM_CONV_T : GL_GEOM_CONV, &geo));
  int nsp = geo.nsp, r = xs->rank;
  if (nsp > 3) return gl_err(GL_EUNSUPPORTED, "%s: more than 3 spatial dims", gl_node_label(n));
  dnnl_dims_t strides, dil, pl, pr;
  for (int i = 0; i < nsp; i++) {
    strides[i] = geo.s[i];
    dil[i] = geo.d[i] - 1;
    pl[i] = geo.pb[i];
    pr[i] = geo.pe[i];
    /* A deconvolution's output may extend up to stride-1 past the last window (output_padding,
     * or a negative end pad from output_shape): oneDNN accepts it with the end pad at 0. */
    if (transposed && pr[i] < 0 && geo.opad[i] - pr[i] < geo.s[i]) pr[i] = 0;
    if (pl[i] < 0 || pr[i] < 0)
      return gl_err(GL_EUNSUPPORTED, "%s: negative padding (output_shape larger than the full output)",
                    gl_node_label(n));
  }
  int64_t cin = xs->d[1], cout = yv->shape.d[1];
  /* Weights: oneDNN's logical dims are [G,] OC/G, IC/G, k...; strides give the ONNX layout. */
  int64_t kprod = 1;
  for (int i = 0; i < nsp; i++) kprod *= geo.k[i];
  dnnl_dims_t wd, wst;
  int wr = 0;
  int64_t ocg = cout / group, icg = cin / group;
  if (group > 1) wd[wr++] = group;
  wd[wr++] = ocg;
  wd[wr++] = icg;
  for (int i = 0; i < nsp; i++) wd[wr + i] = geo.k[i];
  {
    int64_t acc = 1;
    for (int i = nsp - 1; i >= 0; i--) {
      wst[wr + i] = acc;
      acc *= geo.k[i];
    }
    int o = group > 1 ? 1 : 0;
    if (!transposed) { /* ONNX [M, C/G, k]: o-major then i */
      wst[o + 1] = kprod;
      wst[o] = icg * kprod;
      if (group > 1) wst[0] = ocg * icg * kprod;
    } else { /* ONNX [C, M/G, k] with C = G*(C/G): i-major then o */
      wst[o] = kprod;
      wst[o + 1] = ocg * kprod;
      if (group > 1) wst[0] = icg * ocg * kprod;
    }
  }
  wr += nsp;
  dnnl_memory_desc_t w_plain, w_any, x_plain, y_plain, x_any, y_any, b_md;
  GL_DNNL(dnnl_memory_desc_init_by_strides(&w_plain, wr, wd, dnnl_f32, wst), "weights md");
  bool wconst = wv->data != NULL;
  if (wconst) GL_DNNL(dnnl_memory_desc_init_by_tag(&w_any, wr, wd, dnnl_f32, dnnl_format_tag_any), "weights md");
  else w_any = w_plain;
  GL_TRY(plain_md(&x_plain, r, xs->d));
  GL_TRY(plain_md(&y_plain, r, yv->shape.d));
  bool blocked = conv_blocked(&geo);
  if (blocked) {
    dnnl_dims_t xd, yd;
    for (int i = 0; i < r; i++) xd[i] = xs->d[i], yd[i] = yv->shape.d[i];
    GL_DNNL(dnnl_memory_desc_init_by_tag(&x_any, r, xd, dnnl_f32, dnnl_format_tag_any), "src md");
    GL_DNNL(dnnl_memory_desc_init_by_tag(&y_any, r, yd, dnnl_f32, dnnl_format_tag_any), "dst md");
  } else {
    x_any = x_plain;
    y_any = y_plain;
  }
  if (bv) GL_TRY(plain_md(&b_md, 1, &cout));

  /* oneDNN's gemm-based convolution (plain layouts, 1x1) applies post-ops several times slower
   * than the conv itself (ResNet's 64->256@56 1x1 + relu: 5.8 vs 1.1 ms): for it the fused
   * residual and activation run as one pass over the output after the conv instead. */
  gl_status_t st = GL_OK;
  dnnl_primitive_desc_t pd = NULL;
  bool has_post = n->fuse.sum_input >= 0 || n->fuse.act != GL_ACT_NONE;
  for (int attempt = 0; attempt < 2 && !st && !pd; attempt++) {
    bool with_post = attempt == 0 && has_post;
    if (attempt == 1 && !has_post) break;
    dnnl_post_ops_t po;
    GL_DNNL(dnnl_post_ops_create(&po), "creating post-ops");
    if (with_post && n->fuse.sum_input >= 0)
      st = gl_dnnl_check(dnnl_post_ops_append_sum(po, 1.0f), "appending a sum post-op");
    if (with_post && !st) st = gl_cpu_post_ops_act(po, n->fuse.act, n->fuse.alpha, n->fuse.beta);
    dnnl_status_t ds = dnnl_success;
    if (!st) {
      if (transposed) {
        dnnl_deconvolution_desc_t d;
        ds = dnnl_dilated_deconvolution_forward_desc_init(&d, dnnl_forward_inference,
                                                          dnnl_deconvolution_direct, &x_any, &w_any,
                                                          bv ? &b_md : NULL, &y_any, strides, dil, pl, pr);
        if (ds == dnnl_success) st = make_pd(&d, po, NULL, x->engine, &pd);
      } else {
        dnnl_convolution_desc_t d;
        ds = dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_inference,
                                                        dnnl_convolution_direct, &x_any, &w_any,
                                                        bv ? &b_md : NULL, &y_any, strides, dil, pl, pr);
        if (ds == dnnl_success) st = make_pd(&d, po, NULL, x->engine, &pd);
      }
      if (ds != dnnl_success) st = gl_dnnl_check(ds, "describing a convolution");
    }
    dnnl_post_ops_destroy(po);
    const char *impl = NULL;
    if (!st && with_post &&
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        strstr(impl, "gemm")) {
      dnnl_primitive_desc_destroy(pd);
      pd = NULL;
    }
    s->manual_post = !st && pd && has_post && !with_post;
  }
  if (st) return gl_err_wrap(st, "%s", gl_node_label(n));
  const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  st = dmem_init(&s->src, x->engine, src_md, &x_plain, false);
  if (!st) st = dmem_init(&s->dst, x->engine, dst_md, &y_plain, true);
  if (!st && wconst) st = dmem_pack(&s->wei, x, wei_md, &w_plain, wv->data->data);
  if (!st && !wconst) {
    st = dmem_init(&s->wei, x->engine, wei_md, &w_plain, false);
    s->wei_in = 1;
  }
  if (!st && bv) {
    if (bv->data) {
      st = dmem_pack(&s->bias, x, &b_md, &b_md, bv->data->data);
    } else {
      st = dmem_init(&s->bias, x->engine, &b_md, &b_md, false);
      s->bias_in = 2;
    }
  }
  if (!st && n->fuse.sum_input >= 0) {
    const gl_value_t *rv = gl_in(g, n, n->fuse.sum_input);
    if (!rv || !gl_shape_eq(&rv->shape, &yv->shape)) {
      st = gl_err(GL_ESHAPE, "%s: the fused residual must have the output's shape", gl_node_label(n));
    } else {
      s->sum_in = n->fuse.sum_input;
      if (s->dst.reorder && !s->manual_post) {
        st = gl_dnnl_check(dnnl_memory_create(&s->sum.user, &y_plain, x->engine, DNNL_MEMORY_NONE),
                           "creating a memory");
        if (!st) st = make_reorder(x->engine, s->sum.user, s->dst.mem, &s->sum.reorder);
      }
    }
  }
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a convolution");
  dnnl_primitive_desc_destroy(pd);
  if (st) return st;
  s->dst_bytes = (size_t)gl_shape_numel(&yv->shape) * sizeof(float);
  s->dst_numel = gl_shape_numel(&yv->shape);
  s->act = n->fuse.act;
  s->act_alpha = n->fuse.alpha;
  s->act_beta = n->fuse.beta;
  add_arg(s, DNNL_ARG_SRC, s->src.mem);
  add_arg(s, DNNL_ARG_WEIGHTS, s->wei.mem);
  if (bv) add_arg(s, DNNL_ARG_BIAS, s->bias.mem);
  add_arg(s, DNNL_ARG_DST, s->dst.mem);
  return GL_OK;
}

static gl_status_t conv_prepare_common(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                       const gl_node_t *n, gl_cpu_kernel_t *k, bool transposed) {
  dnn_t *s = dnn_new();
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = conv_build(x, g, n, s, transposed);
  if (st) {
    dnn_destroy(s);
    return st;
  }
  k->state = s;
  k->destroy = dnn_destroy;
  k->run = dnn_run;
  return GL_OK;
}

static gl_status_t conv_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                gl_cpu_kernel_t *k) {
  return conv_prepare_common(x, g, n, k, false);
}

static gl_status_t convt_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  return conv_prepare_common(x, g, n, k, true);
}

/* ======================================================================================
 * Gemm and MatMul on dnnl_matmul
 * ====================================================================================== */

/* A binary-add operand broadcast against dst dims (rank r): its shape right-aligned. */
static gl_status_t bcast_md(dnnl_memory_desc_t *md, int r, const gl_shape_t *s) {
  int64_t d[GL_MAX_RANK + 2];
  for (int i = 0; i < r; i++) d[i] = 1;
  for (int i = 0; i < s->rank && i < r; i++) d[r - 1 - i] = s->d[s->rank - 1 - i];
  return plain_md(md, r, d);
}

static gl_status_t mm_build(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                            dnn_t *s) {
  bool gemm = !strcmp(n->op_type, "Gemm");
  const gl_value_t *av = gl_in(g, n, 0), *bv = gl_in(g, n, 1), *yv = gl_out(g, n, 0);
  const gl_value_t *cv = gemm && n->fuse.sum_input != 2 ? gl_in(g, n, 2) : NULL;
  const gl_value_t *rv = n->fuse.sum_input >= 0 ? gl_in(g, n, n->fuse.sum_input) : NULL;
  float alpha = gemm ? gl_attr_f(n, "alpha", 1.f) : 1.f;
  float beta = gemm ? gl_attr_f(n, "beta", 1.f) : 1.f;
  if (cv && beta == 0.f) cv = NULL;
  /* Logical dims of A [.., M, K], B [.., K, N], Y [.., M, N] at a common rank r, and strides. */
  int64_t ad[GL_MAX_RANK + 2] = {0}, bd[GL_MAX_RANK + 2] = {0}, yd[GL_MAX_RANK + 2] = {0};
  dnnl_dims_t ast, bst;
  int r;
  if (gemm) {
    bool ta = gl_attr_i(n, "transA", 0), tb = gl_attr_i(n, "transB", 0);
    r = 2;
    int64_t m = yv->shape.d[0], nn = yv->shape.d[1];
    int64_t kk = ta ? av->shape.d[0] : av->shape.d[1];
    ad[0] = m, ad[1] = kk, bd[0] = kk, bd[1] = nn, yd[0] = m, yd[1] = nn;
    ast[0] = ta ? 1 : kk, ast[1] = ta ? m : 1;
    bst[0] = tb ? 1 : nn, bst[1] = tb ? kk : 1;
  } else {
    gl_shape_t a = av->shape, b = bv->shape;
    if (a.rank == 1) a = (gl_shape_t){2, {1, a.d[0]}};
    if (b.rank == 1) b = (gl_shape_t){2, {b.d[0], 1}};
    r = a.rank > b.rank ? a.rank : b.rank;
    for (int i = 0; i < r; i++) {
      int ia = i - (r - a.rank), ib = i - (r - b.rank);
      ad[i] = ia >= 0 ? a.d[ia] : 1;
      bd[i] = ib >= 0 ? b.d[ib] : 1;
      yd[i] = ad[i] > bd[i] ? ad[i] : bd[i];
    }
    yd[r - 2] = ad[r - 2];
    yd[r - 1] = bd[r - 1];
    /* B shared by every batch: one [batch*M, K] x [K, N] product is faster. */
    bool b2d = true;
    for (int i = 0; i < r - 2; i++)
      if (bd[i] != 1) b2d = false;
    bool r_ok = !rv || gl_shape_numel(&rv->shape) == yd[r - 1] ||
                gl_shape_numel(&rv->shape) == gl_shape_numel(&yv->shape);
    if (r > 2 && b2d && r_ok) {
      int64_t rows = 1;
      for (int i = 0; i < r - 1; i++) rows *= ad[i];
      ad[0] = rows, ad[1] = ad[r - 1];
      bd[0] = bd[r - 2], bd[1] = bd[r - 1];
      yd[0] = rows, yd[1] = yd[r - 1];
      r = 2;
    }
    if (r > DNNL_MAX_NDIMS) return gl_err(GL_EUNSUPPORTED, "%s: rank %d", gl_node_label(n), r);
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) ast[i] = acc, acc *= ad[i];
    acc = 1;
    for (int i = r - 1; i >= 0; i--) bst[i] = acc, acc *= bd[i];
  }
  dnnl_dims_t add, bdd;
  for (int i = 0; i < r; i++) add[i] = ad[i], bdd[i] = bd[i];
  dnnl_memory_desc_t a_md, a_dense, b_plain, b_any, y_md, bias_md;
  GL_DNNL(dnnl_memory_desc_init_by_strides(&a_md, r, add, dnnl_f32, ast), "src md");
  /* A transposed A only gets oneDNN's reference matmul: reorder it to row-major first. */
  GL_TRY(plain_md(&a_dense, r, ad));
  GL_DNNL(dnnl_memory_desc_init_by_strides(&b_plain, r, bdd, dnnl_f32, bst), "weights md");
  GL_TRY(plain_md(&y_md, r, yd));
  bool bconst = bv->data != NULL;
  if (bconst) GL_DNNL(dnnl_memory_desc_init_by_tag(&b_any, r, bdd, dnnl_f32, dnnl_format_tag_any), "weights md");
  else b_any = b_plain;

  /* alpha: folded into constant B, else an output scale. A runtime C with beta != 1 is added as
   * beta * (alpha/beta * A*B + C): output scale alpha/beta, binary add, one linear post-op (a
   * chain with two linear post-ops computes wrong results in oneDNN 2.6's brgemm matmul). */
  bool c_runtime = cv && !cv->data;
  float *bscaled = NULL;
  float scale_v = alpha;
  const float *scale = NULL;
  if (c_runtime && beta != 1.f) {
    scale_v = alpha / beta;
    scale = &scale_v;
  } else if (alpha != 1.f) {
    if (bconst) {
      int64_t nb = gl_shape_numel(&bv->shape);
      bscaled = gl_malloc(sizeof(float) * (size_t)(nb ? nb : 1));
      if (!bscaled) return gl_err(GL_ENOMEM, "out of memory");
      const float *src = bv->data->data;
      for (int64_t i = 0; i < nb; i++) bscaled[i] = alpha * src[i];
    } else {
      scale = &scale_v;
    }
  }
  /* Bias: beta*C when constant (native bias), or a constant bias-shaped residual for MatMul. */
  bool use_bias = false;
  const gl_value_t *bias_src = NULL;
  float bias_mul = 1.f;
  /* (a bias broadcast over rows only: [M, 1] or [M, N] get oneDNN's reference matmul) */
  bool c_bias = cv && cv->data && cv->shape.rank >= 1 &&
                gl_shape_numel(&cv->shape) == yd[r - 1] && cv->shape.d[cv->shape.rank - 1] == yd[r - 1];
  if (!scale && c_bias) {
    bias_src = cv, bias_mul = beta;
  } else if (!scale && !cv && rv && rv->data && rv->shape.rank >= 1 &&
             gl_shape_numel(&rv->shape) == yd[r - 1] && rv->shape.d[rv->shape.rank - 1] == yd[r - 1]) {
    bias_src = rv;
  }
  gl_status_t st = GL_OK;
  if (bias_src) {
    use_bias = true;
    st = bcast_md(&bias_md, r, &bias_src->shape);
    int64_t nbias = gl_shape_numel(&bias_src->shape);
    s->const_bias = gl_aligned_alloc(sizeof(float) * (size_t)(nbias ? nbias : 1));
    if (!s->const_bias) st = gl_err(GL_ENOMEM, "out of memory");
    for (int64_t i = 0; !st && i < nbias; i++)
      ((float *)s->const_bias)[i] = bias_mul * ((const float *)bias_src->data->data)[i];
  }
  /* Post-ops: [C via binary add] [residual via binary add] [activation]. */
  dnnl_post_ops_t po = NULL;
  if (!st) st = gl_dnnl_check(dnnl_post_ops_create(&po), "creating post-ops");
  int n_po = 0, n_bin = 0;
  dnnl_memory_desc_t src1_md[2];
  const gl_value_t *bins[2] = {cv && bias_src != cv ? cv : NULL, rv && bias_src != rv ? rv : NULL};
  for (int b = 0; b < 2 && !st; b++) {
    if (!bins[b]) continue;
    float mul = b == 0 ? beta : 1.f;
    void *handle = DNNL_MEMORY_NONE;
    if (bins[b]->data) { /* a constant: pre-scaled copy, no runtime pointer */
      if (s->const_c) {
        st = gl_err(GL_EUNSUPPORTED, "%s: two constant addends", gl_node_label(n));
        break;
      }
      /* Expanded to the full output (a row-broadcast operand gets the reference matmul). */
      gl_shape_t full = {r, {0}};
      memcpy(full.d, yd, sizeof(int64_t) * (size_t)r);
      int64_t nc = gl_shape_numel(&full);
      float *cc = s->const_c = gl_aligned_alloc(sizeof(float) * (size_t)(nc ? nc : 1));
      if (!cc) {
        st = gl_err(GL_ENOMEM, "out of memory");
        break;
      }
      const gl_shape_t *cs = &bins[b]->shape;
      const float *cd = bins[b]->data->data;
      int64_t c_rows = r == 2 && cs->rank == 2 ? cs->d[0] : 1, c_cols = cs->rank ? cs->d[cs->rank - 1] : 1;
      if (r == 2 && cs->rank <= 2) {
        for (int64_t i = 0; i < yd[0]; i++)
          for (int64_t j = 0; j < yd[1]; j++)
            cc[i * yd[1] + j] = mul * cd[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
      } else if (gl_shape_numel(cs) == nc) {
        for (int64_t i = 0; i < nc; i++) cc[i] = mul * cd[i];
      } else {
        st = gl_err(GL_EUNSUPPORTED, "%s: constant addend shape", gl_node_label(n));
        break;
      }
      handle = cc;
      mul = 1.f;
    }
    bool full_shape = handle || gl_shape_numel(&bins[b]->shape) == gl_shape_numel(&yv->shape);
    st = full_shape ? plain_md(&src1_md[n_bin], r, yd) : bcast_md(&src1_md[n_bin], r, &bins[b]->shape);
    if (!st)
      st = gl_dnnl_check(dnnl_post_ops_append_binary(po, dnnl_binary_add, &src1_md[n_bin]),
                         "appending a binary post-op");
    if (!st) {
      if (!handle) s->src1_in[n_bin] = b == 0 ? 2 : n->fuse.sum_input;
      st = gl_dnnl_check(dnnl_memory_create(&s->src1[n_bin], &src1_md[n_bin], x->engine, handle),
                         "creating a memory");
      add_arg(s, DNNL_ARG_ATTR_MULTIPLE_POST_OP(n_po) | DNNL_ARG_SRC_1, s->src1[n_bin]);
      n_po++, n_bin++;
    }
    if (!st && mul != 1.f)
      st = gl_dnnl_check(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, mul, 0.f),
                         "appending a post-op"), n_po++;
  }
  /* HardSigmoid's post-op is a linear one too: after beta's linear it runs as a loop instead. */
  bool linear_used = bins[0] && !bins[0]->data && beta != 1.f;
  if (linear_used && n->fuse.act == GL_ACT_HARD_SIGMOID) {
    s->manual_post = true;
    s->act = n->fuse.act;
    s->act_alpha = n->fuse.alpha;
    s->act_beta = n->fuse.beta;
    s->dst_numel = gl_shape_numel(&yv->shape);
  } else if (!st) {
    st = gl_cpu_post_ops_act(po, n->fuse.act, n->fuse.alpha, n->fuse.beta);
  }
  dnnl_primitive_desc_t pd = NULL;
  if (!st) {
    dnnl_matmul_desc_t d;
    st = gl_dnnl_check(dnnl_matmul_desc_init(&d, &a_dense, &b_any, use_bias ? &bias_md : NULL, &y_md),
                       "describing a matmul");
    if (!st) st = make_pd(&d, po, scale, x->engine, &pd);
  }
  if (po) dnnl_post_ops_destroy(po);
  if (!st) {
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (bconst) {
      st = dmem_pack(&s->wei, x, wmd, &b_plain, bscaled ? bscaled : bv->data->data);
    } else {
      st = dmem_init(&s->wei, x->engine, wmd, &b_plain, false);
      s->wei_in = 1;
    }
  }
  gl_free(bscaled);
  if (!st) st = dmem_init(&s->src, x->engine, &a_dense, &a_md, false);
  if (!st) st = dmem_init(&s->dst, x->engine, &y_md, &y_md, true);
  if (!st && use_bias)
    st = gl_dnnl_check(dnnl_memory_create(&s->bias.mem, &bias_md, x->engine, s->const_bias),
                       "creating a memory");
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a matmul");
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (st) return gl_err_wrap(st, "%s", gl_node_label(n));
  add_arg(s, DNNL_ARG_SRC, s->src.mem);
  add_arg(s, DNNL_ARG_WEIGHTS, s->wei.mem);
  if (use_bias) add_arg(s, DNNL_ARG_BIAS, s->bias.mem);
  add_arg(s, DNNL_ARG_DST, s->dst.mem);
  return GL_OK;
}

static gl_status_t mm_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  dnn_t *s = dnn_new();
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = mm_build(x, g, n, s);
  if (st) {
    dnn_destroy(s);
    return st;
  }
  k->state = s;
  k->destroy = dnn_destroy;
  k->run = dnn_run;
  return GL_OK;
}

/* ======================================================================================
 * Normalisations (plain loops)
 * ====================================================================================== */

typedef struct {
  int64_t outer, ch, inner; /* x viewed as [outer, ch, inner] */
  float eps;
  float *a, *b;             /* per-channel scale and shift (BN), computed at prepare or run */
  bool params_const;
} bn_t;

static void bn_params(bn_t *s, const float *sc, const float *bi, const float *mean,
                      const float *var) {
  for (int64_t c = 0; c < s->ch; c++) {
    float a = sc[c] / sqrtf(var[c] + s->eps);
    s->a[c] = a;
    s->b[c] = bi[c] - mean[c] * a;
  }
}

static gl_status_t bn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                          void *const *out) {
  bn_t *s = k->state;
  if (!s->params_const) bn_params(s, in[1], in[2], in[3], in[4]);
  const float *xs = in[0];
  float *y = out[0];
  int64_t planes = s->outer * s->ch, inner = s->inner, ch = s->ch;
#pragma omp parallel for if (planes * inner > 32768)
  for (int64_t p = 0; p < planes; p++) {
    float a = s->a[p % ch], b = s->b[p % ch];
    const float *xp = xs + p * inner;
    float *yp = y + p * inner;
    for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
  }
  return GL_OK;
}

static gl_status_t bn_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  bn_t *s = gl_calloc(1, sizeof *s + sizeof(float) * 2 * (size_t)xs->d[1]);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->outer = xs->d[0];
  s->ch = xs->d[1];
  s->inner = 1;
  for (int d = 2; d < xs->rank; d++) s->inner *= xs->d[d];
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  s->a = (float *)(s + 1);
  s->b = s->a + s->ch;
  s->params_const = true;
  for (int i = 1; i < 5; i++)
    if (!gl_in(g, n, i)->data) s->params_const = false;
  if (s->params_const)
    bn_params(s, gl_in(g, n, 1)->data->data, gl_in(g, n, 2)->data->data,
              gl_in(g, n, 3)->data->data, gl_in(g, n, 4)->data->data);
  k->state = s;
  k->run = bn_run;
  return GL_OK;
}

typedef struct {
  int64_t outer, ch, inner;
  float eps;
} inorm_t;

static gl_status_t inorm_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const inorm_t *s = k->state;
  const float *xs = in[0], *sc = in[1], *bi = in[2];
  float *y = out[0];
  int64_t planes = s->outer * s->ch, inner = s->inner;
#pragma omp parallel for if (planes * inner > 32768)
  for (int64_t p = 0; p < planes; p++) {
    const float *xp = xs + p * inner;
    float *yp = y + p * inner;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < inner; i++) sum += xp[i];
    double mean = sum / (double)inner;
    for (int64_t i = 0; i < inner; i++) sq += (xp[i] - mean) * (xp[i] - mean);
    float inv = 1.f / sqrtf((float)(sq / (double)inner) + s->eps);
    float a = sc[p % s->ch] * inv, b = bi[p % s->ch] - (float)mean * a;
    for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
  }
  return GL_OK;
}

static gl_status_t inorm_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  inorm_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->outer = xs->d[0];
  s->ch = xs->d[1];
  s->inner = 1;
  for (int d = 2; d < xs->rank; d++) s->inner *= xs->d[d];
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  k->state = s;
  k->run = inorm_run;
  return GL_OK;
}

/* Broadcast index map: for each of the inner elements, the offset into a parameter whose shape
 * right-aligns against the inner dims. */
static void bcast_index(const gl_shape_t *inner, const gl_shape_t *p, int64_t *idx) {
  int64_t n = gl_shape_numel(inner);
  int64_t pst[GL_MAX_RANK];
  gl_shape_strides(p, pst);
  for (int64_t i = 0; i < n; i++) {
    int64_t rem = i, off = 0;
    for (int d = inner->rank - 1; d >= 0; d--) {
      int64_t c = rem % inner->d[d];
      rem /= inner->d[d];
      int pd = d - (inner->rank - p->rank);
      if (pd >= 0 && p->d[pd] != 1) off += c * pst[pd];
    }
    idx[i] = off;
  }
}

typedef struct {
  int64_t outer, inner;
  float eps;
  bool has_b;
  float *scale, *bias; /* expanded to inner elements */
  int64_t *sidx, *bidx;
} lnorm_t;

static gl_status_t lnorm_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                             void *const *out) {
  const lnorm_t *s = k->state;
  const float *sc = in[1], *bi = in[2];
  for (int64_t i = 0; i < s->inner; i++) {
    s->scale[i] = sc[s->sidx[i]];
    s->bias[i] = s->has_b ? bi[s->bidx[i]] : 0.f;
  }
  const float *xs = in[0];
  float *y = out[0], *mo = out[1], *io = out[2];
  int64_t inner = s->inner;
#pragma omp parallel for if (s->outer * inner > 32768)
  for (int64_t o = 0; o < s->outer; o++) {
    const float *xp = xs + o * inner;
    float *yp = y + o * inner;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < inner; i++) sum += xp[i];
    float mean = (float)(sum / (double)inner);
    for (int64_t i = 0; i < inner; i++) sq += (double)(xp[i] - mean) * (xp[i] - mean);
    float inv = 1.f / sqrtf((float)(sq / (double)inner) + s->eps);
    for (int64_t i = 0; i < inner; i++) yp[i] = (xp[i] - mean) * inv * s->scale[i] + s->bias[i];
    if (mo) mo[o] = mean;
    if (io) io[o] = inv;
  }
  return GL_OK;
}

static void lnorm_destroy(void *p) { gl_free(p); }

static gl_status_t lnorm_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                 gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  int axis;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", -1), xs->rank, &axis));
  gl_shape_t inner = {xs->rank - axis, {0}};
  memcpy(inner.d, &xs->d[axis], sizeof(int64_t) * (size_t)inner.rank);
  int64_t ni = gl_shape_numel(&inner);
  size_t bytes = sizeof(lnorm_t) + (size_t)(ni ? ni : 1) * (2 * sizeof(float) + 2 * sizeof(int64_t));
  lnorm_t *s = gl_calloc(1, bytes);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->inner = ni;
  s->outer = gl_shape_numel(xs) / (ni ? ni : 1);
  s->eps = gl_attr_f(n, "epsilon", 1e-5f);
  s->sidx = (int64_t *)(s + 1);
  s->bidx = s->sidx + ni;
  s->scale = (float *)(s->bidx + ni);
  s->bias = s->scale + ni;
  bcast_index(&inner, &gl_in(g, n, 1)->shape, s->sidx);
  s->has_b = gl_in(g, n, 2) != NULL;
  if (s->has_b) bcast_index(&inner, &gl_in(g, n, 2)->shape, s->bidx);
  k->state = s;
  k->destroy = lnorm_destroy;
  k->run = lnorm_run;
  return GL_OK;
}

typedef struct {
  int64_t n, c, inner, size;
  float alpha, beta, bias;
} lrn_t;

static gl_status_t lrn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const lrn_t *s = k->state;
  const float *xs = in[0];
  float *y = out[0];
  int64_t lo = (s->size - 1) / 2, hi = s->size - 1 - lo, inner = s->inner;
  float am = s->alpha / (float)s->size;
#pragma omp parallel for if (s->n * s->c * inner > 32768)
  for (int64_t p = 0; p < s->n * s->c; p++) {
    int64_t b = p / s->c, c = p % s->c;
    int64_t c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi >= s->c ? s->c - 1 : c + hi;
    for (int64_t i = 0; i < inner; i++) {
      float sq = 0;
      for (int64_t cc = c0; cc <= c1; cc++) {
        float v = xs[(b * s->c + cc) * inner + i];
        sq += v * v;
      }
      y[p * inner + i] = xs[p * inner + i] / powf(s->bias + am * sq, s->beta);
    }
  }
  return GL_OK;
}

static gl_status_t lrn_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  lrn_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->n = xs->d[0];
  s->c = xs->d[1];
  s->inner = 1;
  for (int d = 2; d < xs->rank; d++) s->inner *= xs->d[d];
  s->size = gl_attr_i(n, "size", 1);
  s->alpha = gl_attr_f(n, "alpha", 1e-4f);
  s->beta = gl_attr_f(n, "beta", 0.75f);
  s->bias = gl_attr_f(n, "bias", 1.f);
  k->state = s;
  k->run = lrn_run;
  return GL_OK;
}

/* ======================================================================================
 * Pools (plain loops over N*C planes, up to 3 spatial dims)
 * ====================================================================================== */

typedef enum { POOL_MAX, POOL_AVG, POOL_LP } pool_kind_t;

typedef struct {
  pool_kind_t kind;
  gl_dtype_t dtype;
  int64_t planes;
  int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3]; /* padded to 3 dims (leading 1s) */
  bool count_pad, col_major, has_ind;
  float p;
} pool_t;

/* Window taps j (input index st + j*d) with lo_b <= index < hi_b: j in [*lo, *hi). */
static void tap_range(int64_t st, int64_t d, int64_t k, int64_t lo_b, int64_t hi_b, int64_t *lo,
                      int64_t *hi) {
  int64_t a, b;
  if (d == 1) { /* the common case, without divisions */
    a = st >= lo_b ? 0 : lo_b - st;
    b = st >= hi_b ? 0 : hi_b - st;
  } else {
    a = st >= lo_b ? 0 : (lo_b - st + d - 1) / d;
    b = st >= hi_b ? 0 : (hi_b - st + d - 1) / d;
  }
  if (b > k) b = k;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

/* Element i of a pool input (float, or uint8/int8 for MaxPool); the dtype branch is uniform. */
static inline float pool_ld(gl_dtype_t t, const void *x, int64_t i) {
  if (t == GL_DT_F32) return ((const float *)x)[i];
  if (t == GL_DT_U8) return ((const uint8_t *)x)[i];
  return ((const int8_t *)x)[i];
}

static gl_status_t pool_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                            void *const *out) {
  /* A local copy: stores through the int64 Indices output could otherwise alias the state. */
  const pool_t S = *(const pool_t *)k->state;
  const gl_dtype_t dt = S.dtype;
  const size_t esz = gl_dtype_size(dt);
  int64_t *ind = S.has_ind ? out[1] : NULL;
  int64_t isz = S.in[0] * S.in[1] * S.in[2], osz = S.out[0] * S.out[1] * S.out[2];
#pragma omp parallel for if (S.planes * osz > 4096)
  for (int64_t p = 0; p < S.planes; p++) {
    const char *xp = (const char *)in[0] + (size_t)(p * isz) * esz;
    for (int64_t o0 = 0; o0 < S.out[0]; o0++)
      for (int64_t o1 = 0; o1 < S.out[1]; o1++)
        for (int64_t o2 = 0; o2 < S.out[2]; o2++) {
          int64_t st[3] = {o0 * S.s[0] - S.pb[0], o1 * S.s[1] - S.pb[1], o2 * S.s[2] - S.pb[2]};
          int64_t lo[3], hi[3], cntpad = 1;
          for (int d = 0; d < 3; d++) {
            int64_t plo, phi;
            tap_range(st[d], S.d[d], S.k[d], -S.pb[d], S.in[d] + S.pe[d], &plo, &phi);
            cntpad *= phi - plo;
            tap_range(st[d], S.d[d], S.k[d], 0, S.in[d], &lo[d], &hi[d]);
          }
          float best = -INFINITY, acc = 0;
          int64_t arg = -1, cnt = (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
          for (int64_t j0 = lo[0]; j0 < hi[0]; j0++) {
            int64_t i0 = st[0] + j0 * S.d[0];
            for (int64_t j1 = lo[1]; j1 < hi[1]; j1++) {
              int64_t row = (i0 * S.in[1] + st[1] + j1 * S.d[1]) * S.in[2] + st[2];
              if (S.kind == POOL_MAX) {
                for (int64_t j2 = lo[2]; j2 < hi[2]; j2++) {
                  int64_t off = row + j2 * S.d[2];
                  float v = pool_ld(dt, xp, off);
                  if (v > best || arg < 0) best = v, arg = off;
                }
              } else if (S.kind == POOL_AVG) {
                for (int64_t j2 = lo[2]; j2 < hi[2]; j2++) acc += pool_ld(dt, xp, row + j2 * S.d[2]);
              } else {
                for (int64_t j2 = lo[2]; j2 < hi[2]; j2++)
                  acc += powf(fabsf(pool_ld(dt, xp, row + j2 * S.d[2])), S.p);
              }
            }
          }
          int64_t oi = p * osz + (o0 * S.out[1] + o1) * S.out[2] + o2;
          if (S.kind == POOL_MAX) {
            if (dt == GL_DT_F32) ((float *)out[0])[oi] = best;
            else if (dt == GL_DT_U8) ((uint8_t *)out[0])[oi] = (uint8_t)best;
            else ((int8_t *)out[0])[oi] = (int8_t)best;
            if (ind) {
              if (S.col_major && arg >= 0) /* 2-D only: (h, w) -> w * H + h */
                arg = (arg % S.in[2]) * S.in[1] + arg / S.in[2];
              ind[oi] = p * isz + (arg < 0 ? 0 : arg);
            }
          } else if (S.kind == POOL_AVG) {
            int64_t div = S.count_pad ? cntpad : cnt;
            ((float *)out[0])[oi] = div ? acc / (float)div : 0.f;
          } else {
            ((float *)out[0])[oi] = powf(acc, 1.f / S.p);
          }
        }
  }
  return GL_OK;
}

/* A float MaxPool/AveragePool (no Indices) as a oneDNN pooling over plain layouts; GL_EUNSUPPORTED
 * when ONNX's semantics differ from oneDNN's (an average including the padding over a ceil_mode
 * window that extends past the end padding), so the caller keeps the loop. */
static gl_status_t pool_dnnl(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                             const pool_t *p, int nsp, dnn_t *s) {
  int off = 3 - nsp;
  dnnl_dims_t st, kk, dil, pl, pr;
  for (int i = 0; i < nsp; i++) {
    int j = off + i;
    int64_t ek = (p->k[j] - 1) * p->d[j] + 1;
    st[i] = p->s[j], kk[i] = p->k[j], dil[i] = p->d[j] - 1, pl[i] = p->pb[j];
    pr[i] = (p->out[j] - 1) * p->s[j] + ek - p->in[j] - p->pb[j];
    if (pr[i] < 0 || pl[i] >= ek || pr[i] >= ek) return GL_EUNSUPPORTED;
    if (p->kind == POOL_AVG && p->count_pad && pr[i] > p->pe[j]) return GL_EUNSUPPORTED;
  }
  const gl_value_t *xv = gl_in(g, n, 0), *yv = gl_out(g, n, 0);
  dnnl_memory_desc_t xmd, ymd;
  GL_TRY(plain_md(&xmd, xv->shape.rank, xv->shape.d));
  GL_TRY(plain_md(&ymd, yv->shape.rank, yv->shape.d));
  dnnl_alg_kind_t alg = p->kind == POOL_MAX ? dnnl_pooling_max
                        : p->count_pad       ? dnnl_pooling_avg_include_padding
                                             : dnnl_pooling_avg_exclude_padding;
  dnnl_pooling_v2_desc_t d;
  if (dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &xmd, &ymd, st, kk, dil,
                                        pl, pr) != dnnl_success)
    return GL_EUNSUPPORTED;
  dnnl_primitive_desc_t pd;
  if (dnnl_primitive_desc_create(&pd, &d, NULL, x->engine, NULL) != dnnl_success)
    return GL_EUNSUPPORTED;
  gl_status_t rc = dmem_init(&s->src, x->engine, &xmd, &xmd, false);
  if (!rc) rc = dmem_init(&s->dst, x->engine, &ymd, &ymd, true);
  if (!rc) rc = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a pooling");
  dnnl_primitive_desc_destroy(pd);
  if (rc) return rc == GL_EUNSUPPORTED ? GL_EBACKEND : rc;
  add_arg(s, DNNL_ARG_SRC, s->src.mem);
  add_arg(s, DNNL_ARG_DST, s->dst.mem);
  return GL_OK;
}

static gl_status_t pool_prepare_kind(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                     gl_cpu_kernel_t *k, pool_kind_t kind, bool global) {
  const gl_shape_t *xs = &gl_in(g, n, 0)->shape;
  int nsp = xs->rank - 2;
  if (nsp < 1 || nsp > 3)
    return gl_err(GL_EUNSUPPORTED, "%s: %d spatial dims (1 to 3 supported)", gl_node_label(n), nsp);
  pool_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->kind = kind;
  s->dtype = gl_in(g, n, 0)->dtype;
  s->planes = xs->d[0] * xs->d[1];
  for (int i = 0; i < 3; i++) s->in[i] = s->k[i] = s->s[i] = s->d[i] = s->out[i] = 1;
  int off = 3 - nsp;
  if (global) {
    for (int i = 0; i < nsp; i++) s->in[off + i] = s->k[off + i] = xs->d[2 + i];
  } else {
    gl_nn_geom_t geo;
    gl_status_t st = gl_nn_geom(n, xs, NULL, GL_GEOM_POOL, &geo);
    if (st) {
      gl_free(s);
      return st;
    }
    for (int i = 0; i < nsp; i++) {
      s->in[off + i] = geo.in[i];
      s->k[off + i] = geo.k[i];
      s->s[off + i] = geo.s[i];
      s->d[off + i] = geo.d[i];
      s->pb[off + i] = geo.pb[i];
      s->pe[off + i] = geo.pe[i];
      s->out[off + i] = geo.out[i];
    }
  }
  s->count_pad = gl_attr_i(n, "count_include_pad", 0) != 0;
  s->col_major = gl_attr_i(n, "storage_order", 0) != 0;
  s->has_ind = kind == POOL_MAX && n->n_outputs > 1 && n->outputs[1] >= 0;
  const gl_attr_t *pa = gl_attr(n, "p");
  s->p = pa ? (pa->type == GL_ATTR_FLOAT ? pa->f : (float)pa->i) : 2.f;
  if (s->dtype == GL_DT_F32 && kind != POOL_LP && !s->has_ind && !getenv("GL_POOL_LOOP")) {
    dnn_t *d = dnn_new();
    if (!d) {
      gl_free(s);
      return gl_err(GL_ENOMEM, "out of memory");
    }
    gl_status_t st = pool_dnnl(x, g, n, s, nsp, d);
    if (st == GL_OK) {
      gl_free(s);
      k->state = d;
      k->destroy = dnn_destroy;
      k->run = dnn_run;
      return GL_OK;
    }
    dnn_destroy(d);
    if (st != GL_EUNSUPPORTED) {
      gl_free(s);
      return st;
    }
  }
  k->state = s;
  k->run = pool_run;
  return GL_OK;
}

static gl_status_t maxpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                   gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_MAX, false);
}
static gl_status_t avgpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                   gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_AVG, false);
}
static gl_status_t lppool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                  gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_LP, false);
}
static gl_status_t gavgpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_AVG, true);
}
static gl_status_t gmaxpool_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  return pool_prepare_kind(x, g, n, k, POOL_MAX, true);
}

const gl_cpu_op_t gl_cpu_ops_nn[] = {
    {"Conv", conv_prepare},
    {"ConvTranspose", convt_prepare},
    {"Gemm", mm_prepare},
    {"MatMul", mm_prepare},
    {"BatchNormalization", bn_prepare},
    {"InstanceNormalization", inorm_prepare},
    {"LayerNormalization", lnorm_prepare},
    {"LRN", lrn_prepare},
    {"MaxPool", maxpool_prepare},
    {"AveragePool", avgpool_prepare},
    {"LpPool", lppool_prepare},
    {"GlobalAveragePool", gavgpool_prepare},
    {"GlobalMaxPool", gmaxpool_prepare},
    {0},
};
