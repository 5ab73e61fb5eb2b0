/* backend/cpu/cpu_ops.c - the CPU op registry, the shared oneDNN engine, fused activations and
 * constant folding through the kernels. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_int.h"
#include "core/alloc.h"

static const gl_cpu_op_t *const families[] = {gl_cpu_ops_elementwise, gl_cpu_ops_tensor,
                                              gl_cpu_ops_nn, gl_cpu_ops_reduce, gl_cpu_ops_gather,
                                              gl_cpu_ops_resample, gl_cpu_ops_norm_pool,
                                              gl_cpu_ops_softmax, gl_cpu_ops_einsum};

const gl_cpu_op_t *gl_cpu_op(const char *op_type) {
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const gl_cpu_op_t *o = families[f]; o->op_type; o++)
      if (!strcmp(o->op_type, op_type)) return o;
  return NULL;
}

bool gl_cpu_supports(const char *op_type) { return gl_cpu_op(op_type) != NULL; }

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_status_t engine_status;

static void make_engine(void) { engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0); }

dnnl_engine_t gl_cpu_engine(void) {
  pthread_once(&engine_once, make_engine);
  if (engine_status != dnnl_success) {
    gl_dnnl_check(engine_status, "creating the oneDNN CPU engine");
    return NULL;
  }
  return engine;
}

gl_status_t gl_dnnl_check(dnnl_status_t s, const char *what) {
  if (s == dnnl_success) return GL_OK;
  const char *why = "error";
  gl_status_t code = GL_EBACKEND;
  switch (s) {
    case dnnl_out_of_memory: why = "out of memory"; code = GL_ENOMEM; break;
    case dnnl_invalid_arguments: why = "invalid arguments"; code = GL_EINVAL; break;
    case dnnl_unimplemented: why = "no implementation for these shapes or types"; code = GL_EUNSUPPORTED; break;
    case dnnl_runtime_error: why = "runtime error"; break;
    default: break;
  }
  return gl_err(code, "oneDNN: %s: %s", what, why);
}

void gl_cpu_apply_act(float *y, int64_t n, gl_act_t act, float alpha, float beta) {
  switch (act) {
    case GL_ACT_NONE: break;
    case GL_ACT_RELU:
      for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
      break;
    case GL_ACT_LEAKY_RELU:
      for (int64_t i = 0; i < n; i++) y[i] = y[i] >= 0 ? y[i] : alpha * y[i];
      break;
    case GL_ACT_CLIP:
      for (int64_t i = 0; i < n; i++) y[i] = y[i] < alpha ? alpha : (y[i] > beta ? beta : y[i]);
      break;
    case GL_ACT_SIGMOID:
      for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
      break;
    case GL_ACT_TANH:
      for (int64_t i = 0; i < n; i++) y[i] = tanhf(y[i]);
      break;
    case GL_ACT_HARD_SIGMOID:
      for (int64_t i = 0; i < n; i++) y[i] = fmaxf(0.f, fminf(1.f, alpha * y[i] + beta));
      break;
    case GL_ACT_HARD_SWISH:
      for (int64_t i = 0; i < n; i++) y[i] = y[i] * fmaxf(0.f, fminf(1.f, y[i] / 6.f + 0.5f));
      break;
    case GL_ACT_GELU_ERF:
      for (int64_t i = 0; i < n; i++) y[i] = 0.5f * y[i] * (1.f + erff(y[i] * 0.70710678f));
      break;
    case GL_ACT_GELU_TANH:
      for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * y[i] * (1.f + tanhf(0.7978845608f * (y[i] + 0.044715f * y[i] * y[i] * y[i])));
      break;
  }
}

gl_status_t gl_cpu_post_ops_act(dnnl_post_ops_t po, gl_act_t act, float alpha, float beta) {
  dnnl_alg_kind_t alg;
  float a = 0, b = 0;
  switch (act) {
    case GL_ACT_NONE: return GL_OK;
    case GL_ACT_RELU: alg = dnnl_eltwise_relu; break;
    case GL_ACT_LEAKY_RELU: alg = dnnl_eltwise_relu; a = alpha; break;
    case GL_ACT_CLIP: alg = dnnl_eltwise_clip; a = alpha; b = beta; break;
    case GL_ACT_SIGMOID: alg = dnnl_eltwise_logistic; break;
    case GL_ACT_TANH: alg = dnnl_eltwise_tanh; break;
    case GL_ACT_HARD_SIGMOID: /* oneDNN 2.6 has none: linear, then clip to [0, 1] */
      GL_DNNL(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, alpha, beta),
              "appending a linear post-op");
      alg = dnnl_eltwise_clip_v2;
      a = 0.f;
      b = 1.f;
      break;
    case GL_ACT_HARD_SWISH: alg = dnnl_eltwise_hardswish; break;
    case GL_ACT_GELU_ERF: alg = dnnl_eltwise_gelu_erf; break;
    case GL_ACT_GELU_TANH: alg = dnnl_eltwise_gelu_tanh; break;
    default: return gl_err(GL_EUNSUPPORTED, "unknown fused activation %d", (int)act);
  }
  GL_DNNL(dnnl_post_ops_append_eltwise(po, 1.0f, alg, a, b), "appending an activation post-op");
  return GL_OK;
}

gl_status_t gl_cpu_eval(void *ctx, const gl_graph_t *g, const gl_node_t *n, gl_tensor_t *outs) {
  (void)ctx;
  const gl_cpu_op_t *op = gl_cpu_op(n->op_type);
  if (!op) return gl_err(GL_EUNSUPPORTED, "%s: no CPU kernel", gl_node_label(n));
  dnnl_engine_t eng = gl_cpu_engine();
  if (!eng) return GL_EBACKEND;
  gl_cpu_exec_t x = {.engine = eng, .threads = omp_get_max_threads()};
  GL_DNNL(dnnl_stream_create(&x.stream, eng, dnnl_stream_default_flags), "creating a stream");
  gl_cpu_kernel_t k = {0};
  void *in[64] = {0}, *out[16] = {0};
  gl_status_t st = GL_OK;
  if (n->n_inputs > 64 || n->n_outputs > 16) {
    st = gl_err(GL_ELIMIT, "%s: too many inputs or outputs to fold", gl_node_label(n));
    goto done;
  }
  for (int i = 0; i < n->n_inputs; i++) in[i] = n->inputs[i] >= 0 ? g->values[n->inputs[i]].data->data : NULL;
  for (int i = 0; i < n->n_outputs && st == GL_OK; i++) {
    const gl_value_t *v = gl_out(g, n, i);
    if (!v) continue;
    st = gl_tensor_alloc(&outs[i], v->dtype, &v->shape);
    out[i] = outs[i].data;
  }
  if (st == GL_OK) st = op->prepare(&x, g, n, &k);
  if (st == GL_OK) st = k.run(&k, &x, in, out);
  if (st == GL_OK) st = gl_dnnl_check(dnnl_stream_wait(x.stream), "waiting for a stream");
  if (k.destroy) k.destroy(k.state);
  else gl_free(k.state);
done:
  dnnl_stream_destroy(x.stream);
  return st;
}
