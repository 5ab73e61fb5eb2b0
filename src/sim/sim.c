/* sim/sim.c - the discrete-event simulator: events, arrivals, gpu-lets, interference, re-planning. */
#include "sim/sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "batch/batch.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/rng.h"
#include "core/stats.h"

enum { EV_ARRIVAL = 0, EV_FINISH, EV_WAKE, EV_REPLAN, EV_PHASE, EV_TRACE };

typedef struct {
  int64_t t;
  uint64_t seq;
  int32_t type, id;
  uint32_t gen;
} ev_t;

typedef struct {
  ev_t *a;
  size_t n, cap;
  uint64_t seq;
} heap_t;

static inline bool ev_less(const ev_t *x, const ev_t *y) { return x->t < y->t || (x->t == y->t && x->seq < y->seq); }

static int heap_push(heap_t *h, int64_t t, int type, int id, uint32_t gen) {
  if (h->n == h->cap && gl_grow((void **)&h->a, &h->cap, h->n + 1, sizeof *h->a)) return -1;
  ev_t e = {t, h->seq++, type, id, gen};
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!ev_less(&e, &h->a[p])) break;
    h->a[i] = h->a[p];
    i = p;
  }
  h->a[i] = e;
  return 0;
}

static ev_t heap_pop(heap_t *h) {
  ev_t top = h->a[0], last = h->a[--h->n];
  size_t i = 0, n = h->n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && ev_less(&h->a[c + 1], &h->a[c])) c++;
    if (!ev_less(&h->a[c], &last)) break;
    h->a[i] = h->a[c];
    i = c;
  }
  if (n) h->a[i] = last;
  return top;
}

/* Per (gpu-let, member) tables over batch n, precomputed when a plan is installed. */
typedef struct {
  double med_ms[GL_BATCH_MAX + 1], sig[GL_BATCH_MAX + 1], batch_ms[GL_BATCH_MAX + 1];
  double self[GL_BATCH_MAX + 1], other[GL_BATCH_MAX + 1]; /* interference terms (PAPER.md §8) */
} mtab_t;

typedef struct {
  int dev, units, n_members;
  int model[GL_PLAN_MAX_MEMBERS];
  gl_batcher_t *bat;        /* [n_members] */
  mtab_t *tab;              /* [n_members] */
  bool active, busy, wake_pending;
  int64_t wake_t, finish_t, start_t;
  int rr, run_member, run_n;
  double run_alpha;
  double run_self, run_other; /* interference terms of the running batch (PAPER.md §8) */
  double alpha[GL_PLAN_MAX_MEMBERS]; /* the plan's, for matching an unchanged gpu-let */
  int64_t collect_ns;
  uint32_t gen;
  gl_req_t run[GL_BATCH_MAX];
} slet_t;

typedef struct {
  gl_dqueue_t q;
  int pm;
  int64_t slo_ns;
  int *lets;
  int n_lets;
  size_t cap_lets;
  int64_t min_service;
  uint64_t rng;
  double rate;
  uint32_t arr_gen;
  int next_phase;
  double planned;           /* target rate of the current plan */
  int n_ready;              /* gpu-lets serving it that are active and idle */
  long long sent, served, met, rejected, late;
  float *lat;               /* exact latencies (ms) until the run stores too many */
  size_t n_lat, cap_lat;
  uint32_t *hist;           /* then a log histogram of latency in ns (HIST_N buckets) */
  double sum_lat;
  gl_rate_est_t est;
} smodel_t;

typedef struct {
  const gl_sim_config_t *cfg;
  const gl_sched_input_t *in;
  heap_t h;
  int64_t now, warm_ns, end_ns;
  int nm;
  smodel_t *m;
  slet_t *lets;
  size_t n_lets, cap_lets;
  int **dev_lets;           /* per device: let ids (active or busy) */
  int *dev_n;
  size_t *dev_cap;
  uint64_t rng;
  gl_sched_model_t *models; /* scratch copy for re-planning */
  bool feasible;
  int replans, replans_inc, replans_full, models_up, models_down;
  long long lets_built, lets_kept;
  gl_sched_plan_t cur;            /* the installed plan (re-planning starts from it) */
  bool have_cur;
  long long events;
  bool oom, track_rates;
  bool hist_mode;           /* latencies go to per-model histograms (long runs) */
  uint8_t *ready;           /* [lets] active and not busy: dense, so arrivals skip busy lets
                             * without touching them (thousands of gpu-lets per model) */
  size_t cap_ready;
  long long n_lat_total;
  long trace_pos;
} sim_t;

static double normal(uint64_t *s) {
  double u = gl_rng_unif(s), v = gl_rng_unif(s);
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Device time of member k of let L at batch n, ns. */
static int64_t device_ns(sim_t *S, const slet_t *L, int k, int n, double alpha) {
  const mtab_t *t = &L->tab[k];
  double ms = t->med_ms[n];
  if (S->cfg->jitter && t->sig[n] > 0) ms *= exp(t->sig[n] * normal(&S->rng));
  return (int64_t)((ms * alpha + t->batch_ms[n]) * 1e6);
}

static void rebuild_model_lets(sim_t *S) {
  for (int i = 0; i < S->nm; i++) {
    S->m[i].n_lets = 0;
    S->m[i].min_service = INT64_MAX / 4;
  }
  for (size_t l = 0; l < S->n_lets; l++) {
    slet_t *L = &S->lets[l];
    if (!L->active) continue;
    for (int k = 0; k < L->n_members; k++) {
      smodel_t *M = &S->m[L->model[k]];
      if (gl_grow((void **)&M->lets, &M->cap_lets, (size_t)M->n_lets + 1, sizeof(int))) {
        S->oom = true;
        return;
      }
      M->lets[M->n_lets++] = (int)l;
      if (L->bat[k].lat_ns[1] < M->min_service) M->min_service = L->bat[k].lat_ns[1];
    }
  }
}

/* An active gpu-let of device d that runs P unchanged (units, models, batches, alpha, duty). */
static int find_same(sim_t *S, int d, int n, const gl_sched_let_t *P, const bool *was) {
  for (int i = 0; i < n; i++) {
    int li = S->dev_lets[d][i];
    slet_t *L = &S->lets[li];
    if (!was[i] || L->active || L->units != P->units || L->n_members != P->n_members) continue;
    if (L->collect_ns != (int64_t)(P->duty_ms * 1e6)) continue;
    bool same = true;
    for (int k = 0; k < P->n_members && same; k++)
      same = L->model[k] == P->m[k].model && L->bat[k].max_batch == P->m[k].batch &&
             fabs(L->alpha[k] - P->m[k].alpha) < 1e-9;
    if (same) return li;
  }
  return -1;
}

static gl_status_t install_plan(sim_t *S, const gl_sched_plan_t *plan) {
  const gl_sched_input_t *in = S->in;
  bool *was = NULL;
  size_t cap_was = 0;
  for (int d = 0; d < plan->n_devices && d < in->n_devices; d++) {
    /* gpu-lets that the new plan runs unchanged stay as they are (queues, running batch) */
    if (gl_grow((void **)&was, &cap_was, (size_t)S->dev_n[d] + 1, sizeof *was)) return gl_err(GL_ENOMEM, "simulator: out of memory");
    for (int i = 0; i < S->dev_n[d]; i++) {
      was[i] = S->lets[S->dev_lets[d][i]].active;
      S->lets[S->dev_lets[d][i]].active = false;
    }
    int n_before = S->dev_n[d];
    for (int j = 0; j < plan->dev[d].n_lets; j++) {
      const gl_sched_let_t *P = &plan->dev[d].lets[j];
      if (!P->n_members) continue;
      int same = find_same(S, d, n_before, P, was);
      if (same >= 0) {
        S->lets[same].active = true;
        S->lets_kept++;
        continue;
      }
      S->lets_built++;
      if (gl_grow((void **)&S->lets, &S->cap_lets, S->n_lets + 1, sizeof *S->lets))
        return gl_err(GL_ENOMEM, "simulator: out of memory");
      slet_t *L = &S->lets[S->n_lets];
      memset(L, 0, sizeof *L);
      L->dev = d, L->units = P->units, L->n_members = P->n_members, L->active = true;
      L->collect_ns = (int64_t)(P->duty_ms * 1e6);
      L->bat = gl_calloc((size_t)P->n_members, sizeof *L->bat);
      L->tab = gl_calloc((size_t)P->n_members, sizeof *L->tab);
      if (!L->bat || !L->tab) return gl_err(GL_ENOMEM, "simulator: out of memory");
      for (int k = 0; k < P->n_members; k++) {
        int m = P->m[k].model;
        gl_batcher_t *B = &L->bat[k];
        L->model[k] = m;
        L->alpha[k] = P->m[k].alpha;
        B->mode = S->cfg->collect && P->n_members == 1 && !P->saturated ? GL_BATCH_COLLECT : GL_BATCH_EAGER;
        B->max_batch = P->m[k].batch < 1 ? 1 : P->m[k].batch > GL_BATCH_MAX ? GL_BATCH_MAX : P->m[k].batch;
        B->collect_ns = (int64_t)(P->duty_ms * 1e6);
        double a = P->m[k].alpha > 1 ? P->m[k].alpha : 1;
        mtab_t *T = &L->tab[k];
        double share = (double)P->units / in->prof->total_units;
        const double *c = in->icoef;
        for (int n = 1; n <= B->max_batch; n++) {
          int pm = S->m[m].pm;
          double med = gl_profile_latency(in->prof, pm, n, P->units, false);
          double q = gl_profile_latency(in->prof, pm, n, P->units, true);
          double l2, dr;
          gl_profile_features(in->prof, pm, n, &l2, &dr);
          T->med_ms[n] = med;
          T->sig[n] = q > med ? log(q / med) / 2.326 : 0;
          T->batch_ms[n] = gl_profile_batch_ms(in->prof, pm, n);
          T->self[n] = c[0] * l2 * share + c[2] * dr * share + c[4];
          T->other[n] = c[1] * l2 * share + c[3] * dr * share;
          B->lat_ns[n] = (int64_t)((med * a + T->batch_ms[n]) * 1e6);
        }
      }
      if (gl_grow((void **)&S->dev_lets[d], &S->dev_cap[d], (size_t)S->dev_n[d] + 1, sizeof(int)))
        return gl_err(GL_ENOMEM, "simulator: out of memory");
      S->dev_lets[d][S->dev_n[d]++] = (int)S->n_lets;
      S->n_lets++;
    }
  }
  gl_free(was);
  for (int d = plan->n_devices; d < in->n_devices; d++)
    for (int i = 0; i < S->dev_n[d]; i++) S->lets[S->dev_lets[d][i]].active = false;
  /* drop idle retired lets from the device lists */
  for (int d = 0; d < in->n_devices; d++) {
    int w = 0;
    for (int i = 0; i < S->dev_n[d]; i++) {
      slet_t *L = &S->lets[S->dev_lets[d][i]];
      if (L->active || L->busy) S->dev_lets[d][w++] = S->dev_lets[d][i];
    }
    S->dev_n[d] = w;
  }
  if (gl_grow((void **)&S->ready, &S->cap_ready, S->n_lets + 1, 1)) return gl_err(GL_ENOMEM, "simulator: out of memory");
  for (size_t l = 0; l < S->n_lets; l++) S->ready[l] = S->lets[l].active && !S->lets[l].busy;
  rebuild_model_lets(S);
  for (int i = 0; i < S->nm; i++) S->m[i].n_ready = 0;
  for (size_t l = 0; l < S->n_lets; l++)
    for (int k = 0; S->ready[l] && k < S->lets[l].n_members; k++) S->m[S->lets[l].model[k]].n_ready++;
  return S->oom ? gl_err(GL_ENOMEM, "simulator: out of memory") : GL_OK;
}

static double target(const sim_t *S, double rate) {
  return S->cfg->headroom > 0 ? rate * S->cfg->headroom : gl_sched_target_rate(rate);
}

static gl_status_t make_plan(sim_t *S, const double *rates, gl_sched_plan_t *plan) {
  gl_sched_input_t in = *S->in;
  for (int i = 0; i < S->nm; i++) S->models[i].rate = target(S, rates[i]);
  in.models = S->models;
  return gl_sched_plan(S->cfg->policy, &in, plan);
}

static void start_batch(sim_t *S, int li, int k, int n) {
  slet_t *L = &S->lets[li];
  int m = L->model[k];
  L->run_n = gl_dqueue_pop(&S->m[m].q, n, L->run);
  L->run_member = k;
  double alpha = 1, my_self = L->tab[k].self[L->run_n], my_other = L->tab[k].other[L->run_n];
  L->run_self = my_self, L->run_other = my_other;
  int d = L->dev;
  for (int i = 0; i < S->dev_n[d]; i++) {
    int oi = S->dev_lets[d][i];
    slet_t *O = &S->lets[oi];
    if (oi == li || !O->busy) continue;
    double a = my_self + O->run_other;
    if (a > alpha) alpha = a;
    /* the neighbour slows down too for the rest of its batch */
    double b = O->run_self + my_other;
    if (b > O->run_alpha) {
      int64_t rem = O->finish_t - S->now;
      O->finish_t = S->now + (int64_t)((double)rem * b / O->run_alpha);
      O->run_alpha = b;
      O->gen++;
      if (heap_push(&S->h, O->finish_t, EV_FINISH, oi, O->gen)) S->oom = true;
    }
  }
  L->busy = true;
  if (S->ready[li])
    for (int j = 0; j < L->n_members; j++) S->m[L->model[j]].n_ready--;
  S->ready[li] = 0;
  L->run_alpha = alpha;
  L->start_t = S->now;
  L->finish_t = S->now + device_ns(S, L, k, L->run_n, alpha);
  L->gen++;
  if (heap_push(&S->h, L->finish_t, EV_FINISH, li, L->gen)) S->oom = true;
}

static void try_start(sim_t *S, int li) {
  slet_t *L = &S->lets[li];
  if (L->busy || !L->active) return;
  int64_t wake = INT64_MAX;
  for (int j = 0; j < L->n_members; j++) {
    int k = (L->rr + j) % L->n_members;
    smodel_t *M = &S->m[L->model[k]];
    gl_batch_decision_t d;
    for (;;) {
      d = gl_batcher_next(&L->bat[k], &M->q, S->now);
      if (d.action != GL_BATCH_REJECT) break;
      for (int i = 0; i < d.n; i++)
        if (gl_dqueue_at(&M->q, i)->arrival_ns >= S->warm_ns) M->rejected++;
      gl_dqueue_pop(&M->q, d.n, NULL);
    }
    if (d.action == GL_BATCH_RUN) {
      L->rr = (k + 1) % L->n_members;
      start_batch(S, li, k, d.n);
      return;
    }
    if (d.action == GL_BATCH_WAIT && d.until_ns < wake) wake = d.until_ns;
  }
  if (wake != INT64_MAX && (!L->wake_pending || wake < L->wake_t)) {
    L->wake_pending = true;
    L->wake_t = wake;
    if (heap_push(&S->h, wake, EV_WAKE, li, 0)) S->oom = true;
  }
}

static void schedule_arrival(sim_t *S, int m) {
  smodel_t *M = &S->m[m];
  if (M->rate <= 0 || S->cfg->trace_n > 0) return;
  int64_t t = S->now + (int64_t)(-log(gl_rng_unif(&M->rng)) / M->rate * 1e9) + 1;
  if (t < S->end_ns && heap_push(&S->h, t, EV_ARRIVAL, m, M->arr_gen)) S->oom = true;
}

static void on_arrival(sim_t *S, int m) {
  smodel_t *M = &S->m[m];
  bool counted = S->now >= S->warm_ns;
  if (counted) M->sent++;
  if (S->track_rates) gl_rate_observe(&M->est, (double)S->now / 1e9, 1);
  gl_req_t r = {.id = 0, .arrival_ns = S->now, .deadline_ns = S->now + M->slo_ns};
  if (gl_dqueue_push(&M->q, r, S->now, M->min_service) != GL_ADMIT_OK) {
    if (counted) M->rejected++;
  } else {
    for (int i = 0; i < M->n_lets && M->q.len && M->n_ready > 0; i++)
      if (S->ready[M->lets[i]]) try_start(S, M->lets[i]);
  }
  schedule_arrival(S, m);
}

/* Latency histogram: exact below 256 ns, then 256 buckets per power of two (< 0.4% wide), up
 * to 2^44 ns. Long runs switch to it so that memory stays bounded (an hour on 1000 GPUs is ~1e11
 * requests); percentiles then come from bucket midpoints. */
#define LAT_EXACT_MAX 16000000LL
#define HIST_N GL_SIM_HIST_N
static inline int hist_idx(int64_t v) {
  if (v < 256) return v < 0 ? 0 : (int)v;
  if (v >= (1LL << 44)) v = (1LL << 44) - 1;
  int e = 63 - __builtin_clzll((unsigned long long)v);
  return 256 + (e - 8) * 256 + (int)((v >> (e - 8)) & 255);
}
static double hist_mid_ms(int i) {
  if (i < 256) return i / 1e6;
  int e = (i - 256) / 256 + 8, sub = (i - 256) % 256;
  double lo = (double)((256LL + sub) << (e - 8)), w = (double)(1LL << (e - 8));
  return (lo + w / 2) / 1e6;
}
static double hist_pct(const uint32_t *h, long long n, double p) {
  double rank = p / 100.0 * (double)(n - 1);
  long long c = 0;
  for (int i = 0; i < HIST_N; i++) {
    c += h[i];
    if ((double)c > rank) return hist_mid_ms(i);
  }
  return hist_mid_ms(HIST_N - 1);
}
double gl_sim_hist_pct(const uint64_t *h, long long n, double p) {
  double rank = p / 100.0 * (double)(n - 1);
  unsigned long long c = 0;
  for (int i = 0; i < HIST_N; i++) {
    c += h[i];
    if ((double)c > rank) return hist_mid_ms(i);
  }
  return hist_mid_ms(HIST_N - 1);
}

static void to_hist_mode(sim_t *S) {
  for (int i = 0; i < S->nm; i++) {
    smodel_t *M = &S->m[i];
    M->hist = gl_calloc(HIST_N, sizeof *M->hist);
    if (!M->hist) {
      S->oom = true;
      return;
    }
    for (size_t k = 0; k < M->n_lat; k++) M->hist[hist_idx((int64_t)((double)M->lat[k] * 1e6))]++;
    gl_free(M->lat);
    M->lat = NULL;
    M->cap_lat = 0;
  }
  S->hist_mode = true;
}

static void on_finish(sim_t *S, int li) {
  slet_t *L = &S->lets[li];
  smodel_t *M = &S->m[L->model[L->run_member]];
  for (int i = 0; i < L->run_n; i++) {
    const gl_req_t *r = &L->run[i];
    if (r->arrival_ns < S->warm_ns) continue;
    double lat = (double)(S->now - r->arrival_ns) / 1e6;
    M->served++;
    if (S->now <= r->deadline_ns) M->met++;
    else M->late++;
    M->sum_lat += lat;
    if (!S->hist_mode && S->n_lat_total >= (S->cfg->exact_latencies > 0 ? S->cfg->exact_latencies : LAT_EXACT_MAX))
      to_hist_mode(S);
    if (S->hist_mode) {
      if (M->hist) M->hist[hist_idx(S->now - r->arrival_ns)]++;
      continue;
    }
    if (M->n_lat == M->cap_lat && gl_grow((void **)&M->lat, &M->cap_lat, M->n_lat + 1, sizeof(float))) {
      S->oom = true;
      continue;
    }
    M->lat[M->n_lat++] = (float)lat;
    S->n_lat_total++;
  }
  L->busy = false;
  S->ready[li] = L->active;
  if (L->active)
    for (int j = 0; j < L->n_members; j++) S->m[L->model[j]].n_ready++;
  L->run_n = 0;
  if (L->active) try_start(S, li);
  /* work for idle co-members of other lets of these models is picked up on their next event */
}

/* Epoch (PAPER.md §9): models whose target moved past the triggers are re-planned, incrementally
 * when they fit around the others' gpu-lets, else in full. */
static void on_replan(sim_t *S) {
  double t_s = (double)S->now / 1e9;
  double *rates = gl_calloc((size_t)S->nm, sizeof *rates);
  bool *changed = gl_calloc((size_t)S->nm, sizeof *changed);
  int *dir = gl_calloc((size_t)S->nm, sizeof *dir);
  if (!rates || !changed || !dir) {
    S->oom = true;
    goto out;
  }
  bool change = false;
  for (int i = 0; i < S->nm; i++) {
    rates[i] = gl_rate_max(&S->m[i].est, t_s);
    dir[i] = gl_sched_replan_trigger(S->m[i].planned, target(S, rates[i]));
    changed[i] = dir[i] != 0;
    change |= changed[i];
  }
  if (change) {
    gl_sched_input_t in = *S->in;
    /* unchanged models keep their planned target (their gpu-lets stay) */
    for (int i = 0; i < S->nm; i++) S->models[i].rate = changed[i] ? target(S, rates[i]) : S->m[i].planned;
    in.models = S->models;
    gl_sched_plan_t plan;
    bool inc = false;
    if (gl_sched_replan(S->cfg->policy, &in, S->have_cur ? &S->cur : NULL, changed, &plan, &inc) == GL_OK) {
      if (plan.feasible) {
        if (install_plan(S, &plan) < 0) S->oom = true;
        for (int i = 0; i < S->nm; i++) {
          S->m[i].planned = S->models[i].rate;
          S->models_up += dir[i] > 0;
          S->models_down += dir[i] < 0;
        }
        S->replans++;
        if (inc) S->replans_inc++;
        else S->replans_full++;
        for (size_t l = 0; l < S->n_lets; l++) try_start(S, (int)l);
        if (S->have_cur) gl_sched_plan_fini(&S->cur);
        S->cur = plan;
        S->have_cur = true;
      } else {
        gl_sched_plan_fini(&plan);
      }
    }
  }
  int64_t next = S->now + (int64_t)(S->cfg->replan_s * 1e9);
  if (next < S->end_ns && heap_push(&S->h, next, EV_REPLAN, 0, 0)) S->oom = true;
out:
  gl_free(rates);
  gl_free(changed);
  gl_free(dir);
}

static void on_phase(sim_t *S, int m) {
  smodel_t *M = &S->m[m];
  const gl_scen_model_t *sm = &S->cfg->scen->models[m];
  M->rate = sm->phase_rate[M->next_phase] * S->cfg->scale;
  M->next_phase++;
  M->arr_gen++;
  schedule_arrival(S, m);
  if (M->next_phase < sm->n_phases) {
    int64_t t = (int64_t)(sm->phase_t[M->next_phase] * 1e9);
    if (t < S->end_ns && heap_push(&S->h, t, EV_PHASE, m, 0)) S->oom = true;
  }
}

static void sim_free(sim_t *S) {
  for (int i = 0; S->m && i < S->nm; i++) {
    gl_dqueue_fini(&S->m[i].q);
    gl_free(S->m[i].lets);
    gl_free(S->m[i].lat);
    gl_free(S->m[i].hist);
  }
  for (size_t l = 0; l < S->n_lets; l++) gl_free(S->lets[l].bat), gl_free(S->lets[l].tab);
  for (int d = 0; S->dev_lets && d < S->in->n_devices; d++) gl_free(S->dev_lets[d]);
  gl_free(S->dev_lets);
  gl_free(S->dev_n);
  gl_free(S->dev_cap);
  gl_free(S->lets);
  gl_free(S->ready);
  gl_free(S->m);
  gl_free(S->models);
  gl_free(S->h.a);
  if (S->have_cur) gl_sched_plan_fini(&S->cur);
}

void gl_sim_result_fini(gl_sim_result_t *r) {
  gl_free(r->m);
  gl_free(r->hist);
  gl_free(r->sum_lat_ms);
  r->m = NULL;
  r->hist = NULL;
  r->sum_lat_ms = NULL;
}

gl_status_t gl_sim_run(const gl_sim_config_t *cfg, gl_sim_result_t *res) {
  memset(res, 0, sizeof *res);
  const gl_sched_input_t *in = cfg->in;
  if (!in || in->n_models < 1 || in->n_devices < 1 || !(cfg->duration_s > 0))
    return gl_err(GL_EINVAL, "simulate: needs models, devices and a duration > 0");
  if (cfg->scen && cfg->scen->n_models != in->n_models) return gl_err(GL_EINVAL, "simulate: scenario and models differ");
  if (!cfg->plan && !cfg->policy) return gl_err(GL_EINVAL, "simulate: needs a policy or a plan");
  sim_t S = {0};
  S.cfg = cfg;
  S.in = in;
  S.nm = in->n_models;
  S.end_ns = (int64_t)(cfg->duration_s * 1e9);
  S.warm_ns = (int64_t)(cfg->warmup_s * 1e9);
  S.rng = gl_rng_stream(cfg->seed, 0xFFFFFFFFu);
  S.track_rates = cfg->replan_s > 0 && cfg->replan_s < cfg->duration_s;
  gl_status_t st = GL_OK;
  S.m = gl_calloc((size_t)S.nm, sizeof *S.m);
  S.models = gl_calloc((size_t)S.nm, sizeof *S.models);
  S.dev_lets = gl_calloc((size_t)in->n_devices, sizeof *S.dev_lets);
  S.dev_n = gl_calloc((size_t)in->n_devices, sizeof *S.dev_n);
  S.dev_cap = gl_calloc((size_t)in->n_devices, sizeof *S.dev_cap);
  S.h.cap = (size_t)S.nm * 2 + 64;
  S.h.a = gl_malloc(S.h.cap * sizeof *S.h.a);
  res->m = gl_calloc((size_t)S.nm, sizeof *res->m);
  if (!S.m || !S.models || !S.dev_lets || !S.dev_n || !S.dev_cap || !S.h.a || !res->m) {
    st = gl_err(GL_ENOMEM, "simulator: out of memory");
    goto out;
  }
  memcpy(S.models, in->models, (size_t)S.nm * sizeof *S.models);
  double scale = cfg->scale > 0 ? cfg->scale : 1;
  double *rates = gl_calloc((size_t)S.nm, sizeof *rates);
  if (!rates) {
    st = gl_err(GL_ENOMEM, "simulator: out of memory");
    goto out;
  }
  for (int i = 0; i < S.nm; i++) {
    smodel_t *M = &S.m[i];
    M->pm = in->models[i].pm;
    M->slo_ns = (int64_t)(in->models[i].slo_ms * 1e6);
    M->rng = gl_rng_stream(cfg->seed, (uint64_t)i);
    M->rate = (cfg->scen ? gl_scenario_rate_at(cfg->scen, i, 0) : in->models[i].rate) * scale;
    if (cfg->scen && cfg->scen->models[i].n_phases && cfg->scen->models[i].phase_t[0] <= 0) {
      M->rate = cfg->scen->models[i].phase_rate[0] * scale;
      M->next_phase = 1;
    }
    rates[i] = M->rate;
    M->planned = target(&S, M->rate);
    gl_rate_init(&M->est, 1.0, 30);
    if ((st = gl_dqueue_init(&M->q, cfg->queue_cap > 0 ? cfg->queue_cap : 65536)) < 0) {
      gl_free(rates);
      goto out;
    }
  }
  gl_sched_plan_t own;
  const gl_sched_plan_t *plan = cfg->plan;
  if (!plan) {
    st = make_plan(&S, rates, &own);
    if (st < 0) {
      gl_free(rates);
      goto out;
    }
    plan = &own;
  }
  gl_free(rates);
  S.feasible = plan->feasible;
  st = S.feasible || !cfg->skip_infeasible ? install_plan(&S, plan) : GL_OK;
  S.lets_built = S.lets_kept = 0;
  if (plan == &own) {
    S.cur = own;
    S.have_cur = true;
  } else if (st == GL_OK && (st = gl_sched_plan_copy(plan, &S.cur)) == GL_OK) {
    S.have_cur = true;
  }
  if (st < 0) goto out;
  if (cfg->trace_n > 0 && (S.feasible || !cfg->skip_infeasible)) {
    for (long k = 0; k < cfg->trace_n; k++)
      if (cfg->trace_model[k] < 0 || cfg->trace_model[k] >= S.nm) {
        st = gl_err(GL_EINVAL, "simulate: trace entry %ld names model %d of %d", k, cfg->trace_model[k], S.nm);
        goto out;
      }
    if (cfg->trace_t[0] * 1e9 < (double)S.end_ns) heap_push(&S.h, (int64_t)(cfg->trace_t[0] * 1e9), EV_TRACE, 0, 0);
  }
  for (int i = 0; i < S.nm && (S.feasible || !cfg->skip_infeasible) && cfg->trace_n <= 0; i++) {
    schedule_arrival(&S, i);
    const gl_scen_model_t *sm = cfg->scen ? &cfg->scen->models[i] : NULL;
    if (sm && S.m[i].next_phase < sm->n_phases)
      heap_push(&S.h, (int64_t)(sm->phase_t[S.m[i].next_phase] * 1e9), EV_PHASE, i, 0);
  }
  if (cfg->replan_s > 0 && cfg->replan_s < cfg->duration_s && cfg->policy && !cfg->plan &&
      (S.feasible || !cfg->skip_infeasible))
    heap_push(&S.h, (int64_t)(cfg->replan_s * 1e9), EV_REPLAN, 0, 0);
  int64_t t0 = gl_now_ns();
  while (S.h.n && !S.oom) {
    ev_t e = heap_pop(&S.h);
    S.now = e.t;
    S.events++;
    switch (e.type) {
      case EV_ARRIVAL:
        if (e.gen == S.m[e.id].arr_gen) on_arrival(&S, e.id);
        break;
      case EV_FINISH:
        if (e.gen == S.lets[e.id].gen && S.lets[e.id].busy) on_finish(&S, e.id);
        break;
      case EV_WAKE:
        if (S.lets[e.id].wake_pending && S.lets[e.id].wake_t == e.t) {
          S.lets[e.id].wake_pending = false;
          try_start(&S, e.id);
        }
        break;
      case EV_REPLAN: on_replan(&S); break;
      case EV_PHASE: on_phase(&S, e.id); break;
      case EV_TRACE: {
        on_arrival(&S, cfg->trace_model[S.trace_pos++]);
        if (S.trace_pos < cfg->trace_n) {
          int64_t t = (int64_t)(cfg->trace_t[S.trace_pos] * 1e9);
          if (t < S.now) t = S.now;
          if (t < S.end_ns && heap_push(&S.h, t, EV_TRACE, 0, 0)) S.oom = true;
        }
        break;
      }
    }
  }
  res->wall_s = (double)(gl_now_ns() - t0) / 1e9;
  if (S.oom) {
    st = gl_err(GL_ENOMEM, "simulator: out of memory");
    goto out;
  }
  /* requests still queued when the event list drained could not be served by any gpu-let */
  res->n_models = S.nm;
  res->events = S.events;
  res->sim_s = (double)S.now / 1e9;
  res->plan_feasible = S.feasible;
  res->replans = S.replans;
  res->replans_incremental = S.replans_inc;
  res->replans_full = S.replans_full;
  res->lets_built = S.lets_built;
  res->lets_kept = S.lets_kept;
  res->models_up = S.models_up;
  res->models_down = S.models_down;
  res->min_attain = 1;
  res->ok = S.feasible;
  if (cfg->want_hist) {
    res->hist = gl_calloc((size_t)S.nm * HIST_N, sizeof *res->hist);
    res->sum_lat_ms = gl_calloc((size_t)S.nm, sizeof *res->sum_lat_ms);
    if (!res->hist || !res->sum_lat_ms) {
      st = gl_err(GL_ENOMEM, "simulator: out of memory");
      goto out;
    }
    for (int i = 0; i < S.nm; i++) {
      smodel_t *M = &S.m[i];
      uint64_t *h = res->hist + (size_t)i * HIST_N;
      res->sum_lat_ms[i] = M->sum_lat;
      if (S.hist_mode && M->hist)
        for (int k = 0; k < HIST_N; k++) h[k] = M->hist[k];
      else
        for (size_t k = 0; k < M->n_lat; k++) h[hist_idx((int64_t)((double)M->lat[k] * 1e6))]++;
    }
  }
  for (int i = 0; i < S.nm; i++) {
    smodel_t *M = &S.m[i];
    gl_sim_model_stats_t *o = &res->m[i];
    snprintf(o->name, sizeof o->name, "%s", in->models[i].name);
    o->sent = M->sent, o->served = M->served, o->met = M->met, o->rejected = M->rejected, o->late = M->late;
    o->attain = M->sent ? (double)M->met / (double)M->sent : 1;
    o->mean_ms = M->served ? M->sum_lat / (double)M->served : 0;
    if (S.hist_mode && M->hist && M->served) {
      o->p50_ms = hist_pct(M->hist, M->served, 50);
      o->p99_ms = hist_pct(M->hist, M->served, 99);
      o->p999_ms = hist_pct(M->hist, M->served, 99.9);
    } else if (M->n_lat) {
      double *v = gl_malloc(M->n_lat * sizeof *v);
      if (!v) {
        st = gl_err(GL_ENOMEM, "simulator: out of memory");
        goto out;
      }
      for (size_t k = 0; k < M->n_lat; k++) v[k] = M->lat[k];
      gl_sort_doubles(v, M->n_lat);
      o->p50_ms = gl_percentile_sorted(v, M->n_lat, 50);
      o->p99_ms = gl_percentile_sorted(v, M->n_lat, 99);
      o->p999_ms = gl_percentile_sorted(v, M->n_lat, 99.9);
      gl_free(v);
    }
    if (o->attain < res->min_attain) res->min_attain = o->attain;
    if (o->attain * 100 < in->models[i].pct - 1e-9) res->ok = false;
  }
out:
  sim_free(&S);
  if (st < 0) gl_sim_result_fini(res);
  return st;
}
