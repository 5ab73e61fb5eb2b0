/* core/clock.h - monotonic time in nanoseconds and small timing helpers.
 * Only the real-time drivers (server, profiler, run) read this clock; batch/ and sched/ take
 * "now" as an argument so the simulator can drive them with a virtual clock. */
#ifndef GL_CORE_CLOCK_H
#define GL_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t gl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline double gl_ns_to_ms(int64_t ns) { return (double)ns / 1e6; }

#endif
