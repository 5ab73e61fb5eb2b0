/* core/stats.h - order statistics over samples (latency percentiles and the like). */
#ifndef GL_CORE_STATS_H
#define GL_CORE_STATS_H

#include <stddef.h>

/* Sorts v ascending in place. */
void gl_sort_doubles(double *v, size_t n);
/* The p-th percentile (0..100) of sorted v by linear interpolation; 0 when n == 0. */
double gl_percentile_sorted(const double *v, size_t n, double p);
double gl_mean(const double *v, size_t n);

#endif
