/* backend/backend.h - the one interface every engine implements: compile a prepared graph for a
 * placement into a plan, run it, wait, free. CPU (oneDNN, linked in), CUDA (a dlopen'd module)
 * and the simulator's virtual device plug in here.
 * Owns: gl_backend_i (append-only; a dlopen'd table starts with its ABI version and size),
 * gl_placement_t, and the plan header every backend's plan starts with.
 * Does not own: preparing the graph (graph/passes.h) or making partitions (part/). */
#ifndef GL_BACKEND_BACKEND_H
#define GL_BACKEND_BACKEND_H

#include <stdint.h>

#include "graph/graph.h"
#include "graph/passes.h"

#define GL_BACKEND_ABI 1

typedef struct gl_backend gl_backend_t;
typedef struct gl_plan gl_plan_t;

/* Scratch memory shared by plans that never run at the same time (one executor's plans of several
 * batch sizes): the first plan that asks sizes it, later ones that fit use it, larger ones keep
 * their own. Reference-counted: each plan using it holds a reference, its creator one. */
typedef struct gl_arena gl_arena_t;
gl_arena_t *gl_arena_create(void); /* NULL when out of memory */
void gl_arena_unref(gl_arena_t *a);  /* accepts NULL */
/* bytes of a's memory for a new user (a reference taken), allocating it if a is still empty;
 * NULL when a is already smaller than bytes (or out of memory): the caller allocates its own. */
void *gl_arena_take(gl_arena_t *a, size_t bytes);
size_t gl_arena_bytes(const gl_arena_t *a);

/* Where a plan runs. Defaults (zeroed): all of the device, backend-chosen threads/stream. */
typedef struct {
  int device;       /* device index within the backend */
  int threads;      /* CPU: OpenMP threads each run uses (0 = as many as the process has) */
  void *stream;     /* CUDA: the gpu-let's stream (CUstream); NULL = a plain stream of its own */
  int precision;    /* CUDA: a gl_precision_t (0 = fp32); the CPU backend ignores it */
  gl_arena_t *arena; /* CPU: activation memory shared with plans never run at the same time as
                      * this one (NULL: its own); the CUDA backend ignores it */
} gl_placement_t;

/* Arithmetic of a CUDA plan: FP32 plain FMA; TF32 tensor cores on f32 data; FP16 every f32 value
 * stored as half on the GPU (weights converted once, activations half between kernels, tensor
 * cores, f32 accumulation), the plan's inputs and outputs still f32 for the caller.
 * GPULET_CUDA_PRECISION overrides. Names: gl_precision_parse (backend/gpu.h). */
typedef enum { GL_PREC_FP32 = 0, GL_PREC_TF32 = 1, GL_PREC_FP16 = 2 } gl_precision_t;

/* The header every backend's plan begins with; read it through gl_plan_*(). */
struct gl_plan {
  gl_backend_t *be;
  int n_inputs, n_outputs;
  gl_tensor_t *inputs;  /* dtype and shape of each input (data NULL) */
  gl_tensor_t *outputs; /* dtype and shape of each output (data NULL) */
  char **input_names, **output_names;
  gl_tensor_t *bound; /* per input: the value it was bound to at compile time (data NULL: none) */
};

struct gl_backend_i {
  uint32_t abi_version; /* GL_BACKEND_ABI */
  uint32_t size;        /* sizeof(struct gl_backend_i) of the builder */
  const char *name;     /* "cpu", "cuda", "sim" */
  /* Compiles g (already prepared: shapes known, folded, fused) for pl. *out owned by caller. */
  gl_status_t (*plan_create)(gl_backend_t *be, const gl_graph_t *g, const gl_placement_t *pl,
                             gl_plan_t **out);
  /* Runs the plan on the calling thread: inputs and outputs as the plan's header describes them
   * (caller-owned buffers). May return before the work is done; plan_wait then waits. */
  gl_status_t (*plan_run)(gl_plan_t *p, const gl_tensor_t *inputs, gl_tensor_t *outputs);
  gl_status_t (*plan_wait)(gl_plan_t *p); /* optional (NULL: runs are synchronous) */
  void (*plan_destroy)(gl_plan_t *p);
  void (*destroy)(gl_backend_t *be);
};

struct gl_backend {
  const struct gl_backend_i *i;
  void *ctx;
};

/* Thin wrappers; gl_plan_destroy and gl_backend_destroy accept NULL. */
gl_status_t gl_plan_create(gl_backend_t *be, const gl_graph_t *g, const gl_placement_t *pl,
                           gl_plan_t **out) GL_MUST_USE;
gl_status_t gl_plan_run(gl_plan_t *p, const gl_tensor_t *inputs, gl_tensor_t *outputs) GL_MUST_USE;
gl_status_t gl_plan_wait(gl_plan_t *p) GL_MUST_USE;
void gl_plan_destroy(gl_plan_t *p);
void gl_backend_destroy(gl_backend_t *be);

/* Fills the plan header's I/O descriptions from g's inputs and outputs (backends call this). */
gl_status_t gl_plan_header_init(gl_plan_t *p, gl_backend_t *be, const gl_graph_t *g) GL_MUST_USE;
void gl_plan_header_fini(gl_plan_t *p);
/* Allocates owned output tensors matching the plan's outputs (free with gl_tensor_fini each). */
gl_status_t gl_plan_alloc_outputs(const gl_plan_t *p, gl_tensor_t *outputs) GL_MUST_USE;

#endif
