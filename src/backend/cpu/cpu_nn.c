/* backend/cpu/cpu_nn.c - CPU kernels for the nn op family. */
#include "backend/cpu/cpu_int.h"

const gl_cpu_op_t gl_cpu_ops_nn[] = {
    {0},
};
