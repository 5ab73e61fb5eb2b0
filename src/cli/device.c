/* cli/device.c - the --device option shared by commands: cpu, cuda or cuda:N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/gpu.h"
#include "cli/cli.h"

int gl_cli_backend(const char *cmd, const char *device, gl_backend_t **out) {
  *out = NULL;
  if (!strcmp(device, "cpu")) return gl_cpu_backend_create(out) ? gl_cli_fail("cpu backend") : 0;
  if (!strncmp(device, "cuda", 4) && (device[4] == 0 || device[4] == ':')) {
    char *end = NULL;
    long n = device[4] ? strtol(device + 5, &end, 10) : 0;
    if (device[4] && (*end || n < 0 || n > 1024)) {
      fprintf(stderr, "gpulet %s: bad device '%s' (cpu, cuda, cuda:N)\n", cmd, device);
      return 2;
    }
    return gl_cuda_backend_open((int)n, out) ? gl_cli_fail(device) : 0;
  }
  fprintf(stderr, "gpulet %s: unknown device '%s' (cpu, cuda, cuda:N)\n", cmd, device);
  return 2;
}
