/* cli/cmd_gpulets.c - `gpulet gpulets OUT_DIR`: the GPU partition benchmark for the H100 checklist.
 * On green-context gpu-lets it measures: the device's SM granularity and smallest gpu-let; the
 * time to build and tear down partition sets; model A's latency at batch 1, 8, 32 on gpu-lets of
 * 10..100% of the SMs; two models on a 50%+50% split, each alone and both together (pair
 * throughput, slowdown of each); and that split against running both one after the other on
 * the whole GPU at their SLO batch sizes (the goal: >= 1.5x). Raw results go to OUT_DIR as CSV.
 * Without a GPU (no module, no driver, the stub driver) it fails with the reason and exit 1.
 * Only compiled here (no GPU on the build machines): every number it prints is unmeasured. */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/stats.h"
#include "engine/engine.h"
#include "part/part.h"

#define MAX_SAMPLES 200000

/* One model compiled for one batch on one partition (made and freed on its executor). */
typedef struct {
  const gl_model_t *m;
  gl_backend_t *be;
  int64_t batch;
  int warmup;
  gl_plan_t *plan;
  gl_tensor_t *ins, *outs;
  int64_t compile_ns;
} runner_t;

static gl_status_t job_compile(gl_part_t *p, void *arg) {
  runner_t *r = arg;
  gl_compile_opts_t co = {.batch = r->batch};
  gl_part_placement(p, &co.placement);
  int64_t t0 = gl_now_ns();
  GL_TRY(gl_model_compile(r->m, r->be, &co, &r->plan));
  r->compile_ns = gl_now_ns() - t0;
  gl_plan_t *pl = r->plan;
  r->ins = gl_calloc((size_t)pl->n_inputs + 1, sizeof *r->ins);
  r->outs = gl_calloc((size_t)pl->n_outputs + 1, sizeof *r->outs);
  if (!r->ins || !r->outs) return gl_err(GL_ENOMEM, "out of memory");
  for (int i = 0; i < pl->n_inputs; i++) {
    GL_TRY(gl_tensor_alloc(&r->ins[i], pl->inputs[i].dtype, &pl->inputs[i].shape));
    memset(r->ins[i].data, 0, (size_t)gl_shape_numel(&r->ins[i].shape) * gl_dtype_size(r->ins[i].dtype));
  }
  GL_TRY(gl_plan_alloc_outputs(pl, r->outs));
  for (int w = 0; w < r->warmup; w++) {
    GL_TRY(gl_plan_run(pl, r->ins, r->outs));
    GL_TRY(gl_plan_wait(pl));
  }
  return GL_OK;
}

static gl_status_t job_free(gl_part_t *p, void *arg) {
  runner_t *r = arg;
  for (int i = 0; r->plan && r->ins && i < r->plan->n_inputs; i++) gl_tensor_fini(&r->ins[i]);
  for (int i = 0; r->plan && r->outs && i < r->plan->n_outputs; i++) gl_tensor_fini(&r->outs[i]);
  gl_free(r->ins);
  gl_free(r->outs);
  gl_plan_destroy(r->plan);
  r->ins = r->outs = NULL;
  r->plan = NULL;
  return GL_OK;
}

/* Frees r's plan on its partition's executor (inside its context); job_free cannot fail. */
static void free_on(gl_part_t *p, runner_t *r) {
  gl_status_t st = gl_part_run_sync(p, job_free, r);
  (void)st;
}

/* Closed loop over one or two runners (two: one after the other, the whole-GPU baseline), from
 * start_ns until `iters` rounds are done (iters > 0) or end_ns passes. */
typedef struct {
  runner_t *r[2];
  int n_r;
  long iters;
  int64_t start_ns, end_ns;
  double *lat[2]; /* ms per run, per runner */
  long n;         /* rounds done */
  int64_t t_first, t_last;
  gl_status_t st;
  char err[256];
  atomic_int done;
} loop_t;

static gl_status_t job_loop(gl_part_t *p, void *arg) {
  loop_t *l = arg;
  while (gl_now_ns() < l->start_ns) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  l->t_first = gl_now_ns();
  l->st = GL_OK;
  for (l->n = 0; l->n < MAX_SAMPLES; l->n++) {
    if (l->iters > 0 ? l->n >= l->iters : gl_now_ns() >= l->end_ns) break;
    for (int k = 0; k < l->n_r; k++) {
      runner_t *r = l->r[k];
      int64_t s = gl_now_ns();
      gl_status_t st = gl_plan_run(r->plan, r->ins, r->outs);
      if (st == GL_OK) st = gl_plan_wait(r->plan);
      if (st < 0) {
        l->st = st;
        snprintf(l->err, sizeof l->err, "%s", gl_errmsg());
        goto out;
      }
      l->lat[k][l->n] = gl_ns_to_ms(gl_now_ns() - s);
    }
  }
out:
  l->t_last = gl_now_ns();
  atomic_store(&l->done, 1);
  return l->st;
}

static gl_status_t loop_init(loop_t *l, runner_t *a, runner_t *b) {
  memset(l, 0, sizeof *l);
  l->r[0] = a, l->r[1] = b, l->n_r = b ? 2 : 1;
  for (int k = 0; k < l->n_r; k++)
    if (!(l->lat[k] = gl_malloc(sizeof(double) * MAX_SAMPLES))) return gl_err(GL_ENOMEM, "out of memory");
  return GL_OK;
}
static void loop_fini(loop_t *l) { gl_free(l->lat[0]), gl_free(l->lat[1]); }

typedef struct {
  double p50, p99, mean, items_per_s;
} stat_t;

static stat_t loop_stat(loop_t *l, int k) {
  stat_t s = {0};
  size_t n = (size_t)l->n;
  if (!n) return s;
  gl_sort_doubles(l->lat[k], n);
  s.p50 = gl_percentile_sorted(l->lat[k], n, 50);
  s.p99 = gl_percentile_sorted(l->lat[k], n, 99);
  s.mean = gl_mean(l->lat[k], n);
  double secs = (double)(l->t_last - l->t_first) / 1e9;
  s.items_per_s = secs > 0 ? (double)n * (double)l->r[k]->batch / secs : 0;
  return s;
}

/* Runs loops on up to two partitions at the same time (each gets one loop). */
static gl_status_t run_loops(gl_part_t **parts, loop_t **loops, int n, double seconds, long iters) {
  int64_t start = gl_now_ns() + 20000000; /* both begin together */
  int submitted = 0;
  gl_status_t st = GL_OK;
  for (int i = 0; i < n && st == GL_OK; i++) {
    loops[i]->start_ns = start;
    loops[i]->end_ns = start + (int64_t)(seconds * 1e9);
    loops[i]->iters = iters;
    atomic_store(&loops[i]->done, 0);
    if ((st = gl_part_submit(parts[i], job_loop, loops[i])) == GL_OK) submitted++;
  }
  for (int i = 0; i < submitted; i++) /* the loops use the caller's buffers: wait for each */
    while (!atomic_load(&loops[i]->done)) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  if (st < 0) return st;
  for (int i = 0; i < n; i++)
    if (loops[i]->st < 0) return gl_err(loops[i]->st, "%s", loops[i]->err);
  return GL_OK;
}

static FILE *open_out(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) fprintf(stderr, "gpulet gpulets: cannot write %s: %s\n", path, strerror(errno));
  return f;
}

typedef struct {
  const char *out;
  gl_part_dev_t *dev;
  gl_backend_t *be;
  gl_model_t *ma, *mb;
  const char *name_a, *name_b;
  long batch_a, batch_b, iters, warmup, reps;
  double seconds;
  bool quick;
} bench_t;

static void print_device(bench_t *b, FILE *f) {
  gl_part_dev_info_t info;
  gl_part_dev_info(b->dev, &info);
  fprintf(f, "device %s\nsms %d\nsm_granularity %d\nsmallest_gpulet_sms %d\ngroups %d\ngroup_sms %d\n"
             "remainder_sms %d (given only with the whole device)\nsplit_ms %.3f\n",
          info.name, info.units_total, info.unit_align, info.unit_min, info.groups, info.group_units,
          info.rem_units, gl_ns_to_ms(info.setup_ns));
  fprintf(f, "(the driver's minSmPartitionSize and smCoscheduledAlignment are in gpulet doctor's green line)\n");
}

/* Build and tear down partition sets, reps times each. */
static gl_status_t bench_setup(bench_t *b) {
  FILE *f = open_out(b->out, "setup.csv");
  if (!f) return gl_err(GL_EIO, "cannot write setup.csv");
  fprintf(f, "set,rep,parts,sms_each,build_ms,teardown_ms,green_create_ms_max,green_destroy_ms_max\n");
  gl_part_dev_info_t info;
  gl_part_dev_info(b->dev, &info);
  int min_n = info.units_total / info.unit_min;
  if (min_n > 64) min_n = 64;
  struct { const char *name; int n; double share; int units; } sets[] = {
      {"whole", 1, 1.0, 0}, {"halves", 2, 0.0, 0}, {"quarters", 4, 0.0, 0}, {"smallest", min_n, 0.0, info.unit_min}};
  sets[1].units = info.units_total / 2 / info.unit_align * info.unit_align;
  sets[2].units = info.units_total / 4 / info.unit_align * info.unit_align;
  gl_status_t st = GL_OK;
  gl_part_t *parts[64];
  for (size_t s = 0; s < sizeof sets / sizeof sets[0] && st == GL_OK; s++) {
    for (long rep = 0; rep < b->reps && st == GL_OK; rep++) {
      int made = 0;
      int64_t cmax = 0, dmax = 0;
      int64_t t0 = gl_now_ns();
      gl_part_grant_t g = {0};
      for (int i = 0; i < sets[s].n && st == GL_OK; i++) {
        st = sets[s].units ? gl_part_create_units(b->dev, sets[s].units, NULL, &parts[i], &g)
                           : gl_part_create(b->dev, sets[s].share, NULL, &parts[i], &g);
        if (st == GL_OK) {
          made++;
          if (g.create_ns > cmax) cmax = g.create_ns;
        }
      }
      int64_t t1 = gl_now_ns();
      for (int i = 0; i < made; i++) {
        gl_part_destroy(parts[i]);
        gl_part_dev_info_t di;
        gl_part_dev_info(b->dev, &di);
        if (di.destroy_ns > dmax) dmax = di.destroy_ns;
      }
      int64_t t2 = gl_now_ns();
      if (st == GL_OK)
        fprintf(f, "%s,%ld,%d,%d,%.3f,%.3f,%.3f,%.3f\n", sets[s].name, rep, made, g.units,
                gl_ns_to_ms(t1 - t0), gl_ns_to_ms(t2 - t1), gl_ns_to_ms(cmax), gl_ns_to_ms(dmax));
    }
  }
  fclose(f);
  if (st < 0) return st;
  /* One smallest gpu-let made and destroyed many times: p50/p99 of the green context + stream
   * creation (grant.create_ns), its teardown (destroy_ns), and the whole partition with its
   * executor thread (GPU.md section 7 asks for these; they are unpublished). */
  if (!(f = open_out(b->out, "green_ctx_times.csv"))) return gl_err(GL_EIO, "cannot write green_ctx_times.csv");
  long n = b->reps * 40;
  double *t = gl_malloc(sizeof(double) * 4 * (size_t)n);
  if (!t) {
    fclose(f);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  long k = 0;
  for (; k < n && st == GL_OK; k++) {
    gl_part_t *p;
    gl_part_grant_t g;
    int64_t t0 = gl_now_ns();
    if ((st = gl_part_create_units(b->dev, info.unit_min, NULL, &p, &g)) < 0) break;
    int64_t t1 = gl_now_ns();
    gl_part_destroy(p);
    int64_t t2 = gl_now_ns();
    gl_part_dev_info_t di;
    gl_part_dev_info(b->dev, &di);
    t[k] = gl_ns_to_ms(g.create_ns), t[n + k] = gl_ns_to_ms(di.destroy_ns);
    t[2 * n + k] = gl_ns_to_ms(t1 - t0), t[3 * n + k] = gl_ns_to_ms(t2 - t1);
  }
  fprintf(f, "what,sms,n,p50_ms,p99_ms,max_ms\n");
  static const char *what[4] = {"green_ctx_and_stream_create", "green_ctx_and_stream_destroy",
                                "partition_create_with_executor", "partition_destroy_with_executor"};
  for (int w = 0; w < 4 && k > 0; w++) {
    double *v = t + (size_t)w * (size_t)n;
    gl_sort_doubles(v, (size_t)k);
    fprintf(f, "%s,%d,%ld,%.4f,%.4f,%.4f\n", what[w], info.unit_min, k, gl_percentile_sorted(v, (size_t)k, 50),
            gl_percentile_sorted(v, (size_t)k, 99), v[k - 1]);
    printf("%s (%d SMs, %ld times): p50 %.4f ms, p99 %.4f ms\n", what[w], info.unit_min, k,
           gl_percentile_sorted(v, (size_t)k, 50), gl_percentile_sorted(v, (size_t)k, 99));
  }
  gl_free(t);
  fclose(f);
  return st;
}

/* Model A's latency at batch 1, 8, 32 on gpu-lets of 10..100%. */
static gl_status_t bench_sweep(bench_t *b) {
  FILE *f = open_out(b->out, "latency.csv");
  if (!f) return gl_err(GL_EIO, "cannot write latency.csv");
  fprintf(f, "model,share_asked,sms,batch,compile_ms,p50_ms,p99_ms,mean_ms,items_per_s,runs\n");
  static const int batches[] = {1, 8, 32};
  int last_units = -1;
  double p50_first = 0, p50_last = 0; /* batch 32 on the smallest and the largest gpu-let */
  int sms_first = 0, sms_last = 0;
  gl_status_t st = GL_OK;
  for (int pct = 10; pct <= 100 && st == GL_OK; pct += b->quick ? 30 : 10) {
    gl_part_t *p;
    gl_part_grant_t g;
    if ((st = gl_part_create(b->dev, pct / 100.0, NULL, &p, &g)) < 0) break;
    if (g.units == last_units) { /* two asks rounding to the same gpu-let: measure once */
      gl_part_destroy(p);
      continue;
    }
    last_units = g.units;
    for (size_t k = 0; k < sizeof batches / sizeof batches[0] && st == GL_OK; k++) {
      runner_t r = {.m = b->ma, .be = b->be, .batch = batches[k], .warmup = (int)b->warmup};
      loop_t l;
      loop_t *lp = &l;
      st = loop_init(&l, &r, NULL);
      if (st == GL_OK) st = gl_part_run_sync(p, job_compile, &r);
      if (st == GL_OK) st = run_loops(&p, &lp, 1, 0, b->iters);
      if (st == GL_OK) {
        stat_t s = loop_stat(&l, 0);
        fprintf(f, "%s,%.2f,%d,%d,%.1f,%.3f,%.3f,%.3f,%.1f,%ld\n", b->name_a, pct / 100.0, g.units,
                batches[k], gl_ns_to_ms(r.compile_ns), s.p50, s.p99, s.mean, s.items_per_s, l.n);
        printf("sweep %s: %3d SMs batch %2d p50 %.3f ms, %.0f items/s\n", b->name_a, g.units, batches[k],
               s.p50, s.items_per_s);
        if (batches[k] == 32) {
          if (!sms_first) sms_first = g.units, p50_first = s.p50;
          sms_last = g.units, p50_last = s.p50;
        }
        fflush(f);
      }
      free_on(p, &r);
      loop_fini(&l);
    }
    gl_part_destroy(p);
  }
  /* The check that the plans really ran inside their gpu-lets: batch 32 on 1/8 of the SMs must be
   * clearly slower than on all of them. */
  if (st == GL_OK && sms_first && sms_last >= 4 * sms_first) {
    bool scales = p50_first >= 1.5 * p50_last;
    fprintf(f, "# batch 32: %.3f ms on %d SMs vs %.3f ms on %d: %s\n", p50_first, sms_first, p50_last, sms_last,
            scales ? "latency follows the SM count" : "WARNING: latency does not follow the SM count "
                                                      "(is the plan running outside its green context?)");
    printf("sweep check: %s\n", scales ? "latency follows the SM count" : "WARNING: latency does not follow the SM count");
  }
  fclose(f);
  return st;
}

/* A and B on a 50%+50% split, alone and together; then both one after the other on the whole GPU. */
static gl_status_t bench_pair(bench_t *b) {
  FILE *f = open_out(b->out, "pair.csv");
  if (!f) return gl_err(GL_EIO, "cannot write pair.csv");
  fprintf(f, "mode,model,sms,batch,p50_ms,p99_ms,mean_ms,items_per_s,runs\n");
  gl_part_t *pa = NULL, *pb = NULL, *pw = NULL;
  gl_part_grant_t ga, gb, gw;
  runner_t ra = {.m = b->ma, .be = b->be, .batch = b->batch_a, .warmup = (int)b->warmup};
  runner_t rb = {.m = b->mb, .be = b->be, .batch = b->batch_b, .warmup = (int)b->warmup};
  runner_t wa = ra, wb = rb;
  loop_t la, lb, lw;
  memset(&la, 0, sizeof la), memset(&lb, 0, sizeof lb), memset(&lw, 0, sizeof lw);
  gl_status_t st = gl_part_create(b->dev, 0.5, NULL, &pa, &ga);
  if (st == GL_OK) st = gl_part_create(b->dev, 0.5, NULL, &pb, &gb);
  if (st == GL_OK) st = loop_init(&la, &ra, NULL);
  if (st == GL_OK) st = loop_init(&lb, &rb, NULL);
  if (st == GL_OK) st = gl_part_run_sync(pa, job_compile, &ra);
  if (st == GL_OK) st = gl_part_run_sync(pb, job_compile, &rb);
  stat_t alone_a = {0}, alone_b = {0}, tog_a = {0}, tog_b = {0}, seq_a = {0}, seq_b = {0};
  loop_t *lpa = &la, *lpb = &lb;
  long n_alone_a = 0, n_alone_b = 0;
  if (st == GL_OK && (st = run_loops(&pa, &lpa, 1, b->seconds, 0)) == GL_OK) alone_a = loop_stat(&la, 0), n_alone_a = la.n;
  if (st == GL_OK && (st = run_loops(&pb, &lpb, 1, b->seconds, 0)) == GL_OK) alone_b = loop_stat(&lb, 0), n_alone_b = lb.n;
  if (st == GL_OK) {
    gl_part_t *pp[2] = {pa, pb};
    loop_t *ll[2] = {&la, &lb};
    if ((st = run_loops(pp, ll, 2, b->seconds, 0)) == GL_OK) tog_a = loop_stat(&la, 0), tog_b = loop_stat(&lb, 0);
  }
  if (pa) free_on(pa, &ra);
  if (pb) free_on(pb, &rb);
  gl_part_destroy(pa), gl_part_destroy(pb);
  pa = pb = NULL;
  if (st == GL_OK) st = gl_part_create(b->dev, 1.0, NULL, &pw, &gw);
  if (st == GL_OK) st = loop_init(&lw, &wa, &wb);
  if (st == GL_OK) st = gl_part_run_sync(pw, job_compile, &wa);
  if (st == GL_OK) st = gl_part_run_sync(pw, job_compile, &wb);
  loop_t *lpw = &lw;
  if (st == GL_OK && (st = run_loops(&pw, &lpw, 1, b->seconds, 0)) == GL_OK)
    seq_a = loop_stat(&lw, 0), seq_b = loop_stat(&lw, 1);
  if (pw) {
    free_on(pw, &wa);
    free_on(pw, &wb);
    gl_part_destroy(pw);
  }
  if (st == GL_OK) {
#define ROW(mode, name, sms, bt, s, n) \
  fprintf(f, "%s,%s,%d,%ld,%.3f,%.3f,%.3f,%.1f,%ld\n", mode, name, sms, bt, s.p50, s.p99, s.mean, s.items_per_s, n)
    ROW("alone", b->name_a, ga.units, b->batch_a, alone_a, n_alone_a);
    ROW("alone", b->name_b, gb.units, b->batch_b, alone_b, n_alone_b);
    ROW("together", b->name_a, ga.units, b->batch_a, tog_a, la.n);
    ROW("together", b->name_b, gb.units, b->batch_b, tog_b, lb.n);
    ROW("whole_sequential", b->name_a, gw.units, b->batch_a, seq_a, lw.n);
    ROW("whole_sequential", b->name_b, gw.units, b->batch_b, seq_b, lw.n);
#undef ROW
    double pair = tog_a.items_per_s + tog_b.items_per_s, seq = seq_a.items_per_s + seq_b.items_per_s;
    double ratio = seq > 0 ? pair / seq : 0;
    double worst = 1e300; /* each model's split throughput over its share of the sequential one */
    if (seq_a.items_per_s > 0) worst = tog_a.items_per_s / seq_a.items_per_s;
    if (seq_b.items_per_s > 0 && tog_b.items_per_s / seq_b.items_per_s < worst)
      worst = tog_b.items_per_s / seq_b.items_per_s;
    fprintf(f, "# slowdown together/alone (p50): %s %.3f, %s %.3f\n", b->name_a,
            alone_a.p50 > 0 ? tog_a.p50 / alone_a.p50 : 0, b->name_b, alone_b.p50 > 0 ? tog_b.p50 / alone_b.p50 : 0);
    fprintf(f, "# split 50%%+50%% vs one after the other on the whole GPU: %.2fx items/s (goal >= 1.5x); "
               "worst model %.2fx\n", ratio, worst);
    printf("pair %s b%ld + %s b%ld on %d+%d SMs: together %.0f items/s vs sequential on %d SMs %.0f: %.2fx "
           "(goal >= 1.5x), worst model %.2fx; slowdown %.3f / %.3f\n",
           b->name_a, b->batch_a, b->name_b, b->batch_b, ga.units, gb.units, pair, gw.units, seq, ratio, worst,
           alone_a.p50 > 0 ? tog_a.p50 / alone_a.p50 : 0, alone_b.p50 > 0 ? tog_b.p50 / alone_b.p50 : 0);
  }
  loop_fini(&la), loop_fini(&lb), loop_fini(&lw);
  fclose(f);
  return st;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet gpulets OUT_DIR --model-a A.onnx [--model-b B.onnx] [--device N]\n"
          "                      [--batch-a N] [--batch-b N] [--iters K] [--warmup W]\n"
          "                      [--seconds S] [--reps R] [--quick]\n"
          "  GPU partition benchmark on green-context gpu-lets (CUDA >= 12.4): SM granularity and the\n"
          "  smallest gpu-let (device.txt), partition build/teardown times (setup.csv; p50/p99 of one\n"
          "  green context's creation in green_ctx_times.csv), A's latency\n"
          "  at batch 1, 8, 32 on 10..100%% of the SMs (latency.csv), A and B on a 50%%+50%% split\n"
          "  alone and together vs one after the other on the whole GPU at batches --batch-a/-b\n"
          "  (pair.csv; goal >= 1.5x). B defaults to A. Fails with the reason without a GPU.\n");
}

int gl_cmd_gpulets(int argc, char **argv) {
  static const struct option opts[] = {
      {"model-a", required_argument, 0, 'a'}, {"model-b", required_argument, 0, 'B'},
      {"device", required_argument, 0, 'd'},  {"batch-a", required_argument, 0, 'x'},
      {"batch-b", required_argument, 0, 'y'}, {"iters", required_argument, 0, 'k'},
      {"warmup", required_argument, 0, 'w'},  {"seconds", required_argument, 0, 's'},
      {"reps", required_argument, 0, 'r'},    {"quick", no_argument, 0, 'q'},
      {"smoke-cpu", no_argument, 0, 'S'},
      {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  bench_t b = {.batch_a = 32, .batch_b = 32, .iters = 50, .warmup = 5, .reps = 5, .seconds = 3.0};
  const char *path_a = NULL, *path_b = NULL;
  long device = 0;
  bool smoke = false; /* the harness on a virtual H100-shaped device with the CPU backend (tests) */
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
      case 'a': path_a = optarg; break;
      case 'B': path_b = optarg; break;
      case 'd': device = strtol(optarg, &end, 10); if (*end || device < 0 || device > 1024) goto bad; break;
      case 'x': b.batch_a = strtol(optarg, &end, 10); if (*end || b.batch_a < 1 || b.batch_a > 4096) goto bad; break;
      case 'y': b.batch_b = strtol(optarg, &end, 10); if (*end || b.batch_b < 1 || b.batch_b > 4096) goto bad; break;
      case 'k': b.iters = strtol(optarg, &end, 10); if (*end || b.iters < 1 || b.iters > MAX_SAMPLES) goto bad; break;
      case 'w': b.warmup = strtol(optarg, &end, 10); if (*end || b.warmup < 0 || b.warmup > 10000) goto bad; break;
      case 's': b.seconds = strtod(optarg, &end); if (*end || !(b.seconds > 0 && b.seconds <= 600)) goto bad; break;
      case 'r': b.reps = strtol(optarg, &end, 10); if (*end || b.reps < 1 || b.reps > 1000) goto bad; break;
      case 'q': b.quick = true; break;
      case 'S': smoke = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1 || !path_a) {
    usage(stderr);
    return 2;
  }
  b.out = argv[optind];
  if (mkdir(b.out, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "gpulet gpulets: cannot make %s: %s\n", b.out, strerror(errno));
    return 1;
  }
  b.name_a = strrchr(path_a, '/') ? strrchr(path_a, '/') + 1 : path_a;
  if (!path_b) path_b = path_a;
  b.name_b = strrchr(path_b, '/') ? strrchr(path_b, '/') + 1 : path_b;
  int rc = 1;
  FILE *f = NULL;
  if (smoke) {
    gl_part_virtual_cfg_t cfg = {.units = 132, .unit_min = 8, .unit_align = 8, .name = "virtual 132-SM (CPU smoke test)"};
    if (gl_part_dev_virtual_create(&cfg, &b.dev)) return gl_cli_fail("gpulets");
    if (gl_cpu_backend_create(&b.be)) { rc = gl_cli_fail("cpu backend"); goto done; }
  } else {
    if (gl_part_dev_cuda_green_create((int)device, &b.dev)) {
      gl_cli_fail("gpulets");
      if ((f = open_out(b.out, "device.txt"))) fprintf(f, "no green-context device: %s\n", gl_errmsg()), fclose(f);
      return 1;
    }
    if (gl_cuda_backend_open((int)device, &b.be)) { rc = gl_cli_fail("CUDA backend"); goto done; }
  }
  if (gl_model_load(path_a, &b.ma)) { rc = gl_cli_fail(path_a); goto done; }
  if (gl_model_load(path_b, &b.mb)) { rc = gl_cli_fail(path_b); goto done; }
  if (!(f = open_out(b.out, "device.txt"))) goto done;
  print_device(&b, f);
  fclose(f);
  print_device(&b, stdout);
  /* Each part is reported and the next one still runs, so one run gives the whole picture. */
  rc = 0;
  if (bench_setup(&b)) rc = gl_cli_fail("partition setup/teardown");
  if (bench_sweep(&b)) rc = gl_cli_fail("latency sweep");
  if (bench_pair(&b)) rc = gl_cli_fail("pair");
done:
  gl_model_destroy(b.ma);
  gl_model_destroy(b.mb);
  gl_backend_destroy(b.be);
  gl_part_dev_destroy(b.dev);
  return rc;
bad:
  fprintf(stderr, "gpulet gpulets: bad value '%s' for an option\n", optarg);
  return 2;
}
