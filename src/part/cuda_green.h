/* part/cuda_green.h - the green-context partition kind's seam for tests: a constructor that takes
 * the module's API table directly, so CPU tests drive the kind with a fake driver, and the group
 * arithmetic (which SM groups a partition's units are). Only src/part/ and tests include this. */
#ifndef GL_PART_CUDA_GREEN_H
#define GL_PART_CUDA_GREEN_H

#include "backend/cuda/green_module.h"
#include "part/part.h"

/* gl_part_dev_cuda_green_create with `api` instead of the dlopen'd module's table. */
gl_status_t gl__part_dev_green_create_api(const gl_cuda_green_api_t *api, int device,
                                          gl_part_dev_t **out) GL_MUST_USE;

/* Which split groups n sorted SM indices are: groups[0..*n_groups) and *with_rem. Every group
 * must be whole (group_sms SMs) and the remainder all or nothing; else GL_EINVAL. */
gl_status_t gl__green_units_to_groups(const int *units, int n, int group_sms, int n_groups,
                                      int rem_sms, int *groups, int *n_out, int *with_rem) GL_MUST_USE;

#endif
