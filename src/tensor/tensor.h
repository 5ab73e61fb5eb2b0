/* tensor/tensor.h - element types, shapes and tensor buffers.
 * Owns: gl_dtype_t (numbered as ONNX's TensorProto.DataType), gl_shape_t (rank <= GL_MAX_RANK,
 * int64 dims; -1 = not known yet) and gl_tensor_t, a typed view that may own its data.
 * Does not own: layouts chosen by a backend (those stay inside the backend). */
#ifndef GL_TENSOR_TENSOR_H
#define GL_TENSOR_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define GL_MAX_RANK 8

typedef enum {
  GL_DT_UNDEFINED = 0,
  GL_DT_F32 = 1,
  GL_DT_U8 = 2,
  GL_DT_I8 = 3,
  GL_DT_U16 = 4,
  GL_DT_I16 = 5,
  GL_DT_I32 = 6,
  GL_DT_I64 = 7,
  GL_DT_STRING = 8,
  GL_DT_BOOL = 9,
  GL_DT_F16 = 10,
  GL_DT_F64 = 11,
  GL_DT_U32 = 12,
  GL_DT_U64 = 13,
  GL_DT_BF16 = 16,
} gl_dtype_t;

/* Bytes per element; 0 for undefined and string. */
size_t gl_dtype_size(gl_dtype_t t);
/* ONNX's name: "float", "int64", ...; "undefined" for unknown codes. */
const char *gl_dtype_name(gl_dtype_t t);
/* Parses a KServe v2 datatype name ("FP32", "INT64", "BOOL", "BYTES"...); GL_DT_UNDEFINED if unknown. */
gl_dtype_t gl_dtype_from_kserve(const char *s);
/* KServe v2 datatype name of t ("FP32"...); NULL when it has none. */
const char *gl_dtype_kserve(gl_dtype_t t);
bool gl_dtype_is_float(gl_dtype_t t);
bool gl_dtype_is_int(gl_dtype_t t);

typedef struct {
  int rank;
  int64_t d[GL_MAX_RANK];
} gl_shape_t;

/* Number of elements (1 for rank 0); -1 if any dim is unknown or the product overflows. */
int64_t gl_shape_numel(const gl_shape_t *s);
bool gl_shape_eq(const gl_shape_t *a, const gl_shape_t *b);
/* Writes "[1,3,224,224]" (unknown dims as "?") into buf; returns buf. */
char *gl_shape_str(const gl_shape_t *s, char *buf, size_t cap);
/* Numpy-style broadcast of a and b into out; GL_ESHAPE with a message if they do not broadcast. */
gl_status_t gl_shape_broadcast(const gl_shape_t *a, const gl_shape_t *b, gl_shape_t *out);
/* Row-major strides in elements of s into st (rank entries). */
void gl_shape_strides(const gl_shape_t *s, int64_t *st);

typedef struct gl_tensor_buf gl_tensor_buf_t; /* a reference-counted, immutable data block */

typedef struct gl_tensor {
  gl_dtype_t dtype;
  gl_shape_t shape;
  void *data;  /* numel * gl_dtype_size bytes, or NULL while unallocated */
  bool owns;   /* data is gl_aligned_alloc'd and freed by gl_tensor_fini */
  gl_tensor_buf_t *buf; /* non-NULL: data is shared and read-only; fini drops one reference */
} gl_tensor_t;

/* Allocates zeroed, owned storage for dtype/shape (all dims known). */
gl_status_t gl_tensor_alloc(gl_tensor_t *t, gl_dtype_t dtype, const gl_shape_t *shape) GL_MUST_USE;
/* Deep copy of src into dst (dst owns its data). */
gl_status_t gl_tensor_copy(gl_tensor_t *dst, const gl_tensor_t *src) GL_MUST_USE;
size_t gl_tensor_nbytes(const gl_tensor_t *t);
/* Makes t's owned data shared (read-only from now on), so gl_tensor_share can hand it out
 * without copying. A no-op for tensors already shared or not owning their data. */
gl_status_t gl_tensor_make_shared(gl_tensor_t *t) GL_MUST_USE;
/* dst refers to src's data: one more reference when src is shared, else a deep copy. */
gl_status_t gl_tensor_share(gl_tensor_t *dst, const gl_tensor_t *src) GL_MUST_USE;
/* Frees owned data (or drops a shared reference) and clears t; accepts NULL and views. */
void gl_tensor_fini(gl_tensor_t *t);
/* Reads element i of any numeric tensor as double / int64 (for small shape/index tensors). */
double gl_tensor_get_f64(const gl_tensor_t *t, int64_t i);
int64_t gl_tensor_get_i64(const gl_tensor_t *t, int64_t i);

/* IEEE half and bfloat16 conversions. */
float gl_f16_to_f32(uint16_t h);
uint16_t gl_f32_to_f16(float f);
float gl_bf16_to_f32(uint16_t h);
uint16_t gl_f32_to_bf16(float f);

#endif
