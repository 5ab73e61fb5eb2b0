/* serve/serve.h - `gpulet serve`: the KServe v2 HTTP server.
 * Owns: gl_server_t (the HTTP daemons on the inference and metrics ports, routing, the model
 * table with each model's state, the CPU partition device models run on, limits, graceful
 * shutdown) and the default model repository made with the zoo.
 * Does not own: the codec (kserve.h), one model's queue and executor (model.h).
 * Files: server.c (HTTP, routing, handlers), server_life.c (start and graceful stop), repo.c
 * (repository, defaults, load/unload), control.c (the control loop: rates, re-planning),
 * reorg.c (the reorganizer), profile_live.c (the live profile), devices.c (devices, failover),
 * let.c (gpu-lets and batch execution), metrics.c and plan_json.c (Prometheus text, statistics,
 * plan JSON), web.c (the status page's files), kserve.c, model.c, exec.c, latwin.c. */
#ifndef GL_SERVE_SERVE_H
#define GL_SERVE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct {
  const char *listen;        /* address to bind; default 127.0.0.1 */
  int port;                  /* 0 = any free port (see gl_server_port) */
  int metrics_port;          /* < 0: no metrics daemon; 0: any free port */
  const char *repo;          /* model repository folder; NULL = the default zoo set in cache_dir */
  const char *cache_dir;     /* NULL = $XDG_CACHE_HOME/gpulet/models or ~/.cache/gpulet/models */
  const char *models;        /* comma list: load only these (NULL: every folder; default set) */
  size_t max_body;           /* bytes (default 64 MiB) */
  size_t max_inflight;       /* request body bytes buffered over all connections (default 1 GiB) */
  int64_t max_elements;      /* per tensor (default 16 Mi) */
  int max_connections;       /* default 256 */
  size_t max_header;         /* per-connection memory for the request line and headers (16 KiB) */
  int max_inputs;            /* inputs (and requested outputs) per request (default 64) */
  size_t max_model_bytes;    /* model.onnx size, checked before it is read (default 2 GiB) */
  int max_graph_nodes;       /* nodes per model (default 1,000,000; initializers <= this, values <= 4x) */
  int threads;               /* HTTP threads (default 2) */
  int cores_per_model;       /* 0 = cores / models, at least 1 */
  bool whole;                /* every gpu-let on the whole CPU, unpinned */
  bool no_pin;               /* core-set gpu-lets' executors not pinned (--no-pin: thread budgets) */
  const char *policy;        /* the scheduler's policy (default "gpulet"); "none" = one core set per model */
  const char *profile;       /* profile file; NULL = <cache>/profile-cpu.json if present, else analytic */
  const char *save_profile;  /* write the refined profile here at stop (NULL = no) */
  double replan_period_s;    /* control loop epoch (default 10) */
  double rate_window_s;      /* arrival-rate window (default 10) */
  bool quiet;
  const char *devices;       /* "cpu" (default), "cpu:N", "cuda:0,cuda:1[,cpu]" (docs/serve.md) */
  const char *partition;     /* CUDA devices: "green" (default), "mps" or "whole" */
  const char *repo_token;    /* non-NULL: repository control (index, load, unload, replan) needs
                              * "Authorization: Bearer <repo_token>"; inference stays open */
} gl_serve_opts_t;

typedef struct gl_server gl_server_t;

/* Loads the repository's models and starts listening. *out is stopped with gl_server_stop. */
gl_status_t gl_server_start(const gl_serve_opts_t *o, gl_server_t **out) GL_MUST_USE;
int gl_server_port(const gl_server_t *s);
int gl_server_metrics_port(const gl_server_t *s);
/* Graceful stop: stop accepting connections and requests, answer every admitted request, then
 * close and free everything. */
void gl_server_stop(gl_server_t *s);

#endif
