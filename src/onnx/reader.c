/* onnx/reader.c - ONNX ModelProto and TensorProto bytes -> gpulet IR, validating everything. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "onnx/onnx.h"
#include "onnx/pb.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX reader copies raw_data as is and needs a little-endian host"
#endif

#define DEFAULT_MAX_FILE ((size_t)4 << 30)
#define DEFAULT_MAX_NODES 1000000
#define DEFAULT_MAX_VALUES 4000000
#define DEFAULT_MAX_INITIALIZERS 1000000
#define MIN_OPSET 1
#define MAX_OPSET 17

typedef struct {
  const char *base_dir;       /* folder external data is relative to, or NULL */
  size_t max_file;
  int max_nodes, max_values, max_initializers;
} rd_t;

static void limits_of(const gl_onnx_limits_t *lim, rd_t *rd) {
  rd->max_file = lim && lim->max_file_bytes ? lim->max_file_bytes : DEFAULT_MAX_FILE;
  rd->max_nodes = lim && lim->max_nodes > 0 ? lim->max_nodes : DEFAULT_MAX_NODES;
  rd->max_values = lim && lim->max_values > 0 ? lim->max_values : DEFAULT_MAX_VALUES;
  rd->max_initializers = lim && lim->max_initializers > 0 ? lim->max_initializers : DEFAULT_MAX_INITIALIZERS;
}

static const char *tname(const Onnx__TensorProto *tp) {
  return tp->name && tp->name[0] ? tp->name : "(unnamed)";
}

/* ---- files ---- */

/* Reads the whole regular file at path into a gl_malloc'd buffer of at most max bytes. */
static gl_status_t read_file(const char *path, size_t max, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return gl_err(errno == ENOENT ? GL_ENOTFOUND : GL_EIO, "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return gl_err(GL_EIO, "'%s' is not a regular file", path);
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return gl_err(GL_ELIMIT, "'%s' is %lld bytes, more than the limit of %zu", path, (long long)st.st_size, max);
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = gl_malloc(n ? n : 1);
  if (!buf) {
    close(fd);
    return gl_err(GL_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = errno;
      close(fd);
      gl_free(buf);
      return gl_err(GL_EIO, "reading '%s': %s", path, r < 0 ? strerror(e) : "file shrank while reading");
    }
    got += (size_t)r;
  }
  close(fd);
  *out = buf;
  *len = n;
  return GL_OK;
}

/* The folder part of path ("." when it has none), gl_malloc'd. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return gl_strdup(".");
  if (slash == path) return gl_strdup("/");
  return gl_strndup(path, (size_t)(slash - path));
}

/* Strict non-negative decimal. */
static int parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s) return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

/* Opens tensor tp's external data file and checks that it holds bytes at the given offset; all
 * before the tensor is allocated, so a claimed size alone cannot make the reader allocate. */
static gl_status_t open_external(const rd_t *rd, const Onnx__TensorProto *tp, size_t bytes, int *fd_out,
                                 uint64_t *off_out) {
  *fd_out = -1;
  const char *loc = NULL, *off_s = NULL, *len_s = NULL;
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = tp->external_data[i];
    if (!e->key) continue;
    if (!strcmp(e->key, "location")) loc = e->value;
    else if (!strcmp(e->key, "offset")) off_s = e->value;
    else if (!strcmp(e->key, "length")) len_s = e->value;
  }
  if (!loc || !loc[0])
    return gl_err(GL_EPARSE, "tensor '%s' has external data without a location", tname(tp));
  if (loc[0] == '/')
    return gl_err(GL_EINVAL, "tensor '%s': external data location '%s' is an absolute path; only paths "
                  "inside the model's folder are allowed", tname(tp), loc);
  if (!rd->base_dir)
    return gl_err(GL_EINVAL, "tensor '%s' has external data '%s' but the model's folder is not known",
                  tname(tp), loc);
  uint64_t off = 0, len = bytes;
  if (off_s && parse_u64(off_s, &off))
    return gl_err(GL_EPARSE, "tensor '%s': bad external data offset '%s'", tname(tp), off_s);
  if (len_s && parse_u64(len_s, &len))
    return gl_err(GL_EPARSE, "tensor '%s': bad external data length '%s'", tname(tp), len_s);
  if (len != bytes)
    return gl_err(GL_ESHAPE, "tensor '%s': external data length %llu does not match its shape (%zu bytes)",
                  tname(tp), (unsigned long long)len, bytes);
  char base_real[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
  if (!realpath(rd->base_dir, base_real))
    return gl_err(GL_EIO, "cannot resolve the model's folder '%s': %s", rd->base_dir, strerror(errno));
  if ((size_t)snprintf(path, sizeof path, "%s/%s", rd->base_dir, loc) >= sizeof path)
    return gl_err(GL_EINVAL, "tensor '%s': external data path is too long", tname(tp));
  if (!realpath(path, real))
    return gl_err(errno == ENOENT ? GL_ENOTFOUND : GL_EIO, "tensor '%s': external data file '%s': %s", tname(tp),
                  loc, strerror(errno));
  size_t bl = strlen(base_real);
  bool inside = !strcmp(base_real, "/") ? real[0] == '/' : (!strncmp(real, base_real, bl) && real[bl] == '/');
  if (!inside)
    return gl_err(GL_EINVAL, "tensor '%s': external data location '%s' leaves the model's folder", tname(tp), loc);
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* no FIFO may block us */
  if (fd < 0) return gl_err(GL_EIO, "tensor '%s': cannot open external data '%s': %s", tname(tp), loc, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return gl_err(GL_EIO, "tensor '%s': external data '%s' is not a regular file", tname(tp), loc);
  }
  if (off > (uint64_t)st.st_size || (uint64_t)st.st_size - off < len) {
    close(fd);
    return gl_err(GL_ESHAPE, "tensor '%s': external data '%s' holds %lld bytes, too few for offset %llu + length %llu",
                  tname(tp), loc, (long long)st.st_size, (unsigned long long)off, (unsigned long long)len);
  }
  *fd_out = fd;
  *off_out = off;
  return GL_OK;
}

static gl_status_t read_external(const Onnx__TensorProto *tp, int fd, uint64_t off, void *dst, size_t bytes) {
  size_t got = 0;
  while (got < bytes) {
    ssize_t r = pread(fd, (char *)dst + got, bytes - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return gl_err(GL_EIO, "tensor '%s': reading its external data failed", tname(tp));
    got += (size_t)r;
  }
  return GL_OK;
}

/* ---- tensors ---- */

static gl_status_t dtype_of(int code, const char *what, const char *name, gl_dtype_t *out) {
  gl_dtype_t t = (gl_dtype_t)code;
  if (code <= 0 || gl_dtype_size(t) == 0 || !strcmp(gl_dtype_name(t), "undefined")) {
    if (code == 0) return gl_err(GL_EPARSE, "%s '%s' has no data type", what, name);
    return gl_err(GL_EUNSUPPORTED, "%s '%s' has data type %s, which is not supported", what, name,
                  gl_pb_dtype_name(code));
  }
  *out = t;
  return GL_OK;
}

/* Decodes tp into t (owned storage). */
static gl_status_t tensor_from_proto(const rd_t *rd, const Onnx__TensorProto *tp, gl_tensor_t *t) {
  memset(t, 0, sizeof *t);
  gl_dtype_t dt;
  GL_TRY(dtype_of(tp->has_data_type ? tp->data_type : 0, "tensor", tname(tp), &dt));
  if (tp->n_dims > GL_MAX_RANK)
    return gl_err(GL_EUNSUPPORTED, "tensor '%s' has rank %zu; gpulet supports up to %d", tname(tp), tp->n_dims,
                  GL_MAX_RANK);
  if (tp->segment) return gl_err(GL_EUNSUPPORTED, "tensor '%s' is segmented, which is not supported", tname(tp));
  gl_shape_t shape = {.rank = (int)tp->n_dims};
  for (size_t i = 0; i < tp->n_dims; i++) {
    if (tp->dims[i] < 0)
      return gl_err(GL_ESHAPE, "tensor '%s' has a negative dimension %lld", tname(tp), (long long)tp->dims[i]);
    shape.d[i] = tp->dims[i];
  }
  int64_t numel = gl_shape_numel(&shape);
  size_t es = gl_dtype_size(dt);
  if (numel < 0 || (uint64_t)numel > ((uint64_t)1 << 62) / es)
    return gl_err(GL_ELIMIT, "tensor '%s' has too many elements", tname(tp));
  size_t n = (size_t)numel, bytes = n * es;
  bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  int fd = -1;
  uint64_t off = 0;
  if (external) {
    if (bytes > rd->max_file)
      return gl_err(GL_ELIMIT, "tensor '%s' is %zu bytes, more than the limit of %zu", tname(tp), bytes, rd->max_file);
    GL_TRY(open_external(rd, tp, bytes, &fd, &off));
  } else if (tp->has_raw_data) {
    if (tp->raw_data.len != bytes)
      return gl_err(GL_ESHAPE, "tensor '%s': raw_data holds %zu bytes but its %s shape needs %zu", tname(tp),
                    tp->raw_data.len, gl_dtype_name(dt), bytes);
  } else {
    size_t have;
    const char *field;
    switch (dt) {
      case GL_DT_F32: have = tp->n_float_data, field = "float_data"; break;
      case GL_DT_I32: case GL_DT_I16: case GL_DT_I8: case GL_DT_U8: case GL_DT_U16: case GL_DT_BOOL:
      case GL_DT_F16: case GL_DT_BF16: have = tp->n_int32_data, field = "int32_data"; break;
      case GL_DT_I64: have = tp->n_int64_data, field = "int64_data"; break;
      case GL_DT_F64: have = tp->n_double_data, field = "double_data"; break;
      case GL_DT_U32: case GL_DT_U64: have = tp->n_uint64_data, field = "uint64_data"; break;
      default: return gl_err(GL_EUNSUPPORTED, "tensor '%s': data type %s", tname(tp), gl_dtype_name(dt));
    }
    if (have != n)
      return gl_err(GL_ESHAPE, "tensor '%s': %s holds %zu elements but its shape needs %zu", tname(tp), field,
                    have, n);
  }
  /* Every byte is written below, so skip gl_tensor_alloc's zeroing (it shows on big weights). */
  gl_status_t st = GL_OK;
  t->data = gl_aligned_alloc(bytes ? bytes : 1);
  if (!t->data) {
    if (fd >= 0) close(fd);
    return gl_err(GL_ENOMEM, "out of memory allocating tensor '%s' (%zu bytes)", tname(tp), bytes);
  }
  t->dtype = dt;
  t->shape = shape;
  t->owns = true;
  if (external) {
    st = read_external(tp, fd, off, t->data, bytes);
    close(fd);
  } else if (tp->has_raw_data) {
    if (bytes) memcpy(t->data, tp->raw_data.data, bytes);
  } else {
    void *p = t->data;
    for (size_t i = 0; i < n; i++) {
      switch (dt) {
        case GL_DT_F32: ((float *)p)[i] = tp->float_data[i]; break;
        case GL_DT_I32: ((int32_t *)p)[i] = tp->int32_data[i]; break;
        case GL_DT_I16: ((int16_t *)p)[i] = (int16_t)tp->int32_data[i]; break;
        case GL_DT_I8: ((int8_t *)p)[i] = (int8_t)tp->int32_data[i]; break;
        case GL_DT_U8: ((uint8_t *)p)[i] = (uint8_t)tp->int32_data[i]; break;
        case GL_DT_BOOL: ((uint8_t *)p)[i] = tp->int32_data[i] != 0; break;
        case GL_DT_U16: case GL_DT_F16: case GL_DT_BF16: ((uint16_t *)p)[i] = (uint16_t)tp->int32_data[i]; break;
        case GL_DT_I64: ((int64_t *)p)[i] = tp->int64_data[i]; break;
        case GL_DT_F64: ((double *)p)[i] = tp->double_data[i]; break;
        case GL_DT_U32: ((uint32_t *)p)[i] = (uint32_t)tp->uint64_data[i]; break;
        case GL_DT_U64: ((uint64_t *)p)[i] = tp->uint64_data[i]; break;
        default: break;
      }
    }
  }
  if (st) gl_tensor_fini(t);
  return st;
}

/* ---- value types ---- */

/* Applies a ValueInfo's tensor type (dtype, shape, dim_params) to value v. */
static gl_status_t apply_type(gl_graph_t *g, int vi, const Onnx__ValueInfoProto *info, const char *what,
                              bool required) {
  const Onnx__TypeProto *tp = info->type;
  const char *name = info->name;
  if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) {
    if (required) return gl_err(GL_EPARSE, "%s '%s' has no type", what, name);
    return GL_OK;
  }
  switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE: break;
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
      return gl_err(GL_EUNSUPPORTED, "%s '%s' is a sequence, which is not supported", what, name);
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
      return gl_err(GL_EUNSUPPORTED, "%s '%s' is a map, which is not supported", what, name);
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
      return gl_err(GL_EUNSUPPORTED, "%s '%s' is an optional, which is not supported", what, name);
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
      return gl_err(GL_EUNSUPPORTED, "%s '%s' is a sparse tensor, which is not supported", what, name);
    default: return gl_err(GL_EUNSUPPORTED, "%s '%s' has a type gpulet does not know", what, name);
  }
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  if (!tt) return required ? gl_err(GL_EPARSE, "%s '%s' has no type", what, name) : GL_OK;
  gl_dtype_t dt = GL_DT_UNDEFINED;
  if (tt->has_elem_type || required) GL_TRY(dtype_of(tt->has_elem_type ? tt->elem_type : 0, what, name, &dt));
  gl_value_t *v = &g->values[vi];
  v->dtype = dt;
  if (!tt->shape) {
    v->shape.rank = -1;
    return GL_OK;
  }
  if (tt->shape->n_dim > GL_MAX_RANK)
    return gl_err(GL_EUNSUPPORTED, "%s '%s' has rank %zu; gpulet supports up to %d", what, name,
                  tt->shape->n_dim, GL_MAX_RANK);
  v->shape.rank = (int)tt->shape->n_dim;
  for (size_t d = 0; d < tt->shape->n_dim; d++) {
    const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
    v->shape.d[d] = -1;
    gl_free(v->dim_param[d]);
    v->dim_param[d] = NULL;
    if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (dim->dim_value < 0)
        return gl_err(GL_ESHAPE, "%s '%s' has a negative dimension %lld", what, name, (long long)dim->dim_value);
      v->shape.d[d] = dim->dim_value;
    } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dim->dim_param &&
               dim->dim_param[0]) {
      if (!(v->dim_param[d] = gl_strdup(dim->dim_param))) return gl_err(GL_ENOMEM, "out of memory");
    }
  }
  return GL_OK;
}

/* ---- attributes and nodes ---- */

static gl_status_t node_err_unsupported_attr(const gl_node_t *n, const char *attr, const char *kind) {
  return gl_err(GL_EUNSUPPORTED, "%s: attribute '%s' is a %s, which is not supported", gl_node_label(n), attr, kind);
}

static gl_status_t copy_attr(const rd_t *rd, gl_graph_t *g, int ni, const Onnx__AttributeProto *ap) {
  const char *an = ap->name;
  if (!an || !an[0]) return gl_err(GL_EPARSE, "%s has an attribute without a name", gl_node_label(&g->nodes[ni]));
  if (gl_attr(&g->nodes[ni], an))
    return gl_err(GL_EPARSE, "%s has attribute '%s' twice", gl_node_label(&g->nodes[ni]), an);
  int type = ap->has_type ? (int)ap->type : 0;
  if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) { /* old models: infer it from the field set */
    if (ap->has_f) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    else if (ap->has_i) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    else if (ap->has_s) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    else if (ap->t) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    else if (ap->g) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    else if (ap->n_floats) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    else if (ap->n_ints) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    else if (ap->n_strings) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    else if (ap->n_graphs) type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    else return gl_err(GL_EPARSE, "%s: attribute '%s' has no type and no value", gl_node_label(&g->nodes[ni]), an);
  }
  gl_attr_type_t at;
  switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: at = GL_ATTR_FLOAT; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: at = GL_ATTR_INT; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: at = GL_ATTR_STRING; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: at = GL_ATTR_TENSOR; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: at = GL_ATTR_FLOATS; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: at = GL_ATTR_INTS; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: at = GL_ATTR_STRINGS; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
      return node_err_unsupported_attr(&g->nodes[ni], an, "subgraph");
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
      return node_err_unsupported_attr(&g->nodes[ni], an, "sparse tensor");
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
      return node_err_unsupported_attr(&g->nodes[ni], an, "list of tensors");
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
      return node_err_unsupported_attr(&g->nodes[ni], an, "type");
    default:
      return gl_err(GL_EPARSE, "%s: attribute '%s' has unknown type %d", gl_node_label(&g->nodes[ni]), an, type);
  }
  size_t count = at == GL_ATTR_FLOATS ? ap->n_floats : at == GL_ATTR_INTS ? ap->n_ints
               : at == GL_ATTR_STRINGS ? ap->n_strings : 0;
  if (count > (size_t)INT32_MAX / 16)
    return gl_err(GL_ELIMIT, "%s: attribute '%s' has too many elements", gl_node_label(&g->nodes[ni]), an);
  if (at == GL_ATTR_TENSOR && !ap->t)
    return gl_err(GL_EPARSE, "%s: tensor attribute '%s' has no tensor", gl_node_label(&g->nodes[ni]), an);
  gl_attr_t *a = gl_node_add_attr(g, ni, an, at);
  if (!a) return gl_err(GL_ENOMEM, "out of memory");
  a->n = (int)count;
  switch (at) {
    case GL_ATTR_FLOAT: a->f = ap->f; break;
    case GL_ATTR_INT: a->i = ap->i; break;
    case GL_ATTR_STRING:
      a->s_len = ap->s.len;
      if (!(a->s = gl_malloc(ap->s.len + 1))) return gl_err(GL_ENOMEM, "out of memory");
      if (ap->s.len) memcpy(a->s, ap->s.data, ap->s.len);
      a->s[ap->s.len] = 0;
      break;
    case GL_ATTR_TENSOR: {
      if (!(a->t = gl_calloc(1, sizeof *a->t))) return gl_err(GL_ENOMEM, "out of memory");
      gl_status_t st = tensor_from_proto(rd, ap->t, a->t);
      if (st) return gl_err_wrap(st, "%s: attribute '%s'", gl_node_label(&g->nodes[ni]), an);
      break;
    }
    case GL_ATTR_FLOATS:
      if (!(a->floats = gl_malloc(sizeof(float) * (count ? count : 1)))) return gl_err(GL_ENOMEM, "out of memory");
      if (count) memcpy(a->floats, ap->floats, sizeof(float) * count);
      break;
    case GL_ATTR_INTS:
      if (!(a->ints = gl_malloc(sizeof(int64_t) * (count ? count : 1)))) return gl_err(GL_ENOMEM, "out of memory");
      if (count) memcpy(a->ints, ap->ints, sizeof(int64_t) * count);
      break;
    case GL_ATTR_STRINGS:
      a->n = 0;
      if (!(a->strings = gl_calloc(count ? count : 1, sizeof(char *)))) return gl_err(GL_ENOMEM, "out of memory");
      for (size_t i = 0; i < count; i++) {
        if (!(a->strings[i] = gl_malloc(ap->strings[i].len + 1))) return gl_err(GL_ENOMEM, "out of memory");
        a->n = (int)i + 1;
        if (ap->strings[i].len) memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
        a->strings[i][ap->strings[i].len] = 0;
      }
      break;
    default: break;
  }
  return GL_OK;
}

static bool default_domain(const char *d) { return !d || !d[0] || !strcmp(d, "ai.onnx"); }

/* Checks that value vi may be defined (by a node or a Constant): not an input, initializer or
 * another node's output. */
static gl_status_t check_new_def(gl_graph_t *g, int vi, const char *label) {
  gl_value_t *v = &g->values[vi];
  if (v->kind != GL_VAL_INTERNAL || v->producer >= 0 || v->data)
    return gl_err(GL_EPARSE, "%s defines '%s', which is already defined", label, v->name);
  return GL_OK;
}

/* A Constant node becomes a constant value. */
static gl_status_t constant_node(const rd_t *rd, gl_graph_t *g, const Onnx__NodeProto *np, const char *label) {
  if (np->n_output != 1 || !np->output[0] || !np->output[0][0])
    return gl_err(GL_EPARSE, "%s must have exactly one output", label);
  if (np->n_attribute != 1)
    return gl_err(GL_EPARSE, "%s must have exactly one attribute, not %zu", label, np->n_attribute);
  const Onnx__AttributeProto *ap = np->attribute[0];
  const char *an = ap->name ? ap->name : "";
  gl_tensor_t t = {0};
  if (!strcmp(an, "value")) {
    if (!ap->t) return gl_err(GL_EPARSE, "%s: attribute 'value' has no tensor", label);
    gl_status_t st = tensor_from_proto(rd, ap->t, &t);
    if (st) return gl_err_wrap(st, "%s", label);
  } else if (!strcmp(an, "value_float") || !strcmp(an, "value_int")) {
    bool f = an[6] == 'f';
    if (f ? !ap->has_f : !ap->has_i) return gl_err(GL_EPARSE, "%s: attribute '%s' has no value", label, an);
    gl_shape_t s = {0};
    GL_TRY(gl_tensor_alloc(&t, f ? GL_DT_F32 : GL_DT_I64, &s));
    if (f) *(float *)t.data = ap->f;
    else *(int64_t *)t.data = ap->i;
  } else if (!strcmp(an, "value_floats") || !strcmp(an, "value_ints")) {
    bool f = an[6] == 'f';
    size_t n = f ? ap->n_floats : ap->n_ints;
    gl_shape_t s = {1, {(int64_t)n}};
    GL_TRY(gl_tensor_alloc(&t, f ? GL_DT_F32 : GL_DT_I64, &s));
    if (n) memcpy(t.data, f ? (const void *)ap->floats : (const void *)ap->ints, n * (f ? 4 : 8));
  } else if (!strcmp(an, "sparse_value")) {
    return gl_err(GL_EUNSUPPORTED, "%s: sparse constants are not supported", label);
  } else if (!strcmp(an, "value_string") || !strcmp(an, "value_strings")) {
    return gl_err(GL_EUNSUPPORTED, "%s: string constants are not supported", label);
  } else {
    return gl_err(GL_EPARSE, "%s: unknown attribute '%s'", label, an);
  }
  int vi = gl_graph_value(g, np->output[0]);
  gl_status_t st = vi < 0 ? gl_err(GL_ENOMEM, "out of memory") : check_new_def(g, vi, label);
  if (!st) st = gl_value_set_const(g, vi, &t);
  gl_tensor_fini(&t);
  return st;
}

static gl_status_t add_node(const rd_t *rd, gl_graph_t *g, const Onnx__NodeProto *np, int idx) {
  char label[200];
  const char *op = np->op_type;
  if (!op || !op[0]) return gl_err(GL_EPARSE, "node %d has no op_type", idx);
  if (np->name && np->name[0]) snprintf(label, sizeof label, "%s node '%s'", op, np->name);
  else snprintf(label, sizeof label, "%s node %d", op, idx);
  if (!default_domain(np->domain))
    return gl_err(GL_EUNSUPPORTED, "%s: op domain '%s' is not supported", label, np->domain);
  if (!strcmp(op, "Constant")) return constant_node(rd, g, np, label);
  if (np->n_input > 100000 || np->n_output > 100000) return gl_err(GL_ELIMIT, "%s has too many inputs or outputs", label);
  int *ins = gl_malloc(sizeof(int) * (np->n_input + np->n_output + 1));
  if (!ins) return gl_err(GL_ENOMEM, "out of memory");
  int *outs = ins + np->n_input;
  gl_status_t st = GL_OK;
  for (size_t i = 0; i < np->n_input && !st; i++) {
    const char *nm = np->input[i];
    ins[i] = -1;
    if (nm && nm[0] && (ins[i] = gl_graph_value(g, nm)) < 0) st = gl_err(GL_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < np->n_output && !st; i++) {
    const char *nm = np->output[i];
    outs[i] = -1;
    if (!nm || !nm[0]) continue;
    if ((outs[i] = gl_graph_value(g, nm)) < 0) {
      st = gl_err(GL_ENOMEM, "out of memory");
      break;
    }
    st = check_new_def(g, outs[i], label);
    if (!st) g->values[outs[i]].producer = g->n_nodes; /* marks it defined; toposort recounts */
  }
  int ni = -1;
  if (!st) {
    ni = gl_graph_add_node(g, op, np->name ? np->name : "", ins, (int)np->n_input, outs, (int)np->n_output);
    if (ni < 0) st = gl_err(GL_ENOMEM, "out of memory");
  }
  gl_free(ins);
  for (size_t a = 0; a < np->n_attribute && !st; a++) st = copy_attr(rd, g, ni, np->attribute[a]);
  return st;
}

/* ONNX requires nodes in topological order, so this is usually just a linear check; only a
 * graph out of order (or broken: a cycle, an undefined value) goes to gl_graph_toposort, which
 * is quadratic and names what is wrong. */
static gl_status_t sort_nodes(gl_graph_t *g) {
  if (g->n_nodes == 0) { /* only constants and inputs */
    gl_graph_recount(g);
    return GL_OK;
  }
  char *defined = gl_calloc((size_t)g->n_values, 1);
  if (!defined) return gl_err(GL_ENOMEM, "out of memory");
  for (int v = 0; v < g->n_values; v++) defined[v] = g->values[v].kind != GL_VAL_INTERNAL || g->values[v].data;
  bool sorted = true;
  for (int i = 0; i < g->n_nodes && sorted; i++) {
    const gl_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0 && !defined[n->inputs[k]]) sorted = false;
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] >= 0) defined[n->outputs[k]] = 1;
  }
  gl_free(defined);
  if (!sorted) return gl_graph_toposort(g);
  gl_graph_recount(g);
  return GL_OK;
}

/* ---- the model ---- */

static gl_status_t convert(const rd_t *rd, const Onnx__ModelProto *mp, gl_graph_t *g) {
  int64_t opset = -1;
  for (size_t i = 0; i < mp->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
    if (default_domain(o->domain)) opset = o->has_version ? o->version : 0;
  }
  if (opset < 0) return gl_err(GL_EUNSUPPORTED, "the model imports no default-domain (ai.onnx) opset");
  if (opset < MIN_OPSET || opset > MAX_OPSET)
    return gl_err(GL_EUNSUPPORTED, "opset %lld is not supported (gpulet reads opsets %d to %d)", (long long)opset,
                  MIN_OPSET, MAX_OPSET);
  g->opset = opset;
  const Onnx__GraphProto *gp = mp->graph;
  if (!gp) return gl_err(GL_EPARSE, "the model has no graph");
  if (gp->n_node > (size_t)rd->max_nodes)
    return gl_err(GL_ELIMIT, "the model has %zu nodes, more than the limit of %d", gp->n_node, rd->max_nodes);
  if (gp->n_initializer > (size_t)rd->max_initializers)
    return gl_err(GL_ELIMIT, "the model has %zu initializers, more than the limit of %d", gp->n_initializer,
                  rd->max_initializers);
  /* every value is an initializer, a graph input or a node output: counted before any is made */
  size_t n_values = gp->n_initializer + gp->n_input;
  for (size_t i = 0; i < gp->n_node; i++) n_values += gp->node[i]->n_output;
  if (n_values > (size_t)rd->max_values)
    return gl_err(GL_ELIMIT, "the model has %zu values (initializers, inputs and node outputs), more than the limit of %d",
                  n_values, rd->max_values);
  if (gp->n_sparse_initializer) return gl_err(GL_EUNSUPPORTED, "sparse initializers are not supported");
  size_t weight_bytes = 0;
  if (gp->name && gp->name[0] && !(g->name = gl_strdup(gp->name))) return gl_err(GL_ENOMEM, "out of memory");
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    if (!tp->name || !tp->name[0]) return gl_err(GL_EPARSE, "initializer %zu has no name", i);
    if (gl_graph_find(g, tp->name) >= 0) return gl_err(GL_EPARSE, "initializer '%s' appears twice", tp->name);
    int vi = gl_graph_add_value(g, tp->name);
    if (vi < 0) return gl_err(GL_ENOMEM, "out of memory");
    gl_tensor_t t;
    gl_status_t st = tensor_from_proto(rd, tp, &t);
    if (st) return gl_err_wrap(st, "initializer");
    weight_bytes += gl_tensor_nbytes(&t);
    if (weight_bytes > rd->max_file) {
      gl_tensor_fini(&t);
      return gl_err(GL_ELIMIT, "the model's initializers hold more than the limit of %zu bytes", rd->max_file);
    }
    if ((st = gl_value_set_const(g, vi, &t))) {
      gl_tensor_fini(&t);
      return st;
    }
  }
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *info = gp->input[i];
    if (!info->name || !info->name[0]) return gl_err(GL_EPARSE, "graph input %zu has no name", i);
    int vi = gl_graph_find(g, info->name);
    if (vi >= 0) {
      if (g->values[vi].kind == GL_VAL_CONST) continue; /* an initializer: a constant, not an input */
      return gl_err(GL_EPARSE, "graph input '%s' appears twice", info->name);
    }
    if ((vi = gl_graph_add_value(g, info->name)) < 0) return gl_err(GL_ENOMEM, "out of memory");
    GL_TRY(apply_type(g, vi, info, "graph input", true));
    GL_TRY(gl_graph_add_input(g, vi));
  }
  for (size_t i = 0; i < gp->n_node; i++) GL_TRY(add_node(rd, g, gp->node[i], (int)i));
  if (gp->n_output == 0) return gl_err(GL_EPARSE, "the graph has no outputs");
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__ValueInfoProto *info = gp->output[i];
    if (!info->name || !info->name[0]) return gl_err(GL_EPARSE, "graph output %zu has no name", i);
    int vi = gl_graph_find(g, info->name);
    if (vi < 0) return gl_err(GL_EPARSE, "graph output '%s' is not defined by any node, input or initializer", info->name);
    gl_value_t *v = &g->values[vi];
    if (v->is_output) return gl_err(GL_EPARSE, "graph output '%s' appears twice", info->name);
    if (v->kind == GL_VAL_INTERNAL && v->producer < 0)
      return gl_err(GL_EPARSE, "graph output '%s' is not defined by any node, input or initializer", info->name);
    if (v->kind == GL_VAL_INTERNAL) GL_TRY(apply_type(g, vi, info, "graph output", false));
    GL_TRY(gl_graph_add_output(g, vi));
  }
  return sort_nodes(g);
}

gl_status_t gl_onnx_load_buffer(const void *buf, size_t len, const char *base_dir, const gl_onnx_limits_t *lim,
                                gl_graph_t **out) {
  *out = NULL;
  rd_t rd = {.base_dir = base_dir};
  limits_of(lim, &rd);
  if (!buf && len) return gl_err(GL_EINVAL, "no model bytes");
  if (len > rd.max_file) return gl_err(GL_ELIMIT, "the model is %zu bytes, more than the limit of %zu", len, rd.max_file);
  if (len == 0) return gl_err(GL_EPARSE, "the model is empty");
  GL_TRY(gl_pb_check(&onnx__model_proto__descriptor, buf, len, "model"));
  gl_pb_take_oom();
  Onnx__ModelProto *mp = onnx__model_proto__unpack(&gl_pb_allocator, len, buf);
  if (!mp && gl_pb_take_oom()) return gl_err(GL_ENOMEM, "out of memory decoding the model");
  if (!mp) return gl_err(GL_EPARSE, "not an ONNX model: protobuf decoding failed");
  gl_graph_t *g = gl_graph_create();
  gl_status_t st = g ? convert(&rd, mp, g) : gl_err(GL_ENOMEM, "out of memory");
  onnx__model_proto__free_unpacked(mp, &gl_pb_allocator);
  if (st) {
    gl_graph_destroy(g);
    return st;
  }
  *out = g;
  return GL_OK;
}

gl_status_t gl_onnx_load_file(const char *path, const gl_onnx_limits_t *lim, gl_graph_t **out) {
  *out = NULL;
  rd_t rd;
  limits_of(lim, &rd);
  /* Mapped rather than read: a model's weights are then copied twice (protobuf-c, tensor), not three times. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return gl_err(errno == ENOENT ? GL_ENOTFOUND : GL_EIO, "cannot open '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return gl_err(GL_EIO, "'%s' is not a regular file", path);
  }
  if ((uint64_t)sb.st_size > rd.max_file) {
    close(fd);
    return gl_err(GL_ELIMIT, "'%s' is %lld bytes, more than the limit of %zu", path, (long long)sb.st_size, rd.max_file);
  }
  size_t len = (size_t)sb.st_size;
  void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : NULL;
  close(fd);
  if (map == MAP_FAILED) return gl_err(GL_EIO, "cannot map '%s': %s", path, strerror(errno));
  char *dir = dir_of(path);
  gl_status_t st = dir ? gl_onnx_load_buffer(map, len, dir, lim, out) : gl_err(GL_ENOMEM, "out of memory");
  gl_free(dir);
  if (map) munmap(map, len);
  if (st) gl_err_wrap(st, "%s", path);
  return st;
}

/* ---- tensor files ---- */

static gl_status_t read_tensor(const void *buf, size_t len, const char *base_dir, gl_tensor_t *t, char **name) {
  memset(t, 0, sizeof *t);
  if (name) *name = NULL;
  if (!buf && len) return gl_err(GL_EINVAL, "no tensor bytes");
  GL_TRY(gl_pb_check(&onnx__tensor_proto__descriptor, buf, len, "tensor"));
  gl_pb_take_oom();
  Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&gl_pb_allocator, len, buf);
  if (!tp && gl_pb_take_oom()) return gl_err(GL_ENOMEM, "out of memory decoding a tensor");
  if (!tp) return gl_err(GL_EPARSE, "not an ONNX tensor: protobuf decoding failed");
  rd_t rd = {.base_dir = base_dir};
  limits_of(NULL, &rd);
  gl_status_t st = tensor_from_proto(&rd, tp, t);
  if (!st && name && tp->name && tp->name[0] && !(*name = gl_strdup(tp->name))) {
    gl_tensor_fini(t);
    st = gl_err(GL_ENOMEM, "out of memory");
  }
  onnx__tensor_proto__free_unpacked(tp, &gl_pb_allocator);
  return st;
}

gl_status_t gl_onnx_read_tensor_buffer(const void *buf, size_t len, gl_tensor_t *t, char **name) {
  return read_tensor(buf, len, NULL, t, name);
}

gl_status_t gl_onnx_read_tensor_file(const char *path, gl_tensor_t *t, char **name) {
  memset(t, 0, sizeof *t);
  if (name) *name = NULL;
  uint8_t *buf;
  size_t len;
  GL_TRY(read_file(path, DEFAULT_MAX_FILE, &buf, &len));
  char *dir = dir_of(path);
  gl_status_t st = dir ? read_tensor(buf, len, dir, t, name) : gl_err(GL_ENOMEM, "out of memory");
  gl_free(dir);
  gl_free(buf);
  if (st) gl_err_wrap(st, "%s", path);
  return st;
}
