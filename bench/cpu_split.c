/* bench/cpu_split.c - two matmul-heavy jobs (dnnl_sgemm) on disjoint 1+1 core partitions versus
 * both time-sharing one partition of all cores: throughput of each arrangement and the ratio.
 * Usage: gl_bench_cpu_split [seconds per arrangement (2)] [n...] (default n: 64 256 1024). */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <oneapi/dnnl/dnnl.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "part/part.h"

typedef struct {
  int n, reps;
  float *a, *b, *c;
} model_t;

typedef struct {
  gl_part_t *part;
  model_t *m;
  int64_t deadline;
  long jobs;
  gl_status_t st;
} driver_t;

static gl_status_t sgemm_job(gl_part_t *p, void *arg) {
  model_t *m = arg;
  for (int r = 0; r < m->reps; r++)
    if (dnnl_sgemm('N', 'N', m->n, m->n, m->n, 1.0f, m->a, m->n, m->b, m->n, 0.0f, m->c, m->n) != dnnl_success)
      return gl_err(GL_EBACKEND, "dnnl_sgemm failed");
  return GL_OK;
}

/* Submits one job at a time to its partition (run_sync) until the deadline. */
static void *drive(void *arg) {
  driver_t *d = arg;
  while (gl_now_ns() < d->deadline) {
    if ((d->st = gl_part_run_sync(d->part, sgemm_job, d->m)) < 0) break;
    d->jobs++;
  }
  return NULL;
}

static int model_init(model_t *m, int n) {
  m->n = n;
  double flops = 2.0 * n * n * n;
  m->reps = flops >= 64e6 ? 1 : (int)(64e6 / flops);
  size_t sz = sizeof(float) * (size_t)n * (size_t)n;
  m->a = gl_aligned_alloc(sz), m->b = gl_aligned_alloc(sz), m->c = gl_aligned_alloc(sz);
  if (!m->a || !m->b || !m->c) return -1;
  for (size_t i = 0; i < (size_t)n * n; i++) m->a[i] = (float)(i % 7) * 0.1f, m->b[i] = (float)(i % 5) * 0.1f;
  return 0;
}

static void model_fini(model_t *m) {
  gl_aligned_free(m->a), gl_aligned_free(m->b), gl_aligned_free(m->c);
}

/* Runs both models for `secs` with model k on parts[k] (the same partition twice = time-sharing).
 * Returns total jobs/s; per-model counts in jobs[2]. */
static double arrangement(gl_part_t *parts[2], model_t ms[2], double secs, long jobs[2]) {
  for (int k = 0; k < 2; k++) /* warm-up: JIT and page faults, on each partition */
    if (gl_part_run_sync(parts[k], sgemm_job, &ms[k]) < 0) return -1;
  driver_t d[2];
  pthread_t t[2];
  int64_t start = gl_now_ns();
  for (int k = 0; k < 2; k++) {
    d[k] = (driver_t){parts[k], &ms[k], start + (int64_t)(secs * 1e9), 0, GL_OK};
    pthread_create(&t[k], NULL, drive, &d[k]);
  }
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  double el = (double)(gl_now_ns() - start) / 1e9;
  for (int k = 0; k < 2; k++) {
    if (d[k].st < 0) return -1;
    jobs[k] = d[k].jobs;
  }
  return (double)(jobs[0] + jobs[1]) / el;
}

/* Sanity baseline without the partition layer: this thread alternates A and B jobs with
 * `threads` OpenMP threads for `secs`. Returns jobs/s. */
static double direct(model_t ms[2], int threads, double secs) {
  int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  (void)sgemm_job(NULL, &ms[0]);
  long jobs = 0;
  int64_t start = gl_now_ns(), end = start + (int64_t)(secs * 1e9);
  while (gl_now_ns() < end)
    if (sgemm_job(NULL, &ms[jobs++ % 2]) < 0) return -1;
  double r = (double)jobs / ((double)(gl_now_ns() - start) / 1e9);
  omp_set_num_threads(before);
  return r;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  if (!(secs > 0 && secs < 600)) {
    fprintf(stderr, "usage: gl_bench_cpu_split [seconds] [n...]\n");
    return 2;
  }
  int sizes[16] = {64, 256, 1024}, n_sizes = 3;
  if (argc > 2) {
    n_sizes = 0;
    for (int i = 2; i < argc && n_sizes < 16; i++) sizes[n_sizes++] = atoi(argv[i]);
  }
  gl_part_dev_t *dev;
  if (gl_part_dev_cpu_create(&dev) < 0) {
    fprintf(stderr, "cpu_split: %s\n", gl_errmsg());
    return 1;
  }
  gl_part_dev_info_t info;
  gl_part_dev_info(dev, &info);
  if (info.units_total < 2) {
    fprintf(stderr, "cpu_split: needs at least 2 cores, this process has %d\n", info.units_total);
    gl_part_dev_destroy(dev);
    return 1;
  }
  int half = info.units_total / 2;
  printf("# cpu %s, %d cores; split = %d|%d cores, shared = both models on one %d-core partition\n",
         info.name, info.units_total, half, half, 2 * half);
  printf("# job = reps x sgemm n^3 (about 64 MFLOP or one sgemm); %.1f s per arrangement\n", secs);
  printf("# direct = no partition layer: the main thread alternates A and B with all cores' threads\n");
  printf("%6s %5s %12s %9s %9s %13s %9s %9s %7s %12s\n", "n", "reps", "split_jobs/s", "split_A", "split_B",
         "shared_jobs/s", "shared_A", "shared_B", "ratio", "direct_jobs/s");
  int rc = 0;
  for (int s = 0; s < n_sizes && rc == 0; s++) {
    model_t ms[2];
    if (sizes[s] < 1 || sizes[s] > 8192 || model_init(&ms[0], sizes[s]) || model_init(&ms[1], sizes[s])) {
      fprintf(stderr, "cpu_split: bad size or out of memory for n=%d\n", sizes[s]);
      rc = 1;
      break;
    }
    gl_part_t *a = NULL, *b = NULL, *both = NULL;
    long js[2] = {0, 0}, jt[2] = {0, 0};
    double split = -1, shared = -1;
    if (gl_part_create_units(dev, half, NULL, &a, NULL) == GL_OK &&
        gl_part_create_units(dev, half, NULL, &b, NULL) == GL_OK) {
      gl_part_t *p[2] = {a, b};
      split = arrangement(p, ms, secs, js);
    }
    gl_part_destroy(a);
    gl_part_destroy(b);
    if (split >= 0 && gl_part_create_units(dev, 2 * half, NULL, &both, NULL) == GL_OK) {
      gl_part_t *p[2] = {both, both};
      shared = arrangement(p, ms, secs, jt);
    }
    gl_part_destroy(both);
    if (split < 0 || shared < 0) {
      fprintf(stderr, "cpu_split: n=%d: %s\n", sizes[s], gl_errmsg());
      rc = 1;
    } else {
      double gf = 2.0 * ms[0].n * ms[0].n * ms[0].n * ms[0].reps / 1e9;
      double dir = direct(ms, 2 * half, secs);
      printf("%6d %5d %12.1f %9ld %9ld %13.1f %9ld %9ld %7.2f %12.1f  # GFLOP/s split %.0f shared %.0f direct %.0f\n",
             ms[0].n, ms[0].reps, split, js[0], js[1], shared, jt[0], jt[1], split / shared, dir,
             split * gf, shared * gf, dir * gf);
    }
    model_fini(&ms[0]);
    model_fini(&ms[1]);
  }
  gl_part_dev_destroy(dev);
  return rc;
}
