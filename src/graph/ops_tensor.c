/* graph/ops_tensor.c - schemas and shape inference for the tensor op family. */
#include "graph/ops.h"

const gl_op_schema_t gl_schemas_tensor[] = {
    {0},
};
