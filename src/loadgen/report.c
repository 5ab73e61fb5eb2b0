/* loadgen/report.c - --find-max (bisection over the rate scale), the table and the JSON of a run. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "loadgen/loadgen.h"

gl_status_t gl_lg_find_max(const gl_lg_config_t *cfg, double lo, double hi, int steps, FILE *log, gl_lg_result_t *res) {
  memset(res, 0, sizeof *res);
  if (steps < 1) steps = 1;
  if (steps > 64) steps = 64;
  if (!(lo > 0)) lo = 1;
  gl_lg_probe_t probes[64];
  int np = 0;
  gl_lg_result_t best = {0}, last = {0};
  bool have_best = false;
  double good = 0, bad = 0; /* largest ok scale, smallest failing one (0 = none yet) */
  double s = lo;
  for (int k = 0; k < steps; k++) {
    gl_lg_config_t c = *cfg;
    c.scale = s;
    gl_lg_result_t r;
    gl_status_t st = gl_lg_run(&c, &r);
    if (st < 0) {
      gl_lg_result_fini(&best);
      gl_lg_result_fini(&last);
      return st;
    }
    probes[np++] = (gl_lg_probe_t){s, r.ok, r.min_attain, r.offered_rps, r.goodput_rps};
    if (log) {
      fprintf(log, "find-max probe %d/%d: scale %.4g: %s (worst attainment %.4f, offered %.1f req/s, goodput %.1f req/s%s)\n",
              k + 1, steps, s, r.ok ? "ok" : "fails SLO", r.min_attain, r.offered_rps, r.goodput_rps,
              r.client_limited ? ", CLIENT-LIMITED" : "");
      fflush(log);
    }
    if (r.ok && s > good) {
      good = s;
      gl_lg_result_fini(&best);
      best = r;
      have_best = true;
    } else {
      if (!r.ok && (bad == 0 || s < bad)) bad = s;
      gl_lg_result_fini(&last);
      last = r;
    }
    /* the next probe: grow (to --hi, else doubling) until one fails, then bisect */
    if (bad == 0) {
      if (hi > 0 && good >= hi) break;
      s = hi > 0 ? hi : good * 2;
    } else if (good == 0) {
      s = bad / 2;
      if (s < 1e-6) break;
    } else {
      if ((bad - good) / bad < 0.02) break;
      s = (good + bad) / 2;
    }
    if (k + 1 < steps) sleep(1); /* let the server drain its queues between probes */
  }
  if (have_best) {
    *res = best;
    gl_lg_result_fini(&last);
  } else {
    *res = last;
  }
  res->find_max = true;
  res->bracketed = bad > 0;
  res->best_scale = good;
  res->throughput_rps = have_best ? best.offered_rps : 0;
  res->n_probes = np;
  memcpy(res->probes, probes, (size_t)np * sizeof *probes);
  return GL_OK;
}

void gl_lg_print(FILE *f, const gl_lg_config_t *cfg, const gl_lg_result_t *r) {
  fprintf(f, "%-16s %8s %8s %8s %8s %8s %8s %8s %7s %8s %8s %8s %8s\n", "model", "rate/s", "slo_ms", "sent", "answered",
          "met", "late", "rejected", "errors", "attain%", "p50_ms", "p99_ms", "p99.9_ms");
  for (int i = 0; i < r->n_models; i++) {
    const gl_lg_model_result_t *m = &r->m[i];
    fprintf(f, "%-16s %8.1f %8.1f %8lld %8lld %8lld %8lld %8lld %7lld %8.3f %8.2f %8.2f %8.2f\n", m->name, m->rate,
            m->slo_ms, m->sent, m->answered, m->met, m->late, m->rejected, m->errors, 100 * m->attain, m->p50_ms,
            m->p99_ms, m->p999_ms);
  }
  fprintf(f, "overall: sent %lld, met %lld (attainment %.3f%%), offered %.1f req/s, goodput %.1f req/s, %s\n", r->sent,
          r->met, 100 * r->attain, r->offered_rps, r->goodput_rps,
          r->ok ? "every model within its SLO percentile" : "SLO NOT MET");
  long long all = r->sent; /* counted requests; warm-up ones cost CPU too, so this overstates a little */
  fprintf(f, "client: send lag p99 %.3f ms (max %.3f), %d connections at most, %lld retried, %lld unsent, CPU %.2f s (%.1f us per request)%s\n",
          r->send_lag_p99_ms, r->send_lag_max_ms, r->max_open, r->retries, r->unsent, r->client_cpu_s,
          all > 0 ? r->client_cpu_s * 1e6 / (double)all : 0,
          r->client_limited ? " -- CLIENT-LIMITED: the numbers understate the server" : "");
  if (r->first_error[0]) fprintf(f, "first error: %s\n", r->first_error);
  if (r->find_max)
    fprintf(f, "find-max: largest scale within SLO %.4g (%d probes): throughput under SLO %s%.1f req/s%s\n", r->best_scale,
            r->n_probes, r->bracketed ? "" : ">= ", r->throughput_rps,
            r->bracketed ? "" : " (no probe failed: a lower bound; raise --steps or --lo)");
  (void)cfg;
}

static json_t *num(double v) { return json_real(isfinite(v) ? v : 0); }

gl_status_t gl_lg_write_json(const char *path, const gl_lg_config_t *cfg, const gl_lg_result_t *r) {
  json_t *o = json_object();
  json_object_set_new(o, "format", json_string("gpulet-loadgen"));
  json_object_set_new(o, "version", json_integer(1));
  json_object_set_new(o, "url", json_string(cfg->url));
  json_object_set_new(o, "scenario", json_string(cfg->scen->name));
  json_object_set_new(o, "scale", num(r->find_max ? r->best_scale : cfg->scale));
  json_object_set_new(o, "duration_s", num(cfg->duration_s));
  json_object_set_new(o, "warmup_s", num(cfg->warmup_s));
  json_object_set_new(o, "seed", json_integer((json_int_t)cfg->seed));
  json_object_set_new(o, "binary", json_boolean(cfg->binary));
  json_object_set_new(o, "trace", json_boolean(cfg->trace_n > 0));
  json_t *ms = json_array();
  for (int i = 0; i < r->n_models; i++) {
    const gl_lg_model_result_t *m = &r->m[i];
    json_t *x = json_object();
    json_object_set_new(x, "name", json_string(m->name));
    json_object_set_new(x, "rate", num(m->rate));
    json_object_set_new(x, "slo_ms", num(m->slo_ms));
    json_object_set_new(x, "percentile", num(m->pct));
    json_object_set_new(x, "sent", json_integer(m->sent));
    json_object_set_new(x, "answered", json_integer(m->answered));
    json_object_set_new(x, "met", json_integer(m->met));
    json_object_set_new(x, "late", json_integer(m->late));
    json_object_set_new(x, "rejected", json_integer(m->rejected));
    json_object_set_new(x, "errors", json_integer(m->errors));
    json_object_set_new(x, "p50_ms", num(m->p50_ms));
    json_object_set_new(x, "p99_ms", num(m->p99_ms));
    json_object_set_new(x, "p999_ms", num(m->p999_ms));
    json_object_set_new(x, "attain", num(m->attain));
    json_object_set_new(x, "send_lag_p99_ms", num(m->send_lag_p99_ms));
    json_object_set_new(x, "reject_p50_ms", m->rejected ? num(m->reject_p50_ms) : json_null());
    json_object_set_new(x, "reject_p99_ms", m->rejected ? num(m->reject_p99_ms) : json_null());
    json_array_append_new(ms, x);
  }
  json_object_set_new(o, "models", ms);
  json_t *ov = json_object();
  json_object_set_new(ov, "sent", json_integer(r->sent));
  json_object_set_new(ov, "answered", json_integer(r->answered));
  json_object_set_new(ov, "met", json_integer(r->met));
  json_object_set_new(ov, "rejected", json_integer(r->rejected));
  json_object_set_new(ov, "errors", json_integer(r->errors));
  json_object_set_new(ov, "attain", num(r->attain));
  json_object_set_new(ov, "min_attain", num(r->min_attain));
  json_object_set_new(ov, "offered_rps", num(r->offered_rps));
  json_object_set_new(ov, "goodput_rps", num(r->goodput_rps));
  json_object_set_new(ov, "ok", json_boolean(r->ok));
  json_object_set_new(o, "overall", ov);
  json_object_set_new(o, "send_lag_p99_ms", num(r->send_lag_p99_ms));
  json_object_set_new(o, "send_lag_max_ms", num(r->send_lag_max_ms));
  json_object_set_new(o, "unsent", json_integer(r->unsent));
  json_object_set_new(o, "retries", json_integer(r->retries));
  json_object_set_new(o, "max_connections_open", json_integer(r->max_open));
  json_object_set_new(o, "client_cpu_s", num(r->client_cpu_s));
  json_object_set_new(o, "client_limited", json_boolean(r->client_limited));
  if (r->first_error[0]) json_object_set_new(o, "first_error", json_string(r->first_error));
  if (r->find_max) {
    json_t *fm = json_object();
    json_object_set_new(fm, "scale", num(r->best_scale));
    json_object_set_new(fm, "throughput_rps", num(r->throughput_rps));
    json_object_set_new(fm, "bracketed", json_boolean(r->bracketed));
    json_t *ps = json_array();
    for (int i = 0; i < r->n_probes; i++) {
      json_t *p = json_object();
      json_object_set_new(p, "scale", num(r->probes[i].scale));
      json_object_set_new(p, "ok", json_boolean(r->probes[i].ok));
      json_object_set_new(p, "min_attain", num(r->probes[i].min_attain));
      json_object_set_new(p, "offered_rps", num(r->probes[i].offered_rps));
      json_object_set_new(p, "goodput_rps", num(r->probes[i].goodput_rps));
      json_array_append_new(ps, p);
    }
    json_object_set_new(fm, "probes", ps);
    json_object_set_new(o, "find_max", fm);
  }
  int rc = json_dump_file(o, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
  json_decref(o);
  if (rc) return gl_err(GL_EIO, "%s: cannot write", path);
  return GL_OK;
}
