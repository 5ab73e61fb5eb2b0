/* cli/cmd_demo.c - `gpulet demo`: gpu-let placement against time-sharing, served and measured here. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backend/gpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "loadgen/http.h"
#include "loadgen/loadgen.h"
#include "onnx/onnx.h"
#include "zoo/zoo.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet demo [--cache-dir DIR] [--duration S] [--warmup S] [--steps N] [--probe S]\n"
          "                   [--policies A,B] [--scenario FILE] [--analytic] [--reprofile] [--quick]\n"
          "                   [--device cpu|cuda]\n"
          "  Makes the zoo models the demo serves (LeNet x3, MobileNetV2) in the cache folder, profiles\n"
          "  them on the CPU once (reused afterwards), then for each policy (gpulet, then the time-sharing\n"
          "  baseline sbp: squishy bin packing, Nexus-style) starts `gpulet serve` on a free port and drives\n"
          "  it with the open-loop load generator: a fixed-rate run of --duration S (15) after --warmup S\n"
          "  (3), then --steps N (6; 0 = none) find-max probes of --probe S (8) seconds each for the\n"
          "  throughput under SLO. Prints a side-by-side table: per model its rate, SLO attainment and p99;\n"
          "  overall the goodput (requests within SLO per second) and the ratio.\n"
          "  --cache-dir DIR   where models, repository, profile and logs go (default $XDG_CACHE_HOME/gpulet/demo)\n"
          "  --scenario FILE   another model mix (docs/scenario.md; names are lenet1.., mobilenetv2)\n"
          "  --analytic        skip measuring: the server plans with the analytic CPU profile\n"
          "  --reprofile       measure the profile again even if one is cached\n"
          "  --quick           a smoke run: two LeNets, 2 s runs, no find-max, analytic profile\n"
          "  --device cpu|cuda on the CPU's cores or on GPU 0's green contexts (default: the GPU when one\n"
          "                    opens, else the CPU; the GPU path has not run on a GPU yet)\n");
}

typedef struct {
  const char *dir;
  char path[4096];
} cache_t;

static int mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static bool exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

static int copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%.4300s.tmp.%d", to, (int)getpid());
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) { close(in); return -1; }
  char buf[1 << 16];
  ssize_t r;
  int rc = 0;
  while ((r = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)r) != r) { rc = -1; break; }
  if (r < 0) rc = -1;
  close(in);
  if (close(out)) rc = -1;
  if (rc == 0 && rename(tmp, to)) rc = -1;
  if (rc) unlink(tmp);
  return rc;
}

/* Writes zoo model `name` to path once (seed 1, symbolic batch). */
static int zoo_model(const char *name, const char *path) {
  if (exists(path)) return 0;
  printf("demo: writing the zoo's %s to %s\n", name, path);
  fflush(stdout);
  gl_graph_t *g = NULL;
  gl_zoo_opts_t zo = {.seed = 1, .batch = 0};
  if (gl_zoo_build(name, &zo, &g)) return gl_cli_fail("demo: zoo");
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%.4300s.tmp.%d", path, (int)getpid());
  gl_status_t st = gl_onnx_save_file(g, tmp, "gpulet demo");
  gl_graph_destroy(g);
  if (st || rename(tmp, path)) {
    unlink(tmp);
    return gl_cli_fail("demo: writing a zoo model");
  }
  return 0;
}

/* Starts /proc/self/exe with argv, stdout and stderr to log (NULL: inherited), niceness raised
 * by nice_inc. */
static pid_t spawn_nice(char *const argv[], const char *log, int nice_inc) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (nice_inc) setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + nice_inc);
  if (log) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
  }
  execv("/proc/self/exe", argv);
  _exit(127);
}

static pid_t spawn(char *const argv[], const char *log) { return spawn_nice(argv, log, 0); }

static int wait_child(pid_t pid, double timeout_s) {
  int64_t end = gl_now_ns() + (int64_t)(timeout_s * 1e9);
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (gl_now_ns() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -2;
    }
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* Whether `gpulet serve` knows --policy (the scheduler-driven server) on this build. */
static bool serve_has_policy(const char *dir) {
  char log[4200];
  snprintf(log, sizeof log, "%s/serve-help.txt", dir);
  char *argv[] = {"gpulet", "serve", "--help", NULL};
  pid_t p = spawn(argv, log);
  if (p < 0 || wait_child(p, 30) < 0) return false;
  FILE *f = fopen(log, "r");
  if (!f) return false;
  char line[512];
  bool yes = false;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "--policy")) yes = true;
  fclose(f);
  return yes;
}

typedef struct {
  const char *name, *zoo, *profile_model;
  int max_batch;
} inst_t;

/* Median batch-1 latency (ms) of profile model `name` on one unit of the measured profile at
 * path, and the device's units; 0 when the file or the cell is missing. */
static double profile_b1_ms(const char *path, const char *name, int *units) {
  json_t *j = json_load_file(path, 0, NULL);
  double ms = 0;
  json_t *sizes = j ? json_object_get(j, "sizes") : NULL;
  int k1 = -1;
  for (size_t k = 0; sizes && k < json_array_size(sizes); k++)
    if (json_integer_value(json_array_get(sizes, k)) == 1) k1 = (int)k;
  json_t *dev = j ? json_object_get(j, "device") : NULL;
  if (dev && units) *units = (int)json_integer_value(json_object_get(dev, "total_units"));
  json_t *ms_arr = j ? json_object_get(j, "models") : NULL;
  for (size_t i = 0; k1 >= 0 && ms_arr && i < json_array_size(ms_arr); i++) {
    json_t *m = json_array_get(ms_arr, i);
    if (strcmp(json_string_value(json_object_get(m, "name")) ? json_string_value(json_object_get(m, "name")) : "", name)) continue;
    json_t *med = json_object_get(json_object_get(m, "latency_ms"), "median");
    json_t *v = json_array_get(json_array_get(med, 0), (size_t)k1);
    if (json_is_number(v)) ms = json_number_value(v);
  }
  if (j) json_decref(j);
  return ms > 0 && isfinite(ms) ? ms : 0;
}

typedef struct {
  char policy[32];
  char label[96];
  bool ran;
  gl_lg_result_t fixed;     /* the fixed-rate run */
  gl_lg_result_t fm;        /* find-max (n_probes == 0 when not run) */
  double wall_s;
} column_t;

static void tail_log(const char *path, int lines) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char buf[64][512];
  int n = 0;
  while (fgets(buf[n % 64], sizeof buf[0], f)) n++;
  fclose(f);
  for (int i = n > lines ? n - lines : 0; i < n; i++) fprintf(stderr, "  | %s", buf[i % 64]);
}

/* Serves repo with `policy` (NULL: the server's own placement), runs the load, fills col. */
static int run_policy(const char *dir, const char *repo, const char *policy, const char *profile, bool gpu,
                      const gl_scenario_t *s, double warmup, double duration, int steps, double probe, column_t *col) {
  char ports[4200], log[4200];
  snprintf(ports, sizeof ports, "%s/ports-%s", dir, policy ? policy : "default");
  snprintf(log, sizeof log, "%s/serve-%s.log", dir, policy ? policy : "default");
  unlink(ports);
  char *argv[24];
  int a = 0;
  argv[a++] = "gpulet";
  argv[a++] = "serve";
  argv[a++] = "--model-repository";
  argv[a++] = (char *)repo;
  argv[a++] = "--port";
  argv[a++] = "0";
  argv[a++] = "--metrics-port";
  argv[a++] = "-1";
  argv[a++] = "--port-file";
  argv[a++] = ports;
  if (policy) {
    argv[a++] = "--policy";
    argv[a++] = (char *)policy;
    if (profile) {
      argv[a++] = "--profile";
      argv[a++] = (char *)profile;
    }
    /* one plan per run, made for the scenario's rates (as `gpulet simulate --replan 0`): with the
     * default 10 s epochs each find-max probe was served partly by the plan for the previous
     * probe's rate and partly by one built mid-probe from a 10 s window spanning both; an
     * overload (a target over twice the planned one) still re-plans at once */
    argv[a++] = "--replan-period";
    argv[a++] = "86400";
    if (gpu) { /* gpu-lets on green contexts of GPU 0 (untested here: no GPU in the sessions so far) */
      argv[a++] = "--devices";
      argv[a++] = "cuda:0";
      argv[a++] = "--partition";
      argv[a++] = "green";
    } else {
      /* executors as thread budgets the OS places, for every policy: on this shared machine a
       * pinned one-core executor waits behind other processes on its core while the other core
       * idles (bench/results/cpu_policy-20261125.txt) */
      argv[a++] = "--no-pin";
    }
  }
  argv[a] = NULL;
  printf("\n== %s: gpulet serve%s%s (log %s)\n", col->label, policy ? " --policy " : "", policy ? policy : "", log);
  /* the server runs 5 nice levels below the load generator: on a machine whose cores the
   * server's executors fill, the client's few microseconds per request still leave on time */
  pid_t pid = spawn_nice(argv, log, 5);
  if (pid < 0) {
    fprintf(stderr, "gpulet demo: cannot start the server: %s\n", strerror(errno));
    return 1;
  }
  int port = 0;
  int64_t t_start = gl_now_ns();
  for (int i = 0; i < 1800 && !port; i++) {
    FILE *f = fopen(ports, "r");
    if (f) {
      if (fscanf(f, "%d", &port) != 1) port = 0;
      fclose(f);
    }
    if (port) break;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "gpulet demo: the server exited before listening; its log:\n");
      tail_log(log, 15);
      return 1;
    }
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  int rc = 0;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  if (!port) {
    fprintf(stderr, "gpulet demo: the server did not listen within 3 minutes\n");
    rc = 1;
    goto stop;
  }
  gl_lg_url_t u;
  if (gl_lg_url_parse(url, &u)) { rc = gl_cli_fail("demo"); goto stop; }
  /* ready: every model loaded */
  for (int i = 0;; i++) {
    int code = 0;
    if (gl_lg_http_request(&u, "GET", "/v2/health/ready", NULL, 0, 5000, 1 << 16, &code, NULL, NULL) == GL_OK && code == 200) break;
    if (i > 1200) {
      fprintf(stderr, "gpulet demo: the server's models were not ready within 2 minutes\n");
      rc = 1;
      goto stop;
    }
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  printf("   listening; status page: %s/  (plan: %s/v2/gpulet/plan) - ready in %.1f s\n", url, url,
         (double)(gl_now_ns() - t_start) / 1e9);
  fflush(stdout);
  gl_lg_config_t cfg = {.url = url, .scen = s, .scale = 1, .duration_s = duration, .warmup_s = warmup, .seed = 1, .binary = true,
                        .connections = 200, .threads = 2, .drain_s = 10, .quiet = false, .progress = stderr};
  if (gl_lg_run(&cfg, &col->fixed)) { rc = gl_cli_fail("demo: loadgen"); goto stop; }
  gl_lg_print(stdout, &cfg, &col->fixed);
  col->ran = true;
  char jp[4300];
  snprintf(jp, sizeof jp, "%s/loadgen-%s.json", dir, policy ? policy : "default");
  if (gl_lg_write_json(jp, &cfg, &col->fixed)) gl_cli_fail("demo");
  if (steps > 0) {
    printf("   find-max: %d probes of %.0f s (+1 s warm-up) each, scale from 1\n", steps, probe);
    gl_lg_config_t fc = cfg;
    fc.duration_s = probe;
    fc.warmup_s = 1;
    fc.quiet = true;
    sleep(1);
    if (gl_lg_find_max(&fc, 1, 0, steps, stdout, &col->fm)) {
      rc = gl_cli_fail("demo: find-max");
      goto stop;
    }
    snprintf(jp, sizeof jp, "%s/loadgen-%s-find-max.json", dir, policy ? policy : "default");
    if (gl_lg_write_json(jp, &fc, &col->fm)) gl_cli_fail("demo");
  }
stop:
  kill(pid, SIGTERM);
  int x = wait_child(pid, 30);
  if (x != 0 && rc == 0) fprintf(stderr, "gpulet demo: the server exited with %d (log %s)\n", x, log);
  col->wall_s = (double)(gl_now_ns() - t_start) / 1e9;
  return rc;
}

/* a / b as text: "1.234", or why there is no ratio. */
static void ratio(char *buf, size_t cap, double a, double b) {
  if (b > 0) snprintf(buf, cap, "%.3f", a / b);
  else if (a > 0) snprintf(buf, cap, "unbounded (the second met the SLO at no probed rate)");
  else snprintf(buf, cap, "undefined (neither met the SLO)");
}

static void print_table(const gl_scenario_t *s, column_t *c, int nc, int steps) {
  printf("\n== Side by side (same machine, same models, same seeded arrivals)\n");
  printf("%-12s %8s %7s", "model", "rate/s", "slo_ms");
  for (int k = 0; k < nc; k++) printf(" | %-22.22s", c[k].label);
  printf("\n%-12s %8s %7s", "", "", "");
  for (int k = 0; k < nc; k++) printf(" | %10s %11s", "attain%", "p99_ms");
  printf("\n");
  for (int i = 0; i < s->n_models; i++) {
    const gl_lg_model_result_t *m0 = c[0].ran ? &c[0].fixed.m[i] : NULL;
    printf("%-12s %8.1f %7.0f", s->models[i].name, m0 ? m0->rate : s->models[i].rate, s->models[i].slo_ms);
    for (int k = 0; k < nc; k++) {
      if (!c[k].ran) { printf(" | %22s", "not run"); continue; }
      const gl_lg_model_result_t *m = &c[k].fixed.m[i];
      printf(" | %10.2f %11.2f", 100 * m->attain, m->p99_ms);
    }
    printf("\n");
  }
  printf("%-29s", "goodput (req/s within SLO)");
  for (int k = 0; k < nc; k++) printf(" | %22.1f", c[k].ran ? c[k].fixed.goodput_rps : 0);
  printf("\n%-29s", "overall attainment %");
  for (int k = 0; k < nc; k++) printf(" | %22.2f", c[k].ran ? 100 * c[k].fixed.attain : 0);
  printf("\n%-29s", "every model within SLO");
  for (int k = 0; k < nc; k++) printf(" | %22s", !c[k].ran ? "-" : c[k].fixed.ok ? "yes" : "NO");
  printf("\n%-29s", "client send lag p99 ms");
  for (int k = 0; k < nc; k++) printf(" | %22.3f", c[k].ran ? c[k].fixed.send_lag_p99_ms : 0);
  printf("\n");
  if (steps > 0) {
    printf("%-29s", "throughput under SLO req/s");
    for (int k = 0; k < nc; k++) {
      if (!c[k].ran || !c[k].fm.find_max) { printf(" | %22s", "-"); continue; }
      char b[64];
      snprintf(b, sizeof b, "%s%.1f (x%.3g)", c[k].fm.bracketed ? "" : ">= ", c[k].fm.throughput_rps, c[k].fm.best_scale);
      printf(" | %22s", b);
    }
    printf("\n");
  }
  if (nc >= 2 && c[0].ran && c[1].ran) {
    double g0 = c[0].fixed.goodput_rps, g1 = c[1].fixed.goodput_rps;
    char r1[64], r2[96];
    ratio(r1, sizeof r1, g0, g1);
    printf("ratio %s / %s: goodput at the fixed rates %s", c[0].policy, c[1].policy, r1);
    if (steps > 0 && c[0].fm.find_max && c[1].fm.find_max) {
      ratio(r2, sizeof r2, c[0].fm.throughput_rps, c[1].fm.throughput_rps);
      printf(", throughput under SLO %s%s (find-max, %d probes each; a coarse search: see docs/loadgen.md)", r2,
             c[0].fm.bracketed && c[1].fm.bracketed ? "" : ", with a lower bound in it", c[0].fm.n_probes);
    }
    printf("\n");
  }
  for (int k = 0; k < nc; k++)
    if (c[k].ran && c[k].fixed.client_limited)
      printf("note: the load generator lagged (p99 send lag %.2f ms > 1 ms) in the %s run: the machine is busy\n",
             c[k].fixed.send_lag_p99_ms, c[k].policy);
}

int gl_cmd_demo(int argc, char **argv) {
  enum { O_POL = 256, O_AN, O_REPROF, O_QUICK, O_PROBE, O_DEV };
  static const struct option opts[] = {
      {"cache-dir", required_argument, 0, 'c'}, {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},    {"steps", required_argument, 0, 's'},
      {"probe", required_argument, 0, O_PROBE}, {"policies", required_argument, 0, O_POL},
      {"scenario", required_argument, 0, 'S'},  {"analytic", no_argument, 0, O_AN},
      {"reprofile", no_argument, 0, O_REPROF},  {"quick", no_argument, 0, O_QUICK},
      {"device", required_argument, 0, O_DEV},
      {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
  const char *cache_arg = NULL, *scen_path = NULL;
  char policies[128] = "gpulet,sbp";
  double duration = 15, warmup = 3, probe = 8; /* 4 s probes: a p99 over a few dozen requests */
  int steps = 6;
  bool analytic = false, reprofile = false, quick = false;
  const char *device = NULL; /* cpu, cuda, or NULL: cuda when GPU 0 opens, else cpu */
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:d:w:s:S:h", opts, NULL)) != -1) {
    char *end = NULL;
    double v = optarg ? strtod(optarg, &end) : 0;
    bool num_ok = optarg && end != optarg && !*end && isfinite(v);
    switch (c) {
      case 'c': cache_arg = optarg; break;
      case 'd': if (!num_ok || v < 0.5 || v > 3600) goto bad; duration = v; break;
      case 'w': if (!num_ok || v < 0 || v > 600) goto bad; warmup = v; break;
      case 's': if (!num_ok || v < 0 || v > 20 || v != floor(v)) goto bad; steps = (int)v; break;
      case O_PROBE: if (!num_ok || v < 0.5 || v > 600) goto bad; probe = v; break;
      case O_POL: if (strlen(optarg) >= sizeof policies) goto bad; snprintf(policies, sizeof policies, "%s", optarg); break;
      case 'S': scen_path = optarg; break;
      case O_AN: analytic = true; break;
      case O_REPROF: reprofile = true; break;
      case O_QUICK: quick = true; break;
      case O_DEV: if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda")) goto bad; device = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc) { usage(stderr); return 2; }
  if (quick) duration = 2, warmup = 0.5, steps = 0, analytic = true;
  int64_t t0 = gl_now_ns();
  signal(SIGPIPE, SIG_IGN);
  char dir[3800];
  if (cache_arg) snprintf(dir, sizeof dir, "%s", cache_arg);
  else {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && x[0]) snprintf(dir, sizeof dir, "%s/gpulet/demo", x);
    else snprintf(dir, sizeof dir, "%s/.cache/gpulet/demo", h && h[0] ? h : "/tmp");
  }
  if (mkdir_p(dir)) {
    fprintf(stderr, "gpulet demo: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  printf("gpulet demo: cache %s; device: the CPU (%ld cores online)\n", dir, sysconf(_SC_NPROCESSORS_ONLN));
  /* 1. models */
  static const inst_t full[] = {{"lenet1", "lenet", "lenet", 16}, {"lenet2", "lenet", "lenet", 16},
                                {"lenet3", "lenet", "lenet", 16}, {"mobilenetv2", "mobilenetv2", "mobilenet_v2", 8}};
  const inst_t *insts = full;
  int n_inst = quick ? 2 : 4;
  char zl[4000], zm[4000];
  snprintf(zl, sizeof zl, "%s/zoo", dir);
  if (mkdir_p(zl)) { fprintf(stderr, "gpulet demo: cannot create %s\n", zl); return 1; }
  snprintf(zl, sizeof zl, "%s/zoo/lenet.onnx", dir);
  snprintf(zm, sizeof zm, "%s/zoo/mobilenetv2.onnx", dir);
  if (zoo_model("lenet", zl) || (!quick && zoo_model("mobilenetv2", zm))) return 1;
  int rc = 0;
  gl_scenario_t *s = NULL;
  column_t cols[4];
  memset(cols, 0, sizeof cols);
  int nc = 0;
  bool has_policy = serve_has_policy(dir);
  /* on the GPU if there is one (the quick smoke run stays on the CPU) */
  bool gpu = false;
  if (device ? !strcmp(device, "cuda") : !quick) {
    gl_backend_t *be = NULL;
    gpu = gl_cuda_backend_open(0, &be) == GL_OK;
    gl_backend_destroy(be);
    if (device && !gpu) { fprintf(stderr, "gpulet demo: --device cuda: %s\n", gl_errmsg()); rc = 1; goto out; }
    printf("demo: serving on %s\n", gpu ? "GPU 0 (gpu-lets on green contexts)" : "the CPU (no CUDA device found)");
  }
  if (gpu && analytic) printf("demo: --analytic plans GPU gpu-lets with the analytic CPU profile: use a measured one\n");
  /* 2. the profile: measured once on this machine and cached, or the analytic one */
  char prof[4000];
  snprintf(prof, sizeof prof, "%s/profile-%s.json", dir, gpu ? "cuda" : "cpu");
  const char *profile = NULL;
  if (!has_policy) {
    printf("demo: this `gpulet serve` has no --policy yet: it places each model on its own core set (a static split);\n"
           "      the demo serves that once and says so (no time-sharing baseline to compare with)\n");
  } else if (analytic) {
    printf("demo: planning with the analytic CPU profile (not measured here; see docs/profile.md)\n");
  } else {
    if (reprofile || !exists(prof) || profile_b1_ms(prof, "mobilenet_v2", NULL) <= 0) {
      printf("demo: profiling lenet and mobilenetv2 on this %s (once; cached in %s)\n", gpu ? "GPU" : "CPU", prof);
      char tmp[4100];
      snprintf(tmp, sizeof tmp, "%s.tmp", prof);
      char *pargv[] = {"gpulet", "profile", "--device", gpu ? "cuda" : "cpu", "--models", quick ? "lenet" : "lenet,mobilenetv2",
                       "--batches", "1,2,4,8", "--iters", "30", "--time-cap", "0.5", "--note", "gpulet demo", "-o", tmp, NULL};
      pid_t p = spawn(pargv, NULL);
      int x = p > 0 ? wait_child(p, 600) : -1;
      if (x == 0 && rename(tmp, prof) == 0) {
        profile = prof;
      } else {
        printf("demo: profiling failed (exit %d): planning with the analytic CPU profile instead\n", x);
      }
    } else {
      printf("demo: reusing the measured profile %s (--reprofile measures again)\n", prof);
      profile = prof;
    }
  }
  /* the server plans with the measured profile, else an analytic one written here (explicit, so
   * that no profile-cpu.json elsewhere in a cache is picked up) */
  const char *serve_profile = profile;
  char an[4000];
  if (has_policy && !profile) {
    snprintf(an, sizeof an, "%s/profile-analytic-cpu.json", dir);
    char *aargv[] = {"gpulet", "profile", "--analytic", "cpu", "-o", an, NULL};
    char alog[4100];
    snprintf(alog, sizeof alog, "%s/profile-analytic.log", dir);
    pid_t p = spawn(aargv, alog);
    if (p > 0 && wait_child(p, 60) == 0) serve_profile = an;
    else printf("demo: could not write the analytic profile (%s): the server picks its default\n", alog);
  }
  /* 3. the scenario: rates and SLOs the demo drives. Rates from the measured profile: the mix
   * (LeNets 5x MobileNetV2's rate) that keeps the device 30% busy at batch 1 on one core each
   * (plus 0.3 ms of HTTP work per request);
   * without a measured profile, fixed rates. */
  if (scen_path) {
    if (gl_scenario_load(scen_path, &s)) { rc = gl_cli_fail("demo"); goto out; }
  } else {
    double r_mob = 20;
    int units = 0;
    double l_len = profile ? profile_b1_ms(profile, "lenet", &units) : 0;
    double l_mob = profile && !quick ? profile_b1_ms(profile, "mobilenet_v2", NULL) : 0;
    if (l_len > 0 && units > 0 && (quick || l_mob > 0)) {
      /* core-ms per second of load for each req/s of MobileNetV2, 0.3 ms of HTTP work per request */
      double per = quick ? 2 * 5 * (l_len + 0.3) : 3 * 5 * (l_len + 0.3) + l_mob + 0.3;
      r_mob = 0.3 * units * 1000 / per;
      if (r_mob > 2000) r_mob = 2000;
      r_mob = r_mob >= 10 ? floor(r_mob) : fmax(1, floor(r_mob * 10) / 10);
      printf("demo: rates from the profile (batch 1 on one core: lenet %.3f ms, mobilenet_v2 %.2f ms; %d cores at 30%%):\n"
             "      lenet1..3 %g req/s each, mobilenetv2 %g req/s\n", l_len, l_mob, units, 5 * r_mob, r_mob);
    } else {
      printf("demo: fixed rates (no measured profile): lenet1..3 100 req/s each, mobilenetv2 20 req/s\n");
    }
    char txt[1024];
    snprintf(txt, sizeof txt,
             "{\"format\":\"gpulet-scenario\",\"version\":1,\"name\":\"demo\",\"duration_s\":%g,\"seed\":1,\"models\":["
             "{\"name\":\"lenet1\",\"slo_ms\":25,\"rate\":%g},{\"name\":\"lenet2\",\"slo_ms\":25,\"rate\":%g}",
             duration, 5 * r_mob, 5 * r_mob);
    if (!quick)
      snprintf(txt + strlen(txt), sizeof txt - strlen(txt),
               ",{\"name\":\"lenet3\",\"slo_ms\":25,\"rate\":%g},{\"name\":\"mobilenetv2\",\"slo_ms\":100,\"rate\":%g}",
               5 * r_mob, r_mob);
    snprintf(txt + strlen(txt), sizeof txt - strlen(txt), "]}");
    if (gl_scenario_parse(txt, "demo scenario", &s)) { rc = gl_cli_fail("demo"); goto out; }
  }
  /* 4. the repository: a folder per instance, copies of the zoo's files */
  char repo[4000];
  snprintf(repo, sizeof repo, "%s/repo", dir);
  for (int i = 0; i < s->n_models; i++) {
    const inst_t *in = NULL;
    for (int k = 0; k < n_inst; k++)
      if (!strcmp(insts[k].name, s->models[i].name)) in = &insts[k];
    if (!in) {
      fprintf(stderr, "gpulet demo: scenario model '%s': the demo serves only lenet1..lenet3 and mobilenetv2%s\n",
              s->models[i].name, quick ? " (lenet1, lenet2 with --quick)" : "");
      rc = 1;
      goto out;
    }
    char md[4100], f[4200];
    snprintf(md, sizeof md, "%s/%s", repo, in->name);
    snprintf(f, sizeof f, "%s/model.onnx", md);
    if (mkdir_p(md) || copy_file(!strcmp(in->zoo, "lenet") ? zl : zm, f)) {
      fprintf(stderr, "gpulet demo: cannot write %s: %s\n", f, strerror(errno));
      rc = 1;
      goto out;
    }
    snprintf(f, sizeof f, "%s/config.json", md);
    FILE *cf = fopen(f, "w");
    if (!cf) { fprintf(stderr, "gpulet demo: cannot write %s\n", f); rc = 1; goto out; }
    fprintf(cf, "{\"max_batch_size\": %d, \"slo_ms\": %g, \"slo_percentile\": %g", in->max_batch, s->models[i].slo_ms,
            s->models[i].pct);
    if (has_policy) fprintf(cf, ", \"rate\": %g, \"profile_model\": \"%s\"", gl_scenario_peak_rate(s, i), in->profile_model);
    fprintf(cf, "}\n");
    fclose(cf);
  }
  /* 5. serve and load, policy by policy */
  if (has_policy) {
    char *save = NULL, *tok = strtok_r(policies, ",", &save);
    for (; tok && nc < 4; tok = strtok_r(NULL, ",", &save)) {
      column_t *col = &cols[nc++];
      snprintf(col->policy, sizeof col->policy, "%s", tok);
      const char *what = !strcmp(tok, "gpulet") ? " (gpu-lets)"
                         : !strcmp(tok, "sbp")  ? " (time-sharing)"
                         : !strcmp(tok, "triton") ? " (Triton-like)"
                                                  : "";
      snprintf(col->label, sizeof col->label, "%s%s", tok, what);
      if (run_policy(dir, repo, tok, serve_profile, gpu, s, warmup, duration, steps, probe, col)) rc = 1;
    }
  } else {
    column_t *col = &cols[nc++];
    snprintf(col->policy, sizeof col->policy, "static");
    snprintf(col->label, sizeof col->label, "static split");
    if (run_policy(dir, repo, NULL, NULL, false, s, warmup, duration, steps, probe, col)) rc = 1;
  }
  print_table(s, cols, nc, steps);
  printf("fixed-rate runs: %g s measured after %g s warm-up at the scenario's rates; attainment = answered within\n"
         "the SLO / sent (rejected requests count as missed); p99 over answered requests, from the scheduled send time.\n",
         duration, warmup);
  printf("loadgen's JSON of each run: %s/loadgen-<policy>[-find-max].json; server logs: %s/serve-<policy>.log\n", dir, dir);
  printf("demo: done in %.0f s\n", (double)(gl_now_ns() - t0) / 1e9);
out:
  for (int k = 0; k < nc; k++) {
    gl_lg_result_fini(&cols[k].fixed);
    gl_lg_result_fini(&cols[k].fm);
  }
  gl_scenario_destroy(s);
  return rc;
bad:
  fprintf(stderr, "gpulet demo: bad value '%s' for an option\n", optarg);
  return 2;
}
