/* bench/cpu_split_models.c - two zoo models at their SLO batch sizes: each on its own 1-core
 * partition running concurrently (split, gpu-let style) against both time-sharing the whole 2-core
 * CPU one batch after the other; throughput of each arrangement and the ratio.
 * Usage: gl_bench_cpu_split_models PROFILE.json SLO_SCALE SECONDS ROUNDS MODEL_A MODEL_B
 * (zoo names; the batch is the research rule, the largest b <= 32 with 2 L(b) <= SLO * SLO_SCALE,
 * L from PROFILE at 1 core; SLOs from PAPER.md §2). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "backend/cpu/cpu.h"
#include "part/part.h"
#include "profile/profile.h"
#include "zoo/zoo.h"

typedef struct {
  const char *zoo, *research;
  double slo_ms;
} slo_t;

/* PAPER.md §2 (BERT: 22 ms in the table) */
static const slo_t slos[] = {{"lenet", "lenet", 5},           {"googlenet", "googlenet", 66},
                             {"resnet50", "resnet50", 108},    {"ssd-mobilenet", "ssd-mobilenetv1", 202},
                             {"vgg16", "vgg16", 142},          {"mnasnet", "mnasnet1_0", 62},
                             {"mobilenetv2", "mobilenet_v2", 64}, {"densenet161", "densenet161", 202},
                             {"bert-base", "bert", 22}};

typedef struct {
  gl_plan_t *plan;
  gl_tensor_t ins[8], outs[8];
} runner_t;

typedef struct {
  const slo_t *s;
  gl_model_t *m;
  int batch;
  double l1_prof; /* profile latency at 1 core, the batch chosen */
  runner_t one, two; /* compiled for 1 thread (split) and 2 threads (shared) */
} bmodel_t;

static gl_status_t make_runner(bmodel_t *bm, int threads, runner_t *r) {
  gl_backend_t *be;
  GL_TRY(gl_cpu_backend_create(&be));
  gl_compile_opts_t co = {.batch = bm->batch, .placement = {.threads = threads}};
  gl_status_t st = gl_model_compile(bm->m, be, &co, &r->plan);
  if (st < 0) {
    gl_backend_destroy(be); /* once compiled, the plan's be is freed with it (free_runner) */
    return st;
  }
  for (int i = 0; i < r->plan->n_inputs && i < 8; i++) {
    GL_TRY(gl_tensor_alloc(&r->ins[i], r->plan->inputs[i].dtype, &r->plan->inputs[i].shape));
    memset(r->ins[i].data, 0, gl_tensor_nbytes(&r->ins[i]));
  }
  return gl_plan_alloc_outputs(r->plan, r->outs);
}

static void free_runner(runner_t *r) {
  if (!r->plan) return;
  for (int i = 0; i < r->plan->n_inputs && i < 8; i++) gl_tensor_fini(&r->ins[i]);
  for (int i = 0; i < r->plan->n_outputs && i < 8; i++) gl_tensor_fini(&r->outs[i]);
  gl_backend_t *be = r->plan->be;
  gl_plan_destroy(r->plan);
  gl_backend_destroy(be);
}

typedef struct {
  bmodel_t *bm;
  int threads;
  runner_t *r;
} make_t;

/* Compiles on the partition's executor, the thread that will run the plan (as gl_part documents). */
static gl_status_t job_make(gl_part_t *p, void *arg) {
  make_t *m = arg;
  return make_runner(m->bm, m->threads, m->r);
}

static gl_status_t run_once(runner_t *r) {
  GL_TRY(gl_plan_run(r->plan, r->ins, r->outs));
  return gl_plan_wait(r->plan);
}

typedef struct {
  runner_t *a, *b; /* b NULL: one model per job */
  long na, nb;
  double busy_a, busy_b; /* ms spent running each */
} job_t;

static gl_status_t job(gl_part_t *p, void *arg) {
  job_t *j = arg;
  int64_t t = gl_now_ns();
  GL_TRY(run_once(j->a));
  int64_t t2 = gl_now_ns();
  j->na++, j->busy_a += gl_ns_to_ms(t2 - t);
  if (j->b) {
    GL_TRY(run_once(j->b));
    j->nb++, j->busy_b += gl_ns_to_ms(gl_now_ns() - t2);
  }
  return GL_OK;
}

typedef struct {
  gl_part_t *p;
  job_t j;
  int64_t deadline;
  gl_status_t st;
} drv_t;

static void *drive(void *arg) {
  drv_t *d = arg;
  while (gl_now_ns() < d->deadline)
    if ((d->st = gl_part_run_sync(d->p, job, &d->j)) < 0) break;
  return NULL;
}

static const slo_t *find_slo(const char *zoo) {
  for (size_t i = 0; i < sizeof slos / sizeof slos[0]; i++)
    if (!strcmp(slos[i].zoo, zoo)) return &slos[i];
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s PROFILE.json SLO_SCALE SECONDS ROUNDS MODEL_A MODEL_B\n", argv[0]);
    return 2;
  }
  double scale = atof(argv[2]), secs = atof(argv[3]);
  int rounds = atoi(argv[4]);
  if (!(scale > 0) || !(secs > 0) || rounds < 1) {
    fprintf(stderr, "bad SLO_SCALE, SECONDS or ROUNDS\n");
    return 2;
  }
  gl_profile_t *prof;
  if (gl_profile_load(argv[1], &prof) < 0) {
    fprintf(stderr, "%s\n", gl_errmsg());
    return 1;
  }
  bmodel_t bm[2] = {0};
  int rc = 1;
  gl_part_dev_t *dev = NULL, *whole = NULL;
  gl_part_t *parts[3] = {0};
  for (int k = 0; k < 2; k++) {
    bm[k].s = find_slo(argv[5 + k]);
    if (!bm[k].s) {
      fprintf(stderr, "no SLO for '%s' (zoo names: lenet googlenet resnet50 ...)\n", argv[5 + k]);
      goto out;
    }
    int pm = gl_profile_find(prof, bm[k].s->research);
    if (pm < 0) {
      fprintf(stderr, "%s: no '%s' in the profile\n", argv[1], bm[k].s->research);
      goto out;
    }
    double slo = bm[k].s->slo_ms * scale;
    bm[k].batch = 1;
    for (int b = 1; b <= gl_profile_max_batch(prof); b++)
      if (2 * gl_profile_latency(prof, pm, b, 1, false) <= slo) bm[k].batch = b;
    bm[k].l1_prof = gl_profile_latency(prof, pm, bm[k].batch, 1, false);
    gl_zoo_opts_t zo = {.seed = 1, .batch = 0, .seq = 14};
    gl_graph_t *g;
    if (gl_zoo_build(bm[k].s->zoo, &zo, &g) < 0 || gl_model_from_graph(g, &bm[k].m) < 0) {
      fprintf(stderr, "%s: %s\n", bm[k].s->zoo, gl_errmsg());
      goto out;
    }
  }
  if (gl_part_dev_cpu_create(&dev) < 0) {
    fprintf(stderr, "%s\n", gl_errmsg());
    goto out;
  }
  gl_part_dev_info_t info;
  gl_part_dev_info(dev, &info);
  if (info.units_total < 2) {
    fprintf(stderr, "needs 2 cores, the CPU has %d\n", info.units_total);
    goto out;
  }
  /* Partitions live for the whole run and each plan is compiled on the executor that runs it:
   * split = two 1-core partitions, shared = one partition of the whole CPU (2 threads, unpinned). */
  if (gl_part_dev_whole_create(&whole) < 0 || gl_part_create_units(dev, 1, NULL, &parts[0], NULL) < 0 ||
      gl_part_create_units(dev, 1, NULL, &parts[1], NULL) < 0 || gl_part_create(whole, 1.0, NULL, &parts[2], NULL) < 0) {
    fprintf(stderr, "partition: %s\n", gl_errmsg());
    goto out;
  }
  for (int k = 0; k < 2; k++) {
    make_t m1 = {&bm[k], 1, &bm[k].one}, m2 = {&bm[k], 2, &bm[k].two};
    if (gl_part_run_sync(parts[k], job_make, &m1) < 0 || gl_part_run_sync(parts[2], job_make, &m2) < 0) {
      fprintf(stderr, "%s: compile failed\n", bm[k].s->zoo);
      goto out;
    }
  }
  printf("# profile %s; SLO scale x%g (PAPER.md SLOs are for an RTX 2080 Ti); %g s per arrangement, %d rounds\n",
         argv[1], scale, secs, rounds);
  double need = 0; /* the smallest scale at which batch 1 meets 2 L(1) <= SLO on one core */
  for (int k = 0; k < 2; k++) {
    double l1 = gl_profile_latency(prof, gl_profile_find(prof, bm[k].s->research), 1, 1, false);
    if (2 * l1 / bm[k].s->slo_ms > need) need = 2 * l1 / bm[k].s->slo_ms;
  }
  printf("# SLO scale: batch 1 of both models meets 2 L(1) <= SLO on one core from x%.2f on (the research's\n"
         "# rule, PAPER.md §5); x%g leaves room to batch, as the 2080 Ti does at x1\n", need, scale);
  for (int k = 0; k < 2; k++)
    printf("# %s: SLO %g ms x %g = %g ms; batch %d (largest b <= 32 with 2 L(b, 1 core) <= SLO; L = %.2f ms in the profile)\n",
           bm[k].s->research, bm[k].s->slo_ms, scale, bm[k].s->slo_ms * scale, bm[k].batch, bm[k].l1_prof);
  printf("# split = %s on core set A and %s on core set B (1 core each, concurrent, through part/);\n"
         "# shared = the whole CPU (2 OpenMP threads, unpinned) running a batch of %s then a batch of %s, repeatedly\n",
         bm[0].s->research, bm[1].s->research, bm[0].s->research, bm[1].s->research);
  printf("%-6s %5s %8s %8s %10s %10s %10s %10s %11s\n", "arr", "round", "batchesA", "batchesB", "req/s A",
         "req/s B", "req/s sum", "ms/batch A", "ms/batch B");
  double sum_split = 0, sum_shared = 0, sa[2] = {0}, sh[2] = {0};
  for (int r = 0; r < rounds; r++) {
    for (int arr = 0; arr < 2; arr++) {
      gl_part_t *p[2] = {arr == 0 ? parts[0] : parts[2], parts[1]};
      drv_t d[2];
      memset(d, 0, sizeof d);
      int np = arr == 0 ? 2 : 1;
      bool ok = true;
      if (arr == 0) {
        d[0] = (drv_t){.p = p[0], .j = {.a = &bm[0].one}};
        d[1] = (drv_t){.p = p[1], .j = {.a = &bm[1].one}};
      } else {
        d[0] = (drv_t){.p = p[0], .j = {.a = &bm[0].two, .b = &bm[1].two}};
      }
      /* warm up: one job each, untimed */
      for (int i = 0; i < np; i++) {
        job_t w = d[i].j;
        if (gl_part_run_sync(p[i], job, &w) < 0) ok = false;
      }
      pthread_t th[2];
      int64_t t0 = gl_now_ns();
      for (int i = 0; i < np; i++) {
        d[i].deadline = t0 + (int64_t)(secs * 1e9);
        pthread_create(&th[i], NULL, drive, &d[i]);
      }
      for (int i = 0; i < np; i++) pthread_join(th[i], NULL);
      double el = (double)(gl_now_ns() - t0) / 1e9;
      for (int i = 0; i < np; i++)
        if (d[i].st < 0) ok = false;
      if (!ok) {
        fprintf(stderr, "run failed: %s\n", gl_errmsg());
        goto out;
      }
      long na = d[0].j.na, nb = arr == 0 ? d[1].j.na : d[0].j.nb;
      double busy_a = d[0].j.busy_a, busy_b = arr == 0 ? d[1].j.busy_a : d[0].j.busy_b;
      double ra = na * bm[0].batch / el, rb = nb * bm[1].batch / el;
      printf("%-6s %5d %8ld %8ld %10.2f %10.2f %10.2f %10.2f %11.2f\n", arr == 0 ? "split" : "shared", r, na, nb, ra,
             rb, ra + rb, na ? busy_a / na : 0, nb ? busy_b / nb : 0);
      fflush(stdout);
      if (arr == 0) sum_split += ra + rb, sa[0] += ra, sa[1] += rb;
      else sum_shared += ra + rb, sh[0] += ra, sh[1] += rb;
    }
  }
  printf("# mean req/s: split %.2f (A %.2f, B %.2f), shared %.2f (A %.2f, B %.2f)\n", sum_split / rounds,
         sa[0] / rounds, sa[1] / rounds, sum_shared / rounds, sh[0] / rounds, sh[1] / rounds);
  printf("# ratio split/shared: total %.3f, A %.3f, B %.3f\n", sum_split / sum_shared, sa[0] / sh[0], sa[1] / sh[1]);
  rc = 0;
out:
  for (int i = 0; i < 3; i++) gl_part_destroy(parts[i]);
  for (int k = 0; k < 2; k++) {
    free_runner(&bm[k].one);
    free_runner(&bm[k].two);
    gl_model_destroy(bm[k].m);
  }
  gl_part_dev_destroy(dev);
  gl_part_dev_destroy(whole);
  gl_profile_destroy(prof);
  return rc;
}
