/* onnx/pb.h - what the ONNX reader and writer share privately (not part of the onnx/ interface).
 * Owns: the protobuf-c allocator that routes through core/alloc.h, the wire-format pre-check
 * that bounds nesting before protobuf-c (which recurses without a limit) sees a buffer, and the
 * dtype mapping between gl_dtype_t and TensorProto.DataType. */
#ifndef GL_ONNX_PB_H
#define GL_ONNX_PB_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "core/status.h"
#include "onnx.pb-c.h"
#include "tensor/tensor.h"

/* Deepest message nesting accepted (a model with subgraphs nests about 6 per level). */
#define GL_PB_MAX_DEPTH 64

extern ProtobufCAllocator gl_pb_allocator;
/* True if gl_pb_allocator failed an allocation on this thread since the last call (clears it). */
bool gl_pb_take_oom(void);

/* Walks buf as a serialized message of type desc: every tag, varint and length well formed and
 * inside its parent, nesting at most GL_PB_MAX_DEPTH. GL_EPARSE naming the byte offset if not. */
gl_status_t gl_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                        const char *what) GL_MUST_USE;

/* ONNX's name for a TensorProto.DataType code, including those gpulet does not hold. */
const char *gl_pb_dtype_name(int code);

#endif
