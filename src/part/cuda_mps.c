/* part/cuda_mps.c - the MPS partition kind (GL_PART_CUDA_MPS): one worker process per gpu-let,
 * started with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = its units (percent of the GPU's threads), fed
 * through a shared memory region (memfd) with futex signalling; and the worker's side
 * (`gpulet mps-worker FD`).
 *
 * WHAT ONLY COMPILATION VERIFIES: the MPS control daemon handling (`nvidia-cuda-mps-control -d`
 * when no daemon answers `get_server_list`, `quit` at exit only if gpulet started it) and that a
 * worker's share of SMs follows CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: no machine here has MPS.
 * What the CPU tests verify (tests/part/test_mps.c, workers on the CPU backend through
 * GPULET_MPS_BACKEND=cpu and no daemon): the worker lifecycle, the request channel, loading and
 * running models in the worker, errors from the worker, a worker that dies, and no leaks.
 *
 * The channel is a one-request mailbox (a ring of one slot): the partition's callers are
 * serialised by a mutex (in practice its executor thread), so one slot is all it needs. The
 * parent writes the request, bumps req_seq and wakes the worker; the worker writes the reply,
 * bumps resp_seq and wakes the parent, which waits in 100 ms slices and checks the worker is
 * alive between them. Tensors travel in the data area after the header.
 * Resizing means a new worker (the percentage is fixed for a client's life): gl_part_resize makes
 * the new one beside the old, and the caller loads its models there before switching (the
 * prototype's standby workers). The share is a cap, not a dedicated SM set (GPU.md §2). */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "part/cuda_mps.h"
#include "part/part_int.h"

extern char **environ;

#define MPS_MAX_T 16      /* tensors per request */
#define MPS_MAX_MODELS 16 /* models per worker */
#define MPS_HDR 65536     /* header bytes; tensor data follows */
#define MPS_REGION_DEFAULT (256u << 20)

enum { OP_NONE = 0, OP_LOAD, OP_RUN, OP_QUIT };

typedef struct {
  int32_t dtype, rank;
  int64_t d[GL_MAX_RANK];
  uint64_t off, bytes; /* in the data area */
} mps_tdesc_t;

typedef struct {
  _Atomic uint32_t req_seq, resp_seq; /* futex words */
  uint32_t op;
  int32_t status;
  int32_t model_id;
  int64_t batch;
  int32_t n_in, n_out;
  mps_tdesc_t t_in[MPS_MAX_T], t_out[MPS_MAX_T];
  uint64_t data_bytes;
  char text[4096]; /* LOAD: the model path; replies: the error message */
} mps_hdr_t;
_Static_assert(sizeof(mps_hdr_t) <= MPS_HDR, "MPS header too large");

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

/* ---- the parent's side ---- */

typedef struct {
  char control[512]; /* nvidia-cuda-mps-control, "" in tests */
  char worker[512];  /* the gpulet binary that runs `mps-worker` */
  int device;
  bool started_daemon;
  size_t region_bytes;
} mdev_t;

typedef struct {
  pid_t pid;
  int fd;
  mps_hdr_t *h;
  size_t bytes;
  pthread_mutex_t mu;
  bool dead;
} mpart_t;

static gl_status_t find_on_path(const char *prog, char *out, size_t cap) {
  const char *path = getenv("PATH");
  while (path && *path) {
    size_t n = strcspn(path, ":");
    if (n > 0 && n + strlen(prog) + 2 < cap) {
      snprintf(out, cap, "%.*s/%s", (int)n, path, prog);
      if (access(out, X_OK) == 0) return GL_OK;
    }
    path += n;
    if (*path == ':') path++;
  }
  out[0] = 0;
  return GL_ENOTFOUND;
}

/* Runs `control` with `cmd` on its stdin; returns its exit status (-1 when it cannot run). */
static int control_cmd(const char *control, const char *cmd) {
  char line[1200];
  snprintf(line, sizeof line, "echo '%s' | '%s' >/dev/null 2>&1", cmd, control);
  int rc = system(line);
  return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Waits for the worker's reply; GL_EDEVICE when it dies first. mu held. */
static gl_status_t wait_reply(mpart_t *m, uint32_t seq) {
  while (atomic_load(&m->h->resp_seq) != seq) {
    struct timespec ts = {0, 100000000};
    futex(&m->h->resp_seq, FUTEX_WAIT, seq - 1, &ts);
    if (atomic_load(&m->h->resp_seq) == seq) break;
    int status;
    if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
      m->dead = true;
      return gl_err(GL_EDEVICE, "MPS worker %d died (%s %d); its gpu-let must be made again", (int)m->pid,
                    WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
  }
  return GL_OK;
}

/* Sends the request already written in the header; mu held. */
static gl_status_t call(mpart_t *m, uint32_t op) {
  if (m->dead) return gl_err(GL_EDEVICE, "MPS worker %d is gone; its gpu-let must be made again", (int)m->pid);
  m->h->op = op;
  uint32_t seq = atomic_load(&m->h->req_seq) + 1;
  atomic_store(&m->h->req_seq, seq);
  futex(&m->h->req_seq, FUTEX_WAKE, 1, NULL);
  GL_TRY(wait_reply(m, seq));
  if (m->h->status < 0) return gl_err((gl_status_t)m->h->status, "MPS worker: %s", m->h->text);
  return GL_OK;
}

static gl_status_t mps_part_init(gl_part_dev_t *d, gl_part_t *p) {
  mdev_t *md = d->ctx;
  mpart_t *m = gl_calloc(1, sizeof *m);
  if (!m) return gl_err(GL_ENOMEM, "MPS partition: out of memory");
  m->bytes = md->region_bytes;
  m->fd = memfd_create("gpulet-mps", 0); /* inherited by the worker: no MFD_CLOEXEC */
  if (m->fd < 0 || ftruncate(m->fd, (off_t)m->bytes) != 0) {
    gl_status_t st = gl_err(GL_EDEVICE, "MPS partition: shared region: %s", strerror(errno));
    if (m->fd >= 0) close(m->fd);
    gl_free(m);
    return st;
  }
  m->h = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
  if (m->h == MAP_FAILED) {
    gl_status_t st = gl_err(GL_EDEVICE, "MPS partition: mmap: %s", strerror(errno));
    close(m->fd);
    gl_free(m);
    return st;
  }
  m->h->data_bytes = m->bytes - MPS_HDR;
  pthread_mutex_init(&m->mu, NULL);
  /* The worker's environment: ours plus its active-thread percentage. */
  size_t n_env = 0;
  while (environ[n_env]) n_env++;
  char **envp = gl_calloc(n_env + 2, sizeof *envp);
  char pct[64], fdarg[32], dev[32];
  snprintf(pct, sizeof pct, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%d", p->grant.units);
  snprintf(fdarg, sizeof fdarg, "%d", m->fd);
  snprintf(dev, sizeof dev, "%d", md->device);
  gl_status_t st = GL_OK;
  if (!envp) {
    st = gl_err(GL_ENOMEM, "MPS partition: out of memory");
  } else {
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
      if (strncmp(environ[i], "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=", 34)) envp[k++] = environ[i];
    envp[k++] = pct;
    char *argv[] = {md->worker, "mps-worker", fdarg, dev, NULL};
    int rc = posix_spawn(&m->pid, md->worker, NULL, NULL, argv, envp);
    if (rc != 0) st = gl_err(GL_EDEVICE, "MPS partition: cannot start %s mps-worker: %s", md->worker, strerror(rc));
  }
  gl_free(envp);
  if (st == GL_OK) { /* a no-op request: the worker is up and speaks the protocol */
    pthread_mutex_lock(&m->mu);
    st = call(m, OP_NONE);
    pthread_mutex_unlock(&m->mu);
    if (st < 0 && !m->dead) {
      kill(m->pid, SIGKILL);
      waitpid(m->pid, NULL, 0);
    }
    /* Some posix_spawn implementations report a failed exec only as the child's exit 127. */
    if (st < 0) {
      char why[512];
      snprintf(why, sizeof why, "%s", gl_errmsg()); /* gl_err writes the buffer it would read */
      st = gl_err(st, "MPS partition: %s mps-worker did not start: %s", md->worker, why);
    }
  }
  if (st < 0) {
    pthread_mutex_destroy(&m->mu);
    munmap(m->h, m->bytes);
    close(m->fd);
    gl_free(m);
    return st;
  }
  p->ctx = m;
  return GL_OK;
}

static void mps_part_fini(gl_part_dev_t *d, gl_part_t *p) {
  mpart_t *m = p->ctx;
  if (!m) return;
  if (!m->dead) {
    pthread_mutex_lock(&m->mu);
    gl_status_t st = call(m, OP_QUIT);
    pthread_mutex_unlock(&m->mu);
    int64_t until = gl_now_ns() + 2000000000LL;
    while (st == GL_OK && waitpid(m->pid, NULL, WNOHANG) == 0) {
      if (gl_now_ns() > until) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        break;
      }
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    if (st < 0 && !m->dead) {
      kill(m->pid, SIGKILL);
      waitpid(m->pid, NULL, 0);
    }
  }
  pthread_mutex_destroy(&m->mu);
  munmap(m->h, m->bytes);
  close(m->fd);
  gl_free(m);
  p->ctx = NULL;
}

static void mps_destroy(gl_part_dev_t *d) {
  mdev_t *md = d->ctx;
  if (md && md->started_daemon) control_cmd(md->control, "quit");
  gl_free(md);
}

static const struct gl_part_dev_i mps_i = {
    .name = "cuda-mps",
    .part_init = mps_part_init,
    .part_fini = mps_part_fini,
    .destroy = mps_destroy,
};

gl_status_t gl__part_dev_mps_create_with(const char *control, const char *worker, int device,
                                         size_t region_bytes, gl_part_dev_t **out) {
  *out = NULL;
  mdev_t *md = gl_calloc(1, sizeof *md);
  gl_part_dev_t *d = gl_calloc(1, sizeof *d);
  if (!md || !d) {
    gl_free(md), gl_free(d);
    return gl_err(GL_ENOMEM, "MPS device: out of memory");
  }
  snprintf(md->control, sizeof md->control, "%s", control ? control : "");
  snprintf(md->worker, sizeof md->worker, "%s", worker);
  md->device = device;
  md->region_bytes = region_bytes ? region_bytes : MPS_REGION_DEFAULT;
  if (md->region_bytes < MPS_HDR + 4096) md->region_bytes = MPS_HDR + 4096;
  if (md->control[0] && control_cmd(md->control, "get_server_list") != 0) {
    /* No daemon answers: start one, and stop it when this device goes. */
    char line[700];
    snprintf(line, sizeof line, "'%s' -d >/dev/null 2>&1", md->control);
    int rc = system(line);
    if (rc != 0) {
      gl_free(md), gl_free(d);
      return gl_err(GL_EDEVICE, "MPS device %d: starting the daemon (%s -d) failed", device, control);
    }
    md->started_daemon = true;
  }
  d->i = &mps_i;
  d->ctx = md;
  d->info.kind = GL_PART_CUDA_MPS;
  snprintf(d->info.name, sizeof d->info.name, "CUDA device %d under MPS", device);
  d->info.unit_name = "%";
  d->info.units_total = 100;
  d->info.unit_min = 1;
  d->info.unit_align = 1;
  gl_status_t st = gl__part_dev_init(d);
  if (st < 0) {
    mps_destroy(d);
    gl_free(d);
    return st;
  }
  *out = d;
  return GL_OK;
}

gl_status_t gl_part_dev_cuda_mps_create(int device, gl_part_dev_t **out) {
  *out = NULL;
  char control[512], worker[512];
  if (find_on_path("nvidia-cuda-mps-control", control, sizeof control) != GL_OK)
    return gl_err(GL_EDEVICE, "MPS partitions of CUDA device %d: nvidia-cuda-mps-control is not on PATH "
                              "(no MPS on this machine; green contexts are the GPU partition kind)", device);
  ssize_t n = readlink("/proc/self/exe", worker, sizeof worker - 1);
  if (n <= 0) return gl_err(GL_EDEVICE, "MPS partitions: cannot find the gpulet binary for workers");
  worker[n] = 0;
  const char *env = getenv("GPULET_MPS_WORKER");
  if (env && env[0]) snprintf(worker, sizeof worker, "%s", env);
  return gl__part_dev_mps_create_with(control, worker, device, 0, out);
}

int gl__part_mps_pid(const gl_part_t *p) {
  const mpart_t *m = p->ctx;
  return m ? (int)m->pid : -1;
}

static mpart_t *mps_of(gl_part_t *p) {
  GL_ASSERT(p->dev->info.kind == GL_PART_CUDA_MPS);
  return p->ctx;
}

gl_status_t gl_part_mps_load(gl_part_t *p, const char *model_path, int64_t batch, int *model_id) {
  mpart_t *m = mps_of(p);
  *model_id = -1;
  if (strlen(model_path) >= sizeof m->h->text)
    return gl_err(GL_EINVAL, "MPS load: the model path is too long");
  pthread_mutex_lock(&m->mu);
  snprintf(m->h->text, sizeof m->h->text, "%s", model_path);
  m->h->batch = batch;
  gl_status_t st = call(m, OP_LOAD);
  if (st == GL_OK) *model_id = m->h->model_id;
  pthread_mutex_unlock(&m->mu);
  return st;
}

gl_status_t gl_part_mps_run(gl_part_t *p, int model_id, const gl_tensor_t *in, int n_in, gl_tensor_t *out,
                            int *n_out) {
  mpart_t *m = mps_of(p);
  *n_out = 0;
  if (n_in < 0 || n_in > MPS_MAX_T) return gl_err(GL_EINVAL, "MPS run: %d inputs (at most %d)", n_in, MPS_MAX_T);
  pthread_mutex_lock(&m->mu);
  mps_hdr_t *h = m->h;
  char *data = (char *)h + MPS_HDR;
  uint64_t off = 0;
  gl_status_t st = GL_OK;
  for (int i = 0; i < n_in && st == GL_OK; i++) {
    uint64_t bytes = (uint64_t)gl_shape_numel(&in[i].shape) * gl_dtype_size(in[i].dtype);
    if (off + bytes > h->data_bytes) {
      st = gl_err(GL_ENOMEM, "MPS run: inputs need more than the %llu-byte shared region",
                  (unsigned long long)h->data_bytes);
      break;
    }
    mps_tdesc_t *t = &h->t_in[i];
    t->dtype = in[i].dtype, t->rank = in[i].shape.rank, t->off = off, t->bytes = bytes;
    memcpy(t->d, in[i].shape.d, sizeof t->d);
    memcpy(data + off, in[i].data, bytes);
    off = (off + bytes + 63) & ~(uint64_t)63;
  }
  h->n_in = n_in;
  h->model_id = model_id;
  if (st == GL_OK) st = call(m, OP_RUN);
  int k = 0;
  for (; st == GL_OK && k < h->n_out; k++) {
    const mps_tdesc_t *t = &h->t_out[k];
    gl_shape_t s = {.rank = t->rank};
    memcpy(s.d, t->d, sizeof s.d);
    st = gl_tensor_alloc(&out[k], (gl_dtype_t)t->dtype, &s);
    if (st == GL_OK) memcpy(out[k].data, data + t->off, t->bytes);
  }
  if (st == GL_OK) *n_out = k;
  else
    for (int i = 0; i < k; i++) gl_tensor_fini(&out[i]);
  pthread_mutex_unlock(&m->mu);
  return st;
}

/* ---- the worker's side: `gpulet mps-worker FD DEVICE` ---- */

typedef struct {
  gl_model_t *m;
  gl_plan_t *plan;
} wmodel_t;

static gl_status_t worker_run(gl_plan_t *plan, mps_hdr_t *h) {
  char *data = (char *)h + MPS_HDR;
  if (h->n_in != plan->n_inputs) return gl_err(GL_EINVAL, "the model has %d inputs, %d given", plan->n_inputs, h->n_in);
  if (plan->n_outputs > MPS_MAX_T) return gl_err(GL_EUNSUPPORTED, "%d outputs (at most %d)", plan->n_outputs, MPS_MAX_T);
  gl_tensor_t in[MPS_MAX_T], out[MPS_MAX_T];
  memset(in, 0, sizeof in), memset(out, 0, sizeof out);
  uint64_t end = 0;
  for (int i = 0; i < h->n_in; i++) {
    const mps_tdesc_t *t = &h->t_in[i];
    if (t->dtype != (int)plan->inputs[i].dtype || t->rank != plan->inputs[i].shape.rank ||
        memcmp(t->d, plan->inputs[i].shape.d, sizeof(int64_t) * (size_t)t->rank) ||
        t->off + t->bytes > h->data_bytes)
      return gl_err(GL_ESHAPE, "input %d does not match the compiled model", i);
    in[i].dtype = (gl_dtype_t)t->dtype;
    in[i].shape = plan->inputs[i].shape;
    in[i].data = data + t->off;
    if (t->off + t->bytes > end) end = t->off + t->bytes;
  }
  GL_TRY(gl_plan_alloc_outputs(plan, out));
  gl_status_t st = gl_plan_run(plan, in, out);
  if (st == GL_OK) st = gl_plan_wait(plan);
  uint64_t off = (end + 63) & ~(uint64_t)63;
  for (int k = 0; st == GL_OK && k < plan->n_outputs; k++) {
    uint64_t bytes = (uint64_t)gl_shape_numel(&out[k].shape) * gl_dtype_size(out[k].dtype);
    if (off + bytes > h->data_bytes) {
      st = gl_err(GL_ENOMEM, "outputs need more than the shared region");
      break;
    }
    mps_tdesc_t *t = &h->t_out[k];
    t->dtype = out[k].dtype, t->rank = out[k].shape.rank, t->off = off, t->bytes = bytes;
    memcpy(t->d, out[k].shape.d, sizeof t->d);
    memcpy(data + off, out[k].data, bytes);
    off = (off + bytes + 63) & ~(uint64_t)63;
  }
  if (st == GL_OK) h->n_out = plan->n_outputs;
  for (int k = 0; k < plan->n_outputs; k++) gl_tensor_fini(&out[k]);
  return st;
}

int gl_part_mps_worker_main(int fd, int device) {
  off_t size = lseek(fd, 0, SEEK_END);
  if (size < MPS_HDR + 4096) return 2;
  mps_hdr_t *h = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) return 2;
  gl_backend_t *be = NULL;
  const char *bk = getenv("GPULET_MPS_BACKEND");
  gl_status_t be_st = bk && !strcmp(bk, "cpu") ? gl_cpu_backend_create(&be) : gl_cuda_backend_open(device, &be);
  char be_err[512];
  snprintf(be_err, sizeof be_err, "%s", be_st < 0 ? gl_errmsg() : "");
  wmodel_t models[MPS_MAX_MODELS];
  int n_models = 0;
  uint32_t seen = atomic_load(&h->resp_seq); /* requests up to here are answered */
  int rc = 0;
  for (;;) {
    while (atomic_load(&h->req_seq) == seen) futex(&h->req_seq, FUTEX_WAIT, seen, NULL);
    seen = atomic_load(&h->req_seq);
    gl_err_clear();
    gl_status_t st = GL_OK;
    bool quit = false;
    switch (h->op) {
      case OP_NONE: break;
      case OP_QUIT: quit = true; break;
      case OP_LOAD: {
        if (be_st < 0) {
          st = gl_err(be_st, "%s", be_err);
          break;
        }
        if (n_models == MPS_MAX_MODELS) {
          st = gl_err(GL_EBUSY, "a worker holds at most %d models", MPS_MAX_MODELS);
          break;
        }
        wmodel_t *w = &models[n_models];
        memset(w, 0, sizeof *w);
        h->text[sizeof h->text - 1] = 0;
        gl_compile_opts_t co = {.batch = h->batch};
        st = gl_model_load(h->text, &w->m);
        if (st == GL_OK) st = gl_model_compile(w->m, be, &co, &w->plan);
        if (st == GL_OK) h->model_id = n_models++;
        else gl_model_destroy(w->m);
        break;
      }
      case OP_RUN:
        if (h->model_id < 0 || h->model_id >= n_models) st = gl_err(GL_EINVAL, "no model %d in this worker", h->model_id);
        else st = worker_run(models[h->model_id].plan, h);
        break;
      default: st = gl_err(GL_EINVAL, "unknown request %u", h->op);
    }
    h->status = st;
    if (st < 0) snprintf(h->text, sizeof h->text, "%s", gl_errmsg());
    atomic_store(&h->resp_seq, seen);
    futex(&h->resp_seq, FUTEX_WAKE, 1, NULL);
    if (quit) break;
  }
  for (int i = 0; i < n_models; i++) {
    gl_plan_destroy(models[i].plan);
    gl_model_destroy(models[i].m);
  }
  gl_backend_destroy(be);
  munmap(h, (size_t)size);
  return rc;
}
