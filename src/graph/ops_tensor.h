/* graph/ops_tensor.h - parameters of the tensor op family that inference and kernels share.
 * Owns: resolving a node's attributes and constant inputs (which moved between attributes and
 * inputs across opsets) into plain numbers for Slice, Pad, Resize/Upsample, so that every backend
 * and the shape inference read them the same way. Errors name the node.
 * Does not own: the shapes themselves (ops_tensor.c's infer functions) or any kernel. */
#ifndef GL_GRAPH_OPS_TENSOR_H
#define GL_GRAPH_OPS_TENSOR_H

#include "graph/graph.h"

/* Slice: per input dim the first index, the step and how many elements are taken. */
typedef struct {
  int rank;
  int64_t start[GL_MAX_RANK], step[GL_MAX_RANK], count[GL_MAX_RANK];
} gl_slice_params_t;
gl_status_t gl_slice_params(const gl_graph_t *g, const gl_node_t *n, gl_slice_params_t *p) GL_MUST_USE;

enum { GL_PAD_CONSTANT = 0, GL_PAD_REFLECT, GL_PAD_EDGE, GL_PAD_WRAP };
/* Pad: begin[d] / end[d] elements added (negative: removed) on each side of dim d; mode; the
 * attribute value (opset < 11; later opsets read input 2 at run time, value_input says so). */
typedef struct {
  int rank, mode;
  int64_t begin[GL_MAX_RANK], end[GL_MAX_RANK];
  double value;
  bool value_input;
} gl_pad_params_t;
gl_status_t gl_pad_params(const gl_graph_t *g, const gl_node_t *n, gl_pad_params_t *p) GL_MUST_USE;

enum { GL_RESIZE_NEAREST = 0, GL_RESIZE_LINEAR };
enum {
  GL_COORD_HALF_PIXEL = 0, GL_COORD_PYTORCH_HALF_PIXEL, GL_COORD_ALIGN_CORNERS, GL_COORD_ASYMMETRIC,
  GL_COORD_TF_HALF_PIXEL_FOR_NN, GL_COORD_TF_CROP_AND_RESIZE
};
/* GL_NEAREST_SIMPLE: Upsample and opset-10 Resize, which name no rule: floor when a dim grows,
 * ceil when it shrinks (what onnxruntime does for them). */
enum { GL_NEAREST_ROUND_PREFER_FLOOR = 0, GL_NEAREST_ROUND_PREFER_CEIL, GL_NEAREST_FLOOR, GL_NEAREST_CEIL,
       GL_NEAREST_SIMPLE };
/* Resize (opset 10, 11, 13+) and Upsample (7-9): output dims, the scale of each dim, the roi
 * (tf_crop_and_resize only) and the modes. */
typedef struct {
  int rank, mode, coord, nearest;
  int64_t out[GL_MAX_RANK];
  double scale[GL_MAX_RANK];
  double out_len[GL_MAX_RANK]; /* the resized length coordinates use: in * scale, not floored */
  double roi_start[GL_MAX_RANK], roi_end[GL_MAX_RANK];
  double extrapolation;
} gl_resize_params_t;
gl_status_t gl_resize_params(const gl_graph_t *g, const gl_node_t *n, gl_resize_params_t *p) GL_MUST_USE;
/* Where output coordinate x of a dim maps to in the input (before rounding or clamping). */
double gl_resize_coord(const gl_resize_params_t *p, int d, int64_t x, int64_t in_len);

#endif
