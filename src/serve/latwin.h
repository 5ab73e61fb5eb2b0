/* serve/latwin.h - a served model's recent request outcomes, for percentiles and SLO attainment.
 * Owns: gl_latwin_t, a fixed ring of the last GL_LATWIN_N outcomes (end time, end-to-end latency,
 * met / missed / rejected / failed). Recording is O(1) under a spin lock of its own (a few stores);
 * reading copies the ring out and sorts the copy. A zeroed gl_latwin_t is empty and ready: it
 * needs no init or fini, so it can live inside a calloc'd model. */
#ifndef GL_SERVE_LATWIN_H
#define GL_SERVE_LATWIN_H

#include <stdatomic.h>
#include <stdint.h>

#define GL_LATWIN_N 1024

typedef enum { GL_LW_MET = 1, GL_LW_MISSED, GL_LW_REJECTED, GL_LW_FAILED } gl_lw_kind_t;

typedef struct {
  atomic_int lock;
  uint32_t next;              /* slots written so far (mod GL_LATWIN_N is the next slot) */
  int64_t end_ns[GL_LATWIN_N];
  int32_t lat_us[GL_LATWIN_N];
  uint8_t kind[GL_LATWIN_N];
} gl_latwin_t;

typedef struct {
  int met, missed, rejected, failed; /* outcomes in the window */
  int answered;                      /* met + missed: those with a latency */
  double p50_ms, p99_ms, p999_ms;    /* end-to-end, nearest rank; < 0 when answered == 0 */
  double attain;                     /* met / (met + missed + rejected + failed); < 0 when none */
} gl_latwin_stats_t;

/* Records one outcome at end_ns (monotonic) with its latency (ignored for rejections). */
void gl_latwin_add(gl_latwin_t *w, int64_t end_ns, int64_t lat_ns, gl_lw_kind_t kind);
/* Summarises the outcomes that ended in (now_ns - window_ns, now_ns]. */
void gl_latwin_stats(gl_latwin_t *w, int64_t now_ns, int64_t window_ns, gl_latwin_stats_t *out);

#endif
