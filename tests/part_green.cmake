# tests/part_green.cmake - the green-context module's own test finds the built module, and
# `gpulet gpulets` (the GPU partition benchmark) fails clearly on a machine without a GPU.
if(GL_CUDA)
  find_package(CUDAToolkit QUIET)
endif()
if(TARGET part_test_green_module AND GL_CUDA AND CUDAToolkit_FOUND)
  target_compile_definitions(part_test_green_module PRIVATE
    GL_GREEN_MODULE_PATH="${CMAKE_BINARY_DIR}/libgpulet_green.so")
  add_dependencies(part_test_green_module gpulet_green)
endif()
add_test(NAME cli_gpulets_nogpu COMMAND ${GL_TEST_SCRIPTS}/part/gpulets_nogpu.sh ${GL_BIN})
set_tests_properties(cli_gpulets_nogpu PROPERTIES LABELS "unit;cli" TIMEOUT 120)
# MPS partitions: real `gpulet mps-worker` processes on the CPU backend.
if(TARGET part_test_mps)
  target_compile_definitions(part_test_mps PRIVATE GL_GPULET_BIN="$<TARGET_FILE:gpulet>")
  add_dependencies(part_test_mps gpulet)
endif()
