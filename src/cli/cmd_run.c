/* cli/cmd_run.c - `gpulet run MODEL.onnx`: load, compile for a batch, run, report. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/stats.h"
#include "engine/engine.h"
#include "onnx/onnx.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet run MODEL.onnx [--batch N] [--iters K] [--warmup W] [--threads T]\n"
          "                 [--input FILE.pb]... [--seed S] [--no-fuse] [--device cpu|cuda[:N]]\n"
          "                 [--precision fp32|tf32|fp16]   (CUDA convolutions and matrix products)\n"
          "                 [--max-model-bytes BYTES] [--max-graph-nodes N]   (defaults 4 GiB, 1000000)\n"
          "  Loads MODEL, compiles it for batch N (default 1) on the CPU, feeds seeded random\n"
          "  inputs (or the TensorProto files given with --input, in input order), runs it K\n"
          "  times (default 10) after W warm-up runs (default 2), and prints each output's\n"
          "  shape and checksum and the latency percentiles.\n");
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Fills t with deterministic values suited to its type. */
static void fill_random(gl_tensor_t *t, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  int64_t n = gl_shape_numel(&t->shape);
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = rng_next(&s);
    double u = (double)(r >> 11) / (double)(1ULL << 53);
    switch (t->dtype) {
      case GL_DT_F32: ((float *)t->data)[i] = (float)(u * 2 - 1); break;
      case GL_DT_F64: ((double *)t->data)[i] = u * 2 - 1; break;
      case GL_DT_I64: ((int64_t *)t->data)[i] = (int64_t)(r % 100); break;
      case GL_DT_I32: ((int32_t *)t->data)[i] = (int32_t)(r % 100); break;
      case GL_DT_BOOL: case GL_DT_U8: ((uint8_t *)t->data)[i] = (uint8_t)(r & 1); break;
      default: memset((char *)t->data + (size_t)i * gl_dtype_size(t->dtype), 0, gl_dtype_size(t->dtype));
    }
  }
}

int gl_cmd_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"batch", required_argument, 0, 'b'}, {"iters", required_argument, 0, 'k'},
      {"warmup", required_argument, 0, 'w'}, {"threads", required_argument, 0, 't'},
      {"input", required_argument, 0, 'i'}, {"seed", required_argument, 0, 's'},
      {"no-fuse", no_argument, 0, 'F'},     {"help", no_argument, 0, 'h'},
      {"device", required_argument, 0, 'd'},
      {"precision", required_argument, 0, 'P'},
      {"max-model-bytes", required_argument, 0, 'S'}, {"max-graph-nodes", required_argument, 0, 'G'},
      {0, 0, 0, 0}};
  int precision = GL_PREC_FP32;
  long batch = 1, iters = 10, warmup = 2, threads = 0, seed = 1;
  bool no_fuse = false;
  gl_onnx_limits_t lim = {0};
  const char *device = "cpu";
  const char *input_files[64];
  int n_input_files = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "b:k:w:t:i:s:Fh", opts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
      case 'b': batch = strtol(optarg, &end, 10); if (*end || batch < 1 || batch > 4096) goto bad; break;
      case 'k': iters = strtol(optarg, &end, 10); if (*end || iters < 1 || iters > 10000000) goto bad; break;
      case 'w': warmup = strtol(optarg, &end, 10); if (*end || warmup < 0 || warmup > 1000000) goto bad; break;
      case 't': threads = strtol(optarg, &end, 10); if (*end || threads < 1 || threads > 4096) goto bad; break;
      case 's': seed = strtol(optarg, &end, 10); if (*end) goto bad; break;
      case 'i':
        if (n_input_files == 64) { fprintf(stderr, "gpulet run: at most 64 --input files\n"); return 2; }
        input_files[n_input_files++] = optarg;
        break;
      case 'F': no_fuse = true; break;
      case 'S': { long long v = strtoll(optarg, &end, 10); if (*end || v < 1024) goto bad; lim.max_file_bytes = (size_t)v; break; }
      case 'G': {
        long v = strtol(optarg, &end, 10);
        if (*end || v < 1 || v > 100000000) goto bad;
        lim.max_nodes = lim.max_initializers = (int)v;
        lim.max_values = (int)v > INT32_MAX / 4 ? INT32_MAX : (int)v * 4;
        break;
      }
      case 'd': device = optarg; break;
      case 'P':
        if (gl_precision_parse(optarg, &precision)) goto bad;
        break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  const char *path = argv[optind];
  int rc = 1;
  gl_model_t *m = NULL;
  gl_backend_t *be = NULL;
  gl_plan_t *plan = NULL;
  gl_tensor_t *ins = NULL, *outs = NULL;
  double *lat = NULL;
  gl_shape_t shapes[64];
  int64_t t0 = gl_now_ns();
  gl_graph_t *lg = NULL;
  if (gl_onnx_load_file(path, &lim, &lg) || gl_model_from_graph(lg, &m)) { rc = gl_cli_fail(path); goto done; }
  int64_t t_load = gl_now_ns();
  const gl_graph_t *g = gl_model_graph(m);
  if (n_input_files && n_input_files != g->n_inputs) {
    fprintf(stderr, "gpulet run: the model has %d inputs but %d --input files were given\n",
            g->n_inputs, n_input_files);
    goto done;
  }
  ins = gl_calloc((size_t)g->n_inputs + 1, sizeof *ins);
  if (!ins) goto done;
  for (int i = 0; i < n_input_files; i++) {
    if (gl_onnx_read_tensor_file(input_files[i], &ins[i], NULL)) { rc = gl_cli_fail(input_files[i]); goto done; }
    shapes[i] = ins[i].shape;
  }
  if ((rc = gl_cli_backend("run", device, &be)) != 0) goto done;
  rc = 1;
  gl_compile_opts_t co = {.batch = batch, .input_shapes = n_input_files ? shapes : NULL,
                          .placement = {.threads = (int)threads, .precision = precision}, .no_fuse = no_fuse};
  if (gl_model_compile(m, be, &co, &plan)) { rc = gl_cli_fail(path); goto done; }
  int64_t t_compile = gl_now_ns();
  for (int i = n_input_files; i < plan->n_inputs; i++) {
    if (gl_tensor_alloc(&ins[i], plan->inputs[i].dtype, &plan->inputs[i].shape)) { rc = gl_cli_fail("inputs"); goto done; }
    fill_random(&ins[i], (uint64_t)seed + (uint64_t)i);
  }
  outs = gl_calloc((size_t)plan->n_outputs + 1, sizeof *outs);
  lat = gl_malloc(sizeof(double) * (size_t)iters);
  if (!outs || !lat || gl_plan_alloc_outputs(plan, outs)) { rc = gl_cli_fail("outputs"); goto done; }
  for (long w = 0; w < warmup; w++)
    if (gl_plan_run(plan, ins, outs) || gl_plan_wait(plan)) { rc = gl_cli_fail("run"); goto done; }
  for (long k = 0; k < iters; k++) {
    int64_t s = gl_now_ns();
    if (gl_plan_run(plan, ins, outs) || gl_plan_wait(plan)) { rc = gl_cli_fail("run"); goto done; }
    lat[k] = gl_ns_to_ms(gl_now_ns() - s);
  }
  bool gpu = strncmp(device, "cpu", 3) != 0; /* the CUDA precision is part of what ran */
  printf("model %s: %s%s%s, batch %ld, threads %d, load %.1f ms, compile %.1f ms\n", path, device, gpu ? " " : "",
         gpu ? gl_precision_name(precision) : "", batch, threads ? (int)threads : omp_get_max_threads(), gl_ns_to_ms(t_load - t0),
         gl_ns_to_ms(t_compile - t_load));
  for (int i = 0; i < plan->n_outputs; i++) {
    char sb[160];
    double sum = 0, asum = 0;
    int64_t n = gl_shape_numel(&outs[i].shape);
    for (int64_t e = 0; e < n; e++) {
      double v = gl_tensor_get_f64(&outs[i], e);
      sum += v;
      asum += v < 0 ? -v : v;
    }
    printf("output %s: %s %s sum %.6g abs-sum %.6g\n", plan->output_names[i],
           gl_dtype_name(outs[i].dtype), gl_shape_str(&outs[i].shape, sb, sizeof sb), sum, asum);
  }
  gl_sort_doubles(lat, (size_t)iters);
  printf("latency ms over %ld runs: min %.3f p50 %.3f p90 %.3f p99 %.3f max %.3f\n", iters, lat[0],
         gl_percentile_sorted(lat, (size_t)iters, 50), gl_percentile_sorted(lat, (size_t)iters, 90),
         gl_percentile_sorted(lat, (size_t)iters, 99), lat[iters - 1]);
  rc = 0;
done:
  for (int i = 0; ins && m && i < gl_model_graph(m)->n_inputs; i++) gl_tensor_fini(&ins[i]);
  for (int i = 0; outs && plan && i < plan->n_outputs; i++) gl_tensor_fini(&outs[i]);
  gl_free(ins);
  gl_free(outs);
  gl_free(lat);
  gl_plan_destroy(plan);
  gl_backend_destroy(be);
  gl_model_destroy(m);
  return rc;
bad:
  fprintf(stderr, "gpulet run: bad value '%s' for an option\n", optarg);
  return 2;
}
