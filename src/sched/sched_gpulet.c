/* sched/sched_gpulet.c - gpu-let elastic partitioning (PAPER.md §5-7) with optional §8 interference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/sched_int.h"

typedef struct {
  const gl_sched_input_t *in;
  gl_sched_plan_t *p;
  bool intf;
  int menu[16], n_menu;
  int *knee;
  double *knee_tput;
  int *fu;              /* [n_devices * 2] units of each empty gpu-let (0: busy or absent), -1 whole */
  int first_whole;      /* no whole empty device below this index */
  gl_sched_device_t save; /* device_ok's undo copy */
} ctx_t;



typedef struct {
  int units;
  double rate;
  bool sat;
} est_t;

/* alpha of member k of let l on device d against every other busy gpu-let there (max). */
static double member_alpha(const ctx_t *c, int d, int l, int k) {
  if (!c->intf) return 1;
  const gl_sched_device_t *D = &c->p->dev[d];
  const gl_sched_let_t *L = &D->lets[l];
  double a = 1;
  for (int o = 0; o < D->n_lets; o++) {
    if (o == l) continue;
    for (int j = 0; j < D->lets[o].n_members; j++) {
      const gl_sched_member_t *x = &D->lets[o].m[j];
      double v = gl_sched_alpha(c->in, L->m[k].model, L->m[k].batch, L->units, x->model, x->batch, D->lets[o].units);
      if (v > a) a = v;
    }
  }
  return a;
}

/* Recomputes alpha, latency, duty and throughput of a gpu-let; true when its SLOs still hold.
 * With `adjust` (interference on), a single-model gpu-let whose SLO the new alpha breaks gets a
 * smaller batch instead, as the research's adjustSatNode/adjustResNode do; it then serves less and
 * the shortfall is scheduled again by the retry (run_passes). */
static bool refresh_let(const ctx_t *c, int d, int l, bool adjust) {
  const gl_sched_input_t *in = c->in;
  gl_sched_let_t *L = &c->p->dev[d].lets[l];
  if (!L->n_members) return true;
  double sum = 0;
  for (int k = 0; k < L->n_members; k++) {
    gl_sched_member_t *m = &L->m[k];
    m->alpha = member_alpha(c, d, l, k);
    m->lat_ms = gl_sched_latency(in, m->model, m->batch, L->units, m->alpha);
    sum += m->lat_ms;
  }
  if (adjust && L->n_members == 1) {
    gl_sched_member_t *m = &L->m[0];
    double slo = in->models[m->model].slo_ms;
    for (;;) {
      double collect = L->saturated ? m->lat_ms : 1000.0 * m->batch / m->rate;
      if (m->batch <= 1 || m->lat_ms + fmax(collect, m->lat_ms) <= slo) break;
      m->batch--;
      m->lat_ms = gl_sched_latency(in, m->model, m->batch, L->units, m->alpha);
    }
  }
  if (L->saturated) {
    gl_sched_member_t *m = &L->m[0];
    m->tput = 1000.0 * m->batch / m->lat_ms;
    L->duty_ms = m->lat_ms;
    L->occupancy = 1;
    return 2 * m->lat_ms <= in->models[m->model].slo_ms;
  }
  if (L->n_members == 1) {
    gl_sched_member_t *m = &L->m[0];
    double collect = 1000.0 * m->batch / m->rate, slo = in->models[m->model].slo_ms;
    L->duty_ms = fmax(collect, m->lat_ms);
    L->occupancy = m->lat_ms / L->duty_ms;
    m->tput = 1000.0 * m->batch / L->duty_ms;
    return m->lat_ms + collect <= slo || (m->batch == 1 && m->lat_ms < slo && m->lat_ms < collect);
  }
  L->occupancy = sum / L->duty_ms;
  bool ok = sum <= L->duty_ms * (1 + 1e-9);
  for (int k = 0; k < L->n_members; k++) {
    gl_sched_member_t *m = &L->m[k];
    m->tput = 1000.0 * m->batch / L->duty_ms;
    ok &= L->duty_ms + m->lat_ms <= in->models[m->model].slo_ms;
  }
  return ok;
}

static void summarize(ctx_t *c, int d);
static bool device_ok(ctx_t *c, int d) {
  bool ok = gl__device_mem(c->p, c->in, d) <= c->in->mem_room * c->in->prof->mem_mb;
  /* with interference: re-batch first (a smaller batch also slows the neighbours less), then
   * check; a device that fails is left as it was before the re-batching */
  gl_sched_device_t *D = &c->p->dev[d];
  if (c->intf) {
    c->save = *D;
    for (int l = 0; l < D->n_lets; l++) refresh_let(c, d, l, true);
  }
  for (int l = 0; l < D->n_lets; l++) ok &= refresh_let(c, d, l, false);
  if (c->intf && !ok) {
    *D = c->save;
    for (int l = 0; l < D->n_lets; l++) refresh_let(c, d, l, false);
  }
  summarize(c, d);
  return ok;
}

static bool whole_empty(const gl_sched_device_t *D, int total) {
  return D->n_lets == 1 && D->lets[0].n_members == 0 && D->lets[0].units == total;
}

/* Refreshes the compact per-device summary the placement scans read. */
static void summarize(ctx_t *c, int d) {
  const gl_sched_device_t *D = &c->p->dev[d];
  int *f = &c->fu[2 * d];
  if (whole_empty(D, c->in->prof->total_units)) {
    f[0] = f[1] = -1;
    if (d < c->first_whole) c->first_whole = d;
    return;
  }
  for (int l = 0; l < 2; l++) f[l] = l < D->n_lets && !D->lets[l].n_members ? D->lets[l].units : 0;
}

/* Splits a whole, empty device into `units` (let 0) and the rest (let 1). */
static void split(ctx_t *c, int d, int units) {
  gl_sched_device_t *D = &c->p->dev[d];
  int total = c->in->prof->total_units;
  memset(D, 0, sizeof *D);
  D->n_lets = 1;
  D->lets[0].units = units;
  if (units < total) {
    D->n_lets = 2;
    D->lets[1].units = total - units;
  }
  summarize(c, d);
}

static void merge_if_empty(ctx_t *c, int d) {
  gl_sched_device_t *D = &c->p->dev[d];
  for (int l = 0; l < D->n_lets; l++)
    if (D->lets[l].n_members) return;
  memset(D, 0, sizeof *D);
  D->n_lets = 1;
  D->lets[0].units = c->in->prof->total_units;
  summarize(c, d);
}

/* Puts model m on the empty gpu-let (d,l) at `rate`: saturated or residual at the let's size,
 * with alpha from its current neighbours. Returns the rate it takes (0 when it does not fit). */
static double assign(ctx_t *c, int d, int l, int m, double rate, bool sat) {
  gl_sched_let_t *L = &c->p->dev[d].lets[l];
  gl_sched_let_t saved = *L;
  double alpha = 1;
  for (int it = 0; it < (c->intf ? 2 : 1); it++) {
    double tput, duty;
    int b;
    memset(L->m, 0, sizeof L->m[0]);
    L->n_members = 1;
    L->m[0].model = m;
    L->m[0].alpha = alpha;
    if (sat) {
      b = gl_sched_sat_batch(c->in, m, L->units, alpha, &tput);
      L->saturated = true;
      L->m[0].rate = fmin(rate, tput);
    } else {
      b = gl_sched_res_batch(c->in, m, L->units, rate, alpha, &duty);
      if (!b) {
        *L = saved;
        return 0;
      }
      L->saturated = false;
      L->m[0].rate = rate;
    }
    L->m[0].batch = b;
    alpha = member_alpha(c, d, l, 0);
  }
  if (!device_ok(c, d)) {
    *L = saved;
    device_ok(c, d);
    return 0;
  }
  return L->m[0].rate;
}

/* Places one estimate: an unsplit device first (split into the estimate's size and the rest),
 * else the smallest free gpu-let that fits. A saturated estimate takes up to `want` (more than its
 * own rate when the gpu-let is bigger than asked for). Returns the rate taken, 0 on failure. */
static double place_est(ctx_t *c, int m, const est_t *e, double want) {
  gl_sched_plan_t *p = c->p;
  int total = c->in->prof->total_units;
  double need = fmin(e->rate, want) * (1 - 1e-9), ask = e->sat ? want : fmin(e->rate, want), got;
  while (c->first_whole < p->n_devices && !whole_empty(&p->dev[c->first_whole], total)) c->first_whole++;
  for (int d = c->first_whole; d < p->n_devices; d++) {
    if (!whole_empty(&p->dev[d], total)) continue;
    split(c, d, e->units);
    if ((got = assign(c, d, 0, m, ask, e->sat)) >= need) return got;
    if (got > 0) p->dev[d].lets[0].n_members = 0, device_ok(c, d);
    merge_if_empty(c, d);
    break;
  }
  /* smallest free gpu-let that fits: sizes ascending (the menu is small), devices in order */
  for (int si = 0; si < c->n_menu; si++) {
    int size = c->menu[si];
    if (size < e->units) continue;
    for (int d = 0; d < p->n_devices; d++)
      for (int l = 0; l < 2; l++) {
        if (c->fu[2 * d + l] != size) continue;
        if ((got = assign(c, d, l, m, ask, e->sat)) >= need) return got;
        if (got > 0) p->dev[d].lets[l].n_members = 0, device_ok(c, d);
      }
  }
  return 0;
}

typedef struct {
  int d, l;
  double key;
} cand_t;

static int cmp_cand(const void *a, const void *b) {
  const cand_t *x = a, *y = b;
  if (x->key != y->key) return x->key > y->key ? -1 : 1;
  if (x->d != y->d) return x->d - y->d;
  return x->l - y->l;
}

/* readjust: fill empty gpu-lets, largest first, splitting whole devices into knee + rest. */
static double readjust(ctx_t *c, int m, double left) {
  gl_sched_plan_t *p = c->p;
  int total = c->in->prof->total_units;
  cand_t *cs = gl_malloc((size_t)p->n_devices * GL_PLAN_MAX_LETS * sizeof *cs);
  if (!cs) return left;
  size_t n = 0;
  bool whole_seen = false;
  for (int d = 0; d < p->n_devices; d++)
    for (int l = 0; l < p->dev[d].n_lets; l++) {
      if (p->dev[d].lets[l].n_members) continue;
      /* whole devices are all alike: one candidate stands for them */
      if (whole_empty(&p->dev[d], total)) {
        if (whole_seen) continue;
        whole_seen = true;
      }
      cs[n++] = (cand_t){d, l, p->dev[d].lets[l].units};
    }
  qsort(cs, n, sizeof *cs, cmp_cand);
  for (size_t i = 0; i < n && left > 1e-9; i++) {
    int bd = cs[i].d, bl = cs[i].l;
    if (p->dev[bd].lets[bl].n_members) continue;
    if (whole_empty(&p->dev[bd], total) && c->knee[m] < total) split(c, bd, c->knee[m]), bl = 0;
    int u = p->dev[bd].lets[bl].units;
    double tput;
    gl_sched_sat_batch(c->in, m, u, 1, &tput);
    double got = left >= tput ? assign(c, bd, bl, m, left, true) : assign(c, bd, bl, m, left, false);
    if (got <= 0 && left < tput) got = assign(c, bd, bl, m, left, true);
    if (got <= 0) {
      merge_if_empty(c, bd);
      continue;
    }
    left -= got;
  }
  gl_free(cs);
  return left;
}

/* mergeResidue: the model's residual gpu-lets become one of their largest size. */
static double merge_residue(ctx_t *c, int m, double left) {
  gl_sched_plan_t *p = c->p;
  int n = 0, cap = 8, bd = -1, bl = -1, bu = 0;
  struct saved {
    int d, l;
    gl_sched_let_t let;
  } *sv = gl_malloc((size_t)cap * sizeof *sv);
  if (!sv) return left;
  double total = left;
  for (int d = 0; d < p->n_devices; d++)
    for (int l = 0; l < p->dev[d].n_lets; l++) {
      gl_sched_let_t *L = &p->dev[d].lets[l];
      if (L->n_members != 1 || L->saturated || L->m[0].model != m) continue;
      if (n == cap) {
        struct saved *t = gl_realloc(sv, (size_t)(cap *= 2) * sizeof *sv);
        if (!t) goto out;
        sv = t;
      }
      sv[n++] = (struct saved){d, l, *L};
      total += L->m[0].rate;
      if (L->units > bu) bd = d, bl = l, bu = L->units;
    }
  if (n == 0) goto out;
  for (int i = 0; i < n; i++) p->dev[sv[i].d].lets[sv[i].l].n_members = 0;
  double tput;
  gl_sched_sat_batch(c->in, m, bu, 1, &tput);
  if (total < tput && assign(c, bd, bl, m, total, false) >= total * (1 - 1e-9)) {
    for (int i = 0; i < n; i++) {
      if (sv[i].d != bd) merge_if_empty(c, sv[i].d);
      device_ok(c, sv[i].d);
    }
    left = 0;
    goto out;
  }
  for (int i = 0; i < n; i++) p->dev[sv[i].d].lets[sv[i].l] = sv[i].let;
  for (int i = 0; i < n; i++) device_ok(c, sv[i].d);
out:
  gl_free(sv);
  return left;
}

/* allocateTimeShare: join a gpu-let with spare duty (PAPER.md §7.4), fullest candidates first. */
static double timeshare(ctx_t *c, int m, double r) {
  gl_sched_plan_t *p = c->p;
  const gl_sched_input_t *in = c->in;
  double slo = in->models[m].slo_ms;
  cand_t *cs = gl_malloc((size_t)p->n_devices * GL_PLAN_MAX_LETS * sizeof *cs);
  if (!cs) return r;
  size_t n = 0;
  for (int d = 0; d < p->n_devices; d++)
    for (int l = 0; l < p->dev[d].n_lets; l++) {
      const gl_sched_let_t *L = &p->dev[d].lets[l];
      if (!L->n_members || L->saturated || L->n_members >= in->max_members || L->occupancy >= 1) continue;
      bool has = false;
      for (int k = 0; k < L->n_members; k++) has |= L->m[k].model == m;
      if (!has) cs[n++] = (cand_t){d, l, L->occupancy};
    }
  qsort(cs, n, sizeof *cs, cmp_cand);
  for (size_t i = 0; i < n; i++) {
    int bd = cs[i].d, bl = cs[i].l;
    gl_sched_let_t *L = &p->dev[bd].lets[bl];
    gl_sched_let_t saved = *L;
    int bmax = (int)floor(L->duty_ms * r / 1000);
    if (bmax > in->max_batch) bmax = in->max_batch;
    for (int b = bmax; b >= 1; b--) {
      double D = 1000.0 * b / r, lat = gl_sched_latency(in, m, b, L->units, 1);
      if (!(D + lat < slo && lat / D < 1 - L->occupancy)) continue;
      for (int k = 0; k < L->n_members; k++) {
        int bi = (int)floor(D * L->m[k].rate / 1000);
        L->m[k].batch = bi < 1 ? 1 : bi;
      }
      L->m[L->n_members] = (gl_sched_member_t){m, b, r, 0, 0, 1};
      L->n_members++;
      L->saturated = false;
      L->duty_ms = D;
      if (device_ok(c, bd)) {
        gl_free(cs);
        return 0;
      }
      *L = saved;
      device_ok(c, bd);
    }
  }
  gl_free(cs);
  return r;
}

static bool schedule_model(ctx_t *c, int m, double R) {
  double R0 = R;
  est_t *es = NULL;
  size_t ne = 0, cap = 0;
  int k = c->knee[m];
  double tk = c->knee_tput[m];
  while (R > tk && tk > 0) {
    if (gl_grow((void **)&es, &cap, ne + 1, sizeof *es)) goto nomem;
    es[ne++] = (est_t){k, tk, true};
    R -= tk;
  }
  if (R > 1e-9) {
    double duty;
    int b = gl_sched_res_batch(c->in, m, k, R, 1, &duty);
    int size = k;
    if (b) {
      double D = 1000.0 * b / R;
      for (int i = 0; i < c->n_menu && c->menu[i] <= k; i++) {
        double L = gl_sched_latency(c->in, m, b, c->menu[i], 1);
        if (L <= D && L + D <= c->in->models[m].slo_ms) {
          size = c->menu[i];
          break;
        }
      }
    }
    if (gl_grow((void **)&es, &cap, ne + 1, sizeof *es)) goto nomem;
    es[ne++] = (est_t){size, R, b == 0};
  }
  /* largest first (stable: saturated estimates precede a residual of the same size) */
  for (size_t i = 1; i < ne; i++)
    for (size_t j = i; j > 0 && es[j].units > es[j - 1].units; j--) {
      est_t t = es[j];
      es[j] = es[j - 1];
      es[j - 1] = t;
    }
  double left = R0;
  for (size_t i = 0; i < ne && left > 1e-9; i++) left -= place_est(c, m, &es[i], left);
  gl_free(es);
  if (left > 1e-9) left = readjust(c, m, left);
  if (left > 1e-9) left = merge_residue(c, m, left);
  if (left > 1e-9 && c->in->max_members > 1) left = timeshare(c, m, left);
  return left <= 1e-9;
nomem:
  gl_free(es);
  return false;
}

static const gl_sched_input_t *g_sort_in;
static int cmp_order(const void *a, const void *b) {
  int i = *(const int *)a, j = *(const int *)b;
  double x = g_sort_in->models[i].rate * g_sort_in->models[i].slo_ms;
  double y = g_sort_in->models[j].rate * g_sort_in->models[j].slo_ms;
  if (x != y) return x < y ? -1 : 1;
  return j - i; /* ties: higher id first */
}

/* Schedules need[] (req/s per model, 0 = leave alone) onto c->p in the research's order, then
 * (with interference) re-schedules once what any model lacks of goal[] (§7.7). The plan may
 * already hold gpu-lets. */
static void run_passes(ctx_t *c, double *need, const double *goal) {
  const gl_sched_input_t *in = c->in;
  gl_sched_plan_t *p = c->p;
  int n = in->n_models;
  int *order = gl_calloc((size_t)n, sizeof *order);
  if (!order) {
    gl__fail(p, "gpulet: out of memory");
    goto out;
  }
  for (int i = 0; i < n; i++) order[i] = i;
  g_sort_in = in;
  qsort(order, (size_t)n, sizeof *order, cmp_order);
  for (int oi = 0; oi < n; oi++) {
    int m = order[oi];
    if (need[m] > 0 && !schedule_model(c, m, need[m])) {
      gl__fail(p, "%s: no room for %.1f req/s on %d device(s)", in->models[m].name, need[m], p->n_devices);
      goto out;
    }
  }
  if (!c->intf) goto out;
  /* interference retry (§7.7): predicted slowdowns lower the throughput of re-batched gpu-lets; a
   * model left short of its goal is scheduled once more for the shortfall (placing less than all
   * of it is no failure), and the round fails only when one stays below 85% */
  for (int pass = 0; pass < 2; pass++) {
    for (int d = 0; d < p->n_devices; d++)
      for (int l = 0; l < p->dev[d].n_lets; l++)
        for (int k = 0; k < p->dev[d].lets[l].n_members; k++) {
          gl_sched_member_t *x = &p->dev[d].lets[l].m[k];
          if (x->rate > x->tput) x->rate = x->tput;
        }
    gl__plan_tally(p);
    if (pass == 1) break;
    for (int oi = 0; oi < n; oi++) {
      int m = order[oi];
      if (goal[m] > 0 && p->served[m] < goal[m] * (1 - 1e-6)) schedule_model(c, m, goal[m] - p->served[m]);
    }
  }
  for (int i = 0; i < n; i++)
    if (goal[i] > 0 && p->served[i] < 0.85 * goal[i]) {
      gl__fail(p, "%s: interference leaves it at %.0f%% of its rate", in->models[i].name, 100 * p->served[i] / goal[i]);
      break;
    }
out:
  gl_free(order);
}

static bool ctx_init(ctx_t *c, const gl_sched_input_t *in, gl_sched_plan_t *p, bool intf) {
  memset(c, 0, sizeof *c);
  c->in = in, c->p = p, c->intf = intf;
  c->n_menu = gl_sched_menu(in, !intf, c->menu);
  int n = in->n_models;
  c->knee = gl_calloc((size_t)n, sizeof *c->knee);
  c->knee_tput = gl_calloc((size_t)n, sizeof *c->knee_tput);
  c->fu = gl_calloc((size_t)p->n_devices * 2, sizeof *c->fu);
  if (!c->knee || !c->knee_tput || !c->fu) return false;
  for (int i = 0; i < n; i++) {
    c->knee[i] = gl_sched_knee(in, i, c->menu, c->n_menu);
    gl_sched_sat_batch(in, i, c->knee[i], 1, &c->knee_tput[i]);
  }
  return true;
}

static void ctx_fini(ctx_t *c) { gl_free(c->knee), gl_free(c->knee_tput), gl_free(c->fu); }

gl_status_t gl__policy_gpulet(const gl_sched_input_t *in, gl_sched_plan_t *p, bool intf) {
  ctx_t c;
  double *need = gl_calloc((size_t)in->n_models * 2, sizeof *need);
  if (!ctx_init(&c, in, p, intf) || !need) {
    ctx_fini(&c), gl_free(need);
    return gl_err(GL_ENOMEM, "gpulet: out of memory");
  }
  for (int d = 0; d < p->n_devices; d++) merge_if_empty(&c, d);
  for (int i = 0; i < in->n_models; i++) need[i] = need[in->n_models + i] = in->models[i].rate;
  run_passes(&c, need, need + in->n_models);
  ctx_fini(&c), gl_free(need);
  return GL_OK;
}

gl_status_t gl__gpulet_incremental(const gl_sched_input_t *in, const gl_sched_plan_t *old, const bool *changed, gl_sched_plan_t *p,
                                   bool intf) {
  int total = in->prof->total_units;
  for (int d = 0; d < old->n_devices && d < p->n_devices; d++) {
    const gl_sched_device_t *D = &old->dev[d];
    int sum = 0;
    for (int l = 0; l < D->n_lets; l++) sum += D->lets[l].units;
    /* only the shapes gpulet makes: one whole gpu-let, or a split into two */
    if (D->n_lets > 2 || (D->n_lets && sum != total))
      return gl__fail(p, "incremental: device %d is not a gpulet layout", d), GL_OK;
  }
  ctx_t c;
  int n = in->n_models;
  double *need = gl_calloc((size_t)n * 2, sizeof *need), *goal = need + n;
  if (!ctx_init(&c, in, p, intf) || !need) {
    ctx_fini(&c), gl_free(need);
    return gl_err(GL_ENOMEM, "gpulet: out of memory");
  }
  /* keep the old layout; take the changed models out of it */
  for (int d = 0; d < p->n_devices; d++) {
    gl_sched_device_t *D = &p->dev[d];
    if (d < old->n_devices) *D = old->dev[d];
    for (int l = 0; l < D->n_lets; l++) {
      gl_sched_let_t *L = &D->lets[l];
      int w = 0;
      for (int k = 0; k < L->n_members; k++)
        if (!changed[L->m[k].model]) L->m[w++] = L->m[k];
      if (w == L->n_members) continue;
      L->n_members = w;
      if (!w) {
        L->saturated = false, L->duty_ms = 0, L->occupancy = 0;
      } else if (w == 1 && !L->saturated) {
        /* a time-shared gpu-let left with one member runs it as a residual at its rate */
        double duty;
        int b = gl_sched_res_batch(in, L->m[0].model, L->units, L->m[0].rate, L->m[0].alpha, &duty);
        if (b) L->m[0].batch = b;
      }
    }
    merge_if_empty(&c, d);
    device_ok(&c, d); /* refreshes alpha without the removed neighbours */
  }
  /* the changed models get their new rate; the kept ones must not lose what they keep to the
   * interference of the newcomers (their shortfall is placed again) */
  gl__plan_tally(p);
  for (int i = 0; i < n; i++) need[i] = goal[i] = changed[i] ? in->models[i].rate : 0;
  for (int i = 0; i < n; i++)
    if (!changed[i]) goal[i] = p->served[i];
  run_passes(&c, need, goal);
  ctx_fini(&c), gl_free(need);
  return GL_OK;
}

/* White-box entry for tests: mergeResidue on a prepared plan (no interference). */
gl_status_t gl__gpulet_merge_residue(const gl_sched_input_t *in, gl_sched_plan_t *p, int m, double left, double *left_out) {
  ctx_t c;
  memset(&c, 0, sizeof c);
  c.in = in, c.p = p;
  c.fu = gl_calloc((size_t)p->n_devices * 2, sizeof *c.fu);
  if (!c.fu) return gl_err(GL_ENOMEM, "out of memory");
  for (int d = 0; d < p->n_devices; d++) device_ok(&c, d);
  *left_out = merge_residue(&c, m, left);
  gl_free(c.fu);
  gl__plan_tally(p);
  return GL_OK;
}

/* White-box entry for tests: the placement check of device d on a prepared plan. */
bool gl__gpulet_device_ok(const gl_sched_input_t *in, gl_sched_plan_t *p, int d, bool interference) {
  ctx_t c;
  memset(&c, 0, sizeof c);
  c.in = in, c.p = p, c.intf = interference;
  c.fu = gl_calloc((size_t)p->n_devices * 2, sizeof *c.fu);
  if (!c.fu) return false;
  bool ok = device_ok(&c, d);
  gl_free(c.fu);
  return ok;
}
