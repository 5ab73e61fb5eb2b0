/* graph/memplan.h - the memory plan: one arena per compiled graph, buffers reused by liveness.
 * Owns: assigning each computed value an offset in the arena so that values whose lifetimes
 * overlap never share bytes. Values may alias an earlier value (Reshape, Identity...), which
 * then stays alive as long as any of its aliases. Graph outputs live to the end.
 * Does not own: the arena's memory (the backend allocates plan.arena_bytes). */
#ifndef GL_GRAPH_MEMPLAN_H
#define GL_GRAPH_MEMPLAN_H

#include "graph/graph.h"

typedef struct {
  size_t arena_bytes;  /* total bytes the arena needs */
  size_t naive_bytes;  /* what one buffer per value would need (for reporting reuse) */
  int64_t *offset;     /* per value: byte offset in the arena, -1 if the value needs none */
  int n_values;
} gl_memplan_t;

/* Plans g's live nodes in order. alias_of (may be NULL) maps value -> value whose storage it
 * shares (-1 for none). Every offset is a multiple of 64. */
gl_status_t gl_memplan_build(const gl_graph_t *g, const int *alias_of, gl_memplan_t *p) GL_MUST_USE;
/* As gl_memplan_build; bytes (may be NULL) gives per value the bytes it needs where that is more
 * than its shape says (0: from the shape), e.g. a backend's blocked layout with padded channels. */
gl_status_t gl_memplan_build_sized(const gl_graph_t *g, const int *alias_of, const size_t *bytes,
                                   gl_memplan_t *p) GL_MUST_USE;
/* As gl_memplan_build; bytes (may be NULL) gives per value its exact size in bytes where >= 0,
 * smaller or larger than its shape says (-1: from the shape), e.g. a GPU plan storing f32 values
 * as 2-byte halves. An alias's size is its root's. */
gl_status_t gl_memplan_build_exact(const gl_graph_t *g, const int *alias_of, const int64_t *bytes,
                                   gl_memplan_t *p) GL_MUST_USE;
void gl_memplan_fini(gl_memplan_t *p);

#endif
