/* graph/ops_nn.c - schemas and shape inference for the nn op family. */
#include "graph/ops.h"

const gl_op_schema_t gl_schemas_nn[] = {
    {0},
};
