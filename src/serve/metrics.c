/* serve/metrics.c - what the server reports: Prometheus text (Triton's names plus gpulet_*),
 * the statistics extension's JSON (with recent percentiles and SLO attainment) and the plan JSON.
 * The status page itself is src/serve/web/ (embedded at build time, see serve/web.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/let.h"
#include "serve/serve_int.h"

typedef struct {
  char name[128];
  gl_smodel_stats_t st;
  int units;      /* cores of the gpu-lets serving it */
  double share;
  int max_batch, queued;
  double slo_ms;
  gl_latwin_stats_t lw; /* the last GL_SERVE_LAT_WINDOW_S seconds */
} snap_t;

#define GL_SERVE_LAT_WINDOW_S 10

/* Copies each ready model's numbers (or just `only`); returns the count. */
static int snapshot(gl_server_t *s, const char *only, snap_t *out, int cap) {
  int n = 0;
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->n_models && n < cap; i++) {
    gl_smodel_t *m = s->models[i].m;
    if (!m || (only && strcmp(only, m->name))) continue;
    snap_t *p = &out[n++];
    snprintf(p->name, sizeof p->name, "%s", m->name);
    pthread_mutex_lock(&m->mu);
    p->st = m->st;
    p->queued = m->q.len;
    p->units = 0;
    for (int k = 0; k < m->n_lets; k++) p->units += m->lets[k]->grant.units;
    pthread_mutex_unlock(&m->mu);
    gl_part_dev_info_t di;
    gl_part_dev_info(s->dev, &di);
    p->share = (double)p->units / di.units_total;
    p->max_batch = m->cfg.max_batch;
    p->slo_ms = m->cfg.slo_ms;
    gl_latwin_stats(&m->lw, gl_now_ns(), (int64_t)GL_SERVE_LAT_WINDOW_S * 1000000000LL, &p->lw);
  }
  pthread_mutex_unlock(&s->mu);
  return n;
}

static void metric(gl_kv_buf_t *b, const char *name, const char *type, const char *help) {
  gl_kv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- the server's own per-request cost ---- */

void gl_ovh_bounds(int b, int64_t *lo_us, int64_t *hi_us) {
  if (b < 1000) { *lo_us = b; *hi_us = b + 1; }
  else if (b < GL_OVH_BUCKETS - 1) { *lo_us = 1000 + (int64_t)(b - 1000) * 100; *hi_us = *lo_us + 100; }
  else { *lo_us = 100000; *hi_us = INT64_MAX; }
}

void gl_ovh_add(gl_ovh_hist_t *h, int64_t ns) {
  if (ns < 0) ns = 0;
  int64_t us = ns / 1000;
  int b = us < 1000 ? (int)us : us < 100000 ? 1000 + (int)((us - 1000) / 100) : GL_OVH_BUCKETS - 1;
  atomic_fetch_add_explicit(&h->n[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* Prometheus histogram over a few bounds (µs) summed from the fine buckets. */
static void ovh_prom(gl_kv_buf_t *b, const char *name, const char *help, gl_ovh_hist_t *h) {
  static const int64_t le_us[] = {5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 200, 300, 500, 1000, 2000, 5000, 10000, 100000};
  metric(b, name, "histogram", help);
  int64_t cum = 0;
  int k = 0;
  for (size_t i = 0; i < sizeof le_us / sizeof le_us[0]; i++) {
    for (; k < GL_OVH_BUCKETS; k++) {
      int64_t lo, hi;
      gl_ovh_bounds(k, &lo, &hi);
      if (hi > le_us[i]) break;
      cum += atomic_load_explicit(&h->n[k], memory_order_relaxed);
    }
    gl_kv_buf_printf(b, "%s_bucket{le=\"%g\"} %lld\n", name, le_us[i] / 1e6, (long long)cum);
  }
  long long count = atomic_load(&h->count);
  gl_kv_buf_printf(b, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.9f\n%s_count %lld\n", name, count, name,
                   atomic_load(&h->sum_ns) / 1e9, name, count);
}

/* {"count":N,"mean_us":x,"p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,"buckets":[[lo_us,hi_us,n],...]}
 * (quantiles: the upper bound of the bucket holding them; since start) */
static void ovh_json(gl_kv_buf_t *b, gl_ovh_hist_t *h) {
  static const double qs[] = {0.5, 0.9, 0.99, 0.999};
  static const char *qn[] = {"p50_us", "p90_us", "p99_us", "p999_us"};
  int64_t n[GL_OVH_BUCKETS], count = 0;
  for (int k = 0; k < GL_OVH_BUCKETS; k++) count += n[k] = atomic_load_explicit(&h->n[k], memory_order_relaxed);
  gl_kv_buf_printf(b, "{\"count\":%lld,\"mean_us\":%.3f", (long long)count,
                   count ? atomic_load(&h->sum_ns) / 1e3 / (double)count : 0.0);
  for (int q = 0; q < 4; q++) {
    int64_t want = (int64_t)(qs[q] * (double)count + 0.999999), cum = 0;
    int k = 0;
    for (; k < GL_OVH_BUCKETS - 1 && cum + n[k] < want; k++) cum += n[k];
    int64_t lo, hi;
    gl_ovh_bounds(k, &lo, &hi);
    if (count) gl_kv_buf_printf(b, ",\"%s\":%lld", qn[q], (long long)(hi == INT64_MAX ? lo : hi));
    else gl_kv_buf_printf(b, ",\"%s\":null", qn[q]);
  }
  gl_kv_buf_put(b, ",\"buckets\":[", 12);
  bool first = true;
  for (int k = 0; k < GL_OVH_BUCKETS; k++) {
    if (!n[k]) continue;
    int64_t lo, hi;
    gl_ovh_bounds(k, &lo, &hi);
    gl_kv_buf_printf(b, "%s[%lld,%lld,%lld]", first ? "" : ",", (long long)lo, hi == INT64_MAX ? -1LL : (long long)hi, (long long)n[k]);
    first = false;
  }
  gl_kv_buf_put(b, "]}", 2);
}

void gl_serve_overhead_json(gl_server_t *s, gl_kv_buf_t *b) {
  gl_kv_buf_put(b, "{\"overhead\":", 12);
  ovh_json(b, &s->ovh);
  gl_kv_buf_put(b, ",\"handoff\":", 11);
  ovh_json(b, &s->handoff);
  gl_kv_buf_printf(b, ",\"answered_inline\":%lld}", (long long)atomic_load(&s->answered_inline));
}

void gl_serve_metrics(gl_server_t *s, gl_kv_buf_t *b) {
  snap_t *sn = gl_calloc(GL_SERVE_MAX_MODELS, sizeof *sn);
  if (!sn) { b->oom = true; return; }
  int n = snapshot(s, NULL, sn, GL_SERVE_MAX_MODELS);
#define L "model=\"%s\",version=\"1\""
#define EACH(field) for (int i = 0; i < n; i++) gl_kv_buf_printf(b, "%s{" L "} %lld\n", mname, sn[i].name, (long long)(field))
  const char *mname;
  mname = "nv_inference_request_success";
  metric(b, mname, "counter", "Number of successful inference requests");
  EACH(sn[i].st.success);
  mname = "nv_inference_request_failure";
  metric(b, mname, "counter", "Number of failed inference requests, by reason");
  for (int i = 0; i < n; i++) {
    gl_kv_buf_printf(b, "%s{" L ",reason=\"REJECTED\"} %lld\n", mname, sn[i].name, (long long)sn[i].st.fail_rejected);
    gl_kv_buf_printf(b, "%s{" L ",reason=\"BACKEND\"} %lld\n", mname, sn[i].name, (long long)sn[i].st.fail_backend);
    gl_kv_buf_printf(b, "%s{" L ",reason=\"OTHER\"} %lld\n", mname, sn[i].name, (long long)sn[i].st.fail_other);
  }
  mname = "nv_inference_count";
  metric(b, mname, "counter", "Number of inferences performed (samples)");
  EACH(sn[i].st.inference_count);
  mname = "nv_inference_exec_count";
  metric(b, mname, "counter", "Number of model executions (batches)");
  EACH(sn[i].st.exec_count);
  mname = "nv_inference_request_duration_us";
  metric(b, mname, "counter", "Cumulative request duration, arrival to answer, in microseconds");
  EACH(sn[i].st.ns_request / 1000);
  mname = "nv_inference_queue_duration_us";
  metric(b, mname, "counter", "Cumulative time requests waited in the queue, in microseconds");
  EACH(sn[i].st.ns_queue / 1000);
  mname = "nv_inference_compute_input_duration_us";
  metric(b, mname, "counter", "Cumulative time copying inputs into batches, in microseconds");
  EACH(sn[i].st.ns_input / 1000);
  mname = "nv_inference_compute_infer_duration_us";
  metric(b, mname, "counter", "Cumulative compute time, in microseconds");
  EACH(sn[i].st.ns_infer / 1000);
  mname = "nv_inference_compute_output_duration_us";
  metric(b, mname, "counter", "Cumulative time splitting outputs, in microseconds");
  EACH(sn[i].st.ns_output / 1000);
  mname = "nv_inference_pending_request_count";
  metric(b, mname, "gauge", "Requests waiting in the model's queue");
  EACH(sn[i].queued);
  mname = "gpulet_slo_met_total";
  metric(b, mname, "counter", "Requests answered within their deadline");
  EACH(sn[i].st.slo_met);
  mname = "gpulet_slo_missed_total";
  metric(b, mname, "counter", "Requests answered after their deadline");
  EACH(sn[i].st.slo_missed);
  mname = "gpulet_rejected_early_total";
  metric(b, mname, "counter", "Requests rejected because they could not meet their deadline");
  EACH(sn[i].st.rejected_late);
  mname = "gpulet_rejected_queue_full_total";
  metric(b, mname, "counter", "Requests rejected because the model's queue was full");
  EACH(sn[i].st.rejected_full);
  mname = "gpulet_partition_units";
  metric(b, mname, "gauge", "Units (cores) of the gpu-lets serving the model");
  EACH(sn[i].units);
  mname = "gpulet_partition_share";
  metric(b, mname, "gauge", "Share of the device the gpu-lets serving the model hold");
  for (int i = 0; i < n; i++) gl_kv_buf_printf(b, "%s{" L "} %g\n", mname, sn[i].name, sn[i].share);
  mname = "gpulet_max_batch_size";
  metric(b, mname, "gauge", "The model's largest batch");
  EACH(sn[i].max_batch);
  mname = "gpulet_batch_size";
  metric(b, mname, "histogram", "Samples per execution");
  for (int i = 0; i < n; i++) {
    int64_t cum = 0, sum = 0;
    for (int k = 1; k <= GL_BATCH_MAX; k++) {
      cum += sn[i].st.batch_hist[k];
      sum += k * sn[i].st.batch_hist[k];
      if ((k & (k - 1)) == 0) gl_kv_buf_printf(b, "%s_bucket{" L ",le=\"%d\"} %lld\n", mname, sn[i].name, k, (long long)cum);
    }
    gl_kv_buf_printf(b, "%s_bucket{" L ",le=\"+Inf\"} %lld\n", mname, sn[i].name, (long long)cum);
    gl_kv_buf_printf(b, "%s_sum{" L "} %lld\n%s_count{" L "} %lld\n", mname, sn[i].name, (long long)sum, mname,
                     sn[i].name, (long long)cum);
  }
  mname = "gpulet_request_duration_seconds";
  metric(b, mname, "summary", "End-to-end request latency: quantiles over the requests answered in the last 10 seconds, sum and count since start");
  for (int i = 0; i < n; i++) {
    const gl_latwin_stats_t *w = &sn[i].lw;
    if (w->answered > 0) {
      gl_kv_buf_printf(b, "%s{" L ",quantile=\"0.5\"} %.6f\n", mname, sn[i].name, w->p50_ms / 1000);
      gl_kv_buf_printf(b, "%s{" L ",quantile=\"0.99\"} %.6f\n", mname, sn[i].name, w->p99_ms / 1000);
      gl_kv_buf_printf(b, "%s{" L ",quantile=\"0.999\"} %.6f\n", mname, sn[i].name, w->p999_ms / 1000);
    }
    gl_kv_buf_printf(b, "%s_sum{" L "} %.6f\n%s_count{" L "} %lld\n", mname, sn[i].name, sn[i].st.ns_request / 1e9, mname,
                     sn[i].name, (long long)sn[i].st.success);
  }
  mname = "gpulet_slo_attainment_ratio";
  metric(b, mname, "gauge", "Requests of the last 10 seconds that met their deadline, over those answered or rejected");
  for (int i = 0; i < n; i++)
    if (sn[i].lw.attain >= 0) gl_kv_buf_printf(b, "%s{" L "} %.6f\n", mname, sn[i].name, sn[i].lw.attain);
  gl_kv_buf_printf(b, "# HELP gpulet_alloc_live_bytes Bytes held through gpulet's allocator\n# TYPE gpulet_alloc_live_bytes gauge\ngpulet_alloc_live_bytes %zu\n",
                   gl_alloc_live_bytes());
  gl_kv_buf_printf(b, "# HELP gpulet_open_connections Open HTTP connections\n# TYPE gpulet_open_connections gauge\ngpulet_open_connections %d\n",
                   atomic_load(&s->open_conns));
#undef EACH
#undef L
  gl_free(sn);
  ovh_prom(b, "gpulet_server_overhead_seconds",
           "Successful inferences: HTTP in (headers parsed) to the response queued, minus the batch's compute", &s->ovh);
  ovh_prom(b, "gpulet_server_handoff_seconds",
           "Successful inferences: queued to batch start plus batch end to the response queued (the two thread handoffs)", &s->handoff);
  gl_sctl_metrics(s, b);
}

static void dur(gl_kv_buf_t *b, const char *key, int64_t count, int64_t ns, bool comma) {
  gl_kv_buf_printf(b, "%s\"%s\":{\"count\":%lld,\"ns\":%lld}", comma ? "," : "", key, (long long)count, (long long)ns);
}

/* ,"key":v with v >= 0, else ,"key":null (nothing measured in the window) */
static void num_or_null(gl_kv_buf_t *b, const char *key, double v) {
  if (v >= 0) gl_kv_buf_printf(b, ",\"%s\":%.4g", key, v);
  else gl_kv_buf_printf(b, ",\"%s\":null", key);
}

void gl_serve_stats_json(gl_server_t *s, const char *only, gl_kv_buf_t *b) {
  snap_t *sn = gl_calloc(GL_SERVE_MAX_MODELS, sizeof *sn);
  if (!sn) { b->oom = true; return; }
  int n = snapshot(s, only, sn, GL_SERVE_MAX_MODELS);
  gl_kv_buf_put(b, "{\"model_stats\":[", 16);
  for (int i = 0; i < n; i++) {
    const gl_smodel_stats_t *t = &sn[i].st;
    int64_t fail = t->fail_rejected + t->fail_other + t->fail_backend;
    gl_kv_buf_put(b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
    gl_kv_buf_jstr(b, sn[i].name);
    gl_kv_buf_printf(b, ",\"version\":\"1\",\"last_inference\":%lld,\"inference_count\":%lld,\"execution_count\":%lld,\"inference_stats\":{",
                     (long long)t->last_inference_ms, (long long)t->inference_count, (long long)t->exec_count);
    dur(b, "success", t->success, t->ns_request, false);
    dur(b, "fail", fail, 0, true);
    dur(b, "queue", t->success, t->ns_queue, true);
    dur(b, "compute_input", t->success, t->ns_input, true);
    dur(b, "compute_infer", t->success, t->ns_infer, true);
    dur(b, "compute_output", t->success, t->ns_output, true);
    dur(b, "cache_hit", 0, 0, true);
    dur(b, "cache_miss", 0, 0, true);
    gl_kv_buf_put(b, "},\"response_stats\":{},\"batch_stats\":[", 37);
    bool first = true;
    for (int k = 1; k <= GL_BATCH_MAX; k++) {
      if (!t->batch_hist[k]) continue;
      gl_kv_buf_printf(b, "%s{\"batch_size\":%d", first ? "" : ",", k);
      dur(b, "compute_input", t->batch_hist[k], 0, true);
      dur(b, "compute_infer", t->batch_hist[k], t->batch_ns_infer[k], true);
      dur(b, "compute_output", t->batch_hist[k], 0, true);
      gl_kv_buf_put(b, "}", 1);
      first = false;
    }
    gl_kv_buf_printf(b, "],\"memory_usage\":[],\"gpulet\":{\"slo_met\":%lld,\"slo_missed\":%lld,\"rejected_early\":%lld,\"rejected_queue_full\":%lld",
                     (long long)t->slo_met, (long long)t->slo_missed, (long long)t->rejected_late, (long long)t->rejected_full);
    const gl_latwin_stats_t *w = &sn[i].lw;
    gl_kv_buf_printf(b, ",\"window_s\":%d,\"window_answered\":%d,\"window_rejected\":%d", GL_SERVE_LAT_WINDOW_S,
                     w->answered, w->rejected);
    num_or_null(b, "p50_ms", w->p50_ms);
    num_or_null(b, "p99_ms", w->p99_ms);
    num_or_null(b, "p999_ms", w->p999_ms);
    num_or_null(b, "slo_attain", w->attain);
    gl_kv_buf_put(b, "}}", 2);
  }
  gl_kv_buf_put(b, "]}", 2);
  gl_free(sn);
}

void gl_serve_plan_json(gl_server_t *s, gl_kv_buf_t *b) { gl_sctl_plan_json(s, b); }
