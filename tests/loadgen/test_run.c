/* tests/loadgen/test_run.c - loadgen's run loop against a tiny in-process HTTP server that can close
 * keep-alive connections, reject, or answer garbage: counts must agree with what the server saw.
 * GL_LG_RATE=R (req/s) in the environment turns the first case into a measurement of loadgen's own
 * send rate and lag against this server (run the release build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "loadgen/loadgen.h"

typedef enum { M_OK, M_CLOSE3, M_REJECT4, M_GARBAGE } mode_t_;

#define MAXC 512
typedef struct {
  int lfd, port;
  mode_t_ mode;
  pthread_t acc;
  pthread_t th[MAXC];
  int fds[MAXC];
  _Atomic int n_th;
  _Atomic long infer, ok, rejected;
} fake_t;

typedef struct {
  fake_t *f;
  int fd;
} cargs_t;

static const char meta[] =
    "{\"name\":\"m\",\"versions\":[\"1\"],\"platform\":\"onnx_onnxv1\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
    "\"shape\":[-1,4]},{\"name\":\"y\",\"datatype\":\"INT64\",\"shape\":[-1,2]}],\"outputs\":[{\"name\":\"z\",\"datatype\":"
    "\"FP32\",\"shape\":[-1,1]}]}";

static void answer(int fd, int code, const char *body, bool close_it) {
  char h[512];
  int n = snprintf(h, sizeof h, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s", code,
                   strlen(body), close_it ? "Connection: close\r\n" : "", body);
  ssize_t w = send(fd, h, (size_t)n, MSG_NOSIGNAL);
  (void)w;
}

static void *conn_main(void *arg) {
  cargs_t *a = arg;
  fake_t *f = a->f;
  int fd = a->fd;
  gl_free(a);
  char *buf = gl_malloc(1 << 20);
  size_t have = 0;
  int served = 0;
  for (;;) {
    char *end = NULL;
    while (!(end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL)) {
      ssize_t r = recv(fd, buf + have, (1 << 20) - have, 0);
      if (r <= 0) goto out;
      have += (size_t)r;
    }
    size_t hl = (size_t)(end + 4 - buf);
    size_t cl = 0;
    for (char *p = buf; p < end; p++)
      if (!strncasecmp(p, "\r\nContent-Length:", 17)) cl = strtoul(p + 17, NULL, 10);
    while (have < hl + cl) {
      ssize_t r = recv(fd, buf + have, (1 << 20) - have, 0);
      if (r <= 0) goto out;
      have += (size_t)r;
    }
    bool get = !strncmp(buf, "GET ", 4);
    if (get && strstr(buf, "GET /v2/health/live ")) answer(fd, 200, "{\"live\":true}", false);
    else if (get && (strstr(buf, "GET /v2/models/m ") || strstr(buf, "GET /v2/models/slow "))) answer(fd, 200, meta, false);
    else if (get) answer(fd, 404, "{\"error\":\"unknown model\"}", false);
    else {
      long k = atomic_fetch_add(&f->infer, 1);
      if (!strncmp(buf, "POST /v2/models/slow/", 21)) usleep(300 * 1000); /* a model the server holds */
      /* the request must carry both inputs */
      bool good = memmem(buf + hl, cl, "\"name\":\"x\"", 10) && memmem(buf + hl, cl, "\"name\":\"y\"", 10);
      if (f->mode == M_GARBAGE) {
        ssize_t w = send(fd, "XYZZY 200\r\n\r\n", 13, MSG_NOSIGNAL);
        (void)w;
        goto out;
      } else if (!good) {
        answer(fd, 400, "{\"error\":\"bad body\"}", false);
      } else if (f->mode == M_REJECT4 && k % 4 == 3) {
        atomic_fetch_add(&f->rejected, 1);
        answer(fd, 503, "{\"error\":\"shed\"}", false);
      } else {
        atomic_fetch_add(&f->ok, 1);
        answer(fd, 200, "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"z\",\"shape\":[1,1],\"datatype\":\"FP32\",\"data\":[1]}]}", false);
      }
      served++;
    }
    memmove(buf, buf + hl + cl, have - hl - cl);
    have -= hl + cl;
    /* the hard case for a client: the server drops a keep-alive connection without saying so */
    if (f->mode == M_CLOSE3 && served == 3) break;
  }
out:
  gl_free(buf);
  close(fd);
  return NULL;
}

static void *accept_main(void *arg) {
  fake_t *f = arg;
  for (;;) {
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) break;
    int k = atomic_load(&f->n_th);
    if (k >= MAXC) { close(fd); continue; }
    cargs_t *a = gl_malloc(sizeof *a);
    a->f = f, a->fd = fd;
    if (pthread_create(&f->th[k], NULL, conn_main, a)) { close(fd); gl_free(a); continue; }
    atomic_store(&f->n_th, k + 1);
  }
  return NULL;
}

static void fake_start(fake_t *f, mode_t_ mode) {
  memset(f, 0, sizeof *f);
  f->mode = mode;
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(f->lfd, 256), 0);
  socklen_t l = sizeof a;
  getsockname(f->lfd, (struct sockaddr *)&a, &l);
  f->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&f->acc, NULL, accept_main, f), 0);
}

static void fake_stop(fake_t *f) {
  shutdown(f->lfd, SHUT_RDWR);
  close(f->lfd);
  pthread_join(f->acc, NULL);
  for (int k = 0; k < atomic_load(&f->n_th); k++) pthread_join(f->th[k], NULL);
}

static gl_scenario_t *one_model(const char *name, double rate, double dur) {
  gl_scenario_t *s = NULL;
  char txt[512];
  snprintf(txt, sizeof txt,
           "{\"format\":\"gpulet-scenario\",\"version\":1,\"name\":\"t\",\"duration_s\":%g,\"seed\":1,\"models\":["
           "{\"name\":\"%s\",\"slo_ms\":1000,\"rate\":%g}]}",
           dur, name, rate);
  assert_int_equal(gl_scenario_parse(txt, "t", &s), GL_OK);
  return s;
}

static void run_case(mode_t_ mode, double rate, double dur, int conns, int threads, gl_lg_result_t *r, fake_t *f) {
  fake_start(f, mode);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
  gl_scenario_t *s = one_model("m", rate, dur);
  gl_lg_config_t c = {.url = url, .scen = s, .scale = 1, .duration_s = dur, .warmup_s = 0, .seed = 3,
                      .connections = conns, .threads = threads, .drain_s = 5, .quiet = true};
  assert_int_equal(gl_lg_run(&c, r), GL_OK);
  fake_stop(f);
  gl_scenario_destroy(s);
}

static void test_ok(void **st) {
  (void)st;
  const char *env = getenv("GL_LG_RATE");
  double rate = env ? atof(env) : 1000;
  fake_t f;
  gl_lg_result_t r;
  run_case(M_OK, rate, env ? 3 : 1, 64, 2, &r, &f);
  printf("# rate %.0f/s: sent %lld, answered %lld, offered %.1f/s, send lag p99 %.3f ms, max %.3f ms, %d connections, "
         "client CPU %.3f s (%.1f us/request)%s\n",
         rate, r.sent, r.answered, r.offered_rps, r.send_lag_p99_ms, r.send_lag_max_ms, r.max_open, r.client_cpu_s,
         r.sent ? r.client_cpu_s * 1e6 / (double)r.sent : 0,
         r.client_limited ? ", client-limited" : "");
  assert_true(r.sent > 0);
  assert_int_equal(r.sent, r.answered);
  assert_int_equal(r.answered, atomic_load(&f.ok));
  assert_int_equal(atomic_load(&f.infer), r.sent);
  assert_int_equal(r.errors, 0);
  assert_int_equal(r.rejected, 0);
  assert_int_equal(r.met, r.sent);
  assert_true(r.ok);
  gl_lg_result_fini(&r);
}

static void test_server_closes(void **st) {
  (void)st;
  fake_t f;
  gl_lg_result_t r;
  run_case(M_CLOSE3, 300, 1, 8, 2, &r, &f);
  printf("# closing server: sent %lld, answered %lld, retried %lld, errors %lld (%s)\n", r.sent, r.answered, r.retries,
         r.errors, r.first_error);
  assert_true(r.sent > 150);
  assert_int_equal(r.errors, 0);
  assert_int_equal(r.answered, r.sent);
  /* resent requests were never read by the server: its count equals ours */
  assert_int_equal(atomic_load(&f.ok), r.answered);
  gl_lg_result_fini(&r);
}

static void test_rejects(void **st) {
  (void)st;
  fake_t f;
  gl_lg_result_t r;
  run_case(M_REJECT4, 400, 1, 8, 1, &r, &f);
  assert_int_equal(r.rejected, atomic_load(&f.rejected));
  assert_int_equal(r.answered, atomic_load(&f.ok));
  assert_int_equal(r.sent, r.answered + r.rejected);
  assert_true(r.rejected > 50);
  assert_false(r.ok); /* 25% rejected: attainment 0.75 < 0.99 */
  assert_non_null(strstr(r.first_error, "HTTP 503"));
  gl_lg_result_fini(&r);
}

static void test_garbage(void **st) {
  (void)st;
  fake_t f;
  gl_lg_result_t r;
  run_case(M_GARBAGE, 200, 0.5, 8, 1, &r, &f);
  assert_true(r.sent > 20);
  assert_int_equal(r.answered, 0);
  assert_int_equal(r.errors, r.sent);
  assert_int_equal(r.retries, 0);
  assert_non_null(strstr(r.first_error, "bad response"));
  gl_lg_result_fini(&r);
}

/* One model the server holds for 300 ms, one it answers at once: the held model fills its share
 * of connections and waits (late sends), the other keeps its reserved connections and sends on time. */
static void test_fair_connections(void **st) {
  (void)st;
  fake_t f;
  fake_start(&f, M_OK);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
  gl_scenario_t *s = NULL;
  const char *txt = "{\"format\":\"gpulet-scenario\",\"version\":1,\"name\":\"t\",\"duration_s\":1,\"seed\":1,\"models\":["
                    "{\"name\":\"m\",\"slo_ms\":1000,\"rate\":200},{\"name\":\"slow\",\"slo_ms\":1000,\"rate\":100}]}";
  assert_int_equal(gl_scenario_parse(txt, "t", &s), GL_OK);
  gl_lg_config_t c = {.url = url, .scen = s, .scale = 1, .duration_s = 1.5, .warmup_s = 0, .seed = 3,
                      .connections = 16, .threads = 1, .drain_s = 30, .quiet = true};
  gl_lg_result_t r;
  assert_int_equal(gl_lg_run(&c, &r), GL_OK);
  fake_stop(&f);
  printf("# fairness: m sent %lld lag p99 %.2f ms; slow sent %lld lag p99 %.2f ms; %d connections\n", r.m[0].sent,
         r.m[0].send_lag_p99_ms, r.m[1].sent, r.m[1].send_lag_p99_ms, r.max_open);
  assert_int_equal(r.answered, r.sent);
  assert_true(r.client_limited);
  assert_true(r.m[1].send_lag_p99_ms > 100);  /* 100/s x 300 ms needs 30 connections: it may use 16 - 5 */
  assert_true(r.m[0].send_lag_p99_ms < 500);  /* m keeps its 4 reserved connections (a shared FIFO: seconds) */
  assert_true(r.max_open <= 16);
  gl_lg_result_fini(&r);
  gl_scenario_destroy(s);
}

static void test_bad_target(void **st) {
  (void)st;
  fake_t f;
  fake_start(&f, M_OK);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
  gl_scenario_t *s = one_model("nosuch", 10, 1);
  gl_lg_config_t c = {.url = url, .scen = s, .scale = 1, .duration_s = 1, .quiet = true};
  gl_lg_result_t r;
  assert_int_equal(gl_lg_run(&c, &r), GL_ENOTFOUND);
  fake_stop(&f);
  /* nothing listens there now */
  assert_int_equal(gl_lg_run(&c, &r), GL_EIO);
  gl_scenario_destroy(s);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ok),
      cmocka_unit_test(test_server_closes),
      cmocka_unit_test(test_rejects),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_fair_connections),
      cmocka_unit_test(test_bad_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
