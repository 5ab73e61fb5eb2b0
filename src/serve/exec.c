/* serve/exec.c - a served model's request path: checking a request against the model, admission
 * into its deadline queue (waking every gpu-let that serves the model), draining and freeing.
 * Batches are run by the gpu-lets (let.c). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/let.h"
#include "serve/model.h"

void gl_smodel_drain(gl_smodel_t *m) {
  pthread_mutex_lock(&m->mu);
  m->accepting = false;
  while (m->in_flight > 0) pthread_cond_wait(&m->idle_cv, &m->mu);
  pthread_mutex_unlock(&m->mu);
}

/* Frees everything, m included (no gpu-let holds it any more). */
void gl_smodel_exec_stop(gl_smodel_t *m) {
  if (!m) return;
  gl_backend_destroy(m->be);
  gl_model_destroy(m->model);
  if (m->q.buf) gl_dqueue_fini(&m->q);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->idle_cv);
  gl_free(m);
}

void gl_sreq_finish(gl_sreq_t *r) {
  r->end_ns = gl_now_ns();
  r->done(r);
}

void gl_sreq_fini(gl_sreq_t *r) {
  gl_kv_request_fini(&r->kv);
  for (int o = 0; o < GL_SMODEL_MAX_IO; o++) gl_tensor_fini(&r->outs[o]);
}

static int reject(gl_smodel_t *m, gl_sreq_t *r, int code, const char *fmt, ...) GL_PRINTF(4, 5);
static int reject(gl_smodel_t *m, gl_sreq_t *r, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
  r->http_status = code;
  pthread_mutex_lock(&m->mu);
  if (code == 429 || code == 503) m->st.fail_rejected++;
  else m->st.fail_other++;
  pthread_mutex_unlock(&m->mu);
  return code;
}

int gl_smodel_submit(gl_smodel_t *m, gl_sreq_t *r) {
  gl_kv_request_t *kv = &r->kv;
  bool batched = m->cfg.max_batch > 0;
  r->model = m;
  r->arrival_ns = r->arrival_ns ? r->arrival_ns : gl_now_ns();
  if (kv->n_inputs != m->n_inputs)
    return reject(m, r, 400, "model '%s' has %d inputs, the request gives %d", m->name, m->n_inputs, kv->n_inputs);
  /* order the inputs as the model's */
  for (int i = 0; i < m->n_inputs; i++) {
    int j = i;
    while (j < kv->n_inputs && strcmp(kv->inputs[j].name, m->inputs[i].name)) j++;
    if (j == kv->n_inputs) {
      for (int k = 0; k < kv->n_inputs; k++) {
        bool known = false;
        for (int q = 0; q < m->n_inputs; q++) known |= !strcmp(kv->inputs[k].name, m->inputs[q].name);
        if (!known) return reject(m, r, 400, "model '%s' has no input '%s'", m->name, kv->inputs[k].name);
      }
      return reject(m, r, 400, "input '%s' is missing", m->inputs[i].name);
    }
    gl_kv_input_t tmp = kv->inputs[i];
    kv->inputs[i] = kv->inputs[j];
    kv->inputs[j] = tmp;
  }
  r->samples = 1;
  for (int i = 0; i < m->n_inputs; i++) {
    const gl_tensor_t *t = &kv->inputs[i].t;
    const gl_sio_t *io = &m->inputs[i];
    char want[160], got[160];
    if (t->dtype != io->dtype)
      return reject(m, r, 400, "input '%s': datatype %s, the model expects %s", io->name, gl_dtype_kserve(t->dtype), gl_dtype_kserve(io->dtype));
    bool ok = t->shape.rank == io->shape.rank;
    for (int d = 0; ok && d < t->shape.rank; d++)
      if (!(batched && d == 0) && t->shape.d[d] != io->shape.d[d]) ok = false;
    if (ok && batched) {
      if (t->shape.d[0] > m->cfg.max_batch)
        return reject(m, r, 400, "input '%s': batch %lld is over the model's max_batch_size %d", io->name, (long long)t->shape.d[0], m->cfg.max_batch);
      if (i > 0 && t->shape.d[0] != r->samples)
        return reject(m, r, 400, "input '%s': batch %lld differs from the other inputs' %lld", io->name, (long long)t->shape.d[0], (long long)r->samples);
      r->samples = t->shape.d[0];
    }
    if (!ok)
      return reject(m, r, 400, "input '%s': shape %s, the model expects %s", io->name,
                    gl_shape_str(&t->shape, got, sizeof got), gl_shape_str(&io->shape, want, sizeof want));
  }
  for (int k = 0; k < kv->n_outputs; k++) {
    bool known = false;
    for (int o = 0; o < m->n_outputs; o++) known |= !strcmp(kv->outputs[k].name, m->outputs[o].name);
    if (!known) return reject(m, r, 400, "model '%s' has no output '%s'", m->name, kv->outputs[k].name);
  }
  int64_t slo = (int64_t)(m->cfg.slo_ms * 1e6);
  r->deadline_ns = r->arrival_ns + (kv->timeout_us > 0 ? kv->timeout_us * 1000 : slo);
  if (kv->deadline_us > 0) {
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t real_now = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
    r->deadline_ns = gl_now_ns() + (kv->deadline_us * 1000 - real_now);
  }
  atomic_fetch_add(&m->arrivals, 1);
  pthread_mutex_lock(&m->mu);
  if (!m->accepting) {
    pthread_mutex_unlock(&m->mu);
    return reject(m, r, 503, "model '%s' is not accepting requests (unloading or shutting down)", m->name);
  }
  if (m->n_lets == 0) {
    pthread_mutex_unlock(&m->mu);
    return reject(m, r, 503, "model '%s' has no gpu-let serving it right now (see GET /v2/gpulet/plan)", m->name);
  }
  int64_t now = gl_now_ns();
  r->enqueue_ns = now;
  gl_req_t q = {(int64_t)(intptr_t)r, r->arrival_ns, r->deadline_ns, gl_smodel_priority(m, kv->priority)};
  /* serve_late: never refused for lateness (only for a full queue) */
  if (!m->cfg.serve_late && now + m->min_service_ns > r->deadline_ns) gl_smodel_age_service(m, now);
  /* Early rejection: a request is refused on arrival when it cannot finish by its deadline even
   * if served alone, after the queue ahead of it drains at the gpu-lets' measured pace (requests
   * of other priorities or earlier deadlines are ahead; a later deadline's are not counted). */
  int64_t wait = 0, service = m->min_service_ns;
  if (m->q.len > 0 && m->drain_per_ns > 0) {
    int ahead = 0;
    while (ahead < m->q.len && gl_dqueue_at(&m->q, ahead)->deadline_ns <= r->deadline_ns) ahead++;
    wait = (int64_t)((double)ahead / m->drain_per_ns);
    if (ahead > 0) service = m->full_service_ns; /* behind a queue it runs in a full batch */
  }
  int64_t min_service = m->cfg.serve_late ? -(INT64_MAX / 4) : service + wait;
  gl_admit_t a = gl_dqueue_push(&m->q, q, now, min_service);
  if (a == GL_ADMIT_OK) {
    m->in_flight++;
    r->idle_service_ns = m->q.len == 1 ? m->min_service_ns : 0;
    /* wake the gpu-lets after m->mu is released: woken under it, an executor would run at once
     * (on a shared core), block on m->mu and switch back (two extra context switches a request);
     * pins keep a gpu-let alive until its kick is done (gl_slet_destroy waits for them) */
    gl_slet_t *kick[GL_SMODEL_MAX_LETS];
    int nk = m->n_lets;
    for (int i = 0; i < nk; i++) {
      kick[i] = m->lets[i];
      atomic_fetch_add(&kick[i]->pins, 1);
    }
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < nk; i++) {
      gl_slet_kick(kick[i]);
      atomic_fetch_sub(&kick[i]->pins, 1);
    }
    return 0;
  }
  int cap = m->q.cap;
  int64_t lat1 = service, wait_ns = wait;
  if (a == GL_ADMIT_LATE) m->st.rejected_late++;
  else m->st.rejected_full++;
  pthread_mutex_unlock(&m->mu);
  if (a == GL_ADMIT_FULL)
    return reject(m, r, 429, "model '%s' is overloaded: its queue holds %d requests (max_queue_size)", m->name, cap);
  return reject(m, r, 503, "request for model '%s' rejected on arrival: it cannot meet its deadline (%.3f ms left, its batch takes %.3f ms after %.3f ms for the queue ahead)",
                m->name, gl_ns_to_ms(r->deadline_ns - now), gl_ns_to_ms(lat1), gl_ns_to_ms(wait_ns));
}
