/* tests/backend/test_cpu_tensor.c - the tensor op family on the CPU backend: shape inference,
 * kernels over hand-built graphs, constant folding of shape arithmetic, and clean errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "core/alloc.h"
#include "engine/engine.h"

/* ---- graph building ---- */

static int val(gl_graph_t *g, const char *name, gl_dtype_t t, gl_shape_t s) {
  int v = gl_graph_add_value(g, name);
  assert_true(v >= 0);
  g->values[v].dtype = t;
  g->values[v].shape = s;
  return v;
}

static int input(gl_graph_t *g, const char *name, gl_dtype_t t, gl_shape_t s) {
  int v = val(g, name, t, s);
  assert_int_equal(gl_graph_add_input(g, v), GL_OK);
  return v;
}

static int cnst(gl_graph_t *g, gl_dtype_t t, gl_shape_t s, const void *data) {
  int v = gl_graph_add_value(g, NULL);
  assert_true(v >= 0);
  gl_tensor_t tt = {0};
  assert_int_equal(gl_tensor_alloc(&tt, t, &s), GL_OK);
  memcpy(tt.data, data, gl_tensor_nbytes(&tt));
  assert_int_equal(gl_value_set_const(g, v, &tt), GL_OK);
  return v;
}

static int ci64(gl_graph_t *g, int n, const int64_t *d) { return cnst(g, GL_DT_I64, (gl_shape_t){1, {n}}, d); }

/* Adds a node with one output (a new value) and returns the output's index. */
static int node(gl_graph_t *g, const char *op, const char *name, const int *ins, int nin) {
  int o = gl_graph_add_value(g, NULL);
  assert_true(o >= 0);
  assert_true(gl_graph_add_node(g, op, name, ins, nin, &o, 1) >= 0);
  return o;
}

static void attr_i(gl_graph_t *g, const char *name, int64_t v) {
  gl_attr_t *a = gl_node_add_attr(g, g->n_nodes - 1, name, GL_ATTR_INT);
  assert_non_null(a);
  a->i = v;
}

static void attr_f(gl_graph_t *g, const char *name, float v) {
  gl_attr_t *a = gl_node_add_attr(g, g->n_nodes - 1, name, GL_ATTR_FLOAT);
  assert_non_null(a);
  a->f = v;
}

static void attr_s(gl_graph_t *g, const char *name, const char *s) {
  gl_attr_t *a = gl_node_add_attr(g, g->n_nodes - 1, name, GL_ATTR_STRING);
  assert_non_null(a);
  a->s = gl_strdup(s);
  a->s_len = strlen(s);
}

static void attr_ints(gl_graph_t *g, const char *name, int n, const int64_t *v) {
  gl_attr_t *a = gl_node_add_attr(g, g->n_nodes - 1, name, GL_ATTR_INTS);
  assert_non_null(a);
  a->ints = gl_malloc(sizeof(int64_t) * (size_t)n);
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  a->n = n;
}

static gl_graph_t *new_graph(int64_t opset) {
  gl_graph_t *g = gl_graph_create();
  assert_non_null(g);
  g->opset = opset;
  return g;
}

/* ---- compiling and running ---- */

typedef struct {
  gl_backend_t *be;
  gl_model_t *m;
  gl_plan_t *p;
  gl_tensor_t out[8];
} run_t;

/* Compiles g (ownership moves) for batch and returns the status; on success r->p is ready. */
static gl_status_t compile(run_t *r, gl_graph_t *g, int64_t batch) {
  memset(r, 0, sizeof *r);
  assert_int_equal(gl_cpu_backend_create(&r->be), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  assert_int_equal(gl_model_from_graph(g, &r->m), GL_OK);
  gl_compile_opts_t o = {.batch = batch};
  return gl_model_compile(r->m, r->be, &o, &r->p);
}

/* Runs with the given input data pointers (shapes from the plan). */
static gl_status_t run(run_t *r, void **data) {
  gl_tensor_t in[8];
  for (int i = 0; i < r->p->n_inputs; i++) {
    in[i] = r->p->inputs[i];
    in[i].data = data[i];
    in[i].owns = false;
  }
  for (int i = 0; i < r->p->n_outputs; i++) gl_tensor_fini(&r->out[i]);
  assert_int_equal(gl_plan_alloc_outputs(r->p, r->out), GL_OK);
  return gl_plan_run(r->p, in, r->out);
}

static void done(run_t *r) {
  for (int i = 0; r->p && i < r->p->n_outputs; i++) gl_tensor_fini(&r->out[i]);
  gl_plan_destroy(r->p);
  gl_model_destroy(r->m);
  gl_backend_destroy(r->be);
}

static void expect_f32(const gl_tensor_t *t, const float *want, int n) {
  assert_int_equal(gl_shape_numel(&t->shape), n);
  for (int i = 0; i < n; i++)
    if (fabsf(((float *)t->data)[i] - want[i]) > 1e-5f) {
      print_error("element %d: got %g, want %g\n", i, ((float *)t->data)[i], want[i]);
      fail();
    }
}

static void expect_i64(const gl_tensor_t *t, const int64_t *want, int n) {
  assert_int_equal(gl_shape_numel(&t->shape), n);
  for (int i = 0; i < n; i++) assert_int_equal(((int64_t *)t->data)[i], want[i]);
}

static void iota(float *x, int n) {
  for (int i = 0; i < n; i++) x[i] = (float)i;
}

/* ---- tests ---- */

static void test_transpose(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){3, {2, 3, 4}});
  int y = node(g, "Transpose", "t", &x, 1);
  attr_ints(g, "perm", 3, (int64_t[]){2, 0, 1});
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[24], want[24];
  iota(xd, 24);
  /* y[k][i][j] = x[i][j][k] */
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++) want[(k * 2 + i) * 3 + j] = xd[(i * 3 + j) * 4 + k];
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  gl_shape_t s = {3, {4, 2, 3}};
  assert_true(gl_shape_eq(&r.out[0].shape, &s));
  expect_f32(&r.out[0], want, 24);
  done(&r);
}

/* A transpose big enough for the tiled loop (int64) and the oneDNN reorder (float), both checked
 * against the definition. */
static void test_transpose_tiled(void **state) {
  gl_graph_t *g = new_graph(13);
  int a = input(g, "a", GL_DT_I64, (gl_shape_t){3, {3, 20, 17}});
  int b = input(g, "b", GL_DT_F32, (gl_shape_t){3, {3, 20, 17}});
  int y = node(g, "Transpose", "ti", &a, 1);
  attr_ints(g, "perm", 3, (int64_t[]){0, 2, 1});
  int z = node(g, "Transpose", "tf", &b, 1);
  attr_ints(g, "perm", 3, (int64_t[]){2, 0, 1});
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  static int64_t ad[1020];
  static float bd[1020];
  for (int i = 0; i < 1020; i++) ad[i] = 1000000 + i, bd[i] = (float)i * 0.5f;
  assert_int_equal(run(&r, (void *[]){ad, bd}), GL_OK);
  const int64_t *yd = r.out[0].data;
  const float *zd = r.out[1].data;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 20; j++)
      for (int k = 0; k < 17; k++) {
        assert_int_equal(yd[(i * 17 + k) * 20 + j], ad[(i * 20 + j) * 17 + k]);
        assert_true(zd[(k * 3 + i) * 20 + j] == bd[(i * 20 + j) * 17 + k]);
      }
  done(&r);
}

static void test_slice_negative_step(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {3, 5}});
  /* x[:, 4:0:-2] and rows from -2 to the end (clamped) */
  int ins[5] = {x, ci64(g, 2, (int64_t[]){-2, 4}), ci64(g, 2, (int64_t[]){100, 0}),
                ci64(g, 2, (int64_t[]){0, -1}), ci64(g, 2, (int64_t[]){1, -2})};
  int y = node(g, "Slice", "s", ins, 5);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[15];
  iota(xd, 15);
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  float want[] = {9, 7, 14, 12};
  expect_f32(&r.out[0], want, 4);
  done(&r);
}

static void test_concat_split(void **state) {
  gl_graph_t *g = new_graph(13);
  int a = input(g, "a", GL_DT_F32, (gl_shape_t){2, {2, 1}});
  int b = input(g, "b", GL_DT_F32, (gl_shape_t){2, {2, 3}});
  int c = node(g, "Concat", "c", (int[]){a, b}, 2);
  attr_i(g, "axis", -1);
  int outs[2] = {gl_graph_add_value(g, "p"), gl_graph_add_value(g, "q")};
  int ins[2] = {c, ci64(g, 2, (int64_t[]){3, 1})};
  assert_true(gl_graph_add_node(g, "Split", "sp", ins, 2, outs, 2) >= 0);
  attr_i(g, "axis", 1);
  assert_int_equal(gl_graph_add_output(g, outs[0]), GL_OK);
  assert_int_equal(gl_graph_add_output(g, outs[1]), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float ad[] = {1, 2}, bd[] = {10, 11, 12, 20, 21, 22};
  assert_int_equal(run(&r, (void *[]){ad, bd}), GL_OK);
  expect_f32(&r.out[0], (float[]){1, 10, 11, 2, 20, 21}, 6);
  expect_f32(&r.out[1], (float[]){12, 22}, 2);
  done(&r);
}

static void test_gather_negative_and_out_of_range(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {3, 2}});
  int i = input(g, "i", GL_DT_I64, (gl_shape_t){1, {2}});
  int y = node(g, "Gather", "gather_rows", (int[]){x, i}, 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {0, 1, 2, 3, 4, 5};
  int64_t id[] = {-1, 0};
  assert_int_equal(run(&r, (void *[]){xd, id}), GL_OK);
  expect_f32(&r.out[0], (float[]){4, 5, 0, 1}, 4);
  int64_t bad[] = {1, 3};
  assert_int_equal(run(&r, (void *[]){xd, bad}), GL_EINVAL);
  assert_non_null(strstr(gl_errmsg(), "gather_rows"));
  assert_non_null(strstr(gl_errmsg(), "index 3"));
  done(&r);
}

static void test_pad_modes(void **state) {
  static const char *modes[] = {"constant", "reflect", "edge"};
  static const float want[3][7] = {{9, 9, 1, 2, 3, 9, 9}, {3, 2, 1, 2, 3, 2, 1}, {1, 1, 1, 2, 3, 3, 3}};
  for (int m = 0; m < 3; m++) {
    gl_graph_t *g = new_graph(13);
    int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {1, 3}});
    float nine = 9;
    int ins[3] = {x, ci64(g, 4, (int64_t[]){0, 2, 0, 2}), cnst(g, GL_DT_F32, (gl_shape_t){0, {0}}, &nine)};
    int y = node(g, "Pad", "pad", ins, 3);
    attr_s(g, "mode", modes[m]);
    assert_int_equal(gl_graph_add_output(g, y), GL_OK);
    run_t r;
    assert_int_equal(compile(&r, g, 0), GL_OK);
    float xd[] = {1, 2, 3};
    assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
    expect_f32(&r.out[0], want[m], 7);
    done(&r);
  }
}

static void test_resize_linear_and_nearest(void **state) {
  /* 1x1x2x2 upsampled x2: linear half_pixel, then nearest asymmetric floor */
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){4, {1, 1, 2, 2}});
  float sc[] = {1, 1, 2, 2};
  int s = cnst(g, GL_DT_F32, (gl_shape_t){1, {4}}, sc);
  int y = node(g, "Resize", "lin", (int[]){x, -1, s}, 3);
  attr_s(g, "mode", "linear");
  int z = node(g, "Resize", "near", (int[]){x, -1, s}, 3);
  attr_s(g, "coordinate_transformation_mode", "asymmetric");
  attr_s(g, "nearest_mode", "floor");
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {1, 2, 3, 4};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  float lin[] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
  expect_f32(&r.out[0], lin, 16);
  float near[] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  expect_f32(&r.out[1], near, 16);
  done(&r);
}

/* Linear over the first and last axes (sizes, align_corners), and tf_crop_and_resize nearest. */
static void test_resize_outer_axis_and_crop(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){3, {2, 1, 2}});
  int y = node(g, "Resize", "ac", (int[]){x, -1, -1, ci64(g, 3, (int64_t[]){3, 1, 3})}, 4);
  attr_s(g, "mode", "linear");
  attr_s(g, "coordinate_transformation_mode", "align_corners");
  float roi[] = {0, 0, 0, 1, 1, 1.5f};
  int z = node(g, "Resize", "crop",
               (int[]){x, cnst(g, GL_DT_F32, (gl_shape_t){1, {6}}, roi), -1, ci64(g, 3, (int64_t[]){1, 1, 3})}, 4);
  attr_s(g, "coordinate_transformation_mode", "tf_crop_and_resize");
  attr_f(g, "extrapolation_value", -9);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {1, 3, 5, 7};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  expect_f32(&r.out[0], (float[]){1, 2, 3, 3, 4, 5, 5, 6, 7}, 9);
  /* dim 0: one output at roi centre 0.5 -> 0.5 rounds (prefer floor) to 0; last dim over
   * [0, 1.5] of a 2-long axis: coordinates 0, 0.75, 1.5 -> 0, 1, outside (extrapolated) */
  expect_f32(&r.out[1], (float[]){1, 3, -9}, 3);
  done(&r);
}

static void test_depth_space_roundtrip(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){4, {1, 8, 2, 3}});
  int y = node(g, "DepthToSpace", "d2s", &x, 1);
  attr_i(g, "blocksize", 2);
  attr_s(g, "mode", "DCR");
  int z = node(g, "SpaceToDepth", "s2d", &y, 1);
  attr_i(g, "blocksize", 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[48];
  iota(xd, 48);
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  /* y[0][c][h*2+i][w*2+j] = x[0][(i*2+j)*2+c][h][w] */
  float *yd = r.out[0].data;
  for (int c = 0; c < 2; c++)
    for (int h = 0; h < 2; h++)
      for (int i = 0; i < 2; i++)
        for (int w = 0; w < 3; w++)
          for (int j = 0; j < 2; j++)
            assert_true(yd[(c * 4 + h * 2 + i) * 6 + w * 2 + j] == xd[(((i * 2 + j) * 2 + c) * 2 + h) * 3 + w]);
  expect_f32(&r.out[1], xd, 48);
  done(&r);
}

static void test_expand_tile_int64(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_I64, (gl_shape_t){2, {2, 1}});
  int y = node(g, "Expand", "e", (int[]){x, ci64(g, 3, (int64_t[]){2, 1, 3})}, 2);
  int z = node(g, "Tile", "t", (int[]){x, ci64(g, 2, (int64_t[]){2, 2})}, 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  int64_t xd[] = {5, 7};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  expect_i64(&r.out[0], (int64_t[]){5, 5, 5, 7, 7, 7, 5, 5, 5, 7, 7, 7}, 12);
  expect_i64(&r.out[1], (int64_t[]){5, 5, 7, 7, 5, 5, 7, 7}, 8);
  done(&r);
}

static void test_scatter_gather_nd(void **state) {
  gl_graph_t *g = new_graph(16);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {3, 2}});
  int idx = ci64(g, 2, (int64_t[]){2, 0});
  g->values[idx].shape = (gl_shape_t){2, {2, 1}};
  g->values[idx].data->shape = g->values[idx].shape;
  float ud[] = {10, 20, 30, 40};
  int u = cnst(g, GL_DT_F32, (gl_shape_t){2, {2, 2}}, ud);
  int y = node(g, "ScatterND", "snd", (int[]){x, idx, u}, 3);
  attr_s(g, "reduction", "add");
  int z = node(g, "GatherND", "gnd", (int[]){y, idx}, 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_add_output(g, z), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {1, 2, 3, 4, 5, 6};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  expect_f32(&r.out[0], (float[]){31, 42, 3, 4, 15, 26}, 6);
  expect_f32(&r.out[1], (float[]){15, 26, 31, 42}, 4);
  done(&r);
}

/* x[N,3,4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [12])): the shape chain folds. */
static gl_graph_t *shape_chain(void) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){3, {-1, 3, 4}});
  int s = node(g, "Shape", "shape", &x, 1);
  int64_t zero = 0;
  int i0 = cnst(g, GL_DT_I64, (gl_shape_t){0, {0}}, &zero);
  int n = node(g, "Gather", "gather", (int[]){s, i0}, 2);
  int u = node(g, "Unsqueeze", "unsq", (int[]){n, ci64(g, 1, (int64_t[]){0})}, 2);
  int c = node(g, "Concat", "cat", (int[]){u, ci64(g, 1, (int64_t[]){12})}, 2);
  attr_i(g, "axis", 0);
  int y = node(g, "Reshape", "reshape", (int[]){x, c}, 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  return g;
}

static void test_shape_chain_folds(void **state) {
  gl_model_t *m;
  assert_int_equal(gl_model_from_graph(shape_chain(), &m), GL_OK);
  gl_compile_opts_t o = {.batch = 2};
  gl_graph_t *pg;
  assert_int_equal(gl_model_prepare(m, &o, &pg), GL_OK);
  int live = 0;
  for (int i = 0; i < pg->n_nodes; i++)
    if (!pg->nodes[i].dead) {
      live++;
      assert_string_equal(pg->nodes[i].op_type, "Reshape");
      const gl_value_t *sv = gl_in(pg, &pg->nodes[i], 1);
      assert_non_null(sv->data);
      expect_i64(sv->data, (int64_t[]){2, 12}, 2);
    }
  assert_int_equal(live, 1);
  gl_graph_destroy(pg);
  gl_model_destroy(m);

  for (int64_t batch = 2; batch <= 5; batch += 3) {
    run_t r;
    assert_int_equal(compile(&r, shape_chain(), batch), GL_OK);
    float xd[5 * 12];
    iota(xd, (int)batch * 12);
    assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
    gl_shape_t want = {2, {batch, 12}};
    assert_true(gl_shape_eq(&r.out[0].shape, &want));
    expect_f32(&r.out[0], xd, (int)batch * 12);
    done(&r);
  }
}

static void test_misc_small_ops(void **state) {
  gl_graph_t *g = new_graph(14);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {3, 3}});
  int tr = node(g, "Trilu", "triu", (int[]){x, cnst(g, GL_DT_I64, (gl_shape_t){0, {0}}, (int64_t[]){1})}, 2);
  int eye = node(g, "EyeLike", "eye", &x, 1);
  attr_i(g, "k", -1);
  int oh = node(g, "OneHot", "oh",
                (int[]){ci64(g, 2, (int64_t[]){1, -1}), cnst(g, GL_DT_I64, (gl_shape_t){0, {0}}, (int64_t[]){3}),
                        cnst(g, GL_DT_F32, (gl_shape_t){1, {2}}, (float[]){0, 5})},
                3);
  int rg = node(g, "Range", "rg",
                (int[]){cnst(g, GL_DT_I32, (gl_shape_t){0, {0}}, (int32_t[]){10}),
                        cnst(g, GL_DT_I32, (gl_shape_t){0, {0}}, (int32_t[]){4}),
                        cnst(g, GL_DT_I32, (gl_shape_t){0, {0}}, (int32_t[]){-3})},
                3);
  assert_int_equal(gl_graph_add_output(g, tr), GL_OK);
  assert_int_equal(gl_graph_add_output(g, eye), GL_OK);
  assert_int_equal(gl_graph_add_output(g, oh), GL_OK);
  assert_int_equal(gl_graph_add_output(g, rg), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[9];
  iota(xd, 9);
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  expect_f32(&r.out[0], (float[]){0, 1, 2, 0, 0, 5, 0, 0, 0}, 9);
  expect_f32(&r.out[1], (float[]){0, 0, 0, 1, 0, 0, 0, 1, 0}, 9);
  expect_f32(&r.out[2], (float[]){0, 5, 0, 0, 0, 5}, 6);
  assert_int_equal(gl_shape_numel(&r.out[3].shape), 2);
  assert_int_equal(((int32_t *)r.out[3].data)[0], 10);
  assert_int_equal(((int32_t *)r.out[3].data)[1], 7);
  done(&r);
}

/* Opset 9: Slice, Pad, Unsqueeze and Split take attributes; Upsample takes a scales input. */
static void test_old_opsets(void **state) {
  gl_graph_t *g = new_graph(9);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {2, 4}});
  int sl = node(g, "Slice", "sl", &x, 1);
  attr_ints(g, "starts", 1, (int64_t[]){1});
  attr_ints(g, "ends", 1, (int64_t[]){1000});
  attr_ints(g, "axes", 1, (int64_t[]){1});
  int pd = node(g, "Pad", "pd", &x, 1);
  attr_ints(g, "pads", 4, (int64_t[]){0, 1, 0, -2});
  attr_f(g, "value", -1);
  int un = node(g, "Unsqueeze", "un", &x, 1);
  attr_ints(g, "axes", 2, (int64_t[]){0, 3});
  int sp[2] = {gl_graph_add_value(g, NULL), gl_graph_add_value(g, NULL)};
  assert_true(gl_graph_add_node(g, "Split", "sp", &x, 1, sp, 2) >= 0);
  attr_i(g, "axis", 1);
  attr_ints(g, "split", 2, (int64_t[]){1, 3});
  int up = node(g, "Upsample", "up", (int[]){x, cnst(g, GL_DT_F32, (gl_shape_t){1, {2}}, (float[]){1, 2})}, 2);
  int outs[] = {sl, pd, un, sp[1], up};
  for (int i = 0; i < 5; i++) assert_int_equal(gl_graph_add_output(g, outs[i]), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {0, 1, 2, 3, 4, 5, 6, 7};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  expect_f32(&r.out[0], (float[]){1, 2, 3, 5, 6, 7}, 6);
  expect_f32(&r.out[1], (float[]){-1, 0, 1, -1, 4, 5}, 6);
  gl_shape_t us = {4, {1, 2, 4, 1}};
  assert_true(gl_shape_eq(&r.out[2].shape, &us));
  expect_f32(&r.out[3], (float[]){1, 2, 3, 5, 6, 7}, 6);
  expect_f32(&r.out[4], (float[]){0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}, 16);
  done(&r);
}

/* Opset 3: Reshape's shape and Pad's paddings are attributes; Concat's axis defaults to 1. */
static void test_legacy_opsets(void **state) {
  gl_graph_t *g = new_graph(3);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {2, 3}});
  int rs = node(g, "Reshape", "rs", &x, 1);
  attr_ints(g, "shape", 2, (int64_t[]){3, -1});
  int ct = node(g, "Concat", "ct", (int[]){x, x}, 2);
  int pd = node(g, "Pad", "pd", &x, 1);
  attr_ints(g, "paddings", 4, (int64_t[]){0, 0, 1, 0});
  int outs[] = {rs, ct, pd};
  for (int i = 0; i < 3; i++) assert_int_equal(gl_graph_add_output(g, outs[i]), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {0, 1, 2, 3, 4, 5};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  gl_shape_t s32 = {2, {3, 2}}, s26 = {2, {2, 6}}, s33 = {2, {3, 3}};
  assert_true(gl_shape_eq(&r.out[0].shape, &s32));
  assert_true(gl_shape_eq(&r.out[1].shape, &s26));
  expect_f32(&r.out[1], (float[]){0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}, 12);
  assert_true(gl_shape_eq(&r.out[2].shape, &s33));
  expect_f32(&r.out[2], (float[]){0, 1, 2, 3, 4, 5, 0, 0, 0}, 9);
  done(&r);
}

static void test_reverse_sequence(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {3, 2}}); /* [time, batch] */
  int l = input(g, "l", GL_DT_I64, (gl_shape_t){1, {2}});
  int y = node(g, "ReverseSequence", "rs", (int[]){x, l}, 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[] = {0, 10, 1, 11, 2, 12};
  assert_int_equal(run(&r, (void *[]){xd, (int64_t[]){2, 3}}), GL_OK);
  expect_f32(&r.out[0], (float[]){1, 12, 0, 11, 2, 10}, 6);
  assert_int_equal(run(&r, (void *[]){xd, (int64_t[]){4, 3}}), GL_EINVAL);
  done(&r);
}

/* Shape (start/end), Size, Constant and ConstantOfShape all become constants at compile time. */
static void test_constants_and_shape(void **state) {
  gl_graph_t *g = new_graph(15);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){4, {2, 3, 4, 5}});
  int sh = node(g, "Shape", "sh", &x, 1);
  attr_i(g, "start", 1);
  attr_i(g, "end", -1);
  int sz = node(g, "Size", "sz", &x, 1);
  int c = node(g, "Constant", "c", NULL, 0);
  attr_ints(g, "value_ints", 2, (int64_t[]){7, -7});
  int cs = node(g, "ConstantOfShape", "cos", &sh, 1);
  gl_attr_t *a = gl_node_add_attr(g, g->n_nodes - 1, "value", GL_ATTR_TENSOR);
  a->t = gl_calloc(1, sizeof *a->t);
  assert_int_equal(gl_tensor_alloc(a->t, GL_DT_I32, &(gl_shape_t){1, {1}}), GL_OK);
  *(int32_t *)a->t->data = 9;
  int outs[] = {sh, sz, c, cs};
  for (int i = 0; i < 4; i++) assert_int_equal(gl_graph_add_output(g, outs[i]), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  float xd[120] = {0};
  assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
  expect_i64(&r.out[0], (int64_t[]){3, 4}, 2);
  expect_i64(&r.out[1], (int64_t[]){120}, 1);
  expect_i64(&r.out[2], (int64_t[]){7, -7}, 2);
  assert_int_equal(r.out[3].dtype, GL_DT_I32);
  gl_shape_t want = {2, {3, 4}};
  assert_true(gl_shape_eq(&r.out[3].shape, &want));
  for (int i = 0; i < 12; i++) assert_int_equal(((int32_t *)r.out[3].data)[i], 9);
  done(&r);
}

/* Resize with its scales as a float graph input: compiling binds the input an error names (and
 * only that one: x stays a run-time input); a run with other scales is refused. */
static void test_bind_named_float_input(void **state) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {1, 2}});
  int sc = input(g, "scales", GL_DT_F32, (gl_shape_t){1, {2}});
  int y = node(g, "Resize", "rz", (int[]){x, -1, sc}, 3);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(gl_graph_toposort(g), GL_OK);
  run_t r;
  memset(&r, 0, sizeof r);
  assert_int_equal(gl_cpu_backend_create(&r.be), GL_OK);
  assert_int_equal(gl_model_from_graph(g, &r.m), GL_OK);
  float xd[] = {1, 2}, sd[] = {1, 2}, other[] = {1, 3};
  gl_tensor_t vals[2] = {{.dtype = GL_DT_F32, .shape = {2, {1, 2}}, .data = xd},
                         {.dtype = GL_DT_F32, .shape = {1, {2}}, .data = sd}};
  gl_compile_opts_t o = {0};
  assert_int_equal(gl_model_compile(r.m, r.be, &o, &r.p), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "scales"));
  o.input_values = vals;
  assert_int_equal(gl_model_compile(r.m, r.be, &o, &r.p), GL_OK);
  assert_int_equal(run(&r, (void *[]){xd, sd}), GL_OK);
  expect_f32(&r.out[0], (float[]){1, 1, 2, 2}, 4);
  float x2[] = {5, 6};
  assert_int_equal(run(&r, (void *[]){x2, sd}), GL_OK); /* x was not bound */
  expect_f32(&r.out[0], (float[]){5, 5, 6, 6}, 4);
  assert_int_equal(run(&r, (void *[]){xd, other}), GL_EINVAL);
  done(&r);
}

/* Unique of a constant (not sorted, no axis) and of an empty constant: all four outputs. */
static void test_unique_constant(void **state) {
  gl_graph_t *g = new_graph(13);
  float xd[] = {2, 1, 1, 3, 4, 3};
  int x = cnst(g, GL_DT_F32, (gl_shape_t){1, {6}}, xd);
  int o[4];
  for (int i = 0; i < 4; i++) o[i] = gl_graph_add_value(g, NULL);
  assert_true(gl_graph_add_node(g, "Unique", "uq", &x, 1, o, 4) >= 0);
  attr_i(g, "sorted", 0);
  int e = cnst(g, GL_DT_I64, (gl_shape_t){1, {0}}, xd);
  int eo = gl_graph_add_value(g, NULL);
  assert_true(gl_graph_add_node(g, "Unique", "uq_empty", &e, 1, &eo, 1) >= 0);
  for (int i = 0; i < 4; i++) assert_int_equal(gl_graph_add_output(g, o[i]), GL_OK);
  assert_int_equal(gl_graph_add_output(g, eo), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_OK);
  assert_int_equal(run(&r, NULL), GL_OK);
  expect_f32(&r.out[0], (float[]){2, 1, 3, 4}, 4);
  expect_i64(&r.out[1], (int64_t[]){0, 1, 3, 4}, 4);
  expect_i64(&r.out[2], (int64_t[]){0, 1, 1, 2, 3, 2}, 6);
  expect_i64(&r.out[3], (int64_t[]){1, 2, 2, 1}, 4);
  assert_int_equal(gl_shape_numel(&r.out[4].shape), 0);
  done(&r);
}

/* GridSample: grid points at the corners (align_corners) read the corners; a point past the
 * right edge reads 0 with zeros padding and the edge with border padding. */
static void test_grid_sample(void **state) {
  static const char *pads[] = {"zeros", "border"};
  for (int m = 0; m < 2; m++) {
    gl_graph_t *g = new_graph(16);
    int x = input(g, "x", GL_DT_F32, (gl_shape_t){4, {1, 1, 2, 2}});
    float gd[] = {-1, -1, 1, -1, -1, 1, 1, 1, 3, -1};
    int gr = cnst(g, GL_DT_F32, (gl_shape_t){4, {1, 1, 5, 2}}, gd);
    int y = node(g, "GridSample", "gs", (int[]){x, gr}, 2);
    attr_i(g, "align_corners", 1);
    attr_s(g, "padding_mode", pads[m]);
    assert_int_equal(gl_graph_add_output(g, y), GL_OK);
    run_t r;
    assert_int_equal(compile(&r, g, 0), GL_OK);
    float xd[] = {1, 2, 3, 4};
    assert_int_equal(run(&r, (void *[]){xd}), GL_OK);
    /* (3, -1) is x = 3 with align_corners on a 2-wide row: zeros blends in nothing past x = 1 */
    float want[2][5] = {{1, 2, 3, 4, 0}, {1, 2, 3, 4, 2}};
    expect_f32(&r.out[0], want[m], 5);
    done(&r);
  }
}

static void test_errors_name_the_node(void **state) {
  /* Reshape into a shape with the wrong element count */
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {2, 3}});
  int y = node(g, "Reshape", "bad_reshape", (int[]){x, ci64(g, 2, (int64_t[]){4, 2})}, 2);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  run_t r;
  assert_int_equal(compile(&r, g, 0), GL_ESHAPE);
  assert_non_null(strstr(gl_errmsg(), "bad_reshape"));
  done(&r);
  /* Transpose with an out-of-range perm */
  g = new_graph(13);
  x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {2, 3}});
  y = node(g, "Transpose", "bad_perm", &x, 1);
  attr_ints(g, "perm", 2, (int64_t[]){0, 2});
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(compile(&r, g, 0), GL_EINVAL);
  assert_non_null(strstr(gl_errmsg(), "bad_perm"));
  done(&r);
  /* NonZero on a runtime input: data-dependent shape */
  g = new_graph(13);
  x = input(g, "x", GL_DT_F32, (gl_shape_t){1, {4}});
  y = node(g, "NonZero", "nz", &x, 1);
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(compile(&r, g, 0), GL_EUNSUPPORTED);
  assert_non_null(strstr(gl_errmsg(), "data-dependent"));
  done(&r);
  /* Squeeze of a dim that is not 1 (opset 11: axes attribute) */
  g = new_graph(11);
  x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {2, 3}});
  y = node(g, "Squeeze", "sq", &x, 1);
  attr_ints(g, "axes", 1, (int64_t[]){1});
  assert_int_equal(gl_graph_add_output(g, y), GL_OK);
  assert_int_equal(compile(&r, g, 0), GL_ESHAPE);
  assert_non_null(strstr(gl_errmsg(), "sq"));
  done(&r);
}

/* Compiles a one-node graph over a [2,3] float input and returns the status. */
typedef void (*build_fn)(gl_graph_t *g, int x);
static gl_status_t compile_one(build_fn f, const char *name_in_msg) {
  gl_graph_t *g = new_graph(13);
  int x = input(g, "x", GL_DT_F32, (gl_shape_t){2, {2, 3}});
  f(g, x);
  assert_int_equal(gl_graph_add_output(g, g->nodes[g->n_nodes - 1].outputs[0]), GL_OK);
  run_t r;
  gl_status_t st = compile(&r, g, 0);
  if (st != GL_OK) assert_non_null(strstr(gl_errmsg(), name_in_msg));
  done(&r);
  return st;
}

static void b_concat_axis(gl_graph_t *g, int x) {
  node(g, "Concat", "cat", (int[]){x, x}, 2);
  attr_i(g, "axis", 2);
}
static void b_slice_step0(gl_graph_t *g, int x) {
  node(g, "Slice", "sl",
       (int[]){x, ci64(g, 1, (int64_t[]){0}), ci64(g, 1, (int64_t[]){2}), ci64(g, 1, (int64_t[]){1}),
               ci64(g, 1, (int64_t[]){0})},
       5);
}
static void b_tile_len(gl_graph_t *g, int x) { node(g, "Tile", "ti", (int[]){x, ci64(g, 1, (int64_t[]){2})}, 2); }
static void b_d2s(gl_graph_t *g, int x) {
  node(g, "DepthToSpace", "d2s", &x, 1);
  attr_i(g, "blocksize", 2);
}
static void b_gather_const(gl_graph_t *g, int x) {
  node(g, "Gather", "ga", (int[]){x, ci64(g, 1, (int64_t[]){-3})}, 2);
}
static void b_cubic(gl_graph_t *g, int x) {
  node(g, "Resize", "rz", (int[]){x, -1, cnst(g, GL_DT_F32, (gl_shape_t){1, {2}}, (float[]){2, 2})}, 3);
  attr_s(g, "mode", "cubic");
}
static void b_expand(gl_graph_t *g, int x) { node(g, "Expand", "ex", (int[]){x, ci64(g, 2, (int64_t[]){2, 4})}, 2); }
static void b_split_sum(gl_graph_t *g, int x) {
  int o[2] = {gl_graph_add_value(g, NULL), gl_graph_add_value(g, NULL)};
  assert_true(gl_graph_add_node(g, "Split", "spl", (int[]){x, ci64(g, 2, (int64_t[]){1, 1})}, 2, o, 2) >= 0);
  attr_i(g, "axis", 1);
}

static void test_shape_errors(void **state) {
  assert_int_equal(compile_one(b_concat_axis, "cat"), GL_EINVAL);
  assert_int_equal(compile_one(b_slice_step0, "sl"), GL_EINVAL);
  assert_int_equal(compile_one(b_tile_len, "ti"), GL_ESHAPE);
  assert_int_equal(compile_one(b_d2s, "d2s"), GL_ESHAPE);
  assert_int_equal(compile_one(b_gather_const, "ga"), GL_EINVAL);
  assert_int_equal(compile_one(b_cubic, "cubic"), GL_EUNSUPPORTED);
  assert_int_equal(compile_one(b_expand, "ex"), GL_ESHAPE);
  assert_int_equal(compile_one(b_split_sum, "spl"), GL_ESHAPE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transpose),
      cmocka_unit_test(test_transpose_tiled),
      cmocka_unit_test(test_slice_negative_step),
      cmocka_unit_test(test_concat_split),
      cmocka_unit_test(test_gather_negative_and_out_of_range),
      cmocka_unit_test(test_pad_modes),
      cmocka_unit_test(test_resize_linear_and_nearest),
      cmocka_unit_test(test_resize_outer_axis_and_crop),
      cmocka_unit_test(test_depth_space_roundtrip),
      cmocka_unit_test(test_expand_tile_int64),
      cmocka_unit_test(test_scatter_gather_nd),
      cmocka_unit_test(test_shape_chain_folds),
      cmocka_unit_test(test_misc_small_ops),
      cmocka_unit_test(test_old_opsets),
      cmocka_unit_test(test_legacy_opsets),
      cmocka_unit_test(test_reverse_sequence),
      cmocka_unit_test(test_constants_and_shape),
      cmocka_unit_test(test_bind_named_float_input),
      cmocka_unit_test(test_unique_constant),
      cmocka_unit_test(test_grid_sample),
      cmocka_unit_test(test_errors_name_the_node),
      cmocka_unit_test(test_shape_errors),
  };
  size_t live = gl_alloc_live_bytes();
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  (void)live;
  return rc;
}
