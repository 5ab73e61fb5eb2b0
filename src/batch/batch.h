/* batch/batch.h - deadline queues, admission control and the batcher state machine.
 * Owns: gl_dqueue_t (a bounded per-model queue of POD requests ordered by priority, then
 * deadline; equal priorities everywhere give plain deadline order), admission
 * (reject when the queue is full or when even running now cannot meet the deadline) and
 * gl_batcher_next(), a pure function of (queue, batcher settings, now) that says RUN n, REJECT
 * the n at the head, WAIT until t, or IDLE. Time is an int64 nanosecond count supplied by the
 * caller: nothing here reads a clock or knows threads (the server and the simulator drive it). */
#ifndef GL_BATCH_BATCH_H
#define GL_BATCH_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

#define GL_BATCH_MAX 64

typedef struct {
  int64_t id;          /* caller's handle */
  int64_t arrival_ns;
  int64_t deadline_ns; /* arrival + SLO */
  int32_t priority;    /* queue order key before the deadline: lower is served first (0 = default) */
} gl_req_t;

typedef struct {
  gl_req_t *buf;       /* ring of cap entries, ordered by (priority, deadline) from head */
  int cap, head, len;
} gl_dqueue_t;

typedef enum { GL_ADMIT_OK = 0, GL_ADMIT_FULL, GL_ADMIT_LATE } gl_admit_t;

GL_MUST_USE gl_status_t gl_dqueue_init(gl_dqueue_t *q, int cap);
void gl_dqueue_fini(gl_dqueue_t *q);
/* Admits r unless the queue is full or now + min_service_ns > r.deadline_ns (cannot be met even
 * if run at once, alone); keeps (priority, deadline) order (ties stay in arrival order). */
gl_admit_t gl_dqueue_push(gl_dqueue_t *q, gl_req_t r, int64_t now, int64_t min_service_ns);
/* The i-th request from the head (highest priority, then earliest deadline); i < len. */
static inline const gl_req_t *gl_dqueue_at(const gl_dqueue_t *q, int i) {
  return &q->buf[(q->head + i) % q->cap];
}
/* Removes up to n requests from the head into out (may be NULL); returns how many. */
int gl_dqueue_pop(gl_dqueue_t *q, int n, gl_req_t *out);

typedef enum {
  GL_BATCH_EAGER = 0,  /* run whatever is queued (up to max batch) as soon as the executor is free */
  GL_BATCH_COLLECT     /* wait for a full batch while the head's deadline and the collect window allow */
} gl_batch_mode_t;

/* Settings of one (gpu-let, model) batcher. lat_ns[n] is the predicted service time of a batch
 * of n (n = 1..max_batch), non-decreasing. */
typedef struct {
  gl_batch_mode_t mode;
  int max_batch;
  int64_t collect_ns;             /* COLLECT: longest wait after the head arrived (duty cycle) */
  int64_t lat_ns[GL_BATCH_MAX + 1];
} gl_batcher_t;

typedef enum { GL_BATCH_IDLE = 0, GL_BATCH_RUN, GL_BATCH_REJECT, GL_BATCH_WAIT } gl_batch_action_t;

typedef struct {
  gl_batch_action_t action;
  int n;                          /* RUN: batch size; REJECT: how many at the head */
  int64_t until_ns;               /* WAIT: when to ask again (earlier if a request arrives) */
} gl_batch_decision_t;

/* What the executor should do now. REJECT comes first (head requests that cannot finish in time
 * even alone); RUN never picks a batch so large that one of its requests (the head, with equal
 * priorities) would miss its deadline. */
gl_batch_decision_t gl_batcher_next(const gl_batcher_t *b, const gl_dqueue_t *q, int64_t now);

#endif
