/* backend/backend.c - dispatch through the backend table and the shared plan header. */
#include "backend/backend.h"

#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"

gl_status_t gl_plan_create(gl_backend_t *be, const gl_graph_t *g, const gl_placement_t *pl,
                           gl_plan_t **out) {
  static const gl_placement_t dflt = {0};
  *out = NULL;
  return be->i->plan_create(be, g, pl ? pl : &dflt, out);
}

gl_status_t gl_plan_run(gl_plan_t *p, const gl_tensor_t *inputs, gl_tensor_t *outputs) {
  for (int i = 0; i < p->n_inputs; i++) {
    if (inputs[i].dtype != p->inputs[i].dtype)
      return gl_err(GL_ETYPE, "input '%s' must be %s, not %s", p->input_names[i],
                    gl_dtype_name(p->inputs[i].dtype), gl_dtype_name(inputs[i].dtype));
    if (!gl_shape_eq(&inputs[i].shape, &p->inputs[i].shape)) {
      char a[128], b[128];
      return gl_err(GL_ESHAPE, "input '%s' must have shape %s, not %s", p->input_names[i],
                    gl_shape_str(&p->inputs[i].shape, a, sizeof a),
                    gl_shape_str(&inputs[i].shape, b, sizeof b));
    }
    if (!inputs[i].data) return gl_err(GL_EINVAL, "input '%s' has no data", p->input_names[i]);
    if (p->bound[i].data &&
        memcmp(p->bound[i].data, inputs[i].data, gl_tensor_nbytes(&p->bound[i])) != 0)
      return gl_err(GL_EINVAL, "input '%s' was bound to its value when the model was compiled "
                    "(the model needs it then) and this run gives another value", p->input_names[i]);
  }
  for (int i = 0; i < p->n_outputs; i++)
    if (!outputs[i].data) return gl_err(GL_EINVAL, "output '%s' has no buffer", p->output_names[i]);
  return p->be->i->plan_run(p, inputs, outputs);
}

gl_status_t gl_plan_wait(gl_plan_t *p) {
  return p->be->i->plan_wait ? p->be->i->plan_wait(p) : GL_OK;
}

void gl_plan_destroy(gl_plan_t *p) {
  if (p) p->be->i->plan_destroy(p);
}

struct gl_arena {
  void *p;
  size_t bytes;
  atomic_int refs;
};

gl_arena_t *gl_arena_create(void) {
  gl_arena_t *a = gl_calloc(1, sizeof *a);
  if (a) atomic_init(&a->refs, 1);
  return a;
}

void gl_arena_unref(gl_arena_t *a) {
  if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
  gl_aligned_free(a->p);
  gl_free(a);
}

void *gl_arena_take(gl_arena_t *a, size_t bytes) {
  if (!a->p) {
    a->p = gl_aligned_alloc(bytes ? bytes : 64);
    if (!a->p) return NULL;
    a->bytes = bytes;
  } else if (bytes > a->bytes) {
    return NULL;
  }
  atomic_fetch_add(&a->refs, 1);
  return a->p;
}

size_t gl_arena_bytes(const gl_arena_t *a) { return a ? a->bytes : 0; }

void gl_backend_destroy(gl_backend_t *be) {
  if (be) be->i->destroy(be);
}

static gl_status_t describe(const gl_graph_t *g, const int *ids, int n, gl_tensor_t **desc,
                            char ***names) {
  *desc = gl_calloc((size_t)(n ? n : 1), sizeof **desc);
  *names = gl_calloc((size_t)(n ? n : 1), sizeof **names);
  if (!*desc || !*names) return gl_err(GL_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    const gl_value_t *v = &g->values[ids[i]];
    (*desc)[i].dtype = v->dtype;
    (*desc)[i].shape = v->shape;
    if (!((*names)[i] = gl_strdup(v->name))) return gl_err(GL_ENOMEM, "out of memory");
  }
  return GL_OK;
}

gl_status_t gl_plan_header_init(gl_plan_t *p, gl_backend_t *be, const gl_graph_t *g) {
  p->be = be;
  p->n_inputs = g->n_inputs;
  p->n_outputs = g->n_outputs;
  GL_TRY(describe(g, g->inputs, g->n_inputs, &p->inputs, &p->input_names));
  p->bound = gl_calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *p->bound);
  if (!p->bound) return gl_err(GL_ENOMEM, "out of memory");
  for (int i = 0; i < g->n_inputs; i++) {
    const gl_value_t *v = &g->values[g->inputs[i]];
    if (v->data) GL_TRY(gl_tensor_copy(&p->bound[i], v->data));
  }
  GL_TRY(describe(g, g->outputs, g->n_outputs, &p->outputs, &p->output_names));
  return GL_OK;
}

void gl_plan_header_fini(gl_plan_t *p) {
  for (int i = 0; p->input_names && i < p->n_inputs; i++) gl_free(p->input_names[i]);
  for (int i = 0; p->output_names && i < p->n_outputs; i++) gl_free(p->output_names[i]);
  for (int i = 0; p->bound && i < p->n_inputs; i++) gl_tensor_fini(&p->bound[i]);
  gl_free(p->bound);
  gl_free(p->input_names);
  gl_free(p->output_names);
  gl_free(p->inputs);
  gl_free(p->outputs);
}

gl_status_t gl_plan_alloc_outputs(const gl_plan_t *p, gl_tensor_t *outputs) {
  for (int i = 0; i < p->n_outputs; i++) {
    gl_status_t st = gl_tensor_alloc(&outputs[i], p->outputs[i].dtype, &p->outputs[i].shape);
    if (st) {
      for (int j = 0; j < i; j++) gl_tensor_fini(&outputs[j]);
      return st;
    }
  }
  return GL_OK;
}
