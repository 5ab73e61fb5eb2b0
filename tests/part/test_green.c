/* tests/part/test_green.c - green-context partitions on the CPU: a fake driver table shaped like an
 * H100 (132 SMs, minSmPartitionSize 8, alignment 8 -> 16 groups of 8 + a remainder of 4) drives
 * the kind; checks grants, the groups each partition hands the driver, the context entered on the
 * executor, the stream in the placement, resize, teardown, timings and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "part/cuda_green.h"

/* ---- the fake driver ---- */

typedef struct {
  int id;
  int groups[32], n, with_rem;
  int stream_tag; /* the stream handle points here */
  bool destroyed;
} fake_part_t;

static struct {
  int sm_count, min_sm, align;
  int open_fail;     /* dev_open returns this when nonzero */
  int create_fail;   /* part_create returns this when nonzero */
  int live_parts, made, destroyed, dev_open_n, dev_close_n;
  int sms_lie;       /* added to the SMs part_create reports */
  fake_part_t *last;
} fk;

static _Thread_local void *current; /* what part_enter made current on this thread */

static int fake_dev_open(int device, void **dev, gl_cuda_green_dev_info_t *info) {
  memset(info, 0, sizeof *info);
  if (fk.open_fail) {
    gl_err(fk.open_fail, "fake driver: no device %d", device);
    return fk.open_fail;
  }
  snprintf(info->name, sizeof info->name, "Fake H100 %d", device);
  info->driver_version = 13000;
  info->sm_count = fk.sm_count;
  info->min_sm = fk.min_sm;
  info->sm_align = fk.align;
  info->group_sms = fk.min_sm > fk.align ? fk.min_sm : fk.align;
  info->n_groups = fk.sm_count / info->group_sms;
  info->rem_sms = fk.sm_count - info->n_groups * info->group_sms;
  info->split_ns = 1234;
  fk.dev_open_n++;
  *dev = &fk;
  return 0;
}

static int fake_part_create(void *dev, const int *groups, int n, int with_rem, void **part, void **stream,
                            int *sms) {
  assert_ptr_equal(dev, &fk);
  if (fk.create_fail) {
    gl_err(fk.create_fail, "fake driver: cuGreenCtxCreate failed");
    return fk.create_fail;
  }
  fake_part_t *p = gl_calloc(1, sizeof *p);
  assert_non_null(p);
  p->id = ++fk.made;
  assert_true(n <= 32);
  memcpy(p->groups, groups, sizeof(int) * (size_t)n);
  p->n = n;
  p->with_rem = with_rem;
  fk.live_parts++;
  fk.last = p;
  *part = p;
  *stream = &p->stream_tag;
  int g = fk.min_sm > fk.align ? fk.min_sm : fk.align;
  *sms = n * g + (with_rem ? fk.sm_count % g : 0) + fk.sms_lie;
  return 0;
}

static int fake_part_enter(void *part) {
  current = part;
  return 0;
}

static void fake_part_destroy(void *part) {
  fake_part_t *p = part;
  if (!p) return;
  fk.live_parts--;
  fk.destroyed++;
  gl_free(p);
}

static void fake_dev_close(void *dev) { fk.dev_close_n++; }

static const gl_cuda_green_api_t fake_api = {
    GL_CUDA_GREEN_ABI, sizeof(gl_cuda_green_api_t), fake_dev_open, fake_part_create, fake_part_enter,
    fake_part_destroy, fake_dev_close,
};

static int setup(void **state) {
  memset(&fk, 0, sizeof fk);
  fk.sm_count = 132, fk.min_sm = 8, fk.align = 8;
  return 0;
}

static gl_part_dev_t *h100(void) {
  gl_part_dev_t *d = NULL;
  assert_int_equal(gl__part_dev_green_create_api(&fake_api, 0, &d), GL_OK);
  return d;
}

/* ---- tests ---- */

/* Asks of 10%, 25%, 50%, 100% of 132 SMs at groups of 8: the nearest whole number of groups, the
 * remainder only with the whole device. 13.2 -> 16 (2.8 away; 8 is 5.2 away), 33 -> 32,
 * 66 -> 64 (72 is 6 away), 132 -> 132; 128.04 (97%) -> 128, 130.7 (99%) -> 132. */
static void test_grant_arithmetic(void **state) {
  gl_part_dev_t *d = h100();
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.kind, GL_PART_CUDA_GREEN);
  assert_string_equal(info.unit_name, "SM");
  assert_int_equal(info.units_total, 132);
  assert_int_equal(info.unit_min, 8);
  assert_int_equal(info.unit_align, 8);
  assert_int_equal(info.groups, 16);
  assert_int_equal(info.group_units, 8);
  assert_int_equal(info.rem_units, 4);
  assert_int_equal(info.setup_ns, 1234);
  const double asks[] = {0.10, 0.25, 0.50, 1.00, 0.97, 0.99, 0.01, 0.40};
  const int want[] = {16, 32, 64, 132, 128, 132, 8, 56};
  for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
    int u = -1;
    assert_int_equal(gl_part_units_for_share(&info, asks[i], &u), GL_OK);
    assert_int_equal(u, want[i]);
  }
  /* Exact counts that are not whole groups are refused, never rounded. */
  gl_part_t *p;
  assert_int_equal(gl_part_create_units(d, 12, NULL, &p, NULL), GL_EINVAL);
  assert_int_equal(gl_part_create_units(d, 4, NULL, &p, NULL), GL_EINVAL);
  assert_int_equal(gl_part_create_units(d, 130, NULL, &p, NULL), GL_EINVAL);
  assert_int_equal(fk.made, 0);
  gl_part_dev_destroy(d);
  assert_int_equal(fk.dev_close_n, 1);
}

typedef struct {
  void *seen_current;
  void *seen_stream;
} job_t;

static gl_status_t job(gl_part_t *p, void *arg) {
  job_t *j = arg;
  j->seen_current = current;
  gl_placement_t pl;
  gl_part_placement(p, &pl);
  j->seen_stream = pl.stream;
  return GL_OK;
}

static gl_status_t clobber(gl_part_t *p, void *arg) {
  current = NULL;
  return GL_OK;
}

/* 50% + 50%: groups 0-7 and 8-15, no remainder; each executor runs inside its own context, and
 * plans get its stream. A third partition finds only the remainder free: GL_EBUSY. */
static void test_two_halves(void **state) {
  gl_part_dev_t *d = h100();
  gl_part_t *a, *b, *c;
  gl_part_grant_t ga, gb;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &a, &ga), GL_OK);
  fake_part_t *fa = fk.last;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &b, &gb), GL_OK);
  fake_part_t *fb = fk.last;
  assert_int_equal(ga.units, 64);
  assert_int_equal(ga.units_device, 64);
  assert_int_equal(gb.units, 64);
  assert_true(ga.create_ns >= 0);
  assert_ptr_equal(ga.stream, &fa->stream_tag);
  assert_int_equal(fa->n, 8);
  assert_int_equal(fb->n, 8);
  for (int k = 0; k < 8; k++) {
    assert_int_equal(fa->groups[k], k);
    assert_int_equal(fb->groups[k], 8 + k);
  }
  assert_false(fa->with_rem);
  assert_false(fb->with_rem);

  job_t ja = {0}, jb = {0};
  assert_int_equal(gl_part_run_sync(a, job, &ja), GL_OK);
  assert_int_equal(gl_part_run_sync(a, clobber, NULL), GL_OK); /* a job leaves another context current */
  assert_int_equal(gl_part_run_sync(b, job, &jb), GL_OK);
  assert_ptr_equal(ja.seen_current, fa);
  assert_int_equal(gl_part_run_sync(a, job, &ja), GL_OK);
  assert_ptr_equal(ja.seen_current, fa); /* each job starts inside the partition's context */
  assert_ptr_equal(jb.seen_current, fb);
  assert_ptr_equal(ja.seen_stream, &fa->stream_tag);
  assert_ptr_equal(jb.seen_stream, &fb->stream_tag);
  assert_null(current); /* the test's own thread never entered a context */

  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 4);
  assert_int_equal(gl_part_create_units(d, 8, NULL, &c, NULL), GL_EBUSY);
  assert_int_equal(fk.made, 2);
  gl_part_destroy(a);
  gl_part_destroy(b);
  assert_int_equal(fk.live_parts, 0);
  gl_part_dev_destroy(d);
}

/* The whole device gets every group plus the remainder; 10% + 25% + 40% tile the groups in
 * order; after a partition in the middle goes, the next one takes its groups. */
static void test_whole_and_tiling(void **state) {
  gl_part_dev_t *d = h100();
  gl_part_t *w, *p[3];
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(d, 1.0, NULL, &w, &g), GL_OK);
  assert_int_equal(g.units, 132);
  assert_int_equal(g.units_device, 132);
  assert_int_equal(fk.last->n, 16);
  assert_true(fk.last->with_rem);
  gl_part_destroy(w);

  const double shares[3] = {0.10, 0.25, 0.40};
  const int first[3] = {0, 2, 6}, count[3] = {2, 4, 7};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(gl_part_create(d, shares[i], NULL, &p[i], &g), GL_OK);
    assert_int_equal(fk.last->n, count[i]);
    for (int k = 0; k < count[i]; k++) assert_int_equal(fk.last->groups[k], first[i] + k);
    assert_false(fk.last->with_rem);
  }
  gl_part_destroy(p[1]); /* groups 2-5 free again */
  assert_int_equal(gl_part_create_units(d, 24, NULL, &p[1], &g), GL_OK);
  assert_int_equal(fk.last->n, 3);
  assert_int_equal(fk.last->groups[0], 2);
  assert_int_equal(fk.last->groups[2], 4);
  for (int i = 0; i < 3; i++) gl_part_destroy(p[i]);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 132);
  assert_true(info.destroy_ns >= 0);
  assert_int_equal(fk.live_parts, 0);
  gl_part_dev_destroy(d);
}

/* Resizing keeps whole groups even when only the remainder is free besides the old partition's
 * groups (the remainder goes only with the whole device). */
static void test_resize_whole_groups(void **state) {
  gl_part_dev_t *d = h100();
  gl_part_t *a, *b;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create_units(d, 64, NULL, &a, &g), GL_OK);
  assert_int_equal(gl_part_create_units(d, 64, NULL, &b, &g), GL_OK);
  fake_part_t *old_b = fk.last;
  assert_int_equal(gl_part_resize(&b, 40.0 / 132, &g), GL_OK); /* 40 SMs from b's own groups */
  assert_int_equal(g.units, 40);
  assert_int_equal(fk.last->n, 5);
  assert_false(fk.last->with_rem);
  for (int k = 0; k < 5; k++) assert_int_equal(fk.last->groups[k], 8 + k);
  assert_true(fk.last != old_b);
  assert_int_equal(fk.live_parts, 2);
  job_t j = {0};
  assert_int_equal(gl_part_run_sync(b, job, &j), GL_OK);
  assert_ptr_equal(j.seen_current, fk.last);
  /* Growing a to the whole device cannot happen while b holds groups. */
  assert_int_equal(gl_part_resize(&a, 1.0, &g), GL_EBUSY);
  gl_part_destroy(b);
  assert_int_equal(gl_part_resize(&a, 1.0, &g), GL_OK);
  assert_int_equal(g.units, 132);
  assert_true(fk.last->with_rem);
  gl_part_destroy(a);
  assert_int_equal(fk.live_parts, 0);
  gl_part_dev_destroy(d);
}

/* Driver errors come back with their message; nothing is left held. A driver that reports a
 * different SM count is recorded in units_device, never hidden. */
static void test_errors(void **state) {
  gl_part_dev_t *d = NULL;
  fk.open_fail = GL_EDEVICE;
  assert_int_equal(gl__part_dev_green_create_api(&fake_api, 3, &d), GL_EDEVICE);
  assert_null(d);
  assert_non_null(strstr(gl_errmsg(), "no device 3"));
  fk.open_fail = 0;

  gl_cuda_green_api_t old = fake_api;
  old.abi_version = GL_CUDA_GREEN_ABI + 1;
  assert_int_equal(gl__part_dev_green_create_api(&old, 0, &d), GL_EDEVICE);
  assert_non_null(strstr(gl_errmsg(), "another gpulet"));

  d = h100();
  gl_part_t *p;
  fk.create_fail = GL_EDEVICE;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &p, NULL), GL_EDEVICE);
  assert_null(p);
  assert_non_null(strstr(gl_errmsg(), "cuGreenCtxCreate"));
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 132);
  fk.create_fail = 0;
  fk.sms_lie = 2;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &p, &g), GL_OK);
  assert_int_equal(g.units, 64);
  assert_int_equal(g.units_device, 66);
  gl_part_destroy(p);
  gl_part_dev_destroy(d);
}

/* A device whose SM count splits evenly (no remainder): the total is a whole number of groups. */
static void test_no_remainder(void **state) {
  fk.sm_count = 16, fk.min_sm = 4, fk.align = 2; /* CC 8.x-like: groups of 4 */
  gl_part_dev_t *d = h100();
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.groups, 4);
  assert_int_equal(info.rem_units, 0);
  gl_part_t *p;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(d, 1.0, NULL, &p, &g), GL_OK);
  assert_int_equal(fk.last->n, 4);
  assert_false(fk.last->with_rem);
  gl_part_destroy(p);
  gl_part_dev_destroy(d);
}

/* The group arithmetic alone: partial groups and partial remainders are refused. */
static void test_units_to_groups(void **state) {
  int groups[8], n, rem;
  const int ok[] = {8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  assert_int_equal(gl__green_units_to_groups(ok, 12, 4, 5, 2, groups, &n, &rem), GL_OK);
  assert_int_equal(n, 3);
  assert_int_equal(groups[0], 2);
  assert_int_equal(groups[2], 4);
  assert_int_equal(rem, 0);
  const int partial[] = {0, 1, 2, 4};
  assert_int_equal(gl__green_units_to_groups(partial, 4, 4, 4, 2, groups, &n, &rem), GL_EINVAL);
  const int half_rem[] = {0, 1, 2, 3, 16};
  assert_int_equal(gl__green_units_to_groups(half_rem, 5, 4, 4, 2, groups, &n, &rem), GL_EINVAL);
  const int with_rem[] = {0, 1, 2, 3, 16, 17};
  assert_int_equal(gl__green_units_to_groups(with_rem, 6, 4, 4, 2, groups, &n, &rem), GL_OK);
  assert_int_equal(n, 1);
  assert_int_equal(rem, 1);
}

/* Without the module (GPULET_GREEN_MODULE pointing nowhere), the real constructor says so. The
 * module-present paths (no driver, stub driver) run in tests/part_green.cmake. */
static void test_no_module(void **state) {
  setenv("GPULET_GREEN_MODULE", "/nonexistent/libgpulet_green.so", 1);
  gl_part_dev_t *d = (gl_part_dev_t *)&fk;
  assert_int_equal(gl_part_dev_cuda_green_create(0, &d), GL_EDEVICE);
  assert_null(d);
  assert_non_null(strstr(gl_errmsg(), "libgpulet_green.so"));
  setenv("PATH", "/nonexistent", 1); /* no nvidia-cuda-mps-control, also on GPU machines */
  assert_int_equal(gl_part_dev_cuda_mps_create(0, &d), GL_EDEVICE);
  assert_null(d);
  assert_non_null(strstr(gl_errmsg(), "nvidia-cuda-mps-control"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_grant_arithmetic, setup),
      cmocka_unit_test_setup(test_two_halves, setup),
      cmocka_unit_test_setup(test_whole_and_tiling, setup),
      cmocka_unit_test_setup(test_resize_whole_groups, setup),
      cmocka_unit_test_setup(test_errors, setup),
      cmocka_unit_test_setup(test_no_remainder, setup),
      cmocka_unit_test(test_units_to_groups),
      cmocka_unit_test(test_no_module),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
