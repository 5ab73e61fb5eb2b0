/* onnx/onnx.h - reading ONNX files into the IR, and reading/writing ONNX tensors.
 * Owns: the protobuf-c code generated at build time from the system's onnx.proto (never
 * hand-written), model and tensor decoding (initializers, Constant nodes, raw and typed data,
 * external data files next to the model), and writing models (for the zoo).
 * Does not own: shape inference (graph/). Untrusted input: every error names what is wrong. */
#ifndef GL_ONNX_ONNX_H
#define GL_ONNX_ONNX_H

#include <stddef.h>

#include "graph/graph.h"

/* Limits applied while reading; zero fields take the defaults shown. */
typedef struct {
  size_t max_file_bytes;   /* default 4 GiB: the model file, and the sum of its weights */
  int max_nodes;           /* default 1,000,000 */
  int max_values;          /* default 4,000,000: initializers + graph inputs + node outputs */
  int max_initializers;    /* default 1,000,000 */
} gl_onnx_limits_t;

/* Reads the model at path; external tensor data is resolved relative to the model's folder and
 * may not escape it. *out is owned by the caller (gl_graph_destroy). */
gl_status_t gl_onnx_load_file(const char *path, const gl_onnx_limits_t *lim, gl_graph_t **out) GL_MUST_USE;
/* Same for a model already in memory; base_dir (may be NULL) is where external data lives. */
gl_status_t gl_onnx_load_buffer(const void *buf, size_t len, const char *base_dir,
                                const gl_onnx_limits_t *lim, gl_graph_t **out) GL_MUST_USE;
/* Reads a serialized TensorProto (a test case's input_N.pb). *name (may be NULL) receives a
 * gl_malloc'd copy of its name, or NULL if it has none. */
gl_status_t gl_onnx_read_tensor_file(const char *path, gl_tensor_t *t, char **name) GL_MUST_USE;
gl_status_t gl_onnx_read_tensor_buffer(const void *buf, size_t len, gl_tensor_t *t, char **name) GL_MUST_USE;
/* Writes a tensor as a serialized TensorProto. */
gl_status_t gl_onnx_write_tensor_file(const char *path, const gl_tensor_t *t, const char *name) GL_MUST_USE;

/* Writes a tensor as a serialized TensorProto into a gl_malloc'd buffer (*out, *len). */
gl_status_t gl_onnx_write_tensor_buffer(const gl_tensor_t *t, const char *name, void **out, size_t *len) GL_MUST_USE;
/* Writes g as an ONNX model (ir_version 8, default-domain opset g->opset): inputs with shapes and
 * dim_params, every constant value as a raw_data initializer, live nodes with their attributes,
 * outputs with their types. Fused nodes and non-default domains are refused (GL_EUNSUPPORTED). */
gl_status_t gl_onnx_save_file(const gl_graph_t *g, const char *path, const char *producer) GL_MUST_USE;
/* Same into a gl_malloc'd buffer (*out, *len). */
gl_status_t gl_onnx_save_buffer(const gl_graph_t *g, const char *producer, void **out, size_t *len) GL_MUST_USE;
/* Like gl_onnx_save_file, but initializers of at least min_bytes go to "<path>.data" next to the
 * model as ONNX external data (64-byte aligned); needed past protobuf's 2 GiB message limit. */
gl_status_t gl_onnx_save_file_external(const gl_graph_t *g, const char *path, const char *producer,
                                       size_t min_bytes) GL_MUST_USE;

#endif
