/* local stub until the onnx reader lands (not committed) */
#include "onnx/onnx.h"
__attribute__((weak)) gl_status_t gl_onnx_load_file(const char *path, const gl_onnx_limits_t *lim, gl_graph_t **out) { return gl_err(GL_EUNSUPPORTED, "no onnx"); }
__attribute__((weak)) gl_status_t gl_onnx_read_tensor_file(const char *path, gl_tensor_t *t, char **name) { return gl_err(GL_EUNSUPPORTED, "no onnx"); }
