/* core/alloc.c - counting allocator with a small size header before each block. */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16u     /* keeps malloc's 16-byte alignment */
#define AHDR 64u    /* aligned family: header is one cache line */

static atomic_size_t live_bytes, peak_bytes, live_count;
static atomic_long fail_countdown;

static int should_fail(void) {
  long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
  if (c <= 0) return 0;
  c = atomic_fetch_sub(&fail_countdown, 1);
  return c == 1;
}

static void account(ptrdiff_t delta, int dcount) {
  size_t now = atomic_fetch_add(&live_bytes, (size_t)delta) + (size_t)delta;
  atomic_fetch_add(&live_count, (size_t)dcount);
  size_t peak = atomic_load(&peak_bytes);
  while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {
  }
}

void *gl_malloc(size_t n) {
  if (n > SIZE_MAX - HDR || should_fail()) return NULL;
  unsigned char *p = malloc(n + HDR);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  account((ptrdiff_t)n, 1);
  return p + HDR;
}

void *gl_calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = gl_malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

void *gl_realloc(void *q, size_t n) {
  if (!q) return gl_malloc(n);
  if (n > SIZE_MAX - HDR || should_fail()) return NULL;
  unsigned char *base = (unsigned char *)q - HDR;
  size_t old;
  memcpy(&old, base, sizeof old);
  unsigned char *p = realloc(base, n + HDR);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  account((ptrdiff_t)n - (ptrdiff_t)old, 0);
  return p + HDR;
}

void gl_free(void *q) {
  if (!q) return;
  unsigned char *base = (unsigned char *)q - HDR;
  size_t n;
  memcpy(&n, base, sizeof n);
  account(-(ptrdiff_t)n, -1);
  free(base);
}

char *gl_strdup(const char *s) { return s ? gl_strndup(s, strlen(s)) : NULL; }

char *gl_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = gl_malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = 0;
  return d;
}

/* Tensor data is read by vectorised kernels (oneDNN's JIT code among them) that may load a whole
 * vector past the last element; every aligned block is rounded up to whole cache lines plus one
 * spare line so such loads stay inside the block. */
void *gl_aligned_alloc(size_t n) {
  if (n > SIZE_MAX - 3 * AHDR || should_fail()) return NULL;
  void *p = NULL;
  if (posix_memalign(&p, 64, AHDR + ((n + 63) & ~(size_t)63) + 64) != 0) return NULL;
  memcpy(p, &n, sizeof n);
  account((ptrdiff_t)n, 1);
  return (unsigned char *)p + AHDR;
}

void gl_aligned_free(void *q) {
  if (!q) return;
  unsigned char *base = (unsigned char *)q - AHDR;
  size_t n;
  memcpy(&n, base, sizeof n);
  account(-(ptrdiff_t)n, -1);
  free(base);
}

size_t gl_alloc_live_bytes(void) { return atomic_load(&live_bytes); }
size_t gl_alloc_peak_bytes(void) { return atomic_load(&peak_bytes); }
size_t gl_alloc_live_count(void) { return atomic_load(&live_count); }
void gl_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

int gl_grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) ncap *= 2;
  void *p = gl_realloc(*arr, ncap * elem);
  if (!p) return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}
