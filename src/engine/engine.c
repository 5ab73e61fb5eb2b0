/* engine/engine.c - model loading and the prepare-then-compile pipeline. */
#include "engine/engine.h"

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

gl_status_t gl_model_prepare(const gl_model_t *m, const gl_compile_opts_t *o, gl_graph_t **out) {
  *out = NULL;
  gl_graph_t *g = gl_graph_clone(m->g);
  if (!g) return GL_ENOMEM;
  gl_status_t st = GL_OK;
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
