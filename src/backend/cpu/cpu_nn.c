/* backend/cpu/cpu_nn.c - CPU kernels for the nn op family: Conv, ConvTranspose, Gemm and MatMul
 * on oneDNN primitives (created once in prepare, constant weights prepacked into the layout the
 * primitive prefers, fused activation / residual / bias as post-ops), float pools on oneDNN
 * pooling, norms and the remaining pools (Indices, LpPool, int8, ONNX-only padding rules) as loops.
 *
 * Activation layout of Conv and the oneDNN pools: the plan's layout pass (cpu_plan.c) says per
 * value whether it may stay blocked and which layout a blocked source has (x->lay). A conv takes a
 * blocked source as it is and asks for nChw16c (channels in whole 16-blocks) or oneDNN's choice;
 * its output keeps that layout when the plan allows, else it is reordered to plain NCHW in the
 * kernel. Without a blocked neighbour (folding, plain consumers) a spatial conv still picks its
 * layout that way and reorders in and out; a 1x1 conv stays plain nchw.
 * Measured for that policy with tests/backend's GL_BENCH=1 GL_BENCH_THREADS=1 (CPU time per run,
 * ResNet-50 shapes), GFLOP per CPU-second, any+reorders vs plain:
 *   3x3 64@56, 128@28, 256@14, 512@7: b1  84/70, 113/82, 112/90, 104/84;  b8  87/73, 98/81, 106/87, 102/91
 *   1x1 64->256@56, 256->512@56 s2:   b1  54/85, 62/73;                    b8  31/66, 51/70
 * GL_CONV_LAYOUT=plain|blocked forces one policy, for measuring. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_dnn.h"
#include "core/alloc.h"
#include "graph/nn_geom.h"
#include "graph/ops.h"

/* ======================================================================================
 * oneDNN helpers
 * ====================================================================================== */


static void dmem_fini(gl_dmem_t *m) {
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
gl_status_t gl_dnn_mem_init(gl_dmem_t *m, dnnl_engine_t eng, const dnnl_memory_desc_t *want,
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
static gl_status_t dmem_pack(gl_dmem_t *m, const gl_cpu_exec_t *x, const dnnl_memory_desc_t *want,
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
gl_status_t gl_dnn_plain_md(dnnl_memory_desc_t *md, int r, const int64_t *d) {
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


void gl_dnn_destroy(void *p) {
  gl_dnn_t *s = p;
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

gl_dnn_t *gl_dnn_new(void) {
  gl_dnn_t *s = gl_calloc(1, sizeof *s);
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

gl_status_t gl_dnn_run(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                       void *const *out) {
  const gl_dnn_t *s = k->state;
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
  const float *resid = s->sum_in >= 0 ? in[s->sum_in] : NULL;
  if (s->sum_in >= 0 && !s->manual_post) {
    void *d = s->dst.reorder ? s->dst.buf : out[0];
    if (s->sum.reorder) {
      set_handle(s->sum.user, in[s->sum_in], st);
      GL_TRY(run_reorder(s->sum.reorder, s->sum.user, s->dst.mem, st));
    } else if (in[s->sum_in] != d) {
      memcpy(d, in[s->sum_in], s->dst_bytes);
    }
  } else if (s->sum_in >= 0 && s->sum.reorder) { /* residual into the output's layout */
    set_handle(s->sum.user, in[s->sum_in], st);
    GL_TRY(run_reorder(s->sum.reorder, s->sum.user, s->sum.mem, st));
    resid = s->sum.buf;
  }
  GL_DNNL(dnnl_primitive_execute(s->prim, st, s->n_args, s->args), "running a primitive");
  if (s->dst.reorder) {
    set_handle(s->dst.user, out[0], st);
    GL_TRY(run_reorder(s->dst.reorder, s->dst.mem, s->dst.user, st));
  }
  if (s->manual_post) post_process(out[0], resid, s->dst_numel, s->act, s->act_alpha, s->act_beta);
  return GL_OK;
}

void gl_dnn_add_arg(gl_dnn_t *s, int arg, dnnl_memory_t m) {
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

/* The activation layout a (layout-free) conv asks oneDNN for: nChw16c where channels fill whole
 * blocks (oneDNN 2.6's direct jit convs over it beat its brgconv over nhwc on AVX-512: VGG-16 b1
 * 333 vs 571 ms of conv time), else any (its choice). GL_CONV_TAG=any|nhwc overrides, for
 * measuring. */
static dnnl_format_tag_t conv_tag(int r, int64_t cin, int64_t cout, int64_t group, bool transposed) {
  const char *e = getenv("GL_CONV_TAG");
  if (r != 4 || transposed) return dnnl_format_tag_any;
  if (e && !strcmp(e, "any")) return dnnl_format_tag_any;
  if (e && !strcmp(e, "nhwc")) return dnnl_acdb;
  bool dw = group > 1 && group == cin && group == cout;
  if (cin % 16 == 0 && cout % 16 == 0 && (group == 1 || dw)) return dnnl_aBcd16b;
  return dnnl_format_tag_any;
}

static gl_status_t conv_build(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_dnn_t *s, bool transposed) {
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
  GL_TRY(gl_dnn_plain_md(&x_plain, r, xs->d));
  GL_TRY(gl_dnn_plain_md(&y_plain, r, yv->shape.d));
  /* The source's layout (a blocked producer's, else plain) and whether dst may stay blocked (the
   * plan's layout pass): then the conv takes the source as it is and lets oneDNN pick dst. */
  const dnnl_memory_desc_t *x_lay = gl_cpu_layout_of(x, n->inputs[0]);
  bool y_may = x->lay && x->lay[n->outputs[0]].may_block;
  dnnl_memory_desc_t x_user = x_lay ? *x_lay : x_plain, y_user = y_plain;
  bool blocked = x_lay || y_may || conv_blocked(&geo);
  dnnl_format_tag_t tag = blocked ? conv_tag(r, cin, cout, group, transposed) : dnnl_format_tag_any;
  if (bv) GL_TRY(gl_dnn_plain_md(&b_md, 1, &cout));
  gl_status_t st = GL_OK;
  dnnl_primitive_desc_t pd = NULL;
  /* Layout tries: the preferred tag (or the source's layout), then oneDNN's choice throughout
   * when the first gets only a reference implementation. */
  for (int lt = 0; lt < 2 && !pd && !st; lt++) {
  if (lt == 1) tag = dnnl_format_tag_any;
  if (blocked) {
    dnnl_dims_t xd, yd;
    for (int i = 0; i < r; i++) xd[i] = xs->d[i], yd[i] = yv->shape.d[i];
    GL_DNNL(dnnl_memory_desc_init_by_tag(&x_any, r, xd, dnnl_f32, tag), "src md");
    /* A blocked source already in the wanted layout (or any layout, when oneDNN chooses) is
     * taken as it is. */
    if (x_lay && (tag == dnnl_format_tag_any || dnnl_memory_desc_equal(x_lay, &x_any)) && lt == 0)
      x_any = *x_lay;
    GL_DNNL(dnnl_memory_desc_init_by_tag(&y_any, r, yd, dnnl_f32, tag), "dst md");
  } else {
    x_any = x_plain;
    y_any = y_plain;
  }
  if (bv) GL_TRY(gl_dnn_plain_md(&b_md, 1, &cout));

  /* oneDNN's gemm-based convolution (plain layouts, 1x1) applies post-ops several times slower
   * than the conv itself (ResNet's 64->256@56 1x1 + relu: 5.8 vs 1.1 ms): for it the fused
   * residual and activation run as one pass over the output after the conv instead. */
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
  const char *impl = NULL;
  if (!st && pd && lt == 0 && blocked &&
      dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
      strstr(impl, "ref")) {
    dnnl_primitive_desc_destroy(pd);
    pd = NULL;
  }
  }
  if (st) return gl_err_wrap(st, "%s", gl_node_label(n));
  const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  size_t dst_sz = dnnl_memory_desc_get_size(dst_md);
  st = gl_dnn_mem_init(&s->src, x->engine, src_md, &x_user, false);
  if (gl_cpu_layout_publish(x, n->outputs[0], dst_md)) y_user = *dst_md;
  if (!st) st = gl_dnn_mem_init(&s->dst, x->engine, dst_md, &y_user, true);
  if (!st && wconst) st = dmem_pack(&s->wei, x, wei_md, &w_plain, wv->data->data);
  if (!st && !wconst) {
    st = gl_dnn_mem_init(&s->wei, x->engine, wei_md, &w_plain, false);
    s->wei_in = 1;
  }
  if (!st && bv) {
    if (bv->data) {
      st = dmem_pack(&s->bias, x, &b_md, &b_md, bv->data->data);
    } else {
      st = gl_dnn_mem_init(&s->bias, x->engine, &b_md, &b_md, false);
      s->bias_in = 2;
    }
  }
  if (!st && n->fuse.sum_input >= 0) {
    const gl_value_t *rv = gl_in(g, n, n->fuse.sum_input);
    if (!rv || !gl_shape_eq(&rv->shape, &yv->shape)) {
      st = gl_err(GL_ESHAPE, "%s: the fused residual must have the output's shape", gl_node_label(n));
    } else {
      s->sum_in = n->fuse.sum_input;
      /* The residual goes into dst's layout: the primitive's (sum post-op) or the output's. */
      const dnnl_memory_desc_t *r_lay = gl_cpu_layout_of(x, n->inputs[s->sum_in]);
      dnnl_memory_desc_t r_md = r_lay ? *r_lay : y_plain;
      if (s->manual_post) {
        if (!dnnl_memory_desc_equal(&r_md, &y_user))
          st = gl_dnn_mem_init(&s->sum, x->engine, &y_user, &r_md, false);
      } else if (!dnnl_memory_desc_equal(&r_md, dst_md)) {
        st = gl_dnnl_check(dnnl_memory_create(&s->sum.user, &r_md, x->engine, DNNL_MEMORY_NONE),
                           "creating a memory");
        if (!st) st = make_reorder(x->engine, s->sum.user, s->dst.mem, &s->sum.reorder);
      }
    }
  }
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a convolution");
  dnnl_primitive_desc_destroy(pd);
  if (st) return st;
  s->dst_bytes = dst_sz;
  s->dst_numel = (int64_t)(dnnl_memory_desc_get_size(&y_user) / sizeof(float));
  s->act = n->fuse.act;
  s->act_alpha = n->fuse.alpha;
  s->act_beta = n->fuse.beta;
  gl_dnn_add_arg(s, DNNL_ARG_SRC, s->src.mem);
  gl_dnn_add_arg(s, DNNL_ARG_WEIGHTS, s->wei.mem);
  if (bv) gl_dnn_add_arg(s, DNNL_ARG_BIAS, s->bias.mem);
  gl_dnn_add_arg(s, DNNL_ARG_DST, s->dst.mem);
  return GL_OK;
}

static gl_status_t conv_prepare_common(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                       const gl_node_t *n, gl_cpu_kernel_t *k, bool transposed) {
  gl_dnn_t *s = gl_dnn_new();
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = conv_build(x, g, n, s, transposed);
  if (st) {
    gl_dnn_destroy(s);
    return st;
  }
  k->state = s;
  k->destroy = gl_dnn_destroy;
  k->run = gl_dnn_run;
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
  return gl_dnn_plain_md(md, r, d);
}

static gl_status_t mm_build(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                            gl_dnn_t *s) {
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
  GL_TRY(gl_dnn_plain_md(&a_dense, r, ad));
  GL_DNNL(dnnl_memory_desc_init_by_strides(&b_plain, r, bdd, dnnl_f32, bst), "weights md");
  GL_TRY(gl_dnn_plain_md(&y_md, r, yd));
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
    st = full_shape ? gl_dnn_plain_md(&src1_md[n_bin], r, yd) : bcast_md(&src1_md[n_bin], r, &bins[b]->shape);
    if (!st)
      st = gl_dnnl_check(dnnl_post_ops_append_binary(po, dnnl_binary_add, &src1_md[n_bin]),
                         "appending a binary post-op");
    if (!st) {
      if (!handle) s->src1_in[n_bin] = b == 0 ? 2 : n->fuse.sum_input;
      st = gl_dnnl_check(dnnl_memory_create(&s->src1[n_bin], &src1_md[n_bin], x->engine, handle),
                         "creating a memory");
      gl_dnn_add_arg(s, DNNL_ARG_ATTR_MULTIPLE_POST_OP(n_po) | DNNL_ARG_SRC_1, s->src1[n_bin]);
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
      st = gl_dnn_mem_init(&s->wei, x->engine, wmd, &b_plain, false);
      s->wei_in = 1;
    }
  }
  gl_free(bscaled);
  if (!st) st = gl_dnn_mem_init(&s->src, x->engine, &a_dense, &a_md, false);
  if (!st) st = gl_dnn_mem_init(&s->dst, x->engine, &y_md, &y_md, true);
  if (!st && use_bias)
    st = gl_dnnl_check(dnnl_memory_create(&s->bias.mem, &bias_md, x->engine, s->const_bias),
                       "creating a memory");
  if (!st) st = gl_dnnl_check(dnnl_primitive_create(&s->prim, pd), "creating a matmul");
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (st) return gl_err_wrap(st, "%s", gl_node_label(n));
  gl_dnn_add_arg(s, DNNL_ARG_SRC, s->src.mem);
  gl_dnn_add_arg(s, DNNL_ARG_WEIGHTS, s->wei.mem);
  if (use_bias) gl_dnn_add_arg(s, DNNL_ARG_BIAS, s->bias.mem);
  gl_dnn_add_arg(s, DNNL_ARG_DST, s->dst.mem);
  return GL_OK;
}

static gl_status_t mm_prepare(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                              gl_cpu_kernel_t *k) {
  gl_dnn_t *s = gl_dnn_new();
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = mm_build(x, g, n, s);
  if (st) {
    gl_dnn_destroy(s);
    return st;
  }
  k->state = s;
  k->destroy = gl_dnn_destroy;
  k->run = gl_dnn_run;
  return GL_OK;
}

const gl_cpu_op_t gl_cpu_ops_nn[] = {
    {"Conv", conv_prepare},
    {"ConvTranspose", convt_prepare},
    {"Gemm", mm_prepare},
    {"MatMul", mm_prepare},
    {0},
};
