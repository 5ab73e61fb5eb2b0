/* fuzz/fuzz_onnx.c - libFuzzer target: the ONNX model and tensor readers on arbitrary bytes.
 * Oracle besides the sanitizers: a model that loads must save, reload, and free without leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

/* External data may only come from this folder (it holds one 4 KiB file, w.bin). */
static char ext_dir[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  snprintf(ext_dir, sizeof ext_dir, "/tmp/gl_fuzz_onnx.%ld", (long)getpid());
  mkdir(ext_dir, 0700);
  char path[128];
  snprintf(path, sizeof path, "%s/w.bin", ext_dir);
  FILE *f = fopen(path, "wb");
  if (f) {
    for (int i = 0; i < 4096; i++) fputc(i * 7, f);
    fclose(f);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t live = gl_alloc_live_count();
  gl_onnx_limits_t lim = {.max_file_bytes = 1 << 24, .max_nodes = 20000};
  gl_graph_t *g = NULL;
  if (gl_onnx_load_buffer(data, size, ext_dir, &lim, &g) == GL_OK) {
    void *buf = NULL;
    size_t len = 0;
    if (gl_onnx_save_buffer(g, "fuzz", &buf, &len) != GL_OK) {
      fprintf(stderr, "a loaded model did not save: %s\n", gl_errmsg());
      abort();
    }
    gl_graph_t *h = NULL;
    if (gl_onnx_load_buffer(buf, len, NULL, &lim, &h) != GL_OK) {
      fprintf(stderr, "a saved model did not reload: %s\n", gl_errmsg());
      abort();
    }
    if (h->n_nodes != g->n_nodes || h->n_inputs != g->n_inputs || h->n_outputs != g->n_outputs) {
      fprintf(stderr, "a saved model reloaded different\n");
      abort();
    }
    gl_graph_destroy(h);
    gl_free(buf);
    gl_graph_destroy(g);
  } else if (g) {
    fprintf(stderr, "a failed load returned a graph\n");
    abort();
  }
  gl_tensor_t t;
  char *name = NULL;
  if (gl_onnx_read_tensor_buffer(data, size, &t, &name) == GL_OK) {
    gl_tensor_fini(&t);
    gl_free(name);
  }
  if (gl_alloc_live_count() != live) {
    fprintf(stderr, "%zu blocks leaked\n", gl_alloc_live_count() - live);
    abort();
  }
  return 0;
}
