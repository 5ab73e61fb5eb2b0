/* zoo/zoo_cnn.c - the classic image classifiers: LeNet-5, VGG-16, ResNet-50, GoogLeNet, DenseNet-161. */
#include "zoo/zoo_int.h"

static const int64_t no_pad[4] = {0, 0, 0, 0};

static int image_input(zb_t *b, int64_t batch, int64_t c, int64_t hw) {
  int64_t d[4] = {batch > 0 ? batch : -1, c, hw, hw};
  return zb_input(b, "input", GL_DT_F32, 4, d);
}

static gl_status_t finish_logits(zb_t *b, int x, int64_t n_classes) {
  zb_name_next(b, "logits");
  zb_output(b, zb_gemm(b, x, n_classes, 0));
  return b->st;
}

/* LeNet-5 as usually rebuilt for 28x28 MNIST: padded 5x5 conv 6, pool, 5x5 conv 16, pool,
 * dense 120, 84, 10 (61,706 parameters). */
gl_status_t gl_zoo_lenet(zb_t *b, int64_t batch) {
  int x = image_input(b, batch, 1, 28);
  x = zb_act(b, zb_conv(b, x, 6, 5, 1, 2, 1, 1), ZB_RELU);
  x = zb_maxpool(b, x, 2, 2, no_pad);
  x = zb_act(b, zb_conv(b, x, 16, 5, 1, 0, 1, 1), ZB_RELU);
  x = zb_maxpool(b, x, 2, 2, no_pad);
  x = zb_flatten(b, x);
  x = zb_act(b, zb_gemm(b, x, 120, 0), ZB_RELU);
  x = zb_act(b, zb_gemm(b, x, 84, 0), ZB_RELU);
  return finish_logits(b, x, 10);
}

/* A trivial model for measuring the server's own per-request cost: x[batch, 16] -> Gemm 4
 * (68 parameters, 64 multiply-adds: well under a microsecond of compute). */
gl_status_t gl_zoo_tiny(zb_t *b, int64_t batch) {
  int64_t d[2] = {batch > 0 ? batch : -1, 16};
  int x = zb_input(b, "input", GL_DT_F32, 2, d);
  zb_name_next(b, "output");
  zb_output(b, zb_gemm(b, x, 4, 0));
  return b->st;
}

/* VGG-16 (configuration D), no batch norm: 13 3x3 convs, 3 dense layers (138,357,544). */
gl_status_t gl_zoo_vgg16(zb_t *b, int64_t batch) {
  static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
  int x = image_input(b, batch, 3, 224);
  for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++)
    x = cfg[i] ? zb_act(b, zb_conv(b, x, cfg[i], 3, 1, 1, 1, 1), ZB_RELU) : zb_maxpool(b, x, 2, 2, no_pad);
  x = zb_flatten(b, x);
  x = zb_act(b, zb_gemm(b, x, 4096, 0), ZB_RELU);
  x = zb_act(b, zb_gemm(b, x, 4096, 0), ZB_RELU);
  return finish_logits(b, x, 1000);
}

/* ResNet-50 v1.5 (torchvision: the stride sits in the 3x3 conv), 25,557,032 parameters. */
static int bottleneck(zb_t *b, int x, int64_t width, int stride, bool project) {
  int64_t out = width * 4;
  int y = zb_conv_bn(b, x, width, 1, 1, 0, 1, ZB_RELU);
  y = zb_conv_bn(b, y, width, 3, stride, 1, 1, ZB_RELU);
  y = zb_conv_bn(b, y, out, 1, 1, 0, 1, ZB_NONE);
  int sc = project ? zb_conv_bn(b, x, out, 1, stride, 0, 1, ZB_NONE) : x;
  return zb_act(b, zb_binary(b, "Add", y, sc), ZB_RELU);
}

gl_status_t gl_zoo_resnet50(zb_t *b, int64_t batch) {
  static const int blocks[4] = {3, 4, 6, 3};
  int x = image_input(b, batch, 3, 224);
  x = zb_conv_bn(b, x, 64, 7, 2, 3, 1, ZB_RELU);
  x = zb_maxpool(b, x, 3, 2, (int64_t[]){1, 1, 1, 1});
  for (int s = 0; s < 4; s++)
    for (int i = 0; i < blocks[s]; i++) x = bottleneck(b, x, 64 << s, i == 0 && s > 0 ? 2 : 1, i == 0);
  x = zb_flatten(b, zb_gap(b, x));
  return finish_logits(b, x, 1000);
}

/* GoogLeNet (Inception v1) as torchvision builds it: conv + BN(eps 1e-3) + ReLU everywhere, the
 * "5x5" branch with a 3x3 kernel, no auxiliary heads (6,624,904 parameters). Max pools with
 * ceil_mode are written as the equivalent end padding. */
static int basic(zb_t *b, int x, int64_t cout, int k, int stride, int pad) {
  return zb_act(b, zb_bn(b, zb_conv(b, x, cout, k, stride, pad, 1, 0), 1e-3f), ZB_RELU);
}

static int inception(zb_t *b, int x, int64_t c1, int64_t c3r, int64_t c3, int64_t c5r, int64_t c5, int64_t cp) {
  int br[4];
  br[0] = basic(b, x, c1, 1, 1, 0);
  br[1] = basic(b, basic(b, x, c3r, 1, 1, 0), c3, 3, 1, 1);
  br[2] = basic(b, basic(b, x, c5r, 1, 1, 0), c5, 3, 1, 1);
  br[3] = basic(b, zb_maxpool(b, x, 3, 1, (int64_t[]){1, 1, 1, 1}), cp, 1, 1, 0);
  return zb_concat(b, 4, br, 1);
}

gl_status_t gl_zoo_googlenet(zb_t *b, int64_t batch) {
  const int64_t ceil_pad[4] = {0, 0, 1, 1};
  int x = image_input(b, batch, 3, 224);
  x = basic(b, x, 64, 7, 2, 3);                 /* 112 */
  x = zb_maxpool(b, x, 3, 2, ceil_pad);         /* 56 */
  x = basic(b, x, 64, 1, 1, 0);
  x = basic(b, x, 192, 3, 1, 1);
  x = zb_maxpool(b, x, 3, 2, ceil_pad);         /* 28 */
  x = inception(b, x, 64, 96, 128, 16, 32, 32);
  x = inception(b, x, 128, 128, 192, 32, 96, 64);
  x = zb_maxpool(b, x, 3, 2, ceil_pad);         /* 14 */
  x = inception(b, x, 192, 96, 208, 16, 48, 64);
  x = inception(b, x, 160, 112, 224, 24, 64, 64);
  x = inception(b, x, 128, 128, 256, 24, 64, 64);
  x = inception(b, x, 112, 144, 288, 32, 64, 64);
  x = inception(b, x, 256, 160, 320, 32, 128, 128);
  x = zb_maxpool(b, x, 2, 2, no_pad);           /* 7 */
  x = inception(b, x, 256, 160, 320, 32, 128, 128);
  x = inception(b, x, 384, 192, 384, 48, 128, 128);
  x = zb_flatten(b, zb_gap(b, x));
  return finish_logits(b, x, 1000);
}

/* DenseNet-161: growth 48, blocks (6, 12, 36, 24), 96 initial features, bottleneck 4x
 * (28,681,000 parameters). Each layer's output is concatenated onto the running features,
 * the same tensor torchvision's cat over all earlier outputs makes. */
static int bn_relu(zb_t *b, int x) { return zb_act(b, zb_bn(b, x, 1e-5f), ZB_RELU); }

gl_status_t gl_zoo_densenet161(zb_t *b, int64_t batch) {
  static const int blocks[4] = {6, 12, 36, 24};
  const int64_t growth = 48, bn_size = 4;
  int x = image_input(b, batch, 3, 224);
  x = zb_conv_bn(b, x, 96, 7, 2, 3, 1, ZB_RELU);
  x = zb_maxpool(b, x, 3, 2, (int64_t[]){1, 1, 1, 1});
  for (int s = 0; s < 4; s++) {
    for (int i = 0; i < blocks[s]; i++) {
      int y = zb_conv(b, bn_relu(b, x), bn_size * growth, 1, 1, 0, 1, 0);
      y = zb_conv(b, bn_relu(b, y), growth, 3, 1, 1, 1, 0);
      int cat[2] = {x, y};
      x = zb_concat(b, 2, cat, 1);
    }
    if (s < 3) {
      x = zb_conv(b, bn_relu(b, x), zb_shape(b, x)->d[1] / 2, 1, 1, 0, 1, 0);
      x = zb_avgpool(b, x, 2, 2, 0);
    }
  }
  x = zb_flatten(b, zb_gap(b, bn_relu(b, x)));
  return finish_logits(b, x, 1000);
}
