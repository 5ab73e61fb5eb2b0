/* backend/cuda_support.c - the CUDA kernels' limits, checked on the host, and the cuDNN algorithm
 * cache file (see cuda_support.h). */
#include "backend/cuda_support.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cuda/cuda_optable.h"
#include "core/alloc.h"
#include "graph/nn_geom.h"
#include "graph/ops.h"
#include "graph/ops_tensor.h"

#define NO(...) gl_err(GL_EUNSUPPORTED, __VA_ARGS__)

static const gl_value_t *in_at(const gl_graph_t *g, const gl_node_t *n, int i) {
  return i < n->n_inputs && n->inputs[i] >= 0 ? &g->values[n->inputs[i]] : NULL;
}
static const gl_value_t *out_at(const gl_graph_t *g, const gl_node_t *n, int i) {
  return i < n->n_outputs && n->outputs[i] >= 0 ? &g->values[n->outputs[i]] : NULL;
}
static bool is(const gl_node_t *n, const char *op) { return !strcmp(n->op_type, op); }

static gl_status_t check_window(const gl_graph_t *g, const gl_node_t *n, bool conv) {
  const gl_value_t *x = in_at(g, n, 0), *y = out_at(g, n, 0);
  const char *L = gl_node_label(n);
  if (x->dtype != GL_DT_F32) return NO("%s: float only on CUDA", L);
  if (x->shape.rank < 3) return NO("%s: input of rank %d on CUDA", L, x->shape.rank);
  if (!gl_shape_numel(&x->shape) || !y || !gl_shape_numel(&y->shape)) return NO("%s: empty tensors on CUDA", L);
  if (gl_shape_numel(&x->shape) > INT32_MAX || gl_shape_numel(&y->shape) > INT32_MAX)
    return NO("%s: a tensor of more than 2^31 elements on cuDNN", L);
  if (!strncmp(n->op_type, "Global", 6)) return GL_OK;
  gl_nn_geom_t geo;
  const gl_value_t *w = conv ? in_at(g, n, 1) : NULL;
  if (conv && (!w || w->dtype != GL_DT_F32)) return NO("%s: float weights only on CUDA", L);
  GL_TRY(gl_nn_geom(n, &x->shape, conv ? &w->shape.d[2] : NULL, conv ? GL_GEOM_CONV : GL_GEOM_POOL, &geo));
  /* Pools with asymmetric padding, ceil_mode or dilation run on gpulet's own kernel (up to 3
   * spatial dims); convolutions need cuDNN's symmetric padding. */
  bool plain = true;
  for (int d = 0; d < geo.nsp; d++) {
    int64_t ek = (geo.k[d] - 1) * geo.d[d] + 1;
    plain = plain && geo.pb[d] == geo.pe[d] && (conv || geo.d[d] == 1) &&
            geo.out[d] == (geo.in[d] + geo.pb[d] + geo.pe[d] - ek) / geo.s[d] + 1;
  }
  if (conv && !plain) return NO("%s: asymmetric padding in a convolution on CUDA", L);
  if (!conv && !plain && (geo.nsp > 3 || is(n, "LRN"))) return NO("%s: this pooling geometry on CUDA", L);
  if (!conv && n->n_outputs > 1 && n->outputs[1] >= 0) return NO("%s: MaxPool indices on CUDA", L);
  return GL_OK;
}

static gl_status_t check_matmul(const gl_graph_t *g, const gl_node_t *n) {
  const gl_value_t *a = in_at(g, n, 0), *b = in_at(g, n, 1), *y = out_at(g, n, 0);
  const char *L = gl_node_label(n);
  if (a->dtype != GL_DT_F32 || b->dtype != GL_DT_F32) return NO("%s: float only on CUDA", L);
  int64_t m, k, nn, batch = 1;
  if (is(n, "Gemm")) {
    if (a->shape.rank != 2 || b->shape.rank != 2) return NO("%s: Gemm operands must be 2-D", L);
    bool ta = gl_attr_i(n, "transA", 0) != 0, tb = gl_attr_i(n, "transB", 0) != 0;
    m = ta ? a->shape.d[1] : a->shape.d[0];
    k = ta ? a->shape.d[0] : a->shape.d[1];
    nn = tb ? b->shape.d[0] : b->shape.d[1];
    if (in_at(g, n, 2) && n->fuse.sum_input != 2 && gl_attr_f(n, "beta", 1.f) != 1.f)
      return NO("%s: Gemm beta other than 1 on CUDA", L);
  } else {
    if (a->shape.rank < 2 || b->shape.rank < 2) return NO("%s: 1-D MatMul operands on CUDA", L);
    m = a->shape.d[a->shape.rank - 2];
    k = a->shape.d[a->shape.rank - 1];
    nn = b->shape.d[b->shape.rank - 1];
    if (!m || !k || !nn) return NO("%s: empty MatMul operands on CUDA", L);
    int64_t ba = gl_shape_numel(&a->shape) / (m * k), bb = gl_shape_numel(&b->shape) / (k * nn);
    int64_t by = gl_shape_numel(&y->shape) / (m * nn);
    if (bb == 1) m *= ba;
    else if ((ba == by || ba == 1) && bb == by) batch = by;
    else return NO("%s: MatMul batch broadcasting of this kind on CUDA", L);
  }
  if (m > INT32_MAX || k > INT32_MAX || nn > INT32_MAX || batch > INT32_MAX)
    return NO("%s: a matrix dimension above 2^31 on cuBLAS", L);
  return GL_OK;
}

gl_status_t gl_cuda_node_supported(const gl_graph_t *g, const gl_node_t *n) {
  const char *L = gl_node_label(n);
  if (!gl_cuda_has_op(n->op_type)) return NO("%s: the CUDA backend has no kernel for op '%s'", L, n->op_type);
  if (!gl_cuda_node_dtypes_ok(g, n))
    return NO("%s: the CUDA backend computes float tensors only (integers and booleans only move "
              "through Gather, Cast, Where and the copy ops)", L);
  for (int i = 0; i < n->n_inputs; i++)
    if (in_at(g, n, i) && in_at(g, n, i)->shape.rank > GL_MAX_RANK) return NO("%s: rank above 8 on CUDA", L);
  const gl_value_t *x = in_at(g, n, 0);
  if (!x) return NO("%s: no first input", L);
  if (is(n, "Conv")) return check_window(g, n, true);
  if (is(n, "MaxPool") || is(n, "AveragePool") || is(n, "GlobalAveragePool") || is(n, "GlobalMaxPool"))
    return check_window(g, n, false);
  if (is(n, "LRN")) {
    int64_t size = gl_attr_i(n, "size", 1);
    if (size < 1 || size > 16) return NO("%s: LRN size %lld outside cuDNN's 1..16", L, (long long)size);
    return check_window(g, n, false);
  }
  if (is(n, "Gemm") || is(n, "MatMul")) return check_matmul(g, n);
  if (is(n, "Softmax") || is(n, "LogSoftmax") || is(n, "LayerNormalization")) {
    bool ln = is(n, "LayerNormalization");
    int axis;
    GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", ln ? -1 : (g->opset < 13 ? 1 : -1)), x->shape.rank, &axis));
    if (x->dtype != GL_DT_F32) return NO("%s: float only on CUDA", L);
    if (!ln && g->opset >= 13 && axis != x->shape.rank - 1) return NO("%s: softmax over a non-last axis on CUDA", L);
    if (ln) {
      if (out_at(g, n, 1) || out_at(g, n, 2)) return NO("%s: Mean/InvStdDev outputs on CUDA", L);
      int64_t len = 1;
      for (int d = axis; d < x->shape.rank; d++) len *= x->shape.d[d];
      if (gl_shape_numel(&in_at(g, n, 1)->shape) != len || (in_at(g, n, 2) && gl_shape_numel(&in_at(g, n, 2)->shape) != len))
        return NO("%s: broadcast scale/bias on CUDA", L);
    }
    return GL_OK;
  }
  if (is(n, "BatchNormalization")) {
    if (out_at(g, n, 1)) return NO("%s: training outputs on CUDA", L);
    return x->dtype == GL_DT_F32 ? GL_OK : NO("%s: float only on CUDA", L);
  }
  if (is(n, "Add") || is(n, "Sub") || is(n, "Mul") || is(n, "Div") || is(n, "Pow") || is(n, "Min") ||
      is(n, "Max") || is(n, "PRelu") || is(n, "Sum")) {
    if (n->n_inputs != 2 || !in_at(g, n, 1)) return NO("%s: CUDA takes exactly two inputs here", L);
    if (x->dtype != GL_DT_F32 || in_at(g, n, 1)->dtype != GL_DT_F32) return NO("%s: float only on CUDA", L);
    return GL_OK;
  }
  if (is(n, "Clip")) {
    if ((in_at(g, n, 1) && !in_at(g, n, 1)->data) || (in_at(g, n, 2) && !in_at(g, n, 2)->data))
      return NO("%s: computed clip bounds are not supported on CUDA", L);
  }
  if (is(n, "Dropout") && out_at(g, n, 1)) return NO("%s: Dropout's mask output on CUDA", L);
  if (is(n, "Concat") && n->n_inputs > 64) return NO("%s: more than 64 inputs on CUDA", L);
  if (is(n, "Split") && n->n_outputs > 64) return NO("%s: more than 64 outputs on CUDA", L);
  if (is(n, "Pad")) {
    gl_pad_params_t pp;
    GL_TRY(gl_pad_params(g, n, &pp));
    if (pp.mode != GL_PAD_CONSTANT) return NO("%s: only constant Pad on CUDA", L);
    if (x->dtype != GL_DT_F32 && x->dtype != GL_DT_I64) return NO("%s: Pad of %s on CUDA", L, gl_dtype_name(x->dtype));
    if (pp.value_input && !in_at(g, n, 2)->data) return NO("%s: a computed pad value on CUDA", L);
  }
  if (is(n, "Cast")) {
    gl_dtype_t from = x->dtype, to = out_at(g, n, 0)->dtype;
    bool f_ok = from == GL_DT_F32 || from == GL_DT_I64 || from == GL_DT_I32 || from == GL_DT_BOOL;
    bool t_ok = to == GL_DT_F32 || to == GL_DT_I64 || to == GL_DT_I32 || to == GL_DT_BOOL;
    if (!f_ok || !t_ok)
      return NO("%s: Cast from %s to %s on CUDA", L, gl_dtype_name(from), gl_dtype_name(to));
  }
  if (is(n, "Slice")) {
    gl_slice_params_t sp;
    GL_TRY(gl_slice_params(g, n, &sp));
  }
  if (is(n, "Resize")) {
    gl_resize_params_t rp;
    GL_TRY(gl_resize_params(g, n, &rp));
    if (x->dtype != GL_DT_F32) return NO("%s: Resize of %s on CUDA", L, gl_dtype_name(x->dtype));
    if (rp.mode != GL_RESIZE_NEAREST && rp.mode != GL_RESIZE_LINEAR) return NO("%s: cubic Resize on CUDA", L);
    if (rp.rank < 1 || rp.rank > GL_MAX_RANK) return NO("%s: Resize of rank %d on CUDA", L, rp.rank);
  }
  if (is(n, "Where")) {
    size_t esz = gl_dtype_size(out_at(g, n, 0)->dtype);
    if (x->dtype != GL_DT_BOOL || (esz != 4 && esz != 8)) return NO("%s: Where of this type on CUDA", L);
  }
  if (is(n, "Gather")) {
    size_t esz = gl_dtype_size(x->dtype);
    gl_dtype_t it = in_at(g, n, 1)->dtype;
    if ((esz != 1 && esz != 4 && esz != 8) || (it != GL_DT_I64 && it != GL_DT_I32))
      return NO("%s: CUDA gathers 1-, 4- or 8-byte data with int32/int64 indices", L);
  }
  if (is(n, "ReduceMean") || is(n, "ReduceSum")) {
    if (x->dtype != GL_DT_F32) return NO("%s: float only on CUDA", L);
    const gl_value_t *av = in_at(g, n, 1);
    if (av && !av->data) return NO("%s: computed axes on CUDA", L);
    int cnt = 0;
    if (!gl_attr_ints(n, "axes", &cnt) && !(av && gl_shape_numel(&av->shape)) && gl_attr_i(n, "noop_with_empty_axes", 0))
      return NO("%s: no-op reduce on CUDA", L);
  }
  if (is(n, "Concat") || is(n, "Slice") || is(n, "Transpose") || is(n, "Expand") || is(n, "Tile") || is(n, "Split")) {
    size_t esz = gl_dtype_size(x->dtype);
    if (esz != 1 && esz != 2 && esz != 4 && esz != 8) return NO("%s: %zu-byte elements on CUDA", L, esz);
    if (is(n, "Concat") && esz == 2) return NO("%s: 2-byte elements in Concat on CUDA", L);
  }
  return GL_OK;
}

/* ---- the conv algorithm cache: $GPULET_CACHE/cudnn_algos.txt (else ~/.cache/gpulet/...), one
 * "algo workspace key" line per measured convolution; read once, appended as choices are made. */
typedef struct algo_ent {
  char *key;
  int algo;
  size_t ws;
  struct algo_ent *next;
} algo_ent_t;
static algo_ent_t *algo_list;
static bool algo_loaded;
static pthread_mutex_t algo_mu = PTHREAD_MUTEX_INITIALIZER;


static bool algo_path(char *buf, size_t cap, bool make_dirs) {
  const char *dir = getenv("GPULET_CACHE");
  char tmp[1024];
  if (!dir || !dir[0]) {
    const char *home = getenv("HOME");
    if (!home || !home[0]) return false;
    snprintf(tmp, sizeof tmp, "%s/.cache", home);
    if (make_dirs) mkdir(tmp, 0755);
    snprintf(tmp, sizeof tmp, "%s/.cache/gpulet", home);
    dir = tmp;
  }
  if (make_dirs) mkdir(dir, 0755);
  return snprintf(buf, cap, "%s/cudnn_algos.txt", dir) < (int)cap;
}

static void algo_add(const char *key, int algo, size_t ws) {
  algo_ent_t *e = gl_calloc(1, sizeof *e);
  char *k = gl_strdup(key);
  if (!e || !k) {
    gl_free(e), gl_free(k);
    return;
  }
  e->key = k, e->algo = algo, e->ws = ws, e->next = algo_list;
  algo_list = e;
}

static void algo_load(void) {
  algo_loaded = true;
  char path[1100];
  if (!algo_path(path, sizeof path, false)) return;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    int algo, off = 0;
    unsigned long long ws;
    line[strcspn(line, "\n")] = 0;
    if (sscanf(line, "%d %llu %n", &algo, &ws, &off) == 2 && off > 0 && line[off] && algo >= 0)
      algo_add(line + off, algo, (size_t)ws);
  }
  fclose(f);
}

bool gl_cuda_algo_cache_get(const char *key, int *algo, size_t *ws) {
  if (getenv("GPULET_CUDNN_NO_CACHE")) return false;
  pthread_mutex_lock(&algo_mu);
  if (!algo_loaded) algo_load();
  bool hit = false;
  for (algo_ent_t *e = algo_list; e && !hit; e = e->next)
    if (!strcmp(e->key, key)) *algo = e->algo, *ws = e->ws, hit = true;
  pthread_mutex_unlock(&algo_mu);
  return hit;
}

void gl_cuda_algo_cache_put(const char *key, int algo, size_t ws) {
  if (strchr(key, '\n')) return;
  pthread_mutex_lock(&algo_mu);
  algo_add(key, algo, ws);
  char path[1100];
  if (algo_path(path, sizeof path, true)) {
    FILE *f = fopen(path, "a"); /* one short line per append: concurrent writers interleave lines */
    if (f) {
      fprintf(f, "%d %llu %s\n", algo, (unsigned long long)ws, key);
      fclose(f);
    }
  }
  pthread_mutex_unlock(&algo_mu);
}

void gl_cuda_algo_cache_reset(void) {
  pthread_mutex_lock(&algo_mu);
  while (algo_list) {
    algo_ent_t *e = algo_list;
    algo_list = e->next;
    gl_free(e->key);
    gl_free(e);
  }
  algo_loaded = false;
  pthread_mutex_unlock(&algo_mu);
}

/* ---- Resize tables ---- */

static int64_t round_nearest(int mode, double v) {
  double f = floor(v);
  switch (mode) {
    case GL_NEAREST_FLOOR: return (int64_t)f;
    case GL_NEAREST_CEIL: return (int64_t)ceil(v);
    case GL_NEAREST_ROUND_PREFER_CEIL: return v - f == 0.5 ? (int64_t)f + 1 : (int64_t)llround(v);
    default: return v - f == 0.5 ? (int64_t)f : (int64_t)llround(v);
  }
}

gl_status_t gl_cuda_resize_tables(const gl_graph_t *g, const gl_node_t *n, int64_t **out_i0, int64_t *off,
                                  int64_t *total, int *linear, double *extrap) {
  const gl_value_t *a = in_at(g, n, 0);
  gl_resize_params_t p;
  *out_i0 = NULL;
  GL_TRY(gl_resize_params(g, n, &p));
  if (p.rank == 0 || p.rank > GL_MAX_RANK) return NO("%s: Resize of rank %d on CUDA", gl_node_label(n), p.rank);
  int64_t tot = 0;
  for (int d = 0; d < p.rank; d++) off[d] = tot, tot += p.out[d];
  int64_t *i0 = gl_malloc((size_t)(tot ? tot : 1) * (2 * sizeof(int64_t) + sizeof(double)));
  if (!i0) return gl_err(GL_ENOMEM, "out of memory");
  int64_t *i1 = i0 + tot;
  double *w = (double *)(i1 + tot);
  for (int d = 0; d < p.rank; d++) {
    int64_t in_len = a->shape.d[d];
    for (int64_t o = 0; o < p.out[d]; o++) {
      int64_t t = off[d] + o;
      double c = gl_resize_coord(&p, d, o, in_len);
      bool outside = p.coord == GL_COORD_TF_CROP_AND_RESIZE && (c < 0 || c > (double)(in_len - 1));
      if (p.mode == GL_RESIZE_NEAREST) {
        int mode = p.nearest;
        if (mode == GL_NEAREST_SIMPLE) mode = p.scale[d] < 1 ? GL_NEAREST_CEIL : GL_NEAREST_FLOOR;
        int64_t v = round_nearest(mode, c);
        v = v < 0 ? 0 : (v > in_len - 1 ? in_len - 1 : v);
        i0[t] = i1[t] = outside ? -1 : v;
        w[t] = 0;
      } else {
        if (c < 0) c = 0;
        if (c > (double)(in_len - 1)) c = (double)(in_len - 1);
        int64_t a0 = (int64_t)floor(c), a1 = a0 + 1 < in_len ? a0 + 1 : a0;
        i0[t] = outside ? -1 : a0;
        i1[t] = outside ? -1 : a1;
        w[t] = c - (double)a0;
      }
    }
  }
  *out_i0 = i0;
  *total = tot;
  *linear = p.mode == GL_RESIZE_LINEAR;
  *extrap = p.extrapolation;
  return GL_OK;
}
