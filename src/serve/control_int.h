/* serve/control_int.h - what the control loop (control.c) and the reorganizer (reorg.c) share:
 * a gpu-let to build (its device, units, duty cycle and members) and the reorganizer's report. */
#ifndef GL_SERVE_CONTROL_INT_H
#define GL_SERVE_CONTROL_INT_H

#include "serve/let.h"
#include "serve/serve_int.h"

typedef struct {
  int dev;          /* server device index */
  int units;
  double duty_ms, occ;
  int n;
  gl_slet_spec_member_t m[GL_PLAN_MAX_MEMBERS];
} gl_sctl_spec_t;

typedef struct {
  int built, kept, reconf, retired;
  double build_ms, switch_ms;
} gl_sctl_reorg_t;

/* Builds sp's gpu-lets beside the current ones (identical ones are kept, unless rebuild), warms
 * them, switches every model's routing, then retires and joins the old ones. On a build error
 * nothing changes. */
gl_status_t gl_sctl_reorganize(gl_server_t *s, gl_sctl_spec_t *sp, int n, gl_smodel_t **ms, int nm, bool rebuild,
                               gl_sctl_reorg_t *r) GL_MUST_USE;

#endif
