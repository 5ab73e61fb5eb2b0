/* zoo/zoo_int.h - the zoo's graph builder (private to src/zoo): each helper adds one ONNX node,
 * its seeded constants and its output's dtype and shape. Errors are sticky in b->st, so a model
 * is written as straight-line code and checked once at the end. */
#ifndef GL_ZOO_ZOO_INT_H
#define GL_ZOO_ZOO_INT_H

#include "zoo/zoo.h"

typedef struct {
  gl_graph_t *g;
  uint64_t seed;
  uint64_t n_tensors; /* constants made so far: each draws from its own stream */
  int n_ops;
  const char *next_name; /* name for the next node's output (graph outputs), or NULL */
  gl_status_t st;
  /* Expected mean square of each value over a random input, propagated layer by layer, so that
   * BatchNormalization's running variance can sit near the real one (see zb_bn). */
  double *msq, *mean;
  size_t cap_msq, cap_mean;
} zb_t;

enum { ZB_NONE = 0, ZB_RELU, ZB_RELU6 };

/* Graph inputs and outputs. dims[0] < 0 makes a symbolic "batch" dim. */
int zb_input(zb_t *b, const char *name, gl_dtype_t dt, int rank, const int64_t *dims);
void zb_output(zb_t *b, int v);
void zb_name_next(zb_t *b, const char *name);

/* Constants. zb_param draws U(lo, hi) from the tensor's own seeded stream. */
int zb_param(zb_t *b, const char *name, int rank, const int64_t *dims, float lo, float hi);
int zb_const_f(zb_t *b, const char *name, int rank, const int64_t *dims, const float *data);
int zb_const_i64(zb_t *b, const char *name, int rank, const int64_t *dims, const int64_t *data);
int zb_scalar(zb_t *b, float v);

/* Layers. */
int zb_conv(zb_t *b, int x, int64_t cout, int k, int stride, int pad, int64_t group, int bias);
int zb_bn(zb_t *b, int x, float eps);
int zb_act(zb_t *b, int x, int act);
int zb_conv_bn(zb_t *b, int x, int64_t cout, int k, int stride, int pad, int64_t group, int act);
int zb_maxpool(zb_t *b, int x, int k, int stride, const int64_t pads[4]);
int zb_avgpool(zb_t *b, int x, int k, int stride, int pad);
int zb_gap(zb_t *b, int x);
int zb_flatten(zb_t *b, int x);
int zb_gemm(zb_t *b, int x, int64_t nout, float init_bound);
int zb_concat(zb_t *b, int n, const int *xs, int axis);
int zb_binary(zb_t *b, const char *op, int x, int y);
int zb_unary(zb_t *b, const char *op, int x);
int zb_matmul(zb_t *b, int x, int y);
int zb_reshape(zb_t *b, int x, int rank, const int64_t *dims);
int zb_transpose(zb_t *b, int x, int rank, const int64_t *perm);
int zb_softmax(zb_t *b, int x, int axis);
int zb_layernorm(zb_t *b, int x, float eps);
int zb_gather(zb_t *b, int data, int idx, int axis);

/* Expected mean square and mean of value v's elements (1 and 0 when unknown), and setting them. */
double zb_msq(zb_t *b, int v);
double zb_mean(zb_t *b, int v);
void zb_set_stats(zb_t *b, int v, double msq, double mean);
static inline void zb_set_msq(zb_t *b, int v, double m) { zb_set_stats(b, v, m, 0.0); }

/* Shape of value v (for model code that needs a channel count). */
const gl_shape_t *zb_shape(zb_t *b, int v);

/* The models. */
gl_status_t gl_zoo_lenet(zb_t *b, int64_t batch);
gl_status_t gl_zoo_vgg16(zb_t *b, int64_t batch);
gl_status_t gl_zoo_resnet50(zb_t *b, int64_t batch);
gl_status_t gl_zoo_googlenet(zb_t *b, int64_t batch);
gl_status_t gl_zoo_densenet161(zb_t *b, int64_t batch);
gl_status_t gl_zoo_mobilenetv2(zb_t *b, int64_t batch);
gl_status_t gl_zoo_mnasnet(zb_t *b, int64_t batch);
gl_status_t gl_zoo_ssd_mobilenet(zb_t *b, int64_t batch);
gl_status_t gl_zoo_bert(zb_t *b, int64_t batch, int64_t seq);
gl_status_t gl_zoo_tiny(zb_t *b, int64_t batch);

#endif
