/* tests/part/test_part.c - partitions: grant rule, executor threads, queue limits, concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "part/part.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static gl_part_dev_t *vdev(int units, int min, int align, gl_part_latency_fn lat) {
  gl_part_virtual_cfg_t cfg = {.units = units, .unit_min = min, .unit_align = align, .latency = lat};
  gl_part_dev_t *d;
  assert_int_equal(gl_part_dev_virtual_create(&cfg, &d), GL_OK);
  return d;
}

/* ---- the grant rule ---- */

static int units_for(gl_part_dev_t *d, double share) {
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  int u = -1;
  gl_status_t st = gl_part_units_for_share(&info, share, &u);
  return st == GL_OK ? u : (int)st;
}

static void test_grant_rule(void **state) {
  (void)state;
  gl_part_dev_t *two = vdev(2, 0, 0, NULL);
  assert_int_equal(units_for(two, 0.5), 1);
  assert_int_equal(units_for(two, 0.3), 1);  /* 0.6 core: nearest allowed is 1 */
  assert_int_equal(units_for(two, 0.75), 2); /* 1.5: a tie rounds up */
  assert_int_equal(units_for(two, 1.0), 2);
  assert_int_equal(units_for(two, 1.5), GL_EINVAL); /* 3 cores' worth of 2: an error, not the max */
  assert_int_equal(units_for(two, 0.0), GL_EINVAL);
  assert_int_equal(units_for(two, -0.5), GL_EINVAL);
  gl_part_t *p;
  assert_int_equal(gl_part_create_units(two, 3, NULL, &p, NULL), GL_EINVAL);
  assert_null(p);
  assert_int_equal(gl_part_create(two, 1.5, NULL, &p, NULL), GL_EINVAL);
  gl_part_dev_destroy(two);

  /* An H100-like device: 132 SMs, groups of 8 (min 8); the total is always allowed. */
  gl_part_dev_t *h = vdev(132, 8, 8, NULL);
  assert_int_equal(units_for(h, 0.2), 24);  /* 26.4 -> 24 */
  assert_int_equal(units_for(h, 0.5), 64);  /* 66 -> 64 */
  assert_int_equal(units_for(h, 0.97), 128); /* 128.04 -> 128 */
  assert_int_equal(units_for(h, 0.99), 132); /* 130.7 -> 132 */
  assert_int_equal(units_for(h, 0.01), 8);  /* never below the minimum */
  assert_int_equal(gl_part_create_units(h, 12, NULL, &p, NULL), GL_EINVAL); /* not a size it grants */
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(h, 0.4, NULL, &p, &g), GL_OK);
  assert_int_equal(g.units, 56); /* 52.8 -> 56 */
  assert_true(g.share_requested == 0.4);
  assert_true(g.share > 0.424 && g.share < 0.425); /* 56/132, reported, not 0.4 */
  gl_part_dev_info_t info;
  gl_part_dev_info(h, &info);
  assert_int_equal(info.units_free, 132 - 56);
  gl_part_destroy(p);
  gl_part_dev_info(h, &info);
  assert_int_equal(info.units_free, 132);
  gl_part_dev_destroy(h);
}

static void test_cpu_grants(void **state) {
  (void)state;
  gl_part_dev_t *d;
  assert_int_equal(gl_part_dev_cpu_create(&d), GL_OK);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_true(info.units_total >= 1);
  if (info.units_total != 2) {
    /* The numbers below are for the 2-core build machine; elsewhere check the rule only. */
    gl_part_dev_destroy(d);
    skip();
  }
  gl_part_t *a, *b, *c;
  gl_part_grant_t ga, gb;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &a, &ga), GL_OK);
  assert_int_equal(ga.units, 1);
  assert_int_equal(ga.threads, 1);
  assert_int_equal(ga.n_cpus, 1);
  assert_int_equal(gl_part_create(d, 0.3, NULL, &b, &gb), GL_OK);
  assert_int_equal(gb.units, 1);
  assert_true(ga.cpus[0] != gb.cpus[0]); /* disjoint cores */
  assert_int_equal(gl_part_create(d, 0.5, NULL, &c, NULL), GL_EBUSY); /* none left */
  assert_int_equal(gl_part_create_units(d, 3, NULL, &c, NULL), GL_EINVAL);
  gl_part_destroy(a);
  gl_part_destroy(b);
  gl_part_dev_destroy(d);

  /* The whole device grants all of it whatever is asked, and says so. */
  assert_int_equal(gl_part_dev_whole_create(&d), GL_OK);
  assert_int_equal(gl_part_create(d, 0.3, NULL, &a, &ga), GL_OK);
  assert_int_equal(ga.units, 2);
  assert_true(ga.share == 1.0 && ga.share_requested == 0.3);
  assert_int_equal(ga.threads, 2);
  gl_part_destroy(a);
  gl_part_dev_destroy(d);
}

/* ---- threads inside a partition ---- */

typedef struct {
  int max_threads, team, distinct;
  int bad_cpu; /* a CPU seen outside the grant, or -1 */
  gl_part_grant_t g;
} thr_probe_t;

static gl_status_t probe_threads(gl_part_t *p, void *arg) {
  thr_probe_t *t = arg;
  gl_part_info(p, &t->g);
  t->max_threads = omp_get_max_threads();
  /* Atomics: libgomp's barriers are invisible to ThreadSanitizer. */
  _Atomic long tids[64];
  for (int i = 0; i < 64; i++) atomic_init(&tids[i], 0);
  atomic_int team, bad;
  atomic_init(&team, 0);
  atomic_init(&bad, -1);
#pragma omp parallel
  {
    atomic_store(&team, omp_get_num_threads());
    int me = omp_get_thread_num();
    if (me < 64) atomic_store(&tids[me], syscall(SYS_gettid));
    /* Sample the CPU while spinning ~20 ms, so a migration would be seen. */
    int64_t end = gl_now_ns() + 20000000;
    while (gl_now_ns() < end) {
      int cpu = sched_getcpu();
      bool in = false;
      for (int k = 0; k < t->g.n_cpus; k++) in |= t->g.cpus[k] == cpu;
      if (!in) atomic_store(&bad, cpu);
    }
  }
  t->team = atomic_load(&team);
  t->distinct = 0;
  for (int i = 0; i < team && i < 64; i++) {
    bool seen = false;
    for (int j = 0; j < i; j++) seen |= atomic_load(&tids[j]) == atomic_load(&tids[i]);
    if (!seen && atomic_load(&tids[i])) t->distinct++;
  }
  t->bad_cpu = atomic_load(&bad);
  return GL_OK;
}

static void check_threads(gl_part_dev_t *d, double share) {
  gl_part_t *p;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(d, share, NULL, &p, &g), GL_OK);
  /* A fresh probe per call: libgomp's join is invisible to ThreadSanitizer, so reusing memory
   * its workers read would be reported as a race. */
  static thr_probe_t probes[8];
  static int n_probes;
  assert_true(n_probes < 8);
  thr_probe_t *tp = &probes[n_probes++];
  assert_int_equal(gl_part_run_sync(p, probe_threads, tp), GL_OK);
  assert_int_equal(tp->max_threads, g.units);
  assert_int_equal(tp->team, g.units);
  assert_int_equal(tp->distinct, g.units);
  assert_int_equal(tp->bad_cpu, -1);
  gl_placement_t pl;
  gl_part_placement(p, &pl);
  assert_int_equal(pl.threads, g.units);
  gl_part_destroy(p);
}

static void test_threads_honoured(void **state) {
  (void)state;
  gl_part_dev_t *d;
  assert_int_equal(gl_part_dev_cpu_create(&d), GL_OK);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  check_threads(d, 1.0 / info.units_total); /* one core */
  check_threads(d, 1.0);                    /* every core: a team of that many, all on them */
  gl_part_dev_destroy(d);
  assert_int_equal(gl_part_dev_whole_create(&d), GL_OK);
  check_threads(d, 0.5); /* the whole device: all cores whatever is asked */
  gl_part_dev_destroy(d);
}

/* ---- two partitions really run at once ---- */

typedef struct {
  long iters;
  int64_t start, end;
  int cpu;      /* where the job started */
  bool moved;   /* seen on another CPU while it ran */
  double sink;
} spin_t;

static gl_status_t spin_job(gl_part_t *p, void *arg) {
  spin_t *s = arg;
  s->start = gl_now_ns();
  s->cpu = sched_getcpu();
  s->moved = false;
  volatile double x = 1.0;
  for (long i = 0; i < s->iters; i++) {
    x = x * 1.0000001 + 1e-9;
    if ((i & 0xffff) == 0 && sched_getcpu() != s->cpu) s->moved = true;
  }
  s->sink = x;
  s->end = gl_now_ns();
  return GL_OK;
}

static double overlap_frac(const spin_t *a, const spin_t *b) {
  int64_t lo = a->start > b->start ? a->start : b->start;
  int64_t hi = a->end < b->end ? a->end : b->end;
  int64_t shorter = (a->end - a->start) < (b->end - b->start) ? a->end - a->start : b->end - b->start;
  return hi > lo && shorter > 0 ? (double)(hi - lo) / (double)shorter : 0.0;
}

static void test_disjoint_concurrent(void **state) {
  (void)state;
  gl_part_dev_t *d;
  assert_int_equal(gl_part_dev_cpu_create(&d), GL_OK);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  if (info.units_total < 2) {
    gl_part_dev_destroy(d);
    skip();
  }
  gl_part_t *a, *b;
  assert_int_equal(gl_part_create_units(d, 1, NULL, &a, NULL), GL_OK);
  assert_int_equal(gl_part_create_units(d, 1, NULL, &b, NULL), GL_OK);
  /* Calibrate a fixed amount of work to ~200 ms on one core, alone. */
  spin_t cal = {.iters = 2000000};
  assert_int_equal(gl_part_run_sync(a, spin_job, &cal), GL_OK);
  double ns_per_iter = (double)(cal.end - cal.start) / (double)cal.iters;
  long iters = (long)(200e6 / ns_per_iter);
  /* Concurrent = the two jobs' run intervals overlap (> 50% of the shorter one) while each
   * stays on its own core, a different one for each. The span against a solo run is printed,
   * not asserted: on a shared machine another process can slow either core. */
  double best_overlap = 0;
  bool apart = false;
  for (int attempt = 0; attempt < 3 && (best_overlap <= 0.5 || !apart); attempt++) {
    spin_t solo = {.iters = iters};
    assert_int_equal(gl_part_run_sync(a, spin_job, &solo), GL_OK);
    spin_t ja = {.iters = iters}, jb = {.iters = iters};
    assert_int_equal(gl_part_submit(a, spin_job, &ja), GL_OK);
    assert_int_equal(gl_part_submit(b, spin_job, &jb), GL_OK);
    while (gl_part_pending(a) || gl_part_pending(b)) sleep_ms(5);
    double ov = overlap_frac(&ja, &jb);
    int64_t span = (ja.end > jb.end ? ja.end : jb.end) - (ja.start < jb.start ? ja.start : jb.start);
    /* Time-shared on one core the pair would take ~2x a solo run; concurrent, ~1x. */
    print_message("overlap %.2f, span %.1f ms vs solo %.1f ms (x%.2f), cpus %d|%d%s\n", ov,
                  gl_ns_to_ms(span), gl_ns_to_ms(solo.end - solo.start),
                  (double)span / (double)(solo.end - solo.start), ja.cpu, jb.cpu,
                  ja.moved || jb.moved ? " (a job moved!)" : "");
    if (ov > best_overlap) best_overlap = ov;
    apart = ja.cpu != jb.cpu && !ja.moved && !jb.moved;
    assert_false(ja.moved || jb.moved); /* pinned: never leaves its core */
  }
  assert_true(best_overlap > 0.5);
  assert_true(apart);
  gl_part_destroy(a);
  gl_part_destroy(b);
  gl_part_dev_destroy(d);
}

/* ---- the queue ---- */

typedef struct {
  atomic_int started, release, ran;
} gate_t;

static gl_status_t gate_job(gl_part_t *p, void *arg) {
  gate_t *g = arg;
  atomic_fetch_add(&g->started, 1);
  while (!atomic_load(&g->release)) sleep_ms(1);
  atomic_fetch_add(&g->ran, 1);
  return GL_OK;
}

static void test_queue_full(void **state) {
  (void)state;
  gl_part_dev_t *d = vdev(4, 0, 0, NULL);
  gl_part_opts_t opts = {.queue_cap = 2};
  gl_part_t *p;
  assert_int_equal(gl_part_create(d, 0.5, &opts, &p, NULL), GL_OK);
  gate_t g;
  atomic_init(&g.started, 0);
  atomic_init(&g.release, 0);
  atomic_init(&g.ran, 0);
  assert_int_equal(gl_part_submit(p, gate_job, &g), GL_OK);
  while (atomic_load(&g.started) == 0) sleep_ms(1); /* the first job is running, not queued */
  assert_int_equal(gl_part_submit(p, gate_job, &g), GL_OK);
  assert_int_equal(gl_part_submit(p, gate_job, &g), GL_OK);
  assert_int_equal(gl_part_pending(p), 3);
  assert_int_equal(gl_part_submit(p, gate_job, &g), GL_EBUSY); /* 2 waiting = full */
  atomic_store(&g.release, 1);
  while (gl_part_pending(p)) sleep_ms(1);
  assert_int_equal(atomic_load(&g.ran), 3);
  assert_int_equal(gl_part_submit(p, gate_job, &g), GL_OK); /* room again */
  gl_part_destroy(p);
  assert_int_equal(atomic_load(&g.ran), 4);
  gl_part_dev_destroy(d);
}

/* Many producers on a small queue: every accepted job runs exactly once. */
typedef struct {
  gl_part_t *p;
  atomic_int *ran;
  int accepted, refused;
} producer_t;

static gl_status_t count_job(gl_part_t *p, void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return GL_OK;
}

static void *produce(void *arg) {
  producer_t *pr = arg;
  for (int i = 0; i < 200; i++) {
    gl_status_t st = gl_part_submit(pr->p, count_job, pr->ran);
    if (st == GL_OK) pr->accepted++;
    else if (st == GL_EBUSY) pr->refused++;
    if (i % 50 == 0 && gl_part_run_sync(pr->p, count_job, pr->ran) == GL_OK) pr->accepted++;
  }
  return NULL;
}

static void test_many_producers(void **state) {
  (void)state;
  gl_part_dev_t *d = vdev(2, 0, 0, NULL);
  gl_part_opts_t opts = {.queue_cap = 4};
  gl_part_t *p;
  assert_int_equal(gl_part_create(d, 1.0, &opts, &p, NULL), GL_OK);
  atomic_int ran;
  atomic_init(&ran, 0);
  producer_t pr[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    pr[i] = (producer_t){p, &ran, 0, 0};
    pthread_create(&t[i], NULL, produce, &pr[i]);
  }
  int accepted = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    accepted += pr[i].accepted;
    assert_int_equal(pr[i].accepted + pr[i].refused, 200 + 4);
  }
  gl_part_destroy(p);
  assert_int_equal(atomic_load(&ran), accepted);
  gl_part_dev_destroy(d);
}

/* destroy with jobs queued: every queued job runs to completion (none dropped), nothing leaks. */
typedef struct {
  atomic_int *done;
  char *buf;
} owned_t;

static gl_status_t owned_job(gl_part_t *p, void *arg) {
  owned_t *o = arg;
  sleep_ms(20);
  gl_free(o->buf);
  atomic_fetch_add(o->done, 1);
  gl_free(o);
  return GL_OK;
}

static void test_destroy_drains(void **state) {
  (void)state;
  size_t live = gl_alloc_live_count();
  gl_part_dev_t *d;
  assert_int_equal(gl_part_dev_cpu_create(&d), GL_OK);
  gl_part_t *p;
  assert_int_equal(gl_part_create_units(d, 1, NULL, &p, NULL), GL_OK);
  atomic_int done;
  atomic_init(&done, 0);
  for (int i = 0; i < 5; i++) {
    owned_t *o = gl_malloc(sizeof *o);
    o->done = &done;
    o->buf = gl_malloc(1000);
    assert_int_equal(gl_part_submit(p, owned_job, o), GL_OK);
  }
  assert_true(gl_part_pending(p) >= 4);
  gl_part_destroy(p);
  assert_int_equal(atomic_load(&done), 5);
  gl_part_dev_destroy(d);
  assert_int_equal(gl_alloc_live_count(), live);
}

/* ---- virtual device timing, run_sync status, resize ---- */

static int64_t lat_30ms_per_share(void *user, int units, int total, void *arg) {
  return (int64_t)(30e6 * total / units);
}

static gl_status_t failing_job(gl_part_t *p, void *arg) {
  return gl_err(GL_EINVAL, "job %d refused", *(int *)arg);
}

static gl_status_t nop_job(gl_part_t *p, void *arg) { return GL_OK; }

static void test_virtual_and_resize(void **state) {
  (void)state;
  gl_part_dev_t *d = vdev(4, 0, 0, lat_30ms_per_share);
  gl_part_t *a, *b;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create(d, 0.5, NULL, &a, &g), GL_OK);
  assert_int_equal(g.units, 2);
  assert_int_equal(gl_part_create(d, 0.25, NULL, &b, NULL), GL_OK);
  int64_t t0 = gl_now_ns();
  int id = 7;
  assert_int_equal(gl_part_run_sync(b, failing_job, &id), GL_EINVAL); /* fn's status comes back */
  assert_string_equal(gl_errmsg(), "job 7 refused");
  int64_t el = gl_now_ns() - t0;
  assert_true(el >= 120000000); /* 1 of 4 units: 4 x 30 ms */
  t0 = gl_now_ns();
  assert_int_equal(gl_part_run_sync(a, nop_job, NULL), GL_OK);
  el = gl_now_ns() - t0;
  assert_true(el >= 60000000 && el < 120000000);

  /* Grow a to 3 of 4: built beside it from the 1 free unit plus its own 2. */
  assert_int_equal(gl_part_resize(&a, 0.75, &g), GL_OK);
  assert_int_equal(g.units, 3);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 0);
  /* Growing b to 2 needs one more unit than is free: refused, b unchanged and still working. */
  gl_part_t *b_before = b;
  assert_int_equal(gl_part_resize(&b, 0.5, &g), GL_EBUSY);
  assert_ptr_equal(b, b_before);
  assert_int_equal(gl_part_run_sync(b, nop_job, NULL), GL_OK);
  /* Shrinking a frees a unit. */
  assert_int_equal(gl_part_resize(&a, 0.25, &g), GL_OK);
  assert_int_equal(g.units, 1);
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 2);
  gl_part_destroy(a);
  gl_part_destroy(b);
  gl_part_dev_destroy(d);
}

/* gl_part_create_on: exact units, overlapping a partition that holds them (the reorganizer's
 * switch), unit accounting back to all free once both are gone; bad lists refused. */
static void test_create_on_overlap(void **state) {
  (void)state;
  gl_part_dev_t *d = vdev(4, 0, 0, NULL);
  gl_part_t *a, *b, *c;
  gl_part_grant_t g;
  assert_int_equal(gl_part_create_units(d, 4, NULL, &a, NULL), GL_OK);
  assert_int_equal(gl_part_create_units(d, 1, NULL, &c, NULL), GL_EBUSY); /* the normal way refuses */
  int on[2] = {3, 1};
  assert_int_equal(gl_part_create_on(d, on, 2, NULL, &b, &g), GL_OK);
  assert_int_equal(g.units, 2);
  assert_int_equal(gl_part_run_sync(b, nop_job, NULL), GL_OK);
  gl_part_dev_info_t info;
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 0);
  gl_part_destroy(a); /* the retiring one goes: units 0 and 2 are free again, 1 and 3 held */
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 2);
  int twice[2] = {2, 2}, out_of[1] = {4};
  assert_int_equal(gl_part_create_on(d, twice, 2, NULL, &c, NULL), GL_EINVAL);
  assert_null(c);
  assert_int_equal(gl_part_create_on(d, out_of, 1, NULL, &c, NULL), GL_EINVAL);
  assert_int_equal(gl_part_create_on(d, on, 0, NULL, &c, NULL), GL_EINVAL);
  gl_part_destroy(b);
  gl_part_dev_info(d, &info);
  assert_int_equal(info.units_free, 4);
  gl_part_dev_destroy(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grant_rule),         cmocka_unit_test(test_cpu_grants),
      cmocka_unit_test(test_threads_honoured),   cmocka_unit_test(test_disjoint_concurrent),
      cmocka_unit_test(test_queue_full),         cmocka_unit_test(test_destroy_drains),
      cmocka_unit_test(test_virtual_and_resize), cmocka_unit_test(test_many_producers),
      cmocka_unit_test(test_create_on_overlap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
