/* backend/gpu.h - finding and opening the CUDA backend module at run time.
 * Owns: locating libgpulet_cuda.so (GPULET_CUDA_MODULE, else next to the gpulet binary, else the
 * loader's search path), dlopen with a clear reason when it cannot load (no driver, no module),
 * the ABI check, the host API table the module reports errors through, and the names of the
 * CUDA precisions (gl_precision_t in backend/backend.h). */
#ifndef GL_BACKEND_GPU_H
#define GL_BACKEND_GPU_H

#include <stddef.h>

#include "backend/backend.h"

/* Opens CUDA device `device`; GL_EDEVICE with the reason when no usable GPU or module exists. */
gl_status_t gl_cuda_backend_open(int device, gl_backend_t **out) GL_MUST_USE;

/* A CUDA precision by name ("fp32", "tf32", "fp16"): GL_EINVAL naming the choices otherwise. The
 * precision reaches the backend as gl_compile_opts_t.placement.precision. */
gl_status_t gl_precision_parse(const char *name, int *prec) GL_MUST_USE;
const char *gl_precision_name(int prec); /* "fp32", "tf32", "fp16" or "?" */

#endif
