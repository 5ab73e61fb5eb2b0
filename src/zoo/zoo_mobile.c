/* zoo/zoo_mobile.c - the depthwise-separable nets: MobileNetV2, MNASNet 1.0, SSD-MobileNet v1. */
#include "zoo/zoo_int.h"

static int image_input(zb_t *b, int64_t batch, int64_t hw) {
  int64_t d[4] = {batch > 0 ? batch : -1, 3, hw, hw};
  return zb_input(b, "input", GL_DT_F32, 4, d);
}

/* Inverted residual: 1x1 expand (skipped when t == 1), kxk depthwise, 1x1 linear projection,
 * and the identity shortcut when the shape is kept. */
static int inverted(zb_t *b, int x, int64_t cout, int k, int stride, int64_t t, int act) {
  int64_t cin = zb_shape(b, x)->d[1], mid = cin * t;
  int y = t == 1 ? x : zb_conv_bn(b, x, mid, 1, 1, 0, 1, act);
  y = zb_conv_bn(b, y, mid, k, stride, k / 2, mid, act);
  y = zb_conv_bn(b, y, cout, 1, 1, 0, 1, ZB_NONE);
  return stride == 1 && cin == cout ? zb_binary(b, "Add", y, x) : y;
}

static gl_status_t classify(zb_t *b, int x) {
  x = zb_flatten(b, zb_gap(b, x));
  zb_name_next(b, "logits");
  zb_output(b, zb_gemm(b, x, 1000, 0));
  return b->st;
}

/* MobileNetV2 1.0 / 224 (torchvision): ReLU6 as Clip(0, 6), 3,504,872 parameters. */
gl_status_t gl_zoo_mobilenetv2(zb_t *b, int64_t batch) {
  static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}}; /* t, c, n, s */
  int x = image_input(b, batch, 224);
  x = zb_conv_bn(b, x, 32, 3, 2, 1, 1, ZB_RELU6);
  for (int s = 0; s < 7; s++)
    for (int i = 0; i < cfg[s][2]; i++) x = inverted(b, x, cfg[s][1], 3, i ? 1 : cfg[s][3], cfg[s][0], ZB_RELU6);
  x = zb_conv_bn(b, x, 1280, 1, 1, 0, 1, ZB_RELU6);
  return classify(b, x);
}

/* MNASNet 1.0 (torchvision mnasnet1_0): 4,383,312 parameters. */
gl_status_t gl_zoo_mnasnet(zb_t *b, int64_t batch) {
  static const int cfg[6][5] = {{24, 3, 2, 3, 3}, {40, 5, 2, 3, 3}, {80, 5, 2, 6, 3},
                                {96, 3, 1, 6, 2}, {192, 5, 2, 6, 4}, {320, 3, 1, 6, 1}}; /* c, k, s, t, n */
  int x = image_input(b, batch, 224);
  x = zb_conv_bn(b, x, 32, 3, 2, 1, 1, ZB_RELU);
  x = zb_conv_bn(b, x, 32, 3, 1, 1, 32, ZB_RELU);
  x = zb_conv_bn(b, x, 16, 1, 1, 0, 1, ZB_NONE);
  for (int s = 0; s < 6; s++)
    for (int i = 0; i < cfg[s][4]; i++) x = inverted(b, x, cfg[s][0], cfg[s][1], i ? 1 : cfg[s][2], cfg[s][3], ZB_RELU);
  x = zb_conv_bn(b, x, 1280, 1, 1, 0, 1, ZB_RELU);
  return classify(b, x);
}

/* SSD with a MobileNet v1 (1.0) backbone at 300x300, as in the COCO detector: features from
 * conv11 (19x19x512) and conv13 (10x10x1024) plus four extra 1x1 -> 3x3/2 layers (5, 3, 2, 1),
 * 3 anchors on the first map and 6 on the others (1917 boxes), 1x1 box and class predictors,
 * 91 classes. Outputs are the raw box encodings [batch, 1917, 4] and class logits
 * [batch, 1917, 91]: no anchor decoding, no NMS. */
static int dw_sep(zb_t *b, int x, int64_t cout, int stride) {
  int64_t cin = zb_shape(b, x)->d[1];
  x = zb_conv_bn(b, x, cin, 3, stride, 1, cin, ZB_RELU6);
  return zb_conv_bn(b, x, cout, 1, 1, 0, 1, ZB_RELU6);
}

/* conv 1x1 predictor -> NHWC -> [batch, h*w*anchors, per] */
static int predictor(zb_t *b, int x, int64_t anchors, int64_t per) {
  int y = zb_conv(b, x, anchors * per, 1, 1, 0, 1, 1);
  y = zb_transpose(b, y, 4, (int64_t[]){0, 2, 3, 1});
  return zb_reshape(b, y, 3, (int64_t[]){0, -1, per});
}

gl_status_t gl_zoo_ssd_mobilenet(zb_t *b, int64_t batch) {
  static const int body[13][2] = {{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2}, {512, 1},
                                  {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  static const int extra[4][2] = {{256, 512}, {128, 256}, {128, 256}, {64, 128}};
  const int64_t n_classes = 91;
  int feats[6], nf = 0;
  int x = image_input(b, batch, 300);
  x = zb_conv_bn(b, x, 32, 3, 2, 1, 1, ZB_RELU6); /* 150 */
  for (int i = 0; i < 13; i++) {
    x = dw_sep(b, x, body[i][0], body[i][1]);
    if (i == 10 || i == 12) feats[nf++] = x; /* 19x19x512, 10x10x1024 */
  }
  for (int i = 0; i < 4; i++) {
    x = zb_conv_bn(b, x, extra[i][0], 1, 1, 0, 1, ZB_RELU6);
    x = zb_conv_bn(b, x, extra[i][1], 3, 2, 1, 1, ZB_RELU6);
    feats[nf++] = x;
  }
  int boxes[6], classes[6];
  for (int i = 0; i < nf; i++) {
    int64_t anchors = i == 0 ? 3 : 6;
    boxes[i] = predictor(b, feats[i], anchors, 4);
    classes[i] = predictor(b, feats[i], anchors, n_classes);
  }
  zb_name_next(b, "boxes");
  zb_output(b, zb_concat(b, nf, boxes, 1));
  zb_name_next(b, "scores");
  zb_output(b, zb_concat(b, nf, classes, 1));
  return b->st;
}
