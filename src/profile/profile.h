/* profile/profile.h - latency profiles of models on a device kind: file format, lookup, analytic.
 * Owns: gl_profile_t (device description, measured partition sizes and batches, per-model latency
 * tables with median and p99, batching overhead, interference features and coefficients, memory,
 * provenance), reading/writing the JSON format of docs/profile.md with validation, the latency
 * lookup with the research's interpolation (PAPER.md §4) generalised to any size, and the
 * analytic (roofline) generator for "h100" and "rtx2080ti".
 * Does not own: measuring on a real device, the interference model itself (sched/). */
#ifndef GL_PROFILE_PROFILE_H
#define GL_PROFILE_PROFILE_H

#include <stdbool.h>

#include "core/status.h"

#define GL_PROFILE_MAX_SIZES 64
#define GL_PROFILE_MAX_BATCHES 64
#define GL_PROFILE_MAX_FEAT 16
#define GL_PROFILE_NAME 48

typedef struct {
  char name[GL_PROFILE_NAME];
  double mem_mb;                   /* device memory the loaded model needs */
  double *lat_med;                 /* [n_batches * n_sizes], ms, NaN where not measured */
  double *lat_p99;                 /* same layout */
  double *batch_ms;                /* [n_batches] input concatenation/copy cost, ms */
  double l2_pct[GL_PROFILE_MAX_FEAT];   /* interference features per feature batch, % */
  double dram_pct[GL_PROFILE_MAX_FEAT];
} gl_profile_model_t;

typedef struct {
  char kind[16];                   /* "cuda", "cpu", "virtual" */
  char name[GL_PROFILE_NAME];      /* "h100", "rtx2080ti" */
  char unit[8];                    /* "sm", "pct" (MPS share), "core" */
  int total_units;
  int granularity;                 /* grantable sizes are multiples of this ... */
  int min_units;                   /* ... and at least this */
  double mem_mb;
  int n_sizes, sizes[GL_PROFILE_MAX_SIZES];       /* measured sizes, ascending, in units */
  int n_batches, batches[GL_PROFILE_MAX_BATCHES]; /* measured batches, ascending, from 1 */
  int n_feat, feat_batches[GL_PROFILE_MAX_FEAT];  /* batches of the interference features */
  double icoef[5];                 /* c1 L2 self, c2 L2 other, c3 DRAM self, c4 DRAM other, c0 */
  int n_models;
  gl_profile_model_t *models;
  char who[64], when[32], commit[48];
  bool analytic;
} gl_profile_t;

/* Reads and validates a profile file; *out is owned by the caller (gl_profile_destroy). Errors
 * name the file and the JSON path of the offending field. */
GL_MUST_USE gl_status_t gl_profile_load(const char *path, gl_profile_t **out);
GL_MUST_USE gl_status_t gl_profile_parse(const char *json_text, const char *what, gl_profile_t **out);
GL_MUST_USE gl_status_t gl_profile_save(const gl_profile_t *p, const char *path);
void gl_profile_destroy(gl_profile_t *p);

/* Allocates an empty profile with the given tables sized (all latencies NaN). */
gl_profile_t *gl_profile_alloc(int n_models, int n_sizes, int n_batches);
/* Checks the invariants every consumer relies on; returns GL_EPARSE with a message otherwise. */
GL_MUST_USE gl_status_t gl_profile_validate(const gl_profile_t *p, const char *what);

/* Index of the model by name (lenet1..lenet6 map to "lenet"), or -1. */
int gl_profile_find(const gl_profile_t *p, const char *name);
int gl_profile_max_batch(const gl_profile_t *p);

/* Device latency (profiled part only, no batching overhead, no interference), ms, of model m at
 * batch b on `units` units; p99 selects the p99 table. Interpolates (PAPER.md §4): over batch at
 * a measured size; at a size whose batch cell is missing, between the smallest and largest
 * measured sizes with the max-batch ratio; at an unmeasured size, between the neighbouring
 * measured sizes in 1/units. Below the smallest measured size latency scales as 1/units; above
 * the largest it is clamped. Returns INFINITY for b outside 1..max batch or units <= 0. */
double gl_profile_latency(const gl_profile_t *p, int m, int b, int units, bool p99);
/* Batching overhead of model m at batch b, ms (linear between measured batches). */
double gl_profile_batch_ms(const gl_profile_t *p, int m, int b);
/* Interference features of model m at batch b as fractions (PAPER.md §8: linear between the
 * feature batches, clamped at the ends). */
void gl_profile_features(const gl_profile_t *p, int m, int b, double *l2, double *dram);

/* Roofline description of a device for the analytic generator. */
typedef struct {
  const char *name, *kind, *unit;
  int total_units, granularity, min_units;
  int n_sizes, sizes[GL_PROFILE_MAX_SIZES]; /* sizes to tabulate */
  double sms;            /* SMs behind total_units (units may be MPS percent) */
  double peak_flops;     /* dense peak of the precision used, FLOP/s, whole device */
  double mem_bw;         /* bytes/s */
  double launch_us;      /* per-kernel launch/dispatch cost */
  double t_half_us;      /* kernel time per SM at which efficiency is half its maximum */
  double eff_max;        /* best compute efficiency */
  double dtype_bytes;    /* 4 (FP32) or 2 (FP16) */
  double mem_mb;
  double copy_bw;        /* host->device bytes/s for the batch copy; 0 = research curves */
} gl_device_spec_t;

/* Per-sample cost of a model for the analytic generator. */
typedef struct {
  const char *name;
  double gmacs;          /* multiply-adds per sample, G (FLOPs = 2x) */
  double mparams;        /* parameters, M */
  int kernels;           /* kernels per inference (launch overhead counts per kernel) */
  double act_mb;         /* activation traffic per sample at FP32, MB */
  double input_bytes;    /* one sample's input, bytes */
  int input_kind;        /* research batching curve: 0 none, 28, 224, 300, 1 = BERT (1 ms) */
  double mem_mb;         /* memory footprint (PAPER.md §2) */
} gl_model_spec_t;

/* Built-in specs: "h100", "rtx2080ti"; the 9 research models. NULL / 0 when unknown. */
const gl_device_spec_t *gl_profile_device_spec(const char *name);
const gl_model_spec_t *gl_profile_model_specs(int *n);

/* Analytic profile from a device and model specs (labelled analytic). On the rtx2080ti the
 * interference features are PAPER.md's measured UTIL table; elsewhere they are derived from the
 * roofline's memory share. */
GL_MUST_USE gl_status_t gl_profile_analytic_build(const gl_device_spec_t *dev, const gl_model_spec_t *ms,
                                                  int n, gl_profile_t **out);
/* Roofline spec of a CPU: `cores` cores (units), gflops_core FP32 peak per core (0: 220, AVX-512:
 * 2 FMA x 16 lanes x 2 x ~3.4 GHz), mem_bw_gbs DRAM bandwidth (0: 20 GB/s), mem_mb (0: 16384).
 * Dispatch ~3 us per op, half efficiency at 20 us of work per core, at most 70 % of peak. */
void gl_profile_cpu_spec(int cores, double gflops_core, double mem_bw_gbs, double mem_mb, gl_device_spec_t *out);
/* Analytic profile of a built-in device ("h100" or "rtx2080ti"; "cpu" = gl_profile_cpu_spec with
 * the online cores and the defaults) for the 9 research models. */
GL_MUST_USE gl_status_t gl_profile_analytic(const char *device, gl_profile_t **out);

#endif
