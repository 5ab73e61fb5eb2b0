/* profile/profile_analytic.c - roofline profiles for devices we cannot measure (h100, rtx2080ti) and a CPU model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "profile/profile.h"

/* The 9 research models (PAPER.md §2); MACs per sample, parameters, kernels per inference after
 * fusion, activation traffic per sample at FP32. Memory footprints are the research's. */
static const gl_model_spec_t k_models[] = {
    {"lenet", 0.0023, 0.06, 8, 0.05, 3136, 28, 50},
    {"googlenet", 1.5, 6.6, 70, 30, 602112, 224, 1720},
    {"resnet50", 4.1, 25.6, 110, 100, 602112, 224, 1820},
    {"ssd-mobilenetv1", 1.2, 6.8, 80, 60, 1080000, 300, 640},
    {"vgg16", 15.5, 138, 22, 120, 602112, 224, 2920},
    {"mnasnet1_0", 0.32, 4.4, 60, 40, 602112, 224, 1550},
    {"mobilenet_v2", 0.3, 3.5, 60, 45, 602112, 224, 464},
    {"densenet161", 7.8, 28.7, 330, 250, 602112, 224, 1220},
    {"bert", 11.0, 110, 80, 30, 1024, 1, 500},
};

static const gl_device_spec_t k_devices[] = {
    /* H100 SXM: 132 SMs split in groups of 8 (green contexts), FP16 tensor 989 TFLOP/s dense,
     * HBM3 3.35 TB/s, CUDA-graph launches ~2 us, pinned batch copy at 25 GB/s. */
    {"h100", "cuda", "sm", 132, 8, 8, 17,
     {8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 132},
     132, 989e12, 3.35e12, 2.0, 3.0, 0.7, 2, 81920, 25e9},
    /* RTX 2080 Ti under MPS percentages (the research's testbed): FP32 13.4 TFLOP/s (LibTorch
     * FP32), 616 GB/s, eager launches ~10 us, research batching curves. */
    {"rtx2080ti", "cuda", "pct", 100, 10, 10, 6, {20, 40, 50, 60, 80, 100}, 68, 13.4e12, 616e9, 10.0, 7.0, 0.7, 4,
     11000, 0},
};

/* PAPER.md §8, resource/2080ti/UTIL.CSV: L2 % / DRAM % at batches 1,2,4,8,16,32. */
static const struct {
  const char *name;
  double l2[6], dram[6];
} k_util_2080ti[] = {
    {"bert", {9.2, 10.7, 14.0, 16.3, 18.0, 18.3}, {29.0, 29.3, 30.3, 30.2, 34.4, 34.7}},
    {"densenet161", {9.0, 12.9, 19.3, 22.2, 23.4, 25.5}, {18.3, 25.2, 36.6, 45.0, 53.9, 60.0}},
    {"googlenet", {7.4, 12.3, 16.8, 22.3, 23.6, 24.9}, {15.9, 23.9, 32.6, 43.4, 52.4, 56.3}},
    {"lenet", {2.4, 2.5, 4.4, 4.3, 5.4, 7.0}, {11.3, 11.2, 17.8, 15.0, 18.1, 25.4}},
    {"mnasnet1_0", {8.0, 11.2, 15.0, 18.6, 21.5, 21.6}, {20.0, 28.6, 37.8, 46.6, 54.3, 57.6}},
    {"mobilenet_v2", {8.6, 12.2, 15.9, 20.7, 23.2, 23.9}, {21.8, 30.3, 39.9, 51.1, 57.9, 62.3}},
    {"resnet50", {15.4, 18.8, 23.0, 25.8, 26.8, 28.2}, {27.9, 35.0, 43.9, 51.3, 58.4, 62.3}},
    {"ssd-mobilenetv1", {10.6, 11.6, 15.8, 20.1, 23.3, 27.6}, {20.5, 26.1, 34.3, 46.4, 54.0, 61.2}},
    {"vgg16", {31.0, 33.8, 35.0, 32.1, 30.5, 30.2}, {56.0, 55.9, 54.2, 56.7, 60.8, 61.1}},
};

/* PAPER.md §4 batching-overhead curves (ms, raw). */
static const int k_curve_b[7] = {1, 2, 4, 8, 16, 24, 32};
static const double k_curve_28[7] = {0.0029, 0.0027, 0.0031, 0.0041, 0.0056, 0.0142, 0.0313};
static const double k_curve_224[7] = {0.242, 0.472, 0.937, 1.869, 5.081, 7.717, 10.989};
static const double k_curve_300[7] = {0.416, 0.830, 1.628, 4.192, 9.569, 15.666, 21.697};

static double curve(const double *c, int b) {
  if (b <= 1) return c[0];
  for (int i = 1; i < 7; i++)
    if (b <= k_curve_b[i]) {
      double t = (double)(b - k_curve_b[i - 1]) / (double)(k_curve_b[i] - k_curve_b[i - 1]);
      return c[i - 1] + t * (c[i] - c[i - 1]);
    }
  return c[6];
}

const gl_device_spec_t *gl_profile_device_spec(const char *name) {
  for (size_t i = 0; i < sizeof k_devices / sizeof k_devices[0]; i++)
    if (!strcmp(k_devices[i].name, name)) return &k_devices[i];
  return NULL;
}

const gl_model_spec_t *gl_profile_model_specs(int *n) {
  *n = (int)(sizeof k_models / sizeof k_models[0]);
  return k_models;
}

/* Roofline latency (ms) and the memory-bound share of it. */
static double roofline(const gl_device_spec_t *d, const gl_model_spec_t *m, int b, int units, double *mem_share) {
  double share = (double)units / d->total_units;
  double sms = d->sms * share;
  double flops = 2e9 * m->gmacs * b;
  /* per-kernel work per SM decides how well a kernel fills its SMs: small batch or a large share
   * spreads too little work over too many SMs (tail and ramp), so efficiency falls */
  double t_ideal_us = flops / m->kernels / sms / (d->peak_flops / d->sms) * 1e6;
  double eff = d->eff_max * t_ideal_us / (t_ideal_us + d->t_half_us);
  double t_comp = flops / (d->peak_flops * share * eff);
  double bytes = m->mparams * 1e6 * d->dtype_bytes + b * m->act_mb * 1e6 * d->dtype_bytes / 4;
  double bw = d->mem_bw * fmin(1.0, 1.5 * share) * 0.8; /* few SMs cannot saturate HBM */
  double t_mem = bytes / bw;
  double t = fmax(t_comp, t_mem) + 0.25 * fmin(t_comp, t_mem) + m->kernels * d->launch_us * 1e-6;
  if (mem_share) *mem_share = t_mem / (t_comp + t_mem);
  return t * 1e3;
}

gl_status_t gl_profile_analytic_build(const gl_device_spec_t *d, const gl_model_spec_t *ms, int n,
                                      gl_profile_t **out) {
  if (!d || !ms || n < 1) return gl_err(GL_EINVAL, "analytic profile: no device or models");
  const int nb = 32;
  gl_profile_t *p = gl_profile_alloc(n, d->n_sizes, nb);
  if (!p) return gl_err(GL_ENOMEM, "analytic profile: out of memory");
  snprintf(p->kind, sizeof p->kind, "%s", d->kind);
  snprintf(p->name, sizeof p->name, "%s", d->name);
  snprintf(p->unit, sizeof p->unit, "%s", d->unit);
  p->total_units = d->total_units;
  p->granularity = d->granularity;
  p->min_units = d->min_units;
  p->mem_mb = d->mem_mb;
  memcpy(p->sizes, d->sizes, sizeof d->sizes);
  for (int b = 0; b < nb; b++) p->batches[b] = b + 1;
  static const int fb[6] = {1, 2, 4, 8, 16, 32};
  p->n_feat = 6;
  memcpy(p->feat_batches, fb, sizeof fb);
  /* research 2080 Ti coefficients (PAPER.md §8); assumed for other devices until fitted */
  p->icoef[0] = 0.1129, p->icoef[1] = 0.7160, p->icoef[2] = 0.3549, p->icoef[3] = 0.0882, p->icoef[4] = 0.8954;
  bool is2080 = !strcmp(d->name, "rtx2080ti");
  for (int mi = 0; mi < n; mi++) {
    const gl_model_spec_t *m = &ms[mi];
    gl_profile_model_t *pm = &p->models[mi];
    snprintf(pm->name, sizeof pm->name, "%s", m->name);
    pm->mem_mb = m->mem_mb;
    for (int b = 0; b < nb; b++) {
      for (int s = 0; s < p->n_sizes; s++) {
        double l = roofline(d, m, b + 1, p->sizes[s], NULL);
        pm->lat_med[(size_t)b * p->n_sizes + s] = l;
        pm->lat_p99[(size_t)b * p->n_sizes + s] = l * 1.05;
      }
      int bb = b + 1;
      double c;
      if (d->copy_bw > 0) c = 0.01 + bb * m->input_bytes / d->copy_bw * 1e3;
      else if (m->input_kind == 28) c = 0.4;
      else if (m->input_kind == 224) c = 1.9 * curve(k_curve_224, bb);
      else if (m->input_kind == 300) c = 2.5 * curve(k_curve_300, bb);
      else if (m->input_kind == 1) c = 1.0;
      else c = 0;
      (void)k_curve_28;
      pm->batch_ms[b] = c;
    }
    int u = -1;
    if (is2080)
      for (size_t k = 0; k < sizeof k_util_2080ti / sizeof k_util_2080ti[0]; k++)
        if (!strcmp(k_util_2080ti[k].name, m->name)) u = (int)k;
    for (int f = 0; f < 6; f++) {
      if (u >= 0) {
        pm->l2_pct[f] = k_util_2080ti[u].l2[f];
        pm->dram_pct[f] = k_util_2080ti[u].dram[f];
      } else {
        double share;
        roofline(d, m, fb[f], d->total_units, &share);
        pm->dram_pct[f] = fmin(90, 10 + 70 * share);
        pm->l2_pct[f] = fmin(60, 3 + 0.45 * pm->dram_pct[f]);
      }
    }
  }
  snprintf(p->who, sizeof p->who, "gpulet profile --analytic");
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(p->when, sizeof p->when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const char *c = getenv("GPULET_COMMIT");
  snprintf(p->commit, sizeof p->commit, "%s", c ? c : "");
  p->analytic = true;
  gl_status_t st = gl_profile_validate(p, "analytic profile");
  if (st < 0) {
    gl_profile_destroy(p);
    return st;
  }
  *out = p;
  return GL_OK;
}

void gl_profile_cpu_spec(int cores, double gflops_core, double mem_bw_gbs, double mem_mb, gl_device_spec_t *d) {
  memset(d, 0, sizeof *d);
  if (cores < 1) cores = 1;
  if (cores > GL_PROFILE_MAX_SIZES) cores = GL_PROFILE_MAX_SIZES;
  d->name = "cpu", d->kind = "cpu", d->unit = "core";
  d->total_units = cores, d->granularity = 1, d->min_units = 1;
  d->n_sizes = cores;
  for (int i = 0; i < cores; i++) d->sizes[i] = i + 1;
  d->sms = cores;
  d->peak_flops = cores * (gflops_core > 0 ? gflops_core : 220) * 1e9;
  d->mem_bw = (mem_bw_gbs > 0 ? mem_bw_gbs : 20) * 1e9;
  d->launch_us = 3.0;   /* primitive dispatch + OpenMP fork/join per op */
  d->t_half_us = 20.0;
  d->eff_max = 0.7;
  d->dtype_bytes = 4;
  d->mem_mb = mem_mb > 0 ? mem_mb : 16384;
  d->copy_bw = 5e9;     /* assembling a batch is a memcpy */
}

gl_status_t gl_profile_analytic(const char *device, gl_profile_t **out) {
  gl_device_spec_t cpu;
  const gl_device_spec_t *d = gl_profile_device_spec(device);
  if (!d && !strcmp(device, "cpu")) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    gl_profile_cpu_spec(n > 0 ? (int)n : 1, 0, 0, 0, &cpu);
    d = &cpu;
  }
  if (!d) return gl_err(GL_ENOTFOUND, "no analytic device '%s' (known: h100, rtx2080ti, cpu)", device);
  int n;
  const gl_model_spec_t *ms = gl_profile_model_specs(&n);
  return gl_profile_analytic_build(d, ms, n, out);
}
