/* backend/cuda/green_module.h - the contract between gpulet's partition layer (part/cuda_green.c)
 * and its green-context module (libgpulet_green.so, green_module.c), loaded with dlopen so that
 * neither the gpulet binary nor libgl links the CUDA driver.
 * Owns: the green-context API table (every CUDA driver call of a green gpu-let goes through it),
 * its ABI version and the one exported symbol GL_CUDA_GREEN_INIT. The table begins with its ABI
 * version and size and only ever grows at the end. Errors travel through the host API of
 * cuda_module.h (set_error), so the message reaches the host's gl_errmsg(). Handles are opaque. */
#ifndef GL_BACKEND_CUDA_GREEN_MODULE_H
#define GL_BACKEND_CUDA_GREEN_MODULE_H

#include <stdint.h>

#include "backend/cuda/cuda_module.h"

#define GL_CUDA_GREEN_ABI 1
#define GL_CUDA_GREEN_INIT "gl_cuda_green_init"

/* What the device reports and how the module split it (once, at open). */
typedef struct {
  char name[96];
  int driver_version;   /* e.g. 13000 */
  int cc_major, cc_minor;
  int sm_count;         /* all SMs (132 on H100 SXM) */
  int min_sm;           /* minSmPartitionSize */
  int sm_align;         /* smCoscheduledAlignment */
  int group_sms;        /* SMs per group of the split (each group the same) */
  int n_groups;         /* groups the split made */
  int rem_sms;          /* SMs left over in the split's remainder (may be 0) */
  int64_t split_ns;     /* time of the split call */
} gl_cuda_green_dev_info_t;

/* Every function returns a gl_status_t (0 = ok; negative = error, message through set_error). */
typedef struct gl_cuda_green_api {
  uint32_t abi_version; /* GL_CUDA_GREEN_ABI */
  uint32_t size;        /* sizeof(gl_cuda_green_api_t) of the module */
  /* cuInit, device `device`, its SM resource, and the one split into equal groups of the
   * device's granularity plus a remainder. *dev is the module's handle. */
  int (*dev_open)(int device, void **dev, gl_cuda_green_dev_info_t *info);
  /* A green context from the split's groups `groups[0..n)` (indices < n_groups) plus the
   * remainder when with_rem, its CU_STREAM_NON_BLOCKING stream in *stream (a CUstream), and the
   * SM count the context really got (cuGreenCtxGetDevResource) in *sms. */
  int (*part_create)(void *dev, const int *groups, int n, int with_rem, void **part, void **stream,
                     int *sms);
  /* Makes the partition's green context current on the calling thread (cuCtxFromGreenCtx +
   * cuCtxSetCurrent). Called on the partition's executor thread before its first job. */
  int (*part_enter)(void *part);
  /* Synchronises and destroys the stream, then the green context. Accepts NULL. */
  void (*part_destroy)(void *part);
  /* Frees the device handle (after every partition). Accepts NULL. */
  void (*dev_close)(void *dev);
} gl_cuda_green_api_t;

/* The module's one export: checks the host's ABI and returns its table (static, never freed). */
typedef int (*gl_cuda_green_init_fn)(const gl_host_api_t *host, const gl_cuda_green_api_t **out);

#endif
