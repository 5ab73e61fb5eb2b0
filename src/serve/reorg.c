/* serve/reorg.c - the reorganizer: builds a new plan's gpu-lets beside the serving ones (identical
 * ones kept, same-model ones reconfigured in place), warms them, switches every model's routing,
 * then retires and joins the old ones. control.c decides when and what. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/control_int.h"
#include "serve/let.h"


static void publish_lets(gl_sctl_t *c, gl_slet_t **a, int na, gl_slet_t **b, int nb) {
  pthread_mutex_lock(&c->mu);
  c->n_lets = 0;
  for (int i = 0; i < na && c->n_lets < GL_SERVE_MAX_LETS; i++) c->lets[c->n_lets++] = a[i];
  for (int i = 0; i < nb && c->n_lets < GL_SERVE_MAX_LETS; i++) c->lets[c->n_lets++] = b[i];
  pthread_mutex_unlock(&c->mu);
}

/* m has no gpu-let left (every device failed): its queued requests are answered 503 at once
 * rather than waiting for a device that will not come back. */
static void fail_queued(gl_smodel_t *m) {
  for (;;) {
    gl_req_t rq[GL_BATCH_MAX];
    pthread_mutex_lock(&m->mu);
    int n = m->n_lets ? 0 : gl_dqueue_pop(&m->q, GL_BATCH_MAX, rq);
    m->st.fail_rejected += n;
    pthread_mutex_unlock(&m->mu);
    if (n == 0) return;
    for (int k = 0; k < n; k++) {
      gl_sreq_t *r = (gl_sreq_t *)(intptr_t)rq[k].id;
      r->http_status = 503;
      snprintf(r->err, sizeof r->err, "model '%s': no device is left to serve it (see GET /v2/gpulet/plan)", m->name);
      gl_sreq_finish(r);
    }
    pthread_mutex_lock(&m->mu);
    m->in_flight -= n;
    pthread_cond_broadcast(&m->idle_cv);
    pthread_mutex_unlock(&m->mu);
  }
}

gl_status_t gl_sctl_reorganize(gl_server_t *s, gl_sctl_spec_t *sp, int n, gl_smodel_t **ms, int nm, bool rebuild,
                               gl_sctl_reorg_t *r) {
  gl_sctl_t *c = &s->ctl;
  int64_t t0 = gl_now_ns();
  gl_slet_t *old[GL_SERVE_MAX_LETS], *nw[GL_SERVE_MAX_LETS];
  bool keep_old[GL_SERVE_MAX_LETS] = {0}, fresh[GL_SERVE_MAX_LETS] = {0};
  pthread_mutex_lock(&c->mu);
  int n_old = c->n_lets;
  memcpy(old, c->lets, sizeof(gl_slet_t *) * (size_t)n_old);
  pthread_mutex_unlock(&c->mu);
  if (n > GL_SERVE_MAX_LETS) n = GL_SERVE_MAX_LETS;
  static int used_all[GL_SERVE_MAX_DEVS][256]; /* replan_mu held */
  memset(used_all, 0, sizeof used_all);
  for (int i = 0; i < n; i++) {
    nw[i] = NULL;
    int *used = used_all[sp[i].dev];
    for (int j = 0; j < n_old && !rebuild; j++)
      if (!keep_old[j] && old[j]->sdev == &s->devs[sp[i].dev].sd && gl_slet_same(old[j], sp[i].units, sp[i].duty_ms, sp[i].m, sp[i].n)) {
        keep_old[j] = true;
        nw[i] = old[j];
        /* kept as it runs; its predictions and rates follow the live profile and the new plan */
        for (int k = 0; k < sp[i].n; k++) {
          gl_slet_member_t *e = &old[j]->mem[k];
          pthread_mutex_lock(&e->m->mu);
          memcpy(e->pred_ms, sp[i].m[k].pred_ms, sizeof e->pred_ms);
          e->rate = sp[i].m[k].rate;
          e->drift_n = 0;
          e->drift_obs = e->drift_pred = 0;
          pthread_mutex_unlock(&e->m->mu);
        }
        for (int k = 0; k < old[j]->n_cores; k++) used[old[j]->cores[k] - s->devs[sp[i].dev].base]++;
        break;
      }
  }
  /* same members on the same units with other batches: reconfigured in place (no rebuild) */
  bool reconf[GL_SERVE_MAX_LETS] = {0};
  for (int i = 0; i < n && !rebuild; i++) {
    if (nw[i]) continue;
    int *used = used_all[sp[i].dev];
    for (int j = 0; j < n_old; j++)
      if (!keep_old[j] && old[j]->sdev == &s->devs[sp[i].dev].sd && gl_slet_same_members(old[j], sp[i].units, sp[i].m, sp[i].n)) {
        keep_old[j] = true;
        nw[i] = old[j];
        reconf[i] = true;
        for (int k = 0; k < old[j]->n_cores; k++) used[old[j]->cores[k] - s->devs[sp[i].dev].base]++;
        break;
      }
  }
  gl_status_t st = GL_OK;
  for (int i = 0; i < n && !st; i++) {
    if (nw[i]) continue;
    gl_sdev_t *dv = &s->devs[sp[i].dev];
    int *used = used_all[sp[i].dev];
    gl_part_dev_info_t di;
    gl_part_dev_info(dv->pd, &di);
    int C = dv->units;
    /* the whole CPU, the whole GPU: every gpu-let gets all of it */
    bool whole = di.kind == GL_PART_CPU_WHOLE || di.kind == GL_PART_VIRTUAL;
    int u = whole ? C : sp[i].units < 1 ? 1 : sp[i].units > C ? C : sp[i].units;
    int cores[256];
    u = gl_serve_pick_units(&di, C, u, used, cores);
    for (int k = 0; k < u; k++) used[cores[k]]++, cores[k] += dv->base;
    st = gl_slet_start_on(&dv->sd, dv->pd, cores, u, sp[i].units, sp[i].duty_ms, sp[i].occ, sp[i].m, sp[i].n, gl_sctl_observe, gl_sctl_peek,
                       s, ++c->next_let_id, &nw[i]);
    if (!st) fresh[i] = true;
  }
  for (int i = 0; i < n && !st; i++)
    if (fresh[i]) st = gl_slet_wait_ready(nw[i]);
  if (st) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", gl_errmsg());
    for (int i = 0; i < n; i++)
      if (fresh[i]) gl_slet_destroy(nw[i]);
    return gl_err(st, "%s", msg);
  }
  int64_t t1 = gl_now_ns();
  for (int i = 0; i < n; i++)
    if (reconf[i]) gl_slet_reconfigure(nw[i], sp[i].duty_ms, sp[i].occ, sp[i].m, sp[i].n);
  /* the switch: new gpu-lets pull from their queues; each model's routing is swapped at once */
  for (int i = 0; i < n; i++)
    if (fresh[i]) gl_slet_serve(nw[i]);
  publish_lets(c, nw, n, NULL, 0);
  for (int q = 0; q < nm; q++) {
    gl_smodel_t *m = ms[q];
    pthread_mutex_lock(&m->mu);
    m->n_lets = 0;
    for (int i = 0; i < n; i++)
      if (gl_slet_member_of(nw[i], m) >= 0 && m->n_lets < GL_SMODEL_MAX_LETS) m->lets[m->n_lets++] = nw[i];
    gl_smodel_refresh_service(m);
    for (int i = 0; i < m->n_lets; i++) gl_slet_kick(m->lets[i]);
    pthread_mutex_unlock(&m->mu);
  }
  /* models of old gpu-lets that are no longer planned (unloaded) lose their routing */
  for (int j = 0; j < n_old; j++) {
    if (keep_old[j]) continue;
    for (int k = 0; k < old[j]->n_members; k++) {
      gl_smodel_t *m = old[j]->mem[k].m;
      pthread_mutex_lock(&m->mu);
      int w = 0;
      for (int i = 0; i < m->n_lets; i++)
        if (m->lets[i] != old[j]) m->lets[w++] = m->lets[i];
      m->n_lets = w;
      gl_smodel_refresh_service(m);
      pthread_mutex_unlock(&m->mu);
    }
  }
  gl_slet_t *ret[GL_SERVE_MAX_LETS];
  int n_ret = 0;
  for (int j = 0; j < n_old; j++)
    if (!keep_old[j]) {
      ret[n_ret++] = old[j];
      gl_slet_retire(old[j]);
    }
  publish_lets(c, nw, n, ret, n_ret);
  for (int j = 0; j < n_ret; j++) {
    pthread_mutex_lock(&c->mu); /* taken out of the published list before it is freed */
    int w = 0;
    for (int i = 0; i < c->n_lets; i++)
      if (c->lets[i] != ret[j]) c->lets[w++] = c->lets[i];
    c->n_lets = w;
    pthread_mutex_unlock(&c->mu);
    gl_slet_destroy(ret[j]);
  }
  for (int q = 0; q < nm; q++) fail_queued(ms[q]);
  int64_t t2 = gl_now_ns();
  for (int i = 0; i < n; i++) r->built += fresh[i], r->reconf += reconf[i];
  r->kept = n - r->built - r->reconf;
  r->retired = n_ret;
  r->build_ms = gl_ns_to_ms(t1 - t0);
  r->switch_ms = gl_ns_to_ms(t2 - t0);
  return GL_OK;
}
