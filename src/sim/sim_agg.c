/* sim/sim_agg.c - device-class aggregation: one simulated representative per class of identical devices. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "sim/sim.h"

#define MAX_ORD (GL_PLAN_MAX_LETS * GL_PLAN_MAX_MEMBERS)

/* The models of one device in order of first appearance in its plan (the "ordinals"): two
 * devices of a class run the same ordinals' gpu-lets, so ordinal k of the representative stands
 * for ordinal k of every device of its class even where the models differ. */
typedef struct {
  int n;
  int model[MAX_ORD];
} ords_t;

typedef struct {
  int cls, dev, weight;           /* the device simulated, how many devices it stands for */
  int first, count;               /* its devices: A.stand[first .. first+count) */
  gl_status_t st;
  char why[200];
  long long events;
} job_t;

typedef struct {
  const gl_sim_config_t *cfg;
  const gl_sched_plan_t *plan;
  gl_sched_input_t in1;           /* one device, the real models */
  gl_scenario_t *scen;            /* [n_devices] per-device scenarios (rates x share), NULL for unused devices */
  int nm;
  job_t *jobs;
  int n_jobs, next;
  double *job_sum;                /* [n_jobs * nm] latency sums (merged in job order: deterministic) */
  /* merged counts (integer adds: any order gives the same result) */
  long long *sent, *served, *met, *rejected, *late;
  uint64_t *hist;                 /* [nm * GL_SIM_HIST_N] */
  const ords_t *ords;             /* [n_devices] */
  int *stand;                     /* devices, grouped by the job that stands for them */
  pthread_mutex_t mu;
} agg_t;

static uint64_t mix(uint64_t seed, uint64_t k) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + (k + 1) * 0xC2B2AE3D27D4EB4FULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* The rates before planning and the scenario every run starts from (a copy; rates x scale). */
static gl_status_t base_scenario(const gl_sim_config_t *cfg, gl_scenario_t *out) {
  const gl_sched_input_t *in = cfg->in;
  memset(out, 0, sizeof *out);
  out->n_models = in->n_models;
  out->duration_s = cfg->duration_s;
  out->models = gl_calloc((size_t)in->n_models, sizeof *out->models);
  if (!out->models) return gl_err(GL_ENOMEM, "simulate: out of memory");
  if (cfg->scen) {
    snprintf(out->name, sizeof out->name, "%s", cfg->scen->name);
    memcpy(out->models, cfg->scen->models, (size_t)in->n_models * sizeof *out->models);
  } else {
    for (int i = 0; i < in->n_models; i++) {
      snprintf(out->models[i].name, sizeof out->models[i].name, "%s", in->models[i].name);
      out->models[i].rate = in->models[i].rate;
    }
  }
  return GL_OK;
}

static void scale_scenario(gl_scen_model_t *m, double f) {
  m->rate *= f;
  for (int k = 0; k < m->n_phases; k++) m->phase_rate[k] *= f;
}

static void device_ords(const gl_sched_device_t *D, ords_t *o) {
  o->n = 0;
  for (int j = 0; j < D->n_lets; j++)
    for (int m = 0; m < D->lets[j].n_members; m++) {
      int k = 0, x = D->lets[j].m[m].model;
      while (k < o->n && o->model[k] != x) k++;
      if (k == o->n && o->n < MAX_ORD) o->model[o->n++] = x;
    }
}

/* A device's configuration as text: devices with equal keys are one class. A model is named by
 * what the simulator sees of it: its ordinal on the device, profile model, SLO, percentile and the
 * rate this device receives over time (rate x share, every phase; 9 significant digits). */
static char *device_key(const gl_sched_device_t *D, const ords_t *o, const gl_sched_input_t *in,
                        const gl_scenario_t *base, const double *share_here) {
  size_t cap = 64 + (size_t)D->n_lets * (64 + GL_PLAN_MAX_MEMBERS * 64) + (size_t)o->n * (96 + GL_SCEN_MAX_PHASES * 40);
  char *k = gl_malloc(cap);
  if (!k) return NULL;
  size_t w = 0;
  w += (size_t)snprintf(k + w, cap - w, "%d|", D->n_lets);
  for (int j = 0; j < D->n_lets; j++) {
    const gl_sched_let_t *L = &D->lets[j];
    w += (size_t)snprintf(k + w, cap - w, "u%d n%d s%d d%.9g:", L->units, L->n_members, L->saturated, L->duty_ms);
    for (int m = 0; m < L->n_members; m++) {
      int ord = 0;
      while (ord < o->n && o->model[ord] != L->m[m].model) ord++;
      w += (size_t)snprintf(k + w, cap - w, "o%d b%d a%.9g;", ord, L->m[m].batch, L->m[m].alpha);
    }
  }
  for (int ord = 0; ord < o->n; ord++) {
    int i = o->model[ord];
    const gl_scen_model_t *sm = &base->models[i];
    double f = share_here[i];
    w += (size_t)snprintf(k + w, cap - w, "|o%d p%d s%.9g q%.9g r%.9g", ord, in->models[i].pm, in->models[i].slo_ms,
                          in->models[i].pct, sm->rate * f);
    for (int ph = 0; ph < sm->n_phases; ph++)
      w += (size_t)snprintf(k + w, cap - w, " %.9g:%.9g", sm->phase_t[ph], sm->phase_rate[ph] * f);
  }
  return k;
}

static void run_job(agg_t *A, job_t *J, int ji) {
  gl_sim_config_t c = *A->cfg;
  gl_sched_plan_t p1 = {0};
  snprintf(p1.policy, sizeof p1.policy, "%s", A->plan->policy);
  p1.n_devices = 1;
  p1.n_models = A->nm;
  p1.dev = &A->plan->dev[J->dev];
  p1.served = A->plan->served;
  p1.feasible = true;
  c.in = &A->in1;
  c.scen = &A->scen[J->dev];
  c.scale = A->cfg->scale > 0 ? A->cfg->scale : 1;
  c.plan = &p1;
  c.policy = NULL;
  c.replan_s = 0;
  c.want_hist = true;
  c.exact_latencies = 1; /* straight to the histogram: no per-request storage, no sort */
  c.trace_n = 0;
  c.seed = mix(A->cfg->seed, (uint64_t)J->dev);
  gl_sim_result_t r;
  J->st = gl_sim_run(&c, &r);
  if (J->st < 0) {
    snprintf(J->why, sizeof J->why, "%s", gl_errmsg());
    return;
  }
  J->events = r.events;
  const ords_t *ro = &A->ords[J->dev];
  for (int i = 0; i < A->nm; i++) A->job_sum[(size_t)ji * A->nm + i] = r.sum_lat_ms[i];
  pthread_mutex_lock(&A->mu);
  for (int c = 0; c < J->count; c++) {
    const ords_t *dv = &A->ords[A->stand[J->first + c]];
    for (int k = 0; k < ro->n && k < dv->n; k++) {
      int i = ro->model[k], x = dv->model[k];
      A->sent[x] += r.m[i].sent, A->served[x] += r.m[i].served, A->met[x] += r.m[i].met;
      A->rejected[x] += r.m[i].rejected, A->late[x] += r.m[i].late;
      const uint64_t *h = r.hist + (size_t)i * GL_SIM_HIST_N;
      uint64_t *o = A->hist + (size_t)x * GL_SIM_HIST_N;
      if (r.m[i].served)
        for (int b = 0; b < GL_SIM_HIST_N; b++) o[b] += h[b];
    }
  }
  pthread_mutex_unlock(&A->mu);
  gl_sim_result_fini(&r);
}

static void *worker(void *arg) {
  agg_t *A = arg;
  for (;;) {
    pthread_mutex_lock(&A->mu);
    int ji = A->next < A->n_jobs ? A->next++ : -1;
    pthread_mutex_unlock(&A->mu);
    if (ji < 0) return NULL;
    run_job(A, &A->jobs[ji], ji);
  }
}

typedef struct {
  const char *key;
  int dev;
} keyed_t;

static int cmp_keyed(const void *a, const void *b) {
  const keyed_t *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->dev > y->dev) - (x->dev < y->dev);
}

/* The reference: every device in one event loop, each (model, device) pair its own queue and
 * Poisson stream (rate x share). Models are expanded into (model, device) sub-models. */
static gl_status_t run_split_full(const gl_sim_config_t *cfg, const gl_sched_plan_t *plan, const double *share,
                                  const gl_scenario_t *base, gl_sim_result_t *res, gl_sim_agg_info_t *info) {
  const gl_sched_input_t *in = cfg->in;
  int nm = in->n_models, nd = plan->n_devices, ns = 0;
  int *sub = gl_malloc((size_t)nm * nd * sizeof *sub), *owner = NULL;
  gl_sched_model_t *sm = NULL;
  gl_scenario_t sc = *base;
  sc.models = NULL;
  gl_sched_plan_t p2 = {0};
  gl_sim_result_t r = {0};
  gl_status_t st = GL_OK;
  if (!sub) return gl_err(GL_ENOMEM, "simulate: out of memory");
  for (int d = 0; d < nd; d++)
    for (int i = 0; i < nm; i++) sub[(size_t)d * nm + i] = share[(size_t)d * nm + i] > 0 ? ns++ : -1;
  sm = gl_calloc((size_t)ns + 1, sizeof *sm);
  owner = gl_calloc((size_t)ns + 1, sizeof *owner);
  sc.models = gl_calloc((size_t)ns + 1, sizeof *sc.models);
  if (!sm || !owner || !sc.models || gl_sched_plan_copy(plan, &p2) < 0) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  for (int d = 0; d < nd; d++)
    for (int i = 0; i < nm; i++) {
      int s = sub[(size_t)d * nm + i];
      if (s < 0) continue;
      sm[s] = in->models[i];
      owner[s] = i;
      sc.models[s] = base->models[i];
      scale_scenario(&sc.models[s], share[(size_t)d * nm + i]);
    }
  sc.n_models = ns;
  for (int d = 0; d < nd; d++)
    for (int j = 0; j < p2.dev[d].n_lets; j++)
      for (int m = 0; m < p2.dev[d].lets[j].n_members; m++) {
        gl_sched_member_t *M = &p2.dev[d].lets[j].m[m];
        M->model = sub[(size_t)d * nm + M->model];
      }
  /* served[] is per model: the sub-models' (unused by the simulator) */
  gl_free(p2.served);
  p2.served = gl_calloc((size_t)ns + 1, sizeof *p2.served);
  if (!p2.served) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  p2.n_models = ns;
  gl_sched_input_t in2 = *in;
  in2.models = sm;
  in2.n_models = ns;
  gl_sim_config_t c = *cfg;
  c.in = &in2;
  c.scen = &sc;
  c.plan = &p2;
  c.policy = NULL;
  c.replan_s = 0;
  c.want_hist = true;
  c.exact_latencies = 1;
  c.trace_n = 0;
  if ((st = gl_sim_run(&c, &r)) < 0) goto out;
  res->events = r.events;
  res->sim_s = r.sim_s;
  res->hist = gl_calloc((size_t)nm * GL_SIM_HIST_N, sizeof *res->hist);
  res->sum_lat_ms = gl_calloc((size_t)nm, sizeof *res->sum_lat_ms);
  if (!res->hist || !res->sum_lat_ms) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  for (int s = 0; s < ns; s++) {
    gl_sim_model_stats_t *o = &res->m[owner[s]];
    o->sent += r.m[s].sent, o->served += r.m[s].served, o->met += r.m[s].met;
    o->rejected += r.m[s].rejected, o->late += r.m[s].late;
    res->sum_lat_ms[owner[s]] += r.sum_lat_ms[s];
    for (int k = 0; k < GL_SIM_HIST_N; k++)
      res->hist[(size_t)owner[s] * GL_SIM_HIST_N + k] += r.hist[(size_t)s * GL_SIM_HIST_N + k];
  }
  info->n_classes = info->n_devices_used;
  info->n_runs = 1;
  info->largest_class = 1;
  info->events_represented = r.events;
out:
  gl_sim_result_fini(&r);
  if (p2.dev) gl_sched_plan_fini(&p2);
  gl_free(sc.models);
  gl_free(sm);
  gl_free(owner);
  gl_free(sub);
  return st;
}

gl_status_t gl_sim_run_aggregate(const gl_sim_config_t *cfg, const gl_sim_agg_opts_t *o, gl_sim_result_t *res,
                                 gl_sim_agg_info_t *info) {
  memset(res, 0, sizeof *res);
  memset(info, 0, sizeof *info);
  const gl_sched_input_t *in = cfg->in;
  if (!in || in->n_models < 1 || in->n_devices < 1 || !(cfg->duration_s > 0))
    return gl_err(GL_EINVAL, "simulate: needs models, devices and a duration > 0");
  if (cfg->scen && cfg->scen->n_models != in->n_models) return gl_err(GL_EINVAL, "simulate: scenario and models differ");
  if (!cfg->plan && !cfg->policy) return gl_err(GL_EINVAL, "simulate: needs a policy or a plan");
  if (cfg->trace_n > 0) return gl_err(GL_EUNSUPPORTED, "simulate: aggregation needs Poisson arrivals, not a trace");
  int nm = in->n_models, reps = o && o->reps > 0 ? o->reps : 1, threads = o && o->threads > 0 ? o->threads : 1;
  double scale = cfg->scale > 0 ? cfg->scale : 1;
  int64_t t0 = gl_now_ns();
  gl_status_t st = GL_OK;
  gl_scenario_t base = {0};
  gl_sched_plan_t own = {0};
  bool have_own = false;
  const gl_sched_plan_t *plan = cfg->plan;
  agg_t A;
  memset(&A, 0, sizeof A);
  double *share = NULL, *tot = NULL;
  keyed_t *keys = NULL;
  ords_t *ords = NULL;
  int nd = 0;
  GL_TRY(base_scenario(cfg, &base));
  if (!plan) {
    /* the same first plan gl_sim_run makes: the rates at t = 0, with headroom */
    gl_sched_model_t *pm = gl_calloc((size_t)nm, sizeof *pm);
    if (!pm) {
      st = gl_err(GL_ENOMEM, "simulate: out of memory");
      goto out;
    }
    memcpy(pm, in->models, (size_t)nm * sizeof *pm);
    for (int i = 0; i < nm; i++) {
      double r = (cfg->scen ? gl_scenario_rate_at(cfg->scen, i, 0) : in->models[i].rate) * scale;
      pm[i].rate = cfg->headroom > 0 ? r * cfg->headroom : gl_sched_target_rate(r);
    }
    gl_sched_input_t pin = *in;
    pin.models = pm;
    st = gl_sched_plan(cfg->policy, &pin, &own);
    gl_free(pm);
    if (st < 0) goto out;
    have_own = true;
    plan = &own;
  }
  res->n_models = nm;
  res->plan_feasible = plan->feasible;
  res->m = gl_calloc((size_t)nm, sizeof *res->m);
  if (!res->m) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  if (!plan->feasible) {
    if (cfg->skip_infeasible) goto out;
    st = gl_err(GL_EUNSUPPORTED, "simulate: aggregation needs a feasible plan (%s)", plan->why);
    goto out;
  }
  nd = plan->n_devices < in->n_devices ? plan->n_devices : in->n_devices;
  /* rate shares: the fraction of model i's traffic that device d gets */
  share = gl_calloc((size_t)nd * nm, sizeof *share);
  tot = gl_calloc((size_t)nm, sizeof *tot);
  keys = gl_calloc((size_t)nd + 1, sizeof *keys);
  if (!share || !tot || !keys) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  for (int d = 0; d < nd; d++)
    for (int j = 0; j < plan->dev[d].n_lets; j++)
      for (int m = 0; m < plan->dev[d].lets[j].n_members; m++) {
        const gl_sched_member_t *M = &plan->dev[d].lets[j].m[m];
        share[(size_t)d * nm + M->model] += M->rate;
        tot[M->model] += M->rate;
      }
  for (int i = 0; i < nm; i++) {
    if (tot[i] <= 0 && gl_scenario_peak_rate(&base, i) > 0) {
      st = gl_err(GL_EUNSUPPORTED, "simulate: aggregation: model %s has traffic but no planned rate share",
                  in->models[i].name);
      goto out;
    }
    for (int d = 0; d < nd; d++)
      if (tot[i] > 0) share[(size_t)d * nm + i] /= tot[i];
  }
  ords = gl_calloc((size_t)nd + 1, sizeof *ords);
  if (!ords) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  int used = 0;
  for (int d = 0; d < nd; d++) {
    device_ords(&plan->dev[d], &ords[d]);
    if (!ords[d].n) continue;
    keys[used].dev = d;
    keys[used].key = device_key(&plan->dev[d], &ords[d], in, &base, share + (size_t)d * nm);
    if (!keys[used].key) {
      st = gl_err(GL_ENOMEM, "simulate: out of memory");
      goto out;
    }
    used++;
  }
  info->n_devices_used = used;
  if (o && o->split_full) {
    st = run_split_full(cfg, plan, share, &base, res, info);
    goto merge;
  }
  qsort(keys, (size_t)used, sizeof *keys, cmp_keyed);
  /* classes: runs of equal keys; reps per class, weights summing to the class size */
  A.cfg = cfg;
  A.plan = plan;
  A.nm = nm;
  A.in1 = *in;
  A.in1.n_devices = 1;
  A.jobs = gl_calloc((size_t)used + 1, sizeof *A.jobs);
  A.scen = gl_calloc((size_t)nd, sizeof *A.scen);
  A.sent = gl_calloc((size_t)nm * 5, sizeof *A.sent);
  A.hist = gl_calloc((size_t)nm * GL_SIM_HIST_N, sizeof *A.hist);
  A.stand = gl_calloc((size_t)used + 1, sizeof *A.stand);
  A.ords = ords;
  if (!A.jobs || !A.scen || !A.sent || !A.hist || !A.stand) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  A.served = A.sent + nm, A.met = A.sent + 2 * nm, A.rejected = A.sent + 3 * nm, A.late = A.sent + 4 * nm;
  for (int a = 0; a < used;) {
    int b = a;
    while (b < used && !strcmp(keys[a].key, keys[b].key)) b++;
    int n = b - a, r = n < reps ? n : reps;
    for (int j = 0; j < r; j++) {
      job_t *J = &A.jobs[A.n_jobs++];
      J->cls = info->n_classes, J->dev = keys[a + j].dev, J->weight = n / r + (j < n % r);
      /* rep j stands for the class's devices j, j + r, j + 2r, ... (a contiguous block of stand) */
      J->first = a + j == a ? a : A.jobs[A.n_jobs - 2].first + A.jobs[A.n_jobs - 2].count;
      J->count = 0;
      for (int x = a + j; x < b; x += r) A.stand[J->first + J->count++] = keys[x].dev;
      gl_scenario_t *s = &A.scen[J->dev];
      *s = base;
      s->models = gl_malloc((size_t)nm * sizeof *s->models);
      if (!s->models) {
        st = gl_err(GL_ENOMEM, "simulate: out of memory");
        goto out;
      }
      memcpy(s->models, base.models, (size_t)nm * sizeof *s->models);
      for (int i = 0; i < nm; i++) scale_scenario(&s->models[i], share[(size_t)J->dev * nm + i]);
    }
    if (n > info->largest_class) info->largest_class = n;
    info->n_classes++;
    a = b;
  }
  info->n_runs = A.n_jobs;
  A.job_sum = gl_calloc((size_t)A.n_jobs * nm + 1, sizeof *A.job_sum);
  if (!A.job_sum) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  pthread_mutex_init(&A.mu, NULL);
  if (threads > A.n_jobs) threads = A.n_jobs;
  pthread_t tid[64];
  int started = 0;
  if (threads > 64) threads = 64;
  for (int t = 1; t < threads; t++)
    if (pthread_create(&tid[started], NULL, worker, &A) == 0) started++;
  worker(&A);
  for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
  pthread_mutex_destroy(&A.mu);
  res->hist = A.hist;
  A.hist = NULL;
  res->sum_lat_ms = gl_calloc((size_t)nm, sizeof *res->sum_lat_ms);
  if (!res->sum_lat_ms) {
    st = gl_err(GL_ENOMEM, "simulate: out of memory");
    goto out;
  }
  for (int j = 0; j < A.n_jobs; j++) {
    job_t *J = &A.jobs[j];
    if (J->st < 0) {
      st = gl_err(J->st, "%s", J->why);
      goto out;
    }
    res->events += J->events;
    info->events_represented += J->events * J->weight;
    const ords_t *ro = &ords[J->dev];
    for (int c = 0; c < J->count; c++) {
      const ords_t *dv = &ords[A.stand[J->first + c]];
      for (int k = 0; k < ro->n && k < dv->n; k++) res->sum_lat_ms[dv->model[k]] += A.job_sum[(size_t)j * nm + ro->model[k]];
    }
  }
  for (int i = 0; i < nm; i++) {
    gl_sim_model_stats_t *m = &res->m[i];
    m->sent = A.sent[i], m->served = A.served[i], m->met = A.met[i], m->rejected = A.rejected[i], m->late = A.late[i];
  }
  res->sim_s = cfg->duration_s;
merge:
  if (st < 0) goto out;
  res->min_attain = 1;
  res->ok = true;
  for (int i = 0; i < nm; i++) {
    gl_sim_model_stats_t *m = &res->m[i];
    snprintf(m->name, sizeof m->name, "%s", in->models[i].name);
    m->attain = m->sent ? (double)m->met / (double)m->sent : 1;
    m->mean_ms = m->served ? res->sum_lat_ms[i] / (double)m->served : 0;
    if (m->served) {
      const uint64_t *h = res->hist + (size_t)i * GL_SIM_HIST_N;
      m->p50_ms = gl_sim_hist_pct(h, m->served, 50);
      m->p99_ms = gl_sim_hist_pct(h, m->served, 99);
      m->p999_ms = gl_sim_hist_pct(h, m->served, 99.9);
    }
    if (m->attain < res->min_attain) res->min_attain = m->attain;
    if (m->attain * 100 < in->models[i].pct - 1e-9) res->ok = false;
  }
out:
  res->wall_s = (double)(gl_now_ns() - t0) / 1e9;
  for (int d = 0; A.scen && d < nd; d++) gl_free(A.scen[d].models);
  gl_free(A.scen);
  gl_free(A.jobs);
  gl_free(A.job_sum);
  gl_free(A.sent);
  gl_free(A.hist);
  gl_free(A.stand);
  gl_free(ords);
  for (int k = 0; keys && k < nd; k++) gl_free((void *)keys[k].key);
  gl_free(keys);
  gl_free(share);
  gl_free(tot);
  gl_free(base.models);
  if (have_own) gl_sched_plan_fini(&own);
  if (st < 0) gl_sim_result_fini(res);
  return st;
}
