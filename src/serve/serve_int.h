/* serve/serve_int.h - the server's internals shared by server.c, repo.c and metrics.c.
 * Owns: struct gl_server (daemons, model table, partition device, limits) and the table entry. */
#ifndef GL_SERVE_SERVE_INT_H
#define GL_SERVE_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "part/part.h"
#include "profile/profile.h"
#include "sched/sched.h"
#include "serve/kserve.h"
#include "serve/let.h"
#include "serve/model.h"
#include "serve/serve.h"

#define GL_SERVE_MAX_MODELS 64

#define GL_SERVE_MAX_LETS 64
#define GL_SERVE_HISTORY 50

/* One re-plan (plan JSON's history). */
typedef struct {
  int epoch;
  double t_s;
  char reason[16];
  bool incremental, feasible, switched;
  int built, kept, reconf, retired;
  double decision_ms, build_ms, switch_ms;
} gl_shist_t;

enum { GL_REASON_PERIOD, GL_REASON_RATE, GL_REASON_DRIFT, GL_REASON_LOAD, GL_REASON_UNLOAD, GL_REASON_REQUEST,
       GL_REASON_FAULT, GL_REASON_N };
extern const char *const gl_serve_reasons[GL_REASON_N];

/* The control loop's state (control.c). */
typedef struct {
  pthread_t thread;
  bool started, stop;
  pthread_mutex_t mu;           /* guards the request fields and the published state below */
  pthread_cond_t cv, done_cv;   /* cv: CLOCK_MONOTONIC */
  uint64_t req_seq, done_seq;
  bool req_rebuild;
  struct { uint64_t seq; void (*cb)(void *); void *arg; } waiters[16]; /* answered after their epoch */
  int n_waiters;
  char req_reason[16];
  pthread_mutex_t replan_mu;    /* one epoch at a time (the control thread; startup) */
  /* published (mu) */
  struct gl_slet *lets[GL_SERVE_MAX_LETS]; /* serving, then retiring ones during a switch */
  int n_lets;
  int epoch;
  double decision_ms;
  bool feasible;
  char why[256];
  gl_shist_t hist[GL_SERVE_HISTORY];
  int n_hist;                   /* entries so far; the last is hist[(n_hist - 1) % N] */
  long long replans[GL_REASON_N];
  /* the installed plan (replan_mu) */
  gl_sched_plan_t plan;
  bool have_plan;
  long long plan_uid[GL_SERVE_MAX_MODELS]; /* the plan's models, by load id */
  int n_plan_models;
  int next_let_id;
  unsigned plan_dev_mask;       /* the devices the installed plan was made for */
  int64_t fault_ns;             /* the earliest device failure not yet re-planned around (0: none) */
  double recover_ms;            /* last device failure to serving on the remaining devices */
  long long dev_failures;
  int prof_units_saved;
  gl_profile_t *fb_prof;        /* the fallback device's own profile (NULL: no fallback) */
  char fb_src[160];         /* cpu:N: the profile's total_units before it was set to a device's (0: untouched) */
  /* the live profile (prof_mu) */
  bool inited;
  pthread_mutex_t prof_mu;
  gl_profile_t *prof;
  double *cell_ewma;            /* [model][batch][size] of the live profile */
  int *cell_n;
  double *cell_orig;            /* the profile's value before any measurement */
  double *calib, *calib_plan;   /* [model]: measured / profiled (EWMA), and its value at the last plan */
  double *cell_solo;            /* EWMA of batches that ran alone (the interference baseline) */
  int *cell_solo_n;
  int cells_cap;                /* models the cell arrays hold */
  /* co-run samples for the interference refit (prof_mu) */
#define GL_SERVE_ISAMPLES 256
  double ix[GL_SERVE_ISAMPLES][4], iy[GL_SERVE_ISAMPLES];
  int i_n, i_head, i_new;
  long long i_fits;
  bool prof_dirty;              /* cells replaced since the last plan */
  long long prof_updates;
  char prof_src[160];
} gl_sctl_t;

/* The server's own per-request cost (successful inferences): a fine histogram, µs resolution to
 * 1 ms, 100 µs to 100 ms, then one overflow bucket (lock-free; metrics.c reads it). */
#define GL_OVH_BUCKETS 1991
typedef struct {
  atomic_llong n[GL_OVH_BUCKETS];
  atomic_llong count, sum_ns;
} gl_ovh_hist_t;
void gl_ovh_add(gl_ovh_hist_t *h, int64_t ns);
/* Bucket b's lower and upper bounds in µs. */
void gl_ovh_bounds(int b, int64_t *lo_us, int64_t *hi_us);

#define GL_SERVE_MAX_DEVS 16

/* One device of the server (devices.c): a part device (or a slice of one: cpu:N devices share the
 * CPU's, each owning the units [base, base + units)), its backend, whether it is the fallback. */
typedef struct {
  gl_slet_dev_t sd;        /* what its gpu-lets see: id, backend, failed flag, fault hook */
  char kind[8];            /* "cpu" or "cuda" */
  char name[96];
  int index;               /* cuda:K -> K; cpu:N -> the slice */
  gl_part_dev_t *pd;
  bool owns_pd;
  int base, units;
  bool fallback;           /* planned only when no other device is ok (the CPU after GPUs) */
  /* control (ctl.mu) */
  char why[256];           /* why it failed */
  double failed_at_s;
} gl_sdev_t;

typedef struct {
  char name[128];
  const char *state; /* "READY", "LOADING", "UNLOADING", "UNAVAILABLE" */
  char reason[256];
  gl_smodel_t *m;    /* non-NULL when READY */
} gl_sentry_t;

struct gl_server {
  gl_serve_opts_t o;
  char listen[64];
  char repo_path[4096];
  int repo_fd;
  struct MHD_Daemon *d, *dm;
  int port, mport;
  gl_kv_limits_t lim;
  gl_part_dev_t *dev;     /* devs[0]'s part device (the CPU's cores, or the whole CPU) */
  gl_sdev_t devs[GL_SERVE_MAX_DEVS];
  int n_devs;
  int cores_per_model;
  long long next_uid;     /* load ids (load_mu) */
  gl_sctl_t ctl;
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
  /* HTTP in (the request's first handler call, headers parsed) to the response queued, minus the
   * batch's compute (plan run); and the two thread handoffs (queued -> batch start, batch end ->
   * response queued) */
  gl_ovh_hist_t ovh, handoff;
  atomic_llong answered_inline; /* inferences answered by the handler that received them */
};

/* server.c */
/* An HTTP daemon of s on port (0: any) with the routes of the main port, or only /metrics. NULL
 * with the error set. */
struct MHD_Daemon *gl_serve_start_daemon(gl_server_t *s, int port, int threads, int conns, bool metrics);

/* repo.c */
/* Makes the default zoo models in the cache folder if missing; sets s->repo_path. */
gl_status_t gl_serve_default_repo(gl_server_t *s) GL_MUST_USE;
/* Loads (or reloads) model name into the table. Errors name what is wrong. */
gl_status_t gl_serve_load(gl_server_t *s, const char *name) GL_MUST_USE;
gl_status_t gl_serve_unload(gl_server_t *s, const char *name) GL_MUST_USE;
/* After the plan that first included a LOADING entry's model: READY when it got a gpu-let,
 * else UNAVAILABLE with the reason (the model is dropped). */
void gl_serve_settle(gl_server_t *s, gl_sentry_t *e);
/* The model called name with a reference held (gl_smodel_unref), or NULL. */
gl_smodel_t *gl_serve_get(gl_server_t *s, const char *name);
/* Names of model folders in the repository; returns the count (at most cap). */
int gl_serve_scan(gl_server_t *s, char (*names)[128], int cap);

/* devices.c */
/* Opens the devices of o.devices / o.partition (s->devs, s->dev); errors name the bad item. */
gl_status_t gl_serve_devices_open(gl_server_t *s) GL_MUST_USE;
void gl_serve_devices_close(gl_server_t *s);
/* Devices not failed, counted; degraded = some device failed. */
int gl_serve_devices_ok(gl_server_t *s, bool *degraded);
/* The units of a device (0..units) for a gpu-let of `want`: least used first (used[] per unit),
 * whole groups on a green-context device (as many as every group: the whole device, its
 * remainder included). Writes device-relative indices to out[256]; returns how many. */
int gl_serve_pick_units(const gl_part_dev_info_t *di, int units, int want, const int *used, int *out);

/* control.c */
/* Loads the profile, sets up the control state (before any model loads). */
gl_status_t gl_sctl_init(gl_server_t *s) GL_MUST_USE;
/* The first plan over the models loaded so far, then starts the control thread. */
gl_status_t gl_sctl_start(gl_server_t *s) GL_MUST_USE;
/* Re-plans now for `reason` (one of gl_serve_reasons) and waits until it is installed;
 * rebuild: build every gpu-let anew even where the plan keeps one (tests, demos). */
void gl_sctl_replan_wait(gl_server_t *s, const char *reason, bool rebuild);
/* The same without waiting: cb(arg) is called on the control thread once the plan is installed.
 * False (nothing queued) when the control loop is not running or too many are waiting. */
bool gl_sctl_replan_async(gl_server_t *s, const char *reason, bool rebuild, void (*cb)(void *), void *arg);
/* Stops the control thread (answering re-plan requests still waiting); gpu-lets keep serving. */
void gl_sctl_stop(gl_server_t *s);
/* Stops the thread, destroys every gpu-let, saves the profile if asked, frees the state. */
void gl_sctl_fini(gl_server_t *s);
/* Finds (or adds, from its load-time measurement) m's row in the live profile; sets m->pm. */
gl_status_t gl_sctl_profile_model(gl_server_t *s, gl_smodel_t *m) GL_MUST_USE;
/* profile_live.c: grows the cell arrays to the live profile's models (prof_mu held); the
 * gpu-lets' callbacks (what runs beside a batch; a batch's measured time). */
gl_status_t gl_sctl_cells_fit(gl_sctl_t *c) GL_MUST_USE;
void gl_sctl_peek(void *user, gl_slet_t *l, gl_slet_corun_t *co);
void gl_sctl_observe(void *user, gl_slet_t *l, int k, int size, int64_t ns, gl_slet_corun_t co);
/* Called (once per device) when a device fails: logs it and re-plans at once (reason fault). */
void gl_sctl_device_failed(void *server, int dev, const char *why);
/* The plan JSON (CONTRACTS.md §2) and the control loop's metrics. */
void gl_sctl_plan_json(gl_server_t *s, gl_kv_buf_t *b);
void gl_sctl_metrics(gl_server_t *s, gl_kv_buf_t *b);

/* metrics.c */
void gl_serve_metrics(gl_server_t *s, gl_kv_buf_t *b);
void gl_serve_stats_json(gl_server_t *s, const char *only, gl_kv_buf_t *b);
void gl_serve_plan_json(gl_server_t *s, gl_kv_buf_t *b);
/* GET /v2/gpulet/overhead: the ovh and handoff histograms with quantiles (µs). */
void gl_serve_overhead_json(gl_server_t *s, gl_kv_buf_t *b);

#endif
