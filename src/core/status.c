/* core/status.c - status names and the per-thread last error message. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GL_ERRMSG_MAX 1024
static _Thread_local char errbuf[GL_ERRMSG_MAX];

const char *gl_status_name(gl_status_t s) {
  switch (s) {
#define GL__S(name, code, msg) \
  case name:                   \
    return #name;
    GL_STATUS_MAP(GL__S)
#undef GL__S
  }
  return "GL_UNKNOWN";
}

const char *gl_status_str(gl_status_t s) {
  switch (s) {
#define GL__S(name, code, msg) \
  case name:                   \
    return msg;
    GL_STATUS_MAP(GL__S)
#undef GL__S
  }
  return "unknown status";
}

gl_status_t gl_err(gl_status_t s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return s;
}

gl_status_t gl_err_wrap(gl_status_t s, const char *fmt, ...) {
  char prefix[256], old[GL_ERRMSG_MAX - 260];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  size_t keep = strnlen(errbuf, sizeof old - 1);
  memcpy(old, errbuf, keep);
  old[keep] = 0;
  if (old[0])
    snprintf(errbuf, sizeof errbuf, "%s: %s", prefix, old);
  else
    snprintf(errbuf, sizeof errbuf, "%s: %s", prefix, gl_status_str(s));
  return s;
}

const char *gl_errmsg(void) { return errbuf; }
void gl_err_clear(void) { errbuf[0] = 0; }

void gl__assert_fail(const char *what, const char *file, int line) {
  fprintf(stderr, "gpulet: assertion failed: %s (%s:%d)\n", what, file, line);
  abort();
}
