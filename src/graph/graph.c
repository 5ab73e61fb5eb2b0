/* graph/graph.c - building, copying, sorting and querying the IR. */
#include "graph/graph.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* ---- name index: open addressing, FNV-1a ---- */
struct gl_name_index {
  int *slot; /* value index or -1 */
  size_t cap;
  size_t used;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int index_rebuild(gl_graph_t *g, size_t cap) {
  struct gl_name_index *ix = g->index;
  int *slot = gl_malloc(cap * sizeof *slot);
  if (!slot) return -1;
  for (size_t i = 0; i < cap; i++) slot[i] = -1;
  gl_free(ix->slot);
  ix->slot = slot;
  ix->cap = cap;
  ix->used = 0;
  for (int v = 0; v < g->n_values; v++) {
    size_t h = hash_str(g->values[v].name) & (cap - 1);
    while (slot[h] >= 0) h = (h + 1) & (cap - 1);
    slot[h] = v;
    ix->used++;
  }
  return 0;
}

int gl_graph_find(const gl_graph_t *g, const char *name) {
  const struct gl_name_index *ix = g->index;
  if (!name || !ix || !ix->cap) return -1;
  size_t h = hash_str(name) & (ix->cap - 1);
  while (ix->slot[h] >= 0) {
    if (!strcmp(g->values[ix->slot[h]].name, name)) return ix->slot[h];
    h = (h + 1) & (ix->cap - 1);
  }
  return -1;
}

gl_graph_t *gl_graph_create(void) {
  gl_graph_t *g = gl_calloc(1, sizeof *g);
  if (!g) return NULL;
  g->index = gl_calloc(1, sizeof *g->index);
  if (!g->index) {
    gl_free(g);
    return NULL;
  }
  g->opset = 13;
  return g;
}

static void attr_fini(gl_attr_t *a) {
  gl_free(a->name);
  gl_free(a->s);
  if (a->t) {
    gl_tensor_fini(a->t);
    gl_free(a->t);
  }
  gl_free(a->floats);
  gl_free(a->ints);
  for (int i = 0; a->strings && i < a->n; i++) gl_free(a->strings[i]);
  gl_free(a->strings);
}

static void value_fini(gl_value_t *v) {
  gl_free(v->name);
  for (int i = 0; i < GL_MAX_RANK; i++) gl_free(v->dim_param[i]);
  if (v->data) {
    gl_tensor_fini(v->data);
    gl_free(v->data);
  }
}

static void node_fini(gl_node_t *n) {
  gl_free(n->name);
  gl_free(n->op_type);
  gl_free(n->domain);
  gl_free(n->inputs);
  gl_free(n->outputs);
  for (int i = 0; i < n->n_attrs; i++) attr_fini(&n->attrs[i]);
  gl_free(n->attrs);
}

void gl_graph_destroy(gl_graph_t *g) {
  if (!g) return;
  for (int i = 0; i < g->n_values; i++) value_fini(&g->values[i]);
  for (int i = 0; i < g->n_nodes; i++) node_fini(&g->nodes[i]);
  gl_free(g->values);
  gl_free(g->nodes);
  gl_free(g->inputs);
  gl_free(g->outputs);
  gl_free(g->name);
  if (g->index) gl_free(g->index->slot);
  gl_free(g->index);
  gl_free(g);
}

int gl_graph_add_value(gl_graph_t *g, const char *name) {
  char tmp[48];
  if (!name) {
    snprintf(tmp, sizeof tmp, "_gl_v%d", g->n_values);
    name = tmp;
  }
  if (gl_graph_find(g, name) >= 0) return -1;
  size_t cap = (size_t)g->cap_values;
  if (gl_grow((void **)&g->values, &cap, (size_t)g->n_values + 1, sizeof *g->values)) return -1;
  g->cap_values = (int)cap;
  gl_value_t *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = gl_strdup(name);
  if (!v->name) return -1;
  v->producer = -1;
  v->shape.rank = -1; /* unknown rank until set */
  g->n_values++;
  struct gl_name_index *ix = g->index;
  if ((ix->used + 1) * 2 > ix->cap) {
    if (index_rebuild(g, ix->cap ? ix->cap * 2 : 64)) {
      value_fini(v);
      g->n_values--;
      return -1;
    }
  } else {
    size_t h = hash_str(name) & (ix->cap - 1);
    while (ix->slot[h] >= 0) h = (h + 1) & (ix->cap - 1);
    ix->slot[h] = g->n_values - 1;
    ix->used++;
  }
  return g->n_values - 1;
}

int gl_graph_value(gl_graph_t *g, const char *name) {
  int v = gl_graph_find(g, name);
  return v >= 0 ? v : gl_graph_add_value(g, name);
}

int gl_graph_add_node(gl_graph_t *g, const char *op_type, const char *name, const int *inputs,
                      int n_inputs, const int *outputs, int n_outputs) {
  size_t cap = (size_t)g->cap_nodes;
  if (gl_grow((void **)&g->nodes, &cap, (size_t)g->n_nodes + 1, sizeof *g->nodes)) return -1;
  g->cap_nodes = (int)cap;
  gl_node_t *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->fuse.sum_input = -1;
  n->op_type = gl_strdup(op_type);
  n->name = gl_strdup(name ? name : "");
  n->domain = gl_strdup("");
  n->inputs = gl_malloc(sizeof(int) * (size_t)(n_inputs ? n_inputs : 1));
  n->outputs = gl_malloc(sizeof(int) * (size_t)(n_outputs ? n_outputs : 1));
  if (!n->op_type || !n->name || !n->domain || !n->inputs || !n->outputs) {
    node_fini(n);
    return -1;
  }
  if (n_inputs) memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
  if (n_outputs) memcpy(n->outputs, outputs, sizeof(int) * (size_t)n_outputs);
  n->n_inputs = n_inputs;
  n->n_outputs = n_outputs;
  return g->n_nodes++;
}

gl_attr_t *gl_node_add_attr(gl_graph_t *g, int ni, const char *name, gl_attr_type_t type) {
  gl_node_t *n = &g->nodes[ni];
  gl_attr_t *a = gl_realloc(n->attrs, sizeof *a * (size_t)(n->n_attrs + 1));
  if (!a) return NULL;
  n->attrs = a;
  a = &n->attrs[n->n_attrs];
  memset(a, 0, sizeof *a);
  a->name = gl_strdup(name);
  if (!a->name) return NULL;
  a->type = type;
  n->n_attrs++;
  return a;
}

static gl_status_t push_idx(int **arr, int *n, int v) {
  int *p = gl_realloc(*arr, sizeof(int) * (size_t)(*n + 1));
  if (!p) return gl_err(GL_ENOMEM, "out of memory");
  p[(*n)++] = v;
  *arr = p;
  return GL_OK;
}

gl_status_t gl_graph_add_input(gl_graph_t *g, int vi) {
  g->values[vi].kind = GL_VAL_INPUT;
  return push_idx(&g->inputs, &g->n_inputs, vi);
}

gl_status_t gl_graph_add_output(gl_graph_t *g, int vi) {
  g->values[vi].is_output = true;
  return push_idx(&g->outputs, &g->n_outputs, vi);
}

gl_status_t gl_value_set_const(gl_graph_t *g, int vi, gl_tensor_t *t) {
  gl_value_t *v = &g->values[vi];
  gl_tensor_t *copy = gl_malloc(sizeof *copy);
  if (!copy) return gl_err(GL_ENOMEM, "out of memory");
  *copy = *t;
  memset(t, 0, sizeof *t);
  if (gl_tensor_make_shared(copy)) {
    gl_tensor_fini(copy);
    gl_free(copy);
    return GL_ENOMEM;
  }
  if (v->data) {
    gl_tensor_fini(v->data);
    gl_free(v->data);
  }
  v->data = copy;
  v->kind = GL_VAL_CONST;
  v->dtype = copy->dtype;
  v->shape = copy->shape;
  return GL_OK;
}

/* ---- clone ---- */
static int dup_attr(gl_attr_t *d, const gl_attr_t *s) {
  memset(d, 0, sizeof *d);
  d->type = s->type;
  d->f = s->f;
  d->i = s->i;
  d->n = s->n;
  d->s_len = s->s_len;
  d->name = gl_strdup(s->name);
  if (!d->name) return -1;
  if (s->s) {
    d->s = gl_malloc(s->s_len + 1);
    if (!d->s) return -1;
    memcpy(d->s, s->s, s->s_len + 1);
  }
  if (s->t) {
    d->t = gl_malloc(sizeof *d->t);
    if (!d->t || gl_tensor_copy(d->t, s->t)) {
      gl_free(d->t);
      d->t = NULL;
      return -1;
    }
  }
  if (s->floats) {
    d->floats = gl_malloc(sizeof(float) * (size_t)(s->n ? s->n : 1));
    if (!d->floats) return -1;
    memcpy(d->floats, s->floats, sizeof(float) * (size_t)s->n);
  }
  if (s->ints) {
    d->ints = gl_malloc(sizeof(int64_t) * (size_t)(s->n ? s->n : 1));
    if (!d->ints) return -1;
    memcpy(d->ints, s->ints, sizeof(int64_t) * (size_t)s->n);
  }
  if (s->strings) {
    d->strings = gl_calloc((size_t)(s->n ? s->n : 1), sizeof(char *));
    if (!d->strings) return -1;
    for (int i = 0; i < s->n; i++)
      if (!(d->strings[i] = gl_strdup(s->strings[i]))) return -1;
  }
  return 0;
}

gl_graph_t *gl_graph_clone(const gl_graph_t *s) {
  gl_graph_t *g = gl_graph_create();
  if (!g) goto oom;
  g->opset = s->opset;
  if (s->name && !(g->name = gl_strdup(s->name))) goto oom;
  for (int i = 0; i < s->n_values; i++) {
    const gl_value_t *sv = &s->values[i];
    int vi = gl_graph_add_value(g, sv->name);
    if (vi != i) goto oom;
    gl_value_t *v = &g->values[vi];
    v->dtype = sv->dtype;
    v->shape = sv->shape;
    v->kind = sv->kind;
    v->is_output = sv->is_output;
    v->producer = sv->producer;
    v->n_uses = sv->n_uses;
    for (int d = 0; d < GL_MAX_RANK; d++)
      if (sv->dim_param[d] && !(v->dim_param[d] = gl_strdup(sv->dim_param[d]))) goto oom;
    if (sv->data) {
      v->data = gl_malloc(sizeof *v->data);
      if (!v->data || gl_tensor_share(v->data, sv->data)) {
        gl_free(v->data);
        v->data = NULL;
        goto oom;
      }
    }
  }
  for (int i = 0; i < s->n_nodes; i++) {
    const gl_node_t *sn = &s->nodes[i];
    int ni = gl_graph_add_node(g, sn->op_type, sn->name, sn->inputs, sn->n_inputs, sn->outputs,
                               sn->n_outputs);
    if (ni < 0) goto oom;
    gl_node_t *n = &g->nodes[ni];
    gl_free(n->domain);
    if (!(n->domain = gl_strdup(sn->domain ? sn->domain : ""))) goto oom;
    n->fuse = sn->fuse;
    n->dead = sn->dead;
    if (sn->n_attrs) {
      n->attrs = gl_calloc((size_t)sn->n_attrs, sizeof *n->attrs);
      if (!n->attrs) goto oom;
      for (int a = 0; a < sn->n_attrs; a++) {
        n->n_attrs = a + 1;
        if (dup_attr(&n->attrs[a], &sn->attrs[a])) goto oom;
      }
    }
  }
  for (int i = 0; i < s->n_inputs; i++)
    if (push_idx(&g->inputs, &g->n_inputs, s->inputs[i])) goto oom;
  for (int i = 0; i < s->n_outputs; i++)
    if (push_idx(&g->outputs, &g->n_outputs, s->outputs[i])) goto oom;
  return g;
oom:
  gl_graph_destroy(g);
  gl_err(GL_ENOMEM, "out of memory copying a graph");
  return NULL;
}

/* ---- topological order ---- */
void gl_graph_recount(gl_graph_t *g) {
  for (int v = 0; v < g->n_values; v++) {
    g->values[v].producer = -1;
    g->values[v].n_uses = g->values[v].is_output ? 1 : 0;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] >= 0) g->values[n->outputs[k]].producer = i;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0) g->values[n->inputs[k]].n_uses++;
  }
}

gl_status_t gl_graph_toposort(gl_graph_t *g) {
  int nn = g->n_nodes;
  gl_graph_recount(g);
  for (int i = 0; i < nn; i++) {
    gl_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v < 0) continue;
      gl_value_t *val = &g->values[v];
      if (val->producer < 0 && val->kind == GL_VAL_INTERNAL)
        return gl_err(GL_EPARSE, "%s uses '%s', which no node produces and is neither an input nor an initializer",
                      gl_node_label(n), val->name);
    }
  }
  /* Kahn's algorithm over a consumer index (value -> consuming nodes, one entry per use), with a
   * min-heap of ready nodes so the lowest original index goes first and the model's order is kept:
   * O((nodes + uses) log nodes). */
  int nv = g->n_values;
  size_t nn1 = (size_t)(nn ? nn : 1);
  int *pending = gl_calloc(nn1, sizeof(int));
  int *order = gl_malloc(sizeof(int) * nn1);
  int *heap = gl_malloc(sizeof(int) * nn1);
  int *first = gl_calloc((size_t)nv + 1, sizeof(int)); /* CSR offsets of consumers per value */
  int n_uses = 0;
  for (int i = 0; i < nn; i++) n_uses += g->nodes[i].n_inputs;
  int *cons = gl_malloc(sizeof(int) * (size_t)(n_uses ? n_uses : 1));
  if (!pending || !order || !heap || !first || !cons) {
    gl_free(pending), gl_free(order), gl_free(heap), gl_free(first), gl_free(cons);
    return gl_err(GL_ENOMEM, "out of memory sorting the graph");
  }
  for (int i = 0; i < nn; i++) {
    gl_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v >= 0 && g->values[v].producer >= 0) pending[i]++, first[v + 1]++;
    }
  }
  for (int v = 0; v < nv; v++) first[v + 1] += first[v];
  for (int i = 0; i < nn; i++) {
    gl_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v >= 0 && g->values[v].producer >= 0) cons[first[v]++] = i;
    }
  }
  for (int v = nv; v > 0; v--) first[v] = first[v - 1]; /* the fill advanced each start to its end */
  first[0] = 0;
  int hn = 0, count = 0;
  for (int i = 0; i < nn; i++)
    if (pending[i] == 0) heap[hn++] = i; /* ascending: already a min-heap */
  while (hn > 0) {
    int pick = heap[0];
    int last = heap[--hn], at = 0; /* sift the last entry down from the root */
    for (;;) {
      int c = 2 * at + 1;
      if (c >= hn) break;
      if (c + 1 < hn && heap[c + 1] < heap[c]) c++;
      if (heap[c] >= last) break;
      heap[at] = heap[c], at = c;
    }
    if (hn > 0) heap[at] = last;
    order[count++] = pick;
    gl_node_t *n = &g->nodes[pick];
    for (int k = 0; k < n->n_outputs; k++) {
      int v = n->outputs[k];
      if (v < 0) continue;
      for (int u = first[v]; u < first[v + 1]; u++) {
        int j = cons[u];
        if (--pending[j] != 0) continue;
        int up = hn++; /* sift j up */
        while (up > 0 && heap[(up - 1) / 2] > j) heap[up] = heap[(up - 1) / 2], up = (up - 1) / 2;
        heap[up] = j;
      }
    }
  }
  gl_free(heap), gl_free(first), gl_free(cons);
  gl_status_t st = GL_OK;
  if (count < nn) {
    int bad = 0;
    while (bad < nn && pending[bad] == 0) bad++;
    st = gl_err(GL_EPARSE, "the graph has a cycle through %s", gl_node_label(&g->nodes[bad]));
  } else {
    gl_node_t *sorted = gl_malloc(sizeof *sorted * (size_t)(nn ? nn : 1));
    if (!sorted) {
      st = gl_err(GL_ENOMEM, "out of memory sorting the graph");
    } else {
      for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
      if (nn) memcpy(g->nodes, sorted, sizeof *sorted * (size_t)nn);
      gl_free(sorted);
      gl_graph_recount(g);
    }
  }
  gl_free(pending), gl_free(order);
  return st;
}

/* ---- attributes ---- */
const gl_attr_t *gl_attr(const gl_node_t *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
  return NULL;
}

int64_t gl_attr_i(const gl_node_t *n, const char *name, int64_t dflt) {
  const gl_attr_t *a = gl_attr(n, name);
  return a && a->type == GL_ATTR_INT ? a->i : dflt;
}

float gl_attr_f(const gl_node_t *n, const char *name, float dflt) {
  const gl_attr_t *a = gl_attr(n, name);
  if (!a) return dflt;
  if (a->type == GL_ATTR_FLOAT) return a->f;
  if (a->type == GL_ATTR_INT) return (float)a->i;
  return dflt;
}

const char *gl_attr_s(const gl_node_t *n, const char *name, const char *dflt) {
  const gl_attr_t *a = gl_attr(n, name);
  return a && a->type == GL_ATTR_STRING ? a->s : dflt;
}

const int64_t *gl_attr_ints(const gl_node_t *n, const char *name, int *count) {
  const gl_attr_t *a = gl_attr(n, name);
  if (!a || a->type != GL_ATTR_INTS) {
    *count = 0;
    return NULL;
  }
  *count = a->n;
  return a->ints;
}

const float *gl_attr_floats(const gl_node_t *n, const char *name, int *count) {
  const gl_attr_t *a = gl_attr(n, name);
  if (!a || a->type != GL_ATTR_FLOATS) {
    *count = 0;
    return NULL;
  }
  *count = a->n;
  return a->floats;
}

const char *gl_node_label(const gl_node_t *n) {
  static _Thread_local char buf[256];
  if (n->name && n->name[0])
    snprintf(buf, sizeof buf, "%s node '%s'", n->op_type, n->name);
  else
    snprintf(buf, sizeof buf, "%s node", n->op_type);
  return buf;
}

bool gl_node_is_view(const gl_graph_t *g, const gl_node_t *n) {
  static const char *views[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  if (n->n_outputs != 1 || n->n_inputs < 1 || n->inputs[0] < 0) return false;
  const gl_value_t *a = gl_in(g, n, 0), *b = gl_out(g, n, 0);
  if (!a || !b || a->dtype != b->dtype || gl_shape_numel(&a->shape) != gl_shape_numel(&b->shape))
    return false;
  for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
    if (!strcmp(n->op_type, views[i])) return true;
  return false;
}
