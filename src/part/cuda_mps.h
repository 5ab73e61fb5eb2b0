/* part/cuda_mps.h - the MPS partition kind's seams: a constructor with the control program and
 * worker binary given (tests run workers on the CPU backend with no daemon), and the worker's
 * main loop behind `gpulet mps-worker FD DEVICE`. */
#ifndef GL_PART_CUDA_MPS_H
#define GL_PART_CUDA_MPS_H

#include <stddef.h>

#include "part/part.h"

/* control: the nvidia-cuda-mps-control path, or NULL/"" for none (no daemon handling); worker:
 * the gpulet binary; region_bytes: each worker's shared region (0 = 256 MB). */
gl_status_t gl__part_dev_mps_create_with(const char *control, const char *worker, int device,
                                         size_t region_bytes, gl_part_dev_t **out) GL_MUST_USE;

/* The worker's process id (tests). */
int gl__part_mps_pid(const gl_part_t *p);

/* Serves requests from the shared region behind fd until told to quit; the backend is CUDA device
 * `device`, or the CPU when GPULET_MPS_BACKEND=cpu. Returns the process exit code. */
int gl_part_mps_worker_main(int fd, int device);

#endif
