/* engine/engine.c - model loading and the prepare-then-compile pipeline. */
#include "engine/engine.h"

#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"

struct gl_model {
  gl_graph_t *g;
};

gl_status_t gl_model_from_graph(gl_graph_t *g, gl_model_t **out) {
  *out = NULL;
  gl_model_t *m = gl_calloc(1, sizeof *m);
  if (!m) {
    gl_graph_destroy(g);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  m->g = g;
  *out = m;
  return GL_OK;
}

gl_status_t gl_model_load(const char *path, gl_model_t **out) {
  gl_graph_t *g = NULL;
  *out = NULL;
  GL_TRY(gl_onnx_load_file(path, NULL, &g));
  return gl_model_from_graph(g, out);
}

void gl_model_destroy(gl_model_t *m) {
  if (!m) return;
  gl_graph_destroy(m->g);
  gl_free(m);
}

const gl_graph_t *gl_model_graph(const gl_model_t *m) { return m->g; }

/* Small integer inputs that may be bound to their value at compile time. */
#define GL_BIND_MAX_ELEMS 1024

/* named (may be NULL): inputs of other types an error named as needed at compile time. */
static gl_status_t bind_inputs(gl_graph_t *g, const gl_tensor_t *vals, const bool *named) {
  for (int i = 0; i < g->n_inputs; i++) {
    const gl_tensor_t *t = &vals[i];
    gl_value_t *v = &g->values[g->inputs[i]];
    int64_t n = gl_shape_numel(&t->shape);
    bool integer = t->dtype == GL_DT_I64 || t->dtype == GL_DT_I32;
    if (!t->data || !(integer || (named && named[i])) || n < 0 || n > GL_BIND_MAX_ELEMS ||
        t->dtype != v->dtype)
      continue;
    gl_tensor_t *c = gl_malloc(sizeof *c);
    if (!c) return gl_err(GL_ENOMEM, "out of memory");
    if (gl_tensor_copy(c, t)) {
      gl_free(c);
      return GL_ENOMEM;
    }
    v->data = c; /* stays a graph input: the plan checks each run's value against this one */
  }
  return GL_OK;
}

static gl_status_t prepare_once(const gl_model_t *m, const gl_compile_opts_t *o, bool bind,
                                const bool *named, gl_graph_t **out);

/* The graph input an infer error names as needed at compile time ("input 'scales' must be known
 * when the model is compiled", "data-dependent output shape (input 'condition' ...)"), or -1. */
static int named_input(const gl_graph_t *g, const char *msg) {
  if (!strstr(msg, "must be known when the model is compiled") && !strstr(msg, "data-dependent"))
    return -1;
  const char *a = strstr(msg, "input '"), *b;
  if (!a || !(b = strchr(a + 7, '\''))) return -1;
  a += 7;
  for (int i = 0; i < g->n_inputs; i++) {
    const char *name = g->values[g->inputs[i]].name;
    if (strlen(name) == (size_t)(b - a) && !strncmp(name, a, (size_t)(b - a))) return i;
  }
  return -1;
}

gl_status_t gl_model_prepare(const gl_model_t *m, const gl_compile_opts_t *o, gl_graph_t **out) {
  gl_status_t st = prepare_once(m, o, false, NULL, out);
  if (st == GL_EUNSUPPORTED && o->input_values) st = prepare_once(m, o, true, NULL, out);
  /* Inputs of other types (Resize's scales, Compress's condition) are bound only once an error
   * names them, so the other inputs stay run-time inputs. */
  bool *named = NULL;
  for (int tries = 0; st == GL_EUNSUPPORTED && o->input_values && tries < m->g->n_inputs; tries++) {
    int k = named_input(m->g, gl_errmsg());
    if (k < 0 || !o->input_values[k].data || (named && named[k])) break;
    if (!named && !(named = gl_calloc((size_t)m->g->n_inputs, sizeof *named))) {
      gl_free(named);
      return gl_err(GL_ENOMEM, "out of memory");
    }
    named[k] = true;
    st = prepare_once(m, o, true, named, out);
  }
  gl_free(named);
  return st;
}

static gl_status_t prepare_once(const gl_model_t *m, const gl_compile_opts_t *o, bool bind,
                                const bool *named, gl_graph_t **out) {
  *out = NULL;
  gl_graph_t *g = gl_graph_clone(m->g);
  if (!g) return GL_ENOMEM;
  gl_status_t st = bind ? bind_inputs(g, o->input_values, named) : GL_OK;
  for (int i = 0; o->input_shapes && i < g->n_inputs && !st; i++)
    st = gl_graph_set_input_shape(g, i, &o->input_shapes[i]);
  gl_prepare_opts_t po = {.batch = o->input_shapes ? 0 : o->batch, .no_fuse = o->no_fuse};
  if (!st) st = gl_graph_prepare(g, &po, gl_cpu_eval, NULL);
  if (st) {
    gl_graph_destroy(g);
    return st;
  }
  *out = g;
  return GL_OK;
}

gl_status_t gl_model_compile(const gl_model_t *m, gl_backend_t *be, const gl_compile_opts_t *o,
                             gl_plan_t **out) {
  gl_graph_t *g = NULL;
  *out = NULL;
  GL_TRY(gl_model_prepare(m, o, &g));
  gl_status_t st = gl_plan_create(be, g, &o->placement, out);
  gl_graph_destroy(g);
  return st;
}
