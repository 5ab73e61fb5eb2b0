/* sched/sched_fine.c - "fine": our policy. Fine-grained gpu-let sizes, many gpu-lets per device,
 * interference-aware re-batching of neighbours, shared residuals, best-fit packing, and spare
 * units handed out at the end (design and measurements: docs/scheduler.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/sched_int.h"

#define FINE_MAX_SHARE 6 /* models per shared gpu-let */
#define FINE_OCC 0.75     /* most a residual or shared gpu-let is planned busy */

/* Nexus-style residual at `units`: batch and the longest duty cycle that keeps the SLO. */
static int residual_at(const gl_sched_input_t *in, int m, int units, double r, double *max_duty) {
  double slo = in->models[m].slo_ms;
  int b = 0;
  for (int x = 1; x <= in->max_batch; x++)
    if ((x - 1) * 1000.0 / r + gl_sched_latency(in, m, x, units, 1) <= slo) b = x;
    else break;
  if (!b) return 0;
  double l = gl_sched_latency(in, m, b, units, 1);
  *max_duty = fmin(slo - l, 1000.0 * b / r);
  return *max_duty >= l ? b : 0;
}

/* Re-batches every gpu-let of a device for the interference its neighbours cause and checks
 * memory, SLOs and rates. True when the device works as it stands. */
static bool fit_device(const gl_sched_input_t *in, gl_sched_device_t *D) {
  double mem = 0;
  for (int l = 0; l < D->n_lets; l++) {
    mem += in->ctx_mb;
    for (int k = 0; k < D->lets[l].n_members; k++) mem += in->models[D->lets[l].m[k].model].mem_mb;
  }
  if (mem > in->mem_room * in->prof->mem_mb) return false;
  for (int it = 0; it < 2; it++) {
    for (int l = 0; l < D->n_lets; l++) {
      gl_sched_let_t *L = &D->lets[l];
      double sum = 0;
      for (int k = 0; k < L->n_members; k++) {
        gl_sched_member_t *x = &L->m[k];
        double a = 1;
        for (int o = 0; o < D->n_lets; o++) {
          if (o == l) continue;
          for (int j = 0; j < D->lets[o].n_members; j++) {
            const gl_sched_member_t *y = &D->lets[o].m[j];
            double v = gl_sched_alpha(in, x->model, x->batch, L->units, y->model, y->batch, D->lets[o].units);
            if (v > a) a = v;
          }
        }
        x->alpha = a;
        double slo = in->models[x->model].slo_ms;
        if (L->saturated) {
          x->batch = gl_sched_sat_batch(in, x->model, L->units, a, &x->tput);
          x->lat_ms = gl_sched_latency(in, x->model, x->batch, L->units, a);
          L->duty_ms = x->lat_ms;
          L->occupancy = x->rate / x->tput;
          bool lat_ok = 2 * x->lat_ms <= slo || (x->batch == 1 && x->lat_ms <= slo);
          if (it && (x->tput < x->rate * (1 - 1e-9) || !lat_ok)) return false;
        } else if (L->n_members == 1) {
          double duty;
          int b = gl_sched_res_batch(in, x->model, L->units, x->rate, a, &duty);
          if (!b) return false;
          x->batch = b;
          x->lat_ms = gl_sched_latency(in, x->model, b, L->units, a);
          L->duty_ms = duty;
          L->occupancy = x->lat_ms / duty;
          x->tput = 1000.0 * b / duty;
        } else {
          int b = (int)ceil(L->duty_ms * x->rate / 1000 - 1e-9);
          x->batch = b < 1 ? 1 : b > in->max_batch ? in->max_batch : b;
          x->lat_ms = gl_sched_latency(in, x->model, x->batch, L->units, a);
          /* the merged duty leaves no slack (D + l = SLO, Nexus): a neighbour's slowdown would
           * break it, so shorten the cycle instead (smaller batches); the second pass checks */
          if (!it && L->duty_ms + x->lat_ms > slo && slo - x->lat_ms > 0) L->duty_ms = slo - x->lat_ms;
          x->tput = 1000.0 * x->batch / L->duty_ms;
          sum += x->lat_ms;
          if (it && (L->duty_ms + x->lat_ms > slo || x->tput < x->rate * (1 - 1e-9))) return false;
        }
      }
      if (L->n_members > 1) {
        L->occupancy = sum / L->duty_ms;
        if (it && sum > L->duty_ms) return false;
      }
    }
  }
  return true;
}

static int units_of(const gl_sched_device_t *D) {
  int u = 0;
  for (int l = 0; l < D->n_lets; l++) u += D->lets[l].units;
  return u;
}

static int cmp_units_desc(const void *a, const void *b) {
  const gl_sched_let_t *x = a, *y = b;
  if (x->units != y->units) return y->units - x->units;
  return x->m[0].model - y->m[0].model;
}

static gl_status_t fine_plan(const gl_sched_input_t *in, gl_sched_plan_t *p, double FINE_ALPHA) {
  const gl_profile_t *pr = in->prof;
  int total = pr->total_units, g = pr->granularity, n = in->n_models;
  int ns = 0, sizes[1024];
  for (int u = pr->min_units; u < total && ns < 1023; u += g) sizes[ns++] = u;
  sizes[ns++] = total;
  gl_sched_let_t *items = NULL;
  size_t ni = 0, cap = 0;
  gl_sched_let_t *res = NULL; /* residual items to share */
  size_t nr = 0, rcap = 0;
  gl_status_t st = GL_OK;
  int *free_units = NULL;
  double *free_mem = NULL;
  for (int m = 0; m < n; m++) {
    double r = in->models[m].rate;
    if (r <= 0) continue;
    /* the most cost-effective size: saturated throughput per share of the device, where the
     * share is the larger of its units and its memory (model + context) */
    int best = total;
    double best_eff = 0, best_t = 0;
    double mem_share = (in->ctx_mb + in->models[m].mem_mb) / (in->mem_room * pr->mem_mb);
    /* a saturated gpu-let at batch 1 has no room to absorb a burst: prefer sizes with b >= 2 */
    for (int minb = 2; minb >= 1 && best_t <= 0; minb--)
      for (int i = 0; i < ns; i++) {
        double t;
        int b = gl_sched_sat_batch(in, m, sizes[i], FINE_ALPHA, &t);
        if (b < minb || 2 * gl_sched_latency(in, m, b, sizes[i], FINE_ALPHA) > in->models[m].slo_ms) continue;
        double share = fmax((double)sizes[i] / total, mem_share);
        if (t / share > best_eff * 1.02) best_eff = t / share, best = sizes[i], best_t = t;
      }
    if (best_t <= 0) {
      /* no size gives 2L <= SLO: as the research, batch 1 on the whole device if L(1) <= SLO */
      gl_sched_sat_batch(in, m, total, FINE_ALPHA, &best_t);
      best = total;
      if (gl_sched_latency(in, m, 1, total, FINE_ALPHA) > in->models[m].slo_ms) {
        gl__fail(p, "%s: no gpu-let size meets its SLO", in->models[m].name);
        goto out;
      }
    }
    while (r > best_t * 0.999) {
      if (gl_grow((void **)&items, &cap, ni + 1, sizeof *items)) goto nomem;
      gl_sched_let_t *L = &items[ni++];
      memset(L, 0, sizeof *L);
      L->units = best, L->n_members = 1, L->saturated = true;
      L->m[0] = (gl_sched_member_t){m, 0, fmin(r, best_t), best_t, 0, 1};
      r -= fmin(r, best_t);
    }
    if (r <= 1e-9) continue;
    if (ni && r < 0.03 * best_t && items[ni - 1].m[0].model == m) {
      /* a sliver: the saturated gpu-lets' slack (FINE_ALPHA) carries it */
      items[ni - 1].m[0].rate += r;
      continue;
    }
    /* the remainder: the smallest size whose residual batch carries it */
    int u = -1;
    double md = 0;
    for (int i = 0; i < ns && u < 0; i++) {
      int b = residual_at(in, m, sizes[i], r, &md);
      /* Poisson arrivals queue behind a busy gpu-let: keep a residual below FINE_OCC busy */
      double l = b ? gl_sched_latency(in, m, b, sizes[i], 1) : 0;
      /* and a request that waits for one whole batch ahead of it still makes its SLO */
      if (b && l <= FINE_OCC * md && 2 * l <= in->models[m].slo_ms) u = sizes[i];
    }
    if (u < 0) u = best;
    if (gl_grow((void **)&res, &rcap, nr + 1, sizeof *res)) goto nomem;
    gl_sched_let_t *L = &res[nr++];
    memset(L, 0, sizeof *L);
    L->units = u, L->n_members = 1;
    L->duty_ms = md;
    L->m[0] = (gl_sched_member_t){m, 0, r, 0, 0, 1};
  }
  /* share residuals (Nexus merge) when one gpu-let serves both in fewer units */
  for (size_t i = 0; i < nr; i++) {
    if (!res[i].n_members) continue;
    for (size_t j = i + 1; j < nr; j++) {
      if (!res[j].n_members || res[i].n_members + res[j].n_members > FINE_MAX_SHARE) continue;
      int u0 = res[i].units > res[j].units ? res[i].units : res[j].units;
      for (int u = u0; u <= res[i].units + res[j].units && u <= total; u += g) {
        gl_sched_let_t t = res[i];
        for (int k = 0; k < res[j].n_members; k++) t.m[t.n_members++] = res[j].m[k];
        double D = INFINITY, E = 0;
        bool ok = true;
        for (int k = 0; k < t.n_members && ok; k++) {
          double d2;
          ok = residual_at(in, t.m[k].model, u, t.m[k].rate, &d2) > 0;
          if (d2 < D) D = d2;
        }
        for (int k = 0; k < t.n_members && ok; k++) {
          int b = (int)ceil(D * t.m[k].rate / 1000 - 1e-9);
          int B = gl_sched_sat_batch(in, t.m[k].model, u, 1, NULL);
          ok = b <= B && b <= in->max_batch;
          E += gl_sched_latency(in, t.m[k].model, b < 1 ? 1 : b, u, 1);
          ok = ok && D + gl_sched_latency(in, t.m[k].model, b < 1 ? 1 : b, u, 1) <= in->models[t.m[k].model].slo_ms;
        }
        double mem = in->ctx_mb;
        for (int k = 0; k < t.n_members; k++) mem += in->models[t.m[k].model].mem_mb;
        if (ok && E <= D * FINE_OCC && mem <= in->mem_room * pr->mem_mb) {
          t.units = u;
          t.duty_ms = D;
          res[i] = t;
          res[j].n_members = 0;
          break;
        }
      }
    }
  }
  for (size_t i = 0; i < nr; i++) {
    if (!res[i].n_members) continue;
    if (gl_grow((void **)&items, &cap, ni + 1, sizeof *items)) goto nomem;
    items[ni++] = res[i];
  }
  qsort(items, ni, sizeof *items, cmp_units_desc);
  /* best-fit decreasing onto devices; a gpu-let that breaks a device's SLOs tries the next */
  int opened = 0;
  free_units = gl_malloc((size_t)p->n_devices * sizeof *free_units);
  free_mem = gl_malloc((size_t)p->n_devices * sizeof *free_mem);
  if (!free_units || !free_mem) goto nomem;
  for (int d = 0; d < p->n_devices; d++) free_units[d] = total, free_mem[d] = in->mem_room * pr->mem_mb;
  for (size_t i = 0; i < ni; i++) {
    gl_sched_let_t *it = &items[i];
    double it_mem = 0;
    for (int k = 0; k < it->n_members; k++) it_mem += in->models[it->m[k].model].mem_mb;
    bool placed = false;
    for (int grow = 0; grow < 4 && !placed; grow++) {
      for (int pass = 0; pass < 2 && !placed; pass++) {
        /* pass 0: used devices, tightest fit first; pass 1: a fresh device */
        /* a few tightest candidates, then a fresh device: keeps planning near-linear */
        for (int tries = 0; tries < (pass ? 1 : 8) && !placed; tries++) {
          int bd = -1, bf = 1 << 30;
          if (pass) bd = opened < p->n_devices ? opened : -1;
          else
            for (int d = 0; d < opened; d++) {
              int f = free_units[d] - it->units;
              if (f >= 0 && f < bf && p->dev[d].n_lets < GL_PLAN_MAX_LETS && p->dev[d].lets[0].occupancy >= -0.5 &&
                  free_mem[d] >= in->ctx_mb + it_mem)
                bf = f, bd = d;
            }
          if (bd < 0) break;
          gl_sched_device_t saved = p->dev[bd];
          p->dev[bd].lets[p->dev[bd].n_lets++] = *it;
          if (fit_device(in, &p->dev[bd])) {
            placed = true;
            free_units[bd] -= it->units;
            free_mem[bd] -= in->ctx_mb + it_mem;
            if (pass) opened++;
          } else {
            p->dev[bd] = saved;
            if (!pass) p->dev[bd].lets[0].occupancy = -1; /* tried */
          }
        }
        for (int d = 0; d < opened; d++)
          if (p->dev[d].lets[0].occupancy < -0.5) fit_device(in, &p->dev[d]);
      }
      /* fits no device at this size: a bigger gpu-let suffers less from its neighbours */
      if (!placed && grow < 3) it->units = it->units + g > total ? total : it->units + g;
    }
    if (!placed) {
      gl__fail(p, "%s: no device takes a %d-unit gpu-let (%d device(s))", in->models[it->m[0].model].name,
               it->units, p->n_devices);
      goto out;
    }
  }
  /* spare units go to the busiest gpu-lets: more headroom against bursts */
  for (int d = 0; d < opened; d++) {
    gl_sched_device_t *D = &p->dev[d];
    for (;;) {
      int spare = total - units_of(D), bl = -1;
      double bo = -1;
      if (spare < g) break;
      for (int l = 0; l < D->n_lets; l++)
        if (D->lets[l].occupancy > bo && D->lets[l].occupancy < 10) bo = D->lets[l].occupancy, bl = l;
      if (bl < 0) break;
      gl_sched_device_t saved = *D;
      D->lets[bl].units += g;
      if (!fit_device(in, D)) {
        *D = saved;
        D->lets[bl].occupancy = 10 + D->lets[bl].occupancy; /* skip it */
      }
    }
    for (int l = 0; l < D->n_lets; l++)
      if (D->lets[l].occupancy >= 10) D->lets[l].occupancy -= 10;
    fit_device(in, D);
  }
  goto out;
nomem:
  st = gl_err(GL_ENOMEM, "fine: out of memory");
out:
  gl_free(items);
  gl_free(res);
  gl_free(free_units);
  gl_free(free_mem);
  return st;
}

/* Sizing assumes a slowdown from neighbours not yet known: none (tight plans, may not pack) or
 * 1.12 (packs, wastes a little). Both are planned; the feasible one on fewer devices wins, ties
 * to the safer 1.12. */
gl_status_t gl__policy_fine(const gl_sched_input_t *in, gl_sched_plan_t *p) {
  gl_sched_plan_t alt;
  GL_TRY(gl__plan_init(&alt, in, "fine"));
  gl_status_t st = fine_plan(in, p, 1.12);
  if (st == GL_OK) st = fine_plan(in, &alt, 1.0);
  if (st == GL_OK) {
    gl__plan_tally(p);
    gl__plan_tally(&alt);
    if ((!p->feasible && alt.feasible) || (p->feasible && alt.feasible && alt.devices_used < p->devices_used)) {
      gl_sched_plan_t t = *p;
      *p = alt;
      alt = t;
    }
  }
  gl_sched_plan_fini(&alt);
  return st;
}
