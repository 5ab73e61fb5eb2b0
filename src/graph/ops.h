/* graph/ops.h - the op schemas: which ONNX ops gpulet knows, their arity, and shape/type inference.
 * Owns: gl_op_schema_t and the lookup over the per-family tables (ops_*.c, one family a file).
 * An infer function reads its inputs' dtype, shape and, when known, constant data, and sets each
 * output's dtype and shape; it may also set an output's data when it can compute it from shapes
 * alone (Shape, Size). Errors name the node (gl_node_label) and what does not fit.
 * Does not own: computing values (a backend's kernels, handed to gl_graph_infer as gl_eval_fn). */
#ifndef GL_GRAPH_OPS_H
#define GL_GRAPH_OPS_H

#include "graph/graph.h"

typedef gl_status_t (*gl_infer_fn)(gl_graph_t *g, gl_node_t *n);

typedef struct {
  const char *op_type;
  int min_inputs, max_inputs;   /* max -1 = variadic */
  int min_outputs, max_outputs;
  gl_infer_fn infer;
  int min_opset;                /* semantics gpulet implements start at this opset (0 = any) */
} gl_op_schema_t;

/* The schema for a default-domain op type, or NULL when gpulet does not support it. */
const gl_op_schema_t *gl_op_schema(const char *op_type);

/* Family tables, each ending with a zeroed entry. */
extern const gl_op_schema_t gl_schemas_elementwise[]; /* ops_elementwise.c */
extern const gl_op_schema_t gl_schemas_tensor[];      /* ops_tensor.c: shape and data movement */
extern const gl_op_schema_t gl_schemas_index[];       /* ops_index.c: gather, scatter, data-dependent */
extern const gl_op_schema_t gl_schemas_nn[];          /* ops_nn.c: conv, gemm, pooling, norms */
extern const gl_op_schema_t gl_schemas_reduce[];      /* ops_reduce.c: reductions, softmax, topk */

/* ---- helpers for infer functions ---- */
/* Sets output i's dtype and shape (ignores absent optional outputs). */
void gl_set_out(gl_graph_t *g, gl_node_t *n, int i, gl_dtype_t t, const gl_shape_t *s);
/* Errors unless input i is present with a known shape. */
gl_status_t gl_need_in(const gl_graph_t *g, const gl_node_t *n, int i) GL_MUST_USE;
/* Errors unless input i is a known constant; used by ops whose output shape depends on data. */
gl_status_t gl_need_const(const gl_graph_t *g, const gl_node_t *n, int i) GL_MUST_USE;
/* Normalises a possibly negative axis against rank; errors if out of range. */
gl_status_t gl_norm_axis(const gl_node_t *n, int64_t axis, int rank, int *out) GL_MUST_USE;

#endif
