/* graph/passes.h - the passes that turn a loaded graph into one ready to compile for a batch size.
 * Order (gl_graph_prepare does all): bind input shapes -> infer shapes and types, folding every
 * node whose inputs are all constant -> fuse -> remove dead nodes.
 * Owns: gl_eval_fn, the hook through which a backend computes a node's outputs for folding. */
#ifndef GL_GRAPH_PASSES_H
#define GL_GRAPH_PASSES_H

#include "graph/graph.h"

/* Computes node n's outputs from its (all constant) inputs. outs has n->n_outputs entries, each
 * zeroed; the callee allocates each present output with the dtype and shape inference gave it. */
typedef gl_status_t (*gl_eval_fn)(void *ctx, const gl_graph_t *g, const gl_node_t *n,
                                  gl_tensor_t *outs);

/* Sets every unknown (or symbolic) leading dim of the graph inputs to batch; batch <= 0 only
 * checks that every input dim is known. Errors name the input with an unknown dim. */
gl_status_t gl_graph_set_batch(gl_graph_t *g, int64_t batch) GL_MUST_USE;
/* Overrides input i's shape (e.g. from a test case's data); errors if the rank disagrees. */
gl_status_t gl_graph_set_input_shape(gl_graph_t *g, int i, const gl_shape_t *s) GL_MUST_USE;
/* Infers every value's dtype and shape in order, folding constant nodes with eval (may be NULL:
 * no folding). Unsupported ops are named with their node. */
gl_status_t gl_graph_infer(gl_graph_t *g, gl_eval_fn eval, void *ctx) GL_MUST_USE;
/* Folds BatchNormalization into a preceding Conv, and activations / residual adds into the op
 * before them (gl_fusion_t). Only fuses what every backend can run fused. */
gl_status_t gl_graph_fuse(gl_graph_t *g) GL_MUST_USE;
/* Marks nodes whose outputs nobody uses as dead; drops unused constants' data. */
void gl_graph_dce(gl_graph_t *g);

/* Opset < 7/8 nodes: rewrites node ni's legacy broadcasting into numpy broadcasting (may insert
 * a Reshape before it, then *inserted is true and ni is that Reshape). */
gl_status_t gl_graph_legacy_node(gl_graph_t *g, int ni, bool *inserted) GL_MUST_USE;
/* True when node n of an old opset has semantics gpulet's implementation covers after
 * gl_graph_legacy_node (so an op's min_opset does not exclude it). */
bool gl_graph_legacy_compatible(const gl_graph_t *g, const gl_node_t *n);

typedef struct {
  int64_t batch;   /* <= 0: keep the shapes the model (or set_input_shape) gives */
  bool no_fuse;    /* for debugging and for checking fusion against the unfused graph */
} gl_prepare_opts_t;

/* The whole pipeline on g in place. */
gl_status_t gl_graph_prepare(gl_graph_t *g, const gl_prepare_opts_t *o, gl_eval_fn eval,
                             void *ctx) GL_MUST_USE;

#endif
