/* cli/profile_file.c - the profile file of `gpulet profile`: the measured state as a gl_profile_t
 * plus the measurement's own sections (runs, co-runs, the interference fit), written atomically,
 * and read back for --resume. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/stats.h"
#include "engine/engine.h"
#include "part/part.h"
#include "profile/profile.h"
#include "zoo/zoo.h"

#include "cli/profile_int.h"

int gl__prof_idx_of(const int *v, int n, int x) {
  for (int i = 0; i < n; i++)
    if (v[i] == x) return i;
  return -1;
}

const char *gl__prof_research_name(const char *zoo) {
  static const char *map[][2] = {{"mobilenetv2", "mobilenet_v2"}, {"mnasnet", "mnasnet1_0"},
                                 {"ssd-mobilenet", "ssd-mobilenetv1"}, {"bert-base", "bert"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(zoo, map[i][0])) return map[i][1];
  return zoo;
}

/* Builds the gl_profile_t of the current state. Features are filled when with_features. */
static gl_profile_t *to_profile(const prof_t *P) {
  const opts_t *o = &P->o;
  int ns = o->n_sizes, nb = o->n_batches;
  gl_profile_t *p = gl_profile_alloc(P->nm, ns, nb);
  if (!p) return NULL;
  snprintf(p->kind, sizeof p->kind, "cpu");
  snprintf(p->name, sizeof p->name, "%.47s", P->info.name);
  snprintf(p->unit, sizeof p->unit, "core");
  p->total_units = P->info.units_total;
  p->granularity = P->info.unit_align > 0 ? P->info.unit_align : 1;
  p->min_units = P->info.unit_min > 0 ? P->info.unit_min : 1;
  p->mem_mb = P->dev_mem_mb;
  memcpy(p->sizes, o->sizes, sizeof o->sizes);
  memcpy(p->batches, o->batches, sizeof o->batches);
  p->n_feat = 0;
  for (int b = 0; b < nb && p->n_feat < GL_PROFILE_MAX_FEAT; b++)
    if ((o->batches[b] & (o->batches[b] - 1)) == 0) p->feat_batches[p->n_feat++] = o->batches[b];
  memset(p->icoef, 0, sizeof p->icoef);
  p->icoef[4] = 1.0; /* no interference until a fit says otherwise */
  snprintf(p->who, sizeof p->who, "%s", P->who);
  snprintf(p->when, sizeof p->when, "%s", P->when);
  snprintf(p->commit, sizeof p->commit, "%s", P->commit);
  p->analytic = false;
  for (int mi = 0; mi < P->nm; mi++) {
    const mstate_t *s = &P->ms[mi];
    gl_profile_model_t *pm = &p->models[mi];
    snprintf(pm->name, sizeof pm->name, "%s", s->name);
    double ar = s->arena[nb - 1];
    if (isnan(ar))
      for (int b = nb - 1; b >= 0 && isnan(ar); b--) ar = s->arena[b];
    pm->mem_mb = (s->weights_bytes + (isnan(ar) ? 0 : ar)) / 1048576.0;
    memcpy(pm->lat_med, s->med, sizeof(double) * (size_t)(nb * ns));
    memcpy(pm->lat_p99, s->p99, sizeof(double) * (size_t)(nb * ns));
    for (int b = 0; b < nb; b++) pm->batch_ms[b] = isnan(s->batch_ms[b]) ? 0 : s->batch_ms[b];
    /* features (docs/profile-measure.md), bytes moved per second over what the level delivers:
     * cache = working set (weights + arena) per run over the median time at the largest size,
     * against the LLC copy bandwidth; memory = the part of the working set the core's own cache
     * cannot hold, at the same rate, against the DRAM copy bandwidth */
    for (int f = 0; f < p->n_feat; f++) {
      int b = gl__prof_idx_of(o->batches, nb, p->feat_batches[f]);
      double ws = s->weights_bytes + (isnan(s->arena[b]) ? 0 : s->arena[b]);
      double lat = NAN;
      for (int z = ns - 1; z >= 0 && isnan(lat); z--) lat = s->med[(size_t)b * ns + z];
      double l2 = (lat > 0 && P->llc_bw > 0) ? 100 * (ws / (lat / 1e3)) / P->llc_bw : 0;
      double beyond = ws - (P->l2_bytes > 0 ? P->l2_bytes : 0); /* what the core's own cache cannot hold */
      double dr = (lat > 0 && P->mem_bw > 0 && beyond > 0) ? 100 * (beyond / (lat / 1e3)) / P->mem_bw : 0;
      pm->l2_pct[f] = l2 > 100 ? 100 : l2;
      pm->dram_pct[f] = dr > 100 ? 100 : dr;
    }
  }
  return p;
}

static json_t *num_or_null(double v, double scale) {
  return isnan(v) ? json_null() : json_real(round(v * scale) / scale);
}

/* Writes the profile (gl_profile_save) and adds the measurement's own sections, atomically. */
gl_status_t gl__prof_write_file(prof_t *P, bool final) {
  const opts_t *o = &P->o;
  int ns = o->n_sizes, nb = o->n_batches;
  gl_profile_t *p = to_profile(P);
  if (!p) return gl_err(GL_ENOMEM, "out of memory");
  /* co-run samples and the fit */
  int nsamp = 0;
  double(*x)[4] = gl_malloc(sizeof *x * (size_t)(2 * P->n_co + 1));
  double *y = gl_malloc(sizeof(double) * (size_t)(2 * P->n_co + 1));
  if (!x || !y) {
    gl_free(x), gl_free(y), gl_profile_destroy(p);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  json_t *samples = json_array();
  for (int i = 0; i < P->n_co; i++) {
    const corun_t *c = &P->co[i];
    for (int side = 0; side < 2; side++) {
      int ms = side ? c->b : c->a, mo = side ? c->a : c->b, bs = side ? c->bb : c->ba, bo = side ? c->ba : c->bb;
      int us = side ? c->ub : c->ua, uo = side ? c->ua : c->ub;
      double alone = side ? c->alone_b : c->alone_a, co = side ? c->co_b : c->co_a;
      double l2s, ds, l2o, dso;
      gl_profile_features(p, ms, bs, &l2s, &ds);
      gl_profile_features(p, mo, bo, &l2o, &dso);
      double fs = (double)us / p->total_units, fo = (double)uo / p->total_units;
      double xi[4] = {l2s * fs, l2o * fo, ds * fs, dso * fo};
      memcpy(x[nsamp], xi, sizeof xi);
      y[nsamp++] = co / alone;
      json_array_append_new(
          samples, json_pack("{s:s,s:i,s:i,s:s,s:i,s:i,s:o,s:o,s:o,s:i,s:[o,o,o,o]}", "self", P->ms[ms].name, "batch",
                             bs, "units", us, "other", P->ms[mo].name, "other_batch", bo, "other_units", uo,
                             "alone_ms", num_or_null(alone, 1e4), "corun_ms", num_or_null(co, 1e4), "slowdown",
                             num_or_null(co / alone, 1e4), "runs", side ? c->nb : c->na, "x",
                             num_or_null(xi[0], 1e5), num_or_null(xi[1], 1e5), num_or_null(xi[2], 1e5),
                             num_or_null(xi[3], 1e5)));
    }
  }
  char fitmsg[256] = "no co-runs measured: coefficients are 0 with const 1 (no interference modelled)";
  if (nsamp >= 5) {
    double coef[5];
    if (gl_interference_fit((const double(*)[4])x, y, nsamp, coef) == GL_OK) {
      double rss = 0, mean = 0, tss = 0;
      for (int i = 0; i < nsamp; i++) mean += y[i] / nsamp;
      for (int i = 0; i < nsamp; i++) {
        double e = coef[0] * x[i][0] + coef[1] * x[i][1] + coef[2] * x[i][2] + coef[3] * x[i][3] + coef[4] - y[i];
        rss += e * e;
        tss += (y[i] - mean) * (y[i] - mean);
      }
      memcpy(p->icoef, coef, sizeof coef);
      snprintf(fitmsg, sizeof fitmsg,
               "gl_interference_fit over %d co-run samples: rms residual %.4f, R^2 %.3f, mean slowdown %.3f", nsamp,
               sqrt(rss / nsamp), tss > 0 ? 1 - rss / tss : 0, mean);
    } else {
      snprintf(fitmsg, sizeof fitmsg, "gl_interference_fit failed (%s); coefficients left at 0, const 1", gl_errmsg());
    }
  } else if (nsamp) {
    snprintf(fitmsg, sizeof fitmsg, "only %d co-run samples (the fit needs 5); coefficients left at 0, const 1", nsamp);
  }
  gl_free(x), gl_free(y);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", o->out);
  gl_status_t st = gl_profile_save(p, tmp);
  gl_profile_destroy(p);
  if (st < 0) {
    json_decref(samples);
    return st;
  }
  json_error_t je;
  json_t *root = json_load_file(tmp, 0, &je);
  if (!root) {
    json_decref(samples);
    return gl_err(GL_EIO, "%s: cannot re-read what was written: %s", tmp, je.text);
  }
  json_t *models = json_object_get(root, "models");
  for (int mi = 0; mi < P->nm; mi++) {
    const mstate_t *s = &P->ms[mi];
    json_t *jm = json_array_get(models, (size_t)mi), *ar = json_array(), *it = json_array(), *ci = json_array();
    for (int b = 0; b < nb; b++) {
      json_array_append_new(ar, num_or_null(s->arena[b], 1));
      json_t *ri = json_array(), *rc = json_array();
      for (int z = 0; z < ns; z++) {
        json_array_append_new(ri, json_integer(s->iters[(size_t)b * ns + z]));
        json_array_append_new(rc, num_or_null(100 * s->ci[(size_t)b * ns + z], 100));
      }
      json_array_append_new(it, ri);
      json_array_append_new(ci, rc);
    }
    json_object_set_new(jm, "source", json_string(s->source));
    json_object_set_new(jm, "weights_bytes", json_real(s->weights_bytes));
    json_object_set_new(jm, "arena_bytes", ar);
    json_object_set_new(jm, "runs", it);
    json_object_set_new(jm, "median_ci_pct", ci);
  }
  char notes[2048];
  snprintf(notes, sizeof notes,
           "%s%smeasured by gpulet profile on core-set partitions (executor pinned, OpenMP threads = cores); "
           "OMP_WAIT_POLICY=%s; load average at start %s; %s%s. %s",
           o->note ? o->note : "", o->note ? " | " : "", getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)",
           P->started_load, final ? "complete" : "INCOMPLETE (interrupted or still running; --resume continues it)",
           P->resumed,
           "Cells stop when the median's 95% CI half-width is under the --ci target or at the time cap, so p99 from "
           "few runs is close to the maximum seen.");
  json_object_set_new(root, "notes", json_string(notes));
  json_object_set_new(
      root, "measure",
      json_pack("{s:s,s:i,s:i,s:i,s:f,s:f,s:i,s:f,s:f}", "device", o->device, "warmup", o->mo.warmup, "min_runs",
                o->mo.iters_min, "max_runs", o->mo.iters_max, "time_cap_s", o->mo.cap_s, "ci_target", o->mo.ci,
                "bert_seq", o->seq, "llc_bytes", P->llc_bytes, "mem_bw_gbs", P->mem_bw / 1e9));
  json_object_set_new(json_object_get(root, "measure"), "llc_bw_gbs", json_real(P->llc_bw / 1e9));
  json_object_set_new(json_object_get(root, "measure"), "l2_bytes", json_real(P->l2_bytes));
  json_object_set_new(
      root, "features_are",
      json_string("l2_pct = 100 * min(1, (weights + arena bytes at that batch) / median latency at the largest "
                  "size / LLC copy bandwidth): the rate at which the model moves bytes through the shared cache; "
                  "dram_pct = 100 * min(1, (weights + arena bytes - private L2 bytes) / the same latency / DRAM copy "
                  "bandwidth): the rate of traffic the core's own cache cannot hold. Both bandwidths are measured "
                  "at the start with all cores copying (llc_bw_gbs, mem_bw_gbs). Estimates, not counters: "
                  "perf_event_open finds no hardware PMU in this VM"));
  json_object_set_new(root, "corun",
                      json_pack("{s:s,s:o}", "fit", fitmsg, "samples", samples));
  int rc = json_dump_file(root, tmp, JSON_INDENT(1) | JSON_COMPACT | JSON_REAL_PRECISION(8));
  json_decref(root);
  if (rc || rename(tmp, o->out)) return gl_err(GL_EIO, "%s: cannot write", o->out);
  return GL_OK;
}

/* --resume: copies cells and co-runs of the existing file into the state (matched by name, size,
 * batch). The file may be incomplete, so it is read leniently, not through gl_profile_load. */
gl_status_t gl__prof_resume_from(prof_t *P) {
  const opts_t *o = &P->o;
  json_error_t je;
  json_t *root = json_load_file(o->out, 0, &je);
  if (!root) {
    FILE *f = fopen(o->out, "r");
    if (!f) return GL_OK; /* nothing to resume */
    fclose(f);
    return gl_err(GL_EPARSE, "%s: line %d: %s (cannot resume from it)", o->out, je.line, je.text);
  }
  gl_status_t st = GL_OK;
  json_t *dev = json_object_get(root, "device"), *jsz = json_object_get(root, "sizes"),
         *jb = json_object_get(root, "batches"), *models = json_object_get(root, "models");
  const char *kind = json_string_value(json_object_get(dev, "kind"));
  const char *dname = json_string_value(json_object_get(dev, "name"));
  if (!kind || strcmp(kind, "cpu") || !dname || strcmp(dname, P->info.name)) {
    st = gl_err(GL_EINVAL, "%s: measured on another device (%s %s); not resuming into it", o->out, kind ? kind : "?",
                dname ? dname : "?");
    goto done;
  }
  {
    json_t *prov = json_object_get(root, "provenance");
    const char *w = json_string_value(json_object_get(prov, "when")), *c = json_string_value(json_object_get(prov, "commit"));
    if (w && c && strlen(w) < sizeof P->when && strlen(c) < sizeof P->commit) {
      snprintf(P->resumed, sizeof P->resumed, "; resumed at %s on %s (provenance keeps the first run's)", P->when, P->commit);
      snprintf(P->when, sizeof P->when, "%s", w);
      snprintf(P->commit, sizeof P->commit, "%s", c);
    }
  }
  if (!json_is_array(jsz) || !json_is_array(jb) || !json_is_array(models)) {
    st = gl_err(GL_EPARSE, "%s: sizes, batches or models missing; cannot resume", o->out);
    goto done;
  }
  for (size_t k = 0; k < json_array_size(models); k++) {
    json_t *jm = json_array_get(models, k);
    const char *name = json_string_value(json_object_get(jm, "name"));
    int mi = -1;
    for (int i = 0; name && i < P->nm; i++)
      if (!strcmp(P->ms[i].name, name)) mi = i;
    if (mi < 0) continue;
    mstate_t *s = &P->ms[mi];
    json_t *lat = json_object_get(jm, "latency_ms"), *med = json_object_get(lat, "median"),
           *q = json_object_get(lat, "p99"), *ar = json_object_get(jm, "arena_bytes"), *runs = json_object_get(jm, "runs"),
           *ci = json_object_get(jm, "median_ci_pct"), *bm = json_object_get(jm, "batch_ms");
    json_t *w = json_object_get(jm, "weights_bytes");
    if (json_is_number(w)) s->weights_bytes = json_number_value(w);
    for (size_t bi = 0; bi < json_array_size(jb); bi++) {
      int b = gl__prof_idx_of(o->batches, o->n_batches, (int)json_integer_value(json_array_get(jb, bi)));
      if (b < 0) continue;
      json_t *a = json_array_get(ar, bi), *bmv = json_array_get(bm, bi);
      if (json_is_number(a)) s->arena[b] = json_number_value(a);
      if (json_is_number(bmv)) s->batch_ms[b] = json_number_value(bmv);
      for (size_t zi = 0; zi < json_array_size(jsz); zi++) {
        int z = gl__prof_idx_of(o->sizes, o->n_sizes, (int)json_integer_value(json_array_get(jsz, zi)));
        if (z < 0) continue;
        json_t *v = json_array_get(json_array_get(med, bi), zi);
        if (!json_is_number(v) || !(json_number_value(v) > 0)) continue;
        size_t c = (size_t)b * o->n_sizes + z;
        s->med[c] = json_number_value(v);
        json_t *qv = json_array_get(json_array_get(q, bi), zi);
        s->p99[c] = json_is_number(qv) ? json_number_value(qv) : s->med[c];
        json_t *rv = json_array_get(json_array_get(runs, bi), zi), *cv = json_array_get(json_array_get(ci, bi), zi);
        s->iters[c] = json_is_integer(rv) ? (int)json_integer_value(rv) : 0;
        s->ci[c] = json_is_number(cv) ? json_number_value(cv) / 100 : NAN;
      }
    }
  }
  json_t *samples = json_object_get(json_object_get(root, "corun"), "samples");
  /* samples come in pairs (the two sides of one co-run) */
  for (size_t k = 0; k + 1 < json_array_size(samples); k += 2) {
    json_t *s0 = json_array_get(samples, k), *s1 = json_array_get(samples, k + 1);
    const char *na = json_string_value(json_object_get(s0, "self")), *nb = json_string_value(json_object_get(s0, "other"));
    int a = -1, b = -1;
    for (int i = 0; na && nb && i < P->nm; i++) {
      if (!strcmp(P->ms[i].name, na)) a = i;
      if (!strcmp(P->ms[i].name, nb)) b = i;
    }
    if (a < 0 || b < 0) continue;
    double t[4] = {json_number_value(json_object_get(s0, "alone_ms")), json_number_value(json_object_get(s0, "corun_ms")),
                   json_number_value(json_object_get(s1, "alone_ms")), json_number_value(json_object_get(s1, "corun_ms"))};
    if (!(t[0] > 0 && t[1] > 0 && t[2] > 0 && t[3] > 0 && isfinite(t[0] + t[1] + t[2] + t[3]))) continue; /* not usable */
    if (P->n_co == P->cap_co) {
      int nc = P->cap_co ? 2 * P->cap_co : 64;
      corun_t *g = gl_realloc(P->co, sizeof *g * (size_t)nc);
      if (!g) {
        st = gl_err(GL_ENOMEM, "out of memory");
        goto done;
      }
      P->co = g, P->cap_co = nc;
    }
    corun_t *c = &P->co[P->n_co++];
    c->a = a, c->b = b;
    c->ba = (int)json_integer_value(json_object_get(s0, "batch"));
    c->bb = (int)json_integer_value(json_object_get(s0, "other_batch"));
    c->ua = (int)json_integer_value(json_object_get(s0, "units"));
    c->ub = (int)json_integer_value(json_object_get(s0, "other_units"));
    c->alone_a = json_number_value(json_object_get(s0, "alone_ms"));
    c->co_a = json_number_value(json_object_get(s0, "corun_ms"));
    c->alone_b = json_number_value(json_object_get(s1, "alone_ms"));
    c->co_b = json_number_value(json_object_get(s1, "corun_ms"));
    c->na = (int)json_integer_value(json_object_get(s0, "runs"));
    c->nb = (int)json_integer_value(json_object_get(s1, "runs"));
  }
done:
  json_decref(root);
  return st;
}

