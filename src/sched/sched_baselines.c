/* sched/sched_baselines.c - baselines: Nexus squishy bin packing, Triton-like, static split, bound. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/sched_int.h"

/* Nexus residual (PAPER.md §11.3): b, max duty (ms) and occupancy for rate r on a whole device. */
static int nexus_residual(const gl_sched_input_t *in, int m, double r, double *max_duty) {
  int total = in->prof->total_units, b = 0;
  double slo = in->models[m].slo_ms;
  /* the largest b that meets the SLO after collecting b requests and whose duty cycle holds it
   * (occupancy <= 1: l(b) <= min(L - l(b), b/r)) */
  for (int x = 1; x <= in->max_batch; x++) {
    double l = gl_sched_latency(in, m, x, total, 1);
    if ((x - 1) * 1000.0 / r + l <= slo && l <= fmin(slo - l, 1000.0 * x / r)) b = x;
  }
  if (!b) return 0;
  double l = gl_sched_latency(in, m, b, total, 1);
  *max_duty = fmin(slo - l, 1000.0 * b / r);
  return *max_duty > 0 ? b : 0;
}

typedef struct {
  int m;
  double r, occ;
} resid_t;

static int cmp_resid(const void *a, const void *b) {
  const resid_t *x = a, *y = b;
  if (x->occ != y->occ) return x->occ > y->occ ? -1 : 1;
  return x->m - y->m;
}

/* Tries member set of let L plus (m, r): the merged duty, batches and occupancy; true if feasible. */
static bool nexus_merge(const gl_sched_input_t *in, const gl_sched_let_t *L, int m, double r, gl_sched_let_t *out) {
  int total = in->prof->total_units;
  if (L->n_members + 1 > GL_PLAN_MAX_MEMBERS) return false;
  *out = *L;
  out->m[out->n_members++] = (gl_sched_member_t){m, 0, r, 0, 0, 1};
  double D = INFINITY;
  for (int k = 0; k < out->n_members; k++) {
    double md;
    if (!nexus_residual(in, out->m[k].model, out->m[k].rate, &md)) return false;
    if (md < D) D = md;
  }
  double E = 0;
  for (int k = 0; k < out->n_members; k++) {
    gl_sched_member_t *x = &out->m[k];
    int B = gl_sched_sat_batch(in, x->model, total, 1, NULL);
    int b = (int)ceil(D * x->rate / 1000 - 1e-9);
    if (b < 1) b = 1;
    if (b > B) return false;
    x->batch = b;
    x->lat_ms = gl_sched_latency(in, x->model, b, total, 1);
    E += x->lat_ms;
  }
  if (E > D) return false;
  double mem = in->ctx_mb;
  for (int k = 0; k < out->n_members; k++) mem += in->models[out->m[k].model].mem_mb;
  if (mem > in->mem_room * in->prof->mem_mb) return false;
  out->duty_ms = D;
  out->occupancy = E / D;
  out->saturated = false;
  for (int k = 0; k < out->n_members; k++) out->m[k].tput = 1000.0 * out->m[k].batch / D;
  return true;
}

gl_status_t gl__policy_sbp(const gl_sched_input_t *in, gl_sched_plan_t *p) {
  int total = in->prof->total_units, used = 0, n = in->n_models;
  resid_t *rs = gl_calloc((size_t)n, sizeof *rs);
  if (!rs) return gl_err(GL_ENOMEM, "sbp: out of memory");
  int nr = 0;
  for (int m = 0; m < n; m++) {
    double T, r = in->models[m].rate;
    int B = gl_sched_sat_batch(in, m, total, 1, &T);
    double lat = gl_sched_latency(in, m, B, total, 1);
    if (2 * lat > in->models[m].slo_ms && lat > in->models[m].slo_ms) {
      gl__fail(p, "%s: cannot meet its SLO even alone on a device", in->models[m].name);
      goto out;
    }
    if (in->models[m].mem_mb + in->ctx_mb > in->mem_room * in->prof->mem_mb) {
      gl__fail(p, "%s: does not fit in device memory", in->models[m].name);
      goto out;
    }
    while (r >= T && r > 0) {
      if (used == p->n_devices) {
        gl__fail(p, "needs more than %d devices (whole devices for %s)", p->n_devices, in->models[m].name);
        goto out;
      }
      gl_sched_let_t *L = &p->dev[used].lets[0];
      p->dev[used++].n_lets = 1;
      *L = (gl_sched_let_t){.units = total, .n_members = 1, .saturated = true, .duty_ms = lat, .occupancy = 1};
      L->m[0] = (gl_sched_member_t){m, B, T, T, lat, 1};
      r -= T;
    }
    if (r > 1e-9) {
      double md;
      int b = nexus_residual(in, m, r, &md);
      if (!b) {
        gl__fail(p, "%s: no batch meets its SLO at %.1f req/s", in->models[m].name, r);
        goto out;
      }
      rs[nr++] = (resid_t){m, r, gl_sched_latency(in, m, b, total, 1) / md};
    }
  }
  qsort(rs, (size_t)nr, sizeof *rs, cmp_resid);
  int first_resid = used;
  for (int i = 0; i < nr; i++) {
    int best = -1;
    double best_occ = -1;
    gl_sched_let_t tmp;
    for (int d = first_resid; d < used; d++)
      if (nexus_merge(in, &p->dev[d].lets[0], rs[i].m, rs[i].r, &tmp) && tmp.occupancy > best_occ)
        best = d, best_occ = tmp.occupancy;
    if (best < 0) {
      if (used == p->n_devices) {
        gl__fail(p, "needs more than %d devices (residual of %s)", p->n_devices, in->models[rs[i].m].name);
        goto out;
      }
      best = used++;
      p->dev[best].n_lets = 1;
      p->dev[best].lets[0] = (gl_sched_let_t){.units = total};
    }
    gl_sched_let_t *L = &p->dev[best].lets[0];
    if (!nexus_merge(in, L, rs[i].m, rs[i].r, &tmp)) {
      gl__fail(p, "%s: residual does not fit an empty device", in->models[rs[i].m].name);
      goto out;
    }
    *L = tmp;
  }
out:
  gl_free(rs);
  return GL_OK;
}

gl_status_t gl__policy_triton(const gl_sched_input_t *in, gl_sched_plan_t *p) {
  int total = in->prof->total_units, n = in->n_models, N = p->n_devices;
  if (n > GL_PLAN_MAX_MEMBERS) return gl_err(GL_EUNSUPPORTED, "triton: more than %d models", GL_PLAN_MAX_MEMBERS);
  double mem = in->ctx_mb, U = 0, duty = 0;
  gl_sched_let_t L = {.units = total, .n_members = n};
  for (int m = 0; m < n; m++) {
    double T;
    int bs = gl_sched_sat_batch(in, m, total, 1, &T);
    int b = in->max_batch; /* dynamic batching up to the max batch the SLO allows */
    while (b > 1 && gl_sched_latency(in, m, b, total, 1) > in->models[m].slo_ms) b--;
    (void)bs;
    double lat = gl_sched_latency(in, m, b, total, 1);
    L.m[m] = (gl_sched_member_t){m, b, in->models[m].rate / N, T, lat, 1};
    U += in->models[m].rate / N / T;
    duty += lat;
    mem += in->models[m].mem_mb;
  }
  L.duty_ms = duty;
  L.occupancy = U;
  if (mem > in->mem_room * in->prof->mem_mb) return gl__fail(p, "all models do not fit one device's memory"), GL_OK;
  for (int d = 0; d < N; d++) {
    p->dev[d].n_lets = 1;
    p->dev[d].lets[0] = L;
  }
  if (mem > in->mem_room * in->prof->mem_mb) gl__fail(p, "all models do not fit one device's memory");
  else if (U > 1) gl__fail(p, "utilisation %.2f > 1 on each of %d devices", U, N);
  return GL_OK;
}

gl_status_t gl__policy_static(const gl_sched_input_t *in, gl_sched_plan_t *p) {
  int total = in->prof->total_units, g = in->prof->granularity, M = in->n_models, N = p->n_devices;
  int k = (M + N - 1) / N;
  if (k > GL_PLAN_MAX_LETS) return gl_err(GL_EUNSUPPORTED, "static: more than %d partitions per device", GL_PLAN_MAX_LETS);
  int units = total / k / g * g;
  if (units < in->prof->min_units) {
    gl__fail(p, "%d partitions per device are below the smallest grantable size", k);
    return GL_OK;
  }
  int *reps = gl_calloc((size_t)M, sizeof *reps);
  if (!reps) return gl_err(GL_ENOMEM, "static: out of memory");
  for (int j = 0; j < N * k; j++) reps[j % M]++;
  for (int d = 0; d < N; d++) {
    p->dev[d].n_lets = k;
    for (int i = 0; i < k; i++) {
      int j = d * k + i, m = j % M;
      gl_sched_let_t *L = &p->dev[d].lets[i];
      double T;
      int b = gl_sched_sat_batch(in, m, units, 1, &T);
      double lat = gl_sched_latency(in, m, b, units, 1), share = in->models[m].rate / reps[m];
      *L = (gl_sched_let_t){.units = units, .n_members = 1, .saturated = true, .duty_ms = lat, .occupancy = 1};
      L->m[0] = (gl_sched_member_t){m, b, share, T, lat, 1};
      if (share > T && p->feasible) gl__fail(p, "%s: %.1f req/s per partition > %.1f", in->models[m].name, share, T);
      if (2 * lat > in->models[m].slo_ms && lat > in->models[m].slo_ms && p->feasible)
        gl__fail(p, "%s: misses its SLO on %d units", in->models[m].name, units);
    }
    if (gl__device_mem(p, in, d) > in->mem_room * in->prof->mem_mb && p->feasible)
      gl__fail(p, "device %d: out of memory", d);
  }
  gl_free(reps);
  return GL_OK;
}

double gl_sched_bound_work(const gl_sched_input_t *in) {
  int total = in->prof->total_units, g = in->prof->granularity;
  double need = 0;
  for (int m = 0; m < in->n_models; m++) {
    double best = 0, T;
    for (int u = in->prof->min_units; u <= total; u += g) {
      gl_sched_sat_batch(in, m, u, 1, &T);
      if (T * total / u > best) best = T * total / u;
    }
    gl_sched_sat_batch(in, m, total, 1, &T);
    if (T > best) best = T;
    need += in->models[m].rate / best;
  }
  return need;
}

gl_status_t gl__policy_bound(const gl_sched_input_t *in, gl_sched_plan_t *p) {
  int total = in->prof->total_units, g = in->prof->granularity;
  double need = 0, mem = 0;
  for (int m = 0; m < in->n_models; m++) {
    double best = 0;
    for (int u = in->prof->min_units; u <= total; u += g) {
      double T;
      gl_sched_sat_batch(in, m, u, 1, &T);
      if (T * total / u > best) best = T * total / u;
    }
    double T;
    gl_sched_sat_batch(in, m, total, 1, &T);
    if (T > best) best = T;
    need += in->models[m].rate / best;
    mem += in->models[m].mem_mb;
  }
  int n = (int)ceil(need - 1e-9);
  /* memory: every model loaded once, and each device holds at least one context */
  double room = in->mem_room * in->prof->mem_mb - in->ctx_mb;
  int nm = room > 0 ? (int)ceil(mem / room - 1e-9) : 1 << 30;
  p->devices_used = n > nm ? n : nm;
  if (p->devices_used < 1) p->devices_used = 1;
  if (p->devices_used > p->n_devices) gl__fail(p, "needs at least %d devices", p->devices_used);
  snprintf(p->why + strlen(p->why), sizeof p->why - strlen(p->why), "%s%.3f device-equivalents of work",
           p->why[0] ? "; " : "", need);
  return GL_OK;
}

