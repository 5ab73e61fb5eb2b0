/* backend/cpu/cpu.h - the CPU backend: oneDNN primitives plus plain C kernels where oneDNN has none.
 * Owns: the oneDNN engine, CPU plans (a kernel per live node over one arena from the memory plan),
 * and gl_cpu_eval, which every backend's graph preparation uses to fold constants. */
#ifndef GL_BACKEND_CPU_CPU_H
#define GL_BACKEND_CPU_CPU_H

#include "backend/backend.h"

/* Creates the CPU backend; *out is freed with gl_backend_destroy. */
gl_status_t gl_cpu_backend_create(gl_backend_t **out) GL_MUST_USE;

/* gl_eval_fn over the CPU kernels (ctx unused, may be NULL). */
gl_status_t gl_cpu_eval(void *ctx, const gl_graph_t *g, const gl_node_t *n, gl_tensor_t *outs);

/* How many values of CPU plan p its layout pass left in a blocked (oneDNN-chosen) layout. */
int gl_cpu_plan_blocked_values(const gl_plan_t *p);

/* True when the CPU backend has a kernel for op_type. */
bool gl_cpu_supports(const char *op_type);

/* Memory a CPU plan holds: *arena = its activation arena, *consts = the constant tensors it
 * references (weights; prepacked copies inside kernels not counted). Returns false (and zeros)
 * when p is not a CPU plan. */
bool gl_cpu_plan_memory(const gl_plan_t *p, size_t *arena, size_t *consts);

#endif
