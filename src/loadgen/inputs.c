/* loadgen/inputs.c - an infer request per model from its metadata: seeded random inputs, JSON or binary. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "loadgen/loadgen_int.h"

typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} buf_t;

static void put(buf_t *b, const void *s, size_t n) {
  if (b->oom) return;
  if (gl_grow((void **)&b->p, &b->cap, b->len + n + 1, 1)) {
    b->oom = true;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

GL_PRINTF(2, 3) static void putf(buf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

typedef enum { T_F32, T_F64, T_F16, T_BF16, T_I8, T_I16, T_I32, T_I64, T_U8, T_U16, T_U32, T_U64, T_BOOL } kind_t;

static const struct {
  const char *name;
  kind_t k;
  int size;
} types[] = {{"FP32", T_F32, 4},  {"FP64", T_F64, 8},   {"FP16", T_F16, 2},   {"BF16", T_BF16, 2}, {"INT8", T_I8, 1},
             {"INT16", T_I16, 2}, {"INT32", T_I32, 4},  {"INT64", T_I64, 8},  {"UINT8", T_U8, 1},  {"UINT16", T_U16, 2},
             {"UINT32", T_U32, 4}, {"UINT64", T_U64, 8}, {"BOOL", T_BOOL, 1}};

static uint16_t f32_to_f16(float f) {
  /* values are in [-1, 1): normal or zero halves, no overflow to handle */
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
  if (e < 103) return (uint16_t)sign;
  if (e < 113) return (uint16_t)(sign | ((m | 0x800000) >> (126 - e)));
  return (uint16_t)(sign | ((e - 112) << 10) | (m >> 13));
}

/* Writes element i of kind k drawn from rng: floats in [-1, 1), integers in [0, 100), bools 0/1.
 * JSON text goes to j (with a separator), binary little-endian bytes to raw. */
static void element(kind_t k, uint64_t *rng, buf_t *j, unsigned char *raw, bool first) {
  double u = gl_rng_unif(rng);
  double f = 2 * u - 1;
  long long v = (long long)(u * 100);
  if (k == T_BOOL) v = u < 0.5 ? 0 : 1;
  if (j) {
    if (!first) put(j, ",", 1);
    if (k == T_F32 || k == T_F64) putf(j, "%.6g", f);
    else if (k == T_BOOL) put(j, v ? "true" : "false", v ? 4 : 5);
    else putf(j, "%lld", v);
    return;
  }
  switch (k) {
    case T_F32: { float x = (float)f; memcpy(raw, &x, 4); break; }
    case T_F64: memcpy(raw, &f, 8); break;
    case T_F16: { uint16_t h = f32_to_f16((float)f); memcpy(raw, &h, 2); break; }
    case T_BF16: { float x = (float)f; uint32_t b; memcpy(&b, &x, 4); uint16_t h = (uint16_t)(b >> 16); memcpy(raw, &h, 2); break; }
    case T_I8: case T_U8: case T_BOOL: raw[0] = (unsigned char)v; break;
    case T_I16: case T_U16: { uint16_t x = (uint16_t)v; memcpy(raw, &x, 2); break; }
    case T_I32: case T_U32: { uint32_t x = (uint32_t)v; memcpy(raw, &x, 4); break; }
    case T_I64: case T_U64: { uint64_t x = (uint64_t)v; memcpy(raw, &x, 8); break; }
  }
}

#define MAX_IN 16
#define MAX_ELEMS (64LL << 20)

gl_status_t gl__lg_prepare(const gl_lg_url_t *u, const char *name, uint64_t seed, int binary, gl_lg_prepared_t *out) {
  out->bytes = NULL, out->len = 0;
  char where[300], path[400];
  gl_lg_url_where(u, where, sizeof where);
  for (const char *c = name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_.-", *c)))
      return gl_err(GL_EINVAL, "model name '%s': only letters, digits, '_', '.', '-'", name);
  snprintf(path, sizeof path, "/v2/models/%s", name);
  int status = 0;
  char *body = NULL;
  GL_TRY(gl_lg_http_request(u, "GET", path, NULL, 0, 10000, 1 << 20, &status, &body, NULL));
  gl_status_t st = GL_OK;
  json_t *root = NULL;
  buf_t j = {0}, raw = {0};
  if (status != 200) {
    st = gl_err(status == 404 ? GL_ENOTFOUND : GL_EIO, "model '%s' is not served at %s (HTTP %d: %.200s)", name, where,
                status, body ? body : "");
    goto out;
  }
  json_error_t je;
  root = json_loads(body, 0, &je);
  json_t *ins = root ? json_object_get(root, "inputs") : NULL;
  if (!ins || !json_is_array(ins) || json_array_size(ins) < 1 || json_array_size(ins) > MAX_IN) {
    st = gl_err(GL_EPARSE, "model '%s' at %s: metadata without 1..%d inputs", name, where, MAX_IN);
    goto out;
  }
  uint64_t rng = gl_rng_stream(seed, 0xDA7AULL);
  put(&j, "{\"inputs\":[", 11);
  for (size_t i = 0; i < json_array_size(ins); i++) {
    json_t *in = json_array_get(ins, i);
    json_t *nm = json_object_get(in, "name"), *dt = json_object_get(in, "datatype"), *sh = json_object_get(in, "shape");
    if (!json_is_string(nm) || !json_is_string(dt) || !json_is_array(sh) || json_array_size(sh) > 8) {
      st = gl_err(GL_EPARSE, "model '%s' at %s: input %zu: needs name, datatype and shape", name, where, i);
      goto out;
    }
    int ti = -1;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
      if (!strcmp(types[t].name, json_string_value(dt))) ti = (int)t;
    if (ti < 0) {
      st = gl_err(GL_EUNSUPPORTED, "model '%s': input '%s' has datatype %s, which loadgen cannot make", name,
                  json_string_value(nm), json_string_value(dt));
      goto out;
    }
    kind_t k = types[ti].k;
    if (!binary && (k == T_F16 || k == T_BF16)) {
      st = gl_err(GL_EUNSUPPORTED, "model '%s': input '%s' is %s, which has no JSON form: use --binary", name,
                  json_string_value(nm), types[ti].name);
      goto out;
    }
    long long count = 1;
    put(&j, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
    char *qn = json_dumps(nm, JSON_ENCODE_ANY);
    if (qn) put(&j, qn, strlen(qn));
    free(qn);
    put(&j, ",\"shape\":[", 10);
    for (size_t d = 0; d < json_array_size(sh); d++) {
      json_t *x = json_array_get(sh, d);
      long long v = json_is_integer(x) ? json_integer_value(x) : -2;
      if (v == -1) v = 1; /* the batch dimension (or another open one): 1 */
      if (v < 0 || v > MAX_ELEMS) {
        st = gl_err(GL_EPARSE, "model '%s': input '%s': bad shape", name, json_string_value(nm));
        goto out;
      }
      count *= v;
      if (count > MAX_ELEMS) {
        st = gl_err(GL_ELIMIT, "model '%s': input '%s' has over %lld elements", name, json_string_value(nm), MAX_ELEMS);
        goto out;
      }
      putf(&j, d ? ",%lld" : "%lld", v);
    }
    putf(&j, "],\"datatype\":\"%s\"", types[ti].name);
    if (binary) {
      size_t nb = (size_t)count * (size_t)types[ti].size;
      putf(&j, ",\"parameters\":{\"binary_data_size\":%zu}}", nb);
      if (gl_grow((void **)&raw.p, &raw.cap, raw.len + nb + 1, 1)) {
        raw.oom = true;
      } else {
        for (long long e = 0; e < count; e++) element(k, &rng, NULL, (unsigned char *)raw.p + raw.len + e * types[ti].size, false);
        raw.len += nb;
      }
    } else {
      put(&j, ",\"data\":[", 9);
      for (long long e = 0; e < count; e++) element(k, &rng, &j, NULL, e == 0);
      put(&j, "]}", 2);
    }
  }
  put(&j, "]", 1);
  if (binary) putf(&j, "%s", ",\"parameters\":{\"binary_data_output\":true}");
  put(&j, "}", 1);
  if (j.oom || raw.oom) {
    st = gl_err(GL_ENOMEM, "model '%s': out of memory making its request", name);
    goto out;
  }
  buf_t r = {0};
  putf(&r, "POST %s/v2/models/%s/infer HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", u->prefix,
       name, u->host, u->port, binary ? "application/octet-stream" : "application/json", j.len + raw.len);
  if (binary) putf(&r, "Inference-Header-Content-Length: %zu\r\n", j.len);
  put(&r, "\r\n", 2);
  put(&r, j.p, j.len);
  if (raw.len) put(&r, raw.p, raw.len);
  if (r.oom) {
    gl_free(r.p);
    st = gl_err(GL_ENOMEM, "model '%s': out of memory making its request", name);
    goto out;
  }
  out->bytes = r.p, out->len = r.len;
out:
  if (root) json_decref(root);
  gl_free(body);
  gl_free(j.p);
  gl_free(raw.p);
  return st;
}
