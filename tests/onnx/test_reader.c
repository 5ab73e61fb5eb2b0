/* tests/onnx/test_reader.c - the ONNX reader on good and malformed models, the writer's round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx.pb-c.h"
#include "onnx/onnx.h"

#define NODE_SUITE "/usr/share/libonnx-testdata/data/node"

/* ---- a small model built with the generated protobuf-c API ---- */
/* Relu(x) -> y, x: float [N, 2] with N a dim_param, opset 13; optional initializer. */
typedef struct {
  Onnx__ModelProto m;
  Onnx__GraphProto g;
  Onnx__OperatorSetIdProto opset, *opsets[1];
  Onnx__ValueInfoProto in, out, *ins[1], *outs[1];
  Onnx__TypeProto in_t;
  Onnx__TypeProto__Tensor in_tt;
  Onnx__TensorShapeProto in_s;
  Onnx__TensorShapeProto__Dimension dim0, dim1, *dims[2];
  Onnx__NodeProto node, *nodes[1];
  char *node_in[2], *node_out[1];
  Onnx__AttributeProto attr, *attrs[1];
  Onnx__TensorProto init, *inits[1];
  int64_t init_dims[2];
  float init_data[8];
  Onnx__StringStringEntryProto ext[3], *exts[3];
} mb_t;

static void mb_init(mb_t *b) {
  memset(b, 0, sizeof *b);
  b->m = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
  b->g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
  b->opset = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
  b->in = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
  b->out = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
  b->in_t = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
  b->in_tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
  b->in_s = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
  b->dim0 = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
  b->dim1 = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
  b->node = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
  b->attr = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
  b->init = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
  for (int i = 0; i < 3; i++) {
    b->ext[i] = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    b->exts[i] = &b->ext[i];
  }
  b->m.has_ir_version = 1;
  b->m.ir_version = 8;
  b->opset.has_version = 1;
  b->opset.version = 13;
  b->opset.domain = "";
  b->opsets[0] = &b->opset;
  b->m.n_opset_import = 1;
  b->m.opset_import = b->opsets;
  b->m.graph = &b->g;
  b->g.name = "g";
  b->dim0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
  b->dim0.dim_param = "N";
  b->dim1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
  b->dim1.dim_value = 2;
  b->dims[0] = &b->dim0;
  b->dims[1] = &b->dim1;
  b->in_s.n_dim = 2;
  b->in_s.dim = b->dims;
  b->in_tt.has_elem_type = 1;
  b->in_tt.elem_type = 1;
  b->in_tt.shape = &b->in_s;
  b->in_t.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  b->in_t.tensor_type = &b->in_tt;
  b->in.name = "x";
  b->in.type = &b->in_t;
  b->ins[0] = &b->in;
  b->g.n_input = 1;
  b->g.input = b->ins;
  b->out.name = "y";
  b->outs[0] = &b->out;
  b->g.n_output = 1;
  b->g.output = b->outs;
  b->node.op_type = "Relu";
  b->node.name = "r";
  b->node_in[0] = "x";
  b->node_out[0] = "y";
  b->node.n_input = 1;
  b->node.input = b->node_in;
  b->node.n_output = 1;
  b->node.output = b->node_out;
  b->nodes[0] = &b->node;
  b->g.n_node = 1;
  b->g.node = b->nodes;
  b->attrs[0] = &b->attr;
}

/* Adds initializer "W": float [2,4] = 0..7 as raw_data. */
static void mb_add_init(mb_t *b) {
  for (int i = 0; i < 8; i++) b->init_data[i] = (float)i;
  b->init_dims[0] = 2;
  b->init_dims[1] = 4;
  b->init.name = "W";
  b->init.has_data_type = 1;
  b->init.data_type = 1;
  b->init.n_dims = 2;
  b->init.dims = b->init_dims;
  b->init.has_raw_data = 1;
  b->init.raw_data.data = (uint8_t *)b->init_data;
  b->init.raw_data.len = sizeof b->init_data;
  b->inits[0] = &b->init;
  b->g.n_initializer = 1;
  b->g.initializer = b->inits;
}

static uint8_t *mb_pack(const mb_t *b, size_t *len) {
  *len = onnx__model_proto__get_packed_size(&b->m);
  uint8_t *buf = malloc(*len + 1);
  assert_non_null(buf);
  assert_int_equal(onnx__model_proto__pack(&b->m, buf), *len);
  return buf;
}

/* Loads b; returns the status and leaves the graph destroyed. */
static gl_status_t mb_load(const mb_t *b, const char *dir) {
  size_t len;
  uint8_t *buf = mb_pack(b, &len);
  gl_graph_t *g = NULL;
  gl_status_t st = gl_onnx_load_buffer(buf, len, dir, NULL, &g);
  if (st) assert_null(g);
  gl_graph_destroy(g);
  free(buf);
  return st;
}

static void assert_msg_has(const char *needle) {
  if (!strstr(gl_errmsg(), needle)) fail_msg("error '%s' does not mention '%s'", gl_errmsg(), needle);
}

/* Loads b with limits (external data from dir, may be NULL); returns the status, graph destroyed. */
static gl_status_t mb_load_lim(const mb_t *b, const char *dir, const gl_onnx_limits_t *lim) {
  size_t len;
  uint8_t *buf = mb_pack(b, &len);
  gl_graph_t *g = NULL;
  gl_status_t st = gl_onnx_load_buffer(buf, len, dir, lim, &g);
  if (st) assert_null(g);
  gl_graph_destroy(g);
  free(buf);
  return st;
}

static void mb_external(mb_t *b, const char *loc, const char *off, const char *len);
static void write_bytes(const char *path, const void *p, size_t n);

/* ---- limits: each one hit, with a message naming it ---- */

static void test_limits(void **state) {
  (void)state;
  size_t live = gl_alloc_live_count();
  mb_t b;
  mb_init(&b);
  mb_add_init(&b); /* 1 node, 1 initializer, 3 values (W, x, y) */
  size_t len;
  free(mb_pack(&b, &len));
  assert_int_equal(mb_load_lim(&b, NULL, &(gl_onnx_limits_t){0}), GL_OK); /* zero fields: defaults */
  assert_int_equal(mb_load_lim(&b, NULL, &(gl_onnx_limits_t){.max_file_bytes = len - 1}), GL_ELIMIT);
  assert_msg_has("more than the limit of");
  assert_int_equal(mb_load_lim(&b, NULL, &(gl_onnx_limits_t){.max_file_bytes = len}), GL_OK);
  assert_int_equal(mb_load_lim(&b, NULL, &(gl_onnx_limits_t){.max_nodes = 1, .max_values = 3, .max_initializers = 1}), GL_OK);
  assert_int_equal(mb_load_lim(&b, NULL, &(gl_onnx_limits_t){.max_values = 2}), GL_ELIMIT);
  assert_msg_has("3 values (initializers, inputs and node outputs), more than the limit of 2");
  Onnx__NodeProto *nodes[2] = {&b.node, &b.node};
  b.g.node = nodes;
  b.g.n_node = 2;
  assert_int_equal(mb_load_lim(&b, NULL, &(gl_onnx_limits_t){.max_nodes = 1}), GL_ELIMIT);
  assert_msg_has("2 nodes, more than the limit of 1");
  /* two initializers of 512 bytes each from external data: each is under a 700-byte limit, the
   * model file too, but together they are over it */
  char root[] = "/tmp/gl_onnx_lim_XXXXXX";
  assert_non_null(mkdtemp(root));
  char path[300];
  snprintf(path, sizeof path, "%s/w.bin", root);
  static float w[128];
  write_bytes(path, w, sizeof w);
  mb_t e;
  mb_init(&e);
  mb_external(&e, "w.bin", NULL, NULL);
  e.init_dims[1] = 64; /* [2, 64] floats = 512 bytes */
  Onnx__TensorProto w2 = e.init, *two[2] = {&e.init, &w2};
  w2.name = "W2";
  e.g.initializer = two;
  e.g.n_initializer = 2;
  free(mb_pack(&e, &len));
  assert_true(len < 700);
  assert_int_equal(mb_load_lim(&e, root, &(gl_onnx_limits_t){.max_file_bytes = 1024}), GL_OK);
  assert_int_equal(mb_load_lim(&e, root, &(gl_onnx_limits_t){.max_file_bytes = 700}), GL_ELIMIT);
  assert_msg_has("initializers hold more than the limit of 700 bytes");
  assert_int_equal(mb_load_lim(&e, root, &(gl_onnx_limits_t){.max_initializers = 1}), GL_ELIMIT);
  assert_msg_has("2 initializers, more than the limit of 1");
  unlink(path);
  rmdir(root);
  assert_int_equal(gl_alloc_live_count(), live);
}

/* ---- good input ---- */

static void test_good_model(void **state) {
  (void)state;
  size_t live = gl_alloc_live_count();
  mb_t b;
  mb_init(&b);
  mb_add_init(&b);
  b.attr.name = "alpha";
  b.attr.has_type = 1;
  b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  b.attr.has_f = 1;
  b.attr.f = 0.5f;
  b.node.n_attribute = 1;
  b.node.attribute = b.attrs;
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_OK);
  assert_int_equal(g->opset, 13);
  assert_int_equal(g->n_inputs, 1);
  assert_int_equal(g->n_outputs, 1);
  assert_int_equal(g->n_nodes, 1);
  const gl_value_t *x = &g->values[g->inputs[0]];
  assert_string_equal(x->name, "x");
  assert_int_equal(x->dtype, GL_DT_F32);
  assert_int_equal(x->shape.rank, 2);
  assert_int_equal(x->shape.d[0], -1);
  assert_string_equal(x->dim_param[0], "N");
  assert_int_equal(x->shape.d[1], 2);
  int w = gl_graph_find(g, "W");
  assert_true(w >= 0);
  assert_int_equal(g->values[w].kind, GL_VAL_CONST);
  assert_non_null(g->values[w].data);
  assert_true(((float *)g->values[w].data->data)[7] == 7.0f);
  assert_true(gl_attr_f(&g->nodes[0], "alpha", 0) == 0.5f);
  assert_int_equal(g->values[g->outputs[0]].producer, 0);
  gl_graph_destroy(g);
  free(buf);
  assert_int_equal(gl_alloc_live_count(), live);
}

/* An input that also has an initializer is a constant, not an input. */
static void test_input_with_initializer_is_constant(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  mb_add_init(&b);
  b.init.name = "x";
  b.init_dims[0] = 4; /* [4,2] fits the declared [N,2] */
  b.init_dims[1] = 2;
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_OK);
  assert_int_equal(g->n_inputs, 0);
  assert_int_equal(g->values[gl_graph_find(g, "x")].kind, GL_VAL_CONST);
  gl_graph_destroy(g);
  free(buf);
}

/* Typed fields per ONNX's rules: float16 and bool in int32_data, int64 in int64_data. */
static void test_typed_tensor_fields(void **state) {
  (void)state;
  Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
  int64_t dims[1] = {3};
  int32_t i32[3] = {0x3c00, 0xc000, 0}; /* 1.0, -2.0, 0 as float16 bits */
  tp.has_data_type = 1;
  tp.data_type = GL_DT_F16;
  tp.n_dims = 1;
  tp.dims = dims;
  tp.n_int32_data = 3;
  tp.int32_data = i32;
  tp.name = "h";
  uint8_t buf[256];
  size_t len = onnx__tensor_proto__pack(&tp, buf);
  gl_tensor_t t;
  char *name = NULL;
  assert_int_equal(gl_onnx_read_tensor_buffer(buf, len, &t, &name), GL_OK);
  assert_string_equal(name, "h");
  assert_int_equal(t.dtype, GL_DT_F16);
  assert_true(gl_tensor_get_f64(&t, 0) == 1.0 && gl_tensor_get_f64(&t, 1) == -2.0);
  gl_tensor_fini(&t);
  gl_free(name);

  tp.data_type = GL_DT_BOOL;
  i32[0] = 5;
  len = onnx__tensor_proto__pack(&tp, buf);
  assert_int_equal(gl_onnx_read_tensor_buffer(buf, len, &t, NULL), GL_OK);
  assert_int_equal(((uint8_t *)t.data)[0], 1);
  assert_int_equal(((uint8_t *)t.data)[2], 0);
  gl_tensor_fini(&t);

  int64_t i64[3] = {-1, INT64_MAX, 7};
  tp.data_type = GL_DT_I64;
  tp.n_int32_data = 0;
  tp.n_int64_data = 3;
  tp.int64_data = i64;
  len = onnx__tensor_proto__pack(&tp, buf);
  assert_int_equal(gl_onnx_read_tensor_buffer(buf, len, &t, NULL), GL_OK);
  assert_true(((int64_t *)t.data)[1] == INT64_MAX);
  gl_tensor_fini(&t);

  /* two elements for a shape of three */
  tp.n_int64_data = 2;
  len = onnx__tensor_proto__pack(&tp, buf);
  assert_int_equal(gl_onnx_read_tensor_buffer(buf, len, &t, NULL), GL_ESHAPE);
  assert_msg_has("int64_data");

  /* strings are refused as unsupported */
  tp.n_int64_data = 0;
  tp.data_type = GL_DT_STRING;
  len = onnx__tensor_proto__pack(&tp, buf);
  assert_int_equal(gl_onnx_read_tensor_buffer(buf, len, &t, NULL), GL_EUNSUPPORTED);
  assert_msg_has("string");
}

static void test_tensor_write_read(void **state) {
  (void)state;
  gl_tensor_t t, r;
  gl_shape_t s = {3, {2, 1, 3}};
  assert_int_equal(gl_tensor_alloc(&t, GL_DT_F64, &s), GL_OK);
  for (int i = 0; i < 6; i++) ((double *)t.data)[i] = i * 1.5 - 2;
  char path[] = "/tmp/gl_onnx_tensor_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(gl_onnx_write_tensor_file(path, &t, "out"), GL_OK);
  char *name = NULL;
  assert_int_equal(gl_onnx_read_tensor_file(path, &r, &name), GL_OK);
  assert_string_equal(name, "out");
  assert_int_equal(r.dtype, GL_DT_F64);
  assert_true(gl_shape_eq(&r.shape, &t.shape));
  assert_memory_equal(r.data, t.data, 48);
  gl_tensor_fini(&t);
  gl_tensor_fini(&r);
  gl_free(name);
  unlink(path);
}

/* ---- malformed input: each a clear error, no crash, no leak ---- */

static void test_truncated(void **state) {
  (void)state;
  size_t live = gl_alloc_live_count();
  mb_t b;
  mb_init(&b);
  mb_add_init(&b);
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  for (size_t cut = 0; cut < len; cut++) {
    gl_graph_t *g = NULL;
    uint8_t *copy = malloc(cut + 1); /* exact size so ASan sees any overread */
    memcpy(copy, buf, cut);
    gl_status_t st = gl_onnx_load_buffer(copy, cut, NULL, NULL, &g);
    if (st == GL_OK) fail_msg("a model cut to %zu of %zu bytes loaded", cut, len);
    assert_null(g);
    assert_true(gl_errmsg()[0] != 0);
    free(copy);
  }
  free(buf);
  assert_int_equal(gl_alloc_live_count(), live);
}

static void test_truncated_file(void **state) {
  (void)state;
  const char *src = NODE_SUITE "/test_conv_with_strides_padding/model.onnx";
  FILE *f = fopen(src, "rb");
  if (!f) skip();
  uint8_t buf[65536];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char path[] = "/tmp/gl_onnx_trunc_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, len / 2), (ssize_t)(len / 2));
  close(fd);
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_file(path, NULL, &g), GL_EPARSE);
  assert_msg_has(path);
  assert_null(g);
  unlink(path);
  assert_int_equal(gl_onnx_load_file("/nonexistent/model.onnx", NULL, &g), GL_ENOTFOUND);
}

static void test_random_bytes(void **state) {
  (void)state;
  size_t live = gl_alloc_live_count();
  uint64_t s = 0x243F6A8885A308D3ULL;
  for (int iter = 0; iter < 3000; iter++) {
    size_t len = 1 + iter % 700;
    uint8_t *buf = malloc(len);
    for (size_t i = 0; i < len; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      buf[i] = (uint8_t)s;
    }
    gl_graph_t *g = NULL;
    assert_int_not_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_OK);
    gl_tensor_t t;
    if (gl_onnx_read_tensor_buffer(buf, len, &t, NULL) == GL_OK) gl_tensor_fini(&t); /* a few bytes can be a valid tensor */
    free(buf);
  }
  assert_int_equal(gl_alloc_live_count(), live);
}

/* Nesting deeper than protobuf-c's recursion can take is refused before decoding: a model whose
 * graph has a node with a graph attribute whose graph has a node ... 300,000 messages deep. */
static void test_deep_nesting(void **state) {
  (void)state;
  enum { LEVELS = 300000 };
  size_t cap = (size_t)LEVELS * 8 + 64;
  uint8_t *buf = malloc(cap);
  size_t start = cap; /* built from the inside out */
  static const int cycle[3] = {6, 5, 1}; /* AttributeProto.g, NodeProto.attribute, GraphProto.node */
  for (int i = 0; i <= LEVELS; i++) {
    int field = i == LEVELS ? 7 : cycle[i % 3]; /* ModelProto.graph outermost */
    size_t v = cap - start, h = 0;
    uint8_t hdr[12];
    hdr[h++] = (uint8_t)(field << 3 | 2);
    do {
      hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
    start -= h;
    memcpy(buf + start, hdr, h);
  }
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_buffer(buf + start, cap - start, NULL, NULL, &g), GL_ELIMIT);
  assert_msg_has("nest deeper");
  free(buf);
}

static void test_missing_value(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  b.node_in[0] = "nope";
  assert_int_equal(mb_load(&b, NULL), GL_EPARSE);
  assert_msg_has("'nope'");
  /* an output no node produces */
  mb_init(&b);
  b.out.name = "z";
  assert_int_equal(mb_load(&b, NULL), GL_EPARSE);
  assert_msg_has("'z'");
  /* a value defined twice */
  mb_init(&b);
  b.node_out[0] = "x";
  b.out.name = "x";
  assert_int_equal(mb_load(&b, NULL), GL_EPARSE);
  assert_msg_has("already defined");
  /* the same output listed twice */
  mb_init(&b);
  Onnx__ValueInfoProto *two[2] = {&b.out, &b.out};
  b.g.n_output = 2;
  b.g.output = two;
  assert_int_equal(mb_load(&b, NULL), GL_EPARSE);
  assert_msg_has("twice");
  /* a cycle */
  mb_init(&b);
  b.node_in[0] = "y";
  assert_int_equal(mb_load(&b, NULL), GL_EPARSE);
  assert_msg_has("cycle");
}

static void test_raw_data_mismatch(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  mb_add_init(&b);
  b.init.raw_data.len = 20;
  assert_int_equal(mb_load(&b, NULL), GL_ESHAPE);
  assert_msg_has("'W'");
  assert_msg_has("20 bytes");
  mb_add_init(&b);
  b.init_dims[0] = -2;
  assert_int_equal(mb_load(&b, NULL), GL_ESHAPE);
  assert_msg_has("negative");
  mb_add_init(&b);
  b.init_dims[0] = INT64_MAX / 2; /* numel overflows */
  assert_int_not_equal(mb_load(&b, NULL), GL_OK);
  mb_add_init(&b);
  b.init.name = "";
  assert_int_equal(mb_load(&b, NULL), GL_EPARSE);
  assert_msg_has("no name");
}

static void test_unsupported(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  b.node.domain = "com.microsoft";
  assert_int_equal(mb_load(&b, NULL), GL_EUNSUPPORTED);
  assert_msg_has("node 'r'");
  assert_msg_has("com.microsoft");

  mb_init(&b);
  Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
  b.attr.name = "body";
  b.attr.has_type = 1;
  b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
  b.attr.g = &sub;
  b.node.n_attribute = 1;
  b.node.attribute = b.attrs;
  assert_int_equal(mb_load(&b, NULL), GL_EUNSUPPORTED);
  assert_msg_has("node 'r'");
  assert_msg_has("subgraph");

  mb_init(&b);
  b.opset.version = 0;
  assert_int_equal(mb_load(&b, NULL), GL_EUNSUPPORTED);
  assert_msg_has("opset 0");
  b.opset.version = 18;
  assert_int_equal(mb_load(&b, NULL), GL_EUNSUPPORTED);
  assert_msg_has("opset 18");

  mb_init(&b);
  b.in_tt.elem_type = GL_DT_STRING;
  assert_int_equal(mb_load(&b, NULL), GL_EUNSUPPORTED);
  assert_msg_has("string");

  /* An op gpulet has no schema for loads fine; compiling it is what reports it. */
  mb_init(&b);
  b.node.op_type = "NoSuchOp";
  assert_int_equal(mb_load(&b, NULL), GL_OK);
}

static void test_constant_nodes(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  float fl[3] = {1, 2, 3};
  b.node.op_type = "Constant";
  b.node.n_input = 0;
  b.attr.name = "value_floats";
  b.attr.has_type = 1;
  b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
  b.attr.n_floats = 3;
  b.attr.floats = fl;
  b.node.n_attribute = 1;
  b.node.attribute = b.attrs;
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_OK);
  free(buf);
  assert_int_equal(g->n_nodes, 0);
  const gl_value_t *y = &g->values[gl_graph_find(g, "y")];
  assert_non_null(y->data);
  assert_int_equal(y->shape.rank, 1);
  assert_int_equal(y->shape.d[0], 3);
  assert_true(((float *)y->data->data)[2] == 3.0f);
  gl_graph_destroy(g);

  b.attr.name = "value_int";
  b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  b.attr.has_i = 1;
  b.attr.i = -9;
  buf = mb_pack(&b, &len);
  assert_int_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_OK);
  free(buf);
  y = &g->values[gl_graph_find(g, "y")];
  assert_int_equal(y->dtype, GL_DT_I64);
  assert_int_equal(y->shape.rank, 0);
  assert_int_equal(*(int64_t *)y->data->data, -9);
  gl_graph_destroy(g);

  b.attr.name = "sparse_value";
  assert_int_equal(mb_load(&b, NULL), GL_EUNSUPPORTED);
  assert_msg_has("sparse");
}

/* ---- external data ---- */

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
}

static void mb_external(mb_t *b, const char *loc, const char *off, const char *len) {
  mb_add_init(b);
  b->init.has_raw_data = 0;
  b->init.has_data_location = 1;
  b->init.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  b->ext[0].key = "location", b->ext[0].value = (char *)loc;
  b->ext[1].key = "offset", b->ext[1].value = (char *)off;
  b->ext[2].key = "length", b->ext[2].value = (char *)len;
  b->init.n_external_data = len ? 3 : off ? 2 : 1;
  b->init.external_data = b->exts;
}

static void test_external_data(void **state) {
  (void)state;
  char root[] = "/tmp/gl_onnx_ext_XXXXXX";
  assert_non_null(mkdtemp(root));
  char dir[256], path[300], link[300];
  snprintf(dir, sizeof dir, "%s/model", root);
  assert_int_equal(mkdir(dir, 0700), 0);
  float w[12];
  for (int i = 0; i < 12; i++) w[i] = (float)(i - 4); /* W is elements 4..11 at offset 16 */
  snprintf(path, sizeof path, "%s/w.bin", dir);
  write_bytes(path, w, sizeof w);
  snprintf(path, sizeof path, "%s/secret.bin", root);
  write_bytes(path, w, sizeof w);
  snprintf(link, sizeof link, "%s/link.bin", dir);
  assert_int_equal(symlink("../secret.bin", link), 0);

  mb_t b;
  mb_init(&b);
  mb_external(&b, "w.bin", "16", "32");
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_buffer(buf, len, dir, NULL, &g), GL_OK);
  const gl_value_t *v = &g->values[gl_graph_find(g, "W")];
  assert_true(((float *)v->data->data)[0] == 0.0f && ((float *)v->data->data)[7] == 7.0f);
  gl_graph_destroy(g);
  /* the same through a file next to the data */
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  write_bytes(path, buf, len);
  assert_int_equal(gl_onnx_load_file(path, NULL, &g), GL_OK);
  gl_graph_destroy(g);
  /* without a folder, external data cannot be found */
  assert_int_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_EINVAL);
  free(buf);

  mb_external(&b, "../secret.bin", "16", "32");
  assert_int_equal(mb_load(&b, dir), GL_EINVAL);
  assert_msg_has("leaves the model's folder");
  mb_external(&b, "sub/../../secret.bin", NULL, NULL);
  assert_int_not_equal(mb_load(&b, dir), GL_OK);
  mb_external(&b, "link.bin", "16", "32");
  assert_int_equal(mb_load(&b, dir), GL_EINVAL);
  assert_msg_has("leaves the model's folder");
  snprintf(path, sizeof path, "%s/secret.bin", root);
  mb_external(&b, path, "16", "32");
  assert_int_equal(mb_load(&b, dir), GL_EINVAL);
  assert_msg_has("absolute");
  mb_external(&b, "missing.bin", NULL, NULL);
  assert_int_equal(mb_load(&b, dir), GL_ENOTFOUND);
  mb_external(&b, "w.bin", "16", "28");
  assert_int_equal(mb_load(&b, dir), GL_ESHAPE);
  mb_external(&b, "w.bin", "24", "32"); /* runs past the end of the file */
  assert_int_equal(mb_load(&b, dir), GL_ESHAPE);
  mb_external(&b, "w.bin", "-8", "32");
  assert_int_equal(mb_load(&b, dir), GL_EPARSE);
  mb_external(&b, "w.bin", "16", NULL);
  assert_int_equal(mb_load(&b, dir), GL_OK); /* no length: its shape says how much */
  /* A huge claimed shape is refused from the file's size, before anything is allocated. */
  size_t peak = gl_alloc_peak_bytes();
  mb_external(&b, "w.bin", NULL, NULL);
  b.init_dims[0] = (int64_t)1 << 28;
  assert_int_equal(mb_load(&b, dir), GL_ESHAPE);
  assert_true(gl_alloc_peak_bytes() < peak + (1u << 20));

  /* a FIFO inside the folder must not block the reader */
  snprintf(path, sizeof path, "%s/fifo.bin", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  mb_external(&b, "fifo.bin", NULL, NULL);
  assert_int_equal(mb_load(&b, dir), GL_EIO);
  assert_msg_has("not a regular file");
  unlink(path);

  unlink(link);
  snprintf(path, sizeof path, "%s/w.bin", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  unlink(path);
  rmdir(dir);
  snprintf(path, sizeof path, "%s/secret.bin", root);
  unlink(path);
  rmdir(root);
}

/* ---- out of memory at every allocation ---- */

static void test_oom(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  mb_add_init(&b);
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  size_t live = gl_alloc_live_count();
  int n;
  for (n = 1; n < 1000; n++) {
    gl_graph_t *g = NULL;
    gl_alloc_fail_after(n);
    gl_status_t st = gl_onnx_load_buffer(buf, len, NULL, NULL, &g);
    gl_alloc_fail_after(0);
    if (st == GL_OK) {
      gl_graph_destroy(g);
      break;
    }
    if (st != GL_ENOMEM) fail_msg("allocation %d failing gave %s: %s", n, gl_status_name(st), gl_errmsg());
    assert_int_equal(gl_alloc_live_count(), live);
  }
  assert_true(n > 5 && n < 1000);
  free(buf);
}

/* ---- writer round trip ---- */

static void assert_same_graph(const gl_graph_t *a, const gl_graph_t *b) {
  assert_int_equal(a->opset, b->opset);
  assert_int_equal(a->n_inputs, b->n_inputs);
  assert_int_equal(a->n_outputs, b->n_outputs);
  for (int i = 0; i < a->n_inputs; i++) {
    const gl_value_t *x = &a->values[a->inputs[i]], *y = &b->values[b->inputs[i]];
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->dtype, y->dtype);
    assert_int_equal(x->shape.rank, y->shape.rank);
    for (int d = 0; d < x->shape.rank; d++) {
      assert_int_equal(x->shape.d[d], y->shape.d[d]);
      if (x->dim_param[d]) assert_string_equal(x->dim_param[d], y->dim_param[d]);
    }
  }
  for (int i = 0; i < a->n_outputs; i++)
    assert_string_equal(a->values[a->outputs[i]].name, b->values[b->outputs[i]].name);
  for (int v = 0; v < a->n_values; v++) {
    const gl_value_t *x = &a->values[v];
    if (!x->data) continue;
    int w = gl_graph_find(b, x->name);
    assert_true(w >= 0);
    const gl_value_t *y = &b->values[w];
    assert_non_null(y->data);
    assert_int_equal(x->data->dtype, y->data->dtype);
    assert_true(gl_shape_eq(&x->data->shape, &y->data->shape));
    if (gl_tensor_nbytes(x->data)) assert_memory_equal(x->data->data, y->data->data, gl_tensor_nbytes(x->data));
  }
  assert_int_equal(a->n_nodes, b->n_nodes);
  for (int i = 0; i < a->n_nodes; i++) {
    const gl_node_t *m = &a->nodes[i], *n = &b->nodes[i];
    assert_string_equal(m->op_type, n->op_type);
    assert_int_equal(m->n_inputs, n->n_inputs);
    assert_int_equal(m->n_outputs, n->n_outputs);
    for (int k = 0; k < m->n_inputs; k++) {
      assert_int_equal(m->inputs[k] < 0, n->inputs[k] < 0);
      if (m->inputs[k] >= 0) assert_string_equal(a->values[m->inputs[k]].name, b->values[n->inputs[k]].name);
    }
    for (int k = 0; k < m->n_outputs; k++)
      if (m->outputs[k] >= 0) assert_string_equal(a->values[m->outputs[k]].name, b->values[n->outputs[k]].name);
    assert_int_equal(m->n_attrs, n->n_attrs);
    for (int k = 0; k < m->n_attrs; k++) {
      const gl_attr_t *p = &m->attrs[k], *q = gl_attr(n, p->name);
      assert_non_null(q);
      assert_int_equal(p->type, q->type);
      assert_int_equal(p->i, q->i);
      assert_true(p->f == q->f || (p->f != p->f && q->f != q->f));
      assert_int_equal(p->n, q->n);
      if (p->ints) assert_memory_equal(p->ints, q->ints, sizeof(int64_t) * (size_t)p->n);
      if (p->floats) assert_memory_equal(p->floats, q->floats, sizeof(float) * (size_t)p->n);
      if (p->s) assert_memory_equal(p->s, q->s, p->s_len + 1);
      for (int j = 0; p->strings && j < p->n; j++) assert_string_equal(p->strings[j], q->strings[j]);
      if (p->t) assert_memory_equal(p->t->data, q->t->data, gl_tensor_nbytes(p->t));
    }
  }
}

static void round_trip(const gl_graph_t *g) {
  void *buf;
  size_t len;
  assert_int_equal(gl_onnx_save_buffer(g, "test", &buf, &len), GL_OK);
  gl_graph_t *h = NULL;
  if (gl_onnx_load_buffer(buf, len, NULL, NULL, &h)) fail_msg("reloading a saved model: %s", gl_errmsg());
  assert_same_graph(g, h);
  gl_graph_destroy(h);
  gl_free(buf);
}

static void test_round_trip_built(void **state) {
  (void)state;
  mb_t b;
  mb_init(&b);
  mb_add_init(&b);
  int64_t ints[3] = {1, -2, 3};
  b.attr.name = "perm";
  b.attr.has_type = 1;
  b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  b.attr.n_ints = 3;
  b.attr.ints = ints;
  b.node.n_attribute = 1;
  b.node.attribute = b.attrs;
  size_t len;
  uint8_t *buf = mb_pack(&b, &len);
  gl_graph_t *g = NULL;
  assert_int_equal(gl_onnx_load_buffer(buf, len, NULL, NULL, &g), GL_OK);
  round_trip(g);
  char path[] = "/tmp/gl_onnx_save_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  assert_int_equal(gl_onnx_save_file(g, path, "test"), GL_OK);
  gl_graph_t *h = NULL;
  assert_int_equal(gl_onnx_load_file(path, NULL, &h), GL_OK);
  assert_same_graph(g, h);
  gl_graph_destroy(h);
  unlink(path);
  /* with W (32 bytes) in external data next to the model */
  assert_int_equal(gl_onnx_save_file_external(g, path, "test", 16), GL_OK);
  char data_path[64];
  snprintf(data_path, sizeof data_path, "%s.data", path);
  struct stat sb;
  assert_int_equal(stat(data_path, &sb), 0);
  assert_int_equal(sb.st_size, 32);
  assert_int_equal(gl_onnx_load_file(path, NULL, &h), GL_OK);
  assert_same_graph(g, h);
  gl_graph_destroy(h);
  unlink(data_path);
  assert_int_equal(gl_onnx_load_file(path, NULL, &h), GL_ENOTFOUND); /* the data is really outside */
  unlink(path);
  gl_graph_destroy(g);
  free(buf);
}

/* Every model of ONNX's node suite that loads survives save -> load unchanged. */
static void test_round_trip_suite(void **state) {
  (void)state;
  DIR *d = opendir(NODE_SUITE);
  if (!d) skip();
  struct dirent *e;
  int loaded = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_SUITE, e->d_name);
    gl_graph_t *g = NULL;
    if (gl_onnx_load_file(path, NULL, &g)) continue;
    round_trip(g);
    gl_graph_destroy(g);
    loaded++;
  }
  closedir(d);
  assert_true(loaded > 500);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_model),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_input_with_initializer_is_constant),
      cmocka_unit_test(test_typed_tensor_fields),
      cmocka_unit_test(test_tensor_write_read),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_truncated_file),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_missing_value),
      cmocka_unit_test(test_raw_data_mismatch),
      cmocka_unit_test(test_unsupported),
      cmocka_unit_test(test_constant_nodes),
      cmocka_unit_test(test_external_data),
      cmocka_unit_test(test_oom),
      cmocka_unit_test(test_round_trip_built),
      cmocka_unit_test(test_round_trip_suite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
