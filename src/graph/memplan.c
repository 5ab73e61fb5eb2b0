/* graph/memplan.c - greedy best-fit offset assignment over value lifetimes. */
#include "graph/memplan.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

typedef struct {
  int v;
  size_t size;
  int first, last;  /* node positions: defined at first, last used at last */
} interval_t;

static int cmp_size_desc(const void *a, const void *b) {
  const interval_t *x = a, *y = b;
  if (x->size != y->size) return x->size < y->size ? 1 : -1;
  return x->first - y->first;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static int root_of(const int *alias_of, int v) {
  int guard = 0;
  while (alias_of && alias_of[v] >= 0 && guard++ < 1 << 20) v = alias_of[v];
  return v;
}

static gl_status_t plan(const gl_graph_t *g, const int *alias_of, const size_t *min_bytes,
                        const int64_t *exact, gl_memplan_t *p);

gl_status_t gl_memplan_build(const gl_graph_t *g, const int *alias_of, gl_memplan_t *p) {
  return plan(g, alias_of, NULL, NULL, p);
}

gl_status_t gl_memplan_build_sized(const gl_graph_t *g, const int *alias_of, const size_t *bytes,
                                   gl_memplan_t *p) {
  return plan(g, alias_of, bytes, NULL, p);
}

gl_status_t gl_memplan_build_exact(const gl_graph_t *g, const int *alias_of, const int64_t *bytes,
                                   gl_memplan_t *p) {
  return plan(g, alias_of, NULL, bytes, p);
}

/* min_bytes[v] raises a value's size above its shape's; exact[v] >= 0 replaces it. */
static gl_status_t plan(const gl_graph_t *g, const int *alias_of, const size_t *min_bytes,
                        const int64_t *exact, gl_memplan_t *p) {
  memset(p, 0, sizeof *p);
  int nv = g->n_values;
  p->n_values = nv;
  p->offset = gl_malloc(sizeof(int64_t) * (size_t)(nv ? nv : 1));
  int *first = gl_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  int *last = gl_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  interval_t *iv = gl_malloc(sizeof *iv * (size_t)(nv ? nv : 1));
  if (!p->offset || !first || !last || !iv) {
    gl_free(first), gl_free(last), gl_free(iv);
    gl_memplan_fini(p);
    return gl_err(GL_ENOMEM, "out of memory planning memory");
  }
  for (int v = 0; v < nv; v++) {
    p->offset[v] = -1;
    first[v] = -1;
    last[v] = -1;
  }
  int pos = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_outputs; k++) {
      int v = n->outputs[k];
      if (v < 0 || g->values[v].data) continue;
      int r = root_of(alias_of, v);
      if (first[r] < 0) first[r] = pos;
      if (last[r] < pos) last[r] = pos;
    }
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v < 0) continue;
      int r = root_of(alias_of, v);
      if (last[r] < pos) last[r] = pos;
    }
    pos++;
  }
  for (int k = 0; k < g->n_outputs; k++) {
    int r = root_of(alias_of, g->outputs[k]);
    last[r] = pos + 1;
  }
  int n_iv = 0;
  for (int v = 0; v < nv; v++) {
    const gl_value_t *val = &g->values[v];
    if (first[v] < 0 || val->data || val->kind != GL_VAL_INTERNAL) continue;
    if (alias_of && alias_of[v] >= 0) continue;
    int64_t numel = gl_shape_numel(&val->shape);
    if (numel < 0) continue;
    size_t sz = (size_t)numel * gl_dtype_size(val->dtype);
    if (min_bytes && min_bytes[v] > sz) sz = min_bytes[v];
    if (exact && exact[v] >= 0) sz = (size_t)exact[v];
    sz = align64(sz);
    iv[n_iv++] = (interval_t){v, sz ? sz : 64, first[v], last[v]};
    p->naive_bytes += sz;
  }
  qsort(iv, (size_t)n_iv, sizeof *iv, cmp_size_desc);
  /* Place largest first; each at the lowest offset that does not collide with a placed interval
   * whose lifetime overlaps. */
  int64_t *placed_off = gl_malloc(sizeof(int64_t) * (size_t)(n_iv ? n_iv : 1));
  if (!placed_off) {
    gl_free(first), gl_free(last), gl_free(iv);
    gl_memplan_fini(p);
    return gl_err(GL_ENOMEM, "out of memory planning memory");
  }
  size_t total = 0;
  for (int a = 0; a < n_iv; a++) {
    size_t off = 0;
    bool moved = true;
    while (moved) {
      moved = false;
      for (int b = 0; b < a; b++) {
        if (iv[b].last < iv[a].first || iv[a].last < iv[b].first) continue;
        size_t bo = (size_t)placed_off[b];
        if (off < bo + iv[b].size && bo < off + iv[a].size) {
          off = bo + iv[b].size;
          moved = true;
        }
      }
    }
    placed_off[a] = (int64_t)off;
    p->offset[iv[a].v] = (int64_t)off;
    if (off + iv[a].size > total) total = off + iv[a].size;
  }
  for (int v = 0; v < nv; v++)
    if (alias_of && alias_of[v] >= 0 && first[root_of(alias_of, v)] >= 0)
      p->offset[v] = p->offset[root_of(alias_of, v)];
  p->arena_bytes = total;
  gl_free(placed_off);
  gl_free(first), gl_free(last), gl_free(iv);
  return GL_OK;
}

void gl_memplan_fini(gl_memplan_t *p) {
  gl_free(p->offset);
  memset(p, 0, sizeof *p);
}
