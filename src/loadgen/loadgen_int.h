/* loadgen/loadgen_int.h - what loadgen's files share: prepared requests (seeded random streams:
 * core/rng.h). */
#ifndef GL_LOADGEN_INT_H
#define GL_LOADGEN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "loadgen/http.h"

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
