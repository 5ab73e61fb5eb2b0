/* fuzz/fuzz_profile.c - libFuzzer target: the device profile reader (gl_profile_parse) on
 * arbitrary text. Oracles besides the sanitizers: an accepted profile gives a latency that is
 * positive (never NaN, never negative) for every model, batch and unit count the planner asks
 * for, and nothing leaks through gpulet's allocator. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "fuzz/fuzz_util.h"
#include "profile/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = gl_fuzz_cstr(data, size);
  size_t live = gl_alloc_live_count();
  gl_profile_t *p = NULL;
  if (gl_profile_parse(text, "fuzz", &p) == GL_OK) {
    int maxb = gl_profile_max_batch(p);
    int units = p->total_units < 70 ? p->total_units : 70;
    for (int m = 0; m < p->n_models; m++)
      for (int b = 1; b <= maxb && b <= 70; b++)
        for (int u = 1; u <= units; u++)
          for (int q = 0; q < 2; q++) {
            double l = gl_profile_latency(p, m, b, u, q);
            if (!(l > 0)) {
              fprintf(stderr, "model %d batch %d units %d: latency %g\n", m, b, u, l);
              abort();
            }
          }
    if (gl_profile_find(p, p->models[0].name) != 0) abort();
    gl_profile_destroy(p);
  } else if (p) {
    fprintf(stderr, "a refused profile returned one\n");
    abort();
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
