/* zoo/zoo_build.c - the zoo's graph builder: nodes, seeded constants, shapes, and the counter. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "zoo/zoo_int.h"

/* ---- plumbing ---- */
static int fail(zb_t *b, gl_status_t st) {
  if (b->st == GL_OK) b->st = st;
  return -1;
}

static int oom(zb_t *b) { return fail(b, gl_err(GL_ENOMEM, "zoo: out of memory")); }

/* ---- seeded streams ---- */
static uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/* U(lo, hi) from xorshift64; 24 random bits per float, one shift-xor round per element. */
static void fill_uniform(float *p, int64_t n, uint64_t seed, float lo, float hi) {
  uint64_t s = splitmix(seed) | 1;
  float scale = (hi - lo) * 0x1p-24f;
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    p[i] = lo + (float)(s >> 40) * scale;
  }
}


const gl_shape_t *zb_shape(zb_t *b, int v) {
  static const gl_shape_t none = {0, {0}};
  return v >= 0 ? &b->g->values[v].shape : &none;
}

void zb_name_next(zb_t *b, const char *name) { b->next_name = name; }

double zb_msq(zb_t *b, int v) { return v >= 0 && (size_t)v < b->cap_msq && b->msq[v] > 0 ? b->msq[v] : 1.0; }
double zb_mean(zb_t *b, int v) { return v >= 0 && (size_t)v < b->cap_mean ? b->mean[v] : 0.0; }

static int grow_zeroed(double **a, size_t *cap, size_t need) {
  size_t old = *cap;
  if (need <= old) return 0;
  if (gl_grow((void **)a, cap, need, sizeof(double))) return -1;
  memset(*a + old, 0, (*cap - old) * sizeof(double));
  return 0;
}

void zb_set_stats(zb_t *b, int v, double msq, double mean) {
  if (v < 0 || b->st) return;
  if (grow_zeroed(&b->msq, &b->cap_msq, (size_t)v + 1) || grow_zeroed(&b->mean, &b->cap_mean, (size_t)v + 1)) {
    oom(b);
    return;
  }
  b->msq[v] = msq;
  b->mean[v] = mean;
}

/* A new value with dtype and shape; named after the node that makes it. */
static int new_value(zb_t *b, const char *name, gl_dtype_t dt, const gl_shape_t *s_in) {
  if (b->st) return -1;
  const gl_shape_t s_copy = *s_in, *s = &s_copy; /* s_in may point into the values array */
  int v = gl_graph_add_value(b->g, name);
  if (v < 0) return oom(b);
  b->g->values[v].dtype = dt;
  b->g->values[v].shape = *s;
  if (s->rank > 0 && s->d[0] < 0 && !(b->g->values[v].dim_param[0] = gl_strdup("batch"))) return oom(b);
  return v;
}

/* Adds node op with inputs ins and one output of dtype dt and shape s; returns the output. */
static int node1(zb_t *b, const char *op, const int *ins, int n_in, gl_dtype_t dt, const gl_shape_t *s_in,
                 int *node_out) {
  if (b->st) return -1;
  const gl_shape_t s_copy = *s_in, *s = &s_copy; /* s_in may point into the values array */
  for (int i = 0; i < n_in; i++)
    if (ins[i] < 0) return fail(b, gl_err(GL_EINVAL, "zoo: %s has a missing input", op));
  char name[64];
  snprintf(name, sizeof name, "%s_%d", op, b->n_ops++);
  int v = new_value(b, b->next_name ? b->next_name : name, dt, s);
  b->next_name = NULL;
  if (v < 0) return -1;
  int ni = gl_graph_add_node(b->g, op, name, ins, n_in, &v, 1);
  if (ni < 0) return oom(b);
  if (node_out) *node_out = ni;
  zb_set_stats(b, v, zb_msq(b, ins[0]), zb_mean(b, ins[0]));
  return b->st ? -1 : v;
}

static void attr_i(zb_t *b, int ni, const char *name, int64_t x) {
  if (b->st) return;
  gl_attr_t *a = gl_node_add_attr(b->g, ni, name, GL_ATTR_INT);
  if (!a) { oom(b); return; }
  a->i = x;
}

static void attr_f(zb_t *b, int ni, const char *name, float x) {
  if (b->st) return;
  gl_attr_t *a = gl_node_add_attr(b->g, ni, name, GL_ATTR_FLOAT);
  if (!a) { oom(b); return; }
  a->f = x;
}

static void attr_ints(zb_t *b, int ni, const char *name, int n, const int64_t *x) {
  if (b->st) return;
  gl_attr_t *a = gl_node_add_attr(b->g, ni, name, GL_ATTR_INTS);
  if (!a || !(a->ints = gl_malloc(sizeof(int64_t) * (size_t)n))) { oom(b); return; }
  memcpy(a->ints, x, sizeof(int64_t) * (size_t)n);
  a->n = n;
}

static gl_shape_t mkshape(int rank, const int64_t *dims) {
  gl_shape_t s = {rank, {0}};
  for (int i = 0; i < rank; i++) s.d[i] = dims[i];
  return s;
}

/* ---- graph inputs and outputs ---- */
int zb_input(zb_t *b, const char *name, gl_dtype_t dt, int rank, const int64_t *dims) {
  gl_shape_t s = mkshape(rank, dims);
  int v = new_value(b, name, dt, &s);
  if (v < 0) return -1;
  b->g->values[v].kind = GL_VAL_INPUT;
  zb_set_msq(b, v, 1.0 / 3.0); /* seeded inputs are U(-1, 1) */
  gl_status_t st = gl_graph_add_input(b->g, v);
  return st ? fail(b, st) : v;
}

void zb_output(zb_t *b, int v) {
  if (b->st || v < 0) return;
  gl_status_t st = gl_graph_add_output(b->g, v);
  if (st) fail(b, st);
}

/* ---- constants ---- */
static int add_const(zb_t *b, const char *name, gl_dtype_t dt, int rank, const int64_t *dims,
                     gl_tensor_t *out_view) {
  if (b->st) return -1;
  gl_shape_t s = mkshape(rank, dims);
  /* Every byte is written by the caller, so skip gl_tensor_alloc's zeroing (VGG-16: 553 MB). */
  size_t bytes = (size_t)gl_shape_numel(&s) * gl_dtype_size(dt);
  gl_tensor_t t = {.dtype = dt, .shape = s, .owns = true, .data = gl_aligned_alloc(bytes ? bytes : 1)};
  gl_status_t st;
  if (!t.data) return oom(b);
  int v = gl_graph_add_value(b->g, name);
  if (v < 0) {
    gl_tensor_fini(&t);
    return oom(b);
  }
  void *data = t.data;
  st = gl_value_set_const(b->g, v, &t);
  if (st) {
    gl_tensor_fini(&t);
    return fail(b, st);
  }
  out_view->data = data;
  out_view->shape = s;
  return v;
}

int zb_param(zb_t *b, const char *name, int rank, const int64_t *dims, float lo, float hi) {
  gl_tensor_t view;
  int v = add_const(b, name, GL_DT_F32, rank, dims, &view);
  if (v < 0) return -1;
  fill_uniform(view.data, gl_shape_numel(&view.shape), b->seed * 0x2545F4914F6CDD1DULL + ++b->n_tensors,
               lo, hi);
  return v;
}

int zb_const_f(zb_t *b, const char *name, int rank, const int64_t *dims, const float *data) {
  gl_tensor_t view;
  int v = add_const(b, name, GL_DT_F32, rank, dims, &view);
  if (v >= 0) memcpy(view.data, data, sizeof(float) * (size_t)gl_shape_numel(&view.shape));
  return v;
}

int zb_const_i64(zb_t *b, const char *name, int rank, const int64_t *dims, const int64_t *data) {
  gl_tensor_t view;
  int v = add_const(b, name, GL_DT_I64, rank, dims, &view);
  if (v >= 0) memcpy(view.data, data, sizeof(int64_t) * (size_t)gl_shape_numel(&view.shape));
  return v;
}

int zb_scalar(zb_t *b, float x) {
  char name[48];
  snprintf(name, sizeof name, "const_%d", b->n_ops++);
  return zb_const_f(b, name, 0, NULL, &x);
}

/* Name for a node's constant: "<Op>_<n>.<what>" of the node about to be added. */
static const char *pname(zb_t *b, char *buf, size_t cap, const char *op, const char *what) {
  snprintf(buf, cap, "%s_%d.%s", op, b->n_ops, what);
  return buf;
}

/* ---- layers ---- */
static int64_t conv_out(int64_t x, int k, int s, int64_t pb, int64_t pe) {
  return (x + pb + pe - k) / s + 1;
}

int zb_conv(zb_t *b, int x, int64_t cout, int k, int stride, int pad, int64_t group, int bias) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  int64_t cin = xs->d[1];
  if (xs->rank != 4 || cin % group || cout % group)
    return fail(b, gl_err(GL_ESHAPE, "zoo: bad Conv (cin %lld, cout %lld, group %lld)", (long long)cin,
                          (long long)cout, (long long)group));
  char nb[80];
  int64_t fan_in = cin / group * k * k;
  float he = sqrtf(6.0f / (float)fan_in); /* He uniform: var 2 / fan_in */
  int64_t wd[4] = {cout, cin / group, k, k};
  int ins[3];
  ins[0] = x;
  ins[1] = zb_param(b, pname(b, nb, sizeof nb, "Conv", "weight"), 4, wd, -he, he);
  if (bias) {
    float bb = 1.0f / sqrtf((float)fan_in);
    ins[2] = zb_param(b, pname(b, nb, sizeof nb, "Conv", "bias"), 1, &cout, -bb, bb);
  }
  gl_shape_t os = {4, {xs->d[0], cout, conv_out(xs->d[2], k, stride, pad, pad), conv_out(xs->d[3], k, stride, pad, pad)}};
  int ni = -1;
  int y = node1(b, "Conv", ins, bias ? 3 : 2, GL_DT_F32, &os, &ni);
  if (y < 0) return -1;
  zb_set_msq(b, y, 2.0 * zb_msq(b, x) + (bias ? 1.0 / (3.0 * (double)fan_in) : 0.0));
  int64_t ks[2] = {k, k}, ss[2] = {stride, stride}, ps[4] = {pad, pad, pad, pad}, ds[2] = {1, 1};
  attr_ints(b, ni, "kernel_shape", 2, ks);
  attr_ints(b, ni, "strides", 2, ss);
  attr_ints(b, ni, "pads", 4, ps);
  attr_ints(b, ni, "dilations", 2, ds);
  attr_i(b, ni, "group", group);
  return b->st ? -1 : y;
}

/* Inference BatchNormalization with statistics that are not the identity, so fusion matters:
 * gamma ~ U(0.5, 1.5), beta ~ U(-0.1, 0.1), and running statistics near the input's expected
 * ones (mean ~ U(-0.1, 0.1) * rms, var ~ U(0.5, 1.5) * mean square), so each BN brings the
 * activations back to a mean square near 1 as a trained net's do, however deep the net. */
int zb_bn(zb_t *b, int x, float eps) {
  if (b->st) return -1;
  int64_t c = zb_shape(b, x)->d[1];
  double m = zb_msq(b, x);
  float rms = (float)sqrt(m);
  char nb[80];
  int ins[5] = {x};
  ins[1] = zb_param(b, pname(b, nb, sizeof nb, "BatchNormalization", "scale"), 1, &c, 0.5f, 1.5f);
  ins[2] = zb_param(b, pname(b, nb, sizeof nb, "BatchNormalization", "bias"), 1, &c, -0.1f, 0.1f);
  ins[3] = zb_param(b, pname(b, nb, sizeof nb, "BatchNormalization", "mean"), 1, &c, -0.1f * rms, 0.1f * rms);
  ins[4] = zb_param(b, pname(b, nb, sizeof nb, "BatchNormalization", "var"), 1, &c, 0.5f * (float)m, 1.5f * (float)m);
  int ni = -1;
  int y = node1(b, "BatchNormalization", ins, 5, GL_DT_F32, zb_shape(b, x), &ni);
  attr_f(b, ni, "epsilon", eps);
  zb_set_msq(b, y, 1.2); /* E[gamma^2] E[1 / U(0.5, 1.5)] */
  return b->st ? -1 : y;
}

int zb_act(zb_t *b, int x, int act) {
  int y = x;
  if (act == ZB_RELU) y = zb_unary(b, "Relu", x);
  if (act == ZB_RELU6) {
    int ins[3] = {x, zb_scalar(b, 0.0f), zb_scalar(b, 6.0f)};
    y = node1(b, "Clip", ins, 3, GL_DT_F32, zb_shape(b, x), NULL);
  }
  if (y != x) {
    /* ReLU of N(mu, s^2): E[y] = mu P + s p, E[y^2] = (mu^2 + s^2) P + mu s p, P and p the normal
     * CDF and density at mu / s (ReLU6's cap is ignored). */
    double mu = zb_mean(b, x), var = zb_msq(b, x) - mu * mu, sd = sqrt(var > 1e-12 ? var : 1e-12);
    double z = mu / sd, P = 0.5 * erfc(-z / sqrt(2.0)), pd = exp(-z * z / 2) / sqrt(2 * M_PI);
    zb_set_stats(b, y, (mu * mu + var) * P + mu * sd * pd, mu * P + sd * pd);
  }
  return b->st ? -1 : y;
}

int zb_conv_bn(zb_t *b, int x, int64_t cout, int k, int stride, int pad, int64_t group, int act) {
  return zb_act(b, zb_bn(b, zb_conv(b, x, cout, k, stride, pad, group, 0), 1e-5f), act);
}

static int pool(zb_t *b, const char *op, int x, int k, int stride, const int64_t pads[4]) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  gl_shape_t os = {4, {xs->d[0], xs->d[1], conv_out(xs->d[2], k, stride, pads[0], pads[2]),
                       conv_out(xs->d[3], k, stride, pads[1], pads[3])}};
  int ni = -1;
  int y = node1(b, op, &x, 1, GL_DT_F32, &os, &ni);
  int64_t ks[2] = {k, k}, ss[2] = {stride, stride};
  attr_ints(b, ni, "kernel_shape", 2, ks);
  attr_ints(b, ni, "strides", 2, ss);
  attr_ints(b, ni, "pads", 4, pads);
  return b->st ? -1 : y;
}

int zb_maxpool(zb_t *b, int x, int k, int stride, const int64_t pads[4]) {
  return pool(b, "MaxPool", x, k, stride, pads);
}

int zb_avgpool(zb_t *b, int x, int k, int stride, int pad) {
  int64_t p[4] = {pad, pad, pad, pad};
  return pool(b, "AveragePool", x, k, stride, p);
}

int zb_gap(zb_t *b, int x) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  gl_shape_t os = {4, {xs->d[0], xs->d[1], 1, 1}};
  return node1(b, "GlobalAveragePool", &x, 1, GL_DT_F32, &os, NULL);
}

int zb_flatten(zb_t *b, int x) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  int64_t rest = 1;
  for (int i = 1; i < xs->rank; i++) rest *= xs->d[i];
  gl_shape_t os = {2, {xs->d[0], rest}};
  int ni = -1;
  int y = node1(b, "Flatten", &x, 1, GL_DT_F32, &os, &ni);
  attr_i(b, ni, "axis", 1);
  return b->st ? -1 : y;
}

/* y = x W^T + c with W [nout, in]; init_bound <= 0 means He uniform. */
int zb_gemm(zb_t *b, int x, int64_t nout, float init_bound) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  int64_t in = xs->d[1];
  float bw = init_bound > 0 ? init_bound : sqrtf(6.0f / (float)in);
  float bb = 1.0f / sqrtf((float)in);
  char nb[80];
  int64_t wd[2] = {nout, in};
  int ins[3] = {x};
  ins[1] = zb_param(b, pname(b, nb, sizeof nb, "Gemm", "weight"), 2, wd, -bw, bw);
  ins[2] = zb_param(b, pname(b, nb, sizeof nb, "Gemm", "bias"), 1, &nout, -bb, bb);
  gl_shape_t os = {2, {xs->d[0], nout}};
  int ni = -1;
  int y = node1(b, "Gemm", ins, 3, GL_DT_F32, &os, &ni);
  zb_set_msq(b, y, (double)in * bw * bw / 3 * zb_msq(b, x) + bb * bb / 3);
  attr_i(b, ni, "transB", 1);
  return b->st ? -1 : y;
}

int zb_concat(zb_t *b, int n, const int *xs, int axis) {
  if (b->st) return -1;
  gl_shape_t os = *zb_shape(b, xs[0]);
  for (int i = 1; i < n; i++) os.d[axis] += zb_shape(b, xs[i])->d[axis];
  int ni = -1;
  int y = node1(b, "Concat", xs, n, GL_DT_F32, &os, &ni);
  double m = 0, mu = 0;
  for (int i = 0; i < n; i++) {
    m += zb_msq(b, xs[i]) * (double)zb_shape(b, xs[i])->d[axis];
    mu += zb_mean(b, xs[i]) * (double)zb_shape(b, xs[i])->d[axis];
  }
  zb_set_stats(b, y, m / (double)os.d[axis], mu / (double)os.d[axis]);
  attr_i(b, ni, "axis", axis);
  return b->st ? -1 : y;
}

static gl_shape_t bcast(const gl_shape_t *a, const gl_shape_t *c) {
  gl_shape_t o = {a->rank > c->rank ? a->rank : c->rank, {0}};
  for (int i = 0; i < o.rank; i++) {
    int ia = i - (o.rank - a->rank), ic = i - (o.rank - c->rank);
    int64_t da = ia >= 0 ? a->d[ia] : 1, dc = ic >= 0 ? c->d[ic] : 1;
    o.d[i] = da == 1 ? dc : dc == 1 ? da : da < 0 ? dc : da;
  }
  return o;
}

int zb_binary(zb_t *b, const char *op, int x, int y) {
  if (b->st) return -1;
  gl_shape_t os = bcast(zb_shape(b, x), zb_shape(b, y));
  int ins[2] = {x, y};
  int z = node1(b, op, ins, 2, b->g->values[x].dtype, &os, NULL);
  if (!strcmp(op, "Add")) { /* independent: variances add, and so do means */
    double mx = zb_mean(b, x), my = zb_mean(b, y);
    double var = zb_msq(b, x) - mx * mx + zb_msq(b, y) - my * my;
    zb_set_stats(b, z, var + (mx + my) * (mx + my), mx + my);
  }
  return b->st ? -1 : z;
}

int zb_unary(zb_t *b, const char *op, int x) {
  if (b->st) return -1;
  return node1(b, op, &x, 1, b->g->values[x].dtype, zb_shape(b, x), NULL);
}

int zb_matmul(zb_t *b, int x, int y) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), ys_copy = *zb_shape(b, y), *xs = &xs_copy, *ys = &ys_copy;
  gl_shape_t xb = *xs, yb = *ys;
  xb.rank -= 2;
  yb.rank -= 2;
  gl_shape_t os = bcast(&xb, &yb);
  os.d[os.rank++] = xs->d[xs->rank - 2];
  os.d[os.rank++] = ys->d[ys->rank - 1];
  int ins[2] = {x, y};
  return node1(b, "MatMul", ins, 2, GL_DT_F32, &os, NULL);
}

/* Reshape to dims (0 copies the input's dim, -1 is inferred), with the shape as a constant. */
int zb_reshape(zb_t *b, int x, int rank, const int64_t *dims) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  char nb[80];
  int sh = zb_const_i64(b, pname(b, nb, sizeof nb, "Reshape", "shape"), 1, (int64_t[]){rank}, dims);
  gl_shape_t os = {rank, {0}};
  int64_t known = 1, total = 1;
  int infer = -1;
  for (int i = 0; i < xs->rank; i++) total *= xs->d[i] < 0 ? 1 : xs->d[i];
  for (int i = 0; i < rank; i++) {
    os.d[i] = dims[i] == 0 ? xs->d[i] : dims[i];
    if (dims[i] == -1) infer = i;
    else known *= os.d[i] < 0 ? 1 : os.d[i];
  }
  if (infer >= 0) os.d[infer] = total / known;
  int ins[2] = {x, sh};
  return node1(b, "Reshape", ins, 2, b->g->values[x].dtype, &os, NULL);
}

int zb_transpose(zb_t *b, int x, int rank, const int64_t *perm) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  gl_shape_t os = {rank, {0}};
  for (int i = 0; i < rank; i++) os.d[i] = xs->d[perm[i]];
  int ni = -1;
  int y = node1(b, "Transpose", &x, 1, b->g->values[x].dtype, &os, &ni);
  attr_ints(b, ni, "perm", rank, perm);
  return b->st ? -1 : y;
}

int zb_softmax(zb_t *b, int x, int axis) {
  if (b->st) return -1;
  int ni = -1;
  int y = node1(b, "Softmax", &x, 1, GL_DT_F32, zb_shape(b, x), &ni);
  attr_i(b, ni, "axis", axis);
  return b->st ? -1 : y;
}

/* LayerNormalization over the last axis (opset 17), gamma near 1 and a small beta. */
int zb_layernorm(zb_t *b, int x, float eps) {
  if (b->st) return -1;
  const gl_shape_t xs_copy = *zb_shape(b, x), *xs = &xs_copy;
  int64_t c = xs->d[xs->rank - 1];
  char nb[80];
  int ins[3] = {x};
  ins[1] = zb_param(b, pname(b, nb, sizeof nb, "LayerNormalization", "scale"), 1, &c, 0.8f, 1.2f);
  ins[2] = zb_param(b, pname(b, nb, sizeof nb, "LayerNormalization", "bias"), 1, &c, -0.1f, 0.1f);
  int ni = -1;
  int y = node1(b, "LayerNormalization", ins, 3, GL_DT_F32, xs, &ni);
  attr_i(b, ni, "axis", -1);
  attr_f(b, ni, "epsilon", eps);
  return b->st ? -1 : y;
}

int zb_gather(zb_t *b, int data, int idx, int axis) {
  if (b->st) return -1;
  const gl_shape_t ds_copy = *zb_shape(b, data), is_copy = *zb_shape(b, idx), *ds = &ds_copy, *is = &is_copy;
  gl_shape_t os = {0, {0}};
  for (int i = 0; i < axis; i++) os.d[os.rank++] = ds->d[i];
  for (int i = 0; i < is->rank; i++) os.d[os.rank++] = is->d[i];
  for (int i = axis + 1; i < ds->rank; i++) os.d[os.rank++] = ds->d[i];
  int ins[2] = {data, idx};
  int ni = -1;
  int y = node1(b, "Gather", ins, 2, b->g->values[data].dtype, &os, &ni);
  attr_i(b, ni, "axis", axis);
  return b->st ? -1 : y;
}

/* ---- counting ---- */
static int64_t numel1(const gl_shape_t *s) { /* a symbolic dim counts as 1 */
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->d[i] < 0 ? 1 : s->d[i];
  return n;
}

void gl_zoo_stats(const gl_graph_t *g, gl_zoo_stats_t *st) {
  memset(st, 0, sizeof *st);
  for (int i = 0; i < g->n_values; i++) {
    const gl_value_t *v = &g->values[i];
    if (v->data) st->const_bytes += (int64_t)gl_tensor_nbytes(v->data);
  }
  /* A parameter is a float constant of rank >= 1 feeding a node, minus BN's running stats. */
  char *seen = gl_calloc((size_t)g->n_values + 1, 1);
  for (int ni = 0; ni < g->n_nodes; ni++) {
    const gl_node_t *n = &g->nodes[ni];
    if (n->dead) continue;
    st->n_nodes++;
    bool bn = !strcmp(n->op_type, "BatchNormalization");
    for (int i = 0; i < n->n_inputs; i++) {
      int vi = n->inputs[i];
      if (vi < 0 || (bn && i >= 3)) continue;
      const gl_value_t *v = &g->values[vi];
      if (!v->data || !gl_dtype_is_float(v->dtype) || v->shape.rank == 0) continue;
      if (seen && seen[vi]) continue;
      if (seen) seen[vi] = 1;
      st->params += numel1(&v->shape);
    }
    const gl_value_t *y = gl_out(g, n, 0);
    const gl_value_t *a = gl_in(g, n, 0), *w = gl_in(g, n, 1);
    if (!y || !a || !w) continue;
    if (!strcmp(n->op_type, "Conv") && w->shape.rank >= 3) {
      int64_t k = 1;
      for (int d = 1; d < w->shape.rank; d++) k *= w->shape.d[d];
      st->macs += numel1(&y->shape) * k;
    } else if (!strcmp(n->op_type, "Gemm")) {
      int64_t k = gl_attr_i(n, "transA", 0) ? a->shape.d[0] : a->shape.d[1];
      st->macs += numel1(&y->shape) * k;
    } else if (!strcmp(n->op_type, "MatMul") && a->shape.rank >= 1) {
      st->macs += numel1(&y->shape) * a->shape.d[a->shape.rank - 1];
    }
  }
  gl_free(seen);
}
