/* core/log.c - stderr logger; the level comes from GPULET_LOG on first use. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int level = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

gl_log_level_t gl_log_level(void) {
  if (level < 0) {
    const char *e = getenv("GPULET_LOG");
    level = GL_LOG_WARN;
    if (e) {
      if (!strcmp(e, "error")) level = GL_LOG_ERROR;
      else if (!strcmp(e, "info")) level = GL_LOG_INFO;
      else if (!strcmp(e, "debug")) level = GL_LOG_DEBUG;
    }
  }
  return (gl_log_level_t)level;
}

void gl_log_set_level(gl_log_level_t lvl) { level = (int)lvl; }

void gl_log(gl_log_level_t lvl, const char *fmt, ...) {
  if ((int)lvl > (int)gl_log_level()) return;
  static const char *names[] = {"error", "warn", "info", "debug"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  pthread_mutex_lock(&mu);
  fprintf(stderr, "%02d:%02d:%02d.%03ld gpulet %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
          ts.tv_nsec / 1000000, names[lvl], msg);
  pthread_mutex_unlock(&mu);
}
