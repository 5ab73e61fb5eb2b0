/* backend/cpu/cpu_elementwise.c - CPU kernels for the elementwise op family. */
#include "backend/cpu/cpu_int.h"

const gl_cpu_op_t gl_cpu_ops_elementwise[] = {
    {0},
};
