/* backend/cpu/cpu_plan.c - CPU plans: one prepared kernel per live node, every computed value in
 * one arena laid out by the memory plan, view ops (Reshape and friends) as pointer aliases.
 *
 * Layout pass: before the kernels are prepared, every value whose readers are all layout-aware
 * kernel input slots (convs, oneDNN pools, ...: gl_cpu_layout_accepts) and which is no graph output
 * is marked may_block. Kernels are prepared in order; a layout-aware producer of such a value keeps
 * it in the layout its primitive prefers (nhwc, nChw16c...) and publishes that layout, which its
 * readers then take as their source layout. So chains of convs and pools run without reorders,
 * which happen only where a value leaves for a plain-layout reader (inside the producer). The
 * memory plan sizes each value by its layout (blocked layouts may pad channels).
 * GL_PLAN_DUMP=1 prints each step with its output's layout to stderr. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"
#include "core/clock.h"
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
  gl_arena_t *shared; /* arena is this shared one's memory (a reference held), else owned */
  int *in_vals, *out_vals;
  size_t *out_bytes;
  void **args;   /* scratch for one step's in/out pointers, each list padded with NULLs */
  int max_args;
  gl_tensor_t *consts; /* the plan's references to constant values (the graph is freed after compile) */
  int n_consts;
  int n_blocked; /* values the layout pass left blocked */
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

const dnnl_memory_desc_t *gl_cpu_layout_of(const gl_cpu_exec_t *x, int v) {
  if (!x->lay || v < 0 || !x->lay[v].blocked) return NULL;
  return &x->lay[v].md;
}

bool gl_cpu_layout_publish(const gl_cpu_exec_t *x, int v, const dnnl_memory_desc_t *md) {
  if (!x->lay || v < 0 || !x->lay[v].may_block) return false;
  x->lay[v].md = *md;
  /* Plain row-major is no blocked layout: compare against it. */
  dnnl_memory_desc_t plain;
  int r = md->ndims;
  dnnl_dims_t str;
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    str[i] = acc;
    acc *= md->dims[i] > 0 ? md->dims[i] : 1;
  }
  bool is_plain = dnnl_memory_desc_init_by_strides(&plain, r, md->dims, md->data_type, str) ==
                      dnnl_success && dnnl_memory_desc_equal(&plain, md);
  x->lay[v].blocked = !is_plain;
  return true;
}

/* Marks the values that may stay in a blocked layout (see the file comment). */
static gl_status_t layout_pass(const gl_graph_t *g, gl_cpu_layout_t *lay) {
  int nv = g->n_values;
  char *bad = gl_calloc((size_t)(nv ? nv : 1), 1);
  int *uses = gl_calloc((size_t)(nv ? nv : 1), sizeof(int));
  if (!bad || !uses) {
    gl_free(bad), gl_free(uses);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_inputs; k++) {
      int v = n->inputs[k];
      if (v < 0) continue;
      uses[v]++;
      if (gl_node_is_view(g, n) || !gl_cpu_layout_accepts(g, n, k)) bad[v] = 1;
    }
  }
  for (int v = 0; v < nv; v++) {
    const gl_value_t *val = &g->values[v];
    lay[v].may_block = uses[v] > 0 && !bad[v] && !val->is_output && !val->data &&
                       val->kind == GL_VAL_INTERNAL && val->dtype == GL_DT_F32;
  }
  gl_free(bad);
  gl_free(uses);
  return GL_OK;
}

static void plan_dump(const gl_graph_t *g, const gl_cpu_layout_t *lay, const size_t *bytes) {
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    int v = n->n_outputs ? n->outputs[0] : -1;
    fprintf(stderr, "step %-24s %-18s", gl_node_label(n), n->op_type);
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0 && !g->values[n->inputs[k]].data)
        fprintf(stderr, " in%d:%s", k, lay[n->inputs[k]].blocked ? "blk" : "plain");
    if (v >= 0) {
      fprintf(stderr, " -> %s", lay[v].blocked ? "blk" : lay[v].may_block ? "plain(may)" : "plain");
      if (lay[v].blocked) {
        const dnnl_memory_desc_t *md = &lay[v].md;
        fprintf(stderr, " [%s", md->format_kind == dnnl_blocked ? "strides" : "?");
        for (int d = 0; d < md->ndims; d++) fprintf(stderr, " %lld", (long long)md->format_desc.blocking.strides[d]);
        for (int b = 0; b < md->format_desc.blocking.inner_nblks; b++)
          fprintf(stderr, " %lldx%lld", (long long)md->format_desc.blocking.inner_blks[b],
                  (long long)md->format_desc.blocking.inner_idxs[b]);
        fprintf(stderr, "] %zu bytes", bytes[v]);
      }
    }
    fprintf(stderr, "\n");
  }
}

/* Rough multiply-adds of g's live nodes: convs and matmuls by their reduction length, everything
 * else one per output element. */
static double plan_work(const gl_graph_t *g) {
  double w = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    const gl_value_t *y = n->dead || n->n_outputs < 1 ? NULL : gl_out(g, n, 0);
    if (!y) continue;
    double out = (double)gl_shape_numel(&y->shape), red = 1;
    if (out < 0) return 1e18; /* unknown: assume plenty */
    const gl_value_t *wv = n->n_inputs > 1 ? gl_in(g, n, 1) : NULL;
    if (!strcmp(n->op_type, "Conv") && wv && wv->shape.rank >= 2 && wv->shape.d[0] > 0)
      red = (double)gl_shape_numel(&wv->shape) / (double)wv->shape.d[0];
    else if ((!strcmp(n->op_type, "MatMul") || !strcmp(n->op_type, "Gemm")) && n->n_inputs > 0 &&
             gl_in(g, n, 0) && gl_in(g, n, 0)->shape.rank >= 1) {
      const gl_shape_t *a = &gl_in(g, n, 0)->shape;
      bool ta = !strcmp(n->op_type, "Gemm") && gl_attr_i(n, "transA", 0);
      red = (double)(ta && a->rank == 2 ? a->d[0] : a->d[a->rank - 1]);
    }
    w += out * (red > 1 ? red : 1);
  }
  return w;
}

/* Below this many multiply-adds a run takes tens of microseconds, less than waking the other
 * OpenMP threads for every step costs (LeNet at batch 1: 2 threads took 0.076 ms, 1 took 0.020
 * ms): such plans run on one thread. */
#define GL_CPU_SERIAL_WORK 4e6

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
  if (cp->shared) gl_arena_unref(cp->shared);
  else gl_aligned_free(cp->arena);
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
  gl_cpu_layout_t *lay = NULL;
  size_t *vbytes = NULL;
  gl_memplan_t mp = {0};
  if (st) goto fail;
  cp->x.engine = gl_cpu_engine();
  if (!cp->x.engine) {
    st = GL_EBACKEND;
    goto fail;
  }
  cp->x.threads = pl->threads > 0 ? pl->threads : omp_get_max_threads();
  if (cp->x.threads > 1 && plan_work(g) < GL_CPU_SERIAL_WORK) cp->x.threads = 1;
  cp->owner = pthread_self();
  st = gl_dnnl_check(dnnl_stream_create(&cp->x.stream, cp->x.engine, dnnl_stream_default_flags),
                     "creating a stream");
  if (st) goto fail;
  cp->n_values = g->n_values;
  cp->vptr = gl_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(void *));
  alias = gl_malloc(sizeof(int) * (size_t)(g->n_values ? g->n_values : 1));
  cp->steps = gl_calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *cp->steps);
  lay = gl_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *lay);
  vbytes = gl_calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *vbytes);
  if (!cp->vptr || !alias || !cp->steps || !lay || !vbytes) {
    st = gl_err(GL_ENOMEM, "out of memory");
    goto fail;
  }
  if (!getenv("GL_CPU_PLAIN_LAYOUT")) { /* GL_CPU_PLAIN_LAYOUT=1: no layout pass, for measuring */
    st = layout_pass(g, lay);
    if (st) goto fail;
  }
  cp->x.lay = lay;
  int64_t t_start = gl_now_ns(), conv_ns = 0;
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
    if (gl_node_is_view(g, n)) {
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
    gl_cpu_prepare_fn lk = gl_cpu_layout_kernel(&cp->x, g, n);
    int64_t tk = gl_now_ns();
    st = (lk ? lk : op->prepare)(&cp->x, g, n, &s->k);
    if (!strcmp(n->op_type, "Conv")) conv_ns += gl_now_ns() - tk;
    if (st) {
      if (!strstr(gl_errmsg(), gl_node_label(n))) gl_err_wrap(st, "%s", gl_node_label(n));
      break;
    }
  }
  omp_set_num_threads(omp_before);
  cp->x.lay = NULL;
  if (st) goto fail;
  for (int v = 0; v < g->n_values; v++)
    if (lay[v].blocked) vbytes[v] = dnnl_memory_desc_get_size(&lay[v].md), cp->n_blocked++;
  if (getenv("GL_PLAN_DUMP")) plan_dump(g, lay, vbytes);
  if (getenv("GL_COMPILE_TIMES"))
    fprintf(stderr, "plan: kernels %.1f ms (convs %.1f ms)\n", gl_ns_to_ms(gl_now_ns() - t_start),
            gl_ns_to_ms(conv_ns));
  st = gl_memplan_build_sized(g, alias, vbytes, &mp);
  if (st) goto fail;
  cp->arena_bytes = mp.arena_bytes;
  if (pl->arena && (cp->arena = gl_arena_take(pl->arena, mp.arena_bytes))) cp->shared = pl->arena;
  else cp->arena = gl_aligned_alloc(mp.arena_bytes ? mp.arena_bytes : 64);
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
  gl_free(lay);
  gl_free(vbytes);
  *out = &cp->hdr;
  return GL_OK;
fail:
  cp->x.lay = NULL;
  gl_memplan_fini(&mp);
  gl_free(alias);
  gl_free(lay);
  gl_free(vbytes);
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

int gl_cpu_plan_blocked_values(const gl_plan_t *p) { return ((const cpu_plan_t *)p)->n_blocked; }

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
