/* cli/cmd_profile_analytic.c - `gpulet profile --analytic h100|rtx2080ti|cpu -o FILE [--compare MEASURED]`. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "profile/profile.h"

/* Calibration error of analytic profile a against measured profile m: per model and overall, the
 * geometric-mean ratio analytic/measured of the median latency over every measured (batch, size)
 * cell, the mean |error|, and the typical factor exp(mean |ln ratio|) (2 = off by 2x either way), overall
 * also after dividing by the overall ratio (level vs shape). */
static void compare(const gl_profile_t *a, const gl_profile_t *m) {
  double all_log = 0, all_abs = 0, all_fac = 0;
  int all_n = 0;
  double *ratios = NULL;
  size_t cap = 0;
  printf("%-16s %6s %10s %10s %8s   (analytic / measured median latency, cells measured on %s)\n", "model", "cells",
         "geo-ratio", "mean|err|", "factor", m->name);
  for (int i = 0; i < m->n_models; i++) {
    int ai = gl_profile_find(a, m->models[i].name);
    if (ai < 0) continue;
    double sl = 0, sa = 0, sf = 0;
    int n = 0;
    for (int b = 0; b < m->n_batches; b++)
      for (int s = 0; s < m->n_sizes; s++) {
        double meas = m->models[i].lat_med[(size_t)b * m->n_sizes + s];
        if (!(meas > 0)) continue;
        double an = gl_profile_latency(a, ai, m->batches[b], m->sizes[s], false);
        if (!(an > 0) || !isfinite(an)) continue;
        double r = an / meas;
        if (gl_grow((void **)&ratios, &cap, (size_t)all_n + 1, sizeof *ratios)) break;
        ratios[all_n++] = r;
        sl += log(r), sa += fabs(r - 1), sf += fabs(log(r)), n++;
      }
    if (!n) continue;
    all_log += sl, all_abs += sa, all_fac += sf;
    printf("%-16s %6d %10.3f %9.1f%% %8.2f\n", m->models[i].name, n, exp(sl / n), 100 * sa / n, exp(sf / n));
  }
  if (all_n) {
    double g = exp(all_log / all_n), res = 0, resf = 0;
    for (int k = 0; k < all_n; k++) res += fabs(ratios[k] / g - 1), resf += fabs(log(ratios[k] / g));
    printf("%-16s %6d %10.3f %9.1f%% %8.2f   after dividing by %.3f: mean|err| %.1f%%, factor %.2f\n", "all", all_n,
           g, 100 * all_abs / all_n, exp(all_fac / all_n), g, 100 * res / all_n, exp(resf / all_n));
  }
  gl_free(ratios);
}

int gl_cmd_profile_analytic(int argc, char **argv) {
  static const struct option opts[] = {
      {"analytic", required_argument, 0, 'a'}, {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
      {"cores", required_argument, 0, 'c'},    {"gflops", required_argument, 0, 'g'}, {"mem-bw", required_argument, 0, 'b'},
      {"mem-mb", required_argument, 0, 'm'},   {"compare", required_argument, 0, 'C'}, {0, 0, 0, 0}};
  const char *dev = NULL, *outp = NULL, *cmp = NULL;
  int c, cores = 0;
  double gflops = 0, mem_bw = 0, mem_mb = 0;
  /* without --analytic this is a measurement (cmd_profile.c) */
  bool analytic = false;
  for (int i = 1; i < argc; i++) analytic |= !strcmp(argv[i], "--analytic") || !strncmp(argv[i], "--analytic=", 11) || !strcmp(argv[i], "-a");
  if (!analytic) return gl_cmd_profile_measure(argc, argv);
  optind = 1;
  while ((c = getopt_long(argc, argv, "a:o:h", opts, NULL)) != -1) {
    if (c == 'a') dev = optarg;
    else if (c == 'o') outp = optarg;
    else if (c == 'c') cores = atoi(optarg);
    else if (c == 'g') gflops = atof(optarg);
    else if (c == 'b') mem_bw = atof(optarg);
    else if (c == 'm') mem_mb = atof(optarg);
    else if (c == 'C') cmp = optarg;
    else {
      fprintf(c == 'h' ? stdout : stderr,
              "usage: gpulet profile --analytic h100|rtx2080ti|cpu -o FILE [--compare MEASURED.json]\n"
              "       cpu: [--cores N (online cores)] [--gflops G per core (220)] [--mem-bw GB/s (20)] [--mem-mb M]\n"
              "  Writes a roofline (analytic) latency profile of the 9 research models for the device,\n"
              "  labelled analytic (docs/profile.md). --compare prints its calibration error against a\n"
              "  measured profile (geometric-mean ratio and mean |error| of the median latencies).\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (!dev || (!outp && !cmp) || cores < 0 || cores > GL_PROFILE_MAX_SIZES || gflops < 0 || mem_bw < 0 || mem_mb < 0) {
    fprintf(stderr, "gpulet profile: needs --analytic DEVICE and -o FILE or --compare FILE\n");
    return 2;
  }
  gl_profile_t *p;
  if (!strcmp(dev, "cpu") && (cores || gflops || mem_bw || mem_mb)) {
    gl_device_spec_t spec;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int nm;
    const gl_model_spec_t *ms = gl_profile_model_specs(&nm);
    gl_profile_cpu_spec(cores ? cores : online > 0 ? (int)online : 1, gflops, mem_bw, mem_mb, &spec);
    if (gl_profile_analytic_build(&spec, ms, nm, &p) < 0) return gl_cli_fail("profile");
  } else if (gl_profile_analytic(dev, &p) < 0) {
    return gl_cli_fail("profile");
  }
  if (cmp) {
    gl_profile_t *meas;
    if (gl_profile_load(cmp, &meas) < 0) {
      gl_profile_destroy(p);
      return gl_cli_fail("profile");
    }
    compare(p, meas);
    gl_profile_destroy(meas);
    if (!outp) {
      gl_profile_destroy(p);
      return 0;
    }
  }
  gl_status_t st = gl_profile_save(p, outp);
  gl_profile_destroy(p);
  if (st < 0) return gl_cli_fail("profile");
  printf("wrote %s (analytic %s)\n", outp, dev);
  return 0;
}

/* Loads a profile file, or builds one for "analytic:DEVICE". */
int gl_cli_load_profile(const char *arg, gl_profile_t **out) {
  if (!strncmp(arg, "analytic:", 9)) return gl_profile_analytic(arg + 9, out) < 0 ? -1 : 0;
  return gl_profile_load(arg, out) < 0 ? -1 : 0;
}
