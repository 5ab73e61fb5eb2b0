/* backend/cpu/cpu_tensor.c - CPU kernels for the tensor op family. */
#include "backend/cpu/cpu_int.h"

const gl_cpu_op_t gl_cpu_ops_tensor[] = {
    {0},
};
