/* part/part_int.h - internals shared by the partition kinds: the device vtable and the structs
 * behind gl_part_dev_t and gl_part_t. Only src/part/ includes this.
 * A kind supplies a gl_part_dev_i and fills gl_part_dev's info (and unit_cpu for CPU kinds);
 * part.c owns unit accounting, the grant rule, executor threads and job queues. */
#ifndef GL_PART_PART_INT_H
#define GL_PART_PART_INT_H

#include <pthread.h>

#include "part/part.h"

struct gl_part_dev_i {
  const char *name;
  /* Binds p's units (p->units, p->grant.units already set) to the kind's resources: CPU kinds
   * fill p->grant.cpus; a green-context kind would make its green context and stream here.
   * Runs on the creating thread. Optional. */
  gl_status_t (*part_init)(gl_part_dev_t *d, gl_part_t *p);
  /* On p's executor thread, before its first job: pin it, size OpenMP, make a context current.
   * An error here fails gl_part_create. Optional. */
  gl_status_t (*exec_enter)(gl_part_t *p);
  /* Runs one job on the executor thread (NULL: calls fn(p, arg)). The virtual kind stretches
   * the job to its latency here. */
  gl_status_t (*job_run)(gl_part_t *p, gl_part_fn fn, void *arg);
  /* Undoes part_init after the executor has been joined. Optional. */
  void (*part_fini)(gl_part_dev_t *d, gl_part_t *p);
  /* Frees d->ctx. Optional. */
  void (*destroy)(gl_part_dev_t *d);
  /* Fills what gl_part_placement gives beyond threads (green contexts: the stream). Optional. */
  void (*placement)(const gl_part_t *p, gl_placement_t *pl);
};

struct gl_part_dev {
  const struct gl_part_dev_i *i;
  void *ctx;
  gl_part_dev_info_t info; /* units_free is kept up to date under mu */
  int *unit_cpu;           /* CPU kinds: OS CPU id of unit u; NULL otherwise (gl_malloc'd) */
  pthread_mutex_t mu;
  unsigned char *refs;     /* per unit: partitions holding it (2 only during a resize) */
  int n_parts;
  bool no_pin;              /* CPU core sets: executors left to the OS (gl_part_dev_cpu_set_pinning) */
  int whole_only_from;     /* > 0: units from here on go only to a whole-device partition (the
                            * green split's remainder), so other grants stay whole groups */
};

typedef struct {
  gl_part_fn fn;
  void *arg;
  struct gl_part_sync *sync; /* non-NULL for gl_part_run_sync */
} gl_part_job_t;

struct gl_part {
  gl_part_dev_t *dev;
  gl_part_grant_t grant;
  int *units; /* unit indices, grant.units of them */
  void *ctx;  /* the kind's */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv_job, cv_space, cv_done;
  gl_part_job_t *q;
  int cap, head, count;
  bool busy;     /* a job is running */
  bool stopping; /* destroy has begun: no new jobs */
  bool ready;    /* executor finished exec_enter */
  gl_status_t enter_status;
};

/* GPU kinds, when they are built (see docs GPU.md), plug in here without changing part.h:
 * - GL_PART_CUDA_GREEN: the device constructor (in the dlopen'd CUDA module) reads
 *   cuDeviceGetDevResource's smCount / minSmPartitionSize / smCoscheduledAlignment into
 *   info.units_total / unit_min / unit_align and splits once at that granularity; part_init gives
 *   the partition as many groups as p->grant.units needs, makes its green context and stream
 *   (p->ctx); exec_enter makes the green context current on the executor thread; and
 *   gl_part_placement must then fill gl_placement_t.stream (a field to add to gl_part_grant_t or
 *   a vtable entry `placement`, appended at the end of this struct).
 * - GL_PART_CUDA_MPS: units are active-thread percent steps; part_init starts (or takes a standby)
 *   worker process with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE; job_run forwards the job to it.
 * GL_PART_CUDA_GREEN is built this way in part/cuda_green.c (the placement entry is the vtable's
 * `placement`); GL_PART_CUDA_MPS's constructor only reports what is missing (design there). */

/* Fills a device's common fields (mu, refs) once info.units_total is set. */
gl_status_t gl__part_dev_init(gl_part_dev_t *d) GL_MUST_USE;

#endif
