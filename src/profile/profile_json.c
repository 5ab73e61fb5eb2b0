/* profile/profile_json.c - the JSON profile format (docs/profile.md): read with validation, write. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "profile/profile.h"

static gl_status_t get_obj(json_t *o, const char *key, json_t **out, const char *what, const char *where) {
  *out = json_object_get(o, key);
  if (!*out || !json_is_object(*out)) return gl_err(GL_EPARSE, "%s: %s%s: missing or not an object", what, where, key);
  return GL_OK;
}

static gl_status_t get_str(json_t *o, const char *key, char *dst, size_t cap, bool required, const char *what,
                           const char *where) {
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) return gl_err(GL_EPARSE, "%s: %s%s: missing", what, where, key);
    dst[0] = 0;
    return GL_OK;
  }
  if (!json_is_string(v)) return gl_err(GL_EPARSE, "%s: %s%s: expected a string", what, where, key);
  if (strlen(json_string_value(v)) >= cap) return gl_err(GL_EPARSE, "%s: %s%s: too long", what, where, key);
  strcpy(dst, json_string_value(v));
  return GL_OK;
}

static gl_status_t get_num(json_t *o, const char *key, double *dst, const char *what, const char *where) {
  json_t *v = json_object_get(o, key);
  if (!v || !json_is_number(v)) return gl_err(GL_EPARSE, "%s: %s%s: missing or not a number", what, where, key);
  *dst = json_number_value(v);
  return GL_OK;
}

static gl_status_t get_int(json_t *o, const char *key, int *dst, const char *what, const char *where) {
  json_t *v = json_object_get(o, key);
  if (!v || !json_is_integer(v)) return gl_err(GL_EPARSE, "%s: %s%s: missing or not an integer", what, where, key);
  json_int_t x = json_integer_value(v);
  if (x < -1000000000 || x > 1000000000) return gl_err(GL_EPARSE, "%s: %s%s: out of range", what, where, key);
  *dst = (int)x;
  return GL_OK;
}

/* Reads an array of n numbers (null allowed -> NaN when allow_null). */
static gl_status_t get_nums(json_t *a, int n, double *dst, bool allow_null, const char *what, const char *where) {
  if (!a || !json_is_array(a)) return gl_err(GL_EPARSE, "%s: %s: expected an array", what, where);
  if ((int)json_array_size(a) != n)
    return gl_err(GL_EPARSE, "%s: %s: expected %d entries, got %zu", what, where, n, json_array_size(a));
  for (int i = 0; i < n; i++) {
    json_t *v = json_array_get(a, (size_t)i);
    if (json_is_null(v) && allow_null) dst[i] = NAN;
    else if (json_is_number(v)) dst[i] = json_number_value(v);
    else return gl_err(GL_EPARSE, "%s: %s[%d]: expected a number%s", what, where, i, allow_null ? " or null" : "");
  }
  return GL_OK;
}

static gl_status_t get_ints(json_t *a, int max, int *n, int *dst, const char *what, const char *where) {
  if (!a || !json_is_array(a)) return gl_err(GL_EPARSE, "%s: %s: missing or not an array", what, where);
  size_t k = json_array_size(a);
  if (k < 1 || (int)k > max) return gl_err(GL_EPARSE, "%s: %s: needs 1..%d entries, has %zu", what, where, max, k);
  for (size_t i = 0; i < k; i++) {
    json_t *v = json_array_get(a, i);
    if (!json_is_integer(v)) return gl_err(GL_EPARSE, "%s: %s[%zu]: expected an integer", what, where, i);
    json_int_t x = json_integer_value(v);
    if (x < 1 || x > 1000000) return gl_err(GL_EPARSE, "%s: %s[%zu]: out of range", what, where, i);
    dst[i] = (int)x;
  }
  *n = (int)k;
  return GL_OK;
}

static gl_status_t parse_root(json_t *root, const char *what, gl_profile_t **out) {
  if (!json_is_object(root)) return gl_err(GL_EPARSE, "%s: top level must be an object", what);
  json_t *fmt = json_object_get(root, "format");
  if (!fmt || !json_is_string(fmt) || strcmp(json_string_value(fmt), "gpulet-profile"))
    return gl_err(GL_EPARSE, "%s: format must be \"gpulet-profile\"", what);
  int version = 0;
  GL_TRY(get_int(root, "version", &version, what, ""));
  if (version != 1) return gl_err(GL_EUNSUPPORTED, "%s: profile version %d (this build reads 1)", what, version);
  int sizes[GL_PROFILE_MAX_SIZES], batches[GL_PROFILE_MAX_BATCHES], ns, nb;
  GL_TRY(get_ints(json_object_get(root, "sizes"), GL_PROFILE_MAX_SIZES, &ns, sizes, what, "sizes"));
  GL_TRY(get_ints(json_object_get(root, "batches"), GL_PROFILE_MAX_BATCHES, &nb, batches, what, "batches"));
  json_t *models = json_object_get(root, "models");
  if (!models || !json_is_array(models) || json_array_size(models) < 1)
    return gl_err(GL_EPARSE, "%s: models: missing or empty array", what);
  if (json_array_size(models) > 4096) return gl_err(GL_ELIMIT, "%s: too many models", what);
  gl_profile_t *p = gl_profile_alloc((int)json_array_size(models), ns, nb);
  if (!p) return gl_err(GL_ENOMEM, "%s: out of memory", what);
  memcpy(p->sizes, sizes, sizeof sizes);
  memcpy(p->batches, batches, sizeof batches);
  gl_status_t st;
  json_t *dev, *prov, *itf;
#define T(x)                      \
  do {                            \
    if ((st = (x)) < 0) goto fail; \
  } while (0)
  T(get_obj(root, "device", &dev, what, ""));
  T(get_str(dev, "kind", p->kind, sizeof p->kind, true, what, "device."));
  T(get_str(dev, "name", p->name, sizeof p->name, true, what, "device."));
  T(get_str(dev, "unit", p->unit, sizeof p->unit, true, what, "device."));
  T(get_int(dev, "total_units", &p->total_units, what, "device."));
  T(get_int(dev, "granularity", &p->granularity, what, "device."));
  T(get_int(dev, "min_units", &p->min_units, what, "device."));
  T(get_num(dev, "memory_mb", &p->mem_mb, what, "device."));
  T(get_obj(root, "provenance", &prov, what, ""));
  T(get_str(prov, "who", p->who, sizeof p->who, false, what, "provenance."));
  T(get_str(prov, "when", p->when, sizeof p->when, false, what, "provenance."));
  T(get_str(prov, "commit", p->commit, sizeof p->commit, false, what, "provenance."));
  json_t *an = json_object_get(prov, "analytic");
  if (!an || !json_is_boolean(an)) {
    st = gl_err(GL_EPARSE, "%s: provenance.analytic: missing or not true/false", what);
    goto fail;
  }
  p->analytic = json_is_true(an);
  T(get_obj(root, "interference", &itf, what, ""));
  T(get_ints(json_object_get(itf, "batches"), GL_PROFILE_MAX_FEAT, &p->n_feat, p->feat_batches, what,
             "interference.batches"));
  {
    json_t *c;
    T(get_obj(itf, "coef", &c, what, "interference."));
    static const char *keys[5] = {"l2_self", "l2_other", "dram_self", "dram_other", "const"};
    for (int i = 0; i < 5; i++) T(get_num(c, keys[i], &p->icoef[i], what, "interference.coef."));
  }
  for (int mi = 0; mi < p->n_models; mi++) {
    json_t *m = json_array_get(models, (size_t)mi);
    gl_profile_model_t *pm = &p->models[mi];
    char where[96];
    snprintf(where, sizeof where, "models[%d].", mi);
    if (!json_is_object(m)) {
      st = gl_err(GL_EPARSE, "%s: models[%d]: expected an object", what, mi);
      goto fail;
    }
    T(get_str(m, "name", pm->name, sizeof pm->name, true, what, where));
    T(get_num(m, "memory_mb", &pm->mem_mb, what, where));
    json_t *lat;
    T(get_obj(m, "latency_ms", &lat, what, where));
    for (int k = 0; k < 2; k++) {
      const char *key = k ? "p99" : "median";
      json_t *rows = json_object_get(lat, key);
      double *dst = k ? pm->lat_p99 : pm->lat_med;
      char w2[160];
      snprintf(w2, sizeof w2, "models[%d].latency_ms.%s", mi, key);
      if (!rows && k == 1) continue; /* p99 optional */
      if (!rows || !json_is_array(rows) || (int)json_array_size(rows) != nb) {
        st = gl_err(GL_EPARSE, "%s: %s: expected %d rows (one per batch)", what, w2, nb);
        goto fail;
      }
      for (int b = 0; b < nb; b++) {
        char w3[180];
        snprintf(w3, sizeof w3, "%s[%d]", w2, b);
        T(get_nums(json_array_get(rows, (size_t)b), ns, dst + (size_t)b * ns, true, what, w3));
      }
    }
    char w4[128];
    json_t *bm = json_object_get(m, "batch_ms");
    if (bm) {
      snprintf(w4, sizeof w4, "models[%d].batch_ms", mi);
      T(get_nums(bm, nb, pm->batch_ms, false, what, w4));
    }
    snprintf(w4, sizeof w4, "models[%d].l2_pct", mi);
    T(get_nums(json_object_get(m, "l2_pct"), p->n_feat, pm->l2_pct, false, what, w4));
    snprintf(w4, sizeof w4, "models[%d].dram_pct", mi);
    T(get_nums(json_object_get(m, "dram_pct"), p->n_feat, pm->dram_pct, false, what, w4));
  }
#undef T
  if ((st = gl_profile_validate(p, what)) < 0) goto fail;
  *out = p;
  return GL_OK;
fail:
  gl_profile_destroy(p);
  return st;
}

gl_status_t gl_profile_parse(const char *text, const char *what, gl_profile_t **out) {
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  if (!root) return gl_err(GL_EPARSE, "%s: line %d: %s", what, je.line, je.text);
  gl_status_t st = parse_root(root, what, out);
  json_decref(root);
  return st;
}

gl_status_t gl_profile_load(const char *path, gl_profile_t **out) {
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) {
    FILE *f = fopen(path, "r");
    if (!f) return gl_err(GL_EIO, "%s: cannot open", path);
    fclose(f);
    return gl_err(GL_EPARSE, "%s: line %d: %s", path, je.line, je.text);
  }
  gl_status_t st = parse_root(root, path, out);
  json_decref(root);
  return st;
}

static json_t *nums(const double *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, isnan(v[i]) ? json_null() : json_real(round(v[i] * 1e5) / 1e5));
  return a;
}

static json_t *ints(const int *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
  return a;
}

gl_status_t gl_profile_save(const gl_profile_t *p, const char *path) {
  json_t *root = json_object();
  json_object_set_new(root, "format", json_string("gpulet-profile"));
  json_object_set_new(root, "version", json_integer(1));
  json_object_set_new(root, "device",
                      json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:f}", "kind", p->kind, "name", p->name, "unit", p->unit,
                                "total_units", p->total_units, "granularity", p->granularity, "min_units",
                                p->min_units, "memory_mb", p->mem_mb));
  json_object_set_new(root, "provenance",
                      json_pack("{s:s,s:s,s:s,s:b}", "who", p->who, "when", p->when, "commit", p->commit,
                                "analytic", p->analytic));
  json_object_set_new(root, "sizes", ints(p->sizes, p->n_sizes));
  json_object_set_new(root, "batches", ints(p->batches, p->n_batches));
  json_object_set_new(root, "interference",
                      json_pack("{s:o,s:{s:f,s:f,s:f,s:f,s:f}}", "batches", ints(p->feat_batches, p->n_feat), "coef",
                                "l2_self", p->icoef[0], "l2_other", p->icoef[1], "dram_self", p->icoef[2],
                                "dram_other", p->icoef[3], "const", p->icoef[4]));
  json_t *models = json_array();
  for (int mi = 0; mi < p->n_models; mi++) {
    const gl_profile_model_t *m = &p->models[mi];
    json_t *med = json_array(), *q = json_array();
    for (int b = 0; b < p->n_batches; b++) {
      json_array_append_new(med, nums(m->lat_med + (size_t)b * p->n_sizes, p->n_sizes));
      json_array_append_new(q, nums(m->lat_p99 + (size_t)b * p->n_sizes, p->n_sizes));
    }
    json_array_append_new(models, json_pack("{s:s,s:f,s:{s:o,s:o},s:o,s:o,s:o}", "name", m->name, "memory_mb",
                                            m->mem_mb, "latency_ms", "median", med, "p99", q, "batch_ms",
                                            nums(m->batch_ms, p->n_batches), "l2_pct", nums(m->l2_pct, p->n_feat),
                                            "dram_pct", nums(m->dram_pct, p->n_feat)));
  }
  json_object_set_new(root, "models", models);
  int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_COMPACT);
  json_decref(root);
  if (rc) return gl_err(GL_EIO, "%s: cannot write", path);
  return GL_OK;
}
