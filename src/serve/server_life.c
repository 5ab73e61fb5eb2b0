/* serve/server_life.c - a server's life: options' defaults, the devices, the repository and its
 * models loaded, the control loop and the HTTP daemons started (gl_server_start); graceful stop:
 * no new connections or requests, every admitted request answered, everything freed. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/serve_int.h"

static int daemon_port(struct MHD_Daemon *d) {
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  return i ? i->port : 0;
}

int gl_server_port(const gl_server_t *s) { return s->port; }
int gl_server_metrics_port(const gl_server_t *s) { return s->mport; }

gl_status_t gl_server_start(const gl_serve_opts_t *o, gl_server_t **out) {
  *out = NULL;
  gl_server_t *s = gl_calloc(1, sizeof *s);
  if (!s) return gl_err(GL_ENOMEM, "out of memory");
  s->o = *o;
  s->repo_fd = -1;
  s->start_ns = gl_now_ns();
  snprintf(s->listen, sizeof s->listen, "%s", o->listen ? o->listen : "127.0.0.1");
  if (!s->o.max_body) s->o.max_body = 64u << 20;
  if (!s->o.max_inflight) s->o.max_inflight = (size_t)1 << 30;
  if (!s->o.max_elements) s->o.max_elements = 16 << 20;
  if (!s->o.max_connections) s->o.max_connections = 256;
  /* 16 KiB, as Node.js: libmicrohttpd (0.9.75) zeroes a connection's whole pool of this size
   * between keep-alive requests; at 64 KiB that memset was ~15% of a small request's cost */
  if (!s->o.max_header) s->o.max_header = 16 << 10;
  if (!s->o.threads) s->o.threads = 2;
  if (!s->o.max_inputs) s->o.max_inputs = 64;
  if (!s->o.max_model_bytes) s->o.max_model_bytes = (size_t)2 << 30;
  if (!s->o.max_graph_nodes) s->o.max_graph_nodes = 1000000;
  if (o->repo_token) {
    if (!o->repo_token[0]) { gl_free(s); return gl_err(GL_EINVAL, "the repository token is empty"); }
    if (!(s->repo_token = gl_strdup(o->repo_token))) { gl_free(s); return gl_err(GL_ENOMEM, "out of memory"); }
    s->o.repo_token = s->repo_token;
  }
  s->lim = (gl_kv_limits_t){s->o.max_body, s->o.max_elements, s->o.max_inputs};
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->load_mu, NULL);
  gl_status_t st = GL_OK;
  if (o->repo) snprintf(s->repo_path, sizeof s->repo_path, "%s", o->repo);
  else if ((st = gl_serve_default_repo(s))) goto fail;
  s->repo_fd = open(s->repo_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->repo_fd < 0) { st = gl_err(GL_ENOTFOUND, "model repository %s: %s", s->repo_path, strerror(errno)); goto fail; }
  if (!s->o.policy) s->o.policy = "gpulet";
  if (!(s->o.replan_period_s > 0)) s->o.replan_period_s = 10;
  if (!(s->o.rate_window_s > 0)) s->o.rate_window_s = 10;
  bool known = !strcmp(s->o.policy, "none");
  for (int i = 0; gl_sched_policies[i]; i++) known |= !strcmp(gl_sched_policies[i], s->o.policy);
  if (!known || !strcmp(s->o.policy, "bound")) {
    st = gl_err(GL_EINVAL, "--policy %s: not a policy the server can run (gpulet, gpulet-int, sbp, triton, static, fine, none)", s->o.policy);
    goto fail;
  }
  if ((st = gl_serve_devices_open(s))) goto fail;
  if ((st = gl_sctl_init(s))) goto fail;
  char names[GL_SERVE_MAX_MODELS][128];
  int n = gl_serve_scan(s, names, GL_SERVE_MAX_MODELS);
  int want = 0;
  for (int i = 0; i < n; i++) {
    if (o->models) {
      const char *p = strstr(o->models, names[i]);
      size_t nl = strlen(names[i]);
      if (!p || (p != o->models && p[-1] != ',') || (p[nl] && p[nl] != ',')) { names[i][0] = 0; continue; }
    }
    want++;
  }
  {
    /* per device: the static split deals the models over the devices */
    int units = s->devs[0].units, per_dev = want ? (want + s->n_devs - 1) / s->n_devs : 1;
    s->cores_per_model = o->cores_per_model > 0 ? o->cores_per_model : units / per_dev;
    if (s->cores_per_model < 1) s->cores_per_model = 1;
    if (s->cores_per_model > units) s->cores_per_model = units;
  }
  for (int i = 0; i < n; i++) {
    if (!names[i][0]) continue;
    int64_t t0 = gl_now_ns();
    if (gl_serve_load(s, names[i])) {
      if (!o->quiet) fprintf(stderr, "gpulet serve: model %s not loaded: %s\n", names[i], gl_errmsg());
    } else if (!o->quiet) {
      fprintf(stderr, "gpulet serve: model %s loaded (%.0f ms)\n", names[i], gl_ns_to_ms(gl_now_ns() - t0));
    }
  }
  /* the first plan over every loaded model, then the control loop */
  if ((st = gl_sctl_start(s))) goto fail;
  for (int i = 0; i < s->n_models; i++) {
    gl_serve_settle(s, &s->models[i]);
    if (!o->quiet && !strcmp(s->models[i].state, "UNAVAILABLE") && s->models[i].reason[0] == 'n')
      fprintf(stderr, "gpulet serve: model %s not served: %s\n", s->models[i].name, s->models[i].reason);
  }
  s->d = gl_serve_start_daemon(s, o->port, s->o.threads, s->o.max_connections + 16, false);
  if (!s->d) { st = GL_EIO; goto fail; }
  s->port = daemon_port(s->d);
  if (o->metrics_port >= 0) {
    s->dm = gl_serve_start_daemon(s, o->metrics_port, 1, 64, true);
    if (!s->dm) { st = gl_err_wrap(GL_EIO, "metrics"); goto fail; }
    s->mport = daemon_port(s->dm);
  }
  *out = s;
  return GL_OK;
fail:
  gl_server_stop(s);
  return st;
}

void gl_server_stop(gl_server_t *s) {
  if (!s) return;
  atomic_store(&s->stopping, true);
  if (s->d) MHD_quiesce_daemon(s->d); /* no new connections */
  /* answer every admitted request */
  pthread_mutex_lock(&s->mu);
  int n = s->n_models;
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < n; i++) {
    gl_smodel_t *m = gl_serve_get(s, s->models[i].name);
    if (m) {
      gl_smodel_drain(m);
      gl_smodel_unref(m);
    }
  }
  /* let resumed connections send their answers (bounded wait) */
  for (int t = 0; t < 500 && atomic_load(&s->suspended) > 0; t++) usleep(10000);
  if (s->ctl.inited) { /* no re-plan answer may come once the daemons are gone */
    gl_sctl_stop(s);
    for (int t = 0; t < 100 && atomic_load(&s->suspended) > 0; t++) usleep(10000);
  }
  if (s->d) MHD_stop_daemon(s->d);
  if (s->dm) MHD_stop_daemon(s->dm);
  if (s->ctl.inited) gl_sctl_fini(s); /* the control thread, then every gpu-let */
  for (int i = 0; i < s->n_models; i++) {
    gl_smodel_unref(s->models[i].m);
    s->models[i].m = NULL;
  }
  gl_serve_devices_close(s);
  if (s->repo_fd >= 0) close(s->repo_fd);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->load_mu);
  if (s->repo_token) {
    volatile char *t = s->repo_token;
    for (size_t i = 0; t[i]; i++) t[i] = 0;
    gl_free(s->repo_token);
  }
  gl_free(s);
}
