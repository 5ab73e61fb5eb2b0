/* fuzz/fuzz_util.h - helpers shared by the fuzz targets: a scratch folder on tmpfs for parsers that
 * read files, and writing an input there. Header-only so each target stays one file. */
#ifndef GL_FUZZ_UTIL_H
#define GL_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes (once) a private scratch folder, on /dev/shm when there is one. */
static inline const char *gl_fuzz_dir(void) {
  static char dir[96];
  if (!dir[0]) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/gl_fuzz.%ld", base, (long)getpid());
    if (mkdir(dir, 0700) && access(dir, W_OK)) abort();
  }
  return dir;
}

/* Replaces dir/name with the given bytes; returns 0 on success. */
static inline int gl_fuzz_write(const char *name, const void *data, size_t size, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", gl_fuzz_dir(), name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < size) {
    ssize_t k = write(fd, (const char *)data + off, size - off);
    if (k <= 0) { close(fd); return -1; }
    off += (size_t)k;
  }
  close(fd);
  return 0;
}

/* A NUL-terminated copy of the input (parsers of text take C strings); free() it. */
static inline char *gl_fuzz_cstr(const void *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  for (size_t i = 0; i < size; i++) s[i] = ((const char *)data)[i];
  s[size] = 0;
  return s;
}

#endif
