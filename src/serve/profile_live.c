/* serve/profile_live.c - the server's live profile: finding a served model's row (or adding one
 * from its load-time measurement), continuous profiling (each executed batch refines its
 * (model, batch, units) cell; cells never measured follow the model's measured/profiled ratio)
 * and the interference refit from co-run batches. All under the control state's prof_mu. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/let.h"
#include "serve/serve_int.h"

#define CELL_SAMPLES 5    /* measured batches before a profile cell is replaced */

/* ---- the live profile ---- */

static bool same_name(const char *a, const char *b) {
  for (;;) {
    while (*a == '_' || *a == '-') a++;
    while (*b == '_' || *b == '-') b++;
    char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a, y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
    if (x != y) return false;
    if (!x) return true;
    a++, b++;
  }
}

/* Grows the cell arrays to the profile's model count (prof_mu held); new models' original
 * values are their current cells. */
gl_status_t gl_sctl_cells_fit(gl_sctl_t *c) {
  int n = c->prof->n_models, o = c->cells_cap;
  if (n <= o) return GL_OK;
  size_t per = (size_t)c->prof->n_batches * (size_t)c->prof->n_sizes;
  double *e = gl_realloc(c->cell_ewma, sizeof(double) * per * (size_t)n);
  if (e) c->cell_ewma = e;
  int *k = gl_realloc(c->cell_n, sizeof(int) * per * (size_t)n);
  if (k) c->cell_n = k;
  double *g = gl_realloc(c->cell_orig, sizeof(double) * per * (size_t)n);
  if (g) c->cell_orig = g;
  double *cb = gl_realloc(c->calib, sizeof(double) * (size_t)n);
  if (cb) c->calib = cb;
  double *cp = gl_realloc(c->calib_plan, sizeof(double) * (size_t)n);
  if (cp) c->calib_plan = cp;
  double *so = gl_realloc(c->cell_solo, sizeof(double) * per * (size_t)n);
  if (so) c->cell_solo = so;
  int *sn = gl_realloc(c->cell_solo_n, sizeof(int) * per * (size_t)n);
  if (sn) c->cell_solo_n = sn;
  if (!e || !k || !g || !cb || !cp || !so || !sn) return gl_err(GL_ENOMEM, "out of memory");
  memset(c->cell_solo + per * (size_t)o, 0, sizeof(double) * per * (size_t)(n - o));
  memset(c->cell_solo_n + per * (size_t)o, 0, sizeof(int) * per * (size_t)(n - o));
  memset(c->cell_ewma + per * (size_t)o, 0, sizeof(double) * per * (size_t)(n - o));
  memset(c->cell_n + per * (size_t)o, 0, sizeof(int) * per * (size_t)(n - o));
  for (int m = o; m < n; m++) {
    memcpy(c->cell_orig + per * (size_t)m, c->prof->models[m].lat_med, sizeof(double) * per);
    c->calib[m] = c->calib_plan[m] = 1;
  }
  c->cells_cap = n;
  return GL_OK;
}

/* Appends a model to the live profile with latencies from its load-time measurement: batch b on
 * u cores = lat1 * (0.4 + 0.6 b) / u^0.7 (a guess the measured batches replace). */
static gl_status_t add_fallback(gl_sctl_t *c, const gl_smodel_t *m) {
  gl_profile_t *o = c->prof;
  gl_profile_t *p = gl_profile_alloc(o->n_models + 1, o->n_sizes, o->n_batches);
  if (!p) return gl_err(GL_ENOMEM, "out of memory");
  gl_profile_model_t *keep = p->models;
  int nm = p->n_models;
  *p = *o;
  p->models = keep;
  p->n_models = nm;
  size_t cells = (size_t)o->n_sizes * (size_t)o->n_batches;
  for (int i = 0; i < o->n_models; i++) {
    gl_profile_model_t *d = &p->models[i], *s = &o->models[i];
    double *lm = d->lat_med, *lp = d->lat_p99, *bm = d->batch_ms;
    *d = *s;
    d->lat_med = lm, d->lat_p99 = lp, d->batch_ms = bm;
    memcpy(lm, s->lat_med, cells * sizeof(double));
    memcpy(lp, s->lat_p99, cells * sizeof(double));
    memcpy(bm, s->batch_ms, (size_t)o->n_batches * sizeof(double));
  }
  gl_profile_model_t *n = &p->models[o->n_models];
  snprintf(n->name, sizeof n->name, "%.47s", m->name);
  n->mem_mb = 100;
  double l1 = m->lat1_ms > 0 ? m->lat1_ms : 1;
  for (int b = 0; b < o->n_batches; b++)
    for (int s = 0; s < o->n_sizes; s++) {
      double v = l1 * (0.4 + 0.6 * o->batches[b]) / pow(o->sizes[s], 0.7);
      n->lat_med[(size_t)b * o->n_sizes + s] = v;
      n->lat_p99[(size_t)b * o->n_sizes + s] = v * 1.2;
    }
  /* o's arrays were copied; free o without its models' shared pointers */
  gl_profile_destroy(o);
  c->prof = p;
  return gl_sctl_cells_fit(c);
}

gl_status_t gl_sctl_profile_model(gl_server_t *s, gl_smodel_t *m) {
  gl_sctl_t *c = &s->ctl;
  pthread_mutex_lock(&c->prof_mu);
  const char *want = m->cfg.profile_model[0] ? m->cfg.profile_model : m->name;
  int pm = gl_profile_find(c->prof, want);
  for (int i = 0; pm < 0 && i < c->prof->n_models; i++)
    if (same_name(c->prof->models[i].name, want)) pm = i;
  gl_status_t st = GL_OK;
  if (pm < 0 && m->cfg.profile_model[0]) {
    st = gl_err(GL_EINVAL, "config.json: profile_model '%s' is not in the profile (%s)", want, c->prof_src);
  } else if (pm < 0) {
    st = add_fallback(c, m);
    pm = c->prof->n_models - 1;
    if (!st && !s->o.quiet)
      fprintf(stderr, "gpulet serve: model %s is not in the profile (%s): planning it with its load-time latency (%.3f ms at batch 1 on one core) until its batches are measured\n",
              m->name, c->prof_src, m->lat1_ms);
  }
  if (!st) m->pm = pm;
  pthread_mutex_unlock(&c->prof_mu);
  /* the window in 5 buckets (the rate is the busiest bucket's, as the simulator's) */
  double bucket = s->o.rate_window_s / 5;
  gl_rate_init(&m->est, bucket < 0.05 ? 0.05 : bucket, 5);
  return st;
}

/* What else runs as l starts a batch (the first other gpu-let found busy). */
void gl_sctl_peek(void *user, gl_slet_t *l, gl_slet_corun_t *co) {
  gl_server_t *s = user;
  gl_sctl_t *c = &s->ctl;
  co->pm = -1;
  pthread_mutex_lock(&c->mu);
  for (int i = 0; i < c->n_lets && co->pm < 0; i++) {
    gl_slet_t *o = c->lets[i];
    if (o == l || o->sdev != l->sdev) continue; /* interference is modelled within a device */
    int pm = atomic_load(&o->run_pm);
    if (pm < 0) continue;
    co->pm = pm;
    co->size = atomic_load(&o->run_size);
    co->units = o->grant.units;
  }
  pthread_mutex_unlock(&c->mu);
}

/* Interference (PAPER.md §8): a batch that ran beside another is a sample of its slowdown over
 * the same cell run alone; every 32 new samples the coefficients are refitted
 * (gl_interference_fit) into the live profile, which the next plans use (prof_mu held). */
static void interference_sample(gl_sctl_t *c, int pm, int size, int units, double ms, gl_slet_corun_t co, size_t solo_idx) {
  gl_profile_t *p = c->prof;
  if (c->cell_solo_n[solo_idx] < 3 || co.pm >= p->n_models || co.units <= 0) return;
  double y = ms / c->cell_solo[solo_idx];
  if (!(y > 0.5 && y < 5)) return;
  double l2, dr, l2o, dro;
  gl_profile_features(p, pm, size, &l2, &dr);
  gl_profile_features(p, co.pm, co.size, &l2o, &dro);
  double sh = (double)units / p->total_units, sho = (double)co.units / p->total_units;
  int i = c->i_head;
  c->ix[i][0] = l2 * sh, c->ix[i][1] = l2o * sho, c->ix[i][2] = dr * sh, c->ix[i][3] = dro * sho;
  c->iy[i] = y;
  c->i_head = (c->i_head + 1) % GL_SERVE_ISAMPLES;
  if (c->i_n < GL_SERVE_ISAMPLES) c->i_n++;
  if (++c->i_new < 32 || c->i_n < 16) return;
  c->i_new = 0;
  double coef[5];
  if (gl_interference_fit((const double (*)[4])c->ix, c->iy, c->i_n, coef)) return; /* degenerate: keep */
  for (int k = 0; k < 5; k++)
    if (!isfinite(coef[k]) || fabs(coef[k]) > 100) return;
  memcpy(p->icoef, coef, sizeof coef);
  c->i_fits++;
}

/* Continuous profiling: each executed batch refines its (model, batch, units) cell. */
void gl_sctl_observe(void *user, gl_slet_t *l, int k, int size, int64_t ns, gl_slet_corun_t co) {
  gl_server_t *s = user;
  gl_sctl_t *c = &s->ctl;
  int pm = l->mem[k].m->pm;
  /* the CPU fallback's batches say nothing about the GPUs' profile */
  if (l->sdev && s->devs[l->sdev->id].fallback) return;
  pthread_mutex_lock(&c->prof_mu);
  gl_profile_t *p = c->prof;
  int bi = -1, si = -1;
  for (int b = 0; b < p->n_batches; b++)
    if (p->batches[b] == size) bi = b;
  for (int u = 0; u < p->n_sizes; u++)
    if (p->sizes[u] == l->grant.units) si = u;
  if (bi >= 0 && si >= 0 && pm >= 0 && pm < c->cells_cap) {
    size_t per = (size_t)p->n_batches * p->n_sizes, cell = (size_t)bi * p->n_sizes + si, idx = per * pm + cell;
    double ms = gl_ns_to_ms(ns);
    if (co.pm < 0) {
      c->cell_solo[idx] = c->cell_solo_n[idx] ? c->cell_solo[idx] * 0.8 + fmin(ms, 2 * c->cell_solo[idx]) * 0.2 : ms;
      c->cell_solo_n[idx]++;
    } else {
      interference_sample(c, pm, size, l->grant.units, ms, co, idx);
    }
    /* a batch stalled by a preemption (a shared CPU) counts at most twice the cell, as in the
     * gpu-let's own estimate (gl_slet_lat_update): one stall must not make a model look unable
     * to meet its SLO and the plan infeasible; a lasting slowdown still moves it, 20% a batch */
    c->cell_ewma[idx] = c->cell_n[idx] ? c->cell_ewma[idx] * 0.8 + fmin(ms, 2 * c->cell_ewma[idx]) * 0.2 : ms;
    if (++c->cell_n[idx] >= CELL_SAMPLES) {
      gl_profile_model_t *pmod = &p->models[pm];
      double old = pmod->lat_med[cell], v = c->cell_ewma[idx];
      pmod->lat_med[cell] = v;
      if (isnan(pmod->lat_p99[cell]) || pmod->lat_p99[cell] < v) pmod->lat_p99[cell] = v * 1.1;
      double ratio = isnan(old) || old <= 0 ? 2 : v / old;
      /* the drift threshold, and more than timing noise (0.1 ms) */
      if ((ratio > 1.3 || ratio < 1 / 1.3) && !(fabs(v - old) < 0.1)) c->prof_dirty = true;
      c->prof_updates++;
      /* calibration: cells never measured follow the measured ones' ratio to the profile */
      double orig = c->cell_orig[idx];
      if (orig > 0 && isfinite(orig)) {
        c->calib[pm] = c->calib[pm] == 1 ? v / orig : c->calib[pm] * 0.9 + v / orig * 0.1; /* 1: none yet */
        for (size_t q = 0; q < per; q++) {
          double o = c->cell_orig[per * pm + q];
          if (c->cell_n[per * pm + q] >= CELL_SAMPLES || !(o > 0)) continue;
          pmod->lat_med[q] = o * c->calib[pm];
          if (!(pmod->lat_p99[q] >= pmod->lat_med[q])) pmod->lat_p99[q] = pmod->lat_med[q] * 1.1;
        }
        double moved = c->calib[pm] / c->calib_plan[pm], o1 = c->cell_orig[per * pm];
        if ((moved > 1.3 || moved < 1 / 1.3) && o1 > 0 && fabs(o1 * (c->calib[pm] - c->calib_plan[pm])) > 0.1) c->prof_dirty = true;
      }
    }
  }
  pthread_mutex_unlock(&c->prof_mu);
}

