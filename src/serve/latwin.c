/* serve/latwin.c - the ring of a model's recent outcomes and its percentile summary. */
#include "serve/latwin.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

static void lock(gl_latwin_t *w) {
  while (atomic_exchange_explicit(&w->lock, 1, memory_order_acquire))
    while (atomic_load_explicit(&w->lock, memory_order_relaxed)) sched_yield();
}

static void unlock(gl_latwin_t *w) { atomic_store_explicit(&w->lock, 0, memory_order_release); }

void gl_latwin_add(gl_latwin_t *w, int64_t end_ns, int64_t lat_ns, gl_lw_kind_t kind) {
  int64_t us = lat_ns / 1000;
  if (us < 0) us = 0;
  if (us > INT32_MAX) us = INT32_MAX;
  lock(w);
  uint32_t i = w->next++ % GL_LATWIN_N;
  w->end_ns[i] = end_ns;
  w->lat_us[i] = (int32_t)us;
  w->kind[i] = (uint8_t)kind;
  unlock(w);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* nearest rank: the smallest value with at least p of the sample at or below it */
static double rank_ms(const int32_t *v, int n, double p) {
  int k = (int)(p * n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1] / 1000.0;
}

void gl_latwin_stats(gl_latwin_t *w, int64_t now_ns, int64_t window_ns, gl_latwin_stats_t *out) {
  int32_t lat[GL_LATWIN_N];
  memset(out, 0, sizeof *out);
  int n = 0;
  lock(w);
  uint32_t have = w->next < GL_LATWIN_N ? w->next : GL_LATWIN_N;
  for (uint32_t i = 0; i < have; i++) {
    if (w->end_ns[i] <= now_ns - window_ns || w->end_ns[i] > now_ns) continue;
    switch (w->kind[i]) {
      case GL_LW_MET: out->met++; lat[n++] = w->lat_us[i]; break;
      case GL_LW_MISSED: out->missed++; lat[n++] = w->lat_us[i]; break;
      case GL_LW_REJECTED: out->rejected++; break;
      case GL_LW_FAILED: out->failed++; break;
      default: break;
    }
  }
  unlock(w);
  out->answered = n;
  int all = out->met + out->missed + out->rejected + out->failed;
  out->attain = all ? (double)out->met / all : -1;
  if (!n) {
    out->p50_ms = out->p99_ms = out->p999_ms = -1;
    return;
  }
  qsort(lat, (size_t)n, sizeof *lat, cmp_i32);
  out->p50_ms = rank_ms(lat, n, 0.50);
  out->p99_ms = rank_ms(lat, n, 0.99);
  out->p999_ms = rank_ms(lat, n, 0.999);
}
