/* serve/kserve.h - the KServe v2 inference request and response codec (JSON and binary tensors).
 * Owns: parsing a request body (JSON header, optional binary tensor bytes after it, or a raw
 * binary body) into typed tensors with every size checked against limits, and writing a
 * response (JSON data or binary outputs). Pure functions over buffers: no HTTP, no models, no
 * threads, so unit tests and the fuzzer drive it directly.
 * Does not own: checking tensors against a model's inputs (serve/model.h) or HTTP (server.c). */
#ifndef GL_SERVE_KSERVE_H
#define GL_SERVE_KSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

typedef struct {
  size_t max_body;       /* bytes of the whole body */
  int64_t max_elements;  /* elements of one tensor */
  int max_tensors;       /* inputs or outputs named in one request */
} gl_kv_limits_t;

typedef struct {
  char *name;
  gl_tensor_t t; /* owned data, shape as sent */
} gl_kv_input_t;

typedef struct {
  char *name;
  int binary; /* -1 unspecified, 0 JSON, 1 binary */
} gl_kv_output_t;

typedef struct {
  char *id;            /* NULL when absent */
  int n_inputs, n_outputs;
  gl_kv_input_t *inputs;
  gl_kv_output_t *outputs; /* n_outputs == 0: all outputs */
  bool binary_all;     /* parameters.binary_data_output */
  bool raw;            /* raw binary request (header length 0) */
  int64_t priority;    /* 0 when absent */
  int64_t timeout_us;  /* 0 when absent */
  int64_t deadline_us; /* 0 when absent: absolute, µs since the epoch */
} gl_kv_request_t;

/* For a raw binary request: the model's single input (shape with at most one -1). */
typedef struct {
  const char *name;
  gl_dtype_t dtype;
  gl_shape_t shape;
} gl_kv_raw_spec_t;

/* Parses body[0..len). header_len < 0: no Inference-Header-Content-Length (all JSON);
 * header_len == 0: raw binary (raw must be non-NULL, else GL_EINVAL); > 0: JSON header of that
 * many bytes followed by binary tensors. Errors: GL_EPARSE (malformed), GL_EINVAL / GL_ETYPE /
 * GL_ESHAPE (bad content), GL_ELIMIT (over a limit), GL_EUNSUPPORTED; with a one-line message.
 * On error *out is cleared. Free with gl_kv_request_fini. */
gl_status_t gl_kv_parse_request(const char *body, size_t len, long long header_len,
                                const gl_kv_limits_t *lim, const gl_kv_raw_spec_t *raw,
                                gl_kv_request_t *out) GL_MUST_USE;
void gl_kv_request_fini(gl_kv_request_t *r);

/* A growable byte buffer for responses. */
typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} gl_kv_buf_t;
void gl_kv_buf_put(gl_kv_buf_t *b, const void *data, size_t n);
void gl_kv_buf_printf(gl_kv_buf_t *b, const char *fmt, ...) GL_PRINTF(2, 3);
/* Appends s as a JSON string literal (quoted, escaped). */
void gl_kv_buf_jstr(gl_kv_buf_t *b, const char *s);
void gl_kv_buf_fini(gl_kv_buf_t *b);

/* One output of a response. */
typedef struct {
  const char *name;
  const gl_tensor_t *t;
  bool binary;
} gl_kv_out_t;

/* Writes an inference response into *b: the JSON header, then the binary outputs' bytes.
 * *header_len is the JSON's byte count (equal to b->len when no output is binary).
 * GL_ENOMEM when the buffer could not grow. */
gl_status_t gl_kv_write_response(gl_kv_buf_t *b, const char *model, const char *version,
                                 const char *id, const gl_kv_out_t *outs, int n,
                                 size_t *header_len) GL_MUST_USE;

/* Triton's model-config name for t ("TYPE_FP32"...); NULL when it has none. */
const char *gl_kv_config_type(gl_dtype_t t);

#endif
