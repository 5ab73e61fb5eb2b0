/* sim/sim_trace.c - reading an arrival trace ("<seconds> <model>" lines) for the simulator. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "sim/sim.h"

gl_status_t gl_sim_trace_load(const char *path, const gl_scenario_t *s, long *n, double **t, int **model) {
  *n = 0, *t = NULL, *model = NULL;
  FILE *f = fopen(path, "r");
  if (!f) return gl_err(GL_EIO, "%s: cannot open", path);
  size_t cap = 0, capm = 0, k = 0;
  char line[512];
  long ln = 0;
  double last = 0;
  gl_status_t st = GL_OK;
  while (fgets(line, sizeof line, f)) {
    ln++;
    char name[64];
    double ts;
    if (!strchr(line, '\n') && !feof(f)) {
      st = gl_err(GL_EPARSE, "%s:%ld: line longer than %zu bytes", path, ln, sizeof line - 2);
      break;
    }
    char *h = strchr(line, '#');
    if (h) *h = 0;
    int got = sscanf(line, "%lf %63s", &ts, name);
    if (got <= 0) continue;
    if (got != 2 || !(ts >= last) || !isfinite(ts)) {
      st = gl_err(GL_EPARSE, "%s:%ld: expected \"<seconds> <model>\" with time ascending", path, ln);
      break;
    }
    int m = -1;
    for (int i = 0; i < s->n_models; i++)
      if (!strcmp(s->models[i].name, name)) m = i;
    if (m < 0) {
      st = gl_err(GL_EPARSE, "%s:%ld: model '%s' is not in scenario %s", path, ln, name, s->name);
      break;
    }
    if (gl_grow((void **)t, &cap, k + 1, sizeof **t) || gl_grow((void **)model, &capm, k + 1, sizeof **model)) {
      st = gl_err(GL_ENOMEM, "%s: out of memory", path);
      break;
    }
    (*t)[k] = ts, (*model)[k] = m, last = ts;
    k++;
  }
  fclose(f);
  if (st == GL_OK && k == 0) st = gl_err(GL_EPARSE, "%s: no arrivals", path);
  if (st < 0) {
    gl_free(*t), gl_free(*model);
    *t = NULL, *model = NULL;
    return st;
  }
  *n = (long)k;
  return GL_OK;
}
