# tests/cuda.cmake - the tests that need a GPU (label `gpu`; bench/gpu/checklist.sh runs them with
# `ctest -L gpu`). Where there is no CUDA device or module they exit 77 with "no CUDA device:
# skipped", which ctest reports as skipped, so CI (no GPU) stays green and fast.
#  - backend_test_cuda_device: every zoo model on CUDA against the CPU (fp32 graph and eager,
#    tf32, ResNet-50 without the fused conv) and fp16 against fp32, Gather's error flag;
#  - cuda_check_onnx_<suite>: ONNX's cases on --device cuda: no FAIL, every CPU pass passes or is
#    an explained SKIP on CUDA, at least a floor of passes (sanity floors; raise them after a run).
set(GL_CUDA_MODULE_FILE ${CMAKE_BINARY_DIR}/libgpulet_cuda.so)
set(GL_GPU_TEST_ENV "GPULET_CUDA_MODULE=${GL_CUDA_MODULE_FILE};OMP_NUM_THREADS=8;ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0")
if(TARGET backend_test_cuda_device)
  set_tests_properties(backend_test_cuda_device PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 1800
    ENVIRONMENT "${GL_GPU_TEST_ENV}")
  if(TARGET gpulet_cuda)
    add_dependencies(backend_test_cuda_device gpulet_cuda)
  endif()
endif()
set(GL_ONNX_DATA /usr/share/libonnx-testdata/data)
foreach(pair node:100 pytorch-converted:20 pytorch-operator:8 simple:1)
  string(REPLACE ":" ";" pair ${pair})
  list(GET pair 0 suite)
  list(GET pair 1 floor)
  add_test(NAME cuda_check_onnx_${suite}
           COMMAND ${GL_TEST_SCRIPTS}/backend/cuda_check_onnx.sh ${GL_BIN} ${GL_ONNX_DATA}/${suite} ${floor})
  set_tests_properties(cuda_check_onnx_${suite} PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 1800
    ENVIRONMENT "${GL_GPU_TEST_ENV}")
endforeach()
