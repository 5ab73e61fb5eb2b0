/* serve/devices.c - the server's devices: parsing --devices (cpu, cpu:N, cuda:K lists with an
 * optional cpu fallback) and --partition, opening each device's part device and backend, the
 * test builds' device fault hook (GPULET_FAULT_DEVICE), and closing them after the gpu-lets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/gpu.h"
#include "core/alloc.h"
#include "serve/serve_int.h"

static gl_status_t add_dev(gl_server_t *s, gl_sdev_t **out) {
  if (s->n_devs >= GL_SERVE_MAX_DEVS) return gl_err(GL_EINVAL, "--devices: more than %d devices", GL_SERVE_MAX_DEVS);
  gl_sdev_t *d = &s->devs[s->n_devs];
  memset(d, 0, sizeof *d);
  d->sd.id = s->n_devs++;
  d->sd.on_fail = gl_sctl_device_failed;
  d->sd.user = s;
  atomic_init(&d->sd.failed, false);
  *out = d;
  return GL_OK;
}

/* The CPU (cores, or whole with --whole or without hwloc) as `n` devices of equal core counts. */
static gl_status_t open_cpu(gl_server_t *s, int n, bool fallback) {
  gl_part_dev_t *pd = NULL;
  if (n == 1) {
    if (s->o.whole || gl_part_dev_cpu_create(&pd)) pd = NULL;
    if (!pd) GL_TRY(gl_part_dev_whole_create(&pd));
  } else {
    if (s->o.whole) return gl_err(GL_EINVAL, "--devices cpu:%d splits the CPU's cores: not with --whole", n);
    GL_TRY(gl_part_dev_cpu_create(&pd));
  }
  if (s->o.no_pin) gl_part_dev_cpu_set_pinning(pd, false);
  gl_part_dev_info_t di;
  gl_part_dev_info(pd, &di);
  int per = di.units_total / n;
  if (per < 1) {
    gl_part_dev_destroy(pd);
    return gl_err(GL_EINVAL, "--devices cpu:%d: this CPU has %d core(s), fewer than %d devices", n, di.units_total, n);
  }
  for (int i = 0; i < n; i++) {
    gl_sdev_t *d;
    gl_status_t st = add_dev(s, &d);
    if (st) {
      if (i == 0) gl_part_dev_destroy(pd);
      return st;
    }
    snprintf(d->kind, sizeof d->kind, "cpu");
    if (n == 1) snprintf(d->name, sizeof d->name, "%.90s", di.name);
    else if (per == 1) snprintf(d->name, sizeof d->name, "%.70s core %d", di.name, i);
    else snprintf(d->name, sizeof d->name, "%.60s cores %d-%d", di.name, i * per, i * per + per - 1);
    d->index = i;
    d->pd = pd;
    d->owns_pd = i == 0;
    d->base = i * per;
    d->units = n == 1 ? di.units_total : per;
    d->fallback = fallback;
  }
  if (n > 1 && per * n < di.units_total && !s->o.quiet)
    fprintf(stderr, "gpulet serve: --devices cpu:%d: %d of the %d cores stay unused (equal devices)\n", n,
            di.units_total - per * n, di.units_total);
  return GL_OK;
}

static gl_status_t open_cuda(gl_server_t *s, int k, const char *part) {
  gl_sdev_t *d;
  GL_TRY(add_dev(s, &d));
  snprintf(d->kind, sizeof d->kind, "cuda");
  d->index = k;
  d->owns_pd = true;
  gl_status_t st;
  if (!strcmp(part, "green")) {
    st = gl_part_dev_cuda_green_create(k, &d->pd);
  } else if (!strcmp(part, "whole")) {
    /* every gpu-let runs on the whole GPU (time-shared, the backend's own stream): a virtual
     * device of one unit, so all of them get it */
    gl_part_virtual_cfg_t cfg = {.units = 1, .name = "cuda (whole GPU)"};
    st = gl_part_dev_virtual_create(&cfg, &d->pd);
  } else {
    /* MPS: each gpu-let is a worker process that loads and runs the models itself (let.c drives
     * it with gl_part_mps_load/run); this process opens no CUDA context for it */
    st = gl_part_dev_cuda_mps_create(k, &d->pd);
  }
  if (st) return gl_err_wrap(st, "cuda:%d", k);
  if (strcmp(part, "mps") && (st = gl_cuda_backend_open(k, &d->sd.be))) return gl_err_wrap(st, "cuda:%d", k);
  gl_part_dev_info_t di;
  gl_part_dev_info(d->pd, &di);
  snprintf(d->name, sizeof d->name, "cuda:%d %.80s", k, di.name);
  d->units = di.units_total;
  return GL_OK;
}

gl_status_t gl_serve_devices_open(gl_server_t *s) {
  const char *spec = s->o.devices && s->o.devices[0] ? s->o.devices : "cpu";
  const char *part = s->o.partition && s->o.partition[0] ? s->o.partition : "green";
  if (strcmp(part, "green") && strcmp(part, "mps") && strcmp(part, "whole"))
    return gl_err(GL_EINVAL, "--partition %s: green, mps or whole", part);
  int cpu_n = 0, cuda[GL_SERVE_MAX_DEVS], n_cuda = 0;
  char item[64];
  for (const char *p = spec; *p;) {
    size_t l = strcspn(p, ",");
    if (l == 0 || l >= sizeof item) return gl_err(GL_EINVAL, "--devices %s: empty or overlong item", spec);
    memcpy(item, p, l);
    item[l] = 0;
    p += l + (p[l] == ',');
    char *end = NULL;
    if (!strcmp(item, "cpu") || !strncmp(item, "cpu:", 4)) {
      long n = item[3] ? strtol(item + 4, &end, 10) : 1;
      if ((item[3] && (end == item + 4 || *end)) || n < 1 || n > GL_SERVE_MAX_DEVS)
        return gl_err(GL_EINVAL, "--devices: bad item '%s' (cpu:N with N in 1..%d)", item, GL_SERVE_MAX_DEVS);
      if (cpu_n) return gl_err(GL_EINVAL, "--devices %s: the CPU is named twice", spec);
      cpu_n = (int)n;
    } else if (!strcmp(item, "cuda") || !strncmp(item, "cuda:", 5)) {
      long k = item[4] ? strtol(item + 5, &end, 10) : 0;
      if ((item[4] && (end == item + 5 || *end)) || k < 0 || k > 1024)
        return gl_err(GL_EINVAL, "--devices: bad item '%s' (cuda:K)", item);
      for (int i = 0; i < n_cuda; i++)
        if (cuda[i] == k) return gl_err(GL_EINVAL, "--devices %s: cuda:%ld named twice", spec, k);
      if (n_cuda >= GL_SERVE_MAX_DEVS) return gl_err(GL_EINVAL, "--devices: more than %d devices", GL_SERVE_MAX_DEVS);
      cuda[n_cuda++] = (int)k;
    } else {
      return gl_err(GL_EINVAL, "--devices: unknown item '%s' (cpu, cpu:N, cuda:K)", item);
    }
  }
  if (n_cuda && cpu_n > 1)
    return gl_err(GL_EINVAL, "--devices %s: with GPUs the CPU is one fallback device ('cpu', not 'cpu:%d')", spec, cpu_n);
  if (!n_cuda && !cpu_n) cpu_n = 1;
  gl_status_t st = GL_OK;
  for (int i = 0; i < n_cuda && !st; i++) st = open_cuda(s, cuda[i], part);
  if (!st && cpu_n) st = open_cpu(s, cpu_n, n_cuda > 0);
  if (st) return st;
  s->dev = s->devs[0].pd;
#ifdef GL_FAULT_INJECT
  /* test builds: GPULET_FAULT_DEVICE="D@T[,D@T...]" fails device D T seconds after start */
  const char *f = getenv("GPULET_FAULT_DEVICE");
  if (f) {
    fprintf(stderr, "gpulet serve: fault injection armed: GPULET_FAULT_DEVICE=%s\n", f);
    for (const char *p = f; *p;) {
      char *end;
      long d = strtol(p, &end, 10);
      if (end == p || *end != '@') break;
      double t = strtod(end + 1, &end);
      if (d >= 0 && d < s->n_devs && t >= 0) s->devs[d].sd.fault_at_ns = s->start_ns + (int64_t)(t * 1e9) + 1;
      p = end + (*end == ',');
      if (*end && *end != ',') break;
    }
  }
  /* GPULET_FAULT_FALLBACK=D: device D is a fallback (as the CPU after GPUs), so that the
   * fallback path runs on cpu:N */
  const char *fb = getenv("GPULET_FAULT_FALLBACK");
  if (fb && atoi(fb) >= 0 && atoi(fb) < s->n_devs) {
    s->devs[atoi(fb)].fallback = true;
    fprintf(stderr, "gpulet serve: fault injection: device %d is a fallback (GPULET_FAULT_FALLBACK)\n", atoi(fb));
  }
#endif
  return GL_OK;
}

void gl_serve_devices_close(gl_server_t *s) {
  for (int i = 0; i < s->n_devs; i++) {
    gl_sdev_t *d = &s->devs[i];
    gl_backend_destroy(d->sd.be);
    d->sd.be = NULL;
    if (d->owns_pd) gl_part_dev_destroy(d->pd);
    d->pd = NULL;
  }
  s->n_devs = 0;
  s->dev = NULL;
}

int gl_serve_devices_ok(gl_server_t *s, bool *degraded) {
  int n = 0;
  for (int i = 0; i < s->n_devs; i++) n += !atomic_load(&s->devs[i].sd.failed);
  if (degraded) *degraded = n < s->n_devs;
  return n;
}

int gl_serve_pick_units(const gl_part_dev_info_t *di, int units, int want, const int *used, int *out) {
  if (units > 256) units = 256;
  if (want > units) want = units;
  if (want < 1) want = 1;
  int order[256], n = 0;
  if (di->kind == GL_PART_CUDA_GREEN && di->group_units > 0 && di->groups > 0) {
    int G = di->group_units, ng = (want + G - 1) / G;
    if (ng >= di->groups || ng * G >= units) { /* the whole device, remainder included */
      for (int k = 0; k < units; k++) out[n++] = k;
      return n;
    }
    for (int g = 0; g < di->groups; g++) order[g] = g;
    for (int a = 1; a < di->groups; a++) /* least used group first, then by index */
      for (int b = a; b > 0 && used[order[b - 1] * G] > used[order[b] * G]; b--) {
        int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t;
      }
    for (int a = 1; a < ng; a++) /* the chosen groups in ascending order */
      for (int b = a; b > 0 && order[b - 1] > order[b]; b--) {
        int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t;
      }
    for (int g = 0; g < ng; g++)
      for (int j = 0; j < G; j++) out[n++] = order[g] * G + j;
    return n;
  }
  for (int k = 0; k < units; k++) order[k] = k;
  for (int a = 1; a < units; a++) /* least used first, then by index (stable insertion sort) */
    for (int b = a; b > 0 && used[order[b - 1]] > used[order[b]]; b--) {
      int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t;
    }
  for (int k = 0; k < want; k++) out[n++] = order[k];
  return n;
}
