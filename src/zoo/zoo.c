/* zoo/zoo.c - the zoo's model table and gl_zoo_build. */
#include <string.h>

#include "core/alloc.h"
#include "zoo/zoo_int.h"

typedef struct {
  gl_zoo_info_t info;
  int64_t opset;
} entry_t;

static const entry_t models[] = {
    {{"lenet", "LeNet-5, 1x28x28 -> 10 logits", 61706, 416520}, 13},
    {{"googlenet", "GoogLeNet / Inception v1 (torchvision, no aux heads), 3x224x224 -> 1000", 6624904, 1.50e9}, 13},
    {{"resnet50", "ResNet-50 v1.5 (torchvision), 3x224x224 -> 1000", 25557032, 4.1e9}, 13},
    {{"vgg16", "VGG-16 (configuration D, no BN), 3x224x224 -> 1000", 138357544, 15.5e9}, 13},
    {{"mobilenetv2", "MobileNetV2 1.0 (torchvision), 3x224x224 -> 1000", 3504872, 0.30e9}, 13},
    {{"mnasnet", "MNASNet 1.0 (torchvision), 3x224x224 -> 1000", 4383312, 0.31e9}, 13},
    {{"densenet161", "DenseNet-161 (k=48), 3x224x224 -> 1000", 28681000, 7.7e9}, 13},
    {{"ssd-mobilenet", "SSD + MobileNet v1, 3x300x300 -> 1917 boxes x (4 + 91), no NMS", 6800000, 1.2e9}, 13},
    {{"bert-base", "BERT-base uncased, int64 input_ids [batch, seq] -> hidden states + pooled", 109482240,
      11.2e9}, 17},
    {{"tiny", "trivial: x[batch,16] -> Gemm 4 (the server's own overhead benchmarks: compute ~0)", 68, 64}, 13},
};
enum { N_MODELS = sizeof models / sizeof models[0] };

int gl_zoo_count(void) { return N_MODELS; }

const gl_zoo_info_t *gl_zoo_info(int i) { return i >= 0 && i < N_MODELS ? &models[i].info : NULL; }

static const entry_t *find(const char *name) {
  for (int i = 0; name && i < N_MODELS; i++)
    if (!strcmp(models[i].info.name, name)) return &models[i];
  return NULL;
}

const gl_zoo_info_t *gl_zoo_find(const char *name) {
  const entry_t *e = find(name);
  return e ? &e->info : NULL;
}

gl_status_t gl_zoo_build(const char *name, const gl_zoo_opts_t *o, gl_graph_t **out) {
  *out = NULL;
  gl_zoo_opts_t dflt = {.seed = 1, .batch = 0, .seq = 128};
  if (!o) o = &dflt;
  const entry_t *e = find(name);
  if (!e) return gl_err(GL_ENOTFOUND, "zoo: no model '%s' (gpulet zoo --list)", name ? name : "");
  zb_t b = {.g = gl_graph_create(), .seed = o->seed};
  if (!b.g) return gl_err(GL_ENOMEM, "zoo: out of memory");
  b.g->opset = e->opset;
  if (!(b.g->name = gl_strdup(e->info.name))) {
    gl_graph_destroy(b.g);
    return gl_err(GL_ENOMEM, "zoo: out of memory");
  }
  gl_status_t st;
  const char *n = e->info.name;
  if (!strcmp(n, "lenet")) st = gl_zoo_lenet(&b, o->batch);
  else if (!strcmp(n, "googlenet")) st = gl_zoo_googlenet(&b, o->batch);
  else if (!strcmp(n, "resnet50")) st = gl_zoo_resnet50(&b, o->batch);
  else if (!strcmp(n, "vgg16")) st = gl_zoo_vgg16(&b, o->batch);
  else if (!strcmp(n, "mobilenetv2")) st = gl_zoo_mobilenetv2(&b, o->batch);
  else if (!strcmp(n, "mnasnet")) st = gl_zoo_mnasnet(&b, o->batch);
  else if (!strcmp(n, "densenet161")) st = gl_zoo_densenet161(&b, o->batch);
  else if (!strcmp(n, "ssd-mobilenet")) st = gl_zoo_ssd_mobilenet(&b, o->batch);
  else if (!strcmp(n, "tiny")) st = gl_zoo_tiny(&b, o->batch);
  else st = gl_zoo_bert(&b, o->batch, o->seq > 0 ? o->seq : 128);
  if (st == GL_OK) st = b.st;
  gl_free(b.msq);
  gl_free(b.mean);
  if (st == GL_OK) st = gl_graph_toposort(b.g);
  if (st != GL_OK) {
    gl_graph_destroy(b.g);
    return st;
  }
  *out = b.g;
  return GL_OK;
}
