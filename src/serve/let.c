/* serve/let.c - a served gpu-let: its partition's executor runs one long job that warms the
 * members' plans, then pulls batches round-robin from the members' model queues (as sim.c's
 * try_start) until retired, and finally destroys its plans on the thread that compiled them. */
#include "serve/let.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

const char *gl_slet_state_name(int state) {
  switch (state) {
    case GL_SLET_WARMING: return "warming";
    case GL_SLET_SERVING: return "serving";
    case GL_SLET_RETIRING: return "retiring";
    default: return "failed";
  }
}

/* Compiled size for a batch of `samples`: powers of two, the planned batch, the model's max. */
static int plan_size(const gl_slet_member_t *e, int64_t samples) {
  const gl_smodel_t *m = e->m;
  if (m->cfg.max_batch <= 0) return 1;
  int s = 1;
  while (s < samples) s *= 2;
  if (samples <= e->batch && s > e->batch) s = e->batch;
  return s > m->cfg.max_batch ? m->cfg.max_batch : s;
}

static size_t sample_bytes(const gl_tensor_t *t, bool batched) {
  size_t n = gl_tensor_nbytes(t);
  return batched && t->shape.d[0] > 0 ? n / (size_t)t->shape.d[0] : n;
}

static void drop_plans(gl_slet_member_t *e) {
  for (int s = 0; s <= GL_BATCH_MAX; s++) {
    for (int i = 0; i < GL_SMODEL_MAX_IO; i++) {
      gl_tensor_fini(&e->bin[s][i]);
      gl_tensor_fini(&e->bout[s][i]);
    }
    gl_plan_destroy(e->plans[s]);
    e->plans[s] = NULL;
    e->mps_id[s] = 0; /* the worker keeps what it loaded until the gpu-let's worker exits */
  }
}

/* Frees the plans of sizes the member's (new) planned batch no longer uses, so that a gpu-let
 * reconfigured again and again keeps at most the plans of its current batch (executor thread). */
static void trim_plans(gl_slet_member_t *e) {
  bool used[GL_BATCH_MAX + 1] = {0};
  pthread_mutex_lock(&e->m->mu);
  for (int n = 1; n <= e->batch; n++) used[plan_size(e, n)] = true;
  pthread_mutex_unlock(&e->m->mu);
  for (int s = 1; s <= GL_BATCH_MAX; s++) {
    if (used[s] || !e->plans[s]) continue;
    for (int i = 0; i < GL_SMODEL_MAX_IO; i++) {
      gl_tensor_fini(&e->bin[s][i]);
      gl_tensor_fini(&e->bout[s][i]);
    }
    gl_plan_destroy(e->plans[s]);
    e->plans[s] = NULL;
  }
}

static bool on_mps(const gl_slet_t *l) { return l->grant.kind == GL_PART_CUDA_MPS; }

/* MPS partitions: the worker process loads and compiles the model for `size` (it reads
 * model.onnx itself); the batch buffers are made here from the model's input shapes. */
static gl_status_t ensure_mps(gl_slet_t *l, gl_slet_member_t *e, int size) {
  if (e->mps_id[size]) return GL_OK;
  gl_smodel_t *m = e->m;
  for (int i = 0; i < m->n_inputs; i++) {
    gl_shape_t sh = m->inputs[i].shape;
    if (m->cfg.max_batch > 0) sh.d[0] = size;
    if (!e->bin[size][i].data) GL_TRY(gl_tensor_alloc(&e->bin[size][i], m->inputs[i].dtype, &sh));
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/model.onnx", m->dir);
  int id = -1;
  GL_TRY(gl_part_mps_load(l->part, path, size, &id));
  e->mps_id[size] = id + 1;
  return GL_OK;
}

/* Runs member e's compiled size on its buffers: the plan on this executor, or the MPS worker
 * (its outputs replace the size's output buffers). */
static gl_status_t exec_size(gl_slet_t *l, gl_slet_member_t *e, int size) {
  if (!on_mps(l)) {
    gl_status_t st = gl_plan_run(e->plans[size], e->bin[size], e->bout[size]);
    if (!st) st = gl_plan_wait(e->plans[size]);
    return st;
  }
  gl_smodel_t *m = e->m;
  gl_tensor_t out[GL_SMODEL_MAX_IO];
  memset(out, 0, sizeof out);
  int n_out = 0;
  GL_TRY(gl_part_mps_run(l->part, e->mps_id[size] - 1, e->bin[size], m->n_inputs, out, &n_out));
  gl_status_t st = GL_OK;
  if (n_out != m->n_outputs) st = gl_err(GL_ESTATE, "the MPS worker answered %d outputs, the model has %d", n_out, m->n_outputs);
  for (int o = 0; o < n_out && !st; o++)
    if (m->cfg.max_batch > 0 && (out[o].shape.rank == 0 || out[o].shape.d[0] != size))
      st = gl_err(GL_ESHAPE, "MPS output %d does not have the batch (%d) as its first dim", o, size);
  for (int o = 0; o < n_out; o++) {
    if (st) {
      gl_tensor_fini(&out[o]);
      continue;
    }
    gl_tensor_fini(&e->bout[size][o]);
    e->bout[size][o] = out[o];
  }
  return st;
}

/* Compiles member e's plan for batch `size` and its buffers (on the executor thread). */
static gl_status_t ensure_plan(gl_slet_t *l, gl_slet_member_t *e, int size) {
  if (on_mps(l)) return ensure_mps(l, e, size);
  if (e->plans[size]) return GL_OK;
  gl_smodel_t *m = e->m;
  bool batched = m->cfg.max_batch > 0;
  gl_shape_t shapes[GL_SMODEL_MAX_IO];
  for (int i = 0; i < m->n_inputs; i++) {
    shapes[i] = m->inputs[i].shape;
    if (batched) shapes[i].d[0] = size;
  }
  gl_compile_opts_t co = {.batch = size, .input_shapes = shapes};
  gl_part_placement(l->part, &co.placement);
  co.placement.precision = m->cfg.precision; /* the CUDA backend's arithmetic; the CPU ignores it */
  if (!e->arena) e->arena = gl_arena_create(); /* NULL: each plan its own */
  co.placement.arena = e->arena;
  gl_plan_t *p = NULL;
  GL_TRY(gl_model_compile(m->model, l->sdev && l->sdev->be ? l->sdev->be : m->be, &co, &p));
  gl_status_t st = GL_OK;
  if (p->n_inputs != m->n_inputs || p->n_outputs != m->n_outputs) {
    st = gl_err(GL_ESTATE, "the compiled plan has %d inputs and %d outputs, the model %d and %d", p->n_inputs,
                p->n_outputs, m->n_inputs, m->n_outputs);
    goto fail;
  }
  for (int o = 0; o < p->n_outputs; o++)
    if (batched && (p->outputs[o].shape.rank == 0 || p->outputs[o].shape.d[0] != size)) {
      st = gl_err(GL_ESHAPE, "output '%s' does not have the batch (%d) as its first dim", p->output_names[o], size);
      goto fail;
    }
  for (int i = 0; i < p->n_inputs; i++)
    if ((st = gl_tensor_alloc(&e->bin[size][i], p->inputs[i].dtype, &p->inputs[i].shape))) goto fail;
  if ((st = gl_plan_alloc_outputs(p, e->bout[size]))) goto fail;
  e->plans[size] = p;
  return GL_OK;
fail:
  for (int i = 0; i < GL_SMODEL_MAX_IO; i++) gl_tensor_fini(&e->bin[size][i]);
  gl_plan_destroy(p);
  return st;
}

int64_t gl_slet_lat_update(int64_t ew, int64_t sample) {
  if (ew <= 0) return sample;
  if (sample > 2 * ew) sample = 2 * ew;
  return (ew * 7 + sample) / 8;
}

/* Refreshes the batcher's predicted latencies from what was measured, else the profile's
 * prediction (caller holds e->m->mu). */
static void update_lat(gl_slet_member_t *e) {
  int64_t prev = 0;
  for (int n = 1; n <= e->bat.max_batch; n++) {
    int s = plan_size(e, n);
    int64_t v = e->lat_ewma_ns[s];
    if (!v) v = e->lat_ewma_ns[1] ? e->lat_ewma_ns[1] * s : (int64_t)(e->pred_ms[n] * 1e6);
    if (v < prev) v = prev;
    e->bat.lat_ns[n] = prev = v;
  }
}

void gl_smodel_refresh_service(gl_smodel_t *m) {
  int64_t best = 0, full = 0;
  double drain = 0;
  for (int i = 0; i < m->n_lets; i++) {
    int k = gl_slet_member_of(m->lets[i], m);
    if (k < 0) continue;
    const gl_slet_member_t *e = &m->lets[i]->mem[k];
    int64_t v = e->bat.lat_ns[1];
    if (v > 0 && (best == 0 || v < best)) best = v;
    /* a gpu-let shared by n members gives this one about 1/n of its time */
    int b = e->bat.max_batch;
    if (b >= 1 && e->bat.lat_ns[b] > 0) {
      drain += (double)b / (double)e->bat.lat_ns[b] / m->lets[i]->n_members;
      if (full == 0 || e->bat.lat_ns[b] < full) full = e->bat.lat_ns[b];
    }
  }
  m->min_service_ns = best;
  m->full_service_ns = full > best ? full : best;
  m->drain_per_ns = drain;
}

void gl_smodel_age_service(gl_smodel_t *m, int64_t now) {
  bool aged = false;
  for (int i = 0; i < m->n_lets; i++) {
    int k = gl_slet_member_of(m->lets[i], m);
    if (k < 0) continue;
    gl_slet_member_t *e = &m->lets[i]->mem[k];
    if (!e->last_ns || now - e->last_ns < GL_SLET_STALE_NS) continue;
    int64_t steps = (now - e->last_ns) / GL_SLET_STALE_NS;
    for (int64_t t = 0; t < steps && t < 16; t++) /* 16 steps: 1% of the old value is left */
      for (int s = 1; s <= GL_BATCH_MAX; s++) e->lat_ewma_ns[s] -= e->lat_ewma_ns[s] / 4;
    e->last_ns = now;
    update_lat(e);
    aged = true;
  }
  if (aged) gl_smodel_refresh_service(m);
}

int gl_slet_member_of(const gl_slet_t *l, const gl_smodel_t *m) {
  for (int k = 0; k < l->n_members; k++)
    if (l->mem[k].m == m) return k;
  return -1;
}

bool gl_slet_same(const gl_slet_t *l, int units, double duty_ms, const gl_slet_spec_member_t *mem, int n) {
  if (l->units != units || l->n_members != n || fabs(l->duty_ms - duty_ms) > 1e-6) return false;
  if (atomic_load(&l->state) != GL_SLET_SERVING) return false;
  for (int k = 0; k < n; k++)
    if (l->mem[k].m != mem[k].m || l->mem[k].batch != mem[k].batch) return false;
  return true;
}

bool gl_slet_same_members(const gl_slet_t *l, int units, const gl_slet_spec_member_t *mem, int n) {
  if (l->units != units || l->n_members != n || atomic_load(&l->state) != GL_SLET_SERVING) return false;
  for (int k = 0; k < n; k++)
    if (l->mem[k].m != mem[k].m) return false;
  return true;
}

/* Makes the executor look at its queues and state again (caller holds l->mu); true when it sleeps
 * and must be posted (after the unlock; once per sleep). */
static bool wake_locked(gl_slet_t *l) {
  l->kick++;
  bool w = l->waiting;
  l->waiting = false;
  return w;
}

void gl_slet_reconfigure(gl_slet_t *l, double duty_ms, double occupancy, const gl_slet_spec_member_t *mem, int n) {
  GL_ASSERT(n == l->n_members);
  for (int k = 0; k < n; k++) {
    gl_slet_member_t *e = &l->mem[k];
    gl_smodel_t *m = e->m;
    int mb = m->cfg.max_batch > 0 ? m->cfg.max_batch : 1;
    pthread_mutex_lock(&m->mu);
    e->batch = mem[k].batch < 1 ? 1 : mem[k].batch > mb ? mb : mem[k].batch;
    e->bat.max_batch = e->batch;
    e->rate = mem[k].rate;
    memcpy(e->pred_ms, mem[k].pred_ms, sizeof e->pred_ms);
    e->obs_ms = 0;
    e->drift_n = 0;
    e->drift_obs = e->drift_pred = 0;
    update_lat(e);
    gl_smodel_refresh_service(m);
    pthread_mutex_unlock(&m->mu);
  }
  pthread_mutex_lock(&l->mu);
  l->duty_ms = duty_ms;
  l->occupancy_plan = occupancy;
  atomic_store(&l->rewarm, true);
  bool post = wake_locked(l);
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  if (post) sem_post(&l->wake);
}

#ifdef GL_FAULT_INJECT
/* Test builds: GPULET_FAULT_INJECT="MODEL:N" makes the next N batches of MODEL fail. */
static bool fault_now(const char *model) {
  static atomic_int used;
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  const char *v = getenv("GPULET_FAULT_INJECT");
  if (!v) return false;
  const char *c = strchr(v, ':');
  if (!c || (size_t)(c - v) != strlen(model) || strncmp(v, model, (size_t)(c - v))) return false;
  pthread_mutex_lock(&mu);
  bool f = atomic_load(&used) < atoi(c + 1);
  if (f) atomic_fetch_add(&used, 1);
  pthread_mutex_unlock(&mu);
  return f;
}
#endif

typedef struct {
  gl_sreq_t **r;
  int n, size;
  char err[256];
  int64_t t0, t1, t2, t3;
} job_t;

static gl_status_t run_batch(gl_slet_t *l, gl_slet_member_t *e, job_t *j) {
  gl_smodel_t *m = e->m;
  bool batched = m->cfg.max_batch > 0;
  j->t0 = gl_now_ns();
  gl_status_t st = ensure_plan(l, e, j->size);
  if (st) return st;
  gl_tensor_t *bin = e->bin[j->size], *bout = e->bout[j->size];
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
#ifdef GL_FAULT_INJECT
  if (fault_now(m->name)) return gl_err(GL_EBACKEND, "injected fault (GPULET_FAULT_INJECT)");
  if (l->sdev && l->sdev->fault_at_ns && j->t1 >= l->sdev->fault_at_ns)
    return gl_err(GL_EDEVICE, "injected device fault (GPULET_FAULT_DEVICE)");
#endif
  st = exec_size(l, e, j->size);
  bout = e->bout[j->size]; /* MPS: the worker's answer replaced the buffers */
  j->t2 = gl_now_ns();
  if (st) return st;
  int64_t s0 = 0;
  for (int k = 0; k < j->n; k++) {
    gl_sreq_t *r = j->r[k];
    for (int o = 0; o < m->n_outputs; o++) {
      gl_shape_t s = bout[o].shape;
      if (batched) s.d[0] = r->samples;
      GL_TRY(gl_tensor_alloc(&r->outs[o], bout[o].dtype, &s));
      size_t per = sample_bytes(&bout[o], batched);
      memcpy(r->outs[o].data, (char *)bout[o].data + (size_t)s0 * per, gl_tensor_nbytes(&r->outs[o]));
    }
    s0 += r->samples;
  }
  return GL_OK;
}

/* Compiles and times the member's sizes up to its batch (a plan's first run is cold: the faster
 * of two runs counts). */
static gl_status_t warm_member(gl_slet_t *l, gl_slet_member_t *e) {
  pthread_mutex_lock(&e->m->mu);
  int batch = e->batch; /* the reorganizer may change it (under the lock) */
  pthread_mutex_unlock(&e->m->mu);
  /* the sizes a batch of up to `batch` uses, largest first: the first plan sizes the member's
   * shared arena and the smaller ones fit in it */
  int sizes[GL_BATCH_MAX + 1], n_sizes = 0;
  for (int s = 1; s <= batch; s = s == batch ? batch + 1 : (s * 2 < batch ? s * 2 : batch)) sizes[n_sizes++] = s;
  for (int i = n_sizes - 1; i >= 0; i--) {
    int s = sizes[i];
    GL_TRY(ensure_plan(l, e, s));
    int64_t lat = INT64_MAX;
    for (int k = 0; k < 2; k++) {
      int64_t t0 = gl_now_ns();
      gl_status_t st = exec_size(l, e, s);
      if (st) return st;
      if (gl_now_ns() - t0 < lat) lat = gl_now_ns() - t0;
    }
    pthread_mutex_lock(&e->m->mu);
    e->lat_ewma_ns[s] = lat;
    e->last_ns = gl_now_ns();
    update_lat(e);
    pthread_mutex_unlock(&e->m->mu);
  }
  return GL_OK;
}

static void reject_late(gl_slet_t *l, gl_slet_member_t *e, int n, int64_t now) {
  gl_smodel_t *m = e->m;
  gl_req_t rq[GL_BATCH_MAX];
  n = gl_dqueue_pop(&m->q, n > GL_BATCH_MAX ? GL_BATCH_MAX : n, rq);
  m->st.rejected_late += n;
  m->st.fail_rejected += n;
  double lat1 = gl_ns_to_ms(e->bat.lat_ns[1]);
  pthread_mutex_unlock(&m->mu);
  for (int k = 0; k < n; k++) {
    gl_sreq_t *r = (gl_sreq_t *)(intptr_t)rq[k].id;
    r->http_status = 503;
    snprintf(r->err, sizeof r->err, "request for model '%s' rejected: it can no longer meet its deadline (%.3f ms left, a batch of 1 takes %.3f ms)",
             m->name, gl_ns_to_ms(r->deadline_ns - now), lat1);
    gl_sreq_finish(r);
  }
  pthread_mutex_lock(&m->mu);
  m->in_flight -= n;
  pthread_cond_broadcast(&m->idle_cv);
  pthread_mutex_unlock(&m->mu);
}

/* A device-level error on l's device: the device is failed (once), l stops pulling. */
static void device_failed(gl_slet_t *l, const char *why) {
  if (!l->sdev) return;
  pthread_mutex_lock(&l->mu);
  atomic_store(&l->state, GL_SLET_FAILED);
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  if (!atomic_exchange(&l->sdev->failed, true) && l->sdev->on_fail) l->sdev->on_fail(l->sdev->user, l->sdev->id, why);
}

/* Runs a batch of member e chosen by the batcher (n requests at most); caller holds m->mu, which
 * is released on return. */
static void start_batch(gl_slet_t *l, int k, int want, int64_t now) {
  gl_slet_member_t *e = &l->mem[k];
  gl_smodel_t *m = e->m;
  gl_sreq_t *batch[GL_BATCH_MAX];
  int cap = m->cfg.max_batch > 0 ? e->batch : 1;
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
  for (int i = 0; i < n; i++) {
    batch[i] = (gl_sreq_t *)(intptr_t)rq[i].id;
    batch[i]->start_ns = now;
  }
  job_t j = {.r = batch, .n = n, .size = plan_size(e, samples)};
  pthread_mutex_unlock(&m->mu);
  gl_slet_corun_t co = {-1, 0, 0};
  if (l->peek) l->peek(l->user, l, &co);
  atomic_store(&l->run_size, j.size);
  atomic_store(&l->run_pm, m->pm);
  gl_status_t st = run_batch(l, e, &j);
  atomic_store(&l->run_pm, -1);
  bool dev_err = st == GL_EDEVICE && l->sdev;
  if (st) {
    snprintf(j.err, sizeof j.err, "%s", gl_errmsg());
    atomic_fetch_add(&l->faults, 1);
    if (dev_err) {
      /* the device is gone: this batch fails with it, the queues wait for the re-plan */
      device_failed(l, j.err);
    } else {
      /* fault isolation: only this batch fails; the member's plans are rebuilt before the next */
      drop_plans(e);
      if (warm_member(l, e)) { /* a real batch compiles again on demand */ }
    }
  }
  int64_t end = gl_now_ns();
  if (!st) {
    atomic_fetch_add(&l->busy_ns, j.t2 - j.t1);
    if (l->observe) l->observe(l->user, l, k, j.size, j.t2 - j.t1, co);
  }
  pthread_mutex_lock(&m->mu);
  if (!st) {
    int64_t lat = j.t2 - j.t1;
    int64_t *ew = &e->lat_ewma_ns[j.size];
    *ew = gl_slet_lat_update(*ew, lat);
    if (j.size == plan_size(e, e->batch)) e->obs_ms = gl_ns_to_ms(gl_slet_lat_update((int64_t)(e->obs_ms * 1e6), lat));
    if (e->pred_ms[j.size] > 0) {
      /* a stalled batch counts at most twice the prediction here too */
      double o = gl_ns_to_ms(lat);
      e->drift_obs += o > 2 * e->pred_ms[j.size] ? 2 * e->pred_ms[j.size] : o;
      e->drift_pred += e->pred_ms[j.size];
      if (++e->drift_n >= 20) {
        double ratio = e->drift_obs / e->drift_pred;
        /* past 1.3x and more than timing noise (0.1 ms a batch on average) */
        if ((ratio > 1.3 || ratio < 1 / 1.3) && fabs(e->drift_obs - e->drift_pred) > 0.1 * e->drift_n)
          atomic_store(&l->drifted, true);
        e->drift_n = 0;
        e->drift_obs = e->drift_pred = 0;
      }
    }
    update_lat(e);
    gl_smodel_refresh_service(m);
    e->last_ns = end;
    e->batches++;
    m->st.exec_count++;
    m->st.inference_count += samples;
    int hb = samples <= GL_BATCH_MAX ? (int)samples : GL_BATCH_MAX;
    m->st.batch_hist[hb]++;
    m->st.batch_ns_infer[hb] += j.t2 - j.t1;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    m->st.last_inference_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  } else {
    e->errors++;
  }
  for (int i = 0; i < n; i++) {
    gl_sreq_t *r = batch[i];
    if (st) {
      r->http_status = 500;
      if (dev_err)
        snprintf(r->err, sizeof r->err, "model '%s': the device running this batch failed (%s); the server serves on the other devices",
                 m->name, j.err);
      else snprintf(r->err, sizeof r->err, "model '%s': %s", m->name, j.err);
      m->st.fail_backend++;
      continue;
    }
    r->http_status = 200;
    r->compute_ns = j.t2 - j.t1;
    m->st.success++;
    m->st.ns_queue += r->start_ns - r->enqueue_ns;
    m->st.ns_input += j.t1 - j.t0;
    m->st.ns_infer += j.t2 - j.t1;
    m->st.ns_output += end - j.t2;
    m->st.ns_request += end - r->arrival_ns;
    if (end <= r->deadline_ns) m->st.slo_met++;
    else m->st.slo_missed++;
  }
  pthread_mutex_unlock(&m->mu);
  for (int i = 0; i < n; i++) gl_sreq_finish(batch[i]);
  pthread_mutex_lock(&m->mu);
  m->in_flight -= n;
  pthread_cond_broadcast(&m->idle_cv);
  pthread_mutex_unlock(&m->mu);
}

/* One pass over the members; true when it ran or rejected something. *wake: earliest WAIT. */
static bool try_start(gl_slet_t *l, int64_t *wake) {
  for (int j = 0; j < l->n_members; j++) {
    int k = (l->rr + j) % l->n_members;
    gl_slet_member_t *e = &l->mem[k];
    gl_smodel_t *m = e->m;
    pthread_mutex_lock(&m->mu);
    if (l->sdev && atomic_load(&l->sdev->failed) && atomic_load(&l->state) == GL_SLET_SERVING) {
      pthread_mutex_unlock(&m->mu);
      device_failed(l, "device failed");
      return false;
    }
    if (atomic_load(&l->state) != GL_SLET_SERVING || m->q.len == 0) {
      pthread_mutex_unlock(&m->mu);
      continue;
    }
    int64_t now = gl_now_ns();
    gl_batch_decision_t d = gl_batcher_next(&e->bat, &m->q, now);
    if (d.action == GL_BATCH_REJECT && !m->cfg.serve_late) {
      reject_late(l, e, d.n, now);
      return true;
    }
    if (d.action == GL_BATCH_RUN || d.action == GL_BATCH_REJECT) {
      l->rr = (k + 1) % l->n_members;
      start_batch(l, k, d.n > 0 ? d.n : 1, now);
      return true;
    }
    if (d.action == GL_BATCH_WAIT && d.until_ns < *wake) *wake = d.until_ns;
    pthread_mutex_unlock(&m->mu);
  }
  return false;
}

/* Executors (and the OpenMP threads they start, which inherit it) run this many nice levels
 * below the HTTP threads: when compute saturates every core, parsing, admission and early
 * rejection still get the CPU at once instead of queueing behind batches. */
#define GL_SLET_EXEC_NICE 5

static gl_status_t loop_job(gl_part_t *p, void *arg) {
  gl_slet_t *l = arg;
  gl_status_t st = GL_OK;
  pid_t tid = (pid_t)syscall(SYS_gettid);
  errno = 0;
  int nice_now = getpriority(PRIO_PROCESS, (id_t)tid);
  if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice_now + GL_SLET_EXEC_NICE) != 0)
    GL_LOGW("gpu-let %d: cannot lower its executor's priority: %s", l->id, strerror(errno));
  for (int k = 0; k < l->n_members && !st; k++) st = warm_member(l, &l->mem[k]);
  pthread_mutex_lock(&l->mu);
  l->warm_st = st;
  if (st) {
    snprintf(l->warm_err, sizeof l->warm_err, "%s", gl_errmsg());
    atomic_store(&l->state, GL_SLET_FAILED);
  }
  l->warmed = true;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  if (st == GL_EDEVICE && l->sdev && !atomic_exchange(&l->sdev->failed, true) && l->sdev->on_fail)
    l->sdev->on_fail(l->sdev->user, l->sdev->id, l->warm_err);
  for (;;) {
    pthread_mutex_lock(&l->mu);
    while (atomic_load(&l->state) == GL_SLET_WARMING) pthread_cond_wait(&l->cv, &l->mu);
    if (atomic_load(&l->state) != GL_SLET_SERVING) {
      pthread_mutex_unlock(&l->mu);
      break;
    }
    uint64_t k0 = l->kick;
    pthread_mutex_unlock(&l->mu);
    if (atomic_exchange(&l->rewarm, false))
      for (int k = 0; k < l->n_members; k++) {
        if (!on_mps(l)) trim_plans(&l->mem[k]);
        if (warm_member(l, &l->mem[k])) { /* a batch compiles what is missing on demand */ }
      }
    int64_t wake = INT64_MAX;
    if (try_start(l, &wake)) continue;
    pthread_mutex_lock(&l->mu);
    if (l->kick == k0 && atomic_load(&l->state) == GL_SLET_SERVING) {
      l->waiting = true;
      pthread_mutex_unlock(&l->mu);
      if (wake == INT64_MAX) {
        while (sem_wait(&l->wake) && errno == EINTR) {}
      } else {
        struct timespec ts = {wake / 1000000000LL, wake % 1000000000LL};
        while (sem_clockwait(&l->wake, CLOCK_MONOTONIC, &ts) && errno == EINTR) {}
      }
      pthread_mutex_lock(&l->mu);
      l->waiting = false;
    }
    pthread_mutex_unlock(&l->mu);
  }
  for (int k = 0; k < l->n_members; k++) {
    drop_plans(&l->mem[k]);
    gl_arena_unref(l->mem[k].arena);
    l->mem[k].arena = NULL;
  }
  pthread_mutex_lock(&l->mu);
  l->loop_done = true;
  pthread_mutex_unlock(&l->mu);
  return GL_OK;
}

gl_status_t gl_slet_start(gl_part_dev_t *dev, const int *cores, int n, int units, double duty_ms, double occupancy,
                          const gl_slet_spec_member_t *members, int n_members, gl_slet_observe_fn observe,
                          gl_slet_peek_fn peek, void *user, int id, gl_slet_t **out) {
  return gl_slet_start_on(NULL, dev, cores, n, units, duty_ms, occupancy, members, n_members, observe, peek, user, id, out);
}

gl_status_t gl_slet_start_on(gl_slet_dev_t *sdev, gl_part_dev_t *dev, const int *cores, int n, int units, double duty_ms,
                             double occupancy, const gl_slet_spec_member_t *members, int n_members, gl_slet_observe_fn observe,
                             gl_slet_peek_fn peek, void *user, int id, gl_slet_t **out) {
  *out = NULL;
  if (n_members < 1 || n_members > GL_PLAN_MAX_MEMBERS || n < 1 || n > 256)
    return gl_err(GL_EINVAL, "gpu-let with %d members on %d cores", n_members, n);
  gl_slet_t *l = gl_calloc(1, sizeof *l);
  if (!l) return gl_err(GL_ENOMEM, "out of memory");
  l->id = id;
  l->sdev = sdev;
  l->units = units;
  l->duty_ms = duty_ms;
  l->occupancy_plan = occupancy;
  l->observe = observe;
  l->peek = peek;
  l->user = user;
  atomic_init(&l->run_pm, -1);
  atomic_init(&l->run_size, 0);
  l->n_cores = n;
  memcpy(l->cores, cores, sizeof(int) * (size_t)n);
  pthread_mutex_init(&l->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&l->cv, &ca);
  pthread_condattr_destroy(&ca);
  sem_init(&l->wake, 0, 0);
  atomic_init(&l->state, GL_SLET_WARMING);
  for (int k = 0; k < n_members; k++) {
    gl_slet_member_t *e = &l->mem[k];
    gl_smodel_t *m = members[k].m;
    gl_smodel_ref(m);
    l->n_members = k + 1;
    e->m = m;
    int mb = m->cfg.max_batch > 0 ? m->cfg.max_batch : 1;
    e->batch = members[k].batch < 1 ? 1 : members[k].batch > mb ? mb : members[k].batch;
    e->rate = members[k].rate;
    memcpy(e->pred_ms, members[k].pred_ms, sizeof e->pred_ms);
    e->bat.mode = m->cfg.collect_us > 0 ? GL_BATCH_COLLECT : GL_BATCH_EAGER;
    e->bat.max_batch = e->batch;
    e->bat.collect_ns = m->cfg.collect_us * 1000;
    pthread_mutex_lock(&m->mu);
    update_lat(e);
    pthread_mutex_unlock(&m->mu);
  }
  gl_part_opts_t po = {.queue_cap = 2};
  gl_status_t st = gl_part_create_on(dev, cores, n, &po, &l->part, &l->grant);
  if (!st && (st = gl_part_submit(l->part, loop_job, l))) {
    gl_part_destroy(l->part);
    l->part = NULL;
  }
  if (st) {
    for (int k = 0; k < l->n_members; k++) gl_smodel_unref(l->mem[k].m);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
  sem_destroy(&l->wake);
    gl_free(l);
    return st;
  }
  *out = l;
  return GL_OK;
}

gl_status_t gl_slet_wait_ready(gl_slet_t *l) {
  pthread_mutex_lock(&l->mu);
  while (!l->warmed) pthread_cond_wait(&l->cv, &l->mu);
  gl_status_t st = l->warm_st;
  pthread_mutex_unlock(&l->mu);
  if (st) gl_err(st, "gpu-let %d: %s", l->id, l->warm_err);
  return st;
}

void gl_slet_serve(gl_slet_t *l) {
  pthread_mutex_lock(&l->mu);
  if (atomic_load(&l->state) == GL_SLET_WARMING) {
    l->serving_since_ns = gl_now_ns();
    atomic_store(&l->state, GL_SLET_SERVING);
  }
  bool post = wake_locked(l);
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  if (post) sem_post(&l->wake);
}

void gl_slet_kick(gl_slet_t *l) {
  pthread_mutex_lock(&l->mu);
  bool post = wake_locked(l);
  pthread_mutex_unlock(&l->mu);
  /* after the unlock, so the woken executor does not block on l->mu at once */
  if (post) sem_post(&l->wake);
}

void gl_slet_retire(gl_slet_t *l) {
  pthread_mutex_lock(&l->mu);
  if (atomic_load(&l->state) != GL_SLET_FAILED) atomic_store(&l->state, GL_SLET_RETIRING);
  bool post = wake_locked(l);
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  if (post) sem_post(&l->wake);
}

void gl_slet_destroy(gl_slet_t *l) {
  if (!l) return;
  gl_slet_retire(l);
  gl_part_destroy(l->part); /* runs the loop job to its end: plans destroyed on their thread */
  /* unrouted before it is destroyed, so no new pin comes; a submitter may still be kicking it */
  while (atomic_load(&l->pins) > 0) sched_yield();
  for (int k = 0; k < l->n_members; k++) gl_smodel_unref(l->mem[k].m);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  sem_destroy(&l->wake);
  gl_free(l);
}
