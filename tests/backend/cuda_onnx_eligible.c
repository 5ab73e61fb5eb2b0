/* tests/backend/cuda_onnx_eligible.c - `cuda_onnx_eligible DIR...`: prints the ONNX test cases
 * (DIR is a case or a folder of cases) whose prepared graph the CUDA module accepts node by node
 * (gl_cuda_node_supported: its op table, dtypes and limits), as check-onnx would prepare them on
 * test_data_set_0's inputs. Runs on the CPU; cuda_check_onnx.sh uses the list on a GPU to require
 * that every case passing on the CPU and predicted here passes on CUDA (not merely "is skipped"),
 * and its length is the floor of CUDA passes. `-v` also prints each refused case's reason. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cuda_support.h"
#include "core/alloc.h"
#include "engine/engine.h"
#include "onnx/onnx.h"

#define MAX_IN 64

static int verbose;

/* 1 when the case at dir is eligible; prints it. */
static int check_case(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  gl_model_t *m = NULL;
  if (gl_model_load(path, &m)) {
    if (verbose) fprintf(stderr, "%s: load: %s\n", name, gl_errmsg());
    return 0;
  }
  const gl_graph_t *g = gl_model_graph(m);
  gl_tensor_t ins[MAX_IN];
  gl_shape_t shapes[MAX_IN];
  int n = 0, ok = 1;
  memset(ins, 0, sizeof ins);
  for (; n < MAX_IN; n++) {
    struct stat sb;
    snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, n);
    if (stat(path, &sb)) break;
    char *tn = NULL;
    if (gl_onnx_read_tensor_file(path, &ins[n], &tn)) {
      ok = 0;
      break;
    }
    /* bind by name where the name matches a graph input at another position */
    int slot = n;
    for (int k = 0; tn && k < g->n_inputs; k++)
      if (!strcmp(g->values[g->inputs[k]].name, tn)) slot = k;
    gl_free(tn);
    if (slot != n) ok = 0; /* reordered inputs: not worth predicting, count it out */
    shapes[n] = ins[n].shape;
  }
  gl_graph_t *pg = NULL;
  if (ok && n == g->n_inputs) {
    gl_compile_opts_t co = {.input_shapes = shapes, .input_values = ins};
    if (gl_model_prepare(m, &co, &pg)) {
      if (verbose) fprintf(stderr, "%s: prepare: %s\n", name, gl_errmsg());
      ok = 0;
    }
  } else {
    ok = 0;
  }
  for (int i = 0; ok && i < pg->n_nodes; i++) {
    const gl_node_t *nd = &pg->nodes[i];
    if (nd->dead || gl_node_is_view(pg, nd)) continue;
    if (gl_cuda_node_supported(pg, nd)) {
      if (verbose) fprintf(stderr, "%s: %s\n", name, gl_errmsg());
      ok = 0;
    }
  }
  if (ok) printf("%s\n", name);
  gl_graph_destroy(pg);
  for (int i = 0; i < n; i++) gl_tensor_fini(&ins[i]);
  gl_model_destroy(m);
  return ok;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  int total = 0;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "-v")) {
      verbose = 1;
      continue;
    }
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.onnx", argv[a]);
    if (!stat(path, &sb)) {
      const char *base = strrchr(argv[a], '/');
      total += check_case(argv[a], base ? base + 1 : argv[a]);
      continue;
    }
    DIR *d = opendir(argv[a]);
    if (!d) {
      fprintf(stderr, "cuda_onnx_eligible: cannot open '%s'\n", argv[a]);
      return 2;
    }
    char **names = NULL;
    int nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      if (nn == cap) {
        cap = cap ? cap * 2 : 256;
        char **nw = gl_realloc(names, sizeof *names * (size_t)cap);
        if (!nw) return 2;
        names = nw;
      }
      names[nn++] = gl_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp);
    for (int i = 0; i < nn; i++) {
      snprintf(path, sizeof path, "%s/%s", argv[a], names[i]);
      total += check_case(path, names[i]);
      gl_free(names[i]);
    }
    gl_free(names);
  }
  fprintf(stderr, "%d cases eligible for CUDA\n", total);
  return 0;
}
