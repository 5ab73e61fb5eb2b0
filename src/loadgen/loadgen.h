/* loadgen/loadgen.h - open-loop load over HTTP against a KServe v2 server (`gpulet loadgen`).
 * Owns: the send schedule (Poisson per model from a scenario's piecewise rates, or a trace),
 * request bodies made from the server's model metadata, the run (threads, each with an epoll loop
 * over non-blocking keep-alive connections, sending on schedule whether or not earlier requests
 * were answered), per-model counts and percentiles, the --find-max bisection over the rate scale,
 * and the report (table, JSON of docs/loadgen.md). Does not own: scenarios and traces (sim/). */
#ifndef GL_LOADGEN_LOADGEN_H
#define GL_LOADGEN_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "sim/scenario.h"

/* One scheduled request: send time (ns from the run's start) and model index. */
typedef struct {
  int64_t t_ns;
  int32_t model;
} gl_lg_arrival_t;

/* Poisson arrivals for every model of s over [0, duration_s): rates x scale, phases honoured
 * (phase times from the run's start), a stream per model seeded from (seed, model), merged in
 * time order. *out (gl_free) has *n entries. GL_ELIMIT past max_n arrivals. */
GL_MUST_USE gl_status_t gl_lg_schedule_poisson(const gl_scenario_t *s, double scale, double duration_s, uint64_t seed,
                                               long max_n, gl_lg_arrival_t **out, long *n);

typedef struct {
  const char *url;              /* http://host:port[/prefix] */
  const gl_scenario_t *scen;    /* models (served names), SLOs, percentiles, rates */
  double scale;                 /* multiplies every rate (1) */
  double duration_s;            /* measured time after warm-up */
  double warmup_s;              /* sent but not counted */
  uint64_t seed;
  bool binary;                  /* binary tensor extension for inputs and outputs */
  /* trace replay instead of Poisson: n arrivals (seconds from the start, ascending; model index) */
  long trace_n;
  const double *trace_t;
  const int *trace_model;
  int connections;              /* most open connections over all threads (128) */
  int threads;                  /* sender threads (2) */
  double drain_s;               /* after the last send, wait this long for answers (10) */
  bool quiet;                   /* no progress line */
  FILE *progress;               /* where the progress line goes (stderr) */
  const char *log_path;         /* NULL, or a file that receives one line per scheduled request
                                 * (docs/loadgen.md "Request log") */
} gl_lg_config_t;

typedef struct {
  char name[48];
  double rate;                  /* offered req/s: scheduled arrivals in the window / duration */
  double slo_ms, pct;
  long long sent, answered, met, late, rejected, errors;
  double p50_ms, p99_ms, p999_ms; /* over answered requests, from the scheduled send time */
  double attain;                /* met / sent (1 when nothing was sent) */
  double send_lag_p99_ms;       /* this model's requests: actual - scheduled send time */
  double reject_p50_ms, reject_p99_ms; /* 429/503 answers: scheduled send to the answer's last byte */
} gl_lg_model_result_t;

typedef struct {
  double scale;
  bool ok;
  double min_attain;
  double offered_rps, goodput_rps;
} gl_lg_probe_t;

typedef struct {
  int n_models;
  gl_lg_model_result_t *m;      /* [n_models], gl_lg_result_fini frees */
  long long sent, answered, met, rejected, errors;
  double attain, offered_rps, goodput_rps, min_attain;
  bool ok;                      /* every model's attain >= its percentile / 100 */
  double send_lag_p99_ms, send_lag_max_ms;
  long long unsent;             /* scheduled but never sent (no connection before the drain ended) */
  long long retries;            /* resent after a keep-alive connection closed under it */
  bool client_limited;          /* send lag p99 over 1 ms, or unsent requests */
  int max_open;                 /* most connections open at once */
  double client_cpu_s;          /* CPU time of the sender threads (their cost per request) */
  double wall_s;
  char first_error[256];        /* the first error answer or failure, for the report */
  /* --find-max */
  bool find_max;
  double best_scale, throughput_rps;
  bool bracketed;               /* some probe failed: best_scale is below the capacity's bracket top;
                                 * false: every probe passed and the result is only a lower bound */
  int n_probes;
  gl_lg_probe_t probes[64];
} gl_lg_result_t;

/* Prepares bodies (GET /v2/models/<m> for each model), runs the schedule and fills *res.
 * GL_EIO / GL_ENOTFOUND when the server is unreachable or does not serve a model. */
GL_MUST_USE gl_status_t gl_lg_run(const gl_lg_config_t *cfg, gl_lg_result_t *res);

/* Bisects cfg->scale over [lo, hi] (hi <= 0: grow from lo by doubling until a probe fails) for
 * the largest scale whose run is ok; at most steps probes, each a full run. Each probe is printed
 * to `log` (may be NULL). *res describes the best probe (or the last one when none is ok) and
 * holds the probe list. */
GL_MUST_USE gl_status_t gl_lg_find_max(const gl_lg_config_t *cfg, double lo, double hi, int steps, FILE *log,
                                       gl_lg_result_t *res);

void gl_lg_result_fini(gl_lg_result_t *r);

/* The table of a result (stdout of `gpulet loadgen`). */
void gl_lg_print(FILE *f, const gl_lg_config_t *cfg, const gl_lg_result_t *r);
/* The JSON of docs/loadgen.md to path. */
GL_MUST_USE gl_status_t gl_lg_write_json(const char *path, const gl_lg_config_t *cfg, const gl_lg_result_t *r);

#endif
