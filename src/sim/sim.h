/* sim/sim.h - discrete-event simulator of gpulet on a virtual clock.
 * Owns: the event loop (a preallocated binary heap of POD events), Poisson arrivals (piecewise
 * rates from a scenario), gpu-lets that run the batch/ state machine and take device time from
 * the profile with interference while gpu-lets on one device co-run, periodic re-planning through
 * sched/ (PAPER.md §9), per-model statistics, and the --find-max bisection. Deterministic for a
 * seed. Does not own: policies (sched/), queues and batchers (batch/). */
#ifndef GL_SIM_SIM_H
#define GL_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/sched.h"
#include "sim/scenario.h"

typedef struct {
  const gl_sched_input_t *in;     /* models (their rates are ignored: the scenario drives), devices */
  const gl_scenario_t *scen;      /* rates over time; NULL: constant in->models[].rate */
  const char *policy;             /* used for the first plan and re-plans */
  const gl_sched_plan_t *plan;          /* optional fixed first plan instead of `policy` */
  double scale;                   /* multiplies every scenario rate (1) */
  double duration_s;              /* simulated time */
  double warmup_s;                /* requests arriving before this are not counted */
  uint64_t seed;
  double headroom;                /* plan for rate x headroom; 0 = PAPER.md §9 target (x1.2 / x1.5) */
  double replan_s;                /* re-plan period (20 s); 0 = never */
  bool jitter;                    /* device time drawn between median and p99 (default on in the CLI) */
  bool collect;                   /* residual gpu-lets wait for a full batch (GL_BATCH_COLLECT) */
  int queue_cap;                  /* per-model queue bound (default 65536) */
  long long exact_latencies;       /* latencies kept exactly up to this many (0: 16 M), then a
                                   * histogram (< 0.4% wide buckets) keeps memory bounded */
  bool skip_infeasible;           /* do not simulate when the first plan is infeasible (find-max) */
  /* Trace arrivals instead of Poisson: n arrivals at t_s[i] (ascending) for model[i]; the
   * scenario's rates then only seed the first plan (re-planning follows observed rates). */
  long trace_n;
  const double *trace_t;
  const int *trace_model;
  bool want_hist;                 /* fill res->hist (for merging runs: sim/sim_agg.c) */
} gl_sim_config_t;

/* Latency histogram over ns: exact below 256 ns, then 256 buckets per power of two (< 0.4%
 * wide) up to 2^44 ns. */
#define GL_SIM_HIST_N (256 + 36 * 256)

typedef struct {
  char name[48];
  long long sent, served, met, rejected, late;
  double mean_ms, p50_ms, p99_ms, p999_ms;
  double attain;                  /* met / sent (rejected count as missed) */
} gl_sim_model_stats_t;

typedef struct {
  int n_models;
  gl_sim_model_stats_t *m;        /* [n_models], freed by gl_sim_result_fini */
  long long events;
  double wall_s, sim_s;
  bool plan_feasible;
  int replans;                    /* re-plans installed: incremental + full */
  int replans_incremental;        /* only the changed models re-placed (PAPER.md §9) */
  int replans_full;               /* full repartitions (incremental did not fit) */
  long long lets_built, lets_kept; /* gpu-lets created by re-plans / left running untouched */
  int models_up, models_down;     /* models re-placed because their target rose / fell (downsizing) */
  double min_attain;              /* the worst model's attainment */
  bool ok;                        /* plan feasible and every model meets its percentile */
  uint64_t *hist;                 /* [n_models * GL_SIM_HIST_N] latency counts when cfg->want_hist */
  double *sum_lat_ms;             /* [n_models] sum of latencies when cfg->want_hist */
} gl_sim_result_t;

/* Reads a trace file: one arrival per line, "<seconds> <model name>" ascending in time, '#'
 * comments. Model names are the scenario's. Arrays are freed with gl_free. */
GL_MUST_USE gl_status_t gl_sim_trace_load(const char *path, const gl_scenario_t *s, long *n, double **t, int **model);

GL_MUST_USE gl_status_t gl_sim_run(const gl_sim_config_t *cfg, gl_sim_result_t *res);
void gl_sim_result_fini(gl_sim_result_t *r);

/* Bisects cfg->scale for the largest rate scale with res.ok (every model >= its percentile).
 * Returns the scale (0 when even the smallest probe fails); *res holds the run at that scale. */
GL_MUST_USE gl_status_t gl_sim_find_max(const gl_sim_config_t *cfg, int steps, double *scale, gl_sim_result_t *res);

/* Percentile p (0..100) of n counts in a GL_SIM_HIST_N histogram, ms (bucket midpoint). */
double gl_sim_hist_pct(const uint64_t *h, long long n, double p);

/* ---- device-class aggregation (sim/sim_agg.c; docs/scheduler.md "Aggregation") ----
 * Arrivals of a model are split among its devices by the plan's rate shares, each device with
 * its own queue per model (split routing), so that each device sees independent Poisson streams
 * and devices with the same gpu-lets (sizes, models, batches, alpha, duty, rate shares) behave
 * identically in distribution. One representative (or reps) per class is simulated for the whole
 * duration and its counts and histograms are weighted by the class size. The plan is fixed (the
 * first plan; no re-planning). split_full simulates every device in one event loop with split
 * routing instead (the reference the aggregation must match). */
typedef struct {
  int reps;                       /* representatives per class (1) */
  int threads;                    /* worker threads over the runs (1) */
  bool split_full;                /* no aggregation: all devices, split routing, one event loop */
} gl_sim_agg_opts_t;

typedef struct {
  int n_classes, n_runs, n_devices_used;
  int largest_class;
  long long events_represented;   /* sum over runs of events x weight */
} gl_sim_agg_info_t;

GL_MUST_USE gl_status_t gl_sim_run_aggregate(const gl_sim_config_t *cfg, const gl_sim_agg_opts_t *o, gl_sim_result_t *res,
                                             gl_sim_agg_info_t *info);

#endif
