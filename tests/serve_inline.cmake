# tests/serve_inline.cmake - `gpulet serve`'s short-request path (answered by the receiving HTTP
# thread, else suspend/resume) under sequential and concurrent load; also under ThreadSanitizer
# (label tsan, where the inline path need not be taken: a sanitized batch of 1 may be too slow).
if(GL_SANITIZE OR GL_TSAN OR CMAKE_BUILD_TYPE STREQUAL "Debug")
  set(gl_expect_inline 0)
else()
  set(gl_expect_inline 1)
endif()
add_test(NAME serve_inline
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/inline.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-inline ${gl_expect_inline})
set_tests_properties(serve_inline PROPERTIES LABELS "e2e;tsan" TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
