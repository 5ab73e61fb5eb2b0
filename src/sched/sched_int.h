/* sched/sched_int.h - internals shared by the policy files: plan building helpers. */
#ifndef GL_SCHED_SCHED_INT_H
#define GL_SCHED_SCHED_INT_H

#include "sched/sched.h"

GL_MUST_USE gl_status_t gl__plan_init(gl_sched_plan_t *p, const gl_sched_input_t *in, const char *policy);
/* Recomputes served[] and devices_used from the lets. */
void gl__plan_tally(gl_sched_plan_t *p);
double gl__device_mem(const gl_sched_plan_t *p, const gl_sched_input_t *in, int d);
int gl__fail(gl_sched_plan_t *p, const char *fmt, ...) GL_PRINTF(2, 3);

gl_status_t gl__policy_gpulet(const gl_sched_input_t *in, gl_sched_plan_t *p, bool interference);
gl_status_t gl__policy_sbp(const gl_sched_input_t *in, gl_sched_plan_t *p);
gl_status_t gl__policy_triton(const gl_sched_input_t *in, gl_sched_plan_t *p);
gl_status_t gl__policy_static(const gl_sched_input_t *in, gl_sched_plan_t *p);
gl_status_t gl__policy_bound(const gl_sched_input_t *in, gl_sched_plan_t *p);
gl_status_t gl__policy_fine(const gl_sched_input_t *in, gl_sched_plan_t *p);
/* Incremental gpulet: keeps old's gpu-lets of the unchanged models, places the changed ones. */
gl_status_t gl__gpulet_incremental(const gl_sched_input_t *in, const gl_sched_plan_t *old, const bool *changed, gl_sched_plan_t *p,
                                   bool interference);
/* Tests only: gpulet's placement check (memory, SLOs under interference, re-batching) of device d. */
bool gl__gpulet_device_ok(const gl_sched_input_t *in, gl_sched_plan_t *p, int d, bool interference);
/* Tests only: gpulet's mergeResidue for model m with `left` req/s unplaced. */
gl_status_t gl__gpulet_merge_residue(const gl_sched_input_t *in, gl_sched_plan_t *p, int m, double left, double *left_out);

#endif
