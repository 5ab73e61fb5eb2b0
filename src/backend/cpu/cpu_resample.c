/* backend/cpu/cpu_resample.c - CPU kernels that resample or pad tensors: Pad (constant, reflect,
 * edge, wrap), Resize/Upsample (nearest, linear), ReverseSequence, GridSample. */
#include <stdlib.h>

#include "backend/cpu/cpu_tensor_int.h"

/* ---- Pad ---- */

typedef struct {
  int rank;
  size_t es;
  bool value_input;
  char value[16];
  int64_t orows;                   /* output rows (all dims but the last) */
  int64_t odim[GL_MAX_RANK], istride[GL_MAX_RANK];
  int64_t *map[GL_MAX_RANK];       /* per dim: source index of each output index, -1 = constant */
  int64_t lo, hi;                  /* last dim: [lo, hi) maps to map[last][lo] + (o - lo) */
} pad_t;

static gl_status_t run_pad(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                           void *const *out) {
  const pad_t *s = k->state;
  size_t es = s->es;
  const char *val = s->value_input && in[2] ? (const char *)in[2] : s->value;
  int last = s->rank - 1;
  if (s->rank == 0) {
    memcpy(out[0], in[0], es);
    return GL_OK;
  }
  int64_t olen = s->odim[last];
  const int64_t *lm = s->map[last];
  bool par = (size_t)(s->orows * olen) * es >= PAR_BYTES && s->orows > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < s->orows; r++) {
    char *o = (char *)out[0] + (size_t)(r * olen) * es;
    int64_t q = r, so = 0;
    bool fill = false;
    for (int d = last - 1; d >= 0; d--) {
      int64_t i = q % s->odim[d];
      q /= s->odim[d];
      int64_t m = s->map[d][i];
      if (m < 0) fill = true;
      so += m * s->istride[d];
    }
    if (fill) {
      fill_bytes(o, val, es, olen);
      continue;
    }
    const char *src = (const char *)in[0] + (size_t)so * es;
    for (int64_t j = 0; j < s->lo; j++)
      copy_elem(o + (size_t)j * es, lm[j] < 0 ? val : src + (size_t)lm[j] * es, es);
    if (s->hi > s->lo) memcpy(o + (size_t)s->lo * es, src + (size_t)lm[s->lo] * es, (size_t)(s->hi - s->lo) * es);
    for (int64_t j = s->hi > s->lo ? s->hi : s->lo; j < olen; j++)
      copy_elem(o + (size_t)j * es, lm[j] < 0 ? val : src + (size_t)lm[j] * es, es);
  }
  return GL_OK;
}

static int64_t pad_source(int mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case GL_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case GL_PAD_WRAP: return ((i % n) + n) % n;
    case GL_PAD_REFLECT:
      if (n == 1) return 0;
      {
        int64_t p = 2 * (n - 1);
        i = ((i % p) + p) % p;
        return i < n ? i : p - i;
      }
    default: return -1;
  }
}

static gl_status_t prep_pad(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                            gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  gl_pad_params_t p;
  GL_TRY(gl_pad_params(g, n, &p));
  size_t es;
  GL_TRY(elem_size(n, a->dtype, &es));
  if (es > 16) return gl_err(GL_EUNSUPPORTED, "%s: element type too wide", LBL);
  int64_t total = 0;
  for (int d = 0; d < p.rank; d++) total += o->shape.d[d];
  pad_t *s = state_alloc(k, sizeof *s + sizeof(int64_t) * (size_t)total);
  if (!s) return GL_ENOMEM;
  s->rank = p.rank;
  s->es = es;
  s->value_input = p.value_input;
  if (!p.value_input) store_f64(s->value, a->dtype, p.value);
  gl_shape_strides(&a->shape, s->istride);
  int64_t *tab = (int64_t *)(s + 1);
  s->orows = 1;
  for (int d = 0; d < p.rank; d++) {
    s->odim[d] = o->shape.d[d];
    if (d < p.rank - 1) s->orows *= o->shape.d[d];
    s->map[d] = tab;
    for (int64_t i = 0; i < o->shape.d[d]; i++)
      tab[i] = pad_source(p.mode, i - p.begin[d], a->shape.d[d]);
    tab += o->shape.d[d];
  }
  if (p.rank > 0) {
    int last = p.rank - 1;
    int64_t olen = o->shape.d[last], lo = p.begin[last] < 0 ? 0 : p.begin[last];
    int64_t hi = p.begin[last] + a->shape.d[last];
    if (hi > olen) hi = olen;
    if (lo > olen) lo = olen;
    s->lo = lo;
    s->hi = hi < lo ? lo : hi;
  }
  k->run = run_pad;
  return GL_OK;
}

/* ---- Resize, Upsample ---- */

typedef struct {
  int rank, mode;
  size_t es;
  gl_dtype_t t;
  double extrap;
  int64_t orows, olast;
  int64_t odim[GL_MAX_RANK], istride[GL_MAX_RANK];
  bool interp[GL_MAX_RANK];        /* linear: does this dim blend two inputs */
  int64_t *i0[GL_MAX_RANK], *i1[GL_MAX_RANK]; /* source indices (i0 -1 = extrapolate) */
  double *w[GL_MAX_RANK];          /* weight of i1 */
} resize_t;

/* One output row (all dims but the last fixed): the outer dims give up to 2^(rank-1) source rows
 * with weights; the last dim blends two elements of each. */
#define RESIZE_ROW(T)                                                                          \
  {                                                                                            \
    const T *src = in[0];                                                                      \
    T *dst = (T *)o;                                                                           \
    for (int64_t j = 0; j < s->olast; j++) {                                                   \
      int64_t v0 = l0[j], v1 = l1[j];                                                          \
      if (v0 < 0) {                                                                            \
        dst[j] = (T)s->extrap;                                                                 \
        continue;                                                                              \
      }                                                                                        \
      double w = lw[j], acc = 0;                                                               \
      for (int c = 0; c < nc; c++)                                                             \
        acc += cw[c] * ((1 - w) * (double)src[coff[c] + v0] + w * (double)src[coff[c] + v1]);  \
      dst[j] = (T)acc;                                                                         \
    }                                                                                          \
  }

static gl_status_t run_resize(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                              void *const *out) {
  const resize_t *s = k->state;
  int last = s->rank - 1;
  size_t es = s->es;
  const int64_t *l0 = s->i0[last], *l1 = s->i1[last];
  const double *lw = s->w[last];
  bool par = (size_t)(s->orows * s->olast) * es >= PAR_BYTES && s->orows > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t row = 0; row < s->orows; row++) {
    int64_t idx[GL_MAX_RANK], q = row, coff[1 << (GL_MAX_RANK - 1)];
    double cw[1 << (GL_MAX_RANK - 1)];
    for (int d = last - 1; d >= 0; d--) idx[d] = q % s->odim[d], q /= s->odim[d];
    char *o = (char *)out[0] + (size_t)(row * s->olast) * es;
    int nc = 1;
    bool ext = false;
    coff[0] = 0;
    cw[0] = 1;
    for (int d = 0; d < last; d++) {
      int64_t v0 = s->i0[d][idx[d]], st = s->istride[d];
      if (v0 < 0) ext = true;
      if (s->mode == GL_RESIZE_LINEAR && s->interp[d]) {
        int64_t v1 = s->i1[d][idx[d]];
        double w = s->w[d][idx[d]];
        for (int c = 0; c < nc; c++) {
          coff[nc + c] = coff[c] + v1 * st;
          cw[nc + c] = cw[c] * w;
          coff[c] += v0 * st;
          cw[c] *= 1 - w;
        }
        nc *= 2;
      } else {
        for (int c = 0; c < nc; c++) coff[c] += v0 * st;
      }
    }
    if (ext) {
      for (int64_t j = 0; j < s->olast; j++) store_f64(o + (size_t)j * es, s->t, s->extrap);
      continue;
    }
    if (s->mode == GL_RESIZE_NEAREST) {
      const char *src = (const char *)in[0] + (size_t)coff[0] * es;
      for (int64_t j = 0; j < s->olast; j++) {
        if (l0[j] < 0) store_f64(o + (size_t)j * es, s->t, s->extrap);
        else copy_elem(o + (size_t)j * es, src + (size_t)l0[j] * es, es);
      }
    } else if (s->t == GL_DT_F32) {
      RESIZE_ROW(float)
    } else {
      RESIZE_ROW(double)
    }
  }
  return GL_OK;
}

static int64_t round_nearest(int mode, double v) {
  double f = floor(v);
  switch (mode) {
    case GL_NEAREST_FLOOR: return (int64_t)f;
    case GL_NEAREST_CEIL: return (int64_t)ceil(v);
    case GL_NEAREST_ROUND_PREFER_CEIL: return v - f == 0.5 ? (int64_t)f + 1 : (int64_t)llround(v);
    default: return v - f == 0.5 ? (int64_t)f : (int64_t)llround(v);
  }
}

static gl_status_t prep_resize(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                               gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0);
  gl_resize_params_t p;
  GL_TRY(gl_resize_params(g, n, &p));
  size_t es;
  GL_TRY(elem_size(n, a->dtype, &es));
  if (p.mode == GL_RESIZE_LINEAR && a->dtype != GL_DT_F32 && a->dtype != GL_DT_F64)
    return gl_err(GL_EUNSUPPORTED, "%s: linear mode supports float and double only", LBL);
  if (p.rank == 0) return gl_err(GL_EUNSUPPORTED, "%s: cannot resize a scalar", LBL);
  int64_t total = 0;
  for (int d = 0; d < p.rank; d++) total += p.out[d];
  size_t bytes = sizeof(resize_t) + (size_t)total * (2 * sizeof(int64_t) + sizeof(double));
  resize_t *s = state_alloc(k, bytes);
  if (!s) return GL_ENOMEM;
  s->rank = p.rank;
  s->mode = p.mode;
  s->es = es;
  s->t = a->dtype;
  s->extrap = p.extrapolation;
  gl_shape_strides(&a->shape, s->istride);
  char *mem = (char *)(s + 1);
  s->orows = 1;
  for (int d = 0; d < p.rank; d++) {
    int64_t on = p.out[d], in_len = a->shape.d[d];
    s->odim[d] = on;
    if (d < p.rank - 1) s->orows *= on;
    s->i0[d] = (int64_t *)mem, mem += sizeof(int64_t) * (size_t)on;
    s->i1[d] = (int64_t *)mem, mem += sizeof(int64_t) * (size_t)on;
    s->w[d] = (double *)mem, mem += sizeof(double) * (size_t)on;
    for (int64_t o = 0; o < on; o++) {
      double c = gl_resize_coord(&p, d, o, in_len);
      bool outside = p.coord == GL_COORD_TF_CROP_AND_RESIZE && (c < 0 || c > (double)(in_len - 1));
      if (p.mode == GL_RESIZE_NEAREST) {
        int mode = p.nearest;
        if (mode == GL_NEAREST_SIMPLE) mode = p.scale[d] < 1 ? GL_NEAREST_CEIL : GL_NEAREST_FLOOR;
        int64_t v = round_nearest(mode, c);
        v = v < 0 ? 0 : (v > in_len - 1 ? in_len - 1 : v);
        s->i0[d][o] = outside ? -1 : v;
        s->i1[d][o] = s->i0[d][o];
        s->w[d][o] = 0;
      } else {
        if (c < 0) c = 0;
        if (c > (double)(in_len - 1)) c = (double)(in_len - 1);
        int64_t i0 = (int64_t)floor(c), i1 = i0 + 1 < in_len ? i0 + 1 : i0;
        s->i0[d][o] = outside ? -1 : i0;
        s->i1[d][o] = outside ? -1 : i1;
        s->w[d][o] = c - (double)i0;
        if (s->w[d][o] != 0 && i1 != i0) s->interp[d] = true;
      }
    }
  }
  s->olast = p.out[p.rank - 1];
  if (gl_shape_numel(&vout(g, n, 0)->shape) == 0) s->orows = 0;
  k->run = run_resize;
  return GL_OK;
}

/* ---- ReverseSequence ---- */

typedef struct {
  int64_t batch, time, inner;
  bool time_first;
  size_t es;
  char label[96];
} revseq_t;

static gl_status_t run_reverse_sequence(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                        void *const *in, void *const *out) {
  const revseq_t *s = k->state;
  const int64_t *lens = in[1];
  for (int64_t b = 0; b < s->batch; b++)
    if (lens[b] < 0 || lens[b] > s->time)
      return gl_err(GL_EINVAL, "%s: sequence length %lld is outside 0..%lld", s->label,
                    (long long)lens[b], (long long)s->time);
  size_t blk = (size_t)s->inner * s->es;
  for (int64_t b = 0; b < s->batch; b++)
    for (int64_t t = 0; t < s->time; t++) {
      int64_t src_t = t < lens[b] ? lens[b] - 1 - t : t;
      int64_t o = s->time_first ? t * s->batch + b : b * s->time + t;
      int64_t i = s->time_first ? src_t * s->batch + b : b * s->time + src_t;
      memcpy((char *)out[0] + (size_t)o * blk, (const char *)in[0] + (size_t)i * blk, blk);
    }
  return GL_OK;
}

static gl_status_t prep_reverse_sequence(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                         const gl_node_t *n, gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0);
  revseq_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  GL_TRY(elem_size(n, a->dtype, &s->es));
  snprintf(s->label, sizeof s->label, "%s", LBL);
  s->time_first = gl_attr_i(n, "time_axis", 0) == 0;
  s->time = a->shape.d[s->time_first ? 0 : 1];
  s->batch = a->shape.d[s->time_first ? 1 : 0];
  s->inner = 1;
  for (int d = 2; d < a->shape.rank; d++) s->inner *= a->shape.d[d];
  k->run = run_reverse_sequence;
  return GL_OK;
}

/* ---- GridSample ---- */

typedef struct {
  int64_t n, c, h, w, ho, wo;
  bool nearest, align;
  int pad; /* 0 zeros, 1 border, 2 reflection */
} grid_t;

/* Reflects x into the range the padding mode allows (PyTorch's and ONNX's rule), then clamps. */
static double grid_reflect(double x, int64_t size, bool align) {
  double lo = align ? 0 : -0.5, hi = align ? (double)(size - 1) : (double)size - 0.5;
  double span = hi - lo;
  if (span <= 0) return 0;
  double d = fabs(x - lo), extra = fmod(d, span);
  int64_t flips = (int64_t)floor(d / span);
  x = flips % 2 == 0 ? lo + extra : hi - extra;
  return x < 0 ? 0 : (x > (double)(size - 1) ? (double)(size - 1) : x);
}

static double grid_coord(const grid_t *s, double gcoord, int64_t size) {
  double x = s->align ? (gcoord + 1) / 2 * (double)(size - 1) : ((gcoord + 1) * (double)size - 1) / 2;
  if (s->pad == 1) x = x < 0 ? 0 : (x > (double)(size - 1) ? (double)(size - 1) : x);
  else if (s->pad == 2) x = grid_reflect(x, size, s->align);
  return x;
}

static gl_status_t run_grid_sample(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x, void *const *in,
                                   void *const *out) {
  const grid_t *s = k->state;
  const float *X = in[0], *G = in[1];
  float *Y = out[0];
  int64_t plane = s->h * s->w, oplane = s->ho * s->wo;
  bool par = s->n * s->c * oplane >= 16384 && s->n * s->ho > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t nh = 0; nh < s->n * s->ho; nh++) {
    int64_t b = nh / s->ho, oh = nh % s->ho;
    for (int64_t ow = 0; ow < s->wo; ow++) {
      const float *gp = G + ((b * s->ho + oh) * s->wo + ow) * 2;
      double fx = grid_coord(s, gp[0], s->w), fy = grid_coord(s, gp[1], s->h);
      int64_t tx[4], ty[4];
      double tw[4];
      int nt;
      if (s->nearest) {
        tx[0] = (int64_t)nearbyint(fx), ty[0] = (int64_t)nearbyint(fy), tw[0] = 1, nt = 1;
      } else {
        int64_t x0 = (int64_t)floor(fx), y0 = (int64_t)floor(fy);
        double ax = fx - (double)x0, ay = fy - (double)y0;
        tx[0] = x0, ty[0] = y0, tw[0] = (1 - ax) * (1 - ay);
        tx[1] = x0 + 1, ty[1] = y0, tw[1] = ax * (1 - ay);
        tx[2] = x0, ty[2] = y0 + 1, tw[2] = (1 - ax) * ay;
        tx[3] = x0 + 1, ty[3] = y0 + 1, tw[3] = ax * ay;
        nt = 4;
      }
      int64_t off[4];
      for (int t = 0; t < nt; t++) {
        bool inside = tx[t] >= 0 && tx[t] < s->w && ty[t] >= 0 && ty[t] < s->h;
        off[t] = inside ? ty[t] * s->w + tx[t] : -1; /* outside taps read as 0 */
      }
      for (int64_t c = 0; c < s->c; c++) {
        const float *xp = X + (b * s->c + c) * plane;
        double acc = 0;
        for (int t = 0; t < nt; t++)
          if (off[t] >= 0) acc += tw[t] * xp[off[t]];
        Y[(b * s->c + c) * oplane + oh * s->wo + ow] = (float)acc;
      }
    }
  }
  return GL_OK;
}

static gl_status_t prep_grid_sample(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n,
                                    gl_cpu_kernel_t *k) {
  const gl_value_t *a = vin(g, n, 0), *o = vout(g, n, 0);
  grid_t *s = state_alloc(k, sizeof *s);
  if (!s) return GL_ENOMEM;
  s->n = a->shape.d[0], s->c = a->shape.d[1], s->h = a->shape.d[2], s->w = a->shape.d[3];
  s->ho = o->shape.d[2], s->wo = o->shape.d[3];
  s->nearest = !strcmp(gl_attr_s(n, "mode", "bilinear"), "nearest");
  s->align = gl_attr_i(n, "align_corners", 0) != 0;
  const char *pad = gl_attr_s(n, "padding_mode", "zeros");
  s->pad = !strcmp(pad, "border") ? 1 : !strcmp(pad, "reflection") ? 2 : 0;
  k->run = run_grid_sample;
  return GL_OK;
}


const gl_cpu_op_t gl_cpu_ops_resample[] = {
    {"Pad", prep_pad},
    {"Resize", prep_resize},
    {"Upsample", prep_resize},
    {"ReverseSequence", prep_reverse_sequence},
    {"GridSample", prep_grid_sample},
    {0},
};
