/* sim/scenario.c - reading scenario files (docs/scenario.md). */
#include "sim/scenario.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"

void gl_scenario_destroy(gl_scenario_t *s) {
  if (!s) return;
  gl_free(s->models);
  gl_free(s);
}

static gl_status_t num(json_t *o, const char *k, double *v, bool req, const char *what, int mi) {
  json_t *x = json_object_get(o, k);
  if (!x) {
    if (req) return mi < 0 ? gl_err(GL_EPARSE, "%s: %s: missing", what, k)
                           : gl_err(GL_EPARSE, "%s: models[%d].%s: missing", what, mi, k);
    return GL_OK;
  }
  if (!json_is_number(x)) return mi < 0 ? gl_err(GL_EPARSE, "%s: %s: expected a number", what, k)
                                        : gl_err(GL_EPARSE, "%s: models[%d].%s: expected a number", what, mi, k);
  *v = json_number_value(x);
  return GL_OK;
}

static gl_status_t parse(json_t *root, const char *what, gl_scenario_t **out) {
  if (!json_is_object(root)) return gl_err(GL_EPARSE, "%s: top level must be an object", what);
  json_t *f = json_object_get(root, "format");
  if (!f || !json_is_string(f) || strcmp(json_string_value(f), "gpulet-scenario"))
    return gl_err(GL_EPARSE, "%s: format must be \"gpulet-scenario\"", what);
  json_t *ms = json_object_get(root, "models");
  if (!ms || !json_is_array(ms) || json_array_size(ms) < 1 || json_array_size(ms) > 1024)
    return gl_err(GL_EPARSE, "%s: models: expected an array of 1..1024 models", what);
  gl_scenario_t *s = gl_calloc(1, sizeof *s);
  if (!s || !(s->models = gl_calloc(json_array_size(ms), sizeof *s->models))) {
    gl_free(s);
    return gl_err(GL_ENOMEM, "%s: out of memory", what);
  }
  s->n_models = (int)json_array_size(ms);
  gl_status_t st = GL_OK;
  json_t *nm = json_object_get(root, "name");
  snprintf(s->name, sizeof s->name, "%s", nm && json_is_string(nm) ? json_string_value(nm) : "scenario");
  s->duration_s = 30;
  double seed = 1;
  if ((st = num(root, "duration_s", &s->duration_s, false, what, -1)) < 0) goto fail;
  if ((st = num(root, "seed", &seed, false, what, -1)) < 0) goto fail;
  if (!(seed >= 0 && seed < 18446744073709551616.0 && seed == floor(seed))) {
    st = gl_err(GL_EPARSE, "%s: seed must be an integer in [0, 2^64)", what);
    goto fail;
  }
  if (!(s->duration_s > 0 && s->duration_s <= 1e6)) {
    st = gl_err(GL_EPARSE, "%s: duration_s must be in (0, 1e6]", what);
    goto fail;
  }
  s->seed = (uint64_t)seed;
  for (int i = 0; i < s->n_models; i++) {
    json_t *m = json_array_get(ms, (size_t)i);
    gl_scen_model_t *sm = &s->models[i];
    if (!json_is_object(m)) {
      st = gl_err(GL_EPARSE, "%s: models[%d]: expected an object", what, i);
      goto fail;
    }
    json_t *n = json_object_get(m, "name"), *p = json_object_get(m, "profile");
    if (!n || !json_is_string(n) || !json_string_length(n) || json_string_length(n) >= sizeof sm->name) {
      st = gl_err(GL_EPARSE, "%s: models[%d].name: missing or not a short string", what, i);
      goto fail;
    }
    snprintf(sm->name, sizeof sm->name, "%s", json_string_value(n));
    if (p && (!json_is_string(p) || !json_string_length(p) || json_string_length(p) >= sizeof sm->profile)) {
      st = gl_err(GL_EPARSE, "%s: models[%d].profile: expected a non-empty short string", what, i);
      goto fail;
    }
    snprintf(sm->profile, sizeof sm->profile, "%s", p ? json_string_value(p) : sm->name);
    sm->pct = 99;
    if ((st = num(m, "slo_ms", &sm->slo_ms, true, what, i)) < 0) goto fail;
    if ((st = num(m, "rate", &sm->rate, true, what, i)) < 0) goto fail;
    if ((st = num(m, "percentile", &sm->pct, false, what, i)) < 0) goto fail;
    if (!(sm->slo_ms > 0) || !(sm->rate >= 0) || !(sm->pct > 0 && sm->pct <= 100)) {
      st = gl_err(GL_EPARSE, "%s: models[%d] (%s): need slo_ms > 0, rate >= 0, 0 < percentile <= 100", what, i,
                  sm->name);
      goto fail;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(s->models[j].name, sm->name)) {
        st = gl_err(GL_EPARSE, "%s: model '%s' appears twice", what, sm->name);
        goto fail;
      }
    json_t *ph = json_object_get(m, "phases");
    if (ph) {
      if (!json_is_array(ph) || json_array_size(ph) > GL_SCEN_MAX_PHASES) {
        st = gl_err(GL_EPARSE, "%s: models[%d].phases: expected an array of at most %d", what, i, GL_SCEN_MAX_PHASES);
        goto fail;
      }
      for (size_t k = 0; k < json_array_size(ph); k++) {
        json_t *x = json_array_get(ph, k);
        double t = -1, r = -1;
        if (json_is_object(x)) num(x, "t_s", &t, false, what, i), num(x, "rate", &r, false, what, i);
        if (!(t >= 0) || !(r >= 0) || (k && t <= sm->phase_t[k - 1])) {
          st = gl_err(GL_EPARSE, "%s: models[%d].phases[%zu]: need {t_s, rate} >= 0 with t_s ascending", what, i, k);
          goto fail;
        }
        sm->phase_t[k] = t, sm->phase_rate[k] = r;
        sm->n_phases = (int)k + 1;
      }
    }
  }
  *out = s;
  return GL_OK;
fail:
  gl_scenario_destroy(s);
  return st;
}

gl_status_t gl_scenario_parse(const char *text, const char *what, gl_scenario_t **out) {
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  if (!root) return gl_err(GL_EPARSE, "%s: line %d: %s", what, je.line, je.text);
  gl_status_t st = parse(root, what, out);
  json_decref(root);
  return st;
}

gl_status_t gl_scenario_load(const char *path, gl_scenario_t **out) {
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) return gl_err(GL_EPARSE, "%s: %s%s", path, je.line > 0 ? "" : "", je.text);
  gl_status_t st = parse(root, path, out);
  json_decref(root);
  return st;
}

double gl_scenario_rate_at(const gl_scenario_t *s, int m, double t) {
  const gl_scen_model_t *sm = &s->models[m];
  double r = sm->rate;
  for (int k = 0; k < sm->n_phases && sm->phase_t[k] <= t; k++) r = sm->phase_rate[k];
  return r;
}

double gl_scenario_peak_rate(const gl_scenario_t *s, int m) {
  const gl_scen_model_t *sm = &s->models[m];
  double r = sm->n_phases && sm->phase_t[0] <= 0 ? 0 : sm->rate;
  for (int k = 0; k < sm->n_phases; k++) r = fmax(r, sm->phase_rate[k]);
  return r;
}

gl_status_t gl_scenario_models(const gl_scenario_t *s, const gl_profile_t *p, double scale, gl_sched_model_t *out) {
  for (int i = 0; i < s->n_models; i++) {
    const gl_scen_model_t *sm = &s->models[i];
    gl_sched_model_t *m = &out[i];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", sm->name);
    m->pm = gl_profile_find(p, sm->profile);
    if (m->pm < 0) return gl_err(GL_ENOTFOUND, "scenario %s: model '%s' is not in profile %s", s->name, sm->profile, p->name);
    m->slo_ms = sm->slo_ms;
    m->pct = sm->pct;
    m->rate = gl_scenario_peak_rate(s, i) * scale;
    m->mem_mb = p->models[m->pm].mem_mb;
  }
  return GL_OK;
}
