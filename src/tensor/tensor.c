/* tensor/tensor.c - dtypes, shapes, tensor storage. */
#include "tensor/tensor.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

size_t gl_dtype_size(gl_dtype_t t) {
  switch (t) {
    case GL_DT_F32: case GL_DT_I32: case GL_DT_U32: return 4;
    case GL_DT_F64: case GL_DT_I64: case GL_DT_U64: return 8;
    case GL_DT_F16: case GL_DT_BF16: case GL_DT_I16: case GL_DT_U16: return 2;
    case GL_DT_I8: case GL_DT_U8: case GL_DT_BOOL: return 1;
    default: return 0;
  }
}

const char *gl_dtype_name(gl_dtype_t t) {
  switch (t) {
    case GL_DT_F32: return "float";
    case GL_DT_U8: return "uint8";
    case GL_DT_I8: return "int8";
    case GL_DT_U16: return "uint16";
    case GL_DT_I16: return "int16";
    case GL_DT_I32: return "int32";
    case GL_DT_I64: return "int64";
    case GL_DT_STRING: return "string";
    case GL_DT_BOOL: return "bool";
    case GL_DT_F16: return "float16";
    case GL_DT_F64: return "double";
    case GL_DT_U32: return "uint32";
    case GL_DT_U64: return "uint64";
    case GL_DT_BF16: return "bfloat16";
    default: return "undefined";
  }
}

static const struct { const char *name; gl_dtype_t t; } kserve_names[] = {
    {"BOOL", GL_DT_BOOL}, {"UINT8", GL_DT_U8},   {"UINT16", GL_DT_U16}, {"UINT32", GL_DT_U32},
    {"UINT64", GL_DT_U64}, {"INT8", GL_DT_I8},   {"INT16", GL_DT_I16},  {"INT32", GL_DT_I32},
    {"INT64", GL_DT_I64}, {"FP16", GL_DT_F16},   {"FP32", GL_DT_F32},   {"FP64", GL_DT_F64},
    {"BF16", GL_DT_BF16}, {"BYTES", GL_DT_STRING},
};

gl_dtype_t gl_dtype_from_kserve(const char *s) {
  for (size_t i = 0; i < sizeof kserve_names / sizeof kserve_names[0]; i++)
    if (s && !strcmp(s, kserve_names[i].name)) return kserve_names[i].t;
  return GL_DT_UNDEFINED;
}

const char *gl_dtype_kserve(gl_dtype_t t) {
  for (size_t i = 0; i < sizeof kserve_names / sizeof kserve_names[0]; i++)
    if (kserve_names[i].t == t) return kserve_names[i].name;
  return NULL;
}

bool gl_dtype_is_float(gl_dtype_t t) {
  return t == GL_DT_F32 || t == GL_DT_F64 || t == GL_DT_F16 || t == GL_DT_BF16;
}

bool gl_dtype_is_int(gl_dtype_t t) {
  switch (t) {
    case GL_DT_U8: case GL_DT_I8: case GL_DT_U16: case GL_DT_I16: case GL_DT_I32:
    case GL_DT_I64: case GL_DT_U32: case GL_DT_U64: return true;
    default: return false;
  }
}

int64_t gl_shape_numel(const gl_shape_t *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] < 0) return -1;
    if (s->d[i] && n > INT64_MAX / s->d[i]) return -1;
    n *= s->d[i];
  }
  return n;
}

bool gl_shape_eq(const gl_shape_t *a, const gl_shape_t *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return false;
  return true;
}

char *gl_shape_str(const gl_shape_t *s, char *buf, size_t cap) {
  size_t n = 0;
  if (cap == 0) return buf;
  buf[0] = 0;
  n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "[");
  for (int i = 0; i < s->rank && n < cap; i++) {
    if (s->d[i] < 0)
      n += (size_t)snprintf(buf + n, cap - n, "%s?", i ? "," : "");
    else
      n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)s->d[i]);
  }
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

gl_status_t gl_shape_broadcast(const gl_shape_t *a, const gl_shape_t *b, gl_shape_t *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  gl_shape_t o = {.rank = r};
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da == db || db == 1) o.d[i] = da;
    else if (da == 1) o.d[i] = db;
    else {
      char sa[128], sb[128];
      return gl_err(GL_ESHAPE, "shapes %s and %s do not broadcast", gl_shape_str(a, sa, sizeof sa),
                    gl_shape_str(b, sb, sizeof sb));
    }
  }
  *out = o;
  return GL_OK;
}

void gl_shape_strides(const gl_shape_t *s, int64_t *st) {
  /* Saturates instead of overflowing: only an empty tensor (a 0 dim) can have a product of its
   * other dims past int64, and its strides are never used to address anything. */
  int64_t acc = 1;
  for (int i = s->rank - 1; i >= 0; i--) {
    st[i] = acc;
    acc = (s->d[i] > 0 && acc > INT64_MAX / s->d[i]) ? INT64_MAX : acc * s->d[i];
  }
}

gl_status_t gl_tensor_alloc(gl_tensor_t *t, gl_dtype_t dtype, const gl_shape_t *shape) {
  int64_t n = gl_shape_numel(shape);
  size_t es = gl_dtype_size(dtype);
  memset(t, 0, sizeof *t);
  if (n < 0) return gl_err(GL_ESHAPE, "cannot allocate a tensor of unknown or huge shape");
  if (es == 0) return gl_err(GL_ETYPE, "cannot allocate a tensor of type %s", gl_dtype_name(dtype));
  if ((uint64_t)n > (SIZE_MAX / 2) / es) return gl_err(GL_ELIMIT, "tensor too large");
  size_t bytes = (size_t)n * es;
  t->data = gl_aligned_alloc(bytes ? bytes : 1);
  if (!t->data) return gl_err(GL_ENOMEM, "out of memory allocating %zu bytes", bytes);
  memset(t->data, 0, bytes);
  t->dtype = dtype;
  t->shape = *shape;
  t->owns = true;
  return GL_OK;
}

size_t gl_tensor_nbytes(const gl_tensor_t *t) {
  int64_t n = gl_shape_numel(&t->shape);
  return n < 0 ? 0 : (size_t)n * gl_dtype_size(t->dtype);
}

gl_status_t gl_tensor_copy(gl_tensor_t *dst, const gl_tensor_t *src) {
  GL_TRY(gl_tensor_alloc(dst, src->dtype, &src->shape));
  if (gl_tensor_nbytes(src)) memcpy(dst->data, src->data, gl_tensor_nbytes(src));
  return GL_OK;
}

struct gl_tensor_buf {
  atomic_long refs;
  void *data; /* gl_aligned_alloc'd */
};

gl_status_t gl_tensor_make_shared(gl_tensor_t *t) {
  if (t->buf || !t->owns) return GL_OK;
  gl_tensor_buf_t *b = gl_malloc(sizeof *b);
  if (!b) return gl_err(GL_ENOMEM, "out of memory");
  atomic_init(&b->refs, 1);
  b->data = t->data;
  t->buf = b;
  t->owns = false;
  return GL_OK;
}

gl_status_t gl_tensor_share(gl_tensor_t *dst, const gl_tensor_t *src) {
  if (!src->buf) return gl_tensor_copy(dst, src);
  atomic_fetch_add(&src->buf->refs, 1);
  *dst = *src;
  return GL_OK;
}

void gl_tensor_fini(gl_tensor_t *t) {
  if (!t) return;
  if (t->buf && atomic_fetch_sub(&t->buf->refs, 1) == 1) {
    gl_aligned_free(t->buf->data);
    gl_free(t->buf);
  }
  if (t->owns) gl_aligned_free(t->data);
  memset(t, 0, sizeof *t);
}

double gl_tensor_get_f64(const gl_tensor_t *t, int64_t i) {
  const void *p = t->data;
  switch (t->dtype) {
    case GL_DT_F32: return ((const float *)p)[i];
    case GL_DT_F64: return ((const double *)p)[i];
    case GL_DT_F16: return gl_f16_to_f32(((const uint16_t *)p)[i]);
    case GL_DT_BF16: return gl_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return (double)gl_tensor_get_i64(t, i);
  }
}

int64_t gl_tensor_get_i64(const gl_tensor_t *t, int64_t i) {
  const void *p = t->data;
  switch (t->dtype) {
    case GL_DT_I64: return ((const int64_t *)p)[i];
    case GL_DT_I32: return ((const int32_t *)p)[i];
    case GL_DT_I16: return ((const int16_t *)p)[i];
    case GL_DT_I8: return ((const int8_t *)p)[i];
    case GL_DT_U8: case GL_DT_BOOL: return ((const uint8_t *)p)[i];
    case GL_DT_U16: return ((const uint16_t *)p)[i];
    case GL_DT_U32: return ((const uint32_t *)p)[i];
    case GL_DT_U64: return (int64_t)((const uint64_t *)p)[i];
    default: return (int64_t)gl_tensor_get_f64(t, i);
  }
}

float gl_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) bits = sign;
    else {
      float f = ldexpf((float)man, -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t gl_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  if (exp >= 31) return (uint16_t)(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  return (uint16_t)half;
}

float gl_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t gl_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}
