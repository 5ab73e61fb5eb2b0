# tests/loadgen.cmake - `gpulet loadgen` against `gpulet serve` on a free loopback port: counts agree
# exactly with the server's metrics; bad input is a clear error.
add_test(NAME loadgen_e2e
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/loadgen/e2e.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/loadgen-e2e)
set_tests_properties(loadgen_e2e PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
