/* cli/cmd_profile_analytic.c - `gpulet profile --analytic h100|rtx2080ti -o FILE`. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "profile/profile.h"

int gl_cmd_profile_analytic(int argc, char **argv) {
  static const struct option opts[] = {
      {"analytic", required_argument, 0, 'a'}, {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *dev = NULL, *outp = NULL;
  int c;
  /* without --analytic this is a measurement (cmd_profile.c) */
  bool analytic = false;
  for (int i = 1; i < argc; i++) analytic |= !strcmp(argv[i], "--analytic") || !strncmp(argv[i], "--analytic=", 11) || !strcmp(argv[i], "-a");
  if (!analytic) return gl_cmd_profile_measure(argc, argv);
  optind = 1;
  while ((c = getopt_long(argc, argv, "a:o:h", opts, NULL)) != -1) {
    if (c == 'a') dev = optarg;
    else if (c == 'o') outp = optarg;
    else {
      fprintf(c == 'h' ? stdout : stderr,
              "usage: gpulet profile --analytic h100|rtx2080ti -o FILE\n"
              "  Writes a roofline (analytic) latency profile of the 9 research models for the device,\n"
              "  labelled analytic (docs/profile.md).\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (!dev || !outp) {
    fprintf(stderr, "gpulet profile: needs --analytic DEVICE and -o FILE (measuring a real device is not here)\n");
    return 2;
  }
  gl_profile_t *p;
  if (gl_profile_analytic(dev, &p) < 0) return gl_cli_fail("profile");
  gl_status_t st = gl_profile_save(p, outp);
  gl_profile_destroy(p);
  if (st < 0) return gl_cli_fail("profile");
  printf("wrote %s (analytic %s)\n", outp, dev);
  return 0;
}

/* Loads a profile file, or builds one for "analytic:DEVICE". */
int gl_cli_load_profile(const char *arg, gl_profile_t **out) {
  if (!strncmp(arg, "analytic:", 9)) return gl_profile_analytic(arg + 9, out) < 0 ? -1 : 0;
  return gl_profile_load(arg, out) < 0 ? -1 : 0;
}
