/* tests/onnx/test_corpus.c - replays tests/onnx/corpus/ (inputs that once crashed or fooled the
 * reader, mostly found by fuzz/fuzz_onnx.c) through the model and tensor readers: each must end
 * in an error, never a crash or leak ("ok-*" files are models that must load, save and reload). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "onnx/onnx.h"

static char corpus_dir[1024];

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void replay(const char *name, const uint8_t *buf, size_t len) {
  size_t live = gl_alloc_live_count();
  bool must_load = !strncmp(name, "ok-", 3);
  gl_graph_t *g = NULL;
  gl_status_t st = gl_onnx_load_buffer(buf, len, corpus_dir, NULL, &g);
  if (must_load && st) fail_msg("%s: did not load: %s", name, gl_errmsg());
  if (!must_load && !st) fail_msg("%s: loaded, expected an error", name);
  if (st) {
    assert_null(g);
    if (!gl_errmsg()[0]) fail_msg("%s: an error without a message", name);
  } else {
    void *out;
    size_t n;
    if (gl_onnx_save_buffer(g, "test", &out, &n)) fail_msg("%s: did not save: %s", name, gl_errmsg());
    gl_graph_t *h = NULL;
    if (gl_onnx_load_buffer(out, n, NULL, NULL, &h)) fail_msg("%s: did not reload: %s", name, gl_errmsg());
    gl_graph_destroy(h);
    gl_free(out);
    gl_graph_destroy(g);
  }
  gl_tensor_t t;
  char *tn = NULL;
  if (gl_onnx_read_tensor_buffer(buf, len, &t, &tn) == GL_OK) {
    gl_tensor_fini(&t);
    gl_free(tn);
  }
  if (gl_alloc_live_count() != live) fail_msg("%s: %zu blocks leaked", name, gl_alloc_live_count() - live);
}

static void test_corpus(void **state) {
  (void)state;
  DIR *d = opendir(corpus_dir);
  assert_non_null(d);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, e->d_name);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    replay(e->d_name, buf, len);
    free(buf);
    n++;
  }
  closedir(d);
  assert_true(n > 0);
}

int main(void) {
#ifdef GL_SOURCE_DIR /* tests/CMakeLists.txt: absolute, unlike __FILE__ under ccache's base_dir */
  snprintf(corpus_dir, sizeof corpus_dir, "%s/tests/onnx/corpus", GL_SOURCE_DIR);
#else
  snprintf(corpus_dir, sizeof corpus_dir, "%s", __FILE__);
  char *slash = strrchr(corpus_dir, '/');
  if (slash) snprintf(slash, sizeof corpus_dir - (size_t)(slash - corpus_dir), "/corpus");
  else snprintf(corpus_dir, sizeof corpus_dir, "corpus");
#endif
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
