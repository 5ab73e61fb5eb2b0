/* serve/kserve.c - KServe v2 request parsing (JSON, binary tensors, raw binary) and responses. */
#include "serve/kserve.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define KV_MAX_DEPTH 32

void gl_kv_request_fini(gl_kv_request_t *r) {
  if (!r) return;
  for (int i = 0; i < r->n_inputs; i++) {
    gl_free(r->inputs[i].name);
    gl_tensor_fini(&r->inputs[i].t);
  }
  for (int i = 0; i < r->n_outputs; i++) gl_free(r->outputs[i].name);
  gl_free(r->inputs);
  gl_free(r->outputs);
  gl_free(r->id);
  memset(r, 0, sizeof *r);
}

/* ---- JSON data arrays ---- */

/* Counts leaves of a (possibly nested) array, stopping past cap; -1 when too deep. */
static int64_t count_leaves(const json_t *a, int depth, int64_t cap) {
  if (depth > KV_MAX_DEPTH) return -1;
  if (!json_is_array(a)) return 1;
  int64_t n = 0;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    int64_t c = count_leaves(v, depth + 1, cap - n);
    if (c < 0) return -1;
    n += c;
    if (n > cap) return n;
  }
  return n;
}

typedef struct {
  gl_tensor_t *t;
  int64_t i;
  const char *name;
} fill_t;

static gl_status_t put_leaf(fill_t *f, const json_t *v) {
  gl_tensor_t *t = f->t;
  int64_t i = f->i++;
  switch (t->dtype) {
    case GL_DT_BOOL:
      if (json_is_boolean(v)) ((uint8_t *)t->data)[i] = json_is_true(v);
      else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        ((uint8_t *)t->data)[i] = (uint8_t)json_integer_value(v);
      else return gl_err(GL_ETYPE, "input '%s': element %lld is not a BOOL", f->name, (long long)i);
      return GL_OK;
    case GL_DT_F32:
    case GL_DT_F64: {
      if (!json_is_number(v))
        return gl_err(GL_ETYPE, "input '%s': element %lld is not a number", f->name, (long long)i);
      double d = json_number_value(v);
      if (t->dtype == GL_DT_F32) ((float *)t->data)[i] = (float)d;
      else ((double *)t->data)[i] = d;
      return GL_OK;
    }
    default: break;
  }
  if (!json_is_integer(v))
    return gl_err(GL_ETYPE, "input '%s': element %lld is not an integer", f->name, (long long)i);
  long long x = json_integer_value(v);
  long long lo, hi;
  switch (t->dtype) {
    case GL_DT_I8: lo = INT8_MIN; hi = INT8_MAX; break;
    case GL_DT_U8: lo = 0; hi = UINT8_MAX; break;
    case GL_DT_I16: lo = INT16_MIN; hi = INT16_MAX; break;
    case GL_DT_U16: lo = 0; hi = UINT16_MAX; break;
    case GL_DT_I32: lo = INT32_MIN; hi = INT32_MAX; break;
    case GL_DT_U32: lo = 0; hi = UINT32_MAX; break;
    case GL_DT_I64: lo = INT64_MIN; hi = INT64_MAX; break;
    case GL_DT_U64: lo = 0; hi = INT64_MAX; break;
    default: return gl_err(GL_EUNSUPPORTED, "input '%s': datatype has no JSON form", f->name);
  }
  if (x < lo || x > hi)
    return gl_err(GL_EINVAL, "input '%s': element %lld = %lld is out of range for %s", f->name,
                  (long long)i, x, gl_dtype_kserve(t->dtype));
  switch (t->dtype) {
    case GL_DT_I8: ((int8_t *)t->data)[i] = (int8_t)x; break;
    case GL_DT_U8: ((uint8_t *)t->data)[i] = (uint8_t)x; break;
    case GL_DT_I16: ((int16_t *)t->data)[i] = (int16_t)x; break;
    case GL_DT_U16: ((uint16_t *)t->data)[i] = (uint16_t)x; break;
    case GL_DT_I32: ((int32_t *)t->data)[i] = (int32_t)x; break;
    case GL_DT_U32: ((uint32_t *)t->data)[i] = (uint32_t)x; break;
    case GL_DT_I64: ((int64_t *)t->data)[i] = (int64_t)x; break;
    default: ((uint64_t *)t->data)[i] = (uint64_t)x; break;
  }
  return GL_OK;
}

static gl_status_t fill(fill_t *f, const json_t *a) {
  if (!json_is_array(a)) return put_leaf(f, a);
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) GL_TRY(fill(f, v));
  return GL_OK;
}

/* ---- request ---- */

static gl_status_t get_shape(const json_t *js, const char *name, gl_shape_t *s, const gl_kv_limits_t *lim) {
  if (!json_is_array(js)) return gl_err(GL_EPARSE, "input '%s': 'shape' must be an array", name);
  size_t r = json_array_size(js);
  if (r > GL_MAX_RANK) return gl_err(GL_ESHAPE, "input '%s': rank %zu is over %d", name, r, GL_MAX_RANK);
  s->rank = (int)r;
  int64_t n = 1;
  for (size_t i = 0; i < r; i++) {
    json_t *d = json_array_get(js, i);
    if (!json_is_integer(d) || json_integer_value(d) < 1)
      return gl_err(GL_ESHAPE, "input '%s': shape dim %zu must be a positive integer", name, i);
    s->d[i] = json_integer_value(d);
    if (s->d[i] > lim->max_elements || n > lim->max_elements / s->d[i])
      return gl_err(GL_ELIMIT, "input '%s': more than %lld elements", name, (long long)lim->max_elements);
    n *= s->d[i];
  }
  return GL_OK;
}

/* Reads a parameters object: every value must be a string, number or bool. */
static gl_status_t check_params(const json_t *p, const char *where) {
  if (!p) return GL_OK;
  if (!json_is_object(p)) return gl_err(GL_EPARSE, "%s: 'parameters' must be an object", where);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)p, k, v) {
    if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
      return gl_err(GL_EINVAL, "%s: parameter '%s' must be a string, number or bool", where, k);
  }
  return GL_OK;
}

static gl_status_t get_int_param(const json_t *p, const char *key, int64_t min, int64_t *out) {
  json_t *v = p ? json_object_get(p, key) : NULL;
  if (!v) return GL_OK;
  if (!json_is_integer(v) || json_integer_value(v) < min)
    return gl_err(GL_EINVAL, "parameter '%s' must be an integer >= %lld", key, (long long)min);
  *out = json_integer_value(v);
  return GL_OK;
}

static gl_status_t parse_raw(const char *body, size_t len, const gl_kv_limits_t *lim,
                             const gl_kv_raw_spec_t *raw, gl_kv_request_t *r) {
  if (!raw) return gl_err(GL_EINVAL, "a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input");
  size_t es = gl_dtype_size(raw->dtype);
  if (!es) return gl_err(GL_EUNSUPPORTED, "raw binary input of this datatype is not supported");
  gl_shape_t s = raw->shape;
  int open = -1;
  int64_t known = 1;
  for (int i = 0; i < s.rank; i++) {
    if (s.d[i] < 0) {
      if (open >= 0) return gl_err(GL_EINVAL, "raw binary request: input '%s' has more than one variable dimension", raw->name);
      open = i;
    } else known *= s.d[i];
  }
  if (len % es) return gl_err(GL_ESHAPE, "raw binary request: %zu bytes is not a whole number of %s elements", len, gl_dtype_kserve(raw->dtype));
  int64_t n = (int64_t)(len / es);
  if (open >= 0) {
    if (!known || n % known || n / known < 1)
      return gl_err(GL_ESHAPE, "raw binary request: %lld elements do not fit input '%s'", (long long)n, raw->name);
    s.d[open] = n / known;
  } else if (n != known) {
    return gl_err(GL_ESHAPE, "raw binary request: %lld elements, input '%s' needs %lld", (long long)n, raw->name, (long long)known);
  }
  if (n > lim->max_elements) return gl_err(GL_ELIMIT, "input '%s': more than %lld elements", raw->name, (long long)lim->max_elements);
  r->inputs = gl_calloc(1, sizeof *r->inputs);
  if (!r->inputs) return gl_err(GL_ENOMEM, "out of memory");
  r->n_inputs = 1;
  r->inputs[0].name = gl_strdup(raw->name);
  if (!r->inputs[0].name) return gl_err(GL_ENOMEM, "out of memory");
  GL_TRY(gl_tensor_alloc(&r->inputs[0].t, raw->dtype, &s));
  if (len) memcpy(r->inputs[0].t.data, body, len);
  r->raw = true;
  r->binary_all = true;
  return GL_OK;
}

static gl_status_t parse_json(const char *body, size_t len, size_t hlen, const gl_kv_limits_t *lim,
                              gl_kv_request_t *r) {
  json_error_t je;
  json_t *root = json_loadb(body, hlen, JSON_REJECT_DUPLICATES, &je);
  if (!root) return gl_err(GL_EPARSE, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
  gl_status_t st = GL_OK;
  size_t off = hlen; /* next binary tensor's first byte */
  if (!json_is_object(root)) { st = gl_err(GL_EPARSE, "the request must be a JSON object"); goto out; }
  json_t *id = json_object_get(root, "id");
  if (id) {
    if (!json_is_string(id)) { st = gl_err(GL_EINVAL, "'id' must be a string"); goto out; }
    if (!(r->id = gl_strdup(json_string_value(id)))) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
  }
  json_t *params = json_object_get(root, "parameters");
  if ((st = check_params(params, "request"))) goto out;
  if ((st = get_int_param(params, "priority", 0, &r->priority))) goto out;
  if ((st = get_int_param(params, "timeout", 0, &r->timeout_us))) goto out;
  if ((st = get_int_param(params, "deadline_us", 1, &r->deadline_us))) goto out;
  json_t *bo = params ? json_object_get(params, "binary_data_output") : NULL;
  if (bo) {
    if (!json_is_boolean(bo)) { st = gl_err(GL_EINVAL, "parameter 'binary_data_output' must be a bool"); goto out; }
    r->binary_all = json_is_true(bo);
  }
  json_t *ins = json_object_get(root, "inputs");
  if (!json_is_array(ins) || json_array_size(ins) == 0) { st = gl_err(GL_EINVAL, "'inputs' must be a non-empty array"); goto out; }
  if (json_array_size(ins) > (size_t)lim->max_tensors) { st = gl_err(GL_ELIMIT, "more than %d inputs", lim->max_tensors); goto out; }
  r->inputs = gl_calloc(json_array_size(ins), sizeof *r->inputs);
  if (!r->inputs) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
  size_t k;
  json_t *in;
  json_array_foreach(ins, k, in) {
    if (!json_is_object(in)) { st = gl_err(GL_EINVAL, "inputs[%zu] must be an object", k); goto out; }
    json_t *nm = json_object_get(in, "name"), *dt = json_object_get(in, "datatype");
    json_t *sh = json_object_get(in, "shape"), *data = json_object_get(in, "data");
    json_t *ip = json_object_get(in, "parameters");
    if (!json_is_string(nm)) { st = gl_err(GL_EINVAL, "inputs[%zu]: 'name' must be a string", k); goto out; }
    const char *name = json_string_value(nm);
    for (int j = 0; j < r->n_inputs; j++)
      if (!strcmp(r->inputs[j].name, name)) { st = gl_err(GL_EINVAL, "input '%s' is given twice", name); goto out; }
    gl_kv_input_t *x = &r->inputs[r->n_inputs];
    if (!(x->name = gl_strdup(name))) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
    r->n_inputs++;
    if (!json_is_string(dt)) { st = gl_err(GL_EINVAL, "input '%s': 'datatype' must be a string", name); goto out; }
    gl_dtype_t dtype = gl_dtype_from_kserve(json_string_value(dt));
    if (dtype == GL_DT_UNDEFINED) { st = gl_err(GL_ETYPE, "input '%s': unknown datatype '%s'", name, json_string_value(dt)); goto out; }
    if (dtype == GL_DT_STRING) { st = gl_err(GL_EUNSUPPORTED, "input '%s': BYTES inputs are not supported", name); goto out; }
    if (!sh) { st = gl_err(GL_EINVAL, "input '%s': 'shape' is missing", name); goto out; }
    gl_shape_t s;
    if ((st = get_shape(sh, name, &s, lim))) goto out;
    int64_t n = gl_shape_numel(&s);
    if ((st = check_params(ip, name))) goto out;
    json_t *bsz = ip ? json_object_get(ip, "binary_data_size") : NULL;
    if (bsz && data) { st = gl_err(GL_EINVAL, "input '%s' has both 'data' and 'binary_data_size'", name); goto out; }
    if (!bsz && !data) { st = gl_err(GL_EINVAL, "input '%s' has neither 'data' nor 'binary_data_size'", name); goto out; }
    if ((st = gl_tensor_alloc(&x->t, dtype, &s))) goto out;
    if (bsz) {
      if (!json_is_integer(bsz) || json_integer_value(bsz) < 0) { st = gl_err(GL_EINVAL, "input '%s': 'binary_data_size' must be a non-negative integer", name); goto out; }
      unsigned long long b = (unsigned long long)json_integer_value(bsz);
      size_t want = (size_t)n * gl_dtype_size(dtype);
      if (b != want) { st = gl_err(GL_ESHAPE, "input '%s': binary_data_size %llu, but shape and datatype need %zu bytes", name, b, want); goto out; }
      if (b > len - off) { st = gl_err(GL_EINVAL, "input '%s': binary data runs past the end of the body (%zu bytes left, %llu needed)", name, len - off, b); goto out; }
      memcpy(x->t.data, body + off, want);
      off += want;
    } else {
      if (dtype == GL_DT_F16 || dtype == GL_DT_BF16) { st = gl_err(GL_EUNSUPPORTED, "input '%s': %s data must be sent as binary", name, gl_dtype_kserve(dtype)); goto out; }
      int64_t c = count_leaves(data, 0, n);
      if (c < 0) { st = gl_err(GL_EINVAL, "input '%s': 'data' is nested too deeply", name); goto out; }
      if (!json_is_array(data) || c != n) {
        st = gl_err(GL_ESHAPE, "input '%s': shape needs %lld elements but 'data' has %s%lld", name, (long long)n, c > n ? "more than " : "", (long long)(c > n ? n : c));
        goto out;
      }
      fill_t f = {&x->t, 0, name};
      if ((st = fill(&f, data))) goto out;
    }
  }
  if (off != len) { st = gl_err(GL_EINVAL, "the body has %zu bytes after the JSON header and binary inputs", len - off); goto out; }
  json_t *outs = json_object_get(root, "outputs");
  if (outs) {
    if (!json_is_array(outs)) { st = gl_err(GL_EINVAL, "'outputs' must be an array"); goto out; }
    if (json_array_size(outs) > (size_t)lim->max_tensors) { st = gl_err(GL_ELIMIT, "more than %d outputs", lim->max_tensors); goto out; }
    if (json_array_size(outs)) {
      r->outputs = gl_calloc(json_array_size(outs), sizeof *r->outputs);
      if (!r->outputs) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
    }
    json_t *o;
    json_array_foreach(outs, k, o) {
      json_t *nm = json_is_object(o) ? json_object_get(o, "name") : NULL;
      if (!json_is_string(nm)) { st = gl_err(GL_EINVAL, "outputs[%zu]: 'name' must be a string", k); goto out; }
      for (int j = 0; j < r->n_outputs; j++)
        if (!strcmp(r->outputs[j].name, json_string_value(nm))) { st = gl_err(GL_EINVAL, "output '%s' is requested twice", json_string_value(nm)); goto out; }
      gl_kv_output_t *y = &r->outputs[r->n_outputs];
      if (!(y->name = gl_strdup(json_string_value(nm)))) { st = gl_err(GL_ENOMEM, "out of memory"); goto out; }
      r->n_outputs++;
      y->binary = -1;
      json_t *op = json_object_get(o, "parameters");
      if ((st = check_params(op, y->name))) goto out;
      json_t *b = op ? json_object_get(op, "binary_data") : NULL;
      if (b) {
        if (!json_is_boolean(b)) { st = gl_err(GL_EINVAL, "output '%s': 'binary_data' must be a bool", y->name); goto out; }
        y->binary = json_is_true(b);
      }
    }
  }
out:
  json_decref(root);
  return st;
}

gl_status_t gl_kv_parse_request(const char *body, size_t len, long long header_len,
                                const gl_kv_limits_t *lim, const gl_kv_raw_spec_t *raw,
                                gl_kv_request_t *out) {
  memset(out, 0, sizeof *out);
  gl_status_t st;
  if (len > lim->max_body) st = gl_err(GL_ELIMIT, "the body is over %zu bytes", lim->max_body);
  else if (header_len == 0) st = parse_raw(body, len, lim, raw, out);
  else if (header_len > 0 && (unsigned long long)header_len > len)
    st = gl_err(GL_EINVAL, "Inference-Header-Content-Length %lld is past the end of the %zu-byte body", header_len, len);
  else if (len == 0) st = gl_err(GL_EPARSE, "the request body is empty");
  else st = parse_json(body, len, header_len > 0 ? (size_t)header_len : len, lim, out);
  if (st) gl_kv_request_fini(out);
  return st;
}

/* ---- response ---- */

void gl_kv_buf_put(gl_kv_buf_t *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = gl_realloc(b->p, cap);
    if (!p) { b->oom = true; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

void gl_kv_buf_printf(gl_kv_buf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) { gl_kv_buf_put(b, tmp, (size_t)n); return; }
  char *big = gl_malloc((size_t)n + 1);
  if (!big) { b->oom = true; return; }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  gl_kv_buf_put(b, big, (size_t)n);
  gl_free(big);
}

void gl_kv_buf_jstr(gl_kv_buf_t *b, const char *s) {
  gl_kv_buf_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') { char e[2] = {'\\', (char)*p}; gl_kv_buf_put(b, e, 2); }
    else if (*p < 0x20) gl_kv_buf_printf(b, "\\u%04x", *p);
    else gl_kv_buf_put(b, p, 1);
  }
  gl_kv_buf_put(b, "\"", 1);
}

void gl_kv_buf_fini(gl_kv_buf_t *b) {
  gl_free(b->p);
  memset(b, 0, sizeof *b);
}

static void put_float(gl_kv_buf_t *b, double v, bool dbl) {
  if (!isfinite(v)) { gl_kv_buf_put(b, "null", 4); return; }
  char tmp[40];
  int n = snprintf(tmp, sizeof tmp, dbl ? "%.17g" : "%.9g", v);
  gl_kv_buf_put(b, tmp, (size_t)n);
}

static void put_data(gl_kv_buf_t *b, const gl_tensor_t *t) {
  int64_t n = gl_shape_numel(&t->shape);
  char tmp[32];
  gl_kv_buf_put(b, "[", 1);
  for (int64_t i = 0; i < n && !b->oom; i++) {
    if (i) gl_kv_buf_put(b, ",", 1);
    switch (t->dtype) {
      case GL_DT_F32: put_float(b, ((const float *)t->data)[i], false); break;
      case GL_DT_F64: put_float(b, ((const double *)t->data)[i], true); break;
      case GL_DT_F16: put_float(b, gl_f16_to_f32(((const uint16_t *)t->data)[i]), false); break;
      case GL_DT_BF16: put_float(b, gl_bf16_to_f32(((const uint16_t *)t->data)[i]), false); break;
      case GL_DT_BOOL:
        if (((const uint8_t *)t->data)[i]) gl_kv_buf_put(b, "true", 4);
        else gl_kv_buf_put(b, "false", 5);
        break;
      case GL_DT_U64: gl_kv_buf_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)((const uint64_t *)t->data)[i])); break;
      default: gl_kv_buf_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)gl_tensor_get_i64(t, i))); break;
    }
  }
  gl_kv_buf_put(b, "]", 1);
}

gl_status_t gl_kv_write_response(gl_kv_buf_t *b, const char *model, const char *version,
                                 const char *id, const gl_kv_out_t *outs, int n, size_t *header_len) {
  gl_kv_buf_put(b, "{\"model_name\":", 14);
  gl_kv_buf_jstr(b, model);
  gl_kv_buf_put(b, ",\"model_version\":", 17);
  gl_kv_buf_jstr(b, version);
  if (id) {
    gl_kv_buf_put(b, ",\"id\":", 6);
    gl_kv_buf_jstr(b, id);
  }
  gl_kv_buf_put(b, ",\"outputs\":[", 12);
  for (int i = 0; i < n; i++) {
    const gl_tensor_t *t = outs[i].t;
    gl_kv_buf_put(b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
    gl_kv_buf_jstr(b, outs[i].name);
    gl_kv_buf_put(b, ",\"datatype\":", 12);
    gl_kv_buf_jstr(b, gl_dtype_kserve(t->dtype) ? gl_dtype_kserve(t->dtype) : "BYTES");
    gl_kv_buf_put(b, ",\"shape\":[", 10);
    for (int d = 0; d < t->shape.rank; d++) gl_kv_buf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape.d[d]);
    gl_kv_buf_put(b, "]", 1);
    if (outs[i].binary) gl_kv_buf_printf(b, ",\"parameters\":{\"binary_data_size\":%zu}", gl_tensor_nbytes(t));
    else {
      gl_kv_buf_put(b, ",\"data\":", 8);
      put_data(b, t);
    }
    gl_kv_buf_put(b, "}", 1);
  }
  gl_kv_buf_put(b, "]}", 2);
  *header_len = b->len;
  for (int i = 0; i < n; i++)
    if (outs[i].binary) gl_kv_buf_put(b, outs[i].t->data, gl_tensor_nbytes(outs[i].t));
  return b->oom ? gl_err(GL_ENOMEM, "out of memory writing the response") : GL_OK;
}

const char *gl_kv_config_type(gl_dtype_t t) {
  switch (t) {
    case GL_DT_BOOL: return "TYPE_BOOL";
    case GL_DT_U8: return "TYPE_UINT8";
    case GL_DT_U16: return "TYPE_UINT16";
    case GL_DT_U32: return "TYPE_UINT32";
    case GL_DT_U64: return "TYPE_UINT64";
    case GL_DT_I8: return "TYPE_INT8";
    case GL_DT_I16: return "TYPE_INT16";
    case GL_DT_I32: return "TYPE_INT32";
    case GL_DT_I64: return "TYPE_INT64";
    case GL_DT_F16: return "TYPE_FP16";
    case GL_DT_F32: return "TYPE_FP32";
    case GL_DT_F64: return "TYPE_FP64";
    case GL_DT_BF16: return "TYPE_BF16";
    case GL_DT_STRING: return "TYPE_STRING";
    default: return NULL;
  }
}
