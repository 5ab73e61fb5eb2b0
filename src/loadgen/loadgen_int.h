/* loadgen/loadgen_int.h - what loadgen's files share: seeded random streams and prepared requests. */
#ifndef GL_LOADGEN_INT_H
#define GL_LOADGEN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "loadgen/http.h"

uint64_t gl__lg_stream_seed(uint64_t seed, uint64_t stream);
double gl__lg_unif(uint64_t *s); /* (0, 1) */

/* One model's whole HTTP request (head and body), written once and sent as is every time. */
typedef struct {
  char *bytes;
  size_t len;
} gl_lg_prepared_t;

/* Reads model `name`'s metadata from the server and writes its infer request with seeded random
 * inputs (JSON, or the binary tensor extension). Errors name the model and the server. */
GL_MUST_USE gl_status_t gl__lg_prepare(const gl_lg_url_t *u, const char *name, uint64_t seed, int binary,
                                       gl_lg_prepared_t *out);

#endif
