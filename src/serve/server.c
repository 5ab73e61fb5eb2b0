/* serve/server.c - the HTTP side of `gpulet serve`: libmicrohttpd daemons, routing of the KServe v2
 * paths, limits, suspended inference connections resumed by the executor. Starting and stopping
 * the server: server_life.c. */
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/serve_int.h"
#include "serve/web.h"

enum { INL_NONE = 0, INL_WAITING, INL_DONE, INL_SUSPENDED };

/* The longest an HTTP thread waits for an answer before suspending the connection (see infer). */
#define GL_INLINE_MAX_NS 60000
/* Only for models whose batch of 1 takes at most this long (see infer). */
#define GL_INLINE_SVC_NS 20000

typedef struct {
  gl_server_t *s;
  struct MHD_Connection *c;
  bool metrics_only;
  char *body;
  size_t len, cap;
  bool too_big, busy, submitted;
  int64_t http_in_ns; /* the request's first handler call (headers parsed) */
  /* an inference answered while its handler still waits (no suspend/resume): see infer() */
  atomic_int inl;
  gl_sreq_t req;
  /* the answer, filled by the handler or by the executor (done) */
  int status;
  gl_kv_buf_t out;
  size_t header_len;
  bool binary;
} conn_t;

/* ---- answering ---- */

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *ctype, const void *p,
                                size_t n, long long header_len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
  if (header_len >= 0) {
    char h[32];
    snprintf(h, sizeof h, "%lld", header_len);
    MHD_add_response_header(r, "Inference-Header-Content-Length", h);
  }
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const char *json) {
  return send_buf(c, status, "application/json", json, strlen(json), -1);
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg) {
  gl_kv_buf_t b = {0};
  gl_kv_buf_put(&b, "{\"error\":", 9);
  gl_kv_buf_jstr(&b, msg && msg[0] ? msg : "error");
  gl_kv_buf_put(&b, "}", 1);
  enum MHD_Result r = b.oom ? send_json(c, status, "{\"error\":\"out of memory\"}") : send_json(c, status, b.p);
  gl_kv_buf_fini(&b);
  return r;
}

static enum MHD_Result send_jansson(struct MHD_Connection *c, int status, json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) return send_error(c, 500, "out of memory");
  enum MHD_Result r = send_json(c, status, s);
  free(s);
  return r;
}

/* ---- repository control: bearer token ---- */

/* Constant-time in the content of the token: every byte of `want` is compared whatever differs. */
static bool token_equal(const char *got, size_t glen, const char *want, size_t wlen) {
  unsigned char d = glen != wlen;
  for (size_t i = 0; i < wlen; i++) d |= (unsigned char)want[i] ^ (unsigned char)(i < glen ? got[i] : 0);
  return d == 0;
}

/* The paths that change or list the repository (and re-plan): the only ones the token guards. */
static bool is_control(const char *url) {
  return !strncmp(url, "/v2/repository/", 15) || !strcmp(url, "/v2/repository") || !strncmp(url, "/v2/gpulet/replan", 17);
}

/* NULL when the request may go on, else the reason it may not. */
static const char *unauthorized(gl_server_t *s, struct MHD_Connection *c) {
  if (!s->repo_token) return NULL;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h) return "repository control needs an 'Authorization: Bearer <token>' header (see --repo-token)";
  if (strncasecmp(h, "Bearer ", 7)) return "repository control needs a Bearer token in the Authorization header";
  h += 7;
  while (*h == ' ') h++;
  size_t n = strlen(h);
  while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
  if (!token_equal(h, n, s->repo_token, strlen(s->repo_token))) return "the bearer token is not the server's repository token";
  return NULL;
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *c, const char *why, bool had_header) {
  gl_kv_buf_t b = {0};
  gl_kv_buf_put(&b, "{\"error\":", 9);
  gl_kv_buf_jstr(&b, why);
  gl_kv_buf_put(&b, "}", 1);
  const char *body = b.oom ? "{\"error\":\"unauthorized\"}" : b.p;
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  gl_kv_buf_fini(&b);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                          had_header ? "Bearer realm=\"gpulet\", error=\"invalid_token\"" : "Bearer realm=\"gpulet\"");
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, r);
  MHD_destroy_response(r);
  return ret;
}

static int status_for(gl_status_t st) {
  switch (st) {
    case GL_ENOTFOUND: return 404;
    case GL_ELIMIT: return 413;
    case GL_ENOMEM: case GL_EBACKEND: case GL_EDEVICE: case GL_EIO: return 500;
    case GL_ESTATE: case GL_EBUSY: return 503;
    default: return 400;
  }
}

/* A status-page file: revalidated by the browser on each load (no-cache + ETag, 304 when unchanged). */
static enum MHD_Result send_web(struct MHD_Connection *c, const gl_web_file_t *f) {
  const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
  bool same = inm && strstr(inm, f->etag);
  struct MHD_Response *r = same ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                                : MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
  if (!r) return MHD_NO;
  if (!same) MHD_add_response_header(r, "Content-Type", f->content_type);
  MHD_add_response_header(r, "Cache-Control", "no-cache");
  MHD_add_response_header(r, "ETag", f->etag);
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  enum MHD_Result ret = MHD_queue_response(c, same ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

/* ---- the executor's side: called on the model's dispatcher thread ---- */

/* Records an answered request in its model's window of recent outcomes (the model is alive). */
static void record(gl_smodel_t *m, const gl_sreq_t *r, int status) {
  int64_t now = gl_now_ns();
  gl_lw_kind_t kind = status == 200 ? (now <= r->deadline_ns ? GL_LW_MET : GL_LW_MISSED)
                      : status == 429 || status == 503 ? GL_LW_REJECTED
                      : status >= 500 ? GL_LW_FAILED : 0;
  if (kind) gl_latwin_add(&m->lw, now, now - r->arrival_ns, kind);
}

static void on_done(gl_sreq_t *r) {
  conn_t *k = r->user;
  gl_smodel_t *m = r->model;
  record(m, r, r->http_status);
  if (r->http_status == 200) {
    gl_kv_out_t outs[GL_SMODEL_MAX_IO];
    int n = 0;
    bool any_bin = false;
    if (r->kv.n_outputs == 0) {
      for (int o = 0; o < m->n_outputs; o++) {
        outs[n] = (gl_kv_out_t){m->outputs[o].name, &r->outs[o], r->kv.binary_all};
        any_bin |= outs[n++].binary;
      }
    } else {
      for (int q = 0; q < r->kv.n_outputs && n < GL_SMODEL_MAX_IO; q++)
        for (int o = 0; o < m->n_outputs; o++)
          if (!strcmp(r->kv.outputs[q].name, m->outputs[o].name)) {
            bool bin = r->kv.outputs[q].binary >= 0 ? r->kv.outputs[q].binary == 1 : r->kv.binary_all;
            outs[n] = (gl_kv_out_t){m->outputs[o].name, &r->outs[o], bin};
            any_bin |= bin;
            n++;
          }
    }
    if (gl_kv_write_response(&k->out, m->name, "1", r->kv.id, outs, n, &k->header_len)) {
      gl_kv_buf_fini(&k->out);
      k->status = 500;
      snprintf(r->err, sizeof r->err, "out of memory writing the response");
    } else {
      k->status = 200;
      k->binary = any_bin;
    }
  } else {
    k->status = r->http_status;
  }
  /* the handler still waiting answers itself; k and r are its own from here on */
  int want = INL_WAITING;
  if (atomic_compare_exchange_strong(&k->inl, &want, INL_DONE)) return;
  MHD_resume_connection(k->c);
}

/* Sends the answer the executor (or the control thread) left in k. */
static enum MHD_Result answer(conn_t *k) {
  gl_server_t *s = k->s;
  if (k->status != 200) return send_error(k->c, k->status ? k->status : 500, k->req.err);
  enum MHD_Result r = send_buf(k->c, 200, k->binary ? "application/octet-stream" : "application/json", k->out.p,
                               k->out.len, k->binary ? (long long)k->header_len : -1);
  if (k->req.start_ns) { /* an inference (not a re-plan answer) */
    int64_t now = gl_now_ns();
    gl_ovh_add(&s->ovh, now - k->http_in_ns - k->req.compute_ns);
    gl_ovh_add(&s->handoff, (k->req.start_ns - k->req.enqueue_ns) + (now - k->req.end_ns));
  }
  return r;
}

/* Control thread: the re-plan asked for by POST /v2/gpulet/replan is installed. */
static void replan_done(void *arg) {
  conn_t *k = arg;
  gl_serve_plan_json(k->s, &k->out);
  if (k->out.oom) {
    gl_kv_buf_fini(&k->out);
    k->status = 500;
    snprintf(k->req.err, sizeof k->req.err, "out of memory");
  } else {
    k->status = 200;
  }
  k->binary = false;
  MHD_resume_connection(k->c);
}

/* ---- routes ---- */

typedef enum { R_NONE, R_META, R_READY, R_INFER, R_CONFIG, R_STATS } model_route_t;

/* Splits "/v2/models/<m>[/versions/<v>][/<what>]". Returns false when it does not match. */
static bool parse_model_path(const char *url, char *model, size_t cap, char *ver, size_t vcap, model_route_t *rt) {
  const char *p = url + strlen("/v2/models/");
  const char *e = strchr(p, '/');
  size_t n = e ? (size_t)(e - p) : strlen(p);
  if (n == 0 || n >= cap) return false;
  memcpy(model, p, n);
  model[n] = 0;
  ver[0] = 0;
  p += n;
  if (!strncmp(p, "/versions/", 10)) {
    p += 10;
    e = strchr(p, '/');
    n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || n >= vcap) return false;
    memcpy(ver, p, n);
    ver[n] = 0;
    p += n;
  }
  if (!*p) *rt = R_META;
  else if (!strcmp(p, "/ready")) *rt = R_READY;
  else if (!strcmp(p, "/infer")) *rt = R_INFER;
  else if (!strcmp(p, "/config")) *rt = R_CONFIG;
  else if (!strcmp(p, "/stats")) *rt = R_STATS;
  else return false;
  return true;
}

static json_t *tensor_meta(const gl_sio_t *io, bool config, int skip) {
  json_t *sh = json_array();
  for (int d = skip; d < io->shape.rank; d++) json_array_append_new(sh, json_integer(io->shape.d[d]));
  if (config)
    return json_pack("{s:s,s:s,s:o}", "name", io->name, "data_type",
                     gl_kv_config_type(io->dtype) ? gl_kv_config_type(io->dtype) : "TYPE_INVALID", "dims", sh);
  return json_pack("{s:s,s:s,s:o}", "name", io->name, "datatype",
                   gl_dtype_kserve(io->dtype) ? gl_dtype_kserve(io->dtype) : "BYTES", "shape", sh);
}

static enum MHD_Result model_meta(struct MHD_Connection *c, gl_smodel_t *m) {
  json_t *ins = json_array(), *outs = json_array();
  for (int i = 0; i < m->n_inputs; i++) json_array_append_new(ins, tensor_meta(&m->inputs[i], false, 0));
  for (int i = 0; i < m->n_outputs; i++) json_array_append_new(outs, tensor_meta(&m->outputs[i], false, 0));
  return send_jansson(c, 200, json_pack("{s:s,s:[s],s:s,s:o,s:o}", "name", m->name, "versions", "1",
                                        "platform", "onnx_onnxv1", "inputs", ins, "outputs", outs));
}

static enum MHD_Result model_config(struct MHD_Connection *c, gl_smodel_t *m) {
  int skip = m->cfg.max_batch > 0 ? 1 : 0;
  json_t *ins = json_array(), *outs = json_array();
  for (int i = 0; i < m->n_inputs; i++) json_array_append_new(ins, tensor_meta(&m->inputs[i], true, skip));
  for (int i = 0; i < m->n_outputs; i++) json_array_append_new(outs, tensor_meta(&m->outputs[i], true, skip));
  char slo[32], pct[32], late[8], prio[16];
  snprintf(slo, sizeof slo, "%g", m->cfg.slo_ms);
  snprintf(pct, sizeof pct, "%g", m->cfg.slo_percentile);
  snprintf(late, sizeof late, "%s", m->cfg.serve_late ? "true" : "false");
  snprintf(prio, sizeof prio, "%d", m->cfg.priority);
  return send_jansson(c, 200, json_pack(
      "{s:s,s:s,s:i,s:o,s:o,s:{s:I,s:{s:i}},s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}", "name", m->name,
      "platform", "onnxruntime_onnx", "max_batch_size", m->cfg.max_batch, "input", ins, "output", outs,
      "dynamic_batching", "max_queue_delay_microseconds", (json_int_t)m->cfg.collect_us,
      "default_queue_policy", "max_queue_size", m->cfg.max_queue,
      "parameters", "slo_ms", "string_value", slo, "slo_percentile", "string_value", pct,
      "serve_late", "string_value", late, "priority", "string_value", prio));
}

static long long header_len_of(struct MHD_Connection *c, bool *bad) {
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
  *bad = false;
  if (!h) return -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(h, &end, 10);
  if (errno || end == h || *end || v < 0) *bad = true;
  return v;
}

static enum MHD_Result infer(conn_t *k, gl_smodel_t *m) {
  gl_server_t *s = k->s;
  bool bad;
  long long hl = header_len_of(k->c, &bad);
  if (bad) return send_error(k->c, 400, "Inference-Header-Content-Length must be a non-negative integer");
  gl_kv_raw_spec_t raw, *rp = NULL;
  if (m->n_inputs == 1) {
    raw = (gl_kv_raw_spec_t){m->inputs[0].name, m->inputs[0].dtype, m->inputs[0].shape};
    if (m->cfg.max_batch > 0) raw.shape.d[0] = 1;
    rp = &raw;
  }
  k->req.arrival_ns = gl_now_ns();
  gl_status_t st = gl_kv_parse_request(k->body ? k->body : "", k->len, hl, &s->lim, rp, &k->req.kv);
  if (st) {
    pthread_mutex_lock(&m->mu);
    m->st.fail_other++;
    pthread_mutex_unlock(&m->mu);
    return send_error(k->c, status_for(st), gl_errmsg());
  }
  k->req.done = on_done;
  k->req.user = k;
  /* the executor may answer before this handler returns: it then finds INL_WAITING and leaves
   * the answer to this thread */
  atomic_store(&k->inl, INL_WAITING);
  int code = gl_smodel_submit(m, &k->req);
  if (code) {
    atomic_store(&k->inl, INL_NONE);
    record(m, &k->req, code);
    return send_error(k->c, code, k->req.err);
  }
  /* Nothing else of the model was queued and a batch of 1 is short (at most
   * GL_INLINE_SVC_NS: longer ones gain more from this thread reading other requests meanwhile,
   * which batching needs): wait a little for the answer, yielding the core (the executor may
   * share it), and answer here, saving the connection's suspend and resume (epoll changes, the
   * wake-up pipe, one more loop turn). The wait is bounded, so a busy executor costs this HTTP
   * thread at most GL_INLINE_MAX_NS. */
  int64_t svc = k->req.idle_service_ns;
  if (svc > 0 && svc <= GL_INLINE_SVC_NS) {
    int64_t wait = 2 * svc + GL_INLINE_MAX_NS / 2;
    int64_t until = gl_now_ns() + (wait < GL_INLINE_MAX_NS ? wait : GL_INLINE_MAX_NS);
    while (atomic_load(&k->inl) == INL_WAITING && gl_now_ns() < until) sched_yield();
    if (atomic_load(&k->inl) == INL_DONE) {
      atomic_fetch_add_explicit(&s->answered_inline, 1, memory_order_relaxed);
      return answer(k);
    }
  }
  MHD_suspend_connection(k->c);
  k->submitted = true;
  atomic_fetch_add(&s->suspended, 1);
  int want = INL_WAITING;
  if (!atomic_compare_exchange_strong(&k->inl, &want, INL_SUSPENDED))
    MHD_resume_connection(k->c); /* answered meanwhile: the resumed handler sends it */
  return MHD_YES;
}

static enum MHD_Result repo_index(conn_t *k) {
  gl_server_t *s = k->s;
  bool only_ready = false;
  if (k->len) {
    json_t *j = json_loadb(k->body, k->len, 0, NULL);
    json_t *r = json_is_object(j) ? json_object_get(j, "ready") : NULL;
    bool ok = json_is_object(j) && (!r || json_is_boolean(r));
    only_ready = json_is_true(r);
    json_decref(j);
    if (!ok) return send_error(k->c, 400, "the index request must be {\"ready\": bool}");
  }
  static char names[GL_SERVE_MAX_MODELS][128];
  static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&names_mu);
  int n = gl_serve_scan(s, names, GL_SERVE_MAX_MODELS);
  json_t *a = json_array();
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < n; i++) {
    const char *state = "UNAVAILABLE", *reason = "";
    for (int e = 0; e < s->n_models; e++)
      if (!strcmp(s->models[e].name, names[i])) {
        state = s->models[e].state;
        reason = s->models[e].reason;
      }
    if (only_ready && strcmp(state, "READY")) continue;
    json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "name", names[i], "version", "1", "state", state, "reason", reason));
  }
  pthread_mutex_unlock(&s->mu);
  pthread_mutex_unlock(&names_mu);
  return send_jansson(k->c, 200, a);
}

static enum MHD_Result repo_action(conn_t *k, const char *rest) {
  const char *slash = strrchr(rest, '/');
  if (!slash) return send_error(k->c, 404, "unknown path");
  char name[128];
  size_t n = (size_t)(slash - rest);
  if (n == 0 || n >= sizeof name) return send_error(k->c, 404, "unknown path");
  memcpy(name, rest, n);
  name[n] = 0;
  if (k->len) {
    json_t *j = json_loadb(k->body, k->len, 0, NULL);
    bool ok = json_is_object(j);
    json_t *p = ok ? json_object_get(j, "parameters") : NULL;
    if (p && json_object_get(p, "config")) ok = false;
    json_decref(j);
    if (!ok) return send_error(k->c, 400, "the body must be a JSON object; config and file overrides are not supported");
  }
  gl_status_t st;
  if (!strcmp(slash, "/load")) st = gl_serve_load(k->s, name);
  else if (!strcmp(slash, "/unload")) st = gl_serve_unload(k->s, name);
  else return send_error(k->c, 404, "unknown path");
  if (st) return send_error(k->c, status_for(st), gl_errmsg());
  return send_buf(k->c, 200, "application/json", "", 0, -1);
}

static enum MHD_Result route(conn_t *k, const char *url, const char *method) {
  gl_server_t *s = k->s;
  struct MHD_Connection *c = k->c;
  bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
  if (!strcmp(url, "/metrics")) {
    if (!get) return send_error(c, 405, "use GET");
    gl_kv_buf_t b = {0};
    gl_serve_metrics(s, &b);
    enum MHD_Result r = b.oom ? send_error(c, 500, "out of memory")
                              : send_buf(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len, -1);
    gl_kv_buf_fini(&b);
    return r;
  }
  if (k->metrics_only) return send_error(c, 404, "this port serves /metrics only");
  if (is_control(url)) {
    const char *why = unauthorized(s, c);
    if (why) return send_unauthorized(c, why, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION) != NULL);
  }
  if (!strcmp(url, "/v2/health/live")) return get ? send_json(c, 200, "{\"live\":true}") : send_error(c, 405, "use GET");
  if (!strcmp(url, "/v2/health/ready")) {
    if (!get) return send_error(c, 405, "use GET");
    /* ready while some device serves (a failed one degrades, GET /v2/gpulet/plan says how) */
    bool ready = !atomic_load(&s->stopping) && gl_serve_devices_ok(s, NULL) > 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_models; i++)
      if (!strcmp(s->models[i].state, "LOADING")) ready = false;
    pthread_mutex_unlock(&s->mu);
    return send_json(c, ready ? 200 : 503, ready ? "{\"ready\":true}" : "{\"ready\":false}");
  }
  if (!strcmp(url, "/v2")) {
    if (!get) return send_error(c, 405, "use GET");
    return send_json(c, 200, "{\"name\":\"gpulet\",\"version\":\"" GL_VERSION "\",\"extensions\":[\"binary_tensor_data\","
                             "\"model_repository\",\"model_configuration\",\"statistics\",\"schedule_policy\",\"parameters\"]}");
  }
  const gl_web_file_t *wf = gl_serve_web_find(url);
  if (wf) return get ? send_web(c, wf) : send_error(c, 405, "use GET");
  if (!strcmp(url, "/v2/gpulet/replan")) {
    if (!post) return send_error(c, 405, "use POST");
    char reason[16] = "request";
    bool rebuild = false;
    if (k->len) {
      json_t *j = json_loadb(k->body, k->len, 0, NULL);
      json_t *r = json_is_object(j) ? json_object_get(j, "reason") : NULL, *rb = json_is_object(j) ? json_object_get(j, "rebuild") : NULL;
      bool ok = json_is_object(j) && (!r || (json_is_string(r) && strlen(json_string_value(r)) < sizeof reason)) &&
                (!rb || json_is_boolean(rb));
      if (ok && r) snprintf(reason, sizeof reason, "%s", json_string_value(r));
      rebuild = json_is_true(rb);
      json_decref(j);
      if (!ok) return send_error(c, 400, "the body must be {\"reason\": \"...\" (at most 15 characters), \"rebuild\": bool} or empty");
    }
    if (atomic_load(&s->stopping)) return send_error(c, 503, "shutting down");
    /* answered by the control thread once installed; the HTTP thread serves others meanwhile */
    MHD_suspend_connection(c);
    k->submitted = true;
    atomic_fetch_add(&s->suspended, 1);
    if (!gl_sctl_replan_async(s, reason, rebuild, replan_done, k)) {
      k->status = 503;
      snprintf(k->req.err, sizeof k->req.err, "too many re-plan requests waiting; retry");
      MHD_resume_connection(c);
    }
    return MHD_YES;
  }
  if (!strcmp(url, "/v2/gpulet/plan")) {
    if (!get) return send_error(c, 405, "use GET");
    gl_kv_buf_t b = {0};
    gl_serve_plan_json(s, &b);
    enum MHD_Result r = b.oom ? send_error(c, 500, "out of memory") : send_buf(c, 200, "application/json", b.p, b.len, -1);
    gl_kv_buf_fini(&b);
    return r;
  }
  if (!strcmp(url, "/v2/gpulet/overhead")) {
    if (!get) return send_error(c, 405, "use GET");
    gl_kv_buf_t b = {0};
    gl_serve_overhead_json(s, &b);
    enum MHD_Result r = b.oom ? send_error(c, 500, "out of memory") : send_buf(c, 200, "application/json", b.p, b.len, -1);
    gl_kv_buf_fini(&b);
    return r;
  }
  if (!strcmp(url, "/v2/models/stats")) {
    if (!get) return send_error(c, 405, "use GET");
    gl_kv_buf_t b = {0};
    gl_serve_stats_json(s, NULL, &b);
    enum MHD_Result r = b.oom ? send_error(c, 500, "out of memory") : send_buf(c, 200, "application/json", b.p, b.len, -1);
    gl_kv_buf_fini(&b);
    return r;
  }
  if (!strcmp(url, "/v2/repository/index")) return post ? repo_index(k) : send_error(c, 405, "use POST");
  if (!strncmp(url, "/v2/repository/models/", 22)) return post ? repo_action(k, url + 22) : send_error(c, 405, "use POST");
  if (!strncmp(url, "/v2/models/", 11)) {
    char name[128], ver[32];
    model_route_t rt;
    if (!parse_model_path(url, name, sizeof name, ver, sizeof ver, &rt)) return send_error(c, 404, "unknown path");
    if ((rt == R_INFER) != post) return send_error(c, 405, rt == R_INFER ? "use POST" : "use GET");
    gl_smodel_t *m = gl_serve_get(s, name);
    char msg[300];
    if (!m || (ver[0] && strcmp(ver, "1"))) {
      if (m) snprintf(msg, sizeof msg, "model '%s' has no version '%s' (only \"1\")", name, ver);
      else snprintf(msg, sizeof msg, "unknown model '%s' (or not loaded)", name);
      gl_smodel_unref(m);
      if (rt == R_READY && !m && !ver[0]) {
        /* a known-but-unloaded model is not ready rather than unknown */
        bool known = false;
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < s->n_models; i++) known |= !strcmp(s->models[i].name, name);
        pthread_mutex_unlock(&s->mu);
        if (known) return send_jansson(c, 503, json_pack("{s:s,s:b}", "name", name, "ready", 0));
      }
      return send_error(c, 404, msg);
    }
    enum MHD_Result r;
    switch (rt) {
      case R_META: r = model_meta(c, m); break;
      case R_READY: r = send_jansson(c, 200, json_pack("{s:s,s:b}", "name", name, "ready", 1)); break;
      case R_CONFIG: r = model_config(c, m); break;
      case R_STATS: {
        gl_kv_buf_t b = {0};
        gl_serve_stats_json(s, name, &b);
        r = b.oom ? send_error(c, 500, "out of memory") : send_buf(c, 200, "application/json", b.p, b.len, -1);
        gl_kv_buf_fini(&b);
        break;
      }
      default: r = infer(k, m); break;
    }
    gl_smodel_unref(m);
    return r;
  }
  return send_error(c, 404, "unknown path");
}

static enum MHD_Result handler(gl_server_t *s, bool metrics_only, struct MHD_Connection *c, const char *url,
                               const char *method, const char *upload, size_t *upload_size, void **con_cls) {
  conn_t *k = *con_cls;
  if (!k) {
    k = gl_calloc(1, sizeof *k);
    if (!k) return MHD_NO;
    k->s = s;
    k->c = c;
    k->metrics_only = metrics_only;
    k->http_in_ns = gl_now_ns();
    *con_cls = k;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > s->lim.max_body) {
      char msg[128];
      snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->lim.max_body);
      return send_error(c, 413, msg);
    }
    if (atomic_load(&s->open_conns) > s->o.max_connections) {
      char msg[128];
      snprintf(msg, sizeof msg, "too many connections (limit %d)", s->o.max_connections);
      return send_error(c, 503, msg);
    }
    return MHD_YES;
  }
  if (*upload_size) {
    if (!k->too_big) {
      if (k->len + *upload_size > s->lim.max_body) {
        k->too_big = true;
      } else if (!k->busy) {
        if (k->len + *upload_size > k->cap) {
          size_t cap = k->cap ? k->cap : 4096;
          while (cap < k->len + *upload_size) cap *= 2;
          if (cap > s->lim.max_body) cap = s->lim.max_body;
          size_t more = cap - k->cap;
          if (atomic_fetch_add(&s->body_bytes, more) + more > s->o.max_inflight) {
            atomic_fetch_sub(&s->body_bytes, more);
            k->busy = true; /* answered 503 once the body is in */
          } else {
            char *p = gl_realloc(k->body, cap);
            if (!p) { atomic_fetch_sub(&s->body_bytes, more); return MHD_NO; }
            k->body = p;
            k->cap = cap;
          }
        }
        if (!k->busy) {
          memcpy(k->body + k->len, upload, *upload_size);
          k->len += *upload_size;
        }
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (k->submitted) {
    /* resumed: the executor (or the control thread) answered */
    atomic_fetch_sub(&s->suspended, 1);
    k->submitted = false;
    return answer(k);
  }
  if (k->busy) {
    char msg[160];
    snprintf(msg, sizeof msg, "server busy: more than %zu bytes of request bodies in flight; retry", s->o.max_inflight);
    return send_error(c, 503, msg);
  }
  if (k->too_big) {
    char msg[128];
    snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->lim.max_body);
    return send_error(c, 413, msg);
  }
  return route(k, url, method);
}

static enum MHD_Result handler_main(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  return handler(cls, false, c, url, method, upload, upload_size, con_cls);
}

static enum MHD_Result handler_metrics(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                       const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  return handler(cls, true, c, url, method, upload, upload_size, con_cls);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  conn_t *k = *con_cls;
  if (!k) return;
  if (k->submitted) {
    /* never resumed (the daemon is being stopped); the executor has answered already since
     * stop drains the models first, so nothing else holds k */
    atomic_fetch_sub(&k->s->suspended, 1);
  }
  gl_sreq_fini(&k->req);
  gl_kv_buf_fini(&k->out);
  atomic_fetch_sub(&k->s->body_bytes, k->cap);
  gl_free(k->body);
  gl_free(k);
  *con_cls = NULL;
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_ctx, enum MHD_ConnectionNotificationCode t) {
  gl_server_t *s = cls;
  if (t == MHD_CONNECTION_NOTIFY_STARTED) atomic_fetch_add(&s->open_conns, 1);
  else atomic_fetch_sub(&s->open_conns, 1);
}

struct MHD_Daemon *gl_serve_start_daemon(gl_server_t *s, int port, int threads, int conns, bool metrics) {
  struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  if (getaddrinfo(s->listen, ps, &hints, &ai) || !ai) {
    gl_err(GL_EINVAL, "--listen %s: not an address this machine can bind", s->listen);
    return NULL;
  }
  struct sockaddr_storage sa;
  memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
  bool v6 = ai->ai_family == AF_INET6;
  freeaddrinfo(ai);
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
  gl_err(GL_EIO, "cannot listen on %s port %d (in use?)", s->listen, port);
  return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, metrics ? handler_metrics : handler_main, s,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)conns,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->o.max_header,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                          MHD_OPTION_NOTIFY_CONNECTION, notify_conn, s,
                          MHD_OPTION_END);
}
