/* core/stats.c - percentiles and means. */
#include "core/stats.h"

#include <stdlib.h>

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void gl_sort_doubles(double *v, size_t n) {
  if (n > 1) qsort(v, n, sizeof *v, cmp_d);
}

double gl_percentile_sorted(const double *v, size_t n, double p) {
  if (n == 0) return 0;
  if (p <= 0) return v[0];
  if (p >= 100) return v[n - 1];
  double pos = p / 100.0 * (double)(n - 1);
  size_t i = (size_t)pos;
  double f = pos - (double)i;
  return i + 1 < n ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

double gl_mean(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  return n ? s / (double)n : 0;
}
