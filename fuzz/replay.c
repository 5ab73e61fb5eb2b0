/* fuzz/replay.c - runs a fuzz target's LLVMFuzzerTestOneInput over files and folders named on the
 * command line, without libFuzzer: the test suite builds every target with it (tests/fuzz.cmake)
 * and replays the regression inputs and seeds on each run, under whichever sanitizer the build
 * has. A target's own oracle (abort) or a sanitizer report fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "replay: cannot open %s\n", path); return 1; }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (!buf) { fprintf(stderr, "replay: out of memory\n"); return 1; }
  /* an exact-size copy, so reads past the input's end are caught like under libFuzzer */
  uint8_t *exact = malloc(n ? n : 1);
  memcpy(exact, buf, n);
  free(buf);
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int files = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb)) { fprintf(stderr, "replay: %s: missing\n", argv[i]); bad++; continue; }
    if (!S_ISDIR(sb.st_mode)) { bad += replay_file(argv[i]); files++; continue; }
    struct dirent **ents = NULL;
    int ne = scandir(argv[i], &ents, NULL, alphasort);
    for (int j = 0; j < ne; j++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], ents[j]->d_name);
      if (ents[j]->d_name[0] != '.' && !stat(path, &sb) && S_ISREG(sb.st_mode) && strcmp(ents[j]->d_name, "README.md")) {
        bad += replay_file(path);
        files++;
      }
      free(ents[j]);
    }
    free(ents);
  }
  printf("replayed %d inputs\n", files);
  return bad || files == 0 ? 1 : 0;
}
