/* loadgen/http.h - the small HTTP/1.1 client loadgen speaks: URLs, response heads, blocking GETs.
 * Owns: parsing `http://host[:port][/prefix]` into an address, parsing a response head (status,
 * Content-Length, Connection: close, chunked) from bytes that may be incomplete or garbage, and a
 * blocking request helper (metadata, metrics, readiness) with a timeout. Does not own: the
 * non-blocking connections of a run (loadgen.c). No TLS, no chunked bodies, no pipelining. */
#ifndef GL_LOADGEN_HTTP_H
#define GL_LOADGEN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/status.h"

typedef struct {
  char host[256];                 /* as written in the URL (also the Host header) */
  int port;
  char prefix[256];               /* path before /v2 ("" for none), no trailing '/' */
  struct sockaddr_storage addr;   /* resolved once */
  socklen_t addr_len;
} gl_lg_url_t;

/* Parses url (http only) and resolves its host. GL_EINVAL for a malformed URL, GL_EUNSUPPORTED
 * for https, GL_ENOTFOUND when the host does not resolve. */
GL_MUST_USE gl_status_t gl_lg_url_parse(const char *url, gl_lg_url_t *out);

typedef struct {
  int status;                     /* 100..599 */
  size_t head_len;                /* bytes up to and including the blank line */
  long long content_length;       /* -1 when absent */
  bool close;                     /* Connection: close, or HTTP/1.0 without keep-alive */
  bool chunked;                   /* Transfer-Encoding: chunked (loadgen refuses these) */
  long long inference_header_len; /* Inference-Header-Content-Length, -1 when absent */
} gl_lg_head_t;

/* Largest response head loadgen accepts. */
#define GL_LG_MAX_HEAD 16384

/* Parses the response head at buf[0..n). Returns GL_AGAIN when more bytes are needed, GL_OK with
 * *h filled, or GL_EPARSE with a one-line message (garbage, a head over GL_LG_MAX_HEAD, a bad
 * status line or Content-Length). Never reads past buf[n-1]. */
GL_MUST_USE gl_status_t gl_lg_http_head(const char *buf, size_t n, gl_lg_head_t *h);

/* Length of the whole response at buf[0..n) (head + Content-Length body): GL_OK with *len,
 * GL_AGAIN when incomplete, GL_EPARSE / GL_EUNSUPPORTED (chunked, no length) otherwise. */
GL_MUST_USE gl_status_t gl_lg_http_response_len(const char *buf, size_t n, size_t *len);

/* Sends one request on a new connection and reads the whole response (Connection: close).
 * path is appended to the URL's prefix. *body (NUL-terminated, gl_free) and *status are set when
 * a response arrives. Errors: GL_EIO (connect or I/O failure, message names the address),
 * GL_ETIMEOUT, GL_EPARSE, GL_ELIMIT (a response over max_bytes). */
GL_MUST_USE gl_status_t gl_lg_http_request(const gl_lg_url_t *u, const char *method, const char *path,
                                           const char *body, size_t body_len, int timeout_ms,
                                           size_t max_bytes, int *status, char **resp_body,
                                           size_t *resp_len);

/* "host:port" of u for messages. */
const char *gl_lg_url_where(const gl_lg_url_t *u, char *buf, size_t cap);

#endif
