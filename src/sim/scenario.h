/* sim/scenario.h - scenario files: models with SLOs and rates (constant or piecewise over time).
 * Owns: gl_scenario_t, reading and validating the JSON format of docs/scenario.md, and turning a
 * scenario into scheduler input for a profile. Used by `gpulet plan` and the simulator. */
#ifndef GL_SIM_SCENARIO_H
#define GL_SIM_SCENARIO_H

#include <stdint.h>

#include "core/status.h"
#include "sched/sched.h"

#define GL_SCEN_MAX_PHASES 32

typedef struct {
  char name[48];         /* instance name (lenet1) */
  char profile[48];      /* profile model (lenet); defaults to name */
  double slo_ms, pct;
  double rate;           /* req/s before phases */
  int n_phases;          /* piecewise-constant rate changes: from t_s on, rate */
  double phase_t[GL_SCEN_MAX_PHASES], phase_rate[GL_SCEN_MAX_PHASES];
} gl_scen_model_t;

typedef struct {
  char name[64];
  double duration_s;
  uint64_t seed;
  int n_models;
  gl_scen_model_t *models;
} gl_scenario_t;

GL_MUST_USE gl_status_t gl_scenario_load(const char *path, gl_scenario_t **out);
GL_MUST_USE gl_status_t gl_scenario_parse(const char *text, const char *what, gl_scenario_t **out);
void gl_scenario_destroy(gl_scenario_t *s);
/* Rate of model m at time t_s (seconds from the start), before any scaling. */
double gl_scenario_rate_at(const gl_scenario_t *s, int m, double t_s);
/* Largest rate model m reaches over the scenario. */
double gl_scenario_peak_rate(const gl_scenario_t *s, int m);
/* Fills out[n_models] for the profile: peak rate x scale. Errors name models missing from it. */
GL_MUST_USE gl_status_t gl_scenario_models(const gl_scenario_t *s, const gl_profile_t *p, double scale,
                                           gl_sched_model_t *out);

#endif
