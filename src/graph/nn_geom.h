/* graph/nn_geom.h - window geometry of convolutions and pools, shared by inference and kernels.
 * Owns: gl_nn_geom_t (per spatial dim: kernel, stride, dilation, begin/end pads, output size)
 * and its computation from a node's attributes (auto_pad, pads, ceil_mode, output_padding...),
 * so shape inference and every backend's kernels agree on one reading of ONNX's rules.
 * Implemented in graph/ops_nn.c. */
#ifndef GL_GRAPH_NN_GEOM_H
#define GL_GRAPH_NN_GEOM_H

#include "graph/graph.h"

#define GL_NN_MAX_SP (GL_MAX_RANK - 2)

typedef struct {
  int nsp; /* spatial dims (input rank - 2) */
  int64_t in[GL_NN_MAX_SP], k[GL_NN_MAX_SP], s[GL_NN_MAX_SP], d[GL_NN_MAX_SP];
  int64_t pb[GL_NN_MAX_SP], pe[GL_NN_MAX_SP]; /* pads at the begin / end (may be negative for
                                                 ConvTranspose with a large output_shape) */
  int64_t opad[GL_NN_MAX_SP];                 /* ConvTranspose output_padding */
  int64_t out[GL_NN_MAX_SP];
} gl_nn_geom_t;

typedef enum { GL_GEOM_CONV, GL_GEOM_POOL, GL_GEOM_CONV_T } gl_geom_kind_t;

/* Computes the geometry of node n over input shape x (rank >= 3). kernel: the spatial kernel
 * size (from the weights for convs) or NULL to read the kernel_shape attribute. */
gl_status_t gl_nn_geom(const gl_node_t *n, const gl_shape_t *x, const int64_t *kernel,
                       gl_geom_kind_t kind, gl_nn_geom_t *o) GL_MUST_USE;

#endif
