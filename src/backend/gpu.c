/* backend/gpu.c - dlopen of the CUDA backend module, the host API it reports through, and the
 * CUDA precisions' names. */
#include "backend/gpu.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/cuda_module.h"
#include "core/log.h"

static void host_set_error(int status, const char *msg) { gl_err((gl_status_t)status, "%s", msg); }
static void host_log(int level, const char *msg) { gl_log((gl_log_level_t)level, "cuda: %s", msg); }

static const gl_host_api_t host_api = {
    .abi_version = GL_CUDA_MODULE_ABI,
    .size = sizeof(gl_host_api_t),
    .set_error = host_set_error,
    .log = host_log,
};

static void *open_module(char *why, size_t cap) {
  const char *env = getenv("GPULET_CUDA_MODULE");
  if (env && env[0]) {
    void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    if (!h) snprintf(why, cap, "%s", dlerror());
    return h;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      char path[PATH_MAX + 32];
      *slash = 0;
      snprintf(path, sizeof path, "%s/libgpulet_cuda.so", exe);
      if (access(path, F_OK) == 0) {
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) snprintf(why, cap, "%s", dlerror());
        return h;
      }
    }
  }
  void *h = dlopen("libgpulet_cuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) snprintf(why, cap, "the CUDA module was not built or cannot load (%s)", dlerror());
  return h;
}

gl_status_t gl_cuda_backend_open(int device, gl_backend_t **out) {
  *out = NULL;
  char why[512] = "";
  void *h = open_module(why, sizeof why);
  if (!h) return gl_err(GL_EDEVICE, "no CUDA backend: %s", why);
  gl_cuda_module_init_fn init = (gl_cuda_module_init_fn)dlsym(h, GL_CUDA_MODULE_INIT);
  if (!init) {
    dlclose(h);
    return gl_err(GL_EDEVICE, "no CUDA backend: the module has no %s", GL_CUDA_MODULE_INIT);
  }
  gl_err_clear();
  int st = init(&host_api, device, out);
  if (st != GL_OK) {
    /* The module stays loaded: CUDA libraries do not like being unloaded after init. */
    if (!gl_errmsg()[0]) gl_err((gl_status_t)st, "the CUDA module failed to start");
    return (gl_status_t)st;
  }
  uint32_t abi = (*out)->i->abi_version;
  if (abi != GL_BACKEND_ABI || (*out)->i->size < sizeof(struct gl_backend_i)) {
    *out = NULL; /* not ours to call, not even to destroy */
    return gl_err(GL_EDEVICE, "the CUDA module was built for another gpulet (backend ABI %u, not %d)",
                  abi, GL_BACKEND_ABI);
  }
  return GL_OK;
}

static const char *const prec_names[] = {"fp32", "tf32", "fp16"};

gl_status_t gl_precision_parse(const char *name, int *prec) {
  for (int i = 0; i < 3; i++)
    if (name && !strcmp(name, prec_names[i])) {
      *prec = i; /* GL_PREC_FP32, GL_PREC_TF32, GL_PREC_FP16 in order */
      return GL_OK;
    }
  return gl_err(GL_EINVAL, "unknown precision '%s' (fp32, tf32 or fp16)", name ? name : "");
}

const char *gl_precision_name(int prec) { return prec >= 0 && prec < 3 ? prec_names[prec] : "?"; }
