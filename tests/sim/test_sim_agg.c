/* tests/sim/test_sim_agg.c - device-class aggregation against the every-device simulation (split routing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "sim/sim.h"

/* 8 devices of 2 classes: devices 0-3 run what sbp gives lenet alone on one device, devices 4-7
 * what it gives resnet50 alone (rtx2080ti, analytic), planned for the per-device rate with no
 * headroom; offered: 4 x that x over (1.1), and simulated
 * with SLOs tighter than planned (lenet 1.1 ms, resnet50 13 ms) so that some requests miss them. */
typedef struct {
  gl_profile_t *prof;
  gl_sched_model_t ms[2];
  gl_sched_input_t in;
  gl_sched_plan_t plan;
} fixture_t;

static void setup_case(fixture_t *F, double lenet_rate, double resnet_rate, double over) {
  memset(F, 0, sizeof *F);
  assert_int_equal(gl_profile_analytic("rtx2080ti", &F->prof), GL_OK);
  const char *names[2] = {"lenet", "resnet50"};
  const double rates[2] = {lenet_rate, resnet_rate};
  gl_sched_input_defaults(&F->in, F->prof);
  F->in.n_models = 2;
  F->in.models = F->ms;
  gl_sched_plan_t one[2];
  for (int i = 0; i < 2; i++) {
    gl_sched_model_t *m = &F->ms[i];
    snprintf(m->name, sizeof m->name, "%s", names[i]);
    m->pm = -1;
    for (int k = 0; k < F->prof->n_models; k++)
      if (!strcmp(F->prof->models[k].name, names[i])) m->pm = k;
    assert_true(m->pm >= 0);
    m->slo_ms = i ? 108 : 5, m->pct = 99, m->mem_mb = F->prof->models[m->pm].mem_mb;
  }
  for (int i = 0; i < 2; i++) {
    /* plan one device for this model alone (the other at rate 0 is not placed) */
    F->ms[0].rate = F->ms[1].rate = 0;
    F->ms[i].rate = rates[i];
    gl_sched_input_t in1 = F->in;
    in1.n_devices = 1;
    if (gl_sched_plan("sbp", &in1, &one[i]) != GL_OK) fprintf(stderr, "plan: %s\n", gl_errmsg());
    assert_true(one[i].n_devices == 1 && one[i].feasible);
  }
  /* deadlines tighter than the planning SLOs, so that attainment is below 100% and comparable */
  F->ms[0].slo_ms = 1.1, F->ms[1].slo_ms = 13;
  F->ms[0].rate = 4 * lenet_rate * over, F->ms[1].rate = 4 * resnet_rate * over;
  F->in.n_devices = 8;
  F->plan.n_devices = 8, F->plan.n_models = 2, F->plan.feasible = true;
  snprintf(F->plan.policy, sizeof F->plan.policy, "sbp");
  F->plan.dev = gl_calloc(8, sizeof *F->plan.dev);
  F->plan.served = gl_calloc(2, sizeof *F->plan.served);
  assert_non_null(F->plan.dev);
  assert_non_null(F->plan.served);
  for (int d = 0; d < 8; d++) F->plan.dev[d] = one[d / 4].dev[0];
  gl_sched_plan_fini(&one[0]), gl_sched_plan_fini(&one[1]);
}

static void teardown_case(fixture_t *F) {
  gl_sched_plan_fini(&F->plan);
  gl_profile_destroy(F->prof);
}

static gl_sim_config_t config(const fixture_t *F, uint64_t seed) {
  gl_sim_config_t c = {0};
  c.in = &F->in;
  c.plan = &F->plan;
  c.scale = 1;
  c.duration_s = 20;
  c.warmup_s = 1;
  c.seed = seed;
  c.jitter = true;
  return c;
}

static void test_aggregate_matches_full(void **st) {
  (void)st;
  fixture_t F;
  setup_case(&F, 3000, 250, 1.1);
  gl_sim_config_t c = config(&F, 11);
  gl_sim_agg_opts_t full = {.split_full = true}, agg = {.reps = 1, .threads = 2};
  gl_sim_result_t rf, ra, rp;
  gl_sim_agg_info_t fi, ai;
  assert_int_equal(gl_sim_run_aggregate(&c, &full, &rf, &fi), GL_OK);
  assert_int_equal(gl_sim_run_aggregate(&c, &agg, &ra, &ai), GL_OK);
  assert_int_equal(gl_sim_run(&c, &rp), GL_OK); /* the default pooled queues, for the record */
  assert_int_equal(ai.n_classes, 2);
  assert_int_equal(ai.largest_class, 4);
  assert_int_equal(ai.n_runs, 2);
  assert_int_equal(fi.n_runs, 1);
  for (int i = 0; i < 2; i++) {
    const gl_sim_model_stats_t *f = &rf.m[i], *a = &ra.m[i], *p = &rp.m[i];
    fprintf(stderr,
            "%-9s full(split): sent %lld attain %.3f%% p99 %.3f ms | aggregated: sent %lld attain %.3f%% p99 %.3f ms"
            " | pooled: attain %.3f%% p99 %.3f ms\n",
            f->name, f->sent, 100 * f->attain, f->p99_ms, a->sent, 100 * a->attain, a->p99_ms, 100 * p->attain,
            p->p99_ms);
    assert_true(f->sent > 1000 && a->sent > 1000);
    /* the aggregated run simulates a quarter of the devices: its count x 4 has standard deviation
     * about 2 sqrt(n); allow 4 of them */
    assert_true(fabs((double)a->sent - (double)f->sent) < 8 * sqrt((double)f->sent));
    assert_true(fabs(a->attain - f->attain) * 100 < 0.5);
    assert_true(fabs(a->p99_ms - f->p99_ms) / f->p99_ms < 0.05);
    assert_true(a->p99_ms > 0 && a->p50_ms <= a->p99_ms);
  }
  /* the representatives did about a quarter of the events they stand for */
  assert_true(ra.events * 3 < rf.events);
  assert_true(ai.events_represented > ra.events * 3);
  gl_sim_result_fini(&rf), gl_sim_result_fini(&ra), gl_sim_result_fini(&rp);
  teardown_case(&F);
}

static void test_aggregate_deterministic(void **st) {
  (void)st;
  fixture_t F;
  setup_case(&F, 3000, 250, 1.1);
  gl_sim_config_t c = config(&F, 11);
  c.duration_s = 4;
  gl_sim_agg_opts_t o1 = {.reps = 2, .threads = 1}, o2 = {.reps = 2, .threads = 2};
  gl_sim_result_t a, b, d;
  gl_sim_agg_info_t ia, ib, id;
  assert_int_equal(gl_sim_run_aggregate(&c, &o1, &a, &ia), GL_OK);
  assert_int_equal(gl_sim_run_aggregate(&c, &o2, &b, &ib), GL_OK);
  c.seed = 6;
  assert_int_equal(gl_sim_run_aggregate(&c, &o2, &d, &id), GL_OK);
  assert_int_equal(ia.n_runs, 4);
  assert_int_equal(a.events, b.events);
  bool differs = false;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(a.m[i].sent, b.m[i].sent);
    assert_int_equal(a.m[i].met, b.m[i].met);
    assert_true(a.m[i].p99_ms == b.m[i].p99_ms);
    assert_true(a.m[i].mean_ms == b.m[i].mean_ms);
    differs |= a.m[i].sent != d.m[i].sent;
  }
  assert_true(differs);
  gl_sim_result_fini(&a), gl_sim_result_fini(&b), gl_sim_result_fini(&d);
  teardown_case(&F);
}

/* Two instances of lenet (same profile model, SLO and per-device rate) on devices 0-3 and 4-7
 * are one class: one run stands for both models' devices. */
static void test_aggregate_across_models(void **st) {
  (void)st;
  fixture_t F;
  setup_case(&F, 3000, 250, 1.1);
  F.ms[1] = F.ms[0];
  snprintf(F.ms[1].name, sizeof F.ms[1].name, "lenet-b");
  for (int d = 4; d < 8; d++) {
    F.plan.dev[d] = F.plan.dev[0];
    for (int j = 0; j < F.plan.dev[d].n_lets; j++)
      for (int m = 0; m < F.plan.dev[d].lets[j].n_members; m++) F.plan.dev[d].lets[j].m[m].model = 1;
  }
  gl_sim_config_t c = config(&F, 3);
  c.duration_s = 10;
  gl_sim_agg_opts_t full = {.split_full = true}, agg = {.reps = 1, .threads = 1};
  gl_sim_result_t rf, ra;
  gl_sim_agg_info_t fi, ai;
  assert_int_equal(gl_sim_run_aggregate(&c, &full, &rf, &fi), GL_OK);
  assert_int_equal(gl_sim_run_aggregate(&c, &agg, &ra, &ai), GL_OK);
  assert_int_equal(ai.n_classes, 1);
  assert_int_equal(ai.largest_class, 8);
  for (int i = 0; i < 2; i++) {
    const gl_sim_model_stats_t *f = &rf.m[i], *a = &ra.m[i];
    assert_true(f->sent > 1000);
    assert_true(fabs((double)a->sent - (double)f->sent) < 8 * sqrt((double)f->sent));
    assert_true(fabs(a->attain - f->attain) * 100 < 0.5);
    assert_true(fabs(a->p99_ms - f->p99_ms) / f->p99_ms < 0.05);
  }
  /* the one run's counts go to both models alike */
  assert_int_equal(ra.m[0].sent, ra.m[1].sent);
  assert_int_equal(ra.m[0].met, ra.m[1].met);
  gl_sim_result_fini(&rf), gl_sim_result_fini(&ra);
  teardown_case(&F);
}

static void test_aggregate_refuses(void **st) {
  (void)st;
  fixture_t F;
  setup_case(&F, 3000, 250, 1.1);
  gl_sim_config_t c = config(&F, 11);
  double t = 0.5;
  int m = 0;
  c.trace_n = 1, c.trace_t = &t, c.trace_model = &m;
  gl_sim_agg_opts_t o = {.reps = 1};
  gl_sim_result_t r;
  gl_sim_agg_info_t info;
  assert_int_equal(gl_sim_run_aggregate(&c, &o, &r, &info), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "trace"));
  teardown_case(&F);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aggregate_matches_full),
      cmocka_unit_test(test_aggregate_deterministic),
      cmocka_unit_test(test_aggregate_across_models),
      cmocka_unit_test(test_aggregate_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
