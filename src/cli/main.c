/* cli/main.c - `gpulet <command> ...`: dispatches to the command table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/status.h"

static const struct {
  const char *name;
  gl_cmd_fn fn;
  const char *help;
} commands[] = {
    {"run", gl_cmd_run, "run an ONNX model: shapes, checksum, latency percentiles"},
    {"doctor", gl_cmd_doctor, "what this machine supports (CPU, ISA, OpenMP, CUDA) and what gpulet uses"},
    {"check-onnx", gl_cmd_check_onnx, "run ONNX test cases (model.onnx + test_data_set_*) and compare outputs"},
    {"zoo", gl_cmd_zoo, "write a standard model (ResNet-50, BERT...) as ONNX with seeded weights"},
    {"plan", gl_cmd_plan, "plan gpu-lets for a scenario with a scheduling policy"},
    {"simulate", gl_cmd_simulate, "simulate a scenario under a policy on a virtual clock"},
    {"profile", gl_cmd_profile_analytic, "write an analytic latency profile (--analytic h100|rtx2080ti)"},
    {"serve", gl_cmd_serve, "serve models over HTTP (KServe v2 / Open Inference Protocol)"},
    {"gpulets", gl_cmd_gpulets, "GPU partition benchmark on green-context gpu-lets (for the GPU checklist)"},
    {"mps-worker", gl_cmd_mps_worker, "an MPS gpu-let's worker process (started by gpulet itself)"},
    {"demo", gl_cmd_demo, "serve a model mix with gpu-lets and with time-sharing, load both, print them side by side"},
    {"loadgen", gl_cmd_loadgen, "open-loop Poisson or trace load against a KServe v2 server: SLO attainment, percentiles"},
};

int gl_cli_fail(const char *what) {
  const char *msg = gl_errmsg();
  if (what && what[0])
    fprintf(stderr, "gpulet: %s: %s\n", what, msg[0] ? msg : "failed");
  else
    fprintf(stderr, "gpulet: %s\n", msg[0] ? msg : "failed");
  return 1;
}

static void usage(FILE *f) {
  fprintf(f, "usage: gpulet <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n`gpulet <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("gpulet %s\n", GL_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "gpulet: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
