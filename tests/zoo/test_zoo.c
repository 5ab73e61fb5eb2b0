/* tests/zoo/test_zoo.c - zoo models have the published sizes, seeded weights and a dynamic batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "zoo/zoo.h"

static gl_graph_t *build(const char *name, uint64_t seed, int64_t batch) {
  gl_zoo_opts_t o = {.seed = seed, .batch = batch, .seq = 128};
  gl_graph_t *g = NULL;
  gl_status_t st = gl_zoo_build(name, &o, &g);
  if (st) fprintf(stderr, "%s: %s\n", name, gl_errmsg());
  assert_int_equal(st, GL_OK);
  assert_non_null(g);
  return g;
}

/* Every model's parameter count is within 1% of the published one. */
static void test_params_match_published(void **state) {
  (void)state;
  for (int i = 0; i < gl_zoo_count(); i++) {
    const gl_zoo_info_t *info = gl_zoo_info(i);
    gl_graph_t *g = build(info->name, 1, 0);
    gl_zoo_stats_t st;
    gl_zoo_stats(g, &st);
    double rel = (double)(st.params - info->published_params) / (double)info->published_params;
    printf("%-14s params %11lld (published %11lld, %+.3f%%) MACs %8.3f G, %d nodes\n", info->name,
           (long long)st.params, (long long)info->published_params, rel * 100, (double)st.macs / 1e9,
           st.n_nodes);
    assert_true(rel < 0.01 && rel > -0.01);
    assert_true(st.macs > 0);
    gl_graph_destroy(g);
  }
}

static void test_resnet50_macs(void **state) {
  (void)state;
  gl_graph_t *g = build("resnet50", 1, 0);
  gl_zoo_stats_t st;
  gl_zoo_stats(g, &st);
  double rel = ((double)st.macs - 4.1e9) / 4.1e9;
  assert_true(rel < 0.03 && rel > -0.03);
  assert_int_equal(st.params, 25557032); /* torchvision's exact count */
  gl_graph_destroy(g);
}

/* A fixed batch scales the multiply-adds; a dynamic one leaves a symbolic "batch" dim. */
static void test_batch(void **state) {
  (void)state;
  gl_graph_t *d = build("lenet", 1, 0), *f = build("lenet", 1, 8);
  const gl_value_t *in = &d->values[d->inputs[0]];
  assert_int_equal(in->shape.rank, 4);
  assert_true(in->shape.d[0] < 0);
  assert_non_null(in->dim_param[0]);
  assert_string_equal(in->dim_param[0], "batch");
  const gl_value_t *out = &d->values[d->outputs[0]];
  assert_string_equal(out->name, "logits");
  assert_non_null(out->dim_param[0]);
  const gl_value_t *fin = &f->values[f->inputs[0]];
  assert_int_equal(fin->shape.d[0], 8);
  assert_null(fin->dim_param[0]);
  gl_zoo_stats_t sd, sf;
  gl_zoo_stats(d, &sd);
  gl_zoo_stats(f, &sf);
  assert_int_equal(sd.params, sf.params);
  assert_int_equal(sf.macs, 8 * sd.macs);
  assert_int_equal(sd.macs, 416520);
  gl_graph_destroy(d);
  gl_graph_destroy(f);
}

/* Hash of every constant's bytes, in value order. */
static uint64_t const_hash(const gl_graph_t *g) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < g->n_values; i++) {
    const gl_tensor_t *t = g->values[i].data;
    if (!t) continue;
    const unsigned char *p = t->data;
    for (size_t k = 0, n = gl_tensor_nbytes(t); k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
  }
  return h;
}

static void test_deterministic(void **state) {
  (void)state;
  gl_graph_t *a = build("mobilenetv2", 7, 0), *b = build("mobilenetv2", 7, 0), *c = build("mobilenetv2", 8, 0);
  assert_int_equal(a->n_values, b->n_values);
  assert_true(const_hash(a) == const_hash(b));
  assert_true(const_hash(a) != const_hash(c));
  gl_graph_destroy(a);
  gl_graph_destroy(b);
  gl_graph_destroy(c);
}

/* BN scales are not the identity and running variances are positive. */
static void test_weights_sane(void **state) {
  (void)state;
  gl_graph_t *g = build("resnet50", 3, 1);
  int n_bn = 0;
  for (int ni = 0; ni < g->n_nodes; ni++) {
    const gl_node_t *n = &g->nodes[ni];
    if (strcmp(n->op_type, "BatchNormalization")) continue;
    n_bn++;
    const gl_tensor_t *gamma = gl_in(g, n, 1)->data, *var = gl_in(g, n, 4)->data;
    assert_non_null(gamma);
    assert_non_null(var);
    double gs = 0;
    int64_t c = gamma->shape.d[0];
    for (int64_t i = 0; i < c; i++) {
      float gv = ((float *)gamma->data)[i], vv = ((float *)var->data)[i];
      assert_true(gv >= 0.5f && gv <= 1.5f);
      assert_true(vv > 0.0f);
      gs += gv;
    }
    assert_true(gs / (double)c > 0.85 && gs / (double)c < 1.15);
  }
  assert_int_equal(n_bn, 53);
  gl_graph_destroy(g);
}

static void test_unknown_and_bad(void **state) {
  (void)state;
  gl_graph_t *g = (gl_graph_t *)1;
  assert_int_equal(gl_zoo_build("alexnet", NULL, &g), GL_ENOTFOUND);
  assert_null(g);
  gl_zoo_opts_t o = {.seed = 1, .seq = 4096};
  assert_int_equal(gl_zoo_build("bert-base", &o, &g), GL_EINVAL);
  assert_null(g);
  assert_null(gl_zoo_find("nope"));
  assert_non_null(gl_zoo_find("bert-base"));
}

static void test_bert_shapes(void **state) {
  (void)state;
  gl_zoo_opts_t o = {.seed = 1, .batch = 0, .seq = 16};
  gl_graph_t *g = NULL;
  assert_int_equal(gl_zoo_build("bert-base", &o, &g), GL_OK);
  assert_int_equal(g->opset, 17);
  assert_int_equal(g->n_inputs, 1);
  const gl_value_t *in = &g->values[g->inputs[0]];
  assert_int_equal(in->dtype, GL_DT_I64);
  assert_true(in->shape.d[0] < 0);
  assert_int_equal(in->shape.d[1], 16);
  assert_int_equal(g->n_outputs, 2);
  const gl_value_t *h = &g->values[g->outputs[0]];
  assert_int_equal(h->shape.rank, 3);
  assert_int_equal(h->shape.d[1], 16);
  assert_int_equal(h->shape.d[2], 768);
  gl_graph_destroy(g);
}

/* The written ONNX bytes are a function of the seed, and read back to the same graph. */
static void test_onnx_bytes(void **state) {
  (void)state;
  void *a = NULL, *b = NULL, *c = NULL;
  size_t la = 0, lb = 0, lc = 0;
  gl_graph_t *g1 = build("googlenet", 5, 0), *g2 = build("googlenet", 5, 0), *g3 = build("googlenet", 6, 0);
  assert_int_equal(gl_onnx_save_buffer(g1, "gpulet zoo", &a, &la), GL_OK);
  assert_int_equal(gl_onnx_save_buffer(g2, "gpulet zoo", &b, &lb), GL_OK);
  assert_int_equal(gl_onnx_save_buffer(g3, "gpulet zoo", &c, &lc), GL_OK);
  assert_true(la > 4 * 6624904);
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  assert_int_equal(la, lc);
  assert_true(memcmp(a, c, la) != 0);
  gl_graph_t *r = NULL;
  assert_int_equal(gl_onnx_load_buffer(a, la, NULL, NULL, &r), GL_OK);
  gl_zoo_stats_t s1, sr;
  gl_zoo_stats(g1, &s1);
  gl_zoo_stats(r, &sr);
  assert_int_equal(sr.params, s1.params);
  assert_int_equal(sr.n_nodes, s1.n_nodes);
  assert_int_equal(r->opset, 13);
  const gl_value_t *in = &r->values[r->inputs[0]];
  assert_non_null(in->dim_param[0]);
  assert_string_equal(in->dim_param[0], "batch");
  assert_int_equal(in->shape.d[2], 224);
  gl_graph_destroy(r);
  gl_free(a);
  gl_free(b);
  gl_free(c);
  gl_graph_destroy(g1);
  gl_graph_destroy(g2);
  gl_graph_destroy(g3);
}

/* Every allocation failure while building is reported, leaks nothing and leaves *out NULL. */
static void test_out_of_memory(void **state) {
  (void)state;
#ifdef GL_TESTING
  gl_zoo_opts_t o = {.seed = 1, .batch = 0, .seq = 8};
  const char *names[2] = {"lenet", "bert-base"};
  for (int m = 0; m < 2; m++) {
    int failures = 0;
    /* LeNet: every allocation in turn; BERT: its first 40 (embeddings, position ids) */
    for (long n = 1; n < (m ? 40 : 100000); n++) {
      gl_graph_t *g = (gl_graph_t *)1;
      gl_alloc_fail_after(n);
      gl_status_t st = gl_zoo_build(names[m], &o, &g);
      gl_alloc_fail_after(0);
      if (st == GL_OK) {
        assert_non_null(g);
        gl_graph_destroy(g);
        break;
      }
      assert_int_equal(st, GL_ENOMEM);
      assert_null(g);
      failures++;
    }
    assert_true(failures >= 39);
  }
#else
  skip();
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_params_match_published), cmocka_unit_test(test_resnet50_macs),
      cmocka_unit_test(test_batch),                  cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_weights_sane),           cmocka_unit_test(test_unknown_and_bad),
      cmocka_unit_test(test_bert_shapes),            cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_onnx_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
