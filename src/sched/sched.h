/* sched/sched.h - scheduling policies over latency profiles, and the plan they produce.
 * Owns: the policy interface gl_sched_plan() (gpulet, gpulet-int, sbp, triton, static, bound,
 * fine), the latency/duty-cycle model of PAPER.md §4-5, the interference model of §8 and its
 * least-squares fit, the plan (JSON, table, diff for the reorganizer, copy), rate estimation,
 * the re-plan triggers and the incremental re-plan of §9. Devices are identical, of the
 * profile's kind (units, memory).
 * Does not own: queues and batchers (batch/), threads, clocks, executors. */
#ifndef GL_SCHED_SCHED_H
#define GL_SCHED_SCHED_H

#include <stdbool.h>
#include <stdio.h>

#include "core/status.h"
#include "profile/profile.h"

#define GL_PLAN_MAX_MEMBERS 16
#define GL_PLAN_MAX_LETS 16

typedef struct {
  char name[48];
  int pm;             /* index of the model in the profile */
  double slo_ms;
  double pct;         /* percentile the SLO applies to (99) */
  double rate;        /* requested rate, req/s */
  double mem_mb;      /* footprint (from the profile unless set) */
} gl_sched_model_t;

typedef struct {
  int model;          /* index into the input's models */
  int batch;
  double rate;        /* rate share routed here, req/s */
  double tput;        /* the most this member can serve here, req/s */
  double lat_ms;      /* predicted latency of one batch (alpha, overhead and margin included) */
  double alpha;       /* interference factor */
} gl_sched_member_t;

typedef struct {
  int units;
  int n_members;
  bool saturated;     /* runs back to back (one member) */
  double duty_ms, occupancy;
  gl_sched_member_t m[GL_PLAN_MAX_MEMBERS];
} gl_sched_let_t;

typedef struct {
  int n_lets;
  gl_sched_let_t lets[GL_PLAN_MAX_LETS];
} gl_sched_device_t;

typedef struct {
  char policy[24];
  int n_devices, n_models;
  gl_sched_device_t *dev;  /* [n_devices] */
  double *served;         /* [n_models] planned throughput per model */
  bool feasible;
  char why[200];          /* when infeasible */
  int devices_used;       /* devices with at least one model (for bound: the bound) */
  int total_units;
} gl_sched_plan_t;

typedef struct {
  const gl_profile_t *prof;
  int n_devices;
  int n_models;
  const gl_sched_model_t *models;
  double latency_ratio;   /* 1.1 */
  double mem_room;        /* 0.9 */
  double ctx_mb;          /* 1230 per newly used gpu-let */
  int max_members;        /* 3 (time-sharing "Max Model") */
  int max_batch;          /* 32 */
  double icoef[5];        /* interference coefficients (default: the profile's) */
} gl_sched_input_t;

/* Fills the research defaults and the profile's coefficients. */
void gl_sched_input_defaults(gl_sched_input_t *in, const gl_profile_t *prof);

/* Known policies, NULL-terminated. */
extern const char *const gl_sched_policies[];

/* Plans with `policy`; out is initialised here and freed with gl_sched_plan_fini. An infeasible plan is
 * GL_OK with out->feasible false and out->why set; errors are for bad input only. */
GL_MUST_USE gl_status_t gl_sched_plan(const char *policy, const gl_sched_input_t *in, gl_sched_plan_t *out);
void gl_sched_plan_fini(gl_sched_plan_t *p);
/* Device-equivalents of work at the best throughput per unit of every model (the bound's core). */
double gl_sched_bound_work(const gl_sched_input_t *in);
/* Smallest device count (1..max) for which the policy finds a feasible plan; -1 if none. */
int gl_sched_devices_needed(const char *policy, const gl_sched_input_t *in, int max);

/* Deep copy (out is initialised here; free with gl_sched_plan_fini). */
GL_MUST_USE gl_status_t gl_sched_plan_copy(const gl_sched_plan_t *src, gl_sched_plan_t *out);

/* ---- re-planning (PAPER.md §9) ---- */
/* Incremental re-plan: keeps every gpu-let of `old` that serves only unchanged models (changed[i]
 * false) exactly as it is, takes the changed models out, and places them at in->models[].rate in
 * the free space without repartitioning a device that still holds a kept gpu-let. gpulet and
 * gpulet-int use their own placement (free gpu-lets of occupied devices too, then whole free
 * devices); the other packing policies (sbp, fine, static) plan the changed models alone onto the
 * devices left wholly free; triton and bound have no incremental form. out->feasible is false
 * (with why) when the changed models do not fit that way. old must have in->n_devices devices. */
GL_MUST_USE gl_status_t gl_sched_replan_incremental(const char *policy, const gl_sched_input_t *in, const gl_sched_plan_t *old,
                                                    const bool *changed, gl_sched_plan_t *out);
/* The epoch's re-plan: incremental first, the full plan (gl_sched_plan) when that fails.
 * *incremental tells which one out holds. */
GL_MUST_USE gl_status_t gl_sched_replan(const char *policy, const gl_sched_input_t *in, const gl_sched_plan_t *old,
                                        const bool *changed, gl_sched_plan_t *out, bool *incremental);

/* ---- the latency and duty-cycle model (PAPER.md §4-5) ---- */
/* L(m,b,units) = (T_prof*alpha + T_batch) * latency_ratio, ms; m indexes in->models. */
double gl_sched_latency(const gl_sched_input_t *in, int m, int b, int units, double alpha);
/* Saturated gpu-let: largest b with 2L(b) <= SLO (1 if none); *tput = 1000 b / L(b). */
int gl_sched_sat_batch(const gl_sched_input_t *in, int m, int units, double alpha, double *tput);
/* Residual gpu-let at rate r: largest b with L(b) + 1000 b/r <= SLO (or b = 1 when L(1) < 1000/r
 * and L(1) < SLO); 0 if none. *duty = max(1000 b/r, L(b)). */
int gl_sched_res_batch(const gl_sched_input_t *in, int m, int units, double rate, double alpha, double *duty);
/* The research's size menu on this profile (20/40/50/60/80/100 % as granted units); n returned. */
int gl_sched_menu(const gl_sched_input_t *in, bool with50, int *sizes);
/* Knee (PAPER.md §6) of model m over the menu. */
int gl_sched_knee(const gl_sched_input_t *in, int m, const int *menu, int n_menu);

/* ---- interference (PAPER.md §8) ---- */
/* alpha of self (model m, batch b, units u) next to other (m2, b2, u2); >= 1. */
double gl_sched_alpha(const gl_sched_input_t *in, int m, int b, int u, int m2, int b2, int u2);
/* Least-squares fit of the 5 coefficients from n co-run samples: x[i] = {L2 self, L2 other,
 * DRAM self, DRAM other} (share-scaled fractions), y[i] = measured slowdown. n >= 5. */
GL_MUST_USE gl_status_t gl_interference_fit(const double (*x)[4], const double *y, int n, double coef[5]);

/* ---- plan output ---- */
GL_MUST_USE gl_status_t gl_sched_plan_write_json(const gl_sched_plan_t *p, const gl_sched_input_t *in, FILE *f);
void gl_sched_plan_print(const gl_sched_plan_t *p, const gl_sched_input_t *in, FILE *f);
/* Lines "build dev D units U models..." / "retire ..." turning old into new; returns changes. */
int gl_sched_plan_diff(const gl_sched_plan_t *old, const gl_sched_plan_t *nw, const gl_sched_input_t *in, FILE *f);

/* ---- rate estimation and re-plan triggers (PAPER.md §9) ---- */
#define GL_RATE_BUCKETS 64
typedef struct {
  double bucket_s;        /* width of one bucket (1 s) */
  int window;             /* buckets in the window (30) */
  long long counts[GL_RATE_BUCKETS];
  long long first_bucket; /* index of the oldest bucket kept */
} gl_rate_est_t;
void gl_rate_init(gl_rate_est_t *r, double bucket_s, int window);
void gl_rate_observe(gl_rate_est_t *r, double t_s, long long n);
/* Largest per-bucket rate over the complete buckets of the window ending at t_s, req/s. */
double gl_rate_max(const gl_rate_est_t *r, double t_s);
/* Planning target: max * 1.2 (* 1.5 below 125 req/s). */
double gl_sched_target_rate(double max_rate);
/* +1 re-plan up (> 5% and > 10 req/s above), -1 re-plan down (> 10% below), 0 keep. */
int gl_sched_replan_trigger(double old_target, double new_target);

#endif
