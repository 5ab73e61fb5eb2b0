/* fuzz/fuzz_scenario.c - libFuzzer target: the scenario reader (gl_scenario_parse) on arbitrary
 * text. Oracles besides the sanitizers: an accepted scenario has 1..1024 uniquely named models
 * with finite rates and SLOs, rates that are finite at every time, and nothing leaks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "fuzz/fuzz_util.h"
#include "sim/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = gl_fuzz_cstr(data, size);
  size_t live = gl_alloc_live_count();
  gl_scenario_t *s = NULL;
  if (gl_scenario_parse(text, "fuzz", &s) == GL_OK) {
    if (s->n_models < 1 || s->n_models > 1024 || !(s->duration_s > 0 && isfinite(s->duration_s))) abort();
    for (int m = 0; m < s->n_models; m++) {
      const gl_scen_model_t *sm = &s->models[m];
      if (!sm->name[0] || !sm->profile[0] || !(sm->slo_ms > 0 && isfinite(sm->slo_ms)) || !isfinite(sm->rate)) {
        fprintf(stderr, "model %d ('%s', profile '%s') accepted with a bad field\n", m, sm->name, sm->profile);
        abort();
      }
      double peak = gl_scenario_peak_rate(s, m);
      if (!(peak >= 0 && isfinite(peak))) abort();
      for (double t = 0; t <= s->duration_s; t += s->duration_s / 8) {
        double r = gl_scenario_rate_at(s, m, t);
        if (!(r >= 0 && r <= peak)) {
          fprintf(stderr, "model %s: rate %g at %g s above the peak %g\n", sm->name, r, t, peak);
          abort();
        }
      }
    }
    gl_scenario_destroy(s);
  } else if (!gl_errmsg()[0]) {
    abort();
  }
  if (gl_alloc_live_count() != live) {
    fprintf(stderr, "%zu blocks leaked\n", gl_alloc_live_count() - live);
    abort();
  }
  free(text);
  return 0;
}
