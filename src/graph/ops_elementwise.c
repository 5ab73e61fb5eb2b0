/* graph/ops_elementwise.c - schemas and shape inference for the elementwise op family. */
#include "graph/ops.h"

const gl_op_schema_t gl_schemas_elementwise[] = {
    {0},
};
