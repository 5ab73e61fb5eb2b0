/* serve/control.c - the server's control loop: per-model arrival rates, re-planning with the
 * scheduler (every period, on a rate trigger, on drift, on load/unload and on request), and the
 * reorganizer (reorg.c) that builds the new plan's gpu-lets beside the old ones and switches the routing.
 * The live profile it plans with is refined in profile_live.c. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/control_int.h"

const char *const gl_serve_reasons[GL_REASON_N] = {"period", "rate", "drift", "load", "unload", "request", "fault"};

#define MIN_RATE 1.0      /* req/s planned for a model never seen */

/* ---- planning ---- */

static double now_s(gl_server_t *s) { return gl_ns_to_ms(gl_now_ns() - s->start_ns) / 1000; }

/* The loaded models (READY or LOADING with a model), each with a reference. */
static int snapshot_models(gl_server_t *s, gl_smodel_t **ms) {
  int n = 0;
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->n_models; i++) {
    gl_sentry_t *e = &s->models[i];
    if (!e->m || (strcmp(e->state, "READY") && strcmp(e->state, "LOADING"))) continue;
    gl_smodel_ref(e->m);
    ms[n++] = e->m;
  }
  pthread_mutex_unlock(&s->mu);
  return n;
}

/* Observed arrival rate of m now (the configured one while too young to have been observed). */
static double observed_rate(gl_server_t *s, gl_smodel_t *m) {
  double t = now_s(s);
  double r = gl_rate_max(&m->est, t);
  double age = gl_ns_to_ms(gl_now_ns() - m->loaded_ns) / 1000;
  if (age < s->o.rate_window_s && m->cfg.rate > r) r = m->cfg.rate;
  return r;
}

static double target_of(double rate) { return gl_sched_target_rate(rate > MIN_RATE ? rate : MIN_RATE); }

/* One gpu-let per model on cores_per_model cores (--policy none, and the last fallback), the
 * models dealt round-robin over the devices ok[0..n_ok). */
static int static_specs(gl_server_t *s, gl_smodel_t **ms, int n, gl_sctl_spec_t *sp, const int *ok, int n_ok) {
  if (n_ok < 1) return 0;
  for (int i = 0; i < n && i < GL_PLAN_MAX_LETS * 4; i++) {
    memset(&sp[i], 0, sizeof sp[i]);
    sp[i].dev = ok[i % n_ok];
    gl_sdev_t *d = &s->devs[sp[i].dev];
    /* the fallback splits its own units between the models it takes */
    int per = (n + n_ok - 1) / n_ok, u = d->fallback ? d->units / per : s->cores_per_model;
    sp[i].units = u < 1 ? 1 : u > d->units ? d->units : u;
    sp[i].n = 1;
    sp[i].m[0].m = ms[i];
    sp[i].m[0].batch = ms[i]->cfg.max_batch > 0 ? ms[i]->cfg.max_batch : 1;
    sp[i].m[0].rate = ms[i]->rate_target;
  }
  return n;
}

/* The fallback of a policy that time-shares whole devices (sbp, triton): one gpu-let of every
 * core serving every model, each at the largest batch the profile says fits half its SLO on all
 * cores (else 1). A per-model core split here would make the baseline a spatial policy. */
static int whole_specs(gl_server_t *s, gl_smodel_t **ms, int n, gl_sctl_spec_t *sp, int dev) {
  const gl_profile_t *prof = s->ctl.prof;
  int units = s->devs[dev].units, k = 0;
  memset(&sp[0], 0, sizeof sp[0]);
  sp[0].dev = dev;
  sp[0].units = units;
  for (int i = 0; i < n && k < GL_PLAN_MAX_MEMBERS; i++, k++) {
    gl_slet_spec_member_t *e = &sp[0].m[k];
    int mb = ms[i]->cfg.max_batch > 0 ? ms[i]->cfg.max_batch : 1, b = 1;
    for (int c = 2; c <= mb && c <= gl_profile_max_batch(prof); c *= 2)
      if (gl_profile_latency(prof, ms[i]->pm, c, units, false) <= ms[i]->cfg.slo_ms / 2) b = c;
    e->m = ms[i];
    e->batch = b;
    e->rate = ms[i]->rate_target;
  }
  sp[0].n = k;
  return k > 0 ? 1 : 0;
}

static bool time_shares(const char *policy) { return !strcmp(policy, "sbp") || !strcmp(policy, "triton"); }

static bool all_placed(const gl_sched_plan_t *p, int n) {
  for (int i = 0; i < n; i++) {
    bool found = false;
    for (int d = 0; d < p->n_devices && !found; d++)
      for (int l = 0; l < p->dev[d].n_lets && !found; l++)
        for (int k = 0; k < p->dev[d].lets[l].n_members; k++) found |= p->dev[d].lets[l].m[k].model == i;
    if (!found) return false;
  }
  return true;
}

/* The plan's gpu-lets as specs; plan device d is server device ok[d]; predictions from prof, in
 * which model i is row pm[i]. */
static int plan_specs(const gl_sched_plan_t *p, gl_smodel_t **ms, gl_sctl_spec_t *sp, const int *ok, const gl_profile_t *prof,
                      const int *pm) {
  int n = 0;
  for (int d = 0; d < p->n_devices; d++)
  for (int l = 0; l < p->dev[d].n_lets && n < GL_SERVE_MAX_LETS; l++) {
    const gl_sched_let_t *L = &p->dev[d].lets[l];
    if (!L->n_members) continue;
    gl_sctl_spec_t *x = &sp[n++];
    memset(x, 0, sizeof *x);
    x->dev = ok[d];
    x->units = L->units;
    x->duty_ms = L->duty_ms;
    x->occ = L->occupancy;
    x->n = L->n_members;
    for (int k = 0; k < L->n_members; k++) {
      gl_slet_spec_member_t *e = &x->m[k];
      int r = pm[L->m[k].model];
      e->m = ms[L->m[k].model];
      e->batch = L->m[k].batch;
      e->rate = L->m[k].rate;
      for (int b = 1; b <= GL_BATCH_MAX && b <= gl_profile_max_batch(prof); b++)
        e->pred_ms[b] = gl_profile_latency(prof, r, b, x->units, false) + gl_profile_batch_ms(prof, r, b);
    }
  }
  return n;
}

/* m's row in the fallback's profile (its profile_model, else its name; case, '_' and '-'
 * ignored), or -1. */
static int fb_row(const gl_profile_t *p, const gl_smodel_t *m) {
  const char *want = m->cfg.profile_model[0] ? m->cfg.profile_model : m->name;
  int r = gl_profile_find(p, want);
  for (int i = 0; r < 0 && i < p->n_models; i++) {
    const char *a = p->models[i].name, *b = want;
    for (;;) {
      while (*a == '_' || *a == '-') a++;
      while (*b == '_' || *b == '-') b++;
      if (!*a || !*b || tolower((unsigned char)*a) != tolower((unsigned char)*b)) break;
      a++, b++;
    }
    if (!*a && !*b) r = i;
  }
  return r;
}

/* The fallback planned with its own profile; false (nothing planned) when a model is not in it
 * or the plan is infeasible. */
static bool plan_fallback(gl_server_t *s, const gl_sched_input_t *in0, gl_smodel_t **ms, int nm, const int *okd, int n_ok,
                          gl_sctl_spec_t *sp, int *n_sp) {
  const gl_profile_t *fb = s->ctl.fb_prof;
  if (!fb || nm == 0) return false;
  static gl_sched_model_t fm[GL_SERVE_MAX_MODELS];
  int pm[GL_SERVE_MAX_MODELS];
  for (int i = 0; i < nm; i++) {
    fm[i] = in0->models[i];
    if ((pm[i] = fm[i].pm = fb_row(fb, ms[i])) < 0) return false;
    fm[i].mem_mb = fb->models[pm[i]].mem_mb;
  }
  gl_sched_input_t in;
  gl_sched_input_defaults(&in, fb);
  in.n_devices = n_ok;
  in.n_models = nm;
  in.models = fm;
  in.ctx_mb = 0;
  if (in.max_batch > in0->max_batch) in.max_batch = in0->max_batch;
  gl_sched_plan_t p;
  bool ok = gl_sched_plan(s->o.policy, &in, &p) == GL_OK && p.feasible && all_placed(&p, nm);
  if (ok) *n_sp = plan_specs(&p, ms, sp, okd, fb, pm);
  gl_sched_plan_fini(&p);
  return ok;
}

static void fill_pred(gl_server_t *s, gl_sctl_spec_t *sp, int n) {
  const gl_profile_t *prof = s->ctl.prof;
  for (int i = 0; i < n; i++) {
    /* the fallback (the CPU under the GPUs' profile; its own units): the
     * model's load-time measurement, batch b on u cores guessed as lat1 (0.4 + 0.6 b) / u^0.7 */
    bool guess = s->devs[sp[i].dev].fallback;
    for (int k = 0; k < sp[i].n; k++)
      for (int b = 1; b <= GL_BATCH_MAX && b <= gl_profile_max_batch(prof); b++)
        sp[i].m[k].pred_ms[b] = guess ? sp[i].m[k].m->lat1_ms * (0.4 + 0.6 * b) / pow(sp[i].units, 0.7)
                                      : gl_profile_latency(prof, sp[i].m[k].m->pm, b, sp[i].units, false);
  }
}

/* The devices to plan on: the primaries not failed; when none is left, the fallbacks not failed.
 * Returns the count; *mask has a bit per device chosen. */
static int ok_devices(gl_server_t *s, int *ok, unsigned *mask) {
  int n = 0;
  *mask = 0;
  for (int pass = 0; pass < 2 && n == 0; pass++)
    for (int i = 0; i < s->n_devs; i++)
      if (s->devs[i].fallback == (pass == 1) && !atomic_load(&s->devs[i].sd.failed)) {
        ok[n++] = i;
        *mask |= 1u << i;
      }
  return n;
}

static int reason_idx(const char *reason) {
  for (int i = 0; i < GL_REASON_N; i++)
    if (!strcmp(gl_serve_reasons[i], reason)) return i;
  return GL_REASON_REQUEST;
}

/* One epoch. force: a full plan whatever the rates did; else incremental over the models whose
 * target moved past the triggers, and nothing at all when none did and the profile is unchanged. */
static void replan(gl_server_t *s, const char *reason, bool force, bool rebuild) {
  gl_sctl_t *c = &s->ctl;
  reason = gl_serve_reasons[reason_idx(reason)];
  pthread_mutex_lock(&c->replan_mu);
  gl_smodel_t *ms[GL_SERVE_MAX_MODELS];
  int nm = snapshot_models(s, ms);
  gl_sched_model_t sm[GL_SERVE_MAX_MODELS];
  bool changed[GL_SERVE_MAX_MODELS] = {0};
  int okd[GL_SERVE_MAX_DEVS];
  unsigned mask;
  int n_ok = ok_devices(s, okd, &mask);
  bool on_fallback = n_ok > 0 && s->devs[okd[0]].fallback;
  bool build_failed = false;
  bool any = false, same_set = c->have_plan && nm == c->n_plan_models && mask == c->plan_dev_mask;
  for (int i = 0; i < nm; i++) {
    gl_smodel_t *m = ms[i];
    double r = observed_rate(s, m), tgt = target_of(r);
    pthread_mutex_lock(&m->mu);
    m->rate_observed = r;
    m->rate_target = tgt;
    pthread_mutex_unlock(&m->mu);
    changed[i] = m->planned_target <= 0 || gl_sched_replan_trigger(m->planned_target, tgt) != 0;
    any |= changed[i];
    if (same_set && c->plan_uid[i] != m->uid) same_set = false;
  }
  bool policy_none = !strcmp(s->o.policy, "none");
  pthread_mutex_lock(&c->prof_mu);
  bool dirty = c->prof_dirty;
  if (!force && !rebuild && same_set && (!any || policy_none) && !dirty) {
    pthread_mutex_unlock(&c->prof_mu);
    goto out;
  }
  if (!same_set || dirty) force = true;
  static gl_sctl_spec_t sp[GL_SERVE_MAX_LETS];
  int n_sp = 0;
  bool feasible = true, inc = false, have_new = false;
  char why[256] = "";
  gl_sched_plan_t plan = {0};
  int64_t t0 = gl_now_ns();
  for (int i = 0; i < nm; i++) {
    gl_smodel_t *m = ms[i];
    snprintf(sm[i].name, sizeof sm[i].name, "%.47s", m->name);
    sm[i].pm = m->pm;
    sm[i].slo_ms = m->cfg.slo_ms;
    sm[i].pct = m->cfg.slo_percentile;
    /* unchanged models keep their planned target in an incremental re-plan (as the simulator) */
    sm[i].rate = !force && !changed[i] && m->planned_target > 0 ? m->planned_target : m->rate_target;
    sm[i].mem_mb = c->prof->models[m->pm].mem_mb;
  }
  gl_sched_input_t in;
  gl_sched_input_defaults(&in, c->prof);
  in.n_devices = n_ok > 0 ? n_ok : 1;
  in.n_models = nm;
  in.models = sm;
  if (n_ok == 0 || strcmp(s->devs[okd[0]].kind, "cuda")) in.ctx_mb = 0; /* no per-context memory on a CPU */
  int mb = 1;
  for (int i = 0; i < nm; i++)
    if (ms[i]->cfg.max_batch > mb) mb = ms[i]->cfg.max_batch;
  if (in.max_batch > mb) in.max_batch = mb;
  if (n_ok == 0) {
    feasible = false;
    snprintf(why, sizeof why, "every device failed: nothing serves");
    n_sp = 0;
  } else if (on_fallback && !policy_none && plan_fallback(s, &in, ms, nm, okd, n_ok, sp, &n_sp)) {
    /* the fallback (the CPU after every GPU failed), planned with its own profile */
    snprintf(why, sizeof why, "degraded: every GPU failed; the CPU fallback serves a plan from its profile (%.100s)", c->fb_src);
  } else if (policy_none || nm == 0 || on_fallback) {
    /* the fallback without a plan (models its profile lacks, or too much load): a static split */
    if (on_fallback) snprintf(why, sizeof why, "degraded: every GPU failed; the CPU fallback serves a static split");
    n_sp = static_specs(s, ms, nm, sp, okd, n_ok);
    fill_pred(s, sp, n_sp);
  } else {
    gl_status_t st = force || !c->have_plan ? gl_sched_plan(s->o.policy, &in, &plan)
                                            : gl_sched_replan(s->o.policy, &in, &c->plan, changed, &plan, &inc);
    if (st) {
      feasible = false;
      snprintf(why, sizeof why, "planner error: %s", gl_errmsg());
    } else if (!plan.feasible || !all_placed(&plan, nm)) {
      feasible = false;
      snprintf(why, sizeof why, "%s", plan.feasible ? "a model got no gpu-let" : plan.why);
      gl_sched_plan_fini(&plan);
      /* best effort 1: models that cannot meet their SLO even alone are planned with a relaxed
       * one (they are rejected early or served late anyway), so the others keep a real plan */
      bool relaxed = false;
      for (int i = 0; i < nm; i++) {
        gl_sched_input_t one = in;
        gl_sched_model_t m1 = sm[i];
        m1.rate = target_of(MIN_RATE);
        one.models = &m1;
        one.n_models = 1;
        gl_sched_plan_t p1;
        if (gl_sched_plan(s->o.policy, &one, &p1) == GL_OK && !p1.feasible) {
          sm[i].slo_ms = 1e5;
          relaxed = true;
          size_t l = strlen(why);
          snprintf(why + l, sizeof why - l, "; %.40s cannot meet its SLO even alone: planned with a relaxed one", sm[i].name);
        }
        gl_sched_plan_fini(&p1);
      }
      if (relaxed) {
        if (gl_sched_plan(s->o.policy, &in, &plan) == GL_OK && plan.feasible && all_placed(&plan, nm)) have_new = true;
        else gl_sched_plan_fini(&plan);
      }
      /* best effort 2: the policy's plan at lower rates */
      double scale = 1;
      for (int k = 0; k < 8 && !have_new; k++) {
        scale *= 0.6;
        for (int i = 0; i < nm; i++) sm[i].rate = ms[i]->rate_target * scale;
        if (gl_sched_plan(s->o.policy, &in, &plan) == GL_OK && plan.feasible && all_placed(&plan, nm)) have_new = true;
        else gl_sched_plan_fini(&plan);
      }
      if (have_new && scale < 1) {
        size_t l = strlen(why);
        snprintf(why + l, sizeof why - l, "; serving the plan for %.0f%% of the rates", scale * 100);
      }
    } else {
      have_new = true;
    }
    if (have_new) {
      int pm[GL_SERVE_MAX_MODELS];
      for (int i = 0; i < nm; i++) pm[i] = ms[i]->pm;
      n_sp = plan_specs(&plan, ms, sp, okd, c->prof, pm);
    } else if (same_set && !rebuild) {
      size_t l = strlen(why);
      snprintf(why + l, sizeof why - l, "; keeping the previous plan");
      n_sp = -1;
    } else {
      size_t l = strlen(why);
      if (time_shares(s->o.policy) && nm <= GL_PLAN_MAX_MEMBERS && n_ok == 1) {
        snprintf(why + l, sizeof why - l, "; serving every model on one gpu-let of all cores (time-sharing)");
        n_sp = whole_specs(s, ms, nm, sp, okd[0]);
      } else {
        snprintf(why + l, sizeof why - l, "; serving a static split (one gpu-let per model)");
        n_sp = static_specs(s, ms, nm, sp, okd, n_ok);
      }
      fill_pred(s, sp, n_sp);
    }
  }
  int64_t t1 = gl_now_ns();
  c->prof_dirty = false;
  for (int i = 0; i < c->cells_cap; i++) c->calib_plan[i] = c->calib[i];
  pthread_mutex_unlock(&c->prof_mu);
  gl_sctl_reorg_t r = {0};
  gl_status_t st = GL_OK;
  if (n_sp >= 0) {
    st = gl_sctl_reorganize(s, sp, n_sp, ms, nm, rebuild, &r);
    build_failed = st != GL_OK;
    if (st) {
      feasible = false;
      snprintf(why, sizeof why, "gpu-lets not built, previous plan kept: %s", gl_errmsg());
      if (!s->o.quiet) fprintf(stderr, "gpulet serve: re-plan (%s): %s\n", reason, why);
    }
  }
  if (!st && n_sp >= 0) {
    c->plan_dev_mask = mask;
    if (c->have_plan) gl_sched_plan_fini(&c->plan);
    c->have_plan = have_new;
    if (have_new) c->plan = plan;
    else memset(&c->plan, 0, sizeof c->plan);
    c->n_plan_models = nm;
    for (int i = 0; i < nm; i++) {
      c->plan_uid[i] = ms[i]->uid;
      pthread_mutex_lock(&ms[i]->mu);
      if (force || changed[i] || ms[i]->planned_target <= 0) ms[i]->planned_target = ms[i]->rate_target;
      pthread_mutex_unlock(&ms[i]->mu);
    }
  } else if (have_new) {
    gl_sched_plan_fini(&plan);
  }
  pthread_mutex_lock(&c->mu);
  c->epoch++;
  c->decision_ms = gl_ns_to_ms(t1 - t0);
  c->feasible = feasible;
  snprintf(c->why, sizeof c->why, "%s", why);
  c->replans[reason_idx(reason)]++;
  gl_shist_t *h = &c->hist[c->n_hist % GL_SERVE_HISTORY];
  c->n_hist++;
  *h = (gl_shist_t){.epoch = c->epoch, .t_s = now_s(s), .incremental = inc, .feasible = feasible,
                    .switched = !st && n_sp >= 0, .built = r.built, .kept = r.kept, .reconf = r.reconf, .retired = r.retired,
                    .decision_ms = c->decision_ms, .build_ms = r.build_ms, .switch_ms = r.switch_ms};
  snprintf(h->reason, sizeof h->reason, "%s", reason);
  double recover_ms = -1;
  if (!st && n_sp >= 0 && c->fault_ns) {
    /* serving on the remaining devices: the new gpu-lets pull from the queues now */
    recover_ms = c->recover_ms = gl_ns_to_ms(gl_now_ns() - c->fault_ns);
    c->fault_ns = 0;
  }
  pthread_mutex_unlock(&c->mu);
  if (recover_ms >= 0 && !s->o.quiet)
    fprintf(stderr, "gpulet serve: serving on %d device(s)%s %.1f ms after the device failure\n", n_ok,
            on_fallback ? " (the CPU fallback: degraded)" : "", recover_ms);
  if (!s->o.quiet)
    fprintf(stderr, "gpulet serve: epoch %d (%s): %d gpu-lets built, %d kept, %d reconfigured, %d retired; decision %.2f ms, switch %.1f ms%s%s\n",
            c->epoch, reason, r.built, r.kept, r.reconf, r.retired, c->decision_ms, r.switch_ms, feasible ? (why[0] ? "; " : "") : "; infeasible: ", why);
out:
  for (int i = 0; i < nm; i++) gl_smodel_unref(ms[i]);
  /* a device failed while the new gpu-lets were built: plan again without it */
  unsigned mask2;
  int okd2[GL_SERVE_MAX_DEVS];
  bool again = build_failed && (ok_devices(s, okd2, &mask2), mask2 != mask);
  pthread_mutex_unlock(&c->replan_mu);
  if (again) replan(s, "fault", true, false);
}

void gl_sctl_device_failed(void *server, int dev, const char *why) {
  gl_server_t *s = server;
  gl_sctl_t *c = &s->ctl;
  gl_sdev_t *d = &s->devs[dev];
  bool degraded;
  int left = gl_serve_devices_ok(s, &degraded);
  pthread_mutex_lock(&c->mu);
  snprintf(d->why, sizeof d->why, "%s", why);
  d->failed_at_s = now_s(s);
  c->dev_failures++;
  if (!c->fault_ns) c->fault_ns = gl_now_ns();
  /* re-plan at once onto the remaining devices */
  c->req_seq++;
  snprintf(c->req_reason, sizeof c->req_reason, "fault");
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  fprintf(stderr, "gpulet serve: device %d (%s) failed: %s; re-planning onto %d remaining device(s)\n", dev, d->name, why, left);
}

/* ---- the control thread ---- */

static double tick_s(const gl_server_t *s) {
  double t = s->o.rate_window_s / 4;
  return t > 1 ? 1 : t < 0.05 ? 0.05 : t;
}

/* Feeds the arrivals since the last tick to each model's estimator; 1 when some model's target
 * crossed a trigger, 2 when one more than doubled its planned target (an overload that does not
 * wait for the epoch), 0 otherwise. */
static int rates_tick(gl_server_t *s) {
  gl_smodel_t *ms[GL_SERVE_MAX_MODELS];
  int nm = snapshot_models(s, ms);
  int fire = 0;
  double t = now_s(s);
  for (int i = 0; i < nm; i++) {
    gl_smodel_t *m = ms[i];
    long long a = atomic_load(&m->arrivals);
    gl_rate_observe(&m->est, t, a - m->seen);
    m->seen = a;
    double r = observed_rate(s, m), tgt = target_of(r);
    pthread_mutex_lock(&m->mu);
    m->rate_observed = r;
    m->rate_target = tgt;
    int f = m->planned_target > 0 && gl_sched_replan_trigger(m->planned_target, tgt) != 0;
    if (f && tgt > 2 * m->planned_target) f = 2;
    pthread_mutex_unlock(&m->mu);
    if (f > fire) fire = f;
  }
  for (int i = 0; i < nm; i++) gl_smodel_unref(ms[i]);
  return strcmp(s->o.policy, "none") ? fire : 0;
}

static bool any_drift(gl_server_t *s) {
  gl_sctl_t *c = &s->ctl;
  bool d = false;
  pthread_mutex_lock(&c->mu);
  for (int i = 0; i < c->n_lets; i++) d |= atomic_exchange(&c->lets[i]->drifted, false);
  pthread_mutex_unlock(&c->mu);
  return d;
}

static bool any_fault(gl_server_t *s) {
  gl_sctl_t *c = &s->ctl;
  static _Thread_local long long seen;
  long long n = 0;
  pthread_mutex_lock(&c->mu);
  for (int i = 0; i < c->n_lets; i++) n += atomic_load(&c->lets[i]->faults);
  pthread_mutex_unlock(&c->mu);
  bool f = n > seen;
  seen = n;
  return f;
}

static void *ctl_main(void *arg) {
  gl_server_t *s = arg;
  gl_sctl_t *c = &s->ctl;
  int64_t tick = (int64_t)(tick_s(s) * 1e9), period = (int64_t)(s->o.replan_period_s * 1e9);
  int64_t next_tick = gl_now_ns() + tick, next_period = gl_now_ns() + period;
  pthread_mutex_lock(&c->mu);
  while (!c->stop) {
    if (c->req_seq == c->done_seq) {
      int64_t w = next_tick < next_period ? next_tick : next_period;
      struct timespec ts = {w / 1000000000LL, w % 1000000000LL};
      pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    if (c->stop) break;
    uint64_t seq = c->req_seq;
    bool rebuild = c->req_rebuild;
    c->req_rebuild = false;
    char reason[16];
    snprintf(reason, sizeof reason, "%s", c->req_reason);
    pthread_mutex_unlock(&c->mu);
    int64_t now = gl_now_ns();
    if (seq != c->done_seq) {
      replan(s, reason, true, rebuild);
      pthread_mutex_lock(&c->mu);
      c->done_seq = seq;
      pthread_cond_broadcast(&c->done_cv);
      int w = 0;
      for (int i = 0; i < c->n_waiters; i++) {
        if (c->waiters[i].seq > seq) {
          c->waiters[w++] = c->waiters[i];
          continue;
        }
        void (*cb)(void *) = c->waiters[i].cb;
        void *a = c->waiters[i].arg;
        pthread_mutex_unlock(&c->mu);
        cb(a);
        pthread_mutex_lock(&c->mu);
      }
      c->n_waiters = w;
      continue;
    }
    if (now >= next_tick) {
      next_tick = now + tick;
#ifdef GL_FAULT_INJECT
      /* GPULET_FAULT_DEVICE on a device that ran no batch since its time came (a running batch
       * fails it first, in let.c) */
      for (int i = 0; i < s->n_devs; i++) {
        gl_slet_dev_t *sd = &s->devs[i].sd;
        if (sd->fault_at_ns && now >= sd->fault_at_ns + 250000000LL && !atomic_exchange(&sd->failed, true))
          gl_sctl_device_failed(s, i, "injected device fault (GPULET_FAULT_DEVICE)");
      }
#endif
      int fire = rates_tick(s);
      bool epoch_due = now >= next_period;
      if (epoch_due) next_period = now + period;
      /* as the simulator's epochs: rate triggers, drift and the profile are acted on every
       * --replan-period (so a huge period means one plan); only faults and an overload that more
       * than doubles a model's target act between epochs */
      if (any_fault(s)) {
        /* the gpu-let rebuilt its plans itself; the epoch is recorded so that it shows */
        replan(s, "fault", true, false);
      } else if (fire == 2 || (fire && epoch_due)) {
        replan(s, "rate", false, false);
      } else if (epoch_due && any_drift(s) && strcmp(s->o.policy, "none")) {
        replan(s, "drift", true, false);
      } else if (epoch_due) {
        replan(s, "period", false, false); /* acts only when the live profile moved */
      }
    }
    pthread_mutex_lock(&c->mu);
  }
  /* stopping: whoever still waits gets the plan as it is */
  for (int i = 0; i < c->n_waiters; i++) {
    pthread_mutex_unlock(&c->mu);
    c->waiters[i].cb(c->waiters[i].arg);
    pthread_mutex_lock(&c->mu);
  }
  c->n_waiters = 0;
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

void gl_sctl_replan_wait(gl_server_t *s, const char *reason, bool rebuild) {
  gl_sctl_t *c = &s->ctl;
  if (!c->started) {
    replan(s, reason, true, rebuild);
    return;
  }
  pthread_mutex_lock(&c->mu);
  uint64_t seq = ++c->req_seq;
  c->req_rebuild |= rebuild;
  snprintf(c->req_reason, sizeof c->req_reason, "%s", reason);
  pthread_cond_signal(&c->cv);
  while (c->done_seq < seq && !c->stop) pthread_cond_wait(&c->done_cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
}

bool gl_sctl_replan_async(gl_server_t *s, const char *reason, bool rebuild, void (*cb)(void *), void *arg) {
  gl_sctl_t *c = &s->ctl;
  pthread_mutex_lock(&c->mu);
  bool ok = c->started && !c->stop && c->n_waiters < (int)(sizeof c->waiters / sizeof c->waiters[0]);
  if (ok) {
    uint64_t seq = ++c->req_seq;
    c->req_rebuild |= rebuild;
    snprintf(c->req_reason, sizeof c->req_reason, "%s", reason);
    c->waiters[c->n_waiters].seq = seq;
    c->waiters[c->n_waiters].cb = cb;
    c->waiters[c->n_waiters].arg = arg;
    c->n_waiters++;
    pthread_cond_signal(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
  return ok;
}

gl_status_t gl_sctl_init(gl_server_t *s) {
  gl_sctl_t *c = &s->ctl;
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->replan_mu, NULL);
  pthread_mutex_init(&c->prof_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&c->done_cv, NULL);
  c->inited = true;
  c->feasible = true;
#ifdef GL_FAULT_INJECT
  if (getenv("GPULET_FAULT_INJECT"))
    fprintf(stderr, "gpulet serve: fault injection armed: GPULET_FAULT_INJECT=%s\n", getenv("GPULET_FAULT_INJECT"));
#endif
  const char *path = s->o.profile;
  char def[4200];
  struct stat sb;
  bool gpu = s->n_devs > 0 && !strcmp(s->devs[0].kind, "cuda");
  if (!path && !gpu) {
    /* <cache>/profile-cpu.json: the folder above the default model repository */
    snprintf(def, sizeof def, "%s", s->o.cache_dir ? s->o.cache_dir : "");
    if (!def[0]) {
      const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
      if (x && x[0]) snprintf(def, sizeof def, "%s/gpulet/profile-cpu.json", x);
      else snprintf(def, sizeof def, "%s/.cache/gpulet/profile-cpu.json", h && h[0] ? h : "/tmp");
    } else {
      size_t l = strlen(def);
      snprintf(def + l, sizeof def - l, "/../profile-cpu.json");
    }
    if (!stat(def, &sb)) path = def;
  }
  gl_status_t st;
  if (path) {
    if ((st = gl_profile_load(path, &c->prof))) return gl_err_wrap(st, "--profile");
    snprintf(c->prof_src, sizeof c->prof_src, "%.150s", path);
    if (strcmp(c->prof->kind, gpu ? "cuda" : "cpu") && !s->o.quiet)
      fprintf(stderr, "gpulet serve: warning: profile %s is for a '%s' device; planning the %s with it\n", path, c->prof->kind,
              gpu ? "GPUs" : "CPU");
  } else if (gpu) {
    if ((st = gl_profile_analytic("h100", &c->prof))) return st;
    snprintf(c->prof_src, sizeof c->prof_src, "analytic h100 profile");
    if (!s->o.quiet) fprintf(stderr, "gpulet serve: no --profile for the GPUs: planning with the analytic h100 profile\n");
  } else {
    if ((st = gl_profile_analytic("cpu", &c->prof))) return st;
    snprintf(c->prof_src, sizeof c->prof_src, "analytic cpu profile");
  }
  /* the fallback's own profile: the CPU's (<cache>/profile-cpu.json, else analytic) */
  for (int i = 0; i < s->n_devs && !c->fb_prof; i++) {
    if (!s->devs[i].fallback) continue;
    char fbp[4200];
    snprintf(fbp, sizeof fbp, "%s", s->o.cache_dir ? s->o.cache_dir : "");
    if (!fbp[0]) {
      const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
      if (x && x[0]) snprintf(fbp, sizeof fbp, "%s/gpulet/profile-cpu.json", x);
      else snprintf(fbp, sizeof fbp, "%s/.cache/gpulet/profile-cpu.json", h && h[0] ? h : "/tmp");
    } else {
      size_t l = strlen(fbp);
      snprintf(fbp + l, sizeof fbp - l, "/../profile-cpu.json");
    }
    if (!stat(fbp, &sb) && !gl_profile_load(fbp, &c->fb_prof)) snprintf(c->fb_src, sizeof c->fb_src, "%.150s", fbp);
    else if ((st = gl_profile_analytic("cpu", &c->fb_prof))) return st;
    else snprintf(c->fb_src, sizeof c->fb_src, "analytic cpu profile");
    if (c->fb_prof->total_units > s->devs[i].units) c->fb_prof->total_units = s->devs[i].units;
  }
  /* cpu:N: the planner's device is one slice of the cores */
  if (s->n_devs > 1 && !gpu && c->prof->total_units > s->devs[0].units) {
    c->prof_units_saved = c->prof->total_units;
    c->prof->total_units = s->devs[0].units;
  }
  pthread_mutex_lock(&c->prof_mu);
  st = gl_sctl_cells_fit(c);
  pthread_mutex_unlock(&c->prof_mu);
  return st;
}

gl_status_t gl_sctl_start(gl_server_t *s) {
  gl_sctl_t *c = &s->ctl;
  replan(s, "load", true, false);
  if (pthread_create(&c->thread, NULL, ctl_main, s)) return gl_err(GL_ENOMEM, "cannot start the control thread");
  c->started = true;
  return GL_OK;
}

void gl_sctl_stop(gl_server_t *s) {
  gl_sctl_t *c = &s->ctl;
  if (c->started) {
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_cond_broadcast(&c->done_cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    c->started = false;
  }
}

void gl_sctl_fini(gl_server_t *s) {
  gl_sctl_t *c = &s->ctl;
  gl_sctl_stop(s);
  for (int i = 0; i < c->n_lets; i++) {
    gl_slet_t *l = c->lets[i];
    for (int k = 0; k < l->n_members; k++) {
      gl_smodel_t *m = l->mem[k].m;
      pthread_mutex_lock(&m->mu);
      m->n_lets = 0;
      pthread_mutex_unlock(&m->mu);
    }
  }
  for (int i = 0; i < c->n_lets; i++) gl_slet_destroy(c->lets[i]);
  c->n_lets = 0;
  if (c->have_plan) gl_sched_plan_fini(&c->plan);
  c->have_plan = false;
  if (c->prof && c->prof_units_saved) c->prof->total_units = c->prof_units_saved;
  if (c->prof && s->o.save_profile) {
    snprintf(c->prof->who, sizeof c->prof->who, "gpulet serve (refined by %lld batches)", c->prof_updates);
    if (gl_profile_save(c->prof, s->o.save_profile)) fprintf(stderr, "gpulet serve: --save-profile: %s\n", gl_errmsg());
    else if (!s->o.quiet) fprintf(stderr, "gpulet serve: refined profile written to %s\n", s->o.save_profile);
  }
  gl_profile_destroy(c->prof);
  c->prof = NULL;
  gl_profile_destroy(c->fb_prof);
  c->fb_prof = NULL;
  gl_free(c->cell_ewma);
  gl_free(c->cell_n);
  gl_free(c->cell_orig);
  gl_free(c->cell_solo);
  gl_free(c->cell_solo_n);
  c->cell_solo = NULL;
  c->cell_solo_n = NULL;
  gl_free(c->calib);
  gl_free(c->calib_plan);
  c->cell_orig = c->calib = c->calib_plan = NULL;
  c->cell_ewma = NULL;
  c->cell_n = NULL;
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->replan_mu);
  pthread_mutex_destroy(&c->prof_mu);
  pthread_cond_destroy(&c->cv);
  pthread_cond_destroy(&c->done_cv);
  c->inited = false;
}
