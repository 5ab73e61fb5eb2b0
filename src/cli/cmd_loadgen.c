/* cli/cmd_loadgen.c - `gpulet loadgen`: open-loop Poisson or trace load against a KServe v2 server. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "loadgen/http.h"
#include "loadgen/loadgen.h"
#include "sim/sim.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet loadgen [--url http://127.0.0.1:8000] (--scenario S.json | --model NAME --rate R [--slo-ms X])\n"
          "                      [--scale K] [--duration S] [--warmup S] [--seed N] [--binary] [--trace FILE]\n"
          "                      [--find-max [--steps N] [--lo K] [--hi K]] [--json OUT] [--connections N]\n"
          "                      [--threads N] [--drain S] [--log FILE] [--quiet]\n"
          "  Open-loop load (MLPerf server scenario): send times are drawn before the run (Poisson per model\n"
          "  at the scenario's rates x K, phases honoured, seeded) or read from a trace (\"<seconds> <model>\"\n"
          "  per line), and requests leave on time whether or not earlier ones were answered. Inputs are\n"
          "  random (seeded) tensors of the shapes the server's metadata gives (JSON, or --binary tensors).\n"
          "  Latency runs from the scheduled send time to the last byte of the answer; a request meets its\n"
          "  SLO when answered (200) within the scenario's slo_ms. Warm-up requests are sent, not counted.\n"
          "  --duration S    measured seconds (default: the scenario's duration_s; 10 with --model)\n"
          "  --warmup S      seconds before counting starts (default 2)\n"
          "  --scale K       multiplies every rate (a trace is replayed K times faster)\n"
          "  --find-max      bisect K (from --lo, default 1, doubling, or up to --hi) for the largest scale\n"
          "                  at which every model meets its percentile; --steps probes (default 6), each a\n"
          "                  full run of --duration\n"
          "  --connections N most open connections (default 128), over --threads N sender threads (default 2)\n"
          "  --drain S       after the last send, wait S seconds for answers (default 10)\n"
          "  --json OUT      the result as JSON (docs/loadgen.md)\n"
          "  --log FILE      one line per scheduled request: \"t_s model status latency_ms\" (the last\n"
          "                  run's, with --find-max the last probe's)\n"
          "  Exit 0 when the run completed (whatever the attainment), 1 on bad input or an unreachable\n"
          "  server, 2 on a usage error.\n");
}

static int bad_value(const char *opt, const char *v) {
  fprintf(stderr, "gpulet loadgen: bad value '%s' for --%s\n", v, opt);
  return 2;
}

static bool parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* The SLO the server's config gives model `name` (parameters.slo_ms), else 100 ms. */
static double server_slo(const gl_lg_url_t *u, const char *name, double *pct) {
  char path[300];
  snprintf(path, sizeof path, "/v2/models/%s/config", name);
  int code = 0;
  char *body = NULL;
  double slo = 100;
  if (gl_lg_http_request(u, "GET", path, NULL, 0, 5000, 1 << 20, &code, &body, NULL) == GL_OK && code == 200) {
    json_t *j = json_loads(body, 0, NULL);
    json_t *p = j ? json_object_get(j, "parameters") : NULL;
    json_t *v = p ? json_object_get(json_object_get(p, "slo_ms"), "string_value") : NULL;
    if (v && json_is_string(v) && atof(json_string_value(v)) > 0) slo = atof(json_string_value(v));
    v = p ? json_object_get(json_object_get(p, "slo_percentile"), "string_value") : NULL;
    if (v && json_is_string(v) && atof(json_string_value(v)) > 0) *pct = atof(json_string_value(v));
    if (j) json_decref(j);
  }
  gl_free(body);
  return slo;
}

int gl_cmd_loadgen(int argc, char **argv) {
  enum { O_LO = 256, O_HI, O_DRAIN, O_SLO, O_STEPS, O_LOG };
  static const struct option opts[] = {
      {"url", required_argument, 0, 'u'},         {"scenario", required_argument, 0, 's'},
      {"model", required_argument, 0, 'm'},       {"rate", required_argument, 0, 'r'},
      {"slo-ms", required_argument, 0, O_SLO},    {"scale", required_argument, 0, 'k'},
      {"duration", required_argument, 0, 'd'},    {"warmup", required_argument, 0, 'w'},
      {"seed", required_argument, 0, 'S'},        {"binary", no_argument, 0, 'b'},
      {"trace", required_argument, 0, 't'},       {"find-max", no_argument, 0, 'F'},
      {"steps", required_argument, 0, O_STEPS},   {"lo", required_argument, 0, O_LO},
      {"hi", required_argument, 0, O_HI},         {"json", required_argument, 0, 'j'},
      {"connections", required_argument, 0, 'c'}, {"threads", required_argument, 0, 'T'},
      {"drain", required_argument, 0, O_DRAIN},   {"quiet", no_argument, 0, 'q'},
      {"log", required_argument, 0, O_LOG},
      {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
  const char *url = "http://127.0.0.1:8000", *scen_path = NULL, *model = NULL, *trace = NULL, *json_out = NULL,
             *log_path = NULL;
  double rate = -1, slo = -1, scale = 1, duration = -1, warmup = 2, lo = 1, hi = 0, drain = 10;
  long long seed = -1;
  int steps = 6, conns = 128, threads = 2;
  bool binary = false, find = false, quiet = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "u:s:m:r:k:d:w:S:bt:Fj:c:T:qh", opts, NULL)) != -1) {
    double v = 0;
    switch (c) {
      case 'u': url = optarg; break;
      case 's': scen_path = optarg; break;
      case 'm': model = optarg; break;
      case 'r': if (!parse_double(optarg, 0, 1e7, &rate)) return bad_value("rate", optarg); break;
      case O_SLO: if (!parse_double(optarg, 1e-3, 3.6e6, &slo)) return bad_value("slo-ms", optarg); break;
      case 'k': if (!parse_double(optarg, 0, 1e6, &scale)) return bad_value("scale", optarg); break;
      case 'd': if (!parse_double(optarg, 1e-3, 1e6, &duration)) return bad_value("duration", optarg); break;
      case 'w': if (!parse_double(optarg, 0, 1e6, &warmup)) return bad_value("warmup", optarg); break;
      case 'S': if (!parse_double(optarg, 0, 9e15, &v) || v != floor(v)) return bad_value("seed", optarg); seed = (long long)v; break;
      case 'b': binary = true; break;
      case 't': trace = optarg; break;
      case 'F': find = true; break;
      case O_STEPS: if (!parse_double(optarg, 1, 64, &v) || v != floor(v)) return bad_value("steps", optarg); steps = (int)v; break;
      case O_LO: if (!parse_double(optarg, 1e-6, 1e6, &lo)) return bad_value("lo", optarg); break;
      case O_HI: if (!parse_double(optarg, 1e-6, 1e6, &hi)) return bad_value("hi", optarg); break;
      case O_DRAIN: if (!parse_double(optarg, 0.001, 3600, &drain)) return bad_value("drain", optarg); break;
      case 'j': json_out = optarg; break;
      case O_LOG: log_path = optarg; break;
      case 'c': if (!parse_double(optarg, 1, 100000, &v) || v != floor(v)) return bad_value("connections", optarg); conns = (int)v; break;
      case 'T': if (!parse_double(optarg, 1, 256, &v) || v != floor(v)) return bad_value("threads", optarg); threads = (int)v; break;
      case 'q': quiet = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc) { usage(stderr); return 2; }
  if (!!scen_path == !!model) {
    fprintf(stderr, "gpulet loadgen: give either --scenario FILE or --model NAME --rate R\n");
    return 2;
  }
  if (model && rate < 0 && !trace) {
    fprintf(stderr, "gpulet loadgen: --model needs --rate R (requests per second) or --trace FILE\n");
    return 2;
  }
  if (find && trace) {
    fprintf(stderr, "gpulet loadgen: --find-max scales Poisson rates; it does not combine with --trace\n");
    return 2;
  }
  if (find && hi > 0 && hi <= lo) {
    fprintf(stderr, "gpulet loadgen: --hi must be above --lo\n");
    return 2;
  }
  gl_lg_url_t u;
  if (gl_lg_url_parse(url, &u)) return gl_cli_fail("loadgen: --url");
  signal(SIGPIPE, SIG_IGN);
  gl_scenario_t *s = NULL;
  if (scen_path) {
    if (gl_scenario_load(scen_path, &s)) return gl_cli_fail("loadgen");
  } else {
    s = gl_calloc(1, sizeof *s);
    if (!s || !(s->models = gl_calloc(1, sizeof *s->models))) {
      gl_free(s);
      fprintf(stderr, "gpulet loadgen: out of memory\n");
      return 1;
    }
    if (strlen(model) >= sizeof s->models[0].name) {
      gl_scenario_destroy(s);
      fprintf(stderr, "gpulet loadgen: model name '%s' is too long\n", model);
      return 1;
    }
    snprintf(s->name, sizeof s->name, "%s", model);
    s->n_models = 1;
    s->duration_s = 10;
    s->seed = 1;
    gl_scen_model_t *m = &s->models[0];
    snprintf(m->name, sizeof m->name, "%s", model);
    snprintf(m->profile, sizeof m->profile, "%s", model);
    m->pct = 99;
    m->slo_ms = slo > 0 ? slo : server_slo(&u, model, &m->pct);
    m->rate = rate > 0 ? rate : 0;
  }
  long tn = 0;
  double *tt = NULL;
  int *tm = NULL;
  int rc = 0;
  if (trace && gl_sim_trace_load(trace, s, &tn, &tt, &tm)) {
    rc = gl_cli_fail("loadgen");
    goto out;
  }
  gl_lg_config_t cfg = {
      .url = url,
      .scen = s,
      .scale = scale,
      .duration_s = duration > 0 ? duration : (trace ? fmax(tt[tn - 1] / (scale > 0 ? scale : 1) - warmup + 0.001, 0.001) : s->duration_s),
      .warmup_s = warmup,
      .seed = seed >= 0 ? (uint64_t)seed : s->seed,
      .binary = binary,
      .trace_n = tn,
      .trace_t = tt,
      .trace_model = tm,
      .connections = conns,
      .threads = threads,
      .drain_s = drain,
      .log_path = log_path,
      .quiet = quiet,
      .progress = stderr,
  };
  gl_lg_result_t r;
  gl_status_t st = find ? gl_lg_find_max(&cfg, lo, hi, steps, stdout, &r) : gl_lg_run(&cfg, &r);
  if (st < 0) {
    rc = gl_cli_fail("loadgen");
    goto out;
  }
  printf("gpulet loadgen: %s at %s, scale %.4g, %.1f s measured after %.1f s warm-up, seed %llu, %s tensors%s\n", s->name,
         url, find ? r.best_scale : scale, cfg.duration_s, cfg.warmup_s, (unsigned long long)cfg.seed,
         binary ? "binary" : "JSON", trace ? ", trace replay" : "");
  gl_lg_print(stdout, &cfg, &r);
  if (json_out && gl_lg_write_json(json_out, &cfg, &r)) rc = gl_cli_fail("loadgen: --json");
  gl_lg_result_fini(&r);
out:
  gl_free(tt);
  gl_free(tm);
  gl_scenario_destroy(s);
  return rc;
}
