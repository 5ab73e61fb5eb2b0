/* engine/engine.h - a loaded model and its compilation for a batch size on a backend.
 * Owns: gl_model_t (the model's graph as loaded, kept pristine) and the pipeline from it to a
 * plan: copy the graph, bind input shapes (batch), infer and fold with the CPU kernels, fuse,
 * compile on the chosen backend. Does not own: the backend or the plan once returned. */
#ifndef GL_ENGINE_ENGINE_H
#define GL_ENGINE_ENGINE_H

#include "backend/backend.h"
#include "onnx/onnx.h"

typedef struct gl_model gl_model_t;

gl_status_t gl_model_load(const char *path, gl_model_t **out) GL_MUST_USE;
/* Wraps g (ownership moves to the model). */
gl_status_t gl_model_from_graph(gl_graph_t *g, gl_model_t **out) GL_MUST_USE;
void gl_model_destroy(gl_model_t *m); /* accepts NULL */
const gl_graph_t *gl_model_graph(const gl_model_t *m);

typedef struct {
  int64_t batch;                 /* > 0: binds symbolic leading dims of the inputs */
  const gl_shape_t *input_shapes; /* optional: one shape per graph input (overrides batch) */
  gl_placement_t placement;
  bool no_fuse;
  /* Optional: one tensor per graph input (data NULL = unknown). When the graph needs an input's
   * value at compile time (a Reshape's shape, ReduceSum's axes, TopK's k) and the input is a
   * small integer tensor given here, it is bound to this value, and every run of the plan
   * checks that the input still holds it (a different value is an error, not a wrong answer). */
  const gl_tensor_t *input_values;
} gl_compile_opts_t;

/* Compiles the model for o on be. *out is freed with gl_plan_destroy. Errors name the node. */
gl_status_t gl_model_compile(const gl_model_t *m, gl_backend_t *be, const gl_compile_opts_t *o,
                             gl_plan_t **out) GL_MUST_USE;
/* Prepares a copy of the model's graph as gl_model_compile would, without compiling it (for
 * tools that inspect shapes, FLOPs or memory). *out is owned by the caller. */
gl_status_t gl_model_prepare(const gl_model_t *m, const gl_compile_opts_t *o, gl_graph_t **out) GL_MUST_USE;

#endif
