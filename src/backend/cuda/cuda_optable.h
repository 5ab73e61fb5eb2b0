/* backend/cuda/cuda_optable.h - the ops the CUDA backend computes and which dtypes each accepts,
 * in plain C so the CPU test suite (tests/backend/test_cuda_coverage.c) can check, without a GPU,
 * that every live op of every zoo model's prepared graph has a CUDA kernel. cuda_ops_ew.cu builds
 * its op table from GL_CUDA_OPS and cuda_plan.cu refuses nodes gl_cuda_node_dtypes_ok rejects,
 * so this list and the module cannot drift apart. */
#ifndef GL_BACKEND_CUDA_CUDA_OPTABLE_H
#define GL_BACKEND_CUDA_CUDA_OPTABLE_H

#include <string.h>

#include "graph/graph.h"

/* X(op_type, prepare function: gl_cu_<prep> in cuda_ops_{ew,nn,move}.cu) */
#define GL_CUDA_OPS(X)                                                                          \
  X("Relu", prep_unary) X("LeakyRelu", prep_unary) X("Sigmoid", prep_unary)                      \
  X("Tanh", prep_unary) X("HardSigmoid", prep_unary) X("HardSwish", prep_unary)                  \
  X("Erf", prep_unary) X("Sqrt", prep_unary) X("Exp", prep_unary) X("Log", prep_unary)           \
  X("Neg", prep_unary) X("Abs", prep_unary) X("Reciprocal", prep_unary) X("Elu", prep_unary)     \
  X("Softplus", prep_unary) X("Floor", prep_unary) X("Ceil", prep_unary)                         \
  X("Identity", prep_unary) X("Dropout", prep_unary) X("Clip", prep_unary) X("Gelu", prep_unary) \
  X("Add", prep_binary) X("Sub", prep_binary) X("Mul", prep_binary) X("Div", prep_binary)        \
  X("Pow", prep_binary) X("Min", prep_binary) X("Max", prep_binary) X("PRelu", prep_binary)      \
  X("Sum", prep_binary)                                                                           \
  X("Conv", prep_conv) X("Gemm", prep_mm) X("MatMul", prep_mm)                                   \
  X("MaxPool", prep_pool) X("AveragePool", prep_pool) X("GlobalAveragePool", prep_pool)          \
  X("GlobalMaxPool", prep_pool) X("LRN", prep_pool)                                              \
  X("BatchNormalization", prep_bn) X("LayerNormalization", prep_rows) X("Softmax", prep_rows)    \
  X("LogSoftmax", prep_rows)                                                                      \
  X("Transpose", prep_transpose) X("Gather", prep_gather) X("Concat", prep_concat)               \
  X("ReduceMean", prep_reduce) X("ReduceSum", prep_reduce)                                       \
  X("Reshape", prep_copy) X("Flatten", prep_copy) X("Squeeze", prep_copy)                        \
  X("Unsqueeze", prep_copy) X("Slice", prep_slice) X("Expand", prep_expand)                      \
  X("Where", prep_where) X("Cast", prep_cast) X("Split", prep_split) X("Tile", prep_tile)        \
  X("Pad", prep_pad) X("Resize", prep_resize)

/* 1 when op_type is in the table. */
static inline int gl_cuda_has_op(const char *op_type) {
#define GL_CUDA_OP_NAME_(name, prep) name,
  static const char *const names[] = {GL_CUDA_OPS(GL_CUDA_OP_NAME_)};
#undef GL_CUDA_OP_NAME_
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(names[i], op_type)) return 1;
  return 0;
}

/* The dtype rule of the CUDA module: computed tensors are float, except where an op moves data
 * of any 4- or 8-byte type (Gather, the copies and Transpose/Slice/Expand/Tile/Split/Concat,
 * Where's branches) or converts (Cast between f32, i64, i32 and bool). */
static inline int gl_cuda_node_dtypes_ok(const gl_graph_t *g, const gl_node_t *n) {
  static const char *const movers[] = {"Gather", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                                       "Identity", "Transpose", "Slice", "Expand", "Tile",
                                       "Split", "Concat", "Where", "Cast", "Dropout"};
  int mover = 0;
  for (size_t i = 0; i < sizeof movers / sizeof movers[0]; i++)
    if (!strcmp(movers[i], n->op_type)) mover = 1;
  for (int k = 0; k < n->n_outputs; k++) {
    if (n->outputs[k] < 0) continue;
    gl_dtype_t dt = g->values[n->outputs[k]].dtype;
    if (dt == GL_DT_F32) continue;
    if (!mover) return 0;
    if (dt != GL_DT_I64 && dt != GL_DT_I32 && dt != GL_DT_BOOL) return 0;
  }
  return 1;
}

#endif
