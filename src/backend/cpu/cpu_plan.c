/* backend/cpu/cpu_plan.c - CPU plans: one prepared kernel per live node, every computed value in
 * one arena laid out by the memory plan, view ops (Reshape and friends) as pointer aliases. */
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "graph/memplan.h"

/* Optional inputs and outputs a node leaves out read as NULL up to this many slots past its last
 * input and its last output. */
#define GL_CPU_IN_PAD 8

typedef struct {
  gl_cpu_kernel_t k;
  int n_in, n_out;
  int *in, *out; /* value ids (-1 absent) */
  int alias_src; /* >= 0: a view; out[0] points at this value's data, no kernel */
  bool empty;    /* every output is empty: nothing to run */
} step_t;

typedef struct {
  gl_plan_t hdr;
  gl_cpu_exec_t x;
  step_t *steps;
  int n_steps;
  void **vptr;   /* per value: where its data is during a run */
  int n_values;
  void *arena;
  size_t arena_bytes;
  int *in_vals, *out_vals;
  size_t *out_bytes;
  void **args;   /* scratch for one step's in/out pointers, each list padded with NULLs */
  int max_args;
  gl_tensor_t *consts; /* the plan's references to constant values (the graph is freed after compile) */
  int n_consts;
  pthread_t owner; /* the thread that compiled the plan, the only one that may run it */
} cpu_plan_t;

/* True when every output of n has no elements (so n has nothing to compute). */
static bool empty_outputs(const gl_graph_t *g, const gl_node_t *n) {
  bool any = false;
  for (int k = 0; k < n->n_outputs; k++) {
    const gl_value_t *v = gl_out(g, n, k);
    if (!v) continue;
    if (gl_shape_numel(&v->shape) != 0) return false;
    any = true;
  }
  return any;
}

/* Contractions (Conv, Gemm, MatMul) over an empty dimension: a non-empty output from an empty
 * input, which oneDNN cannot take. */
static bool empty_reduction(const gl_graph_t *g, const gl_node_t *n) {
  static const char *ops[] = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
  bool contraction = false;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) contraction |= !strcmp(n->op_type, ops[i]);
  if (!contraction) return false;
  for (int k = 0; k < n->n_inputs && k < 2; k++) {
    const gl_value_t *v = gl_in(g, n, k);
    if (v && gl_shape_numel(&v->shape) == 0) return true;
  }
  return false;
}

static bool is_view_op(const gl_graph_t *g, const gl_node_t *n) {
  static const char *views[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  if (n->n_outputs != 1 || n->n_inputs < 1 || n->inputs[0] < 0) return false;
  const gl_value_t *a = gl_in(g, n, 0), *b = gl_out(g, n, 0);
  if (!a || !b || a->dtype != b->dtype || gl_shape_numel(&a->shape) != gl_shape_numel(&b->shape))
    return false;
  for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
    if (!strcmp(n->op_type, views[i])) return true;
  return false;
}

static void plan_destroy(gl_plan_t *p) {
  cpu_plan_t *cp = (cpu_plan_t *)p;
  for (int i = 0; i < cp->n_steps; i++) {
    step_t *s = &cp->steps[i];
    if (s->k.destroy) s->k.destroy(s->k.state);
    else gl_free(s->k.state);
    gl_free(s->in);
    gl_free(s->out);
  }
  gl_free(cp->steps);
  gl_free(cp->vptr);
  gl_aligned_free(cp->arena);
  gl_free(cp->in_vals);
  gl_free(cp->out_vals);
  gl_free(cp->out_bytes);
  gl_free(cp->args);
  for (int i = 0; i < cp->n_consts; i++) gl_tensor_fini(&cp->consts[i]);
  gl_free(cp->consts);
  if (cp->x.stream) dnnl_stream_destroy(cp->x.stream);
  gl_plan_header_fini(&cp->hdr);
  gl_free(cp);
}

static gl_status_t plan_create(gl_backend_t *be, const gl_graph_t *g, const gl_placement_t *pl,
                               gl_plan_t **out) {
  cpu_plan_t *cp = gl_calloc(1, sizeof *cp);
  if (!cp) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = gl_plan_header_init(&cp->hdr, be, g);
  int *alias = NULL;
  gl_memplan_t mp = {0};
  if (st) goto fail;
  cp->x.engine = gl_cpu_engine();
  if (!cp->x.engine) {
    st = GL_EBACKEND;
    goto fail;
  }
  cp->x.threads = pl->threads > 0 ? pl->threads : omp_get_max_threads();
  cp->owner = pthread_self();
  st = gl_dnnl_check(dnnl_stream_create(&cp->x.stream, cp->x.engine, dnnl_stream_default_flags),
                     "creating a stream");
  if (st) goto fail;
  cp->n_values = g->n_values;
  cp->vptr = gl_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(void *));
  alias = gl_malloc(sizeof(int) * (size_t)(g->n_values ? g->n_values : 1));
  cp->steps = gl_calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *cp->steps);
  if (!cp->vptr || !alias || !cp->steps) {
    st = gl_err(GL_ENOMEM, "out of memory");
    goto fail;
  }
  for (int v = 0; v < g->n_values; v++) alias[v] = -1;
  int omp_before = omp_get_max_threads();
  omp_set_num_threads(cp->x.threads);
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    step_t *s = &cp->steps[cp->n_steps];
    s->alias_src = -1;
    s->n_in = n->n_inputs;
    s->n_out = n->n_outputs;
    s->in = gl_malloc(sizeof(int) * (size_t)(n->n_inputs + 1));
    s->out = gl_malloc(sizeof(int) * (size_t)(n->n_outputs + 1));
    if (!s->in || !s->out) {
      gl_free(s->in), gl_free(s->out);
      st = gl_err(GL_ENOMEM, "out of memory");
      break;
    }
    memcpy(s->in, n->inputs, sizeof(int) * (size_t)n->n_inputs);
    memcpy(s->out, n->outputs, sizeof(int) * (size_t)n->n_outputs);
    cp->n_steps++;
    if (s->n_in + s->n_out > cp->max_args) cp->max_args = s->n_in + s->n_out;
    if (is_view_op(g, n)) {
      s->alias_src = n->inputs[0];
      if (g->values[n->inputs[0]].kind == GL_VAL_INTERNAL && !g->values[n->inputs[0]].data)
        alias[n->outputs[0]] = n->inputs[0];
      continue;
    }
    if (empty_outputs(g, n)) {
      s->empty = true; /* nothing to compute; oneDNN divides by zero on empty shapes */
      continue;
    }
    if (empty_reduction(g, n)) {
      st = gl_err(GL_EUNSUPPORTED, "%s: an empty input with a non-empty output is not supported",
                  gl_node_label(n));
      break;
    }
    const gl_cpu_op_t *op = gl_cpu_op(n->op_type);
    if (!op) {
      st = gl_err(GL_EUNSUPPORTED, "%s: the CPU backend has no kernel for op '%s'", gl_node_label(n),
                  n->op_type);
      break;
    }
    st = op->prepare(&cp->x, g, n, &s->k);
    if (st) {
      if (!strstr(gl_errmsg(), gl_node_label(n))) gl_err_wrap(st, "%s", gl_node_label(n));
      break;
    }
  }
  omp_set_num_threads(omp_before);
  if (st) goto fail;
  st = gl_memplan_build(g, alias, &mp);
  if (st) goto fail;
  cp->arena_bytes = mp.arena_bytes;
  cp->arena = gl_aligned_alloc(mp.arena_bytes ? mp.arena_bytes : 64);
  cp->args = gl_calloc((size_t)cp->max_args + 2 * GL_CPU_IN_PAD + 1, sizeof(void *));
  cp->in_vals = gl_malloc(sizeof(int) * (size_t)(g->n_inputs + 1));
  cp->out_vals = gl_malloc(sizeof(int) * (size_t)(g->n_outputs + 1));
  cp->out_bytes = gl_malloc(sizeof(size_t) * (size_t)(g->n_outputs + 1));
  if (!cp->arena || !cp->args || !cp->in_vals || !cp->out_vals || !cp->out_bytes) {
    st = gl_err(GL_ENOMEM, "out of memory allocating a %zu-byte arena", mp.arena_bytes);
    goto fail;
  }
  cp->consts = gl_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *cp->consts);
  if (!cp->consts) {
    st = gl_err(GL_ENOMEM, "out of memory");
    goto fail;
  }
  for (int v = 0; v < g->n_values; v++) {
    const gl_value_t *val = &g->values[v];
    if (val->data) {
      st = gl_tensor_share(&cp->consts[cp->n_consts], val->data);
      if (st) goto fail;
      cp->vptr[v] = cp->consts[cp->n_consts++].data;
    } else if (mp.offset[v] >= 0) {
      cp->vptr[v] = (char *)cp->arena + mp.offset[v];
    }
  }
  if (g->n_inputs) memcpy(cp->in_vals, g->inputs, sizeof(int) * (size_t)g->n_inputs);
  if (g->n_outputs) memcpy(cp->out_vals, g->outputs, sizeof(int) * (size_t)g->n_outputs);
  for (int i = 0; i < g->n_outputs; i++) {
    const gl_value_t *v = &g->values[g->outputs[i]];
    cp->out_bytes[i] = (size_t)gl_shape_numel(&v->shape) * gl_dtype_size(v->dtype);
  }
  gl_memplan_fini(&mp);
  gl_free(alias);
  *out = &cp->hdr;
  return GL_OK;
fail:
  gl_memplan_fini(&mp);
  gl_free(alias);
  plan_destroy(&cp->hdr);
  return st;
}

static gl_status_t plan_run(gl_plan_t *p, const gl_tensor_t *inputs, gl_tensor_t *outputs) {
  cpu_plan_t *cp = (cpu_plan_t *)p;
  /* oneDNN 2.6 as Debian builds it shares one library-managed scratchpad per thread among the
   * primitives that thread created; run from another thread, some (the gemm-based convs) write
   * through a pointer they do not own and crash. Until the kernels pass user-managed scratchpads,
   * a plan runs only on the thread that compiled it (executors compile their own plans). */
  if (!pthread_equal(cp->owner, pthread_self()))
    return gl_err(GL_ESTATE, "a CPU plan must run on the thread that compiled it");
  if (omp_get_max_threads() != cp->x.threads) omp_set_num_threads(cp->x.threads);
  for (int i = 0; i < p->n_inputs; i++) cp->vptr[cp->in_vals[i]] = inputs[i].data;
  for (int i = 0; i < cp->n_steps; i++) {
    step_t *s = &cp->steps[i];
    if (s->alias_src >= 0) {
      cp->vptr[s->out[0]] = cp->vptr[s->alias_src];
      continue;
    }
    if (s->empty) continue;
    void **in = cp->args, **out = cp->args + s->n_in + GL_CPU_IN_PAD;
    for (int k = 0; k < s->n_in; k++) in[k] = s->in[k] >= 0 ? cp->vptr[s->in[k]] : NULL;
    for (int k = s->n_in; k < s->n_in + GL_CPU_IN_PAD; k++) in[k] = NULL;
    for (int k = 0; k < s->n_out; k++) out[k] = s->out[k] >= 0 ? cp->vptr[s->out[k]] : NULL;
    for (int k = s->n_out; k < s->n_out + GL_CPU_IN_PAD; k++) out[k] = NULL;
    GL_TRY(s->k.run(&s->k, &cp->x, in, out));
  }
  GL_TRY(gl_dnnl_check(dnnl_stream_wait(cp->x.stream), "waiting for the stream"));
  for (int i = 0; i < p->n_outputs; i++)
    if (cp->out_bytes[i] && outputs[i].data != cp->vptr[cp->out_vals[i]])
      memcpy(outputs[i].data, cp->vptr[cp->out_vals[i]], cp->out_bytes[i]);
  return GL_OK;
}

static void backend_destroy(gl_backend_t *be) { gl_free(be); }

static const struct gl_backend_i cpu_iface = {
    .abi_version = GL_BACKEND_ABI,
    .size = sizeof(struct gl_backend_i),
    .name = "cpu",
    .plan_create = plan_create,
    .plan_run = plan_run,
    .plan_wait = NULL,
    .plan_destroy = plan_destroy,
    .destroy = backend_destroy,
};

gl_status_t gl_cpu_backend_create(gl_backend_t **out) {
  *out = NULL;
  if (!gl_cpu_engine()) return GL_EBACKEND;
  gl_backend_t *be = gl_calloc(1, sizeof *be);
  if (!be) return gl_err(GL_ENOMEM, "out of memory");
  be->i = &cpu_iface;
  *out = be;
  return GL_OK;
}

bool gl_cpu_plan_memory(const gl_plan_t *p, size_t *arena, size_t *consts) {
  *arena = *consts = 0;
  if (!p || !p->be || p->be->i != &cpu_iface) return false;
  const cpu_plan_t *cp = (const cpu_plan_t *)p;
  *arena = cp->arena_bytes;
  for (int i = 0; i < cp->n_consts; i++) *consts += gl_tensor_nbytes(&cp->consts[i]);
  return true;
}
