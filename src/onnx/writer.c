/* onnx/writer.c - gpulet IR and tensors -> serialized ONNX ModelProto / TensorProto. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "onnx/pb.h"

/* Every block the message tree needs, freed together once it is packed. */
typedef struct {
  void **blocks;
  size_t n, cap;
  bool oom;
} pool_t;

static void *pool_alloc(pool_t *p, size_t size) {
  if (p->oom) return NULL;
  if (gl_grow((void **)&p->blocks, &p->cap, p->n + 1, sizeof *p->blocks)) {
    p->oom = true;
    return NULL;
  }
  void *b = gl_calloc(1, size ? size : 1);
  if (!b) {
    p->oom = true;
    return NULL;
  }
  p->blocks[p->n++] = b;
  return b;
}

static void pool_fini(pool_t *p) {
  for (size_t i = 0; i < p->n; i++) gl_free(p->blocks[i]);
  gl_free(p->blocks);
}

static void *pool_dup(pool_t *p, const void *init, size_t size) {
  void *b = pool_alloc(p, size);
  if (b) memcpy(b, init, size);
  return b;
}

/* A pool-allocated message of type T set to its protobuf-c initializer. */
#define POOL_NEW(p, T, INIT) ((T *)pool_dup((p), &(T)INIT, sizeof(T)))

/* Fills tp (already initialised) from t; raw_data points into t's storage, not a copy. */
static gl_status_t tensor_to_proto(pool_t *p, const gl_tensor_t *t, const char *name, Onnx__TensorProto *tp) {
  if (gl_dtype_size(t->dtype) == 0)
    return gl_err(GL_EUNSUPPORTED, "tensor '%s': cannot write data type %s", name ? name : "", gl_dtype_name(t->dtype));
  if (t->shape.rank < 0 || t->shape.rank > GL_MAX_RANK || gl_shape_numel(&t->shape) < 0)
    return gl_err(GL_ESHAPE, "tensor '%s': cannot write a tensor of unknown shape", name ? name : "");
  size_t bytes = gl_tensor_nbytes(t);
  if (bytes && !t->data) return gl_err(GL_EINVAL, "tensor '%s' has no data", name ? name : "");
  tp->has_data_type = 1;
  tp->data_type = (int32_t)t->dtype;
  tp->n_dims = (size_t)t->shape.rank;
  tp->dims = pool_alloc(p, sizeof(int64_t) * (tp->n_dims + 1));
  if (!tp->dims) return gl_err(GL_ENOMEM, "out of memory");
  for (int d = 0; d < t->shape.rank; d++) tp->dims[d] = t->shape.d[d];
  tp->has_raw_data = 1;
  tp->raw_data.len = bytes;
  tp->raw_data.data = bytes ? t->data : (uint8_t *)"";
  if (name) tp->name = (char *)name;
  return GL_OK;
}

/* Packs msg into a gl_malloc'd buffer. */
static gl_status_t pack(const ProtobufCMessage *msg, void **out, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = gl_malloc(n ? n : 1);
  if (!buf) return gl_err(GL_ENOMEM, "out of memory packing %zu bytes", n);
  size_t got = protobuf_c_message_pack(msg, buf);
  if (got != n) {
    gl_free(buf);
    return gl_err(GL_EINVAL, "protobuf packing wrote %zu bytes, expected %zu", got, n);
  }
  *out = buf;
  *len = n;
  return GL_OK;
}

static gl_status_t write_all(const char *path, const void *buf, size_t len) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp)
    return gl_err(GL_EINVAL, "path '%s' is too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return gl_err(GL_EIO, "cannot create '%s': %s", tmp, strerror(errno));
  size_t put = 0;
  while (put < len) {
    ssize_t w = write(fd, (const char *)buf + put, len - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return gl_err(GL_EIO, "writing '%s': %s", path, strerror(e));
    }
    put += (size_t)w;
  }
  if (close(fd) || rename(tmp, path)) {
    int e = errno;
    unlink(tmp);
    return gl_err(GL_EIO, "writing '%s': %s", path, strerror(e));
  }
  return GL_OK;
}

gl_status_t gl_onnx_write_tensor_buffer(const gl_tensor_t *t, const char *name, void **out, size_t *len) {
  *out = NULL;
  *len = 0;
  pool_t p = {0};
  Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
  gl_status_t st = tensor_to_proto(&p, t, name, &tp);
  if (!st) st = pack(&tp.base, out, len);
  pool_fini(&p);
  return st;
}

gl_status_t gl_onnx_write_tensor_file(const char *path, const gl_tensor_t *t, const char *name) {
  void *buf;
  size_t len;
  GL_TRY(gl_onnx_write_tensor_buffer(t, name, &buf, &len));
  gl_status_t st = write_all(path, buf, len);
  gl_free(buf);
  return st;
}

/* ---- models ---- */

static Onnx__ValueInfoProto *value_info(pool_t *p, const gl_value_t *v) {
  Onnx__ValueInfoProto *vi = POOL_NEW(p, Onnx__ValueInfoProto, ONNX__VALUE_INFO_PROTO__INIT);
  if (!vi) return NULL;
  vi->name = v->name;
  if (v->dtype == GL_DT_UNDEFINED && v->shape.rank < 0) return vi;
  Onnx__TypeProto *tp = POOL_NEW(p, Onnx__TypeProto, ONNX__TYPE_PROTO__INIT);
  Onnx__TypeProto__Tensor *tt = POOL_NEW(p, Onnx__TypeProto__Tensor, ONNX__TYPE_PROTO__TENSOR__INIT);
  if (!tp || !tt) return NULL;
  vi->type = tp;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  if (v->dtype != GL_DT_UNDEFINED) {
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)v->dtype;
  }
  if (v->shape.rank < 0) return vi;
  Onnx__TensorShapeProto *sp = POOL_NEW(p, Onnx__TensorShapeProto, ONNX__TENSOR_SHAPE_PROTO__INIT);
  if (!sp) return NULL;
  tt->shape = sp;
  sp->n_dim = (size_t)v->shape.rank;
  sp->dim = pool_alloc(p, sizeof *sp->dim * (sp->n_dim + 1));
  if (!sp->dim) return NULL;
  for (int d = 0; d < v->shape.rank && d < GL_MAX_RANK; d++) {
    Onnx__TensorShapeProto__Dimension *dim =
        POOL_NEW(p, Onnx__TensorShapeProto__Dimension, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT);
    if (!dim) return NULL;
    sp->dim[d] = dim;
    if (v->shape.d[d] >= 0) {
      dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dim->dim_value = v->shape.d[d];
    } else if (v->dim_param[d]) {
      dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      dim->dim_param = v->dim_param[d];
    }
  }
  return vi;
}

static gl_status_t attr_to_proto(pool_t *p, const gl_node_t *n, const gl_attr_t *a, Onnx__AttributeProto **out) {
  Onnx__AttributeProto *ap = POOL_NEW(p, Onnx__AttributeProto, ONNX__ATTRIBUTE_PROTO__INIT);
  if (!ap) return gl_err(GL_ENOMEM, "out of memory");
  ap->name = a->name;
  ap->has_type = 1;
  size_t cnt = a->n > 0 ? (size_t)a->n : 0;
  switch (a->type) {
    case GL_ATTR_FLOAT: ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, ap->has_f = 1, ap->f = a->f; break;
    case GL_ATTR_INT: ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, ap->has_i = 1, ap->i = a->i; break;
    case GL_ATTR_STRING:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
      ap->has_s = 1;
      ap->s.data = (uint8_t *)(a->s ? a->s : "");
      ap->s.len = a->s ? a->s_len : 0;
      break;
    case GL_ATTR_TENSOR: {
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
      if (!a->t) return gl_err(GL_EINVAL, "%s: tensor attribute '%s' has no tensor", gl_node_label(n), a->name);
      if (!(ap->t = POOL_NEW(p, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT))) return gl_err(GL_ENOMEM, "out of memory");
      GL_TRY(tensor_to_proto(p, a->t, NULL, ap->t));
      break;
    }
    case GL_ATTR_FLOATS:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
      ap->n_floats = cnt;
      ap->floats = cnt ? a->floats : NULL;
      break;
    case GL_ATTR_INTS:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
      ap->n_ints = cnt;
      ap->ints = cnt ? a->ints : NULL;
      break;
    case GL_ATTR_STRINGS:
      ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
      ap->n_strings = cnt;
      if (cnt) {
        if (!(ap->strings = pool_alloc(p, sizeof *ap->strings * cnt))) return gl_err(GL_ENOMEM, "out of memory");
        for (size_t i = 0; i < cnt; i++) {
          ap->strings[i].data = (uint8_t *)a->strings[i];
          ap->strings[i].len = strlen(a->strings[i]);
        }
      }
      break;
    default:
      return gl_err(GL_EUNSUPPORTED, "%s: attribute '%s' of this type cannot be written", gl_node_label(n), a->name);
  }
  *out = ap;
  return GL_OK;
}

/* Where initializers of at least min_bytes go instead of raw_data (NULL f: nowhere). */
typedef struct {
  FILE *f;
  const char *location; /* the data file's name, relative to the model's folder */
  size_t min_bytes;
  uint64_t offset;
} ext_t;

static char *pool_printf(pool_t *p, unsigned long long v) {
  char *s = pool_alloc(p, 24);
  if (s) snprintf(s, 24, "%llu", v);
  return s;
}

/* Moves tp's raw_data into the external file (64-byte aligned) and points tp at it. */
static gl_status_t externalize(pool_t *p, ext_t *x, Onnx__TensorProto *tp) {
  static const char zeros[64];
  size_t pad = (size_t)((64 - x->offset % 64) % 64);
  if ((pad && fwrite(zeros, 1, pad, x->f) != pad) ||
      (tp->raw_data.len && fwrite(tp->raw_data.data, 1, tp->raw_data.len, x->f) != tp->raw_data.len))
    return gl_err(GL_EIO, "writing external data '%s' failed", x->location);
  x->offset += pad;
  Onnx__StringStringEntryProto **e = pool_alloc(p, sizeof *e * 3);
  if (!e) return gl_err(GL_ENOMEM, "out of memory");
  for (int i = 0; i < 3; i++)
    if (!(e[i] = POOL_NEW(p, Onnx__StringStringEntryProto, ONNX__STRING_STRING_ENTRY_PROTO__INIT)))
      return gl_err(GL_ENOMEM, "out of memory");
  e[0]->key = (char *)"location", e[0]->value = (char *)x->location;
  e[1]->key = (char *)"offset", e[1]->value = pool_printf(p, x->offset);
  e[2]->key = (char *)"length", e[2]->value = pool_printf(p, tp->raw_data.len);
  if (!e[1]->value || !e[2]->value) return gl_err(GL_ENOMEM, "out of memory");
  x->offset += tp->raw_data.len;
  tp->has_raw_data = 0;
  tp->raw_data.len = 0;
  tp->raw_data.data = NULL;
  tp->has_data_location = 1;
  tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  tp->n_external_data = 3;
  tp->external_data = e;
  return GL_OK;
}

static gl_status_t build_model(pool_t *p, const gl_graph_t *g, const char *producer, ext_t *x,
                               Onnx__ModelProto *mp) {
#define NEED(x) \
  if (!(x)) return gl_err(GL_ENOMEM, "out of memory")
  mp->has_ir_version = 1;
  mp->ir_version = 8;
  mp->producer_name = (char *)(producer ? producer : "gpulet");
  mp->producer_version = (char *)GL_VERSION;
  mp->n_opset_import = 1;
  NEED(mp->opset_import = pool_alloc(p, sizeof *mp->opset_import));
  NEED(mp->opset_import[0] = POOL_NEW(p, Onnx__OperatorSetIdProto, ONNX__OPERATOR_SET_ID_PROTO__INIT));
  mp->opset_import[0]->domain = (char *)"";
  mp->opset_import[0]->has_version = 1;
  mp->opset_import[0]->version = g->opset;
  Onnx__GraphProto *gp;
  NEED(gp = POOL_NEW(p, Onnx__GraphProto, ONNX__GRAPH_PROTO__INIT));
  mp->graph = gp;
  gp->name = g->name ? g->name : (char *)"gpulet";

  NEED(gp->input = pool_alloc(p, sizeof *gp->input * ((size_t)g->n_inputs + 1)));
  for (int i = 0; i < g->n_inputs; i++) NEED(gp->input[gp->n_input++] = value_info(p, &g->values[g->inputs[i]]));
  NEED(gp->output = pool_alloc(p, sizeof *gp->output * ((size_t)g->n_outputs + 1)));
  for (int i = 0; i < g->n_outputs; i++) NEED(gp->output[gp->n_output++] = value_info(p, &g->values[g->outputs[i]]));

  NEED(gp->initializer = pool_alloc(p, sizeof *gp->initializer * ((size_t)g->n_values + 1)));
  for (int v = 0; v < g->n_values; v++) {
    const gl_value_t *val = &g->values[v];
    if (!val->data) continue;
    Onnx__TensorProto *tp;
    NEED(tp = POOL_NEW(p, Onnx__TensorProto, ONNX__TENSOR_PROTO__INIT));
    GL_TRY(tensor_to_proto(p, val->data, val->name, tp));
    if (x && x->f && tp->raw_data.len >= x->min_bytes) GL_TRY(externalize(p, x, tp));
    gp->initializer[gp->n_initializer++] = tp;
  }

  NEED(gp->node = pool_alloc(p, sizeof *gp->node * ((size_t)g->n_nodes + 1)));
  for (int i = 0; i < g->n_nodes; i++) {
    const gl_node_t *n = &g->nodes[i];
    if (n->dead) continue;
    if (n->fuse.act != GL_ACT_NONE || n->fuse.sum_input >= 0)
      return gl_err(GL_EUNSUPPORTED, "%s carries a fusion, which ONNX cannot express; write the graph before fusing",
                    gl_node_label(n));
    if (n->domain && n->domain[0])
      return gl_err(GL_EUNSUPPORTED, "%s: op domain '%s' cannot be written", gl_node_label(n), n->domain);
    Onnx__NodeProto *np;
    NEED(np = POOL_NEW(p, Onnx__NodeProto, ONNX__NODE_PROTO__INIT));
    np->op_type = n->op_type;
    np->name = n->name && n->name[0] ? n->name : NULL;
    NEED(np->input = pool_alloc(p, sizeof(char *) * ((size_t)n->n_inputs + 1)));
    NEED(np->output = pool_alloc(p, sizeof(char *) * ((size_t)n->n_outputs + 1)));
    np->n_input = (size_t)n->n_inputs;
    np->n_output = (size_t)n->n_outputs;
    for (int k = 0; k < n->n_inputs; k++) np->input[k] = n->inputs[k] >= 0 ? g->values[n->inputs[k]].name : (char *)"";
    for (int k = 0; k < n->n_outputs; k++)
      np->output[k] = n->outputs[k] >= 0 ? g->values[n->outputs[k]].name : (char *)"";
    if (n->n_attrs) {
      NEED(np->attribute = pool_alloc(p, sizeof *np->attribute * (size_t)n->n_attrs));
      for (int a = 0; a < n->n_attrs; a++) GL_TRY(attr_to_proto(p, n, &n->attrs[a], &np->attribute[np->n_attribute++]));
    }
    gp->node[gp->n_node++] = np;
  }
  return p->oom ? gl_err(GL_ENOMEM, "out of memory") : GL_OK;
#undef NEED
}

gl_status_t gl_onnx_save_buffer(const gl_graph_t *g, const char *producer, void **out, size_t *len) {
  *out = NULL;
  *len = 0;
  pool_t p = {0};
  Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
  gl_status_t st = build_model(&p, g, producer, NULL, &mp);
  if (!st) st = pack(&mp.base, out, len);
  pool_fini(&p);
  return st;
}

gl_status_t gl_onnx_save_file(const gl_graph_t *g, const char *path, const char *producer) {
  void *buf;
  size_t len;
  GL_TRY(gl_onnx_save_buffer(g, producer, &buf, &len));
  gl_status_t st = write_all(path, buf, len);
  gl_free(buf);
  return st;
}

gl_status_t gl_onnx_save_file_external(const gl_graph_t *g, const char *path, const char *producer,
                                       size_t min_bytes) {
  char data_path[4096], tmp[4200];
  if ((size_t)snprintf(data_path, sizeof data_path, "%s.data", path) >= sizeof data_path)
    return gl_err(GL_EINVAL, "path '%s' is too long", path);
  const char *slash = strrchr(data_path, '/');
  ext_t x = {.location = slash ? slash + 1 : data_path, .min_bytes = min_bytes ? min_bytes : 1};
  snprintf(tmp, sizeof tmp, "%s.tmp%ld", data_path, (long)getpid());
  x.f = fopen(tmp, "wbx");
  if (!x.f) return gl_err(GL_EIO, "cannot create '%s': %s", tmp, strerror(errno));
  pool_t p = {0};
  Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
  void *buf = NULL;
  size_t len = 0;
  gl_status_t st = build_model(&p, g, producer, &x, &mp);
  if (!st) st = pack(&mp.base, &buf, &len);
  pool_fini(&p);
  if (fclose(x.f) && !st) st = gl_err(GL_EIO, "writing '%s' failed", data_path);
  if (!st && rename(tmp, data_path)) st = gl_err(GL_EIO, "cannot create '%s': %s", data_path, strerror(errno));
  if (st) unlink(tmp);
  if (!st) st = write_all(path, buf, len);
  gl_free(buf);
  return st;
}
