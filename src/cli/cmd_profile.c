/* cli/cmd_profile.c - `gpulet profile --device cpu ...`: measures latency profiles on partitions. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/stats.h"
#include "engine/engine.h"
#include "part/part.h"
#include "profile/profile.h"
#include "zoo/zoo.h"

#include "cli/profile_int.h"

static int parse_ints(const char *s, int *dst, int max, int *n, const char *what) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 1 || v > 100000 || (*end && *end != ',')) {
      fprintf(stderr, "gpulet profile: %s: '%s' is not a comma-separated list of positive integers\n", what, s);
      return -1;
    }
    if (*n >= max) {
      fprintf(stderr, "gpulet profile: %s: at most %d values\n", what, max);
      return -1;
    }
    dst[(*n)++] = (int)v;
    p = *end ? end + 1 : end;
  }
  if (!*n) {
    fprintf(stderr, "gpulet profile: %s: empty list\n", what);
    return -1;
  }
  for (int i = 1; i < *n; i++)
    if (dst[i] <= dst[i - 1]) {
      fprintf(stderr, "gpulet profile: %s: values must be strictly ascending ('%s')\n", what, s);
      return -1;
    }
  return 0;
}

static int parse_num(const char *s, double lo, double hi, double *dst, const char *what) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !(v >= lo && v <= hi)) {
    fprintf(stderr, "gpulet profile: %s: '%s' is not a number in %g..%g\n", what, s, lo, hi);
    return -1;
  }
  *dst = v;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet profile --device cpu --models M1,M2,... -o FILE [options]\n"
          "       gpulet profile --analytic h100|rtx2080ti -o FILE\n"
          "  Measures each model's latency (median, p99) per partition size and batch on real\n"
          "  partitions of the device and writes a profile (docs/profile.md, docs/profile-measure.md).\n"
          "  --models LIST     zoo names (lenet, resnet50, ...) or ONNX paths; NAME=ALIAS sets the name in\n"
          "                    the profile (zoo models default to the research names: mobilenet_v2, ...)\n"
          "  --sizes LIST      partition sizes in cores (default 1..all)\n"
          "  --batches LIST    batch sizes, from 1, ascending (default 1,2,4,8,16,32)\n"
          "  --iters N         most timed runs per cell (default 200); --min-iters N (default 10)\n"
          "  --warmup W        untimed runs per cell (default 2)\n"
          "  --time-cap S      seconds per cell before stopping early (default 2; at least 3 runs)\n"
          "  --ci F            stop when the median's 95%% CI half-width is below F of it (default 0.02)\n"
          "  --seq N           BERT sequence length (default 14, the research's input)\n"
          "  --corun           also measure pairs on complementary partitions (interference fit)\n"
          "  --corun-batches L batches of the co-runs (default 1,4); --corun-s S seconds each (default 1;\n"
          "                    each co-run also times both models alone for S/2 right before)\n"
          "  --resume          keep the cells and co-runs already in FILE, measure the rest\n"
          "  --note TEXT       free text stored in the file's notes\n");
}

static int parse_args(int argc, char **argv, opts_t *o) {
  enum { O_MINIT = 256, O_CAP, O_CI, O_SEQ, O_CB, O_CS, O_NOTE };
  static const struct option opts[] = {{"device", required_argument, 0, 'd'},
                                       {"models", required_argument, 0, 'm'},
                                       {"sizes", required_argument, 0, 's'},
                                       {"batches", required_argument, 0, 'b'},
                                       {"iters", required_argument, 0, 'i'},
                                       {"min-iters", required_argument, 0, O_MINIT},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"time-cap", required_argument, 0, O_CAP},
                                       {"ci", required_argument, 0, O_CI},
                                       {"seq", required_argument, 0, O_SEQ},
                                       {"corun", no_argument, 0, 'c'},
                                       {"corun-batches", required_argument, 0, O_CB},
                                       {"corun-s", required_argument, 0, O_CS},
                                       {"resume", no_argument, 0, 'r'},
                                       {"note", required_argument, 0, O_NOTE},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->mo = (meas_opts_t){.iters_min = 10, .iters_max = 200, .warmup = 2, .cap_s = 2.0, .ci = 0.02};
  o->seq = 14;
  o->corun_s = 1.0;
  int defb[] = {1, 2, 4, 8, 16, 32};
  memcpy(o->batches, defb, sizeof defb);
  o->n_batches = 6;
  o->cbatches[0] = 1, o->cbatches[1] = 4, o->n_cb = 2;
  static char models_buf[4096];
  double v;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:m:s:b:i:w:cro:h", opts, NULL)) != -1) {
    switch (c) {
      case 'd': o->device = optarg; break;
      case 'm': {
        if (strlen(optarg) >= sizeof models_buf) {
          fprintf(stderr, "gpulet profile: --models: list too long\n");
          return 2;
        }
        strcpy(models_buf, optarg);
        o->n_models = 0;
        for (char *save = NULL, *t = strtok_r(models_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
          if (o->n_models >= MAXM) {
            fprintf(stderr, "gpulet profile: --models: at most %d models\n", MAXM);
            return 2;
          }
          o->model_args[o->n_models++] = t;
        }
        break;
      }
      case 's': if (parse_ints(optarg, o->sizes, GL_PROFILE_MAX_SIZES, &o->n_sizes, "--sizes")) return 2; break;
      case 'b': if (parse_ints(optarg, o->batches, GL_PROFILE_MAX_BATCHES, &o->n_batches, "--batches")) return 2; break;
      case O_CB: if (parse_ints(optarg, o->cbatches, MAXCB, &o->n_cb, "--corun-batches")) return 2; break;
      case 'i': if (parse_num(optarg, 1, 1e6, &v, "--iters")) return 2; o->mo.iters_max = (int)v; break;
      case O_MINIT: if (parse_num(optarg, 1, 1e6, &v, "--min-iters")) return 2; o->mo.iters_min = (int)v; break;
      case 'w': if (parse_num(optarg, 0, 1e6, &v, "--warmup")) return 2; o->mo.warmup = (int)v; break;
      case O_CAP: if (parse_num(optarg, 0.001, 3600, &o->mo.cap_s, "--time-cap")) return 2; break;
      case O_CI: if (parse_num(optarg, 0.0001, 1, &o->mo.ci, "--ci")) return 2; break;
      case O_SEQ: if (parse_num(optarg, 1, 512, &v, "--seq")) return 2; o->seq = (int)v; break;
      case O_CS: if (parse_num(optarg, 0.01, 600, &o->corun_s, "--corun-s")) return 2; break;
      case O_NOTE: o->note = optarg; break;
      case 'c': o->corun = true; break;
      case 'r': o->resume = true; break;
      case 'o': o->out = optarg; break;
      case 'h': usage(stdout); return 1;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "gpulet profile: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!o->device || !o->out || !o->n_models) {
    fprintf(stderr, "gpulet profile: needs --device, --models and -o FILE (or --analytic DEVICE -o FILE)\n");
    return 2;
  }
  if (o->batches[0] != 1) {
    fprintf(stderr, "gpulet profile: --batches must start at 1 (the profile format needs batch 1)\n");
    return 2;
  }
  if (o->mo.iters_min > o->mo.iters_max) o->mo.iters_min = o->mo.iters_max;
  return 0;
}

/* ---------- the profile file ---------- */

/* ---------- device facts ---------- */

/* Copy bandwidth with one thread per unit, each copying its own n bytes reps times, bytes/s
 * (read + write): 64 MB buffers measure DRAM, buffers that fit the LLC together measure it. */
typedef struct {
  char *src, *dst;
  size_t n;
  int reps;
} bw_arg_t;

static void *bw_thread(void *a) {
  bw_arg_t *b = a;
  for (int r = 0; r < b->reps; r++) memcpy(b->dst, b->src, b->n);
  return NULL;
}

static double measure_bw(int threads, size_t n, int reps) {
  if (threads > 16) threads = 16;
  bw_arg_t args[16];
  pthread_t th[16];
  int ok = 0;
  for (int i = 0; i < threads; i++) {
    args[i].src = gl_aligned_alloc(n);
    args[i].dst = gl_aligned_alloc(n);
    args[i].n = n;
    args[i].reps = reps;
    if (!args[i].src || !args[i].dst) {
      gl_aligned_free(args[i].src), gl_aligned_free(args[i].dst);
      break;
    }
    memset(args[i].src, 1, n), memset(args[i].dst, 0, n);
    ok = i + 1;
  }
  double best = 0;
  for (int rep = 0; rep < 3 && ok; rep++) {
    int64_t t = gl_now_ns();
    int started = 0;
    for (int i = 0; i < ok; i++)
      if (!pthread_create(&th[i], NULL, bw_thread, &args[i])) started = i + 1;
      else break;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    double s = (double)(gl_now_ns() - t) / 1e9;
    double bw = 2.0 * reps * (double)n * started / s;
    if (bw > best) best = bw;
  }
  for (int i = 0; i < ok; i++) gl_aligned_free(args[i].src), gl_aligned_free(args[i].dst);
  return best;
}

/* Cache size of cpu0's cache index idx (sysfs; "32768K"), bytes, or 0. */
static double cache_bytes(int idx) {
  char path[96], buf[32];
  snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  double v = 0;
  if (fgets(buf, sizeof buf, f)) {
    char *end;
    v = strtod(buf, &end);
    if (*end == 'K') v *= 1024;
    else if (*end == 'M') v *= 1048576;
  }
  fclose(f);
  return v;
}

static void provenance(prof_t *P) {
  char host[64] = "?";
  gethostname(host, sizeof host - 1);
  const char *user = getenv("USER");
  struct passwd *pw = user ? NULL : getpwuid(getuid());
  if (pw) user = pw->pw_name;
  snprintf(P->who, sizeof P->who, "gpulet profile (%.16s@%.24s)", user ? user : "?", host);
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(P->when, sizeof P->when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(P->commit, sizeof P->commit, "unknown");
  /* the commit of the tree the binary was built in (its folder's repository), else of the cwd */
  char exe[1024], cmd[1400];
  ssize_t L = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[L > 0 ? L : 0] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  for (char *q = exe; *q; q++)
    if (*q == '\'' || *q == '\\') *q = '_';
  snprintf(cmd, sizeof cmd,
           "cd '%s' 2>/dev/null; git rev-parse --short HEAD 2>/dev/null && (git diff --quiet HEAD -- :/src 2>/dev/null || echo dirty)",
           exe[0] ? exe : ".");
  FILE *f = popen(cmd, "r");
  if (f) {
    char a[48] = "", b[16] = "";
    if (fgets(a, sizeof a, f)) {
      a[strcspn(a, "\n")] = 0;
      if (fgets(b, sizeof b, f) && !strncmp(b, "dirty", 5)) snprintf(P->commit, sizeof P->commit, "%.40s-dirty", a);
      else if (a[0]) snprintf(P->commit, sizeof P->commit, "%s", a);
    }
    pclose(f);
  }
  f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fgets(P->started_load, sizeof P->started_load, f)) P->started_load[strcspn(P->started_load, "\n")] = 0;
    fclose(f);
  }
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  P->dev_mem_mb = pages > 0 && psz > 0 ? (double)pages * (double)psz / 1048576.0 : 1024;
}

/* ---------- models ---------- */

static gl_status_t load_model(prof_t *P, const char *arg, mstate_t *s) {
  char spec[512];
  snprintf(spec, sizeof spec, "%s", arg);
  char *alias = strchr(spec, '=');
  if (alias) *alias++ = 0;
  if (alias && (!*alias || strlen(alias) >= GL_PROFILE_NAME))
    return gl_err(GL_EINVAL, "--models: bad name in '%s'", arg);
  const gl_zoo_info_t *zi = gl_zoo_find(spec);
  if (zi) {
    gl_zoo_opts_t zo = {.seed = 1, .batch = 0, .seq = P->o.seq};
    gl_graph_t *g;
    GL_TRY(gl_zoo_build(spec, &zo, &g));
    GL_TRY(gl_model_from_graph(g, &s->m));
    snprintf(s->name, sizeof s->name, "%s", alias ? alias : gl__prof_research_name(spec));
    snprintf(s->source, sizeof s->source, "zoo:%.40s seed 1%s", spec, strncmp(spec, "bert", 4) ? "" : " (seq set by --seq)");
  } else {
    size_t L = strlen(spec);
    if (L < 6 || strcmp(spec + L - 5, ".onnx"))
      return gl_err(GL_ENOTFOUND, "--models: '%s' is neither a zoo model (gpulet zoo --list) nor an .onnx file", spec);
    GL_TRY(gl_model_load(spec, &s->m));
    const char *base = strrchr(spec, '/');
    base = base ? base + 1 : spec;
    if (alias) snprintf(s->name, sizeof s->name, "%s", alias);
    else snprintf(s->name, sizeof s->name, "%.*s", (int)(strlen(base) - 5 < GL_PROFILE_NAME - 1 ? strlen(base) - 5 : GL_PROFILE_NAME - 1), base);
    snprintf(s->source, sizeof s->source, "%.159s", spec);
  }
  for (int i = 0; i < P->nm; i++)
    if (&P->ms[i] != s && !strcmp(P->ms[i].name, s->name))
      return gl_err(GL_EINVAL, "--models: '%s' named twice", s->name);
  int cells = P->o.n_batches * P->o.n_sizes;
  s->arena = gl_malloc(sizeof(double) * (size_t)P->o.n_batches);
  s->batch_ms = gl_malloc(sizeof(double) * (size_t)P->o.n_batches);
  s->med = gl_malloc(sizeof(double) * (size_t)cells);
  s->p99 = gl_malloc(sizeof(double) * (size_t)cells);
  s->ci = gl_malloc(sizeof(double) * (size_t)cells);
  s->iters = gl_calloc((size_t)cells, sizeof(int));
  if (!s->arena || !s->batch_ms || !s->med || !s->p99 || !s->ci || !s->iters) return gl_err(GL_ENOMEM, "out of memory");
  for (int b = 0; b < P->o.n_batches; b++) s->arena[b] = s->batch_ms[b] = NAN;
  for (int c = 0; c < cells; c++) s->med[c] = s->p99[c] = s->ci[c] = NAN;
  return GL_OK;
}

static void free_model(mstate_t *s) {
  gl_model_destroy(s->m);
  gl_free(s->arena), gl_free(s->batch_ms), gl_free(s->med), gl_free(s->p99), gl_free(s->ci), gl_free(s->iters);
}

/* Cost of assembling a batch on the CPU: copying b single-sample inputs into one batch buffer. */
static double batch_copy_ms(const gl_graph_t *g, int b) {
  size_t per = 0;
  for (int i = 0; i < g->n_inputs; i++) {
    const gl_value_t *v = &g->values[g->inputs[i]];
    size_t e = gl_dtype_size(v->dtype);
    for (int d = 0; d < v->shape.rank; d++) e *= v->shape.d[d] > 0 && d > 0 ? (size_t)v->shape.d[d] : 1;
    per += e;
  }
  if (!per) return 0;
  char *src = gl_malloc(per * (size_t)b), *dst = gl_malloc(per * (size_t)b);
  if (!src || !dst) {
    gl_free(src), gl_free(dst);
    return 0;
  }
  memset(src, 1, per * (size_t)b);
  memset(dst, 0, per * (size_t)b);
  double best = INFINITY;
  for (int r = 0; r < 5; r++) {
    int64_t t = gl_now_ns();
    for (int k = 0; k < b; k++) memcpy(dst + per * (size_t)k, src + per * (size_t)((k * 7) % b), per);
    double ms = gl_ns_to_ms(gl_now_ns() - t);
    if (ms < best) best = ms;
  }
  gl_free(src), gl_free(dst);
  return best;
}

/* ---------- measuring ---------- */

static void eta_str(double s, char *buf, size_t cap) {
  if (!(s >= 0) || !isfinite(s)) snprintf(buf, cap, "?");
  else if (s >= 60) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(buf, cap, "%.0fs", s);
}

static int measure_table(prof_t *P) {
  const opts_t *o = &P->o;
  int ns = o->n_sizes, nb = o->n_batches;
  for (int mi = 0; mi < P->nm; mi++)
    for (int c = 0; c < nb * ns; c++)
      if (isnan(P->ms[mi].med[c])) P->cells_total++, P->work_total += o->batches[c / ns] + 1;
  printf("profile: %ld cells to measure (%d models x %d sizes x %d batches%s)\n", P->cells_total, P->nm, ns, nb,
         o->resume ? ", minus those already in the file" : "");
  fflush(stdout);
  for (int mi = 0; mi < P->nm; mi++) {
    mstate_t *s = &P->ms[mi];
    for (int b = 0; b < nb; b++)
      if (isnan(s->batch_ms[b])) s->batch_ms[b] = batch_copy_ms(gl_model_graph(s->m), o->batches[b]);
    for (int z = 0; z < ns; z++) {
      bool todo = false;
      for (int b = 0; b < nb; b++) todo |= isnan(s->med[(size_t)b * ns + z]);
      if (!todo) continue;
      gl_part_t *part;
      gl_part_grant_t gr;
      if (gl_part_create_units(P->dev, o->sizes[z], NULL, &part, &gr) < 0) return gl_cli_fail("partition");
      for (int b = 0; b < nb; b++) {
        size_t c = (size_t)b * ns + z;
        if (!isnan(s->med[c])) continue;
        int64_t t0 = gl_now_ns();
        cell_job_t j = {.m = s->m, .be = P->be, .batch = o->batches[b], .mo = &o->mo};
        gl_status_t st = gl_part_run_sync(part, gl__prof_job_cell, &j);
        if (st < 0) {
          fprintf(stderr, "gpulet profile: %s batch %d on %d cores: %s\n", s->name, o->batches[b], o->sizes[z],
                  j.err[0] ? j.err : gl_errmsg());
          gl_part_destroy(part);
          return 1;
        }
        s->med[c] = j.med, s->p99[c] = j.p99, s->ci[c] = j.ci, s->iters[c] = j.n;
        s->arena[b] = (double)j.arena;
        s->weights_bytes = (double)j.consts;
        P->cells_done++;
        P->work_done += o->batches[b] + 1;
        P->cells_s += (double)(gl_now_ns() - t0) / 1e9;
        char eta[32];
        eta_str(P->cells_s / P->work_done * (P->work_total - P->work_done), eta, sizeof eta);
        printf("[%ld/%ld] %-16s %2d cores batch %3d: median %9.3f ms  p99 %9.3f ms  (%d runs, ci +-%.1f%%, %.1f s)  ETA %s\n",
               P->cells_done, P->cells_total, s->name, gr.units, o->batches[b], j.med, j.p99, j.n,
               isfinite(j.ci) ? 100 * j.ci : 999.9, (double)(gl_now_ns() - t0) / 1e9, eta);
        fflush(stdout);
        if (gl__prof_write_file(P, false) < 0) {
          gl_part_destroy(part);
          return gl_cli_fail(o->out);
        }
      }
      gl_part_destroy(part);
    }
  }
  return 0;
}

/* ---------- co-runs ---------- */

typedef struct {
  gl_part_t *part;
  runner_t *r;
  atomic_int *stop;
  double *lat;
  atomic_int n;  /* written by the partition's executor, polled by the main thread */
  int cap;
  atomic_int st; /* a gl_status_t, likewise */
  char err[256];
} driver_t;

static gl_status_t job_once(gl_part_t *p, void *arg) {
  driver_t *d = arg;
  double ms;
  gl_status_t st = gl__prof_runner_once(d->r, &ms);
  if (st < 0) {
    snprintf(d->err, sizeof d->err, "%s", gl_errmsg());
    return st;
  }
  if (d->n < d->cap) d->lat[d->n++] = ms;
  return GL_OK;
}

static void *drive(void *arg) {
  driver_t *d = arg;
  while (!atomic_load(d->stop) && d->n < d->cap)
    if ((d->st = gl_part_run_sync(d->part, job_once, d)) < 0) break;
  return NULL;
}

static double median_of(double *v, int n) {
  gl_sort_doubles(v, (size_t)n);
  return gl_percentile_sorted(v, (size_t)n, 50);
}

/* Runs A and B together until each has done >= 3 runs and corun_s passed; medians out. */
static int corun_pair(prof_t *P, gl_part_t *pa, runner_t *ra, gl_part_t *pb, runner_t *rb, double *ma, double *mb,
                      int *na, int *nb) {
  atomic_int stop = 0;
  driver_t d[2] = {{.part = pa, .r = ra, .stop = &stop, .cap = 4096}, {.part = pb, .r = rb, .stop = &stop, .cap = 4096}};
  d[0].lat = gl_malloc(sizeof(double) * 4096);
  d[1].lat = gl_malloc(sizeof(double) * 4096);
  pthread_t th[2];
  int started = 0, rc = 0;
  if (!d[0].lat || !d[1].lat) goto out;
  for (int i = 0; i < 2; i++)
    if (!pthread_create(&th[i], NULL, drive, &d[i])) started++;
  int64_t t0 = gl_now_ns();
  while (started == 2) {
    double s = (double)(gl_now_ns() - t0) / 1e9;
    if ((d[0].n >= 3 && d[1].n >= 3 && s >= P->o.corun_s) || (s > 60 && d[0].n && d[1].n) || d[0].st || d[1].st)
      break;
    if (d[0].n >= d[0].cap || d[1].n >= d[1].cap) break;
    usleep(2000);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
out:
  if (started != 2 || !d[0].lat || !d[1].lat || d[0].st || d[1].st || !d[0].n || !d[1].n) {
    fprintf(stderr, "gpulet profile: co-run failed: %s\n", d[0].err[0] ? d[0].err : d[1].err[0] ? d[1].err : "could not start");
    rc = 1;
  } else {
    *ma = median_of(d[0].lat, d[0].n), *mb = median_of(d[1].lat, d[1].n);
    *na = d[0].n, *nb = d[1].n;
  }
  gl_free(d[0].lat), gl_free(d[1].lat);
  return rc;
}

static bool corun_done(const prof_t *P, int a, int b, int ba, int bb) {
  for (int i = 0; i < P->n_co; i++) {
    const corun_t *c = &P->co[i];
    if ((c->a == a && c->b == b && c->ba == ba && c->bb == bb) || (c->a == b && c->b == a && c->ba == bb && c->bb == ba))
      return true;
  }
  return false;
}

static int measure_coruns(prof_t *P) {
  const opts_t *o = &P->o;
  int half = P->info.units_total / 2;
  if (half < 1) {
    printf("profile: co-runs need 2 units; the device has %d, skipping\n", P->info.units_total);
    return 0;
  }
  long total = 0, done = 0;
  for (int a = 0; a < P->nm; a++)
    for (int b = a; b < P->nm; b++)
      for (int k = 0; k < o->n_cb; k++)
        if (!corun_done(P, a, b, o->cbatches[k], o->cbatches[k])) total++;
  if (!total) return 0;
  gl_part_t *pa = NULL, *pb = NULL;
  gl_part_grant_t ga, gb;
  if (gl_part_create_units(P->dev, half, NULL, &pa, &ga) < 0 || gl_part_create_units(P->dev, half, NULL, &pb, &gb) < 0) {
    gl_part_destroy(pa);
    return gl_cli_fail("co-run partitions");
  }
  printf("profile: %ld co-runs on %d + %d cores, batches", total, ga.units, gb.units);
  for (int k = 0; k < o->n_cb; k++) printf(" %d", o->cbatches[k]);
  printf(", %.1f s each\n", o->corun_s);
  fflush(stdout);
  meas_opts_t amo = {.iters_min = 3, .iters_max = 200, .warmup = 1, .cap_s = o->corun_s / 2, .ci = o->mo.ci};
  int rc = 0;
  int64_t t_start = gl_now_ns();
  for (int a = 0; a < P->nm && !rc; a++) {
    for (int k = 0; k < o->n_cb && !rc; k++) {
      int bat = o->cbatches[k];
      bool any = false;
      for (int b = a; b < P->nm; b++) any |= !corun_done(P, a, b, bat, bat);
      if (!any) continue;
      runner_t ra;
      make_job_t mj = {.m = P->ms[a].m, .be = P->be, .batch = bat, .r = &ra};
      if (gl_part_run_sync(pa, gl__prof_job_make, &mj) < 0) {
        fprintf(stderr, "gpulet profile: %s batch %d: %s\n", P->ms[a].name, bat, mj.err);
        rc = 1;
        break;
      }
      for (int b = a; b < P->nm && !rc; b++) {
        if (corun_done(P, a, b, bat, bat)) continue;
        int64_t t0 = gl_now_ns();
        runner_t rb;
        make_job_t mb = {.m = P->ms[b].m, .be = P->be, .batch = bat, .r = &rb};
        if (gl_part_run_sync(pb, gl__prof_job_make, &mb) < 0) {
          fprintf(stderr, "gpulet profile: %s batch %d: %s\n", P->ms[b].name, bat, mb.err);
          rc = 1;
          break;
        }
        /* alone medians right before the co-run, one side at a time (the other core idle), so
         * that slow drifts of a shared machine's load hit both the same way */
        cell_job_t ja = {.batch = bat, .mo = &amo, .r = &ra}, jb = {.batch = bat, .mo = &amo, .r = &rb};
        if (gl_part_run_sync(pa, gl__prof_job_cell, &ja) < 0 || gl_part_run_sync(pb, gl__prof_job_cell, &jb) < 0) {
          fprintf(stderr, "gpulet profile: alone run: %s\n", ja.err[0] ? ja.err : jb.err);
          rc = 1;
          break;
        }
        corun_t c = {.a = a, .b = b, .ba = bat, .bb = bat, .ua = ga.units, .ub = gb.units,
                     .alone_a = ja.med, .alone_b = jb.med};
        if (!rc) rc = corun_pair(P, pa, &ra, pb, &rb, &c.co_a, &c.co_b, &c.na, &c.nb);
        gl__prof_runner_free(&rb);
        if (rc) break;
        if (P->n_co == P->cap_co) {
          int nc = P->cap_co ? 2 * P->cap_co : 64;
          corun_t *g = gl_realloc(P->co, sizeof *g * (size_t)nc);
          if (!g) {
            rc = gl_cli_fail("co-runs");
            break;
          }
          P->co = g, P->cap_co = nc;
        }
        P->co[P->n_co++] = c;
        done++;
        char eta[32];
        double el = (double)(gl_now_ns() - t_start) / 1e9;
        eta_str(el / done * (double)(total - done), eta, sizeof eta);
        printf("[co %ld/%ld] %-14s b%-2d + %-14s b%-2d: %8.3f / %8.3f ms alone, %8.3f / %8.3f ms together, "
               "slowdown %.3f / %.3f (%.1f s)  ETA %s\n",
               done, total, P->ms[a].name, bat, P->ms[b].name, bat, c.alone_a, c.alone_b, c.co_a, c.co_b,
               c.co_a / c.alone_a, c.co_b / c.alone_b, (double)(gl_now_ns() - t0) / 1e9, eta);
        fflush(stdout);
        if (gl__prof_write_file(P, false) < 0) rc = gl_cli_fail(o->out);
      }
      gl__prof_runner_free(&ra);
    }
  }
  gl_part_destroy(pa);
  gl_part_destroy(pb);
  return rc;
}

/* ---------- the command ---------- */

/* The device a --device value names, as a splittable device and a backend. The GPU half (CUDA
 * green contexts, GL_PART_CUDA_GREEN) plugs in here: a part/ constructor for SM partitions plus
 * the CUDA backend; everything after this function is device-agnostic (plans compiled with the
 * partition's placement, timed with gl_plan_run + gl_plan_wait). */
static int open_device(prof_t *P) {
  if (!strcmp(P->o.device, "cpu")) {
    if (gl_part_dev_cpu_create(&P->dev) < 0) return gl_cli_fail("cpu partitions");
    if (gl_cpu_backend_create(&P->be) < 0) return gl_cli_fail("cpu backend");
    gl_part_dev_info(P->dev, &P->info);
    return 0;
  }
  if (!strncmp(P->o.device, "cuda", 4) && (P->o.device[4] == 0 || P->o.device[4] == ':')) {
    /* Green-context gpu-lets: each cell's partition gives its plans the gpu-let's stream
     * (gl_part_placement); nothing below depends on the device kind. Not yet run on a GPU. */
    int dev = P->o.device[4] == ':' ? atoi(P->o.device + 5) : 0;
    if (gl_part_dev_cuda_green_create(dev, &P->dev) < 0) return gl_cli_fail("cuda green-context partitions");
    if (gl_cuda_backend_open(dev, &P->be) < 0) return gl_cli_fail("cuda backend");
    gl_part_dev_info(P->dev, &P->info);
    P->gpu = true;
    return 0;
  }
  fprintf(stderr, "gpulet profile: unknown device '%s' (cpu, cuda, cuda:N)\n", P->o.device);
  return 2;
}

int gl_cmd_profile_measure(int argc, char **argv) {
  prof_t *P = gl_calloc(1, sizeof *P);
  if (!P) return gl_cli_fail("profile");
  int rc = parse_args(argc, argv, &P->o);
  if (rc) {
    gl_free(P);
    return rc == 1 ? 0 : rc;
  }
  opts_t *o = &P->o;
  P->t_start = gl_now_ns();
  if ((rc = open_device(P)) != 0) goto done;
  if (!o->n_sizes) {
    for (int u = P->info.unit_min > 0 ? P->info.unit_min : 1; u <= P->info.units_total && o->n_sizes < GL_PROFILE_MAX_SIZES;
         u += P->info.unit_align > 0 ? P->info.unit_align : 1)
      o->sizes[o->n_sizes++] = u;
  }
  for (int i = 0; i < o->n_sizes; i++) {
    gl_part_dev_info_t *in = &P->info;
    int al = in->unit_align > 0 ? in->unit_align : 1, mn = in->unit_min > 0 ? in->unit_min : 1;
    if (o->sizes[i] > in->units_total || o->sizes[i] < mn || (o->sizes[i] - mn) % al) {
      fprintf(stderr, "gpulet profile: --sizes: %d %ss cannot be granted on %s (%d..%d in steps of %d)\n",
              o->sizes[i], in->unit_name, in->name, mn, in->units_total, al);
      rc = 2;
      goto done;
    }
  }
  provenance(P);
  for (int i = 0; i < o->n_models; i++) {
    P->nm = i + 1;
    if (load_model(P, o->model_args[i], &P->ms[i]) < 0) {
      rc = gl_cli_fail("profile");
      goto done;
    }
  }
  if (o->resume && gl__prof_resume_from(P) < 0) {
    rc = gl_cli_fail("profile --resume");
    goto done;
  }
  if (P->gpu) goto measured_bw; /* the CPU's cache and DRAM bandwidths say nothing of a GPU:
                                 * its interference features stay 0 until Nsight metrics are read */
  P->llc_bytes = cache_bytes(3);
  P->l2_bytes = cache_bytes(2);
  if (!(P->llc_bytes > 0)) P->llc_bytes = (double)sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (!(P->l2_bytes > 0)) P->l2_bytes = (double)sysconf(_SC_LEVEL2_CACHE_SIZE);
  P->mem_bw = measure_bw(P->info.units_total, 64u << 20, 3);
  {
    int th = P->info.units_total > 16 ? 16 : P->info.units_total;
    double per = (P->llc_bytes > 0 ? P->llc_bytes : 8 << 20) / (4.0 * th); /* src + dst of all threads: half the LLC */
    if (per > (4 << 20)) per = 4 << 20;
    if (per < 65536) per = 65536;
    P->llc_bw = measure_bw(th, (size_t)per, (int)(512e6 / per) + 1);
  }
measured_bw:
  printf("profile: %s, %d %ss; LLC %.0f MB; copy bandwidth %.1f GB/s in the LLC, %.1f GB/s from DRAM; writing %s\n",
         P->info.name, P->info.units_total, P->info.unit_name, P->llc_bytes / 1048576, P->llc_bw / 1e9, P->mem_bw / 1e9,
         o->out);
  if ((rc = measure_table(P)) != 0) goto done;
  if (o->corun && (rc = measure_coruns(P)) != 0) goto done;
  if (gl__prof_write_file(P, true) < 0) {
    rc = gl_cli_fail(o->out);
    goto done;
  }
  gl_profile_t *chk = NULL;
  if (gl_profile_load(o->out, &chk) < 0) {
    rc = gl_cli_fail("the written profile does not validate");
    goto done;
  }
  gl_profile_destroy(chk);
  printf("wrote %s (%d models, %d sizes, %d batches, %d co-runs) in %.0f s\n", o->out, P->nm, o->n_sizes, o->n_batches,
         P->n_co, (double)(gl_now_ns() - P->t_start) / 1e9);
done:
  for (int i = 0; i < P->nm; i++) free_model(&P->ms[i]);
  gl_free(P->co);
  gl_backend_destroy(P->be);
  gl_part_dev_destroy(P->dev);
  gl_free(P);
  return rc;
}
