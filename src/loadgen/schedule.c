/* loadgen/schedule.c - the send schedule: Poisson arrivals per model over piecewise rates, merged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "loadgen/loadgen.h"
#include "loadgen/loadgen_int.h"

static inline uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t gl__lg_stream_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed * 0xD1B54A32D192ED03ULL + stream * 0x8CB92BA72F3D8DD7ULL + 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 2; i++) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
  }
  return z;
}

double gl__lg_unif(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0; }

static int by_time(const void *a, const void *b) {
  const gl_lg_arrival_t *x = a, *y = b;
  if (x->t_ns != y->t_ns) return x->t_ns < y->t_ns ? -1 : 1;
  return (x->model > y->model) - (x->model < y->model);
}

gl_status_t gl_lg_schedule_poisson(const gl_scenario_t *s, double scale, double duration_s, uint64_t seed, long max_n,
                                   gl_lg_arrival_t **out, long *n) {
  *out = NULL, *n = 0;
  if (!(scale >= 0) || !(duration_s > 0) || !isfinite(scale) || !isfinite(duration_s))
    return gl_err(GL_EINVAL, "schedule: scale %g and duration %g s must be >= 0 and > 0", scale, duration_s);
  gl_lg_arrival_t *a = NULL;
  size_t cap = 0, k = 0;
  for (int m = 0; m < s->n_models; m++) {
    const gl_scen_model_t *sm = &s->models[m];
    uint64_t rng = gl__lg_stream_seed(seed, (uint64_t)m);
    double t = 0;
    int ph = 0; /* next phase boundary */
    while (ph < sm->n_phases && sm->phase_t[ph] <= 0) ph++;
    for (;;) {
      double rate = gl_scenario_rate_at(s, m, t) * scale;
      double bound = ph < sm->n_phases ? sm->phase_t[ph] : INFINITY;
      if (bound > duration_s) bound = duration_s;
      double next = rate > 0 ? t - log(gl__lg_unif(&rng)) / rate : INFINITY;
      if (next >= bound) {
        /* memoryless: restart the draw at the boundary with the next phase's rate */
        if (bound >= duration_s) break;
        t = bound;
        while (ph < sm->n_phases && sm->phase_t[ph] <= t) ph++;
        continue;
      }
      t = next;
      if ((long)k >= max_n) {
        gl_free(a);
        return gl_err(GL_ELIMIT, "schedule: more than %ld requests (rates x scale x duration too large)", max_n);
      }
      if (gl_grow((void **)&a, &cap, k + 1, sizeof *a)) {
        gl_free(a);
        return gl_err(GL_ENOMEM, "schedule: out of memory");
      }
      a[k].t_ns = (int64_t)(t * 1e9);
      a[k].model = m;
      k++;
    }
  }
  if (k > 1) qsort(a, k, sizeof *a, by_time);
  *out = a, *n = (long)k;
  return GL_OK;
}
