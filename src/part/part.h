/* part/part.h - one interface over the ways gpulet splits a device into partitions (gpu-lets).
 * Owns: devices that can be split (gl_part_dev_t: CPU core sets, the whole CPU, a virtual device),
 * partitions on them (gl_part_t) with the grant rule (a requested share becomes the nearest size
 * the hardware allows, and the grant is reported), and each partition's executor thread with its
 * bounded job queue. Does not own: compiling or running models (backend/), choosing sizes (sched/).
 * GPU kinds: CUDA green contexts (part/cuda_green.c, driver calls in the dlopen'd
 * libgpulet_green.so); MPS (part/cuda_mps.c, a worker process per partition). */
#ifndef GL_PART_PART_H
#define GL_PART_PART_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"

typedef struct gl_part_dev gl_part_dev_t; /* a device that can be split */
typedef struct gl_part gl_part_t;         /* one partition of it, with its executor thread */

typedef enum {
  GL_PART_CPU_CORES = 0, /* disjoint sets of physical cores, executor pinned, OpenMP sized */
  GL_PART_CPU_WHOLE,     /* the whole CPU, no split (every partition is all of it) */
  GL_PART_VIRTUAL,       /* abstract units; run time from a caller's latency function */
  GL_PART_CUDA_GREEN,    /* CUDA green contexts (SM groups, driver >= 12.4) */
  GL_PART_CUDA_MPS,      /* MPS active-thread percentage, a worker process each */
} gl_part_kind_t;

const char *gl_part_kind_name(gl_part_kind_t k);

/* What a device offers. Grants are unit_min, unit_min + unit_align, ... up to units_total. */
typedef struct {
  gl_part_kind_t kind;
  char name[96];         /* e.g. the CPU model */
  const char *unit_name; /* "core", "SM", "unit" */
  int units_total;       /* cores, SMs, virtual units */
  int unit_min;          /* smallest grant (green contexts: minSmPartitionSize) */
  int unit_align;        /* grant step (green contexts: smCoscheduledAlignment) */
  int units_free;        /* not held by any partition right now */
  /* GPU kinds (appended): */
  int64_t setup_ns;      /* green contexts: the one SM split at device creation */
  int64_t destroy_ns;    /* green contexts: teardown time of the last partition destroyed */
  int groups, group_units, rem_units; /* green contexts: the split (groups of group_units + rem) */
} gl_part_dev_info_t;

/* What a partition was granted; never silently different from what gl_part_info reports. */
typedef struct {
  gl_part_kind_t kind;
  double share_requested; /* as asked, in (0, 1] */
  int units;              /* units granted */
  double share;           /* units / units_total */
  int threads;            /* CPU threads its work uses (cores granted; 1 on virtual devices) */
  int n_cpus;             /* CPU kinds: OS CPU ids the executor and its OpenMP threads may use */
  int cpus[256];
  /* GPU kinds (appended): */
  int units_device;  /* SMs the driver says the green context holds (== units unless it disagrees) */
  int64_t create_ns; /* time to make the partition's context and stream (green contexts) */
  void *stream;      /* green contexts: the gpu-let's CUstream (gl_part_placement gives it too) */
} gl_part_grant_t;

/* Latency of one job on a virtual partition of `units` out of `units_total`, in ns; arg is the
 * job's arg as submitted. Called on the executor thread. */
typedef int64_t (*gl_part_latency_fn)(void *user, int units, int units_total, void *arg);

typedef struct {
  int units;                /* units_total (> 0) */
  int unit_min, unit_align; /* 0 = 1 */
  gl_part_latency_fn latency; /* NULL: jobs take as long as their fn */
  void *user;               /* passed to latency */
  const char *name;         /* NULL = "virtual" */
} gl_part_virtual_cfg_t;

/* ---- devices ----
 * Each constructor's *out is freed with gl_part_dev_destroy, after all its partitions. */
/* The CPU as physical cores (hwloc; without it, the CPUs in this process's affinity mask). */
gl_status_t gl_part_dev_cpu_create(gl_part_dev_t **out) GL_MUST_USE;
/* Whether a core-set partition's executor is pinned to its cores (the default). Unpinned, a
 * core set is a thread budget (OpenMP threads = its cores) that the OS places: on a CPU shared
 * with other processes a pinned executor cannot leave a core they occupy. For partitions made
 * after the call. */
void gl_part_dev_cpu_set_pinning(gl_part_dev_t *d, bool pin);
/* CUDA device `device` split with green contexts (docs GPU.md §1): its SMs split once into equal
 * groups of the granularity the driver reports plus a remainder; unit = SM, grants are whole
 * groups (the remainder goes only with the whole device). Each partition gets a green context
 * and a non-blocking stream; its executor makes the context current, and gl_part_placement gives
 * the stream. The driver is reached through libgpulet_green.so (dlopen; GPULET_GREEN_MODULE
 * names it, else next to the gpulet binary, else the loader path). GL_EDEVICE with the reason
 * when there is no module, driver or device; GL_EUNSUPPORTED for a driver older than 12.4.
 * Plans compiled for a partition use its stream: compile, run and destroy them in its jobs, and
 * destroy them before the partition (after gl_part_resize, compile again for the new one). */
gl_status_t gl_part_dev_cuda_green_create(int device, gl_part_dev_t **out) GL_MUST_USE;
/* CUDA device `device` split with MPS (docs GPU.md §2): unit = 1% of the GPU's threads; each
 * partition is a worker process (`gpulet mps-worker`, GPULET_MPS_WORKER names another binary)
 * started with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = its units. Starts the MPS control daemon when
 * none answers and stops it when the device is destroyed. GL_EDEVICE when
 * nvidia-cuda-mps-control is not on PATH. Work goes to the worker with gl_part_mps_load/run
 * (a gl_part_fn job runs in this process, outside the MPS share). */
gl_status_t gl_part_dev_cuda_mps_create(int device, gl_part_dev_t **out) GL_MUST_USE;
/* MPS partitions only: loads and compiles the model at model_path for `batch` in p's worker
 * (*model_id names it there), and runs it on n_in inputs; outputs are allocated into
 * out[0..*n_out) (at most 16; free each with gl_tensor_fini). Callable from any thread (one
 * request at a time per partition). GL_EDEVICE when the worker has died. */
gl_status_t gl_part_mps_load(gl_part_t *p, const char *model_path, int64_t batch, int *model_id) GL_MUST_USE;
gl_status_t gl_part_mps_run(gl_part_t *p, int model_id, const gl_tensor_t *in, int n_in,
                            gl_tensor_t *out, int *n_out) GL_MUST_USE;
/* The CPU as one undivided device: every partition gets all cores, unpinned. */
gl_status_t gl_part_dev_whole_create(gl_part_dev_t **out) GL_MUST_USE;
/* A virtual device (tests, simulator, server tests). cfg is copied. */
gl_status_t gl_part_dev_virtual_create(const gl_part_virtual_cfg_t *cfg, gl_part_dev_t **out) GL_MUST_USE;
void gl_part_dev_info(const gl_part_dev_t *d, gl_part_dev_info_t *info);
/* Accepts NULL. Destroying a device that still has partitions is a programmer error. */
void gl_part_dev_destroy(gl_part_dev_t *d);

/* Units that share asks for under the grant rule: share * units_total rounded to the nearest
 * allowed size (ties round up), never below unit_min. share outside (0, 1] is GL_EINVAL.
 * Pure: does not look at which units are free. */
gl_status_t gl_part_units_for_share(const gl_part_dev_info_t *info, double share, int *units) GL_MUST_USE;

/* ---- partitions ---- */
typedef struct {
  int queue_cap; /* jobs that may wait (not counting the running one); 0 = 16 */
} gl_part_opts_t;

/* Creates a partition of d of `share` (0, 1] under the grant rule, with its executor thread
 * started and ready. The grant is written to *grant when non-NULL. Errors: GL_EINVAL (share out
 * of range), GL_EBUSY (not enough free units; the message says how many are free),
 * GL_EDEVICE (pinning failed). opts may be NULL. Free with gl_part_destroy. */
gl_status_t gl_part_create(gl_part_dev_t *d, double share, const gl_part_opts_t *opts,
                           gl_part_t **out, gl_part_grant_t *grant) GL_MUST_USE;
/* The same with an exact unit count; a count the device cannot grant (not an allowed size or
 * more than units_total) is GL_EINVAL, never rounded. */
gl_status_t gl_part_create_units(gl_part_dev_t *d, int units, const gl_part_opts_t *opts,
                                 gl_part_t **out, gl_part_grant_t *grant) GL_MUST_USE;
/* A partition on exactly the units units[0..n) (device unit indices, each < units_total, no
 * repeats; n must be a size the device grants), whether or not other partitions hold them: the
 * server's reorganizer builds a new plan's gpu-lets beside the retiring ones on the same cores,
 * and both run there until the old one is destroyed. Units held by nobody are taken as free.
 * GL_EINVAL for a bad list. */
gl_status_t gl_part_create_on(gl_part_dev_t *d, const int *units, int n, const gl_part_opts_t *opts,
                              gl_part_t **out, gl_part_grant_t *grant) GL_MUST_USE;
void gl_part_info(const gl_part_t *p, gl_part_grant_t *grant);
/* The placement a plan compiled for this partition uses (threads = cores granted). */
void gl_part_placement(const gl_part_t *p, gl_placement_t *pl);

/* Resizes *pp to `share`: builds a new partition beside the old one (it may take the old one's
 * units plus free ones, free ones first), lets the old one finish its queued jobs, destroys it,
 * and sets *pp to the new one. On error *pp is unchanged and still usable. */
gl_status_t gl_part_resize(gl_part_t **pp, double share, gl_part_grant_t *grant) GL_MUST_USE;

/* Stops taking jobs, runs every job already queued to completion (none is dropped), joins the
 * executor and frees p. Accepts NULL. Must not be called from p's own executor. */
void gl_part_destroy(gl_part_t *p);

/* ---- running work ----
 * A job runs on the partition's executor thread, which is pinned to the partition's cores and
 * has omp_set_num_threads(threads) applied, so OpenMP and oneDNN inside use exactly those cores.
 * Run a plan inside a job with gl_plan_run (compiled with gl_part_placement). */
typedef gl_status_t (*gl_part_fn)(gl_part_t *p, void *arg);

/* Queues fn(p, arg) and returns at once. GL_EBUSY when the queue holds queue_cap jobs,
 * GL_ESTATE once destroy has begun. fn's status is dropped; record it through arg if needed. */
gl_status_t gl_part_submit(gl_part_t *p, gl_part_fn fn, void *arg) GL_MUST_USE;
/* Runs fn(p, arg) on the executor (waiting for queue space if needed) and returns its status.
 * Must not be called from p's own executor. */
gl_status_t gl_part_run_sync(gl_part_t *p, gl_part_fn fn, void *arg) GL_MUST_USE;
/* Jobs waiting plus running. */
int gl_part_pending(gl_part_t *p);

#endif
