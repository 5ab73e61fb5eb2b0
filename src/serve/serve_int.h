/* serve/serve_int.h - the server's internals shared by server.c, repo.c and metrics.c.
 * Owns: struct gl_server (daemons, model table, partition device, limits) and the table entry. */
#ifndef GL_SERVE_SERVE_INT_H
#define GL_SERVE_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "part/part.h"
#include "serve/kserve.h"
#include "serve/model.h"
#include "serve/serve.h"

#define GL_SERVE_MAX_MODELS 64

typedef struct {
  char name[128];
  const char *state; /* "READY", "LOADING", "UNLOADING", "UNAVAILABLE" */
  char reason[256];
  gl_smodel_t *m;    /* non-NULL when READY */
  int part;          /* index in the server's parts while loaded, else -1 */
} gl_sentry_t;

struct gl_server {
  gl_serve_opts_t o;
  char listen[64];
  char repo_path[4096];
  int repo_fd;
  struct MHD_Daemon *d, *dm;
  int port, mport;
  gl_kv_limits_t lim;
  gl_part_dev_t *dev, *whole;
  int cores_per_model;
  gl_part_t *parts[GL_SERVE_MAX_MODELS]; /* partitions made so far (kept until stop) */
  int part_users[GL_SERVE_MAX_MODELS];   /* models on each; guarded by load_mu */
  int n_parts;
  pthread_mutex_t mu;      /* the table */
  pthread_mutex_t load_mu; /* one load/unload at a time */
  gl_sentry_t models[GL_SERVE_MAX_MODELS];
  int n_models;
  atomic_int open_conns;
  atomic_int suspended;
  atomic_size_t body_bytes; /* request bodies buffered now */
  atomic_bool stopping;
  int64_t start_ns;
  char *repo_token;        /* the server's copy of o.repo_token (NULL: open) */
};

/* repo.c */
/* Makes the default zoo models in the cache folder if missing; sets s->repo_path. */
gl_status_t gl_serve_default_repo(gl_server_t *s) GL_MUST_USE;
/* Loads (or reloads) model name into the table. Errors name what is wrong. */
gl_status_t gl_serve_load(gl_server_t *s, const char *name) GL_MUST_USE;
gl_status_t gl_serve_unload(gl_server_t *s, const char *name) GL_MUST_USE;
/* The model called name with a reference held (gl_smodel_unref), or NULL. */
gl_smodel_t *gl_serve_get(gl_server_t *s, const char *name);
/* Names of model folders in the repository; returns the count (at most cap). */
int gl_serve_scan(gl_server_t *s, char (*names)[128], int cap);

/* metrics.c */
void gl_serve_metrics(gl_server_t *s, gl_kv_buf_t *b);
void gl_serve_stats_json(gl_server_t *s, const char *only, gl_kv_buf_t *b);
void gl_serve_plan_json(gl_server_t *s, gl_kv_buf_t *b);

#endif
