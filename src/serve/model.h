/* serve/model.h - one served model: its configuration, loading from a repository folder, its
 * deadline queue, admission and statistics, and the routing to the gpu-lets serving it.
 * Owns: gl_smodel_t (config.json settings, the loaded gl_model_t, the per-model deadline queue,
 * the list of gpu-lets that pull from it, arrival counting for the control loop) and gl_sreq_t
 * (one admitted inference request travelling from the HTTP thread to a gpu-let and back).
 * Does not own: HTTP or the KServe codec (server.c, kserve.h), gpu-lets and their compiled plans
 * (let.h), placement (control.c). */
#ifndef GL_SERVE_MODEL_H
#define GL_SERVE_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "batch/batch.h"
#include "engine/engine.h"
#include "onnx/onnx.h"
#include "part/part.h"
#include "sched/sched.h"
#include "serve/kserve.h"
#include "serve/latwin.h"

#define GL_SMODEL_MAX_IO 16

typedef struct {
  int max_batch;        /* >= 1: the first dim is the batch; 0: no batching, full shapes */
  double slo_ms;        /* latency objective per request (arrival to answer) */
  double slo_percentile;/* informational, for the scheduler (99) */
  int priority;         /* queue level of requests that name none (1 = highest; 0 = 1) */
  bool serve_late;      /* run requests that will miss their SLO instead of rejecting them */
  int max_queue;        /* queued requests beyond which arrivals get 429 */
  int64_t collect_us;   /* > 0: wait up to this long after the head arrives for a fuller batch */
  bool warm;            /* compile and time every batch size in the background after loading */
  int precision;        /* CUDA: a gl_precision_t, config "precision": "fp32" (default), "tf32", "fp16" */
  double rate;          /* expected req/s for the first plan (0 = unknown) */
  char profile_model[48]; /* the profile's model to plan with ("" = by name) */
} gl_smodel_cfg_t;

#define GL_SMODEL_MAX_LETS 32
struct gl_slet;

typedef struct {
  char name[128];
  gl_dtype_t dtype;
  gl_shape_t shape; /* full shape; dim 0 is -1 when batching */
} gl_sio_t;

/* Cumulative statistics, guarded by the model's lock. */
typedef struct {
  int64_t success, fail_rejected, fail_other, fail_backend;
  int64_t rejected_full, rejected_late, slo_met, slo_missed;
  int64_t inference_count, exec_count, last_inference_ms;
  int64_t ns_request, ns_queue, ns_input, ns_infer, ns_output;
  int64_t batch_hist[GL_BATCH_MAX + 1];     /* executions per batch size (samples) */
  int64_t batch_ns_infer[GL_BATCH_MAX + 1]; /* compute time per batch size */
} gl_smodel_stats_t;

typedef struct gl_smodel gl_smodel_t;

/* One admitted request. The server fills the input side, the executor the output side, then
 * calls done(req) from the dispatcher thread. */
typedef struct gl_sreq {
  gl_smodel_t *model;
  gl_kv_request_t kv;
  int64_t samples;            /* leading dim when batching, else 1 */
  int64_t arrival_ns, deadline_ns, start_ns, end_ns; /* arrival: body received */
  int64_t enqueue_ns;         /* parsed, checked and queued */
  int64_t compute_ns;         /* the batch's plan run (0 when it did not run) */
  int64_t idle_service_ns;    /* set by submit: the model's fastest batch of 1 when nothing else of
                               * it was queued (the answer may come soon), else 0 */
  /* results */
  int http_status;            /* 200, or the error's code */
  char err[512];
  gl_tensor_t outs[GL_SMODEL_MAX_IO]; /* owned, per model output */
  void (*done)(struct gl_sreq *r);
  void *user;
} gl_sreq_t;

struct gl_smodel {
  char name[128];
  char dir[4096];
  gl_smodel_cfg_t cfg;
  gl_model_t *model;
  int n_inputs, n_outputs;
  gl_sio_t inputs[GL_SMODEL_MAX_IO], outputs[GL_SMODEL_MAX_IO];
  gl_backend_t *be;
  double lat1_ms;                        /* batch 1 measured at load (one thread) */
  int pm;                                /* the model's row in the server's live profile */
  int64_t loaded_ns;
  long long uid;                         /* load id, unique over the server's life */
  /* the control thread's (rate_* also read under mu by the plan JSON) */
  gl_rate_est_t est;
  long long seen;                        /* arrivals already given to est */
  double rate_observed, rate_target, planned_target;
  /* queue + routing, guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t idle_cv;
  gl_dqueue_t q;
  struct gl_slet *lets[GL_SMODEL_MAX_LETS]; /* gpu-lets pulling from q (the reorganizer swaps) */
  int n_lets;
  int64_t min_service_ns;                /* admission: fastest batch of 1 among its gpu-lets */
  int64_t full_service_ns;               /* admission: fastest planned (full) batch among them */
  double drain_per_ns;                   /* admission: requests its gpu-lets serve per ns at their
                                          * planned batches (their measured latencies) */
  bool accepting;
  int in_flight;                         /* queued + running */
  atomic_llong arrivals;                 /* requests seen (admitted or not), for rate estimation */
  atomic_int refs;
  gl_smodel_stats_t st;
  gl_latwin_t lw;                        /* recent outcomes (recorded by server.c, read by metrics.c) */
};

/* Reads DIR/config.json (optional) into cfg; names any bad field. */
gl_status_t gl_smodel_read_config(int dirfd, const char *name, gl_smodel_cfg_t *cfg) GL_MUST_USE;
/* Loads model `name` from the repository opened as repo_fd: the folder name/ (no symlinks)
 * with model.onnx and config.json; compiles and times batch 1 on the calling thread (output
 * shapes, lat1_ms) and makes its queue. It serves once gpu-lets are routed to it (let.h).
 * refs = 1. */
gl_status_t gl_smodel_load(int repo_fd, const char *repo_path, const char *name, gl_smodel_t **out) GL_MUST_USE;
/* Same with limits on model.onnx (file bytes checked before it is mapped, graph size; NULL or zero
 * fields: the reader's defaults). */
gl_status_t gl_smodel_load_lim(int repo_fd, const char *repo_path, const char *name, const gl_onnx_limits_t *lim,
                               gl_smodel_t **out) GL_MUST_USE;
void gl_smodel_ref(gl_smodel_t *m);
/* Drops one reference; the last frees the model (gpu-lets hold references on their members, so
 * the queue is empty by then: drained before unloading). */
void gl_smodel_unref(gl_smodel_t *m);
/* Stops accepting new requests (they get 503) and waits until every admitted one is answered. */
void gl_smodel_drain(gl_smodel_t *m);

/* Checks r->kv against the model's inputs and outputs, sets samples and the deadline, and
 * queues it. Returns 0 when queued (done() will be called later), or an HTTP status with
 * r->err set (the request was not queued; the caller answers it). */
int gl_smodel_submit(gl_smodel_t *m, gl_sreq_t *r);
/* Finishes one request: stamps end_ns and calls done (from a gpu-let's executor). */
void gl_sreq_finish(gl_sreq_t *r);
/* The queue level of a request asking for `asked` (its `priority` parameter; 0 = none): asked, or
 * the model's configured default level; 1 is the highest, larger is lower. */
static inline int32_t gl_smodel_priority(const gl_smodel_t *m, int64_t asked) {
  int64_t p = asked > 0 ? asked : m->cfg.priority > 0 ? m->cfg.priority : 1;
  return p > INT32_MAX ? INT32_MAX : (int32_t)p;
}
/* Frees the request's tensors (not r itself). */
void gl_sreq_fini(gl_sreq_t *r);

/* Valid model names: [A-Za-z0-9_.-]{1,127}, not starting with '.'. */
bool gl_smodel_name_ok(const char *name);

#endif
