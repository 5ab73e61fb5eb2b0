/* serve/repo.c - the model repository: the default zoo set, scanning, loading and unloading models
 * into the server's table (each load and unload re-plans through the control loop). */
#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "serve/serve_int.h"
#include "zoo/zoo.h"

static const struct {
  const char *name;
  int max_batch;
  double slo_ms;
} defaults[] = {
    {"lenet", 16, 20},
    {"mobilenetv2", 8, 500},
    {"resnet50", 8, 2000},
};

static gl_status_t mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) && errno != EEXIST) return gl_err(GL_EIO, "mkdir %s: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0755) && errno != EEXIST) return gl_err(GL_EIO, "mkdir %s: %s", tmp, strerror(errno));
  return GL_OK;
}

gl_status_t gl_serve_default_repo(gl_server_t *s) {
  const char *dir = s->o.cache_dir;
  char buf[4096];
  if (!dir) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && x[0]) snprintf(buf, sizeof buf, "%s/gpulet/models", x);
    else snprintf(buf, sizeof buf, "%s/.cache/gpulet/models", h && h[0] ? h : "/tmp");
    dir = buf;
  }
  snprintf(s->repo_path, sizeof s->repo_path, "%s", dir);
  GL_TRY(mkdir_p(dir));
  const char *want = s->o.models ? s->o.models : "lenet,mobilenetv2";
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
    /* only the models asked for */
    const char *p = strstr(want, defaults[i].name);
    size_t nl = strlen(defaults[i].name);
    if (!p || (p != want && p[-1] != ',') || (p[nl] && p[nl] != ',')) continue;
    char mdir[4200], onnx[4300], tmp[4400], cfg[4300];
    snprintf(mdir, sizeof mdir, "%s/%s", dir, defaults[i].name);
    snprintf(onnx, sizeof onnx, "%s/model.onnx", mdir);
    snprintf(cfg, sizeof cfg, "%s/config.json", mdir);
    GL_TRY(mkdir_p(mdir));
    struct stat sb;
    if (stat(onnx, &sb)) {
      if (!s->o.quiet) fprintf(stderr, "gpulet serve: writing zoo model %s to %s\n", defaults[i].name, onnx);
      gl_graph_t *g = NULL;
      gl_zoo_opts_t zo = {.seed = 1, .batch = 0};
      GL_TRY(gl_zoo_build(defaults[i].name, &zo, &g));
      snprintf(tmp, sizeof tmp, "%s.tmp.%d", onnx, (int)getpid());
      gl_status_t st = gl_onnx_save_file(g, tmp, "gpulet serve");
      gl_graph_destroy(g);
      if (st) return st;
      if (rename(tmp, onnx)) return gl_err(GL_EIO, "rename %s: %s", tmp, strerror(errno));
    }
    if (stat(cfg, &sb)) {
      FILE *f = fopen(cfg, "w");
      if (!f) return gl_err(GL_EIO, "%s: %s", cfg, strerror(errno));
      fprintf(f, "{\"max_batch_size\": %d, \"slo_ms\": %g, \"slo_percentile\": 99}\n", defaults[i].max_batch, defaults[i].slo_ms);
      fclose(f);
    }
  }
  return GL_OK;
}

int gl_serve_scan(gl_server_t *s, char (*names)[128], int cap) {
  int fd = dup(s->repo_fd);
  if (fd < 0) return 0;
  DIR *d = fdopendir(fd);
  if (!d) { close(fd); return 0; }
  rewinddir(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    if (!gl_smodel_name_ok(e->d_name)) continue;
    struct stat sb;
    if (fstatat(s->repo_fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(sb.st_mode)) continue;
    snprintf(names[n++], 128, "%.127s", e->d_name);
  }
  closedir(d);
  /* sorted, for stable listings */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char t[128];
      memcpy(t, names[j], 128);
      memcpy(names[j], names[j - 1], 128);
      memcpy(names[j - 1], t, 128);
    }
  return n;
}

static gl_sentry_t *entry(gl_server_t *s, const char *name, bool create) {
  for (int i = 0; i < s->n_models; i++)
    if (!strcmp(s->models[i].name, name)) return &s->models[i];
  if (!create || s->n_models == GL_SERVE_MAX_MODELS) return NULL;
  gl_sentry_t *e = &s->models[s->n_models++];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->state = "UNAVAILABLE";
  return e;
}

gl_smodel_t *gl_serve_get(gl_server_t *s, const char *name) {
  pthread_mutex_lock(&s->mu);
  gl_sentry_t *e = entry(s, name, false);
  gl_smodel_t *m = e && e->m && !strcmp(e->state, "READY") ? e->m : NULL;
  if (m) gl_smodel_ref(m);
  pthread_mutex_unlock(&s->mu);
  return m;
}

/* Unload: no new requests, every admitted one answered by the gpu-lets still serving it, then a
 * re-plan without it retires its gpu-lets (caller holds load_mu). */
static gl_status_t unload_locked(gl_server_t *s, const char *name) {
  pthread_mutex_lock(&s->mu);
  gl_sentry_t *e = entry(s, name, false);
  gl_smodel_t *m = e && e->m && !strcmp(e->state, "READY") ? e->m : NULL;
  if (m) {
    e->state = "UNLOADING";
    gl_smodel_ref(m);
  }
  pthread_mutex_unlock(&s->mu);
  if (!m) return gl_err(GL_ENOTFOUND, "model '%s' is not loaded", name);
  gl_smodel_drain(m);
  pthread_mutex_lock(&s->mu);
  gl_smodel_t *held = e->m;
  e->m = NULL;
  pthread_mutex_unlock(&s->mu);
  gl_sctl_replan_wait(s, "unload", false);
  gl_smodel_unref(held); /* the table's reference */
  gl_smodel_unref(m);    /* ours: the last one once its gpu-lets are gone */
  pthread_mutex_lock(&s->mu);
  e->state = "UNAVAILABLE";
  snprintf(e->reason, sizeof e->reason, "unloaded");
  pthread_mutex_unlock(&s->mu);
  return GL_OK;
}

gl_status_t gl_serve_unload(gl_server_t *s, const char *name) {
  pthread_mutex_lock(&s->load_mu);
  gl_status_t st = unload_locked(s, name);
  pthread_mutex_unlock(&s->load_mu);
  return st;
}

void gl_serve_settle(gl_server_t *s, gl_sentry_t *e) {
  pthread_mutex_lock(&s->mu);
  gl_smodel_t *m = e->m;
  if (!m || strcmp(e->state, "LOADING")) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  pthread_mutex_lock(&m->mu);
  bool served = m->n_lets > 0;
  pthread_mutex_unlock(&m->mu);
  if (served) {
    e->state = "READY";
    e->reason[0] = 0;
    pthread_mutex_unlock(&s->mu);
    return;
  }
  e->m = NULL;
  e->state = "UNAVAILABLE";
  pthread_mutex_lock(&s->ctl.mu);
  snprintf(e->reason, sizeof e->reason, "no gpu-let could be built for it: %.200s", s->ctl.why[0] ? s->ctl.why : "see the server log");
  pthread_mutex_unlock(&s->ctl.mu);
  pthread_mutex_unlock(&s->mu);
  gl_smodel_drain(m);
  gl_smodel_unref(m);
}

gl_status_t gl_serve_load(gl_server_t *s, const char *name) {
  if (!gl_smodel_name_ok(name)) return gl_err(GL_EINVAL, "'%s' is not a valid model name", name);
  pthread_mutex_lock(&s->load_mu);
  gl_smodel_t *old = gl_serve_get(s, name);
  if (old) {
    gl_smodel_unref(old);
    (void)unload_locked(s, name); /* reload */
  }
  struct stat sb;
  if (fstatat(s->repo_fd, name, &sb, AT_SYMLINK_NOFOLLOW)) {
    pthread_mutex_unlock(&s->load_mu);
    return gl_err(GL_ENOTFOUND, "no model '%s' in the repository %s", name, s->repo_path);
  }
  pthread_mutex_lock(&s->mu);
  gl_sentry_t *e = entry(s, name, true);
  if (e) e->state = "LOADING";
  pthread_mutex_unlock(&s->mu);
  if (!e) {
    pthread_mutex_unlock(&s->load_mu);
    return gl_err(GL_ELIMIT, "more than %d models", GL_SERVE_MAX_MODELS);
  }
  gl_smodel_t *m = NULL;
  gl_onnx_limits_t lim = {.max_file_bytes = s->o.max_model_bytes, .max_nodes = s->o.max_graph_nodes,
                          .max_values = s->o.max_graph_nodes > INT32_MAX / 4 ? INT32_MAX : s->o.max_graph_nodes * 4,
                          .max_initializers = s->o.max_graph_nodes};
  gl_status_t st = gl_smodel_load_lim(s->repo_fd, s->repo_path, name, &lim, &m);
  if (!st) {
    m->uid = ++s->next_uid;
    st = gl_sctl_profile_model(s, m);
    if (st) gl_smodel_unref(m);
  }
  pthread_mutex_lock(&s->mu);
  if (st) {
    e->state = "UNAVAILABLE";
    snprintf(e->reason, sizeof e->reason, "%s", gl_errmsg());
  } else {
    e->m = m;
  }
  pthread_mutex_unlock(&s->mu);
  if (!st && s->ctl.started) {
    gl_sctl_replan_wait(s, "load", false);
    gl_serve_settle(s, e);
    pthread_mutex_lock(&s->mu);
    if (strcmp(e->state, "READY")) st = gl_err(GL_EBUSY, "model '%s': %s", name, e->reason);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&s->load_mu);
  return st;
}
