/* sim/sim_find_max.c - the largest load scale at which a scenario still meets its SLOs (bracket, then bisect). */
#include <stdbool.h>
#include <string.h>

#include "sim/sim.h"

gl_status_t gl_sim_find_max(const gl_sim_config_t *cfg0, int steps, double *scale, gl_sim_result_t *best) {
  gl_sim_config_t cfg = *cfg0;
  cfg.skip_infeasible = true;
  memset(best, 0, sizeof *best);
  double lo = 0, hi = 0, s0 = cfg0->scale > 0 ? cfg0->scale : 1, s = s0;
  bool have = false;
  /* bracket upwards: double while the plan stays feasible, even past a failing scale, because
   * attainment is not monotone in the rate (a model alone on one gpu-let at low rate can fail
   * where at twice the rate it shares a queue among several and passes: sbp on scen1b); stop
   * after 3 failures in a row. lo = the largest passing probe, hi = the next probe above it. */
  int fails = 0;
  for (int i = 0; i < 24 && fails < 3; i++, s *= 2) {
    gl_sim_result_t r;
    cfg.scale = s;
    GL_TRY(gl_sim_run(&cfg, &r));
    if (r.ok) {
      gl_sim_result_fini(best);
      *best = r;
      have = true;
      lo = s, hi = 0, fails = 0;
      continue;
    }
    bool infeasible = !r.plan_feasible;
    gl_sim_result_fini(&r);
    if (hi == 0) hi = s;
    fails++;
    if (infeasible) break;
  }
  /* nothing passed at or above the start: halve until a success */
  for (s = s0 / 2; !have && s >= 1e-4; s /= 2) {
    gl_sim_result_t r;
    cfg.scale = s;
    GL_TRY(gl_sim_run(&cfg, &r));
    if (r.ok) {
      *best = r;
      have = true;
      lo = s, hi = 2 * s;
    } else {
      gl_sim_result_fini(&r);
    }
  }
  if (!have || hi == 0) {
    *scale = have ? lo : 0;
    return GL_OK;
  }
  for (int i = 0; i < steps; i++) {
    double mid = (lo + hi) / 2;
    gl_sim_result_t r;
    cfg.scale = mid;
    GL_TRY(gl_sim_run(&cfg, &r));
    if (r.ok) {
      gl_sim_result_fini(best);
      *best = r;
      lo = mid;
    } else {
      gl_sim_result_fini(&r);
      hi = mid;
    }
  }
  *scale = lo;
  return GL_OK;
}
