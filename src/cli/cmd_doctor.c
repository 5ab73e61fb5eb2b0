/* cli/cmd_doctor.c - `gpulet doctor`: what this machine offers and what gpulet will use, and why.
 * The CUDA driver is looked at only through dlopen/dlsym: gpulet never links libcuda. */
#include <dlfcn.h>
#include <omp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.h>

#ifdef GL_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "cli/cli.h"
#include "part/part.h"

static void line(const char *what, const char *fmt, ...) GL_PRINTF(2, 3);
static void line(const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%-10s ", what);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

static const char *human(double bytes, char *buf, size_t sz) {
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
  snprintf(buf, sz, "%.*f %s", bytes == (long long)bytes ? 0 : 1, bytes, u[i]);
  return buf;
}

/* ---- CPU ---- */

static void cpu_layout(void) {
#ifdef GL_HAVE_HWLOC
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    line("cpu", "hwloc could not read the topology; partitions fall back to the affinity mask");
    return;
  }
  hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
  const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
  int npkg = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
  int ncore = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  line("cpu", "%s: %d package(s), %d core(s), %d hardware thread(s) (hwloc %s)",
       model ? model : "unknown model", npkg, ncore, npu, HWLOC_API_VERSION >= 0x20000 ? "2.x" : "1.x");
  char buf[512] = "", tmp[32];
  size_t off = 0;
  static const hwloc_obj_type_t caches[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE};
  static const char *names[] = {"L1d", "L2", "L3"};
  for (int c = 0; c < 3; c++) {
    int n = hwloc_get_nbobjs_by_type(topo, caches[c]);
    if (n <= 0) continue;
    hwloc_obj_t o = hwloc_get_obj_by_type(topo, caches[c], 0);
    off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s %s x%d", off ? ", " : "", names[c],
                            human((double)o->attr->cache.size, tmp, sizeof tmp), n);
    if (off >= sizeof buf) break;
  }
  line("caches", "%s -> the last level is shared by every core partition: co-running models "
                 "interfere there, which the scheduler's interference model accounts for",
       buf[0] ? buf : "not reported");
  int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  buf[0] = 0, off = 0;
  for (int i = 0; i < nnuma && off < sizeof buf; i++) {
    hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
    char cpus[128];
    hwloc_bitmap_list_snprintf(cpus, sizeof cpus, o->cpuset);
    off += (size_t)snprintf(buf + off, sizeof buf - off, "%snode%u cpus %s %s", i ? "; " : "",
                            o->os_index, cpus, human((double)o->attr->numanode.local_memory, tmp, sizeof tmp));
  }
  line("numa", "%d node(s): %s -> %s", nnuma, buf,
       nnuma > 1 ? "core partitions are taken in core order, so a small one stays on one node"
                 : "one node, no placement choice to make");
  if (npu > ncore)
    line("smt", "%d threads per core: a partition counts cores and pins one thread per core", npu / ncore);
  hwloc_topology_destroy(topo);
#else
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  line("cpu", "%ld online CPU(s); built without hwloc, so hyperthreads are counted as cores and "
              "caches/NUMA are not reported", n);
#endif
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all (no limit set)";
  }
}

static void cpu_engine(void) {
  const dnnl_version_t *v = dnnl_version();
  const char *lim = getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : getenv("DNNL_MAX_CPU_ISA");
  line("isa", "oneDNN %d.%d.%d will use %s (%s%s) -> f32 kernels (conv, matmul, ...) are JIT-built for it",
       v->major, v->minor, v->patch, isa_name(dnnl_get_effective_cpu_isa()),
       lim ? "limited by ONEDNN_MAX_CPU_ISA=" : "the best this CPU has", lim ? lim : "");
  const char *ont = getenv("OMP_NUM_THREADS");
  line("openmp", "max threads %d%s%s%s; partitions set their own count on their executor thread",
       omp_get_max_threads(), ont ? " (OMP_NUM_THREADS=" : "", ont ? ont : "", ont ? ")" : "");
  const char *bind[] = {"OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"};
  for (int i = 0; i < 3; i++)
    if (getenv(bind[i]))
      line("warning", "%s=%s is set: libgomp then binds workers to places taken from the whole "
                      "process, which can cross partitions; unset it", bind[i], getenv(bind[i]));
  gl_part_dev_t *d;
  if (gl_part_dev_cpu_create(&d) != GL_OK) {
    line("partition", "cpu core sets unavailable: %s -> whole CPU only", gl_errmsg());
    return;
  }
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  line("partition", "cpu-cores: %d core(s), grant step 1 core -> gpulet splits the CPU into "
                    "disjoint core sets (executor pinned, OpenMP threads = cores)%s",
       info.units_total, info.units_total < 2 ? "; with 1 core only the whole device makes sense" : "");
  gl_part_dev_destroy(d);
}

/* ---- CUDA, through dlopen only ---- */

typedef int (*cu_int_fn)(unsigned);
typedef int (*cu_pint_fn)(int *);
typedef int (*cu_get_fn)(int *, int);
typedef int (*cu_name_fn)(char *, int, int);
typedef int (*cu_attr_fn)(int *, int, int);
typedef int (*cu_mem_fn)(size_t *, int);
typedef int (*cu_errstr_fn)(int, const char **);
/* Mirrors CUdevResource (cuda.h 12.4..13.0, RESOURCE_ABI_VERSION 1): type, 92 bytes, a 48-byte
 * union whose SM member starts with smCount, minSmPartitionSize, smCoscheduledAlignment. */
typedef struct {
  int type;
  unsigned char pad[92];
  union {
    struct { unsigned sm_count, min_partition, alignment; } sm;
    unsigned char oversize[48];
  } u;
} cu_resource_t;
typedef int (*cu_res_fn)(int, cu_resource_t *, int);

enum { CU_ATTR_SMS = 16, CU_ATTR_CC_MAJOR = 75, CU_ATTR_CC_MINOR = 76, CU_RES_SM = 1 };

static const char *cu_err(cu_errstr_fn f, int rc) {
  const char *s = NULL;
  if (f && f(rc, &s) == 0 && s) return s;
  return "unknown error";
}

static bool on_path(const char *prog) {
  const char *path = getenv("PATH");
  if (!path) return false;
  char dir[1024];
  while (*path) {
    size_t n = strcspn(path, ":");
    if (n > 0 && n < 900) {
      snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, prog);
      if (access(dir, X_OK) == 0) return true;
    }
    path += n;
    if (*path == ':') path++;
  }
  return false;
}

static void cuda_report(void) {
  bool mps = on_path("nvidia-cuda-mps-control");
  /* GPULET_LIBCUDA names another driver library (tests point it at the stub). */
  const char *lib = getenv("GPULET_LIBCUDA") ? getenv("GPULET_LIBCUDA") : "libcuda.so.1";
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    line("cuda", "no driver (%s) -> CPU only", e ? e : lib);
    line("mps", "nvidia-cuda-mps-control %s -> %s", mps ? "is on PATH" : "not on PATH",
         "not used without a driver");
    return;
  }
  cu_int_fn cu_init = (cu_int_fn)dlsym(h, "cuInit");
  cu_pint_fn cu_version = (cu_pint_fn)dlsym(h, "cuDriverGetVersion");
  cu_pint_fn cu_count = (cu_pint_fn)dlsym(h, "cuDeviceGetCount");
  cu_get_fn cu_dev = (cu_get_fn)dlsym(h, "cuDeviceGet");
  cu_name_fn cu_name = (cu_name_fn)dlsym(h, "cuDeviceGetName");
  cu_attr_fn cu_attr = (cu_attr_fn)dlsym(h, "cuDeviceGetAttribute");
  cu_mem_fn cu_mem = (cu_mem_fn)dlsym(h, "cuDeviceTotalMem_v2");
  cu_errstr_fn cu_errstr = (cu_errstr_fn)dlsym(h, "cuGetErrorString");
  cu_res_fn cu_res = (cu_res_fn)dlsym(h, "cuDeviceGetDevResource");
  bool have_green_syms = dlsym(h, "cuGreenCtxCreate") && dlsym(h, "cuDevSmResourceSplitByCount") && cu_res;
  if (!cu_init || !cu_version || !cu_count || !cu_dev || !cu_name || !cu_attr) {
    line("cuda", "%s loaded but lacks the basic driver entry points -> CPU only", lib);
    dlclose(h);
    return;
  }
  int ver = 0;
  cu_version(&ver);
  int rc = cu_init(0);
  if (rc != 0) {
    line("cuda", "driver %s loaded (version %d.%d) but cuInit failed: %s (%d) -> CPU only", lib,
         ver / 1000, ver % 1000 / 10, cu_err(cu_errstr, rc), rc);
    dlclose(h);
    return;
  }
  int n = 0;
  cu_count(&n);
  line("cuda", "driver %d.%d, %d device(s)%s", ver / 1000, ver % 1000 / 10, n, n ? "" : " -> CPU only");
  bool green = ver >= 12040 && have_green_syms;
  for (int i = 0; i < n; i++) {
    int dev = 0, sms = 0, ma = 0, mi = 0;
    char name[256] = "?";
    size_t mem = 0;
    if (cu_dev(&dev, i) != 0) continue;
    cu_name(name, sizeof name, dev);
    cu_attr(&sms, CU_ATTR_SMS, dev);
    cu_attr(&ma, CU_ATTR_CC_MAJOR, dev);
    cu_attr(&mi, CU_ATTR_CC_MINOR, dev);
    if (cu_mem) cu_mem(&mem, dev);
    char tmp[32];
    line("gpu", "%d: %s, compute %d.%d, %d SMs, %s", i, name, ma, mi, sms, human((double)mem, tmp, sizeof tmp));
    if (green) {
      cu_resource_t r;
      memset(&r, 0, sizeof r);
      int rr = cu_res(dev, &r, CU_RES_SM);
      if (rr == 0 && r.type == CU_RES_SM)
        line("green", "%d: %u SMs, min %u per green context, step %u -> gpu-lets as SM groups", i,
             r.u.sm.sm_count, r.u.sm.min_partition, r.u.sm.alignment);
      else
        line("green", "%d: cuDeviceGetDevResource failed: %s", i, cu_err(cu_errstr, rr));
    }
  }
  if (green)
    line("green", "supported (driver >= 12.4, green-context entry points present) -> gpulet's "
                  "GPU partition kind (gpulet gpulets measures it)");
  else
    line("green", "not available (%s) -> %s", ver < 12040 ? "driver older than 12.4" : "entry points missing",
         mps ? "MPS would be the fallback" : "whole-GPU only");
  line("mps", "nvidia-cuda-mps-control %s -> %s", mps ? "is on PATH" : "not on PATH",
       green ? "not needed (green contexts preferred)" : mps ? "fallback partition kind (not built yet)" : "no MPS");
  dlclose(h);
}

static void usage(FILE *f) {
  fprintf(f, "usage: gpulet doctor\n"
             "  Prints what this machine supports (CPU layout, caches, NUMA, oneDNN ISA, OpenMP,\n"
             "  CUDA driver, green contexts, MPS) and what gpulet will use, one line each.\n");
}

int gl_cmd_doctor(int argc, char **argv) {
  if (argc > 1) {
    bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  printf("gpulet %s doctor\n", GL_VERSION);
  cpu_layout();
  cpu_engine();
  cuda_report();
  return 0;
}
