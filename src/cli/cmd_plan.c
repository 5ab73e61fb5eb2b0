/* cli/cmd_plan.c - `gpulet plan`: run a scheduling policy on a scenario and print the plan. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "sched/sched.h"
#include "sim/scenario.h"

int gl_cli_load_profile(const char *arg, gl_profile_t **out);

static void usage(FILE *f) {
  fprintf(f,
          "usage: gpulet plan --profile P --scenario S --policy X [--devices N] [--scale K] [--json]\n"
          "                   [--needed] [--compare OTHER_POLICY] [--fill N] [--quiet] [--step MODEL=F]\n"
          "  P: a profile file or analytic:h100 / analytic:rtx2080ti. S: a scenario file.\n"
          "  X: gpulet, gpulet-int, sbp, triton, static, bound, fine. Rates are the scenario's peak\n"
          "  rates times K (default 1). --needed prints the fewest devices the policy needs;\n"
          "  --compare prints the build/retire diff from OTHER_POLICY's plan to this one.\n"
          "  --fill N scales the rates so the lower bound is 80%% of N devices; --quiet prints one line.\n"
          "  --step MODEL=F then multiplies MODEL's rate by F and re-plans as an epoch does (PAPER.md\n"
          "  §9: incremental first, full when that fails), printing the diff and both plan times.\n");
}

int gl_cmd_plan(int argc, char **argv) {
  static const struct option opts[] = {{"profile", required_argument, 0, 'p'}, {"scenario", required_argument, 0, 's'},
                                       {"policy", required_argument, 0, 'x'},  {"devices", required_argument, 0, 'n'},
                                       {"scale", required_argument, 0, 'k'},   {"json", no_argument, 0, 'j'},
                                       {"needed", no_argument, 0, 'N'},        {"compare", required_argument, 0, 'c'},
                                       {"fill", required_argument, 0, 'f'},    {"quiet", no_argument, 0, 'q'},
                                       {"step", required_argument, 0, 'S'},
                                       {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  const char *prof_path = NULL, *scen_path = NULL, *policy = "gpulet-int", *compare = NULL, *step = NULL;
  int devices = 1, json = 0, needed = 0, quiet = 0, c;
  double fill = 0;
  double scale = 1;
  optind = 1;
  while ((c = getopt_long(argc, argv, "p:s:x:n:k:jNc:f:qS:h", opts, NULL)) != -1) {
    switch (c) {
      case 'p': prof_path = optarg; break;
      case 's': scen_path = optarg; break;
      case 'x': policy = optarg; break;
      case 'n': devices = atoi(optarg); break;
      case 'k': scale = atof(optarg); break;
      case 'j': json = 1; break;
      case 'N': needed = 1; break;
      case 'c': compare = optarg; break;
      case 'f': fill = atof(optarg); break;
      case 'q': quiet = 1; break;
      case 'S': step = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!prof_path || !scen_path || devices < 1 || devices > 1000000 || !(scale >= 0)) {
    usage(stderr);
    return 2;
  }
  gl_profile_t *prof = NULL;
  gl_scenario_t *scen = NULL;
  gl_sched_model_t *models = NULL;
  int rc = 1;
  if (gl_cli_load_profile(prof_path, &prof)) return gl_cli_fail("plan");
  if (gl_scenario_load(scen_path, &scen) < 0) goto fail;
  models = gl_calloc((size_t)scen->n_models, sizeof *models);
  if (!models || gl_scenario_models(scen, prof, scale, models) < 0) goto fail;
  gl_sched_input_t in;
  gl_sched_input_defaults(&in, prof);
  in.n_devices = devices;
  in.n_models = scen->n_models;
  in.models = models;
  if (fill > 0) {
    /* scale the rates so that the lower bound's work is 80% of `fill` devices */
    double w = gl_sched_bound_work(&in);
    if (!(w > 0)) {
      fprintf(stderr, "gpulet plan: --fill needs rates > 0\n");
      goto out;
    }
    scale *= fill * 0.8 / w;
    for (int i = 0; i < in.n_models; i++) models[i].rate *= fill * 0.8 / w;
    printf("scale %.4f: bound work %.2f device(s)\n", scale, gl_sched_bound_work(&in));
  }
  if (needed) {
    int64_t t0 = gl_now_ns();
    int n = gl_sched_devices_needed(policy, &in, 10000); /* plans hold ~10 KB per device */
    printf("%s: %s needs %d device(s) for %s x%.3g (%.1f ms)\n", prof->name, policy, n, scen->name, scale,
           gl_ns_to_ms(gl_now_ns() - t0));
    rc = 0;
    goto out;
  }
  gl_sched_plan_t plan;
  int64_t t0 = gl_now_ns();
  if (gl_sched_plan(policy, &in, &plan) < 0) goto fail;
  double ms = gl_ns_to_ms(gl_now_ns() - t0);
  if (json) {
    if (gl_sched_plan_write_json(&plan, &in, stdout) < 0) {
      gl_sched_plan_fini(&plan);
      goto fail;
    }
  } else if (quiet) {
    printf("policy %s: %s, %d of %d device(s) used, planned in %.2f ms\n", policy,
           plan.feasible ? "feasible" : "INFEASIBLE", plan.devices_used, plan.n_devices, ms);
  } else {
    gl_sched_plan_print(&plan, &in, stdout);
    printf("planned in %.2f ms\n", ms);
  }
  if (compare) {
    gl_sched_plan_t old;
    if (gl_sched_plan(compare, &in, &old) < 0) {
      gl_sched_plan_fini(&plan);
      goto fail;
    }
    int n = gl_sched_plan_diff(&old, &plan, &in, stdout);
    printf("%d change(s) from %s to %s\n", n, compare, policy);
    gl_sched_plan_fini(&old);
  }
  rc = plan.feasible ? 0 : 3;
  if (step && plan.feasible) {
    const char *eq = strchr(step, '=');
    int m = -1;
    for (int i = 0; eq && i < in.n_models; i++)
      if (strlen(models[i].name) == (size_t)(eq - step) && !strncmp(models[i].name, step, (size_t)(eq - step))) m = i;
    double f = eq ? atof(eq + 1) : -1;
    bool *changed = gl_calloc((size_t)in.n_models, sizeof *changed);
    if (m < 0 || !(f >= 0) || !changed) {
      gl_free(changed);
      gl_sched_plan_fini(&plan);
      fprintf(stderr, "gpulet plan: --step wants MODEL=FACTOR with a model of the scenario\n");
      rc = 2;
      goto out;
    }
    changed[m] = true;
    models[m].rate *= f;
    gl_sched_plan_t nw, full;
    bool inc = false;
    t0 = gl_now_ns();
    gl_status_t st = gl_sched_replan(policy, &in, &plan, changed, &nw, &inc);
    double ms_re = gl_ns_to_ms(gl_now_ns() - t0);
    gl_free(changed);
    if (st < 0) {
      gl_sched_plan_fini(&plan);
      goto fail;
    }
    t0 = gl_now_ns();
    st = gl_sched_plan(policy, &in, &full);
    double ms_full = gl_ns_to_ms(gl_now_ns() - t0);
    if (st < 0) {
      gl_sched_plan_fini(&nw), gl_sched_plan_fini(&plan);
      goto fail;
    }
    int n = gl_sched_plan_diff(&plan, &nw, &in, quiet ? NULL : stdout);
    printf("re-plan after %s x%g: %s, %s, %d change(s), %.2f ms (a full plan: %.2f ms, %d change(s))\n",
           models[m].name, f, inc ? "incremental" : "full", nw.feasible ? "feasible" : "INFEASIBLE", n, ms_re,
           ms_full, gl_sched_plan_diff(&plan, &full, &in, NULL));
    rc = nw.feasible ? 0 : 3;
    gl_sched_plan_fini(&nw), gl_sched_plan_fini(&full);
  }
  gl_sched_plan_fini(&plan);
  goto out;
fail:
  rc = gl_cli_fail("plan");
out:
  gl_free(models);
  gl_scenario_destroy(scen);
  gl_profile_destroy(prof);
  return rc;
}
