/* zoo/zoo.h - the model zoo: standard architectures built as gpulet IR with seeded weights.
 * Owns: the list of models (LeNet-5, GoogLeNet, ResNet-50, VGG-16, MobileNetV2, MNASNet 1.0,
 * DenseNet-161, SSD-MobileNet v1, BERT-base; `tiny`, one Gemm, for overhead benchmarks), building
 * each as a graph of standard ONNX ops (opset 13; 17 for BERT's LayerNormalization) with
 * deterministic weights drawn from a seed, and counting a graph's parameters and multiply-adds.
 * Does not own: writing ONNX files (onnx/). */
#ifndef GL_ZOO_ZOO_H
#define GL_ZOO_ZOO_H

#include <stdint.h>

#include "graph/graph.h"

typedef struct {
  const char *name;          /* "resnet50" */
  const char *summary;       /* one line: the architecture and its input */
  int64_t published_params;  /* the parameter count the literature / reference code quotes */
  double published_macs;     /* multiply-adds per sample the literature quotes (0 if none) */
} gl_zoo_info_t;

typedef struct {
  uint64_t seed;  /* weights are a pure function of (model, seed) */
  int64_t batch;  /* > 0: fixed batch; <= 0: a symbolic "batch" leading dim */
  int64_t seq;    /* BERT's sequence length; <= 0 means 128 */
} gl_zoo_opts_t;

typedef struct {
  int64_t params;       /* learned weights: float constants of rank >= 1, BN running stats excluded */
  int64_t macs;         /* multiply-adds of Conv, Gemm and MatMul (a symbolic batch counts as 1) */
  int64_t const_bytes;  /* bytes of all constants */
  int n_nodes;
} gl_zoo_stats_t;

int gl_zoo_count(void);
const gl_zoo_info_t *gl_zoo_info(int i);
/* The model called name, or NULL. */
const gl_zoo_info_t *gl_zoo_find(const char *name);
/* Builds model name with o (NULL: seed 1, dynamic batch, seq 128). *out is the caller's. */
gl_status_t gl_zoo_build(const char *name, const gl_zoo_opts_t *o, gl_graph_t **out) GL_MUST_USE;
/* Counts g's parameters and multiply-adds from its constants and value shapes. */
void gl_zoo_stats(const gl_graph_t *g, gl_zoo_stats_t *st);

#endif
