/* cli/cmd_zoo.c - `gpulet zoo`: list the model zoo, write a zoo model as ONNX, or check gpulet's
 * outputs for a model against reference outputs (ONNX Runtime's, from tools/ort/run.js). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "onnx/onnx.h"
#include "zoo/zoo.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet zoo --list\n"
          "       gpulet zoo NAME -o FILE.onnx [--seed S] [--batch dynamic|N] [--seq L]\n"
          "       gpulet zoo --check MODEL.onnx --data DIR [--rtol R] [--atol A] [--threads T]\n"
          "  --list prints each model with its parameters, multiply-adds per sample and input.\n"
          "  NAME -o writes the model as ONNX with weights drawn from seed S (default 1); the batch\n"
          "  dim is symbolic ('batch') unless --batch N; --seq sets BERT's sequence length (128).\n"
          "  --check runs MODEL on DIR/input_<i>.pb and compares each output with DIR/output_<i>.pb:\n"
          "  an element passes when |got - want| <= atol + rtol * |want| (defaults 1e-3, 1e-4).\n"
          "  It prints PASS or FAIL with the largest errors (exit 0 or 1), or SKIP naming the ops\n"
          "  gpulet cannot run yet (exit 77). A reference output whose rms is outside [1e-3, 1e3]\n"
          "  fails too: the model's activations vanished or exploded, so the comparison means little.\n");
}

static void input_desc(const gl_graph_t *g, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < g->n_inputs && o < cap; i++) {
    const gl_value_t *v = &g->values[g->inputs[i]];
    o += (size_t)snprintf(buf + o, cap - o, "%s%s %s [", i ? ", " : "", v->name, gl_dtype_name(v->dtype));
    for (int d = 0; d < v->shape.rank && o < cap; d++) {
      if (v->dim_param[d]) o += (size_t)snprintf(buf + o, cap - o, "%s%s", d ? "," : "", v->dim_param[d]);
      else o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? "," : "", (long long)v->shape.d[d]);
    }
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, "]");
  }
}

static int list(void) {
  printf("%-14s %12s %12s  %-34s %s\n", "model", "params", "MMACs", "input", "architecture");
  for (int i = 0; i < gl_zoo_count(); i++) {
    const gl_zoo_info_t *info = gl_zoo_info(i);
    gl_graph_t *g = NULL;
    gl_zoo_opts_t o = {.seed = 1, .batch = 0, .seq = 128};
    if (gl_zoo_build(info->name, &o, &g)) return gl_cli_fail(info->name);
    gl_zoo_stats_t st;
    gl_zoo_stats(g, &st);
    char in[256];
    input_desc(g, in, sizeof in);
    printf("%-14s %12lld %12.1f  %-34s %s\n", info->name, (long long)st.params, (double)st.macs / 1e6, in,
           info->summary);
    gl_graph_destroy(g);
  }
  return 0;
}

static int make(const char *name, const char *path, const gl_zoo_opts_t *o) {
  int64_t t0 = gl_now_ns();
  gl_graph_t *g = NULL;
  if (gl_zoo_build(name, o, &g)) return gl_cli_fail(name);
  int64_t t1 = gl_now_ns();
  gl_zoo_stats_t st;
  gl_zoo_stats(g, &st);
  if (gl_onnx_save_file(g, path, "gpulet zoo")) {
    gl_graph_destroy(g);
    return gl_cli_fail(path);
  }
  int64_t t2 = gl_now_ns();
  char in[256];
  input_desc(g, in, sizeof in);
  printf("%s: %s, opset %lld, %d nodes, %lld params, %.1f MMACs per sample, inputs: %s; built in %.0f ms, "
         "written in %.0f ms to %s\n",
         name, gl_zoo_find(name)->summary, (long long)g->opset, st.n_nodes, (long long)st.params,
         (double)st.macs / 1e6 / (o->batch > 0 ? (double)o->batch : 1.0), in, gl_ns_to_ms(t1 - t0),
         gl_ns_to_ms(t2 - t1), path);
  gl_graph_destroy(g);
  return 0;
}

/* The ops of g the CPU backend has no kernel for, comma-separated into buf; true if any. */
static bool missing_ops(const gl_graph_t *g, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const char *op = g->nodes[i].op_type;
    if (gl_cpu_supports(op)) continue;
    bool dup = false;
    for (int j = 0; j < i && !dup; j++) dup = !strcmp(g->nodes[j].op_type, op);
    if (!dup && o < cap) o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", op);
  }
  return o > 0;
}

static bool file_exists(const char *p) {
  FILE *f = fopen(p, "rb");
  if (f) fclose(f);
  return f != NULL;
}

static int check(const char *model, const char *dir, double rtol, double atol, int threads) {
  int rc = 1;
  gl_model_t *m = NULL;
  gl_backend_t *be = NULL;
  gl_plan_t *plan = NULL;
  gl_tensor_t *ins = NULL, *outs = NULL, want = {0};
  gl_shape_t *shapes = NULL;
  char path[4096], buf[1024];
  if (gl_model_load(model, &m)) return gl_cli_fail(model);
  const gl_graph_t *g = gl_model_graph(m);
  if (missing_ops(g, buf, sizeof buf)) {
    printf("SKIP %s: gpulet has no CPU kernel for %s\n", model, buf);
    rc = 77;
    goto done;
  }
  ins = gl_calloc((size_t)g->n_inputs + 1, sizeof *ins);
  shapes = gl_calloc((size_t)g->n_inputs + 1, sizeof *shapes);
  if (!ins || !shapes) { rc = gl_cli_fail("inputs"); goto done; }
  for (int i = 0; i < g->n_inputs; i++) {
    snprintf(path, sizeof path, "%s/input_%d.pb", dir, i);
    if (gl_onnx_read_tensor_file(path, &ins[i], NULL)) { rc = gl_cli_fail(path); goto done; }
    shapes[i] = ins[i].shape;
  }
  if (gl_cpu_backend_create(&be)) { rc = gl_cli_fail("cpu backend"); goto done; }
  gl_compile_opts_t co = {.batch = ins[0].shape.rank ? ins[0].shape.d[0] : 1, .input_shapes = shapes,
                          .placement = {.threads = threads}};
  gl_status_t cst = gl_model_compile(m, be, &co, &plan);
  if (cst) {
    if (cst == GL_EUNSUPPORTED) {
      printf("SKIP %s: %s\n", model, gl_errmsg());
      rc = 77;
    } else {
      rc = gl_cli_fail(model);
    }
    goto done;
  }
  outs = gl_calloc((size_t)plan->n_outputs + 1, sizeof *outs);
  if (!outs || gl_plan_alloc_outputs(plan, outs)) { rc = gl_cli_fail("outputs"); goto done; }
  int64_t t0 = gl_now_ns();
  if (gl_plan_run(plan, ins, outs) || gl_plan_wait(plan)) { rc = gl_cli_fail("run"); goto done; }
  double ms = gl_ns_to_ms(gl_now_ns() - t0);
  bool ok = true;
  int compared = 0;
  for (int o = 0; o < plan->n_outputs; o++) {
    snprintf(path, sizeof path, "%s/output_%d.pb", dir, o);
    if (!file_exists(path)) break;
    compared++;
    if (gl_onnx_read_tensor_file(path, &want, NULL)) { rc = gl_cli_fail(path); goto done; }
    int64_t n = gl_shape_numel(&want.shape);
    if (!gl_shape_eq(&want.shape, &outs[o].shape)) {
      char a[128], b[128];
      printf("FAIL %s: output %s has shape %s, the reference %s\n", model, plan->output_names[o],
             gl_shape_str(&outs[o].shape, a, sizeof a), gl_shape_str(&want.shape, b, sizeof b));
      ok = false;
      gl_tensor_fini(&want);
      continue;
    }
    double max_abs = 0, max_rel = 0, ref_max = 0, ref_sq = 0;
    int64_t bad = 0, worst = 0;
    for (int64_t e = 0; e < n; e++) {
      double w = gl_tensor_get_f64(&want, e), got = gl_tensor_get_f64(&outs[o], e);
      double d = fabs(got - w);
      if (!(d <= atol + rtol * fabs(w))) bad++;
      if (!(d <= max_abs)) { max_abs = d; worst = e; }
      if (fabs(w) > 1e-6 && d / fabs(w) > max_rel) max_rel = d / fabs(w);
      if (fabs(w) > ref_max) ref_max = fabs(w);
      ref_sq += w * w;
    }
    printf("%s %s: output %s %lld elements: max abs err %.3g (at %lld), max rel err %.3g, %lld outside "
           "tolerance; reference max |x| %.3g, rms %.3g\n",
           bad ? "FAIL" : "PASS", model, plan->output_names[o], (long long)n, max_abs, (long long)worst,
           max_rel, (long long)bad, ref_max, n ? sqrt(ref_sq / (double)n) : 0.0);
    double rms = n ? sqrt(ref_sq / (double)n) : 0.0;
    if (!(rms >= 1e-3 && rms <= 1e3)) {
      printf("FAIL %s: output %s: the reference's rms %.3g says the activations vanished or exploded\n", model,
             plan->output_names[o], rms);
      ok = false;
    }
    if (bad) ok = false;
    gl_tensor_fini(&want);
  }
  if (!compared) {
    printf("FAIL %s: no reference outputs (%s/output_0.pb...)\n", model, dir);
    ok = false;
  }
  printf("gpulet run %.1f ms (first run, batch %lld)\n", ms, (long long)co.batch);
  rc = ok ? 0 : 1;
done:
  for (int i = 0; ins && i < g->n_inputs; i++) gl_tensor_fini(&ins[i]);
  for (int i = 0; outs && plan && i < plan->n_outputs; i++) gl_tensor_fini(&outs[i]);
  gl_free(ins);
  gl_free(outs);
  gl_free(shapes);
  gl_plan_destroy(plan);
  gl_backend_destroy(be);
  gl_model_destroy(m);
  return rc;
}

int gl_cmd_zoo(int argc, char **argv) {
  static const struct option opts[] = {
      {"list", no_argument, 0, 'l'},        {"output", required_argument, 0, 'o'},
      {"seed", required_argument, 0, 's'},  {"batch", required_argument, 0, 'b'},
      {"seq", required_argument, 0, 'q'},   {"check", required_argument, 0, 'c'},
      {"data", required_argument, 0, 'd'},  {"rtol", required_argument, 0, 'r'},
      {"atol", required_argument, 0, 'a'},  {"threads", required_argument, 0, 't'},
      {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
  bool do_list = false;
  const char *out = NULL, *check_model = NULL, *data = NULL;
  gl_zoo_opts_t o = {.seed = 1, .batch = 0, .seq = 128};
  double rtol = 1e-3, atol = 1e-4;
  long threads = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "lo:s:b:q:c:d:r:a:t:h", opts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
      case 'l': do_list = true; break;
      case 'o': out = optarg; break;
      case 's': o.seed = strtoull(optarg, &end, 10); if (*end || !*optarg) goto bad; break;
      case 'b':
        if (!strcmp(optarg, "dynamic")) o.batch = 0;
        else { o.batch = strtoll(optarg, &end, 10); if (*end || o.batch < 1 || o.batch > 65536) goto bad; }
        break;
      case 'q': o.seq = strtoll(optarg, &end, 10); if (*end || o.seq < 1 || o.seq > 512) goto bad; break;
      case 'c': check_model = optarg; break;
      case 'd': data = optarg; break;
      case 'r': rtol = strtod(optarg, &end); if (*end || !(rtol >= 0)) goto bad; break;
      case 'a': atol = strtod(optarg, &end); if (*end || !(atol >= 0)) goto bad; break;
      case 't': threads = strtol(optarg, &end, 10); if (*end || threads < 1 || threads > 4096) goto bad; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (do_list) return optind == argc ? list() : (usage(stderr), 2);
  if (check_model) {
    if (!data || optind != argc) { usage(stderr); return 2; }
    return check(check_model, data, rtol, atol, (int)threads);
  }
  if (optind != argc - 1 || !out) { usage(stderr); return 2; }
  if (!gl_zoo_find(argv[optind])) {
    fprintf(stderr, "gpulet zoo: no model '%s'; `gpulet zoo --list` shows them\n", argv[optind]);
    return 2;
  }
  return make(argv[optind], out, &o);
bad:
  fprintf(stderr, "gpulet zoo: bad value '%s' for an option\n", optarg);
  return 2;
}
