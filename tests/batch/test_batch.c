/* tests/batch/test_batch.c - deadline queue admission and every batcher decision on hand cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch/batch.h"

static gl_req_t req(int64_t id, int64_t arr, int64_t slo) { return (gl_req_t){.id = id, .arrival_ns = arr, .deadline_ns = arr + slo}; }

static void test_admission(void **s) {
  (void)s;
  gl_dqueue_t q;
  assert_int_equal(gl_dqueue_init(&q, 2), GL_OK);
  /* deadline 100, needs 30 of service: fine at 50, too late at 80 */
  assert_int_equal(gl_dqueue_push(&q, req(1, 0, 100), 50, 30), GL_ADMIT_OK);
  assert_int_equal(gl_dqueue_push(&q, req(2, 0, 100), 80, 30), GL_ADMIT_LATE);
  assert_int_equal(gl_dqueue_push(&q, req(3, 10, 100), 50, 30), GL_ADMIT_OK);
  assert_int_equal(gl_dqueue_push(&q, req(4, 20, 100), 50, 30), GL_ADMIT_FULL);
  assert_int_equal(q.len, 2);
  gl_dqueue_fini(&q);
}

static void test_deadline_order(void **s) {
  (void)s;
  gl_dqueue_t q;
  assert_int_equal(gl_dqueue_init(&q, 8), GL_OK);
  gl_dqueue_push(&q, req(1, 0, 300), 0, 0);
  gl_dqueue_push(&q, req(2, 0, 100), 0, 0);
  gl_dqueue_push(&q, req(3, 0, 200), 0, 0);
  gl_dqueue_push(&q, req(4, 0, 100), 0, 0); /* ties keep arrival order */
  gl_req_t out[4];
  assert_int_equal(gl_dqueue_pop(&q, 4, out), 4);
  assert_int_equal(out[0].id, 2);
  assert_int_equal(out[1].id, 4);
  assert_int_equal(out[2].id, 3);
  assert_int_equal(out[3].id, 1);
  /* wrap-around of the ring keeps order */
  for (int r = 0; r < 5; r++) {
    for (int i = 0; i < 6; i++) assert_int_equal(gl_dqueue_push(&q, req(i, i, 10), 0, 0), GL_ADMIT_OK);
    for (int i = 0; i < 6; i++) {
      gl_dqueue_pop(&q, 1, out);
      assert_int_equal(out[0].id, i);
    }
  }
  gl_dqueue_fini(&q);
}

static gl_req_t preq(int64_t id, int64_t arr, int64_t slo, int32_t prio) {
  gl_req_t r = req(id, arr, slo);
  r.priority = prio;
  return r;
}

/* priority first, then deadline; equal priorities keep plain deadline order */
static void test_priority_order(void **s) {
  (void)s;
  gl_dqueue_t q;
  assert_int_equal(gl_dqueue_init(&q, 8), GL_OK);
  gl_dqueue_push(&q, preq(1, 0, 100, 2), 0, 0);
  gl_dqueue_push(&q, preq(2, 0, 300, 1), 0, 0);
  gl_dqueue_push(&q, preq(3, 0, 50, 2), 0, 0);
  gl_dqueue_push(&q, preq(4, 0, 400, 1), 0, 0);
  gl_dqueue_push(&q, preq(5, 0, 10, 3), 0, 0);
  gl_dqueue_push(&q, preq(6, 0, 300, 1), 0, 0); /* tie with 2: after it */
  gl_req_t out[6];
  assert_int_equal(gl_dqueue_pop(&q, 6, out), 6);
  const int64_t want[6] = {2, 6, 4, 3, 1, 5};
  for (int i = 0; i < 6; i++) assert_int_equal(out[i].id, want[i]);
  gl_dqueue_fini(&q);
}

static gl_batcher_t bat(gl_batch_mode_t mode, int maxb) {
  gl_batcher_t b = {mode, maxb, 0, {0}};
  for (int n = 1; n <= maxb; n++) b.lat_ns[n] = 10 + 5 * n; /* 15, 20, 25, ... */
  return b;
}

static void test_batcher_decisions(void **s) {
  (void)s;
  gl_dqueue_t q;
  assert_int_equal(gl_dqueue_init(&q, 16), GL_OK);
  gl_batcher_t b = bat(GL_BATCH_EAGER, 4);
  gl_batch_decision_t d = gl_batcher_next(&b, &q, 0);
  assert_int_equal(d.action, GL_BATCH_IDLE);
  for (int i = 0; i < 6; i++) gl_dqueue_push(&q, req(i, 0, 100), 0, 0);
  d = gl_batcher_next(&b, &q, 0);
  assert_int_equal(d.action, GL_BATCH_RUN);
  assert_int_equal(d.n, 4); /* capped at max batch */
  /* at t=72 the deadline 100 allows a batch of at most 5 (10+5n <= 28) -> 3 */
  d = gl_batcher_next(&b, &q, 72);
  assert_int_equal(d.action, GL_BATCH_RUN);
  assert_int_equal(d.n, 3);
  /* at t=90 nothing can finish by 100 even alone (15) -> reject all six at the head */
  d = gl_batcher_next(&b, &q, 90);
  assert_int_equal(d.action, GL_BATCH_REJECT);
  assert_int_equal(d.n, 6);
  gl_dqueue_pop(&q, 6, NULL);
  /* COLLECT waits for a full batch until the head's collect window or deadline slack ends */
  gl_batcher_t c = bat(GL_BATCH_COLLECT, 4);
  c.collect_ns = 40;
  gl_dqueue_push(&q, req(1, 0, 100), 0, 0);
  d = gl_batcher_next(&c, &q, 5);
  assert_int_equal(d.action, GL_BATCH_WAIT);
  assert_int_equal(d.until_ns, 40);
  c.collect_ns = 90; /* then the deadline bound wins: 100 - lat(4)=30 -> 70 */
  d = gl_batcher_next(&c, &q, 5);
  assert_int_equal(d.until_ns, 70);
  d = gl_batcher_next(&c, &q, 70);
  assert_int_equal(d.action, GL_BATCH_RUN);
  assert_int_equal(d.n, 1);
  for (int i = 0; i < 3; i++) gl_dqueue_push(&q, req(2 + i, 1, 100), 1, 0);
  d = gl_batcher_next(&c, &q, 6);
  assert_int_equal(d.action, GL_BATCH_RUN); /* a full batch goes at once */
  assert_int_equal(d.n, 4);
  gl_dqueue_fini(&q);
}

/* A high-priority head with a late deadline does not drag in a lower-priority request whose earlier
 * deadline a larger batch would miss. */
static void test_priority_batch(void **s) {
  (void)s;
  gl_dqueue_t q;
  assert_int_equal(gl_dqueue_init(&q, 8), GL_OK);
  gl_batcher_t b = bat(GL_BATCH_EAGER, 4); /* 15, 20, 25, 30 */
  gl_dqueue_push(&q, preq(1, 0, 1000, 1), 0, 0);
  gl_dqueue_push(&q, preq(2, 0, 1000, 1), 0, 0);
  gl_dqueue_push(&q, preq(3, 0, 22, 5), 0, 0); /* a batch of 3 (25) would miss it */
  gl_batch_decision_t d = gl_batcher_next(&b, &q, 0);
  assert_int_equal(d.action, GL_BATCH_RUN);
  assert_int_equal(d.n, 2);
  assert_int_equal(gl_dqueue_at(&q, 0)->id, 1);
  /* COLLECT waits no longer than the earliest deadline in the queue allows */
  gl_batcher_t c = bat(GL_BATCH_COLLECT, 4);
  c.collect_ns = 500;
  gl_dqueue_pop(&q, 3, NULL);
  gl_dqueue_push(&q, preq(4, 0, 1000, 1), 0, 0);
  gl_dqueue_push(&q, preq(5, 0, 100, 2), 0, 0);
  d = gl_batcher_next(&c, &q, 0);
  assert_int_equal(d.action, GL_BATCH_WAIT);
  assert_int_equal(d.until_ns, 100 - 30);
  gl_dqueue_fini(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_admission),
      cmocka_unit_test(test_deadline_order),
      cmocka_unit_test(test_priority_order),
      cmocka_unit_test(test_priority_batch),
      cmocka_unit_test(test_batcher_decisions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
