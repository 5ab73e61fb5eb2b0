/* fuzz/fuzz_trace.c - libFuzzer target: the simulator's arrival trace reader (gl_sim_trace_load)
 * on arbitrary bytes written to a scratch file, against a fixed three-model scenario. Oracles
 * besides the sanitizers: an accepted trace has finite, ascending, non-negative times and model
 * indices inside the scenario, and nothing leaks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "fuzz/fuzz_util.h"
#include "sim/scenario.h"
#include "sim/sim.h"

static gl_scenario_t *scen;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!scen &&
      gl_scenario_parse("{\"format\":\"gpulet-scenario\",\"name\":\"fuzz\",\"models\":["
                        "{\"name\":\"lenet1\",\"profile\":\"lenet\",\"slo_ms\":10,\"rate\":5},"
                        "{\"name\":\"resnet50\",\"slo_ms\":100,\"rate\":1},"
                        "{\"name\":\"a\",\"slo_ms\":1,\"rate\":0}]}",
                        "fuzz", &scen))
    abort();
  char path[256];
  if (gl_fuzz_write("trace.txt", data, size, path, sizeof path)) abort();
  size_t live = gl_alloc_live_count();
  long n = -1;
  double *t = NULL;
  int *m = NULL;
  if (gl_sim_trace_load(path, scen, &n, &t, &m) == GL_OK) {
    if (n < 1) abort();
    for (long i = 0; i < n; i++) {
      if (!(t[i] >= 0 && isfinite(t[i])) || (i && t[i] < t[i - 1]) || m[i] < 0 || m[i] >= scen->n_models) {
        fprintf(stderr, "arrival %ld: t %g model %d accepted\n", i, t[i], m[i]);
        abort();
      }
    }
    gl_free(t);
    gl_free(m);
  } else if (t || m || !gl_errmsg()[0]) {
    abort();
  }
  if (gl_alloc_live_count() != live) {
    fprintf(stderr, "%zu blocks leaked\n", gl_alloc_live_count() - live);
    abort();
  }
  return 0;
}
