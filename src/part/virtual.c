/* part/virtual.c - a virtual device: abstract units, each job stretched to the run time the
 * caller's latency function gives for the partition's size (tests, simulator, server tests). */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "part/part_int.h"

typedef struct {
  gl_part_latency_fn latency;
  void *user;
} vdev_t;

/* The latency is computed before fn runs (fn may free arg); the job then lasts until
 * start + latency, or as long as fn took if that is longer. */
static gl_status_t virtual_job_run(gl_part_t *p, gl_part_fn fn, void *arg) {
  vdev_t *v = p->dev->ctx;
  int64_t start = gl_now_ns();
  int64_t lat = v->latency ? v->latency(v->user, p->grant.units, p->dev->info.units_total, arg) : 0;
  gl_status_t st = fn(p, arg);
  if (lat > 0) {
    int64_t end = start + lat;
    struct timespec ts = {(time_t)(end / 1000000000LL), (long)(end % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
  }
  return st;
}

static void virtual_destroy(gl_part_dev_t *d) { gl_free(d->ctx); }

static const struct gl_part_dev_i virtual_i = {
    .name = "virtual",
    .job_run = virtual_job_run,
    .destroy = virtual_destroy,
};

gl_status_t gl_part_dev_virtual_create(const gl_part_virtual_cfg_t *cfg, gl_part_dev_t **out) {
  *out = NULL;
  if (!cfg || cfg->units < 1 || cfg->unit_min < 0 || cfg->unit_align < 0 || cfg->unit_min > cfg->units)
    return gl_err(GL_EINVAL, "virtual device: units %d, min %d, step %d are not a valid device",
                  cfg ? cfg->units : 0, cfg ? cfg->unit_min : 0, cfg ? cfg->unit_align : 0);
  gl_part_dev_t *d = gl_calloc(1, sizeof *d);
  vdev_t *v = gl_calloc(1, sizeof *v);
  if (!d || !v) {
    gl_free(d);
    gl_free(v);
    return gl_err(GL_ENOMEM, "virtual device: out of memory");
  }
  v->latency = cfg->latency;
  v->user = cfg->user;
  d->i = &virtual_i;
  d->ctx = v;
  d->info.kind = GL_PART_VIRTUAL;
  snprintf(d->info.name, sizeof d->info.name, "%s", cfg->name ? cfg->name : "virtual");
  d->info.unit_name = "unit";
  d->info.units_total = cfg->units;
  d->info.unit_min = cfg->unit_min;
  d->info.unit_align = cfg->unit_align;
  gl_status_t st = gl__part_dev_init(d);
  if (st < 0) {
    gl_free(v);
    gl_free(d);
    return st;
  }
  *out = d;
  return GL_OK;
}
