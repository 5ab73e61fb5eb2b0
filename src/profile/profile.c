/* profile/profile.c - profile tables: allocation, validation, latency lookup with interpolation. */
#include "profile/profile.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

gl_profile_t *gl_profile_alloc(int n_models, int n_sizes, int n_batches) {
  if (n_models < 0 || n_sizes < 1 || n_sizes > GL_PROFILE_MAX_SIZES || n_batches < 1 ||
      n_batches > GL_PROFILE_MAX_BATCHES)
    return NULL;
  gl_profile_t *p = gl_calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n_sizes = n_sizes;
  p->n_batches = n_batches;
  p->models = n_models ? gl_calloc((size_t)n_models, sizeof *p->models) : NULL;
  if (n_models && !p->models) {
    gl_free(p);
    return NULL;
  }
  size_t cells = (size_t)n_sizes * (size_t)n_batches;
  for (int i = 0; i < n_models; i++) {
    gl_profile_model_t *m = &p->models[i];
    p->n_models = i + 1;
    m->lat_med = gl_malloc(cells * sizeof(double));
    m->lat_p99 = gl_malloc(cells * sizeof(double));
    m->batch_ms = gl_calloc((size_t)n_batches, sizeof(double));
    if (!m->lat_med || !m->lat_p99 || !m->batch_ms) {
      gl_profile_destroy(p);
      return NULL;
    }
    for (size_t c = 0; c < cells; c++) m->lat_med[c] = m->lat_p99[c] = NAN;
  }
  p->n_models = n_models;
  p->icoef[4] = 1.0;
  return p;
}

void gl_profile_destroy(gl_profile_t *p) {
  if (!p) return;
  for (int i = 0; i < p->n_models; i++) {
    gl_free(p->models[i].lat_med);
    gl_free(p->models[i].lat_p99);
    gl_free(p->models[i].batch_ms);
  }
  gl_free(p->models);
  gl_free(p);
}

gl_status_t gl_profile_validate(const gl_profile_t *p, const char *what) {
  if (p->total_units < 1) return gl_err(GL_EPARSE, "%s: device.total_units must be >= 1", what);
  if (p->granularity < 1) return gl_err(GL_EPARSE, "%s: device.granularity must be >= 1", what);
  if (p->min_units < 1 || p->min_units > p->total_units)
    return gl_err(GL_EPARSE, "%s: device.min_units must be in 1..total_units", what);
  if (!(p->mem_mb > 0)) return gl_err(GL_EPARSE, "%s: device.memory_mb must be > 0", what);
  for (int i = 0; i < p->n_sizes; i++) {
    if (p->sizes[i] < 1 || p->sizes[i] > p->total_units)
      return gl_err(GL_EPARSE, "%s: sizes[%d] = %d is outside 1..%d", what, i, p->sizes[i], p->total_units);
    if (i && p->sizes[i] <= p->sizes[i - 1])
      return gl_err(GL_EPARSE, "%s: sizes must be strictly ascending (sizes[%d])", what, i);
  }
  if (p->batches[0] != 1) return gl_err(GL_EPARSE, "%s: batches must start at 1", what);
  for (int i = 1; i < p->n_batches; i++)
    if (p->batches[i] <= p->batches[i - 1])
      return gl_err(GL_EPARSE, "%s: batches must be strictly ascending (batches[%d])", what, i);
  if (p->n_feat < 1) return gl_err(GL_EPARSE, "%s: interference.batches must not be empty", what);
  for (int i = 1; i < p->n_feat; i++)
    if (p->feat_batches[i] <= p->feat_batches[i - 1])
      return gl_err(GL_EPARSE, "%s: interference.batches must be strictly ascending", what);
  if (p->n_models < 1) return gl_err(GL_EPARSE, "%s: no models", what);
  int nb = p->n_batches;
  for (int mi = 0; mi < p->n_models; mi++) {
    const gl_profile_model_t *m = &p->models[mi];
    if (!m->name[0]) return gl_err(GL_EPARSE, "%s: models[%d] has no name", what, mi);
    for (int j = 0; j < mi; j++)
      if (!strcmp(p->models[j].name, m->name))
        return gl_err(GL_EPARSE, "%s: model '%s' appears twice", what, m->name);
    if (!(m->mem_mb >= 0)) return gl_err(GL_EPARSE, "%s: model '%s': memory_mb must be >= 0", what, m->name);
    for (int s = 0; s < p->n_sizes; s++) {
      /* batch 1 and the max batch are required at every size (the interpolation needs them) */
      if (!(m->lat_med[s] > 0) || !(m->lat_med[(size_t)(nb - 1) * p->n_sizes + s] > 0))
        return gl_err(GL_EPARSE, "%s: model '%s': size %d must have batch 1 and batch %d latencies > 0",
                      what, m->name, p->sizes[s], p->batches[nb - 1]);
      for (int b = 0; b < nb; b++) {
        double v = m->lat_med[(size_t)b * p->n_sizes + s], q = m->lat_p99[(size_t)b * p->n_sizes + s];
        if (!isnan(v) && !(v > 0 && isfinite(v)))
          return gl_err(GL_EPARSE, "%s: model '%s': latency at batch %d size %d must be > 0", what, m->name,
                        p->batches[b], p->sizes[s]);
        if (!isnan(q) && !isnan(v) && q < v)
          return gl_err(GL_EPARSE, "%s: model '%s': p99 below median at batch %d size %d", what, m->name,
                        p->batches[b], p->sizes[s]);
      }
    }
    for (int f = 0; f < p->n_feat; f++)
      if (!(m->l2_pct[f] >= 0 && m->l2_pct[f] <= 100 && m->dram_pct[f] >= 0 && m->dram_pct[f] <= 100))
        return gl_err(GL_EPARSE, "%s: model '%s': interference features must be percentages", what, m->name);
    for (int b = 0; b < nb; b++)
      if (!(m->batch_ms[b] >= 0)) return gl_err(GL_EPARSE, "%s: model '%s': batch_ms must be >= 0", what, m->name);
  }
  return GL_OK;
}

int gl_profile_find(const gl_profile_t *p, const char *name) {
  for (int i = 0; i < p->n_models; i++)
    if (!strcmp(p->models[i].name, name)) return i;
  /* lenet1..lenet6 share one "lenet" profile (PAPER.md §2) */
  if (!strncmp(name, "lenet", 5) && name[5] >= '0' && name[5] <= '9')
    return gl_profile_find(p, "lenet");
  return -1;
}

int gl_profile_max_batch(const gl_profile_t *p) { return p->batches[p->n_batches - 1]; }

static double cell(const gl_profile_t *p, int m, int bi, int si, bool p99) {
  const gl_profile_model_t *mm = &p->models[m];
  double v = (p99 ? mm->lat_p99 : mm->lat_med)[(size_t)bi * p->n_sizes + si];
  if (p99 && isnan(v)) v = mm->lat_med[(size_t)bi * p->n_sizes + si];
  return v;
}

/* Latency at measured size index si, linear over batch between measured cells. */
static double at_size_over_batch(const gl_profile_t *p, int m, int b, int si, bool p99) {
  int lo = 0, hi = p->n_batches - 1;
  for (int i = 0; i < p->n_batches; i++) {
    if (p->batches[i] <= b && !isnan(cell(p, m, i, si, p99))) lo = i;
    if (p->batches[i] >= b && !isnan(cell(p, m, i, si, p99))) {
      hi = i;
      break;
    }
  }
  double a = cell(p, m, lo, si, p99), c = cell(p, m, hi, si, p99);
  if (hi == lo) return a;
  double t = (double)(b - p->batches[lo]) / (double)(p->batches[hi] - p->batches[lo]);
  return a + t * (c - a);
}

/* Latency at measured size index si for any batch (research rule for missing cells). */
static double at_size(const gl_profile_t *p, int m, int b, int si, bool p99) {
  for (int i = 0; i < p->n_batches; i++)
    if (p->batches[i] == b) {
      double v = cell(p, m, i, si, p99);
      if (!isnan(v)) return v;
      break;
    }
  int ns = p->n_sizes;
  if (si == 0 || si == ns - 1 || ns < 3) return at_size_over_batch(p, m, b, si, p99);
  /* research §4: interpolate over batch at the smallest and largest sizes, then place the result
   * between them with the max-batch ratio k at this size */
  int top = p->n_batches - 1;
  double lmax_p = cell(p, m, top, si, p99), lmax_lo = cell(p, m, top, 0, p99),
         lmax_hi = cell(p, m, top, ns - 1, p99);
  double k = lmax_lo != lmax_hi ? (lmax_p - lmax_hi) / (lmax_lo - lmax_hi) : 0.5;
  double l_lo = at_size_over_batch(p, m, b, 0, p99), l_hi = at_size_over_batch(p, m, b, ns - 1, p99);
  return l_hi + k * (l_lo - l_hi);
}

double gl_profile_latency(const gl_profile_t *p, int m, int b, int units, bool p99) {
  if (m < 0 || m >= p->n_models || b < 1 || b > gl_profile_max_batch(p) || units <= 0) return INFINITY;
  int ns = p->n_sizes;
  if (units <= p->sizes[0]) return at_size(p, m, b, 0, p99) * (double)p->sizes[0] / (double)units;
  if (units >= p->sizes[ns - 1]) return at_size(p, m, b, ns - 1, p99);
  int hi = 1;
  while (p->sizes[hi] < units) hi++;
  if (p->sizes[hi] == units) return at_size(p, m, b, hi, p99);
  int lo = hi - 1;
  double a = at_size(p, m, b, lo, p99), c = at_size(p, m, b, hi, p99);
  double t = (1.0 / units - 1.0 / p->sizes[hi]) / (1.0 / p->sizes[lo] - 1.0 / p->sizes[hi]);
  return c + t * (a - c);
}

double gl_profile_batch_ms(const gl_profile_t *p, int m, int b) {
  if (m < 0 || m >= p->n_models || b < 1) return 0;
  const double *v = p->models[m].batch_ms;
  if (b >= p->batches[p->n_batches - 1]) return v[p->n_batches - 1];
  int hi = 0;
  while (p->batches[hi] < b) hi++;
  if (p->batches[hi] == b || hi == 0) return v[hi];
  double t = (double)(b - p->batches[hi - 1]) / (double)(p->batches[hi] - p->batches[hi - 1]);
  return v[hi - 1] + t * (v[hi] - v[hi - 1]);
}

void gl_profile_features(const gl_profile_t *p, int m, int b, double *l2, double *dram) {
  const gl_profile_model_t *mm = &p->models[m];
  int n = p->n_feat;
  if (b <= p->feat_batches[0]) {
    *l2 = mm->l2_pct[0] / 100;
    *dram = mm->dram_pct[0] / 100;
    return;
  }
  if (b >= p->feat_batches[n - 1]) {
    *l2 = mm->l2_pct[n - 1] / 100;
    *dram = mm->dram_pct[n - 1] / 100;
    return;
  }
  int hi = 1;
  while (p->feat_batches[hi] < b) hi++;
  double t = (double)(b - p->feat_batches[hi - 1]) / (double)(p->feat_batches[hi] - p->feat_batches[hi - 1]);
  *l2 = (mm->l2_pct[hi - 1] + t * (mm->l2_pct[hi] - mm->l2_pct[hi - 1])) / 100;
  *dram = (mm->dram_pct[hi - 1] + t * (mm->dram_pct[hi] - mm->dram_pct[hi - 1])) / 100;
}
