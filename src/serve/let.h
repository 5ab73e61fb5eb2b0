/* serve/let.h - a served gpu-let: a CPU partition (core set) with ONE executor thread that serves
 * the plan's members (model, planned batch, duty) from their models' deadline queues.
 * Owns: gl_slet_t (the partition, per member the batcher settings, compiled plans per batch size
 * with their batch buffers and measured latencies, drift counters), its life cycle
 * warming -> serving -> retiring -> joined, and batch execution (inputs copied into the batch
 * buffer, outputs split back, statistics). As in sim.c's try_start/start_batch, a free gpu-let
 * goes round-robin over its members, asks gl_batcher_next on the member's model queue with that
 * member's settings, and runs the first RUN; several gpu-lets may pull from one queue.
 * Does not own: the queues and admission (model.h), choosing gpu-lets and switching the routing
 * (control.c). Locking: a member's batcher and latencies are guarded by its model's mu; the
 * gpu-let's mu guards only its wake-up counter and state (taken after a model's mu, never
 * before one). */
#ifndef GL_SERVE_LET_H
#define GL_SERVE_LET_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "part/part.h"
#include "sched/sched.h"
#include "serve/model.h"

enum { GL_SLET_WARMING = 0, GL_SLET_SERVING, GL_SLET_RETIRING, GL_SLET_FAILED };

typedef struct gl_slet gl_slet_t;

/* The server device a gpu-let runs on (owned by the server, outlives its gpu-lets). A run or a
 * compile that fails with GL_EDEVICE fails the device: `failed` is set, on_fail(user, id, why) is
 * called once (on the executor, no lock held), and every gpu-let on it stops pulling (state
 * failed); requests still queued stay in their models' queues for the re-plan. */
typedef struct {
  int id;
  gl_backend_t *be;        /* NULL: each member model's own backend (the CPU) */
  atomic_bool failed;
  int64_t fault_at_ns;     /* test builds (GL_FAULT_INJECT): batches fail with GL_EDEVICE from then; 0 = never */
  void (*on_fail)(void *user, int id, const char *why);
  void *user;
} gl_slet_dev_t;

/* What ran beside a batch: another gpu-let's batch (profile model pm, compiled size, units) that
 * was running when it started; pm < 0 when it ran alone. */
typedef struct {
  int pm, size, units;
} gl_slet_corun_t;

/* Called on the executor after each successful batch: member k ran the compiled size `size` in
 * `ns` of compute, next to `co`. */
typedef void (*gl_slet_observe_fn)(void *user, gl_slet_t *l, int k, int size, int64_t ns, gl_slet_corun_t co);
/* Called on the executor as a batch starts: fills what else is running now. */
typedef void (*gl_slet_peek_fn)(void *user, gl_slet_t *l, gl_slet_corun_t *co);

typedef struct {
  gl_smodel_t *m;       /* a reference is held while the gpu-let lives */
  int batch;            /* planned batch (requests), clamped to the model's max_batch */
  double rate;          /* planned rate share, req/s */
  double pred_ms[GL_BATCH_MAX + 1]; /* predicted compute per batch (profile at plan time) */
  /* guarded by m->mu */
  gl_batcher_t bat;
  int64_t lat_ewma_ns[GL_BATCH_MAX + 1]; /* measured compute per compiled size, 0 = none */
  double obs_ms;        /* EWMA of compute at the planned batch's size, 0 = none yet */
  double drift_obs, drift_pred; /* sums over the batches since the last drift check */
  int drift_n;
  int64_t batches, errors;
  int64_t last_ns;      /* when a batch of it last finished (or the estimates were last aged) */
  /* executor thread only */
  gl_arena_t *arena;    /* activations shared by its plans (they run one at a time) */
  gl_plan_t *plans[GL_BATCH_MAX + 1];
  gl_tensor_t bin[GL_BATCH_MAX + 1][GL_SMODEL_MAX_IO], bout[GL_BATCH_MAX + 1][GL_SMODEL_MAX_IO];
  int mps_id[GL_BATCH_MAX + 1]; /* MPS partitions: the model loaded in the worker per size, + 1 (0 = none) */
} gl_slet_member_t;

struct gl_slet {
  int id;
  int units;              /* planned units; grant.units may be fewer when the CPU is smaller */
  double duty_ms, occupancy_plan;
  int n_members;
  gl_slet_member_t mem[GL_PLAN_MAX_MEMBERS];
  gl_part_t *part;
  gl_part_grant_t grant;
  int cores[256], n_cores; /* device unit indices it was built on */
  gl_slet_observe_fn observe;
  gl_slet_peek_fn peek;
  void *user;
  atomic_int run_pm, run_size; /* the batch running now (-1: none), for the others' peek */
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* CLOCK_MONOTONIC */
  uint64_t kick;
  bool waiting;           /* the executor sleeps on wake (mu): only then is it posted, once */
  sem_t wake;             /* the executor's sleep: a semaphore is one futex call a side, where a
                           * condition variable's broadcast may also wait for the woken waiter */
  atomic_int pins;        /* submitters kicking it outside their model's mu (destroy waits) */
  atomic_int state;
  bool warmed, loop_done;
  gl_status_t warm_st;
  char warm_err[256];
  int rr;
  int64_t serving_since_ns;
  atomic_llong busy_ns;   /* compute time while serving */
  atomic_bool drifted;    /* observed/predicted drifted past the threshold (control reads it) */
  atomic_int faults;      /* batches that failed (the gpu-let recompiled its plans after each) */
  atomic_bool rewarm;     /* reconfigured: compile and time the new batch sizes before pulling */
  gl_slet_dev_t *sdev;    /* its device (NULL: the CPU, never failed) */
};

typedef struct {
  gl_smodel_t *m;
  int batch;
  double rate;
  double pred_ms[GL_BATCH_MAX + 1];
} gl_slet_spec_member_t;

/* Builds a gpu-let on units cores[0..n) of dev (overlapping retiring gpu-lets is allowed) and
 * starts warming it on its executor: every member's plans for the powers of two below its batch
 * and the batch itself are compiled and timed. Returns at once; gl_slet_wait_ready waits. */
gl_status_t gl_slet_start(gl_part_dev_t *dev, const int *cores, int n, int units, double duty_ms, double occupancy,
                          const gl_slet_spec_member_t *members, int n_members, gl_slet_observe_fn observe,
                          gl_slet_peek_fn peek, void *user, int id, gl_slet_t **out) GL_MUST_USE;
/* The same on server device sdev (its backend compiles the plans; its failure stops the gpu-let). */
gl_status_t gl_slet_start_on(gl_slet_dev_t *sdev, gl_part_dev_t *dev, const int *cores, int n, int units, double duty_ms,
                             double occupancy, const gl_slet_spec_member_t *members, int n_members, gl_slet_observe_fn observe,
                             gl_slet_peek_fn peek, void *user, int id, gl_slet_t **out) GL_MUST_USE;
/* Waits for warming; its error (a plan that does not compile) comes back. */
gl_status_t gl_slet_wait_ready(gl_slet_t *l) GL_MUST_USE;
/* Starts pulling from the members' queues (call after routing it in the models). */
void gl_slet_serve(gl_slet_t *l);
/* Wakes the executor to look at the queues again (signals only when it sleeps, after releasing
 * l->mu). The caller holds a member model's mu, or a pin taken under it (l->pins). */
void gl_slet_kick(gl_slet_t *l);
/* Stops pulling: the running batch finishes, queued requests stay for the other gpu-lets. */
void gl_slet_retire(gl_slet_t *l);
/* Retires (if not yet), joins the executor, destroys plans and partition, drops the members'
 * model references, frees l. Accepts NULL. */
void gl_slet_destroy(gl_slet_t *l);
/* True when l serves these models in this order on `units` (batches or duty may differ). */
bool gl_slet_same_members(const gl_slet_t *l, int units, const gl_slet_spec_member_t *members, int n);
/* Reconfigures a serving gpu-let in place for the same members with new batches, rates and
 * predictions: the executor compiles and times the sizes it lacks before its next batch. */
void gl_slet_reconfigure(gl_slet_t *l, double duty_ms, double occupancy, const gl_slet_spec_member_t *members, int n);
/* The member serving m, or -1; the fastest predicted batch of 1 of member k (caller holds
 * m->mu). */
int gl_slet_member_of(const gl_slet_t *l, const gl_smodel_t *m);
/* True when l serves exactly these members on `units` with this duty (the reorganizer keeps it). */
bool gl_slet_same(const gl_slet_t *l, int units, double duty_ms, const gl_slet_spec_member_t *members, int n);
const char *gl_slet_state_name(int state);
/* One batch's compute time `sample` folded into the estimate `ew` (0 = none yet) with weight
 * 1/8; a sample counts at most twice the estimate, so one batch stalled by a preemption (other
 * processes on a shared CPU) cannot make a model look unable to meet its SLO. */
int64_t gl_slet_lat_update(int64_t ew, int64_t sample);

/* Recomputes m->min_service_ns from the gpu-lets routed to m (caller holds m->mu). */
void gl_smodel_refresh_service(gl_smodel_t *m);
/* Ages m's measured latencies when they are all that stands between a request and admission:
 * each member that has not run for GL_SLET_STALE_NS has its measurements scaled by 3/4 per
 * GL_SLET_STALE_NS since, and min_service_ns is recomputed. Without it, latencies measured on a
 * machine busy for a moment could reject every later request, so that nothing runs and the
 * estimate is never measured again (caller holds m->mu). */
#define GL_SLET_STALE_NS 250000000LL
void gl_smodel_age_service(gl_smodel_t *m, int64_t now);

#endif
