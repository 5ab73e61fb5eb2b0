/* part/cpu_cores.c - CPU partition kinds: disjoint sets of physical cores (executor pinned,
 * OpenMP sized to the cores), and the whole CPU as one undivided device. */
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef GL_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "core/alloc.h"
#include "core/log.h"
#include "part/part_int.h"

/* The OS CPUs this process may run on (sched_getaffinity), ascending; returns their count. */
static int allowed_cpus(cpu_set_t *set) {
  CPU_ZERO(set);
  if (sched_getaffinity(0, sizeof *set, set) != 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < n && c < CPU_SETSIZE; c++) CPU_SET((int)c, set);
  }
  return CPU_COUNT(set);
}

static void model_from_proc(char *model, size_t sz) {
  snprintf(model, sz, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10)) continue;
    const char *v = strchr(line, ':');
    if (!v) break;
    v++;
    while (*v == ' ' || *v == '\t') v++;
    snprintf(model, sz, "%.*s", (int)strcspn(v, "\n"), v);
    break;
  }
  fclose(f);
}

/* One OS CPU per physical core this process may use (the core's first allowed hyperthread),
 * into cpus (gl_malloc'd, *n of them). *how says where the list came from. */
static gl_status_t list_cores(int **cpus, int *n, char *model, size_t model_sz, const char **how) {
  cpu_set_t allowed;
  int n_allowed = allowed_cpus(&allowed);
  *cpus = gl_malloc(sizeof(int) * (size_t)(n_allowed > 0 ? n_allowed : 1));
  if (!*cpus) return gl_err(GL_ENOMEM, "cpu cores: out of memory");
  *n = 0;
  model_from_proc(model, model_sz);
#ifdef GL_HAVE_HWLOC
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) == 0) {
    if (hwloc_topology_load(topo) == 0) {
      hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
      const char *m = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
      if (m && m[0]) snprintf(model, model_sz, "%s", m);
      int nc = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
      for (int c = 0; c < nc && *n < n_allowed; c++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, c);
        int pu;
        hwloc_bitmap_foreach_begin(pu, core->cpuset) {
          if (pu < CPU_SETSIZE && CPU_ISSET(pu, &allowed)) {
            (*cpus)[(*n)++] = pu;
            break;
          }
        }
        hwloc_bitmap_foreach_end();
      }
      *how = "hwloc cores";
    }
    hwloc_topology_destroy(topo);
  }
#endif
  if (*n == 0) { /* no hwloc, or it found no cores: every allowed CPU counts as a core */
    for (int c = 0; c < CPU_SETSIZE && *n < n_allowed; c++)
      if (CPU_ISSET(c, &allowed)) (*cpus)[(*n)++] = c;
    *how = "sched_getaffinity CPUs (hyperthreads not told apart)";
  }
  if (*n == 0) {
    gl_free(*cpus);
    *cpus = NULL;
    return gl_err(GL_EDEVICE, "cpu cores: this process may run on no CPU");
  }
  return GL_OK;
}

static gl_status_t cores_part_init(gl_part_dev_t *d, gl_part_t *p) {
  int n = p->grant.units;
  if (n > (int)(sizeof p->grant.cpus / sizeof p->grant.cpus[0]))
    return gl_err(GL_EUNSUPPORTED, "cpu partition of %d cores: at most 256 supported", n);
  for (int k = 0; k < n; k++) p->grant.cpus[k] = d->unit_cpu[p->units[k]];
  p->grant.n_cpus = n;
  p->grant.threads = n;
  return GL_OK;
}

/* Pins the executor before its first parallel region: libgomp's workers for this thread's team
 * are created then and inherit this affinity. The thread count is this thread's own ICV. */
static gl_status_t cores_exec_enter(gl_part_t *p) {
  if (p->dev->no_pin) { /* a thread budget the OS places */
    omp_set_dynamic(0);
    omp_set_num_threads(p->grant.threads);
    return GL_OK;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int k = 0; k < p->grant.n_cpus; k++) CPU_SET(p->grant.cpus[k], &set);
  int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0) return gl_err(GL_EDEVICE, "cpu partition: cannot pin executor (%s)", strerror(rc));
  omp_set_dynamic(0);
  omp_set_num_threads(p->grant.threads);
  return GL_OK;
}

static const struct gl_part_dev_i cores_i = {
    .name = "cpu-cores",
    .part_init = cores_part_init,
    .exec_enter = cores_exec_enter,
};

/* The whole CPU: no pinning (the executor keeps the process's affinity), all cores' threads. */
static gl_status_t whole_exec_enter(gl_part_t *p) {
  omp_set_dynamic(0);
  omp_set_num_threads(p->grant.threads);
  return GL_OK;
}

static const struct gl_part_dev_i whole_i = {
    .name = "cpu-whole",
    .part_init = cores_part_init, /* lists every core; threads = all */
    .exec_enter = whole_exec_enter,
};

static gl_status_t cpu_dev_create(const struct gl_part_dev_i *iface, gl_part_kind_t kind, gl_part_dev_t **out) {
  *out = NULL;
  gl_part_dev_t *d = gl_calloc(1, sizeof *d);
  if (!d) return gl_err(GL_ENOMEM, "cpu device: out of memory");
  d->i = iface;
  const char *how = "";
  int n = 0;
  gl_status_t st = list_cores(&d->unit_cpu, &n, d->info.name, sizeof d->info.name, &how);
  if (st < 0) {
    gl_free(d);
    return st;
  }
  d->info.kind = kind;
  d->info.unit_name = "core";
  d->info.units_total = n;
  d->info.unit_min = kind == GL_PART_CPU_WHOLE ? n : 1;
  d->info.unit_align = 1;
  if ((st = gl__part_dev_init(d)) < 0) {
    gl_free(d->unit_cpu);
    gl_free(d);
    return st;
  }
  GL_LOGD("%s: %d cores from %s", iface->name, n, how);
  *out = d;
  return GL_OK;
}

gl_status_t gl_part_dev_cpu_create(gl_part_dev_t **out) { return cpu_dev_create(&cores_i, GL_PART_CPU_CORES, out); }

gl_status_t gl_part_dev_whole_create(gl_part_dev_t **out) { return cpu_dev_create(&whole_i, GL_PART_CPU_WHOLE, out); }

void gl_part_dev_cpu_set_pinning(gl_part_dev_t *d, bool pin) {
  if (d && d->i == &cores_i) d->no_pin = !pin;
}
