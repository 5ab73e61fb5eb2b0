/* backend/cuda/green_module.c - libgpulet_green.so: every CUDA driver call a green-context
 * gpu-let makes (split the SMs once, make a green context and its stream per partition, make it
 * current on the executor, tear it down), behind the table of green_module.h.
 *
 * WHAT ONLY COMPILATION VERIFIES (written on a machine with no GPU; first run is on an H100 via
 * bench/gpu/checklist.sh):
 *  - that the calls below are the right sequence for the real driver: cuDeviceGetDevResource,
 *    one cuDevSmResourceSplitByCount at minCount = the device's granularity, several groups of
 *    that one split (plus its remainder) in one cuDevResourceGenerateDesc, cuGreenCtxCreate with
 *    CU_GREEN_CTX_DEFAULT_STREAM, cuGreenCtxStreamCreate(CU_STREAM_NON_BLOCKING), and
 *    cuCtxFromGreenCtx + cuCtxSetCurrent on the executor thread;
 *  - that the SM counts cuGreenCtxGetDevResource reports equal the groups' sums;
 *  - that two green contexts may be made from overlapping groups (gl_part_resize builds the new
 *    partition beside the old one, sharing its groups for a moment);
 *  - the create/teardown times (measured with gl_now_ns around the calls and reported; unknown).
 * What runs here (ctest): loading this module, dlopen of the driver with a clear error when it is
 * missing, and cuInit's error through the stub libcuda (GPULET_LIBCUDA=.../stubs/libcuda.so).
 *
 * The driver is reached through dlopen (GPULET_LIBCUDA, else libcuda.so.1), not linked, so this
 * module loads on machines without a driver and says why it cannot start. */
#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/green_module.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"

#define EXPORT __attribute__((visibility("default")))

static const gl_host_api_t *host;

/* The driver entry points, by their ABI names (cuda.h maps some names to _v2 symbols). */
static struct {
  void *lib;
  CUresult (*init)(unsigned);
  CUresult (*driver_version)(int *);
  CUresult (*device_get)(CUdevice *, int);
  CUresult (*device_name)(char *, int, CUdevice);
  CUresult (*device_attr)(int *, CUdevice_attribute, CUdevice);
  CUresult (*error_string)(CUresult, const char **);
  CUresult (*dev_resource)(CUdevice, CUdevResource *, CUdevResourceType);
  CUresult (*split)(CUdevResource *, unsigned *, const CUdevResource *, CUdevResource *, unsigned,
                    unsigned);
  CUresult (*gen_desc)(CUdevResourceDesc *, CUdevResource *, unsigned);
  CUresult (*green_create)(CUgreenCtx *, CUdevResourceDesc, CUdevice, unsigned);
  CUresult (*green_destroy)(CUgreenCtx);
  CUresult (*green_resource)(CUgreenCtx, CUdevResource *, CUdevResourceType);
  CUresult (*ctx_from_green)(CUcontext *, CUgreenCtx);
  CUresult (*green_stream)(CUstream *, CUgreenCtx, unsigned, int);
  CUresult (*stream_sync)(CUstream);
  CUresult (*stream_destroy)(CUstream);
  CUresult (*ctx_set_current)(CUcontext);
  CUresult (*primary_retain)(CUcontext *, CUdevice);
  CUresult (*primary_release)(CUdevice);
} cu;

typedef struct {
  CUdevice dev;
  CUcontext primary; /* retained while the device is open (see dev_open) */
  gl_cuda_green_dev_info_t info;
  CUdevResource *groups; /* n_groups of them, from the one split */
  CUdevResource rem;     /* the split's remainder (rem_sms may be 0) */
} green_dev_t;

typedef struct {
  CUgreenCtx g;
  CUcontext ctx;
  CUstream stream;
} green_part_t;

static int fail(int st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int st, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (host) host->set_error(st, msg);
  return st;
}

static const char *cu_str(CUresult r) {
  const char *s = NULL;
  if (cu.error_string && cu.error_string(r, &s) == CUDA_SUCCESS && s) return s;
  switch (r) { /* the stub library cannot name its own errors */
    case CUDA_ERROR_STUB_LIBRARY: return "CUDA_ERROR_STUB_LIBRARY: this libcuda is the toolkit's stub, not a driver";
    case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
    default: return "CUDA error";
  }
}

#define CU_TRY(call, what)                                                                   \
  do {                                                                                       \
    CUresult r_ = (call);                                                                    \
    if (r_ != CUDA_SUCCESS) return fail(GL_EDEVICE, "green context: %s failed: %s (%d)", what, \
                                        cu_str(r_), (int)r_);                                \
  } while (0)

/* Loads the driver once; GL_EDEVICE with dlerror's reason when it is missing or too old. */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

static int load_driver_locked(void) {
  if (cu.lib) return GL_OK;
  const char *name = getenv("GPULET_LIBCUDA") && getenv("GPULET_LIBCUDA")[0] ? getenv("GPULET_LIBCUDA")
                                                                             : "libcuda.so.1";
  void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    return fail(GL_EDEVICE, "green contexts: no CUDA driver (%s)", e ? e : name);
  }
  struct { void **slot; const char *sym; } syms[] = {
      {(void **)&cu.init, "cuInit"},
      {(void **)&cu.driver_version, "cuDriverGetVersion"},
      {(void **)&cu.device_get, "cuDeviceGet"},
      {(void **)&cu.device_name, "cuDeviceGetName"},
      {(void **)&cu.device_attr, "cuDeviceGetAttribute"},
      {(void **)&cu.error_string, "cuGetErrorString"},
      {(void **)&cu.dev_resource, "cuDeviceGetDevResource"},
      {(void **)&cu.split, "cuDevSmResourceSplitByCount"},
      {(void **)&cu.gen_desc, "cuDevResourceGenerateDesc"},
      {(void **)&cu.green_create, "cuGreenCtxCreate"},
      {(void **)&cu.green_destroy, "cuGreenCtxDestroy"},
      {(void **)&cu.green_resource, "cuGreenCtxGetDevResource"},
      {(void **)&cu.ctx_from_green, "cuCtxFromGreenCtx"},
      {(void **)&cu.green_stream, "cuGreenCtxStreamCreate"},
      {(void **)&cu.stream_sync, "cuStreamSynchronize"},
      {(void **)&cu.stream_destroy, "cuStreamDestroy_v2"},
      {(void **)&cu.ctx_set_current, "cuCtxSetCurrent"},
      {(void **)&cu.primary_retain, "cuDevicePrimaryCtxRetain"},
      {(void **)&cu.primary_release, "cuDevicePrimaryCtxRelease_v2"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    *syms[i].slot = dlsym(h, syms[i].sym);
    if (!*syms[i].slot) {
      int st = fail(GL_EDEVICE, "green contexts: the CUDA driver %s has no %s (driver older than 12.4?)",
                    name, syms[i].sym);
      memset(&cu, 0, sizeof cu);
      dlclose(h);
      return st;
    }
  }
  cu.lib = h; /* stays loaded for the process: the driver does not like being unloaded */
  return GL_OK;
}
static int load_driver(void) {
  pthread_mutex_lock(&load_mu);
  int st = load_driver_locked();
  pthread_mutex_unlock(&load_mu);
  return st;
}

/* Group size of the one split: at least minSmPartitionSize, a multiple of the alignment. */
static unsigned group_size(unsigned min_sm, unsigned align) {
  if (align < 1) align = 1;
  if (min_sm < 1) min_sm = 1;
  return (min_sm + align - 1) / align * align;
}

static int dev_open(int device, void **out, gl_cuda_green_dev_info_t *info) {
  *out = NULL;
  memset(info, 0, sizeof *info);
  GL_TRY(load_driver());
  CU_TRY(cu.init(0), "cuInit");
  cu.driver_version(&info->driver_version);
  if (info->driver_version < 12040)
    return fail(GL_EUNSUPPORTED, "green contexts need a CUDA driver >= 12.4 (this one is %d.%d)",
                info->driver_version / 1000, info->driver_version % 1000 / 10);
  green_dev_t *d = gl_calloc(1, sizeof *d);
  if (!d) return fail(GL_ENOMEM, "green contexts: out of memory");
  CUresult r = cu.device_get(&d->dev, device);
  if (r != CUDA_SUCCESS) {
    gl_free(d);
    return fail(GL_EDEVICE, "green contexts: CUDA device %d: %s", device, cu_str(r));
  }
  cu.device_name(info->name, sizeof info->name, d->dev);
  cu.device_attr(&info->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d->dev);
  cu.device_attr(&info->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d->dev);
  CUdevResource all;
  memset(&all, 0, sizeof all);
  r = cu.dev_resource(d->dev, &all, CU_DEV_RESOURCE_TYPE_SM);
  if (r != CUDA_SUCCESS) {
    gl_free(d);
    return fail(GL_EDEVICE, "green contexts: cuDeviceGetDevResource: %s", cu_str(r));
  }
  /* Every green context retains the primary context; holding it here keeps each gpu-let's
   * creation from paying the primary context's set-up and teardown (the driver docs advise it).
   * Green contexts share the primary context's memory. */
  r = cu.primary_retain(&d->primary, d->dev);
  if (r != CUDA_SUCCESS) {
    gl_free(d);
    return fail(GL_EDEVICE, "green contexts: retaining the primary context: %s", cu_str(r));
  }
  info->sm_count = (int)all.sm.smCount;
  info->min_sm = (int)all.sm.minSmPartitionSize;
  info->sm_align = (int)all.sm.smCoscheduledAlignment;
  unsigned g = group_size(all.sm.minSmPartitionSize, all.sm.smCoscheduledAlignment);
  unsigned n = g ? all.sm.smCount / g : 0;
  if (n < 1) {
    cu.primary_release(d->dev);
    gl_free(d);
    return fail(GL_EUNSUPPORTED, "green contexts: %u SMs cannot make one group of %u", all.sm.smCount, g);
  }
  d->groups = gl_calloc(n, sizeof *d->groups);
  if (!d->groups) {
    cu.primary_release(d->dev);
    gl_free(d);
    return fail(GL_ENOMEM, "green contexts: out of memory");
  }
  memset(&d->rem, 0, sizeof d->rem);
  int64_t t0 = gl_now_ns();
  r = cu.split(d->groups, &n, &all, &d->rem, 0, g);
  info->split_ns = gl_now_ns() - t0;
  if (r != CUDA_SUCCESS || n < 1) {
    cu.primary_release(d->dev);
    gl_free(d->groups);
    gl_free(d);
    return fail(GL_EDEVICE, "green contexts: splitting %d SMs into groups of %u: %s", info->sm_count, g,
                r != CUDA_SUCCESS ? cu_str(r) : "no group made");
  }
  info->group_sms = (int)d->groups[0].sm.smCount;
  for (unsigned i = 1; i < n; i++)
    if ((int)d->groups[i].sm.smCount != info->group_sms) {
      int st = fail(GL_EDEVICE, "green contexts: the split made unequal groups (%u and %u SMs)",
                    d->groups[0].sm.smCount, d->groups[i].sm.smCount);
      cu.primary_release(d->dev);
      gl_free(d->groups);
      gl_free(d);
      return st;
    }
  info->n_groups = (int)n;
  info->rem_sms = d->rem.type == CU_DEV_RESOURCE_TYPE_SM ? (int)d->rem.sm.smCount : 0;
  d->info = *info;
  *out = d;
  return GL_OK;
}

static int part_create(void *dp, const int *groups, int n, int with_rem, void **out, void **stream,
                       int *sms) {
  green_dev_t *d = dp;
  *out = NULL;
  *stream = NULL;
  *sms = 0;
  int total = n + (with_rem && d->info.rem_sms > 0 ? 1 : 0);
  if (total < 1) return fail(GL_EINVAL, "green context: no SM group asked for");
  CUdevResource *res = gl_calloc((size_t)total, sizeof *res);
  green_part_t *p = gl_calloc(1, sizeof *p);
  if (!res || !p) {
    gl_free(res);
    gl_free(p);
    return fail(GL_ENOMEM, "green context: out of memory");
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (groups[i] < 0 || groups[i] >= d->info.n_groups) {
      gl_free(res);
      gl_free(p);
      return fail(GL_EINVAL, "green context: SM group %d does not exist (%d groups)", groups[i],
                  d->info.n_groups);
    }
    res[k++] = d->groups[groups[i]];
  }
  if (k < total) res[k++] = d->rem;
  CUdevResourceDesc desc;
  CUresult r = cu.gen_desc(&desc, res, (unsigned)total);
  gl_free(res);
  if (r == CUDA_SUCCESS) r = cu.green_create(&p->g, desc, d->dev, CU_GREEN_CTX_DEFAULT_STREAM);
  if (r != CUDA_SUCCESS) {
    gl_free(p);
    return fail(GL_EDEVICE, "green context of %d SM group(s)%s: %s", n, k > n ? " + remainder" : "",
                cu_str(r));
  }
  r = cu.green_stream(&p->stream, p->g, CU_STREAM_NON_BLOCKING, 0);
  if (r == CUDA_SUCCESS) r = cu.ctx_from_green(&p->ctx, p->g);
  CUdevResource got;
  memset(&got, 0, sizeof got);
  if (r == CUDA_SUCCESS) r = cu.green_resource(p->g, &got, CU_DEV_RESOURCE_TYPE_SM);
  if (r != CUDA_SUCCESS) {
    if (p->stream) cu.stream_destroy(p->stream);
    cu.green_destroy(p->g);
    gl_free(p);
    return fail(GL_EDEVICE, "green context stream: %s", cu_str(r));
  }
  *sms = (int)got.sm.smCount;
  *stream = p->stream;
  *out = p;
  return GL_OK;
}

static int part_enter(void *pp) {
  green_part_t *p = pp;
  CU_TRY(cu.ctx_set_current(p->ctx), "cuCtxSetCurrent of the green context");
  return GL_OK;
}

static void part_destroy(void *pp) {
  green_part_t *p = pp;
  if (!p) return;
  if (p->stream) {
    cu.stream_sync(p->stream);
    cu.stream_destroy(p->stream);
  }
  if (p->g) cu.green_destroy(p->g);
  gl_free(p);
}

static void dev_close(void *dp) {
  green_dev_t *d = dp;
  if (!d) return;
  cu.primary_release(d->dev);
  gl_free(d->groups);
  gl_free(d);
}

static const gl_cuda_green_api_t api = {
    .abi_version = GL_CUDA_GREEN_ABI,
    .size = sizeof(gl_cuda_green_api_t),
    .dev_open = dev_open,
    .part_create = part_create,
    .part_enter = part_enter,
    .part_destroy = part_destroy,
    .dev_close = dev_close,
};

EXPORT int gl_cuda_green_init(const gl_host_api_t *h, const gl_cuda_green_api_t **out) {
  *out = NULL;
  if (!h || h->abi_version != GL_CUDA_MODULE_ABI || h->size < sizeof(gl_host_api_t)) return GL_EDEVICE;
  host = h;
  *out = &api;
  return GL_OK;
}
