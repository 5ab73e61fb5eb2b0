/* part/part.c - the partition layer's common half: the grant rule, unit accounting, and each
 * partition's executor thread with its bounded job queue. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "part/part_int.h"

struct gl_part_sync {
  gl_status_t st;
  bool done;
  char msg[256]; /* the job's error message, carried back to the caller's thread */
};

const char *gl_part_kind_name(gl_part_kind_t k) {
  switch (k) {
    case GL_PART_CPU_CORES: return "cpu-cores";
    case GL_PART_CPU_WHOLE: return "cpu-whole";
    case GL_PART_VIRTUAL: return "virtual";
    case GL_PART_CUDA_GREEN: return "cuda-green";
    case GL_PART_CUDA_MPS: return "cuda-mps";
  }
  return "?";
}

gl_status_t gl__part_dev_init(gl_part_dev_t *d) {
  GL_ASSERT(d->info.units_total > 0);
  if (d->info.unit_min <= 0) d->info.unit_min = 1;
  if (d->info.unit_align <= 0) d->info.unit_align = 1;
  if (d->info.unit_min > d->info.units_total) d->info.unit_min = d->info.units_total;
  d->refs = gl_calloc((size_t)d->info.units_total, 1);
  if (!d->refs) return gl_err(GL_ENOMEM, "partition device: out of memory");
  d->info.units_free = d->info.units_total;
  pthread_mutex_init(&d->mu, NULL);
  return GL_OK;
}

void gl_part_dev_info(const gl_part_dev_t *d, gl_part_dev_info_t *info) {
  pthread_mutex_lock((pthread_mutex_t *)&d->mu);
  *info = d->info;
  pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
}

void gl_part_dev_destroy(gl_part_dev_t *d) {
  if (!d) return;
  GL_ASSERT(d->n_parts == 0);
  if (d->i->destroy) d->i->destroy(d);
  pthread_mutex_destroy(&d->mu);
  gl_free(d->refs);
  gl_free(d->unit_cpu);
  gl_free(d);
}

static bool size_allowed(const gl_part_dev_info_t *info, int units) {
  if (units == info->units_total) return true;
  return units >= info->unit_min && units < info->units_total &&
         (units - info->unit_min) % info->unit_align == 0;
}

gl_status_t gl_part_units_for_share(const gl_part_dev_info_t *info, double share, int *units) {
  if (!(share > 0.0 && share <= 1.0))
    return gl_err(GL_EINVAL, "partition share %g is outside (0, 1]", share);
  double want = share * info->units_total;
  /* Allowed sizes ascending: unit_min + k * unit_align below the total, then the total. The
   * nearest wins; "<=" lets the larger of two equally near sizes win (ties round up). */
  int best = 0;
  double best_d = INFINITY;
  for (int u = info->unit_min;; u += info->unit_align) {
    if (u > info->units_total) u = info->units_total;
    double dist = fabs(want - u);
    if (dist <= best_d + 1e-9) best = u, best_d = dist;
    if (u == info->units_total) break;
  }
  *units = best;
  return GL_OK;
}

/* ---- executor ---- */

static void *executor_main(void *argp) {
  gl_part_t *p = argp;
  gl_status_t st = p->dev->i->exec_enter ? p->dev->i->exec_enter(p) : GL_OK;
  pthread_mutex_lock(&p->mu);
  p->enter_status = st;
  p->ready = true;
  pthread_cond_broadcast(&p->cv_done);
  if (st < 0) {
    pthread_mutex_unlock(&p->mu);
    return NULL;
  }
  for (;;) {
    while (p->count == 0 && !p->stopping) pthread_cond_wait(&p->cv_job, &p->mu);
    if (p->count == 0) break; /* stopping and drained */
    gl_part_job_t job = p->q[p->head];
    p->head = (p->head + 1) % p->cap;
    p->count--;
    p->busy = true;
    pthread_cond_signal(&p->cv_space);
    pthread_mutex_unlock(&p->mu);
    gl_status_t jst = p->dev->i->job_run ? p->dev->i->job_run(p, job.fn, job.arg) : job.fn(p, job.arg);
    pthread_mutex_lock(&p->mu);
    p->busy = false;
    if (job.sync) {
      job.sync->st = jst;
      if (jst < 0) snprintf(job.sync->msg, sizeof job.sync->msg, "%s", gl_errmsg());
      job.sync->done = true;
    }
    pthread_cond_broadcast(&p->cv_done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* Sorts units (so core sets read naturally) and takes a reference on each for a new partition;
 * dev->mu held. */
static void claim(gl_part_dev_t *d, int n, int *units) {
  for (int a = 1; a < n; a++)
    for (int b = a; b > 0 && units[b - 1] > units[b]; b--) {
      int t = units[b]; units[b] = units[b - 1]; units[b - 1] = t;
    }
  for (int k = 0; k < n; k++) {
    if (d->refs[units[k]] == 0) d->info.units_free--;
    d->refs[units[k]]++;
  }
  d->n_parts++;
}

/* Takes n units for a new partition (free ones first, then those of `old`); dev->mu held. */
static gl_status_t take_units(gl_part_dev_t *d, int n, const gl_part_t *old, int *units) {
  int got = 0;
  int limit = d->whole_only_from > 0 && n < d->info.units_total ? d->whole_only_from : d->info.units_total;
  for (int u = 0; u < limit && got < n; u++)
    if (d->refs[u] == 0) units[got++] = u;
  if (old)
    for (int k = 0; k < old->grant.units && got < n; k++)
      if (old->units[k] < limit) units[got++] = old->units[k];
  if (got < n)
    return gl_err(GL_EBUSY, "partition of %d %s(s) asked for, only %d of %d free%s", n,
                  d->info.unit_name, got, d->info.units_total,
                  limit < d->info.units_total ? " (the split's remainder goes only to a whole-device partition)" : "");
  claim(d, n, units);
  return GL_OK;
}

static void give_units(gl_part_dev_t *d, gl_part_t *p) {
  pthread_mutex_lock(&d->mu);
  for (int k = 0; k < p->grant.units; k++) {
    GL_ASSERT(d->refs[p->units[k]] > 0);
    if (--d->refs[p->units[k]] == 0) d->info.units_free++;
  }
  d->n_parts--;
  pthread_mutex_unlock(&d->mu);
}

static void part_free(gl_part_t *p) {
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv_job);
  pthread_cond_destroy(&p->cv_space);
  pthread_cond_destroy(&p->cv_done);
  gl_free(p->q);
  gl_free(p->units);
  gl_free(p);
}

/* Takes exactly the n units `want` whoever holds them (gl_part_create_on); dev->mu held. */
static gl_status_t take_exact(gl_part_dev_t *d, int n, const int *want, int *units) {
  for (int k = 0; k < n; k++) {
    if (want[k] < 0 || want[k] >= d->info.units_total)
      return gl_err(GL_EINVAL, "unit %d is not one of the device's %d", want[k], d->info.units_total);
    for (int j = 0; j < k; j++)
      if (want[j] == want[k]) return gl_err(GL_EINVAL, "unit %d is listed twice", want[k]);
    if (d->refs[want[k]] == 255) return gl_err(GL_EBUSY, "unit %d is held by too many partitions", want[k]);
  }
  for (int k = 0; k < n; k++) units[k] = want[k];
  claim(d, n, units);
  return GL_OK;
}

static gl_status_t create(gl_part_dev_t *d, int units, double share_req, const gl_part_opts_t *opts,
                          const gl_part_t *old, const int *exact, gl_part_t **out, gl_part_grant_t *grant) {
  *out = NULL;
  int cap = opts && opts->queue_cap > 0 ? opts->queue_cap : 16;
  if (cap > 65536) return gl_err(GL_EINVAL, "partition queue of %d jobs is too large", cap);
  gl_part_t *p = gl_calloc(1, sizeof *p);
  if (!p) return gl_err(GL_ENOMEM, "partition: out of memory");
  p->dev = d;
  p->units = gl_malloc(sizeof(int) * (size_t)units);
  p->q = gl_malloc(sizeof *p->q * (size_t)cap);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv_job, NULL);
  pthread_cond_init(&p->cv_space, NULL);
  pthread_cond_init(&p->cv_done, NULL);
  if (!p->units || !p->q) {
    part_free(p);
    return gl_err(GL_ENOMEM, "partition: out of memory");
  }
  p->cap = cap;
  pthread_mutex_lock(&d->mu);
  gl_status_t st = exact ? take_exact(d, units, exact, p->units) : take_units(d, units, old, p->units);
  pthread_mutex_unlock(&d->mu);
  if (st < 0) {
    part_free(p);
    return st;
  }
  p->grant.kind = d->info.kind;
  p->grant.share_requested = share_req;
  p->grant.units = units;
  p->grant.share = (double)units / d->info.units_total;
  p->grant.threads = 1;
  if (d->i->part_init && (st = d->i->part_init(d, p)) < 0) {
    give_units(d, p);
    part_free(p);
    return st;
  }
  int rc = pthread_create(&p->thread, NULL, executor_main, p);
  if (rc != 0) {
    if (d->i->part_fini) d->i->part_fini(d, p);
    give_units(d, p);
    part_free(p);
    return gl_err(GL_EDEVICE, "partition: cannot start its executor thread (%s)", strerror(rc));
  }
  pthread_mutex_lock(&p->mu);
  while (!p->ready) pthread_cond_wait(&p->cv_done, &p->mu);
  st = p->enter_status;
  pthread_mutex_unlock(&p->mu);
  if (st < 0) {
    pthread_join(p->thread, NULL);
    if (d->i->part_fini) d->i->part_fini(d, p);
    give_units(d, p);
    part_free(p);
    return st;
  }
  if (grant) *grant = p->grant;
  *out = p;
  return GL_OK;
}

gl_status_t gl_part_create(gl_part_dev_t *d, double share, const gl_part_opts_t *opts,
                           gl_part_t **out, gl_part_grant_t *grant) {
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  int units;
  GL_TRY(gl_part_units_for_share(&info, share, &units));
  return create(d, units, share, opts, NULL, NULL, out, grant);
}

gl_status_t gl_part_create_units(gl_part_dev_t *d, int units, const gl_part_opts_t *opts,
                                 gl_part_t **out, gl_part_grant_t *grant) {
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  if (units < 1 || units > info.units_total || !size_allowed(&info, units)) {
    *out = NULL;
    return gl_err(GL_EINVAL, "%d %s(s) is not a size %s grants (min %d, step %d, total %d)", units,
                  info.unit_name, info.name, info.unit_min, info.unit_align, info.units_total);
  }
  return create(d, units, (double)units / info.units_total, opts, NULL, NULL, out, grant);
}

gl_status_t gl_part_create_on(gl_part_dev_t *d, const int *units, int n, const gl_part_opts_t *opts,
                              gl_part_t **out, gl_part_grant_t *grant) {
  *out = NULL;
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  if (!units || n < 1 || n > info.units_total || !size_allowed(&info, n))
    return gl_err(GL_EINVAL, "%d %s(s) is not a size %s grants (min %d, step %d, total %d)", n, info.unit_name,
                  info.name, info.unit_min, info.unit_align, info.units_total);
  return create(d, n, (double)n / info.units_total, opts, NULL, units, out, grant);
}

void gl_part_info(const gl_part_t *p, gl_part_grant_t *grant) { *grant = p->grant; }

void gl_part_placement(const gl_part_t *p, gl_placement_t *pl) {
  memset(pl, 0, sizeof *pl);
  pl->threads = p->grant.threads;
  if (p->dev->i->placement) p->dev->i->placement(p, pl);
}

gl_status_t gl_part_resize(gl_part_t **pp, double share, gl_part_grant_t *grant) {
  gl_part_t *old = *pp;
  gl_part_dev_info_t info;
  gl_part_dev_info(old->dev, &info);
  int units;
  GL_TRY(gl_part_units_for_share(&info, share, &units));
  gl_part_opts_t opts = {.queue_cap = old->cap};
  gl_part_t *np;
  GL_TRY(create(old->dev, units, share, &opts, old, NULL, &np, grant));
  gl_part_destroy(old);
  *pp = np;
  return GL_OK;
}

void gl_part_destroy(gl_part_t *p) {
  if (!p) return;
  GL_ASSERT(!pthread_equal(pthread_self(), p->thread));
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  pthread_cond_broadcast(&p->cv_job);
  pthread_cond_broadcast(&p->cv_space); /* run_sync callers waiting for space get GL_ESTATE */
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  if (p->dev->i->part_fini) p->dev->i->part_fini(p->dev, p);
  give_units(p->dev, p);
  part_free(p);
}

/* ---- submitting ---- */

static gl_status_t enqueue(gl_part_t *p, gl_part_fn fn, void *arg, struct gl_part_sync *sync) {
  if (p->stopping) return gl_err(GL_ESTATE, "partition is being destroyed; job not taken");
  if (p->count == p->cap) return gl_err(GL_EBUSY, "partition queue full (%d jobs)", p->cap);
  p->q[(p->head + p->count) % p->cap] = (gl_part_job_t){fn, arg, sync};
  p->count++;
  pthread_cond_signal(&p->cv_job);
  return GL_OK;
}

gl_status_t gl_part_submit(gl_part_t *p, gl_part_fn fn, void *arg) {
  GL_ASSERT(fn);
  pthread_mutex_lock(&p->mu);
  gl_status_t st = enqueue(p, fn, arg, NULL);
  pthread_mutex_unlock(&p->mu);
  return st;
}

gl_status_t gl_part_run_sync(gl_part_t *p, gl_part_fn fn, void *arg) {
  GL_ASSERT(fn);
  GL_ASSERT(!pthread_equal(pthread_self(), p->thread));
  struct gl_part_sync sync = {GL_OK, false, ""};
  pthread_mutex_lock(&p->mu);
  while (p->count == p->cap && !p->stopping) pthread_cond_wait(&p->cv_space, &p->mu);
  gl_status_t st = enqueue(p, fn, arg, &sync);
  if (st == GL_OK) {
    while (!sync.done) pthread_cond_wait(&p->cv_done, &p->mu);
    st = sync.st;
  }
  if (st < 0 && sync.msg[0]) gl_err(st, "%s", sync.msg);
  pthread_mutex_unlock(&p->mu);
  return st;
}

int gl_part_pending(gl_part_t *p) {
  pthread_mutex_lock(&p->mu);
  int n = p->count + (p->busy ? 1 : 0);
  pthread_mutex_unlock(&p->mu);
  return n;
}
