/* cli/profile_run.c - `gpulet profile`: runs one compiled plan on a partition, timed until its median is stable. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/stats.h"

#include "cli/profile_int.h"

static void fill_inputs(gl_tensor_t *t, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  int64_t n = gl_shape_numel(&t->shape);
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double u = (double)(s >> 11) / (double)(1ULL << 53);
    switch (t->dtype) {
      case GL_DT_F32: ((float *)t->data)[i] = (float)(u * 2 - 1); break;
      case GL_DT_F64: ((double *)t->data)[i] = u * 2 - 1; break;
      /* 0/1: valid token ids, attention masks and token types alike */
      case GL_DT_I64: ((int64_t *)t->data)[i] = (int64_t)(s & 1); break;
      case GL_DT_I32: ((int32_t *)t->data)[i] = (int32_t)(s & 1); break;
      default: memset((char *)t->data + (size_t)i * gl_dtype_size(t->dtype), 0, gl_dtype_size(t->dtype));
    }
  }
}

void gl__prof_runner_free(runner_t *r) {
  for (int i = 0; i < r->n_in; i++) gl_tensor_fini(&r->ins[i]);
  for (int i = 0; i < r->n_out; i++) gl_tensor_fini(&r->outs[i]);
  gl_free(r->ins);
  gl_free(r->outs);
  gl_plan_destroy(r->plan);
  memset(r, 0, sizeof *r);
}

gl_status_t gl__prof_runner_make(const gl_model_t *m, gl_backend_t *be, int batch, const gl_placement_t *pl,
                                 runner_t *r) {
  memset(r, 0, sizeof *r);
  gl_compile_opts_t co = {.batch = batch, .placement = *pl};
  GL_TRY(gl_model_compile(m, be, &co, &r->plan));
  r->ins = gl_calloc((size_t)r->plan->n_inputs + 1, sizeof *r->ins);
  r->outs = gl_calloc((size_t)r->plan->n_outputs + 1, sizeof *r->outs);
  if (!r->ins || !r->outs) {
    gl__prof_runner_free(r);
    return gl_err(GL_ENOMEM, "out of memory");
  }
  gl_status_t st;
  for (int i = 0; i < r->plan->n_inputs; i++) {
    if ((st = gl_tensor_alloc(&r->ins[i], r->plan->inputs[i].dtype, &r->plan->inputs[i].shape)) < 0) {
      gl__prof_runner_free(r);
      return st;
    }
    r->n_in = i + 1;
    fill_inputs(&r->ins[i], (uint64_t)i + 7);
  }
  if ((st = gl_plan_alloc_outputs(r->plan, r->outs)) < 0) {
    gl__prof_runner_free(r);
    return st;
  }
  r->n_out = r->plan->n_outputs;
  return GL_OK;
}

gl_status_t gl__prof_runner_once(runner_t *r, double *ms) {
  int64_t t = gl_now_ns();
  GL_TRY(gl_plan_run(r->plan, r->ins, r->outs));
  GL_TRY(gl_plan_wait(r->plan));
  *ms = gl_ns_to_ms(gl_now_ns() - t);
  return GL_OK;
}

/* Relative half-width of the 95% confidence interval of the median of sorted v (order statistics). */
static double median_ci(const double *v, int n) {
  double med = gl_percentile_sorted(v, (size_t)n, 50);
  if (n < 3 || !(med > 0)) return INFINITY;
  double h = 0.98 * sqrt((double)n);
  int lo = (int)floor(n / 2.0 - h), hi = (int)ceil(n / 2.0 + h);
  if (lo < 0) lo = 0;
  if (hi > n - 1) hi = n - 1;
  return (v[hi] - v[lo]) / (2 * med);
}

gl_status_t gl__prof_job_cell(gl_part_t *p, void *arg) {
  cell_job_t *j = arg;
  runner_t own, *r = j->r;
  gl_status_t st = GL_OK;
  double *lat = gl_malloc(sizeof(double) * (size_t)j->mo->iters_max), *tmp = gl_malloc(sizeof(double) * (size_t)j->mo->iters_max);
  if (!lat || !tmp) {
    st = gl_err(GL_ENOMEM, "out of memory");
    goto done;
  }
  if (!r) {
    gl_placement_t pl;
    gl_part_placement(p, &pl);
    if ((st = gl__prof_runner_make(j->m, j->be, j->batch, &pl, &own)) < 0) goto done;
    r = &own;
  }
  gl_cpu_plan_memory(r->plan, &j->arena, &j->consts);
  double ms;
  for (int w = 0; w < j->mo->warmup; w++)
    if ((st = gl__prof_runner_once(r, &ms)) < 0) goto done;
  int64_t t0 = gl_now_ns(), cap = (int64_t)(j->mo->cap_s * 1e9);
  int n = 0;
  j->ci = INFINITY;
  while (n < j->mo->iters_max) {
    if ((st = gl__prof_runner_once(r, &lat[n])) < 0) goto done;
    n++;
    memcpy(tmp, lat, sizeof(double) * (size_t)n);
    gl_sort_doubles(tmp, (size_t)n);
    j->ci = median_ci(tmp, n);
    if (n >= j->mo->iters_min && j->ci <= j->mo->ci) break;
    if (gl_now_ns() - t0 >= cap && n >= (j->mo->iters_min < 3 ? j->mo->iters_min : 3)) break;
  }
  j->secs = gl_ns_to_ms(gl_now_ns() - t0) / 1e3;
  j->n = n;
  j->med = gl_percentile_sorted(tmp, (size_t)n, 50);
  j->p99 = gl_percentile_sorted(tmp, (size_t)n, 99);
done:
  if (r == &own) gl__prof_runner_free(&own);
  gl_free(lat);
  gl_free(tmp);
  if (st < 0) snprintf(j->err, sizeof j->err, "%s", gl_errmsg());
  return st;
}

gl_status_t gl__prof_job_make(gl_part_t *p, void *arg) {
  make_job_t *j = arg;
  gl_placement_t pl;
  gl_part_placement(p, &pl);
  gl_status_t st = gl__prof_runner_make(j->m, j->be, j->batch, &pl, j->r);
  if (st < 0) snprintf(j->err, sizeof j->err, "%s", gl_errmsg());
  return st;
}
