/* graph/graph.h - gpulet's model IR: values and nodes in topological order.
 * Owns: the graph, its values (with dtype, shape, and data when constant), its nodes (ONNX op
 * type, attributes, and the fusion a pass attached), graph inputs and outputs.
 * Everything refers to values and nodes by index, so growing the arrays never dangles.
 * Does not own: reading ONNX (onnx/), running anything (backend/). */
#ifndef GL_GRAPH_GRAPH_H
#define GL_GRAPH_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/tensor.h"

typedef enum {
  GL_ATTR_UNDEF = 0,
  GL_ATTR_FLOAT,
  GL_ATTR_INT,
  GL_ATTR_STRING,
  GL_ATTR_TENSOR,
  GL_ATTR_FLOATS,
  GL_ATTR_INTS,
  GL_ATTR_STRINGS,
  GL_ATTR_GRAPH, /* subgraphs are not supported; kept so the error can name them */
} gl_attr_type_t;

typedef struct {
  char *name;
  gl_attr_type_t type;
  float f;
  int64_t i;
  char *s;          /* NUL-terminated copy (may contain embedded NULs; s_len is exact) */
  size_t s_len;
  gl_tensor_t *t;   /* owned */
  int n;            /* element count for FLOATS / INTS / STRINGS */
  float *floats;
  int64_t *ints;
  char **strings;
} gl_attr_t;

/* Activation a fusion pass folds into the op before it; every backend honours it. */
typedef enum {
  GL_ACT_NONE = 0,
  GL_ACT_RELU,
  GL_ACT_LEAKY_RELU, /* alpha */
  GL_ACT_CLIP,       /* alpha = min, beta = max */
  GL_ACT_SIGMOID,
  GL_ACT_TANH,
  GL_ACT_HARD_SIGMOID, /* alpha, beta */
  GL_ACT_HARD_SWISH,
  GL_ACT_GELU_ERF,
  GL_ACT_GELU_TANH,
} gl_act_t;

/* y = act(op(x) + (sum_input >= 0 ? input[sum_input] : 0)); set by graph/fuse.c. For Conv the
 * added input has y's shape; for Gemm/MatMul it has y's shape or is a constant bias over y's last
 * dim ([N] or [1,..,N], numpy-broadcast). */
typedef struct {
  gl_act_t act;
  float alpha, beta;
  int sum_input; /* index into the node's inputs of a residual to add, or -1 */
} gl_fusion_t;

enum { GL_VAL_INTERNAL = 0, GL_VAL_INPUT = 1, GL_VAL_CONST = 2 };

typedef struct {
  char *name;
  gl_dtype_t dtype;
  gl_shape_t shape;              /* -1 = not known yet */
  char *dim_param[GL_MAX_RANK];  /* the model's symbolic dim names (e.g. "batch"), or NULL */
  gl_tensor_t *data;             /* owned; non-NULL when the value is a known constant */
  int kind;                      /* GL_VAL_* */
  bool is_output;                /* a graph output */
  int producer;                  /* node index, -1 for inputs and constants */
  int n_uses;                    /* consumers among live nodes (+1 if a graph output) */
} gl_value_t;

typedef struct {
  char *name;
  char *op_type;
  char *domain; /* "" for the default ONNX domain */
  int n_inputs;
  int *inputs;  /* value indices; -1 for an omitted optional input */
  int n_outputs;
  int *outputs; /* value indices; -1 for an omitted optional output */
  int n_attrs;
  gl_attr_t *attrs;
  gl_fusion_t fuse;
  bool dead;    /* removed by a pass; skipped everywhere */
} gl_node_t;

typedef struct gl_graph {
  char *name;
  int64_t opset; /* opset of the default domain */
  gl_value_t *values;
  int n_values, cap_values;
  gl_node_t *nodes;
  int n_nodes, cap_nodes;
  int *inputs;  /* graph inputs that are not initializers */
  int n_inputs;
  int *outputs;
  int n_outputs;
  struct gl_name_index *index; /* name -> value index; private to graph.c */
} gl_graph_t;

/* ---- life cycle ---- */
gl_graph_t *gl_graph_create(void);
void gl_graph_destroy(gl_graph_t *g); /* accepts NULL */
/* Deep copy (constants included); NULL on out of memory with gl_errmsg set. */
gl_graph_t *gl_graph_clone(const gl_graph_t *g);

/* ---- building ---- */
/* Finds a value by name; -1 if none. */
int gl_graph_find(const gl_graph_t *g, const char *name);
/* Adds a value named name (a unique name is made when name is NULL); -1 on OOM or duplicate. */
int gl_graph_add_value(gl_graph_t *g, const char *name);
/* Returns the value named name, adding it if missing; -1 on OOM. */
int gl_graph_value(gl_graph_t *g, const char *name);
/* Adds a node; copies the index arrays. Returns its index, or -1 on OOM. */
int gl_graph_add_node(gl_graph_t *g, const char *op_type, const char *name, const int *inputs,
                      int n_inputs, const int *outputs, int n_outputs);
/* Adds an attribute to node ni and returns it zeroed except for its name; NULL on OOM. */
gl_attr_t *gl_node_add_attr(gl_graph_t *g, int ni, const char *name, gl_attr_type_t type);
gl_status_t gl_graph_add_input(gl_graph_t *g, int vi) GL_MUST_USE;
gl_status_t gl_graph_add_output(gl_graph_t *g, int vi) GL_MUST_USE;
/* Makes value vi a constant holding t (ownership of t's storage moves to the graph). */
gl_status_t gl_value_set_const(gl_graph_t *g, int vi, gl_tensor_t *t) GL_MUST_USE;

/* Sorts nodes topologically (stable), fills producer and n_uses; names a cycle or a value that
 * is used but never produced. */
gl_status_t gl_graph_toposort(gl_graph_t *g) GL_MUST_USE;
/* Recomputes producer and n_uses from the live nodes. */
void gl_graph_recount(gl_graph_t *g);

/* ---- node and attribute access ---- */
static inline gl_value_t *gl_in(const gl_graph_t *g, const gl_node_t *n, int i) {
  return (i < n->n_inputs && n->inputs[i] >= 0) ? &g->values[n->inputs[i]] : (gl_value_t *)0;
}
static inline gl_value_t *gl_out(const gl_graph_t *g, const gl_node_t *n, int i) {
  return (i < n->n_outputs && n->outputs[i] >= 0) ? &g->values[n->outputs[i]] : (gl_value_t *)0;
}
const gl_attr_t *gl_attr(const gl_node_t *n, const char *name);
int64_t gl_attr_i(const gl_node_t *n, const char *name, int64_t dflt);
float gl_attr_f(const gl_node_t *n, const char *name, float dflt);
const char *gl_attr_s(const gl_node_t *n, const char *name, const char *dflt);
/* INTS attribute: returns its elements and sets *count, or NULL (count 0) when absent. */
const int64_t *gl_attr_ints(const gl_node_t *n, const char *name, int *count);
const float *gl_attr_floats(const gl_node_t *n, const char *name, int *count);

/* True when n only reinterprets its first input's bytes (Reshape, Flatten, Squeeze, Unsqueeze,
 * Identity, one-output Dropout with the same dtype and element count): backends run it as an
 * alias of its input instead of a kernel. */
bool gl_node_is_view(const gl_graph_t *g, const gl_node_t *n);

/* "Conv 'conv1'" style label for error messages (a static per-thread buffer). */
const char *gl_node_label(const gl_node_t *n);

#endif
