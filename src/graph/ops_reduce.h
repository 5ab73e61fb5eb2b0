/* graph/ops_reduce.h - helpers shared by the reduce family's schemas and its kernels.
 * Owns: reading a Reduce* node's axes (attribute or constant input, by opset) into a mask, and
 * parsing an Einsum equation. Both the infer functions and the CPU kernels call these so the two
 * halves can never disagree about which axes a node reduces. */
#ifndef GL_GRAPH_OPS_REDUCE_H
#define GL_GRAPH_OPS_REDUCE_H

#include "graph/graph.h"

/* Sets mask[d] for each axis of a rank-`rank` input that node n reduces; *noop is set when the
 * node passes its input through (empty axes with noop_with_empty_axes). Errors name the node. */
gl_status_t gl_reduce_axes(const gl_graph_t *g, const gl_node_t *n, int rank, bool *mask,
                           bool *noop) GL_MUST_USE;

#define GL_EINSUM_MAX_OPS 8
#define GL_EINSUM_MAX_LABELS 64 /* a-z = 0..25, A-Z = 26..51, ellipsis dims = 52.. */

/* An Einsum equation resolved against its operands' ranks: labels are numbered as below. */
typedef struct {
  int n_ops;
  int rank[GL_EINSUM_MAX_OPS];
  int label[GL_EINSUM_MAX_OPS][GL_MAX_RANK]; /* per operand dim: its label */
  int out_rank;
  int out_label[GL_MAX_RANK];
  bool used[GL_EINSUM_MAX_LABELS];
  int64_t size[GL_EINSUM_MAX_LABELS]; /* each used label's extent (broadcast 1s resolved) */
} gl_einsum_t;

/* Parses n's equation for its inputs' shapes (all known). */
gl_status_t gl_einsum_parse(const gl_graph_t *g, const gl_node_t *n, gl_einsum_t *e) GL_MUST_USE;

#endif
