/* backend/cuda/cuda_module.h - the contract between gpulet and its CUDA module
 * (libgpulet_cuda.so, loaded with dlopen so the gpulet binary never links the CUDA driver).
 * The module exports one function, GL_CUDA_MODULE_INIT, which takes the host's API table and
 * returns a backend whose table (backend/backend.h) the host calls. Both tables begin with an
 * ABI version and their size, and only ever grow at the end. */
#ifndef GL_BACKEND_CUDA_CUDA_MODULE_H
#define GL_BACKEND_CUDA_CUDA_MODULE_H

#include <stdint.h>

#include "backend/backend.h"

#define GL_CUDA_MODULE_ABI 1
#define GL_CUDA_MODULE_INIT "gl_cuda_module_init"

/* What the host lends the module: the module reports errors through set_error so the message
 * reaches the host's gl_errmsg() (the module has its own copy of gpulet's core library). */
typedef struct {
  uint32_t abi_version; /* GL_CUDA_MODULE_ABI */
  uint32_t size;        /* sizeof(gl_host_api_t) of the host */
  void (*set_error)(int status, const char *msg);
  void (*log)(int level, const char *msg);
} gl_host_api_t;

/* Opens CUDA device `device` and returns its backend in *out (host frees it with
 * gl_backend_destroy). Returns a gl_status_t; on error the message went through set_error. */
typedef int (*gl_cuda_module_init_fn)(const gl_host_api_t *host, int device, gl_backend_t **out);

#endif
