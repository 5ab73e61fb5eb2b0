/* cli/cmd_check_onnx.c - `gpulet check-onnx DIR...`: runs ONNX test cases on the CPU, compares outputs. */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cpu/cpu.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "engine/engine.h"

#define MAX_IO 256

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet check-onnx DIR... [--rtol R] [--atol A] [--summary-only] [--threads T]\n"
          "                          [--min-pass N] [--device cpu|cuda[:N]]\n"
          "  A DIR is an ONNX test case (model.onnx + test_data_set_*/{input,output}_N.pb) or a\n"
          "  folder of cases, run in name order. Each case is compiled for its inputs' shapes on\n"
          "  the device (default the CPU), run, and its outputs compared: floats within\n"
          "  atol + rtol*|expected| (defaults 1e-7 and 1e-3; NaN matches NaN), integers and\n"
          "  bools exactly. Prints PASS, FAIL or SKIP (unsupported op, type, ...) per case and\n"
          "  `N passed, N failed, N skipped`.\n"
          "  --summary-only prints per DIR the counts, the failures and the skip reasons by count.\n"
          "  Exits 1 if any case failed or fewer than N passed (--min-pass), else 0.\n");
}

typedef enum { R_PASS, R_FAIL, R_SKIP } result_t;

typedef struct {
  char *reason;
  int count;
} reason_t;

typedef struct {
  double rtol, atol;
  int threads;
  bool summary_only;
  gl_backend_t *be;
  /* per DIR */
  int passed, failed, skipped;
  reason_t *reasons;
  size_t n_reasons, cap_reasons;
  char **failures;
  size_t n_failures, cap_failures;
} ctx_t;

static bool exists(const char *path, bool dir) {
  struct stat st;
  return !stat(path, &st) && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the entries of dir that start with prefix (all but dot files when prefix is ""). */
static gl_status_t list_dir(const char *dir, const char *prefix, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return gl_err(GL_EIO, "cannot open folder '%s'", dir);
  char **names = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *e;
  gl_status_t st = GL_OK;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix))) continue;
    if (gl_grow((void **)&names, &cap, cnt + 1, sizeof *names) || !(names[cnt] = gl_strdup(e->d_name))) {
      st = gl_err(GL_ENOMEM, "out of memory");
      break;
    }
    cnt++;
  }
  closedir(d);
  if (st) {
    for (size_t i = 0; i < cnt; i++) gl_free(names[i]);
    gl_free(names);
    return st;
  }
  if (cnt) qsort(names, cnt, sizeof *names, cmp_str);
  *out = names;
  *n = cnt;
  return GL_OK;
}

static void free_list(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) gl_free(names[i]);
  gl_free(names);
}

/* The current error message without a leading "<path>: " the loader added. */
static const char *msg_without(const char *path) {
  const char *m = gl_errmsg();
  size_t pl = strlen(path);
  if (!strncmp(m, path, pl) && !strncmp(m + pl, ": ", 2)) m += pl + 2;
  return m[0] ? m : "failed";
}

/* A skip reason without the names of nodes, inputs, outputs and tensors ("Foo node 'n1': x" ->
 * "Foo node: x") so that reasons group across cases; op and attribute names stay. */
static void normalize_reason(const char *in, char *out, size_t cap) {
  static const char *const kinds[] = {" node '", "graph input '", "graph output '", "tensor '", "initializer '"};
  snprintf(out, cap, "%s", in);
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    char *q = strstr(out, kinds[k]);
    if (!q) continue;
    char *open = q + strlen(kinds[k]) - 1, *close = strchr(open + 1, '\'');
    if (!close) continue;
    memmove(open - 1, close + 1, strlen(close + 1) + 1); /* also drops the space before the quote */
  }
}

static void record(ctx_t *c, const char *name, result_t r, const char *msg) {
  if (r == R_PASS) {
    c->passed++;
    if (!c->summary_only) printf("PASS %s\n", name);
  } else if (r == R_FAIL) {
    c->failed++;
    if (!c->summary_only) {
      printf("FAIL %s: %s\n", name, msg);
    } else if (!gl_grow((void **)&c->failures, &c->cap_failures, c->n_failures + 1, sizeof *c->failures)) {
      char buf[1200];
      snprintf(buf, sizeof buf, "%s: %s", name, msg);
      if ((c->failures[c->n_failures] = gl_strdup(buf))) c->n_failures++;
    }
  } else {
    c->skipped++;
    if (!c->summary_only) printf("SKIP %s: %s\n", name, msg);
    char norm[1024];
    normalize_reason(msg, norm, sizeof norm);
    for (size_t i = 0; i < c->n_reasons; i++)
      if (!strcmp(c->reasons[i].reason, norm)) {
        c->reasons[i].count++;
        return;
      }
    if (!gl_grow((void **)&c->reasons, &c->cap_reasons, c->n_reasons + 1, sizeof *c->reasons) &&
        (c->reasons[c->n_reasons].reason = gl_strdup(norm)))
      c->reasons[c->n_reasons++].count = 1;
  }
  fflush(stdout);
}

/* Compares got against want; writes a failure description into msg and returns false on mismatch. */
static bool compare(const ctx_t *c, const gl_tensor_t *got, const gl_tensor_t *want, char *msg, size_t cap) {
  char a[160], b[160];
  if (got->dtype != want->dtype) {
    snprintf(msg, cap, "type %s, expected %s", gl_dtype_name(got->dtype), gl_dtype_name(want->dtype));
    return false;
  }
  if (!gl_shape_eq(&got->shape, &want->shape)) {
    snprintf(msg, cap, "shape %s, expected %s", gl_shape_str(&got->shape, a, sizeof a),
             gl_shape_str(&want->shape, b, sizeof b));
    return false;
  }
  int64_t n = gl_shape_numel(&want->shape);
  if (gl_dtype_is_float(want->dtype)) {
    int64_t worst = -1;
    double worst_excess = 0;
    for (int64_t i = 0; i < n; i++) {
      double x = gl_tensor_get_f64(got, i), e = gl_tensor_get_f64(want, i);
      double excess;
      if (isnan(e) || isnan(x)) excess = isnan(e) && isnan(x) ? 0 : INFINITY;
      else if (isinf(e) || isinf(x)) excess = x == e ? 0 : INFINITY;
      else excess = fabs(x - e) - (c->atol + c->rtol * fabs(e));
      if (excess > 0 && (worst < 0 || excess > worst_excess)) {
        worst = i;
        worst_excess = excess;
      }
    }
    if (worst < 0) return true;
    double x = gl_tensor_get_f64(got, worst), e = gl_tensor_get_f64(want, worst);
    double ad = fabs(x - e);
    snprintf(msg, cap, "worst element %lld got %.9g expected %.9g (abs err %.3g, rel err %.3g)", (long long)worst,
             x, e, ad, e != 0 ? ad / fabs(e) : INFINITY);
    return false;
  }
  size_t es = gl_dtype_size(want->dtype);
  for (int64_t i = 0; i < n; i++) {
    if (memcmp((const char *)got->data + (size_t)i * es, (const char *)want->data + (size_t)i * es, es)) {
      if (want->dtype == GL_DT_U64)
        snprintf(msg, cap, "element %lld got %llu expected %llu", (long long)i,
                 (unsigned long long)((const uint64_t *)got->data)[i],
                 (unsigned long long)((const uint64_t *)want->data)[i]);
      else
        snprintf(msg, cap, "element %lld got %lld expected %lld", (long long)i,
                 (long long)gl_tensor_get_i64(got, i), (long long)gl_tensor_get_i64(want, i));
      return false;
    }
  }
  return true;
}

/* Reads files "<dir>/<prefix>N.pb" for N = 0, 1, ... into ts (at most MAX_IO). */
static gl_status_t read_numbered(const char *dir, const char *prefix, gl_tensor_t *ts, char **names, int *n) {
  *n = 0;
  for (int i = 0; i < MAX_IO; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%d.pb", dir, prefix, i);
    if (!exists(path, false)) return GL_OK;
    GL_TRY(gl_onnx_read_tensor_file(path, &ts[i], names ? &names[i] : NULL));
    (*n)++;
  }
  return gl_err(GL_ELIMIT, "more than %d %s files in '%s'", MAX_IO, prefix, dir);
}

/* Runs one data set; returns the result and fills msg. */
static result_t run_data_set(ctx_t *c, const gl_model_t *m, const char *dsdir, const char *dsname, char *msg,
                             size_t cap) {
  const gl_graph_t *g = gl_model_graph(m);
  gl_tensor_t *files = gl_calloc(MAX_IO, sizeof *files), *ins = gl_calloc(MAX_IO, sizeof *ins);
  gl_tensor_t *want = gl_calloc(MAX_IO, sizeof *want), *outs = NULL;
  char **names = gl_calloc(MAX_IO, sizeof *names);
  gl_shape_t *shapes = gl_calloc(MAX_IO, sizeof *shapes);
  gl_plan_t *plan = NULL;
  int n_files = 0, n_want = 0;
  result_t r = R_FAIL;
  if (!files || !ins || !want || !names || !shapes) {
    snprintf(msg, cap, "out of memory");
    goto done;
  }
  gl_status_t st = read_numbered(dsdir, "input_", files, names, &n_files);
  if (!st) st = read_numbered(dsdir, "output_", want, NULL, &n_want);
  if (st) {
    snprintf(msg, cap, "%s: %s", dsname, gl_errmsg());
    r = st == GL_EUNSUPPORTED ? R_SKIP : R_FAIL;
    goto done;
  }
  if (n_files != g->n_inputs) {
    snprintf(msg, cap, "%s: the model has %d inputs but the data set has %d", dsname, g->n_inputs, n_files);
    goto done;
  }
  /* Bind files to graph inputs by name where they are named, else by position. */
  bool used[MAX_IO] = {0};
  int slot_of[MAX_IO];
  for (int i = 0; i < n_files; i++) slot_of[i] = -1;
  for (int i = 0; i < n_files; i++) {
    for (int k = 0; names[i] && k < g->n_inputs; k++)
      if (!used[k] && !strcmp(g->values[g->inputs[k]].name, names[i])) {
        slot_of[i] = k;
        used[k] = true;
        break;
      }
  }
  for (int i = 0; i < n_files; i++) {
    if (slot_of[i] >= 0) continue;
    if (used[i]) {
      snprintf(msg, cap, "%s: cannot match input files to the model's inputs", dsname);
      goto done;
    }
    slot_of[i] = i;
    used[i] = true;
  }
  for (int i = 0; i < n_files; i++) {
    int k = slot_of[i];
    ins[k] = files[i];
    shapes[k] = files[i].shape;
    const gl_value_t *v = &g->values[g->inputs[k]];
    if (v->dtype == GL_DT_BF16 && files[i].dtype == GL_DT_U16) /* ONNX's test data stores bfloat16 as uint16 */
      ins[k].dtype = files[i].dtype = GL_DT_BF16;
    if (v->dtype != files[i].dtype) {
      snprintf(msg, cap, "%s: input '%s' is %s in the data but %s in the model", dsname, v->name,
               gl_dtype_name(files[i].dtype), gl_dtype_name(v->dtype));
      goto done;
    }
  }
  /* A few of ONNX's cases declare an input shape their own data contradicts (the castlike
   * tests); the data wins: compile a copy whose input takes the data's shape. */
  gl_model_t *fixed = NULL;
  bool conflict = false;
  for (int k = 0; k < g->n_inputs; k++) {
    const gl_value_t *v = &g->values[g->inputs[k]];
    if (v->shape.rank < 0) continue;
    conflict |= v->shape.rank != shapes[k].rank;
    for (int d = 0; d < v->shape.rank && d < shapes[k].rank; d++)
      conflict |= v->shape.d[d] >= 0 && v->shape.d[d] != shapes[k].d[d];
  }
  if (conflict) {
    gl_graph_t *copy = gl_graph_clone(g);
    if (!copy || gl_model_from_graph(copy, &fixed)) {
      snprintf(msg, cap, "out of memory");
      goto done;
    }
    for (int k = 0; k < copy->n_inputs; k++) {
      gl_value_t *v = &copy->values[copy->inputs[k]];
      v->shape = shapes[k];
      for (int d = 0; d < GL_MAX_RANK; d++) gl_free(v->dim_param[d]), v->dim_param[d] = NULL;
    }
  }
  gl_compile_opts_t co = {.input_shapes = shapes, .placement = {.threads = c->threads}, .input_values = ins};
  st = gl_model_compile(fixed ? fixed : m, c->be, &co, &plan);
  gl_model_destroy(fixed);
  if (st) {
    snprintf(msg, cap, "%s", gl_errmsg()[0] ? gl_errmsg() : gl_status_str(st));
    r = st == GL_EUNSUPPORTED ? R_SKIP : R_FAIL;
    goto done;
  }
  if (plan->n_outputs != n_want) {
    snprintf(msg, cap, "%s: the model has %d outputs but the data set has %d", dsname, plan->n_outputs, n_want);
    goto done;
  }
  outs = gl_calloc((size_t)plan->n_outputs + 1, sizeof *outs);
  if (!outs || gl_plan_alloc_outputs(plan, outs)) {
    snprintf(msg, cap, "allocating outputs: %s", gl_errmsg());
    goto done;
  }
  st = gl_plan_run(plan, ins, outs);
  if (!st) st = gl_plan_wait(plan);
  if (st) {
    snprintf(msg, cap, "run: %s", gl_errmsg());
    r = st == GL_EUNSUPPORTED ? R_SKIP : R_FAIL;
    goto done;
  }
  for (int k = 0; k < n_want; k++) {
    char why[600];
    if (outs[k].dtype == GL_DT_BF16 && want[k].dtype == GL_DT_U16) want[k].dtype = GL_DT_BF16;
    if (!compare(c, &outs[k], &want[k], why, sizeof why)) {
      if (!strcmp(dsname, "test_data_set_0")) snprintf(msg, cap, "output %d: %s", k, why);
      else snprintf(msg, cap, "%s: output %d: %s", dsname, k, why);
      goto done;
    }
  }
  r = R_PASS;
done:
  for (int i = 0; files && i < n_files; i++) gl_tensor_fini(&files[i]);
  for (int i = 0; want && i < n_want; i++) gl_tensor_fini(&want[i]);
  for (int i = 0; names && i < MAX_IO; i++) gl_free(names[i]);
  for (int i = 0; outs && plan && i < plan->n_outputs; i++) gl_tensor_fini(&outs[i]);
  gl_free(outs);
  gl_plan_destroy(plan);
  gl_free(files), gl_free(ins), gl_free(want), gl_free(names), gl_free(shapes);
  return r;
}

static void run_case(ctx_t *c, const char *dir, const char *name) {
  char path[4096], msg[2048];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  if (!exists(path, false)) {
    record(c, name, R_SKIP, "no model.onnx");
    return;
  }
  gl_model_t *m = NULL;
  gl_status_t st = gl_model_load(path, &m);
  if (st) {
    snprintf(msg, sizeof msg, "%s", msg_without(path));
    if (st == GL_EUNSUPPORTED) {
      record(c, name, R_SKIP, msg);
    } else {
      char full[2100];
      snprintf(full, sizeof full, "load: %s", msg);
      record(c, name, R_FAIL, full);
    }
    return;
  }
  char **sets = NULL;
  size_t n_sets = 0;
  if (list_dir(dir, "test_data_set_", &sets, &n_sets) || n_sets == 0) {
    record(c, name, R_SKIP, "no test_data_set_* folder");
  } else {
    result_t r = R_PASS;
    for (size_t s = 0; s < n_sets && r == R_PASS; s++) {
      char dsdir[4096];
      snprintf(dsdir, sizeof dsdir, "%s/%s", dir, sets[s]);
      r = run_data_set(c, m, dsdir, sets[s], msg, sizeof msg);
    }
    record(c, name, r, msg);
  }
  free_list(sets, n_sets);
  gl_model_destroy(m);
}

static int cmp_reason(const void *a, const void *b) {
  const reason_t *x = a, *y = b;
  if (x->count != y->count) return y->count - x->count;
  return strcmp(x->reason, y->reason);
}

static void reset_dir_stats(ctx_t *c) {
  for (size_t i = 0; i < c->n_reasons; i++) gl_free(c->reasons[i].reason);
  for (size_t i = 0; i < c->n_failures; i++) gl_free(c->failures[i]);
  gl_free(c->reasons);
  gl_free(c->failures);
  c->reasons = NULL;
  c->failures = NULL;
  c->n_reasons = c->cap_reasons = c->n_failures = c->cap_failures = 0;
  c->passed = c->failed = c->skipped = 0;
}

static const char *base_name(const char *p) {
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') n--;
  const char *s = p + n;
  while (s > p && s[-1] != '/') s--;
  return s;
}

int gl_cmd_check_onnx(int argc, char **argv) {
  static const struct option opts[] = {
      {"rtol", required_argument, 0, 'r'},   {"atol", required_argument, 0, 'a'},
      {"summary-only", no_argument, 0, 'S'}, {"threads", required_argument, 0, 't'},
      {"min-pass", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
      {"device", required_argument, 0, 'd'},
      {0, 0, 0, 0}};
  ctx_t c = {.rtol = 1e-3, .atol = 1e-7};
  long min_pass = 0;
  const char *device = "cpu";
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "r:a:St:m:hd:", opts, NULL)) != -1) {
    char *end = NULL;
    switch (ch) {
      case 'r': c.rtol = strtod(optarg, &end); if (*end || !(c.rtol >= 0)) goto bad; break;
      case 'a': c.atol = strtod(optarg, &end); if (*end || !(c.atol >= 0)) goto bad; break;
      case 'S': c.summary_only = true; break;
      case 't': c.threads = (int)strtol(optarg, &end, 10); if (*end || c.threads < 1 || c.threads > 4096) goto bad; break;
      case 'm': min_pass = strtol(optarg, &end, 10); if (*end || min_pass < 0) goto bad; break;
      case 'h': usage(stdout); return 0;
      case 'd': device = optarg; break;
      default: usage(stderr); return 2;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  int brc = gl_cli_backend("check-onnx", device, &c.be);
  if (brc) return brc;
  int total_pass = 0, total_fail = 0, total_skip = 0;
  for (int a = optind; a < argc; a++) {
    const char *dir = argv[a];
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (exists(path, false)) {
      run_case(&c, dir, base_name(dir));
    } else if (exists(dir, true)) {
      char **cases = NULL;
      size_t n = 0;
      if (list_dir(dir, "", &cases, &n)) {
        gl_cli_fail(dir);
        c.failed++;
      }
      int found = 0;
      for (size_t i = 0; i < n; i++) {
        char cdir[4096];
        snprintf(cdir, sizeof cdir, "%s/%s", dir, cases[i]);
        if (exists(cdir, true)) run_case(&c, cdir, cases[i]), found++;
      }
      if (!found) run_case(&c, dir, base_name(dir)); /* an empty case: reports the missing model */
      free_list(cases, n);
    } else {
      fprintf(stderr, "gpulet check-onnx: '%s' is neither a test case nor a folder\n", dir);
      c.failed++;
    }
    if (c.summary_only) {
      printf("%s: %d passed, %d failed, %d skipped\n", dir, c.passed, c.failed, c.skipped);
      for (size_t i = 0; i < c.n_failures; i++) printf("  FAIL %s\n", c.failures[i]);
      if (c.n_reasons) qsort(c.reasons, c.n_reasons, sizeof *c.reasons, cmp_reason);
      for (size_t i = 0; i < c.n_reasons; i++) printf("  %5d skipped: %s\n", c.reasons[i].count, c.reasons[i].reason);
    }
    total_pass += c.passed, total_fail += c.failed, total_skip += c.skipped;
    reset_dir_stats(&c);
  }
  gl_backend_destroy(c.be);
  printf("%d passed, %d failed, %d skipped\n", total_pass, total_fail, total_skip);
  if (total_pass < min_pass) printf("fewer than the %ld passes required (--min-pass)\n", min_pass);
  return total_fail > 0 || total_pass < min_pass ? 1 : 0;
bad:
  fprintf(stderr, "gpulet check-onnx: bad value '%s' for an option\n", optarg);
  return 2;
}
