/* part/cuda_green.c - the green-context partition kind (GL_PART_CUDA_GREEN) and the MPS kind's
 * placeholder (GL_PART_CUDA_MPS).
 *
 * WHAT ONLY COMPILATION VERIFIES (no GPU where this was written; the first run is on an H100 via
 * bench/gpu/checklist.sh, `gpulet gpulets`): that the green context made current on the executor
 * and the green stream given to plans really keep a plan's kernels (cuDNN, cuBLAS, our own) on the
 * gpu-let's SMs, and every number the driver gives (granularity, split, SMs held, times).
 * (The MPS kind is in part/cuda_mps.c.)
 * What the CPU tests verify (tests/part/test_green.c, with a fake driver table): the unit = SM
 * accounting, the grant rule at the driver's granularity (H100-like 132 SMs, groups of 8), which
 * groups each partition hands the driver, the executor entering the context before jobs, the
 * stream reaching gl_part_placement, teardown order, timings reported, and no leaks; and
 * (tests/part_green.cmake) the clear errors with no module, no driver, or the stub driver.
 *
 * Units are SMs numbered 0..total-1: group g is SMs [g*G, (g+1)*G) and the split's remainder the
 * SMs after the last group. part.c hands out free units lowest first and the remainder only to a
 * whole-device partition (whole_only_from); as every other green size is a whole number of
 * groups, a partition's units are always whole groups, also across gl_part_resize. */
#include "part/cuda_green.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "part/part_int.h"

typedef struct {
  const gl_cuda_green_api_t *api;
  void *dev; /* the module's handle */
  gl_cuda_green_dev_info_t ci;
} gdev_t;

typedef struct {
  void *h;      /* the module's partition handle */
  void *stream; /* its CUstream */
} gpart_t;

gl_status_t gl__green_units_to_groups(const int *units, int n, int group_sms, int n_groups,
                                      int rem_sms, int *groups, int *n_out, int *with_rem) {
  *n_out = 0;
  *with_rem = 0;
  int grouped = group_sms * n_groups, n_rem = 0;
  for (int k = 0; k < n;) {
    int u = units[k];
    if (u >= grouped) { /* remainder SMs come last (units are sorted) */
      n_rem = n - k;
      break;
    }
    int g = u / group_sms;
    for (int j = 0; j < group_sms; j++)
      if (k + j >= n || units[k + j] != g * group_sms + j)
        return gl_err(GL_EINVAL, "green partition: SMs %d.. are not a whole group of %d", g * group_sms,
                      group_sms);
    groups[(*n_out)++] = g;
    k += group_sms;
  }
  if (n_rem != 0 && n_rem != rem_sms)
    return gl_err(GL_EINVAL, "green partition: %d of the %d remainder SMs asked for (all or none)",
                  n_rem, rem_sms);
  *with_rem = n_rem > 0;
  return GL_OK;
}

static gl_status_t green_part_init(gl_part_dev_t *d, gl_part_t *p) {
  gdev_t *g = d->ctx;
  int *groups = gl_malloc(sizeof(int) * (size_t)(g->ci.n_groups + 1));
  gpart_t *gp = gl_calloc(1, sizeof *gp);
  if (!groups || !gp) {
    gl_free(groups);
    gl_free(gp);
    return gl_err(GL_ENOMEM, "green partition: out of memory");
  }
  int n = 0, with_rem = 0, sms = 0;
  gl_status_t st = gl__green_units_to_groups(p->units, p->grant.units, g->ci.group_sms, g->ci.n_groups,
                                             g->ci.rem_sms, groups, &n, &with_rem);
  if (st == GL_OK) {
    int64_t t0 = gl_now_ns();
    st = (gl_status_t)g->api->part_create(g->dev, groups, n, with_rem, &gp->h, &gp->stream, &sms);
    p->grant.create_ns = gl_now_ns() - t0;
    if (st < 0 && !gl_errmsg()[0]) gl_err(st, "green partition: the module failed to make a context");
  }
  gl_free(groups);
  if (st < 0) {
    gl_free(gp);
    return st;
  }
  if (sms != p->grant.units)
    GL_LOGW("green partition: granted %d SMs but the driver says its context holds %d", p->grant.units, sms);
  p->grant.units_device = sms;
  p->grant.stream = gp->stream;
  p->ctx = gp;
  return GL_OK;
}

static gl_status_t green_exec_enter(gl_part_t *p) {
  gdev_t *g = p->dev->ctx;
  gpart_t *gp = p->ctx;
  gl_status_t st = (gl_status_t)g->api->part_enter(gp->h);
  if (st < 0 && !gl_errmsg()[0]) gl_err(st, "green partition: cannot make its context current");
  return st;
}

/* Each job starts inside the green context again: a library call in the previous job (e.g. the
 * runtime's cudaSetDevice, which binds the primary context) must not move this one out of it. */
static gl_status_t green_job_run(gl_part_t *p, gl_part_fn fn, void *arg) {
  GL_TRY(green_exec_enter(p));
  return fn(p, arg);
}

static void green_part_fini(gl_part_dev_t *d, gl_part_t *p) {
  gdev_t *g = d->ctx;
  gpart_t *gp = p->ctx;
  if (!gp) return;
  int64_t t0 = gl_now_ns();
  g->api->part_destroy(gp->h);
  int64_t dt = gl_now_ns() - t0;
  pthread_mutex_lock(&d->mu);
  d->info.destroy_ns = dt;
  pthread_mutex_unlock(&d->mu);
  gl_free(gp);
  p->ctx = NULL;
}

static void green_placement(const gl_part_t *p, gl_placement_t *pl) {
  const gpart_t *gp = p->ctx;
  pl->stream = gp ? gp->stream : NULL;
}

static void green_destroy(gl_part_dev_t *d) {
  gdev_t *g = d->ctx;
  if (!g) return;
  g->api->dev_close(g->dev);
  gl_free(g);
}

static const struct gl_part_dev_i green_i = {
    .name = "cuda-green",
    .part_init = green_part_init,
    .exec_enter = green_exec_enter,
    .job_run = green_job_run,
    .part_fini = green_part_fini,
    .destroy = green_destroy,
    .placement = green_placement,
};

gl_status_t gl__part_dev_green_create_api(const gl_cuda_green_api_t *api, int device,
                                          gl_part_dev_t **out) {
  *out = NULL;
  if (!api || api->abi_version != GL_CUDA_GREEN_ABI || api->size < sizeof(gl_cuda_green_api_t))
    return gl_err(GL_EDEVICE, "green contexts: the module was built for another gpulet (ABI %u, size %u; "
                              "want %d, >= %zu)", api ? api->abi_version : 0, api ? api->size : 0,
                  GL_CUDA_GREEN_ABI, sizeof(gl_cuda_green_api_t));
  gdev_t *g = gl_calloc(1, sizeof *g);
  gl_part_dev_t *d = gl_calloc(1, sizeof *d);
  if (!g || !d) {
    gl_free(g);
    gl_free(d);
    return gl_err(GL_ENOMEM, "green contexts: out of memory");
  }
  g->api = api;
  gl_err_clear();
  gl_status_t st = (gl_status_t)api->dev_open(device, &g->dev, &g->ci);
  if (st < 0) {
    if (!gl_errmsg()[0]) gl_err(st, "green contexts: the module could not open CUDA device %d", device);
    gl_free(g);
    gl_free(d);
    return st;
  }
  const gl_cuda_green_dev_info_t *ci = &g->ci;
  int total = ci->group_sms * ci->n_groups + ci->rem_sms;
  if (ci->group_sms < 1 || ci->n_groups < 1 || ci->rem_sms < 0 || total > ci->sm_count) {
    api->dev_close(g->dev);
    gl_free(g);
    gl_free(d);
    return gl_err(GL_EDEVICE, "green contexts: the split of %d SMs is not usable (%d groups of %d + %d)",
                  ci->sm_count, ci->n_groups, ci->group_sms, ci->rem_sms);
  }
  if (total < ci->sm_count)
    GL_LOGW("green contexts: the split covers %d of %d SMs; the other %d are never granted", total,
            ci->sm_count, ci->sm_count - total);
  d->i = &green_i;
  d->ctx = g;
  d->info.kind = GL_PART_CUDA_GREEN;
  snprintf(d->info.name, sizeof d->info.name, "%s", ci->name[0] ? ci->name : "CUDA device");
  d->info.unit_name = "SM";
  d->info.units_total = total;
  d->info.unit_min = ci->group_sms;
  d->info.unit_align = ci->group_sms;
  d->info.setup_ns = ci->split_ns;
  d->info.groups = ci->n_groups;
  d->info.group_units = ci->group_sms;
  d->info.rem_units = ci->rem_sms;
  if (ci->rem_sms > 0) d->whole_only_from = ci->group_sms * ci->n_groups;
  st = gl__part_dev_init(d);
  if (st < 0) {
    api->dev_close(g->dev);
    gl_free(g);
    gl_free(d);
    return st;
  }
  *out = d;
  return GL_OK;
}

/* ---- the module ---- */

static void host_set_error(int status, const char *msg) { gl_err((gl_status_t)status, "%s", msg); }
static void host_log(int level, const char *msg) { gl_log((gl_log_level_t)level, "green: %s", msg); }

static const gl_host_api_t host_api = {
    .abi_version = GL_CUDA_MODULE_ABI,
    .size = sizeof(gl_host_api_t),
    .set_error = host_set_error,
    .log = host_log,
};

static pthread_mutex_t module_mu = PTHREAD_MUTEX_INITIALIZER;
static const gl_cuda_green_api_t *module_api; /* the module stays loaded once opened */

static gl_status_t open_module(const gl_cuda_green_api_t **out) {
  pthread_mutex_lock(&module_mu);
  if (module_api) {
    *out = module_api;
    pthread_mutex_unlock(&module_mu);
    return GL_OK;
  }
  char path[PATH_MAX + 32] = "libgpulet_green.so";
  const char *env = getenv("GPULET_GREEN_MODULE");
  if (env && env[0]) {
    snprintf(path, sizeof path, "%s", env);
  } else {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
      *slash = 0;
      char beside[PATH_MAX + 32];
      snprintf(beside, sizeof beside, "%s/libgpulet_green.so", exe);
      if (access(beside, F_OK) == 0) snprintf(path, sizeof path, "%s", beside);
    }
  }
  gl_status_t st = GL_OK;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    st = gl_err(GL_EDEVICE, "green contexts: the module libgpulet_green.so was not built or cannot load (%s)",
                e ? e : path);
  } else {
    gl_cuda_green_init_fn init = (gl_cuda_green_init_fn)dlsym(h, GL_CUDA_GREEN_INIT);
    const gl_cuda_green_api_t *api = NULL;
    if (!init) {
      st = gl_err(GL_EDEVICE, "green contexts: %s has no %s", path, GL_CUDA_GREEN_INIT);
    } else if (init(&host_api, &api) != GL_OK || !api) {
      st = gl_err(GL_EDEVICE, "green contexts: %s refused this gpulet (host ABI %d)", path, GL_CUDA_MODULE_ABI);
    }
    if (st < 0) dlclose(h);
    else module_api = api;
  }
  *out = module_api;
  pthread_mutex_unlock(&module_mu);
  return st;
}

gl_status_t gl_part_dev_cuda_green_create(int device, gl_part_dev_t **out) {
  *out = NULL;
  const gl_cuda_green_api_t *api;
  GL_TRY(open_module(&api));
  return gl__part_dev_green_create_api(api, device, out);
}
