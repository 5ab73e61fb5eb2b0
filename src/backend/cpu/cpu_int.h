/* backend/cpu/cpu_int.h - what a CPU kernel is, shared by the CPU backend's op files.
 * A kernel is prepared once per node of a compiled graph (shapes are known, constant inputs such
 * as weights can be read and prepacked) and run many times with raw data pointers. It honours the
 * node's fusion (n->fuse) when its op is one the fusion pass targets (Conv, Gemm, MatMul).
 * Kernels allocate nothing in run; scratch space is allocated in prepare. */
#ifndef GL_BACKEND_CPU_CPU_INT_H
#define GL_BACKEND_CPU_CPU_INT_H

#include <dnnl.h>

#include "graph/graph.h"

/* Activation layout of one value while a plan is prepared (cpu_plan.c's layout pass). The plan
 * sets may_block where every reader of the value is a layout-aware kernel input slot (see
 * gl_cpu_layout_accepts) and the value is no graph output; the producing kernel may then leave the
 * value in the layout its oneDNN primitive prefers: it sets blocked and md. Otherwise the value is
 * plain row-major. Layout-aware readers read blocked/md of their inputs in prepare. */
typedef struct {
  bool may_block;
  bool blocked;
  dnnl_memory_desc_t md;
} gl_cpu_layout_t;

typedef struct {
  dnnl_engine_t engine;
  dnnl_stream_t stream; /* the stream of the plan being run (or prepared) */
  int threads;          /* OpenMP threads for this run; already applied to the calling thread */
  gl_cpu_layout_t *lay; /* per value during plan preparation; NULL: everything plain (folding) */
} gl_cpu_exec_t;

typedef struct gl_cpu_kernel gl_cpu_kernel_t;

/* in/out: one data pointer per node input/output (NULL for absent optional ones). */
typedef gl_status_t (*gl_cpu_run_fn)(const gl_cpu_kernel_t *k, const gl_cpu_exec_t *x,
                                     void *const *in, void *const *out);

struct gl_cpu_kernel {
  gl_cpu_run_fn run;
  void (*destroy)(void *state); /* frees state; NULL means gl_free(state) */
  void *state;
};

/* Prepares k for node n of g (all shapes and dtypes known; constants in value->data). Errors name
 * the node and what is unsupported (dtype, attribute value...). */
typedef gl_status_t (*gl_cpu_prepare_fn)(const gl_cpu_exec_t *x, const gl_graph_t *g,
                                         const gl_node_t *n, gl_cpu_kernel_t *k);

typedef struct {
  const char *op_type;
  gl_cpu_prepare_fn prepare;
} gl_cpu_op_t;

/* Family tables, each ending with a zeroed entry (cpu_<family>.c). */
extern const gl_cpu_op_t gl_cpu_ops_elementwise[];
extern const gl_cpu_op_t gl_cpu_ops_tensor[];
extern const gl_cpu_op_t gl_cpu_ops_gather[];
extern const gl_cpu_op_t gl_cpu_ops_resample[];
extern const gl_cpu_op_t gl_cpu_ops_norm_pool[];
extern const gl_cpu_op_t gl_cpu_ops_nn[];
extern const gl_cpu_op_t gl_cpu_ops_reduce[];
extern const gl_cpu_op_t gl_cpu_ops_softmax[];
extern const gl_cpu_op_t gl_cpu_ops_einsum[];

const gl_cpu_op_t *gl_cpu_op(const char *op_type);

/* True when node n's kernel reads input slot `slot` in whatever layout x->lay says (the layout
 * pass lets only such readers see blocked values). Layout-aware kernels: cpu_nn.c, cpu_layout.c. */
bool gl_cpu_layout_accepts(const gl_graph_t *g, const gl_node_t *n, int slot);
bool gl_cpu_nn_layout_accepts(const gl_graph_t *g, const gl_node_t *n, int slot); /* convs, pools */
/* The layout-aware kernel for n (BN, activations, binary ops, Concat) when one of its sources is
 * blocked, else NULL: the op's ordinary kernel runs. */
gl_cpu_prepare_fn gl_cpu_layout_kernel(const gl_cpu_exec_t *x, const gl_graph_t *g, const gl_node_t *n);
/* The layout of value v during preparation, NULL when plain. */
const dnnl_memory_desc_t *gl_cpu_layout_of(const gl_cpu_exec_t *x, int v);
/* Publishes md as value v's layout when the plan allows it; false: the kernel must write plain. */
bool gl_cpu_layout_publish(const gl_cpu_exec_t *x, int v, const dnnl_memory_desc_t *md);

/* The process-wide oneDNN CPU engine (created on first use; NULL on failure with gl_errmsg set). */
dnnl_engine_t gl_cpu_engine(void);
/* Converts a oneDNN status into a gl_status with a message naming what failed. */
gl_status_t gl_dnnl_check(dnnl_status_t s, const char *what);
#define GL_DNNL(call, what) GL_TRY(gl_dnnl_check((call), (what)))

/* Applies a fused activation in place to n floats (for kernels without a oneDNN post-op). */
void gl_cpu_apply_act(float *y, int64_t n, gl_act_t act, float alpha, float beta);
/* Appends n's fused activation as a oneDNN eltwise post-op (no-op for GL_ACT_NONE). */
gl_status_t gl_cpu_post_ops_act(dnnl_post_ops_t po, gl_act_t act, float alpha, float beta);

#endif
