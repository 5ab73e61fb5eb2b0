/* sched/sched_model.c - latency, batch choice, knee and interference model (PAPER.md §4-6, §8). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_int.h"

void gl_sched_input_defaults(gl_sched_input_t *in, const gl_profile_t *prof) {
  memset(in, 0, sizeof *in);
  in->prof = prof;
  in->n_devices = 1;
  in->latency_ratio = 1.1;
  in->mem_room = 0.9;
  in->ctx_mb = 1230;
  in->max_members = 3;
  in->max_batch = prof ? gl_profile_max_batch(prof) : 32;
  if (in->max_batch > 32) in->max_batch = 32;
  if (prof) memcpy(in->icoef, prof->icoef, sizeof in->icoef);
}

double gl_sched_latency(const gl_sched_input_t *in, int m, int b, int units, double alpha) {
  int pm = in->models[m].pm;
  double t = gl_profile_latency(in->prof, pm, b, units, false);
  return (t * alpha + gl_profile_batch_ms(in->prof, pm, b)) * in->latency_ratio;
}

int gl_sched_sat_batch(const gl_sched_input_t *in, int m, int units, double alpha, double *tput) {
  double slo = in->models[m].slo_ms;
  int lo = 1, hi = in->max_batch; /* binary search: largest b with 2L(b) <= SLO */
  if (2 * gl_sched_latency(in, m, 1, units, alpha) > slo) hi = 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (2 * gl_sched_latency(in, m, mid, units, alpha) <= slo) lo = mid;
    else hi = mid - 1;
  }
  if (tput) *tput = 1000.0 * lo / gl_sched_latency(in, m, lo, units, alpha);
  return lo;
}

int gl_sched_res_batch(const gl_sched_input_t *in, int m, int units, double rate, double alpha, double *duty) {
  double slo = in->models[m].slo_ms;
  if (rate <= 0) return 0;
  int lo = 0, hi = in->max_batch;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (gl_sched_latency(in, m, mid, units, alpha) + 1000.0 * mid / rate <= slo) lo = mid;
    else hi = mid - 1;
  }
  if (lo == 0) {
    double l1 = gl_sched_latency(in, m, 1, units, alpha);
    if (l1 < 1000.0 / rate && l1 < slo) lo = 1;
    else return 0;
  }
  if (duty) *duty = fmax(1000.0 * lo / rate, gl_sched_latency(in, m, lo, units, alpha));
  return lo;
}

static int grant(const gl_profile_t *p, double pct) {
  if (!strcmp(p->unit, "pct")) return (int)lround(pct);
  int g = p->granularity;
  int u = (int)lround(pct / 100.0 * p->total_units / g) * g;
  if (u < p->min_units) u = p->min_units;
  return u;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int gl_sched_menu(const gl_sched_input_t *in, bool with50, int *sizes) {
  const gl_profile_t *p = in->prof;
  int n = 0, T = p->total_units;
  int lows[3] = {grant(p, 20), grant(p, 40), grant(p, 50)};
  for (int i = 0; i < (with50 ? 3 : 2); i++) {
    int a = lows[i], b = T - a;
    int cand[2] = {a, b};
    for (int k = 0; k < 2; k++) {
      bool dup = cand[k] < 1;
      for (int j = 0; j < n; j++) dup |= sizes[j] == cand[k];
      if (!dup) sizes[n++] = cand[k];
    }
  }
  sizes[n++] = T;
  qsort(sizes, (size_t)n, sizeof *sizes, cmp_int);
  return n;
}

int gl_sched_knee(const gl_sched_input_t *in, int m, const int *menu, int n) {
  int best = menu[0];
  double best_gain = -1;
  /* steps between adjacent sizes, never the step into the whole device */
  for (int i = 0; i + 2 < n; i++) {
    double tl, th;
    gl_sched_sat_batch(in, m, menu[i], 1, &tl);
    gl_sched_sat_batch(in, m, menu[i + 1], 1, &th);
    if (th / tl < 1.05) continue;
    double gain = (th - tl) / (menu[i + 1] - menu[i]);
    if (gain > best_gain) {
      best_gain = gain;
      best = menu[i + 1];
    }
  }
  return best;
}

double gl_sched_alpha(const gl_sched_input_t *in, int m, int b, int u, int m2, int b2, int u2) {
  const gl_profile_t *p = in->prof;
  double l2s, ds, l2o, dot;
  gl_profile_features(p, in->models[m].pm, b, &l2s, &ds);
  gl_profile_features(p, in->models[m2].pm, b2, &l2o, &dot);
  double ps = (double)u / p->total_units, po = (double)u2 / p->total_units;
  const double *c = in->icoef;
  double a = c[0] * l2s * ps + c[1] * l2o * po + c[2] * ds * ps + c[3] * dot * po + c[4];
  return a < 1 ? 1 : a;
}

gl_status_t gl_interference_fit(const double (*x)[4], const double *y, int n, double coef[5]) {
  if (n < 5) return gl_err(GL_EINVAL, "interference fit needs at least 5 samples, got %d", n);
  double A[5][6] = {{0}};
  for (int i = 0; i < n; i++) {
    double r[5] = {x[i][0], x[i][1], x[i][2], x[i][3], 1};
    for (int a = 0; a < 5; a++) {
      for (int b = 0; b < 5; b++) A[a][b] += r[a] * r[b];
      A[a][5] += r[a] * y[i];
    }
  }
  /* normal equations by Gaussian elimination with partial pivoting */
  for (int c = 0; c < 5; c++) {
    int piv = c;
    for (int r = c + 1; r < 5; r++)
      if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
    if (fabs(A[piv][c]) < 1e-12) return gl_err(GL_EINVAL, "interference fit: samples do not determine the coefficients");
    for (int k = 0; k < 6; k++) {
      double t = A[c][k];
      A[c][k] = A[piv][k];
      A[piv][k] = t;
    }
    for (int r = 0; r < 5; r++) {
      if (r == c) continue;
      double f = A[r][c] / A[c][c];
      for (int k = c; k < 6; k++) A[r][k] -= f * A[c][k];
    }
  }
  for (int c = 0; c < 5; c++) coef[c] = A[c][5] / A[c][c];
  /* order: c1 L2 self, c2 L2 other, c3 DRAM self, c4 DRAM other, c0 */
  return GL_OK;
}
