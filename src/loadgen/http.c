/* loadgen/http.c - URL parsing, the response-head parser and a blocking request helper. */
#include "loadgen/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"

gl_status_t gl_lg_url_parse(const char *url, gl_lg_url_t *out) {
  memset(out, 0, sizeof *out);
  if (!url || !url[0]) return gl_err(GL_EINVAL, "empty URL");
  if (!strncasecmp(url, "https://", 8)) return gl_err(GL_EUNSUPPORTED, "URL '%s': https is not supported (plain http only)", url);
  const char *p = url;
  if (!strncasecmp(p, "http://", 7)) p += 7;
  else if (strstr(url, "://")) return gl_err(GL_EINVAL, "URL '%s': only http:// is supported", url);
  const char *host = p, *host_end;
  if (*p == '[') { /* [v6]:port */
    host = ++p;
    host_end = strchr(p, ']');
    if (!host_end) return gl_err(GL_EINVAL, "URL '%s': unterminated '['", url);
    p = host_end + 1;
  } else {
    while (*p && *p != ':' && *p != '/') p++;
    host_end = p;
  }
  size_t hl = (size_t)(host_end - host);
  if (hl == 0 || hl >= sizeof out->host) return gl_err(GL_EINVAL, "URL '%s': no host", url);
  memcpy(out->host, host, hl);
  for (size_t i = 0; i < hl; i++)
    if ((unsigned char)out->host[i] <= ' ' || out->host[i] == '@')
      return gl_err(GL_EINVAL, "URL '%s': bad character in the host", url);
  out->port = 80;
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v < 1 || v > 65535 || (*end && *end != '/'))
      return gl_err(GL_EINVAL, "URL '%s': bad port", url);
    out->port = (int)v;
    p = end;
  } else if (*p && *p != '/') {
    return gl_err(GL_EINVAL, "URL '%s': bad host", url);
  }
  size_t pl = strlen(p);
  while (pl > 0 && p[pl - 1] == '/') pl--;
  if (pl >= sizeof out->prefix) return gl_err(GL_EINVAL, "URL '%s': path too long", url);
  memcpy(out->prefix, p, pl);
  for (size_t i = 0; i < pl; i++)
    if ((unsigned char)p[i] <= ' ' || p[i] == '?' || p[i] == '#')
      return gl_err(GL_EINVAL, "URL '%s': bad character in the path", url);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  char port[16];
  snprintf(port, sizeof port, "%d", out->port);
  int rc = getaddrinfo(out->host, port, &hints, &res);
  if (rc || !res) return gl_err(GL_ENOTFOUND, "URL '%s': cannot resolve '%s': %s", url, out->host, gai_strerror(rc));
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return GL_OK;
}

const char *gl_lg_url_where(const gl_lg_url_t *u, char *buf, size_t cap) {
  snprintf(buf, cap, "%s:%d", u->host, u->port);
  return buf;
}

/* ---------- response heads ---------- */

static bool name_is(const char *a, size_t an, const char *b) { return strlen(b) == an && !strncasecmp(a, b, an); }

static bool has_token(const char *v, size_t n, const char *tok) {
  size_t tl = strlen(tok);
  for (size_t i = 0; i + tl <= n; i++)
    if (!strncasecmp(v + i, tok, tl)) return true;
  return false;
}

/* A non-negative decimal in v[0..n) (spaces trimmed), or -1. */
static long long decimal(const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n == 0 || n > 18) return -1;
  long long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

gl_status_t gl_lg_http_head(const char *buf, size_t n, gl_lg_head_t *h) {
  memset(h, 0, sizeof *h);
  h->content_length = -1;
  h->inference_header_len = -1;
  /* the status line can be judged before the head is complete: garbage fails fast */
  static const char proto[] = "HTTP/1.";
  size_t pn = n < 7 ? n : 7;
  if (memcmp(buf, proto, pn)) return gl_err(GL_EPARSE, "not an HTTP/1.x response");
  size_t end = 0;
  for (size_t i = 0; i + 3 < n; i++)
    if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
      end = i + 4;
      break;
    }
  if (!end) {
    if (n >= GL_LG_MAX_HEAD) return gl_err(GL_EPARSE, "response head over %d bytes", GL_LG_MAX_HEAD);
    return GL_AGAIN;
  }
  if (end > GL_LG_MAX_HEAD) return gl_err(GL_EPARSE, "response head over %d bytes", GL_LG_MAX_HEAD);
  h->head_len = end;
  /* status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF */
  if (end < 14 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ') return gl_err(GL_EPARSE, "bad status line");
  bool http10 = buf[7] == '0';
  int st = 0;
  for (int i = 9; i < 12; i++) {
    if (buf[i] < '0' || buf[i] > '9') return gl_err(GL_EPARSE, "bad status code");
    st = st * 10 + (buf[i] - '0');
  }
  if (st < 100 || st > 599 || (buf[12] != ' ' && buf[12] != '\r')) return gl_err(GL_EPARSE, "bad status code");
  h->status = st;
  bool keep_alive = false;
  const char *p = memchr(buf, '\n', end);
  if (p[-1] != '\r') return gl_err(GL_EPARSE, "bad status line");
  p++;
  const char *stop = buf + end - 2; /* the final CRLF */
  while (p < stop) {
    const char *eol = memchr(p, '\n', (size_t)(stop + 2 - p));
    if (!eol || eol == p || eol[-1] != '\r') return gl_err(GL_EPARSE, "bad header line");
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon || colon == p) return gl_err(GL_EPARSE, "header line without a name");
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = (size_t)(eol - 1 - v);
    if (name_is(p, nl, "Content-Length")) {
      long long cl = decimal(v, vl);
      if (cl < 0) return gl_err(GL_EPARSE, "bad Content-Length");
      if (h->content_length >= 0 && h->content_length != cl) return gl_err(GL_EPARSE, "two different Content-Lengths");
      h->content_length = cl;
    } else if (name_is(p, nl, "Connection")) {
      if (has_token(v, vl, "close")) h->close = true;
      if (has_token(v, vl, "keep-alive")) keep_alive = true;
    } else if (name_is(p, nl, "Transfer-Encoding")) {
      if (has_token(v, vl, "chunked")) h->chunked = true;
    } else if (name_is(p, nl, "Inference-Header-Content-Length")) {
      h->inference_header_len = decimal(v, vl);
    }
    p = eol + 1;
  }
  if (http10 && !keep_alive) h->close = true;
  return GL_OK;
}

gl_status_t gl_lg_http_response_len(const char *buf, size_t n, size_t *len) {
  gl_lg_head_t h;
  gl_status_t st = gl_lg_http_head(buf, n, &h);
  if (st) return st;
  if (h.chunked) return gl_err(GL_EUNSUPPORTED, "chunked responses are not supported");
  long long body = h.content_length;
  if (body < 0) {
    if (h.status == 204 || h.status == 304 || h.status < 200) body = 0;
    else return gl_err(GL_EUNSUPPORTED, "response without Content-Length");
  }
  if ((long long)(n - h.head_len) < body) return GL_AGAIN;
  *len = h.head_len + (size_t)body;
  return GL_OK;
}

/* ---------- blocking requests ---------- */

static int wait_fd(int fd, short ev, int64_t deadline_ns) {
  for (;;) {
    int64_t left = deadline_ns - gl_now_ns();
    if (left <= 0) return 0;
    struct pollfd pf = {fd, ev, 0};
    int r = poll(&pf, 1, (int)(left / 1000000 + 1));
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

gl_status_t gl_lg_http_request(const gl_lg_url_t *u, const char *method, const char *path, const char *body,
                               size_t body_len, int timeout_ms, size_t max_bytes, int *status, char **resp_body,
                               size_t *resp_len) {
  *status = 0;
  if (resp_body) *resp_body = NULL;
  if (resp_len) *resp_len = 0;
  char where[300];
  gl_lg_url_where(u, where, sizeof where);
  int64_t deadline = gl_now_ns() + (int64_t)timeout_ms * 1000000;
  int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return gl_err(GL_EIO, "socket: %s", strerror(errno));
  gl_status_t st = GL_OK;
  char *buf = NULL, *req = NULL;
  size_t cap = 0, have = 0;
  if (connect(fd, (const struct sockaddr *)&u->addr, u->addr_len) && errno != EINPROGRESS) {
    st = gl_err(GL_EIO, "cannot connect to %s: %s", where, strerror(errno));
    goto out;
  }
  if (wait_fd(fd, POLLOUT, deadline) <= 0) {
    st = gl_err(GL_ETIMEOUT, "cannot connect to %s: timed out", where);
    goto out;
  }
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
  if (soerr) {
    st = gl_err(GL_EIO, "cannot connect to %s: %s", where, strerror(soerr));
    goto out;
  }
  size_t rl = strlen(method) + strlen(u->prefix) + strlen(path) + strlen(u->host) + 160 + body_len;
  req = gl_malloc(rl);
  if (!req) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
  int hn = snprintf(req, rl,
                    "%s %s%s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    method, u->prefix, path, u->host, u->port, body_len);
  if (body_len) memcpy(req + hn, body, body_len);
  size_t total = (size_t)hn + body_len, off = 0;
  while (off < total) {
    ssize_t w = send(fd, req + off, total - off, MSG_NOSIGNAL);
    if (w > 0) { off += (size_t)w; continue; }
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (wait_fd(fd, POLLOUT, deadline) <= 0) { st = gl_err(GL_ETIMEOUT, "%s %s at %s: timed out sending", method, path, where); goto out; }
      continue;
    }
    st = gl_err(GL_EIO, "%s %s at %s: %s", method, path, where, strerror(errno));
    goto out;
  }
  for (;;) {
    if (have + 4096 + 1 > cap && gl_grow((void **)&buf, &cap, have + 65536 + 1, 1)) {
      st = gl_err(GL_ENOMEM, "out of memory");
      goto out;
    }
    ssize_t r = recv(fd, buf + have, cap - have - 1, 0);
    if (r > 0) {
      have += (size_t)r;
      if (have > max_bytes) { st = gl_err(GL_ELIMIT, "%s %s at %s: response over %zu bytes", method, path, where, max_bytes); goto out; }
      size_t len;
      gl_status_t s2 = gl_lg_http_response_len(buf, have, &len);
      if (s2 == GL_OK) break;
      if (s2 < 0 && s2 != GL_EUNSUPPORTED) { st = gl_err_wrap(s2, "%s %s at %s", method, path, where); goto out; }
      continue;
    }
    if (r == 0) break; /* closed: whatever came is the response (no Content-Length case) */
    if (errno == EAGAIN || errno == EINTR) {
      if (wait_fd(fd, POLLIN, deadline) <= 0) { st = gl_err(GL_ETIMEOUT, "%s %s at %s: no answer within %d ms", method, path, where, timeout_ms); goto out; }
      continue;
    }
    st = gl_err(GL_EIO, "%s %s at %s: %s", method, path, where, strerror(errno));
    goto out;
  }
  gl_lg_head_t h;
  gl_status_t s3 = gl_lg_http_head(buf ? buf : "", have, &h);
  if (s3 == GL_AGAIN) { st = gl_err(GL_EPARSE, "%s %s at %s: connection closed before a full response", method, path, where); goto out; }
  if (s3) { st = gl_err_wrap(s3, "%s %s at %s", method, path, where); goto out; }
  size_t blen = have - h.head_len;
  if (h.content_length >= 0 && (size_t)h.content_length < blen) blen = (size_t)h.content_length;
  if (h.content_length >= 0 && (size_t)h.content_length > blen) { st = gl_err(GL_EPARSE, "%s %s at %s: truncated response", method, path, where); goto out; }
  *status = h.status;
  if (resp_body) {
    *resp_body = gl_malloc(blen + 1);
    if (!*resp_body) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
    memcpy(*resp_body, buf + h.head_len, blen);
    (*resp_body)[blen] = 0;
  }
  if (resp_len) *resp_len = blen;
out:
  gl_free(req);
  gl_free(buf);
  close(fd);
  return st;
}
