# tests/serve_overload.cmake - overload (issue 9): shedding, admitted requests within SLO, bounded
# memory, recovery; the suite's short form of bench/overload/overload.py (its full run measures the
# goals: goodput at 2x and 5x the throughput under SLO, rejection latency, recovery time). Label
# perf: it runs in the release build (scripts/test.sh), where timing means what it says; under
# ASan a MobileNetV2 batch takes several times longer than the profile the admission relies on.
add_test(NAME serve_overload
  COMMAND python3 ${CMAKE_SOURCE_DIR}/bench/overload/overload.py $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-overload --quick)
set_tests_properties(serve_overload PROPERTIES LABELS "e2e;perf" TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
