/* tests/profile/test_profile.c - profile lookup/interpolation, the file format and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "profile/profile.h"

static const char *k_valid =
    "{\"format\":\"gpulet-profile\",\"version\":1,"
    "\"device\":{\"kind\":\"virtual\",\"name\":\"toy\",\"unit\":\"pct\",\"total_units\":100,\"granularity\":10,"
    "\"min_units\":10,\"memory_mb\":1000},"
    "\"provenance\":{\"who\":\"test\",\"when\":\"now\",\"commit\":\"x\",\"analytic\":false},"
    "\"sizes\":[20,50,100],\"batches\":[1,32],"
    "\"interference\":{\"batches\":[1,32],\"coef\":{\"l2_self\":0,\"l2_other\":0,\"dram_self\":0,\"dram_other\":0,"
    "\"const\":1}},"
    "\"models\":[{\"name\":\"a\",\"memory_mb\":10,\"latency_ms\":{\"median\":[[10,6,4],[100,50,30]]},"
    "\"l2_pct\":[1,2],\"dram_pct\":[3,4]}]}";

static void test_interpolation(void **s) {
  (void)s;
  gl_profile_t *p;
  assert_int_equal(gl_profile_parse(k_valid, "toy", &p), GL_OK);
  /* measured cells */
  assert_true(fabs(gl_profile_latency(p, 0, 1, 50, false) - 6) < 1e-9);
  assert_true(fabs(gl_profile_latency(p, 0, 32, 20, false) - 100) < 1e-9);
  /* research rule: batch 16 at the middle size goes between the smallest and largest sizes
   * with k = (L32(50)-L32(100)) / (L32(20)-L32(100)) = 2/7 */
  assert_true(fabs(gl_profile_latency(p, 0, 16, 50, false) - 27.142857142857) < 1e-6);
  /* at the extreme sizes: linear over batch */
  assert_true(fabs(gl_profile_latency(p, 0, 16, 100, false) - (4 + 15.0 / 31 * 26)) < 1e-9);
  /* unmeasured size 75: between 50 and 100 in 1/units, t = 1/3 */
  assert_true(fabs(gl_profile_latency(p, 0, 1, 75, false) - (4 + 2.0 / 3)) < 1e-9);
  /* below the smallest size latency grows as 1/units; past max batch it is infinite */
  assert_true(fabs(gl_profile_latency(p, 0, 1, 10, false) - 20) < 1e-9);
  assert_true(isinf(gl_profile_latency(p, 0, 33, 50, false)));
  /* p99 falls back to the median where absent */
  assert_true(fabs(gl_profile_latency(p, 0, 1, 50, true) - 6) < 1e-9);
  /* features interpolate between feature batches as fractions */
  double l2, dr;
  gl_profile_features(p, 0, 32, &l2, &dr);
  assert_true(fabs(l2 - 0.02) < 1e-12 && fabs(dr - 0.04) < 1e-12);
  gl_profile_destroy(p);
}

static void expect_error(const char *from, const char *to, const char *msg_part) {
  char buf[4096];
  const char *at = strstr(k_valid, from);
  assert_non_null(at);
  snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - k_valid), k_valid, to, at + strlen(from));
  gl_profile_t *p = NULL;
  gl_status_t st = gl_profile_parse(buf, "bad.json", &p);
  if (st == GL_OK || !strstr(gl_errmsg(), msg_part)) {
    fprintf(stderr, "expected error containing '%s', got %d '%s'\n", msg_part, st, gl_errmsg());
    fail();
  }
  assert_null(p);
}

static void test_malformed(void **s) {
  (void)s;
  expect_error("\"version\":1", "\"version\":7", "version 7");
  expect_error("\"total_units\":100", "\"total_units\":\"x\"", "device.total_units");
  expect_error("[[10,6,4],[100,50,30]]", "[[10,6,4]]", "expected 2 rows");
  expect_error("[100,50,30]", "[100,50]", "median[1]: expected 3 entries");
  expect_error("[10,6,4]", "[null,6,4]", "must have batch 1");
  expect_error("[10,6,4]", "[-1,6,4]", "must have batch 1");
  expect_error("\"sizes\":[20,50,100]", "\"sizes\":[50,20,100]", "ascending");
  expect_error("\"analytic\":false", "\"analytic\":3", "provenance.analytic");
  expect_error("\"l2_pct\":[1,2]", "\"l2_pct\":[1,200]", "percentages");
  expect_error("{\"format\"", "{\"formt\"", "format must be");
  expect_error("]}]}", "]}]", "line");
  gl_profile_t *p = NULL;
  assert_int_equal(gl_profile_load("/nonexistent/p.json", &p), GL_EIO);
}

static void test_analytic_roundtrip(void **s) {
  (void)s;
  const char *devs[2] = {"h100", "rtx2080ti"};
  for (int d = 0; d < 2; d++) {
    gl_profile_t *p, *q;
    assert_int_equal(gl_profile_analytic(devs[d], &p), GL_OK);
    assert_true(p->analytic);
    assert_int_equal(p->n_models, 9);
    int r = gl_profile_find(p, "resnet50");
    assert_true(r >= 0);
    assert_int_equal(gl_profile_find(p, "lenet4"), gl_profile_find(p, "lenet"));
    /* more units never slower, larger batch never faster */
    for (int u = p->min_units; u < p->total_units; u += p->granularity) {
      assert_true(gl_profile_latency(p, r, 8, u, false) >= gl_profile_latency(p, r, 8, u + p->granularity, false) - 1e-9);
      assert_true(gl_profile_latency(p, r, 8, u, false) <= gl_profile_latency(p, r, 9, u, false));
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/gl_prof_test_%d_%d.json", (int)getpid(), d);
    assert_int_equal(gl_profile_save(p, path), GL_OK);
    assert_int_equal(gl_profile_load(path, &q), GL_OK);
    unlink(path);
    for (int m = 0; m < p->n_models; m++)
      for (int b = 1; b <= 32; b += 5)
        assert_true(fabs(gl_profile_latency(p, m, b, p->total_units, false) -
                         gl_profile_latency(q, m, b, p->total_units, false)) < 1e-4);
    assert_true(q->analytic);
    gl_profile_destroy(p);
    gl_profile_destroy(q);
  }
  gl_profile_t *p;
  assert_int_equal(gl_profile_analytic("tpu", &p), GL_ENOTFOUND);
  /* the 2080 Ti carries the research's measured UTIL table */
  assert_int_equal(gl_profile_analytic("rtx2080ti", &p), GL_OK);
  int v = gl_profile_find(p, "vgg16");
  assert_true(fabs(p->models[v].l2_pct[0] - 31.0) < 1e-9 && fabs(p->models[v].dram_pct[5] - 61.1) < 1e-9);
  gl_profile_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interpolation),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_analytic_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
