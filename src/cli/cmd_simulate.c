/* cli/cmd_simulate.c - `gpulet simulate`: a scenario under a policy on the virtual clock. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "sim/sim.h"

int gl_cli_load_profile(const char *arg, gl_profile_t **out);

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet simulate --profile P --scenario S --policy X [--devices N] [--duration s]\n"
          "                       [--seed n] [--scale K] [--find-max] [--steps n] [--headroom H]\n"
          "                       [--replan s] [--no-jitter] [--collect] [--warmup s] [--trace FILE]\n"
          "                       [--aggregate[=R]] [--threads N] [--split-routing]\n"
          "  Poisson arrivals at the scenario's rates x K; device time from the profile with\n"
          "  interference between co-running gpu-lets. Plans for rate x H (default: x1.2, x1.5 below\n"
          "  125 req/s, PAPER.md §9); re-plans every --replan seconds (default 20, 0 = never).\n"
          "  --find-max bisects K for the throughput under SLO (every model >= its percentile).\n"
          "  --trace FILE replays arrivals (\"<seconds> <model>\" per line) instead of Poisson.\n"
          "  --aggregate simulates R (1) devices per class of identical devices and weights them by\n"
          "  the class size, over --threads N; --split-routing simulates every device with the same\n"
          "  routing (a queue per model and device, arrivals split by the plan's rate shares). Both\n"
          "  keep the first plan (no re-planning); see docs/scheduler.md \"Aggregation\".\n");
}

static void report(const gl_sim_result_t *r, const gl_sched_input_t *in, double scale) {
  printf("%-16s %9s %9s %8s %8s %8s %8s %8s %8s\n", "model", "sent", "served", "slo_met%", "rejected", "p50_ms",
         "p99_ms", "p99.9_ms", "rate");
  double total = 0;
  for (int i = 0; i < r->n_models; i++) {
    const gl_sim_model_stats_t *m = &r->m[i];
    total += in->models[i].rate * scale;
    printf("%-16s %9lld %9lld %8.3f %8lld %8.2f %8.2f %8.2f %8.1f\n", m->name, m->sent, m->served, 100 * m->attain,
           m->rejected, m->p50_ms, m->p99_ms, m->p999_ms, in->models[i].rate * scale);
  }
  printf("plan %s, %d re-plan(s) (%d incremental, %d full; models up %d, down %d; gpu-lets built %lld, kept %lld), "
         "worst SLO attainment %.3f%%, %s\n",
         r->plan_feasible ? "feasible" : "INFEASIBLE", r->replans, r->replans_incremental, r->replans_full,
         r->models_up, r->models_down, r->lets_built, r->lets_kept, 100 * r->min_attain, r->ok ? "OK" : "FAILS SLO");
  printf("total offered rate %.1f req/s; %lld events in %.3f s (%.2f M events/s), %.1f s simulated\n", total,
         r->events, r->wall_s, r->wall_s > 0 ? (double)r->events / r->wall_s / 1e6 : 0, r->sim_s);
}

int gl_cmd_simulate(int argc, char **argv) {
  static const struct option opts[] = {
      {"profile", required_argument, 0, 'p'}, {"scenario", required_argument, 0, 's'},
      {"policy", required_argument, 0, 'x'},  {"devices", required_argument, 0, 'n'},
      {"duration", required_argument, 0, 'd'}, {"seed", required_argument, 0, 'S'},
      {"scale", required_argument, 0, 'k'},   {"find-max", no_argument, 0, 'F'},
      {"steps", required_argument, 0, 't'},   {"headroom", required_argument, 0, 'H'},
      {"replan", required_argument, 0, 'r'},  {"no-jitter", no_argument, 0, 'J'},
      {"collect", no_argument, 0, 'C'},       {"warmup", required_argument, 0, 'w'},
      {"trace", required_argument, 0, 'T'},
      {"aggregate", optional_argument, 0, 'A'}, {"threads", required_argument, 0, 'j'},
      {"split-routing", no_argument, 0, 'R'},
      {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  const char *prof_path = NULL, *scen_path = NULL, *policy = "gpulet-int", *trace_path = NULL;
  long trace_n = 0;
  double *trace_t = NULL;
  int *trace_m = NULL;
  int devices = 1, find = 0, steps = 8, c;
  double duration = -1, scale = 1, headroom = 0, replan = 20, warmup = -1;
  long long seed = -1;
  bool jitter = true, collect = false;
  int agg_reps = 0, agg_threads = 1;
  bool split = false;
  optind = 1;
  while ((c = getopt_long(argc, argv, "p:s:x:n:d:S:k:Ft:H:r:JCw:T:A::j:Rh", opts, NULL)) != -1) {
    switch (c) {
      case 'p': prof_path = optarg; break;
      case 's': scen_path = optarg; break;
      case 'x': policy = optarg; break;
      case 'n': devices = atoi(optarg); break;
      case 'd': duration = atof(optarg); break;
      case 'S': seed = atoll(optarg); break;
      case 'k': scale = atof(optarg); break;
      case 'F': find = 1; break;
      case 't': steps = atoi(optarg); break;
      case 'H': headroom = atof(optarg); break;
      case 'r': replan = atof(optarg); break;
      case 'J': jitter = false; break;
      case 'C': collect = true; break;
      case 'w': warmup = atof(optarg); break;
      case 'T': trace_path = optarg; break;
      case 'A': agg_reps = optarg ? atoi(optarg) : 1; break;
      case 'j': agg_threads = atoi(optarg); break;
      case 'R': split = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (agg_reps < 0 || agg_threads < 1 || agg_threads > 64 || ((agg_reps || split) && (find || trace_path))) {
    usage(stderr);
    return 2;
  }
  if (!prof_path || !scen_path || devices < 1 || devices > 1000000 || !(scale > 0) || steps < 0 || steps > 40) {
    usage(stderr);
    return 2;
  }
  gl_profile_t *prof = NULL;
  gl_scenario_t *scen = NULL;
  gl_sched_model_t *models = NULL;
  int rc = 1;
  if (gl_cli_load_profile(prof_path, &prof)) return gl_cli_fail("simulate");
  if (gl_scenario_load(scen_path, &scen) < 0) goto fail;
  models = gl_calloc((size_t)scen->n_models, sizeof *models);
  if (!models || gl_scenario_models(scen, prof, 1, models) < 0) goto fail;
  gl_sched_input_t in;
  gl_sched_input_defaults(&in, prof);
  in.n_devices = devices;
  in.n_models = scen->n_models;
  in.models = models;
  gl_sim_config_t cfg = {0};
  cfg.in = &in;
  cfg.scen = scen;
  cfg.policy = policy;
  cfg.scale = scale;
  cfg.duration_s = duration > 0 ? duration : scen->duration_s;
  cfg.warmup_s = warmup >= 0 ? warmup : (cfg.duration_s * 0.1 < 2 ? cfg.duration_s * 0.1 : 2);
  cfg.seed = seed >= 0 ? (uint64_t)seed : scen->seed;
  cfg.headroom = headroom;
  cfg.replan_s = replan;
  cfg.jitter = jitter;
  cfg.collect = collect;
  if (trace_path) {
    if (gl_sim_trace_load(trace_path, scen, &trace_n, &trace_t, &trace_m) < 0) goto fail;
    cfg.trace_n = trace_n, cfg.trace_t = trace_t, cfg.trace_model = trace_m;
  }
  printf("simulate %s, policy %s, %d x %s (%s profile), seed %llu, %.1f s\n", scen->name, policy, devices, prof->name,
         prof->analytic ? "analytic" : "measured", (unsigned long long)cfg.seed, cfg.duration_s);
  gl_sim_result_t r;
  if (find) {
    double best;
    if (gl_sim_find_max(&cfg, steps, &best, &r) < 0) goto fail;
    double total = 0;
    for (int i = 0; i < in.n_models; i++) total += models[i].rate * best;
    printf("find-max: scale %.4f, throughput under SLO %.1f req/s\n", best, total);
    if (best > 0) report(&r, &in, best);
  } else if (agg_reps || split) {
    gl_sim_agg_opts_t ao = {.reps = agg_reps > 0 ? agg_reps : 1, .threads = agg_threads, .split_full = split};
    gl_sim_agg_info_t ai;
    if (gl_sim_run_aggregate(&cfg, &ao, &r, &ai) < 0) goto fail;
    report(&r, &in, scale);
    printf("%s: %d devices in use, %d classes (largest %d), %d run(s) on %d thread(s); %lld events stand for "
           "%lld; fixed plan, split routing\n",
           split ? "split routing, every device" : "aggregate", ai.n_devices_used, ai.n_classes, ai.largest_class,
           ai.n_runs, split ? 1 : agg_threads, r.events, ai.events_represented);
  } else {
    if (gl_sim_run(&cfg, &r) < 0) goto fail;
    report(&r, &in, scale);
  }
  rc = find ? 0 : (r.ok ? 0 : 3);
  gl_sim_result_fini(&r);
  goto out;
fail:
  rc = gl_cli_fail("simulate");
out:
  gl_free(trace_t);
  gl_free(trace_m);
  gl_free(models);
  gl_scenario_destroy(scen);
  gl_profile_destroy(prof);
  return rc;
}
