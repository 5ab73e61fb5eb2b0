/* cli/profile_int.h - private to `gpulet profile`: the measuring state shared by cmd_profile.c
 * (arguments, devices, measuring), profile_file.c (the profile file: writing and resuming) and
 * profile_run.c (running one plan and timing it). */
#ifndef GL_CLI_PROFILE_INT_H
#define GL_CLI_PROFILE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "engine/engine.h"
#include "part/part.h"
#include "profile/profile.h"

/* From sched/sched.h, which cannot be included next to engine/engine.h: both define gl_plan_t. */
gl_status_t gl_interference_fit(const double (*x)[4], const double *y, int n, double coef[5]);

#define MAXM 32
#define MAXCB 8

typedef struct {
  int iters_min, iters_max, warmup;
  double cap_s, ci;
} meas_opts_t;

typedef struct {
  const char *device, *out, *note;
  char *model_args[MAXM];
  int n_models;
  int sizes[GL_PROFILE_MAX_SIZES], n_sizes;
  int batches[GL_PROFILE_MAX_BATCHES], n_batches;
  int cbatches[MAXCB], n_cb;
  meas_opts_t mo;
  int seq;
  bool resume, corun;
  double corun_s;
} opts_t;

/* One model's measured state; the profile file is rebuilt from these after every measurement. */
typedef struct {
  char name[GL_PROFILE_NAME];
  char source[160]; /* "zoo:resnet50" or the ONNX path */
  gl_model_t *m;
  double weights_bytes;
  double *arena; /* [nb] bytes, NaN unknown */
  double *med, *p99, *ci; /* [nb*ns] */
  int *iters;             /* [nb*ns] */
  double *batch_ms;       /* [nb] */
} mstate_t;

typedef struct {
  int a, b, ba, bb, ua, ub; /* model indexes, batches, units */
  double alone_a, alone_b, co_a, co_b; /* medians, ms */
  int na, nb;
} corun_t;

typedef struct {
  opts_t o;
  gl_part_dev_t *dev;
  gl_part_dev_info_t info;
  gl_backend_t *be;
  mstate_t ms[MAXM];
  int nm;
  corun_t *co;
  int n_co, cap_co;
  double mem_bw, llc_bw, llc_bytes, l2_bytes, dev_mem_mb;
  bool gpu; /* a CUDA device (green-context partitions) */
  char who[64], when[32], commit[48], started_load[64];
  char resumed[160]; /* "resumed at WHEN on COMMIT" when --resume kept an earlier run's cells */
  int64_t t_start;
  long cells_total, cells_done;
  double cells_s;          /* seconds spent on measured cells */
  double work_total, work_done; /* the same in batch-samples, for the ETA (time grows with batch) */
} prof_t;

/* ---------- argument parsing ---------- */

/* profile_file.c */
/* Index of x in v[0..n), or -1. */
int gl__prof_idx_of(const int *v, int n, int x);
/* The research's name of a zoo model (mobilenetv2 -> mobilenet_v2...), or zoo itself. */
const char *gl__prof_research_name(const char *zoo);
/* Writes the profile of P's state to its output file atomically (final: the run is done). */
gl_status_t gl__prof_write_file(prof_t *P, bool final);
/* Loads what the output file already holds (--resume). */
gl_status_t gl__prof_resume_from(prof_t *P);

/* profile_run.c: one compiled plan with its inputs and outputs, run and timed on a partition. */
typedef struct {
  gl_plan_t *plan;
  gl_tensor_t *ins, *outs;
  int n_in, n_out;
} runner_t;

/* A job: compile (if needed), warm up, time until the median is stable or the cap is reached. */
typedef struct {
  const gl_model_t *m;
  gl_backend_t *be;
  int batch;
  const meas_opts_t *mo;
  runner_t *r;       /* NULL: compile a private one and free it after */
  double med, p99, ci, secs;
  int n;
  size_t arena, consts;
  char err[256];
} cell_job_t;

/* A job: compile a runner for the partition's placement into *r. */
typedef struct {
  const gl_model_t *m;
  gl_backend_t *be;
  int batch;
  runner_t *r;
  char err[256];
} make_job_t;

/* Compiles m at batch for placement pl and allocates filled inputs and outputs. */
gl_status_t gl__prof_runner_make(const gl_model_t *m, gl_backend_t *be, int batch, const gl_placement_t *pl,
                                 runner_t *r);
void gl__prof_runner_free(runner_t *r);
/* One run, waited for; its wall time in ms. */
gl_status_t gl__prof_runner_once(runner_t *r, double *ms);
/* gl_part_run_sync jobs: arg is a cell_job_t / make_job_t. */
gl_status_t gl__prof_job_cell(gl_part_t *p, void *arg);
gl_status_t gl__prof_job_make(gl_part_t *p, void *arg);

#endif
