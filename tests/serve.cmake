# tests/serve.cmake - `gpulet serve` end to end (curl against a server on a free loopback port).
add_test(NAME serve_e2e
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/e2e.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-e2e)
set_tests_properties(serve_e2e PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
add_test(NAME serve_replan
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/replan.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-replan)
set_tests_properties(serve_replan PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
add_test(NAME serve_fault
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/fault.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-fault)
set_tests_properties(serve_fault PROPERTIES LABELS e2e TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
add_test(NAME serve_fallback
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/fallback.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-fallback)
set_tests_properties(serve_fallback PROPERTIES LABELS e2e TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
