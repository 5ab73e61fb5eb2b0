/* graph/ops_reduce.c - schemas and shape inference for the reduce op family. */
#include "graph/ops.h"

const gl_op_schema_t gl_schemas_reduce[] = {
    {0},
};
