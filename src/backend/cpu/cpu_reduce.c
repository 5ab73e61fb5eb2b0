/* backend/cpu/cpu_reduce.c - CPU kernels for the reduce op family. */
#include "backend/cpu/cpu_int.h"

const gl_cpu_op_t gl_cpu_ops_reduce[] = {
    {0},
};
