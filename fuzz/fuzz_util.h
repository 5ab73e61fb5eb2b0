/* fuzz/fuzz_util.h - helpers shared by the fuzz targets: a scratch folder on tmpfs for parsers that
 * read files, and writing an input there. Header-only so each target stays one file. */
#ifndef GL_FUZZ_UTIL_H
#define GL_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char gl_fuzz_dir_[96];

/* Removes the scratch folder and the files the targets write there (at exit). */
static void gl_fuzz_cleanup(void) {
  static const char *files[] = {"config.json", "trace.txt"};
  char p[160];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", gl_fuzz_dir_, files[i]);
    unlink(p);
  }
  rmdir(gl_fuzz_dir_);
}

/* Makes (once) a private scratch folder, on /dev/shm when there is one. */
static inline const char *gl_fuzz_dir(void) {
  if (!gl_fuzz_dir_[0]) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(gl_fuzz_dir_, sizeof gl_fuzz_dir_, "%s/gl_fuzz.%ld", base, (long)getpid());
    if (mkdir(gl_fuzz_dir_, 0700) && access(gl_fuzz_dir_, W_OK)) abort();
    atexit(gl_fuzz_cleanup);
  }
  return gl_fuzz_dir_;
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
