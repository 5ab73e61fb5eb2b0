/* loadgen/schedule.c - the send schedule: Poisson arrivals per model over piecewise rates, merged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "loadgen/loadgen.h"
#include "loadgen/loadgen_int.h"

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
    uint64_t rng = gl_rng_stream(seed, (uint64_t)m);
    double t = 0;
    int ph = 0; /* next phase boundary */
    while (ph < sm->n_phases && sm->phase_t[ph] <= 0) ph++;
    for (;;) {
      double rate = gl_scenario_rate_at(s, m, t) * scale;
      double bound = ph < sm->n_phases ? sm->phase_t[ph] : INFINITY;
      if (bound > duration_s) bound = duration_s;
      double next = rate > 0 ? t - log(gl_rng_unif(&rng)) / rate : INFINITY;
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
