/* serve/exec.c - a served model's request path: admission into its deadline queue, the
 * dispatcher thread that drives the batcher with the monotonic clock, and batch execution on the
 * model's partition (inputs copied into the batch buffer, outputs split back per request). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/model.h"

static int plan_size(const gl_smodel_t *m, int64_t samples) {
  if (m->cfg.max_batch <= 0) return 1;
  int s = 1;
  while (s < samples) s *= 2;
  return s > m->cfg.max_batch ? m->cfg.max_batch : s;
}

static size_t sample_bytes(const gl_tensor_t *t, bool batched) {
  size_t n = gl_tensor_nbytes(t);
  return batched && t->shape.d[0] > 0 ? n / (size_t)t->shape.d[0] : n;
}

/* Compiles the plan for batch `size` and its buffers (on the executor thread). */
gl_status_t gl_smodel_ensure_plan(gl_smodel_t *m, int size) {
  if (m->plans[size]) return GL_OK;
  bool batched = m->cfg.max_batch > 0;
  gl_shape_t shapes[GL_SMODEL_MAX_IO];
  for (int i = 0; i < m->n_inputs; i++) {
    shapes[i] = m->inputs[i].shape;
    if (batched) shapes[i].d[0] = size;
  }
  gl_compile_opts_t co = {.batch = size, .input_shapes = shapes};
  gl_part_placement(m->part, &co.placement);
  co.placement.precision = m->cfg.precision; /* the CUDA backend's arithmetic; the CPU ignores it */
  gl_plan_t *p = NULL;
  GL_TRY(gl_model_compile(m->model, m->be, &co, &p));
  gl_status_t st = GL_OK;
  if (p->n_inputs != m->n_inputs || p->n_outputs != m->n_outputs) {
    st = gl_err(GL_ESTATE, "the compiled plan has %d inputs and %d outputs, the model %d and %d", p->n_inputs, p->n_outputs, m->n_inputs, m->n_outputs);
    goto fail;
  }
  for (int i = 0; i < p->n_inputs; i++)
    if (strcmp(p->input_names[i], m->inputs[i].name)) { st = gl_err(GL_ESTATE, "plan input %d is '%s', not '%s'", i, p->input_names[i], m->inputs[i].name); goto fail; }
  for (int o = 0; o < p->n_outputs; o++) {
    if (batched && (p->outputs[o].shape.rank == 0 || p->outputs[o].shape.d[0] != size)) {
      st = gl_err(GL_ESHAPE, "output '%s' does not have the batch (%d) as its first dim", p->output_names[o], size);
      goto fail;
    }
  }
  for (int i = 0; i < p->n_inputs; i++)
    if ((st = gl_tensor_alloc(&m->bin[size][i], p->inputs[i].dtype, &p->inputs[i].shape))) goto fail;
  if ((st = gl_plan_alloc_outputs(p, m->bout[size]))) goto fail;
  if (size == 1) {
    for (int o = 0; o < p->n_outputs; o++) {
      m->outputs[o].dtype = p->outputs[o].dtype;
      m->outputs[o].shape = p->outputs[o].shape;
      if (batched) m->outputs[o].shape.d[0] = -1;
    }
  }
  pthread_mutex_lock(&m->mu);
  m->plans[size] = p;
  pthread_mutex_unlock(&m->mu);
  return GL_OK;
fail:
  for (int i = 0; i < GL_SMODEL_MAX_IO; i++) gl_tensor_fini(&m->bin[size][i]);
  gl_plan_destroy(p);
  return st;
}

typedef struct {
  gl_smodel_t *m;
  gl_sreq_t **r;
  int n, size;
  gl_status_t st;
  char err[256];
  int64_t t0, t1, t2, t3;
} job_t;

static gl_status_t batch_job(gl_part_t *part, void *arg) {
  job_t *j = arg;
  gl_smodel_t *m = j->m;
  bool batched = m->cfg.max_batch > 0;
  j->t0 = gl_now_ns();
  gl_status_t st = gl_smodel_ensure_plan(m, j->size);
  if (st) goto out;
  gl_tensor_t *bin = m->bin[j->size], *bout = m->bout[j->size];
  for (int i = 0; i < m->n_inputs; i++) {
    size_t off = 0, total = gl_tensor_nbytes(&bin[i]);
    for (int k = 0; k < j->n; k++) {
      const gl_tensor_t *t = &j->r[k]->kv.inputs[i].t;
      size_t nb = gl_tensor_nbytes(t);
      GL_ASSERT(off + nb <= total);
      memcpy((char *)bin[i].data + off, t->data, nb);
      off += nb;
    }
    if (off < total) memset((char *)bin[i].data + off, 0, total - off);
  }
  j->t1 = gl_now_ns();
  st = gl_plan_run(m->plans[j->size], bin, bout);
  if (!st) st = gl_plan_wait(m->plans[j->size]);
  j->t2 = gl_now_ns();
  if (st) goto out;
  int64_t s0 = 0;
  for (int k = 0; k < j->n && !st; k++) {
    gl_sreq_t *r = j->r[k];
    for (int o = 0; o < m->n_outputs; o++) {
      gl_shape_t s = bout[o].shape;
      if (batched) s.d[0] = r->samples;
      if ((st = gl_tensor_alloc(&r->outs[o], bout[o].dtype, &s))) break;
      size_t per = sample_bytes(&bout[o], batched);
      memcpy(r->outs[o].data, (char *)bout[o].data + (size_t)s0 * per, gl_tensor_nbytes(&r->outs[o]));
    }
    s0 += r->samples;
  }
out:
  j->t3 = gl_now_ns();
  j->st = st;
  if (st) snprintf(j->err, sizeof j->err, "%s", gl_errmsg());
  return st;
}

/* Refreshes the batcher's predicted latencies from what was observed (caller holds mu). */
static void update_lat(gl_smodel_t *m) {
  int mb = m->batcher.max_batch;
  int64_t l1 = m->lat_ewma_ns[1];
  int64_t prev = 0;
  for (int n = 1; n <= mb; n++) {
    int s = plan_size(m, n);
    int64_t v = m->lat_ewma_ns[s] ? m->lat_ewma_ns[s] : l1 * s;
    if (v < prev) v = prev;
    m->batcher.lat_ns[n] = prev = v;
  }
}

static void finish(gl_smodel_t *m, gl_sreq_t *r) {
  r->end_ns = gl_now_ns();
  r->done(r);
}

static void *dispatch(void *arg) {
  gl_smodel_t *m = arg;
  gl_sreq_t *batch[GL_BATCH_MAX];
  pthread_mutex_lock(&m->mu);
  for (;;) {
    if (m->q.len == 0) {
      if (m->stopping) break;
      pthread_cond_wait(&m->cv, &m->mu);
      continue;
    }
    update_lat(m);
    int64_t now = gl_now_ns();
    gl_batch_decision_t d = gl_batcher_next(&m->batcher, &m->q, now);
    if (d.action == GL_BATCH_WAIT) {
      struct timespec ts = {d.until_ns / 1000000000LL, d.until_ns % 1000000000LL};
      pthread_cond_timedwait(&m->cv, &m->mu, &ts);
      continue;
    }
    if (d.action == GL_BATCH_IDLE) {
      pthread_cond_wait(&m->cv, &m->mu);
      continue;
    }
    if (d.action == GL_BATCH_REJECT && !m->cfg.serve_late) {
      int n = d.n > GL_BATCH_MAX ? GL_BATCH_MAX : d.n;
      gl_req_t rq[GL_BATCH_MAX];
      n = gl_dqueue_pop(&m->q, n, rq);
      m->st.rejected_late += n;
      m->st.fail_rejected += n;
      pthread_mutex_unlock(&m->mu);
      for (int k = 0; k < n; k++) {
        gl_sreq_t *r = (gl_sreq_t *)(intptr_t)rq[k].id;
        r->http_status = 503;
        snprintf(r->err, sizeof r->err, "request for model '%s' rejected: it can no longer meet its deadline (%.3f ms left, a batch of 1 takes %.3f ms)",
                 m->name, gl_ns_to_ms(r->deadline_ns - now), gl_ns_to_ms(m->batcher.lat_ns[1]));
        finish(m, r);
      }
      pthread_mutex_lock(&m->mu);
      m->in_flight -= n;
      pthread_cond_broadcast(&m->idle_cv);
      continue;
    }
    /* RUN (or REJECT served late): take head requests while their samples fit one batch */
    int want = d.n > 0 ? d.n : 1;
    int cap = m->cfg.max_batch > 0 ? m->cfg.max_batch : 1;
    int n = 0;
    int64_t samples = 0;
    while (n < want && n < m->q.len) {
      gl_sreq_t *r = (gl_sreq_t *)(intptr_t)gl_dqueue_at(&m->q, n)->id;
      if (n > 0 && samples + r->samples > cap) break;
      samples += r->samples;
      n++;
    }
    gl_req_t rq[GL_BATCH_MAX];
    n = gl_dqueue_pop(&m->q, n, rq);
    for (int k = 0; k < n; k++) {
      batch[k] = (gl_sreq_t *)(intptr_t)rq[k].id;
      batch[k]->start_ns = now;
    }
    pthread_mutex_unlock(&m->mu);
    job_t j = {.m = m, .r = batch, .n = n, .size = plan_size(m, samples)};
    gl_status_t st = gl_part_run_sync(m->part, batch_job, &j);
    if (st && !j.st) {
      j.st = st;
      snprintf(j.err, sizeof j.err, "%s", gl_errmsg());
    }
    int64_t end = gl_now_ns();
    pthread_mutex_lock(&m->mu);
    if (!j.st) {
      int64_t lat = j.t3 - j.t0;
      int64_t *e = &m->lat_ewma_ns[j.size];
      *e = *e ? (*e * 7 + lat) / 8 : lat;
      m->st.exec_count++;
      m->st.inference_count += samples;
      m->st.batch_hist[samples <= GL_BATCH_MAX ? samples : GL_BATCH_MAX]++;
      m->st.batch_ns_infer[samples <= GL_BATCH_MAX ? samples : GL_BATCH_MAX] += j.t2 - j.t1;
      struct timeval tv;
      gettimeofday(&tv, NULL);
      m->st.last_inference_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    }
    for (int k = 0; k < n; k++) {
      gl_sreq_t *r = batch[k];
      if (j.st) {
        r->http_status = 500;
        snprintf(r->err, sizeof r->err, "model '%s': %s", m->name, j.err);
        m->st.fail_backend++;
        continue;
      }
      r->http_status = 200;
      m->st.success++;
      m->st.ns_queue += r->start_ns - r->enqueue_ns;
      m->st.ns_input += j.t1 - j.t0;
      m->st.ns_infer += j.t2 - j.t1;
      m->st.ns_output += j.t3 - j.t2;
      m->st.ns_request += end - r->arrival_ns;
      if (end <= r->deadline_ns) m->st.slo_met++;
      else m->st.slo_missed++;
    }
    pthread_mutex_unlock(&m->mu);
    for (int k = 0; k < n; k++) finish(m, batch[k]);
    pthread_mutex_lock(&m->mu);
    m->in_flight -= n;
    pthread_cond_broadcast(&m->idle_cv);
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

typedef struct {
  gl_smodel_t *m;
  gl_status_t st;
  char err[256];
  int64_t lat;
} warm_t;

static gl_status_t warm_job(gl_part_t *part, void *arg) {
  warm_t *w = arg;
  gl_smodel_t *m = w->m;
  gl_status_t st = gl_smodel_ensure_plan(m, 1);
  for (int k = 0; !st && k < 3; k++) {
    int64_t t0 = gl_now_ns();
    st = gl_plan_run(m->plans[1], m->bin[1], m->bout[1]);
    if (!st) st = gl_plan_wait(m->plans[1]);
    w->lat = gl_now_ns() - t0;
  }
  w->st = st;
  if (st) snprintf(w->err, sizeof w->err, "%s", gl_errmsg());
  return st;
}

/* Background job: compiles and times every other batch size, so the first big batch does not
 * pay for compiling and the batcher predicts with measured latencies. */
static gl_status_t warm_rest_job(gl_part_t *part, void *arg) {
  gl_smodel_t *m = arg;
  int mb = m->cfg.max_batch;
  for (int s = 2; s <= mb && !atomic_load(&m->warm_stop); s = s == mb ? mb + 1 : (s * 2 < mb ? s * 2 : mb)) {
    if (gl_smodel_ensure_plan(m, s)) {
      fprintf(stderr, "gpulet serve: model %s: batch %d not compiled: %s\n", m->name, s, gl_errmsg());
      return GL_OK; /* the batcher stays with smaller batches' estimates; a real batch retries */
    }
    int64_t lat = INT64_MAX;
    for (int k = 0; k < 2; k++) { /* the first run is cold; keep the faster */
      int64_t t0 = gl_now_ns();
      if (gl_plan_run(m->plans[s], m->bin[s], m->bout[s]) || gl_plan_wait(m->plans[s])) return GL_OK;
      if (gl_now_ns() - t0 < lat) lat = gl_now_ns() - t0;
    }
    pthread_mutex_lock(&m->mu);
    if (!m->lat_ewma_ns[s]) m->lat_ewma_ns[s] = lat;
    pthread_mutex_unlock(&m->mu);
  }
  return GL_OK;
}

static gl_status_t noop_job(gl_part_t *part, void *arg) { return GL_OK; }

gl_status_t gl_smodel_exec_start(gl_smodel_t *m) {
  warm_t w = {.m = m};
  gl_status_t st = gl_part_run_sync(m->part, warm_job, &w);
  if (w.st) return gl_err(w.st, "%s", w.err);
  if (st) return st;
  m->lat_ewma_ns[1] = w.lat;
  m->batcher.mode = m->cfg.collect_us > 0 ? GL_BATCH_COLLECT : GL_BATCH_EAGER;
  m->batcher.max_batch = m->cfg.max_batch > 0 ? m->cfg.max_batch : 1;
  m->batcher.collect_ns = m->cfg.collect_us * 1000;
  update_lat(m);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_destroy(&m->cv);
  pthread_cond_init(&m->cv, &ca);
  pthread_condattr_destroy(&ca);
  m->accepting = true;
  if (pthread_create(&m->thread, NULL, dispatch, m)) {
    m->accepting = false;
    return gl_err(GL_ENOMEM, "cannot start the dispatcher thread");
  }
  m->thread_started = true;
  if (m->cfg.warm && m->cfg.max_batch > 1) m->warm_submitted = gl_part_submit(m->part, warm_rest_job, m) == GL_OK;
  return GL_OK;
}

void gl_smodel_drain(gl_smodel_t *m) {
  pthread_mutex_lock(&m->mu);
  m->accepting = false;
  while (m->in_flight > 0) pthread_cond_wait(&m->idle_cv, &m->mu);
  pthread_mutex_unlock(&m->mu);
}

/* Stops the dispatcher and frees everything, m included. */
void gl_smodel_exec_stop(gl_smodel_t *m) {
  if (!m) return;
  if (m->warm_submitted) {
    /* the partition runs jobs in order: once a no-op has run, the warm job is over */
    atomic_store(&m->warm_stop, true);
    if (gl_part_run_sync(m->part, noop_job, NULL)) { /* stopping anyway */ }
  }
  if (m->thread_started) {
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
  }
  for (int s = 0; s <= GL_BATCH_MAX; s++) {
    for (int i = 0; i < GL_SMODEL_MAX_IO; i++) {
      gl_tensor_fini(&m->bin[s][i]);
      gl_tensor_fini(&m->bout[s][i]);
    }
    gl_plan_destroy(m->plans[s]);
  }
  gl_backend_destroy(m->be);
  gl_model_destroy(m->model);
  if (m->q.buf) gl_dqueue_fini(&m->q);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  pthread_cond_destroy(&m->idle_cv);
  gl_free(m);
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
  pthread_mutex_lock(&m->mu);
  if (!m->accepting) {
    pthread_mutex_unlock(&m->mu);
    return reject(m, r, 503, "model '%s' is not accepting requests (unloading or shutting down)", m->name);
  }
  int64_t now = gl_now_ns();
  r->enqueue_ns = now;
  gl_req_t q = {(int64_t)(intptr_t)r, r->arrival_ns, r->deadline_ns, gl_smodel_priority(m, kv->priority)};
  /* serve_late: never refused for lateness (only for a full queue) */
  int64_t min_service = m->cfg.serve_late ? -(INT64_MAX / 4) : m->batcher.lat_ns[1];
  gl_admit_t a = gl_dqueue_push(&m->q, q, now, min_service);
  if (a == GL_ADMIT_OK) {
    m->in_flight++;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return 0;
  }
  int cap = m->q.cap;
  int64_t lat1 = m->batcher.lat_ns[1];
  if (a == GL_ADMIT_LATE) m->st.rejected_late++;
  else m->st.rejected_full++;
  pthread_mutex_unlock(&m->mu);
  if (a == GL_ADMIT_FULL)
    return reject(m, r, 429, "model '%s' is overloaded: its queue holds %d requests (max_queue_size)", m->name, cap);
  return reject(m, r, 503, "request for model '%s' rejected on arrival: it cannot meet its deadline (%.3f ms left, a batch of 1 takes %.3f ms)",
                m->name, gl_ns_to_ms(r->deadline_ns - now), gl_ns_to_ms(lat1));
}
