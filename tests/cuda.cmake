# tests/cuda.cmake - the tests that need a GPU (label `gpu`; bench/gpu/checklist.sh runs them with
# `ctest -L gpu`). Where there is no CUDA device or module they exit 77 with "no CUDA device:
# skipped", which ctest reports as skipped, so CI (no GPU) stays green and fast.
#  - backend_test_cuda_device: every zoo model on CUDA against the CPU (fp32 graph and eager,
#    tf32, ResNet-50 without the fused conv) and fp16 against fp32, Gather's error flag;
#  - cuda_check_onnx_<suite>: ONNX's cases on --device cuda: no FAIL; every CPU pass passes or is
#    an explained SKIP on CUDA; every CPU pass that cuda_onnx_eligible predicts (on the CPU, from
#    gl_cuda_node_supported) must PASS on CUDA, and their number is the floor of CUDA passes (at
#    2026-11-25: node 277, pytorch-converted 77, pytorch-operator 23, simple 5).
set(GL_CUDA_MODULE_FILE ${CMAKE_BINARY_DIR}/libgpulet_cuda.so)
set(GL_GPU_TEST_ENV "GPULET_CUDA_MODULE=${GL_CUDA_MODULE_FILE};OMP_NUM_THREADS=8;ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0")
if(TARGET backend_test_cuda_device)
  set_tests_properties(backend_test_cuda_device PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 1800
    ENVIRONMENT "${GL_GPU_TEST_ENV}")
  if(TARGET gpulet_cuda)
    add_dependencies(backend_test_cuda_device gpulet_cuda)
  endif()
endif()
# The CPU-side prediction of which ONNX cases the CUDA module runs (the strict list above).
add_executable(cuda_onnx_eligible ${CMAKE_CURRENT_SOURCE_DIR}/backend/cuda_onnx_eligible.c)
target_link_libraries(cuda_onnx_eligible PRIVATE gl)
set(GL_ONNX_DATA /usr/share/libonnx-testdata/data)
foreach(suite node pytorch-converted pytorch-operator simple)
  add_test(NAME cuda_check_onnx_${suite}
           COMMAND ${GL_TEST_SCRIPTS}/backend/cuda_check_onnx.sh ${GL_BIN} ${GL_ONNX_DATA}/${suite} 0
                   $<TARGET_FILE:cuda_onnx_eligible>)
  set_tests_properties(cuda_check_onnx_${suite} PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 1800
    ENVIRONMENT "${GL_GPU_TEST_ENV}")
endforeach()
# The gate above, on canned check-onnx outputs (no GPU needed): it fails where it should.
add_test(NAME cuda_check_onnx_selftest COMMAND ${GL_TEST_SCRIPTS}/backend/cuda_check_onnx_selftest.sh)
set_tests_properties(cuda_check_onnx_selftest PROPERTIES LABELS "unit" TIMEOUT 60)
# The prediction itself, on the CPU: the node suite has at least the cases it had when written.
add_test(NAME cuda_onnx_eligible_node COMMAND cuda_onnx_eligible ${GL_ONNX_DATA}/node)
set_tests_properties(cuda_onnx_eligible_node PROPERTIES LABELS "unit" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "(2[7-9][0-9]|[3-9][0-9][0-9]) cases eligible for CUDA")
