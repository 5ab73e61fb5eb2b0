/* tests/loadgen/test_http.c - loadgen's URL and response parsers on good, truncated and garbage input,
 * and the Poisson schedule (counts, phases, order, determinism). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "loadgen/http.h"
#include "loadgen/loadgen.h"

static void test_url(void **s) {
  (void)s;
  gl_lg_url_t u;
  assert_int_equal(gl_lg_url_parse("http://127.0.0.1:8123", &u), GL_OK);
  assert_string_equal(u.host, "127.0.0.1");
  assert_int_equal(u.port, 8123);
  assert_string_equal(u.prefix, "");
  assert_int_equal(gl_lg_url_parse("127.0.0.1:9/a/b/", &u), GL_OK);
  assert_int_equal(u.port, 9);
  assert_string_equal(u.prefix, "/a/b");
  assert_int_equal(gl_lg_url_parse("http://localhost", &u), GL_OK);
  assert_int_equal(u.port, 80);
  assert_int_equal(gl_lg_url_parse("http://[::1]:8000/", &u), GL_OK);
  assert_string_equal(u.host, "::1");
  assert_int_equal(gl_lg_url_parse("https://127.0.0.1", &u), GL_EUNSUPPORTED);
  assert_int_equal(gl_lg_url_parse("ftp://x", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("http://:80", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("http://h:0", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("http://h:70000", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("http://h:12x", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("http://h /x", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("", &u), GL_EINVAL);
  assert_int_equal(gl_lg_url_parse("http://127.0.0.1:80/a?b", &u), GL_EINVAL);
}

static const char ok_resp[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length:  7 \r\n"
    "Inference-Header-Content-Length: 5\r\n\r\n{\"a\":1}";

static void test_head(void **s) {
  (void)s;
  gl_lg_head_t h;
  size_t n = strlen(ok_resp), len = 0;
  assert_int_equal(gl_lg_http_head(ok_resp, n, &h), GL_OK);
  assert_int_equal(h.status, 200);
  assert_int_equal(h.content_length, 7);
  assert_int_equal(h.inference_header_len, 5);
  assert_false(h.close);
  assert_int_equal(h.head_len, n - 7);
  assert_int_equal(gl_lg_http_response_len(ok_resp, n, &len), GL_OK);
  assert_int_equal(len, n);
  /* every truncation is "more bytes needed", never an error and never a full response */
  for (size_t k = 0; k < n; k++) {
    gl_status_t st = gl_lg_http_response_len(ok_resp, k, &len);
    assert_int_equal(st, GL_AGAIN);
  }
  const char *c = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(gl_lg_http_head(c, strlen(c), &h), GL_OK);
  assert_int_equal(h.status, 503);
  assert_true(h.close);
  const char *v10 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(gl_lg_http_head(v10, strlen(v10), &h), GL_OK);
  assert_true(h.close);
  const char *ka = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(gl_lg_http_head(ka, strlen(ka), &h), GL_OK);
  assert_false(h.close);
  const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  assert_int_equal(gl_lg_http_head(ch, strlen(ch), &h), GL_OK);
  assert_true(h.chunked);
  assert_int_equal(gl_lg_http_response_len(ch, strlen(ch), &len), GL_EUNSUPPORTED);
  const char *nolen = "HTTP/1.1 204 No Content\r\n\r\n";
  assert_int_equal(gl_lg_http_response_len(nolen, strlen(nolen), &len), GL_OK);
  assert_int_equal(len, strlen(nolen));
}

static void test_garbage(void **s) {
  (void)s;
  gl_lg_head_t h;
  const char *bad[] = {
      "GARBAGE\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 X\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    gl_status_t st = gl_lg_http_head(bad[i], strlen(bad[i]), &h);
    if (st != GL_EPARSE) fail_msg("accepted: %s (status %d)", bad[i], st);
  }
  /* garbage fails fast, before any blank line */
  assert_int_equal(gl_lg_http_head("XTTP", 4, &h), GL_EPARSE);
  assert_int_equal(gl_lg_http_head("HTT", 3, &h), GL_AGAIN);
  assert_int_equal(gl_lg_http_head("", 0, &h), GL_AGAIN);
  /* a head that never ends is refused once it passes the limit */
  size_t big = GL_LG_MAX_HEAD + 10;
  char *b = gl_malloc(big);
  memcpy(b, "HTTP/1.1 200 OK\r\nX: ", 20);
  memset(b + 20, 'a', big - 20);
  assert_int_equal(gl_lg_http_head(b, big, &h), GL_EPARSE);
  /* random bytes and random mutations of a good response: never a crash, never a read past the
   * end (ASan checks), and any accepted head lies inside the buffer */
  uint64_t x = 42;
  for (int it = 0; it < 20000; it++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t n = (size_t)(x >> 33) % 300;
    char *buf = gl_malloc(n + 1);
    if (it % 2) {
      for (size_t k = 0; k < n; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[k] = (char)(x >> 56);
      }
    } else {
      size_t m = strlen(ok_resp);
      if (n > m) n = m;
      memcpy(buf, ok_resp, n);
      for (int f = 0; f < 3 && n; f++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[(x >> 33) % n] = (char)(x >> 20);
      }
    }
    size_t len = 0;
    gl_status_t st = gl_lg_http_response_len(buf, n, &len);
    if (st == GL_OK) assert_true(len <= n);
    if (gl_lg_http_head(buf, n, &h) == GL_OK) {
      assert_true(h.head_len <= n);
      assert_true(h.status >= 100 && h.status <= 599);
    }
    gl_free(buf);
  }
  gl_free(b);
}

static gl_scenario_t *scen(void) {
  gl_scenario_t *s = NULL;
  const char *txt =
      "{\"format\":\"gpulet-scenario\",\"version\":1,\"name\":\"t\",\"duration_s\":10,\"seed\":1,\"models\":["
      "{\"name\":\"a\",\"slo_ms\":10,\"rate\":1000},"
      "{\"name\":\"b\",\"slo_ms\":10,\"rate\":0,\"phases\":[{\"t_s\":5,\"rate\":2000},{\"t_s\":7,\"rate\":0}]}]}";
  assert_int_equal(gl_scenario_parse(txt, "t", &s), GL_OK);
  return s;
}

static void test_schedule(void **st) {
  (void)st;
  gl_scenario_t *s = scen();
  gl_lg_arrival_t *a = NULL, *b = NULL;
  long n = 0, nb = 0;
  assert_int_equal(gl_lg_schedule_poisson(s, 1, 10, 7, 1000000, &a, &n), GL_OK);
  long na = 0, nbm = 0;
  for (long i = 0; i < n; i++) {
    if (i) assert_true(a[i].t_ns >= a[i - 1].t_ns);
    assert_true(a[i].t_ns >= 0 && a[i].t_ns < 10000000000LL);
    if (a[i].model == 0) na++;
    else {
      nbm++;
      /* model b only between 5 s and 7 s */
      assert_true(a[i].t_ns >= 5000000000LL && a[i].t_ns < 7000000000LL);
    }
  }
  /* 10000 and 4000 expected; Poisson sd 100 and 63: 5 sd bounds */
  assert_in_range(na, 9500, 10500);
  assert_in_range(nbm, 3680, 4320);
  /* same seed, same schedule; other seed, other schedule; scale doubles the count */
  assert_int_equal(gl_lg_schedule_poisson(s, 1, 10, 7, 1000000, &b, &nb), GL_OK);
  assert_int_equal(n, nb);
  for (long i = 0; i < n; i++) {
    assert_int_equal(a[i].t_ns, b[i].t_ns);
    assert_int_equal(a[i].model, b[i].model);
  }
  gl_free(b);
  assert_int_equal(gl_lg_schedule_poisson(s, 1, 10, 8, 1000000, &b, &nb), GL_OK);
  bool differ = nb != n;
  for (long i = 0; !differ && i < n; i++) differ = a[i].t_ns != b[i].t_ns;
  assert_true(differ);
  gl_free(b);
  assert_int_equal(gl_lg_schedule_poisson(s, 2, 10, 7, 1000000, &b, &nb), GL_OK);
  assert_in_range(nb, 2 * 14000 - 800, 2 * 14000 + 800);
  gl_free(b);
  /* inter-arrival gaps of model a are exponential: mean 1 ms, about 36.8% longer than the mean */
  long longer = 0, gaps = 0;
  int64_t last = -1;
  for (long i = 0; i < n; i++)
    if (a[i].model == 0) {
      if (last >= 0) {
        gaps++;
        if (a[i].t_ns - last > 1000000) longer++;
      }
      last = a[i].t_ns;
    }
  assert_in_range(longer * 1000 / gaps, 340, 396);
  gl_free(a);
  /* the limit */
  assert_int_equal(gl_lg_schedule_poisson(s, 1, 10, 7, 100, &a, &n), GL_ELIMIT);
  assert_null(a);
  assert_int_equal(gl_lg_schedule_poisson(s, -1, 10, 7, 100, &a, &n), GL_EINVAL);
  gl_scenario_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url),
      cmocka_unit_test(test_head),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_schedule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
