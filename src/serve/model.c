/* serve/model.c - a served model's configuration (config.json) and loading from its folder. */
#include "serve/model.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "core/alloc.h"
#include "core/clock.h"

/* exec.c */
void gl_smodel_exec_stop(gl_smodel_t *m);

bool gl_smodel_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 127 || name[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.'))
      return false;
  }
  return true;
}

/* Reads a whole small file relative to dirfd without following symlinks. */
static gl_status_t read_small(int dirfd, const char *file, char **out, size_t *len, size_t cap) {
  int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return GL_ENOTFOUND;
    return gl_err(GL_EIO, "%s: %s", file, errno == ELOOP ? "is a symbolic link (not allowed)" : strerror(errno));
  }
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > cap) {
    close(fd);
    return gl_err(GL_EINVAL, "%s: not a regular file of at most %zu bytes", file, cap);
  }
  char *buf = gl_malloc((size_t)sb.st_size + 1);
  if (!buf) { close(fd); return gl_err(GL_ENOMEM, "out of memory"); }
  size_t got = 0;
  while (got < (size_t)sb.st_size) {
    ssize_t k = read(fd, buf + got, (size_t)sb.st_size - got);
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  buf[got] = 0;
  *out = buf;
  *len = got;
  return GL_OK;
}

static gl_status_t cfg_int(json_t *v, const char *key, long long lo, long long hi, long long *out) {
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return gl_err(GL_EINVAL, "config.json: '%s' must be an integer in [%lld, %lld]", key, lo, hi);
  *out = json_integer_value(v);
  return GL_OK;
}

gl_status_t gl_smodel_read_config(int dirfd, const char *name, gl_smodel_cfg_t *cfg) {
  cfg->max_batch = -1; /* decided from the model when absent */
  cfg->slo_ms = 100;
  cfg->slo_percentile = 99;
  cfg->priority = 0;
  cfg->serve_late = false;
  cfg->max_queue = 256;
  cfg->collect_us = 0;
  cfg->warm = true;
  cfg->precision = 0; /* GL_PREC_FP32 */
  cfg->rate = 0;
  cfg->profile_model[0] = 0;
  char *text = NULL;
  size_t len = 0;
  gl_status_t st = read_small(dirfd, "config.json", &text, &len, 1 << 20);
  if (st == GL_ENOTFOUND) return GL_OK;
  if (st) return st;
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  gl_free(text);
  if (!root) return gl_err(GL_EPARSE, "config.json: line %d: %s", je.line, je.text);
  if (!json_is_object(root)) { json_decref(root); return gl_err(GL_EPARSE, "config.json: must be an object"); }
  const char *k;
  json_t *v;
  long long x;
  json_object_foreach(root, k, v) {
    if (!strcmp(k, "name")) {
      if (!json_is_string(v) || strcmp(json_string_value(v), name)) { st = gl_err(GL_EINVAL, "config.json: 'name' must be the folder's name '%s'", name); break; }
    } else if (!strcmp(k, "max_batch_size")) {
      if ((st = cfg_int(v, k, 0, GL_BATCH_MAX, &x))) break;
      cfg->max_batch = (int)x;
    } else if (!strcmp(k, "slo_ms")) {
      if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 3.6e6) { st = gl_err(GL_EINVAL, "config.json: 'slo_ms' must be a number in (0, 3600000]"); break; }
      cfg->slo_ms = json_number_value(v);
    } else if (!strcmp(k, "precision")) {
      if (!json_is_string(v) || gl_precision_parse(json_string_value(v), &cfg->precision)) { st = gl_err(GL_EINVAL, "config.json: 'precision' must be \"fp32\", \"tf32\" or \"fp16\""); break; }
    } else if (!strcmp(k, "slo_percentile")) {
      if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 100) { st = gl_err(GL_EINVAL, "config.json: 'slo_percentile' must be a number in (0, 100]"); break; }
      cfg->slo_percentile = json_number_value(v);
    } else if (!strcmp(k, "priority")) {
      if ((st = cfg_int(v, k, 0, 1000, &x))) break;
      cfg->priority = (int)x;
    } else if (!strcmp(k, "serve_late")) {
      if (!json_is_boolean(v)) { st = gl_err(GL_EINVAL, "config.json: 'serve_late' must be a bool"); break; }
      cfg->serve_late = json_is_true(v);
    } else if (!strcmp(k, "max_queue_size")) {
      if ((st = cfg_int(v, k, 1, 65536, &x))) break;
      cfg->max_queue = (int)x;
    } else if (!strcmp(k, "max_queue_delay_us")) {
      if ((st = cfg_int(v, k, 0, 10000000, &x))) break;
      cfg->collect_us = x;
    } else if (!strcmp(k, "warm")) {
      if (!json_is_boolean(v)) { st = gl_err(GL_EINVAL, "config.json: 'warm' must be a bool"); break; }
      cfg->warm = json_is_true(v);
    } else if (!strcmp(k, "rate")) {
      if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e7) { st = gl_err(GL_EINVAL, "config.json: 'rate' must be a number in [0, 10000000] (req/s)"); break; }
      cfg->rate = json_number_value(v);
    } else if (!strcmp(k, "profile_model")) {
      if (!json_is_string(v) || !json_string_value(v)[0] || strlen(json_string_value(v)) >= sizeof cfg->profile_model) { st = gl_err(GL_EINVAL, "config.json: 'profile_model' must be a model name of the profile"); break; }
      snprintf(cfg->profile_model, sizeof cfg->profile_model, "%s", json_string_value(v));
    } else if (!strcmp(k, "inputs") || !strcmp(k, "outputs")) {
      /* checked against the model in apply_io */
      if (!json_is_array(v)) { st = gl_err(GL_EINVAL, "config.json: '%s' must be an array", k); break; }
    } else {
      st = gl_err(GL_EINVAL, "config.json: unknown field '%s'", k);
      break;
    }
  }
  json_decref(root);
  return st;
}

/* Applies config.json's "inputs" (dims of open dimensions) and checks "outputs" names. */
static gl_status_t apply_io(gl_smodel_t *m, int dirfd) {
  char *text = NULL;
  size_t len = 0;
  gl_status_t st = read_small(dirfd, "config.json", &text, &len, 1 << 20);
  if (st == GL_ENOTFOUND) return GL_OK;
  if (st) return st;
  json_t *root = json_loadb(text, len, 0, NULL);
  gl_free(text);
  if (!root) return gl_err(GL_EPARSE, "config.json: unreadable");
  json_t *ins = json_object_get(root, "inputs"), *outs = json_object_get(root, "outputs");
  size_t i;
  json_t *e;
  int off = m->cfg.max_batch > 0 ? 1 : 0;
  json_array_foreach(ins, i, e) {
    json_t *nm = json_object_get(e, "name"), *dims = json_object_get(e, "dims");
    if (!json_is_string(nm)) { st = gl_err(GL_EINVAL, "config.json: inputs[%zu] needs a 'name'", i); break; }
    gl_sio_t *io = NULL;
    for (int j = 0; j < m->n_inputs; j++)
      if (!strcmp(m->inputs[j].name, json_string_value(nm))) io = &m->inputs[j];
    if (!io) { st = gl_err(GL_EINVAL, "config.json: the model has no input '%s'", json_string_value(nm)); break; }
    if (!dims) continue;
    if (!json_is_array(dims) || (int)json_array_size(dims) + off != io->shape.rank) {
      st = gl_err(GL_ESHAPE, "config.json: input '%s': 'dims' must list %d dims%s", io->name, io->shape.rank - off, off ? " (without the batch dim)" : "");
      break;
    }
    for (int d = off; d < io->shape.rank; d++) {
      json_t *x = json_array_get(dims, (size_t)(d - off));
      if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > (1 << 24)) { st = gl_err(GL_ESHAPE, "config.json: input '%s': dims must be positive integers", io->name); break; }
      if (io->shape.d[d] >= 0 && io->shape.d[d] != json_integer_value(x)) {
        st = gl_err(GL_ESHAPE, "config.json: input '%s': dim %d is %lld in the model, not %lld", io->name, d, (long long)io->shape.d[d], (long long)json_integer_value(x));
        break;
      }
      io->shape.d[d] = json_integer_value(x);
    }
    if (st) break;
  }
  if (!st) json_array_foreach(outs, i, e) {
    json_t *nm = json_object_get(e, "name");
    bool found = false;
    for (int j = 0; json_is_string(nm) && j < m->n_outputs; j++)
      if (!strcmp(m->outputs[j].name, json_string_value(nm))) found = true;
    if (!found) { st = gl_err(GL_EINVAL, "config.json: outputs[%zu] names no output of the model", i); break; }
  }
  json_decref(root);
  return st;
}

static gl_status_t read_io(gl_smodel_t *m) {
  const gl_graph_t *g = gl_model_graph(m->model);
  if (g->n_inputs > GL_SMODEL_MAX_IO || g->n_outputs > GL_SMODEL_MAX_IO)
    return gl_err(GL_EUNSUPPORTED, "more than %d inputs or outputs", GL_SMODEL_MAX_IO);
  m->n_inputs = g->n_inputs;
  m->n_outputs = g->n_outputs;
  bool batchable = g->n_inputs > 0;
  for (int i = 0; i < g->n_inputs; i++) {
    const gl_value_t *v = &g->values[g->inputs[i]];
    snprintf(m->inputs[i].name, sizeof m->inputs[i].name, "%s", v->name);
    m->inputs[i].dtype = v->dtype;
    m->inputs[i].shape = v->shape;
    if (!gl_dtype_kserve(v->dtype) || v->dtype == GL_DT_STRING)
      return gl_err(GL_EUNSUPPORTED, "input '%s': datatype %s cannot be served", v->name, gl_dtype_name(v->dtype));
    if (v->shape.rank == 0 || v->shape.d[0] >= 0) batchable = false;
  }
  for (int i = 0; i < g->n_outputs; i++) {
    const gl_value_t *v = &g->values[g->outputs[i]];
    snprintf(m->outputs[i].name, sizeof m->outputs[i].name, "%s", v->name);
    m->outputs[i].dtype = v->dtype;
  }
  if (m->cfg.max_batch < 0) m->cfg.max_batch = batchable ? 8 : 0;
  if (m->cfg.max_batch > 0 && !batchable)
    return gl_err(GL_EINVAL, "config.json: max_batch_size %d needs every input's first dim to be variable (the batch); use max_batch_size 0", m->cfg.max_batch);
  return GL_OK;
}

/* Compiles batch 1 on this thread (one OpenMP thread), takes the output shapes from it and
 * times it (the faster of three runs): the fallback profile of a model the profile lacks. */
static gl_status_t probe(gl_smodel_t *m) {
  bool batched = m->cfg.max_batch > 0;
  gl_shape_t shapes[GL_SMODEL_MAX_IO];
  for (int i = 0; i < m->n_inputs; i++) {
    shapes[i] = m->inputs[i].shape;
    if (batched) shapes[i].d[0] = 1;
  }
  gl_compile_opts_t co = {.batch = 1, .input_shapes = shapes};
  co.placement.threads = 1;
  co.placement.precision = m->cfg.precision;
  gl_plan_t *p = NULL;
  GL_TRY(gl_model_compile(m->model, m->be, &co, &p));
  gl_tensor_t in[GL_SMODEL_MAX_IO] = {0}, out[GL_SMODEL_MAX_IO] = {0};
  gl_status_t st = GL_OK;
  if (p->n_inputs != m->n_inputs || p->n_outputs != m->n_outputs) {
    st = gl_err(GL_ESTATE, "the compiled plan has %d inputs and %d outputs, the model %d and %d", p->n_inputs, p->n_outputs, m->n_inputs, m->n_outputs);
    goto out;
  }
  for (int i = 0; i < p->n_inputs && !st; i++)
    if (strcmp(p->input_names[i], m->inputs[i].name)) st = gl_err(GL_ESTATE, "plan input %d is '%s', not '%s'", i, p->input_names[i], m->inputs[i].name);
  for (int o = 0; o < p->n_outputs && !st; o++) {
    if (batched && (p->outputs[o].shape.rank == 0 || p->outputs[o].shape.d[0] != 1))
      st = gl_err(GL_ESHAPE, "output '%s' does not have the batch as its first dim", p->output_names[o]);
    m->outputs[o].dtype = p->outputs[o].dtype;
    m->outputs[o].shape = p->outputs[o].shape;
    if (batched) m->outputs[o].shape.d[0] = -1;
  }
  for (int i = 0; i < p->n_inputs && !st; i++) {
    st = gl_tensor_alloc(&in[i], p->inputs[i].dtype, &p->inputs[i].shape);
    if (!st) memset(in[i].data, 0, gl_tensor_nbytes(&in[i]));
  }
  if (!st) st = gl_plan_alloc_outputs(p, out);
  int64_t best = INT64_MAX;
  for (int k = 0; k < 3 && !st; k++) {
    int64_t t0 = gl_now_ns();
    st = gl_plan_run(p, in, out);
    if (!st) st = gl_plan_wait(p);
    if (gl_now_ns() - t0 < best) best = gl_now_ns() - t0;
  }
  if (!st) m->lat1_ms = gl_ns_to_ms(best);
out:
  for (int i = 0; i < GL_SMODEL_MAX_IO; i++) {
    gl_tensor_fini(&in[i]);
    gl_tensor_fini(&out[i]);
  }
  gl_plan_destroy(p);
  return st;
}

gl_status_t gl_smodel_load(int repo_fd, const char *repo_path, const char *name, gl_smodel_t **out) {
  return gl_smodel_load_lim(repo_fd, repo_path, name, NULL, out);
}

gl_status_t gl_smodel_load_lim(int repo_fd, const char *repo_path, const char *name, const gl_onnx_limits_t *lim,
                               gl_smodel_t **out) {
  *out = NULL;
  if (!gl_smodel_name_ok(name)) return gl_err(GL_EINVAL, "'%s' is not a valid model name", name);
  gl_smodel_t *m = gl_calloc(1, sizeof *m);
  if (!m) return gl_err(GL_ENOMEM, "out of memory");
  snprintf(m->name, sizeof m->name, "%s", name);
  snprintf(m->dir, sizeof m->dir, "%s/%s", repo_path, name);
  atomic_init(&m->refs, 1);
  m->loaded_ns = gl_now_ns();
  m->pm = -1;
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->idle_cv, NULL);
  gl_status_t st = GL_OK;
  int dfd = openat(repo_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    st = errno == ENOENT ? gl_err(GL_ENOTFOUND, "no model '%s' in the repository", name)
                         : gl_err(GL_EINVAL, "model '%s': the folder %s", name,
                                  errno == ELOOP || errno == ENOTDIR ? "is a symbolic link or not a folder (not allowed)" : strerror(errno));
    goto fail;
  }
  if ((st = gl_smodel_read_config(dfd, name, &m->cfg))) goto fail_dfd;
  int ffd = openat(dfd, "model.onnx", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat sb;
  if (ffd < 0 || fstat(ffd, &sb) || !S_ISREG(sb.st_mode)) {
    st = gl_err(GL_EINVAL, "model '%s': model.onnx %s", name,
                ffd < 0 && errno == ENOENT ? "is missing"
                : ffd < 0 && errno == ELOOP ? "is a symbolic link (not allowed)" : "is not a regular file");
    if (ffd >= 0) close(ffd);
    goto fail_dfd;
  }
  if (lim && lim->max_file_bytes && (uint64_t)sb.st_size > lim->max_file_bytes) {
    st = gl_err(GL_ELIMIT, "model '%s': model.onnx is %lld bytes, more than the limit of %zu (--max-model-bytes)", name,
                (long long)sb.st_size, lim->max_file_bytes);
    close(ffd);
    goto fail_dfd;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", ffd);
  gl_graph_t *g = NULL;
  st = gl_onnx_load_file(path, lim, &g);
  if (!st) st = gl_model_from_graph(g, &m->model);
  close(ffd);
  if (st) { gl_err_wrap(st, "model '%s': model.onnx", name); goto fail_dfd; }
  if ((st = read_io(m))) { gl_err_wrap(st, "model '%s'", name); goto fail_dfd; }
  if ((st = apply_io(m, dfd))) { gl_err_wrap(st, "model '%s'", name); goto fail_dfd; }
  for (int i = 0; i < m->n_inputs; i++)
    for (int d = m->cfg.max_batch > 0 ? 1 : 0; d < m->inputs[i].shape.rank; d++)
      if (m->inputs[i].shape.d[d] < 0) {
        st = gl_err(GL_EINVAL, "model '%s': input '%s' dim %d is open; give it in config.json \"inputs\":[{\"name\":\"%s\",\"dims\":[...]}]",
                    name, m->inputs[i].name, d, m->inputs[i].name);
        goto fail_dfd;
      }
  close(dfd);
  dfd = -1;
  if ((st = gl_cpu_backend_create(&m->be))) goto fail;
  if ((st = gl_dqueue_init(&m->q, m->cfg.max_queue))) goto fail;
  if ((st = probe(m))) { gl_err_wrap(st, "model '%s'", name); goto fail; }
  m->accepting = true;
  *out = m;
  return GL_OK;
fail_dfd:
  close(dfd);
fail:
  m->accepting = false;
  gl_smodel_exec_stop(m);
  return st;
}

void gl_smodel_ref(gl_smodel_t *m) { atomic_fetch_add(&m->refs, 1); }

void gl_smodel_unref(gl_smodel_t *m) {
  if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
  gl_smodel_drain(m);
  gl_smodel_exec_stop(m);
}
