/* cli/cmd_mps_worker.c - `gpulet mps-worker FD DEVICE`: an MPS gpu-let's worker process, started
 * by the MPS partition kind (part/cuda_mps.c) with its shared region's file descriptor. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "part/cuda_mps.h"

int gl_cmd_mps_worker(int argc, char **argv) {
  char *e1 = NULL, *e2 = NULL;
  long fd = argc == 3 ? strtol(argv[1], &e1, 10) : -1;
  long dev = argc == 3 ? strtol(argv[2], &e2, 10) : -1;
  if (argc != 3 || *e1 || *e2 || fd < 0 || dev < 0) {
    fprintf(stderr, "usage: gpulet mps-worker FD DEVICE (started by gpulet's MPS partitions)\n");
    return 2;
  }
  return gl_part_mps_worker_main((int)fd, (int)dev);
}
