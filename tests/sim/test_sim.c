/* tests/sim/test_sim.c - the simulator against M/D/1, determinism, scenario file errors. */
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

/* One model, one device, batch 1 only, deterministic service S ms. */
static gl_profile_t *md1_profile(double S) {
  gl_profile_t *p = gl_profile_alloc(1, 1, 1);
  snprintf(p->unit, sizeof p->unit, "pct");
  snprintf(p->name, sizeof p->name, "md1");
  p->total_units = 100, p->granularity = 10, p->min_units = 10, p->mem_mb = 100000;
  p->sizes[0] = 100, p->batches[0] = 1, p->n_feat = 1, p->feat_batches[0] = 1;
  snprintf(p->models[0].name, sizeof p->models[0].name, "x");
  p->models[0].lat_med[0] = S;
  assert_int_equal(gl_profile_validate(p, "md1"), GL_OK);
  return p;
}

static void test_md1(void **st) {
  (void)st;
  const double S = 1.0; /* ms */
  gl_profile_t *p = md1_profile(S);
  gl_sched_model_t m = {.name = "x", .pm = 0, .slo_ms = 1e9, .pct = 99, .rate = 0};
  gl_sched_input_t in;
  gl_sched_input_defaults(&in, p);
  in.models = &m;
  in.n_models = 1;
  in.max_batch = 1;
  gl_plan_t plan;
  in.models = &m;
  m.rate = 1;
  assert_int_equal(gl_sched_plan("sbp", &in, &plan), GL_OK);
  assert_true(plan.feasible);
  plan.dev[0].lets[0].m[0].batch = 1;
  plan.dev[0].lets[0].m[0].alpha = 1;
  const double loads[3] = {0.3, 0.6, 0.9};
  for (int i = 0; i < 3; i++) {
    double rho = loads[i];
    m.rate = rho / S * 1000;
    gl_sim_config_t cfg = {0};
    cfg.in = &in;
    cfg.plan = &plan;
    cfg.scale = 1;
    cfg.duration_s = rho < 0.8 ? 600 : 1500;
    cfg.warmup_s = 10;
    cfg.seed = 42;
    cfg.queue_cap = 1 << 20;
    gl_sim_result_t r;
    assert_int_equal(gl_sim_run(&cfg, &r), GL_OK);
    double w = r.m[0].mean_ms - S, expect = rho * S / (2 * (1 - rho));
    fprintf(stderr, "M/D/1 rho %.1f: mean wait %.4f ms, theory %.4f ms (%lld served)\n", rho, w, expect, r.m[0].served);
    assert_true(fabs(w - expect) / expect < 0.05);
    assert_int_equal(r.m[0].rejected, 0);
    gl_sim_result_fini(&r);
  }
  gl_plan_fini(&plan);
  gl_profile_destroy(p);
}

static void run_game(uint64_t seed, const char *policy, gl_sim_result_t *r, gl_profile_t **pp, gl_scenario_t **sp) {
  const char *text =
      "{\"format\":\"gpulet-scenario\",\"name\":\"t\",\"duration_s\":5,\"models\":["
      "{\"name\":\"lenet1\",\"profile\":\"lenet\",\"slo_ms\":108,\"rate\":300},"
      "{\"name\":\"resnet50\",\"slo_ms\":108,\"rate\":300,\"phases\":[{\"t_s\":2,\"rate\":500}]}]}";
  assert_int_equal(gl_scenario_parse(text, "t", sp), GL_OK);
  assert_int_equal(gl_profile_analytic("rtx2080ti", pp), GL_OK);
  static gl_sched_model_t ms[2];
  assert_int_equal(gl_scenario_models(*sp, *pp, 1, ms), GL_OK);
  assert_true(fabs(ms[1].rate - 500) < 1e-9); /* peak over the phases */
  static gl_sched_input_t in;
  gl_sched_input_defaults(&in, *pp);
  in.models = ms;
  in.n_models = 2;
  in.n_devices = 2;
  gl_sim_config_t cfg = {0};
  cfg.in = &in;
  cfg.scen = *sp;
  cfg.policy = policy;
  cfg.scale = 1;
  cfg.duration_s = 5;
  cfg.warmup_s = 0.5;
  cfg.seed = seed;
  cfg.jitter = true;
  cfg.replan_s = 2.5;
  assert_int_equal(gl_sim_run(&cfg, r), GL_OK);
}

static void test_determinism(void **st) {
  (void)st;
  const char *pol[3] = {"gpulet-int", "sbp", "fine"};
  for (int k = 0; k < 3; k++) {
    gl_sim_result_t a, b, c;
    gl_profile_t *p1, *p2, *p3;
    gl_scenario_t *s1, *s2, *s3;
    run_game(7, pol[k], &a, &p1, &s1);
    run_game(7, pol[k], &b, &p2, &s2);
    run_game(8, pol[k], &c, &p3, &s3);
    assert_int_equal(a.events, b.events);
    bool differs = a.events != c.events;
    for (int i = 0; i < 2; i++) {
      assert_int_equal(a.m[i].sent, b.m[i].sent);
      assert_int_equal(a.m[i].met, b.m[i].met);
      assert_true(a.m[i].p99_ms == b.m[i].p99_ms);
      differs |= a.m[i].sent != c.m[i].sent;
      assert_true(a.m[i].sent > 0);
    }
    assert_true(differs);
    /* the resnet phase raises its rate from 300 to 500 req/s at 2 s */
    assert_true(a.m[1].sent > (long long)(0.8 * (1.5 * 300 + 3 * 500)));
    gl_sim_result_fini(&a), gl_sim_result_fini(&b), gl_sim_result_fini(&c);
    gl_profile_destroy(p1), gl_profile_destroy(p2), gl_profile_destroy(p3);
    gl_scenario_destroy(s1), gl_scenario_destroy(s2), gl_scenario_destroy(s3);
  }
}

static void expect_bad(const char *text, const char *part) {
  gl_scenario_t *s = NULL;
  gl_status_t st = gl_scenario_parse(text, "bad.json", &s);
  if (st == GL_OK || !strstr(gl_errmsg(), part)) {
    fprintf(stderr, "expected error with '%s', got %d '%s'\n", part, st, gl_errmsg());
    fail();
  }
  assert_null(s);
}

static void test_bad_scenarios(void **st) {
  (void)st;
  expect_bad("[1]", "top level");
  expect_bad("{\"format\":\"x\",\"models\":[]}", "format must be");
  expect_bad("{\"format\":\"gpulet-scenario\",\"models\":[]}", "models: expected");
  expect_bad("{\"format\":\"gpulet-scenario\",\"models\":[{\"name\":\"a\",\"rate\":1}]}", "models[0].slo_ms: missing");
  expect_bad("{\"format\":\"gpulet-scenario\",\"models\":[{\"name\":\"a\",\"rate\":-1,\"slo_ms\":5}]}", "rate >= 0");
  expect_bad("{\"format\":\"gpulet-scenario\",\"models\":[{\"name\":\"a\",\"rate\":1,\"slo_ms\":5},"
             "{\"name\":\"a\",\"rate\":1,\"slo_ms\":5}]}",
             "appears twice");
  expect_bad("{\"format\":\"gpulet-scenario\",\"models\":[{\"name\":\"a\",\"rate\":1,\"slo_ms\":5,"
             "\"phases\":[{\"t_s\":3,\"rate\":1},{\"t_s\":2,\"rate\":1}]}]}",
             "ascending");
  expect_bad("{\"format\":\"gpulet-scenario\",\"duration_s\":0,\"models\":[{\"name\":\"a\",\"rate\":1,\"slo_ms\":5}]}",
             "duration_s");
  expect_bad("{\"format\":", "line 1");
  gl_scenario_t *s;
  assert_int_equal(gl_scenario_parse("{\"format\":\"gpulet-scenario\",\"models\":[{\"name\":\"nosuch\",\"rate\":1,"
                                     "\"slo_ms\":5}]}",
                                     "x", &s),
                   GL_OK);
  gl_profile_t *p;
  assert_int_equal(gl_profile_analytic("h100", &p), GL_OK);
  gl_sched_model_t m;
  assert_int_equal(gl_scenario_models(s, p, 1, &m), GL_ENOTFOUND);
  assert_non_null(strstr(gl_errmsg(), "nosuch"));
  gl_profile_destroy(p);
  gl_scenario_destroy(s);
}

static void test_trace(void **st) {
  (void)st;
  gl_profile_t *p = md1_profile(1.0);
  gl_sched_model_t m = {.name = "x", .pm = 0, .slo_ms = 1e9, .pct = 99, .rate = 10};
  gl_sched_input_t in;
  gl_sched_input_defaults(&in, p);
  in.models = &m;
  in.n_models = 1;
  in.max_batch = 1;
  gl_plan_t plan;
  assert_int_equal(gl_sched_plan("sbp", &in, &plan), GL_OK);
  assert_true(plan.feasible);
  m.slo_ms = 1.6;
  /* service 1 ms, SLO 1.6 ms: the 2nd waits 0.5 ms (met), the 3rd would wait 1.5 ms (rejected) */
  const double t[4] = {0.100, 0.1005, 0.1010, 0.300};
  const int mod[4] = {0, 0, 0, 0};
  gl_sim_config_t cfg = {0};
  cfg.in = &in;
  cfg.plan = &plan;
  cfg.scale = 1;
  cfg.duration_s = 1;
  cfg.seed = 1;
  cfg.headroom = 1;
  cfg.trace_n = 4, cfg.trace_t = t, cfg.trace_model = mod;
  gl_sim_result_t r;
  assert_int_equal(gl_sim_run(&cfg, &r), GL_OK);
  assert_int_equal(r.m[0].sent, 4);
  assert_int_equal(r.m[0].served, 3);
  assert_int_equal(r.m[0].rejected, 1);
  assert_int_equal(r.m[0].met, 3);
  assert_true(fabs(r.m[0].mean_ms - 3.5 / 3) < 1e-6);
  gl_sim_result_fini(&r);
  gl_plan_fini(&plan);
  gl_profile_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_md1),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_bad_scenarios),
      cmocka_unit_test(test_trace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
