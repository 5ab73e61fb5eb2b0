/* cli/cmd_serve.c - `gpulet serve`: run the KServe v2 HTTP server until SIGTERM or SIGINT. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "serve/serve.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet serve [--model-repository DIR] [--models a,b] [--listen ADDR] [--port N]\n"
          "                    [--metrics-port N|-1] [--port-file FILE] [--cache-dir DIR]\n"
          "                    [--max-body BYTES] [--max-elements N] [--max-connections N]\n"
          "                    [--max-header BYTES] [--max-inflight BYTES] [--http-threads N]\n"
          "                    [--cores-per-model N] [--whole] [--no-pin] [--repo-token FILE] [--quiet]\n"
          "                    [--max-inputs N] [--max-model-bytes BYTES] [--max-graph-nodes N]\n"
          "                    [--policy P] [--profile FILE] [--save-profile FILE]\n"
          "                    [--replan-period S] [--rate-window S]\n"
          "                    [--devices cpu|cpu:N|cuda:0,cuda:1[,cpu]] [--partition green|mps|whole]\n"
          "  Serves the models of DIR (one folder per model with model.onnx and config.json) over\n"
          "  HTTP with the KServe v2 protocol on ADDR:N (default 127.0.0.1:8000) and Prometheus\n"
          "  metrics on port 8002. Without a repository it serves a default set of zoo models\n"
          "  (lenet, mobilenetv2; --models picks others: resnet50) written once into the cache folder.\n"
          "  --port 0 picks a free port; --port-file writes the ports chosen (\"PORT METRICS_PORT\").\n"
          "  --repo-token FILE (or $GPULET_REPO_TOKEN holding the token itself): repository control\n"
          "  (/v2/repository/..., /v2/gpulet/replan) then needs \"Authorization: Bearer <token>\".\n"
          "  SIGTERM or SIGINT: stop accepting, answer every admitted request, exit 0.\n"
          "  Limits (defaults): --max-body 64 MiB, --max-elements 16 Mi per tensor, --max-inputs 64\n"
          "  (inputs or requested outputs per request), --max-header 16 KiB, --max-connections 256,\n"
          "  --max-inflight 1 GiB of bodies, --max-model-bytes 2 GiB (model.onnx, checked before\n"
          "  reading), --max-graph-nodes 1000000 (initializers at most as many, values 4x).\n"
          "  Placement: the scheduler's --policy (gpulet, gpulet-int, sbp, triton, static, fine; default\n"
          "  gpulet; none = one core set per model) plans gpu-lets (core sets) over the --profile\n"
          "  (default <cache>/profile-cpu.json, else the analytic CPU profile), re-planned every\n"
          "  --replan-period seconds (10) and when a model's rate over --rate-window seconds (10) moves;\n"
          "  executed batches refine the profile (--save-profile writes it at exit).\n"
          "  Devices: --devices cpu (default: the CPU's cores), cpu:N (the cores split into N equal\n"
          "  devices), cuda:0,cuda:1 (GPUs, gpu-lets on --partition green contexts (default), mps or\n"
          "  the whole GPU), with a trailing cpu as the fallback used once no GPU is left. A device that\n"
          "  fails is dropped and its models re-planned onto the others (GET /v2/gpulet/plan).\n");
}

/* The repository token from FILE (or, without one, from $GPULET_REPO_TOKEN): one line, surrounding
 * whitespace dropped; no space or control character inside. Returns nonzero after saying why. */
static int read_token(const char *file, char *tok, size_t cap) {
  size_t n = 0;
  if (file) {
    FILE *f = fopen(file, "r");
    if (!f) { fprintf(stderr, "gpulet serve: --repo-token %s: %s\n", file, strerror(errno)); return 1; }
    struct stat sb;
    if (!fstat(fileno(f), &sb) && (sb.st_mode & 0077))
      fprintf(stderr, "gpulet serve: warning: the token file %s can be read by other users (chmod 600 it)\n", file);
    n = fread(tok, 1, cap - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) { fprintf(stderr, "gpulet serve: --repo-token %s: over %zu bytes\n", file, cap - 1); return 1; }
  } else {
    const char *e = getenv("GPULET_REPO_TOKEN");
    n = strlen(e);
    if (n >= cap) { fprintf(stderr, "gpulet serve: GPULET_REPO_TOKEN: over %zu bytes\n", cap - 1); return 1; }
    memcpy(tok, e, n);
  }
  tok[n] = 0;
  while (n && isspace((unsigned char)tok[n - 1])) tok[--n] = 0;
  size_t b = 0;
  while (b < n && isspace((unsigned char)tok[b])) b++;
  memmove(tok, tok + b, n - b + 1);
  n -= b;
  for (size_t i = 0; i < n; i++)
    if (isspace((unsigned char)tok[i]) || iscntrl((unsigned char)tok[i])) {
      fprintf(stderr, "gpulet serve: the repository token holds a space or control character (one line, no spaces)\n");
      return 1;
    }
  if (n < 16) {
    fprintf(stderr, "gpulet serve: the repository token is %s (at least 16 characters)\n", n ? "too short" : "empty");
    return 1;
  }
  return 0;
}

int gl_cmd_serve(int argc, char **argv) {
  static const struct option opts[] = {
      {"model-repository", required_argument, 0, 'r'}, {"models", required_argument, 0, 'M'},
      {"listen", required_argument, 0, 'l'},           {"port", required_argument, 0, 'p'},
      {"metrics-port", required_argument, 0, 'm'},     {"port-file", required_argument, 0, 'P'},
      {"cache-dir", required_argument, 0, 'c'},        {"max-body", required_argument, 0, 'B'},
      {"max-elements", required_argument, 0, 'E'},     {"max-connections", required_argument, 0, 'C'},
      {"max-header", required_argument, 0, 'H'},       {"http-threads", required_argument, 0, 'T'},
      {"cores-per-model", required_argument, 0, 'k'},  {"whole", no_argument, 0, 'W'},
      {"no-pin", no_argument, 0, 'P' + 256},
      {"quiet", no_argument, 0, 'q'},                  {"help", no_argument, 0, 'h'},
      {"max-inflight", required_argument, 0, 'I'},
      {"max-inputs", required_argument, 0, 'N'},     {"max-model-bytes", required_argument, 0, 'S'},
      {"max-graph-nodes", required_argument, 0, 'G'},
      {"repo-token", required_argument, 0, 'A'},
      {"policy", required_argument, 0, 'y'},           {"profile", required_argument, 0, 'f'},
      {"save-profile", required_argument, 0, 'O'},     {"replan-period", required_argument, 0, 'e'},
      {"rate-window", required_argument, 0, 'w'},
      {"devices", required_argument, 0, 'D'},          {"partition", required_argument, 0, 'X'},
      {0, 0, 0, 0}};
  gl_serve_opts_t o = {.listen = "127.0.0.1", .port = 8000, .metrics_port = 8002};
  const char *port_file = NULL, *token_file = NULL;
  static char token[4096];
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "r:M:l:p:m:P:c:B:E:C:H:T:k:I:N:S:G:A:y:f:O:e:w:D:X:Wqh", opts, NULL)) != -1) {
    char *end = NULL;
    long long v = 0;
    if (optarg && strchr("pmBECHTkINSG", c)) {
      v = strtoll(optarg, &end, 10);
      if (*end || end == optarg) goto bad;
    }
    switch (c) {
      case 'r': o.repo = optarg; break;
      case 'M': o.models = optarg; break;
      case 'l': o.listen = optarg; break;
      case 'p': if (v < 0 || v > 65535) goto bad; o.port = (int)v; break;
      case 'm': if (v < -1 || v > 65535) goto bad; o.metrics_port = (int)v; break;
      case 'P': port_file = optarg; break;
      case 'c': o.cache_dir = optarg; break;
      case 'B': if (v < 1024) goto bad; o.max_body = (size_t)v; break;
      case 'E': if (v < 1) goto bad; o.max_elements = v; break;
      case 'C': if (v < 1 || v > 100000) goto bad; o.max_connections = (int)v; break;
      case 'H': if (v < 1024 || v > (1 << 24)) goto bad; o.max_header = (size_t)v; break;
      case 'T': if (v < 1 || v > 256) goto bad; o.threads = (int)v; break;
      case 'k': if (v < 1 || v > 4096) goto bad; o.cores_per_model = (int)v; break;
      case 'I': if (v < 4096) goto bad; o.max_inflight = (size_t)v; break;
      case 'N': if (v < 1 || v > 4096) goto bad; o.max_inputs = (int)v; break;
      case 'S': if (v < 1024) goto bad; o.max_model_bytes = (size_t)v; break;
      case 'G': if (v < 1 || v > 100000000) goto bad; o.max_graph_nodes = (int)v; break;
      case 'A': token_file = optarg; break;
      case 'W': o.whole = true; break;
      case 'P' + 256: o.no_pin = true; break;
      case 'y': o.policy = optarg; break;
      case 'D': o.devices = optarg; break;
      case 'X': o.partition = optarg; break;
      case 'f': o.profile = optarg; break;
      case 'O': o.save_profile = optarg; break;
      case 'e': case 'w': {
        double d = strtod(optarg, &end);
        if (*end || end == optarg || !(d >= 0.05 && d <= 86400)) goto bad;
        if (c == 'e') o.replan_period_s = d;
        else o.rate_window_s = d;
        break;
      }
      case 'q': o.quiet = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc) { usage(stderr); return 2; }
  if (token_file || getenv("GPULET_REPO_TOKEN")) {
    if (read_token(token_file, token, sizeof token)) return 2;
    o.repo_token = token;
  }
  /* every thread started from here on inherits the blocked signals; main waits for them */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  gl_server_t *s = NULL;
  if (gl_server_start(&o, &s)) return gl_cli_fail("serve");
  if (o.metrics_port >= 0)
    fprintf(stderr, "gpulet serve: listening on http://%s:%d (metrics on port %d)\n", o.listen, gl_server_port(s),
            gl_server_metrics_port(s));
  else
    fprintf(stderr, "gpulet serve: listening on http://%s:%d (no metrics port; /metrics is served there too)\n",
            o.listen, gl_server_port(s));
  if (port_file) {
    FILE *f = fopen(port_file, "w");
    if (f) {
      fprintf(f, "%d %d\n", gl_server_port(s), gl_server_metrics_port(s));
      fclose(f);
    }
  }
  int sig = 0;
  sigwait(&set, &sig);
  if (!o.quiet) fprintf(stderr, "gpulet serve: signal %d: finishing admitted requests\n", sig);
  gl_server_stop(s);
  if (!o.quiet) fprintf(stderr, "gpulet serve: stopped\n");
  return 0;
bad:
  fprintf(stderr, "gpulet serve: bad value '%s' for an option\n", optarg);
  return 2;
}
