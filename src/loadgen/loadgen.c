/* loadgen/loadgen.c - the open-loop run: sender threads, each an epoll loop over keep-alive connections. */
#include "loadgen/loadgen.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/stats.h"
#include "loadgen/loadgen_int.h"

/* outcome codes besides HTTP statuses */
#define R_PENDING 0    /* not answered (yet) */
#define R_TRANSPORT -1 /* connection failed, closed under the request, or a bad response */
#define R_UNSENT -2    /* no connection before the run ended */
#define R_TIMEOUT -3   /* sent, no answer before the drain ended */

typedef enum { C_FREE, C_CONNECTING, C_IDLE, C_WRITING, C_READING } cstate_t;

typedef struct conn {
  int fd;
  cstate_t state;
  long req;            /* arrival index in flight, -1 */
  size_t woff;         /* bytes of the request written */
  char *rbuf;          /* the response head (and small error bodies) */
  size_t rlen, rcap;
  bool have_head;
  gl_lg_head_t head;
  long long body_left;
  int served;          /* responses completed on this connection */
  uint32_t events;     /* epoll interest now */
  struct conn *next_idle;
} conn_t;

typedef struct {
  _Atomic long long sent, ok, rejected, errors, inflight;
  _Atomic int open;
  char pad[64];
} counters_t;

typedef struct run run_t;

typedef struct {
  run_t *R;
  int id;
  pthread_t th;
  bool joined;
  int ep, tfd;
  conn_t *conns;       /* [max_conns] */
  int max_conns, n_open;
  conn_t *idle;        /* idle connections, a stack */
  /* due arrivals waiting for a connection: a FIFO ring per model, so that one model's waiting
   * requests never queue another model's */
  int nm;
  long *pq;            /* rings back to back: model m's at pq_off[m], pq_cap[m] slots */
  long *pq_off, *pq_cap, *pq_head, *pq_len;
  long pend_len;       /* over all models */
  /* connections in use per model, and a reservation per model (half the thread's connections
   * shared out by arrival counts): a model may take a connection while the free ones exceed
   * what the other models hold reserved and do not use */
  int *busy, *resv;
  int busy_total, resv_unused;
  long next;           /* next arrival of this thread (index into the global array, stride T) */
  long retry_cap;
  counters_t *cnt;
  gl_status_t st;
  char err[256];
  char *rd;            /* read scratch */
  int max_open;
  long long retries;
  int64_t cpu_ns;      /* this thread's CPU time over the run */
} worker_t;

struct run {
  const gl_lg_config_t *cfg;
  gl_lg_url_t url;
  gl_lg_prepared_t *prep;   /* [n_models] */
  const gl_lg_arrival_t *arr;
  long n;
  int32_t *code;            /* [n] outcome */
  int64_t *lat_ns;          /* [n] answer - scheduled send */
  int64_t *lag_ns;          /* [n] actual - scheduled send; -1 unsent */
  uint8_t *tries;           /* [n] */
  int64_t t0, end_ns, hard_end;
  int T;
  worker_t *w;
  counters_t *cnt;
  pthread_mutex_t err_mu;
  char first_error[256];   /* under err_mu */
  atomic_bool has_error;   /* first_error is set: later errors need not format a message */
};

static void note_error(run_t *R, const char *fmt, const char *a, const char *b) {
  if (atomic_load_explicit(&R->has_error, memory_order_relaxed)) return;
  pthread_mutex_lock(&R->err_mu);
  if (!R->first_error[0]) snprintf(R->first_error, sizeof R->first_error, fmt, a, b);
  atomic_store_explicit(&R->has_error, true, memory_order_relaxed);
  pthread_mutex_unlock(&R->err_mu);
}

static void set_events(worker_t *W, conn_t *c, uint32_t ev) {
  if (c->events == ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  epoll_ctl(W->ep, EPOLL_CTL_MOD, c->fd, &e);
  c->events = ev;
}

static void conn_close(worker_t *W, conn_t *c) {
  if (c->state == C_FREE) return;
  if (c->state == C_IDLE) { /* unlink from the idle stack */
    for (conn_t **p = &W->idle; *p; p = &(*p)->next_idle)
      if (*p == c) { *p = c->next_idle; break; }
  }
  epoll_ctl(W->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = C_FREE;
  c->req = -1;
  W->n_open--;
  atomic_fetch_sub_explicit(&W->cnt->open, 1, memory_order_relaxed);
}

static void make_idle(worker_t *W, conn_t *c) {
  c->state = C_IDLE;
  c->req = -1;
  c->next_idle = W->idle;
  W->idle = c;
  set_events(W, c, EPOLLIN | EPOLLRDHUP);
}

static void busy_add(worker_t *W, int m, int d);

static void finish(worker_t *W, long i, int32_t code, int64_t now) {
  run_t *R = W->R;
  busy_add(W, R->arr[i].model, -1);
  R->code[i] = code;
  R->lat_ns[i] = now - (R->t0 + R->arr[i].t_ns);
  atomic_fetch_sub_explicit(&W->cnt->inflight, 1, memory_order_relaxed);
  if (code == 200) atomic_fetch_add_explicit(&W->cnt->ok, 1, memory_order_relaxed);
  else if (code == 429 || code == 503) atomic_fetch_add_explicit(&W->cnt->rejected, 1, memory_order_relaxed);
  else atomic_fetch_add_explicit(&W->cnt->errors, 1, memory_order_relaxed);
}

static void pend_push_front(worker_t *W, long i) {
  int m = W->R->arr[i].model;
  if (W->pq_len[m] == W->pq_cap[m]) return; /* cannot happen: the ring holds the model's arrivals */
  W->pq_head[m] = (W->pq_head[m] - 1 + W->pq_cap[m]) % W->pq_cap[m];
  W->pq[W->pq_off[m] + W->pq_head[m]] = i;
  W->pq_len[m]++;
  W->pend_len++;
}

static void pend_push_back(worker_t *W, long i) {
  int m = W->R->arr[i].model;
  if (W->pq_len[m] == W->pq_cap[m]) return;
  W->pq[W->pq_off[m] + (W->pq_head[m] + W->pq_len[m]) % W->pq_cap[m]] = i;
  W->pq_len[m]++;
  W->pend_len++;
}

static long pend_pop(worker_t *W, int m) {
  long i = W->pq[W->pq_off[m] + W->pq_head[m]];
  W->pq_head[m] = (W->pq_head[m] + 1) % W->pq_cap[m];
  W->pq_len[m]--;
  W->pend_len--;
  return i;
}

static void busy_add(worker_t *W, int m, int d) {
  int before = W->resv[m] > W->busy[m] ? W->resv[m] - W->busy[m] : 0;
  W->busy[m] += d;
  W->busy_total += d;
  int after = W->resv[m] > W->busy[m] ? W->resv[m] - W->busy[m] : 0;
  W->resv_unused += after - before;
}

/* Whether model m may put a request on a connection now. */
static bool may_take(const worker_t *W, int m) {
  int free_ = W->max_conns - W->busy_total;
  int mine = W->resv[m] > W->busy[m] ? W->resv[m] - W->busy[m] : 0;
  return free_ > 0 && free_ > W->resv_unused - mine;
}

/* The connection broke under its request: resend once on a fresh connection when the server
 * closed a reused keep-alive connection before answering (a race every HTTP client meets),
 * else the request failed. */
static void conn_broke(worker_t *W, conn_t *c, const char *why, int64_t now) {
  long i = c->req;
  bool retry = i >= 0 && c->served > 0 && c->rlen == 0 && W->R->tries[i] < 4 && now < W->R->hard_end;
  conn_close(W, c);
  if (i < 0) return;
  if (retry) {
    W->retries++;
    atomic_fetch_sub_explicit(&W->cnt->sent, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&W->cnt->inflight, 1, memory_order_relaxed);
    busy_add(W, W->R->arr[i].model, -1);
    pend_push_front(W, i);
    return;
  }
  note_error(W->R, "%s%s", why, "");
  finish(W, i, R_TRANSPORT, now);
}

/* Writes what the socket takes of c's request. */
static void pump_write(worker_t *W, conn_t *c, int64_t now) {
  const gl_lg_prepared_t *p = &W->R->prep[W->R->arr[c->req].model];
  while (c->woff < p->len) {
    ssize_t w = send(c->fd, p->bytes + c->woff, p->len - c->woff, MSG_NOSIGNAL);
    if (w > 0) { c->woff += (size_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      c->state = C_WRITING;
      set_events(W, c, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
      return;
    }
    conn_broke(W, c, "sending a request: the connection broke", now);
    return;
  }
  c->state = C_READING;
  set_events(W, c, EPOLLIN | EPOLLRDHUP);
}

static void start_request(worker_t *W, conn_t *c, long i, int64_t now) {
  run_t *R = W->R;
  c->req = i;
  c->woff = 0;
  c->rlen = 0;
  c->have_head = false;
  c->body_left = 0;
  if (R->tries[i]++ == 0) R->lag_ns[i] = now - (R->t0 + R->arr[i].t_ns);
  atomic_fetch_add_explicit(&W->cnt->sent, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&W->cnt->inflight, 1, memory_order_relaxed);
  busy_add(W, R->arr[i].model, 1);
  if (c->state == C_CONNECTING) return; /* written once connected */
  pump_write(W, c, now);
}

/* Opens a non-blocking connection; NULL when the limit is reached or the socket fails. */
static conn_t *conn_open(worker_t *W, int64_t now) {
  if (W->n_open >= W->max_conns) return NULL;
  conn_t *c = NULL;
  for (int k = 0; k < W->max_conns; k++)
    if (W->conns[k].state == C_FREE) { c = &W->conns[k]; break; }
  if (!c) return NULL;
  const gl_lg_url_t *u = &W->R->url;
  int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = connect(fd, (const struct sockaddr *)&u->addr, u->addr_len);
  if (rc && errno != EINPROGRESS) {
    close(fd);
    return NULL;
  }
  c->fd = fd;
  c->state = rc ? C_CONNECTING : C_IDLE;
  c->req = -1;
  c->served = 0;
  c->rlen = 0;
  c->events = rc ? (EPOLLOUT | EPOLLRDHUP) : (EPOLLIN | EPOLLRDHUP);
  struct epoll_event e = {.events = c->events, .data.ptr = c};
  if (epoll_ctl(W->ep, EPOLL_CTL_ADD, fd, &e)) {
    close(fd);
    c->fd = -1;
    c->state = C_FREE;
    return NULL;
  }
  W->n_open++;
  if (W->n_open > W->max_open) W->max_open = W->n_open;
  atomic_fetch_add_explicit(&W->cnt->open, 1, memory_order_relaxed);
  (void)now;
  return c;
}

/* Sends due requests: arrivals whose time has come join their model's queue; then, oldest
 * first among the models allowed a connection, queued requests leave. */
static void send_due(worker_t *W, int64_t now) {
  run_t *R = W->R;
  while (W->next < R->n && R->t0 + R->arr[W->next].t_ns <= now) {
    pend_push_back(W, W->next);
    W->next += R->T;
  }
  while (W->pend_len > 0) {
    int best = -1;
    int64_t bt = 0;
    for (int m = 0; m < W->nm; m++) {
      if (W->pq_len[m] == 0 || !may_take(W, m)) continue;
      int64_t t = R->arr[W->pq[W->pq_off[m] + W->pq_head[m]]].t_ns;
      if (best < 0 || t < bt) best = m, bt = t;
    }
    if (best < 0) return; /* every queued model waits for a connection: they are late */
    conn_t *c = W->idle;
    if (c) W->idle = c->next_idle;
    else if (!(c = conn_open(W, now))) return;
    start_request(W, c, pend_pop(W, best), now);
  }
}

/* A complete response (or the connection's end) for c's request. */
static void complete(worker_t *W, conn_t *c, int64_t now) {
  int code = c->head.status;
  if (code != 200 && !atomic_load_explicit(&W->R->has_error, memory_order_relaxed)) {
    size_t bl = c->rlen - c->head.head_len;
    char msg[200];
    snprintf(msg, sizeof msg, "HTTP %d: %.*s", code, (int)(bl < 150 ? bl : 150), c->rbuf + c->head.head_len);
    note_error(W->R, "%s%s", msg, "");
  }
  finish(W, c->req, code, now);
  c->served++;
  c->req = -1;
  if (c->head.close) {
    conn_close(W, c);
    return;
  }
  make_idle(W, c);
}

/* Reads what c has: the response head, then counts the body off. */
static void on_readable(worker_t *W, conn_t *c, int64_t now) {
  for (;;) {
    ssize_t r = recv(c->fd, W->rd, 1 << 16, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
      if (c->state == C_IDLE) conn_close(W, c); /* the server closed an idle connection */
      else conn_broke(W, c, r == 0 ? "the server closed the connection before answering" : "the connection broke", now);
      return;
    }
    if (c->state != C_READING && c->state != C_WRITING) {
      conn_broke(W, c, "bytes from the server with no request outstanding", now);
      return;
    }
    size_t n = (size_t)r;
    const char *p = W->rd;
    if (!c->have_head) {
      size_t keep = c->rlen + n;
      if (gl_grow((void **)&c->rbuf, &c->rcap, keep > GL_LG_MAX_HEAD + 256 ? keep : GL_LG_MAX_HEAD + 256, 1)) {
        conn_broke(W, c, "out of memory reading a response", now);
        return;
      }
      memcpy(c->rbuf + c->rlen, p, n);
      c->rlen += n;
      gl_status_t st = gl_lg_http_head(c->rbuf, c->rlen, &c->head);
      if (st == GL_AGAIN) continue;
      if (st == GL_OK && c->head.chunked) st = gl_err(GL_EUNSUPPORTED, "chunked responses are not supported");
      if (st == GL_OK && c->head.content_length < 0) st = gl_err(GL_EUNSUPPORTED, "a response without Content-Length");
      if (st) {
        char msg[200];
        snprintf(msg, sizeof msg, "bad response: %s", gl_errmsg());
        note_error(W->R, "%s%s", msg, "");
        c->served = 0; /* no retry */
        conn_broke(W, c, msg, now);
        return;
      }
      c->have_head = true;
      long long in_buf = (long long)(c->rlen - c->head.head_len);
      c->body_left = c->head.content_length - in_buf;
      if (c->body_left < 0) {
        c->served = 0;
        conn_broke(W, c, "more bytes than the response's Content-Length (pipelining is not used)", now);
        return;
      }
    } else {
      if ((long long)n > c->body_left) {
        c->served = 0;
        conn_broke(W, c, "more bytes than the response's Content-Length (pipelining is not used)", now);
        return;
      }
      c->body_left -= (long long)n;
      /* keep the start of an error body for the report */
      if (c->head.status != 200 && c->rlen < c->head.head_len + 160 && !gl_grow((void **)&c->rbuf, &c->rcap, c->rlen + n + 1, 1)) {
        memcpy(c->rbuf + c->rlen, p, n);
        c->rlen += n;
      }
    }
    if (c->body_left == 0) {
      if (c->state == C_WRITING) { /* answered before the request was fully written: a 4xx */
        c->head.close = true;
      }
      complete(W, c, now);
      return;
    }
  }
}

static void arm(worker_t *W, int64_t at_ns, int64_t *armed) {
  if (at_ns == *armed) return;
  *armed = at_ns;
  struct itimerspec its = {0};
  if (at_ns < 1) at_ns = 1;
  its.it_value.tv_sec = at_ns / 1000000000LL;
  its.it_value.tv_nsec = at_ns % 1000000000LL;
  timerfd_settime(W->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *worker_main(void *arg) {
  worker_t *W = arg;
  run_t *R = W->R;
  struct epoll_event ev[64];
  int64_t armed = -1;
  /* a few connections ready before the start, so the first requests do not pay for connecting */
  int pre = W->max_conns < 4 ? W->max_conns : 4;
  for (int k = 0; k < pre; k++) {
    conn_t *c = conn_open(W, gl_now_ns());
    if (c && c->state == C_IDLE) make_idle(W, c);
  }
  for (;;) {
    int64_t now = gl_now_ns();
    bool due_left = W->next < R->n || W->pend_len > 0;
    long long inflight = 0;
    for (int k = 0; k < W->max_conns; k++)
      if (W->conns[k].req >= 0 && W->conns[k].state != C_FREE) inflight++;
    if (!due_left && inflight == 0) break;
    if (now >= R->hard_end) break;
    send_due(W, now);
    int64_t wake = R->hard_end;
    if (W->next < R->n) {
      int64_t t = R->t0 + R->arr[W->next].t_ns;
      if (t < wake) wake = t;
    }
    arm(W, wake, &armed);
    int ne = epoll_wait(W->ep, ev, 64, wake <= now ? 0 : -1);
    if (ne < 0 && errno != EINTR) break;
    now = gl_now_ns();
    for (int e = 0; e < ne; e++) {
      if (ev[e].data.ptr == NULL) { /* the timer */
        uint64_t x;
        ssize_t rr = read(W->tfd, &x, sizeof x);
        (void)rr;
        armed = -1;
        continue;
      }
      conn_t *c = ev[e].data.ptr;
      if (c->state == C_FREE) continue;
      if (c->state == C_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr || (ev[e].events & (EPOLLERR | EPOLLHUP))) {
          char msg[200];
          snprintf(msg, sizeof msg, "cannot connect: %s", strerror(soerr ? soerr : ECONNREFUSED));
          c->served = 0;
          conn_broke(W, c, msg, now);
          continue;
        }
        if (c->req >= 0) pump_write(W, c, now);
        else make_idle(W, c);
        continue;
      }
      if (c->state == C_WRITING && (ev[e].events & EPOLLOUT)) pump_write(W, c, now);
      if (c->state != C_FREE && (ev[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) on_readable(W, c, now);
    }
  }
  /* the run is over: whatever is left failed */
  int64_t now = gl_now_ns();
  for (int k = 0; k < W->max_conns; k++) {
    conn_t *c = &W->conns[k];
    if (c->state == C_FREE) continue;
    if (c->req >= 0) finish(W, c->req, R_TIMEOUT, now);
    c->req = -1;
    conn_close(W, c);
  }
  for (int m = 0; m < W->nm; m++)
    while (W->pq_len[m] > 0) R->code[pend_pop(W, m)] = R_UNSENT;
  for (; W->next < R->n; W->next += R->T) R->code[W->next] = R_UNSENT;
  struct timespec cpu;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) W->cpu_ns = (int64_t)cpu.tv_sec * 1000000000LL + cpu.tv_nsec;
  return NULL;
}

/* ---------- statistics ---------- */

static void fill_result(run_t *R, gl_lg_result_t *res) {
  const gl_lg_config_t *cfg = R->cfg;
  const gl_scenario_t *s = cfg->scen;
  int64_t w0 = (int64_t)(cfg->warmup_s * 1e9);
  double dur = cfg->duration_s;
  double *lat = gl_malloc(((size_t)R->n + 1) * sizeof *lat);
  double *lag = gl_malloc(((size_t)R->n + 1) * sizeof *lag);
  double *rej = gl_malloc(((size_t)R->n + 1) * sizeof *rej);
  size_t nlag = 0;
  res->min_attain = 1;
  res->ok = true;
  for (int m = 0; m < s->n_models; m++) {
    gl_lg_model_result_t *o = &res->m[m];
    snprintf(o->name, sizeof o->name, "%s", s->models[m].name);
    o->slo_ms = s->models[m].slo_ms;
    o->pct = s->models[m].pct;
    size_t nl = 0, nrej = 0, lag0 = nlag;
    int64_t slo_ns = (int64_t)(o->slo_ms * 1e6);
    for (long i = 0; i < R->n; i++) {
      if (R->arr[i].model != m || R->arr[i].t_ns < w0) continue;
      o->sent++;
      int c = R->code[i];
      if (c == 200) {
        o->answered++;
        if (R->lat_ns[i] <= slo_ns) o->met++;
        else o->late++;
        if (lat) lat[nl++] = (double)R->lat_ns[i] / 1e6;
      } else if (c == 429 || c == 503) {
        o->rejected++;
        if (rej) rej[nrej++] = (double)R->lat_ns[i] / 1e6;
      } else {
        o->errors++;
        if (c == R_UNSENT) res->unsent++;
      }
      if (lag && R->lag_ns[i] >= 0) lag[nlag++] = (double)R->lag_ns[i] / 1e6;
    }
    o->rate = (double)o->sent / dur;
    if (lag && nlag > lag0) { /* this model's lags are lag[lag0..nlag) */
      gl_sort_doubles(lag + lag0, nlag - lag0);
      o->send_lag_p99_ms = gl_percentile_sorted(lag + lag0, nlag - lag0, 99);
    }
    if (lat && nl) {
      gl_sort_doubles(lat, nl);
      o->p50_ms = gl_percentile_sorted(lat, nl, 50);
      o->p99_ms = gl_percentile_sorted(lat, nl, 99);
      o->p999_ms = gl_percentile_sorted(lat, nl, 99.9);
    }
    if (rej && nrej) {
      gl_sort_doubles(rej, nrej);
      o->reject_p50_ms = gl_percentile_sorted(rej, nrej, 50);
      o->reject_p99_ms = gl_percentile_sorted(rej, nrej, 99);
    }
    o->attain = o->sent ? (double)o->met / (double)o->sent : 1;
    if (o->attain < res->min_attain) res->min_attain = o->attain;
    if (o->attain + 1e-12 < o->pct / 100) res->ok = false;
    res->sent += o->sent, res->answered += o->answered, res->met += o->met;
    res->rejected += o->rejected, res->errors += o->errors;
  }
  res->attain = res->sent ? (double)res->met / (double)res->sent : 1;
  res->offered_rps = (double)res->sent / dur;
  res->goodput_rps = (double)res->met / dur;
  if (lag && nlag) {
    gl_sort_doubles(lag, nlag);
    res->send_lag_p99_ms = gl_percentile_sorted(lag, nlag, 99);
    res->send_lag_max_ms = lag[nlag - 1];
  }
  res->client_limited = res->send_lag_p99_ms > 1.0 || res->unsent > 0;
  for (int t = 0; t < R->T; t++) {
    res->retries += R->w[t].retries;
    res->max_open += R->w[t].max_open;
    res->client_cpu_s += (double)R->w[t].cpu_ns / 1e9;
  }
  snprintf(res->first_error, sizeof res->first_error, "%s", R->first_error);
  gl_free(lat);
  gl_free(lag);
  gl_free(rej);
}

/* The request log: "<scheduled send, s from the start> <model> <status> <latency ms>" per
 * scheduled request, warm-up included, in schedule order. Status: the HTTP code, or "unsent",
 * "timeout", "transport". */
static gl_status_t write_log(const run_t *R, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return gl_err(GL_EIO, "loadgen: cannot write the request log %s", path);
  fprintf(f, "# t_s model status latency_ms\n");
  for (long i = 0; i < R->n; i++) {
    int c = R->code[i];
    const char *name = R->cfg->scen->models[R->arr[i].model].name;
    double t = (double)R->arr[i].t_ns / 1e9;
    if (c > 0) fprintf(f, "%.6f %s %d %.3f\n", t, name, c, (double)R->lat_ns[i] / 1e6);
    else fprintf(f, "%.6f %s %s -\n", t, name, c == R_UNSENT ? "unsent" : c == R_TIMEOUT ? "timeout" : c == R_PENDING ? "pending" : "transport");
  }
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0 || bad) return gl_err(GL_EIO, "loadgen: writing the request log %s failed", path);
  return GL_OK;
}

static void progress(run_t *R, FILE *f, bool tty, int64_t now) {
  long long sent = 0, ok = 0, rej = 0, err = 0, infl = 0;
  int open = 0;
  for (int t = 0; t < R->T; t++) {
    counters_t *c = &R->cnt[t];
    sent += atomic_load_explicit(&c->sent, memory_order_relaxed);
    ok += atomic_load_explicit(&c->ok, memory_order_relaxed);
    rej += atomic_load_explicit(&c->rejected, memory_order_relaxed);
    err += atomic_load_explicit(&c->errors, memory_order_relaxed);
    infl += atomic_load_explicit(&c->inflight, memory_order_relaxed);
    open += atomic_load_explicit(&c->open, memory_order_relaxed);
  }
  double t = (double)(now - R->t0) / 1e9;
  double total = R->cfg->warmup_s + R->cfg->duration_s;
  fprintf(f, "%s[%5.1f/%.0f s%s] sent %lld  answered %lld  rejected %lld  errors %lld  in flight %lld  connections %d%s",
          tty ? "\r" : "", t < 0 ? 0 : t, total, t < R->cfg->warmup_s ? " warm-up" : "", sent, ok, rej, err, infl, open,
          tty ? "   " : "\n");
  fflush(f);
}

gl_status_t gl_lg_run(const gl_lg_config_t *cfg, gl_lg_result_t *res) {
  memset(res, 0, sizeof *res);
  const gl_scenario_t *s = cfg->scen;
  if (!s || s->n_models < 1) return gl_err(GL_EINVAL, "loadgen: no models");
  if (!(cfg->duration_s > 0) || !(cfg->warmup_s >= 0) || !(cfg->scale >= 0))
    return gl_err(GL_EINVAL, "loadgen: duration must be > 0, warm-up and scale >= 0");
  run_t R = {.cfg = cfg};
  pthread_mutex_init(&R.err_mu, NULL);
  gl_status_t st = GL_OK;
  gl_lg_arrival_t *arr = NULL;
  GL_TRY(gl_lg_url_parse(cfg->url, &R.url));
  double total_s = cfg->warmup_s + cfg->duration_s;
  long n = 0;
  if (cfg->trace_n > 0) {
    arr = gl_malloc((size_t)cfg->trace_n * sizeof *arr);
    if (!arr) return gl_err(GL_ENOMEM, "loadgen: out of memory");
    for (long i = 0; i < cfg->trace_n; i++) {
      double t = cfg->trace_t[i] / (cfg->scale > 0 ? cfg->scale : 1);
      if (t >= total_s) break;
      if (cfg->trace_model[i] < 0 || cfg->trace_model[i] >= s->n_models) {
        gl_free(arr);
        return gl_err(GL_EINVAL, "loadgen: trace arrival %ld names no model", i);
      }
      arr[n].t_ns = (int64_t)(t * 1e9);
      arr[n].model = cfg->trace_model[i];
      n++;
    }
  } else {
    GL_TRY(gl_lg_schedule_poisson(s, cfg->scale, total_s, cfg->seed, 50L * 1000 * 1000, &arr, &n));
  }
  R.arr = arr, R.n = n;
  res->n_models = s->n_models;
  res->m = gl_calloc((size_t)s->n_models, sizeof *res->m);
  R.prep = gl_calloc((size_t)s->n_models, sizeof *R.prep);
  R.code = gl_calloc((size_t)n + 1, sizeof *R.code);
  R.lat_ns = gl_calloc((size_t)n + 1, sizeof *R.lat_ns);
  R.lag_ns = gl_malloc(((size_t)n + 1) * sizeof *R.lag_ns);
  R.tries = gl_calloc((size_t)n + 1, 1);
  int T = cfg->threads > 0 ? cfg->threads : 2;
  int C = cfg->connections > 0 ? cfg->connections : 128;
  if (T > C) T = C;
  R.T = T;
  R.w = gl_calloc((size_t)T, sizeof *R.w);
  R.cnt = gl_aligned_alloc((size_t)T * sizeof *R.cnt);
  if (!res->m || !R.prep || !R.code || !R.lat_ns || !R.lag_ns || !R.tries || !R.w || !R.cnt) {
    st = gl_err(GL_ENOMEM, "loadgen: out of memory");
    goto out;
  }
  memset(R.cnt, 0, (size_t)T * sizeof *R.cnt);
  for (long i = 0; i < n; i++) R.lag_ns[i] = -1;
  for (int m = 0; m < s->n_models; m++)
    if ((st = gl__lg_prepare(&R.url, s->models[m].name, gl_rng_stream(cfg->seed, 1000 + (uint64_t)m), cfg->binary,
                             &R.prep[m])) < 0)
      goto out;
  for (int t = 0; t < T; t++) {
    worker_t *W = &R.w[t];
    W->R = &R;
    W->id = t;
    W->cnt = &R.cnt[t];
    W->max_conns = C / T + (t < C % T ? 1 : 0);
    W->conns = gl_calloc((size_t)W->max_conns, sizeof *W->conns);
    W->nm = s->n_models;
    W->pq = gl_malloc(((size_t)n / (size_t)T + 2 + (size_t)s->n_models) * sizeof *W->pq);
    W->pq_off = gl_calloc((size_t)s->n_models, sizeof *W->pq_off);
    W->pq_cap = gl_calloc((size_t)s->n_models, sizeof *W->pq_cap);
    W->pq_head = gl_calloc((size_t)s->n_models, sizeof *W->pq_head);
    W->pq_len = gl_calloc((size_t)s->n_models, sizeof *W->pq_len);
    W->busy = gl_calloc((size_t)s->n_models, sizeof *W->busy);
    W->resv = gl_calloc((size_t)s->n_models, sizeof *W->resv);
    if (W->pq_cap && W->pq_off && W->resv) {
      long mine = 0;
      for (long i = t; i < n; i += T) W->pq_cap[arr[i].model]++, mine++;
      long off = 0;
      for (int m = 0; m < s->n_models; m++) {
        /* half the connections reserved, by each model's share of this thread's arrivals */
        W->resv[m] = mine ? (int)((double)W->max_conns * 0.5 * (double)W->pq_cap[m] / (double)mine) : 0;
        W->resv_unused += W->resv[m];
        W->pq_off[m] = off;
        off += ++W->pq_cap[m];
      }
    }
    W->rd = gl_malloc(1 << 16);
    W->next = t;
    W->ep = epoll_create1(EPOLL_CLOEXEC);
    W->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!W->conns || !W->pq || !W->pq_off || !W->pq_cap || !W->pq_head || !W->pq_len || !W->busy || !W->resv ||
        !W->rd || W->ep < 0 || W->tfd < 0) {
      st = gl_err(GL_ENOMEM, "loadgen: cannot set up sender thread %d", t);
      goto out;
    }
    for (int k = 0; k < W->max_conns; k++) W->conns[k].fd = -1, W->conns[k].req = -1;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(W->ep, EPOLL_CTL_ADD, W->tfd, &e);
  }
  /* the server must be reachable before the clock starts */
  {
    int code = 0;
    if ((st = gl_lg_http_request(&R.url, "GET", "/v2/health/live", NULL, 0, 10000, 1 << 16, &code, NULL, NULL)) < 0)
      goto out;
  }
  R.t0 = gl_now_ns() + 100 * 1000000LL;
  R.end_ns = R.t0 + (int64_t)(total_s * 1e9);
  R.hard_end = R.end_ns + (int64_t)((cfg->drain_s > 0 ? cfg->drain_s : 10) * 1e9);
  int started = 0;
  for (int t = 0; t < T; t++) {
    if (pthread_create(&R.w[t].th, NULL, worker_main, &R.w[t])) {
      st = gl_err(GL_ENOMEM, "loadgen: cannot start a thread");
      break;
    }
    started++;
  }
  {
    FILE *pf = cfg->progress ? cfg->progress : stderr;
    bool tty = isatty(fileno(pf));
    int64_t next_tick = R.t0 + 1000000000LL;
    bool done = false;
    while (!done && started == T && !cfg->quiet) {
      int64_t now = gl_now_ns();
      if (now >= next_tick) {
        progress(&R, pf, tty, now);
        next_tick += 1000000000LL;
      }
      /* all threads done? (a zero-timeout join probe) */
      done = true;
      for (int t = 0; t < T; t++) {
        if (!R.w[t].joined && pthread_tryjoin_np(R.w[t].th, NULL) == 0) R.w[t].joined = true;
        if (!R.w[t].joined) done = false;
      }
      if (!done) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
      }
    }
    if (!cfg->quiet && tty) fputc('\n', pf);
  }
  for (int t = 0; t < started; t++)
    if (!R.w[t].joined) pthread_join(R.w[t].th, NULL);
  res->wall_s = (double)(gl_now_ns() - R.t0) / 1e9;
  if (st == GL_OK) fill_result(&R, res);
  if (st == GL_OK && cfg->log_path) st = write_log(&R, cfg->log_path);
out:
  for (int t = 0; R.w && t < T; t++) {
    worker_t *W = &R.w[t];
    for (int k = 0; W->conns && k < W->max_conns; k++) {
      if (W->conns[k].state != C_FREE) close(W->conns[k].fd);
      gl_free(W->conns[k].rbuf);
    }
    gl_free(W->conns);
    gl_free(W->pq);
    gl_free(W->pq_off);
    gl_free(W->pq_cap);
    gl_free(W->pq_head);
    gl_free(W->pq_len);
    gl_free(W->busy);
    gl_free(W->resv);
    gl_free(W->rd);
    if (W->ep > 0) close(W->ep);
    if (W->tfd > 0) close(W->tfd);
  }
  for (int m = 0; R.prep && m < s->n_models; m++) gl_free(R.prep[m].bytes);
  gl_free(R.prep);
  gl_free(R.w);
  gl_aligned_free(R.cnt);
  gl_free(R.code);
  gl_free(R.lat_ns);
  gl_free(R.lag_ns);
  gl_free(R.tries);
  gl_free(arr);
  pthread_mutex_destroy(&R.err_mu);
  if (st < 0) {
    gl_free(res->m);
    res->m = NULL;
    res->n_models = 0;
  }
  return st;
}

void gl_lg_result_fini(gl_lg_result_t *r) {
  gl_free(r->m);
  r->m = NULL;
  r->n_models = 0;
}
