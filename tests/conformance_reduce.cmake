# tests/conformance_reduce.cmake - ONNX's node cases for the reduce op family through
# `gpulet check-onnx`: no case may fail, and at least the count passing when it was written must pass.
set(GL_REDUCE_NODE_DIR /usr/share/libonnx-testdata/data/node)
if(EXISTS ${GL_REDUCE_NODE_DIR})
  file(GLOB gl_reduce_cases LIST_DIRECTORIES true
    ${GL_REDUCE_NODE_DIR}/test_reduce_* ${GL_REDUCE_NODE_DIR}/test_argmax_* ${GL_REDUCE_NODE_DIR}/test_argmin_*
    ${GL_REDUCE_NODE_DIR}/test_top_k* ${GL_REDUCE_NODE_DIR}/test_softmax_* ${GL_REDUCE_NODE_DIR}/test_logsoftmax_*
    ${GL_REDUCE_NODE_DIR}/test_hardmax_* ${GL_REDUCE_NODE_DIR}/test_cumsum_* ${GL_REDUCE_NODE_DIR}/test_sce_*
    ${GL_REDUCE_NODE_DIR}/test_nllloss_* ${GL_REDUCE_NODE_DIR}/test_einsum_*)
  add_test(NAME conformance_reduce COMMAND ${GL_BIN} check-onnx --summary-only --min-pass 185 ${gl_reduce_cases})
  set_tests_properties(conformance_reduce PROPERTIES LABELS conformance TIMEOUT 300
    ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
