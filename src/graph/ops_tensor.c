/* graph/ops_tensor.c - schemas and shape inference for the tensor op family's shape and data
 * movement ops (Reshape, Transpose, Concat, Slice, Expand, Pad, Resize...), and the parameter
 * resolution that kernels share through graph/ops_tensor.h. Indexing ops: ops_index.c. */
#include "graph/ops_tensor_int.h"

/* ---- Shape, Size, Constant, ConstantOfShape ---- */

static gl_status_t infer_shape(gl_graph_t *g, gl_node_t *n) {
  const gl_value_t *x = in_v(g, n, 0);
  int r = x->shape.rank;
  int64_t s = gl_attr_i(n, "start", 0), e = gl_attr_i(n, "end", r);
  if (s < 0) s += r;
  if (e < 0) e += r;
  s = s < 0 ? 0 : (s > r ? r : s);
  e = e < 0 ? 0 : (e > r ? r : e);
  int64_t len = e > s ? e - s : 0;
  for (int64_t d = s; d < s + len; d++)
    if (x->shape.d[d] < 0) return gl_err(GL_ESHAPE, "%s: input dim %d is unknown", LBL, (int)d);
  gl_shape_t os = {1, {len}};
  gl_tensor_t t = {0};
  GL_TRY(gl_tensor_alloc(&t, GL_DT_I64, &os));
  for (int64_t k = 0; k < len; k++) ((int64_t *)t.data)[k] = x->shape.d[s + k];
  return set_const_out(g, n, 0, &t);
}

static gl_status_t infer_size(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  gl_shape_t os = {0, {0}};
  gl_tensor_t t = {0};
  GL_TRY(gl_tensor_alloc(&t, GL_DT_I64, &os));
  *(int64_t *)t.data = gl_shape_numel(&in_v(g, n, 0)->shape);
  return set_const_out(g, n, 0, &t);
}

static gl_status_t infer_constant(gl_graph_t *g, gl_node_t *n) {
  gl_tensor_t t = {0};
  const gl_attr_t *a;
  if ((a = gl_attr(n, "value")) && a->type == GL_ATTR_TENSOR && a->t) {
    GL_TRY(need_data_type(n, &(gl_value_t){.dtype = a->t->dtype, .name = "value"}));
    GL_TRY(gl_tensor_copy(&t, a->t));
  } else if ((a = gl_attr(n, "value_float")) && a->type == GL_ATTR_FLOAT) {
    GL_TRY(gl_tensor_alloc(&t, GL_DT_F32, &(gl_shape_t){0, {0}}));
    *(float *)t.data = a->f;
  } else if ((a = gl_attr(n, "value_int")) && a->type == GL_ATTR_INT) {
    GL_TRY(gl_tensor_alloc(&t, GL_DT_I64, &(gl_shape_t){0, {0}}));
    *(int64_t *)t.data = a->i;
  } else if ((a = gl_attr(n, "value_floats")) && a->type == GL_ATTR_FLOATS) {
    GL_TRY(gl_tensor_alloc(&t, GL_DT_F32, &(gl_shape_t){1, {a->n}}));
    if (a->n) memcpy(t.data, a->floats, sizeof(float) * (size_t)a->n);
  } else if ((a = gl_attr(n, "value_ints")) && a->type == GL_ATTR_INTS) {
    GL_TRY(gl_tensor_alloc(&t, GL_DT_I64, &(gl_shape_t){1, {a->n}}));
    if (a->n) memcpy(t.data, a->ints, sizeof(int64_t) * (size_t)a->n);
  } else {
    return gl_err(GL_EUNSUPPORTED, "%s: only value, value_float(s) and value_int(s) are supported",
                  LBL);
  }
  return set_const_out(g, n, 0, &t);
}

static gl_status_t infer_constant_of_shape(gl_graph_t *g, gl_node_t *n) {
  gl_shape_t s = {0, {0}};
  GL_TRY(need_data(g, n, 0));
  GL_TRY(const_ints(g, n, 0, s.d, GL_MAX_RANK, &s.rank));
  for (int d = 0; d < s.rank; d++)
    if (s.d[d] < 0) return gl_err(GL_ESHAPE, "%s: negative dimension %lld", LBL, (long long)s.d[d]);
  gl_dtype_t t = GL_DT_F32;
  const gl_attr_t *a = gl_attr(n, "value");
  if (a && a->type == GL_ATTR_TENSOR && a->t) {
    if (gl_shape_numel(&a->t->shape) != 1)
      return gl_err(GL_ESHAPE, "%s: value must hold one element", LBL);
    t = a->t->dtype;
    GL_TRY(need_data_type(n, &(gl_value_t){.dtype = t, .name = "value"}));
  }
  gl_set_out(g, n, 0, t, &s);
  return GL_OK;
}

/* ---- views: Reshape, Flatten, Squeeze, Unsqueeze ---- */

static gl_status_t infer_reshape(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  gl_shape_t s;
  int na;
  const int64_t *sa = g->opset < 5 ? gl_attr_ints(n, "shape", &na) : NULL;
  if (sa) { /* Reshape-1..4: the shape is an attribute */
    if (na > GL_MAX_RANK) return gl_err(GL_ELIMIT, "%s: shape has too many dims", LBL);
    s.rank = na;
    memcpy(s.d, sa, sizeof(int64_t) * (size_t)na);
  } else {
    GL_TRY(const_ints(g, n, 1, s.d, GL_MAX_RANK, &s.rank));
  }
  bool allowzero = gl_attr_i(n, "allowzero", 0) != 0;
  int neg = -1;
  int64_t known = 1;
  for (int d = 0; d < s.rank; d++) {
    if (s.d[d] == 0 && !allowzero) {
      if (d >= x->shape.rank)
        return gl_err(GL_ESHAPE, "%s: shape has 0 at position %d beyond the input's rank %d", LBL,
                      d, x->shape.rank);
      s.d[d] = x->shape.d[d];
    }
    if (s.d[d] == -1) {
      if (neg >= 0) return gl_err(GL_ESHAPE, "%s: shape has more than one -1", LBL);
      neg = d;
      continue;
    }
    if (s.d[d] < 0 || s.d[d] > DIM_MAX)
      return gl_err(GL_ESHAPE, "%s: invalid dimension %lld", LBL, (long long)s.d[d]);
    if (s.d[d] && known > DIM_MAX / s.d[d]) return gl_err(GL_ELIMIT, "%s: shape is too large", LBL);
    known *= s.d[d];
  }
  int64_t total = gl_shape_numel(&x->shape);
  char b1[96], b2[96];
  if (neg >= 0) {
    if (known == 0 || total % known)
      return gl_err(GL_ESHAPE, "%s: cannot reshape %s into a shape with %lld known elements and a -1",
                    LBL, gl_shape_str(&x->shape, b1, sizeof b1), (long long)known);
    s.d[neg] = total / known;
  } else if (known != total) {
    gl_shape_t want = s;
    return gl_err(GL_ESHAPE, "%s: cannot reshape %s (%lld elements) into %s", LBL,
                  gl_shape_str(&x->shape, b1, sizeof b1), (long long)total,
                  gl_shape_str(&want, b2, sizeof b2));
  }
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_flatten(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int r = x->shape.rank;
  int64_t axis = gl_attr_i(n, "axis", 1);
  if (axis < -r || axis > r)
    return gl_err(GL_EINVAL, "%s: axis %lld is out of range for rank %d", LBL, (long long)axis, r);
  if (axis < 0) axis += r;
  gl_shape_t s = {2, {1, 1}};
  for (int d = 0; d < r; d++) s.d[d < axis ? 0 : 1] *= x->shape.d[d];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_squeeze(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int64_t axes[GL_MAX_RANK];
  int na;
  bool present;
  GL_TRY(get_axes(g, n, 1, 13, axes, &na, &present));
  bool drop[GL_MAX_RANK] = {0};
  int r = x->shape.rank;
  if (!present) {
    for (int d = 0; d < r; d++) drop[d] = x->shape.d[d] == 1;
  }
  for (int i = 0; i < na; i++) {
    int a;
    GL_TRY(gl_norm_axis(n, axes[i], r, &a));
    if (x->shape.d[a] != 1)
      return gl_err(GL_ESHAPE, "%s: cannot squeeze axis %d of size %lld", LBL, a,
                    (long long)x->shape.d[a]);
    drop[a] = true;
  }
  gl_shape_t s = {0, {0}};
  for (int d = 0; d < r; d++)
    if (!drop[d]) s.d[s.rank++] = x->shape.d[d];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_unsqueeze(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int64_t axes[GL_MAX_RANK];
  int na;
  bool present;
  GL_TRY(get_axes(g, n, 1, 13, axes, &na, &present));
  if (!present) return gl_err(GL_EINVAL, "%s: axes are required", LBL);
  int r = x->shape.rank + na;
  GL_TRY(check_rank(n, r));
  bool ins[GL_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) {
    int a;
    GL_TRY(gl_norm_axis(n, axes[i], r, &a));
    if (ins[a]) return gl_err(GL_EINVAL, "%s: axis %d is repeated", LBL, a);
    ins[a] = true;
  }
  gl_shape_t s = {r, {0}};
  for (int d = 0, k = 0; d < r; d++) s.d[d] = ins[d] ? 1 : x->shape.d[k++];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

/* ---- Transpose, Concat, Split ---- */

static gl_status_t infer_transpose(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int r = x->shape.rank, c;
  const int64_t *perm = gl_attr_ints(n, "perm", &c);
  gl_shape_t s = {r, {0}};
  bool seen[GL_MAX_RANK] = {0};
  if (perm && c != r)
    return gl_err(GL_EINVAL, "%s: perm has %d entries for rank %d", LBL, c, r);
  for (int d = 0; d < r; d++) {
    int64_t p = perm ? perm[d] : r - 1 - d;
    if (p < 0 || p >= r || seen[p]) return gl_err(GL_EINVAL, "%s: perm is not a permutation", LBL);
    seen[p] = true;
    s.d[d] = x->shape.d[p];
  }
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_concat(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x0 = in_v(g, n, 0);
  int r = x0->shape.rank, axis;
  if (!gl_attr(n, "axis") && g->opset >= 4) return gl_err(GL_EINVAL, "%s: attribute axis is required", LBL);
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 1), r, &axis)); /* Concat-1..3 default to axis 1 */
  if (r == 0) return gl_err(GL_ESHAPE, "%s: cannot concatenate scalars", LBL);
  gl_shape_t s = x0->shape;
  s.d[axis] = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    GL_TRY(gl_need_in(g, n, i));
    const gl_value_t *x = in_v(g, n, i);
    if (x->dtype != x0->dtype)
      return gl_err(GL_ETYPE, "%s: input '%s' is %s, input '%s' is %s", LBL, x->name,
                    gl_dtype_name(x->dtype), x0->name, gl_dtype_name(x0->dtype));
    if (x->shape.rank != r)
      return gl_err(GL_ESHAPE, "%s: input '%s' has rank %d, expected %d", LBL, x->name,
                    x->shape.rank, r);
    for (int d = 0; d < r; d++)
      if (d != axis && x->shape.d[d] != x0->shape.d[d])
        return gl_err(GL_ESHAPE, "%s: input '%s' dim %d is %lld, expected %lld", LBL, x->name, d,
                      (long long)x->shape.d[d], (long long)x0->shape.d[d]);
    s.d[axis] += x->shape.d[axis];
  }
  gl_set_out(g, n, 0, x0->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_split(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int axis, no = n->n_outputs;
  GL_TRY(gl_norm_axis(n, gl_attr_i(n, "axis", 0), x->shape.rank, &axis));
  if (x->shape.rank == 0) return gl_err(GL_ESHAPE, "%s: cannot split a scalar", LBL);
  int64_t dim = x->shape.d[axis];
  int64_t *sz = gl_malloc(sizeof(int64_t) * (size_t)(no + 1));
  if (!sz) return gl_err(GL_ENOMEM, "out of memory");
  gl_status_t st = GL_OK;
  int c = 0;
  const int64_t *a = NULL;
  if ((g->opset >= 13 || g->opset < 2) && in_v(g, n, 1)) { /* an input in Split-1 and from 13 */
    st = gl_need_const(g, n, 1);
    const gl_value_t *v = in_v(g, n, 1);
    if (!st && gl_shape_numel(&v->shape) != no)
      st = gl_err(GL_ESHAPE, "%s: split has %lld entries for %d outputs", LBL,
                  (long long)gl_shape_numel(&v->shape), no);
    for (int i = 0; !st && i < no; i++) sz[i] = gl_tensor_get_i64(v->data, i);
  } else if ((a = gl_attr_ints(n, "split", &c))) {
    if (c != no) st = gl_err(GL_ESHAPE, "%s: split has %d entries for %d outputs", LBL, c, no);
    for (int i = 0; !st && i < no; i++) sz[i] = a[i];
  } else {
    int64_t parts = gl_attr_i(n, "num_outputs", no);
    if (parts != no) st = gl_err(GL_EINVAL, "%s: num_outputs %lld but %d outputs", LBL, (long long)parts, no);
    int64_t each = (dim + no - 1) / no;
    if (!st && !gl_attr(n, "num_outputs") && dim % no)
      st = gl_err(GL_ESHAPE, "%s: dim %lld does not split into %d equal parts", LBL, (long long)dim, no);
    for (int i = 0; !st && i < no; i++) {
      int64_t left = dim - each * i;
      sz[i] = left < 0 ? 0 : (left < each ? left : each);
    }
  }
  int64_t sum = 0;
  for (int i = 0; !st && i < no; i++) {
    if (sz[i] < 0) st = gl_err(GL_ESHAPE, "%s: negative split size", LBL);
    sum += sz[i];
  }
  if (!st && sum != dim)
    st = gl_err(GL_ESHAPE, "%s: split sizes add up to %lld, dim %d is %lld", LBL, (long long)sum,
                axis, (long long)dim);
  for (int i = 0; !st && i < no; i++) {
    gl_shape_t s = x->shape;
    s.d[axis] = sz[i];
    gl_set_out(g, n, i, x->dtype, &s);
  }
  gl_free(sz);
  return st;
}

/* ---- Slice ---- */

gl_status_t gl_slice_params(const gl_graph_t *g, const gl_node_t *n, gl_slice_params_t *p) {
  const gl_value_t *x = in_v(g, n, 0);
  int r = x->shape.rank;
  int64_t st[GL_MAX_RANK], en[GL_MAX_RANK], ax[GL_MAX_RANK], sp[GL_MAX_RANK];
  int ns = 0, ne = 0, na = 0, nsp = 0;
  if (g->opset < 10) {
    const int64_t *a = gl_attr_ints(n, "starts", &ns), *b = gl_attr_ints(n, "ends", &ne);
    const int64_t *c = gl_attr_ints(n, "axes", &na);
    if (!a || !b) return gl_err(GL_EINVAL, "%s: starts and ends are required", LBL);
    if (ns > GL_MAX_RANK || ne > GL_MAX_RANK || na > GL_MAX_RANK)
      return gl_err(GL_ESHAPE, "%s: too many slice entries", LBL);
    memcpy(st, a, sizeof(int64_t) * (size_t)ns);
    memcpy(en, b, sizeof(int64_t) * (size_t)ne);
    if (c) memcpy(ax, c, sizeof(int64_t) * (size_t)na);
  } else {
    GL_TRY(const_ints(g, n, 1, st, GL_MAX_RANK, &ns));
    GL_TRY(const_ints(g, n, 2, en, GL_MAX_RANK, &ne));
    if (in_v(g, n, 3)) GL_TRY(const_ints(g, n, 3, ax, GL_MAX_RANK, &na));
    if (in_v(g, n, 4)) GL_TRY(const_ints(g, n, 4, sp, GL_MAX_RANK, &nsp));
  }
  if (ne != ns) return gl_err(GL_ESHAPE, "%s: %d starts but %d ends", LBL, ns, ne);
  bool has_axes = na > 0 || (g->opset < 10 ? gl_attr(n, "axes") != NULL : in_v(g, n, 3) != NULL);
  if (has_axes && na != ns) return gl_err(GL_ESHAPE, "%s: %d starts but %d axes", LBL, ns, na);
  if (nsp && nsp != ns) return gl_err(GL_ESHAPE, "%s: %d starts but %d steps", LBL, ns, nsp);
  p->rank = r;
  for (int d = 0; d < r; d++) p->start[d] = 0, p->step[d] = 1, p->count[d] = x->shape.d[d];
  bool seen[GL_MAX_RANK] = {0};
  for (int i = 0; i < ns; i++) {
    int a;
    GL_TRY(gl_norm_axis(n, has_axes ? ax[i] : i, r, &a));
    if (seen[a]) return gl_err(GL_EINVAL, "%s: axis %d is repeated", LBL, a);
    seen[a] = true;
    int64_t dim = x->shape.d[a], s = st[i], e = en[i], k = nsp ? sp[i] : 1;
    if (k == 0) return gl_err(GL_EINVAL, "%s: step 0 on axis %d", LBL, a);
    if (k > dim + 1) k = dim + 1; /* a step past the dim takes one element at most: same result */
    if (k < -dim - 1) k = -dim - 1;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t cnt;
    if (k > 0) {
      s = s < 0 ? 0 : (s > dim ? dim : s);
      e = e < 0 ? 0 : (e > dim ? dim : e);
      cnt = e > s ? (e - s - 1) / k + 1 : 0;
    } else {
      s = s < 0 ? 0 : (s > dim - 1 ? dim - 1 : s);
      e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
      cnt = dim > 0 && s > e ? (s - e - 1) / (-k) + 1 : 0;
    }
    p->start[a] = cnt ? s : 0;
    p->step[a] = k;
    p->count[a] = cnt;
  }
  return GL_OK;
}

static gl_status_t infer_slice(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  gl_slice_params_t p;
  GL_TRY(gl_slice_params(g, n, &p));
  gl_shape_t s = {p.rank, {0}};
  for (int d = 0; d < p.rank; d++) s.d[d] = p.count[d];
  gl_set_out(g, n, 0, in_v(g, n, 0)->dtype, &s);
  return GL_OK;
}

/* ---- Expand, Tile, Range ---- */

static gl_status_t infer_expand(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  gl_shape_t s, o;
  GL_TRY(const_ints(g, n, 1, s.d, GL_MAX_RANK, &s.rank));
  for (int d = 0; d < s.rank; d++)
    if (s.d[d] < 0) return gl_err(GL_ESHAPE, "%s: negative dim in shape", LBL);
  if (gl_shape_broadcast(&x->shape, &s, &o)) return gl_err_wrap(GL_ESHAPE, "%s", LBL);
  gl_set_out(g, n, 0, x->dtype, &o);
  return GL_OK;
}

static gl_status_t infer_tile(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int64_t rep[GL_MAX_RANK];
  int c = 0;
  GL_TRY(const_ints(g, n, 1, rep, GL_MAX_RANK, &c));
  if (c != x->shape.rank)
    return gl_err(GL_ESHAPE, "%s: repeats has %d entries for rank %d", LBL, c, x->shape.rank);
  gl_shape_t s = x->shape;
  for (int d = 0; d < c; d++) {
    if (rep[d] < 0) return gl_err(GL_EINVAL, "%s: negative repeat", LBL);
    if (rep[d] > DIM_MAX || (rep[d] && s.d[d] > DIM_MAX / rep[d]))
      return gl_err(GL_ELIMIT, "%s: repeat %lld is too large", LBL, (long long)rep[d]);
    s.d[d] *= rep[d];
  }
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_range(gl_graph_t *g, gl_node_t *n) {
  for (int i = 0; i < 3; i++) {
    GL_TRY(need_data(g, n, i));
    if (gl_shape_numel(&in_v(g, n, i)->shape) != 1)
      return gl_err(GL_ESHAPE, "%s: input %d must be a scalar", LBL, i);
  }
  gl_dtype_t t = in_v(g, n, 0)->dtype;
  int64_t cnt;
  if (gl_dtype_is_float(t)) {
    double s = gl_tensor_get_f64(in_v(g, n, 0)->data, 0), l = gl_tensor_get_f64(in_v(g, n, 1)->data, 0),
           dl = gl_tensor_get_f64(in_v(g, n, 2)->data, 0);
    if (dl == 0) return gl_err(GL_EINVAL, "%s: delta is 0", LBL);
    double c = ceil((l - s) / dl);
    if (!(c <= (double)DIM_MAX)) return gl_err(GL_ELIMIT, "%s: range is too long", LBL);
    cnt = c > 0 ? (int64_t)c : 0;
  } else if (gl_dtype_is_int(t)) {
    int64_t s = gl_tensor_get_i64(in_v(g, n, 0)->data, 0), l = gl_tensor_get_i64(in_v(g, n, 1)->data, 0),
            dl = gl_tensor_get_i64(in_v(g, n, 2)->data, 0);
    if (dl == 0) return gl_err(GL_EINVAL, "%s: delta is 0", LBL);
    double c = ceil(((double)l - (double)s) / (double)dl);
    if (!(c <= (double)DIM_MAX)) return gl_err(GL_ELIMIT, "%s: range is too long", LBL);
    cnt = c > 0 ? (int64_t)c : 0;
  } else {
    return gl_err(GL_ETYPE, "%s: type %s is not supported", LBL, gl_dtype_name(t));
  }
  gl_set_out(g, n, 0, t, &(gl_shape_t){1, {cnt}});
  return GL_OK;
}

/* ---- Pad ---- */

gl_status_t gl_pad_params(const gl_graph_t *g, const gl_node_t *n, gl_pad_params_t *p) {
  const gl_value_t *x = in_v(g, n, 0);
  int r = x->shape.rank;
  memset(p, 0, sizeof *p);
  p->rank = r;
  const char *mode = gl_attr_s(n, "mode", "constant");
  if (!strcmp(mode, "constant")) p->mode = GL_PAD_CONSTANT;
  else if (!strcmp(mode, "reflect")) p->mode = GL_PAD_REFLECT;
  else if (!strcmp(mode, "edge")) p->mode = GL_PAD_EDGE;
  else if (!strcmp(mode, "wrap")) p->mode = GL_PAD_WRAP;
  else return gl_err(GL_EUNSUPPORTED, "%s: mode '%s' is not supported", LBL, mode);
  int64_t pads[2 * GL_MAX_RANK], axes[GL_MAX_RANK];
  int np = 0, na = 0;
  if (g->opset < 11) {
    const int64_t *a = gl_attr_ints(n, "pads", &np);
    if (!a) a = gl_attr_ints(n, "paddings", &np); /* Pad-1's name */
    if (!a) return gl_err(GL_EINVAL, "%s: pads is required", LBL);
    if (np > 2 * GL_MAX_RANK) return gl_err(GL_ESHAPE, "%s: too many pads", LBL);
    memcpy(pads, a, sizeof(int64_t) * (size_t)np);
    p->value = gl_attr_f(n, "value", 0.f);
  } else {
    GL_TRY(const_ints(g, n, 1, pads, 2 * GL_MAX_RANK, &np));
    if (in_v(g, n, 2)) {
      if (gl_shape_numel(&in_v(g, n, 2)->shape) != 1)
        return gl_err(GL_ESHAPE, "%s: constant_value must be a scalar", LBL);
      if (in_v(g, n, 2)->dtype != x->dtype)
        return gl_err(GL_ETYPE, "%s: constant_value's type differs from data's", LBL);
      p->value_input = true;
    }
    if (in_v(g, n, 3)) GL_TRY(const_ints(g, n, 3, axes, GL_MAX_RANK, &na));
  }
  if (!na) {
    for (int d = 0; d < r; d++) axes[d] = d;
    na = r;
  }
  if (np != 2 * na)
    return gl_err(GL_ESHAPE, "%s: %d pads for %d axes (need two per axis)", LBL, np, na);
  for (int i = 0; i < na; i++) {
    int a;
    GL_TRY(gl_norm_axis(n, axes[i], r, &a));
    if (pads[i] > DIM_MAX || pads[i] < -DIM_MAX || pads[na + i] > DIM_MAX || pads[na + i] < -DIM_MAX)
      return gl_err(GL_ELIMIT, "%s: pads are too large", LBL);
    p->begin[a] = pads[i];
    p->end[a] = pads[na + i];
  }
  for (int d = 0; d < r; d++) {
    int64_t o = x->shape.d[d] + p->begin[d] + p->end[d];
    if (o < 0) return gl_err(GL_ESHAPE, "%s: pads remove more than dim %d holds", LBL, d);
    if (p->mode != GL_PAD_CONSTANT && x->shape.d[d] == 0 && o > 0)
      return gl_err(GL_ESHAPE, "%s: cannot %s-pad an empty dim %d", LBL, mode, d);
  }
  return GL_OK;
}

static gl_status_t infer_pad(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  gl_pad_params_t p;
  GL_TRY(gl_pad_params(g, n, &p));
  gl_shape_t s = x->shape;
  for (int d = 0; d < s.rank; d++) s.d[d] += p.begin[d] + p.end[d];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

/* ---- Resize, Upsample ---- */

static gl_status_t const_floats(const gl_graph_t *g, const gl_node_t *n, int i, double *buf, int max,
                                int *count) {
  GL_TRY(gl_need_const(g, n, i));
  const gl_value_t *v = in_v(g, n, i);
  int64_t k = gl_shape_numel(&v->shape);
  if (k > max) return gl_err(GL_ESHAPE, "%s: input '%s' has too many elements", LBL, v->name);
  for (int64_t j = 0; j < k; j++) buf[j] = gl_tensor_get_f64(v->data, j);
  *count = (int)k;
  return GL_OK;
}

gl_status_t gl_resize_params(const gl_graph_t *g, const gl_node_t *n, gl_resize_params_t *p) {
  const gl_value_t *x = in_v(g, n, 0);
  int r = x->shape.rank;
  bool upsample = !strcmp(n->op_type, "Upsample");
  memset(p, 0, sizeof *p);
  p->rank = r;
  for (int d = 0; d < r; d++) p->roi_end[d] = 1.0;
  const char *mode = gl_attr_s(n, "mode", "nearest");
  if (!strcmp(mode, "nearest")) p->mode = GL_RESIZE_NEAREST;
  else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) p->mode = GL_RESIZE_LINEAR;
  else return gl_err(GL_EUNSUPPORTED, "%s: mode '%s' is not supported", LBL, mode);
  if (gl_attr_i(n, "antialias", 0)) return gl_err(GL_EUNSUPPORTED, "%s: antialias is not supported", LBL);
  if (gl_attr(n, "axes")) return gl_err(GL_EUNSUPPORTED, "%s: the axes attribute is not supported", LBL);
  const char *kar = gl_attr_s(n, "keep_aspect_ratio_policy", "stretch");
  if (strcmp(kar, "stretch"))
    return gl_err(GL_EUNSUPPORTED, "%s: keep_aspect_ratio_policy '%s' is not supported", LBL, kar);
  double sc[GL_MAX_RANK];
  int64_t sizes[GL_MAX_RANK];
  int nsc = 0, nsz = 0;
  bool old = upsample || g->opset < 11;
  if (upsample && g->opset < 9) {
    const float *a = gl_attr_floats(n, "scales", &nsc);
    if (!a) return gl_err(GL_EINVAL, "%s: scales is required", LBL);
    if (nsc > GL_MAX_RANK) return gl_err(GL_ESHAPE, "%s: too many scales", LBL);
    for (int i = 0; i < nsc; i++) sc[i] = a[i];
  } else if (old) {
    GL_TRY(const_floats(g, n, 1, sc, GL_MAX_RANK, &nsc));
  } else {
    if (in_v(g, n, 2)) GL_TRY(const_floats(g, n, 2, sc, GL_MAX_RANK, &nsc));
    if (in_v(g, n, 3)) GL_TRY(const_ints(g, n, 3, sizes, GL_MAX_RANK, &nsz));
    if (nsc && nsz) return gl_err(GL_EINVAL, "%s: only one of scales and sizes may be given", LBL);
    if (!nsc && !nsz) return gl_err(GL_EINVAL, "%s: scales or sizes is required", LBL);
  }
  if ((nsc && nsc != r) || (nsz && nsz != r))
    return gl_err(GL_ESHAPE, "%s: scales/sizes have %d entries for rank %d", LBL, nsz ? nsz : nsc, r);
  for (int d = 0; d < r; d++) {
    if (nsz) {
      if (sizes[d] < 0 || sizes[d] > DIM_MAX) return gl_err(GL_EINVAL, "%s: invalid size %lld", LBL, (long long)sizes[d]);
      p->out[d] = sizes[d];
      p->out_len[d] = (double)sizes[d];
      p->scale[d] = x->shape.d[d] ? (double)sizes[d] / (double)x->shape.d[d] : 1.0;
    } else {
      if (!(sc[d] > 0)) return gl_err(GL_EINVAL, "%s: scale %g is not positive", LBL, sc[d]);
      p->scale[d] = sc[d];
      if (!((double)x->shape.d[d] * sc[d] <= (double)DIM_MAX))
        return gl_err(GL_ELIMIT, "%s: scale %g is too large", LBL, sc[d]);
      p->out[d] = (int64_t)floor((double)x->shape.d[d] * sc[d]);
      p->out_len[d] = (double)x->shape.d[d] * sc[d];
    }
  }
  if (old) {
    p->coord = GL_COORD_ASYMMETRIC;
    p->nearest = GL_NEAREST_SIMPLE;
    return GL_OK;
  }
  const char *cm = gl_attr_s(n, "coordinate_transformation_mode", "half_pixel");
  static const char *cms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                              "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  p->coord = -1;
  for (int i = 0; i < 6; i++)
    if (!strcmp(cm, cms[i])) p->coord = i;
  if (p->coord < 0)
    return gl_err(GL_EUNSUPPORTED, "%s: coordinate_transformation_mode '%s' is not supported", LBL, cm);
  const char *nm = gl_attr_s(n, "nearest_mode", "round_prefer_floor");
  static const char *nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  p->nearest = -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(nm, nms[i])) p->nearest = i;
  if (p->nearest < 0) return gl_err(GL_EUNSUPPORTED, "%s: nearest_mode '%s' is not supported", LBL, nm);
  p->extrapolation = gl_attr_f(n, "extrapolation_value", 0.f);
  if (p->coord == GL_COORD_TF_CROP_AND_RESIZE) {
    double roi[2 * GL_MAX_RANK];
    int nr = 0;
    if (in_v(g, n, 1)) GL_TRY(const_floats(g, n, 1, roi, 2 * GL_MAX_RANK, &nr));
    if (nr != 2 * r) return gl_err(GL_ESHAPE, "%s: roi needs %d entries, has %d", LBL, 2 * r, nr);
    for (int d = 0; d < r; d++) p->roi_start[d] = roi[d], p->roi_end[d] = roi[r + d];
  }
  return GL_OK;
}

double gl_resize_coord(const gl_resize_params_t *p, int d, int64_t x, int64_t in_len) {
  double s = p->scale[d], xo = (double)x, lo = p->out_len[d], li = (double)in_len;
  switch (p->coord) {
    case GL_COORD_HALF_PIXEL: return (xo + 0.5) / s - 0.5;
    case GL_COORD_PYTORCH_HALF_PIXEL: return lo > 1 ? (xo + 0.5) / s - 0.5 : 0.0;
    case GL_COORD_ALIGN_CORNERS: return lo > 1 ? xo * (li - 1) / (lo - 1) : 0.0;
    case GL_COORD_ASYMMETRIC: return xo / s;
    case GL_COORD_TF_HALF_PIXEL_FOR_NN: return (xo + 0.5) / s;
    case GL_COORD_TF_CROP_AND_RESIZE: {
      double a = p->roi_start[d], b = p->roi_end[d], lo_int = (double)p->out[d]; /* ONNX: the integer length here */
      return lo_int > 1 ? a * (li - 1) + xo * (b - a) * (li - 1) / (lo_int - 1) : 0.5 * (a + b) * (li - 1);
    }
    default: return xo / s;
  }
}

static gl_status_t infer_resize(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  gl_resize_params_t p;
  GL_TRY(gl_resize_params(g, n, &p));
  if (p.mode == GL_RESIZE_LINEAR && x->dtype != GL_DT_F32 && x->dtype != GL_DT_F64)
    return gl_err(GL_EUNSUPPORTED, "%s: linear mode supports float and double, not %s", LBL,
                  gl_dtype_name(x->dtype));
  gl_shape_t s = {p.rank, {0}};
  for (int d = 0; d < p.rank; d++) s.d[d] = p.out[d];
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_resize_cubic_check(gl_graph_t *g, gl_node_t *n) {
  const char *mode = gl_attr_s(n, "mode", "nearest");
  if (!strcmp(mode, "cubic")) return gl_err(GL_EUNSUPPORTED, "%s: cubic mode is not supported", LBL);
  return infer_resize(g, n);
}

/* ---- DepthToSpace, SpaceToDepth ---- */

static gl_status_t infer_depth_to_space(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int64_t b = gl_attr_i(n, "blocksize", 0);
  const char *mode = gl_attr_s(n, "mode", "DCR");
  if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
    return gl_err(GL_EINVAL, "%s: mode '%s' is not DCR or CRD", LBL, mode);
  if (x->shape.rank != 4 || b < 1 || x->shape.d[1] % (b * b))
    return gl_err(GL_ESHAPE, "%s: needs rank 4 with channels divisible by blocksize^2", LBL);
  gl_shape_t s = {4, {x->shape.d[0], x->shape.d[1] / (b * b), x->shape.d[2] * b, x->shape.d[3] * b}};
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

static gl_status_t infer_space_to_depth(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  const gl_value_t *x = in_v(g, n, 0);
  int64_t b = gl_attr_i(n, "blocksize", 0);
  if (x->shape.rank != 4 || b < 1 || x->shape.d[2] % b || x->shape.d[3] % b)
    return gl_err(GL_ESHAPE, "%s: needs rank 4 with H and W divisible by blocksize", LBL);
  gl_shape_t s = {4, {x->shape.d[0], x->shape.d[1] * b * b, x->shape.d[2] / b, x->shape.d[3] / b}};
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

/* ---- GridSample (opset 16, 4-D) ---- */

static gl_status_t infer_grid_sample(gl_graph_t *g, gl_node_t *n) {
  GL_TRY(gl_need_in(g, n, 0));
  GL_TRY(gl_need_in(g, n, 1));
  const gl_value_t *x = in_v(g, n, 0), *gr = in_v(g, n, 1);
  const char *mode = gl_attr_s(n, "mode", "bilinear"), *pad = gl_attr_s(n, "padding_mode", "zeros");
  if (strcmp(mode, "bilinear") && strcmp(mode, "nearest"))
    return gl_err(GL_EUNSUPPORTED, "%s: mode '%s' is not supported", LBL, mode);
  if (strcmp(pad, "zeros") && strcmp(pad, "border") && strcmp(pad, "reflection"))
    return gl_err(GL_EUNSUPPORTED, "%s: padding_mode '%s' is not supported", LBL, pad);
  if (x->dtype != GL_DT_F32 || gr->dtype != GL_DT_F32)
    return gl_err(GL_EUNSUPPORTED, "%s: only float data and grid are supported", LBL);
  if (x->shape.rank != 4 || gr->shape.rank != 4 || gr->shape.d[3] != 2 || gr->shape.d[0] != x->shape.d[0])
    return gl_err(GL_ESHAPE, "%s: needs X [N,C,H,W] and grid [N,Ho,Wo,2]", LBL);
  gl_shape_t s = {4, {x->shape.d[0], x->shape.d[1], gr->shape.d[1], gr->shape.d[2]}};
  gl_set_out(g, n, 0, x->dtype, &s);
  return GL_OK;
}

const gl_op_schema_t gl_schemas_tensor[] = {
    {"Shape", 1, 1, 1, 1, infer_shape, 0},
    {"Size", 1, 1, 1, 1, infer_size, 0},
    {"Constant", 0, 0, 1, 1, infer_constant, 0},
    {"ConstantOfShape", 1, 1, 1, 1, infer_constant_of_shape, 0},
    {"Reshape", 1, 2, 1, 1, infer_reshape, 0},
    {"Flatten", 1, 1, 1, 1, infer_flatten, 0},
    {"Squeeze", 1, 2, 1, 1, infer_squeeze, 0},
    {"Unsqueeze", 1, 2, 1, 1, infer_unsqueeze, 0},
    {"Transpose", 1, 1, 1, 1, infer_transpose, 0},
    {"Concat", 1, -1, 1, 1, infer_concat, 0},
    {"Split", 1, 2, 1, -1, infer_split, 0},
    {"Slice", 1, 5, 1, 1, infer_slice, 0},
    {"Expand", 2, 2, 1, 1, infer_expand, 0},
    {"Tile", 2, 2, 1, 1, infer_tile, 6},
    {"Range", 3, 3, 1, 1, infer_range, 0},
    {"Pad", 1, 4, 1, 1, infer_pad, 0},
    {"Resize", 1, 4, 1, 1, infer_resize_cubic_check, 10},
    {"Upsample", 1, 2, 1, 1, infer_resize_cubic_check, 7},
    {"DepthToSpace", 1, 1, 1, 1, infer_depth_to_space, 0},
    {"SpaceToDepth", 1, 1, 1, 1, infer_space_to_depth, 0},
    {"GridSample", 2, 2, 1, 1, infer_grid_sample, 16},
    {0},
};
