/* fuzz/fuzz_config.c - libFuzzer target: a served model's config.json (gl_smodel_read_config) on
 * arbitrary bytes, read from a scratch model folder as the server reads it. Oracles besides the
 * sanitizers: an accepted config has every field inside its documented range, a refused one has a
 * message, and nothing leaks through gpulet's allocator. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "fuzz/fuzz_util.h"
#include "serve/model.h"

static int dirfd_ = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[256];
  if (gl_fuzz_write("config.json", data, size, path, sizeof path)) abort();
  if (dirfd_ < 0) dirfd_ = open(gl_fuzz_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd_ < 0) abort();
  size_t live = gl_alloc_live_count();
  gl_smodel_cfg_t cfg;
  memset(&cfg, 0xa5, sizeof cfg);
  gl_status_t st = gl_smodel_read_config(dirfd_, "m", &cfg);
  if (st == GL_OK) {
    bool ok = cfg.max_batch >= -1 && cfg.max_batch <= GL_BATCH_MAX && cfg.slo_ms > 0 && cfg.slo_ms <= 3.6e6 &&
              cfg.slo_percentile > 0 && cfg.slo_percentile <= 100 && cfg.max_queue >= 1 &&
              cfg.max_queue <= 65536 && cfg.collect_us >= 0 && cfg.collect_us <= 10000000 && cfg.priority >= 0 &&
              cfg.rate >= 0 && cfg.rate <= 1e7 && strlen(cfg.profile_model) < sizeof cfg.profile_model;
    if (!ok) {
      fprintf(stderr, "config accepted with a field out of range\n");
      abort();
    }
  } else if (!gl_errmsg()[0]) {
    fprintf(stderr, "config refused without a message\n");
    abort();
  }
  if (gl_alloc_live_count() != live) {
    fprintf(stderr, "%zu blocks leaked\n", gl_alloc_live_count() - live);
    abort();
  }
  return 0;
}
