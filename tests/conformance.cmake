# tests/conformance.cmake - ONNX's own test suites through `gpulet check-onnx`, one ctest per suite.
# A suite passes when no case FAILs and at least its floor of cases PASS (the floors are what
# main passes today; raise them as kernels land). Cases gpulet does not support are SKIPs with
# their reason (sequences, strings, optional types, training ops, a few rare ops).
set(GL_ONNX_TESTDATA /usr/share/libonnx-testdata/data CACHE PATH "ONNX test data (Debian libonnx-testdata)")
set(GL_FLOOR_node 795)
set(GL_FLOOR_pytorch-converted 82)
set(GL_FLOOR_pytorch-operator 35)
set(GL_FLOOR_simple 7)
foreach(suite node pytorch-converted pytorch-operator simple)
  if(EXISTS ${GL_ONNX_TESTDATA}/${suite})
    add_test(NAME conformance_${suite}
             COMMAND ${GL_BIN} check-onnx --summary-only --min-pass ${GL_FLOOR_${suite}} ${GL_ONNX_TESTDATA}/${suite})
    set_tests_properties(conformance_${suite} PROPERTIES LABELS conformance TIMEOUT 1800
      ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
  endif()
endforeach()

# check-onnx itself: a passing case, a case whose expected output is wrong, a missing folder.
set(GL_ONNX_CASES ${CMAKE_SOURCE_DIR}/tests/onnx/cases)
add_test(NAME check_onnx_pass COMMAND ${GL_BIN} check-onnx ${GL_ONNX_CASES}/const_ok)
set_tests_properties(check_onnx_pass PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "PASS const_ok\n1 passed, 0 failed, 0 skipped")
add_test(NAME check_onnx_fail COMMAND ${GL_BIN} check-onnx ${GL_ONNX_CASES})
set_tests_properties(check_onnx_fail PROPERTIES LABELS unit WILL_FAIL TRUE)
add_test(NAME check_onnx_fail_message COMMAND ${GL_BIN} check-onnx ${GL_ONNX_CASES})
set_tests_properties(check_onnx_fail_message PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "FAIL const_wrong: output 0: worst element 2 got 3 expected 3.5 \\(abs err 0.5, rel err 0.143\\)\nFAIL const_wrong_set1: test_data_set_1: output 0: worst element 2 got 3 expected 3.5 [^\n]*\n1 passed, 2 failed, 0 skipped")
add_test(NAME check_onnx_summary COMMAND ${GL_BIN} check-onnx --summary-only ${GL_ONNX_CASES})
set_tests_properties(check_onnx_summary PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "cases: 1 passed, 2 failed, 0 skipped\n  FAIL const_wrong: output 0: [^\n]*\n  FAIL const_wrong_set1: [^\n]*\n1 passed, 2 failed, 0 skipped")
add_test(NAME check_onnx_min_pass COMMAND ${GL_BIN} check-onnx --min-pass 2 ${GL_ONNX_CASES}/const_ok)
set_tests_properties(check_onnx_min_pass PROPERTIES LABELS unit WILL_FAIL TRUE)
add_test(NAME check_onnx_no_dir COMMAND ${GL_BIN} check-onnx /nonexistent/gpulet)
set_tests_properties(check_onnx_no_dir PROPERTIES LABELS unit WILL_FAIL TRUE)
add_test(NAME check_onnx_skip COMMAND ${GL_BIN} check-onnx --summary-only ${CMAKE_SOURCE_DIR}/tests/onnx/skip_cases)
set_tests_properties(check_onnx_skip PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "skip_cases: 0 passed, 0 failed, 1 skipped\n +1 skipped: Frobnicate node: op domain 'com.example' is not supported\n0 passed, 0 failed, 1 skipped")
