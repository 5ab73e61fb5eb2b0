/* backend/cuda/cuda_plan.cu - the CUDA module's entry point, its backend table and CUDA plans:
 * constants uploaded once per (model, GPU) and shared between plans, every computed value in one
 * device arena laid out by the memory plan, view ops as aliases, inputs and outputs staged through
 * pinned host memory with async copies on the plan's stream, and the whole run captured once as a
 * CUDA graph and replayed. Nothing on the run path allocates or synchronises besides plan_wait.
 *
 * WHAT IS VERIFIED ONLY BY COMPILATION (no GPU on the build machines; bench/gpu/checklist.sh runs
 * it all for the first time on an H100):
 *  - every kernel launch, grid-stride loop and shared-memory reduction in cuda_ops_*.cu (the
 *    per-element bodies in cuda_kernels.h ARE checked on the CPU against the CPU backend by
 *    tests/backend/test_cuda_kernels.c; the row reductions of softmax/layernorm are not);
 *  - every cuDNN call: tensor/filter/convolution descriptors (rank < 4 padded with 1s, groups),
 *    cudnnFind and the math-type handling per precision, pooling with 1-D inputs, LRN (assumed to
 *    share ONNX's alpha/size scaling);
 *  - every cuBLAS call: the row-major -> column-major argument mapping of Gemm (transA/transB)
 *    and MatMul (batched, broadcast batch, B without batch folded into rows) was checked by hand
 *    against the cuBLAS documentation only; the compute types CUBLAS_COMPUTE_32F / _FAST_TF32
 *    and the 16F operands at fp16; the 32 MiB workspace set with cublasSetWorkspace after cublasSetStream;
 *  - CUDA graph capture (no allocation or sync inside it: cudnnFind, cudaMalloc and constant
 *    uploads all happen in plan_create; on a capture failure the plan runs eagerly and logs it);
 *  - the shared constant table (content-hashed, refcounted; its host side is plain C but
 *    untested without cudaMalloc) and the use of the conv algorithm cache (the file format
 *    itself is CPU-tested: tests/backend/test_cuda_algo_cache.c);
 *  - the plan's error flag: Gather raises it on an out-of-range index, every run clears it first
 *    and copies it back last (both inside the CUDA graph), and plan_wait turns it into an error;
 *  - gpulet's own pooling kernel for what cuDNN cannot express (ceil_mode, asymmetric pads,
 *    dilation; GoogLeNet needs it): its body is CPU-tested, its launch is not.
 *  - Resize's device tables (built by CPU-tested host code) and their upload;
 *  - precision fp16: every f32 value is stored as IEEE half on the device: constants converted
 *    once at upload (host code, gl_k_f2h), activations half between kernels, cuDNN in its
 *    pseudo-half configuration (half data, f32 compute, tensor-op math), cuBLAS with 16F operands
 *    and f32 compute; f32 inputs are converted to half after their copy in and f32 outputs back
 *    from half before their copy out (gl_cu_convert_launch), so callers still see f32. The
 *    conversion and elementwise bodies are CPU-tested (test_cuda_kernels.c); the cuDNN/cuBLAS
 *    half calls are not;
 *  - the fp16 arena planned at 2 bytes per f32 element (gl_memplan_build_exact; the host-side
 *    planner is CPU-tested, the device sizes it is given are not);
 *  - channels-last conv chains (cuda_layout.h; the pass's decisions, the conversion and NHWC
 *    pooling bodies and the KRSC weights are CPU-tested): cuDNN NHWC tensor/filter descriptors,
 *    the conversion steps' launches and their buffers, the Transpose(0,2,3,1) alias;
 *  - fused conv + bias + ReLU (+ residual) through cudnnConvolutionBiasActivationForward, with a
 *    fall-back to convolution + epilogue kernel when cuDNN refuses it at the first run;
 *  - the algorithm cache key's SM count: a green context's SMs read through the driver entry
 *    points cuStreamGetGreenCtx / cuGreenCtxGetDevResource (resolved at run time, no -lcuda).
 * What the CPU test suite does check: the module compiles with -Wall -Wextra; the host loader
 * fails cleanly without a driver; every live op of every zoo model is in the module's op table
 * with dtypes it accepts (tests/backend/test_cuda_coverage.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cuda.h> /* types only: driver calls go through cudaGetDriverEntryPointByVersion */

#include "backend/cuda/cuda_int.h"
#include "backend/cuda/cuda_layout.h"
#include "backend/cuda/cuda_module.h"
#include "backend/cuda/cuda_ops_int.h"

extern "C" {
#include "graph/memplan.h"
}
#include "backend/cuda_support.h"

static const gl_host_api_t *host;

/* Hands the module's last error message to the host (they are separate copies of core/). */
static gl_status_t report(gl_status_t st) {
  if (st < 0 && host) host->set_error(st, gl_errmsg()[0] ? gl_errmsg() : gl_status_str(st));
  return st;
}

gl_status_t gl_cu_check(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return GL_OK;
  return gl_err(e == cudaErrorMemoryAllocation ? GL_ENOMEM : GL_EDEVICE, "CUDA: %s: %s", what,
                cudaGetErrorString(e));
}

gl_status_t gl_cudnn_check(cudnnStatus_t e, const char *what) {
  if (e == CUDNN_STATUS_SUCCESS) return GL_OK;
  return gl_err(e == CUDNN_STATUS_NOT_SUPPORTED ? GL_EUNSUPPORTED : GL_EDEVICE, "cuDNN: %s: %s",
                what, cudnnGetErrorString(e));
}

gl_status_t gl_cublas_check(cublasStatus_t e, const char *what) {
  if (e == CUBLAS_STATUS_SUCCESS) return GL_OK;
  return gl_err(GL_EDEVICE, "cuBLAS: %s: status %d", what, (int)e);
}

#define BLAS_WS_BYTES ((size_t)32 << 20)
#define PAD 8 /* absent optional inputs/outputs read as NULL this far past the last one */

typedef struct {
  gl_cu_step_t k;
  int n_in, n_out;
  int *in, *out;
  int alias_src;
} step_t;

typedef struct {
  gl_plan_t hdr;
  gl_cu_ctx_t cx;
  bool own_stream;
  step_t *steps;
  int n_steps;
  void **vptr; /* device pointer per value, then per layout copy and NHWC weight (index >= n_values) */
  int n_values, n_virt;
  gl_cu_layout_t lay; /* which values are channels-last (cuda_layout.h) */
  void **relay_buf;   /* the layout copies' device buffers (outside the arena) */
  int n_relay;
  void *arena, *workspace;
  size_t ws_bytes;
  void **consts; /* device copies of constants (references into the shared table) */
  int n_consts;
  void *blas_ws; /* cuBLAS's own workspace (cublasSetWorkspace), so it never allocates */
  int *bad_host;  /* pinned copy of cx.bad_flag, brought back at the end of every run */
  int *in_vals, *out_vals;
  void **in_dev, **in_host, **out_host; /* per input: device buffer, pinned staging; per output */
  void **in_half, **out_f32; /* fp16: per f32 input its half copy; per f32 output its f32 staging */
  size_t *in_bytes, *out_bytes;
  void **args;
  int max_args;
  cudaGraphExec_t graph;
  bool graph_tried, use_graph;
  gl_tensor_t *pending_out; /* outputs of the run in flight (copied out in plan_wait) */
} cu_plan_t;

static void plan_destroy(gl_plan_t *p) {
  cu_plan_t *cp = (cu_plan_t *)p;
  if (cp->cx.stream) cudaStreamSynchronize(cp->cx.stream);
  for (int i = 0; i < cp->n_steps; i++) {
    step_t *s = &cp->steps[i];
    if (s->k.destroy) s->k.destroy(s->k.state);
    else gl_free(s->k.state);
    gl_free(s->in);
    gl_free(s->out);
  }
  if (cp->graph) cudaGraphExecDestroy(cp->graph);
  for (int i = 0; i < cp->n_consts; i++) gl_cu_const_put(cp->cx.device, cp->consts[i]);
  cudaFree(cp->blas_ws);
  cudaFree(cp->cx.bad_flag);
  cudaFreeHost(cp->bad_host);
  for (int i = 0; cp->in_dev && i < cp->hdr.n_inputs; i++) cudaFree(cp->in_dev[i]);
  for (int i = 0; cp->in_host && i < cp->hdr.n_inputs; i++) cudaFreeHost(cp->in_host[i]);
  for (int i = 0; cp->out_host && i < cp->hdr.n_outputs; i++) cudaFreeHost(cp->out_host[i]);
  for (int i = 0; cp->in_half && i < cp->hdr.n_inputs; i++) cudaFree(cp->in_half[i]);
  for (int i = 0; cp->out_f32 && i < cp->hdr.n_outputs; i++) cudaFree(cp->out_f32[i]);
  for (int i = 0; i < cp->n_relay; i++) cudaFree(cp->relay_buf[i]);
  gl_free(cp->relay_buf);
  gl_cu_layout_fini(&cp->lay);
  cudaFree(cp->arena);
  cudaFree(cp->workspace);
  if (cp->cx.dnn) cudnnDestroy(cp->cx.dnn);
  if (cp->cx.blas) cublasDestroy(cp->cx.blas);
  if (cp->own_stream && cp->cx.stream) cudaStreamDestroy(cp->cx.stream);
  gl_free(cp->steps), gl_free(cp->vptr), gl_free(cp->consts), gl_free(cp->in_vals);
  gl_free(cp->out_vals), gl_free(cp->in_dev), gl_free(cp->in_host), gl_free(cp->out_host);
  gl_free(cp->in_bytes), gl_free(cp->out_bytes), gl_free(cp->args);
  gl_free(cp->in_half), gl_free(cp->out_f32);
  gl_plan_header_fini(&cp->hdr);
  gl_free(cp);
}

/* ---- constants shared by every plan of a model on a device ----
 * Keyed by (device, size, a 128-bit hash of the contents) rather than by the host buffer
 * (gl_tensor_buf_t) alone: the passes fold BatchNorm into conv weights anew at every compile, so
 * the plans of one model at batch 1, 8 and 32 hold equal weights in different host buffers, and
 * a freed host buffer's address may come back holding other weights. The host buffer is kept
 * for the record (and a debugger). */
typedef struct const_ent {
  int device;
  int half; /* f32 contents stored as half */
  const void *key;
  size_t bytes;
  uint64_t hash, hash2;
  void *dev;
  int refs;
  struct const_ent *next;
} const_ent_t;
static const_ent_t *const_list;
static pthread_mutex_t const_mu = PTHREAD_MUTEX_INITIALIZER;

/* Two independent 64-bit hashes of the bytes, in one pass. */
static void content_hash(const void *p, size_t n, uint64_t *h1, uint64_t *h2) {
  uint64_t a = 0x9e3779b97f4a7c15ULL ^ n, b = 0xc2b2ae3d27d4eb4fULL + n;
  const unsigned char *c = (const unsigned char *)p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, c + i, 8);
    a = (a ^ w) * 0x100000001b3ULL;
    a ^= a >> 29;
    b = (b + w) * 0xff51afd7ed558ccdULL;
    b ^= b >> 32;
  }
  for (; i < n; i++) a = (a ^ c[i]) * 0x100000001b3ULL, b = (b + c[i]) * 0xff51afd7ed558ccdULL;
  *h1 = a;
  *h2 = b ^ (b >> 31);
}

gl_status_t gl_cu_const_get(int device, const gl_tensor_t *t, int half, void **dev) {
  size_t bytes = gl_tensor_nbytes(t);
  half = half && t->dtype == GL_DT_F32;
  const void *key = t->buf ? (const void *)t->buf : t->data;
  uint64_t h, h2;
  content_hash(t->data, bytes, &h, &h2);
  *dev = NULL;
  pthread_mutex_lock(&const_mu);
  for (const_ent_t *e = const_list; e; e = e->next)
    if (e->device == device && e->half == half && e->bytes == bytes && e->hash == h && e->hash2 == h2) {
      e->refs++;
      *dev = e->dev;
      pthread_mutex_unlock(&const_mu);
      return GL_OK;
    }
  const_ent_t *e = (const_ent_t *)gl_calloc(1, sizeof *e);
  gl_status_t st = e ? GL_OK : gl_err(GL_ENOMEM, "out of memory");
  /* fp16: the weights are converted once, here, on the host (the CPU-tested gl_k_f2h). */
  int64_t nel = half ? gl_shape_numel(&t->shape) : 0;
  size_t dbytes = half ? (size_t)nel * 2 : bytes;
  uint16_t *h16 = NULL;
  if (!st && half && nel) {
    h16 = (uint16_t *)gl_malloc((size_t)nel * 2);
    if (!h16) st = gl_err(GL_ENOMEM, "out of memory");
    for (int64_t i = 0; h16 && i < nel; i++) h16[i] = gl_k_f2h(((const float *)t->data)[i]);
  }
  if (!st) st = gl_cu_check(cudaMalloc(&e->dev, dbytes ? dbytes : 1), "allocating a constant");
  if (!st && dbytes)
    st = gl_cu_check(cudaMemcpy(e->dev, h16 ? (const void *)h16 : t->data, dbytes, cudaMemcpyHostToDevice),
                     "uploading a constant");
  gl_free(h16);
  if (st) {
    if (e && e->dev) cudaFree(e->dev);
    gl_free(e);
    pthread_mutex_unlock(&const_mu);
    return st;
  }
  e->device = device, e->half = half, e->key = key, e->bytes = bytes, e->hash = h, e->hash2 = h2, e->refs = 1;
  e->next = const_list;
  const_list = e;
  *dev = e->dev;
  pthread_mutex_unlock(&const_mu);
  return GL_OK;
}

void gl_cu_const_put(int device, void *dev) {
  pthread_mutex_lock(&const_mu);
  for (const_ent_t **pe = &const_list; *pe; pe = &(*pe)->next)
    if ((*pe)->device == device && (*pe)->dev == dev) {
      const_ent_t *e = *pe;
      if (--e->refs == 0) {
        *pe = e->next;
        cudaFree(e->dev);
        gl_free(e);
      }
      break;
    }
  pthread_mutex_unlock(&const_mu);
}

static gl_status_t upload_constants(cu_plan_t *cp, const gl_graph_t *g) {
  for (int v = 0; v < g->n_values; v++) {
    const gl_value_t *val = &g->values[v];
    if (!val->data || (val->n_uses == 0 && !val->is_output)) continue;
    void *d = NULL;
    GL_TRY(gl_cu_const_get(cp->cx.device, val->data, cp->cx.half, &d));
    cp->consts[cp->n_consts++] = d;
    cp->vptr[v] = d;
  }
  return GL_OK;
}

#define GL_CU_MAX_IN 64 /* inputs of a node the layout pass may convert */
static gl_status_t build_node(cu_plan_t *cp, const gl_graph_t *g, int i, int *alias, const int *conv_in, int wvirt);

/* A step that reads value `in` and writes virtual value `out` (no graph node). */
static step_t *add_step(cu_plan_t *cp, int in, int out) {
  step_t *s = &cp->steps[cp->n_steps];
  memset(s, 0, sizeof *s);
  s->alias_src = -1;
  s->n_in = s->n_out = 1;
  s->in = (int *)gl_malloc(sizeof(int) * 2);
  s->out = (int *)gl_malloc(sizeof(int) * 2);
  if (!s->in || !s->out) {
    gl_free(s->in), gl_free(s->out);
    s->in = s->out = NULL;
    return NULL;
  }
  s->in[0] = in, s->out[0] = out;
  cp->n_steps++;
  if (cp->max_args < 2) cp->max_args = 2;
  return s;
}

/* The copy of value v in the other layout (dir GL_CU_LAY_TO_*), made by a conversion step the
 * first time a consumer asks; *virt is its index in vptr. Its buffer lives outside the arena. */
static gl_status_t layout_copy(cu_plan_t *cp, const gl_graph_t *g, int v, int dir, int *cache, int *virt) {
  int *slot = &cache[(dir - 1) * g->n_values + v];
  if (*slot >= 0) {
    *virt = *slot;
    return GL_OK;
  }
  int vv = cp->n_values + cp->n_virt++;
  step_t *s = add_step(cp, v, vv);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  GL_TRY(gl_cu_prep_relayout(&cp->cx, &g->values[v], dir == GL_CU_LAY_TO_NHWC, &s->k));
  size_t bytes = (size_t)gl_shape_numel(&g->values[v].shape) * gl_cu_esz(&cp->cx, g->values[v].dtype);
  void *buf = NULL;
  GL_CU(cudaMalloc(&buf, bytes ? bytes : 1), "allocating a layout copy");
  cp->relay_buf[cp->n_relay++] = buf;
  cp->vptr[vv] = buf;
  *slot = *virt = vv;
  return GL_OK;
}

/* A channels-last Conv's weights: a KRSC copy in the shared constant table, as virtual value. */
static gl_status_t nhwc_weights(cu_plan_t *cp, const gl_value_t *w, int *virt) {
  gl_tensor_t t;
  GL_TRY(gl_cu_nhwc_weights(w->data, &t));
  void *d = NULL;
  gl_status_t st = gl_cu_const_get(cp->cx.device, &t, cp->cx.half, &d);
  gl_tensor_fini(&t);
  GL_TRY(st);
  cp->consts[cp->n_consts++] = d;
  *virt = cp->n_values + cp->n_virt++;
  cp->vptr[*virt] = d;
  return GL_OK;
}

static gl_status_t build(cu_plan_t *cp, const gl_graph_t *g, int *alias) {
  int *cache = (int *)gl_malloc(sizeof(int) * 2 * (size_t)(g->n_values ? g->n_values : 1));
  if (!cache) return gl_err(GL_ENOMEM, "out of memory");
  for (int v = 0; v < 2 * g->n_values; v++) cache[v] = -1;
  gl_status_t st = GL_OK;
  for (int i = 0; i < g->n_nodes && !st; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    /* Layout copies this node reads, converted right before it (their steps come first). */
    int conv_in[GL_CU_MAX_IN];
    for (int k = 0; k < n->n_inputs && k < GL_CU_MAX_IN && !st; k++) {
      int dir = gl_cu_layout_need(g, &cp->lay, i, k);
      conv_in[k] = -1;
      if (dir != GL_CU_LAY_ASIS) st = layout_copy(cp, g, n->inputs[k], dir, cache, &conv_in[k]);
    }
    if (!st && n->n_inputs > GL_CU_MAX_IN && cp->lay.node_nhwc[i])
      st = gl_err(GL_EUNSUPPORTED, "%s: more than %d inputs in a channels-last node", gl_node_label(n), GL_CU_MAX_IN);
    int wvirt = -1;
    if (!st && cp->lay.node_nhwc[i] && !strcmp(n->op_type, "Conv")) st = nhwc_weights(cp, gl_in(g, n, 1), &wvirt);
    if (!st) st = build_node(cp, g, i, alias, conv_in, wvirt);
  }
  gl_free(cache);
  return st;
}

static gl_status_t build_node(cu_plan_t *cp, const gl_graph_t *g, int i, int *alias, const int *conv_in, int wvirt) {
  const gl_node_t *n = &g->nodes[i];
  {
    step_t *s = &cp->steps[cp->n_steps];
    memset(s, 0, sizeof *s);
    s->alias_src = -1;
    s->n_in = n->n_inputs;
    s->n_out = n->n_outputs;
    s->in = (int *)gl_malloc(sizeof(int) * (size_t)(n->n_inputs + 1));
    s->out = (int *)gl_malloc(sizeof(int) * (size_t)(n->n_outputs + 1));
    if (!s->in || !s->out) {
      gl_free(s->in), gl_free(s->out);
      return gl_err(GL_ENOMEM, "out of memory");
    }
    memcpy(s->in, n->inputs, sizeof(int) * (size_t)n->n_inputs);
    memcpy(s->out, n->outputs, sizeof(int) * (size_t)n->n_outputs);
    bool converted = false;
    for (int k = 0; k < n->n_inputs && k < GL_CU_MAX_IN; k++)
      if (conv_in[k] >= 0) s->in[k] = conv_in[k], converted = converted || k == 0;
    if (wvirt >= 0) s->in[1] = wvirt;
    cp->n_steps++;
    if (s->n_in + s->n_out > cp->max_args) cp->max_args = s->n_in + s->n_out;
    if (gl_node_is_view(g, n) || gl_cu_lay_is_nhwc_view(g, &cp->lay, i)) {
      s->alias_src = s->in[0];
      const gl_value_t *src = &g->values[n->inputs[0]];
      /* A view of a layout copy aliases the copy at run time; the memory plan then gives the
       * view a slot of its own, unused (views of converted values are rare: a Reshape after an
       * NHWC conv chain). */
      if (src->kind == GL_VAL_INTERNAL && !src->data && !converted) alias[n->outputs[0]] = n->inputs[0];
      return GL_OK;
    }
    GL_TRY(gl_cuda_node_supported(g, n)); /* the limits the CPU tests check on the zoo */
    gl_cu_prepare_fn prep = gl_cu_find_op(n->op_type);
    if (!prep)
      return gl_err(GL_EUNSUPPORTED, "%s: the CUDA backend has no kernel for op '%s'",
                    gl_node_label(n), n->op_type);
    cp->cx.nhwc_node = cp->lay.node_nhwc[i];
    gl_status_t st = prep(&cp->cx, g, n, &s->k);
    cp->cx.nhwc_node = 0;
    if (st) return st;
  }
  return GL_OK;
}

/* The arena's layout: every value at its device size (gl_cu_esz: 2 bytes per f32 element at
 * fp16, so the fp16 arena is about half the f32 one). */
static gl_status_t plan_memory(const cu_plan_t *cp, const gl_graph_t *g, const int *alias, gl_memplan_t *mp) {
  int64_t *bytes = (int64_t *)gl_malloc(sizeof(int64_t) * (size_t)(g->n_values ? g->n_values : 1));
  if (!bytes) return gl_err(GL_ENOMEM, "out of memory");
  for (int v = 0; v < g->n_values; v++) {
    int64_t nel = gl_shape_numel(&g->values[v].shape);
    bytes[v] = nel < 0 ? -1 : nel * (int64_t)gl_cu_esz(&cp->cx, g->values[v].dtype);
  }
  gl_status_t st = gl_memplan_build_exact(g, alias, bytes, mp);
  gl_free(bytes);
  return st;
}

/* SMs the work on stream s may use: a green context's SM count, else the whole device's
 * (`all`). The driver calls are resolved at run time (the module does not link libcuda). */
static int stream_sms(cudaStream_t s, int all) {
  typedef CUresult (*get_green_fn)(CUstream, CUgreenCtx *);
  typedef CUresult (*get_res_fn)(CUgreenCtx, CUdevResource *, CUdevResourceType);
  if (!s) return all;
  void *f1 = NULL, *f2 = NULL;
  cudaDriverEntryPointQueryResult q1 = cudaDriverEntryPointSymbolNotFound, q2 = q1;
  if (cudaGetDriverEntryPointByVersion("cuStreamGetGreenCtx", &f1, CUDA_VERSION, cudaEnableDefault, &q1) != cudaSuccess ||
      cudaGetDriverEntryPointByVersion("cuGreenCtxGetDevResource", &f2, CUDA_VERSION, cudaEnableDefault, &q2) !=
          cudaSuccess ||
      q1 != cudaDriverEntryPointSuccess || q2 != cudaDriverEntryPointSuccess || !f1 || !f2) {
    cudaGetLastError();
    return all;
  }
  CUgreenCtx gc = NULL;
  if (((get_green_fn)f1)((CUstream)s, &gc) != CUDA_SUCCESS || !gc) return all;
  CUdevResource res;
  memset(&res, 0, sizeof res);
  if (((get_res_fn)f2)(gc, &res, CU_DEV_RESOURCE_TYPE_SM) != CUDA_SUCCESS || !res.sm.smCount) return all;
  return (int)res.sm.smCount;
}

/* nchw_only: the layout pass off whatever GPULET_CUDA_NHWC says (the retry in plan_create);
 * *nhwc_default is set when the pass ran on by default (fp16, option unset). */
static gl_status_t plan_create_impl(gl_backend_t *be, const gl_graph_t *g, const gl_placement_t *pl,
                                    gl_plan_t **out, bool nchw_only, bool *nhwc_default) {
  cu_plan_t *cp = (cu_plan_t *)gl_calloc(1, sizeof *cp);
  if (!cp) return gl_err(GL_ENOMEM, "out of memory");
  int *alias = NULL;
  gl_memplan_t mp;
  memset(&mp, 0, sizeof mp);
  int nin = g->n_inputs, nout = g->n_outputs;
  gl_status_t st = gl_plan_header_init(&cp->hdr, be, g);
  cp->cx.device = *(int *)be->ctx;
  if (!st && !pl->stream) st = gl_cu_check(cudaSetDevice(cp->cx.device), "selecting the device");
  cp->cx.precision = pl->precision;
  {
    const char *e = getenv("GPULET_CUDA_PRECISION");
    if (e && !strcmp(e, "fp32")) cp->cx.precision = GL_PREC_FP32;
    else if (e && !strcmp(e, "tf32")) cp->cx.precision = GL_PREC_TF32;
    else if (e && !strcmp(e, "fp16")) cp->cx.precision = GL_PREC_FP16;
    else if (e && e[0] && !st) st = gl_err(GL_EINVAL, "GPULET_CUDA_PRECISION=%s: expected fp32, tf32 or fp16", e);
    if (!st && (cp->cx.precision < GL_PREC_FP32 || cp->cx.precision > GL_PREC_FP16))
      st = gl_err(GL_EINVAL, "unknown CUDA precision %d", cp->cx.precision);
    cp->cx.half = cp->cx.precision == GL_PREC_FP16;
  }
  if (!st) {
    cudaDeviceProp prop;
    st = gl_cu_check(cudaGetDeviceProperties(&prop, cp->cx.device), "reading the device's properties");
    /* The algorithm cache key: GPU, cuDNN version and the SMs the plan's stream may use. cudnnFind
     * times each algorithm on the plan's stream, so on a gpu-let it measures that gpu-let's SMs,
     * and the fastest algorithm on 16 SMs need not be the fastest on 132 (libraries size their
     * grids to the SMs they get). Keying only by "a gpu-let's stream" (as before) let every
     * gpu-let size share the first size's choice; now each size has its own entries. */
    if (!st)
      snprintf(cp->cx.gpu, sizeof cp->cx.gpu, "%.200s/cudnn%zu/sm%d%s%.8s", prop.name, cudnnGetVersion(),
               stream_sms((cudaStream_t)pl->stream, prop.multiProcessorCount),
               getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") ? "/mps" : "",
               getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") ? getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") : "");
    for (char *c = cp->cx.gpu; *c; c++)
      if (*c == ' ' || *c == '|') *c = '_';
  }
  if (!st) {
    if (pl->stream) {
      cp->cx.stream = (cudaStream_t)pl->stream;
    } else {
      st = gl_cu_check(cudaStreamCreateWithFlags(&cp->cx.stream, cudaStreamNonBlocking), "creating a stream");
      cp->own_stream = true;
    }
  }
  if (!st) st = gl_cu_check(cudaMalloc((void **)&cp->cx.bad_flag, sizeof(int)), "allocating the error flag");
  if (!st) st = gl_cu_check(cudaHostAlloc((void **)&cp->bad_host, sizeof(int), cudaHostAllocDefault), "pinning the error flag");
  if (!st) *cp->bad_host = 0;
  if (!st) st = gl_cudnn_check(cudnnCreate(&cp->cx.dnn), "creating a handle");
  if (!st) st = gl_cudnn_check(cudnnSetStream(cp->cx.dnn, cp->cx.stream), "binding the stream");
  if (!st) st = gl_cublas_check(cublasCreate(&cp->cx.blas), "creating a handle");
  if (!st) st = gl_cublas_check(cublasSetStream(cp->cx.blas, cp->cx.stream), "binding the stream");
  if (st) goto fail;
  cp->n_values = g->n_values;
  {
    /* Beyond the graph's values: at most two layout copies per value and one KRSC weight per node. */
    size_t nvirt = 2 * (size_t)g->n_values + (size_t)g->n_nodes + 1;
    cp->vptr = (void **)gl_calloc((size_t)g->n_values + nvirt, sizeof(void *));
    cp->relay_buf = (void **)gl_calloc(2 * (size_t)g->n_values + 1, sizeof(void *));
    cp->consts = (void **)gl_calloc((size_t)g->n_values + (size_t)g->n_nodes + 1, sizeof(void *));
    cp->steps = (step_t *)gl_calloc((size_t)g->n_nodes + 2 * (size_t)g->n_values + 1, sizeof *cp->steps);
    const char *e = getenv("GPULET_CUDA_NHWC");
    int on = !nchw_only && gl_cu_layout_enabled(e, cp->cx.half);
    *nhwc_default = on && !(e && e[0]);
    st = gl_cu_layout_plan(g, on, &cp->lay);
    if (st) goto fail;
  }
  alias = (int *)gl_malloc(sizeof(int) * (size_t)(g->n_values ? g->n_values : 1));
  cp->in_vals = (int *)gl_calloc((size_t)nin + 1, sizeof(int));
  cp->out_vals = (int *)gl_calloc((size_t)nout + 1, sizeof(int));
  cp->in_dev = (void **)gl_calloc((size_t)nin + 1, sizeof(void *));
  cp->in_host = (void **)gl_calloc((size_t)nin + 1, sizeof(void *));
  cp->out_host = (void **)gl_calloc((size_t)nout + 1, sizeof(void *));
  cp->in_bytes = (size_t *)gl_calloc((size_t)nin + 1, sizeof(size_t));
  cp->out_bytes = (size_t *)gl_calloc((size_t)nout + 1, sizeof(size_t));
  cp->in_half = (void **)gl_calloc((size_t)nin + 1, sizeof(void *));
  cp->out_f32 = (void **)gl_calloc((size_t)nout + 1, sizeof(void *));
  if (!cp->vptr || !alias || !cp->steps || !cp->relay_buf || !cp->consts || !cp->in_vals || !cp->out_vals || !cp->in_dev ||
      !cp->in_host || !cp->out_host || !cp->in_bytes || !cp->out_bytes || !cp->in_half || !cp->out_f32) {
    st = gl_err(GL_ENOMEM, "out of memory");
    goto fail;
  }
  for (int v = 0; v < g->n_values; v++) alias[v] = -1;
  st = build(cp, g, alias);
  if (!st) st = plan_memory(cp, g, alias, &mp);
  if (st) goto fail;
  st = gl_cu_check(cudaMalloc(&cp->arena, mp.arena_bytes ? mp.arena_bytes : 64), "allocating the arena");
  if (!st && cp->cx.workspace_need) {
    cp->ws_bytes = cp->cx.workspace_need;
    st = gl_cu_check(cudaMalloc(&cp->workspace, cp->ws_bytes), "allocating the workspace");
  }
  /* cuBLAS gets its own preallocated workspace (set after cublasSetStream, which resets it), so
   * it never allocates during graph capture; 32 MiB is NVIDIA's recommendation for Hopper. */
  if (!st) st = gl_cu_check(cudaMalloc(&cp->blas_ws, BLAS_WS_BYTES), "allocating cuBLAS's workspace");
  if (!st) st = gl_cublas_check(cublasSetWorkspace(cp->cx.blas, cp->blas_ws, BLAS_WS_BYTES), "cuBLAS workspace");
  if (!st) st = upload_constants(cp, g);
  if (st) goto fail;
  for (int v = 0; v < g->n_values; v++)
    if (!g->values[v].data && mp.offset[v] >= 0) cp->vptr[v] = (char *)cp->arena + mp.offset[v];
  for (int i = 0; i < nin && !st; i++) {
    const gl_value_t *v = &g->values[g->inputs[i]];
    cp->in_vals[i] = g->inputs[i];
    cp->in_bytes[i] = (size_t)gl_shape_numel(&v->shape) * gl_dtype_size(v->dtype);
    st = gl_cu_check(cudaMalloc(&cp->in_dev[i], cp->in_bytes[i] ? cp->in_bytes[i] : 1), "allocating an input");
    if (!st) st = gl_cu_check(cudaHostAlloc(&cp->in_host[i], cp->in_bytes[i] ? cp->in_bytes[i] : 1, cudaHostAllocDefault), "pinning an input");
    if (!st) cp->vptr[g->inputs[i]] = cp->in_dev[i];
    if (!st && cp->cx.half && v->dtype == GL_DT_F32) { /* the graph reads its half copy */
      st = gl_cu_check(cudaMalloc(&cp->in_half[i], cp->in_bytes[i] / 2 ? cp->in_bytes[i] / 2 : 1), "allocating an input");
      if (!st) cp->vptr[g->inputs[i]] = cp->in_half[i];
    }
  }
  for (int i = 0; i < nout && !st; i++) {
    const gl_value_t *v = &g->values[g->outputs[i]];
    cp->out_vals[i] = g->outputs[i];
    cp->out_bytes[i] = (size_t)gl_shape_numel(&v->shape) * gl_dtype_size(v->dtype);
    st = gl_cu_check(cudaHostAlloc(&cp->out_host[i], cp->out_bytes[i] ? cp->out_bytes[i] : 1, cudaHostAllocDefault), "pinning an output");
    if (!st && cp->cx.half && v->dtype == GL_DT_F32)
      st = gl_cu_check(cudaMalloc(&cp->out_f32[i], cp->out_bytes[i] ? cp->out_bytes[i] : 1), "allocating an output");
  }
  cp->args = (void **)gl_calloc((size_t)cp->max_args + 2 * PAD + 1, sizeof(void *));
  if (!st && !cp->args) st = gl_err(GL_ENOMEM, "out of memory");
  if (st) goto fail;
  {
    const char *e = getenv("GPULET_CUDA_GRAPHS");
    cp->use_graph = !(e && !strcmp(e, "0"));
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

/* Enqueues one whole run (copies in, every step, copies out) on the plan's stream. */
static gl_status_t enqueue(cu_plan_t *cp) {
  cudaStream_t s = cp->cx.stream;
  GL_CU(cudaMemsetAsync(cp->cx.bad_flag, 0, sizeof(int), s), "clearing the error flag");
  for (int i = 0; i < cp->hdr.n_inputs; i++)
    if (cp->in_bytes[i])
      GL_CU(cudaMemcpyAsync(cp->in_dev[i], cp->in_host[i], cp->in_bytes[i], cudaMemcpyHostToDevice, s), "copying an input");
  for (int i = 0; i < cp->hdr.n_inputs; i++)
    if (cp->in_half[i]) GL_TRY(gl_cu_convert_launch(s, 0, 1, cp->in_dev[i], cp->in_half[i], (int64_t)(cp->in_bytes[i] / 4)));
  for (int i = 0; i < cp->n_steps; i++) {
    step_t *st = &cp->steps[i];
    if (st->alias_src >= 0) {
      cp->vptr[st->out[0]] = cp->vptr[st->alias_src];
      continue;
    }
    void **in = cp->args, **out = cp->args + st->n_in + PAD;
    for (int k = 0; k < st->n_in + PAD; k++) in[k] = k < st->n_in && st->in[k] >= 0 ? cp->vptr[st->in[k]] : NULL;
    for (int k = 0; k < st->n_out + PAD; k++) out[k] = k < st->n_out && st->out[k] >= 0 ? cp->vptr[st->out[k]] : NULL;
    GL_TRY(st->k.run(&st->k, &cp->cx, cp->workspace, cp->ws_bytes, in, out));
  }
  for (int i = 0; i < cp->hdr.n_outputs; i++) {
    if (!cp->out_bytes[i]) continue;
    const void *src = cp->vptr[cp->out_vals[i]];
    if (cp->out_f32[i]) { /* fp16: back to f32 on the device, then out */
      GL_TRY(gl_cu_convert_launch(s, 1, 0, src, cp->out_f32[i], (int64_t)(cp->out_bytes[i] / 4)));
      src = cp->out_f32[i];
    }
    GL_CU(cudaMemcpyAsync(cp->out_host[i], src, cp->out_bytes[i], cudaMemcpyDeviceToHost, s), "copying an output");
  }
  GL_CU(cudaMemcpyAsync(cp->bad_host, cp->cx.bad_flag, sizeof(int), cudaMemcpyDeviceToHost, s), "reading the error flag");
  return GL_OK;
}

/* Captures one run as a CUDA graph; on any failure the plan runs eagerly from then on. */
static void try_capture(cu_plan_t *cp) {
  cp->graph_tried = true;
  cudaGraph_t graph = NULL;
  if (cudaStreamBeginCapture(cp->cx.stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    cp->use_graph = false;
    return;
  }
  gl_status_t st = enqueue(cp);
  cudaError_t e = cudaStreamEndCapture(cp->cx.stream, &graph);
  if (st || e != cudaSuccess || cudaGraphInstantiate(&cp->graph, graph, 0) != cudaSuccess) {
    cudaGetLastError();
    cp->graph = NULL;
    cp->use_graph = false;
    if (host) host->log(1, "CUDA graph capture failed; this plan runs its kernels one by one");
  }
  if (graph) cudaGraphDestroy(graph);
}

static gl_status_t plan_run_impl(gl_plan_t *p, const gl_tensor_t *inputs, gl_tensor_t *outputs) {
  cu_plan_t *cp = (cu_plan_t *)p;
  if (cp->own_stream) GL_CU(cudaSetDevice(cp->cx.device), "selecting the device");
  for (int i = 0; i < p->n_inputs; i++)
    if (cp->in_bytes[i]) memcpy(cp->in_host[i], inputs[i].data, cp->in_bytes[i]);
  bool ran = false;
  if (cp->use_graph && !cp->graph_tried) {
    /* One eager run before the capture: the libraries load their kernels, and a step that decides
     * at its first run (the fused conv falling back) decides, outside the capture. */
    GL_TRY(enqueue(cp));
    ran = true;
    try_capture(cp);
  }
  if (cp->graph) GL_CU(cudaGraphLaunch(cp->graph, cp->cx.stream), "launching the plan's graph");
  else if (!ran) GL_TRY(enqueue(cp));
  cp->pending_out = outputs;
  return GL_OK;
}

static gl_status_t plan_wait_impl(gl_plan_t *p) {
  cu_plan_t *cp = (cu_plan_t *)p;
  GL_CU(cudaStreamSynchronize(cp->cx.stream), "running the plan");
  if (*cp->bad_host) {
    *cp->bad_host = 0;
    cp->pending_out = NULL;
    return gl_err(GL_EINVAL, "an index out of range in Gather (the CUDA plan's outputs are not valid)");
  }
  for (int i = 0; cp->pending_out && i < p->n_outputs; i++)
    if (cp->out_bytes[i]) memcpy(cp->pending_out[i].data, cp->out_host[i], cp->out_bytes[i]);
  cp->pending_out = NULL;
  return GL_OK;
}

static gl_status_t plan_create(gl_backend_t *be, const gl_graph_t *g, const gl_placement_t *pl, gl_plan_t **out) {
  bool dflt = false;
  gl_status_t st = plan_create_impl(be, g, pl, out, false, &dflt);
  /* Channels-last is on by default at fp16: if cuDNN refuses an NHWC descriptor or finds no
   * algorithm for one, plan the model NCHW instead, and say so (GPULET_CUDA_NHWC=1 fails instead,
   * so tests and A/B runs see the refusal). */
  if (dflt && (st == GL_EUNSUPPORTED || st == GL_EDEVICE)) {
    char msg[600];
    snprintf(msg, sizeof msg, "CUDA: the channels-last plan failed (%s); planning NCHW", gl_errmsg());
    if (host) host->log(1, msg);
    st = plan_create_impl(be, g, pl, out, true, &dflt);
  }
  return report(st);
}
static gl_status_t plan_run(gl_plan_t *p, const gl_tensor_t *in, gl_tensor_t *out) {
  return report(plan_run_impl(p, in, out));
}
static gl_status_t plan_wait(gl_plan_t *p) { return report(plan_wait_impl(p)); }

static void backend_destroy(gl_backend_t *be) {
  gl_free(be->ctx);
  gl_free(be);
}

static const struct gl_backend_i cuda_iface = {
    GL_BACKEND_ABI, sizeof(struct gl_backend_i), "cuda", plan_create, plan_run, plan_wait,
    plan_destroy, backend_destroy,
};

extern "C" __attribute__((visibility("default"))) int gl_cuda_module_init(const gl_host_api_t *h,
                                                                          int device,
                                                                          gl_backend_t **out) {
  *out = NULL;
  if (!h || h->abi_version != GL_CUDA_MODULE_ABI) return GL_EDEVICE;
  host = h;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess)
    return report(gl_err(GL_EDEVICE, "no usable CUDA device: %s", cudaGetErrorString(e)));
  if (device < 0 || device >= count)
    return report(gl_err(GL_EDEVICE, "CUDA device %d does not exist (%d found)", device, count));
  gl_backend_t *be = (gl_backend_t *)gl_calloc(1, sizeof *be);
  int *dev = (int *)gl_malloc(sizeof(int));
  if (!be || !dev) {
    gl_free(be), gl_free(dev);
    return report(gl_err(GL_ENOMEM, "out of memory"));
  }
  *dev = device;
  be->i = &cuda_iface;
  be->ctx = dev;
  *out = be;
  return GL_OK;
}
