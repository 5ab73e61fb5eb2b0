/* backend/gpu.h - finding and opening the CUDA backend module at run time.
 * Owns: locating libgpulet_cuda.so (GPULET_CUDA_MODULE, else next to the gpulet binary, else the
 * loader's search path), dlopen with a clear reason when it cannot load (no driver, no module),
 * the ABI check, and the host API table the module reports errors through. */
#ifndef GL_BACKEND_GPU_H
#define GL_BACKEND_GPU_H

#include <stddef.h>

#include "backend/backend.h"

/* Opens CUDA device `device`; GL_EDEVICE with the reason when no usable GPU or module exists. */
gl_status_t gl_cuda_backend_open(int device, gl_backend_t **out) GL_MUST_USE;

#endif
