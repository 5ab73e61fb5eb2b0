/* serve/plan_json.c - what the control loop reports: GET /v2/gpulet/plan (CONTRACTS.md §2: the
 * device, its gpu-lets with members, predicted and observed latencies, the models with their
 * rates, and the last re-plans) and the gpulet_* control-loop metrics. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/let.h"
#include "serve/serve_int.h"

static int size_of(const gl_slet_member_t *e) {
  const gl_smodel_t *m = e->m;
  if (m->cfg.max_batch <= 0) return 1;
  int s = 1;
  while (s < e->batch) s *= 2;
  if (s > e->batch) s = e->batch;
  return s;
}

static void num_or_null(gl_kv_buf_t *b, const char *key, double v) {
  if (v > 0 && isfinite(v)) gl_kv_buf_printf(b, ",\"%s\":%.3f", key, v);
  else gl_kv_buf_printf(b, ",\"%s\":null", key);
}

static void let_json(gl_kv_buf_t *b, gl_slet_t *l, int units_total, int64_t now) {
  gl_kv_buf_printf(b, "{\"id\":%d,\"units\":%d,\"planned_units\":%d,\"share\":%.4g,\"cpus\":[", l->id, l->grant.units, l->units,
                   (double)l->grant.units / units_total);
  for (int c = 0; c < l->grant.n_cpus; c++) gl_kv_buf_printf(b, "%s%d", c ? "," : "", l->grant.cpus[c]);
  int st = atomic_load(&l->state);
  double occ = 0;
  if (st == GL_SLET_SERVING && now > l->serving_since_ns)
    occ = (double)atomic_load(&l->busy_ns) / (double)(now - l->serving_since_ns);
  gl_kv_buf_printf(b, "],\"state\":\"%s\",\"duty_ms\":%.3f,\"occupancy\":%.3f,\"occupancy_planned\":%.3f,\"faults\":%d,\"members\":[",
                   gl_slet_state_name(st), l->duty_ms, occ, l->occupancy_plan, atomic_load(&l->faults));
  for (int k = 0; k < l->n_members; k++) {
    gl_slet_member_t *e = &l->mem[k];
    pthread_mutex_lock(&e->m->mu);
    double obs = e->obs_ms, rate = e->rate, pred = e->pred_ms[size_of(e)];
    long long nb = e->batches;
    pthread_mutex_unlock(&e->m->mu);
    gl_kv_buf_printf(b, "%s{\"model\":", k ? "," : "");
    gl_kv_buf_jstr(b, e->m->name);
    gl_kv_buf_printf(b, ",\"batch\":%d,\"rate\":%.2f", e->batch, rate);
    num_or_null(b, "predicted_ms", pred);
    num_or_null(b, "observed_ms", obs);
    gl_kv_buf_printf(b, ",\"batches\":%lld}", nb);
  }
  gl_kv_buf_put(b, "]}", 2);
}

void gl_sctl_plan_json(gl_server_t *s, gl_kv_buf_t *b) {
  gl_sctl_t *c = &s->ctl;
  int64_t now = gl_now_ns();
  bool degraded;
  int n_ok = gl_serve_devices_ok(s, &degraded);
  pthread_mutex_lock(&c->mu);
  gl_kv_buf_put(b, "{\"policy\":", 10);
  gl_kv_buf_jstr(b, s->o.policy);
  gl_kv_buf_printf(b, ",\"epoch\":%d,\"uptime_s\":%.2f,\"decision_ms\":%.3f,\"feasible\":%s,\"why\":", c->epoch,
                   gl_ns_to_ms(now - s->start_ns) / 1000, c->decision_ms, c->feasible ? "true" : "false");
  gl_kv_buf_jstr(b, c->why);
  gl_kv_buf_put(b, ",\"profile\":", 11);
  gl_kv_buf_jstr(b, c->prof_src);
  pthread_mutex_lock(&c->prof_mu); /* order: mu, then prof_mu */
  double ic[5];
  memcpy(ic, c->prof->icoef, sizeof ic);
  long long updates = c->prof_updates, fits = c->i_fits;
  int isamples = c->i_n;
  pthread_mutex_unlock(&c->prof_mu);
  gl_kv_buf_printf(b, ",\"profile_updates\":%lld,\"interference\":{\"samples\":%d,\"fits\":%lld,\"coef\":[%.4g,%.4g,%.4g,%.4g,%.4g]}",
                   updates, isamples, fits, ic[0], ic[1], ic[2], ic[3], ic[4]);
  gl_kv_buf_printf(b, ",\"degraded\":%s,\"devices_ok\":%d,\"device_failures\":%lld", degraded ? "true" : "false", n_ok,
                   c->dev_failures);
  num_or_null(b, "recover_ms", c->recover_ms);
  gl_kv_buf_put(b, ",\"devices\":[", 12);
  for (int d = 0; d < s->n_devs; d++) {
    gl_sdev_t *dv = &s->devs[d];
    gl_part_dev_info_t di;
    gl_part_dev_info(dv->pd, &di);
    bool failed = atomic_load(&dv->sd.failed);
    gl_kv_buf_printf(b, "%s{\"id\":%d,\"kind\":\"%s\",\"name\":", d ? "," : "", d, dv->kind);
    gl_kv_buf_jstr(b, dv->name);
    gl_kv_buf_printf(b, ",\"unit\":\"%s\",\"units\":%d,\"partition_kind\":\"%s\",\"state\":\"%s\",\"fallback\":%s",
                     di.unit_name ? di.unit_name : "unit", dv->units, gl_part_kind_name(di.kind), failed ? "failed" : "ok",
                     dv->fallback ? "true" : "false");
    if (failed) {
      gl_kv_buf_printf(b, ",\"failed_at_s\":%.3f,\"why\":", dv->failed_at_s);
      gl_kv_buf_jstr(b, dv->why);
    }
    gl_kv_buf_put(b, ",\"gpulets\":[", 12);
    bool first_l = true;
    for (int i = 0; i < c->n_lets; i++) {
      if (c->lets[i]->sdev != &dv->sd) continue;
      if (!first_l) gl_kv_buf_put(b, ",", 1);
      first_l = false;
      let_json(b, c->lets[i], dv->units, now);
    }
    gl_kv_buf_put(b, "]}", 2);
  }
  gl_kv_buf_put(b, "],\"models\":[", 12);
  pthread_mutex_lock(&s->mu);
  bool first = true;
  for (int i = 0; i < s->n_models; i++) {
    gl_smodel_t *m = s->models[i].m;
    if (!m) continue;
    gl_kv_buf_printf(b, "%s{\"name\":", first ? "" : ",");
    first = false;
    gl_kv_buf_jstr(b, m->name);
    pthread_mutex_lock(&m->mu);
    gl_kv_buf_printf(b, ",\"state\":\"%s\",\"slo_ms\":%g,\"percentile\":%g,\"max_batch\":%d,\"rate_observed\":%.2f,\"rate_target\":%.2f,\"rate_planned\":%.2f,\"queued\":%d,\"gpulets\":[",
                     s->models[i].state, m->cfg.slo_ms, m->cfg.slo_percentile, m->cfg.max_batch, m->rate_observed, m->rate_target,
                     m->planned_target, m->q.len);
    for (int k = 0; k < m->n_lets; k++) gl_kv_buf_printf(b, "%s%d", k ? "," : "", m->lets[k]->id);
    pthread_mutex_unlock(&m->mu);
    gl_kv_buf_put(b, "]}", 2);
  }
  pthread_mutex_unlock(&s->mu);
  gl_kv_buf_put(b, "],\"history\":[", 13);
  int n = c->n_hist < GL_SERVE_HISTORY ? c->n_hist : GL_SERVE_HISTORY;
  for (int k = 0; k < n; k++) {
    const gl_shist_t *h = &c->hist[(c->n_hist - n + k) % GL_SERVE_HISTORY];
    gl_kv_buf_printf(b, "%s{\"epoch\":%d,\"t_s\":%.2f,\"reason\":\"%s\",\"incremental\":%s,\"feasible\":%s,\"switched\":%s,"
                        "\"lets_built\":%d,\"lets_kept\":%d,\"lets_reconfigured\":%d,\"lets_retired\":%d,\"decision_ms\":%.3f,\"build_ms\":%.1f,\"switch_ms\":%.1f}",
                     k ? "," : "", h->epoch, h->t_s, h->reason, h->incremental ? "true" : "false", h->feasible ? "true" : "false",
                     h->switched ? "true" : "false", h->built, h->kept, h->reconf, h->retired, h->decision_ms, h->build_ms, h->switch_ms);
  }
  gl_kv_buf_put(b, "]}", 2);
  pthread_mutex_unlock(&c->mu);
}

void gl_sctl_metrics(gl_server_t *s, gl_kv_buf_t *b) {
  gl_sctl_t *c = &s->ctl;
  pthread_mutex_lock(&c->mu);
  gl_kv_buf_printf(b, "# HELP gpulet_replans_total Re-plans installed or attempted, by reason\n# TYPE gpulet_replans_total counter\n");
  for (int r = 0; r < GL_REASON_N; r++)
    gl_kv_buf_printf(b, "gpulet_replans_total{reason=\"%s\"} %lld\n", gl_serve_reasons[r], c->replans[r]);
  gl_kv_buf_printf(b, "# HELP gpulet_plan_decision_seconds Time the last plan took to decide\n# TYPE gpulet_plan_decision_seconds gauge\ngpulet_plan_decision_seconds %.6f\n",
                   c->decision_ms / 1000);
  bool degraded;
  int n_ok = gl_serve_devices_ok(s, &degraded);
  gl_kv_buf_printf(b, "# HELP gpulet_devices Devices of the server by state (a failed one is no longer planned on)\n# TYPE gpulet_devices gauge\n"
                      "gpulet_devices{state=\"ok\"} %d\ngpulet_devices{state=\"failed\"} %d\n", n_ok, s->n_devs - n_ok);
  gl_kv_buf_printf(b, "# HELP gpulet_device_failures_total Device failures since start\n# TYPE gpulet_device_failures_total counter\n"
                      "gpulet_device_failures_total %lld\n", c->dev_failures);
  gl_kv_buf_printf(b, "# HELP gpulet_plan_epoch The installed plan's epoch\n# TYPE gpulet_plan_epoch gauge\ngpulet_plan_epoch %d\n", c->epoch);
  gl_kv_buf_printf(b, "# HELP gpulet_gpulet_units Cores of each gpu-let, per member model\n# TYPE gpulet_gpulet_units gauge\n");
  for (int i = 0; i < c->n_lets; i++)
    for (int k = 0; k < c->lets[i]->n_members; k++)
      gl_kv_buf_printf(b, "gpulet_gpulet_units{gpulet=\"%d\",model=\"%s\"} %d\n", c->lets[i]->id, c->lets[i]->mem[k].m->name,
                       c->lets[i]->grant.units);
  for (int pass = 0; pass < 2; pass++) {
    /* seconds, as Prometheus names units (promtool refuses "_ms") */
    const char *nm = pass ? "gpulet_observed_latency_seconds" : "gpulet_predicted_latency_seconds";
    gl_kv_buf_printf(b, "# HELP %s %s compute time of a batch at the planned batch size\n# TYPE %s gauge\n", nm,
                     pass ? "Observed (EWMA)" : "Predicted (profile)", nm);
    for (int i = 0; i < c->n_lets; i++)
      for (int k = 0; k < c->lets[i]->n_members; k++) {
        gl_slet_member_t *e = &c->lets[i]->mem[k];
        pthread_mutex_lock(&e->m->mu);
        double v = pass ? e->obs_ms : e->pred_ms[size_of(e)];
        pthread_mutex_unlock(&e->m->mu);
        if (pass && v <= 0) continue;
        gl_kv_buf_printf(b, "%s{gpulet=\"%d\",model=\"%s\",batch=\"%d\",units=\"%d\"} %.7f\n", nm, c->lets[i]->id, e->m->name,
                         e->batch, c->lets[i]->grant.units, v / 1000);
      }
  }
  pthread_mutex_unlock(&c->mu);
}
