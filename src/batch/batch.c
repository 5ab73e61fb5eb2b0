/* batch/batch.c - bounded deadline queue, admission control and the batcher decision function. */
#include "batch/batch.h"

#include <stdbool.h>

#include "core/alloc.h"

gl_status_t gl_dqueue_init(gl_dqueue_t *q, int cap) {
  q->head = q->len = 0;
  q->cap = cap;
  if (cap < 1) return gl_err(GL_EINVAL, "queue capacity must be >= 1");
  q->buf = gl_malloc((size_t)cap * sizeof *q->buf);
  if (!q->buf) return gl_err(GL_ENOMEM, "queue of %d requests: out of memory", cap);
  return GL_OK;
}

void gl_dqueue_fini(gl_dqueue_t *q) {
  gl_free(q->buf);
  q->buf = NULL;
  q->cap = q->len = q->head = 0;
}

/* a goes behind b: lower priority value first, then earlier deadline; ties keep arrival order */
static bool after(const gl_req_t *a, const gl_req_t *b) {
  if (a->priority != b->priority) return a->priority > b->priority;
  return a->deadline_ns > b->deadline_ns;
}

gl_admit_t gl_dqueue_push(gl_dqueue_t *q, gl_req_t r, int64_t now, int64_t min_service_ns) {
  if (now + min_service_ns > r.deadline_ns) return GL_ADMIT_LATE;
  if (q->len == q->cap) return GL_ADMIT_FULL;
  int i = q->len;
  /* insertion from the tail: O(1) when deadlines arrive in order (one SLO per queue) */
  while (i > 0 && after(&q->buf[(q->head + i - 1) % q->cap], &r)) {
    q->buf[(q->head + i) % q->cap] = q->buf[(q->head + i - 1) % q->cap];
    i--;
  }
  q->buf[(q->head + i) % q->cap] = r;
  q->len++;
  return GL_ADMIT_OK;
}

int gl_dqueue_pop(gl_dqueue_t *q, int n, gl_req_t *out) {
  if (n > q->len) n = q->len;
  for (int i = 0; i < n; i++) {
    if (out) out[i] = q->buf[q->head];
    q->head = (q->head + 1) % q->cap;
  }
  q->len -= n;
  if (!q->len) q->head = 0;
  return n;
}

gl_batch_decision_t gl_batcher_next(const gl_batcher_t *b, const gl_dqueue_t *q, int64_t now) {
  gl_batch_decision_t d = {GL_BATCH_IDLE, 0, 0};
  if (q->len == 0) return d;
  /* requests at the head that would miss even when run now, alone */
  int late = 0;
  while (late < q->len && gl_dqueue_at(q, late)->deadline_ns < now + b->lat_ns[1]) late++;
  if (late) {
    d.action = GL_BATCH_REJECT;
    d.n = late;
    return d;
  }
  const gl_req_t *h = gl_dqueue_at(q, 0);
  int n = q->len < b->max_batch ? q->len : b->max_batch;
  /* first[k]: the earliest deadline among the first k (the head's when priorities are equal) */
  int64_t first[GL_BATCH_MAX + 1];
  first[0] = INT64_MAX;
  for (int k = 1; k <= n; k++) {
    int64_t dl = gl_dqueue_at(q, k - 1)->deadline_ns;
    first[k] = dl < first[k - 1] ? dl : first[k - 1];
  }
  while (n > 1 && now + b->lat_ns[n] > first[n]) n--;
  if (b->mode == GL_BATCH_EAGER || n == b->max_batch || n < q->len) {
    d.action = GL_BATCH_RUN;
    d.n = n;
    return d;
  }
  /* COLLECT: wait for more while a full batch would still meet the head's deadline */
  int64_t t = h->arrival_ns + b->collect_ns;
  int64_t t2 = first[n] - b->lat_ns[b->max_batch];
  if (t2 < t) t = t2;
  if (now >= t) {
    d.action = GL_BATCH_RUN;
    d.n = n;
    return d;
  }
  d.action = GL_BATCH_WAIT;
  d.until_ns = t;
  return d;
}
