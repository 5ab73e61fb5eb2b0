/* core/alloc.h - the counting allocator every part of gpulet allocates through.
 * Owns: live and peak byte counts (for metrics and leak checks) and, in test builds, failure
 * injection (the Nth allocation from now fails) so out-of-memory paths can be tested.
 * gl_free/gl_aligned_free accept NULL. Memory from one family must go back to the same family. */
#ifndef GL_CORE_ALLOC_H
#define GL_CORE_ALLOC_H

#include <stddef.h>

void *gl_malloc(size_t n);
void *gl_calloc(size_t count, size_t size);
void *gl_realloc(void *p, size_t n);
void gl_free(void *p);
char *gl_strdup(const char *s);
char *gl_strndup(const char *s, size_t n);

/* 64-byte aligned memory for tensor data; free with gl_aligned_free. */
void *gl_aligned_alloc(size_t n);
void gl_aligned_free(void *p);

size_t gl_alloc_live_bytes(void);
size_t gl_alloc_peak_bytes(void);
size_t gl_alloc_live_count(void);

/* Test hook: make the nth allocation from now fail (1 = the next one); 0 disarms. */
void gl_alloc_fail_after(long n);

/* Grows *arr (element size elem) so it holds at least need elements; *cap is updated.
 * Returns 0 on success, -1 on out of memory (the array is left as it was). */
int gl_grow(void **arr, size_t *cap, size_t need, size_t elem);

#endif
