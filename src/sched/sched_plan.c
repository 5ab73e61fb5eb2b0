/* sched/sched_plan.c - policy dispatch, the plan object, its JSON, table and diff. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/sched_int.h"

const char *const gl_sched_policies[] = {"gpulet", "gpulet-int", "sbp", "triton", "static", "bound", "fine", NULL};

gl_status_t gl__plan_init(gl_sched_plan_t *p, const gl_sched_input_t *in, const char *policy) {
  memset(p, 0, sizeof *p);
  snprintf(p->policy, sizeof p->policy, "%s", policy);
  p->n_devices = in->n_devices;
  p->n_models = in->n_models;
  p->total_units = in->prof->total_units;
  p->dev = gl_calloc((size_t)in->n_devices, sizeof *p->dev);
  p->served = gl_calloc((size_t)(in->n_models ? in->n_models : 1), sizeof *p->served);
  if (!p->dev || !p->served) {
    gl_sched_plan_fini(p);
    return gl_err(GL_ENOMEM, "plan for %d devices: out of memory", in->n_devices);
  }
  p->feasible = true;
  return GL_OK;
}

void gl_sched_plan_fini(gl_sched_plan_t *p) {
  gl_free(p->dev);
  gl_free(p->served);
  p->dev = NULL;
  p->served = NULL;
}

int gl__fail(gl_sched_plan_t *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->why, sizeof p->why, fmt, ap);
  va_end(ap);
  p->feasible = false;
  return 0;
}

void gl__plan_tally(gl_sched_plan_t *p) {
  for (int i = 0; i < p->n_models; i++) p->served[i] = 0;
  p->devices_used = 0;
  for (int d = 0; d < p->n_devices; d++) {
    bool used = false;
    for (int l = 0; l < p->dev[d].n_lets; l++)
      for (int k = 0; k < p->dev[d].lets[l].n_members; k++) {
        p->served[p->dev[d].lets[l].m[k].model] += p->dev[d].lets[l].m[k].rate;
        used = true;
      }
    p->devices_used += used;
  }
}

double gl__device_mem(const gl_sched_plan_t *p, const gl_sched_input_t *in, int d) {
  double mem = 0;
  for (int l = 0; l < p->dev[d].n_lets; l++) {
    const gl_sched_let_t *L = &p->dev[d].lets[l];
    if (L->n_members) mem += in->ctx_mb;
    for (int k = 0; k < L->n_members; k++) mem += in->models[L->m[k].model].mem_mb;
  }
  return mem;
}

gl_status_t gl_sched_plan(const char *policy, const gl_sched_input_t *in, gl_sched_plan_t *out) {
  memset(out, 0, sizeof *out);
  if (!in->prof || in->n_devices < 1 || in->n_models < 1)
    return gl_err(GL_EINVAL, "plan needs a profile, at least one device and one model");
  if (in->max_batch < 1 || in->max_batch > gl_profile_max_batch(in->prof))
    return gl_err(GL_EINVAL, "max batch %d outside the profile's 1..%d", in->max_batch, gl_profile_max_batch(in->prof));
  for (int i = 0; i < in->n_models; i++) {
    const gl_sched_model_t *m = &in->models[i];
    if (m->pm < 0 || m->pm >= in->prof->n_models)
      return gl_err(GL_EINVAL, "model '%s' is not in the profile", m->name);
    if (!(m->slo_ms > 0) || !(m->rate >= 0))
      return gl_err(GL_EINVAL, "model '%s': SLO must be > 0 and rate >= 0", m->name);
  }
  GL_TRY(gl__plan_init(out, in, policy));
  gl_status_t st;
  if (!strcmp(policy, "gpulet")) st = gl__policy_gpulet(in, out, false);
  else if (!strcmp(policy, "gpulet-int")) st = gl__policy_gpulet(in, out, true);
  else if (!strcmp(policy, "sbp")) st = gl__policy_sbp(in, out);
  else if (!strcmp(policy, "triton")) st = gl__policy_triton(in, out);
  else if (!strcmp(policy, "static")) st = gl__policy_static(in, out);
  else if (!strcmp(policy, "bound")) st = gl__policy_bound(in, out);
  else if (!strcmp(policy, "fine")) st = gl__policy_fine(in, out);
  else st = gl_err(GL_ENOTFOUND, "unknown policy '%s' (gpulet, gpulet-int, sbp, triton, static, bound, fine)", policy);
  if (st < 0) gl_sched_plan_fini(out);
  else if (strcmp(policy, "bound")) gl__plan_tally(out);
  return st;
}

gl_status_t gl_sched_plan_copy(const gl_sched_plan_t *src, gl_sched_plan_t *out) {
  memset(out, 0, sizeof *out);
  *out = *src;
  out->dev = gl_calloc((size_t)(src->n_devices ? src->n_devices : 1), sizeof *out->dev);
  out->served = gl_calloc((size_t)(src->n_models ? src->n_models : 1), sizeof *out->served);
  if (!out->dev || !out->served) {
    gl_sched_plan_fini(out);
    return gl_err(GL_ENOMEM, "plan copy: out of memory");
  }
  memcpy(out->dev, src->dev, (size_t)src->n_devices * sizeof *out->dev);
  memcpy(out->served, src->served, (size_t)src->n_models * sizeof *out->served);
  return GL_OK;
}

static bool same_let(const gl_sched_let_t *a, const gl_sched_let_t *b);

/* Generic incremental form: the changed models planned alone by `policy` on the devices that no
 * kept gpu-let occupies, mapped back into a copy of the kept layout. */
static gl_status_t replan_free_devices(const char *policy, const gl_sched_input_t *in, const bool *changed,
                                       gl_sched_plan_t *p) {
  int n = in->n_models, nc = 0, nf = 0;
  int *map = gl_calloc((size_t)n, sizeof *map), *fdev = gl_calloc((size_t)p->n_devices, sizeof *fdev);
  gl_sched_model_t *sub = gl_calloc((size_t)n, sizeof *sub);
  gl_status_t st = GL_OK;
  if (!map || !fdev || !sub) {
    st = gl_err(GL_ENOMEM, "re-plan: out of memory");
    goto out;
  }
  for (int i = 0; i < n; i++)
    if (changed[i] && in->models[i].rate > 0) map[nc] = i, sub[nc++] = in->models[i];
  for (int d = 0; d < p->n_devices; d++) {
    bool busy = false;
    for (int l = 0; l < p->dev[d].n_lets; l++) busy |= p->dev[d].lets[l].n_members > 0;
    if (!busy) fdev[nf++] = d;
  }
  if (!nc) goto out;
  if (!nf) {
    gl__fail(p, "incremental: no free device for the changed models");
    goto out;
  }
  gl_sched_input_t si = *in;
  si.models = sub, si.n_models = nc, si.n_devices = nf;
  gl_sched_plan_t q;
  if ((st = gl_sched_plan(policy, &si, &q)) < 0) goto out;
  if (!q.feasible) {
    gl__fail(p, "incremental: %s", q.why);
  } else {
    for (int j = 0; j < nf; j++) {
      gl_sched_device_t *D = &p->dev[fdev[j]];
      *D = q.dev[j];
      for (int l = 0; l < D->n_lets; l++)
        for (int k = 0; k < D->lets[l].n_members; k++) D->lets[l].m[k].model = map[D->lets[l].m[k].model];
    }
  }
  gl_sched_plan_fini(&q);
out:
  gl_free(map), gl_free(fdev), gl_free(sub);
  return st;
}

gl_status_t gl_sched_replan_incremental(const char *policy, const gl_sched_input_t *in, const gl_sched_plan_t *old,
                                        const bool *changed, gl_sched_plan_t *out) {
  memset(out, 0, sizeof *out);
  if (!old || old->n_devices != in->n_devices || old->n_models != in->n_models)
    return gl_err(GL_EINVAL, "incremental re-plan: the old plan has %d devices and %d models, the input %d and %d",
                  old ? old->n_devices : 0, old ? old->n_models : 0, in->n_devices, in->n_models);
  GL_TRY(gl__plan_init(out, in, policy));
  gl_status_t st = GL_OK;
  if (!strcmp(policy, "gpulet") || !strcmp(policy, "gpulet-int")) {
    st = gl__gpulet_incremental(in, old, changed, out, !strcmp(policy, "gpulet-int"));
  } else if (!strcmp(policy, "sbp") || !strcmp(policy, "fine") || !strcmp(policy, "static")) {
    /* keep the gpu-lets that serve only unchanged models; a shared one with a changed member is
     * dropped whole and its unchanged members are re-placed with the changed models */
    bool *ch = gl_calloc((size_t)in->n_models, sizeof *ch);
    if (!ch) {
      gl_sched_plan_fini(out);
      return gl_err(GL_ENOMEM, "re-plan: out of memory");
    }
    memcpy(ch, changed, (size_t)in->n_models * sizeof *ch);
    for (bool grew = true; grew;) { /* closure: sharing a gpu-let with a re-placed model */
      grew = false;
      for (int d = 0; d < old->n_devices; d++)
        for (int l = 0; l < old->dev[d].n_lets; l++) {
          const gl_sched_let_t *L = &old->dev[d].lets[l];
          bool any = false;
          for (int k = 0; k < L->n_members; k++) any |= ch[L->m[k].model];
          for (int k = 0; any && k < L->n_members; k++)
            if (!ch[L->m[k].model]) ch[L->m[k].model] = grew = true;
        }
    }
    for (int d = 0; d < old->n_devices; d++) {
      gl_sched_device_t *D = &out->dev[d];
      D->n_lets = 0;
      for (int l = 0; l < old->dev[d].n_lets; l++) {
        const gl_sched_let_t *L = &old->dev[d].lets[l];
        bool keep = L->n_members > 0;
        for (int k = 0; k < L->n_members; k++) keep &= !ch[L->m[k].model];
        if (keep) D->lets[D->n_lets++] = *L;
      }
    }
    st = replan_free_devices(policy, in, ch, out);
    gl_free(ch);
  } else {
    gl__fail(out, "incremental: policy %s re-plans in full only", policy);
  }
  if (st < 0) {
    gl_sched_plan_fini(out);
    return st;
  }
  gl__plan_tally(out);
  /* re-placing everything (every model changed, or shares a gpu-let with one) is a full re-plan */
  bool kept = false;
  for (int d = 0; d < old->n_devices && !kept; d++)
    for (int l = 0; l < old->dev[d].n_lets && !kept; l++)
      for (int k = 0; k < out->dev[d].n_lets && !kept; k++)
        kept = old->dev[d].lets[l].n_members && same_let(&old->dev[d].lets[l], &out->dev[d].lets[k]);
  if (out->feasible && !kept) gl__fail(out, "incremental: no gpu-let kept, so a full re-plan");
  return GL_OK;
}

gl_status_t gl_sched_replan(const char *policy, const gl_sched_input_t *in, const gl_sched_plan_t *old, const bool *changed,
                            gl_sched_plan_t *out, bool *incremental) {
  *incremental = false;
  if (old && old->feasible) {
    GL_TRY(gl_sched_replan_incremental(policy, in, old, changed, out));
    if (out->feasible) {
      *incremental = true;
      return GL_OK;
    }
    gl_sched_plan_fini(out);
  }
  return gl_sched_plan(policy, in, out);
}

int gl_sched_devices_needed(const char *policy, const gl_sched_input_t *in0, int max) {
  gl_sched_input_t in = *in0;
  if (!strcmp(policy, "bound")) {
    gl_sched_plan_t p;
    in.n_devices = 1;
    if (gl_sched_plan("bound", &in, &p) < 0) return -1;
    int n = p.devices_used;
    gl_sched_plan_fini(&p);
    return n <= max ? n : -1;
  }
  /* feasibility is nearly monotone in the device count: exponential probe, then bisect */
  int lo = 0, hi = 1;
  for (;;) {
    gl_sched_plan_t p;
    in.n_devices = hi;
    if (gl_sched_plan(policy, &in, &p) < 0) return -1;
    bool ok = p.feasible;
    gl_sched_plan_fini(&p);
    if (ok) break;
    lo = hi;
    if (hi >= max) return -1;
    hi = hi * 2 > max ? max : hi * 2;
  }
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    gl_sched_plan_t p;
    in.n_devices = mid;
    if (gl_sched_plan(policy, &in, &p) < 0) return -1;
    bool ok = p.feasible;
    gl_sched_plan_fini(&p);
    if (ok) hi = mid;
    else lo = mid;
  }
  return hi;
}

gl_status_t gl_sched_plan_write_json(const gl_sched_plan_t *p, const gl_sched_input_t *in, FILE *f) {
  json_t *root = json_object();
  json_object_set_new(root, "format", json_string("gpulet-plan"));
  json_object_set_new(root, "version", json_integer(1));
  json_object_set_new(root, "policy", json_string(p->policy));
  json_object_set_new(root, "device", json_string(in->prof->name));
  json_object_set_new(root, "unit", json_string(in->prof->unit));
  json_object_set_new(root, "total_units", json_integer(p->total_units));
  json_object_set_new(root, "feasible", json_boolean(p->feasible));
  if (!p->feasible) json_object_set_new(root, "why", json_string(p->why));
  json_object_set_new(root, "devices_used", json_integer(p->devices_used));
  json_t *models = json_array();
  for (int i = 0; i < p->n_models; i++)
    json_array_append_new(models, json_pack("{s:s,s:f,s:f,s:f}", "name", in->models[i].name, "slo_ms",
                                            in->models[i].slo_ms, "rate", in->models[i].rate, "served", p->served[i]));
  json_object_set_new(root, "models", models);
  json_t *devs = json_array();
  for (int d = 0; d < p->n_devices; d++) {
    json_t *lets = json_array();
    for (int l = 0; l < p->dev[d].n_lets; l++) {
      const gl_sched_let_t *L = &p->dev[d].lets[l];
      json_t *mem = json_array();
      for (int k = 0; k < L->n_members; k++) {
        const gl_sched_member_t *m = &L->m[k];
        json_array_append_new(mem, json_pack("{s:s,s:i,s:f,s:f,s:f,s:f}", "model", in->models[m->model].name, "batch",
                                             m->batch, "rate", m->rate, "max_rate", m->tput, "latency_ms", m->lat_ms,
                                             "alpha", m->alpha));
      }
      json_array_append_new(lets, json_pack("{s:i,s:f,s:b,s:f,s:f,s:o}", "units", L->units, "percent",
                                            100.0 * L->units / p->total_units, "saturated", L->saturated, "duty_ms",
                                            L->duty_ms, "occupancy", L->occupancy, "models", mem));
    }
    json_array_append_new(devs, json_pack("{s:i,s:o}", "device", d, "gpulets", lets));
  }
  json_object_set_new(root, "devices", devs);
  int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
  fputc('\n', f);
  json_decref(root);
  return rc ? gl_err(GL_EIO, "cannot write the plan") : GL_OK;
}

void gl_sched_plan_print(const gl_sched_plan_t *p, const gl_sched_input_t *in, FILE *f) {
  fprintf(f, "policy %s on %d x %s: %s, %d device(s) used\n", p->policy, p->n_devices, in->prof->name,
          p->feasible ? "feasible" : "INFEASIBLE", p->devices_used);
  if (!p->feasible) fprintf(f, "  why: %s\n", p->why);
  fprintf(f, "%-4s %-6s %-6s %-9s %-6s %-16s %-5s %-9s %-9s %-8s %-6s\n", "dev", "units", "pct", "duty_ms", "occ",
          "model", "batch", "rate", "max_rate", "lat_ms", "alpha");
  int shown = 0;
  for (int d = 0; d < p->n_devices; d++)
    for (int l = 0; l < p->dev[d].n_lets; l++) {
      const gl_sched_let_t *L = &p->dev[d].lets[l];
      if (!L->n_members) continue;
      if (shown++ > 200) continue;
      for (int k = 0; k < L->n_members; k++) {
        const gl_sched_member_t *m = &L->m[k];
        if (k == 0)
          fprintf(f, "%-4d %-6d %-6.1f %-9.2f %-6.2f ", d, L->units, 100.0 * L->units / p->total_units, L->duty_ms,
                  L->occupancy);
        else
          fprintf(f, "%-4s %-6s %-6s %-9s %-6s ", "", "", "", "", "");
        fprintf(f, "%-16s %-5d %-9.1f %-9.1f %-8.2f %-6.3f\n", in->models[m->model].name, m->batch, m->rate, m->tput,
                m->lat_ms, m->alpha);
      }
    }
  if (shown > 200) fprintf(f, "... %d more gpu-lets\n", shown - 200);
  for (int i = 0; i < p->n_models; i++)
    fprintf(f, "  %-16s rate %9.1f served %9.1f slo %6.1f ms\n", in->models[i].name, in->models[i].rate,
            p->served[i], in->models[i].slo_ms);
}

static bool same_let(const gl_sched_let_t *a, const gl_sched_let_t *b) {
  if (a->units != b->units || a->n_members != b->n_members) return false;
  for (int k = 0; k < a->n_members; k++)
    if (a->m[k].model != b->m[k].model || a->m[k].batch != b->m[k].batch) return false;
  return true;
}

int gl_sched_plan_diff(const gl_sched_plan_t *old, const gl_sched_plan_t *nw, const gl_sched_input_t *in, FILE *f) {
  int changes = 0, nd = old->n_devices > nw->n_devices ? old->n_devices : nw->n_devices;
  for (int d = 0; d < nd; d++) {
    const gl_sched_device_t *a = d < old->n_devices ? &old->dev[d] : NULL, *b = d < nw->n_devices ? &nw->dev[d] : NULL;
    for (int pass = 0; pass < 2; pass++) {
      const gl_sched_device_t *x = pass ? b : a, *y = pass ? a : b;
      if (!x) continue;
      for (int l = 0; l < x->n_lets; l++) {
        if (!x->lets[l].n_members) continue;
        bool found = false;
        for (int k = 0; y && k < y->n_lets && !found; k++) found = same_let(&x->lets[l], &y->lets[k]);
        if (found) continue;
        changes++;
        if (!f) continue;
        fprintf(f, "%s dev %d units %d:", pass ? "build" : "retire", d, x->lets[l].units);
        for (int k = 0; k < x->lets[l].n_members; k++)
          fprintf(f, " %s/b%d", in->models[x->lets[l].m[k].model].name, x->lets[l].m[k].batch);
        fputc('\n', f);
      }
    }
  }
  return changes;
}

/* ---- rate estimation (PAPER.md §9) ---- */
void gl_rate_init(gl_rate_est_t *r, double bucket_s, int window) {
  memset(r, 0, sizeof *r);
  r->bucket_s = bucket_s > 0 ? bucket_s : 1;
  r->window = window < 1 ? 1 : window >= GL_RATE_BUCKETS ? GL_RATE_BUCKETS - 1 : window;
}

void gl_rate_observe(gl_rate_est_t *r, double t_s, long long n) {
  long long b = (long long)floor(t_s / r->bucket_s);
  if (b < r->first_bucket) return;
  while (b - r->first_bucket >= GL_RATE_BUCKETS) {
    r->counts[r->first_bucket % GL_RATE_BUCKETS] = 0;
    r->first_bucket++;
  }
  r->counts[b % GL_RATE_BUCKETS] += n;
}

double gl_rate_max(const gl_rate_est_t *r, double t_s) {
  long long cur = (long long)floor(t_s / r->bucket_s);
  double mx = 0;
  for (long long b = cur - r->window; b < cur; b++) {
    if (b < r->first_bucket || b < 0 || b >= r->first_bucket + GL_RATE_BUCKETS) continue;
    double v = (double)r->counts[b % GL_RATE_BUCKETS] / r->bucket_s;
    if (v > mx) mx = v;
  }
  return mx;
}

double gl_sched_target_rate(double max_rate) { return max_rate * (max_rate < 125 ? 1.5 : 1.2); }

int gl_sched_replan_trigger(double old_t, double new_t) {
  /* both thresholds (the research's "> 5% or > 10 req/s" read as the larger of the two, so
   * Poisson noise does not re-plan big models every epoch) */
  if (new_t > old_t * 1.05 && new_t > old_t + 10) return 1;
  if (new_t < old_t * 0.9) return -1;
  return 0;
}
