# tests/serve_limits.cmake - the server's and `gpulet run`'s limits and repository path checks (tests/serve/limits.sh).
add_test(NAME serve_limits
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/limits.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-limits)
set_tests_properties(serve_limits PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
